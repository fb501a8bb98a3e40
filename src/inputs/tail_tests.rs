//! Tail input: appends, rotation by rename, copytruncate, truncation, checkpoints, replay.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs::OpenOptions;
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::*;
use crate::inputs::Payload;
use crate::metrics::Metrics;
use crate::pipeline::channel::bounded;

fn settings(dir: &Path, glob: &str) -> TailSettings {
    TailSettings {
        paths: vec![dir.join(glob).to_string_lossy().into_owned()],
        format: Some(Format::Text),
        checkpoint: dir.join("state/tail.json"),
        fingerprint_lines: 1,
        max_line_bytes: 1024,
        poll_interval: Duration::from_millis(20),
        rotate_wait: Duration::from_millis(200),
    }
}

/// A running tail input whose records are consumed by a thread that acknowledges the ones
/// `deliver` accepts (the others are dropped unfinished) and records every line.
struct Running {
    stop: CancellationToken,
    tail: JoinHandle<Result<TailReport, TailError>>,
    consumer: JoinHandle<()>,
    lines: Arc<Mutex<Vec<String>>>,
}

fn start(s: TailSettings, deliver: fn(&str) -> bool) -> Running {
    let m = Arc::new(Metrics::new().unwrap());
    let (tx, rx) = bounded::<RawRecord>("raw", 16, &m);
    let stop = CancellationToken::new();
    let lines = Arc::new(Mutex::new(Vec::new()));
    let (st, seen) = (stop.clone(), lines.clone());
    let tail = std::thread::spawn(move || run(Arc::from("t"), s, tx, st, &m));
    let consumer = std::thread::spawn(move || {
        while let Ok(r) = rx.recv_blocking() {
            let Payload::Line { line, .. } = &r.payload else {
                panic!("unexpected payload {:?}", r.payload)
            };
            seen.lock().unwrap().push(line.clone());
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
