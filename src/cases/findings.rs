//! How detections become findings in a case: a new case for an entity, evidence references,
//! rule, correlation and feed hits with suppression, indicators and unclassified evidence.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

use super::{Detection, Hit};
use crate::event::Event;
use crate::verdict::{
    self, Basis, EntityKind, EntityRef, Evidence, FindingInput, FindingKind, IndicatorRef, Stage,
    TimelineEntry, UnclassifiedEvidence,
};

use super::{ACTOR, Case, CaseSettings, FindingState, entity};

pub(super) fn new_case(key: &EntityRef, first: &Event, now: DateTime<Utc>) -> Case {
    let mut h = Sha256::new();
    h.update(key.value.as_bytes());
    h.update([0]);
    h.update(first.id.as_str().as_bytes());
    if key.kind != EntityKind::Host {
        h.update(key.kind.as_str().as_bytes());
    }
    Case {
        id: verdict::hex16(&h.finalize()),
        entity: key.clone(),
        entities: BTreeSet::from([key.clone()]),
        indicators: BTreeMap::new(),
        indicator_evidence: HashMap::new(),
        first_seen: first.time,
        last_seen: first.time,
        opened_at: now,
        version: 0,
        findings: Vec::new(),
        index: HashMap::new(),
        stage: Stage::Triage,
        timeline: vec![TimelineEntry {
            time: now,
            stage: Stage::Triage,
            actor: ACTOR.to_owned(),
            note: format!("case opened for {key}"),
        }],
        unclassified: Vec::new(),
        events: Vec::new(),
        events_stored: 0,
        dirty: false,
        pending_since: None,
        touched: 0,
        acks: Vec::new(),
        unsaved: false,
        recent: Default::default(),
        closed_by_analyst: false,
        summary: None,
        needs_summary: false,
    }
}

pub(super) fn evidence(event: &Event, rule_id: &str, extra_fields: &[&str]) -> Evidence {
    Evidence {
        event_id: event.id.to_string(),
        time: event.time,
        rule_id: rule_id.to_owned(),
        input: event.origin.input.to_string(),
        source: event.origin.source.to_string(),
        index: event.origin.index,
        fields: entity::key_fields(event, extra_fields),
    }
}

/// Notes that `event` carries `ind`; returns whether the case had not seen it before. A case
/// holding `max_indicators` already keeps no new one (returns false: nothing to enrich).
pub(super) fn note_indicator(
    case: &mut Case,
    ind: &IndicatorRef,
    event: &Event,
    settings: &CaseSettings,
) -> bool {
    let new = !case.indicators.contains_key(&ind.value);
    if new && case.indicators.len() >= settings.max_indicators {
        return false;
    }
    let known = case
        .indicators
        .entry(ind.value.clone())
        .or_insert_with(|| ind.clone());
    if ind.is_profiled() && !known.is_profiled() {
        *known = ind.clone();
    }
    let list = case
        .indicator_evidence
        .entry(ind.value.clone())
        .or_default();
    if list.len() < settings.max_evidence.min(5)
        && !list.iter().any(|e| e.event_id == event.id.as_str())
    {
        list.push(evidence(event, "", &[]));
    }
    new
}

/// Whether two profiles of one indicator say the same (when they were fetched aside).
pub(super) fn same_profile(a: &IndicatorRef, b: &IndicatorRef) -> bool {
    a.tier == b.tier
        && a.score == b.score
        && a.sources.len() == b.sources.len()
        && a.sources
            .iter()
            .zip(&b.sources)
            .all(|(x, y)| x.source == y.source && x.opinion == y.opinion && x.detail == y.detail)
}

