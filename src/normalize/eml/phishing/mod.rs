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
mod lures;
mod qr;

use serde_json::{Map, Value};

use super::{Message, links};
use brands::Lookalike;
use lures::Lure;

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
    let facts = Facts::new(input, &text);
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
    fn new(input: &Input<'a>, text: &str) -> Self {
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
            text_lower: fold_text(text),
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

use lures::fold_text;

/// Free-mail providers: anyone can open a mailbox there under any display name.
fn free_mail(domain: &str) -> bool {
    const DOMAINS: &[&str] = &[
        "gmail.com",
        "googlemail.com",
        "aol.com",
        "icloud.com",
        "me.com",
        "mac.com",
        "msn.com",
        "mail.com",
        "email.com",
        "usa.com",
        "protonmail.com",
        "proton.me",
        "zoho.com",
        "zohomail.com",
        "mail.ru",
        "inbox.ru",
        "list.ru",
        "bk.ru",
        "rambler.ru",
        "qq.com",
        "163.com",
        "126.com",
        "sina.com",
        "naver.com",
        "daum.net",
        "rediffmail.com",
        "bol.com.br",
        "uol.com.br",
        "terra.com.br",
        "ig.com.br",
        "libero.it",
        "seznam.cz",
        "wp.pl",
        "o2.pl",
        "interia.pl",
        "tutanota.com",
        "tuta.io",
        "gmx.com",
        "gmx.net",
        "web.de",
        "t-online.de",
        "yandex.com",
        "yandex.ru",
        "ya.ru",
        "hushmail.com",
        "fastmail.com",
        "lycos.com",
        "excite.com",
        "earthlink.net",
        "juno.com",
        "netzero.net",
        "comcast.net",
        "verizon.net",
        "att.net",
        "sbcglobal.net",
        "cox.net",
        "btinternet.com",
        "virginmedia.com",
        "orange.fr",
        "free.fr",
        "laposte.net",
        "wanadoo.fr",
        "sfr.fr",
        "onet.pl",
        "abv.bg",
        "ukr.net",
        "i.ua",
    ];
    let reg = brands::registrable(domain);
    let label = reg.split('.').next().unwrap_or("");
    DOMAINS.contains(&reg.as_str())
        || [
            "yahoo",
            "hotmail",
            "outlook",
            "live",
            "gmx",
            "yandex",
            "ymail",
            "rocketmail",
        ]
        .contains(&label)
}

/// Words of a display name that speak for an organisation, not a person.
const ROLE_WORDS: &[&str] = &[
    "support",
    "team",
    "service",
    "services",
    "security",
    "helpdesk",
    "help desk",
    "admin",
    "administrator",
    "billing",
    "account",
    "accounts",
    "notification",
    "notifications",
    "alert",
    "customer care",
    "customer service",
    "department",
    "verification",
    "it desk",
    "postmaster",
    "webmaster",
    "compliance",
    "payroll",
    "bank",
    "wallet",
    "official",
    "no-reply",
    "noreply",
    "mail delivery",
    "delivery",
    "courier",
    "shipping",
    "refund",
    "claims",
    "foundation",
    "suporte",
    "atendimento",
    "equipe",
    "segurança",
    "soporte",
    "equipo",
    "seguridad",
    "order",
    "invoice",
    "receipt",
    "payment",
    "confirmation",
    "reward",
    "rewards",
    "winner",
    "prize",
];

/// Honorifics and offices the advance-fee persona takes.
const PERSONA_WORDS: &[&str] = &[
    "mr.",
    "mr",
    "mrs.",
    "mrs",
    "ms.",
    "dr.",
    "dr",
    "barrister",
    "prince",
    "princess",
    "general",
    "gen.",
    "captain",
    "capt.",
    "sgt.",
    "sergeant",
    "colonel",
    "agent",
    "director",
    "ceo",
    "president",
    "secretary",
    "minister",
    "ambassador",
    "attorney",
    "lawyer",
    "judge",
    "sheikh",
    "lady",
    "sir",
    "rev.",
    "reverend",
    "pastor",
    "madam",
    "mrs.",
    "widow",
];

fn sender(x: &Facts<'_>, a: &mut Analysis) {
    let name_lower = x.from_name.to_lowercase();
    // A display name that carries an address of another domain: `PayPal <service@paypal.com>`
    // shown, `…@example.top` sending.
    // An address, a URL, or a display name that is nothing but a domain ("ethereum.org").
    let alone = name_lower.split_whitespace().count() == 1;
    let shown_address = name_lower
        .split(|c: char| c.is_whitespace() || "\"'<>(),;".contains(c))
        .find(|t| {
            t.contains('@')
                || t.starts_with("www.")
                || t.contains("://")
                || (alone && t.contains('.'))
        })
        .and_then(|t| {
            let t = t.rsplit('@').next().unwrap_or(t);
            links::visible_domain(t)
        });
    if let Some(shown) = shown_address
        && !x.from_domain.is_empty()
        && brands::registrable(&shown) != brands::registrable(x.from_domain)
        && psl::suffix(shown.as_bytes()).is_some_and(|s| s.is_known())
    {
        a.add(
            Signal::Sender,
            25,
            format!(
                "the display name shows {shown} but the message comes from {}",
                x.from_domain
            ),
        );
    }
    let free = !x.from_domain.is_empty() && free_mail(x.from_domain);
    if free {
        let role = ROLE_WORDS
            .iter()
            .find(|w| brands::contains_word(&name_lower, w));
        let brand = brands::named_in_display(&name_lower);
        if let Some((b, _)) = brand {
            a.add(
                Signal::Sender,
                35,
                format!(
                    "the display name '{}' speaks for {} from a free-mail mailbox ({})",
                    x.from_name, b.name, x.from
                ),
            );
        } else if let Some(w) = role {
            a.add(
                Signal::Sender,
                20,
                format!(
                    "the display name '{}' speaks for an organisation ('{w}') from a free-mail mailbox ({})",
                    x.from_name, x.from
                ),
            );
        } else if let Some(w) = PERSONA_WORDS.iter().find(|w| {
            name_lower
                .split(|c: char| c.is_whitespace() || c == ',')
                .any(|t| t == **w)
        }) {
            a.add(
                Signal::Sender,
                10,
                format!(
                    "the display name '{}' claims a title ('{w}') from a free-mail mailbox ({})",
                    x.from_name, x.from
                ),
            );
        }
    }
    // Replies diverted: answers go to a mailbox the sender does not own.
    let reply = s(x.field, "reply_to_domain");
    if !reply.is_empty()
        && !x.from_domain.is_empty()
        && brands::registrable(reply) != brands::registrable(x.from_domain)
    {
        if free_mail(reply) {
            a.add(
                Signal::Sender,
                25,
                format!(
                    "replies go to a free-mail mailbox ({}) instead of the sender's domain {}",
                    s(x.field, "Reply-To"),
                    x.from_domain
                ),
            );
        } else if !x.list {
            a.add(
                Signal::Sender,
                10,
                format!(
                    "replies go to another domain ({reply}) than the sender's ({})",
                    x.from_domain
                ),
            );
        }
    }
    contact_diversion(x, a);
    // A display name that is a call to action ("Congratulations", "Order Pending", "NEW MESSAGE
    // (1)") instead of a person or an organisation.
    let shown = fold_text(x.from_name).replace(['_', '-', '!', '#', '(', ')', ':'], " ");
    if shown.split_whitespace().count() <= 5
        && let Some(w) = [
            "congratulations",
            "winner",
            "reward",
            "rewards",
            "prize",
            "bonus",
            "gift",
            "claim",
            "eligible",
            "pending",
            "new message",
            "thank you",
            "you won",
            "you have",
            "your order",
            "confirmation",
            "selected",
            "lucky",
        ]
        .iter()
        .find(|w| brands::contains_word(&shown, w))
    {
        a.add(
            Signal::Sender,
            15,
            format!(
                "the display name '{}' is a call to action ('{w}'), not a person or an organisation",
                x.from_name
            ),
        );
    }
    // A reply to nothing: "Re:" in the subject, no message it answers.
    let subject = x.subject_lower.trim_start();
    if !x.replied
        && ["re:", "re :", "res:", "aw:", "sv:", "rv:"]
            .iter()
            .any(|p| subject.starts_with(p))
    {
        a.add(
            Signal::Sender,
            8,
            format!(
                "the subject '{}' poses as a reply, but the message answers none",
                x.subject
            ),
        );
    }
    if let Some(host) = content::free_host(x.from_domain) {
        a.add(
            Signal::Sender,
            20,
            format!(
                "the message comes from {}, an app or hosting platform's domain anyone can send from ({host})",
                x.from_domain
            ),
        );
    }
    if !x.from.is_empty() && !x.from.contains('@') || x.from.ends_with('@') {
        a.add(
            Signal::Sender,
            15,
            format!("the From header holds no valid address ('{}')", x.from),
        );
    }
    if machine_host(x.from_domain) {
        a.add(
            Signal::Sender,
            15,
            format!(
                "the sender domain {} is a machine's address (an IP address or localhost in its name), not an organisation's",
                x.from_domain
            ),
        );
    }
    let local = x
        .from
        .rsplit_once('@')
        .map_or("", |(l, _)| l)
        .to_ascii_lowercase();
    let label = brands::registrable_label(x.from_domain);
    if let Some(junk) = [local.as_str(), label.as_str()]
        .into_iter()
        .find(|n| machine_made(n))
    {
        a.add(
            Signal::Sender,
            10,
            format!(
                "the sender's name '{junk}' ({}) looks machine-generated",
                x.from
            ),
        );
    }
    // A brand's domain written into the mailbox name: `paypal.com-secure@example.top`.
    if x.sender_brand.is_none()
        && let Some(b) = brands::BRANDS.iter().find(|b| {
            b.domains
                .iter()
                .chain(b.tokens.iter())
                .filter(|t| t.len() >= 5)
                .any(|t| local.contains(&format!("{t}.")) || local.contains(&format!("{t}-")))
        })
    {
        a.add(
            Signal::Sender,
            20,
            format!(
                "the mailbox name of {} carries {}'s name on another domain",
                x.from, b.name
            ),
        );
    }
}

/// A forward (what users send a SOC's phishing mailbox) is judged by the sender of the message
/// it forwards too: the first `From:`/`De:`/`Von:` line of a forwarded header block in the body
/// is read as a sender, with the same checks (the authentication results and Reply-To of the
/// forward are the forwarder's, not the original's).
fn forwarded(x: &Facts<'_>, input: &Input<'_>, text: &str, a: &mut Analysis) {
    static HEADER: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
        #[allow(clippy::expect_used)]
        regex::Regex::new(concat!(
            r#"(?i)\b(?:from|de|von|van|da|od|från|fra)\s*:\s*"?([^"<>:@]{0,80}?)"?\s*[<\[(]?"#,
            r"(?:mailto:)?([a-z0-9][a-z0-9._%+-]*@[a-z0-9-]+(?:\.[a-z0-9-]+)*\.[a-z]{2,})[>\])]?",
            r"\s*(?:sent|enviado|enviada|date|data|fecha|gesendet|verzonden|envoyé|to|para|an|aan|à|subject|assunto|asunto)\s*:"
        ))
        .expect("the forwarded-header pattern compiles")
    });
    let subject = x.subject_lower.trim_start();
    let forward = ["fw:", "fwd:", "enc:", "tr:", "wg:", "rv:", "fw :", "fwd :"]
        .iter()
        .any(|p| subject.starts_with(p))
        || [
            "forwarded message",
            "original message",
            "mensagem encaminhada",
            "mensaje reenviado",
            "message transféré",
            "weitergeleitete nachricht",
        ]
        .iter()
        .any(|m| x.text_lower.contains(m));
    if !forward {
        return;
    }
    let Some(c) = HEADER.captures(text) else {
        return;
    };
    let addr = c.get(2).map_or("", |m| m.as_str()).to_ascii_lowercase();
    let name = c.get(1).map_or("", |m| m.as_str()).trim().to_owned();
    let Some(domain) = addr.rsplit_once('@').map(|(_, d)| d.to_owned()) else {
        return;
    };
    if addr == x.from.to_ascii_lowercase() {
        return;
    }
    let mut fields = input.fields.clone();
    for k in [
        "Reply-To",
        "reply_to_domain",
        "Return-Path",
        "return_path_domain",
        "spf",
        "dkim",
        "dmarc",
    ] {
        fields.remove(k);
    }
    fields.insert("From".into(), addr.clone().into());
    fields.insert("from_domain".into(), domain.clone().into());
    fields.insert("from_name".into(), name.clone().into());
    let original = Input {
        msg: input.msg,
        fields: &fields,
        attachments: input.attachments,
        urls: input.urls,
    };
    let facts = Facts::new(&original, text);
    let mut b = Analysis::default();
    sender(&facts, &mut b);
    brand(&facts, &original, &mut b);
    if let Some((brand, kind)) = brands::lookalike(&domain) {
        b.add(
            Signal::Lookalike,
            lookalike_weight(brand, &kind),
            format!(
                "the sender domain {domain} {} {}",
                describe(&kind),
                brand.name
            ),
        );
    }
    for f in b.findings {
        // Body-level checks already ran on this message.
        if f.evidence.starts_with("the text asks")
            || f.evidence.starts_with("the message speaks of")
        {
            continue;
        }
        a.add(
            f.signal,
            f.weight,
            format!("in the forwarded message from {addr}: {}", f.evidence),
        );
    }
}

