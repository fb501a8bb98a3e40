//! Pure evaluation of compiled detections against one event.
//!
//! [`Scratch`] is a per-thread, reused per-event cache: each interned field is looked up at most
//! once per event, and its string values (original and lower-cased) are appended to one shared
//! buffer. Generation stamps make resetting O(1), so the hot path allocates nothing once the
//! buffers have grown to the working size.

use std::fmt::Write as _;
use std::sync::Arc;

use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, Timelike};
use serde_json::Value;

use super::compile::{CompiledDetection, FieldItem, Selection};
use super::condition;
use super::index::{AcCache, Bucket};
use super::logsource::{FieldTable, KEYWORDS};
use super::matcher::{Matcher, StrKind, TimePart, lower_into};
use crate::event::{Event, LogSource};

/// Lookup result for one field of the current event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum FState {
    Missing,
    Null,
    /// Present; `len` string values starting at `start` in [`Scratch::vals`] (0 for objects).
    Vals {
        start: u32,
        len: u32,
    },
}

/// Per-thread evaluation scratch space, reused across events.
#[derive(Default)]
pub(crate) struct Scratch {
    epoch: u32,
    stamp: Vec<u32>,
    state: Vec<FState>,
    /// `[orig_start, orig_end, lower_start, lower_end]` into `buf`.
    vals: Vec<[u32; 4]>,
    buf: String,
    pub rule_stamp: Vec<u32>,
    /// Per rule: the epoch of `clause_mask` and the clauses of the rule hit so far this event.
    clause_stamp: Vec<u32>,
    clause_mask: Vec<u8>,
    pub cands: Vec<u32>,
    pub hits: Vec<u32>,
    /// Memo of substring-literal scans of recurring field values (see [`AcCache`]).
    pub ac_cache: AcCache,
    /// Epoch in which the event's keys were resolved to fields (lazily, on the first lookup).
    keys_epoch: u32,
    /// Per field: epoch of the flat-key hit, the hit's spec position and its key's index in the
    /// event's map (the lowest position wins when several of the field's names are present).
    flat_stamp: Vec<u32>,
    flat_pos: Vec<u16>,
    flat_key: Vec<u32>,
    /// Epoch in which `spaced` was filled (lazily, on the first field miss of an event).
    spaced_epoch: u32,
    /// `(name with spaces stripped, original key)` for the event's top-level keys that contain
    /// spaces (Sigma spec "Field Usage": rule field names drop the spaces of log field names,
    /// e.g. Defender's `Source Name` → `SourceName`). Usually empty.
    spaced: Vec<(String, String)>,
    /// Which index `bucket_cache` belongs to (`Index::id`; 0 = none).
    bucket_owner: u64,
    /// Per event logsource seen on this thread: the merged bucket of the applicable rules.
    bucket_cache: Vec<(LogSource, Arc<Bucket>)>,
}

impl Scratch {
    /// Starts a new event.
    pub(crate) fn begin(&mut self, nfields: usize, nrules: usize) {
        self.epoch = self.epoch.wrapping_add(1);
        if self.epoch == 0 {
            self.stamp.iter_mut().for_each(|s| *s = 0);
            self.flat_stamp.iter_mut().for_each(|s| *s = 0);
            self.keys_epoch = 0;
            self.rule_stamp.iter_mut().for_each(|s| *s = 0);
            self.clause_stamp.iter_mut().for_each(|s| *s = 0);
            self.spaced_epoch = 0;
            self.epoch = 1;
        }
        if self.stamp.len() < nfields {
            self.stamp.resize(nfields, 0);
            self.state.resize(nfields, FState::Missing);
            self.flat_stamp.resize(nfields, 0);
            self.flat_pos.resize(nfields, 0);
            self.flat_key.resize(nfields, 0);
        }
        if self.rule_stamp.len() < nrules {
            self.rule_stamp.resize(nrules, 0);
            self.clause_stamp.resize(nrules, 0);
            self.clause_mask.resize(nrules, 0);
        }
        self.vals.clear();
        self.buf.clear();
        self.cands.clear();
    }

