//! The HTTP API: health, metrics, the verdict WebSocket, version, and the case API
//! ([`cases`]: cases, feedback, close, hosts, ATT&CK techniques).
//!
//! [`router`] is built apart from the daemon so tests can serve it on port 0. Handlers read
//! shared state and the case history; nothing here touches the pipeline except by subscribing to
//! the verdict ring. Analyst changes go to the history store, which the case builder reads.
//! Every route that carries case data sits behind [`guard::guard`] (host, origin, token, content
//! type, rate) and a body limit of [`BODY_LIMIT`]; errors are JSON `{code, message}` ([`error`]).

pub mod cases;
pub mod console;
pub mod error;
pub mod guard;
pub mod identity;
pub mod limit;
pub mod session;
#[cfg(test)]
pub(crate) mod testing;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::Router;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;
use serde_json::json;
use tokio_util::sync::CancellationToken;

use crate::metrics::Metrics;
use crate::outputs::websocket::{self, VerdictStream};
use error::{ApiError, ApiPath, ApiQuery};

/// Largest request body the guarded routes read (a feedback or close body: a note of at most
/// [`cases::MAX_NOTE_BYTES`] and a few fields); larger is `413 body_too_large`.
pub const BODY_LIMIT: usize = 16 * 1024;

/// What the handlers share.
#[derive(Clone)]
pub struct AppState {
    pub metrics: Arc<Metrics>,
    /// Set once shutdown begins: `/health` answers 503 from then on.
    pub draining: Arc<AtomicBool>,
    pub verdicts: Arc<VerdictStream>,
    /// Fires when the server stops; open WebSocket clients are closed with a reason.
    pub shutdown: CancellationToken,
    /// The case history behind the case API; without it those routes answer 503.
    pub history: Option<Arc<dyn crate::history::HistoryStore>>,
    /// Where analyst state changes are appended.
    pub audit: Option<Arc<crate::history::audit::AuditLog>>,
    /// Runbooks and weights, for technique look-ups.
    pub policy: Arc<crate::verdict::Policy>,
    /// Who may call the guarded routes (token, hosts, origins, change rate).
    pub guard: Arc<guard::Guard>,
    /// Threat-intel enrichment for `/api/indicators/{value}` (`None`: intel disabled).
    pub enricher: Option<crate::intel::Enricher>,
    /// The loaded rules, for the console's coverage and technique pages.
    pub rules: Arc<crate::detect::RuleSet>,
}

/// The API. Serve it with `into_make_service_with_connect_info::<SocketAddr>()` so the change
/// rate is counted per peer address (without it every caller shares one budget).
pub fn router(state: AppState) -> Router {
    let guarded = cases::routes()
        .merge(session::routes())
        .merge(console::routes())
        .route("/ws", get(ws))
        .route("/api/indicators/{*value}", get(indicator))
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            guard::guard,
        ))
        .layer(DefaultBodyLimit::max(BODY_LIMIT));
    Router::new()
        .route("/health", get(health))
        .route("/metrics", get(metrics))
        .route("/api/version", get(version))
        .merge(guarded)
        .with_state(state)
}

async fn health(State(state): State<AppState>) -> Response {
    if state.draining.load(Ordering::SeqCst) {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(json!({"status": "draining"})),
        )
            .into_response()
    } else {
        (StatusCode::OK, axum::Json(json!({"status": "ok"}))).into_response()
    }
}

async fn metrics(State(state): State<AppState>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state.metrics.render(),
    )
        .into_response()
}

/// `/ws?after=<verdict_id>`: resume after the last verdict the client saw.
#[derive(Debug, Deserialize)]
struct WsQuery {
    after: Option<String>,
    /// `queue`: compact queue items instead of whole verdicts.
    view: Option<String>,
}

/// The verdict stream. A client that offers the `nightwatch.v1` subprotocol (browsers passing
/// the token as a subprotocol must) gets it selected.
async fn ws(
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<WsQuery>,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Result<Response, ApiError> {
    let view = match query.view.as_deref() {
        None | Some("verdict") => websocket::View::Verdict,
        Some("queue") => websocket::View::Queue,
        Some(v) => {
            return Err(ApiError::bad(format!(
                "view `{v}`: expected verdict or queue"
            )));
        }
    };
    let upgrade = upgrade?.protocols([guard::WS_PROTOCOL]);
    // Subscribed here, at the handshake, so nothing published from now on is missed.
    let subscription = state.verdicts.subscribe(query.after.as_deref());
    if query.after.is_some() {
        let result = if subscription.gap.is_some() {
            "gap"
        } else {
            "replayed"
        };
        state
            .metrics
            .api
            .ws_resumes
            .with_label_values(&[result])
            .inc();
    }
    Ok(upgrade.on_upgrade(move |socket| {
        websocket::serve_client(
            socket,
            subscription,
            view,
            state.shutdown.clone(),
            state.metrics.clone(),
        )
    }))
}

/// `GET /api/indicators/{value}`: the indicator's profile (cached provider answers, else
/// enriched now) and `cases`, the ids of the cases whose evidence carried it. 400 when the
/// value is no indicator, 404 when intel is disabled. Guarded like the case API.
async fn indicator(State(state): State<AppState>, ApiPath(value): ApiPath<String>) -> Response {
    let Some(enricher) = state.enricher else {
        return ApiError::not_found("threat intel is disabled").into_response();
    };
    match crate::intel::Indicator::parse(&value, enricher.extract_settings()) {
        Some(ind) => {
            let profile = enricher.profile(&ind).await;
            let mut doc = serde_json::to_value(&profile).unwrap_or_else(|_| json!({}));
            if let (Some(h), Some(obj)) = (state.history.clone(), doc.as_object_mut()) {
                let value = ind.value.clone();
                let cases = tokio::task::spawn_blocking(move || h.cases_for_indicator(&value))
                    .await
                    .ok()
                    .and_then(Result::ok)
                    .unwrap_or_default();
                obj.insert("cases".into(), json!(cases));
            }
            axum::Json(doc).into_response()
        }
        None => {
            ApiError::bad("not an indicator (public ip, domain, url, email, md5, sha1, sha256)")
                .into_response()
        }
    }
}

async fn version() -> Response {
    axum::Json(json!({
        "name": env!("CARGO_PKG_NAME"),
        "version": env!("CARGO_PKG_VERSION"),
        "verdict_schema": crate::verdict::SCHEMA,
    }))
    .into_response()
}
