//! Outputs: where published verdicts leave the daemon.
//!
//! The fan-out serializes each verdict once and hands the same `Arc<str>` to every sink. Each
//! file-like sink has its own bounded queue and task, so a slow disk backs pressure up through
//! the pipeline instead of growing memory. The WebSocket stream is a broadcast ring
//! ([`websocket`]): it never waits for clients, and a client that falls too far behind is
//! disconnected with a reason.
//!
//! A verdict's acknowledgement (the records behind it, [`Ack`]) is shared by every sink and
//! released when each has written and flushed it (the JetStream sink: when the broker acked
//! it); the WebSocket stream is best-effort and does not hold it.

pub mod nats;
pub mod websocket;

use std::path::PathBuf;
use std::sync::Arc;

use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::sync::broadcast;

use crate::cases::Published;
use crate::config::OutputConfig;
use crate::metrics::{Metrics, stage};
use crate::pipeline::ack::Ack;
use crate::pipeline::channel::{self, Receiver, Sender};

/// A sink could not be opened or written.
#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    /// The output file could not be opened.
    #[error("output {name}: opening {path}: {source}")]
    Open {
        name: String,
        path: PathBuf,
        source: std::io::Error,
    },
    /// Writing failed; the sink stopped.
    #[error("output {name}: writing: {source}")]
    Write {
        name: String,
        source: std::io::Error,
    },
    /// A NATS output could not connect or publish.
    #[error(transparent)]
    Nats(#[from] nats::NatsOutputError),
}

/// One serialized verdict on its way to a sink.
pub struct Outgoing {
    /// The verdict document, serialized once for every sink.
    pub json: Arc<str>,
    /// Its `verdict_id` (unique per case version), for sinks that deduplicate.
    pub verdict_id: Arc<str>,
    /// Released once this sink has delivered it.
    pub ack: Ack,
}

/// A configured sink, opened.
struct Sink {
    name: String,
    queue: Sender<Outgoing>,
    task: tokio::task::JoinHandle<Result<(), OutputError>>,
}

/// Opens every configured sink and spawns the fan-out. The returned handle completes once the
/// verdict channel is closed and every sink has flushed.
pub async fn spawn(
    configs: &[(String, OutputConfig)],
    verdicts: Receiver<Published>,
    ws: broadcast::Sender<Arc<str>>,
    capacity: usize,
    metrics: Arc<Metrics>,
) -> Result<tokio::task::JoinHandle<Result<(), OutputError>>, OutputError> {
    let mut sinks = Vec::new();
    for (name, config) in configs {
        let (tx, rx) = channel::bounded::<Outgoing>(&format!("output_{name}"), capacity, &metrics);
        let task = match config {
            OutputConfig::Stdout {} => {
                tokio::spawn(write_lines(name.clone(), rx, tokio::io::stdout()))
            }
            OutputConfig::Jsonl { path } => {
                let file = tokio::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .await
                    .map_err(|source| OutputError::Open {
                        name: name.clone(),
                        path: path.clone(),
                        source,
                    })?;
                tokio::spawn(write_lines(name.clone(), rx, file))
            }
            OutputConfig::Nats(cfg) => {
                let settings = nats::NatsOutputSettings::from_config(name, cfg)?;
                let sink = nats::NatsSink::open(name, settings, metrics.clone()).await?;
                tokio::spawn(sink.run(rx))
            }
        };
        sinks.push(Sink {
            name: name.clone(),
            queue: tx,
            task,
        });
    }
    Ok(tokio::spawn(fan_out(verdicts, sinks, ws, metrics)))
}

async fn fan_out(
    verdicts: Receiver<Published>,
    sinks: Vec<Sink>,
    ws: broadcast::Sender<Arc<str>>,
    m: Arc<Metrics>,
) -> Result<(), OutputError> {
    let received = m.stage_received.with_label_values(&[stage::OUTPUT]);
    let sent = m.stage_sent.with_label_values(&[stage::OUTPUT]);
    while let Ok(published) = verdicts.recv().await {
        received.inc();
        let json: Arc<str> = match serde_json::to_string(&*published.verdict) {
            Ok(s) => s.into(),
            Err(e) => {
                m.stage_errors
                    .with_label_values(&[stage::OUTPUT, "serialize"])
                    .inc();
                tracing::error!(error = %e, case_id = %published.verdict.case_id, "verdict serialization failed");
                continue;
            }
        };
        // No receivers is fine: nobody is watching the stream right now.
        let _ = ws.send(json.clone());
        let verdict_id: Arc<str> = Arc::from(published.verdict.verdict_id.as_str());
        for sink in &sinks {
            let item = Outgoing {
                json: json.clone(),
                verdict_id: verdict_id.clone(),
                ack: published.ack.clone(),
            };
            if sink.queue.send(item).await.is_err() {
                m.stage_errors
                    .with_label_values(&[stage::OUTPUT, "sink_closed"])
                    .inc();
                tracing::error!(output = %sink.name, "output stopped; verdicts for it are lost from now on");
            }
        }
        published.ack.done();
        sent.inc();
    }
    let mut result = Ok(());
    for sink in sinks {
        drop(sink.queue);
        match sink.task.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => result = Err(e),
            Err(e) => tracing::error!(output = %sink.name, error = %e, "output task failed"),
        }
    }
    result
}

/// Writes one line per item, flushing whenever the queue runs empty; acknowledgements are
/// released after the flush that covers them.
async fn write_lines<W: AsyncWrite + Unpin>(
    name: String,
    rx: Receiver<Outgoing>,
    mut out: W,
) -> Result<(), OutputError> {
    let err = |source| OutputError::Write {
        name: name.clone(),
        source,
    };
    let mut written = Vec::new();
    while let Ok(Outgoing {
        json: line, ack, ..
    }) = rx.recv().await
    {
        out.write_all(line.as_bytes()).await.map_err(err)?;
        out.write_all(b"\n").await.map_err(err)?;
        written.push(ack);
        if rx.is_empty() {
            out.flush().await.map_err(err)?;
            written.drain(..).for_each(Ack::done);
        }
    }
    out.flush().await.map_err(err)?;
    written.into_iter().for_each(Ack::done);
    Ok(())
}
