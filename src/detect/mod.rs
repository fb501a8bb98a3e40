//! Sigma detection engine: load rules once, evaluate events purely, correlate statefully.
//!
//! # Contract
//! * **Compile once.** [`load`] / [`compile_str`] parse Sigma YAML (detection, correlation and
//!   filter documents, Sigma spec v2.1) into an immutable [`RuleSet`]. Every field name is resolved
//!   to event paths (with aliases from `rules/mappings/fields.yml`), every value and modifier chain
//!   to a matcher, every condition to an index-based tree, and all literals into a candidate index.
//!   Rules that cannot be compiled are reported in [`LoadReport::rejected`]; loading never stops.
//! * **Evaluate pure.** [`RuleSet::matches`] is synchronous, does no IO and no per-rule allocation;
//!   it only evaluates rules whose logsource can apply and whose necessary literals occur in the
//!   event (see `index.rs`), then applies filter documents as `AND NOT`. A `RuleSet` is
//!   `Send + Sync`; share it as `Arc<RuleSet>` across worker threads.
//! * **Correlate statefully.** [`Correlator`] is single-threaded, owned by one pipeline stage,
//!   and keeps bounded, event-time windowed state per correlation and group.

mod compile;
mod condition;
mod correlation;
mod eval;
mod filter;
mod index;
mod load;
mod logsource;
mod matcher;
mod relit;
mod value;

#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::event::{Event, LogSource};

pub use correlation::{
    CorrelationJournal, CorrelationLimits, CorrelationMatch, Correlator, JournalError, Snapshot,
};
pub use load::{compile_str, load, load_placeholders};

/// Rule severity, ordered from least to most severe.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Informational,
    Low,
    Medium,
    High,
    Critical,
}

/// Parses a Sigma `level` value (case-insensitive).
pub fn level_from_str(s: &str) -> Option<Level> {
    Some(match s.trim().to_ascii_lowercase().as_str() {
        "informational" | "info" => Level::Informational,
        "low" => Level::Low,
        "medium" => Level::Medium,
        "high" => Level::High,
        "critical" => Level::Critical,
        _ => return None,
    })
}

/// The seven Sigma v2.1 correlation types.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CorrelationType {
    EventCount,
    ValueCount,
    Temporal,
    TemporalOrdered,
    ValueSum,
    ValueAvg,
    ValuePercentile,
}

/// Parses a correlation `type` value.
pub fn correlation_type_from_str(s: &str) -> Option<CorrelationType> {
    Some(match s.trim() {
        "event_count" => CorrelationType::EventCount,
        "value_count" => CorrelationType::ValueCount,
        "temporal" => CorrelationType::Temporal,
        "temporal_ordered" => CorrelationType::TemporalOrdered,
        "value_sum" => CorrelationType::ValueSum,
        "value_avg" => CorrelationType::ValueAvg,
        "value_percentile" => CorrelationType::ValuePercentile,
        _ => return None,
    })
}

/// Whether a rule is a single-event detection or a correlation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RuleKind {
    Detection,
    Correlation(CorrelationType),
}

/// Metadata of one loaded rule (detection or correlation).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RuleMeta {
    /// The rule's `id`, or its title when it has none.
    pub id: String,
    pub title: String,
    /// The rule's `name` (used by correlations and filters), when set.
    pub name: Option<String>,
    pub level: Level,
    pub description: Option<String>,
    pub tags: Vec<String>,
    /// The rule's Sigma `fields`: event fields an analyst reads first; evidence shows them.
    pub fields: Vec<String>,
    pub path: PathBuf,
    pub logsource: LogSource,
    pub kind: RuleKind,
}

/// Options for loading rules.
#[derive(Clone, Debug, Default)]
pub struct LoadOptions {
    /// Values for `expand` placeholders, keyed by name without `%`.
    pub placeholders: HashMap<String, Vec<String>>,
    /// Evaluate every rule on every event regardless of logsource.
    pub ignore_logsource: bool,
}

/// Why a rule (or a whole file) was rejected. The id and the reason are bounded
/// ([`MAX_QUOTED`], [`MAX_REASON`]): a rule's own text (a 1 MB regex, a huge id) is never
/// echoed whole into logs and reports.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{}: {}: {reason}", path.display(), id.as_deref().unwrap_or("-"))]
pub struct RuleError {
    pub path: PathBuf,
    pub id: Option<String>,
    pub reason: String,
}

/// Longest value of a rule (pattern, id) quoted whole in a rule error.
pub const MAX_QUOTED: usize = 200;
/// Longest reason a rule error keeps.
pub const MAX_REASON: usize = 1024;

/// `value` as an error may show it: whole when at most `max` bytes, else its first `max`
/// bytes (back to a character boundary) and `… (N bytes)`.
pub fn excerpt(value: &str, max: usize) -> std::borrow::Cow<'_, str> {
    if value.len() <= max {
        return value.into();
    }
    let mut end = max;
    while !value.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… ({} bytes)", &value[..end], value.len()).into()
}

/// A rule's value quoted in an error (`"…"`), shortened by [`excerpt`] past [`MAX_QUOTED`].
pub(crate) fn quoted(value: &str) -> String {
    if value.len() <= MAX_QUOTED {
        return format!("{value:?}");
    }
    let short = excerpt(value, MAX_QUOTED);
    let (head, size) = short.rsplit_once('…').unwrap_or((&short, ""));
    format!("{head:?}…{size}")
}

impl RuleError {
    pub(crate) fn new(path: &Path, id: Option<String>, reason: impl Into<String>) -> Self {
        let reason = reason.into();
        Self {
            path: path.to_path_buf(),
            id: id.map(|i| excerpt(&i, MAX_QUOTED).into_owned()),
            reason: excerpt(&reason, MAX_REASON).into_owned(),
        }
    }
}

