//! The `kafka` verdict output: each verdict produced to a Kafka topic.
//!
//! * **Producer**: idempotent (`enable.idempotence=true`, `acks=all`), so librdkafka's own
//!   retries within `delivery_timeout_ms` neither duplicate nor reorder. The message key is
//!   the case's host (its entity), so one host's verdicts stay ordered in one partition.
//!   Headers: `schema` = `nightwatch.verdict.v1`, `schema_version` = `1`, `verdict_id`, and
//!   `nightwatch_instance` = the producing instance ([`crate::cluster`]).
//! * **Delivery**: a window of queued verdicts is produced at once and their broker acks
//!   awaited in order; a verdict whose attempt failed (timeout, broker error) is produced
//!   again with backoff, up to `max_retries` times, then dead-lettered (counted, logged, and
//!   appended to `[dead_letter] path`). Its acknowledgement is released only after the broker
//!   acked it or it was dead-lettered, so the events behind it are acknowledged to their input
//!   only then. **At-least-once** (a retry after a lost ack can duplicate a verdict;
//!   consumers dedupe on the `verdict_id` header).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::ClientContext;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::error::KafkaError;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord, Producer};
use rdkafka::util::Timeout;

use super::dead_letter::DeadLetterBus;
use super::{DeadVerdict, Item, OutputError};
use crate::flow::channel::Receiver;
use crate::flow::retry::Backoff;
use crate::kafka;
use crate::kafka::KafkaOutputConfig;
use crate::metrics::{self, Metrics};
use crate::verdict::SCHEMA;

/// Header naming the instance that produced a verdict.
pub const INSTANCE_HEADER: &str = "nightwatch_instance";

/// The `schema_version` header's value.
pub const SCHEMA_VERSION: &str = "1";
/// Verdicts produced together before their acks are awaited.
const WINDOW: usize = 256;

/// The producer's callbacks: librdkafka logs and errors to `tracing`.
struct SinkContext {
    name: Arc<str>,
    metrics: Arc<Metrics>,
}

impl ClientContext for SinkContext {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, log_message: &str) {
        kafka::log("producer", &self.name, level, fac, log_message);
    }

    fn error(&self, error: KafkaError, reason: &str) {
        self.metrics
            .kafka
            .errors
            .with_label_values(&[metrics::kafka::error::CLIENT])
            .inc();
        tracing::warn!(output = %self.name, error = %error, reason, "kafka producer error");
    }
}

/// An opened Kafka sink.
pub struct KafkaSink {
    name: String,
    /// `kafka://BROKERS/TOPIC`, for logs and dead letters.
    shown: String,
    topic: String,
    producer: FutureProducer<SinkContext>,
    max_retries: u32,
    backoff: Backoff,
    dead_letter: Option<PathBuf>,
    dead_bus: Option<Arc<DeadLetterBus>>,
    /// The `nightwatch_instance` header's value.
    instance: Option<Arc<str>>,
    metrics: Arc<Metrics>,
}

impl KafkaSink {
    /// Creates the producer (it connects in the background) and registers the sink's metrics.
    pub fn open(
        name: &str,
        cfg: &KafkaOutputConfig,
        dead_letter: Option<PathBuf>,
        metrics: Arc<Metrics>,
    ) -> Result<Self, OutputError> {
        let shown = format!("kafka://{}/{}", cfg.brokers, cfg.topic);
        let mut fixed = vec![
            ("enable.idempotence", "true".to_owned()),
            ("acks", "all".to_owned()),
            ("message.timeout.ms", cfg.delivery_timeout_ms.to_string()),
        ];
        if cfg.properties.get("client.id").is_none() {
            fixed.push(("client.id", format!("nightwatch-{name}")));
        }
        let producer: FutureProducer<SinkContext> =
            kafka::client_config(&cfg.brokers, &cfg.properties, &fixed)
                .create_with_context(SinkContext {
                    name: Arc::from(name),
                    metrics: metrics.clone(),
                })
                .map_err(|e| OutputError::Kafka {
                    name: name.to_owned(),
                    destination: shown.clone(),
                    message: format!("creating the kafka producer: {e}"),
                })?;
        metrics.sink.register(name, true);
        tracing::info!(output = name, destination = %shown, properties = ?cfg.properties, "kafka output ready");
        Ok(KafkaSink {
            name: name.to_owned(),
            shown,
            topic: cfg.topic.clone(),
            producer,
            max_retries: cfg.max_retries,
            backoff: Backoff::new(
                Duration::from_millis(cfg.retry_backoff_ms.max(1)),
                Duration::from_millis(cfg.retry_backoff_max_ms.max(1)),
            )
            .max_doublings(16),
            dead_letter,
            dead_bus: None,
            instance: None,
            metrics,
        })
    }

    /// Also publishes this output's dead letters on the `[dead_letter]` brokers.
    pub(crate) fn with_dead_bus(mut self, bus: Option<Arc<DeadLetterBus>>) -> Self {
        self.dead_bus = bus;
        self
    }

    /// Names the producing instance in every verdict's headers.
    pub(crate) fn with_instance(mut self, instance: Option<Arc<str>>) -> Self {
        self.instance = instance;
        self
    }

