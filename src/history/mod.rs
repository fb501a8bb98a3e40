//! Case history: what nightwatch remembers about earlier cases, behind [`HistoryStore`].
//!
//! The history holds every case (its latest state), every verdict version, bounded copies of the
//! evidence events, secondary indexes (indicator → cases, host → cases, user → cases, source
//! address → cases) and analyst feedback (per case, and per rule/entity pair). The case builder
//! writes a case's new state, verdict, events and index entries in one transaction per update
//! ([`HistoryStore::record`]); the API adds feedback and closes cases; history correlation reads
//! the indexes when a case is built. Retention ([`HistoryStore::compact`]) drops cases older than
//! a horizon, the least recently active past a count cap, and the oldest closed cases past a
//! byte cap, with their verdicts, events and index entries ([`compact_and_measure`] also
//! updates the `nightwatch_history_*` metrics).
//!
//! The default implementation is [`sled_store::SledHistory`] on the process's embedded
//! [`crate::store::Store`]; the trait keeps the rest of the program independent of it so another
//! backend can replace it.

pub mod audit;
pub mod sled_store;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::event::Event;
use crate::verdict::{
    Conclusion, EntityKind, EntityRef, Evidence, FindingInput, FindingKind, IndicatorRef, Severity,
    Stage, TimelineEntry, UnclassifiedEvidence, Verdict,
};

pub use sled_store::SledHistory;

/// The actor named in timeline entries nightwatch makes itself (the case builder).
pub const ACTOR: &str = "nightwatch";

/// What an analyst concluded about a case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Disposition {
    TruePositive,
    FalsePositive,
    Benign,
}

impl Disposition {
    pub fn as_str(self) -> &'static str {
        match self {
            Disposition::TruePositive => "true_positive",
            Disposition::FalsePositive => "false_positive",
            Disposition::Benign => "benign",
        }
    }

    /// False positive and benign both say "this was not an attack".
    pub fn is_dismissal(self) -> bool {
        !matches!(self, Disposition::TruePositive)
    }
}

/// One piece of analyst feedback.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Feedback {
    pub case_id: String,
    pub disposition: Disposition,
    pub note: String,
    pub analyst: String,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CaseStatus {
    #[default]
    Open,
    Closed,
}

/// How a listing is ordered.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum CaseOrder {
    /// Newest activity (last event) first.
    #[default]
    Activity,
    /// Most severe first, then newest activity: the triage queue.
    Severity,
}

impl CaseFilter {
    /// Whether a case passes the filters other than the cursor and limit.
    pub fn admits(&self, r: &CaseRecord) -> bool {
        let lower = |s: &Option<String>| s.as_ref().map(|v| v.to_lowercase());
        let involves = |kind: EntityKind, value: &Option<String>| {
            lower(value).is_none_or(|v| {
                r.entities
                    .iter()
                    .any(|e| e.kind == kind && e.value.to_lowercase() == v)
            })
        };
        let entity = lower(&self.entity).is_none_or(|v| {
            std::iter::once(&r.entity)
                .chain(&r.entities)
                .any(|e| e.value.to_lowercase().contains(&v))
        });
        let technique = self.technique.as_ref().is_none_or(|t| {
            r.techniques.iter().any(|have| {
                have.eq_ignore_ascii_case(t)
                    || (have
                        .get(..t.len())
                        .is_some_and(|p| p.eq_ignore_ascii_case(t))
                        && have.as_bytes().get(t.len()) == Some(&b'.'))
            })
        });
        let text = lower(&self.text).is_none_or(|q| {
            r.case_id.to_lowercase().contains(&q)
                || std::iter::once(&r.entity)
                    .chain(&r.entities)
                    .any(|e| e.value.to_lowercase().contains(&q))
                || r.indicators
                    .iter()
                    .chain(&r.rules)
                    .chain(&r.techniques)
                    .any(|v| v.to_lowercase().contains(&q))
                || r.assignee
                    .as_ref()
                    .is_some_and(|a| a.to_lowercase().contains(&q))
        });
        self.conclusion.is_none_or(|c| r.conclusion == c)
            && self.severity.is_none_or(|s| r.severity == s)
            && self.status.is_none_or(|s| r.status == s)
            && self.since.is_none_or(|s| r.last_seen >= s)
            && self.until.is_none_or(|u| r.first_seen <= u)
            && involves(EntityKind::Host, &self.host)
            && involves(EntityKind::User, &self.user)
            && entity
            && technique
            && text
    }
}