/// The result of loading: the rule set, documents seen, and every rejection.
#[derive(Debug)]
pub struct LoadReport {
    pub rules: RuleSet,
    /// Sigma documents seen (detection, correlation and filter documents).
    pub total: usize,
    pub rejected: Vec<RuleError>,
}

/// One single-event rule hit.
#[derive(Clone, Debug)]
pub struct RuleMatch {
    pub rule: Arc<RuleMeta>,
    /// False when the rule is only referenced by correlations without `generate: true`.
    pub emit: bool,
}

/// A compiled detection rule.
#[derive(Debug)]
pub(crate) struct DetRule {
    pub meta: Arc<RuleMeta>,
    pub source: logsource::RuleSource,
    pub det: compile::CompiledDetection,
    /// Indices into [`RuleSet::filters`] that apply to this rule.
    pub filters: Vec<u32>,
    pub emit: bool,
    /// The field ids the detection reads, for routing events of unknown logsource.
    pub fields: Box<[u32]>,
}

impl DetRule {
    /// Whether the rule can concern an event whose logsource is unknown: the event carries at
    /// least one field the rule reads, or the rule searches keywords. Without this, rules whose
    /// condition is only a negation (`not selection`) would match every unknown event.
    fn shares_fields(
        &self,
        sc: &mut eval::Scratch,
        ft: &logsource::FieldTable,
        ev: &Event,
    ) -> bool {
        self.fields.iter().any(|&f| {
            f == logsource::KEYWORDS || !matches!(sc.load(ft, ev, f), eval::FState::Missing)
        })
    }
}

/// An immutable, compiled set of Sigma rules. `Send + Sync`; share as `Arc<RuleSet>`.
#[derive(Debug, Default)]
pub struct RuleSet {
    pub(crate) metas: Vec<Arc<RuleMeta>>,
    pub(crate) dets: Vec<DetRule>,
    pub(crate) filters: Vec<filter::FilterRule>,
    pub(crate) fields: logsource::FieldTable,
    pub(crate) index: index::Index,
    pub(crate) correlations: Vec<correlation::CorrelationDef>,
    pub(crate) ignore_logsource: bool,
}

thread_local! {
    static SCRATCH: std::cell::RefCell<eval::Scratch> = std::cell::RefCell::new(eval::Scratch::default());
}

impl RuleSet {
    /// Number of rules (detections and correlations).
    pub fn len(&self) -> usize {
        self.metas.len()
    }

    pub fn is_empty(&self) -> bool {
        self.metas.is_empty()
    }

    /// Every rule's metadata, detections first, then correlations.
    pub fn rules(&self) -> impl Iterator<Item = &Arc<RuleMeta>> {
        self.metas.iter()
    }

    pub fn has_correlations(&self) -> bool {
        !self.correlations.is_empty()
    }

    /// Pushes every single-event rule matching `event` (filters applied) to `out`, in rule order.
    pub fn matches(&self, event: &Event, out: &mut Vec<RuleMatch>) {
        self.matches_impl(event, out, true);
    }

    /// Evaluates without the literal prefilter (every logsource-applicable rule); for tests.
    #[cfg(test)]
    pub(crate) fn matches_brute(&self, event: &Event, out: &mut Vec<RuleMatch>) {
        self.matches_impl(event, out, false);
    }

    fn matches_impl(&self, event: &Event, out: &mut Vec<RuleMatch>, indexed: bool) {
        if self.dets.is_empty() {
            return;
        }
        SCRATCH.with(|cell| {
            let Ok(mut guard) = cell.try_borrow_mut() else {
                let mut fresh = eval::Scratch::default();
                self.run(&mut fresh, event, out, indexed);
                return;
            };
            self.run(&mut guard, event, out, indexed);
        });
    }

    fn run(&self, sc: &mut eval::Scratch, event: &Event, out: &mut Vec<RuleMatch>, indexed: bool) {
        sc.begin(self.fields.len(), self.dets.len());
        if indexed {
            let all = self.ignore_logsource || !event.logsource.is_known();
            self.index.candidates(sc, &self.fields, event, all);
        } else {
            for i in 0..self.dets.len() as u32 {
                sc.mark(i);
            }
        }
        let mut cands = std::mem::take(&mut sc.cands);
        cands.sort_unstable();
        let unknown_source = !self.ignore_logsource && !event.logsource.is_known();
        for &r in &cands {
            let rule = &self.dets[r as usize];
            if unknown_source && !rule.shares_fields(sc, &self.fields, event) {
                continue;
            }
            // Indexed candidates come only from buckets whose logsource (the rule's own) applies,
            // or from the all-rules bucket when every rule applies; re-check only brute force.
            if !indexed
                && !index::source_applies(&rule.source, &event.logsource, self.ignore_logsource)
            {
                continue;
            }
            let mut ctx = eval::Ctx {
                sc: &mut *sc,
                ft: &self.fields,
                ev: event,
            };
            if !ctx.detection(&rule.det) {
                continue;
            }
            let filtered = rule.filters.iter().any(|f| {
                let f = &self.filters[*f as usize];
                index::source_applies(&f.source, &event.logsource, self.ignore_logsource)
                    && eval::Ctx {
                        sc: &mut *sc,
                        ft: &self.fields,
                        ev: event,
                    }
                    .detection(&f.det)
            });
            if !filtered {
                out.push(RuleMatch {
                    rule: rule.meta.clone(),
                    emit: rule.emit,
                });
            }
        }
        sc.cands = cands;
    }
}

impl Level {
    /// The Sigma spelling, also used as a metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Informational => "informational",
            Level::Low => "low",
            Level::Medium => "medium",
            Level::High => "high",
            Level::Critical => "critical",
        }
    }
}
