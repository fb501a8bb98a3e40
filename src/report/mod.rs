//! Printable case reports: one verdict rendered as Markdown ([`render_md`]), a self-contained
//! single-page HTML document ([`render_html`]) or a PDF ([`render_pdf`]).
//!
//! A [`ReportInput`] is the verdict plus the sections newer verdicts and the case history
//! carry (indicator enrichments with per-source opinions, next steps, case stages); each such
//! section is rendered when present and left out when empty. [`ReportInput::from_json`] reads
//! them from a verdict document when it has them. All three renderers draw from the same
//! [`Report`] view so they show the same facts; every string that can come from an event
//! (host, rule titles, sources, indicator values) is escaped by the renderer for its format.
//!
//! PDF needs the `pdf` feature; without it [`ReportFormat::render`] refuses PDF with
//! [`Missing`] (the CLI exits with it, the API answers 501).

pub mod html;
pub mod md;
#[cfg(feature = "pdf")]
pub mod pdf;

use std::collections::BTreeMap;

use chrono::{DateTime, SecondsFormat, Utc};

pub use html::render_html;
pub use md::render_md;
#[cfg(feature = "pdf")]
pub use pdf::render_pdf;

use crate::attack;
use crate::event::Event;
use crate::features::{Feature, Missing};
use crate::history::{HistoryError, HistoryStore};
use crate::verdict::{Evidence, Finding, TimelineEntry, Verdict};

/// The formats a report is rendered in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ReportFormat {
    Md,
    Html,
    Pdf,
}

impl ReportFormat {
    /// File extension.
    pub fn ext(self) -> &'static str {
        match self {
            ReportFormat::Md => "md",
            ReportFormat::Html => "html",
            ReportFormat::Pdf => "pdf",
        }
    }

    /// HTTP content type.
    pub fn content_type(self) -> &'static str {
        match self {
            ReportFormat::Md => "text/markdown; charset=utf-8",
            ReportFormat::Html => "text/html; charset=utf-8",
            ReportFormat::Pdf => "application/pdf",
        }
    }

    /// Whether this build renders the format (PDF needs the `pdf` feature).
    pub fn available(self) -> Result<(), Missing> {
        match self {
            ReportFormat::Pdf if cfg!(not(feature = "pdf")) => Err(Missing(Feature::Pdf)),
            _ => Ok(()),
        }
    }

    pub fn render(self, input: &ReportInput) -> Result<Vec<u8>, Missing> {
        match self {
            ReportFormat::Md => Ok(render_md(input).into_bytes()),
            ReportFormat::Html => Ok(render_html(input).into_bytes()),
            #[cfg(feature = "pdf")]
            ReportFormat::Pdf => Ok(render_pdf(input)),
            #[cfg(not(feature = "pdf"))]
            ReportFormat::Pdf => Err(Missing(Feature::Pdf)),
        }
    }
}

/// The default formats of `scan --report` (comma-separated): every format this build renders.
#[cfg(feature = "pdf")]
pub const DEFAULT_FORMATS: &str = "md,html,pdf";
/// The default formats of `scan --report` (comma-separated): every format this build renders.
#[cfg(not(feature = "pdf"))]
pub const DEFAULT_FORMATS: &str = "md,html";

/// Bounds that keep a report on one printable page: what is past them is counted ("… and N
/// more"), never silently dropped; the verdict document and the case API hold everything.
pub mod bounds {
    /// Evidence events on the timeline (one per finding first, then the earliest others).
    pub const TIMELINE_ROWS: usize = 6;
    /// Case timeline entries (the latest).
    pub const STAGES: usize = 6;
    /// Findings, strongest first.
    pub const FINDINGS: usize = 8;
    /// Techniques per ATT&CK matrix column.
    pub const TECHNIQUES_PER_TACTIC: usize = 4;
    /// Indicators, and sources per indicator.
    pub const INDICATORS: usize = 4;
    pub const SOURCES: usize = 4;
    /// Reasoning sentences, and characters per sentence.
    pub const REASONING: usize = 8;
    pub const REASONING_CHARS: usize = 150;
    /// Recommended next steps.
    pub const NEXT_STEPS: usize = 5;
    /// Characters of an evidence event's detail (its key field values).
    pub const DETAIL_CHARS: usize = 70;
}

