//! Tests of [`super`] (the syslog line parser): header shapes, Linux program logsources,
//! every firewall vendor through `parse_line`, sniffing, no-panic property tests, and the
//! corpus / throughput report over the shared data set (skipped when the data is absent).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;
use chrono::TimeZone;
use proptest::prelude::*;
use serde_json::json;
use std::sync::Arc;

fn origin(i: u64) -> Origin {
    Origin {
        input: Arc::from("test"),
        source: Arc::from("t.log"),
        index: i,
    }
}

fn recv() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 6, 1, 12, 0, 0).unwrap()
}

fn parse(l: &str) -> Event {
    parse_line(l, origin(0), recv()).unwrap()
}

fn s(e: &Event, k: &str) -> Option<String> {
    e.fields.get_str(k).map(|c| c.into_owned())
}

fn ls(e: &Event) -> (Option<&str>, Option<&str>, Option<&str>) {
    (
        e.logsource.product.as_deref(),
        e.logsource.category.as_deref(),
        e.logsource.service.as_deref(),
    )
}

#[test]
fn rfc3164_sshd_with_year_inference() {
    let e = parse(
        "Dec 10 06:55:46 LabSZ sshd[24200]: Failed password for invalid user webmaster from 173.234.31.186 port 38926 ssh2",
    );
    assert_eq!(ls(&e), (Some("linux"), None, Some("sshd")));
    assert_eq!(e.host.as_deref(), Some("LabSZ"));
    // December read in June 2024 -> December 2023.
    assert_eq!(e.time.to_rfc3339(), "2023-12-10T06:55:46+00:00");
    assert_eq!(s(&e, "appname").as_deref(), Some("sshd"));
    assert_eq!(e.fields.get("procid"), Some(&json!(24200)));
    assert_eq!(s(&e, "user").as_deref(), Some("webmaster"));
    assert_eq!(s(&e, "src_ip").as_deref(), Some("173.234.31.186"));
    assert_eq!(e.fields.get("src_port"), Some(&json!(38926)));
    assert_eq!(s(&e, "outcome").as_deref(), Some("failure"));
    assert!(s(&e, "message").unwrap().starts_with("Failed password"));
    let e = parse(
        "May 30 06:55:46 LabSZ sshd[1]: Accepted publickey for root from 2001:db8::5 port 22 ssh2",
    );
    assert_eq!(e.time.to_rfc3339(), "2024-05-30T06:55:46+00:00");
    assert_eq!(s(&e, "user").as_deref(), Some("root"));
    assert_eq!(s(&e, "src_ip").as_deref(), Some("2001:db8::5"));
}

#[test]
fn rfc5424_with_structured_data() {
    let e = parse(
        r#"<34>1 2003-10-11T22:14:15.003Z mymachine.example.com su 77 ID47 [exampleSDID@32473 iut="3" eventSource="App\"x"][meta seq="1"] 'su root' failed for lonvick on /dev/pts/8"#,
    );
    assert_eq!(s(&e, "facility").as_deref(), Some("auth"));
    assert_eq!(s(&e, "severity").as_deref(), Some("crit"));
    assert_eq!(s(&e, "msgid").as_deref(), Some("ID47"));
    assert_eq!(e.fields.get("procid"), Some(&json!(77)));
    assert_eq!(s(&e, "sd.exampleSDID@32473.iut").as_deref(), Some("3"));
    assert_eq!(
        s(&e, "sd.exampleSDID@32473.eventSource").as_deref(),
        Some("App\"x")
    );
    assert_eq!(s(&e, "sd.meta.seq").as_deref(), Some("1"));
    assert_eq!(e.time.to_rfc3339(), "2003-10-11T22:14:15.003+00:00");
    assert_eq!(ls(&e), (Some("linux"), None, Some("auth")));
    assert_eq!(
        s(&e, "message").as_deref(),
        Some("'su root' failed for lonvick on /dev/pts/8")
    );
}

