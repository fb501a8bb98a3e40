//! Each finding kind on a message written to show it, and a near miss that must not.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use chrono::Utc;
use serde_json::Value;

use crate::normalize::eml::parse_document;

/// A message: extra headers, then a body (HTML when it starts with `<`).
fn mail(headers: &str, body: &str) -> String {
    let ctype = if body.trim_start().starts_with('<') {
        "text/html"
    } else {
        "text/plain"
    };
    let mut h = String::new();
    for line in headers.lines().map(str::trim).filter(|l| !l.is_empty()) {
        h.push_str(line);
        h.push_str("\r\n");
    }
    if !headers.contains("To:") {
        h.push_str("To: alice@corp.example\r\n");
    }
    if !headers.contains("Subject:") {
        h.push_str("Subject: Hello\r\n");
    }
    format!(
        "{h}Date: Tue, 3 Dec 2024 10:00:00 +0000\r\nMessage-ID: <m1@x>\r\nMIME-Version: 1.0\r\nContent-Type: {ctype}; charset=utf-8\r\n\r\n{body}\r\n"
    )
}

/// The message event's fields.
fn analysed(raw: &str) -> serde_json::Map<String, Value> {
    let events = parse_document(
        raw.as_bytes(),
        &Arc::from("t.eml"),
        &Arc::from("t"),
        Utc::now(),
    );
    let event = events.into_iter().next().unwrap().unwrap();
    serde_json::to_value(&event.fields)
        .unwrap()
        .as_object()
        .unwrap()
        .clone()
}

fn family<'a>(f: &'a serde_json::Map<String, Value>, name: &str) -> Option<&'a str> {
    f.get(&format!("phishing_{name}")).and_then(Value::as_str)
}

fn score(f: &serde_json::Map<String, Value>) -> u64 {
    f["phishing_score"].as_u64().unwrap()
}

const PLAIN: &str = "Hi Alice, the notes from Tuesday are in the shared folder. See you at lunch.";

#[test]
fn a_display_name_showing_another_address_is_a_sender_finding() {
    let f = analysed(&mail(
        "From: \"service@paypal.com\" <info@mailer-743.top>",
        PLAIN,
    ));
    assert!(family(&f, "sender").unwrap().contains("shows paypal.com"));
    let near = analysed(&mail(
        "From: \"info@shop.example\" <info@shop.example>",
        PLAIN,
    ));
    assert_eq!(family(&near, "sender"), None);
}

#[test]
fn an_organisation_over_a_free_mail_mailbox_is_a_sender_finding_a_person_is_not() {
    let f = analysed(&mail(
        "From: \"Account Security Team\" <secure.alerts.2291@gmail.com>",
        PLAIN,
    ));
    assert!(family(&f, "sender").unwrap().contains("free-mail"));
    let near = analysed(&mail(
        "From: \"Maria Souza\" <maria.souza@gmail.com>",
        PLAIN,
    ));
    assert_eq!(family(&near, "sender"), None);
}

#[test]
fn replies_diverted_to_free_mail_are_a_sender_finding_same_domain_replies_are_not() {
    let f = analysed(&mail(
        "From: Payroll <payroll@corp-hr.example>\nReply-To: payroll.dept@outlook.com",
        PLAIN,
    ));
    assert!(
        family(&f, "sender")
            .unwrap()
            .contains("free-mail mailbox (payroll.dept@outlook.com)")
    );
    let near = analysed(&mail(
        "From: Payroll <payroll@corp-hr.example>\nReply-To: hr@corp-hr.example",
        PLAIN,
    ));
    assert_eq!(family(&near, "sender"), None);
}

#[test]
fn a_brand_in_the_display_name_over_an_unrelated_domain_is_impersonation() {
    let f = analysed(&mail(
        "From: \"Microsoft account team\" <no-reply@access-accsecurity.com>",
        PLAIN,
    ));
    assert!(family(&f, "brand").unwrap().contains("names Microsoft"));
    let near = analysed(&mail(
        "From: \"Microsoft account team\" <account-security-noreply@accountprotection.microsoft.com>",
        PLAIN,
    ));
    assert_eq!(family(&near, "brand"), None);
}

