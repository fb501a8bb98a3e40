//! RFC 5322 email messages (`.eml`): one event for the message, one per attachment, one per URL.
//!
//! Parsing uses `mail-parser` (0.11; the 1.x line needs rustc 1.98). Its debug builds hit a
//! `debug_assert!` on some malformed MIME, so the crate's profile turns debug assertions off for
//! it (`[profile.dev.package.mail-parser] debug-assertions = false`). A leading mbox
//! `From ` line and a BSMTP envelope (`HELO` … `DATA`) are skipped. Events of one document share
//! `email_id` (the id of the message event) and `message_id` (the `Message-ID` header, when
//! present); `origin.index` is 0 for the message, then the attachments, then the URLs.
//!
//! **Logsource** (our own names, there is no Sigma email taxonomy): product `email`, category
//! `email_message`, `email_attachment` or `email_url`. **Host**: none (a message is not about a
//! host); the recipient address is the field `recipient` (first `To`, else `Delivered-To`,
//! `X-Original-To`, `Envelope-To`, a Received `for` clause). **Time**: `Date`, else the newest `Received` date, else the receive time.
//!
//! Message fields: `From` (the first address; the raw header when it has none), `Reply-To`,
//! `Return-Path`, `Sender` (addresses), `To`, `Cc` (arrays),
//! `Subject`, `Date` (RFC 3339 when it parses, else as written), `Message-ID`, `X-Mailer`;
//! derived `from_name`, `from_domain`, `reply_to_domain`, `return_path_domain`,
//! `reply_to_mismatch` (Reply-To domain differs from From's); `received` (hops newest first, each
//! `{from, by, ip, time}`), `received_ips` (every IP of the chain, newest first),
//! `originating_ip` (the oldest public IP of the chain: the first external hop); `spf`, `dkim`,
//! `dmarc` from the topmost `Authentication-Results` carrying the method (`spf` falls back to
//! `Received-SPF`), lower-cased (`pass`, `fail`, `softfail`, `none`, `neutral`, `temperror`,
//! `permerror`, …); `body_excerpt` (first 2 KiB of text, whitespace collapsed);
//! `attachment_count`, `attachment_names`, `url_count`.
//!
//! Attachment fields: `file_name`, `extension`, `content_type` (declared), `sniffed_type`
//! (magic bytes: `pe`, `elf`, `doc`/`xls`/`ppt`/`msg`/`ole2` (OLE2 `D0CF11E0`; `ooxml_encrypted` for a
//! password-protected Office file, an OLE2 `EncryptedPackage`), `docx`/`xlsx`/
//! `pptx`/`ooxml` (ZIP with `[Content_Types].xml`), `zip`, `pdf`, `rar`, `7z`, `gzip`, `bzip2`,
//! `xz`, `cab`, `iso`, `lnk`, `rtf`, `html`, `script`, `png`, `jpeg`, `gif`, `eml`, `text`,
//! `unknown`, `empty`), `size`, `md5`, `sha1`, `sha256`, `has_vba` (an OLE `_VBA_PROJECT` stream or
//! an OOXML `vbaProject.bin`), `macro_capable` (`has_vba`, or a macro-enabled OOXML extension:
//! docm, dotm, xlsm, xltm, xlam, xlsb, pptm, potm, ppsm, sldm), `encrypted` (ZIP entry flag or
//! OLE `EncryptedPackage`), `archive`, `double_extension` (`invoice.pdf.exe`),
//! `extension_mismatch` (the extension is not one the sniffed type uses; never set for
//! `text`/`unknown`). URL fields: `url`, `url_host`, `url_source` (`text`, `html_href`,
//! `html_form`), `anchor_text`, `anchor_domain` (a domain shown in the visible text) and
//! `text_domain_mismatch` (it is not the href's host or a parent/child of it). Attachment and URL
//! events also carry `From`, `Subject` and `recipient` of their message. URLs come from the
//! message's own text and HTML body parts (`http`/`https` only, deduplicated by URL and anchor
//! text), not from attachments or nested messages. Bounds: 128 attachments (nested messages
//! followed 4 deep), 256 URLs, 256-character anchor texts.

use std::net::IpAddr;
use std::sync::Arc;

use chrono::{DateTime, TimeZone, Utc};
use mail_parser::{Address, Host, Message, MessageParser, MimeHeaders, PartType};
use serde_json::{Map, Value};

use super::{Format, ParseError, Position};
use crate::event::{Event, EventId, Fields, LogSource, Origin};

const MAX_URLS: usize = 256;
const MAX_ATTACHMENTS: usize = 128;
const EXCERPT_BYTES: usize = 2048;
const ANCHOR_CHARS: usize = 256;
const MAX_NESTING: usize = 4;
/// Header names that make a header block an email's (lower-case, space-separated).
const MAIL_HEADERS: &str = "received return-path from delivered-to mime-version message-id date subject to dkim-signature authentication-results x-original-to reply-to content-type envelope-to";

/// True when `head` starts with an RFC 5322 header block (optionally after an mbox `From ` line)
/// naming at least one header that mail carries, or with a BSMTP envelope.
pub fn sniff(head: &[u8]) -> bool {
    let head = head.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(head);
    if (head.starts_with(b"HELO ") || head.starts_with(b"EHLO "))
        && memchr::memmem::find(head, b"\nDATA").is_some()
    {
        return true;
    }
    let text = String::from_utf8_lossy(head);
    let mut lines = text.lines().peekable();
    if lines.peek().is_some_and(|l| l.starts_with("From ")) {
        lines.next();
    }
    let (mut known, mut seen) = (false, 0);
    // The last line may be cut by the head limit: only judge complete lines.
    let complete = text.matches('\n').count();
    for line in lines.take(complete.max(1)) {
        if line.is_empty() {
            break;
        }
        if line.starts_with([' ', '\t']) && seen > 0 {
            continue;
        }
        // A header block may end without its blank line (malformed MIME): stop at the first
        // line that is not a header, judging what came before.
        let Some((name, _)) = line.split_once(':') else {
            break;
        };
        let name = name.trim_end_matches([' ', '\t']);
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_graphic()) {
            break;
        }
        seen += 1;
        let n = name.to_ascii_lowercase();
        known |= listed(MAIL_HEADERS, &n) || n.starts_with("arc-");
    }
    known && seen > 0
}

