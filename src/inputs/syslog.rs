//! The `syslog` input: UDP and TCP listeners for syslog and firewall logs.
//!
//! * **UDP**: one message per datagram (RFC 5426; a trailing newline is trimmed). UDP cannot
//!   push back, so when the pipeline is full the datagram is dropped and counted in
//!   `nightwatch_input_dropped_total{reason="overload"}` — never silently. Best-effort delivery.
//! * **TCP**: framing is detected per connection from its first byte (RFC 6587): a digit means
//!   octet counting (`LEN SP MSG`), anything else newline-delimited (non-transparent framing).
//!   A full pipeline stops reading the socket, so backpressure reaches the sender through TCP
//!   flow control. Connections beyond `max_connections` are refused.
//! * **Size**: a message longer than `max_message_bytes` is dropped (`reason="oversize"`), the
//!   connection goes on with the next frame.
//! * **TLS** (TCP only, RFC 5425): with `tls = { cert, key }` every connection must complete a
//!   rustls handshake before its first frame; `client_ca` additionally requires a client
//!   certificate signed by that CA (mutual TLS). Both framings work inside TLS. A failed
//!   handshake (a plaintext sender, an untrusted client, a timeout) closes that connection only;
//!   it is counted in `nightwatch_input_tls_handshake_failures_total{input, reason}` and logged
//!   at warn on the 1st, 2nd, 4th, 8th, … failure (debug otherwise), so a misconfigured sender
//!   that reconnects in a loop cannot flood the log.
//!
//! Parsing (RFC 3164/5424 via `syslog_loose`, vendor formats) happens in the parse pool like
//! any other syslog line; the record's source is the peer, `udp://ADDR`, `tcp://ADDR` or
//! `tls://ADDR`, so the sending device is part of each event's origin.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use chrono::Utc;
use prometheus::IntCounter;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use serde::Deserialize;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, BufReader};
use tokio::net::{TcpListener, UdpSocket};
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

use super::{Payload, RawRecord};
use crate::event::Origin;
use crate::metrics::Metrics;
use crate::normalize::Format;
use crate::pipeline::ack::Ack;
use crate::pipeline::channel::Sender;

/// Transport of a syslog listener.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    Udp,
    Tcp,
}

/// A syslog listener's settings (from `[inputs.NAME] type = "syslog"`).
#[derive(Debug, Clone)]
pub struct SyslogSettings {
    pub listen: SocketAddr,
    pub protocol: Protocol,
    pub max_message_bytes: usize,
    pub max_connections: usize,
    /// TLS on a TCP listener.
    pub tls: Option<TlsFiles>,
}

/// `tls = { cert = "...", key = "...", client_ca = "..." }` of a TCP syslog input: PEM files.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsFiles {
    /// The server certificate chain, leaf first.
    pub cert: PathBuf,
    /// The server's private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
    /// CA certificates a client certificate must chain to; when set, clients must present one.
    #[serde(default)]
    pub client_ca: Option<PathBuf>,
}

/// How long a connection may take to complete its TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a listener could not start.
#[derive(Debug, thiserror::Error)]
pub enum ListenError {
    #[error("syslog input {input}: cannot listen on {addr}: {source}")]
    Bind {
        input: String,
        addr: SocketAddr,
        source: std::io::Error,
    },
    /// A TLS file is missing, unreadable or not usable.
    #[error("syslog input {input}: tls.{key} ({}): {message}", path.display())]
    Tls {
        input: String,
        key: &'static str,
        path: PathBuf,
        message: String,
    },
}

/// A bound listener, ready to run (binding first lets the daemon report the address and fail
/// at start-up rather than later).
pub enum Listener {
    Udp(UdpSocket),
    Tcp(TcpListener, Option<TlsAcceptor>),
}

impl Listener {
    /// Binds the configured address and loads the TLS certificate and key, if any.
    pub async fn bind(input: &str, s: &SyslogSettings) -> Result<Listener, ListenError> {
        let acceptor = match (&s.tls, s.protocol) {
            (Some(files), Protocol::Tcp) => Some(tls_acceptor(files).map_err(
                |(key, path, message)| ListenError::Tls {
                    input: input.to_owned(),
                    key,
                    path,
                    message,
                },
            )?),
            _ => None,
        };
        let err = |source| ListenError::Bind {
            input: input.to_owned(),
            addr: s.listen,
            source,
        };
        Ok(match s.protocol {
            Protocol::Udp => Listener::Udp(UdpSocket::bind(s.listen).await.map_err(err)?),
            Protocol::Tcp => {
                Listener::Tcp(TcpListener::bind(s.listen).await.map_err(err)?, acceptor)
            }
        })
    }

