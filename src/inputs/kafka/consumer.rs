//! The consumer of the `kafka` input (built with the `kafka` feature): see [`super`].

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use chrono::Utc;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::consumer::{
    BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance, StreamConsumer,
};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{BorrowedMessage, Message};
use rdkafka::statistics::Statistics;
use rdkafka::{ClientContext, Offset, TopicPartitionList};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::KafkaInputConfig;
use crate::flow::ack::{Ack, OrderedCommits, Outcome};
use crate::flow::channel::Sender;
use crate::inputs::frame_message;
use crate::kafka::{self, Properties};
use crate::metrics::{self, Metrics};
use crate::normalize::Format;
use crate::normalize::RawRecord;

/// How a Kafka input is set up (from `[inputs.NAME] type = "kafka"`).
#[derive(Debug, Clone)]
pub struct KafkaSettings {
    pub brokers: String,
    pub group_id: String,
    /// Names, or regular expressions starting with `^`.
    pub topics: Vec<String>,
    pub format: Format,
    /// `earliest` or `latest`.
    pub auto_offset_reset: String,
    /// Unfinished messages before the partitions are paused.
    pub max_in_flight: usize,
    /// 0 = no statistics (and no lag gauge).
    pub statistics_interval_ms: u64,
    pub properties: Properties,
}

impl KafkaSettings {
    /// Resolves a configuration: `max_in_flight` 0 → the pipeline's channel capacity.
    pub fn from_config(cfg: &KafkaInputConfig, channel_capacity: usize) -> Self {
        KafkaSettings {
            brokers: cfg.brokers.clone(),
            group_id: cfg.group_id.clone(),
            topics: cfg.topics.clone(),
            format: cfg
                .format
                .as_deref()
                .and_then(crate::inputs::line_format)
                .unwrap_or(Format::Json),
            auto_offset_reset: cfg.auto_offset_reset.clone(),
            max_in_flight: match cfg.max_in_flight {
                0 => channel_capacity.max(1),
                n => n,
            },
            statistics_interval_ms: cfg.statistics_interval_ms,
            properties: cfg.properties.clone(),
        }
    }

    /// The consumer's librdkafka configuration: the passed-through properties, then the keys
    /// at-least-once depends on.
    fn client_config(&self, input: &str) -> rdkafka::ClientConfig {
        let mut fixed = vec![
            ("group.id", self.group_id.clone()),
            ("enable.auto.commit", "true".to_owned()),
            ("enable.auto.offset.store", "false".to_owned()),
            ("auto.offset.reset", self.auto_offset_reset.clone()),
            (
                "statistics.interval.ms",
                self.statistics_interval_ms.to_string(),
            ),
        ];
        // librdkafka prefetches up to 100,000 messages per partition by default; keep its
        // queue near the in-flight bound unless the user tuned it.
        if self.properties.get("queued.min.messages").is_none() {
            fixed.push(("queued.min.messages", self.max_in_flight.max(1).to_string()));
        }
        if self.properties.get("client.id").is_none() {
            fixed.push(("client.id", format!("nightwatch-{input}")));
        }
        kafka::client_config(&self.brokers, &self.properties, &fixed)
    }
}

/// Why a Kafka input could not start.
#[derive(Debug, thiserror::Error)]
pub enum KafkaInputError {
    /// librdkafka rejected the configuration (an unknown or invalid property).
    #[error("input {input} ({brokers}): creating the consumer: {reason}")]
    Create {
        input: String,
        brokers: String,
        reason: String,
    },
    /// The subscription was refused.
    #[error("input {input} ({brokers}): subscribing to {topics}: {reason}")]
    Subscribe {
        input: String,
        brokers: String,
        topics: String,
        reason: String,
    },
}

/// What a Kafka input did, for its closing log line.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct KafkaReport {
    pub messages: u64,
    pub records: u64,
    /// Offset stores (each covers every finished message of a partition below it).
    pub stored: u64,
    /// Partitions rewound after a failed message.
    pub rewound: u64,
    pub pauses: u64,
}

/// In-flight tracking of one assigned partition.
struct Tracked {
    /// Distinguishes this assignment of the partition from earlier ones (late completions of
    /// a revoked or rewound partition are ignored).
    epoch: u64,
    commits: OrderedCommits,
}

/// Per-partition tracking, shared by the reader and the rebalance callback.
#[derive(Default)]
struct Partitions {
    tracked: HashMap<(Arc<str>, i32), Tracked>,
    next_epoch: u64,
}

impl Partitions {
    fn in_flight(&self) -> usize {
        self.tracked.values().map(|t| t.commits.in_flight()).sum()
    }

