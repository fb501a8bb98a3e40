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
//! Rules whose set is unknown are always candidates. Rules are grouped into buckets by
//! (product, category, service) for classified events, plus one bucket holding every rule for
//! unclassified events (one automaton pass per field instead of one per bucket). Per bucket and
//! field there is one Aho-Corasick automaton for substring literals and a hash map for exact
//! values. Matching is always re-checked by the full
//! evaluator, so a prefilter can only add work, never drop a match — `tests::indexed_equals_brute`
//! checks this over the corpus.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};

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

struct Bucket {
    source: RuleSource,
    always: Vec<u32>,
    fields: Vec<FieldIndex>,
}

/// The candidate index over all detection rules.
#[derive(Default)]
pub(crate) struct Index {
    /// Per logsource triple, for classified events: only applicable buckets are scanned.
    buckets: Vec<Bucket>,
    /// All rules in one bucket, for unclassified events (one automaton pass per field).
    global: Vec<Bucket>,
    /// Unique per index: keys the per-thread cache of applicable buckets in [`Scratch`].
    id: u64,
}

impl std::fmt::Debug for Index {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Index({} buckets + global)", self.buckets.len())
    }
}

impl Index {
    /// Builds the index; `rules[i]` is (logsource, detection) of detection rule `i`.
    pub(crate) fn build<'a>(
        rules: impl Iterator<Item = (&'a RuleSource, &'a Detection)> + Clone + Send,
    ) -> Self {
        // The two indexes are independent; build them side by side (automaton construction is
        // most of the cost).
        let (buckets, global) = std::thread::scope(|s| {
            let r = rules.clone();
            let h = s.spawn(move || Self::build_buckets(r, true));
            let global = Self::build_buckets(rules, false);
            match h.join() {
                Ok(routed) => (routed, global),
                Err(panic) => std::panic::resume_unwind(panic),
            }
        });
        static NEXT_ID: AtomicU64 = AtomicU64::new(1);
        Self {
            buckets,
            global,
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
        }
    }

    /// One bucket per logsource triple when `by_source`, else a single bucket for all rules.
    fn build_buckets<'a>(
        rules: impl Iterator<Item = (&'a RuleSource, &'a Detection)>,
        by_source: bool,
    ) -> Vec<Bucket> {
        type Acc = (
            Vec<u32>,
            HashMap<u32, (HashMap<String, Vec<u32>>, HashMap<String, Vec<u32>>)>,
        );
        let mut buckets: Vec<(RuleSource, Acc)> = Vec::new();
        for (i, (src, det)) in rules.enumerate() {
            let key = if by_source {
                src.clone()
            } else {
                RuleSource::default()
            };
            let pos = match buckets.iter().position(|(k, _)| {
                k.product == key.product && k.category == key.category && k.service == key.service
            }) {
                Some(p) => p,
                None => {
                    buckets.push((key, Default::default()));
                    buckets.len() - 1
                }
            };
            let acc = &mut buckets[pos].1;
            match necessary_literals(det) {
                None => acc.0.push(i as u32),
                Some(lits) => {
                    for l in lits {
                        let e = acc.1.entry(l.field).or_default();
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
            .into_iter()
            .map(|(source, (always, per_field))| {
                let mut fields: Vec<FieldIndex> = per_field
                    .into_iter()
                    .map(|(field, (exact, subs))| {
                        let (pats, ac_rules): (Vec<String>, Vec<Vec<u32>>) = subs.into_iter().unzip();
                        let ac = if pats.is_empty() {
                            None
                        } else {
                            // Routed buckets get full DFAs: they are scanned over every field
                            // value of every classified event, so search speed beats build time
                            // and memory (the crate's default picks a slower NFA above 100
                            // patterns). The all-rules bucket (unclassified events only) keeps the
                            // default: its DFAs would double peak memory.
                            let kind = by_source.then_some(AhoCorasickKind::DFA);
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
                        let (ac, ac_rules) = match ac {
                            Some(ac) => (Some(ac), ac_rules),
                            None => (None, ac_rules),
                        };
                        FieldIndex { field, ac, ac_rules, exact: exact.into_iter().map(|(k, v)| (k.into(), v)).collect::<HashMap<_, _, FastHash>>() }
                    })
                    .collect();
                fields.sort_by_key(|f| f.field);
                // Rules whose automaton failed to build must stay candidates.
                let mut always = always;
                for f in &fields {
                    if f.ac.is_none() {
                        always.extend(f.ac_rules.iter().flatten().copied());
                    }
                }
                Bucket { source, always, fields }
            })
            .collect()
    }

    /// Marks every candidate rule for `ev` in `sc` (all buckets when `all_buckets`).
    pub(crate) fn candidates(
        &self,
        sc: &mut Scratch,
        ft: &FieldTable,
        ev: &Event,
        all_buckets: bool,
    ) {
        let buckets = if all_buckets {
            &self.global
        } else {
            &self.buckets
        };
        let mut order = std::mem::take(&mut sc.bucket_list);
        order.clear();
        if all_buckets {
            order.extend(0..buckets.len() as u32);
        } else {
            sc.applicable_buckets(self.id, &ev.logsource, &mut order, |out| {
                out.extend(
                    buckets
                        .iter()
                        .enumerate()
                        .filter(|(_, b)| b.source.applies(&ev.logsource))
                        .map(|(i, _)| i as u32),
                )
            });
        }
        for &bi in &order {
            let b = &buckets[bi as usize];
            for r in &b.always {
                sc.mark(*r);
            }
            let mut hits = std::mem::take(&mut sc.hits);
            for fi in &b.fields {
                let st = sc.load(ft, ev, fi.field);
                hits.clear();
                for (_, l) in sc.values(st) {
                    if let Some(rs) = fi.exact.get(l) {
                        hits.extend_from_slice(rs);
                    }
                    if let Some(ac) = &fi.ac {
                        for m in ac.find_overlapping_iter(l) {
                            hits.extend_from_slice(&fi.ac_rules[m.pattern().as_usize()]);
                        }
                    }
                }
                for r in &hits {
                    sc.mark(*r);
                }
            }
            sc.hits = hits;
        }
        sc.bucket_list = order;
    }
}

/// Whether a bucket-level logsource could apply (used by the brute-force path as well).
pub(crate) fn source_applies(src: &RuleSource, ev: &LogSource, ignore: bool) -> bool {
    ignore || src.applies(ev)
}
