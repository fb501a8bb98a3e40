//! Inputs: where records enter the pipeline.
//!
//! An input reads bytes from its transport and frames them into [`RawRecord`]s — a JSON line,
//! an EVTX chunk, an XML document — without parsing them (parsing is CPU work and belongs to the
//! parse pool). It sends with backpressure: when the pipeline is full, `send` waits and the
//! input stops reading. Inputs stop when the shutdown token fires, and dropping their sender is
//! what tells the rest of the graph to drain.

pub mod file;
pub mod kafka;
pub mod lines;
pub mod nats;
pub mod stdin;
pub mod syslog;
pub mod tail;

use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::event::Origin;
use crate::flow::ack::Ack;
use crate::normalize::Format;
use crate::normalize::evtx::EvtxChunk;
use crate::normalize::weblog::W3cFields;

/// A framed record on its way to a parser. Nothing after the parse stage sees one.
#[derive(Debug)]
pub struct RawRecord {
    /// Input, source and position (for multi-event payloads: of the first event).
    pub origin: Origin,
    pub received: DateTime<Utc>,
    pub payload: Payload,
    /// Released when the record's outcome has left the daemon ([`Ack`]).
    pub ack: Ack,
}

/// The framed bytes, by how they must be parsed.
#[derive(Debug)]
pub enum Payload {
    /// One line of a line-based format (NDJSON, syslog, web access log, text).
    Line { format: Format, line: String },
    /// A W3C extended log (IIS) data line, with the columns of the `#Fields:` directive that
    /// preceded it in its file.
    W3cLine {
        header: Arc<W3cFields>,
        line: String,
    },
    /// A JSON value already decoded while framing (array element, concatenated document).
    Json(serde_json::Value),
    /// One EVTX chunk of up to 64 KiB holding many records.
    EvtxChunk(EvtxChunk),
    /// An XML document with one or more Windows `<Event>` elements.
    WinXml(String),
    /// A whole file in a format parsed as one document (packet captures, emails, Zeek logs).
    Document { format: Format, bytes: Vec<u8> },
    /// A record cut to its input's size cap ([`lines`]): its events carry
    /// [`lines::TRUNCATED_FIELD`], its parse errors say it was cut.
    Truncated {
        inner: Box<Payload>,
        /// The record's length before the cut, in bytes.
        original_bytes: u64,
    },
}

/// Frames one non-empty line of a line format. `w3c` is the file's framing state: the last
/// W3C `#Fields:` directive seen (web access logs), applied to the data lines after it.
pub fn line_payload(format: Format, line: &str, w3c: &mut Option<Arc<W3cFields>>) -> Payload {
    if format == Format::WebAccess
        && let Some(header) = W3cFields::parse(line)
    {
        *w3c = Some(Arc::new(header));
    }
    match w3c {
        Some(header) if !line.starts_with('#') => Payload::W3cLine {
            header: header.clone(),
            line: line.to_owned(),
        },
        _ => Payload::Line {
            format,
            line: line.to_owned(),
        },
    }
}

/// Frames a message's payload into one record per non-empty line, each holding a clone of
/// `ack`. Origin: source = `source`, index = `index` when the message holds one line; with
/// several, source = `SOURCE#INDEX` and index = the line's position among the message's lines,
/// so event ids stay distinct and stable across redeliveries (NATS, Kafka).
pub fn frame_message(
    input: &Arc<str>,
    source: &str,
    index: u64,
    payload: &[u8],
    format: Format,
    ack: &Ack,
    received: DateTime<Utc>,
) -> Vec<RawRecord> {
    let text = String::from_utf8_lossy(payload);
    let lines: Vec<&str> = text
        .split('\n')
        .map(|l| l.trim().trim_start_matches('\u{feff}'))
        .filter(|l| !l.is_empty())
        .collect();
    let single = lines.len() == 1;
    let (source, first): (Arc<str>, u64) = if single {
        (Arc::from(source), index)
    } else {
        (Arc::from(format!("{source}#{index}")), 0)
    };
    let mut w3c = None;
    lines
        .into_iter()
        .enumerate()
        .map(|(k, line)| RawRecord {
            origin: Origin {
                input: input.clone(),
                source: source.clone(),
                index: first + k as u64,
            },
            received,
            payload: line_payload(format, line, &mut w3c),
            ack: ack.clone(),
        })
        .collect()
}

impl Payload {
    /// The format the payload is parsed as.
    pub fn format(&self) -> Format {
        match self {
            Payload::Json(_) => Format::Json,
            Payload::Line { format, .. } | Payload::Document { format, .. } => *format,
            Payload::W3cLine { .. } => Format::WebAccess,
            Payload::EvtxChunk(_) => Format::Evtx,
            Payload::WinXml(_) => Format::WinXml,
            Payload::Truncated { inner, .. } => inner.format(),
        }
    }
}
