//! [`HistoryStore`] on sled: named trees in the process's embedded store.
//!
//! Trees: `history_cases` (case id → [`CaseRecord`] JSON), `history_verdicts` (case id, version →
//! verdict JSON), `history_events` (case id, sequence → event JSON), the indexes
//! `history_idx_indicator`, `history_idx_host`, `history_idx_user`, `history_idx_address` (value,
//! case id → empty), `history_rule_feedback` (rule id, entity → latest [`Feedback`]) and
//! `history_open` (case id → [`OpenCase`] JSON, while the case is open). Every
//! change to a case touches its record and its index entries in one sled transaction. The
//! size cap of compaction counts the bytes of keys and values in these trees.
//!
//! **Versions kept.** With [`SledHistory::with_max_versions`] (the daemon passes
//! `history.max_versions_per_case`) recording version `v` also removes the versions up to
//! `v - max`, in the same transaction, so a case that stays open for days keeps its latest versions only: its
//! verdicts (each up to hundreds of KB) neither fill the disk nor sled's memory, which keeps
//! pages of large values resident whatever its cache capacity (see [`crate::store`]).

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use sled::Transactional;
use sled::transaction::{ConflictableTransactionError, TransactionError, TransactionalTree};

use super::{
    CaseAction, CaseFilter, CaseOrder, CasePage, CaseRecord, CaseStatus, CompactReport, Feedback,
    HistoryError, HistoryStats, HistoryStore, OpenCase, Retention,
};
use crate::event::Event;
use crate::store::Store;
use crate::verdict::{EntityKind, EntityRef, Stage, TimelineEntry, Verdict};

/// Cases listed per page unless asked otherwise, and at most.
pub const DEFAULT_LIMIT: usize = 50;
pub const MAX_LIMIT: usize = 500;

/// The sled-backed history.
#[derive(Clone)]
pub struct SledHistory {
    store: Store,
    cases: sled::Tree,
    verdicts: sled::Tree,
    events: sled::Tree,
    idx_indicator: sled::Tree,
    idx_host: sled::Tree,
    idx_user: sled::Tree,
    idx_address: sled::Tree,
    rule_feedback: sled::Tree,
    open: sled::Tree,
    /// Verdict versions kept per case (the latest ones).
    max_versions: u32,
}

impl std::fmt::Debug for SledHistory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SledHistory")
            .field("store", &self.store)
            .finish()
    }
}

type TxResult<T> = Result<T, ConflictableTransactionError<String>>;

fn key(parts: &[&[u8]]) -> Vec<u8> {
    let mut k = Vec::new();
    for (i, p) in parts.iter().enumerate() {
        if i > 0 {
            k.push(0);
        }
        k.extend_from_slice(p);
    }
    k
}

fn prefix(value: &str) -> Vec<u8> {
    let mut k = value.as_bytes().to_vec();
    k.push(0);
    k
}

fn seq_key(case_id: &str, n: u32) -> Vec<u8> {
    key(&[case_id.as_bytes(), &n.to_be_bytes()])
}

fn entity_bytes(e: &EntityRef) -> Vec<u8> {
    key(&[
        e.kind.as_str().as_bytes(),
        e.value.to_lowercase().as_bytes(),
    ])
}

fn decode<T: serde::de::DeserializeOwned>(k: &[u8], v: &[u8]) -> Result<T, HistoryError> {
    serde_json::from_slice(v).map_err(|source| HistoryError::Decode {
        key: String::from_utf8_lossy(k).replace('\0', "/"),
        source,
    })
}

fn tx_err(e: TransactionError<String>) -> HistoryError {
    match e {
        TransactionError::Storage(e) => HistoryError::Sled(e),
        TransactionError::Abort(m) => HistoryError::NoCase(m),
    }
}

fn abort<T>(m: impl Into<String>) -> TxResult<T> {
    Err(ConflictableTransactionError::Abort(m.into()))
}

fn tx_get_case(t: &TransactionalTree, case_id: &str) -> TxResult<Option<CaseRecord>> {
    match t.get(case_id.as_bytes())? {
        None => Ok(None),
        Some(v) => match serde_json::from_slice(&v) {
            Ok(r) => Ok(Some(r)),
            Err(e) => abort(format!("{case_id} (undecodable record: {e})")),
        },
    }
}

fn tx_put_case(t: &TransactionalTree, r: &CaseRecord) -> TxResult<()> {
    match serde_json::to_vec(r) {
        Ok(v) => {
            t.insert(r.case_id.as_bytes(), v)?;
            Ok(())
        }
        Err(e) => abort(format!("{} (cannot encode: {e})", r.case_id)),
    }
}

