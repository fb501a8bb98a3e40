//! The syslog listeners under attack and overload, through the real daemon: an RFC 6587 length
//! prefix that never ends (memory stays bounded, the connection is cut), connections over the
//! total and per-peer limits (reset and counted, the log not flooded), idle connections closed
//! so a legitimate sender gets in, and UDP datagrams dropped by the kernel made visible.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::time::{Duration, Instant};

use crate::helpers::{Daemon, counter, wait_for, write_config};

/// The listening addresses by input name, and every log line read on the way.
fn listeners(daemon: &Daemon, count: usize) -> (HashMap<String, SocketAddr>, Vec<String>) {
    let deadline = Instant::now() + Duration::from_secs(30);
    let (mut found, mut lines) = (HashMap::new(), Vec::new());
    while found.len() < count {
        let line = daemon
            .log
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .expect("syslog inputs did not report their addresses");
        let field = |k: &str| {
            line.split(&format!(" {k}="))
                .nth(1)
                .and_then(|r| r.split_whitespace().next())
                .map(str::to_owned)
        };
        if line.contains("syslog input listening")
            && let (Some(input), Some(addr)) = (field("input"), field("addr"))
        {
            found.insert(input, addr.parse().unwrap());
        }
        lines.push(line);
    }
    (found, lines)
}

/// A `VmRSS:`/`VmHWM:` line of `/proc/PID/status`, in KiB.
fn status_kib(pid: u32, key: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or_else(|| panic!("{key} in /proc/{pid}/status"))
}

/// Whether the daemon ended the connection (EOF or reset) rather than keeping it open.
fn closed_by_server(stream: &mut TcpStream) -> bool {
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut buf = [0u8; 256];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e) => {
                return !matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                );
            }
        }
    }
}

/// A TCP connection from `from` (all of 127/8 is local on Linux), so one test has several peers.
fn connect_from(from: &str, to: SocketAddr) -> std::io::Result<TcpStream> {
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)?;
    let local: SocketAddr = format!("{from}:0").parse().unwrap();
    socket.bind(&local.into())?;
    socket.connect(&to.into())?;
    Ok(socket.into())
}

/// Whether a connection from `from` is refused the way a sender can see: reset while
/// connecting, or closed by the daemon with the writes that follow failing.
fn refused_from(from: &str, to: SocketAddr) -> bool {
    let mut s = match connect_from(from, to) {
        Ok(s) => s,
        Err(e) => return e.kind() == std::io::ErrorKind::ConnectionReset,
    };
    closed_by_server(&mut s) && (0..100).any(|_| s.write_all(b"<13>lost\n").is_err())
}

fn series(family: &str, input: &str, reason: &str) -> String {
    format!("{family}{{input=\"{input}\",reason=\"{reason}\"}}")
}

/// `1` and then 64 MiB without a space on each of 4 connections: before the fix every byte was
/// buffered waiting for the space (the probe saw 1 GB of RSS with 4 × 250 MB). Now each
/// connection is closed at the digit that crosses the cap, counted, and the daemon's peak RSS
/// moves by far less than one connection's worth.
#[test]
fn an_endless_length_prefix_is_cut_and_memory_stays_bounded() {
    const CONNECTIONS: usize = 4;
    const PER_CONNECTION: usize = 64 << 20;
    let tmp = tempfile::tempdir().unwrap();
    let config = write_config(
        tmp.path(),
        "[inputs.net]\ntype = \"syslog\"\nprotocol = \"tcp\"\nlisten = \"127.0.0.1:0\"\n",
    );
    let daemon = Daemon::start(&["--config", config.to_str().unwrap()], &[]);
    let (addrs, _) = listeners(&daemon, 1);
    let net = addrs["net"];
    let pid = daemon.child.id();
    // A legitimate frame first, so the listener's own buffers exist in the baseline.
    let mut warm = TcpStream::connect(net).unwrap();
    let msg = "<13>warm up the listener";
    warm.write_all(format!("{} {msg}", msg.len()).as_bytes())
        .unwrap();
    drop(warm);
    wait_for("the warm-up record", Duration::from_secs(30), || {
        counter(daemon.addr, "nightwatch_input_records_total{input=\"net\"}") == 1
    });
    let (rss_before, peak_before) = (status_kib(pid, "VmRSS:"), status_kib(pid, "VmHWM:"));

    let attackers: Vec<_> = (0..CONNECTIONS)
        .map(|i| {
            std::thread::spawn(move || {
                let mut s = TcpStream::connect(net).unwrap();
                // Digits on two connections (over the cap by value), letters on the others
                // (not a length at all).
                let fill = if i % 2 == 0 { b'7' } else { b'x' };
                let chunk = vec![fill; 1 << 20];
                let mut sent = s.write(b"1").unwrap();
                while sent < PER_CONNECTION {
                    match s.write(&chunk) {
                        Ok(n) => sent += n,
                        Err(_) => break, // reset by the daemon
                    }
                }
                (sent, closed_by_server(&mut s))
            })
        })
        .collect();
    for a in attackers {
        let (sent, closed) = a.join().unwrap();
        assert!(closed, "the daemon kept an endless length prefix open");
        assert!(sent < PER_CONNECTION, "all {sent} bytes were accepted");
    }
    let closed = |reason| {
        counter(
            daemon.addr,
            &series("nightwatch_input_connections_closed_total", "net", reason),
        )
    };
    wait_for(
        "the cut connections counted",
        Duration::from_secs(30),
        || closed("length_over_cap") == 2 && closed("bad_length") == 2,
    );
    let (rss_after, peak_after) = (status_kib(pid, "VmRSS:"), status_kib(pid, "VmHWM:"));
    println!(
        "RSS before {rss_before} KiB (peak {peak_before}), after {rss_after} KiB (peak {peak_after}); attack {} MiB offered",
        (CONNECTIONS * PER_CONNECTION) >> 20
    );
    // One connection's worth would be 65,536 KiB; the bound leaves room for the allocator.
    let bound = 32 * 1024;
    assert!(
        peak_after <= peak_before.max(rss_before) + bound,
        "peak RSS grew from {peak_before} KiB to {peak_after} KiB (RSS before {rss_before} KiB)"
    );
    assert!(rss_after <= rss_before + bound);
    // The listener still serves.
    let mut ok = TcpStream::connect(net).unwrap();
    ok.write_all(b"5 after").unwrap();
    drop(ok);
    wait_for("a record after the attack", Duration::from_secs(30), || {
        counter(daemon.addr, "nightwatch_input_records_total{input=\"net\"}") == 2
    });
}

