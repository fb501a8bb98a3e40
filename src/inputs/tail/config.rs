//! `[inputs.NAME] type = "tail"`: its table, defaults and checks, and the settings they
//! resolve to.

use std::path::Path;
use std::time::Duration;

use serde::Deserialize;

use super::TailSettings;
use crate::base::Problem;
use crate::base::at_least_one;
use crate::inputs::{format_problem, line_format};

/// `[inputs.NAME] type = "tail"`: files matching globs, followed as they grow.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TailInputConfig {
    pub paths: Vec<String>,
    #[serde(default)]
    pub format: Option<String>,
    #[serde(default = "default_fingerprint_lines")]
    pub fingerprint_lines: usize,
    #[serde(default = "default_max_line_bytes")]
    pub max_line_bytes: usize,
    #[serde(default = "default_poll_interval_ms")]
    pub poll_interval_ms: u64,
    #[serde(default = "default_rotate_wait_secs")]
    pub rotate_wait_secs: u64,
    /// Write the checkpoint once this many lines are delivered since the last write …
    #[serde(default = "default_checkpoint_every")]
    pub checkpoint_every: usize,
    /// … or once this long has passed with progress, whichever comes first.
    #[serde(default = "default_checkpoint_interval_ms")]
    pub checkpoint_interval_ms: u64,
    /// Lines read past the last delivered position before the tail waits; 0 means
    /// `pipeline.channel_capacity`.
    #[serde(default)]
    pub max_in_flight: usize,
}

fn default_fingerprint_lines() -> usize {
    1
}
fn default_max_line_bytes() -> usize {
    65_536
}
fn default_poll_interval_ms() -> u64 {
    250
}
fn default_rotate_wait_secs() -> u64 {
    5
}
fn default_checkpoint_every() -> usize {
    1000
}
fn default_checkpoint_interval_ms() -> u64 {
    250
}

impl TailInputConfig {
    /// Every problem of the table at key path `table`.
    pub fn problems(&self, table: &str) -> Vec<Problem> {
        let key = |k: &str| format!("{table}.{k}");
        let mut p = Vec::new();
        if self.paths.is_empty() {
            p.push(Problem::new(key("paths"), "must name at least one glob"));
        }
        for g in &self.paths {
            if let Err(e) = glob::Pattern::new(g) {
                p.push(Problem::new(key("paths"), format!("`{g}`: {e}")));
            }
        }
        p.extend(format_problem(table, self.format.as_deref()));
        p.extend(at_least_one(
            table,
            &[
                ("fingerprint_lines", self.fingerprint_lines as u64),
                ("max_line_bytes", self.max_line_bytes as u64),
                ("poll_interval_ms", self.poll_interval_ms),
                ("checkpoint_every", self.checkpoint_every as u64),
                ("checkpoint_interval_ms", self.checkpoint_interval_ms),
            ],
        ));
        p
    }

    /// The settings of the input named `name`: its checkpoint file under `state_dir`, an
    /// in-flight bound of 0 resolved to `channel_capacity`.
    pub fn settings(&self, name: &str, state_dir: &Path, channel_capacity: usize) -> TailSettings {
        TailSettings {
            paths: self.paths.clone(),
            format: self.format.as_deref().and_then(line_format),
            checkpoint: state_dir.join("tail").join(format!("{name}.json")),
            fingerprint_lines: self.fingerprint_lines,
            max_line_bytes: self.max_line_bytes,
            poll_interval: Duration::from_millis(self.poll_interval_ms),
            rotate_wait: Duration::from_secs(self.rotate_wait_secs),
            checkpoint_every: self.checkpoint_every,
            checkpoint_interval: Duration::from_millis(self.checkpoint_interval_ms),
            max_in_flight: match self.max_in_flight {
                0 => channel_capacity,
                n => n,
            },
        }
    }
}
