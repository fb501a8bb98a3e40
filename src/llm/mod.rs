//! LLM case summaries: advisory, asynchronous, grounded, never on the hot path.
//!
//! After a verdict is published the glue hands a [`CaseDigest`] to [`SummaryWorker::submit`],
//! which never blocks: a bounded priority queue (higher severity first; when full, the lowest
//! severity is skipped and counted) feeds a worker that asks Gemini or an OpenAI-compatible
//! server for structured JSON within concurrency, requests-per-minute and tokens-per-day
//! budgets. The answer is validated ([`guard`]): hypotheses must cite evidence of the case,
//! suggested next queries must be one of the daemon's own read-only history pivots
//! ([`Pivot`]) with valid arguments; anything else is dropped and counted, and nothing the
//! model says is ever executed. A [`Summary`] comes out on the worker's channel, to be
//! attached to the case as a new verdict version.
//!
//! What is sent ([`prompt`]): the findings and a bounded, truncated selection of evidence
//! fields, secrets redacted ([`redact`]), event content delimited as untrusted data. Answers
//! are cached in the embedded store (tree `llm_cache`) by a hash of the exact request, so an
//! unchanged case is not asked about twice.
//!
//! Without an API key (Gemini) or an endpoint (OpenAI-compatible) the feature is off:
//! [`start`] logs that once and returns `None`.
//!
//! The worker, its prompt, redaction and provider exchanges need the `llm` cargo feature. The
//! summary types, the `[llm]` section and its validation are in every build (verdicts and the
//! history carry summaries); a build without the feature refuses a configuration that turns
//! summaries on ([`crate::preflight`]).

#[cfg(feature = "llm")]
mod backend;
// Without the worker only `Pivot` (part of every summary) is used; the answer checks are not.
#[cfg_attr(not(feature = "llm"), allow(dead_code))]
mod guard;
#[cfg(feature = "llm")]
mod prompt;
#[cfg(feature = "llm")]
mod redact;
mod settings;
#[cfg(feature = "llm")]
pub(crate) mod worker;

use std::collections::HashMap;
#[cfg(feature = "llm")]
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::Value;

#[cfg(feature = "llm")]
use crate::verdict::summary::TokenUsage;
use crate::verdict::summary::{Hypothesis, MAX_WINDOW_DAYS, NextQuery, Pivot, Summary};
#[cfg(feature = "llm")]
pub use redact::{REDACTED, Redactor};
pub use settings::{
    Backend, ENV_API_KEY, ENV_ENDPOINT, ENV_MODEL, GEMINI_ENDPOINT, LlmConfig, PromptLimits,
    Settings, problems, resolve,
};
#[cfg(feature = "llm")]
pub use worker::{CACHE_TREE, SummaryWorker};

use crate::event::Event;
#[cfg(feature = "llm")]
use crate::metrics::Metrics;
#[cfg(feature = "llm")]
use crate::store::{Store, StoreError};
use crate::verdict::{Severity, Verdict};

