//! Shared helpers: locate fixtures, run the binary, spawn the daemon on port 0.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// The binary under test; `NIGHTWATCH_TEST_BIN` overrides it (a copy taken right after the
/// build, when several worktrees share one target directory).
pub fn bin() -> Command {
    let path = std::env::var_os("NIGHTWATCH_TEST_BIN")
        .unwrap_or_else(|| env!("CARGO_BIN_EXE_nightwatch").into());
    let mut c = Command::new(path);
    c.env_remove("RUST_LOG");
    c
}

pub fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(rel)
}

/// `../shared` next to the repository, when present (CI has it).
pub fn shared() -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared");
    p.is_dir().then_some(p)
}

pub fn run(args: &[&str]) -> Output {
    bin().args(args).output().expect("running nightwatch")
}

pub fn stdout_lines(out: &Output) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l}: {e}")))
        .collect()
}

/// A daemon started with `run --listen 127.0.0.1:0`; its address is read from its log.
pub struct Daemon {
    pub child: Child,
    pub addr: SocketAddr,
    pub log: mpsc::Receiver<String>,
    /// The state directory of a daemon whose test chose none (removed with the daemon).
    _state: Option<tempfile::TempDir>,
}

/// Whether a test chose the daemon's state directory: a `[state]` table in its `--config`,
/// or the environment override. Otherwise the default (`./state`, in the repository) would be
/// shared by every such test, and each would resume the others' open cases.
fn chooses_state(args: &[&str], env: &[(&str, &str)]) -> bool {
    env.iter().any(|(k, _)| *k == "NIGHTWATCH__STATE__DIR")
        || args
            .windows(2)
            .filter(|w| w[0] == "--config")
            .any(|w| std::fs::read_to_string(w[1]).is_ok_and(|c| c.contains("[state]")))
}

impl Daemon {
    // The child is owned by the returned `Daemon`, whose `Drop` kills and waits for it.
    pub fn start(args: &[&str], env: &[(&str, &str)]) -> Daemon {
        Self::start_with_stdin(args, env, None)
    }

