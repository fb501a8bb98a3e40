//! Firewall vendor formats inside syslog payloads, and the normalized network fields they share.
//!
//! Each detector looks for its vendor's anchor anywhere in a line (so it works with or without
//! a syslog header in front) and returns a [`Vendor`] record: the vendor's own fields under
//! their own names, plus the normalized connection fields every firewall event carries when the
//! record has them — `src_ip`, `src_port`, `dst_ip`, `dst_port`, `protocol` (lowercase `tcp`,
//! `udp`, `icmp`, …), `action` (`allow` | `deny` | `drop`), `rule`, `bytes`, `interface_in`,
//! `interface_out`. Events get Sigma logsource `category: firewall` and a vendor `product`.
//!
//! `action` rule: when the vendor's own action value maps to allow/deny/drop, `action` holds the
//! normalized value and `vendor_action` the original; when it does not (FortiGate `action=Add`
//! on configuration events, which SigmaHQ's fortigate rules match), `action` keeps the original.
//!
//! This file holds FortiGate (key=value), pfSense `filterlog` (CSV), iptables/netfilter kernel
//! lines and the shared helpers; Cisco lives in [`super::cisco`], PAN-OS in [`super::panos`],
//! CEF/LEEF in [`super::cef`].

use std::borrow::Cow;
use std::net::IpAddr;

use crate::event::Fields;
use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};

/// A line recognized as a vendor format.
#[derive(Debug, Default)]
pub(crate) struct Vendor {
    /// Short name of the format (`cisco_asa`, `fortigate`, `cef`, …), stored as `log_format`.
    pub format: &'static str,
    pub product: Option<String>,
    pub category: Option<&'static str>,
    pub service: Option<String>,
    pub fields: Fields,
    /// The device's own timestamp, when the payload carries one.
    pub time: Option<DateTime<Utc>>,
    /// The device name, when the payload carries one.
    pub host: Option<String>,
    /// Byte offset where the vendor payload starts; what precedes it is a syslog header.
    pub start: usize,
}

impl Vendor {
    pub(crate) fn firewall(format: &'static str, product: &str, start: usize) -> Self {
        Self {
            format,
            product: Some(product.to_owned()),
            category: Some("firewall"),
            start,
            ..Self::default()
        }
    }
}

/// Runs the detectors of this file on a line.
pub(crate) fn detect(line: &str) -> Option<Vendor> {
    fortigate(line)
        .or_else(|| pfsense(line))
        .or_else(|| iptables(line))
}

// ---------------------------------------------------------------------------------------------
// Shared helpers

/// Lowercase protocol name from a name or an IANA protocol number.
pub(crate) fn proto_name(s: &str) -> String {
    let s = s.trim();
    match s {
        "1" => "icmp".into(),
        "2" => "igmp".into(),
        "6" => "tcp".into(),
        "17" => "udp".into(),
        "47" => "gre".into(),
        "50" => "esp".into(),
        "51" => "ah".into(),
        "58" => "ipv6-icmp".into(),
        "132" => "sctp".into(),
        _ => s.to_ascii_lowercase(),
    }
}

/// Maps a vendor's action word to `allow` / `deny` / `drop`.
pub(crate) fn norm_action(s: &str) -> Option<&'static str> {
    let s = s.trim().to_ascii_lowercase();
    Some(match s.as_str() {
        "allow" | "allowed" | "accept" | "accepted" | "permit" | "permitted" | "pass"
        | "passed" | "forward" | "forwarded" | "built" | "teardown" | "close" | "start" | "end"
        | "timeout" | "server-rst" | "client-rst" | "alert" | "est-allowed" => "allow",
        "deny" | "denied" | "reject" | "rejected" | "block" | "blocked" | "refuse" | "refused"
        | "reset-client" | "reset-server" | "reset-both" | "block-url" | "sinkhole"
        | "block-ip" => "deny",
        "drop" | "dropped" | "drop-icmp" | "drop-all-packets" | "discard" | "discarded"
        | "shunned" => "drop",
        _ => return None,
    })
}

/// Sets `action` per the rule in the module doc.
pub(crate) fn set_action(fields: &mut Fields, raw: &str) {
    match norm_action(raw) {
        Some(a) => {
            fields.insert("action", a);
            if !raw.eq_ignore_ascii_case(a) {
                fields.insert("vendor_action", raw);
            }
        }
        None if !raw.is_empty() => fields.insert("action", raw),
        None => {}
    }
}

