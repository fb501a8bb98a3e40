//! Threat-intel benchmarks: indicator extraction throughput (events/s) and offline-feed matching
//! with a generated one-million-indicator feed (load time, memory, lookups/s).
//!
//! ```sh
//! cargo bench --bench intel
//! ```
//!
//! Extraction runs `intel::extract::indicators` over demo events (`demo::stream`, the
//! intrusion scenario) in two shapes: structured (fields only, known fields + string leaves)
//! and raw (the same events with their JSON line as `raw` text, free-text scanning). The feed
//! is a plain list written to a temporary file: 400k IPv4, 300k domains, 300k SHA-256; loading
//! it is timed once and the resident memory it adds is read from `/proc/self/statm`. Lookups
//! mix hits and misses 1:1.

// A benchmark that cannot write its temporary feed has nothing to measure: fail loudly.
#![allow(clippy::expect_used)]

use std::io::Write;
use std::sync::Arc;
use std::time::Instant;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use nightwatch::demo::{self, Scenario, ScenarioConfig};
use nightwatch::event::{Event, Fields, Origin};
use nightwatch::intel::extract::{self, ExtractSettings};
use nightwatch::intel::{FeedSet, Indicator, IndicatorKind, IntelConfig};
use sha2::{Digest, Sha256};

fn events(n: usize, raw: bool) -> Vec<Event> {
    let cfg = ScenarioConfig {
        events: n,
        ..ScenarioConfig::default()
    };
    demo::stream(Scenario::Intrusion, &cfg)
        .enumerate()
        .map(|(i, v)| {
            let line = v.to_string();
            let map = match v {
                serde_json::Value::Object(m) => m,
                _ => serde_json::Map::new(),
            };
            let mut e = Event::new(
                Origin {
                    input: Arc::from("bench"),
                    source: Arc::from("bench"),
                    index: i as u64,
                },
                chrono::Utc::now(),
                Fields::from(map),
            );
            if raw {
                e.raw = Some(line);
            }
            e
        })
        .collect()
}

fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map_or(0, |pages| pages * 4096)
}

fn sha(i: u64) -> String {
    nightwatch::event::hex(&Sha256::digest(i.to_le_bytes()))
}

fn ip(i: u64) -> String {
    // public space only (no special ranges): 45.0.0.0 upwards
    let a = 0x2d00_0000u32 + (i as u32) * 7;
    std::net::Ipv4Addr::from(a).to_string()
}

fn domain(i: u64) -> String {
    format!("host{i}.bad{}.com", i % 1000)
}

/// Writes the one-million-indicator plain list; returns its path and the probe indicators.
fn feed_file(dir: &std::path::Path) -> (std::path::PathBuf, Vec<Indicator>) {
    let path = dir.join("million.txt");
    let mut w = std::io::BufWriter::new(std::fs::File::create(&path).expect("create feed"));
    for i in 0..400_000 {
        writeln!(w, "{}", ip(i)).expect("write");
    }
    for i in 0..300_000 {
        writeln!(w, "{}", domain(i)).expect("write");
    }
    for i in 0..300_000 {
        writeln!(w, "{}", sha(i)).expect("write");
    }
    w.flush().expect("flush");
    let ind = |kind, value: String| Indicator {
        kind,
        value,
        field: "bench".into(),
        internal: false,
    };
    let mut probes = Vec::new();
    for i in 0..3_000u64 {
        // hit, then miss, for each kind
        probes.push(ind(IndicatorKind::Ipv4, ip(i * 97 % 400_000)));
        probes.push(ind(IndicatorKind::Ipv4, ip(500_000 + i)));
        probes.push(ind(IndicatorKind::Domain, domain(i * 89 % 300_000)));
        probes.push(ind(IndicatorKind::Domain, domain(400_000 + i)));
        probes.push(ind(IndicatorKind::Sha256, sha(i * 83 % 300_000)));
        probes.push(ind(IndicatorKind::Sha256, sha(900_000 + i)));
    }
    (path, probes)
}

fn bench(c: &mut Criterion) {
    let settings = ExtractSettings::from_config(&IntelConfig::default());
    for (name, raw) in [("structured", false), ("raw_text", true)] {
        let evs = events(5_000, raw);
        let found: usize = evs
            .iter()
            .map(|e| extract::indicators(e, &settings).len())
            .sum();
        eprintln!(
            "extraction {name}: {} events, {found} indicators",
            evs.len()
        );
        let mut g = c.benchmark_group("extract");
        g.throughput(Throughput::Elements(evs.len() as u64));
        g.bench_function(name, |b| {
            b.iter(|| {
                let mut n = 0;
                for e in &evs {
                    n += extract::indicators(e, &settings).len();
                }
                n
            })
        });
        g.finish();
    }

    let dir = tempfile::tempdir().expect("tempdir");
    let (path, probes) = feed_file(dir.path());
    let before = rss_bytes();
    let t0 = Instant::now();
    let (set, errors) = FeedSet::load(&[path]);
    let load = t0.elapsed();
    let after = rss_bytes();
    assert!(errors.is_empty());
    let hits = probes.iter().filter(|p| !set.lookup(p).is_empty()).count();
    eprintln!(
        "feed: {} entries loaded in {:.2} s, +{} MiB resident, {hits}/{} probes hit",
        set.len(),
        load.as_secs_f64(),
        after.saturating_sub(before) / (1024 * 1024),
        probes.len()
    );
    let mut g = c.benchmark_group("feed_lookup_1m");
    g.throughput(Throughput::Elements(probes.len() as u64));
    g.bench_function("mixed_hit_miss", |b| {
        b.iter(|| probes.iter().map(|p| set.lookup(p).len()).sum::<usize>())
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
