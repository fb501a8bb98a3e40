//! The daemon: demo verdicts over a real WebSocket, metrics, health, graceful shutdown.

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use tokio_tungstenite::tungstenite::Message;

use crate::helpers::{Daemon, http_get};

#[test]
fn demo_verdicts_arrive_on_the_websocket_and_metrics_show_every_stage() {
    let daemon = Daemon::start(
        &["--demo"],
        &[("NIGHTWATCH__DEMO__EVENTS_PER_SECOND", "500")],
    );
    let (status, body) = http_get(daemon.addr, "/health");
    assert_eq!(status, 200, "{body}");
    let (status, body) = http_get(daemon.addr, "/api/version");
    assert_eq!(status, 200);
    assert!(body.contains("nightwatch.verdict.v1"), "{body}");

    let url = format!("ws://{}/ws", daemon.addr);
    let started = Instant::now();
    let verdict: serde_json::Value = tokio::runtime::Runtime::new().unwrap().block_on(async {
        let (mut ws, _) = tokio_tungstenite::connect_async(&url)
            .await
            .expect("ws connect");
        let msg = tokio::time::timeout(Duration::from_secs(20), async {
            loop {
                match ws.next().await {
                    Some(Ok(Message::Text(t))) => return t.to_string(),
                    Some(Ok(_)) => continue,
                    other => panic!("websocket ended: {other:?}"),
                }
            }
        })
        .await
        .expect("a verdict within 20 s");
        serde_json::from_str(&msg).unwrap()
    });
    eprintln!("first verdict after {:?}", started.elapsed());
    assert_eq!(verdict["schema"], "nightwatch.verdict.v1");
    assert!(!verdict["findings"].as_array().unwrap().is_empty());

    let (_, metrics) = http_get(daemon.addr, "/metrics");
    for series in [
        "nightwatch_stage_received_total{stage=\"parse\"}",
        "nightwatch_stage_sent_total{stage=\"detect\"}",
        "nightwatch_stage_processing_seconds_bucket{stage=\"detect\"",
        "nightwatch_channel_depth{channel=\"raw\"}",
        "nightwatch_verdicts_total{",
        "nightwatch_ingest_to_verdict_seconds_count",
        "nightwatch_rules_loaded",
        "nightwatch_process_resident_memory_bytes",
    ] {
        assert!(metrics.contains(series), "missing {series}");
    }
    for line in metrics
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        assert!(line.starts_with("nightwatch_"), "{line}");
    }
    let (code, _) = daemon.terminate(Duration::from_secs(30));
    assert_eq!(code, 0);
}

#[test]
fn sigterm_drains_the_pipeline_into_the_outputs_and_exits_0() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("verdicts.jsonl");
    let logs = crate::helpers::fixture("logs");
    let rules = crate::helpers::fixture("rules");
    let config = dir.path().join("n.toml");
    std::fs::write(
        &config,
        format!(
            "[rules]\npaths = [{rules:?}]\n[cases]\nupdate_interval_secs = 3600\n[inputs.evidence]\ntype = \"file\"\npaths = [{logs:?}]\n[outputs.archive]\ntype = \"jsonl\"\npath = {out:?}\n",
            rules = rules.display().to_string(),
            logs = logs.display().to_string(),
            out = out.display().to_string(),
        ),
    )
    .unwrap();
    let daemon = Daemon::start(&["--config", &config.display().to_string()], &[]);
    // Wait until every fixture event has been parsed (the bad line is counted apart).
    let expected = 12; // 6 NDJSON + 2 XML + 4 Zeek events
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (_, m) = http_get(daemon.addr, "/metrics");
        let parsed = m
            .lines()
            .find_map(|l| l.strip_prefix("nightwatch_stage_sent_total{stage=\"parse\"} "))
            .and_then(|v| v.trim().parse::<u64>().ok())
            .unwrap_or(0);
        if parsed >= expected {
            break;
        }
        assert!(Instant::now() < deadline, "file input not processed:\n{m}");
        std::thread::sleep(Duration::from_millis(100));
    }
    let (code, log) = daemon.terminate(Duration::from_secs(30));
    assert_eq!(code, 0, "{log:?}");
    assert!(log.iter().any(|l| l.contains("drained")), "{log:?}");
    let written = std::fs::read_to_string(&out).unwrap();
    let hosts: Vec<String> = written
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["host"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    // Each host's case was published at once when it opened; the final drain published the
    // updated WS-FIN-07 case as version 2 (the update interval was too long to fire first).
    assert!(
        hosts.contains(&"WS-FIN-07.corp.example".to_owned()),
        "{hosts:?}"
    );
    let fin_versions: Vec<u64> = written
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|v| v["host"] == "WS-FIN-07.corp.example")
        .map(|v| v["version"].as_u64().unwrap())
        .collect();
    assert_eq!(fin_versions.last(), Some(&2), "{written}");
}

#[test]
fn stdin_ndjson_flows_to_a_jsonl_output() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("verdicts.jsonl");
    let rules = crate::helpers::fixture("rules");
    let config = dir.path().join("n.toml");
    std::fs::write(
        &config,
        format!(
            "[rules]\npaths = [{rules:?}]\n[inputs.pipe]\ntype = \"stdin\"\n[outputs.archive]\ntype = \"jsonl\"\npath = {out:?}\n",
            rules = rules.display().to_string(),
            out = out.display().to_string(),
        ),
    )
    .unwrap();
    let events = std::fs::read(crate::helpers::fixture("logs/ws-fin-07.jsonl")).unwrap();
    let daemon = Daemon::start_with_stdin(
        &["--config", &config.display().to_string()],
        &[],
        Some(events),
    );
    // Every case is published as soon as it opens; wait for both hosts' first verdicts.
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::fs::read_to_string(&out)
        .map(|t| t.lines().count())
        .unwrap_or(0)
        < 2
    {
        assert!(Instant::now() < deadline, "no verdicts from stdin input");
        std::thread::sleep(Duration::from_millis(100));
    }
    let (_, metrics) = http_get(daemon.addr, "/metrics");
    assert!(
        metrics.contains("nightwatch_parse_errors_total{format=\"json\"} 1"),
        "the garbage line is counted"
    );
    let (code, _) = daemon.terminate(Duration::from_secs(30));
    assert_eq!(code, 0);
    let hosts: std::collections::BTreeSet<String> = std::fs::read_to_string(&out)
        .unwrap()
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["host"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(hosts.len(), 2, "{hosts:?}");
}
