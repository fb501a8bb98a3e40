//! `scan` and `detect`: the daemon's stage graph run once over files.
//!
//! Both commands feed the same graph as the daemon (file input → parse pool → detect pool →
//! correlation) so what they print is what the daemon would publish. `scan` continues into the
//! case builder and prints one verdict per case (and with `--report DIR` writes a report per
//! case); `detect` prints every rule match. Output is
//! sorted so repeated runs over the same files print the same lines.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use serde_json::json;
use tokio_util::sync::CancellationToken;

use super::{BadInput, LimitArgs, RuleArgs, ScanFormat, runtime};
use crate::cases::CaseSettings;
use crate::cases::{Detection, Hit};
use crate::detect::{self, CorrelationLimits, Level, LoadOptions, RuleSet};
use crate::history::{HistoryStore, SledHistory};
use crate::inputs::file::{self, FileLimits, FileOptions, FileReport};
use crate::intel::{ExtractSettings, FeedSet, IntelConfig, Lookout};
use crate::metrics::{Metrics, stage};
use crate::normalize::{Format, ParseError};
use crate::pipeline::{self, Annotators, Publishing, Settings};
use crate::report::ReportFormat;
use crate::store::Store;
use crate::verdict::Verdict;

/// Parse errors printed in full on stderr; the rest are counted.
const MAX_ERRORS_SHOWN: usize = 100;

/// Loads the rules named on the command line. Missing paths and unreadable placeholder files
/// are bad input; individual rules that fail to compile are reported and skipped.
pub(super) fn load_rules(args: &RuleArgs, ignore_logsource: bool) -> anyhow::Result<Arc<RuleSet>> {
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
            ignore_logsource,
        },
    );
    for e in &report.rejected {
        eprintln!("warning: rule rejected: {e}");
    }
    Ok(Arc::new(report.rules))
}

fn check_paths(paths: &[PathBuf]) -> anyhow::Result<()> {
    for p in paths {
        if !p.exists() {
            return Err(BadInput(format!("{} does not exist", p.display())).into());
        }
    }
    Ok(())
}

fn settings(lookout: Option<Lookout>) -> Settings {
    Settings {
        capacity: 1024,
        parse_workers: 0,
        detect_workers: 0,
        correlation: CorrelationLimits::default(),
        lookout,
        journal: None,
    }
}

/// Extraction with the default settings and the offline feeds under `feeds` (none: extraction
/// only, so verdicts still cite their indicators). Unreadable feed files are bad input.
fn scan_lookout(feeds: &[PathBuf], metrics: &Arc<Metrics>) -> anyhow::Result<Lookout> {
    let (set, errors) = FeedSet::load(feeds);
    if let Some(e) = errors.first() {
        return Err(BadInput(e.to_string()).into());
    }
    eprintln!("{} offline feed entries loaded", set.len());
    let config = IntelConfig::default();
    Ok(Lookout::new(
        ExtractSettings::from_config(&config),
        Arc::new(std::sync::RwLock::new(Arc::new(set))),
        metrics.clone(),
    ))
}

/// What a one-shot run saw, for the stderr summary.
struct Totals {
    files: FileReport,
    errors: Vec<ParseError>,
    events: u64,
    matches: u64,
    elapsed: f64,
}

impl Totals {
    fn new(files: FileReport, errors: Vec<ParseError>, metrics: &Metrics, start: Instant) -> Self {
        let matches = [
            Level::Informational,
            Level::Low,
            Level::Medium,
            Level::High,
            Level::Critical,
        ]
        .iter()
        .map(|l| {
            metrics
                .detect
                .rule_matches
                .with_label_values(&[l.as_str()])
                .get()
        })
        .sum();
        Self {
            files,
            errors,
            events: metrics.stages.sent.with_label_values(&[stage::PARSE]).get(),
            matches,
            elapsed: start.elapsed().as_secs_f64(),
        }
    }

