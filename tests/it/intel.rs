//! Threat intel through the real binary: `nightwatch enrich` on the offline feeds alone (no
//! keys, no network), and `GET /api/indicators/{value}` of the daemon.

use crate::helpers::{Daemon, fixture, http_get, run, stdout_lines};

fn config(dir: &std::path::Path) -> std::path::PathBuf {
    let path = dir.join("n.toml");
    std::fs::write(
        &path,
        format!(
            "[state]\ndir = \"{}\"\n[intel]\ndocumentation_as_internal = false\nfeeds = [\"{}\"]\n",
            dir.join("state").display(),
            fixture("intel/feeds").display()
        ),
    )
    .unwrap();
    path
}

#[test]
fn enrich_profiles_values_from_the_offline_feeds_alone() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path());
    let cfg = cfg.display().to_string();
    let out = run(&[
        "enrich",
        "--config",
        &cfg,
        "203[.]0[.]113[.]10",
        "8.8.4.4",
        "hxxp://bad-site[.]com/login[.]php",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let profiles = stdout_lines(&out);
    assert_eq!(profiles.len(), 3);
    assert_eq!(profiles[0]["indicator"], "203.0.113.10");
    assert_eq!(profiles[0]["tier"], "HIGH");
    assert_eq!(profiles[0]["sources"][0]["source"], "offline_feeds");
    assert_eq!(profiles[1]["tier"], "UNKNOWN");
    assert_eq!(profiles[2]["kind"], "url");
    assert_eq!(profiles[2]["tier"], "HIGH");

    let table = run(&[
        "enrich",
        "--config",
        &cfg,
        "--format",
        "table",
        "203.0.113.10",
    ]);
    let text = String::from_utf8_lossy(&table.stdout);
    assert!(
        text.contains("HIGH") && text.contains("offline_feeds"),
        "{text}"
    );

    let bad = run(&["enrich", "--config", &cfg, "not-an-indicator"]);
    assert_eq!(bad.status.code(), Some(2));
}

#[test]
fn the_api_serves_indicator_profiles() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path());
    let daemon = Daemon::start(&["--config", &cfg.display().to_string()], &[]);
    let (status, body) = http_get(daemon.addr, "/api/indicators/203.0.113.12");
    assert_eq!(status, 200, "{body}");
    let p: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(p["tier"], "HIGH");
    assert!(
        p["sources"][0]["detail"]
            .as_str()
            .unwrap()
            .contains("TestLoader")
    );
    let (status, _) = http_get(daemon.addr, "/api/indicators/readme.md");
    assert_eq!(status, 400);
    let (_, metrics) = http_get(daemon.addr, "/metrics");
    assert!(
        metrics.contains("nightwatch_intel_feed_indicators{feed=\"feodo\"} 3"),
        "{metrics}"
    );
    daemon.terminate(std::time::Duration::from_secs(20));
}
