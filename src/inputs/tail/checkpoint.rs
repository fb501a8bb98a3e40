//! Tail checkpoints: the file of delivered positions, its atomic write, the policy that
//! decides when to write it, and the tail's bookkeeping of completions (commit points, the
//! window of lines past them) that feeds both.
//!
//! The policy bounds what a crash can re-deliver. A line is *committed* when it and every
//! line before it in its file are delivered; the checkpoint records the committed positions.
//! [`Policy`] asks for a write as soon as `checkpoint_every` lines were committed since the
//! last write, or when `checkpoint_interval` has passed since it and anything moved. The tail
//! checks it after every completion it applies, including between the sends of a backlog, so
//! fewer than `checkpoint_every` committed lines are ever waiting for a write when the tail
//! reads the next line. Together with the tail's window (at most `max_in_flight` lines read
//! past the commit point) that bounds the lines delivered twice after `kill -9`; see
//! [the tail module](super).

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use super::{Tail, Wake};
use crate::flow::ack::Outcome;

/// The checkpoint file: per fingerprint, the delivered position and the last path seen.
#[derive(Debug, Default, Serialize, Deserialize)]
pub(super) struct Checkpoints {
    pub(super) version: u32,
    pub(super) files: BTreeMap<String, Position>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct Position {
    pub(super) path: PathBuf,
    pub(super) offset: u64,
}

/// Writes `doc` to `path`: temporary file, fsync, rename, fsync of the directory.
pub(super) fn write_atomically(path: &Path, doc: &Checkpoints) -> std::io::Result<()> {
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

/// When the checkpoint is due: after `every` committed lines or `interval` with progress,
/// whichever comes first.
#[derive(Debug)]
pub(super) struct Policy {
    every: u64,
    interval: Duration,
    /// Lines committed since the last write.
    committed: u64,
    /// Positions moved or files were forgotten since the last write.
    dirty: bool,
    /// The last write, or the last failed attempt.
    last: Instant,
    /// The last attempt failed: the count trigger waits for the interval too, so a full disk
    /// costs one attempt (and one log line) per interval, not one per line.
    failing: bool,
}

impl Policy {
    pub(super) fn new(every: usize, interval: Duration, now: Instant) -> Self {
        Policy {
            every: every.max(1) as u64,
            interval,
            committed: 0,
            dirty: false,
            last: now,
            failing: false,
        }
    }

    /// `lines` more lines are committed.
    pub(super) fn committed(&mut self, lines: u64) {
        if lines > 0 {
            self.committed += lines;
            self.dirty = true;
        }
    }

    /// Something else the checkpoint records changed (a file was forgotten).
    pub(super) fn changed(&mut self) {
        self.dirty = true;
    }

    /// Lines committed since the last write.
    pub(super) fn pending(&self) -> u64 {
        self.committed
    }

    /// True when the checkpoint should be written now.
    pub(super) fn due(&self, now: Instant) -> bool {
        self.dirty
            && ((self.committed >= self.every && !self.failing)
                || now.duration_since(self.last) >= self.interval)
    }

    /// When the interval trigger fires next, if anything is waiting to be written.
    pub(super) fn next_due(&self) -> Option<Instant> {
        self.dirty.then_some(self.last + self.interval)
    }

    /// The checkpoint was written. Returns true when earlier attempts had failed.
    pub(super) fn written(&mut self, now: Instant) -> bool {
        self.committed = 0;
        self.dirty = false;
        self.last = now;
        std::mem::replace(&mut self.failing, false)
    }

    /// Writing failed. Returns true for the first failure of a run of failures (the one to log).
    pub(super) fn failed(&mut self, now: Instant) -> bool {
        self.last = now;
        !std::mem::replace(&mut self.failing, true)
    }
}

impl Tail {
    /// Between reads: applies completions and writes the checkpoint when due, until the file
    /// system reports a change or `timeout` has passed.
    pub(super) fn wait(&mut self, rx: &mpsc::Receiver<Wake>, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        while !std::mem::take(&mut self.changed) && Instant::now() < deadline {
            self.pump(rx, deadline);
        }
        self.maybe_save();
    }

    /// Waits for one wake-up until `until` (or until the checkpoint's interval trigger, when
    /// that is sooner), applies it and whatever else is queued, and writes the checkpoint when
    /// due.
    fn pump(&mut self, rx: &mpsc::Receiver<Wake>, until: Instant) {
        let until = self.policy.next_due().map_or(until, |due| due.min(until));
        if let Ok(w) = rx.recv_timeout(until.saturating_duration_since(Instant::now())) {
            self.handle(w);
        }
        self.drain(rx);
    }

    /// Applies the wake-ups already queued, without waiting, and writes the checkpoint when
    /// due.
    fn drain(&mut self, rx: &mpsc::Receiver<Wake>) {
        while let Ok(w) = rx.try_recv() {
            self.handle(w);
        }
        self.maybe_save();
    }

    pub(super) fn handle(&mut self, wake: Wake) {
        let Wake::Done(id, generation, start, outcome) = wake else {
            self.changed = true;
            return;
        };
        if outcome == Outcome::Failed {
            self.report.failed_acks += 1;
        }
        let current = match self.tracked.get(&id) {
            Some(t) => Some(t.generation),
            None => self.dormant.get(&id).map(|t| t.generation),
        };
        if current == Some(generation) {
            self.apply(id, start, outcome);
        }
    }

    /// Recounts the lines past the commit point of the files whose commit point can move.
    pub(super) fn recount_window(&mut self) {
        self.window = self
            .tracked
            .values()
            .chain(self.dormant.values())
            .filter(|t| t.commits.failed() == 0)
            .map(|t| t.commits.in_flight())
            .sum();
    }

    /// Writes the checkpoint if the policy says it is due.
    fn maybe_save(&mut self) {
        let now = Instant::now();
        if self.policy.due(now) {
            self.save(now);
        }
    }

    /// Applies the completions already queued and waits for more while `max_in_flight` lines
    /// are past the commit point. False when the tail stopped meanwhile.
    pub(super) fn make_room(
        &mut self,
        rx: &mpsc::Receiver<Wake>,
        stop: &CancellationToken,
    ) -> bool {
        self.drain(rx);
        let max = self.settings.max_in_flight.max(1);
        while self.window >= max {
            // The running count can only be high (a remembered file dropped with lines out).
            self.recount_window();
            if self.window < max {
                break;
            }
            if stop.is_cancelled() {
                return false;
            }
            self.pump(rx, Instant::now() + self.settings.poll_interval);
        }
        true
    }

    /// Writes the delivered positions: temporary file, fsync, rename.
    pub(super) fn save(&mut self, now: Instant) {
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
        let path = &self.settings.checkpoint;
        match write_atomically(path, &doc) {
            Ok(()) => {
                if self.policy.written(now) {
                    tracing::info!(input = %self.input, path = %path.display(), "tail writes its checkpoint again");
                }
            }
            Err(e) => {
                let lines = self.policy.pending();
                if self.policy.failed(now) {
                    tracing::error!(input = %self.input, path = %path.display(), error = %e, lines, "tail cannot write its checkpoint; retrying every checkpoint_interval_ms, and lines delivered meanwhile are read again after a crash");
                } else {
                    tracing::debug!(input = %self.input, path = %path.display(), error = %e, lines, "tail still cannot write its checkpoint");
                }
            }
        }
    }

    /// Applies one completion of a line of file `id`: moves its commit point, counts the lines
    /// committed for the checkpoint policy, and keeps the window count.
    pub(super) fn apply(&mut self, id: u64, start: u64, outcome: Outcome) {
        let t = match self.tracked.get_mut(&id) {
            Some(t) => t,
            None => match self.dormant.get_mut(&id) {
                Some(t) => t,
                None => return,
            },
        };
        let held = t.commits.failed() > 0;
        let before = t.commits.in_flight();
        t.commits.complete(start, outcome);
        let committed = before.saturating_sub(t.commits.in_flight());
        self.policy.committed(committed as u64);
        if held {
            // Not in the window: its commit point cannot pass a failed line before a restart.
        } else if outcome == Outcome::Failed {
            // It leaves the window now rather than stop the reading of every file.
            tracing::warn!(input = %self.input, path = %t.path.display(), offset = start, "a tailed line was not delivered; its file's checkpoint stays before it until a restart, and the lines after it will be read again then");
            self.recount_window();
        } else {
            self.window = self.window.saturating_sub(committed);
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    const SEC: Duration = Duration::from_secs(1);

    #[test]
    fn due_after_every_committed_lines_or_the_interval_with_progress() {
        let t0 = Instant::now();
        let mut p = Policy::new(100, SEC, t0);
        assert!(!p.due(t0 + 10 * SEC), "nothing moved: nothing to write");
        assert_eq!(p.next_due(), None);
        p.committed(99);
        assert!(!p.due(t0), "99 of 100 lines, interval not passed");
        assert_eq!(p.next_due(), Some(t0 + SEC));
        assert!(p.due(t0 + SEC), "interval passed with progress");
        p.committed(1);
        assert!(p.due(t0), "100 lines");
        assert!(!p.written(t0));
        assert_eq!(p.pending(), 0);
        assert!(!p.due(t0 + 10 * SEC));
        p.changed();
        assert!(!p.due(t0), "a forgotten file waits for the interval");
        assert!(p.due(t0 + SEC));
    }

    #[test]
    fn a_failing_write_is_retried_once_per_interval_and_logged_once() {
        let t0 = Instant::now();
        let mut p = Policy::new(10, SEC, t0);
        p.committed(10);
        assert!(p.due(t0));
        assert!(p.failed(t0), "the first failure is logged");
        p.committed(50);
        assert!(!p.due(t0), "no retry per line while failing");
        assert!(p.due(t0 + SEC));
        assert!(!p.failed(t0 + SEC), "later failures are not logged again");
        assert!(p.written(t0 + 2 * SEC), "recovery is reported");
        p.committed(10);
        assert!(p.due(t0 + 2 * SEC), "the count trigger is back");
    }
}
