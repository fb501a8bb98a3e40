//! RFC 5322 email messages (`.eml`): one event for the message, one per attachment, one per URL.
//!
//! Parsing uses `mail-parser` (0.11; the 1.x line needs rustc 1.98). Its debug builds hit a
//! `debug_assert!` on some malformed MIME, so the crate's profile turns debug assertions off for
//! it (`[profile.dev.package.mail-parser] debug-assertions = false`). A leading mbox
//! `From ` line and a BSMTP envelope (`HELO` … `DATA`) are skipped. Events of one document share
//! `email_id` (the id of the message event) and `message_id` (the `Message-ID` header, when
//! present); `origin.index` is 0 for the message, then the attachments, then the URLs.
//!
//! **Logsource** (our own names, there is no Sigma email taxonomy): product `email`, category
//! `email_message`, `email_attachment` or `email_url`. **Host**: none (a message is not about a
//! host); the recipient address is the field `recipient` (first `To`, else `Delivered-To`,
//! `X-Original-To`, `Envelope-To`, a Received `for` clause). **Time**: `Date`, else the newest `Received` date, else the receive time.
//!
//! Message fields: `From` (the first address; the raw header when it has none), `Reply-To`,
//! `Return-Path`, `Sender` (addresses), `To`, `Cc` (arrays),
//! `Subject`, `Date` (RFC 3339 when it parses, else as written), `Message-ID`, `X-Mailer`;
//! derived `from_name`, `from_domain`, `reply_to_domain`, `return_path_domain`,
//! `reply_to_mismatch` (Reply-To domain differs from From's); `received` (hops newest first, each
//! `{from, by, ip, time}`), `received_ips` (every IP of the chain, newest first),
//! `originating_ip` (the oldest public IP of the chain: the first external hop); `spf`, `dkim`,
//! `dmarc` from the topmost `Authentication-Results` carrying the method (`spf` falls back to
//! `Received-SPF`), lower-cased (`pass`, `fail`, `softfail`, `none`, `neutral`, `temperror`,
//! `permerror`, …); `body_excerpt` (first 2 KiB of text, whitespace collapsed);
//! `attachment_count`, `attachment_names`, `url_count`.
//!
//! Attachment fields: `file_name`, `extension`, `content_type` (declared), `sniffed_type`
//! (magic bytes: `pe`, `elf`, `doc`/`xls`/`ppt`/`msg`/`ole2` (OLE2 `D0CF11E0`; `ooxml_encrypted` for a
//! password-protected Office file, an OLE2 `EncryptedPackage`), `docx`/`xlsx`/
//! `pptx`/`ooxml` (ZIP with `[Content_Types].xml`), `zip`, `pdf`, `rar`, `7z`, `gzip`, `bzip2`,
//! `xz`, `cab`, `iso`, `lnk`, `rtf`, `html`, `script`, `png`, `jpeg`, `gif`, `eml`, `text`,
//! `unknown`, `empty`), `size`, `md5`, `sha1`, `sha256`, `has_vba` (an OLE `_VBA_PROJECT` stream or
//! an OOXML `vbaProject.bin`), `macro_capable` (`has_vba`, or a macro-enabled OOXML extension:
//! docm, dotm, xlsm, xltm, xlam, xlsb, pptm, potm, ppsm, sldm), `encrypted` (ZIP entry flag or
//! OLE `EncryptedPackage`), `archive`, `double_extension` (`invoice.pdf.exe`),
//! `extension_mismatch` (the extension is not one the sniffed type uses; never set for
//! `text`/`unknown`), `links` (the `http(s)` link targets inside a PDF, [`pdf`]). URL fields: `url`, `url_host`, `url_source` (`text`, `html_href`,
//! `html_form`), `anchor_text`, `anchor_domain` (a domain shown in the visible text) and
//! `text_domain_mismatch` (it is not the href's host or a parent/child of it). Attachment and URL
//! events also carry `From`, `Subject` and `recipient` of their message. URLs come from the
//! message's own text and HTML body parts (`http`/`https` only, deduplicated by URL and anchor
//! text), not from attachments or nested messages. Bounds: 128 attachments (nested messages
//! followed 4 deep), 256 URLs, 256-character anchor texts.
//!
//! The message event also carries the phishing analysis of [`phishing`] (`phishing_score`,
//! `phishing_verdict`, `phishing_findings`, `phishing_<family>`); links read from QR codes in
//! images become URL events with `url_source: qr_code`, links inside PDF attachments with
//! `url_source: attachment` (and `attachment_name`). A message of a mailbox is parsed with
//! [`parse_message_at`]: its events are indexed from its byte offset in the file.

