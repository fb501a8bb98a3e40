//! JSON records: NDJSON lines, array elements and concatenated documents.
//!
//! Records of known sources are recognized by shape and handed to their module: CloudTrail
//! events ([`super::cloudtrail`]) and Zeek JSON logs ([`super::zeek`]). Of the rest, three
//! shapes arrive here. Windows event renderings (`{"Event": {"System": …}}`, as evtx tools
//! write them) go to [`super::windows`]. Flat Windows events (a `Channel` and an `EventID` at the
//! top level, as NXLog, Sysmon JSON exports and our demo produce) and Winlogbeat/ECS records
//! (`winlog.*`) are brought to the same field names by [`super::winshipper`] and classified like
//! any Windows event. Everything else is a generic event whose host and time are taken from
//! the usual field names (ECS `@timestamp`/`host.name`, `timestamp`, `hostname`, …).

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde::de::value::SeqAccessDeserializer;
use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

use super::{
    Format, ParseError, Position, cloudtrail, excerpt, parse_time, windows, winshipper, zeek,
};
use crate::event::{Event, EventId, Fields, Origin, scalar_str};

const TIME_FIELDS: &[&str] = &[
    "@timestamp",
    "timestamp",
    "TimeCreated",
    "UtcTime",
    "eventTime",
    "time",
    "ts",
    "date",
];
const HOST_FIELDS: &[&str] = &[
    "host.name",
    "host.hostname",
    "Computer",
    "hostname",
    "host",
    "computer_name",
    "device.hostname",
    "agent.hostname",
];

/// Parses one NDJSON line: one event, or one per record of a CloudTrail `{"Records": [...]}`
/// wrapper.
pub fn parse_line(
    line: &str,
    origin: Origin,
    received: DateTime<Utc>,
) -> Vec<Result<Event, ParseError>> {
    match decode(line) {
        Ok(value) => parse_records(value, origin, received)
            .into_iter()
            .map(|r| {
                r.map_err(|mut e| {
                    e.raw = Some(excerpt(line));
                    e
                })
            })
            .collect(),
        Err(e) => vec![Err(ParseError {
            format: Format::Json,
            input: origin.input.clone(),
            file: origin.source.clone(),
            position: Position::Record(origin.index),
            reason: format!("invalid JSON at column {}: {e}", e.column()),
            raw: Some(excerpt(line)),
        })],
    }
}

/// Decodes one JSON text exactly like `serde_json::from_str::<Value>`, but starts a top-level
/// object's map at the size of the previous record's, so the map (an `IndexMap` under
/// serde_json's `preserve_order`) usually neither regrows nor rehashes while it fills. Nested
/// values use serde_json's own `Value` deserializer. If the first key is one of serde_json's
/// private marker keys (special-cased by its `Value` visitor), the text is decoded again the
/// standard way, so results and errors are always serde_json's.
fn decode(line: &str) -> serde_json::Result<Value> {
    let mut de = serde_json::Deserializer::from_str(line);
    let mut marker = false;
    let value = TopLevel {
        marker: &mut marker,
    }
    .deserialize(&mut de)
    .and_then(|v| de.end().map(|()| v));
    if marker {
        return serde_json::from_str(line);
    }
    value
}

/// The size hint is capped: one huge record must not make every later map large.
const MAX_HINT: usize = 64;

thread_local! {
    /// Size of the last top-level object decoded on this thread: consecutive records of one
    /// source tend to have the same number of keys.
    static LAST_LEN: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// The top-level value of [`decode`].
struct TopLevel<'m> {
    /// Set when the first key is a serde_json marker key.
    marker: &'m mut bool,
}

/// The first-key values serde_json's `Value` visitor treats specially (with its
/// `arbitrary_precision` / `raw_value` features).
const MARKER_KEYS: [&str; 2] = [
    "$serde_json::private::Number",
    "$serde_json::private::RawValue",
];

