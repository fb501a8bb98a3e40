//! The case book: grouping, suppression, stages, history correlation and feedback.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;
use crate::detect::{Level, RuleMeta};
use crate::event::{Fields, Origin};
use crate::history::{Disposition, Feedback, SledHistory};
use crate::store::Store;
use crate::verdict::Conclusion;

fn rule(id: &str, level: Level) -> Arc<RuleMeta> {
    rule_tagged(id, level, &["attack.execution"])
}

fn rule_tagged(id: &str, level: Level, tags: &[&str]) -> Arc<RuleMeta> {
    Arc::new(RuleMeta {
        id: id.to_owned(),
        title: format!("rule {id}"),
        name: None,
        level,
        description: None,
        tags: tags.iter().map(|s| s.to_string()).collect(),
        fields: Vec::new(),
        path: "t.yml".into(),
        logsource: Default::default(),
        kind: crate::detect::RuleKind::Detection,
    })
}

fn t0() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2024-05-01T10:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

fn event(host: Option<&str>, index: u64, minute: i64, fields: serde_json::Value) -> Arc<Event> {
    let serde_json::Value::Object(m) = fields else {
        unreachable!()
    };
    let mut e = Event::new(
        Origin {
            input: "file".into(),
            source: "f.jsonl".into(),
            index,
        },
        t0(),
        Fields::from(m),
    );
    e.time = t0() + Duration::minutes(minute);
    e.host = host.map(str::to_owned);
    Arc::new(e)
}

fn det(host: &str, index: u64, minute: i64, rules: &[&Arc<RuleMeta>]) -> Detection {
    Detection {
        event: event(
            Some(host),
            index,
            minute,
            serde_json::json!({"Image": "x.exe"}),
        ),
        hits: rules.iter().map(|r| Hit::Rule((*r).clone())).collect(),
        indicators: Vec::new(),
        ack: Ack::none(),
    }
}

fn feed_det(host: Option<&str>, index: u64, minute: i64, value: &str, level: Level) -> Detection {
    let ind = IndicatorRef::bare("ipv4", value);
    Detection {
        event: event(
            host,
            index,
            minute,
            serde_json::json!({"DestinationIp": value}),
        ),
        hits: vec![Hit::Feed {
            indicator: ind.clone(),
            feed: "test-feed".into(),
            level,
        }],
        indicators: vec![ind],
        ack: Ack::none(),
    }
}

fn with_history() -> (CaseSettings, Arc<SledHistory>) {
    let store = Store::temporary().unwrap();
    let h = Arc::new(SledHistory::open(&store).unwrap());
    (
        CaseSettings {
            history: Some(h.clone()),
            ..Default::default()
        },
        h,
    )
}

#[test]
fn repeats_are_counted_in_one_finding() {
    let r = rule("r1", Level::High);
    let mut book = CaseBook::new(CaseSettings {
        max_evidence: 2,
        ..Default::default()
    });
    let now = Utc::now();
    for i in 0..5 {
        book.observe(&det("ws-1", i, i as i64, &[&r]), now);
    }
    let out = book.publish_dirty(now);
    assert_eq!(out.len(), 1);
    let v = &out[0].verdict;
    assert_eq!(v.findings.len(), 1);
    assert_eq!(v.findings[0].count, 5);
    assert_eq!(v.findings[0].suppressed, 4);
    assert_eq!(v.findings[0].evidence.len(), 2);
    assert_eq!(
        v.findings[0].evidence[0].fields.get("Image").unwrap(),
        "x.exe"
    );
    assert_eq!(v.version, 1);
    // Nothing new: nothing to publish.
    assert!(book.publish_dirty(now).is_empty());
}

