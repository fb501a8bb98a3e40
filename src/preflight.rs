//! Start-up checks, one code path for `nightwatch validate` and `nightwatch run`.
//!
//! [`check`] runs everything that decides whether the daemon can start with a configuration:
//! the value checks of [`Config::validate`], the rules (compiled here, and handed to the
//! daemon so they are compiled once), and the file system as the daemon will use it. Every
//! problem names its key path. `validate` prints them and exits 2; `run` refuses to start on
//! the same list, so what `validate` accepts starts and what it refuses does not.
//!
//! Problems beyond [`Config::validate`]:
//! * `rules.paths`: a configured path that does not exist (the default `rules` may be
//!   missing), and no rule loaded at all unless `rules.allow_empty = true`;
//! * `rules.placeholders`: a placeholder file that does not load;
//! * `state.dir`: not a directory, not creatable, not writable; an audit log that cannot be
//!   appended to;
//! * `outputs.NAME.path` (JSONL outputs) and `dead_letter.path`: their directory missing
//!   (only `state.dir`, which the daemon creates, may be missing), not writable, or the file
//!   not appendable;
//! * `intel.feeds`: a feed path that does not exist (with `intel.enabled`);
//! * `verdict.runbooks_dir`: a runbook directory that does not load;
//! * `llm`: summaries turned on (by the file or the `LLM_*` environment) in a build without the
//!   `llm` feature. Kafka tables in a build without `kafka` are refused by [`Config::validate`].
//!
//! Writability is probed by creating and removing a file (`.nightwatch-probe-<pid>`) in the
//! directory, so it is right for root, ACLs and read-only mounts alike.
//!
//! Rules rejected while others load are not a problem: the daemon starts without them, logs
//! each, and counts them in `nightwatch_rules_rejected_total`; `validate` lists them as
//! warnings (`nightwatch rules check` is the strict rule linter, exiting 2 on any).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::base::Problem;
use crate::config::Config;
use crate::detect::{self, LoadOptions, RuleError, RuleSet};
use crate::outputs::OutputConfig;

/// The default of `rules.paths`, which may be missing (no rule pack installed).
const DEFAULT_RULES: &str = "rules";

/// What the start-up checks found.
#[derive(Debug)]
pub struct Preflight {
    /// Every problem, each with its key path; the daemon does not start on any.
    pub problems: Vec<Problem>,
    /// The compiled rules.
    pub rules: Arc<RuleSet>,
    /// Rules that did not compile (the others run).
    pub rejected: Vec<RuleError>,
}

/// Runs every start-up check on `config`.
pub fn check(config: &Config) -> Preflight {
    let mut problems = config.validate();
    problems.extend(llm_problem(config, |var| std::env::var(var).ok()));
    problems.extend(state_problems(config));
    problems.extend(output_problems(config));
    if config.intel.enabled {
        for feed in config.intel.feeds.iter().filter(|f| !f.exists()) {
            problems.push(problem(
                "intel.feeds",
                format!("{} does not exist", feed.display()),
            ));
        }
    }
    if let Err(e) = crate::verdict::Runbooks::load(&config.verdict.runbooks_dir) {
        problems.push(problem("verdict.runbooks_dir", e.to_string()));
    }
    let (rules, rejected) = load_rules(config, &mut problems);
    Preflight {
        problems,
        rules: Arc::new(rules),
        rejected,
    }
}

/// `llm`: a build without the `llm` feature cannot summarize, so a configuration (file and
/// environment, looked up with `env`) that turns summaries on is refused, not ignored.
fn llm_problem(config: &Config, env: impl Fn(&str) -> Option<String>) -> Option<Problem> {
    if cfg!(feature = "llm") {
        return None;
    }
    crate::llm::resolve(&config.llm, env).map(|_| {
        problem(
            "llm",
            crate::features::missing(crate::features::Feature::Llm),
        )
    })
}

fn problem(key: impl Into<String>, message: impl Into<String>) -> Problem {
    Problem {
        key: key.into(),
        message: message.into(),
    }
}

