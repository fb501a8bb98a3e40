//! Syslog lines: RFC 3164 and RFC 5424 (via `syslog_loose`), with firewall vendor payloads,
//! CEF and LEEF recognized inside them (or on their own, without a header).
//!
//! A line is tried in this order: a vendor payload anywhere in the line (CEF/LEEF
//! [`super::cef`], Cisco [`super::cisco`], PAN-OS [`super::panos`], FortiGate / pfSense /
//! iptables [`super::firewall`], SonicWall / Sophos / Juniper / Check Point / Huawei /
//! NetScreen [`super::fwvendors`]) — whatever precedes the payload is read as a syslog header
//! for time and host; then a plain syslog message; then a raw-text event ([`super::text`]).
//! Only empty lines are errors.
//!
//! Plain syslog fields: `facility`, `severity`, `hostname`, `appname`, `procid`, `msgid`,
//! `message`, RFC 5424 structured data as `sd.<id>.<param>`, and `log_format: syslog`.
//! Vendor events keep a header's facility/severity as `syslog_facility`/`syslog_severity`
//! (the vendor's own `severity` wins) and get `log_format` = the vendor format name.
//! `event.time` is the device time in the payload, else the syslog timestamp, else the receive
//! time; timestamps without a zone are UTC; RFC 3164 timestamps without a year take
//! `received`'s year, or the year before when that would put the line more than two days after
//! `received` (December lines read in January).
//!
//! Logsource for plain syslog: `product: linux` with `service` by program, as SigmaHQ's
//! `rules/linux/builtin` and the taxonomy appendix use it: `sshd`, `sudo`, `cron`, `auth` (su,
//! login, pam, useradd…, and any program on the auth/authpriv facility), `vsftpd`, `clamav`,
//! `guacamole`, otherwise `syslog`. Rules there match keywords over `message`, so `message`
//! stays the full text; sshd, sudo and pam messages also get parsed fields (`src_ip`,
//! `src_port`, `user`; sudo `USER`, `COMMAND`, `TTY`, `PWD`; `pam_message`, `pam_user`,
//! `pam_rhost`, … as SigmaHQ's auth rules name them).

use chrono::{DateTime, Datelike, Duration, TimeZone, Utc};
use syslog_loose::{IncompleteDate, Message, ProcId, Variant};

use super::firewall::{self, Vendor, is_ip, put_port};
use super::{Format, ParseError, cef, cisco, fwvendors, panos, parse_time_str, text};
use crate::event::{Event, Fields, LogSource, Origin};

/// Parses one line of syslog or a firewall/CEF/LEEF record. Never fails on non-empty input:
/// an unrecognized line becomes a raw-text event.
pub fn parse_line(
    line: &str,
    origin: Origin,
    received: DateTime<Utc>,
) -> Result<Event, ParseError> {
    let line = text::trim_line(line);
    if line.trim().is_empty() {
        return Err(text::empty_line(Format::Syslog, &origin, line));
    }
    if let Some(v) = vendor(line) {
        return Ok(vendor_event(v, line, origin, received));
    }
    match header(line, received) {
        Some(msg) => Ok(syslog_event(&msg, line, origin, received)),
        None => Ok(text::event(line, origin, received)),
    }
}

/// True when the first non-empty line of `head` looks like syslog (`<PRI>`, an RFC 3164
/// `Mmm dd hh:mm:ss` or RFC 5424 header), CEF/LEEF, or a known firewall format.
pub fn sniff(head: &[u8]) -> bool {
    let text = String::from_utf8_lossy(head.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(head));
    let Some(first) = text.lines().map(str::trim).find(|l| !l.is_empty()) else {
        return false;
    };
    // Check at most 1 KiB of it: enough for a header, cheap for huge lines.
    let mut end = first.len().min(1024);
    while !first.is_char_boundary(end) {
        end -= 1;
    }
    let first = &first[..end];
    has_pri(first)
        || rfc3164_stamp(first)
        || (first.as_bytes().get(4) == Some(&b'-')
            && header(first, Utc::now()).is_some_and(|m| m.appname.is_some()))
        || vendor(first).is_some()
}

