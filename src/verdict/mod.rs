//! Verdicts: the document analysts and SOAR tools consume, schema `nightwatch.verdict.v1`.
//!
//! [`synthesize`] turns a case's findings into a score, severity, conclusion and confidence with
//! a deterministic reasoning chain in which every sentence names its evidence (event ids, rule
//! ids). The weights are constants here and documented in the README; the schema is stable and
//! versioned: fields may be added, never renamed or removed, within `v1`.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::attack;
use crate::detect::Level;

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
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FindingKind {
    /// A single-event detection rule matched.
    RuleMatch,
    /// A correlation rule (count, value count, temporal, …) matched.
    Correlation,
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
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    pub kind: FindingKind,
    /// One human sentence.
    pub summary: String,
    /// Contribution to the score, before the 100 cap.
    pub weight: f64,
    pub rule_id: String,
    pub rule_title: String,
    pub level: Level,
    /// How many times this rule matched within the case.
    pub count: u64,
    pub first_seen: DateTime<Utc>,
    pub last_seen: DateTime<Utc>,
    /// Bounded list of supporting events (the first ones seen).
    pub evidence: Vec<Evidence>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttackRef {
    pub technique_id: String,
    pub technique: String,
    pub tactics: Vec<String>,
}

/// One version of the verdict on a case.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Verdict {
    pub schema: String,
    pub verdict_id: String,
    pub case_id: String,
    /// Increases by one with every new piece of evidence published for the case.
    pub version: u32,
    pub host: String,
    pub first_seen: DateTime<Utc>,
    pub last_seen: DateTime<Utc>,
    pub generated_at: DateTime<Utc>,
    pub conclusion: Conclusion,
    pub severity: Severity,
    /// 0–100.
    pub score: u8,
    /// 0–1: how much of the evidence agrees.
    pub confidence: f64,
    pub findings: Vec<Finding>,
    pub attack: Vec<AttackRef>,
    /// The findings as ordered sentences, each citing its evidence.
    pub reasoning: Vec<String>,
}

/// What the synthesizer needs to know about one finding.
#[derive(Debug, Clone)]
pub struct FindingInput {
    pub kind: FindingKind,
    pub rule_id: String,
    pub rule_title: String,
    pub level: Level,
    pub tags: Vec<String>,
    pub count: u64,
    pub first_seen: DateTime<Utc>,
    pub last_seen: DateTime<Utc>,
    pub evidence: Vec<Evidence>,
    /// Extra context for the summary (e.g. a correlation's group).
    pub detail: Option<String>,
}

/// Score contribution of one matching rule, by level.
pub fn level_weight(level: Level) -> f64 {
    match level {
        Level::Informational => 2.0,
        Level::Low => 8.0,
        Level::Medium => 15.0,
        Level::High => 25.0,
        Level::Critical => 40.0,
    }
}

/// Repeats of the same rule add 10% each, up to 5 repeats.
const REPEAT_BONUS: f64 = 0.1;
const MAX_REPEATS: u64 = 5;
/// Correlations express behaviour over several events and weigh 1.5 times a single match.
const CORRELATION_FACTOR: f64 = 1.5;
/// Each distinct ATT&CK tactic beyond the first adds this much, up to `MAX_BREADTH_BONUS`.
const TACTIC_BONUS: f64 = 5.0;
const MAX_BREADTH_BONUS: f64 = 20.0;

fn finding_weight(f: &FindingInput) -> f64 {
    let base = level_weight(f.level);
    let repeats = f.count.saturating_sub(1).min(MAX_REPEATS) as f64;
    let kind = match f.kind {
        FindingKind::RuleMatch => 1.0,
        FindingKind::Correlation => CORRELATION_FACTOR,
    };
    base * (1.0 + REPEAT_BONUS * repeats) * kind
}

fn severity_of(score: u8) -> Severity {
    match score {
        80.. => Severity::Critical,
        60..=79 => Severity::High,
        35..=59 => Severity::Medium,
        15..=34 => Severity::Low,
        _ => Severity::Informational,
    }
}

/// Identity and time span of the case a verdict is about.
pub struct CaseHeader<'a> {
    pub case_id: &'a str,
    pub version: u32,
    pub host: &'a str,
    pub first_seen: DateTime<Utc>,
    pub last_seen: DateTime<Utc>,
}