use std::net::IpAddr;
use std::sync::Arc;

use chrono::{DateTime, TimeZone, Utc};
use mail_parser::{Address, Host, Message, MessageParser, MimeHeaders, PartType};
use serde_json::{Map, Value};

use super::{Format, ParseError, Position};
use crate::event::{Event, EventId, Fields, LogSource, Origin};

const MAX_URLS: usize = 256;
const MAX_ATTACHMENTS: usize = 128;
const EXCERPT_BYTES: usize = 2048;
const ANCHOR_CHARS: usize = 256;
const MAX_NESTING: usize = 4;
/// Header names that make a header block an email's (lower-case, space-separated).
const MAIL_HEADERS: &str = "received return-path from delivered-to mime-version message-id date subject to dkim-signature authentication-results x-original-to reply-to content-type envelope-to";

/// True when `head` starts with an RFC 5322 header block (optionally after an mbox `From ` line)
/// naming at least one header that mail carries, or with a BSMTP envelope.
pub fn sniff(head: &[u8]) -> bool {
    let head = head.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(head);
    if (head.starts_with(b"HELO ") || head.starts_with(b"EHLO "))
        && memchr::memmem::find(head, b"\nDATA").is_some()
    {
        return true;
    }
    let text = String::from_utf8_lossy(head);
    let mut lines = text.lines().peekable();
    if lines.peek().is_some_and(|l| l.starts_with("From ")) {
        lines.next();
    }
    let (mut known, mut seen) = (false, 0);
    // The last line may be cut by the head limit: only judge complete lines.
    let complete = text.matches('\n').count();
    for line in lines.take(complete.max(1)) {
        if line.is_empty() {
            break;
        }
        if line.starts_with([' ', '\t']) && seen > 0 {
            continue;
        }
        // A header block may end without its blank line (malformed MIME): stop at the first
        // line that is not a header, judging what came before.
        let Some((name, _)) = line.split_once(':') else {
            break;
        };
        let name = name.trim_end_matches([' ', '\t']);
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_graphic()) {
            break;
        }
        seen += 1;
        let n = name.to_ascii_lowercase();
        known |= listed(MAIL_HEADERS, &n) || n.starts_with("arc-");
    }
    known && seen > 0
}

/// Parses one message into its events (message, attachments, URLs), or one error.
pub fn parse_document(
    bytes: &[u8],
    source: &Arc<str>,
    input: &Arc<str>,
    received: DateTime<Utc>,
) -> Vec<Result<Event, ParseError>> {
    parse_message_at(bytes, source, input, received, 0)
}

