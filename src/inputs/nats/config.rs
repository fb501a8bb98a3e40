//! `[inputs.NAME] type = "nats"`: its table (the shared connection keys of
//! [`crate::nats::ServerConfig`] beside the input's own), defaults and checks, and the
//! settings they resolve to.

use std::time::Duration;

use serde::Deserialize;

use super::{JetStreamSettings, NatsInputError, NatsSettings};
use crate::base::Problem;
use crate::inputs::{format_problem, line_format};
use crate::nats::{Connection, NatsTable, name_problem, subject_problem};
use crate::normalize::Format;

/// `[inputs.NAME] type = "nats"`: the connection keys and the input's own.
pub type NatsInputConfig = NatsTable<NatsInputKeys>;

/// The keys of a NATS input besides the connection's: what it reads and how.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NatsInputKeys {
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
    /// Every problem of the table at key path `table`.
    pub fn problems(&self, table: &str) -> Vec<Problem> {
        let key = |k: &str| format!("{table}.{k}");
        let mut p = Vec::new();
        if let Some(m) = subject_problem(&self.subject, true) {
            p.push(Problem::new(key("subject"), m));
        }
        p.extend(format_problem(table, self.format.as_deref()));
        if let Some(g) = &self.queue_group
            && (g.is_empty() || g.chars().any(char::is_whitespace))
        {
            p.push(Problem::new(
                key("queue_group"),
                "must be a non-empty name without whitespace",
            ));
        }
        if let Some(js) = &self.jetstream {
            if self.queue_group.is_some() {
                p.push(Problem::new(
                    key("queue_group"),
                    "applies to core NATS only; JetStream consumers share work by name",
                ));
            }
            for (k, v) in [
                ("jetstream.stream", &js.stream),
                ("jetstream.consumer", &js.consumer),
            ] {
                if let Some(m) = name_problem(v) {
                    p.push(Problem::new(key(k), m));
                }
            }
            for s in &js.subjects {
                if let Some(m) = subject_problem(s, true) {
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
        p.extend(self.server.problems(table));
        p
    }
}

impl NatsSettings {
    /// Resolves a configuration: secrets from the environment, `max_ack_pending` 0 → the
    /// pipeline's channel capacity.
    pub fn from_config(
        name: &str,
        cfg: &NatsInputConfig,
        channel_capacity: usize,
    ) -> Result<Self, NatsInputError> {
        let auth = cfg
            .server
            .auth_keys()
            .resolve(|var| std::env::var(var).ok())
            .map_err(|reason| NatsInputError::Setup {
                input: name.to_owned(),
                url: cfg.server.url.redacted(),
                reason,
            })?;
        let jetstream = cfg.jetstream.as_ref().map(|js| JetStreamSettings {
            stream: js.stream.clone(),
            consumer: js.consumer.clone(),
            subjects: if js.subjects.is_empty() {
                vec![cfg.subject.clone()]
            } else {
                js.subjects.clone()
            },
            create: js.create,
            ack_wait: Duration::from_secs(js.ack_wait_secs.max(1)),
            max_ack_pending: match js.max_ack_pending {
                0 => channel_capacity.max(1),
                n => usize::try_from(n).unwrap_or(usize::MAX),
            },
        });
        Ok(NatsSettings {
            connection: Connection {
                url: cfg.server.url.clone(),
                auth,
                tls: cfg.server.tls.clone().unwrap_or_default(),
                client_name: format!("nightwatch/input/{name}"),
                // Core NATS: what the client buffers while the pipeline is full (beyond it the
                // server drops messages for a slow consumer). JetStream: pulls are bounded by
                // max_ack_pending anyway.
                subscription_capacity: channel_capacity.max(1),
            },
            subject: cfg.subject.clone(),
            queue_group: cfg.queue_group.clone(),
            jetstream,
            format: cfg
                .format
                .as_deref()
                .and_then(line_format)
                .unwrap_or(Format::Json),
        })
    }
}
