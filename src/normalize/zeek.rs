//! Zeek logs: the ASCII (TSV) writer's format and the JSON writer's records.
//!
//! **TSV.** A file is one or more header blocks (`#separator \x09`, `#set_separator`,
//! `#empty_field`, `#unset_field`, `#path`, `#open`, `#fields`, `#types`, `#close`), each followed by
//! data lines. Values are typed by `#types`: `count`/`int`/`port` become integers,
//! `double`/`time`/`interval` floats, `bool` (`T`/`F`) booleans, `set[..]`/`vector[..]` arrays split
//! on the set separator (`(empty)` is an empty array), everything else (`addr`, `string`, `enum`, …)
//! strings with Zeek's `\xHH` escapes undone. The unset field (`-`) leaves the field absent; the
//! empty field (`(empty)`) is an empty string. A value that does not parse as its type is kept as a
//! string rather than dropped. Field names are kept exactly as `#fields` writes them: `id.orig_h`
//! stays one flat key with dots, which [`crate::event::Fields::get`] resolves first. The n-th data
//! line of the file (0-based, across header blocks) is `origin.index` n; errors carry the 1-based
//! [`Position::Line`].
//!
//! **IoT-23 `*.labeled` files.** Some captures append `label` and `detailed-label` inside the last
//! tab field, separated by three spaces (`tunnel_parents   label   detailed-label` in `#fields`,
//! `-   benign   -` in the data); others use real tab columns named `label` and `det_label`. Both
//! are read; `det_label` is renamed `detailed-label` so that both layouts give the same fields.
//! Label values keep their case (`benign` and `Benign` both occur).
//!
//! **JSON.** [`is_json_record`] recognizes a Zeek JSON record (`ts` plus `uid`, `fuid`,
//! `id.orig_h`, `_path`, …, or `@proc: "zeek"` as some shippers add); [`event_from_json_record`]
//! turns it into an event. The one renaming: writers configured with `_` as scope separator
//! (`id_orig_h`, `certificate_serial`, as in the OTRF APT29 data) get Zeek's default `.` back
//! (`id.orig_h`, `certificate.serial`) for the known record-typed fields, so that one Sigma rule
//! matches both writers.
//!
//! **Events.** Logsource `product: zeek, service: <log type>` (`conn`, `dns`, `http`, `ssl`,
//! `files`, `notice`, `smb_files`, `smb_mapping`, `kerberos`, `dce_rpc`, `x509`, `pe`, `dpd`,
//! `weird`, `rdp`, …). The log type comes from `#path` (TSV), `_path`/`@stream` (JSON), the file
//! name ([`log_type_from_path`]), then the record's field shape. Time is `ts`. Host is the
//! connection originator `id.orig_h` when the log has one (the host whose behaviour the record
//! describes; Sigma Zeek rules key on it); logs without a connection (`files`, `x509`, `pe`,
//! `weird`) have no host.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde_json::{Map, Number, Value};

use super::{Format, ParseError, Position, excerpt, parse_time};
use crate::event::{Event, Fields, LogSource, Origin};

/// Log types this parser names (longest match wins when a file name contains several).
const LOG_TYPES: &[&str] = &[
    "conn",
    "dns",
    "http",
    "ssl",
    "files",
    "notice",
    "smb_files",
    "smb_mapping",
    "kerberos",
    "dce_rpc",
    "x509",
    "pe",
    "dpd",
    "weird",
    "rdp",
    "ntlm",
    "ssh",
    "smtp",
    "ftp",
    "dhcp",
    "sip",
    "snmp",
    "software",
    "tunnel",
    "intel",
    "known_hosts",
    "known_services",
    "known_certs",
    "radius",
    "rfb",
    "mysql",
    "ocsp",
    "syslog",
    "modbus",
    "dnp3",
    "irc",
    "socks",
    "ntp",
    "quic",
    "conn_long",
    "capture_loss",
    "stats",
    "reporter",
    "loaded_scripts",
    "packet_filter",
    "ldap",
    "ldap_search",
    "smb_cmd",
    "notice_alarm",
    "signatures",
    "traceroute",
    "mqtt_connect",
];

