//! Tail input: appends, rotation by rename, copytruncate, truncation, checkpoints, replay.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs::OpenOptions;
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::*;
use crate::flow::channel::{Receiver, bounded};
use crate::metrics::Metrics;
use crate::normalize::Payload;

fn settings(dir: &Path, glob: &str) -> TailSettings {
    TailSettings {
        paths: vec![dir.join(glob).to_string_lossy().into_owned()],
        format: Some(Format::Text),
        checkpoint: dir.join("state/tail.json"),
        fingerprint_lines: 1,
        max_line_bytes: 1024,
        poll_interval: Duration::from_millis(20),
        rotate_wait: Duration::from_millis(200),
        checkpoint_every: 1000,
        checkpoint_interval: Duration::from_millis(250),
        max_in_flight: 1000,
    }
}

/// A running tail input whose records are consumed by a thread that acknowledges the ones
/// `deliver` accepts (the others are dropped unfinished) and records every line.
struct Running {
    stop: CancellationToken,
    tail: Tailing,
    consumer: JoinHandle<()>,
    lines: Arc<Mutex<Vec<String>>>,
}

/// A tail input running on its own thread, sending into a channel of 16.
fn spawn(s: TailSettings) -> (Receiver<RawRecord>, CancellationToken, Tailing) {
    let m = Arc::new(Metrics::new().unwrap());
    let (tx, rx) = bounded::<RawRecord>("raw", 16, &m);
    let stop = CancellationToken::new();
    let st = stop.clone();
    (
        rx,
        stop,
        std::thread::spawn(move || run(Arc::from("t"), s, tx, st, &m)),
    )
}

type Tailing = JoinHandle<Result<TailReport, TailError>>;

fn start(s: TailSettings, deliver: fn(&str) -> bool) -> Running {
    let (rx, stop, tail) = spawn(s);
    let lines = Arc::new(Mutex::new(Vec::new()));
    let seen = lines.clone();
    let consumer = std::thread::spawn(move || {
        while let Ok(r) = rx.recv_blocking() {
            // A cut line shows as `CUT <original length>: <kept text>`.
            let (payload, cut) = match &r.payload {
                Payload::Truncated {
                    inner,
                    original_bytes,
                } => (&**inner, Some(original_bytes)),
                p => (p, None),
            };
            let Payload::Line { line, .. } = payload else {
                panic!("unexpected payload {:?}", r.payload)
            };
            let line = match cut {
                Some(n) => format!("CUT {n}: {line}"),
                None => line.clone(),
            };
            seen.lock().unwrap().push(line.clone());
            let line = &line;
            if deliver(line) {
                r.ack.done();
            }
        }
    });
    Running {
        stop,
        tail,
        consumer,
        lines,
    }
}

impl Running {
    fn wait_for(&self, n: usize) -> Vec<String> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let got = self.lines.lock().unwrap().clone();
            if got.len() >= n || Instant::now() > deadline {
                return got;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn finish(self) -> (Vec<String>, TailReport) {
        self.stop.cancel();
        let report = self.tail.join().unwrap().unwrap();
        self.consumer.join().unwrap();
        let lines = self.lines.lock().unwrap().clone();
        (lines, report)
    }
}

fn append(path: &Path, from: usize, to: usize) {
    let mut f = OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    for i in from..to {
        writeln!(f, "line {i}").unwrap();
    }
}

fn expected(from: usize, to: usize) -> Vec<String> {
    (from..to).map(|i| format!("line {i}")).collect()
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort_by_key(|l| l[5..].parse::<usize>().unwrap_or(usize::MAX));
    v
}

#[test]
fn follows_appends_rename_rotation_and_copytruncate_without_loss_or_duplicates() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.log");
    append(&log, 0, 100);
    let r = start(settings(dir.path(), "app.log*"), |_| true);
    assert_eq!(r.wait_for(100).len(), 100);

    // logrotate's default: rename, then create; the writer still appends to the old file once.
    std::fs::rename(&log, dir.path().join("app.log.1")).unwrap();
    append(&dir.path().join("app.log.1"), 100, 110);
    append(&log, 110, 200);
    assert_eq!(r.wait_for(200).len(), 200);

    // copytruncate: lines land just before the copy; then the original is truncated.
    append(&log, 200, 220);
    std::fs::copy(&log, dir.path().join("app.log.2")).unwrap();
    OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(&log)
        .unwrap();
    append(&log, 220, 300);
    r.wait_for(300);
    std::thread::sleep(Duration::from_millis(300)); // would show duplicates, if any
    let (lines, report) = r.finish();
    assert_eq!(sorted(lines.clone()), expected(0, 300), "{lines:?}");
    assert_eq!(report.lines, 300);
    assert_eq!(report.failed_acks, 0);
}

