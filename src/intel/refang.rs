//! Refanging: undoes the defanging analysts apply to indicators in reports and feeds
//! (`hxxp`, `[.]`, `(dot)`, `[at]`, `[:]`, `[/]`, `\.`, partial brackets, …).
//!
//! [`refang`] returns the text unchanged (borrowed) when it carries no defanging marker, so it
//! costs one byte scan on ordinary log lines.

use std::borrow::Cow;
use std::sync::LazyLock;

use regex::Regex;

struct Rules {
    scheme: Regex,
    dot: Regex,
    at: Regex,
    colon_slash: Regex,
}

#[allow(clippy::expect_used)] // constant patterns, exercised by the tests below
static RULES: LazyLock<Rules> = LazyLock::new(|| Rules {
    // hxxp, hXXp, h**p, hxtp, fxp (+s), possibly followed by a defanged `[:]//` or `[://]`.
    scheme: Regex::new(r"(?i)\b(?:h(?:xx|\*\*|xt|tx)p|(fxp))(s?)\b").expect("scheme"),
    // [.] (.) {.} [dot] (dot) {dot} with optional spaces, mixed or partial brackets, and `\.`.
    dot: Regex::new(r"(?i)\s*[\[\(\{]\s*(?:\.|dot)\s*[\]\)\}]\s*|\s?[\[\(\{]\.|\.[\]\)\}]|\\\.")
        .expect("dot"),
    at: Regex::new(r"(?i)\s*[\[\(\{]\s*(?:@|at)\s*[\]\)\}]\s*").expect("at"),
    colon_slash: Regex::new(r"\[(://|:|/)\]").expect("colon_slash"),
});

/// True when `s` may carry a defanging marker (cheap pre-check).
fn may_be_defanged(s: &str) -> bool {
    s.bytes()
        .any(|b| matches!(b, b'[' | b'(' | b'{' | b'\\' | b'x' | b'X' | b'*'))
}

/// The text with every defanging marker undone.
pub fn refang(s: &str) -> Cow<'_, str> {
    if !may_be_defanged(s) {
        return Cow::Borrowed(s);
    }
    let r = &*RULES;
    let out = apply(Cow::Borrowed(s), &r.scheme, |c: &regex::Captures<'_>| {
        let base = if c.get(1).is_some() { "ftp" } else { "http" };
        format!("{base}{}", &c[2])
    });
    let out = apply(out, &r.colon_slash, "$1");
    let out = apply(out, &r.dot, ".");
    apply(out, &r.at, "@")
}

fn apply<'a>(text: Cow<'a, str>, re: &Regex, with: impl regex::Replacer) -> Cow<'a, str> {
    let replaced = re.replace_all(&text, with);
    if let Cow::Owned(o) = replaced {
        return Cow::Owned(o);
    }
    text
}

/// True when refanging changed the text (the value was deliberately defanged).
pub fn was_defanged(original: &str, refanged: &str) -> bool {
    original.len() != refanged.len() || original != refanged
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refangs_the_common_forms() {
        let cases = [
            ("hxxp://evil[.]com/a", "http://evil.com/a"),
            (
                "hXXps[:]//test\\.example[.)com[/]path",
                "https://test.example.com/path",
            ),
            ("malware-c2(dot)example{.}net", "malware-c2.example.net"),
            ("203[.]0[.]113[.]67", "203.0.113.67"),
            ("1.1.1[.1", "1.1.1.1"),
            ("phish-sender[at]example[.]net", "phish-sender@example.net"),
            ("user(@)example[dot]org", "user@example.org"),
            ("h**p://a[.]b[.]co", "http://a.b.co"),
            ("fxp://files[.]example[.]org", "ftp://files.example.org"),
            ("hxxp[://]evil[.]com", "http://evil.com"),
            ("evil [.] com", "evil.com"),
        ];
        for (input, want) in cases {
            assert_eq!(refang(input), want, "{input}");
        }
    }

    #[test]
    fn leaves_ordinary_text_alone() {
        for s in [
            "GET /index.html HTTP/1.1",
            "C:\\Windows\\System32\\cmd.exe",
            "exit(0)",
            "array[0] = box",
        ] {
            assert_eq!(refang(s), s);
        }
        assert!(matches!(refang("plain text 10.0.0.1"), Cow::Borrowed(_)));
    }
}
