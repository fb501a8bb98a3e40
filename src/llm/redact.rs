//! Redaction of secrets before anything leaves for an LLM provider.
//!
//! Two layers: fields whose name contains a configured word (`llm.redact_fields`, e.g.
//! `password`, `token`) are replaced whole, and every value sent is scanned for well-known
//! secret shapes (key=value credentials, bearer tokens, cloud and VCS keys, JWTs, private key
//! blocks, credentials in URLs), which are replaced by `[REDACTED]` in place.

use std::borrow::Cow;
use std::sync::LazyLock;

use regex::Regex;

/// What replaces a secret.
pub const REDACTED: &str = "[REDACTED]";

/// (pattern, replacement): `$k` keeps the credential's name so the model still knows what
/// kind of value was there.
const PATTERNS: &[(&str, &str)] = &[
    (
        r"-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?(-----END [A-Z ]*PRIVATE KEY-----|$)",
        "[REDACTED PRIVATE KEY]",
    ),
    (
        r"(?i)(?P<k>\b(?:password|passwd|pwd|pass|secret|client_secret|token|access_token|refresh_token|api[_-]?key|apikey|access[_-]?key|auth)\b\s*[=:]\s*)(?:\x22[^\x22]*\x22|'[^']*'|[^\s&;,]+)",
        "${k}[REDACTED]",
    ),
    (
        r"(?i)(?P<k>--?(?:password|passwd|pass|pwd|token|secret|api-key)[= ]\s*)\S+",
        "${k}[REDACTED]",
    ),
    (
        r"(?i)(?P<k>\b(?:bearer|basic)\s+)[A-Za-z0-9._~+/=-]{8,}",
        "${k}[REDACTED]",
    ),
    (r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b", "[REDACTED]"),
    (r"\bAIza[0-9A-Za-z_-]{35}\b", "[REDACTED]"),
    (r"\bgh[pousr]_[A-Za-z0-9]{30,}\b", "[REDACTED]"),
    (r"\bgithub_pat_[A-Za-z0-9_]{30,}\b", "[REDACTED]"),
    (r"\bxox[abprs]-[A-Za-z0-9-]{10,}\b", "[REDACTED]"),
    (r"\bsk-[A-Za-z0-9_-]{20,}\b", "[REDACTED]"),
    (
        r"\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}",
        "[REDACTED]",
    ),
    (
        r"(?P<k>[a-zA-Z][a-zA-Z0-9+.-]*://)[^/\s:@]+:[^/\s@]+@",
        "${k}[REDACTED]@",
    ),
];

#[allow(clippy::expect_used)] // constant patterns; `patterns_compile` proves them
static COMPILED: LazyLock<Vec<(Regex, &'static str)>> = LazyLock::new(|| {
    PATTERNS
        .iter()
        .map(|(p, r)| (Regex::new(p).expect("constant redaction pattern"), *r))
        .collect()
});

/// Redacts field values by name and by content.
#[derive(Debug, Clone)]
pub struct Redactor {
    /// Lowercase words; a field whose lowercase name contains one is redacted whole.
    fields: Vec<String>,
}

impl Redactor {
    pub fn new(fields: &[String]) -> Self {
        Self {
            fields: fields
                .iter()
                .map(|f| f.trim().to_ascii_lowercase())
                .filter(|f| !f.is_empty())
                .collect(),
        }
    }

    /// The value of field `name` as it may be sent, and whether anything was redacted.
    pub fn field<'a>(&self, name: &str, value: &'a str) -> (Cow<'a, str>, bool) {
        let lower = name.to_ascii_lowercase();
        if self.fields.iter().any(|f| lower.contains(f.as_str())) {
            return (Cow::Borrowed(REDACTED), true);
        }
        self.text(value)
    }

    /// `text` with every secret-shaped substring replaced, and whether anything was.
    pub fn text<'a>(&self, text: &'a str) -> (Cow<'a, str>, bool) {
        let mut out = Cow::Borrowed(text);
        let mut hit = false;
        for (re, replacement) in COMPILED.iter() {
            if re.is_match(&out) {
                hit = true;
                out = Cow::Owned(re.replace_all(&out, *replacement).into_owned());
            }
        }
        (out, hit)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn r() -> Redactor {
        Redactor::new(&["password".into(), "Cookie".into()])
    }

    #[test]
    fn patterns_compile() {
        assert_eq!(COMPILED.len(), PATTERNS.len());
    }

    #[test]
    fn secrets_in_values_are_replaced_and_context_kept() {
        let cases = [
            (
                "net use \\\\fs1 /user:corp\\bob password=Hunter2!",
                "password=[REDACTED]",
                "Hunter2",
            ),
            (
                "curl -H 'Authorization: Bearer abcdefghijklmnop1234' https://x",
                "Bearer [REDACTED]",
                "abcdefghijklmnop1234",
            ),
            ("key AKIAABCDEFGHIJKLMNOP used", "[REDACTED]", "AKIAABCDEF"),
            (
                "https://admin:s3cr3t@intranet.example/x",
                "https://[REDACTED]@intranet.example/x",
                "s3cr3t",
            ),
            (
                "mysql --password=toor -u root",
                "--password=[REDACTED]",
                "toor",
            ),
            (
                "token: eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NSJ9.c2lnbmF0dXJlX2hlcmU",
                "[REDACTED]",
                "eyJzdWIi",
            ),
            (
                "-----BEGIN RSA PRIVATE KEY-----\nMIIEow\n-----END RSA PRIVATE KEY-----",
                "[REDACTED PRIVATE KEY]",
                "MIIEow",
            ),
        ];
        for (input, expect, gone) in cases {
            let (out, hit) = r().text(input);
            assert!(hit, "{input}");
            assert!(out.contains(expect), "{input} -> {out}");
            assert!(!out.contains(gone), "{input} -> {out}");
        }
    }

    #[test]
    fn ordinary_values_pass_untouched() {
        for input in [
            "C:\\Windows\\System32\\cmd.exe /c whoami",
            "powershell -enc SQBFAFgA",
            "203.0.113.66",
        ] {
            let (out, hit) = r().text(input);
            assert!(!hit, "{input}");
            assert_eq!(out, input);
        }
    }

    #[test]
    fn configured_field_names_are_redacted_whole() {
        let (out, hit) = r().field("TargetUserPassword", "whatever");
        assert!(hit);
        assert_eq!(out, REDACTED);
        let (out, _) = r().field("http.cookie", "sid=1");
        assert_eq!(out, REDACTED);
        let (out, hit) = r().field("Image", "C:\\a.exe");
        assert!(!hit);
        assert_eq!(out, "C:\\a.exe");
    }
}