#[test]
fn linux_services_and_parsed_fields() {
    let e = parse(
        "Apr 27 15:22:23 niban sudo:     dcid : TTY=pts/4 ; PWD=/home/dcid ; USER=root ; COMMAND=/usr/bin/tail /var/log/x",
    );
    assert_eq!(ls(&e).2, Some("sudo"));
    assert_eq!(s(&e, "user").as_deref(), Some("dcid"));
    assert_eq!(s(&e, "USER").as_deref(), Some("root"));
    assert_eq!(
        s(&e, "COMMAND").as_deref(),
        Some("/usr/bin/tail /var/log/x")
    );
    let e = parse(
        "Jun 14 15:16:01 combo sshd(pam_unix)[19939]: authentication failure; logname= uid=0 euid=0 tty=NODEVssh ruser= rhost=218.188.2.4  user=root",
    );
    assert_eq!(ls(&e).2, Some("sshd"));
    assert_eq!(
        s(&e, "pam_message").as_deref(),
        Some("authentication failure")
    );
    assert_eq!(s(&e, "pam_rhost").as_deref(), Some("218.188.2.4"));
    assert_eq!(s(&e, "pam_user").as_deref(), Some("root"));
    assert!(e.fields.get("pam_ruser").is_none());
    for (line, svc) in [
        ("Jan  1 00:00:00 h CRON[5]: (root) CMD (run-parts)", "cron"),
        (
            "Jan  1 00:00:00 h su(pam_unix)[2]: session opened for user news by (uid=0)",
            "auth",
        ),
        (
            "Jan  1 00:00:00 h useradd[1337]: new user: name=x, UID=0, GID=0",
            "auth",
        ),
        ("Jan  1 00:00:00 h vsftpd[1]: connect", "vsftpd"),
        ("Jan  1 00:00:00 h freshclam[1]: update", "clamav"),
        (
            "Jan  1 00:00:00 h named[464]: client 1.2.3.4#1036: query (cache) denied",
            "syslog",
        ),
        ("<38>Jan  1 00:00:00 h myapp: x", "auth"),
    ] {
        assert_eq!(ls(&parse(line)).2, Some(svc), "{line}");
    }
}

#[test]
fn header_without_host_and_unparsable_lines() {
    let e = parse("Jan 22 18:34:00 myprog: hello");
    assert_eq!(s(&e, "appname").as_deref(), Some("myprog"));
    assert!(e.host.is_none());
    // Not syslog: raw text, no logsource.
    for l in [
        "09/14 12:33:00 [MISC] [3448] DbFlag",
        "[10.30 16:49:06] chrome.exe - proxy",
        "hello",
    ] {
        let e = parse(l);
        assert_eq!(s(&e, "message").as_deref(), Some(l));
        assert_eq!(e.logsource, LogSource::default());
        assert!(e.fields.get("log_format").is_none());
        assert_eq!(e.time, recv());
    }
    let err = parse_line("  \r\n", origin(9), recv()).unwrap_err();
    assert_eq!(err.position, super::super::Position::Record(9));
    assert_eq!(err.format, Format::Syslog);
}

#[test]
fn iso_timestamp_headers() {
    let e = parse(
        "2020-03-23 06:47:42.801612-0700  localhost sshd[3186]: Failed password for root from 192.168.33.1 port 22 ssh2",
    );
    assert_eq!(ls(&e), (Some("linux"), None, Some("sshd")));
    assert_eq!(e.time.to_rfc3339(), "2020-03-23T13:47:42.801612+00:00");
    assert_eq!(e.host.as_deref(), Some("localhost"));
    assert_eq!(s(&e, "src_ip").as_deref(), Some("192.168.33.1"));
    let e = parse(
        "2015-04-16 21:51:02,805 zuse proftpd[26189] zuse.domain.com (1.2.3.4[1.2.3.4]): USER root (Login failed)",
    );
    assert_eq!(s(&e, "appname").as_deref(), Some("proftpd"));
    assert_eq!(e.time.to_rfc3339(), "2015-04-16T21:51:02.805+00:00");
    // Timestamped text without a syslog tag stays raw text.
    let e = parse("2016-09-28 04:30:30, Info                  CBS    Loaded Servicing Stack");
    assert!(e.fields.get("log_format").is_none());
}

