//! Cases end to end: the demo scenario's verdicts, and the case API across a daemon restart
//! (cases, indexes, feedback and the audit log survive).

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::helpers::{Daemon, http_get, http_request, run, stdout_lines};

/// Hosts the demo attack compromises, and techniques each incident must show.
const COMPROMISED: &[(&str, &[&str])] = &[
    (
        "WS-FIN-07.corp.example",
        &["T1003.001", "T1059.001", "T1053.005"],
    ),
    ("SRV-FILE-01.corp.example", &["T1021.002", "T1569.002"]),
];

fn demo_file(dir: &std::path::Path) -> std::path::PathBuf {
    let path = dir.join("demo.ndjson");
    let out = run(&[
        "demo",
        "generate",
        "--events",
        "3000",
        "--out",
        &path.display().to_string(),
    ]);
    assert!(out.status.success(), "{out:?}");
    path
}

fn rules() -> String {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("rules")
        .display()
        .to_string()
}

#[test]
fn scan_of_the_demo_gives_one_incident_per_compromised_host_and_none_for_benign_hosts() {
    let dir = tempfile::tempdir().unwrap();
    let demo = demo_file(dir.path());
    let out = run(&["scan", "--rules", &rules(), &demo.display().to_string()]);
    assert!(out.status.success(), "{out:?}");
    let verdicts = stdout_lines(&out);
    let mut incidents: BTreeMap<String, Vec<&Value>> = BTreeMap::new();
    for v in &verdicts {
        if v["conclusion"] == "incident" {
            incidents
                .entry(v["host"].as_str().unwrap().to_owned())
                .or_default()
                .push(v);
        }
    }
    let expected: BTreeSet<String> = COMPROMISED.iter().map(|(h, _)| h.to_string()).collect();
    assert_eq!(
        incidents.keys().cloned().collect::<BTreeSet<_>>(),
        expected,
        "incidents only on the compromised hosts"
    );
    for (host, techniques) in COMPROMISED {
        let cases = &incidents[*host];
        assert_eq!(cases.len(), 1, "one incident case for {host}");
        let v = cases[0];
        let got: BTreeSet<&str> = v["attack"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["technique_id"].as_str().unwrap())
            .collect();
        for t in *techniques {
            assert!(got.contains(t), "{host}: {t} missing from {got:?}");
        }
        // The verdict explains itself and says what to do.
        assert_eq!(v["stage"], "recommend", "{host}");
        assert!(!v["next_steps"].as_array().unwrap().is_empty());
        assert!(v["reasoning"].as_array().unwrap().len() >= 3);
        let stages: Vec<&str> = v["timeline"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["stage"].as_str().unwrap())
            .collect();
        assert_eq!(stages, ["triage", "investigate", "validate", "recommend"]);
    }
}

fn config(dir: &std::path::Path, with_stdin: bool) -> std::path::PathBuf {
    let state = dir.join("state");
    let path = dir.join(if with_stdin {
        "feed.toml"
    } else {
        "serve.toml"
    });
    let input = if with_stdin {
        "[inputs.pipe]\ntype = \"stdin\"\n"
    } else {
        ""
    };
    std::fs::write(
        &path,
        format!(
            "[rules]\npaths = [{rules:?}]\n[cases]\nupdate_interval_secs = 1\n{input}[state]\ndir = {state:?}\n",
            rules = rules(),
            state = state.display().to_string(),
        ),
    )
    .unwrap();
    path
}

fn json(body: &str) -> Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON: {body}: {e}"))
}

fn incident_on(addr: std::net::SocketAddr, host: &str) -> Option<Value> {
    let (code, body) = http_get(addr, &format!("/api/cases?conclusion=incident&host={host}"));
    assert_eq!(code, 200, "{body}");
    json(&body)["cases"].as_array().unwrap().first().cloned()
}