/// Inserts a port as a number (or the string when it is not numeric and not empty).
pub(crate) fn put_port(fields: &mut Fields, key: &str, s: &str) {
    let s = s.trim();
    if let Ok(n) = s.parse::<u64>() {
        fields.insert(key, n);
    } else if let Some(n) = service_port(s) {
        fields.insert(key, n);
    }
}

/// Well-known service names some devices print instead of port numbers.
fn service_port(s: &str) -> Option<u64> {
    Some(match s.to_ascii_lowercase().as_str() {
        "ftp" => 21,
        "ssh" => 22,
        "telnet" => 23,
        "smtp" => 25,
        "domain" | "dns" => 53,
        "http" | "www" => 80,
        "pop3" => 110,
        "ntp" => 123,
        "netbios-ssn" => 139,
        "snmp" => 161,
        "ldap" => 389,
        "https" => 443,
        "microsoft-ds" | "smb" => 445,
        "rdp" => 3389,
        _ => return None,
    })
}

/// Inserts an IP address when the string is one (brackets and zone ids tolerated).
pub(crate) fn put_ip(fields: &mut Fields, key: &str, s: &str) -> bool {
    let s = s.trim().trim_start_matches('[').trim_end_matches(']');
    if is_ip(s) {
        fields.insert(key, s);
        true
    } else {
        false
    }
}

pub(crate) fn is_ip(s: &str) -> bool {
    let core = s.split('%').next().unwrap_or(s);
    core.parse::<IpAddr>().is_ok()
}

/// Inserts a non-negative integer field (a byte or packet count).
pub(crate) fn put_num(fields: &mut Fields, key: &str, s: &str) {
    if let Ok(n) = s.trim().parse::<u64>() {
        fields.insert(key, n);
    }
}

/// Inserts a string field unless the value is empty.
pub(crate) fn put_str(fields: &mut Fields, key: &str, s: &str) {
    if !s.is_empty() {
        fields.insert(key, s);
    }
}

/// Whether `line[pos..]` starts at a token boundary (line start, after a space, or right after
/// a `<PRI>`).
pub(crate) fn at_boundary(line: &str, pos: usize) -> bool {
    pos == 0
        || line
            .as_bytes()
            .get(pos - 1)
            .is_some_and(|b| b.is_ascii_whitespace() || *b == b'>')
}

/// The first position of `key` at a token boundary.
pub(crate) fn find_token(line: &str, key: &str) -> Option<usize> {
    memchr::memmem::find_iter(line.as_bytes(), key.as_bytes()).find(|&p| at_boundary(line, p))
}

