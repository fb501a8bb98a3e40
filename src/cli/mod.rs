//! Command line: argument definitions and dispatch.
//!
//! The contracts here (flags, output shapes, exit codes) are relied on by tests and external
//! tooling: 0 ok, 2 bad config, rules or arguments, 1 runtime failure. Commands return
//! `anyhow::Result`; an error wrapping [`BadInput`] maps to exit code 2.

mod enrich;
mod health;
mod history;
mod oneshot;
mod report;
mod rules;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Parser, Subcommand, ValueEnum};
use tokio_util::sync::CancellationToken;

use crate::config;
use crate::daemon::{self, RunOptions};
use crate::demo;
use crate::report::ReportFormat;

#[derive(Debug, Parser)]
#[command(
    name = "nightwatch",
    version,
    about = "Streaming SOC triage: Sigma detection, cases and auditable verdicts"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the daemon: inputs from config, verdicts to outputs and /ws.
    Run {
        /// Configuration file (default: the embedded config/nightwatch.toml).
        #[arg(long)]
        config: Option<PathBuf>,
        /// API listen address, overriding `api.listen`.
        #[arg(long)]
        listen: Option<String>,
        /// Feed the built-in intrusion scenario into the daemon.
        #[arg(long)]
        demo: bool,
    },
    /// One-shot triage of files and directories: parse, detect, build cases, print verdicts.
    Scan {
        #[command(flatten)]
        rules: RuleArgs,
        /// Output format of the verdicts.
        #[arg(long, value_enum, default_value_t = ScanFormat::Jsonl)]
        format: ScanFormat,
        /// Parse every file as this format instead of detecting it from content.
        #[arg(long)]
        input_format: Option<crate::normalize::Format>,
        #[command(flatten)]
        limits: LimitArgs,
        /// Also write a report per case (its latest verdict) into this directory.
        #[arg(long, value_name = "DIR")]
        report: Option<PathBuf>,
        /// Formats of the `--report` files (comma-separated).
        #[arg(long, value_enum, value_delimiter = ',', default_value = crate::report::DEFAULT_FORMATS)]
        report_format: Vec<ReportFormat>,
        /// Keep the case history in this state directory (correlating with earlier scans);
        /// without it the history lives in memory for this scan only.
        #[arg(long)]
        state_dir: Option<PathBuf>,
        /// Offline threat feed files or directories (repeatable; every format `[intel] feeds`
        /// takes). A listed indicator is a finding even where no rule matched.
        #[arg(long = "feeds", value_name = "PATH")]
        feeds: Vec<PathBuf>,
        /// Files or directories (read recursively).
        #[arg(required = true)]
        paths: Vec<PathBuf>,
    },
    /// Render a case or a verdict as a printable report (Markdown, HTML or PDF).
    Report {
        /// A case in the history: its latest verdict, case timeline and stored events.
        #[arg(conflicts_with = "verdict", required_unless_present = "verdict")]
        case_id: Option<String>,
        /// A verdict JSON document instead, e.g. one line of a jsonl output (`-`: standard input).
        #[arg(long)]
        verdict: Option<PathBuf>,
        /// State directory of the history (default: `state.dir` of the configuration).
        #[arg(long, requires = "case_id")]
        state_dir: Option<PathBuf>,
        /// Configuration file, for `state.dir` (default: the embedded one).
        #[arg(long, requires = "case_id")]
        config: Option<PathBuf>,
        #[arg(long, value_enum, default_value_t = ReportFormat::Html)]
        format: ReportFormat,
        /// Output file (default: standard output).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Detection only: one JSON object per line per rule match.
    Detect {
        #[command(flatten)]
        rules: RuleArgs,
        /// Evaluate every rule against every event, whatever their logsources.
        #[arg(long)]
        ignore_logsource: bool,
        /// Parse every file as this format instead of detecting it from content.
        #[arg(long)]
        input_format: Option<crate::normalize::Format>,
        #[command(flatten)]
        limits: LimitArgs,
        /// Files or directories (read recursively).
        #[arg(required = true)]
        inputs: Vec<PathBuf>,
    },
    /// Rule tooling.
    Rules {
        #[command(subcommand)]
        command: RulesCommand,
    },
    /// Load config and rules, print every problem; exit 2 on any.
    Validate {
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// A new analyst token: prints the token (give it to the analyst; it is shown only now)
    /// and the `[[api.analysts]]` entry holding its SHA-256 (paste it into the configuration).
    Analyst {
        /// The analyst's name, as the audit log and timeline will show it.
        name: String,
        #[arg(long, value_enum, default_value_t = AnalystRole::Analyst)]
        role: AnalystRole,
    },
    /// Probe a running daemon's /health (for container health checks): exit 0 when healthy.
    Health {
        #[arg(long, default_value = "http://127.0.0.1:8080/health")]
        url: String,
        /// Connect and read timeout, in seconds.
        #[arg(long, default_value_t = 3)]
        timeout: u64,
    },
    /// Inspect, export and compact the case history of a (stopped) daemon's state directory.
    History {
        /// State directory (default: `state.dir` of the configuration).
        #[arg(long)]
        state_dir: Option<PathBuf>,
        /// Configuration file, for `state.dir` and `[history]` (default: the embedded one).
        #[arg(long)]
        config: Option<PathBuf>,
        #[command(subcommand)]
        command: HistoryCommand,
    },
    /// Threat-intel profile of each value (IP, domain, URL, email, hash): offline feeds, the
    /// cache under `state.dir`, and the configured providers.
    Enrich {
        #[arg(long)]
        config: Option<PathBuf>,
        /// `json`: one profile per line; `table`: per-source breakdown.
        #[arg(long, value_enum, default_value_t = enrich::EnrichFormat::Json)]
        format: enrich::EnrichFormat,
        /// Values to look up (defanged forms accepted).
        #[arg(required = true)]
        values: Vec<String>,
    },
    /// The built-in demo scenario.
    Demo {
        #[command(subcommand)]
        command: DemoCommand,
    },
}

#[derive(Debug, Args)]
pub struct RuleArgs {
    /// Rule files or directories (repeatable).
    #[arg(long = "rules", default_value = "rules")]
    pub rules: Vec<PathBuf>,
    /// YAML file of placeholder values (name -> list) for `|expand`.
    #[arg(long)]
    pub placeholders: Option<PathBuf>,
}

/// Size caps of the one-shot file reading (as `[inputs.NAME] type = "file"`).
#[derive(Debug, Args)]
pub struct LimitArgs {
    /// Lines longer than this many bytes are cut to it; their events carry
    /// `nightwatch_truncated_bytes` (the original length).
    #[arg(long, default_value_t = crate::inputs::lines::DEFAULT_MAX_LINE_BYTES as u64,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub max_line_bytes: u64,
    /// Largest file (or decompressed content) read whole for formats parsed as one document
    /// (packet captures, emails, Zeek, XML, JSON that is not NDJSON); larger files are
    /// reported as parse errors, not read.
    #[arg(long, default_value_t = crate::inputs::file::DEFAULT_MAX_DOCUMENT_BYTES,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub max_document_bytes: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ScanFormat {
    Jsonl,
    Pretty,
}

#[derive(Debug, Subcommand)]
pub enum RulesCommand {
    /// Load and compile rules; report totals and every rejected rule.
    Check {
        /// Print `{"total", "loaded", "rejected": [{"path", "id", "error"}]}`.
        #[arg(long)]
        json: bool,
        /// YAML file of placeholder values (name -> list) for `|expand`.
        #[arg(long)]
        placeholders: Option<PathBuf>,
        #[arg(required = true)]
        paths: Vec<PathBuf>,
    },
    /// Run the rules' own test files, or score the rules on a labelled dataset.
    Test(rules::TestArgs),
    /// ATT&CK coverage per tactic of the technique subset; optionally a Navigator layer.
    Coverage(rules::CoverageArgs),
}

#[derive(Debug, Subcommand)]
pub enum HistoryCommand {
    /// One line per case, newest activity first.
    List {
        #[arg(long, default_value_t = 50)]
        limit: usize,
        /// One JSON case record per line.
        #[arg(long)]
        json: bool,
    },
    /// A case with every verdict version and its stored evidence events.
    Show { case_id: String },
    /// Every case (record, verdicts, events) as NDJSON.
    Export {
        /// Write here instead of stdout.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Apply the retention now (defaults from `[history]`).
    Compact {
        #[arg(long)]
        retention_days: Option<u64>,
        #[arg(long)]
        max_cases: Option<usize>,
        /// Byte cap of the history's data: the oldest closed cases go first (0: no cap).
        #[arg(long)]
        max_bytes: Option<u64>,
    },
}

#[derive(Debug, Subcommand)]
pub enum DemoCommand {
    /// Write the scenario's events as NDJSON.
    Generate {
        #[arg(long, default_value = "intrusion")]
        scenario: String,
        #[arg(long, default_value_t = 7)]
        seed: u64,
        #[arg(long, default_value_t = 2000)]
        events: usize,
        /// Fraction of benign background events.
        #[arg(long, default_value_t = 0.9)]
        benign_ratio: f64,
        #[arg(long)]
        out: PathBuf,
    },
}

/// An error caused by what the user gave us (config, rules, arguments): exit code 2.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct BadInput(pub String);

/// Runs a parsed command line and returns the process exit code.
pub fn main(cli: Cli) -> ExitCode {
    let result = match cli.command {
        Command::Run {
            config,
            listen,
            demo,
        } => run(config, listen, demo),
        Command::Scan {
            rules,
            format,
            input_format,
            limits,
            report,
            report_format,
            state_dir,
            feeds,
            paths,
        } => oneshot::scan(
            &rules,
            format,
            input_format,
            &limits,
            report.as_deref().map(|dir| (dir, report_format.as_slice())),
            state_dir.as_deref(),
            &feeds,
            &paths,
        ),
        Command::Report {
            case_id: Some(case_id),
            state_dir,
            config,
            format,
            out,
            ..
        } => config::load(config.as_deref())
            .map_err(anyhow::Error::from)
            .and_then(|c| {
                let dir = state_dir.unwrap_or_else(|| c.state.dir.clone());
                report::case_report(&dir, &case_id, format, out.as_deref())
            }),
        Command::Report {
            verdict: Some(verdict),
            format,
            out,
            ..
        } => report::report(&verdict, format, out.as_deref()),
        Command::Report { .. } => Err(BadInput("give a CASE_ID or --verdict FILE".into()).into()),
        Command::Detect {
            rules,
            ignore_logsource,
            input_format,
            limits,
            inputs,
        } => oneshot::detect(&rules, ignore_logsource, input_format, &limits, &inputs),
        Command::Rules {
            command:
                RulesCommand::Check {
                    json,
                    placeholders,
                    paths,
                },
        } => rules::check(&paths, placeholders.as_deref(), json),
        Command::Rules {
            command: RulesCommand::Test(args),
        } => rules::test(&args),
        Command::Rules {
            command: RulesCommand::Coverage(args),
        } => rules::coverage(&args),
        Command::Validate { config } => validate(config),
        Command::Analyst { name, role } => analyst(&name, role),
        Command::Health { url, timeout } => health::probe(&url, Duration::from_secs(timeout)),
        Command::History {
            state_dir,
            config,
            command,
        } => history_command(state_dir, config, command),
        Command::Enrich {
            config,
            format,
            values,
        } => enrich::enrich(config, format, &values),
        Command::Demo {
            command:
                DemoCommand::Generate {
                    scenario,
                    seed,
                    events,
                    benign_ratio,
                    out,
                },
        } => demo_generate(&scenario, seed, events, benign_ratio, &out),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {}", chain(&e));
            if e.chain()
                .any(|c| c.is::<BadInput>() || c.is::<config::ConfigError>())
            {
                ExitCode::from(2)
            } else {
                ExitCode::from(1)
            }
        }
    }
}

/// An error and its causes on one line, each said once: a cause whose text the message
/// before it already contains (errors that quote their source) is not repeated.
fn chain(e: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if out.contains(&text) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&text);
    }
    out
}

