//! Corpus-wide tests over the SigmaHQ rules (skipped with a note when the corpus is absent):
//! every rule loads, indexed evaluation equals brute-force evaluation on randomized events
//! derived from the rules' own literals, and the SigmaHQ regression events fire their rules.
//! (The project's own rule tests run in `cli::rules::cases`.)

use std::path::PathBuf;
use std::sync::OnceLock;

use serde_json::{Map, Value};

use super::event_at;
use crate::detect::matcher::{Matcher, StrKind};
use crate::detect::{LoadOptions, LoadReport, RuleMatch, load, load_placeholders};

const FOLDERS: [&str; 5] = [
    "rules",
    "rules-emerging-threats",
    "rules-threat-hunting",
    "rules-compliance",
    "rules-placeholder",
];

fn corpus_root() -> Option<PathBuf> {
    crate::testutil::shared("sigma").filter(|p| p.join("rules").is_dir())
}

fn corpus() -> Option<&'static LoadReport> {
    static C: OnceLock<Option<LoadReport>> = OnceLock::new();
    C.get_or_init(|| {
        let root = corpus_root()?;
        let ph = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("rules/placeholders.yml");
        let placeholders = load_placeholders(&ph).expect("placeholders file loads");
        let paths: Vec<PathBuf> = FOLDERS
            .iter()
            .map(|f| root.join(f))
            .filter(|p| p.is_dir())
            .collect();
        Some(load(
            &paths,
            &LoadOptions {
                placeholders,
                ignore_logsource: false,
            },
        ))
    })
    .as_ref()
}

#[test]
fn corpus_loads_completely() {
    let Some(rep) = corpus() else {
        println!("note: sigma corpus not found; skipping corpus_loads_completely");
        return;
    };
    println!(
        "corpus: {} of {} documents loaded",
        rep.rules.len(),
        rep.total
    );
    for r in &rep.rejected {
        println!("rejected: {r}");
    }
    assert!(
        rep.rejected.is_empty(),
        "{} rules rejected",
        rep.rejected.len()
    );
    assert_eq!(rep.rules.len(), rep.total);
    assert!(
        rep.total >= 3780,
        "expected the full corpus, saw {}",
        rep.total
    );
}

/// Small deterministic PRNG (xorshift64*).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    fn chance(&mut self, pct: u64) -> bool {
        self.next() % 100 < pct
    }
}

/// A value satisfying (or nearly satisfying) a matcher, built from its literal.
fn value_for(m: &Matcher, rng: &mut Rng) -> Option<String> {
    let noise = ["", "x", "C:\\Windows\\", " -", "\u{c4}"];
    let pre = noise[rng.below(noise.len())];
    let post = noise[rng.below(noise.len())];
    let mut v = match m {
        Matcher::Str(p) => match p.kind {
            StrKind::Exact => p.text.to_string(),
            StrKind::Contains => format!("{pre}{}{post}", p.text),
            StrKind::StartsWith => format!("{}{post}", p.text),
            StrKind::EndsWith => format!("{pre}{}", p.text),
        },
        Matcher::Glob { longest, .. } => format!("{pre}{longest}{post}"),
        Matcher::Num(_, n) => n.to_string(),
        _ => return None,
    };
    if rng.chance(30) {
        v = v.to_uppercase();
    }
    if rng.chance(10) && v.len() > 1 {
        // Break the literal: must then not match through the index but brute force agrees too.
        v.remove(v.len() / 2);
    }
    Some(v)
}

#[test]
fn indexed_equals_brute_force() {
    let Some(rep) = corpus() else {
        println!("note: sigma corpus not found; skipping indexed_equals_brute_force");
        return;
    };
    let rs = &rep.rules;
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut total_hits = 0usize;
    let n_events = 1500;
    for k in 0..n_events {
        let mut fields = Map::new();
        // Mix literals from two random rules to create near-misses and cross-rule hits.
        for _ in 0..2 {
            let r = &rs.dets[rng.below(rs.dets.len())];
            for sel in &r.det.selections {
                let alt = &sel.alts[rng.below(sel.alts.len())];
                for it in alt {
                    if it.matchers.is_empty() || rng.chance(10) {
                        continue;
                    }
                    let mcount = if it.all { it.matchers.len() } else { 1 };
                    let mut parts = Vec::new();
                    for i in 0..mcount {
                        let idx = if it.all {
                            i
                        } else {
                            rng.below(it.matchers.len())
                        };
                        if let Some(v) = value_for(&it.matchers[idx], &mut rng) {
                            parts.push(v);
                        }
                    }
                    if parts.is_empty() {
                        continue;
                    }
                    let name = if it.field == 0 {
                        "Payload".to_string()
                    } else {
                        rs.fields.names[it.field as usize].clone()
                    };
                    fields.insert(name, Value::String(parts.join(" ")));
                }
            }
        }
        if rng.chance(20) {
            fields.insert("EventID".into(), Value::from(rng.below(30) as u64));
        }
        let r = &rs.dets[rng.below(rs.dets.len())];
        let ls = &r.meta.logsource;
        let e = if rng.chance(50) {
            event_at(
                (
                    ls.product.as_deref(),
                    ls.category.as_deref(),
                    ls.service.as_deref(),
                ),
                Value::Object(fields),
                k,
            )
        } else {
            event_at((None, None, None), Value::Object(fields), k)
        };
        let mut a: Vec<RuleMatch> = Vec::new();
        let mut b: Vec<RuleMatch> = Vec::new();
        rs.matches(&e, &mut a);
        rs.matches_brute(&e, &mut b);
        let ids = |v: &[RuleMatch]| v.iter().map(|m| m.rule.id.clone()).collect::<Vec<_>>();
        assert_eq!(ids(&a), ids(&b), "event {k}: {:?}", e.fields);
        total_hits += a.len();
    }
    println!("indexed == brute force over {n_events} events ({total_hits} matches)");
    assert!(
        total_hits as i64 > n_events / 4,
        "generator should produce plenty of matches"
    );
}

