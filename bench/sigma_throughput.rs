//! Rough single-thread throughput of `RuleSet::matches` over Sysmon-shaped events with the full
//! SigmaHQ corpus. Run once: `copy to examples/ and `cargo run --release --example sigma_throughput` [corpus_root] [placeholders]`.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use chrono::Utc;
use nightwatch::detect::{LoadOptions, load, load_placeholders};
use nightwatch::event::{Event, Fields, LogSource, Origin};
use serde_json::{Value, json};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let root = PathBuf::from(
        args.get(1)
            .cloned()
            .unwrap_or_else(|| "/work/shared/sigma".into()),
    );
    let ph = PathBuf::from(
        args.get(2)
            .cloned()
            .unwrap_or_else(|| "rules/placeholders.yml".into()),
    );
    let placeholders = load_placeholders(&ph).unwrap_or_default();
    let folders = [
        "rules",
        "rules-emerging-threats",
        "rules-threat-hunting",
        "rules-compliance",
        "rules-placeholder",
    ];
    let paths: Vec<PathBuf> = folders.iter().map(|f| root.join(f)).collect();
    let t0 = Instant::now();
    let rep = load(
        &paths,
        &LoadOptions {
            placeholders,
            ignore_logsource: false,
        },
    );
    println!(
        "loaded {}/{} rules in {:?} ({} rejected)",
        rep.rules.len(),
        rep.total,
        t0.elapsed(),
        rep.rejected.len()
    );
    let rs = Arc::new(rep.rules);

    let images = [
        "C:\\Windows\\System32\\svchost.exe",
        "C:\\Program Files\\Google\\Chrome\\Application\\chrome.exe",
        "C:\\Windows\\System32\\cmd.exe",
        "C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe",
        "C:\\Users\\alice\\AppData\\Local\\Temp\\setup.exe",
        "C:\\Windows\\explorer.exe",
        "C:\\Windows\\System32\\rundll32.exe",
    ];
    let cmds = [
        "svchost.exe -k netsvcs -p -s Schedule",
        "\"chrome.exe\" --type=renderer --lang=en-US --field-trial-handle=1234",
        "cmd.exe /c echo hello > C:\\temp\\out.txt",
        "powershell.exe -NoProfile -ExecutionPolicy Bypass -File C:\\scripts\\inventory.ps1",
        "setup.exe /S /quiet",
        "C:\\Windows\\explorer.exe",
        "rundll32.exe shell32.dll,Control_RunDLL desk.cpl",
    ];
    let mut events = Vec::new();
    for i in 0..5000usize {
        let k = i % images.len();
        let (cat, eid, fields): (&str, u32, Value) = match i % 5 {
            0 | 1 => (
                "process_creation",
                1,
                json!({
                "Image": images[k], "CommandLine": format!("{} {}", cmds[k], i), "ParentImage": images[(k + 3) % images.len()],
                "ParentCommandLine": cmds[(k + 3) % cmds.len()], "OriginalFileName": "cmd.exe", "User": "CORP\\alice",
                "IntegrityLevel": "Medium", "Hashes": format!("SHA256=ABCDEF{i:058}"), "CurrentDirectory": "C:\\Users\\alice\\",
                "Company": "Microsoft Corporation", "Description": "Windows Command Processor", "Product": "Microsoft Windows",
                "ProcessId": 4000 + i, "LogonId": "0x3e7", "ParentProcessId": 800}),
            ),
            2 => (
                "file_event",
                11,
                json!({"Image": images[k], "TargetFilename": format!("C:\\Users\\alice\\AppData\\Local\\Temp\\f{i}.tmp"), "ProcessId": 1}),
            ),
            3 => (
                "registry_set",
                13,
                json!({"Image": images[k], "TargetObject": format!("HKLM\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Key{i}"), "Details": "DWORD (0x00000001)", "EventType": "SetValue"}),
            ),
            _ => (
                "network_connection",
                3,
                json!({"Image": images[k], "DestinationIp": "142.250.74.36", "DestinationPort": 443, "SourceIp": "10.0.0.5", "Initiated": "true", "Protocol": "tcp"}),
            ),
        };
        let Value::Object(mut map) = fields else {
            continue;
        };
        map.insert("EventID".into(), eid.into());
        map.insert(
            "Channel".into(),
            "Microsoft-Windows-Sysmon/Operational".into(),
        );
        map.insert("Computer".into(), "ws01.corp.example.com".into());
        let origin = Origin {
            input: Arc::from("bench"),
            source: Arc::from("mem"),
            index: i as u64,
        };
        let mut e = Event::new(origin, Utc::now(), Fields::from(map));
        e.logsource = LogSource::new(Some("windows"), Some(cat), Some("sysmon"));
        events.push(e);
    }
    for (label, classify) in [
        ("routed (logsource set)", true),
        ("unclassified (all rules)", false),
    ] {
        let evs: Vec<Event> = events
            .iter()
            .map(|e| {
                let mut e = e.clone();
                if !classify {
                    e.logsource = LogSource::default();
                }
                e
            })
            .collect();
        let mut out = Vec::new();
        let mut hits = 0;
        for e in evs.iter().take(500) {
            rs.matches(e, &mut out);
        }
        let rounds = 4;
        let t = Instant::now();
        for _ in 0..rounds {
            for e in &evs {
                out.clear();
                rs.matches(e, &mut out);
                hits += out.len();
            }
        }
        let n = evs.len() * rounds;
        let secs = t.elapsed().as_secs_f64();
        println!(
            "{label}: {n} events in {secs:.3}s = {:.0} events/s ({hits} matches)",
            n as f64 / secs
        );
    }
}
