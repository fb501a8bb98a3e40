//! Shared Windows event handling: flattening to Sigma-style fields and logsource classification.
//!
//! Every Windows source (EVTX files, XML exports, evtx_dump-style JSON) ends up here. The
//! evtx crate's JSON shape (`{"Event": {"System": {...}, "EventData": {...}}}`) is flattened by
//! [`event_from_windows_json`]; the XML parser feeds the same [`WinFields`] builder directly, so
//! both produce identical field names.
//!
//! # Field naming
//! * System → `EventID` (number; the text of `<EventID Qualifiers="..">`), `Channel`,
//!   `Provider_Name`, `Provider_Guid`, `Computer`, `Level`, `Task`, `Opcode`, `Keywords`,
//!   `EventRecordID`, `Version`, `ProcessID`/`ThreadID` (Execution), `SecurityUserID`
//!   (Security@UserID), `TimeCreated` (SystemTime string). `Correlation` and `RenderingInfo`
//!   are dropped.
//! * EventData `<Data Name="X">v</Data>` → `X`; unnamed `<Data>` → `Data` (a string, or a list
//!   when there are several); other EventData children (e.g. `Binary`) → their element name.
//! * UserData → the leaf elements of its child element, at top level, by element name.
//! * Empty elements → `""`.
//! * **Name conflicts**: the System field names above are reserved. An EventData/UserData
//!   field with one of those names (e.g. Sysmon 4/16 `Version`) is stored as
//!   `EventData.<name>` (a flat key containing a dot, which `Fields::get` resolves first), so
//!   System values are never overwritten and the data value stays reachable.
//! * Values from JSON keep their JSON type (numbers stay numbers); values from XML are strings,
//!   except the numeric System fields, which become numbers as in the evtx crate's JSON.

use std::sync::Arc;

use chrono::{DateTime, NaiveDateTime, Utc};
use serde_json::{Map, Value};

use crate::event::{Event, Fields, LogSource, Origin};

/// A Windows event rendering that could not be turned into an [`Event`].
#[derive(Debug, thiserror::Error)]
pub enum WindowsEventError {
    #[error("{file}: event {index}: {reason}")]
    Invalid {
        file: Arc<str>,
        index: u64,
        reason: &'static str,
    },
}

/// System field names reserved for the System element; EventData fields with these names are
/// stored as `EventData.<name>`.
pub const SYSTEM_FIELDS: &[&str] = &[
    "EventID",
    "Version",
    "Level",
    "Task",
    "Opcode",
    "Keywords",
    "TimeCreated",
    "EventRecordID",
    "ProcessID",
    "ThreadID",
    "Channel",
    "Computer",
    "SecurityUserID",
    "Provider_Name",
    "Provider_Guid",
];

/// System fields that the evtx crate renders as numbers; XML text is converted to match.
const NUMERIC_SYSTEM_FIELDS: &[&str] = &[
    "EventID",
    "Version",
    "Level",
    "Task",
    "Opcode",
    "EventRecordID",
    "ProcessID",
    "ThreadID",
];

