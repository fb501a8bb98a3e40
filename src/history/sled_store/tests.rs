//! The sled history: transactions, indexes, feedback, listing, retention, reopen.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::Duration;

use super::*;
use crate::history::{CaseStatus, Disposition, Retention, compact_and_measure, measure};
use crate::verdict::{Conclusion, EntityKind, EntityRef, Severity, Stage};

fn t0() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2024-05-01T10:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

pub(crate) fn record(
    id: &str,
    host: &str,
    minutes: i64,
    conclusion: Conclusion,
) -> (CaseRecord, Verdict) {
    let v = crate::verdict::synthesize(
        crate::verdict::CaseHeader {
            case_id: id,
            version: 1,
            host,
            first_seen: t0(),
            last_seen: t0() + Duration::minutes(minutes),
        },
        &[],
        t0(),
    );
    let r = CaseRecord {
        case_id: id.to_owned(),
        entity: EntityRef::new(EntityKind::Host, host),
        host: host.to_owned(),
        entities: vec![
            EntityRef::new(EntityKind::Host, host),
            EntityRef::new(EntityKind::User, "CORP\\j.doe"),
        ],
        indicators: vec!["203.0.113.7".into()],
        rules: vec!["r1".into()],
        techniques: Vec::new(),
        first_seen: t0(),
        last_seen: t0() + Duration::minutes(minutes),
        opened_at: t0(),
        updated_at: t0() + Duration::minutes(minutes),
        status: CaseStatus::Open,
        closed_at: None,
        closed_by: None,
        version: 1,
        verdict_id: v.verdict_id.clone(),
        conclusion,
        severity: Severity::High,
        score: 70,
        confidence: 0.5,
        stage: Stage::Investigate,
        timeline: Vec::new(),
        disposition: None,
        feedback: Vec::new(),
        events_stored: 0,
        findings: 0,
        assignee: None,
        acknowledged_by: None,
    };
    (r, v)
}

pub(crate) fn ev(i: u64) -> Event {
    Event::new(
        crate::event::Origin {
            input: "t".into(),
            source: "t".into(),
            index: i,
        },
        t0(),
        Default::default(),
    )
}

#[test]
fn record_keeps_indexes_and_analyst_fields_consistent() {
    let store = Store::temporary().unwrap();
    let h = SledHistory::open(&store).unwrap();
    let (r, v) = record("c1", "WS-1", 0, Conclusion::Incident);
    let (e0, e1) = (ev(0), ev(1));
    h.record(&r, &v, &[&e0]).unwrap();
    let (before, after) = h
        .add_feedback(&Feedback {
            case_id: "c1".into(),
            disposition: Disposition::FalsePositive,
            note: "n".into(),
            analyst: "alice".into(),
            at: t0(),
        })
        .unwrap();
    assert_eq!(before.disposition, None);
    assert_eq!(after.stage, Stage::Respond);
    // The case builder writes a new state: the analyst's feedback and stage survive.
    let stored = h.record(&r, &v, &[&e1]).unwrap();
    assert_eq!(stored.disposition, Some(Disposition::FalsePositive));
    assert_eq!(stored.stage, Stage::Respond);
    assert_eq!(stored.events_stored, 2);
    assert_eq!(h.events("c1").unwrap().len(), 2);
    assert_eq!(h.cases_for_indicator("203.0.113.7").unwrap(), vec!["c1"]);
    assert_eq!(
        h.cases_for_entity(&EntityRef::new(EntityKind::Host, "ws-1"))
            .unwrap(),
        vec!["c1"]
    );
    assert_eq!(
        h.cases_for_entity(&EntityRef::new(EntityKind::User, "corp\\J.DOE"))
            .unwrap(),
        vec!["c1"]
    );
    let fb = h
        .rule_feedback("r1", &EntityRef::new(EntityKind::Host, "ws-1"))
        .unwrap()
        .unwrap();
    assert_eq!(fb.disposition, Disposition::FalsePositive);
    assert!(
        h.rule_feedback("r1", &EntityRef::new(EntityKind::Host, "ws-2"))
            .unwrap()
            .is_none()
    );
    assert!(matches!(
        h.close("nope", "a", "x", t0()),
        Err(HistoryError::NoCase(_))
    ));
}

