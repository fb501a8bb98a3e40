//! Cisco syslog messages: ASA / FTD / PIX / FWSM (`%ASA-6-302013: …`) and IOS
//! (`%SEC-6-IPACCESSLOGP: …`).
//!
//! Every message keeps its text in `message`, the message id in `asa_id` (IOS: `ios_mnemonic`,
//! `ios_facility`) and its level in `severity`. Connection messages (106001, 106006, 106007,
//! 106010, 106014, 106015, 106023, 106100, 302013–302021, 313001, 710001–710003, 418001,
//! 421001, 434002, …) also get the normalized fields of [`super::firewall`]. Outbound
//! "Built" messages name the responder first; they are swapped so `src_*` is the initiator.
//!
//! Logsource: `product: cisco`, `category: firewall`, `service: asa` | `ftd` | `pix` | `fwsm`;
//! command-accounting and AAA messages (ASA 111008–111010, 113xxx, 605xxx; IOS `PARSER`,
//! `SEC_LOGIN`, `AAA`) get `service: aaa`, the service SigmaHQ's `rules/network/cisco/aaa`
//! rules use; IOS `BGP`/`LDP` get `bgp`/`ldp`.

use super::firewall::{Vendor, is_ip, norm_action, proto_name, put_num, put_port, put_str};
use crate::event::Fields;

const FAMILIES: &[&str] = &["%ASA-", "%FTD-", "%PIX-", "%FWSM-"];

/// Detects a Cisco ASA-family or IOS message anywhere in the line.
pub(crate) fn detect(line: &str) -> Option<Vendor> {
    asa(line).or_else(|| ios(line))
}

fn asa(line: &str) -> Option<Vendor> {
    let (at, fam) = FAMILIES
        .iter()
        .filter_map(|f| line.find(f).map(|p| (p, &f[1..f.len() - 1])))
        .min_by_key(|(p, _)| *p)?;
    let rest = &line[at + fam.len() + 2..];
    let (sev, rest) = rest.split_once('-')?;
    let sev: u64 = sev.parse().ok()?;
    let id_len = rest.bytes().take_while(u8::is_ascii_digit).count();
    if id_len == 0 {
        return None;
    }
    let id = &rest[..id_len];
    let msg = rest[id_len..].trim_start_matches(':').trim();
    let mut v = Vendor::firewall(
        match fam {
            "FTD" => "cisco_ftd",
            "PIX" => "cisco_pix",
            "FWSM" => "cisco_fwsm",
            _ => "cisco_asa",
        },
        "cisco",
        at,
    );
    let aaa = matches!(id, "111008" | "111009" | "111010")
        || id.starts_with("113")
        || id.starts_with("605");
    v.service = Some(if aaa {
        "aaa".into()
    } else {
        fam.to_ascii_lowercase()
    });
    let f = &mut v.fields;
    f.insert("asa_id", id);
    f.insert("severity", sev);
    f.insert("message", msg);
    connection(f, id, msg);
    Some(v)
}

/// IOS-style `%FACILITY-SEVERITY-MNEMONIC: text`.
fn ios(line: &str) -> Option<Vendor> {
    let b = line.as_bytes();
    for at in memchr::memchr_iter(b'%', b) {
        let rest = &line[at + 1..];
        let rest = rest.trim_start_matches('%');
        let Some(colon) = rest.find(':') else {
            continue;
        };
        let head = &rest[..colon];
        let mut parts = head.splitn(3, '-');
        let (Some(fac), Some(sev), Some(mn)) = (parts.next(), parts.next(), parts.next()) else {
            continue;
        };
        let ok_word = |w: &str| {
            !w.is_empty()
                && w.chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
        };
        let fac = fac.trim_start_matches(|c: char| c.is_ascii_digit());
        if !ok_word(fac) || sev.len() != 1 || !sev.bytes().all(|c| c.is_ascii_digit()) {
            continue;
        }
        let mn = mn.split('(').next().unwrap_or(mn);
        if !ok_word(mn) {
            continue;
        }
        let msg = rest[colon + 1..].trim();
        let mut v = Vendor {
            format: "cisco_ios",
            product: Some("cisco".into()),
            start: at,
            ..Vendor::default()
        };
        v.service = match fac {
            "PARSER" | "SEC_LOGIN" | "AAA" => Some("aaa".into()),
            "SYS" if mn.starts_with("CONFIG") => Some("aaa".into()),
            "BGP" => Some("bgp".into()),
            "LDP" => Some("ldp".into()),
            _ => None,
        };
        let f = &mut v.fields;
        f.insert("ios_facility", fac);
        f.insert("ios_mnemonic", mn);
        f.insert("severity", sev.parse::<u64>().unwrap_or_default());
        f.insert("message", msg);
        connection(f, "", msg);
        if f.get("src_ip").is_some() {
            v.category = Some("firewall");
        }
        return Some(v);
    }
    None
}

