//! Windows events as log shippers write them, brought to the field names of [`super::windows`].
//!
//! The same Sigma rule must fire whichever shipper a SOC runs, so every shape ends with the System
//! fields at the top level (`Channel`, `EventID` as a number, `Provider_Name`, `Computer`,
//! `EventRecordID`) and the event data beside them:
//! * **Winlogbeat / Elastic Agent (ECS)**: `winlog.channel`, `winlog.event_id` (or ECS
//!   `event.code`), `winlog.provider_name`, `winlog.computer_name` (or `host.name`),
//!   `winlog.record_id`, `winlog.event_data.*`, `winlog.user_data.*`; as nested objects or as
//!   dotted keys, both of which pipelines produce. The ECS fields themselves stay where they are.
//! * **NXLog** (`im_msvistalog` JSON, and flat exports such as the OTRF datasets): the event data
//!   is already at the top level; `SourceName` names the provider and `Hostname` the computer.
//!
//! Event data never overwrites a System field: it is stored as `EventData.<name>`, as for EVTX.

use serde_json::{Map, Value};

use super::windows::SYSTEM_FIELDS;

/// Rewrites a shipper's Windows record in place. Returns whether the record is a Windows event
/// (it then has `Channel` and a numeric `EventID`).
pub fn flatten(map: &mut Map<String, Value>) -> bool {
    // Every JSON record passes here: look the shipper up without allocating.
    let channel = match map.get("winlog") {
        Some(w) => w.get("channel"),
        None => map.get("winlog.channel"),
    };
    if let Some(channel) = channel.cloned() {
        flatten_winlogbeat(map, channel);
    } else if map.contains_key("Channel") {
        alias(map, "SourceName", "Provider_Name");
        alias(map, "Hostname", "Computer");
    }
    if let Some(id) = map.get("EventID").and_then(number)
        && map.get("Channel").is_some_and(Value::is_string)
    {
        map.insert("EventID".into(), id.into());
        return true;
    }
    false
}

fn flatten_winlogbeat(map: &mut Map<String, Value>, channel: Value) {
    map.insert("Channel".into(), channel);
    let event_id = winlog(map, "event_id").or_else(|| ecs(map, "event", "code"));
    if let Some(id) = event_id.as_ref().and_then(number) {
        map.insert("EventID".into(), id.into());
    }
    for (from, to) in [
        ("provider_name", "Provider_Name"),
        ("provider_guid", "Provider_Guid"),
        ("computer_name", "Computer"),
        ("record_id", "EventRecordID"),
        ("task", "Task"),
        ("opcode", "Opcode"),
        ("keywords", "Keywords"),
        ("version", "Version"),
    ] {
        if let Some(v) = winlog(map, from)
            && !map.contains_key(to)
        {
            map.insert(to.into(), v);
        }
    }
    if !map.contains_key("Computer")
        && let Some(host) = ecs(map, "host", "name")
    {
        map.insert("Computer".into(), host);
    }
    for part in ["event_data", "user_data"] {
        let Some(Value::Object(data)) = winlog(map, part) else {
            continue;
        };
        for (k, v) in data {
            put_event_data(map, k, v);
        }
    }
    // Dotted event data keys (`winlog.event_data.TargetUserName`) from flattening pipelines.
    let dotted: Vec<(String, Value)> = map
        .iter()
        .filter_map(|(k, v)| {
            let name = k
                .strip_prefix("winlog.event_data.")
                .or_else(|| k.strip_prefix("winlog.user_data."))?;
            Some((name.to_owned(), v.clone()))
        })
        .collect();
    for (k, v) in dotted {
        put_event_data(map, k, v);
    }
}

/// One event data value at the top level, unless a field of that name is already there; a name
/// reserved for the System fields goes to `EventData.<name>`.
fn put_event_data(map: &mut Map<String, Value>, name: String, value: Value) {
    let key = if SYSTEM_FIELDS.contains(&name.as_str()) {
        format!("EventData.{name}")
    } else {
        name
    };
    map.entry(key).or_insert(value);
}

