//! Compiled value matchers: string comparisons (exact/contains/prefix/suffix, with a
//! pre-built substring searcher), large OR-lists as one hash-set + Aho-Corasick pass, CIDR
//! networks, numeric and time-part comparisons, and the char-wise lower-casing shared by rule
//! needles and event values (so a substring of an original is a substring of its lowering).

use std::collections::HashMap;
use std::net::IpAddr;

use ipnet::IpNet;
use regex::Regex;

/// Numeric comparison operators (`lt`, `lte`, `gt`, `gte`; `Eq` for time parts without one).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Cmp {
    Lt,
    Lte,
    Gt,
    Gte,
    Eq,
}

impl Cmp {
    pub(crate) fn test(self, left: f64, right: f64) -> bool {
        match self {
            Cmp::Lt => left < right,
            Cmp::Lte => left <= right,
            Cmp::Gt => left > right,
            Cmp::Gte => left >= right,
            Cmp::Eq => left == right,
        }
    }
}

/// Time parts extracted from a timestamp-valued field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TimePart {
    Minute,
    Hour,
    Day,
    Week,
    Month,
    Year,
}

/// How a string matcher compares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum StrKind {
    Exact,
    Contains,
    StartsWith,
    EndsWith,
}

/// A compiled string comparison; `text` is lower-cased unless `cased`.
#[derive(Clone, Debug)]
pub(crate) struct StrPat {
    pub kind: StrKind,
    pub cased: bool,
    pub text: Box<str>,
    /// Pre-built substring searcher for `Contains`.
    finder: Option<Box<memchr::memmem::Finder<'static>>>,
}

impl StrPat {
    pub(crate) fn new(kind: StrKind, cased: bool, text: Box<str>) -> Self {
        let finder = (kind == StrKind::Contains && !text.is_empty())
            .then(|| Box::new(memchr::memmem::Finder::new(text.as_bytes()).into_owned()));
        Self {
            kind,
            cased,
            text,
            finder,
        }
    }

    #[inline]
    pub(crate) fn test(&self, hay: &str) -> bool {
        let t = &*self.text;
        match self.kind {
            StrKind::Exact => hay == t,
            StrKind::Contains => match &self.finder {
                Some(f) => f.find(hay.as_bytes()).is_some(),
                None => true,
            },
            StrKind::StartsWith => hay.starts_with(t),
            StrKind::EndsWith => hay.ends_with(t),
        }
    }
}

/// Case-insensitive string values of one large OR-list, matched together: exact values by hash,
/// substring/prefix/suffix needles by one Aho-Corasick pass (positions checked per kind).
#[derive(Clone, Debug)]
pub(crate) struct StrSet {
    exact: std::collections::HashSet<Box<str>, super::index::FastHash>,
    ac: Option<aho_corasick::AhoCorasick>,
    /// Per AC pattern: bit 0 contains, bit 1 startswith, bit 2 endswith.
    kinds: Vec<u8>,
}

impl StrSet {
    /// Builds a set from case-insensitive `Str` matchers; `None` if the automaton fails.
    pub(crate) fn build(pats: &[&StrPat]) -> Option<Self> {
        let mut exact = std::collections::HashSet::with_hasher(super::index::FastHash);
        let mut needles: HashMap<&str, u8> = HashMap::new();
        for p in pats {
            let bit = match p.kind {
                StrKind::Exact => {
                    exact.insert(p.text.clone());
                    continue;
                }
                StrKind::Contains => 1,
                StrKind::StartsWith => 2,
                StrKind::EndsWith => 4,
            };
            *needles.entry(&p.text).or_default() |= bit;
        }
        let (pats, kinds): (Vec<&str>, Vec<u8>) = needles.into_iter().unzip();
        let ac = if pats.is_empty() {
            None
        } else {
            Some(aho_corasick::AhoCorasick::new(&pats).ok()?)
        };
        Some(Self { exact, ac, kinds })
    }

