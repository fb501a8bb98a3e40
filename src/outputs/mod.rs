//! Outputs: where published verdicts leave the daemon.
//!
//! The fan-out serializes each verdict once and hands the same `Arc<str>` to every sink. Each
//! sink (stdout, JSONL file, [`webhook`]) writes the native document or another format
//! ([`ocsf`], [`thehive`]) and has its own bounded queue and task, so a slow disk or
//! a slow or failing webhook backs pressure up through the pipeline instead of growing memory.
//! The WebSocket stream is a broadcast ring with a replay window ([`websocket`]): it never
//! waits for clients, and a client that falls too far behind is disconnected with a reason.
//!
//! A verdict's acknowledgement (the records behind it, [`Ack`]) is shared by every sink and
//! released when each has written and flushed it (a webhook: got a 2xx, or dead-lettered the
//! verdict; the JetStream sink: the broker acked it); the WebSocket stream is best-effort and
//! does not hold it.

mod config;
pub mod dead_letter;
#[cfg(feature = "kafka")]
pub mod kafka;
pub mod nats;
pub mod ocsf;
pub mod thehive;
pub mod webhook;
pub mod websocket;

use std::path::PathBuf;
use std::sync::Arc;

use tokio::io::{AsyncWrite, AsyncWriteExt};

use crate::cases::Published;
use crate::flow::ack::Ack;
use crate::flow::channel::{self, Receiver, Sender};
use crate::flow::retry::Backoff;
use crate::metrics::{Metrics, stage};
use crate::verdict::Verdict;
use websocket::VerdictStream;

pub use config::{JsonlConfig, OutputConfig, OutputFormat, StdoutConfig};
pub use dead_letter::DeadLetterConfig;

/// Retry timing of broker publishes that are retried until accepted (NATS JetStream verdicts,
/// dead letters on a broker): 100 ms doubling to 5 s.
const BROKER_RETRY: Backoff = Backoff::new(
    std::time::Duration::from_millis(100),
    std::time::Duration::from_secs(5),
);

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
    /// A webhook could not be set up (the URL is shown without credentials).
    #[error("output {name} ({url}): {message}")]
    Webhook {
        name: String,
        url: String,
        message: String,
    },
    /// A Kafka producer could not be created (librdkafka rejected its configuration).
    #[error("output {name} ({destination}): {message}")]
    Kafka {
        name: String,
        destination: String,
        message: String,
    },
    /// A NATS output could not connect or publish.
    #[error(transparent)]
    Nats(#[from] nats::NatsOutputError),
}

/// One verdict on its way to a sink: the shared JSON, the document (for sinks that reshape
/// it or need its id), and this sink's share of the acknowledgement.
pub struct Item {
    pub json: Arc<str>,
    pub verdict: Arc<Verdict>,
    pub ack: Ack,
}

/// One line of the dead-letter file for a verdict an output gave up on.
#[derive(serde::Serialize)]
pub(crate) struct DeadVerdict<'a> {
    pub output: &'a str,
    /// Where it was going, without credentials.
    pub url: &'a str,
    pub reason: &'a str,
    pub attempts: u32,
    pub time: chrono::DateTime<chrono::Utc>,
    pub verdict: &'a Verdict,
}

/// A [`DeadVerdict`] as published on a dead-letter broker.
#[derive(serde::Serialize)]
struct OnBus<'a> {
    kind: &'static str,
    #[serde(flatten)]
    letter: &'a DeadVerdict<'a>,
}

impl DeadVerdict<'_> {
    /// Stores the record: appended to the file (`file` is cleared when writing fails, so the
    /// sink stops trying) and published on the dead-letter brokers.
    pub(crate) async fn store(
        &self,
        file: &mut Option<PathBuf>,
        bus: Option<&dead_letter::DeadLetterBus>,
    ) {
        if let Some(path) = file.clone()
            && let Err(e) = self.append(path).await
        {
            tracing::error!(output = %self.output, error = %e, "writing the dead-letter file failed; dead letters of this output are only logged and counted from now on");
            *file = None;
        }
        if let Some(bus) = bus {
            match serde_json::to_vec(&OnBus {
                kind: "output",
                letter: self,
            }) {
                Ok(json) => bus.publish(self.output, &json).await,
                Err(e) => {
                    tracing::error!(output = %self.output, error = %e, "serializing a dead letter failed")
                }
            }
        }
    }

    /// Appends the record to the `[dead_letter] path` file as one JSON line, in one write to
    /// a file opened for appending, so lines from the parse dead letters and from other
    /// outputs interleave whole.
    pub(crate) async fn append(&self, path: PathBuf) -> Result<(), String> {
        let mut line = serde_json::to_vec(self).map_err(|e| format!("serializing: {e}"))?;
        line.push(b'\n');
        tokio::task::spawn_blocking(move || {
            use std::io::Write;
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
                .and_then(|mut f| f.write_all(&line))
        })
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())
    }
}

