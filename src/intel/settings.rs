//! The `[intel]` configuration section: extraction lists, offline feeds, the fan-out limits,
//! cache TTLs, consensus weights and one table per provider.
//!
//! API keys come from `api_key` or from the environment variable named by `api_key_env`
//! (default `VT_API_KEY`, `ABUSEIPDB_API_KEY`, …); they are [`Secret`]s, so `Debug` never shows
//! them.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;

use crate::base::{Problem, Secret};
use crate::intel::providers::ProviderKind;

/// `[intel]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IntelConfig {
    /// Extract indicators and match them against the offline feeds.
    pub enabled: bool,
    /// Own domains (and their subdomains): marked internal, never sent outside.
    pub own_domains: Vec<String>,
    /// Extra internal networks (CIDR) besides the private and special ranges.
    pub internal_networks: Vec<String>,
    /// Treat the documentation ranges (192.0.2/24, 198.51.100/24, 203.0.113/24, 2001:db8::/32)
    /// and reserved example domains (example.com/.net/.org, .test, .example, .invalid) as
    /// internal. Turn off for demos and tests that use them as stand-ins for real addresses.
    pub documentation_as_internal: bool,
    /// Indicators never reported: exact values, domains (with subdomains) or CIDRs.
    pub allow_list: Vec<String>,
    /// Offline feed files or directories (every format of `intel::feeds`).
    pub feeds: Vec<PathBuf>,
    /// Reload the feeds when their files change.
    pub feeds_watch: bool,
    /// External lookups in flight at once, over all providers.
    pub max_concurrency: usize,
    /// Indicators waiting for background enrichment; more are dropped and counted.
    pub queue_capacity: usize,
    /// Per HTTP attempt.
    pub timeout_ms: u64,
    /// Retries after the first attempt (unavailable, short rate limits).
    pub max_retries: u32,
    pub retry_backoff_ms: u64,
    pub retry_backoff_max_ms: u64,
    /// Consecutive failures that open a provider's circuit breaker.
    pub breaker_failures: u32,
    /// How long an open breaker stays open (a daily quota exhausted stays open until reset).
    pub breaker_open_secs: u64,
    /// External requests per UTC day over all providers (0 = unlimited).
    pub daily_budget: u64,
    pub cache_ttl_secs: CacheTtl,
    /// Reliability weight per source name (`offline_feeds`, `virustotal`, …).
    pub weights: BTreeMap<String, f64>,
    /// One table per provider, by name.
    pub providers: BTreeMap<String, ProviderConfig>,
}

impl Default for IntelConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            own_domains: Vec::new(),
            internal_networks: Vec::new(),
            documentation_as_internal: true,
            allow_list: Vec::new(),
            feeds: Vec::new(),
            feeds_watch: true,
            max_concurrency: 8,
            queue_capacity: 1024,
            timeout_ms: 10_000,
            max_retries: 2,
            retry_backoff_ms: 500,
            retry_backoff_max_ms: 30_000,
            breaker_failures: 5,
            breaker_open_secs: 300,
            daily_budget: 2_000,
            cache_ttl_secs: CacheTtl::default(),
            weights: BTreeMap::new(),
            providers: BTreeMap::new(),
        }
    }
}

/// Cache lifetime per outcome, in seconds.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CacheTtl {
    pub malicious: u64,
    pub benign: u64,
    pub unknown: u64,
    pub error: u64,
}

impl Default for CacheTtl {
    fn default() -> Self {
        Self {
            malicious: 86_400,
            benign: 7 * 86_400,
            unknown: 6 * 3_600,
            error: 300,
        }
    }
}

/// `[intel.providers.NAME]`: every key optional, defaults per provider
/// ([`ProviderKind::defaults`]).
#[derive(Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProviderConfig {
    /// Default: on when a key is available (InternetDB, keyless: off).
    pub enabled: Option<bool>,
    pub api_key: Option<Secret>,
    /// Environment variable holding the key.
    pub api_key_env: Option<String>,
    pub base_url: Option<String>,
    /// Token bucket refill, requests per minute.
    pub requests_per_minute: Option<f64>,
    /// Token bucket size.
    pub burst: Option<u32>,
    /// Requests per UTC day (0 = unlimited); exhausting it opens the breaker until midnight.
    pub daily_quota: Option<u64>,
}

impl std::fmt::Debug for ProviderConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProviderConfig")
            .field("enabled", &self.enabled)
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .field("api_key_env", &self.api_key_env)
            .field(
                "base_url",
                &self.base_url.as_deref().map(crate::base::redact_url),
            )
            .field("requests_per_minute", &self.requests_per_minute)
            .field("burst", &self.burst)
            .field("daily_quota", &self.daily_quota)
            .finish()
    }
}

impl IntelConfig {
    /// Every problem, with its key path under `intel.`.
    pub fn problems(&self) -> Vec<Problem> {
        let mut p = Vec::new();
        let mut push = |k: &str, m: String| {
            p.push(Problem {
                key: format!("intel.{k}"),
                message: m,
            })
        };
        for (k, v) in [
            ("max_concurrency", self.max_concurrency as u64),
            ("queue_capacity", self.queue_capacity as u64),
            ("timeout_ms", self.timeout_ms),
            ("retry_backoff_ms", self.retry_backoff_ms),
            ("breaker_failures", u64::from(self.breaker_failures)),
            ("breaker_open_secs", self.breaker_open_secs),
        ] {
            if v == 0 {
                push(k, "must be at least 1".into());
            }
        }
        if self.retry_backoff_max_ms < self.retry_backoff_ms {
            push(
                "retry_backoff_max_ms",
                "must be at least retry_backoff_ms".into(),
            );
        }
        for n in &self.internal_networks {
            if crate::network::parse(n).is_none() {
                push(
                    "internal_networks",
                    format!("`{n}` is not an address or CIDR"),
                );
            }
        }
        for (name, w) in &self.weights {
            if name != crate::intel::feeds::SOURCE && name.parse::<ProviderKind>().is_err() {
                push(&format!("weights.{name}"), "unknown source".into());
            }
            if !(0.0..=1.0).contains(w) {
                push(&format!("weights.{name}"), "must be between 0 and 1".into());
            }
        }
        for (name, pc) in &self.providers {
            if name.parse::<ProviderKind>().is_err() {
                push(
                    &format!("providers.{name}"),
                    format!(
                        "unknown provider (known: {})",
                        ProviderKind::names().join(", ")
                    ),
                );
                continue;
            }
            if let Some(u) = &pc.base_url {
                match reqwest::Url::parse(u) {
                    Ok(url) if matches!(url.scheme(), "http" | "https") => {}
                    _ => push(
                        &format!("providers.{name}.base_url"),
                        "not an http(s) URL".into(),
                    ),
                }
            }
            if pc.requests_per_minute.is_some_and(|r| r <= 0.0) {
                push(
                    &format!("providers.{name}.requests_per_minute"),
                    "must be above 0".into(),
                );
            }
            if pc.burst == Some(0) {
                push(
                    &format!("providers.{name}.burst"),
                    "must be at least 1".into(),
                );
            }
        }
        p
    }
}