/// One side of a connection as Cisco prints it.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct Endpoint<'a> {
    pub ifc: Option<&'a str>,
    pub ip: &'a str,
    pub port: Option<&'a str>,
}

/// Parses `ifc:IP/port`, `IP/port`, `ifc/IP(port)`, `IP(port)`, `IP:port`, `[IP:port`, `IP`.
pub(crate) fn endpoint(tok: &str) -> Option<Endpoint<'_>> {
    let tok = tok
        .trim_start_matches(['[', '('])
        .trim_end_matches([',', ';', ']', '.']);
    let (rest, mut port) = match tok.strip_suffix(')').and_then(|t| t.split_once('(')) {
        Some((r, p)) => (r, Some(p)),
        None => (tok, None),
    };
    let mut ifc = None;
    let mut addr = rest;
    if let Some((a, b)) = rest.split_once('/') {
        if is_ip(b) || b.split_once(':').is_some_and(|(_, ip)| is_ip(ip)) {
            ifc = Some(a);
            addr = b;
        } else {
            addr = a;
            port = port.or(Some(b));
        }
    }
    if is_ip(addr) {
        return Some(Endpoint {
            ifc,
            ip: addr,
            port,
        });
    }
    if let Some((i, ip)) = addr.split_once(':')
        && is_ip(ip)
    {
        return Some(Endpoint {
            ifc: Some(i),
            ip,
            port,
        });
    }
    if let Some((ip, p)) = addr.rsplit_once(':')
        && is_ip(ip)
        && p.bytes().all(|c| c.is_ascii_digit())
    {
        return Some(Endpoint {
            ifc,
            ip,
            port: Some(p),
        });
    }
    None
}

fn put_endpoint(f: &mut Fields, side: &str, e: &Endpoint<'_>) {
    f.insert(format!("{side}_ip"), e.ip);
    if let Some(p) = e.port {
        put_port(f, &format!("{side}_port"), p);
    }
    if let Some(i) = e.ifc {
        let key = if side == "src" {
            "interface_in"
        } else {
            "interface_out"
        };
        put_str(f, key, i);
    }
}

/// The endpoint right after the first word `w` that is followed by an endpoint.
fn after<'a>(words: &[&'a str], w: &str) -> Option<Endpoint<'a>> {
    pair(words, w, None).0
}

/// `(endpoint after word a, endpoint after a later word b)`: `from X to Y`, `src X dst Y`.
fn pair<'a>(
    words: &[&'a str],
    a: &str,
    b: Option<&str>,
) -> (Option<Endpoint<'a>>, Option<Endpoint<'a>>) {
    let find = |w: &str, from: usize| {
        (from..words.len().saturating_sub(1)).find_map(|i| {
            if words[i].eq_ignore_ascii_case(w) {
                endpoint(words[i + 1]).map(|e| (i + 1, e))
            } else {
                None
            }
        })
    };
    let Some((at, first)) = find(a, 0) else {
        return (None, None);
    };
    let second = b.and_then(|b| find(b, at + 1)).map(|(_, e)| e);
    (Some(first), second)
}

const PROTOS: &[&str] = &[
    "tcp", "udp", "icmp", "icmp6", "gre", "esp", "ah", "ip", "sctp", "igmp",
];