/// Keeps what analysts own from the stored record when the case builder writes a new state.
fn merge_analyst(new: &CaseRecord, old: Option<CaseRecord>) -> CaseRecord {
    let mut out = new.clone();
    let Some(old) = old else { return out };
    out.opened_at = old.opened_at.min(new.opened_at);
    out.disposition = old.disposition;
    out.feedback = old.feedback;
    out.assignee = old.assignee;
    out.acknowledged_by = old.acknowledged_by;
    out.events_stored = old.events_stored.max(new.events_stored);
    if old.status == CaseStatus::Closed {
        out.status = CaseStatus::Closed;
        out.closed_at = old.closed_at;
        out.closed_by = old.closed_by;
    }
    out.stage = out.stage.max(old.stage);
    let analyst: Vec<TimelineEntry> = old
        .timeline
        .into_iter()
        .filter(|e| e.actor != super::ACTOR)
        .collect();
    out.timeline.extend(analyst);
    out.timeline
        .sort_by(|a, b| a.time.cmp(&b.time).then(a.stage.cmp(&b.stage)));
    out.timeline.dedup();
    out
}

impl SledHistory {
    pub fn open(store: &Store) -> Result<Self, HistoryError> {
        Ok(Self {
            store: store.clone(),
            cases: store.tree("history_cases")?,
            verdicts: store.tree("history_verdicts")?,
            events: store.tree("history_events")?,
            idx_indicator: store.tree("history_idx_indicator")?,
            idx_host: store.tree("history_idx_host")?,
            idx_user: store.tree("history_idx_user")?,
            idx_address: store.tree("history_idx_address")?,
            rule_feedback: store.tree("history_rule_feedback")?,
            open: store.tree("history_open")?,
            max_versions: u32::MAX,
        })
    }

    /// Keeps only the latest `max` verdict versions of each case (at least 1); every version
    /// is kept otherwise.
    pub fn with_max_versions(mut self, max: u32) -> Self {
        self.max_versions = max.max(1);
        self
    }

    fn entity_index(&self, kind: EntityKind) -> &sled::Tree {
        match kind {
            EntityKind::Host => &self.idx_host,
            EntityKind::User => &self.idx_user,
            EntityKind::SourceAddress => &self.idx_address,
        }
    }

    fn ids_with_prefix(tree: &sled::Tree, value: &str) -> Result<Vec<String>, HistoryError> {
        let p = prefix(&value.to_lowercase());
        let mut out = Vec::new();
        for item in tree.scan_prefix(&p) {
            let (k, _) = item?;
            out.push(String::from_utf8_lossy(&k[p.len()..]).into_owned());
        }
        Ok(out)
    }

    fn all_cases(&self) -> Result<Vec<CaseRecord>, HistoryError> {
        let mut out = Vec::new();
        for item in self.cases.iter() {
            let (k, v) = item?;
            out.push(decode(&k, &v)?);
        }
        Ok(out)
    }

    fn trees(&self) -> [&sled::Tree; 9] {
        [
            &self.cases,
            &self.verdicts,
            &self.events,
            &self.idx_indicator,
            &self.idx_host,
            &self.idx_user,
            &self.idx_address,
            &self.rule_feedback,
            &self.open,
        ]
    }

    /// Keys and values in every history tree.
    fn data_bytes(&self) -> Result<u64, HistoryError> {
        let mut n = 0u64;
        for tree in self.trees() {
            for item in tree.iter() {
                let (k, v) = item?;
                n += (k.len() + v.len()) as u64;
            }
        }
        Ok(n)
    }

    /// Keys and values that removing this case frees (its record, verdicts, events and index
    /// entries).
    fn case_bytes(&self, r: &CaseRecord) -> Result<u64, HistoryError> {
        let id = r.case_id.as_bytes();
        let mut n = 0u64;
        if let Some(v) = self.cases.get(id)? {
            n += (id.len() + v.len()) as u64;
        }
        for tree in [&self.verdicts, &self.events] {
            for item in tree.scan_prefix(prefix(&r.case_id)) {
                let (k, v) = item?;
                n += (k.len() + v.len()) as u64;
            }
        }
        let index_keys = r
            .indicators
            .iter()
            .chain(r.entities.iter().map(|e| &e.value));
        for value in index_keys {
            n += (value.to_lowercase().len() + 1 + id.len()) as u64;
        }
        Ok(n)
    }

