//! ArcSight CEF and IBM QRadar LEEF (1.0 and 2.0), with or without a syslog header in front.
//!
//! CEF: `CEF:Version|Device Vendor|Device Product|Device Version|Signature ID|Name|Severity|
//! Extension`. Header fields become `cef_version`, `device_vendor`, `device_product`,
//! `device_version`, `signature_id`, `name`, `severity` (`\|` and `\\` unescaped); extension
//! keys keep their CEF names (`src`, `spt`, `act`, `suser`, …) with `\=`, `\\`, `\n`, `\r`
//! unescaped. LEEF: `LEEF:1.0|Vendor|Product|Version|EventID|` then tab-separated `key=value`;
//! 2.0 adds a delimiter field (a character, or `x09` / `0x09` / `\t`). Header fields become
//! `leef_version`, `device_vendor`, `device_product`, `device_version`, `event_id`.
//!
//! Normalized fields as in [`super::firewall`]: CEF `src`/`dst`/`spt`/`dpt`/`proto`/`act`/
//! `in`+`out` and LEEF `src`/`dst`/`srcPort`/`dstPort`/`proto`/`action`/`srcBytes`+`dstBytes`.
//! Time from CEF `rt` or LEEF `devTime` (+ `devTimeFormat`); host from `dvchost`/`devName`.
//! Logsource: `category: firewall` when the record names a source or destination address;
//! `product` only for vendors with a SigmaHQ product name (fortigate, cisco, paloalto,
//! checkpoint).

use std::borrow::Cow;

use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};

use super::firewall::{Vendor, at_boundary, proto_name, put_ip, put_port, put_str, set_action};
use super::parse_time_str;
use crate::event::Fields;

/// Detects a CEF or LEEF record anywhere in the line.
pub(crate) fn detect(line: &str) -> Option<Vendor> {
    for (tag, is_cef) in [("CEF:", true), ("LEEF:", false)] {
        let found = memchr::memmem::find_iter(line.as_bytes(), tag.as_bytes()).find(|&p| {
            (at_boundary(line, p) || line[..p].ends_with(':'))
                && line
                    .as_bytes()
                    .get(p + tag.len())
                    .is_some_and(u8::is_ascii_digit)
        });
        if let Some(at) = found {
            return Some(if is_cef {
                cef(line, at)
            } else {
                leef(line, at)
            });
        }
    }
    None
}

/// Splits on unescaped `|`, at most `n` times; pieces are unescaped (`\|`, `\\`).
fn split_header(s: &str, n: usize) -> (Vec<String>, &str) {
    let mut parts = Vec::new();
    let mut cur = String::new();
    let mut chars = s.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some((_, e @ ('|' | '\\'))) => cur.push(e),
                Some((_, e)) => {
                    cur.push('\\');
                    cur.push(e);
                }
                None => cur.push('\\'),
            },
            '|' => {
                parts.push(std::mem::take(&mut cur));
                if parts.len() == n {
                    return (parts, &s[i + 1..]);
                }
            }
            _ => cur.push(c),
        }
    }
    parts.push(cur);
    (parts, "")
}

fn cef(line: &str, at: usize) -> Vendor {
    let (head, ext) = split_header(&line[at + 4..], 7);
    let mut v = Vendor {
        format: "cef",
        start: at,
        ..Vendor::default()
    };
    let names = [
        "cef_version",
        "device_vendor",
        "device_product",
        "device_version",
        "signature_id",
        "name",
        "severity",
    ];
    for (n, val) in names.iter().zip(&head) {
        put_str(&mut v.fields, n, val);
    }
    let pairs = extension(ext);
    for (k, val) in &pairs {
        v.fields.insert(*k, val.as_ref());
    }
    let get = |k: &str| {
        pairs
            .iter()
            .find(|(key, _)| *key == k)
            .map(|(_, v)| v.as_ref())
    };
    let f = &mut v.fields;
    let has_src = get("src").is_some_and(|s| put_ip(f, "src_ip", s))
        | get("dst").is_some_and(|s| put_ip(f, "dst_ip", s))
        | get("c6a2").is_some_and(|s| put_ip(f, "src_ip", s))
        | get("c6a3").is_some_and(|s| put_ip(f, "dst_ip", s));
    if let Some(p) = get("spt") {
        put_port(f, "src_port", p);
    }
    if let Some(p) = get("dpt") {
        put_port(f, "dst_port", p);
    }
    if let Some(p) = get("proto").filter(|p| !p.is_empty()) {
        f.insert("protocol", proto_name(p));
    }
    if let Some(a) = get("act") {
        set_action(f, a);
    }
    sum_bytes(f, get("in"), get("out"));
    if let Some(i) = get("deviceInboundInterface") {
        put_str(f, "interface_in", i);
    }
    if let Some(i) = get("deviceOutboundInterface") {
        put_str(f, "interface_out", i);
    }
    v.product = head.get(1).and_then(|vendor| sigma_product(vendor));
    v.category = has_src.then_some("firewall");
    v.time = get("rt")
        .or(get("end"))
        .and_then(|t| flexible_time(t, None));
    v.host = get("dvchost")
        .or(get("deviceHostName"))
        .filter(|h| !h.is_empty())
        .map(str::to_owned);
    v
}