/// What the summary worker knows of a case: the verdict's findings and their evidence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CaseDigest {
    pub case_id: String,
    /// The verdict version this digest was taken from.
    pub version: u32,
    pub severity: Severity,
    /// `incident`, `suspicious`, `benign` or `needs_review`.
    pub conclusion: String,
    pub score: u8,
    pub findings: Vec<DigestFinding>,
    pub evidence: Vec<DigestEvidence>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DigestFinding {
    /// `f1`, `f2`, … in the verdict's order.
    pub id: String,
    /// The finding kind (`rule_match`, `correlation`, …).
    pub kind: String,
    pub summary: String,
    /// Ids of the events it rests on (entries of [`CaseDigest::evidence`]).
    pub evidence_ids: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DigestEvidence {
    /// The event id.
    pub id: String,
    /// Field name and value, in the event's order (nested objects flattened with dots).
    pub fields: Vec<(String, String)>,
}

/// Where the worker delivers `(case_id, summary)`.
pub type Summaries = tokio::sync::mpsc::Receiver<(String, Summary)>;

/// Why the summary worker could not start.
#[cfg(feature = "llm")]
#[derive(Debug, thiserror::Error)]
pub enum LlmError {
    #[error("llm cache: {0}")]
    Store(#[from] StoreError),
    #[error("llm endpoint {endpoint}: {message}")]
    Endpoint { endpoint: String, message: String },
    #[error("llm http client: {0}")]
    Client(String),
}

/// Most fields taken from one event into a digest (the prompt bounds them further).
const MAX_DIGEST_FIELDS: usize = 64;

/// The digest of a verdict: its findings (ids `f1`…) with their evidence event ids, and for
/// each evidence event its fields when `events` has it (else what the verdict says about it:
/// time, input, source).
pub fn digest_from_verdict<'a>(
    verdict: &Verdict,
    events: impl IntoIterator<Item = &'a Event>,
) -> CaseDigest {
    let events: HashMap<&str, &Event> = events.into_iter().map(|e| (e.id.as_str(), e)).collect();
    let mut findings = Vec::with_capacity(verdict.findings.len());
    let mut evidence: Vec<DigestEvidence> = Vec::new();
    for (i, f) in verdict.findings.iter().enumerate() {
        let kind = serde_json::to_value(f.kind)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        for e in &f.evidence {
            if evidence.iter().any(|d| d.id == e.event_id) {
                continue;
            }
            let fields = match events.get(e.event_id.as_str()) {
                Some(ev) => event_fields(ev),
                None => vec![
                    ("time".to_owned(), e.time.to_rfc3339()),
                    ("input".to_owned(), e.input.clone()),
                    ("source".to_owned(), e.source.clone()),
                ],
            };
            evidence.push(DigestEvidence {
                id: e.event_id.clone(),
                fields,
            });
        }
        findings.push(DigestFinding {
            id: format!("f{}", i + 1),
            kind,
            summary: format!(
                "{} [rule {} \"{}\", level {}, count {}]",
                f.summary,
                f.rule_id,
                f.rule_title,
                f.level.as_str(),
                f.count
            ),
            evidence_ids: f.evidence.iter().map(|e| e.event_id.clone()).collect(),
        });
    }
    CaseDigest {
        case_id: verdict.case_id.clone(),
        version: verdict.version,
        severity: verdict.severity,
        conclusion: verdict.conclusion.as_str().to_owned(),
        score: verdict.score,
        findings,
        evidence,
    }
}

/// An event's time, host and fields as flat (name, value) pairs.
fn event_fields(ev: &Event) -> Vec<(String, String)> {
    let mut out = vec![("time".to_owned(), ev.time.to_rfc3339())];
    if let Some(h) = &ev.host {
        out.push(("host".to_owned(), h.clone()));
    }
    for (k, v) in ev.fields.as_map() {
        flatten(k, v, &mut out);
    }
    out.truncate(MAX_DIGEST_FIELDS);
    out
}

fn flatten(key: &str, value: &Value, out: &mut Vec<(String, String)>) {
    if out.len() >= MAX_DIGEST_FIELDS {
        return;
    }
    match value {
        Value::Null => {}
        Value::String(s) => out.push((key.to_owned(), s.clone())),
        Value::Object(m) => {
            for (k, v) in m {
                flatten(&format!("{key}.{k}"), v, out);
            }
        }
        Value::Array(_) | Value::Bool(_) | Value::Number(_) => {
            out.push((key.to_owned(), value.to_string()))
        }
    }
}

/// Starts the summary worker when `[llm]` and the process environment make it usable;
/// otherwise says once that the feature is off and returns `None`.
#[cfg(feature = "llm")]
pub fn start(
    cfg: &LlmConfig,
    store: &Store,
    metrics: Arc<Metrics>,
) -> Result<Option<(SummaryWorker, Summaries)>, LlmError> {
    match resolve(cfg, |var| std::env::var(var).ok()) {
        None => {
            tracing::info!(
                backend = cfg.backend.name(),
                "llm summaries off: no api key (LLM_API_KEY) or endpoint configured"
            );
            Ok(None)
        }
        Some(settings) => {
            tracing::info!(
                backend = settings.backend.name(),
                model = %settings.model,
                endpoint = %crate::base::redact_url(&settings.endpoint),
                "llm summaries on"
            );
            SummaryWorker::start(settings, store, metrics).map(Some)
        }
    }
}

#[cfg(all(test, feature = "llm"))]
mod tests;
