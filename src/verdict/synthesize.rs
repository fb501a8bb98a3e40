//! From findings to a verdict: each finding's weight ([`Basis`], [`Weights`]), the score,
//! severity, conclusion and confidence, and the reasoning chain whose every sentence names its
//! evidence.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{
    AttackRef, Conclusion, EntityKind, EntityRef, Evidence, Finding, FindingKind, IndicatorRef,
    Runbooks, SCHEMA, Severity, Stage, UnclassifiedEvidence, Verdict, Weights, verdict_id,
};
use crate::attack;
use crate::detect::Level;

/// Why a finding exists; decides its weight and sentence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Basis {
    /// A rule match or correlation (by `kind`).
    Rule,
    /// An offline-feed hit (`detail` names the feed).
    Feed,
    /// An enrichment profile (`indicators[0]`).
    Enrichment,
    /// History: an indicator was in a case an analyst confirmed.
    ConfirmedIndicator,
    /// History: an indicator was in an earlier incident.
    PriorIncidentIndicator,
    /// History: an indicator was seen in earlier cases.
    RecurringIndicator,
    /// History: the entity (`detail`) was in an earlier incident or confirmed case.
    CompromisedEntity,
    /// Feedback: the rule on this entity was confirmed before.
    TruePositiveRule,
    /// Feedback: an indicator was marked false positive or benign.
    FalsePositiveIndicator,
    /// Feedback: the rule on this entity was marked false positive or benign.
    FalsePositiveRule,
    /// Events that matched no rule.
    Unclassified,
}

impl Basis {
    pub fn kind(self, rule_kind: FindingKind) -> FindingKind {
        match self {
            Basis::Rule => rule_kind,
            Basis::Feed => FindingKind::FeedHit,
            Basis::Enrichment => FindingKind::Enrichment,
            Basis::ConfirmedIndicator
            | Basis::PriorIncidentIndicator
            | Basis::RecurringIndicator
            | Basis::CompromisedEntity => FindingKind::History,
            Basis::TruePositiveRule | Basis::FalsePositiveIndicator | Basis::FalsePositiveRule => {
                FindingKind::Feedback
            }
            Basis::Unclassified => FindingKind::Unclassified,
        }
    }
}

/// What the synthesizer needs to know about one finding.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FindingInput {
    pub kind: FindingKind,
    pub basis: Basis,
    pub rule_id: String,
    pub rule_title: String,
    pub level: Level,
    pub tags: Vec<String>,
    pub count: u64,
    pub first_seen: DateTime<Utc>,
    pub last_seen: DateTime<Utc>,
    pub evidence: Vec<Evidence>,
    /// Extra context for the summary (a correlation's group, a feed name, an entity).
    pub detail: Option<String>,
    pub indicators: Vec<IndicatorRef>,
    pub prior_cases: Vec<String>,
    pub suppressed: u64,
}

impl Default for FindingInput {
    fn default() -> Self {
        Self {
            kind: FindingKind::RuleMatch,
            basis: Basis::Rule,
            rule_id: String::new(),
            rule_title: String::new(),
            level: Level::Informational,
            tags: Vec::new(),
            count: 1,
            first_seen: DateTime::<Utc>::default(),
            last_seen: DateTime::<Utc>::default(),
            evidence: Vec::new(),
            detail: None,
            indicators: Vec::new(),
            prior_cases: Vec::new(),
            suppressed: 0,
        }
    }
}

/// Score contribution of one matching rule, by level, with the default weights.
pub fn level_weight(level: Level) -> f64 {
    Weights::default().level(level)
}

fn repeat_factor(count: u64, w: &Weights) -> f64 {
    1.0 + w.repeat_bonus * count.saturating_sub(1).min(w.max_repeats) as f64
}

