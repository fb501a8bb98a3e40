//! Deterministic demo scenarios: synthetic, realistic Windows/email telemetry with an
//! embedded attack, used for demos, end-to-end tests and as the benchmark load generator.
//!
//! Events are flat JSON objects shaped like a flattened Sysmon / Windows event export
//! (`EventID`, `Channel`, `Provider_Name`, `Computer`, `TimeCreated`, `EventRecordID` plus the
//! original EventData names such as `Image`, `CommandLine`, `TargetImage`, `PipeName`), so real
//! Sigma rules apply without field renaming. Email events carry `event_type: "email"`.
//!
//! Output depends only on the [`Scenario`] and the [`ScenarioConfig`]: the generator uses its
//! own splitmix64 PRNG and never reads the clock, so the same seed and config give
//! byte-identical output across runs and crate versions. [`stream`] yields lazily, in
//! non-decreasing `TimeCreated` order; [`generate`] collects it.
//!
//! Volume: `events` is the total. The attack chain is emitted in full unless `benign_ratio` is 1
//! (a benign-only stream, the false-positive baseline: background alone); the attack share
//! is `events * (1 - benign_ratio)` when that exceeds the chain's own size, in which case the
//! surplus is continued C2 beaconing after the chain (so large runs span days of event time).
//! Background events fill the rest, spread evenly over the whole time span.

pub mod feed;
mod intrusion;

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, SecondsFormat, TimeZone, Utc};
use serde_json::{Map, Value};

/// Parameters of one generated scenario run.
#[derive(Clone, Debug, PartialEq)]
pub struct ScenarioConfig {
    /// PRNG seed; the only source of variation.
    pub seed: u64,
    /// Total number of events, attack + background (the attack chain is emitted in full even
    /// when this is smaller than the chain).
    pub events: usize,
    /// Fraction of events that are benign background, clamped to `0.0..=1.0`.
    pub benign_ratio: f64,
    /// Event time of the first background event; the attack starts a few minutes later.
    pub start: DateTime<Utc>,
}

impl Default for ScenarioConfig {
    fn default() -> Self {
        Self {
            seed: 0x6e69_6768_7477_6174,
            events: 10_000,
            benign_ratio: 0.9,
            start: Utc
                .with_ymd_and_hms(2024, 5, 14, 8, 0, 0)
                .single()
                .unwrap_or_default(),
        }
    }
}

/// The available scenarios.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Scenario {
    /// Phishing macro → encoded PowerShell → LSASS access → scheduled task → PsExec to a file
    /// server → C2 beaconing, on the `corp.example` network.
    Intrusion,
}

impl Scenario {
    /// All scenarios, for listings and `--help`.
    pub const ALL: &'static [Scenario] = &[Scenario::Intrusion];

    /// The scenario's name as used on the command line and in configuration.
    pub fn name(self) -> &'static str {
        match self {
            Scenario::Intrusion => "intrusion",
        }
    }
}

impl fmt::Display for Scenario {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A scenario name that is not known.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown demo scenario `{0}` (known: intrusion)")]
pub struct UnknownScenario(pub String);

impl FromStr for Scenario {
    type Err = UnknownScenario;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Scenario::ALL
            .iter()
            .copied()
            .find(|sc| sc.name().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| UnknownScenario(s.to_owned()))
    }
}

/// Ground truth: the `Computer` values (FQDN) of the hosts the scenario compromises.
pub fn attack_hosts(scenario: Scenario) -> &'static [&'static str] {
    match scenario {
        Scenario::Intrusion => intrusion::ATTACK_HOSTS,
    }
}

/// Generates the whole scenario, time-ordered.
pub fn generate(scenario: Scenario, cfg: &ScenarioConfig) -> Vec<Value> {
    stream(scenario, cfg).collect()
}

/// Yields the scenario lazily, time-ordered; memory stays small regardless of `events`.
pub fn stream(scenario: Scenario, cfg: &ScenarioConfig) -> impl Iterator<Item = Value> + use<> {
    tagged(scenario, cfg).map(|(_, v)| v)
}

/// Like [`stream`], with each event tagged `true` when it belongs to the attack.
fn tagged(scenario: Scenario, cfg: &ScenarioConfig) -> DemoStream {
    match scenario {
        Scenario::Intrusion => DemoStream::new(intrusion::plan(cfg)),
    }
}

