//! Inputs: where records enter the pipeline.
//!
//! An input reads bytes from its transport and frames them into [`RawRecord`]s (the contract
//! lives with its consumer, [`crate::normalize::record`]) — a JSON line,
//! an EVTX chunk, an XML document — without parsing them (parsing is CPU work and belongs to the
//! parse pool). It sends with backpressure: when the pipeline is full, `send` waits and the
//! input stops reading. Inputs stop when the shutdown token fires, and dropping their sender is
//! what tells the rest of the graph to drain.

pub mod file;
#[cfg(feature = "kafka")]
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
use crate::normalize::weblog::W3cFields;
use crate::normalize::{Format, Payload, RawRecord};

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
