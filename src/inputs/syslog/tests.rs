//! Listener tests: framing, limits and drop accounting through real sockets.

use std::path::Path;

use super::*;
use crate::flow::channel::{Receiver, bounded};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};

fn settings(protocol: Protocol) -> SyslogSettings {
    SyslogSettings {
        listen: "127.0.0.1:0".parse().unwrap(),
        protocol,
        max_message_bytes: 64,
        max_connections: 4,
        max_connections_per_peer: 4,
        idle_timeout: Duration::from_secs(3600),
        receive_buffer_bytes: 0,
        tls: None,
    }
}

async fn start(
    protocol: Protocol,
    capacity: usize,
) -> (
    SocketAddr,
    Receiver<RawRecord>,
    CancellationToken,
    Arc<Metrics>,
) {
    start_with(settings(protocol), capacity).await
}

async fn start_with(
    s: SyslogSettings,
    capacity: usize,
) -> (
    SocketAddr,
    Receiver<RawRecord>,
    CancellationToken,
    Arc<Metrics>,
) {
    let m = Arc::new(Metrics::new().unwrap());
    let (tx, rx) = bounded::<RawRecord>("raw", capacity, &m);
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
    b.write_all(b"3 end").await.unwrap();
    drop(b);
    let got = recv_n(&rx, 3).await;
    let lines: Vec<&str> = got.iter().map(line).collect();
    assert_eq!(lines, [msgs[0], msgs[1], "end"]);
    assert_eq!(
        m.input
            .dropped
            .with_label_values(&["net", "oversize"])
            .get(),
        1
    );
    assert_eq!(m.input.records.with_label_values(&["net"]).get(), 6);
    stop.cancel();
}

/// Reads until the server closes the connection (EOF or reset); false if it stays open.
async fn closed_by_server(stream: &mut TcpStream) -> bool {
    let mut buf = [0u8; 64];
    loop {
        match tokio::time::timeout(Duration::from_secs(20), stream.read(&mut buf)).await {
            Err(_) => return false,
            Ok(Ok(0) | Err(_)) => return true,
            Ok(Ok(_)) => continue,
        }
    }
}

