//! `rules test --dataset`: run rules over labelled telemetry and score them.
//!
//! The dataset is read with the same file input and parsers as `scan`, evaluated in file order
//! with the single-event rules and a correlator. An event is *flagged* by a rule when an
//! emitting single-event rule matched it or when it contributed to an emitting correlation
//! match. Labels (format in `rules/README.md`) say, per event or per input file, whether it is
//! malicious or benign, or which rule ids must fire on it.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Serialize;
use tokio_util::sync::CancellationToken;
use yaml_rust2::{Yaml, YamlLoader};

use crate::detect::{CorrelationLimits, Correlator, RuleSet};
use crate::event::{Event, scalar_str};
use crate::flow::channel;
use crate::inputs::file;
use crate::metrics::Metrics;
use crate::normalize::{self, Format};

/// A label file that could not be read or understood.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {reason}")]
pub struct LabelError {
    pub path: String,
    pub reason: String,
}

/// What an event or input is, per the labels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Truth {
    Malicious,
    Benign,
    /// Exactly these rules should fire (empty: benign).
    Rules(BTreeSet<String>),
    /// Not scored.
    Skip,
}

impl Truth {
    fn malicious(&self) -> bool {
        match self {
            Truth::Malicious => true,
            Truth::Rules(r) => !r.is_empty(),
            Truth::Benign | Truth::Skip => false,
        }
    }

    /// Whether `rule` firing is expected.
    fn positive_for(&self, rule: &str) -> bool {
        match self {
            Truth::Rules(r) => r.contains(rule),
            other => other.malicious(),
        }
    }
}

/// One `events:` entry.
#[derive(Debug)]
struct ByPosition {
    /// Suffix of the event's source path.
    input: String,
    index: Option<u64>,
    truth: Truth,
}

/// Parsed labels.
#[derive(Debug)]
pub struct Labels {
    default: Truth,
    field: Option<String>,
    malicious_values: Vec<String>,
    benign_values: Vec<String>,
    events: Vec<ByPosition>,
}

/// Scoring unit: every event, or every input file (flagged when any of its events is).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Unit {
    Event,
    Input,
}

fn truth_from(y: &Yaml) -> Option<Truth> {
    match y {
        Yaml::String(s) => Some(match s.to_ascii_lowercase().as_str() {
            "malicious" => Truth::Malicious,
            "benign" => Truth::Benign,
            "skip" => Truth::Skip,
            _ => Truth::Rules(BTreeSet::from([s.clone()])),
        }),
        Yaml::Array(a) => Some(Truth::Rules(
            a.iter()
                .filter_map(|x| x.as_str().map(String::from))
                .collect(),
        )),
        _ => None,
    }
}

fn lower_list(y: &Yaml) -> Vec<String> {
    y.as_vec()
        .into_iter()
        .flatten()
        .filter_map(|v| match v {
            Yaml::String(s) => Some(s.to_ascii_lowercase()),
            Yaml::Integer(i) => Some(i.to_string()),
            _ => None,
        })
        .collect()
}

impl Labels {
    /// Reads a label file (YAML).
    pub fn load(path: &Path) -> Result<Self, LabelError> {
        let err = |reason: String| LabelError {
            path: path.display().to_string(),
            reason,
        };
        let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
        Self::parse(&text).map_err(err)
    }

    pub fn parse(text: &str) -> Result<Self, String> {
        let docs = YamlLoader::load_from_str(text).map_err(|e| e.to_string())?;
        let doc = docs.first().ok_or("empty label file")?;
        let default = match &doc["default"] {
            Yaml::BadValue => Truth::Benign,
            y => truth_from(y).ok_or("default must be malicious, benign, skip or rule ids")?,
        };
        let by = &doc["by_field"];
        let field = by["field"].as_str().map(String::from);
        let mut events = Vec::new();
        for (i, e) in doc["events"].as_vec().into_iter().flatten().enumerate() {
            let input = e["input"]
                .as_str()
                .ok_or_else(|| format!("events[{i}]: input missing"))?
                .to_owned();
            let index = e["index"].as_i64().map(|n| n.max(0) as u64);
            let truth = truth_from(&e["expect"]).ok_or_else(|| {
                format!("events[{i}]: expect must be malicious, benign, skip or rule ids")
            })?;
            events.push(ByPosition {
                input,
                index,
                truth,
            });
        }
        if field.is_none() && events.is_empty() && matches!(doc["default"], Yaml::BadValue) {
            return Err("label file needs `default`, `by_field` or `events`".into());
        }
        Ok(Self {
            default,
            field,
            malicious_values: lower_list(&by["malicious"]),
            benign_values: lower_list(&by["benign"]),
            events,
        })
    }