#[test]
fn cisco_asa_through_parse_line() {
    let e = parse(
        "<164>Oct 03 2018 17:34:08 fw-1 : %ASA-4-106023: Deny udp src office:1.1.1.1/3217 dst dmz:2.2.2.2/15000 by access-group \"ACLoffice\" [0x0, 0x0]",
    );
    assert_eq!(ls(&e), (Some("cisco"), Some("firewall"), Some("asa")));
    assert_eq!(s(&e, "log_format").as_deref(), Some("cisco_asa"));
    assert_eq!(e.fields.get("severity"), Some(&json!(4)));
    assert_eq!(s(&e, "syslog_severity").as_deref(), Some("warning"));
    assert_eq!(s(&e, "action").as_deref(), Some("deny"));
    assert_eq!(e.time.to_rfc3339(), "2018-10-03T17:34:08+00:00");
    let e =
        parse("%ASA-1-106101: Number of cached deny-flows for ACL log has reached limit (4096)");
    assert_eq!(s(&e, "asa_id").as_deref(), Some("106101"));
    assert_eq!(e.time, recv());
}

#[test]
fn fortigate_traffic_and_event() {
    let e = parse(
        r#"<189>date=2019-05-13 time=11:20:54 logid="0000000013" type="traffic" subtype="forward" level="notice" vd="vdom1" eventtime=1557771654 srcip=10.1.100.11 srcport=58012 srcintf="port12" dstip=23.59.154.35 dstport=80 dstintf="port11" sessionid=751 proto=6 action="deny" policyid=3 service="HTTP" sentbyte=100 rcvdbyte=50 devname="FGT-A" devid="FGT60E""#,
    );
    assert_eq!(
        ls(&e),
        (Some("fortigate"), Some("firewall"), Some("traffic"))
    );
    assert_eq!(s(&e, "src_ip").as_deref(), Some("10.1.100.11"));
    assert_eq!(e.fields.get("dst_port"), Some(&json!(80)));
    assert_eq!(s(&e, "protocol").as_deref(), Some("tcp"));
    assert_eq!(s(&e, "action").as_deref(), Some("deny"));
    assert_eq!(s(&e, "rule").as_deref(), Some("3"));
    assert_eq!(e.fields.get("bytes"), Some(&json!(150)));
    assert_eq!(s(&e, "interface_in").as_deref(), Some("port12"));
    assert_eq!(s(&e, "interface_out").as_deref(), Some("port11"));
    assert_eq!(e.host.as_deref(), Some("FGT-A"));
    assert_eq!(e.time.timestamp(), 1_557_771_654);
    let e = parse(
        r#"date=2016-06-14 time=10:47:23 devname=Dev devid=FGT logid=0100044547 type=event subtype=system level=information vd="root" logdesc="Object attribute configured" user="admin" action=Add cfgpath="system.admin" msg="Add system.admin x""#,
    );
    assert_eq!(ls(&e), (Some("fortigate"), Some("firewall"), Some("event")));
    assert_eq!(s(&e, "action").as_deref(), Some("Add"));
    assert_eq!(s(&e, "cfgpath").as_deref(), Some("system.admin"));
    assert_eq!(e.time.to_rfc3339(), "2016-06-14T10:47:23+00:00");
    // FortiOS 3 layout with a broken time value and status= as the action.
    let e = parse(
        "Dec 23 11:13:03 date=2011-07-24 time=10: 13:03 devname=D device_id=FG log_id=0038016004 type=traffic subtype=other pri=notice status=deny src=10.3.3.3 dst=10.4.4.4 proto=6 service=tcp src_port=1 dst_port=2 sent=0 rcvd=0",
    );
    assert_eq!(s(&e, "action").as_deref(), Some("deny"));
    assert_eq!(s(&e, "time").as_deref(), Some("10: 13:03"));
    assert_eq!(e.time.to_rfc3339(), "2011-07-24T10:13:03+00:00");
    assert_eq!(s(&e, "dst_ip").as_deref(), Some("10.4.4.4"));
}

