//! Inputs: where records enter the pipeline.
//!
//! An input reads bytes from its transport and frames them into [`RawRecord`]s (the contract
//! lives with its consumer, [`crate::normalize::record`]) — a JSON line,
//! an EVTX chunk, an XML document — without parsing them (parsing is CPU work and belongs to the
//! parse pool). It sends with backpressure: when the pipeline is full, `send` waits and the
//! input stops reading. Inputs stop when the shutdown token fires, and dropping their sender is
//! what tells the rest of the graph to drain.
//!
//! Each input owns its `[inputs.NAME]` table: its config struct, the checks of its values (each
//! problem under its key path) and how it starts sit in its module; [`InputConfig`] only
//! selects one by `type` and dispatches. Adding an input is one module and one variant here.

pub mod file;
pub mod kafka;
pub mod lines;
pub mod mbox;
pub mod nats;
pub mod stdin;
pub mod syslog;
pub mod tail;

use std::path::PathBuf;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::Deserialize;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::base::Problem;
use crate::event::Origin;
use crate::flow::ack::Ack;
use crate::flow::channel::Sender;
use crate::metrics::Metrics;
use crate::normalize::weblog::W3cFields;
use crate::normalize::{DeadLetter, Format, Payload, RawRecord};

/// An input, selected by `type`.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum InputConfig {
    /// Files or directories read once, recursively ([`file`]).
    File(file::FileInputConfig),
    /// NDJSON on standard input ([`stdin`]).
    Stdin(stdin::StdinInputConfig),
    /// A syslog listener, UDP or TCP ([`syslog`]).
    Syslog(syslog::SyslogInputConfig),
    /// Files matching globs, followed as they grow ([`tail`]).
    Tail(tail::TailInputConfig),
    /// A NATS subject, core or through a JetStream durable consumer ([`nats`]).
    Nats(Box<nats::NatsInputConfig>),
    /// Kafka topics read through a consumer group ([`kafka`]).
    Kafka(Box<kafka::KafkaInputConfig>),
}

/// What the daemon hands every input it starts.
#[derive(Clone)]
pub struct Wiring {
    /// Where framed records go (bounded: sending waits when the pipeline is full).
    pub raw: Sender<RawRecord>,
    /// Where what cannot be framed goes.
    pub dead: Sender<DeadLetter>,
    /// Fires at shutdown.
    pub stop: CancellationToken,
    pub metrics: Arc<Metrics>,
    /// `pipeline.channel_capacity`: what an in-flight bound set to 0 means.
    pub channel_capacity: usize,
    /// `state.dir`: where inputs keep their checkpoints.
    pub state_dir: PathBuf,
}

/// Why an input could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// A listening input could not bind its address.
    #[error(transparent)]
    Listen(#[from] syslog::ListenError),
    /// A configuration value was invalid, or what it names unusable.
    #[error("config: {0}")]
    Config(#[from] Problem),
}

/// A started input: the task the daemon waits for after the drain when the input acknowledges
/// deliveries (its last checkpoint or acknowledgement is written then), else none.
pub type Started = Result<Option<JoinHandle<()>>, StartError>;

impl InputConfig {
    /// Every problem of `[inputs.NAME]`, each under its key path.
    pub fn problems(&self, name: &str) -> Vec<Problem> {
        let table = format!("inputs.{name}");
        match self {
            InputConfig::File(c) => c.problems(&table),
            InputConfig::Stdin(c) => c.problems(&table),
            InputConfig::Syslog(c) => c.problems(&table),
            InputConfig::Tail(c) => c.problems(&table),
            InputConfig::Nats(c) => c.problems(&table),
            InputConfig::Kafka(c) => c.problems(&table),
        }
    }

    /// Starts the input named `name`. Listening inputs bind here, so a bad address fails
    /// start-up.
    pub async fn start(&self, name: &str, wiring: &Wiring) -> Started {
        let name: Arc<str> = Arc::from(name);
        match self {
            InputConfig::File(c) => Ok(file::start(name, c, wiring)),
            InputConfig::Stdin(c) => Ok(stdin::start(name, c, wiring)),
            InputConfig::Syslog(c) => syslog::start(name, c, wiring).await,
            InputConfig::Tail(c) => Ok(tail::start(name, c, wiring)),
            InputConfig::Nats(c) => Ok(nats::start(name, c, wiring)),
            InputConfig::Kafka(c) => kafka::start(name, c, wiring),
        }
    }
}

/// The line formats a line-framed input (tail, NATS, Kafka) can read, by configuration name.
pub fn line_format(name: &str) -> Option<Format> {
    name.parse::<Format>().ok().filter(|f| {
        matches!(
            f,
            Format::Json | Format::Syslog | Format::WebAccess | Format::Text
        )
    })
}

/// The problem of a configured line `format`, if any.
fn format_problem(table: &str, format: Option<&str>) -> Option<Problem> {
    let f = format?;
    line_format(f).is_none().then(|| {
        Problem::new(
            format!("{table}.format"),
            format!("`{f}` is not one of json, syslog, web_access, text"),
        )
    })
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
