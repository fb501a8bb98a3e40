//! The Kafka and NATS tables that inputs, outputs and the dead-letter output embed, and their
//! validation (connection, authentication and TLS keys, consumer and producer settings).

use std::path::PathBuf;

use serde::Deserialize;

use super::outputs::{
    default_webhook_backoff_max_ms, default_webhook_backoff_ms, default_webhook_max_retries,
};
use super::{OutputFormat, Problem, tail_format};
use crate::nats::{AuthKeys, NatsUrl, TlsConfig};

/// `[inputs.NAME] type = "kafka"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KafkaInputConfig {
    /// Bootstrap servers, `host:port` comma-separated.
    pub brokers: String,
    /// Consumer group.
    pub group_id: String,
    /// Topic names, or regular expressions starting with `^`.
    pub topics: Vec<String>,
    /// Line format of each message's lines: json (default), syslog, web_access or text.
    #[serde(default)]
    pub format: Option<String>,
    /// Where a partition without a committed offset starts: `earliest` (default) or `latest`.
    #[serde(default = "default_kafka_offset_reset")]
    pub auto_offset_reset: String,
    /// Messages read and not yet finished before the input pauses its partitions; 0 means
    /// `pipeline.channel_capacity`.
    #[serde(default)]
    pub max_in_flight: usize,
    /// How often librdkafka reports statistics (the consumer lag gauge); 0 turns them off.
    #[serde(default = "default_kafka_statistics_ms")]
    pub statistics_interval_ms: u64,
    /// librdkafka properties passed through (security.protocol, sasl.*, ssl.*, tuning).
    #[serde(default)]
    pub properties: crate::kafka::Properties,
}

fn default_kafka_offset_reset() -> String {
    "earliest".into()
}
fn default_kafka_statistics_ms() -> u64 {
    5_000
}

/// `[outputs.NAME] type = "kafka"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KafkaOutputConfig {
    /// Bootstrap servers, `host:port` comma-separated.
    pub brokers: String,
    /// Topic the verdicts are produced to.
    pub topic: String,
    /// How long librdkafka keeps trying one attempt (`message.timeout.ms`).
    #[serde(default = "default_kafka_delivery_timeout_ms")]
    pub delivery_timeout_ms: u64,
    /// Attempts after the first before the verdict is dead-lettered.
    #[serde(default = "default_webhook_max_retries")]
    pub max_retries: u32,
    #[serde(default = "default_webhook_backoff_ms")]
    pub retry_backoff_ms: u64,
    #[serde(default = "default_webhook_backoff_max_ms")]
    pub retry_backoff_max_ms: u64,
    /// librdkafka properties passed through (security.protocol, sasl.*, ssl.*, tuning).
    #[serde(default)]
    pub properties: crate::kafka::Properties,
}

fn default_kafka_delivery_timeout_ms() -> u64 {
    30_000
}

/// `[inputs.NAME] type = "nats"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NatsInputConfig {
    /// Server URL(s), comma-separated; printed redacted.
    pub url: NatsUrl,
    /// Subject to read (wildcards allowed); with JetStream, the consumer's filter subject.
    pub subject: String,
    /// Core NATS only: share the subject's messages with the other members of this group.
    #[serde(default)]
    pub queue_group: Option<String>,
    /// Read through a JetStream durable pull consumer (at-least-once) instead of core NATS.
    #[serde(default)]
    pub jetstream: Option<JetStreamInputConfig>,
    /// Line format of each message's lines: json (default), syslog, web_access or text.
    #[serde(default)]
    pub format: Option<String>,
    #[serde(default)]
    pub credentials_file: Option<PathBuf>,
    #[serde(default)]
    pub token_env: Option<String>,
    #[serde(default)]
    pub user: Option<String>,
    #[serde(default)]
    pub password_env: Option<String>,
    #[serde(default)]
    pub tls: Option<TlsConfig>,
}

