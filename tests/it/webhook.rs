//! A webhook output of the real daemon: demo verdicts reach a real HTTP receiver as TheHive
//! alerts, signed with a key the daemon read from the environment.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::helpers::{Daemon, http_get};

pub(crate) type Log = Arc<Mutex<Vec<(HeaderMap, Bytes)>>>;

/// A receiver on loopback that answers `201 Created` to every POST on `/api/v1/alert` and keeps
/// what it got.
pub(crate) async fn receiver() -> (std::net::SocketAddr, Log) {
    let log: Log = Arc::default();
    let app = axum::Router::new()
        .route(
            "/api/v1/alert",
            axum::routing::post(
                |axum::extract::State(log): axum::extract::State<Log>,
                 headers: HeaderMap,
                 body: Bytes| async move {
                    log.lock().unwrap().push((headers, body));
                    StatusCode::CREATED
                },
            ),
        )
        .with_state(log.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (addr, log)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn demo_verdicts_reach_a_thehive_webhook_signed_with_a_key_from_the_environment() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (addr, log) = rt.block_on(receiver());
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("n.toml");
    std::fs::write(
        &config,
        format!(
            "[outputs.soar]\ntype = \"webhook\"\nurl = \"http://{addr}/api/v1/alert\"\nformat = \"thehive\"\nhmac_secret_env = \"NW_IT_HOOK_KEY\"\nheaders = {{ Authorization = \"Bearer it-token\" }}\n"
        ),
    )
    .unwrap();
    let daemon = Daemon::start(
        &["--demo", "--config", &config.display().to_string()],
        &[
            ("NW_IT_HOOK_KEY", "it-key"),
            ("NIGHTWATCH__DEMO__EVENTS_PER_SECOND", "500"),
        ],
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    while log.lock().unwrap().len() < 2 {
        assert!(Instant::now() < deadline, "no alerts within 30 s");
        std::thread::sleep(Duration::from_millis(100));
    }
    let received = log.lock().unwrap().clone();
    for (headers, body) in &received {
        let mut mac = Hmac::<Sha256>::new_from_slice(b"it-key").unwrap();
        mac.update(body);
        let expected = format!("sha256={}", hex(&mac.finalize().into_bytes()));
        assert_eq!(headers["x-nightwatch-signature"], expected.as_str());
        assert_eq!(headers["authorization"], "Bearer it-token");
        let alert: serde_json::Value = serde_json::from_slice(body).unwrap();
        assert_eq!(alert["type"], "nightwatch");
        assert_eq!(alert["source"], "nightwatch");
        assert!(
            alert["sourceRef"].as_str().unwrap().contains("-v"),
            "{alert}"
        );
        assert!((1..=4).contains(&alert["severity"].as_u64().unwrap()));
        assert_eq!(alert["observables"][0]["dataType"], "hostname");
        assert!(
            alert["description"]
                .as_str()
                .unwrap()
                .contains("### Reasoning")
        );
    }
    let (_, metrics) = http_get(daemon.addr, "/metrics");
    let ok = metrics
        .lines()
        .find_map(|l| {
            l.strip_prefix("nightwatch_sink_deliveries_total{output=\"soar\",result=\"ok\"} ")
        })
        .and_then(|v| v.trim().parse::<u64>().ok())
        .unwrap_or(0);
    assert!(ok >= 2, "{metrics}");
    assert!(metrics.contains("nightwatch_sink_delivery_seconds_bucket{output=\"soar\""));
    let (code, log) = daemon.terminate(Duration::from_secs(30));
    assert_eq!(code, 0, "{log:?}");
    assert!(
        !log.iter().any(|l| l.contains("it-key")),
        "the key reached the log: {log:?}"
    );
}