async fn wait_until(what: &str, mut ok: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while !ok() {
        assert!(std::time::Instant::now() < deadline, "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn an_octet_count_over_the_cap_closes_the_connection() {
    let (addr, rx, stop, m) = start(Protocol::Tcp, 64).await;
    let closed = |r| m.input.connections_closed.with_label_values(&["net", r]);
    // max_message_bytes = 64: `65 ` is over the cap; the frames before it are delivered.
    let mut a = TcpStream::connect(addr).await.unwrap();
    a.write_all(b"5 first65 ").await.unwrap();
    assert!(closed_by_server(&mut a).await);
    assert_eq!(line(&recv_n(&rx, 1).await[0]), "first");
    wait_until("length_over_cap counted", || {
        closed("length_over_cap").get() == 1
    })
    .await;
    // `1` followed by a megabyte without a space: closed after the third digit, whatever
    // the sender still writes is never buffered.
    let mut b = TcpStream::connect(addr).await.unwrap();
    let attack = [b"1".as_slice(), &[b'1'; 1 << 20]].concat();
    let _ = b.write_all(&attack).await; // may fail: the server resets
    assert!(closed_by_server(&mut b).await);
    wait_until("second length_over_cap", || {
        closed("length_over_cap").get() == 2
    })
    .await;
    let mut c = TcpStream::connect(addr).await.unwrap();
    let _ = c.write_all(b"1x").await;
    assert!(closed_by_server(&mut c).await);
    wait_until("bad_length counted", || closed("bad_length").get() == 1).await;
    wait_until("connections closed", || {
        m.input.connections.with_label_values(&["net"]).get() == 0
    })
    .await;
    stop.cancel();
}

/// A connection from `from` (a loopback address: all of 127/8 is local on Linux).
async fn connect_from(from: &str, to: SocketAddr) -> std::io::Result<TcpStream> {
    let socket = tokio::net::TcpSocket::new_v4()?;
    socket.bind(format!("{from}:0").parse().unwrap())?;
    socket.connect(to).await
}

/// Whether a connection from `from` is refused the way a sender can see: reset while
/// connecting, or closed by the server with the writes that follow failing.
async fn refused_from(from: &str, to: SocketAddr) -> bool {
    let mut s = match connect_from(from, to).await {
        Ok(s) => s,
        Err(e) => return e.kind() == std::io::ErrorKind::ConnectionReset,
    };
    if !closed_by_server(&mut s).await {
        return false;
    }
    for _ in 0..100 {
        if s.write_all(b"lost?\n").await.is_err() {
            return true;
        }
    }
    false
}

/// Over the per-peer and total limits a connection is reset and counted; the others go on.
#[tokio::test]
async fn connections_over_the_limits_are_reset_and_counted() {
    let mut s = settings(Protocol::Tcp);
    s.max_connections = 3;
    s.max_connections_per_peer = 2;
    let (addr, rx, stop, m) = start_with(s, 64).await;
    let refused = |r| {
        m.input
            .connections_refused
            .with_label_values(&["net", r])
            .get()
    };
    let mut a1 = connect_from("127.0.0.1", addr).await.unwrap();
    let _a2 = connect_from("127.0.0.1", addr).await.unwrap();
    assert!(
        refused_from("127.0.0.1", addr).await,
        "third from one peer kept"
    );
    assert_eq!((refused("total"), refused("per_peer")), (0, 1));
    let mut b1 = connect_from("127.0.0.2", addr).await.unwrap();
    assert!(
        refused_from("127.0.0.3", addr).await,
        "fourth in total kept"
    );
    assert_eq!((refused("total"), refused("per_peer")), (1, 1));
    a1.write_all(b"from a1\n").await.unwrap();
    b1.write_all(b"from b1\n").await.unwrap();
    let got = recv_n(&rx, 2).await;
    let mut lines: Vec<&str> = got.iter().map(line).collect();
    lines.sort_unstable();
    assert_eq!(lines, ["from a1", "from b1"]);
    assert_eq!(m.input.connections.with_label_values(&["net"]).get(), 3);
    stop.cancel();
}

/// Idle connections are closed after the idle timeout and their places go to new senders.
#[tokio::test]
async fn idle_connections_are_reaped() {
    let mut s = settings(Protocol::Tcp);
    s.max_connections = 2;
    s.idle_timeout = Duration::from_millis(300);
    let (addr, rx, stop, m) = start_with(s, 64).await;
    let refused = |r| {
        m.input
            .connections_refused
            .with_label_values(&["net", r])
            .get()
    };
    let open = m.input.connections.with_label_values(&["net"]);
    // Two from 127.0.0.1 idle out (a connection is idle until it sends).
    let mut idle = Vec::new();
    for _ in 0..2 {
        idle.push(TcpStream::connect(addr).await.unwrap());
    }
    for conn in &mut idle {
        assert!(closed_by_server(conn).await, "idle connection not closed");
    }
    wait_until("idle closes counted", || {
        m.input
            .connections_closed
            .with_label_values(&["net", "idle_timeout"])
            .get()
            == 2
    })
    .await;
    wait_until("no connection open", || open.get() == 0).await;
    assert_eq!((refused("total"), refused("per_peer")), (0, 0));
    // A sender still gets in, and its lines arrive.
    let mut ok = TcpStream::connect(addr).await.unwrap();
    ok.write_all(b"hello after reaping\n").await.unwrap();
    assert_eq!(line(&recv_n(&rx, 1).await[0]), "hello after reaping");
    drop(ok);
    stop.cancel();
}

#[tokio::test]
async fn unusable_tls_files_are_reported_with_key_and_path() {
    let dir = tempfile::tempdir().unwrap();
    let garbage = dir.path().join("garbage.pem");
    std::fs::write(&garbage, "not a pem file").unwrap();
    let settings = |cert: &Path, key: &Path| SyslogSettings {
        tls: Some(TlsFiles {
            cert: cert.to_owned(),
            key: key.to_owned(),
            client_ca: None,
        }),
        ..settings(Protocol::Tcp)
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
    let records = m.input.records.with_label_values(&["net"]);
    let overload = m.input.dropped.with_label_values(&["net", "overload"]);
    let oversize = m.input.dropped.with_label_values(&["net", "oversize"]);
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