/// The weight of every finding whose weight does not depend on others.
pub(super) fn base_weight(f: &FindingInput, w: &Weights) -> f64 {
    match f.basis {
        Basis::Rule => {
            let kind = if f.kind == FindingKind::Correlation {
                w.correlation_factor
            } else {
                1.0
            };
            w.level(f.level) * repeat_factor(f.count, w) * kind
        }
        Basis::Feed => w.level(f.level) * w.feed_hit_factor * repeat_factor(f.count, w),
        Basis::Enrichment => {
            let s = f
                .indicators
                .first()
                .map(IndicatorRef::effective_score)
                .unwrap_or(50.0);
            w.enrichment_max * (s - 50.0) / 50.0
        }
        Basis::ConfirmedIndicator => w.history_confirmed_indicator,
        Basis::PriorIncidentIndicator => w.history_prior_incident_indicator,
        Basis::RecurringIndicator => w.history_recurring_indicator,
        Basis::CompromisedEntity => w.history_compromised_entity,
        Basis::TruePositiveRule => w.feedback_true_positive,
        Basis::FalsePositiveIndicator => -w.feedback_false_positive_indicator,
        // Depends on the rule's own weight: see `weights_of`.
        Basis::FalsePositiveRule => 0.0,
        Basis::Unclassified => w.unclassified,
    }
}

/// Every finding's weight: a rule marked false positive on this entity loses
/// `feedback_false_positive_rule` of the weight of its findings.
fn weights_of(inputs: &[FindingInput], w: &Weights) -> Vec<f64> {
    let base: Vec<f64> = inputs.iter().map(|f| base_weight(f, w)).collect();
    inputs
        .iter()
        .zip(&base)
        .map(|(f, b)| {
            if f.basis != Basis::FalsePositiveRule {
                return *b;
            }
            let rule: f64 = inputs
                .iter()
                .zip(&base)
                .filter(|(g, _)| g.basis == Basis::Rule && g.rule_id == f.rule_id)
                .map(|(_, b)| *b)
                .sum();
            -rule * w.feedback_false_positive_rule
        })
        .collect()
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

/// What the case builder knows beyond the findings.
#[derive(Debug, Clone, Default)]
pub struct CaseContext {
    pub entity: Option<EntityRef>,
    pub entities: Vec<EntityRef>,
    pub indicators: Vec<IndicatorRef>,
    pub unclassified: Vec<UnclassifiedEvidence>,
    pub missing_evidence: Vec<String>,
}

/// What scoring and recommendations read: the weights and the runbooks.
#[derive(Debug, Clone)]
pub struct Policy {
    pub weights: Weights,
    pub runbooks: Runbooks,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            weights: Weights::default(),
            runbooks: Runbooks::embedded(),
        }
    }
}

/// Builds one verdict version from a case's rule findings with the default policy.
pub fn synthesize(case: CaseHeader<'_>, inputs: &[FindingInput], now: DateTime<Utc>) -> Verdict {
    synthesize_with(
        case,
        inputs,
        &CaseContext::default(),
        &Policy::default(),
        now,
    )
}

/// Confidence lost per piece of missing evidence, at most three times.
const MISSING_PENALTY: f64 = 0.1;
/// Confidence lost when findings pull the score both ways.
const DISAGREEMENT_PENALTY: f64 = 0.15;