/// [`parse_document`] for a message at byte `offset` of its file (a mailbox): its events take
/// the indices `offset`, `offset + 1`, … (a message is longer than its event count).
pub fn parse_message_at(
    bytes: &[u8],
    source: &Arc<str>,
    input: &Arc<str>,
    received: DateTime<Utc>,
    offset: u64,
) -> Vec<Result<Event, ParseError>> {
    let (body, skipped) = strip_envelope(bytes);
    let error = |reason: &str| {
        vec![Err(ParseError {
            format: Format::Eml,
            input: input.clone(),
            file: source.clone(),
            position: Position::Byte(offset + skipped as u64),
            reason: reason.to_owned(),
            raw: Some(super::excerpt(&String::from_utf8_lossy(
                &body[..body.len().min(512)],
            ))),
        })]
    };
    let Some(msg) = MessageParser::default().parse(body) else {
        return error("not an RFC 5322 message");
    };
    if msg.parts.first().is_none_or(|p| p.headers.is_empty())
        || !sniff(&body[..body.len().min(16 * 1024)])
    {
        return error("no RFC 5322 header block");
    }
    let origin = |index: u64| Origin {
        input: input.clone(),
        source: source.clone(),
        index: offset + index,
    };
    let email_id = EventId::derive(source, offset);
    let mut fields = message_fields(&msg);
    let time = fields
        .get("Date")
        .and_then(Value::as_str)
        .and_then(super::parse_time_str)
        .or_else(|| newest_received(&msg))
        .unwrap_or(received);
    let mut context = Map::new();
    context.insert("email_id".into(), email_id.as_str().into());
    for key in ["Message-ID", "From", "Subject", "recipient"] {
        if let Some(v) = fields.get(key) {
            let name = if key == "Message-ID" {
                "message_id"
            } else {
                key
            };
            context.insert(name.into(), v.clone());
        }
    }
    let mut attachments = Vec::new();
    collect_attachments(&msg, 0, &mut attachments);
    let mut urls = Vec::new();
    collect_urls(&msg, &mut urls);
    // Links inside attachments (PDF buttons) are links of the message too.
    for a in &attachments {
        let name = a.get("file_name").cloned();
        for url in a
            .get("links")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let Some(url) = url.as_str() else { continue };
            if urls.len() >= MAX_URLS {
                break;
            }
            if let Some(host) = url_host(url) {
                let mut f = Map::new();
                f.insert("url".into(), url.into());
                f.insert("url_host".into(), host.into());
                f.insert("url_source".into(), "attachment".into());
                if let Some(n) = &name {
                    f.insert("attachment_name".into(), n.clone());
                }
                f.insert("text_domain_mismatch".into(), false.into());
                urls.push(f);
            }
        }
    }
    let analysis = phishing::analyse(&phishing::Input {
        msg: &msg,
        fields: &fields,
        attachments: &attachments,
        urls: &urls,
    });
    analysis.write(&mut fields);
    // Attachments and links carry their message's verdict (campaign correlations key on them).
    for key in ["phishing_verdict", "phishing_score"] {
        if let Some(v) = fields.get(key) {
            context.insert(key.into(), v.clone());
        }
    }
    for url in &analysis.qr_urls {
        if urls.len() < MAX_URLS
            && let Some(host) = url_host(url)
        {
            let mut f = Map::new();
            f.insert("url".into(), url.as_str().into());
            f.insert("url_host".into(), host.into());
            f.insert("url_source".into(), "qr_code".into());
            f.insert("text_domain_mismatch".into(), false.into());
            urls.push(f);
        }
    }
    fields.insert("attachment_count".into(), attachments.len().into());
    fields.insert(
        "attachment_names".into(),
        attachments
            .iter()
            .filter_map(|a| a.get("file_name").cloned())
            .collect(),
    );
    fields.insert("url_count".into(), urls.len().into());
    fields.extend(context.clone());
    let build = |index: u64, fields: Map<String, Value>, category: &str| {
        let mut event = Event::new(origin(index), received, Fields::from(fields));
        event.time = time;
        event.logsource = LogSource::new(Some("email"), Some(category), None);
        Ok(event)
    };
    let mut out = vec![build(0, fields, "email_message")];
    let children = attachments
        .into_iter()
        .map(|a| (a, "email_attachment"))
        .chain(urls.into_iter().map(|u| (u, "email_url")));
    for (i, (mut child, category)) in children.enumerate() {
        child.extend(context.clone());
        out.push(build(i as u64 + 1, child, category));
    }
    out
}

