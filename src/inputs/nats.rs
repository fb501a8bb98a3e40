//! The `nats` input: records from a NATS subject, through core NATS or a JetStream durable
//! pull consumer.
//!
//! * **Framing**: a message's payload is split into lines (NDJSON: one JSON event per line, so
//!   a message holds one event or several newline-separated ones; or syslog, web access or
//!   text lines with `format`). Empty lines are skipped; invalid UTF-8 is replaced, and what
//!   does not parse becomes a dead letter like any other record.
//! * **Origin**: input name, source = the message's subject, index = the stream sequence
//!   (JetStream) or a per-input counter that starts at the start-up time in microseconds (core
//!   NATS, so event ids do not repeat across restarts). A message holding several lines gives
//!   them source `SUBJECT#INDEX` and index = the line's position among the message's lines, so
//!   every event id stays distinct and stable across redeliveries.
//! * **JetStream, at-least-once**: the consumer is durable with `AckPolicy::Explicit`; all of a
//!   message's records share one [`Ack`], and the message is acked to JetStream only from its
//!   callback with [`Outcome::Delivered`] (every event finished: verdict delivered by every
//!   sink, no match, or dead-lettered). On [`Outcome::Failed`] it is NAKed (redelivery after
//!   a delay growing with its delivery count, up to 30 s); messages that were delivered but
//!   never finished (a crash) are redelivered after `ack_wait`. `max_ack_pending` (by default
//!   `pipeline.channel_capacity`) bounds the messages out at once, so it also bounds the
//!   duplicates a crash can cause. With `create = true` the stream (file storage) and the
//!   consumer are created when absent, and the consumer's `ack_wait` and `max_ack_pending` are
//!   set to the configured values.
//! * **Core NATS, best-effort**: a plain or queue-group subscription, [`Ack::none`]; messages
//!   published while the daemon is down or disconnected, or dropped by the server because the
//!   daemon is a slow consumer, are lost.
//! * **Broker outages**: the client reconnects by itself; the JetStream loop rebinds the
//!   consumer (waiting for the connection) whenever its message stream fails, and
//!   acknowledgements queued during the outage are sent after the reconnect.

use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream;
use async_nats::jetstream::consumer::{AckPolicy, PullConsumer, pull};
use async_nats::jetstream::message::{AckKind, Acker};
use chrono::Utc;
use futures_util::StreamExt;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::frame_message as frame;
use crate::flow::ack::{Ack, Outcome};
use crate::flow::channel::Sender;
use crate::metrics::{self, Metrics};
use crate::nats::{self, Connection};
use crate::normalize::Format;
use crate::normalize::RawRecord;
pub use config::{JetStreamInputConfig, NatsInputConfig, NatsInputKeys};

/// How a NATS input is set up (from `[inputs.NAME] type = "nats"`).
#[derive(Debug, Clone)]
pub struct NatsSettings {
    pub connection: Connection,
    pub subject: String,
    pub queue_group: Option<String>,
    pub jetstream: Option<JetStreamSettings>,
    pub format: Format,
}

/// The durable pull consumer a JetStream input reads through.
#[derive(Debug, Clone)]
pub struct JetStreamSettings {
    pub stream: String,
    pub consumer: String,
    /// Subjects of the stream when it is created.
    pub subjects: Vec<String>,
    pub create: bool,
    pub ack_wait: Duration,
    pub max_ack_pending: usize,
}

/// Why a NATS input could not start.
#[derive(Debug, thiserror::Error)]
pub enum NatsInputError {
    /// The configuration could not be resolved (a secret's environment variable is unset).
    #[error("input {input} ({url}): {reason}")]
    Setup {
        input: String,
        url: String,
        reason: String,
    },
    #[error(transparent)]
    Connect(#[from] nats::ConnectError),
    /// The subscription was refused.
    #[error("input {input} ({url}): subscribing to {subject}: {reason}")]
    Subscribe {
        input: String,
        url: String,
        subject: String,
        reason: String,
    },
}

/// What a NATS input did, for its closing log line.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct NatsReport {
    pub messages: u64,
    pub records: u64,
    /// JetStream messages received again after an earlier delivery.
    pub redelivered: u64,
    pub acked: u64,
    pub nacked: u64,
}

