//! Dead letters on a broker: every record written to the dead-letter file (`[dead_letter]
//! path`) can also be published to a Kafka topic (`[dead_letter] kafka = { … }`) and/or a NATS
//! subject (`[dead_letter] nats = { … }`), so a SOC pipeline can alert on and replay them.
//!
//! * Unparsable records become [`ParseDeadLetter`] JSON: `kind = "parse"`, reason, input,
//!   source (file, peer, subject or `topic/partition`), position, format, time and the original
//!   bytes as kept by the parser (base64, at most 4 KiB).
//! * Verdicts an output gave up on are published as the file holds them ([`super::DeadVerdict`]:
//!   output, url, reason, attempts, time, verdict) with `kind = "output"` added.
//!
//! Kafka: the verdict output's producer settings (idempotent, `acks=all`), key = the input or
//! output name. NATS: core publish + flush, or JetStream publish acked by the broker. A publish
//! is retried with backoff (100 ms doubling to 5 s) until it is accepted: a broker outage backs
//! pressure up to the dead-letter queue (and, once that is full, to the pipeline) instead of
//! losing dead letters; the record's acknowledgement is released only afterwards.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
#[cfg(feature = "kafka")]
use rdkafka::producer::{FutureProducer, FutureRecord};
use serde::{Deserialize, Serialize};

use super::OutputError;
use crate::base::Problem;
#[cfg(feature = "kafka")]
use crate::kafka;
use crate::kafka::KafkaOutputConfig;
use crate::metrics::{self, Metrics};
use crate::nats::{self, Connection};
use crate::normalize::{ParseError, Position};

/// One unparsable record, as published.
#[derive(Debug, Serialize)]
pub struct ParseDeadLetter<'a> {
    pub kind: &'static str,
    pub reason: &'a str,
    pub input: &'a str,
    pub source: &'a str,
    pub position: Position,
    pub format: &'a str,
    pub time: chrono::DateTime<chrono::Utc>,
    /// The offending bytes (as the parser kept them), base64.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub original_base64: Option<String>,
}

impl<'a> ParseDeadLetter<'a> {
    pub fn new(e: &'a ParseError) -> Self {
        ParseDeadLetter {
            kind: "parse",
            reason: &e.reason,
            input: &e.input,
            source: &e.file,
            position: e.position,
            format: e.format.name(),
            time: chrono::Utc::now(),
            original_base64: e
                .raw
                .as_ref()
                .map(|r| base64::engine::general_purpose::STANDARD.encode(r.as_bytes())),
        }
    }
}

enum Target {
    #[cfg(feature = "kafka")]
    Kafka {
        shown: String,
        topic: String,
        producer: FutureProducer,
    },
    Nats {
        shown: String,
        subject: String,
        client: async_nats::Client,
        jetstream: Option<Box<async_nats::jetstream::Context>>,
    },
}

impl Target {
    /// The destination as logged (no credentials).
    fn shown(&self) -> &str {
        match self {
            #[cfg(feature = "kafka")]
            Target::Kafka { shown, .. } => shown,
            Target::Nats { shown, .. } => shown,
        }
    }

    fn kind(&self) -> &'static str {
        match self {
            #[cfg(feature = "kafka")]
            Target::Kafka { .. } => "kafka",
            Target::Nats { .. } => "nats",
        }
    }
}

/// `[dead_letter]`: the dead-letter file and the broker destinations it is also published to.
#[derive(Debug, Clone, Deserialize)]
pub struct DeadLetterConfig {
    pub path: String,
    /// Also publish every dead letter to this Kafka topic.
    #[serde(default)]
    pub kafka: Option<KafkaOutputConfig>,
    /// Also publish every dead letter on this NATS subject.
    #[serde(default)]
    pub nats: Option<super::nats::NatsOutputConfig>,
}

impl DeadLetterConfig {
    /// Every problem of `[dead_letter]`, each under its key path.
    pub fn problems(&self) -> Vec<Problem> {
        let mut p = Vec::new();
        if let Some(k) = &self.kafka {
            p.extend(k.problems("dead_letter.kafka"));
        }
        if let Some(n) = &self.nats {
            p.extend(n.problems("dead_letter.nats"));
        }
        p
    }
}

