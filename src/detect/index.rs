//! Candidate index: which rules can possibly match an event.
//!
//! For every rule we derive a *necessary literal set*: literals (lower-cased, per field) such that
//! if the rule matches, at least one of them occurs in the event (as the exact lower-cased value
//! or as a substring of it). The derivation is conservative:
//!
//! * `A and B` → the better of the two sets (either one is necessary);
//! * `A or B`, `N of …`, selection alternatives and OR'd values → the union, and *unknown* if any
//!   part is unknown;
//! * `not`, `neq`, regexes, CIDRs, numeric/time comparisons, `null`, `exists`, `fieldref`
//!   → unknown.
//!
//! Rules whose set is unknown are always candidates. Rules are grouped by (product, category,
//! service); for a classified event the groups that apply are merged into one bucket (built
//! lazily per distinct set of applicable groups and shared), and one bucket holds every rule for
//! unclassified events, so each field is scanned once per event. Per bucket and field there is one
//! Aho-Corasick automaton for substring literals and a hash map for exact values; results for
//! short recurring values are memoized per thread ([`AcCache`]). Matching is always re-checked by the full
//! evaluator, so a prefilter can only add work, never drop a match — `tests::indexed_equals_brute`
//! checks this over the corpus.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use aho_corasick::{AhoCorasick, AhoCorasickKind};

use super::compile::{Detection, FieldItem, Selection};
use super::condition::Cond;
use super::eval::Scratch;
use super::logsource::{FieldTable, RuleSource};
use super::matcher::{Matcher, StrKind, lower};
use crate::event::{Event, LogSource};

/// A fast, non-cryptographic hasher (FNV-1a over 8-byte words) for the exact-value maps, which
/// are probed once per field value per event; keys come from rules, so HashDoS resistance
/// (SipHash's purpose) is not needed here.
#[derive(Clone, Copy, Default)]
pub(crate) struct FastHash;

impl std::hash::BuildHasher for FastHash {
    type Hasher = FastHasher;
    fn build_hasher(&self) -> FastHasher {
        FastHasher(0xcbf2_9ce4_8422_2325)
    }
}

pub(crate) struct FastHasher(u64);

impl std::hash::Hasher for FastHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut h = self.0;
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            h = (h ^ u64::from_le_bytes(w)).wrapping_mul(0x0000_0100_0000_01b3);
            h ^= h >> 29;
        }
        for &b in chunks.remainder() {
            h = (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3);
        }
        self.0 = h;
    }

    #[inline]
    fn finish(&self) -> u64 {
        let mut h = self.0;
        h ^= h >> 33;
        h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
        h ^= h >> 33;
        h
    }
}

/// One necessary literal.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Lit {
    pub field: u32,
    pub exact: bool,
    pub text: String,
}

type Lits = Option<Vec<Lit>>;

fn score(l: &[Lit]) -> (bool, usize) {
    let weak = l.iter().any(|x| !x.exact && x.text.chars().count() < 3);
    (weak, l.len())
}

fn best(cands: impl Iterator<Item = Lits>) -> Lits {
    cands.flatten().min_by_key(|l| score(l))
}

fn union(parts: impl Iterator<Item = Lits>) -> Lits {
    let mut out = Vec::new();
    for p in parts {
        out.extend(p?);
    }
    if out.is_empty() { None } else { Some(out) }
}

fn matcher_lit(field: u32, m: &Matcher) -> Lits {
    match m {
        Matcher::Str(p) if !p.text.is_empty() => {
            let text = if p.cased {
                lower(&p.text)
            } else {
                p.text.to_string()
            };
            Some(vec![Lit {
                field,
                exact: p.kind == StrKind::Exact,
                text,
            }])
        }
        Matcher::Glob { longest, cased, .. } if !longest.is_empty() => {
            let text = if *cased {
                lower(longest)
            } else {
                longest.to_string()
            };
            Some(vec![Lit {
                field,
                exact: false,
                text,
            }])
        }
        _ => None,
    }
}