/// Starts a `nats` input; the daemon waits for it after the drain (a JetStream input sends its
/// last acknowledgements then). A configuration that cannot be resolved (a secret's variable
/// unset since validation) is logged and the input stays down; the daemon runs on.
pub fn start(
    name: Arc<str>,
    cfg: &NatsInputConfig,
    w: &super::Wiring,
) -> Option<tokio::task::JoinHandle<()>> {
    let settings = match NatsSettings::from_config(&name, cfg, w.channel_capacity) {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(input = %name, error = %e, "nats input failed");
            return None;
        }
    };
    let w = w.clone();
    Some(tokio::spawn(async move {
        match run(name.clone(), settings, w.raw, w.stop, w.metrics).await {
            Ok(r) => {
                tracing::info!(input = %name, messages = r.messages, records = r.records, redelivered = r.redelivered, acked = r.acked, nacked = r.nacked, "nats input stopped")
            }
            Err(e) => tracing::error!(input = %name, error = %e, "nats input failed"),
        }
    }))
}

/// Reads until `stop` fires. A JetStream input then waits for the records in flight to
/// finish and sends their acknowledgements before returning.
pub async fn run(
    input: Arc<str>,
    settings: NatsSettings,
    raw: Sender<RawRecord>,
    stop: CancellationToken,
    metrics: Arc<Metrics>,
) -> Result<NatsReport, NatsInputError> {
    let client = nats::connect(&settings.connection, "input", &input, metrics.clone()).await?;
    let report = match &settings.jetstream {
        Some(js) => {
            let mut reader = JetStreamReader {
                input: input.clone(),
                url: settings.connection.url.redacted(),
                subject: settings.subject.clone(),
                format: settings.format,
                js: js.clone(),
                context: jetstream::new(client.clone()),
                metrics,
                report: NatsReport::default(),
            };
            reader.run(raw, stop).await
        }
        None => run_core(&input, &settings, &client, raw, stop, &metrics).await?,
    };
    if tokio::time::timeout(Duration::from_secs(5), client.flush())
        .await
        .is_err()
    {
        tracing::warn!(input = %input, "nats input could not flush its last acknowledgements within 5 s");
    }
    Ok(report)
}

async fn run_core(
    input: &Arc<str>,
    settings: &NatsSettings,
    client: &async_nats::Client,
    raw: Sender<RawRecord>,
    stop: CancellationToken,
    metrics: &Metrics,
) -> Result<NatsReport, NatsInputError> {
    let subject = settings.subject.clone();
    let subscribed = match &settings.queue_group {
        Some(group) => client.queue_subscribe(subject.clone(), group.clone()).await,
        None => client.subscribe(subject.clone()).await,
    };
    let mut sub = subscribed.map_err(|e| NatsInputError::Subscribe {
        input: input.to_string(),
        url: settings.connection.url.redacted(),
        subject: subject.clone(),
        reason: crate::base::redact_url(&e.to_string()),
    })?;
    tracing::info!(
        input = %input,
        url = %settings.connection.url,
        subject = %subject,
        queue_group = settings.queue_group.as_deref().unwrap_or(""),
        "nats input subscribed (core, best-effort)"
    );
    let received = metrics
        .nats
        .messages
        .with_label_values(&[metrics::nats::mode::CORE]);
    let framed = metrics.input.records.with_label_values(&[input]);
    let mut report = NatsReport::default();
    let mut index = u64::try_from(Utc::now().timestamp_micros()).unwrap_or(0);
    'read: loop {
        let msg = tokio::select! {
            _ = stop.cancelled() => break,
            msg = sub.next() => match msg {
                Some(m) => m,
                None => break,
            },
        };
        received.inc();
        report.messages += 1;
        let records = frame(
            input,
            msg.subject.as_str(),
            index,
            &msg.payload,
            settings.format,
            &Ack::none(),
            Utc::now(),
        );
        index += 1;
        for record in records {
            tokio::select! {
                _ = stop.cancelled() => break 'read,
                sent = raw.send(record) => if sent.is_err() { break 'read },
            }
            framed.inc();
            report.records += 1;
        }
    }
    let _ = sub.unsubscribe().await;
    Ok(report)
}

/// A message's outcome, on its way to the task that acknowledges it to JetStream.
struct Completion {
    acker: Acker,
    outcome: Outcome,
    delivered: i64,
}

struct JetStreamReader {
    input: Arc<str>,
    url: String,
    subject: String,
    format: Format,
    js: JetStreamSettings,
    context: jetstream::Context,
    metrics: Arc<Metrics>,
    report: NatsReport,
}

/// Pause between attempts to bind the consumer.
const REBIND_FIRST: Duration = Duration::from_millis(250);
const REBIND_MAX: Duration = Duration::from_secs(5);

