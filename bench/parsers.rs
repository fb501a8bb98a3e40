//! Parser throughput, per format: MB/s and events/s on one thread, and EVTX on 1 vs N threads.
//!
//! ```sh
//! cargo bench --bench parsers                 # every set; RUNS=5 for more repetitions
//! cargo bench --bench parsers -- evtx pcap    # only the named sets
//! ```
//!
//! Each set is a folder of representative files (the real telemetry in `../shared/data`, read
//! in place; a set whose folder is missing is skipped with a note). A run frames the files
//! exactly as the `file` input does (`inputs::file::read_paths`: sniffing, line/chunk/document
//! framing) into memory, then parses every framed record with `normalize::parse` on this
//! thread. Reported: the best of `RUNS` runs (default 3) for parse alone and for frame + parse,
//! as input MB/s (file bytes on disk) and events/s; parse errors are counted and shown.
//!
//! The EVTX set is also parsed by N = 1 and 2 (or `available_parallelism`) threads pulling
//! chunks from one queue, as the daemon's parse pool does, to show how parsing scales over
//! cores: the speedup is wall(1 thread) / wall(N threads).

use std::error::Error;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nightwatch::demo::{self, Scenario, ScenarioConfig};
use nightwatch::flow::channel::bounded;
use nightwatch::inputs::file::{FileOptions, read_paths};
use nightwatch::metrics::Metrics;
use nightwatch::normalize::RawRecord;
use nightwatch::normalize::{self, Format};
use tokio_util::sync::CancellationToken;

/// A named set of files and, optionally, the format forced on them (as `--input-format`).
struct Set {
    name: &'static str,
    paths: Vec<PathBuf>,
    forced: Option<Format>,
}

fn shared() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data")
}

fn sets(json_file: &Path) -> Vec<Set> {
    let d = shared();
    let set = |name, rel: &[&str], forced| Set {
        name,
        paths: rel.iter().map(|r| d.join(r)).collect(),
        forced,
    };
    vec![
        set("evtx", &["evtx"], None),
        set("sysmon-xml", &["sysmon-xml"], None),
        set(
            "syslog+firewall",
            &[
                "syslog/wazuh-ruleset-tests",
                "syslog/loghub/Linux_2k.log",
                "syslog/loghub/OpenSSH_2k.log",
            ],
            None,
        ),
        set(
            "web-access",
            &[
                "syslog/EVTX-ATTACK-SAMPLES/web_attack_and_isp_webshell_localhost_access_log.txt",
                "syslog/EVTX-ATTACK-SAMPLES/Tunna_rdp_tunnel_IIS.log",
            ],
            Some(Format::WebAccess),
        ),
        set("eml", &["eml"], None),
        set("pcap", &["pcap"], None),
        set("cloudtrail", &["cloudtrail"], None),
        set("zeek", &["zeek"], None),
        set(
            "text",
            &[
                "syslog/loghub/Proxifier_2k.log",
                "syslog/loghub/Apache_2k.log",
            ],
            Some(Format::Text),
        ),
        Set {
            name: "json (demo NDJSON)",
            paths: vec![json_file.to_path_buf()],
            forced: None,
        },
    ]
}

/// Bytes on disk under `paths` (files of formats the input skips are counted too, so MB/s is
/// conservative for folders holding licences and READMEs; those are a few KB).
fn bytes_of(paths: &[PathBuf]) -> u64 {
    fn walk(p: &Path) -> u64 {
        match std::fs::metadata(p) {
            Ok(m) if m.is_file() => m.len(),
            Ok(m) if m.is_dir() => std::fs::read_dir(p)
                .map(|rd| rd.flatten().map(|e| walk(&e.path())).sum())
                .unwrap_or(0),
            _ => 0,
        }
    }
    paths.iter().map(|p| walk(p)).sum()
}

/// Frames every file of the set into memory the way the `file` input does (the framer on its
/// own thread, as in the daemon, with a bounded channel drained here).
fn frame(set: &Set) -> Result<(Vec<RawRecord>, Duration), Box<dyn Error>> {
    let metrics = Metrics::new()?;
    let (tx, rx) = bounded("raw", 1024, &metrics);
    let (dtx, drx) = bounded("dead", 1024, &metrics);
    let t = Instant::now();
    let records = std::thread::scope(|s| {
        s.spawn(move || {
            read_paths(
                Arc::from("bench"),
                &set.paths,
                &FileOptions {
                    forced: set.forced,
                    ..Default::default()
                },
                &tx,
                &dtx,
                &CancellationToken::new(),
            )
        });
        s.spawn(move || while drx.recv_blocking().is_ok() {});
        let mut records = Vec::new();
        while let Ok(r) = rx.recv_blocking() {
            records.push(r);
        }
        records
    });
    Ok((records, t.elapsed()))
}

