//! Kafka clients shared by the input ([`crate::inputs::kafka`]) and the verdict output
//! ([`crate::outputs::kafka`]): librdkafka properties from the configuration (secrets never
//! shown), the settings each side fixes itself, validation, librdkafka's log lines routed to
//! `tracing`, and the consumer lag read from librdkafka's statistics.
//!
//! The properties, reserved keys and validation are compiled in every build (the configuration
//! parses and is checked the same way); the librdkafka parts only with the `kafka` feature.

use std::collections::BTreeMap;
use std::fmt;

#[cfg(feature = "kafka")]
use rdkafka::ClientConfig;
#[cfg(feature = "kafka")]
use rdkafka::config::RDKafkaLogLevel;
#[cfg(feature = "kafka")]
use rdkafka::statistics::Statistics;
use serde::Deserialize;

/// librdkafka properties passed through from `[inputs.NAME.properties]` /
/// `[outputs.NAME.properties]` (security, SASL, TLS, tuning). `Debug` shows the keys and the
/// values of non-secret keys only.
#[derive(Clone, Default, Deserialize)]
#[serde(transparent)]
pub struct Properties(BTreeMap<String, PropertyValue>);

/// A property value as TOML may spell it; librdkafka takes every value as a string.
#[derive(Clone, Deserialize)]
#[serde(untagged)]
pub enum PropertyValue {
    Text(String),
    Integer(i64),
    Float(f64),
    Bool(bool),
}

impl fmt::Display for PropertyValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PropertyValue::Text(s) => f.write_str(s),
            PropertyValue::Integer(n) => write!(f, "{n}"),
            PropertyValue::Float(x) => write!(f, "{x}"),
            PropertyValue::Bool(b) => write!(f, "{b}"),
        }
    }
}

impl Properties {
    /// Properties from pairs (tests and programmatic configuration).
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        Properties(
            pairs
                .into_iter()
                .map(|(k, v)| (k.to_owned(), PropertyValue::Text(v.to_owned())))
                .collect(),
        )
    }

    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.0.keys().map(String::as_str)
    }

    pub fn get(&self, key: &str) -> Option<String> {
        self.0.get(key).map(ToString::to_string)
    }
}

/// True for the keys whose values are secrets (passwords, private keys, tokens, JAAS and
/// OAuth configurations).
pub fn is_secret(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    [
        "password",
        "secret",
        "key.pem",
        "token",
        "jaas",
        "oauthbearer.config",
        "credentials",
    ]
    .iter()
    .any(|s| k.contains(s))
}

impl fmt::Debug for Properties {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut map = f.debug_map();
        for (k, v) in &self.0 {
            if is_secret(k) {
                map.entry(k, &"<redacted>");
            } else {
                map.entry(k, &v.to_string());
            }
        }
        map.finish()
    }
}

/// Keys nightwatch sets itself on a consumer: its at-least-once offset handling depends on
/// them, and the input's own keys name the others.
pub const CONSUMER_RESERVED: &[&str] = &[
    "bootstrap.servers",
    "metadata.broker.list",
    "group.id",
    "enable.auto.commit",
    "enable.auto.offset.store",
    "auto.offset.reset",
    "statistics.interval.ms",
];

/// Keys nightwatch sets itself on the verdict producer.
pub const PRODUCER_RESERVED: &[&str] = &[
    "bootstrap.servers",
    "metadata.broker.list",
    "enable.idempotence",
    "acks",
    "request.required.acks",
    "message.timeout.ms",
    "delivery.timeout.ms",
];

/// Problems of a client's keys, as (key suffix, message).
pub fn problems(
    brokers: &str,
    properties: &Properties,
    reserved: &[&str],
) -> Vec<(String, String)> {
    let mut p = Vec::new();
    if brokers.split(',').all(|b| b.trim().is_empty()) {
        p.push((
            "brokers".to_owned(),
            "must name at least one host:port".to_owned(),
        ));
    }
    for key in properties.keys() {
        if reserved.contains(&key) {
            p.push((
                format!("properties.{key}"),
                "set by nightwatch itself (see the README)".to_owned(),
            ));
        }
    }
    p
}

/// A verdict or dead-letter producer (`[outputs.NAME] type = "kafka"`, `[dead_letter.kafka]`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KafkaOutputConfig {
    /// Bootstrap servers, `host:port` comma-separated.
    pub brokers: String,
    /// Topic the verdicts are produced to.
    pub topic: String,
    /// How long librdkafka keeps trying one attempt (`message.timeout.ms`).
    #[serde(default = "default_delivery_timeout_ms")]
    pub delivery_timeout_ms: u64,
    /// Attempts after the first before the verdict is dead-lettered.
    #[serde(default = "crate::flow::retry::default_sink_max_retries")]
    pub max_retries: u32,
    #[serde(default = "crate::flow::retry::default_sink_backoff_ms")]
    pub retry_backoff_ms: u64,
    #[serde(default = "crate::flow::retry::default_sink_backoff_max_ms")]
    pub retry_backoff_max_ms: u64,
    /// librdkafka properties passed through (security.protocol, sasl.*, ssl.*, tuning).
    #[serde(default)]
    pub properties: Properties,
}

