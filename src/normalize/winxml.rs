//! Windows event XML: Event Viewer / wevtutil exports (`<Events>` wrapper) and concatenated
//! or single `<Event>` elements, with or without the
//! `http://schemas.microsoft.com/win/2004/08/events/event` namespace.
//!
//! The document is first split into `<Event>…</Event>` slices by a byte scan, then each slice
//! is parsed on its own with quick-xml. A malformed event therefore costs only itself: it
//! yields one error with its byte offset and parsing resumes at the next `<Event`. An event
//! that is never closed (a truncated file, or one cut short before the next `<Event`) yields an
//! error too. The n-th `<Event>` of the document gets `origin.index` n, valid or not.
//!
//! Fields are flattened exactly like the EVTX/JSON path (see [`super::windows`]); both
//! self-closing (`<Provider .../>`) and open/close empty elements are accepted. Prefixed
//! element names (`<e:Event>`) are matched by local name inside an event, but event
//! boundaries are only found for the unprefixed `<Event` tag.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use memchr::memmem;
use quick_xml::Reader;
use quick_xml::XmlVersion;
use quick_xml::events::{BytesStart, Event as XmlEvent};
use serde_json::Value;

use super::Position;
use super::windows::WinFields;
use crate::event::{Event, Origin};

/// Errors of the Windows XML parser, each naming the source, the event's index and the byte
/// offset in the document.
#[derive(Debug, thiserror::Error)]
pub enum WinXmlError {
    #[error("{file}: event {index} at byte {offset}: malformed XML: {reason}")]
    Malformed {
        file: Arc<str>,
        index: u64,
        offset: u64,
        reason: String,
    },
    #[error("{file}: event {index} at byte {offset}: <Event> is not closed")]
    Unterminated {
        file: Arc<str>,
        index: u64,
        offset: u64,
    },
    #[error("{file}: event {index} at byte {offset}: {reason}")]
    NotAnEvent {
        file: Arc<str>,
        index: u64,
        offset: u64,
        reason: &'static str,
    },
    #[error("{file}: no <Event> element found")]
    NoEvents { file: Arc<str> },
}

impl WinXmlError {
    /// Where in the document the error sits: the event's 0-based index (its byte offset is in
    /// the message), or byte 0 for a document without events.
    pub fn position(&self) -> Position {
        match self {
            WinXmlError::Malformed { index, .. }
            | WinXmlError::Unterminated { index, .. }
            | WinXmlError::NotAnEvent { index, .. } => Position::Record(*index),
            WinXmlError::NoEvents { .. } => Position::Byte(0),
        }
    }
}

/// Splits an XML document into events and parses each (n-th `<Event>` → `origin.index` n).
pub fn parse_document(
    xml: &str,
    source: &Arc<str>,
    input: &Arc<str>,
    received: DateTime<Utc>,
) -> Vec<Result<Event, WinXmlError>> {
    let bytes = xml.as_bytes();
    let mut out = Vec::new();
    let mut pos = 0;
    let mut index = 0u64;
    while let Some(start) = find_event_start(bytes, pos) {
        let next_start = find_event_start(bytes, start + 1);
        // The end is searched only up to the next start: linear time even when no event closes.
        let limit = next_start.unwrap_or(bytes.len());
        let end = bytes
            .get(..limit)
            .and_then(|window| find_event_end(window, start));
        let Some(end) = end else {
            out.push(Err(WinXmlError::Unterminated {
                file: source.clone(),
                index,
                offset: start as u64,
            }));
            index += 1;
            match next_start {
                Some(n) => {
                    pos = n;
                    continue;
                }
                None => break,
            }
        };
        let origin = Origin {
            input: input.clone(),
            source: source.clone(),
            index,
        };
        // `start`/`end` sit on ASCII `<`/`>` bytes, so they are char boundaries.
        let slice = xml.get(start..end).unwrap_or("");
        out.push(parse_event(slice, start as u64, origin, received));
        index += 1;
        pos = end;
    }
    if out.is_empty() && !xml.trim().is_empty() && memmem::find(bytes, b"<Events").is_none() {
        out.push(Err(WinXmlError::NoEvents {
            file: source.clone(),
        }));
    }
    out
}

/// Byte after a tag name that ends the name (`<Event>` but not `<EventData>`).
fn ends_name(b: Option<&u8>) -> bool {
    matches!(b, Some(b' ' | b'\t' | b'\r' | b'\n' | b'>' | b'/'))
}

