//! Same input, same detections: correlations must not depend on which parse or detect worker
//! finishes first. A correlation-heavy stream goes through `detect` and through the daemon
//! several times on every core; every run must give the same, expected output.
//!
//! The stream is built so that scheduling shows: each correlation pair sits on adjacent lines,
//! so the two events are in flight in different workers at once. Out of order, a pair 40 s apart
//! looks like one inside a 30 s window, and an ordered chain looks reversed.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::helpers::{Daemon, run, stdout_lines, wait_for, wait_metric};

const USERS: usize = 400;

fn write_rules(dir: &Path) -> PathBuf {
    let rules = dir.join("rules");
    std::fs::create_dir_all(&rules).unwrap();
    let doc = |name: &str, body: &str| std::fs::write(rules.join(name), body).unwrap();
    doc(
        "failed.yml",
        "title: Failed logon\nid: 5b0f6c2e-0000-4000-8000-000000000001\nname: failed_logon\n\
         status: test\nlevel: low\nlogsource:\n  product: windows\n  service: security\n\
         detection:\n  sel:\n    EventID: 4625\n  condition: sel\n",
    );
    doc(
        "recon.yml",
        "title: Local account enumeration\nid: 5b0f6c2e-0000-4000-8000-000000000002\nname: recon\n\
         status: test\nlevel: low\nlogsource:\n  product: windows\n  service: security\n\
         detection:\n  sel:\n    EventID: 4798\n  condition: sel\n",
    );
    doc(
        "create.yml",
        "title: Account created\nid: 5b0f6c2e-0000-4000-8000-000000000003\nname: create\n\
         status: test\nlevel: medium\nlogsource:\n  product: windows\n  service: security\n\
         detection:\n  sel:\n    EventID: 4720\n  condition: sel\n",
    );
    doc(
        "burst.yml",
        "title: Two failed logons for one user within 30 s\nid: 5b0f6c2e-0000-4000-8000-000000000010\n\
         status: test\nlevel: high\ncorrelation:\n  type: event_count\n  rules:\n    - failed_logon\n\
         \x20 group-by:\n    - TargetUserName\n  timespan: 30s\n  condition:\n    gte: 2\n",
    );
    doc(
        "chain.yml",
        "title: Enumeration then account creation by one actor\nid: 5b0f6c2e-0000-4000-8000-000000000011\n\
         status: test\nlevel: high\ncorrelation:\n  type: temporal_ordered\n  rules:\n    - recon\n    - create\n\
         \x20 group-by:\n    - SubjectUserName\n  timespan: 60s\n",
    );
    rules
}

fn line(t: i64, event_id: u32, user: &str) -> String {
    let time = chrono::DateTime::from_timestamp(1_700_000_000 + t, 0)
        .unwrap()
        .to_rfc3339();
    format!(
        r#"{{"@timestamp":"{time}","Channel":"Security","EventID":{event_id},"Computer":"ws-{user}","TargetUserName":"{user}","SubjectUserName":"{user}"}}"#
    )
}

/// Per user, in time order, pairs on adjacent lines: `slow` two failures 40 s apart (no
/// burst), `fast` 10 s apart (one burst), `chain` enumeration then creation (fires), `rev`
/// creation then enumeration (does not). Each scenario starts 61 s after the previous one.
fn write_stream(path: &Path) {
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    let mut t = 0;
    for u in 0..USERS {
        let (a, b, gap, user) = match u % 4 {
            0 => (4625, 4625, 40, format!("slow{u}")),
            1 => (4625, 4625, 10, format!("fast{u}")),
            2 => (4798, 4720, 20, format!("chain{u}")),
            _ => (4720, 4798, 20, format!("rev{u}")),
        };
        writeln!(f, "{}", line(t, a, &user)).unwrap();
        writeln!(f, "{}", line(t + gap, b, &user)).unwrap();
        t += 61;
    }
    f.flush().unwrap();
}

/// The correlation groups that fired, per correlation title.
fn fired(lines: &[serde_json::Value]) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for l in lines.iter().filter(|l| l.get("correlation_type").is_some()) {
        let group = l["group"]
            .as_object()
            .map(|g| {
                g.values()
                    .map(|v| v.as_str().unwrap_or("").to_owned())
                    .collect()
            })
            .unwrap_or_default();
        out.entry(l["rule_title"].as_str().unwrap().to_owned())
            .or_default()
            .push(group);
    }
    for groups in out.values_mut() {
        groups.sort();
    }
    out
}

