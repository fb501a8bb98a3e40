//! Correlation state that survives a restart.
//!
//! A journaled [`Correlator`] remembers which groups changed; [`Correlator::snapshot`] hands
//! them out and [`CorrelationJournal::write`] stores them in the `correlation` tree of the
//! embedded store (one key per correlation rule and group, written in one batch and flushed).
//! The pipeline holds back the acknowledgement of every event that changed correlation state
//! until a snapshot holding that change is flushed, so an input never commits a position past
//! state that only lived in memory. After a restart [`Correlator::restore`] continues from the
//! journal, and the events the input reads again (those past its last commit) are recognised
//! by their ids and not counted twice.
//!
//! Groups are keyed by the correlation's rule id and checked against a fingerprint of its
//! definition: state of a correlation that was removed or changed is dropped at restore.
//! Only the newest `max_events_in_match` entries of a group keep their events (the evidence a
//! match carries); older entries keep time, value and id, which is all a window needs.

use std::cmp::Reverse;
use std::collections::VecDeque;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::{CorrelationDef, Correlator, Entry, Group, judged_at_close};
use crate::event::{Event, EventId};
use crate::store::{Store, StoreError};

/// The journal's tree in the embedded store.
const TREE: &str = "correlation";
/// The key of the correlator's watermark (group keys are JSON arrays and start with `[`).
const WATERMARK: &[u8] = b"\0watermark";