    /// Inputs were given and records found, but not one parsed into an event.
    fn nothing_read(&self) -> bool {
        self.events == 0 && !self.errors.is_empty()
    }

    /// Prints the summary; the exit code: 1 when every record failed to parse.
    fn finish(&self, what: &str) -> ExitCode {
        self.print(what);
        if self.nothing_read() {
            eprintln!("no event could be read: every record of the inputs failed to parse");
            return ExitCode::from(1);
        }
        ExitCode::SUCCESS
    }

    fn print(&self, what: &str) {
        let mut err = std::io::stderr().lock();
        for e in self.errors.iter().take(MAX_ERRORS_SHOWN) {
            let _ = writeln!(err, "parse error: {e}");
        }
        if self.errors.len() > MAX_ERRORS_SHOWN {
            let _ = writeln!(
                err,
                "… and {} more parse errors",
                self.errors.len() - MAX_ERRORS_SHOWN
            );
        }
        if self.files.truncated > 0 {
            let _ = writeln!(
                err,
                "{} lines longer than --max-line-bytes were cut to it (their events carry {})",
                self.files.truncated,
                crate::normalize::TRUNCATED_FIELD
            );
        }
        let _ = writeln!(
            err,
            "{} files ({} skipped): {} events, {} rule matches, {what}, {} parse errors in {:.2}s",
            self.files.files,
            self.files.skipped.len(),
            self.events,
            self.matches,
            self.errors.len(),
            self.elapsed
        );
    }
}

/// Runs the file input into a freshly spawned detection graph; `consume` reads the graph's
/// detections and returns what it collected.
async fn run_graph<T: Send + 'static>(
    rules: Arc<RuleSet>,
    lookout: Option<Lookout>,
    paths: Vec<PathBuf>,
    options: FileOptions,
    metrics: Arc<Metrics>,
    consume: impl FnOnce(
        crate::flow::channel::Receiver<Detection>,
        Arc<Metrics>,
    ) -> tokio::task::JoinHandle<T>,
) -> anyhow::Result<(T, FileReport, Vec<ParseError>)> {
    let graph = pipeline::spawn_detection(&settings(lookout), rules, metrics.clone());
    let consumer = consume(graph.detections, metrics.clone());
    let dead = graph.dead;
    let dead_task = tokio::spawn(async move {
        let mut errors = Vec::new();
        while let Ok(letter) = dead.recv().await {
            errors.push(letter.error);
        }
        errors
    });
    let (raw, dead_tx) = (graph.raw, graph.dead_tx);
    let reader = tokio::task::spawn_blocking(move || {
        file::read_paths(
            Arc::from("file"),
            &paths,
            &options,
            &raw,
            &dead_tx,
            &CancellationToken::new(),
        )
    });
    let files = reader.await.context("file reader failed")?;
    let collected = consumer.await.context("pipeline consumer failed")?;
    let mut errors = dead_task.await.context("dead-letter collector failed")?;
    errors.sort_by(|a, b| {
        a.file
            .cmp(&b.file)
            .then(format!("{}", a.position).cmp(&format!("{}", b.position)))
    });
    Ok((collected, files, errors))
}

/// The file input's options from the command line.
fn file_options(input_format: Option<Format>, limits: &LimitArgs) -> anyhow::Result<FileOptions> {
    let max_line_bytes = usize::try_from(limits.max_line_bytes)
        .map_err(|_| BadInput("--max-line-bytes is too large".into()))?;
    Ok(FileOptions {
        forced: input_format,
        limits: FileLimits {
            max_line_bytes,
            max_document_bytes: limits.max_document_bytes,
        },
        truncated: None,
    })
}

