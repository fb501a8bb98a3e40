//! The case API: list and inspect cases, their printable reports, give feedback, close, and
//! look up hosts and ATT&CK techniques. All JSON but the reports; errors are `{code, message}`
//! ([`super::error`]). Every route sits behind [`super::guard`] (host, origin, token, content
//! type, change rate). Every analyst state change is appended to the audit log — the fields it
//! changed, the actor and the caller — before the answer is sent. Notes are at most
//! [`MAX_NOTE_BYTES`].

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::json;

use super::AppState;
use super::error::{ApiBody, ApiError, ApiPath, ApiQuery};
use super::guard::{Auth, Caller};
use crate::history::audit::{AuditEntry, diff};
use crate::history::{CaseFilter, CaseRecord, Disposition, Feedback, HistoryError, HistoryStore};
use crate::report::{ReportFormat, ReportInput};
use crate::verdict::{Conclusion, EntityKind, EntityRef, Severity};

/// Largest accepted feedback or close note, in bytes (UTF-8); longer is `400 note_too_long`.
pub const MAX_NOTE_BYTES: usize = 4096;

impl From<HistoryError> for ApiError {
    fn from(e: HistoryError) -> Self {
        match e {
            HistoryError::NoCase(id) => ApiError::not_found(format!("no case {id}")),
            HistoryError::Cursor(c) => ApiError::bad(format!("bad cursor `{c}`")),
            e => {
                tracing::error!(error = %e, "case history read failed");
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "history_error",
                    "the case history could not be read",
                )
            }
        }
    }
}

type ApiResult = Result<Response, ApiError>;

/// The case routes (guarded and body-limited by [`super::router`]).
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/cases", get(list))
        .route("/api/cases/{id}", get(show))
        .route("/api/cases/{id}/feedback", post(feedback))
        .route("/api/cases/{id}/close", post(close))
        .route(
            "/api/cases/{id}/report.md",
            get(|s: State<AppState>, p: ApiPath<String>| report(s, p, ReportFormat::Md)),
        )
        .route(
            "/api/cases/{id}/report.html",
            get(|s: State<AppState>, p: ApiPath<String>| report(s, p, ReportFormat::Html)),
        )
        .route(
            "/api/cases/{id}/report.pdf",
            get(|s: State<AppState>, p: ApiPath<String>| report(s, p, ReportFormat::Pdf)),
        )
        .route("/api/hosts/{name}", get(host))
        .route("/api/attack/techniques/{id}", get(technique))
}

fn history(state: &AppState) -> Result<Arc<dyn HistoryStore>, ApiError> {
    state.history.clone().ok_or_else(|| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "no_history",
            "this server keeps no case history",
        )
    })
}

#[derive(Debug, Deserialize)]
struct ListQuery {
    conclusion: Option<String>,
    severity: Option<String>,
    host: Option<String>,
    user: Option<String>,
    since: Option<String>,
    until: Option<String>,
    limit: Option<usize>,
    cursor: Option<String>,
}

/// An optional RFC 3339 query parameter.
fn time_param(name: &str, value: Option<&str>) -> Result<Option<DateTime<Utc>>, ApiError> {
    match value.filter(|s| !s.is_empty()) {
        Some(s) => Ok(Some(
            DateTime::parse_from_rfc3339(s)
                .map_err(|e| ApiError::bad(format!("{name} `{s}`: not RFC 3339: {e}")))?
                .with_timezone(&Utc),
        )),
        None => Ok(None),
    }
}