/// The incident case of `host` once runbook steps are attached (within 60 s).
fn wait_for_incident(addr: std::net::SocketAddr, host: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(c) = incident_on(addr, host)
            && c["stage"] == "recommend"
        {
            return c;
        }
        assert!(Instant::now() < deadline, "no incident case for {host}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn cases_indexes_and_feedback_survive_a_daemon_restart() {
    let dir = tempfile::tempdir().unwrap();
    let demo = std::fs::read(demo_file(dir.path())).unwrap();
    let feed = config(dir.path(), true);
    let daemon =
        Daemon::start_with_stdin(&["--config", &feed.display().to_string()], &[], Some(demo));
    let fin = "WS-FIN-07.corp.example";
    let case = wait_for_incident(daemon.addr, fin);
    let id = case["case_id"].as_str().unwrap().to_owned();

    // Bad requests are JSON errors.
    let (code, body) = http_get(daemon.addr, "/api/cases?severity=huge");
    assert_eq!(code, 400);
    assert_eq!(json(&body)["code"], "bad_request");
    let (code, body) = http_get(daemon.addr, "/api/cases/nope");
    assert_eq!(
        (code, json(&body)["code"].clone()),
        (404, "not_found".into())
    );
    let (code, _) = http_request(
        daemon.addr,
        "POST",
        &format!("/api/cases/{id}/feedback"),
        &[],
        r#"{"disposition": "maybe"}"#,
    );
    assert_eq!(code, 400);

    let (code, body) = http_request(
        daemon.addr,
        "POST",
        &format!("/api/cases/{id}/feedback"),
        &[("X-Analyst", "alice")],
        r#"{"disposition": "true_positive", "note": "confirmed with the user"}"#,
    );
    assert_eq!(code, 200, "{body}");
    assert_eq!(json(&body)["case"]["stage"], "respond");
    let (code, t) = http_get(daemon.addr, "/api/attack/techniques/T1003.001");
    assert_eq!(code, 200);
    assert_eq!(json(&t)["name"], "LSASS Memory");
    let (code, _) = daemon.terminate(Duration::from_secs(30));
    assert_eq!(code, 0);

    // Restart on the same state directory, without input.
    let serve = config(dir.path(), false);
    let daemon = Daemon::start(&["--config", &serve.display().to_string()], &[]);
    let (code, body) = http_get(daemon.addr, &format!("/api/cases/{id}"));
    assert_eq!(code, 200, "{body}");
    let shown = json(&body);
    assert_eq!(shown["case"]["disposition"], "true_positive");
    assert_eq!(shown["case"]["feedback"][0]["analyst"], "alice");
    assert!(shown["verdict"]["score"].as_u64().unwrap() >= 60);
    assert!(!shown["events"].as_array().unwrap().is_empty());
    assert!(!shown["versions"].as_array().unwrap().is_empty());
    assert!(
        shown["timeline"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["actor"] == "alice" && e["stage"] == "respond")
    );
    // The host index.
    let (code, body) = http_get(daemon.addr, &format!("/api/hosts/{fin}"));
    assert_eq!(code, 200, "{body}");
    let host = json(&body);
    assert_eq!(host["compromised_before"], true);
    assert!(
        host["cases"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["case_id"] == id.as_str())
    );
    // Closing is audited too.
    let (code, body) = http_request(
        daemon.addr,
        "POST",
        &format!("/api/cases/{id}/close"),
        &[],
        r#"{"analyst": "bob", "note": "contained"}"#,
    );
    assert_eq!(code, 200, "{body}");
    assert_eq!(json(&body)["case"]["status"], "closed");
    let (code, _) = daemon.terminate(Duration::from_secs(30));
    assert_eq!(code, 0);

    let audit = std::fs::read_to_string(dir.path().join("state/audit.jsonl")).unwrap();
    let entries: Vec<Value> = audit.lines().map(json).collect();
    assert_eq!(entries.len(), 2, "{audit}");
    assert_eq!(entries[0]["action"], "feedback");
    assert_eq!(entries[0]["actor"], "alice");
    assert_eq!(
        entries[0]["changes"]["disposition"],
        serde_json::json!({"from": null, "to": "true_positive"})
    );
    assert_eq!(entries[1]["action"], "close");
    assert_eq!(entries[1]["changes"]["status"]["to"], "closed");

    // The history command reads the stopped daemon's store.
    let state = dir.path().join("state").display().to_string();
    let out = run(&["history", "--state-dir", &state, "list", "--json"]);
    assert!(out.status.success(), "{out:?}");
    assert!(
        stdout_lines(&out)
            .iter()
            .any(|c| c["case_id"] == id.as_str())
    );
    let export = dir.path().join("export.ndjson");
    let out = run(&[
        "history",
        "--state-dir",
        &state,
        "export",
        "--out",
        &export.display().to_string(),
    ]);
    assert!(out.status.success(), "{out:?}");
    let lines = std::fs::read_to_string(&export).unwrap();
    assert!(
        lines
            .lines()
            .any(|l| json(l)["case"]["case_id"] == id.as_str())
    );
}

#[test]
fn a_configured_token_is_required_by_the_case_api() {
    let dir = tempfile::tempdir().unwrap();
    let serve = config(dir.path(), false);
    let daemon = Daemon::start(
        &["--config", &serve.display().to_string()],
        &[("NIGHTWATCH__API__TOKEN", "s3cret-token")],
    );
    let (code, body) = http_get(daemon.addr, "/api/cases");
    assert_eq!(code, 401);
    assert_eq!(json(&body)["code"], "unauthorized");
    let (code, _) = http_request(
        daemon.addr,
        "GET",
        "/api/cases",
        &[("Authorization", "Bearer wrong")],
        "",
    );
    assert_eq!(code, 401);
    let (code, body) = http_request(
        daemon.addr,
        "GET",
        "/api/cases",
        &[("Authorization", "Bearer s3cret-token")],
        "",
    );
    assert_eq!(code, 200, "{body}");
    // Health and metrics stay open.
    assert_eq!(http_get(daemon.addr, "/health").0, 200);
    let (code, log) = daemon.terminate(Duration::from_secs(30));
    assert_eq!(code, 0);
    assert!(
        log.iter().all(|l| !l.contains("s3cret-token")),
        "token logged"
    );
}

#[test]
fn an_open_case_resumes_after_a_restart_and_later_events_join_it() {
    let dir = tempfile::tempdir().unwrap();
    let demo = std::fs::read_to_string(demo_file(dir.path())).unwrap();
    let lines: Vec<&str> = demo.lines().collect();
    // The demo's second half continues both intrusions within the hour (the case window).
    let (first, second) = lines.split_at(lines.len() / 2);
    let feed = config(dir.path(), true);
    let fin = "WS-FIN-07.corp.example";
    let cases_of = |addr, host: &str| -> Vec<Value> {
        let (code, body) = http_get(addr, &format!("/api/cases?host={host}"));
        assert_eq!(code, 200, "{body}");
        json(&body)["cases"].as_array().unwrap().clone()
    };

    let daemon = Daemon::start_with_stdin(
        &["--config", &feed.display().to_string()],
        &[],
        Some((first.join("\n") + "\n").into_bytes()),
    );
    let case = wait_for_incident(daemon.addr, fin);
    std::thread::sleep(Duration::from_secs(2)); // the last coalesced versions
    let id = case["case_id"].as_str().unwrap().to_owned();
    let (_, body) = http_get(daemon.addr, &format!("/api/cases/{id}"));
    let before = json(&body)["case"]["version"].as_u64().unwrap();
    let (code, _) = daemon.terminate(Duration::from_secs(30));
    assert_eq!(code, 0);

    // Restarted on the same state directory with the rest of the events.
    let daemon = Daemon::start_with_stdin(
        &["--config", &feed.display().to_string()],
        &[],
        Some((second.join("\n") + "\n").into_bytes()),
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    let after = loop {
        let (_, body) = http_get(daemon.addr, &format!("/api/cases/{id}"));
        let v = json(&body)["case"]["version"].as_u64().unwrap_or(0);
        if v > before {
            break json(&body);
        }
        assert!(
            Instant::now() < deadline,
            "the resumed case {id} never got a new version (still {v})"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(after["case"]["status"], "open");
    let cases = cases_of(daemon.addr, fin);
    assert_eq!(cases.len(), 1, "no second case for {fin}: {cases:#?}");
    // The versions continue: every stored version, once.
    let versions: Vec<u64> = after["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["version"].as_u64().unwrap())
        .collect();
    assert_eq!(versions, (1..=versions.len() as u64).collect::<Vec<_>>());
    let (code, log) = daemon.terminate(Duration::from_secs(30));
    assert_eq!(code, 0);
    assert!(
        log.iter()
            .any(|l| l.contains("open cases resumed from history")),
        "{log:#?}"
    );
}
