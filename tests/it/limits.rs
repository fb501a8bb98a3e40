//! Input size limits: a gzipped gigabyte streams through in bounded memory, a line past the cap
//! is cut, marked and counted (one-shot commands and the daemon's file input).

use std::io::Write;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::helpers::{Daemon, bin, fixture, wait_metric, write_config};

/// Peak resident memory (VmHWM, bytes) of a running process, when readable.
fn peak_rss(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kb * 1024)
}

/// Writes a multi-member gzip file: `head`, then `blocks` members of 1 MiB of `b'A'` each
/// (one line, no newline), then `tail`. About 1 KiB on disk per MiB of content.
fn gzip_gigaline(path: &Path, head: &[u8], blocks: usize, tail: &[u8]) {
    let member = |data: &[u8]| {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        gz.write_all(data).unwrap();
        gz.finish().unwrap()
    };
    let block = member(&vec![b'A'; 1 << 20]);
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    f.write_all(&member(head)).unwrap();
    for _ in 0..blocks {
        f.write_all(&block).unwrap();
    }
    f.write_all(&member(tail)).unwrap();
    f.flush().unwrap();
}

#[test]
fn a_gzipped_gigabyte_line_is_scanned_in_bounded_memory_and_cut() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("huge.log.gz");
    gzip_gigaline(&path, b"first line of the log\n", 1024, b"\nlast line\n");
    assert!(std::fs::metadata(&path).unwrap().len() < 8 << 20);
    let mut child = bin()
        .args(["scan", "--rules"])
        .arg(fixture("rules"))
        .arg(&path)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    // VmHWM only grows: the last value read before the process exits is its peak so far.
    let deadline = Instant::now() + Duration::from_secs(300);
    let mut peak = 0;
    while child.try_wait().unwrap().is_none() {
        peak = peak.max(peak_rss(pid).unwrap_or(0));
        assert!(Instant::now() < deadline, "scan did not finish");
        std::thread::sleep(Duration::from_millis(10));
    }
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(peak > 0, "no memory reading");
    println!(
        "peak RSS of scan over 1 GiB of gzip content: {} MB",
        peak >> 20
    );
    assert!(
        peak < 200 << 20,
        "peak RSS {} MB for a 1 GiB decompressed line",
        peak >> 20
    );
    assert!(err.contains(": 3 events"), "{err}");
    assert!(
        err.contains("1 lines longer than --max-line-bytes were cut"),
        "{err}"
    );
}

#[test]
fn the_file_input_cuts_a_long_line_marks_and_counts_it() {
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    std::fs::create_dir(&logs).unwrap();
    let mut text = String::from("Nov 21 06:00:01 host sshd[1]: Accepted password for bob\n");
    text.push_str(&format!(
        "Nov 21 06:00:02 host app[2]: {}\n",
        "x".repeat(5 << 20)
    ));
    text.push_str("Nov 21 06:00:03 host sshd[1]: Accepted password for eve\n");
    std::fs::write(logs.join("auth.log"), text).unwrap();
    let config = write_config(
        dir.path(),
        &format!(
            "[inputs.evidence]\ntype = \"file\"\npaths = [{:?}]\nmax_line_bytes = 4096\n",
            logs
        ),
    );
    let daemon = Daemon::start(&["--config", config.to_str().unwrap()], &[]);
    let cut = wait_metric(
        daemon.addr,
        "nightwatch_input_records_truncated_total{input=\"evidence\"}",
        1,
    );
    assert_eq!(cut, 1);
    wait_metric(
        daemon.addr,
        "nightwatch_events_parsed_total{format=\"syslog\"}",
        3,
    );
    let (code, log) = daemon.terminate(Duration::from_secs(30));
    assert_eq!(code, 0);
    let warned: Vec<&String> = log
        .iter()
        .filter(|l| l.contains("longer than max_line_bytes"))
        .collect();
    assert_eq!(warned.len(), 1, "{log:?}");
    assert!(warned[0].contains("original_bytes="), "{}", warned[0]);
}