#[allow(clippy::too_many_arguments)]
pub(super) fn scan(
    args: &RuleArgs,
    format: ScanFormat,
    input_format: Option<Format>,
    limits: &LimitArgs,
    report: Option<(&std::path::Path, &[ReportFormat])>,
    state_dir: Option<&std::path::Path>,
    feeds: &[PathBuf],
    paths: &[PathBuf],
) -> anyhow::Result<ExitCode> {
    check_paths(paths)?;
    check_paths(feeds)?;
    for f in report.map_or(&[][..], |(_, formats)| formats) {
        f.available().map_err(|e| BadInput(e.to_string()))?;
    }
    let options = file_options(input_format, limits)?;
    let rules = load_rules(args, false)?;
    let store = match state_dir {
        Some(dir) => Store::open(dir).context("opening the case history")?,
        None => Store::temporary().context("creating the in-memory case history")?,
    };
    let history: Arc<dyn HistoryStore> = Arc::new(SledHistory::open(&store)?);
    let case_settings = CaseSettings {
        history: Some(history.clone()),
        ..CaseSettings::default()
    };
    let start = Instant::now();
    let metrics = Arc::new(Metrics::new()?);
    let lookout = scan_lookout(feeds, &metrics)?;
    let (verdicts, files, errors) = runtime()?.block_on(run_graph(
        rules,
        Some(lookout),
        paths.to_vec(),
        options,
        metrics.clone(),
        |detections, m| {
            let published = pipeline::spawn_cases(
                detections,
                case_settings,
                Publishing::AtEnd,
                Annotators::default(),
                1024,
                m,
            );
            tokio::spawn(async move {
                let mut out: Vec<Arc<Verdict>> = Vec::new();
                while let Ok(p) = published.recv().await {
                    out.push(p.verdict);
                }
                out
            })
        },
    ))?;
    history.flush()?;
    let mut verdicts = verdicts;
    verdicts.sort_by(|a, b| {
        a.first_seen
            .cmp(&b.first_seen)
            .then(a.case_id.cmp(&b.case_id))
    });
    // A reader takes the worst first; machines keep event-time order.
    let mut shown: Vec<&Arc<Verdict>> = verdicts.iter().collect();
    if matches!(format, ScanFormat::Pretty) {
        shown.sort_by(|a, b| {
            b.severity
                .cmp(&a.severity)
                .then(b.score.cmp(&a.score))
                .then(a.first_seen.cmp(&b.first_seen))
        });
    }
    let mut out = std::io::stdout().lock();
    for v in shown {
        match format {
            ScanFormat::Jsonl => writeln!(out, "{}", serde_json::to_string(&**v)?)?,
            ScanFormat::Pretty => write_pretty(&mut out, v)?,
        }
    }
    out.flush()?;
    if let Some((dir, formats)) = report {
        let written = super::report::write_case_reports(dir, formats, &verdicts)?;
        eprintln!("wrote {} report files to {}", written.len(), dir.display());
    }
    let per_conclusion = ["incident", "suspicious", "needs_review", "benign"]
        .iter()
        .map(|c| {
            let n = verdicts
                .iter()
                .filter(|v| v.conclusion.as_str() == *c)
                .count();
            format!("{c} {n}")
        })
        .collect::<Vec<_>>()
        .join(", ");
    Ok(Totals::new(files, errors, &metrics, start)
        .finish(&format!("{} verdicts ({per_conclusion})", verdicts.len())))
}

fn write_pretty(out: &mut impl Write, v: &Verdict) -> std::io::Result<()> {
    // Whole seconds: the event times an analyst compares, not the clock's nanoseconds.
    let t =
        |t: &chrono::DateTime<chrono::Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    writeln!(
        out,
        "== case {} on {}: {} ({}), score {}, confidence {} — {} .. {}",
        v.case_id,
        v.entity,
        v.conclusion.as_str(),
        v.severity.as_str(),
        v.score,
        v.confidence,
        t(&v.first_seen),
        t(&v.last_seen)
    )?;
    for line in &v.reasoning {
        writeln!(out, "   - {line}")?;
    }
    for u in &v.unclassified {
        writeln!(out, "   unclassified at {}: {}", t(&u.time), u.reason)?;
    }
    for s in &v.next_steps {
        writeln!(out, "   next step [{}]: {}", s.runbook, s.action)?;
    }
    if !v.attack.is_empty() {
        let techniques: Vec<String> = v
            .attack
            .iter()
            .map(|a| {
                format!(
                    "{} {} [{}]",
                    a.technique_id,
                    a.technique,
                    a.tactics.join(", ")
                )
            })
            .collect();
        writeln!(out, "   ATT&CK: {}", techniques.join("; "))?;
    }
    writeln!(out)
}

