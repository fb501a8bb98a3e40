//! URLs in an email: from plain text and from HTML anchors, with the anchor text, flagging
//! links whose visible text shows a different domain than their target.

use super::*;

pub(super) fn collect_urls(msg: &Message<'_>, out: &mut Vec<Map<String, Value>>) {
    let mut seen = std::collections::HashSet::new();
    let mut push = |url: String, source: &str, anchor: Option<String>| {
        let Some(host) = url_host(&url) else { return };
        if out.len() >= MAX_URLS || !seen.insert((url.clone(), anchor.clone())) {
            return;
        }
        let mut f = Map::new();
        f.insert("url".into(), url.into());
        f.insert("url_host".into(), host.as_str().into());
        f.insert("url_source".into(), source.into());
        if let Some(a) = anchor.filter(|a| !a.is_empty()) {
            if let Some(shown) = visible_domain(&a) {
                let same = |x: &str, y: &str| x == y || x.ends_with(&format!(".{y}"));
                let (h, s) = (
                    host.trim_start_matches("www."),
                    shown.trim_start_matches("www."),
                );
                f.insert(
                    "text_domain_mismatch".into(),
                    (!same(h, s) && !same(s, h)).into(),
                );
                f.insert("anchor_domain".into(), shown.into());
            }
            f.insert("anchor_text".into(), a.into());
        }
        f.entry("text_domain_mismatch").or_insert(false.into());
        out.push(f);
    };
    for id in &msg.html_body {
        if let Some(PartType::Html(html)) = msg.parts.get(*id as usize).map(|p| &p.body) {
            for (url, source, anchor) in html_links(html) {
                push(url, source, anchor);
            }
        }
    }
    for id in &msg.text_body {
        if let Some(PartType::Text(text)) = msg.parts.get(*id as usize).map(|p| &p.body) {
            for url in text_urls(text) {
                push(url, "text", None);
            }
        }
    }
}

/// `http(s)://` URLs in plain text, trailing punctuation trimmed.
pub(super) fn text_urls(text: &str) -> Vec<String> {
    let lower = text.to_ascii_lowercase();
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(p) = lower.get(from..).and_then(|s| s.find("http")) {
        let start = from + p;
        let rest = &text[start..];
        let lrest = &lower[start..];
        from = start + 4;
        if !(lrest.starts_with("http://") || lrest.starts_with("https://")) {
            continue;
        }
        let end = rest
            .find(|c: char| c.is_whitespace() || "\"'<>`{}|\\^[]".contains(c))
            .unwrap_or(rest.len());
        let url = rest[..end].trim_end_matches(['.', ',', ';', ':', '!', '?', ')', '*']);
        if url_host(url).is_some() {
            out.push(url.to_owned());
        }
        from = start + end.max(4);
    }
    out
}

/// `<a href>` / `<area href>` links with their visible text, and `<form action>` targets.
pub(super) fn html_links(html: &str) -> Vec<(String, &'static str, Option<String>)> {
    let lower = html.to_ascii_lowercase();
    let mut out = Vec::new();
    let mut pos = 0;
    while let Some(p) = lower.get(pos..).and_then(|s| s.find('<')) {
        let start = pos + p;
        let tag_end = lower[start..].find('>').map_or(lower.len(), |e| start + e);
        let tag = &lower[start + 1..tag_end];
        let name: String = tag
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric())
            .collect();
        pos = tag_end.max(start + 1);
        let attr = match name.as_str() {
            "a" | "area" => "href",
            "form" => "action",
            _ => continue,
        };
        let Some(value) = attribute(&html[start + 1..tag_end], tag, attr) else {
            continue;
        };
        let url = decode_entities(value.trim());
        if name == "form" {
            out.push((url, "html_form", None));
            continue;
        }
        let close = lower[tag_end..]
            .find("</a")
            .map_or(lower.len(), |c| tag_end + c);
        let inner = html
            .get(tag_end.saturating_add(1).min(close)..close)
            .unwrap_or("");
        let text = decode_entities(&strip_tags(inner));
        let text: String = text
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .chars()
            .take(ANCHOR_CHARS)
            .collect();
        out.push((url, "html_href", Some(text)));
    }
    out
}

