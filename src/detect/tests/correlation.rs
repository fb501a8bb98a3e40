//! Correlation tests: every type, group-by, timespan windows, conditions, aliases, chaining,
//! `generate`, and the bounded-state limits.

use std::sync::Arc;

use serde_json::{Value, json};

use super::{event_at, rules};
use crate::detect::{
    CorrelationLimits, CorrelationMatch, CorrelationType, Correlator, RuleKind, RuleMatch, RuleSet,
};

const BASE: &str = r#"
title: Failed login
id: fail-id
name: failed_login
logsource:
    product: windows
    service: security
detection:
    s:
        EventID: 4625
    condition: s
---
title: Successful login
id: ok-id
name: successful_login
logsource:
    product: windows
    service: security
detection:
    s:
        EventID: 4624
    condition: s
"#;

fn run(rs: &Arc<RuleSet>, events: &[(i64, Value)]) -> (Vec<CorrelationMatch>, Vec<Vec<RuleMatch>>) {
    run_limits(rs, events, CorrelationLimits::default())
}

fn run_limits(
    rs: &Arc<RuleSet>,
    events: &[(i64, Value)],
    limits: CorrelationLimits,
) -> (Vec<CorrelationMatch>, Vec<Vec<RuleMatch>>) {
    let mut c = Correlator::new(rs.clone(), limits);
    let mut out = Vec::new();
    let mut singles = Vec::new();
    for (t, f) in events {
        let e = Arc::new(event_at(
            (Some("windows"), None, Some("security")),
            f.clone(),
            *t,
        ));
        let mut ms = Vec::new();
        rs.matches(&e, &mut ms);
        c.observe(&e, &ms, &mut out);
        singles.push(ms);
    }
    (out, singles)
}

fn corr(body: &str) -> Arc<RuleSet> {
    Arc::new(rules(&format!("{BASE}\n---\n{body}")))
}

fn fail(user: &str) -> Value {
    json!({"EventID": 4625, "User": user, "Computer": "h1"})
}

fn ok(user: &str) -> Value {
    json!({"EventID": 4624, "User": user, "Computer": "h1"})
}

#[test]
fn event_count_with_group_by_and_window() {
    let rs = corr(
        "title: Many failed\nid: many\nlevel: high\ncorrelation:\n    type: event_count\n    rules: [failed_login]\n    group-by: [User]\n    timespan: 1m\n    condition:\n        gte: 3\n",
    );
    assert!(rs.has_correlations());
    assert_eq!(rs.len(), 3);
    let c = rs.rules().find(|r| r.id == "many").unwrap();
    assert_eq!(c.kind, RuleKind::Correlation(CorrelationType::EventCount));
    // two users interleaved; bob reaches 3 within 60 s, alice's events are spread out
    let (out, singles) = run(
        &rs,
        &[
            (0, fail("alice")),
            (1, fail("bob")),
            (2, fail("bob")),
            (70, fail("alice")),
            (75, fail("bob")),
            (80, fail("alice")),
        ],
    );
    assert!(
        singles.iter().flatten().all(|m| !m.emit),
        "referenced rules are not emitted"
    );
    assert_eq!(
        out.len(),
        0,
        "bob's third event is outside the 60 s window of his first"
    );
    let (out, _) = run(
        &rs,
        &[
            (0, fail("bob")),
            (10, fail("alice")),
            (20, fail("bob")),
            (30, fail("bob")),
        ],
    );
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].group.get("User").map(String::as_str), Some("bob"));
    assert_eq!(out[0].value, Some(3.0));
    assert_eq!(out[0].events.len(), 3);
    assert_eq!(out[0].correlation_type, CorrelationType::EventCount);
    assert_eq!(
        serde_json::to_value(out[0].correlation_type).unwrap(),
        json!("event_count")
    );
}

#[test]
fn event_count_ranges() {
    let rs = corr(
        "title: Range\nid: range\ncorrelation:\n    type: event_count\n    rules: [fail-id]\n    group-by: [User]\n    timespan: 1h\n    condition:\n        gt: 1\n        lte: 2\n",
    );
    let (out, _) = run(&rs, &[(0, fail("a")), (1, fail("a"))]);
    assert_eq!(out.len(), 1);
    let neq = corr(
        "title: Neq\nid: neq\ncorrelation:\n    type: event_count\n    rules: [fail-id]\n    group-by: [User]\n    timespan: 1h\n    condition:\n        neq: 1\n",
    );
    let (out, _) = run(&neq, &[(0, fail("a")), (1, fail("a"))]);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].value, Some(2.0));
}

