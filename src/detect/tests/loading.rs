//! Loading, logsource routing, field aliases, filters and API-shape tests.

use serde_json::json;

use super::{ev, event_at, hit_ids, rules, rules_with};
use crate::detect::{
    Level, LoadOptions, RuleKind, RuleSet, compile_str, level_from_str, load, load_placeholders,
};

const PROC_RULE: &str = r#"
title: Whoami
id: proc-1
name: whoami_exec
level: high
tags: [attack.discovery]
logsource:
    product: windows
    category: process_creation
detection:
    sel:
        Image|endswith: '\whoami.exe'
        ParentImage|endswith: '\cmd.exe'
    condition: sel
"#;

#[test]
fn meta_is_filled() {
    let rs = rules(PROC_RULE);
    let r = rs.rules().next().unwrap();
    assert_eq!(r.id, "proc-1");
    assert_eq!(r.level, Level::High);
    assert_eq!(r.tags, vec!["attack.discovery".to_string()]);
    assert_eq!(r.kind, RuleKind::Detection);
    assert_eq!(r.logsource.category.as_deref(), Some("process_creation"));
    assert_eq!(r.path.to_str(), Some("<inline>"));
    assert!(Level::Critical > Level::High && Level::Low > Level::Informational);
    assert_eq!(level_from_str("MEDIUM"), Some(Level::Medium));
    assert_eq!(serde_json::to_string(&Level::High).unwrap(), "\"high\"");
    let no_id = rules(
        "title: No id\nlogsource:\n    product: x\ndetection:\n    s:\n        A: 1\n    condition: s\n",
    );
    assert_eq!(no_id.rules().next().unwrap().id, "No id");
}

#[test]
fn routing_by_logsource() {
    let rs = rules(PROC_RULE);
    let f = json!({"Image": "C:\\Windows\\System32\\whoami.exe", "ParentImage": "C:\\Windows\\System32\\cmd.exe"});
    let sysmon = event_at(
        (Some("windows"), Some("process_creation"), Some("sysmon")),
        f.clone(),
        0,
    );
    assert_eq!(hit_ids(&rs, &sysmon), vec!["proc-1"]);
    let other = event_at(
        (Some("windows"), Some("file_event"), Some("sysmon")),
        f.clone(),
        0,
    );
    assert!(hit_ids(&rs, &other).is_empty());
    let linux = event_at(
        (Some("linux"), Some("process_creation"), None),
        f.clone(),
        0,
    );
    assert!(hit_ids(&rs, &linux).is_empty());
    let unclassified = event_at((None, None, None), f.clone(), 0);
    assert_eq!(hit_ids(&rs, &unclassified), vec!["proc-1"]);
    let rep = compile_str(
        PROC_RULE,
        &LoadOptions {
            ignore_logsource: true,
            ..Default::default()
        },
    );
    assert_eq!(hit_ids(&rep.rules, &other), vec!["proc-1"]);
}

#[test]
fn registry_event_family() {
    let rs = rules(
        "title: r\nid: reg\nlogsource:\n    product: windows\n    category: registry_event\ndetection:\n    s:\n        TargetObject|contains: '\\Run\\'\n    condition: s\n",
    );
    for cat in [
        "registry_set",
        "registry_add",
        "registry_delete",
        "registry_rename",
        "registry_event",
    ] {
        let e = event_at(
            (Some("windows"), Some(cat), Some("sysmon")),
            json!({"TargetObject": "HKLM\\Software\\Run\\x"}),
            0,
        );
        assert_eq!(hit_ids(&rs, &e), vec!["reg"], "{cat}");
    }
}

#[test]
fn field_aliases_security_4688() {
    let rs = rules(PROC_RULE);
    let e = event_at(
        (Some("windows"), Some("process_creation"), Some("security")),
        json!({"EventID": 4688, "NewProcessName": "C:\\Windows\\System32\\whoami.exe", "ParentProcessName": "C:\\Windows\\System32\\cmd.exe"}),
        0,
    );
    assert_eq!(hit_ids(&rs, &e), vec!["proc-1"]);
}

