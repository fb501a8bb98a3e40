//! The UDP side of a syslog listener: the receive loop, the socket's receive buffer
//! (`SO_RCVBUF`), and the datagrams the kernel dropped for want of buffer space.
//!
//! A datagram is lost in one of three places, each counted in
//! `nightwatch_input_dropped_total{input, reason}`: in the kernel when the receive buffer is
//! full (`kernel`, the `drops` column of `/proc/net/udp` or `/proc/net/udp6` for this socket's
//! inode, read every [`KERNEL_POLL`]), here when the pipeline is full (`overload`), or here when
//! it is longer than `max_message_bytes` (`oversize`). So on a host where nothing else drops
//! (loopback, no checksum errors), datagrams sent = records + the three drop counts.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use prometheus::IntCounter;
use tokio::net::UdpSocket;
use tokio_util::sync::CancellationToken;

use super::throttle::Flood;
use super::{RawRecord, SyslogSettings, message, record};
use crate::flow::channel::Sender;
use crate::metrics::Metrics;

/// How often the kernel's drop count of the socket is read.
const KERNEL_POLL: Duration = Duration::from_secs(1);

/// Asks the kernel for a `requested`-byte receive buffer (0: leave the system default) and
/// logs what it granted. Linux doubles the request for its bookkeeping and caps it at twice
/// `net.core.rmem_max`; a grant below the request is logged at warn with that hint.
pub(super) fn size_receive_buffer(input: &str, socket: &UdpSocket, requested: usize) {
    let sock = socket2::SockRef::from(socket);
    if requested > 0
        && let Err(e) = sock.set_recv_buffer_size(requested)
    {
        tracing::warn!(input = %input, requested, error = %e, "syslog udp receive buffer could not be set");
    }
    match sock.recv_buffer_size() {
        Ok(effective) if requested > 0 && effective < requested => tracing::warn!(
            input = %input,
            requested,
            effective,
            "syslog udp receive buffer smaller than requested: the kernel caps it (raise the sysctl net.core.rmem_max to at least the request)"
        ),
        Ok(effective) => {
            tracing::info!(input = %input, requested, effective, "syslog udp receive buffer")
        }
        Err(e) => {
            tracing::warn!(input = %input, error = %e, "syslog udp receive buffer size unknown")
        }
    }
}

struct Counters {
    records: IntCounter,
    oversize: IntCounter,
    overload: Flood,
    kernel: Flood,
}

impl Counters {
    fn new(m: &Metrics, input: &str) -> Self {
        let dropped = |reason| m.input.dropped.with_label_values(&[input, reason]);
        Counters {
            records: m.input.records.with_label_values(&[input]),
            oversize: dropped(crate::metrics::input::dropped::OVERSIZE),
            overload: Flood::new(dropped(crate::metrics::input::dropped::OVERLOAD)),
            kernel: Flood::new(dropped(crate::metrics::input::dropped::KERNEL)),
        }
    }

    fn log_overload(&self, input: &str, dropped: Option<u64>) {
        if let Some(dropped) = dropped {
            tracing::warn!(input = %input, dropped, "syslog udp datagrams dropped: the pipeline is full");
        }
    }

    fn log_kernel(&self, input: &str, dropped: Option<u64>) {
        if let Some(dropped) = dropped {
            tracing::warn!(input = %input, dropped, "syslog udp datagrams dropped by the kernel: the socket's receive buffer was full (raise receive_buffer_bytes and net.core.rmem_max)");
        }
    }
}

