//! Palo Alto Networks PAN-OS syslog CSV (TRAFFIC, THREAT, SYSTEM, CONFIG; other types keep
//! their common columns).
//!
//! Column positions follow the PAN-OS syslog field descriptions (stable since PAN-OS 6 and
//! extended at the end by later releases): the record starts `FUTURE_USE,Receive Time,Serial,
//! Type,Subtype,…`. Columns are stored under PAN-OS's own syslog field names (`src`, `dst`,
//! `sport`, `rule`, `app`, `from`, `to`, `threatid`, …); short or truncated records keep the
//! columns they have. Normalized fields as in [`super::firewall`]; logsource `product:
//! paloalto`, `category: firewall`, `service:` the lowercase log type.

use std::borrow::Cow;

use chrono::NaiveDateTime;

use super::firewall::{Vendor, proto_name, put_ip, put_num, put_port, put_str, set_action};

/// Columns 0..=30, shared by TRAFFIC, THREAT and most session-based types.
const COMMON: &[&str] = &[
    "future_use1",
    "receive_time",
    "serial",
    "type",
    "subtype",
    "future_use2",
    "time_generated",
    "src",
    "dst",
    "natsrc",
    "natdst",
    "rule",
    "srcuser",
    "dstuser",
    "app",
    "vsys",
    "from",
    "to",
    "inbound_if",
    "outbound_if",
    "logset",
    "future_use3",
    "sessionid",
    "repeatcnt",
    "sport",
    "dport",
    "natsport",
    "natdport",
    "flags",
    "proto",
    "pan_action",
];
const TRAFFIC: &[&str] = &[
    "bytes",
    "bytes_sent",
    "bytes_received",
    "packets",
    "start",
    "elapsed",
    "category",
    "future_use4",
    "seqno",
    "actionflags",
    "srcloc",
    "dstloc",
    "future_use5",
    "pkts_sent",
    "pkts_received",
    "session_end_reason",
];
const THREAT: &[&str] = &[
    "misc",
    "threatid",
    "category",
    "severity",
    "direction",
    "seqno",
    "actionflags",
    "srcloc",
    "dstloc",
    "future_use4",
    "contenttype",
    "pcap_id",
    "filedigest",
    "cloud",
    "url_idx",
    "user_agent",
    "filetype",
    "xff",
    "referer",
    "sender",
    "subject",
    "recipient",
    "reportid",
];
const SYSTEM: &[&str] = &[
    "future_use1",
    "receive_time",
    "serial",
    "type",
    "subtype",
    "future_use2",
    "time_generated",
    "vsys",
    "eventid",
    "object",
    "future_use3",
    "future_use4",
    "module",
    "severity",
    "opaque",
    "seqno",
    "actionflags",
];
const CONFIG: &[&str] = &[
    "future_use1",
    "receive_time",
    "serial",
    "type",
    "subtype",
    "future_use2",
    "time_generated",
    "host",
    "vsys",
    "cmd",
    "admin",
    "client",
    "result",
    "path",
    "before_change_detail",
    "after_change_detail",
    "seqno",
    "actionflags",
];

/// Finds a PAN-OS CSV record in the line: `<digits>,<YYYY/MM/DD HH:MM:SS>,<serial>,<TYPE>,`.
pub(crate) fn detect(line: &str) -> Option<Vendor> {
    let start = memchr::memchr_iter(b',', line.as_bytes()).find_map(|c| record_start(line, c))?;
    let cols = csv_split(&line[start..]);
    let kind = cols
        .get(3)
        .map(|c| c.to_ascii_uppercase())
        .unwrap_or_default();
    let mut v = Vendor::firewall("paloalto", "paloalto", start);
    v.service = Some(kind.to_ascii_lowercase());
    let names: Vec<&str> = match kind.as_str() {
        "TRAFFIC" => COMMON.iter().chain(TRAFFIC).copied().collect(),
        "THREAT" => COMMON.iter().chain(THREAT).copied().collect(),
        "SYSTEM" => SYSTEM.to_vec(),
        "CONFIG" => CONFIG.to_vec(),
        _ => COMMON.to_vec(),
    };
    let f = &mut v.fields;
    for (i, col) in cols.iter().enumerate() {
        if col.is_empty() {
            continue;
        }
        match names.get(i) {
            Some(n) if n.starts_with("future_use") => {}
            Some(n) => f.insert(*n, col.as_ref()),
            None => f.insert(format!("column_{i}"), col.as_ref()),
        }
    }
    let col = |i: usize| cols.get(i).map(|c| c.as_ref()).unwrap_or_default();
    if matches!(kind.as_str(), "SYSTEM" | "CONFIG") {
        v.time = pan_time(col(6));
        return Some(v);
    }
    put_ip(f, "src_ip", col(7));
    put_ip(f, "dst_ip", col(8));
    put_str(f, "rule", col(11));
    put_str(f, "interface_in", col(18));
    put_str(f, "interface_out", col(19));
    put_port(f, "src_port", col(24));
    put_port(f, "dst_port", col(25));
    if !col(29).is_empty() {
        f.insert("protocol", proto_name(col(29)));
    }
    set_action(f, col(30));
    if f.get("vendor_action").is_none() && !col(30).is_empty() {
        f.insert("vendor_action", col(30));
    }
    if kind == "TRAFFIC" {
        put_num(f, "bytes", col(31));
    }
    v.time = pan_time(col(6)).or_else(|| pan_time(col(1)));
    Some(v)
}