fn find_event_start(bytes: &[u8], from: usize) -> Option<usize> {
    let mut at = from;
    loop {
        let hit = at + memmem::find(bytes.get(at..)?, b"<Event")?;
        if ends_name(bytes.get(hit + 6)) {
            return Some(hit);
        }
        at = hit + 6;
    }
}

/// The end (exclusive) of the `<Event>` element starting at `start`: after `</Event>`, or after
/// `/>` for a self-closing `<Event/>`.
fn find_event_end(bytes: &[u8], start: usize) -> Option<usize> {
    let gt = start + memchr::memchr(b'>', bytes.get(start..)?)?;
    if gt > 0 && bytes.get(gt - 1) == Some(&b'/') {
        return Some(gt + 1);
    }
    let mut at = gt;
    loop {
        let hit = at + memmem::find(bytes.get(at..)?, b"</Event")?;
        let mut i = hit + 7;
        while matches!(bytes.get(i), Some(b' ' | b'\t' | b'\r' | b'\n')) {
            i += 1;
        }
        if bytes.get(i) == Some(&b'>') {
            return Some(i + 1);
        }
        at = hit + 7;
    }
}

/// One open element while parsing an event.
struct Frame {
    name: String,
    text: String,
    has_child: bool,
    /// `Name` attribute of a `<Data>` element.
    data_name: Option<String>,
}

/// Parses one `<Event>…</Event>` slice starting at byte `base` of the document.
fn parse_event(
    slice: &str,
    base: u64,
    origin: Origin,
    received: DateTime<Utc>,
) -> Result<Event, WinXmlError> {
    let malformed = |origin: &Origin, offset: u64, reason: String| WinXmlError::Malformed {
        file: origin.source.clone(),
        index: origin.index,
        offset: base + offset,
        reason,
    };
    let mut reader = Reader::from_str(slice);
    let mut out = WinFields::new();
    let mut stack: Vec<Frame> = Vec::with_capacity(8);
    let mut saw_system = false;
    let mut closed = false;
    loop {
        let ev = match reader.read_event() {
            Ok(ev) => ev,
            Err(e) => return Err(malformed(&origin, reader.error_position(), e.to_string())),
        };
        match ev {
            XmlEvent::Start(e) | XmlEvent::Empty(e) if closed => {
                let _ = e;
                return Err(malformed(
                    &origin,
                    reader.buffer_position(),
                    "content after </Event>".into(),
                ));
            }
            XmlEvent::Start(e) => {
                let frame = open(&e, &mut stack, &mut out, &mut saw_system)
                    .map_err(|r| malformed(&origin, reader.buffer_position(), r))?;
                stack.push(frame);
            }
            XmlEvent::Empty(e) => {
                let frame = open(&e, &mut stack, &mut out, &mut saw_system)
                    .map_err(|r| malformed(&origin, reader.buffer_position(), r))?;
                close(frame, &stack, &mut out);
                closed = stack.is_empty();
            }
            XmlEvent::End(_) => {
                if let Some(frame) = stack.pop() {
                    close(frame, &stack, &mut out);
                }
                closed = stack.is_empty();
            }
            XmlEvent::Text(t) => {
                if let Some(top) = stack.last_mut() {
                    top.text.push_str(&t.xml10_content());
                }
            }
            XmlEvent::CData(t) => {
                if let Some(top) = stack.last_mut() {
                    top.text.push_str(&t);
                }
            }
            XmlEvent::GeneralRef(r) => {
                if let Some(top) = stack.last_mut() {
                    match r.resolve_char_ref() {
                        Ok(Some(c)) => top.text.push(c),
                        _ => match &*r {
                            "lt" => top.text.push('<'),
                            "gt" => top.text.push('>'),
                            "amp" => top.text.push('&'),
                            "apos" => top.text.push('\''),
                            "quot" => top.text.push('"'),
                            other => {
                                top.text.push('&');
                                top.text.push_str(other);
                                top.text.push(';');
                            }
                        },
                    }
                }
            }
            XmlEvent::Eof => break,
            XmlEvent::Comment(_) | XmlEvent::Decl(_) | XmlEvent::PI(_) | XmlEvent::DocType(_) => {}
        }
    }
    if !closed {
        return Err(WinXmlError::Unterminated {
            file: origin.source.clone(),
            index: origin.index,
            offset: base,
        });
    }
    if !saw_system {
        return Err(WinXmlError::NotAnEvent {
            file: origin.source.clone(),
            index: origin.index,
            offset: base,
            reason: "<Event> has no <System> element",
        });
    }
    Ok(out.finish(origin, received))
}

