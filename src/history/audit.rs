//! The audit log: every state change an analyst makes, appended as one JSON line to
//! `<state.dir>/audit.jsonl`: who (the declared actor, how the caller authenticated and its
//! address), when, what, and the fields that changed ([`diff`]) — not the whole case, so a line
//! is bounded by the size of the change, whatever the case's size or history.
//!
//! Durability: lines are serialized by a mutex, each written with one `write` and `fdatasync`ed
//! before [`AuditLog::append`] returns (so before the API answers): an answered change survives
//! a crash or a power loss. Size: before a line would take the file past `max_bytes` it is
//! rotated (`audit.jsonl` → `audit.jsonl.1`, `.1` → `.2`, …, at most `keep` rotated files, the
//! oldest deleted), then the directory is fsynced; files are otherwise only ever appended to.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Map, Value};

/// One analyst action.
#[derive(Debug, Clone, Serialize)]
pub struct AuditEntry<'a> {
    pub time: DateTime<Utc>,
    /// Who the caller says it is (`analyst` or `X-Analyst`; `api` when unnamed).
    pub actor: &'a str,
    /// `feedback` or `close`.
    pub action: &'a str,
    pub case_id: &'a str,
    /// The disposition given, or the close reason.
    pub detail: &'a str,
    /// How the caller got in: `open` (loopback without a token) or `token`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth: Option<&'a str>,
    /// The caller's address, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub peer: Option<String>,
    /// What changed, per top-level field of the case ([`diff`]).
    pub changes: Map<String, Value>,
}

/// The fields that differ between two serialized states: `{"from", "to"}` for a value; for a
/// list, `{"added": [...], "dropped": n}`: the items of the new list that were not in the old
/// one, and how many items of the old one are gone (omitted when none). The record keeps only
/// the latest feedback and analyst entries, so old ones drop out as new ones come; each was
/// `added` in an earlier line, so a line never repeats them.
pub fn diff<T: Serialize>(before: &T, after: &T) -> Result<Map<String, Value>, serde_json::Error> {
    let (b, a) = match (serde_json::to_value(before)?, serde_json::to_value(after)?) {
        (Value::Object(b), Value::Object(a)) => (b, a),
        (b, a) => {
            let mut out = Map::new();
            if b != a {
                out.insert("value".into(), serde_json::json!({"from": b, "to": a}));
            }
            return Ok(out);
        }
    };
    let mut out = Map::new();
    for (k, av) in &a {
        let bv = b.get(k).unwrap_or(&Value::Null);
        if bv == av {
            continue;
        }
        let change = match (bv, av) {
            (Value::Array(bl), Value::Array(al)) => list_change(bl, al),
            _ => serde_json::json!({"from": bv, "to": av}),
        };
        out.insert(k.clone(), change);
    }
    for (k, bv) in b.iter().filter(|(k, _)| !a.contains_key(*k)) {
        out.insert(
            k.clone(),
            serde_json::json!({"from": bv, "to": Value::Null}),
        );
    }
    Ok(out)
}

/// Items added and dropped between two lists, as multisets (short lists: the record's are
/// bounded).
fn list_change(before: &[Value], after: &[Value]) -> Value {
    let mut gone: Vec<&Value> = before.iter().collect();
    let mut added = Vec::new();
    for item in after {
        match gone.iter().position(|b| *b == item) {
            Some(i) => {
                gone.swap_remove(i);
            }
            None => added.push(item.clone()),
        }
    }
    let mut m = Map::new();
    m.insert("added".into(), Value::Array(added));
    if !gone.is_empty() {
        m.insert("dropped".into(), gone.len().into());
    }
    Value::Object(m)
}

/// When the log is rotated: `[history] audit_max_bytes`, `audit_keep`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rotation {
    /// Rotate before a line would take the file past this many bytes; 0 = never.
    pub max_bytes: u64,
    /// Rotated files kept.
    pub keep: u32,
}

#[derive(Debug)]
struct Current {
    file: std::fs::File,
    size: u64,
}

/// The append-only, size-rotated audit file.
#[derive(Debug)]
pub struct AuditLog {
    path: PathBuf,
    rotation: Rotation,
    current: Mutex<Current>,
}

#[derive(Debug, thiserror::Error)]
#[error("audit log {path}: {source}")]
pub struct AuditError {
    pub path: PathBuf,
    pub source: std::io::Error,
}

fn open_append(path: &Path) -> std::io::Result<Current> {
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    let size = file.metadata()?.len();
    Ok(Current { file, size })
}