    /// The merged routed bucket for `ls`, from this thread's cache or, on a miss, from `compute`
    /// (then cached; the cache is bounded and reset when full or when a different index asks).
    pub(crate) fn applicable_bucket(
        &mut self,
        owner: u64,
        ls: &LogSource,
        compute: impl FnOnce() -> Arc<Bucket>,
    ) -> Arc<Bucket> {
        const MAX_CACHED: usize = 256;
        if self.bucket_owner != owner {
            self.bucket_owner = owner;
            self.bucket_cache.clear();
        }
        if let Some((_, b)) = self.bucket_cache.iter().find(|(k, _)| k == ls) {
            return b.clone();
        }
        let b = compute();
        if self.bucket_cache.len() >= MAX_CACHED {
            self.bucket_cache.clear();
        }
        self.bucket_cache.push((ls.clone(), b.clone()));
        b
    }

    /// Marks a rule as a candidate (once per event).
    #[inline]
    pub(crate) fn mark(&mut self, rule: u32) {
        let s = &mut self.rule_stamp[rule as usize];
        if *s != self.epoch {
            *s = self.epoch;
            self.cands.push(rule);
        }
    }

    /// Records a literal hit for clause bit `bit` of `rule`; the rule becomes a candidate once
    /// every clause in `need` has a hit.
    #[inline]
    pub(crate) fn clause_hit(&mut self, rule: u32, bit: u8, need: u8) {
        let i = rule as usize;
        let (Some(stamp), Some(mask)) = (self.clause_stamp.get_mut(i), self.clause_mask.get_mut(i))
        else {
            return;
        };
        if *stamp != self.epoch {
            *stamp = self.epoch;
            *mask = 0;
        }
        *mask |= bit;
        if *mask & need == need {
            self.mark(rule);
        }
    }

    fn push_str(&mut self, s: &str) {
        let o0 = self.buf.len() as u32;
        self.buf.push_str(s);
        let o1 = self.buf.len() as u32;
        if s.bytes().any(|b| b.is_ascii_uppercase() || !b.is_ascii()) {
            let l0 = self.buf.len();
            lower_into(s, &mut self.buf);
            self.vals.push([o0, o1, l0 as u32, self.buf.len() as u32]);
        } else {
            self.vals.push([o0, o1, o0, o1]);
        }
    }

    fn push_value(&mut self, v: &Value, deep: bool) {
        match v {
            Value::String(s) => self.push_str(s),
            Value::Number(n) => {
                let o0 = self.buf.len() as u32;
                let _ = write!(self.buf, "{n}");
                let o1 = self.buf.len() as u32;
                self.vals.push([o0, o1, o0, o1]);
            }
            Value::Bool(b) => self.push_str(if *b { "true" } else { "false" }),
            Value::Array(a) => a.iter().for_each(|x| self.push_value(x, deep)),
            Value::Object(o) if deep => o.values().for_each(|x| self.push_value(x, deep)),
            Value::Object(_) | Value::Null => {}
        }
    }

    /// Loads (once per event) the values of field `id`.
    pub(crate) fn load(&mut self, ft: &FieldTable, ev: &Event, id: u32) -> FState {
        let i = id as usize;
        if self.stamp[i] == self.epoch {
            return self.state[i];
        }
        let start = self.vals.len() as u32;
        let st = if id == KEYWORDS {
            for v in ev.fields.as_map().values() {
                self.push_value(v, true);
            }
            if let Some(raw) = &ev.raw {
                self.push_str(raw);
            }
            FState::Vals {
                start,
                len: self.vals.len() as u32 - start,
            }
        } else {
            let found = self
                .lookup(ft, ev, i)
                .or_else(|| self.spaced_lookup(ft, ev, i));
            match found {
                None => FState::Missing,
                Some(Value::Null) => FState::Null,
                Some(v) => {
                    self.push_value(v, false);
                    FState::Vals {
                        start,
                        len: self.vals.len() as u32 - start,
                    }
                }
            }
        };
        self.stamp[i] = self.epoch;
        self.state[i] = st;
        st
    }

