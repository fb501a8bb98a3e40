//! Email attachments: type sniffing by magic bytes, hashes, and the risk flags (macro-capable,
//! archive, double extension, extension mismatch).

use super::*;

pub(super) const MACRO_EXTS: &str = "docm dotm xlsm xltm xlam xlsb pptm potm ppsm sldm";
pub(super) const ARCHIVE_EXTS: &str =
    "zip rar 7z gz tgz bz2 xz cab iso img arj ace lzh tar z vhd vhdx";
pub(super) const EXEC_EXTS: &str = "exe scr com bat cmd pif js jse vbs vbe wsf wsh hta ps1 lnk msi jar cpl iso img vhd dll reg url";
pub(super) const DOC_EXTS: &str = "pdf doc docx docm xls xlsx xlsm ppt pptx rtf txt jpg jpeg png gif bmp zip rar csv htm html mp3 mp4 wav xml odt";
pub(super) const SCRIPT_EXTS: &str = "js jse vbs vbe ps1 bat cmd wsf wsh hta sh py";
pub(super) const OOXML_EXTS: &str =
    "docx docm dotx dotm xlsx xlsm xltx xltm xlam xlsb pptx pptm ppsx ppsm potx potm sldm";

/// Magic bytes at an offset → sniffed type (OLE2 and ZIP are refined by their contents).
pub(super) const MAGIC: &[(usize, &[u8], &str)] = &[
    (0, b"\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1", "ole2"),
    (0, b"PK\x03\x04", "zip"),
    (0, b"MZ", "pe"),
    (0, b"\x7FELF", "elf"),
    (0, b"Rar!\x1A\x07", "rar"),
    (0, b"7z\xBC\xAF\x27\x1C", "7z"),
    (0, b"\x1F\x8B", "gzip"),
    (0, b"BZh", "bzip2"),
    (0, b"\xFD7zXZ\x00", "xz"),
    (0, b"MSCF", "cab"),
    (32769, b"CD001", "iso"),
    (0, b"L\x00\x00\x00\x01\x14\x02\x00", "lnk"),
    (0, b"{\\rtf", "rtf"),
    (0, b"\x89PNG", "png"),
    (0, b"\xFF\xD8\xFF", "jpeg"),
    (0, b"GIF8", "gif"),
];

/// The extensions each sniffed type uses (types not listed are never called mismatched).
pub(super) const EXPECTED: &[(&str, &str)] = &[
    ("pe", "exe dll scr com cpl sys ocx drv efi ax mui"),
    ("elf", "so bin elf out"),
    ("doc", "doc dot wiz"),
    ("xls", "xls xlt xla"),
    ("ppt", "ppt pps pot"),
    ("msg", "msg"),
    (
        "ole2",
        "doc dot xls xlt xla ppt pps pot msi msg vsd pub mpp",
    ),
    ("ooxml_encrypted", OOXML_EXTS),
    ("ooxml", OOXML_EXTS),
    ("docx", "docx docm dotx dotm"),
    ("xlsx", "xlsx xlsm xltx xltm xlam xlsb"),
    ("pptx", "pptx pptm ppsx ppsm potx potm sldm"),
    (
        "zip",
        "zip jar apk xpi kmz odt ods odp odg epub whl nupkg vsix appx msix crx ipa",
    ),
    ("pdf", "pdf ai"),
    ("rar", "rar"),
    ("7z", "7z"),
    ("gzip", "gz tgz gzip"),
    ("bzip2", "bz2 tbz2 tbz"),
    ("xz", "xz txz"),
    ("cab", "cab"),
    ("iso", "iso img udf"),
    ("lnk", "lnk"),
    ("rtf", "rtf"),
    ("html", "html htm shtml xhtml hta mht mhtml svg"),
    ("png", "png"),
    ("jpeg", "jpg jpeg jpe jfif"),
    ("gif", "gif"),
];

pub(super) fn listed(list: &str, ext: &str) -> bool {
    list.split(' ').any(|e| e == ext)
}