    /// The truth for one event: a positional entry (most specific wins), else the label field,
    /// else the default.
    fn truth(&self, e: &Event) -> Truth {
        let source = e.origin.source.replace('\\', "/");
        let mut best: Option<&ByPosition> = None;
        for p in &self.events {
            if !source.ends_with(&p.input) || p.index.is_some_and(|i| i != e.origin.index) {
                continue;
            }
            if best.is_none_or(|b| b.index.is_none() && p.index.is_some()) {
                best = Some(p);
            }
        }
        if let Some(b) = best {
            return b.truth.clone();
        }
        if let Some(f) = &self.field
            && let Some(v) = e.fields.get(f).and_then(scalar_str)
        {
            let v = v.to_ascii_lowercase();
            if self.malicious_values.contains(&v) {
                return Truth::Malicious;
            }
            if self.benign_values.contains(&v) {
                return Truth::Benign;
            }
        }
        self.default.clone()
    }
}

/// Confusion counts.
#[derive(Debug, Default, Clone, Copy, Serialize)]
pub struct Counts {
    pub tp: u64,
    pub fp: u64,
    pub tn: u64,
    pub fn_: u64,
}

impl Counts {
    fn add(&mut self, predicted: bool, actual: bool) {
        match (predicted, actual) {
            (true, true) => self.tp += 1,
            (true, false) => self.fp += 1,
            (false, false) => self.tn += 1,
            (false, true) => self.fn_ += 1,
        }
    }

    pub fn precision(&self) -> Option<f64> {
        let d = self.tp + self.fp;
        (d > 0).then(|| self.tp as f64 / d as f64)
    }

    pub fn recall(&self) -> Option<f64> {
        let d = self.tp + self.fn_;
        (d > 0).then(|| self.tp as f64 / d as f64)
    }
}

/// The outcome of a dataset run.
#[derive(Debug, Serialize)]
pub struct Score {
    pub unit: &'static str,
    pub events: u64,
    pub parse_errors: usize,
    pub scored: u64,
    pub overall: Counts,
    /// Per emitting rule that fired or was expected: (id, title) → counts.
    pub rules: BTreeMap<String, (String, Counts)>,
    /// With `--unit input`: every input, whether it is malicious, and the rules that flagged it.
    pub inputs: Vec<InputOutcome>,
}

/// One input file's outcome (`--unit input`).
#[derive(Debug, Serialize)]
pub struct InputOutcome {
    pub input: String,
    pub malicious: bool,
    pub fired: Vec<String>,
    /// The ATT&CK techniques the fired rules are attributed (tags and reviewed overrides).
    pub techniques: Vec<String>,
    /// The ATT&CK tactics (short names) of the fired rules: tagged, or of their techniques.
    pub tactics: Vec<String>,
}

/// What one scoring unit saw: its truth and the rules that flagged it.
struct Unit_ {
    truth: Truth,
    fired: BTreeSet<String>,
}

