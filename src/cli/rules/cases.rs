//! Rule test files (`rules/tests/<rule-id>.yml`): parsing and running them against a rule set.
//!
//! A test file names one rule and lists cases. A case is one event (`event:`) or a timed
//! sequence (`sequence:`) for correlations; it expects the rule to fire (`match`) or not
//! (`no_match`). Each case runs on a fresh [`Correlator`], so cases never leak state into each
//! other. The format is documented in `rules/README.md`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{DateTime, Duration, TimeZone, Utc};
use serde_json::{Map, Value};
use yaml_rust2::{Yaml, YamlLoader};

use crate::detect::{CorrelationLimits, Correlator, RuleSet};
use crate::event::{Event, Fields, LogSource, Origin};

/// Sequence items without a time start here and advance one second per event.
const DEFAULT_START: i64 = 1_795_000_000;

/// A rule test file that could not be read or understood.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {reason}")]
pub struct CaseFileError {
    pub path: String,
    pub reason: String,
}

/// What a case expects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    Match,
    NoMatch,
}

/// One case: events in time order, and the expectation.
#[derive(Debug)]
pub struct Case {
    pub name: String,
    pub expect: Expect,
    pub events: Vec<(DateTime<Utc>, LogSource, Map<String, Value>)>,
}

/// A parsed test file.
#[derive(Debug)]
pub struct TestFile {
    pub path: PathBuf,
    pub rule: String,
    pub cases: Vec<Case>,
}

/// The outcome of one case.
#[derive(Debug, Clone)]
pub struct CaseResult {
    pub file: PathBuf,
    pub rule: String,
    pub case: String,
    pub expect: Expect,
    pub fired: bool,
}

impl CaseResult {
    pub fn passed(&self) -> bool {
        self.fired == (self.expect == Expect::Match)
    }
}

fn err(path: &Path, reason: impl Into<String>) -> CaseFileError {
    CaseFileError {
        path: path.display().to_string(),
        reason: reason.into(),
    }
}

/// Converts YAML to JSON (scalars keep their YAML type; map keys must be strings).
pub fn yaml_to_json(y: &Yaml) -> Value {
    match y {
        Yaml::String(s) => Value::String(s.clone()),
        Yaml::Real(s) => s
            .parse::<f64>()
            .ok()
            .and_then(serde_json::Number::from_f64)
            .map_or_else(|| Value::String(s.clone()), Value::Number),
        Yaml::Integer(i) => Value::from(*i),
        Yaml::Boolean(b) => Value::Bool(*b),
        Yaml::Array(a) => Value::Array(a.iter().map(yaml_to_json).collect()),
        Yaml::Hash(h) => Value::Object(
            h.iter()
                .filter_map(|(k, v)| {
                    let k = match k {
                        Yaml::String(s) => s.clone(),
                        Yaml::Integer(i) => i.to_string(),
                        _ => return None,
                    };
                    Some((k, yaml_to_json(v)))
                })
                .collect(),
        ),
        _ => Value::Null,
    }
}

/// `5s`, `2m`, `1h`, `1d`, or a bare number of seconds.
fn parse_span(y: &Yaml) -> Option<Duration> {
    match y {
        Yaml::Integer(i) => Some(Duration::seconds(*i)),
        Yaml::String(s) => {
            let s = s.trim();
            if let Ok(n) = s.parse::<i64>() {
                return Some(Duration::seconds(n));
            }
            let (n, unit) = s.split_at(s.len().checked_sub(1)?);
            let n: i64 = n.trim().parse().ok()?;
            Some(match unit {
                "s" => Duration::seconds(n),
                "m" => Duration::minutes(n),
                "h" => Duration::hours(n),
                "d" => Duration::days(n),
                _ => return None,
            })
        }
        _ => None,
    }
}

fn parse_logsource(y: &Yaml) -> LogSource {
    LogSource::new(
        y["product"].as_str(),
        y["category"].as_str(),
        y["service"].as_str(),
    )
}

/// Replaces `{n}` in string values by the repetition number; a value that is exactly `{n}`
/// becomes a JSON number.
fn substitute(v: &Value, n: i64) -> Value {
    match v {
        Value::String(s) if s == "{n}" => Value::from(n),
        Value::String(s) if s.contains("{n}") => Value::String(s.replace("{n}", &n.to_string())),
        Value::Array(a) => Value::Array(a.iter().map(|x| substitute(x, n)).collect()),
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, x)| (k.clone(), substitute(x, n)))
                .collect(),
        ),
        other => other.clone(),
    }
}

