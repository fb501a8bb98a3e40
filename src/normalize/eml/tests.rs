//! Tests of the email parser.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;
use proptest::prelude::*;
use std::collections::BTreeMap;
use std::path::PathBuf;

const FIXTURE: &str = "From nobody Mon May  1 10:00:00 2024\r
Received: from mx.corp.example (mx.corp.example [10.0.0.5])\r
\tby mail.corp.example with ESMTP id 1; Wed, 1 May 2024 10:00:05 +0000\r
Received: from sender.bad.example (sender.bad.example [198.51.100.23])\r
\tby mx.corp.example with ESMTPS id 2; Wed, 1 May 2024 09:59:58 +0000\r
Authentication-Results: mx.corp.example; spf=softfail smtp.mailfrom=bad.example;\r
\tdkim=none; dmarc=fail (p=reject) header.from=paypal.example\r
Return-Path: <bounce@bad.example>\r
From: \"PayPal Service\" <service@paypal.example>\r
Reply-To: help@bad.example\r
To: Alice <Alice@corp.example>, bob@corp.example\r
Cc: carol@corp.example\r
Subject: Your account is limited\r
Date: Wed, 1 May 2024 11:59:50 +0200\r
Message-ID: <abc123@bad.example>\r
X-Mailer: PHPMailer 6.0\r
MIME-Version: 1.0\r
Content-Type: multipart/mixed; boundary=\"b1\"\r
\r
--b1\r
Content-Type: multipart/alternative; boundary=\"b2\"\r
\r
--b2\r
Content-Type: text/plain; charset=utf-8\r
\r
Dear   customer,\r
please verify at https://login.bad.example/verify?id=1. Thanks!\r
--b2\r
Content-Type: text/html; charset=utf-8\r
\r
<html><body><a href=\"https://login.bad.example/verify?id=1&amp;x=2\">https://www.paypal.example/signin</a>\r
<A HREF='http://paypal.example/help'>Help <b>center</b></A> <a href=\"mailto:x@y.z\">mail</a>\r
<form method=post action=\"https://collect.bad.example/post\"></form></body></html>\r
--b2--\r
--b1\r
Content-Type: application/octet-stream; name=\"invoice.pdf.exe\"\r
Content-Disposition: attachment; filename=\"invoice.pdf.exe\"\r
\r
MZ this program cannot be run in DOS mode\r
--b1\r
Content-Type: application/vnd.ms-word.document.macroEnabled.12; name=\"report.docx\"\r
Content-Disposition: attachment; filename=\"report.docx\"\r
Content-Transfer-Encoding: base64\r
\r
UEsDBBQAAAAIAAAAAAAAAAAAAAAAAAAAAABbQ29udGVudF9UeXBlc10ueG1sUEsDBHdvcmQvdmJhUHJvamVjdC5iaW53b3JkL2RvY3VtZW50LnhtbA==\r
--b1\r
Content-Type: application/msword; name=\"scan.doc\"\r
Content-Disposition: attachment; filename=\"scan.doc\"\r
Content-Transfer-Encoding: base64\r
\r
0M8R4KGxGuEAAAAAAAAAAFcAbwByAGQARABvAGMAdQBtAGUAbgB0AF8AVgBCAEEAXwBQAFIATwBKAEUAQwBUAA==\r
--b1--\r
";

fn parse(bytes: &[u8]) -> Vec<Result<Event, ParseError>> {
    parse_document(bytes, &Arc::from("m.eml"), &Arc::from("test"), Utc::now())
}

fn s<'a>(e: &'a Event, k: &str) -> Option<std::borrow::Cow<'a, str>> {
    e.fields.get_str(k)
}

#[test]
fn message_event_fields() {
    assert!(sniff(FIXTURE.as_bytes()));
    let out = parse(FIXTURE.as_bytes());
    let events: Vec<&Event> = out.iter().map(|r| r.as_ref().unwrap()).collect();
    let m = events[0];
    assert_eq!(
        m.logsource,
        LogSource::new(Some("email"), Some("email_message"), None)
    );
    assert_eq!(m.host, None);
    assert_eq!(s(m, "From").as_deref(), Some("service@paypal.example"));
    assert_eq!(s(m, "from_name").as_deref(), Some("PayPal Service"));
    assert_eq!(s(m, "Reply-To").as_deref(), Some("help@bad.example"));
    assert_eq!(s(m, "Return-Path").as_deref(), Some("bounce@bad.example"));
    assert_eq!(m.fields.get("reply_to_mismatch"), Some(&Value::Bool(true)));
    assert_eq!(m.fields.get("To").unwrap().as_array().unwrap().len(), 2);
    assert_eq!(s(m, "recipient").as_deref(), Some("alice@corp.example"));
    assert_eq!(s(m, "Message-ID").as_deref(), Some("abc123@bad.example"));
    assert_eq!(s(m, "X-Mailer").as_deref(), Some("PHPMailer 6.0"));
    assert_eq!(m.time.to_rfc3339(), "2024-05-01T09:59:50+00:00");
    assert_eq!(s(m, "spf").as_deref(), Some("softfail"));
    assert_eq!(s(m, "dkim").as_deref(), Some("none"));
    assert_eq!(s(m, "dmarc").as_deref(), Some("fail"));
    assert_eq!(s(m, "originating_ip").as_deref(), Some("198.51.100.23"));
    let ips = m.fields.get("received_ips").unwrap();
    assert_eq!(ips, &serde_json::json!(["10.0.0.5", "198.51.100.23"]));
    assert!(s(m, "received.0.by").is_none(), "hops are an array");
    let hops = m.fields.get("received").unwrap().as_array().unwrap();
    assert_eq!(hops[1]["from"], "sender.bad.example");
    assert!(
        s(m, "body_excerpt")
            .unwrap()
            .starts_with("Dear customer, please verify")
    );
    assert_eq!(m.fields.get("attachment_count"), Some(&Value::from(3)));
    assert_eq!(m.origin.index, 0);
}