/// Splits `key=value key2="quoted value" …`. Double-quoted values may contain spaces (and
/// `\"`); a token without `=` extends the previous unquoted value (FortiGate `time=10: 13:03`).
pub(crate) fn kv_pairs(s: &str) -> Vec<(&str, Cow<'_, str>)> {
    let mut out: Vec<(&str, Cow<'_, str>)> = Vec::new();
    let mut last_unquoted: Option<(usize, usize)> = None; // (index in out, start byte)
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        while i < b.len() && b[i].is_ascii_whitespace() {
            i += 1;
        }
        let tok_start = i;
        while i < b.len() && !b[i].is_ascii_whitespace() && b[i] != b'=' && b[i] != b'"' {
            i += 1;
        }
        if i < b.len() && b[i] == b'=' && i > tok_start {
            let key = &s[tok_start..i];
            i += 1;
            if i < b.len() && b[i] == b'"' {
                i += 1;
                let vstart = i;
                let mut escaped = false;
                while i < b.len() && (b[i] != b'"' || escaped) {
                    escaped = b[i] == b'\\' && !escaped;
                    i += 1;
                }
                let raw = &s[vstart..i.min(b.len())];
                let v = if raw.contains("\\\"") {
                    Cow::Owned(raw.replace("\\\"", "\""))
                } else {
                    Cow::Borrowed(raw)
                };
                out.push((key, v));
                last_unquoted = None;
                i += 1;
            } else {
                let vstart = i;
                while i < b.len() && !b[i].is_ascii_whitespace() {
                    i += 1;
                }
                out.push((key, Cow::Borrowed(&s[vstart..i])));
                last_unquoted = Some((out.len() - 1, vstart));
            }
        } else {
            while i < b.len() && !b[i].is_ascii_whitespace() {
                i += 1;
            }
            if let Some((idx, vstart)) = last_unquoted
                && i > tok_start
                && let Some(slot) = out.get_mut(idx)
            {
                slot.1 = Cow::Borrowed(&s[vstart..i]);
            }
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// FortiGate

/// FortiGate key=value logs (FortiOS 3 – 7): `date= time= devname= devid= type= subtype= …`.
pub(crate) fn fortigate(line: &str) -> Option<Vendor> {
    let has = |k: &str| find_token(line, k).is_some();
    let device = ["devid=", "device_id=", "devname=", "logid=", "log_id="]
        .iter()
        .any(|k| has(k));
    let shape = ["date=", "eventtime=", "subtype="].iter().any(|k| has(k));
    if !device || !shape || !has("type=") {
        return None;
    }
    let start = [
        "date=",
        "logver=",
        "timestamp=",
        "eventtime=",
        "devname=",
        "devid=",
    ]
    .iter()
    .filter_map(|k| find_token(line, k))
    .min()?;
    let pairs = kv_pairs(&line[start..]);
    let mut v = Vendor::firewall("fortigate", "fortigate", start);
    let get = |k: &str| pairs.iter().find(|(key, _)| *key == k).map(|(_, v)| &**v);
    let f = &mut v.fields;
    for (k, val) in &pairs {
        if *k != "action" {
            f.insert(*k, val.as_ref());
        }
    }
    let kind = get("type").unwrap_or_default().to_ascii_lowercase();
    v.service = (!kind.is_empty()).then(|| kind.clone());
    if let Some(ip) = get("srcip").or(get("src")) {
        put_ip(f, "src_ip", ip);
    }
    if let Some(ip) = get("dstip").or(get("dst")) {
        put_ip(f, "dst_ip", ip);
    }
    if let Some(p) = get("srcport").or(get("src_port")) {
        put_port(f, "src_port", p);
    }
    if let Some(p) = get("dstport").or(get("dst_port")) {
        put_port(f, "dst_port", p);
    }
    if let Some(p) = get("proto") {
        f.insert("protocol", proto_name(p));
    } else if let Some((_, p)) = get("service").and_then(|s| s.split_once('/')) {
        f.insert("protocol", proto_name(p));
    }
    match get("action") {
        Some(a) => set_action(f, a),
        None if kind == "traffic" => {
            if let Some(s) = get("status") {
                set_action(f, s);
            }
        }
        None => {}
    }
    if let Some(r) = get("policyid") {
        f.insert("rule", r);
    }
    let sent = get("sentbyte")
        .or(get("sent"))
        .and_then(|s| s.parse::<u64>().ok());
    let rcvd = get("rcvdbyte")
        .or(get("rcvd"))
        .and_then(|s| s.parse::<u64>().ok());
    if sent.is_some() || rcvd.is_some() {
        f.insert("bytes", sent.unwrap_or(0) + rcvd.unwrap_or(0));
    }
    if let Some(i) = get("srcintf").or(get("src_int")) {
        put_str(f, "interface_in", i);
    }
    if let Some(i) = get("dstintf").or(get("dst_int")) {
        put_str(f, "interface_out", i);
    }
    v.host = get("devname").filter(|h| !h.is_empty()).map(str::to_owned);
    v.time = forti_time(get("eventtime"), get("date"), get("time"));
    Some(v)
}

fn forti_time(
    eventtime: Option<&str>,
    date: Option<&str>,
    time: Option<&str>,
) -> Option<DateTime<Utc>> {
    if let Some(n) = eventtime.and_then(|e| e.parse::<i64>().ok()) {
        // FortiOS 6.2+: nanoseconds (19 digits) or seconds.
        let t = if n > 100_000_000_000_000_000 {
            Utc.timestamp_nanos(n)
        } else {
            Utc.timestamp_opt(n, 0).single()?
        };
        return Some(t);
    }
    let joined = format!("{} {}", date?, time?.replace(' ', ""));
    NaiveDateTime::parse_from_str(&joined, "%Y-%m-%d %H:%M:%S")
        .ok()
        .map(|t| t.and_utc())
}

// ---------------------------------------------------------------------------------------------
// pfSense / OPNsense filterlog

/// pfSense `filterlog` CSV (IPv4 and IPv6; tcp, udp, icmp layouts).
pub(crate) fn pfsense(line: &str) -> Option<Vendor> {
    let at = find_token(line, "filterlog")?;
    let rest = &line[at + "filterlog".len()..];
    let colon = rest.find(':')?;
    if !rest[..colon]
        .chars()
        .all(|c| c.is_ascii_digit() || c == '[' || c == ']')
    {
        return None;
    }
    let csv = rest[colon + 1..].trim_start();
    let c: Vec<&str> = csv.split(',').collect();
    let ipver = *c.get(8)?;
    if ipver != "4" && ipver != "6" {
        return None;
    }
    let mut v = Vendor::firewall("pfsense", "pfsense", at);
    let f = &mut v.fields;
    let names = [
        "rule_number",
        "sub_rule",
        "anchor",
        "tracker",
        "interface",
        "reason",
        "pf_action",
        "direction",
        "ip_version",
    ];
    for (name, val) in names.iter().zip(&c) {
        put_str(f, name, val);
    }
    if let Some(r) = c.first() {
        put_str(f, "rule", r);
    }
    if let Some(i) = c.get(4) {
        // filterlog names one interface; which side it is depends on the direction.
        let key = if c.get(7) == Some(&"out") {
            "interface_out"
        } else {
            "interface_in"
        };
        put_str(f, key, i);
    }
    if let Some(a) = c.get(6) {
        // pf `block` discards silently (drop); `reject` answers (deny).
        match *a {
            "block" => {
                f.insert("action", "drop");
                f.insert("vendor_action", "block");
            }
            other => set_action(f, other),
        }
    }
    // Offsets of: protocol name, length, src, dst, then the protocol-specific part.
    let (proto_at, len_at, src_at) = if ipver == "4" {
        (16, 17, 18)
    } else {
        (12, 14, 15)
    };
    if ipver == "4" {
        for (name, i) in [
            ("tos", 9),
            ("ecn", 10),
            ("ttl", 11),
            ("ip_id", 12),
            ("offset", 13),
            ("ip_flags", 14),
            ("protocol_id", 15),
        ] {
            put_str(f, name, c.get(i).copied().unwrap_or_default());
        }
    } else {
        for (name, i) in [
            ("class", 9),
            ("flow_label", 10),
            ("hop_limit", 11),
            ("protocol_id", 13),
        ] {
            put_str(f, name, c.get(i).copied().unwrap_or_default());
        }
    }
    let proto = c.get(proto_at).map(|p| proto_name(p)).unwrap_or_default();
    if !proto.is_empty() {
        f.insert("protocol", proto.as_str());
    }
    put_num(f, "length", c.get(len_at).copied().unwrap_or_default());
    put_ip(f, "src_ip", c.get(src_at).copied().unwrap_or_default());
    put_ip(f, "dst_ip", c.get(src_at + 1).copied().unwrap_or_default());
    let extra = c.get(src_at + 2..).unwrap_or_default();
    match proto.as_str() {
        "tcp" | "udp" => {
            put_port(f, "src_port", extra.first().copied().unwrap_or_default());
            put_port(f, "dst_port", extra.get(1).copied().unwrap_or_default());
            put_num(f, "data_length", extra.get(2).copied().unwrap_or_default());
            if proto == "tcp" {
                put_str(f, "tcp_flags", extra.get(3).copied().unwrap_or_default());
            }
        }
        _ if !extra.is_empty() => put_str(f, "protocol_data", &extra.join(",")),
        _ => {}
    }
    Some(v)
}

// ---------------------------------------------------------------------------------------------
// iptables / netfilter

/// Kernel netfilter log lines: `[prefix] IN=eth0 OUT= SRC=… DST=… PROTO=TCP SPT=… DPT=…`.
pub(crate) fn iptables(line: &str) -> Option<Vendor> {
    // `IN=` starts a token, or follows a prefix without a space (OpenWRT `DROP(src wan)IN=`).
    let at = memchr::memmem::find_iter(line.as_bytes(), b"IN=")
        .find(|&p| p == 0 || !line.as_bytes()[p - 1].is_ascii_alphanumeric())?;
    let body = &line[at..];
    if find_token(body, "SRC=").is_none() || find_token(body, "DST=").is_none() {
        return None;
    }
    let mut v = Vendor::firewall("iptables", "linux", at);
    v.service = Some("iptables".into());
    let f = &mut v.fields;
    let mut flags = Vec::new();
    for tok in body.split_ascii_whitespace() {
        match tok.split_once('=') {
            Some((k, val)) => {
                if f.get(k).is_none() {
                    f.insert(k, val);
                }
            }
            None => flags.push(tok),
        }
    }
    if !flags.is_empty() {
        f.insert("flags", flags.join(" "));
    }
    let get = |f: &Fields, k: &str| f.get_str(k).map(|c| c.into_owned()).unwrap_or_default();
    let (src, dst, spt, dpt) = (get(f, "SRC"), get(f, "DST"), get(f, "SPT"), get(f, "DPT"));
    let (inp, out, proto) = (get(f, "IN"), get(f, "OUT"), get(f, "PROTO"));
    put_ip(f, "src_ip", &src);
    put_ip(f, "dst_ip", &dst);
    put_port(f, "src_port", &spt);
    put_port(f, "dst_port", &dpt);
    put_str(f, "interface_in", &inp);
    put_str(f, "interface_out", &out);
    if !proto.is_empty() {
        f.insert("protocol", proto_name(&proto));
    }
    let prefix = log_prefix(&line[..at]);
    if !prefix.is_empty() {
        let up = prefix.to_ascii_uppercase();
        let action = if up.contains("DROP") {
            Some("drop")
        } else if ["REJECT", "BLOCK", "DENY"].iter().any(|w| up.contains(w)) {
            Some("deny")
        } else if ["ACCEPT", "ALLOW", "PASS"].iter().any(|w| up.contains(w)) {
            Some("allow")
        } else {
            None
        };
        if let Some(a) = action {
            f.insert("action", a);
        }
        f.insert("log_prefix", prefix);
    }
    Some(v)
}

/// The `--log-prefix` text of a netfilter line: what follows the syslog tag, minus the
/// kernel's `[ 1234.5678]` uptime stamp.
fn log_prefix(before: &str) -> &str {
    let seg = match before.find("kernel:") {
        Some(p) => &before[p + "kernel:".len()..],
        None => before.rsplit_once(": ").map_or(before, |(_, s)| s),
    };
    let seg = seg.trim();
    if seg.starts_with('[')
        && let Some(close) = seg.find(']')
        && seg[1..close]
            .trim()
            .chars()
            .all(|c| c.is_ascii_digit() || c == '.')
    {
        return seg[close + 1..].trim();
    }
    seg
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn kv_pairs_quotes_escapes_and_continuations() {
        let p = kv_pairs(r#"a=1 b="two words" c="say \"hi\"" time=10: 13:03 d= e="unterminated"#);
        let got: Vec<(&str, &str)> = p.iter().map(|(k, v)| (*k, v.as_ref())).collect();
        assert_eq!(
            got,
            [
                ("a", "1"),
                ("b", "two words"),
                ("c", "say \"hi\""),
                ("time", "10: 13:03"),
                ("d", ""),
                ("e", "unterminated"),
            ]
        );
        assert!(kv_pairs("").is_empty());
        assert!(kv_pairs("=x == \"").is_empty());
    }

    #[test]
    fn actions_protocols_ports() {
        assert_eq!(norm_action("Accept"), Some("allow"));
        assert_eq!(norm_action("reset-both"), Some("deny"));
        assert_eq!(norm_action("drop-icmp"), Some("drop"));
        assert_eq!(norm_action("Add"), None);
        assert_eq!(proto_name("6"), "tcp");
        assert_eq!(proto_name("UDP"), "udp");
        assert_eq!(proto_name("58"), "ipv6-icmp");
        let mut f = Fields::new();
        put_port(&mut f, "p", "https");
        put_port(&mut f, "q", "port");
        assert_eq!(f.get("p"), Some(&serde_json::json!(443)));
        assert!(f.get("q").is_none());
        set_action(&mut f, "accept");
        assert_eq!(f.get_str("action").as_deref(), Some("allow"));
        assert_eq!(f.get_str("vendor_action").as_deref(), Some("accept"));
        assert!(is_ip("fe80::1%eth0") && !is_ip("1.2.3") && !is_ip(""));
    }

    #[test]
    fn detectors_reject_lookalikes() {
        assert!(fortigate("type=traffic but nothing else").is_none());
        assert!(pfsense("filterlogger: 1,2,3").is_none());
        assert!(pfsense("filterlog: 1,2,3").is_none());
        assert!(iptables("LOGIN=bob SRC=1 DST=2").is_none());
        assert!(iptables("IN=eth0 OUT= nothing").is_none());
    }

    proptest! {
        #[test]
        fn detectors_never_panic(s in "\\PC{0,300}") {
            let _ = detect(&s);
            let _ = super::super::cisco::detect(&s);
            let _ = super::super::panos::detect(&s);
            let _ = super::super::cef::detect(&s);
            let _ = super::super::cisco::endpoint(&s);
            let _ = super::super::panos::csv_split(&s);
            let _ = super::super::cef::extension(&s);
        }

        #[test]
        fn detectors_never_panic_on_anchored_input(
            anchor in prop::sample::select(vec![
                "filterlog: ", "IN=", "%ASA-", "%FTD-3-", "%A-1-B: ", "CEF:0|", "LEEF:1.0|",
                "LEEF:2.0|a|b|c|d|", "date= devid= type= ", "0,2024/01/01 00:00:00,",
            ]),
            body in "[ -~\\t]{0,200}",
        ) {
            let s = format!("{anchor}{body}");
            let _ = detect(&s);
            let _ = super::super::cisco::detect(&s);
            let _ = super::super::panos::detect(&s);
            let _ = super::super::cef::detect(&s);
        }
    }
}