/// Compiles the configured rules; missing paths, a placeholder file that does not load and
/// an empty rule set (unless allowed) are problems.
fn load_rules(config: &Config, problems: &mut Vec<Problem>) -> (RuleSet, Vec<RuleError>) {
    let (present, missing): (Vec<PathBuf>, Vec<PathBuf>) =
        config.rules.paths.iter().cloned().partition(|p| p.exists());
    for p in missing.iter().filter(|p| p.as_os_str() != DEFAULT_RULES) {
        problems.push(problem(
            "rules.paths",
            format!("{} does not exist", shown_path(p)),
        ));
    }
    let placeholders = match config.placeholders_path().filter(|p| p.is_file()) {
        Some(p) => detect::load_placeholders(p).unwrap_or_else(|e| {
            problems.push(problem("rules.placeholders", e.to_string()));
            Default::default()
        }),
        // A configured file that is missing is reported by `Config::validate`.
        None => Default::default(),
    };
    let report = detect::load(
        &present,
        &LoadOptions {
            placeholders,
            ignore_logsource: false,
        },
    );
    if report.rules.is_empty() && !config.rules.allow_empty {
        let why = if config.rules.paths.is_empty() {
            "no rule path is configured".to_owned()
        } else if !report.rejected.is_empty() {
            format!(
                "none of the {} rules found compiled (first: {})",
                report.rejected.len(),
                report.rejected[0]
            )
        } else {
            let searched: Vec<String> = config.rules.paths.iter().map(|p| shown_path(p)).collect();
            format!("no rule found in {}", searched.join(", "))
        };
        problems.push(problem(
            "rules.paths",
            format!(
                "no rules loaded: {why}; the daemon would detect nothing (set rules.allow_empty = true to run without rules)"
            ),
        ));
    }
    (report.rules, report.rejected)
}

/// A path as the user should read it: relative paths also show the directory they resolve in.
fn shown_path(p: &Path) -> String {
    match std::env::current_dir() {
        Ok(cwd) if p.is_relative() => format!("{} (in {})", p.display(), cwd.display()),
        _ => p.display().to_string(),
    }
}

fn state_problems(config: &Config) -> Vec<Problem> {
    let dir = &config.state.dir;
    if let Err(m) = dir_usable(dir) {
        return vec![problem("state.dir", m)];
    }
    let audit = dir.join("audit.jsonl");
    match file_appendable(&audit) {
        Err(m) => vec![problem("state.dir", format!("audit log {m}"))],
        Ok(()) => Vec::new(),
    }
}

fn output_problems(config: &Config) -> Vec<Problem> {
    let mut files: Vec<(String, PathBuf)> = config
        .outputs
        .iter()
        .filter_map(|(name, o)| match o {
            OutputConfig::Jsonl(j) if !j.path.as_os_str().is_empty() => {
                Some((format!("outputs.{name}.path"), j.path.clone()))
            }
            _ => None,
        })
        .collect();
    if !config.dead_letter.path.is_empty() {
        files.push((
            "dead_letter.path".to_owned(),
            PathBuf::from(&config.dead_letter.path),
        ));
    }
    files
        .into_iter()
        .filter_map(|(key, path)| {
            output_file_usable(&path, &config.state.dir)
                .err()
                .map(|m| problem(key, m))
        })
        .collect()
}

/// A directory the daemon writes in: existing and writable, or creatable.
fn dir_usable(dir: &Path) -> Result<(), String> {
    match std::fs::metadata(dir) {
        Ok(m) if m.is_dir() => {
            probe(dir).map_err(|e| format!("{} is not writable: {e}", dir.display()))
        }
        Ok(_) => Err(format!("{} exists and is not a directory", dir.display())),
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory
            ) =>
        {
            let ancestor = existing_ancestor(dir);
            match std::fs::metadata(&ancestor) {
                Ok(m) if m.is_dir() => probe(&ancestor).map_err(|e| {
                    format!(
                        "{} cannot be created: {} is not writable: {e}",
                        dir.display(),
                        ancestor.display()
                    )
                }),
                Ok(_) => Err(format!(
                    "{} cannot be created: {} is not a directory",
                    dir.display(),
                    ancestor.display()
                )),
                Err(e) => Err(format!("{} cannot be created: {e}", dir.display())),
            }
        }
        Err(e) => Err(format!("{} cannot be used: {e}", dir.display())),
    }
}