#[test]
fn pfsense_ipv4_ipv6_layouts() {
    let e = parse(
        "Nov  8 12:37:34 pfSense filterlog: 5,,,1000102433,em0,match,block,in,4,0x0,,128,24677,0,none,17,udp,186,10.9.0.119,10.9.0.255,17500,17600,166",
    );
    assert_eq!(ls(&e), (Some("pfsense"), Some("firewall"), None));
    assert_eq!(e.host.as_deref(), Some("pfSense"));
    assert_eq!(s(&e, "action").as_deref(), Some("drop"));
    assert_eq!(s(&e, "protocol").as_deref(), Some("udp"));
    assert_eq!(s(&e, "dst_ip").as_deref(), Some("10.9.0.255"));
    assert_eq!(e.fields.get("dst_port"), Some(&json!(17600)));
    assert_eq!(s(&e, "interface_in").as_deref(), Some("em0"));
    let e = parse(
        "Jan 22 18:34:00 filterlog: 65,,,0,vmx1,match,pass,out,4,0x0,,63,21011,0,none,1,icmp,56,192.168.105.11,192.168.105.1,datalength=36",
    );
    assert_eq!(s(&e, "action").as_deref(), Some("allow"));
    assert_eq!(s(&e, "protocol").as_deref(), Some("icmp"));
    assert_eq!(s(&e, "interface_out").as_deref(), Some("vmx1"));
    let e = parse(
        "Jan 22 18:34:00 fw filterlog[123]: 9,,,1000000105,igb0,match,block,in,6,0x00,0x00000,255,tcp,6,32,2001:db8::1,2001:db8::2,443,51000,0,S,1,,65535,,mss",
    );
    assert_eq!(s(&e, "src_ip").as_deref(), Some("2001:db8::1"));
    assert_eq!(e.fields.get("dst_port"), Some(&json!(51000)));
    assert_eq!(s(&e, "tcp_flags").as_deref(), Some("S"));
    // Truncated record: what is there is kept, nothing panics.
    let e = parse("Jan 22 18:34:00 filterlog: 5,,,1,em0,match,block,in,4,0x0");
    assert_eq!(s(&e, "action").as_deref(), Some("drop"));
    assert!(e.fields.get("src_ip").is_none());
}

#[test]
fn iptables_prefixes_and_ipv6() {
    let e = parse(
        "Feb  4 23:33:37 host kernel: [12345.678901] [UFW BLOCK] IN=eth0 OUT= MAC=aa:bb SRC=203.0.113.5 DST=10.0.0.2 LEN=40 TOS=0x00 TTL=240 ID=1 PROTO=TCP SPT=51000 DPT=23 WINDOW=1024 RES=0x00 SYN URGP=0",
    );
    assert_eq!(ls(&e), (Some("linux"), Some("firewall"), Some("iptables")));
    assert_eq!(s(&e, "log_prefix").as_deref(), Some("[UFW BLOCK]"));
    assert_eq!(s(&e, "action").as_deref(), Some("deny"));
    assert_eq!(e.fields.get("dst_port"), Some(&json!(23)));
    assert_eq!(s(&e, "protocol").as_deref(), Some("tcp"));
    assert_eq!(s(&e, "interface_in").as_deref(), Some("eth0"));
    assert!(e.fields.get("interface_out").is_none());
    assert_eq!(s(&e, "flags").as_deref(), Some("SYN"));
    assert_eq!(e.host.as_deref(), Some("host"));
    let e = parse(
        "Aug 17 10:03:37 h kernel: SFW2-INext-DROP-DEFLT IN=eth0 OUT= SRC=2001:db8::1 DST=2001:db8::2 LEN=28 PROTO=ICMPv6 TYPE=128 CODE=0",
    );
    assert_eq!(s(&e, "action").as_deref(), Some("drop"));
    assert_eq!(s(&e, "src_ip").as_deref(), Some("2001:db8::1"));
    assert_eq!(s(&e, "protocol").as_deref(), Some("icmpv6"));
    let e = parse(
        "Aug 17 10:03:37 h kernel: [4475569.016000] IN= OUT=lo SRC=192.168.2.11 DST=192.168.2.11 PROTO=TCP SPT=43068 DPT=22",
    );
    assert!(e.fields.get("log_prefix").is_none());
    assert!(e.fields.get("action").is_none());
}

