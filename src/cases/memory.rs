//! The case book's memory: what it writes to the history with each version (the case record,
//! the state an open case resumes from) and what it reads back (history and feedback findings
//! when a version is built, open cases at start-up).

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::detect::Level;
use crate::event::Event;
use crate::history::{CaseRecord, HistoryError, HistoryStore, OpenCase, OpenFinding};
use crate::verdict::{self, Basis, FindingInput, FindingKind, IndicatorRef, Verdict};

use super::{Case, FindingKey, FindingState, MAX_LOOKUPS};

/// What a case resumes from after a restart.
pub(super) fn open_state(case: &Case) -> OpenCase {
    // Saved in the order first seen (the findings' positions), as the book holds them.
    let mut keyed: Vec<(usize, &FindingKey)> = case.index.iter().map(|(k, &i)| (i, k)).collect();
    keyed.sort_unstable_by_key(|(i, _)| *i);
    let findings = keyed
        .into_iter()
        .map(|(i, key)| OpenFinding {
            key: key.clone(),
            input: case.findings[i].input.clone(),
            last_alert: case.findings[i].last_alert,
        })
        .collect();
    OpenCase {
        case_id: case.id.clone(),
        entity: case.entity.clone(),
        entities: case.entities.iter().cloned().collect(),
        indicators: case.indicators.values().cloned().collect(),
        indicator_evidence: case
            .indicator_evidence
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        first_seen: case.first_seen,
        last_seen: case.last_seen,
        opened_at: case.opened_at,
        version: case.version,
        findings,
        stage: case.stage,
        timeline: case.timeline.clone(),
        unclassified: case.unclassified.clone(),
        summary: case.summary.clone(),
        recent: case.recent.iter().cloned().collect(),
    }
}

/// A case rebuilt from its saved state, its stored record (which has the latest version and
/// stage, should the state lag behind a failed write) and its stored evidence events.
pub(super) fn resumed_case(
    state: OpenCase,
    record: &CaseRecord,
    events: Vec<Event>,
    max_events: usize,
) -> Case {
    let mut findings = Vec::with_capacity(state.findings.len());
    let mut index = HashMap::new();
    for f in state.findings {
        index.insert(f.key, findings.len());
        findings.push(FindingState {
            input: f.input,
            last_alert: f.last_alert,
        });
    }
    let events: Vec<Arc<Event>> = events.into_iter().take(max_events).map(Arc::new).collect();
    Case {
        id: state.case_id,
        entity: state.entity,
        entities: state.entities.into_iter().collect(),
        indicators: state
            .indicators
            .into_iter()
            .map(|i| (i.value.clone(), i))
            .collect(),
        indicator_evidence: state.indicator_evidence.into_iter().collect(),
        first_seen: state.first_seen,
        last_seen: state.last_seen,
        opened_at: state.opened_at,
        version: state.version.max(record.version),
        findings,
        index,
        stage: state.stage.max(record.stage),
        timeline: state.timeline,
        unclassified: state.unclassified,
        events_stored: events.len(),
        events,
        dirty: false,
        pending_since: None,
        touched: 0,
        acks: Vec::new(),
        unsaved: false,
        recent: state.recent.into(),
        closed_by_analyst: false,
        summary: state.summary,
        needs_summary: false,
    }
}

/// The record stored with a version: the verdict's, with the case builder's own timeline (the
/// store keeps analysts' entries), its opening time and the events stored so far.
pub(super) fn case_record(case: &Case, v: &Verdict, now: DateTime<Utc>) -> CaseRecord {
    CaseRecord {
        opened_at: case.opened_at,
        updated_at: now,
        stage: case.stage,
        timeline: case.timeline.clone(),
        events_stored: case.events_stored as u32,
        ..CaseRecord::from_verdict(v)
    }
}

/// History and feedback findings for a case: what earlier cases and analysts say about its
/// indicators, entities and rules.
pub(super) fn consult(
    h: &dyn HistoryStore,
    case: &Case,
) -> Result<Vec<FindingInput>, HistoryError> {
    let mut out = Vec::new();
    let mut records: HashMap<String, Option<CaseRecord>> = HashMap::new();
    let mut load = |id: &str| -> Result<Option<CaseRecord>, HistoryError> {
        if let Some(r) = records.get(id) {
            return Ok(r.clone());
        }
        let r = h.case(id)?;
        records.insert(id.to_owned(), r.clone());
        Ok(r)
    };
    let finding = |basis, ind: Option<&IndicatorRef>, ids: Vec<String>, detail: Option<String>| {
        FindingInput {
            kind: basis_kind(basis),
            basis,
            level: Level::Informational,
            first_seen: case.first_seen,
            last_seen: case.last_seen,
            indicators: ind.cloned().into_iter().collect(),
            evidence: ind
                .and_then(|i| case.indicator_evidence.get(&i.value))
                .cloned()
                .unwrap_or_default(),
            prior_cases: ids,
            detail,
            ..Default::default()
        }
    };
    for (value, ind) in case.indicators.iter().take(MAX_LOOKUPS) {
        let ids = h.cases_for_indicator(value)?;
        let (mut confirmed, mut incident, mut seen, mut dismissed) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for id in ids {
            let Some(r) = load(&id)? else { continue };
            match r.disposition {
                Some(d) if d.is_dismissal() => dismissed.push(id),
                _ if id == case.id => {}
                Some(_) => confirmed.push(id),
                None if r.conclusion == verdict::Conclusion::Incident => incident.push(id),
                None => seen.push(id),
            }
        }
        if !confirmed.is_empty() {
            out.push(finding(
                Basis::ConfirmedIndicator,
                Some(ind),
                confirmed,
                None,
            ));
        } else if !incident.is_empty() {
            out.push(finding(
                Basis::PriorIncidentIndicator,
                Some(ind),
                incident,
                None,
            ));
        } else if !seen.is_empty() {
            out.push(finding(Basis::RecurringIndicator, Some(ind), seen, None));
        }
        if !dismissed.is_empty() {
            out.push(finding(
                Basis::FalsePositiveIndicator,
                Some(ind),
                dismissed,
                None,
            ));
        }
    }
    for e in case.entities.iter().take(MAX_LOOKUPS) {
        let mut prior = Vec::new();
        for id in h.cases_for_entity(e)? {
            if id != case.id && load(&id)?.is_some_and(|r| r.is_compromise()) {
                prior.push(id);
            }
        }
        if !prior.is_empty() {
            out.push(finding(
                Basis::CompromisedEntity,
                None,
                prior,
                Some(e.to_string()),
            ));
        }
    }
    let mut rules_done = BTreeSet::new();
    for f in case
        .findings
        .iter()
        .filter(|f| f.input.basis == Basis::Rule)
    {
        if !rules_done.insert(f.input.rule_id.clone()) {
            continue;
        }
        if let Some(fb) = h.rule_feedback(&f.input.rule_id, &case.entity)? {
            let basis = if fb.disposition.is_dismissal() {
                Basis::FalsePositiveRule
            } else {
                Basis::TruePositiveRule
            };
            out.push(FindingInput {
                rule_id: f.input.rule_id.clone(),
                rule_title: f.input.rule_title.clone(),
                ..finding(basis, None, vec![fb.case_id], Some(case.entity.to_string()))
            });
        }
    }
    Ok(out)
}

pub(super) fn basis_kind(b: Basis) -> FindingKind {
    b.kind(FindingKind::RuleMatch)
}