#[test]
fn value_count_distinct() {
    let rs = corr(
        "title: Spray\nid: spray\ncorrelation:\n    type: value_count\n    rules: [failed_login]\n    group-by: [Computer]\n    timespan: 1h\n    condition:\n        field: User\n        gte: 3\n",
    );
    let (out, _) = run(
        &rs,
        &[
            (0, fail("a")),
            (1, fail("a")),
            (2, fail("b")),
            (3, fail("b")),
        ],
    );
    assert!(out.is_empty());
    let (out, _) = run(
        &rs,
        &[
            (0, fail("a")),
            (1, fail("a")),
            (2, fail("b")),
            (3, fail("c")),
        ],
    );
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].value, Some(3.0));
    assert_eq!(out[0].group.get("Computer").map(String::as_str), Some("h1"));
}

#[test]
fn temporal_any_order() {
    let rs = corr(
        "title: Both\nid: both\ncorrelation:\n    type: temporal\n    rules: [failed_login, successful_login]\n    group-by: [User]\n    timespan: 5m\n",
    );
    let (out, _) = run(&rs, &[(0, ok("a")), (10, fail("a"))]);
    assert_eq!(out.len(), 1);
    let (out, _) = run(&rs, &[(0, ok("a")), (10, fail("b"))]);
    assert!(out.is_empty(), "different groups");
    let (out, _) = run(&rs, &[(0, ok("a")), (400, fail("a"))]);
    assert!(out.is_empty(), "outside timespan");
}

#[test]
fn temporal_ordered_requires_order() {
    let rs = corr(
        "title: Then\nid: then\ncorrelation:\n    type: temporal_ordered\n    rules: [failed_login, successful_login]\n    group-by: [User]\n    timespan: 5m\n",
    );
    let (out, _) = run(&rs, &[(0, ok("a")), (10, fail("a"))]);
    assert!(out.is_empty(), "wrong order");
    let (out, _) = run(&rs, &[(0, ok("a")), (10, fail("a")), (20, ok("a"))]);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].correlation_type, CorrelationType::TemporalOrdered);
}

#[test]
fn value_sum_avg_percentile() {
    let base = "title: Web\nid: web\nname: website_access\nlogsource:\n    product: windows\n    service: security\ndetection:\n    s:\n        EventID: 1\n    condition: s\n";
    let sum = Arc::new(rules(&format!(
        "{base}---\ntitle: Exfil\nid: sum\ncorrelation:\n    type: value_sum\n    rules: [website_access]\n    group-by: [User]\n    timespan: 1h\n    condition:\n        field: bytes_sent\n        gt: 1000\n"
    )));
    let ev = |u: &str, b: i64| json!({"EventID": 1, "User": u, "bytes_sent": b});
    let (out, _) = run(
        &sum,
        &[(0, ev("a", 600)), (1, ev("b", 600)), (2, ev("a", 500))],
    );
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].value, Some(1100.0));
    let avg = Arc::new(rules(&format!(
        "{base}---\ntitle: Avg\nid: avg\ncorrelation:\n    type: value_avg\n    rules: [website_access]\n    group-by: [User]\n    timespan: 1h\n    condition:\n        field: bytes_sent\n        gt: 500\n"
    )));
    let (out, _) = run(&avg, &[(0, ev("a", 100)), (1, ev("a", 800))]);
    assert!(out.is_empty(), "avg 450");
    let (out, _) = run(
        &avg,
        &[(0, ev("a", 100)), (1, ev("a", 800)), (2, ev("a", 900))],
    );
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].value, Some(600.0));
    let pct = Arc::new(rules(&format!(
        "{base}---\ntitle: Rare\nid: rare\ncorrelation:\n    type: value_percentile\n    rules: [website_access]\n    group-by: [Computer]\n    timespan: 1h\n    condition:\n        field: Image\n        lte: 10\n"
    )));
    let mut evs: Vec<(i64, Value)> = (0..19)
        .map(|i| {
            (
                i,
                json!({"EventID": 1, "Computer": "h", "Image": "common.exe"}),
            )
        })
        .collect();
    let (out, _) = run(&pct, &evs);
    assert!(out.is_empty());
    evs.push((
        30,
        json!({"EventID": 1, "Computer": "h", "Image": "rare.exe"}),
    ));
    let (out, _) = run(&pct, &evs);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].value, Some(5.0));
}