/// Windows event channel → Sigma `service` (from SigmaHQ's thor.yml source mapping; matched
/// case-insensitively).
#[rustfmt::skip]
pub const CHANNEL_SERVICES: &[(&str, &str)] = &[
    ("Security", "security"),
    ("System", "system"),
    ("Application", "application"),
    ("Microsoft-Windows-Sysmon/Operational", "sysmon"),
    ("Windows PowerShell", "powershell-classic"),
    ("Microsoft-Windows-PowerShell/Operational", "powershell"),
    ("PowerShellCore/Operational", "powershell"),
    ("Microsoft-Windows-TaskScheduler/Operational", "taskscheduler"),
    ("Microsoft-Windows-Windows Defender/Operational", "windefend"),
    ("Microsoft-Windows-WMI-Activity/Operational", "wmi"),
    ("Microsoft-Windows-Bits-Client/Operational", "bits-client"),
    ("Microsoft-Windows-DNS-Client/Operational", "dns-client"),
    ("Microsoft-Windows-DNS Client Events/Operational", "dns-client"),
    ("Microsoft-Windows-CodeIntegrity/Operational", "codeintegrity-operational"),
    ("Microsoft-Windows-Windows Firewall With Advanced Security/Firewall", "firewall-as"),
    ("Microsoft-Windows-TerminalServices-LocalSessionManager/Operational", "terminalservices-localsessionmanager"),
    ("Microsoft-Windows-NTLM/Operational", "ntlm"),
    ("Microsoft-Windows-DHCP-Server/Operational", "dhcp"),
    ("Microsoft-Windows-PrintService/Admin", "printservice-admin"),
    ("Microsoft-Windows-PrintService/Operational", "printservice-operational"),
    ("Microsoft-Windows-SmbClient/Security", "smbclient-security"),
    ("Microsoft-Windows-SmbClient/Connectivity", "smbclient-connectivity"),
    ("Microsoft-Windows-SMBServer/Connectivity", "smbserver-connectivity"),
    ("Microsoft-Windows-AppLocker/MSI and Script", "applocker"),
    ("Microsoft-Windows-AppLocker/EXE and DLL", "applocker"),
    ("Microsoft-Windows-AppLocker/Packaged app-Deployment", "applocker"),
    ("Microsoft-Windows-AppLocker/Packaged app-Execution", "applocker"),
    ("MSExchange Management", "msexchange-management"),
    ("Microsoft-Windows-Security-Mitigations/Kernel Mode", "security-mitigations"),
    ("Microsoft-Windows-Security-Mitigations/User Mode", "security-mitigations"),
    ("Microsoft-Windows-Diagnosis-Scripted/Operational", "diagnosis-scripted"),
    ("Microsoft-Windows-Shell-Core/Operational", "shell-core"),
    ("OpenSSH/Operational", "openssh"),
    ("Microsoft-Windows-LDAP-Client/Debug", "ldap"),
    ("Microsoft-Windows-BitLocker/BitLocker Management", "bitlocker"),
    ("Microsoft-Windows-VHDMP/Operational", "vhdmp"),
    ("Microsoft-Windows-AppXDeploymentServer/Operational", "appxdeployment-server"),
    ("Microsoft-Windows-LSA/Operational", "lsa-server"),
    ("Microsoft-Windows-AppxPackaging/Operational", "appxpackaging-om"),
    ("Microsoft-Windows-AppModel-Runtime/Admin", "appmodel-runtime"),
    ("Microsoft-Windows-CAPI2/Operational", "capi2"),
    ("Microsoft-Windows-CertificateServicesClient-Lifecycle-System/Operational", "certificateservicesclient-lifecycle-system"),
    ("Microsoft-Windows-Kernel-ShimEngine/Operational", "kernel-shimengine"),
    ("Microsoft-Windows-Kernel-ShimEngine/Diagnostic", "kernel-shimengine"),
    ("Microsoft-Windows-Application-Experience/Program-Telemetry", "application-experience"),
    ("Microsoft-Windows-Application-Experience/Program-Compatibility-Assistant", "application-experience"),
    ("Microsoft-Windows-Ntfs/Operational", "ntfs"),
    ("Microsoft-Windows-Hyper-V-Worker", "hyper-v-worker"),
    ("Microsoft-Windows-Hyper-V-Worker-Admin", "hyper-v-worker"),
    ("Microsoft-Windows-Kernel-EventTracing", "kernel-event-tracing"),
    ("Microsoft-Windows-Kernel-EventTracing/Admin", "kernel-event-tracing"),
    ("Microsoft-Windows-SENSE/Operational", "sense"),
    ("Microsoft-ServiceBus-Client/Admin", "servicebus-client"),
    ("Microsoft-ServiceBus-Client/Operational", "servicebus-client"),
    ("Microsoft-IIS-Configuration/Operational", "iis-configuration"),
];

