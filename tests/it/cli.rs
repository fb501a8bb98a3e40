//! One-shot commands: scan, detect, rules check, validate, demo generate.

use serde_json::Value;

use crate::helpers::{fixture, run, shared, stdout_lines};

fn s(p: std::path::PathBuf) -> String {
    p.display().to_string()
}

#[test]
fn scan_builds_one_case_per_host_and_reports_parse_errors() {
    let out = run(&["scan", "--rules", &s(fixture("rules")), &s(fixture("logs"))]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let verdicts = stdout_lines(&out);
    let hosts: Vec<&str> = verdicts
        .iter()
        .map(|v| v["host"].as_str().unwrap())
        .collect();
    assert_eq!(verdicts.len(), 3, "{hosts:?}");
    let fin = verdicts
        .iter()
        .find(|v| v["host"] == "WS-FIN-07.corp.example")
        .expect("a case for the compromised workstation");
    assert_eq!(fin["schema"], "nightwatch.verdict.v1");
    assert_eq!(fin["conclusion"], "incident");
    assert_eq!(fin["findings"].as_array().unwrap().len(), 3);
    let techniques: Vec<&str> = fin["attack"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["technique_id"].as_str().unwrap())
        .collect();
    assert_eq!(techniques, vec!["T1003.001", "T1059.001", "T1204.002"]);
    // Every finding carries evidence that points back at a file and position.
    for f in fin["findings"].as_array().unwrap() {
        let ev = &f["evidence"][0];
        assert!(
            ev["source"].as_str().unwrap().ends_with("ws-fin-07.jsonl"),
            "{ev}"
        );
        assert!(ev["event_id"].as_str().unwrap().len() == 32);
    }
    // The Defender access to LSASS was filtered out by the rule's own exclusion.
    let lsass = fin["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["rule_id"] == "6d3f1c0e-7a51-4c1e-9a77-2f0b7c1d0a03")
        .unwrap();
    assert_eq!(lsass["count"], 1);
    let hr = verdicts
        .iter()
        .find(|v| v["host"] == "WS-HR-02.corp.example")
        .unwrap();
    assert_ne!(hr["conclusion"], "incident");
    // The garbage line is reported with file and position, and the summary counts it.
    assert!(stderr.contains("ws-fin-07.jsonl: record 6"), "{stderr}");
    assert!(stderr.contains("1 parse errors"), "{stderr}");
    assert!(stderr.contains("3 verdicts"), "{stderr}");
}

#[test]
fn scan_and_detect_exit_1_when_not_one_record_parses() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("broken.jsonl");
    std::fs::write(&bad, "{not json\n{still not\n").unwrap();
    for cmd in ["scan", "detect"] {
        let out = run(&[cmd, "--rules", &s(fixture("rules")), &s(bad.clone())]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{cmd}: {stderr}");
        assert!(
            stderr.contains("every record of the inputs failed to parse"),
            "{stderr}"
        );
    }
}

#[test]
fn scan_pretty_prints_reasoning() {
    let out = run(&[
        "scan",
        "--format",
        "pretty",
        "--rules",
        &s(fixture("rules")),
        &s(fixture("logs")),
    ]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("== case"), "{text}");
    assert!(text.contains("ATT&CK: T1003.001 LSASS Memory"), "{text}");
    // The worst case comes first, named by its entity, with whole-second times; the summary
    // counts verdicts per conclusion.
    let first = text.lines().next().unwrap();
    assert!(
        first.contains("on host WS-FIN-07.corp.example: incident"),
        "{text}"
    );
    let times: Vec<&str> = first.split(" — ").nth(1).unwrap().split(" .. ").collect();
    assert!(
        times.iter().all(|t| t.len() == 20 && t.ends_with('Z')),
        "{first}"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("3 verdicts (incident 1,"), "{stderr}");
}

#[test]
fn detect_follows_the_output_contract() {
    let logs = fixture("logs");
    let out = run(&["detect", "--rules", &s(fixture("rules")), &s(logs.clone())]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines = stdout_lines(&out);
    let got: Vec<(String, u64, String)> = lines
        .iter()
        .map(|l| {
            let obj = l.as_object().unwrap();
            let mut keys: Vec<&str> = obj.keys().map(String::as_str).collect();
            keys.sort();
            assert_eq!(
                keys,
                vec![
                    "event_index",
                    "input",
                    "level",
                    "rule_id",
                    "rule_title",
                    "techniques"
                ]
            );
            // Each fixture rule is tagged with one technique; `techniques` carries it.
            let techniques = l["techniques"].as_array().unwrap();
            assert_eq!(techniques.len(), 1, "{l}");
            let t = techniques[0].as_str().unwrap();
            assert!(t.starts_with('T') && t.len() >= 5, "{l}");
            (
                l["input"].as_str().unwrap().to_owned(),
                l["event_index"].as_u64().unwrap(),
                l["rule_id"].as_str().unwrap()[34..].to_owned(),
            )
        })
        .collect();
    let xml = s(logs.join("security.xml"));
    let jsonl = s(logs.join("ws-fin-07.jsonl"));
    let expected = vec![
        (xml, 0, "02".to_owned()),
        (jsonl.clone(), 1, "01".to_owned()),
        (jsonl.clone(), 1, "02".to_owned()),
        (jsonl.clone(), 2, "03".to_owned()),
        (jsonl, 5, "01".to_owned()),
    ];
    assert_eq!(got, expected);
}

#[test]
fn detect_ignore_logsource_evaluates_every_rule() {
    // Without a Channel the event is unclassified; with --ignore-logsource a classified event
    // is matched by a rule of another category too.
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("e.jsonl");
    std::fs::write(
        &log,
        r#"{"EventID": 10, "Channel": "Microsoft-Windows-Sysmon/Operational", "Image": "C:\\x\\powershell.exe", "CommandLine": "powershell -enc AAAA "}"#,
    )
    .unwrap();
    let routed = run(&["detect", "--rules", &s(fixture("rules")), &s(log.clone())]);
    assert!(stdout_lines(&routed).is_empty());
    let all = run(&[
        "detect",
        "--ignore-logsource",
        "--rules",
        &s(fixture("rules")),
        &s(log),
    ]);
    let lines = stdout_lines(&all);
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert_eq!(lines[0]["event_index"], 0);
}

#[test]
fn rules_check_reports_rejections_as_json() {
    let out = run(&["rules", "check", "--json", &s(fixture("rules-broken"))]);
    assert_eq!(out.status.code(), Some(2));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["total"], 2);
    assert_eq!(report["loaded"], 1);
    let rejected = &report["rejected"][0];
    assert!(rejected["path"].as_str().unwrap().ends_with("broken.yml"));
    assert_eq!(rejected["id"], "6d3f1c0e-7a51-4c1e-9a77-2f0b7c1d0a04");
    assert!(
        rejected["error"].as_str().unwrap().contains("missing"),
        "{rejected}"
    );

    let ok = run(&["rules", "check", &s(fixture("rules"))]);
    assert_eq!(ok.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&ok.stdout).contains("3 loaded, 0 rejected"));
}

#[test]
fn validate_names_the_unknown_key_and_exits_2() {
    let out = run(&["validate", "--config", &s(fixture("bad-key.toml"))]);
    assert_eq!(out.status.code(), Some(2));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("api.lisen: unknown key"), "{text}");
}

