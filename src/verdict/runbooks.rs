//! Runbooks: recommended next steps keyed by ATT&CK technique and tactic.
//!
//! Data files under `config/runbooks/` (`techniques.toml`, `tactics.toml`) hold, per key, a title
//! and ordered steps. [`Runbooks::load`] reads every `*.toml` in a directory at start-up; when the
//! directory is absent the copies compiled into the binary are used, so a bare binary still
//! recommends. [`Runbooks::next_steps`] picks the steps for a case's techniques (a
//! sub-technique falls back to its parent) and then its tactics, in a deterministic order.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

const TECHNIQUES: &str = include_str!("../../config/runbooks/techniques.toml");
const TACTICS: &str = include_str!("../../config/runbooks/tactics.toml");

/// Steps recommended at most per verdict, and per technique.
const MAX_STEPS: usize = 16;
const PER_TECHNIQUE: usize = 2;

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    title: String,
    steps: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    technique: BTreeMap<String, Entry>,
    #[serde(default)]
    tactic: BTreeMap<String, Entry>,
}

/// One recommended action and the runbook entry it comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NextStep {
    /// `T1003.001` or a tactic short name such as `credential-access`.
    pub runbook: String,
    pub title: String,
    pub action: String,
}

/// Every runbook entry, by technique id (upper case) and tactic short name.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Runbooks {
    techniques: BTreeMap<String, Entry>,
    tactics: BTreeMap<String, Entry>,
}

#[derive(Debug, thiserror::Error)]
pub enum RunbookError {
    #[error("reading runbooks in {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("runbook file {path}: {message}")]
    Parse { path: PathBuf, message: String },
}

impl Runbooks {
    /// The runbooks compiled into the binary.
    pub fn embedded() -> Self {
        let mut r = Runbooks::default();
        for text in [TECHNIQUES, TACTICS] {
            // The embedded files are checked by a unit test; a broken one is skipped.
            if let Ok(f) = toml::from_str::<File>(text) {
                r.add(f);
            }
        }
        r
    }

    /// Every `*.toml` under `dir`, or the embedded runbooks when `dir` does not exist.
    pub fn load(dir: &Path) -> Result<Self, RunbookError> {
        if !dir.is_dir() {
            return Ok(Self::embedded());
        }
        let read_err = |source| RunbookError::Read {
            path: dir.to_owned(),
            source,
        };
        let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
            .map_err(read_err)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "toml"))
            .collect();
        paths.sort();
        let mut r = Runbooks::default();
        for path in paths {
            let text = std::fs::read_to_string(&path).map_err(|source| RunbookError::Read {
                path: path.clone(),
                source,
            })?;
            let file: File = toml::from_str(&text).map_err(|e| RunbookError::Parse {
                path: path.clone(),
                message: e.to_string(),
            })?;
            r.add(file);
        }
        Ok(r)
    }

    fn add(&mut self, f: File) {
        for (k, v) in f.technique {
            self.techniques.insert(k.to_ascii_uppercase(), v);
        }
        for (k, v) in f.tactic {
            self.tactics
                .insert(k.replace('_', "-").to_ascii_lowercase(), v);
        }
    }

    pub fn len(&self) -> usize {
        self.techniques.len() + self.tactics.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Steps for the given techniques (sorted ids) and tactics (ATT&CK order), without
    /// duplicate actions: up to [`PER_TECHNIQUE`] steps per technique, leaving room for the
    /// first step of every tactic, at most [`MAX_STEPS`] in all.
    pub fn next_steps(&self, techniques: &[&str], tactics: &[&str]) -> Vec<NextStep> {
        let tactic_entries: Vec<(&str, &Entry)> = tactics
            .iter()
            .filter_map(|t| self.tactics.get(*t).map(|e| (*t, e)))
            .collect();
        let technique_budget = MAX_STEPS
            .saturating_sub(tactic_entries.len())
            .max(MAX_STEPS / 2);
        let mut out: Vec<NextStep> = Vec::new();
        let push = |key: &str, step: &str, e: &Entry, out: &mut Vec<NextStep>| {
            if out.len() < MAX_STEPS && !out.iter().any(|x| x.action == step) {
                out.push(NextStep {
                    runbook: key.to_owned(),
                    title: e.title.clone(),
                    action: step.to_owned(),
                });
            }
        };
        let mut used = Vec::new();
        for t in techniques {
            let id = t.to_ascii_uppercase();
            let parent = id.split('.').next().unwrap_or(&id).to_owned();
            for key in [id, parent] {
                if let Some(e) = self.techniques.get(&key) {
                    if !used.contains(&key) {
                        for step in e.steps.iter().take(PER_TECHNIQUE) {
                            if out.len() < technique_budget {
                                push(&key, step, e, &mut out);
                            }
                        }
                        used.push(key);
                    }
                    break;
                }
            }
        }
        // The first step of every tactic, then the rest while room remains.
        for (t, e) in &tactic_entries {
            if let Some(step) = e.steps.first() {
                push(t, step, e, &mut out);
            }
        }
        for (t, e) in &tactic_entries {
            for step in e.steps.iter().skip(1) {
                push(t, step, e, &mut out);
            }
        }
        out
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn embedded_files_parse_and_cover_every_tactic() {
        for text in [TECHNIQUES, TACTICS] {
            toml::from_str::<File>(text).unwrap();
        }
        let r = Runbooks::embedded();
        for t in crate::attack::tactics() {
            assert!(
                r.tactics.contains_key(t.shortname),
                "no runbook for {}",
                t.shortname
            );
        }
        for id in r.techniques.keys() {
            assert!(crate::attack::technique(id).is_some(), "unknown {id}");
        }
        assert!(r.techniques.len() >= 20);
    }

    #[test]
    fn sub_technique_falls_back_to_parent_then_tactic() {
        let r = Runbooks::embedded();
        let steps = r.next_steps(&["T1059.999"], &["execution"]);
        assert_eq!(steps[0].runbook, "T1059");
        assert!(steps.iter().any(|s| s.runbook == "execution"));
        assert!(steps.len() <= MAX_STEPS);
    }

    #[test]
    fn a_directory_overrides_the_embedded_copy() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("x.toml"),
            "[tactic.execution]\ntitle = \"x\"\nsteps = [\"do x\"]\n",
        )
        .unwrap();
        let r = Runbooks::load(dir.path()).unwrap();
        assert_eq!(r.next_steps(&[], &["execution"])[0].action, "do x");
        std::fs::write(dir.path().join("bad.toml"), "[tactic.x]\nnope = 1\n").unwrap();
        assert!(Runbooks::load(dir.path()).is_err());
        let missing = Runbooks::load(&dir.path().join("absent")).unwrap();
        assert_eq!(missing, Runbooks::embedded());
    }
}
