//! `nightwatch history`: inspect, export and compact the case history in a state directory.
//!
//! The daemon holds the store's lock while running, so these commands work on a stopped
//! daemon's state directory (or a copy of it).

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use chrono::Utc;

use super::BadInput;
use crate::history::{CaseFilter, HistoryStore, Retention, SledHistory};
use crate::store::Store;

/// The history of a state directory (exit 2 when it has none).
pub(super) fn open(state_dir: &Path) -> anyhow::Result<SledHistory> {
    if !state_dir.join("db").is_dir() {
        return Err(BadInput(format!(
            "no case history in {} (expected {}/db)",
            state_dir.display(),
            state_dir.display()
        ))
        .into());
    }
    let store = Store::open(state_dir).context("opening the embedded store")?;
    Ok(SledHistory::open(&store)?)
}

/// One line per case, newest activity first.
pub(super) fn list(state_dir: &Path, limit: usize, json: bool) -> anyhow::Result<ExitCode> {
    let h = open(state_dir)?;
    let page = h.list(&CaseFilter {
        limit,
        ..Default::default()
    })?;
    let mut out = std::io::stdout().lock();
    for c in &page.cases {
        if json {
            writeln!(out, "{}", serde_json::to_string(c)?)?;
        } else {
            writeln!(
                out,
                "{}  {:<12} {:<9} score {:>3}  {:<11} {:<6} {}  {}",
                c.case_id,
                c.conclusion.as_str(),
                c.severity.as_str(),
                c.score,
                c.stage.as_str(),
                if c.status == crate::history::CaseStatus::Open {
                    "open"
                } else {
                    "closed"
                },
                c.last_seen.to_rfc3339(),
                c.entity
            )?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The case record, every verdict version and the stored events, as one JSON document.
pub(super) fn show(state_dir: &Path, case_id: &str) -> anyhow::Result<ExitCode> {
    let h = open(state_dir)?;
    let Some(case) = h.case(case_id)? else {
        return Err(BadInput(format!("no case {case_id}")).into());
    };
    let doc = serde_json::json!({
        "case": case,
        "verdicts": h.verdicts(case_id)?,
        "events": h.events(case_id)?,
    });
    println!("{}", serde_json::to_string_pretty(&doc)?);
    Ok(ExitCode::SUCCESS)
}

/// Every case as one NDJSON line (case, verdicts, events) to `out` or stdout.
pub(super) fn export(state_dir: &Path, out: Option<&Path>) -> anyhow::Result<ExitCode> {
    let h = open(state_dir)?;
    let n = match out {
        Some(p) => {
            let f =
                std::fs::File::create(p).with_context(|| format!("creating {}", p.display()))?;
            let mut w = std::io::BufWriter::new(f);
            let n = h.export(&mut w)?;
            w.flush()?;
            n
        }
        None => {
            let mut w = std::io::BufWriter::new(std::io::stdout().lock());
            let n = h.export(&mut w)?;
            w.flush()?;
            n
        }
    };
    eprintln!("exported {n} cases");
    Ok(ExitCode::SUCCESS)
}

/// Applies the retention: drops cases older than `retention_days`, then beyond `max_cases`,
/// then the oldest closed cases while the data exceeds `max_bytes` (0: no cap).
pub(super) fn compact(
    state_dir: &Path,
    retention_days: u64,
    max_cases: usize,
    max_bytes: u64,
) -> anyhow::Result<ExitCode> {
    if max_cases == 0 {
        return Err(BadInput("--max-cases must be at least 1".into()).into());
    }
    let h = open(state_dir)?;
    let report = h.compact(&Retention {
        horizon: Utc::now() - chrono::Duration::days(retention_days as i64),
        max_cases,
        max_bytes,
    })?;
    h.flush()?;
    println!("{}", serde_json::to_string(&report)?);
    Ok(ExitCode::SUCCESS)
}
