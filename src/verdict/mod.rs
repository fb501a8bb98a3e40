//! Verdicts: the document analysts and SOAR tools consume, schema `nightwatch.verdict.v1`.
//!
//! [`synthesize`] turns a case's findings into a score, severity, conclusion and confidence with
//! a deterministic reasoning chain in which every sentence names its evidence (event ids, rule
//! ids, indicators, prior cases). Findings come in seven kinds ([`FindingKind`]): rule matches and
//! correlations from the Sigma engine, offline-feed hits, enrichment profiles, history (what
//! earlier cases say about the same indicators and entities), analyst feedback, and unclassified
//! evidence that matched no rule. Every number is a [`Weights`] field (config `[verdict]`,
//! documented in the README); recommended next steps come from [`Runbooks`].
//!
//! The schema is stable and versioned: fields may be added, never renamed or removed, within
//! `v1`. Each new piece of evidence on a case produces a new `version`.

pub mod runbooks;
pub mod summary;
mod synthesize;
pub mod weights;

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::detect::Level;
pub use runbooks::{NextStep, Runbooks};
pub use synthesize::{
    Basis, CaseContext, CaseHeader, FindingInput, Policy, level_weight, synthesize, synthesize_with,
};
pub use weights::Weights;

/// Schema name carried by every verdict.
pub const SCHEMA: &str = "nightwatch.verdict.v1";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Conclusion {
    Incident,
    Suspicious,
    Benign,
    NeedsReview,
}

impl Conclusion {
    pub fn as_str(self) -> &'static str {
        match self {
            Conclusion::Incident => "incident",
            Conclusion::Suspicious => "suspicious",
            Conclusion::Benign => "benign",
            Conclusion::NeedsReview => "needs_review",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "incident" => Conclusion::Incident,
            "suspicious" => Conclusion::Suspicious,
            "benign" => Conclusion::Benign,
            "needs_review" => Conclusion::NeedsReview,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Informational,
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Informational => "informational",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "informational" => Severity::Informational,
            "low" => Severity::Low,
            "medium" => Severity::Medium,
            "high" => Severity::High,
            "critical" => Severity::Critical,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FindingKind {
    /// A single-event detection rule matched.
    RuleMatch,
    /// A correlation rule (count, value count, temporal, …) matched.
    Correlation,
    /// An indicator of an event is listed in an offline threat feed.
    FeedHit,
    /// An indicator's enrichment profile (per-source opinions, tier, score).
    Enrichment,
    /// What earlier cases say about an indicator or entity of this case.
    History,
    /// What an analyst said about this indicator or rule/entity pair before.
    Feedback,
    /// Evidence that matched no rule, kept visible.
    Unclassified,
}

/// The entity a case is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EntityKind {
    Host,
    User,
    SourceAddress,
}

impl EntityKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EntityKind::Host => "host",
            EntityKind::User => "user",
            EntityKind::SourceAddress => "source_address",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct EntityRef {
    pub kind: EntityKind,
    pub value: String,
}

impl EntityRef {
    pub fn new(kind: EntityKind, value: impl Into<String>) -> Self {
        Self {
            kind,
            value: value.into(),
        }
    }
}

impl std::fmt::Display for EntityRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match self.kind {
            EntityKind::SourceAddress => "source address",
            k => k.as_str(),
        };
        write!(f, "{kind} {}", self.value)
    }
}

/// Where a case is in the analyst workflow; it only moves forward.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    #[default]
    Triage,
    Investigate,
    Validate,
    Recommend,
    Respond,
}

impl Stage {
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Triage => "triage",
            Stage::Investigate => "investigate",
            Stage::Validate => "validate",
            Stage::Recommend => "recommend",
            Stage::Respond => "respond",
        }
    }
}