/// Record-typed fields that writers with `_` as scope separator flatten with underscores.
const SCOPED_FIELDS: &[&str] = &[
    "id.orig_h",
    "id.orig_p",
    "id.resp_h",
    "id.resp_p",
    "id.vlan",
    "id.vlan_inner",
    "certificate.version",
    "certificate.serial",
    "certificate.subject",
    "certificate.issuer",
    "certificate.not_valid_before",
    "certificate.not_valid_after",
    "certificate.key_alg",
    "certificate.sig_alg",
    "certificate.key_type",
    "certificate.key_length",
    "certificate.exponent",
    "certificate.curve",
    "san.dns",
    "san.uri",
    "san.email",
    "san.ip",
    "basic_constraints.ca",
    "basic_constraints.path_len",
];

/// True when `head` starts with a Zeek ASCII log header.
pub fn sniff(head: &[u8]) -> bool {
    let head = head.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(head);
    head.starts_with(b"#separator")
}

/// The Zeek log type named by a file path: `conn.log`, `NASHUA_conn.log`, `conn.00:00:00-01:00:00.log.gz`,
/// `conn.log.labeled`, `smb_files.json` …
pub fn log_type_from_path(path: &str) -> Option<&'static str> {
    let name = path.rsplit(['/', '\\']).next().unwrap_or(path);
    let stem = name.split('.').next().unwrap_or(name).to_ascii_lowercase();
    LOG_TYPES
        .iter()
        .filter(|t| {
            stem == **t
                || stem
                    .strip_suffix(**t)
                    .is_some_and(|p| p.ends_with('_') || p.ends_with('-'))
        })
        .max_by_key(|t| t.len())
        .copied()
}

/// Header state of the current block.
struct Header {
    separator: Vec<u8>,
    set_separator: Vec<u8>,
    empty: Vec<u8>,
    unset: Vec<u8>,
    path: Option<String>,
    fields: Vec<String>,
    types: Vec<String>,
    /// Names packed into the last tab field with three-space separators (IoT-23), 1 otherwise.
    packed_last: usize,
}

impl Default for Header {
    fn default() -> Self {
        Self {
            separator: b"\t".to_vec(),
            set_separator: b",".to_vec(),
            empty: b"(empty)".to_vec(),
            unset: b"-".to_vec(),
            path: None,
            fields: Vec::new(),
            types: Vec::new(),
            packed_last: 1,
        }
    }
}

/// Parses a Zeek TSV log: one event per data line, one error per bad line.
pub fn parse_document(
    bytes: &[u8],
    source: &Arc<str>,
    input: &Arc<str>,
    received: DateTime<Utc>,
) -> Vec<Result<Event, ParseError>> {
    let mut out = Vec::new();
    let mut header = Header::default();
    let mut cached = (None::<String>, logsource(None));
    let hint = log_type_from_path(source);
    let mut index = 0u64;
    let error = |line_no: u64, reason: String, raw: &[u8]| ParseError {
        format: Format::Zeek,
        input: input.clone(),
        file: source.clone(),
        position: Position::Line(line_no),
        reason,
        raw: Some(excerpt(&String::from_utf8_lossy(raw))),
    };
    for (i, line) in bytes.split(|&b| b == b'\n').enumerate() {
        let line_no = i as u64 + 1;
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            continue;
        }
        if line.first() == Some(&b'#') {
            read_header_line(&mut header, line);
            continue;
        }
        let origin = Origin {
            input: input.clone(),
            source: source.clone(),
            index,
        };
        index += 1;
        match record_from_line(&header, line) {
            Ok(map) => {
                // One logsource per header block; events share its `Arc`s.
                let log = header.path.as_deref().or(hint);
                if cached.0.as_deref() != log {
                    cached = (log.map(str::to_owned), logsource(log));
                }
                out.push(Ok(finish(map, origin, received, cached.1.clone())));
            }
            Err(reason) => out.push(Err(error(line_no, reason, line))),
        }
    }
    out
}