#[test]
fn validate_accepts_the_shipped_config() {
    let out = run(&[
        "validate",
        "--config",
        &s(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config/nightwatch.toml")),
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
}

#[test]
fn missing_paths_and_bad_arguments_exit_2() {
    assert_eq!(run(&["scan", "/nonexistent/x.evtx"]).status.code(), Some(2));
    assert_eq!(
        run(&["scan", "--format", "xml", "x"]).status.code(),
        Some(2)
    );
    assert_eq!(run(&["frobnicate"]).status.code(), Some(2));
}

#[test]
fn demo_generate_is_deterministic_and_the_starter_rules_catch_it() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.jsonl");
    let b = dir.path().join("b.jsonl");
    for p in [&a, &b] {
        let out = run(&[
            "demo",
            "generate",
            "--seed",
            "3",
            "--events",
            "600",
            "--out",
            &s(p.clone()),
        ]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert_eq!(std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
    let rules = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("rules");
    let out = run(&["scan", "--rules", &s(rules), &s(a)]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let verdicts = stdout_lines(&out);
    let incidents: Vec<&str> = verdicts
        .iter()
        .filter(|v| v["conclusion"] == "incident")
        .map(|v| v["host"].as_str().unwrap())
        .collect();
    assert!(
        !incidents.is_empty(),
        "the intrusion must produce an incident: {verdicts:?}"
    );
    for v in &verdicts {
        if v["conclusion"] == "incident" {
            let host = v["host"].as_str().unwrap().to_ascii_uppercase();
            assert!(
                nightwatch::demo::attack_hosts(nightwatch::demo::Scenario::Intrusion)
                    .iter()
                    .any(|h| host.starts_with(&h.to_ascii_uppercase())),
                "incident on a benign host: {host}"
            );
        }
    }
}

#[test]
fn scan_reads_shared_evtx_and_sysmon_xml_without_aborting() {
    let Some(shared) = shared() else {
        eprintln!("../shared not present; skipping the shared corpus scan");
        return;
    };
    for folder in ["data/sysmon-xml", "data/evtx"] {
        let out = run(&["scan", &s(shared.join(folder))]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{folder}: {stderr}");
        let summary = stderr.lines().last().unwrap_or_default();
        eprintln!("{folder}: {summary}");
        assert!(summary.contains(" events, "), "{summary}");
        assert!(!stdout_lines(&out).is_empty(), "{folder}: no verdicts");
    }
}

#[test]
fn rules_test_runs_the_shipped_tests_and_fails_a_broken_one() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("rules");
    let (rules, tests) = (root.join("behavioral"), root.join("tests"));
    let out = run(&[
        "rules",
        "test",
        "--rules",
        &s(rules.clone()),
        "--tests",
        &s(tests),
        "--format",
        "json",
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["failed"], 0);
    assert!(report["rules"].as_u64().unwrap() >= 30);

    // A near-miss that actually matches must fail the run with exit 1.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("bad.yml"),
        "rule: 0640f9ce-9890-4f97-96c4-01f99ba78889\ncases:\n  - name: wrong\n    expect: no_match\n    event: {TargetImage: 'C:\\Windows\\system32\\lsass.exe', GrantedAccess: '0x1fffff', SourceImage: 'C:\\x\\a.exe'}\n",
    )
    .unwrap();
    let out = run(&[
        "rules",
        "test",
        "--rules",
        &s(rules),
        "--tests",
        &s(dir.path().to_path_buf()),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("FAIL 0640f9ce"));
}

#[test]
fn rules_coverage_writes_a_navigator_layer() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("rules");
    let dir = tempfile::tempdir().unwrap();
    let layer = dir.path().join("layer.json");
    let out = run(&[
        "rules",
        "coverage",
        "--rules",
        &s(root.join("behavioral")),
        "--subset",
        &s(root.join("attack-subset.yml")),
        "--layer",
        &s(layer.clone()),
        "--format",
        "json",
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["subset_size"], 80);
    assert!(report["subset_covered"].as_u64().unwrap() >= 60);
    let layer: Value = serde_json::from_slice(&std::fs::read(&layer).unwrap()).unwrap();
    assert_eq!(layer["versions"]["layer"], "4.5");
    assert_eq!(layer["domain"], "enterprise-attack");
    let techs = layer["techniques"].as_array().unwrap();
    assert!(techs.iter().any(|t| t["techniqueID"] == "T1558.003"
        && t["tactic"] == "credential-access"
        && t["score"].as_u64().unwrap() >= 1));
}