#[test]
fn lookalike_sender_and_link_domains_are_found_ordinary_words_are_not() {
    let f = analysed(&mail("From: Billing <billing@paypa1.com>", PLAIN));
    assert!(family(&f, "lookalike").unwrap().contains("paypa1.com"));
    let f = analysed(&mail(
        "From: IT <it@corp.example>",
        "<a href=\"https://microsoft.login.secure-portal.top/x\">Open</a>",
    ));
    assert!(
        family(&f, "lookalike")
            .unwrap()
            .contains("dresses up with the name of Microsoft")
    );
    let f = analysed(&mail("From: IT <it@xn--pypal-4ve.com>", PLAIN));
    assert!(family(&f, "lookalike").unwrap().contains("PayPal"), "{f:?}");
    // One letter from a brand, but a word of its own; and the brand's own domain.
    let near = analysed(&mail("From: News <news@finance.com>", PLAIN));
    assert_eq!(family(&near, "lookalike"), None);
    let near = analysed(&mail("From: PayPal <service@paypal.com>", PLAIN));
    assert_eq!(family(&near, "lookalike"), None);
}

#[test]
fn failed_dmarc_is_an_auth_finding_a_pass_is_not() {
    let f = analysed(&mail(
        "From: Bank <alerts@bank.example>\nAuthentication-Results: mx; spf=fail smtp.mailfrom=x.example; dkim=none; dmarc=fail header.from=bank.example",
        PLAIN,
    ));
    assert!(family(&f, "auth").unwrap().contains("DMARC failed"));
    let near = analysed(&mail(
        "From: Bank <alerts@bank.example>\nAuthentication-Results: mx; spf=pass; dkim=pass; dmarc=pass",
        PLAIN,
    ));
    assert_eq!(family(&near, "auth"), None);
}

#[test]
fn risky_links_are_url_findings_an_ordinary_link_is_not() {
    let body = "Hi alice, the details: http://203.0.113.9/inv and https://bit.ly/3xYz and \
                https://docs-share.web.app/file and https://mail.corp.example@evil.example/a and \
                https://portal.example.top/login?user=alice@corp.example. Regards, the office team, \
                have a good week, more news next month about the summer programme and the garden.";
    let f = analysed(&mail("From: Office <office@corp.example>", body));
    let url = family(&f, "url").unwrap();
    for what in [
        "bare IP address",
        "shortener bit.ly",
        "free hosting",
        "after an '@'",
        ".top",
        "credentials",
        "reader's address",
    ] {
        assert!(url.contains(what), "{what} missing from {url}");
    }
    let near = analysed(&mail(
        "From: Office <office@corp.example>",
        "Hi Alice, the agenda is at https://www.corp.example/agenda/2024 as usual; the minutes of \
         last week are attached to the wiki page, and the room is booked for the whole afternoon so \
         we can also review the budget and the travel plans for the spring conference.",
    ));
    assert_eq!(family(&near, "url"), None);
}

#[test]
fn password_fields_forms_and_redirects_in_html_are_findings_plain_html_is_not() {
    let f = analysed(&mail(
        "From: Mail <admin@corp-mail.example>",
        "<html><head><meta http-equiv=\"refresh\" content=\"0;url=https://x.example/\"></head><body>\
         <form action=\"https://collect.example/p.php\" method=\"post\"><input type=\"password\" name=\"p\"></form>\
         </body></html>",
    ));
    let html = family(&f, "html").unwrap();
    assert!(
        html.contains("password field") && html.contains("meta refresh"),
        "{html}"
    );
    assert!(family(&f, "url").unwrap().contains("form"));
    let near = analysed(&mail(
        "From: Mail <admin@corp-mail.example>",
        "<html><body><p>The <b>quarterly</b> report is ready; the numbers look good and the team did a great job this quarter, thanks everyone.</p></body></html>",
    ));
    assert_eq!(family(&near, "html"), None);
}

fn with_attachment(name: &str, ctype: &str, body_text: &str, data_b64: &str) -> String {
    format!(
        "From: Invoices <billing@supplier.example>\r\nTo: alice@corp.example\r\nSubject: Documents\r\n\
         MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\n\
         Content-Type: text/plain\r\n\r\n{body_text}\r\n--b\r\nContent-Type: {ctype}; name=\"{name}\"\r\n\
         Content-Disposition: attachment; filename=\"{name}\"\r\nContent-Transfer-Encoding: base64\r\n\r\n\
         {data_b64}\r\n--b--\r\n"
    )
}