/// Sets up logging on stderr: `RUST_LOG` wins, else the given level. Records of libraries
/// that log through the `log` crate go through [`crate::normalize::liblog`].
pub fn init_logging(level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(format!("nightwatch={level},warn")));
    let subscriber = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .finish();
    if tracing::subscriber::set_global_default(subscriber).is_ok() {
        crate::normalize::liblog::install();
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}

fn run(
    config_path: Option<PathBuf>,
    listen: Option<String>,
    demo: bool,
) -> anyhow::Result<ExitCode> {
    let mut config = config::load(config_path.as_deref())?;
    if let Some(l) = &listen {
        // Checked like the file's: a `--listen` off loopback needs the token too.
        config.api.listen.clone_from(l);
    }
    init_logging(&config.log.level);
    // The daemon runs the start-up checks `validate` runs and refuses on the same problems.
    match runtime()?.block_on(daemon::run(
        config,
        RunOptions { listen, demo },
        CancellationToken::new(),
        None,
    )) {
        Ok(()) => Ok(ExitCode::SUCCESS),
        Err(e @ daemon::DaemonError::Invalid(_)) => Err(BadInput(e.to_string()).into()),
        Err(e) => Err(e.into()),
    }
}

fn history_command(
    state_dir: Option<PathBuf>,
    config_path: Option<PathBuf>,
    command: HistoryCommand,
) -> anyhow::Result<ExitCode> {
    let config = config::load(config_path.as_deref())?;
    let dir = state_dir.unwrap_or_else(|| config.state.dir.clone());
    match command {
        HistoryCommand::List { limit, json } => history::list(&dir, limit, json),
        HistoryCommand::Show { case_id } => history::show(&dir, &case_id),
        HistoryCommand::Export { out } => history::export(&dir, out.as_deref()),
        HistoryCommand::Compact {
            retention_days,
            max_cases,
            max_bytes,
        } => history::compact(
            &dir,
            retention_days.unwrap_or(config.history.retention_days),
            max_cases.unwrap_or(config.history.max_cases),
            max_bytes.unwrap_or(config.history.max_bytes),
        ),
    }
}

