//! Spamhaus DROP: the legacy text list (`CIDR ; SBLnnnnnn`, `;` comments) and the current
//! NDJSON (`{"cidr","sblid","rir"}` lines and a final metadata line). Matched by containment.

use serde_json::Value;

use super::{EntryInfo, FeedBuilder};

/// Text whose first data line is `CIDR ; SBL…`.
pub fn is_drop_text(text: &str) -> bool {
    text.lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with(';') && !l.starts_with('#'))
        .is_some_and(|l| {
            l.split_once(';')
                .is_some_and(|(c, _)| c.trim().contains('/'))
        })
}

/// NDJSON whose first line carries `cidr`.
pub fn is_ndjson(head: &str) -> bool {
    head.lines()
        .next()
        .and_then(|l| serde_json::from_str::<Value>(l).ok())
        .is_some_and(|v| v.get("cidr").is_some())
}

pub fn load_text(text: &str, name: &str, b: &mut FeedBuilder) -> Result<(), String> {
    let feed = b.feed(name);
    let threat = b.intern("spamhaus drop");
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with(';') || line.starts_with('#') {
            continue;
        }
        let (cidr, sbl) = line.split_once(';').unwrap_or((line, ""));
        let info = EntryInfo {
            threat: threat.clone(),
            confidence: None,
            reference: b.intern(sbl),
        };
        b.add_cidr(feed, cidr.trim(), &info);
    }
    Ok(())
}

pub fn load_ndjson(text: &str, name: &str, b: &mut FeedBuilder) -> Result<(), String> {
    let feed = b.feed(name);
    let threat = b.intern("spamhaus drop");
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let v: Value = serde_json::from_str(line).map_err(|e| format!("line {}: {e}", n + 1))?;
        let Some(cidr) = v.get("cidr").and_then(Value::as_str) else {
            continue; // the metadata line
        };
        let info = EntryInfo {
            threat: threat.clone(),
            confidence: None,
            reference: v
                .get("sblid")
                .and_then(Value::as_str)
                .and_then(|s| b.intern(s)),
        };
        b.add_cidr(feed, cidr, &info);
    }
    Ok(())
}
