//! `[inputs.NAME] type = "kafka"`: its table, defaults and checks.

use serde::Deserialize;

use crate::base::Problem;
use crate::inputs::format_problem;
use crate::kafka::{CONSUMER_RESERVED, Properties, refuse_without_kafka};

/// `[inputs.NAME] type = "kafka"`: topics read through a consumer group.
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
    #[serde(default = "default_offset_reset")]
    pub auto_offset_reset: String,
    /// Messages read and not yet finished before the input pauses its partitions; 0 means
    /// `pipeline.channel_capacity`.
    #[serde(default)]
    pub max_in_flight: usize,
    /// How often librdkafka reports statistics (the consumer lag gauge); 0 turns them off.
    #[serde(default = "default_statistics_ms")]
    pub statistics_interval_ms: u64,
    /// librdkafka properties passed through (security.protocol, sasl.*, ssl.*, tuning).
    #[serde(default)]
    pub properties: Properties,
}

fn default_offset_reset() -> String {
    "earliest".into()
}
fn default_statistics_ms() -> u64 {
    5_000
}

impl KafkaInputConfig {
    /// Every problem of the table at key path `table`.
    pub fn problems(&self, table: &str) -> Vec<Problem> {
        let key = |s: &str| format!("{table}.{s}");
        let mut p = refuse_without_kafka(table);
        for (k, m) in crate::kafka::problems(&self.brokers, &self.properties, CONSUMER_RESERVED) {
            p.push(Problem::new(key(&k), m));
        }
        if self.group_id.trim().is_empty() {
            p.push(Problem::new(key("group_id"), "must not be empty"));
        }
        if self.topics.is_empty() {
            p.push(Problem::new(
                key("topics"),
                "must name at least one topic or ^pattern",
            ));
        }
        for t in &self.topics {
            if t.trim().is_empty() {
                p.push(Problem::new(key("topics"), "a topic name is empty"));
            } else if t.starts_with('^')
                && let Err(e) = regex::Regex::new(t)
            {
                p.push(Problem::new(key("topics"), format!("`{t}`: {e}")));
            }
        }
        p.extend(format_problem(table, self.format.as_deref()));
        if !matches!(self.auto_offset_reset.as_str(), "earliest" | "latest") {
            p.push(Problem::new(
                key("auto_offset_reset"),
                format!("`{}` is not earliest or latest", self.auto_offset_reset),
            ));
        }
        p
    }
}