#[test]
fn repeats_within_the_suppression_window_do_not_realert() {
    let r = rule("r1", Level::High);
    let mut book = CaseBook::new(CaseSettings {
        suppression: Duration::minutes(10),
        ..Default::default()
    });
    let now = Utc::now();
    book.observe(&det("ws-1", 0, 0, &[&r]), now);
    assert_eq!(book.publish_dirty(now).len(), 1);
    // Repeats 1..9 minutes later: counted, no new version.
    for i in 1..10 {
        book.observe(&det("ws-1", i, i as i64, &[&r]), now);
    }
    assert!(book.publish_dirty(now).is_empty());
    // Past the suppression window the same rule alerts again, carrying the count.
    book.observe(&det("ws-1", 10, 11, &[&r]), now);
    let out = book.publish_dirty(now);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].verdict.version, 2);
    assert_eq!(out[0].verdict.findings[0].count, 11);
    assert_eq!(out[0].verdict.findings[0].suppressed, 9);
}

#[test]
fn hosts_get_separate_cases_and_versions_increase() {
    let r = rule("r1", Level::Medium);
    let r2 = rule("r2", Level::Medium);
    let mut book = CaseBook::new(CaseSettings::default());
    let now = Utc::now();
    assert!(book.observe(&det("a", 0, 0, &[&r]), now).opened);
    assert!(book.observe(&det("b", 1, 0, &[&r]), now).opened);
    assert!(!book.observe(&det("a", 2, 1, &[&r]), now).opened);
    assert_eq!(book.publish_dirty(now).len(), 2);
    book.observe(&det("a", 3, 2, &[&r2]), now);
    let again = book.publish_host("a", now).unwrap();
    assert_eq!(again.verdict.version, 2);
}

#[test]
fn a_match_past_the_window_opens_a_new_case() {
    let r = rule("r1", Level::Medium);
    let mut book = CaseBook::new(CaseSettings {
        window: Duration::minutes(30),
        ..Default::default()
    });
    let now = Utc::now();
    book.observe(&det("a", 0, 0, &[&r]), now);
    let first = book.publish_dirty(now).remove(0).verdict;
    let observed = book.observe(&det("a", 1, 90, &[&r]), now);
    let (closed, opened) = (observed.closed, observed.opened);
    assert!(opened);
    assert!(closed.is_empty(), "the old case had nothing unpublished");
    let second = book.publish_dirty(now).remove(0).verdict;
    assert_ne!(first.case_id, second.case_id);
}

#[test]
fn inactive_cases_close_and_the_cap_holds() {
    let r = rule("r1", Level::Medium);
    let mut book = CaseBook::new(CaseSettings {
        max_open: 2,
        ..Default::default()
    });
    let now = Utc::now();
    for (i, h) in ["a", "b", "c"].iter().enumerate() {
        let closed = book.observe(&det(h, i as u64, 0, &[&r]), now).closed;
        if i == 2 {
            assert_eq!(closed.len(), 1);
            assert_eq!(closed[0].verdict.host, "a");
        }
    }
    assert_eq!(book.open_cases(), 2);
    let out = book.close_inactive(t0() + Duration::hours(3), now);
    assert_eq!(out.len(), 2);
    assert_eq!(book.open_cases(), 0);
}

#[test]
fn events_without_a_host_are_keyed_by_user_then_address() {
    let r = rule("r1", Level::Medium);
    let mut book = CaseBook::new(CaseSettings::default());
    let now = Utc::now();
    let mk = |fields: serde_json::Value, i| Detection {
        event: event(None, i, 0, fields),
        hits: vec![Hit::Rule(r.clone())],
        indicators: Vec::new(),
        ack: Ack::none(),
    };
    book.observe(
        &mk(serde_json::json!({"recipient": "a.smith@corp.example"}), 0),
        now,
    );
    book.observe(&mk(serde_json::json!({"SourceIp": "198.51.100.4"}), 1), now);
    let out = book.publish_dirty(now);
    let kinds: BTreeSet<EntityKind> = out.iter().map(|p| p.verdict.entity.kind).collect();
    assert_eq!(
        kinds,
        BTreeSet::from([EntityKind::User, EntityKind::SourceAddress])
    );
    assert!(out.iter().all(|p| p.verdict.host == UNKNOWN_HOST));
}

