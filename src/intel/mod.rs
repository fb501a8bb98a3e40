//! Threat intelligence: indicators (IOCs) pulled out of events, matched against offline feeds at
//! line rate, and enriched by seven external providers into a per-indicator [`Profile`].
//!
//! Data flows one way:
//!
//! - [`extract`] turns an [`crate::event::Event`] into [`Indicator`]s (known fields per format,
//!   then free text), with [`refang`] undoing defanging and the false-positive traps applied.
//! - [`feeds`] loads local feed files into a [`FeedSet`] (hash sets and CIDR tables) and
//!   reloads it when the files change; it is the keyless, offline `offline_feeds` source.
//! - [`providers`] are the HTTP clients, one file per vendor, each turning an answer into a
//!   [`SourceOpinion`] or a typed [`providers::ProviderError`].
//! - [`fanout`] runs the applicable providers of one indicator concurrently under rate limits,
//!   retries, circuit breakers and a daily budget; [`cache`] keeps their answers in the store.
//! - [`consensus`] combines the opinions into a score and a [`Tier`].
//! - [`Lookout`] is what the detect stage uses: extraction and feed matching, no network.
//! - [`Enricher`] is the facade: `profile` (cache, then fan-out) and `submit` (queued).

pub mod cache;
pub mod consensus;
pub mod enrich;
pub mod extract;
pub mod fanout;
pub mod feeds;
pub mod lookout;
pub mod net;
pub mod providers;
pub mod refang;
pub mod settings;
#[cfg(test)]
mod tests;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub use enrich::{Enricher, Running, start};
pub use extract::ExtractSettings;
pub use feeds::{FeedMatch, FeedSet};
pub use lookout::{Lookout, Sighting};
pub use settings::IntelConfig;

/// What kind of observable an indicator is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IndicatorKind {
    Ipv4,
    Ipv6,
    Domain,
    Url,
    Email,
    Md5,
    Sha1,
    Sha256,
}

impl IndicatorKind {
    pub const ALL: [IndicatorKind; 8] = [
        Self::Ipv4,
        Self::Ipv6,
        Self::Domain,
        Self::Url,
        Self::Email,
        Self::Md5,
        Self::Sha1,
        Self::Sha256,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ipv4 => "ipv4",
            Self::Ipv6 => "ipv6",
            Self::Domain => "domain",
            Self::Url => "url",
            Self::Email => "email",
            Self::Md5 => "md5",
            Self::Sha1 => "sha1",
            Self::Sha256 => "sha256",
        }
    }

    pub fn is_ip(self) -> bool {
        matches!(self, Self::Ipv4 | Self::Ipv6)
    }

    pub fn is_hash(self) -> bool {
        matches!(self, Self::Md5 | Self::Sha1 | Self::Sha256)
    }
}

impl std::fmt::Display for IndicatorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One indicator found in an event.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Indicator {
    pub kind: IndicatorKind,
    /// Normalized value: lowercase host, IDNA (punycode), no trailing dot, lowercase hex.
    pub value: String,
    /// Where it was found: the field name, or `raw` for the record's free text.
    pub field: String,
    /// Private, special or own-domain: never sent to external providers.
    pub internal: bool,
}

impl Indicator {
    /// An indicator given by hand (CLI, API): classified and normalized like a plain feed line.
    /// `None` when the value is no indicator of any kind.
    pub fn parse(value: &str, settings: &ExtractSettings) -> Option<Self> {
        extract::classify(value, settings, "input")
    }
}

/// The five consensus tiers, plus `Unknown` when no source had any evidence.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Tier {
    Critical,
    High,
    Medium,
    Low,
    Clean,
    Unknown,
}

impl Tier {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Critical => "CRITICAL",
            Self::High => "HIGH",
            Self::Medium => "MEDIUM",
            Self::Low => "LOW",
            Self::Clean => "CLEAN",
            Self::Unknown => "UNKNOWN",
        }
    }
}

/// What one source said about an indicator.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Opinion {
    Malicious,
    Suspicious,
    Benign,
    /// The source has no data (never read as clean).
    Unknown,
    /// The source could not answer (bad key, rate limited, unavailable, circuit open).
    Error,
}

impl Opinion {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Malicious => "malicious",
            Self::Suspicious => "suspicious",
            Self::Benign => "benign",
            Self::Unknown => "unknown",
            Self::Error => "error",
        }
    }
}

/// One source's normalized answer, kept in the profile as the per-source breakdown.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SourceOpinion {
    /// Provider name (`virustotal`, `offline_feeds`, …).
    pub source: String,
    pub opinion: Opinion,
    /// How strongly the source holds its opinion, 0..=1.
    pub strength: f64,
    /// Human-readable evidence (detections, confidence, family, error).
    pub detail: String,
    /// Link-out to the vendor's page for this indicator, when it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link: Option<String>,
    pub observed_at: DateTime<Utc>,
}

impl SourceOpinion {
    pub fn new(source: &str, opinion: Opinion, strength: f64, detail: impl Into<String>) -> Self {
        Self {
            source: source.to_owned(),
            opinion,
            strength: strength.clamp(0.0, 1.0),
            detail: detail.into(),
            link: None,
            observed_at: Utc::now(),
        }
    }

    pub fn with_link(mut self, link: impl Into<String>) -> Self {
        self.link = Some(link.into());
        self
    }
}

/// The consensus view of one indicator.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Profile {
    pub indicator: String,
    pub kind: IndicatorKind,
    pub tier: Tier,
    /// 0 (benign) ..= 100 (malicious), over the responding sources with evidence.
    pub score: u8,
    pub sources: Vec<SourceOpinion>,
    pub updated_at: DateTime<Utc>,
}
