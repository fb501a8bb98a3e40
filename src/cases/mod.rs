//! Cases: detections, feed hits and enrichment grouped per entity within a time window.
//!
//! A [`CaseBook`] receives [`Detection`]s (an event and why it is interesting) and keeps one open
//! case per entity: the event's host, else its user, else its source address ([`entity`]). A
//! detection joins the entity's open case when its event time is within the window of the case's
//! last activity; otherwise the old case is closed and a new one opens.
//!
//! **Suppression.** A repeat of a finding already in the case (same rule, same correlation group,
//! same feed indicator) within `suppression` of the finding's last alert is counted (`count`,
//! `suppressed`) but does not make a new verdict version; past the suppression window it alerts
//! again. New findings always alert.
//!
//! **Stages.** A case moves forward only: `triage` when it opens; `investigate` once case history
//! or enrichment has been consulted for it; `validate` when its verdict concludes `incident`;
//! `recommend` when next steps from the runbooks are attached to a validated verdict; `respond`
//! when an analyst acts (feedback or close, through the API and the history store). Every
//! transition is a timestamped timeline entry.
//!
//! **History.** With a [`HistoryStore`], each published version first looks up the case's
//! indicators, entities and rule/entity pairs in earlier cases and analyst feedback (explicit
//! `history` and `feedback` findings), then stores the case, its verdict, new evidence event
//! copies and index entries in one transaction, and saves what the case resumes from after a
//! restart ([`crate::history::OpenCase`]); [`CaseBook::resume`] reloads the open ones at
//! start-up. A case an analyst closed is dropped from the book at its next publication.
//!
//! Each published state is a new verdict version ([`crate::verdict`]); the records behind its
//! changes are acknowledged when it is delivered. The book reads no clock: callers pass `now`.

mod detection;
pub mod entity;
mod findings;
mod memory;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};

use crate::detect::Level;
use crate::event::Event;
use crate::flow::ack::Ack;
use crate::history::{ACTOR, CaseRecord, CaseStatus, HistoryError, HistoryStore};
use crate::verdict::{
    self, Basis, CaseContext, CaseHeader, EntityKind, EntityRef, Evidence, FindingInput,
    FindingKind, IndicatorRef, Policy, Stage, TimelineEntry, UnclassifiedEvidence, Verdict,
};
pub use detection::{Detection, Hit};
use findings::{add_hit, add_unclassified, new_case, note_indicator, same_profile};
use memory::{case_record, consult, open_state, resumed_case};

/// Host name used when an event names none.
pub const UNKNOWN_HOST: &str = verdict::UNKNOWN;

/// Indicators and entities looked up in history per published version, at most.
const MAX_LOOKUPS: usize = 50;
/// Event ids a case remembers for recognising a replay: more than an input can re-read after
/// a crash (its uncommitted records: checkpoint lag plus what is in flight).
const RECENT_EVENTS: usize = 2048;
/// History errors logged (the rest are only counted in the book).
const MAX_ERRORS_LOGGED: u64 = 10;

/// How cases are grouped and bounded, and what they are scored with.
#[derive(Debug, Clone)]
pub struct CaseSettings {
    /// Matches within this much event time of a case's last activity join it.
    pub window: Duration,
    /// Evidence references kept per finding.
    pub max_evidence: usize,
    /// Open cases kept; past this the least recently active case is closed.
    pub max_open: usize,
    /// Repeats of a finding within this much event time of its last alert are counted only.
    pub suppression: Duration,
    /// Evidence event copies kept per case (for `GET /api/cases/{id}`).
    pub max_case_events: usize,
    /// Indicators kept per case (listed, sent for enrichment, looked up in history); later
    /// ones are left out, so a case that stays open for days does not grow without end.
    pub max_indicators: usize,
    /// Whether indicators are sent for enrichment: unprofiled ones count as missing evidence.
    pub expect_enrichment: bool,
    pub policy: Arc<Policy>,
    /// Where cases are remembered; without it there is no history correlation.
    pub history: Option<Arc<dyn HistoryStore>>,
}

