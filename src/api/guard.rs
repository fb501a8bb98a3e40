//! Who may call the API, and from where. [`guard`] runs before every route that carries case
//! data (`/ws`, `/api/cases…`, `/api/hosts…`, `/api/attack…`, `/api/indicators…`); `/health`,
//! `/metrics` and `/api/version` carry none and stay open to probes and scrapers.
//!
//! A request is refused, in this order, when:
//! 1. its `Host` names another server (421 `misdirected_request`). Allowed: `localhost`, loopback
//!    addresses, the listen address (any IP address when listening on `0.0.0.0`/`[::]`) and
//!    `api.allowed_hosts`. A DNS-rebinding page reaches the daemon under the attacker's name.
//! 2. it carries an `Origin` that is not allowed (403 `forbidden_origin`): the same origin as the
//!    request's `Host`, an origin whose host is `localhost`, a loopback address, the (specific)
//!    listen address or in `api.allowed_hosts`, or one of `api.allowed_origins`. No `Origin` at
//!    all is a non-browser client, allowed. This covers WebSocket upgrades, which browsers send
//!    cross-site without any CORS check.
//! 3. a token is configured and the request does not present it (401 `unauthorized`):
//!    `Authorization: Bearer <token>`, or, on a WebSocket upgrade (browsers cannot set headers
//!    there), the subprotocol `nightwatch.bearer.<base64url(token)>` next to `nightwatch.v1`.
//!    A `?token=` query parameter is not accepted: URLs end up in proxy logs and browser history.
//! 4. it changes state (any method but GET/HEAD) without `Content-Type: application/json` (415
//!    `unsupported_media_type`), body or not: a cross-site form or `text/plain` fetch can send
//!    only the simple content types, so this also stops CSRF where `Origin` is missing.
//! 5. it changes state beyond its caller's rate (429 `rate_limited` with `Retry-After`;
//!    [`super::limit`]).
//!
//! Each refusal is counted in `nightwatch_api_refused_total{reason}` and logged sparingly.
//! Off loopback a token is mandatory: [`problems`] makes validation (hence `run`) refuse a
//! configuration without one.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::uri::Authority;
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use serde::Serialize;

use super::AppState;
use super::error::ApiError;
use super::identity::{Analyst, Directory, Role, session_cookie};
use super::limit::RateLimiter;
use crate::base::{Problem, Secret};
use crate::config::ApiConfig;

/// The WebSocket subprotocol the server selects on `/ws`.
pub const WS_PROTOCOL: &str = "nightwatch.v1";
/// Prefix of the subprotocol carrying the token on a WebSocket upgrade.
pub const WS_BEARER_PREFIX: &str = "nightwatch.bearer.";

/// Whether an address is loopback (IPv4-mapped IPv6 included).
pub fn is_loopback(ip: IpAddr) -> bool {
    ip.to_canonical().is_loopback()
}

/// Who may call the routes that carry case data.
#[derive(Clone)]
pub enum Access {
    /// Loopback listener without a token or analysts: reads and changes are open to local
    /// tools and the console.
    Open,
    /// Credentials required: the service token (when set) or a named analyst's token or
    /// session.
    Authenticated { token: Option<Secret> },
}

impl std::fmt::Debug for Access {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Access::Open => "Open",
            Access::Authenticated { token: Some(_) } => "Authenticated(token: <redacted>)",
            Access::Authenticated { token: None } => "Authenticated(analysts only)",
        })
    }
}

impl Access {
    /// The access rule for a listen address, the configured token and whether analysts are
    /// configured; `None` when the listener is not loopback and neither is set (refused).
    pub fn for_listener(addr: SocketAddr, token: &Secret, analysts: bool) -> Option<Self> {
        if !token.is_empty() {
            Some(Access::Authenticated {
                token: Some(token.clone()),
            })
        } else if analysts {
            Some(Access::Authenticated { token: None })
        } else if is_loopback(addr.ip()) {
            Some(Access::Open)
        } else {
            None
        }
    }
}

/// The problem of a configuration whose listener needs a token it lacks.
fn token_problem(listen: &str) -> Problem {
    Problem {
        key: "api.token".into(),
        message: format!(
            "required when api.listen ({listen}) is not a loopback address: set api.token (or NIGHTWATCH__API__TOKEN), or name analysts in [[api.analysts]]"
        ),
    }
}