#[test]
fn a_long_lived_case_keeps_only_its_latest_verdict_versions() {
    let store = Store::temporary().unwrap();
    let h = SledHistory::open(&store).unwrap().with_max_versions(5);
    let (mut r, mut v) = record("c1", "WS-1", 0, Conclusion::Incident);
    let versions = |h: &SledHistory| -> Vec<u32> {
        h.verdicts("c1")
            .unwrap()
            .iter()
            .map(|v| v.version)
            .collect()
    };
    for version in 1..=30 {
        (r.version, v.version) = (version, version);
        h.record(&r, &v, &[]).unwrap();
    }
    assert_eq!(versions(&h), [26, 27, 28, 29, 30]);
    // A replicated case may skip versions: everything past the window still goes.
    (r.version, v.version) = (40, 40);
    h.record(&r, &v, &[]).unwrap();
    assert_eq!(versions(&h), [40]);
    // The data measured for the size cap shrinks with it: one version, not 31.
    let bytes = h.stats().unwrap().data_bytes;
    let one = serde_json::to_vec(&v).unwrap().len() as u64;
    assert!(
        bytes < 10 * one,
        "{bytes} bytes for versions of {one} bytes each"
    );
    // Without a limit every version is kept.
    let all = SledHistory::open(&Store::temporary().unwrap()).unwrap();
    for version in 1..=30 {
        (r.version, v.version) = (version, version);
        all.record(&r, &v, &[]).unwrap();
    }
    assert_eq!(versions(&all).len(), 30);
}

#[test]
fn listing_filters_and_pages_with_a_cursor() {
    let store = Store::temporary().unwrap();
    let h = SledHistory::open(&store).unwrap();
    for i in 0..5 {
        let c = if i % 2 == 0 {
            Conclusion::Incident
        } else {
            Conclusion::Benign
        };
        let (r, v) = record(&format!("c{i}"), &format!("h{}", i % 2), i, c);
        h.record(&r, &v, &[]).unwrap();
    }
    let mut f = CaseFilter {
        limit: 2,
        ..Default::default()
    };
    let p1 = h.list(&f).unwrap();
    assert_eq!(
        p1.cases
            .iter()
            .map(|c| c.case_id.as_str())
            .collect::<Vec<_>>(),
        vec!["c4", "c3"]
    );
    f.cursor = p1.next_cursor.clone();
    let p2 = h.list(&f).unwrap();
    assert_eq!(p2.cases[0].case_id, "c2");
    f.cursor = p2.next_cursor.clone();
    let p3 = h.list(&f).unwrap();
    assert_eq!(p3.cases.len(), 1);
    assert!(p3.next_cursor.is_none());
    let incidents = h
        .list(&CaseFilter {
            conclusion: Some(Conclusion::Incident),
            host: Some("H0".into()),
            since: Some(t0() + Duration::minutes(1)),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(
        incidents
            .cases
            .iter()
            .map(|c| c.case_id.as_str())
            .collect::<Vec<_>>(),
        vec!["c4", "c2"]
    );
    // Users (case-insensitive) and the time window: active at or after `since`, started at or
    // before `until`.
    let (mut other, v) = record("c9", "h9", 200, Conclusion::Incident);
    other.entities = vec![EntityRef::new(EntityKind::User, "CORP\\m.roe")];
    other.first_seen = t0() + Duration::minutes(100);
    h.record(&other, &v, &[]).unwrap();
    let ids = |f: CaseFilter| -> Vec<String> {
        h.list(&f)
            .unwrap()
            .cases
            .into_iter()
            .map(|c| c.case_id)
            .collect()
    };
    assert_eq!(
        ids(CaseFilter {
            user: Some("corp\\M.ROE".into()),
            ..Default::default()
        }),
        vec!["c9"]
    );
    assert_eq!(
        ids(CaseFilter {
            user: Some("CORP\\j.doe".into()),
            ..Default::default()
        }),
        vec!["c4", "c3", "c2", "c1", "c0"]
    );
    assert_eq!(
        ids(CaseFilter {
            since: Some(t0() + Duration::minutes(3)),
            until: Some(t0() + Duration::minutes(50)),
            ..Default::default()
        }),
        vec!["c4", "c3"]
    );
    assert!(
        ids(CaseFilter {
            user: Some("nobody".into()),
            ..Default::default()
        })
        .is_empty()
    );
    assert!(matches!(
        h.list(&CaseFilter {
            cursor: Some("garbage".into()),
            ..Default::default()
        }),
        Err(HistoryError::Cursor(_))
    ));
}

#[test]
fn compaction_drops_old_and_excess_cases_with_their_index_entries() {
    let store = Store::temporary().unwrap();
    let h = SledHistory::open(&store).unwrap();
    for i in 0..4 {
        let (r, v) = record(&format!("c{i}"), "ws", i * 60, Conclusion::Incident);
        h.record(&r, &v, &[&ev(i as u64)]).unwrap();
    }
    let report = h
        .compact(&Retention {
            horizon: t0() + Duration::minutes(30),
            max_cases: 2,
            max_bytes: 0,
        })
        .unwrap();
    assert_eq!(report.removed_by_age, 1);
    assert_eq!(report.removed_by_cap, 1);
    assert_eq!(report.cases_after, 2);
    let mut ids = h.cases_for_indicator("203.0.113.7").unwrap();
    ids.sort();
    assert_eq!(ids, vec!["c2", "c3"]);
    assert!(h.events("c0").unwrap().is_empty());
    assert!(h.verdicts("c1").unwrap().is_empty());
    let mut out = Vec::new();
    assert_eq!(h.export(&mut out).unwrap(), 2);
    let first: serde_json::Value =
        serde_json::from_slice(out.split(|b| *b == b'\n').next().unwrap()).unwrap();
    assert_eq!(first["case"]["case_id"], "c2");
    assert_eq!(first["verdicts"].as_array().unwrap().len(), 1);
}

#[test]
fn history_survives_reopening_the_store() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = Store::open(dir.path()).unwrap();
        let h = SledHistory::open(&store).unwrap();
        let (r, v) = record("c1", "ws", 0, Conclusion::Incident);
        h.record(&r, &v, &[]).unwrap();
        h.flush().unwrap();
    }
    let store = crate::testutil::reopen_store(dir.path());
    let h = SledHistory::open(&store).unwrap();
    assert_eq!(h.case("c1").unwrap().unwrap().score, 70);
    assert_eq!(h.cases_for_indicator("203.0.113.7").unwrap(), vec!["c1"]);
}