/// A configured sink, opened.
struct Sink {
    name: String,
    queue: Sender<Item>,
    task: tokio::task::JoinHandle<Result<(), OutputError>>,
}

/// Settings shared by every output.
#[derive(Debug, Clone, Default)]
pub struct OutputOptions {
    /// The `[dead_letter] path` file, when configured.
    pub dead_letter: Option<PathBuf>,
    /// The `[dead_letter]` Kafka topic / NATS subject, when configured.
    pub dead_bus: Option<Arc<dead_letter::DeadLetterBus>>,
    /// This instance's id (`[cluster]`), sent in the Kafka verdict header
    /// [`crate::cluster::INSTANCE_HEADER`].
    pub instance: Option<Arc<str>>,
}

/// Opens every configured sink and spawns the fan-out. The returned handle completes once the
/// verdict channel is closed and every sink has flushed.
pub async fn spawn(
    configs: &[(String, OutputConfig)],
    verdicts: Receiver<Published>,
    ws: Arc<VerdictStream>,
    capacity: usize,
    metrics: Arc<Metrics>,
    options: OutputOptions,
) -> Result<tokio::task::JoinHandle<Result<(), OutputError>>, OutputError> {
    spawn_with_env(configs, verdicts, ws, capacity, metrics, options, |var| {
        std::env::var(var).ok()
    })
    .await
}