/// A host named after an IP address (`45-33-35-202.ip.example.net`) or `localhost.…`.
fn machine_host(host: &str) -> bool {
    static IP_NAME: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
        #[allow(clippy::expect_used)]
        regex::Regex::new(r"(?:^|[.-])\d{1,3}[-.]\d{1,3}[-.]\d{1,3}[-.]\d{1,3}(?:[.-]|$)")
            .expect("the IP-name pattern compiles")
    });
    !host.is_empty()
        && (host.starts_with("localhost.")
            || host.contains(".localhost.")
            || IP_NAME.is_match(host)
            || host
                .trim_matches(['[', ']'])
                .parse::<std::net::IpAddr>()
                .is_ok())
}

/// A display name as it reads: confusable characters folded to the letters they imitate, a
/// capital I between lower-case letters read as an l (`WaIIet`), separators as spaces.
fn display_skeleton(name: &str) -> String {
    let chars: Vec<char> = name.chars().collect();
    let mut out = String::with_capacity(name.len());
    for (i, c) in chars.iter().enumerate() {
        let lower_near = |j: Option<&char>| j.is_some_and(|c| c.is_lowercase() || *c == 'I');
        let c = if *c == 'I'
            && (lower_near(chars.get(i + 1)) && i > 0 && lower_near(chars.get(i - 1)))
        {
            'l'
        } else {
            *c
        };
        out.push(c);
    }
    let skeleton: String = unicode_security::skeleton(&out).collect();
    fold_text(&skeleton).replace(['-', '_', '.'], " ")
}