#[test]
fn filters_exclude_listed_rules_by_id_or_name() {
    let yaml = format!(
        "{PROC_RULE}\n---\ntitle: Other\nid: proc-2\nlogsource:\n    product: windows\n    category: process_creation\ndetection:\n    s:\n        Image|endswith: '\\whoami.exe'\n    condition: s\n---\ntitle: Filter admins\nlogsource:\n    product: windows\n    category: process_creation\nfilter:\n    rules:\n        - whoami_exec\n    selection:\n        User|startswith: 'adm_'\n    condition: selection\n"
    );
    let rep = compile_str(&yaml, &LoadOptions::default());
    assert!(rep.rejected.is_empty(), "{:?}", rep.rejected);
    assert_eq!(rep.total, 3);
    let rs = rep.rules;
    assert_eq!(rs.len(), 2);
    let base = json!({"Image": "x\\whoami.exe", "ParentImage": "x\\cmd.exe", "User": "adm_bob"});
    let e = event_at((Some("windows"), Some("process_creation"), None), base, 0);
    assert_eq!(
        hit_ids(&rs, &e),
        vec!["proc-2"],
        "filter removes proc-1 only"
    );
    let e2 = event_at(
        (Some("windows"), Some("process_creation"), None),
        json!({"Image": "x\\whoami.exe", "ParentImage": "x\\cmd.exe", "User": "bob"}),
        0,
    );
    assert_eq!(hit_ids(&rs, &e2), vec!["proc-1", "proc-2"]);
}

#[test]
fn filter_with_other_logsource_does_not_apply() {
    let yaml = format!(
        "{PROC_RULE}\n---\ntitle: F\nlogsource:\n    product: linux\nfilter:\n    rules: [proc-1]\n    selection:\n        User: bob\n    condition: selection\n"
    );
    let rs = rules(&yaml);
    let e = event_at(
        (Some("windows"), Some("process_creation"), None),
        json!({"Image": "x\\whoami.exe", "ParentImage": "x\\cmd.exe", "User": "bob"}),
        0,
    );
    assert_eq!(hit_ids(&rs, &e), vec!["proc-1"]);
}

#[test]
fn legacy_global_action_is_rejected() {
    let yaml = "action: global\ntitle: g\nid: glob\ndetection:\n    condition: sel\n---\nlogsource:\n    product: windows\ndetection:\n    sel:\n        A: 1\n";
    let rep = compile_str(yaml, &LoadOptions::default());
    assert_eq!(rep.rules.len(), 0);
    assert_eq!(rep.total, 2);
    assert_eq!(rep.rejected.len(), 1);
    assert!(rep.rejected[0].reason.contains("action: global"));
    assert_eq!(rep.rejected[0].id.as_deref(), Some("glob"));
}

#[test]
fn broken_documents_do_not_stop_loading() {
    let yaml = "title: ok\nid: ok\nlogsource:\n    product: x\ndetection:\n    s:\n        A: 1\n    condition: s\n---\ntitle: nolog\nid: nolog\ndetection:\n    s:\n        A: 1\n    condition: s\n---\nfoo: bar\n---\ntitle: badlevel\nid: bl\nlevel: severe\nlogsource:\n    product: x\ndetection:\n    s:\n        A: 1\n    condition: s\n";
    let rep = compile_str(yaml, &LoadOptions::default());
    // `foo: bar` carries no Sigma key: it is skipped (not counted), not rejected.
    assert_eq!(rep.total, 3);
    assert_eq!(rep.rules.len(), 1);
    assert_eq!(rep.rejected.len(), 2, "{:?}", rep.rejected);
    let ids: Vec<_> = rep.rejected.iter().map(|e| e.id.as_deref()).collect();
    assert_eq!(ids, vec![Some("nolog"), Some("bl")]);
    let bad_yaml = compile_str("title: [unclosed", &LoadOptions::default());
    assert_eq!(bad_yaml.rejected.len(), 1);
    assert!(bad_yaml.rejected[0].reason.contains("invalid yaml"));
}

