//! Start-up checks: `run` refuses exactly what `validate` refuses (zero rules, an unusable
//! state directory, a missing output directory, a missing feed), each problem said once with
//! its key path; and the history gauges are right on the first scrape after a restart.

use std::path::Path;
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

use crate::helpers::{Daemon, bin, http_get, metric, repo, run};

/// `nightwatch run` on `config`, which must exit on its own within 30 s.
fn run_daemon(config: &Path) -> Output {
    let mut child = bin()
        .args(["run", "--listen", "127.0.0.1:0", "--config"])
        .arg(config)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!(
                "run started instead of refusing: {:?}",
                child.wait_with_output()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

/// The `key: message` problem lines of a `validate` or `run` report.
fn problems(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| l.trim_start().strip_prefix("- "))
        .map(str::to_owned)
        .collect()
}

/// Writes `dir/n.toml` with state under `dir/state` unless `body` sets `[state]`.
fn config(dir: &Path, body: &str) -> std::path::PathBuf {
    let path = dir.join("n.toml");
    let state = if body.contains("[state]") {
        String::new()
    } else {
        format!("[state]\ndir = {:?}\n", dir.join("state"))
    };
    std::fs::write(&path, format!("{state}{body}")).unwrap();
    path
}

/// `validate` and `run` on the same file: both exit 2 with the same problems; each has one
/// problem under `key`, said once.
fn refused_by_both(config: &Path, key: &str) -> String {
    let validated = run(&["validate", "--config", config.to_str().unwrap()]);
    let v_out = String::from_utf8_lossy(&validated.stdout).into_owned();
    assert_eq!(validated.status.code(), Some(2), "validate: {v_out}");
    let ran = run_daemon(config);
    let r_err = String::from_utf8_lossy(&ran.stderr).into_owned();
    assert_eq!(ran.status.code(), Some(2), "run: {r_err}");
    assert_eq!(
        problems(&v_out),
        problems(&r_err),
        "validate and run disagree"
    );
    for (who, text) in [("validate", &v_out), ("run", &r_err)] {
        assert_eq!(
            text.matches(&format!("{key}: ")).count(),
            1,
            "{who} must say the {key} problem once:\n{text}"
        );
    }
    r_err
}

#[test]
fn zero_rules_refuse_to_start_unless_allowed() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("no-rules");
    std::fs::create_dir(&empty).unwrap();
    let body = format!("[rules]\npaths = [{empty:?}]\n");
    let err = refused_by_both(&config(dir.path(), &body), "rules.paths");
    assert!(err.contains("rules.allow_empty"), "{err}");

    // Every rule rejected is the same problem.
    std::fs::write(
        empty.join("broken.yml"),
        "title: Broken\nlogsource:\n    product: x\ndetection:\n    sel:\n        A|re: '(x'\n    condition: sel\n",
    )
    .unwrap();
    let err = refused_by_both(&config(dir.path(), &body), "rules.paths");
    assert!(err.contains("none of the 1 rules"), "{err}");

    // A missing `rules.paths` is the default `rules`, relative to the working directory.
    let elsewhere = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), "");
    let out = bin()
        .current_dir(elsewhere.path())
        .args(["validate", "--config", cfg.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stdout).contains("rules.paths: no rules loaded"));

    // Allowed: validate accepts it and the daemon starts.
    let allowed = config(
        dir.path(),
        &format!("[rules]\npaths = [{empty:?}]\nallow_empty = true\n"),
    );
    std::fs::remove_file(empty.join("broken.yml")).unwrap();
    let out = run(&["validate", "--config", allowed.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let daemon = Daemon::start(&["--config", allowed.to_str().unwrap()], &[]);
    assert_eq!(metric(daemon.addr, "nightwatch_rules_loaded"), 0.0);
    let (code, _) = daemon.terminate(Duration::from_secs(30));
    assert_eq!(code, 0);
}

#[test]
fn an_unusable_state_dir_a_missing_output_dir_or_feed_refuse_to_start() {
    let dir = tempfile::tempdir().unwrap();
    let rules = repo().join("rules");
    let file = dir.path().join("plain-file");
    std::fs::write(&file, "x").unwrap();
    // State under a regular file: cannot be created (whoever runs the test, root included).
    let body = format!(
        "[rules]\npaths = [{rules:?}]\n[state]\ndir = {:?}\n",
        file.join("state")
    );
    let err = refused_by_both(&config(dir.path(), &body), "state.dir");
    assert!(err.contains("is not a directory"), "{err}");

    // A JSONL output and the dead-letter file in directories that do not exist.
    let body = format!(
        "[rules]\npaths = [{rules:?}]\n[outputs.archive]\ntype = \"jsonl\"\npath = {:?}\n\
         [dead_letter]\npath = {:?}\n",
        dir.path().join("missing/verdicts.jsonl"),
        dir.path().join("gone/dead.jsonl"),
    );
    let cfg = config(dir.path(), &body);
    refused_by_both(&cfg, "outputs.archive.path");
    let err = refused_by_both(&cfg, "dead_letter.path");
    assert!(err.contains("does not exist"), "{err}");
    assert!(!dir.path().join("missing").exists());

    // A feed that does not exist.
    let body = format!(
        "[rules]\npaths = [{rules:?}]\n[intel]\nfeeds = [{:?}]\n",
        dir.path().join("feeds/abuse.csv")
    );
    refused_by_both(&config(dir.path(), &body), "intel.feeds");

    // The dead-letter file may go in the state directory the daemon creates.
    let body = format!(
        "[rules]\npaths = [{rules:?}]\n[dead_letter]\npath = {:?}\n",
        dir.path().join("state/dead.jsonl")
    );
    let cfg = config(dir.path(), &body);
    let out = run(&["validate", "--config", cfg.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(
        !dir.path().join("state").exists(),
        "validate creates nothing"
    );
}

#[test]
fn the_history_gauge_reads_the_stored_cases_on_the_first_scrape_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let events = crate::helpers::demo_events(dir.path());
    // Cases recorded into the state directory's history by a scan.
    let out = run(&[
        "scan",
        "--rules",
        repo().join("rules").to_str().unwrap(),
        "--state-dir",
        state.to_str().unwrap(),
        events.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{out:?}");
    let listed = run(&[
        "history",
        "--state-dir",
        state.to_str().unwrap(),
        "list",
        "--json",
        "--limit",
        "100000",
    ]);
    let cases = String::from_utf8_lossy(&listed.stdout).lines().count();
    assert!(cases > 0);
    let cfg = config(
        dir.path(),
        &format!(
            "[rules]\npaths = [{:?}]\n[state]\ndir = {state:?}\n",
            repo().join("rules")
        ),
    );
    for _restart in 0..2 {
        let daemon = Daemon::start(&["--config", cfg.to_str().unwrap()], &[]);
        // The first scrape, as soon as the API listens.
        let (status, body) = http_get(daemon.addr, "/metrics");
        assert_eq!(status, 200);
        assert!(
            body.lines()
                .any(|l| l == format!("nightwatch_history_cases {cases}")),
            "expected {cases} cases:\n{}",
            body.lines()
                .filter(|l| l.starts_with("nightwatch_history"))
                .collect::<Vec<_>>()
                .join("\n")
        );
        let (code, _) = daemon.terminate(Duration::from_secs(30));
        assert_eq!(code, 0);
    }
}
