//! The daemon's demo with two threat-intel providers and a Gemini endpoint behind one local
//! mock server (the project's fixtures): verdicts on `/ws` cite their indicators with a
//! per-source breakdown, and advisory summaries arrive afterwards as new versions of the same
//! cases. Internal addresses are never sent out, and no key appears in the daemon's log. (The
//! demo's command-and-control traffic matches no rule, so the indicators its cases cite are
//! the dropped files' hashes: VirusTotal and MalwareBazaar both know them.)

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use tokio_tungstenite::tungstenite::Message;

use crate::helpers::{Daemon, fixture};

const VT_KEY: &str = "vt-key-3e1c9a77";
const BAZAAR_KEY: &str = "bazaar-key-51d0b2c4";
const LLM_KEY: &str = "llm-key-0b9e44f1";

/// Requests the mock saw: path and query.
type Seen = Arc<Mutex<Vec<String>>>;

fn body(rel: &str) -> String {
    std::fs::read_to_string(fixture(rel)).unwrap()
}

/// One server for every provider and the model, routed by path; a wrong key is refused.
async fn mock() -> (std::net::SocketAddr, Seen) {
    let seen: Seen = Arc::default();
    let log = seen.clone();
    let app = axum::Router::new().fallback(
        move |uri: axum::http::Uri, headers: axum::http::HeaderMap| {
            let log = log.clone();
            async move {
                let path = uri.path().to_owned();
                log.lock().unwrap().push(
                    uri.path_and_query()
                        .map(|p| p.to_string())
                        .unwrap_or_default(),
                );
                let header = |h: &str| {
                    headers
                        .get(h)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("")
                        .to_owned()
                };
                let (status, text) = if path.starts_with("/api/v3/") {
                    if header("x-apikey") != VT_KEY {
                        (401, body("intel/virustotal/error_bad_key_401.json"))
                    } else if path.starts_with("/api/v3/files/") {
                        (200, body("intel/virustotal/file_malicious.json"))
                    } else {
                        (404, body("intel/virustotal/error_not_found_404.json"))
                    }
                } else if path.starts_with("/api/v1") {
                    if header("auth-key") != BAZAAR_KEY {
                        (200, body("intel/malwarebazaar/unknown_auth_key.json"))
                    } else {
                        (200, body("intel/malwarebazaar/get_info_malicious.json"))
                    }
                } else if path.ends_with(":generateContent") {
                    if header("x-goog-api-key") != LLM_KEY {
                        (403, "{}".to_owned())
                    } else {
                        (200, body("llm/gemini/summary_ok.json"))
                    }
                } else {
                    (404, "{}".to_owned())
                };
                (
                    axum::http::StatusCode::from_u16(status).unwrap(),
                    [("content-type", "application/json")],
                    text,
                )
            }
        },
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (addr, seen)
}

fn config(dir: &std::path::Path, mock: std::net::SocketAddr) -> std::path::PathBuf {
    let url = format!("http://{mock}");
    let text = format!(
        r#"
[state]
dir = "{state}"

[cases]
update_interval_secs = 1

[demo]
events_per_second = 3000

[intel]
# The demo's command-and-control addresses are in documentation ranges.
documentation_as_internal = false

[intel.providers.virustotal]
api_key = "{VT_KEY}"
base_url = "{url}"
# The free tier allows 4 a minute; the mock has no limit.
requests_per_minute = 6000.0
burst = 100

[intel.providers.malwarebazaar]
api_key = "{BAZAAR_KEY}"
base_url = "{url}"
requests_per_minute = 6000.0
burst = 100

[llm]
backend = "gemini"
endpoint = "{url}/v1beta"
model = "gemini-test"
api_key = "{LLM_KEY}"
"#,
        state = dir.join("state").display()
    );
    let path = dir.join("nightwatch.toml");
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn demo_verdicts_carry_source_breakdowns_then_summaries_as_new_versions() {
    let dir = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (addr, seen) = rt.block_on(mock());
    let cfg = config(dir.path(), addr);
    let daemon = Daemon::start(&["--config", cfg.to_str().unwrap(), "--demo"], &[]);
    let (breakdown, summarized) = rt.block_on(async {
        let url = format!("ws://{}/ws", daemon.addr);
        let (mut ws, _) = tokio_tungstenite::connect_async(&url).await.unwrap();
        // Per case: the first version seen, and the first version carrying a summary.
        let mut first: std::collections::HashMap<String, u64> = Default::default();
        let mut breakdown: Option<serde_json::Value> = None;
        let mut summarized: Option<(u64, serde_json::Value)> = None;
        let deadline = Instant::now() + Duration::from_secs(90);
        while breakdown.is_none() || summarized.is_none() {
            let left = deadline.saturating_duration_since(Instant::now());
            let msg = match tokio::time::timeout(left, ws.next()).await {
                Ok(Some(Ok(Message::Text(t)))) => t.to_string(),
                Ok(Some(Ok(_))) => continue,
                other => panic!(
                    "no breakdown ({}) or summary ({}) before the stream ended: {other:?}",
                    breakdown.is_some(),
                    summarized.is_some()
                ),
            };
            let v: serde_json::Value = serde_json::from_str(&msg).unwrap();
            let case = v["case_id"].as_str().unwrap_or_default().to_owned();
            let version = v["version"].as_u64().unwrap_or(0);
            let earliest = *first.entry(case.clone()).or_insert(version);
            if breakdown.is_none()
                && let Some(ind) = v["indicators"].as_array().and_then(|list| {
                    list.iter().find(|i| {
                        i["sources"].as_array().is_some_and(|s| {
                            s.iter().any(|o| o["source"] == "virustotal")
                                && s.iter().any(|o| o["source"] == "malwarebazaar")
                        })
                    })
                })
            {
                breakdown = Some(ind.clone());
            }
            if summarized.is_none() && v.get("summary").is_some_and(|s| !s.is_null()) {
                assert!(
                    version > earliest,
                    "a summary is a later version of a case already published"
                );
                summarized = Some((earliest, v));
            }
        }
        (breakdown.unwrap(), summarized.unwrap())
    });

    // The breakdown: both providers' opinions, the consensus tier and score.
    let sources = breakdown["sources"].as_array().unwrap();
    for s in sources {
        if s["source"] == "virustotal" || s["source"] == "malwarebazaar" {
            assert_eq!(s["opinion"], "malicious", "{breakdown}");
        }
    }
    assert!(
        ["CRITICAL", "HIGH"].contains(&breakdown["tier"].as_str().unwrap()),
        "{breakdown}"
    );
    assert!(breakdown["score"].as_u64().unwrap() >= 65, "{breakdown}");

    // The summary: advisory text, bound to the version it was written for, never scored.
    let (earliest, v) = summarized;
    let summary = &v["summary"];
    assert!(
        summary["executive_summary"]
            .as_str()
            .unwrap()
            .contains("PowerShell"),
        "{summary}"
    );
    let written_for = summary["case_version"].as_u64().unwrap();
    assert!(written_for >= earliest && written_for < v["version"].as_u64().unwrap());
    assert!(!summary["model"].as_str().unwrap().is_empty(), "{summary}");

    // Only external indicators left the daemon; keys never reached its log.
    let requests = seen.lock().unwrap().clone();
    assert!(requests.iter().any(|r| r.contains(":generateContent")));
    assert!(
        requests.iter().all(|r| !r.contains("10.10.")),
        "an internal address was sent to a provider: {requests:?}"
    );
    let (_, log) = daemon.terminate(Duration::from_secs(30));
    let log = log.join("\n");
    for key in [VT_KEY, BAZAAR_KEY, LLM_KEY] {
        assert!(!log.contains(key), "a key reached the log");
    }
}