/// Validation of the `[api]` keys the guard reads, each with its key path.
pub fn problems(api: &ApiConfig) -> Vec<Problem> {
    let problem = |key: &str, message: String| Problem {
        key: key.into(),
        message,
    };
    let mut p = Vec::new();
    if let Ok(addr) = api.listen.parse::<SocketAddr>()
        && Access::for_listener(addr, &api.token, !api.analysts.is_empty()).is_none()
    {
        p.push(token_problem(&api.listen));
    }
    for h in &api.allowed_hosts {
        if !matches!(split_authority(h), Some((_, None))) {
            p.push(problem(
                "api.allowed_hosts",
                format!("`{h}` is not a host name or address (no scheme, port or path)"),
            ));
        }
    }
    for o in &api.allowed_origins {
        if parse_origin(&o.to_ascii_lowercase()).is_none() {
            p.push(problem(
                "api.allowed_origins",
                format!("`{o}` is not an origin like https://console.example:8443"),
            ));
        }
    }
    for (key, v) in [
        ("api.changes_per_minute", api.changes_per_minute),
        ("api.changes_burst", api.changes_burst),
    ] {
        if v == 0 {
            p.push(problem(key, "must be at least 1".into()));
        }
    }
    p.extend(super::identity::problems(&api.analysts));
    p
}

/// A host (lowercase, without brackets or trailing dot) and port from `host[:port]`; `None`
/// when it is not one (user info included).
fn split_authority(s: &str) -> Option<(String, Option<u16>)> {
    let a: Authority = s.parse().ok()?;
    if a.as_str().contains('@') {
        return None;
    }
    let host = a
        .host()
        .trim_start_matches('[')
        .trim_end_matches(']')
        .trim_end_matches('.')
        .to_ascii_lowercase();
    (!host.is_empty()).then_some((host, a.port_u16()))
}

/// Scheme, host and port of an origin (`http[s]://host[:port]`, lowercase).
fn parse_origin(origin: &str) -> Option<(&str, String, Option<u16>)> {
    let (scheme, rest) = origin.split_once("://")?;
    if !matches!(scheme, "http" | "https") || rest.contains('/') {
        return None;
    }
    let (host, port) = split_authority(rest)?;
    Some((scheme, host, port))
}

/// How a caller got in, recorded in the audit log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Auth {
    /// Loopback listener without a token or analysts.
    Open,
    /// The service token (header or WebSocket subprotocol).
    Token,
    /// A named analyst's token (header or WebSocket subprotocol).
    AnalystToken,
    /// A named analyst's console session cookie.
    Session,
}

impl Auth {
    pub fn as_str(self) -> &'static str {
        match self {
            Auth::Open => "open",
            Auth::Token => "token",
            Auth::AnalystToken => "analyst_token",
            Auth::Session => "session",
        }
    }
}

/// Who is calling: put in the request's extensions by [`guard`].
#[derive(Debug, Clone)]
pub struct Caller {
    /// The peer address, when the server knows it.
    pub peer: Option<IpAddr>,
    pub auth: Auth,
    /// The named analyst (analyst token or session); `None` for open access and the service
    /// token, whose callers name themselves.
    pub analyst: Option<Arc<Analyst>>,
    /// The session's CSRF token, for pages to embed.
    pub csrf: Option<String>,
}

impl Caller {
    /// What this caller may do: a named analyst's role; open access and the service token act
    /// as admin (they are the operator's own tools).
    pub fn role(&self) -> Role {
        self.analyst.as_ref().map_or(Role::Admin, |a| a.role)
    }
}

/// A refusal: the answer and the `reason` label it is counted under.
struct Refusal {
    error: ApiError,
    reason: &'static str,
}

impl Refusal {
    fn new(reason: &'static str, status: StatusCode, code: &'static str, msg: String) -> Self {
        Self {
            error: ApiError::new(status, code, msg),
            reason,
        }
    }
}

/// The access rules of one listener: token, allowed hosts and origins, the change rate.
pub struct Guard {
    access: Access,
    analysts: Directory,
    listen: IpAddr,
    hosts: Vec<String>,
    origins: Vec<String>,
    limiter: RateLimiter,
    refused: AtomicU64,
}

impl std::fmt::Debug for Guard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Guard")
            .field("access", &self.access)
            .field("listen", &self.listen)
            .field("hosts", &self.hosts)
            .field("origins", &self.origins)
            .finish_non_exhaustive()
    }
}

impl Guard {
    /// The guard of the API bound to `bound`; refused (the problem naming `api.token`) off
    /// loopback without a token.
    pub fn new(bound: SocketAddr, api: &ApiConfig) -> Result<Self, Problem> {
        let access = Access::for_listener(bound, &api.token, !api.analysts.is_empty())
            .ok_or_else(|| token_problem(&api.listen))?;
        Ok(Self {
            access,
            analysts: Directory::new(&api.analysts),
            listen: bound.ip().to_canonical(),
            hosts: api
                .allowed_hosts
                .iter()
                .filter_map(|h| split_authority(h).map(|(h, _)| h))
                .collect(),
            origins: api
                .allowed_origins
                .iter()
                .map(|o| o.trim_end_matches('/').to_ascii_lowercase())
                .collect(),
            limiter: RateLimiter::new(api.changes_per_minute, api.changes_burst),
            refused: AtomicU64::new(0),
        })
    }

