//! The Grafana dashboard and the Prometheus alerts may only use metrics the daemon exports; the
//! dashboard keeps the structure Grafana provisions; the alerts pass promtool and its unit tests.

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

    // Every optional part on, so its series exist: a Kafka input, a syslog listener, a webhook
    // output and a threat-intel provider, each pointed at a closed loopback port (the discard
    // port) or port 0: nothing is reached, the series are created when each part starts.
    let tmp = tempfile::tempdir().unwrap();
    let config = tmp.path().join("nightwatch.toml");
    std::fs::write(
        &config,
        format!(
            r#"
[state]
dir = "{state}"
[inputs.stream]
type = "kafka"
brokers = "127.0.0.1:9"
group_id = "dashboard-test"
topics = ["telemetry"]
[inputs.net]
type = "syslog"
listen = "127.0.0.1:0"
protocol = "tcp"
[outputs.soar]
type = "webhook"
url = "http://127.0.0.1:9/alert"
[intel.providers.internetdb]
enabled = true
base_url = "http://127.0.0.1:9"
"#,
            state = tmp.path().join("state").display()
        ),
    )
    .unwrap();
    let daemon = Daemon::start(&["--config", config.to_str().unwrap()], &[]);
    // The inputs register their series when their tasks start, just after the API listens.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let exposition = loop {
        let (status, text) = http_get(daemon.addr, "/metrics");
        assert_eq!(status, 200);
        // Each listed family is created by a different input task, in no fixed order.
        if text.contains("nightwatch_kafka_messages_total{")
            && text.contains("nightwatch_input_records_total{")
            && text.contains("nightwatch_input_dropped_total{")
        {
            // A scrape gathers families one by one (in name order) while an input may be
            // registering its series: `…_kafka_messages_total` can be in this scrape while
            // `…_kafka_consumer_events_total`, gathered before it, was not yet. Every
            // registration seen started has finished by the next scrape.
            std::thread::sleep(Duration::from_millis(100));
            break http_get(daemon.addr, "/metrics").1;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "input series never appeared"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    // The LLM summary worker is not started by the daemon yet (`llm::start` has no caller), so
    // its series are checked against the library's registry with the worker's series created.
    let library = nightwatch::metrics::Metrics::new().unwrap();
    library.llm.register("gemini");
    let llm_families = library.render();
    let llm = llm_families
        .lines()
        .filter(|l| l.starts_with("# TYPE nightwatch_llm_"));
    // Family names from `# TYPE name kind`; histograms also expose _bucket, _sum and _count.
    let mut exported = BTreeSet::new();
    for line in exposition
        .lines()
        .chain(llm)
        .filter_map(|l| l.strip_prefix("# TYPE "))
    {
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
    assert!(used.len() >= 50, "{used:?}");
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

#[test]
fn alert_unit_tests_pass_promtool() {
    let tests = Path::new(env!("CARGO_MANIFEST_DIR")).join("dashboards/prometheus/alerts_test.yml");
    let Ok(out) = std::process::Command::new("promtool")
        .args(["test", "rules"])
        .arg(&tests)
        .output()
    else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI is set but promtool is missing (.ci/run installs Debian's prometheus)"
        );
        println!("note: promtool not installed; alert unit tests not run");
        return;
    };
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Grafana publishes no JSON schema for dashboards (its schema is CUE inside Grafana), so this
/// checks the structure provisioning relies on: a stable uid, the datasource as a variable used
/// by every panel and query, panels on the 24-column grid without overlaps, unique ids, and a
/// row for each area an operator looks at.
#[test]
fn dashboard_structure_is_provisionable() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("dashboards/grafana");
    let text = std::fs::read_to_string(root.join("nightwatch.json")).unwrap();
    let d: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(d["uid"], "nightwatch-overview");
    assert!(d["title"].is_string() && d["schemaVersion"].as_u64().unwrap() >= 36);
    assert!(
        d.get("id").is_none_or(|id| id.is_null()),
        "provisioned dashboards carry no id"
    );
    let vars = d["templating"]["list"].as_array().unwrap();
    let ds = vars
        .iter()
        .find(|v| v["name"] == "datasource")
        .expect("datasource variable");
    assert_eq!(ds["type"], "datasource");
    assert_eq!(ds["query"], "prometheus");

    let panels = d["panels"].as_array().unwrap();
    let mut ids = BTreeSet::new();
    let mut cells: Vec<(u64, u64, u64, u64, String)> = Vec::new();
    let mut rows = Vec::new();
    for p in panels {
        let title = p["title"].as_str().unwrap().to_owned();
        assert!(
            ids.insert(p["id"].as_u64().unwrap()),
            "duplicate id at {title}"
        );
        let g = &p["gridPos"];
        let [x, y, w, h] = ["x", "y", "w", "h"].map(|k| g[k].as_u64().unwrap());
        assert!(w > 0 && h > 0 && x + w <= 24, "{title}: gridPos {g}");
        for (ox, oy, ow, oh, other) in &cells {
            let apart = x + w <= *ox || *ox + ow <= x || y + h <= *oy || *oy + oh <= y;
            assert!(apart, "{title} overlaps {other}");
        }
        cells.push((x, y, w, h, title.clone()));
        if p["type"] == "row" {
            rows.push(title);
            continue;
        }
        assert!(
            ["timeseries", "stat"].contains(&p["type"].as_str().unwrap()),
            "{title}"
        );
        assert_eq!(p["datasource"]["uid"], "${datasource}", "{title}");
        let targets = p["targets"].as_array().unwrap();
        assert!(!targets.is_empty(), "{title} has no query");
        let mut ref_ids = BTreeSet::new();
        for t in targets {
            assert_eq!(t["datasource"]["uid"], "${datasource}", "{title}");
            assert!(ref_ids.insert(t["refId"].as_str().unwrap()), "{title}");
            let expr = t["expr"].as_str().unwrap();
            assert!(expr.contains("nightwatch_"), "{title}: {expr}");
            assert_eq!(
                expr.matches('(').count(),
                expr.matches(')').count(),
                "{title}: {expr}"
            );
        }
    }
    for wanted in [
        "Throughput",
        "Errors and drops",
        "Queues",
        "Latency",
        "Detection",
        "Cases and verdicts",
        "Outputs",
        "Kafka consumer",
        "Enrichment",
        "LLM summaries",
        "Process",
    ] {
        assert!(
            rows.iter().any(|r| r == wanted),
            "no row {wanted}: {rows:?}"
        );
    }
    let provisioning = std::fs::read_to_string(root.join("provisioning.yml")).unwrap();
    let docs = yaml_rust2::YamlLoader::load_from_str(&provisioning).unwrap();
    assert_eq!(docs[0]["apiVersion"].as_i64(), Some(1));
    assert_eq!(docs[0]["providers"][0]["type"].as_str(), Some("file"));
    assert!(
        docs[0]["providers"][0]["options"]["path"]
            .as_str()
            .is_some()
    );
}