#[test]
fn dangerous_attachments_are_findings_a_pdf_is_not() {
    use base64::Engine as _;
    let b64 = |d: &[u8]| base64::engine::general_purpose::STANDARD.encode(d);
    let html = analysed(&with_attachment(
        "Remittance.html",
        "text/html",
        "See attached.",
        &b64(b"<html><script>location.href='https://x.example'</script></html>"),
    ));
    assert!(family(&html, "attachment").unwrap().contains("web page"));
    let iso = analysed(&with_attachment(
        "Order.iso",
        "application/octet-stream",
        "See attached.",
        &b64(b"CD001 data"),
    ));
    assert!(family(&iso, "attachment").unwrap().contains("runs code"));
    // A ZIP whose entry is flagged encrypted (general-purpose bit 0), password in the body.
    let mut zip = b"PK\x03\x04\x14\x00\x01\x00".to_vec();
    zip.extend_from_slice(&[0u8; 22]);
    zip.extend_from_slice(b"a.js");
    let enc = analysed(&with_attachment(
        "docs.zip",
        "application/zip",
        "The password is 4471.",
        &b64(&zip),
    ));
    assert!(
        family(&enc, "attachment")
            .unwrap()
            .contains("gives its password"),
        "{enc:?}"
    );
    let near = analysed(&with_attachment(
        "Invoice.pdf",
        "application/pdf",
        "See attached.",
        &b64(b"%PDF-1.7\n%.."),
    ));
    assert_eq!(family(&near, "attachment"), None);
}

#[test]
fn a_qr_code_image_is_decoded_and_its_link_judged_an_image_without_one_is_not() {
    use base64::Engine as _;
    let png = super::qr::tests::qr_png("https://mfa-renew.example.top/a?u=alice");
    let raw = with_attachment(
        "scan.png",
        "image/png",
        "Scan the code with your phone to keep your mailbox.",
        &base64::engine::general_purpose::STANDARD.encode(&png),
    );
    let f = analysed(&raw);
    assert!(
        family(&f, "qr").unwrap().contains("mfa-renew.example.top"),
        "{f:?}"
    );
    let events = parse_document(
        raw.as_bytes(),
        &Arc::from("t.eml"),
        &Arc::from("t"),
        Utc::now(),
    );
    let qr_event = events
        .iter()
        .filter_map(|e| e.as_ref().ok())
        .find(|e| e.fields.get("url_source").and_then(Value::as_str) == Some("qr_code"))
        .expect("a URL event for the QR link");
    assert_eq!(
        qr_event.fields.get("url_host").and_then(Value::as_str),
        Some("mfa-renew.example.top")
    );
    let blank = image::GrayImage::from_pixel(80, 80, image::Luma([255]));
    let mut buf = Vec::new();
    blank
        .write_to(&mut std::io::Cursor::new(&mut buf), image::ImageFormat::Png)
        .unwrap();
    let near = analysed(&with_attachment(
        "logo.png",
        "image/png",
        "Our logo.",
        &base64::engine::general_purpose::STANDARD.encode(&buf),
    ));
    assert_eq!(family(&near, "qr"), None);
}

#[test]
fn lures_are_found_in_english_portuguese_and_spanish_a_technical_mention_is_not() {
    for body in [
        "Dear customer, we noticed unusual sign-in activity. Verify your account within 24 hours.",
        "Prezado cliente, sua conta foi bloqueada. Atualize seus dados imediatamente.",
        "Estimado cliente, su paquete no pudo ser entregado: intento de entrega fallido.",
    ] {
        let f = analysed(&mail("From: x <x@sender.example>", body));
        assert!(family(&f, "lure").is_some(), "{body}");
    }
    let near = analysed(&mail(
        "From: dev <dev@list.example>",
        "The test suite resets the password of the build user; the patch is in the tracker.",
    ));
    assert_eq!(family(&near, "lure"), None);
}

#[test]
fn mixed_script_words_are_obfuscation_accented_words_are_not() {
    // 'Pаypal' with a Cyrillic 'а'.
    let f = analysed(&mail(
        "From: x <x@sender.example>\nSubject: P\u{0430}ypal notice",
        PLAIN,
    ));
    assert!(
        family(&f, "obfuscation")
            .unwrap()
            .contains("several scripts")
    );
    let f = analysed(&mail(
        "From: x <x@sender.example>\nSubject: Get_it_urgently_0.7495_BTC",
        PLAIN,
    ));
    assert!(family(&f, "obfuscation").unwrap().contains("separators"));
    let near = analysed(&mail(
        "From: x <x@sender.example>\nSubject: Atualização do relatório",
        PLAIN,
    ));
    assert_eq!(family(&near, "obfuscation"), None);
}

const PHISH: &str = "From: \"Microsoft account team\" <no-reply@access-accsecurity.com>
Reply-To: sotrecognizd@gmail.com
Subject: Microsoft account unusual signin activity
Authentication-Results: mx; spf=none; dkim=none; dmarc=permerror";