fn record_start(line: &str, comma: usize) -> Option<usize> {
    let after = line.get(comma + 1..)?.as_bytes();
    // YYYY/MM/DD HH:MM:SS,
    let shape = b"dddd/dd/dd dd:dd:dd,";
    if after.len() < shape.len()
        || !shape.iter().zip(after).all(|(s, c)| {
            if *s == b'd' {
                c.is_ascii_digit()
            } else {
                s == c
            }
        })
    {
        return None;
    }
    let lead = &line[..comma];
    let tok_start = lead.trim_end_matches(|c: char| c.is_ascii_digit()).len();
    if tok_start == comma || (tok_start > 0 && !lead[..tok_start].ends_with([' ', '\t', ':'])) {
        return None;
    }
    let rest = &line[comma + 1 + shape.len()..];
    let (_serial, rest) = rest.split_once(',')?;
    let kind = rest.split(',').next().unwrap_or(rest);
    (kind.len() >= 3 && kind.bytes().all(|b| b.is_ascii_uppercase())).then_some(tok_start)
}

fn pan_time(s: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    NaiveDateTime::parse_from_str(s, "%Y/%m/%d %H:%M:%S")
        .ok()
        .map(|t| t.and_utc())
}

/// Splits one CSV record; double-quoted fields may hold commas and `""` escapes.
pub(crate) fn csv_split(s: &str) -> Vec<Cow<'_, str>> {
    let mut out = Vec::new();
    let b = s.as_bytes();
    let mut i = 0;
    loop {
        if b.get(i) == Some(&b'"') {
            let mut val = String::new();
            let mut j = i + 1;
            let mut seg = j;
            while j < b.len() {
                if b[j] == b'"' {
                    val.push_str(&s[seg..j]);
                    if b.get(j + 1) == Some(&b'"') {
                        val.push('"');
                        j += 2;
                        seg = j;
                        continue;
                    }
                    break;
                }
                j += 1;
            }
            if j >= b.len() {
                val.push_str(&s[seg.min(b.len())..]);
            }
            out.push(Cow::Owned(val));
            // Skip to the next comma (tolerates junk after the closing quote).
            i = match memchr::memchr(b',', &b[j.min(b.len())..]) {
                Some(p) => j + p + 1,
                None => return out,
            };
        } else {
            match memchr::memchr(b',', &b[i..]) {
                Some(p) => {
                    out.push(Cow::Borrowed(&s[i..i + p]));
                    i += p + 1;
                }
                None => {
                    out.push(Cow::Borrowed(&s[i..]));
                    return out;
                }
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use serde_json::json;

    const TRAFFIC_LINE: &str = "Jul 15 11:59:02 fw01 1,2021/07/15 11:58:58,001801000123,TRAFFIC,end,2305,2021/07/15 11:59:02,10.210.0.84,51.11.168.232,192.0.2.10,51.11.168.232,allow-web,corp\\alice,,ssl,vsys1,trust,untrust,ethernet1/2,ethernet1/1,fwd,2021/07/15 11:59:02,91501273,1,51000,443,40000,443,0x400019,tcp,allow,6203,1543,4660,20,2021/07/15 11:58:50,10,computer-and-internet-info,0,7001,0x0,10.0.0.0-10.255.255.255,United States,0,11,9,tcp-fin";

    /// Found by the syslog fuzz target: a multi-byte character right before the leading
    /// digits of a would-be record used to slice inside the character.
    #[test]
    fn multibyte_before_record_is_not_a_record_and_does_not_panic() {
        let l = "x\u{feff}0,2020/02/09 00:00:00,0000,SYSTEM,general";
        assert!(detect(l).is_none());
        let l = "fw \u{e9}1,2020/02/09 00:00:00,0000,SYSTEM,general";
        assert!(detect(l).is_none());
    }

    #[test]
    fn traffic_columns() {
        let v = detect(TRAFFIC_LINE).unwrap();
        assert_eq!(v.start, 21);
        assert_eq!(v.service.as_deref(), Some("traffic"));
        let g = |k: &str| v.fields.get(k).cloned();
        assert_eq!(g("src_ip"), Some(json!("10.210.0.84")));
        assert_eq!(g("dst_ip"), Some(json!("51.11.168.232")));
        assert_eq!(g("src_port"), Some(json!(51000)));
        assert_eq!(g("dst_port"), Some(json!(443)));
        assert_eq!(g("protocol"), Some(json!("tcp")));
        assert_eq!(g("action"), Some(json!("allow")));
        assert_eq!(g("rule"), Some(json!("allow-web")));
        assert_eq!(g("bytes"), Some(json!(6203)));
        assert_eq!(g("app"), Some(json!("ssl")));
        assert_eq!(g("from"), Some(json!("trust")));
        assert_eq!(g("srcuser"), Some(json!("corp\\alice")));
        assert_eq!(g("session_end_reason"), Some(json!("tcp-fin")));
        assert_eq!(g("interface_in"), Some(json!("ethernet1/2")));
        assert_eq!(v.time.unwrap().to_rfc3339(), "2021-07-15T11:59:02+00:00");
    }

    #[test]
    fn threat_with_quoted_misc_and_no_header() {
        let l = "0,2021/07/12 09:46:23,321321321,THREAT,vulnerability,0,2021/07/12 09:46:00,199.195.252.165,172.30.250.61,199.195.252.165,10.20.0.19,Web-443-OUT,,,web-browsing,vsys1,A,B,ethernet1/1,tunnel.2,LF,2021/07/12 09:46:00,51557,1,55094,443,55094,443,0x502000,tcp,reset-both,\"get,user\",DCS-2530L Disclosure(90255),any,critical,client-to-server";
        let v = detect(l).unwrap();
        assert_eq!(v.start, 0);
        let g = |k: &str| v.fields.get(k).cloned();
        assert_eq!(g("action"), Some(json!("deny")));
        assert_eq!(g("vendor_action"), Some(json!("reset-both")));
        assert_eq!(g("misc"), Some(json!("get,user")));
        assert_eq!(g("threatid"), Some(json!("DCS-2530L Disclosure(90255)")));
        assert_eq!(g("severity"), Some(json!("critical")));
        assert_eq!(g("direction"), Some(json!("client-to-server")));
    }

    #[test]
    fn truncated_and_system_records() {
        let v =
            detect("Apr 30 06:00:00 xx-xx-xx.xx 1,2020/02/09 00:00:00,00000000,TRAFFIC,").unwrap();
        assert_eq!(v.service.as_deref(), Some("traffic"));
        assert!(v.fields.get("src_ip").is_none());
        let v = detect("Apr 30 06:00:00 h 1,2020/02/09 00:00:00,0,SYSTEM,general,0,2020/02/09 00:00:01,,general,,0,0,general,high,\"desc, with comma\",7,0x0").unwrap();
        assert_eq!(v.fields.get_str("severity").as_deref(), Some("high"));
        assert_eq!(
            v.fields.get_str("opaque").as_deref(),
            Some("desc, with comma")
        );
        assert!(detect("a,2020/02/09 00:00:00,0,TRAFFIC,").is_none());
        assert!(detect("1,2020/02/09 00:00:00,0,traffic,").is_none());
        assert!(detect("1,2020/02/09").is_none());
    }

    #[test]
    fn csv_edge_cases() {
        assert_eq!(csv_split("a,\"b\"\"c\",d"), vec!["a", "b\"c", "d"]);
        assert_eq!(csv_split("\"unterminated"), vec!["unterminated"]);
        assert_eq!(csv_split(""), vec![""]);
        assert_eq!(csv_split("a,"), vec!["a", ""]);
    }
}