/// One timestamped step of a case's life: a stage transition, a close, an analyst action.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimelineEntry {
    pub time: DateTime<Utc>,
    /// The stage the case is in after this entry.
    pub stage: Stage,
    /// `nightwatch` or the analyst's name.
    pub actor: String,
    /// Why: the rule that moved the case, or the analyst's action.
    pub note: String,
}

/// A pointer to one event that supports a finding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Evidence {
    pub event_id: String,
    pub time: DateTime<Utc>,
    pub rule_id: String,
    pub input: String,
    /// File, peer or topic the event came from, and its 0-based position there.
    pub source: String,
    pub index: u64,
    /// The event fields that mattered (process, command line, destination, indicator …),
    /// usual ones cut to 200 characters, those the rule names (Sigma `fields`) to 2,000.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub fields: BTreeMap<String, String>,
}

/// One source's opinion of an indicator (enrichment).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SourceOpinion {
    pub source: String,
    /// e.g. `malicious`, `suspicious`, `benign`, `unknown`.
    pub opinion: String,
    /// 0–1.
    pub strength: f64,
    pub detail: String,
    pub link: Option<String>,
    pub observed_at: DateTime<Utc>,
}

/// An indicator (address, domain, hash, URL …) and, once enriched, its profile.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IndicatorRef {
    /// `ipv4`, `ipv6`, `domain`, `url`, `sha256`, `md5`, `sha1`, `email` …
    pub kind: String,
    pub value: String,
    /// `malicious`, `suspicious`, `benign`, `unknown`; none until enriched.
    pub tier: Option<String>,
    /// 0–100; none until enriched.
    pub score: Option<u8>,
    pub sources: Vec<SourceOpinion>,
}

impl IndicatorRef {
    /// An indicator not yet enriched.
    pub fn bare(kind: impl Into<String>, value: impl Into<String>) -> Self {
        Self {
            kind: kind.into(),
            value: value.into(),
            tier: None,
            score: None,
            sources: Vec::new(),
        }
    }

    /// Whether an enrichment profile is attached.
    pub fn is_profiled(&self) -> bool {
        self.score.is_some() || self.tier.is_some()
    }

    /// The profile's score, or one derived from its tier; 50 (no opinion) when neither.
    pub fn effective_score(&self) -> f64 {
        if let Some(s) = self.score {
            return f64::from(s.min(100));
        }
        match self.tier.as_deref() {
            Some("malicious") => 100.0,
            Some("suspicious") => 75.0,
            Some("benign") | Some("clean") | Some("harmless") => 0.0,
            _ => 50.0,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    pub kind: FindingKind,
    /// One human sentence.
    pub summary: String,
    /// Contribution to the score, before the 0–100 clamp; negative lowers it.
    pub weight: f64,
    /// The rule behind the finding; empty for findings no rule produced.
    pub rule_id: String,
    pub rule_title: String,
    pub level: Level,
    /// How many times this finding was observed within the case.
    pub count: u64,
    pub first_seen: DateTime<Utc>,
    pub last_seen: DateTime<Utc>,
    /// Bounded list of supporting events (the first ones seen).
    pub evidence: Vec<Evidence>,
    /// Indicators the finding is about, with their profiles when enriched.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub indicators: Vec<IndicatorRef>,
    /// Earlier cases the finding cites (history, feedback).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub prior_cases: Vec<String>,
    /// Repeats counted within the suppression window without a new alert.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub suppressed: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttackRef {
    pub technique_id: String,
    pub technique: String,
    pub tactics: Vec<String>,
}

/// An event that matched no rule but is evidence (e.g. an indicator in a threat feed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnclassifiedEvidence {
    pub event_id: String,
    pub time: DateTime<Utc>,
    /// Why it is evidence, e.g. `feed hit: ipv4 203.0.113.7 in feed abuse-ch`.
    pub reason: String,
    #[serde(default)]
    pub indicators: Vec<String>,
}

/// One version of the verdict on a case.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Verdict {
    pub schema: String,
    pub verdict_id: String,
    pub case_id: String,
    /// Increases by one with every new piece of evidence published for the case.
    pub version: u32,
    /// The case's host, or `unknown` when the case is keyed by a user or address.
    pub host: String,
    pub first_seen: DateTime<Utc>,
    pub last_seen: DateTime<Utc>,
    pub generated_at: DateTime<Utc>,
    pub conclusion: Conclusion,
    pub severity: Severity,
    /// 0–100.
    pub score: u8,
    /// 0–1: how much of the evidence agrees, less what is still missing.
    pub confidence: f64,
    pub findings: Vec<Finding>,
    pub attack: Vec<AttackRef>,
    /// The findings as ordered sentences, each citing its evidence.
    pub reasoning: Vec<String>,
    /// The entity the case is keyed by.
    #[serde(default = "unknown_entity")]
    pub entity: EntityRef,
    /// Every host, user and source address seen in the case's evidence.
    #[serde(default)]
    pub entities: Vec<EntityRef>,
    #[serde(default)]
    pub stage: Stage,
    #[serde(default)]
    pub timeline: Vec<TimelineEntry>,
    /// ATT&CK tactics observed (short names, in ATT&CK order).
    #[serde(default)]
    pub tactics: Vec<String>,
    /// Every indicator in the case's evidence, with its enrichment profile when known.
    #[serde(default)]
    pub indicators: Vec<IndicatorRef>,
    #[serde(default)]
    pub next_steps: Vec<NextStep>,
    /// Evidence that matched no rule.
    #[serde(default)]
    pub unclassified: Vec<UnclassifiedEvidence>,
    /// What the verdict had to do without (e.g. enrichment pending); lowers confidence.
    #[serde(default)]
    pub missing_evidence: Vec<String>,
    /// The LLM's advisory summary of the case, written for version `summary.case_version`;
    /// absent until one arrives (and always when `[llm]` is off). Never part of the score.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<summary::Summary>,
}

