//! Candidate index: which rules can possibly match an event.
//!
//! For every rule we derive *necessary clauses*: each clause is a set of literals (lower-cased,
//! per field) such that if the rule matches, at least one of them occurs in the event (as the
//! exact lower-cased value or as a substring of it). A rule becomes a candidate only when every
//! one of its clauses (up to [`MAX_CLAUSES`]) has a hit. The derivation is conservative:
//!
//! * `A and B`, the items of a selection and `|all` value groups → the clauses of both sides;
//! * `A or B`, `N of …`, selection alternatives and OR'd values → one clause, the union of each
//!   side's most selective clause, and *none* if a side has none;
//! * regexes → their required literals (`relit.rs`), unknown when there are none;
//! * `not`, `neq`, CIDRs, numeric/time comparisons, `null`, `exists`, `fieldref` → unknown.
//!
//! "Most selective" is estimated from each literal's length and how many rules use it
//! ([`LitStats`]): `Initiated: 'true'` or `EventID: 4624` occur in most events of their source.
//! Rules without clauses are always candidates. Rules are grouped by (product, category,
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

use aho_corasick::AhoCorasick;

use super::compile::{CompiledDetection, FieldItem, Selection};
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
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct Lit {
    pub field: u32,
    pub exact: bool,
    pub text: String,
}

/// A necessary literal set: when the rule matches, at least one of its literals occurs.
type Clause = Vec<Lit>;

/// At most this many clauses per rule (a rule is a candidate once each of them has a hit);
/// clause numbers live in the low bits of an index entry.
const MAX_CLAUSES: usize = 4;
const CLAUSE_BITS: u32 = 2;

/// An index entry: a rule and which of its clauses a literal belongs to.
#[inline]
fn entry(rule: u32, clause: usize) -> u32 {
    (rule << CLAUSE_BITS) | clause as u32
}

/// How many rules use each literal: literals shared by many rules (`Initiated: 'true'`,
/// `EventID: 4624`, `\svchost.exe`) are generic and likely to occur, so clauses made of them are
/// weak filters.
#[derive(Default)]
struct LitStats {
    rules_using: HashMap<Lit, u32>,
}

impl LitStats {
    fn build<'a>(dets: impl Iterator<Item = &'a CompiledDetection>) -> Self {
        let mut rules_using: HashMap<Lit, u32> = HashMap::new();
        for d in dets {
            let mut lits: Vec<Lit> = d
                .selections
                .iter()
                .flat_map(|s| s.alts.iter().flatten())
                .filter(|it| !it.neq)
                .flat_map(|it| it.matchers.iter().filter_map(|m| matcher_lits(it.field, m)))
                .flatten()
                .collect();
            lits.sort();
            lits.dedup();
            for l in lits {
                *rules_using.entry(l).or_default() += 1;
            }
        }
        Self { rules_using }
    }

    /// Estimated cost of a literal as a filter (lower is more selective): shared literals and
    /// short substrings occur often.
    fn cost(&self, l: &Lit) -> f64 {
        let shared = 1.0 + f64::from(self.rules_using.get(l).copied().unwrap_or(0));
        let n = l.text.chars().count();
        let short = if l.exact {
            if n < 3 { 4.0 } else { 1.0 }
        } else {
            8.0 / n.clamp(1, 8) as f64
        };
        shared * short
    }

    fn clause_cost(&self, c: &[Lit]) -> f64 {
        c.iter().map(|l| self.cost(l)).sum()
    }

    /// The most selective of `clauses`.
    fn best(&self, clauses: Vec<Clause>) -> Option<Clause> {
        clauses
            .into_iter()
            .min_by(|a, b| self.clause_cost(a).total_cmp(&self.clause_cost(b)))
    }

    /// One clause for "at least one of `parts`": the union of each part's best clause, or no
    /// clause when some part has none.
    fn any_of(&self, parts: impl Iterator<Item = Vec<Clause>>) -> Vec<Clause> {
        let mut out = Clause::new();
        for p in parts {
            let Some(b) = self.best(p) else {
                return Vec::new();
            };
            out.extend(b);
        }
        if out.is_empty() {
            Vec::new()
        } else {
            vec![out]
        }
    }
}

/// The literals standing for one matcher (several for a regex's alternatives), or `None`.
fn matcher_lits(field: u32, m: &Matcher) -> Option<Vec<Lit>> {
    let sub = |text: String| Lit {
        field,
        exact: false,
        text,
    };
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
        Matcher::Glob { longest, cased, .. } if !longest.is_empty() => Some(vec![sub(if *cased {
            lower(longest)
        } else {
            longest.to_string()
        })]),
        Matcher::Regex(r) => r
            .required()
            .map(|lits| lits.iter().map(|t| sub(t.to_string())).collect()),
        _ => None,
    }
}

/// The union of the matchers' literals (one of the matchers must match), or `None`.
fn matchers_clause(field: u32, ms: &[Matcher]) -> Option<Clause> {
    let mut out = Clause::new();
    for m in ms {
        out.extend(matcher_lits(field, m)?);
    }
    (!out.is_empty()).then_some(out)
}

