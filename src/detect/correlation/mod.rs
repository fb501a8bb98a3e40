//! Sigma correlation rules (spec v2.1): parsing, and the stateful [`Correlator`].
//!
//! Semantics chosen for streaming (event-time, sliding windows):
//! * Every referenced-rule hit (or inner-correlation hit, for chains) becomes an entry in the
//!   group's window, keyed by the `group-by` values (resolved through `aliases` per referenced
//!   rule; a missing field groups as the empty string). Entries older than `timespan` before the
//!   newest entry are dropped.
//! * After each insertion the condition is evaluated on the window: `event_count` = entries,
//!   `value_count` = distinct `field` values, `temporal` = distinct referenced rules (default: all),
//!   `temporal_ordered` = all rules seen in the listed order, `value_sum`/`value_avg` over numeric
//!   `field`, `value_percentile` = share (0–100) of window entries whose `field` equals the newest
//!   entry's value. On a hit the group's window is cleared, so one burst produces one match.
//! * Exception: `event_count`/`value_count` whose condition only has `lt`/`lte` (e.g. "fewer than
//!   5 in 1h") are judged when the window that started with the group's first entry closes, i.e.
//!   once event time passes `first + timespan` (or on [`Correlator::flush`] at end of stream).
//! * Memory is bounded: per group at most `max_events_per_group` entries, of which only the
//!   newest `max_events_in_match` hold their events (the evidence a match can cite; the others
//!   keep time, value and event id), per correlation at most `max_groups` groups (the least
//!   recently updated is evicted), idle groups expire.
//! * Events are fed in record order (the pipeline restores it after its parallel pools), so the
//!   same input gives the same matches.
//! * Replay-safe: an event already in a group's window, or consumed by the group's last match,
//!   is not counted again when it is observed a second time (an input re-reading after a
//!   crash). With [`Correlator::journaled`] the changed groups are handed out as a
//!   [`snapshot::Snapshot`] to persist, and [`Correlator::restore`] continues from one.

mod snapshot;

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap, VecDeque};
use std::sync::Arc;

use serde::Serialize;
use yaml_rust2::Yaml;

use super::{CorrelationType, RuleMatch, RuleMeta, RuleSet, correlation_type_from_str};
use crate::event::{Event, EventId, scalar_str};

pub use snapshot::{CorrelationJournal, JournalError, Snapshot};

/// Condition operators of a correlation.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum CondOp {
    Gt,
    Gte,
    Lt,
    Lte,
    Eq,
    Neq,
}

/// A correlation as written, before references are resolved.
#[derive(Clone, Debug)]
pub(crate) struct RawCorrelation {
    pub ctype: CorrelationType,
    pub rules: Vec<String>,
    pub group_by: Vec<String>,
    pub timespan_ms: i64,
    pub conds: Vec<(CondOp, f64)>,
    pub field: Option<String>,
    /// alias → (rule id or name → field)
    pub aliases: Vec<(String, Vec<(String, String)>)>,
    pub generate: bool,
}

/// What a correlation refers to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RuleRef {
    Det(u32),
    Corr(u32),
}

/// A resolved correlation.
#[derive(Debug)]
pub(crate) struct CorrelationDef {
    pub meta: Arc<RuleMeta>,
    pub raw: RawCorrelation,
    pub refs: Vec<RuleRef>,
    /// `[group-by index][ref position]` → event field name.
    pub group_fields: Vec<Vec<String>>,
    /// Whether this correlation's own matches are reported (false when only an inner link).
    pub emit: bool,
}

fn parse_timespan(s: &str) -> Option<i64> {
    let s = s.trim();
    let unit = s.chars().last()?;
    let n: i64 = s[..s.len() - unit.len_utf8()].trim().parse().ok()?;
    let mult = match unit {
        's' => 1_000,
        'm' => 60_000,
        'h' => 3_600_000,
        'd' => 86_400_000,
        'w' => 7 * 86_400_000,
        _ => return None,
    };
    (n > 0).then_some(n * mult)
}