/// Provider → service, used only when the event names no (known) channel.
#[rustfmt::skip]
pub const PROVIDER_SERVICES: &[(&str, &str)] = &[
    ("Microsoft-Windows-Sysmon", "sysmon"),
    ("Microsoft-Windows-Security-Auditing", "security"),
    ("Microsoft-Windows-PowerShell", "powershell"),
    ("PowerShell", "powershell-classic"),
    ("Microsoft-Windows-TaskScheduler", "taskscheduler"),
    ("Microsoft-Windows-Windows Defender", "windefend"),
    ("Microsoft-Windows-WMI-Activity", "wmi"),
    ("Microsoft-Windows-Bits-Client", "bits-client"),
    ("Microsoft-Windows-DNS-Client", "dns-client"),
    ("Microsoft-Windows-CodeIntegrity", "codeintegrity-operational"),
];

/// (service, event IDs, category): Sigma `category` by service and EventID (thor.yml).
/// Sysmon 12 defaults to `registry_add`; [`WinFields::finish`] refines it by `EventType`.
#[rustfmt::skip]
pub const CATEGORIES: &[(&str, &[u64], &str)] = &[
    ("sysmon", &[1], "process_creation"),
    ("sysmon", &[2], "file_change"),
    ("sysmon", &[3], "network_connection"),
    ("sysmon", &[4, 16], "sysmon_status"),
    ("sysmon", &[5], "process_termination"),
    ("sysmon", &[6], "driver_load"),
    ("sysmon", &[7], "image_load"),
    ("sysmon", &[8], "create_remote_thread"),
    ("sysmon", &[9], "raw_access_thread"),
    ("sysmon", &[10], "process_access"),
    ("sysmon", &[11], "file_event"),
    ("sysmon", &[12], "registry_add"),
    ("sysmon", &[13], "registry_set"),
    ("sysmon", &[14], "registry_rename"),
    ("sysmon", &[15], "create_stream_hash"),
    ("sysmon", &[17, 18], "pipe_created"),
    ("sysmon", &[19, 20, 21], "wmi_event"),
    ("sysmon", &[22], "dns_query"),
    ("sysmon", &[23], "file_delete"),
    ("sysmon", &[24], "clipboard_capture"),
    ("sysmon", &[25], "process_tampering"),
    ("sysmon", &[26], "file_delete_detected"),
    ("sysmon", &[27], "file_block_executable"),
    ("sysmon", &[28], "file_block_shredding"),
    ("sysmon", &[29], "file_executable_detected"),
    ("sysmon", &[255], "sysmon_error"),
    ("security", &[4688], "process_creation"),
    ("powershell", &[4103], "ps_module"),
    ("powershell", &[4104], "ps_script"),
    ("powershell-classic", &[400], "ps_classic_start"),
    ("powershell-classic", &[600], "ps_classic_provider_start"),
    ("powershell-classic", &[800], "ps_classic_script"),
    ("windefend", &[1006, 1007, 1008, 1009, 1010, 1011, 1012, 1017, 1018, 1019, 1115, 1116], "antivirus"),
];

/// Classifies channel/provider/event id into a Sigma logsource (product is always `windows`).
pub fn classify(channel: Option<&str>, provider: Option<&str>, event_id: Option<u64>) -> LogSource {
    let lookup = |table: &[(&'static str, &'static str)], key: &str| {
        table
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|&(_, s)| s)
    };
    let service = channel
        .and_then(|c| lookup(CHANNEL_SERVICES, c.trim()))
        .or_else(|| provider.and_then(|p| lookup(PROVIDER_SERVICES, p.trim())));
    let category = match (service, event_id) {
        (Some(svc), Some(id)) => CATEGORIES
            .iter()
            .find(|(s, ids, _)| *s == svc && ids.contains(&id))
            .map(|&(_, _, c)| c),
        _ => None,
    };
    LogSource::new(Some("windows"), category, service)
}

/// True when a JSON object looks like a Windows event rendering (`{"Event": {"System": ...}}`).
pub fn is_windows_json(value: &Value) -> bool {
    value
        .get("Event")
        .and_then(Value::as_object)
        .is_some_and(|e| e.contains_key("System") || e.contains_key("System_attributes"))
}

