//! The `tail` input: follow files matching globs as they grow, across rotation and truncation,
//! resuming after a restart from positions that only ever cover delivered data.
//!
//! * **Identity by fingerprint**, not inode: a file is known by a hash of its first
//!   `fingerprint_lines` lines (at most 4 KiB). A renamed file keeps its identity, so rotation by
//!   rename + create goes on reading the old file to its end (through the open handle, or at its
//!   new path when that matches a glob too) and starts the new one from its first byte. Files
//!   sharing a header line (IIS `#Software:`) need `fingerprint_lines` large enough to differ.
//! * **Truncation** (copytruncate, `> file`): when a file becomes shorter than the read position
//!   it is read again from the start, as a new file. If the rotated copy matches a glob, the
//!   copy carries the old fingerprint and reading continues there at the old position, so no
//!   line is read twice; if it does not, lines written between the last read and the
//!   truncation are lost, which is inherent to copytruncate.
//! * **At-least-once**: each line's record carries an [`Ack`]; [`OrderedCommits`] turns
//!   completions into the position below which every line is delivered, and only that is
//!   checkpointed (write to a temporary file, fsync, rename). After a crash, lines past the
//!   checkpoint are read again: duplicates are bounded by the lines in flight, and their event
//!   ids are the same (the origin index is the line's byte offset).
//! * **Wake-ups** come from `notify` (inotify) on the directories of the globs, with a poll
//!   every `poll_interval` as the fallback for file systems that do not report changes.
//!
//! Line formats only (NDJSON, syslog, web access logs, text), sniffed from the file's first
//! bytes or forced by `format`. A line longer than `max_line_bytes` is cut to that length
//! and counted; a partial last line waits for its newline (or for its file to be rotated away).

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use chrono::Utc;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tokio_util::sync::CancellationToken;

use super::{RawRecord, line_payload};
use crate::event::Origin;
use crate::metrics::Metrics;
use crate::normalize::weblog::W3cFields;
use crate::normalize::{self, Format};
use crate::pipeline::ack::{Ack, OrderedCommits, Outcome};
use crate::pipeline::channel::Sender;

/// How a tail input is set up (from `[inputs.NAME] type = "tail"`).
#[derive(Debug, Clone)]
pub struct TailSettings {
    /// Glob patterns of the files to follow.
    pub paths: Vec<String>,
    /// Forced line format; sniffed per file when `None`.
    pub format: Option<Format>,
    /// Where read positions are checkpointed (one JSON file per input).
    pub checkpoint: PathBuf,
    pub fingerprint_lines: usize,
    pub max_line_bytes: usize,
    pub poll_interval: Duration,
    /// How long a file that vanished from every glob is still read through its open handle.
    pub rotate_wait: Duration,
}

/// Why a tail input could not start.
#[derive(Debug, thiserror::Error)]
pub enum TailError {
    #[error("tail input {input}: bad glob `{pattern}`: {reason}")]
    Glob {
        input: String,
        pattern: String,
        reason: String,
    },
    #[error("tail input {input}: checkpoint {path}: {reason}")]
    Checkpoint {
        input: String,
        path: PathBuf,
        reason: String,
    },
}

/// What a tail input did, for its closing log line and tests.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct TailReport {
    pub lines: u64,
    pub files: u64,
    pub truncations: u64,
    pub cut_lines: u64,
    pub failed_acks: u64,
}

/// The checkpoint file: per fingerprint, the delivered position and the last path seen.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Checkpoints {
    version: u32,
    files: BTreeMap<String, Position>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Position {
    path: PathBuf,
    offset: u64,
}

/// Something the tail loop must react to.
enum Wake {
    /// A line's record finished (entry id, entry generation, line start, outcome).
    Done(u64, u64, u64, Outcome),
    /// The file system reported a change.
    Changed,
}

