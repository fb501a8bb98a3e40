//! What the message carries: its links, its HTML and its attachments, read for phishing tells.

use serde_json::{Map, Value};

use super::{Analysis, Facts, Signal, brands};
use crate::normalize::eml::{Message, PartType};

/// Text of the message's body parts (HTML rendered to text), at most 64 KiB.
pub fn body_text(msg: &Message<'_>) -> String {
    const MAX: usize = 64 * 1024;
    let mut out = String::new();
    for i in 0..msg.text_body.len().max(1) {
        let Some(t) = msg.body_text(i) else { break };
        for word in t.split_whitespace() {
            if out.len() + word.len() + 1 > MAX {
                return out;
            }
            out.push_str(word);
            out.push(' ');
        }
    }
    out
}

/// Link shorteners: the target is hidden until the click.
const SHORTENERS: &[&str] = &[
    "bit.ly",
    "bitly.com",
    "tinyurl.com",
    "goo.gl",
    "ow.ly",
    "is.gd",
    "buff.ly",
    "rebrand.ly",
    "cutt.ly",
    "shorturl.at",
    "rb.gy",
    "t.ly",
    "tiny.cc",
    "s.id",
    "bit.do",
    "shorte.st",
    "adf.ly",
    "qrco.de",
    "tiny.one",
    "u.to",
    "v.gd",
    "x.co",
    "clck.ru",
    "urlz.fr",
    "t.co",
    "lnkd.in",
    "shorturl.gg",
    "tinu.be",
    "short.gy",
    "surl.li",
    "bl.ink",
    "soo.gd",
    "n9.cl",
    "gg.gg",
];

/// Free hosting, form builders, storage buckets, tunnels and IPFS/web3 gateways: anyone can put
/// a credential page there in a minute, under a trusted name.
const FREE_HOSTS: &[&str] = &[
    "firebaseapp.com",
    "web.app",
    "appspot.com",
    "pages.dev",
    "workers.dev",
    "r2.dev",
    "netlify.app",
    "vercel.app",
    "herokuapp.com",
    "glitch.me",
    "blogspot.com",
    "wixsite.com",
    "weebly.com",
    "000webhostapp.com",
    "square.site",
    "godaddysites.com",
    "webflow.io",
    "ipfs.io",
    "dweb.link",
    "cloudflare-ipfs.com",
    "fleek.co",
    "ipfs.w3s.link",
    "nftstorage.link",
    "typeform.com",
    "jotform.com",
    "formspree.io",
    "forms.gle",
    "ngrok.io",
    "ngrok-free.app",
    "trycloudflare.com",
    "repl.co",
    "replit.app",
    "onrender.com",
    "notion.site",
    "canva.site",
    "my.canva.site",
    "azurewebsites.net",
    "blob.core.windows.net",
    "web.core.windows.net",
    "firebasestorage.googleapis.com",
    "storage.googleapis.com",
    "s3.amazonaws.com",
    "sites.google.com",
    "docs.google.com",
    "github.io",
    "gitbook.io",
    "surge.sh",
    "mybluehost.me",
    "webcindario.com",
    "wordpress.com",
    "yolasite.com",
    "site123.me",
    "jimdosite.com",
    "strikingly.com",
    "ukit.me",
    "tilda.ws",
    "framer.app",
    "glide.page",
    "linktr.ee",
    "beacons.ai",
    "bio.link",
    "telegra.ph",
    "dropboxusercontent.com",
];

/// Top-level domains registered cheaply and in bulk, over-represented in abuse reports.
const RISKY_TLDS: &[&str] = &[
    "top",
    "xyz",
    "click",
    "link",
    "buzz",
    "cam",
    "rest",
    "icu",
    "monster",
    "sbs",
    "cfd",
    "quest",
    "bond",
    "zip",
    "mov",
    "tk",
    "ml",
    "ga",
    "cf",
    "gq",
    "work",
    "support",
    "cyou",
    "lol",
    "pw",
    "surf",
    "hair",
    "beauty",
    "autos",
    "boats",
    "makeup",
    "skin",
    "mom",
    "bar",
    "fit",
    "wiki",
    "best",
    "loan",
    "win",
    "bid",
    "date",
    "racing",
    "download",
    "review",
    "accountant",
    "cricket",
    "science",
    "party",
    "faith",
    "men",
    "stream",
    "gdn",
    "country",
    "kim",
    "ooo",
    "site",
    "online",
    "store",
    "fun",
    "space",
    "website",
    "live",
    "today",
    "digital",
];

