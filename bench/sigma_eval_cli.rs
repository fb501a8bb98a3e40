//! Single-threaded Sigma evaluation over an NDJSON file, for the peer comparison
//! (`bench/compare-rsigma.sh`). Registered as a `harness = false` bench so it is built with the
//! release-like `bench` profile and needs no CLI change:
//!
//! ```sh
//! cargo bench --bench sigma_eval_cli -- [--rules PATH]... [--placeholders FILE] \
//!     [--ignore-logsource] [--matches OUT.tsv] EVENTS.ndjson
//! ```
//!
//! It loads and compiles the rules, then reads the file line by line, parses each non-empty line
//! with `nightwatch::normalize::json::parse_line` (the same parser `nightwatch detect` uses for
//! NDJSON) and evaluates it with `RuleSet::matches` on this one thread — the work the peer's
//! offline `eval` does per event (JSON decode + evaluation). With `--matches`, every
//! `(event_index, rule_id)` pair is written as one tab-separated line. With `--annotate OUT`,
//! every parsed event is written back as NDJSON with `product`/`category`/`service` fields
//! from nightwatch's classifier added (input for engines that route on event fields). A JSON
//! summary goes to stdout: load seconds, events, evaluation seconds, events/s, matches.

use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use chrono::Utc;
use nightwatch::detect::{LoadOptions, RuleMatch, load, load_placeholders};
use nightwatch::event::{Event, Origin};
use nightwatch::normalize::json::parse_line;

struct Args {
    rules: Vec<PathBuf>,
    placeholders: Option<PathBuf>,
    ignore_logsource: bool,
    matches: Option<PathBuf>,
    annotate: Option<PathBuf>,
    events: PathBuf,
}

fn parse_args() -> Result<Args, String> {
    let mut rules = Vec::new();
    let mut placeholders = None;
    let mut ignore_logsource = false;
    let mut matches = None;
    let mut annotate = None;
    let mut events = None;
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--rules" => rules.push(PathBuf::from(it.next().ok_or("--rules needs a path")?)),
            "--placeholders" => {
                placeholders = Some(PathBuf::from(
                    it.next().ok_or("--placeholders needs a file")?,
                ))
            }
            "--matches" => {
                matches = Some(PathBuf::from(it.next().ok_or("--matches needs a file")?))
            }
            "--annotate" => {
                annotate = Some(PathBuf::from(it.next().ok_or("--annotate needs a file")?))
            }
            "--ignore-logsource" => ignore_logsource = true,
            // `cargo bench` appends `--bench` to harness-less benches.
            "--bench" => {}
            s if s.starts_with("--") => return Err(format!("unknown flag {s}")),
            s => events = Some(PathBuf::from(s)),
        }
    }
    if rules.is_empty() {
        rules.push(PathBuf::from("rules"));
    }
    Ok(Args {
        rules,
        placeholders,
        ignore_logsource,
        matches,
        annotate,
        events: events.ok_or("usage: sigma_eval_cli [--rules PATH]... [--placeholders FILE] [--ignore-logsource] [--matches OUT] EVENTS.ndjson")?,
    })
}

fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    let placeholders = match &args.placeholders {
        Some(p) => load_placeholders(p)?,
        None => Default::default(),
    };
    let t0 = Instant::now();
    let rep = load(
        &args.rules,
        &LoadOptions {
            placeholders,
            ignore_logsource: args.ignore_logsource,
        },
    );
    let load_secs = t0.elapsed().as_secs_f64();
    for r in &rep.rejected {
        eprintln!("rejected: {r}");
    }
    let rules = rep.rules;

    let mut sink: Option<Box<dyn Write>> = match &args.matches {
        Some(p) => Some(Box::new(BufWriter::new(std::fs::File::create(p)?))),
        None => None,
    };
    let mut annotated: Option<Box<dyn Write>> = match &args.annotate {
        Some(p) => Some(Box::new(BufWriter::new(std::fs::File::create(p)?))),
        None => None,
    };
    let reader = BufReader::with_capacity(1 << 20, std::fs::File::open(&args.events)?);
    let input: Arc<str> = Arc::from("bench");
    let source: Arc<str> = Arc::from(args.events.display().to_string());
    let received = Utc::now();
    let mut out: Vec<RuleMatch> = Vec::new();
    let (mut events, mut matches, mut errors) = (0u64, 0u64, 0u64);
    let t1 = Instant::now();
    for line in reader.lines() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let origin = Origin {
            input: input.clone(),
            source: source.clone(),
            index: events,
        };
        // One line is one event (a CloudTrail `Records` wrapper would give several).
        for parsed in parse_line(&line, origin, received) {
            match parsed {
                Ok(ev) => {
                    if let Some(w) = annotated.as_mut() {
                        write_annotated(w, &ev)?;
                    }
                    out.clear();
                    rules.matches(&ev, &mut out);
                    for m in out.iter().filter(|m| m.emit) {
                        matches += 1;
                        if let Some(s) = sink.as_mut() {
                            writeln!(s, "{events}\t{}", m.rule.id)?;
                        }
                    }
                }
                Err(_) => errors += 1,
            }
        }
        events += 1;
    }
    let eval_secs = t1.elapsed().as_secs_f64();
    for w in [sink, annotated].into_iter().flatten() {
        let mut w = w;
        w.flush()?;
    }
    let eps = if eval_secs > 0.0 {
        events as f64 / eval_secs
    } else {
        0.0
    };
    println!(
        "{}",
        serde_json::json!({
            "rules": rules.len(),
            "rejected": rep.rejected.len(),
            "load_secs": load_secs,
            "events": events,
            "parse_errors": errors,
            "eval_secs": eval_secs,
            "events_per_sec": eps,
            "matches": matches,
        })
    );
    Ok(())
}

/// Writes the event's fields plus `product` / `category` / `service` from nightwatch's
/// classifier (when set and not already fields), for engines that route on event fields.
fn write_annotated(w: &mut dyn Write, ev: &Event) -> std::io::Result<()> {
    let mut map = ev.fields.as_map().clone();
    let ls = &ev.logsource;
    for (k, v) in [
        ("product", &ls.product),
        ("category", &ls.category),
        ("service", &ls.service),
    ] {
        if let Some(v) = v
            && !map.contains_key(k)
        {
            map.insert(k.to_string(), serde_json::Value::String(v.to_string()));
        }
    }
    serde_json::to_writer(&mut *w, &map)?;
    writeln!(w)
}

fn main() -> ExitCode {
    match parse_args() {
        Err(e) => {
            eprintln!("{e}");
            ExitCode::from(2)
        }
        Ok(args) => match run(args) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::from(1)
            }
        },
    }
}
