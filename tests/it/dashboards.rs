//! The Grafana dashboard and the Prometheus alerts may only use metrics the daemon exports.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use crate::helpers::{Daemon, http_get};

fn metric_names(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let bytes = text.as_bytes();
    let mut i = 0;
    while let Some(pos) = text[i..].find("nightwatch_") {
        let start = i + pos;
        let mut end = start;
        while end < bytes.len() && (bytes[end].is_ascii_alphanumeric() || bytes[end] == b'_') {
            end += 1;
        }
        names.insert(text[start..end].to_owned());
        i = end;
    }
    names
}

#[test]
fn dashboard_and_alerts_only_use_exported_metrics() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("dashboards");
    let dashboard = std::fs::read_to_string(root.join("grafana/nightwatch.json")).unwrap();
    let parsed: serde_json::Value = serde_json::from_str(&dashboard).expect("dashboard is JSON");
    assert_eq!(parsed["uid"], "nightwatch-overview");
    assert!(parsed["panels"].as_array().unwrap().len() > 10);
    let alerts = std::fs::read_to_string(root.join("prometheus/alerts.yml")).unwrap();
    let used: BTreeSet<String> = metric_names(&dashboard)
        .into_iter()
        .chain(metric_names(&alerts))
        .collect();

    let daemon = Daemon::start(&[], &[]);
    let (status, exposition) = http_get(daemon.addr, "/metrics");
    assert_eq!(status, 200);
    // Family names from `# TYPE name kind`; histograms also expose _bucket, _sum and _count.
    let mut exported = BTreeSet::new();
    for line in exposition.lines().filter_map(|l| l.strip_prefix("# TYPE ")) {
        let mut parts = line.split_whitespace();
        let (Some(name), Some(kind)) = (parts.next(), parts.next()) else {
            continue;
        };
        exported.insert(name.to_owned());
        if kind == "histogram" {
            for suffix in ["_bucket", "_sum", "_count"] {
                exported.insert(format!("{name}{suffix}"));
            }
        }
    }
    let missing: Vec<&String> = used.difference(&exported).collect();
    assert!(
        missing.is_empty(),
        "dashboard/alerts use metrics the daemon does not export: {missing:?}"
    );
    assert!(used.len() >= 15, "{used:?}");
    let (code, _) = daemon.terminate(Duration::from_secs(30));
    assert_eq!(code, 0);
}

#[test]
fn alerts_and_the_compose_scrape_config_pass_promtool() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let alerts = root.join("dashboards/prometheus/alerts.yml");
    let Ok(version) = std::process::Command::new("promtool")
        .arg("--version")
        .output()
    else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI is set but promtool is missing (.ci/run installs Debian's prometheus)"
        );
        println!("note: promtool not installed; alerts checked by the metric-name test only");
        return;
    };
    assert!(version.status.success());
    let out = std::process::Command::new("promtool")
        .args(["check", "rules"])
        .arg(&alerts)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // The compose stack's Prometheus config, with its rule file pointed at the real alerts.
    let tmp = tempfile::tempdir().unwrap();
    let config = std::fs::read_to_string(root.join("deploy/compose/prometheus.yml"))
        .unwrap()
        .replace("/etc/prometheus/rules/alerts.yml", alerts.to_str().unwrap());
    let path = tmp.path().join("prometheus.yml");
    std::fs::write(&path, config).unwrap();
    let out = std::process::Command::new("promtool")
        .args(["check", "config"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
