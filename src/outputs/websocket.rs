//! The `/ws` verdict stream.
//!
//! Every verdict goes into a broadcast ring of `api.ws_max_lag` entries; each connected client
//! reads the ring at its own pace. The pipeline never waits for a client: one that falls more
//! than the ring's length behind, or that stops reading long enough for a send to stall, is
//! closed with a reason (`lagging` or `stalled`) and counted.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, WebSocket, close_code};
use tokio::sync::broadcast::{self, error::RecvError};
use tokio_util::sync::CancellationToken;

use crate::metrics::Metrics;

/// How long one send to a client may take before the client counts as stalled.
const SEND_TIMEOUT: Duration = Duration::from_secs(10);

/// Streams verdicts to one client until it disconnects, lags, stalls, or the server stops.
pub async fn serve_client(
    mut socket: WebSocket,
    mut verdicts: broadcast::Receiver<Arc<str>>,
    shutdown: CancellationToken,
    metrics: Arc<Metrics>,
) {
    metrics.ws_clients.inc();
    let reason = loop {
        let next = tokio::select! {
            _ = shutdown.cancelled() => break Some((close_code::AWAY, "server shutting down".to_owned(), "shutdown")),
            next = verdicts.recv() => next,
            incoming = socket.recv() => match incoming {
                // Clients only listen; pings are answered by axum, anything else is ignored.
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break None,
                Some(Ok(_)) => continue,
            },
        };
        match next {
            Ok(json) => {
                let send = socket.send(Message::Text(json.as_ref().into()));
                match tokio::time::timeout(SEND_TIMEOUT, send).await {
                    Ok(Ok(())) => {}
                    Ok(Err(_)) => break None,
                    Err(_) => {
                        break Some((
                            close_code::AGAIN,
                            "stalled: not reading verdicts".to_owned(),
                            "stalled",
                        ));
                    }
                }
            }
            Err(RecvError::Lagged(n)) => {
                break Some((
                    close_code::AGAIN,
                    format!("lagging: fell {n} verdicts behind"),
                    "lagging",
                ));
            }
            Err(RecvError::Closed) => {
                break Some((
                    close_code::AWAY,
                    "verdict stream ended".to_owned(),
                    "shutdown",
                ));
            }
        }
    };
    if let Some((code, text, label)) = reason {
        metrics.ws_disconnects.with_label_values(&[label]).inc();
        tracing::debug!(reason = %text, "closing websocket client");
        let frame = CloseFrame {
            code,
            reason: text.into(),
        };
        let _ = tokio::time::timeout(SEND_TIMEOUT, socket.send(Message::Close(Some(frame)))).await;
    }
    metrics.ws_clients.dec();
}