/// Extracts the normalized connection fields from a message text.
fn connection(f: &mut Fields, id: &str, msg: &str) {
    let words: Vec<&str> = msg.split_ascii_whitespace().collect();
    let lower = |w: &str| w.to_ascii_lowercase();
    // Protocol: first protocol word, or `protocol N`.
    let mut proto = None;
    for (i, w) in words.iter().enumerate() {
        let lw = lower(w.trim_end_matches(','));
        if PROTOS.contains(&lw.as_str()) {
            proto = Some(lw);
            break;
        }
        if lw == "protocol"
            && let Some(n) = words
                .get(i + 1)
                .filter(|n| n.bytes().all(|c| c.is_ascii_digit()))
        {
            proto = Some(proto_name(n));
            break;
        }
    }
    let built = words.first().is_some_and(|w| *w == "Built");
    let outbound = words.get(1).is_some_and(|w| *w == "outbound");
    let (mut src, mut dst) = if let Some(arrow) = words.iter().position(|w| *w == "->") {
        (
            arrow.checked_sub(1).and_then(|i| endpoint(words[i])),
            words.get(arrow + 1).and_then(|t| endpoint(t)),
        )
    } else if words.contains(&"faddr") {
        (after(&words, "faddr"), after(&words, "laddr"))
    } else if words.contains(&"src") {
        let (s, d) = pair(&words, "src", Some("dst"));
        (s, d.or_else(|| pair(&words, "src", Some("dest")).1))
    } else if words.contains(&"for") && (built || msg.starts_with("Teardown")) {
        pair(&words, "for", Some("to"))
    } else {
        pair(&words, "from", Some("to"))
    };
    if built && outbound {
        std::mem::swap(&mut src, &mut dst);
    }
    if id.starts_with("305") {
        // NAT translation: the "to" side is the mapped address, not a peer.
        if let Some(s) = &src {
            put_endpoint(f, "src", s);
        }
        if let Some(d) = &dst {
            put_str(f, "mapped_ip", d.ip);
            put_port(f, "mapped_port", d.port.unwrap_or_default());
        }
        if let Some(p) = proto {
            f.insert("protocol", p);
        }
        return;
    }
    let Some(s) = src else { return };
    put_endpoint(f, "src", &s);
    if let Some(d) = &dst {
        put_endpoint(f, "dst", d);
    }
    if let Some(p) = proto {
        f.insert("protocol", p);
    }
    if let Some(i) = words
        .windows(3)
        .position(|w| w[0] == "on" && w[1] == "interface")
    {
        put_str(f, "interface_in", words[i + 2]);
    }
    if let Some(i) = words.iter().position(|w| *w == "bytes") {
        put_num(f, "bytes", words.get(i + 1).copied().unwrap_or_default());
    }
    if let Some(i) = words.iter().position(|w| *w == "duration") {
        put_str(f, "duration", words.get(i + 1).copied().unwrap_or_default());
    }
    if built || msg.starts_with("Teardown") {
        f.insert("direction", if outbound { "outbound" } else { "inbound" });
        if let Some(c) = words.iter().position(|w| *w == "connection")
            && let Some(n) = words
                .get(c + 1)
                .filter(|n| n.bytes().all(|b| b.is_ascii_digit()))
        {
            f.insert("connection_id", *n);
        }
    }
    // Rule: access-group "X", access-list X, list X (IOS).
    if let Some(i) = words.iter().position(|w| *w == "access-group") {
        put_str(
            f,
            "rule",
            words.get(i + 1).map_or("", |w| w.trim_matches('"')),
        );
    } else if let Some(i) = words
        .iter()
        .position(|w| *w == "access-list" || *w == "list")
    {
        put_str(f, "rule", words.get(i + 1).copied().unwrap_or_default());
    }
    let action = if built || msg.starts_with("Teardown") {
        Some("allow")
    } else {
        words
            .iter()
            .find_map(|w| norm_action(w.trim_end_matches([',', '.', ':'])))
    };
    if let Some(a) = action {
        f.insert("action", a);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use serde_json::json;

    fn get(v: &Vendor, k: &str) -> Option<serde_json::Value> {
        v.fields.get(k).cloned()
    }

    #[test]
    fn endpoints() {
        let e = endpoint("outside:10.1.2.3/443").unwrap();
        assert_eq!(
            (e.ifc, e.ip, e.port),
            (Some("outside"), "10.1.2.3", Some("443"))
        );
        let e = endpoint("inside/10.0.0.1(1025)").unwrap();
        assert_eq!(
            (e.ifc, e.ip, e.port),
            (Some("inside"), "10.0.0.1", Some("1025"))
        );
        let e = endpoint("10.0.6.56(3067)").unwrap();
        assert_eq!((e.ip, e.port), ("10.0.6.56", Some("3067")));
        let e = endpoint("[192.168.100.11:51654").unwrap();
        assert_eq!((e.ip, e.port), ("192.168.100.11", Some("51654")));
        let e = endpoint("outside:2001:db8::1/80").unwrap();
        assert_eq!(
            (e.ifc, e.ip, e.port),
            (Some("outside"), "2001:db8::1", Some("80"))
        );
        assert!(endpoint("interface_name").is_none());
    }

    #[test]
    fn asa_106023_access_group_deny() {
        let v = detect("Oct 03 2018 17:34:08: %ASA-4-106023: Deny udp src office:1.1.1.1/3217 dst dmz:2.2.2.2/15000 by access-group \"ACLoffice\" [0x0, 0x0]").unwrap();
        assert_eq!(v.format, "cisco_asa");
        assert_eq!(v.start, 22);
        assert_eq!(get(&v, "asa_id"), Some(json!("106023")));
        assert_eq!(get(&v, "severity"), Some(json!(4)));
        assert_eq!(get(&v, "action"), Some(json!("deny")));
        assert_eq!(get(&v, "protocol"), Some(json!("udp")));
        assert_eq!(get(&v, "src_ip"), Some(json!("1.1.1.1")));
        assert_eq!(get(&v, "src_port"), Some(json!(3217)));
        assert_eq!(get(&v, "dst_port"), Some(json!(15000)));
        assert_eq!(get(&v, "interface_in"), Some(json!("office")));
        assert_eq!(get(&v, "interface_out"), Some(json!("dmz")));
        assert_eq!(get(&v, "rule"), Some(json!("ACLoffice")));
        assert_eq!(v.service.as_deref(), Some("asa"));
    }

    #[test]
    fn asa_built_outbound_is_swapped_and_teardown_has_bytes() {
        let v = detect("%ASA-6-302013: Built outbound TCP connection 1234 for outside:8.8.8.8/443 (8.8.8.8/443) to inside:10.0.0.5/51000 (192.0.2.1/51000)").unwrap();
        assert_eq!(get(&v, "src_ip"), Some(json!("10.0.0.5")));
        assert_eq!(get(&v, "dst_ip"), Some(json!("8.8.8.8")));
        assert_eq!(get(&v, "dst_port"), Some(json!(443)));
        assert_eq!(get(&v, "action"), Some(json!("allow")));
        assert_eq!(get(&v, "connection_id"), Some(json!("1234")));
        let v = detect("%ASA-6-302014: Teardown TCP connection 1234 for outside:8.8.8.8/443 to inside:10.0.0.5/51000 duration 0:00:30 bytes 5120 TCP FINs").unwrap();
        assert_eq!(get(&v, "bytes"), Some(json!(5120)));
        assert_eq!(get(&v, "duration"), Some(json!("0:00:30")));
        let v = detect("%ASA-6-302015: Built inbound UDP connection 7 for outside:1.2.3.4/53 (1.2.3.4/53) to inside:10.0.0.1/5353 (10.0.0.1/5353)").unwrap();
        assert_eq!(get(&v, "src_ip"), Some(json!("1.2.3.4")));
        assert_eq!(get(&v, "protocol"), Some(json!("udp")));
    }

    #[test]
    fn asa_common_denies() {
        let v = detect("%ASA-2-106001: Inbound TCP connection denied from 111.93.241.59/54322 to 116.6.127.122/1433 flags SYN on interface outside").unwrap();
        assert_eq!(get(&v, "action"), Some(json!("deny")));
        assert_eq!(get(&v, "dst_port"), Some(json!(1433)));
        assert_eq!(get(&v, "interface_in"), Some(json!("outside")));
        let v = detect(
            "%ASA-2-106006: Deny inbound UDP from 10.1.1.1/137 to 10.2.2.2/137 on interface inside",
        )
        .unwrap();
        assert_eq!(get(&v, "protocol"), Some(json!("udp")));
        let v = detect(
            "%ASA-2-106007: Deny inbound UDP from 10.1.1.1/53 to 10.2.2.2/5353 due to DNS Query",
        )
        .unwrap();
        assert_eq!(get(&v, "dst_port"), Some(json!(5353)));
        let v = detect("%ASA-3-106014: Deny inbound icmp src outside:151.80.47.231 dst outside:116.6.127.112 (type 3, code 2)").unwrap();
        assert_eq!(get(&v, "protocol"), Some(json!("icmp")));
        assert_eq!(get(&v, "dst_ip"), Some(json!("116.6.127.112")));
        assert!(get(&v, "dst_port").is_none());
        let v = detect("%ASA-6-106015: Deny TCP (no connection) from 10.0.0.1/443 to 10.0.0.2/5000 flags RST on interface inside").unwrap();
        assert_eq!(get(&v, "action"), Some(json!("deny")));
        let v = detect("%ASA-6-106100: access-list OUTSIDE_IN denied tcp outside/198.51.100.7(40000) -> inside/10.0.0.8(22) hit-cnt 1 first hit [0x1, 0x0]").unwrap();
        assert_eq!(get(&v, "rule"), Some(json!("OUTSIDE_IN")));
        assert_eq!(get(&v, "src_ip"), Some(json!("198.51.100.7")));
        assert_eq!(get(&v, "dst_port"), Some(json!(22)));
        assert_eq!(get(&v, "action"), Some(json!("deny")));
        let v = detect(
            "%ASA-3-313001: Denied ICMP type=8, code=0 from 203.0.113.9 on interface outside",
        )
        .unwrap();
        assert_eq!(get(&v, "src_ip"), Some(json!("203.0.113.9")));
        assert_eq!(get(&v, "protocol"), Some(json!("icmp")));
        let v = detect("%PIX-3-710003: TCP access denied by ACL from 216.39.220.130/54065 to outside:62.192.113.98/ssh").unwrap();
        assert_eq!(v.format, "cisco_pix");
        assert_eq!(get(&v, "dst_port"), Some(json!(22)));
    }

    #[test]
    fn asa_nat_and_other_ids() {
        let v = detect("%ASA-6-305011: Built dynamic TCP translation from inside:10.2.3.4/5000 to outside:192.0.2.1/6000").unwrap();
        assert_eq!(get(&v, "src_ip"), Some(json!("10.2.3.4")));
        assert_eq!(get(&v, "mapped_ip"), Some(json!("192.0.2.1")));
        assert!(get(&v, "action").is_none());
        let v = detect(
            "%ASA-4-733100: [ Scanning] drop rate-1 exceeded. Current burst rate is 10 per second",
        )
        .unwrap();
        assert_eq!(get(&v, "asa_id"), Some(json!("733100")));
        assert!(get(&v, "src_ip").is_none());
        let v = detect(
            "%ASA-5-111010: User 'admin', running 'CLI' from IP 10.0.0.1, executed 'clear logging'",
        )
        .unwrap();
        assert_eq!(v.service.as_deref(), Some("aaa"));
        let v = detect("%FTD-1-101001: (Primary) Failover cable OK.").unwrap();
        assert_eq!(v.format, "cisco_ftd");
        assert_eq!(v.service.as_deref(), Some("ftd"));
        let v =
            detect("%ASA-2-106017: Deny IP due to Land Attack from 193.17.108.1 to 193.17.108.1")
                .unwrap();
        assert_eq!(get(&v, "dst_ip"), Some(json!("193.17.108.1")));
        assert_eq!(get(&v, "protocol"), Some(json!("ip")));
        let v = detect("%ASA-4-401004 Shunned packet: 192.168.0.1 = 192.168.0.2 on interface x")
            .unwrap();
        assert_eq!(get(&v, "asa_id"), Some(json!("401004")));
        assert!(detect("%ASA-x-12: nope").is_none());
        assert!(detect("%ASA-").is_none());
    }

    #[test]
    fn ios_messages() {
        let v = detect("Sep  1 10:25:29 10.10.10.1 %SEC-6-IPACCESSLOGP: list 102 denied tcp 10.0.6.56(3067) -> 172.36.4.7(139), 1 packet").unwrap();
        assert_eq!(v.format, "cisco_ios");
        assert_eq!(get(&v, "rule"), Some(json!("102")));
        assert_eq!(get(&v, "dst_port"), Some(json!(139)));
        assert_eq!(get(&v, "action"), Some(json!("deny")));
        assert_eq!(v.category, Some("firewall"));
        let v =
            detect("%PARSER-5-CFGLOG_LOGGEDCMD: User:admin  logged command:clear logging").unwrap();
        assert_eq!(v.service.as_deref(), Some("aaa"));
        assert!(v.category.is_none());
        assert!(detect("disk 100% full: yes").is_none());
    }
}
