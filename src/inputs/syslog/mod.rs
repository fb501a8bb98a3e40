//! The `syslog` input: UDP and TCP listeners for syslog and firewall logs.
//!
//! * **UDP** ([`udp`]): one message per datagram (RFC 5426; a trailing newline is trimmed).
//!   The socket's receive buffer is sized from `receive_buffer_bytes` (`SO_RCVBUF`; the size the
//!   kernel grants is logged at start). UDP cannot push back: a datagram that finds the pipeline
//!   full is dropped and counted in `nightwatch_input_dropped_total{reason="overload"}`, and
//!   datagrams the kernel dropped because the receive buffer was full are read from
//!   `/proc/net/udp{,6}` every second and counted with `reason="kernel"`; both are logged at
//!   most once per 10 s with their count. Best-effort delivery, never silent loss.
//! * **TCP** ([`tcp`]): framing is detected per connection from its first byte (RFC 6587,
//!   [`framing`]): a digit means octet counting (`LEN SP MSG`), anything else newline-delimited.
//!   A full pipeline stops reading the socket, so backpressure reaches the sender through TCP
//!   flow control. Connections beyond `max_connections`, or beyond `max_connections_per_peer`
//!   from one address, are reset at once (the sender sees a reset, not a silent success) and
//!   counted in `nightwatch_input_connections_refused_total{reason}`; a connection silent for
//!   `idle_timeout_secs` is closed (`nightwatch_input_connections_closed_total`).
//! * **Size**: a message longer than `max_message_bytes` is dropped (`reason="oversize"`): a
//!   datagram, or a line skipped to its newline without being buffered. An octet-counting
//!   length prefix longer or larger than `max_message_bytes` closes the connection, since the
//!   stream cannot be resynchronized (`reason="length_over_cap"` or `"bad_length"`).
//! * **TLS** (TCP only, RFC 5425, [`tls`]): with `tls = { cert, key }` every connection must
//!   complete a rustls handshake before its first frame; `client_ca` additionally requires a
//!   client certificate signed by that CA (mutual TLS). Both framings work inside TLS. A failed
//!   handshake (a plaintext sender, an untrusted client, a timeout) closes that connection only;
//!   it is counted in `nightwatch_input_tls_handshake_failures_total{input, reason}` and logged
//!   at warn on the 1st, 2nd, 4th, 8th, … failure (debug otherwise), so a misconfigured sender
//!   that reconnects in a loop cannot flood the log.
//!
//! Parsing (RFC 3164/5424 via `syslog_loose`, vendor formats) happens in the parse pool like
//! any other syslog line; the record's source is the peer, `udp://ADDR`, `tcp://ADDR` or
//! `tls://ADDR`, so the sending device is part of each event's origin.

mod config;
pub mod framing;
mod tcp;
mod throttle;
mod tls;
mod udp;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use tokio::net::{TcpListener, UdpSocket};
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

use crate::event::Origin;
use crate::flow::ack::Ack;
use crate::flow::channel::Sender;
use crate::metrics::Metrics;
use crate::normalize::Format;
use crate::normalize::{Payload, RawRecord};

pub use config::SyslogInputConfig;
pub use framing::Framer;
pub use tls::TlsFiles;

/// Binds a `syslog` input's listener and starts it; the daemon does not wait for it.
pub async fn start(name: Arc<str>, cfg: &SyslogInputConfig, w: &super::Wiring) -> super::Started {
    let settings = cfg.settings(&format!("inputs.{name}"))?;
    let listener = Listener::bind(&name, &settings).await?;
    let bound = listener
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    let tls = settings.tls.is_some();
    tracing::info!(input = %name, protocol = %cfg.protocol, tls, addr = %bound, "syslog input listening");
    let w = w.clone();
    tokio::spawn(run(name, listener, settings, w.raw, w.stop, w.metrics));
    Ok(None)
}

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
    /// TCP: open connections at most.
    pub max_connections: usize,
    /// TCP: open connections from one IP address at most.
    pub max_connections_per_peer: usize,
    /// TCP: a connection that sends nothing for this long is closed.
    pub idle_timeout: Duration,
    /// UDP: the `SO_RCVBUF` asked of the kernel; 0 keeps the system default.
    pub receive_buffer_bytes: usize,
    /// TLS on a TCP listener.
    pub tls: Option<TlsFiles>,
}

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
    /// Binds the configured address, sizes a UDP socket's receive buffer and loads the TLS
    /// certificate and key, if any.
    pub async fn bind(input: &str, s: &SyslogSettings) -> Result<Listener, ListenError> {
        let acceptor = match (&s.tls, s.protocol) {
            (Some(files), Protocol::Tcp) => Some(tls::tls_acceptor(files).map_err(
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
            Protocol::Udp => {
                let socket = UdpSocket::bind(s.listen).await.map_err(err)?;
                udp::size_receive_buffer(input, &socket, s.receive_buffer_bytes);
                Listener::Udp(socket)
            }
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

/// Receives until `stop` fires or the pipeline closes.
pub async fn run(
    input: Arc<str>,
    listener: Listener,
    settings: SyslogSettings,
    raw: Sender<RawRecord>,
    stop: CancellationToken,
    metrics: Arc<Metrics>,
) {
    match listener {
        Listener::Udp(socket) => udp::run(input, socket, settings, raw, stop, &metrics).await,
        Listener::Tcp(listener, tls) => {
            tcp::run(input, listener, tls, settings, raw, stop, &metrics).await
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

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests;
