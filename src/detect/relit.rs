//! Required literals of a regular expression, for the candidate index and the `|re` prefilter.
//!
//! [`required_literals`] walks the regex's HIR and returns a set of strings, lower-cased with
//! the evaluator's char-wise [`lower`], such that every match of the regex contains at least one
//! of them; lower-cased event values therefore contain one of them whenever the regex can match
//! the original value (char-wise lowering commutes with concatenation). The derivation is
//! conservative: anything that can match the empty string, byte classes with non-ASCII bytes,
//! classes whose members lower-case differently (e.g. `(?i)s` also matches `ſ`, which lowers to
//! itself) and sets that grow too large give up (`None`), and the regex is then unindexed.
//!
//! * literal `abc` → `{abc}`; a class whose members all lower-case alike (`[aA]`, `(?i)k`) is
//!   that one lowered character;
//! * concatenation → runs of adjacent fixed parts (zero-width assertions are transparent) are
//!   joined, and the best of those runs and of the parts' own sets is kept;
//! * alternation → the union of the branches' sets (unknown if one is unknown);
//! * repetition with `min ≥ 1` → the repeated part's set (its fixed text repeated `min` times
//!   when the part is fixed); `min = 0` → unknown.

use regex_syntax::hir::{Class, Hir, HirKind};

use super::matcher::lower;

/// Above this many alternatives a set is no longer a useful prefilter.
const MAX_SET: usize = 64;
/// Fixed runs are not extended beyond this many bytes (longer adds nothing to selectivity).
const MAX_RUN: usize = 256;

/// What one HIR node contributes.
struct Info {
    /// The node always matches exactly this (lowered) text.
    fixed: Option<String>,
    /// Every match of the node contains one of these (lowered, non-empty).
    set: Option<Vec<String>>,
}

impl Info {
    fn unknown() -> Self {
        Info {
            fixed: None,
            set: None,
        }
    }

    fn fixed(s: String) -> Self {
        let set = (!s.is_empty()).then(|| vec![s.clone()]);
        Info {
            fixed: Some(s),
            set,
        }
    }
}

/// How good a necessary set is as a filter: its shortest member's length (longer is rarer),
/// then fewer members.
fn quality(set: &[String]) -> (usize, std::cmp::Reverse<usize>) {
    let shortest = set.iter().map(|s| s.chars().count()).min().unwrap_or(0);
    (shortest, std::cmp::Reverse(set.len()))
}

/// The lowered necessary substrings of `pattern` (as compiled by the `regex` crate, flags
/// included), or `None` when no such set is known.
pub(crate) fn required_literals(pattern: &str) -> Option<Vec<String>> {
    let hir = regex_syntax::ParserBuilder::new()
        .build()
        .parse(pattern)
        .ok()?;
    let mut set = info(&hir).set?;
    set.sort();
    set.dedup();
    Some(set)
}

fn info(h: &Hir) -> Info {
    match h.kind() {
        HirKind::Empty | HirKind::Look(_) => Info::fixed(String::new()),
        HirKind::Literal(l) => match std::str::from_utf8(&l.0) {
            Ok(s) => Info::fixed(lower(s)),
            Err(_) => Info::unknown(),
        },
        HirKind::Class(c) => match class_text(c) {
            Some(s) => Info::fixed(s),
            None => Info::unknown(),
        },
        HirKind::Capture(c) => info(&c.sub),
        HirKind::Repetition(r) => {
            if r.min == 0 {
                return Info::unknown();
            }
            let sub = info(&r.sub);
            match sub.fixed {
                Some(f) if !f.is_empty() => {
                    let times = (r.min as usize).min(MAX_RUN / f.len() + 1);
                    let rep = f.repeat(times);
                    if r.max == Some(r.min) && times == r.min as usize {
                        Info::fixed(rep)
                    } else {
                        Info {
                            fixed: None,
                            set: Some(vec![rep]),
                        }
                    }
                }
                _ => Info {
                    fixed: None,
                    set: sub.set,
                },
            }
        }
        HirKind::Concat(parts) => concat(parts),
        HirKind::Alternation(branches) => {
            let mut set = Vec::new();
            for b in branches {
                // A branch without a set (unknown or empty-matching) makes the union unknown.
                let Some(s) = info(b).set else {
                    return Info::unknown();
                };
                set.extend(s);
                if set.len() > MAX_SET {
                    return Info::unknown();
                }
            }
            Info {
                fixed: None,
                set: Some(set),
            }
        }
    }
}