/// Builds one verdict version from a case's findings.
pub fn synthesize_with(
    case: CaseHeader<'_>,
    inputs: &[FindingInput],
    ctx: &CaseContext,
    policy: &Policy,
    now: DateTime<Utc>,
) -> Verdict {
    let w = &policy.weights;
    let weights = weights_of(inputs, w);
    // What the sentences say the case is about: its host, else its entity (a user or mailbox,
    // a source address), "unknown" only when nothing is known.
    let about = match &ctx.entity {
        Some(e) if case.host == super::UNKNOWN => e.to_string(),
        _ => case.host.to_owned(),
    };
    let mut findings: Vec<Finding> = inputs
        .iter()
        .zip(&weights)
        .map(|(f, weight)| Finding {
            kind: f.basis.kind(f.kind),
            summary: summary(f, &about),
            weight: round2(*weight),
            rule_id: f.rule_id.clone(),
            rule_title: f.rule_title.clone(),
            level: f.level,
            count: f.count,
            first_seen: f.first_seen,
            last_seen: f.last_seen,
            evidence: f.evidence.clone(),
            indicators: f.indicators.clone(),
            prior_cases: f.prior_cases.clone(),
            suppressed: f.suppressed,
        })
        .collect();
    // Strongest first (by magnitude); ties by time, kind, rule id, summary: deterministic.
    findings.sort_by(|a, b| {
        b.weight
            .abs()
            .total_cmp(&a.weight.abs())
            .then(a.first_seen.cmp(&b.first_seen))
            .then(a.kind.cmp(&b.kind))
            .then(a.rule_id.cmp(&b.rule_id))
            .then(a.summary.cmp(&b.summary))
    });

    let mut attack = Vec::<AttackRef>::new();
    let mut tactic_set = BTreeSet::<String>::new();
    for f in inputs.iter().filter(|f| f.basis == Basis::Rule) {
        let (techniques, tactics) = attack::of_rule(&f.rule_id, f.tags.iter().map(String::as_str));
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
    let tactics: Vec<String> = attack::tactics()
        .iter()
        .filter(|t| tactic_set.contains(t.shortname))
        .map(|t| t.shortname.to_owned())
        .collect();

    // Independent pieces of evidence that raise the score: each rule, each feed hit and
    // enrichment indicator, each history or feedback fact.
    let agreeing: BTreeSet<String> = findings
        .iter()
        .filter(|f| f.weight > 0.0)
        .map(|f| match f.kind {
            FindingKind::RuleMatch | FindingKind::Correlation => format!("rule:{}", f.rule_id),
            _ => format!("{:?}:{}", f.kind, f.summary),
        })
        .collect();
    let positive = agreeing.len();
    let negative = findings.iter().any(|f| f.weight < 0.0);
    let distinct_rules = inputs
        .iter()
        .filter(|f| f.basis == Basis::Rule)
        .map(|f| f.rule_id.as_str())
        .collect::<BTreeSet<_>>()
        .len();
    let breadth =
        (tactic_set.len().saturating_sub(1) as f64 * w.tactic_bonus).min(w.max_breadth_bonus);
    let raw: f64 = findings.iter().map(|f| f.weight).sum::<f64>() + breadth;
    let score = raw.round().clamp(0.0, 100.0) as u8;
    let severity = severity_of(score);
    let any_critical = findings
        .iter()
        .any(|f| f.weight > 0.0 && f.level == Level::Critical);
    let any_correlation = inputs.iter().any(|f| f.kind == FindingKind::Correlation);
    let s = f64::from(score);
    let conclusion = if s >= w.incident_threshold && (positive >= 2 || any_critical) {
        Conclusion::Incident
    } else if s >= w.suspicious_threshold {
        Conclusion::Suspicious
    } else if s >= w.review_threshold {
        Conclusion::NeedsReview
    } else {
        Conclusion::Benign
    };
    // Confidence grows as independent evidence agrees and as behaviour spans tactics; it
    // shrinks when findings contradict each other and for every piece still missing.
    let mut confidence = 0.4 + 0.15 * (positive.saturating_sub(1) as f64).min(3.0);
    if tactic_set.len() >= 2 {
        confidence += 0.1;
    }
    if any_correlation {
        confidence += 0.1;
    }
    if negative && positive > 0 {
        confidence -= DISAGREEMENT_PENALTY;
    }
    let missing = ctx.missing_evidence.len().min(3) as f64 * MISSING_PENALTY;
    confidence -= missing;
    let confidence = round2(confidence.clamp(0.05, 0.95));

    let mut reasoning: Vec<String> = findings.iter().map(reason).collect();
    if breadth > 0.0 {
        reasoning.push(format!(
            "activity spans {} ATT&CK tactics ({}) (+{breadth})",
            tactics.len(),
            tactics.join(", ")
        ));
    }
    if !ctx.missing_evidence.is_empty() {
        reasoning.push(format!(
            "missing evidence: {} (confidence -{})",
            ctx.missing_evidence.join("; "),
            round2(missing)
        ));
    }
    reasoning.push(format!(
        "score {score} from {positive} agreeing piece(s) of evidence ({distinct_rules} distinct rule(s)) → {} ({}), confidence {confidence}",
        conclusion.as_str(),
        severity.as_str()
    ));

    let next_steps = if conclusion == Conclusion::Benign {
        Vec::new()
    } else {
        let ids: Vec<&str> = attack.iter().map(|a| a.technique_id.as_str()).collect();
        let tacs: Vec<&str> = tactics.iter().map(String::as_str).collect();
        policy.runbooks.next_steps(&ids, &tacs)
    };

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
        entity: ctx
            .entity
            .clone()
            .unwrap_or_else(|| EntityRef::new(EntityKind::Host, case.host)),
        entities: ctx.entities.clone(),
        stage: Stage::Triage,
        timeline: Vec::new(),
        tactics,
        indicators: ctx.indicators.clone(),
        next_steps,
        unclassified: ctx.unclassified.clone(),
        missing_evidence: ctx.missing_evidence.clone(),
        summary: None,
    }
}

