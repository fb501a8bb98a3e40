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
//!   completions into the position below which every line is delivered (the commit point),
//!   and only that is checkpointed (write to a temporary file, fsync, rename). After a crash,
//!   lines past the checkpoint are read again, with the same event ids (the origin index is the
//!   line's byte offset).
//! * **Bounded re-delivery**: completions are applied as they arrive, also between the sends
//!   of a backlog, and the checkpoint is written once `checkpoint_every` lines are committed
//!   since the last write (or `checkpoint_interval` passed with progress); the tail reads at
//!   most `max_in_flight` lines past the commit point (files whose commit point is held by a
//!   failed line excepted). The lines delivered but not in the last written checkpoint are the
//!   committed lines not yet written (fewer than `checkpoint_every` when the next line is
//!   read) plus lines past the commit point (at most `max_in_flight`), so after `kill -9` at
//!   most `checkpoint_every + max_in_flight - 1` lines are delivered twice. A line that failed
//!   holds its file's commit point until a restart; its file's later lines are then read again.
//! * **Wake-ups** come from `notify` (inotify) on the directories of the globs, with a poll
//!   every `poll_interval` as the fallback for file systems that do not report changes.
//!
//! Line formats only (NDJSON, syslog, web access logs, text), sniffed from the file's first
//! bytes or forced by `format`. A line longer than `max_line_bytes` is cut to that length,
//! marked and counted ([`super::lines`]); only its first `max_line_bytes` are held in memory
//! while the rest streams past, however long it is. A partial last line waits for its newline
//! (or for its file to be rotated away).

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use chrono::Utc;
use sha2::{Digest, Sha256};
use tokio_util::sync::CancellationToken;

use super::lines::{self, Cuts, LineLen};
use crate::event::Origin;
use crate::flow::ack::{Ack, OrderedCommits, Outcome};
use crate::flow::channel::Sender;
use crate::metrics::Metrics;
use crate::normalize::weblog::W3cFields;
use crate::normalize::{self, Format, Position as At};
use crate::normalize::{Payload, RawRecord};
use checkpoint::{Checkpoints, Policy, Position};
pub use config::TailInputConfig;

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
    /// Write the checkpoint once this many lines are committed since the last write …
    pub checkpoint_every: usize,
    /// … or once this long has passed since it with progress, whichever comes first.
    pub checkpoint_interval: Duration,
    /// Lines read past the commit point (in flight, or delivered after a line still in
    /// flight) before the tail waits for completions.
    pub max_in_flight: usize,
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
    /// The first bytes (at most [`lines::kept_bytes`]) of the line at `read_pos`, read but
    /// not yet ended by a newline.
    partial: Vec<u8>,
    /// Bytes of that line read so far (those past `partial` were consumed and discarded).
    line_len: u64,
    commits: OrderedCommits,
    w3c: Option<Arc<W3cFields>>,
    /// Last time a glob matched its path.
    seen: Instant,
}

/// A line read from a file, framed, not yet handed to the pipeline.
struct Framed {
    start: u64,
    end: u64,
    /// `None` for an empty line (delivered as soon as it is issued).
    payload: Option<Payload>,
}

/// Starts a `tail` input on a blocking thread; the daemon waits for it after the drain (it
/// writes its last checkpoint then).
pub fn start(
    name: Arc<str>,
    cfg: &TailInputConfig,
    w: &super::Wiring,
) -> Option<tokio::task::JoinHandle<()>> {
    let settings = cfg.settings(&name, &w.state_dir, w.channel_capacity);
    let w = w.clone();
    Some(tokio::task::spawn_blocking(move || {
        match run(name.clone(), settings, w.raw, w.stop, &w.metrics) {
            Ok(r) => {
                tracing::info!(input = %name, files = r.files, lines = r.lines, truncations = r.truncations, cut_lines = r.cut_lines, failed = r.failed_acks, "tail input stopped")
            }
            Err(e) => tracing::error!(input = %name, error = %e, "tail input failed"),
        }
    }))
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
    let wakes = Wakes {
        tx: wake_tx,
        rx: wake_rx,
    };
    while !stop.is_cancelled() {
        if tail.scan_and_read(&raw, &wakes, &stop).is_err() {
            break; // the pipeline closed
        }
        tail.wait(&wakes.rx, tail.settings.poll_interval);
    }
    // Stop reading; let every record in flight finish (each holds a clone of the sender, and
    // the channel ends when the last one is released).
    drop(raw);
    drop(watcher);
    let Wakes { tx, rx } = wakes;
    drop(tx);
    while let Ok(w) = rx.recv() {
        tail.handle(w);
    }
    tail.save(Instant::now());
    Ok(tail.report)
}

/// The tail loop's wake-up channel: completions and file-system events.
struct Wakes {
    tx: mpsc::Sender<Wake>,
    rx: mpsc::Receiver<Wake>,
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
    /// When to write the checkpoint.
    policy: Policy,
    /// Lines read past the commit point of files whose commit point can still move (no failed
    /// line): kept up to date on issue and commit, recounted when files come and go.
    window: usize,
    /// The file system reported a change while the tail was busy reading.
    changed: bool,
    report: TailReport,
    /// `nightwatch_input_records_total`.
    sent: prometheus::IntCounter,
    /// Lines cut to `max_line_bytes` (`nightwatch_input_records_truncated_total`).
    cuts: Cuts,
}