/// A followed file.
struct Tracked {
    id: u64,
    /// Bumped on truncation so completions of the old content are ignored.
    generation: u64,
    fingerprint: String,
    path: PathBuf,
    /// Closed (`None`) while dormant, so rotated-away files do not hold disk space.
    file: Option<File>,
    format: Format,
    /// Next byte to read.
    read_pos: u64,
    /// Bytes after `read_pos` already read but not yet ending in a newline.
    partial: Vec<u8>,
    commits: OrderedCommits,
    w3c: Option<Arc<W3cFields>>,
    /// Last time a glob matched its path.
    seen: Instant,
}

/// Follows the files until `stop` fires, then waits for the records in flight to finish and
/// writes the final checkpoint. Blocking: run it on `spawn_blocking`.
pub fn run(
    input: Arc<str>,
    settings: TailSettings,
    raw: Sender<RawRecord>,
    stop: CancellationToken,
    metrics: &Metrics,
) -> Result<TailReport, TailError> {
    let mut tail = Tail::new(input, settings, metrics)?;
    let (wake_tx, wake_rx) = mpsc::channel::<Wake>();
    let watcher = watch(&tail.settings.paths, wake_tx.clone());
    let mut last_checkpoint = Instant::now();
    while !stop.is_cancelled() {
        if tail.scan_and_read(&raw, &wake_tx, &stop).is_err() {
            break; // the pipeline closed
        }
        tail.wait(&wake_rx, tail.settings.poll_interval);
        if tail.dirty && last_checkpoint.elapsed() >= CHECKPOINT_INTERVAL {
            tail.save();
            last_checkpoint = Instant::now();
        }
    }
    // Stop reading; let every record in flight finish (each holds a clone of the sender, and
    // the channel ends when the last one is released).
    drop(raw);
    drop(watcher);
    drop(wake_tx);
    while let Ok(w) = wake_rx.recv() {
        tail.handle(w);
    }
    tail.save();
    Ok(tail.report)
}

struct Tail {
    input: Arc<str>,
    settings: TailSettings,
    tracked: HashMap<u64, Tracked>,
    /// Delivered positions restored from the checkpoint, by fingerprint, not yet resumed.
    restored: BTreeMap<String, Position>,
    /// Files no longer followed (rotated away, rewritten), by id, kept in case their content
    /// shows up again and so that acknowledgements still in flight are applied.
    dormant: HashMap<u64, Tracked>,
    next_id: u64,
    dirty: bool,
    report: TailReport,
    /// `nightwatch_input_records_total` and the oversize counter (lines cut, not dropped).
    sent: prometheus::IntCounter,
    cut: prometheus::IntCounter,
}

const FINGERPRINT_MAX: usize = 4096;
/// Files no longer followed that are remembered (and checkpointed) in case they reappear.
const MAX_REMEMBERED: usize = 4096;
/// How often moved positions are written. After a crash, lines delivered since the last write
/// are read again: duplicates are bounded by this interval's deliveries plus those in flight.
const CHECKPOINT_INTERVAL: Duration = Duration::from_millis(250);
const READ_CHUNK: usize = 64 * 1024;