#[test]
fn a_feed_hit_alone_opens_a_case_as_unclassified_evidence() {
    let mut book = CaseBook::new(CaseSettings::default());
    let now = Utc::now();
    let opened = book
        .observe(
            &feed_det(Some("ws-9"), 0, 0, "203.0.113.7", Level::High),
            now,
        )
        .opened;
    assert!(opened);
    let v = book.publish_dirty(now).remove(0).verdict;
    assert_eq!(v.unclassified.len(), 1);
    assert!(v.unclassified[0].reason.contains("203.0.113.7"));
    let kinds: Vec<FindingKind> = v.findings.iter().map(|f| f.kind).collect();
    assert!(kinds.contains(&FindingKind::FeedHit));
    assert!(kinds.contains(&FindingKind::Unclassified));
    assert_eq!(v.score, 30); // high feed hit 25 + unclassified 5
    assert_eq!(v.indicators[0].value, "203.0.113.7");
}

#[test]
fn enrichment_updates_every_open_case_carrying_the_indicator() {
    let mut book = CaseBook::new(CaseSettings {
        expect_enrichment: true,
        ..Default::default()
    });
    let now = Utc::now();
    book.observe(
        &feed_det(Some("a"), 0, 0, "203.0.113.7", Level::Medium),
        now,
    );
    book.observe(
        &feed_det(Some("b"), 1, 0, "203.0.113.7", Level::Medium),
        now,
    );
    book.observe(
        &feed_det(Some("c"), 2, 0, "198.51.100.1", Level::Medium),
        now,
    );
    let before = book.publish_dirty(now);
    assert!(before.iter().all(|p| p.verdict.missing_evidence.len() == 2));
    let profile = IndicatorRef {
        tier: Some("malicious".into()),
        score: Some(90),
        sources: vec![verdict::SourceOpinion {
            source: "feed-x".into(),
            opinion: "malicious".into(),
            strength: 0.9,
            detail: "c2".into(),
            link: None,
            observed_at: now,
        }],
        ..IndicatorRef::bare("ipv4", "203.0.113.7")
    };
    let out = book.enrich(profile.clone(), now);
    assert_eq!(out.len(), 2);
    for p in &out {
        let v = &p.verdict;
        let f = v
            .findings
            .iter()
            .find(|f| f.kind == FindingKind::Enrichment)
            .unwrap();
        assert_eq!(f.weight, 24.0); // 30 * (90 - 50) / 50
        assert_eq!(f.indicators[0].sources[0].source, "feed-x");
        assert_eq!(v.stage, Stage::Investigate);
        let old = before
            .iter()
            .find(|b| b.verdict.case_id == v.case_id)
            .unwrap();
        assert!(v.score > old.verdict.score);
        assert!(v.missing_evidence.iter().all(|m| !m.contains("enrichment")));
    }
    // Updated, not duplicated, on a second profile.
    let benign = IndicatorRef {
        tier: Some("benign".into()),
        score: Some(0),
        ..profile
    };
    let again = book.enrich(benign, now);
    let f: Vec<_> = again[0]
        .verdict
        .findings
        .iter()
        .filter(|f| f.kind == FindingKind::Enrichment)
        .collect();
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].weight, -30.0);
}