const PHISH_BODY: &str = "<html><body><p>We detected something unusual about a recent sign-in to the \
Microsoft account alice@corp.example. Unusual sign-in activity from Russia/Moscow.</p>\
<p>Please verify your account within 24 hours or it will be suspended.</p>\
<a href=\"https://account-live.secure-verify.top/login?e=alice@corp.example\">Review recent activity</a></body></html>";

#[test]
fn a_credential_phish_is_concluded_a_list_discussion_is_clean() {
    let f = analysed(&mail(PHISH, PHISH_BODY));
    assert!(score(&f) >= 60, "{f:?}");
    assert_eq!(f["phishing_verdict"], "phishing");
    let findings = f["phishing_findings"].as_array().unwrap();
    assert!(
        findings
            .iter()
            .all(|x| x["evidence"].as_str().is_some_and(|e| !e.is_empty()))
    );
    let ham = analysed(&mail(
        "From: Jo Dev <jo@devs.example>\nList-Id: <tools.lists.example>\nReply-To: tools@lists.example\nSubject: Re: [tools] password reset script fails on Outlook",
        "On Tue, Sam wrote:\n> the reset script fails\nIt needs the new LDAP bind; patch at https://git.devs.example/tools/commit/42 - \
         tested against Outlook and Thunderbird clients, works for me. Jo",
    ));
    assert_eq!(ham["phishing_verdict"], "clean", "{ham:?}");
}

#[test]
fn the_date_does_not_change_the_judgement() {
    let base = mail(PHISH, PHISH_BODY);
    let f = analysed(&base);
    for date in [
        "Mon, 1 Jan 2001 00:00:00 +0000",
        "Fri, 13 Aug 2032 23:59:59 -0700",
        "not a date",
    ] {
        let shuffled = base.replace("Tue, 3 Dec 2024 10:00:00 +0000", date);
        let g = analysed(&shuffled);
        assert_eq!(g["phishing_score"], f["phishing_score"], "{date}");
        assert_eq!(g["phishing_findings"], f["phishing_findings"], "{date}");
    }
}

#[test]
fn the_recipient_keys_the_case_and_no_finding_means_clean() {
    let f = analysed(&mail(
        "From: Jo <jo@corp.example>\nTo: Alice <Alice@corp.example>",
        PLAIN,
    ));
    assert_eq!(f["recipient"], "alice@corp.example");
    assert_eq!(f["phishing_verdict"], "clean");
    assert_eq!(score(&f), 0, "{f:?}");
    assert!(f["phishing_signals"].as_array().unwrap().is_empty());
}

#[test]
fn the_sender_of_a_forwarded_message_is_judged_a_forward_from_a_colleague_is_not() {
    let body = "________________________________\nDe: Microsoft account team <no-reply@micros0ft-alerts.com>\n\
                Enviado: sexta-feira, 13 de janeiro de 2023 00:55\nPara: alice@corp.example\n\
                Assunto: unusual sign-in activity\nWe detected something unusual.";
    let f = analysed(&mail(
        "From: Alice <alice@corp.example>\nSubject: Fw: unusual sign-in activity",
        body,
    ));
    let lookalike = family(&f, "lookalike").unwrap();
    assert!(
        lookalike.contains("in the forwarded message from no-reply@micros0ft-alerts.com"),
        "{lookalike}"
    );
    let near = "---------- Forwarded message ---------\nFrom: Bob <bob@corp.example>\nDate: Mon\n\
                Subject: lunch\nTo: alice@corp.example\nSee you at noon.";
    let g = analysed(&mail(
        "From: Alice <alice@corp.example>\nSubject: Fwd: lunch",
        near,
    ));
    assert!(
        g["phishing_findings"]
            .as_array()
            .unwrap()
            .iter()
            .all(|x| !x["evidence"].as_str().unwrap().contains("forwarded"))
    );
}

#[test]
fn scam_offers_are_a_lure_a_health_newsletter_sentence_is_not() {
    let f = analysed(&mail(
        "From: x <x@sender.example>",
        "This weird trick melts belly fat: lose weight fast, doctors hate it.",
    ));
    assert!(family(&f, "lure").unwrap().contains("scam offer"));
    let near = analysed(&mail(
        "From: x <x@clinic.example>",
        "The clinic moves to the new building on Monday; appointments are unchanged.",
    ));
    assert_eq!(family(&near, "lure"), None);
}