    /// The bound address (port 0 resolved).
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        match self {
            Listener::Udp(s) => s.local_addr(),
            Listener::Tcp(l, _) => l.local_addr(),
        }
    }
}

/// A file problem: (config key, path, message).
type TlsFileError = (&'static str, PathBuf, String);

/// The rustls server of a `tls` table (ring provider, TLS 1.2 and 1.3).
fn tls_acceptor(files: &TlsFiles) -> Result<TlsAcceptor, TlsFileError> {
    let certs = read_certs("cert", &files.cert)?;
    let key = PrivateKeyDer::from_pem_file(&files.key)
        .map_err(|e| ("key", files.key.clone(), e.to_string()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| ("cert", files.cert.clone(), e.to_string()))?;
    let builder = match &files.client_ca {
        None => builder.with_no_client_auth(),
        Some(ca) => {
            let problem = |e: &dyn std::fmt::Display| ("client_ca", ca.clone(), e.to_string());
            let mut roots = rustls::RootCertStore::empty();
            for cert in read_certs("client_ca", ca)? {
                roots.add(cert).map_err(|e| problem(&e))?;
            }
            let verifier =
                rustls::server::WebPkiClientVerifier::builder_with_provider(roots.into(), provider)
                    .build()
                    .map_err(|e| problem(&e))?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let config = builder
        .with_single_cert(certs, key)
        .map_err(|e| ("key", files.key.clone(), e.to_string()))?;
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// Every certificate of a PEM file; at least one.
fn read_certs(
    key: &'static str,
    path: &Path,
) -> Result<Vec<CertificateDer<'static>>, TlsFileError> {
    let problem = |e: &dyn std::fmt::Display| (key, path.to_owned(), e.to_string());
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| problem(&e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| problem(&e))?;
    if certs.is_empty() {
        return Err(problem(&"no CERTIFICATE block in the PEM file"));
    }
    Ok(certs)
}

/// Counters of one input.
#[derive(Clone)]
struct Counters {
    records: IntCounter,
    overload: IntCounter,
    oversize: IntCounter,
    connections: prometheus::IntGauge,
    handshake_failures: prometheus::IntCounterVec,
    /// Failed handshakes so far, for logging at warn on powers of two only.
    handshakes_failed: Arc<AtomicU64>,
}

impl Counters {
    fn new(m: &Metrics, input: &str) -> Self {
        Counters {
            records: m.input_records.with_label_values(&[input]),
            overload: m.input_dropped.with_label_values(&[input, "overload"]),
            oversize: m.input_dropped.with_label_values(&[input, "oversize"]),
            connections: m.input_connections.with_label_values(&[input]),
            handshake_failures: m.input_tls_handshake_failures.clone(),
            handshakes_failed: Arc::default(),
        }
    }

    /// Counts and (sparingly) logs a refused handshake.
    fn handshake_failed(&self, input: &str, peer: SocketAddr, reason: &'static str, error: &str) {
        self.handshake_failures
            .with_label_values(&[input, reason])
            .inc();
        let n = self.handshakes_failed.fetch_add(1, Ordering::Relaxed) + 1;
        if n.is_power_of_two() {
            tracing::warn!(input = %input, peer = %peer, reason = %reason, error = %error, failures = n, "syslog tls handshake failed");
        } else {
            tracing::debug!(input = %input, peer = %peer, reason = %reason, error = %error, "syslog tls handshake failed");
        }
    }
}

/// The bounded reason label of a failed handshake.
fn handshake_failure_reason(e: &std::io::Error) -> &'static str {
    use std::io::ErrorKind;
    if matches!(
        e.kind(),
        ErrorKind::UnexpectedEof | ErrorKind::ConnectionReset | ErrorKind::BrokenPipe
    ) {
        return "closed";
    }
    match e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) {
        Some(rustls::Error::InvalidMessage(_)) => "not_tls",
        Some(rustls::Error::NoCertificatesPresented) => "no_client_certificate",
        Some(rustls::Error::InvalidCertificate(_)) => "bad_certificate",
        Some(rustls::Error::AlertReceived(_)) => "alert",
        _ => "other",
    }
}

/// Receives until `stop` fires or the pipeline closes.
pub async fn run(
    input: Arc<str>,
    listener: Listener,
    settings: SyslogSettings,
    raw: Sender<RawRecord>,
    stop: CancellationToken,
    metrics: Arc<Metrics>,
) {
    let counters = Counters::new(&metrics, &input);
    match listener {
        Listener::Udp(socket) => udp(input, socket, settings, raw, stop, counters).await,
        Listener::Tcp(listener, tls) => {
            tcp(input, listener, tls, settings, raw, stop, counters).await
        }
    }
}

fn record(input: &Arc<str>, source: &Arc<str>, index: u64, line: String) -> RawRecord {
    RawRecord {
        origin: Origin {
            input: input.clone(),
            source: source.clone(),
            index,
        },
        received: Utc::now(),
        payload: Payload::Line {
            format: Format::Syslog,
            line,
        },
        ack: Ack::none(),
    }
}

/// The message text of a frame: lossy UTF-8, surrounding whitespace and NULs trimmed; `None`
/// when nothing is left.
fn message(bytes: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(bytes);
    let t = text.trim_matches(|c: char| c.is_whitespace() || c == '\0');
    (!t.is_empty()).then(|| t.to_owned())
}

async fn udp(
    input: Arc<str>,
    socket: UdpSocket,
    s: SyslogSettings,
    raw: Sender<RawRecord>,
    stop: CancellationToken,
    c: Counters,
) {
    // One byte more than allowed tells an oversize datagram from one of exactly the limit.
    let mut buf = vec![0u8; s.max_message_bytes.saturating_add(1).min(65_536)];
    let mut index = 0u64;
    let mut sources: std::collections::HashMap<SocketAddr, Arc<str>> = Default::default();
    loop {
        let (n, peer) = tokio::select! {
            _ = stop.cancelled() => return,
            r = socket.recv_from(&mut buf) => match r {
                Ok(r) => r,
                Err(e) => {
                    tracing::debug!(input = %input, error = %e, "udp receive failed");
                    continue;
                }
            },
        };
        if n > s.max_message_bytes {
            c.oversize.inc();
            continue;
        }
        let Some(line) = message(&buf[..n]) else {
            continue;
        };
        if sources.len() > 65_536 {
            sources.clear(); // bounded: senders are usually a handful of devices
        }
        let source = sources
            .entry(peer)
            .or_insert_with(|| Arc::from(format!("udp://{peer}")))
            .clone();
        match raw.try_send(record(&input, &source, index, line)) {
            Ok(true) => {
                index += 1;
                c.records.inc();
            }
            Ok(false) => c.overload.inc(),
            Err(_) => return,
        }
    }
}

async fn tcp(
    input: Arc<str>,
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    s: SyslogSettings,
    raw: Sender<RawRecord>,
    stop: CancellationToken,
    c: Counters,
) {
    let open = Arc::new(tokio::sync::Semaphore::new(s.max_connections));
    loop {
        let (stream, peer) = tokio::select! {
            _ = stop.cancelled() => return,
            r = listener.accept() => match r {
                Ok(r) => r,
                Err(e) => {
                    tracing::debug!(input = %input, error = %e, "tcp accept failed");
                    continue;
                }
            },
        };
        let Ok(permit) = open.clone().try_acquire_owned() else {
            tracing::warn!(input = %input, peer = %peer, max = s.max_connections, "syslog connection refused: too many open");
            continue;
        };
        let (input, raw, stop, c, max, tls) = (
            input.clone(),
            raw.clone(),
            stop.clone(),
            c.clone(),
            s.max_message_bytes,
            tls.clone(),
        );
        tokio::spawn(async move {
            c.connections.inc();
            let read = async {
                let Some(acceptor) = tls else {
                    let source: Arc<str> = Arc::from(format!("tcp://{peer}"));
                    return connection(&input, &source, stream, max, &raw, &c).await;
                };
                let stream =
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                        Ok(Ok(stream)) => stream,
                        Ok(Err(e)) => {
                            let reason = handshake_failure_reason(&e);
                            c.handshake_failed(&input, peer, reason, &e.to_string());
                            return Ok(());
                        }
                        Err(_) => {
                            c.handshake_failed(&input, peer, "timeout", "no handshake in time");
                            return Ok(());
                        }
                    };
                let source: Arc<str> = Arc::from(format!("tls://{peer}"));
                connection(&input, &source, stream, max, &raw, &c).await
            };
            tokio::select! {
                _ = stop.cancelled() => {}
                r = read => {
                    if let Err(e) = r {
                        tracing::debug!(input = %input, peer = %peer, error = %e, "syslog connection ended");
                    }
                }
            }
            c.connections.dec();
            drop(permit);
        });
    }
}

/// Reads one connection's frames until EOF; the framing is chosen by its first byte.
async fn connection<S: AsyncRead + Unpin>(
    input: &Arc<str>,
    source: &Arc<str>,
    stream: S,
    max: usize,
    raw: &Sender<RawRecord>,
    c: &Counters,
) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream);
    let octet_counting = match reader.fill_buf().await?.first() {
        None => return Ok(()),
        Some(b) => b.is_ascii_digit(),
    };
    let mut index = 0u64;
    let mut frame = Vec::new();
    loop {
        frame.clear();
        let complete = if octet_counting {
            read_counted(&mut reader, &mut frame, max).await?
        } else {
            read_line(&mut reader, &mut frame, max).await?
        };
        match complete {
            Frame::End => return Ok(()),
            Frame::Oversize => c.oversize.inc(),
            Frame::Message => {
                if let Some(line) = message(&frame) {
                    if raw.send(record(input, source, index, line)).await.is_err() {
                        return Ok(());
                    }
                    index += 1;
                    c.records.inc();
                }
            }
        }
    }
}