fn num(y: &Yaml) -> Option<f64> {
    match y {
        Yaml::Integer(i) => Some(*i as f64),
        Yaml::Real(r) => r.parse().ok(),
        Yaml::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn str_list(y: Option<&Yaml>) -> Vec<String> {
    match y {
        Some(Yaml::Array(a)) => a
            .iter()
            .filter_map(|y| y.as_str().map(String::from))
            .collect(),
        Some(Yaml::String(s)) => vec![s.clone()],
        _ => Vec::new(),
    }
}

/// Parses a `correlation:` section (`doc` is the whole document, for `generate`).
pub(crate) fn parse_correlation(section: &Yaml, doc: &Yaml) -> Result<RawCorrelation, String> {
    let Yaml::Hash(h) = section else {
        return Err("correlation must be a map".into());
    };
    let get = |k: &str| h.get(&Yaml::String(k.into()));
    let t = get("type")
        .and_then(|y| y.as_str())
        .ok_or("correlation has no type")?;
    let ctype =
        correlation_type_from_str(t).ok_or_else(|| format!("unknown correlation type '{t}'"))?;
    let rules = str_list(get("rules"));
    if rules.is_empty() {
        return Err("correlation has no 'rules'".into());
    }
    let group_by = str_list(get("group-by"));
    let ts = match get("timespan") {
        Some(Yaml::String(s)) => s.clone(),
        Some(Yaml::Integer(i)) => format!("{i}s"),
        _ => return Err("correlation has no timespan".into()),
    };
    let timespan_ms = parse_timespan(&ts).ok_or_else(|| format!("bad timespan '{ts}'"))?;
    let mut conds = Vec::new();
    let mut field = None;
    match get("condition") {
        Some(Yaml::Hash(c)) => {
            for (k, v) in c {
                let k = k.as_str().ok_or("condition keys must be strings")?;
                let op = match k {
                    "gt" => CondOp::Gt,
                    "gte" => CondOp::Gte,
                    "lt" => CondOp::Lt,
                    "lte" => CondOp::Lte,
                    "eq" => CondOp::Eq,
                    "neq" => CondOp::Neq,
                    "field" => {
                        field = match v {
                            Yaml::String(s) => Some(s.clone()),
                            Yaml::Array(a) => a.first().and_then(|y| y.as_str()).map(String::from),
                            _ => None,
                        };
                        continue;
                    }
                    other => {
                        return Err(format!("unknown correlation condition operator '{other}'"));
                    }
                };
                conds.push((
                    op,
                    num(v).ok_or_else(|| format!("condition '{k}' needs a number"))?,
                ));
            }
        }
        None => {}
        Some(_) => return Err("correlation condition must be a map".into()),
    }
    let temporal = matches!(
        ctype,
        CorrelationType::Temporal | CorrelationType::TemporalOrdered
    );
    if conds.is_empty() && !temporal {
        return Err(format!("{t} correlation needs a condition"));
    }
    let needs_field = matches!(
        ctype,
        CorrelationType::ValueCount
            | CorrelationType::ValueSum
            | CorrelationType::ValueAvg
            | CorrelationType::ValuePercentile
    );
    if needs_field && field.is_none() {
        return Err(format!("{t} correlation needs condition.field"));
    }
    let mut aliases = Vec::new();
    if let Some(Yaml::Hash(a)) = get("aliases") {
        for (alias, map) in a {
            let (Some(alias), Yaml::Hash(map)) = (alias.as_str(), map) else {
                return Err("aliases must map alias → {rule: field}".into());
            };
            let pairs = map
                .iter()
                .filter_map(|(r, f)| Some((r.as_str()?.to_string(), f.as_str()?.to_string())))
                .collect();
            aliases.push((alias.to_string(), pairs));
        }
    }
    let generate = matches!(get("generate"), Some(Yaml::Boolean(true)))
        || matches!(&doc["generate"], Yaml::Boolean(true));
    Ok(RawCorrelation {
        ctype,
        rules,
        group_by,
        timespan_ms,
        conds,
        field,
        aliases,
        generate,
    })
}

/// Limits that bound the correlator's memory.
#[derive(Clone, Debug)]
pub struct CorrelationLimits {
    /// Live groups per correlation rule; the least recently updated group is evicted beyond it.
    pub max_groups: usize,
    /// Window entries kept per group (oldest dropped first).
    pub max_events_per_group: usize,
    /// Contributing events attached to one [`CorrelationMatch`] (the most recent ones); only the
    /// newest this many entries of a group hold their events, the older ones only their ids.
    pub max_events_in_match: usize,
}

impl Default for CorrelationLimits {
    fn default() -> Self {
        Self {
            max_groups: 10_000,
            max_events_per_group: 1_000,
            max_events_in_match: 16,
        }
    }
}

/// One correlation hit.
#[derive(Clone, Debug, Serialize)]
pub struct CorrelationMatch {
    pub rule: Arc<RuleMeta>,
    pub correlation_type: CorrelationType,
    /// group-by name → value.
    pub group: BTreeMap<String, String>,
    /// Contributing events (bounded, most recent last).
    pub events: Vec<Arc<Event>>,
    /// The aggregate that satisfied the condition (count, sum, average, percentile).
    pub value: Option<f64>,
}

struct Entry {
    t: i64,
    refpos: u32,
    value: Option<String>,
    /// The contributing event (for an inner correlation's match: its last event), by which a
    /// second observation of the same event is recognised.
    id: Option<EventId>,
    /// Evidence for a match. A group restored from a snapshot keeps only the newest entries'.
    events: Vec<Arc<Event>>,
}

#[derive(Default)]
struct Group {
    entries: VecDeque<Entry>,
    last: i64,
    /// Ids of the entries the group's last matches consumed (bounded), so that re-reading
    /// them does not fire the match again.
    consumed: VecDeque<EventId>,
}

impl Group {
    fn holds(&self, id: &EventId, refpos: u32) -> bool {
        self.entries
            .iter()
            .any(|e| e.refpos == refpos && e.id.as_ref() == Some(id))
            || self.consumed.contains(id)
    }

    /// Moves the window's ids into `consumed` (keeping the newest `max`) and empties it.
    fn consume(&mut self, max: usize) {
        for e in self.entries.drain(..) {
            if let Some(id) = e.id {
                self.consumed.push_back(id);
            }
        }
        while self.consumed.len() > max {
            self.consumed.pop_front();
        }
    }
}

/// Input to one correlation: a base event or an inner correlation's match.
struct Input<'a> {
    event: &'a Arc<Event>,
    inner: Option<&'a CorrelationMatch>,
}

impl Input<'_> {
    fn field(&self, name: &str) -> Option<String> {
        if let Some(v) = self.inner.and_then(|m| m.group.get(name)) {
            return Some(v.clone());
        }
        self.event
            .fields
            .get(name)
            .and_then(scalar_str)
            .map(|c| c.into_owned())
    }
}