/// Parses one message into its events (message, attachments, URLs), or one error.
pub fn parse_document(
    bytes: &[u8],
    source: &Arc<str>,
    input: &Arc<str>,
    received: DateTime<Utc>,
) -> Vec<Result<Event, ParseError>> {
    let (body, offset) = strip_envelope(bytes);
    let error = |reason: &str| {
        vec![Err(ParseError {
            format: Format::Eml,
            input: input.clone(),
            file: source.clone(),
            position: Position::Byte(offset as u64),
            reason: reason.to_owned(),
            raw: Some(super::excerpt(&String::from_utf8_lossy(
                &body[..body.len().min(512)],
            ))),
        })]
    };
    let Some(msg) = MessageParser::default().parse(body) else {
        return error("not an RFC 5322 message");
    };
    if msg.parts.first().is_none_or(|p| p.headers.is_empty())
        || !sniff(&body[..body.len().min(16 * 1024)])
    {
        return error("no RFC 5322 header block");
    }
    let origin = |index: u64| Origin {
        input: input.clone(),
        source: source.clone(),
        index,
    };
    let email_id = EventId::derive(source, 0);
    let mut fields = message_fields(&msg);
    let time = fields
        .get("Date")
        .and_then(Value::as_str)
        .and_then(super::parse_time_str)
        .or_else(|| newest_received(&msg))
        .unwrap_or(received);
    let mut context = Map::new();
    context.insert("email_id".into(), email_id.as_str().into());
    for key in ["Message-ID", "From", "Subject", "recipient"] {
        if let Some(v) = fields.get(key) {
            let name = if key == "Message-ID" {
                "message_id"
            } else {
                key
            };
            context.insert(name.into(), v.clone());
        }
    }
    let mut attachments = Vec::new();
    collect_attachments(&msg, 0, &mut attachments);
    let mut urls = Vec::new();
    collect_urls(&msg, &mut urls);
    fields.insert("attachment_count".into(), attachments.len().into());
    fields.insert(
        "attachment_names".into(),
        attachments
            .iter()
            .filter_map(|a| a.get("file_name").cloned())
            .collect(),
    );
    fields.insert("url_count".into(), urls.len().into());
    fields.extend(context.clone());
    let build = |index: u64, fields: Map<String, Value>, category: &str| {
        let mut event = Event::new(origin(index), received, Fields::from(fields));
        event.time = time;
        event.logsource = LogSource::new(Some("email"), Some(category), None);
        Ok(event)
    };
    let mut out = vec![build(0, fields, "email_message")];
    let children = attachments
        .into_iter()
        .map(|a| (a, "email_attachment"))
        .chain(urls.into_iter().map(|u| (u, "email_url")));
    for (i, (mut child, category)) in children.enumerate() {
        child.extend(context.clone());
        out.push(build(i as u64 + 1, child, category));
    }
    out
}

/// Skips an mbox `From ` line and a BSMTP envelope; returns the message and its byte offset.
fn strip_envelope(bytes: &[u8]) -> (&[u8], usize) {
    let mut start = 0;
    let at = |s: usize| bytes.get(s..).unwrap_or_default();
    if (at(0).starts_with(b"HELO ") || at(0).starts_with(b"EHLO "))
        && let Some(p) = memchr::memmem::find(bytes, b"\nDATA")
        && let Some(nl) = memchr::memchr(b'\n', &bytes[p + 1..])
    {
        start = p + 1 + nl + 1;
    }
    if at(start).starts_with(b"From ") {
        start += memchr::memchr(b'\n', at(start)).map_or(at(start).len(), |n| n + 1);
    }
    let rest = at(start);
    let end = if bytes.starts_with(b"HELO ") || bytes.starts_with(b"EHLO ") {
        memchr::memmem::find(rest, b"\n.\n").map_or(rest.len(), |e| e + 1)
    } else {
        rest.len()
    };
    (&rest[..end], start)
}

fn raw_headers<'a>(msg: &'a Message<'_>, name: &'a str) -> impl Iterator<Item = String> + 'a {
    msg.parts.first().into_iter().flat_map(move |part| {
        part.headers
            .iter()
            .filter(move |h| h.name.as_str().eq_ignore_ascii_case(name))
            .filter_map(|h| {
                let raw = msg
                    .raw_message
                    .get(h.offset_start as usize..h.offset_end as usize)?;
                Some(
                    String::from_utf8_lossy(raw)
                        .split_whitespace()
                        .collect::<Vec<_>>()
                        .join(" "),
                )
            })
    })
}

fn addresses(a: Option<&Address<'_>>) -> Vec<String> {
    a.map(|a| {
        a.iter()
            .filter_map(|x| x.address())
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
            .collect()
    })
    .unwrap_or_default()
}

fn domain_of(addr: &str) -> Option<String> {
    let d = addr
        .rsplit_once('@')?
        .1
        .trim_end_matches('>')
        .trim()
        .to_ascii_lowercase();
    (!d.is_empty()).then_some(d)
}

