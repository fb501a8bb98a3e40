//! MISP feed directories: `manifest.json` lists the events, each in `<uuid>.json` as
//! `{"Event": {info, threat_level_id, Attribute[], Object[{Attribute[]}]}}`. Only attributes
//! with `to_ids = true` are loaded (the others are context, not detection); composite types
//! (`domain|ip`, `ip-dst|port`, `filename|sha256`) contribute their indicator parts.

use std::path::Path;

use serde_json::Value;

use super::{EntryInfo, FeedBuilder, FeedError};

/// MISP attribute types we load, and which `|`-separated parts hold indicators.
fn parts(kind: &str) -> &'static [usize] {
    match kind {
        "ip-src" | "ip-dst" | "domain" | "hostname" | "url" | "uri" | "link" | "md5" | "sha1"
        | "sha256" | "email" | "email-src" | "email-dst" => &[0],
        "ip-src|port" | "ip-dst|port" | "hostname|port" => &[0],
        "domain|ip" => &[0, 1],
        "filename|md5" | "filename|sha1" | "filename|sha256" => &[1],
        _ => &[],
    }
}

fn confidence(threat_level: Option<&Value>) -> Option<u8> {
    let level = match threat_level? {
        Value::String(s) => s.parse::<u8>().ok()?,
        Value::Number(n) => n.as_u64()? as u8,
        _ => return None,
    };
    match level {
        1 => Some(90),
        2 => Some(75),
        3 => Some(50),
        _ => None,
    }
}

pub fn load(dir: &Path, name: &str, b: &mut FeedBuilder) -> Result<(), FeedError> {
    let read = |p: &Path| -> Result<Value, FeedError> {
        let text = std::fs::read_to_string(p).map_err(|source| FeedError::Io {
            path: p.to_owned(),
            source,
        })?;
        serde_json::from_str(&text).map_err(|e| FeedError::Format {
            path: p.to_owned(),
            message: format!("not JSON: {e}"),
        })
    };
    let manifest = read(&dir.join("manifest.json"))?;
    let Some(events) = manifest.as_object() else {
        return Err(FeedError::Format {
            path: dir.join("manifest.json"),
            message: "expected an object of event uuids".into(),
        });
    };
    let feed = b.feed(name);
    for uuid in events.keys() {
        if uuid.contains(['/', '\\']) || uuid.starts_with('.') {
            b.skip();
            continue;
        }
        let doc = read(&dir.join(format!("{uuid}.json")))?;
        let Some(event) = doc.get("Event") else {
            b.skip();
            continue;
        };
        let info = EntryInfo {
            threat: event
                .get("info")
                .and_then(Value::as_str)
                .and_then(|s| b.intern(s)),
            confidence: confidence(event.get("threat_level_id")),
            reference: b.intern(&format!("misp:event/{uuid}")),
        };
        let direct = event
            .get("Attribute")
            .and_then(Value::as_array)
            .into_iter()
            .flatten();
        let in_objects = event
            .get("Object")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|o| o.get("Attribute").and_then(Value::as_array))
            .flatten();
        for attr in direct.chain(in_objects) {
            load_attribute(attr, feed, &info, b);
        }
    }
    Ok(())
}

fn load_attribute(attr: &Value, feed: u16, info: &EntryInfo, b: &mut FeedBuilder) {
    let to_ids = attr.get("to_ids").and_then(Value::as_bool).unwrap_or(false);
    let deleted = attr
        .get("deleted")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let kind = attr.get("type").and_then(Value::as_str).unwrap_or("");
    let value = attr.get("value").and_then(Value::as_str).unwrap_or("");
    let wanted = parts(kind);
    if !to_ids || deleted || wanted.is_empty() {
        b.skip();
        return;
    }
    let pieces: Vec<&str> = value.split('|').collect();
    for &i in wanted {
        if let Some(v) = pieces.get(i) {
            b.add_value(feed, v, info);
        }
    }
}