    /// Removes a case, its verdicts, events and index entries in one transaction.
    fn remove_case(&self, r: &CaseRecord) -> Result<(), HistoryError> {
        let trees = [
            &self.cases,
            &self.verdicts,
            &self.events,
            &self.idx_indicator,
            &self.idx_host,
            &self.idx_user,
            &self.idx_address,
            &self.open,
        ];
        trees
            .transaction(|t| {
                t[0].remove(r.case_id.as_bytes())?;
                t[7].remove(r.case_id.as_bytes())?;
                for v in 1..=r.version {
                    t[1].remove(seq_key(&r.case_id, v))?;
                }
                for n in 0..r.events_stored {
                    t[2].remove(seq_key(&r.case_id, n))?;
                }
                for i in &r.indicators {
                    t[3].remove(key(&[i.to_lowercase().as_bytes(), r.case_id.as_bytes()]))?;
                }
                for e in &r.entities {
                    let idx = match e.kind {
                        EntityKind::Host => 4,
                        EntityKind::User => 5,
                        EntityKind::SourceAddress => 6,
                    };
                    t[idx].remove(key(&[
                        e.value.to_lowercase().as_bytes(),
                        r.case_id.as_bytes(),
                    ]))?;
                }
                Ok::<_, ConflictableTransactionError<String>>(())
            })
            .map_err(tx_err)
    }
}

/// Where a case sits in a listing, ascending: (order rank, newer activity first, case id).
type PageKey = (i64, i64, String);

fn page_key(r: &CaseRecord, order: CaseOrder) -> PageKey {
    let rank = match order {
        CaseOrder::Activity => 0,
        CaseOrder::Severity => -(r.severity as i64),
    };
    (rank, -r.last_seen.timestamp_micros(), r.case_id.clone())
}

/// `rank|-micros|id`; the older `micros|id` form (activity order) is still read.
fn cursor_of(k: &PageKey) -> String {
    format!("{}|{}|{}", k.0, k.1, k.2)
}

fn parse_cursor(c: &str) -> Option<PageKey> {
    let (a, rest) = c.split_once('|')?;
    match rest.split_once('|') {
        Some((b, id)) if b.parse::<i64>().is_ok() => {
            Some((a.parse().ok()?, b.parse().ok()?, id.to_owned()))
        }
        _ => Some((0, -a.parse::<i64>().ok()?, rest.to_owned())),
    }
}

impl HistoryStore for SledHistory {
    fn record(
        &self,
        case: &CaseRecord,
        verdict: &Verdict,
        new_events: &[&Event],
    ) -> Result<CaseRecord, HistoryError> {
        let verdict_bytes = serde_json::to_vec(verdict).map_err(HistoryError::Encode)?;
        let event_bytes = new_events
            .iter()
            .map(serde_json::to_vec)
            .collect::<Result<Vec<_>, _>>()
            .map_err(HistoryError::Encode)?;
        let trees = [
            &self.cases,
            &self.verdicts,
            &self.events,
            &self.idx_indicator,
            &self.idx_host,
            &self.idx_user,
            &self.idx_address,
        ];
        trees
            .transaction(|t| {
                let old = tx_get_case(&t[0], &case.case_id)?;
                let mut merged = merge_analyst(case, old.clone());
                let first_seq = old.as_ref().map_or(0, |o| o.events_stored);
                for (i, bytes) in event_bytes.iter().enumerate() {
                    t[2].insert(seq_key(&case.case_id, first_seq + i as u32), bytes.clone())?;
                }
                merged.events_stored = first_seq + event_bytes.len() as u32;
                tx_put_case(&t[0], &merged)?;
                t[1].insert(
                    seq_key(&case.case_id, verdict.version),
                    verdict_bytes.clone(),
                )?;
                // Versions that fell out of the kept window since the last one recorded (one,
                // unless a replicated case skipped some).
                let prev = old.as_ref().map_or(0, |o| o.version);
                let first_gone = (prev + 1).saturating_sub(self.max_versions).max(1);
                for gone in first_gone..=verdict.version.saturating_sub(self.max_versions) {
                    t[1].remove(seq_key(&case.case_id, gone))?;
                }
                for i in &case.indicators {
                    t[3].insert(
                        key(&[i.to_lowercase().as_bytes(), case.case_id.as_bytes()]),
                        &[],
                    )?;
                }
                for e in &case.entities {
                    let idx = match e.kind {
                        EntityKind::Host => 4,
                        EntityKind::User => 5,
                        EntityKind::SourceAddress => 6,
                    };
                    t[idx].insert(
                        key(&[e.value.to_lowercase().as_bytes(), case.case_id.as_bytes()]),
                        &[],
                    )?;
                }
                Ok(merged)
            })
            .map_err(tx_err)
    }