fn leef(line: &str, at: usize) -> Vendor {
    let rest = &line[at + 5..];
    let two = rest.starts_with('2');
    let (head, attrs) = split_header(rest, if two { 6 } else { 5 });
    let mut v = Vendor {
        format: "leef",
        start: at,
        ..Vendor::default()
    };
    let names = [
        "leef_version",
        "device_vendor",
        "device_product",
        "device_version",
        "event_id",
    ];
    for (n, val) in names.iter().zip(&head) {
        put_str(&mut v.fields, n, val);
    }
    let delim = if two {
        head.get(5).and_then(|d| delimiter(d))
    } else {
        None
    }
    .unwrap_or('\t');
    let pairs: Vec<(&str, Cow<'_, str>)> = if attrs.contains(delim) {
        attrs
            .split(delim)
            .filter_map(|kv| kv.split_once('='))
            .filter(|(k, _)| !k.trim().is_empty())
            .map(|(k, val)| (k.trim(), Cow::Borrowed(val)))
            .collect()
    } else {
        // Some senders use spaces instead of the declared delimiter.
        extension(attrs)
    };
    for (k, val) in &pairs {
        v.fields.insert(*k, val.as_ref());
    }
    let get = |k: &str| {
        pairs
            .iter()
            .find(|(key, _)| *key == k)
            .map(|(_, v)| v.as_ref())
    };
    let f = &mut v.fields;
    let has_src = get("src").is_some_and(|s| put_ip(f, "src_ip", s))
        | get("dst").is_some_and(|s| put_ip(f, "dst_ip", s));
    if let Some(p) = get("srcPort") {
        put_port(f, "src_port", p);
    }
    if let Some(p) = get("dstPort") {
        put_port(f, "dst_port", p);
    }
    if let Some(p) = get("proto").filter(|p| !p.is_empty()) {
        f.insert("protocol", proto_name(p));
    }
    if let Some(a) = get("action") {
        set_action(f, a);
    }
    sum_bytes(f, get("srcBytes"), get("dstBytes"));
    v.product = head.get(1).and_then(|vendor| sigma_product(vendor));
    v.category = has_src.then_some("firewall");
    v.time = get("devTime").and_then(|t| flexible_time(t, get("devTimeFormat")));
    v.host = get("devName")
        .or(get("identHostName"))
        .filter(|h| !h.is_empty())
        .map(str::to_owned);
    v
}

fn sum_bytes(f: &mut Fields, a: Option<&str>, b: Option<&str>) {
    let a = a.and_then(|s| s.trim().parse::<u64>().ok());
    let b = b.and_then(|s| s.trim().parse::<u64>().ok());
    if a.is_some() || b.is_some() {
        f.insert("bytes", a.unwrap_or(0).saturating_add(b.unwrap_or(0)));
    }
}

/// LEEF 2.0 delimiter: a single character, or its code as `x09`, `0x09`, `\t`.
fn delimiter(d: &str) -> Option<char> {
    let d = d.trim();
    if d == "\\t" {
        return Some('\t');
    }
    let hex = d
        .strip_prefix("0x")
        .or_else(|| d.strip_prefix("x"))
        .or_else(|| d.strip_prefix("X"));
    if let Some(h) = hex.filter(|h| !h.is_empty()) {
        return u32::from_str_radix(h, 16).ok().and_then(char::from_u32);
    }
    let mut cs = d.chars();
    match (cs.next(), cs.next()) {
        (Some(c), None) => Some(c),
        _ => None,
    }
}