fn item_lits(it: &FieldItem) -> Lits {
    if it.neq || it.matchers.is_empty() {
        return None;
    }
    if it.all {
        // Every value group must match: any one group's literals (all of its members) suffice.
        best(it.groups.iter().map(|&(a, b)| {
            let ms = it.matchers.get(a as usize..b as usize).unwrap_or(&[]);
            if ms.is_empty() {
                return None;
            }
            union(ms.iter().map(|m| matcher_lit(it.field, m)))
        }))
    } else {
        union(it.matchers.iter().map(|m| matcher_lit(it.field, m)))
    }
}

fn selection_lits(s: &Selection) -> Lits {
    union(s.alts.iter().map(|alt| best(alt.iter().map(item_lits))))
}

fn cond_lits(c: &Cond, d: &Detection) -> Lits {
    match c {
        Cond::Sel(i) => selection_lits(&d.selections[*i as usize]),
        Cond::Not(_) => None,
        Cond::And(xs) => best(xs.iter().map(|x| cond_lits(x, d))),
        Cond::Or(xs) => union(xs.iter().map(|x| cond_lits(x, d))),
        Cond::AtLeast(_, xs) => union(
            xs.iter()
                .map(|i| selection_lits(&d.selections[*i as usize])),
        ),
    }
}

/// The necessary literal set of a detection, or `None` when it has none.
pub(crate) fn necessary_literals(d: &Detection) -> Lits {
    let mut l = cond_lits(&d.cond, d)?;
    l.sort_by(|a, b| (a.field, a.exact, &a.text).cmp(&(b.field, b.exact, &b.text)));
    l.dedup();
    Some(l)
}

struct FieldIndex {
    field: u32,
    ac: Option<AhoCorasick>,
    ac_rules: Vec<Vec<u32>>,
    exact: HashMap<Box<str>, Vec<u32>, FastHash>,
}

/// A searchable bucket: the always-candidates and, per field, the literal automata.
pub(crate) struct Bucket {
    /// Unique per bucket ever built: keys [`AcCache`] entries.
    uid: u64,
    always: Vec<u32>,
    fields: Vec<FieldIndex>,
}

/// Per field: (exact literals, substring literals), each literal → the rules it stands for.
type FieldLits = HashMap<u32, (HashMap<String, Vec<u32>>, HashMap<String, Vec<u32>>)>;

/// The literals of one logsource triple, kept unbuilt: the searchable buckets are built lazily
/// per combination of applicable triples, so an event scans each field once, not once per
/// applicable triple.
struct RawBucket {
    source: RuleSource,
    always: Vec<u32>,
    fields: FieldLits,
}

/// Per-thread memo of literal-search results (exact map and substring automaton): field values repeat heavily across events
/// (image paths, users, query names), and a hash probe is much cheaper than an overlapping
/// automaton scan. Entries are verified against the full value, so a hit is exact; the memo is
/// bounded and simply cleared when full.
#[derive(Default)]
pub(crate) struct AcCache {
    map: HashMap<u64, AcEntry, FastHash>,
    /// Rule lists of all entries, back to back.
    pool: Vec<u32>,
}

struct AcEntry {
    bucket: u64,
    field: u32,
    text: Box<str>,
    start: u32,
    len: u32,
}

impl AcCache {
    /// Values longer than this are scanned directly (they rarely repeat).
    const MAX_LEN: usize = 256;
    const MAX_ENTRIES: usize = 1 << 14;
    const MAX_POOL: usize = 1 << 20;