/// Two listeners: `limits` (3 connections, 2 per peer, no idling out during the test) and
/// `idle` (2 connections, closed after 1 s of silence). Over the limits, connections are reset,
/// counted per reason, and logged once per interval rather than once each; idle connections
/// are closed and a legitimate sender then gets in.
#[test]
fn connection_limits_refuse_visibly_and_idle_connections_make_room() {
    let tmp = tempfile::tempdir().unwrap();
    let config = write_config(
        tmp.path(),
        "[inputs.limits]\ntype = \"syslog\"\nprotocol = \"tcp\"\nlisten = \"127.0.0.1:0\"\n\
         max_connections = 3\nmax_connections_per_peer = 2\nidle_timeout_secs = 3600\n\
         [inputs.idle]\ntype = \"syslog\"\nprotocol = \"tcp\"\nlisten = \"127.0.0.1:0\"\n\
         max_connections = 2\nidle_timeout_secs = 1\n",
    );
    let daemon = Daemon::start(&["--config", config.to_str().unwrap()], &[]);
    let (addrs, _) = listeners(&daemon, 2);
    let refused = |input, reason| {
        counter(
            daemon.addr,
            &series("nightwatch_input_connections_refused_total", input, reason),
        )
    };
    let open = |input: &str| {
        counter(
            daemon.addr,
            &format!("nightwatch_input_connections{{input=\"{input}\"}}"),
        )
    };

    // `limits`: two from 127.0.0.1 are held; a third from there is over the per-peer limit.
    // Each refused sender sees it: a reset, and its writes fail.
    let limits = addrs["limits"];
    let mut held = vec![
        connect_from("127.0.0.1", limits).unwrap(),
        connect_from("127.0.0.1", limits).unwrap(),
    ];
    wait_for("2 connections open", Duration::from_secs(30), || {
        open("limits") == 2
    });
    assert!(
        refused_from("127.0.0.1", limits),
        "per-peer limit not enforced"
    );
    assert_eq!(refused("limits", "per_peer"), 1);
    // One from 127.0.0.2 is held too; then 20 from 127.0.0.3 are over the total limit.
    held.push(connect_from("127.0.0.2", limits).unwrap());
    wait_for("3 connections open", Duration::from_secs(30), || {
        open("limits") == 3
    });
    const OVER: u64 = 20;
    for _ in 0..OVER {
        assert!(
            refused_from("127.0.0.3", limits),
            "total limit not enforced"
        );
    }
    assert_eq!(refused("limits", "total"), OVER);
    // The held connections still deliver.
    for (i, s) in held.iter_mut().enumerate() {
        s.write_all(format!("<13>held {i}\n").as_bytes()).unwrap();
    }
    wait_for(
        "the held connections' lines",
        Duration::from_secs(30),
        || {
            counter(
                daemon.addr,
                "nightwatch_input_records_total{input=\"limits\"}",
            ) == 3
        },
    );
    drop(held);

    // `idle`: two silent connections fill it; they are closed after the idle timeout and a
    // sender that connects afterwards is read.
    let idle = addrs["idle"];
    let mut silent = [
        TcpStream::connect(idle).unwrap(),
        TcpStream::connect(idle).unwrap(),
    ];
    for s in &mut silent {
        assert!(closed_by_server(s), "an idle connection was kept open");
    }
    wait_for("idle connections closed", Duration::from_secs(30), || {
        open("idle") == 0
    });
    assert_eq!(
        counter(
            daemon.addr,
            &series(
                "nightwatch_input_connections_closed_total",
                "idle",
                "idle_timeout"
            )
        ),
        2
    );
    let mut sender = TcpStream::connect(idle).unwrap();
    sender.write_all(b"<13>after the idle ones\n").unwrap();
    wait_for(
        "the legitimate sender's line",
        Duration::from_secs(30),
        || {
            counter(
                daemon.addr,
                "nightwatch_input_records_total{input=\"idle\"}",
            ) == 1
        },
    );
    assert_eq!(refused("idle", "total"), 0);
    drop(sender);

    // 21 refusals, but at most one warn line per reason per 10 s, each with its count.
    let (_, log) = daemon.terminate(Duration::from_secs(30));
    let refusal_lines: Vec<&String> = log
        .iter()
        .filter(|l| l.contains("syslog connections refused"))
        .collect();
    assert!(
        !refusal_lines.is_empty() && refusal_lines.len() < (OVER as usize) / 2,
        "{refusal_lines:#?}"
    );
    assert!(
        refusal_lines.iter().all(|l| l.contains("refused=")),
        "{refusal_lines:#?}"
    );
}

