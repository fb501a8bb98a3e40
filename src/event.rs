//! The one normalized event shape that every stage after parsing speaks.
//!
//! A parser turns a framed record into an [`Event`]; from then on the event is passed as
//! `Arc<Event>` and never copied or re-shaped. Later stages (detection, cases, verdicts) attach
//! their results next to the event instead of inventing new event types.
//!
//! Fields keep the record's original names (`Image`, `EventID`, `userIdentity.arn`, …) so that
//! Sigma field names resolve without renaming. Nested objects stay nested; [`Fields::get`]
//! reaches them by dotted path, and a flat key that itself contains dots wins over descent.

use std::fmt;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

/// Stable identifier of an event: derived from where the event came from, so that re-reading
/// the same file yields the same ids (verdict evidence stays comparable across runs).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct EventId(Arc<str>);

/// Lowercase hex of `bytes` (ids, fingerprints, digests).
pub fn hex(bytes: &[u8]) -> String {
    hex::encode(bytes)
}

impl EventId {
    /// Derives the id from the record's source (file path, topic/partition, peer, …) and its
    /// position within that source (record index, offset, sequence number).
    pub fn derive(source: &str, position: u64) -> Self {
        let mut h = Sha256::new();
        h.update(source.as_bytes());
        h.update([0u8]);
        h.update(position.to_be_bytes());
        Self(hex(&h.finalize()[..16]).into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EventId({})", self.0)
    }
}

impl fmt::Display for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Where an event came from: the input's name, the concrete source within it, and the 0-based
/// position of the event within that source.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Origin {
    /// Configured input name (`file`, `stdin`, `demo`, `syslog-udp`, …).
    pub input: Arc<str>,
    /// The concrete source: a file path as given on the command line (joined with the relative
    /// path for directory arguments), a peer address, a topic/partition.
    pub source: Arc<str>,
    /// 0-based position of the event within `source` (n-th record of an EVTX file, n-th event
    /// of an XML file, n-th non-empty line of NDJSON).
    pub index: u64,
}

/// Sigma logsource of an event: decides which rules may apply to it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct LogSource {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub product: Option<Arc<str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub category: Option<Arc<str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service: Option<Arc<str>>,
}

impl LogSource {
    /// False when nothing is known of the event's source (no product, category or service):
    /// such an event is unclassified and logsource routing cannot narrow the rules for it.
    pub fn is_known(&self) -> bool {
        self.product.is_some() || self.category.is_some() || self.service.is_some()
    }

    pub fn new(product: Option<&str>, category: Option<&str>, service: Option<&str>) -> Self {
        Self {
            product: product.map(Arc::from),
            category: category.map(Arc::from),
            service: service.map(Arc::from),
        }
    }
}

/// The event's fields: a JSON object with the record's original field names.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Fields(Map<String, Value>);

impl Fields {
    pub fn new() -> Self {
        Self(Map::new())
    }

    /// Looks a field up by name: an exact (possibly dotted) key first, then by descending
    /// through nested objects along the dots.
    pub fn get(&self, path: &str) -> Option<&Value> {
        if let Some(v) = self.0.get(path) {
            return Some(v);
        }
        if !path.contains('.') {
            return None;
        }
        lookup_nested(&self.0, path)
    }

    /// Looks a field up by pre-split path segments (resolved once, e.g. at rule compile time).
    /// `full` is the joined path, tried first as a flat key.
    pub fn get_segments(&self, full: &str, segments: &[Box<str>]) -> Option<&Value> {
        if let Some(v) = self.0.get(full) {
            return Some(v);
        }
        if segments.len() < 2 {
            return None;
        }
        let mut cur = self.0.get(&*segments[0])?;
        for seg in &segments[1..] {
            cur = cur.as_object()?.get(&**seg)?;
        }
        Some(cur)
    }

    /// A field's value as a string, when it is a string or a scalar with a string form.
    pub fn get_str(&self, path: &str) -> Option<std::borrow::Cow<'_, str>> {
        scalar_str(self.get(path)?)
    }

    pub fn insert(&mut self, key: impl Into<String>, value: impl Into<Value>) {
        self.0.insert(key.into(), value.into());
    }

    pub fn remove(&mut self, key: &str) -> Option<Value> {
        self.0.remove(key)
    }

    pub fn as_map(&self) -> &Map<String, Value> {
        &self.0
    }

    pub fn into_map(self) -> Map<String, Value> {
        self.0
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Every string leaf (and scalar rendered as a string) in the event, for field-less
    /// keyword search.
    pub fn for_each_string<'a>(&'a self, f: &mut dyn FnMut(&str)) {
        fn walk(v: &Value, f: &mut dyn FnMut(&str)) {
            match v {
                Value::String(s) => f(s),
                Value::Number(n) => f(&n.to_string()),
                Value::Array(a) => a.iter().for_each(|v| walk(v, f)),
                Value::Object(o) => o.values().for_each(|v| walk(v, f)),
                Value::Bool(_) | Value::Null => {}
            }
        }
        for v in self.0.values() {
            walk(v, f);
        }
    }
}