/// Whether a correlation's condition only bounds from above (`lt`/`lte`) for a count type:
/// such windows are judged when they close (a count can only grow while the window is open).
fn judged_at_close(raw: &RawCorrelation) -> bool {
    matches!(
        raw.ctype,
        CorrelationType::EventCount | CorrelationType::ValueCount
    ) && !raw.conds.is_empty()
        && raw
            .conds
            .iter()
            .all(|(op, _)| matches!(op, CondOp::Lt | CondOp::Lte))
}

fn condition_holds(raw: &RawCorrelation, nrefs: usize, agg: f64) -> bool {
    if raw.conds.is_empty() {
        return agg >= nrefs as f64;
    }
    raw.conds.iter().all(|(op, n)| match op {
        CondOp::Gt => agg > *n,
        CondOp::Gte => agg >= *n,
        CondOp::Lt => agg < *n,
        CondOp::Lte => agg <= *n,
        CondOp::Eq => agg == *n,
        CondOp::Neq => agg != *n,
    })
}

/// Stateful, single-threaded correlation engine over one [`RuleSet`].
pub struct Correlator {
    rules: Arc<RuleSet>,
    limits: CorrelationLimits,
    by_rule_id: HashMap<String, Vec<(u32, u32)>>,
    by_corr: Vec<Vec<(u32, u32)>>,
    states: Vec<HashMap<Vec<String>, Group>>,
    /// Window-close deadlines for correlations judged at close: (deadline, correlation, group).
    deadlines: BinaryHeap<Reverse<(i64, u32, Vec<String>)>>,
    watermark: i64,
    observed: u64,
    /// Groups changed since the last [`Correlator::snapshot`] (tracked only when journaled).
    dirty: Option<std::collections::HashSet<(u32, Vec<String>)>>,
}

