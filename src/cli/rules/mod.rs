//! Rule tooling: `rules check` (load and compile, report every rejection), `rules test` (the
//! rules' own test files, or TP/FP/TN/FN on a labelled dataset) and `rules coverage` (ATT&CK
//! coverage of the technique subset and a Navigator layer).

mod cases;
mod coverage;
mod dataset;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::{Args, ValueEnum};
use serde_json::json;

use super::{BadInput, RuleArgs};
use crate::detect::{self, LoadOptions, RuleSet};
use crate::normalize::Format;

/// Output format of `rules test` and `rules coverage`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ReportFormat {
    Table,
    Json,
}

#[derive(Debug, Args)]
pub struct TestArgs {
    #[command(flatten)]
    pub rules: RuleArgs,
    /// Rule test files or directories (repeatable), used when no dataset is given.
    #[arg(long = "tests", default_value = "rules/tests")]
    pub tests: Vec<PathBuf>,
    /// Labelled telemetry files or directories (repeatable): score the rules on them.
    #[arg(long, requires = "labels")]
    pub dataset: Vec<PathBuf>,
    /// Label file for the dataset (format in rules/README.md).
    #[arg(long)]
    pub labels: Option<PathBuf>,
    /// Score each event, or each input file (flagged when any of its events is).
    #[arg(long, value_enum, default_value_t = dataset::Unit::Event)]
    pub unit: dataset::Unit,
    /// Parse every dataset file as this format instead of detecting it from content.
    #[arg(long)]
    pub input_format: Option<Format>,
    #[arg(long, value_enum, default_value_t = ReportFormat::Table)]
    pub format: ReportFormat,
}

#[derive(Debug, Args)]
pub struct CoverageArgs {
    #[command(flatten)]
    pub rules: RuleArgs,
    /// The technique subset to report against.
    #[arg(long, default_value = "rules/attack-subset.yml")]
    pub subset: PathBuf,
    /// Write an ATT&CK Navigator layer (JSON) for the rule set here.
    #[arg(long)]
    pub layer: Option<PathBuf>,
    /// Name of the layer.
    #[arg(long, default_value = "nightwatch rules")]
    pub layer_name: String,
    #[arg(long, value_enum, default_value_t = ReportFormat::Table)]
    pub format: ReportFormat,
}

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

/// Loads rules for `test`/`coverage`: missing paths are bad input, any rejected rule too (a
/// broken rule must fail its tests rather than vanish).
fn load_strict(args: &RuleArgs) -> anyhow::Result<Arc<RuleSet>> {
    for p in &args.rules {
        if !p.exists() {
            return Err(BadInput(format!("rule path {} does not exist", p.display())).into());
        }
    }
    let placeholders = match &args.placeholders {
        Some(p) => detect::load_placeholders(p).map_err(|e| BadInput(e.to_string()))?,
        None => Default::default(),
    };
    let report = detect::load(
        &args.rules,
        &LoadOptions {
            placeholders,
            ignore_logsource: false,
        },
    );
    for e in &report.rejected {
        eprintln!("rejected: {e}");
    }
    Ok(Arc::new(report.rules))
}

fn pct(x: Option<f64>) -> String {
    x.map_or_else(|| "-".to_owned(), |v| format!("{:.1}%", v * 100.0))
}