/// `validate`: the daemon's start-up checks ([`crate::preflight`]), printed. Exit 2 exactly
/// when `run` would refuse to start.
/// `--role` of `nightwatch analyst`.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum AnalystRole {
    Viewer,
    Analyst,
    Admin,
}

fn analyst(name: &str, role: AnalystRole) -> anyhow::Result<ExitCode> {
    use crate::api::identity::{self, Role};
    let role = match role {
        AnalystRole::Viewer => Role::Viewer,
        AnalystRole::Analyst => Role::Analyst,
        AnalystRole::Admin => Role::Admin,
    };
    let token = identity::new_token().map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
    let entry = format!(
        "[[api.analysts]]\nname = {}\nrole = \"{}\"\ntoken_sha256 = \"{}\"\n",
        toml::Value::String(name.to_owned()),
        role.as_str(),
        identity::token_sha256(&token)
    );
    let problems = identity::problems(&[identity::AnalystConfig {
        name: name.to_owned(),
        role,
        token_sha256: identity::token_sha256(&token),
    }]);
    if let Some(p) = problems.first() {
        eprintln!("{}: {}", p.key.replace("api.analysts[0].", ""), p.message);
        return Ok(ExitCode::from(2));
    }
    eprintln!("token for {name} (shown once; the configuration keeps only its hash):");
    println!("{token}");
    eprintln!("\nadd to the configuration:\n");
    eprint!("{entry}");
    Ok(ExitCode::SUCCESS)
}