/// The latest state of one case, as stored and as the API lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CaseRecord {
    pub case_id: String,
    pub entity: EntityRef,
    pub host: String,
    /// Every host, user and source address in the evidence.
    pub entities: Vec<EntityRef>,
    /// Indicator values in the evidence.
    pub indicators: Vec<String>,
    /// Ids of the rules that matched.
    pub rules: Vec<String>,
    pub techniques: Vec<String>,
    pub first_seen: DateTime<Utc>,
    pub last_seen: DateTime<Utc>,
    pub opened_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub status: CaseStatus,
    pub closed_at: Option<DateTime<Utc>>,
    /// `nightwatch` (inactivity) or the analyst who closed it.
    pub closed_by: Option<String>,
    pub version: u32,
    pub verdict_id: String,
    pub conclusion: Conclusion,
    pub severity: Severity,
    pub score: u8,
    pub confidence: f64,
    pub stage: Stage,
    pub timeline: Vec<TimelineEntry>,
    /// The analyst's latest disposition, and the latest [`MAX_KEPT_FEEDBACK`] pieces of
    /// feedback, oldest first (the audit log has every one).
    pub disposition: Option<Disposition>,
    pub feedback: Vec<Feedback>,
    /// Evidence event copies stored so far.
    pub events_stored: u32,
    /// Findings of the latest verdict version.
    #[serde(default)]
    pub findings: u32,
    /// The analyst who owns the case.
    #[serde(default)]
    pub assignee: Option<String>,
    /// The analyst who acknowledged the case (someone is on it).
    #[serde(default)]
    pub acknowledged_by: Option<String>,
}

/// An analyst's change to where a case stands in the queue (feedback and close have their
/// own methods: they also teach the rules and end the case).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CaseAction {
    /// Give the case to an analyst; `None` takes it back to the queue.
    Assign(Option<String>),
    /// Say someone is working on it.
    Acknowledge,
    /// Open a closed case again.
    Reopen,
}

impl CaseAction {
    /// The audit log's action name.
    pub fn name(&self) -> &'static str {
        match self {
            CaseAction::Assign(_) => "assign",
            CaseAction::Acknowledge => "acknowledge",
            CaseAction::Reopen => "reopen",
        }
    }

    /// Applies the action to a record (time, actor and timeline entry included); `false` when
    /// it changes nothing (acknowledging twice, reopening an open case).
    pub fn apply(&self, r: &mut CaseRecord, by: &str, note: &str, at: DateTime<Utc>) -> bool {
        let what = match self {
            CaseAction::Assign(to) if r.assignee == *to => return false,
            CaseAction::Assign(Some(to)) => {
                r.assignee = Some(to.clone());
                format!("assigned to {to}")
            }
            CaseAction::Assign(None) => {
                r.assignee = None;
                "unassigned".to_owned()
            }
            CaseAction::Acknowledge if r.acknowledged_by.is_some() => return false,
            CaseAction::Acknowledge => {
                r.acknowledged_by = Some(by.to_owned());
                "acknowledged".to_owned()
            }
            CaseAction::Reopen if r.status == CaseStatus::Open => return false,
            CaseAction::Reopen => {
                r.status = CaseStatus::Open;
                r.closed_at = None;
                r.closed_by = None;
                "reopened".to_owned()
            }
        };
        let note: String = note.chars().take(TIMELINE_NOTE_CHARS).collect();
        r.timeline.push(TimelineEntry {
            time: at,
            stage: r.stage,
            actor: by.to_owned(),
            note: if note.is_empty() {
                what
            } else {
                format!("{what}: {note}")
            },
        });
        r.updated_at = at;
        r.bound_analyst_trail();
        true
    }
}

/// Pieces of feedback a case record keeps (the newest); the audit log has them all.
pub const MAX_KEPT_FEEDBACK: usize = 32;
/// Analyst entries (feedback, close) a case timeline keeps (the newest).
pub const MAX_ANALYST_ENTRIES: usize = 32;
/// Characters of a feedback note repeated in its timeline entry.
pub const TIMELINE_NOTE_CHARS: usize = 200;