impl Correlator {
    pub fn new(rules: Arc<RuleSet>, limits: CorrelationLimits) -> Self {
        let mut by_rule_id: HashMap<String, Vec<(u32, u32)>> = HashMap::new();
        let mut by_corr = vec![Vec::new(); rules.correlations.len()];
        for (ci, c) in rules.correlations.iter().enumerate() {
            for (p, r) in c.refs.iter().enumerate() {
                match r {
                    RuleRef::Det(d) => {
                        let id = rules.dets[*d as usize].meta.id.clone();
                        by_rule_id
                            .entry(id)
                            .or_default()
                            .push((ci as u32, p as u32));
                    }
                    RuleRef::Corr(inner) => by_corr[*inner as usize].push((ci as u32, p as u32)),
                }
            }
        }
        let states = (0..rules.correlations.len())
            .map(|_| HashMap::new())
            .collect();
        Self {
            rules,
            limits,
            by_rule_id,
            by_corr,
            states,
            deadlines: BinaryHeap::new(),
            watermark: i64::MIN,
            observed: 0,
            dirty: None,
        }
    }

    /// Tracks changed groups so that [`Correlator::snapshot`] can hand them out.
    pub fn journaled(mut self) -> Self {
        self.dirty = Some(Default::default());
        self
    }

    fn touch(&mut self, c: u32, key: &[String]) {
        if let Some(d) = &mut self.dirty {
            d.insert((c, key.to_vec()));
        }
    }

    /// Live correlation groups across all correlation rules (for metrics and tests).
    pub fn group_count(&self) -> usize {
        self.states.iter().map(HashMap::len).sum()
    }

    /// Feeds one event (in record order) with its single-event matches; pushes correlation
    /// matches to `out`. True when the event changed correlation state (it entered a window or
    /// completed a match): a journaled caller must not acknowledge it before that is persisted.
    pub fn observe(
        &mut self,
        event: &Arc<Event>,
        matches: &[RuleMatch],
        out: &mut Vec<CorrelationMatch>,
    ) -> bool {
        if self.rules.correlations.is_empty() {
            return false;
        }
        let mut touched = false;
        let t = event.time.timestamp_millis();
        self.watermark = self.watermark.max(t);
        self.observed += 1;
        if self.observed.is_multiple_of(1024) {
            self.expire();
        }
        let mut produced = self.close_windows(self.watermark);
        for m in matches {
            let Some(targets) = self.by_rule_id.get(&m.rule.id) else {
                continue;
            };
            for &(c, p) in &targets.clone() {
                let (changed, hit) = self.update(c, p, t, &Input { event, inner: None });
                touched |= changed;
                if let Some(hit) = hit {
                    produced.push((c, hit));
                }
            }
        }
        touched |= !produced.is_empty();
        self.propagate(produced, event, t, out);
        touched
    }

    /// End of stream: judges every open window whose condition is checked at close
    /// (`lt`/`lte`-only counts) and reports the matches. State is kept otherwise.
    pub fn flush(&mut self, out: &mut Vec<CorrelationMatch>) {
        let produced = self.close_windows(i64::MAX);
        if let Some(ev) = produced.iter().find_map(|(_, m)| m.events.last().cloned()) {
            let t = ev.time.timestamp_millis();
            self.propagate(produced, &ev, t, out);
        }
    }

    /// Feeds correlation matches to chained correlations (bounded), then reports emitting ones.
    fn propagate(
        &mut self,
        mut produced: Vec<(u32, CorrelationMatch)>,
        event: &Arc<Event>,
        t: i64,
        out: &mut Vec<CorrelationMatch>,
    ) {
        let mut i = 0;
        while i < produced.len() && i < 4096 {
            let c = produced[i].0;
            for &(outer, p) in &self.by_corr[c as usize].clone() {
                let (_, hit) = {
                    let inner = &produced[i].1;
                    let ev = inner.events.last().unwrap_or(event);
                    self.update(
                        outer,
                        p,
                        t,
                        &Input {
                            event: ev,
                            inner: Some(inner),
                        },
                    )
                };
                if let Some(h) = hit {
                    produced.push((outer, h));
                }
            }
            i += 1;
        }
        for (c, m) in produced {
            if self.rules.correlations[c as usize].emit {
                out.push(m);
            }
        }
    }

