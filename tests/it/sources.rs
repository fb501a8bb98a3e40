//! SigmaHQ rules fire, unchanged, through each parser: every case names the rule and the file.
//!
//! Runs when `../shared` (the SigmaHQ corpus and the reference telemetry) is present; the Zeek
//! case uses the project's own fixture because the shared Zeek captures contain none of the
//! operations, pipes or certificates SigmaHQ's Zeek rules look for.
//! The shipper case (Winlogbeat, NXLog) uses the project's own fixtures and always runs.

use std::collections::BTreeSet;

use crate::helpers::{fixture, run, shared, stdout_lines};

/// (rules folder under sigma/rules, input path, rule id, file name the match must come from)
const CASES: &[(&str, &str, &str, &str)] = &[
    // CloudTrail (JSON records with nested userIdentity.* and requestParameters.*).
    (
        "cloud/aws",
        "data/cloudtrail",
        "4db60cc0-36fb-42b7-9b58-a5b53019fb74",
        "aws.defense-evasion.cloudtrail-delete.json",
    ),
    (
        "cloud/aws",
        "data/cloudtrail",
        "0a5177f4-6ca9-44c2-aacf-d3f3d8b6e4d2",
        "aws.persistence.iam-backdoor-user.json",
    ),
    // Cisco ASA/FTD syslog (logsource cisco/aaa).
    (
        "network",
        "data/syslog/wazuh-ruleset-tests/firewall",
        "6d844f0f-1c18-41af-8f19-33e7654edfc3",
        "cisco_asa.log",
    ),
    // Linux sshd syslog.
    (
        "linux",
        "data/syslog",
        "e76b413a-83d0-4b94-8e4c-85db4a5b8bdc",
        "sshd.log",
    ),
    // Web server access log.
    (
        "web",
        "data/syslog",
        "7745c2ea-24a5-4290-b680-04359cb84b35",
        "web_attack_and_isp_webshell_localhost_access_log.txt",
    ),
    // DNS answers decoded from a packet capture.
    (
        "network/dns",
        "data/pcap",
        "8ae51330-899c-4641-8125-e39f2e07da72",
        "cmds_over_dns_txt_queries_and_reponses.pcap",
    ),
];

fn fired(rules: &std::path::Path, input: &std::path::Path) -> BTreeSet<(String, String)> {
    let out = run(&[
        "detect",
        "--rules",
        &rules.display().to_string(),
        &input.display().to_string(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout_lines(&out)
        .iter()
        .map(|l| {
            let file = l["input"]
                .as_str()
                .unwrap_or_default()
                .rsplit('/')
                .next()
                .unwrap_or_default()
                .to_owned();
            (l["rule_id"].as_str().unwrap_or_default().to_owned(), file)
        })
        .collect()
}

#[test]
fn sigmahq_rules_fire_through_each_parser() {
    let Some(shared) = shared() else {
        eprintln!("../shared not present; skipping the per-source Sigma checks");
        return;
    };
    for (rules, input, rule_id, file) in CASES {
        let got = fired(&shared.join("sigma/rules").join(rules), &shared.join(input));
        assert!(
            got.contains(&(rule_id.to_string(), file.to_string())),
            "rule {rule_id} ({rules}) did not fire on {file}; fired: {got:?}"
        );
    }
}

#[test]
fn sigmahq_zeek_rules_fire_on_zeek_tsv() {
    let Some(shared) = shared() else {
        eprintln!("../shared not present; skipping the Zeek Sigma check");
        return;
    };
    let got = fired(
        &shared.join("sigma/rules/network/zeek"),
        &fixture("logs/zeek"),
    );
    let expected: BTreeSet<(String, String)> = [
        ("4096842a-8f9f-4d36-92b4-d0b2a62f9b2a", "dce_rpc.log"),
        ("f1b3a22a-45e6-4004-afb5-4291f9c21166", "smb_files.log"),
    ]
    .iter()
    .map(|(r, f)| (r.to_string(), f.to_string()))
    .collect();
    // Exactly these: the ept_map call and the PSEXESVC pipe (the rule's own filter) stay quiet.
    assert_eq!(got, expected);
}

/// The same behaviour, shipped by Winlogbeat (nested ECS and dotted keys) and by NXLog, fires
/// the same pack rule on the record that holds it.
#[test]
fn pack_rules_fire_whichever_shipper_wrote_the_windows_event() {
    let minint = "9e364ca8-c2a2-48f3-9cf5-f08c4df04127";
    for (file, index) in [
        ("winlogbeat.ndjson", 1),
        ("winlogbeat-dotted.ndjson", 0),
        ("nxlog.ndjson", 1),
    ] {
        let out = run(&[
            "detect",
            "--rules",
            &crate::helpers::repo()
                .join("rules/behavioral")
                .display()
                .to_string(),
            &fixture(&format!("logs/shippers/{file}"))
                .display()
                .to_string(),
        ]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let hits: Vec<_> = stdout_lines(&out)
            .into_iter()
            .filter(|l| l["rule_id"] == minint)
            .collect();
        assert_eq!(hits.len(), 1, "{file}: {hits:?}");
        assert_eq!(hits[0]["event_index"], index, "{file}");
    }
}