/// The timeline note of a piece of feedback: the disposition and the start of the note.
pub fn feedback_note(fb: &Feedback) -> String {
    let mut note: String = fb.note.chars().take(TIMELINE_NOTE_CHARS).collect();
    if note.len() < fb.note.len() {
        note.push('…');
    }
    format!("feedback: {} {note}", fb.disposition.as_str())
        .trim_end()
        .to_owned()
}

impl CaseRecord {
    /// Keeps the newest [`MAX_KEPT_FEEDBACK`] pieces of feedback and [`MAX_ANALYST_ENTRIES`]
    /// analyst timeline entries, so that the record, rewritten on each change, stays bounded
    /// however many changes analysts make.
    pub fn bound_analyst_trail(&mut self) {
        let excess = self.feedback.len().saturating_sub(MAX_KEPT_FEEDBACK);
        self.feedback.drain(..excess);
        let analyst = |e: &TimelineEntry| e.actor != ACTOR;
        let mut excess = self
            .timeline
            .iter()
            .filter(|e| analyst(e))
            .count()
            .saturating_sub(MAX_ANALYST_ENTRIES);
        self.timeline.retain(|e| {
            let drop = excess > 0 && analyst(e);
            excess -= usize::from(drop);
            !drop
        });
    }

    /// An open case as its verdict `v` describes it: entities, indicators, the rules that
    /// matched (rule and correlation findings; feedback findings cite a prior case), techniques,
    /// scores, stage and timeline; opened at its first timeline entry, updated when `v` was
    /// generated, no events stored. Callers replace what they know better.
    pub fn from_verdict(v: &Verdict) -> CaseRecord {
        let mut rules: Vec<String> = v
            .findings
            .iter()
            .filter(|f| !f.rule_id.is_empty() && f.prior_cases.is_empty())
            .map(|f| f.rule_id.clone())
            .collect();
        rules.sort();
        rules.dedup();
        CaseRecord {
            case_id: v.case_id.clone(),
            entity: v.entity.clone(),
            host: v.host.clone(),
            entities: v.entities.clone(),
            indicators: v.indicators.iter().map(|i| i.value.clone()).collect(),
            rules,
            techniques: v.attack.iter().map(|a| a.technique_id.clone()).collect(),
            first_seen: v.first_seen,
            last_seen: v.last_seen,
            opened_at: v.timeline.first().map_or(v.generated_at, |t| t.time),
            updated_at: v.generated_at,
            status: CaseStatus::Open,
            closed_at: None,
            closed_by: None,
            version: v.version,
            verdict_id: v.verdict_id.clone(),
            conclusion: v.conclusion,
            severity: v.severity,
            score: v.score,
            confidence: v.confidence,
            stage: v.stage,
            timeline: v.timeline.clone(),
            disposition: None,
            feedback: Vec::new(),
            events_stored: 0,
            findings: u32::try_from(v.findings.len()).unwrap_or(u32::MAX),
            assignee: None,
            acknowledged_by: None,
        }
    }

    /// Whether an analyst confirmed it, or nightwatch concluded incident and nobody dismissed it.
    pub fn is_compromise(&self) -> bool {
        match self.disposition {
            Some(d) => !d.is_dismissal(),
            None => self.conclusion == Conclusion::Incident,
        }
    }
}

/// What the case builder needs to continue an open case after a restart: its findings with
/// their suppression state, indicators and the events that carried them, timeline and summary.
/// Saved with each published version, dropped when the case closes; the evidence event copies
/// are the case's stored events.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OpenCase {
    pub case_id: String,
    pub entity: EntityRef,
    pub entities: Vec<EntityRef>,
    pub indicators: Vec<IndicatorRef>,
    /// Indicator value → the first events that carried it.
    pub indicator_evidence: Vec<(String, Vec<Evidence>)>,
    pub first_seen: DateTime<Utc>,
    pub last_seen: DateTime<Utc>,
    pub opened_at: DateTime<Utc>,
    /// The version published with this state.
    pub version: u32,
    pub findings: Vec<OpenFinding>,
    pub stage: Stage,
    /// nightwatch's own timeline entries (analysts' are in the record).
    pub timeline: Vec<TimelineEntry>,
    pub unclassified: Vec<UnclassifiedEvidence>,
    pub summary: Option<crate::verdict::summary::Summary>,
    /// Ids of the latest events counted in the case, so that events an input reads again
    /// after a crash are not counted twice (absent in states saved before it existed).
    #[serde(default)]
    pub recent: Vec<crate::event::EventId>,
}