    /// Resolves the event's top-level keys to the fields that read them (once per event).
    fn resolve_keys(&mut self, ft: &FieldTable, ev: &Event) {
        if self.keys_epoch == self.epoch {
            return;
        }
        self.keys_epoch = self.epoch;
        let by_name = &ft.keys().by_name;
        for (k, key) in ev.fields.as_map().keys().enumerate() {
            let Some(fields) = by_name.get(key.as_str()) else {
                continue;
            };
            for &(f, pos) in fields {
                let f = f as usize;
                if self.flat_stamp[f] != self.epoch || pos < self.flat_pos[f] {
                    self.flat_stamp[f] = self.epoch;
                    self.flat_pos[f] = pos;
                    self.flat_key[f] = k as u32;
                }
            }
        }
    }

    /// The value of field `i`: its first path (in spec order) present in the event, as a flat
    /// key or, for dotted paths, by descending into nested objects (`Fields::get_segments`
    /// semantics, with flat keys resolved from the per-event key pass).
    fn lookup<'e>(&mut self, ft: &FieldTable, ev: &'e Event, i: usize) -> Option<&'e Value> {
        self.resolve_keys(ft, ev);
        let map = ev.fields.as_map();
        let flat = (self.flat_stamp[i] == self.epoch)
            .then(|| (usize::from(self.flat_pos[i]), self.flat_key[i] as usize));
        let at = |k: usize| map.values().nth(k);
        if !ft.keys().nested.get(i).copied().unwrap_or(false) {
            return flat.and_then(|(_, k)| at(k));
        }
        for (j, p) in ft.specs[i].iter().enumerate() {
            if let Some((pos, k)) = flat
                && pos == j
            {
                return at(k);
            }
            if let [first, rest @ ..] = p.segs.as_slice()
                && !rest.is_empty()
            {
                let mut cur = map.get(&**first);
                for seg in rest {
                    cur = cur.and_then(|v| v.as_object()).and_then(|o| o.get(&**seg));
                }
                if cur.is_some() {
                    return cur;
                }
            }
        }
        None
    }

    /// Fallback for a missing field: an event key that equals one of the field's names once its
    /// spaces are removed. The event's spaced keys are collected once per event, and only when
    /// a lookup misses; events without spaced keys pay one scan of their key names.
    fn spaced_lookup<'e>(&mut self, ft: &FieldTable, ev: &'e Event, i: usize) -> Option<&'e Value> {
        if self.spaced_epoch != self.epoch {
            self.spaced_epoch = self.epoch;
            self.spaced.clear();
            for k in ev.fields.as_map().keys() {
                if k.contains(' ') {
                    self.spaced.push((k.replace(' ', ""), k.clone()));
                }
            }
        }
        if self.spaced.is_empty() {
            return None;
        }
        let key = ft.specs[i].iter().find_map(|p| {
            self.spaced
                .iter()
                .find(|(stripped, _)| **stripped == *p.full)
                .map(|(_, orig)| orig)
        })?;
        ev.fields.as_map().get(key)
    }

    /// The `(original, lower-cased)` string values of a loaded field.
    #[inline]
    pub(crate) fn values(&self, st: FState) -> impl Iterator<Item = (&str, &str)> {
        let (start, len) = match st {
            FState::Vals { start, len } => (start as usize, len as usize),
            _ => (0, 0),
        };
        self.vals[start..start + len].iter().map(|r| {
            (
                self.buf.get(r[0] as usize..r[1] as usize).unwrap_or(""),
                self.buf.get(r[2] as usize..r[3] as usize).unwrap_or(""),
            )
        })
    }
}

