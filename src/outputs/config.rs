//! `[outputs.NAME]`: the verdict sinks, selected by `type`. The small ones (stdout, jsonl) are
//! described here; the webhook and NATS tables live with their sinks, the Kafka producer's in
//! [`crate::kafka`] (the dead-letter output uses it too).

use std::path::PathBuf;

use serde::Deserialize;

use super::nats::NatsOutputConfig;
use super::webhook::WebhookConfig;
use crate::base::Problem;
use crate::kafka::KafkaOutputConfig;

/// A verdict output, selected by `type`.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum OutputConfig {
    /// One verdict JSON per line on standard output.
    Stdout(StdoutConfig),
    /// One verdict JSON per line appended to a file.
    Jsonl(JsonlConfig),
    /// One HTTP POST per verdict ([`crate::outputs::webhook`]).
    Webhook(WebhookConfig),
    /// Each verdict published on a NATS subject ([`crate::outputs::nats`]).
    Nats(Box<NatsOutputConfig>),
    /// Each verdict produced to a Kafka topic ([`crate::outputs::kafka`]).
    Kafka(Box<KafkaOutputConfig>),
}

/// `[outputs.NAME] type = "stdout"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StdoutConfig {
    #[serde(default)]
    pub format: OutputFormat,
}

/// `[outputs.NAME] type = "jsonl"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JsonlConfig {
    pub path: PathBuf,
    #[serde(default)]
    pub format: OutputFormat,
}

/// What a stdout, jsonl or nats output writes for each verdict.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutputFormat {
    /// The `nightwatch.verdict.v1` document.
    #[default]
    Native,
    /// An OCSF Detection Finding ([`crate::outputs::ocsf`]).
    Ocsf,
}

impl OutputConfig {
    /// Every problem of `[outputs.NAME]`, each under its key path.
    pub fn problems(&self, name: &str) -> Vec<Problem> {
        let table = format!("outputs.{name}");
        match self {
            OutputConfig::Stdout(_) => Vec::new(),
            OutputConfig::Jsonl(j) if j.path.as_os_str().is_empty() => {
                vec![Problem::new(format!("{table}.path"), "must not be empty")]
            }
            OutputConfig::Jsonl(_) => Vec::new(),
            OutputConfig::Webhook(w) => w.problems(&table),
            OutputConfig::Nats(n) => n.problems(&table),
            OutputConfig::Kafka(k) => k.problems(&table),
        }
    }
}