pub(super) fn detect(
    args: &RuleArgs,
    ignore_logsource: bool,
    input_format: Option<Format>,
    limits: &LimitArgs,
    inputs: &[PathBuf],
) -> anyhow::Result<ExitCode> {
    check_paths(inputs)?;
    let options = file_options(input_format, limits)?;
    let rules = load_rules(args, ignore_logsource)?;
    let start = Instant::now();
    let metrics = Arc::new(Metrics::new()?);
    let (lines, files, errors) = runtime()?.block_on(run_graph(
        rules,
        None,
        inputs.to_vec(),
        options,
        metrics.clone(),
        |detections, _| {
            tokio::spawn(async move {
                let mut lines: Vec<(String, u64, String)> = Vec::new();
                while let Ok(d) = detections.recv().await {
                    for hit in &d.hits {
                        lines.push(match_line(&d, hit));
                    }
                }
                lines
            })
        },
    ))?;
    let mut lines = lines;
    lines.sort();
    let mut out = std::io::stdout().lock();
    for (_, _, line) in &lines {
        writeln!(out, "{line}")?;
    }
    out.flush()?;
    Ok(Totals::new(files, errors, &metrics, start)
        .finish(&format!("{} detections printed", lines.len())))
}

/// Adds the rule's ATT&CK techniques (tags and reviewed overrides) to a `detect` line.
fn with_techniques(mut v: serde_json::Value, rule_id: &str, tags: &[String]) -> serde_json::Value {
    let (techniques, _) = crate::attack::of_rule(rule_id, tags.iter().map(String::as_str));
    if !techniques.is_empty() {
        v["techniques"] = techniques.iter().map(|t| t.id).collect::<Vec<_>>().into();
    }
    v
}

/// One `detect` output line, with its sort key (input, event index).
fn match_line(d: &Detection, hit: &Hit) -> (String, u64, String) {
    let input = d.event.origin.source.to_string();
    let index = d.event.origin.index;
    let value = match hit {
        Hit::Rule(rule) => {
            let mut v = json!({
                "rule_id": rule.id,
                "rule_title": rule.title,
                "level": rule.level,
                "event_index": index,
                "input": input,
            });
            // The rule's Sigma `fields`, as the event has them.
            let named: serde_json::Map<String, serde_json::Value> = rule
                .fields
                .iter()
                .filter_map(|f| Some((f.clone(), d.event.fields.get(f)?.clone())))
                .collect();
            if !named.is_empty() {
                v["fields"] = named.into();
            }
            with_techniques(v, &rule.id, &rule.tags)
        }
        Hit::Correlation(c) => with_techniques(
            json!({
                "rule_id": c.rule.id,
                "rule_title": c.rule.title,
                "level": c.rule.level,
                "correlation_type": c.correlation_type,
                "group": c.group,
                "event_indices": c.events.iter().map(|e| e.origin.index).collect::<Vec<_>>(),
                // Each event's own input: a correlation can span files.
                "events": c.events.iter().map(|e| json!({
                    "input": e.origin.source.as_ref(),
                    "event_index": e.origin.index,
                })).collect::<Vec<_>>(),
            }),
            &c.rule.id,
            &c.rule.tags,
        ),
        Hit::Feed {
            indicator,
            feed,
            level,
        } => json!({
            "feed": feed,
            "indicator": indicator.value,
            "indicator_kind": indicator.kind,
            "level": level,
            "event_index": index,
            "input": input,
        }),
    };
    (input, index, value.to_string())
}