/// The broker destinations of dead letters.
pub struct DeadLetterBus {
    targets: Vec<Target>,
    metrics: Arc<Metrics>,
}

impl std::fmt::Debug for DeadLetterBus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let shown: Vec<&str> = self.targets.iter().map(Target::shown).collect();
        f.debug_struct("DeadLetterBus")
            .field("destinations", &shown)
            .finish()
    }
}

impl DeadLetterBus {
    /// Opens the configured destinations; `None` when there are none.
    pub async fn open(
        cfg: &DeadLetterConfig,
        metrics: Arc<Metrics>,
    ) -> Result<Option<Arc<DeadLetterBus>>, OutputError> {
        let mut targets = Vec::new();
        if let Some(k) = &cfg.kafka {
            targets.push(open_kafka(k)?);
        }
        if let Some(n) = &cfg.nats {
            let settings = super::nats::NatsOutputSettings::from_config("dead_letter", n)?;
            let conn: Connection = settings.connection;
            let client = nats::connect(&conn, "output", "dead_letter", metrics.clone())
                .await
                .map_err(super::nats::NatsOutputError::from)?;
            let jetstream = settings.jetstream.then(|| {
                Box::new(
                    async_nats::jetstream::ContextBuilder::new()
                        .timeout(Duration::from_secs(5))
                        .build(client.clone()),
                )
            });
            targets.push(Target::Nats {
                shown: conn.url.redacted(),
                subject: settings.subject,
                client,
                jetstream,
            });
        }
        if targets.is_empty() {
            return Ok(None);
        }
        for t in &targets {
            let (kind, shown) = (t.kind(), t.shown());
            tracing::info!(kind, destination = %shown, "dead letters are also published to a broker");
        }
        Ok(Some(Arc::new(DeadLetterBus { targets, metrics })))
    }

    /// Publishes `record` (JSON) to every destination, each retried until it is accepted.
    // The key names the Kafka message; NATS messages carry none.
    #[cfg_attr(not(feature = "kafka"), allow(unused_variables))]
    pub async fn publish(&self, key: &str, record: &[u8]) {
        for target in &self.targets {
            let mut attempt = 1u32;
            loop {
                let result = match target {
                    #[cfg(feature = "kafka")]
                    Target::Kafka {
                        topic, producer, ..
                    } => {
                        let sent = producer
                            .send(
                                FutureRecord::to(topic).key(key).payload(record),
                                Duration::from_secs(5),
                            )
                            .await;
                        sent.map(|_| ()).map_err(|(e, _)| e.to_string())
                    }
                    Target::Nats {
                        subject,
                        client,
                        jetstream,
                        ..
                    } => publish_nats(client, jetstream.as_deref(), subject, record).await,
                };
                let Err(e) = result else { break };
                match target {
                    #[cfg(feature = "kafka")]
                    Target::Kafka { .. } => self
                        .metrics
                        .kafka
                        .errors
                        .with_label_values(&[metrics::kafka::error::PRODUCE]),
                    Target::Nats { .. } => self
                        .metrics
                        .nats
                        .errors
                        .with_label_values(&[metrics::nats::error::PUBLISH]),
                }
                .inc();
                if attempt == 1 || attempt.is_multiple_of(10) {
                    let shown = target.shown();
                    tracing::warn!(destination = %shown, attempt, error = %crate::base::redact_url(&e), "dead letter not accepted by its broker; retrying");
                }
                tokio::time::sleep(super::BROKER_RETRY.wait(attempt - 1, None)).await;
                attempt += 1;
            }
        }
    }
}

/// Without the `kafka` feature a Kafka destination is refused (validation refuses it first).
#[cfg(not(feature = "kafka"))]
fn open_kafka(k: &KafkaOutputConfig) -> Result<Target, OutputError> {
    Err(OutputError::Kafka {
        name: "dead_letter".to_owned(),
        destination: format!("kafka://{}/{}", k.brokers, k.topic),
        message: crate::features::missing(crate::features::Feature::Kafka),
    })
}