    /// Issues `offset` in its partition (tracking it from `offset` when new); returns the
    /// epoch its completion must carry.
    fn issue(&mut self, topic: &Arc<str>, partition: i32, offset: u64) -> u64 {
        let next = &mut self.next_epoch;
        let t = self
            .tracked
            .entry((topic.clone(), partition))
            .or_insert_with(|| {
                *next += 1;
                Tracked {
                    epoch: *next,
                    commits: OrderedCommits::new(offset),
                }
            });
        t.commits.issue(offset, offset + 1);
        t.epoch
    }
}

fn lock(p: &Mutex<Partitions>) -> MutexGuard<'_, Partitions> {
    p.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The consumer's callbacks: librdkafka logs and errors to `tracing`, statistics to the lag
/// gauge, revocations to the in-flight tracking.
struct InputContext {
    input: Arc<str>,
    metrics: Arc<Metrics>,
    partitions: Arc<Mutex<Partitions>>,
    /// Whether the reader holds its partitions paused (backpressure). A newly assigned
    /// partition is put in the same state at once: librdkafka keeps a partition's pause flag
    /// from an earlier assignment, and a reader whose whole assignment is paused while it
    /// believes otherwise receives nothing, finishes nothing and never wakes to fix it.
    paused: AtomicBool,
}

impl ClientContext for InputContext {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, log_message: &str) {
        kafka::log("consumer", &self.input, level, fac, log_message);
    }

    fn error(&self, error: KafkaError, reason: &str) {
        self.metrics
            .kafka
            .errors
            .with_label_values(&[metrics::kafka::error::CLIENT])
            .inc();
        tracing::warn!(input = %self.input, error = %error, reason, "kafka consumer error");
    }

    fn stats(&self, statistics: Statistics) {
        self.metrics
            .kafka
            .consumer_lag
            .with_label_values(&[&self.input])
            .set(kafka::consumer_lag(&statistics));
    }
}

impl ConsumerContext for InputContext {
    fn pre_rebalance(&self, _: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Revoke(tpl) = rebalance {
            let mut p = lock(&self.partitions);
            let mut forgotten = 0;
            for e in tpl.elements() {
                if let Some(t) = p.tracked.remove(&(Arc::from(e.topic()), e.partition())) {
                    forgotten += t.commits.in_flight();
                }
            }
            self.event(metrics::kafka::event::REVOKED);
            tracing::info!(input = %self.input, partitions = tpl.count(), forgotten, "kafka partitions revoked; unfinished messages will be read again by their new owner");
        }
    }

    fn post_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        match rebalance {
            Rebalance::Assign(tpl) => {
                self.event(metrics::kafka::event::ASSIGNED);
                let paused = self.paused.load(Ordering::Acquire);
                if let Err(e) = set_paused(consumer, tpl, paused, &self.metrics) {
                    tracing::warn!(input = %self.input, error = %e, paused, "kafka input could not set the pause state of its new partitions");
                }
                let parts: Vec<String> = tpl
                    .elements()
                    .iter()
                    .map(|e| format!("{}/{}", e.topic(), e.partition()))
                    .collect();
                tracing::info!(input = %self.input, partitions = %parts.join(","), "kafka partitions assigned");
            }
            Rebalance::Revoke(_) => {}
            Rebalance::Error(e) => {
                self.metrics
                    .kafka
                    .errors
                    .with_label_values(&[metrics::kafka::error::CONSUME])
                    .inc();
                tracing::warn!(input = %self.input, error = %e, "kafka rebalance failed");
            }
        }
    }
}

impl InputContext {
    fn event(&self, event: &str) {
        self.metrics
            .kafka
            .consumer_events
            .with_label_values(&[&self.input, event])
            .inc();
    }
}

/// Pauses or resumes `partitions` (`pause`); a failure is counted as a consume error and
/// returned for the caller to log.
fn set_paused<C: ConsumerContext>(
    consumer: &impl Consumer<C>,
    partitions: &TopicPartitionList,
    pause: bool,
    m: &Metrics,
) -> rdkafka::error::KafkaResult<()> {
    let result = if pause {
        consumer.pause(partitions)
    } else {
        consumer.resume(partitions)
    };
    if result.is_err() {
        m.kafka
            .errors
            .with_label_values(&[metrics::kafka::error::CONSUME])
            .inc();
    }
    result
}

/// A message's outcome, on its way back to the reader.
struct Completion {
    topic: Arc<str>,
    partition: i32,
    offset: u64,
    epoch: u64,
    outcome: Outcome,
}

/// What the reader keeps of a message (a `BorrowedMessage` cannot cross an await).
struct Fetched {
    topic: Arc<str>,
    partition: i32,
    offset: u64,
    payload: Vec<u8>,
}

