//! Rule values and their modifier chains, turned into compiled [`Matcher`]s.
//!
//! A Sigma value (`Field|mod1|mod2: value`) goes through three steps here:
//! 1. placeholder expansion (`expand`) on the raw text, since `\%` escapes live there;
//! 2. wildcard parsing with the spec's backslash rules into a [`Tok`] pattern;
//! 3. the transformation modifiers in rule order (`contains`, `windash`, `base64`, `utf16*`, ...),
//!    after which each resulting pattern is classified into the cheapest string matcher.
//!
//! Type modifiers (`re`, `cidr`, `lt`..`gte`, time parts, `exists`, `fieldref`) take the raw value.
//! Case-insensitive matchers store their needle lower-cased with [`lower_into`], the same
//! char-wise lowering the evaluator applies to event values, so a substring of the original is
//! always a substring of the lowered text (the literal prefilter relies on this).

use std::collections::HashMap;

use base64::Engine as _;

use super::matcher::{Cidr, Cmp, Glob, GlobTok, Matcher, Re, StrKind, StrPat, TimePart, lower};
use super::relit::required_literals;
use super::{MAX_QUOTED, excerpt, quoted};

/// A scalar taken from the rule YAML.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Scalar {
    Str(String),
    Int(i64),
    Real(String),
    Bool(bool),
    Null,
}

impl Scalar {
    /// The textual form used for string matching (numbers equal their string form).
    pub(crate) fn text(&self) -> Option<String> {
        match self {
            Scalar::Str(s) | Scalar::Real(s) => Some(s.clone()),
            Scalar::Int(i) => Some(i.to_string()),
            Scalar::Bool(b) => Some(b.to_string()),
            Scalar::Null => None,
        }
    }
}

/// Every modifier of the Sigma v2.1 modifiers appendix.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Modifier {
    Contains,
    StartsWith,
    EndsWith,
    All,
    Exists,
    Cased,
    Neq,
    Windash,
    Re,
    ReI,
    ReM,
    ReS,
    Base64,
    Base64Offset,
    Utf16Le,
    Utf16Be,
    Utf16,
    Cmp(Cmp),
    Time(TimePart),
    Cidr,
    Expand,
    FieldRef,
}

impl Modifier {
    pub(crate) fn parse(s: &str) -> Option<Self> {
        Some(match s.to_ascii_lowercase().as_str() {
            "contains" => Self::Contains,
            "startswith" => Self::StartsWith,
            "endswith" => Self::EndsWith,
            "all" => Self::All,
            "exists" => Self::Exists,
            "cased" => Self::Cased,
            "neq" => Self::Neq,
            "windash" => Self::Windash,
            "re" => Self::Re,
            "i" => Self::ReI,
            "m" => Self::ReM,
            "s" => Self::ReS,
            "base64" => Self::Base64,
            "base64offset" => Self::Base64Offset,
            "utf16le" | "wide" => Self::Utf16Le,
            "utf16be" => Self::Utf16Be,
            "utf16" => Self::Utf16,
            "lt" => Self::Cmp(Cmp::Lt),
            "lte" => Self::Cmp(Cmp::Lte),
            "gt" => Self::Cmp(Cmp::Gt),
            "gte" => Self::Cmp(Cmp::Gte),
            "minute" => Self::Time(TimePart::Minute),
            "hour" => Self::Time(TimePart::Hour),
            "day" => Self::Time(TimePart::Day),
            "week" => Self::Time(TimePart::Week),
            "month" => Self::Time(TimePart::Month),
            "year" => Self::Time(TimePart::Year),
            "cidr" => Self::Cidr,
            "expand" => Self::Expand,
            "fieldref" => Self::FieldRef,
            _ => return None,
        })
    }
}

/// Wildcard pattern token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Tok {
    Lit(String),
    Star,
    One,
}

