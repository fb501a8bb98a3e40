//! AWS CloudTrail records, as decoded JSON objects.
//!
//! The JSON framing splits `{"Records": […]}` files, JSON arrays and NDJSON (and un-gzips);
//! each record object reaches [`is_record`] / [`event_from_record`]. A record keeps its own nested
//! structure and names: Sigma rules reach `userIdentity.arn`, `requestParameters.*` and
//! `responseElements.*` by dotted path, which [`crate::event::Fields::get`] resolves by descent.
//! Nothing is renamed or added.
//!
//! Wrapped records are unwrapped: an EventBridge event (`{"detail-type": "AWS API Call via
//! CloudTrail", "detail": {…record…}}`) and a shipper envelope whose `message` string holds the
//! record as JSON (CloudWatch Logs / Logstash / Fluentd). The envelope's other fields are dropped,
//! except that its `time` / `@timestamp` serves as the event time when the record has no
//! `eventTime`. Logstash fields at the record's top level (`@timestamp`, `@version`, as in the
//! OTRF data) stay as they are.
//!
//! **Logsource** `product: aws, service: cloudtrail`. **Time** `eventTime`, else `@timestamp`,
//! else the envelope's time, else the receive time. **Host**: none. CloudTrail records describe
//! API calls against an account, not a host; the account (`recipientAccountId`) and principal
//! (`userIdentity.arn`) stay fields for correlation, and a host-keyed correlation must not merge
//! a cloud account with a machine of the same name.
//!
//! Out of scope: the OTRF "S3 honey bucket" CSV (alert rows exported from a honeypot, not
//! CloudTrail JSON, with Python-repr nested values) and S3 server access logs.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use super::parse_time;
use crate::event::{Event, Fields, LogSource, Origin};

fn is_direct(map: &Map<String, Value>) -> bool {
    map.get("eventSource").is_some_and(Value::is_string)
        && map.get("eventName").is_some_and(Value::is_string)
        && ["eventVersion", "awsRegion", "eventTime"]
            .iter()
            .any(|k| map.contains_key(*k))
}

/// The record inside a `message` string, when there is one.
fn message_record(map: &Map<String, Value>) -> Option<Map<String, Value>> {
    let text = map.get("message")?.as_str()?;
    if !text.contains("\"eventSource\"") {
        return None;
    }
    match serde_json::from_str::<Value>(text.trim()) {
        Ok(Value::Object(inner)) if is_direct(&inner) => Some(inner),
        _ => None,
    }
}

/// True when `map` is a CloudTrail record (`eventSource` + `eventName` + `eventVersion`,
/// `awsRegion` or `eventTime`), or wraps one (`detail` object, `message` JSON string).
pub fn is_record(map: &Map<String, Value>) -> bool {
    is_direct(map)
        || map
            .get("detail")
            .and_then(Value::as_object)
            .is_some_and(is_direct)
        || message_record(map).is_some()
}

