//! Extraction: kinds, normalization, false-positive traps, internal and allow-listed values.

#![allow(clippy::unwrap_used)]

use super::*;
use crate::event::{Fields, Origin};
use serde_json::json;

fn settings() -> ExtractSettings {
    ExtractSettings::from_config(&IntelConfig {
        own_domains: vec!["corp.example.org".into()],
        allow_list: vec!["update.microsoft.com".into(), "8.8.8.0/24".into()],
        ..IntelConfig::default()
    })
}

fn event(fields: serde_json::Value, raw: Option<&str>) -> Event {
    let serde_json::Value::Object(m) = fields else {
        unreachable!()
    };
    let mut e = Event::new(
        Origin {
            input: "t".into(),
            source: "t".into(),
            index: 0,
        },
        chrono::Utc::now(),
        Fields::from(m),
    );
    e.raw = raw.map(str::to_owned);
    e
}

fn values(found: &[Indicator]) -> Vec<(String, &'static str, bool)> {
    found
        .iter()
        .map(|i| (i.value.clone(), i.kind.as_str(), i.internal))
        .collect()
}

fn text(s: &str) -> Vec<(String, &'static str, bool)> {
    values(&indicators(&event(json!({}), Some(s)), &settings()))
}

#[test]
fn ipv4_mapped_ipv6_is_its_ipv4_not_a_cut_address() {
    // A DNS answer list: the mapped form must not yield `::ffff:192`.
    let found = text("QueryResults ::ffff:192.0.2.150;::ffff:203.0.113.47;");
    let ips: Vec<&str> = found.iter().map(|(v, _, _)| v.as_str()).collect();
    assert_eq!(ips, vec!["192.0.2.150", "203.0.113.47"], "{found:?}");
    assert!(found.iter().all(|(_, k, _)| *k == "ipv4"));
}

#[test]
fn sysmon_known_fields() {
    let e = event(
        json!({
            "DestinationIp": "203.0.113.66",
            "SourceIp": "10.0.0.5",
            "QueryName": "Malware-C2.Example.NET.",
            "Hashes": "SHA256=9C67CA220FED18A37B3AC62FE307B26C783CB1FF2C8E31C82026DF1ADF9E9037,IMPHASH=FFFFFFFF000000000000000000000001,MD5=4C3108EF62AD6D97D40F5E8B267197F8",
        }),
        None,
    );
    let mut s = settings();
    s.documentation_as_internal = false;
    let got = indicators(&e, &s);
    let v = values(&got);
    assert!(v.contains(&("203.0.113.66".into(), "ipv4", false)), "{v:?}");
    assert!(v.contains(&("10.0.0.5".into(), "ipv4", true)));
    assert!(v.contains(&("malware-c2.example.net".into(), "domain", false)));
    assert!(v.contains(&(
        "9c67ca220fed18a37b3ac62fe307b26c783cb1ff2c8e31c82026df1adf9e9037".into(),
        "sha256",
        false
    )));
    assert!(v.contains(&("4c3108ef62ad6d97d40f5e8b267197f8".into(), "md5", false)));
    // IMPHASH is not a file hash
    assert!(!v.iter().any(|(x, _, _)| x.starts_with("ffffffff")));
    let dip = got.iter().find(|i| i.value == "203.0.113.66").unwrap();
    assert_eq!(dip.field, "DestinationIp");
}

#[test]
fn documentation_ranges_are_internal_by_default() {
    let v = text("connection to 203.0.113.66 and www.example.com");
    assert!(v.contains(&("203.0.113.66".into(), "ipv4", true)), "{v:?}");
    assert!(v.contains(&("www.example.com".into(), "domain", true)));
}

#[test]
fn cloudtrail_zeek_email_fields() {
    let e = event(
        json!({
            "sourceIPAddress": "198.51.100.7",
            "id.resp_h": "2001:4860:4860::8888",
            "received": [{"from": "mx", "ip": "192.0.2.44"}],
            "From": "Evil Sender <Phish-Sender@Example.NET>",
            "url": "HTTP://Payload.Example.NET/dl/update.zip",
            "host": "api.github.com:443",
        }),
        None,
    );
    let v = values(&indicators(&e, &settings()));
    for want in [
        ("198.51.100.7", "ipv4"),
        ("2001:4860:4860::8888", "ipv6"),
        ("192.0.2.44", "ipv4"),
        ("phish-sender@example.net", "email"),
        ("http://payload.example.net/dl/update.zip", "url"),
        ("payload.example.net", "domain"),
        ("api.github.com", "domain"),
    ] {
        assert!(
            v.iter().any(|(x, k, _)| x == want.0 && *k == want.1),
            "{want:?} in {v:?}"
        );
    }
}