/// Skips an mbox `From ` line and a BSMTP envelope; returns the message and its byte offset.
fn strip_envelope(bytes: &[u8]) -> (&[u8], usize) {
    let mut start = 0;
    let at = |s: usize| bytes.get(s..).unwrap_or_default();
    if (at(0).starts_with(b"HELO ") || at(0).starts_with(b"EHLO "))
        && let Some(p) = memchr::memmem::find(bytes, b"\nDATA")
        && let Some(nl) = memchr::memchr(b'\n', &bytes[p + 1..])
    {
        start = p + 1 + nl + 1;
    }
    if at(start).starts_with(b"From ") {
        start += memchr::memchr(b'\n', at(start)).map_or(at(start).len(), |n| n + 1);
    }
    let rest = at(start);
    let end = if bytes.starts_with(b"HELO ") || bytes.starts_with(b"EHLO ") {
        memchr::memmem::find(rest, b"\n.\n").map_or(rest.len(), |e| e + 1)
    } else {
        rest.len()
    };
    (&rest[..end], start)
}

fn raw_headers<'a>(msg: &'a Message<'_>, name: &'a str) -> impl Iterator<Item = String> + 'a {
    msg.parts.first().into_iter().flat_map(move |part| {
        part.headers
            .iter()
            .filter(move |h| h.name.as_str().eq_ignore_ascii_case(name))
            .filter_map(|h| {
                let raw = msg
                    .raw_message
                    .get(h.offset_start as usize..h.offset_end as usize)?;
                Some(
                    String::from_utf8_lossy(raw)
                        .split_whitespace()
                        .collect::<Vec<_>>()
                        .join(" "),
                )
            })
    })
}

fn addresses(a: Option<&Address<'_>>) -> Vec<String> {
    a.map(|a| {
        a.iter()
            .filter_map(|x| x.address())
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
            .collect()
    })
    .unwrap_or_default()
}

fn domain_of(addr: &str) -> Option<String> {
    let d = addr
        .rsplit_once('@')?
        .1
        .trim_end_matches('>')
        .trim()
        .to_ascii_lowercase();
    (!d.is_empty()).then_some(d)
}

fn message_fields(msg: &Message<'_>) -> Map<String, Value> {
    let mut f = Map::new();
    // A display name with an unquoted comma splits into several entries: take the first
    // entry with an address, and the first display name.
    let from: Vec<_> = msg.from().map(|a| a.iter().collect()).unwrap_or_default();
    let addr = from
        .iter()
        .find_map(|a| a.address())
        .map(str::trim)
        .filter(|a| !a.is_empty());
    let raw_from = raw_headers(msg, "From").next();
    if let Some(addr) = addr.map(str::to_owned).or_else(|| raw_from.clone()) {
        if let Some(d) = domain_of(&addr) {
            f.insert("from_domain".into(), d.into());
        }
        f.insert("From".into(), addr.into());
    }
    if let Some(name) = from
        .iter()
        .find_map(|a| a.name())
        .map(str::to_owned)
        .or(raw_from)
    {
        f.insert("from_name".into(), name.trim().into());
    }
    for (key, list) in [("Reply-To", msg.reply_to()), ("Sender", msg.sender())] {
        if let Some(first) = addresses(list).into_iter().next() {
            f.insert(key.into(), first.into());
        }
    }
    for (key, list) in [("To", msg.to()), ("Cc", msg.cc())] {
        let list = addresses(list);
        if !list.is_empty() {
            f.insert(key.into(), list.into());
        }
    }
    if let Some(rp) = msg.return_address() {
        f.insert("Return-Path".into(), rp.trim().into());
    }
    for (key, derived) in [
        ("Reply-To", "reply_to_domain"),
        ("Return-Path", "return_path_domain"),
    ] {
        if let Some(d) = f.get(key).and_then(Value::as_str).and_then(domain_of) {
            f.insert(derived.into(), d.into());
        }
    }
    if let (Some(r), Some(d)) = (f.get("reply_to_domain"), f.get("from_domain")) {
        f.insert("reply_to_mismatch".into(), (r != d).into());
    }
    if let Some(s) = msg.subject() {
        f.insert("Subject".into(), s.into());
    }
    if let Some(d) = msg.date() {
        let parsed = d
            .is_valid()
            .then(|| Utc.timestamp_opt(d.to_timestamp(), 0).single())
            .flatten();
        let value = parsed.map_or_else(|| d.to_rfc3339(), |t| t.to_rfc3339());
        f.insert("Date".into(), value.into());
    } else if let Some(d) = raw_headers(msg, "Date").next() {
        f.insert("Date".into(), d.into());
    }
    if let Some(id) = msg.message_id() {
        f.insert("Message-ID".into(), id.into());
    }
    if let Some(m) = raw_headers(msg, "X-Mailer").next() {
        f.insert("X-Mailer".into(), m.into());
    }
    let recipient = f
        .get("To")
        .and_then(|t| t.get(0))
        .and_then(Value::as_str)
        .map(str::to_owned)
        .or_else(|| raw_headers(msg, "Delivered-To").next())
        .or_else(|| raw_headers(msg, "X-Original-To").next())
        .or_else(|| raw_headers(msg, "Envelope-To").next())
        .or_else(|| {
            msg.received_all()
                .find_map(|r| r.for_.as_deref().map(str::to_owned))
        });
    if let Some(r) = recipient {
        f.insert(
            "recipient".into(),
            r.trim_matches(['<', '>', ' ']).to_ascii_lowercase().into(),
        );
    }
    received_chain(msg, &mut f);
    auth_results(msg, &mut f);
    if let Some(body) = msg.body_text(0) {
        let mut excerpt = String::new();
        for word in body.split_whitespace() {
            if excerpt.len() + word.len() + 1 > EXCERPT_BYTES {
                break;
            }
            if !excerpt.is_empty() {
                excerpt.push(' ');
            }
            excerpt.push_str(word);
        }
        f.insert("body_excerpt".into(), excerpt.into());
    }
    f
}