/// Adds one hit; returns whether it alerts (new finding, or a repeat past suppression).
pub(super) fn add_hit(case: &mut Case, hit: &Hit, event: &Event, settings: &CaseSettings) -> bool {
    let (kind, rule_id, title, level, tags, group, events, indicator, detail) = match hit {
        Hit::Rule(rule) => (
            FindingKind::RuleMatch,
            rule.id.clone(),
            rule.title.clone(),
            rule.level,
            rule.tags.clone(),
            String::new(),
            vec![event],
            None,
            None,
        ),
        Hit::Correlation(c) => {
            let group = c
                .group
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(", ");
            let events = if c.events.is_empty() {
                vec![event]
            } else {
                c.events.iter().map(|e| e.as_ref()).collect()
            };
            let detail = (!group.is_empty()).then(|| group.clone());
            (
                FindingKind::Correlation,
                c.rule.id.clone(),
                c.rule.title.clone(),
                c.rule.level,
                c.rule.tags.clone(),
                group,
                events,
                None,
                detail,
            )
        }
        Hit::Feed {
            indicator,
            feed,
            level,
        } => {
            note_indicator(case, indicator, event, settings);
            (
                FindingKind::FeedHit,
                String::new(),
                String::new(),
                *level,
                Vec::new(),
                format!("{feed}\0{}", indicator.value),
                vec![event],
                Some(indicator.clone()),
                Some(feed.clone()),
            )
        }
    };
    let group_fields: Vec<String> = match hit {
        Hit::Correlation(c) => c.group.keys().chain(&c.rule.fields).cloned().collect(),
        Hit::Rule(rule) => rule.fields.clone(),
        _ => Vec::new(),
    };
    let extra: Vec<&str> = group_fields.iter().map(String::as_str).collect();
    let t = event.time;
    let key = (kind, rule_id.clone(), group);
    let (idx, alert) = match case.index.get(&key) {
        Some(&i) => {
            let f = &mut case.findings[i];
            let alert =
                t - f.last_alert >= settings.suppression || t < f.last_alert - settings.suppression;
            (i, alert)
        }
        None => {
            case.findings.push(FindingState {
                input: FindingInput {
                    kind,
                    basis: if kind == FindingKind::FeedHit {
                        Basis::Feed
                    } else {
                        Basis::Rule
                    },
                    rule_id: rule_id.clone(),
                    rule_title: title,
                    level,
                    tags,
                    count: 0,
                    first_seen: t,
                    last_seen: t,
                    evidence: Vec::new(),
                    detail,
                    indicators: indicator.into_iter().collect(),
                    prior_cases: Vec::new(),
                    suppressed: 0,
                },
                last_alert: t,
            });
            case.index.insert(key, case.findings.len() - 1);
            (case.findings.len() - 1, true)
        }
    };
    let f = &mut case.findings[idx];
    f.input.count += 1;
    if alert {
        f.last_alert = t;
    } else {
        f.input.suppressed += 1;
    }
    for e in events {
        f.input.first_seen = f.input.first_seen.min(e.time);
        f.input.last_seen = f.input.last_seen.max(e.time);
        if f.input.evidence.len() < settings.max_evidence
            && !f.input.evidence.iter().any(|x| x.event_id == e.id.as_str())
        {
            f.input.evidence.push(evidence(e, &rule_id, &extra));
        }
    }
    alert
}

/// Keeps an event that matched no rule (only feed hits) in the unclassified section.
pub(super) fn add_unclassified(case: &mut Case, det: &Detection, max_evidence: usize) -> bool {
    let e = &det.event;
    if case
        .unclassified
        .iter()
        .any(|u| u.event_id == e.id.as_str())
    {
        return false;
    }
    let mut reasons = Vec::new();
    let mut indicators = Vec::new();
    for hit in &det.hits {
        if let Hit::Feed {
            indicator, feed, ..
        } = hit
        {
            reasons.push(format!(
                "feed hit: {} {} in {feed}",
                indicator.kind, indicator.value
            ));
            indicators.push(indicator.value.clone());
        }
    }
    if case.unclassified.len() < max_evidence {
        case.unclassified.push(UnclassifiedEvidence {
            event_id: e.id.to_string(),
            time: e.time,
            reason: reasons.join("; "),
            indicators,
        });
    }
    let key = (FindingKind::Unclassified, String::new(), String::new());
    let idx = match case.index.get(&key) {
        Some(&i) => i,
        None => {
            case.findings.push(FindingState {
                input: FindingInput {
                    kind: FindingKind::Unclassified,
                    basis: Basis::Unclassified,
                    count: 0,
                    first_seen: e.time,
                    last_seen: e.time,
                    ..Default::default()
                },
                last_alert: e.time,
            });
            case.index.insert(key, case.findings.len() - 1);
            case.findings.len() - 1
        }
    };
    let f = &mut case.findings[idx].input;
    f.count += 1;
    f.first_seen = f.first_seen.min(e.time);
    f.last_seen = f.last_seen.max(e.time);
    if f.evidence.len() < max_evidence {
        f.evidence.push(evidence(e, "", &[]));
    }
    true
}