#[test]
fn truncation_in_place_reads_the_new_content_from_the_start() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.log");
    append(&log, 0, 50);
    let r = start(settings(dir.path(), "app.log"), |_| true);
    assert_eq!(r.wait_for(50).len(), 50);
    std::fs::write(&log, "").unwrap();
    append(&log, 50, 60);
    r.wait_for(60);
    let (lines, report) = r.finish();
    assert_eq!(lines, expected(0, 60));
    assert!(report.truncations >= 1);
}

#[test]
fn resumes_from_the_checkpoint_and_replays_only_undelivered_lines() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.log");
    append(&log, 0, 40);
    // First run: lines 30.. are never delivered (a sink that keeps failing).
    let r = start(settings(dir.path(), "app.log"), |l| {
        l[5..].parse::<usize>().unwrap() < 30
    });
    assert_eq!(r.wait_for(40).len(), 40);
    let (_, report) = r.finish();
    assert_eq!(report.failed_acks, 10);
    let cp: Checkpoints =
        serde_json::from_slice(&std::fs::read(dir.path().join("state/tail.json")).unwrap())
            .unwrap();
    let offset = cp.files.values().next().unwrap().offset;
    assert_eq!(
        offset,
        (0..30)
            .map(|i| format!("line {i}\n").len() as u64)
            .sum::<u64>()
    );

    // Second run: the undelivered lines come again, then what was appended meanwhile.
    append(&log, 40, 45);
    let r = start(settings(dir.path(), "app.log"), |_| true);
    r.wait_for(15);
    std::thread::sleep(Duration::from_millis(100));
    let (lines, _) = r.finish();
    assert_eq!(lines, expected(30, 45));
}

#[test]
fn a_file_is_fingerprinted_only_once_its_first_line_is_complete() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("a.log");
    std::fs::write(&p, "partial").unwrap();
    assert_eq!(fingerprint(&p, 1), None);
    std::fs::write(&p, "partial\nmore").unwrap();
    let fp = fingerprint(&p, 1).unwrap();
    std::fs::write(&p, "partial\nmore and more\n").unwrap();
    assert_eq!(fingerprint(&p, 1).as_deref(), Some(fp.as_str()));
    assert_eq!(fingerprint(&p, 3), None);
}

#[test]
fn glob_bases() {
    assert_eq!(glob_base("/var/log/*.log"), PathBuf::from("/var/log"));
    assert_eq!(glob_base("/var/log/app-*/x.log"), PathBuf::from("/var/log"));
    assert_eq!(glob_base("x.log"), PathBuf::from("."));
}

#[test]
fn a_file_rewritten_in_place_with_more_content_is_read_from_the_start_once() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.log");
    append(&log, 0, 10);
    let r = start(settings(dir.path(), "app.log"), |_| true);
    assert_eq!(r.wait_for(10).len(), 10);
    // Same file (inode), new content longer than what was read: not a size-based truncation.
    let text: String = expected(10, 110).iter().map(|l| format!("{l}\n")).collect();
    std::fs::write(&log, text).unwrap();
    r.wait_for(110);
    std::thread::sleep(Duration::from_millis(200));
    let (lines, _) = r.finish();
    assert_eq!(lines, expected(0, 110));
}

/// Byte offset of `line {i}` in a file written by [`append`] from 0.
fn offset_of(i: usize) -> u64 {
    (0..i).map(|j| format!("line {j}\n").len() as u64).sum()
}

/// The offset of the only file in the checkpoint written so far (0 when none is).
fn checkpointed(path: &Path) -> u64 {
    std::fs::read(path)
        .ok()
        .and_then(|b| serde_json::from_slice::<Checkpoints>(&b).ok())
        .and_then(|c| c.files.values().next().map(|p| p.offset))
        .unwrap_or(0)
}

#[test]
fn the_checkpoint_follows_delivery_within_the_configured_lines_through_a_backlog() {
    const K: usize = 50; // checkpoint_every
    const W: usize = 100; // max_in_flight
    const N: usize = 3000;
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.log");
    append(&log, 0, N);
    let mut s = settings(dir.path(), "app.log");
    s.checkpoint_every = K;
    s.checkpoint_interval = Duration::from_secs(3600); // only the count can trigger a write
    s.max_in_flight = W;
    let checkpoint = s.checkpoint.clone();
    let (rx, stop, tail) = spawn(s);
    // The whole file is a backlog: the tail is busy sending it while lines are delivered.
    // When line i is received it was issued, and when the tail issued it fewer than K lines
    // were committed and not written and fewer than W lines were past the commit point; so
    // the written checkpoint already covered every line before i + 2 - K - W.
    let mut behind = Vec::new();
    for i in 0..N {
        let r = rx.recv_blocking().unwrap();
        let Payload::Line { line, .. } = &r.payload else {
            panic!("unexpected payload {:?}", r.payload)
        };
        assert_eq!(*line, format!("line {i}"));
        let covered = offset_of((i + 2).saturating_sub(K + W));
        let written = checkpointed(&checkpoint);
        if written < covered {
            behind.push((i, written, covered));
        }
        r.ack.done();
    }
    assert!(
        behind.is_empty(),
        "checkpoint behind at {:?}",
        &behind[..5.min(behind.len())]
    );
    // Quiescent: fewer than K delivered lines are waiting for a write.
    let deadline = Instant::now() + Duration::from_secs(20);
    while checkpointed(&checkpoint) < offset_of(N + 1 - K) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(checkpointed(&checkpoint) >= offset_of(N + 1 - K));
    stop.cancel();
    drop(rx);
    let report = tail.join().unwrap().unwrap();
    assert_eq!(report.lines, N as u64);
    assert_eq!(checkpointed(&checkpoint), offset_of(N));
}