/// Flattens a Windows event in the evtx crate's / evtx_dump JSON shape into Sigma-style flat
/// fields and builds the Event.
pub fn event_from_windows_json(
    value: Value,
    origin: Origin,
    received: DateTime<Utc>,
) -> Result<Event, WindowsEventError> {
    let invalid = |origin: &Origin, reason| WindowsEventError::Invalid {
        file: origin.source.clone(),
        index: origin.index,
        reason,
    };
    let Value::Object(mut top) = value else {
        return Err(invalid(&origin, "not a JSON object"));
    };
    let event = match top.remove("Event") {
        Some(Value::Object(e)) => e,
        Some(_) => return Err(invalid(&origin, "`Event` is not an object")),
        None if top.contains_key("System") => top,
        None => return Err(invalid(&origin, "no `Event` object")),
    };
    let mut out = WinFields::new();
    let mut saw_system = false;
    for (key, val) in event {
        match key.as_str() {
            "System" => {
                saw_system = true;
                if let Value::Object(sys) = val {
                    flatten_json_system(sys, &mut out);
                }
            }
            "EventData" => flatten_json_event_data(val, &mut out),
            "UserData" => flatten_json_user_data(val, &mut out),
            _ => {}
        }
    }
    if !saw_system {
        return Err(invalid(&origin, "no `System` element"));
    }
    Ok(out.finish(origin, received))
}

/// The attributes object of a rendered element (`{"#attributes": {...}}`).
fn json_attrs(v: &Value) -> Option<&Map<String, Value>> {
    v.get("#attributes").and_then(Value::as_object)
}

/// The content of a rendered element: its `#text` when it has attributes, `""` when empty.
fn json_text(v: Value) -> Value {
    match v {
        Value::Null => Value::String(String::new()),
        Value::Object(mut m) => match m.remove("#text") {
            Some(t) => json_text(t),
            None if m.keys().all(|k| k == "#attributes") => Value::String(String::new()),
            None => Value::Object(m),
        },
        other => other,
    }
}

fn flatten_json_system(sys: Map<String, Value>, out: &mut WinFields) {
    for (key, val) in sys {
        let (name, attrs_only) = match key.strip_suffix("_attributes") {
            // evtx_dump --separate-json-attributes renders `X_attributes: {...}` next to `X`.
            Some(base) => (base, true),
            None => (key.as_str(), false),
        };
        let attr = |a: &str| {
            if attrs_only {
                val.get(a)
            } else {
                json_attrs(&val).and_then(|m| m.get(a))
            }
            .cloned()
        };
        match name {
            "Provider" => {
                if let Some(v) = attr("Name") {
                    out.system("Provider_Name", v);
                }
                if let Some(v) = attr("Guid") {
                    out.system("Provider_Guid", v);
                }
            }
            "TimeCreated" => {
                if let Some(v) = attr("SystemTime") {
                    out.system("TimeCreated", v);
                }
            }
            "Execution" => {
                if let Some(v) = attr("ProcessID") {
                    out.system("ProcessID", v);
                }
                if let Some(v) = attr("ThreadID") {
                    out.system("ThreadID", v);
                }
            }
            "Security" => {
                if let Some(v) = attr("UserID") {
                    out.system("SecurityUserID", v);
                }
            }
            "Correlation" => {}
            _ if attrs_only => {}
            _ => {
                let v = json_text(val);
                if !v.is_object() {
                    out.system(name, v);
                }
            }
        }
    }
}

fn flatten_json_event_data(val: Value, out: &mut WinFields) {
    match val {
        Value::Object(map) => {
            for (key, v) in map {
                match key.as_str() {
                    "#attributes" => {}
                    "Data" | "#text" => json_data_elements(v, out),
                    _ => out.data(key, json_text(v)),
                }
            }
        }
        Value::Null => {}
        other => out.unnamed(json_text(other)),
    }
}