impl Default for CaseSettings {
    fn default() -> Self {
        Self {
            window: Duration::hours(1),
            max_evidence: 20,
            max_open: 10_000,
            suppression: Duration::minutes(10),
            max_case_events: 50,
            max_indicators: 100,
            expect_enrichment: false,
            policy: Arc::new(Policy::default()),
            history: None,
        }
    }
}

struct FindingState {
    input: FindingInput,
    /// Event time of the finding's last alert, for suppression.
    last_alert: DateTime<Utc>,
}

type FindingKey = (FindingKind, String, String);

struct Case {
    id: String,
    entity: EntityRef,
    entities: BTreeSet<EntityRef>,
    /// Indicators in the evidence by value, with their profile once enriched.
    indicators: BTreeMap<String, IndicatorRef>,
    /// The first events that carried each indicator.
    indicator_evidence: HashMap<String, Vec<Evidence>>,
    first_seen: DateTime<Utc>,
    last_seen: DateTime<Utc>,
    opened_at: DateTime<Utc>,
    /// Versions published so far.
    version: u32,
    /// Findings in the order first seen.
    findings: Vec<FindingState>,
    index: HashMap<FindingKey, usize>,
    stage: Stage,
    timeline: Vec<TimelineEntry>,
    unclassified: Vec<UnclassifiedEvidence>,
    /// Bounded copies of evidence events; those from `events_stored` on are not in history yet.
    events: Vec<Arc<Event>>,
    events_stored: usize,
    /// Something changed since the last published version.
    dirty: bool,
    /// Earliest receive time among events not yet reflected in a published verdict.
    pending_since: Option<DateTime<Utc>>,
    /// Order of last activity, for eviction.
    touched: u64,
    /// Acknowledgements of the records behind changes not yet published; the next published
    /// version carries them, so they are released only once it is delivered.
    acks: Vec<Ack>,
    /// Counted changes (suppressed repeats) that no version will carry: the state is saved
    /// on the next tick and `acks` released then ([`CaseBook::save_quiet`]).
    unsaved: bool,
    /// Ids of the latest events counted in the case (at most [`RECENT_EVENTS`]): an event
    /// read again after a crash is recognised and not counted twice.
    recent: std::collections::VecDeque<crate::event::EventId>,
    /// An analyst closed the case: it leaves the book after this publication.
    closed_by_analyst: bool,
    /// The latest advisory LLM summary, carried by every later version.
    summary: Option<crate::verdict::summary::Summary>,
    /// Evidence changed since the last version handed to the summarizer.
    needs_summary: bool,
}

impl Case {
    fn host(&self) -> String {
        if self.entity.kind == EntityKind::Host {
            return self.entity.value.clone();
        }
        self.entities
            .iter()
            .find(|e| e.kind == EntityKind::Host)
            .map(|e| e.value.clone())
            .unwrap_or_else(|| UNKNOWN_HOST.to_owned())
    }

    fn advance(&mut self, to: Stage, now: DateTime<Utc>, note: String) {
        if to > self.stage {
            self.stage = to;
            self.timeline.push(TimelineEntry {
                time: now,
                stage: to,
                actor: ACTOR.to_owned(),
                note,
            });
        }
    }
}

/// A verdict ready to publish, with the receive time of its oldest new evidence (for the
/// ingest-to-verdict latency metric).
#[derive(Debug, Clone)]
pub struct Published {
    pub verdict: Arc<Verdict>,
    pub oldest_received: Option<DateTime<Utc>>,
    /// Released by the outputs once every sink accepted the verdict.
    pub ack: Ack,
    /// The version carries new evidence (not only a new summary): worth summarizing.
    pub summarize: bool,
}

/// What one detection did to the book.
#[derive(Debug, Default)]
pub struct Observed {
    /// Verdicts of cases it closed (aged out or evicted), published once more.
    pub closed: Vec<Published>,
    /// It opened a new case.
    pub opened: bool,
    /// Indicators its case had not seen before (to enrich).
    pub new_indicators: Vec<IndicatorRef>,
}