impl From<Map<String, Value>> for Fields {
    fn from(map: Map<String, Value>) -> Self {
        Self(map)
    }
}

fn lookup_nested<'a>(map: &'a Map<String, Value>, path: &str) -> Option<&'a Value> {
    // Try every split point so that keys which themselves contain dots still resolve,
    // e.g. `requestParameters.policy.arn` where `requestParameters` holds a key `policy.arn`.
    for (i, _) in path.match_indices('.') {
        let (head, tail) = (&path[..i], &path[i + 1..]);
        if let Some(Value::Object(inner)) = map.get(head) {
            if let Some(v) = inner.get(tail) {
                return Some(v);
            }
            if let Some(v) = lookup_nested(inner, tail) {
                return Some(v);
            }
        }
    }
    None
}

/// The string form of a scalar JSON value (strings as-is, numbers and booleans rendered).
pub fn scalar_str(v: &Value) -> Option<std::borrow::Cow<'_, str>> {
    use std::borrow::Cow;
    match v {
        Value::String(s) => Some(Cow::Borrowed(s)),
        Value::Number(n) => Some(Cow::Owned(n.to_string())),
        Value::Bool(b) => Some(Cow::Borrowed(if *b { "true" } else { "false" })),
        _ => None,
    }
}

/// One normalized security event.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub id: EventId,
    /// When the event happened, per the record; the receive time when the record has none.
    pub time: DateTime<Utc>,
    /// When nightwatch received the record.
    pub received: DateTime<Utc>,
    pub origin: Origin,
    pub logsource: LogSource,
    /// The host the event is about (Computer, hostname, device), when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    pub fields: Fields,
    /// The original record text, when the input keeps it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub raw: Option<String>,
}

impl Event {
    /// A new event with an id derived from its origin; `time` defaults to `received`.
    pub fn new(origin: Origin, received: DateTime<Utc>, fields: Fields) -> Self {
        Self {
            id: EventId::derive(&origin.source, origin.index),
            time: received,
            received,
            origin,
            logsource: LogSource::default(),
            host: None,
            fields,
            raw: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fields(v: Value) -> Fields {
        match v {
            Value::Object(m) => Fields::from(m),
            _ => unreachable!("test helper takes objects"),
        }
    }

    #[test]
    fn hex_is_lowercase_two_digits_per_byte() {
        assert_eq!(hex(&[0x00, 0x0f, 0xa5, 0xff]), "000fa5ff");
        assert_eq!(EventId::derive("f", 1).as_str().len(), 32);
    }

    #[test]
    fn flat_key_with_dots_wins_over_descent() {
        let f = fields(json!({"a.b": 1, "a": {"b": 2}}));
        assert_eq!(f.get("a.b"), Some(&json!(1)));
    }

    #[test]
    fn nested_lookup_by_dotted_path() {
        let f = fields(json!({"userIdentity": {"sessionContext": {"mfa": "false"}}}));
        assert_eq!(
            f.get("userIdentity.sessionContext.mfa"),
            Some(&json!("false"))
        );
        assert_eq!(f.get("userIdentity.missing"), None);
        let segs: Vec<Box<str>> =
            vec!["userIdentity".into(), "sessionContext".into(), "mfa".into()];
        assert_eq!(
            f.get_segments("userIdentity.sessionContext.mfa", &segs),
            Some(&json!("false"))
        );
    }

    #[test]
    fn nested_key_containing_dots_resolves() {
        let f = fields(json!({"req": {"policy.arn": "x"}}));
        assert_eq!(f.get("req.policy.arn"), Some(&json!("x")));
    }

    #[test]
    fn event_ids_are_stable_and_distinct() {
        assert_eq!(EventId::derive("a.evtx", 3), EventId::derive("a.evtx", 3));
        assert_ne!(EventId::derive("a.evtx", 3), EventId::derive("a.evtx", 4));
        assert_eq!(EventId::derive("a", 0).as_str().len(), 32);
    }

    #[test]
    fn scalar_strings() {
        assert_eq!(scalar_str(&json!(4624)).as_deref(), Some("4624"));
        assert_eq!(scalar_str(&json!(true)).as_deref(), Some("true"));
        assert_eq!(scalar_str(&json!(null)), None);
    }
}
