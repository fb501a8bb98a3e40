//! The TCP side of a syslog listener: connection limits, the idle timeout, the optional TLS
//! handshake and the read loop that feeds each connection's [`Framer`].
//!
//! Limits, so that no sender can lock others out or grow the daemon's memory:
//! * at most `max_connections` open, and at most `max_connections_per_peer` from one IP
//!   address (an IPv4-mapped IPv6 address counts as its IPv4 address). A connection over
//!   either limit is accepted and reset at once (`SO_LINGER` 0): the sender sees its
//!   connection fail rather than a silent success. Counted in
//!   `nightwatch_input_connections_refused_total{input, reason="total"|"per_peer"}`.
//! * a connection that sends nothing for `idle_timeout` is closed (`reason="idle_timeout"` of
//!   `nightwatch_input_connections_closed_total`). Time blocked on a full pipeline is not idle:
//!   the timeout runs only while waiting for the socket.
//! * memory per connection: one read buffer of [`READ_BUFFER`] bytes and at most
//!   `max_message_bytes` held by the framer; a length prefix over the cap closes the connection
//!   (`reason="length_over_cap"` or `"bad_length"`).
//!
//! Refusals and closes for a bad prefix are logged at warn at most once per 10 s per reason,
//! with the count since the previous line; idle closes are routine and logged at debug.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use prometheus::{IntCounter, IntCounterVec, IntGauge};
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

use super::framing::{Frame, Framer, Invalid};
use super::throttle::Flood;
use super::tls::{HANDSHAKE_TIMEOUT, handshake_failure_reason};
use super::{RawRecord, SyslogSettings, message, record};
use crate::flow::channel::Sender;
use crate::metrics::Metrics;

/// Bytes read from a socket at a time.
pub const READ_BUFFER: usize = 8 * 1024;

/// How often pending throttled log lines are written.
const LOG_FLUSH: Duration = Duration::from_secs(1);

/// Which connection limit refused a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Refusal {
    Total,
    PerPeer,
}

/// Open connections, in total and per peer address.
#[derive(Debug)]
pub(super) struct Limits {
    max_total: usize,
    max_per_peer: usize,
    open: Mutex<Open>,
}

#[derive(Debug, Default)]
struct Open {
    total: usize,
    /// Only peers with an open connection: bounded by `max_total`.
    per_peer: HashMap<IpAddr, usize>,
}

/// One open connection's place; given back on drop.
#[derive(Debug)]
pub(super) struct Slot {
    limits: Arc<Limits>,
    peer: IpAddr,
}

impl Limits {
    pub(super) fn new(max_total: usize, max_per_peer: usize) -> Arc<Self> {
        Arc::new(Limits {
            max_total,
            max_per_peer,
            open: Mutex::default(),
        })
    }

    /// A place for a new connection from `peer`, or the limit it would exceed.
    pub(super) fn try_open(self: &Arc<Self>, peer: IpAddr) -> Result<Slot, Refusal> {
        let peer = match peer {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(peer, IpAddr::V4),
            v4 => v4,
        };
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        if open.total >= self.max_total {
            return Err(Refusal::Total);
        }
        let mine = open.per_peer.entry(peer).or_default();
        if *mine >= self.max_per_peer {
            return Err(Refusal::PerPeer);
        }
        *mine += 1;
        open.total += 1;
        Ok(Slot {
            limits: self.clone(),
            peer,
        })
    }

    #[cfg(test)]
    pub(super) fn open(&self) -> (usize, usize) {
        let open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        (open.total, open.per_peer.len())
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut open = self
            .limits
            .open
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        open.total = open.total.saturating_sub(1);
        if let Some(n) = open.per_peer.get_mut(&self.peer) {
            *n -= 1;
            if *n == 0 {
                open.per_peer.remove(&self.peer);
            }
        }
    }
}

/// Counters of one TCP listener.
struct Counters {
    records: IntCounter,
    oversize: IntCounter,
    connections: IntGauge,
    refused_total: Flood,
    refused_per_peer: Flood,
    closed_idle: IntCounter,
    over_cap: Flood,
    bad_length: Flood,
    handshake_failures: IntCounterVec,
    /// Failed handshakes so far, for logging at warn on powers of two only.
    handshakes_failed: AtomicU64,
}