#[test]
fn load_dirs_and_placeholder_files() {
    let dir = std::env::temp_dir().join(format!("nw-sigma-test-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("sub")).unwrap();
    std::fs::write(dir.join("sub/a.yml"), PROC_RULE).unwrap();
    std::fs::write(dir.join("b.yaml"), "title: b\nid: b\nlogsource:\n    product: x\ndetection:\n    s:\n        U|expand: '%Servers%'\n    condition: s\n").unwrap();
    std::fs::write(dir.join("notes.txt"), "ignored").unwrap();
    let ph = dir.join("ph.yaml.txt");
    std::fs::write(&ph, "Servers: ['srv*']\n'%Empty%': []\n").unwrap();
    let placeholders = load_placeholders(&ph).unwrap();
    assert_eq!(placeholders.get("Servers"), Some(&vec!["srv*".to_string()]));
    assert_eq!(placeholders.get("Empty"), Some(&Vec::new()));
    let rep = load(
        std::slice::from_ref(&dir),
        &LoadOptions {
            placeholders,
            ignore_logsource: false,
        },
    );
    assert_eq!(rep.total, 2);
    assert!(rep.rejected.is_empty(), "{:?}", rep.rejected);
    assert_eq!(rep.rules.len(), 2);
    let e = event_at((Some("x"), None, None), json!({"U": "SRV01"}), 0);
    assert_eq!(hit_ids(&rep.rules, &e), vec!["b"]);
    assert!(load_placeholders(&dir.join("missing.yml")).is_err());
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn ruleset_is_send_sync_and_shareable() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<RuleSet>();
    let rs = std::sync::Arc::new(rules(PROC_RULE));
    let e = event_at(
        (None, None, None),
        json!({"Image": "a\\whoami.exe", "ParentImage": "b\\cmd.exe"}),
        0,
    );
    let handles: Vec<_> = (0..2)
        .map(|_| {
            let rs = rs.clone();
            let e = e.clone();
            std::thread::spawn(move || {
                let mut out = Vec::new();
                rs.matches(&e, &mut out);
                out.len()
            })
        })
        .collect();
    for h in handles {
        assert_eq!(h.join().unwrap(), 1);
    }
    assert!(!rs.has_correlations());
    let _ = rules_with(PROC_RULE, &LoadOptions::default());
}

#[test]
fn unknown_source_events_only_meet_rules_that_read_their_fields() {
    // A negation-only rule would match any event that lacks its field; on an event whose
    // logsource is unknown it is only evaluated when the event has one of the rule's fields.
    let rs = rules(
        "title: n\nid: neg\nlogsource:\n    product: zeek\n    service: rdp\ndetection:\n    sel:\n        id.orig_h|cidr: '10.0.0.0/8'\n    condition: not sel\n---\ntitle: k\nid: kw\nlogsource:\n    product: linux\ndetection:\n    keywords:\n        - 'segfault'\n    condition: keywords\n",
    );
    assert!(hit_ids(&rs, &ev(json!({"message": "GET / HTTP/1.1"}))).is_empty());
    assert_eq!(
        hit_ids(&rs, &ev(json!({"id.orig_h": "203.0.113.9"}))),
        vec!["neg"]
    );
    assert_eq!(
        hit_ids(&rs, &ev(json!({"message": "kernel: segfault at 0"}))),
        vec!["kw"]
    );
    // With a known logsource, routing alone decides.
    let zeek = event_at((Some("zeek"), None, Some("rdp")), json!({"uid": "C1"}), 0);
    assert_eq!(hit_ids(&rs, &zeek), vec!["neg"]);
}

#[test]
fn rejected_huge_values_are_quoted_short() {
    // A 1.6 MB alternation: too big to compile, and quoted with only its start and size.
    let big: String = (0..160_000).map(|i| format!("a{i:07}|")).collect();
    let big = format!("({big}x)");
    let syntax = format!("({}", "b".repeat(1_600_000));
    for pattern in [&big, &syntax] {
        let yaml = format!(
            "title: Huge\nid: {id}\nlogsource:\n    product: x\ndetection:\n    s:\n        A|re: '{pattern}'\n    condition: s\n",
            id = "i".repeat(100_000),
        );
        let report = compile_str(&yaml, &LoadOptions::default());
        assert_eq!(report.rejected.len(), 1);
        let shown = report.rejected[0].to_string();
        assert!(
            shown.len() < 2 * crate::detect::MAX_REASON,
            "{} bytes",
            shown.len()
        );
        assert!(
            shown.contains(&format!("… ({} bytes)", pattern.len())),
            "{}",
            &shown[..shown.len().min(600)]
        );
        assert!(shown.contains("… (100000 bytes)"), "the id is cut too");
    }
    // Short values are quoted whole, as before.
    let report = compile_str(
        "title: Bad\nlogsource:\n    product: x\ndetection:\n    s:\n        A|re: '(x'\n    condition: s\n",
        &LoadOptions::default(),
    );
    let shown = report.rejected[0].to_string();
    assert!(
        shown.contains(r#"bad regex "(x": regex parse error"#),
        "{shown}"
    );
}