/// The ATT&CK tactics in kill-chain order (the columns of the Enterprise matrix).
const TACTIC_ORDER: [&str; 14] = [
    "reconnaissance",
    "resource-development",
    "initial-access",
    "execution",
    "persistence",
    "privilege-escalation",
    "defense-evasion",
    "credential-access",
    "discovery",
    "lateral-movement",
    "collection",
    "command-and-control",
    "exfiltration",
    "impact",
];

/// One indicator seen in the case and what each intelligence source said about it.
#[derive(Debug, Clone, PartialEq)]
pub struct IndicatorView {
    pub value: String,
    /// `ip`, `domain`, `url`, `sha256`, …
    pub kind: String,
    /// The combined opinion (e.g. `malicious`, `suspicious`, `clean`, `unknown`).
    pub verdict: String,
    pub score: Option<f64>,
    pub sources: Vec<SourceOpinion>,
}

/// One source's opinion on an indicator.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceOpinion {
    pub source: String,
    pub verdict: String,
    pub score: Option<f64>,
    /// Free text: detections, tags, first seen, …
    pub detail: String,
}

/// A recommended action, from the runbooks.
#[derive(Debug, Clone, PartialEq)]
pub struct NextStep {
    pub title: String,
    pub detail: String,
    /// What the step is keyed by (technique or tactic ids) or its runbook.
    pub references: Vec<String>,
}

/// One entry of the case's own timeline (stage transitions, analyst actions).
#[derive(Debug, Clone, PartialEq)]
pub struct StageEntry {
    pub time: DateTime<Utc>,
    pub stage: String,
    pub detail: String,
}

/// Everything a report shows: the verdict and the optional sections.
#[derive(Debug, Clone)]
pub struct ReportInput {
    pub verdict: Verdict,
    pub indicators: Vec<IndicatorView>,
    pub next_steps: Vec<NextStep>,
    pub stages: Vec<StageEntry>,
    /// Stored copies of the evidence events (from the case history), when available: the
    /// timeline shows their key fields when the verdict's evidence reference carries none.
    pub events: Vec<Event>,
}

/// Why a verdict document could not be read for a report.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("not a nightwatch.verdict.v1 document: {0}")]
    NotAVerdict(#[source] serde_json::Error),
}

impl ReportInput {
    /// A report of a verdict, with the sections the verdict carries: indicator enrichments
    /// (indicators not yet enriched have none to show), runbook next steps and the case
    /// timeline.
    pub fn new(verdict: Verdict) -> Self {
        let indicators = verdict
            .indicators
            .iter()
            .filter(|i| i.is_profiled() || !i.sources.is_empty())
            .map(|i| IndicatorView {
                value: i.value.clone(),
                kind: i.kind.clone(),
                verdict: i.tier.clone().unwrap_or_else(|| "unknown".to_owned()),
                score: i.score.map(f64::from),
                sources: i
                    .sources
                    .iter()
                    .map(|o| SourceOpinion {
                        source: o.source.clone(),
                        verdict: o.opinion.clone(),
                        score: Some(o.strength),
                        detail: o.detail.clone(),
                    })
                    .collect(),
            })
            .collect();
        let next_steps = verdict
            .next_steps
            .iter()
            .map(|n| NextStep {
                title: n.title.clone(),
                detail: n.action.clone(),
                references: vec![n.runbook.clone()],
            })
            .collect();
        let stages = verdict.timeline.iter().map(stage_entry).collect();
        ReportInput {
            verdict,
            indicators,
            next_steps,
            stages,
            events: Vec::new(),
        }
    }

    /// The report of a case from the history: its latest verdict version, the case's current
    /// timeline (analyst feedback and closing included) and its stored evidence events.
    /// `None` when the history has no verdict for the case.
    pub fn from_history(
        history: &dyn HistoryStore,
        case_id: &str,
    ) -> Result<Option<Self>, HistoryError> {
        let Some(verdict) = history
            .verdicts(case_id)?
            .into_iter()
            .max_by_key(|v| v.version)
        else {
            return Ok(None);
        };
        let mut input = ReportInput::new(verdict).with_events(history.events(case_id)?);
        if let Some(case) = history.case(case_id)? {
            input.stages = case.timeline.iter().map(stage_entry).collect();
        }
        Ok(Some(input))
    }

