//! The audit log: every state change an analyst makes, appended as one JSON line to
//! `<state.dir>/audit.jsonl` (who, when, what, the case before and after).
//!
//! Writes are serialized by a mutex and flushed per entry; the file is only ever appended to.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use chrono::{DateTime, Utc};
use serde::Serialize;

/// One analyst action.
#[derive(Debug, Clone, Serialize)]
pub struct AuditEntry<'a, T: Serialize> {
    pub time: DateTime<Utc>,
    pub actor: &'a str,
    /// `feedback` or `close`.
    pub action: &'a str,
    pub case_id: &'a str,
    pub detail: &'a str,
    pub before: &'a T,
    pub after: &'a T,
}

/// The append-only audit file.
#[derive(Debug)]
pub struct AuditLog {
    path: PathBuf,
    file: Mutex<std::fs::File>,
}

#[derive(Debug, thiserror::Error)]
#[error("audit log {path}: {source}")]
pub struct AuditError {
    pub path: PathBuf,
    pub source: std::io::Error,
}

impl AuditLog {
    /// Opens (creating it and its directory when absent) the log for appending.
    pub fn open(path: &Path) -> Result<Self, AuditError> {
        let err = |source| AuditError {
            path: path.to_owned(),
            source,
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(err)?;
        }
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(err)?;
        Ok(Self {
            path: path.to_owned(),
            file: Mutex::new(file),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one entry and flushes it.
    pub fn append<T: Serialize>(&self, entry: &AuditEntry<'_, T>) -> Result<(), AuditError> {
        let err = |source| AuditError {
            path: self.path.clone(),
            source,
        };
        let mut line = serde_json::to_vec(entry).map_err(|e| err(e.into()))?;
        line.push(b'\n');
        let mut f = self
            .file
            .lock()
            .map_err(|_| err(std::io::Error::other("audit log lock poisoned")))?;
        f.write_all(&line).map_err(err)?;
        f.flush().map_err(err)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_appended_as_json_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub").join("audit.jsonl");
        let log = AuditLog::open(&path).unwrap();
        for action in ["feedback", "close"] {
            log.append(&AuditEntry {
                time: Utc::now(),
                actor: "alice",
                action,
                case_id: "c1",
                detail: "",
                before: &serde_json::json!({"stage": "validate"}),
                after: &serde_json::json!({"stage": "respond"}),
            })
            .unwrap();
        }
        drop(log);
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[1]["action"], "close");
        assert_eq!(lines[0]["before"]["stage"], "validate");
    }
}