/// Parses wildcards and the spec's escapes: `\*` `\?` `\\` are escapes, any other `\` is literal.
pub(crate) fn parse_wildcards(s: &str) -> Vec<Tok> {
    let mut toks = Vec::new();
    let mut lit = String::new();
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.peek() {
                Some(&n @ ('*' | '?' | '\\')) => {
                    lit.push(n);
                    chars.next();
                }
                _ => lit.push('\\'),
            },
            '*' | '?' => {
                if !lit.is_empty() {
                    toks.push(Tok::Lit(std::mem::take(&mut lit)));
                }
                toks.push(if c == '*' { Tok::Star } else { Tok::One });
            }
            _ => lit.push(c),
        }
    }
    if !lit.is_empty() {
        toks.push(Tok::Lit(lit));
    }
    toks
}

/// Expands `%name%` placeholders in the raw value (`\%` is a plain percent).
pub(crate) fn expand_placeholders(
    raw: &str,
    placeholders: &HashMap<String, Vec<String>>,
) -> Result<Vec<String>, String> {
    let mut outs = vec![String::new()];
    let mut rest = raw;
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix("\\%") {
            outs.iter_mut().for_each(|o| o.push('%'));
            rest = r;
            continue;
        }
        if let Some(r) = rest.strip_prefix('%')
            && let Some(end) = r.find('%')
        {
            let name = &r[..end];
            let vals = placeholders
                .get(name)
                .filter(|v| !v.is_empty())
                .ok_or_else(|| format!("placeholder %{name}% has no values"))?;
            outs = outs
                .iter()
                .flat_map(|o| vals.iter().map(move |v| format!("{o}{v}")))
                .collect();
            rest = &r[end + 1..];
            continue;
        }
        let mut chars = rest.chars();
        if let Some(c) = chars.next() {
            outs.iter_mut().for_each(|o| o.push(c));
        }
        rest = chars.as_str();
    }
    Ok(outs)
}

const DASHES: [char; 5] = ['-', '/', '\u{2013}', '\u{2014}', '\u{2015}'];
const MAX_WINDASH_VARIANTS: usize = 625;

/// `windash`: every flag-position dash (after a non-word char, before a word char) becomes each
/// of the five dash characters. Beyond 4 positions all positions vary together.
fn windash(toks: &[Tok]) -> Vec<Vec<Tok>> {
    // Flatten to (token index, char index) positions.
    let is_word = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '_');
    let mut positions = Vec::new();
    for (ti, t) in toks.iter().enumerate() {
        if let Tok::Lit(s) = t {
            let cs: Vec<char> = s.chars().collect();
            for (ci, c) in cs.iter().enumerate() {
                let prev = if ci == 0 { None } else { Some(cs[ci - 1]) };
                let next = cs.get(ci + 1).copied();
                if DASHES.contains(c) && !is_word(prev) && is_word(next) {
                    positions.push((ti, ci));
                }
            }
        }
    }
    if positions.is_empty() {
        return vec![toks.to_vec()];
    }
    let together = DASHES.len().pow(positions.len().min(8) as u32) > MAX_WINDASH_VARIANTS;
    let combos: Vec<Vec<char>> = if together {
        DASHES.iter().map(|d| vec![*d; positions.len()]).collect()
    } else {
        let mut combos = vec![Vec::new()];
        for _ in &positions {
            combos = combos
                .into_iter()
                .flat_map(|c: Vec<char>| {
                    DASHES.iter().map(move |d| {
                        let mut c = c.clone();
                        c.push(*d);
                        c
                    })
                })
                .collect();
        }
        combos
    };
    combos
        .into_iter()
        .map(|combo| {
            let mut out = toks.to_vec();
            for ((ti, ci), d) in positions.iter().zip(combo) {
                if let Tok::Lit(s) = &mut out[*ti] {
                    *s = s
                        .chars()
                        .enumerate()
                        .map(|(i, c)| if i == *ci { d } else { c })
                        .collect();
                }
            }
            out
        })
        .collect()
}

