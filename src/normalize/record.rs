//! The contract between inputs and parsers: a [`RawRecord`] is what an input frames (a JSON
//! line, an EVTX chunk, an XML document, a whole capture) and what [`super::parse`] consumes.
//! Inputs only produce it; nothing after the parse stage sees one.

use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::Format;
use super::ParseError;
use super::evtx::EvtxChunk;
use super::weblog::W3cFields;
use crate::event::Origin;
use crate::flow::ack::Ack;

/// Field set on every event parsed from a cut record: the record's original length in bytes.
pub const TRUNCATED_FIELD: &str = "nightwatch_truncated_bytes";

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
    /// A record cut to its input's size cap ([`crate::inputs::lines`]): its events carry
    /// [`TRUNCATED_FIELD`], its parse errors say it was cut.
    Truncated {
        inner: Box<Payload>,
        /// The record's length before the cut, in bytes.
        original_bytes: u64,
    },
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

/// A record that could not be framed or parsed, on its way to the dead-letter output.
#[derive(Debug)]
pub struct DeadLetter {
    pub error: ParseError,
    /// Released once the dead letter is written.
    pub ack: Ack,
}

impl From<ParseError> for DeadLetter {
    fn from(error: ParseError) -> Self {
        DeadLetter {
            error,
            ack: Ack::none(),
        }
    }
}
