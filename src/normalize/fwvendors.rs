//! More firewall vendors whose records are key/value lists: SonicWall, Sophos XG (SFOS),
//! Juniper SRX (`RT_FLOW` / `RT_IDS` structured data), Check Point (syslog exporter
//! `key:"value";` lists), Huawei USG (`%%01MODULE/sev/DIGEST(l): k=v, …`) and NetScreen
//! (ScreenOS `NetScreen device_id=…`).
//!
//! Vendor keys are kept under their own names; the normalized connection fields of
//! [`super::firewall`] are filled from the vendor's key synonyms by one table
//! ([`normalize_pairs`]). Logsource `category: firewall` with `product` `sonicwall`, `sophos`,
//! `juniper`, `checkpoint`, `huawei`.

use std::borrow::Cow;

use chrono::NaiveDateTime;

use super::firewall::{
    Vendor, find_token, kv_pairs, norm_action, proto_name, put_ip, put_port, put_str, set_action,
};
use crate::event::Fields;

type Pairs<'a> = Vec<(&'a str, Cow<'a, str>)>;

/// Runs this file's detectors on a line.
pub(crate) fn detect(line: &str) -> Option<Vendor> {
    sonicwall(line)
        .or_else(|| sophos(line))
        .or_else(|| juniper(line))
        .or_else(|| checkpoint(line))
        .or_else(|| huawei(line))
        .or_else(|| netscreen(line))
}

/// Key synonyms (lowercase) for each normalized field, most specific first.
const SRC_IP: &[&str] = &[
    "src_ip",
    "srcip",
    "source-address",
    "source-ip",
    "sourceip",
    "src",
];
const DST_IP: &[&str] = &[
    "dst_ip",
    "dstip",
    "destination-address",
    "destination-ip",
    "destinationip",
    "dst",
];
const SRC_PORT: &[&str] = &["src_port", "srcport", "source-port", "sourceport", "s_port"];
const DST_PORT: &[&str] = &[
    "dst_port",
    "dstport",
    "destination-port",
    "destinationport",
    "service",
];
const PROTO: &[&str] = &["protocol", "proto", "protocol-id", "protocol-name"];
const ACTION: &[&str] = &["fw_action", "action", "status"];
const RULE: &[&str] = &[
    "fw_rule_id",
    "rule_name",
    "rule-name",
    "policy-name",
    "policyname",
    "rule",
];
const IFC_IN: &[&str] = &[
    "in_interface",
    "packet-incoming-interface",
    "interface-name",
];
const IFC_OUT: &[&str] = &["out_interface"];
const BYTES: &[(&str, &str)] = &[
    ("sent_bytes", "recv_bytes"),
    ("bytes-from-client", "bytes-from-server"),
    ("sendbytes", "rcvbytes"),
    ("sent", "rcvd"),
];