    /// The same report with the case's stored evidence events.
    pub fn with_events(mut self, events: Vec<Event>) -> Self {
        self.events = events;
        self
    }

    /// Reads a verdict document (e.g. one line of a jsonl output).
    pub fn from_json(doc: &serde_json::Value) -> Result<Self, ReportError> {
        let verdict: Verdict =
            serde_json::from_value(doc.clone()).map_err(ReportError::NotAVerdict)?;
        Ok(ReportInput::new(verdict))
    }
}

/// A case timeline entry as shown; an analyst's entry names the analyst.
fn stage_entry(t: &TimelineEntry) -> StageEntry {
    let detail = if t.actor.is_empty() || t.actor == crate::history::ACTOR {
        t.note.clone()
    } else {
        format!("{}: {}", t.actor, t.note)
    };
    StageEntry {
        time: t.time,
        stage: t.stage.as_str().to_owned(),
        detail,
    }
}

/// One evidence event on the timeline.
#[derive(Debug, Clone, PartialEq)]
pub struct TimelineRow {
    pub time: String,
    pub what: String,
    /// The event's key field values (`Field=value; …`), cut to [`bounds::DETAIL_CHARS`].
    pub detail: String,
    pub event_id: String,
    /// `source#index` (input)
    pub origin: String,
}

/// One column of the case's ATT&CK matrix.
#[derive(Debug, Clone, PartialEq)]
pub struct TacticColumn {
    pub tactic: String,
    /// `T1003.001 LSASS Memory`
    pub techniques: Vec<String>,
}

/// One finding as a table row.
#[derive(Debug, Clone, PartialEq)]
pub struct FindingRow {
    pub kind: String,
    pub title: String,
    pub level: String,
    pub count: u64,
    pub weight: String,
}

/// A bounded list and how many items past the bound were left out.
#[derive(Debug, Clone, PartialEq)]
pub struct Shown<T> {
    pub items: Vec<T>,
    pub more: usize,
}

impl<T> Shown<T> {
    fn first(all: impl IntoIterator<Item = T>, max: usize) -> Self {
        let mut items: Vec<T> = all.into_iter().collect();
        let more = items.len().saturating_sub(max);
        items.truncate(max);
        Shown { items, more }
    }

    /// The first `max - 1` items and the last one (a reasoning chain's conclusion is its last
    /// sentence: it is never the one left out).
    fn first_and_last(all: impl IntoIterator<Item = T>, max: usize) -> Self {
        let mut items: Vec<T> = all.into_iter().collect();
        let more = items.len().saturating_sub(max);
        if more > 0 && max > 0 {
            let last = items.pop();
            items.truncate(max - 1);
            items.extend(last);
        }
        Shown { items, more }
    }

    /// `… and N more <what>.` when something was left out.
    pub fn more_line(&self, what: &str) -> Option<String> {
        (self.more > 0).then(|| format!("… and {} more {what}.", self.more))
    }
}

/// The format-neutral content of a report, in display order, bounded to one page.
#[derive(Debug, Clone)]
pub struct Report<'a> {
    pub input: &'a ReportInput,
    pub title: String,
    /// (label, value) pairs of the summary block.
    pub facts: Vec<(&'static str, String)>,
    /// The latest case timeline entries.
    pub stages: Shown<StageEntry>,
    pub timeline: Shown<TimelineRow>,
    pub matrix: Vec<TacticColumn>,
    pub findings: Shown<FindingRow>,
    pub indicators: Shown<IndicatorView>,
    pub reasoning: Shown<String>,
    pub next_steps: Shown<NextStep>,
    pub footer: String,
}

pub(crate) fn time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// A table cell's time: to the second (`2024-05-14 08:07:11Z`); the verdict has the rest.
pub(crate) fn short_time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%SZ").to_string()
}

