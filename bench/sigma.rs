//! Criterion benchmarks of the Sigma engine with the SigmaHQ corpus (`rules`,
//! `rules-emerging-threats`, `rules-threat-hunting` from `../shared/sigma`):
//!
//! * `sigma/compile_corpus` — load and compile the corpus (YAML parse, field resolution,
//!   matchers, candidate index);
//! * `sigma/matches_routed` — `RuleSet::matches` on one thread over Sysmon-shaped events from
//!   the deterministic intrusion demo (`nightwatch::demo`), parsed with
//!   `nightwatch::normalize::json::parse_value`, so each event carries its derived logsource;
//! * `sigma/matches_unrouted` — the same events with the logsource cleared (every rule is a
//!   candidate by logsource; only the literal index prunes).
//!
//! Throughput is reported in events/s. Run with `cargo bench --bench sigma`; it prints a note and
//! exits 0 when the corpus is missing. `NIGHTWATCH_SIGMA_CORPUS` overrides the corpus folder.

use std::hint::black_box;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use chrono::{TimeZone, Utc};
use criterion::{Criterion, Throughput};
use nightwatch::demo::{Scenario, ScenarioConfig, stream};
use nightwatch::detect::{LoadOptions, RuleSet, load, load_placeholders};
use nightwatch::event::{Event, LogSource, Origin};
use nightwatch::normalize::json::parse_value;

const FOLDERS: [&str; 3] = ["rules", "rules-emerging-threats", "rules-threat-hunting"];
const EVENTS: usize = 5_000;

fn corpus_root() -> Option<PathBuf> {
    let root = std::env::var_os("NIGHTWATCH_SIGMA_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/sigma"));
    root.join("rules").is_dir().then_some(root)
}

fn options() -> LoadOptions {
    let ph = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("rules/placeholders.yml");
    LoadOptions {
        placeholders: load_placeholders(&ph).unwrap_or_default(),
        ignore_logsource: false,
    }
}

fn load_corpus(paths: &[PathBuf], opts: &LoadOptions) -> RuleSet {
    load(paths, opts).rules
}

/// Demo events, parsed exactly as the NDJSON input path parses them.
fn demo_events(n: usize) -> Vec<Event> {
    let cfg = ScenarioConfig {
        events: n,
        ..ScenarioConfig::default()
    };
    let input: Arc<str> = Arc::from("bench");
    let source: Arc<str> = Arc::from("demo");
    let received = Utc
        .with_ymd_and_hms(2024, 5, 14, 8, 0, 0)
        .single()
        .unwrap_or_default();
    stream(Scenario::Intrusion, &cfg)
        .enumerate()
        .filter_map(|(i, v)| {
            let origin = Origin {
                input: input.clone(),
                source: source.clone(),
                index: i as u64,
            };
            parse_value(v, origin, received).ok()
        })
        .collect()
}

fn run_all(rules: &RuleSet, events: &[Event]) -> usize {
    let mut out = Vec::with_capacity(16);
    let mut n = 0;
    for e in events {
        out.clear();
        rules.matches(e, &mut out);
        n += out.len();
    }
    n
}

fn main() {
    let Some(root) = corpus_root() else {
        println!("note: ../shared/sigma not found; skipping the sigma benchmarks");
        return;
    };
    let paths: Vec<PathBuf> = FOLDERS.iter().map(|f| root.join(f)).collect();
    let opts = options();
    let mut c = Criterion::default()
        .warm_up_time(Duration::from_secs(2))
        .measurement_time(Duration::from_secs(8))
        .configure_from_args();

    let rules = load_corpus(&paths, &opts);
    let events = demo_events(EVENTS);
    let unrouted: Vec<Event> = events
        .iter()
        .map(|e| {
            let mut e = e.clone();
            e.logsource = LogSource::default();
            e
        })
        .collect();
    println!(
        "sigma bench: {} rules, {} events, {} matches routed / {} unrouted per pass",
        rules.len(),
        events.len(),
        run_all(&rules, &events),
        run_all(&rules, &unrouted)
    );

    let mut g = c.benchmark_group("sigma");
    g.throughput(Throughput::Elements(events.len() as u64));
    g.bench_function("matches_routed", |b| {
        b.iter(|| run_all(&rules, black_box(&events)))
    });
    g.bench_function("matches_unrouted", |b| {
        b.iter(|| run_all(&rules, black_box(&unrouted)))
    });
    g.finish();

    let mut g = c.benchmark_group("sigma");
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(15));
    g.bench_function("compile_corpus", |b| {
        b.iter(|| load_corpus(black_box(&paths), &opts).len())
    });
    g.finish();

    c.final_summary();
}