/// The open cases, one per entity.
pub struct CaseBook {
    settings: CaseSettings,
    open: HashMap<EntityRef, Case>,
    clock: u64,
    history_errors: u64,
}

impl CaseBook {
    pub fn new(settings: CaseSettings) -> Self {
        Self {
            settings,
            open: HashMap::new(),
            clock: 0,
            history_errors: 0,
        }
    }

    pub fn open_cases(&self) -> usize {
        self.open.len()
    }

    /// History operations that failed so far (logged the first few times).
    pub fn history_errors(&self) -> u64 {
        self.history_errors
    }

    /// The entity a detection's case is keyed by.
    pub fn entity_of(det: &Detection) -> EntityRef {
        entity::primary(&entity::entities(&det.event))
    }

    /// Adds a detection to its entity's case. Returns the published verdicts of cases it closed
    /// (a case that ages out with unpublished changes is published once more so nothing is
    /// lost), whether the detection opened a new case, and the indicators new to its case.
    pub fn observe(&mut self, det: &Detection, now: DateTime<Utc>) -> Observed {
        let mut closed = Vec::new();
        let mut new_indicators = Vec::new();
        if det.hits.is_empty() {
            return Observed::default();
        }
        let entities = entity::entities(&det.event);
        let key = entity::primary(&entities);
        let t = det.event.time;
        let expired = self.open.get(&key).is_some_and(|c| {
            t - c.last_seen > self.settings.window || c.first_seen - t > self.settings.window
        });
        if expired && let Some(old) = self.open.remove(&key) {
            closed.extend(self.finish(old, now, "window expired"));
        }
        // Read again after a crash (its input had not committed past it): counted already.
        if self
            .open
            .get(&key)
            .is_some_and(|c| c.recent.contains(&det.event.id))
        {
            return Observed::default();
        }
        let mut opened = false;
        if !self.open.contains_key(&key) {
            if self.open.len() >= self.settings.max_open
                && let Some(victim) = self
                    .open
                    .iter()
                    .min_by_key(|(_, c)| c.touched)
                    .map(|(h, _)| h.clone())
                && let Some(old) = self.open.remove(&victim)
            {
                closed.extend(self.finish(old, now, "evicted: too many open cases"));
            }
            self.open
                .insert(key.clone(), new_case(&key, &det.event, now));
            opened = true;
        }
        self.clock += 1;
        let clock = self.clock;
        let settings = &self.settings;
        if let Some(case) = self.open.get_mut(&key) {
            case.touched = clock;
            case.first_seen = case.first_seen.min(t);
            case.last_seen = case.last_seen.max(t);
            case.entities.extend(entities);
            let mut alert = opened;
            for ind in &det.indicators {
                if note_indicator(case, ind, &det.event, settings) {
                    new_indicators.push(ind.clone());
                }
            }
            let classified = det
                .hits
                .iter()
                .any(|h| matches!(h, Hit::Rule(_) | Hit::Correlation(_)));
            for hit in &det.hits {
                alert |= add_hit(case, hit, &det.event, settings);
            }
            if !classified {
                alert |= add_unclassified(case, det, settings.max_evidence);
            }
            if case.events.len() < settings.max_case_events
                && !case.events.iter().any(|e| e.id == det.event.id)
            {
                case.events.push(det.event.clone());
            }
            case.recent.push_back(det.event.id.clone());
            if case.recent.len() > RECENT_EVENTS {
                case.recent.pop_front();
            }
            // A suppressed repeat makes no new version, but its count must be saved before its
            // record is acknowledged.
            if alert {
                case.dirty = true;
                case.needs_summary = true;
                let received = det.event.received;
                case.pending_since = Some(case.pending_since.map_or(received, |p| p.min(received)));
            } else {
                case.unsaved = true;
            }
            if !det.ack.is_none() {
                case.acks.push(det.ack.clone());
            }
        }
        Observed {
            closed,
            opened,
            new_indicators,
        }
    }

    /// Publishes a new version of the case of the detection's entity if it changed.
    pub fn publish_for(&mut self, det: &Detection, now: DateTime<Utc>) -> Option<Published> {
        self.publish_entity(&Self::entity_of(det), now)
    }

