//! The analyst console: server-rendered pages over the case history, served by the daemon on
//! its API listener.
//!
//! Pages are HTML rendered with `maud` (compile-time templates, escaped by default); one
//! stylesheet and one script ([`assets`]), compiled into the binary, do what a page cannot do
//! alone: live updates from `/ws?view=queue`, keyboard navigation, analyst actions sent as JSON
//! to the case API with the session's CSRF token. No inline script or style, so the
//! Content-Security-Policy needs no `unsafe-inline`; nothing is loaded from elsewhere.
//!
//! Every page sits behind the API guard (the same host, origin and credential checks as the
//! JSON API; a browser without a session is sent to `/login`). The pages:
//! [`queue`] (`/`, and the row partial the live queue fetches), [`case`] (`/cases/{id}`),
//! [`pivots`] (indicator, entity and technique pages), [`coverage`] (the ATT&CK heatmap) and the
//! login page.

pub mod assets;
mod case;
mod coverage;
mod pivots;
mod queue;

use axum::Router;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::{DateTime, Utc};
use maud::{DOCTYPE, Markup, html};
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};

use super::AppState;
use super::cases::history;
use super::error::ApiError;
use super::guard::Caller;
use crate::verdict::{Conclusion, EntityKind, EntityRef, Severity};

/// The console's routes (guarded and body-limited by [`super::router`]).
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(queue::page))
        .route("/console/rows/{id}", get(queue::row_partial))
        .route("/cases/{id}", get(case::page))
        .route("/indicators/{*value}", get(pivots::indicator))
        .route("/entities/{kind}/{*value}", get(pivots::entity_page))
        .route("/techniques/{id}", get(pivots::technique))
        .route("/coverage", get(coverage::page))
        .route("/login", get(login))
        .route("/assets/{file}", get(assets::serve))
}

/// The policy every page is served with: only this origin's script, style and sockets.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
     connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// An HTML page with the console's security headers; never cached (it carries case data).
fn html_response(status: StatusCode, body: Markup) -> Response {
    let mut r = (status, body).into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    r
}

/// A whole page: the top bar (who is signed in, sign out) around `body`. `kind` names the page
/// for the script (`queue`, `case`, …).
fn layout(title: &str, kind: &str, caller: Option<&Caller>, body: Markup) -> Response {
    let who = caller.map(|c| match &c.analyst {
        Some(a) => format!("{} ({})", a.name, a.role.as_str()),
        None if c.auth == super::guard::Auth::Open => "local (open access on loopback)".into(),
        None => "service token".into(),
    });
    let signed_in = caller.is_some_and(|c| c.analyst.is_some());
    let markup = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                @if let Some(token) = caller.and_then(|c| c.csrf.as_deref()) {
                    meta name="csrf-token" content=(token);
                }
                title { (title) " · nightwatch" }
                link rel="icon" type="image/svg+xml" href=(assets::url("favicon.svg"));
                link rel="stylesheet" href=(assets::url("console.css"));
                script src=(assets::url("console.js")) defer {}
            }
            body data-page=(kind) {
                header.top {
                    a.brand href="/" { "nightwatch" }
                    nav {
                        a href="/" { "Queue" }
                        a href="/?status=all" { "All cases" }
                        a href="/coverage" { "Coverage" }
                    }
                    @if let Some(who) = who {
                        span.who { "Signed in as " (who) }
                    }
                    @if signed_in {
                        button #logout type="button" { "Sign out" }
                    }
                }
                main { (body) }
            }
        }
    };
    html_response(StatusCode::OK, markup)
}

/// The sign-in page (public). With open access there is nothing to sign in to.
async fn login(axum::extract::State(state): axum::extract::State<AppState>) -> Response {
    let body = html! {
        div.login.panel {
            h1 { "Sign in to nightwatch" }
            @if state.guard.open() {
                p { "This console listens on loopback without analysts configured: it is open. "
                    a href="/" { "Go to the queue" } "." }
            } @else if state.guard.analysts().is_empty() {
                p { "No analysts are configured, so nobody can sign in. Name them in "
                    code { "[[api.analysts]]" } " (" code { "nightwatch analyst NAME --role analyst" }
                    " prints an entry and its token)." }
            } @else {
                form #login {
                    label for="token" { "Analyst token" }
                    input #token type="password" autocomplete="current-password" required autofocus;
                    button.primary type="submit" { "Sign in" }
                }
                p #flash {}
            }
        }
    };
    layout("Sign in", "login", None, body)
}

/// Runs a history read off the async runtime.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, crate::history::HistoryError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?
        .map_err(ApiError::from)
}

/// A path segment or query value, percent-encoded.
fn enc(s: &str) -> String {
    utf8_percent_encode(s, NON_ALPHANUMERIC).to_string()
}

fn case_href(id: &str) -> String {
    format!("/cases/{}", enc(id))
}

fn indicator_href(value: &str) -> String {
    format!("/indicators/{}", enc(value))
}

fn entity_href(e: &EntityRef) -> String {
    format!("/entities/{}/{}", e.kind.as_str(), enc(&e.value))
}

fn technique_href(id: &str) -> String {
    format!("/techniques/{}", enc(id))
}

fn entity_kind_label(k: EntityKind) -> &'static str {
    match k {
        EntityKind::Host => "host",
        EntityKind::User => "user",
        EntityKind::SourceAddress => "source address",
    }
}

fn severity(s: Severity) -> Markup {
    html! { span class={"badge sev-" (s.as_str())} { (s.as_str()) } }
}

fn conclusion(c: Conclusion) -> Markup {
    html! { span class={"badge con-" (c.as_str())} { (c.as_str().replace('_', " ")) } }
}

fn entity(e: &EntityRef) -> Markup {
    html! {
        span.muted { (entity_kind_label(e.kind)) " " }
        a href=(entity_href(e)) { (e.value) }
    }
}

fn technique(id: &str) -> Markup {
    let name = crate::attack::technique(id).map(|t| t.name);
    html! {
        a.mono href=(technique_href(id)) title=[name] { (id) }
    }
}

/// A serialized enum's name as words: `rule_match` → `rule match`.
fn label<T: serde::Serialize>(v: &T) -> String {
    match serde_json::to_value(v) {
        Ok(serde_json::Value::String(s)) => s.replace('_', " "),
        _ => String::new(),
    }
}

/// `2024-05-01 10:00:03Z`: seconds are what an analyst lines events up by.
fn when(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%SZ").to_string()
}

/// How long ago, in the largest whole unit.
fn age(t: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let s = (now - t).num_seconds().max(0);
    match s {
        0..60 => format!("{s} s"),
        60..3600 => format!("{} min", s / 60),
        3600..86_400 => format!("{} h", s / 3600),
        _ => format!("{} d", s / 86_400),
    }
}

#[cfg(test)]
mod tests;