/// The three base64 encodings of `data` at byte offsets 0, 1 and 2, trimmed to the stable part.
fn base64_offsets(data: &[u8]) -> Vec<String> {
    let eng = base64::engine::general_purpose::STANDARD;
    let start = [0usize, 2, 3];
    let end_trim = [0usize, 3, 2];
    (0..3)
        .map(|i| {
            let mut buf = vec![b' '; i];
            buf.extend_from_slice(data);
            let enc = eng.encode(&buf);
            let enc = enc.trim_end_matches('=');
            let trim = end_trim[(data.len() + i) % 3];
            let end = enc.len().saturating_sub(trim);
            enc.get(start[i]..end.max(start[i]))
                .unwrap_or("")
                .to_string()
        })
        .filter(|s| !s.is_empty())
        .collect()
}

/// A value in the middle of the transformation pipeline.
#[derive(Clone)]
enum PVal {
    Pat(Vec<Tok>),
    Bytes(Vec<u8>),
}

fn plain_bytes(v: &PVal, what: &str) -> Result<Vec<u8>, String> {
    match v {
        PVal::Bytes(b) => Ok(b.clone()),
        PVal::Pat(toks) => {
            let mut s = String::new();
            for t in toks {
                match t {
                    Tok::Lit(l) => s.push_str(l),
                    _ => return Err(format!("wildcards cannot be combined with {what}")),
                }
            }
            Ok(s.into_bytes())
        }
    }
}

fn utf16(s: &[u8], be: bool, bom: bool) -> Vec<u8> {
    let text = String::from_utf8_lossy(s);
    let mut out = Vec::new();
    if bom {
        out.extend_from_slice(&[0xFF, 0xFE]);
    }
    for u in text.encode_utf16() {
        let b = if be { u.to_be_bytes() } else { u.to_le_bytes() };
        out.extend_from_slice(&b);
    }
    out
}

/// Classifies a wildcard pattern into the cheapest matcher.
pub(crate) fn pattern_matcher(toks: &[Tok], cased: bool) -> Result<Matcher, String> {
    let norm = |s: &str| if cased { s.to_string() } else { lower(s) };
    let inner_wild = |ts: &[Tok]| ts.iter().any(|t| !matches!(t, Tok::Lit(_)));
    let lits = |ts: &[Tok]| {
        ts.iter()
            .map(|t| if let Tok::Lit(s) = t { s.as_str() } else { "" })
            .collect::<String>()
    };
    let lead = toks.iter().take_while(|t| **t == Tok::Star).count();
    let trail = toks[lead..]
        .iter()
        .rev()
        .take_while(|t| **t == Tok::Star)
        .count();
    let core = &toks[lead..toks.len() - trail];
    if !inner_wild(core) {
        let text = norm(&lits(core)).into_boxed_str();
        let kind = match (lead > 0, trail > 0) {
            (false, false) => StrKind::Exact,
            (true, false) => StrKind::EndsWith,
            (false, true) => StrKind::StartsWith,
            (true, true) => StrKind::Contains,
        };
        return Ok(Matcher::Str(StrPat::new(kind, cased, text)));
    }
    let mut gtoks = Vec::with_capacity(toks.len());
    let mut longest = String::new();
    for t in toks {
        match t {
            Tok::Lit(s) => {
                let s = norm(s);
                if s.len() > longest.len() {
                    longest = s.clone();
                }
                match gtoks.last_mut() {
                    Some(GlobTok::Lit(prev)) => {
                        let mut joined = String::from(&**prev);
                        joined.push_str(&s);
                        *prev = joined.into_boxed_str();
                    }
                    _ => gtoks.push(GlobTok::Lit(s.into_boxed_str())),
                }
            }
            Tok::Star if gtoks.last() == Some(&GlobTok::Star) => {}
            Tok::Star => gtoks.push(GlobTok::Star),
            Tok::One => gtoks.push(GlobTok::One),
        }
    }
    Ok(Matcher::Glob {
        glob: Glob::new(gtoks),
        cased,
        longest: longest.into_boxed_str(),
    })
}