    /// A host name (no port) this server answers for, as an `Origin` host too.
    fn known_name(&self, host: &str) -> bool {
        match host.parse::<IpAddr>() {
            Ok(ip) => {
                let ip = ip.to_canonical();
                is_loopback(ip) || (ip == self.listen && !ip.is_unspecified())
            }
            Err(_) => host == "localhost" || self.hosts.iter().any(|h| h == host),
        }
    }

    /// A `Host` this server answers for: a known name, or any address literal when listening
    /// on every address (DNS rebinding needs a name).
    fn host_ok(&self, host: &str) -> bool {
        self.known_name(host) || (self.listen.is_unspecified() && host.parse::<IpAddr>().is_ok())
    }

    fn origin_ok(&self, origin: &str, authority: Option<&(String, Option<u16>)>) -> bool {
        let origin = origin.trim_end_matches('/').to_ascii_lowercase();
        if self.origins.contains(&origin) {
            return true;
        }
        let Some((scheme, host, port)) = parse_origin(&origin) else {
            return false; // `null` (sandboxed pages, files) included
        };
        let default = if scheme == "https" { 443 } else { 80 };
        let same_origin = authority
            .is_some_and(|(h, p)| *h == host && p.unwrap_or(default) == port.unwrap_or(default));
        same_origin || self.known_name(&host)
    }

    /// Checks a request's `Host`, `Origin`, credentials, content type and rate.
    fn check(
        &self,
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
        peer: Option<IpAddr>,
        now: Instant,
    ) -> Result<Option<Caller>, Refusal> {
        let authority = match uri.authority() {
            Some(a) => Some(split_authority(a.as_str())),
            None => headers
                .get(header::HOST)
                .map(|h| h.to_str().ok().and_then(split_authority)),
        };
        if let Some(a) = &authority
            && !a.as_ref().is_some_and(|(h, _)| self.host_ok(h))
        {
            let shown = headers
                .get(header::HOST)
                .and_then(|h| h.to_str().ok())
                .map_or_else(|| uri.to_string(), str::to_owned);
            return Err(Refusal::new(
                "host",
                StatusCode::MISDIRECTED_REQUEST,
                "misdirected_request",
                format!(
                    "this server does not answer for host `{}`: add it to api.allowed_hosts",
                    shown.chars().take(100).collect::<String>()
                ),
            ));
        }
        if let Some(origin) = headers.get(header::ORIGIN) {
            let ok = origin
                .to_str()
                .is_ok_and(|o| self.origin_ok(o, authority.as_ref().and_then(Option::as_ref)));
            if !ok {
                return Err(Refusal::new(
                    "origin",
                    StatusCode::FORBIDDEN,
                    "forbidden_origin",
                    "requests from this origin are refused: add it to api.allowed_origins".into(),
                ));
            }
        }
        let public = is_public(uri.path());
        let caller = match self.authorize(headers, now) {
            Some((auth, analyst, csrf)) => Some(Caller {
                peer,
                auth,
                analyst,
                csrf,
            }),
            None if public => None,
            None => {
                return Err(Refusal::new(
                    "unauthorized",
                    StatusCode::UNAUTHORIZED,
                    "unauthorized",
                    "missing or wrong bearer token or session".into(),
                ));
            }
        };
        if !matches!(*method, Method::GET | Method::HEAD) {
            if !is_json(headers) {
                return Err(Refusal::new(
                    "content_type",
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    "unsupported_media_type",
                    "changes need Content-Type: application/json (also without a body)".into(),
                ));
            }
            if let Some(c) = caller.as_ref().filter(|_| !public) {
                if !c.role().may_change() {
                    return Err(Refusal::new(
                        "role",
                        StatusCode::FORBIDDEN,
                        "forbidden_role",
                        format!("a {} may not change cases", c.role().as_str()),
                    ));
                }
                if let Some(expected) = &c.csrf {
                    let sent = headers
                        .get(CSRF_HEADER)
                        .map(|v| v.as_bytes())
                        .unwrap_or_default();
                    if !constant_time_eq(sent, expected.as_bytes()) {
                        return Err(Refusal::new(
                            "csrf",
                            StatusCode::FORBIDDEN,
                            "csrf",
                            format!(
                                "changes made with a session need the {CSRF_HEADER} header of its page"
                            ),
                        ));
                    }
                }
            }
            let key = peer.unwrap_or(IpAddr::from([0, 0, 0, 0]));
            if let Err(wait) = self.limiter.check(key, now) {
                let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
                let mut r = Refusal::new(
                    "rate_limited",
                    StatusCode::TOO_MANY_REQUESTS,
                    "rate_limited",
                    format!("too many changes from this caller: retry in {secs} s"),
                );
                r.error = r.error.retry_after(secs);
                return Err(r);
            }
        }
        Ok(caller)
    }