/// Parses every record on this thread: (events, errors, time).
fn parse_all(records: Vec<RawRecord>) -> (u64, u64, Duration) {
    let t = Instant::now();
    let (mut events, mut errors) = (0, 0);
    for r in records {
        for e in normalize::parse(r) {
            match e {
                Ok(ev) => {
                    events += 1;
                    std::hint::black_box(ev);
                }
                Err(e) => {
                    if errors < 3 {
                        eprintln!("  parse error: {e}");
                    }
                    errors += 1;
                }
            }
        }
    }
    (events, errors, t.elapsed())
}

/// Parses with `threads` workers pulling records from one queue; returns the wall time.
fn parse_parallel(records: Vec<RawRecord>, threads: usize) -> (u64, Duration) {
    let queue = Mutex::new(records.into_iter());
    let t = Instant::now();
    let events: u64 = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| {
                    let mut n = 0u64;
                    loop {
                        let next = queue.lock().map(|mut q| q.next()).ok().flatten();
                        let Some(r) = next else { return n };
                        n += normalize::parse(r)
                            .into_iter()
                            .filter(Result::is_ok)
                            .count() as u64;
                    }
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap_or(0)).sum()
    });
    (events, t.elapsed())
}

fn rate(n: f64, d: Duration) -> f64 {
    n / d.as_secs_f64().max(1e-9)
}

fn main() -> Result<(), Box<dyn Error>> {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let runs: usize = std::env::var("RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);

    let dir = tempfile::tempdir()?;
    let json_file = dir.path().join("demo.ndjson");
    let cfg = ScenarioConfig {
        events: 50_000,
        ..ScenarioConfig::default()
    };
    let ndjson: String = demo::stream(Scenario::Intrusion, &cfg)
        .map(|v| v.to_string() + "\n")
        .collect();
    std::fs::write(&json_file, ndjson)?;

    println!(
        "| set | files MB | records | events | errors | parse MB/s | parse events/s | frame+parse MB/s | frame+parse events/s |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    let mut evtx_set = None;
    for set in sets(&json_file) {
        if !args.is_empty() && !args.iter().any(|a| set.name.starts_with(a.as_str())) {
            continue;
        }
        if set.paths.iter().any(|p| !p.exists()) {
            println!(
                "| {} | (skipped: {} not found) | | | | | | | |",
                set.name,
                set.paths[0].display()
            );
            continue;
        }
        let bytes = bytes_of(&set.paths) as f64;
        let mut best_parse = Duration::MAX;
        let mut best_total = Duration::MAX;
        let (mut records_n, mut events, mut errors) = (0, 0, 0);
        for _ in 0..runs {
            let (records, framing) = frame(&set)?;
            records_n = records.len();
            let (ev, er, parsing) = parse_all(records);
            (events, errors) = (ev, er);
            best_parse = best_parse.min(parsing);
            best_total = best_total.min(framing + parsing);
        }
        println!(
            "| {} | {:.1} | {} | {} | {} | {:.1} | {:.0} | {:.1} | {:.0} |",
            set.name,
            bytes / 1e6,
            records_n,
            events,
            errors,
            rate(bytes / 1e6, best_parse),
            rate(events as f64, best_parse),
            rate(bytes / 1e6, best_total),
            rate(events as f64, best_total),
        );
        if set.name == "evtx" {
            evtx_set = Some(set);
        }
    }

    if let Some(set) = evtx_set {
        let cores = std::thread::available_parallelism()
            .map_or(2, |n| n.get())
            .max(2);
        println!(
            "\nEVTX parse scaling (wall time, best of {runs}, chunks pulled from one queue):\n"
        );
        println!("| threads | wall s | events/s | speedup |");
        println!("|---|---|---|---|");
        let mut one = None;
        for threads in [1, cores] {
            let mut best = Duration::MAX;
            let mut events = 0;
            for _ in 0..runs {
                let (records, _) = frame(&set)?;
                let (n, wall) = parse_parallel(records, threads);
                events = n;
                best = best.min(wall);
            }
            let base = *one.get_or_insert(best);
            println!(
                "| {threads} | {:.3} | {:.0} | {:.2}x |",
                best.as_secs_f64(),
                rate(events as f64, best),
                base.as_secs_f64() / best.as_secs_f64()
            );
        }
    }
    Ok(())
}
