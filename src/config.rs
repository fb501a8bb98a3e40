//! Configuration: the embedded default file, environment overrides, and validation.
//!
//! Loading is two steps. [`load`] reads TOML (the given file, or `config/nightwatch.toml` as
//! compiled into the binary), applies `NIGHTWATCH__SECTION__KEY` environment overrides, and
//! deserializes into [`Config`], collecting every unknown key with its path. [`Config::validate`]
//! then checks values and collects every problem, each naming its key path, so a user fixes a
//! file in one pass.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::nats::{AuthKeys, NatsUrl, TlsConfig};

/// The documented default configuration, compiled into the binary.
pub const DEFAULT_TOML: &str = include_str!("../config/nightwatch.toml");

/// Prefix of environment overrides: `NIGHTWATCH__API__LISTEN=…` sets `api.listen`.
pub const ENV_PREFIX: &str = "NIGHTWATCH__";

/// One problem found in a configuration, with the key path it concerns.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key}: {message}")]
pub struct Problem {
    /// Dotted key path, e.g. `pipeline.channel_capacity`.
    pub key: String,
    pub message: String,
}

impl Problem {
    fn new(key: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            message: message.into(),
        }
    }
}

/// Why a configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("reading config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The file is not valid TOML.
    #[error("parsing config {origin}: {message}")]
    Syntax { origin: String, message: String },
    /// The file parsed but has invalid or unknown keys.
    #[error("invalid config {origin}:\n{}", list(.problems))]
    Invalid {
        origin: String,
        problems: Vec<Problem>,
    },
}

