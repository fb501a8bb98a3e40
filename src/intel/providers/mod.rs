//! The external threat-intel providers: one HTTP client per vendor, each turning an answer into
//! a normalized [`SourceOpinion`] or a typed [`ProviderError`].
//!
//! Every vendor says "I do not know this" differently (404, `no_result`, `count: 0`, score 0):
//! all of them become [`Opinion::Unknown`], never benign. Only positive benign evidence (a VT
//! harmless majority, AbuseIPDB `isWhitelisted`, an OTX whitelist validation) is benign.
//! Base URLs are configurable (mock servers in tests); keys travel only in the vendor's auth
//! header (or query, for Shodan) and are never logged.

mod abuseipdb;
mod malwarebazaar;
mod otx;
mod shodan;
mod threatfox;
mod urlscan;
mod virustotal;

use std::str::FromStr;
use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use serde_json::Value;

use super::{Indicator, IndicatorKind, Opinion, SourceOpinion};
use crate::base::Secret;

/// The providers, a closed set.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ProviderKind {
    VirusTotal,
    AbuseIpdb,
    Shodan,
    /// Shodan's keyless InternetDB.
    InternetDb,
    Urlscan,
    ThreatFox,
    MalwareBazaar,
    Otx,
}

/// Free-tier defaults of one provider.
#[derive(Clone, Copy, Debug)]
pub struct Defaults {
    pub base_url: &'static str,
    pub key_env: &'static str,
    pub requests_per_minute: f64,
    pub burst: u32,
    /// Requests per UTC day, 0 = unlimited.
    pub daily_quota: u64,
    pub needs_key: bool,
    /// Reliability weight in the consensus.
    pub weight: f64,
}

impl ProviderKind {
    pub const ALL: [ProviderKind; 8] = [
        Self::VirusTotal,
        Self::AbuseIpdb,
        Self::Shodan,
        Self::InternetDb,
        Self::Urlscan,
        Self::ThreatFox,
        Self::MalwareBazaar,
        Self::Otx,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Self::VirusTotal => "virustotal",
            Self::AbuseIpdb => "abuseipdb",
            Self::Shodan => "shodan",
            Self::InternetDb => "internetdb",
            Self::Urlscan => "urlscan",
            Self::ThreatFox => "threatfox",
            Self::MalwareBazaar => "malwarebazaar",
            Self::Otx => "otx",
        }
    }

    pub fn names() -> Vec<&'static str> {
        Self::ALL.iter().map(|k| k.name()).collect()
    }

    /// Base URL, key variable, free-tier limits and weight (see README "Threat intel").
    pub fn defaults(self) -> Defaults {
        let d = |base_url, key_env, rpm, burst, daily_quota, weight| Defaults {
            base_url,
            key_env,
            requests_per_minute: rpm,
            burst,
            daily_quota,
            needs_key: true,
            weight,
        };
        match self {
            Self::VirusTotal => d(
                "https://www.virustotal.com",
                "VT_API_KEY",
                4.0,
                4,
                500,
                0.85,
            ),
            Self::AbuseIpdb => d(
                "https://api.abuseipdb.com",
                "ABUSEIPDB_API_KEY",
                30.0,
                5,
                1000,
                0.7,
            ),
            Self::Shodan => d("https://api.shodan.io", "SHODAN_API_KEY", 60.0, 1, 0, 0.3),
            Self::InternetDb => Defaults {
                needs_key: false,
                ..d("https://internetdb.shodan.io", "", 60.0, 1, 0, 0.3)
            },
            Self::Urlscan => d("https://urlscan.io", "URLSCAN_API_KEY", 60.0, 5, 1000, 0.7),
            Self::ThreatFox => d(
                "https://threatfox-api.abuse.ch",
                "ABUSECH_AUTH_KEY",
                60.0,
                5,
                0,
                0.9,
            ),
            Self::MalwareBazaar => d(
                "https://mb-api.abuse.ch",
                "ABUSECH_AUTH_KEY",
                60.0,
                5,
                0,
                0.95,
            ),
            Self::Otx => d("https://otx.alienvault.com", "OTX_API_KEY", 60.0, 5, 0, 0.5),
        }
    }

    /// The coverage matrix: which indicator kinds the provider can look up.
    pub fn supports(self, k: IndicatorKind) -> bool {
        use IndicatorKind as K;
        match self {
            Self::VirusTotal => !matches!(k, K::Email),
            Self::AbuseIpdb | Self::Shodan | Self::InternetDb => k.is_ip(),
            Self::Urlscan => matches!(k, K::Ipv4 | K::Ipv6 | K::Domain | K::Url | K::Sha256),
            Self::ThreatFox => !matches!(k, K::Email | K::Sha1),
            Self::MalwareBazaar => k.is_hash(),
            Self::Otx => !matches!(k, K::Email),
        }
    }
}