/// Path words of credential-harvesting kits.
const LURE_PATHS: &[&str] = &[
    "login",
    "log-in",
    "signin",
    "sign-in",
    "logon",
    "verify",
    "verification",
    "validate",
    "webscr",
    "account-update",
    "update-account",
    "unlock",
    "reactivate",
    "wp-admin",
    "wp-includes",
    "wp-content",
    "owa",
    "office365",
    "webmail",
    "mailbox",
    "password",
    "2fa",
    "mfa",
    "kyc",
    "seed",
    "recovery-phrase",
    "atualizar",
    "desbloqueio",
];

/// The free-hosting or app platform `host` is on, if any.
pub fn free_host(host: &str) -> Option<&'static str> {
    listed_host(host, FREE_HOSTS)
}

fn listed_host<'l>(host: &str, list: &'l [&'l str]) -> Option<&'l str> {
    list.iter()
        .copied()
        .find(|d| host == *d || host.ends_with(&format!(".{d}")))
}

/// Risky traits of the message's links; each kind counts once, on its first link.
pub fn urls(x: &Facts<'_>, urls: &[Map<String, Value>], a: &mut Analysis) {
    let mut kinds = std::collections::BTreeSet::new();
    let mut add = |a: &mut Analysis, kind: &'static str, weight: u32, evidence: String| {
        if kinds.insert(kind) {
            a.add(Signal::Url, weight, evidence);
        }
    };
    let mut hosts = std::collections::BTreeSet::new();
    let recipient = x.recipient.to_ascii_lowercase();
    let sender_site = brands::registrable(x.from_domain);
    for u in urls {
        let url = u.get("url").and_then(Value::as_str).unwrap_or("");
        let Some(host) = u.get("url_host").and_then(Value::as_str) else {
            continue;
        };
        hosts.insert(brands::registrable(host));
        let lower = url.to_ascii_lowercase();
        let brand_own = brands::legit_brand(host).is_some();
        if host
            .trim_matches(['[', ']'])
            .parse::<std::net::IpAddr>()
            .is_ok()
        {
            add(
                a,
                "ip",
                20,
                format!("a link goes to a bare IP address ({url})"),
            );
        }
        let authority = lower
            .split_once("://")
            .map_or("", |(_, r)| r.split(['/', '?', '#']).next().unwrap_or(""));
        if authority.contains('@') {
            add(
                a,
                "userinfo",
                25,
                format!("a link hides its host after an '@' ({url})"),
            );
        }
        if let Some(d) = listed_host(host, SHORTENERS) {
            add(
                a,
                "shortener",
                10,
                format!("a link goes through the shortener {d} ({url})"),
            );
        }
        if let Some(d) = listed_host(host, FREE_HOSTS) {
            add(
                a,
                "free_host",
                15,
                format!("a link points at free hosting or a form/gateway service ({d}: {url})"),
            );
        }
        let tld = host.rsplit('.').next().unwrap_or("");
        if RISKY_TLDS.contains(&tld) && !brand_own {
            add(
                a,
                "tld",
                10,
                format!("a link host uses the bulk-registered top-level domain .{tld} ({host})"),
            );
        }
        if host.split('.').count() >= 5 && !brand_own {
            add(
                a,
                "deep",
                5,
                format!("a link host has a deep chain of subdomains ({host})"),
            );
        }
        let path = lower
            .split_once("://")
            .and_then(|(_, r)| r.find('/').map(|p| &r[p..]))
            .unwrap_or("");
        if !brand_own
            && let Some(w) = LURE_PATHS.iter().find(|w| {
                path.split(|c: char| !c.is_ascii_alphanumeric() && c != '-')
                    .any(|t| t == **w)
            })
        {
            add(
                a,
                "path",
                10,
                format!("a link path asks for credentials or payment ('{w}': {url})"),
            );
        }
        let unsubscribe = [
            "unsubscribe",
            "unsub",
            "remove",
            "optout",
            "opt-out",
            "listinfo",
            "preferences",
            "manage",
        ]
        .iter()
        .any(|w| path.contains(w));
        // The sender's own site may well know the reader's address (its newsletter links).
        let own = !x.from_domain.is_empty() && brands::registrable(host) == sender_site;
        if recipient.len() > 3 && !unsubscribe && !own && path.contains(&recipient) {
            add(
                a,
                "recipient",
                10,
                format!(
                    "a link carries the reader's address, as kits that pre-fill a login do ({url})"
                ),
            );
        }
        if u.get("text_domain_mismatch").and_then(Value::as_bool) == Some(true) {
            let shown = u.get("anchor_domain").and_then(Value::as_str).unwrap_or("");
            add(
                a,
                "mismatch",
                15,
                format!("a link shows {shown} but goes to {host}"),
            );
        }
        if u.get("url_source").and_then(Value::as_str) == Some("html_form") && !brand_own && !own {
            add(
                a,
                "form",
                25,
                format!("an HTML form in the message posts to {host}"),
            );
        }
    }
    let words = x.text_lower.split_whitespace().count();
    if hosts.len() == 1 && words < 30 && !x.list && !urls.is_empty() {
        let host = hosts.iter().next().map_or("", String::as_str);
        let untitled = x.subject.trim().is_empty();
        add(
            a,
            "lone",
            if untitled { 15 } else { 8 },
            format!("a short message ({words} words) whose only purpose is one link to {host}"),
        );
    }
}