pub(super) fn attribute<'a>(tag: &'a str, lower: &str, name: &str) -> Option<&'a str> {
    let mut from = 0;
    while let Some(p) = lower.get(from..).and_then(|s| s.find(name)) {
        let at = from + p;
        from = at + name.len();
        let before_ok = lower[..at].ends_with(|c: char| c.is_whitespace() || c == '"' || c == '\'');
        let rest = lower[from..].trim_start();
        if !before_ok || !rest.starts_with('=') {
            continue;
        }
        let vstart = lower.len() - rest.len() + 1;
        let raw = tag.get(vstart..)?.trim_start();
        let offset = tag.len() - raw.len();
        return Some(match raw.chars().next() {
            Some(q @ ('"' | '\'')) => {
                let end = raw[1..].find(q).map_or(raw.len(), |e| e + 1);
                &tag[offset + 1..offset + end]
            }
            _ => &tag[offset..offset + raw.find(char::is_whitespace).unwrap_or(raw.len())],
        });
    }
    None
}

pub(super) fn strip_tags(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut in_tag = false;
    for c in s.chars() {
        match c {
            '<' => in_tag = true,
            '>' => {
                in_tag = false;
                out.push(' ');
            }
            _ if !in_tag => out.push(c),
            _ => {}
        }
    }
    out
}

pub(super) fn decode_entities(s: &str) -> String {
    if !s.contains('&') {
        return s.to_owned();
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(p) = rest.find('&') {
        out.push_str(&rest[..p]);
        rest = &rest[p..];
        let end = rest.bytes().take(10).position(|b| b == b';');
        let decoded = end.and_then(|e| {
            let ent = &rest[1..e];
            let c = match ent {
                "amp" => '&',
                "lt" => '<',
                "gt" => '>',
                "quot" => '"',
                "apos" => '\'',
                "nbsp" => ' ',
                _ => {
                    let n = ent.strip_prefix('#')?;
                    let code = match n.strip_prefix(['x', 'X']) {
                        Some(h) => u32::from_str_radix(h, 16).ok()?,
                        None => n.parse().ok()?,
                    };
                    char::from_u32(code)?
                }
            };
            Some((c, e + 1))
        });
        match decoded {
            Some((c, len)) => {
                out.push(c);
                rest = &rest[len..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// The host of an `http(s)://` URL (userinfo and port removed, lower-cased).
pub(super) fn url_host(url: &str) -> Option<String> {
    let lower = url.to_ascii_lowercase();
    let rest = lower
        .strip_prefix("http://")
        .or_else(|| lower.strip_prefix("https://"))?;
    let authority = rest.split(['/', '?', '#', '\\']).next()?;
    let host = authority.rsplit('@').next()?;
    let host = if host.starts_with('[') {
        host.split(']').next().map(|h| format!("{h}]"))?
    } else {
        host.split(':').next()?.trim_end_matches('.').to_owned()
    };
    (!host.is_empty()).then_some(host)
}

/// A domain the visible text of a link shows: a URL's host, or a bare `name.tld` token.
pub(super) fn visible_domain(text: &str) -> Option<String> {
    text.split_whitespace().find_map(|token| {
        if let Some(h) = url_host(token) {
            return h.contains(['.', ':']).then_some(h);
        }
        let t = token
            .rsplit('@')
            .next()?
            .trim_matches(|c: char| !c.is_ascii_alphanumeric())
            .to_ascii_lowercase();
        let t = t.split('/').next()?;
        let labels: Vec<&str> = t.split('.').collect();
        let tld = labels.last()?;
        let ok = labels.len() >= 2
            && labels
                .iter()
                .all(|l| !l.is_empty() && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'))
            && tld.len() >= 2
            && tld.chars().all(|c| c.is_ascii_alphabetic())
            && ![
                "pdf", "doc", "docx", "xls", "xlsx", "zip", "exe", "html", "htm", "php", "asp",
                "aspx", "jpg", "png", "gif", "txt", "js",
            ]
            .contains(tld);
        ok.then(|| t.to_owned())
    })
}