async fn list(State(state): State<AppState>, ApiQuery(q): ApiQuery<ListQuery>) -> ApiResult {
    let h = history(&state)?;
    let conclusion = match q.conclusion.as_deref().filter(|s| !s.is_empty()) {
        Some(c) => Some(Conclusion::parse(c).ok_or_else(|| {
            ApiError::bad(format!(
                "conclusion `{c}`: expected incident, suspicious, benign or needs_review"
            ))
        })?),
        None => None,
    };
    let severity = match q.severity.as_deref().filter(|s| !s.is_empty()) {
        Some(s) => Some(Severity::parse(s).ok_or_else(|| {
            ApiError::bad(format!(
                "severity `{s}`: expected critical, high, medium, low or informational"
            ))
        })?),
        None => None,
    };
    let since = time_param("since", q.since.as_deref())?;
    let until = time_param("until", q.until.as_deref())?;
    if let (Some(s), Some(u)) = (since, until)
        && u < s
    {
        return Err(ApiError::bad("until is before since"));
    }
    let filter = CaseFilter {
        conclusion,
        severity,
        host: q.host.filter(|s| !s.is_empty()),
        user: q.user.filter(|s| !s.is_empty()),
        since,
        until,
        limit: q.limit.unwrap_or(0),
        cursor: q.cursor.filter(|s| !s.is_empty()),
    };
    let page = tokio::task::spawn_blocking(move || h.list(&filter))
        .await
        .map_err(|e| ApiError::internal(e.to_string()))??;
    Ok(axum::Json(page).into_response())
}

/// `GET /api/cases/{id}/report.{md,html,pdf}`: the printable report of the case's latest
/// verdict version, its current case timeline and its stored evidence events.
async fn report(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    format: ReportFormat,
) -> ApiResult {
    let h = history(&state)?;
    let lookup = id.clone();
    let input = tokio::task::spawn_blocking(move || ReportInput::from_history(&*h, &lookup))
        .await
        .map_err(|e| ApiError::internal(e.to_string()))??
        .ok_or_else(|| ApiError::not_found(format!("no case {id}")))?;
    let body = format.render(&input).map_err(|e| {
        ApiError::new(
            StatusCode::NOT_IMPLEMENTED,
            "not_implemented",
            e.to_string(),
        )
    })?;
    Ok(([(header::CONTENT_TYPE, format.content_type())], body).into_response())
}

async fn show(State(state): State<AppState>, ApiPath(id): ApiPath<String>) -> ApiResult {
    let h = history(&state)?;
    let case = h
        .case(&id)?
        .ok_or_else(|| ApiError::not_found(format!("no case {id}")))?;
    let verdicts = h.verdicts(&id)?;
    let versions: Vec<_> = verdicts
        .iter()
        .map(|v| {
            json!({"version": v.version, "verdict_id": v.verdict_id, "generated_at": v.generated_at,
                   "score": v.score, "conclusion": v.conclusion, "severity": v.severity})
        })
        .collect();
    let latest = verdicts.last();
    Ok(axum::Json(json!({
        "case": case,
        "verdict": latest,
        "findings": latest.map(|v| v.findings.clone()).unwrap_or_default(),
        "unclassified": latest.map(|v| v.unclassified.clone()).unwrap_or_default(),
        "timeline": case.timeline,
        "versions": versions,
        "events": h.events(&id)?,
    }))
    .into_response())
}

#[derive(Debug, Deserialize)]
struct FeedbackBody {
    disposition: String,
    #[serde(default)]
    note: String,
    /// Who gives the feedback (also taken from the `X-Analyst` header).
    #[serde(default)]
    analyst: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct CloseBody {
    #[serde(default)]
    note: String,
    #[serde(default)]
    analyst: Option<String>,
}

fn analyst(headers: &axum::http::HeaderMap, body: Option<String>) -> String {
    body.filter(|s| !s.trim().is_empty())
        .or_else(|| {
            headers
                .get("x-analyst")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        })
        .map(|s| s.chars().take(100).collect())
        .unwrap_or_else(|| "api".to_owned())
}

fn parse_json<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| ApiError::bad(format!("request body: {e}")))
}

/// A note within [`MAX_NOTE_BYTES`].
fn note(text: String) -> Result<String, ApiError> {
    if text.len() > MAX_NOTE_BYTES {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "note_too_long",
            format!(
                "note is {} bytes: at most {MAX_NOTE_BYTES} are accepted",
                text.len()
            ),
        ));
    }
    Ok(text)
}

