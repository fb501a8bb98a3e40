//! Scoring: each finding kind moves the score as the README documents.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::synthesize::base_weight;
use super::*;

fn t0() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2024-05-01T10:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

fn input(rule: &str, level: Level, count: u64, tags: &[&str]) -> FindingInput {
    FindingInput {
        kind: FindingKind::RuleMatch,
        basis: Basis::Rule,
        rule_id: rule.to_owned(),
        rule_title: format!("title {rule}"),
        level,
        tags: tags.iter().map(|s| s.to_string()).collect(),
        count,
        first_seen: t0(),
        last_seen: t0(),
        evidence: vec![Evidence {
            event_id: format!("ev-{rule}"),
            time: t0(),
            rule_id: rule.to_owned(),
            input: "file".into(),
            source: "x.evtx".into(),
            index: 0,
            fields: Default::default(),
        }],
        ..Default::default()
    }
}

fn other(basis: Basis, ind: Option<IndicatorRef>, rule: &str) -> FindingInput {
    FindingInput {
        basis,
        rule_id: rule.to_owned(),
        rule_title: format!("title {rule}"),
        first_seen: t0(),
        last_seen: t0(),
        detail: Some("host ws-1".into()),
        indicators: ind.into_iter().collect(),
        prior_cases: vec!["c0".into()],
        level: Level::High,
        ..Default::default()
    }
}

fn header() -> CaseHeader<'static> {
    CaseHeader {
        case_id: "c1",
        version: 1,
        host: "ws-1",
        first_seen: t0(),
        last_seen: t0(),
    }
}

fn score(inputs: &[FindingInput]) -> Verdict {
    synthesize_with(
        header(),
        inputs,
        &CaseContext::default(),
        &Policy::default(),
        t0(),
    )
}

fn ip(tier: Option<&str>, s: Option<u8>) -> IndicatorRef {
    IndicatorRef {
        tier: tier.map(str::to_owned),
        score: s,
        ..IndicatorRef::bare("ipv4", "203.0.113.7")
    }
}

#[test]
fn one_medium_rule_needs_review_not_incident() {
    let v = synthesize(header(), &[input("a", Level::Medium, 1, &[])], Utc::now());
    assert_eq!(v.score, 15);
    assert_eq!(v.conclusion, Conclusion::NeedsReview);
    assert_eq!(v.severity, Severity::Low);
    assert!(!v.next_steps.is_empty() || v.attack.is_empty());
}

#[test]
fn several_high_rules_across_tactics_are_an_incident_with_next_steps() {
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
    assert_eq!(v.findings[0].rule_id, "b");
    assert!(v.reasoning[0].contains("ev-b"));
    assert_eq!(
        v.tactics,
        vec![
            "execution",
            "persistence",
            "privilege-escalation",
            "credential-access"
        ]
    );
    assert!(v.next_steps.iter().any(|s| s.runbook == "T1003.001"));
    assert!(
        v.next_steps
            .iter()
            .any(|s| s.runbook == "credential-access")
    );
}

#[test]
fn repeats_raise_weight_but_are_capped() {
    let w = Weights::default();
    let one = base_weight(&input("a", Level::High, 1, &[]), &w);
    let many = base_weight(&input("a", Level::High, 1000, &[]), &w);
    assert_eq!(one, 25.0);
    assert_eq!(many, 25.0 * 1.5);
}

#[test]
fn correlation_weighs_one_and_a_half() {
    let mut c = input("a", Level::High, 1, &[]);
    c.kind = FindingKind::Correlation;
    assert_eq!(score(&[c]).score, 38); // 37.5 rounds up
}

#[test]
fn feed_hit_adds_its_level_weight() {
    let base = score(&[input("a", Level::Medium, 1, &[])]).score;
    let mut feed = other(Basis::Feed, Some(ip(None, None)), "");
    feed.level = Level::High;
    feed.detail = Some("abuse-ch".into());
    let v = score(&[input("a", Level::Medium, 1, &[]), feed]);
    assert_eq!(v.score, base + 25);
    assert!(v.findings.iter().any(|f| f.kind == FindingKind::FeedHit));
    assert!(v.reasoning.iter().any(|r| r.contains("203.0.113.7")));
}

#[test]
fn enrichment_raises_when_malicious_and_lowers_when_benign() {
    let base = score(&[input("a", Level::High, 1, &[])]).score;
    let bad = score(&[
        input("a", Level::High, 1, &[]),
        other(Basis::Enrichment, Some(ip(Some("malicious"), None)), ""),
    ]);
    assert_eq!(bad.score, base + 30);
    let scored = score(&[
        input("a", Level::High, 1, &[]),
        other(Basis::Enrichment, Some(ip(None, Some(75))), ""),
    ]);
    assert_eq!(scored.score, base + 15);
    let good = score(&[
        input("a", Level::High, 1, &[]),
        other(Basis::Enrichment, Some(ip(Some("benign"), None)), ""),
    ]);
    assert_eq!(good.score, 0);
    assert_eq!(good.conclusion, Conclusion::Benign);
    assert!(good.findings.iter().any(|f| f.weight == -30.0));
}

