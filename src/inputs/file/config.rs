//! `[inputs.NAME] type = "file"`: its table, defaults and checks.

use std::path::PathBuf;

use serde::Deserialize;

use crate::base::Problem;
use crate::inputs::lines::DEFAULT_MAX_LINE_BYTES;

/// Default of the file input's `max_document_bytes`: 1 GiB.
pub const DEFAULT_MAX_DOCUMENT_BYTES: u64 = 1 << 30;

/// `[inputs.NAME] type = "file"`: files or directories read once, recursively.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileInputConfig {
    pub paths: Vec<PathBuf>,
    /// Longer lines are cut to this many bytes and marked.
    #[serde(default = "default_max_line_bytes")]
    pub max_line_bytes: usize,
    /// Largest file (or decompressed content) read whole for a one-document format (packet
    /// captures, emails, Zeek, XML, JSON that is not NDJSON); larger ones are dead-lettered,
    /// not cut.
    #[serde(default = "default_max_document_bytes")]
    pub max_document_bytes: u64,
}

fn default_max_line_bytes() -> usize {
    DEFAULT_MAX_LINE_BYTES
}
fn default_max_document_bytes() -> u64 {
    DEFAULT_MAX_DOCUMENT_BYTES
}

impl FileInputConfig {
    /// Every problem of the table at key path `table`.
    pub fn problems(&self, table: &str) -> Vec<Problem> {
        let key = |k: &str| format!("{table}.{k}");
        let mut p = crate::base::at_least_one(
            table,
            &[
                ("max_line_bytes", self.max_line_bytes as u64),
                ("max_document_bytes", self.max_document_bytes),
            ],
        );
        if self.paths.is_empty() {
            p.push(Problem::new(
                key("paths"),
                "must name at least one file or directory",
            ));
        }
        for path in &self.paths {
            if !path.exists() {
                p.push(Problem::new(
                    key("paths"),
                    format!("{} does not exist", path.display()),
                ));
            }
        }
        p
    }
}