fn event_map(path: &Path, y: &Yaml) -> Result<Map<String, Value>, CaseFileError> {
    match yaml_to_json(y) {
        Value::Object(m) => Ok(m),
        _ => Err(err(path, "`event` must be a map of fields")),
    }
}

fn parse_case(path: &Path, c: &Yaml) -> Result<Case, CaseFileError> {
    let name = c["name"].as_str().unwrap_or("(unnamed)").to_owned();
    let expect = match c["expect"].as_str() {
        Some("match") => Expect::Match,
        Some("no_match") => Expect::NoMatch,
        other => {
            return Err(err(
                path,
                format!("case {name:?}: expect must be match or no_match, got {other:?}"),
            ));
        }
    };
    let case_ls = parse_logsource(&c["logsource"]);
    let mut t = Utc
        .timestamp_opt(DEFAULT_START, 0)
        .single()
        .unwrap_or_default();
    let mut events = Vec::new();
    if !matches!(c["event"], Yaml::BadValue) {
        events.push((t, case_ls.clone(), event_map(path, &c["event"])?));
    }
    for item in c["sequence"].as_vec().into_iter().flatten() {
        if let Some(at) = item["time"].as_str() {
            t = crate::normalize::parse_time_str(at)
                .ok_or_else(|| err(path, format!("case {name:?}: bad time {at:?}")))?;
        }
        if !matches!(item["after"], Yaml::BadValue) {
            let gap = parse_span(&item["after"])
                .ok_or_else(|| err(path, format!("case {name:?}: bad `after`")))?;
            t += gap;
        }
        let every = match &item["every"] {
            Yaml::BadValue => Duration::seconds(1),
            y => parse_span(y).ok_or_else(|| err(path, format!("case {name:?}: bad `every`")))?,
        };
        let repeat = item["repeat"].as_i64().unwrap_or(1).clamp(1, 100_000);
        let start = item["start"].as_i64().unwrap_or(0);
        let ls = match &item["logsource"] {
            Yaml::BadValue => case_ls.clone(),
            y => parse_logsource(y),
        };
        let template = Value::Object(event_map(path, &item["event"])?);
        for k in 0..repeat {
            if k > 0 {
                t += every;
            }
            let Value::Object(m) = substitute(&template, start + k) else {
                continue;
            };
            events.push((t, ls.clone(), m));
        }
        t += Duration::seconds(1);
    }
    if events.is_empty() {
        return Err(err(
            path,
            format!("case {name:?} has neither `event` nor `sequence`"),
        ));
    }
    Ok(Case {
        name,
        expect,
        events,
    })
}

/// Parses one test file. Files whose first document has no `rule` key are not tests (`None`).
pub fn parse_file(path: &Path) -> Result<Option<TestFile>, CaseFileError> {
    let text = std::fs::read_to_string(path).map_err(|e| err(path, e.to_string()))?;
    let docs = YamlLoader::load_from_str(&text).map_err(|e| err(path, e.to_string()))?;
    let Some(doc) = docs.first() else {
        return Ok(None);
    };
    let Some(rule) = doc["rule"].as_str() else {
        return Ok(None);
    };
    let cases = doc["cases"]
        .as_vec()
        .ok_or_else(|| err(path, "`cases` must be a list"))?
        .iter()
        .map(|c| parse_case(path, c))
        .collect::<Result<Vec<_>, _>>()?;
    if cases.is_empty() {
        return Err(err(path, "no cases"));
    }
    Ok(Some(TestFile {
        path: path.to_path_buf(),
        rule: rule.to_owned(),
        cases,
    }))
}

/// Every test file under `dirs` (files and directories, `.yml`/`.yaml`), sorted by path.
pub fn discover(dirs: &[PathBuf]) -> Result<Vec<TestFile>, CaseFileError> {
    let mut paths = Vec::new();
    for d in dirs {
        for e in walkdir::WalkDir::new(d).sort_by_file_name().into_iter() {
            let e = e.map_err(|x| err(d, x.to_string()))?;
            let p = e.path();
            let yaml = matches!(p.extension().and_then(|x| x.to_str()), Some("yml" | "yaml"));
            if e.file_type().is_file() && yaml {
                paths.push(p.to_path_buf());
            }
        }
    }
    let mut out = Vec::new();
    for p in paths {
        if let Some(f) = parse_file(&p)? {
            out.push(f);
        }
    }
    Ok(out)
}