#[cfg(feature = "kafka")]
fn open_kafka(k: &KafkaOutputConfig) -> Result<Target, OutputError> {
    let shown = format!("kafka://{}/{}", k.brokers, k.topic);
    let fixed = [
        ("enable.idempotence", "true".to_owned()),
        ("acks", "all".to_owned()),
        ("message.timeout.ms", k.delivery_timeout_ms.to_string()),
        ("client.id", "nightwatch-dead-letter".to_owned()),
    ];
    let producer: FutureProducer = kafka::client_config(&k.brokers, &k.properties, &fixed)
        .create()
        .map_err(|e| OutputError::Kafka {
            name: "dead_letter".to_owned(),
            destination: shown.clone(),
            message: format!("creating the kafka producer: {e}"),
        })?;
    Ok(Target::Kafka {
        shown,
        topic: k.topic.clone(),
        producer,
    })
}

async fn publish_nats(
    client: &async_nats::Client,
    jetstream: Option<&async_nats::jetstream::Context>,
    subject: &str,
    record: &[u8],
) -> Result<(), String> {
    let payload = bytes::Bytes::copy_from_slice(record);
    match jetstream {
        Some(js) => js
            .publish(subject.to_owned(), payload)
            .await
            .map_err(|e| e.to_string())?
            .await
            .map(|_| ())
            .map_err(|e| e.to_string()),
        None => {
            client
                .publish(subject.to_owned(), payload)
                .await
                .map_err(|e| e.to_string())?;
            client.flush().await.map_err(|e| e.to_string())
        }
    }
}

#[cfg(all(test, feature = "kafka"))]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    use rdkafka::message::Message;
    use rdkafka::mocking::MockCluster;
    use rdkafka::{Offset, TopicPartitionList};

    use super::*;
    use crate::normalize::Format;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn parse_dead_letters_reach_the_kafka_topic_with_the_original_bytes() {
        let cluster = MockCluster::new(1).unwrap();
        cluster.create_topic("dead", 1, 1).unwrap();
        let bootstrap = cluster.bootstrap_servers();
        let cfg: DeadLetterConfig = toml::from_str(&format!(
            "path = \"\"\nkafka = {{ brokers = \"{bootstrap}\", topic = \"dead\" }}\n"
        ))
        .unwrap();
        let metrics = Arc::new(Metrics::new().unwrap());
        let bus = DeadLetterBus::open(&cfg, metrics).await.unwrap().unwrap();
        assert!(format!("{bus:?}").contains("kafka://"));
        let error = ParseError {
            format: Format::Json,
            input: Arc::from("stream"),
            file: Arc::from("telemetry/0"),
            position: Position::Record(41),
            reason: "expected value at line 1 column 1".to_owned(),
            raw: Some("not json\u{1}".to_owned()),
        };
        let json = serde_json::to_vec(&ParseDeadLetter::new(&error)).unwrap();
        bus.publish("stream", &json).await;

        let got = tokio::task::spawn_blocking(move || {
            let consumer: BaseConsumer = rdkafka::ClientConfig::new()
                .set("bootstrap.servers", &bootstrap)
                .set("group.id", "reader")
                .create()
                .unwrap();
            let mut tpl = TopicPartitionList::new();
            tpl.add_partition_offset("dead", 0, Offset::Beginning)
                .unwrap();
            consumer.assign(&tpl).unwrap();
            loop {
                if let Some(Ok(m)) = consumer.poll(Duration::from_secs(1)) {
                    let key = String::from_utf8_lossy(m.key().unwrap()).into_owned();
                    let body: serde_json::Value =
                        serde_json::from_slice(m.payload().unwrap()).unwrap();
                    return (key, body);
                }
            }
        })
        .await
        .unwrap();
        assert_eq!(got.0, "stream");
        let body = got.1;
        assert_eq!(body["kind"], "parse");
        assert_eq!(body["input"], "stream");
        assert_eq!(body["source"], "telemetry/0");
        assert_eq!(body["position"]["value"], 41);
        assert_eq!(body["format"], "json");
        let original = base64::engine::general_purpose::STANDARD
            .decode(body["original_base64"].as_str().unwrap())
            .unwrap();
        assert_eq!(original, b"not json\x01");
    }
}