fn host_str(h: &Host<'_>) -> String {
    match h {
        Host::Name(n) => n.to_string(),
        Host::IpAddr(ip) => ip.to_string(),
    }
}

fn newest_received(msg: &Message<'_>) -> Option<DateTime<Utc>> {
    msg.received_all()
        .filter_map(|r| r.date.filter(|d| d.is_valid()))
        .find_map(|d| Utc.timestamp_opt(d.to_timestamp(), 0).single())
}

fn received_chain(msg: &Message<'_>, f: &mut Map<String, Value>) {
    let raws: Vec<String> = raw_headers(msg, "Received").collect();
    let mut hops = Vec::new();
    let mut ips: Vec<IpAddr> = Vec::new();
    let mut hop_ips: Vec<Option<IpAddr>> = Vec::new();
    for (i, r) in msg.received_all().enumerate() {
        let mut hop = Map::new();
        if let Some(h) = &r.from {
            hop.insert("from".into(), host_str(h).into());
        }
        if let Some(h) = &r.by {
            hop.insert("by".into(), host_str(h).into());
        }
        let ip = r
            .from_ip
            .or(match &r.from {
                Some(Host::IpAddr(ip)) => Some(*ip),
                _ => None,
            })
            .or_else(|| raws.get(i).and_then(|raw| bracketed_ip(raw)));
        if let Some(ip) = ip {
            hop.insert("ip".into(), ip.to_string().into());
            if !ips.contains(&ip) {
                ips.push(ip);
            }
        }
        hop_ips.push(ip);
        if let Some(t) = r.date.filter(|d| d.is_valid())
            && let Some(t) = Utc.timestamp_opt(t.to_timestamp(), 0).single()
        {
            hop.insert("time".into(), t.to_rfc3339().into());
        }
        hops.push(Value::Object(hop));
    }
    if hops.is_empty() {
        return;
    }
    f.insert("received".into(), hops.into());
    f.insert(
        "received_ips".into(),
        ips.iter().map(|i| Value::from(i.to_string())).collect(),
    );
    if let Some(ip) = hop_ips.iter().rev().flatten().find(|ip| is_public(ip)) {
        f.insert("originating_ip".into(), ip.to_string().into());
    }
}