/// The nearest ancestor of `path` that exists (`.` for a relative path with none).
fn existing_ancestor(path: &Path) -> PathBuf {
    path.ancestors()
        .skip(1)
        .map(|a| {
            if a.as_os_str().is_empty() {
                Path::new(".")
            } else {
                a
            }
        })
        .find(|a| std::fs::symlink_metadata(a).is_ok())
        .unwrap_or(Path::new("."))
        .to_path_buf()
}

/// A file the daemon appends to: if it exists, it opens for appending (nothing is written).
fn file_appendable(path: &Path) -> Result<(), String> {
    match std::fs::metadata(path) {
        Ok(m) if m.is_dir() => Err(format!("{} is a directory", path.display())),
        Ok(_) => std::fs::OpenOptions::new()
            .append(true)
            .open(path)
            .map(drop)
            .map_err(|e| format!("{} cannot be opened for appending: {e}", path.display())),
        Err(_) => Ok(()),
    }
}

/// An output file: appendable if it exists, else in an existing writable directory (or in
/// `state_dir`, which the daemon creates at start-up).
fn output_file_usable(path: &Path, state_dir: &Path) -> Result<(), String> {
    if path.exists() {
        return file_appendable(path);
    }
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    if !parent.exists() {
        if same_dir(parent, state_dir) {
            return Ok(());
        }
        return Err(format!(
            "directory {} does not exist (nightwatch creates only state.dir)",
            parent.display()
        ));
    }
    if !parent.is_dir() {
        return Err(format!("{} is not a directory", parent.display()));
    }
    probe(parent).map_err(|e| format!("directory {} is not writable: {e}", parent.display()))
}

/// Whether two paths name the same directory, compared lexically (neither may exist yet).
fn same_dir(a: &Path, b: &Path) -> bool {
    let absolute = |p: &Path| {
        let p = if p.is_relative() {
            std::env::current_dir().unwrap_or_default().join(p)
        } else {
            p.to_path_buf()
        };
        p.components().collect::<PathBuf>()
    };
    absolute(a) == absolute(b)
}