#[test]
fn stages_advance_triage_investigate_validate_recommend_respond() {
    let (settings, h) = with_history();
    let mut book = CaseBook::new(settings);
    let now = t0();
    let r1 = rule_tagged("r1", Level::High, &["attack.t1003.001"]);
    book.observe(&det("ws-1", 0, 0, &[&r1]), now);
    let v1 = book.publish_dirty(now).remove(0).verdict;
    // One high rule: history consulted, not an incident.
    assert_eq!(v1.stage, Stage::Investigate);
    assert_eq!(v1.timeline[0].stage, Stage::Triage);
    assert_eq!(v1.timeline[1].stage, Stage::Investigate);
    let later = now + Duration::minutes(1);
    let r2 = rule_tagged("r2", Level::Critical, &["attack.t1059.001"]);
    book.observe(&det("ws-1", 1, 1, &[&r2]), later);
    let v2 = book.publish_dirty(later).remove(0).verdict;
    assert_eq!(v2.conclusion, Conclusion::Incident);
    assert_eq!(v2.stage, Stage::Recommend);
    let stages: Vec<Stage> = v2.timeline.iter().map(|e| e.stage).collect();
    assert_eq!(
        stages,
        vec![
            Stage::Triage,
            Stage::Investigate,
            Stage::Validate,
            Stage::Recommend
        ]
    );
    assert!(!v2.next_steps.is_empty());
    assert!(v2.timeline[2].time == later && v2.timeline[0].time == now);
    // An analyst acts: the next version is in `respond`, and the case leaves the book.
    let at = later + Duration::minutes(1);
    h.add_feedback(&Feedback {
        case_id: v2.case_id.clone(),
        disposition: Disposition::TruePositive,
        note: "confirmed".into(),
        analyst: "alice".into(),
        at,
    })
    .unwrap();
    h.close(&v2.case_id, "alice", "contained", at).unwrap();
    let r3 = rule("r3", Level::Low);
    book.observe(&det("ws-1", 2, 2, &[&r3]), at);
    let v3 = book.publish_dirty(at).remove(0).verdict;
    assert_eq!(v3.stage, Stage::Respond);
    assert!(v3.timeline.iter().any(|e| e.actor == "alice"));
    assert_eq!(book.open_cases(), 0, "closed by the analyst");
}

#[test]
fn history_raises_the_score_of_a_compromised_host_and_a_confirmed_indicator() {
    let (settings, h) = with_history();
    let mut book = CaseBook::new(settings);
    let now = t0();
    let crit = rule("crit", Level::Critical);
    let mut first = feed_det(Some("ws-1"), 0, 0, "203.0.113.7", Level::High);
    first.hits.push(Hit::Rule(crit.clone()));
    book.observe(&first, now);
    let v1 = book.publish_dirty(now).remove(0).verdict;
    assert_eq!(v1.conclusion, Conclusion::Incident);
    h.add_feedback(&Feedback {
        case_id: v1.case_id.clone(),
        disposition: Disposition::TruePositive,
        note: String::new(),
        analyst: "alice".into(),
        at: now,
    })
    .unwrap();
    book.close_inactive(t0() + Duration::hours(5), now);
    // A week later the same indicator shows up on the same host, and on another host.
    let week = 7 * 24 * 60;
    let mut b2 = CaseBook::new(CaseSettings {
        history: Some(h.clone()),
        ..Default::default()
    });
    b2.observe(
        &feed_det(Some("ws-1"), 1, week, "203.0.113.7", Level::Low),
        now,
    );
    b2.observe(
        &feed_det(Some("ws-2"), 2, week, "203.0.113.7", Level::Low),
        now,
    );
    let out = b2.publish_dirty(now);
    let on = |host: &str| {
        out.iter()
            .find(|p| p.verdict.host == host)
            .unwrap()
            .verdict
            .clone()
    };
    let (same, other) = (on("ws-1"), on("ws-2"));
    let history: Vec<&verdict::Finding> = same
        .findings
        .iter()
        .filter(|f| f.kind == FindingKind::History)
        .collect();
    assert_eq!(history.len(), 2, "{:?}", same.reasoning);
    assert!(
        history
            .iter()
            .all(|f| f.prior_cases == vec![v1.case_id.clone()])
    );
    // low feed 8 + unclassified 5 + confirmed indicator 30 + compromised host 20
    assert_eq!(same.score, 63);
    // The other host only has the indicator history.
    assert_eq!(other.score, 43);
}