fn concat(parts: &[Hir]) -> Info {
    let mut best: Option<Vec<String>> = None;
    let mut consider = |cand: Vec<String>| {
        if cand.is_empty() || cand.iter().any(|s| s.is_empty()) {
            return;
        }
        if best.as_ref().is_none_or(|b| quality(&cand) > quality(b)) {
            best = Some(cand);
        }
    };
    let mut run = String::new();
    let mut all_fixed = true;
    for p in parts {
        let i = info(p);
        match i.fixed {
            Some(f) => {
                if run.len() + f.len() <= MAX_RUN {
                    run.push_str(&f);
                }
            }
            None => {
                all_fixed = false;
                consider(vec![std::mem::take(&mut run)]);
                if let Some(s) = i.set {
                    consider(s);
                }
            }
        }
    }
    if all_fixed {
        return Info::fixed(run);
    }
    consider(vec![run]);
    Info {
        fixed: None,
        set: best,
    }
}

/// The single lowered text every member of a class lowers to, if there is one.
fn class_text(c: &Class) -> Option<String> {
    const MAX_MEMBERS: u32 = 8;
    let mut out: Option<String> = None;
    let mut count = 0u32;
    let mut check = |ch: char| -> bool {
        count += 1;
        if count > MAX_MEMBERS {
            return false;
        }
        let l = lower(ch.encode_utf8(&mut [0u8; 4]));
        match &out {
            None => {
                out = Some(l);
                true
            }
            Some(o) => *o == l,
        }
    };
    match c {
        Class::Unicode(u) => {
            for r in u.ranges() {
                for ch in r.start()..=r.end() {
                    if !check(ch) {
                        return None;
                    }
                }
            }
        }
        Class::Bytes(b) => {
            for r in b.ranges() {
                if !r.end().is_ascii() {
                    return None;
                }
                for byte in r.start()..=r.end() {
                    if !check(char::from(byte)) {
                        return None;
                    }
                }
            }
        }
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::required_literals as req;

    fn set(v: &[&str]) -> Option<Vec<String>> {
        Some(v.iter().map(|s| s.to_string()).collect())
    }

    #[test]
    fn literals_and_runs() {
        assert_eq!(req(r"\$PSHome\[\s*\d{1,3}"), set(&["$pshome["]));
        assert_eq!(
            req(r"ping\s+-n.{6,64}echo EEEE\s?>\s?"),
            set(&["echo eeee"])
        );
        assert_eq!(req(r"^abc$"), set(&["abc"]));
        assert_eq!(req(r"\bcmd\.exe\b"), set(&["cmd.exe"]));
        assert_eq!(req(r"a(bc)d"), set(&["abcd"]));
        assert_eq!(req(r"x{3}y"), set(&["xxxy"]));
    }

    #[test]
    fn alternations_union_or_give_up() {
        assert_eq!(req(r"(foo|barbaz)\d"), set(&["barbaz", "foo"]));
        assert_eq!(req(r"foo|\d+"), None);
        assert_eq!(req(r"(a|)b"), set(&["b"]));
        assert_eq!(req(r"(a|)"), None);
    }

    #[test]
    fn optional_and_unknown_parts() {
        assert_eq!(req(r"(abc)?"), None);
        assert_eq!(req(r"\s[a-f0-9]{64}"), None);
        assert_eq!(req(r".*"), None);
        assert_eq!(req(r"(abc)+d"), set(&["abc"]));
        assert_eq!(req(r"[(]"), set(&["("]));
        assert_eq!(req(r"(unclosed"), None);
    }

    #[test]
    fn case_insensitive_and_unicode() {
        // Every member of (?i)k (k, K, Kelvin sign) lowers to `k`.
        assert_eq!(req(r"(?i)kk"), set(&["kk"]));
        // (?i)s also matches ſ, which lowers to itself: the run breaks there.
        assert_eq!(req(r"(?i)abcs1"), set(&["abc"]));
        assert_eq!(req(r"(?i)Invoke-Expression"), set(&["invoke-expre"]));
        assert_eq!(req(r"ÄBC"), set(&["äbc"]));
        assert_eq!(req(r"[aA]B"), set(&["ab"]));
    }

    /// The defining property, checked directly: whenever the regex matches, the lowered
    /// haystack contains one of the literals.
    #[test]
    fn matches_always_contain_a_literal() {
        let pats = [
            r"(?i)ab[sc]d",
            r"(?i)kelvin\d",
            r"(foo|bar)+baz?",
            r"\\temp\\[a-z]{2,}\.exe",
            r"(?i)system32",
        ];
        let hays = [
            "xABSD",
            "AbCd",
            "\u{212A}elvin1",
            "KELVIN2",
            "foobar",
            "fooba",
            "C:\\TEMP\\ab.exe",
            "SYſTEM32",
            "SyStEm32",
            "barbaz",
        ];
        for p in pats {
            let re = regex::Regex::new(p).unwrap();
            let lits = req(p).unwrap_or_default();
            for h in hays {
                if re.is_match(h) {
                    let l = super::lower(h);
                    assert!(
                        lits.iter().any(|x| l.contains(x.as_str())),
                        "{p} matches {h:?} but lowered has none of {lits:?}"
                    );
                }
            }
        }
    }
}