fn sysmon_category(eid: i64, event_type: Option<&str>) -> Option<&'static str> {
    Some(match eid {
        1 => "process_creation",
        2 => "file_change",
        3 => "network_connection",
        5 => "process_termination",
        6 => "driver_load",
        7 => "image_load",
        8 => "create_remote_thread",
        9 => "raw_access_thread",
        10 => "process_access",
        11 => "file_event",
        12 if event_type == Some("DeleteKey") || event_type == Some("DeleteValue") => {
            "registry_delete"
        }
        12 => "registry_add",
        13 => "registry_set",
        14 => "registry_rename",
        15 => "create_stream_hash",
        17 | 18 => "pipe_created",
        19..=21 => "wmi_event",
        22 => "dns_query",
        23 | 26 => "file_delete",
        24 => "clipboard_change",
        25 => "process_tampering",
        27..=29 => "file_block",
        _ => return None,
    })
}

/// evtx_dump-style JSON → flat Sysmon fields.
fn flatten_evtx(v: &Value) -> Option<(Map<String, Value>, Option<&'static str>, &'static str)> {
    let ev = v.get("Event")?;
    let sys = ev.get("System")?;
    let mut f = Map::new();
    // EventData names with spaces stripped (spec "Field Usage"); UserData one level down.
    let user_data = ev
        .get("UserData")
        .and_then(Value::as_object)
        .and_then(|u| u.values().next());
    for data in [ev.get("EventData"), user_data].into_iter().flatten() {
        if let Value::Object(data) = data {
            for (k, v) in data {
                if k != "#attributes" {
                    f.insert(k.replace(' ', ""), v.clone());
                }
            }
        }
    }
    let eid = sys.get("EventID").and_then(|e| {
        e.as_i64()
            .or_else(|| e.get("#text").and_then(Value::as_i64))
    })?;
    f.insert("EventID".into(), Value::from(eid));
    for k in ["Channel", "Computer", "Level", "Task"] {
        if let Some(x) = sys.get(k) {
            f.insert(k.into(), x.clone());
        }
    }
    if let Some(n) = sys.pointer("/Provider/#attributes/Name") {
        f.insert("Provider_Name".into(), n.clone());
    }
    let et = f.get("EventType").and_then(Value::as_str).map(String::from);
    let channel = f
        .get("Channel")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_ascii_lowercase();
    let service = match channel.as_str() {
        "microsoft-windows-sysmon/operational" => "sysmon",
        "security" => "security",
        "system" => "system",
        "application" => "application",
        "microsoft-windows-taskscheduler/operational" => "taskscheduler",
        "microsoft-windows-wmi-activity/operational" => "wmi",
        "microsoft-windows-windows defender/operational" => "windefend",
        _ => "unknown",
    };
    let cat = if service == "sysmon" {
        sysmon_category(eid, et.as_deref())
    } else {
        None
    };
    Some((f, cat, service))
}

#[test]
fn sigmahq_regression_events_fire_their_rules() {
    let (Some(rep), Some(root)) = (corpus(), corpus_root()) else {
        println!("note: sigma corpus not found; skipping regression test");
        return;
    };
    let data = root.join("regression_data");
    if !data.is_dir() {
        println!("note: regression_data not found; skipping");
        return;
    }
    let (mut pass, mut fail) = (0, Vec::new());
    for entry in walkdir::WalkDir::new(&data).into_iter().flatten() {
        let p = entry.path();
        if p.extension().and_then(|e| e.to_str()) != Some("json") {
            continue;
        }
        let Some(rule_id) = p.file_stem().and_then(|s| s.to_str()) else {
            continue;
        };
        let Ok(text) = std::fs::read_to_string(p) else {
            continue;
        };
        let mut fired = false;
        let mut any = false;
        for (i, v) in serde_json::Deserializer::from_str(&text)
            .into_iter::<Value>()
            .flatten()
            .enumerate()
        {
            let Some((fields, cat, service)) = flatten_evtx(&v) else {
                continue;
            };
            any = true;
            let e = event_at(
                (Some("windows"), cat, Some(service)),
                Value::Object(fields),
                i as i64,
            );
            let mut out = Vec::new();
            rep.rules.matches(&e, &mut out);
            fired |= out.iter().any(|m| m.rule.id == rule_id);
        }
        if !any {
            continue;
        }
        if fired {
            pass += 1;
        } else {
            fail.push(p.strip_prefix(&data).unwrap_or(p).display().to_string());
        }
    }
    println!("regression: {pass} passed, {} failed", fail.len());
    for f in &fail {
        println!("regression miss: {f}");
    }
    assert!(
        fail.is_empty() && pass >= 200,
        "too few regression events fire their rules ({pass})"
    );
}