/// Builds one verdict version from a case's findings.
pub fn synthesize(case: CaseHeader<'_>, inputs: &[FindingInput], now: DateTime<Utc>) -> Verdict {
    let mut findings: Vec<Finding> = inputs
        .iter()
        .map(|f| Finding {
            kind: f.kind,
            summary: summary(f, case.host),
            weight: round2(finding_weight(f)),
            rule_id: f.rule_id.clone(),
            rule_title: f.rule_title.clone(),
            level: f.level,
            count: f.count,
            first_seen: f.first_seen,
            last_seen: f.last_seen,
            evidence: f.evidence.clone(),
        })
        .collect();
    // Strongest first; ties by time, then rule id, so output is deterministic.
    findings.sort_by(|a, b| {
        b.weight
            .total_cmp(&a.weight)
            .then(a.first_seen.cmp(&b.first_seen))
            .then(a.rule_id.cmp(&b.rule_id))
    });

    let mut attack = Vec::<AttackRef>::new();
    let mut tactic_set = BTreeSet::<String>::new();
    for f in inputs {
        let (techniques, tactics) = attack::from_tags(f.tags.iter().map(String::as_str));
        for t in &tactics {
            tactic_set.insert(t.shortname.to_owned());
        }
        for t in techniques {
            tactic_set.extend(t.tactics.iter().map(|s| s.to_string()));
            if !attack.iter().any(|a| a.technique_id == t.id) {
                attack.push(AttackRef {
                    technique_id: t.id.to_owned(),
                    technique: t.name.to_owned(),
                    tactics: t.tactics.iter().map(|s| s.to_string()).collect(),
                });
            }
        }
    }
    attack.sort_by(|a, b| a.technique_id.cmp(&b.technique_id));

    let distinct_rules = inputs
        .iter()
        .map(|f| f.rule_id.as_str())
        .collect::<BTreeSet<_>>()
        .len();
    let breadth = (tactic_set.len().saturating_sub(1) as f64 * TACTIC_BONUS).min(MAX_BREADTH_BONUS);
    let raw: f64 = findings.iter().map(|f| f.weight).sum::<f64>() + breadth;
    let score = raw.round().clamp(0.0, 100.0) as u8;
    let severity = severity_of(score);
    let any_critical = inputs.iter().any(|f| f.level == Level::Critical);
    let any_correlation = inputs.iter().any(|f| f.kind == FindingKind::Correlation);
    let conclusion = if score >= 60 && (distinct_rules >= 2 || any_critical) {
        Conclusion::Incident
    } else if score >= 35 {
        Conclusion::Suspicious
    } else if score >= 10 {
        Conclusion::NeedsReview
    } else {
        Conclusion::Benign
    };
    // Confidence grows as independent rules agree and as behaviour spans tactics.
    let mut confidence = 0.4 + 0.15 * (distinct_rules.saturating_sub(1) as f64).min(3.0);
    if tactic_set.len() >= 2 {
        confidence += 0.1;
    }
    if any_correlation {
        confidence += 0.1;
    }
    let confidence = round2(confidence.min(0.95));

    let mut reasoning: Vec<String> = findings
        .iter()
        .map(|f| {
            let ids: Vec<&str> = f
                .evidence
                .iter()
                .take(3)
                .map(|e| e.event_id.as_str())
                .collect();
            let more = f.evidence.len().saturating_sub(3);
            let more = if more > 0 {
                format!(" and {more} more")
            } else {
                String::new()
            };
            format!(
                "{} (+{}) [rule {}; events {}{}]",
                f.summary,
                f.weight,
                f.rule_id,
                ids.join(", "),
                more
            )
        })
        .collect();
    if breadth > 0.0 {
        reasoning.push(format!(
            "activity spans {} ATT&CK tactics ({}) (+{breadth})",
            tactic_set.len(),
            tactic_set.iter().cloned().collect::<Vec<_>>().join(", ")
        ));
    }
    reasoning.push(format!(
        "score {score} from {distinct_rules} distinct rule(s) → {} ({}), confidence {confidence}",
        conclusion.as_str(),
        severity.as_str()
    ));

    Verdict {
        schema: SCHEMA.to_owned(),
        verdict_id: verdict_id(case.case_id, case.version),
        case_id: case.case_id.to_owned(),
        version: case.version,
        host: case.host.to_owned(),
        first_seen: case.first_seen,
        last_seen: case.last_seen,
        generated_at: now,
        conclusion,
        severity,
        score,
        confidence,
        findings,
        attack,
        reasoning,
    }
}