#[test]
fn attachments_are_classified() {
    let out = parse(FIXTURE.as_bytes());
    let events: Vec<&Event> = out.iter().map(|r| r.as_ref().unwrap()).collect();
    let by_name: BTreeMap<String, &Event> = events
        .iter()
        .filter(|e| e.logsource.category.as_deref() == Some("email_attachment"))
        .map(|e| (s(e, "file_name").unwrap().into_owned(), *e))
        .collect();
    let exe = by_name["invoice.pdf.exe"];
    assert_eq!(exe.origin.index, 1);
    assert_eq!(s(exe, "sniffed_type").as_deref(), Some("pe"));
    assert_eq!(exe.fields.get("double_extension"), Some(&Value::Bool(true)));
    assert_eq!(
        exe.fields.get("extension_mismatch"),
        Some(&Value::Bool(false))
    );
    assert_eq!(s(exe, "message_id").as_deref(), Some("abc123@bad.example"));
    assert_eq!(s(exe, "email_id").as_deref(), Some(events[0].id.as_str()));
    assert_eq!(s(exe, "sha256").unwrap().len(), 64);
    assert_eq!(s(exe, "md5").unwrap().len(), 32);
    let docx = by_name["report.docx"];
    assert_eq!(s(docx, "sniffed_type").as_deref(), Some("docx"));
    assert_eq!(docx.fields.get("has_vba"), Some(&Value::Bool(true)));
    assert_eq!(docx.fields.get("macro_capable"), Some(&Value::Bool(true)));
    assert_eq!(docx.fields.get("archive"), Some(&Value::Bool(false)));
    let doc = by_name["scan.doc"];
    assert_eq!(s(doc, "sniffed_type").as_deref(), Some("doc"));
    assert_eq!(doc.fields.get("macro_capable"), Some(&Value::Bool(true)));
    let f = attachment_fields(Some("photo.jpg"), None, b"PK\x03\x04rest", false);
    assert_eq!(f["extension_mismatch"], true);
    assert_eq!(f["archive"], true);
    assert_eq!(f["sniffed_type"], "zip");
}

#[test]
fn urls_and_domain_mismatch() {
    let out = parse(FIXTURE.as_bytes());
    let urls: Vec<&Event> = out
        .iter()
        .map(|r| r.as_ref().unwrap())
        .filter(|e| e.logsource.category.as_deref() == Some("email_url"))
        .collect();
    assert!(urls.iter().all(|u| u.origin.index >= 4));
    let href = urls
        .iter()
        .find(|u| s(u, "anchor_domain").as_deref() == Some("www.paypal.example"))
        .unwrap();
    assert_eq!(
        s(href, "url").as_deref(),
        Some("https://login.bad.example/verify?id=1&x=2")
    );
    assert_eq!(s(href, "url_host").as_deref(), Some("login.bad.example"));
    assert_eq!(
        href.fields.get("text_domain_mismatch"),
        Some(&Value::Bool(true))
    );
    let help = urls
        .iter()
        .find(|u| s(u, "url").as_deref() == Some("http://paypal.example/help"))
        .unwrap();
    assert_eq!(s(help, "anchor_text").as_deref(), Some("Help center"));
    assert_eq!(
        help.fields.get("text_domain_mismatch"),
        Some(&Value::Bool(false))
    );
    assert!(
        urls.iter()
            .any(|u| s(u, "url_source").as_deref() == Some("html_form"))
    );
    let text = urls
        .iter()
        .find(|u| s(u, "url_source").as_deref() == Some("text"))
        .unwrap();
    assert_eq!(
        s(text, "url").as_deref(),
        Some("https://login.bad.example/verify?id=1")
    );
    assert!(
        urls.iter()
            .all(|u| !s(u, "url").unwrap().starts_with("mailto"))
    );
    assert_eq!(
        url_host("https://paypal.com@evil.example:8443/x").as_deref(),
        Some("evil.example")
    );
    assert_eq!(visible_domain("Open invoice.pdf now"), None);
}

