//! Phishing analysis of one message: what an experienced analyst reads off a message before any
//! reputation look-up, as weighted findings with their evidence, a score and a conclusion.
//!
//! Ten families of signals, each capped so that no single family decides alone:
//! **sender** (display name carrying another address, an organisation's name over a free-mail
//! mailbox, replies diverted elsewhere, a brand's domain in the mailbox name), **brand** (a brand
//! named in the display name, subject or body by a sender that is not the brand), **lookalike**
//! (sender or link domains imitating a brand: confusables, misspellings, punycode, brand labels
//! in unrelated hosts), **auth** (SPF/DKIM/DMARC failures), **url** (IP literals, userinfo tricks,
//! shorteners, free hosting and gateways, risky TLDs, credential paths, the reader's address in a
//! link, text/target mismatch, a lone link), **html** (forms, password fields, redirects,
//! scripts, obfuscation, hidden text, image-only bodies), **attachment** (executables, scripts,
//! disk images, HTML/SVG smuggling, macros, double extensions, disguised types, encrypted
//! archives with their password in the body), **qr** (a QR code in an image that encodes a
//! link), **lure** (credential, payment, delivery, prize, advance-fee, crypto, romance,
//! extortion, urgency and impersonal greetings, in English, Portuguese and Spanish; large sums;
//! the reader's mailbox in the subject) and **obfuscation** (mixed-script words, invisible
//! characters, subjects spelt with separators instead of spaces).
//!
//! The message event gets `phishing_score` (0–100), `phishing_verdict` (`phishing` ≥ 60,
//! `suspicious` ≥ 35, else `clean`: the thresholds of the case verdict), `phishing_signals` (the families that fired),
//! `phishing_findings` (`[{signal, weight, evidence}]`) and, per family that fired,
//! `phishing_<family>`: its findings as one sentence list, which the pack's rules cite. Nothing
//! here reads the message's date: the same message scores the same whenever it was sent.

mod brands;
mod content;
mod impersonation;
mod lures;
mod qr;
mod sender;
mod text;

use serde_json::{Map, Value};

use super::{Message, links};
use brands::Lookalike;
use impersonation::{brand, describe, lookalike, lookalike_weight};
use lures::{Lure, fold_text};
use sender::{auth, forwarded, free_mail, sender};
use text::{lure, obfuscation};

/// Score at or above which a message is concluded phishing (the verdict's incident threshold).
pub const PHISHING: u32 = 60;
/// Score at or above which a message is concluded suspicious (the verdict's suspicious
/// threshold).
pub const SUSPICIOUS: u32 = 35;

/// A family of signals: one pack rule each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Signal {
    Sender,
    Brand,
    Lookalike,
    Auth,
    Url,
    Html,
    Attachment,
    Qr,
    Lure,
    Obfuscation,
}

impl Signal {
    pub const ALL: [Signal; 10] = [
        Signal::Sender,
        Signal::Brand,
        Signal::Lookalike,
        Signal::Auth,
        Signal::Url,
        Signal::Html,
        Signal::Attachment,
        Signal::Qr,
        Signal::Lure,
        Signal::Obfuscation,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Signal::Sender => "sender",
            Signal::Brand => "brand",
            Signal::Lookalike => "lookalike",
            Signal::Auth => "auth",
            Signal::Url => "url",
            Signal::Html => "html",
            Signal::Attachment => "attachment",
            Signal::Qr => "qr",
            Signal::Lure => "lure",
            Signal::Obfuscation => "obfuscation",
        }
    }

    /// The most one family adds to the score.
    fn cap(self) -> u32 {
        match self {
            Signal::Sender => 40,
            Signal::Brand => 35,
            Signal::Lookalike => 40,
            Signal::Auth => 20,
            Signal::Url => 30,
            Signal::Html => 40,
            Signal::Attachment => 60,
            Signal::Qr => 25,
            Signal::Lure => 45,
            Signal::Obfuscation => 20,
        }
    }
}

/// One reason to think the message is phishing.
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    pub signal: Signal,
    pub weight: u32,
    pub evidence: String,
}

/// The analysis of one message.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Analysis {
    pub findings: Vec<Finding>,
    /// URLs read from QR codes in images (`url_source: qr_code` events).
    pub qr_urls: Vec<String>,
}

impl Analysis {
    fn add(&mut self, signal: Signal, weight: u32, evidence: impl Into<String>) {
        self.findings.push(Finding {
            signal,
            weight,
            evidence: evidence.into(),
        });
    }

    fn has(&self, signal: Signal) -> bool {
        self.findings.iter().any(|f| f.signal == signal)
    }

    /// Families whose findings add up to 10 or more: one weak hint (a lone link, a bare "Re:")
    /// does not count as a voice that agrees.
    fn families(&self) -> usize {
        Signal::ALL
            .iter()
            .filter(|s| {
                self.findings
                    .iter()
                    .filter(|f| f.signal == **s)
                    .map(|f| f.weight)
                    .sum::<u32>()
                    >= 10
            })
            .count()
    }

    /// Independent tells corroborate each other: +10 for each family beyond the first (of those
    /// that weigh 10 or more), up to +30.
    pub fn agreement(&self) -> u32 {
        (10 * self.families().saturating_sub(1) as u32).min(30)
    }

    /// Sum of the findings, each family capped, plus their [`agreement`](Self::agreement); at
    /// most 100.
    pub fn score(&self) -> u32 {
        let total: u32 = Signal::ALL
            .iter()
            .map(|s| {
                let sum: u32 = self
                    .findings
                    .iter()
                    .filter(|f| f.signal == *s)
                    .map(|f| f.weight)
                    .sum();
                sum.min(s.cap())
            })
            .sum();
        (total + self.agreement()).min(100)
    }