#[test]
fn machine_and_platform_senders_and_a_from_without_address_are_sender_findings() {
    let f = analysed(&mail(
        "From: Bank <alerts@45-33-35-202.ip.cloud-host.example>",
        PLAIN,
    ));
    assert!(family(&f, "sender").unwrap().contains("machine's address"));
    let f = analysed(&mail("From: noreply@project-42.firebaseapp.com", PLAIN));
    assert!(
        family(&f, "sender")
            .unwrap()
            .contains("app or hosting platform")
    );
    let f = analysed(&mail("From: Todays Winner!", PLAIN));
    assert!(
        family(&f, "sender").unwrap().contains("no valid address"),
        "{f:?}"
    );
    let near = analysed(&mail("From: Bank <alerts@bank-mail.example>", PLAIN));
    assert_eq!(family(&near, "sender"), None);
}

#[test]
fn replies_asked_to_a_free_mail_mailbox_in_the_text_or_a_mailto_link_are_sender_findings() {
    let f = analysed(&mail(
        "From: Dr Andrew <andrew@ministry.example>",
        "For the transfer of the funds, reply to my private email andrew.m.2291@gmail.com today.",
    ));
    assert!(
        family(&f, "sender")
            .unwrap()
            .contains("andrew.m.2291@gmail.com")
    );
    let f = analysed(&mail(
        "From: Security <security@service.example>",
        "<p>If this wasn't you, <a href=\"mailto:report.team77@outlook.com\">report the user</a>.</p>",
    ));
    assert!(
        family(&f, "sender")
            .unwrap()
            .contains("report.team77@outlook.com")
    );
    // The sender's own address, and an address mentioned without asking for a reply.
    let near = analysed(&mail(
        "From: Ana <ana.souza@gmail.com>",
        "Write to me at ana.souza@gmail.com; the minutes mention old.friend@yahoo.com once.",
    ));
    assert_eq!(family(&near, "sender"), None);
}

#[test]
fn a_brand_spelt_with_look_alike_characters_in_the_display_name_is_found() {
    let f = analysed(&mail(
        "From: Trust-WaIIet LTD <noreply@atera-mail.example>",
        PLAIN,
    ));
    assert!(
        family(&f, "obfuscation").unwrap().contains("Trust Wallet"),
        "{f:?}"
    );
    assert!(family(&f, "brand").unwrap().contains("Trust Wallet"));
    let near = analysed(&mail("From: Ian Illingworth <ian@corp.example>", PLAIN));
    assert_eq!(family(&near, "obfuscation"), None);
}

#[test]
fn a_reply_to_nothing_is_a_weak_sender_finding_a_real_reply_is_not() {
    let f = analysed(&mail(
        "From: x <x@sender.example>\nSubject: Re: Bitcoin details",
        PLAIN,
    ));
    assert!(family(&f, "sender").unwrap().contains("poses as a reply"));
    let near = analysed(&mail(
        "From: x <x@sender.example>\nSubject: Re: lunch\nIn-Reply-To: <a1@corp.example>",
        PLAIN,
    ));
    assert_eq!(family(&near, "sender"), None);
}

#[test]
fn a_display_name_that_is_a_call_to_action_is_a_sender_finding_a_name_is_not() {
    let f = analysed(&mail("From: Congratulations <news@mailer.example>", PLAIN));
    assert!(family(&f, "sender").unwrap().contains("call to action"));
    let near = analysed(&mail("From: Grace Winnerman <grace@corp.example>", PLAIN));
    assert_eq!(family(&near, "sender"), None);
}

#[test]
fn links_inside_a_pdf_attachment_are_judged_as_links_a_pdf_without_links_is_not() {
    use base64::Engine as _;
    let b64 = |d: &[u8]| base64::engine::general_purpose::STANDARD.encode(d);
    let pdf =
        b"%PDF-1.7\n1 0 obj << /A << /S /URI /URI (https://bit.ly/3xYz) >> >> endobj\n%%EOF\n";
    let raw = with_attachment(
        "Statement.pdf",
        "application/pdf",
        "See attached.",
        &b64(pdf),
    );
    let f = analysed(&raw);
    assert!(
        family(&f, "attachment")
            .unwrap()
            .contains("carries links (to bit.ly)"),
        "{f:?}"
    );
    assert!(family(&f, "url").unwrap().contains("shortener bit.ly"));
    let events = parse_document(
        raw.as_bytes(),
        &Arc::from("t.eml"),
        &Arc::from("t"),
        Utc::now(),
    );
    assert!(events.iter().filter_map(|e| e.as_ref().ok()).any(|e| {
        e.fields.get("url_source").and_then(Value::as_str) == Some("attachment")
            && e.fields.get("attachment_name").and_then(Value::as_str) == Some("Statement.pdf")
    }));
    let near = analysed(&with_attachment(
        "Invoice.pdf",
        "application/pdf",
        "See attached.",
        &b64(b"%PDF-1.7\n%%EOF\n"),
    ));
    assert_eq!(family(&near, "url"), None);
}
