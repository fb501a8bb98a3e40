//! Printable case reports: one verdict rendered as Markdown ([`render_md`]), a self-contained
//! single-page HTML document ([`render_html`]) or a PDF ([`render_pdf`]).
//!
//! A [`ReportInput`] is the verdict plus the sections newer verdicts and the case history
//! carry (indicator enrichments with per-source opinions, next steps, case stages); each such
//! section is rendered when present and left out when empty. [`ReportInput::from_json`] reads
//! them from a verdict document when it has them. All three renderers draw from the same
//! [`Report`] view so they show the same facts; every string that can come from an event
//! (host, rule titles, sources, indicator values) is escaped by the renderer for its format.

pub mod html;
pub mod md;
pub mod pdf;

use std::collections::BTreeMap;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Deserialize;

pub use html::render_html;
pub use md::render_md;
pub use pdf::render_pdf;

use crate::attack;
use crate::verdict::Verdict;

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

    pub fn render(self, input: &ReportInput) -> Vec<u8> {
        match self {
            ReportFormat::Md => render_md(input).into_bytes(),
            ReportFormat::Html => render_html(input).into_bytes(),
            ReportFormat::Pdf => render_pdf(input),
        }
    }
}

/// Evidence rows shown in the timeline; the rest are counted.
pub const MAX_TIMELINE_ROWS: usize = 20;

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
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct IndicatorView {
    pub value: String,
    /// `ip`, `domain`, `url`, `sha256`, …
    #[serde(default, alias = "type")]
    pub kind: String,
    /// The combined opinion (e.g. `malicious`, `suspicious`, `clean`, `unknown`).
    #[serde(default, alias = "opinion")]
    pub verdict: String,
    #[serde(default)]
    pub score: Option<f64>,
    #[serde(default, alias = "opinions")]
    pub sources: Vec<SourceOpinion>,
}

/// One source's opinion on an indicator.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct SourceOpinion {
    #[serde(alias = "name")]
    pub source: String,
    #[serde(default, alias = "opinion")]
    pub verdict: String,
    #[serde(default)]
    pub score: Option<f64>,
    /// Free text: detections, tags, first seen, …
    #[serde(default, alias = "summary")]
    pub detail: String,
}

/// A recommended action, from the runbooks.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct NextStep {
    #[serde(alias = "action", alias = "step")]
    pub title: String,
    #[serde(default, alias = "description")]
    pub detail: String,
    /// What the step is keyed by (technique or tactic ids) or its runbook.
    #[serde(default, alias = "refs", alias = "techniques")]
    pub references: Vec<String>,
}

/// One entry of the case's own timeline (stage transitions, analyst actions).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct StageEntry {
    pub time: DateTime<Utc>,
    #[serde(alias = "to", alias = "event")]
    pub stage: String,
    #[serde(default, alias = "note", alias = "reason")]
    pub detail: String,
}

/// Everything a report shows: the verdict and the optional sections.
#[derive(Debug, Clone)]
pub struct ReportInput {
    pub verdict: Verdict,
    pub indicators: Vec<IndicatorView>,
    pub next_steps: Vec<NextStep>,
    pub stages: Vec<StageEntry>,
}

/// Why a verdict document could not be read for a report.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("not a nightwatch.verdict.v1 document: {0}")]
    NotAVerdict(#[source] serde_json::Error),
}

impl ReportInput {
    /// A report of a verdict, with the sections the verdict carries: indicator enrichments,
    /// runbook next steps and the case timeline.
    pub fn new(verdict: Verdict) -> Self {
        let indicators = verdict
            .indicators
            .iter()
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
        let stages = verdict
            .timeline
            .iter()
            .map(|t| StageEntry {
                time: t.time,
                stage: t.stage.as_str().to_owned(),
                detail: t.note.clone(),
            })
            .collect();
        ReportInput {
            verdict,
            indicators,
            next_steps,
            stages,
        }
    }

    /// Reads a verdict document (e.g. one line of a jsonl output).
    pub fn from_json(doc: &serde_json::Value) -> Result<Self, ReportError> {
        let verdict: Verdict =
            serde_json::from_value(doc.clone()).map_err(ReportError::NotAVerdict)?;
        Ok(ReportInput::new(verdict))
    }
}