/// `Data` children of EventData: named ones (`{"#attributes": {"Name": ..}, "#text": ..}`)
/// become fields, the rest are unnamed data.
fn json_data_elements(v: Value, out: &mut WinFields) {
    match v {
        Value::Array(items) => items.into_iter().for_each(|i| json_data_elements(i, out)),
        Value::Object(ref m) if m.contains_key("#attributes") || m.contains_key("#text") => {
            let name = json_attrs(&v)
                .and_then(|a| a.get("Name"))
                .and_then(Value::as_str)
                .map(str::to_owned);
            let text = json_text(v);
            match (name, text) {
                (Some(n), t) => out.data(n, t),
                (None, Value::Array(items)) => items.into_iter().for_each(|t| out.unnamed(t)),
                (None, t) => out.unnamed(t),
            }
        }
        other => out.unnamed(json_text(other)),
    }
}

fn flatten_json_user_data(val: Value, out: &mut WinFields) {
    if let Value::Object(map) = val {
        for (key, child) in map {
            if key != "#attributes" {
                json_leaves(child, out);
            }
        }
    }
}

fn json_leaves(v: Value, out: &mut WinFields) {
    if let Value::Object(map) = v {
        for (key, child) in map {
            match child {
                _ if key == "#attributes" => {}
                Value::Object(ref m)
                    if !m.contains_key("#text") && m.keys().any(|k| k != "#attributes") =>
                {
                    json_leaves(child, out)
                }
                other => out.data(key, json_text(other)),
            }
        }
    }
}

/// Accumulates flattened Windows fields from either JSON or XML and builds the [`Event`].
#[derive(Debug, Default)]
pub(crate) struct WinFields {
    map: Map<String, Value>,
    unnamed: Vec<Value>,
}

impl WinFields {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// Sets a System field (always wins over data of the same name).
    pub(crate) fn system(&mut self, name: &str, value: Value) {
        let value = if NUMERIC_SYSTEM_FIELDS.contains(&name) {
            numeric(value)
        } else {
            value
        };
        self.map.insert(name.to_owned(), value);
    }

    /// Adds a named EventData/UserData field; reserved System names go to `EventData.<name>`.
    pub(crate) fn data(&mut self, name: String, value: Value) {
        if SYSTEM_FIELDS.contains(&name.as_str()) {
            self.map.insert(format!("EventData.{name}"), value);
        } else if name == "Data" {
            self.unnamed(value);
        } else {
            self.map.insert(name, value);
        }
    }

    /// Adds an unnamed `<Data>` value.
    pub(crate) fn unnamed(&mut self, value: Value) {
        self.unnamed.push(value);
    }

    /// Builds the event: time, host and logsource from the System fields.
    pub(crate) fn finish(mut self, origin: Origin, received: DateTime<Utc>) -> Event {
        match self.unnamed.len() {
            0 => {}
            1 => {
                let v = self.unnamed.pop().unwrap_or(Value::Null);
                self.map.insert("Data".to_owned(), v);
            }
            _ => {
                self.map
                    .insert("Data".to_owned(), Value::Array(self.unnamed));
            }
        }
        let fields = Fields::from(self.map);
        let event_id = fields.get("EventID").and_then(|v| match v {
            Value::Number(n) => n.as_u64(),
            Value::String(s) => s.trim().parse().ok(),
            _ => None,
        });
        let channel = fields.get("Channel").and_then(Value::as_str);
        let provider = fields.get("Provider_Name").and_then(Value::as_str);
        let mut logsource = classify(channel, provider, event_id);
        if event_id == Some(12) && logsource.service.as_deref() == Some("sysmon") {
            let ty = fields
                .get("EventType")
                .and_then(Value::as_str)
                .unwrap_or("");
            if ty.eq_ignore_ascii_case("DeleteKey") || ty.eq_ignore_ascii_case("DeleteValue") {
                logsource.category = Some(Arc::from("registry_delete"));
            }
        }
        let time = fields
            .get("TimeCreated")
            .and_then(Value::as_str)
            .and_then(parse_system_time);
        let host = fields
            .get("Computer")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_owned);
        let mut event = Event::new(origin, received, fields);
        if let Some(t) = time {
            event.time = t;
        }
        event.host = host;
        event.logsource = logsource;
        event
    }
}