#[test]
fn aliases_map_fields_per_rule() {
    let yaml = r#"
title: Internal error
id: ie
name: internal_error
logsource:
    product: windows
    service: security
detection:
    s:
        status: 500
    condition: s
---
title: New connection
id: nc
name: new_network_connection
logsource:
    product: windows
    service: security
detection:
    s:
        outcome: success
    condition: s
---
title: Error then connection
id: corr
correlation:
    type: temporal
    rules: [internal_error, new_network_connection]
    group-by: [internal_ip]
    timespan: 10s
    aliases:
        internal_ip:
            internal_error: destination.ip
            new_network_connection: source.ip
"#;
    let rs = Arc::new(rules(yaml));
    let e1 = json!({"status": 500, "destination": {"ip": "10.0.0.5"}});
    let e2 = json!({"outcome": "success", "source": {"ip": "10.0.0.5"}});
    let e3 = json!({"outcome": "success", "source": {"ip": "10.0.0.6"}});
    let (out, _) = run(&rs, &[(0, e1.clone()), (1, e3)]);
    assert!(out.is_empty());
    let (out, _) = run(&rs, &[(0, e1), (1, e2)]);
    assert_eq!(out.len(), 1);
    assert_eq!(
        out[0].group.get("internal_ip").map(String::as_str),
        Some("10.0.0.5")
    );
}

#[test]
fn chaining_and_generate() {
    // The spec's example: many failed logins (event_count) followed by a success (temporal_ordered).
    let yaml = format!(
        "{BASE}\n---\ntitle: Brute then success\nid: outer\nlevel: critical\ncorrelation:\n    type: temporal_ordered\n    rules:\n        - multiple_failed_login\n        - successful_login\n    group-by: [User]\n    timespan: 10m\n---\ntitle: Multiple failed\nid: inner\nname: multiple_failed_login\ncorrelation:\n    type: event_count\n    rules: [failed_login]\n    group-by: [User]\n    timespan: 10m\n    condition:\n        gte: 3\n"
    );
    let rs = Arc::new(rules(&yaml));
    let (out, singles) = run(
        &rs,
        &[(0, fail("u")), (1, fail("u")), (2, fail("u")), (3, ok("u"))],
    );
    assert_eq!(
        out.len(),
        1,
        "only the outer correlation is reported: {out:?}"
    );
    assert_eq!(out[0].rule.id, "outer");
    assert_eq!(out[0].events.len(), 4);
    assert!(singles.iter().flatten().all(|m| !m.emit));
    // generate: true keeps the referenced rules' own matches.
    let gen_yaml = format!(
        "{BASE}\n---\ntitle: G\nid: g\ngenerate: true\ncorrelation:\n    type: event_count\n    rules: [failed_login]\n    group-by: [User]\n    timespan: 1m\n    condition:\n        gte: 2\n"
    );
    let rs = Arc::new(rules(&gen_yaml));
    let (out, singles) = run(&rs, &[(0, fail("u")), (1, fail("u")), (2, ok("u"))]);
    assert_eq!(out.len(), 1);
    assert!(singles.iter().flatten().all(|m| m.emit));
}