    /// Publishes a new version of the case of `host` if it changed.
    pub fn publish_host(&mut self, host: &str, now: DateTime<Utc>) -> Option<Published> {
        self.publish_entity(&EntityRef::new(EntityKind::Host, host), now)
    }

    fn publish_entity(&mut self, key: &EntityRef, now: DateTime<Utc>) -> Option<Published> {
        let mut case = self.open.remove(key)?;
        let out = self.publish(&mut case, now);
        if !case.closed_by_analyst {
            self.open.insert(key.clone(), case);
        }
        out
    }

    /// Publishes a new version of every case that changed since its last version.
    pub fn publish_dirty(&mut self, now: DateTime<Utc>) -> Vec<Published> {
        let keys: Vec<EntityRef> = self
            .open
            .iter()
            .filter(|(_, c)| c.dirty)
            .map(|(k, _)| k.clone())
            .collect();
        let mut out: Vec<Published> = keys
            .iter()
            .filter_map(|k| self.publish_entity(k, now))
            .collect();
        out.sort_by(|a, b| {
            a.verdict
                .first_seen
                .cmp(&b.verdict.first_seen)
                .then(a.verdict.case_id.cmp(&b.verdict.case_id))
        });
        out
    }

    /// Saves the state of cases whose only changes are counted repeats (no new version) and
    /// releases their acknowledgements: their inputs may commit past them once the counts are
    /// durable. Without a history there is nothing to save and they are released at once.
    pub fn save_quiet(&mut self) {
        let history = self.settings.history.clone();
        let mut errors = Vec::new();
        for case in self.open.values_mut().filter(|c| c.unsaved && !c.dirty) {
            case.unsaved = false;
            let saved = match history.as_deref() {
                Some(h) => h.save_open(&open_state(case)),
                None => Ok(()),
            };
            match saved {
                Ok(()) => std::mem::take(&mut case.acks)
                    .into_iter()
                    .for_each(Ack::done),
                // Dropped unfinished: the records are read again after a restart.
                Err(e) => {
                    case.acks.clear();
                    errors.push(e);
                }
            }
        }
        for e in errors {
            self.note_error::<()>(Err(e));
        }
    }