fn has_pri(l: &str) -> bool {
    let Some(rest) = l.strip_prefix('<') else {
        return false;
    };
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    (1..=3).contains(&digits) && rest.as_bytes().get(digits) == Some(&b'>')
}

fn rfc3164_stamp(l: &str) -> bool {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let b = l.as_bytes();
    if b.len() < 15 || !MONTHS.iter().any(|m| l.starts_with(m)) || b[3] != b' ' {
        return false;
    }
    let day_ok = (b[4] == b' ' || b[4].is_ascii_digit()) && b[5].is_ascii_digit() && b[6] == b' ';
    let d = |i: usize| b[i].is_ascii_digit();
    day_ok && d(7) && d(8) && b[9] == b':' && d(10) && d(11) && b[12] == b':' && d(13) && d(14)
}

fn vendor(line: &str) -> Option<Vendor> {
    cef::detect(line)
        .or_else(|| cisco::detect(line))
        .or_else(|| panos::detect(line))
        .or_else(|| firewall::detect(line))
        .or_else(|| fwvendors::detect(line))
}

/// Parses a syslog header; `None` when the text has neither a PRI nor a timestamp.
fn header(text: &str, received: DateTime<Utc>) -> Option<Message<&str>> {
    let get_year = move |(month, day, hour, minute, second): IncompleteDate| {
        let year = received.year();
        let candidate = Utc
            .with_ymd_and_hms(year, month, day, hour, minute, second)
            .single();
        match candidate {
            Some(t) if t > received + Duration::days(2) => year - 1,
            _ => year,
        }
    };
    let parsed =
        syslog_loose::parse_message_with_year_exact_tz(text, get_year, Some(Utc), Variant::Either);
    let mut msg = match parsed {
        Ok(m) => m,
        Err(_) => return iso_header(text),
    };
    if msg.timestamp.is_none() && msg.facility.is_none() {
        return None;
    }
    // `Mmm dd hh:mm:ss prog: text` (no host): syslog_loose reads the program as the host.
    if msg.appname.is_none()
        && let Some(h) = msg.hostname
        && let Some(p) = text.find(h)
        && matches!(text.as_bytes().get(p + h.len()), Some(b':' | b'['))
    {
        msg.appname = Some(h);
        msg.hostname = None;
    }
    msg.msg = msg.msg.trim_start_matches('\u{FEFF}');
    Some(msg)
}

/// `2020-03-23 06:47:42.801612-0700  host prog[pid]: text` — ISO timestamps with a space (or
/// `T`), optional fraction (`.` or `,`) and zone, as syslog-ng/rsyslog templates and some
/// appliances write them; `syslog_loose` wants RFC 3339 there. The tag must be `prog:` or
/// `prog[pid]` so that other timestamped text stays raw text.
fn iso_header(line: &str) -> Option<Message<&str>> {
    let b = line.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b' ' | b'T') {
        return None;
    }
    let ts_end = 19 + line.get(19..)?.find(char::is_whitespace)?;
    let timestamp = iso_time(&line[..ts_end])?;
    let rest = line[ts_end..].trim_start();
    let (host, rest) = rest.split_once(char::is_whitespace)?;
    let rest = rest.trim_start();
    let (tag, msg) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
    let core = tag.strip_suffix(':').unwrap_or(tag);
    let (app, procid) = match core.split_once('[') {
        Some((a, p)) => (a, Some(ProcId::PID(p.strip_suffix(']')?.parse().ok()?))),
        None if tag.ends_with(':') => (core, None),
        None => return None,
    };
    if app.is_empty() || app.contains('=') || host.contains('=') {
        return None;
    }
    Some(Message {
        protocol: syslog_loose::Protocol::RFC3164,
        facility: None,
        severity: None,
        timestamp: Some(timestamp),
        hostname: Some(host),
        appname: Some(app),
        procid,
        msgid: None,
        structured_data: Vec::new(),
        msg: msg.trim_start(),
    })
}