fn parse_time(s: &str) -> Option<NaiveDateTime> {
    let s = s.trim();
    if !s.is_empty() && s.len() <= 13 && s.bytes().all(|b| b.is_ascii_digit()) {
        // Unix epoch: 10 digits = seconds, 13 digits = milliseconds.
        let n: i64 = s.parse().ok()?;
        let ms = if s.len() > 10 {
            n
        } else {
            n.checked_mul(1000)?
        };
        return DateTime::from_timestamp_millis(ms).map(|d| d.naive_utc());
    }
    if let Ok(d) = DateTime::parse_from_rfc3339(s) {
        return Some(d.naive_utc());
    }
    for f in [
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f UTC",
    ] {
        if let Ok(d) = NaiveDateTime::parse_from_str(s, f) {
            return Some(d);
        }
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
}

fn time_part(s: &str, p: TimePart) -> Option<f64> {
    let t = parse_time(s)?;
    Some(match p {
        TimePart::Minute => t.minute() as f64,
        TimePart::Hour => t.hour() as f64,
        TimePart::Day => t.day() as f64,
        TimePart::Week => t.iso_week().week() as f64,
        TimePart::Month => t.month() as f64,
        TimePart::Year => t.year() as f64,
    })
}

/// Tests a value-level matcher against one `(original, lower)` value.
#[inline]
fn test_value(m: &Matcher, o: &str, l: &str) -> bool {
    match m {
        Matcher::Str(p) => p.test(if p.cased { o } else { l }),
        Matcher::Glob { glob, cased, .. } => glob.is_match(if *cased { o } else { l }),
        Matcher::Regex(r) => r.is_match(o, l),
        Matcher::Cidr(c) => c.contains(o),
        Matcher::Num(c, n) => o.trim().parse::<f64>().is_ok_and(|x| c.test(x, *n)),
        Matcher::Time(p, c, n) => time_part(o, *p).is_some_and(|x| c.test(x, *n)),
        Matcher::Null | Matcher::Exists(_) | Matcher::FieldRef { .. } => false,
    }
}

fn fieldref_pair(kind: StrKind, a: &str, b: &str) -> bool {
    match kind {
        StrKind::Exact => a == b,
        StrKind::Contains => a.contains(b),
        StrKind::StartsWith => a.starts_with(b),
        StrKind::EndsWith => a.ends_with(b),
    }
}

/// The per-event evaluation context.
pub(crate) struct Ctx<'a> {
    pub sc: &'a mut Scratch,
    pub ft: &'a FieldTable,
    pub ev: &'a Event,
}

impl Ctx<'_> {
    fn matcher(&mut self, st: FState, m: &Matcher) -> bool {
        match m {
            Matcher::Null => matches!(st, FState::Missing | FState::Null),
            Matcher::Exists(b) => (st != FState::Missing) == *b,
            Matcher::FieldRef { field, kind, cased } => {
                let other = self.sc.load(self.ft, self.ev, *field);
                let sc = &*self.sc;
                sc.values(st).any(|(o, l)| {
                    sc.values(other).any(|(o2, l2)| {
                        if *cased {
                            fieldref_pair(*kind, o, o2)
                        } else {
                            fieldref_pair(*kind, l, l2)
                        }
                    })
                })
            }
            _ => self.sc.values(st).any(|(o, l)| test_value(m, o, l)),
        }
    }

    fn item(&mut self, it: &FieldItem) -> bool {
        let st = self.sc.load(self.ft, self.ev, it.field);
        let r = if it.all {
            it.groups.iter().all(|&(a, b)| {
                it.matchers
                    .get(a as usize..b as usize)
                    .unwrap_or(&[])
                    .iter()
                    .any(|m| self.matcher(st, m))
            })
        } else if let Some((set, rest)) = &it.fast {
            self.sc.values(st).any(|(_, l)| set.test(l)) || rest.iter().any(|m| self.matcher(st, m))
        } else {
            it.matchers.iter().any(|m| self.matcher(st, m))
        };
        r != it.neq
    }

    fn selection(&mut self, s: &Selection) -> bool {
        s.alts.iter().any(|alt| alt.iter().all(|it| self.item(it)))
    }

    /// Evaluates a whole detection.
    pub(crate) fn detection(&mut self, d: &CompiledDetection) -> bool {
        condition::eval(&d.cond, &mut |i| self.selection(&d.selections[i as usize]))
    }
}