/// Handles an element's start: checks the root, reads the System attributes, returns the frame.
fn open(
    e: &BytesStart<'_>,
    stack: &mut [Frame],
    out: &mut WinFields,
    saw_system: &mut bool,
) -> Result<Frame, String> {
    let local = e.local_name();
    let name: &str = local.as_ref();
    let depth = stack.len();
    if depth == 0 && name != "Event" {
        return Err(format!("root element is <{name}>, not <Event>"));
    }
    if let Some(parent) = stack.last_mut() {
        parent.has_child = true;
    }
    let parent = stack.last().map(|f| f.name.as_str());
    let in_system = depth == 2 && parent == Some("System");
    if depth == 1 && name == "System" {
        *saw_system = true;
    }
    let mut data_name = None;
    let wants_attrs = in_system || (depth == 2 && parent == Some("EventData") && name == "Data");
    if wants_attrs {
        for attr in e.attributes() {
            let attr = attr.map_err(|err| err.to_string())?;
            let key = attr.key.local_name();
            let key: &str = key.as_ref();
            let value = attr
                .normalized_value(XmlVersion::Implicit1_0)
                .map_err(|err| err.to_string())?
                .into_owned();
            if !in_system {
                if key == "Name" {
                    data_name = Some(value);
                }
                continue;
            }
            let field = match (name, key) {
                ("Provider", "Name") => "Provider_Name",
                ("Provider", "Guid") => "Provider_Guid",
                ("TimeCreated", "SystemTime") => "TimeCreated",
                ("Execution", "ProcessID") => "ProcessID",
                ("Execution", "ThreadID") => "ThreadID",
                ("Security", "UserID") => "SecurityUserID",
                _ => continue,
            };
            out.system(field, Value::String(value));
        }
    }
    Ok(Frame {
        name: name.to_owned(),
        text: String::new(),
        has_child: false,
        data_name,
    })
}

/// Element text as a field value: whitespace-only text with a line break is pretty-printing
/// of an empty element and becomes `""`.
fn text_value(text: String) -> Value {
    if text.contains('\n') && text.trim().is_empty() {
        Value::String(String::new())
    } else {
        Value::String(text)
    }
}

/// Handles an element's end; `stack` holds its ancestors.
fn close(frame: Frame, stack: &[Frame], out: &mut WinFields) {
    let depth = stack.len();
    if depth < 2 {
        return;
    }
    let section = stack[1].name.as_str();
    match (section, depth) {
        ("System", 2)
            if !frame.has_child
                && !matches!(
                    frame.name.as_str(),
                    "Provider" | "TimeCreated" | "Execution" | "Security" | "Correlation"
                ) =>
        {
            let v = text_value(frame.text);
            out.system(&frame.name, v);
        }
        ("EventData", 2) if !frame.has_child => match frame.data_name {
            Some(n) => out.data(n, text_value(frame.text)),
            None if frame.name == "Data" => out.unnamed(text_value(frame.text)),
            None => out.data(frame.name, text_value(frame.text)),
        },
        ("UserData", d) if d >= 2 && !frame.has_child => {
            out.data(frame.name, text_value(frame.text));
        }
        _ => {}
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;
    use std::path::{Path, PathBuf};

    fn shared(rel: &str) -> Option<PathBuf> {
        crate::testutil::shared(rel)
    }

    fn now() -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000, 0).unwrap()
    }

    fn parse(xml: &str) -> Vec<Result<Event, WinXmlError>> {
        parse_document(xml, &Arc::from("t.xml"), &Arc::from("file"), now())
    }

    const EXPORT: &str = r#"<?xml version="1.0" encoding="utf-8"?>