/// A run of consonants (y counts as a vowel) that no language spells: six in a row (`qlhczk`),
/// or five in a long name (`clarehultzwlucjckl`), where words like `mindspring` stay below.
fn machine_made(name: &str) -> bool {
    let (mut run, mut longest) = (0, 0);
    for c in name.chars() {
        if c.is_ascii_alphabetic() && !"aeiouy".contains(c.to_ascii_lowercase()) {
            run += 1;
            longest = longest.max(run);
        } else {
            run = 0;
        }
    }
    longest >= 6 || (longest >= 5 && name.len() >= 12)
}

/// The text asks the reader to write to a free-mail mailbox that is not the sender's.
fn contact_diversion(x: &Facts<'_>, a: &mut Analysis) {
    static ADDRESS: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
        #[allow(clippy::expect_used)]
        regex::Regex::new(r"[a-z0-9][a-z0-9._%+-]*@[a-z0-9-]+(?:\.[a-z0-9-]+)*\.[a-z]{2,}")
            .expect("the address pattern compiles")
    });
    const ASK: &[&str] = &[
        "reply",
        "respond",
        "response",
        "contact",
        "write to",
        "write me",
        "email me",
        "mail me",
        "reach me",
        "get back to",
        "send me",
        "send your",
        "via email",
        "at my email",
        "private email",
        "responda",
        "contato",
        "escreva",
        "me escreva",
        "contacto",
        "escriba",
        "escríbeme",
        "écrivez",
    ];
    let from = x.from.to_ascii_lowercase();
    let reply = s(x.field, "Reply-To").to_ascii_lowercase();
    let mut previous_end = 0;
    for m in ADDRESS.find_iter(&x.text_lower) {
        let floor = previous_end;
        previous_end = m.end();
        let addr = m.as_str().trim_end_matches('.');
        let domain = addr.rsplit('@').next().unwrap_or("");
        if addr == from || addr == reply || addr == x.recipient || !free_mail(domain) {
            continue;
        }
        // The ask must come right before this address, not before an earlier one.
        let mut start = m.start().saturating_sub(60).max(floor);
        while !x.text_lower.is_char_boundary(start) {
            start += 1;
        }
        let before = &x.text_lower[start..m.start()];
        if let Some(verb) = ASK.iter().find(|v| before.contains(*v)) {
            a.add(
                Signal::Sender,
                20,
                format!(
                    "the text asks the reader to {verb} {addr}, a free-mail mailbox that is not the sender's"
                ),
            );
            return;
        }
    }
}