/// Fills the normalized fields from vendor key/value pairs (keys matched case-insensitively).
pub(crate) fn normalize_pairs(f: &mut Fields, pairs: &[(&str, Cow<'_, str>)]) {
    let get = |names: &[&str]| {
        names.iter().find_map(|n| {
            pairs
                .iter()
                .find(|(k, v)| k.eq_ignore_ascii_case(n) && !v.is_empty())
                .map(|(_, v)| v.as_ref())
        })
    };
    if let Some(ip) = get(SRC_IP) {
        put_ip(f, "src_ip", ip);
    }
    if let Some(ip) = get(DST_IP) {
        put_ip(f, "dst_ip", ip);
    }
    if let Some(p) = get(SRC_PORT) {
        put_port(f, "src_port", p);
    }
    if let Some(p) = get(DST_PORT) {
        put_port(f, "dst_port", p);
    }
    if let Some(p) = get(PROTO) {
        f.insert("protocol", proto_name(p.split('/').next().unwrap_or(p)));
    }
    match get(ACTION) {
        Some(a) if norm_action(a).is_some() => set_action(f, a),
        _ => {
            if let Some(a) = get(&["action"]) {
                f.insert("action", a);
            }
        }
    }
    if let Some(r) = get(RULE) {
        put_str(f, "rule", r);
    }
    if let Some(i) = get(IFC_IN) {
        put_str(f, "interface_in", i);
    }
    if let Some(i) = get(IFC_OUT) {
        put_str(f, "interface_out", i);
    }
    for (a, b) in BYTES {
        let (x, y) = (get(&[a]), get(&[b]));
        if x.is_some() || y.is_some() {
            let n = |s: Option<&str>| s.and_then(|s| s.trim().parse::<u64>().ok()).unwrap_or(0);
            f.insert("bytes", n(x).saturating_add(n(y)));
            break;
        }
    }
}

/// Inserts every pair under its own key, except `action` (see the rule in [`super::firewall`]).
fn insert_all(f: &mut Fields, pairs: &Pairs<'_>) {
    for (k, v) in pairs {
        if *k != "action" {
            f.insert(*k, v.as_ref());
        }
    }
}

/// SonicWall: `id=… sn=… time="…" fw=… pri=… c=… m=… msg="…" src=IP:port:ifc dst=…`.
fn sonicwall(line: &str) -> Option<Vendor> {
    let start = find_token(line, "id=")?;
    if find_token(line, "sn=").is_none() || find_token(line, "m=").is_none() {
        return None;
    }
    let pairs = kv_pairs(&line[start..]);
    let mut v = Vendor::firewall("sonicwall", "sonicwall", start);
    let get = |k: &str| {
        pairs
            .iter()
            .find(|(key, _)| *key == k)
            .map(|(_, v)| v.as_ref())
    };
    let f = &mut v.fields;
    insert_all(f, &pairs);
    // src=IP:port:interface (IPv6 addresses come in srcV6/dstV6).
    for (side, key, v6) in [("src", "src", "srcV6"), ("dst", "dst", "dstV6")] {
        let Some(val) = get(key) else { continue };
        let mut parts = val.split(':');
        let first = parts.next();
        put_ip(
            f,
            &format!("{side}_ip"),
            get(v6).or(first).unwrap_or_default(),
        );
        if let Some(p) = parts.next() {
            put_port(f, &format!("{side}_port"), p);
        }
        if let Some(i) = parts.next() {
            put_str(
                f,
                if side == "src" {
                    "interface_in"
                } else {
                    "interface_out"
                },
                i,
            );
        }
    }
    if let Some(p) = get("proto") {
        f.insert("protocol", proto_name(p.split('/').next().unwrap_or(p)));
    }
    let action = get("fw_action").or_else(|| {
        get("msg").and_then(|m| {
            m.split_ascii_whitespace()
                .find(|w| norm_action(w).is_some())
        })
    });
    if let Some(a) = action {
        set_action(f, a.trim_matches('"'));
    }
    if let Some(r) = get("rule") {
        put_str(f, "rule", r);
    }
    if let (Some(s), Some(r)) = (get("sent"), get("rcvd")) {
        let n = |x: &str| x.parse::<u64>().unwrap_or(0);
        f.insert("bytes", n(s) + n(r));
    }
    v.time = get("time")
        .and_then(|t| {
            NaiveDateTime::parse_from_str(t.trim_end_matches(" UTC"), "%Y-%m-%d %H:%M:%S").ok()
        })
        .map(|t| t.and_utc());
    Some(v)
}

/// Sophos XG / SFOS: `device="SFW" date=… time=… device_name=… log_type=… status=… src_ip=…`.
fn sophos(line: &str) -> Option<Vendor> {
    let start = find_token(line, "device=\"SFW\"").or_else(|| {
        (find_token(line, "log_component=").is_some())
            .then(|| find_token(line, "device_name="))
            .flatten()
    })?;
    let pairs = kv_pairs(&line[start..]);
    let mut v = Vendor::firewall("sophos_fw", "sophos", start);
    let get = |k: &str| {
        pairs
            .iter()
            .find(|(key, _)| *key == k)
            .map(|(_, v)| v.as_ref())
    };
    insert_all(&mut v.fields, &pairs);
    normalize_pairs(&mut v.fields, &pairs);
    v.service = get("log_type").map(str::to_ascii_lowercase);
    v.host = get("device_name").map(str::to_owned);
    v.time = match (get("date"), get("time")) {
        (Some(d), Some(t)) => {
            NaiveDateTime::parse_from_str(&format!("{d} {t}"), "%Y-%m-%d %H:%M:%S")
                .ok()
                .map(|t| t.and_utc())
        }
        _ => None,
    };
    Some(v)
}

/// Juniper SRX: `RT_FLOW_SESSION_DENY [junos@2636.… source-address="…" …]`.
fn juniper(line: &str) -> Option<Vendor> {
    let sd = line.find("[junos@")?;
    let close = line[sd..].rfind(']').map_or(line.len(), |p| sd + p);
    let params = line[sd + 1..close].split_once(' ').map_or("", |(_, p)| p);
    let pairs = kv_pairs(params);
    let event_name = line[..sd]
        .split_ascii_whitespace()
        .last()
        .unwrap_or_default();
    let start = line[..sd]
        .rfind(|c: char| c.is_ascii_whitespace())
        .map_or(0, |p| p + 1);
    let mut v = Vendor::firewall("juniper_srx", "juniper", start.min(sd));
    let f = &mut v.fields;
    put_str(f, "event_name", event_name);
    insert_all(f, &pairs);
    normalize_pairs(f, &pairs);
    if f.get("action").is_none() {
        let a = if event_name.ends_with("_DENY") {
            Some("deny")
        } else if event_name.ends_with("_CREATE") || event_name.ends_with("_CLOSE") {
            Some("allow")
        } else {
            None
        };
        if let Some(a) = a {
            f.insert("action", a);
        }
    }
    Some(v)
}

/// Check Point syslog exporter: `CheckPoint … [action:"Drop"; ifdir:"inbound"; src:"…"; ]`.
fn checkpoint(line: &str) -> Option<Vendor> {
    let open = line.find("[action:\"").or_else(|| {
        line.contains("CheckPoint")
            .then(|| line.find(":\""))
            .flatten()
            .and_then(|p| line[..p].rfind('['))
    })?;
    let body = line[open + 1..].trim_end().trim_end_matches(']');
    let mut pairs: Pairs<'_> = Vec::new();
    for item in body.split("; ") {
        let Some((k, val)) = item.split_once(':') else {
            continue;
        };
        let val = val.trim().trim_end_matches(';').trim_matches('"');
        let k = k.trim();
        if !k.is_empty() {
            pairs.push((k, Cow::Borrowed(val)));
        }
    }
    let start = line[..open].find("CheckPoint").unwrap_or(open);
    let mut v = Vendor::firewall("checkpoint", "checkpoint", start);
    let f = &mut v.fields;
    insert_all(f, &pairs);
    normalize_pairs(f, &pairs);
    let get = |k: &str| {
        pairs
            .iter()
            .find(|(key, _)| *key == k)
            .map(|(_, v)| v.as_ref())
    };
    if let Some(i) = get("ifname") {
        let key = if get("ifdir") == Some("outbound") {
            "interface_out"
        } else {
            "interface_in"
        };
        put_str(f, key, i);
    }
    Some(v)
}

/// Huawei USG: `%%01POLICY/6/POLICYPERMIT(l):vsys=public, protocol=17, source-ip=…`.
fn huawei(line: &str) -> Option<Vendor> {
    let at = line.find("%%")?;
    let rest = &line[at + 2..];
    let colon = rest.find(':')?;
    let head = &rest[..colon];
    if head.matches('/').count() != 2 {
        return None;
    }
    let body = rest[colon + 1..].trim();
    let kv_part = match (body.find('('), body.ends_with(')')) {
        (Some(p), true) if !body[..p].contains('=') => &body[p + 1..body.len() - 1],
        _ => body,
    };
    let pairs: Pairs<'_> = kv_part
        .split(',')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| {
            (
                k.trim(),
                Cow::Borrowed(v.trim().trim_end_matches('.').trim_matches('"')),
            )
        })
        .filter(|(k, _)| !k.is_empty() && !k.contains(' '))
        .collect();
    let mut v = Vendor::firewall("huawei_usg", "huawei", at);
    let f = &mut v.fields;
    let mut parts = head.split('/');
    put_str(
        f,
        "module",
        parts
            .next()
            .unwrap_or_default()
            .trim_start_matches(|c: char| c.is_ascii_digit()),
    );
    put_str(f, "severity", parts.next().unwrap_or_default());
    put_str(
        f,
        "digest",
        parts
            .next()
            .unwrap_or_default()
            .split('(')
            .next()
            .unwrap_or_default(),
    );
    f.insert("message", body);
    insert_all(f, &pairs);
    normalize_pairs(f, &pairs);
    if f.get("action").is_none() {
        let digest = head.to_ascii_uppercase();
        if digest.contains("PERMIT") {
            f.insert("action", "allow");
        } else if digest.contains("DENY") {
            f.insert("action", "deny");
        }
    }
    Some(v)
}

/// ScreenOS: `NetScreen device_id=ssg5  [Root]system-notification-00018: text`.
fn netscreen(line: &str) -> Option<Vendor> {
    let at = line.find("NetScreen device_id=")?;
    let rest = &line[at + "NetScreen device_id=".len()..];
    let (device, msg) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
    let mut v = Vendor::firewall("netscreen", "juniper", at);
    let f = &mut v.fields;
    put_str(f, "device_id", device);
    let msg = msg.trim();
    if let Some((tag, text)) = msg.split_once(": ") {
        put_str(f, "message_id", tag);
        f.insert("message", text);
    } else {
        f.insert("message", msg);
    }
    Some(v)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn g(v: &Vendor, k: &str) -> Option<serde_json::Value> {
        v.fields.get(k).cloned()
    }

    #[test]
    fn sonicwall_fields() {
        let v = detect(r#"id=firewall sn=00301E0526B1 time="2004-04-01 10:39:35" fw=67.32.44.2 pri=5 c=64 m=36 msg="TCP connection dropped" n=2686 src=67.101.200.27:4507:WAN dst=67.32.44.2:445:LAN rule=0 proto=tcp/445"#).unwrap();
        assert_eq!(v.format, "sonicwall");
        assert_eq!(g(&v, "src_ip"), Some(json!("67.101.200.27")));
        assert_eq!(g(&v, "dst_port"), Some(json!(445)));
        assert_eq!(g(&v, "interface_in"), Some(json!("WAN")));
        assert_eq!(g(&v, "action"), Some(json!("drop")));
        assert_eq!(g(&v, "protocol"), Some(json!("tcp")));
        assert_eq!(v.time.unwrap().to_rfc3339(), "2004-04-01T10:39:35+00:00");
        let v = detect(r#"id=firewall sn=C0 time="2019-02-15 09:45:17 UTC" fw=2.2.2.2 pri=5 c=512 m=1233 msg="x" srcV6=fe80::1 src=:49702:X0-V514 dstV6=ff02::1:3 dst=:5355 proto=udp/5355"#).unwrap();
        assert_eq!(g(&v, "src_ip"), Some(json!("fe80::1")));
        assert_eq!(g(&v, "src_port"), Some(json!(49702)));
        assert_eq!(g(&v, "dst_ip"), Some(json!("ff02::1:3")));
    }

    #[test]
    fn sophos_juniper_checkpoint_huawei() {
        let v = detect(r#"device="SFW" date=2019-10-09 time=17:19:06 timezone="+08" device_name="XG210" log_type="Firewall" log_component="Firewall Rule" status="Deny" fw_rule_id=14 in_interface="Port3" src_ip=11.22.33.44 dst_ip=44.33.22.11 protocol="TCP" src_port=52667 dst_port=10051 sent_bytes=0 recv_bytes=10"#).unwrap();
        assert_eq!(
            (g(&v, "action"), g(&v, "rule")),
            (Some(json!("deny")), Some(json!("14")))
        );
        assert_eq!(g(&v, "bytes"), Some(json!(10)));
        assert_eq!(v.host.as_deref(), Some("XG210"));
        let v = detect(r#"Sep 23 13:54:55 192.168.1.1 junos-flow: 2017-09-23T13:54:54.803Z srx RT_FLOW - RT_FLOW_SESSION_DENY [junos@2636.1.1.1.2.39 source-address="192.168.1.1" source-port="1080" destination-address="192.168.1.2" destination-port="8010" protocol-id="17" policy-name="Deny-All"]"#).unwrap();
        assert_eq!(g(&v, "action"), Some(json!("deny")));
        assert_eq!(g(&v, "protocol"), Some(json!("udp")));
        assert_eq!(g(&v, "rule"), Some(json!("Deny-All")));
        assert_eq!(g(&v, "event_name"), Some(json!("RT_FLOW_SESSION_DENY")));
        let v = detect(r#"1 2019-05-15T16:25:50Z HOST CheckPoint 19710 - [action:"Drop"; ifdir:"inbound"; ifname:"eth2"; dst:"11.22.33.55"; proto:"17"; s_port:"55036"; service:"1514"; src:"11.22.33.77"; rule_name:"CleanUp Rule"; ]"#).unwrap();
        assert_eq!(g(&v, "action"), Some(json!("drop")));
        assert_eq!(g(&v, "dst_port"), Some(json!(1514)));
        assert_eq!(g(&v, "interface_in"), Some(json!("eth2")));
        assert_eq!(g(&v, "rule"), Some(json!("CleanUp Rule")));
        let v = detect("Oct  5 2018 10:52:19 USG6300 %%01POLICY/6/POLICYPERMIT(l):vsys=public, protocol=17, source-ip=1.1.1.1, source-port=2426, destination-ip=2.2.2.2, destination-port=2234, rule-name=Internet Access.").unwrap();
        assert_eq!(g(&v, "action"), Some(json!("allow")));
        assert_eq!(g(&v, "dst_port"), Some(json!(2234)));
        assert_eq!(g(&v, "rule"), Some(json!("Internet Access")));
        let v = detect("2018/10/05 09:52:14 USG6300 %%01URL/4/FILTER(l): The URL filtering policy was matched. (SyslogId=1906054, SrcIp=1.1.1.1, DstIp=2.2.2.2, SrcPort=5702, DstPort=80, Protocol=TCP, Action=Alert)").unwrap();
        assert_eq!(g(&v, "src_ip"), Some(json!("1.1.1.1")));
        assert_eq!(g(&v, "protocol"), Some(json!("tcp")));
        assert!(detect("100%% sure: a/b").is_none());
        let v = detect("Jul  7 05:02:34 ssg5 ssg5: NetScreen device_id=ssg5  [Root]system-emergency-00005: SYN flood! From 1.2.3.4:41437").unwrap();
        assert_eq!(
            g(&v, "message_id"),
            Some(json!("[Root]system-emergency-00005"))
        );
    }

    proptest! {
        #[test]
        fn never_panics(
            anchor in prop::sample::select(vec![
                "id=x sn=y m=1 ", "device=\"SFW\" ", "[junos@1 ", "[action:\"", "CheckPoint [a:\"",
                "%%01A/1/B(l):", "NetScreen device_id=", "",
            ]),
            body in "[ -~]{0,200}",
        ) {
            let _ = detect(&format!("{anchor}{body}"));
            let _ = detect(&format!("{body}{anchor}"));
        }
    }
}