    #[inline]
    pub(crate) fn test(&self, hay: &str) -> bool {
        if self.exact.contains(hay) {
            return true;
        }
        let Some(ac) = &self.ac else { return false };
        ac.find_overlapping_iter(hay).any(|m| {
            let k = self.kinds[m.pattern().as_usize()];
            k & 1 != 0 || (k & 2 != 0 && m.start() == 0) || (k & 4 != 0 && m.end() == hay.len())
        })
    }
}

/// A `|re` matcher with its required literals (see `relit.rs`): lower-cased texts one of which
/// every match contains. With few of them, values containing none skip the regex.
#[derive(Clone, Debug)]
pub(crate) struct Re {
    re: Regex,
    required: Option<Vec<Box<str>>>,
    pre: Vec<memchr::memmem::Finder<'static>>,
}

impl Re {
    /// Above this many required literals the regex runs unfiltered (its own prefilter is as good).
    const MAX_PRE: usize = 4;

    pub(crate) fn new(re: Regex, required: Option<Vec<String>>) -> Self {
        let required: Option<Vec<Box<str>>> =
            required.map(|v| v.into_iter().map(String::into_boxed_str).collect());
        let pre = match &required {
            Some(r) if r.len() <= Self::MAX_PRE => r
                .iter()
                .map(|t| memchr::memmem::Finder::new(t.as_bytes()).into_owned())
                .collect(),
            _ => Vec::new(),
        };
        Self { re, required, pre }
    }

    /// The lower-cased literals one of which every match contains, when known.
    pub(crate) fn required(&self) -> Option<&[Box<str>]> {
        self.required.as_deref()
    }

    /// Whether the regex matches the original value `o` (`l` is its lowering).
    #[inline]
    pub(crate) fn is_match(&self, o: &str, l: &str) -> bool {
        if !self.pre.is_empty() && !self.pre.iter().any(|f| f.find(l.as_bytes()).is_some()) {
            return false;
        }
        self.re.is_match(o)
    }
}

/// An IPv4 or IPv6 network (the `cidr` modifier). An IPv4 value also matches an IPv6 network
/// through its IPv4-mapped form (`::ffff:a.b.c.d`).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Cidr(IpNet);

impl Cidr {
    pub(crate) fn parse(s: &str) -> Option<Self> {
        crate::network::parse(s).map(Cidr)
    }

    pub(crate) fn contains(&self, s: &str) -> bool {
        match (&self.0, s.trim().parse::<IpAddr>()) {
            (IpNet::V6(net), Ok(IpAddr::V4(a))) => net.contains(&a.to_ipv6_mapped()),
            (net, Ok(ip)) => net.contains(&ip),
            (_, Err(_)) => false,
        }
    }
}

/// One compiled value test against a field.
#[derive(Clone, Debug)]
pub(crate) enum Matcher {
    Str(StrPat),
    /// Wildcard pattern with inner `*`/`?`; runs on the lowered value unless `cased`.
    Glob {
        glob: Glob,
        cased: bool,
        longest: Box<str>,
    },
    Regex(Re),
    Cidr(Cidr),
    Num(Cmp, f64),
    Time(TimePart, Cmp, f64),
    /// Field absent or JSON null.
    Null,
    Exists(bool),
    FieldRef {
        field: u32,
        kind: StrKind,
        cased: bool,
    },
}

/// One element of a wildcard pattern.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum GlobTok {
    Lit(Box<str>),
    /// `*`: any run of characters, possibly empty.
    Star,
    /// `?`: exactly one character.
    One,
}

/// A compiled wildcard pattern (whole-value match), without a regex engine.
///
/// Patterns with `*` only — nearly all Sigma wildcards — are a prefix, a suffix and literal
/// segments in between: the prefix and suffix are compared in place and the middle segments
/// are searched left to right with `memmem` (taking the leftmost occurrence of each is optimal
/// for `*`-only patterns). Patterns with `?` use a backtracking matcher over characters.
#[derive(Clone, Debug)]
pub(crate) enum Glob {
    Segments {
        prefix: Box<str>,
        suffix: Box<str>,
        middle: Vec<memchr::memmem::Finder<'static>>,
    },
    Chars(Vec<GlobTok>),
}