#[test]
fn feedback_changes_the_next_verdict_for_the_same_rule_and_entity() {
    let (settings, h) = with_history();
    let mut book = CaseBook::new(settings);
    let now = t0();
    let noisy = rule("noisy", Level::High);
    book.observe(&det("ws-1", 0, 0, &[&noisy]), now);
    let v1 = book.publish_dirty(now).remove(0).verdict;
    assert_eq!(v1.score, 25);
    h.add_feedback(&Feedback {
        case_id: v1.case_id.clone(),
        disposition: Disposition::FalsePositive,
        note: "backup job".into(),
        analyst: "bob".into(),
        at: now,
    })
    .unwrap();
    // The same case's next version already carries the feedback.
    book.observe(&det("ws-1", 1, 20, &[&noisy]), now);
    let v2 = book.publish_dirty(now).remove(0).verdict;
    assert_eq!(v2.score, 0);
    assert_eq!(v2.conclusion, Conclusion::Benign);
    assert!(v2.findings.iter().any(|f| f.kind == FindingKind::Feedback));
    // A new case on another host is not affected.
    book.observe(&det("ws-2", 2, 21, &[&noisy]), now);
    let v3 = book.publish_host("ws-2", now).unwrap().verdict;
    assert_eq!(v3.score, 25);
}

#[test]
fn feedback_on_an_indicator_lowers_later_cases_carrying_it() {
    let (settings, h) = with_history();
    let mut book = CaseBook::new(settings);
    let now = t0();
    book.observe(
        &feed_det(Some("ws-1"), 0, 0, "192.0.2.9", Level::Medium),
        now,
    );
    let v1 = book.publish_dirty(now).remove(0).verdict;
    h.add_feedback(&Feedback {
        case_id: v1.case_id.clone(),
        disposition: Disposition::Benign,
        note: "CDN".into(),
        analyst: "bob".into(),
        at: now,
    })
    .unwrap();
    book.observe(
        &feed_det(Some("ws-3"), 1, 1, "192.0.2.9", Level::Medium),
        now,
    );
    let v2 = book.publish_host("ws-3", now).unwrap().verdict;
    assert_eq!(v2.score, 0, "{:?}", v2.reasoning);
    assert!(
        v2.findings
            .iter()
            .any(|f| f.kind == FindingKind::Feedback && f.prior_cases == vec![v1.case_id.clone()])
    );
}

#[test]
fn published_cases_are_stored_with_indexes_and_events() {
    let (settings, h) = with_history();
    let mut book = CaseBook::new(settings);
    let now = t0();
    let r = rule("r1", Level::High);
    let mut d = det("ws-1", 0, 0, &[&r]);
    d.indicators = vec![IndicatorRef::bare("domain", "evil.example")];
    book.observe(&d, now);
    let v = book.publish_dirty(now).remove(0).verdict;
    let rec = h.case(&v.case_id).unwrap().unwrap();
    assert_eq!(rec.version, 1);
    assert_eq!(rec.rules, vec!["r1"]);
    assert_eq!(
        h.cases_for_indicator("EVIL.example").unwrap(),
        vec![v.case_id.clone()]
    );
    assert_eq!(
        h.cases_for_entity(&EntityRef::new(EntityKind::Host, "ws-1"))
            .unwrap(),
        vec![v.case_id.clone()]
    );
    assert_eq!(h.events(&v.case_id).unwrap().len(), 1);
    assert_eq!(h.verdicts(&v.case_id).unwrap()[0], *v);
    book.close_inactive(t0() + Duration::hours(2), now);
    assert_eq!(
        h.case(&v.case_id).unwrap().unwrap().status,
        CaseStatus::Closed
    );
}