/// The first `[a.b.c.d]` or `(a.b.c.d)` literal of a raw Received header's from clause.
fn bracketed_ip(raw: &str) -> Option<IpAddr> {
    let from = raw.split(" by ").next().unwrap_or(raw);
    from.split(['[', ']', '(', ')', ' '])
        .find_map(|t| t.trim_start_matches("IPv6:").parse::<IpAddr>().ok())
}

fn is_public(ip: &IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            !(v4.is_private()
                || v4.is_loopback()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || o[0] == 100 && (64..128).contains(&o[1])
                || o[0] >= 224)
        }
        IpAddr::V6(v6) => {
            let s = v6.segments();
            !(v6.is_loopback()
                || v6.is_unspecified()
                || (s[0] & 0xfe00) == 0xfc00
                || (s[0] & 0xffc0) == 0xfe80
                || v6.is_multicast())
        }
    }
}

fn auth_results(msg: &Message<'_>, f: &mut Map<String, Value>) {
    let headers: Vec<String> = raw_headers(msg, "Authentication-Results").collect();
    for method in ["spf", "dkim", "dmarc"] {
        let found = headers.iter().find_map(|h| method_result(h, method));
        let found = found.or_else(|| {
            (method == "spf")
                .then(|| raw_headers(msg, "Received-SPF").next())
                .flatten()
                .and_then(|v| {
                    let w = v.split_whitespace().next()?.to_ascii_lowercase();
                    Some(
                        w.trim_matches(|c: char| !c.is_ascii_alphabetic())
                            .to_owned(),
                    )
                })
        });
        if let Some(r) = found.filter(|r| !r.is_empty()) {
            f.insert(method.into(), r.into());
        }
    }
}

/// The result word after `method=` (at a word boundary) in an Authentication-Results value.
fn method_result(header: &str, method: &str) -> Option<String> {
    let lower = header.to_ascii_lowercase();
    let needle = format!("{method}=");
    let mut from = 0;
    while let Some(p) = lower.get(from..).and_then(|s| s.find(&needle)) {
        let at = from + p;
        let boundary = lower[..at]
            .chars()
            .next_back()
            .is_none_or(|c| c.is_whitespace() || c == ';' || c == '(');
        if boundary {
            let word: String = lower[at + needle.len()..]
                .chars()
                .take_while(|c| c.is_ascii_alphabetic())
                .collect();
            return (!word.is_empty()).then_some(word);
        }
        from = at + needle.len();
    }
    None
}

// ---------------------------------------------------------------- attachments

fn collect_attachments(msg: &Message<'_>, depth: usize, out: &mut Vec<Map<String, Value>>) {
    for part in msg.attachments() {
        if out.len() >= MAX_ATTACHMENTS {
            return;
        }
        let declared = part.content_type().map(|ct| match ct.subtype() {
            Some(sub) => format!("{}/{}", ct.ctype(), sub).to_ascii_lowercase(),
            None => ct.ctype().to_ascii_lowercase(),
        });
        let name = part
            .attachment_name()
            .or_else(|| part.content_location())
            .map(|n| n.rsplit(['/', '\\']).next().unwrap_or(n).trim().to_owned());
        let nested = match &part.body {
            PartType::Message(nested) => Some(nested),
            _ => None,
        };
        let mut fields = attachment_fields(
            name.as_deref(),
            declared.as_deref(),
            part.contents(),
            nested.is_some(),
        );
        if fields.get("sniffed_type").and_then(Value::as_str) == Some("pdf") {
            let links = pdf::links(part.contents());
            if !links.is_empty() {
                fields.insert("links".into(), links.into());
            }
        }
        out.push(fields);
        if let Some(nested) = nested
            && depth < MAX_NESTING
        {
            collect_attachments(nested, depth + 1, out);
        }
    }
}

// Extension lists, space-separated.

mod attachment;
mod links;
mod pdf;
pub mod phishing;
#[cfg(test)]
mod tests;

use attachment::*;
use links::*;