fn message_fields(msg: &Message<'_>) -> Map<String, Value> {
    let mut f = Map::new();
    // A display name with an unquoted comma splits into several entries: take the first
    // entry with an address, and the first display name.
    let from: Vec<_> = msg.from().map(|a| a.iter().collect()).unwrap_or_default();
    let addr = from
        .iter()
        .find_map(|a| a.address())
        .map(str::trim)
        .filter(|a| !a.is_empty());
    let raw_from = raw_headers(msg, "From").next();
    if let Some(addr) = addr.map(str::to_owned).or_else(|| raw_from.clone()) {
        if let Some(d) = domain_of(&addr) {
            f.insert("from_domain".into(), d.into());
        }
        f.insert("From".into(), addr.into());
    }
    if let Some(name) = from
        .iter()
        .find_map(|a| a.name())
        .map(str::to_owned)
        .or(raw_from)
    {
        f.insert("from_name".into(), name.trim().into());
    }
    for (key, list) in [("Reply-To", msg.reply_to()), ("Sender", msg.sender())] {
        if let Some(first) = addresses(list).into_iter().next() {
            f.insert(key.into(), first.into());
        }
    }
    for (key, list) in [("To", msg.to()), ("Cc", msg.cc())] {
        let list = addresses(list);
        if !list.is_empty() {
            f.insert(key.into(), list.into());
        }
    }
    if let Some(rp) = msg.return_address() {
        f.insert("Return-Path".into(), rp.trim().into());
    }
    for (key, derived) in [
        ("Reply-To", "reply_to_domain"),
        ("Return-Path", "return_path_domain"),
    ] {
        if let Some(d) = f.get(key).and_then(Value::as_str).and_then(domain_of) {
            f.insert(derived.into(), d.into());
        }
    }
    if let (Some(r), Some(d)) = (f.get("reply_to_domain"), f.get("from_domain")) {
        f.insert("reply_to_mismatch".into(), (r != d).into());
    }
    if let Some(s) = msg.subject() {
        f.insert("Subject".into(), s.into());
    }
    if let Some(d) = msg.date() {
        let parsed = d
            .is_valid()
            .then(|| Utc.timestamp_opt(d.to_timestamp(), 0).single())
            .flatten();
        let value = parsed.map_or_else(|| d.to_rfc3339(), |t| t.to_rfc3339());
        f.insert("Date".into(), value.into());
    } else if let Some(d) = raw_headers(msg, "Date").next() {
        f.insert("Date".into(), d.into());
    }
    if let Some(id) = msg.message_id() {
        f.insert("Message-ID".into(), id.into());
    }
    if let Some(m) = raw_headers(msg, "X-Mailer").next() {
        f.insert("X-Mailer".into(), m.into());
    }
    let recipient = f
        .get("To")
        .and_then(|t| t.get(0))
        .and_then(Value::as_str)
        .map(str::to_owned)
        .or_else(|| raw_headers(msg, "Delivered-To").next())
        .or_else(|| raw_headers(msg, "X-Original-To").next())
        .or_else(|| raw_headers(msg, "Envelope-To").next())
        .or_else(|| {
            msg.received_all()
                .find_map(|r| r.for_.as_deref().map(str::to_owned))
        });
    if let Some(r) = recipient {
        f.insert(
            "recipient".into(),
            r.trim_matches(['<', '>', ' ']).to_ascii_lowercase().into(),
        );
    }
    received_chain(msg, &mut f);
    auth_results(msg, &mut f);
    if let Some(body) = msg.body_text(0) {
        let mut excerpt = String::new();
        for word in body.split_whitespace() {
            if excerpt.len() + word.len() + 1 > EXCERPT_BYTES {
                break;
            }
            if !excerpt.is_empty() {
                excerpt.push(' ');
            }
            excerpt.push_str(word);
        }
        f.insert("body_excerpt".into(), excerpt.into());
    }
    f
}

fn host_str(h: &Host<'_>) -> String {
    match h {
        Host::Name(n) => n.to_string(),
        Host::IpAddr(ip) => ip.to_string(),
    }
}

fn newest_received(msg: &Message<'_>) -> Option<DateTime<Utc>> {
    msg.received_all()
        .filter_map(|r| r.date.filter(|d| d.is_valid()))
        .find_map(|d| Utc.timestamp_opt(d.to_timestamp(), 0).single())
}

fn received_chain(msg: &Message<'_>, f: &mut Map<String, Value>) {
    let raws: Vec<String> = raw_headers(msg, "Received").collect();
    let mut hops = Vec::new();
    let mut ips: Vec<IpAddr> = Vec::new();
    let mut hop_ips: Vec<Option<IpAddr>> = Vec::new();
    for (i, r) in msg.received_all().enumerate() {
        let mut hop = Map::new();
        if let Some(h) = &r.from {
            hop.insert("from".into(), host_str(h).into());
        }
        if let Some(h) = &r.by {
            hop.insert("by".into(), host_str(h).into());
        }
        let ip = r
            .from_ip
            .or(match &r.from {
                Some(Host::IpAddr(ip)) => Some(*ip),
                _ => None,
            })
            .or_else(|| raws.get(i).and_then(|raw| bracketed_ip(raw)));
        if let Some(ip) = ip {
            hop.insert("ip".into(), ip.to_string().into());
            if !ips.contains(&ip) {
                ips.push(ip);
            }
        }
        hop_ips.push(ip);
        if let Some(t) = r.date.filter(|d| d.is_valid())
            && let Some(t) = Utc.timestamp_opt(t.to_timestamp(), 0).single()
        {
            hop.insert("time".into(), t.to_rfc3339().into());
        }
        hops.push(Value::Object(hop));
    }
    if hops.is_empty() {
        return;
    }
    f.insert("received".into(), hops.into());
    f.insert(
        "received_ips".into(),
        ips.iter().map(|i| Value::from(i.to_string())).collect(),
    );
    if let Some(ip) = hop_ips.iter().rev().flatten().find(|ip| is_public(ip)) {
        f.insert("originating_ip".into(), ip.to_string().into());
    }
}