fn default_delivery_timeout_ms() -> u64 {
    30_000
}

impl KafkaOutputConfig {
    /// Every problem of the table at key path `table`.
    pub fn problems(&self, table: &str) -> Vec<crate::base::Problem> {
        use crate::base::Problem;
        let key = |s: &str| format!("{table}.{s}");
        let mut p = refuse_without_kafka(table);
        for (k, m) in problems(&self.brokers, &self.properties, PRODUCER_RESERVED) {
            p.push(Problem::new(key(&k), m));
        }
        if self.topic.trim().is_empty() {
            p.push(Problem::new(key("topic"), "must not be empty"));
        }
        p.extend(crate::flow::retry::sink_timing_problems(
            table,
            ("delivery_timeout_ms", self.delivery_timeout_ms),
            self.retry_backoff_ms,
            self.retry_backoff_max_ms,
        ));
        p
    }
}

/// A build without the `kafka` feature parses the Kafka tables but refuses them, at the table's
/// key path (the other problems of the table are still listed).
pub fn refuse_without_kafka(table: &str) -> Vec<crate::base::Problem> {
    if cfg!(feature = "kafka") {
        return Vec::new();
    }
    vec![crate::base::Problem::new(
        table,
        crate::features::missing(crate::features::Feature::Kafka),
    )]
}

/// A client configuration: the user's properties, then the fixed ones (which win).
#[cfg(feature = "kafka")]
pub fn client_config(
    brokers: &str,
    properties: &Properties,
    fixed: &[(&str, String)],
) -> ClientConfig {
    let mut c = ClientConfig::new();
    for (k, v) in &properties.0 {
        c.set(k, v.to_string());
    }
    c.set("bootstrap.servers", brokers);
    for (k, v) in fixed {
        c.set(*k, v);
    }
    c.set_log_level(RDKafkaLogLevel::Warning);
    c
}

/// Routes one librdkafka log line to `tracing` (target `nightwatch::kafka`). librdkafka logs
/// connection failures itself, once per broker state change, so these are not rate-limited.
#[cfg(feature = "kafka")]
pub fn log(role: &str, name: &str, level: RDKafkaLogLevel, facility: &str, message: &str) {
    match level {
        RDKafkaLogLevel::Emerg
        | RDKafkaLogLevel::Alert
        | RDKafkaLogLevel::Critical
        | RDKafkaLogLevel::Error => {
            tracing::error!(kafka = role, name, facility, "librdkafka: {message}")
        }
        RDKafkaLogLevel::Warning => {
            tracing::warn!(kafka = role, name, facility, "librdkafka: {message}")
        }
        RDKafkaLogLevel::Notice | RDKafkaLogLevel::Info => {
            tracing::info!(kafka = role, name, facility, "librdkafka: {message}")
        }
        RDKafkaLogLevel::Debug => {
            tracing::debug!(kafka = role, name, facility, "librdkafka: {message}")
        }
    }
}