#[test]
fn paloalto_and_cef_through_parse_line() {
    let e = parse(
        "Jul 15 11:59:02 pa-fw 1,2021/07/15 11:58:58,0011,TRAFFIC,drop,0,2021/07/15 11:59:02,10.0.0.1,8.8.8.8,,,deny-all,,,dns,vsys1,in,out,ethernet1/1,,fwd,2021/07/15 11:59:02,1,1,5353,53,0,0,0x0,udp,drop,0",
    );
    assert_eq!(
        ls(&e),
        (Some("paloalto"), Some("firewall"), Some("traffic"))
    );
    assert_eq!(e.host.as_deref(), Some("pa-fw"));
    assert_eq!(s(&e, "action").as_deref(), Some("drop"));
    let e = parse(
        "<134>Feb 14 19:04:54 host CEF:0|Trend Micro|Deep Security|9|4000030|Drop|5|src=10.1.1.1 dst=10.2.2.2 act=drop",
    );
    assert_eq!(ls(&e), (None, Some("firewall"), None));
    assert_eq!(s(&e, "log_format").as_deref(), Some("cef"));
    assert_eq!(e.host.as_deref(), Some("host"));
    assert_eq!(e.time.to_rfc3339(), "2024-02-14T19:04:54+00:00");
}

#[test]
fn sniffing() {
    assert!(sniff(b"<34>1 2003-10-11T22:14:15.003Z host su - - - x\n"));
    assert!(sniff(b"\n\nJun  4 15:16:01 combo sshd[1]: x\n"));
    assert!(sniff(b"Dec 10 06:55:46 LabSZ sshd[24200]: x"));
    assert!(sniff(
        b"2014-05-23T10:25:58.681222-04:00 10.10.10.1 ssg5-serial: NetScreen x"
    ));
    assert!(sniff(
        b"2020-03-23 06:47:42.801612-0700  localhost sshd[3186]: error: x"
    ));
    assert!(sniff(b"CEF:0|a|b|c|d|e|1|src=1.1.1.1"));
    assert!(sniff(b"LEEF:2.0|a|b|c|d|^|src=1.1.1.1"));
    assert!(sniff(b"%ASA-6-302013: Built inbound TCP connection"));
    assert!(sniff(
        b"date=2016-06-15 time=10:42:31 devname=x devid=y type=event"
    ));
    assert!(!sniff(b"{\"a\": 1}"));
    assert!(!sniff(b"2016-09-28 04:30:30, Info CBS Loaded"));
    assert!(!sniff(
        b"192.168.1.1 - - [11/Jul/2018:08:41:28 +0300] \"GET / HTTP/1.1\" 200 1"
    ));
    assert!(!sniff(b"hello world"));
    assert!(!sniff(b""));
    assert!(!sniff(b"Decimal 10 06:55:46"));
}

proptest! {
    #[test]
    fn never_panics_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        let text = String::from_utf8_lossy(&bytes);
        let r = parse_line(&text, origin(1), recv());
        prop_assert_eq!(r.is_err(), text::trim_line(&text).trim().is_empty());
        let _ = sniff(&bytes);
    }

    #[test]
    fn never_panics_on_vendor_shaped_input(
        prefix in prop::sample::select(vec![
            "", "<134>", "Jan  1 00:00:00 h ", "%ASA-6-302013: ", "CEF:0|", "LEEF:2.0|",
            "filterlog: ", "kernel: IN=", "date= devid= type=", "1,2020/01/01 00:00:00,",
            "%SEC-6-X: ", "<34>1 ",
        ]),
        body in "[ -~]{0,200}",
    ) {
        let line = format!("{prefix}{body}");
        let _ = parse_line(&line, origin(1), recv());
        let _ = sniff(line.as_bytes());
    }
}

// ---------------------------------------------------------------------------------------------
// Corpus report over the shared data set (skipped when absent). Prints, never asserts timings.