fn expected() -> BTreeMap<String, Vec<String>> {
    let users = |prefix: &str, rem: usize| {
        let mut v: Vec<String> = (0..USERS)
            .filter(|u| u % 4 == rem)
            .map(|u| format!("{prefix}{u}"))
            .collect();
        v.sort();
        v
    };
    BTreeMap::from([
        (
            "Two failed logons for one user within 30 s".to_owned(),
            users("fast", 1),
        ),
        (
            "Enumeration then account creation by one actor".to_owned(),
            users("chain", 2),
        ),
    ])
}

#[test]
fn detect_gives_the_same_correlations_on_every_run() {
    let dir = tempfile::tempdir().unwrap();
    let rules = write_rules(dir.path());
    let input = dir.path().join("stream.jsonl");
    write_stream(&input);
    let (rules, input) = (rules.display().to_string(), input.display().to_string());
    let mut outputs = Vec::new();
    for _ in 0..8 {
        let out = run(&["detect", "--rules", &rules, &input]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        outputs.push(stdout_lines(&out));
    }
    assert_eq!(fired(&outputs[0]), expected());
    for (i, o) in outputs.iter().enumerate().skip(1) {
        assert_eq!(o, &outputs[0], "run {i} differs from run 0");
    }
}

/// The case findings of the daemon's last verdict per case: (entity, rule title) → count.
fn findings(verdicts: &Path) -> BTreeMap<(String, String), u64> {
    let text = std::fs::read_to_string(verdicts).unwrap_or_default();
    let mut last: BTreeMap<String, serde_json::Value> = BTreeMap::new();
    for l in text.lines() {
        let v: serde_json::Value = serde_json::from_str(l).unwrap();
        let case = v["case_id"].as_str().unwrap().to_owned();
        let newer = last
            .get(&case)
            .is_none_or(|old| old["version"].as_u64() < v["version"].as_u64());
        if newer {
            last.insert(case, v);
        }
    }
    let mut out = BTreeMap::new();
    for v in last.values() {
        let entity = v["entity"]["value"].as_str().unwrap_or("").to_owned();
        for f in v["findings"].as_array().into_iter().flatten() {
            if f["kind"] == "correlation" || f["kind"] == "rule" {
                out.insert(
                    (entity.clone(), f["rule_title"].as_str().unwrap().to_owned()),
                    f["count"].as_u64().unwrap(),
                );
            }
        }
    }
    out
}

#[test]
fn the_daemon_builds_the_same_cases_on_every_run() {
    let dir = tempfile::tempdir().unwrap();
    let rules = write_rules(dir.path());
    write_stream(&dir.path().join("stream.jsonl"));
    let mut runs = Vec::new();
    for i in 0..3 {
        let run_dir = dir.path().join(format!("run{i}"));
        std::fs::create_dir_all(&run_dir).unwrap();
        let verdicts = run_dir.join("verdicts.jsonl");
        let config = run_dir.join("n.toml");
        std::fs::write(
            &config,
            format!(
                "[rules]\npaths = [{rules:?}]\n[cases]\nupdate_interval_secs = 1\n\
                 [state]\ndir = {state:?}\n\
                 [inputs.app]\ntype = \"tail\"\npaths = [{glob:?}]\nformat = \"json\"\n\
                 poll_interval_ms = 50\n\
                 [outputs.archive]\ntype = \"jsonl\"\npath = {out:?}\n",
                rules = rules.display().to_string(),
                state = run_dir.join("state").display().to_string(),
                glob = dir.path().join("stream.jsonl").display().to_string(),
                out = verdicts.display().to_string(),
            ),
        )
        .unwrap();
        let daemon = Daemon::start(&["--config", &config.display().to_string()], &[]);
        wait_metric(
            daemon.addr,
            "nightwatch_input_records_total{input=\"app\"}",
            (2 * USERS) as u64,
        );
        // Every record finished: the tail's checkpoint covers the whole file.
        let size = std::fs::metadata(dir.path().join("stream.jsonl"))
            .unwrap()
            .len();
        wait_for(
            "the checkpoint to cover the file",
            Duration::from_secs(60),
            || {
                std::fs::read_to_string(run_dir.join("state/tail/app.json"))
                    .is_ok_and(|t| t.contains(&format!("\"offset\": {size}")))
            },
        );
        let (code, _) = daemon.terminate(Duration::from_secs(30));
        assert_eq!(code, 0);
        runs.push(findings(&verdicts));
    }
    let bursts = runs[0]
        .keys()
        .filter(|(_, title)| title.starts_with("Two failed logons"))
        .count();
    let chains = runs[0]
        .keys()
        .filter(|(_, title)| title.starts_with("Enumeration then"))
        .count();
    assert_eq!((bursts, chains), (USERS / 4, USERS / 4), "{:?}", runs[0]);
    for (i, r) in runs.iter().enumerate().skip(1) {
        assert_eq!(r, &runs[0], "daemon run {i} differs from run 0");
    }
}