/// One finding of an [`OpenCase`]: how the case builder keys it (kind, rule, group), what it
/// holds, and the event time of its last alert (suppression).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OpenFinding {
    pub key: (FindingKind, String, String),
    pub input: FindingInput,
    pub last_alert: DateTime<Utc>,
}

/// `GET /api/cases` filters; every field optional.
#[derive(Debug, Clone, Default)]
pub struct CaseFilter {
    pub conclusion: Option<Conclusion>,
    pub severity: Option<Severity>,
    pub host: Option<String>,
    /// Cases whose evidence involves this user (case-insensitive, e.g. `CORP\\j.doe`).
    pub user: Option<String>,
    /// Cases active (last event) at or after this time.
    pub since: Option<DateTime<Utc>>,
    /// Cases active (first event) at or before this time; with `since`, the cases whose
    /// activity overlaps the window.
    pub until: Option<DateTime<Utc>>,
    /// Open or closed cases only.
    pub status: Option<CaseStatus>,
    /// Cases mapped to this ATT&CK technique (or a sub-technique of it).
    pub technique: Option<String>,
    /// Cases involving an entity (host, user, address, mailbox, principal) whose value
    /// contains this text (case-insensitive).
    pub entity: Option<String>,
    /// Free text (case-insensitive) in the case id, an entity, an indicator, a rule id or a
    /// technique.
    pub text: Option<String>,
    pub order: CaseOrder,
    pub limit: usize,
    /// Opaque: the `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// One page of cases, newest activity first.
#[derive(Debug, Clone, Serialize)]
pub struct CasePage {
    pub cases: Vec<CaseRecord>,
    pub next_cursor: Option<String>,
}

/// What compaction keeps: `[history]` retention.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// Cases last active before this are removed.
    pub horizon: DateTime<Utc>,
    /// At most this many cases are kept (the least recently active go first).
    pub max_cases: usize,
    /// The oldest closed cases are removed until the history's data ([`HistoryStats::data_bytes`])
    /// is at most this many bytes; 0 = no cap.
    pub max_bytes: u64,
}

/// What a compaction removed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CompactReport {
    pub cases_before: u64,
    pub removed_by_age: u64,
    /// Removed by the `max_cases` count cap.
    pub removed_by_cap: u64,
    /// Closed cases removed by the `max_bytes` size cap.
    pub removed_by_size: u64,
    pub cases_after: u64,
    /// History data bytes before and after.
    pub bytes_before: u64,
    pub bytes_after: u64,
}

/// How big the history is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct HistoryStats {
    pub cases: u64,
    /// Keys and values in the history's trees.
    pub data_bytes: u64,
    /// The embedded store's size on disk (every tree, sled's own overhead and space not yet
    /// reclaimed): larger than `data_bytes`.
    pub store_bytes: u64,
}

/// Compacts `history` and records the outcome in the `nightwatch_history_*` metrics.
pub fn compact_and_measure(
    history: &dyn HistoryStore,
    retention: &Retention,
    metrics: &crate::metrics::Metrics,
) -> Result<CompactReport, HistoryError> {
    let result = history.compact(retention).and_then(|report| {
        for (reason, n) in [
            ("age", report.removed_by_age),
            ("count", report.removed_by_cap),
            ("size", report.removed_by_size),
        ] {
            metrics
                .history
                .compacted
                .with_label_values(&[reason])
                .inc_by(n);
        }
        measure(history, metrics)?;
        Ok(report)
    });
    if result.is_err() {
        metrics.history.errors.inc();
    }
    result
}

/// Sets the `nightwatch_history_*` size gauges from [`HistoryStore::stats`].
pub fn measure(
    history: &dyn HistoryStore,
    metrics: &crate::metrics::Metrics,
) -> Result<HistoryStats, HistoryError> {
    let stats = history.stats()?;
    let gauge = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
    metrics.history.cases.set(gauge(stats.cases));
    metrics.history.data_bytes.set(gauge(stats.data_bytes));
    metrics.history.store_bytes.set(gauge(stats.store_bytes));
    Ok(stats)
}