fn validate(config_path: Option<PathBuf>) -> anyhow::Result<ExitCode> {
    let config = match config::load(config_path.as_deref()) {
        Ok(c) => c,
        Err(e) => {
            println!("{e}");
            return Ok(ExitCode::from(2));
        }
    };
    let checked = crate::preflight::check(&config);
    let origin = config_path
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| "<embedded default>".to_owned());
    let code = if checked.problems.is_empty() {
        println!("{origin}: ok ({} rules)", checked.rules.len());
        ExitCode::SUCCESS
    } else {
        println!("{origin}: {} problem(s)", checked.problems.len());
        for p in &checked.problems {
            println!("  - {p}");
        }
        ExitCode::from(2)
    };
    for e in &checked.rejected {
        println!("  warning: rule rejected (run starts without it): {e}");
    }
    Ok(code)
}

fn demo_generate(
    scenario: &str,
    seed: u64,
    events: usize,
    benign_ratio: f64,
    out: &std::path::Path,
) -> anyhow::Result<ExitCode> {
    use std::io::Write;
    let scenario: demo::Scenario = scenario
        .parse()
        .map_err(|_| BadInput(format!("unknown scenario `{scenario}` (known: intrusion)")))?;
    if !(0.0..=1.0).contains(&benign_ratio) {
        return Err(BadInput("--benign-ratio must be between 0 and 1".into()).into());
    }
    let cfg = demo::ScenarioConfig {
        seed,
        events,
        benign_ratio,
        ..Default::default()
    };
    let file = std::fs::File::create(out).with_context(|| format!("creating {}", out.display()))?;
    let mut w = std::io::BufWriter::new(file);
    let mut n = 0usize;
    for event in demo::stream(scenario, &cfg) {
        serde_json::to_writer(&mut w, &event)?;
        w.write_all(b"\n")?;
        n += 1;
    }
    w.flush()
        .with_context(|| format!("writing {}", out.display()))?;
    eprintln!("wrote {n} events to {}", out.display());
    Ok(ExitCode::SUCCESS)
}