enum Frame {
    Message,
    Oversize,
    End,
}

/// `LEN SP MSG`. A malformed length ends the connection (the stream cannot be resynchronized).
async fn read_counted<R: AsyncBufReadExt + Unpin>(
    r: &mut R,
    frame: &mut Vec<u8>,
    max: usize,
) -> std::io::Result<Frame> {
    let mut len_digits = Vec::with_capacity(8);
    let n = r.read_until(b' ', &mut len_digits).await?;
    if n == 0 {
        return Ok(Frame::End);
    }
    let digits = std::str::from_utf8(&len_digits[..n.saturating_sub(1)])
        .ok()
        .map(|d| d.trim_start_matches(['\n', '\r']));
    let Some(len) = digits.and_then(|d| d.parse::<usize>().ok()) else {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "octet-counted frame without a valid length",
        ));
    };
    if len > max {
        let skipped = tokio::io::copy(&mut r.take(len as u64), &mut tokio::io::sink()).await?;
        return Ok(if skipped < len as u64 {
            Frame::End
        } else {
            Frame::Oversize
        });
    }
    frame.resize(len, 0);
    match r.read_exact(frame).await {
        Ok(_) => Ok(Frame::Message),
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Ok(Frame::End),
        Err(e) => Err(e),
    }
}