    fn close(
        &self,
        case_id: &str,
        by: &str,
        reason: &str,
        at: DateTime<Utc>,
    ) -> Result<(CaseRecord, CaseRecord), HistoryError> {
        (&self.cases, &self.open)
            .transaction(|(t, open)| {
                let Some(before) = tx_get_case(t, case_id)? else {
                    return abort(case_id);
                };
                open.remove(case_id.as_bytes())?;
                let mut after = before.clone();
                if after.status != CaseStatus::Closed {
                    after.status = CaseStatus::Closed;
                    after.closed_at = Some(at);
                    after.closed_by = Some(by.to_owned());
                    let analyst = by != super::ACTOR;
                    if analyst {
                        after.stage = Stage::Respond;
                    }
                    after.timeline.push(TimelineEntry {
                        time: at,
                        stage: after.stage,
                        actor: by.to_owned(),
                        note: format!("closed: {reason}"),
                    });
                    after.bound_analyst_trail();
                    after.updated_at = at;
                    tx_put_case(t, &after)?;
                }
                Ok((before, after))
            })
            .map_err(tx_err)
    }

    fn act(
        &self,
        case_id: &str,
        action: &CaseAction,
        by: &str,
        note: &str,
        at: DateTime<Utc>,
    ) -> Result<(CaseRecord, CaseRecord), HistoryError> {
        self.cases
            .transaction(|t| {
                let Some(before) = tx_get_case(t, case_id)? else {
                    return abort(case_id);
                };
                let mut after = before.clone();
                if action.apply(&mut after, by, note, at) {
                    tx_put_case(t, &after)?;
                }
                Ok((before, after))
            })
            .map_err(tx_err)
    }

    fn add_feedback(&self, fb: &Feedback) -> Result<(CaseRecord, CaseRecord), HistoryError> {
        let fb_bytes = serde_json::to_vec(fb).map_err(HistoryError::Encode)?;
        (&self.cases, &self.rule_feedback)
            .transaction(|(cases, rules)| {
                let Some(before) = tx_get_case(cases, &fb.case_id)? else {
                    return abort(fb.case_id.clone());
                };
                let mut after = before.clone();
                after.disposition = Some(fb.disposition);
                after.feedback.push(fb.clone());
                after.stage = Stage::Respond;
                after.updated_at = fb.at;
                after.timeline.push(TimelineEntry {
                    time: fb.at,
                    stage: Stage::Respond,
                    actor: fb.analyst.clone(),
                    note: super::feedback_note(fb),
                });
                after.bound_analyst_trail();
                tx_put_case(cases, &after)?;
                for rule in &before.rules {
                    rules.insert(
                        key(&[rule.as_bytes(), &entity_bytes(&before.entity)]),
                        fb_bytes.clone(),
                    )?;
                }
                Ok((before, after))
            })
            .map_err(tx_err)
    }

    fn case(&self, case_id: &str) -> Result<Option<CaseRecord>, HistoryError> {
        match self.cases.get(case_id.as_bytes())? {
            Some(v) => Ok(Some(decode(case_id.as_bytes(), &v)?)),
            None => Ok(None),
        }
    }

    fn verdicts(&self, case_id: &str) -> Result<Vec<Verdict>, HistoryError> {
        let mut out = Vec::new();
        for item in self.verdicts.scan_prefix(prefix(case_id)) {
            let (k, v) = item?;
            out.push(decode(&k, &v)?);
        }
        Ok(out)
    }

    fn events(&self, case_id: &str) -> Result<Vec<Event>, HistoryError> {
        let mut out = Vec::new();
        for item in self.events.scan_prefix(prefix(case_id)) {
            let (k, v) = item?;
            out.push(decode(&k, &v)?);
        }
        Ok(out)
    }

    fn list(&self, filter: &CaseFilter) -> Result<CasePage, HistoryError> {
        let after = match &filter.cursor {
            Some(c) => Some(parse_cursor(c).ok_or_else(|| HistoryError::Cursor(c.clone()))?),
            None => None,
        };
        let mut cases: Vec<CaseRecord> = self
            .all_cases()?
            .into_iter()
            .filter(|r| filter.admits(r))
            .collect();
        // In the filter's order; the cursor is the position of the last case returned.
        let mut keyed: Vec<(PageKey, CaseRecord)> = cases
            .drain(..)
            .map(|r| (page_key(&r, filter.order), r))
            .collect();
        keyed.sort_by(|a, b| a.0.cmp(&b.0));
        if let Some(after) = after {
            keyed.retain(|(k, _)| *k > after);
        }
        let mut cases: Vec<CaseRecord> = keyed.into_iter().map(|(_, r)| r).collect();
        let limit = match filter.limit {
            0 => DEFAULT_LIMIT,
            n => n.min(MAX_LIMIT),
        };
        let more = cases.len() > limit;
        cases.truncate(limit);
        let next_cursor = if more {
            cases.last().map(|r| cursor_of(&page_key(r, filter.order)))
        } else {
            None
        };
        Ok(CasePage { cases, next_cursor })
    }