    /// Produces every queued verdict until the queue closes, then flushes the producer.
    pub async fn run(self, rx: Receiver<Item>) -> Result<(), OutputError> {
        let mut dead_file = self.dead_letter.clone();
        let mut burst = 0u64;
        while let Ok(first) = rx.recv().await {
            let mut window = vec![first];
            while window.len() < WINDOW && !rx.is_empty() {
                match rx.recv().await {
                    Ok(item) => window.push(item),
                    Err(_) => break,
                }
            }
            let started = Instant::now();
            let sent: Vec<_> = window
                .into_iter()
                .map(|item| {
                    let future = self.enqueue(&item);
                    (item, future)
                })
                .collect();
            for (item, future) in sent {
                let first_try = match future {
                    Ok(f) => settle(f).await,
                    Err(e) => Err(e),
                };
                self.confirm(item, first_try, started, &mut burst, &mut dead_file)
                    .await;
            }
        }
        let producer = self.producer.clone();
        let flushed = tokio::task::spawn_blocking(move || {
            producer.flush(Timeout::After(Duration::from_secs(10)))
        })
        .await;
        if !matches!(flushed, Ok(Ok(()))) {
            tracing::warn!(output = %self.name, "kafka output could not flush within 10 s");
        }
        Ok(())
    }

    /// Hands one verdict to librdkafka without waiting for the broker.
    fn enqueue(&self, item: &Item) -> Result<DeliveryFuture, String> {
        let mut headers = OwnedHeaders::new()
            .insert(Header {
                key: "schema",
                value: Some(SCHEMA),
            })
            .insert(Header {
                key: "schema_version",
                value: Some(SCHEMA_VERSION),
            })
            .insert(Header {
                key: "verdict_id",
                value: Some(item.verdict.verdict_id.as_str()),
            });
        if let Some(instance) = &self.instance {
            headers = headers.insert(Header {
                key: INSTANCE_HEADER,
                value: Some(instance.as_ref()),
            });
        }
        let record = FutureRecord::to(&self.topic)
            .key(item.verdict.host.as_str())
            .payload(item.json.as_bytes())
            .headers(headers);
        self.producer
            .send_result(record)
            .map_err(|(e, _)| e.to_string())
    }

    /// Retries `item` until the broker acks it or the retries are spent (then dead-letters
    /// it), and releases its acknowledgement.
    async fn confirm(
        &self,
        item: Item,
        mut result: Result<(), String>,
        started: Instant,
        burst: &mut u64,
        dead_file: &mut Option<PathBuf>,
    ) {
        let counter = |r: &str| {
            self.metrics
                .sink
                .deliveries
                .with_label_values(&[self.name.as_str(), r])
        };
        let mut retry = 0u32;
        loop {
            match result {
                Ok(()) => {
                    counter("ok").inc();
                    if *burst > 0 || retry > 0 {
                        tracing::info!(output = %self.name, attempts = retry + 1, dead_lettered = *burst, "kafka output delivering again");
                        *burst = 0;
                    }
                    break;
                }
                Err(reason) if retry >= self.max_retries => {
                    counter(metrics::sink::FAILED).inc();
                    self.metrics
                        .sink
                        .dead_letters
                        .with_label_values(&[metrics::stage::OUTPUT])
                        .inc();
                    self.metrics
                        .kafka
                        .errors
                        .with_label_values(&[metrics::kafka::error::PRODUCE])
                        .inc();
                    self.give_up(&item, &reason, retry + 1, burst, dead_file)
                        .await;
                    break;
                }
                Err(reason) => {
                    counter(metrics::sink::RETRY).inc();
                    self.metrics
                        .kafka
                        .errors
                        .with_label_values(&[metrics::kafka::error::PRODUCE])
                        .inc();
                    let delay = self.backoff.wait(retry, None);
                    if retry == 0 {
                        tracing::warn!(output = %self.name, destination = %self.shown, verdict_id = %item.verdict.verdict_id, reason = %reason, delay_ms = delay.as_millis() as u64, "kafka verdict not acknowledged; retrying");
                    }
                    tokio::time::sleep(delay).await;
                    retry += 1;
                    result = match self.enqueue(&item) {
                        Ok(f) => settle(f).await,
                        Err(e) => Err(e),
                    };
                }
            }
        }
        self.metrics
            .sink
            .delivery
            .with_label_values(&[self.name.as_str()])
            .observe(started.elapsed().as_secs_f64());
        // Acked by the broker, or dead-lettered: either way the verdict is handled.
        item.ack.done();
    }

    async fn give_up(
        &self,
        item: &Item,
        reason: &str,
        attempts: u32,
        burst: &mut u64,
        file: &mut Option<PathBuf>,
    ) {
        if *burst == 0 {
            tracing::warn!(output = %self.name, destination = %self.shown, verdict_id = %item.verdict.verdict_id, attempts, reason, "kafka output gave up on a verdict; dead-lettered (further failures are logged at debug until a delivery succeeds)");
        } else {
            tracing::debug!(output = %self.name, verdict_id = %item.verdict.verdict_id, attempts, reason, "kafka output gave up on a verdict; dead-lettered");
        }
        *burst += 1;
        let record = DeadVerdict {
            output: &self.name,
            url: &self.shown,
            reason,
            attempts,
            time: chrono::Utc::now(),
            verdict: &item.verdict,
        };
        record.store(file, self.dead_bus.as_deref()).await;
    }
}

/// The broker's answer to one produce.
async fn settle(future: DeliveryFuture) -> Result<(), String> {
    match future.await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err((e, _))) => Err(e.to_string()),
        Err(_) => Err("the producer dropped the message".to_owned()),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests;