/// One newline-terminated line (a last line without newline counts at EOF). Lines longer
/// than `max` are consumed to their newline and reported as oversize.
async fn read_line<R: AsyncBufReadExt + Unpin>(
    r: &mut R,
    frame: &mut Vec<u8>,
    max: usize,
) -> std::io::Result<Frame> {
    let mut oversize = false;
    loop {
        let buf = r.fill_buf().await?;
        if buf.is_empty() {
            return Ok(match (frame.is_empty() && !oversize, oversize) {
                (true, _) => Frame::End,
                (_, true) => Frame::Oversize,
                _ => Frame::Message,
            });
        }
        let (chunk, done, found) = match memchr::memchr(b'\n', buf) {
            Some(i) => (&buf[..i], i + 1, true),
            None => (buf, buf.len(), false),
        };
        if !oversize {
            if frame.len() + chunk.len() > max {
                oversize = true;
                frame.clear();
            } else {
                frame.extend_from_slice(chunk);
            }
        }
        r.consume(done);
        if found {
            return Ok(if oversize {
                Frame::Oversize
            } else {
                Frame::Message
            });
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::pipeline::channel::{Receiver, bounded};
    use tokio::io::AsyncWriteExt;
    use tokio::net::TcpStream;

    async fn start(
        protocol: Protocol,
        capacity: usize,
    ) -> (
        SocketAddr,
        Receiver<RawRecord>,
        CancellationToken,
        Arc<Metrics>,
    ) {
        let m = Arc::new(Metrics::new().unwrap());
        let (tx, rx) = bounded::<RawRecord>("raw", capacity, &m);
        let s = SyslogSettings {
            listen: "127.0.0.1:0".parse().unwrap(),
            protocol,
            max_message_bytes: 64,
            max_connections: 4,
            tls: None,
        };
        let l = Listener::bind("net", &s).await.unwrap();
        let addr = l.local_addr().unwrap();
        let stop = CancellationToken::new();
        tokio::spawn(run(Arc::from("net"), l, s, tx, stop.clone(), m.clone()));
        (addr, rx, stop, m)
    }

    fn line(r: &RawRecord) -> &str {
        match &r.payload {
            Payload::Line { line, .. } => line,
            other => panic!("{other:?}"),
        }
    }

    async fn recv_n(rx: &Receiver<RawRecord>, n: usize) -> Vec<RawRecord> {
        let mut out = Vec::new();
        for _ in 0..n {
            out.push(
                tokio::time::timeout(std::time::Duration::from_secs(10), rx.recv())
                    .await
                    .unwrap()
                    .unwrap(),
            );
        }
        out
    }

    #[tokio::test]
    async fn tcp_newline_and_octet_counted_framing_per_connection() {
        let (addr, rx, stop, m) = start(Protocol::Tcp, 64).await;
        let mut a = TcpStream::connect(addr).await.unwrap();
        a.write_all(b"<34>Oct 11 22:14:15 host su: one\n<34>Oct 11 22:14:16 host su: two\r\n")
            .await
            .unwrap();
        a.write_all(&[b'x'; 100]).await.unwrap(); // oversize line, dropped
        a.write_all(b"\nlast without newline").await.unwrap();
        drop(a);
        let got = recv_n(&rx, 3).await;
        let lines: Vec<&str> = got.iter().map(line).collect();
        assert_eq!(
            lines,
            [
                "<34>Oct 11 22:14:15 host su: one",
                "<34>Oct 11 22:14:16 host su: two",
                "last without newline"
            ]
        );
        assert!(got[0].origin.source.starts_with("tcp://127.0.0.1:"));

        let mut b = TcpStream::connect(addr).await.unwrap();
        let msgs = [
            "<13>1 2026-11-21T10:00:00Z h app - - - multi\nline",
            "short",
        ];
        for msg in msgs {
            b.write_all(format!("{} {msg}", msg.len()).as_bytes())
                .await
                .unwrap();
        }
        b.write_all(format!("100 {}", "y".repeat(100)).as_bytes())
            .await
            .unwrap();
        b.write_all(b"3 end").await.unwrap();
        drop(b);
        let got = recv_n(&rx, 3).await;
        let lines: Vec<&str> = got.iter().map(line).collect();
        assert_eq!(lines, [msgs[0], msgs[1], "end"]);
        assert_eq!(
            m.input_dropped
                .with_label_values(&["net", "oversize"])
                .get(),
            2
        );
        assert_eq!(m.input_records.with_label_values(&["net"]).get(), 6);
        stop.cancel();
    }

    #[tokio::test]
    async fn unusable_tls_files_are_reported_with_key_and_path() {
        let dir = tempfile::tempdir().unwrap();
        let garbage = dir.path().join("garbage.pem");
        std::fs::write(&garbage, "not a pem file").unwrap();
        let settings = |cert: &Path, key: &Path| SyslogSettings {
            listen: "127.0.0.1:0".parse().unwrap(),
            protocol: Protocol::Tcp,
            max_message_bytes: 64,
            max_connections: 4,
            tls: Some(TlsFiles {
                cert: cert.to_owned(),
                key: key.to_owned(),
                client_ca: None,
            }),
        };
        let missing = dir.path().join("missing.pem");
        let Err(e) = Listener::bind("net", &settings(&missing, &garbage)).await else {
            panic!("bound without a certificate")
        };
        let shown = e.to_string();
        assert!(
            shown.contains("tls.cert") && shown.contains("missing.pem"),
            "{shown}"
        );
        let Err(e) = Listener::bind("net", &settings(&garbage, &garbage)).await else {
            panic!("bound without a certificate")
        };
        let shown = e.to_string();
        assert!(
            shown.contains("tls.cert") && shown.contains("no CERTIFICATE block"),
            "{shown}"
        );
    }

    #[tokio::test]
    async fn udp_counts_what_it_drops_when_the_pipeline_is_full() {
        let (addr, rx, stop, m) = start(Protocol::Udp, 2).await;
        let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        for i in 0..10 {
            sock.send_to(format!("<13>msg {i}\n").as_bytes(), addr)
                .await
                .unwrap();
        }
        sock.send_to(&[b'z'; 80], addr).await.unwrap();
        // Nothing is received yet: 2 fit, the rest are dropped and counted (loopback does
        // not lose datagrams, so every one is accounted for).
        let records = m.input_records.with_label_values(&["net"]);
        let overload = m.input_dropped.with_label_values(&["net", "overload"]);
        let oversize = m.input_dropped.with_label_values(&["net", "oversize"]);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while records.get() + overload.get() + oversize.get() < 11
            && std::time::Instant::now() < deadline
        {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        assert_eq!((records.get(), overload.get(), oversize.get()), (2, 8, 1));
        let got = recv_n(&rx, 2).await;
        assert_eq!(line(&got[0]), "<13>msg 0");
        assert!(got[0].origin.source.starts_with("udp://127.0.0.1:"));
        stop.cancel();
    }
}