impl Glob {
    /// Compiles tokens (literals already normalized for case); `toks` must contain a wildcard.
    pub(crate) fn new(toks: Vec<GlobTok>) -> Self {
        if toks.contains(&GlobTok::One) {
            return Glob::Chars(toks);
        }
        // Star-only: split into literal segments at every star.
        let mut segs: Vec<String> = vec![String::new()];
        for t in &toks {
            match t {
                GlobTok::Lit(l) => {
                    if let Some(last) = segs.last_mut() {
                        last.push_str(l);
                    }
                }
                _ => segs.push(String::new()),
            }
        }
        let prefix = segs.first().cloned().unwrap_or_default();
        let suffix = if segs.len() > 1 {
            segs.last().cloned().unwrap_or_default()
        } else {
            String::new()
        };
        let middle = segs
            .get(1..segs.len().saturating_sub(1))
            .unwrap_or(&[])
            .iter()
            .filter(|s| !s.is_empty())
            .map(|s| memchr::memmem::Finder::new(s.as_bytes()).into_owned())
            .collect();
        Glob::Segments {
            prefix: prefix.into(),
            suffix: suffix.into(),
            middle,
        }
    }

    /// Whether the whole of `hay` matches.
    pub(crate) fn is_match(&self, hay: &str) -> bool {
        match self {
            Glob::Segments {
                prefix,
                suffix,
                middle,
            } => {
                if hay.len() < prefix.len() + suffix.len()
                    || !hay.starts_with(&**prefix)
                    || !hay.ends_with(&**suffix)
                {
                    return false;
                }
                let mut rest = &hay.as_bytes()[prefix.len()..hay.len() - suffix.len()];
                for f in middle {
                    match f.find(rest) {
                        Some(i) => rest = &rest[i + f.needle().len()..],
                        None => return false,
                    }
                }
                true
            }
            Glob::Chars(toks) => chars_match(toks, hay),
        }
    }
}

/// Backtracking wildcard match for patterns with `?`: on a mismatch, the last `*` absorbs one
/// more character (classic linear-in-practice algorithm).
fn chars_match(toks: &[GlobTok], hay: &str) -> bool {
    // (token index, byte offset in the current literal) and the hay position.
    let (mut t, mut h) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    loop {
        let progressed = match toks.get(t) {
            Some(GlobTok::Star) => {
                star = Some((t, h));
                t += 1;
                true
            }
            Some(GlobTok::One) => match hay[h..].chars().next() {
                Some(c) => {
                    h += c.len_utf8();
                    t += 1;
                    true
                }
                None => false,
            },
            Some(GlobTok::Lit(l)) if hay[h..].starts_with(&**l) => {
                h += l.len();
                t += 1;
                true
            }
            Some(GlobTok::Lit(_)) => false,
            None if h == hay.len() => return true,
            None => false,
        };
        if progressed {
            continue;
        }
        // Backtrack: let the last star take one more character.
        let Some((st, sh)) = star else { return false };
        let Some(c) = hay[sh..].chars().next() else {
            return false;
        };
        let nh = sh + c.len_utf8();
        star = Some((st, nh));
        t = st + 1;
        h = nh;
    }
}

/// Lower-cases char-wise (no context rules) so that lowering commutes with concatenation.
pub(crate) fn lower_into(s: &str, out: &mut String) {
    if s.is_ascii() {
        let start = out.len();
        out.push_str(s);
        out[start..].make_ascii_lowercase();
    } else {
        for c in s.chars() {
            out.extend(c.to_lowercase());
        }
    }
}

pub(crate) fn lower(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    lower_into(s, &mut out);
    out
}