#[test]
fn sniff_and_errors() {
    assert!(sniff(b"Received: from a\r\n\tby b\r\nFrom: x@y\r\n"));
    assert!(sniff(
        b"Replied: yes\nReturn-Path: <a@b>\nDelivered-To: c@d\n"
    ));
    assert!(sniff(
        b"HELO example.com\nMAIL FROM:<a@b>\nDATA\nFrom: a@b\n"
    ));
    assert!(!sniff(b"phish_id,url,phish_detail_url\n1,http://x,y\n"));
    assert!(!sniff(b"https://a.example/x\nhttps://b.example/y\n"));
    assert!(!sniff(b"2024-05-01 host sshd[1]: Accepted\n"));
    assert!(!sniff(b"{\"a\": 1}"));
    let err = parse(b"https://a.example/x\nhttps://b.example/y\n");
    assert_eq!(err.len(), 1);
    let err = err[0].as_ref().unwrap_err();
    assert_eq!(err.format, Format::Eml);
    assert_eq!(err.position, Position::Byte(0));
    let bsmtp = parse(
        b"HELO h\nMAIL FROM:<a@b.example>\nDATA\nFrom: a@b.example\nSubject: hi\n\nbody\n.\nQUIT\n",
    );
    let m = bsmtp[0].as_ref().unwrap();
    assert_eq!(s(m, "Subject").as_deref(), Some("hi"));
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..1024)) {
        let _ = sniff(&bytes);
        let _ = parse(&bytes);
        let mut doc = FIXTURE.as_bytes()[..FIXTURE.len() / 2].to_vec();
        doc.extend_from_slice(&bytes);
        let _ = parse(&doc);
        let s = String::from_utf8_lossy(&bytes);
        let _ = html_links(&s);
        let _ = text_urls(&s);
        let _ = decode_entities(&s);
        let _ = visible_domain(&s);
        let _ = sniff_content(&bytes, Some("js"), false);
    }
}

fn shared_root() -> Option<PathBuf> {
    crate::testutil::shared("").filter(|p| p.join("data/eml/ground_truth.csv").exists())
}

/// Not emails although shipped as `.eml`: SpamAssassin's phishing feed fixtures.
const NOT_EMAIL: &[&str] = &[
    "spamassassin/phishing__openphish-feed.txt.eml",
    "spamassassin/phishing__phishtank-feed.csv.eml",
];

#[test]
fn corpus_matches_ground_truth() {
    let Some(root) = shared_root() else {
        eprintln!("note: shared email data absent, corpus test skipped");
        return;
    };
    let dir = root.join("data/eml");
    let gt = std::fs::read_to_string(dir.join("ground_truth.csv")).unwrap();
    let files: Vec<&str> = gt
        .lines()
        .skip(1)
        .filter_map(|l| l.split(',').next())
        .filter(|f| !f.is_empty())
        .collect();
    let mut per_folder: BTreeMap<&str, [usize; 6]> = BTreeMap::new();
    let (mut bytes_total, mut events_total) = (0usize, 0usize);
    let mut elapsed = std::time::Duration::ZERO;
    let mut failures = Vec::new();
    for file in &files {
        let data = std::fs::read(dir.join(file)).unwrap();
        let t0 = std::time::Instant::now();
        let sniffed = sniff(&data[..data.len().min(4096)]);
        let out = parse_document(&data, &Arc::from(*file), &Arc::from("corpus"), Utc::now());
        elapsed += t0.elapsed();
        bytes_total += data.len();
        events_total += out.len();
        let folder = file.split('/').next().unwrap();
        let c = per_folder.entry(folder).or_default();
        let errors = out.iter().filter(|r| r.is_err()).count();
        let parsed = out.first().is_some_and(|r| r.is_ok());
        if NOT_EMAIL.contains(file) {
            assert!(!sniffed && errors == 1, "{file} is not an email");
        } else if !sniffed || errors > 0 {
            let e = out.iter().find_map(|r| r.as_ref().err());
            failures.push(format!("{file}: sniff {sniffed}, {e:?}"));
        }
        let cat = |c: &str| {
            out.iter()
                .flatten()
                .filter(|e| e.logsource.category.as_deref() == Some(c))
                .count()
        };
        *c = [
            c[0] + 1,
            c[1] + usize::from(parsed),
            c[2] + out.len() - errors,
            c[3] + errors,
            c[4] + cat("email_attachment"),
            c[5] + cat("email_url"),
        ];
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
    for (folder, [files, emails, events, errors, att, urls]) in &per_folder {
        let want = files - NOT_EMAIL.iter().filter(|f| f.starts_with(folder)).count();
        eprintln!(
            "eml corpus {folder}: files {files}, emails {emails} (ground truth {want}), events {events} ({att} attachments, {urls} URLs), errors {errors}"
        );
        assert_eq!(*emails, want, "{folder}: emails parsed");
    }
    let secs = elapsed.as_secs_f64().max(1e-9);
    eprintln!(
        "eml throughput: {:.0} events/s, {:.0} emails/s, {:.1} MB/s{}",
        events_total as f64 / secs,
        files.len() as f64 / secs,
        bytes_total as f64 / secs / 1e6,
        if cfg!(debug_assertions) {
            " (debug build)"
        } else {
            ""
        }
    );
}
