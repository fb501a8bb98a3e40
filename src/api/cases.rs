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
use super::guard::Caller;
use crate::history::audit::{AuditEntry, diff};
use crate::history::{
    CaseAction, CaseFilter, CaseOrder, CaseRecord, CaseStatus, Disposition, Feedback, HistoryError,
    HistoryStore,
};
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
        .route("/api/cases/{id}/assign", post(assign))
        .route("/api/cases/{id}/acknowledge", post(acknowledge))
        .route("/api/cases/{id}/reopen", post(reopen))
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

macro_rules! action_route {
    ($name:ident) => {
        async fn $name(
            State(state): State<AppState>,
            ApiPath(id): ApiPath<String>,
            caller: Option<axum::Extension<Caller>>,
            headers: axum::http::HeaderMap,
            ApiBody(body): ApiBody,
        ) -> ApiResult {
            act(
                state,
                id,
                caller.map(|c| c.0),
                headers,
                &body,
                stringify!($name),
            )
            .await
        }
    };
}
action_route!(assign);
action_route!(acknowledge);
action_route!(reopen);

/// The case history, or `503 no_history` (the console's pages use it too).
pub(super) fn history(state: &AppState) -> Result<Arc<dyn HistoryStore>, ApiError> {
    state.history.clone().ok_or_else(|| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "no_history",
            "this server keeps no case history",
        )
    })
}

/// The filters of `GET /api/cases` (and of the console's queue), as query parameters.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ListQuery {
    pub conclusion: Option<String>,
    pub severity: Option<String>,
    pub host: Option<String>,
    pub user: Option<String>,
    pub since: Option<String>,
    pub until: Option<String>,
    /// `open`, `closed` or `all` (the default).
    pub status: Option<String>,
    pub technique: Option<String>,
    pub entity: Option<String>,
    pub q: Option<String>,
    /// `activity` (newest first, the default) or `severity` (most severe first).
    pub order: Option<String>,
    pub limit: Option<usize>,
    pub cursor: Option<String>,
}

/// An optional query parameter with a closed set of values; 400 naming them for any other.
fn choice<T>(
    name: &str,
    value: Option<&str>,
    expected: &str,
    parse: impl Fn(&str) -> Option<T>,
) -> Result<Option<T>, ApiError> {
    match value.filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(v) => parse(v)
            .map(Some)
            .ok_or_else(|| ApiError::bad(format!("{name} `{v}`: expected {expected}"))),
    }
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
    let filter = q.filter()?;
    let page = tokio::task::spawn_blocking(move || h.list(&filter))
        .await
        .map_err(|e| ApiError::internal(e.to_string()))??;
    Ok(axum::Json(page).into_response())
}

impl ListQuery {
    /// The history filter these parameters ask for; 400 for a value that is none.
    pub fn filter(self) -> Result<CaseFilter, ApiError> {
        let q = self;
        let conclusion = choice(
            "conclusion",
            q.conclusion.as_deref(),
            "incident, suspicious, benign or needs_review",
            Conclusion::parse,
        )?;
        let severity = choice(
            "severity",
            q.severity.as_deref(),
            "critical, high, medium, low or informational",
            Severity::parse,
        )?;
        let since = time_param("since", q.since.as_deref())?;
        let until = time_param("until", q.until.as_deref())?;
        if let (Some(s), Some(u)) = (since, until)
            && u < s
        {
            return Err(ApiError::bad("until is before since"));
        }
        let status = choice(
            "status",
            q.status.as_deref(),
            "open, closed or all",
            |s| match s {
                "open" => Some(Some(CaseStatus::Open)),
                "closed" => Some(Some(CaseStatus::Closed)),
                "all" => Some(None),
                _ => None,
            },
        )?
        .flatten();
        let order = choice(
            "order",
            q.order.as_deref(),
            "activity or severity",
            |s| match s {
                "activity" => Some(CaseOrder::Activity),
                "severity" => Some(CaseOrder::Severity),
                _ => None,
            },
        )?
        .unwrap_or_default();
        let text = |v: Option<String>| v.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty());
        Ok(CaseFilter {
            conclusion,
            severity,
            host: text(q.host),
            user: text(q.user),
            since,
            until,
            status,
            technique: text(q.technique),
            entity: text(q.entity),
            text: text(q.q),
            order,
            limit: q.limit.unwrap_or(0),
            cursor: text(q.cursor),
        })
    }
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

