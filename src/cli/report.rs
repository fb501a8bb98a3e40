//! `report` and `scan --report`: verdicts rendered as printable reports.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;

use super::BadInput;
use crate::report::{ReportFormat, ReportInput};
use crate::verdict::Verdict;

/// `nightwatch report --verdict FILE --format F [--out PATH]`.
pub(super) fn report(
    verdict: &Path,
    format: ReportFormat,
    out: Option<&Path>,
) -> anyhow::Result<ExitCode> {
    let text = if verdict.as_os_str() == "-" {
        let mut s = String::new();
        std::io::stdin()
            .read_to_string(&mut s)
            .context("reading the verdict from standard input")?;
        s
    } else {
        std::fs::read_to_string(verdict)
            .map_err(|e| BadInput(format!("{}: {e}", verdict.display())))?
    };
    let doc: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
        let lines = text.lines().filter(|l| !l.trim().is_empty()).count();
        let hint = if lines > 1 {
            format!(" ({lines} lines: give one verdict, e.g. one line of a jsonl output)")
        } else {
            String::new()
        };
        BadInput(format!("{}: not JSON: {e}{hint}", verdict.display()))
    })?;
    let input = ReportInput::from_json(&doc)
        .map_err(|e| BadInput(format!("{}: {e}", verdict.display())))?;
    write_out(
        &format.render(&input).map_err(|e| BadInput(e.to_string()))?,
        out,
    )
}

/// `nightwatch report CASE_ID --format F [--state-dir DIR] [--out PATH]`: the case's report
/// from the history (exit 2 when the case is unknown).
pub(super) fn case_report(
    state_dir: &Path,
    case_id: &str,
    format: ReportFormat,
    out: Option<&Path>,
) -> anyhow::Result<ExitCode> {
    let history = super::history::open(state_dir)?;
    let input = ReportInput::from_history(&history, case_id)?.ok_or_else(|| {
        BadInput(format!(
            "no case {case_id} in the history of {}",
            state_dir.display()
        ))
    })?;
    write_out(
        &format.render(&input).map_err(|e| BadInput(e.to_string()))?,
        out,
    )
}

/// Writes the rendered report to `out`, or to standard output.
fn write_out(bytes: &[u8], out: Option<&Path>) -> anyhow::Result<ExitCode> {
    match out {
        Some(path) => {
            std::fs::write(path, bytes).with_context(|| format!("writing {}", path.display()))?
        }
        None => {
            let mut stdout = std::io::stdout().lock();
            stdout.write_all(bytes)?;
            stdout.flush()?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Writes `<dir>/<case_id>.<ext>` for the latest version of each case, in every format;
/// returns the paths written.
pub(super) fn write_case_reports(
    dir: &Path,
    formats: &[ReportFormat],
    verdicts: &[Arc<Verdict>],
) -> anyhow::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut latest: BTreeMap<&str, &Arc<Verdict>> = BTreeMap::new();
    for v in verdicts {
        let slot = latest.entry(v.case_id.as_str()).or_insert(v);
        if v.version > slot.version {
            *slot = v;
        }
    }
    let mut written = Vec::new();
    for (case_id, v) in latest {
        let input = ReportInput::new(Verdict::clone(v));
        for format in formats {
            let path = dir.join(format!("{}.{}", file_stem(case_id), format.ext()));
            std::fs::write(
                &path,
                format.render(&input).map_err(|e| BadInput(e.to_string()))?,
            )
            .with_context(|| format!("writing {}", path.display()))?;
            written.push(path);
        }
    }
    Ok(written)
}

/// A case id as a file name: anything but ASCII letters, digits, `-` and `_` becomes `_`.
fn file_stem(case_id: &str) -> String {
    let stem: String = case_id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if stem.is_empty() {
        "case".to_owned()
    } else {
        stem
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn case_ids_become_safe_file_names() {
        assert_eq!(file_stem("41aa-b_c"), "41aa-b_c");
        assert_eq!(file_stem("../../etc/passwd"), "______etc_passwd");
        assert_eq!(file_stem(""), "case");
    }
}