// ---------------------------------------------------------------------------------------------
// Shared machinery: PRNG, drafts, envelope, merge.
// ---------------------------------------------------------------------------------------------

/// splitmix64: tiny, fast, and fixed forever so output never changes with dependency versions.
#[derive(Clone, Debug)]
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// A new generator whose sequence is independent of this one's for practical purposes.
    pub(crate) fn fork(&self, stream: u64) -> Self {
        let mut r = Self(self.0 ^ stream.wrapping_mul(0xD6E8_FEB8_6659_FD93));
        r.next_u64();
        r
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`0` when `n == 0`); modulo bias is irrelevant here.
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next_u64() % n }
    }

    /// Uniform in `lo..=hi`.
    pub(crate) fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi.saturating_sub(lo) + 1)
    }

    pub(crate) fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        let i = self.below(items.len() as u64) as usize;
        &items[i]
    }

    /// True with probability `per_mille / 1000`.
    pub(crate) fn chance(&mut self, per_mille: u64) -> bool {
        self.below(1000) < per_mille
    }

    /// Index into `weights`, chosen proportionally to the weights.
    pub(crate) fn weighted(&mut self, weights: &[u64]) -> usize {
        let total: u64 = weights.iter().sum();
        let mut x = self.below(total);
        for (i, w) in weights.iter().enumerate() {
            if x < *w {
                return i;
            }
            x -= w;
        }
        0
    }

    /// A Sysmon-style process GUID.
    pub(crate) fn guid(&mut self) -> String {
        let a = self.next_u64();
        let b = self.next_u64();
        format!(
            "{{{:08x}-{:04x}-{:04x}-{:04x}-{:012x}}}",
            a >> 32,
            (a >> 16) & 0xffff,
            a & 0xffff,
            b >> 48,
            b & 0xffff_ffff_ffff
        )
    }

    /// A Windows-like process id (multiple of 4).
    pub(crate) fn pid(&mut self) -> u64 {
        self.range(300, 16_000) * 4
    }
}

/// Which log an event belongs to; decides `Channel` and `Provider_Name`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Log {
    Sysmon,
    Security,
    System,
    Email,
}

impl Log {
    fn index(self) -> usize {
        match self {
            Log::Sysmon => 0,
            Log::Security => 1,
            Log::System => 2,
            Log::Email => 3,
        }
    }
}

/// An event before its envelope (time, record id, computer) is attached.
#[derive(Debug)]
pub(crate) struct Draft {
    /// Event time, milliseconds since the Unix epoch.
    pub(crate) t_ms: i64,
    /// Index into the scenario's host table; ignored for email.
    pub(crate) host: usize,
    pub(crate) log: Log,
    pub(crate) event_id: u32,
    pub(crate) fields: Map<String, Value>,
}

impl Draft {
    pub(crate) fn new(t_ms: i64, host: usize, log: Log, event_id: u32) -> Self {
        Self {
            t_ms,
            host,
            log,
            event_id,
            fields: Map::new(),
        }
    }

    /// Sets a field; chainable.
    pub(crate) fn f(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.fields.insert(key.to_owned(), value.into());
        self
    }
}

/// A lazily produced, time-ordered sequence of drafts.
pub(crate) trait Source {
    fn next_draft(&mut self) -> Option<Draft>;
}

/// What a scenario plan hands to the merger.
pub(crate) struct PlanParts {
    /// Host FQDNs, indexed by [`Draft::host`].
    pub(crate) hosts: &'static [&'static str],
    /// Attack sources (tagged `true`), each time-ordered.
    pub(crate) attack: Vec<Box<dyn Source>>,
    /// Background sources (tagged `false`), each time-ordered.
    pub(crate) background: Vec<Box<dyn Source>>,
}

/// K-way merge of time-ordered sources plus envelope assembly.
struct DemoStream {
    hosts: &'static [&'static str],
    sources: Vec<(bool, Box<dyn Source>, Option<Draft>)>,
    /// Next `EventRecordID` per host and log.
    record_ids: Vec<[u64; 4]>,
}