/// The first `[a.b.c.d]` or `(a.b.c.d)` literal of a raw Received header's from clause.
fn bracketed_ip(raw: &str) -> Option<IpAddr> {
    let from = raw.split(" by ").next().unwrap_or(raw);
    from.split(['[', ']', '(', ')', ' '])
        .find_map(|t| t.trim_start_matches("IPv6:").parse::<IpAddr>().ok())
}

fn is_public(ip: &IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            !(v4.is_private()
                || v4.is_loopback()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || o[0] == 100 && (64..128).contains(&o[1])
                || o[0] >= 224)
        }
        IpAddr::V6(v6) => {
            let s = v6.segments();
            !(v6.is_loopback()
                || v6.is_unspecified()
                || (s[0] & 0xfe00) == 0xfc00
                || (s[0] & 0xffc0) == 0xfe80
                || v6.is_multicast())
        }
    }
}

fn auth_results(msg: &Message<'_>, f: &mut Map<String, Value>) {
    let headers: Vec<String> = raw_headers(msg, "Authentication-Results").collect();
    for method in ["spf", "dkim", "dmarc"] {
        let found = headers.iter().find_map(|h| method_result(h, method));
        let found = found.or_else(|| {
            (method == "spf")
                .then(|| raw_headers(msg, "Received-SPF").next())
                .flatten()
                .and_then(|v| {
                    let w = v.split_whitespace().next()?.to_ascii_lowercase();
                    Some(
                        w.trim_matches(|c: char| !c.is_ascii_alphabetic())
                            .to_owned(),
                    )
                })
        });
        if let Some(r) = found.filter(|r| !r.is_empty()) {
            f.insert(method.into(), r.into());
        }
    }
}

/// The result word after `method=` (at a word boundary) in an Authentication-Results value.
fn method_result(header: &str, method: &str) -> Option<String> {
    let lower = header.to_ascii_lowercase();
    let needle = format!("{method}=");
    let mut from = 0;
    while let Some(p) = lower.get(from..).and_then(|s| s.find(&needle)) {
        let at = from + p;
        let boundary = lower[..at]
            .chars()
            .next_back()
            .is_none_or(|c| c.is_whitespace() || c == ';' || c == '(');
        if boundary {
            let word: String = lower[at + needle.len()..]
                .chars()
                .take_while(|c| c.is_ascii_alphabetic())
                .collect();
            return (!word.is_empty()).then_some(word);
        }
        from = at + needle.len();
    }
    None
}

// ---------------------------------------------------------------- attachments

fn collect_attachments(msg: &Message<'_>, depth: usize, out: &mut Vec<Map<String, Value>>) {
    for part in msg.attachments() {
        if out.len() >= MAX_ATTACHMENTS {
            return;
        }
        let declared = part.content_type().map(|ct| match ct.subtype() {
            Some(sub) => format!("{}/{}", ct.ctype(), sub).to_ascii_lowercase(),
            None => ct.ctype().to_ascii_lowercase(),
        });
        let name = part
            .attachment_name()
            .or_else(|| part.content_location())
            .map(|n| n.rsplit(['/', '\\']).next().unwrap_or(n).trim().to_owned());
        let nested = match &part.body {
            PartType::Message(nested) => Some(nested),
            _ => None,
        };
        out.push(attachment_fields(
            name.as_deref(),
            declared.as_deref(),
            part.contents(),
            nested.is_some(),
        ));
        if let Some(nested) = nested
            && depth < MAX_NESTING
        {
            collect_attachments(nested, depth + 1, out);
        }
    }
}

// Extension lists, space-separated.
const MACRO_EXTS: &str = "docm dotm xlsm xltm xlam xlsb pptm potm ppsm sldm";
const ARCHIVE_EXTS: &str = "zip rar 7z gz tgz bz2 xz cab iso img arj ace lzh tar z vhd vhdx";
const EXEC_EXTS: &str = "exe scr com bat cmd pif js jse vbs vbe wsf wsh hta ps1 lnk msi jar cpl iso img vhd dll reg url";
const DOC_EXTS: &str = "pdf doc docx docm xls xlsx xlsm ppt pptx rtf txt jpg jpeg png gif bmp zip rar csv htm html mp3 mp4 wav xml odt";
const SCRIPT_EXTS: &str = "js jse vbs vbe ps1 bat cmd wsf wsh hta sh py";
const OOXML_EXTS: &str =
    "docx docm dotx dotm xlsx xlsm xltx xltm xlam xlsb pptx pptm ppsx ppsm potx potm sldm";