#[test]
fn indicators_are_new_once_per_case_and_unchanged_profiles_publish_nothing() {
    let mut book = CaseBook::new(CaseSettings {
        expect_enrichment: true,
        ..CaseSettings::default()
    });
    let now = t0();
    let r = rule("r1", Level::High);
    let ind = IndicatorRef::bare("domain", "evil.example");
    let mut d = det("ws-1", 0, 0, &[&r]);
    d.indicators = vec![ind.clone()];
    assert_eq!(book.observe(&d, now).new_indicators, vec![ind.clone()]);
    let mut d2 = det("ws-1", 1, 1, &[&r]);
    d2.indicators = vec![ind.clone()];
    assert!(book.observe(&d2, now).new_indicators.is_empty());
    // Another case sees it for the first time.
    let mut d3 = det("ws-2", 2, 1, &[&r]);
    d3.indicators = vec![ind.clone()];
    assert_eq!(book.observe(&d3, now).new_indicators.len(), 1);
    book.publish_dirty(now);

    let profile = IndicatorRef {
        tier: Some("HIGH".into()),
        score: Some(70),
        ..ind
    };
    let first = book.enrich(profile.clone(), now);
    assert_eq!(first.len(), 2);
    assert!(first.iter().all(|p| p.summarize));
    // The same opinions again (from the cache, for a third case's submission): no version.
    assert!(book.enrich(profile, now).is_empty());
}

#[test]
fn a_case_keeps_at_most_its_indicator_cap_however_long_it_stays_open() {
    let mut book = CaseBook::new(CaseSettings {
        max_indicators: 3,
        ..CaseSettings::default()
    });
    let now = t0();
    let r = rule("r1", Level::High);
    // One new hash per detection, as a phishing campaign that rotates its attachment.
    for i in 0..50u64 {
        let mut d = det("ws-1", i, i as i64 % 30, &[&r]);
        d.indicators = vec![IndicatorRef::bare("sha256", format!("{i:064x}"))];
        let new = book.observe(&d, now).new_indicators;
        assert_eq!(new.len(), usize::from(i < 3), "detection {i}: {new:?}");
    }
    // A kept indicator seen again still gains evidence; a feed hit past the cap is a finding.
    let mut again = det("ws-1", 60, 5, &[&r]);
    again.indicators = vec![IndicatorRef::bare("sha256", format!("{:064x}", 1))];
    book.observe(&again, now);
    book.observe(
        &feed_det(Some("ws-1"), 61, 6, "203.0.113.9", Level::High),
        now,
    );
    let out = book.publish_dirty(now);
    let v = &out[0].verdict;
    let listed: Vec<&str> = v.indicators.iter().map(|i| i.value.as_str()).collect();
    assert_eq!(
        listed,
        [0u64, 1, 2].map(|i| format!("{i:064x}")),
        "the first three are kept"
    );
    assert!(
        v.findings.iter().any(|f| f.kind == FindingKind::FeedHit
            && f.indicators.iter().any(|i| i.value == "203.0.113.9")),
        "{:?}",
        v.findings
    );
    let case = book.open.values().next().unwrap();
    assert_eq!(case.indicator_evidence.len(), 3);
    assert_eq!(case.indicator_evidence[&format!("{:064x}", 1)].len(), 2);
}

fn summary(case_version: u32) -> crate::verdict::summary::Summary {
    crate::verdict::summary::Summary {
        case_version,
        executive_summary: "the host ran an encoded powershell".into(),
        hypotheses: Vec::new(),
        suggested_next_queries: Vec::new(),
        model: "mock".into(),
        generated_at: t0(),
        tokens: Default::default(),
    }
}

