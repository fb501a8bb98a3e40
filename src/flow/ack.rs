//! Delivery acknowledgements: how an input learns that a record's outcome has left the daemon.
//!
//! Every [`RawRecord`](crate::normalize::RawRecord) carries an [`Ack`]. Stages pass it along with
//! whatever the record became (events, matches, a case's pending verdict, a dead letter) and
//! clone it when a record fans out into several events. A holder releases its clone with
//! [`Ack::done`] once its part is finished — the event matched nothing, the verdict was
//! written by every sink, the dead letter was appended. When the last clone is released the
//! input's callback runs once with [`Outcome::Delivered`]. If any clone is dropped without
//! `done` (a stage stopped early, a sink gave up, a task panicked) the outcome is
//! [`Outcome::Failed`]: the input must not advance past that record, so after a crash or a
//! restart it is read again. That is the whole at-least-once guarantee; inputs that cannot
//! replay (UDP syslog, core NATS, stdin) use [`Ack::none`].
//!
//! Inputs whose positions are ordered (a file offset, a partition offset) feed completions
//! into an [`OrderedCommits`], which yields the position up to which every record is delivered.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// How a record's processing ended, as reported to its input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Every holder released its share with [`Ack::done`].
    Delivered,
    /// At least one holder dropped its share without finishing.
    Failed,
}

type Callback = Box<dyn FnOnce(Outcome) + Send>;

struct Shared {
    failed: AtomicBool,
    on_complete: Mutex<Option<Callback>>,
}

impl Drop for Shared {
    fn drop(&mut self) {
        let outcome = if self.failed.load(Ordering::Acquire) {
            Outcome::Failed
        } else {
            Outcome::Delivered
        };
        let callback = match self.on_complete.get_mut() {
            Ok(slot) => slot.take(),
            Err(poisoned) => poisoned.into_inner().take(),
        };
        if let Some(callback) = callback {
            callback(outcome);
        }
    }
}

/// One holder's share of a record's acknowledgement. Cheap to clone.
#[derive(Clone, Default)]
pub struct Ack(Option<Arc<Shared>>);

impl Ack {
    /// An acknowledgement nobody waits for (inputs that cannot replay).
    pub fn none() -> Self {
        Ack(None)
    }

    /// An acknowledgement whose `on_complete` runs once, when every clone has been released.
    pub fn new(on_complete: impl FnOnce(Outcome) + Send + 'static) -> Self {
        Ack(Some(Arc::new(Shared {
            failed: AtomicBool::new(false),
            on_complete: Mutex::new(Some(Box::new(on_complete))),
        })))
    }

    /// Releases this share as finished.
    pub fn done(mut self) {
        self.0 = None;
    }

    /// True for [`Ack::none`].
    pub fn is_none(&self) -> bool {
        self.0.is_none()
    }

    /// One acknowledgement standing for all of `acks`: releasing it as done releases each of
    /// them as done; dropping it (or any clone) unfinished fails them all.
    pub fn merge(acks: Vec<Ack>) -> Ack {
        let acks: Vec<Ack> = acks.into_iter().filter(|a| !a.is_none()).collect();
        match acks.len() {
            0 => Ack::none(),
            1 => acks.into_iter().next().unwrap_or_default(),
            _ => Ack::new(move |outcome| {
                if outcome == Outcome::Delivered {
                    acks.into_iter().for_each(Ack::done);
                }
            }),
        }
    }
}

impl Drop for Ack {
    fn drop(&mut self) {
        if let Some(shared) = self.0.take() {
            shared.failed.store(true, Ordering::Release);
        }
    }
}

impl fmt::Debug for Ack {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_some() { "Ack" } else { "Ack(none)" })
    }
}

/// Tracks out-of-order completions of in-order positions and yields the commit point: the end
/// of the longest prefix of delivered records. A failed record holds the commit point until
/// the input re-reads it (after a restart), which is what makes delivery at-least-once.
#[derive(Debug, Default)]
pub struct OrderedCommits {
    /// Issued positions not yet delivered: start → (end, delivered?, failed?).
    pending: BTreeMap<u64, Slot>,
    /// Everything before this position is delivered.
    committed: u64,
    failed: u64,
}