    /// The analysts this guard knows, for the session routes.
    pub fn analysts(&self) -> &Directory {
        &self.analysts
    }

    /// Whether callers must authenticate (the console then shows its login page).
    pub fn open(&self) -> bool {
        matches!(self.access, Access::Open)
    }

    /// How the request authenticates (with the analyst and session CSRF token when named), or
    /// `None` when it does not. The one place credentials are read.
    fn authorize(
        &self,
        headers: &HeaderMap,
        now: Instant,
    ) -> Option<(Auth, Option<Arc<Analyst>>, Option<String>)> {
        let Access::Authenticated { token } = &self.access else {
            return Some((Auth::Open, None, None));
        };
        let bearer = headers
            .get_all(header::AUTHORIZATION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .filter_map(|v| {
                let (scheme, t) = v.split_once(' ')?;
                scheme
                    .eq_ignore_ascii_case("bearer")
                    .then(|| t.trim().as_bytes().to_vec())
            });
        let protocol = headers
            .get_all(header::SEC_WEBSOCKET_PROTOCOL)
            .iter()
            .filter(|_| is_ws_upgrade(headers))
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .filter_map(|p| p.trim().strip_prefix(WS_BEARER_PREFIX))
            .filter_map(|b| {
                base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .decode(b)
                    .ok()
            });
        for presented in bearer.chain(protocol) {
            if let Some(t) = token
                && constant_time_eq(&presented, t.expose().as_bytes())
            {
                return Some((Auth::Token, None, None));
            }
            if let Some(a) = self.analysts.by_token(&presented) {
                return Some((Auth::AnalystToken, Some(a), None));
            }
        }
        let cookie = session_cookie(headers)?;
        let (analyst, csrf) = self.analysts.session(cookie, now)?;
        Some((Auth::Session, Some(analyst), Some(csrf)))
    }

    /// Logs a refusal: the first, then at each power of two (a flood stays a few lines).
    fn note(&self, r: &Refusal, uri: &Uri, peer: Option<IpAddr>) {
        let n = self.refused.fetch_add(1, Ordering::Relaxed) + 1;
        let peer = peer.map(|p| p.to_string()).unwrap_or_default();
        if n.is_power_of_two() {
            tracing::warn!(reason = r.reason, path = %uri.path(), peer = %peer, refused = n, "api request refused");
        } else {
            tracing::debug!(reason = r.reason, path = %uri.path(), peer = %peer, "api request refused");
        }
    }
}

/// Routes anyone may reach once host and origin pass: the login page, the console's assets and
/// the session exchange (a token for a cookie). They carry no case data.
fn is_public(path: &str) -> bool {
    path == "/login" || path == "/api/session" || path.starts_with("/assets/")
}

/// The header a session's state changes carry its CSRF token in.
pub const CSRF_HEADER: &str = "x-csrf-token";

pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn is_ws_upgrade(headers: &HeaderMap) -> bool {
    headers
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"))
}

/// `Content-Type: application/json`, parameters (`; charset=utf-8`) allowed.
fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|t| t.trim().eq_ignore_ascii_case("application/json"))
}

/// A console page request from a browser: a GET outside `/api/` and `/ws` asking for HTML.
fn wants_page(req: &Request) -> bool {
    let path = req.uri().path();
    req.method() == Method::GET
        && !path.starts_with("/api/")
        && path != "/ws"
        && req
            .headers()
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.contains("text/html"))
}

/// The middleware: refuses what [`Guard`] refuses, else passes the request on with its
/// [`Caller`].
pub async fn guard(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip().to_canonical());
    let checked = state
        .guard
        .check(req.method(), req.uri(), req.headers(), peer, Instant::now());
    match checked {
        Ok(caller) => {
            if let Some(caller) = caller {
                req.extensions_mut().insert(caller);
            }
            next.run(req).await
        }
        // A browser opening a console page without a session goes to the login page.
        Err(refusal) if refusal.reason == "unauthorized" && wants_page(&req) => {
            let next = req.uri().path_and_query().map_or("/", |p| p.as_str());
            let to = format!(
                "/login?next={}",
                percent_encoding::utf8_percent_encode(next, percent_encoding::NON_ALPHANUMERIC)
            );
            axum::response::Redirect::to(&to).into_response()
        }
        Err(refusal) => {
            state
                .metrics
                .api
                .refused
                .with_label_values(&[refusal.reason])
                .inc();
            state.guard.note(&refusal, req.uri(), peer);
            refusal.error.into_response()
        }
    }
}

#[cfg(test)]
mod tests;