/// One analyst change: applied to the history and flushed, then audited (the changed fields,
/// the actor and the caller), off the async runtime. Refused when it could not be audited.
struct Change {
    action: &'static str,
    case_id: String,
    actor: String,
    detail: String,
    caller: Option<Caller>,
}

impl Change {
    async fn apply(
        self,
        state: &AppState,
        f: impl FnOnce(&dyn HistoryStore) -> Result<(CaseRecord, CaseRecord), HistoryError>
        + Send
        + 'static,
    ) -> ApiResult {
        let h = history(state)?;
        let Some(log) = state.audit.clone() else {
            return Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "no_audit_log",
                "the audit log is unavailable, so analyst changes are refused",
            ));
        };
        tokio::task::spawn_blocking(move || {
            let (before, after) = f(&*h)?;
            h.flush()?;
            let audit_failed = |e: &dyn std::fmt::Display| {
                tracing::error!(error = %e, "audit log write failed");
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "audit_error",
                    "the change was made but could not be written to the audit log",
                )
            };
            let changes = diff(&before, &after).map_err(|e| audit_failed(&e))?;
            log.append(&AuditEntry {
                time: Utc::now(),
                actor: &self.actor,
                action: self.action,
                case_id: &self.case_id,
                detail: &self.detail,
                auth: self.caller.map(|c| match c.auth {
                    Auth::Open => "open",
                    Auth::Token => "token",
                }),
                peer: self.caller.and_then(|c| c.peer).map(|p| p.to_string()),
                changes,
            })
            .map_err(|e| audit_failed(&e))?;
            Ok(axum::Json(json!({"case": after})).into_response())
        })
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?
    }
}

async fn feedback(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    caller: Option<axum::Extension<Caller>>,
    headers: axum::http::HeaderMap,
    ApiBody(body): ApiBody,
) -> ApiResult {
    let body: FeedbackBody = parse_json(&body)?;
    let disposition = match body.disposition.as_str() {
        "true_positive" => Disposition::TruePositive,
        "false_positive" => Disposition::FalsePositive,
        "benign" => Disposition::Benign,
        other => {
            return Err(ApiError::bad(format!(
                "disposition `{other}`: expected true_positive, false_positive or benign"
            )));
        }
    };
    let who = analyst(&headers, body.analyst);
    let fb = Feedback {
        case_id: id.clone(),
        disposition,
        note: note(body.note)?,
        analyst: who.clone(),
        at: Utc::now(),
    };
    let change = Change {
        action: "feedback",
        case_id: id,
        actor: who,
        detail: disposition.as_str().to_owned(),
        caller: caller.map(|c| c.0),
    };
    change.apply(&state, move |h| h.add_feedback(&fb)).await
}

async fn close(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    caller: Option<axum::Extension<Caller>>,
    headers: axum::http::HeaderMap,
    ApiBody(body): ApiBody,
) -> ApiResult {
    let body: CloseBody = if body.iter().all(u8::is_ascii_whitespace) {
        CloseBody::default()
    } else {
        parse_json(&body)?
    };
    let who = analyst(&headers, body.analyst);
    let reason = match note(body.note)? {
        n if n.is_empty() => "closed by analyst".to_owned(),
        n => n,
    };
    let change = Change {
        action: "close",
        case_id: id.clone(),
        actor: who.clone(),
        detail: reason.clone(),
        caller: caller.map(|c| c.0),
    };
    change
        .apply(&state, move |h| h.close(&id, &who, &reason, Utc::now()))
        .await
}

async fn host(State(state): State<AppState>, ApiPath(name): ApiPath<String>) -> ApiResult {
    let h = history(&state)?;
    let entity = EntityRef::new(EntityKind::Host, name.clone());
    let mut cases = Vec::new();
    for id in h.cases_for_entity(&entity)? {
        if let Some(r) = h.case(&id)? {
            cases.push(r);
        }
    }
    if cases.is_empty() {
        return Err(ApiError::not_found(format!("no case involves host {name}")));
    }
    cases.sort_by_key(|c| std::cmp::Reverse(c.last_seen));
    let compromised = cases.iter().any(|c| c.is_compromise());
    let open = cases
        .iter()
        .filter(|c| c.status == crate::history::CaseStatus::Open)
        .count();
    Ok(axum::Json(json!({
        "host": name,
        "compromised_before": compromised,
        "open_cases": open,
        "cases": cases,
    }))
    .into_response())
}