impl Counters {
    fn new(m: &Metrics, input: &str) -> Self {
        let refused = |r| Flood::new(m.input.connections_refused.with_label_values(&[input, r]));
        let closed = |r| m.input.connections_closed.with_label_values(&[input, r]);
        Counters {
            records: m.input.records.with_label_values(&[input]),
            oversize: m
                .input
                .dropped
                .with_label_values(&[input, crate::metrics::input::dropped::OVERSIZE]),
            connections: m.input.connections.with_label_values(&[input]),
            refused_total: refused("total"),
            refused_per_peer: refused("per_peer"),
            closed_idle: closed("idle_timeout"),
            over_cap: Flood::new(closed(Invalid::LengthOverCap.reason())),
            bad_length: Flood::new(closed(Invalid::BadLength.reason())),
            handshake_failures: m.input.tls_handshake_failures.clone(),
            handshakes_failed: AtomicU64::new(0),
        }
    }

    fn refused(&self, why: Refusal) -> &Flood {
        match why {
            Refusal::Total => &self.refused_total,
            Refusal::PerPeer => &self.refused_per_peer,
        }
    }

    fn invalid(&self, why: Invalid) -> &Flood {
        match why {
            Invalid::LengthOverCap => &self.over_cap,
            Invalid::BadLength => &self.bad_length,
        }
    }

    /// Logs a refusal line when one is due (`count` refusals since the last line).
    fn log_refused(&self, input: &str, why: Refusal, count: Option<u64>, s: &SyslogSettings) {
        let Some(count) = count else { return };
        let (reason, key, limit) = match why {
            Refusal::Total => ("total", "max_connections", s.max_connections),
            Refusal::PerPeer => (
                "per_peer",
                "max_connections_per_peer",
                s.max_connections_per_peer,
            ),
        };
        tracing::warn!(input = %input, reason, refused = count, limit, "syslog connections refused: {key} reached (connections reset)");
    }

    fn log_invalid(&self, input: &str, why: Invalid, count: Option<u64>, max: usize) {
        let Some(count) = count else { return };
        tracing::warn!(input = %input, reason = why.reason(), closed = count, max_message_bytes = max, "syslog connections closed: unusable octet-counting length prefix");
    }