fn corpus_root() -> Option<std::path::PathBuf> {
    crate::testutil::shared("data/syslog")
}

fn corpus_files(root: &std::path::Path) -> Vec<(String, std::path::PathBuf)> {
    let mut out = Vec::new();
    let mut dirs = vec![root.to_path_buf()];
    while let Some(d) = dirs.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for entry in rd.flatten() {
            let p = entry.path();
            if p.is_dir() {
                dirs.push(p);
                continue;
            }
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or_default();
            if name.starts_with("LICENSE") || name == "SOURCE.txt" || name.ends_with(".csv") {
                continue;
            }
            let folder = p
                .parent()
                .and_then(|f| f.strip_prefix(root).ok())
                .map(|f| f.display().to_string())
                .unwrap_or_default();
            out.push((folder, p));
        }
    }
    out.sort();
    out
}

#[derive(Default)]
struct Tally {
    files: usize,
    lines: usize,
    events: usize,
    raw: usize,
    errors: usize,
    /// Lines the web access-log parser maps to `category: webserver` (W3C with the file's
    /// `#Fields:` header tracked, as an input stage would).
    web: usize,
}

#[test]
fn corpus_report() {
    let Some(root) = corpus_root() else {
        eprintln!("NOTE: shared syslog corpus not found; corpus_report skipped");
        return;
    };
    let mut per_folder: std::collections::BTreeMap<String, Tally> = Default::default();
    let mut formats: std::collections::BTreeMap<String, usize> = Default::default();
    for (folder, path) in corpus_files(&root) {
        let bytes = std::fs::read(&path).unwrap();
        let text = String::from_utf8_lossy(&bytes);
        let t = per_folder.entry(folder).or_default();
        t.files += 1;
        let mut w3c: Option<super::super::weblog::W3cFields> = None;
        for (i, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            t.lines += 1;
            if let Some(h) = super::super::weblog::W3cFields::parse(line) {
                w3c = Some(h);
            }
            let web = match &w3c {
                Some(h) => super::super::weblog::parse_w3c_line(line, h, origin(i as u64), recv()),
                None => super::super::weblog::parse_line(line, origin(i as u64), recv()),
            };
            match web {
                Ok(e) if e.logsource.category.as_deref() == Some("webserver") => t.web += 1,
                Ok(_) => {}
                Err(err) => {
                    t.errors += 1;
                    eprintln!("ERROR (weblog) {}: {err}", path.display());
                }
            }
            match parse_line(line, origin(i as u64), recv()) {
                Ok(e) => {
                    t.events += 1;
                    let f = s(&e, "log_format");
                    if f.is_none() {
                        t.raw += 1;
                    }
                    *formats
                        .entry(f.unwrap_or_else(|| "raw-text".into()))
                        .or_default() += 1;
                }
                Err(err) => {
                    t.errors += 1;
                    eprintln!("ERROR {}: {err}", path.display());
                }
            }
        }
    }
    println!(
        "{:<36} {:>5} {:>7} {:>7} {:>9} {:>6} {:>7}",
        "folder", "files", "lines", "events", "raw-text", "errors", "weblog"
    );
    for (folder, t) in &per_folder {
        println!(
            "{folder:<36} {:>5} {:>7} {:>7} {:>9} {:>6} {:>7}",
            t.files, t.lines, t.events, t.raw, t.errors, t.web
        );
    }
    println!("events by log_format: {formats:?}");
    assert_eq!(per_folder.values().map(|t| t.errors).sum::<usize>(), 0);
    ground_truth_agreement(&root);
}

/// The `log_format` we should produce for a Wazuh decoder name, when we support its vendor.
fn expected_format(decoder: &str) -> Option<&'static str> {
    Some(match decoder {
        "cisco-asa" => "cisco_asa",
        "cisco-ftd" => "cisco_ftd",
        "pix" => "cisco_pix",
        "cisco-ios" => "cisco_ios",
        d if d.starts_with("fortigate") => "fortigate",
        "paloalto" => "paloalto",
        "pf" => "pfsense",
        "kernel" => "iptables",
        "sonicwall" => "sonicwall",
        "sophos-fw" => "sophos_fw",
        "checkpoint-smart1" => "checkpoint",
        "huawei-usg" => "huawei_usg",
        "junos-ids" | "junos-rt-flow" => "juniper_srx",
        "netscreenfw" => "netscreen",
        "sshd" | "pam" | "sudo" | "su" | "dropbear" | "named" | "proftpd" | "postfix-reject"
        | "NetworkManager" => "syslog",
        _ => return None,
    })
}