/// Messages behind in every partition this consumer owns, summed: for each partition the
/// high watermark minus the stored offset (what a restart would resume from), or minus the
/// committed offset when nothing was stored yet. Unknown lags (-1) count as 0.
#[cfg(feature = "kafka")]
pub fn consumer_lag(stats: &Statistics) -> i64 {
    stats
        .topics
        .values()
        .flat_map(|t| t.partitions.values())
        .filter(|p| p.partition >= 0)
        .map(|p| {
            if p.consumer_lag_stored >= 0 {
                p.consumer_lag_stored
            } else {
                p.consumer_lag.max(0)
            }
        })
        .sum()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_secret_values_and_values_become_strings() {
        let p: Properties = toml::from_str(
            r#"
"sasl.password" = "hunter2"
"ssl.key.password" = "k3y"
"sasl.oauthbearer.client.secret" = "s3cret"
"sasl.username" = "svc"
"session.timeout.ms" = 6000
"enable.ssl.certificate.verification" = false
"#,
        )
        .unwrap();
        let shown = format!("{p:?}");
        for secret in ["hunter2", "k3y", "s3cret"] {
            assert!(!shown.contains(secret), "{shown}");
        }
        assert!(shown.contains("svc") && shown.contains("6000"), "{shown}");
        assert_eq!(p.get("session.timeout.ms").as_deref(), Some("6000"));
        assert_eq!(
            p.get("enable.ssl.certificate.verification").as_deref(),
            Some("false")
        );
        #[cfg(feature = "kafka")]
        {
            let c = client_config("h:9092", &p, &[("acks", "all".to_owned())]);
            assert_eq!(c.get("sasl.password"), Some("hunter2"));
            assert_eq!(c.get("bootstrap.servers"), Some("h:9092"));
            assert_eq!(c.get("acks"), Some("all"));
        }
    }

    #[test]
    fn reserved_keys_and_missing_brokers_are_problems() {
        let p = Properties::from_pairs([("enable.auto.commit", "false"), ("client.id", "x")]);
        let found = problems(" , ", &p, CONSUMER_RESERVED);
        let keys: Vec<&str> = found.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["brokers", "properties.enable.auto.commit"]);
        assert!(problems("a:1", &Properties::default(), PRODUCER_RESERVED).is_empty());
    }

    #[cfg(feature = "kafka")]
    #[test]
    fn lag_sums_partitions_and_ignores_unknowns() {
        let json = r#"{"name":"c","client_id":"c","type":"consumer","ts":0,"time":0,"age":0,
          "replyq":0,"msg_cnt":0,"msg_size":0,"msg_max":0,"msg_size_max":0,"simple_cnt":0,
          "metadata_cache_cnt":0,"tx":0,"tx_bytes":0,"rx":0,"rx_bytes":0,"txmsgs":0,
          "txmsg_bytes":0,"rxmsgs":0,"rxmsg_bytes":0,"brokers":{},"topics":{"t":{"topic":"t",
          "age":0,"metadata_age":0,"batchsize":{"min":0,"max":0,"avg":0,"sum":0,"stddev":0,
          "p50":0,"p75":0,"p90":0,"p95":0,"p99":0,"p99_99":0,"outofrange":0,"hdrsize":0,"cnt":0},
          "batchcnt":{"min":0,"max":0,"avg":0,"sum":0,"stddev":0,"p50":0,"p75":0,"p90":0,
          "p95":0,"p99":0,"p99_99":0,"outofrange":0,"hdrsize":0,"cnt":0},"partitions":{
          "0":{"partition":0,"broker":1,"leader":1,"desired":true,"unknown":false,"msgq_cnt":0,
          "msgq_bytes":0,"xmit_msgq_cnt":0,"xmit_msgq_bytes":0,"fetchq_cnt":0,"fetchq_size":0,
          "fetch_state":"active","query_offset":0,"next_offset":0,"app_offset":0,
          "stored_offset":10,"committed_offset":5,"eof_offset":0,"lo_offset":0,"hi_offset":25,
          "ls_offset":25,"consumer_lag":20,"consumer_lag_stored":15,"txmsgs":0,"txbytes":0,
          "rxmsgs":0,"rxbytes":0,"msgs":0,"rx_ver_drops":0,"msgs_inflight":0,
          "next_ack_seq":0,"next_err_seq":0,"acked_msgid":0},
          "1":{"partition":1,"broker":1,"leader":1,"desired":true,"unknown":false,"msgq_cnt":0,
          "msgq_bytes":0,"xmit_msgq_cnt":0,"xmit_msgq_bytes":0,"fetchq_cnt":0,"fetchq_size":0,
          "fetch_state":"active","query_offset":0,"next_offset":0,"app_offset":0,
          "stored_offset":-1001,"committed_offset":-1001,"eof_offset":0,"lo_offset":0,
          "hi_offset":7,"ls_offset":7,"consumer_lag":-1,"consumer_lag_stored":-1,"txmsgs":0,
          "txbytes":0,"rxmsgs":0,"rxbytes":0,"msgs":0,"rx_ver_drops":0,"msgs_inflight":0,
          "next_ack_seq":0,"next_err_seq":0,"acked_msgid":0},
          "-1":{"partition":-1,"broker":-1,"leader":-1,"desired":false,"unknown":false,
          "msgq_cnt":0,"msgq_bytes":0,"xmit_msgq_cnt":0,"xmit_msgq_bytes":0,"fetchq_cnt":0,
          "fetchq_size":0,"fetch_state":"none","query_offset":0,"next_offset":0,"app_offset":0,
          "stored_offset":0,"committed_offset":0,"eof_offset":0,"lo_offset":0,"hi_offset":0,
          "ls_offset":0,"consumer_lag":99,"consumer_lag_stored":99,"txmsgs":0,"txbytes":0,
          "rxmsgs":0,"rxbytes":0,"msgs":0,"rx_ver_drops":0,"msgs_inflight":0,
          "next_ack_seq":0,"next_err_seq":0,"acked_msgid":0}}}}}"#;
        let stats: Statistics = serde_json::from_str(json).unwrap();
        assert_eq!(consumer_lag(&stats), 15);
    }
}