    fn cases_for_indicator(&self, value: &str) -> Result<Vec<String>, HistoryError> {
        Self::ids_with_prefix(&self.idx_indicator, value)
    }

    fn cases_for_entity(&self, entity: &EntityRef) -> Result<Vec<String>, HistoryError> {
        Self::ids_with_prefix(self.entity_index(entity.kind), &entity.value)
    }

    fn rule_feedback(
        &self,
        rule_id: &str,
        entity: &EntityRef,
    ) -> Result<Option<Feedback>, HistoryError> {
        let k = key(&[rule_id.as_bytes(), &entity_bytes(entity)]);
        match self.rule_feedback.get(&k)? {
            Some(v) => Ok(Some(decode(&k, &v)?)),
            None => Ok(None),
        }
    }

    fn compact(&self, retention: &Retention) -> Result<CompactReport, HistoryError> {
        let mut all = self.all_cases()?;
        let mut report = CompactReport {
            cases_before: all.len() as u64,
            bytes_before: self.data_bytes()?,
            ..Default::default()
        };
        all.sort_by(|a, b| {
            b.last_seen
                .cmp(&a.last_seen)
                .then(a.case_id.cmp(&b.case_id))
        });
        let mut kept = Vec::new();
        for r in all {
            if r.last_seen < retention.horizon {
                self.remove_case(&r)?;
                report.removed_by_age += 1;
            } else if kept.len() >= retention.max_cases {
                self.remove_case(&r)?;
                report.removed_by_cap += 1;
            } else {
                kept.push(r);
            }
        }
        let mut bytes = self.data_bytes()?;
        if retention.max_bytes > 0 && bytes > retention.max_bytes {
            // Oldest activity first; open cases are never removed for size.
            for r in kept.iter().rev().filter(|r| r.status == CaseStatus::Closed) {
                if bytes <= retention.max_bytes {
                    break;
                }
                let size = self.case_bytes(r)?;
                self.remove_case(r)?;
                bytes = bytes.saturating_sub(size);
                report.removed_by_size += 1;
            }
        }
        report.cases_after = self.cases.len() as u64;
        report.bytes_after = self.data_bytes()?;
        Ok(report)
    }

    fn stats(&self) -> Result<HistoryStats, HistoryError> {
        Ok(HistoryStats {
            cases: self.cases.len() as u64,
            data_bytes: self.data_bytes()?,
            store_bytes: self.store.size_on_disk(),
        })
    }

    fn export(&self, out: &mut dyn std::io::Write) -> Result<u64, HistoryError> {
        let mut n = 0;
        let mut ids = BTreeSet::new();
        for item in self.cases.iter() {
            let (k, _) = item?;
            ids.insert(String::from_utf8_lossy(&k).into_owned());
        }
        for id in ids {
            let Some(case) = self.case(&id)? else {
                continue;
            };
            let line = serde_json::json!({
                "case": case,
                "verdicts": self.verdicts(&id)?,
                "events": self.events(&id)?,
            });
            serde_json::to_writer(&mut *out, &line).map_err(HistoryError::Encode)?;
            out.write_all(b"\n")?;
            n += 1;
        }
        Ok(n)
    }

    fn flush(&self) -> Result<(), HistoryError> {
        self.store.db().flush()?;
        Ok(())
    }

    fn save_open(&self, case: &OpenCase) -> Result<(), HistoryError> {
        let v = serde_json::to_vec(case).map_err(HistoryError::Encode)?;
        self.open.insert(case.case_id.as_bytes(), v)?;
        Ok(())
    }

    fn open_cases(&self) -> Result<Vec<(OpenCase, CaseRecord)>, HistoryError> {
        let mut out = Vec::new();
        for item in self.open.iter() {
            let (k, v) = item?;
            let id = String::from_utf8_lossy(&k).into_owned();
            let Some(record) = self.case(&id)?.filter(|r| r.status == CaseStatus::Open) else {
                self.open.remove(&k)?;
                continue;
            };
            match decode(&k, &v) {
                Ok(case) => out.push((case, record)),
                Err(e) => {
                    // Written by an incompatible version, or damaged: the case stays in the
                    // history, it just does not resume.
                    tracing::warn!(case_id = %id, error = %e, "open case state unreadable; the case will not resume");
                    self.open.remove(&k)?;
                }
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
pub(crate) mod tests;
