//! Web server access logs: NCSA common/combined (Apache, Nginx, Tomcat) and W3C extended
//! (IIS), mapped to Sigma `category: webserver` with the W3C field names SigmaHQ's web rules
//! use: `c-ip`, `cs-username`, `cs-method`, `cs-uri-stem`, `cs-uri-query`, `cs-version`,
//! `sc-status`, `sc-bytes`, `cs-referer`, `cs-user-agent` (also as `c-useragent`), `cs-host`.
//!
//! NCSA lines log one request target, so `cs-uri-stem` is its path and `cs-uri-query` the whole
//! target (path and query, as logged): SigmaHQ's webserver rules look for path patterns
//! (`../../etc/`, `.git/`) in `cs-uri-query`. `cs-uri` is the whole target too.
//!
//! W3C extended logs name their columns in a `#Fields:` directive. The file input keeps the
//! last directive of each file and frames later data lines as `Payload::W3cLine`, parsed here
//! by [`parse_w3c_line`] with those columns, so IIS logs with any column selection work.
//! [`parse_line`] is stateless (a line arriving alone, e.g. over syslog): it reads data lines
//! with the IIS default column sets (14 or 15 columns, as IIS 7+ writes them). Directive lines (`#Software:` …) and lines in neither
//! shape become raw-text events ([`super::text`]). Only empty lines are errors.

use chrono::{DateTime, NaiveDateTime, Utc};

use super::{Format, ParseError, parse_time_str, text};
use crate::event::{Event, Fields, LogSource, Origin};

/// Parses one access-log line (NCSA, or W3C with the IIS default columns).
pub fn parse_line(
    line: &str,
    origin: Origin,
    received: DateTime<Utc>,
) -> Result<Event, ParseError> {
    let line = text::trim_line(line);
    if line.trim().is_empty() {
        return Err(text::empty_line(Format::WebAccess, &origin, line));
    }
    if let Some((fields, time)) = ncsa(line) {
        return Ok(event(fields, time, origin, received));
    }
    let cols = line.split_ascii_whitespace().count();
    let default = match cols {
        15 => Some(&IIS_DEFAULT[..]),
        14 => Some(&IIS_DEFAULT_NO_REFERER[..]),
        _ => None,
    };
    if let Some(names) = default
        && looks_like_w3c_data(line)
    {
        let header = W3cFields(names.iter().map(|s| (*s).to_owned()).collect());
        return parse_w3c_line(line, &header, origin, received);
    }
    Ok(text::event(line, origin, received))
}

/// True when the first non-empty line is a W3C directive or an NCSA access-log line.
pub fn sniff(head: &[u8]) -> bool {
    let text = String::from_utf8_lossy(head.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(head));
    let Some(first) = text.lines().map(str::trim).find(|l| !l.is_empty()) else {
        return false;
    };
    ["#Software:", "#Version:", "#Fields:", "#Date:"]
        .iter()
        .any(|d| first.starts_with(d))
        || ncsa(first).is_some()
}

const IIS_DEFAULT: [&str; 15] = [
    "date",
    "time",
    "s-ip",
    "cs-method",
    "cs-uri-stem",
    "cs-uri-query",
    "s-port",
    "cs-username",
    "c-ip",
    "cs(User-Agent)",
    "cs(Referer)",
    "sc-status",
    "sc-substatus",
    "sc-win32-status",
    "time-taken",
];
const IIS_DEFAULT_NO_REFERER: [&str; 14] = [
    "date",
    "time",
    "s-ip",
    "cs-method",
    "cs-uri-stem",
    "cs-uri-query",
    "s-port",
    "cs-username",
    "c-ip",
    "cs(User-Agent)",
    "sc-status",
    "sc-substatus",
    "sc-win32-status",
    "time-taken",
];

/// The column names of a W3C extended log, from its `#Fields:` directive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct W3cFields(pub Vec<String>);

impl W3cFields {
    /// Reads a `#Fields: a b c` directive; `None` for any other line.
    pub fn parse(line: &str) -> Option<Self> {
        let rest = text::trim_line(line).strip_prefix("#Fields:")?;
        let names: Vec<String> = rest.split_ascii_whitespace().map(str::to_owned).collect();
        (!names.is_empty()).then_some(Self(names))
    }
}