async fn technique(State(state): State<AppState>, ApiPath(id): ApiPath<String>) -> ApiResult {
    let t = crate::attack::technique(&id)
        .ok_or_else(|| ApiError::not_found(format!("no ATT&CK technique {id}")))?;
    let tactics: Vec<_> = t
        .tactics
        .iter()
        .filter_map(|s| crate::attack::tactic(s))
        .collect();
    let steps = state.policy.runbooks.next_steps(&[t.id], &t.tactics);
    Ok(axum::Json(json!({
        "id": t.id,
        "name": t.name,
        "tactics": tactics,
        "next_steps": steps,
    }))
    .into_response())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use tokio_util::sync::CancellationToken;

    /// The real router on 127.0.0.1:0 over a temporary history holding `c1` (host `ws-7`,
    /// user `CORP\\j.doe`, indicator 203.0.113.7) and `c2` (host `srv-2`, user `CORP\\m.roe`),
    /// with intel on (offline feeds only; documentation addresses count as external).
    async fn serve() -> (std::net::SocketAddr, CancellationToken) {
        use crate::history::sled_store::tests::record;
        let store = crate::store::Store::temporary().unwrap();
        let h = crate::history::SledHistory::open(&store).unwrap();
        let (c1, v1) = record("c1", "ws-7", 10, Conclusion::Incident);
        h.record(&c1, &v1, &[]).unwrap();
        let (mut c2, v2) = record("c2", "srv-2", 600, Conclusion::Suspicious);
        c2.entities = vec![
            EntityRef::new(EntityKind::Host, "srv-2"),
            EntityRef::new(EntityKind::User, "CORP\\m.roe"),
        ];
        c2.indicators.clear();
        c2.first_seen = c2.last_seen;
        h.record(&c2, &v2, &[]).unwrap();
        let metrics = Arc::new(crate::metrics::Metrics::new().unwrap());
        let mut intel = crate::config::load(None).unwrap().intel;
        intel.documentation_as_internal = false;
        let running = crate::intel::start(&intel, None, metrics.clone()).unwrap();
        let stop = CancellationToken::new();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let api = crate::config::Config::embedded_default().unwrap().api;
        let state = AppState {
            metrics,
            draining: Arc::new(std::sync::atomic::AtomicBool::new(false)),
            verdicts: crate::outputs::websocket::VerdictStream::new(16, 16),
            shutdown: stop.clone(),
            history: Some(Arc::new(h)),
            audit: None,
            policy: Arc::new(crate::verdict::Policy::default()),
            guard: Arc::new(super::super::guard::Guard::new(addr, &api).unwrap()),
            enricher: Some(running.enricher.clone()),
        };
        let app = super::super::router(state);
        let until = stop.clone();
        tokio::spawn(async move {
            let _keep = running;
            axum::serve(listener, app)
                .with_graceful_shutdown(async move { until.cancelled().await })
                .await
        });
        (addr, stop)
    }

    async fn get(addr: std::net::SocketAddr, request: &str) -> (u16, String, Vec<u8>) {
        let path = request.strip_prefix("GET ").expect("a GET request");
        let r = reqwest::get(format!("http://{addr}{path}")).await.unwrap();
        let status = r.status().as_u16();
        let ctype = r
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        (status, ctype, r.bytes().await.unwrap().to_vec())
    }

    fn ids(body: &[u8], key: &str) -> Vec<String> {
        let v: serde_json::Value = serde_json::from_slice(body).unwrap();
        v[key]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["case_id"].as_str().or(c.as_str()).unwrap().to_owned())
            .collect()
    }

    #[tokio::test]
    async fn every_llm_pivot_is_a_request_this_router_serves() {
        use crate::verdict::summary::Pivot;
        let (addr, stop) = serve().await;
        let t = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
        let host = Pivot::Host {
            host: "WS-7".into(),
        };
        let (status, _, body) = get(addr, &host.request()).await;
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
        assert_eq!(ids(&body, "cases"), vec!["c1"]);

        let user = Pivot::User {
            user: "corp\\M.ROE".into(),
        };
        assert_eq!(user.request(), "GET /api/cases?user=corp%5CM.ROE");
        let (status, _, body) = get(addr, &user.request()).await;
        assert_eq!(status, 200);
        assert_eq!(ids(&body, "cases"), vec!["c2"]);

        let indicator = Pivot::Indicator {
            indicator: "203.0.113.7".into(),
        };
        let (status, _, body) = get(addr, &indicator.request()).await;
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
        assert_eq!(ids(&body, "cases"), vec!["c1"]);

        // c1 is active 10:00–10:10, c2 at 20:00 (2024-05-01).
        let window = Pivot::TimeWindow {
            host: "ws-7".into(),
            since: t("2024-05-01T09:00:00Z"),
            until: t("2024-05-01T12:00:00Z"),
        };
        let (status, _, body) = get(addr, &window.request()).await;
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
        assert_eq!(ids(&body, "cases"), vec!["c1"]);
        let later = Pivot::TimeWindow {
            host: "ws-7".into(),
            since: t("2024-05-01T11:00:00Z"),
            until: t("2024-05-01T21:00:00Z"),
        };
        let (_, _, body) = get(addr, &later.request()).await;
        assert!(ids(&body, "cases").is_empty());
        let before = Pivot::TimeWindow {
            host: "srv-2".into(),
            since: t("2024-05-01T09:00:00Z"),
            until: t("2024-05-01T12:00:00Z"),
        };
        let (_, _, body) = get(addr, &before.request()).await;
        assert!(ids(&body, "cases").is_empty(), "c2 starts after the window");

        let (status, _, body) = get(
            addr,
            "GET /api/cases?since=2024-05-02T00:00:00Z&until=2024-05-01T00:00:00Z",
        )
        .await;
        assert_eq!(status, 400);
        assert!(String::from_utf8_lossy(&body).contains("until is before since"));
        stop.cancel();
    }

    #[tokio::test]
    async fn reports_are_served_in_each_format_and_unknown_cases_are_json_404s() {
        let (addr, stop) = serve().await;
        for (ext, ctype, starts) in [
            (
                "md",
                "text/markdown; charset=utf-8",
                &b"# nightwatch case report"[..],
            ),
            ("html", "text/html; charset=utf-8", &b"<!DOCTYPE html>"[..]),
            #[cfg(feature = "pdf")]
            ("pdf", "application/pdf", &b"%PDF-"[..]),
        ] {
            let (status, got, body) = get(addr, &format!("GET /api/cases/c1/report.{ext}")).await;
            assert_eq!((status, got.as_str()), (200, ctype), "{ext}");
            assert!(body.starts_with(starts), "{ext}");
            let (status, got, body) = get(addr, &format!("GET /api/cases/nope/report.{ext}")).await;
            assert_eq!(status, 404);
            assert!(got.starts_with("application/json"));
            let err: serde_json::Value = serde_json::from_slice(&body).unwrap();
            assert_eq!(err["code"], "not_found");
            assert_eq!(err["message"], "no case nope");
        }
        stop.cancel();
    }

    #[cfg(not(feature = "pdf"))]
    #[tokio::test]
    async fn a_build_without_pdf_answers_501_for_pdf_reports() {
        let (addr, stop) = serve().await;
        let (status, got, body) = get(addr, "GET /api/cases/c1/report.pdf").await;
        assert_eq!(status, 501);
        assert!(got.starts_with("application/json"), "{got}");
        let err: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(err["code"], "not_implemented");
        assert_eq!(
            err["message"],
            "this build has no PDF support: rebuild with --features pdf"
        );
        stop.cancel();
    }
}