    /// Judges windows (of close-judged correlations) that ended before `now`.
    fn close_windows(&mut self, now: i64) -> Vec<(u32, CorrelationMatch)> {
        let mut produced = Vec::new();
        while let Some(Reverse((deadline, _, _))) = self.deadlines.peek() {
            if *deadline >= now {
                break;
            }
            let Some(Reverse((deadline, c, key))) = self.deadlines.pop() else {
                break;
            };
            let rules = Arc::clone(&self.rules);
            let def = &rules.correlations[c as usize];
            let span = def.raw.timespan_ms;
            let Some(g) = self.states[c as usize].get_mut(&key) else {
                continue;
            };
            let Some(start) = g.entries.front().map(|e| e.t) else {
                continue;
            };
            if start.saturating_add(span) != deadline {
                continue; // stale deadline: the window was restarted
            }
            let n = g.entries.iter().take_while(|e| e.t <= deadline).count();
            let window: VecDeque<Entry> = g.entries.drain(..n).collect();
            let next = g.entries.front().map(|e| e.t.saturating_add(span));
            let last = g.last;
            match next {
                Some(d) => self.deadlines.push(Reverse((d, c, key.clone()))),
                None => {
                    self.states[c as usize].remove(&key);
                }
            }
            self.touch(c, &key);
            let win = Group {
                entries: window,
                last,
                consumed: VecDeque::new(),
            };
            if let Some(agg) = aggregate(&def.raw, def.refs.len(), &win)
                && condition_holds(&def.raw, def.refs.len(), agg)
            {
                produced.push((c, self.make_match(def, key, &win, agg)));
            }
        }
        produced
    }

    fn expire(&mut self) {
        let wm = self.watermark;
        for (ci, st) in self.states.iter_mut().enumerate() {
            let def = &self.rules.correlations[ci];
            if judged_at_close(&def.raw) {
                continue; // removed when their window is judged
            }
            let span = def.raw.timespan_ms;
            st.retain(|key, g| {
                let keep = g.last >= wm.saturating_sub(span);
                if !keep && let Some(d) = &mut self.dirty {
                    d.insert((ci as u32, key.clone()));
                }
                keep
            });
        }
    }

