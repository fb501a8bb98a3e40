//! Normalization: framed raw records in, [`Event`]s out.
//!
//! Inputs frame bytes into [`RawRecord`]s ([`record`], the contract this module owns) (a JSON line, an EVTX chunk, an XML document) without
//! parsing them; the parse stage calls [`parse`] from a pool of blocking workers, so CPU work
//! never runs on the async reactor and uses every core. Parsing is pure and never panics: a bad
//! record yields a [`ParseError`] carrying file and position, and the records around it still
//! parse.
//!
//! Formats are a closed enum, detected from content ([`sniff`]), not from file extensions.

pub mod cef;
pub mod cisco;
pub mod cloudtrail;
pub mod eml;
pub mod evtx;
pub mod firewall;
pub mod fwvendors;
pub mod json;
pub mod liblog;
pub mod panos;
pub mod pcap;
pub mod record;
pub mod syslog;
pub mod text;
pub mod weblog;
pub mod windows;
pub mod winshipper;
pub mod winxml;
pub mod zeek;

use std::fmt;
use std::sync::Arc;

use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};
use serde::Serialize;
use serde_json::Value;

use crate::event::{Event, Origin};
pub use record::{DeadLetter, Payload, RawRecord, TRUNCATED_FIELD};

/// A telemetry format nightwatch can read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    /// NDJSON, a JSON array, or concatenated JSON documents.
    Json,
    /// Windows binary event log.
    Evtx,
    /// Windows event XML (Event Viewer export, evtx tool rendering).
    WinXml,
    /// Packet capture (pcap or pcapng): flows, DNS, HTTP requests, TLS ClientHellos.
    Pcap,
    /// Syslog (RFC 3164/5424, headerless), firewall vendor logs, CEF and LEEF, one per line.
    Syslog,
    /// Web server access logs (NCSA common/combined, IIS W3C), one per line.
    WebAccess,
    /// Raw text, one event per line.
    Text,
    /// An email (RFC 5322 `.eml`): the message, each attachment and each URL.
    Eml,
    /// Zeek TSV logs (`#separator`/`#fields` headers), including IoT-23 labelled logs.
    Zeek,
}

impl Format {
    /// Every format, for metric labels and `--format` help.
    pub const ALL: &[Format] = &[
        Format::Json,
        Format::Evtx,
        Format::WinXml,
        Format::Pcap,
        Format::Syslog,
        Format::WebAccess,
        Format::Text,
        Format::Eml,
        Format::Zeek,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Format::Json => "json",
            Format::Evtx => "evtx",
            Format::WinXml => "winxml",
            Format::Pcap => "pcap",
            Format::Syslog => "syslog",
            Format::WebAccess => "web_access",
            Format::Text => "text",
            Format::Eml => "eml",
            Format::Zeek => "zeek",
        }
    }
}

impl std::str::FromStr for Format {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Format::ALL
            .iter()
            .copied()
            .find(|f| f.name().eq_ignore_ascii_case(s))
            .ok_or_else(|| {
                let known: Vec<&str> = Format::ALL.iter().map(|f| f.name()).collect();
                format!("unknown format `{s}` (known: {})", known.join(", "))
            })
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Detects a format from the first bytes of a file or stream (magic bytes, then the first
/// significant character). `None` when the content is not a format this build reads.
pub fn sniff(head: &[u8]) -> Option<Format> {
    if head.starts_with(b"ElfFile\0") {
        return Some(Format::Evtx);
    }
    if pcap::sniff(head) {
        return Some(Format::Pcap);
    }
    if is_utf16(head) {
        let text = decode_text(head);
        return (text.trim_start().starts_with('<') && text.contains("<Event"))
            .then_some(Format::WinXml);
    }
    let text = head.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(head);
    let first = text.iter().position(|b| !b.is_ascii_whitespace())?;
    match text[first] {
        b'{' => return Some(Format::Json),
        // An array of events: `[` then an object, a nested array or the end. Text logs that
        // open with a bracket (`[Sun Dec 04 …] [error]`) are not JSON.
        b'[' if matches!(
            text[first + 1..].iter().find(|b| !b.is_ascii_whitespace()),
            Some(b'{' | b'[' | b']') | None
        ) =>
        {
            return Some(Format::Json);
        }
        b'<' if memchr::memmem::find(text, b"<Event").is_some() => return Some(Format::WinXml),
        _ => {}
    }
    if zeek::sniff(text) {
        Some(Format::Zeek)
    } else if eml::sniff(text) {
        Some(Format::Eml)
    } else if syslog::sniff(text) {
        Some(Format::Syslog)
    } else if weblog::sniff(text) {
        Some(Format::WebAccess)
    } else {
        None
    }
}

/// True when the bytes look like text rather than a binary format (no NUL in the sample).
pub fn looks_like_text(head: &[u8]) -> bool {
    !head.contains(&0)
}

fn is_utf16(bytes: &[u8]) -> bool {
    bytes.starts_with(b"\xFF\xFE") || bytes.starts_with(b"\xFE\xFF")
}

/// Decodes text by its byte-order mark: UTF-16 LE/BE (as Windows tools write XML exports) or
/// UTF-8 (BOM optional). Invalid sequences become U+FFFD rather than errors.
pub fn decode_text(bytes: &[u8]) -> std::borrow::Cow<'_, str> {
    let utf16 = |rest: &[u8], le: bool| {
        let units = rest.chunks_exact(2).map(|c| {
            if le {
                u16::from_le_bytes([c[0], c[1]])
            } else {
                u16::from_be_bytes([c[0], c[1]])
            }
        });
        std::borrow::Cow::Owned(
            char::decode_utf16(units)
                .map(|r| r.unwrap_or('\u{FFFD}'))
                .collect(),
        )
    };
    if let Some(rest) = bytes.strip_prefix(b"\xFF\xFE") {
        return utf16(rest, true);
    }
    if let Some(rest) = bytes.strip_prefix(b"\xFE\xFF") {
        return utf16(rest, false);
    }
    String::from_utf8_lossy(bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes))
}