<Events>
<Event xmlns="http://schemas.microsoft.com/win/2004/08/events/event"><System><Provider Name="Microsoft-Windows-Sysmon" Guid="{5770385F-C22A-43E0-BF4C-06F5698FFBD9}"/><EventID>1</EventID><Version>5</Version><Level>4</Level><Task>1</Task><Opcode>0</Opcode><Keywords>0x8000000000000000</Keywords><TimeCreated SystemTime="2020-07-02T18:00:29.615842Z"/><EventRecordID>42</EventRecordID><Correlation/><Execution ProcessID="5320" ThreadID="6908"/><Channel>Microsoft-Windows-Sysmon/Operational</Channel><Computer>HOST1</Computer><Security UserID="S-1-5-18"/></System><EventData><Data Name="Image">C:\a &amp; b\x.exe</Data><Data Name="CommandLine">x.exe  "&lt;y&gt;" &#65;</Data><Data Name="RuleName"></Data><Data Name="Version">sysmon-data</Data></EventData><RenderingInfo Culture="en-US"><Message>ignored</Message></RenderingInfo></Event>
<Event><System><Provider Name="Microsoft-Windows-Eventlog"></Provider><EventID Qualifiers="16384">1102</EventID><TimeCreated SystemTime="2021-01-01 10:00:00.5 UTC"></TimeCreated><Channel>Security</Channel><Computer>DC1</Computer></System><UserData><LogFileCleared xmlns="http://manifests.microsoft.com/win/2004/08/windows/eventlog"><SubjectUserSid>S-1-5-21-1</SubjectUserSid><SubjectUserName>admin</SubjectUserName><SubjectLogonId>0x1</SubjectLogonId></LogFileCleared></UserData></Event>
<Event><System><EventID>7045</EventID><Channel>System</Channel></System><EventData><Data>one</Data><Data>two</Data><Binary>00AA</Binary></EventData></Event>
</Events>"#;

    #[test]
    fn parses_export_with_wrapper() {
        let evs: Vec<Event> = parse(EXPORT).into_iter().map(Result::unwrap).collect();
        assert_eq!(evs.len(), 3);
        let e = &evs[0];
        assert_eq!(e.origin.index, 0);
        assert_eq!(e.fields.get("EventID"), Some(&serde_json::json!(1)));
        assert_eq!(
            e.fields.get_str("Provider_Name").as_deref(),
            Some("Microsoft-Windows-Sysmon")
        );
        assert_eq!(
            e.fields.get_str("Image").as_deref(),
            Some(r"C:\a & b\x.exe")
        );
        assert_eq!(
            e.fields.get_str("CommandLine").as_deref(),
            Some(r#"x.exe  "<y>" A"#)
        );
        assert_eq!(e.fields.get_str("RuleName").as_deref(), Some(""));
        assert_eq!(
            e.fields.get_str("SecurityUserID").as_deref(),
            Some("S-1-5-18")
        );
        assert_eq!(e.fields.get("ProcessID"), Some(&serde_json::json!(5320)));
        assert_eq!(
            e.fields.get_str("Keywords").as_deref(),
            Some("0x8000000000000000")
        );
        // System wins; the conflicting data value moves aside.
        assert_eq!(e.fields.get("Version"), Some(&serde_json::json!(5)));
        assert_eq!(
            e.fields.get_str("EventData.Version").as_deref(),
            Some("sysmon-data")
        );
        assert!(e.fields.get("Message").is_none());
        assert_eq!(e.host.as_deref(), Some("HOST1"));
        assert_eq!(e.time.to_rfc3339(), "2020-07-02T18:00:29.615842+00:00");
        assert_eq!(e.logsource.category.as_deref(), Some("process_creation"));
        assert_eq!(e.logsource.service.as_deref(), Some("sysmon"));

        let e = &evs[1];
        assert_eq!(e.origin.index, 1);
        assert_eq!(e.fields.get("EventID"), Some(&serde_json::json!(1102)));
        assert_eq!(
            e.fields.get_str("SubjectUserName").as_deref(),
            Some("admin")
        );
        assert_eq!(e.time.to_rfc3339(), "2021-01-01T10:00:00.500+00:00");
        assert_eq!(e.logsource.service.as_deref(), Some("security"));

        let e = &evs[2];
        assert_eq!(
            e.fields.get("Data"),
            Some(&serde_json::json!(["one", "two"]))
        );
        assert_eq!(e.fields.get_str("Binary").as_deref(), Some("00AA"));
        assert_eq!(e.time, now());
        assert_eq!(e.host, None);
    }

    #[test]
    fn single_and_concatenated_events() {
        let one = "<Event><System><EventID>4688</EventID><Channel>Security</Channel></System>\
                   <EventData><Data Name=\"NewProcessName\">C:\\x.exe</Data></EventData></Event>";
        let evs = parse(one);
        assert_eq!(evs.len(), 1);
        let e = evs[0].as_ref().unwrap();
        assert_eq!(e.logsource.category.as_deref(), Some("process_creation"));
        let two = format!("{one}\n{one}");
        let evs = parse(&two);
        assert_eq!(evs.len(), 2);
        assert_eq!(evs[1].as_ref().unwrap().origin.index, 1);
        assert_ne!(evs[0].as_ref().unwrap().id, evs[1].as_ref().unwrap().id);
    }

    #[test]
    fn malformed_events_are_errors_and_parsing_continues() {
        let good = "<Event><System><EventID>1</EventID></System></Event>";
        let doc = format!(
            "<Events>{good}<Event><System><EventID>2</Oops></System></Event>\
             <Event><EventData/></Event><Event><System><EventID>3</EventID>{good}<Event><System>"
        );
        let res = parse(&doc);
        assert_eq!(res.len(), 6, "{res:?}");
        assert!(res[0].is_ok());
        assert!(
            matches!(res[1], Err(WinXmlError::Malformed { index: 1, .. })),
            "{:?}",
            res[1]
        );
        assert!(matches!(
            res[2],
            Err(WinXmlError::NotAnEvent { index: 2, .. })
        ));
        assert!(matches!(
            res[3],
            Err(WinXmlError::Unterminated { index: 3, .. })
        ));
        assert_eq!(res[4].as_ref().unwrap().origin.index, 4);
        assert!(matches!(
            res[5],
            Err(WinXmlError::Unterminated { index: 5, .. })
        ));
        assert_eq!(res[3].as_ref().unwrap_err().position(), Position::Record(3));
        let msg = res[1].as_ref().unwrap_err().to_string();
        assert!(msg.contains("t.xml") && msg.contains("event 1"), "{msg}");
    }

    #[test]
    fn many_unclosed_events_stay_linear() {
        let doc = "<Event ".repeat(200_000);
        let t = std::time::Instant::now();
        let res = parse(&doc);
        assert_eq!(res.len(), 200_000);
        assert!(
            res.iter()
                .all(|r| matches!(r, Err(WinXmlError::Unterminated { .. })))
        );
        assert!(t.elapsed().as_secs() < 10);
    }

    #[test]
    fn garbage_never_panics() {
        assert!(parse("").is_empty());
        assert!(parse("  \n").is_empty());
        assert!(parse("<Events></Events>").is_empty());
        assert!(matches!(
            parse("not xml at all")[..],
            [Err(WinXmlError::NoEvents { .. })]
        ));
        let samples = [
            "<Event",
            "<Event>",
            "<Event/>",
            "</Event>",
            "<Event><System>",
            "<Event a='>",
            "<Event><System><EventID>&bogus;</EventID></System></Event>",
            "<Event><System><Provider Name=\"x/></System></Event>",
            "<Event><System></System></Event></Event>",
            "<Event><EventID>1</EventID><System/></Event>",
            "<Event>\u{0}\u{ffff}<System><EventID>é</EventID></System></Event>",
        ];
        for s in samples {
            let _ = parse(s);
            for cut in 0..s.len() {
                if let Some(prefix) = s.get(..cut) {
                    let _ = parse(prefix);
                }
            }
        }
        let full = EXPORT;
        for cut in (0..full.len()).step_by(7) {
            if let Some(prefix) = full.get(..cut) {
                let _ = parse(prefix);
            }
        }
    }

    fn files_with_ext(dir: &Path, ext: &str, out: &mut Vec<PathBuf>) {
        let Ok(rd) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in rd.flatten() {
            let p = entry.path();
            if p.is_dir() {
                files_with_ext(&p, ext, out);
            } else if p.extension().is_some_and(|e| e == ext) {
                out.push(p);
            }
        }
        out.sort();
    }

    #[test]
    fn sysmon_xml_corpus_matches_ground_truth_and_evtx() {
        let Some(root) = shared("data/sysmon-xml") else {
            return;
        };
        let truth = std::fs::read_to_string(root.join("ground_truth.csv")).unwrap();
        // file,bytes,sysmon_events,sysmon_event_ids,source_evtx,… (no quoted commas before col 4)
        let mut expected = BTreeMap::new();
        for line in truth.lines().skip(1) {
            let f: Vec<&str> = line.split(',').collect();
            let mut ids: Vec<&str> = f[3].split(';').filter(|s| !s.is_empty()).collect();
            ids.sort_unstable();
            expected.insert(
                f[0].to_owned(),
                (f[2].parse::<u64>().unwrap(), ids.join(";"), f[4].to_owned()),
            );
        }
        let mut files = Vec::new();
        files_with_ext(&root, "xml", &mut files);
        let mut per_folder: BTreeMap<String, (u64, u64, u64)> = BTreeMap::new();
        let (mut compared, mut mismatches) = (0u64, Vec::new());
        for path in &files {
            let rel = path
                .strip_prefix(&root)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            let text = std::fs::read_to_string(path).unwrap();
            let src: Arc<str> = Arc::from(rel.as_str());
            let res = parse_document(&text, &src, &Arc::from("file"), now());
            let (oks, errs): (Vec<_>, Vec<_>) = res.into_iter().partition(Result::is_ok);
            let evs: Vec<Event> = oks.into_iter().map(Result::unwrap).collect();
            for e in errs.iter().take(3) {
                println!("  error: {e:?}");
            }
            let folder = rel.split('/').take(2).collect::<Vec<_>>().join("/");
            let s = per_folder.entry(folder).or_default();
            s.0 += 1;
            s.1 += evs.len() as u64;
            s.2 += errs.len() as u64;
            assert!(
                evs.iter()
                    .enumerate()
                    .all(|(i, e)| e.origin.index == i as u64)
            );
            let mut counts: BTreeMap<String, u64> = BTreeMap::new();
            for e in &evs {
                assert_eq!(e.logsource.service.as_deref(), Some("sysmon"), "{rel}");
                *counts
                    .entry(e.fields.get_str("EventID").unwrap().into_owned())
                    .or_default() += 1;
            }
            let mut ids: Vec<String> = counts.iter().map(|(k, v)| format!("{k}={v}")).collect();
            ids.sort_unstable();
            let Some((n, want_ids, evtx_rel)) = expected.get(&rel) else {
                mismatches.push(format!("{rel}: not in ground truth"));
                continue;
            };
            if (*n, want_ids.clone()) != (evs.len() as u64, ids.join(";")) {
                mismatches.push(format!("{rel}: got {} {ids:?}", evs.len()));
            }
            // Same records via the EVTX path: identical fields up to value types.
            let evtx_path = root.join("..").join("..").join(evtx_rel);
            if !evtx_path.exists() {
                continue;
            }
            let evtx_src: Arc<str> = Arc::from("x");
            let mut from_evtx = Vec::new();
            for chunk in super::super::evtx::read_chunks(&evtx_path).unwrap() {
                let chunk = chunk.unwrap();
                for r in super::super::evtx::parse_chunk(&chunk, &evtx_src, &evtx_src, now()) {
                    let e = r.unwrap();
                    if e.logsource.service.as_deref() == Some("sysmon") {
                        from_evtx.push(e);
                    }
                }
            }
            assert_eq!(from_evtx.len(), evs.len(), "{rel}");
            for (a, b) in evs.iter().zip(&from_evtx) {
                let (ma, mb) = (a.fields.as_map(), b.fields.as_map());
                assert_eq!(
                    ma.keys().collect::<Vec<_>>(),
                    mb.keys().collect::<Vec<_>>(),
                    "{rel}"
                );
                // The XML was rendered by evtx 0.14: GUIDs differ in braces/case and times in
                // sub-microsecond digits; everything else must agree as strings.
                let norm = |v: &Value| {
                    crate::event::scalar_str(v)
                        .map(|s| s.trim().trim_matches(['{', '}']).to_ascii_lowercase())
                };
                for (k, va) in ma {
                    if k != "TimeCreated" {
                        assert_eq!(norm(va), norm(&mb[k]), "{rel}: field {k}");
                    }
                }
                assert_eq!((&a.logsource, &a.host), (&b.logsource, &b.host));
                assert!((a.time - b.time).num_microseconds().unwrap().abs() <= 1);
                compared += 1;
            }
        }
        let mut total = (0, 0, 0);
        for (folder, (f, ev, er)) in &per_folder {
            println!("{folder:<50} files {f:>4} events {ev:>6} errors {er:>4}");
            total = (total.0 + f, total.1 + ev, total.2 + er);
        }
        println!(
            "TOTAL files {} events {} errors {}; {compared} events identical to the EVTX path",
            total.0, total.1, total.2
        );
        assert_eq!(total.0 as usize, expected.len());
        assert!(mismatches.is_empty(), "{mismatches:#?}");
    }
}