#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error("correlation journal: {0}")]
    Store(#[from] StoreError),
    #[error("correlation journal: {0}")]
    Sled(#[from] sled::Error),
    #[error("correlation journal: damaged entry for rule {rule}: {reason}")]
    Damaged { rule: String, reason: String },
}

#[derive(Serialize, Deserialize)]
struct StoredGroup {
    /// [`fingerprint`] of the correlation the state belongs to.
    definition: String,
    last: i64,
    entries: Vec<StoredEntry>,
    consumed: Vec<EventId>,
}

#[derive(Serialize, Deserialize)]
struct StoredEntry {
    t: i64,
    refpos: u32,
    value: Option<String>,
    id: Option<EventId>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    events: Vec<Event>,
}

/// The groups changed since the previous snapshot: `None` for a group that is gone.
pub struct Snapshot {
    changes: Vec<(Vec<u8>, Option<Vec<u8>>)>,
    watermark: i64,
}

impl Snapshot {
    /// Groups written or removed.
    pub fn len(&self) -> usize {
        self.changes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }
}

/// What a correlation's state depends on: state saved under another definition is dropped.
fn fingerprint(def: &CorrelationDef) -> String {
    let raw = &def.raw;
    format!(
        "{:?}|{:?}|{:?}|{}|{:?}",
        raw.ctype, raw.rules, raw.group_by, raw.timespan_ms, raw.field
    )
}

fn group_key(rule_id: &str, key: &[String]) -> Vec<u8> {
    serde_json::to_vec(&(rule_id, key)).unwrap_or_default()
}

impl Correlator {
    /// Takes the groups changed since the last snapshot (nothing unless [`Correlator::journaled`]).
    pub fn snapshot(&mut self) -> Snapshot {
        let dirty = self.dirty.as_mut().map(std::mem::take).unwrap_or_default();
        let keep_events = self.limits.max_events_in_match;
        let mut changes = Vec::with_capacity(dirty.len());
        for (c, key) in dirty {
            let def = &self.rules.correlations[c as usize];
            let tree_key = group_key(&def.meta.id, &key);
            let value = self.states[c as usize].get(&key).map(|g| {
                let skip = g.entries.len().saturating_sub(keep_events);
                let stored = StoredGroup {
                    definition: fingerprint(def),
                    last: g.last,
                    entries: g
                        .entries
                        .iter()
                        .enumerate()
                        .map(|(i, e)| StoredEntry {
                            t: e.t,
                            refpos: e.refpos,
                            value: e.value.clone(),
                            id: e.id.clone(),
                            events: if i >= skip {
                                e.events.iter().map(|ev| (**ev).clone()).collect()
                            } else {
                                Vec::new()
                            },
                        })
                        .collect(),
                    consumed: g.consumed.iter().cloned().collect(),
                };
                serde_json::to_vec(&stored).unwrap_or_default()
            });
            changes.push((tree_key, value));
        }
        Snapshot {
            changes,
            watermark: self.watermark,
        }
    }

    /// Continues from the journal: every stored group of a correlation that is still loaded
    /// with the same definition. Returns the groups restored; stale ones are removed.
    pub fn restore(&mut self, journal: &CorrelationJournal) -> Result<usize, JournalError> {
        let by_id: std::collections::HashMap<&str, usize> = self
            .rules
            .correlations
            .iter()
            .enumerate()
            .map(|(i, c)| (c.meta.id.as_str(), i))
            .collect();
        let rules = Arc::clone(&self.rules);
        let mut restored = 0;
        let mut stale = Vec::new();
        for item in journal.tree.iter() {
            let (k, v) = item?;
            if &*k == WATERMARK {
                if let Ok(bytes) = <[u8; 8]>::try_from(&*v) {
                    self.watermark = self.watermark.max(i64::from_be_bytes(bytes));
                }
                continue;
            }
            let Ok((rule, key)) = serde_json::from_slice::<(String, Vec<String>)>(&k) else {
                stale.push(k);
                continue;
            };
            let Some(&c) = by_id.get(rule.as_str()) else {
                stale.push(k);
                continue;
            };
            let def = &rules.correlations[c];
            let stored: StoredGroup =
                serde_json::from_slice(&v).map_err(|e| JournalError::Damaged {
                    rule: rule.clone(),
                    reason: e.to_string(),
                })?;
            if stored.definition != fingerprint(def) {
                stale.push(k);
                continue;
            }
            let group = Group {
                last: stored.last,
                entries: stored
                    .entries
                    .into_iter()
                    .map(|e| Entry {
                        t: e.t,
                        refpos: e.refpos,
                        value: e.value,
                        id: e.id,
                        events: e.events.into_iter().map(Arc::new).collect(),
                    })
                    .collect::<VecDeque<_>>(),
                consumed: stored.consumed.into(),
            };
            if judged_at_close(&def.raw)
                && let Some(front) = group.entries.front()
            {
                self.deadlines.push(Reverse((
                    front.t.saturating_add(def.raw.timespan_ms),
                    c as u32,
                    key.clone(),
                )));
            }
            self.states[c].insert(key, group);
            restored += 1;
        }
        for k in stale {
            journal.tree.remove(k)?;
        }
        Ok(restored)
    }
}

/// Where a journaled correlator's snapshots are kept.
#[derive(Clone)]
pub struct CorrelationJournal {
    tree: sled::Tree,
}

impl std::fmt::Debug for CorrelationJournal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CorrelationJournal")
            .field("groups", &self.tree.len())
            .finish()
    }
}

impl CorrelationJournal {
    pub fn open(store: &Store) -> Result<Self, JournalError> {
        Ok(CorrelationJournal {
            tree: store.tree(TREE)?,
        })
    }

    /// Writes a snapshot in one batch and flushes it to disk. Once this returns, the events
    /// whose changes it holds may be acknowledged.
    pub fn write(&self, snapshot: Snapshot) -> Result<(), JournalError> {
        let mut batch = sled::Batch::default();
        for (k, v) in snapshot.changes {
            match v {
                Some(v) => batch.insert(k, v),
                None => batch.remove(k),
            }
        }
        if snapshot.watermark > i64::MIN {
            batch.insert(WATERMARK, &snapshot.watermark.to_be_bytes());
        }
        self.tree.apply_batch(batch)?;
        self.tree.flush()?;
        Ok(())
    }

    /// Groups stored.
    pub fn len(&self) -> usize {
        self.tree.len()
    }

    pub fn is_empty(&self) -> bool {
        self.tree.is_empty()
    }
}