/// `rules test`: exit 0 when every case passed (or the dataset was scored), 1 when a rule test
/// failed or a rule has no test with both outcomes, 2 on bad input.
pub(super) fn test(args: &TestArgs) -> anyhow::Result<ExitCode> {
    let rules = load_strict(&args.rules)?;
    if let Some(labels) = &args.labels {
        if args.dataset.is_empty() {
            return Err(BadInput("--labels needs --dataset".into()).into());
        }
        for p in &args.dataset {
            if !p.exists() {
                return Err(BadInput(format!("{} does not exist", p.display())).into());
            }
        }
        let labels = dataset::Labels::load(labels).map_err(|e| BadInput(e.to_string()))?;
        let score =
            dataset::evaluate(&rules, &args.dataset, args.input_format, &labels, args.unit)?;
        print_score(&score, args.format)?;
        return Ok(ExitCode::SUCCESS);
    }
    for p in &args.tests {
        if !p.exists() {
            return Err(BadInput(format!("{} does not exist", p.display())).into());
        }
    }
    let files = cases::discover(&args.tests).map_err(|e| BadInput(e.to_string()))?;
    let results = cases::run(&rules, &files);
    let untested = cases::untested(&rules, &files);
    let failed: Vec<&cases::CaseResult> = results.iter().filter(|r| !r.passed()).collect();
    match args.format {
        ReportFormat::Json => {
            let cases: Vec<_> = results
                .iter()
                .map(|r| {
                    json!({
                        "rule": r.rule,
                        "file": r.file.display().to_string(),
                        "case": r.case,
                        "expect": if r.expect == cases::Expect::Match { "match" } else { "no_match" },
                        "fired": r.fired,
                        "passed": r.passed(),
                    })
                })
                .collect();
            println!(
                "{}",
                json!({
                    "rules": rules.len(),
                    "cases": results.len(),
                    "failed": failed.len(),
                    "untested": untested,
                    "results": cases,
                })
            );
        }
        ReportFormat::Table => {
            for r in &failed {
                let want = if r.expect == cases::Expect::Match {
                    "match"
                } else {
                    "no match"
                };
                println!(
                    "FAIL {} {} [{}]: expected {want}",
                    r.rule,
                    r.file.display(),
                    r.case
                );
            }
            for u in &untested {
                println!("UNTESTED {u}");
            }
            println!(
                "{} rules, {} test files, {} cases: {} passed, {} failed, {} rules without tests",
                rules.len(),
                files.len(),
                results.len(),
                results.len() - failed.len(),
                failed.len(),
                untested.len()
            );
        }
    }
    Ok(if failed.is_empty() && untested.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn print_score(s: &dataset::Score, format: ReportFormat) -> anyhow::Result<()> {
    let row = |c: &dataset::Counts| {
        json!({"tp": c.tp, "fp": c.fp, "tn": c.tn, "fn": c.fn_,
               "precision": c.precision(), "recall": c.recall()})
    };
    match format {
        ReportFormat::Json => {
            let rules: Vec<_> = s
                .rules
                .iter()
                .map(|(id, (title, c))| {
                    let mut v = row(c);
                    v["id"] = json!(id);
                    v["title"] = json!(title);
                    v
                })
                .collect();
            println!(
                "{}",
                json!({"unit": s.unit, "events": s.events, "parse_errors": s.parse_errors,
                       "scored": s.scored, "overall": row(&s.overall), "rules": rules,
                       "inputs": s.inputs})
            );
        }
        ReportFormat::Table => {
            println!(
                "{:<38} {:>7} {:>7} {:>7} {:>7} {:>9} {:>7}  title",
                "rule", "tp", "fp", "tn", "fn", "precision", "recall"
            );
            let line = |name: &str, c: &dataset::Counts, title: &str| {
                println!(
                    "{:<38} {:>7} {:>7} {:>7} {:>7} {:>9} {:>7}  {title}",
                    name,
                    c.tp,
                    c.fp,
                    c.tn,
                    c.fn_,
                    pct(c.precision()),
                    pct(c.recall())
                );
            };
            for (id, (title, c)) in &s.rules {
                line(id, c, title);
            }
            line("OVERALL (any rule)", &s.overall, "");
            println!(
                "{} events read, {} parse errors, {} {}s scored",
                s.events, s.parse_errors, s.scored, s.unit
            );
        }
    }
    Ok(())
}

/// `rules coverage`: per-tactic coverage of the subset; writes the layer when asked.
pub(super) fn coverage(args: &CoverageArgs) -> anyhow::Result<ExitCode> {
    let rules = load_strict(&args.rules)?;
    let subset = coverage::load_subset(&args.subset).map_err(BadInput)?;
    let report = coverage::report(&rules, &subset);
    if let Some(out) = &args.layer {
        let layer = coverage::navigator_layer(&rules, &args.layer_name);
        let problems = coverage::layer_problems(&layer);
        if !problems.is_empty() {
            anyhow::bail!("generated layer is invalid: {}", problems.join("; "));
        }
        std::fs::write(out, serde_json::to_string_pretty(&layer)?)
            .with_context(|| format!("writing {}", out.display()))?;
        eprintln!("wrote navigator layer to {}", out.display());
    }
    match args.format {
        ReportFormat::Json => println!("{}", serde_json::to_string(&report)?),
        ReportFormat::Table => {
            println!("{:<22} {:>8} {:>8}  missing", "tactic", "covered", "of");
            for t in &report.tactics {
                println!(
                    "{:<22} {:>8} {:>8}  {}",
                    t.tactic,
                    t.covered,
                    t.techniques,
                    t.missing.join(", ")
                );
            }
            println!(
                "{} rules tag {} techniques; subset coverage {}/{}",
                report.rules, report.techniques_tagged, report.subset_covered, report.subset_size
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
