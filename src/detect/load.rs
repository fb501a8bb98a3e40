//! Loading: files and directories → YAML documents → compiled [`RuleSet`].
//!
//! Every YAML document is classified as a detection (`detection:`), correlation
//! (`correlation:`) or filter (`filter:`) document. Detections compile first; then filters
//! attach to their target rules and correlations resolve their `rules` (by id or `name`,
//! correlations may chain). Anything that fails becomes a [`RuleError`] in the report; loading
//! continues with the next document. Legacy `action: global` multi-document files are rejected.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use yaml_rust2::{Yaml, YamlLoader};

use super::compile::{CompileCtx, compile_detection};
use super::correlation::{CorrelationDef, RawCorrelation, RuleRef, parse_correlation};
use super::filter::{ParsedFilter, compile_filter};
use super::index::Index;
use super::logsource::{Aliases, FieldTable, RuleSource};
use super::{
    DetRule, Level, LoadOptions, LoadReport, RuleError, RuleKind, RuleMeta, RuleSet, level_from_str,
};
use crate::event::LogSource;

/// Reads a placeholder file: a YAML map of name (without `%`) → list of values.
pub fn load_placeholders(path: &Path) -> Result<HashMap<String, Vec<String>>, RuleError> {
    let err = |r: String| RuleError::new(path, None, r);
    let text =
        std::fs::read_to_string(path).map_err(|e| err(format!("cannot read placeholders: {e}")))?;
    let docs = YamlLoader::load_from_str(&text).map_err(|e| err(format!("invalid yaml: {e}")))?;
    let mut out = HashMap::new();
    let Some(doc) = docs.into_iter().next() else {
        return Ok(out);
    };
    let Yaml::Hash(h) = doc else {
        return Err(err("placeholders must be a map of name to values".into()));
    };
    for (k, v) in h {
        let Some(name) = k.as_str() else {
            return Err(err("placeholder names must be strings".into()));
        };
        let name = name.trim_matches('%').to_string();
        let vals = match v {
            Yaml::Array(a) => a
                .iter()
                .map(|y| super::compile::scalar(y).and_then(|s| s.text()))
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| err(format!("placeholder '{name}' values must be scalars")))?,
            Yaml::Null => Vec::new(),
            other => vec![
                super::compile::scalar(&other)
                    .and_then(|s| s.text())
                    .ok_or_else(|| err(format!("placeholder '{name}' values must be scalars")))?,
            ],
        };
        out.insert(name, vals);
    }
    Ok(out)
}

fn is_rule_file(p: &Path) -> bool {
    matches!(p.extension().and_then(|e| e.to_str()), Some("yml" | "yaml"))
}

/// Loads rule files and directories (recursively, `*.yml` / `*.yaml`, sorted by path).
pub fn load(paths: &[PathBuf], opts: &LoadOptions) -> LoadReport {
    let mut docs = Vec::new();
    let mut rejected = Vec::new();
    let mut total = 0;
    for root in paths {
        let mut files: Vec<PathBuf> = Vec::new();
        if root.is_dir() {
            for entry in walkdir::WalkDir::new(root).follow_links(true) {
                match entry {
                    Ok(e) if e.file_type().is_file() && is_rule_file(e.path()) => {
                        files.push(e.into_path())
                    }
                    Ok(_) => {}
                    Err(e) => {
                        rejected.push(RuleError::new(root, None, format!("cannot walk: {e}")))
                    }
                }
            }
            files.sort();
        } else {
            files.push(root.clone());
        }
        for (n, mut d, mut r) in parse_files(&files) {
            total += n;
            docs.append(&mut d);
            rejected.append(&mut r);
        }
    }
    build(docs, total, rejected, opts)
}

type Parsed = (usize, Vec<(PathBuf, Yaml)>, Vec<RuleError>);

/// Reads and parses `files` (YAML parsing dominates load time) on up to
/// `available_parallelism` threads, each taking a contiguous chunk; results are concatenated
/// in file order, so the outcome is identical to a sequential load.
fn parse_files(files: &[PathBuf]) -> Vec<Parsed> {
    let one = |chunk: &[PathBuf]| -> Parsed {
        let (mut total, mut docs, mut rejected) = (0, Vec::new(), Vec::new());
        for f in chunk {
            match std::fs::read_to_string(f) {
                Ok(text) => total += parse_file(f, &text, &mut docs, &mut rejected),
                Err(e) => {
                    total += 1;
                    rejected.push(RuleError::new(f, None, format!("cannot read: {e}")));
                }
            }
        }
        (total, docs, rejected)
    };
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    if threads < 2 || files.len() < 64 {
        return vec![one(files)];
    }
    let size = files.len().div_ceil(threads);
    std::thread::scope(|s| {
        let handles: Vec<_> = files
            .chunks(size)
            .map(|c| (c, s.spawn(move || one(c))))
            .collect();
        handles
            .into_iter()
            .map(|(c, h)| h.join().unwrap_or_else(|_| one(c)))
            .collect()
    })
}