#[test]
fn the_size_cap_removes_the_oldest_closed_cases_and_updates_the_metrics() {
    let store = Store::temporary().unwrap();
    let h = SledHistory::open(&store).unwrap();
    for i in 0..6 {
        let (r, v) = record(&format!("c{i}"), "ws", i * 10, Conclusion::Incident);
        let events: Vec<Event> = (0..5).map(|n| ev(i as u64 * 10 + n)).collect();
        let refs: Vec<&Event> = events.iter().collect();
        h.record(&r, &v, &refs).unwrap();
    }
    // c0 (oldest) stays open; c1..c4 are closed; c5 is the newest and closed.
    for i in 1..6 {
        h.close(&format!("c{i}"), "alice", "done", t0()).unwrap();
    }
    let metrics = crate::metrics::Metrics::new().unwrap();
    let before = measure(&h, &metrics).unwrap();
    assert_eq!(before.cases, 6);
    assert!(before.data_bytes > 0 && before.store_bytes > 0);
    let per_case = before.data_bytes / 6;
    let cap = before.data_bytes - 2 * per_case - per_case / 2;
    let retention = Retention {
        horizon: t0() - Duration::days(1),
        max_cases: 100,
        max_bytes: cap,
    };
    let report = compact_and_measure(&h, &retention, &metrics).unwrap();
    assert_eq!(report.removed_by_size, 3, "{report:?}");
    assert_eq!((report.removed_by_age, report.removed_by_cap), (0, 0));
    assert!(report.bytes_after <= cap, "{report:?}");
    assert_eq!(report.bytes_before, before.data_bytes);
    // The open case survives although it is the oldest; the closed ones go oldest first.
    let left: Vec<String> = h
        .list(&CaseFilter::default())
        .unwrap()
        .cases
        .into_iter()
        .map(|c| c.case_id)
        .collect();
    assert_eq!(left, vec!["c5", "c4", "c0"]);
    assert!(h.events("c1").unwrap().is_empty());
    assert!(h.cases_for_indicator("203.0.113.7").unwrap().len() == 3);
    let text = metrics.render();
    assert!(
        text.contains("nightwatch_history_compacted_total{reason=\"size\"} 3"),
        "{text}"
    );
    assert!(text.contains("nightwatch_history_compacted_total{reason=\"age\"} 0"));
    assert!(text.contains("nightwatch_history_cases 3"), "{text}");
    assert!(text.contains(&format!(
        "nightwatch_history_data_bytes {}",
        report.bytes_after
    )));
    assert!(text.contains("nightwatch_history_errors_total 0"));
    // Under the cap nothing more goes; an impossible cap stops at the open cases.
    let again = h.compact(&retention).unwrap();
    assert_eq!(again.removed_by_size, 0);
    let tiny = h
        .compact(&Retention {
            max_bytes: 1,
            ..retention
        })
        .unwrap();
    assert_eq!(tiny.removed_by_size, 2);
    assert_eq!(tiny.cases_after, 1);
    assert!(h.case("c0").unwrap().is_some());
}