/// A UDP listener with a tiny `receive_buffer_bytes`, stopped (SIGSTOP) while 2,000 datagrams
/// arrive: the kernel drops what does not fit, and the daemon, resumed, shows those drops in
/// `nightwatch_input_dropped_total{reason="kernel"}` so that every datagram sent is accounted
/// for (loopback loses nothing else).
#[test]
fn udp_datagrams_dropped_by_the_kernel_are_counted() {
    const SENT: u64 = 2_000;
    let tmp = tempfile::tempdir().unwrap();
    let config = write_config(
        tmp.path(),
        "[inputs.dgram]\ntype = \"syslog\"\nprotocol = \"udp\"\nlisten = \"127.0.0.1:0\"\n\
         receive_buffer_bytes = 8192\n",
    );
    let daemon = Daemon::start(&["--config", config.to_str().unwrap()], &[]);
    let (addrs, mut lines) = listeners(&daemon, 1);
    let dgram = addrs["dgram"];
    // The size the kernel granted is logged at start.
    let deadline = Instant::now() + Duration::from_secs(10);
    while !lines
        .iter()
        .any(|l| l.contains("syslog udp receive buffer"))
    {
        lines.push(
            daemon
                .log
                .recv_timeout(deadline.saturating_duration_since(Instant::now()))
                .expect("no receive buffer log line"),
        );
    }
    let granted = lines
        .iter()
        .find(|l| l.contains("syslog udp receive buffer"))
        .unwrap();
    assert!(
        granted.contains("requested=8192") && granted.contains("effective="),
        "{granted}"
    );

    let series = |reason| {
        counter(
            daemon.addr,
            &format!("nightwatch_input_dropped_total{{input=\"dgram\",reason=\"{reason}\"}}"),
        )
    };
    let records = || {
        counter(
            daemon.addr,
            "nightwatch_input_records_total{input=\"dgram\"}",
        )
    };
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    let pid = daemon.child.id().to_string();
    let signal = |sig: &str| {
        assert!(
            std::process::Command::new("kill")
                .args([sig, &pid])
                .status()
                .unwrap()
                .success()
        );
    };
    signal("-STOP");
    let mut sent = 0u64;
    for i in 0..SENT {
        let line = format!(
            "<13>Nov 21 10:00:00 fw01 kernel: datagram {i:06} {}",
            "x".repeat(120)
        );
        if sock.send_to(line.as_bytes(), dgram).is_ok() {
            sent += 1;
        }
    }
    signal("-CONT");
    let accounted = || records() + series("overload") + series("oversize") + series("kernel");
    wait_for(
        "every datagram accounted for",
        Duration::from_secs(60),
        || accounted() >= sent,
    );
    let (kernel, received) = (series("kernel"), records() + series("overload"));
    println!("sent {sent}: received {received}, dropped by the kernel {kernel}");
    assert!(kernel > 0, "no kernel drop visible");
    assert_eq!(
        accounted(),
        sent,
        "received {received} + kernel {kernel} != sent {sent}"
    );
}