impl<'de> DeserializeSeed<'de> for TopLevel<'_> {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for TopLevel<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("any valid JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::with_capacity(LAST_LEN.get().min(MAX_HINT));
        while let Some(key) = map.next_key::<String>()? {
            if out.is_empty() && MARKER_KEYS.contains(&key.as_str()) {
                *self.marker = true;
                return Err(serde::de::Error::custom("serde_json marker key"));
            }
            let value = map.next_value::<Value>()?;
            out.insert(key, value);
        }
        LAST_LEN.set(out.len());
        Ok(Value::Object(out))
    }

    // Everything that is not an object is built as serde_json's own visitor builds it.
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Value, A::Error> {
        Value::deserialize(SeqAccessDeserializer::new(seq))
    }

    fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Value, E> {
        Ok(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E: serde::de::Error>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E: serde::de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E: serde::de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
}

/// Expands a `{"Records": [...]}` wrapper (the only key) into its records; each keeps the
/// wrapper's position and gets its own id. Anything else is one event.
pub fn parse_records(
    value: Value,
    origin: Origin,
    received: DateTime<Utc>,
) -> Vec<Result<Event, ParseError>> {
    match value {
        Value::Object(mut map)
            if map.len() == 1 && matches!(map.get("Records"), Some(Value::Array(_))) =>
        {
            let Some(Value::Array(records)) = map.remove("Records") else {
                return Vec::new();
            };
            let wrapper = format!("{}#{}", origin.source, origin.index);
            records
                .into_iter()
                .enumerate()
                .map(|(i, record)| {
                    parse_value(record, origin.clone(), received).map(|mut e| {
                        e.id = EventId::derive(&wrapper, i as u64);
                        e
                    })
                })
                .collect()
        }
        other => vec![parse_value(other, origin, received)],
    }
}

/// Turns one decoded JSON value into an event.
pub fn parse_value(
    value: Value,
    origin: Origin,
    received: DateTime<Utc>,
) -> Result<Event, ParseError> {
    let error = |origin: &Origin, reason: String| ParseError {
        format: Format::Json,
        input: origin.input.clone(),
        file: origin.source.clone(),
        position: Position::Record(origin.index),
        reason,
        raw: None,
    };
    if windows::is_windows_json(&value) {
        return windows::event_from_windows_json(value, origin.clone(), received)
            .map_err(|e| error(&origin, e.to_string()));
    }
    let Value::Object(mut map) = value else {
        return Err(error(
            &origin,
            format!("expected a JSON object, found {}", kind(&value)),
        ));
    };
    if cloudtrail::is_record(&map) {
        return Ok(cloudtrail::event_from_record(map, origin, received));
    }
    if zeek::is_json_record(&map) {
        let hint = zeek::log_type_from_path(&origin.source);
        return Ok(zeek::event_from_json_record(map, origin, received, hint));
    }
    winshipper::flatten(&mut map);
    let fields = Fields::from(map);
    let mut event = Event::new(origin, received, fields);
    if let Some(channel) = event.fields.get_str("Channel")
        && let Some(event_id) = event.fields.get("EventID").and_then(event_id)
    {
        let provider = event.fields.get_str("Provider_Name");
        event.logsource = windows::classify(Some(&channel), provider.as_deref(), Some(event_id));
    }
    event.time = TIME_FIELDS
        .iter()
        .find_map(|k| event.fields.get(k).and_then(parse_time))
        .unwrap_or(received);
    event.host = HOST_FIELDS
        .iter()
        .find_map(|k| event.fields.get(k).and_then(scalar_str))
        .map(|h| h.into_owned())
        .filter(|h| !h.is_empty());
    Ok(event)
}

fn event_id(v: &Value) -> Option<u64> {
    match v {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::sync::Arc;

    fn origin(i: u64) -> Origin {
        Origin {
            input: Arc::from("test"),
            source: Arc::from("t.jsonl"),
            index: i,
        }
    }

    #[test]
    fn flat_sysmon_event_is_classified() {
        let line = r#"{"EventID": 1, "Channel": "Microsoft-Windows-Sysmon/Operational", "Computer": "WS-1.corp.example", "UtcTime": "2024-05-01 10:00:00.000", "Image": "C:\\Windows\\System32\\cmd.exe"}"#;
        let e = parse_line(line, origin(0), Utc::now()).remove(0).unwrap();
        assert_eq!(e.host.as_deref(), Some("WS-1.corp.example"));
        assert_eq!(e.logsource.product.as_deref(), Some("windows"));
        assert_eq!(e.logsource.category.as_deref(), Some("process_creation"));
        assert_eq!(e.time.to_rfc3339(), "2024-05-01T10:00:00+00:00");
        assert_eq!(
            e.fields.get_str("Image").as_deref(),
            Some("C:\\Windows\\System32\\cmd.exe")
        );
    }

    #[test]
    fn generic_ecs_event_keeps_nested_fields() {
        let v = json!({"@timestamp": "2024-05-01T10:00:00Z", "host": {"name": "web-1"}, "url": {"path": "/x"}});
        let e = parse_value(v, origin(3), Utc::now()).unwrap();
        assert_eq!(e.host.as_deref(), Some("web-1"));
        assert_eq!(e.fields.get_str("url.path").as_deref(), Some("/x"));
        assert_eq!(e.logsource.product, None);
        assert_eq!(e.origin.index, 3);
    }

    #[test]
    fn records_wrappers_expand_with_distinct_ids() {
        let out = parse_line(
            r#"{"Records": [{"eventName": "A"}, {"eventName": "B"}]}"#,
            origin(2),
            Utc::now(),
        );
        let events: Vec<Event> = out.into_iter().map(|r| r.unwrap()).collect();
        assert_eq!(events.len(), 2);
        assert_eq!(events[1].fields.get_str("eventName").as_deref(), Some("B"));
        assert_eq!(events[0].origin.index, 2);
        assert_ne!(events[0].id, events[1].id);
    }

    #[test]
    fn decode_equals_serde_json() {
        let texts = [
            r#"{"a": 1, "b": [1, {"c": null}], "a": "dup", "d": {"e": 2.5}, "f": true}"#,
            r#"{}"#,
            r#"[1, "x", {"k": -3}]"#,
            r#""str\u00e9""#,
            r#"18446744073709551615"#,
            r#"-1e400"#,
            r#"null"#,
            r#"{"$serde_json::private::RawValue": "{\"x\": 1}"}"#,
            r#"{"\u0024serde_json::private::RawValue": 5}"#,
            r#"{"x": 1, "$serde_json::private::RawValue": 2}"#,
            r#"{"a": 1,}"#,
            r#"{"a": 1} x"#,
            r#"{"a": [1, 2}"#,
            r#"{"a" 1}"#,
            "",
        ];
        for t in texts {
            let ours = decode(t).map_err(|e| e.to_string());
            let theirs = serde_json::from_str::<Value>(t).map_err(|e| e.to_string());
            assert_eq!(ours, theirs, "{t}");
        }
        let many: String = format!(
            "{{{}}}",
            (0..100)
                .map(|i| format!("\"k{}\": {i}", i % 70))
                .collect::<Vec<_>>()
                .join(",")
        );
        assert_eq!(
            decode(&many).unwrap(),
            serde_json::from_str::<Value>(&many).unwrap()
        );
        let order: Vec<String> = match decode(&many).unwrap() {
            Value::Object(m) => m.keys().cloned().collect(),
            _ => Vec::new(),
        };
        let want: Vec<String> = match serde_json::from_str::<Value>(&many).unwrap() {
            Value::Object(m) => m.keys().cloned().collect(),
            _ => Vec::new(),
        };
        assert_eq!(order, want, "key order is preserved");
    }

    #[test]
    fn bad_lines_are_positioned_errors() {
        let err = parse_line("{\"a\": ", origin(7), Utc::now())
            .remove(0)
            .unwrap_err();
        assert_eq!(err.position, Position::Record(7));
        assert_eq!(err.raw.as_deref(), Some("{\"a\": "));
        let err = parse_line("[1,2]", origin(8), Utc::now())
            .remove(0)
            .unwrap_err();
        assert!(
            err.reason.contains("expected a JSON object"),
            "{}",
            err.reason
        );
    }
}