/// `jetstream = { … }` of a NATS input.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JetStreamInputConfig {
    pub stream: String,
    /// Durable consumer name.
    pub consumer: String,
    /// Subjects of the stream when it is created (default: the input's `subject`).
    #[serde(default)]
    pub subjects: Vec<String>,
    /// Create the stream (file storage) and the consumer when absent; with `true` the
    /// consumer's ack_wait and max_ack_pending are also updated to these values.
    #[serde(default)]
    pub create: bool,
    /// Seconds JetStream waits for an acknowledgement before redelivering.
    #[serde(default = "default_ack_wait_secs")]
    pub ack_wait_secs: u64,
    /// Unacknowledged messages the consumer may have out; 0 means `pipeline.channel_capacity`.
    #[serde(default)]
    pub max_ack_pending: u64,
}

fn default_ack_wait_secs() -> u64 {
    60
}

impl NatsInputConfig {
    pub fn auth_keys(&self) -> AuthKeys {
        AuthKeys {
            credentials_file: self.credentials_file.clone(),
            token_env: self.token_env.clone(),
            user: self.user.clone(),
            password_env: self.password_env.clone(),
        }
    }
}

/// `[outputs.NAME] type = "nats"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NatsOutputConfig {
    pub url: NatsUrl,
    /// Subject the verdicts are published on (no wildcards).
    pub subject: String,
    /// Publish through JetStream (a stream must capture the subject): wait for the broker's
    /// ack, retry with backoff, `Nats-Msg-Id` = verdict id for dedup.
    #[serde(default)]
    pub jetstream: bool,
    /// `native` (the verdict document) or `ocsf` (an OCSF Detection Finding).
    #[serde(default)]
    pub format: OutputFormat,
    #[serde(default)]
    pub credentials_file: Option<PathBuf>,
    #[serde(default)]
    pub token_env: Option<String>,
    #[serde(default)]
    pub user: Option<String>,
    #[serde(default)]
    pub password_env: Option<String>,
    #[serde(default)]
    pub tls: Option<TlsConfig>,
}

impl NatsOutputConfig {
    pub fn auth_keys(&self) -> AuthKeys {
        AuthKeys {
            credentials_file: self.credentials_file.clone(),
            token_env: self.token_env.clone(),
            user: self.user.clone(),
            password_env: self.password_env.clone(),
        }
    }
}

/// Problems of the connection keys shared by NATS inputs and outputs.
pub(super) fn nats_connection_problems(
    key: &dyn Fn(&str) -> String,
    url: &NatsUrl,
    auth: &AuthKeys,
    tls: Option<&TlsConfig>,
    p: &mut Vec<Problem>,
) {
    if let Some(m) = crate::nats::url_problem(url) {
        p.push(Problem::new(key("url"), m));
    }
    let env = |var: &str| std::env::var(var).ok();
    for (k, m) in auth.problems(env) {
        p.push(Problem::new(key(k), m));
    }
    for (k, m) in tls.map(TlsConfig::problems).unwrap_or_default() {
        p.push(Problem::new(key(k), m));
    }
}

/// A build without the `kafka` feature parses the Kafka tables but refuses them, at the table's
/// key path (the other problems of the table are still listed).
fn refuse_without_kafka(key: &str, p: &mut Vec<Problem>) {
    if cfg!(not(feature = "kafka")) {
        p.push(Problem::new(
            key,
            crate::features::missing(crate::features::Feature::Kafka),
        ));
    }
}