fn summary(f: &FindingInput, host: &str) -> String {
    let times = if f.count == 1 {
        "once".to_owned()
    } else {
        format!("{} times", f.count)
    };
    let detail = f
        .detail
        .as_deref()
        .map(|d| format!(" ({d})"))
        .unwrap_or_default();
    match f.kind {
        FindingKind::RuleMatch => format!(
            "{} rule \"{}\" matched {times} on {host}{detail}",
            f.level.as_str(),
            f.rule_title
        ),
        FindingKind::Correlation => format!(
            "{} correlation \"{}\" fired {times} on {host}{detail}",
            f.level.as_str(),
            f.rule_title
        ),
    }
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
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
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn input(rule: &str, level: Level, count: u64, tags: &[&str]) -> FindingInput {
        let t = DateTime::parse_from_rfc3339("2024-05-01T10:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        FindingInput {
            kind: FindingKind::RuleMatch,
            rule_id: rule.to_owned(),
            rule_title: format!("title {rule}"),
            level,
            tags: tags.iter().map(|s| s.to_string()).collect(),
            count,
            first_seen: t,
            last_seen: t,
            evidence: vec![Evidence {
                event_id: format!("ev-{rule}"),
                time: t,
                rule_id: rule.to_owned(),
                input: "file".into(),
                source: "x.evtx".into(),
                index: 0,
            }],
            detail: None,
        }
    }

    fn header() -> CaseHeader<'static> {
        let t = Utc::now();
        CaseHeader {
            case_id: "c1",
            version: 1,
            host: "ws-1",
            first_seen: t,
            last_seen: t,
        }
    }

    #[test]
    fn one_medium_rule_needs_review_not_incident() {
        let v = synthesize(header(), &[input("a", Level::Medium, 1, &[])], Utc::now());
        assert_eq!(v.score, 15);
        assert_eq!(v.conclusion, Conclusion::NeedsReview);
        assert_eq!(v.severity, Severity::Low);
    }

    #[test]
    fn several_high_rules_across_tactics_are_an_incident() {
        let v = synthesize(
            header(),
            &[
                input(
                    "a",
                    Level::High,
                    1,
                    &["attack.execution", "attack.t1059.001"],
                ),
                input(
                    "b",
                    Level::High,
                    2,
                    &["attack.credential_access", "attack.t1003.001"],
                ),
                input(
                    "c",
                    Level::Medium,
                    1,
                    &["attack.persistence", "attack.t1053.005"],
                ),
            ],
            Utc::now(),
        );
        assert_eq!(v.conclusion, Conclusion::Incident);
        assert!(v.score >= 60, "{}", v.score);
        assert_eq!(v.attack.len(), 3);
        assert!(v.confidence > 0.7);
        // Strongest finding first, and every reasoning line cites evidence.
        assert_eq!(v.findings[0].rule_id, "b");
        assert!(v.reasoning[0].contains("ev-b"));
    }

    #[test]
    fn repeats_raise_weight_but_are_capped() {
        let one = finding_weight(&input("a", Level::High, 1, &[]));
        let many = finding_weight(&input("a", Level::High, 1000, &[]));
        assert_eq!(one, 25.0);
        assert_eq!(many, 25.0 * 1.5);
    }

    #[test]
    fn verdict_serializes_with_schema_name() {
        let v = synthesize(header(), &[input("a", Level::Low, 1, &[])], Utc::now());
        let json = serde_json::to_value(&v).unwrap();
        assert_eq!(json["schema"], SCHEMA);
        assert_eq!(json["conclusion"], "benign");
        assert_eq!(json["findings"][0]["kind"], "rule_match");
        assert_eq!(verdict_id("c1", 1), v.verdict_id);
        assert_ne!(verdict_id("c1", 2), v.verdict_id);
    }
}