fn read_header_line(h: &mut Header, line: &[u8]) {
    if let Some(rest) = line.strip_prefix(b"#separator") {
        // A new block starts: the separator line is the only one written with a space.
        *h = Header {
            separator: unescape(trim_ascii(rest)),
            ..Header::default()
        };
        if h.separator.is_empty() {
            h.separator = b"\t".to_vec();
        }
        return;
    }
    let sep = h.separator.clone();
    let mut parts = split(line, &sep);
    let key = parts.next().unwrap_or_default();
    let values: Vec<&[u8]> = parts.collect();
    let first = values.first().copied().unwrap_or_default();
    match key {
        b"#set_separator" => h.set_separator = unescape(first),
        b"#empty_field" => h.empty = unescape(first),
        b"#unset_field" => h.unset = unescape(first),
        b"#path" => h.path = Some(String::from_utf8_lossy(first).trim().to_owned()),
        b"#fields" | b"#types" => {
            let (names, packed) = unpack_names(&values);
            if key == b"#fields" {
                h.fields = names
                    .into_iter()
                    .map(|n| {
                        if n == "det_label" {
                            "detailed-label".to_owned()
                        } else {
                            n
                        }
                    })
                    .collect();
                h.packed_last = packed;
            } else {
                h.types = names;
            }
        }
        _ => {}
    }
}

/// Column names; the last column may pack several names separated by runs of spaces (IoT-23).
fn unpack_names(values: &[&[u8]]) -> (Vec<String>, usize) {
    let mut names: Vec<String> = values
        .iter()
        .map(|v| String::from_utf8_lossy(v).into_owned())
        .collect();
    let mut packed = 1;
    if let Some(last) = names.pop() {
        let split: Vec<String> = if last.contains("   ") {
            last.split_whitespace().map(str::to_owned).collect()
        } else {
            vec![last]
        };
        packed = split.len().max(1);
        names.extend(split);
    }
    (names, packed)
}

fn record_from_line(h: &Header, line: &[u8]) -> Result<Map<String, Value>, String> {
    if h.fields.is_empty() {
        return Err("data line before any #fields header".to_owned());
    }
    let mut values: Vec<&[u8]> = split(line, &h.separator).collect();
    let packed_columns = h.fields.len() + 1 - h.packed_last;
    if h.packed_last > 1
        && values.len() == packed_columns
        && let Some(last) = values.pop()
    {
        let inner: Vec<&[u8]> = split(last, b"   ").collect();
        if inner.len() != h.packed_last {
            return Err(format!(
                "last column packs {} values, the header names {}",
                inner.len(),
                h.packed_last
            ));
        }
        values.extend(inner);
    }
    if values.len() != h.fields.len() {
        return Err(format!(
            "{} columns, the header names {}",
            values.len(),
            h.fields.len()
        ));
    }
    let mut map = Map::with_capacity(values.len());
    for (i, (name, raw)) in h.fields.iter().zip(values).enumerate() {
        if raw == h.unset.as_slice() {
            continue;
        }
        let ty = h.types.get(i).map(String::as_str).unwrap_or("string");
        map.insert(name.clone(), typed(h, ty, raw));
    }
    Ok(map)
}

fn typed(h: &Header, ty: &str, raw: &[u8]) -> Value {
    let container = ty
        .strip_prefix("set[")
        .or_else(|| ty.strip_prefix("vector["))
        .and_then(|t| t.strip_suffix(']'));
    if let Some(inner) = container {
        if raw == h.empty.as_slice() {
            return Value::Array(Vec::new());
        }
        return Value::Array(
            split(raw, &h.set_separator)
                .map(|item| {
                    if item == h.unset.as_slice() {
                        Value::Null
                    } else {
                        scalar(inner, item)
                    }
                })
                .collect(),
        );
    }
    if raw == h.empty.as_slice() {
        return Value::String(String::new());
    }
    scalar(ty, raw)
}

fn scalar(ty: &str, raw: &[u8]) -> Value {
    let text = || match memchr::memchr(b'\\', raw) {
        None => String::from_utf8_lossy(raw).into_owned(),
        Some(_) => String::from_utf8_lossy(&unescape(raw)).into_owned(),
    };
    let s = std::str::from_utf8(raw).unwrap_or("");
    match ty {
        "count" | "port" => s
            .parse::<u64>()
            .map(Value::from)
            .unwrap_or_else(|_| text().into()),
        "int" => s
            .parse::<i64>()
            .map(Value::from)
            .unwrap_or_else(|_| text().into()),
        "double" | "time" | "interval" => s
            .parse::<f64>()
            .ok()
            .and_then(Number::from_f64)
            .map(Value::Number)
            .unwrap_or_else(|| text().into()),
        "bool" => match s {
            "T" => Value::Bool(true),
            "F" => Value::Bool(false),
            _ => text().into(),
        },
        _ => text().into(),
    }
}