impl JetStreamReader {
    async fn run(&mut self, raw: Sender<RawRecord>, stop: CancellationToken) -> NatsReport {
        // Completions arrive from the Ack callbacks (any thread, never blocking). The channel
        // holds at most one item per message out, and JetStream never has more than
        // max_ack_pending out: it is bounded by the broker.
        #[allow(clippy::disallowed_methods)] // bounded by max_ack_pending, as above
        let (done_tx, done_rx) = mpsc::unbounded_channel::<Completion>();
        let acks = tokio::spawn(acknowledge(
            done_rx,
            self.input.clone(),
            self.metrics.clone(),
        ));
        let mut backoff = REBIND_FIRST;
        while !stop.is_cancelled() {
            let consumer = tokio::select! {
                _ = stop.cancelled() => break,
                c = self.bind() => c,
            };
            let consumer = match consumer {
                Ok(c) => c,
                Err(e) => {
                    self.metrics
                        .nats
                        .errors
                        .with_label_values(&[metrics::nats::error::BIND])
                        .inc();
                    tracing::warn!(input = %self.input, url = %self.url, stream = %self.js.stream, consumer = %self.js.consumer, error = %e, retry_in_ms = backoff.as_millis() as u64, "nats input cannot bind its jetstream consumer");
                    tokio::select! {
                        _ = stop.cancelled() => break,
                        _ = tokio::time::sleep(backoff) => {}
                    }
                    backoff = (backoff * 2).min(REBIND_MAX);
                    continue;
                }
            };
            backoff = REBIND_FIRST;
            match self.consume(&consumer, &raw, &done_tx, &stop).await {
                Ok(()) => break, // stopped
                Err(e) => {
                    self.metrics
                        .nats
                        .errors
                        .with_label_values(&[metrics::nats::error::CONSUME])
                        .inc();
                    tracing::warn!(input = %self.input, url = %self.url, stream = %self.js.stream, consumer = %self.js.consumer, error = %e, "nats input message stream failed; rebinding");
                    tokio::select! {
                        _ = stop.cancelled() => break,
                        _ = tokio::time::sleep(REBIND_FIRST) => {}
                    }
                }
            }
        }
        // Stop reading; the records in flight finish as the pipeline drains, and each Ack
        // callback holds a clone of `done_tx`: the acknowledger ends after the last one.
        drop(raw);
        drop(done_tx);
        match acks.await {
            Ok((acked, nacked)) => {
                self.report.acked = acked;
                self.report.nacked += nacked;
            }
            Err(e) => {
                tracing::error!(input = %self.input, error = %e, "nats acknowledgement task failed")
            }
        }
        self.report.clone()
    }