impl DemoStream {
    fn new(parts: PlanParts) -> Self {
        let mut sources = Vec::new();
        for (attack, list) in [(true, parts.attack), (false, parts.background)] {
            for mut s in list {
                let head = s.next_draft();
                sources.push((attack, s, head));
            }
        }
        let record_ids = (0..parts.hosts.len() as u64)
            .map(|h| {
                let base = 48_000 + h * 7_919;
                [base * 3, base, base / 4, 0]
            })
            .collect();
        Self {
            hosts: parts.hosts,
            sources,
            record_ids,
        }
    }

    fn finish(&mut self, d: Draft) -> Value {
        let Draft {
            t_ms,
            host,
            log,
            event_id,
            mut fields,
        } = d;
        let time = DateTime::from_timestamp_millis(t_ms).unwrap_or_default();
        let mut put = |k: &str, v: Value| {
            fields.insert(k.to_owned(), v);
        };
        put(
            "TimeCreated",
            Value::String(time.to_rfc3339_opts(SecondsFormat::Millis, true)),
        );
        if log == Log::Email {
            put("event_type", Value::from("email"));
            return Value::Object(fields);
        }
        let (channel, provider) = match log {
            Log::Sysmon => (
                "Microsoft-Windows-Sysmon/Operational",
                "Microsoft-Windows-Sysmon",
            ),
            Log::Security => ("Security", "Microsoft-Windows-Security-Auditing"),
            Log::System | Log::Email => ("System", "Service Control Manager"),
        };
        put("EventID", Value::from(event_id));
        put("Channel", Value::from(channel));
        put("Provider_Name", Value::from(provider));
        put(
            "Computer",
            Value::from(self.hosts.get(host).copied().unwrap_or("unknown")),
        );
        if let Some(ids) = self.record_ids.get_mut(host) {
            let slot = &mut ids[log.index()];
            *slot += 1;
            put("EventRecordID", Value::from(*slot));
        }
        if log == Log::Sysmon {
            put(
                "UtcTime",
                Value::String(time.format("%Y-%m-%d %H:%M:%S%.3f").to_string()),
            );
        }
        Value::Object(fields)
    }
}

impl Iterator for DemoStream {
    type Item = (bool, Value);

    fn next(&mut self) -> Option<Self::Item> {
        let mut best: Option<(usize, i64)> = None;
        for (i, (_, _, head)) in self.sources.iter().enumerate() {
            if let Some(d) = head
                && best.is_none_or(|(_, t)| d.t_ms < t)
            {
                best = Some((i, d.t_ms));
            }
        }
        let (i, _) = best?;
        let (attack, src, head) = &mut self.sources[i];
        let attack = *attack;
        let next = src.next_draft();
        let draft = std::mem::replace(head, next)?;
        Some((attack, self.finish(draft)))
    }
}