/// Parser error messages name their file first; [`ParseError`] already does, so strip it.
pub(crate) fn reason_without_file(message: String, file: &str) -> String {
    match message
        .strip_prefix(file)
        .and_then(|m| m.strip_prefix(": "))
    {
        Some(rest) => rest.to_owned(),
        None => message,
    }
}

/// Where in its source a bad record sits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "value")]
pub enum Position {
    /// 0-based record index (EVTX record, XML event, JSON value).
    Record(u64),
    /// 1-based line number.
    Line(u64),
    /// Byte offset in the file.
    Byte(u64),
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Position::Record(n) => write!(f, "record {n}"),
            Position::Line(n) => write!(f, "line {n}"),
            Position::Byte(n) => write!(f, "byte {n}"),
        }
    }
}

/// A record that could not be turned into an event.
#[derive(Debug, Clone, thiserror::Error, Serialize)]
#[error("{file}: {position}: {format}: {reason}")]
pub struct ParseError {
    pub format: Format,
    pub input: Arc<str>,
    /// File path, peer or topic the record came from.
    pub file: Arc<str>,
    pub position: Position,
    pub reason: String,
    /// The offending bytes (lossy UTF-8, truncated), when they are small enough to keep.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub raw: Option<String>,
}

/// Longest raw excerpt a [`ParseError`] keeps.
pub const MAX_RAW_EXCERPT: usize = 4096;

pub(crate) fn excerpt(raw: &str) -> String {
    if raw.len() <= MAX_RAW_EXCERPT {
        return raw.to_owned();
    }
    let mut end = MAX_RAW_EXCERPT;
    while !raw.is_char_boundary(end) {
        end -= 1;
    }
    raw[..end].to_owned()
}

/// Parses one framed record into zero or more events (an EVTX chunk or an XML document holds
/// many), each `Ok` or a positioned error.
pub fn parse(record: RawRecord) -> Vec<Result<Event, ParseError>> {
    // The acknowledgement stays with the caller's record (the parse stage takes it first).
    let RawRecord {
        origin,
        received,
        payload,
        ack: _,
    } = record;
    parse_payload(payload, origin, received)
}

fn parse_payload(
    payload: Payload,
    origin: Origin,
    received: DateTime<Utc>,
) -> Vec<Result<Event, ParseError>> {
    match payload {
        Payload::Truncated {
            inner,
            original_bytes,
        } => parse_payload(*inner, origin, received)
            .into_iter()
            .map(|r| match r {
                Ok(mut event) => {
                    event
                        .fields
                        .insert(TRUNCATED_FIELD, original_bytes);
                    Ok(event)
                }
                Err(mut e) => {
                    e.reason = format!(
                        "{} (the record was cut from {original_bytes} bytes to its input's max_line_bytes)",
                        e.reason
                    );
                    Err(e)
                }
            })
            .collect(),
        Payload::Line {
            format: Format::Json,
            line,
        } => json::parse_line(&line, origin, received),
        Payload::Json(value) => json::parse_records(value, origin, received),
        Payload::W3cLine { header, line } => {
            vec![weblog::parse_w3c_line(&line, &header, origin, received)]
        }
        Payload::Line { format, line } => vec![match format {
            Format::Syslog => syslog::parse_line(&line, origin, received),
            Format::WebAccess => weblog::parse_line(&line, origin, received),
            Format::Text => text::parse_line(&line, origin, received),
            other => Err(ParseError {
                format: other,
                input: origin.input.clone(),
                file: origin.source.clone(),
                position: Position::Record(origin.index),
                reason: format!("{other} is not a line format"),
                raw: Some(excerpt(&line)),
            }),
        }],
        Payload::EvtxChunk(chunk) => {
            let results = evtx::parse_chunk(&chunk, &origin.source, &origin.input, received);
            positioned(results, Format::Evtx, &origin, |e| e.position())
        }
        Payload::Document { format, bytes } => match format {
            Format::Pcap => pcap::parse_document(&bytes, &origin.source, &origin.input, received),
            Format::Eml => {
                eml::parse_message_at(&bytes, &origin.source, &origin.input, received, origin.index)
            }
            Format::Zeek => zeek::parse_document(&bytes, &origin.source, &origin.input, received),
            other => vec![Err(ParseError {
                format: other,
                input: origin.input.clone(),
                file: origin.source.clone(),
                position: Position::Byte(0),
                reason: format!("{other} is not a whole-document format"),
                raw: None,
            })],
        },
        Payload::WinXml(doc) => {
            let results = winxml::parse_document(&doc, &origin.source, &origin.input, received);
            positioned(results, Format::WinXml, &origin, |e| e.position())
        }
    }
}