const FINGERPRINT_MAX: usize = 4096;
/// Files no longer followed that are remembered (and checkpointed) in case they reappear.
const MAX_REMEMBERED: usize = 4096;
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
        let policy = Policy::new(
            settings.checkpoint_every,
            settings.checkpoint_interval,
            Instant::now(),
        );
        Ok(Tail {
            tracked: HashMap::new(),
            dormant: HashMap::new(),
            restored,
            next_id: 0,
            policy,
            window: 0,
            changed: false,
            report: TailReport::default(),
            sent: metrics.input.records.with_label_values(&[&input]),
            cuts: Cuts::new(
                input.clone(),
                settings.max_line_bytes,
                Some(metrics.input.truncated.with_label_values(&[&input])),
            ),
            settings,
            input,
        })
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
        wakes: &Wakes,
        stop: &CancellationToken,
    ) -> Result<(), crate::flow::channel::Closed> {
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
        self.recount_window();
        let ids: Vec<u64> = self.tracked.keys().copied().collect();
        for id in ids {
            if stop.is_cancelled() {
                break;
            }
            self.read(id, raw, wakes, stop)?;
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
                line_len: 0,
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
        wakes: &Wakes,
        stop: &CancellationToken,
    ) -> Result<(), crate::flow::channel::Closed> {
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
        let consumed = t.read_pos + t.line_len;
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
        let fp_lines = self.settings.fingerprint_lines;
        let mut changed = false;
        let mut batch = Vec::new();
        loop {
            let Some(t) = self.tracked.get_mut(&id) else {
                return Ok(());
            };
            let Some(file) = t.file.as_mut() else {
                return Ok(());
            };
            let n = match file.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            // Checked after the read: content replaced before or during it is never sent.
            if fingerprint_of(file, fp_lines).as_ref() != Some(&t.fingerprint) {
                changed = true;
                break;
            }
            let (max, keep) = (
                self.settings.max_line_bytes,
                lines::kept_bytes(self.settings.max_line_bytes),
            );
            let mut rest = &buf[..n];
            while !rest.is_empty() {
                let (used, complete) = lines::take_segment(rest, &mut t.partial, keep);
                rest = &rest[used..];
                t.line_len += used as u64;
                if !complete {
                    break;
                }
                let start = t.read_pos;
                let len = LineLen {
                    total: t.line_len,
                    newline: true,
                };
                let end = start + len.total;
                t.read_pos = end;
                t.line_len = 0;
                let framed = lines::frame(t.format, &t.partial, len, max, &mut t.w3c);
                t.partial.clear();
                let payload = framed.map(|framed| {
                    if let Some(original) = framed.cut_from {
                        self.report.cut_lines += 1;
                        self.cuts.note(&source, At::Byte(start), original);
                    }
                    framed.payload
                });
                batch.push(Framed {
                    start,
                    end,
                    payload,
                });
            }
            // Lines left unsent when the tail stops are never issued: the commit point stays
            // before them, so they are read again after the restart.
            if !self.send(id, &source, batch.drain(..), raw, wakes, stop)? {
                return Ok(());
            }
            if n < buf.len() {
                break;
            }
        }
        if changed {
            self.truncated(id);
        }
        Ok(())
    }

    /// Issues and sends framed lines of one file in order, each once the window has room,
    /// applying completions and writing the checkpoint when due between the sends. False when
    /// the tail stopped before every line was sent.
    fn send(
        &mut self,
        id: u64,
        source: &Arc<str>,
        lines: impl Iterator<Item = Framed>,
        raw: &Sender<RawRecord>,
        wakes: &Wakes,
        stop: &CancellationToken,
    ) -> Result<bool, crate::flow::channel::Closed> {
        for Framed {
            start,
            end,
            payload,
        } in lines
        {
            if !self.make_room(&wakes.rx, stop) {
                return Ok(false);
            }
            let Some(t) = self.tracked.get_mut(&id) else {
                return Ok(false);
            };
            t.commits.issue(start, end);
            if t.commits.failed() == 0 {
                self.window += 1;
            }
            let Some(payload) = payload else {
                self.apply(id, start, Outcome::Delivered);
                continue;
            };
            let (wake, generation) = (wakes.tx.clone(), t.generation);
            let record = RawRecord {
                origin: Origin {
                    input: self.input.clone(),
                    source: source.clone(),
                    index: start,
                },
                received: Utc::now(),
                payload,
                ack: Ack::new(move |outcome| {
                    let _ = wake.send(Wake::Done(id, generation, start, outcome));
                }),
            };
            raw.send_blocking(record)?;
            self.report.lines += 1;
            self.sent.inc();
        }
        Ok(true)
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
        self.policy.changed();
        let path = t.path.clone();

        t.file = None;
        self.dormant.insert(t.id, t);
        self.recount_window();
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

mod checkpoint;
mod config;

#[cfg(test)]
mod tests;
