//! `[inputs.NAME]`: the input tables, selected by `type`, with their defaults.

use std::path::PathBuf;

use serde::Deserialize;

use super::{KafkaInputConfig, NatsInputConfig};

/// An input, selected by `type`.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum InputConfig {
    /// Files or directories read once, recursively.
    File { paths: Vec<PathBuf> },
    /// NDJSON on standard input.
    Stdin {},
    /// A syslog listener, UDP or TCP ([`crate::inputs::syslog`]).
    Syslog {
        listen: String,
        #[serde(default = "default_syslog_protocol")]
        protocol: String,
        #[serde(default = "default_max_message_bytes")]
        max_message_bytes: usize,
        #[serde(default = "default_max_connections")]
        max_connections: usize,
        /// TLS on a TCP listener (certificate, key, optional client CA for mutual TLS).
        #[serde(default)]
        tls: Option<crate::inputs::syslog::TlsFiles>,
    },
    /// Files matching globs, followed as they grow ([`crate::inputs::tail`]).
    Tail {
        paths: Vec<String>,
        #[serde(default)]
        format: Option<String>,
        #[serde(default = "default_fingerprint_lines")]
        fingerprint_lines: usize,
        #[serde(default = "default_max_line_bytes")]
        max_line_bytes: usize,
        #[serde(default = "default_poll_interval_ms")]
        poll_interval_ms: u64,
        #[serde(default = "default_rotate_wait_secs")]
        rotate_wait_secs: u64,
    },
    /// A NATS subject, core or through a JetStream durable consumer ([`crate::inputs::nats`]).
    Nats(Box<NatsInputConfig>),
    /// Kafka topics read through a consumer group ([`crate::inputs::kafka`]).
    Kafka(Box<KafkaInputConfig>),
}

fn default_syslog_protocol() -> String {
    "udp".into()
}
fn default_max_message_bytes() -> usize {
    65_536
}
fn default_max_connections() -> usize {
    1024
}
fn default_fingerprint_lines() -> usize {
    1
}
fn default_max_line_bytes() -> usize {
    65_536
}
fn default_poll_interval_ms() -> u64 {
    250
}
fn default_rotate_wait_secs() -> u64 {
    5
}

/// The line formats a tail input can follow, by configuration name.
pub fn tail_format(name: &str) -> Option<crate::normalize::Format> {
    use crate::normalize::Format;
    name.parse::<Format>().ok().filter(|f| {
        matches!(
            f,
            Format::Json | Format::Syslog | Format::WebAccess | Format::Text
        )
    })
}
