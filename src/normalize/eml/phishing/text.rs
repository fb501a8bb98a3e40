//! What the message says and how it hides it: language lures (weighted by kind and by distinct
//! phrases), sums of money, the reader's mailbox in a subject or greeting, and obfuscation
//! (mixed scripts, invisible characters, styled letters, separator-spelt subjects).

use super::*;

pub(super) fn lure(x: &Facts<'_>, a: &mut Analysis) {
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

pub(super) fn obfuscation(x: &Facts<'_>, a: &mut Analysis) {
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
