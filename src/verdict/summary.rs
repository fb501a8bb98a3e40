//! The advisory LLM summary of a case as the verdict carries it (`summary` of
//! `nightwatch.verdict.v1`) and case history stores it: [`Summary`] and its parts. The
//! [`crate::llm`] worker produces and validates it; the verdict, the case builder and history
//! only carry it, so they do not depend on the LLM module.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The model's advisory summary of a case, after validation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// The case version the request was made for.
    pub case_version: u32,
    pub executive_summary: String,
    pub hypotheses: Vec<Hypothesis>,
    pub suggested_next_queries: Vec<NextQuery>,
    pub model: String,
    pub generated_at: DateTime<Utc>,
    pub tokens: TokenUsage,
}

/// A plausible explanation and the case evidence (event or finding ids) it rests on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hypothesis {
    pub text: String,
    pub evidence_ids: Vec<String>,
}

/// A suggested pivot over the daemon's own read-only history API. Suggested only: nightwatch
/// never executes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NextQuery {
    #[serde(flatten)]
    pub pivot: Pivot,
    /// The HTTP request the pivot stands for, e.g. `GET /api/hosts/ws-1`.
    pub request: String,
    pub rationale: String,
}

/// Tokens a request used, as the provider reported them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenUsage {
    pub prompt: u64,
    pub completion: u64,
    pub total: u64,
}

/// Longest time window a `time_window` pivot may span.
pub const MAX_WINDOW_DAYS: i64 = 7;
/// A read-only pivot over the daemon's history API: the only queries a summary may suggest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Pivot {
    /// `GET /api/hosts/{host}`: the host's cases and history.
    Host { host: String },
    /// `GET /api/cases?user={user}`: cases involving the user.
    User { user: String },
    /// `GET /api/indicators/{indicator}`: an IP, domain or hash across cases.
    Indicator { indicator: String },
    /// `GET /api/cases?host={host}&since={since}&until={until}`: at most 7 days.
    TimeWindow {
        host: String,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
    },
}

impl Pivot {
    /// The HTTP request this pivot stands for (path and query percent-encoded).
    pub fn request(&self) -> String {
        let Ok(mut u) = reqwest::Url::parse("http://nightwatch.invalid/") else {
            return String::new();
        };
        match self {
            Pivot::Host { host } => set_path(&mut u, &["api", "hosts", host]),
            Pivot::Indicator { indicator } => set_path(&mut u, &["api", "indicators", indicator]),
            Pivot::User { user } => {
                set_path(&mut u, &["api", "cases"]);
                u.query_pairs_mut().append_pair("user", user);
            }
            Pivot::TimeWindow { host, since, until } => {
                set_path(&mut u, &["api", "cases"]);
                u.query_pairs_mut()
                    .append_pair("host", host)
                    .append_pair("since", &since.to_rfc3339())
                    .append_pair("until", &until.to_rfc3339());
            }
        }
        match u.query() {
            Some(q) => format!("GET {}?{q}", u.path()),
            None => format!("GET {}", u.path()),
        }
    }
}

fn set_path(u: &mut reqwest::Url, segments: &[&str]) {
    if let Ok(mut p) = u.path_segments_mut() {
        p.clear().extend(segments);
    }
}