/// Reads the dataset, runs the rules and scores them against the labels.
pub fn evaluate(
    rules: &Arc<RuleSet>,
    dataset: &[PathBuf],
    forced: Option<Format>,
    labels: &Labels,
    unit: Unit,
) -> anyhow::Result<Score> {
    let metrics = Metrics::new()?;
    let (raw_tx, raw_rx) = channel::bounded("rules_test_raw", 1024, &metrics);
    let (dead_tx, dead_rx) = channel::bounded("rules_test_dead", 1024, &metrics);
    let paths = dataset.to_vec();
    let dead_counter = std::thread::spawn(move || {
        let mut n = 0usize;
        while dead_rx.recv_blocking().is_ok() {
            n += 1;
        }
        n
    });
    let reader = std::thread::spawn(move || {
        file::read_paths(
            Arc::from("file"),
            &paths,
            &file::FileOptions {
                forced,
                ..Default::default()
            },
            &raw_tx,
            &dead_tx,
            &CancellationToken::new(),
        )
    });
    let limits = CorrelationLimits {
        max_events_in_match: 10_000,
        ..CorrelationLimits::default()
    };
    let mut correlator = Correlator::new(rules.clone(), limits);
    // Event index in read order → its unit key; units keyed by (source, index) or source.
    let mut keys: Vec<Key> = Vec::new();
    let mut by_event_id: HashMap<crate::event::EventId, usize> = HashMap::new();
    let mut units: BTreeMap<Key, Unit_> = BTreeMap::new();
    let mut matches = Vec::new();
    let mut corr = Vec::new();
    let mut events = 0u64;
    let mut parse_errors = 0usize;
    while let Ok(record) = raw_rx.recv_blocking() {
        for parsed in normalize::parse(record) {
            let event = match parsed {
                Ok(e) => Arc::new(e),
                Err(_) => {
                    parse_errors += 1;
                    continue;
                }
            };
            events += 1;
            let key = match unit {
                Unit::Event => (event.origin.source.to_string(), Some(event.origin.index)),
                Unit::Input => (event.origin.source.to_string(), None),
            };
            let truth = labels.truth(&event);
            let entry = units.entry(key.clone()).or_insert(Unit_ {
                truth: truth.clone(),
                fired: BTreeSet::new(),
            });
            // An input is malicious when any of its events is labelled so, skipped only when
            // all of its events are.
            let upgrade = (entry.truth == Truth::Skip && truth != Truth::Skip)
                || (entry.truth == Truth::Benign && truth.malicious());
            if unit == Unit::Input && upgrade {
                entry.truth = truth;
            }
            by_event_id.insert(event.id.clone(), keys.len());
            keys.push(key.clone());
            matches.clear();
            rules.matches(&event, &mut matches);
            for m in matches.iter().filter(|m| m.emit) {
                flag(&mut units, &key, &m.rule.id);
            }
            corr.clear();
            correlator.observe(&event, &matches, &mut corr);
            for c in &corr {
                for e in &c.events {
                    if let Some(k) = by_event_id.get(&e.id).and_then(|i| keys.get(*i)) {
                        flag(&mut units, k, &c.rule.id);
                    }
                }
            }
        }
    }
    corr.clear();
    correlator.flush(&mut corr);
    for c in &corr {
        for e in &c.events {
            if let Some(k) = by_event_id.get(&e.id).and_then(|i| keys.get(*i)) {
                flag(&mut units, k, &c.rule.id);
            }
        }
    }
    drop(raw_rx);
    let _ = reader.join();
    parse_errors += dead_counter.join().unwrap_or(0);
    Ok(score(rules, unit, events, parse_errors, &units))
}

type Key = (String, Option<u64>);

fn flag(units: &mut BTreeMap<Key, Unit_>, key: &Key, rule: &str) {
    if let Some(u) = units.get_mut(key) {
        u.fired.insert(rule.to_owned());
    }
}

fn score(
    rules: &RuleSet,
    unit: Unit,
    events: u64,
    parse_errors: usize,
    units: &BTreeMap<Key, Unit_>,
) -> Score {
    let scored_units: Vec<&Unit_> = units.values().filter(|u| u.truth != Truth::Skip).collect();
    let mut overall = Counts::default();
    for u in &scored_units {
        overall.add(!u.fired.is_empty(), u.truth.malicious());
    }
    // Rules that fired on, or were expected for, any scored unit.
    let mut per: BTreeMap<String, (String, Counts)> = BTreeMap::new();
    for r in rules.rules() {
        let relevant = scored_units.iter().any(|u| {
            u.fired.contains(&r.id) || matches!(&u.truth, Truth::Rules(x) if x.contains(&r.id))
        });
        if relevant {
            per.insert(r.id.clone(), (r.title.clone(), Counts::default()));
        }
    }
    for (id, (_, c)) in per.iter_mut() {
        for u in &scored_units {
            c.add(u.fired.contains(id), u.truth.positive_for(id));
        }
    }
    Score {
        unit: match unit {
            Unit::Event => "event",
            Unit::Input => "input",
        },
        events,
        parse_errors,
        scored: scored_units.len() as u64,
        overall,
        rules: per,
        inputs: match unit {
            Unit::Event => Vec::new(),
            Unit::Input => units
                .iter()
                .filter(|(_, u)| u.truth != Truth::Skip)
                .map(|((input, _), u)| {
                    let (techniques, tactics) = attribution(rules, &u.fired);
                    InputOutcome {
                        input: input.clone(),
                        malicious: u.truth.malicious(),
                        fired: u.fired.iter().cloned().collect(),
                        techniques,
                        tactics,
                    }
                })
                .collect(),
        },
    }
}