fn ground_truth_agreement(root: &std::path::Path) {
    let path = root.join("wazuh-ruleset-tests/ground_truth_lines.csv");
    let Ok(csv) = std::fs::read_to_string(&path) else {
        eprintln!("NOTE: {} not found; agreement skipped", path.display());
        return;
    };
    let mut per_decoder: std::collections::BTreeMap<String, (usize, usize, String)> =
        Default::default();
    let (mut supported, mut agree, mut unsupported) = (0, 0, 0);
    for row in csv.lines().skip(1) {
        let cols = super::super::panos::csv_split(row);
        let (Some(decoder), Some(log)) = (cols.get(6), cols.get(7)) else {
            continue;
        };
        if log.trim().is_empty() {
            continue;
        }
        let e = parse(log);
        let got = s(&e, "log_format").unwrap_or_else(|| "raw-text".into());
        let decoder = if decoder.is_empty() {
            "(none)"
        } else {
            decoder.as_ref()
        };
        let entry = per_decoder.entry(decoder.to_owned()).or_default();
        entry.0 += 1;
        match expected_format(decoder) {
            Some(want) => {
                supported += 1;
                if got == want {
                    agree += 1;
                    entry.1 += 1;
                } else {
                    println!("  disagree: decoder={decoder} want={want} got={got}: {log}");
                }
            }
            None => unsupported += 1,
        }
        if !entry.2.contains(got.as_str()) {
            if !entry.2.is_empty() {
                entry.2.push('/');
            }
            entry.2.push_str(&got);
        }
    }
    println!(
        "wazuh ground truth: {agree}/{supported} lines of supported vendors agree; {unsupported} lines of vendors without a dedicated parser"
    );
    for (d, (n, ok, got)) in &per_decoder {
        let want = expected_format(d).unwrap_or("-");
        println!("  {d:<24} lines {n:>3}  expected {want:<10} agreed {ok:>3}  produced {got}");
    }
}

#[test]
fn corpus_throughput() {
    let Some(root) = corpus_root() else {
        eprintln!("NOTE: shared syslog corpus not found; corpus_throughput skipped");
        return;
    };
    let mut lines = Vec::new();
    for (_, path) in corpus_files(&root) {
        let text = String::from_utf8_lossy(&std::fs::read(&path).unwrap()).into_owned();
        lines.extend(
            text.lines()
                .filter(|l| !l.trim().is_empty())
                .map(str::to_owned),
        );
    }
    let bytes: usize = lines.iter().map(|l| l.len() + 1).sum();
    type LineParser = fn(&str, Origin, DateTime<Utc>) -> Result<Event, ParseError>;
    let parsers: [(&str, LineParser); 3] = [
        ("syslog", parse_line),
        ("text", text::parse_line),
        ("weblog", super::super::weblog::parse_line),
    ];
    let profile = if cfg!(debug_assertions) {
        "debug"
    } else {
        "release"
    };
    for (name, parser) in parsers {
        let start = std::time::Instant::now();
        let mut ok = 0usize;
        for (i, l) in lines.iter().enumerate() {
            ok += usize::from(parser(l, origin(i as u64), recv()).is_ok());
        }
        let secs = start.elapsed().as_secs_f64().max(1e-9);
        println!(
            "throughput [{profile}] {name:<7} {} lines ({:.1} MB) in {:.3}s: {:.0} lines/s, {:.1} MB/s ({ok} events)",
            lines.len(),
            bytes as f64 / 1e6,
            secs,
            lines.len() as f64 / secs,
            bytes as f64 / 1e6 / secs
        );
    }
}