    /// Appends to `hits` the rules of every literal of `fi` matching the lower-cased value `l`
    /// (equal to an exact literal, or containing a substring literal).
    fn literal_hits(&mut self, bucket: u64, fi: &FieldIndex, l: &str, hits: &mut Vec<u32>) {
        let scan = |hits: &mut Vec<u32>| {
            if let Some(rs) = fi.exact.get(l) {
                hits.extend_from_slice(rs);
            }
            if let Some(ac) = &fi.ac {
                for m in ac.find_overlapping_iter(l) {
                    if let Some(rs) = fi.ac_rules.get(m.pattern().as_usize()) {
                        hits.extend_from_slice(rs);
                    }
                }
            }
        };
        if fi.ac.is_none() || l.len() > Self::MAX_LEN {
            scan(hits);
            return;
        }
        let key = {
            use std::hash::{BuildHasher, Hasher};
            let mut h = FastHash.build_hasher();
            h.write_u64(bucket);
            h.write_u32(fi.field);
            h.write(l.as_bytes());
            h.finish()
        };
        if let Some(e) = self.map.get(&key)
            && e.bucket == bucket
            && e.field == fi.field
            && *e.text == *l
        {
            let (a, n) = (e.start as usize, e.len as usize);
            if let Some(rs) = self.pool.get(a..a + n) {
                hits.extend_from_slice(rs);
                return;
            }
        }
        if self.map.len() >= Self::MAX_ENTRIES || self.pool.len() >= Self::MAX_POOL {
            self.map.clear();
            self.pool.clear();
        }
        let start = self.pool.len();
        scan(&mut self.pool);
        hits.extend_from_slice(&self.pool[start..]);
        self.map.insert(
            key,
            AcEntry {
                bucket,
                field: fi.field,
                text: l.into(),
                start: start as u32,
                len: (self.pool.len() - start) as u32,
            },
        );
    }
}

/// The candidate index over all detection rules.
#[derive(Default)]
pub(crate) struct Index {
    /// Per logsource triple, for classified events.
    raw: Vec<RawBucket>,
    /// Per distinct set of applicable triples (sorted indices into `raw`): the merged bucket.
    merged: RwLock<HashMap<Vec<u32>, Arc<Bucket>>>,
    /// All rules in one bucket, for unclassified events (one automaton pass per field).
    global: Option<Arc<Bucket>>,
    /// Unique per index: keys the per-thread cache of applicable buckets in [`Scratch`].
    id: u64,
}

impl std::fmt::Debug for Index {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Index({} buckets + global)", self.raw.len())
    }
}