/// Formats `s` as UTF-16LE base64, the form PowerShell's `-EncodedCommand` expects.
pub(crate) fn powershell_b64(s: &str) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let bytes: Vec<u8> = s.encode_utf16().flat_map(u16::to_le_bytes).collect();
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for (k, shift) in [18u32, 12, 6, 0].into_iter().enumerate() {
            if k <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> shift) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn cfg(events: usize) -> ScenarioConfig {
        ScenarioConfig {
            events,
            ..ScenarioConfig::default()
        }
    }

    fn s<'a>(v: &'a Value, k: &str) -> &'a str {
        v.get(k).and_then(Value::as_str).unwrap_or("")
    }

    fn eid(v: &Value) -> u64 {
        v.get("EventID").and_then(Value::as_u64).unwrap_or(0)
    }

    fn in_doc_range(ip: &str) -> bool {
        ["192.0.2.", "198.51.100.", "203.0.113."]
            .iter()
            .any(|p| ip.starts_with(p))
    }

    type Step = (&'static str, fn(&Value) -> bool);

    /// One predicate per attack step; each must hold for at least one attack event.
    fn steps() -> Vec<Step> {
        vec![
            ("phishing email", |v| {
                s(v, "event_type") == "email"
                    && s(v, "AttachmentName").ends_with(".docm")
                    && s(v, "SpfResult") == "fail"
            }),
            ("office spawns encoded powershell", |v| {
                eid(v) == 1
                    && s(v, "ParentImage").ends_with("\\WINWORD.EXE")
                    && s(v, "Image").ends_with("\\powershell.exe")
                    && s(v, "CommandLine").contains(" -enc ")
            }),
            ("lsass access", |v| {
                eid(v) == 10
                    && s(v, "TargetImage").ends_with("\\lsass.exe")
                    && s(v, "GrantedAccess") == "0x1fffff"
                    && s(v, "CallTrace").contains("dbghelp.dll")
            }),
            ("schtasks create", |v| {
                eid(v) == 1
                    && s(v, "Image").ends_with("\\schtasks.exe")
                    && s(v, "CommandLine").contains(" /create ")
                    && s(v, "CommandLine").contains("/sc onlogon")
            }),
            ("task registered", |v| {
                eid(v) == 4698 && s(v, "TaskContent").contains("powershell")
            }),
            ("network logon on server", |v| {
                eid(v) == 4624
                    && s(v, "Computer").starts_with("SRV-FILE-01")
                    && v["LogonType"] == 3
                    && s(v, "IpAddress") == "10.10.20.57"
            }),
            ("psexec service", |v| {
                eid(v) == 7045 && s(v, "ServiceName") == "PSEXESVC" && s(v, "Channel") == "System"
            }),
            ("psexesvc child", |v| {
                eid(v) == 1 && s(v, "ParentImage").ends_with("\\PSEXESVC.exe")
            }),
            ("psexec pipe", |v| {
                eid(v) == 17 && s(v, "PipeName").starts_with("\\PSEXESVC")
            }),
            ("c2 connection", |v| {
                eid(v) == 3
                    && s(v, "Image").ends_with("\\powershell.exe")
                    && in_doc_range(s(v, "DestinationIp"))
                    && v["DestinationPort"] == 443
            }),
            ("c2 dns", |v| {
                eid(v) == 22 && s(v, "QueryName") == "cdn-update.example.net"
            }),
        ]
    }

    #[test]
    fn deterministic_for_same_seed() {
        let a = serde_json::to_string(&generate(Scenario::Intrusion, &cfg(3_000))).unwrap();
        let b = serde_json::to_string(&generate(Scenario::Intrusion, &cfg(3_000))).unwrap();
        assert_eq!(a, b);
        let other = ScenarioConfig {
            seed: 7,
            ..cfg(3_000)
        };
        let c = serde_json::to_string(&generate(Scenario::Intrusion, &other)).unwrap();
        assert_ne!(a, c);
    }

    #[test]
    fn every_attack_step_present_even_when_small() {
        for n in [0, 10, 5_000] {
            let attack: Vec<Value> = tagged(Scenario::Intrusion, &cfg(n))
                .filter(|(a, _)| *a)
                .map(|(_, v)| v)
                .collect();
            for (name, pred) in steps() {
                assert!(
                    attack.iter().any(pred),
                    "step `{name}` missing (events={n})"
                );
            }
            let hosts: Vec<&str> = attack.iter().map(|v| s(v, "Computer")).collect();
            for h in attack_hosts(Scenario::Intrusion) {
                assert!(hosts.contains(h), "{h}");
            }
            assert!(
                hosts
                    .iter()
                    .all(|h| h.is_empty() || attack_hosts(Scenario::Intrusion).contains(h))
            );
        }
    }

    #[test]
    fn event_count_and_benign_ratio() {
        for ratio in [0.9, 0.5, 0.99] {
            let c = ScenarioConfig {
                benign_ratio: ratio,
                ..cfg(20_000)
            };
            let (mut benign, mut total) = (0usize, 0usize);
            for (attack, _) in tagged(Scenario::Intrusion, &c) {
                total += 1;
                benign += usize::from(!attack);
            }
            assert_eq!(total, 20_000);
            let got = benign as f64 / total as f64;
            assert!((got - ratio).abs() < 0.005, "ratio {ratio}: got {got}");
        }
    }

    #[test]
    fn benign_ratio_one_is_background_only() {
        let c = ScenarioConfig {
            benign_ratio: 1.0,
            ..cfg(5_000)
        };
        let all: Vec<bool> = tagged(Scenario::Intrusion, &c).map(|(a, _)| a).collect();
        assert_eq!(all.len(), 5_000);
        assert!(all.iter().all(|attack| !attack));
    }

    #[test]
    fn time_ordered_and_well_formed() {
        let events = generate(Scenario::Intrusion, &cfg(5_000));
        let times: Vec<DateTime<Utc>> = events
            .iter()
            .map(|v| {
                DateTime::parse_from_rfc3339(s(v, "TimeCreated"))
                    .unwrap()
                    .to_utc()
            })
            .collect();
        assert!(times.windows(2).all(|w| w[0] <= w[1]));
        assert!(times[0] >= ScenarioConfig::default().start);
        for v in &events {
            if s(v, "event_type") == "email" {
                continue;
            }
            assert!(eid(v) > 0, "{v}");
            assert!(s(v, "Computer").ends_with(".corp.example"), "{v}");
            assert!(!s(v, "Channel").is_empty() && !s(v, "Provider_Name").is_empty());
            assert!(v["EventRecordID"].is_u64());
        }
        // The fixed chain fits in ~10–20 minutes.
        let attack: Vec<DateTime<Utc>> = tagged(Scenario::Intrusion, &cfg(0))
            .map(|(_, v)| {
                DateTime::parse_from_rfc3339(s(&v, "TimeCreated"))
                    .unwrap()
                    .to_utc()
            })
            .collect();
        let span = *attack.last().unwrap() - attack[0];
        assert!(
            span.num_minutes() >= 10 && span.num_minutes() <= 21,
            "{span}"
        );
    }

    #[test]
    fn c2_addresses_are_documentation_ranges() {
        let mut c2 = 0;
        for (attack, v) in tagged(Scenario::Intrusion, &cfg(20_000)) {
            let ip = s(&v, "DestinationIp");
            if ip.is_empty() || ip.starts_with("10.") {
                continue;
            }
            assert_eq!(attack, in_doc_range(ip), "{v}");
            c2 += usize::from(attack);
        }
        assert!(c2 > 100);
        for seed in 0..20 {
            let c = ScenarioConfig { seed, ..cfg(0) };
            for v in stream(Scenario::Intrusion, &c) {
                let ip = s(&v, "DestinationIp");
                assert!(ip.is_empty() || ip.starts_with("10.") || in_doc_range(ip));
            }
        }
    }

    #[test]
    fn background_has_no_attack_markers() {
        const MARKERS: &[&str] = &[
            "cdn-update",
            "PSEXESVC",
            "PsExec",
            " -enc ",
            "dbghelp",
            "dbgcore",
            "0x1fffff",
            "0x1010",
            "schtasks",
            ".docm",
            "Invoice_",
            "\"fail\"",
            "192.0.2.",
            "198.51.100.",
            "203.0.113.",
            "edgeupd",
        ];
        let mut kinds = std::collections::BTreeSet::new();
        for (attack, v) in tagged(Scenario::Intrusion, &cfg(30_000)) {
            if attack {
                continue;
            }
            kinds.insert((s(&v, "Channel").to_owned(), eid(&v)));
            let text = v.to_string();
            for m in MARKERS {
                assert!(!text.contains(m), "marker {m} in background: {text}");
            }
            if eid(&v) == 1 {
                let parent = s(&v, "ParentImage");
                assert!(
                    !parent.ends_with("WINWORD.EXE") || s(&v, "Image").ends_with("splwow64.exe")
                );
            }
        }
        // Background covers all the event types the attack uses.
        for k in [1, 3, 10, 17, 22, 4624, 4634, 4698, 7036, 7045, 0] {
            assert!(
                kinds.iter().any(|(_, e)| *e == k),
                "no background EventID {k}"
            );
        }
    }

    #[test]
    fn scenario_names_round_trip() {
        for sc in Scenario::ALL {
            assert_eq!(sc.name().parse::<Scenario>().unwrap(), *sc);
        }
        assert_eq!(
            " Intrusion ".parse::<Scenario>().unwrap(),
            Scenario::Intrusion
        );
        assert!("nope".parse::<Scenario>().is_err());
    }

    #[test]
    fn powershell_base64_matches_known_prefix() {
        assert_eq!(powershell_b64("IEX"), "SQBFAFgA");
        assert_eq!(powershell_b64("a"), "YQA=");
    }
}
