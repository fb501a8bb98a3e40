//! STIX 2.1 bundles: `indicator` objects with `pattern_type = "stix"`. A subset of the
//! pattern language is supported: one comparison or an OR of comparisons, each
//! `<object>:<path> = '<value>'` (ipv4/ipv6/domain/url/email values, file hashes) or
//! `ipv4-addr:value ISSUBSET '<cidr>'`. Other patterns (AND, observation operators,
//! network-traffic) are skipped and counted as unsupported. Expired indicators
//! (`valid_until` past) are skipped.

use serde_json::Value;

use super::{EntryInfo, FeedBuilder};

/// One supported comparison: a value or a network.
#[derive(Debug, PartialEq, Eq)]
pub enum Term {
    Value(String),
    Network(String),
}

/// The terms of a supported pattern, or `None` when the pattern is outside the subset.
pub fn parse_pattern(pattern: &str) -> Option<Vec<Term>> {
    let p = pattern.trim();
    let inner = p.strip_prefix('[')?.strip_suffix(']')?;
    if inner.contains(" AND ") || inner.contains('[') {
        return None;
    }
    inner.split(" OR ").map(parse_comparison).collect()
}

fn parse_comparison(c: &str) -> Option<Term> {
    let c = c.trim();
    let (lhs, op, rhs) = if let Some((l, r)) = c.split_once(" ISSUBSET ") {
        (l, "ISSUBSET", r)
    } else {
        let (l, r) = c.split_once('=')?;
        (l, "=", r)
    };
    let value = rhs
        .trim()
        .strip_prefix('\'')?
        .strip_suffix('\'')?
        .replace("\\'", "'");
    let lhs = lhs.trim();
    let object = lhs.split(':').next()?;
    let path_ok = match object {
        "ipv4-addr" | "ipv6-addr" | "domain-name" | "url" | "email-addr" => lhs.ends_with(":value"),
        "file" => lhs.contains(":hashes."),
        _ => false,
    };
    if !path_ok {
        return None;
    }
    match op {
        "ISSUBSET" if object.starts_with("ipv") => Some(Term::Network(value)),
        "=" => Some(Term::Value(value)),
        _ => None,
    }
}

pub fn load(doc: &Value, name: &str, b: &mut FeedBuilder) -> Result<(), String> {
    let objects = doc
        .get("objects")
        .and_then(Value::as_array)
        .ok_or("bundle without objects")?;
    let feed = b.feed(name);
    let now = chrono::Utc::now();
    for o in objects {
        if o.get("type").and_then(Value::as_str) != Some("indicator") {
            continue;
        }
        if o.get("pattern_type")
            .and_then(Value::as_str)
            .unwrap_or("stix")
            != "stix"
        {
            b.skip();
            continue;
        }
        let expired = o
            .get("valid_until")
            .and_then(Value::as_str)
            .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
            .is_some_and(|t| t < now);
        let terms = o
            .get("pattern")
            .and_then(Value::as_str)
            .and_then(parse_pattern);
        let Some(terms) = terms.filter(|_| !expired) else {
            tracing::debug!(id = ?o.get("id"), "stix indicator skipped: unsupported pattern or expired");
            b.skip();
            continue;
        };
        let info = EntryInfo {
            threat: o
                .get("name")
                .and_then(Value::as_str)
                .and_then(|s| b.intern(s)),
            confidence: o
                .get("confidence")
                .and_then(Value::as_u64)
                .map(|c| c.min(100) as u8),
            reference: o
                .get("id")
                .and_then(Value::as_str)
                .and_then(|s| b.intern(s)),
        };
        for t in terms {
            match t {
                Term::Value(v) => {
                    b.add_value(feed, &v, &info);
                }
                Term::Network(n) => {
                    b.add_cidr(feed, &n, &info);
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pattern_subset() {
        assert_eq!(
            parse_pattern("[ipv4-addr:value = '203.0.113.66']"),
            Some(vec![Term::Value("203.0.113.66".into())])
        );
        assert_eq!(
            parse_pattern("[file:hashes.'SHA-256' = 'aa' OR file:hashes.MD5 = 'bb']"),
            Some(vec![Term::Value("aa".into()), Term::Value("bb".into())])
        );
        assert_eq!(
            parse_pattern("[ipv4-addr:value ISSUBSET '203.0.113.0/24']"),
            Some(vec![Term::Network("203.0.113.0/24".into())])
        );
        assert_eq!(
            parse_pattern(
                "[network-traffic:dst_ref.value = '1.2.3.4' AND network-traffic:dst_port = 8080]"
            ),
            None
        );
        assert_eq!(parse_pattern("[x:y = 'z'] FOLLOWEDBY [a:b = 'c']"), None);
    }
}