    pub fn verdict(&self) -> &'static str {
        match self.score() {
            s if s >= PHISHING => "phishing",
            s if s >= SUSPICIOUS => "suspicious",
            _ => "clean",
        }
    }

    /// Writes the analysis onto the message event's fields.
    pub fn write(&self, f: &mut Map<String, Value>) {
        f.insert("phishing_score".into(), self.score().into());
        f.insert("phishing_verdict".into(), self.verdict().into());
        let fired: Vec<Signal> = Signal::ALL.into_iter().filter(|s| self.has(*s)).collect();
        f.insert(
            "phishing_signals".into(),
            fired.iter().map(|s| Value::from(s.as_str())).collect(),
        );
        let mut findings: Vec<Value> = self
            .findings
            .iter()
            .map(|x| {
                serde_json::json!({
                    "signal": x.signal.as_str(),
                    "weight": x.weight,
                    "evidence": x.evidence,
                })
            })
            .collect();
        if self.agreement() > 0 {
            findings.push(serde_json::json!({
                "signal": "agreement",
                "weight": self.agreement(),
                "evidence": format!("{} independent families of signals agree", self.families()),
            }));
        }
        f.insert("phishing_findings".into(), findings.into());
        for s in fired {
            let text = self
                .findings
                .iter()
                .filter(|x| x.signal == s)
                .map(|x| format!("{} (+{})", x.evidence, x.weight))
                .collect::<Vec<_>>()
                .join("; ");
            f.insert(format!("phishing_{}", s.as_str()), text.into());
        }
    }
}

/// What the analysis reads besides the parsed message.
pub struct Input<'a> {
    pub msg: &'a Message<'a>,
    /// The message event's fields so far (From, domains, auth results, recipient …).
    pub fields: &'a Map<String, Value>,
    pub attachments: &'a [Map<String, Value>],
    pub urls: &'a [Map<String, Value>],
}

/// Analyses one message.
pub fn analyse(input: &Input<'_>) -> Analysis {
    let mut a = Analysis::default();
    let text = content::body_text(input.msg);
    let facts = Facts::new(input, fold_text(&text));
    sender(&facts, &mut a);
    brand(&facts, input, &mut a);
    forwarded(&facts, input, &text, &mut a);
    lookalike(&facts, input, &mut a);
    auth(&facts, &mut a);
    content::urls(&facts, input.urls, &mut a);
    content::html(input.msg, &facts, &mut a);
    content::attachments(input.attachments, &text, &mut a);
    a.qr_urls = qr::urls_in_images(input.msg);
    for url in &a.qr_urls.clone() {
        let host = links::url_host(url).unwrap_or_default();
        a.add(
            Signal::Qr,
            20,
            format!("an image holds a QR code linking to {host} ({url})"),
        );
    }
    lure(&facts, &mut a);
    obfuscation(&facts, &mut a);
    a
}

/// The message facts every family reads.
pub(crate) struct Facts<'a> {
    pub from: &'a str,
    pub from_name: &'a str,
    pub from_domain: &'a str,
    pub recipient: &'a str,
    pub subject: &'a str,
    /// Subject and body text, lower-case.
    pub subject_lower: String,
    pub text_lower: String,
    pub field: &'a Map<String, Value>,
    /// The message came through a mailing list (RFC 2369/2919 headers).
    pub list: bool,
    /// The sender is a brand's own domain.
    pub sender_brand: Option<&'static brands::Brand>,
    /// The message names the message it answers (`In-Reply-To` or `References`).
    pub replied: bool,
    /// Attachment file names, lower-case, space-separated.
    pub attachment_names: String,
}

fn s<'a>(f: &'a Map<String, Value>, k: &str) -> &'a str {
    f.get(k).and_then(Value::as_str).unwrap_or("")
}

impl<'a> Facts<'a> {
    /// `text_lower` is the body text already folded ([`fold_text`]).
    fn new(input: &Input<'a>, text_lower: String) -> Self {
        let f = input.fields;
        let from_domain = s(f, "from_domain");
        let has = |names: &[&str]| {
            input.msg.parts.first().is_some_and(|p| {
                p.headers.iter().any(|h| {
                    names
                        .iter()
                        .any(|n| h.name.as_str().eq_ignore_ascii_case(n))
                })
            })
        };
        let list = has(&["list-id", "list-post", "mailing-list", "list-help"]);
        let replied = has(&["in-reply-to", "references"]);
        let attachment_names = input
            .attachments
            .iter()
            .filter_map(|a| a.get("file_name").and_then(Value::as_str))
            .map(|n| n.to_lowercase().replace(['_', '.', '-'], " "))
            .collect::<Vec<_>>()
            .join(" ");
        Facts {
            from: s(f, "From"),
            from_name: s(f, "from_name"),
            from_domain,
            recipient: s(f, "recipient"),
            subject: s(f, "Subject"),
            // Compatibility-folded: styled letters (`𝘾𝙊𝙉𝙂𝙍𝘼𝙏𝙎`, fullwidth) read as plain ones.
            subject_lower: fold_text(s(f, "Subject")),
            text_lower,
            field: f,
            list,
            sender_brand: (!from_domain.is_empty())
                .then(|| brands::legit_brand(from_domain))
                .flatten(),
            replied,
            attachment_names,
        }
    }
}

#[cfg(test)]
mod tests;