/// Turns a CloudTrail record (or a wrapper holding one) into an event.
pub fn event_from_record(
    mut map: Map<String, Value>,
    origin: Origin,
    received: DateTime<Utc>,
) -> Event {
    let mut envelope_time = None;
    if !is_direct(&map) {
        let inner = match map.get("detail") {
            Some(Value::Object(d)) if is_direct(d) => Some(d.clone()),
            _ => message_record(&map),
        };
        if let Some(inner) = inner {
            envelope_time = ["time", "@timestamp", "timestamp"]
                .iter()
                .find_map(|k| map.get(*k).and_then(parse_time));
            map = inner;
        }
    }
    let mut event = Event::new(origin, received, Fields::from(map));
    event.logsource = LogSource::new(Some("aws"), None, Some("cloudtrail"));
    event.time = ["eventTime", "@timestamp"]
        .iter()
        .find_map(|k| event.fields.as_map().get(*k).and_then(parse_time))
        .or(envelope_time)
        .unwrap_or(received);
    event
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;
    use std::path::PathBuf;
    use std::sync::Arc;

    fn origin(i: u64) -> Origin {
        Origin {
            input: Arc::from("test"),
            source: Arc::from("trail.json"),
            index: i,
        }
    }

    fn record() -> Value {
        json!({
            "eventVersion": "1.08", "eventTime": "2024-05-01T10:00:00Z",
            "eventSource": "cloudtrail.amazonaws.com", "eventName": "StopLogging",
            "awsRegion": "us-east-1", "sourceIPAddress": "203.0.113.7",
            "userIdentity": {"type": "IAMUser", "arn": "arn:aws:iam::111122223333:user/mallory",
                             "sessionContext": {"attributes": {"mfaAuthenticated": "false"}}},
            "requestParameters": {"name": "main-trail"}, "responseElements": null,
            "recipientAccountId": "111122223333"
        })
    }

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn record_keeps_nested_structure() {
        let map = obj(record());
        assert!(is_record(&map));
        let e = event_from_record(map, origin(4), Utc::now());
        assert_eq!(
            e.logsource,
            LogSource::new(Some("aws"), None, Some("cloudtrail"))
        );
        assert_eq!(e.time.to_rfc3339(), "2024-05-01T10:00:00+00:00");
        assert_eq!(e.host, None);
        assert_eq!(
            e.fields.get_str("userIdentity.arn").as_deref(),
            Some("arn:aws:iam::111122223333:user/mallory")
        );
        assert_eq!(
            e.fields.get_str("userIdentity.type").as_deref(),
            Some("IAMUser")
        );
        assert_eq!(
            e.fields.get_str("requestParameters.name").as_deref(),
            Some("main-trail")
        );
        assert_eq!(e.fields.get("responseElements"), Some(&Value::Null));
        assert_eq!(e.origin.index, 4);
        assert_eq!(e.fields.as_map(), record().as_object().unwrap());
    }

    #[test]
    fn wrappers_are_unwrapped() {
        let bridge = obj(
            json!({"version": "0", "detail-type": "AWS API Call via CloudTrail",
            "time": "2024-05-01T10:00:01Z", "detail": record()}),
        );
        assert!(is_record(&bridge));
        let e = event_from_record(bridge, origin(0), Utc::now());
        assert_eq!(
            e.fields.get_str("eventName").as_deref(),
            Some("StopLogging")
        );
        assert!(e.fields.get("detail-type").is_none());
        let shipped = obj(json!({"@timestamp": "2024-05-01T10:00:02Z",
            "message": record().to_string()}));
        assert!(is_record(&shipped));
        let e = event_from_record(shipped, origin(1), Utc::now());
        assert_eq!(
            e.fields.get_str("sourceIPAddress").as_deref(),
            Some("203.0.113.7")
        );
        assert_eq!(e.time.to_rfc3339(), "2024-05-01T10:00:00+00:00");
        let mut no_time = obj(record());
        no_time.remove("eventTime");
        no_time.insert("@timestamp".into(), json!("2020-09-14T00:44:23.000Z"));
        let e = event_from_record(no_time, origin(2), Utc::now());
        assert_eq!(e.time.to_rfc3339(), "2020-09-14T00:44:23+00:00");
    }

    #[test]
    fn non_records_are_rejected() {
        assert!(!is_record(&obj(json!({"eventName": "x"}))));
        assert!(!is_record(&obj(
            json!({"message": "eventSource but not json"})
        )));
        assert!(!is_record(&obj(json!({"message": "{\"eventSource\": 1}"}))));
        assert!(!is_record(&obj(
            json!({"detail": {"eventSource": "s3.amazonaws.com"}})
        )));
    }

    proptest! {
        #[test]
        fn arbitrary_json_never_panics(s in ".{0,200}", key in "[a-zA-Z@]{1,12}") {
            let mut map = obj(record());
            map.insert(key.clone(), Value::String(s.clone()));
            map.insert("message".into(), Value::String(s.clone()));
            let _ = is_record(&map);
            let _ = event_from_record(map, origin(0), Utc::now());
            let wrapped = obj(json!({"message": s, "detail": {"eventSource": key}}));
            let _ = is_record(&wrapped);
            let _ = event_from_record(wrapped, origin(0), Utc::now());
        }
    }

    fn shared_root() -> Option<PathBuf> {
        crate::testutil::shared("").filter(|p| p.join("data/cloudtrail/ground_truth.csv").exists())
    }

    /// The JSON framing's job, done here only for the corpus: arrays, `Records` and NDJSON.
    fn records(bytes: &[u8]) -> Vec<Map<String, Value>> {
        let mut out = Vec::new();
        for doc in serde_json::Deserializer::from_slice(bytes).into_iter::<Value>() {
            match doc.unwrap() {
                Value::Array(items) => out.extend(items.into_iter().map(obj)),
                Value::Object(mut m) => match m.remove("Records") {
                    Some(Value::Array(items)) => out.extend(items.into_iter().map(obj)),
                    _ => out.push(m),
                },
                other => panic!("unexpected {other}"),
            }
        }
        out
    }

    #[test]
    fn corpus_matches_ground_truth() {
        let Some(root) = shared_root() else {
            eprintln!("note: shared CloudTrail data absent, corpus test skipped");
            return;
        };
        let dir = root.join("data/cloudtrail");
        let gt = std::fs::read_to_string(dir.join("ground_truth.csv")).unwrap();
        let (mut files, mut events, mut bytes_total, mut skipped) = (0, 0usize, 0usize, 0);
        let mut elapsed = std::time::Duration::ZERO;
        for line in gt.lines().skip(1).filter(|l| !l.is_empty()) {
            let mut cols = line.splitn(4, ',');
            let file = cols.next().unwrap();
            let want: usize = cols.nth(1).unwrap().parse().unwrap();
            let names = cols.next().unwrap().split(',').next().unwrap();
            if !file.ends_with(".json") {
                eprintln!(
                    "cloudtrail corpus: {file} out of scope (not CloudTrail JSON), {want} rows skipped"
                );
                skipped += 1;
                continue;
            }
            let data = std::fs::read(dir.join(file)).unwrap();
            let t0 = std::time::Instant::now();
            let got: Vec<Event> = records(&data)
                .into_iter()
                .enumerate()
                .map(|(i, m)| {
                    assert!(is_record(&m), "{file}: record {i}");
                    let o = Origin {
                        input: Arc::from("corpus"),
                        source: Arc::from(file),
                        index: i as u64,
                    };
                    event_from_record(m, o, Utc::now())
                })
                .collect();
            elapsed += t0.elapsed();
            assert_eq!(got.len(), want, "{file}: records");
            if !names.is_empty() {
                let mut seen: Vec<String> = got
                    .iter()
                    .map(|e| e.fields.get_str("eventName").unwrap().into_owned())
                    .collect();
                seen.sort();
                seen.dedup();
                assert_eq!(seen.join(";"), names, "{file}: event names");
            }
            assert!(
                got.iter().all(|e| e.time != e.received),
                "{file}: every record has a time"
            );
            files += 1;
            events += got.len();
            bytes_total += data.len();
        }
        eprintln!(
            "cloudtrail corpus: files {files}, events {events}, errors 0, out of scope {skipped}"
        );
        let secs = elapsed.as_secs_f64().max(1e-9);
        eprintln!(
            "cloudtrail throughput (JSON decode + record→event): {:.0} events/s, {:.1} MB/s{}",
            events as f64 / secs,
            bytes_total as f64 / secs / 1e6,
            if cfg!(debug_assertions) {
                " (debug build)"
            } else {
                ""
            }
        );
    }
}