fn brand(x: &Facts<'_>, input: &Input<'_>, a: &mut Analysis) {
    if x.from_domain.is_empty() {
        return;
    }
    let name_lower = x.from_name.to_lowercase();
    // A brand's own domain in From, and DMARC says the brand did not send it: spoofed.
    if let Some(b) = x.sender_brand
        && s(x.field, "dmarc") == "fail"
    {
        a.add(
            Signal::Brand,
            35,
            format!(
                "the message claims to come from {}, {}'s own domain, and DMARC says it did not: a spoofed sender",
                x.from_domain, b.name
            ),
        );
        return;
    }
    let not_theirs = |b: &brands::Brand| !brands::is_legit(b, x.from_domain);
    let disguised = display_skeleton(x.from_name);
    let plain = brands::named_in_display(&name_lower).filter(|(b, _)| not_theirs(b));
    if plain.is_none()
        && let Some((b, _)) = brands::named_in_display(&disguised).filter(|(b, _)| not_theirs(b))
    {
        a.add(
            Signal::Obfuscation,
            20,
            format!(
                "the display name '{}' spells {} with look-alike characters",
                x.from_name, b.name
            ),
        );
    }
    if let Some((b, phrase)) =
        plain.or_else(|| brands::named_in_display(&disguised).filter(|(b, _)| not_theirs(b)))
    {
        // Free-mail senders already count under `sender`.
        if !free_mail(x.from_domain) {
            a.add(
                Signal::Brand,
                35,
                format!(
                    "the display name '{}' names {} ('{phrase}') but the sender domain {} is not {}'s",
                    x.from_name, b.name, x.from_domain, b.name
                ),
            );
        }
        return;
    }
    // Speaking as a brand weighs more when the message also asks for credentials or money.
    let asks = lures::find_all(&format!("{}\n{}", x.subject_lower, x.text_lower))
        .iter()
        .any(|f| {
            matches!(
                f.lure,
                Lure::Credential | Lure::Payment | Lure::Delivery | Lure::Crypto
            )
        });
    let link_to_brand = |b: &brands::Brand| {
        input.urls.iter().any(|u| {
            u.get("url_host")
                .and_then(Value::as_str)
                .is_some_and(|h| brands::is_legit(b, h))
        })
    };
    if let Some((b, phrase)) = brands::named_in(&x.subject_lower).filter(|(b, _)| not_theirs(b))
        && !x.list
    {
        let w = match (link_to_brand(b), asks) {
            (true, _) => 5,
            (false, true) => 15,
            (false, false) => 8,
        };
        a.add(
            Signal::Brand,
            w,
            format!(
                "the subject names {} ('{phrase}') but the sender domain {} is not {}'s",
                b.name, x.from_domain, b.name
            ),
        );
        return;
    }
    // The body speaks as the brand while every link goes elsewhere.
    let head: String = x.text_lower.chars().take(1500).collect();
    if let Some((b, phrase)) = brands::named_in(&head).filter(|(b, _)| not_theirs(b))
        && !x.list
        && !input.urls.is_empty()
        && !link_to_brand(b)
        && x.sender_brand.is_none()
    {
        a.add(
            Signal::Brand,
            if asks { 15 } else { 8 },
            format!(
                "the message speaks of {} ('{phrase}') but neither the sender {} nor any link is {}'s",
                b.name, x.from_domain, b.name
            ),
        );
    }
}

