//! The case API: list and inspect cases, give feedback, close, and look up hosts and ATT&CK
//! techniques. All JSON; errors are `{code, message}`. Every analyst state change is appended to
//! the audit log before the answer is sent.
//!
//! When the server listens on anything but loopback these routes require
//! `Authorization: Bearer <api.token>`; without a configured token they refuse every request.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, Query, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::json;

use super::AppState;
use crate::history::audit::AuditEntry;
use crate::history::{CaseFilter, Disposition, Feedback, HistoryError, HistoryStore};
use crate::verdict::{Conclusion, EntityKind, EntityRef, Severity};

/// Who may call the case API.
#[derive(Clone)]
pub enum Access {
    /// Loopback listener: no token needed.
    Open,
    /// Bearer token required.
    Token(crate::config::Secret),
    /// Non-loopback listener without a token: every request is refused.
    Refused,
}

impl std::fmt::Debug for Access {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Access::Open => "Open",
            Access::Token(_) => "Token(<redacted>)",
            Access::Refused => "Refused",
        })
    }
}

impl Access {
    /// The access rule for a listen address and an optional configured token.
    pub fn for_listener(addr: std::net::SocketAddr, token: Option<crate::config::Secret>) -> Self {
        match token.filter(|t| !t.is_empty()) {
            Some(t) => Access::Token(t),
            None if addr.ip().is_loopback() => Access::Open,
            None => Access::Refused,
        }
    }
}

/// An API error: HTTP status and `{code, message}`.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }

    fn bad(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (
            self.status,
            axum::Json(json!({"code": self.code, "message": self.message})),
        )
            .into_response()
    }
}

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

pub fn routes(state: AppState) -> Router<AppState> {
    Router::new()
        .route("/api/cases", get(list))
        .route("/api/cases/{id}", get(show))
        .route("/api/cases/{id}/feedback", post(feedback))
        .route("/api/cases/{id}/close", post(close))
        .route("/api/hosts/{name}", get(host))
        .route("/api/attack/techniques/{id}", get(technique))
        .route_layer(middleware::from_fn_with_state(state, require_token))
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Checks the bearer token (never logged) when the listener needs one.
pub async fn require_token(State(state): State<AppState>, req: Request, next: Next) -> Response {
    match &state.access {
        Access::Open => next.run(req).await,
        Access::Refused => ApiError::new(
            StatusCode::FORBIDDEN,
            "token_required",
            "the API listens on a non-loopback address: set api.token (or NIGHTWATCH__API__TOKEN)",
        )
        .into_response(),
        Access::Token(token) => {
            let given = req
                .headers()
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Bearer "));
            match given {
                Some(g) if constant_time_eq(g.as_bytes(), token.expose().as_bytes()) => {
                    next.run(req).await
                }
                _ => ApiError::new(
                    StatusCode::UNAUTHORIZED,
                    "unauthorized",
                    "missing or wrong bearer token",
                )
                .into_response(),
            }
        }
    }
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
    since: Option<String>,
    limit: Option<usize>,
    cursor: Option<String>,
}

async fn list(State(state): State<AppState>, Query(q): Query<ListQuery>) -> ApiResult {
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
    let since = match q.since.as_deref().filter(|s| !s.is_empty()) {
        Some(s) => Some(
            DateTime::parse_from_rfc3339(s)
                .map_err(|e| ApiError::bad(format!("since `{s}`: not RFC 3339: {e}")))?
                .with_timezone(&Utc),
        ),
        None => None,
    };
    let filter = CaseFilter {
        conclusion,
        severity,
        host: q.host.filter(|s| !s.is_empty()),
        since,
        limit: q.limit.unwrap_or(0),
        cursor: q.cursor.filter(|s| !s.is_empty()),
    };
    let page = tokio::task::spawn_blocking(move || h.list(&filter))
        .await
        .map_err(|e| {
            ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string())
        })??;
    Ok(axum::Json(page).into_response())
}

async fn show(State(state): State<AppState>, Path(id): Path<String>) -> ApiResult {
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

/// Analyst changes are refused when they could not be audited.
fn require_audit(state: &AppState) -> Result<(), ApiError> {
    if state.audit.is_none() {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "no_audit_log",
            "the audit log is unavailable, so analyst changes are refused",
        ));
    }
    Ok(())
}

fn audit<T: serde::Serialize>(
    state: &AppState,
    actor: &str,
    action: &str,
    case_id: &str,
    detail: &str,
    before: &T,
    after: &T,
) -> Result<(), ApiError> {
    if let Some(log) = &state.audit {
        log.append(&AuditEntry {
            time: Utc::now(),
            actor,
            action,
            case_id,
            detail,
            before,
            after,
        })
        .map_err(|e| {
            tracing::error!(error = %e, "audit log write failed");
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "audit_error",
                "the change was made but could not be written to the audit log",
            )
        })?;
    }
    Ok(())
}

async fn feedback(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: axum::http::HeaderMap,
    body: axum::body::Bytes,
) -> ApiResult {
    let h = history(&state)?;
    require_audit(&state)?;
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
        note: body.note.chars().take(2000).collect(),
        analyst: who.clone(),
        at: Utc::now(),
    };
    let (before, after) = h.add_feedback(&fb)?;
    h.flush()?;
    audit(
        &state,
        &who,
        "feedback",
        &id,
        disposition.as_str(),
        &before,
        &after,
    )?;
    Ok(axum::Json(json!({"case": after})).into_response())
}

async fn close(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: axum::http::HeaderMap,
    body: axum::body::Bytes,
) -> ApiResult {
    let h = history(&state)?;
    require_audit(&state)?;
    let body: CloseBody = if body.iter().all(u8::is_ascii_whitespace) {
        CloseBody::default()
    } else {
        parse_json(&body)?
    };
    let who = analyst(&headers, body.analyst);
    let reason = if body.note.is_empty() {
        "closed by analyst".to_owned()
    } else {
        body.note.chars().take(2000).collect()
    };
    let (before, after) = h.close(&id, &who, &reason, Utc::now())?;
    h.flush()?;
    audit(&state, &who, "close", &id, &reason, &before, &after)?;
    Ok(axum::Json(json!({"case": after})).into_response())
}

async fn host(State(state): State<AppState>, Path(name): Path<String>) -> ApiResult {
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

async fn technique(State(state): State<AppState>, Path(id): Path<String>) -> ApiResult {
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
    use crate::config::Secret;

    #[test]
    fn non_loopback_listeners_need_a_token_and_debug_hides_it() {
        let public: std::net::SocketAddr = "0.0.0.0:8080".parse().unwrap();
        let local: std::net::SocketAddr = "127.0.0.1:8080".parse().unwrap();
        assert!(matches!(
            Access::for_listener(public, None),
            Access::Refused
        ));
        assert!(matches!(
            Access::for_listener(public, Some(Secret::new(""))),
            Access::Refused
        ));
        assert!(matches!(Access::for_listener(local, None), Access::Open));
        let t = Access::for_listener(public, Some(Secret::new("tok-123")));
        assert!(matches!(t, Access::Token(_)));
        assert!(!format!("{t:?}").contains("tok-123"));
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }
}