/// Parses a CEF extension: space-separated `key=value` where values run to the next
/// ` key=` and `=` inside values is escaped as `\=`.
pub(crate) fn extension(s: &str) -> Vec<(&str, Cow<'_, str>)> {
    let b = s.as_bytes();
    // (key start, '=' position)
    let mut keys: Vec<(usize, usize)> = Vec::new();
    for eq in memchr::memchr_iter(b'=', b) {
        let mut backslashes = 0;
        while eq > backslashes && b[eq - 1 - backslashes] == b'\\' {
            backslashes += 1;
        }
        if backslashes % 2 == 1 {
            continue;
        }
        let mut k = eq;
        while k > 0 && is_key_byte(b[k - 1]) {
            k -= 1;
        }
        if k == eq || (k > 0 && b[k - 1] != b' ' && b[k - 1] != b'\t') {
            continue;
        }
        if keys.last().is_some_and(|&(_, last_eq)| k <= last_eq) {
            continue;
        }
        keys.push((k, eq));
    }
    let mut out = Vec::with_capacity(keys.len());
    for (i, &(k, eq)) in keys.iter().enumerate() {
        let end = keys.get(i + 1).map_or(s.len(), |&(next, _)| next);
        let raw = s[eq + 1..end].trim_end_matches([' ', '\t']);
        out.push((&s[k..eq], unescape_value(raw)));
    }
    out
}

fn is_key_byte(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-' | b'[' | b']')
}

fn unescape_value(raw: &str) -> Cow<'_, str> {
    if !raw.contains('\\') {
        return Cow::Borrowed(raw);
    }
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some(e @ ('=' | '\\' | '|')) => out.push(e),
            Some(e) => {
                out.push('\\');
                out.push(e);
            }
            None => out.push('\\'),
        }
    }
    Cow::Owned(out)
}

fn sigma_product(vendor: &str) -> Option<String> {
    let v = vendor.to_ascii_lowercase();
    let p = if v.contains("fortinet") {
        "fortigate"
    } else if v.contains("cisco") {
        "cisco"
    } else if v.contains("palo alto") {
        "paloalto"
    } else if v.contains("check point") || v.contains("checkpoint") {
        "checkpoint"
    } else {
        return None;
    };
    Some(p.to_owned())
}

/// CEF `rt` / LEEF `devTime`: epoch milliseconds or seconds, RFC 3339, or the common
/// `MMM dd yyyy HH:mm:ss` shapes; a Java `devTimeFormat` is translated when given.
fn flexible_time(s: &str, java_format: Option<&str>) -> Option<DateTime<Utc>> {
    let s = s.trim();
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        let n: i64 = s.parse().ok()?;
        return if n > 100_000_000_000 {
            Utc.timestamp_millis_opt(n).single()
        } else {
            Utc.timestamp_opt(n, 0).single()
        };
    }
    if let Some(t) = parse_time_str(s) {
        return Some(t);
    }
    let translated = java_format.map(java_to_chrono);
    let formats = translated.iter().map(String::as_str).chain([
        "%b %d %Y %H:%M:%S%.f",
        "%b %d %Y %H:%M:%S",
        "%b %d %H:%M:%S %Y",
        "%d %b %Y %H:%M:%S",
    ]);
    for fmt in formats {
        if let Ok(t) = DateTime::parse_from_str(s, fmt) {
            return Some(t.with_timezone(&Utc));
        }
        if let Ok(t) = NaiveDateTime::parse_from_str(s, fmt) {
            return Some(t.and_utc());
        }
        // A trailing zone name (`UTC`, `CET`) chrono cannot read: drop it and read as UTC.
        if let Some((head, _)) = s.rsplit_once(' ')
            && let Ok(t) = NaiveDateTime::parse_from_str(head, fmt)
        {
            return Some(t.and_utc());
        }
    }
    None
}