pub(super) async fn run(
    input: Arc<str>,
    socket: UdpSocket,
    s: SyslogSettings,
    raw: Sender<RawRecord>,
    stop: CancellationToken,
    metrics: &Metrics,
) {
    let c = Counters::new(metrics, &input);
    let mut kernel = KernelDrops::new(&input, &socket);
    let mut tick = tokio::time::interval(KERNEL_POLL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // One byte more than allowed tells an oversize datagram from one of exactly the limit.
    let mut buf = vec![0u8; s.max_message_bytes.saturating_add(1).min(65_536)];
    let mut index = 0u64;
    let mut sources: std::collections::HashMap<SocketAddr, Arc<str>> = Default::default();
    loop {
        let (n, peer) = tokio::select! {
            _ = stop.cancelled() => return,
            _ = tick.tick() => {
                if let Some(dropped) = kernel.poll().await {
                    c.log_kernel(&input, c.kernel.add(dropped));
                }
                c.log_kernel(&input, c.kernel.flush());
                c.log_overload(&input, c.overload.flush());
                continue;
            }
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
            Ok(false) => c.log_overload(&input, c.overload.add(1)),
            Err(_) => return,
        }
    }
}

/// The kernel's drop count of one socket, read from `/proc/net/udp` (IPv4) or
/// `/proc/net/udp6` (IPv6) by the socket's inode.
struct KernelDrops {
    /// The socket's inode and table; `None` where `/proc` does not tell (not Linux).
    socket: Option<(u64, &'static str)>,
    /// The last count read (a 32-bit counter in the kernel, so differences wrap).
    last: u32,
}

impl KernelDrops {
    fn new(input: &str, socket: &UdpSocket) -> Self {
        let table = match socket.local_addr() {
            Ok(SocketAddr::V6(_)) => "/proc/net/udp6",
            _ => "/proc/net/udp",
        };
        let socket = socket_inode(socket).map(|inode| (inode, table));
        if socket.is_none() {
            tracing::info!(input = %input, "kernel drops of the syslog udp socket are not observable here (no /proc): nightwatch_input_dropped_total{{reason=\"kernel\"}} stays 0");
        }
        KernelDrops { socket, last: 0 }
    }

    /// Datagrams dropped since the last call, when any.
    async fn poll(&mut self) -> Option<u64> {
        let (inode, table) = self.socket?;
        let text = tokio::fs::read_to_string(table).await.ok()?;
        let now = kernel_drops(&text, inode)?;
        let delta = now.wrapping_sub(self.last);
        self.last = now;
        (delta > 0).then_some(u64::from(delta))
    }
}

/// The inode of a socket, from the `/proc/self/fd` link of its descriptor (`socket:[N]`).
fn socket_inode(socket: &UdpSocket) -> Option<u64> {
    #[cfg(unix)]
    {
        use std::os::fd::AsRawFd;
        let link = std::fs::read_link(format!("/proc/self/fd/{}", socket.as_raw_fd())).ok()?;
        link.to_str()?
            .strip_prefix("socket:[")?
            .strip_suffix(']')?
            .parse()
            .ok()
    }
    #[cfg(not(unix))]
    {
        let _ = socket;
        None
    }
}

/// The `drops` column of the socket with `inode` in a `/proc/net/udp` or `/proc/net/udp6`
/// table (columns: `sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt
/// uid timeout inode ref pointer drops`).
fn kernel_drops(table: &str, inode: u64) -> Option<u32> {
    table.lines().skip(1).find_map(|line| {
        let mut columns = line.split_whitespace();
        if columns.nth(9)?.parse::<u64>().ok()? != inode {
            return None;
        }
        columns.nth(2)?.parse().ok()
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    const TABLE: &str = "   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops
  229: 00000000:0044 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 18754 2 0000000000000000 0
 1050: 0100007F:A2C3 00000000:0000 07 00000000:00001200 00:00000000 00000000  1000        0 991234 2 0000000000000000 85556
";

    #[test]
    fn the_drops_column_of_our_inode() {
        assert_eq!(kernel_drops(TABLE, 991234), Some(85_556));
        assert_eq!(kernel_drops(TABLE, 18754), Some(0));
        assert_eq!(kernel_drops(TABLE, 1), None);
        assert_eq!(kernel_drops("garbage\n1: x y\n", 1), None);
        assert_eq!(kernel_drops("", 1), None);
    }

    /// A real socket, read back from this machine's table, and the drops of a socket nobody
    /// reads: a tiny buffer, a burst, and the kernel counts what did not fit.
    #[tokio::test]
    async fn kernel_drops_of_a_real_socket_are_read() {
        let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let mut drops = KernelDrops::new("t", &socket);
        if drops.socket.is_none() {
            return; // no /proc here
        }
        size_receive_buffer("t", &socket, 1);
        assert_eq!(drops.poll().await, None, "a fresh socket dropped nothing");
        let sender = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let to = socket.local_addr().unwrap();
        let mut sent = 0u64;
        for _ in 0..500 {
            if sender.send_to(&[b'x'; 512], to).is_ok() {
                sent += 1;
            }
        }
        let dropped = drops.poll().await.expect("drops seen");
        assert!(dropped > 0 && dropped < sent, "{dropped} of {sent}");
        // Queued = sent - dropped: read them all, then nothing new is counted.
        let mut buf = [0u8; 1024];
        let mut queued = 0;
        socket.readable().await.unwrap();
        while socket.try_recv_from(&mut buf).is_ok() {
            queued += 1;
        }
        assert_eq!(queued + dropped, sent);
        assert_eq!(drops.poll().await, None);
    }
}