/// Who makes a change: the named analyst who authenticated; else (open access, the service
/// token) the name the caller gives in the body or `X-Analyst`, else `api`.
fn actor(caller: Option<&Caller>, headers: &axum::http::HeaderMap, body: Option<String>) -> String {
    if let Some(a) = caller.and_then(|c| c.analyst.as_ref()) {
        return a.name.clone();
    }
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
                auth: self.caller.as_ref().map(|c| c.auth.as_str()),
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
    let caller = caller.map(|c| c.0);
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
    let who = actor(caller.as_ref(), &headers, body.analyst);
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
        caller,
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
    let caller = caller.map(|c| c.0);
    let body: CloseBody = optional_json(&body)?;
    let who = actor(caller.as_ref(), &headers, body.analyst);
    let reason = match note(body.note)? {
        n if n.is_empty() => "closed by analyst".to_owned(),
        n => n,
    };
    let change = Change {
        action: "close",
        case_id: id.clone(),
        actor: who.clone(),
        detail: reason.clone(),
        caller,
    };
    change
        .apply(&state, move |h| h.close(&id, &who, &reason, Utc::now()))
        .await
}

/// The body of assign, acknowledge and reopen: all optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ActionBody {
    /// Assign: to whom (default: the caller); an empty string unassigns.
    #[serde(default)]
    assignee: Option<String>,
    #[serde(default)]
    note: String,
    #[serde(default)]
    analyst: Option<String>,
}

/// `POST /api/cases/{id}/{assign,acknowledge,reopen}`.
async fn act(
    state: AppState,
    id: String,
    caller: Option<Caller>,
    headers: axum::http::HeaderMap,
    body: &[u8],
    kind: &'static str,
) -> ApiResult {
    let body: ActionBody = optional_json(body)?;
    let who = actor(caller.as_ref(), &headers, body.analyst);
    let action = match kind {
        "assign" => CaseAction::Assign(match body.assignee.map(|a| a.trim().to_owned()) {
            None => Some(who.clone()),
            Some(a) if a.is_empty() => None,
            Some(a) if a.chars().count() > 100 => {
                return Err(ApiError::bad("assignee: at most 100 characters"));
            }
            Some(a) => Some(a),
        }),
        "acknowledge" => CaseAction::Acknowledge,
        _ => CaseAction::Reopen,
    };
    let note = note(body.note)?;
    let change = Change {
        action: action.name(),
        case_id: id.clone(),
        actor: who.clone(),
        detail: match &action {
            CaseAction::Assign(Some(to)) => to.clone(),
            _ => note.clone(),
        },
        caller,
    };
    change
        .apply(&state, move |h| {
            h.act(&id, &action, &who, &note, Utc::now())
        })
        .await
}

/// A JSON body that may be empty (then the type's default).
fn optional_json<T: serde::de::DeserializeOwned + Default>(body: &[u8]) -> Result<T, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        Ok(T::default())
    } else {
        parse_json(body)
    }
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

    /// The real router over `c1` (host `ws-7`, user `CORP\\j.doe`, indicator 203.0.113.7) and
    /// `c2` (host `srv-2`, user `CORP\\m.roe`): [`crate::api::testing`].
    async fn serve() -> (std::net::SocketAddr, crate::api::testing::TestServer) {
        let s = crate::api::testing::serve(crate::api::testing::api_config()).await;
        (s.addr, s)
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
        drop(stop);
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
        drop(stop);
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
        drop(stop);
    }
}