/// The item-level outcome of compiling one field key and its values.
pub(crate) struct CompiledValues {
    pub matchers: Vec<Matcher>,
    /// Per rule value: the range of `matchers` it expanded to (`windash`, `base64offset`,
    /// `expand` yield several); `all` requires every group to have a matching member.
    pub groups: Vec<(u32, u32)>,
    pub all: bool,
    pub neq: bool,
}

/// Compiles the values of one `field|mods` key. `resolve_field` turns a `fieldref` target into a field id.
pub(crate) fn compile_values(
    mods: &[Modifier],
    values: &[Scalar],
    placeholders: &HashMap<String, Vec<String>>,
    resolve_field: &mut dyn FnMut(&str) -> u32,
) -> Result<CompiledValues, String> {
    let has = |m: Modifier| mods.contains(&m);
    let all = has(Modifier::All);
    let neq = has(Modifier::Neq);
    let cased = has(Modifier::Cased);
    let mut matchers = Vec::new();
    let cmp = mods.iter().find_map(|m| {
        if let Modifier::Cmp(c) = m {
            Some(*c)
        } else {
            None
        }
    });
    let time = mods.iter().find_map(|m| {
        if let Modifier::Time(t) = m {
            Some(*t)
        } else {
            None
        }
    });
    let str_kind = || {
        if has(Modifier::Contains) {
            StrKind::Contains
        } else if has(Modifier::StartsWith) {
            StrKind::StartsWith
        } else if has(Modifier::EndsWith) {
            StrKind::EndsWith
        } else {
            StrKind::Exact
        }
    };
    let mut groups = Vec::with_capacity(values.len());
    for v in values {
        let start = matchers.len() as u32;
        'one: {
            if has(Modifier::Exists) {
                match v {
                    Scalar::Bool(b) => matchers.push(Matcher::Exists(*b)),
                    Scalar::Str(s) if s.eq_ignore_ascii_case("true") => {
                        matchers.push(Matcher::Exists(true))
                    }
                    Scalar::Str(s) if s.eq_ignore_ascii_case("false") => {
                        matchers.push(Matcher::Exists(false))
                    }
                    _ => return Err("exists modifier needs a boolean value".into()),
                }
                break 'one;
            }
            if *v == Scalar::Null {
                if mods
                    .iter()
                    .any(|m| !matches!(m, Modifier::All | Modifier::Neq | Modifier::Cased))
                {
                    return Err("null value cannot take modifiers".into());
                }
                matchers.push(Matcher::Null);
                break 'one;
            }
            let Some(raw) = v.text() else { break 'one };
            if let Some(part) = time {
                let n: f64 = raw
                    .trim()
                    .parse()
                    .map_err(|_| format!("time modifier needs a number, got {}", quoted(&raw)))?;
                matchers.push(Matcher::Time(part, cmp.unwrap_or(Cmp::Eq), n));
                break 'one;
            }
            if let Some(c) = cmp {
                let n: f64 = raw.trim().parse().map_err(|_| {
                    format!("numeric modifier needs a number, got {}", quoted(&raw))
                })?;
                matchers.push(Matcher::Num(c, n));
                break 'one;
            }
            if has(Modifier::Re) {
                let mut flags = String::new();
                if has(Modifier::ReI) {
                    flags.push('i');
                }
                if has(Modifier::ReM) {
                    flags.push('m');
                }
                if has(Modifier::ReS) {
                    flags.push('s');
                }
                let pat = if flags.is_empty() {
                    raw.clone()
                } else {
                    format!("(?{flags}){raw}")
                };
                // A lazy-DFA cache of 4 MiB (default 2) fits Unicode classes under counted
                // repetition (`\w{1,64}`); below its minimum the regex crate falls back to the
                // bounded backtracker, ~30x slower per value. Same language either way.
                let re = regex::RegexBuilder::new(&pat)
                    .size_limit(1 << 24)
                    .dfa_size_limit(1 << 22)
                    .build()
                    .map_err(|e| format!("bad regex {}: {}", quoted(&raw), regex_problem(&e)))?;
                matchers.push(Matcher::Regex(Re::new(re, required_literals(&pat))));
                break 'one;
            }
            if has(Modifier::Cidr) {
                let c = Cidr::parse(&raw).ok_or_else(|| format!("bad cidr {}", quoted(&raw)))?;
                matchers.push(Matcher::Cidr(c));
                break 'one;
            }
            if has(Modifier::FieldRef) {
                let field = resolve_field(raw.trim());
                matchers.push(Matcher::FieldRef {
                    field,
                    kind: str_kind(),
                    cased,
                });
                break 'one;
            }
            // String pipeline.
            let raws = if has(Modifier::Expand) {
                expand_placeholders(&raw, placeholders)?
            } else {
                vec![raw]
            };
            let mut vals: Vec<PVal> = raws.iter().map(|r| PVal::Pat(parse_wildcards(r))).collect();
            for m in mods {
                vals = match m {
                    Modifier::Contains | Modifier::StartsWith | Modifier::EndsWith => vals
                        .into_iter()
                        .map(|v| {
                            let mut toks = match v {
                                PVal::Pat(t) => t,
                                PVal::Bytes(b) => {
                                    vec![Tok::Lit(String::from_utf8_lossy(&b).into_owned())]
                                }
                            };
                            if matches!(m, Modifier::Contains | Modifier::EndsWith)
                                && toks.first() != Some(&Tok::Star)
                            {
                                toks.insert(0, Tok::Star);
                            }
                            if matches!(m, Modifier::Contains | Modifier::StartsWith)
                                && toks.last() != Some(&Tok::Star)
                            {
                                toks.push(Tok::Star);
                            }
                            PVal::Pat(toks)
                        })
                        .collect(),
                    Modifier::Windash => vals
                        .into_iter()
                        .flat_map(|v| match v {
                            PVal::Pat(t) => {
                                windash(&t).into_iter().map(PVal::Pat).collect::<Vec<_>>()
                            }
                            b => vec![b],
                        })
                        .collect(),
                    Modifier::Base64 => {
                        let eng = base64::engine::general_purpose::STANDARD;
                        vals.iter()
                            .map(|v| {
                                Ok(PVal::Pat(vec![Tok::Lit(
                                    eng.encode(plain_bytes(v, "base64")?),
                                )]))
                            })
                            .collect::<Result<_, String>>()?
                    }
                    Modifier::Base64Offset => {
                        let mut out = Vec::new();
                        for v in &vals {
                            for s in base64_offsets(&plain_bytes(v, "base64offset")?) {
                                out.push(PVal::Pat(vec![Tok::Lit(s)]));
                            }
                        }
                        out
                    }
                    Modifier::Utf16Le | Modifier::Utf16Be | Modifier::Utf16 => vals
                        .iter()
                        .map(|v| {
                            let b = plain_bytes(v, "utf16")?;
                            Ok(PVal::Bytes(utf16(
                                &b,
                                *m == Modifier::Utf16Be,
                                *m == Modifier::Utf16,
                            )))
                        })
                        .collect::<Result<_, String>>()?,
                    _ => vals,
                };
            }
            for v in vals {
                let toks = match v {
                    PVal::Pat(t) => t,
                    PVal::Bytes(b) => vec![Tok::Lit(String::from_utf8_lossy(&b).into_owned())],
                };
                matchers.push(pattern_matcher(&toks, cased)?);
            }
        }
        if matchers.len() as u32 > start {
            groups.push((start, matchers.len() as u32));
        }
    }
    Ok(CompiledValues {
        matchers,
        groups,
        all,
        neq,
    })
}

/// What is wrong with a regex, without the pattern: a syntax error quotes the whole pattern
/// with a caret under the fault, so past [`MAX_QUOTED`] only its `error: …` line is kept.
fn regex_problem(e: &regex::Error) -> String {
    let text = e.to_string();
    if text.len() <= 2 * MAX_QUOTED {
        return text;
    }
    text.lines()
        .rev()
        .find(|l| l.starts_with("error:"))
        .map_or_else(|| excerpt(&text, MAX_QUOTED).into_owned(), str::to_owned)
}