#[test]
fn history_findings_raise_by_their_weights() {
    let base = score(&[input("a", Level::Medium, 1, &[])]).score;
    for (basis, add) in [
        (Basis::ConfirmedIndicator, 30),
        (Basis::PriorIncidentIndicator, 15),
        (Basis::RecurringIndicator, 5),
        (Basis::CompromisedEntity, 20),
    ] {
        let v = score(&[
            input("a", Level::Medium, 1, &[]),
            other(basis, Some(ip(None, None)), ""),
        ]);
        assert_eq!(v.score, base + add, "{basis:?}");
        let f = v
            .findings
            .iter()
            .find(|f| f.kind == FindingKind::History)
            .unwrap();
        assert_eq!(f.prior_cases, vec!["c0"]);
    }
}

#[test]
fn feedback_raises_or_lowers() {
    let rule = input("a", Level::High, 1, &[]);
    let base = score(std::slice::from_ref(&rule)).score;
    let tp = score(&[rule.clone(), other(Basis::TruePositiveRule, None, "a")]);
    assert_eq!(tp.score, base + 20);
    let fp_rule = score(&[rule.clone(), other(Basis::FalsePositiveRule, None, "a")]);
    assert_eq!(fp_rule.score, 0);
    assert_eq!(fp_rule.conclusion, Conclusion::Benign);
    // A false positive of a different rule does not touch this one.
    let unrelated = score(&[rule.clone(), other(Basis::FalsePositiveRule, None, "b")]);
    assert_eq!(unrelated.score, base);
    let fp_ind = score(&[
        rule.clone(),
        input("b", Level::High, 1, &[]),
        other(Basis::FalsePositiveIndicator, Some(ip(None, None)), ""),
    ]);
    assert_eq!(fp_ind.score, 2 * base - 30);
    assert!(
        fp_ind
            .findings
            .iter()
            .any(|f| f.kind == FindingKind::Feedback && f.weight < 0.0)
    );
}

#[test]
fn unclassified_evidence_adds_a_little_and_stays_visible() {
    let mut u = other(Basis::Unclassified, None, "");
    u.evidence = input("x", Level::Low, 1, &[]).evidence;
    let ctx = CaseContext {
        unclassified: vec![UnclassifiedEvidence {
            event_id: "ev-x".into(),
            time: t0(),
            reason: "feed hit".into(),
            indicators: vec!["203.0.113.7".into()],
        }],
        ..Default::default()
    };
    let v = synthesize_with(header(), &[u], &ctx, &Policy::default(), t0());
    assert_eq!(v.score, 5);
    assert_eq!(v.unclassified.len(), 1);
    assert_eq!(v.findings[0].kind, FindingKind::Unclassified);
}

#[test]
fn missing_evidence_and_disagreement_lower_confidence() {
    let inputs = [
        input("a", Level::High, 1, &[]),
        input("b", Level::High, 1, &[]),
    ];
    let full = score(&inputs);
    let ctx = CaseContext {
        missing_evidence: vec!["enrichment pending for 2 indicator(s)".into()],
        ..Default::default()
    };
    let pending = synthesize_with(header(), &inputs, &ctx, &Policy::default(), t0());
    assert_eq!(pending.score, full.score);
    assert!(pending.confidence < full.confidence);
    assert!(pending.reasoning.iter().any(|r| r.contains("pending")));
    let mut disagree = inputs.to_vec();
    disagree.push(other(
        Basis::FalsePositiveIndicator,
        Some(ip(None, None)),
        "",
    ));
    assert!(score(&disagree).confidence < full.confidence);
}

#[test]
fn configured_weights_apply() {
    let policy = Policy {
        weights: Weights {
            high: 50.0,
            ..Weights::default()
        },
        ..Policy::default()
    };
    let v = synthesize_with(
        header(),
        &[input("a", Level::High, 1, &[])],
        &CaseContext::default(),
        &policy,
        t0(),
    );
    assert_eq!(v.score, 50);
}

#[test]
fn verdict_serializes_with_schema_name_and_old_documents_still_parse() {
    let v = synthesize(header(), &[input("a", Level::Low, 1, &[])], Utc::now());
    let json = serde_json::to_value(&v).unwrap();
    assert_eq!(json["schema"], SCHEMA);
    assert_eq!(json["conclusion"], "benign");
    assert_eq!(json["findings"][0]["kind"], "rule_match");
    assert_eq!(json["stage"], "triage");
    assert_eq!(verdict_id("c1", 1), v.verdict_id);
    assert_ne!(verdict_id("c1", 2), v.verdict_id);
    // A v1 document written before the additive fields existed still reads.
    let mut old = json.as_object().unwrap().clone();
    for k in [
        "entity",
        "entities",
        "stage",
        "timeline",
        "tactics",
        "indicators",
        "next_steps",
        "unclassified",
        "missing_evidence",
    ] {
        old.remove(k);
    }
    let back: Verdict = serde_json::from_value(serde_json::Value::Object(old)).unwrap();
    assert_eq!(back.score, v.score);
}
