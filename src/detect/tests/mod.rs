//! Tests for the detection engine, written from the Sigma v2.1 specification: the detection
//! language and every modifier (`language.rs`), routing/filters/loading (`loading.rs`),
//! correlations (`correlation.rs`), and corpus-wide checks (`corpus.rs`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod corpus;
mod correlation;
mod language;
mod loading;

use std::sync::Arc;

use chrono::{DateTime, TimeZone, Utc};
use serde_json::Value;

use super::{LoadOptions, RuleMatch, RuleSet, compile_str};
use crate::event::{Event, Fields, LogSource, Origin};

/// An event with the given logsource and JSON fields, at `secs` after a fixed epoch.
pub(super) fn event_at(
    ls: (Option<&str>, Option<&str>, Option<&str>),
    fields: Value,
    secs: i64,
) -> Event {
    let Value::Object(map) = fields else {
        panic!("fields must be an object")
    };
    let t: DateTime<Utc> = Utc.timestamp_opt(1_700_000_000 + secs, 0).unwrap();
    let origin = Origin {
        input: Arc::from("test"),
        source: Arc::from("mem"),
        index: secs.max(0) as u64,
    };
    let mut e = Event::new(origin, t, Fields::from(map));
    e.time = t;
    e.logsource = LogSource::new(ls.0, ls.1, ls.2);
    e
}

/// An unclassified event (every rule applies).
pub(super) fn ev(fields: Value) -> Event {
    event_at((None, None, None), fields, 0)
}

/// Compiles YAML and asserts nothing was rejected.
pub(super) fn rules(yaml: &str) -> RuleSet {
    rules_with(yaml, &LoadOptions::default())
}

pub(super) fn rules_with(yaml: &str, opts: &LoadOptions) -> RuleSet {
    let rep = compile_str(yaml, opts);
    assert!(
        rep.rejected.is_empty(),
        "unexpected rejections: {:?}",
        rep.rejected
    );
    rep.rules
}

/// Ids of the rules matching `e` (indexed path), checked against the brute-force path.
pub(super) fn hit_ids(rs: &RuleSet, e: &Event) -> Vec<String> {
    let mut out = Vec::new();
    rs.matches(e, &mut out);
    let mut brute = Vec::new();
    rs.matches_brute(e, &mut brute);
    let ids = |v: &[RuleMatch]| v.iter().map(|m| m.rule.id.clone()).collect::<Vec<_>>();
    assert_eq!(
        ids(&out),
        ids(&brute),
        "indexed and brute-force evaluation differ"
    );
    ids(&out)
}

/// A single rule with the given `detection:` body (indented YAML), logsource-free.
pub(super) fn det(body: &str) -> RuleSet {
    rules(&format!(
        "title: t\nid: r1\nlogsource:\n    product: test\ndetection:\n{body}\n"
    ))
}

/// Whether the single rule built by [`det`] matches `fields`, on an event of the rule's own
/// logsource (`product: test`), so that language semantics are tested apart from routing.
pub(super) fn m(rs: &RuleSet, fields: Value) -> bool {
    !hit_ids(rs, &event_at((Some("test"), None, None), fields, 0)).is_empty()
}