/// Compiles rules from a YAML string (path `<inline>`).
pub fn compile_str(yaml: &str, opts: &LoadOptions) -> LoadReport {
    let mut docs = Vec::new();
    let mut rejected = Vec::new();
    let total = parse_file(Path::new("<inline>"), yaml, &mut docs, &mut rejected);
    build(docs, total, rejected, opts)
}

/// Parses one file into documents; returns how many Sigma documents it holds.
fn parse_file(
    path: &Path,
    text: &str,
    docs: &mut Vec<(PathBuf, Yaml)>,
    rejected: &mut Vec<RuleError>,
) -> usize {
    let parsed = match YamlLoader::load_from_str(text) {
        Ok(d) => d,
        Err(e) => {
            rejected.push(RuleError::new(path, None, format!("invalid yaml: {e}")));
            return 1;
        }
    };
    // YAML that is not Sigma at all (rule tests, mappings, placeholder lists living next to the
    // rules) is skipped, not rejected; a document with any Sigma key is a rule and must compile.
    let parsed: Vec<Yaml> = parsed
        .into_iter()
        .filter(|d| !matches!(d, Yaml::Null | Yaml::BadValue))
        .filter(|d| {
            let sigma = is_sigma_document(d);
            if !sigma {
                tracing::debug!(path = %path.display(), "skipping a yaml document that is not a sigma rule");
            }
            sigma
        })
        .collect();
    if parsed.iter().any(|d| d["action"].as_str().is_some()) {
        let id = parsed
            .iter()
            .find_map(|d| d["id"].as_str().map(String::from));
        rejected.push(RuleError::new(
            path,
            id,
            "legacy multi-document rule ('action: global/reset/repeat') is not supported; split it into standalone rules",
        ));
        return parsed.len().max(1);
    }
    let n = parsed.len();
    docs.extend(parsed.into_iter().map(|d| (path.to_path_buf(), d)));
    n
}

/// A document is Sigma when it is a map with at least one of the keys every Sigma document type
/// (detection, correlation, filter) is built from.
fn is_sigma_document(doc: &Yaml) -> bool {
    const KEYS: &[&str] = &[
        "title",
        "id",
        "detection",
        "correlation",
        "filter",
        "logsource",
    ];
    matches!(doc, Yaml::Hash(_)) && KEYS.iter().any(|k| !matches!(doc[*k], Yaml::BadValue))
}

fn opt_str(y: &Yaml) -> Option<String> {
    match y {
        Yaml::String(s) => Some(s.clone()),
        Yaml::Integer(i) => Some(i.to_string()),
        _ => None,
    }
}

fn logsource_of(doc: &Yaml) -> LogSource {
    let ls = &doc["logsource"];
    LogSource::new(
        ls["product"].as_str(),
        ls["category"].as_str(),
        ls["service"].as_str(),
    )
}

fn meta_of(path: &Path, doc: &Yaml, kind: RuleKind) -> Result<RuleMeta, RuleError> {
    let id = opt_str(&doc["id"]);
    let title = doc["title"].as_str().map(String::from);
    let Some(title) = title else {
        return Err(RuleError::new(path, id, "rule has no title"));
    };
    let level = match &doc["level"] {
        Yaml::BadValue | Yaml::Null => Level::Medium,
        y => match y.as_str().and_then(level_from_str) {
            Some(l) => l,
            None => return Err(RuleError::new(path, id, format!("invalid level {y:?}"))),
        },
    };
    let strings = |y: &Yaml| match y {
        Yaml::Array(a) => a
            .iter()
            .filter_map(|t| t.as_str().map(String::from))
            .collect(),
        _ => Vec::new(),
    };
    let (tags, fields) = (strings(&doc["tags"]), strings(&doc["fields"]));
    Ok(RuleMeta {
        id: id.unwrap_or_else(|| title.clone()),
        title,
        name: opt_str(&doc["name"]),
        level,
        description: doc["description"].as_str().map(String::from),
        tags,
        fields,
        path: path.to_path_buf(),
        logsource: logsource_of(doc),
        kind,
    })
}

struct PendingCorr {
    meta: RuleMeta,
    raw: RawCorrelation,
}