/// A digit-only string becomes a JSON number; anything else is kept.
fn numeric(value: Value) -> Value {
    match value {
        Value::String(s) => match s.trim().parse::<u64>() {
            Ok(n) => Value::from(n),
            Err(_) => Value::String(s),
        },
        other => other,
    }
}

/// Parses a `SystemTime` attribute: RFC 3339 (`2020-07-02T18:00:29.615842Z`), or the
/// `2020-07-02 18:00:29.615842 UTC` form older evtx versions print.
pub fn parse_system_time(s: &str) -> Option<DateTime<Utc>> {
    let s = s.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    let bare = s.strip_suffix("UTC").map_or(s, str::trim_end);
    let bare = bare.strip_suffix('Z').unwrap_or(bare);
    ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f"]
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(bare, f).ok())
        .map(|n| n.and_utc())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use serde_json::json;

    fn origin(i: u64) -> Origin {
        Origin {
            input: Arc::from("file"),
            source: Arc::from("x.json"),
            index: i,
        }
    }

    fn now() -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000, 0).unwrap()
    }

    fn cat(channel: &str, id: u64) -> (Option<String>, Option<String>) {
        let ls = classify(Some(channel), None, Some(id));
        assert_eq!(ls.product.as_deref(), Some("windows"));
        (
            ls.service.map(|s| s.to_string()),
            ls.category.map(|s| s.to_string()),
        )
    }

    #[test]
    fn classify_by_channel_and_event_id() {
        let sysmon = "Microsoft-Windows-Sysmon/Operational";
        let s = |x: &str| Some(x.to_owned());
        assert_eq!(cat(sysmon, 1), (s("sysmon"), s("process_creation")));
        assert_eq!(cat(sysmon, 12), (s("sysmon"), s("registry_add")));
        assert_eq!(cat(sysmon, 18), (s("sysmon"), s("pipe_created")));
        assert_eq!(cat(sysmon, 24), (s("sysmon"), s("clipboard_capture")));
        assert_eq!(cat(sysmon, 255), (s("sysmon"), s("sysmon_error")));
        assert_eq!(cat(sysmon, 999), (s("sysmon"), None));
        assert_eq!(
            cat("security", 4688),
            (s("security"), s("process_creation"))
        );
        assert_eq!(cat("Security", 4624), (s("security"), None));
        assert_eq!(
            cat("Microsoft-Windows-PowerShell/Operational", 4104),
            (s("powershell"), s("ps_script"))
        );
        assert_eq!(
            cat("Microsoft-Windows-PowerShell/Operational", 4103),
            (s("powershell"), s("ps_module"))
        );
        assert_eq!(
            cat("Windows PowerShell", 400),
            (s("powershell-classic"), s("ps_classic_start"))
        );
        assert_eq!(
            cat("Windows PowerShell", 600),
            (s("powershell-classic"), s("ps_classic_provider_start"))
        );
        assert_eq!(
            cat("Windows PowerShell", 800),
            (s("powershell-classic"), s("ps_classic_script"))
        );
        assert_eq!(
            cat("Microsoft-Windows-Windows Defender/Operational", 1116),
            (s("windefend"), s("antivirus"))
        );
        assert_eq!(
            cat(
                "Microsoft-Windows-Windows Firewall With Advanced Security/Firewall",
                2004
            ),
            (s("firewall-as"), None)
        );
        assert_eq!(
            cat(
                "Microsoft-Windows-TerminalServices-LocalSessionManager/Operational",
                21
            )
            .0,
            s("terminalservices-localsessionmanager")
        );
        assert_eq!(
            cat("Microsoft-Windows-DNS-Client/Operational", 3008).0,
            s("dns-client")
        );
        assert_eq!(cat("Some/Unknown", 1), (None, None));
        // Provider fallback when the channel is missing.
        let ls = classify(None, Some("Microsoft-Windows-Sysmon"), Some(3));
        assert_eq!(ls.category.as_deref(), Some("network_connection"));
        assert_eq!(
            classify(None, None, None),
            LogSource::new(Some("windows"), None, None)
        );
    }

    #[test]
    fn table_services_are_unique_per_channel() {
        for (i, (c, _)) in CHANNEL_SERVICES.iter().enumerate() {
            assert!(
                !CHANNEL_SERVICES[i + 1..]
                    .iter()
                    .any(|(d, _)| d.eq_ignore_ascii_case(c)),
                "duplicate channel {c}"
            );
        }
        let mut seen = Vec::new();
        for (svc, ids, _) in CATEGORIES {
            for id in *ids {
                assert!(!seen.contains(&(svc, id)), "duplicate {svc}/{id}");
                seen.push((svc, id));
            }
        }
    }

    fn sysmon_json(id: serde_json::Value, data: serde_json::Value) -> serde_json::Value {
        json!({"Event": {
            "#attributes": {"xmlns": "http://schemas.microsoft.com/win/2004/08/events/event"},
            "System": {
                "Provider": {"#attributes": {"Name": "Microsoft-Windows-Sysmon", "Guid": "{5770385F}"}},
                "EventID": id, "Version": 2, "Level": 4, "Task": 12, "Opcode": 0,
                "Keywords": "0x8000000000000000",
                "TimeCreated": {"#attributes": {"SystemTime": "2019-05-27T09:11:21.918410Z"}},
                "EventRecordID": 7, "Correlation": null,
                "Execution": {"#attributes": {"ProcessID": 1, "ThreadID": 2}},
                "Channel": "Microsoft-Windows-Sysmon/Operational", "Computer": "PC01",
                "Security": {"#attributes": {"UserID": "S-1-5-18"}}
            },
            "EventData": data
        }})
    }

    #[test]
    fn flattens_evtx_json() {
        let v = sysmon_json(
            json!(12),
            json!({"EventType": "DeleteKey", "TargetObject": "HKLM\\x", "ProcessId": 4, "Version": "x", "Empty": null}),
        );
        assert!(is_windows_json(&v));
        let e = event_from_windows_json(v, origin(3), now()).unwrap();
        let f = &e.fields;
        assert_eq!(f.get("EventID"), Some(&json!(12)));
        assert_eq!(
            f.get_str("Provider_Name").as_deref(),
            Some("Microsoft-Windows-Sysmon")
        );
        assert_eq!(f.get_str("Provider_Guid").as_deref(), Some("{5770385F}"));
        assert_eq!(f.get("ProcessID"), Some(&json!(1)));
        assert_eq!(f.get("ThreadID"), Some(&json!(2)));
        assert_eq!(f.get_str("SecurityUserID").as_deref(), Some("S-1-5-18"));
        assert_eq!(
            f.get_str("TimeCreated").as_deref(),
            Some("2019-05-27T09:11:21.918410Z")
        );
        assert_eq!(f.get("ProcessId"), Some(&json!(4)));
        assert_eq!(f.get("Version"), Some(&json!(2)));
        assert_eq!(f.get_str("EventData.Version").as_deref(), Some("x"));
        assert_eq!(f.get_str("Empty").as_deref(), Some(""));
        assert!(f.get("Correlation").is_none());
        assert_eq!(e.logsource.category.as_deref(), Some("registry_delete"));
        assert_eq!(e.host.as_deref(), Some("PC01"));
        assert_eq!(e.time.to_rfc3339(), "2019-05-27T09:11:21.918410+00:00");
        assert_eq!(e.origin.index, 3);
        assert_eq!(e.id, crate::event::EventId::derive("x.json", 3));
        assert!(e.raw.is_none());

        let v = sysmon_json(json!(12), json!({"EventType": "CreateKey"}));
        let e = event_from_windows_json(v, origin(0), now()).unwrap();
        assert_eq!(e.logsource.category.as_deref(), Some("registry_add"));
    }

    #[test]
    fn qualifiers_unnamed_data_and_separated_attributes() {
        let v = json!({"Event": {"System": {
                "Provider_attributes": {"Name": "Service Control Manager"},
                "Provider": null,
                "EventID": {"#attributes": {"Qualifiers": 16384}, "#text": 7045},
                "Channel": "System",
                "TimeCreated_attributes": {"SystemTime": "bogus"}
            },
            "EventData": {"Data": [{"#text": "a"}, "b", {"#attributes": {"Name": "N"}, "#text": "v"}],
                          "Binary": "00FF"}}});
        let e = event_from_windows_json(v, origin(0), now()).unwrap();
        assert_eq!(e.fields.get("EventID"), Some(&json!(7045)));
        assert_eq!(
            e.fields.get_str("Provider_Name").as_deref(),
            Some("Service Control Manager")
        );
        assert_eq!(e.fields.get("Data"), Some(&json!(["a", "b"])));
        assert_eq!(e.fields.get_str("N").as_deref(), Some("v"));
        assert_eq!(e.fields.get_str("Binary").as_deref(), Some("00FF"));
        assert_eq!(
            e.time,
            now(),
            "unparseable SystemTime falls back to received"
        );
        assert_eq!(e.logsource.service.as_deref(), Some("system"));

        let v = json!({"Event": {"System": {"EventID": 1}, "EventData": {"Data": {"#text": ["x", "y"]}}}});
        let e = event_from_windows_json(v, origin(0), now()).unwrap();
        assert_eq!(e.fields.get("Data"), Some(&json!(["x", "y"])));
        let v = json!({"Event": {"System": {"EventID": "4104"}, "EventData": {"Data": "only"}}});
        let e = event_from_windows_json(v, origin(0), now()).unwrap();
        assert_eq!(e.fields.get("Data"), Some(&json!("only")));
        assert_eq!(e.fields.get("EventID"), Some(&json!(4104)));
    }

    #[test]
    fn user_data_leaves_go_top_level() {
        let v = json!({"Event": {"System": {"EventID": 1102, "Channel": "Security"},
            "UserData": {"LogFileCleared": {
                "#attributes": {"xmlns": "http://manifests.microsoft.com/win/2004/08/windows/eventlog"},
                "SubjectUserSid": "S-1-5-21", "SubjectUserName": "admin",
                "Nested": {"Inner": "deep"}, "Computer": "conflict"}}}});
        let e = event_from_windows_json(v, origin(0), now()).unwrap();
        let f = &e.fields;
        assert_eq!(f.get_str("SubjectUserName").as_deref(), Some("admin"));
        assert_eq!(f.get_str("Inner").as_deref(), Some("deep"));
        assert_eq!(f.get_str("EventData.Computer").as_deref(), Some("conflict"));
        assert!(f.get("xmlns").is_none() && f.get("LogFileCleared").is_none());
        assert_eq!(e.host, None);
    }

    #[test]
    fn rejects_non_windows_json() {
        for v in [
            json!(1),
            json!({"a": 1}),
            json!({"Event": 3}),
            json!({"Event": {"EventData": {}}}),
        ] {
            assert!(!is_windows_json(&v));
            let err = event_from_windows_json(v, origin(9), now()).unwrap_err();
            assert!(err.to_string().contains("x.json: event 9"), "{err}");
        }
    }

    #[test]
    fn system_time_formats() {
        let t = |s| parse_system_time(s).map(|t| t.to_rfc3339());
        assert_eq!(
            t("2020-07-02T18:00:29.6158421Z").as_deref(),
            Some("2020-07-02T18:00:29.615842100+00:00")
        );
        assert_eq!(
            t("2019-03-19 23:34:25.190150 UTC").as_deref(),
            Some("2019-03-19T23:34:25.190150+00:00")
        );
        assert_eq!(
            t("2019-03-19T23:34:25").as_deref(),
            Some("2019-03-19T23:34:25+00:00")
        );
        assert_eq!(t("yesterday"), None);
    }
}