/// Magic bytes at an offset → sniffed type (OLE2 and ZIP are refined by their contents).
const MAGIC: &[(usize, &[u8], &str)] = &[
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
const EXPECTED: &[(&str, &str)] = &[
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

fn listed(list: &str, ext: &str) -> bool {
    list.split(' ').any(|e| e == ext)
}

fn attachment_fields(
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

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn double_extension(name: &str) -> bool {
    let parts: Vec<String> = name
        .split('.')
        .map(|p| p.trim().to_ascii_lowercase())
        .collect();
    match parts.as_slice() {
        [_, .., doc, exec] => listed(EXEC_EXTS, exec) && listed(DOC_EXTS, doc),
        _ => false,
    }
}

fn utf16(s: &str) -> Vec<u8> {
    s.encode_utf16().flat_map(u16::to_le_bytes).collect()
}

/// Sniffs `(type, has_vba, encrypted)` from the content.
fn sniff_content(data: &[u8], ext: Option<&str>, nested: bool) -> (&'static str, bool, bool) {
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

fn looks_textual(data: &[u8]) -> bool {
    let head = &data[..data.len().min(1024)];
    let printable = head
        .iter()
        .filter(|&&b| b >= 0x20 || b"\t\r\n\x0c".contains(&b))
        .count();
    !head.contains(&0) && printable * 100 >= head.len() * 95
}

// ----------------------------------------------------------------------- URLs

fn collect_urls(msg: &Message<'_>, out: &mut Vec<Map<String, Value>>) {
    let mut seen = std::collections::HashSet::new();
    let mut push = |url: String, source: &str, anchor: Option<String>| {
        let Some(host) = url_host(&url) else { return };
        if out.len() >= MAX_URLS || !seen.insert((url.clone(), anchor.clone())) {
            return;
        }
        let mut f = Map::new();
        f.insert("url".into(), url.into());
        f.insert("url_host".into(), host.as_str().into());
        f.insert("url_source".into(), source.into());
        if let Some(a) = anchor.filter(|a| !a.is_empty()) {
            if let Some(shown) = visible_domain(&a) {
                let same = |x: &str, y: &str| x == y || x.ends_with(&format!(".{y}"));
                let (h, s) = (
                    host.trim_start_matches("www."),
                    shown.trim_start_matches("www."),
                );
                f.insert(
                    "text_domain_mismatch".into(),
                    (!same(h, s) && !same(s, h)).into(),
                );
                f.insert("anchor_domain".into(), shown.into());
            }
            f.insert("anchor_text".into(), a.into());
        }
        f.entry("text_domain_mismatch").or_insert(false.into());
        out.push(f);
    };
    for id in &msg.html_body {
        if let Some(PartType::Html(html)) = msg.parts.get(*id as usize).map(|p| &p.body) {
            for (url, source, anchor) in html_links(html) {
                push(url, source, anchor);
            }
        }
    }
    for id in &msg.text_body {
        if let Some(PartType::Text(text)) = msg.parts.get(*id as usize).map(|p| &p.body) {
            for url in text_urls(text) {
                push(url, "text", None);
            }
        }
    }
}

/// `http(s)://` URLs in plain text, trailing punctuation trimmed.
fn text_urls(text: &str) -> Vec<String> {
    let lower = text.to_ascii_lowercase();
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(p) = lower.get(from..).and_then(|s| s.find("http")) {
        let start = from + p;
        let rest = &text[start..];
        let lrest = &lower[start..];
        from = start + 4;
        if !(lrest.starts_with("http://") || lrest.starts_with("https://")) {
            continue;
        }
        let end = rest
            .find(|c: char| c.is_whitespace() || "\"'<>`{}|\\^[]".contains(c))
            .unwrap_or(rest.len());
        let url = rest[..end].trim_end_matches(['.', ',', ';', ':', '!', '?', ')', '*']);
        if url_host(url).is_some() {
            out.push(url.to_owned());
        }
        from = start + end.max(4);
    }
    out
}

/// `<a href>` / `<area href>` links with their visible text, and `<form action>` targets.
fn html_links(html: &str) -> Vec<(String, &'static str, Option<String>)> {
    let lower = html.to_ascii_lowercase();
    let mut out = Vec::new();
    let mut pos = 0;
    while let Some(p) = lower.get(pos..).and_then(|s| s.find('<')) {
        let start = pos + p;
        let tag_end = lower[start..].find('>').map_or(lower.len(), |e| start + e);
        let tag = &lower[start + 1..tag_end];
        let name: String = tag
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric())
            .collect();
        pos = tag_end.max(start + 1);
        let attr = match name.as_str() {
            "a" | "area" => "href",
            "form" => "action",
            _ => continue,
        };
        let Some(value) = attribute(&html[start + 1..tag_end], tag, attr) else {
            continue;
        };
        let url = decode_entities(value.trim());
        if name == "form" {
            out.push((url, "html_form", None));
            continue;
        }
        let close = lower[tag_end..]
            .find("</a")
            .map_or(lower.len(), |c| tag_end + c);
        let inner = html
            .get(tag_end.saturating_add(1).min(close)..close)
            .unwrap_or("");
        let text = decode_entities(&strip_tags(inner));
        let text: String = text
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .chars()
            .take(ANCHOR_CHARS)
            .collect();
        out.push((url, "html_href", Some(text)));
    }
    out
}

fn attribute<'a>(tag: &'a str, lower: &str, name: &str) -> Option<&'a str> {
    let mut from = 0;
    while let Some(p) = lower.get(from..).and_then(|s| s.find(name)) {
        let at = from + p;
        from = at + name.len();
        let before_ok = lower[..at].ends_with(|c: char| c.is_whitespace() || c == '"' || c == '\'');
        let rest = lower[from..].trim_start();
        if !before_ok || !rest.starts_with('=') {
            continue;
        }
        let vstart = lower.len() - rest.len() + 1;
        let raw = tag.get(vstart..)?.trim_start();
        let offset = tag.len() - raw.len();
        return Some(match raw.chars().next() {
            Some(q @ ('"' | '\'')) => {
                let end = raw[1..].find(q).map_or(raw.len(), |e| e + 1);
                &tag[offset + 1..offset + end]
            }
            _ => &tag[offset..offset + raw.find(char::is_whitespace).unwrap_or(raw.len())],
        });
    }
    None
}

fn strip_tags(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut in_tag = false;
    for c in s.chars() {
        match c {
            '<' => in_tag = true,
            '>' => {
                in_tag = false;
                out.push(' ');
            }
            _ if !in_tag => out.push(c),
            _ => {}
        }
    }
    out
}

fn decode_entities(s: &str) -> String {
    if !s.contains('&') {
        return s.to_owned();
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(p) = rest.find('&') {
        out.push_str(&rest[..p]);
        rest = &rest[p..];
        let end = rest.bytes().take(10).position(|b| b == b';');
        let decoded = end.and_then(|e| {
            let ent = &rest[1..e];
            let c = match ent {
                "amp" => '&',
                "lt" => '<',
                "gt" => '>',
                "quot" => '"',
                "apos" => '\'',
                "nbsp" => ' ',
                _ => {
                    let n = ent.strip_prefix('#')?;
                    let code = match n.strip_prefix(['x', 'X']) {
                        Some(h) => u32::from_str_radix(h, 16).ok()?,
                        None => n.parse().ok()?,
                    };
                    char::from_u32(code)?
                }
            };
            Some((c, e + 1))
        });
        match decoded {
            Some((c, len)) => {
                out.push(c);
                rest = &rest[len..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// The host of an `http(s)://` URL (userinfo and port removed, lower-cased).
fn url_host(url: &str) -> Option<String> {
    let lower = url.to_ascii_lowercase();
    let rest = lower
        .strip_prefix("http://")
        .or_else(|| lower.strip_prefix("https://"))?;
    let authority = rest.split(['/', '?', '#', '\\']).next()?;
    let host = authority.rsplit('@').next()?;
    let host = if host.starts_with('[') {
        host.split(']').next().map(|h| format!("{h}]"))?
    } else {
        host.split(':').next()?.trim_end_matches('.').to_owned()
    };
    (!host.is_empty()).then_some(host)
}

/// A domain the visible text of a link shows: a URL's host, or a bare `name.tld` token.
fn visible_domain(text: &str) -> Option<String> {
    text.split_whitespace().find_map(|token| {
        if let Some(h) = url_host(token) {
            return h.contains(['.', ':']).then_some(h);
        }
        let t = token
            .rsplit('@')
            .next()?
            .trim_matches(|c: char| !c.is_ascii_alphanumeric())
            .to_ascii_lowercase();
        let t = t.split('/').next()?;
        let labels: Vec<&str> = t.split('.').collect();
        let tld = labels.last()?;
        let ok = labels.len() >= 2
            && labels
                .iter()
                .all(|l| !l.is_empty() && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'))
            && tld.len() >= 2
            && tld.chars().all(|c| c.is_ascii_alphabetic())
            && ![
                "pdf", "doc", "docx", "xls", "xlsx", "zip", "exe", "html", "htm", "php", "asp",
                "aspx", "jpg", "png", "gif", "txt", "js",
            ]
            .contains(tld);
        ok.then(|| t.to_owned())
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeMap;
    use std::path::{Path, PathBuf};

    const FIXTURE: &str = "From nobody Mon May  1 10:00:00 2024\r
Received: from mx.corp.example (mx.corp.example [10.0.0.5])\r
\tby mail.corp.example with ESMTP id 1; Wed, 1 May 2024 10:00:05 +0000\r
Received: from sender.bad.example (sender.bad.example [198.51.100.23])\r
\tby mx.corp.example with ESMTPS id 2; Wed, 1 May 2024 09:59:58 +0000\r
Authentication-Results: mx.corp.example; spf=softfail smtp.mailfrom=bad.example;\r
\tdkim=none; dmarc=fail (p=reject) header.from=paypal.example\r
Return-Path: <bounce@bad.example>\r
From: \"PayPal Service\" <service@paypal.example>\r
Reply-To: help@bad.example\r
To: Alice <Alice@corp.example>, bob@corp.example\r
Cc: carol@corp.example\r
Subject: Your account is limited\r
Date: Wed, 1 May 2024 11:59:50 +0200\r
Message-ID: <abc123@bad.example>\r
X-Mailer: PHPMailer 6.0\r
MIME-Version: 1.0\r
Content-Type: multipart/mixed; boundary=\"b1\"\r
\r
--b1\r
Content-Type: multipart/alternative; boundary=\"b2\"\r
\r
--b2\r
Content-Type: text/plain; charset=utf-8\r
\r
Dear   customer,\r
please verify at https://login.bad.example/verify?id=1. Thanks!\r
--b2\r
Content-Type: text/html; charset=utf-8\r
\r
<html><body><a href=\"https://login.bad.example/verify?id=1&amp;x=2\">https://www.paypal.example/signin</a>\r
<A HREF='http://paypal.example/help'>Help <b>center</b></A> <a href=\"mailto:x@y.z\">mail</a>\r
<form method=post action=\"https://collect.bad.example/post\"></form></body></html>\r
--b2--\r
--b1\r
Content-Type: application/octet-stream; name=\"invoice.pdf.exe\"\r
Content-Disposition: attachment; filename=\"invoice.pdf.exe\"\r
\r
MZ this program cannot be run in DOS mode\r
--b1\r
Content-Type: application/vnd.ms-word.document.macroEnabled.12; name=\"report.docx\"\r
Content-Disposition: attachment; filename=\"report.docx\"\r
Content-Transfer-Encoding: base64\r
\r
UEsDBBQAAAAIAAAAAAAAAAAAAAAAAAAAAABbQ29udGVudF9UeXBlc10ueG1sUEsDBHdvcmQvdmJhUHJvamVjdC5iaW53b3JkL2RvY3VtZW50LnhtbA==\r
--b1\r
Content-Type: application/msword; name=\"scan.doc\"\r
Content-Disposition: attachment; filename=\"scan.doc\"\r
Content-Transfer-Encoding: base64\r
\r
0M8R4KGxGuEAAAAAAAAAAFcAbwByAGQARABvAGMAdQBtAGUAbgB0AF8AVgBCAEEAXwBQAFIATwBKAEUAQwBUAA==\r
--b1--\r
";

    fn parse(bytes: &[u8]) -> Vec<Result<Event, ParseError>> {
        parse_document(bytes, &Arc::from("m.eml"), &Arc::from("test"), Utc::now())
    }

    fn s<'a>(e: &'a Event, k: &str) -> Option<std::borrow::Cow<'a, str>> {
        e.fields.get_str(k)
    }

    #[test]
    fn message_event_fields() {
        assert!(sniff(FIXTURE.as_bytes()));
        let out = parse(FIXTURE.as_bytes());
        let events: Vec<&Event> = out.iter().map(|r| r.as_ref().unwrap()).collect();
        let m = events[0];
        assert_eq!(
            m.logsource,
            LogSource::new(Some("email"), Some("email_message"), None)
        );
        assert_eq!(m.host, None);
        assert_eq!(s(m, "From").as_deref(), Some("service@paypal.example"));
        assert_eq!(s(m, "from_name").as_deref(), Some("PayPal Service"));
        assert_eq!(s(m, "Reply-To").as_deref(), Some("help@bad.example"));
        assert_eq!(s(m, "Return-Path").as_deref(), Some("bounce@bad.example"));
        assert_eq!(m.fields.get("reply_to_mismatch"), Some(&Value::Bool(true)));
        assert_eq!(m.fields.get("To").unwrap().as_array().unwrap().len(), 2);
        assert_eq!(s(m, "recipient").as_deref(), Some("alice@corp.example"));
        assert_eq!(s(m, "Message-ID").as_deref(), Some("abc123@bad.example"));
        assert_eq!(s(m, "X-Mailer").as_deref(), Some("PHPMailer 6.0"));
        assert_eq!(m.time.to_rfc3339(), "2024-05-01T09:59:50+00:00");
        assert_eq!(s(m, "spf").as_deref(), Some("softfail"));
        assert_eq!(s(m, "dkim").as_deref(), Some("none"));
        assert_eq!(s(m, "dmarc").as_deref(), Some("fail"));
        assert_eq!(s(m, "originating_ip").as_deref(), Some("198.51.100.23"));
        let ips = m.fields.get("received_ips").unwrap();
        assert_eq!(ips, &serde_json::json!(["10.0.0.5", "198.51.100.23"]));
        assert!(s(m, "received.0.by").is_none(), "hops are an array");
        let hops = m.fields.get("received").unwrap().as_array().unwrap();
        assert_eq!(hops[1]["from"], "sender.bad.example");
        assert!(
            s(m, "body_excerpt")
                .unwrap()
                .starts_with("Dear customer, please verify")
        );
        assert_eq!(m.fields.get("attachment_count"), Some(&Value::from(3)));
        assert_eq!(m.origin.index, 0);
    }

    #[test]
    fn attachments_are_classified() {
        let out = parse(FIXTURE.as_bytes());
        let events: Vec<&Event> = out.iter().map(|r| r.as_ref().unwrap()).collect();
        let by_name: BTreeMap<String, &Event> = events
            .iter()
            .filter(|e| e.logsource.category.as_deref() == Some("email_attachment"))
            .map(|e| (s(e, "file_name").unwrap().into_owned(), *e))
            .collect();
        let exe = by_name["invoice.pdf.exe"];
        assert_eq!(exe.origin.index, 1);
        assert_eq!(s(exe, "sniffed_type").as_deref(), Some("pe"));
        assert_eq!(exe.fields.get("double_extension"), Some(&Value::Bool(true)));
        assert_eq!(
            exe.fields.get("extension_mismatch"),
            Some(&Value::Bool(false))
        );
        assert_eq!(s(exe, "message_id").as_deref(), Some("abc123@bad.example"));
        assert_eq!(s(exe, "email_id").as_deref(), Some(events[0].id.as_str()));
        assert_eq!(s(exe, "sha256").unwrap().len(), 64);
        assert_eq!(s(exe, "md5").unwrap().len(), 32);
        let docx = by_name["report.docx"];
        assert_eq!(s(docx, "sniffed_type").as_deref(), Some("docx"));
        assert_eq!(docx.fields.get("has_vba"), Some(&Value::Bool(true)));
        assert_eq!(docx.fields.get("macro_capable"), Some(&Value::Bool(true)));
        assert_eq!(docx.fields.get("archive"), Some(&Value::Bool(false)));
        let doc = by_name["scan.doc"];
        assert_eq!(s(doc, "sniffed_type").as_deref(), Some("doc"));
        assert_eq!(doc.fields.get("macro_capable"), Some(&Value::Bool(true)));
        let f = attachment_fields(Some("photo.jpg"), None, b"PK\x03\x04rest", false);
        assert_eq!(f["extension_mismatch"], true);
        assert_eq!(f["archive"], true);
        assert_eq!(f["sniffed_type"], "zip");
    }

    #[test]
    fn urls_and_domain_mismatch() {
        let out = parse(FIXTURE.as_bytes());
        let urls: Vec<&Event> = out
            .iter()
            .map(|r| r.as_ref().unwrap())
            .filter(|e| e.logsource.category.as_deref() == Some("email_url"))
            .collect();
        assert!(urls.iter().all(|u| u.origin.index >= 4));
        let href = urls
            .iter()
            .find(|u| s(u, "anchor_domain").as_deref() == Some("www.paypal.example"))
            .unwrap();
        assert_eq!(
            s(href, "url").as_deref(),
            Some("https://login.bad.example/verify?id=1&x=2")
        );
        assert_eq!(s(href, "url_host").as_deref(), Some("login.bad.example"));
        assert_eq!(
            href.fields.get("text_domain_mismatch"),
            Some(&Value::Bool(true))
        );
        let help = urls
            .iter()
            .find(|u| s(u, "url").as_deref() == Some("http://paypal.example/help"))
            .unwrap();
        assert_eq!(s(help, "anchor_text").as_deref(), Some("Help center"));
        assert_eq!(
            help.fields.get("text_domain_mismatch"),
            Some(&Value::Bool(false))
        );
        assert!(
            urls.iter()
                .any(|u| s(u, "url_source").as_deref() == Some("html_form"))
        );
        let text = urls
            .iter()
            .find(|u| s(u, "url_source").as_deref() == Some("text"))
            .unwrap();
        assert_eq!(
            s(text, "url").as_deref(),
            Some("https://login.bad.example/verify?id=1")
        );
        assert!(
            urls.iter()
                .all(|u| !s(u, "url").unwrap().starts_with("mailto"))
        );
        assert_eq!(
            url_host("https://paypal.com@evil.example:8443/x").as_deref(),
            Some("evil.example")
        );
        assert_eq!(visible_domain("Open invoice.pdf now"), None);
    }

    #[test]
    fn sniff_and_errors() {
        assert!(sniff(b"Received: from a\r\n\tby b\r\nFrom: x@y\r\n"));
        assert!(sniff(
            b"Replied: yes\nReturn-Path: <a@b>\nDelivered-To: c@d\n"
        ));
        assert!(sniff(
            b"HELO example.com\nMAIL FROM:<a@b>\nDATA\nFrom: a@b\n"
        ));
        assert!(!sniff(b"phish_id,url,phish_detail_url\n1,http://x,y\n"));
        assert!(!sniff(b"https://a.example/x\nhttps://b.example/y\n"));
        assert!(!sniff(b"2024-05-01 host sshd[1]: Accepted\n"));
        assert!(!sniff(b"{\"a\": 1}"));
        let err = parse(b"https://a.example/x\nhttps://b.example/y\n");
        assert_eq!(err.len(), 1);
        let err = err[0].as_ref().unwrap_err();
        assert_eq!(err.format, Format::Eml);
        assert_eq!(err.position, Position::Byte(0));
        let bsmtp = parse(b"HELO h\nMAIL FROM:<a@b.example>\nDATA\nFrom: a@b.example\nSubject: hi\n\nbody\n.\nQUIT\n");
        let m = bsmtp[0].as_ref().unwrap();
        assert_eq!(s(m, "Subject").as_deref(), Some("hi"));
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..1024)) {
            let _ = sniff(&bytes);
            let _ = parse(&bytes);
            let mut doc = FIXTURE.as_bytes()[..FIXTURE.len() / 2].to_vec();
            doc.extend_from_slice(&bytes);
            let _ = parse(&doc);
            let s = String::from_utf8_lossy(&bytes);
            let _ = html_links(&s);
            let _ = text_urls(&s);
            let _ = decode_entities(&s);
            let _ = visible_domain(&s);
            let _ = sniff_content(&bytes, Some("js"), false);
        }
    }

    fn shared_root() -> Option<PathBuf> {
        let local = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared");
        [local, PathBuf::from("/work/shared")]
            .into_iter()
            .find(|p| p.join("data/eml/ground_truth.csv").exists())
    }

    /// Not emails although shipped as `.eml`: SpamAssassin's phishing feed fixtures.
    const NOT_EMAIL: &[&str] = &[
        "spamassassin/phishing__openphish-feed.txt.eml",
        "spamassassin/phishing__phishtank-feed.csv.eml",
    ];

    #[test]
    fn corpus_matches_ground_truth() {
        let Some(root) = shared_root() else {
            eprintln!("note: shared email data absent, corpus test skipped");
            return;
        };
        let dir = root.join("data/eml");
        let gt = std::fs::read_to_string(dir.join("ground_truth.csv")).unwrap();
        let files: Vec<&str> = gt
            .lines()
            .skip(1)
            .filter_map(|l| l.split(',').next())
            .filter(|f| !f.is_empty())
            .collect();
        let mut per_folder: BTreeMap<&str, [usize; 6]> = BTreeMap::new();
        let (mut bytes_total, mut events_total) = (0usize, 0usize);
        let mut elapsed = std::time::Duration::ZERO;
        let mut failures = Vec::new();
        for file in &files {
            let data = std::fs::read(dir.join(file)).unwrap();
            let t0 = std::time::Instant::now();
            let sniffed = sniff(&data[..data.len().min(4096)]);
            let out = parse_document(&data, &Arc::from(*file), &Arc::from("corpus"), Utc::now());
            elapsed += t0.elapsed();
            bytes_total += data.len();
            events_total += out.len();
            let folder = file.split('/').next().unwrap();
            let c = per_folder.entry(folder).or_default();
            let errors = out.iter().filter(|r| r.is_err()).count();
            let parsed = out.first().is_some_and(|r| r.is_ok());
            if NOT_EMAIL.contains(file) {
                assert!(!sniffed && errors == 1, "{file} is not an email");
            } else if !sniffed || errors > 0 {
                let e = out.iter().find_map(|r| r.as_ref().err());
                failures.push(format!("{file}: sniff {sniffed}, {e:?}"));
            }
            let cat = |c: &str| {
                out.iter()
                    .flatten()
                    .filter(|e| e.logsource.category.as_deref() == Some(c))
                    .count()
            };
            *c = [
                c[0] + 1,
                c[1] + usize::from(parsed),
                c[2] + out.len() - errors,
                c[3] + errors,
                c[4] + cat("email_attachment"),
                c[5] + cat("email_url"),
            ];
        }
        assert!(
            failures.is_empty(),
            "{} failures:\n{}",
            failures.len(),
            failures.join("\n")
        );
        for (folder, [files, emails, events, errors, att, urls]) in &per_folder {
            let want = files - NOT_EMAIL.iter().filter(|f| f.starts_with(folder)).count();
            eprintln!(
                "eml corpus {folder}: files {files}, emails {emails} (ground truth {want}), events {events} ({att} attachments, {urls} URLs), errors {errors}"
            );
            assert_eq!(*emails, want, "{folder}: emails parsed");
        }
        let secs = elapsed.as_secs_f64().max(1e-9);
        eprintln!(
            "eml throughput: {:.0} events/s, {:.0} emails/s, {:.1} MB/s{}",
            events_total as f64 / secs,
            files.len() as f64 / secs,
            bytes_total as f64 / secs / 1e6,
            if cfg!(debug_assertions) {
                " (debug build)"
            } else {
                ""
            }
        );
    }
}
