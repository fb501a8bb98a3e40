//! Who the message pretends to be: brands named by a sender that is not the brand (display
//! name, subject, body; a brand's own domain failing DMARC) and lookalike sender and link
//! domains.

use super::*;

pub(super) fn brand(x: &Facts<'_>, input: &Input<'_>, a: &mut Analysis) {
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

pub(super) fn describe(kind: &Lookalike) -> &'static str {
    match kind {
        Lookalike::Confusable => "imitates with look-alike characters",
        Lookalike::Misspelt => "is a misspelling of",
        Lookalike::Embedded => "dresses up with the name of",
    }
}

pub(super) fn lookalike_weight(b: &brands::Brand, kind: &Lookalike) -> u32 {
    match kind {
        Lookalike::Confusable | Lookalike::Misspelt => 35,
        Lookalike::Embedded if b.common_word => 12,
        Lookalike::Embedded => 25,
    }
}

pub(super) fn lookalike(x: &Facts<'_>, input: &Input<'_>, a: &mut Analysis) {
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
        add_lookalike(a, &format!("the {role} {d}"), d, brands::lookalike(d));
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
        add_lookalike(a, &format!("the link host {h}"), h, found);
    }
}

/// A display name as it reads: confusable characters folded to the letters they imitate, a
/// capital I between lower-case letters read as an l (`WaIIet`), separators as spaces.
/// The finding for one domain (`what` names it, e.g. "the sender domain x.com"): the brand it
/// imitates, else a punycode name.
fn add_lookalike(
    a: &mut Analysis,
    what: &str,
    domain: &str,
    found: Option<(&'static brands::Brand, Lookalike)>,
) {
    if let Some((b, kind)) = found {
        a.add(
            Signal::Lookalike,
            lookalike_weight(b, &kind),
            format!("{what} {} {}", describe(&kind), b.name),
        );
    } else if domain.contains("xn--") {
        a.add(
            Signal::Lookalike,
            10,
            format!("{what} is an internationalised (punycode) name"),
        );
    }
}

pub(super) fn display_skeleton(name: &str) -> String {
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
