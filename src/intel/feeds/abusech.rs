//! abuse.ch exports: Feodo Tracker, URLhaus, ThreatFox and MalwareBazaar CSV (header commented
//! or not, `", "` separators, `None`/`n/a` as null) and the Feodo and ThreatFox JSON exports.
//!
//! The value columns are recognized by name (`dst_ip`, `ip_address`, `url`, `ioc_value`,
//! `sha256_hash`, `md5_hash`, `sha1_hash`), so every export with those columns loads.

use serde_json::Value;

use super::{EntryInfo, FeedBuilder};

const VALUE_COLUMNS: &[&str] = &[
    "dst_ip",
    "ip_address",
    "url",
    "ioc_value",
    "ioc",
    "sha256_hash",
    "md5_hash",
    "sha1_hash",
];
const THREAT_COLUMNS: &[&str] = &["malware_printable", "signature", "malware", "threat"];
const REFERENCE_COLUMNS: &[&str] = &["reference", "urlhaus_link"];

/// Splits one CSV line: quoted fields, `""` escapes, spaces after separators ignored.
pub fn split_csv(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut chars = line.chars().peekable();
    let mut quoted = false;
    let mut at_start = true;
    while let Some(c) = chars.next() {
        if quoted {
            if c == '"' {
                if chars.peek() == Some(&'"') {
                    cur.push('"');
                    chars.next();
                } else {
                    quoted = false;
                }
            } else {
                cur.push(c);
            }
        } else if c == ',' {
            out.push(std::mem::take(&mut cur));
            at_start = true;
            continue;
        } else if at_start && c == ' ' {
            continue;
        } else if c == '"' && at_start {
            quoted = true;
        } else {
            cur.push(c);
        }
        at_start = false;
    }
    out.push(cur);
    out
}

/// The column names when `text` is an abuse.ch CSV (a header naming a value column, commented
/// or not, before the first data line).
pub fn csv_header(text: &str) -> Option<Vec<String>> {
    for line in text.lines().take(64) {
        let l = line.trim_start_matches('#').trim();
        if l.is_empty() || !l.contains(',') {
            continue;
        }
        let cols: Vec<String> = split_csv(l)
            .into_iter()
            .map(|c| c.trim().to_owned())
            .collect();
        if cols.iter().any(|c| VALUE_COLUMNS.contains(&c.as_str())) {
            return Some(cols);
        }
        if !line.starts_with('#') {
            return None;
        }
    }
    None
}

fn col(header: &[String], names: &[&str]) -> Option<usize> {
    names
        .iter()
        .find_map(|n| header.iter().position(|h| h == n))
}

pub fn load_csv(
    text: &str,
    header: &[String],
    name: &str,
    b: &mut FeedBuilder,
) -> Result<(), String> {
    let feed = b.feed(name);
    let values: Vec<usize> = VALUE_COLUMNS
        .iter()
        .filter_map(|n| header.iter().position(|h| h == n))
        .collect();
    let threat = col(header, THREAT_COLUMNS);
    let reference = col(header, REFERENCE_COLUMNS);
    let confidence = col(header, &["confidence_level"]);
    for line in text.lines() {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let row = split_csv(line);
        if row
            .iter()
            .map(|c| c.trim())
            .eq(header.iter().map(String::as_str))
        {
            continue; // the uncommented header line
        }
        let get = |i: Option<usize>| i.and_then(|i| row.get(i)).map(|s| s.trim());
        let info = EntryInfo {
            threat: get(threat).and_then(|t| b.intern(t)),
            confidence: get(confidence)
                .and_then(|c| c.parse::<u8>().ok())
                .map(|c| c.min(100)),
            reference: get(reference).and_then(|r| b.intern(r)),
        };
        for &i in &values {
            match row.get(i).map(|s| s.trim()) {
                Some(v) if !v.is_empty() && v != "n/a" && v != "None" => {
                    b.add_value(feed, v, &info);
                }
                _ => {}
            }
        }
    }
    Ok(())
}

fn str_field<'a>(o: &'a Value, names: &[&str]) -> Option<&'a str> {
    names.iter().find_map(|n| o.get(*n).and_then(Value::as_str))
}

/// Feodo JSON (an array of `{ip_address, malware, …}`) or ThreatFox JSON (an object of
/// `ioc_id -> [{ioc_value, malware_printable, confidence_level, reference, …}]`).
pub fn load_json(doc: &Value, name: &str, b: &mut FeedBuilder) -> Result<(), String> {
    let rows: Vec<&Value> = match doc {
        Value::Array(a) => a.iter().collect(),
        Value::Object(o) => o
            .values()
            .flat_map(|v| match v {
                Value::Array(a) => a.iter().collect::<Vec<_>>(),
                other => vec![other],
            })
            .collect(),
        _ => return Err("expected a JSON array or object of feed rows".into()),
    };
    let feed = b.feed(name);
    let mut any = false;
    for row in rows {
        let Some(v) = str_field(row, VALUE_COLUMNS) else {
            b.skip();
            continue;
        };
        any = true;
        let info = EntryInfo {
            threat: str_field(row, THREAT_COLUMNS).and_then(|t| b.intern(t)),
            confidence: row
                .get("confidence_level")
                .and_then(Value::as_u64)
                .map(|c| c.min(100) as u8),
            reference: str_field(row, REFERENCE_COLUMNS).and_then(|r| b.intern(r)),
        };
        b.add_value(feed, v, &info);
    }
    if any {
        Ok(())
    } else {
        Err("no rows with a known value field (ip_address, ioc_value, url, sha256_hash, …)".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_splitting() {
        assert_eq!(split_csv(r#""a", "b,c", "", d"#), vec!["a", "b,c", "", "d"]);
        assert_eq!(split_csv(r#""x ""q""",y"#), vec![r#"x "q""#, "y"]);
    }
}
