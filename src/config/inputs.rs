//! `[inputs.NAME]`: the input tables, selected by `type`, with their defaults.

use std::path::PathBuf;

use serde::Deserialize;

use super::{KafkaInputConfig, NatsInputConfig};

/// Default cap of one line of the file and stdin inputs, in bytes (the tail input's
/// `max_line_bytes` keeps its own default of 64 KiB).
pub const DEFAULT_MAX_LINE_BYTES: usize = 1 << 20;

/// Default of the file input's `max_document_bytes`: 1 GiB.
pub const DEFAULT_MAX_DOCUMENT_BYTES: u64 = 1 << 30;

/// `tls = { cert = "...", key = "...", client_ca = "..." }` of a TCP syslog input: PEM files.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsFiles {
    /// The server certificate chain, leaf first.
    pub cert: PathBuf,
    /// The server's private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
    /// CA certificates a client certificate must chain to; when set, clients must present one.
    #[serde(default)]
    pub client_ca: Option<PathBuf>,
}

/// An input, selected by `type`.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum InputConfig {
    /// Files or directories read once, recursively ([`crate::inputs::file`]).
    File {
        paths: Vec<PathBuf>,
        /// Longer lines are cut to this many bytes and marked.
        #[serde(default = "default_file_max_line_bytes")]
        max_line_bytes: usize,
        /// Largest file (or decompressed content) read whole for a one-document format
        /// (packet captures, emails, Zeek, XML, JSON that is not NDJSON); larger ones are
        /// dead-lettered, not cut.
        #[serde(default = "default_max_document_bytes")]
        max_document_bytes: u64,
    },
    /// NDJSON on standard input.
    Stdin {
        /// Longer lines are cut to this many bytes and marked.
        #[serde(default = "default_file_max_line_bytes")]
        max_line_bytes: usize,
    },
    /// A syslog listener, UDP or TCP ([`crate::inputs::syslog`]).
    Syslog {
        listen: String,
        #[serde(default = "default_syslog_protocol")]
        protocol: String,
        #[serde(default = "default_max_message_bytes")]
        max_message_bytes: usize,
        #[serde(default = "default_max_connections")]
        max_connections: usize,
        /// TCP: open connections from one IP address at most.
        #[serde(default = "default_max_connections_per_peer")]
        max_connections_per_peer: usize,
        /// TCP: a connection silent this long is closed.
        #[serde(default = "default_idle_timeout_secs")]
        idle_timeout_secs: u64,
        /// UDP: `SO_RCVBUF` to ask for; 0 keeps the system default.
        #[serde(default = "default_receive_buffer_bytes")]
        receive_buffer_bytes: usize,
        /// TLS on a TCP listener (certificate, key, optional client CA for mutual TLS).
        #[serde(default)]
        tls: Option<TlsFiles>,
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
        /// Write the checkpoint once this many lines are delivered since the last write …
        #[serde(default = "default_checkpoint_every")]
        checkpoint_every: usize,
        /// … or once this long has passed with progress, whichever comes first.
        #[serde(default = "default_checkpoint_interval_ms")]
        checkpoint_interval_ms: u64,
        /// Lines read past the last delivered position before the tail waits; 0 means
        /// `pipeline.channel_capacity`.
        #[serde(default)]
        max_in_flight: usize,
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
/// One address may hold 1/16 of the default total: a relay or a NAT gateway has room, a
/// single host cannot lock the others out.
fn default_max_connections_per_peer() -> usize {
    64
}
/// Five minutes: far longer than a live sender's gap between messages or reconnects, short
/// enough that connections left open by crashed or hostile senders do not pile up.
fn default_idle_timeout_secs() -> u64 {
    300
}
/// 4 MiB: a burst of ~10k typical datagrams; Linux grants at most twice `net.core.rmem_max`.
fn default_receive_buffer_bytes() -> usize {
    4 * 1024 * 1024
}
fn default_fingerprint_lines() -> usize {
    1
}
fn default_max_line_bytes() -> usize {
    65_536
}
fn default_file_max_line_bytes() -> usize {
    DEFAULT_MAX_LINE_BYTES
}
fn default_max_document_bytes() -> u64 {
    DEFAULT_MAX_DOCUMENT_BYTES
}
fn default_poll_interval_ms() -> u64 {
    250
}
fn default_rotate_wait_secs() -> u64 {
    5
}
fn default_checkpoint_every() -> usize {
    1000
}
fn default_checkpoint_interval_ms() -> u64 {
    250
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
