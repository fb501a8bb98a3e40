//! Configuration: the embedded default file, environment overrides, and validation.
//!
//! Loading is two steps. [`load`] reads TOML (the given file, or `config/nightwatch.toml` as
//! compiled into the binary), applies `NIGHTWATCH__SECTION__KEY` environment overrides, and
//! deserializes into [`Config`], collecting every unknown key with its path. [`Config::validate`]
//! then checks values and collects every problem, each naming its key path, so a user fixes a
//! file in one pass.
//!
//! The sections live here; the tables that are many per file live beside: `[inputs.NAME]` in
//! [`inputs`], `[outputs.NAME]` and `[dead_letter]` in [`outputs`], and the Kafka and NATS
//! tables both of them embed in [`brokers`], each with its validation.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::base::{Problem, Secret};

mod brokers;
mod inputs;
mod outputs;
#[cfg(test)]
mod tests;

pub use brokers::{
    JetStreamInputConfig, KafkaInputConfig, KafkaOutputConfig, NatsInputConfig, NatsOutputConfig,
};
pub use inputs::{
    DEFAULT_MAX_DOCUMENT_BYTES, DEFAULT_MAX_LINE_BYTES, InputConfig, TlsFiles, tail_format,
};
pub use outputs::{DeadLetterConfig, OutputConfig, OutputFormat, WebhookConfig, WebhookFormat};

use brokers::{
    nats_connection_problems, validate_kafka_input, validate_kafka_output, validate_kafka_producer,
    validate_nats_input,
};
use outputs::validate_webhook;

/// The documented default configuration, compiled into the binary.
pub const DEFAULT_TOML: &str = include_str!("../../config/nightwatch.toml");

/// Prefix of environment overrides: `NIGHTWATCH__API__LISTEN=…` sets `api.listen`.
pub const ENV_PREFIX: &str = "NIGHTWATCH__";

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
    /// Verdict versions kept per case (the latest ones).
    pub max_versions_per_case: u32,
    /// The audit log is rotated before it would grow past this many bytes; 0 = never.
    pub audit_max_bytes: u64,
    /// Rotated audit files kept (`audit.jsonl.1` is the newest).
    pub audit_keep: u32,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ApiConfig {
    pub listen: String,
    pub ws_max_lag: usize,
    /// Verdicts kept for `/ws?after=<verdict_id>` resumption.
    pub ws_replay: usize,
    /// Bytes of verdict JSON the resumption ring holds at most.
    pub ws_replay_bytes: usize,
    /// Bearer token of the case API and `/ws`; required when `listen` is not a loopback
    /// address (validation refuses such a config without it).
    #[serde(default)]
    pub token: Secret,
    /// Host names (besides the listen address, `localhost` and loopback addresses) the API
    /// answers for; any other `Host` gets 421. Also accepted as `Origin` hosts.
    #[serde(default)]
    pub allowed_hosts: Vec<String>,
    /// Extra origins (`https://console.example:8443`) whose browser pages may call the API.
    #[serde(default)]
    pub allowed_origins: Vec<String>,
    /// Analyst state changes (feedback, close) each caller may make per minute, after a
    /// burst of `changes_burst`.
    pub changes_per_minute: u32,
    pub changes_burst: u32,
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
    /// Start even when no rule loads (otherwise start-up refuses, see [`crate::preflight`]).
    pub allow_empty: bool,
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
    /// Indicators kept per case; later ones are neither listed nor enriched.
    pub max_indicators_per_case: usize,
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

#[derive(Debug, Clone, Deserialize)]
pub struct StateConfig {
    pub dir: PathBuf,
    /// Page cache of the embedded store (sled), in bytes.
    pub cache_bytes: u64,
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
        p.extend(crate::api::guard::problems(&self.api));
        if self.api.ws_max_lag == 0 {
            p.push(Problem::new("api.ws_max_lag", "must be at least 1"));
        }
        if !(1..=MAX_WS_REPLAY).contains(&self.api.ws_replay) {
            p.push(Problem::new(
                "api.ws_replay",
                format!("must be between 1 and {MAX_WS_REPLAY}"),
            ));
        }
        if self.api.ws_replay_bytes == 0 {
            p.push(Problem::new("api.ws_replay_bytes", "must be at least 1"));
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
        if self.state.cache_bytes < crate::store::MIN_CACHE_BYTES {
            p.push(Problem::new(
                "state.cache_bytes",
                format!(
                    "{} is below the minimum of {} (1 MiB)",
                    self.state.cache_bytes,
                    crate::store::MIN_CACHE_BYTES
                ),
            ));
        }
        if self.history.max_cases == 0 {
            p.push(Problem::new("history.max_cases", "must be at least 1"));
        }
        if self.history.max_versions_per_case == 0 {
            p.push(Problem::new(
                "history.max_versions_per_case",
                "must be at least 1",
            ));
        }
        if self.history.audit_max_bytes != 0 && self.history.audit_max_bytes < 65_536 {
            p.push(Problem::new(
                "history.audit_max_bytes",
                "must be 0 (never rotate) or at least 65536",
            ));
        }
        if self.history.audit_keep == 0 {
            p.push(Problem::new("history.audit_keep", "must be at least 1"));
        }
        if self.history.retention_days == 0 {
            p.push(Problem::new("history.retention_days", "must be at least 1"));
        }
        if self.cases.max_indicators_per_case == 0 {
            p.push(Problem::new(
                "cases.max_indicators_per_case",
                "must be at least 1",
            ));
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
                InputConfig::File {
                    paths,
                    max_line_bytes,
                    max_document_bytes,
                } => {
                    if *max_line_bytes == 0 {
                        p.push(Problem::new(
                            format!("inputs.{name}.max_line_bytes"),
                            "must be at least 1",
                        ));
                    }
                    if *max_document_bytes == 0 {
                        p.push(Problem::new(
                            format!("inputs.{name}.max_document_bytes"),
                            "must be at least 1",
                        ));
                    }
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
                InputConfig::Stdin { max_line_bytes } => {
                    if *max_line_bytes == 0 {
                        p.push(Problem::new(
                            format!("inputs.{name}.max_line_bytes"),
                            "must be at least 1",
                        ));
                    }
                }
                InputConfig::Syslog {
                    listen,
                    protocol,
                    max_message_bytes,
                    max_connections,
                    max_connections_per_peer,
                    idle_timeout_secs,
                    receive_buffer_bytes,
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
                    for (k, v) in [
                        ("max_connections", *max_connections as u64),
                        ("max_connections_per_peer", *max_connections_per_peer as u64),
                        ("idle_timeout_secs", *idle_timeout_secs),
                    ] {
                        if v == 0 {
                            p.push(Problem::new(key(k), "must be at least 1"));
                        }
                    }
                    if *receive_buffer_bytes > i32::MAX as usize {
                        p.push(Problem::new(
                            key("receive_buffer_bytes"),
                            format!("must be at most {}", i32::MAX),
                        ));
                    }
                }
                InputConfig::Tail {
                    paths,
                    format,
                    fingerprint_lines,
                    max_line_bytes,
                    poll_interval_ms,
                    checkpoint_every,
                    checkpoint_interval_ms,
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
                        ("checkpoint_every", *checkpoint_every as u64),
                        ("checkpoint_interval_ms", *checkpoint_interval_ms),
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
            .filter(|i| matches!(i, InputConfig::Stdin { .. }))
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