pub(super) fn validate_kafka_input(name: &str, k: &KafkaInputConfig, p: &mut Vec<Problem>) {
    refuse_without_kafka(&format!("inputs.{name}"), p);
    let key = |s: &str| format!("inputs.{name}.{s}");
    for (k, m) in crate::kafka::problems(&k.brokers, &k.properties, crate::kafka::CONSUMER_RESERVED)
    {
        p.push(Problem::new(key(&k), m));
    }
    if k.group_id.trim().is_empty() {
        p.push(Problem::new(key("group_id"), "must not be empty"));
    }
    if k.topics.is_empty() {
        p.push(Problem::new(
            key("topics"),
            "must name at least one topic or ^pattern",
        ));
    }
    for t in &k.topics {
        if t.trim().is_empty() {
            p.push(Problem::new(key("topics"), "a topic name is empty"));
        } else if t.starts_with('^')
            && let Err(e) = regex::Regex::new(t)
        {
            p.push(Problem::new(key("topics"), format!("`{t}`: {e}")));
        }
    }
    if let Some(f) = &k.format
        && tail_format(f).is_none()
    {
        p.push(Problem::new(
            key("format"),
            format!("`{f}` is not one of json, syslog, web_access, text"),
        ));
    }
    if !matches!(k.auto_offset_reset.as_str(), "earliest" | "latest") {
        p.push(Problem::new(
            key("auto_offset_reset"),
            format!("`{}` is not earliest or latest", k.auto_offset_reset),
        ));
    }
}

pub(super) fn validate_kafka_output(name: &str, k: &KafkaOutputConfig, p: &mut Vec<Problem>) {
    validate_kafka_producer(&format!("outputs.{name}"), k, p);
}

pub(super) fn validate_kafka_producer(prefix: &str, k: &KafkaOutputConfig, p: &mut Vec<Problem>) {
    refuse_without_kafka(prefix, p);
    let key = |s: &str| format!("{prefix}.{s}");
    for (k, m) in crate::kafka::problems(&k.brokers, &k.properties, crate::kafka::PRODUCER_RESERVED)
    {
        p.push(Problem::new(key(&k), m));
    }
    if k.topic.trim().is_empty() {
        p.push(Problem::new(key("topic"), "must not be empty"));
    }
    for (s, v) in [
        ("delivery_timeout_ms", k.delivery_timeout_ms),
        ("retry_backoff_ms", k.retry_backoff_ms),
    ] {
        if v == 0 {
            p.push(Problem::new(key(s), "must be at least 1"));
        }
    }
    if k.retry_backoff_max_ms < k.retry_backoff_ms {
        p.push(Problem::new(
            key("retry_backoff_max_ms"),
            "must be at least retry_backoff_ms",
        ));
    }
}

pub(super) fn validate_nats_input(name: &str, n: &NatsInputConfig, p: &mut Vec<Problem>) {
    let key = |k: &str| format!("inputs.{name}.{k}");
    if let Some(m) = crate::nats::subject_problem(&n.subject, true) {
        p.push(Problem::new(key("subject"), m));
    }
    if let Some(f) = &n.format
        && tail_format(f).is_none()
    {
        p.push(Problem::new(
            key("format"),
            format!("`{f}` is not one of json, syslog, web_access, text"),
        ));
    }
    if let Some(g) = &n.queue_group
        && (g.is_empty() || g.chars().any(char::is_whitespace))
    {
        p.push(Problem::new(
            key("queue_group"),
            "must be a non-empty name without whitespace",
        ));
    }
    if let Some(js) = &n.jetstream {
        if n.queue_group.is_some() {
            p.push(Problem::new(
                key("queue_group"),
                "applies to core NATS only; JetStream consumers share work by name",
            ));
        }
        for (k, v) in [
            ("jetstream.stream", &js.stream),
            ("jetstream.consumer", &js.consumer),
        ] {
            if let Some(m) = crate::nats::name_problem(v) {
                p.push(Problem::new(key(k), m));
            }
        }
        for s in &js.subjects {
            if let Some(m) = crate::nats::subject_problem(s, true) {
                p.push(Problem::new(key("jetstream.subjects"), m));
            }
        }
        if !js.subjects.is_empty() && !js.create {
            p.push(Problem::new(
                key("jetstream.subjects"),
                "only used when creating the stream (create = true)",
            ));
        }
        if js.ack_wait_secs == 0 {
            p.push(Problem::new(
                key("jetstream.ack_wait_secs"),
                "must be at least 1",
            ));
        }
    }
    nats_connection_problems(&key, &n.url, &n.auth_keys(), n.tls.as_ref(), p);
}