#[test]
fn at_most_max_in_flight_lines_are_read_past_an_undelivered_line() {
    const W: usize = 50;
    const N: usize = 200;
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.log");
    append(&log, 0, N);
    let mut s = settings(dir.path(), "app.log");
    s.max_in_flight = W;
    let (rx, stop, tail) = spawn(s);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    // Line 0 is held (a case waiting for its next version); the others are delivered at once.
    // Until it is released, every line received is past the commit point.
    let (received_while_held, received) = rt.block_on(async {
        let mut held: Option<Ack> = None;
        let mut while_held = 0;
        let mut received = 0;
        while received < N {
            let next = if held.is_some() {
                // Nothing more for a while: the tail is waiting for the window; release.
                match tokio::time::timeout(Duration::from_millis(300), rx.recv()).await {
                    Ok(r) => r,
                    Err(_) => {
                        if let Some(ack) = held.take() {
                            ack.done();
                        }
                        continue;
                    }
                }
            } else {
                rx.recv().await
            };
            let Ok(r) = next else { break };
            received += 1;
            if held.is_some() {
                while_held = received;
            }
            if received == 1 {
                held = Some(r.ack);
                while_held = 1;
            } else {
                r.ack.done();
            }
        }
        (while_held, received)
    });
    assert!(
        received_while_held <= W,
        "{received_while_held} lines read while line 0 was out"
    );
    assert_eq!(received, N);
    stop.cancel();
    drop(rx);
    let report = tail.join().unwrap().unwrap();
    assert_eq!(report.failed_acks, 0);
}

#[test]
fn a_long_line_is_held_to_its_cap_in_memory_then_cut_marked_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.log");
    let mut f = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log)
        .unwrap();
    f.write_all(b"first\n").unwrap();
    // 8 MiB without a newline yet: read, but only its first max_line_bytes are kept.
    f.write_all(&vec![b'x'; 8 << 20]).unwrap();
    let s = settings(dir.path(), "app.log");
    let m = Metrics::new().unwrap();
    let mut tail = Tail::new(Arc::from("t"), s, &m).unwrap();
    let (tx, rx) = bounded::<RawRecord>("raw", 16, &m);
    let (wake_tx, wake_rx) = mpsc::channel();
    let wakes = Wakes {
        tx: wake_tx,
        rx: wake_rx,
    };
    let stop = CancellationToken::new();
    tail.scan_and_read(&tx, &wakes, &stop).unwrap();
    let t = tail.tracked.values().next().unwrap();
    assert_eq!((t.read_pos, t.line_len), (6, 8 << 20));
    assert!(
        t.partial.len() <= lines::kept_bytes(1024),
        "{}",
        t.partial.len()
    );
    assert!(t.partial.capacity() <= 2 * lines::kept_bytes(1024) + READ_CHUNK);
    // The newline arrives: one record, cut to 1024 bytes and marked with the full length.
    f.write_all(b"yy\nlast\n").unwrap();
    tail.scan_and_read(&tx, &wakes, &stop).unwrap();
    drop(tx);
    let mut got = Vec::new();
    while let Ok(r) = rx.recv_blocking() {
        got.push((r.origin.index, r.payload));
    }
    assert_eq!(got.len(), 3, "{got:?}");
    let (
        index,
        Payload::Truncated {
            inner,
            original_bytes,
        },
    ) = &got[1]
    else {
        panic!("{:?}", got[1]);
    };
    assert_eq!((*index, *original_bytes), (6, (8 << 20) + 2));
    assert!(matches!(&**inner, Payload::Line { line, .. } if line.len() == 1024));
    assert_eq!(
        got[2].0,
        6 + (8 << 20) + 3,
        "the next line's offset is exact"
    );
    assert_eq!(tail.report.cut_lines, 1);
    assert_eq!(
        m.input.truncated.with_label_values(&["t"]).get(),
        1,
        "counted"
    );
}