    fn make_match(
        &self,
        def: &CorrelationDef,
        key: Vec<String>,
        g: &Group,
        agg: f64,
    ) -> CorrelationMatch {
        let mut evs: Vec<Arc<Event>> = Vec::new();
        'outer: for e in g.entries.iter().rev() {
            for ev in e.events.iter().rev() {
                if evs.len() >= self.limits.max_events_in_match {
                    break 'outer;
                }
                if !evs.iter().any(|x| x.id == ev.id) {
                    evs.push(Arc::clone(ev));
                }
            }
        }
        evs.reverse();
        CorrelationMatch {
            rule: Arc::clone(&def.meta),
            correlation_type: def.raw.ctype,
            group: def.raw.group_by.iter().cloned().zip(key).collect(),
            events: evs,
            value: Some(agg),
        }
    }

    /// Adds the input to its group's window and judges it: (whether state changed, the match).
    fn update(
        &mut self,
        c: u32,
        p: u32,
        t: i64,
        input: &Input<'_>,
    ) -> (bool, Option<CorrelationMatch>) {
        let rules = Arc::clone(&self.rules);
        let def = &rules.correlations[c as usize];
        let raw = &def.raw;
        let key: Vec<String> = def
            .group_fields
            .iter()
            .map(|g| input.field(&g[p as usize]).unwrap_or_default())
            .collect();
        let value = match &raw.field {
            Some(f) => {
                let v = input.field(f);
                if v.is_none() && raw.ctype != CorrelationType::EventCount {
                    return (false, None);
                }
                v
            }
            None => None,
        };
        let events = match input.inner {
            Some(m) => m.events.clone(),
            None => vec![Arc::clone(input.event)],
        };
        let id = events.last().map(|e| e.id.clone());
        // Seen before (a replay after a crash): already counted.
        if let (Some(id), Some(g)) = (&id, self.states[c as usize].get(&key))
            && g.holds(id, p)
        {
            return (false, None);
        }
        let at_close = judged_at_close(raw);
        let st = &mut self.states[c as usize];
        if !st.contains_key(&key) && st.len() >= self.limits.max_groups {
            let wm = self.watermark;
            let mut gone = Vec::new();
            if !at_close {
                st.retain(|k, g| {
                    let keep = g.last >= wm.saturating_sub(raw.timespan_ms);
                    if !keep {
                        gone.push(k.clone());
                    }
                    keep
                });
            }
            if st.len() >= self.limits.max_groups
                && let Some(oldest) = st
                    .iter()
                    .min_by_key(|(_, g)| g.last)
                    .map(|(k, _)| k.clone())
            {
                st.remove(&oldest);
                gone.push(oldest);
            }
            for k in gone {
                self.touch(c, &k);
            }
        }
        self.touch(c, &key);
        let st = &mut self.states[c as usize];
        let g = st.entry(key.clone()).or_default();
        g.last = g.last.max(t);
        if at_close && g.entries.is_empty() {
            self.deadlines
                .push(Reverse((t.saturating_add(raw.timespan_ms), c, key.clone())));
        }
        g.entries.push_back(Entry {
            t,
            refpos: p,
            value,
            id,
            events,
        });
        let mut dropped = false;
        while g.entries.len() > self.limits.max_events_per_group.max(1) {
            g.entries.pop_front();
            dropped = true;
        }
        // A match cites the events of the newest `max_events_in_match` entries at most (see
        // `make_match`): the entry that just fell out of that span keeps its id (a replayed
        // event is still recognised) but lets go of its events. Without this a group held up to
        // `max_events_per_group` whole events for the length of its window.
        if let Some(k) = g
            .entries
            .len()
            .checked_sub(self.limits.max_events_in_match.max(1) + 1)
        {
            g.entries[k].events = Vec::new();
        }
        if at_close {
            if dropped && let Some(front) = g.entries.front() {
                self.deadlines
                    .push(Reverse((front.t.saturating_add(raw.timespan_ms), c, key)));
            }
            return (true, None);
        }
        let newest = g.last;
        while g
            .entries
            .front()
            .is_some_and(|e| e.t < newest - raw.timespan_ms)
        {
            g.entries.pop_front();
        }
        let Some(agg) = aggregate(raw, def.refs.len(), g) else {
            return (true, None);
        };
        if !condition_holds(raw, def.refs.len(), agg) {
            return (true, None);
        }
        let m = self.make_match(def, key.clone(), &self.states[c as usize][&key], agg);
        let max = self.limits.max_events_per_group.max(1);
        if let Some(g) = self.states[c as usize].get_mut(&key) {
            g.consume(max);
        }
        (true, Some(m))
    }
}

/// The window's aggregate for the correlation type; `None` when not yet meaningful.
fn aggregate(raw: &RawCorrelation, nrefs: usize, g: &Group) -> Option<f64> {
    let n = g.entries.len() as f64;
    Some(match raw.ctype {
        CorrelationType::EventCount => n,
        CorrelationType::ValueCount => {
            let mut seen: Vec<&str> = g
                .entries
                .iter()
                .filter_map(|e| e.value.as_deref())
                .collect();
            seen.sort_unstable();
            seen.dedup();
            seen.len() as f64
        }
        CorrelationType::Temporal => {
            let mut seen = vec![false; nrefs];
            g.entries
                .iter()
                .for_each(|e| seen[e.refpos as usize] = true);
            seen.iter().filter(|s| **s).count() as f64
        }
        CorrelationType::TemporalOrdered => {
            let mut next = 0u32;
            for e in &g.entries {
                if e.refpos == next {
                    next += 1;
                    if next as usize == nrefs {
                        break;
                    }
                }
            }
            next as f64
        }
        CorrelationType::ValueSum | CorrelationType::ValueAvg => {
            let vals: Vec<f64> = g
                .entries
                .iter()
                .filter_map(|e| e.value.as_deref().and_then(|v| v.trim().parse().ok()))
                .collect();
            if vals.is_empty() {
                return None;
            }
            let sum: f64 = vals.iter().sum();
            if raw.ctype == CorrelationType::ValueSum {
                sum
            } else {
                sum / vals.len() as f64
            }
        }
        CorrelationType::ValuePercentile => {
            let cur = g.entries.back()?.value.as_deref()?;
            let same = g
                .entries
                .iter()
                .filter(|e| e.value.as_deref() == Some(cur))
                .count() as f64;
            100.0 * same / n
        }
    })
}