/// Creates and removes a file in `dir`.
fn probe(dir: &Path) -> std::io::Result<()> {
    let path = dir.join(format!(".nightwatch-probe-{}", std::process::id()));
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)?;
    std::fs::remove_file(&path)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn config(dir: &Path, body: &str) -> Config {
        let rules = Path::new(env!("CARGO_MANIFEST_DIR")).join("rules");
        let text = format!(
            "[rules]\npaths = [{rules:?}]\n[state]\ndir = {state:?}\n{body}",
            state = dir.join("state"),
        );
        crate::config::parse(&text, "test", std::iter::empty()).unwrap()
    }

    fn keys(p: &Preflight) -> Vec<(&str, &str)> {
        p.problems
            .iter()
            .map(|p| (p.key.as_str(), p.message.as_str()))
            .collect()
    }

    #[test]
    fn summaries_turned_on_are_refused_by_a_build_without_llm() {
        let dir = tempfile::tempdir().unwrap();
        let off = config(dir.path(), "");
        assert_eq!(llm_problem(&off, |_| None), None);
        let on_by_file = config(dir.path(), "[llm]\napi_key = \"k\"\n");
        let on_by_env = |var: &str| (var == crate::llm::ENV_API_KEY).then(|| "k".to_owned());
        for found in [
            llm_problem(&on_by_file, |_| None),
            llm_problem(&off, on_by_env),
        ] {
            if cfg!(feature = "llm") {
                assert_eq!(found, None);
            } else {
                let found = found.expect("refused");
                assert_eq!(
                    found.to_string(),
                    "llm: this build has no LLM support: rebuild with --features llm"
                );
            }
        }
    }

    #[test]
    fn a_usable_config_has_no_problem_and_compiles_the_rules() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("state").join("verdicts.jsonl");
        let p = check(&config(
            dir.path(),
            &format!("[outputs.a]\ntype = \"jsonl\"\npath = {out:?}\n"),
        ));
        assert!(p.problems.is_empty(), "{:?}", p.problems);
        assert!(!p.rules.is_empty());
        assert!(!dir.path().join("state").exists(), "checks create nothing");
    }

    #[test]
    fn no_rules_is_a_problem_unless_allowed() {
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("empty");
        std::fs::create_dir(&empty).unwrap();
        let body = format!("[rules]\npaths = [{empty:?}]\n");
        let text = format!("{body}[state]\ndir = {:?}\n", dir.path().join("state"));
        let c = crate::config::parse(&text, "test", std::iter::empty()).unwrap();
        let p = check(&c);
        let found = keys(&p);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].0, "rules.paths");
        assert!(found[0].1.contains("rules.allow_empty"), "{found:?}");
        let allowed = crate::config::parse(
            &format!("{text}\n"),
            "test",
            [(
                "NIGHTWATCH__RULES__ALLOW_EMPTY".to_owned(),
                "true".to_owned(),
            )]
            .into_iter(),
        )
        .unwrap();
        assert!(check(&allowed).problems.is_empty());
        // Every rule rejected: the same problem, naming the first rejection.
        std::fs::write(
            empty.join("bad.yml"),
            "title: x\ndetection:\n  condition: nope\n",
        )
        .unwrap();
        let p = check(&c);
        assert!(
            p.problems[0].message.contains("none of the 1 rules"),
            "{:?}",
            p.problems
        );
        assert_eq!(p.rejected.len(), 1);
    }

    #[test]
    fn unusable_state_dirs_missing_output_dirs_and_feeds_name_their_keys() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("a-file");
        std::fs::write(&file, "x").unwrap();
        let text = format!(
            "[rules]\npaths = [{rules:?}]\n[state]\ndir = {state:?}\n\
             [outputs.archive]\ntype = \"jsonl\"\npath = {out:?}\n\
             [dead_letter]\npath = {dead:?}\n[intel]\nfeeds = [{feed:?}]\n",
            rules = Path::new(env!("CARGO_MANIFEST_DIR")).join("rules"),
            state = file.join("state"),
            out = dir.path().join("missing").join("v.jsonl"),
            dead = dir.path().join("missing2").join("d.jsonl"),
            feed = dir.path().join("feed.csv"),
        );
        let c = crate::config::parse(&text, "test", std::iter::empty()).unwrap();
        let p = check(&c);
        let found: Vec<&str> = keys(&p).iter().map(|(k, _)| *k).collect();
        assert_eq!(
            found,
            [
                "state.dir",
                "outputs.archive.path",
                "dead_letter.path",
                "intel.feeds"
            ],
            "{:?}",
            p.problems
        );
        assert!(p.problems[0].message.contains("is not a directory"));
        assert!(p.problems[1].message.contains("does not exist"));
        // A state directory that is a file.
        assert!(dir_usable(&file).unwrap_err().contains("not a directory"));
    }

    #[test]
    fn outputs_in_the_state_dir_may_wait_for_it() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state");
        assert!(output_file_usable(&state.join("dead.jsonl"), &state).is_ok());
        assert!(output_file_usable(&state.join("sub").join("dead.jsonl"), &state).is_err());
        let existing_dir = dir.path().join("d");
        std::fs::create_dir(&existing_dir).unwrap();
        assert!(
            output_file_usable(&existing_dir, &state)
                .unwrap_err()
                .contains("is a directory")
        );
    }
}