/// Why a history operation failed.
#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    #[error("history store: {0}")]
    Store(#[from] crate::store::StoreError),
    #[error("history store tree operation: {0}")]
    Sled(#[from] sled::Error),
    #[error("history record {key}: {source}")]
    Decode {
        key: String,
        source: serde_json::Error,
    },
    #[error("encoding history record: {0}")]
    Encode(serde_json::Error),
    #[error("no case {0}")]
    NoCase(String),
    #[error("bad cursor `{0}`")]
    Cursor(String),
    #[error("writing the export: {0}")]
    Io(#[from] std::io::Error),
}

/// Case history storage. Implementations keep secondary indexes consistent with the cases
/// they index: every method that changes a case does so in one transaction.
pub trait HistoryStore: Send + Sync + std::fmt::Debug {
    /// Stores a case's new state, its verdict version, new evidence event copies and index
    /// entries, atomically. Analyst-owned fields of the stored record (disposition, feedback,
    /// analyst timeline entries, an analyst close) are kept.
    fn record(
        &self,
        case: &CaseRecord,
        verdict: &Verdict,
        new_events: &[&Event],
    ) -> Result<CaseRecord, HistoryError>;
    /// Marks a case closed; returns the record before and after.
    fn close(
        &self,
        case_id: &str,
        by: &str,
        reason: &str,
        at: DateTime<Utc>,
    ) -> Result<(CaseRecord, CaseRecord), HistoryError>;
    /// Applies an analyst's [`CaseAction`]; returns the record before and after (equal when
    /// the action changed nothing).
    fn act(
        &self,
        case_id: &str,
        action: &CaseAction,
        by: &str,
        note: &str,
        at: DateTime<Utc>,
    ) -> Result<(CaseRecord, CaseRecord), HistoryError>;
    /// Adds analyst feedback to a case and to the rule/entity feedback of each of its rules;
    /// returns the record before and after.
    fn add_feedback(&self, fb: &Feedback) -> Result<(CaseRecord, CaseRecord), HistoryError>;
    fn case(&self, case_id: &str) -> Result<Option<CaseRecord>, HistoryError>;
    fn verdicts(&self, case_id: &str) -> Result<Vec<Verdict>, HistoryError>;
    fn events(&self, case_id: &str) -> Result<Vec<Event>, HistoryError>;
    fn list(&self, filter: &CaseFilter) -> Result<CasePage, HistoryError>;
    /// Ids of the cases whose evidence carried this indicator value.
    fn cases_for_indicator(&self, value: &str) -> Result<Vec<String>, HistoryError>;
    /// Ids of the cases involving this host, user or source address.
    fn cases_for_entity(&self, entity: &EntityRef) -> Result<Vec<String>, HistoryError>;
    /// The latest analyst feedback on this rule for this entity.
    fn rule_feedback(
        &self,
        rule_id: &str,
        entity: &EntityRef,
    ) -> Result<Option<Feedback>, HistoryError>;
    /// Drops cases last active before the horizon, then the least recently active past
    /// `max_cases`, then the oldest closed cases while the data exceeds `max_bytes`, each
    /// with its verdicts, events and index entries.
    fn compact(&self, retention: &Retention) -> Result<CompactReport, HistoryError>;
    /// The number of cases and the bytes they take.
    fn stats(&self) -> Result<HistoryStats, HistoryError>;
    /// Every case with its verdicts and events as NDJSON lines; returns the number of cases.
    fn export(&self, out: &mut dyn std::io::Write) -> Result<u64, HistoryError>;
    /// Writes buffered changes to disk.
    fn flush(&self) -> Result<(), HistoryError>;
    /// Saves the state an open case resumes from after a restart, replacing the previous one.
    fn save_open(&self, case: &OpenCase) -> Result<(), HistoryError>;
    /// The saved states of the cases still open, each with its case record, in no particular
    /// order. States of cases that were closed or compacted away are dropped.
    fn open_cases(&self) -> Result<Vec<(OpenCase, CaseRecord)>, HistoryError>;
}
