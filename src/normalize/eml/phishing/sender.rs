//! Who sent the message: sender identity (display names, free mail, diverted replies, machine
//! and platform senders, calls to action as names), the sender of a forwarded message, and
//! SPF/DKIM/DMARC.

use super::*;

/// Free-mail providers: anyone can open a mailbox there under any display name.
pub(super) fn free_mail(domain: &str) -> bool {
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

pub(super) fn sender(x: &Facts<'_>, a: &mut Analysis) {
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
pub(super) fn forwarded(x: &Facts<'_>, input: &Input<'_>, text: &str, a: &mut Analysis) {
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
    let facts = Facts::new(&original, x.text_lower.clone());
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

pub(super) fn auth(x: &Facts<'_>, a: &mut Analysis) {
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