fn item_clauses(it: &FieldItem) -> Vec<Clause> {
    if it.neq || it.matchers.is_empty() {
        return Vec::new();
    }
    if it.all {
        // Every value group must match: each group is a clause of its own.
        it.groups
            .iter()
            .filter_map(|&(a, b)| {
                matchers_clause(it.field, it.matchers.get(a as usize..b as usize)?)
            })
            .collect()
    } else {
        matchers_clause(it.field, &it.matchers)
            .into_iter()
            .collect()
    }
}

fn alt_clauses(alt: &[FieldItem]) -> Vec<Clause> {
    alt.iter().flat_map(item_clauses).collect()
}

fn selection_clauses(s: &Selection, st: &LitStats) -> Vec<Clause> {
    match s.alts.as_slice() {
        [one] => alt_clauses(one),
        alts => st.any_of(alts.iter().map(|a| alt_clauses(a))),
    }
}

fn cond_clauses(c: &Cond, d: &CompiledDetection, st: &LitStats) -> Vec<Clause> {
    let sel = |i: &u32| selection_clauses(&d.selections[*i as usize], st);
    match c {
        Cond::Sel(i) => sel(i),
        Cond::Not(_) => Vec::new(),
        Cond::And(xs) => xs.iter().flat_map(|x| cond_clauses(x, d, st)).collect(),
        Cond::Or(xs) => st.any_of(xs.iter().map(|x| cond_clauses(x, d, st))),
        Cond::AtLeast(0, _) => Vec::new(),
        Cond::AtLeast(_, xs) => st.any_of(xs.iter().map(sel)),
    }
}

/// The necessary clauses of a detection, most selective first: the rule can only match an
/// event in which every clause has a literal hit. Empty when nothing is necessary.
fn necessary_clauses(d: &CompiledDetection, st: &LitStats) -> Vec<Clause> {
    let mut cs: Vec<Clause> = cond_clauses(&d.cond, d, st)
        .into_iter()
        .map(|mut c| {
            c.sort();
            c.dedup();
            c
        })
        .collect();
    cs.sort_by(|a, b| st.clause_cost(a).total_cmp(&st.clause_cost(b)));
    // A clause containing another clause is implied by it.
    let mut kept: Vec<Clause> = Vec::new();
    for c in cs {
        if !kept
            .iter()
            .any(|k| k.iter().all(|l| c.binary_search(l).is_ok()))
        {
            kept.push(c);
        }
    }
    kept.truncate(MAX_CLAUSES);
    kept
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
    /// Per rule: the mask of clauses that must all have a hit (0 for always-candidates).
    need: Vec<u8>,
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
    pub(crate) fn build<'a>(
        rules: impl Iterator<Item = (&'a RuleSource, &'a CompiledDetection)>,
    ) -> Self {
        let rules: Vec<(&RuleSource, &CompiledDetection)> = rules.collect();
        let st = LitStats::build(rules.iter().map(|r| r.1));
        let (raw, need) = Self::collect(&rules, &st);
        let global = Self::merge(raw.iter());
        static NEXT_ID: AtomicU64 = AtomicU64::new(1);
        Self {
            raw,
            merged: RwLock::default(),
            global: Some(Arc::new(global)),
            need,
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
        }
    }

    /// Groups the rules' necessary literals by logsource triple.
    fn collect(
        rules: &[(&RuleSource, &CompiledDetection)],
        st: &LitStats,
    ) -> (Vec<RawBucket>, Vec<u8>) {
        let mut buckets: Vec<RawBucket> = Vec::new();
        let mut need = Vec::with_capacity(rules.len());
        for (i, &(src, det)) in rules.iter().enumerate() {
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
            let clauses = necessary_clauses(det, st);
            if clauses.is_empty() {
                acc.always.push(i as u32);
            }
            need.push(((1u32 << clauses.len()) - 1) as u8);
            for (c, lits) in clauses.into_iter().enumerate() {
                for l in lits {
                    let e = acc.fields.entry(l.field).or_default();
                    let m = if l.exact { &mut e.0 } else { &mut e.1 };
                    let v = m.entry(l.text).or_default();
                    let en = entry(i as u32, c);
                    if v.last() != Some(&en) {
                        v.push(en);
                    }
                }
            }
        }
        (buckets, need)
    }

    /// Builds one searchable bucket over the union of `parts`.
    fn merge<'a>(parts: impl Iterator<Item = &'a RawBucket>) -> Bucket {
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
                // The crate's default kind: a DFA for small pattern sets, a contiguous NFA for large
                // ones. Full DFAs over thousands of patterns cost ~10x the NFA's build time for
                // a scan only slightly faster, and the per-thread memo absorbs most repeated scans.
                let ac = if pats.is_empty() {
                    None
                } else {
                    match AhoCorasick::new(&pats) {
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
                always.extend(f.ac_rules.iter().flatten().map(|e| e >> CLAUSE_BITS));
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
            for &e in &hits {
                let rule = e >> CLAUSE_BITS;
                match self.need.get(rule as usize) {
                    Some(&1) => sc.mark(rule),
                    Some(&need) => sc.clause_hit(rule, 1 << (e & ((1 << CLAUSE_BITS) - 1)), need),
                    None => {}
                }
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