/// Whether `rule_id` fires on the case's events (single-event match, including rules only
/// referenced by correlations, or a correlation match, including at end of stream).
pub fn fires(rules: &Arc<RuleSet>, rule_id: &str, case: &Case) -> bool {
    let mut correlator = Correlator::new(rules.clone(), CorrelationLimits::default());
    let mut matches = Vec::new();
    let mut corr = Vec::new();
    for (i, (t, ls, fields)) in case.events.iter().enumerate() {
        let origin = Origin {
            input: Arc::from("rule-test"),
            source: Arc::from("case"),
            index: i as u64,
        };
        let mut e = Event::new(origin, *t, Fields::from(fields.clone()));
        e.time = *t;
        e.logsource = ls.clone();
        let e = Arc::new(e);
        matches.clear();
        rules.matches(&e, &mut matches);
        if matches.iter().any(|m| m.rule.id == rule_id) {
            return true;
        }
        correlator.observe(&e, &matches, &mut corr);
        if corr.iter().any(|m| m.rule.id == rule_id) {
            return true;
        }
    }
    correlator.flush(&mut corr);
    corr.iter().any(|m| m.rule.id == rule_id)
}

/// Runs every case of every file. A file naming a rule that is not loaded fails all its cases.
pub fn run(rules: &Arc<RuleSet>, files: &[TestFile]) -> Vec<CaseResult> {
    let mut out = Vec::new();
    for f in files {
        let known = rules.rules().any(|r| r.id == f.rule);
        for c in &f.cases {
            out.push(CaseResult {
                file: f.path.clone(),
                rule: f.rule.clone(),
                case: if known {
                    c.name.clone()
                } else {
                    format!("{} (rule not loaded)", c.name)
                },
                expect: c.expect,
                // A file for a rule that is not loaded never passes.
                fired: if known {
                    fires(rules, &f.rule, c)
                } else {
                    c.expect != Expect::Match
                },
            });
        }
    }
    out
}

/// Correlations that only feed another correlation (no alert of their own): their matches are
/// not observable, so their tests are the outer correlation's.
fn inner_links(rules: &RuleSet) -> Vec<&str> {
    rules
        .correlations
        .iter()
        .filter(|c| !c.emit)
        .map(|c| c.meta.id.as_str())
        .collect()
}