    /// Like [`Daemon::start`], writing `stdin` to the daemon's standard input and closing it.
    #[allow(clippy::zombie_processes)]
    pub fn start_with_stdin(args: &[&str], env: &[(&str, &str)], stdin: Option<Vec<u8>>) -> Daemon {
        let mut cmd = bin();
        cmd.arg("run")
            .args(["--listen", "127.0.0.1:0"])
            .args(args)
            .env("RUST_LOG", "nightwatch=info")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            });
        for (k, v) in env {
            cmd.env(k, v);
        }
        let state = (!chooses_state(args, env)).then(|| tempfile::tempdir().unwrap());
        if let Some(dir) = &state {
            cmd.env("NIGHTWATCH__STATE__DIR", dir.path());
        }
        let mut child = cmd.spawn().expect("spawning the daemon");
        if let (Some(data), Some(mut pipe)) = (stdin, child.stdin.take()) {
            std::thread::spawn(move || {
                let _ = pipe.write_all(&data);
            });
        }
        let stderr = child.stderr.take().expect("stderr");
        // Every line goes to `log`, those before the address included (another stage may log
        // before the API does); the reader only picks the address out on the way.
        let (tx, rx) = mpsc::channel();
        let (addr_tx, addr_rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if line.contains("api listening")
                    && let Some(addr) = line.split("addr=").nth(1)
                {
                    let addr = addr.split_whitespace().next().unwrap_or_default();
                    let _ = addr_tx.send(addr.parse::<SocketAddr>().expect("address in log"));
                }
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let addr = addr_rx
            .recv_timeout(Duration::from_secs(30))
            .expect("daemon did not report its address in time");
        Daemon {
            child,
            addr,
            log: rx,
            _state: state,
        }
    }

    /// Like [`wait_for`], but a timeout fails with what the daemon said and measured: the last
    /// 80 lines of its log and its `/metrics` series starting with one of `series`.
    #[cfg_attr(not(feature = "kafka"), allow(dead_code))] // used by the Kafka tests
    pub fn wait_for(
        &self,
        what: &str,
        within: Duration,
        series: &[&str],
        mut ok: impl FnMut() -> bool,
    ) -> Duration {
        let start = std::time::Instant::now();
        while !ok() {
            if start.elapsed() >= within {
                let log: Vec<String> = self.log.try_iter().collect();
                let tail = &log[log.len().saturating_sub(80)..];
                let (_, body) = http_get(self.addr, "/metrics");
                let measured: Vec<&str> = body
                    .lines()
                    .filter(|l| series.iter().any(|s| l.starts_with(s)))
                    .collect();
                panic!(
                    "timed out after {within:?} waiting for {what}\n--- daemon log (last {} lines):\n{}\n--- metrics:\n{}",
                    tail.len(),
                    tail.join("\n"),
                    measured.join("\n")
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        start.elapsed()
    }

    /// Sends SIGTERM and waits for exit, returning the status code.
    pub fn terminate(mut self, within: Duration) -> (i32, Vec<String>) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill");
        assert!(status.success());
        let deadline = std::time::Instant::now() + within;
        loop {
            if let Some(s) = self.child.try_wait().expect("wait") {
                // The rest of its log: the reader ends at the end of the pipe, shortly after.
                let until = std::time::Instant::now() + Duration::from_secs(10);
                let mut log = Vec::new();
                while let Ok(line) = self
                    .log
                    .recv_timeout(until.saturating_duration_since(std::time::Instant::now()))
                {
                    log.push(line);
                }
                return (s.code().unwrap_or(-1), log);
            }
            if std::time::Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("daemon did not exit within {within:?} of SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A minimal HTTP/1.1 GET over loopback: (status, body).
pub fn http_get(addr: SocketAddr, path: &str) -> (u16, String) {
    http_request(addr, "GET", path, &[], "")
}

/// A minimal HTTP/1.1 request over loopback with extra headers and a body: (status, body).
pub fn http_request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, String) {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut extra = String::new();
    for (k, v) in headers {
        extra.push_str(&format!("{k}: {v}\r\n"));
    }
    if !body.is_empty() {
        extra.push_str("Content-Type: application/json\r\n");
    }
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n{extra}\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).unwrap();
    let text = String::from_utf8_lossy(&buf).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

/// Writes the intrusion demo (seed 3, 600 events) to `dir/demo.jsonl` and returns its path.
pub fn demo_events(dir: &Path) -> PathBuf {
    let path = dir.join("demo.jsonl");
    let out = run(&[
        "demo",
        "generate",
        "--seed",
        "3",
        "--events",
        "600",
        "--out",
        path.to_str().expect("utf-8 temp path"),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    path
}

/// The verdicts `scan` with the starter rules prints for [`demo_events`], computed once.
pub fn demo_verdicts() -> Vec<serde_json::Value> {
    static VERDICTS: std::sync::OnceLock<Vec<serde_json::Value>> = std::sync::OnceLock::new();
    VERDICTS
        .get_or_init(|| {
            let dir = tempfile::tempdir().expect("temp dir");
            let events = demo_events(dir.path());
            let rules = Path::new(env!("CARGO_MANIFEST_DIR")).join("rules");
            let out = run(&[
                "scan",
                "--rules",
                rules.to_str().expect("utf-8 path"),
                events.to_str().expect("utf-8 temp path"),
            ]);
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            stdout_lines(&out)
        })
        .clone()
}

/// `events` demo events (scenario seed `seed`) as NDJSON lines, for producing to a broker.
pub fn demo_lines(dir: &Path, events: usize, seed: u64) -> Vec<String> {
    let out = dir.join(format!("demo-{seed}.jsonl"));
    let status = run(&[
        "demo",
        "generate",
        "--events",
        &events.to_string(),
        "--seed",
        &seed.to_string(),
        "--out",
        &out.display().to_string(),
    ]);
    assert!(status.status.success(), "{status:?}");
    let lines: Vec<String> = std::fs::read_to_string(&out)
        .unwrap()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(str::to_owned)
        .collect();
    assert_eq!(lines.len(), events);
    lines
}

/// The value of one series in the daemon's `/metrics` (0 when absent).
pub fn metric(addr: SocketAddr, series: &str) -> f64 {
    let (_, body) = http_get(addr, "/metrics");
    body.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0.0)
}

/// A counter's value in the daemon's `/metrics` (0 when absent).
pub fn counter(addr: SocketAddr, series: &str) -> u64 {
    metric(addr, series) as u64
}

/// Waits (up to 60 s) until counter `series` reaches `at_least`; returns its value then.
pub fn wait_metric(addr: SocketAddr, series: &str, at_least: u64) -> u64 {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let v = counter(addr, series);
        if v >= at_least {
            return v;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{series} stuck at {v} < {at_least}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Set by CI: a broker test whose broker is missing fails instead of skipping.
pub fn in_ci() -> bool {
    std::env::var_os("CI").is_some()
}

/// Names no other test (or earlier run against the same broker) uses; valid as a Kafka topic,
/// a NATS subject token and a JetStream stream name.
pub fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{prefix}_{}_{nanos}", std::process::id())
}

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Writes `dir/nightwatch.toml` for a daemon test: the project's rules, a verdict update
/// every second, state under `dir/state`, then `body` (inputs, outputs, `[pipeline]`).
pub fn write_config(dir: &Path, body: &str) -> PathBuf {
    let config = dir.join("nightwatch.toml");
    std::fs::write(
        &config,
        format!(
            "[rules]\npaths = [{rules:?}]\n[cases]\nupdate_interval_secs = 1\n[state]\ndir = {state:?}\n{body}",
            rules = repo().join("rules").display().to_string(),
            state = dir.join("state").display().to_string(),
        ),
    )
    .unwrap();
    config
}

/// A two-thread runtime for a test's broker clients.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// Polls `ok` every 50 ms until it holds; fails after `within`. Returns how long it took.
pub fn wait_for(what: &str, within: Duration, mut ok: impl FnMut() -> bool) -> Duration {
    let start = std::time::Instant::now();
    while !ok() {
        assert!(
            start.elapsed() < within,
            "timed out after {within:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    start.elapsed()
}