impl AuditLog {
    /// Opens (creating it and its directory when absent) the log for appending.
    pub fn open(path: &Path, rotation: Rotation) -> Result<Self, AuditError> {
        let err = |source| AuditError {
            path: path.to_owned(),
            source,
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(err)?;
        }
        Ok(Self {
            path: path.to_owned(),
            rotation,
            current: Mutex::new(open_append(path).map_err(err)?),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// `audit.jsonl.<n>`.
    fn rotated(&self, n: u32) -> PathBuf {
        let mut p = self.path.clone().into_os_string();
        p.push(format!(".{n}"));
        PathBuf::from(p)
    }

    /// Shifts the rotated files up by one (the oldest beyond `keep` is replaced), moves the
    /// current file to `.1`, opens a new one and fsyncs the directory.
    fn rotate(&self, current: &mut Current) -> std::io::Result<()> {
        for n in (1..self.rotation.keep).rev() {
            match std::fs::rename(self.rotated(n), self.rotated(n + 1)) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
                _ => {}
            }
        }
        std::fs::rename(&self.path, self.rotated(1))?;
        *current = open_append(&self.path)?;
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::File::open(dir)?.sync_all()?;
        }
        Ok(())
    }

    /// Appends one entry; durable (fdatasync) when this returns `Ok`.
    pub fn append(&self, entry: &AuditEntry<'_>) -> Result<(), AuditError> {
        let err = |source| AuditError {
            path: self.path.clone(),
            source,
        };
        let mut line = serde_json::to_vec(entry).map_err(|e| err(e.into()))?;
        line.push(b'\n');
        let mut current = self
            .current
            .lock()
            .map_err(|_| err(std::io::Error::other("audit log lock poisoned")))?;
        let len = line.len() as u64;
        if self.rotation.max_bytes > 0
            && current.size > 0
            && current.size + len > self.rotation.max_bytes
        {
            self.rotate(&mut current).map_err(err)?;
        }
        current.file.write_all(&line).map_err(err)?;
        current.size += len;
        current.file.sync_data().map_err(err)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use serde_json::json;

    const NEVER: Rotation = Rotation {
        max_bytes: 0,
        keep: 1,
    };

    fn entry<'a>(action: &'a str, changes: Map<String, Value>) -> AuditEntry<'a> {
        AuditEntry {
            // Fixed, so that every line of a test has the same length.
            time: DateTime::from_timestamp(1_700_000_000, 0).unwrap(),
            actor: "alice",
            action,
            case_id: "c1",
            detail: "",
            auth: Some("token"),
            peer: Some("127.0.0.1".into()),
            changes,
        }
    }

    #[test]
    fn entries_are_appended_as_json_lines_of_changes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub").join("audit.jsonl");
        let log = AuditLog::open(&path, NEVER).unwrap();
        let changes = diff(&json!({"stage": "validate"}), &json!({"stage": "respond"})).unwrap();
        for action in ["feedback", "close"] {
            log.append(&entry(action, changes.clone())).unwrap();
        }
        drop(log);
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[1]["action"], "close");
        assert_eq!(lines[0]["auth"], "token");
        assert_eq!(lines[0]["peer"], "127.0.0.1");
        assert_eq!(
            lines[0]["changes"]["stage"],
            json!({"from": "validate", "to": "respond"})
        );
        // Reopening appends.
        let log = AuditLog::open(&path, NEVER).unwrap();
        log.append(&entry("close", Map::new())).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap().lines().count(), 3);
    }

    #[test]
    fn the_diff_holds_changed_fields_and_list_growth_only() {
        let big = "x".repeat(10_000);
        let before = json!({"id": "c1", "big": big, "stage": "recommend", "closed_at": null,
                            "feedback": [{"n": 1}, {"n": 2}], "gone": 1});
        let after = json!({"id": "c1", "big": big, "stage": "respond", "closed_at": "t",
                           "feedback": [{"n": 2}, {"n": 3}]});
        let d = diff(&before, &after).unwrap();
        assert_eq!(
            Value::Object(d.clone()),
            json!({
                "stage": {"from": "recommend", "to": "respond"},
                "closed_at": {"from": null, "to": "t"},
                "feedback": {"added": [{"n": 3}], "dropped": 1},
                "gone": {"from": 1, "to": null},
            })
        );
        let appended = diff(&json!({"l": [1]}), &json!({"l": [1, 2]})).unwrap();
        assert_eq!(appended["l"], json!({"added": [2]}));
        // An item gone from the middle (an analyst entry among nightwatch's).
        let middle = diff(&json!({"l": [1, 2, 3]}), &json!({"l": [1, 3, 4]})).unwrap();
        assert_eq!(middle["l"], json!({"added": [4], "dropped": 1}));
        let reordered = diff(&json!({"l": [1, 2]}), &json!({"l": [2, 1]})).unwrap();
        assert_eq!(reordered["l"], json!({"added": []}));
        let replaced = diff(&json!({"l": [1, 2]}), &json!({"l": [3]})).unwrap();
        assert_eq!(replaced["l"], json!({"added": [3], "dropped": 2}));
        assert!(diff(&before, &before).unwrap().is_empty());
    }

    #[test]
    fn the_log_rotates_by_size_and_keeps_n_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        let one = serde_json::to_vec(&entry("feedback", Map::new()))
            .unwrap()
            .len() as u64
            + 1;
        // Room for three lines a file, two rotated files kept.
        let log = AuditLog::open(
            &path,
            Rotation {
                max_bytes: 3 * one + 2,
                keep: 2,
            },
        )
        .unwrap();
        for _ in 0..10 {
            log.append(&entry("feedback", Map::new())).unwrap();
        }
        let count = |p: &Path| {
            std::fs::read_to_string(p)
                .map(|t| t.lines().count())
                .unwrap_or(0)
        };
        let rotated = |n: u32| dir.path().join(format!("audit.jsonl.{n}"));
        // 10 lines: 3 + 3 + 3 rotated away (the first 3 deleted), 1 current.
        assert_eq!(count(&path), 1);
        assert_eq!(count(&rotated(1)), 3);
        assert_eq!(count(&rotated(2)), 3);
        assert!(!rotated(3).exists());
        for p in [path.clone(), rotated(1), rotated(2)] {
            assert!(std::fs::metadata(&p).unwrap().len() <= 3 * one + 2);
        }
    }
}