fn open_state(id: &str, host: &str) -> OpenCase {
    OpenCase {
        case_id: id.to_owned(),
        entity: EntityRef::new(EntityKind::Host, host),
        entities: vec![EntityRef::new(EntityKind::Host, host)],
        indicators: Vec::new(),
        indicator_evidence: Vec::new(),
        first_seen: t0(),
        last_seen: t0(),
        opened_at: t0(),
        version: 1,
        findings: vec![crate::history::OpenFinding {
            key: (
                crate::verdict::FindingKind::RuleMatch,
                "r1".into(),
                String::new(),
            ),
            input: crate::verdict::FindingInput {
                rule_id: "r1".into(),
                count: 3,
                ..Default::default()
            },
            last_alert: t0(),
        }],
        stage: Stage::Investigate,
        timeline: Vec::new(),
        unclassified: Vec::new(),
        summary: None,
        recent: Vec::new(),
    }
}

#[test]
fn open_case_states_survive_a_reopen_and_leave_with_close_compaction_or_damage() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = Store::open(dir.path()).unwrap();
        let h = SledHistory::open(&store).unwrap();
        for (i, id) in ["c1", "c2", "c3", "c4"].iter().enumerate() {
            let (r, v) = record(id, &format!("ws-{i}"), i as i64 * 60, Conclusion::Incident);
            h.record(&r, &v, &[]).unwrap();
            h.save_open(&open_state(id, &format!("ws-{i}"))).unwrap();
        }
        // A state without a case (its record was compacted away before the state was saved).
        h.save_open(&open_state("gone", "ws-9")).unwrap();
        h.flush().unwrap();
    }
    let store = crate::testutil::reopen_store(dir.path());
    let h = SledHistory::open(&store).unwrap();
    let mut ids: Vec<String> = h
        .open_cases()
        .unwrap()
        .into_iter()
        .map(|(c, _)| c.case_id)
        .collect();
    ids.sort();
    assert_eq!(ids, vec!["c1", "c2", "c3", "c4"]);
    assert_eq!(
        h.open_cases().unwrap()[0].0,
        open_state("c1", "ws-0"),
        "round trip"
    );

    h.close("c1", "alice", "done", t0()).unwrap();
    assert_eq!(h.open_cases().unwrap().len(), 3, "closing drops the state");
    h.compact(&Retention {
        horizon: t0() + Duration::minutes(90),
        max_cases: 10,
        max_bytes: 0,
    })
    .unwrap();
    // c1 closed, c2 compacted away by age; c4's state is damaged.
    store
        .tree("history_open")
        .unwrap()
        .insert("c4", b"{not json".to_vec())
        .unwrap();
    let ids: Vec<String> = h
        .open_cases()
        .unwrap()
        .into_iter()
        .map(|(c, _)| c.case_id)
        .collect();
    assert_eq!(ids, vec!["c3"]);
    assert_eq!(
        store.tree("history_open").unwrap().len(),
        1,
        "the rest dropped"
    );
    assert_eq!(
        h.case("c4").unwrap().unwrap().status,
        CaseStatus::Open,
        "only its state is lost"
    );
}
