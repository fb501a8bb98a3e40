//! Absorbing foreign verdicts into the history store: indexes, versions, analyst fields.

use chrono::{DateTime, Utc};

use super::*;
use crate::history::{Disposition, Feedback, SledHistory};
use crate::store::Store;
use crate::verdict::{Conclusion, EntityKind, EntityRef, IndicatorRef};

fn t0() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2024-05-01T10:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

/// A verdict another instance published for `host`'s case.
fn foreign(case_id: &str, host: &str, version: u32) -> Verdict {
    let mut v = crate::verdict::synthesize(
        crate::verdict::CaseHeader {
            case_id,
            version,
            host,
            first_seen: t0(),
            last_seen: t0(),
        },
        &[],
        t0() + chrono::Duration::minutes(version.into()),
    );
    v.conclusion = Conclusion::Incident;
    v.entity = EntityRef::new(EntityKind::Host, host);
    v.entities = vec![
        EntityRef::new(EntityKind::Host, host),
        EntityRef::new(EntityKind::User, "CORP\\j.doe"),
    ];
    v.indicators = vec![IndicatorRef::bare("ipv4", "203.0.113.7")];
    v
}

#[test]
fn a_foreign_verdict_becomes_a_case_the_correlation_indexes_find() {
    let store = Store::temporary().unwrap();
    let h = SledHistory::open(&store).unwrap();
    let v = foreign("c-a", "WS-1", 1);
    assert_eq!(absorb(&h, &v).unwrap(), Absorbed::Recorded);
    let r = h.case("c-a").unwrap().expect("recorded");
    assert_eq!(r.host, "WS-1");
    assert_eq!(r.version, 1);
    assert_eq!(r.verdict_id, v.verdict_id);
    assert!(r.is_compromise(), "an incident nobody dismissed");
    assert_eq!(h.cases_for_indicator("203.0.113.7").unwrap(), vec!["c-a"]);
    assert_eq!(
        h.cases_for_entity(&EntityRef::new(EntityKind::Host, "WS-1"))
            .unwrap(),
        vec!["c-a"]
    );
    assert_eq!(
        h.cases_for_entity(&EntityRef::new(EntityKind::User, "CORP\\j.doe"))
            .unwrap(),
        vec!["c-a"]
    );
    assert_eq!(h.verdicts("c-a").unwrap(), vec![v]);
}

#[test]
fn replays_and_older_versions_are_skipped_and_analyst_fields_kept() {
    let store = Store::temporary().unwrap();
    let h = SledHistory::open(&store).unwrap();
    let (v1, v2) = (foreign("c-a", "WS-1", 1), foreign("c-a", "WS-1", 2));
    assert_eq!(absorb(&h, &v2).unwrap(), Absorbed::Recorded);
    assert_eq!(absorb(&h, &v1).unwrap(), Absorbed::Stale, "older");
    assert_eq!(absorb(&h, &v2).unwrap(), Absorbed::Stale, "replayed");
    assert_eq!(h.case("c-a").unwrap().unwrap().version, 2);

    // An analyst's feedback on this instance survives the next foreign version.
    h.add_feedback(&Feedback {
        case_id: "c-a".into(),
        disposition: Disposition::FalsePositive,
        note: "lab host".into(),
        analyst: "ana".into(),
        at: t0(),
    })
    .unwrap();
    let v3 = foreign("c-a", "WS-1", 3);
    assert_eq!(absorb(&h, &v3).unwrap(), Absorbed::Recorded);
    let r = h.case("c-a").unwrap().unwrap();
    assert_eq!(r.version, 3);
    assert_eq!(r.disposition, Some(Disposition::FalsePositive));
    assert!(!r.is_compromise());
}

#[test]
fn the_instance_is_configured_or_the_host_name() {
    let named = ClusterConfig {
        instance_id: " a ".into(),
        history_topic: None,
    };
    assert_eq!(named.instance(), "a");
    assert!(!ClusterConfig::default().instance().is_empty());
}

#[test]
fn a_history_topic_needs_brokers_and_a_topic_and_no_reserved_keys() {
    let cfg = ClusterConfig {
        instance_id: String::new(),
        history_topic: Some(HistoryTopicConfig {
            brokers: " ".into(),
            topic: String::new(),
            properties: Properties::from_pairs([("group.id", "x")]),
        }),
    };
    let keys: Vec<String> = cfg.problems().into_iter().map(|(k, _)| k).collect();
    // A build without Kafka refuses the section first (see the test below).
    #[cfg(not(feature = "kafka"))]
    let keys = keys[1..].to_vec();
    assert_eq!(
        keys,
        [
            "cluster.history_topic.brokers",
            "cluster.history_topic.properties.group.id",
            "cluster.history_topic.topic"
        ]
    );
}

#[test]
fn a_history_topic_is_refused_by_a_build_without_kafka() {
    let cfg = ClusterConfig {
        instance_id: String::new(),
        history_topic: Some(HistoryTopicConfig {
            brokers: "h:9092".into(),
            topic: "verdicts".into(),
            properties: Properties::default(),
        }),
    };
    let problems = cfg.problems();
    if cfg!(feature = "kafka") {
        assert!(problems.is_empty(), "{problems:?}");
    } else {
        assert_eq!(
            problems,
            [(
                "cluster.history_topic".to_owned(),
                "this build has no Kafka support: rebuild with --features kafka".to_owned()
            )]
        );
    }
}