/// The techniques and tactics attributed to the rules `fired`, each sorted without duplicates.
fn attribution(rules: &RuleSet, fired: &BTreeSet<String>) -> (Vec<String>, Vec<String>) {
    let (mut techniques, mut tactics) = (BTreeSet::new(), BTreeSet::new());
    for r in rules.rules().filter(|r| fired.contains(&r.id)) {
        let (techs, tacs) = crate::attack::of_rule(&r.id, r.tags.iter().map(String::as_str));
        tactics.extend(tacs.iter().map(|t| t.shortname.to_owned()));
        for t in techs {
            techniques.insert(t.id.to_owned());
            tactics.extend(t.tactics.iter().map(|s| s.to_string()));
        }
    }
    (
        techniques.into_iter().collect(),
        tactics.into_iter().collect(),
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::detect::{LoadOptions, compile_str};

    const RULES: &str = "title: Bad process\nid: bad-1\ntags:\n    - attack.execution\n    - attack.t1059.001\nlogsource:\n    product: windows\ndetection:\n    sel:\n        Image|endswith: '\\evil.exe'\n    condition: sel\n---\ntitle: Noisy\nid: noisy-1\nlogsource:\n    product: windows\ndetection:\n    sel:\n        Image|endswith: '.exe'\n    condition: sel\n";

    fn ruleset() -> Arc<RuleSet> {
        let rep = compile_str(RULES, &LoadOptions::default());
        assert!(rep.rejected.is_empty(), "{:?}", rep.rejected);
        Arc::new(rep.rules)
    }

    fn dataset(dir: &Path) -> PathBuf {
        let p = dir.join("events.ndjson");
        let lines = [
            r#"{"Image":"C:\\evil.exe","verdict":"Malicious"}"#,
            r#"{"Image":"C:\\good.exe","verdict":"benign"}"#,
            r#"{"Image":"C:\\evil.exe","verdict":"benign"}"#,
            r#"{"Image":"C:\\calc.exe","verdict":"malicious"}"#,
        ];
        std::fs::write(&p, lines.join("\n") + "\n").unwrap();
        p
    }

    #[test]
    fn scores_by_label_field() {
        let dir = tempfile::tempdir().unwrap();
        let data = dataset(dir.path());
        let labels = Labels::parse(
            "by_field:\n  field: verdict\n  malicious: [malicious]\n  benign: [benign]\n",
        )
        .unwrap();
        let s = evaluate(
            &ruleset(),
            &[data],
            Some(Format::Json),
            &labels,
            Unit::Event,
        )
        .unwrap();
        assert_eq!(s.events, 4);
        let bad = s.rules["bad-1"].1;
        assert_eq!((bad.tp, bad.fp, bad.tn, bad.fn_), (1, 1, 1, 1));
        let noisy = s.rules["noisy-1"].1;
        assert_eq!((noisy.tp, noisy.fp, noisy.tn, noisy.fn_), (2, 2, 0, 0));
        assert_eq!(s.overall.precision(), Some(0.5));
        assert_eq!(s.overall.recall(), Some(1.0));
    }

    #[test]
    fn scores_by_position_and_expected_rules() {
        let dir = tempfile::tempdir().unwrap();
        let data = dataset(dir.path());
        let labels = Labels::parse(
            "default: benign\nevents:\n  - {input: events.ndjson, index: 0, expect: [bad-1]}\n  - {input: events.ndjson, index: 3, expect: skip}\n",
        )
        .unwrap();
        let s = evaluate(
            &ruleset(),
            std::slice::from_ref(&data),
            Some(Format::Json),
            &labels,
            Unit::Event,
        )
        .unwrap();
        assert_eq!(s.scored, 3);
        let bad = s.rules["bad-1"].1;
        assert_eq!((bad.tp, bad.fp, bad.tn, bad.fn_), (1, 1, 1, 0));
        let noisy = s.rules["noisy-1"].1;
        assert_eq!((noisy.tp, noisy.fp), (0, 3));
        let per_input = evaluate(
            &ruleset(),
            &[data],
            Some(Format::Json),
            &labels,
            Unit::Input,
        )
        .unwrap();
        assert_eq!(per_input.scored, 1);
        assert_eq!(per_input.overall.tp, 1);
        assert_eq!(per_input.inputs.len(), 1);
        assert!(per_input.inputs[0].malicious);
        assert_eq!(per_input.inputs[0].fired, vec!["bad-1", "noisy-1"]);
        assert_eq!(per_input.inputs[0].techniques, vec!["T1059.001"]);
        assert_eq!(per_input.inputs[0].tactics, vec!["execution"]);
    }

    #[test]
    fn bad_label_files_are_rejected() {
        assert!(Labels::parse("by_field: {malicious: [x]}\n").is_err());
        assert!(Labels::parse("events:\n  - {index: 1, expect: malicious}\n").is_err());
        assert!(Labels::parse("events:\n  - {input: a, expect: {x: 1}}\n").is_err());
    }
}