/// HTML bodies: forms, password fields, redirects, scripts, obfuscation, hidden text, image-only.
pub fn html(msg: &Message<'_>, x: &Facts<'_>, a: &mut Analysis) {
    let mut html = String::new();
    for id in &msg.html_body {
        if let Some(PartType::Html(h)) = msg.parts.get(*id as usize).map(|p| &p.body) {
            html.push_str(h);
            if html.len() > 512 * 1024 {
                break;
            }
        }
    }
    if html.is_empty() {
        return;
    }
    let lower = html.to_ascii_lowercase();
    let compact: String = lower.chars().filter(|c| !c.is_whitespace()).collect();
    if compact.contains("type=\"password\"")
        || compact.contains("type='password'")
        || compact.contains("type=password")
    {
        a.add(Signal::Html, 30, "the message body holds a password field");
    }
    if compact.contains("http-equiv=\"refresh\"")
        || compact.contains("http-equiv='refresh'")
        || compact.contains("http-equiv=refresh")
    {
        a.add(
            Signal::Html,
            20,
            "the message body redirects itself (meta refresh)",
        );
    }
    let redirect = [
        "window.location",
        "document.location",
        "location.href=",
        "location.replace(",
        "location.assign(",
    ]
    .iter()
    .find(|p| compact.contains(*p));
    if let Some(p) = redirect {
        a.add(
            Signal::Html,
            20,
            format!("a script in the body redirects the reader ({p})"),
        );
    } else if compact.contains("<script") {
        a.add(Signal::Html, 10, "the message body carries a script");
    }
    if let Some(p) = [
        "atob(",
        "unescape(",
        "fromcharcode(",
        "eval(",
        "decodeuricomponent(",
    ]
    .iter()
    .find(|p| compact.contains(*p))
    {
        a.add(
            Signal::Html,
            15,
            format!("a script decodes hidden content ({p})"),
        );
    }
    // A mailto: link that opens a reply to a free-mail mailbox: answers (and credentials) go to
    // whoever holds it, not to the organisation the message speaks for.
    let from = x.from.to_ascii_lowercase();
    for (at, _) in lower.match_indices("mailto:") {
        let addr: String = lower[at + 7..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || "@._%+-".contains(*c))
            .collect();
        let domain = addr.rsplit_once('@').map_or("", |(_, d)| d);
        let known = a.findings.iter().any(|f| f.evidence.contains(&addr));
        if !domain.is_empty()
            && addr != from
            && addr != x.recipient
            && !known
            && super::free_mail(domain)
        {
            a.add(
                Signal::Sender,
                20,
                format!(
                    "a link opens a message to {addr}, a free-mail mailbox that is not the sender's"
                ),
            );
            break;
        }
    }
    for scheme in [
        "href=\"javascript:",
        "href='javascript:",
        "href=\"data:",
        "href='data:",
    ] {
        if compact.contains(scheme) {
            let what = if scheme.contains("javascript") {
                "javascript:"
            } else {
                "data:"
            };
            a.add(
                Signal::Html,
                20,
                format!("a link runs or embeds content directly ({what} URI)"),
            );
            break;
        }
    }
    if let Some(run) = longest_base64_run(&lower)
        && run >= 2000
    {
        a.add(
            Signal::Html,
            10,
            format!("the body carries a {run}-character encoded blob outside any image"),
        );
    }
    let hidden = [
        "display:none",
        "visibility:hidden",
        "font-size:0px",
        "font-size:0;",
        "font-size:0\"",
        "opacity:0",
    ]
    .iter()
    .filter(|p| compact.contains(*p))
    .count();
    if hidden > 0 && x.text_lower.split_whitespace().count() > 0 {
        let n = compact.matches("display:none").count() + compact.matches("font-size:0").count();
        if n >= 3 {
            a.add(
                Signal::Html,
                5,
                format!("{n} blocks of the body are styled invisible"),
            );
        }
    }
    let images = lower.matches("<img").count();
    let words = x.text_lower.split_whitespace().count();
    if images >= 1 && words < 15 {
        // A picture and a link is all there is: the text a filter would read is in the image.
        let linked = lower.contains("<a ");
        a.add(
            Signal::Html,
            if linked { 20 } else { 10 },
            format!(
                "the body is images with almost no text ({images} image(s), {words} words){}",
                if linked {
                    ", and the images are links"
                } else {
                    ""
                }
            ),
        );
    }
}