fn unknown_entity() -> EntityRef {
    EntityRef::new(EntityKind::Host, UNKNOWN)
}

/// Host name used when an event names none.
pub const UNKNOWN: &str = "unknown";

/// One verdict version as the console's queue shows it: what a row needs, a few hundred bytes
/// where the verdict runs to hundreds of KB. Carried by `/ws?view=queue`; the console fetches
/// the full verdict only when the analyst opens the case.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QueueItem {
    /// Always `queue_item`.
    #[serde(rename = "type")]
    pub kind: String,
    pub case_id: String,
    pub verdict_id: String,
    pub version: u32,
    pub conclusion: Conclusion,
    pub severity: Severity,
    pub score: u8,
    pub confidence: f64,
    pub entity: EntityRef,
    pub techniques: Vec<String>,
    pub findings: usize,
    pub first_seen: DateTime<Utc>,
    pub last_seen: DateTime<Utc>,
    pub generated_at: DateTime<Utc>,
}

impl QueueItem {
    pub fn of(v: &Verdict) -> Self {
        Self {
            kind: "queue_item".into(),
            case_id: v.case_id.clone(),
            verdict_id: v.verdict_id.clone(),
            version: v.version,
            conclusion: v.conclusion,
            severity: v.severity,
            score: v.score,
            confidence: v.confidence,
            entity: v.entity.clone(),
            techniques: v.attack.iter().map(|a| a.technique_id.clone()).collect(),
            findings: v.findings.len(),
            first_seen: v.first_seen,
            last_seen: v.last_seen,
            generated_at: v.generated_at,
        }
    }
}

/// Deterministic id of a case's verdict version.
pub fn verdict_id(case_id: &str, version: u32) -> String {
    let mut h = Sha256::new();
    h.update(case_id.as_bytes());
    h.update(version.to_be_bytes());
    hex16(&h.finalize())
}

pub(crate) fn hex16(digest: &[u8]) -> String {
    crate::event::hex(&digest[..digest.len().min(16)])
}

#[cfg(test)]
mod tests;