fn list(problems: &[Problem]) -> String {
    problems
        .iter()
        .map(|p| format!("  - {p}"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[derive(Debug, Clone, Deserialize)]
pub struct Config {
    pub version: u32,
    pub api: ApiConfig,
    pub pipeline: PipelineConfig,
    pub rules: RulesConfig,
    pub cases: CasesConfig,
    pub log: LogConfig,
    pub demo: DemoConfig,
    #[serde(default)]
    pub inputs: BTreeMap<String, InputConfig>,
    #[serde(default)]
    pub outputs: BTreeMap<String, OutputConfig>,
    pub dead_letter: DeadLetterConfig,
    pub state: StateConfig,
    pub verdict: VerdictConfig,
    pub history: HistoryConfig,
    /// `[cluster]`: instance id and history replication across instances.
    #[serde(default)]
    pub cluster: crate::cluster::ClusterConfig,
    /// `[intel]`: indicator extraction, offline feeds, threat-intel providers.
    #[serde(default)]
    pub intel: crate::intel::IntelConfig,
    pub llm: crate::llm::LlmConfig,
}

/// `[verdict]`: score weights and thresholds ([`crate::verdict::Weights`]) and the runbooks.
#[derive(Debug, Clone, Deserialize)]
pub struct VerdictConfig {
    /// Directory of runbook TOML files; the embedded copies are used when it does not exist.
    pub runbooks_dir: PathBuf,
    /// `[verdict.weights]`.
    pub weights: crate::verdict::Weights,
}

/// `[history]`: the case history in the embedded store.
#[derive(Debug, Clone, Deserialize)]
pub struct HistoryConfig {
    /// Cases whose last activity is older than this many days are dropped by compaction.
    pub retention_days: u64,
    /// At most this many cases are kept; the least recently active go first.
    pub max_cases: usize,
    /// Byte cap of the history's data (keys and values of its trees): compaction removes the
    /// oldest closed cases until it is under; 0 = no cap.
    pub max_bytes: u64,
    /// How often the daemon compacts, in seconds.
    pub compact_interval_secs: u64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ApiConfig {
    pub listen: String,
    pub ws_max_lag: usize,
    /// Verdicts kept for `/ws?after=<verdict_id>` resumption.
    pub ws_replay: usize,
    /// Bearer token of the case API; required when `listen` is not a loopback address.
    #[serde(default)]
    pub token: Secret,
}

/// Largest accepted `api.ws_replay` (the ring holds shared verdict JSON, so its memory is
/// this many verdicts at most).
pub const MAX_WS_REPLAY: usize = 1_000_000;

#[derive(Debug, Clone, Deserialize)]
pub struct PipelineConfig {
    pub channel_capacity: usize,
    pub parse_workers: usize,
    pub detect_workers: usize,
    pub shutdown_timeout_secs: u64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct RulesConfig {
    pub paths: Vec<PathBuf>,
    pub placeholders: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct CasesConfig {
    pub window_secs: u64,
    pub update_interval_secs: u64,
    pub max_evidence_per_finding: usize,
    pub max_open_cases: usize,
    /// Repeats of a finding within this many seconds of its last alert are counted only.
    pub suppression_secs: u64,
    /// Evidence event copies kept per case in the history.
    pub max_events_per_case: usize,
}

#[derive(Debug, Clone, Deserialize)]
pub struct LogConfig {
    pub level: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct DemoConfig {
    pub events_per_second: u32,
    pub events_per_round: usize,
    pub benign_ratio: f64,
    pub seed: u64,
}

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
fn nats_connection_problems(
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

#[derive(Debug, Clone, Deserialize)]
pub struct StateConfig {
    pub dir: PathBuf,
}

/// A verdict output, selected by `type`.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum OutputConfig {
    /// One verdict JSON per line on standard output.
    Stdout {
        #[serde(default)]
        format: OutputFormat,
    },
    /// One verdict JSON per line appended to a file.
    Jsonl {
        path: PathBuf,
        #[serde(default)]
        format: OutputFormat,
    },
    /// One HTTP POST per verdict ([`crate::outputs::webhook`]).
    Webhook(WebhookConfig),
    /// Each verdict published on a NATS subject ([`crate::outputs::nats`]).
    Nats(Box<NatsOutputConfig>),
    /// Each verdict produced to a Kafka topic ([`crate::outputs::kafka`]).
    Kafka(Box<KafkaOutputConfig>),
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

/// What a webhook output posts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WebhookFormat {
    /// The verdict document as every other sink writes it.
    #[default]
    Native,
    /// A TheHive 5 alert (`POST /api/v1/alert`).
    Thehive,
    /// An OCSF Detection Finding ([`crate::outputs::ocsf`]).
    Ocsf,
}

/// A string that is never shown: `Debug` prints `"<redacted>"`.
#[derive(Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The secret itself; never log or format it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("\"<redacted>\"")
    }
}

/// `[outputs.NAME] type = "webhook"`. `Debug` is written by hand: it shows neither the secret
/// nor header values (they often carry tokens) nor the URL's user info and query.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    pub url: String,
    #[serde(default)]
    pub format: WebhookFormat,
    /// Key of the `X-Nightwatch-Signature` HMAC-SHA256 over the body.
    #[serde(default)]
    pub hmac_secret: Option<Secret>,
    /// Name of an environment variable holding the HMAC key (instead of `hmac_secret`).
    #[serde(default)]
    pub hmac_secret_env: Option<String>,
    #[serde(default = "default_webhook_timeout_ms")]
    pub timeout_ms: u64,
    /// Retries after the first attempt; then the verdict is dead-lettered.
    #[serde(default = "default_webhook_max_retries")]
    pub max_retries: u32,
    /// First retry delay; doubles with each retry up to `retry_backoff_max_ms`.
    #[serde(default = "default_webhook_backoff_ms")]
    pub retry_backoff_ms: u64,
    #[serde(default = "default_webhook_backoff_max_ms")]
    pub retry_backoff_max_ms: u64,
    /// Extra request headers (e.g. `Authorization`).
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
}

fn default_webhook_timeout_ms() -> u64 {
    5_000
}
fn default_webhook_max_retries() -> u32 {
    5
}
fn default_webhook_backoff_ms() -> u64 {
    500
}
fn default_webhook_backoff_max_ms() -> u64 {
    30_000
}

impl WebhookConfig {
    /// A webhook to `url` with every other key at its default.
    pub fn new(url: impl Into<String>) -> Self {
        WebhookConfig {
            url: url.into(),
            format: WebhookFormat::Native,
            hmac_secret: None,
            hmac_secret_env: None,
            timeout_ms: default_webhook_timeout_ms(),
            max_retries: default_webhook_max_retries(),
            retry_backoff_ms: default_webhook_backoff_ms(),
            retry_backoff_max_ms: default_webhook_backoff_max_ms(),
            headers: BTreeMap::new(),
        }
    }

    /// The HMAC key: `hmac_secret`, else the variable `hmac_secret_env` names (looked up
    /// with `env`), else none. `Err` names the variable that is unset or empty.
    pub fn secret(&self, env: impl Fn(&str) -> Option<String>) -> Result<Option<Secret>, String> {
        if let Some(s) = &self.hmac_secret {
            return Ok(Some(s.clone()));
        }
        match &self.hmac_secret_env {
            None => Ok(None),
            Some(var) => match env(var) {
                Some(v) if !v.is_empty() => Ok(Some(Secret(v))),
                _ => Err(var.clone()),
            },
        }
    }
}

impl std::fmt::Debug for WebhookConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookConfig")
            .field("url", &redact_url(&self.url))
            .field("format", &self.format)
            .field(
                "hmac_secret",
                &self.hmac_secret.as_ref().map(|_| "<redacted>"),
            )
            .field("hmac_secret_env", &self.hmac_secret_env)
            .field("timeout_ms", &self.timeout_ms)
            .field("max_retries", &self.max_retries)
            .field("retry_backoff_ms", &self.retry_backoff_ms)
            .field("retry_backoff_max_ms", &self.retry_backoff_max_ms)
            .field("headers", &self.headers.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// `url` as it may be shown in logs and errors: scheme, host, port and path, without user
/// info, query or fragment (where tokens usually travel). Unparsable URLs show as `<invalid
/// url>`.
pub fn redact_url(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(u) => {
            let host = u.host_str().unwrap_or("");
            match u.port() {
                Some(port) => format!("{}://{host}:{port}{}", u.scheme(), u.path()),
                None => format!("{}://{host}{}", u.scheme(), u.path()),
            }
        }
        Err(_) => "<invalid url>".to_owned(),
    }
}

/// Headers a webhook sets itself; `headers` may not override them.
const RESERVED_HEADERS: &[&str] = &[
    "content-type",
    "content-length",
    "host",
    "transfer-encoding",
    "x-nightwatch-signature",
    "x-nightwatch-timestamp",
];

#[derive(Debug, Clone, Deserialize)]
pub struct DeadLetterConfig {
    pub path: String,
    /// Also publish every dead letter to this Kafka topic ([`crate::outputs::dead_letter`]).
    #[serde(default)]
    pub kafka: Option<KafkaOutputConfig>,
    /// Also publish every dead letter on this NATS subject.
    #[serde(default)]
    pub nats: Option<NatsOutputConfig>,
}

impl Config {
    /// The embedded default, without environment overrides.
    pub fn embedded_default() -> Result<Self, ConfigError> {
        parse(DEFAULT_TOML, "<embedded default>", std::iter::empty())
    }

    /// The API listen address, parsed.
    pub fn listen_addr(&self) -> Result<SocketAddr, Problem> {
        self.api
            .listen
            .parse()
            .map_err(|e| Problem::new("api.listen", format!("not a socket address: {e}")))
    }

    /// The placeholder file, when one is configured.
    pub fn placeholders_path(&self) -> Option<&Path> {
        (!self.rules.placeholders.is_empty()).then(|| Path::new(&self.rules.placeholders))
    }

    /// Checks every value and returns every problem found (empty when valid).
    pub fn validate(&self) -> Vec<Problem> {
        let mut p = Vec::new();
        if self.version != 1 {
            p.push(Problem::new(
                "version",
                format!("unsupported version {}, expected 1", self.version),
            ));
        }
        if let Err(e) = self.listen_addr() {
            p.push(e);
        }
        for (k, m) in self.cluster.problems() {
            p.push(Problem::new(k, m));
        }
        if self.api.ws_max_lag == 0 {
            p.push(Problem::new("api.ws_max_lag", "must be at least 1"));
        }
        if !(1..=MAX_WS_REPLAY).contains(&self.api.ws_replay) {
            p.push(Problem::new(
                "api.ws_replay",
                format!("must be between 1 and {MAX_WS_REPLAY}"),
            ));
        }
        if self.pipeline.channel_capacity == 0 {
            p.push(Problem::new(
                "pipeline.channel_capacity",
                "must be at least 1",
            ));
        }
        if self.pipeline.shutdown_timeout_secs == 0 {
            p.push(Problem::new(
                "pipeline.shutdown_timeout_secs",
                "must be at least 1",
            ));
        }
        if self.cases.window_secs == 0 {
            p.push(Problem::new("cases.window_secs", "must be at least 1"));
        }
        if self.cases.max_evidence_per_finding == 0 {
            p.push(Problem::new(
                "cases.max_evidence_per_finding",
                "must be at least 1",
            ));
        }
        for (key, message) in self.verdict.weights.problems() {
            p.push(Problem::new(key, message));
        }
        if self.history.max_cases == 0 {
            p.push(Problem::new("history.max_cases", "must be at least 1"));
        }
        if self.history.retention_days == 0 {
            p.push(Problem::new("history.retention_days", "must be at least 1"));
        }
        if self.cases.max_open_cases == 0 {
            p.push(Problem::new("cases.max_open_cases", "must be at least 1"));
        }
        if !matches!(
            self.log.level.as_str(),
            "error" | "warn" | "info" | "debug" | "trace"
        ) {
            p.push(Problem::new(
                "log.level",
                format!(
                    "`{}` is not one of error, warn, info, debug, trace",
                    self.log.level
                ),
            ));
        }
        if self.demo.events_per_second == 0 {
            p.push(Problem::new("demo.events_per_second", "must be at least 1"));
        }
        if self.demo.events_per_round == 0 {
            p.push(Problem::new("demo.events_per_round", "must be at least 1"));
        }
        if !(0.0..=1.0).contains(&self.demo.benign_ratio) {
            p.push(Problem::new("demo.benign_ratio", "must be between 0 and 1"));
        }
        if let Some(path) = self.placeholders_path()
            && !path.is_file()
        {
            p.push(Problem::new(
                "rules.placeholders",
                format!("{} is not a readable file", path.display()),
            ));
        }
        p.extend(crate::llm::problems(&self.llm));
        for (name, input) in &self.inputs {
            match input {
                InputConfig::File { paths } => {
                    if paths.is_empty() {
                        p.push(Problem::new(
                            format!("inputs.{name}.paths"),
                            "must name at least one file or directory",
                        ));
                    }
                    for path in paths {
                        if !path.exists() {
                            p.push(Problem::new(
                                format!("inputs.{name}.paths"),
                                format!("{} does not exist", path.display()),
                            ));
                        }
                    }
                }
                InputConfig::Stdin {} => {}
                InputConfig::Syslog {
                    listen,
                    protocol,
                    max_message_bytes,
                    max_connections,
                    tls,
                } => {
                    let key = |k: &str| format!("inputs.{name}.{k}");
                    if let Some(tls) = tls {
                        if protocol != "tcp" {
                            p.push(Problem::new(key("tls"), "tls needs protocol = \"tcp\""));
                        }
                        let files = [("cert", Some(&tls.cert)), ("key", Some(&tls.key))];
                        for (k, path) in files
                            .into_iter()
                            .chain([("client_ca", tls.client_ca.as_ref())])
                        {
                            if let Some(path) = path
                                && !path.is_file()
                            {
                                p.push(Problem::new(
                                    key(&format!("tls.{k}")),
                                    format!("{} is not a readable file", path.display()),
                                ));
                            }
                        }
                    }
                    if let Err(e) = listen.parse::<SocketAddr>() {
                        p.push(Problem::new(
                            key("listen"),
                            format!("not a socket address: {e}"),
                        ));
                    }
                    if !matches!(protocol.as_str(), "udp" | "tcp") {
                        p.push(Problem::new(
                            key("protocol"),
                            format!("`{protocol}` is not one of udp, tcp"),
                        ));
                    }
                    if *max_message_bytes == 0 {
                        p.push(Problem::new(key("max_message_bytes"), "must be at least 1"));
                    }
                    if *max_connections == 0 {
                        p.push(Problem::new(key("max_connections"), "must be at least 1"));
                    }
                }
                InputConfig::Tail {
                    paths,
                    format,
                    fingerprint_lines,
                    max_line_bytes,
                    poll_interval_ms,
                    ..
                } => {
                    let key = |k: &str| format!("inputs.{name}.{k}");
                    if paths.is_empty() {
                        p.push(Problem::new(key("paths"), "must name at least one glob"));
                    }
                    for g in paths {
                        if let Err(e) = glob::Pattern::new(g) {
                            p.push(Problem::new(key("paths"), format!("`{g}`: {e}")));
                        }
                    }
                    if let Some(f) = format
                        && tail_format(f).is_none()
                    {
                        p.push(Problem::new(
                            key("format"),
                            format!("`{f}` is not one of json, syslog, web_access, text"),
                        ));
                    }
                    for (k, v) in [
                        ("fingerprint_lines", *fingerprint_lines as u64),
                        ("max_line_bytes", *max_line_bytes as u64),
                        ("poll_interval_ms", *poll_interval_ms),
                    ] {
                        if v == 0 {
                            p.push(Problem::new(key(k), "must be at least 1"));
                        }
                    }
                }
                InputConfig::Nats(n) => validate_nats_input(name, n, &mut p),
                InputConfig::Kafka(k) => validate_kafka_input(name, k, &mut p),
            }
        }
        let stdin_inputs = self
            .inputs
            .values()
            .filter(|i| matches!(i, InputConfig::Stdin {}))
            .count();
        if stdin_inputs > 1 {
            p.push(Problem::new("inputs", "at most one stdin input"));
        }
        for (name, output) in &self.outputs {
            match output {
                OutputConfig::Jsonl { path, .. } if path.as_os_str().is_empty() => {
                    p.push(Problem::new(
                        format!("outputs.{name}.path"),
                        "must not be empty",
                    ));
                }
                OutputConfig::Webhook(w) => validate_webhook(name, w, &mut p),
                OutputConfig::Nats(n) => {
                    let key = |k: &str| format!("outputs.{name}.{k}");
                    if let Some(m) = crate::nats::subject_problem(&n.subject, false) {
                        p.push(Problem::new(key("subject"), m));
                    }
                    nats_connection_problems(&key, &n.url, &n.auth_keys(), n.tls.as_ref(), &mut p);
                }
                OutputConfig::Kafka(k) => validate_kafka_output(name, k, &mut p),
                _ => {}
            }
        }
        p.extend(self.intel.problems());
        if let Some(k) = &self.dead_letter.kafka {
            validate_kafka_producer("dead_letter.kafka", k, &mut p);
        }
        if let Some(n) = &self.dead_letter.nats {
            let key = |k: &str| format!("dead_letter.nats.{k}");
            if let Some(m) = crate::nats::subject_problem(&n.subject, false) {
                p.push(Problem::new(key("subject"), m));
            }
            nats_connection_problems(&key, &n.url, &n.auth_keys(), n.tls.as_ref(), &mut p);
        }
        p
    }
}

fn validate_webhook(name: &str, w: &WebhookConfig, p: &mut Vec<Problem>) {
    let key = |k: &str| format!("outputs.{name}.{k}");
    match reqwest::Url::parse(&w.url) {
        Ok(u) if !matches!(u.scheme(), "http" | "https") => p.push(Problem::new(
            key("url"),
            format!("scheme `{}` is not http or https", u.scheme()),
        )),
        Ok(u) if u.host_str().is_none_or(str::is_empty) => {
            p.push(Problem::new(key("url"), "has no host"))
        }
        Ok(_) => {}
        // The parse error never quotes the URL, which may carry credentials.
        Err(e) => p.push(Problem::new(key("url"), format!("not a URL: {e}"))),
    }
    if w.hmac_secret.is_some() && w.hmac_secret_env.is_some() {
        p.push(Problem::new(
            key("hmac_secret_env"),
            "set either hmac_secret or hmac_secret_env, not both",
        ));
    }
    if w.hmac_secret.as_ref().is_some_and(Secret::is_empty) {
        p.push(Problem::new(key("hmac_secret"), "must not be empty"));
    }
    if let Err(var) = w.secret(|v| std::env::var(v).ok()) {
        p.push(Problem::new(
            key("hmac_secret_env"),
            format!("environment variable {var} is not set or empty"),
        ));
    }
    for (k, v) in [
        ("timeout_ms", w.timeout_ms),
        ("retry_backoff_ms", w.retry_backoff_ms),
        ("retry_backoff_max_ms", w.retry_backoff_max_ms),
    ] {
        if v == 0 {
            p.push(Problem::new(key(k), "must be at least 1"));
        }
    }
    if w.retry_backoff_max_ms < w.retry_backoff_ms {
        p.push(Problem::new(
            key("retry_backoff_max_ms"),
            "must be at least retry_backoff_ms",
        ));
    }
    for (h, v) in &w.headers {
        match reqwest::header::HeaderName::from_bytes(h.as_bytes()) {
            Err(_) => p.push(Problem::new(
                format!("{}.{h}", key("headers")),
                "not a valid header name",
            )),
            Ok(n) if RESERVED_HEADERS.contains(&n.as_str()) => p.push(Problem::new(
                format!("{}.{h}", key("headers")),
                "set by the webhook itself",
            )),
            Ok(_) => {}
        }
        // The value is not quoted: header values often carry tokens.
        if reqwest::header::HeaderValue::from_str(v).is_err() {
            p.push(Problem::new(
                format!("{}.{h}", key("headers")),
                "not a valid header value",
            ));
        }
    }
}

fn validate_kafka_input(name: &str, k: &KafkaInputConfig, p: &mut Vec<Problem>) {
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

fn validate_kafka_output(name: &str, k: &KafkaOutputConfig, p: &mut Vec<Problem>) {
    validate_kafka_producer(&format!("outputs.{name}"), k, p);
}

fn validate_kafka_producer(prefix: &str, k: &KafkaOutputConfig, p: &mut Vec<Problem>) {
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

fn validate_nats_input(name: &str, n: &NatsInputConfig, p: &mut Vec<Problem>) {
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

/// Loads the configuration from `path` (or the embedded default) with environment overrides
/// from the process environment.
pub fn load(path: Option<&Path>) -> Result<Config, ConfigError> {
    let env = std::env::vars().filter(|(k, _)| k.starts_with(ENV_PREFIX));
    match path {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                path: path.to_owned(),
                source,
            })?;
            parse(&text, &path.display().to_string(), env)
        }
        None => parse(DEFAULT_TOML, "<embedded default>", env),
    }
}

/// Parses TOML text, applies overrides, and deserializes, reporting every unknown key.
/// Keys missing from a user file are taken from the embedded default.
pub fn parse(
    text: &str,
    origin: &str,
    env: impl Iterator<Item = (String, String)>,
) -> Result<Config, ConfigError> {
    let syntax = |message: String| ConfigError::Syntax {
        origin: origin.to_owned(),
        message,
    };
    let mut table: toml::Table = text
        .parse()
        .map_err(|e: toml::de::Error| syntax(e.to_string()))?;
    let mut problems = Vec::new();
    for (key, value) in env {
        apply_override(&mut table, &key, &value, &mut problems);
    }
    let mut merged: toml::Table = DEFAULT_TOML
        .parse()
        .map_err(|e: toml::de::Error| syntax(format!("embedded default: {e}")))?;
    merge(&mut merged, table);

    let mut unknown = Vec::new();
    let config: Result<Config, _> =
        serde_ignored::deserialize(toml::Value::Table(merged), |path| {
            unknown.push(path.to_string())
        });
    problems.extend(
        unknown
            .into_iter()
            .map(|key| Problem::new(key, "unknown key")),
    );
    match config {
        Ok(config) if problems.is_empty() => Ok(config),
        Ok(_) => Err(ConfigError::Invalid {
            origin: origin.to_owned(),
            problems,
        }),
        Err(e) => {
            problems.push(Problem::new("<file>", e.to_string().trim().to_owned()));
            Err(ConfigError::Invalid {
                origin: origin.to_owned(),
                problems,
            })
        }
    }
}

/// Overlays `over` onto `base`: tables merge key by key, other values replace. The `inputs`
/// and `outputs` tables are replaced whole per entry, so a user's input does not inherit keys
/// of a same-named default.
fn merge(base: &mut toml::Table, over: toml::Table) {
    for (k, v) in over {
        match (base.get_mut(&k), v) {
            (Some(toml::Value::Table(b)), toml::Value::Table(o))
                if k != "inputs" && k != "outputs" =>
            {
                merge(b, o)
            }
            (Some(toml::Value::Table(b)), toml::Value::Table(o)) => {
                for (name, entry) in o {
                    b.insert(name, entry);
                }
            }
            (_, v) => {
                base.insert(k, v);
            }
        }
    }
}

fn apply_override(table: &mut toml::Table, var: &str, raw: &str, problems: &mut Vec<Problem>) {
    let path: Vec<String> = var[ENV_PREFIX.len()..]
        .split("__")
        .map(|s| s.to_ascii_lowercase())
        .collect();
    let key = path.join(".");
    if path.iter().any(|s| s.is_empty()) {
        problems.push(Problem::new(
            format!("{var} (environment)"),
            "malformed override name",
        ));
        return;
    }
    // A value is read as a TOML literal (numbers, booleans, arrays), else as a plain string.
    let value = format!("v = {raw}")
        .parse::<toml::Table>()
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(raw.to_owned()));
    let mut cur = table;
    let (last, parents) = match path.split_last() {
        Some(x) => x,
        None => return,
    };
    for seg in parents {
        let entry = cur
            .entry(seg.clone())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        match entry {
            toml::Value::Table(t) => cur = t,
            _ => {
                problems.push(Problem::new(
                    format!("{key} (environment {var})"),
                    format!("`{seg}` is not a table"),
                ));
                return;
            }
        }
    }
    cur.insert(last.clone(), value);
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn no_env() -> std::iter::Empty<(String, String)> {
        std::iter::empty()
    }

    #[test]
    fn embedded_default_is_valid() {
        let c = Config::embedded_default().unwrap();
        assert_eq!(c.validate(), vec![]);
        assert_eq!(c.api.listen, "127.0.0.1:8080");
        assert!(c.inputs.is_empty());
    }

    #[test]
    fn every_unknown_key_is_reported_with_its_path() {
        let err = parse(
            "[api]\nlisten = \"127.0.0.1:1\"\nlisen = 3\n[pipeline]\ncapacity = 2\n",
            "t.toml",
            no_env(),
        )
        .unwrap_err();
        let ConfigError::Invalid { problems, .. } = err else {
            panic!("expected invalid, got {err}")
        };
        let keys: Vec<_> = problems.iter().map(|p| p.key.as_str()).collect();
        assert!(keys.contains(&"api.lisen"), "{keys:?}");
        assert!(keys.contains(&"pipeline.capacity"), "{keys:?}");
    }

    #[test]
    fn environment_overrides_apply_with_types() {
        let env = vec![
            ("NIGHTWATCH__API__LISTEN".to_owned(), "0.0.0.0:9".to_owned()),
            (
                "NIGHTWATCH__PIPELINE__CHANNEL_CAPACITY".to_owned(),
                "7".to_owned(),
            ),
        ];
        let c = parse(DEFAULT_TOML, "t", env.into_iter()).unwrap();
        assert_eq!(c.api.listen, "0.0.0.0:9");
        assert_eq!(c.pipeline.channel_capacity, 7);
    }

    #[test]
    fn unknown_environment_key_is_an_error() {
        let env = vec![("NIGHTWATCH__API__NOPE".to_owned(), "1".to_owned())];
        assert!(parse(DEFAULT_TOML, "t", env.into_iter()).is_err());
    }

    #[test]
    fn validation_collects_every_problem() {
        let c = parse(
            "[pipeline]\nchannel_capacity = 0\n[api]\nlisten = \"nope\"\n[log]\nlevel = \"loud\"\n",
            "t",
            no_env(),
        )
        .unwrap();
        let keys: Vec<_> = c.validate().into_iter().map(|p| p.key).collect();
        assert_eq!(
            keys,
            vec!["api.listen", "pipeline.channel_capacity", "log.level"]
        );
    }

    #[test]
    fn inputs_and_outputs_parse_by_type() {
        let dir = std::env::temp_dir();
        let c = parse(
            &format!(
                "[inputs.drop]\ntype = \"file\"\npaths = [{:?}]\n[outputs.out]\ntype = \"jsonl\"\npath = \"v.jsonl\"\n",
                dir.display().to_string()
            ),
            "t",
            no_env(),
        )
        .unwrap();
        assert!(matches!(c.inputs["drop"], InputConfig::File { .. }));
        assert!(matches!(c.outputs["out"], OutputConfig::Jsonl { .. }));
        assert_eq!(c.validate(), vec![]);
    }

    #[test]
    fn output_formats_are_selectable_per_sink() {
        let c = parse(
            "[outputs.a]\ntype = \"stdout\"\nformat = \"ocsf\"\n\
             [outputs.b]\ntype = \"jsonl\"\npath = \"v.jsonl\"\n\
             [outputs.c]\ntype = \"jsonl\"\npath = \"o.jsonl\"\nformat = \"ocsf\"\n\
             [outputs.d]\ntype = \"webhook\"\nurl = \"https://x.example/\"\nformat = \"ocsf\"\n\
             [outputs.e]\ntype = \"nats\"\nurl = \"nats://127.0.0.1:4222\"\nsubject = \"v\"\nformat = \"ocsf\"\n",
            "t",
            no_env(),
        )
        .unwrap();
        assert!(matches!(
            c.outputs["a"],
            OutputConfig::Stdout {
                format: OutputFormat::Ocsf
            }
        ));
        assert!(matches!(
            c.outputs["b"],
            OutputConfig::Jsonl {
                format: OutputFormat::Native,
                ..
            }
        ));
        assert!(matches!(
            c.outputs["c"],
            OutputConfig::Jsonl {
                format: OutputFormat::Ocsf,
                ..
            }
        ));
        assert!(
            matches!(&c.outputs["d"], OutputConfig::Webhook(w) if w.format == WebhookFormat::Ocsf)
        );
        assert!(matches!(&c.outputs["e"], OutputConfig::Nats(n) if n.format == OutputFormat::Ocsf));
        assert!(
            parse(
                "[outputs.a]\ntype = \"stdout\"\nformat = \"xml\"\n",
                "t",
                no_env()
            )
            .is_err()
        );
    }

    #[test]
    fn webhook_outputs_parse_with_defaults_and_reject_typos() {
        let c = parse(
            "[outputs.soar]\ntype = \"webhook\"\nurl = \"https://hive.example/api/v1/alert\"\nformat = \"thehive\"\nhmac_secret = \"k\"\nheaders = { Authorization = \"Bearer x\" }\n",
            "t",
            no_env(),
        )
        .unwrap();
        let OutputConfig::Webhook(w) = &c.outputs["soar"] else {
            panic!("not a webhook: {:?}", c.outputs["soar"]);
        };
        assert_eq!(w.format, WebhookFormat::Thehive);
        assert_eq!(w.timeout_ms, 5_000);
        assert_eq!(w.max_retries, 5);
        assert_eq!(w.headers["Authorization"], "Bearer x");
        assert_eq!(c.validate(), vec![]);
        assert_eq!(c.api.ws_replay, 1024);
        // A misspelt key (here the secret's) is an error, not a silently unsigned webhook.
        assert!(
            parse(
                "[outputs.soar]\ntype = \"webhook\"\nurl = \"https://h/\"\nhmac_secert = \"k\"\n",
                "t",
                no_env(),
            )
            .is_err()
        );
    }

    #[test]
    fn webhook_and_replay_validation_names_each_key() {
        let c = parse(
            "[api]\nws_replay = 0\n[outputs.a]\ntype = \"webhook\"\nurl = \"ftp://h/x\"\nhmac_secret = \"k\"\nhmac_secret_env = \"K\"\ntimeout_ms = 0\nheaders = { X-Nightwatch-Signature = \"forged\" }\n[outputs.b]\ntype = \"webhook\"\nurl = \"not a url\"\n",
            "t",
            no_env(),
        )
        .unwrap();
        let problems = c.validate();
        let keys: Vec<_> = problems.iter().map(|p| p.key.as_str()).collect();
        assert_eq!(
            keys,
            vec![
                "api.ws_replay",
                "outputs.a.url",
                "outputs.a.hmac_secret_env",
                "outputs.a.timeout_ms",
                "outputs.a.headers.X-Nightwatch-Signature",
                "outputs.b.url",
            ],
            "{problems:?}"
        );
    }

    #[test]
    fn syslog_tls_keys_parse_and_are_checked() {
        let c = parse(
            "[inputs.a]\ntype = \"syslog\"\nlisten = \"127.0.0.1:0\"\nprotocol = \"udp\"\ntls = { cert = \"/nonexistent/c.pem\", key = \"/nonexistent/k.pem\", client_ca = \"/nonexistent/ca.pem\" }\n",
            "t",
            no_env(),
        )
        .unwrap();
        let problems = c.validate();
        let keys: Vec<_> = problems.iter().map(|p| p.key.as_str()).collect();
        assert_eq!(
            keys,
            vec![
                "inputs.a.tls",
                "inputs.a.tls.cert",
                "inputs.a.tls.key",
                "inputs.a.tls.client_ca",
            ],
            "{problems:?}"
        );
        let typo = "[inputs.a]\ntype = \"syslog\"\nlisten = \"127.0.0.1:0\"\ntls = { cert = \"c\", key = \"k\", ca = \"x\" }\n";
        assert!(parse(typo, "t", no_env()).is_err());
    }

    #[test]
    fn input_with_unknown_type_is_rejected() {
        assert!(parse("[inputs.x]\ntype = \"carrier-pigeon\"\n", "t", no_env()).is_err());
    }

    #[test]
    fn nats_inputs_and_outputs_parse_with_defaults() {
        let c = parse(
            r#"
[inputs.core]
type = "nats"
url = "nats://127.0.0.1:4222"
subject = "logs.>"
queue_group = "nightwatch"
format = "syslog"
[inputs.durable]
type = "nats"
url = "nats://127.0.0.1:4222"
subject = "events.sysmon"
jetstream = { stream = "EVENTS", consumer = "nightwatch", create = true }
[outputs.bus]
type = "nats"
url = "tls://127.0.0.1:4443"
subject = "verdicts"
jetstream = true
"#,
            "t",
            no_env(),
        )
        .unwrap();
        assert_eq!(c.validate(), vec![]);
        let InputConfig::Nats(core) = &c.inputs["core"] else {
            panic!("{:?}", c.inputs["core"])
        };
        assert!(core.jetstream.is_none());
        assert_eq!(core.queue_group.as_deref(), Some("nightwatch"));
        let InputConfig::Nats(durable) = &c.inputs["durable"] else {
            panic!("{:?}", c.inputs["durable"])
        };
        let js = durable.jetstream.as_ref().unwrap();
        assert_eq!((js.ack_wait_secs, js.max_ack_pending), (60, 0));
        assert!(js.create && js.subjects.is_empty());
        let settings =
            crate::inputs::nats::NatsSettings::from_config("durable", durable, 512).unwrap();
        let js = settings.jetstream.unwrap();
        assert_eq!(js.max_ack_pending, 512, "tied to the pipeline bound");
        assert_eq!(js.subjects, vec!["events.sysmon".to_owned()]);
        assert_eq!(settings.format, crate::normalize::Format::Json);
        let OutputConfig::Nats(out) = &c.outputs["bus"] else {
            panic!("{:?}", c.outputs["bus"])
        };
        assert!(out.jetstream);
    }

    #[test]
    fn nats_unknown_keys_are_rejected() {
        for text in [
            "[inputs.n]\ntype = \"nats\"\nurl = \"nats://h:1\"\nsubject = \"a\"\nsubjekt = \"b\"\n",
            "[inputs.n]\ntype = \"nats\"\nurl = \"nats://h:1\"\nsubject = \"a\"\njetstream = { stream = \"S\", consumer = \"C\", ack_wait = 5 }\n",
            "[outputs.n]\ntype = \"nats\"\nurl = \"nats://h:1\"\nsubject = \"a\"\nstream = \"S\"\n",
        ] {
            let err = parse(text, "t", no_env()).unwrap_err().to_string();
            assert!(err.contains("unknown field"), "{text}: {err}");
        }
    }

    #[test]
    fn nats_validation_names_every_problem() {
        let c = parse(
            r#"
[inputs.n]
type = "nats"
url = "http://user:hunter2@h:1"
subject = "a..b"
queue_group = "g"
format = "evtx"
token_env = "NIGHTWATCH_TEST_SURELY_UNSET_TOKEN"
jetstream = { stream = "S.1", consumer = "", subjects = ["x"], ack_wait_secs = 0 }
[outputs.o]
type = "nats"
url = "nats://h:1"
subject = "verdicts.>"
user = "svc"
tls = { cert_file = "/nonexistent/cert.pem" }
"#,
            "t",
            no_env(),
        )
        .unwrap();
        let problems = c.validate();
        let keys: Vec<&str> = problems.iter().map(|p| p.key.as_str()).collect();
        assert_eq!(
            keys,
            vec![
                "inputs.n.subject",
                "inputs.n.format",
                "inputs.n.queue_group",
                "inputs.n.jetstream.stream",
                "inputs.n.jetstream.consumer",
                "inputs.n.jetstream.subjects",
                "inputs.n.jetstream.ack_wait_secs",
                "inputs.n.url",
                "inputs.n.token_env",
                "outputs.o.subject",
                "outputs.o.password_env",
                "outputs.o.tls.key_file",
                "outputs.o.tls.cert_file",
            ],
            "{problems:#?}"
        );
        let all = format!("{problems:?}");
        assert!(!all.contains("hunter2"), "{all}");
    }

    #[test]
    fn kafka_inputs_and_outputs_parse_validate_and_hide_secrets() {
        let c = parse(
            r#"
[inputs.k]
type = "kafka"
brokers = "127.0.0.1:9092"
group_id = "nightwatch"
topics = ["telemetry", "^edr-.*"]
[inputs.k.properties]
"sasl.password" = "hunter2"
"session.timeout.ms" = 6000
[outputs.v]
type = "kafka"
brokers = "127.0.0.1:9092"
topic = "verdicts"
"#,
            "t",
            no_env(),
        )
        .unwrap();
        assert!(c.validate().is_empty(), "{:?}", c.validate());
        let InputConfig::Kafka(k) = &c.inputs["k"] else {
            panic!("{:?}", c.inputs["k"])
        };
        assert_eq!(k.auto_offset_reset, "earliest");
        assert_eq!(k.statistics_interval_ms, 5000);
        let settings = crate::inputs::kafka::KafkaSettings::from_config(k, 512);
        assert_eq!(settings.max_in_flight, 512);
        let shown = format!("{c:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        let OutputConfig::Kafka(o) = &c.outputs["v"] else {
            panic!("{:?}", c.outputs["v"])
        };
        assert_eq!((o.max_retries, o.delivery_timeout_ms), (5, 30_000));

        let bad = parse(
            r#"
[inputs.k]
type = "kafka"
brokers = ""
group_id = " "
topics = ["^(unclosed"]
format = "evtx"
auto_offset_reset = "newest"
[inputs.k.properties]
"enable.auto.commit" = false
[outputs.v]
type = "kafka"
brokers = "h:1"
topic = ""
retry_backoff_ms = 0
[outputs.v.properties]
acks = "1"
"#,
            "t",
            no_env(),
        )
        .unwrap();
        let problems = bad.validate();
        let keys: Vec<&str> = problems.iter().map(|p| p.key.as_str()).collect();
        assert_eq!(
            keys,
            vec![
                "inputs.k.brokers",
                "inputs.k.properties.enable.auto.commit",
                "inputs.k.group_id",
                "inputs.k.topics",
                "inputs.k.format",
                "inputs.k.auto_offset_reset",
                "outputs.v.properties.acks",
                "outputs.v.topic",
                "outputs.v.retry_backoff_ms",
            ],
            "{problems:#?}"
        );
        assert!(
            parse(
                "[outputs.v]\ntype = \"kafka\"\nbrokers = \"h:1\"\ntopic = \"t\"\ntopik = \"x\"\n",
                "t",
                no_env()
            )
            .is_err()
        );
    }

    #[test]
    fn nats_config_debug_hides_url_credentials() {
        let c = parse(
            "[outputs.o]\ntype = \"nats\"\nurl = \"nats://svc:hunter2@h:4222\"\nsubject = \"v\"\n",
            "t",
            no_env(),
        )
        .unwrap();
        let shown = format!("{c:?}");
        assert!(shown.contains("nats://***@h:4222"), "{shown}");
        assert!(!shown.contains("hunter2"), "{shown}");
    }
}