impl FromStr for ProviderKind {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        Self::ALL.into_iter().find(|k| k.name() == s).ok_or(())
    }
}

/// Why a provider gave no opinion.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ProviderError {
    #[error("API key rejected")]
    BadKey,
    #[error("rate limited{}", .retry_after.map(|d| format!(" (retry after {}s)", d.as_secs())).unwrap_or_default())]
    RateLimited { retry_after: Option<Duration> },
    #[error("unavailable: {0}")]
    Unavailable(String),
    #[error("indicator rejected: {0}")]
    Invalid(String),
}

impl ProviderError {
    /// Bounded label for `nightwatch_intel_errors_total{kind}`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::BadKey => "bad_key",
            Self::RateLimited { .. } => "rate_limited",
            Self::Unavailable(_) => "unavailable",
            Self::Invalid(_) => "invalid",
        }
    }
}

/// One configured provider: its client, base URL and key.
#[derive(Clone)]
pub struct Provider {
    pub kind: ProviderKind,
    client: reqwest::Client,
    base: String,
    key: Secret,
}

impl std::fmt::Debug for Provider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Provider")
            .field("kind", &self.kind)
            .field("base", &crate::base::redact_url(&self.base))
            .field("key", &"<redacted>")
            .finish()
    }
}

/// An HTTP answer: status, headers and body (JSON when it parses, else the text as a string).
pub(crate) struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Provider {
    pub fn new(kind: ProviderKind, client: reqwest::Client, base_url: &str, key: Secret) -> Self {
        Self {
            kind,
            client,
            base: base_url.trim_end_matches('/').to_owned(),
            key,
        }
    }

    pub fn name(&self) -> &'static str {
        self.kind.name()
    }

    /// One lookup: one HTTP request (urlscan: search, then the result), no retries.
    pub async fn lookup(&self, ind: &Indicator) -> Result<SourceOpinion, ProviderError> {
        match self.kind {
            ProviderKind::VirusTotal => virustotal::lookup(self, ind).await,
            ProviderKind::AbuseIpdb => abuseipdb::lookup(self, ind).await,
            ProviderKind::Shodan => shodan::lookup(self, ind, false).await,
            ProviderKind::InternetDb => shodan::lookup(self, ind, true).await,
            ProviderKind::Urlscan => urlscan::lookup(self, ind).await,
            ProviderKind::ThreatFox => threatfox::lookup(self, ind).await,
            ProviderKind::MalwareBazaar => malwarebazaar::lookup(self, ind).await,
            ProviderKind::Otx => otx::lookup(self, ind).await,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn key(&self) -> &str {
        self.key.expose()
    }

    fn opinion(&self, opinion: Opinion, strength: f64, detail: impl Into<String>) -> SourceOpinion {
        SourceOpinion::new(self.name(), opinion, strength, detail)
    }

    fn unknown(&self, detail: impl Into<String>) -> SourceOpinion {
        self.opinion(Opinion::Unknown, 0.0, detail)
    }

    /// Sends a request; transport failures and timeouts are `Unavailable`.
    async fn send(&self, req: reqwest::RequestBuilder) -> Result<Answer, ProviderError> {
        let resp = req.send().await.map_err(|e| {
            // reqwest's message may quote the URL, which for Shodan holds the key: say only
            // what failed.
            let what = if e.is_timeout() {
                "timeout"
            } else if e.is_connect() {
                "connection failed"
            } else {
                "request failed"
            };
            ProviderError::Unavailable(what.into())
        })?;
        let status = resp.status();
        let headers = resp.headers().clone();
        let text = resp
            .text()
            .await
            .map_err(|_| ProviderError::Unavailable("body read failed".into()))?;
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Ok(Answer {
            status,
            headers,
            body,
        })
    }
}

/// The errors every vendor shares: 401/403 bad key, 429 rate limited (with `Retry-After`),
/// 5xx and anything else unexpected unavailable.
fn common_error(a: &Answer) -> ProviderError {
    match a.status.as_u16() {
        401 | 403 => ProviderError::BadKey,
        429 => ProviderError::RateLimited {
            retry_after: retry_after(&a.headers, &a.body),
        },
        400 | 404 | 422 => ProviderError::Invalid(error_text(&a.body)),
        s => ProviderError::Unavailable(format!("HTTP {s}")),
    }
}

/// The `query_status` of an abuse.ch answer (ThreatFox, MalwareBazaar), after the errors both
/// APIs share: `unknown_auth_key` in the body is a bad key whatever the HTTP status, and any
/// other non-200 status maps as for every vendor.
fn abusech_status(a: &Answer) -> Result<&str, ProviderError> {
    let status = a
        .body
        .get("query_status")
        .and_then(Value::as_str)
        .unwrap_or("");
    if status == "unknown_auth_key" {
        return Err(ProviderError::BadKey);
    }
    if a.status.as_u16() != 200 {
        return Err(common_error(a));
    }
    Ok(status)
}

/// `Retry-After` (seconds or HTTP date), urlscan's `X-Rate-Limit-Reset-After`, or a DRF-style
/// body "Expected available in N seconds".
pub fn retry_after(headers: &HeaderMap, body: &Value) -> Option<Duration> {
    let header = |n: &str| headers.get(n).and_then(|v| v.to_str().ok());
    if let Some(v) = header("retry-after").or_else(|| header("x-rate-limit-reset-after")) {
        if let Ok(s) = v.trim().parse::<f64>() {
            return Some(Duration::from_secs_f64(s.max(0.0)));
        }
        if let Ok(t) = chrono::DateTime::parse_from_rfc2822(v) {
            let secs = (t.with_timezone(&chrono::Utc) - chrono::Utc::now()).num_seconds();
            return Some(Duration::from_secs(secs.max(0) as u64));
        }
    }
    let text = body.get("detail").and_then(Value::as_str)?;
    let n = text
        .split("available in ")
        .nth(1)?
        .split_whitespace()
        .next()?
        .parse::<u64>()
        .ok()?;
    Some(Duration::from_secs(n))
}

/// The vendor's error message, for details (never contains our key).
fn error_text(body: &Value) -> String {
    let s = body
        .pointer("/error/message")
        .or_else(|| body.get("error"))
        .or_else(|| body.pointer("/errors/0/detail"))
        .or_else(|| body.get("detail"))
        .or_else(|| body.get("message"))
        .or_else(|| body.get("query_status"))
        .and_then(Value::as_str)
        .unwrap_or("");
    s.chars().take(200).collect()
}

fn u64_at(v: &Value, pointer: &str) -> u64 {
    v.pointer(pointer).and_then(Value::as_u64).unwrap_or(0)
}

fn str_list(v: Option<&Value>) -> Vec<&str> {
    v.and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}