fn split<'a>(line: &'a [u8], sep: &'a [u8]) -> impl Iterator<Item = &'a [u8]> + 'a {
    let mut rest = Some(line);
    std::iter::from_fn(move || {
        let cur = rest?;
        if sep.is_empty() {
            rest = None;
            return Some(cur);
        }
        match memchr::memmem::find(cur, sep) {
            Some(at) => {
                rest = Some(&cur[at + sep.len()..]);
                Some(&cur[..at])
            }
            None => {
                rest = None;
                Some(cur)
            }
        }
    })
}

fn trim_ascii(b: &[u8]) -> &[u8] {
    b.trim_ascii()
}

/// Undoes Zeek's `\xHH` escapes (other backslashes stay as they are).
fn unescape(raw: &[u8]) -> Vec<u8> {
    if memchr::memchr(b'\\', raw).is_none() {
        return raw.to_vec();
    }
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        if raw[i] == b'\\'
            && raw.get(i + 1) == Some(&b'x')
            && let Some(hex) = raw.get(i + 2..i + 4)
            && let Ok(hex) = std::str::from_utf8(hex)
            && let Ok(byte) = u8::from_str_radix(hex, 16)
        {
            out.push(byte);
            i += 4;
            continue;
        }
        out.push(raw[i]);
        i += 1;
    }
    out
}

/// True when a decoded JSON object looks like a Zeek log record.
pub fn is_json_record(map: &Map<String, Value>) -> bool {
    if !map.contains_key("ts") {
        return false;
    }
    if map.get("@proc").and_then(Value::as_str) == Some("zeek") {
        return true;
    }
    [
        "uid",
        "fuid",
        "_path",
        "id.orig_h",
        "id_orig_h",
        "certificate.serial",
        "certificate_serial",
    ]
    .iter()
    .any(|k| map.contains_key(*k))
        || map.get("id").is_some_and(Value::is_object) && map.contains_key("uid")
}

/// Turns a Zeek JSON record into an event. `log_hint` is the log type when the caller knows it
/// (typically [`log_type_from_path`] of the file); otherwise `_path`, `@stream` and the field
/// shape decide.
pub fn event_from_json_record(
    mut map: Map<String, Value>,
    origin: Origin,
    received: DateTime<Utc>,
    log_hint: Option<&str>,
) -> Event {
    for dotted in SCOPED_FIELDS {
        let underscored = dotted.replace('.', "_");
        if !map.contains_key(*dotted)
            && let Some(v) = map.remove(&underscored)
        {
            map.insert((*dotted).to_owned(), v);
        }
    }
    // A nested `id` record (`{"id": {"orig_h": …}}`) resolves by descent already.
    let from_record = ["_path", "@stream"]
        .iter()
        .find_map(|k| map.get(*k).and_then(Value::as_str))
        .map(str::to_owned);
    let log = log_hint
        .map(str::to_owned)
        .or(from_record)
        .or_else(|| log_type_from_shape(&map).map(str::to_owned));
    finish(map, origin, received, logsource(log.as_deref()))
}

/// Guesses the log type from the fields a record carries.
fn log_type_from_shape(map: &Map<String, Value>) -> Option<&'static str> {
    let has = |k: &str| map.contains_key(k);
    Some(
        if has("query") && (has("qtype_name") || has("rcode") || has("trans_id")) {
            "dns"
        } else if has("conn_state") || has("history") && has("orig_bytes") {
            "conn"
        } else if has("method") && has("uri") {
            "http"
        } else if has("cipher") && (has("server_name") || has("ja3") || has("established")) {
            "ssl"
        } else if has("certificate.serial") {
            "x509"
        } else if has("share_type") {
            "smb_mapping"
        } else if has("action") && has("times_modified") {
            "smb_files"
        } else if has("endpoint") && has("operation") {
            "dce_rpc"
        } else if has("request_type") && has("client") {
            "kerberos"
        } else if has("note") && has("msg") {
            "notice"
        } else if has("analyzer") && has("failure_reason") {
            "dpd"
        } else if has("is_exe") || has("compile_ts") {
            "pe"
        } else if has("fuid") && (has("mime_type") || has("seen_bytes")) {
            "files"
        } else if has("cookie") || has("security_protocol") {
            "rdp"
        } else if has("name") && (has("peer") || has("notice")) {
            "weird"
        } else {
            return None;
        },
    )
}