impl Fetched {
    fn from_message(m: &BorrowedMessage<'_>) -> Fetched {
        Fetched {
            topic: Arc::from(m.topic()),
            partition: m.partition(),
            offset: u64::try_from(m.offset()).unwrap_or(0),
            payload: m.payload().map(<[u8]>::to_vec).unwrap_or_default(),
        }
    }
}

struct Reader {
    input: Arc<str>,
    settings: KafkaSettings,
    consumer: StreamConsumer<InputContext>,
    partitions: Arc<Mutex<Partitions>>,
    metrics: Arc<Metrics>,
    report: KafkaReport,
    /// Consecutive consume errors (logged at warn on the first and every 100th).
    errors: u64,
}

/// Reads until `stop` fires, then waits for the records in flight to finish, stores and
/// commits their offsets, and leaves the group.
pub async fn run(
    input: Arc<str>,
    settings: KafkaSettings,
    raw: Sender<RawRecord>,
    stop: CancellationToken,
    metrics: Arc<Metrics>,
) -> Result<KafkaReport, KafkaInputError> {
    metrics.kafka.register_input(&input);
    let partitions = Arc::new(Mutex::new(Partitions::default()));
    let context = InputContext {
        input: input.clone(),
        metrics: metrics.clone(),
        partitions: partitions.clone(),
        paused: AtomicBool::new(false),
    };
    let consumer: StreamConsumer<InputContext> = settings
        .client_config(&input)
        .create_with_context(context)
        .map_err(|e| KafkaInputError::Create {
            input: input.to_string(),
            brokers: settings.brokers.clone(),
            reason: e.to_string(),
        })?;
    let topics: Vec<&str> = settings.topics.iter().map(String::as_str).collect();
    consumer
        .subscribe(&topics)
        .map_err(|e| KafkaInputError::Subscribe {
            input: input.to_string(),
            brokers: settings.brokers.clone(),
            topics: settings.topics.join(","),
            reason: e.to_string(),
        })?;
    tracing::info!(
        input = %input,
        brokers = %settings.brokers,
        group = %settings.group_id,
        topics = %settings.topics.join(","),
        max_in_flight = settings.max_in_flight,
        properties = ?settings.properties,
        "kafka input subscribed (at-least-once)"
    );
    let mut reader = Reader {
        input,
        settings,
        consumer,
        partitions,
        metrics,
        report: KafkaReport::default(),
        errors: 0,
    };
    Ok(reader.run(raw, stop).await)
}

impl Reader {
    async fn run(&mut self, raw: Sender<RawRecord>, stop: CancellationToken) -> KafkaReport {
        // Completions come from the Ack callbacks (any thread, never blocking); at most one
        // per message in flight, which max_in_flight bounds.
        #[allow(clippy::disallowed_methods)] // bounded by max_in_flight, as above
        let (done_tx, mut done_rx) = mpsc::unbounded_channel::<Completion>();
        let received = self
            .metrics
            .kafka
            .messages
            .with_label_values(&[&self.input]);
        let framed = self.metrics.input.records.with_label_values(&[&self.input]);
        'read: loop {
            self.apply_backpressure();
            let fetched = tokio::select! {
                biased;
                _ = stop.cancelled() => break,
                Some(c) = done_rx.recv() => {
                    self.complete(c, false);
                    continue;
                }
                m = self.consumer.recv() => m.map(|m| Fetched::from_message(&m)),
            };
            let msg = match fetched {
                Ok(m) => m,
                Err(e) => {
                    self.consume_error(e);
                    continue;
                }
            };
            self.errors = 0;
            received.inc();
            self.report.messages += 1;
            let epoch = lock(&self.partitions).issue(&msg.topic, msg.partition, msg.offset);
            let done = done_tx.clone();
            let (topic, partition, offset) = (msg.topic.clone(), msg.partition, msg.offset);
            let ack = Ack::new(move |outcome| {
                let _ = done.send(Completion {
                    topic,
                    partition,
                    offset,
                    epoch,
                    outcome,
                });
            });
            let records = frame_message(
                &self.input,
                &format!("{}/{}", msg.topic, msg.partition),
                msg.offset,
                &msg.payload,
                self.settings.format,
                &ack,
                Utc::now(),
            );
            for record in records {
                tokio::select! {
                    // The unsent records are dropped unfinished: the message is not stored.
                    _ = stop.cancelled() => break 'read,
                    sent = raw.send(record) => if sent.is_err() { break 'read },
                }
                framed.inc();
                self.report.records += 1;
            }
            // Every record holds its own share; an empty message is finished here.
            ack.done();
        }
        // Stop reading; what is in flight finishes as the pipeline drains. Every Ack callback
        // holds a clone of `done_tx`: the channel ends after the last one ran.
        drop(raw);
        drop(done_tx);
        while let Some(c) = done_rx.recv().await {
            self.complete(c, true);
        }
        match self.consumer.commit_consumer_state(CommitMode::Sync) {
            Ok(()) => {}
            Err(KafkaError::ConsumerCommit(RDKafkaErrorCode::NoOffset)) => {}
            Err(e) => {
                self.metrics
                    .kafka
                    .errors
                    .with_label_values(&[metrics::kafka::error::STORE])
                    .inc();
                tracing::warn!(input = %self.input, error = %e, "kafka input could not commit its last offsets; the messages after the last commit will be read again");
            }
        }
        self.consumer.unsubscribe();
        self.report.clone()
    }

