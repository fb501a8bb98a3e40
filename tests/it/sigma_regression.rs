//! SigmaHQ regression data through the real CLI: `nightwatch detect` runs once over every
//! regression `.evtx` (and the `.raw` line) with the whole SigmaHQ corpus loaded and logsource routing on, and each
//! case's `info.yml` rule must fire on its own file — at least once, and exactly `match_count`
//! times when given. As in SigmaHQ's `tests/regression_tests_runner.py`, a count *above*
//! `match_count` only warns (printed); a count below it fails.
//!
//! Skipped with a printed note when `../shared/sigma/regression_data` is missing.
//!
//! The one `.raw` case (`rules/cisco/aaa/cisco_cli_dot1x_disabled`, a Cisco IOS syslog line)
//! has its `regression_tests_info` commented out upstream (SigmaHQ does not run it); it runs
//! here anyway through nightwatch's syslog/Cisco parser, with the commented `match_count`.
//! Any case that cannot run is listed as skipped with its reason.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use yaml_rust2::{Yaml, YamlLoader};

use crate::helpers::{bin, shared, stdout_lines};

const RULE_FOLDERS: [&str; 5] = [
    "rules",
    "rules-emerging-threats",
    "rules-threat-hunting",
    "rules-compliance",
    "rules-placeholder",
];

/// One regression case from an `info.yml`.
#[derive(Debug)]
struct Case {
    /// The case folder, relative to `regression_data`.
    name: String,
    rule_id: String,
    match_count: Option<u64>,
    /// The event file: `.evtx`, or the `.raw` syslog line.
    evtx: PathBuf,
}

/// Reads every `info.yml`; returns the runnable EVTX cases and the skipped ones with a reason.
fn read_cases(sigma: &Path, data: &Path) -> (Vec<Case>, Vec<(String, String)>) {
    let mut cases = Vec::new();
    let mut skipped = Vec::new();
    let mut infos: Vec<PathBuf> = walkdir::WalkDir::new(data)
        .into_iter()
        .flatten()
        .filter(|e| e.file_name() == "info.yml")
        .map(|e| e.into_path())
        .collect();
    infos.sort();
    for info in infos {
        let dir = info.parent().expect("info.yml has a parent").to_path_buf();
        let name = dir.strip_prefix(data).unwrap_or(&dir).display().to_string();
        let text = std::fs::read_to_string(&info).expect("reading info.yml");
        let docs = YamlLoader::load_from_str(&text).expect("info.yml is YAML");
        let doc = &docs[0];
        let rule_id = doc["rule_metadata"][0]["id"]
            .as_str()
            .expect("info.yml names a rule id")
            .to_string();
        let Some(tests) = doc["regression_tests_info"].as_vec() else {
            // Upstream comments out the `.raw` (syslog) test; read its match_count from the
            // comment and run it like the others.
            match dir_files(&dir, "raw").into_iter().next() {
                Some(raw) => cases.push(Case {
                    name,
                    rule_id,
                    match_count: commented_match_count(&text),
                    evtx: raw,
                }),
                None => skipped.push((name, "no regression_tests_info and no event file".into())),
            }
            continue;
        };
        for t in tests {
            let kind = t["type"].as_str().unwrap_or("");
            if kind != "evtx" {
                skipped.push((name.clone(), format!("test type `{kind}` is not evtx")));
                continue;
            }
            let match_count = match &t["match_count"] {
                Yaml::Integer(n) => Some(u64::try_from(*n).expect("match_count >= 0")),
                _ => None,
            };
            // `path` is relative to the SigmaHQ repository root; fall back to the file beside
            // info.yml.
            let evtx = t["path"]
                .as_str()
                .map(|p| sigma.join(p))
                .filter(|p| p.is_file())
                .or_else(|| dir_files(&dir, "evtx").into_iter().next());
            match evtx {
                Some(evtx) => cases.push(Case {
                    name: name.clone(),
                    rule_id: rule_id.clone(),
                    match_count,
                    evtx,
                }),
                None => skipped.push((name.clone(), "the .evtx file is missing".into())),
            }
        }
    }
    (cases, skipped)
}

/// `match_count` from a commented-out `#      match_count: N` line.
fn commented_match_count(info: &str) -> Option<u64> {
    info.lines().find_map(|l| {
        let l = l.trim_start_matches(['#', ' ']);
        l.strip_prefix("match_count:")?.trim().parse().ok()
    })
}

fn dir_files(dir: &Path, ext: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.path())
                .filter(|p| p.extension().and_then(|e| e.to_str()) == Some(ext))
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

#[test]
fn sigmahq_regression_cases_fire_via_cli() {
    let Some(sigma) = shared().map(|s| s.join("sigma")) else {
        println!("note: ../shared not found; skipping the SigmaHQ regression cases");
        return;
    };
    let data = sigma.join("regression_data");
    if !data.is_dir() {
        if std::env::var_os("CI").is_some() {
            println!(
                "note: CI is set but {} is missing; skipping",
                data.display()
            );
        } else {
            println!("note: {} not found; skipping", data.display());
        }
        return;
    }
    let (cases, skipped) = read_cases(&sigma, &data);
    assert!(!cases.is_empty(), "no regression cases found");

    let mut cmd = bin();
    cmd.arg("detect");
    for f in RULE_FOLDERS {
        cmd.arg("--rules").arg(sigma.join(f));
    }
    cmd.arg("--placeholders")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("rules/placeholders.yml"));
    for c in &cases {
        cmd.arg(&c.evtx);
    }
    let out = cmd.output().expect("running nightwatch detect");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "detect failed: {stderr}");

    // (input file, rule id) → number of matching events.
    let mut counts: HashMap<(String, String), u64> = HashMap::new();
    for line in stdout_lines(&out) {
        let (Some(input), Some(rule)) = (line["input"].as_str(), line["rule_id"].as_str()) else {
            continue;
        };
        *counts
            .entry((input.to_string(), rule.to_string()))
            .or_default() += 1;
    }

    let mut failures: BTreeMap<String, String> = BTreeMap::new();
    let mut warnings = Vec::new();
    for c in &cases {
        let input = c.evtx.display().to_string();
        let n = counts
            .get(&(input, c.rule_id.clone()))
            .copied()
            .unwrap_or(0);
        match c.match_count {
            _ if n == 0 => {
                failures.insert(c.name.clone(), format!("rule {} did not fire", c.rule_id));
            }
            Some(want) if n < want => {
                failures.insert(
                    c.name.clone(),
                    format!("rule {} fired {n} times, expected {want}", c.rule_id),
                );
            }
            Some(want) if n > want => warnings.push(format!(
                "{}: rule {} fired {n} times, match_count is {want} (warning only, as upstream)",
                c.name, c.rule_id
            )),
            _ => {}
        }
    }
    for w in &warnings {
        println!("warning: {w}");
    }
    for (name, why) in &skipped {
        println!("skipped: {name}: {why}");
    }
    for (name, why) in &failures {
        println!("FAIL: {name}: {why}");
    }
    let pass = cases.len() - failures.len();
    println!(
        "{pass}/{} regression cases pass ({} skipped, {} count warnings)",
        cases.len(),
        skipped.len(),
        warnings.len()
    );
    assert!(
        failures.is_empty(),
        "{} of {} regression cases failed",
        failures.len(),
        cases.len()
    );
}