fn build(
    docs: Vec<(PathBuf, Yaml)>,
    total: usize,
    mut rejected: Vec<RuleError>,
    opts: &LoadOptions,
) -> LoadReport {
    let aliases = Aliases::builtin();
    let mut fields = FieldTable::new();
    let mut dets: Vec<DetRule> = Vec::new();
    let mut filters: Vec<(PathBuf, Option<String>, ParsedFilter)> = Vec::new();
    let mut pending: Vec<PendingCorr> = Vec::new();
    for (path, doc) in &docs {
        let id = opt_str(&doc["id"]);
        let reject = |r: String| RuleError::new(path, id.clone(), r);
        if !matches!(doc, Yaml::Hash(_)) {
            rejected.push(reject("document is not a map".into()));
        } else if !matches!(doc["correlation"], Yaml::BadValue) {
            let raw = match parse_correlation(&doc["correlation"], doc) {
                Ok(r) => r,
                Err(e) => {
                    rejected.push(reject(e));
                    continue;
                }
            };
            match meta_of(path, doc, RuleKind::Correlation(raw.ctype)) {
                Ok(meta) => pending.push(PendingCorr { meta, raw }),
                Err(e) => rejected.push(e),
            }
        } else if !matches!(doc["filter"], Yaml::BadValue) {
            let source = RuleSource::from_logsource(&logsource_of(doc));
            match compile_filter(&doc["filter"], source, &mut fields, &opts.placeholders) {
                Ok(f) => filters.push((path.clone(), id.clone(), f)),
                Err(e) => rejected.push(reject(e)),
            }
        } else if !matches!(doc["detection"], Yaml::BadValue) {
            let meta = match meta_of(path, doc, RuleKind::Detection) {
                Ok(m) => m,
                Err(e) => {
                    rejected.push(e);
                    continue;
                }
            };
            if !matches!(doc["logsource"], Yaml::Hash(_)) {
                rejected.push(reject("rule has no logsource".into()));
                continue;
            }
            let source = RuleSource::from_logsource(&meta.logsource);
            let mut ctx = CompileCtx {
                fields: &mut fields,
                aliases,
                source: &source,
                placeholders: &opts.placeholders,
            };
            match compile_detection(&doc["detection"], &mut ctx, &[]) {
                Ok(det) => dets.push(DetRule {
                    meta: Arc::new(meta),
                    source,
                    fields: det.field_ids(),
                    det,
                    filters: Vec::new(),
                    emit: true,
                }),
                Err(e) => rejected.push(reject(e)),
            }
        } else {
            rejected.push(reject(
                "not a sigma rule: no detection, correlation or filter section".into(),
            ));
        }
    }

    // Name/id lookup over detections.
    let mut det_by_key: HashMap<String, u32> = HashMap::new();
    for (i, d) in dets.iter().enumerate() {
        det_by_key.entry(d.meta.id.clone()).or_insert(i as u32);
        if let Some(n) = &d.meta.name {
            det_by_key.entry(n.clone()).or_insert(i as u32);
        }
    }

    // Filters.
    let mut filter_rules = Vec::new();
    for (path, id, pf) in filters {
        let fi = filter_rules.len() as u32;
        let mut attached = 0;
        for t in &pf.targets {
            match det_by_key.get(t) {
                Some(&d) => {
                    dets[d as usize].filters.push(fi);
                    attached += 1;
                }
                None => {
                    tracing::warn!(path = %path.display(), target = %t, "filter target rule not loaded")
                }
            }
        }
        if attached == 0 {
            tracing::warn!(path = %path.display(), id = ?id, "filter applies to no loaded rule");
        }
        filter_rules.push(pf.rule);
    }

    let correlations = resolve_correlations(pending, &mut dets, &det_by_key, &mut rejected);

    let index = Index::build(dets.iter().map(|d| (&d.source, &d.det)));
    let mut metas: Vec<Arc<RuleMeta>> = dets.iter().map(|d| Arc::clone(&d.meta)).collect();
    metas.extend(correlations.iter().map(|c| Arc::clone(&c.meta)));
    tracing::info!(
        rules = metas.len(),
        rejected = rejected.len(),
        total,
        "sigma rules loaded"
    );
    LoadReport {
        rules: RuleSet {
            metas,
            dets,
            filters: filter_rules,
            fields,
            index,
            correlations,
            ignore_logsource: opts.ignore_logsource,
        },
        total,
        rejected,
    }
}