    /// Waits for the connection, then gets (or creates) the stream and the consumer.
    async fn bind(&self) -> Result<PullConsumer, String> {
        let client = self.context.client();
        while client.connection_state() != async_nats::connection::State::Connected {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let stream = if self.js.create {
            self.context
                .get_or_create_stream(jetstream::stream::Config {
                    name: self.js.stream.clone(),
                    subjects: self.js.subjects.clone(),
                    ..Default::default()
                })
                .await
                .map_err(|e| format!("stream {}: {e}", self.js.stream))?
        } else {
            self.context
                .get_stream(&self.js.stream)
                .await
                .map_err(|e| format!("stream {}: {e}", self.js.stream))?
        };
        let consumer: PullConsumer = if self.js.create {
            stream
                .create_consumer(pull::Config {
                    durable_name: Some(self.js.consumer.clone()),
                    ack_policy: AckPolicy::Explicit,
                    ack_wait: self.js.ack_wait,
                    max_ack_pending: i64::try_from(self.js.max_ack_pending).unwrap_or(i64::MAX),
                    filter_subject: self.subject.clone(),
                    ..Default::default()
                })
                .await
                .map_err(|e| format!("creating consumer {}: {e}", self.js.consumer))?
        } else {
            stream
                .get_consumer(&self.js.consumer)
                .await
                .map_err(|e| format!("consumer {}: {e}", self.js.consumer))?
        };
        let config = &consumer.cached_info().config;
        if config.ack_policy != AckPolicy::Explicit {
            return Err(format!(
                "consumer {} has ack policy {:?}; at-least-once needs explicit acks",
                self.js.consumer, config.ack_policy
            ));
        }
        tracing::info!(
            input = %self.input,
            url = %self.url,
            stream = %self.js.stream,
            consumer = %self.js.consumer,
            filter = %config.filter_subject,
            max_ack_pending = config.max_ack_pending,
            ack_wait_secs = config.ack_wait.as_secs(),
            "nats input consumes a jetstream durable consumer (at-least-once)"
        );
        Ok(consumer)
    }

    /// Reads messages until `stop` fires (`Ok`) or the message stream fails (`Err`).
    async fn consume(
        &mut self,
        consumer: &PullConsumer,
        raw: &Sender<RawRecord>,
        done: &mpsc::UnboundedSender<Completion>,
        stop: &CancellationToken,
    ) -> Result<(), String> {
        let max_ack_pending = usize::try_from(consumer.cached_info().config.max_ack_pending)
            .ok()
            .filter(|n| *n > 0)
            .unwrap_or(self.js.max_ack_pending);
        // At most half the window prefetched, so a restart finds room while what the last
        // instance prefetched but never handled waits for ack_wait.
        let batch = (max_ack_pending / 2).clamp(1, 256);
        let mut messages = consumer
            .stream()
            .max_messages_per_batch(batch)
            .heartbeat(Duration::from_secs(5))
            .expires(Duration::from_secs(30))
            .messages()
            .await
            .map_err(|e| e.to_string())?;
        let received = self
            .metrics
            .nats
            .messages
            .with_label_values(&[metrics::nats::mode::JETSTREAM]);
        let framed = self.metrics.input.records.with_label_values(&[&self.input]);
        loop {
            let next = tokio::select! {
                _ = stop.cancelled() => {
                    self.release_prefetched(&mut messages, 2 * batch).await;
                    return Ok(());
                }
                next = messages.next() => next,
            };
            let msg = match next {
                Some(Ok(m)) => m,
                Some(Err(e)) => return Err(e.to_string()),
                None => return Err("message stream ended".to_owned()),
            };
            received.inc();
            self.report.messages += 1;
            let (sequence, delivered) = match msg.info() {
                Ok(info) => (info.stream_sequence, info.delivered),
                Err(e) => {
                    // Not a JetStream delivery (no ack subject): nothing to acknowledge.
                    tracing::debug!(input = %self.input, error = %e, "nats input skips a message without jetstream metadata");
                    continue;
                }
            };
            if delivered > 1 {
                self.metrics.nats.redelivered.inc();
                self.report.redelivered += 1;
            }
            let (message, acker) = msg.split();
            let done = done.clone();
            let ack = Ack::new(move |outcome| {
                let _ = done.send(Completion {
                    acker,
                    outcome,
                    delivered,
                });
            });
            let records = frame(
                &self.input,
                message.subject.as_str(),
                sequence,
                &message.payload,
                self.format,
                &ack,
                Utc::now(),
            );
            for record in records {
                tokio::select! {
                    // The unsent records are dropped unfinished: the message is NAKed.
                    _ = stop.cancelled() => return Ok(()),
                    sent = raw.send(record) => if sent.is_err() { return Ok(()) },
                }
                framed.inc();
                self.report.records += 1;
            }
            // Every record holds its own share; an empty message is finished here.
            ack.done();
        }
    }
}

impl JetStreamReader {
    /// On shutdown: NAKs the messages already pulled but not handed to the pipeline (up to
    /// `max`, whatever arrives within 100 ms of the previous one), so they are redelivered
    /// soon instead of after ack_wait.
    async fn release_prefetched(&mut self, messages: &mut pull::Stream, max: usize) {
        let mut released = 0u64;
        for _ in 0..max {
            let Ok(Some(Ok(msg))) =
                tokio::time::timeout(Duration::from_millis(100), messages.next()).await
            else {
                break;
            };
            if msg
                .ack_with(AckKind::Nak(Some(Duration::from_secs(1))))
                .await
                .is_ok()
            {
                released += 1;
                self.report.nacked += 1;
                self.metrics
                    .nats
                    .acks
                    .with_label_values(&[metrics::nats::ack::NAK])
                    .inc();
            }
        }
        if released > 0 {
            tracing::debug!(input = %self.input, released, "nats input released prefetched messages");
        }
    }
}

/// Sends each finished message's acknowledgement: `+ACK` when delivered, `-NAK` with a delay
/// otherwise. Returns (acked, nacked) once every callback has run.
async fn acknowledge(
    mut rx: mpsc::UnboundedReceiver<Completion>,
    input: Arc<str>,
    metrics: Arc<Metrics>,
) -> (u64, u64) {
    let (acked_metric, nacked_metric) = (
        metrics
            .nats
            .acks
            .with_label_values(&[metrics::nats::ack::ACK]),
        metrics
            .nats
            .acks
            .with_label_values(&[metrics::nats::ack::NAK]),
    );
    let errors = metrics
        .nats
        .errors
        .with_label_values(&[metrics::nats::error::ACK]);
    let (mut acked, mut nacked, mut failed) = (0u64, 0u64, 0u64);
    while let Some(c) = rx.recv().await {
        let sent = match c.outcome {
            Outcome::Delivered => c.acker.ack().await,
            Outcome::Failed => {
                c.acker
                    .ack_with(AckKind::Nak(Some(nak_delay(c.delivered))))
                    .await
            }
        };
        match (sent, c.outcome) {
            (Ok(()), Outcome::Delivered) => {
                acked += 1;
                acked_metric.inc();
            }
            (Ok(()), Outcome::Failed) => {
                nacked += 1;
                nacked_metric.inc();
            }
            (Err(e), _) => {
                failed += 1;
                errors.inc();
                // Redelivered after ack_wait; logged sparingly (the cause is the connection).
                if failed == 1 || failed.is_multiple_of(1000) {
                    tracing::warn!(input = %input, failed, error = %e, "nats input could not send an acknowledgement; the message will be redelivered");
                }
            }
        }
    }
    (acked, nacked)
}

/// Redelivery delay of a NAKed message: 1 s per delivery so far, at most 30 s.
fn nak_delay(delivered: i64) -> Duration {
    Duration::from_secs(u64::try_from(delivered.clamp(1, 30)).unwrap_or(1))
}

mod config;

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::normalize::Payload;

