//! DNS wire-format decoder (RFC 1035 and friends), written for untrusted captures.
//!
//! Decodes a header, the first question and the answer section of one DNS message into a
//! [`DnsMessage`]. Names are decompressed with loop protection: every compression pointer must
//! point strictly before the place it was read from, and at most [`MAX_POINTER_JUMPS`] jumps
//! are followed, so a crafted message can neither loop nor blow up. A decoded name is capped at
//! 255 wire octets. Anything malformed yields `None` (the message is not turned into an event)
//! or, inside the answer section, stops answer decoding while keeping what was read.
//!
//! Name rendering follows the presentation format `dig` uses: printable ASCII as-is, `.`, `\`
//! and other bytes escaped as `\DDD`; the root name is `.`.

use std::fmt::Write;
use std::net::{Ipv4Addr, Ipv6Addr};

/// Most compression pointers followed while reading one name.
pub const MAX_POINTER_JUMPS: usize = 32;
/// Most answer records rendered per message.
pub const MAX_ANSWERS: usize = 64;
/// Longest TXT answer kept (bytes of rendered text); longer data is cut, never dropped.
pub const MAX_TXT: usize = 4096;

/// One decoded DNS message (query or response).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsMessage {
    pub id: u16,
    pub response: bool,
    pub opcode: u8,
    pub rcode: u8,
    pub truncated: bool,
    pub recursion_desired: bool,
    /// First question's name (`.` for the root), `None` when the message has no question.
    pub query: Option<String>,
    pub qtype: u16,
    pub qclass: u16,
    /// Number of labels in the query name (0 for the root).
    pub labels: usize,
    pub question_count: u16,
    pub answer_count: u16,
    /// Rendered answer data (address, target name, TXT text, …), in section order.
    pub answers: Vec<String>,
    /// Record type name of each rendered answer.
    pub answer_types: Vec<&'static str>,
    pub ttls: Vec<u32>,
}

/// The mnemonic of a record type (`A`, `AAAA`, `TXT`, …); `TYPE<n>` names are left to callers.
pub fn type_name(t: u16) -> Option<&'static str> {
    Some(match t {
        1 => "A",
        2 => "NS",
        5 => "CNAME",
        6 => "SOA",
        10 => "NULL",
        12 => "PTR",
        13 => "HINFO",
        15 => "MX",
        16 => "TXT",
        17 => "RP",
        18 => "AFSDB",
        24 => "SIG",
        25 => "KEY",
        28 => "AAAA",
        29 => "LOC",
        33 => "SRV",
        35 => "NAPTR",
        39 => "DNAME",
        41 => "OPT",
        43 => "DS",
        46 => "RRSIG",
        47 => "NSEC",
        48 => "DNSKEY",
        50 => "NSEC3",
        52 => "TLSA",
        64 => "SVCB",
        65 => "HTTPS",
        99 => "SPF",
        249 => "TKEY",
        250 => "TSIG",
        251 => "IXFR",
        252 => "AXFR",
        255 => "ANY",
        256 => "URI",
        257 => "CAA",
        _ => return None,
    })
}

/// Record type rendered as a string: the mnemonic, or `TYPE<n>` (RFC 3597).
pub fn type_string(t: u16) -> String {
    type_name(t).map_or_else(|| format!("TYPE{t}"), str::to_owned)
}

/// The mnemonic of a response code.
pub fn rcode_name(r: u8) -> &'static str {
    match r {
        0 => "NOERROR",
        1 => "FORMERR",
        2 => "SERVFAIL",
        3 => "NXDOMAIN",
        4 => "NOTIMP",
        5 => "REFUSED",
        6 => "YXDOMAIN",
        7 => "YXRRSET",
        8 => "NXRRSET",
        9 => "NOTAUTH",
        10 => "NOTZONE",
        _ => "RESERVED",
    }
}

fn u16_at(msg: &[u8], at: usize) -> Option<u16> {
    let b = msg.get(at..at.checked_add(2)?)?;
    Some(u16::from_be_bytes([b[0], b[1]]))
}

