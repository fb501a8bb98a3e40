//! Console sign-in: `POST /api/session` exchanges a named analyst's token for a session cookie
//! (`HttpOnly`, `SameSite=Strict`, `Secure` when the request reached a TLS-terminating proxy
//! that says so with `X-Forwarded-Proto: https`); `DELETE /api/session` ends the session;
//! `GET /api/session` says who is calling. The exchange is public (the guard still checks host,
//! origin, content type and the change rate, which throttles token guessing); the other two
//! are guarded. Sessions are held by [`super::identity::Directory`].

use std::time::Instant;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;
use serde_json::json;

use super::AppState;
use super::error::{ApiBody, ApiError};
use super::guard::Caller;
use super::identity::{SESSION_COOKIE, SESSION_HOURS, session_cookie};

pub fn routes() -> Router<AppState> {
    Router::new().route("/api/session", get(whoami).post(sign_in).delete(sign_out))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SignIn {
    token: String,
}

fn cookie(headers: &HeaderMap, value: &str, max_age: u64) -> String {
    let tls = headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("https"));
    format!(
        "{SESSION_COOKIE}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age}{}",
        if tls { "; Secure" } else { "" }
    )
}

async fn sign_in(
    State(state): State<AppState>,
    headers: HeaderMap,
    ApiBody(body): ApiBody,
) -> Result<Response, ApiError> {
    let body: SignIn =
        serde_json::from_slice(&body).map_err(|e| ApiError::bad(format!("request body: {e}")))?;
    let analysts = state.guard.analysts();
    if analysts.is_empty() {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "no_analysts",
            if state.guard.open() {
                "no analysts are configured: this loopback console is open without signing in"
            } else {
                "no analysts are configured: name them in [[api.analysts]] to use the console"
            },
        ));
    }
    let Some(analyst) = analysts.by_token(body.token.trim().as_bytes()) else {
        tracing::warn!("console sign-in refused: unknown token");
        state
            .metrics
            .api
            .refused
            .with_label_values(&["unauthorized"])
            .inc();
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "unknown token",
        ));
    };
    let session = analysts
        .open_session(analyst.clone(), Instant::now())
        .map_err(|e| ApiError::internal(format!("no randomness for a session: {e}")))?;
    tracing::info!(analyst = %analyst.name, role = analyst.role.as_str(), "console sign-in");
    Ok((
        [(
            header::SET_COOKIE,
            cookie(&headers, &session.cookie, SESSION_HOURS * 3600),
        )],
        axum::Json(json!({"analyst": &*analyst})),
    )
        .into_response())
}

async fn sign_out(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if let Some(c) = session_cookie(&headers) {
        state.guard.analysts().close_session(c);
    }
    (
        [(header::SET_COOKIE, cookie(&headers, "", 0))],
        axum::Json(json!({"signed_out": true})),
    )
        .into_response()
}

async fn whoami(caller: Option<axum::Extension<Caller>>) -> Result<Response, ApiError> {
    let Some(axum::Extension(c)) = caller else {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "not signed in",
        ));
    };
    Ok(axum::Json(json!({
        "auth": c.auth.as_str(),
        "analyst": c.analyst.as_deref(),
        "role": c.role().as_str(),
    }))
    .into_response())
}