#[test]
fn summaries_are_new_versions_that_are_not_summarized_again() {
    let mut book = CaseBook::new(CaseSettings::default());
    let now = t0();
    let r = rule("r1", Level::High);
    book.observe(&det("ws-1", 0, 0, &[&r]), now);
    let v1 = book.publish_dirty(now).remove(0);
    assert!(v1.summarize);
    assert!(v1.verdict.summary.is_none());

    let v2 = book
        .attach_summary(&v1.verdict.case_id, summary(1), now)
        .unwrap();
    assert_eq!(v2.verdict.version, 2);
    assert!(
        !v2.summarize,
        "a summary-only version is not summarized again"
    );
    assert_eq!(v2.verdict.summary.as_ref().unwrap().case_version, 1);
    assert_eq!(v2.verdict.score, v1.verdict.score, "summaries never score");

    // New evidence: the next version keeps the summary and asks for a new one.
    book.observe(&det("ws-1", 1, 1, &[&rule("r2", Level::Medium)]), now);
    let v3 = book.publish_dirty(now).remove(0);
    assert!(v3.summarize);
    assert_eq!(v3.verdict.summary.as_ref().unwrap().case_version, 1);
    // A late summary of an older version than the one held is dropped.
    book.attach_summary(&v1.verdict.case_id, summary(3), now);
    assert!(
        book.attach_summary(&v1.verdict.case_id, summary(2), now)
            .is_none()
    );
    assert!(
        book.attach_summary("no-such-case", summary(1), now)
            .is_none()
    );
    assert_eq!(book.case_events(&v1.verdict.case_id).len(), 2);
}

#[test]
fn open_cases_resume_after_a_restart_with_versions_findings_and_suppression() {
    let (settings, h) = with_history();
    let now = t0();
    let r1 = rule("r1", Level::High);
    let r2 = rule("r2", Level::Medium);
    let (ws_case, dc_case, db_case) = {
        let mut book = CaseBook::new(settings.clone());
        book.observe(&det("ws-1", 0, 0, &[&r1]), now);
        book.observe(&det("dc-1", 1, 0, &[&r1]), now);
        book.observe(&det("db-1", 2, 0, &[&r1]), now);
        book.observe(
            &feed_det(Some("ws-1"), 3, 1, "203.0.113.9", Level::High),
            now,
        );
        let v1 = book.publish_dirty(now);
        assert_eq!(v1.len(), 3);
        book.observe(&det("ws-1", 4, 2, &[&r2]), now);
        let v2 = book.publish_dirty(now).remove(0).verdict;
        assert_eq!(v2.version, 2);
        let id = |host: &str| {
            v1.iter()
                .find(|p| p.verdict.host == host)
                .unwrap()
                .verdict
                .case_id
                .clone()
        };
        (v2.case_id.clone(), id("dc-1"), id("db-1"))
        // The book is dropped here, as a killed daemon's would be.
    };
    // While the daemon is down an analyst closes dc-1's case.
    h.close(&dc_case, "alice", "benign admin work", now)
        .unwrap();

    let mut book = CaseBook::new(settings.clone());
    assert_eq!(book.resume(now), 2, "ws-1 and db-1; dc-1 was closed");
    assert_eq!(book.open_cases(), 2);
    assert!(book.publish_dirty(now).is_empty(), "nothing new to publish");
    let resumed_events = book.case_events(&ws_case);
    assert_eq!(resumed_events.len(), 3, "stored evidence events reloaded");

    // A repeat of r1 within the suppression window: counted, no new version.
    let later = now + Duration::minutes(3);
    book.observe(&det("ws-1", 5, 3, &[&r1]), later);
    assert!(book.publish_dirty(later).is_empty(), "suppression survived");
    // A new rule on ws-1 joins the same case and continues its versions.
    let r3 = rule("r3", Level::Critical);
    book.observe(&det("ws-1", 6, 4, &[&r3]), later);
    let v3 = book.publish_dirty(later).remove(0).verdict;
    assert_eq!(v3.case_id, ws_case);
    assert_eq!(v3.version, 3);
    let mut rules: Vec<&str> = v3
        .findings
        .iter()
        .filter(|f| f.kind == FindingKind::RuleMatch)
        .map(|f| f.rule_id.as_str())
        .collect();
    rules.sort_unstable();
    assert_eq!(rules, vec!["r1", "r2", "r3"]);
    let r1_finding = v3.findings.iter().find(|f| f.rule_id == "r1").unwrap();
    assert_eq!(r1_finding.count, 2);
    assert!(v3.findings.iter().any(|f| f.kind == FindingKind::FeedHit));
    assert_eq!(h.verdicts(&ws_case).unwrap().len(), 3);

    // dc-1 gets a new case; db-1's resumed case closes as inactive like any other.
    book.observe(&det("dc-1", 7, 4, &[&r1]), later);
    let dc = book.publish_dirty(later).remove(0).verdict;
    assert_ne!(dc.case_id, dc_case);
    let closed = book.close_inactive(now + Duration::hours(3), later);
    assert!(closed.is_empty(), "nothing unpublished");
    assert_eq!(
        h.case(&db_case).unwrap().unwrap().status,
        CaseStatus::Closed
    );
    // After another restart only what is still open resumes.
    let mut again = CaseBook::new(settings);
    assert_eq!(again.resume(later), 0, "all closed by inactivity");
}