/// At most `max` characters of `s`, ending in `…` when cut.
pub fn cut(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_owned();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// Fields shown first in an evidence event's detail, when present.
const KEY_FIELDS: [&str; 14] = [
    "CommandLine",
    "Image",
    "TargetImage",
    "TargetFilename",
    "TargetObject",
    "TaskName",
    "ServiceName",
    "QueryName",
    "DestinationHostname",
    "DestinationIp",
    "DestinationPort",
    "User",
    "TargetUserName",
    "IpAddress",
];

/// The key field values of one evidence event: those the verdict recorded for it, else the
/// key fields of its stored copy.
fn detail(e: &Evidence, events: &BTreeMap<&str, &Event>) -> String {
    let mut pairs: Vec<(String, String)> = Vec::new();
    if e.fields.is_empty() {
        if let Some(ev) = events.get(e.event_id.as_str()) {
            for k in KEY_FIELDS {
                if let Some(v) = ev.fields.get_str(k).filter(|v| !v.is_empty()) {
                    pairs.push((k.to_owned(), v.into_owned()));
                }
            }
        }
    } else {
        let rank = |k: &str| {
            KEY_FIELDS
                .iter()
                .position(|f| *f == k)
                .unwrap_or(KEY_FIELDS.len())
        };
        pairs = e
            .fields
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        pairs.sort_by_key(|(k, _)| rank(k));
    }
    let text: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={v}")).collect();
    cut(&text.join("; "), bounds::DETAIL_CHARS)
}

impl<'a> Report<'a> {
    pub fn new(input: &'a ReportInput) -> Self {
        let v = &input.verdict;
        // The case's entity names it (a host, a user or mailbox, a source address); the host
        // field is shown only when the case is about a known host.
        let title = format!("nightwatch case report: {}", v.entity);
        let events: usize = v.findings.iter().map(|f| f.evidence.len()).sum();
        let facts = vec![
            ("Conclusion", v.conclusion.as_str().to_owned()),
            ("Severity", v.severity.as_str().to_owned()),
            ("Score", format!("{}/100", v.score)),
            (
                "Confidence",
                format!("{:.0}%", (v.confidence * 100.0).clamp(0.0, 100.0)),
            ),
            ("Entity", v.entity.to_string()),
            ("First seen", time(v.first_seen)),
            ("Last seen", time(v.last_seen)),
            (
                "Findings",
                format!("{} ({events} evidence events)", v.findings.len()),
            ),
            ("Case", format!("{} (version {})", v.case_id, v.version)),
        ];
        let mut facts = facts;
        if v.host != crate::verdict::UNKNOWN && v.entity.kind != crate::verdict::EntityKind::Host {
            facts.insert(5, ("Host", v.host.clone()));
        }
        let stored: BTreeMap<&str, &Event> =
            input.events.iter().map(|e| (e.id.as_str(), e)).collect();
        let stage_skip = input.stages.len().saturating_sub(bounds::STAGES);
        let stages = Shown {
            items: input.stages[stage_skip..].to_vec(),
            more: stage_skip,
        };
        let reasoning = Shown::first_and_last(
            v.reasoning.iter().map(|l| cut(l, bounds::REASONING_CHARS)),
            bounds::REASONING,
        );
        let indicators = Shown::first(
            input.indicators.iter().map(|i| {
                let mut i = i.clone();
                i.sources.truncate(bounds::SOURCES);
                i
            }),
            bounds::INDICATORS,
        );
        Report {
            input,
            title,
            facts,
            stages,
            timeline: timeline(v, &stored),
            matrix: matrix(v),
            findings: findings(v),
            indicators,
            reasoning,
            next_steps: Shown::first(input.next_steps.iter().cloned(), bounds::NEXT_STEPS),
            footer: format!(
                "nightwatch {} · verdict {} · generated {}",
                env!("CARGO_PKG_VERSION"),
                v.verdict_id,
                time(v.generated_at)
            ),
        }
    }
}

/// The evidence timeline: the first event of each finding (strongest finding first), then the
/// earliest remaining events, up to [`bounds::TIMELINE_ROWS`], shown oldest first. An event
/// behind several findings is one row.
fn timeline(v: &Verdict, stored: &BTreeMap<&str, &Event>) -> Shown<TimelineRow> {
    let mut order: Vec<&Finding> = v.findings.iter().collect();
    order.sort_by(|a, b| b.weight.total_cmp(&a.weight));
    let mut seen = std::collections::BTreeSet::new();
    let mut all: Vec<(&Finding, &Evidence)> = Vec::new();
    for f in &order {
        for e in &f.evidence {
            if seen.insert(e.event_id.as_str()) {
                all.push((f, e));
            }
        }
    }
    // Chosen: the first unseen event of each finding in weight order, then the earliest.
    let mut chosen: Vec<usize> = Vec::new();
    for f in &order {
        if chosen.len() == bounds::TIMELINE_ROWS {
            break;
        }
        if let Some(i) = all
            .iter()
            .enumerate()
            .filter(|(_, (g, _))| std::ptr::eq(*g, *f))
            .min_by_key(|(_, (_, e))| e.time)
            .map(|(i, _)| i)
        {
            chosen.push(i);
        }
    }
    let mut rest: Vec<usize> = (0..all.len()).filter(|i| !chosen.contains(i)).collect();
    rest.sort_by_key(|&i| (all[i].1.time, all[i].1.event_id.as_str()));
    chosen.extend(rest.into_iter().take(bounds::TIMELINE_ROWS - chosen.len()));
    chosen.sort_by_key(|&i| (all[i].1.time, all[i].1.event_id.as_str()));
    let items = chosen
        .into_iter()
        .map(|i| {
            let (f, e) = all[i];
            TimelineRow {
                time: short_time(e.time),
                what: if f.rule_title.is_empty() {
                    f.summary.clone()
                } else {
                    format!("{} ({})", f.rule_title, f.level.as_str())
                },
                detail: detail(e, stored),
                event_id: e.event_id.clone(),
                origin: format!("{}#{} ({})", e.source, e.index, e.input),
            }
        })
        .collect::<Vec<_>>();
    Shown {
        more: all.len() - items.len(),
        items,
    }
}

/// The findings, strongest first.
fn findings(v: &Verdict) -> Shown<FindingRow> {
    let mut sorted: Vec<&Finding> = v.findings.iter().collect();
    sorted.sort_by(|a, b| b.weight.abs().total_cmp(&a.weight.abs()));
    Shown::first(
        sorted.into_iter().map(|f| FindingRow {
            kind: serde_json::to_value(f.kind)
                .ok()
                .and_then(|k| k.as_str().map(str::to_owned))
                .unwrap_or_default(),
            title: if f.rule_title.is_empty() {
                f.summary.clone()
            } else {
                f.rule_title.clone()
            },
            level: f.level.as_str().to_owned(),
            count: f.count,
            weight: format!("{:+}", f.weight),
        }),
        bounds::FINDINGS,
    )
}

/// The observed tactics as columns in kill-chain order (unknown ones last, by name), each
/// with the observed techniques (at most [`bounds::TECHNIQUES_PER_TACTIC`], then `+N more`).
fn matrix(v: &Verdict) -> Vec<TacticColumn> {
    let mut columns: BTreeMap<(usize, String), Vec<String>> = BTreeMap::new();
    for a in &v.attack {
        for t in &a.tactics {
            let rank = TACTIC_ORDER
                .iter()
                .position(|o| *o == t.as_str())
                .unwrap_or(TACTIC_ORDER.len());
            let name = attack::tactic(t)
                .map(|x| x.name.to_owned())
                .unwrap_or_else(|| t.clone());
            let cell = format!("{} {}", a.technique_id, a.technique);
            let col = columns.entry((rank, name)).or_default();
            if !col.contains(&cell) {
                col.push(cell);
            }
        }
    }
    columns
        .into_iter()
        .map(|((_, tactic), mut techniques)| {
            let more = techniques
                .len()
                .saturating_sub(bounds::TECHNIQUES_PER_TACTIC);
            if more > 0 {
                techniques.truncate(bounds::TECHNIQUES_PER_TACTIC);
                techniques.push(format!("+{more} more"));
            }
            TacticColumn { tactic, techniques }
        })
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
pub(crate) mod tests;