#[test]
fn correlation_errors_are_reported() {
    let bad = [
        (
            "correlation:\n    type: event_count\n    rules: [nope]\n    group-by: [U]\n    timespan: 1m\n    condition:\n        gte: 1\n",
            "unknown or rejected rule",
        ),
        (
            "correlation:\n    type: sometimes\n    rules: [fail-id]\n    timespan: 1m\n",
            "unknown correlation type",
        ),
        (
            "correlation:\n    type: event_count\n    rules: [fail-id]\n    timespan: 1m\n",
            "needs a condition",
        ),
        (
            "correlation:\n    type: value_count\n    rules: [fail-id]\n    timespan: 1m\n    condition:\n        gte: 2\n",
            "condition.field",
        ),
        (
            "correlation:\n    type: temporal\n    rules: [fail-id]\n    timespan: soon\n",
            "bad timespan",
        ),
    ];
    for (body, why) in bad {
        let rep = crate::detect::compile_str(
            &format!("{BASE}\n---\ntitle: c\nid: c\n{body}"),
            &Default::default(),
        );
        assert_eq!(rep.rejected.len(), 1, "{body}");
        assert!(
            rep.rejected[0].reason.contains(why),
            "{} should mention {why}",
            rep.rejected[0]
        );
        assert_eq!(rep.rules.len(), 2);
    }
}

#[test]
fn state_is_bounded() {
    let rs = corr(
        "title: C\nid: c\ncorrelation:\n    type: event_count\n    rules: [failed_login]\n    group-by: [User]\n    timespan: 1h\n    condition:\n        gte: 2\n",
    );
    let limits = CorrelationLimits {
        max_groups: 2,
        max_events_per_group: 5,
        max_events_in_match: 1,
    };
    // 3 groups with cap 2: "a" is evicted before its second event, so it starts over.
    let (out, _) = run_limits(
        &rs,
        &[
            (0, fail("a")),
            (1, fail("b")),
            (2, fail("c")),
            (3, fail("a")),
        ],
        limits.clone(),
    );
    assert!(out.is_empty());
    let (out, _) = run_limits(&rs, &[(0, fail("a")), (1, fail("a"))], limits);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].events.len(), 1);
}

#[test]
fn cyclic_chains_are_rejected() {
    let yaml = format!(
        "{BASE}\n---\ntitle: A\nid: ca\nname: corr_a\ncorrelation:\n    type: event_count\n    rules: [corr_b]\n    timespan: 1m\n    condition:\n        gte: 1\n---\ntitle: B\nid: cb\nname: corr_b\ncorrelation:\n    type: event_count\n    rules: [corr_a, failed_login]\n    timespan: 1m\n    condition:\n        gte: 1\n---\ntitle: C\nid: cc\ncorrelation:\n    type: event_count\n    rules: [successful_login]\n    timespan: 1m\n    condition:\n        gte: 1\n"
    );
    let rep = crate::detect::compile_str(&yaml, &Default::default());
    let reasons: Vec<String> = rep.rejected.iter().map(|e| e.to_string()).collect();
    assert_eq!(rep.rejected.len(), 2, "{reasons:?}");
    assert!(reasons.iter().any(|r| r.contains("cyclic")), "{reasons:?}");
    assert_eq!(
        rep.rules.len(),
        3,
        "two detections and correlation C remain"
    );
    let rs = Arc::new(rep.rules);
    let (out, singles) = run(&rs, &[(0, fail("u")), (1, ok("u"))]);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].rule.id, "cc");
    assert!(
        singles[0][0].emit,
        "failed_login is no longer referenced by a live correlation"
    );
}

#[test]
fn idle_groups_expire() {
    let rs = corr(
        "title: C\nid: c\ncorrelation:\n    type: event_count\n    rules: [failed_login]\n    group-by: [User]\n    timespan: 10s\n    condition:\n        gte: 2\n",
    );
    let mut c = Correlator::new(rs.clone(), CorrelationLimits::default());
    let mut out = Vec::new();
    for i in 0..3000i64 {
        let e = Arc::new(event_at(
            (Some("windows"), None, Some("security")),
            fail(&format!("user{i}")),
            i * 20,
        ));
        let mut ms = Vec::new();
        rs.matches(&e, &mut ms);
        c.observe(&e, &ms, &mut out);
    }
    assert!(out.is_empty());
    assert!(
        c.group_count() <= 1100,
        "expired groups are dropped, {} live",
        c.group_count()
    );
}

#[test]
fn time_part_on_epoch_values() {
    let rs = super::det("    sel:\n        T|hour: 22\n    condition: sel");
    // 1700000000 = 2023-11-14T22:13:20Z
    assert!(super::m(&rs, json!({"T": 1_700_000_000})));
    assert!(super::m(&rs, json!({"T": "1700000000000"})));
    assert!(!super::m(&rs, json!({"T": 1_700_010_000})));
}