/// Resolves correlation references (fixpoint, so chains and bad links are handled), sets `emit`.
fn resolve_correlations(
    pending: Vec<PendingCorr>,
    dets: &mut [DetRule],
    det_by_key: &HashMap<String, u32>,
    rejected: &mut Vec<RuleError>,
) -> Vec<CorrelationDef> {
    let mut alive = vec![true; pending.len()];
    let corr_key = |alive: &[bool], key: &str| {
        pending.iter().enumerate().position(|(i, p)| {
            alive[i] && (p.meta.id == key || p.meta.name.as_deref() == Some(key))
        })
    };
    // Drop correlations with unresolvable references, then cyclic chains, until stable.
    loop {
        let mut changed = false;
        for i in 0..pending.len() {
            if !alive[i] {
                continue;
            }
            let missing = pending[i]
                .raw
                .rules
                .iter()
                .find(|r| !det_by_key.contains_key(*r) && corr_key(&alive, r).is_none());
            if let Some(m) = missing {
                let p = &pending[i];
                rejected.push(RuleError::new(
                    &p.meta.path,
                    Some(p.meta.id.clone()),
                    format!("correlation refers to an unknown or rejected rule '{m}'"),
                ));
                alive[i] = false;
                changed = true;
            }
        }
        if changed {
            continue;
        }
        // Cycle check: a correlation reachable from itself through correlation references.
        let inner = |alive: &[bool], i: usize| -> Vec<usize> {
            pending[i]
                .raw
                .rules
                .iter()
                .filter(|r| !det_by_key.contains_key(*r))
                .filter_map(|r| corr_key(alive, r))
                .collect()
        };
        let cyclic = (0..pending.len()).find(|&start| {
            if !alive[start] {
                return false;
            }
            let mut seen = vec![false; pending.len()];
            let mut stack = inner(&alive, start);
            while let Some(c) = stack.pop() {
                if c == start {
                    return true;
                }
                if !seen[c] {
                    seen[c] = true;
                    stack.extend(inner(&alive, c));
                }
            }
            false
        });
        match cyclic {
            Some(i) => {
                let p = &pending[i];
                rejected.push(RuleError::new(
                    &p.meta.path,
                    Some(p.meta.id.clone()),
                    "correlation chain is cyclic",
                ));
                alive[i] = false;
            }
            None => break,
        }
    }
    // Dense indices for surviving correlations.
    let mut new_idx = vec![u32::MAX; pending.len()];
    let mut n = 0;
    for i in 0..pending.len() {
        if alive[i] {
            new_idx[i] = n;
            n += 1;
        }
    }
    let mut defs: Vec<CorrelationDef> = Vec::with_capacity(n as usize);
    let mut det_refs: Vec<(u32, bool)> = Vec::new();
    let mut corr_refs: Vec<(u32, bool)> = Vec::new();
    for (i, p) in pending.iter().enumerate() {
        if !alive[i] {
            continue;
        }
        let mut refs = Vec::new();
        for r in &p.raw.rules {
            // Detections win over correlations for the same key.
            if let Some(&d) = det_by_key.get(r) {
                refs.push(RuleRef::Det(d));
                det_refs.push((d, p.raw.generate));
            } else if let Some(c) = corr_key(&alive, r) {
                refs.push(RuleRef::Corr(new_idx[c]));
                corr_refs.push((new_idx[c], p.raw.generate));
            }
        }
        let ref_keys: Vec<(String, Option<String>)> = refs
            .iter()
            .map(|r| match r {
                RuleRef::Det(d) => (
                    dets[*d as usize].meta.id.clone(),
                    dets[*d as usize].meta.name.clone(),
                ),
                RuleRef::Corr(c) => {
                    let orig = new_idx.iter().position(|x| x == c).unwrap_or(0);
                    (
                        pending[orig].meta.id.clone(),
                        pending[orig].meta.name.clone(),
                    )
                }
            })
            .collect();
        let group_fields = p
            .raw
            .group_by
            .iter()
            .map(|g| {
                let alias = p.raw.aliases.iter().find(|(a, _)| a == g);
                ref_keys
                    .iter()
                    .map(|(id, name)| {
                        alias
                            .and_then(|(_, pairs)| {
                                pairs
                                    .iter()
                                    .find(|(r, _)| r == id || Some(r) == name.as_ref())
                                    .map(|(_, f)| f.clone())
                            })
                            .unwrap_or_else(|| g.clone())
                    })
                    .collect()
            })
            .collect();
        defs.push(CorrelationDef {
            meta: Arc::new(p.meta.clone()),
            raw: p.raw.clone(),
            refs,
            group_fields,
            emit: true,
        });
    }
    for d in 0..dets.len() as u32 {
        let refs: Vec<bool> = det_refs
            .iter()
            .filter(|(x, _)| *x == d)
            .map(|(_, g)| *g)
            .collect();
        if !refs.is_empty() && !refs.iter().any(|g| *g) {
            dets[d as usize].emit = false;
        }
    }
    for c in 0..defs.len() as u32 {
        let refs: Vec<bool> = corr_refs
            .iter()
            .filter(|(x, _)| *x == c)
            .map(|(_, g)| *g)
            .collect();
        if !refs.is_empty() && !refs.iter().any(|g| *g) {
            defs[c as usize].emit = false;
        }
    }
    defs
}