/// One reasoning sentence: the finding, its signed weight, and what it cites.
fn reason(f: &Finding) -> String {
    let mut cites = Vec::new();
    if !f.rule_id.is_empty() {
        cites.push(format!("rule {}", f.rule_id));
    }
    if !f.evidence.is_empty() {
        let ids: Vec<String> = f
            .evidence
            .iter()
            .take(3)
            .map(|e| format!("{} at {}", e.event_id, e.time.to_rfc3339()))
            .collect();
        let more = f.evidence.len().saturating_sub(3);
        let more = if more > 0 {
            format!(" and {more} more")
        } else {
            String::new()
        };
        cites.push(format!("events {}{more}", ids.join(", ")));
    }
    if !f.indicators.is_empty() {
        let v: Vec<&str> = f.indicators.iter().map(|i| i.value.as_str()).collect();
        cites.push(format!("indicators {}", v.join(", ")));
    }
    if !f.prior_cases.is_empty() {
        cites.push(format!("cases {}", f.prior_cases.join(", ")));
    }
    let sign = if f.weight < 0.0 { "" } else { "+" };
    format!("{} ({sign}{}) [{}]", f.summary, f.weight, cites.join("; "))
}

fn summary(f: &FindingInput, host: &str) -> String {
    let times = if f.count == 1 {
        "once".to_owned()
    } else {
        format!("{} times", f.count)
    };
    let detail = f.detail.as_deref().unwrap_or_default();
    let with_detail = if detail.is_empty() {
        String::new()
    } else {
        format!(" ({detail})")
    };
    let ind = f
        .indicators
        .first()
        .map(|i| format!("{} {}", i.kind, i.value))
        .unwrap_or_else(|| "indicator".to_owned());
    let cases = f.prior_cases.len();
    match f.basis {
        Basis::Rule if f.kind == FindingKind::Correlation => format!(
            "{} correlation \"{}\" fired {times} on {host}{with_detail}",
            f.level.as_str(),
            f.rule_title
        ),
        Basis::Rule => format!(
            "{} rule \"{}\" matched {times} on {host}{with_detail}",
            f.level.as_str(),
            f.rule_title
        ),
        Basis::Feed => format!(
            "{ind} is listed in threat feed {detail} ({} level), seen {times} on {host}",
            f.level.as_str()
        ),
        Basis::Enrichment => {
            let i = f.indicators.first();
            let tier = i.and_then(|i| i.tier.as_deref()).unwrap_or("unrated");
            let sources: Vec<String> = i
                .map(|i| {
                    i.sources
                        .iter()
                        .map(|s| format!("{}: {}", s.source, s.opinion))
                        .collect()
                })
                .unwrap_or_default();
            format!(
                "enrichment rates {ind} {tier} (score {}) from {} source(s){}",
                i.map(IndicatorRef::effective_score).unwrap_or(50.0),
                sources.len(),
                if sources.is_empty() {
                    String::new()
                } else {
                    format!(": {}", sources.join(", "))
                }
            )
        }
        Basis::ConfirmedIndicator => {
            format!("{ind} was in {cases} earlier case(s) an analyst confirmed as true positive")
        }
        Basis::PriorIncidentIndicator => {
            format!("{ind} was in {cases} earlier case(s) concluded incident")
        }
        Basis::RecurringIndicator => {
            format!("{ind} was seen before in {cases} earlier case(s), none an incident")
        }
        Basis::CompromisedEntity => {
            format!("{detail} was involved in {cases} earlier incident or confirmed case(s)")
        }
        Basis::TruePositiveRule => format!(
            "an analyst confirmed rule \"{}\" on {detail} as true positive before",
            f.rule_title
        ),
        Basis::FalsePositiveIndicator => {
            format!("an analyst marked {ind} as false positive or benign before")
        }
        Basis::FalsePositiveRule => format!(
            "an analyst marked rule \"{}\" on {detail} as false positive or benign before",
            f.rule_title
        ),
        Basis::Unclassified => format!(
            "{} event(s) matched no rule but are evidence (see unclassified evidence)",
            f.evidence.len()
        ),
    }
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}