fn iso_time(s: &str) -> Option<DateTime<chrono::FixedOffset>> {
    let s = s.replacen(',', ".", 1);
    for fmt in [
        "%Y-%m-%d %H:%M:%S%.f%z",
        "%Y-%m-%dT%H:%M:%S%.f%z",
        "%Y-%m-%d %H:%M:%S%.f%:z",
    ] {
        if let Ok(t) = DateTime::parse_from_str(&s, fmt) {
            return Some(t);
        }
    }
    parse_time_str(&s).map(|t| t.fixed_offset())
}

fn vendor_event(v: Vendor, line: &str, origin: Origin, received: DateTime<Utc>) -> Event {
    let prefix = line[..v.start].trim();
    let head = (!prefix.is_empty())
        .then(|| header(prefix, received))
        .flatten();
    let mut fields = v.fields;
    fields.insert("log_format", v.format);
    let mut host = v.host;
    let mut time = v.time;
    if let Some(h) = &head {
        if let Some(fac) = h.facility {
            fields.insert("syslog_facility", fac.as_str());
        }
        if let Some(sev) = h.severity {
            fields.insert("syslog_severity", sev.as_str());
        }
        if let Some(name) = h.hostname.filter(|_| fields.get("hostname").is_none()) {
            fields.insert("hostname", name);
        }
        if let Some(app) = h.appname.filter(|_| fields.get("appname").is_none()) {
            fields.insert("appname", app);
        }
        host = host.or_else(|| h.hostname.map(str::to_owned));
        time = time.or_else(|| h.timestamp.map(|t| t.with_timezone(&Utc)));
    }
    let mut event = Event::new(origin, received, fields);
    event.logsource = LogSource::new(v.product.as_deref(), v.category, v.service.as_deref());
    event.host = host.filter(|h| !h.is_empty() && h != "-");
    event.time = time.unwrap_or(received);
    event
}

fn syslog_event(m: &Message<&str>, line: &str, origin: Origin, received: DateTime<Utc>) -> Event {
    let mut f = Fields::new();
    f.insert("log_format", "syslog");
    if let Some(fac) = m.facility {
        f.insert("facility", fac.as_str());
    }
    if let Some(sev) = m.severity {
        f.insert("severity", sev.as_str());
    }
    if let Some(h) = m.hostname {
        f.insert("hostname", h);
    }
    if let Some(a) = m.appname {
        f.insert("appname", a);
    }
    match &m.procid {
        Some(ProcId::PID(p)) => f.insert("procid", *p),
        Some(ProcId::Name(n)) => f.insert("procid", *n),
        None => {}
    }
    if let Some(id) = m.msgid {
        f.insert("msgid", id);
    }
    for sd in &m.structured_data {
        for (k, v) in sd.params() {
            f.insert(format!("sd.{}.{}", sd.id, k), v);
        }
    }
    let message = if m.msg.is_empty() && m.appname.is_none() {
        line
    } else {
        m.msg
    };
    f.insert("message", message);
    let service = service(m);
    match service {
        "sshd" => sshd_fields(&mut f, message),
        "sudo" => sudo_fields(&mut f, message),
        _ => {}
    }
    pam_fields(&mut f, message);
    let mut event = Event::new(origin, received, f);
    event.logsource = LogSource::new(Some("linux"), None, Some(service));
    event.host = m.hostname.filter(|h| *h != "-").map(str::to_owned);
    event.time = m.timestamp.map_or(received, |t| t.with_timezone(&Utc));
    event
}

