//! The `[llm]` configuration section, its validation, and the settings it resolves to once the
//! environment (`LLM_API_KEY`, `LLM_MODEL`, `LLM_ENDPOINT`) is applied.
//!
//! The feature is on only when it can work: Gemini needs an API key; an OpenAI-compatible
//! server (Ollama, llama.cpp, vLLM) needs an endpoint. Otherwise [`resolve`] returns `None`.

use std::time::Duration;

use serde::Deserialize;

use crate::base::{Problem, Secret, redact_url};
use crate::verdict::Severity;

/// Environment variable holding the API key (wins over `llm.api_key`).
pub const ENV_API_KEY: &str = "LLM_API_KEY";
/// Environment variable naming the model (wins over `llm.model`).
pub const ENV_MODEL: &str = "LLM_MODEL";
/// Environment variable holding the endpoint base URL (wins over `llm.endpoint`).
pub const ENV_ENDPOINT: &str = "LLM_ENDPOINT";

/// Which API the summaries are asked from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Backend {
    /// Google Gemini REST `models/{model}:generateContent`.
    Gemini,
    /// `POST {endpoint}/chat/completions` (Ollama, llama.cpp server, vLLM, …).
    OpenaiCompat,
}

impl Backend {
    pub const ALL: [Backend; 2] = [Backend::Gemini, Backend::OpenaiCompat];

    /// The `backend` metric label and configuration name.
    pub fn name(self) -> &'static str {
        match self {
            Backend::Gemini => "gemini",
            Backend::OpenaiCompat => "openai_compat",
        }
    }
}

/// Gemini's public endpoint, used when `llm.endpoint` is empty.
pub const GEMINI_ENDPOINT: &str = "https://generativelanguage.googleapis.com/v1beta";

/// `[llm]` as written in the configuration file. `Debug` is written by hand: it shows neither
/// the key nor the endpoint's user info or query.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LlmConfig {
    pub backend: Backend,
    /// Base URL; empty means Gemini's public endpoint (and, for `openai_compat`, feature off).
    pub endpoint: String,
    pub model: String,
    /// Prefer the `LLM_API_KEY` environment variable.
    pub api_key: Secret,
    pub timeout_secs: u64,
    pub temperature: f64,
    pub max_output_tokens: u32,
    /// Cases waiting for a summary; past it, lower-severity cases are skipped first.
    pub queue_capacity: usize,
    /// Requests in flight at once.
    pub concurrency: usize,
    pub requests_per_minute: u32,
    /// Tokens (prompt + completion) spent per UTC day before the circuit opens until midnight.
    pub tokens_per_day: u64,
    /// Retries of a request answered 429 or 5xx (or not answered), after the first attempt.
    pub max_retries: u32,
    /// Cases below this severity are not summarized.
    pub min_severity: Severity,
    pub max_evidence_events: usize,
    pub max_fields_per_event: usize,
    pub max_field_chars: usize,
    /// Bound of the whole prompt; evidence past it is left out (and said so).
    pub max_prompt_chars: usize,
    /// Event fields whose name contains one of these (case-insensitive) are sent as
    /// `[REDACTED]`.
    pub redact_fields: Vec<String>,
}

impl std::fmt::Debug for LlmConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LlmConfig")
            .field("backend", &self.backend)
            .field("endpoint", &redact_url(&self.endpoint))
            .field("model", &self.model)
            .field("api_key", &self.api_key)
            .field("queue_capacity", &self.queue_capacity)
            .field("concurrency", &self.concurrency)
            .field("requests_per_minute", &self.requests_per_minute)
            .field("tokens_per_day", &self.tokens_per_day)
            .finish_non_exhaustive()
    }
}

/// Bounds of what one prompt carries.
#[derive(Debug, Clone)]
pub struct PromptLimits {
    pub max_evidence_events: usize,
    pub max_fields_per_event: usize,
    pub max_field_chars: usize,
    pub max_prompt_chars: usize,
    pub redact_fields: Vec<String>,
}

/// `[llm]` resolved against the environment: the feature is on.
#[derive(Clone)]
pub struct Settings {
    pub backend: Backend,
    /// Base URL without a trailing slash.
    pub endpoint: String,
    pub model: String,
    pub api_key: Option<Secret>,
    pub timeout: Duration,
    pub temperature: f64,
    pub max_output_tokens: u32,
    pub queue_capacity: usize,
    pub concurrency: usize,
    pub requests_per_minute: u32,
    pub tokens_per_day: u64,
    pub max_retries: u32,
    pub min_severity: Severity,
    pub limits: PromptLimits,
}

impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settings")
            .field("backend", &self.backend)
            .field("endpoint", &redact_url(&self.endpoint))
            .field("model", &self.model)
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .field("concurrency", &self.concurrency)
            .field("requests_per_minute", &self.requests_per_minute)
            .field("tokens_per_day", &self.tokens_per_day)
            .finish_non_exhaustive()
    }
}

/// Applies the environment (looked up with `env`) to `cfg`; `None` when the feature is off
/// (Gemini without a key, OpenAI-compatible without an endpoint).
pub fn resolve(cfg: &LlmConfig, env: impl Fn(&str) -> Option<String>) -> Option<Settings> {
    let pick = |var: &str, configured: &str| {
        env(var)
            .filter(|v| !v.trim().is_empty())
            .unwrap_or_else(|| configured.to_owned())
    };
    let api_key = env(ENV_API_KEY)
        .filter(|v| !v.is_empty())
        .map(Secret::new)
        .or_else(|| (!cfg.api_key.is_empty()).then(|| cfg.api_key.clone()));
    let endpoint = pick(ENV_ENDPOINT, &cfg.endpoint);
    let endpoint = match cfg.backend {
        Backend::Gemini if api_key.is_none() => return None,
        Backend::Gemini if endpoint.is_empty() => GEMINI_ENDPOINT.to_owned(),
        Backend::OpenaiCompat if endpoint.is_empty() => return None,
        _ => endpoint,
    };
    Some(Settings {
        backend: cfg.backend,
        endpoint: endpoint.trim_end_matches('/').to_owned(),
        model: pick(ENV_MODEL, &cfg.model),
        api_key,
        timeout: Duration::from_secs(cfg.timeout_secs),
        temperature: cfg.temperature,
        max_output_tokens: cfg.max_output_tokens,
        queue_capacity: cfg.queue_capacity,
        concurrency: cfg.concurrency,
        requests_per_minute: cfg.requests_per_minute,
        tokens_per_day: cfg.tokens_per_day,
        max_retries: cfg.max_retries,
        min_severity: cfg.min_severity,
        limits: PromptLimits {
            max_evidence_events: cfg.max_evidence_events,
            max_fields_per_event: cfg.max_fields_per_event,
            max_field_chars: cfg.max_field_chars,
            max_prompt_chars: cfg.max_prompt_chars,
            redact_fields: cfg.redact_fields.clone(),
        },
    })
}

/// Every problem of `[llm]`, each naming its key.
pub fn problems(cfg: &LlmConfig) -> Vec<Problem> {
    let mut p = Vec::new();
    let mut push = |key: &str, message: String| {
        p.push(Problem {
            key: format!("llm.{key}"),
            message,
        })
    };
    if !cfg.endpoint.is_empty() {
        match reqwest::Url::parse(&cfg.endpoint) {
            Ok(u) if !matches!(u.scheme(), "http" | "https") => push(
                "endpoint",
                format!("scheme `{}` is not http or https", u.scheme()),
            ),
            Ok(u) if u.host_str().is_none_or(str::is_empty) => {
                push("endpoint", "has no host".into())
            }
            Ok(_) => {}
            Err(e) => push("endpoint", format!("not a URL: {e}")),
        }
    }
    if cfg.model.trim().is_empty() {
        push("model", "must not be empty".into());
    }
    for (key, value) in [
        ("timeout_secs", cfg.timeout_secs),
        ("queue_capacity", cfg.queue_capacity as u64),
        ("concurrency", cfg.concurrency as u64),
        ("requests_per_minute", u64::from(cfg.requests_per_minute)),
        ("tokens_per_day", cfg.tokens_per_day),
        ("max_evidence_events", cfg.max_evidence_events as u64),
        ("max_fields_per_event", cfg.max_fields_per_event as u64),
        ("max_field_chars", cfg.max_field_chars as u64),
    ] {
        if value == 0 {
            push(key, "must be at least 1".into());
        }
    }
    if cfg.max_output_tokens < 64 {
        push("max_output_tokens", "must be at least 64".into());
    }
    if cfg.max_prompt_chars < 1000 {
        push("max_prompt_chars", "must be at least 1000".into());
    }
    if !(0.0..=2.0).contains(&cfg.temperature) {
        push("temperature", "must be between 0 and 2".into());
    }
    if cfg.redact_fields.iter().any(|f| f.trim().is_empty()) {
        push("redact_fields", "entries must not be empty".into());
    }
    p
}
