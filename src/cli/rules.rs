//! `rules check`: load and compile rules, report every rejection.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use serde_json::json;

use super::BadInput;
use crate::detect::{self, LoadOptions};

/// Exit 0 when every rule compiled, 2 when any was rejected or a path is missing.
pub(super) fn check(
    paths: &[PathBuf],
    placeholders: Option<&Path>,
    as_json: bool,
) -> anyhow::Result<ExitCode> {
    for p in paths {
        if !p.exists() {
            return Err(BadInput(format!("{} does not exist", p.display())).into());
        }
    }
    let placeholders = match placeholders {
        Some(p) => detect::load_placeholders(p).map_err(|e| BadInput(e.to_string()))?,
        None => Default::default(),
    };
    let start = std::time::Instant::now();
    let report = detect::load(
        paths,
        &LoadOptions {
            placeholders,
            ignore_logsource: false,
        },
    );
    let elapsed = start.elapsed();
    let loaded = report.rules.len();
    if as_json {
        let rejected: Vec<_> = report
            .rejected
            .iter()
            .map(|e| {
                json!({
                    "path": e.path.display().to_string(),
                    "id": e.id,
                    "error": e.reason,
                })
            })
            .collect();
        println!(
            "{}",
            json!({"total": report.total, "loaded": loaded, "rejected": rejected})
        );
    } else {
        for e in &report.rejected {
            println!("rejected: {e}");
        }
        println!(
            "{} rules: {loaded} loaded, {} rejected ({:.2}s)",
            report.total,
            report.rejected.len(),
            elapsed.as_secs_f64()
        );
    }
    Ok(if report.rejected.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    })
}