fn describe(kind: &Lookalike) -> &'static str {
    match kind {
        Lookalike::Confusable => "imitates with look-alike characters",
        Lookalike::Misspelt => "is a misspelling of",
        Lookalike::Embedded => "dresses up with the name of",
    }
}

fn lookalike_weight(b: &brands::Brand, kind: &Lookalike) -> u32 {
    match kind {
        Lookalike::Confusable | Lookalike::Misspelt => 35,
        Lookalike::Embedded if b.common_word => 12,
        Lookalike::Embedded => 25,
    }
}

fn lookalike(x: &Facts<'_>, input: &Input<'_>, a: &mut Analysis) {
    let mut seen = std::collections::BTreeSet::new();
    for (role, key) in [
        ("sender domain", "from_domain"),
        ("Reply-To domain", "reply_to_domain"),
        ("Return-Path domain", "return_path_domain"),
    ] {
        let d = s(x.field, key);
        if d.is_empty() || !seen.insert(d.to_owned()) {
            continue;
        }
        if let Some((b, kind)) = brands::lookalike(d) {
            a.add(
                Signal::Lookalike,
                lookalike_weight(b, &kind),
                format!("the {role} {d} {} {}", describe(&kind), b.name),
            );
        } else if d.contains("xn--") {
            a.add(
                Signal::Lookalike,
                10,
                format!("the {role} {d} is an internationalised (punycode) name"),
            );
        }
    }
    for u in input.urls {
        let Some(h) = u.get("url_host").and_then(Value::as_str) else {
            continue;
        };
        if !seen.insert(h.to_owned()) {
            continue;
        }
        let found = brands::lookalike(h).filter(|(b, _)| {
            // The brand's own mail links its campaign domains (`paypal-communication.com`).
            x.sender_brand.is_none_or(|sb| !std::ptr::eq(sb, *b))
        });
        if let Some((b, kind)) = found {
            a.add(
                Signal::Lookalike,
                lookalike_weight(b, &kind),
                format!("the link host {h} {} {}", describe(&kind), b.name),
            );
        } else if h.contains("xn--") {
            a.add(
                Signal::Lookalike,
                10,
                format!("the link host {h} is an internationalised (punycode) name"),
            );
        }
    }
}