fn java_to_chrono(f: &str) -> String {
    let mut out = String::new();
    let b = f.as_bytes();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        let mut n = 1;
        while i + n < b.len() && b[i + n] == c {
            n += 1;
        }
        let tok = match (c, n) {
            (b'y', _) => "%Y",
            (b'M', 1 | 2) => "%m",
            (b'M', _) => "%b",
            (b'd', _) => "%d",
            (b'H', _) => "%H",
            (b'm', _) => "%M",
            (b's', _) => "%S",
            (b'S', _) => "%3f",
            (b'Z' | b'X', _) => "%z",
            (b'z', _) => "%Z",
            (b'a', _) => "%p",
            (b'h', _) => "%I",
            _ => {
                out.push_str(&f[i..i + n]);
                i += n;
                continue;
            }
        };
        out.push_str(tok);
        i += n;
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn cef_header_escapes_and_extension() {
        let l = r"<134>Feb 14 19:04:54 fw01 CEF:0|Security|threat\|manager|1.0|100|worm successfully stopped|10|src=10.0.0.1 dst=2.1.2.2 spt=1232 dpt=80 proto=TCP act=blocked msg=a\=b c\\d\nnext cs1Label=Rule Name cs1=r 1 in=100 out=23 rt=1392404694000 dvchost=fw01.corp";
        let v = detect(l).unwrap();
        assert_eq!(v.format, "cef");
        assert_eq!(v.start, 26);
        let g = |k: &str| v.fields.get(k).cloned();
        assert_eq!(g("device_product"), Some(json!("threat|manager")));
        assert_eq!(g("severity"), Some(json!("10")));
        assert_eq!(g("name"), Some(json!("worm successfully stopped")));
        assert_eq!(g("msg"), Some(json!("a=b c\\d\nnext")));
        assert_eq!(g("cs1Label"), Some(json!("Rule Name")));
        assert_eq!(g("cs1"), Some(json!("r 1")));
        assert_eq!(g("src_ip"), Some(json!("10.0.0.1")));
        assert_eq!(g("dst_port"), Some(json!(80)));
        assert_eq!(g("protocol"), Some(json!("tcp")));
        assert_eq!(g("action"), Some(json!("deny")));
        assert_eq!(g("vendor_action"), Some(json!("blocked")));
        assert_eq!(g("bytes"), Some(json!(123)));
        assert_eq!(v.category, Some("firewall"));
        assert_eq!(v.host.as_deref(), Some("fw01.corp"));
        assert_eq!(v.time.unwrap().timestamp(), 1_392_404_694);
    }

    #[test]
    fn cef_truncated_and_ipv6() {
        let v = detect("CEF:0|Vendor|Prod|1|sig").unwrap();
        assert_eq!(v.fields.get_str("signature_id").as_deref(), Some("sig"));
        assert!(v.fields.get("name").is_none());
        let v = detect("CEF:1|Fortinet|FortiGate|7|13|x|5|src=2001:db8::1 dst=2001:db8::2 rt=Feb 14 2014 19:04:54").unwrap();
        assert_eq!(v.fields.get_str("src_ip").as_deref(), Some("2001:db8::1"));
        assert_eq!(v.product.as_deref(), Some("fortigate"));
        assert_eq!(v.time.unwrap().to_rfc3339(), "2014-02-14T19:04:54+00:00");
        assert!(detect("CEF:x|nope").is_none());
        assert!(detect("NOTCEF:0|a").is_none());
    }

    #[test]
    fn leef_1_and_2() {
        let v = detect("Jan 18 11:07:53 host LEEF:1.0|Microsoft|MSExchange|4.0 SP1|15345|src=192.0.2.0\tdst=172.50.123.1\tsev=5\tcat=anomaly\tsrcPort=81\tdstPort=21\tusrName=joe.black\tproto=6").unwrap();
        assert_eq!(v.format, "leef");
        let g = |k: &str| v.fields.get(k).cloned();
        assert_eq!(g("event_id"), Some(json!("15345")));
        assert_eq!(g("usrName"), Some(json!("joe.black")));
        assert_eq!(g("dst_port"), Some(json!(21)));
        assert_eq!(g("protocol"), Some(json!("tcp")));
        let v = detect("LEEF:2.0|Lancope|StealthWatch|1.0|41|^|src=10.0.1.8^dst=10.0.0.5^sev=5^srcPort=81^dstPort=21^devTime=May 24 2016 15:30:00^devTimeFormat=MMM dd yyyy HH:mm:ss").unwrap();
        let g = |k: &str| v.fields.get(k).cloned();
        assert_eq!(g("src_ip"), Some(json!("10.0.1.8")));
        assert_eq!(g("src_port"), Some(json!(81)));
        assert_eq!(v.time.unwrap().to_rfc3339(), "2016-05-24T15:30:00+00:00");
        let v = detect("LEEF:2.0|V|P|1|E|x09|src=10.0.0.1\tdevTime=1464103800000").unwrap();
        assert_eq!(v.fields.get_str("src_ip").as_deref(), Some("10.0.0.1"));
        assert_eq!(v.time.unwrap().timestamp(), 1_464_103_800);
    }

    #[test]
    fn extension_edge_cases() {
        let p = extension("a=1 b= c=x=y d=\\=e url=http://x/?q=1&r=2 trailing=");
        let keys: Vec<&str> = p.iter().map(|(k, _)| *k).collect();
        assert_eq!(keys, ["a", "b", "c", "d", "url", "trailing"]);
        assert_eq!(p[2].1, "x=y");
        assert_eq!(p[3].1, "=e");
        assert_eq!(p[4].1, "http://x/?q=1&r=2");
        assert!(extension("").is_empty());
        assert!(extension("no pairs here").is_empty());
        assert_eq!(delimiter("0x5e"), Some('^'));
        assert_eq!(
            java_to_chrono("yyyy-MM-dd HH:mm:ss.SSS"),
            "%Y-%m-%d %H:%M:%S.%3f"
        );
    }
}