    /// Closes cases whose last event is older than the window before `event_now` (the newest
    /// event time seen), publishing any unpublished change first.
    pub fn close_inactive(
        &mut self,
        event_now: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Vec<Published> {
        let window = self.settings.window;
        let stale: Vec<EntityRef> = self
            .open
            .iter()
            .filter(|(_, c)| event_now - c.last_seen > window)
            .map(|(h, _)| h.clone())
            .collect();
        let mut out = Vec::new();
        for key in stale {
            if let Some(case) = self.open.remove(&key) {
                out.extend(self.finish(case, now, "inactive"));
            }
        }
        out
    }

    /// Attaches an enrichment profile to every open case whose evidence carries the indicator,
    /// as an `enrichment` finding (added, or updated when the indicator was profiled before),
    /// and publishes the new versions.
    pub fn enrich(&mut self, profile: IndicatorRef, now: DateTime<Utc>) -> Vec<Published> {
        // A case that already holds the same opinions (an indicator re-enriched from the cache)
        // gets no new version.
        let keys: Vec<EntityRef> = self
            .open
            .iter()
            .filter(|(_, c)| {
                c.indicators
                    .get(&profile.value)
                    .is_some_and(|known| !same_profile(known, &profile))
            })
            .map(|(k, _)| k.clone())
            .collect();
        let mut out = Vec::new();
        for key in keys {
            let Some(case) = self.open.get_mut(&key) else {
                continue;
            };
            case.indicators
                .insert(profile.value.clone(), profile.clone());
            let evidence = case
                .indicator_evidence
                .get(&profile.value)
                .cloned()
                .unwrap_or_default();
            let fkey = (
                FindingKind::Enrichment,
                String::new(),
                profile.value.clone(),
            );
            let (first, last) = evidence
                .iter()
                .fold((case.first_seen, case.first_seen), |(a, b), e| {
                    (a.min(e.time), b.max(e.time))
                });
            let input = FindingInput {
                kind: FindingKind::Enrichment,
                basis: Basis::Enrichment,
                level: Level::Informational,
                count: 1,
                first_seen: first,
                last_seen: last,
                evidence,
                indicators: vec![profile.clone()],
                ..Default::default()
            };
            match case.index.get(&fkey) {
                Some(&i) => case.findings[i].input = input,
                None => {
                    case.findings.push(FindingState {
                        input,
                        last_alert: now,
                    });
                    case.index.insert(fkey, case.findings.len() - 1);
                }
            }
            case.dirty = true;
            case.needs_summary = true;
            case.advance(
                Stage::Investigate,
                now,
                format!("enrichment received for {}", profile.value),
            );
            out.extend(self.publish_entity(&key, now));
        }
        out
    }

    /// Attaches an advisory LLM summary to the open case `case_id` and publishes it as a new
    /// version (which is not summarized again). A summary for a case no longer open is
    /// dropped: its closing version has been published.
    pub fn attach_summary(
        &mut self,
        case_id: &str,
        summary: crate::verdict::summary::Summary,
        now: DateTime<Utc>,
    ) -> Option<Published> {
        let key = self
            .open
            .iter()
            .find(|(_, c)| c.id == case_id)
            .map(|(k, _)| k.clone())?;
        let case = self.open.get_mut(&key)?;
        if case
            .summary
            .as_ref()
            .is_some_and(|s| s.case_version > summary.case_version)
        {
            return None;
        }
        case.summary = Some(summary);
        case.dirty = true;
        self.publish_entity(&key, now)
    }

    /// The evidence events kept for the open case `case_id` (for the summarizer's digest).
    pub fn case_events(&self, case_id: &str) -> Vec<Arc<Event>> {
        self.open
            .values()
            .find(|c| c.id == case_id)
            .map(|c| c.events.clone())
            .unwrap_or_default()
    }

    /// Reopens the cases that were open in history when the daemon last stopped, so that
    /// detections after a restart join them instead of opening new cases. Each continues from
    /// the version it last published; nothing is published until it changes. Returns how many
    /// resumed.
    pub fn resume(&mut self, now: DateTime<Utc>) -> usize {
        let Some(h) = self.settings.history.clone() else {
            return 0;
        };
        let Some(mut saved) = self.note_error(h.open_cases()) else {
            return 0;
        };
        // The most recently active state of an entity wins (one open case per entity).
        saved.sort_by(|(a, _), (b, _)| {
            a.last_seen
                .cmp(&b.last_seen)
                .then(a.case_id.cmp(&b.case_id))
        });
        let mut resumed = 0;
        for (state, record) in saved {
            let events = self
                .note_error(h.events(&state.case_id))
                .unwrap_or_default();
            let case = resumed_case(state, &record, events, self.settings.max_case_events);
            self.clock += 1;
            let key = case.entity.clone();
            if let Some(older) = self.open.insert(
                key,
                Case {
                    touched: self.clock,
                    ..case
                },
            ) {
                let r = h.close(
                    &older.id,
                    ACTOR,
                    "superseded by a newer case of its entity",
                    now,
                );
                self.note_error(r);
            } else {
                resumed += 1;
            }
        }
        resumed
    }

    /// Publishes what is unpublished and marks the case closed in history.
    fn finish(&mut self, mut case: Case, now: DateTime<Utc>, reason: &str) -> Option<Published> {
        let out = self.publish(&mut case, now);
        // Repeats counted since the last version leave with the closed case.
        std::mem::take(&mut case.acks)
            .into_iter()
            .for_each(Ack::done);
        if let Some(h) = self.settings.history.clone()
            && !case.closed_by_analyst
            && case.version > 0
        {
            let r = h.close(&case.id, ACTOR, reason, now).map(|_| ());
            self.note_error(r);
        }
        out
    }

    fn note_error<T>(&mut self, r: Result<T, HistoryError>) -> Option<T> {
        match r {
            Ok(v) => Some(v),
            Err(e) => {
                self.history_errors += 1;
                if self.history_errors <= MAX_ERRORS_LOGGED {
                    tracing::warn!(error = %e, "case history operation failed; the case continues without it");
                }
                None
            }
        }
    }

    fn publish(&mut self, case: &mut Case, now: DateTime<Utc>) -> Option<Published> {
        if !case.dirty {
            return None;
        }
        case.dirty = false;
        case.unsaved = false;
        case.version += 1;
        let history = self.settings.history.clone();
        let mut extra = Vec::new();
        let mut stored: Option<CaseRecord> = None;
        let mut missing = Vec::new();
        match history.as_deref() {
            Some(h) => {
                let consulted = consult(h, case);
                if let Some(found) = self.note_error(consulted) {
                    extra = found;
                    case.advance(
                        Stage::Investigate,
                        now,
                        format!(
                            "case history consulted: {} finding(s) from earlier cases and feedback",
                            extra.len()
                        ),
                    );
                }
                stored = self.note_error(h.case(&case.id)).flatten();
            }
            None => missing.push("no case history available".to_owned()),
        }
        if self.settings.expect_enrichment {
            let pending = case
                .indicators
                .values()
                .filter(|i| !i.is_profiled())
                .count();
            if pending > 0 {
                missing.push(format!("enrichment pending for {pending} indicator(s)"));
            }
        }
        let mut inputs: Vec<FindingInput> = case.findings.iter().map(|f| f.input.clone()).collect();
        inputs.extend(extra);
        let host = case.host();
        let ctx = CaseContext {
            entity: Some(case.entity.clone()),
            entities: case.entities.iter().cloned().collect(),
            indicators: case.indicators.values().cloned().collect(),
            unclassified: case.unclassified.clone(),
            missing_evidence: missing,
        };
        let mut verdict = verdict::synthesize_with(
            CaseHeader {
                case_id: &case.id,
                version: case.version,
                host: &host,
                first_seen: case.first_seen,
                last_seen: case.last_seen,
            },
            &inputs,
            &ctx,
            &self.settings.policy,
            now,
        );
        if verdict.conclusion == verdict::Conclusion::Incident && case.stage == Stage::Investigate {
            case.advance(
                Stage::Validate,
                now,
                format!("score {} concluded incident", verdict.score),
            );
        }
        if case.stage == Stage::Validate && !verdict.next_steps.is_empty() {
            case.advance(
                Stage::Recommend,
                now,
                format!(
                    "{} next step(s) attached from runbooks",
                    verdict.next_steps.len()
                ),
            );
        }
        // What analysts did (feedback, close) is in the stored record: keep it in view.
        let mut timeline = case.timeline.clone();
        if let Some(s) = &stored {
            case.stage = case.stage.max(s.stage);
            timeline.extend(s.timeline.iter().filter(|e| e.actor != ACTOR).cloned());
            timeline.sort_by(|a, b| a.time.cmp(&b.time).then(a.stage.cmp(&b.stage)));
            case.closed_by_analyst = s.status == CaseStatus::Closed
                && s.closed_by.as_deref().is_some_and(|b| b != ACTOR);
        }
        verdict.stage = case.stage;
        verdict.timeline = timeline;
        verdict.summary = case.summary.clone();
        if let Some(h) = history.as_deref() {
            let record = case_record(case, &verdict, now);
            let new_events: Vec<&Event> = case.events[case.events_stored..]
                .iter()
                .map(|e| e.as_ref())
                .collect();
            let n = new_events.len();
            if self
                .note_error(h.record(&record, &verdict, &new_events))
                .is_some()
            {
                case.events_stored += n;
                if !case.closed_by_analyst {
                    let saved = h.save_open(&open_state(case));
                    self.note_error(saved);
                }
            }
        }
        Some(Published {
            verdict: Arc::new(verdict),
            oldest_received: case.pending_since.take(),
            ack: Ack::merge(std::mem::take(&mut case.acks)),
            summarize: std::mem::take(&mut case.needs_summary),
        })
    }
}

#[cfg(test)]
mod tests;