/// [`spawn`] with the environment lookup (for `hmac_secret_env`) given.
pub(crate) async fn spawn_with_env(
    configs: &[(String, OutputConfig)],
    verdicts: Receiver<Published>,
    ws: Arc<VerdictStream>,
    capacity: usize,
    metrics: Arc<Metrics>,
    options: OutputOptions,
    env: impl Fn(&str) -> Option<String>,
) -> Result<tokio::task::JoinHandle<Result<(), OutputError>>, OutputError> {
    let mut sinks = Vec::new();
    for (name, config) in configs {
        let (tx, rx) = channel::bounded::<Item>(&format!("output_{name}"), capacity, &metrics);
        let task = match config {
            OutputConfig::Stdout(StdoutConfig { format }) => {
                metrics.sink.register(name, false);
                tokio::spawn(write_lines(
                    name.clone(),
                    *format,
                    rx,
                    tokio::io::stdout(),
                    metrics.clone(),
                ))
            }
            OutputConfig::Jsonl(JsonlConfig { path, format }) => {
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
                metrics.sink.register(name, false);
                tokio::spawn(write_lines(
                    name.clone(),
                    *format,
                    rx,
                    file,
                    metrics.clone(),
                ))
            }
            OutputConfig::Webhook(config) => {
                let hook = webhook::Webhook::open(
                    name,
                    config,
                    &env,
                    options.dead_letter.clone(),
                    metrics.clone(),
                )?
                .with_dead_bus(options.dead_bus.clone());
                tokio::spawn(hook.run(rx))
            }
            #[cfg(not(feature = "kafka"))]
            OutputConfig::Kafka(cfg) => {
                // Validation refuses it first; a caller that skipped it fails here.
                return Err(OutputError::Kafka {
                    name: name.clone(),
                    destination: format!("kafka://{}/{}", cfg.brokers, cfg.topic),
                    message: crate::features::missing(crate::features::Feature::Kafka),
                });
            }
            #[cfg(feature = "kafka")]
            OutputConfig::Kafka(cfg) => {
                let sink = kafka::KafkaSink::open(
                    name,
                    cfg,
                    options.dead_letter.clone(),
                    metrics.clone(),
                )?
                .with_dead_bus(options.dead_bus.clone())
                .with_instance(options.instance.clone());
                tokio::spawn(sink.run(rx))
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
    ws: Arc<VerdictStream>,
    m: Arc<Metrics>,
) -> Result<(), OutputError> {
    let received = m.stages.received.with_label_values(&[stage::OUTPUT]);
    let sent = m.stages.sent.with_label_values(&[stage::OUTPUT]);
    while let Ok(published) = verdicts.recv().await {
        received.inc();
        let json: Arc<str> = match serde_json::to_string(&*published.verdict) {
            Ok(s) => s.into(),
            Err(e) => {
                m.stages
                    .errors
                    .with_label_values(&[stage::OUTPUT, crate::metrics::output_error::SERIALIZE])
                    .inc();
                tracing::error!(error = %e, case_id = %published.verdict.case_id, "verdict serialization failed");
                continue;
            }
        };
        let queue = serde_json::to_string(&crate::verdict::QueueItem::of(&published.verdict))
            .unwrap_or_default();
        ws.publish(&published.verdict.verdict_id, json.clone(), queue.into());
        for sink in &sinks {
            let item = Item {
                json: json.clone(),
                verdict: published.verdict.clone(),
                ack: published.ack.clone(),
            };
            if sink.queue.send(item).await.is_err() {
                m.stages
                    .errors
                    .with_label_values(&[stage::OUTPUT, crate::metrics::output_error::SINK_CLOSED])
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

impl Item {
    /// The document a sink writes for this verdict in `format`: the shared native JSON, or
    /// its OCSF Detection Finding.
    pub fn document(&self, format: OutputFormat) -> Arc<str> {
        match format {
            OutputFormat::Native => self.json.clone(),
            OutputFormat::Ocsf => ocsf::detection_finding(&self.verdict).to_string().into(),
        }
    }
}

/// Writes one line per item, flushing whenever the queue runs empty; acknowledgements are
/// released after the flush that covers them.
async fn write_lines<W: AsyncWrite + Unpin>(
    name: String,
    format: OutputFormat,
    rx: Receiver<Item>,
    mut out: W,
    metrics: Arc<Metrics>,
) -> Result<(), OutputError> {
    let err = |source| OutputError::Write {
        name: name.clone(),
        source,
    };
    let ok = metrics
        .sink
        .deliveries
        .with_label_values(&[name.as_str(), crate::metrics::sink::OK]);
    let mut written = Vec::new();
    while let Ok(item) = rx.recv().await {
        out.write_all(item.document(format).as_bytes())
            .await
            .map_err(err)?;
        out.write_all(b"\n").await.map_err(err)?;
        written.push(item.ack);
        if rx.is_empty() {
            out.flush().await.map_err(err)?;
            ok.inc_by(written.len() as u64);
            written.drain(..).for_each(Ack::done);
        }
    }
    out.flush().await.map_err(err)?;
    ok.inc_by(written.len() as u64);
    written.into_iter().for_each(Ack::done);
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::outputs::thehive::tests::sample;

    /// Two jsonl sinks fed by the real fan-out: one native, one OCSF.
    #[tokio::test]
    async fn jsonl_sinks_write_the_format_each_is_configured_with() {
        let dir = tempfile::tempdir().unwrap();
        let (native, ocsf) = (dir.path().join("n.jsonl"), dir.path().join("o.jsonl"));
        let metrics = Arc::new(Metrics::new().unwrap());
        let (tx, rx) = channel::bounded::<Published>("verdicts", 4, &metrics);
        let configs = vec![
            (
                "native".to_owned(),
                OutputConfig::Jsonl(JsonlConfig {
                    path: native.clone(),
                    format: OutputFormat::Native,
                }),
            ),
            (
                "ocsf".to_owned(),
                OutputConfig::Jsonl(JsonlConfig {
                    path: ocsf.clone(),
                    format: OutputFormat::Ocsf,
                }),
            ),
        ];
        let handle = spawn(
            &configs,
            rx,
            VerdictStream::new(16, 16),
            4,
            metrics,
            OutputOptions::default(),
        )
        .await
        .unwrap();
        let verdicts = [sample("c", 1), sample("c", 2)];
        for v in &verdicts {
            tx.send(Published {
                verdict: Arc::new(v.clone()),
                oldest_received: None,
                ack: Ack::none(),
                summarize: false,
            })
            .await
            .unwrap();
        }
        drop(tx);
        handle.await.unwrap().unwrap();
        let lines = |p: &std::path::Path| -> Vec<serde_json::Value> {
            std::fs::read_to_string(p)
                .unwrap()
                .lines()
                .map(|l| serde_json::from_str(l).unwrap())
                .collect()
        };
        let (n, o) = (lines(&native), lines(&ocsf));
        assert_eq!(n.len(), 2);
        assert_eq!(o.len(), 2);
        for (i, v) in verdicts.iter().enumerate() {
            assert_eq!(n[i], serde_json::to_value(v).unwrap());
            assert_eq!(o[i], ocsf::detection_finding(v));
        }
        assert_eq!(o[0]["class_uid"], 2004);
        assert_eq!(o[0]["activity_id"], 1);
        assert_eq!(o[1]["activity_id"], 2);
        assert_eq!(o[1]["metadata"]["uid"], verdicts[1].verdict_id);
    }
}