pub(super) fn attachment_fields(
    name: Option<&str>,
    declared: Option<&str>,
    data: &[u8],
    nested: bool,
) -> Map<String, Value> {
    use sha1::Digest as _;
    let mut f = Map::new();
    let ext = name
        .and_then(|n| n.rsplit_once('.'))
        .map(|(_, e)| e.trim().to_ascii_lowercase())
        .filter(|e| !e.is_empty() && e.len() <= 10);
    let is_ext = |list: &str| ext.as_deref().is_some_and(|e| listed(list, e));
    let (kind, vba, encrypted) = sniff_content(data, ext.as_deref(), nested);
    let archive = matches!(
        kind,
        "zip" | "rar" | "7z" | "gzip" | "bzip2" | "xz" | "cab" | "iso"
    );
    let mismatch = EXPECTED
        .iter()
        .find(|(k, _)| *k == kind)
        .is_some_and(|(_, list)| ext.as_deref().is_some_and(|e| !listed(list, e)));
    let pairs: [(&str, Option<Value>); 14] = [
        ("file_name", name.map(Value::from)),
        ("extension", ext.as_deref().map(Value::from)),
        ("content_type", declared.map(Value::from)),
        ("sniffed_type", Some(kind.into())),
        ("size", Some(data.len().into())),
        ("md5", Some(hex(&md5::Md5::digest(data)).into())),
        ("sha1", Some(hex(&sha1::Sha1::digest(data)).into())),
        ("sha256", Some(hex(&sha2::Sha256::digest(data)).into())),
        ("has_vba", Some(vba.into())),
        ("macro_capable", Some((vba || is_ext(MACRO_EXTS)).into())),
        ("encrypted", Some(encrypted.into())),
        ("archive", Some((archive || is_ext(ARCHIVE_EXTS)).into())),
        (
            "double_extension",
            Some(name.is_some_and(double_extension).into()),
        ),
        ("extension_mismatch", Some(mismatch.into())),
    ];
    for (k, v) in pairs {
        if let Some(v) = v {
            f.insert(k.into(), v);
        }
    }
    f
}

pub(super) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub(super) fn double_extension(name: &str) -> bool {
    let parts: Vec<String> = name
        .split('.')
        .map(|p| p.trim().to_ascii_lowercase())
        .collect();
    match parts.as_slice() {
        [_, .., doc, exec] => listed(EXEC_EXTS, exec) && listed(DOC_EXTS, doc),
        _ => false,
    }
}

pub(super) fn utf16(s: &str) -> Vec<u8> {
    s.encode_utf16().flat_map(u16::to_le_bytes).collect()
}

/// Sniffs `(type, has_vba, encrypted)` from the content.
pub(super) fn sniff_content(
    data: &[u8],
    ext: Option<&str>,
    nested: bool,
) -> (&'static str, bool, bool) {
    let has = |needle: &[u8]| memchr::memmem::find(data, needle).is_some();
    let magic = MAGIC
        .iter()
        .find(|(at, m, _)| data.get(*at..at + m.len()) == Some(*m))
        .map(|(_, _, kind)| *kind);
    let head = String::from_utf8_lossy(&data[..data.len().min(1024)]).to_ascii_lowercase();
    let html_tags = [
        "<!doctype html",
        "<html",
        "<head",
        "<body",
        "<script",
        "<meta",
        "<iframe",
        "<svg",
        "<form",
    ];
    match magic {
        _ if nested => ("eml", false, false),
        _ if data.is_empty() => ("empty", false, false),
        Some("ole2") => {
            let (vba, encrypted) = (has(&utf16("_VBA_PROJECT")), has(&utf16("EncryptedPackage")));
            let kind = [
                ("EncryptedPackage", "ooxml_encrypted"),
                ("WordDocument", "doc"),
                ("Workbook", "xls"),
                ("Book", "xls"),
                ("PowerPoint Document", "ppt"),
                ("__substg1.0_", "msg"),
            ]
            .iter()
            .find(|(stream, _)| has(&utf16(stream)))
            .map_or("ole2", |(_, kind)| kind);
            (kind, vba, encrypted)
        }
        Some("zip") => {
            let kind = if !has(b"[Content_Types].xml") {
                "zip"
            } else if has(b"word/") {
                "docx"
            } else if has(b"xl/") {
                "xlsx"
            } else if has(b"ppt/") {
                "pptx"
            } else {
                "ooxml"
            };
            (
                kind,
                has(b"vbaProject.bin"),
                data.get(6).is_some_and(|f| f & 1 == 1),
            )
        }
        // PDF readers accept the header anywhere in the first KiB.
        _ if memchr::memmem::find(&data[..data.len().min(1024)], b"%PDF-").is_some() => {
            ("pdf", false, false)
        }
        Some(kind) => (kind, false, false),
        None if !looks_textual(data) => ("unknown", false, false),
        None if html_tags.iter().any(|t| head.contains(t)) => ("html", false, false),
        None if head.starts_with("#!") || ext.is_some_and(|e| listed(SCRIPT_EXTS, e)) => {
            ("script", false, false)
        }
        None => ("text", false, false),
    }
}

pub(super) fn looks_textual(data: &[u8]) -> bool {
    let head = &data[..data.len().min(1024)];
    let printable = head
        .iter()
        .filter(|&&b| b >= 0x20 || b"\t\r\n\x0c".contains(&b))
        .count();
    !head.contains(&0) && printable * 100 >= head.len() * 95
}

// ----------------------------------------------------------------------- URLs