/// Parses a W3C data line with known columns. `-` means empty; `+` in values is a space
/// (IIS encodes spaces in the user agent that way).
pub fn parse_w3c_line(
    line: &str,
    header: &W3cFields,
    origin: Origin,
    received: DateTime<Utc>,
) -> Result<Event, ParseError> {
    let line = text::trim_line(line);
    if line.trim().is_empty() {
        return Err(text::empty_line(Format::WebAccess, &origin, line));
    }
    if line.starts_with('#') {
        return Ok(text::event(line, origin, received));
    }
    let mut f = Fields::new();
    let (mut date, mut time) = (None, None);
    for (name, value) in header.0.iter().zip(line.split_ascii_whitespace()) {
        match name.as_str() {
            "date" => date = Some(value),
            "time" => time = Some(value),
            _ => {}
        }
        if value == "-" {
            continue;
        }
        let key = sigma_name(name);
        match key {
            "sc-status" | "sc-substatus" | "sc-win32-status" | "sc-bytes" | "cs-bytes"
            | "time-taken" | "s-port" => match value.parse::<u64>() {
                Ok(n) => f.insert(key, n),
                Err(_) => f.insert(key, value),
            },
            "cs-user-agent" => {
                let ua = value.replace('+', " ");
                f.insert("c-useragent", ua.as_str());
                f.insert(key, ua);
            }
            _ => f.insert(key, value),
        }
    }
    let time = match (date, time) {
        (Some(d), Some(t)) => parse_time_str(&format!("{d} {t}")),
        _ => None,
    };
    Ok(event(f, time, origin, received))
}

/// Sigma's names for W3C header names that differ (`cs(User-Agent)` → `cs-user-agent`, …).
fn sigma_name(w3c: &str) -> &str {
    match w3c {
        "cs(User-Agent)" => "cs-user-agent",
        "cs(Referer)" => "cs-referer",
        "cs(Cookie)" => "cs-cookie",
        "cs(Host)" => "cs-host",
        other => other,
    }
}

/// An IIS default-layout data line: `date time s-ip METHOD … c-ip …` with both addresses IPs.
fn looks_like_w3c_data(line: &str) -> bool {
    let b = line.as_bytes();
    if !(b.len() > 19 && b[4] == b'-' && b[7] == b'-' && b[10] == b' ' && b[13] == b':') {
        return false;
    }
    let cols: Vec<&str> = line.split_ascii_whitespace().collect();
    let ip = |i: usize| {
        cols.get(i)
            .is_some_and(|c| c.parse::<std::net::IpAddr>().is_ok())
    };
    let method = cols
        .get(3)
        .is_some_and(|m| !m.is_empty() && m.bytes().all(|c| c.is_ascii_uppercase()));
    ip(2) && ip(8) && method
}

fn event(
    fields: Fields,
    time: Option<DateTime<Utc>>,
    origin: Origin,
    received: DateTime<Utc>,
) -> Event {
    let mut e = Event::new(origin, received, fields);
    e.logsource = LogSource::new(None, Some("webserver"), None);
    e.time = time.unwrap_or(received);
    e.host = e
        .fields
        .get_str("s-computername")
        .or_else(|| e.fields.get_str("cs-host"))
        .map(|h| h.into_owned());
    e
}

