//! Configuration: the embedded default file, environment overrides, and validation.
//!
//! Loading is two steps. [`load`] reads TOML (the given file, or `config/nightwatch.toml` as
//! compiled into the binary), applies `NIGHTWATCH__SECTION__KEY` environment overrides, and
//! deserializes into [`Config`], collecting every unknown key with its path. [`Config::validate`]
//! then checks values and collects every problem, each naming its key path, so a user fixes a
//! file in one pass.
//!
//! The sections that configure the daemon as a whole live here. A component's own table lives
//! with the component, with its checks: `[inputs.NAME]` in [`crate::inputs`] (one module per
//! input type), `[outputs.NAME]` and `[dead_letter]` in [`crate::outputs`], `[intel]`,
//! `[llm]` and `[cluster]` in theirs. This module composes them and calls their checks.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::base::{Problem, Secret, at_least_one};

use crate::inputs::InputConfig;
use crate::outputs::{DeadLetterConfig, OutputConfig};

#[cfg(test)]
mod tests;

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
    /// `[inputs.NAME]`, read entry by entry ([`parse`]).
    #[serde(skip)]
    pub inputs: BTreeMap<String, InputConfig>,
    /// `[outputs.NAME]`, read entry by entry ([`parse`]).
    #[serde(skip)]
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
    /// Named analysts (console and API), each with a role and the SHA-256 of a token.
    #[serde(default)]
    pub analysts: Vec<crate::api::identity::AnalystConfig>,
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

    /// Checks every value and returns every problem found (empty when valid): each section
    /// checks its own keys, each input and output its own table.
    pub fn validate(&self) -> Vec<Problem> {
        let mut p = Vec::new();
        if self.version != 1 {
            p.push(Problem::new(
                "version",
                format!("unsupported version {}, expected 1", self.version),
            ));
        }
        p.extend(self.listen_addr().err());
        p.extend(self.cluster.problems().into_iter().map(problem));
        p.extend(crate::api::guard::problems(&self.api));
        p.extend(self.api.problems());
        p.extend(self.pipeline.problems());
        p.extend(self.cases.problems());
        p.extend(self.verdict.weights.problems().into_iter().map(problem));
        p.extend(self.state.problems());
        p.extend(self.history.problems());
        p.extend(self.log.problems());
        p.extend(self.demo.problems());
        p.extend(self.rules.problems());
        p.extend(crate::llm::problems(&self.llm));
        for (name, input) in &self.inputs {
            p.extend(input.problems(name));
        }
        let stdin = self.inputs.values();
        if stdin.filter(|i| matches!(i, InputConfig::Stdin(_))).count() > 1 {
            p.push(Problem::new("inputs", "at most one stdin input"));
        }
        for (name, output) in &self.outputs {
            p.extend(output.problems(name));
        }
        p.extend(self.intel.problems());
        p.extend(self.dead_letter.problems());
        p
    }
}

/// A (key, message) pair as the components that predate [`Problem`] return it.
fn problem<K: Into<String>, M: Into<String>>((key, message): (K, M)) -> Problem {
    Problem::new(key, message)
}

impl ApiConfig {
    fn problems(&self) -> Vec<Problem> {
        let mut p = at_least_one("api", &[("ws_max_lag", self.ws_max_lag as u64)]);
        if !(1..=MAX_WS_REPLAY).contains(&self.ws_replay) {
            p.push(Problem::new(
                "api.ws_replay",
                format!("must be between 1 and {MAX_WS_REPLAY}"),
            ));
        }
        p.extend(at_least_one(
            "api",
            &[("ws_replay_bytes", self.ws_replay_bytes as u64)],
        ));
        p
    }
}

impl PipelineConfig {
    fn problems(&self) -> Vec<Problem> {
        at_least_one(
            "pipeline",
            &[
                ("channel_capacity", self.channel_capacity as u64),
                ("shutdown_timeout_secs", self.shutdown_timeout_secs),
            ],
        )
    }
}

impl CasesConfig {
    fn problems(&self) -> Vec<Problem> {
        at_least_one(
            "cases",
            &[
                ("window_secs", self.window_secs),
                (
                    "max_evidence_per_finding",
                    self.max_evidence_per_finding as u64,
                ),
                (
                    "max_indicators_per_case",
                    self.max_indicators_per_case as u64,
                ),
                ("max_open_cases", self.max_open_cases as u64),
            ],
        )
    }
}