/// Length of the longest run of base64 characters that is not an inline image.
fn longest_base64_run(lower: &str) -> Option<usize> {
    let mut best = 0;
    let mut run = 0;
    let bytes = lower.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        if c.is_ascii_alphanumeric() || c == b'+' || c == b'/' || c == b'=' {
            run += 1;
        } else {
            if run > best {
                let start = i - run;
                let mut from = start.saturating_sub(40);
                while !lower.is_char_boundary(from) {
                    from -= 1;
                }
                let before = &lower[from..start];
                if !before.contains("image/")
                    && !before.contains("font/")
                    && !before.contains("application/font")
                {
                    best = run;
                }
            }
            run = 0;
        }
        i += 1;
    }
    (best > 0).then_some(best)
}

/// Attachment types that run code or open a page when clicked.
const RUNS_CODE: &str = "exe scr com bat cmd pif js jse vbs vbe wsf wsh hta ps1 lnk msi jar cpl iso img vhd vhdx dll reg url one onepkg chm appx msix xll wll library-ms settingcontent-ms application";
/// Attachment types that render a page in the browser (HTML smuggling, credential forms).
const RENDERS_PAGE: &str = "html htm shtml xhtml mht mhtml svg xht";

/// Dangerous attachments.
pub fn attachments(list: &[Map<String, Value>], text: &str, a: &mut Analysis) {
    let text_lower = text.to_lowercase();
    for f in list {
        let name = f
            .get("file_name")
            .and_then(Value::as_str)
            .unwrap_or("(unnamed)");
        let ext = f.get("extension").and_then(Value::as_str).unwrap_or("");
        let sniffed = f.get("sniffed_type").and_then(Value::as_str).unwrap_or("");
        let flag = |k: &str| f.get(k).and_then(Value::as_bool) == Some(true);
        let listed = |list: &str, e: &str| !e.is_empty() && list.split(' ').any(|x| x == e);
        if sniffed == "script" && ext.is_empty() {
            a.add(
                Signal::Attachment,
                15,
                format!("the attachment {name} is a script without an extension"),
            );
        } else if ext == "url" {
            a.add(
                Signal::Attachment,
                30,
                format!("the attachment {name} is an Internet shortcut: opening it opens a link"),
            );
        } else if listed(RUNS_CODE, ext)
            || matches!(sniffed, "pe" | "lnk" | "iso" | "script" | "elf")
        {
            a.add(
                Signal::Attachment,
                45,
                format!(
                    "the attachment {name} runs code or mounts a disk image when opened ({})",
                    if ext.is_empty() { sniffed } else { ext }
                ),
            );
        } else if listed(RENDERS_PAGE, ext) || sniffed == "html" {
            a.add(
                Signal::Attachment,
                30,
                format!("the attachment {name} is a web page (HTML/SVG) that opens in the browser"),
            );
        }
        if flag("double_extension") {
            a.add(
                Signal::Attachment,
                40,
                format!("the attachment {name} hides its real type behind a double extension"),
            );
        }
        if flag("macro_capable") {
            let what = if flag("has_vba") {
                "holds VBA macros"
            } else {
                "is a macro-enabled Office type"
            };
            a.add(
                Signal::Attachment,
                30,
                format!("the attachment {name} {what}"),
            );
        }
        if flag("extension_mismatch") {
            a.add(
                Signal::Attachment,
                20,
                format!("the attachment {name} is a {sniffed} file named .{ext}"),
            );
        }
        if let Some(links) = f
            .get("links")
            .and_then(Value::as_array)
            .filter(|l| !l.is_empty())
        {
            let hosts: Vec<String> = links
                .iter()
                .filter_map(Value::as_str)
                .filter_map(crate::normalize::eml::links::url_host)
                .collect();
            a.add(
                Signal::Attachment,
                10,
                format!(
                    "the PDF attachment {name} carries links (to {}), out of sight of the message body",
                    hosts.join(", ")
                ),
            );
        }
        if flag("encrypted") {
            let password_given = [
                "password",
                "senha",
                "contraseña",
                "passwort",
                "mot de passe",
                "pwd:",
                "pass:",
            ]
            .iter()
            .any(|p| text_lower.contains(p));
            if password_given {
                a.add(
                    Signal::Attachment,
                    35,
                    format!("the attachment {name} is encrypted and the body gives its password (scanners cannot look inside)"),
                );
            } else {
                a.add(
                    Signal::Attachment,
                    20,
                    format!("the attachment {name} is encrypted (scanners cannot look inside)"),
                );
            }
        }
    }
}