fn u32_at(msg: &[u8], at: usize) -> Option<u32> {
    let b = msg.get(at..at.checked_add(4)?)?;
    Some(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}

/// Reads a (possibly compressed) name at `at`. Returns the rendered name, its label count and
/// the offset just past the name in the original (uncompressed) position.
pub fn read_name(msg: &[u8], at: usize) -> Option<(String, usize, usize)> {
    let mut out = String::new();
    let mut pos = at;
    let mut end = None;
    let mut jumps = 0;
    let mut labels = 0;
    let mut wire_len = 1usize;
    // Pointers must go strictly backwards from the lowest offset reached so far.
    let mut limit = at;
    loop {
        let len = *msg.get(pos)?;
        match len & 0xC0 {
            0x00 => {
                if len == 0 {
                    if end.is_none() {
                        end = Some(pos + 1);
                    }
                    break;
                }
                let len = usize::from(len);
                wire_len += len + 1;
                if wire_len > 255 {
                    return None;
                }
                let label = msg.get(pos + 1..pos + 1 + len)?;
                if labels > 0 {
                    out.push('.');
                }
                push_label(&mut out, label);
                labels += 1;
                pos += 1 + len;
            }
            0xC0 => {
                let target = usize::from(u16_at(msg, pos)? & 0x3FFF);
                if end.is_none() {
                    end = Some(pos + 2);
                }
                jumps += 1;
                if jumps > MAX_POINTER_JUMPS || target >= limit {
                    return None;
                }
                limit = target;
                pos = target;
            }
            // 0x40 (extended label types) and 0x80 are reserved / obsolete.
            _ => return None,
        }
    }
    if labels == 0 {
        out.push('.');
    }
    Some((out, labels, end?))
}

fn push_label(out: &mut String, label: &[u8]) {
    for &b in label {
        if b.is_ascii_graphic() && b != b'.' && b != b'\\' {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "\\{b:03}");
        }
    }
}

/// Renders TXT character-strings: each string's bytes (lossy UTF-8), strings concatenated.
fn render_txt(rdata: &[u8]) -> String {
    let mut out = String::new();
    let mut i = 0;
    while i < rdata.len() && out.len() < MAX_TXT {
        let n = usize::from(rdata[i]);
        let end = (i + 1 + n).min(rdata.len());
        out.push_str(&String::from_utf8_lossy(&rdata[i + 1..end]));
        i = end;
    }
    if out.len() > MAX_TXT {
        let mut cut = MAX_TXT;
        while !out.is_char_boundary(cut) {
            cut -= 1;
        }
        out.truncate(cut);
    }
    out
}

fn render_rdata(msg: &[u8], rtype: u16, start: usize, rdata: &[u8]) -> Option<String> {
    Some(match rtype {
        1 if rdata.len() == 4 => Ipv4Addr::new(rdata[0], rdata[1], rdata[2], rdata[3]).to_string(),
        28 if rdata.len() == 16 => {
            let mut a = [0u8; 16];
            a.copy_from_slice(rdata);
            Ipv6Addr::from(a).to_string()
        }
        2 | 5 | 12 | 39 => read_name(msg, start)?.0,
        15 => read_name(msg, start + 2)?.0,
        33 => read_name(msg, start + 6)?.0,
        6 => read_name(msg, start)?.0,
        16 | 99 => render_txt(rdata),
        _ => {
            let mut s = String::with_capacity(rdata.len().min(64) * 2);
            for b in rdata.iter().take(64) {
                let _ = write!(s, "{b:02x}");
            }
            s
        }
    })
}