fn tracked(det: &mut Detection) -> std::sync::mpsc::Receiver<crate::flow::ack::Outcome> {
    let (tx, rx) = std::sync::mpsc::channel();
    det.ack = Ack::new(move |o| {
        let _ = tx.send(o);
    });
    rx
}

#[test]
fn a_suppressed_repeat_is_acknowledged_only_once_its_count_is_saved() {
    let (settings, h) = with_history();
    let r = rule("r1", Level::High);
    let now = t0();
    let mut book = CaseBook::new(CaseSettings {
        suppression: Duration::minutes(10),
        ..settings.clone()
    });
    book.observe(&det("ws-1", 0, 0, &[&r]), now);
    let v1 = book.publish_dirty(now).remove(0).verdict;
    let mut repeat = det("ws-1", 1, 1, &[&r]);
    let outcome = tracked(&mut repeat);
    book.observe(&repeat, now);
    repeat.ack.done(); // the case stage releases its own share after observing
    assert!(book.publish_dirty(now).is_empty(), "suppressed: no version");
    assert!(outcome.try_recv().is_err(), "held until the count is saved");
    book.save_quiet();
    assert_eq!(
        outcome.try_recv().unwrap(),
        crate::flow::ack::Outcome::Delivered
    );
    // The saved state has the count: a restarted book continues from 2.
    let mut resumed = CaseBook::new(CaseSettings {
        suppression: Duration::minutes(10),
        ..settings
    });
    assert_eq!(resumed.resume(now), 1);
    resumed.observe(&det("ws-1", 2, 20, &[&r]), now);
    let v2 = resumed.publish_dirty(now).remove(0).verdict;
    assert_eq!(v2.case_id, v1.case_id);
    assert_eq!(v2.findings[0].count, 3);
    assert_eq!(h.verdicts(&v1.case_id).unwrap().len(), 2);
}

#[test]
fn events_read_again_after_a_crash_are_not_counted_twice() {
    let (settings, _h) = with_history();
    // Every event alerts, so every change is published and saved.
    let settings = CaseSettings {
        suppression: Duration::zero(),
        ..settings
    };
    let r = rule("r1", Level::High);
    let now = t0();
    let mut book = CaseBook::new(settings.clone());
    for i in 0..3 {
        book.observe(&det("ws-1", i, i as i64, &[&r]), now);
    }
    assert_eq!(book.publish_dirty(now)[0].verdict.findings[0].count, 3);
    // Killed; the input had committed only up to event 1 and reads 1 and 2 again.
    let mut resumed = CaseBook::new(settings);
    assert_eq!(resumed.resume(now), 1);
    for i in 1..3 {
        resumed.observe(&det("ws-1", i, i as i64, &[&r]), now);
    }
    assert!(resumed.publish_dirty(now).is_empty(), "nothing new");
    resumed.observe(&det("ws-1", 3, 3, &[&r]), now);
    let v = resumed.publish_dirty(now).remove(0).verdict;
    assert_eq!(v.findings[0].count, 4);
}