impl StateConfig {
    fn problems(&self) -> Option<Problem> {
        (self.cache_bytes < crate::store::MIN_CACHE_BYTES).then(|| {
            Problem::new(
                "state.cache_bytes",
                format!(
                    "{} is below the minimum of {} (1 MiB)",
                    self.cache_bytes,
                    crate::store::MIN_CACHE_BYTES
                ),
            )
        })
    }
}

impl HistoryConfig {
    fn problems(&self) -> Vec<Problem> {
        let mut p = at_least_one(
            "history",
            &[
                ("max_cases", self.max_cases as u64),
                (
                    "max_versions_per_case",
                    u64::from(self.max_versions_per_case),
                ),
            ],
        );
        if self.audit_max_bytes != 0 && self.audit_max_bytes < 65_536 {
            p.push(Problem::new(
                "history.audit_max_bytes",
                "must be 0 (never rotate) or at least 65536",
            ));
        }
        p.extend(at_least_one(
            "history",
            &[
                ("audit_keep", u64::from(self.audit_keep)),
                ("retention_days", self.retention_days),
            ],
        ));
        p
    }
}

impl LogConfig {
    fn problems(&self) -> Option<Problem> {
        let known = ["error", "warn", "info", "debug", "trace"];
        (!known.contains(&self.level.as_str())).then(|| {
            Problem::new(
                "log.level",
                format!(
                    "`{}` is not one of error, warn, info, debug, trace",
                    self.level
                ),
            )
        })
    }
}

impl DemoConfig {
    fn problems(&self) -> Vec<Problem> {
        let mut p = at_least_one(
            "demo",
            &[
                ("events_per_second", u64::from(self.events_per_second)),
                ("events_per_round", self.events_per_round as u64),
            ],
        );
        if !(0.0..=1.0).contains(&self.benign_ratio) {
            p.push(Problem::new("demo.benign_ratio", "must be between 0 and 1"));
        }
        p
    }
}

impl RulesConfig {
    fn problems(&self) -> Option<Problem> {
        let path = Path::new(&self.placeholders);
        (!self.placeholders.is_empty() && !path.is_file()).then(|| {
            Problem::new(
                "rules.placeholders",
                format!("{} is not a readable file", path.display()),
            )
        })
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

    let inputs = named_tables(&mut merged, "inputs", &mut problems);
    let outputs = named_tables(&mut merged, "outputs", &mut problems);
    let mut unknown = Vec::new();
    let config: Result<Config, _> =
        serde_ignored::deserialize(toml::Value::Table(merged), |path| {
            unknown.push(path.to_string())
        })
        .map(|c| Config {
            inputs,
            outputs,
            ..c
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
            problems.push(type_problem(&e.to_string()));
            Err(ConfigError::Invalid {
                origin: origin.to_owned(),
                problems,
            })
        }
    }
}

/// A deserialization error as one problem at its key path: the TOML library writes the path on a
/// second line (`invalid type: …\nin `cases.window_secs``).
fn type_problem(message: &str) -> Problem {
    let message = message.trim();
    match message.rsplit_once("\nin `") {
        Some((what, path)) => Problem::new(path.trim_end_matches('`'), what.trim().to_owned()),
        None => Problem::new("<file>", message.to_owned()),
    }
}

/// Removes `section` (`inputs`, `outputs`) from `table` and reads each `[section.NAME]` on its
/// own, so every entry's problem is listed under its key path (`inputs.NAME: unknown field
/// …`); the entries that read are returned.
fn named_tables<T: serde::de::DeserializeOwned>(
    table: &mut toml::Table,
    section: &str,
    problems: &mut Vec<Problem>,
) -> BTreeMap<String, T> {
    let entries = match table.remove(section) {
        None => return BTreeMap::new(),
        Some(toml::Value::Table(entries)) => entries,
        Some(_) => {
            problems.push(Problem::new(section, "must be a table of named tables"));
            return BTreeMap::new();
        }
    };
    let mut read = BTreeMap::new();
    for (name, entry) in entries {
        let key = format!("{section}.{name}");
        let mut unknown = Vec::new();
        match serde_ignored::deserialize(entry, |path| unknown.push(path.to_string())) {
            Ok(value) => {
                read.insert(name, value);
            }
            Err(e) => problems.push(Problem::new(&key, e.to_string().trim())),
        }
        problems.extend(
            unknown
                .into_iter()
                .map(|k| Problem::new(format!("{key}.{k}"), "unknown key")),
        );
    }
    read
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