impl Tail {
    fn new(input: Arc<str>, settings: TailSettings, metrics: &Metrics) -> Result<Self, TailError> {
        for p in &settings.paths {
            glob::Pattern::new(p).map_err(|e| TailError::Glob {
                input: input.to_string(),
                pattern: p.clone(),
                reason: e.to_string(),
            })?;
        }
        let restored = match std::fs::read(&settings.checkpoint) {
            Ok(bytes) => {
                serde_json::from_slice::<Checkpoints>(&bytes)
                    .map_err(|e| TailError::Checkpoint {
                        input: input.to_string(),
                        path: settings.checkpoint.clone(),
                        reason: e.to_string(),
                    })?
                    .files
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => BTreeMap::new(),
            Err(e) => {
                return Err(TailError::Checkpoint {
                    input: input.to_string(),
                    path: settings.checkpoint.clone(),
                    reason: e.to_string(),
                });
            }
        };
        if !restored.is_empty() {
            tracing::info!(input = %input, files = restored.len(), "tail resumes from checkpoint");
        }
        Ok(Tail {
            settings,
            tracked: HashMap::new(),
            dormant: HashMap::new(),
            restored,
            next_id: 0,
            dirty: false,
            report: TailReport::default(),
            sent: metrics.input_records.with_label_values(&[&input]),
            cut: metrics
                .input_dropped
                .with_label_values(&[&input, "oversize"]),
            input,
        })
    }

    /// Waits for a wake-up or `timeout`, then drains whatever else is queued.
    fn wait(&mut self, rx: &mpsc::Receiver<Wake>, timeout: Duration) {
        if let Ok(w) = rx.recv_timeout(timeout) {
            self.handle(w);
        }
        while let Ok(w) = rx.try_recv() {
            self.handle(w);
        }
    }

    fn handle(&mut self, wake: Wake) {
        let Wake::Done(id, generation, start, outcome) = wake else {
            return;
        };
        if outcome == Outcome::Failed {
            self.report.failed_acks += 1;
        }
        let t = match self.tracked.get_mut(&id) {
            Some(t) => Some(t),
            None => self.dormant.get_mut(&id),
        };
        if let Some(t) = t
            && t.generation == generation
            && t.commits.complete(start, outcome).is_some()
        {
            self.dirty = true;
        }
    }

    /// Files currently matching a glob, in path order.
    fn matching(&self) -> Vec<PathBuf> {
        let mut out: Vec<PathBuf> = Vec::new();
        for p in &self.settings.paths {
            if let Ok(paths) = glob::glob(p) {
                out.extend(paths.flatten().filter(|p| p.is_file()));
            }
        }
        out.sort();
        out.dedup();
        out
    }

    fn scan_and_read(
        &mut self,
        raw: &Sender<RawRecord>,
        wake: &mpsc::Sender<Wake>,
        stop: &CancellationToken,
    ) -> Result<(), crate::pipeline::channel::Closed> {
        let now = Instant::now();
        let lines = self.settings.fingerprint_lines;
        let found: Vec<(PathBuf, String)> = self
            .matching()
            .into_iter()
            // Empty files, or files whose first lines are not complete yet, wait.
            .filter_map(|p| fingerprint(&p, lines).map(|fp| (p, fp)))
            .collect();
        let mut rewritten = Vec::new();
        for t in self.tracked.values_mut() {
            if found
                .iter()
                .any(|(p, fp)| *p == t.path && *fp == t.fingerprint)
            {
                t.seen = now;
            } else if let Some((p, _)) = found.iter().find(|(_, fp)| *fp == t.fingerprint) {
                // Renamed, or the old path now holds other content (copytruncate): follow
                // the content to its new name.
                if let Ok(f) = File::open(p) {
                    t.file = Some(f);
                    t.path = p.clone();
                    t.seen = now;
                }
            } else if found.iter().any(|(p, _)| *p == t.path)
                && t.file.as_ref().is_some_and(|f| same_file(f, &t.path))
            {
                // Its path holds other content in the same file: rewritten in place.
                rewritten.push(t.id);
            }
            // Otherwise the file left every glob: it is read through its handle until
            // `rotate_wait` has passed.
        }
        for id in rewritten {
            self.report.truncations += 1;
            if let Some(path) = self.forget(id) {
                tracing::info!(input = %self.input, path = %path.display(), "tail saw a file rewritten in place; reading it from the start");
            }
        }
        for (path, fp) in found {
            // One reader per content: copies with a known fingerprint are not read again.
            if !self.tracked.values().any(|t| t.fingerprint == fp) {
                self.start(path, fp, now);
            }
        }
        let ids: Vec<u64> = self.tracked.keys().copied().collect();
        for id in ids {
            if stop.is_cancelled() {
                break;
            }
            self.read(id, raw, wake)?;
        }
        // Forget files that left every glob, were read to the end and are fully delivered.
        let wait = self.settings.rotate_wait;
        let gone: Vec<u64> = self
            .tracked
            .values()
            .filter(|t| now.duration_since(t.seen) > wait && t.commits.in_flight() == 0)
            .filter(|t| {
                t.file
                    .as_ref()
                    .and_then(|f| f.metadata().ok())
                    .is_some_and(|m| m.len() <= t.read_pos)
            })
            .map(|t| t.id)
            .collect();
        for id in gone {
            if let Some(path) = self.forget(id) {
                tracing::debug!(input = %self.input, path = %path.display(), "tail closes a rotated file");
            }
        }
        Ok(())
    }

    fn start(&mut self, path: PathBuf, fp: String, now: Instant) {
        let file = match File::open(&path) {
            Ok(f) => f,
            Err(e) => {
                tracing::debug!(input = %self.input, path = %path.display(), error = %e, "tail cannot open file");
                return;
            }
        };
        let format = match self.settings.format {
            Some(f) => f,
            None => match sniff_line_format(&path) {
                Some(f) => f,
                None => {
                    tracing::warn!(input = %self.input, path = %path.display(), "tail skips a file that is not in a line format");
                    return;
                }
            },
        };
        // Content seen before in this run: resume where it was read, its records in flight
        // still tracked (their acknowledgements find it under the same id).
        if let Some(id) = self
            .dormant
            .values()
            .find(|t| t.fingerprint == fp)
            .map(|t| t.id)
            && let Some(mut t) = self.dormant.remove(&id)
        {
            tracing::debug!(input = %self.input, path = %path.display(), offset = t.read_pos, "tail resumes a file it followed before");
            t.path = path;
            t.file = Some(file);
            t.seen = now;
            self.tracked.insert(id, t);
            return;
        }
        let offset = self.restored.remove(&fp).map_or(0, |p| p.offset);
        let id = self.next_id;
        self.next_id += 1;
        self.report.files += 1;
        tracing::info!(input = %self.input, path = %path.display(), offset, format = %format, "tail follows file");
        self.tracked.insert(
            id,
            Tracked {
                id,
                generation: 0,
                fingerprint: fp,
                path,
                file: Some(file),
                format,
                read_pos: offset,
                partial: Vec::new(),
                commits: OrderedCommits::new(offset),
                w3c: None,
                seen: now,
            },
        );
    }

    /// Reads what was appended to one file and sends its complete lines.
    fn read(
        &mut self,
        id: u64,
        raw: &Sender<RawRecord>,
        wake: &mpsc::Sender<Wake>,
    ) -> Result<(), crate::pipeline::channel::Closed> {
        let Some(t) = self.tracked.get_mut(&id) else {
            return Ok(());
        };
        let Some(file) = t.file.as_ref() else {
            return Ok(());
        };
        let len = match file.metadata() {
            Ok(m) => m.len(),
            Err(_) => return Ok(()),
        };
        let consumed = t.read_pos + t.partial.len() as u64;
        // Shorter than what was read, or other first lines: truncated or rewritten in place.
        let changed = len < consumed
            || fingerprint_of(file, self.settings.fingerprint_lines).as_ref()
                != Some(&t.fingerprint);
        if changed {
            self.truncated(id);
        }
        let Some(t) = self.tracked.get_mut(&id) else {
            return Ok(());
        };
        let Some(file) = t.file.as_mut() else {
            return Ok(());
        };
        if file.seek(SeekFrom::Start(consumed)).is_err() {
            return Ok(());
        }
        let mut buf = vec![0u8; READ_CHUNK];
        let source: Arc<str> = Arc::from(t.path.to_string_lossy().as_ref());
        let lines = self.settings.fingerprint_lines;
        let mut changed = false;
        loop {
            let n = match file.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            // Checked after the read: content replaced before or during it is never sent.
            if fingerprint_of(file, lines).as_ref() != Some(&t.fingerprint) {
                changed = true;
                break;
            }
            t.partial.extend_from_slice(&buf[..n]);
            let mut start_in_partial = 0;
            while let Some(nl) = memchr::memchr(b'\n', &t.partial[start_in_partial..]) {
                let line_end = start_in_partial + nl + 1;
                let bytes = &t.partial[start_in_partial..line_end];
                let start = t.read_pos + start_in_partial as u64;
                let end = t.read_pos + line_end as u64;
                start_in_partial = line_end;
                let mut text = String::from_utf8_lossy(bytes);
                let mut line = text.trim().trim_start_matches('\u{feff}');
                t.commits.issue(start, end);
                if line.is_empty() {
                    t.commits.complete(start, Outcome::Delivered);
                    continue;
                }
                if line.len() > self.settings.max_line_bytes {
                    let mut cut = self.settings.max_line_bytes;
                    while !line.is_char_boundary(cut) {
                        cut -= 1;
                    }
                    self.report.cut_lines += 1;
                    self.cut.inc();
                    text = std::borrow::Cow::Owned(line[..cut].to_owned());
                    line = &text;
                }
                let (wake, id, generation) = (wake.clone(), t.id, t.generation);
                let record = RawRecord {
                    origin: Origin {
                        input: self.input.clone(),
                        source: source.clone(),
                        index: start,
                    },
                    received: Utc::now(),
                    payload: line_payload(t.format, line, &mut t.w3c),
                    ack: Ack::new(move |outcome| {
                        let _ = wake.send(Wake::Done(id, generation, start, outcome));
                    }),
                };
                raw.send_blocking(record)?;
                self.report.lines += 1;
                self.sent.inc();
            }
            t.partial.drain(..start_in_partial);
            t.read_pos += start_in_partial as u64;
            if n < buf.len() {
                break;
            }
        }
        if changed {
            self.truncated(id);
        }
        Ok(())
    }

    /// Stops following a file but remembers it: if the same content shows up again (a glob
    /// matches it anew), reading resumes where it stopped instead of at 0.
    fn forget(&mut self, id: u64) -> Option<PathBuf> {
        let mut t = self.tracked.remove(&id)?;
        if self.dormant.len() >= MAX_REMEMBERED
            && let Some(oldest) = self.dormant.values().min_by_key(|t| t.seen).map(|t| t.id)
        {
            self.dormant.remove(&oldest);
        }
        self.dirty = true;
        let path = t.path.clone();

        t.file = None;
        self.dormant.insert(t.id, t);
        Some(path)
    }

    /// A followed file became shorter than what was read. If a copy with the same fingerprint
    /// matches a glob (copytruncate), reading goes on there; otherwise the file is new content
    /// and is read from byte 0.
    fn truncated(&mut self, id: u64) {
        self.report.truncations += 1;
        let Some((path, fp)) = self
            .tracked
            .get(&id)
            .map(|t| (t.path.clone(), t.fingerprint.clone()))
        else {
            return;
        };
        let copy = self
            .matching()
            .into_iter()
            .find(|p| *p != path && fingerprint_matches(p, &fp, &self.settings))
            .and_then(|p| File::open(&p).ok().map(|f| (p, f)));
        match (copy, self.tracked.get_mut(&id)) {
            (Some((p, f)), Some(t)) => {
                tracing::info!(input = %self.input, from = %path.display(), to = %p.display(), "tail follows the truncated file's copy");
                t.path = p;
                t.file = Some(f);
            }
            _ => {
                // The next scan finds the new content under its own fingerprint.
                tracing::info!(input = %self.input, path = %path.display(), "tail saw a truncation; reading from the start");
                self.forget(id);
            }
        }
    }

    /// Writes the delivered positions: temporary file, fsync, rename.
    fn save(&mut self) {
        let mut files = self.restored.clone();
        for t in self.dormant.values().chain(self.tracked.values()) {
            files.insert(
                t.fingerprint.clone(),
                Position {
                    path: t.path.clone(),
                    offset: t.commits.committed(),
                },
            );
        }
        let doc = Checkpoints { version: 1, files };
        match write_atomically(&self.settings.checkpoint, &doc) {
            Ok(()) => self.dirty = false,
            Err(e) => {
                tracing::error!(input = %self.input, path = %self.settings.checkpoint.display(), error = %e, "tail cannot write its checkpoint")
            }
        }
    }
}

fn write_atomically(path: &Path, doc: &Checkpoints) -> std::io::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension("tmp");
    let bytes = serde_json::to_vec_pretty(doc).map_err(std::io::Error::other)?;
    let mut f = File::create(&tmp)?;
    f.write_all(&bytes)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty())
        && let Ok(d) = File::open(dir)
    {
        let _ = d.sync_all();
    }
    Ok(())
}

