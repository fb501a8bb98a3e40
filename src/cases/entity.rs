//! Which host, user and source address an event is about, and which of its fields matter.
//!
//! Field names cover the sources nightwatch parses (Windows/Sysmon, CloudTrail, web and firewall
//! logs, Zeek, e-mail). Values that carry no identity (`-`, `SYSTEM`, loopback) are skipped. A
//! case is keyed by the first of host, user, source address the event names.

use std::collections::BTreeMap;

use crate::event::{Event, scalar_str};
use crate::verdict::{EntityKind, EntityRef};

const USER_FIELDS: &[&str] = &[
    "TargetUserName",
    "User",
    "SubjectUserName",
    "user",
    "user.name",
    "userIdentity.userName",
    "userIdentity.arn",
    "username",
    "AccountName",
    "recipient",
];

const ADDRESS_FIELDS: &[&str] = &[
    "IpAddress",
    "SourceIp",
    "src_ip",
    "src",
    "source.ip",
    "sourceIPAddress",
    "client_ip",
    "id.orig_h",
    "SourceAddress",
];

/// Fields worth showing next to an event id in a verdict, in this order.
const KEY_FIELDS: &[&str] = &[
    "Image",
    "CommandLine",
    "ParentImage",
    "TargetImage",
    "GrantedAccess",
    "TargetFilename",
    "TaskName",
    "ServiceName",
    "PipeName",
    "QueryName",
    "DestinationIp",
    "DestinationHostname",
    "DestinationPort",
    "User",
    "TargetUserName",
    "IpAddress",
    "From",
    "To",
    "Subject",
    "AttachmentName",
    "eventName",
    "url",
    "uri",
];

/// Key fields kept per evidence reference, and their length.
const MAX_KEY_FIELDS: usize = 6;
const MAX_FIELD_CHARS: usize = 200;
/// Fields a rule or correlation names: how many, and how long (an analysis sentence list).
const MAX_NAMED_FIELDS: usize = 16;
const MAX_NAMED_CHARS: usize = 2000;

fn clean_user(v: &str) -> Option<String> {
    let v = v.trim();
    let bare = v.rsplit('\\').next().unwrap_or(v);
    let lower = bare.to_ascii_lowercase();
    if bare.is_empty()
        || bare == "-"
        || lower == "system"
        || lower == "local service"
        || lower == "network service"
        || lower == "anonymous logon"
        || bare.ends_with('$')
    {
        return None;
    }
    Some(v.to_owned())
}

fn clean_address(v: &str) -> Option<String> {
    let v = v.trim();
    if v.is_empty() || v == "-" || v == "::1" || v.starts_with("127.") || v == "0.0.0.0" {
        return None;
    }
    v.parse::<std::net::IpAddr>().ok().map(|a| a.to_string())
}

fn first(event: &Event, names: &[&str], clean: fn(&str) -> Option<String>) -> Option<String> {
    names.iter().find_map(|n| {
        event
            .fields
            .get(n)
            .and_then(scalar_str)
            .and_then(|v| clean(&v))
    })
}

/// The host, user and source address named by the event.
pub fn entities(event: &Event) -> Vec<EntityRef> {
    let mut out = Vec::new();
    if let Some(h) = event.host.as_deref().filter(|h| !h.is_empty()) {
        out.push(EntityRef::new(EntityKind::Host, h));
    }
    if let Some(u) = first(event, USER_FIELDS, clean_user) {
        out.push(EntityRef::new(EntityKind::User, u));
    }
    if let Some(a) = first(event, ADDRESS_FIELDS, clean_address) {
        out.push(EntityRef::new(EntityKind::SourceAddress, a));
    }
    out
}

/// The entity a case about this event is keyed by: its host, else its user, else its source
/// address, else the unknown host.
pub fn primary(entities: &[EntityRef]) -> EntityRef {
    entities
        .first()
        .cloned()
        .unwrap_or_else(|| EntityRef::new(EntityKind::Host, crate::verdict::UNKNOWN))
}

/// The fields of an event that matter to an analyst: every field `named` (a correlation's group,
/// the rule's Sigma `fields`, whole up to [`MAX_NAMED_CHARS`]), then the usual key fields up to
/// [`MAX_KEY_FIELDS`] in all, cut to a readable length.
pub fn key_fields(event: &Event, named: &[&str]) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for name in named.iter().take(MAX_NAMED_FIELDS) {
        if let Some(v) = event.fields.get(name).and_then(scalar_str) {
            out.insert(
                (*name).to_owned(),
                v.chars().take(MAX_NAMED_CHARS).collect(),
            );
        }
    }
    let mut usual = 0;
    for name in KEY_FIELDS {
        if usual >= MAX_KEY_FIELDS {
            break;
        }
        if out.contains_key(*name) {
            continue;
        }
        if let Some(v) = event.fields.get(name).and_then(scalar_str) {
            let v: String = v.chars().take(MAX_FIELD_CHARS).collect();
            out.insert((*name).to_owned(), v);
            usual += 1;
        }
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::event::{Fields, Origin};

    fn ev(host: Option<&str>, v: serde_json::Value) -> Event {
        let serde_json::Value::Object(m) = v else {
            unreachable!()
        };
        let mut e = Event::new(
            Origin {
                input: "t".into(),
                source: "t".into(),
                index: 0,
            },
            chrono::Utc::now(),
            Fields::from(m),
        );
        e.host = host.map(str::to_owned);
        e
    }

    #[test]
    fn host_user_and_address_are_extracted_and_noise_skipped() {
        let e = ev(
            Some("WS-1"),
            serde_json::json!({"User": "CORP\\j.doe", "IpAddress": "10.0.0.5", "Image": "x.exe"}),
        );
        let es = entities(&e);
        assert_eq!(es.len(), 3);
        assert_eq!(primary(&es).kind, EntityKind::Host);
        let sys = ev(
            None,
            serde_json::json!({"User": "NT AUTHORITY\\SYSTEM", "IpAddress": "127.0.0.1", "recipient": "a@b.example"}),
        );
        let es = entities(&sys);
        assert_eq!(es, vec![EntityRef::new(EntityKind::User, "a@b.example")]);
        assert_eq!(key_fields(&e, &[]).get("Image").unwrap(), "x.exe");
        assert_eq!(primary(&[]).value, "unknown");
    }
}