/// `[vhost:port] host ident user [dd/Mon/yyyy:hh:mm:ss +zzzz] "request" status bytes
/// ["referer" "user-agent" …]`.
fn ncsa(line: &str) -> Option<(Fields, Option<DateTime<Utc>>)> {
    let open = line.find(" [")?;
    let close = open + line[open..].find("] \"")?;
    let head: Vec<&str> = line[..open].split_ascii_whitespace().collect();
    let (vhost, head) = match head.len() {
        3 => (None, &head[..]),
        4 => (Some(head[0]), &head[1..]),
        _ => return None,
    };
    let stamp = &line[open + 2..close];
    let time = DateTime::parse_from_str(stamp, "%d/%b/%Y:%H:%M:%S %z")
        .map(|t| t.with_timezone(&Utc))
        .ok()
        .or_else(|| {
            NaiveDateTime::parse_from_str(stamp, "%d/%b/%Y:%H:%M:%S")
                .ok()
                .map(|t| t.and_utc())
        });
    time?;
    let (request, rest) = quoted(&line[close + 2..])?;
    let mut f = Fields::new();
    let mut put = |k: &str, v: &str| {
        if !v.is_empty() && v != "-" {
            f.insert(k, v);
        }
    };
    put("c-ip", head[0]);
    put("ident", head[1]);
    put("cs-username", head[2]);
    if let Some(v) = vhost {
        put("cs-host", v.split(':').next().unwrap_or(v));
    }
    put("request", &request);
    let mut parts = request.splitn(3, ' ');
    let (method, target, version) = (parts.next(), parts.next(), parts.next());
    if let (Some(m), Some(t)) = (method, target) {
        put("cs-method", m);
        put("cs-uri", t);
        put("cs-uri-query", t);
        put("cs-uri-stem", t.split('?').next().unwrap_or(t));
        put("cs-version", version.unwrap_or_default());
    }
    let mut rest = rest.trim_start();
    let mut nums = Vec::new();
    for _ in 0..2 {
        let (tok, r) = rest.split_once(' ').unwrap_or((rest, ""));
        nums.push(tok);
        rest = r.trim_start();
    }
    for (key, tok) in ["sc-status", "sc-bytes"].iter().zip(&nums) {
        if let Ok(n) = tok.parse::<u64>() {
            f.insert(*key, n);
        }
    }
    if let Some((referer, r)) = quoted(rest) {
        if !referer.is_empty() && referer != "-" {
            f.insert("cs-referer", referer.as_str());
        }
        if let Some((ua, _)) = quoted(r.trim_start())
            && !ua.is_empty()
            && ua != "-"
        {
            f.insert("c-useragent", ua.as_str());
            f.insert("cs-user-agent", ua);
        }
    }
    Some((f, time))
}