/// Turns a parser's own errors into positioned [`ParseError`]s for `origin`'s file.
fn positioned<E: fmt::Display>(
    results: Vec<Result<Event, E>>,
    format: Format,
    origin: &Origin,
    position: impl Fn(&E) -> Position,
) -> Vec<Result<Event, ParseError>> {
    results
        .into_iter()
        .map(|r| {
            r.map_err(|e| ParseError {
                format,
                input: origin.input.clone(),
                file: origin.source.clone(),
                position: position(&e),
                reason: reason_without_file(e.to_string(), &origin.source),
                raw: None,
            })
        })
        .collect()
}

/// Reads a timestamp from a JSON value: RFC 3339, `YYYY-MM-DD HH:MM:SS[.fff]` (Sysmon's
/// `UtcTime`, taken as UTC), or a Unix epoch in seconds or milliseconds.
pub fn parse_time(v: &Value) -> Option<DateTime<Utc>> {
    match v {
        Value::String(s) => parse_time_str(s),
        Value::Number(n) => {
            let x = n.as_f64()?;
            // Heuristic: values past year 33658 in seconds are milliseconds.
            let secs = if x > 1.0e12 { x / 1000.0 } else { x };
            let whole = secs.trunc() as i64;
            let nanos = ((secs - secs.trunc()) * 1e9) as u32;
            Utc.timestamp_opt(whole, nanos).single()
        }
        _ => None,
    }
}

pub fn parse_time_str(s: &str) -> Option<DateTime<Utc>> {
    let s = s.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    for fmt in [
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S",
    ] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, fmt) {
            return Some(t.and_utc());
        }
    }
    None
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn sniffs_by_content() {
        assert_eq!(sniff(b"ElfFile\0rest"), Some(Format::Evtx));
        assert_eq!(sniff(b"\xEF\xBB\xBF  {\"a\":1}"), Some(Format::Json));
        assert_eq!(sniff(b"\n[{}]"), Some(Format::Json));
        assert_eq!(sniff(b"[ ]"), Some(Format::Json));
        assert_ne!(
            sniff(b"[Sun Dec 04 04:47:44 2005] [notice] workerEnv.init() ok"),
            Some(Format::Json)
        );
        assert_ne!(
            sniff(b"[10.30 16:49:06] chrome.exe - proxy.cse.cuhk.edu.hk:5070 open"),
            Some(Format::Json)
        );
        assert_eq!(
            sniff(b"<?xml version=\"1.0\"?><Events><Event xmlns=\"x\">"),
            Some(Format::WinXml)
        );
        assert_eq!(sniff(b"<html>"), None);
        assert_eq!(sniff(b"hello"), None);
        assert_eq!(sniff(b"   "), None);
    }

    #[test]
    fn utf16_xml_exports_are_recognized_and_decoded() {
        let text = "<?xml version=\"1.0\"?><Events><Event>";
        let le: Vec<u8> = b"\xFF\xFE"
            .iter()
            .copied()
            .chain(text.encode_utf16().flat_map(|u| u.to_le_bytes()))
            .collect();
        let be: Vec<u8> = b"\xFE\xFF"
            .iter()
            .copied()
            .chain(text.encode_utf16().flat_map(|u| u.to_be_bytes()))
            .collect();
        assert_eq!(sniff(&le), Some(Format::WinXml));
        assert_eq!(decode_text(&le), text);
        assert_eq!(decode_text(&be), text);
        assert_eq!(
            reason_without_file("a.xml: event 3: bad".into(), "a.xml"),
            "event 3: bad"
        );
    }

    #[test]
    fn times_in_common_shapes() {
        let t = parse_time(&json!("2024-05-01T10:00:00.5Z")).unwrap();
        assert_eq!(t.to_rfc3339(), "2024-05-01T10:00:00.500+00:00");
        assert!(parse_time(&json!("2024-05-01 10:00:00.123")).is_some());
        assert_eq!(
            parse_time(&json!(1714557600)).unwrap(),
            parse_time(&json!(1714557600000u64)).unwrap()
        );
        assert!(parse_time(&json!("yesterday")).is_none());
    }

    #[test]
    fn excerpt_respects_char_boundaries() {
        let s = "é".repeat(MAX_RAW_EXCERPT);
        let e = excerpt(&s);
        assert!(e.len() <= MAX_RAW_EXCERPT);
        assert!(s.starts_with(&e));
    }
}