#[test]
fn refanged_free_text() {
    let v = text(
        "IOCs: hxxps[:]//evil-domain[.]com/gate[.]php and 45[.]77[.]12[.]9, mail bad[at]evil-domain(dot)com",
    );
    assert!(
        v.contains(&("https://evil-domain.com/gate.php".into(), "url", false)),
        "{v:?}"
    );
    assert!(v.contains(&("evil-domain.com".into(), "domain", false)));
    assert!(v.contains(&("45.77.12.9".into(), "ipv4", false)));
    assert!(v.contains(&("bad@evil-domain.com".into(), "email", false)));
}

#[test]
fn false_positive_traps() {
    let v = text(
        "opened readme.md, setup.py, run.sh, lib.rs, data.zip, clip.mov and report.pl; \
         OpenSSL version 1.2.3.4 (v2.0.0.1), lib 0.9.8.1, build 010.001.002.003; \
         System.Management.Automation Microsoft.PowerShell.Security \
         empty d41d8cd98f00b204e9800998ecf8427e e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855 \
         guid 3f2504e0-4f89-11d3-9a0c-0305e82c3301 zeros 00000000000000000000000000000000 \
         git@github.com:org/repo.git",
    );
    assert!(v.is_empty(), "{v:?}");
}

#[test]
fn internal_own_domains_and_allow_list() {
    let v =
        text("hosts dc01.corp.example.org 10.1.2.3 fe80::1 update.microsoft.com 8.8.8.8 evil.ru");
    assert!(
        v.contains(&("dc01.corp.example.org".into(), "domain", true)),
        "{v:?}"
    );
    assert!(v.contains(&("10.1.2.3".into(), "ipv4", true)));
    assert!(v.contains(&("fe80::1".into(), "ipv6", true)));
    assert!(v.contains(&("evil.ru".into(), "domain", false)));
    assert!(
        !v.iter()
            .any(|(x, _, _)| x == "update.microsoft.com" || x == "8.8.8.8")
    );
}

#[test]
fn xml_namespace_hosts_are_never_indicators() {
    let s = ExtractSettings::from_config(&IntelConfig::default());
    let e = event(
        json!({"TaskContent": "<Task xmlns=\"http://schemas.microsoft.com/windows/2004/02/mit/task\">\
            <Exec><Command>http://evil.example.ru/x.ps1</Command></Exec></Task>",
               "Schema": "http://www.w3.org/2001/XMLSchema-instance"}),
        None,
    );
    let got = values(&indicators(&e, &s));
    assert!(
        !got.iter()
            .any(|(v, _, _)| v.contains("microsoft.com") || v.contains("w3.org")),
        "{got:?}"
    );
    assert!(
        got.iter().any(|(v, _, _)| v == "evil.example.ru"),
        "{got:?}"
    );
    assert!(classify("schemas.microsoft.com", &s, "input").is_none());
}

#[test]
fn idna_and_dedup() {
    let e = event(
        json!({"QueryName": "bücher.de", "query": "xn--bcher-kva.de."}),
        None,
    );
    let got = indicators(&e, &settings());
    assert_eq!(
        values(&got),
        vec![("xn--bcher-kva.de".into(), "domain", false)]
    );
}

#[test]
fn classify_values() {
    let s = settings();
    let c = |v: &str| classify(v, &s, "x").map(|i| (i.kind.as_str(), i.value, i.internal));
    assert_eq!(
        c("203[.]0[.]113[.]67"),
        Some(("ipv4", "203.0.113.67".into(), true))
    );
    assert_eq!(c("readme.md"), None);
    assert_eq!(c("invoice.pdf"), None);
    assert_eq!(c("setup.exe"), None);
    assert_eq!(c("malware-c2[.]example[.]md").map(|x| x.0), Some("domain"));
    assert_eq!(
        c("4C3108EF62AD6D97D40F5E8B267197F8").map(|x| x.0),
        Some("md5")
    );
    assert_eq!(c("evil.ru:8080").map(|x| x.0), None);
    assert!(is_tld("com") && !is_tld("exe"));
}

#[test]
fn the_hosts_own_name_aws_service_endpoints_and_non_global_ipv6_are_not_indicators() {
    let mut e = event(
        json!({
            "eventSource": "ec2.amazonaws.com",
            "note": "fetched from files.s3.amazonaws.com by ws-fin-07.corp.example; ts 10::7513 from 2001:db8::1 and 2a00:1450:4001:82b::200e",
        }),
        None,
    );
    e.host = Some("WS-FIN-07.corp.example".into());
    let found = values(&indicators(&e, &settings()));
    let has = |v: &str| found.iter().any(|(x, _, _)| x == v);
    assert!(!has("ec2.amazonaws.com"), "{found:?}");
    assert!(has("files.s3.amazonaws.com"), "{found:?}");
    assert!(!has("ws-fin-07.corp.example"), "{found:?}");
    assert!(!has("::7513") && !has("10::7513"), "{found:?}");
    assert!(has("2a00:1450:4001:82b::200e"), "{found:?}");
}