/// A leading `"…"` (with `\"` escapes) and the text after it.
fn quoted(s: &str) -> Option<(String, &str)> {
    let body = s.strip_prefix('"')?;
    let mut out = String::new();
    let mut chars = body.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some((_, e)) => {
                    if e != '"' && e != '\\' {
                        out.push('\\');
                    }
                    out.push(e);
                }
                None => out.push('\\'),
            },
            '"' => return Some((out, &body[i + 1..])),
            _ => out.push(c),
        }
    }
    // Truncated line: keep what is there.
    Some((out, ""))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use proptest::prelude::*;
    use serde_json::json;
    use std::sync::Arc;

    fn origin() -> Origin {
        Origin {
            input: Arc::from("test"),
            source: Arc::from("access.log"),
            index: 0,
        }
    }

    fn recv() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2024, 6, 1, 0, 0, 0).unwrap()
    }

    fn parse(l: &str) -> Event {
        parse_line(l, origin(), recv()).unwrap()
    }

    #[test]
    fn combined_log_format() {
        let e = parse(
            r#"203.0.113.9 - frank [10/Oct/2000:13:55:36 -0700] "GET /apache_pb.gif?a=1&b=../../etc/passwd HTTP/1.0" 200 2326 "http://www.example.com/start.html" "Mozilla/4.08 [en] (Win98; I ;Nav)""#,
        );
        assert_eq!(e.logsource.category.as_deref(), Some("webserver"));
        let g = |k: &str| e.fields.get(k).cloned();
        assert_eq!(g("c-ip"), Some(json!("203.0.113.9")));
        assert_eq!(g("cs-username"), Some(json!("frank")));
        assert_eq!(g("cs-method"), Some(json!("GET")));
        assert_eq!(g("cs-uri-stem"), Some(json!("/apache_pb.gif")));
        assert_eq!(
            g("cs-uri-query"),
            Some(json!("/apache_pb.gif?a=1&b=../../etc/passwd"))
        );
        assert_eq!(g("cs-version"), Some(json!("HTTP/1.0")));
        assert_eq!(g("sc-status"), Some(json!(200)));
        assert_eq!(g("sc-bytes"), Some(json!(2326)));
        assert_eq!(
            g("cs-referer"),
            Some(json!("http://www.example.com/start.html"))
        );
        assert_eq!(
            g("cs-user-agent"),
            Some(json!("Mozilla/4.08 [en] (Win98; I ;Nav)"))
        );
        assert_eq!(g("c-useragent"), g("cs-user-agent"));
        assert!(g("ident").is_none());
        assert_eq!(e.time.to_rfc3339(), "2000-10-10T20:55:36+00:00");
    }

    #[test]
    fn common_format_vhost_escapes_and_truncation() {
        let e = parse(
            r#"192.168.105.83 - - [11/Jul/2018:08:41:28 +0300] "GET /manager HTTP/1.1" 302 -"#,
        );
        assert_eq!(e.fields.get("sc-status"), Some(&json!(302)));
        assert!(e.fields.get("sc-bytes").is_none());
        assert!(e.fields.get("cs-referer").is_none());
        let e = parse(
            r#"www.example.com:443 2001:db8::1 - - [11/Jul/2018:08:41:28 +0000] "GET /a\"b HTTP/1.1" 404 5 "-" "curl/8""#,
        );
        assert_eq!(
            e.fields.get_str("cs-host").as_deref(),
            Some("www.example.com")
        );
        assert_eq!(e.fields.get_str("c-ip").as_deref(), Some("2001:db8::1"));
        assert_eq!(e.fields.get_str("cs-uri-stem").as_deref(), Some("/a\"b"));
        assert_eq!(e.fields.get_str("cs-user-agent").as_deref(), Some("curl/8"));
        let e = parse(r#"1.2.3.4 - - [11/Jul/2018:08:41:28 +0000] "GET /trunc"#);
        assert_eq!(e.fields.get_str("cs-method").as_deref(), Some("GET"));
        let e = parse("1.2.3.4 - - [not a date] \"GET / HTTP/1.1\" 200 1");
        assert_eq!(e.logsource, LogSource::default());
    }

    #[test]
    fn w3c_default_and_explicit_fields() {
        let e = parse(
            "2019-09-03 10:13:36 10.0.2.15 GET /erp/conn.aspx proxy&port=3389&ip=127.0.0.1 80 - 10.0.2.17 Mozilla/5.0+(Windows) - 200 0 0 7",
        );
        let g = |k: &str| e.fields.get(k).cloned();
        assert_eq!(
            g("cs-uri-query"),
            Some(json!("proxy&port=3389&ip=127.0.0.1"))
        );
        assert_eq!(g("c-ip"), Some(json!("10.0.2.17")));
        assert_eq!(g("cs-user-agent"), Some(json!("Mozilla/5.0 (Windows)")));
        assert_eq!(g("sc-status"), Some(json!(200)));
        assert!(g("cs-referer").is_none());
        assert_eq!(e.time.to_rfc3339(), "2019-09-03T10:13:36+00:00");
        let h =
            W3cFields::parse("#Fields: date time c-ip cs-method cs-uri-stem sc-status cs(Host)")
                .unwrap();
        let e = parse_w3c_line(
            "2019-09-03 10:13:36 10.0.0.9 POST /x.aspx 500 web01",
            &h,
            origin(),
            recv(),
        )
        .unwrap();
        assert_eq!(e.fields.get_str("cs-host").as_deref(), Some("web01"));
        assert_eq!(e.host.as_deref(), Some("web01"));
        // Fewer values than names: the rest are absent.
        let e = parse_w3c_line("2019-09-03 10:13:36 10.0.0.9", &h, origin(), recv()).unwrap();
        assert!(e.fields.get("cs-method").is_none());
        let e = parse("#Software: Microsoft Internet Information Services 10.0");
        assert!(e.logsource.category.is_none());
        assert!(W3cFields::parse("#Version: 1.0").is_none());
        assert!(parse_line(" ", origin(), recv()).is_err());
    }

    #[test]
    fn sniffing() {
        assert!(sniff(
            b"#Software: Microsoft Internet Information Services 10.0\n#Version: 1.0"
        ));
        assert!(sniff(
            b"1.2.3.4 - - [11/Jul/2018:08:41:28 +0300] \"GET / HTTP/1.1\" 200 1\n"
        ));
        assert!(!sniff(b"Jun 14 15:16:01 combo sshd[1]: x"));
        assert!(!sniff(
            b"[Sun Dec 04 04:47:44 2005] [notice] workerEnv.init() ok"
        ));
        assert!(!sniff(b""));
    }

    proptest! {
        #[test]
        fn never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let s = String::from_utf8_lossy(&bytes);
            let _ = parse_line(&s, origin(), recv());
            let _ = sniff(&bytes);
        }

        #[test]
        fn never_panics_on_access_log_shapes(
            ip in "[0-9a-f:.]{1,20}",
            stamp in "[0-9A-Za-z/: +-]{0,30}",
            req in "[ -~]{0,60}",
            tail in "[ -~]{0,60}",
        ) {
            let line = format!("{ip} - - [{stamp}] \"{req}\" {tail}");
            let _ = parse_line(&line, origin(), recv());
            let h = W3cFields(vec!["date".into(), "time".into(), "sc-status".into()]);
            let _ = parse_w3c_line(&tail, &h, origin(), recv());
        }
    }
}