/// Rules that have no test file, and rules with no `match` case or no `no_match` case.
pub fn untested(rules: &RuleSet, files: &[TestFile]) -> Vec<String> {
    let inner = inner_links(rules);
    let mut out = Vec::new();
    for r in rules.rules().filter(|r| !inner.contains(&r.id.as_str())) {
        let cases: Vec<&Case> = files
            .iter()
            .filter(|f| f.rule == r.id)
            .flat_map(|f| &f.cases)
            .collect();
        let has = |x: Expect| cases.iter().any(|c| c.expect == x);
        if !has(Expect::Match) || !has(Expect::NoMatch) {
            out.push(format!(
                "{} ({}): needs at least one match and one no_match case",
                r.id, r.title
            ));
        }
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::detect::{LoadOptions, compile_str, load};

    const RULES: &str = "title: Failed logon\nid: fail-1\nname: fail\nlogsource:\n    product: windows\n    service: security\ndetection:\n    sel:\n        EventID: 4625\n    condition: sel\n---\ntitle: Many failures\nid: burst-1\ncorrelation:\n    type: event_count\n    rules: [fail]\n    group-by: [TargetUserName]\n    timespan: 1m\n    condition:\n        gte: 5\n";

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    fn ruleset() -> Arc<RuleSet> {
        let rep = compile_str(RULES, &LoadOptions::default());
        assert!(rep.rejected.is_empty(), "{:?}", rep.rejected);
        Arc::new(rep.rules)
    }

    #[test]
    fn sequences_repeat_space_and_substitute() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(
            dir.path(),
            "t.yml",
            "rule: burst-1\ncases:\n  - name: five in a minute\n    expect: match\n    sequence:\n      - {repeat: 5, every: 10s, event: {EventID: 4625, TargetUserName: bob, N: '{n}', S: 'u{n}'}}\n  - name: five over ten minutes\n    expect: no_match\n    sequence:\n      - {repeat: 5, every: 2m, event: {EventID: 4625, TargetUserName: bob}}\n  - name: five users once each\n    expect: no_match\n    sequence:\n      - {repeat: 5, start: 1, event: {EventID: 4625, TargetUserName: 'u{n}'}}\n",
        );
        let f = parse_file(&p).unwrap().unwrap();
        let ev = &f.cases[0].events;
        assert_eq!(ev.len(), 5);
        assert_eq!((ev[4].0 - ev[0].0).num_seconds(), 40);
        assert_eq!(ev[3].2["N"], Value::from(3));
        assert_eq!(ev[3].2["S"], Value::from("u3"));
        let rs = ruleset();
        let results = run(&rs, &[f]);
        assert!(results.iter().all(CaseResult::passed), "{results:?}");
    }

    #[test]
    fn a_wrong_expectation_fails_and_unknown_rules_fail() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(
            dir.path(),
            "t.yml",
            "rule: fail-1\ncases:\n  - name: not a failure\n    expect: match\n    event: {EventID: 4624}\n",
        );
        let q = write(
            dir.path(),
            "u.yml",
            "rule: nope\ncases:\n  - name: x\n    expect: no_match\n    event: {EventID: 4624}\n",
        );
        let rs = ruleset();
        let files = discover(&[p, q]).unwrap();
        let results = run(&rs, &files);
        assert_eq!(results.len(), 2);
        assert!(results.iter().all(|r| !r.passed()));
        assert_eq!(untested(&rs, &files).len(), 2);
    }

    #[test]
    fn inner_link_correlations_need_no_test_file_of_their_own() {
        let yaml = format!(
            "{RULES}---\ntitle: Then success\nid: chain-1\ncorrelation:\n    type: temporal_ordered\n    rules: [burst-link, ok]\n    group-by: [TargetUserName]\n    timespan: 5m\n---\ntitle: Burst link\nid: link-1\nname: burst-link\ncorrelation:\n    type: event_count\n    rules: [fail]\n    group-by: [TargetUserName]\n    timespan: 1m\n    condition:\n        gte: 5\n---\ntitle: Ok\nid: ok-1\nname: ok\nlogsource:\n    product: windows\n    service: security\ndetection:\n    sel:\n        EventID: 4624\n    condition: sel\n"
        );
        let rep = compile_str(&yaml, &LoadOptions::default());
        assert!(rep.rejected.is_empty(), "{:?}", rep.rejected);
        let missing = untested(&rep.rules, &[]);
        assert!(
            missing.iter().all(|m| !m.starts_with("link-1")),
            "{missing:?}"
        );
        assert!(
            missing.iter().any(|m| m.starts_with("chain-1")),
            "{missing:?}"
        );
    }

    #[test]
    fn malformed_cases_are_errors_with_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(
            dir.path(),
            "bad.yml",
            "rule: x\ncases:\n  - name: y\n    expect: maybe\n    event: {a: 1}\n",
        );
        let e = parse_file(&p).unwrap_err();
        assert!(e.to_string().contains("bad.yml"), "{e}");
        assert!(e.to_string().contains("maybe"), "{e}");
    }

    /// Every rule shipped in `rules/` has tests with both outcomes, and they all pass.
    #[test]
    fn shipped_rules_pass_their_tests() {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("rules");
        let rep = load(&[root.join("behavioral")], &LoadOptions::default());
        assert!(rep.rejected.is_empty(), "{:?}", rep.rejected);
        let rules = Arc::new(rep.rules);
        let files = discover(&[root.join("tests")]).unwrap();
        let results = run(&rules, &files);
        let failed: Vec<String> = results
            .iter()
            .filter(|r| !r.passed())
            .map(|r| format!("{} {}: {}", r.rule, r.file.display(), r.case))
            .collect();
        assert!(
            failed.is_empty(),
            "failing rule tests:\n{}",
            failed.join("\n")
        );
        let missing = untested(&rules, &files);
        assert!(
            missing.is_empty(),
            "rules without tests:\n{}",
            missing.join("\n")
        );
        assert!(rules.len() >= 30, "only {} rules", rules.len());
        println!("{} rules, {} cases passed", rules.len(), results.len());
    }
}