fn logsource(log: Option<&str>) -> LogSource {
    LogSource::new(Some("zeek"), None, log.filter(|s| !s.is_empty()))
}

fn finish(
    map: Map<String, Value>,
    origin: Origin,
    received: DateTime<Utc>,
    logsource: LogSource,
) -> Event {
    let fields = Fields::from(map);
    let mut event = Event::new(origin, received, fields);
    event.logsource = logsource;
    if let Some(t) = event.fields.get("ts").and_then(parse_time) {
        event.time = t;
    }
    event.host = event
        .fields
        .get_str("id.orig_h")
        .map(|h| h.into_owned())
        .filter(|h| !h.is_empty());
    event
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeMap;
    use std::path::PathBuf;

    fn parse(text: &str, name: &str) -> Vec<Result<Event, ParseError>> {
        parse_document(
            text.as_bytes(),
            &Arc::from(name),
            &Arc::from("test"),
            Utc::now(),
        )
    }

    const CONN: &str = "#separator \\x09\n#set_separator\t,\n#empty_field\t(empty)\n#unset_field\t-\n#path\tconn\n#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\tservice\tduration\tlocal_orig\ttunnel_parents\thistory\n#types\ttime\tstring\taddr\tport\taddr\tport\tenum\tstring\tinterval\tbool\tset[string]\tstring\n1540469302.538640\tCGm6\t192.168.1.132\t58687\t216.239.35.4\t123\tudp\t-\t0.114184\tT\t(empty)\tDd\\x09x\n1540469303.5\tCX\t10.0.0.1\t1\t10.0.0.2\t2\ttcp\tdns,http\t-\tF\ta,b\t(empty)\n#close\t2019-01-01\n";

    #[test]
    fn tsv_values_are_typed() {
        let out = parse(CONN, "x/conn.log");
        assert_eq!(out.len(), 2);
        let e = out[0].as_ref().unwrap();
        assert_eq!(
            e.logsource,
            LogSource::new(Some("zeek"), None, Some("conn"))
        );
        assert_eq!(e.host.as_deref(), Some("192.168.1.132"));
        assert_eq!(e.fields.get("id.orig_p"), Some(&Value::from(58687u64)));
        assert_eq!(e.fields.get("local_orig"), Some(&Value::Bool(true)));
        assert_eq!(e.fields.get("service"), None, "unset field is absent");
        assert_eq!(e.fields.get("tunnel_parents"), Some(&Value::Array(vec![])));
        assert_eq!(e.fields.get_str("history").as_deref(), Some("Dd\tx"));
        assert_eq!(e.time.timestamp(), 1540469302);
        assert_eq!(e.origin.index, 0);
        let e = out[1].as_ref().unwrap();
        assert_eq!(e.fields.get("service"), Some(&Value::from("dns,http")));
        assert_eq!(
            e.fields.get("tunnel_parents"),
            Some(&serde_json::json!(["a", "b"]))
        );
        assert_eq!(e.fields.get_str("history").as_deref(), Some(""));
        assert_eq!(e.origin.index, 1);
    }

    #[test]
    fn iot23_packed_labels_and_bad_lines() {
        let text = "#separator \\x09\n#path\tconn\n#fields\tts\tid.orig_h\ttunnel_parents   label   detailed-label\n#types\ttime\taddr\tset[string]   string   string\n1.5\t1.2.3.4\t-   Malicious   C&C\n2.5\t1.2.3.4\n3\t1.1.1.1\t-   benign\n#separator \\x09\n#fields\tts\tlabel\tdet_label\n#types\ttime\tstring\tstring\n4\tBenign\t-\n";
        let out = parse(text, "conn.log.labeled");
        assert_eq!(out.len(), 4);
        let e = out[0].as_ref().unwrap();
        assert_eq!(e.fields.get_str("label").as_deref(), Some("Malicious"));
        assert_eq!(e.fields.get_str("detailed-label").as_deref(), Some("C&C"));
        let err = out[1].as_ref().unwrap_err();
        assert_eq!(err.position, Position::Line(6));
        assert_eq!(err.format, Format::Zeek);
        assert!(out[2].is_err());
        let e = out[3].as_ref().unwrap();
        assert_eq!(e.fields.get_str("label").as_deref(), Some("Benign"));
        assert_eq!(e.fields.get("detailed-label"), None);
        assert_eq!(e.origin.index, 3);
        assert!(parse("1\t2\n", "a.log")[0].is_err(), "data before #fields");
    }

    #[test]
    fn sniff_and_paths() {
        assert!(sniff(b"#separator \\x09\n#set_separator"));
        assert!(!sniff(b"{\"ts\":1}"));
        assert_eq!(
            log_type_from_path("/d/NASHUA_smb_files.log"),
            Some("smb_files")
        );
        assert_eq!(log_type_from_path("conn.log.labeled"), Some("conn"));
        assert_eq!(
            log_type_from_path("dns.00:00:00-01:00:00.log.gz"),
            Some("dns")
        );
        assert_eq!(log_type_from_path("x509.json"), Some("x509"));
        assert_eq!(log_type_from_path("notes.txt"), None);
    }

    #[test]
    fn json_records() {
        let v = serde_json::json!({"@stream":"dns","@proc":"zeek","ts":1588205199.82437,"uid":"C1","id_orig_h":"10.0.1.6","id_orig_p":54243,"query":"a.example","qtype_name":"A"});
        let map = v.as_object().unwrap().clone();
        assert!(is_json_record(&map));
        let origin = Origin {
            input: Arc::from("t"),
            source: Arc::from("x.json"),
            index: 2,
        };
        let e = event_from_json_record(map, origin.clone(), Utc::now(), None);
        assert_eq!(e.logsource.service.as_deref(), Some("dns"));
        assert_eq!(e.fields.get_str("id.orig_h").as_deref(), Some("10.0.1.6"));
        assert!(e.fields.as_map().get("id_orig_h").is_none());
        assert_eq!(e.host.as_deref(), Some("10.0.1.6"));
        assert_eq!(e.time.timestamp(), 1588205199);
        let v = serde_json::json!({"ts":"2020-04-30T00:00:00Z","uid":"C2","id":{"orig_h":"1.1.1.1"},"endpoint":"svcctl","operation":"CreateServiceW"});
        let e = event_from_json_record(
            v.as_object().unwrap().clone(),
            origin.clone(),
            Utc::now(),
            None,
        );
        assert_eq!(e.logsource.service.as_deref(), Some("dce_rpc"));
        assert_eq!(e.host.as_deref(), Some("1.1.1.1"));
        let hinted = serde_json::json!({"ts":1,"fuid":"F"})
            .as_object()
            .unwrap()
            .clone();
        let e = event_from_json_record(hinted, origin, Utc::now(), Some("files"));
        assert_eq!(e.logsource.service.as_deref(), Some("files"));
        assert_eq!(e.host, None);
        assert!(!is_json_record(
            serde_json::json!({"ts":1,"msg":"x"}).as_object().unwrap()
        ));
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = sniff(&bytes);
            let mut doc = CONN.as_bytes()[..200].to_vec();
            doc.extend_from_slice(&bytes);
            let _ = parse_document(&doc, &Arc::from("p"), &Arc::from("t"), Utc::now());
            let _ = parse_document(&bytes, &Arc::from("p"), &Arc::from("t"), Utc::now());
        }
    }

    fn shared_root() -> Option<PathBuf> {
        crate::testutil::shared("").filter(|p| p.join("data/zeek/ground_truth.csv").exists())
    }

    /// Splits one CSV row (double-quoted fields may hold commas and doubled quotes).
    fn csv_row(line: &str) -> Vec<String> {
        let (mut out, mut cur, mut quoted) = (Vec::new(), String::new(), false);
        let mut chars = line.chars().peekable();
        while let Some(c) = chars.next() {
            match (c, quoted) {
                ('"', true) if chars.peek() == Some(&'"') => {
                    cur.push('"');
                    chars.next();
                }
                ('"', _) => quoted = !quoted,
                (',', false) => out.push(std::mem::take(&mut cur)),
                _ => cur.push(c),
            }
        }
        out.push(cur);
        out
    }

    #[test]
    fn corpus_matches_ground_truth() {
        let Some(root) = shared_root() else {
            eprintln!("note: shared Zeek data absent, corpus test skipped");
            return;
        };
        let dir = root.join("data/zeek");
        let gt = std::fs::read_to_string(dir.join("ground_truth.csv")).unwrap();
        let (mut bytes_total, mut events_total) = (0usize, 0usize);
        let mut per_folder: BTreeMap<String, (usize, usize, usize)> = BTreeMap::new();
        let mut elapsed = std::time::Duration::ZERO;
        for line in gt.lines().skip(1).filter(|l| !l.is_empty()) {
            let row = csv_row(line);
            let (file, flows, labels) = (&row[0], row[3].parse::<usize>().unwrap(), &row[4]);
            let data = std::fs::read(dir.join(file)).unwrap();
            let source: Arc<str> = Arc::from(file.as_str());
            let t0 = std::time::Instant::now();
            let results: Vec<Result<Event, ParseError>> = if sniff(&data) {
                parse_document(&data, &source, &Arc::from("corpus"), Utc::now())
            } else {
                let hint = log_type_from_path(file);
                data.split(|&b| b == b'\n')
                    .filter(|l| !l.trim_ascii().is_empty())
                    .enumerate()
                    .map(|(i, l)| {
                        let map: Map<String, Value> = serde_json::from_slice(l).unwrap();
                        assert!(is_json_record(&map), "{file}: record {i} not recognized");
                        let origin = Origin {
                            input: Arc::from("corpus"),
                            source: source.clone(),
                            index: i as u64,
                        };
                        Ok(event_from_json_record(map, origin, Utc::now(), hint))
                    })
                    .collect()
            };
            elapsed += t0.elapsed();
            bytes_total += data.len();
            let errors: Vec<_> = results.iter().filter_map(|r| r.as_ref().err()).collect();
            assert!(errors.is_empty(), "{file}: {:?}", errors.first());
            let events: Vec<&Event> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
            assert_eq!(events.len(), flows, "{file}: flow count");
            events_total += events.len();
            let expected_type = row[2].split(' ').next().unwrap();
            for e in &events {
                assert_eq!(
                    e.logsource.service.as_deref(),
                    Some(expected_type),
                    "{file}"
                );
            }
            if !labels.is_empty() {
                let mut got: BTreeMap<String, usize> = BTreeMap::new();
                for e in &events {
                    let l = e.fields.get_str("label").unwrap().into_owned();
                    let d = e
                        .fields
                        .get_str("detailed-label")
                        .map_or("-".into(), |d| d.into_owned());
                    *got.entry(format!("{l}/{d}")).or_default() += 1;
                }
                let want: BTreeMap<String, usize> = labels
                    .split(';')
                    .map(|kv| {
                        let (k, v) = kv.rsplit_once('=').unwrap();
                        (k.to_owned(), v.parse().unwrap())
                    })
                    .collect();
                assert_eq!(got, want, "{file}: label distribution");
            }
            let folder = file.split('/').next().unwrap().to_owned();
            let f = per_folder.entry(folder).or_default();
            *f = (f.0 + 1, f.1 + events.len(), f.2 + errors.len());
        }
        for (folder, (files, events, errors)) in &per_folder {
            eprintln!("zeek corpus {folder}: files {files}, events {events}, errors {errors}");
        }
        let secs = elapsed.as_secs_f64().max(1e-9);
        eprintln!(
            "zeek throughput: {:.0} events/s, {:.1} MB/s ({events_total} events, {bytes_total} bytes{})",
            events_total as f64 / secs,
            bytes_total as f64 / secs / 1e6,
            if cfg!(debug_assertions) {
                ", debug build"
            } else {
                ""
            }
        );
    }
}