/// Hash of the file's first `lines` complete lines (at most 4 KiB); `None` until they exist.
fn fingerprint(path: &Path, lines: usize) -> Option<String> {
    fingerprint_of(&File::open(path).ok()?, lines)
}

/// [`fingerprint`] of an open file, read at offset 0 without moving its cursor.
fn fingerprint_of(f: &File, lines: usize) -> Option<String> {
    use std::os::unix::fs::FileExt;
    let mut head = vec![0u8; FINGERPRINT_MAX];
    let mut n = 0;
    while n < head.len() {
        match f.read_at(&mut head[n..], n as u64) {
            Ok(0) | Err(_) => break,
            Ok(k) => n += k,
        }
    }
    let head = &head[..n];
    let mut end = 0;
    for _ in 0..lines.max(1) {
        match memchr::memchr(b'\n', &head[end..]) {
            Some(i) => end += i + 1,
            None if head.len() == FINGERPRINT_MAX => {
                end = head.len();
                break;
            }
            None => return None,
        }
    }
    let digest = Sha256::digest(&head[..end]);
    Some(crate::event::hex(&digest[..8]))
}

/// True when `file` (an open handle) is the file now at `path` (same device and inode).
fn same_file(file: &File, path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (file.metadata(), std::fs::metadata(path)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

fn fingerprint_matches(path: &Path, fp: &str, settings: &TailSettings) -> bool {
    fingerprint(path, settings.fingerprint_lines).as_deref() == Some(fp)
}

/// The line format of a file from its first bytes (`None` for whole-document formats).
fn sniff_line_format(path: &Path) -> Option<Format> {
    let mut head = vec![0u8; 4096];
    let mut f = File::open(path).ok()?;
    let n = f.read(&mut head).ok()?;
    match normalize::sniff(&head[..n]) {
        Some(f @ (Format::Json | Format::Syslog | Format::WebAccess)) => Some(f),
        Some(_) => None,
        None => normalize::looks_like_text(&head[..n]).then_some(Format::Text),
    }
}

/// Watches the directories of the globs; events only wake the loop (the poll is the fallback).
fn watch(patterns: &[String], wake: mpsc::Sender<Wake>) -> Option<notify::RecommendedWatcher> {
    use notify::Watcher;
    let mut watcher = notify::recommended_watcher(move |_res: notify::Result<notify::Event>| {
        let _ = wake.send(Wake::Changed);
    })
    .ok()?;
    for p in patterns {
        let dir = glob_base(p);
        if let Err(e) = watcher.watch(&dir, notify::RecursiveMode::NonRecursive) {
            tracing::debug!(dir = %dir.display(), error = %e, "tail cannot watch directory; polling");
        }
    }
    Some(watcher)
}

/// The directory part of a glob before its first wildcard.
fn glob_base(pattern: &str) -> PathBuf {
    let mut base = PathBuf::new();
    for comp in Path::new(pattern)
        .parent()
        .unwrap_or(Path::new("."))
        .components()
    {
        if comp.as_os_str().to_string_lossy().contains(['*', '?', '[']) {
            break;
        }
        base.push(comp);
    }
    if base.as_os_str().is_empty() {
        base.push(".");
    }
    base
}

#[cfg(test)]
#[path = "tail_tests.rs"]
mod tests;