    /// Writes the throttled lines whose interval has passed.
    fn flush_logs(&self, input: &str, s: &SyslogSettings) {
        for why in [Refusal::Total, Refusal::PerPeer] {
            self.log_refused(input, why, self.refused(why).flush(), s);
        }
        for why in [Invalid::LengthOverCap, Invalid::BadLength] {
            self.log_invalid(input, why, self.invalid(why).flush(), s.max_message_bytes);
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

/// Accepts until `stop` fires.
pub(super) async fn run(
    input: Arc<str>,
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    s: SyslogSettings,
    raw: Sender<RawRecord>,
    stop: CancellationToken,
    metrics: &Metrics,
) {
    let c = Arc::new(Counters::new(metrics, &input));
    let limits = Limits::new(s.max_connections, s.max_connections_per_peer);
    let s = Arc::new(s);
    let mut flush = tokio::time::interval(LOG_FLUSH);
    flush.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let (stream, peer) = tokio::select! {
            _ = stop.cancelled() => return,
            _ = flush.tick() => {
                c.flush_logs(&input, &s);
                continue;
            }
            r = listener.accept() => match r {
                Ok(r) => r,
                Err(e) => {
                    // Out of descriptors, most likely: wait instead of spinning.
                    tracing::debug!(input = %input, error = %e, "tcp accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let slot = match limits.try_open(peer.ip()) {
            Ok(slot) => slot,
            Err(why) => {
                // Counted before the reset, so whoever sees the reset sees the count.
                c.log_refused(&input, why, c.refused(why).add(1), &s);
                reset(stream);
                continue;
            }
        };
        let conn = Conn {
            input: input.clone(),
            peer,
            s: s.clone(),
            raw: raw.clone(),
            c: c.clone(),
        };
        let (stop, tls) = (stop.clone(), tls.clone());
        tokio::spawn(async move {
            conn.c.connections.inc();
            let ended = tokio::select! {
                _ = stop.cancelled() => Ended::Eof,
                ended = conn.serve(stream, tls) => ended,
            };
            conn.ended(ended);
            conn.c.connections.dec();
            drop(slot);
        });
    }
}

/// Closes a connection with a reset, so the sender's next write fails instead of vanishing.
fn reset(stream: TcpStream) {
    if let Err(e) = socket2::SockRef::from(&stream).set_linger(Some(Duration::ZERO)) {
        tracing::debug!(error = %e, "SO_LINGER 0 failed; closing normally");
    }
}

/// How a connection ended.
#[derive(Debug)]
enum Ended {
    /// The sender closed it, the pipeline closed, or the daemon stops.
    Eof,
    /// Nothing received for the idle timeout.
    Idle,
    /// An unusable octet-counting length prefix.
    Invalid(Invalid),
    /// The TLS handshake failed (already counted and logged).
    Handshake,
    Failed(std::io::Error),
}

/// One accepted connection.
struct Conn {
    input: Arc<str>,
    peer: SocketAddr,
    s: Arc<SyslogSettings>,
    raw: Sender<RawRecord>,
    c: Arc<Counters>,
}

impl Conn {
    async fn serve(&self, stream: TcpStream, tls: Option<TlsAcceptor>) -> Ended {
        let Some(acceptor) = tls else {
            let source: Arc<str> = Arc::from(format!("tcp://{}", self.peer));
            return self.read(&source, stream).await;
        };
        let stream = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
            Ok(Ok(stream)) => stream,
            Ok(Err(e)) => {
                let reason = handshake_failure_reason(&e);
                self.c
                    .handshake_failed(&self.input, self.peer, reason, &e.to_string());
                return Ended::Handshake;
            }
            Err(_) => {
                self.c
                    .handshake_failed(&self.input, self.peer, "timeout", "no handshake in time");
                return Ended::Handshake;
            }
        };
        let source: Arc<str> = Arc::from(format!("tls://{}", self.peer));
        self.read(&source, stream).await
    }

    /// Reads frames until the stream ends, idles out or breaks its framing.
    async fn read<S: AsyncRead + Unpin>(&self, source: &Arc<str>, mut stream: S) -> Ended {
        let mut buf = vec![0u8; READ_BUFFER];
        let mut framer = Framer::new(self.s.max_message_bytes);
        let mut index = 0u64;
        loop {
            let n = match tokio::time::timeout(self.s.idle_timeout, stream.read(&mut buf)).await {
                Err(_) => return Ended::Idle,
                Ok(Err(e)) => return Ended::Failed(e),
                Ok(Ok(n)) => n,
            };
            let mut rest = &buf[..n];
            loop {
                let frame = if n == 0 {
                    framer.finish()
                } else {
                    framer.next(&mut rest)
                };
                let line = match frame {
                    None if n == 0 => return Ended::Eof,
                    None => break,
                    Some(Frame::Oversize) => {
                        self.c.oversize.inc();
                        continue;
                    }
                    Some(Frame::Invalid(why)) => return Ended::Invalid(why),
                    Some(Frame::Message(bytes)) => message(bytes),
                };
                let Some(line) = line else { continue };
                if self
                    .raw
                    .send(record(&self.input, source, index, line))
                    .await
                    .is_err()
                {
                    return Ended::Eof;
                }
                index += 1;
                self.c.records.inc();
            }
        }
    }

    /// Counts and logs how the connection ended.
    fn ended(&self, ended: Ended) {
        let (input, peer) = (&self.input, self.peer);
        match ended {
            Ended::Eof | Ended::Handshake => {}
            Ended::Idle => {
                self.c.closed_idle.inc();
                tracing::debug!(input = %input, peer = %peer, idle_timeout = ?self.s.idle_timeout, "syslog connection closed: idle");
            }
            Ended::Invalid(why) => {
                tracing::debug!(input = %input, peer = %peer, reason = why.reason(), "syslog connection closed: unusable length prefix");
                let count = self.c.invalid(why).add(1);
                self.c
                    .log_invalid(input, why, count, self.s.max_message_bytes);
            }
            Ended::Failed(e) => {
                tracing::debug!(input = %input, peer = %peer, error = %e, "syslog connection ended");
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn limits_count_per_peer_and_in_total_and_give_places_back() {
        let limits = Limits::new(3, 2);
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        let mapped: IpAddr = "::ffff:10.0.0.1".parse().unwrap();
        let a1 = limits.try_open(a).unwrap();
        let a2 = limits.try_open(a).unwrap();
        assert_eq!(limits.try_open(mapped).unwrap_err(), Refusal::PerPeer);
        let b1 = limits.try_open(b).unwrap();
        assert_eq!(limits.try_open(b).unwrap_err(), Refusal::Total);
        assert_eq!(limits.open(), (3, 2));
        drop(a1);
        let a3 = limits.try_open(mapped).unwrap();
        drop((a2, a3, b1));
        assert_eq!(
            limits.open(),
            (0, 0),
            "no peer entry outlives its connections"
        );
    }
}