/// SigmaHQ `service` for a Linux program.
fn service(m: &Message<&str>) -> &'static str {
    let app = m.appname.unwrap_or_default();
    let base = app
        .split(['(', '/', '['])
        .next()
        .unwrap_or(app)
        .to_ascii_lowercase();
    match base.as_str() {
        "sshd" | "ssh" => "sshd",
        "sudo" => "sudo",
        "cron" | "crond" | "anacron" | "crontab" => "cron",
        "su" | "login" | "pam" | "auth" | "systemd-logind" | "passwd" | "useradd" | "userdel"
        | "usermod" | "groupadd" | "groupdel" | "groupmod" | "chpasswd" | "chage" | "gpasswd"
        | "unix_chkpwd" | "polkitd" | "gdm-password" | "dropbear" => "auth",
        "vsftpd" => "vsftpd",
        "clamd" | "freshclam" | "clamav" | "clamscan" | "clamav-milter" => "clamav",
        "guacd" | "guacamole" => "guacamole",
        _ => match m.facility.map(|f| f.as_str()) {
            Some("auth" | "authpriv") => "auth",
            Some("cron") => "cron",
            _ => "syslog",
        },
    }
}

/// `Failed password for invalid user bob from 1.2.3.4 port 22 ssh2`, `Accepted publickey for
/// root from …`, `Invalid user x from …`, `Connection closed by 1.2.3.4 port 5 [preauth]`.
fn sshd_fields(f: &mut Fields, msg: &str) {
    let words: Vec<&str> = msg.split_ascii_whitespace().collect();
    let ip_at = words.iter().position(|w| {
        let w = w.trim_matches(['[', ']', ',', ':']);
        is_ip(w) && w.contains(['.', ':'])
    });
    if let Some(i) = ip_at {
        f.insert("src_ip", words[i].trim_matches(['[', ']', ',', ':']));
        if words.get(i + 1) == Some(&"port")
            && let Some(p) = words.get(i + 2)
        {
            put_port(f, "src_port", p.trim_end_matches(':'));
        }
    }
    let user = if let Some(i) = words
        .windows(2)
        .position(|w| w[0] == "invalid" && w[1] == "user")
    {
        words.get(i + 2)
    } else if let Some(i) = words
        .iter()
        .position(|w| *w == "Invalid" || *w == "Illegal")
    {
        words
            .get(i + 2)
            .filter(|_| words.get(i + 1) == Some(&"user"))
    } else if matches!(words.first(), Some(&("Failed" | "Accepted"))) {
        words
            .iter()
            .position(|w| *w == "for")
            .and_then(|i| words.get(i + 1))
    } else {
        None
    };
    if let Some(u) = user.filter(|u| **u != "from") {
        f.insert("user", *u);
    }
    if let Some(first) = words.first() {
        let outcome = match *first {
            "Accepted" => Some("success"),
            "Failed" | "Invalid" | "Illegal" => Some("failure"),
            _ => None,
        };
        if let Some(o) = outcome {
            f.insert("outcome", o);
        }
    }
}

/// `alice : TTY=pts/4 ; PWD=/home/alice ; USER=root ; COMMAND=/bin/bash`.
fn sudo_fields(f: &mut Fields, msg: &str) {
    let Some((user, rest)) = msg.split_once(" : ") else {
        return;
    };
    f.insert("user", user.trim());
    for part in rest.split(" ; ") {
        match part.split_once('=') {
            Some((k, v)) if !k.is_empty() && k.bytes().all(|b| b.is_ascii_uppercase()) => {
                f.insert(k.trim(), v.trim());
            }
            _ => f.insert("sudo_message", part.trim()),
        }
    }
}

/// `authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=1.2.3.4  user=root`.
fn pam_fields(f: &mut Fields, msg: &str) {
    let body = match msg.split_once("): ") {
        Some((head, rest)) if head.starts_with("pam_") => rest,
        _ => msg,
    };
    let Some((what, kv)) = body.split_once("; ") else {
        return;
    };
    if !kv.contains("logname=") && !kv.contains("rhost=") {
        return;
    }
    f.insert("pam_message", what.trim());
    for (k, v) in firewall::kv_pairs(kv) {
        if !v.is_empty() {
            f.insert(format!("pam_{k}"), v.as_ref());
        }
    }
}

#[cfg(test)]
mod tests;