/// Decodes one DNS message. `None` when it is not plausibly DNS (short header, no readable
/// question while the header claims one, absurd counts).
pub fn parse(msg: &[u8]) -> Option<DnsMessage> {
    let id = u16_at(msg, 0)?;
    let flags = u16_at(msg, 2)?;
    let qd = u16_at(msg, 4)?;
    let an = u16_at(msg, 6)?;
    let opcode = ((flags >> 11) & 0xF) as u8;
    // Opcodes above 6 are unassigned: treat as not-DNS (keeps random UDP/53 noise out).
    if opcode > 6 {
        return None;
    }
    let mut m = DnsMessage {
        id,
        response: flags & 0x8000 != 0,
        opcode,
        rcode: (flags & 0xF) as u8,
        truncated: flags & 0x0200 != 0,
        recursion_desired: flags & 0x0100 != 0,
        query: None,
        qtype: 0,
        qclass: 0,
        labels: 0,
        question_count: qd,
        answer_count: an,
        answers: Vec::new(),
        answer_types: Vec::new(),
        ttls: Vec::new(),
    };
    let mut pos = 12;
    if msg.len() < pos {
        return None;
    }
    for i in 0..qd {
        let (name, labels, next) = read_name(msg, pos)?;
        let qtype = u16_at(msg, next)?;
        let qclass = u16_at(msg, next + 2)?;
        if i == 0 {
            m.query = Some(name);
            m.labels = labels;
            m.qtype = qtype;
            m.qclass = qclass;
        }
        pos = next + 4;
    }
    for _ in 0..an {
        let Some((_, _, next)) = read_name(msg, pos) else {
            break;
        };
        let (Some(rtype), Some(ttl), Some(rdlen)) = (
            u16_at(msg, next),
            u32_at(msg, next + 4),
            u16_at(msg, next + 8),
        ) else {
            break;
        };
        let start = next + 10;
        let Some(rdata) = msg.get(start..start + usize::from(rdlen)) else {
            break;
        };
        pos = start + usize::from(rdlen);
        if rtype == 41 {
            continue;
        }
        if m.answers.len() < MAX_ANSWERS
            && let Some(s) = render_rdata(msg, rtype, start, rdata)
        {
            m.answers.push(s);
            m.answer_types.push(type_name(rtype).unwrap_or("OTHER"));
            m.ttls.push(ttl);
        }
    }
    Some(m)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
pub(crate) mod tests {
    use super::*;

    /// Builds a DNS message: header, one question, answers given as (type, rdata) pointing
    /// back at the question name.
    pub(crate) fn build(
        id: u16,
        response: bool,
        name: &str,
        qtype: u16,
        answers: &[(u16, Vec<u8>)],
    ) -> Vec<u8> {
        let mut m = Vec::new();
        m.extend_from_slice(&id.to_be_bytes());
        let flags: u16 = if response { 0x8180 } else { 0x0100 };
        m.extend_from_slice(&flags.to_be_bytes());
        m.extend_from_slice(&1u16.to_be_bytes());
        m.extend_from_slice(&(answers.len() as u16).to_be_bytes());
        m.extend_from_slice(&[0, 0, 0, 0]);
        for label in name.split('.').filter(|l| !l.is_empty()) {
            m.push(label.len() as u8);
            m.extend_from_slice(label.as_bytes());
        }
        m.push(0);
        m.extend_from_slice(&qtype.to_be_bytes());
        m.extend_from_slice(&1u16.to_be_bytes());
        for (t, rdata) in answers {
            m.extend_from_slice(&[0xC0, 12]);
            m.extend_from_slice(&t.to_be_bytes());
            m.extend_from_slice(&1u16.to_be_bytes());
            m.extend_from_slice(&300u32.to_be_bytes());
            m.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
            m.extend_from_slice(rdata);
        }
        m
    }

    #[test]
    fn query_and_answers() {
        let msg = build(
            7,
            true,
            "www.example.com",
            1,
            &[(1, vec![93, 184, 216, 34]), (5, vec![0xC0, 12])],
        );
        let m = parse(&msg).unwrap();
        assert!(m.response);
        assert_eq!(m.query.as_deref(), Some("www.example.com"));
        assert_eq!(m.labels, 3);
        assert_eq!(m.answers, vec!["93.184.216.34", "www.example.com"]);
        assert_eq!(m.answer_types, vec!["A", "CNAME"]);
    }

    #[test]
    fn txt_answers_concatenate_strings() {
        let msg = build(
            1,
            true,
            "x.t.example",
            16,
            &[(16, b"\x03abc\x02de".to_vec())],
        );
        let m = parse(&msg).unwrap();
        assert_eq!(m.answers, vec!["abcde"]);
        assert_eq!(type_string(m.qtype), "TXT");
        assert_eq!(type_string(4242), "TYPE4242");
    }

    #[test]
    fn compression_loops_are_rejected() {
        // Question name is a pointer to itself.
        let mut msg = vec![0, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0];
        msg.extend_from_slice(&[0xC0, 12, 0, 1, 0, 1]);
        assert!(parse(&msg).is_none());
        // Two labels pointing at each other.
        let msg2 = [0xC0u8, 2, 0xC0, 0];
        assert!(read_name(&msg2, 0).is_none());
        assert!(read_name(&msg2, 2).is_none());
    }

    #[test]
    fn odd_bytes_are_escaped_and_root_is_dot() {
        let mut msg = vec![0, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0];
        msg.extend_from_slice(&[3, b'a', b'.', 0xFF, 0, 0, 2, 0, 1]);
        assert_eq!(parse(&msg).unwrap().query.as_deref(), Some("a\\046\\255"));
        let mut root = vec![0, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0];
        root.extend_from_slice(&[0, 0, 2, 0, 1]);
        let m = parse(&root).unwrap();
        assert_eq!(m.query.as_deref(), Some("."));
        assert_eq!(m.labels, 0);
    }

    #[test]
    fn short_or_overlong_names_fail() {
        assert!(parse(&[0; 5]).is_none());
        let mut msg = vec![0, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0];
        for _ in 0..5 {
            msg.push(63);
            msg.extend_from_slice(&[b'a'; 63]);
        }
        msg.push(0);
        msg.extend_from_slice(&[0, 1, 0, 1]);
        assert!(parse(&msg).is_none());
    }
}
