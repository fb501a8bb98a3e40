//! A restart, graceful or kill -9, must not change what is detected: correlation windows and
//! case counts are persisted before the input commits past the events that changed them, and
//! what the input reads again after a crash is not counted twice.
//!
//! The scenario is the pack's password-spraying correlation (ten distinct accounts failing
//! from one address within 30 minutes): six failures, a restart, six more.

use std::io::Write;
use std::path::Path;
use std::time::Duration;

use crate::helpers::{Daemon, wait_for, wait_metric, write_config};

const SPRAY: &str = "Password Spraying - Failed Logons for Many Accounts From One Source";
const RECORDS: &str = "nightwatch_input_records_total{input=\"app\"}";

fn failed_logon(i: usize) -> String {
    let time = chrono::DateTime::from_timestamp(1_796_000_000 + 20 * i as i64, 0)
        .unwrap()
        .to_rfc3339();
    format!(
        r#"{{"@timestamp":"{time}","Channel":"Security","EventID":4625,"Computer":"srv-files-01","TargetUserName":"user{i:02}","TargetDomainName":"CORP","LogonType":3,"IpAddress":"203.0.113.77","IpPort":"51{i:03}","Status":"0xc000006d"}}"#
    )
}

fn append(path: &Path, range: std::ops::Range<usize>) {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    for i in range {
        writeln!(f, "{}", failed_logon(i)).unwrap();
    }
}

fn config(dir: &Path) -> String {
    write_config(
        dir,
        &format!(
            "[inputs.app]\ntype = \"tail\"\npaths = [{glob:?}]\nformat = \"json\"\npoll_interval_ms = 50\n\
             [outputs.archive]\ntype = \"jsonl\"\npath = {out:?}\n",
            glob = dir.join("app.log").display().to_string(),
            out = dir.join("verdicts.jsonl").display().to_string(),
        ),
    )
    .display()
    .to_string()
}

/// Waits until the tail checkpoint covers the whole file: every line's outcome is durable.
fn wait_committed(dir: &Path) {
    let size = std::fs::metadata(dir.join("app.log")).unwrap().len();
    wait_for(
        "the tail checkpoint to cover the file",
        Duration::from_secs(60),
        || {
            std::fs::read_to_string(dir.join("state/tail/app.json"))
                .is_ok_and(|t| t.contains(&format!("\"offset\": {size}")))
        },
    );
}

/// How many times the spraying correlation fired, from the last version of every case.
fn spray_count(dir: &Path) -> u64 {
    let text = std::fs::read_to_string(dir.join("verdicts.jsonl")).unwrap_or_default();
    let mut last = std::collections::BTreeMap::<String, serde_json::Value>::new();
    for l in text.lines() {
        let v: serde_json::Value = serde_json::from_str(l).unwrap();
        let id = v["case_id"].as_str().unwrap().to_owned();
        if last
            .get(&id)
            .is_none_or(|o| o["version"].as_u64() < v["version"].as_u64())
        {
            last.insert(id, v);
        }
    }
    last.values()
        .flat_map(|v| v["findings"].as_array().cloned().unwrap_or_default())
        .filter(|f| f["rule_title"] == SPRAY)
        .map(|f| f["count"].as_u64().unwrap_or(0))
        .sum()
}

fn wait_for_spray(dir: &Path) -> u64 {
    let mut n = 0;
    wait_for("the spraying correlation", Duration::from_secs(60), || {
        n = spray_count(dir);
        n > 0
    });
    n
}

fn run(restart: Option<bool>) -> u64 {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.log");
    let cfg = config(dir.path());
    append(&log, 0..6);
    let daemon = Daemon::start(&["--config", &cfg], &[]);
    wait_metric(daemon.addr, RECORDS, 6);
    let daemon = match restart {
        None => daemon,
        Some(graceful) => {
            wait_committed(dir.path());
            if graceful {
                let (code, _) = daemon.terminate(Duration::from_secs(30));
                assert_eq!(code, 0);
            } else {
                drop(daemon); // SIGKILL
            }
            Daemon::start(&["--config", &cfg], &[])
        }
    };
    append(&log, 6..12);
    let n = wait_for_spray(dir.path());
    let (code, _) = daemon.terminate(Duration::from_secs(30));
    assert_eq!(code, 0);
    n.max(spray_count(dir.path()))
}

#[test]
fn password_spraying_fires_once_across_a_graceful_restart() {
    assert_eq!(run(None), 1, "uninterrupted run");
    assert_eq!(run(Some(true)), 1, "SIGTERM between the halves");
}

#[test]
fn password_spraying_fires_once_across_a_kill_9() {
    assert_eq!(run(Some(false)), 1, "SIGKILL between the halves");
}