fn auth(x: &Facts<'_>, a: &mut Analysis) {
    let (spf, dkim, dmarc) = (s(x.field, "spf"), s(x.field, "dkim"), s(x.field, "dmarc"));
    if dmarc == "fail" {
        a.add(
            Signal::Auth,
            20,
            format!("DMARC failed for {}", x.from_domain),
        );
    }
    if dmarc != "pass" && dkim != "pass" {
        match spf {
            "fail" => a.add(
                Signal::Auth,
                10,
                "SPF failed and nothing else authenticated the sender",
            ),
            "softfail" => a.add(
                Signal::Auth,
                5,
                "SPF soft-failed and nothing else authenticated the sender",
            ),
            _ => {}
        }
    }
    if dkim == "fail" && dmarc != "pass" {
        a.add(Signal::Auth, 5, "the DKIM signature did not verify");
    }
}

fn lure(x: &Facts<'_>, a: &mut Analysis) {
    let text = format!(
        "{}\n{}\n{}\n{}",
        fold_text(x.from_name),
        x.subject_lower,
        x.attachment_names,
        x.text_lower
    );
    let found = lures::find_all(&text);
    if !found.is_empty() {
        // Scams (prize, advance fee, crypto, romance, extortion) and credential lures weigh
        // most; payment and delivery are also everyday business; urgency only sharpens. A lure
        // told in three or more different phrases is the message's subject, not a passing word.
        let weight: u32 = found
            .iter()
            .map(|f| {
                let base = match f.lure {
                    Lure::Extortion => 15,
                    Lure::Credential
                    | Lure::Prize
                    | Lure::AdvanceFee
                    | Lure::Crypto
                    | Lure::Romance => 12,
                    Lure::Payment | Lure::Delivery => 8,
                    Lure::GenericGreeting => 6,
                    Lure::ScamOffer => 10,
                    Lure::Urgency => 5,
                };
                if base >= 8 {
                    (base + 4 * (f.phrases as u32 - 1)).min(2 * base)
                } else {
                    base
                }
            })
            .sum();
        let list = found
            .iter()
            .map(|f| {
                let more = if f.phrases > 1 {
                    format!(" and {} more", f.phrases - 1)
                } else {
                    String::new()
                };
                format!("{} ('{}'{more})", f.lure.as_str(), f.phrase)
            })
            .collect::<Vec<_>>()
            .join(", ");
        a.add(Signal::Lure, weight, format!("the text plays on {list}"));
    }
    if let Some(m) = lures::money(&text) {
        a.add(
            Signal::Lure,
            12,
            format!("the text dangles a sum of money ({m})"),
        );
    }
    if !x.recipient.is_empty() && x.subject_lower.contains(x.recipient) {
        a.add(
            Signal::Lure,
            10,
            format!(
                "the subject addresses the reader by mailbox ({})",
                x.recipient
            ),
        );
    } else if !x.recipient.is_empty()
        && ["dear", "hello", "hi", "olá", "prezado", "hola", "estimado"]
            .iter()
            .any(|g| x.text_lower.contains(&format!("{g} {}", x.recipient)))
    {
        a.add(
            Signal::Lure,
            10,
            format!(
                "the greeting addresses the reader by mailbox ({})",
                x.recipient
            ),
        );
    }
}