/// `winlog.<name>`, nested or dotted.
fn winlog(map: &Map<String, Value>, name: &str) -> Option<Value> {
    ecs(map, "winlog", name)
}

/// `<object>.<name>`, nested or dotted.
fn ecs(map: &Map<String, Value>, object: &str, name: &str) -> Option<Value> {
    map.get(object)
        .and_then(|o| o.get(name))
        .or_else(|| map.get(&format!("{object}.{name}")))
        .cloned()
}

fn alias(map: &mut Map<String, Value>, from: &str, to: &str) {
    if !map.contains_key(to)
        && let Some(v) = map.get(from).filter(|v| v.is_string()).cloned()
    {
        map.insert(to.into(), v);
    }
}

/// An event id as a number, from a number or a decimal string (Winlogbeat 8 writes strings).
fn number(v: &Value) -> Option<u64> {
    match v {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use serde_json::json;

    fn object(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => unreachable!(),
        }
    }

    #[test]
    fn winlogbeat_nested_record_is_flattened() {
        let mut m = object(json!({
            "@timestamp": "2026-12-01T10:00:00.000Z",
            "event": {"code": "4624", "provider": "Microsoft-Windows-Security-Auditing"},
            "host": {"name": "ws-fin-07.corp.example"},
            "winlog": {
                "channel": "Security",
                "event_id": "4624",
                "provider_name": "Microsoft-Windows-Security-Auditing",
                "computer_name": "WS-FIN-07.corp.example",
                "record_id": 1234,
                "event_data": {"LogonType": "3", "TargetUserName": "j.doe", "Version": "2"}
            }
        }));
        assert!(flatten(&mut m));
        assert_eq!(m["Channel"], "Security");
        assert_eq!(m["EventID"], 4624);
        assert_eq!(m["Provider_Name"], "Microsoft-Windows-Security-Auditing");
        assert_eq!(m["Computer"], "WS-FIN-07.corp.example");
        assert_eq!(m["EventRecordID"], 1234);
        assert_eq!(m["LogonType"], "3");
        assert_eq!(m["TargetUserName"], "j.doe");
        // Event data named like a System field does not overwrite it.
        assert_eq!(m["EventData.Version"], "2");
        // The ECS fields stay.
        assert_eq!(m["host"]["name"], "ws-fin-07.corp.example");
    }

    #[test]
    fn dotted_ecs_keys_and_event_code_are_read() {
        let mut m = object(json!({
            "winlog.channel": "Microsoft-Windows-Sysmon/Operational",
            "event.code": "1",
            "host.name": "ws-fin-07",
            "winlog.event_data.Image": "C:\\Windows\\System32\\cmd.exe",
            "winlog.event_data.CommandLine": "cmd /c whoami"
        }));
        assert!(flatten(&mut m));
        assert_eq!(m["EventID"], 1);
        assert_eq!(m["Computer"], "ws-fin-07");
        assert_eq!(m["CommandLine"], "cmd /c whoami");
    }

    #[test]
    fn nxlog_record_gets_provider_and_computer() {
        let mut m = object(json!({
            "Channel": "System", "EventID": 7040, "SourceName": "Service Control Manager",
            "Hostname": "WS-FIN-07", "param1": "Windows Event Log"
        }));
        assert!(flatten(&mut m));
        assert_eq!(m["Provider_Name"], "Service Control Manager");
        assert_eq!(m["Computer"], "WS-FIN-07");
    }

    #[test]
    fn other_json_is_not_windows() {
        let mut m = object(json!({"message": "hello", "EventID": 5}));
        assert!(!flatten(&mut m));
        let mut m = object(json!({"Channel": "x", "EventID": "not a number"}));
        assert!(!flatten(&mut m));
    }
}