    /// Pauses every assigned partition when too many messages are unfinished and resumes them
    /// when half of those finished; partitions assigned meanwhile take the same state in the
    /// rebalance callback ([`InputContext::paused`]).
    fn apply_backpressure(&mut self) {
        let in_flight = lock(&self.partitions).in_flight();
        let max = self.settings.max_in_flight;
        let paused = self.consumer.context().paused.load(Ordering::Acquire);
        let (pause, event) = if !paused && in_flight >= max {
            (true, metrics::kafka::event::PAUSED)
        } else if paused && in_flight <= max / 2 {
            (false, metrics::kafka::event::RESUMED)
        } else {
            return;
        };
        let assignment = match self.consumer.assignment() {
            Ok(a) => a,
            Err(e) => {
                tracing::debug!(input = %self.input, error = %e, "kafka assignment unavailable");
                return;
            }
        };
        if let Err(e) = set_paused(&self.consumer, &assignment, pause, &self.metrics) {
            tracing::warn!(input = %self.input, error = %e, pause, "kafka input could not pause or resume its partitions");
            return;
        }
        self.consumer
            .context()
            .paused
            .store(pause, Ordering::Release);
        if pause {
            self.report.pauses += 1;
        }
        self.metrics
            .kafka
            .consumer_events
            .with_label_values(&[&self.input, event])
            .inc();
        tracing::debug!(input = %self.input, in_flight, max, event, "kafka backpressure");
    }

    /// Records one message's outcome: stores the partition's new commit point, or rewinds
    /// the partition to it when the message failed (not while stopping: a restart reads it
    /// again from the committed offset anyway).
    fn complete(&mut self, c: Completion, stopping: bool) {
        let mut parts = lock(&self.partitions);
        let key = (c.topic.clone(), c.partition);
        let Some(t) = parts.tracked.get_mut(&key).filter(|t| t.epoch == c.epoch) else {
            return; // revoked or rewound since: its offset is someone else's business now
        };
        if c.outcome == Outcome::Failed && !stopping {
            let from = t.commits.committed();
            parts.tracked.remove(&key);
            drop(parts);
            self.rewind(&c.topic, c.partition, from, c.offset);
            return;
        }
        let Some(next) = t.commits.complete(c.offset, c.outcome) else {
            return;
        };
        drop(parts);
        let mut tpl = TopicPartitionList::new();
        let stored = tpl
            .add_partition_offset(&c.topic, c.partition, Offset::Offset(next as i64))
            .and_then(|()| self.consumer.store_offsets(&tpl));
        match stored {
            Ok(()) => self.report.stored += 1,
            Err(e) => {
                // Typically the partition was just revoked: the new owner reads from the last
                // commit, so this is a duplicate risk, never a loss.
                self.metrics
                    .kafka
                    .errors
                    .with_label_values(&[metrics::kafka::error::STORE])
                    .inc();
                tracing::debug!(input = %self.input, topic = %c.topic, partition = c.partition, offset = next, error = %e, "kafka offset not stored");
            }
        }
    }

    fn rewind(&mut self, topic: &str, partition: i32, from: u64, failed: u64) {
        self.report.rewound += 1;
        self.metrics
            .kafka
            .consumer_events
            .with_label_values(&[&self.input, metrics::kafka::event::REWOUND])
            .inc();
        tracing::warn!(input = %self.input, topic, partition, failed_offset = failed, from, "a kafka message was not finished; reading its partition again from the commit point");
        if let Err(e) = self.consumer.seek(
            topic,
            partition,
            Offset::Offset(from as i64),
            Duration::ZERO,
        ) {
            self.metrics
                .kafka
                .errors
                .with_label_values(&[metrics::kafka::error::CONSUME])
                .inc();
            tracing::warn!(input = %self.input, topic, partition, error = %e, "kafka seek failed; the message is read again after a restart or rebalance");
        }
    }

    fn consume_error(&mut self, e: KafkaError) {
        self.errors += 1;
        self.metrics
            .kafka
            .errors
            .with_label_values(&[metrics::kafka::error::CONSUME])
            .inc();
        if self.errors == 1 || self.errors.is_multiple_of(100) {
            tracing::warn!(input = %self.input, error = %e, consecutive = self.errors, "kafka consume error");
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests;
