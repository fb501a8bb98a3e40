//! `[outputs.NAME] type = "webhook"`: its table, defaults and checks, and the secret-keeping
//! `Debug` of it.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::base::{Problem, Secret, redact_url};
use crate::flow::retry::{
    default_sink_backoff_max_ms as default_backoff_max_ms,
    default_sink_backoff_ms as default_backoff_ms, default_sink_max_retries as default_max_retries,
};

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
    #[serde(default = "default_max_retries")]
    pub max_retries: u32,
    /// First retry delay; doubles with each retry up to `retry_backoff_max_ms`.
    #[serde(default = "default_backoff_ms")]
    pub retry_backoff_ms: u64,
    #[serde(default = "default_backoff_max_ms")]
    pub retry_backoff_max_ms: u64,
    /// Extra request headers (e.g. `Authorization`).
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
}

fn default_webhook_timeout_ms() -> u64 {
    5_000
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
            max_retries: default_max_retries(),
            retry_backoff_ms: default_backoff_ms(),
            retry_backoff_max_ms: default_backoff_max_ms(),
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
                Some(v) if !v.is_empty() => Ok(Some(Secret::new(v))),
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

/// Headers a webhook sets itself; `headers` may not override them.
const RESERVED_HEADERS: &[&str] = &[
    "content-type",
    "content-length",
    "host",
    "transfer-encoding",
    "x-nightwatch-signature",
    "x-nightwatch-timestamp",
];

impl WebhookConfig {
    /// Every problem of the table at key path `table`.
    pub fn problems(&self, table: &str) -> Vec<Problem> {
        let (w, mut p) = (self, Vec::new());
        let key = |k: &str| format!("{table}.{k}");
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
        p.extend(crate::flow::retry::sink_timing_problems(
            table,
            ("timeout_ms", w.timeout_ms),
            w.retry_backoff_ms,
            w.retry_backoff_max_ms,
        ));
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
        p
    }
}