#[test]
fn upper_bound_counts_are_judged_when_the_window_closes() {
    let rs = corr(
        "title: Few\nid: few\ncorrelation:\n    type: event_count\n    rules: [failed_login]\n    group-by: [User]\n    timespan: 1m\n    condition:\n        lt: 3\n",
    );
    // "a": 2 events in the first minute (fires when time passes 60 s); "b": 3 events (never fires).
    let evs = [
        (0, fail("a")),
        (1, fail("b")),
        (2, fail("b")),
        (3, fail("b")),
        (10, fail("a")),
        (30, ok("x")),
    ];
    let (out, _) = run(&rs, &evs);
    assert!(out.is_empty(), "windows still open: {out:?}");
    let mut all = evs.to_vec();
    all.push((61, ok("x")));
    let (out, _) = run(&rs, &all);
    assert_eq!(out.len(), 1, "{out:?}");
    assert_eq!(out[0].group.get("User").map(String::as_str), Some("a"));
    assert_eq!(out[0].value, Some(2.0));
    assert_eq!(out[0].events.len(), 2);
    // flush judges windows still open at end of stream
    let mut c = Correlator::new(rs.clone(), CorrelationLimits::default());
    let mut out = Vec::new();
    for (t, f) in &evs {
        let e = Arc::new(event_at(
            (Some("windows"), None, Some("security")),
            f.clone(),
            *t,
        ));
        let mut ms = Vec::new();
        rs.matches(&e, &mut ms);
        c.observe(&e, &ms, &mut out);
    }
    assert!(out.is_empty());
    c.flush(&mut out);
    assert_eq!(out.len(), 1);
    assert_eq!(c.group_count(), 0, "judged windows are dropped");
}

fn observe_at(c: &mut Correlator, rs: &Arc<RuleSet>, t: i64, f: Value) -> Vec<CorrelationMatch> {
    let e = Arc::new(event_at((Some("windows"), None, Some("security")), f, t));
    let mut ms = Vec::new();
    rs.matches(&e, &mut ms);
    let mut out = Vec::new();
    c.observe(&e, &ms, &mut out);
    out
}

const THREE_FAILED: &str = "title: Many failed\nid: many\nlevel: high\ncorrelation:\n    type: event_count\n    rules: [failed_login]\n    group-by: [User]\n    timespan: 1m\n    condition:\n        gte: 3\n";

#[test]
fn events_read_again_are_not_counted_twice() {
    let rs = corr(THREE_FAILED);
    let mut c = Correlator::new(rs.clone(), CorrelationLimits::default());
    assert!(observe_at(&mut c, &rs, 0, fail("bob")).is_empty());
    assert!(observe_at(&mut c, &rs, 1, fail("bob")).is_empty());
    // A replay of the first two (an input re-reading after a crash) adds nothing.
    assert!(observe_at(&mut c, &rs, 0, fail("bob")).is_empty());
    assert!(observe_at(&mut c, &rs, 1, fail("bob")).is_empty());
    assert_eq!(observe_at(&mut c, &rs, 2, fail("bob")).len(), 1);
    // Nor does a replay of the events the match consumed fire it again.
    for t in 0..3 {
        assert!(observe_at(&mut c, &rs, t, fail("bob")).is_empty());
    }
    // New events still count.
    for t in 3..5 {
        assert!(observe_at(&mut c, &rs, t, fail("bob")).is_empty());
    }
    assert_eq!(observe_at(&mut c, &rs, 5, fail("bob")).len(), 1);
}