    fn lines(records: &[RawRecord]) -> Vec<(String, u64, String)> {
        records
            .iter()
            .map(|r| {
                let Payload::Line { line, .. } = &r.payload else {
                    panic!("{:?}", r.payload)
                };
                (r.origin.source.to_string(), r.origin.index, line.clone())
            })
            .collect()
    }

    #[test]
    fn one_event_per_message_keeps_subject_and_sequence() {
        let input: Arc<str> = Arc::from("bus");
        let r = frame(
            &input,
            "events.sysmon",
            42,
            b"{\"a\":1}\n",
            Format::Json,
            &Ack::none(),
            Utc::now(),
        );
        assert_eq!(
            lines(&r),
            vec![("events.sysmon".into(), 42, "{\"a\":1}".into())]
        );
        assert_eq!(&*r[0].origin.input, "bus");
    }

    #[test]
    fn several_lines_get_distinct_positions_and_share_the_ack() {
        let (tx, rx) = std::sync::mpsc::channel();
        let ack = Ack::new(move |o| {
            let _ = tx.send(o);
        });
        let input: Arc<str> = Arc::from("bus");
        let r = frame(
            &input,
            "e",
            7,
            "\u{feff}{\"a\":1}\r\n\n  \n{\"b\":2}\n{\"c\":3}".as_bytes(),
            Format::Json,
            &ack,
            Utc::now(),
        );
        assert_eq!(
            lines(&r),
            vec![
                ("e#7".into(), 0, "{\"a\":1}".into()),
                ("e#7".into(), 1, "{\"b\":2}".into()),
                ("e#7".into(), 2, "{\"c\":3}".into()),
            ]
        );
        ack.done();
        let mut r = r.into_iter();
        r.next().unwrap().ack.done();
        r.next().unwrap().ack.done();
        assert!(rx.try_recv().is_err(), "one line is still in flight");
        drop(r); // the last record is dropped unfinished
        assert_eq!(rx.try_recv(), Ok(Outcome::Failed));
    }

    #[test]
    fn empty_payloads_frame_nothing_and_formats_apply() {
        let input: Arc<str> = Arc::from("bus");
        let none = frame(
            &input,
            "e",
            1,
            b" \n\n",
            Format::Json,
            &Ack::none(),
            Utc::now(),
        );
        assert!(none.is_empty());
        let r = frame(
            &input,
            "logs",
            1,
            b"<34>Oct 11 22:14:15 host sshd[1]: Failed password",
            Format::Syslog,
            &Ack::none(),
            Utc::now(),
        );
        assert_eq!(r[0].payload.format(), Format::Syslog);
        let bad = frame(
            &input,
            "e",
            1,
            &[0xff, b'x'],
            Format::Text,
            &Ack::none(),
            Utc::now(),
        );
        assert_eq!(lines(&bad)[0].2, "\u{fffd}x");
    }

    #[test]
    fn nak_delay_grows_with_deliveries_and_is_capped() {
        assert_eq!(nak_delay(0), Duration::from_secs(1));
        assert_eq!(nak_delay(1), Duration::from_secs(1));
        assert_eq!(nak_delay(4), Duration::from_secs(4));
        assert_eq!(nak_delay(1000), Duration::from_secs(30));
    }
}