impl Index {
    /// Builds the index; `rules[i]` is (logsource, detection) of detection rule `i`.
    pub(crate) fn build<'a>(rules: impl Iterator<Item = (&'a RuleSource, &'a Detection)>) -> Self {
        let raw = Self::collect(rules);
        // The all-rules bucket keeps the crate's default automaton kind: full DFAs over every
        // rule would double peak memory.
        let global = Self::merge(raw.iter(), false);
        static NEXT_ID: AtomicU64 = AtomicU64::new(1);
        Self {
            raw,
            merged: RwLock::default(),
            global: Some(Arc::new(global)),
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
        }
    }

    /// Groups the rules' necessary literals by logsource triple.
    fn collect<'a>(rules: impl Iterator<Item = (&'a RuleSource, &'a Detection)>) -> Vec<RawBucket> {
        let mut buckets: Vec<RawBucket> = Vec::new();
        for (i, (src, det)) in rules.enumerate() {
            let pos = match buckets.iter().position(|b| {
                let k = &b.source;
                k.product == src.product && k.category == src.category && k.service == src.service
            }) {
                Some(p) => p,
                None => {
                    buckets.push(RawBucket {
                        source: src.clone(),
                        always: Vec::new(),
                        fields: HashMap::new(),
                    });
                    buckets.len() - 1
                }
            };
            let acc = &mut buckets[pos];
            match necessary_literals(det) {
                None => acc.always.push(i as u32),
                Some(lits) => {
                    for l in lits {
                        let e = acc.fields.entry(l.field).or_default();
                        let m = if l.exact { &mut e.0 } else { &mut e.1 };
                        let v = m.entry(l.text).or_default();
                        if v.last() != Some(&(i as u32)) {
                            v.push(i as u32);
                        }
                    }
                }
            }
        }
        buckets
    }

    /// Builds one searchable bucket over the union of `parts` (full DFAs when `dfa`).
    fn merge<'a>(parts: impl Iterator<Item = &'a RawBucket>, dfa: bool) -> Bucket {
        let mut always = Vec::new();
        let mut per_field: FieldLits = HashMap::new();
        for p in parts {
            always.extend_from_slice(&p.always);
            for (field, (exact, subs)) in &p.fields {
                let e = per_field.entry(*field).or_default();
                for (t, rs) in exact {
                    e.0.entry(t.clone()).or_default().extend_from_slice(rs);
                }
                for (t, rs) in subs {
                    e.1.entry(t.clone()).or_default().extend_from_slice(rs);
                }
            }
        }
        let mut fields: Vec<FieldIndex> = per_field
            .into_iter()
            .map(|(field, (exact, subs))| {
                let (pats, ac_rules): (Vec<String>, Vec<Vec<u32>>) = subs.into_iter().unzip();
                let ac = if pats.is_empty() {
                    None
                } else {
                    // Routed buckets get full DFAs: they are scanned over every field value of
                    // every classified event, so search speed beats build time and memory (the
                    // crate's default picks a slower NFA above 100 patterns).
                    let kind = dfa.then_some(AhoCorasickKind::DFA);
                    match AhoCorasick::builder()
                        .kind(kind)
                        .build(&pats)
                        .or_else(|_| AhoCorasick::new(&pats))
                    {
                        Ok(ac) => Some(ac),
                        Err(e) => {
                            tracing::warn!(error = %e, "aho-corasick build failed; rules become always-candidates");
                            None
                        }
                    }
                };
                FieldIndex {
                    field,
                    ac,
                    ac_rules,
                    exact: exact
                        .into_iter()
                        .map(|(k, v)| (k.into(), v))
                        .collect::<HashMap<_, _, FastHash>>(),
                }
            })
            .collect();
        fields.sort_by_key(|f| f.field);
        // Rules whose automaton failed to build must stay candidates.
        for f in &fields {
            if f.ac.is_none() {
                always.extend(f.ac_rules.iter().flatten().copied());
            }
        }
        always.sort_unstable();
        always.dedup();
        static NEXT_UID: AtomicU64 = AtomicU64::new(1);
        Bucket {
            uid: NEXT_UID.fetch_add(1, Ordering::Relaxed),
            always,
            fields,
        }
    }

    /// The merged bucket for an event logsource (built on first use, then shared).
    fn routed(&self, ls: &LogSource) -> Arc<Bucket> {
        let key: Vec<u32> = self
            .raw
            .iter()
            .enumerate()
            .filter(|(_, b)| b.source.applies(ls))
            .map(|(i, _)| i as u32)
            .collect();
        if let Ok(m) = self.merged.read()
            && let Some(b) = m.get(&key)
        {
            return b.clone();
        }
        let b = Arc::new(Self::merge(
            key.iter().filter_map(|&i| self.raw.get(i as usize)),
            true,
        ));
        match self.merged.write() {
            Ok(mut m) => m.entry(key).or_insert(b).clone(),
            Err(_) => b,
        }
    }

    /// Marks every candidate rule for `ev` in `sc` (all rules' bucket when `all_buckets`).
    pub(crate) fn candidates(
        &self,
        sc: &mut Scratch,
        ft: &FieldTable,
        ev: &Event,
        all_buckets: bool,
    ) {
        let b = if all_buckets {
            match &self.global {
                Some(g) => g.clone(),
                None => return,
            }
        } else {
            sc.applicable_bucket(self.id, &ev.logsource, || self.routed(&ev.logsource))
        };
        for r in &b.always {
            sc.mark(*r);
        }
        let mut hits = std::mem::take(&mut sc.hits);
        let mut cache = std::mem::take(&mut sc.ac_cache);
        for fi in &b.fields {
            let st = sc.load(ft, ev, fi.field);
            hits.clear();
            for (_, l) in sc.values(st) {
                cache.literal_hits(b.uid, fi, l, &mut hits);
            }
            for r in &hits {
                sc.mark(*r);
            }
        }
        sc.ac_cache = cache;
        sc.hits = hits;
    }
}

/// Whether a bucket-level logsource could apply (used by the brute-force path as well).
pub(crate) fn source_applies(src: &RuleSource, ev: &LogSource, ignore: bool) -> bool {
    ignore || src.applies(ev)
}