#[test]
fn a_restored_correlator_continues_the_windows_of_its_snapshot() {
    let store = crate::store::Store::temporary().unwrap();
    let journal = crate::detect::CorrelationJournal::open(&store).unwrap();
    let rs = corr(THREE_FAILED);
    let mut c = Correlator::new(rs.clone(), CorrelationLimits::default()).journaled();
    assert!(observe_at(&mut c, &rs, 0, fail("bob")).is_empty());
    assert!(observe_at(&mut c, &rs, 1, fail("bob")).is_empty());
    assert!(observe_at(&mut c, &rs, 1, fail("eve")).is_empty());
    let snap = c.snapshot();
    assert_eq!(snap.len(), 2, "two groups changed");
    journal.write(snap).unwrap();
    assert!(c.snapshot().is_empty(), "nothing changed since");

    let mut resumed = Correlator::new(rs.clone(), CorrelationLimits::default()).journaled();
    assert_eq!(resumed.restore(&journal).unwrap(), 2);
    // Re-read events are recognised; a new one completes the window, with the evidence of the
    // events observed before the restart.
    assert!(observe_at(&mut resumed, &rs, 1, fail("bob")).is_empty());
    let m = observe_at(&mut resumed, &rs, 2, fail("bob"));
    assert_eq!(m.len(), 1);
    assert_eq!(m[0].events.len(), 3);
    assert_eq!(m[0].group.get("User").map(String::as_str), Some("bob"));

    // The same correlation with another definition does not take the old state.
    let changed = corr(&THREE_FAILED.replace("timespan: 1m", "timespan: 2m"));
    let mut other = Correlator::new(changed.clone(), CorrelationLimits::default()).journaled();
    assert_eq!(other.restore(&journal).unwrap(), 0);
    assert!(observe_at(&mut other, &changed, 2, fail("bob")).is_empty());
}

#[test]
fn a_match_and_an_expired_group_are_journaled_as_changes() {
    let store = crate::store::Store::temporary().unwrap();
    let journal = crate::detect::CorrelationJournal::open(&store).unwrap();
    let rs = corr(THREE_FAILED);
    let mut c = Correlator::new(rs.clone(), CorrelationLimits::default()).journaled();
    for t in 0..3 {
        observe_at(&mut c, &rs, t, fail("bob"));
    }
    journal.write(c.snapshot()).unwrap();
    // The window was consumed by the match: a restored correlator needs three new events.
    let mut resumed = Correlator::new(rs.clone(), CorrelationLimits::default()).journaled();
    resumed.restore(&journal).unwrap();
    assert!(observe_at(&mut resumed, &rs, 2, fail("bob")).is_empty());
    assert!(observe_at(&mut resumed, &rs, 3, fail("bob")).is_empty());
    assert!(observe_at(&mut resumed, &rs, 4, fail("bob")).is_empty());
    assert_eq!(observe_at(&mut resumed, &rs, 5, fail("bob")).len(), 1);
}

/// A long window over a frequent event: the group counts every entry but holds only the events
/// a match can cite (the newest `max_events_in_match`), so its memory does not grow with the
/// window. The starter pack's 1 h rules under the demo grew the daemon by tens of MB an hour
/// before this.
#[test]
fn a_long_window_holds_only_the_events_a_match_can_cite() {
    let rs = corr(
        "title: Failed all day\nid: all-day\nlevel: high\ncorrelation:\n    type: event_count\n    rules: [failed_login]\n    group-by: [User]\n    timespan: 1h\n    condition:\n        gte: 300\n",
    );
    let limits = CorrelationLimits::default();
    let keep = limits.max_events_in_match;
    let mut c = Correlator::new(rs.clone(), limits);
    let mut out = Vec::new();
    let mut events = Vec::new();
    for i in 0..300 {
        let e = Arc::new(event_at(
            (Some("windows"), None, Some("security")),
            fail("alice"),
            i,
        ));
        let mut ms = Vec::new();
        rs.matches(&e, &mut ms);
        c.observe(&e, &ms, &mut out);
        events.push(e);
        if i == 298 {
            assert!(out.is_empty(), "299 entries are below the threshold");
            // Besides this test's own handle: 1 for the newest `keep`, 0 for every older one.
            let held: Vec<usize> = events.iter().map(|e| Arc::strong_count(e) - 1).collect();
            let older = held.len() - keep;
            assert_eq!(
                held[..older],
                vec![0; older][..],
                "older entries hold no event"
            );
            assert_eq!(held[older..], vec![1; keep][..], "the newest entries do");
        }
    }
    // Every entry still counts, and the match cites the newest events.
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].value, Some(300.0));
    let cited: Vec<u64> = out[0].events.iter().map(|e| e.origin.index).collect();
    assert_eq!(cited, (300 - keep as u64..300).collect::<Vec<_>>());
}