#[derive(Debug, Clone, Copy)]
struct Slot {
    end: u64,
    delivered: bool,
}

impl OrderedCommits {
    /// Starts at `committed` (the position restored from a checkpoint, or 0).
    pub fn new(committed: u64) -> Self {
        OrderedCommits {
            committed,
            ..Self::default()
        }
    }

    /// A record covering `start..end` was handed to the pipeline.
    pub fn issue(&mut self, start: u64, end: u64) {
        self.pending.insert(
            start,
            Slot {
                end,
                delivered: false,
            },
        );
    }

    /// The record starting at `start` finished with `outcome`. Returns the new commit point
    /// when it moved.
    pub fn complete(&mut self, start: u64, outcome: Outcome) -> Option<u64> {
        match outcome {
            Outcome::Delivered => {
                if let Some(slot) = self.pending.get_mut(&start) {
                    slot.delivered = true;
                }
            }
            Outcome::Failed => self.failed += 1,
        }
        let before = self.committed;
        while let Some(entry) = self.pending.first_entry() {
            if !entry.get().delivered {
                break;
            }
            self.committed = self.committed.max(entry.get().end);
            entry.remove();
        }
        (self.committed != before).then_some(self.committed)
    }

    /// Everything before this position is delivered.
    pub fn committed(&self) -> u64 {
        self.committed
    }

    /// Records issued and not yet delivered (including failed ones).
    pub fn in_flight(&self) -> usize {
        self.pending.len()
    }

    /// Records that completed as failed.
    pub fn failed(&self) -> u64 {
        self.failed
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use std::sync::mpsc;

    fn tracked() -> (Ack, mpsc::Receiver<Outcome>) {
        let (tx, rx) = mpsc::channel();
        (
            Ack::new(move |o| {
                let _ = tx.send(o);
            }),
            rx,
        )
    }

    #[test]
    fn delivered_once_when_every_clone_is_done() {
        let (ack, rx) = tracked();
        let a = ack.clone();
        let b = ack.clone();
        ack.done();
        a.done();
        assert!(rx.try_recv().is_err(), "one share is still out");
        b.done();
        assert_eq!(rx.try_recv(), Ok(Outcome::Delivered));
        assert!(rx.try_recv().is_err(), "the callback runs once");
    }

    #[test]
    fn one_share_dropped_unfinished_fails_the_record() {
        let (ack, rx) = tracked();
        let lost = ack.clone();
        ack.done();
        drop(lost);
        assert_eq!(rx.try_recv(), Ok(Outcome::Failed));
    }

    #[test]
    fn merged_acks_follow_the_merge() {
        let (a, ra) = tracked();
        let (b, rb) = tracked();
        let merged = Ack::merge(vec![a, Ack::none(), b]);
        let sink1 = merged.clone();
        merged.done();
        sink1.done();
        assert_eq!(ra.try_recv(), Ok(Outcome::Delivered));
        assert_eq!(rb.try_recv(), Ok(Outcome::Delivered));

        let (c, rc) = tracked();
        let (d, rd) = tracked();
        let merged = Ack::merge(vec![c, d]);
        let sink1 = merged.clone();
        merged.done();
        drop(sink1);
        assert_eq!(rc.try_recv(), Ok(Outcome::Failed));
        assert_eq!(rd.try_recv(), Ok(Outcome::Failed));
        assert!(Ack::merge(vec![Ack::none()]).is_none());
    }

    #[test]
    fn commits_advance_over_the_delivered_prefix_only() {
        let mut c = OrderedCommits::new(100);
        c.issue(100, 110);
        c.issue(110, 125);
        c.issue(125, 130);
        assert_eq!(
            c.complete(110, Outcome::Delivered),
            None,
            "100 is still out"
        );
        assert_eq!(c.complete(100, Outcome::Delivered), Some(125));
        assert_eq!(c.in_flight(), 1);
        assert_eq!(
            c.complete(125, Outcome::Failed),
            None,
            "a failure holds the point"
        );
        assert_eq!(c.committed(), 125);
        assert_eq!(c.failed(), 1);
    }
}