/// One evidence event on the timeline.
#[derive(Debug, Clone, PartialEq)]
pub struct TimelineRow {
    pub time: String,
    pub what: String,
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

/// The format-neutral content of a report, in display order.
#[derive(Debug, Clone)]
pub struct Report<'a> {
    pub input: &'a ReportInput,
    pub title: String,
    /// (label, value) pairs of the summary block.
    pub facts: Vec<(&'static str, String)>,
    pub timeline: Vec<TimelineRow>,
    /// Evidence events not shown in the timeline.
    pub timeline_more: usize,
    pub matrix: Vec<TacticColumn>,
    pub findings: Vec<FindingRow>,
    pub footer: String,
}

pub(crate) fn time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

impl<'a> Report<'a> {
    pub fn new(input: &'a ReportInput) -> Self {
        let v = &input.verdict;
        let title = format!("nightwatch case report: {}", v.host);
        let events: usize = v.findings.iter().map(|f| f.evidence.len()).sum();
        let facts = vec![
            ("Conclusion", v.conclusion.as_str().to_owned()),
            ("Severity", v.severity.as_str().to_owned()),
            ("Score", format!("{}/100", v.score)),
            (
                "Confidence",
                format!("{:.0}%", (v.confidence * 100.0).clamp(0.0, 100.0)),
            ),
            ("Host", v.host.clone()),
            ("First seen", time(v.first_seen)),
            ("Last seen", time(v.last_seen)),
            (
                "Findings",
                format!("{} ({events} evidence events)", v.findings.len()),
            ),
            ("Case", format!("{} (version {})", v.case_id, v.version)),
        ];
        let mut timeline: Vec<(DateTime<Utc>, TimelineRow)> = v
            .findings
            .iter()
            .flat_map(|f| {
                let what = if f.rule_title.is_empty() {
                    f.summary.clone()
                } else {
                    format!("{} ({})", f.rule_title, f.level.as_str())
                };
                f.evidence.iter().map(move |e| {
                    (
                        e.time,
                        TimelineRow {
                            time: time(e.time),
                            what: what.clone(),
                            event_id: e.event_id.clone(),
                            origin: format!("{}#{} ({})", e.source, e.index, e.input),
                        },
                    )
                })
            })
            .collect();
        timeline.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.event_id.cmp(&b.1.event_id)));
        let timeline_more = timeline.len().saturating_sub(MAX_TIMELINE_ROWS);
        let timeline = timeline
            .into_iter()
            .take(MAX_TIMELINE_ROWS)
            .map(|(_, r)| r)
            .collect();
        let findings = v
            .findings
            .iter()
            .map(|f| FindingRow {
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
            })
            .collect();
        Report {
            input,
            title,
            facts,
            timeline,
            timeline_more,
            matrix: matrix(v),
            findings,
            footer: format!(
                "nightwatch {} · verdict {} · generated {}",
                env!("CARGO_PKG_VERSION"),
                v.verdict_id,
                time(v.generated_at)
            ),
        }
    }
}

/// The observed tactics as columns in kill-chain order (unknown ones last, by name), each
/// with the observed techniques.
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
        .map(|((_, tactic), techniques)| TacticColumn { tactic, techniques })
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
pub(crate) mod tests {
    use super::*;
    use crate::outputs::thehive::tests::sample;

    /// The sample verdict with every optional section filled and hostile strings in every
    /// event-derived field.
    pub(crate) fn full_input() -> ReportInput {
        let mut v = sample("41aa", 2);
        v.findings[0].rule_title = "LSASS <script>alert(1)</script> Access".into();
        v.findings[0].evidence[0].source = "logs/<img src=x onerror=alert(2)>.jsonl".into();
        // The optional sections in the verdict's own shapes (as `CaseBook` fills them).
        let doc = serde_json::json!({
            "indicators": [{
                "value": "203.0.113.7\"><script>x</script>",
                "kind": "ip",
                "tier": "malicious",
                "score": 92,
                "sources": [
                    {"source": "offline-feed", "opinion": "malicious", "strength": 1.0,
                     "detail": "feodo c2", "link": null, "observed_at": "2026-11-02T09:14:10Z"},
                    {"source": "virustotal", "opinion": "malicious", "strength": 0.87,
                     "detail": "61/94 engines", "link": null, "observed_at": "2026-11-02T09:14:10Z"},
                    {"source": "abuseipdb", "opinion": "suspicious", "strength": 0.74,
                     "detail": "", "link": null, "observed_at": "2026-11-02T09:14:10Z"}
                ]
            }],
            "next_steps": [
                {"runbook": "T1003.001", "title": "Isolate the host",
                 "action": "cut network access of the workstation"},
                {"runbook": "credential-access", "title": "Reset credentials cached on the host",
                 "action": ""}
            ],
            "timeline": [
                {"time": "2026-11-02T09:14:10Z", "stage": "triage", "actor": "nightwatch", "note": ""},
                {"time": "2026-11-02T09:15:00Z", "stage": "investigate", "actor": "nightwatch",
                 "note": "second rule"}
            ]
        });
        let mut merged = serde_json::to_value(&v).unwrap();
        for (k, val) in doc.as_object().unwrap() {
            merged[k] = val.clone();
        }
        ReportInput::from_json(&merged).unwrap()
    }

    #[test]
    fn optional_sections_are_read_from_the_verdict_document() {
        let input = full_input();
        assert_eq!(input.indicators[0].sources.len(), 3);
        assert_eq!(input.indicators[0].kind, "ip");
        assert_eq!(input.next_steps[1].references, vec!["credential-access"]);
        assert_eq!(input.stages[1].stage, "investigate");
        let mut bare = sample("c", 1);
        bare.next_steps.clear();
        let plain = serde_json::to_value(bare).unwrap();
        let input = ReportInput::from_json(&plain).unwrap();
        assert!(input.indicators.is_empty() && input.next_steps.is_empty());
    }

    #[test]
    fn broken_documents_are_errors_not_panics() {
        assert!(matches!(
            ReportInput::from_json(&serde_json::json!({"schema": "x"})),
            Err(ReportError::NotAVerdict(_))
        ));
        let mut v = serde_json::to_value(sample("c", 1)).unwrap();
        v["indicators"] = serde_json::json!([{"no_value": 1}]);
        assert!(matches!(
            ReportInput::from_json(&v),
            Err(ReportError::NotAVerdict(_))
        ));
    }

    #[test]
    fn matrix_columns_follow_the_kill_chain() {
        let input = ReportInput::new(sample("c", 1));
        let r = Report::new(&input);
        let tactics: Vec<&str> = r.matrix.iter().map(|c| c.tactic.as_str()).collect();
        assert_eq!(tactics, vec!["Execution", "Credential Access"]);
        assert_eq!(r.matrix[1].techniques, vec!["T1003.001 LSASS Memory"]);
        assert_eq!(r.timeline.len(), 2);
        assert_eq!(r.timeline_more, 0);
    }
}
