//! The syslog TCP listener with TLS, through the real daemon: RFC 5424 messages in both
//! framings over rustls, mutual TLS, and plaintext or certificate-less clients refused and
//! counted without disturbing the listener.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tokio::io::AsyncWriteExt;

use crate::helpers::{Daemon, counter, fixture, wait_metric};
use crate::pki::Pki;

/// The addresses of the syslog inputs, by input name, from the daemon's log.
fn listeners(daemon: &Daemon, count: usize) -> HashMap<String, SocketAddr> {
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut found = HashMap::new();
    while found.len() < count {
        let line = daemon
            .log
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .expect("syslog inputs did not report their addresses");
        if !line.contains("syslog input listening") {
            continue;
        }
        let field = |k: &str| {
            line.split(&format!("{k}="))
                .nth(1)
                .and_then(|r| r.split_whitespace().next())
                .map(str::to_owned)
        };
        if let (Some(input), Some(addr)) = (field("input"), field("addr")) {
            assert_eq!(field("tls").as_deref(), Some("true"), "{line}");
            found.insert(input, addr.parse().unwrap());
        }
    }
    found
}

fn rfc5424(i: usize) -> String {
    format!(
        "<38>1 2026-11-21T10:00:{:02}.000Z fw01 sshd 4242 - - failed password for root from 10.0.0.{} port 22 #{i}",
        i % 60,
        i % 250
    )
}

/// Sends `lines` over one TLS connection, newline-framed or octet-counted (RFC 6587).
async fn send_tls(
    connector: &tokio_rustls::TlsConnector,
    addr: SocketAddr,
    lines: &[String],
    octet_counting: bool,
) -> std::io::Result<()> {
    let tcp = tokio::net::TcpStream::connect(addr).await?;
    let name = rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap();
    let mut tls = connector.connect(name, tcp).await?;
    for l in lines {
        let frame = if octet_counting {
            format!("{} {l}", l.len())
        } else {
            format!("{l}\n")
        };
        tls.write_all(frame.as_bytes()).await?;
    }
    tls.shutdown().await?;
    Ok(())
}

const PARSED: &str = "nightwatch_events_parsed_total{format=\"syslog\"}";

fn records(input: &str) -> String {
    format!("nightwatch_input_records_total{{input=\"{input}\"}}")
}

fn refused(input: &str, reason: &str) -> String {
    format!(
        "nightwatch_input_tls_handshake_failures_total{{input=\"{input}\",reason=\"{reason}\"}}"
    )
}

#[test]
fn syslog_over_tls_in_both_framings_and_plaintext_clients_are_refused_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::generate(dir.path());
    let cfg = dir.path().join("n.toml");
    std::fs::write(
        &cfg,
        format!(
            "[rules]\npaths = [{rules:?}]\n[state]\ndir = {state:?}\n\
             [inputs.secure]\ntype = \"syslog\"\nprotocol = \"tcp\"\nlisten = \"127.0.0.1:0\"\n\
             tls = {{ cert = {cert:?}, key = {key:?} }}\n\
             [inputs.mutual]\ntype = \"syslog\"\nprotocol = \"tcp\"\nlisten = \"127.0.0.1:0\"\n\
             tls = {{ cert = {cert:?}, key = {key:?}, client_ca = {ca:?} }}\n",
            rules = fixture("rules").display().to_string(),
            state = dir.path().join("state").display().to_string(),
            cert = pki.server_cert.display().to_string(),
            key = pki.server_key.display().to_string(),
            ca = pki.ca.display().to_string(),
        ),
    )
    .unwrap();
    let daemon = Daemon::start(&["--config", &cfg.display().to_string()], &[]);
    let addrs = listeners(&daemon, 2);
    let (secure, mutual) = (addrs["secure"], addrs["mutual"]);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let lines: Vec<String> = (0..300).map(rfc5424).collect();
    let anonymous = pki.client(false);
    let with_cert = pki.client(true);

    // Both framings over TLS.
    rt.block_on(send_tls(&anonymous, secure, &lines[..100], false))
        .unwrap();
    rt.block_on(send_tls(&anonymous, secure, &lines[100..200], true))
        .unwrap();
    assert_eq!(wait_metric(daemon.addr, &records("secure"), 200), 200);
    assert_eq!(wait_metric(daemon.addr, PARSED, 200), 200);

    // Plaintext syslog to the TLS port: refused and counted; the listener carries on.
    for i in 0..5 {
        let mut plain = std::net::TcpStream::connect(secure).unwrap();
        plain
            .set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        writeln!(plain, "{}", rfc5424(1000 + i)).unwrap();
        // The server answers with an alert at most and closes the connection.
        let mut rest = Vec::new();
        let _ = plain.read_to_end(&mut rest);
        assert!(
            !String::from_utf8_lossy(&rest).contains("failed password"),
            "echoed plaintext"
        );
    }
    assert_eq!(
        wait_metric(daemon.addr, &refused("secure", "not_tls"), 5),
        5
    );
    rt.block_on(send_tls(&anonymous, secure, &lines[200..250], false))
        .unwrap();
    assert_eq!(wait_metric(daemon.addr, &records("secure"), 250), 250);

    // Mutual TLS: a client without a certificate is refused, one with a certificate from
    // the configured CA is read.
    let _ = rt.block_on(send_tls(&anonymous, mutual, &lines[..10], false));
    assert_eq!(
        wait_metric(daemon.addr, &refused("mutual", "no_client_certificate"), 1),
        1
    );
    rt.block_on(send_tls(&with_cert, mutual, &lines[250..300], true))
        .unwrap();
    assert_eq!(wait_metric(daemon.addr, &records("mutual"), 50), 50);
    assert_eq!(wait_metric(daemon.addr, PARSED, 300), 300);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        counter(daemon.addr, &records("secure")),
        250,
        "plaintext was read"
    );
    assert_eq!(
        counter(daemon.addr, &records("mutual")),
        50,
        "uncertified client was read"
    );

    let (code, log) = daemon.terminate(Duration::from_secs(30));
    assert_eq!(code, 0, "{log:#?}");
    // Logged sparingly: the 1st, 2nd and 4th of the five plaintext attempts at warn.
    let warned = log
        .iter()
        .filter(|l| l.contains("syslog tls handshake failed") && l.contains("input=secure"))
        .count();
    assert_eq!(warned, 3, "{log:#?}");
}