fn obfuscation(x: &Facts<'_>, a: &mut Analysis) {
    use unicode_security::MixedScript;
    let mut mixed: Vec<&str> = [x.subject, x.from_name]
        .iter()
        .flat_map(|t| t.split_whitespace())
        .filter(|w| {
            w.chars().any(char::is_alphabetic)
                && w.chars().any(|c| c.is_ascii_alphabetic())
                && !w.is_single_script()
        })
        .collect();
    mixed.dedup();
    if let Some(w) = mixed.first() {
        a.add(
            Signal::Obfuscation,
            20,
            format!("'{w}' mixes letters of several scripts (look-alike characters)"),
        );
    }
    let invisible = |c: char| matches!(c, '\u{200B}'..='\u{200F}' | '\u{2060}'..='\u{2064}' | '\u{FEFF}' | '\u{00AD}' | '\u{034F}' | '\u{180E}' | '\u{202A}'..='\u{202E}');
    let hidden_in_names = x
        .subject
        .chars()
        .chain(x.from_name.chars())
        .filter(|c| invisible(*c))
        .count();
    if hidden_in_names >= 2 {
        a.add(
            Signal::Obfuscation,
            20,
            format!("the subject or display name hides {hidden_in_names} invisible characters between its letters"),
        );
    }
    let inside_words = x
        .subject
        .chars()
        .chain(x.text_lower.chars().take(20_000))
        .collect::<Vec<_>>()
        .windows(3)
        .filter(|w| w[0].is_alphabetic() && invisible(w[1]) && w[2].is_alphabetic())
        .count();
    if inside_words >= 3 {
        a.add(
            Signal::Obfuscation,
            10,
            format!("{inside_words} invisible characters split words apart"),
        );
    }
    let styled = x
        .subject
        .chars()
        .chain(x.from_name.chars())
        .filter(|c| {
            ('\u{1D400}'..='\u{1D7FF}').contains(c) || ('\u{FF01}'..='\u{FF5E}').contains(c)
        })
        .count();
    if styled >= 3 {
        a.add(
            Signal::Obfuscation,
            15,
            format!("the subject or display name spells {styled} letters in styled or fullwidth Unicode, which filters do not read as words"),
        );
    }
    let subject = x.subject.trim();
    let words = subject
        .split(['_', '.'])
        .filter(|w| w.chars().any(char::is_alphabetic))
        .count();
    if !subject.contains(' ') && words >= 3 && subject.len() >= 15 {
        a.add(
            Signal::Obfuscation,
            10,
            format!("the subject '{subject}' joins its words with separators instead of spaces"),
        );
    }
}

#[cfg(test)]
mod tests;
