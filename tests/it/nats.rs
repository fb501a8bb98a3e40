//! NATS input and output against a real `nats-server` (JetStream): end to end, at-least-once
//! across a SIGKILL, and recovery from a broker restart.
//!
//! The broker is the one `.ci/run` starts (`NIGHTWATCH_TEST_NATS_URL`); without it, a test
//! starts its own `nats-server` when the binary is on PATH, else it is skipped with a note.
//! When `CI` is set the broker is required: a missing one fails the test. The broker-restart
//! test always owns its server (it stops and restarts it). Loopback only.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_nats::jetstream;
use futures_util::StreamExt;

use crate::helpers::{self, Daemon, demo_lines, http_get, in_ci, repo, runtime, unique, wait_for};

const URL_ENV: &str = "NIGHTWATCH_TEST_NATS_URL";

/// A `nats-server -js` this test started, on loopback, with its own store directory.
pub(crate) struct OwnedServer {
    child: Option<Child>,
    pub(crate) port: u16,
    dir: tempfile::TempDir,
    launches: u32,
    /// Extra command-line options (authentication, TLS).
    options: Vec<String>,
}

impl OwnedServer {
    fn start() -> OwnedServer {
        Self::start_with(&[])
    }

    /// Starts a server with extra command-line options, e.g. `--user U --pass P`.
    pub(crate) fn start_with(options: &[&str]) -> OwnedServer {
        let dir = tempfile::tempdir().unwrap();
        let mut s = OwnedServer {
            child: None,
            port: 0,
            dir,
            launches: 0,
            options: options.iter().map(|o| (*o).to_owned()).collect(),
        };
        s.launch();
        s
    }

    fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// Starts the server: on a port the server picks the first time, the same port after.
    fn launch(&mut self) {
        self.launches += 1;
        let log = self
            .dir
            .path()
            .join(format!("server-{}.log", self.launches));
        let port = if self.port == 0 {
            "-1".to_owned()
        } else {
            self.port.to_string()
        };
        let child = Command::new("nats-server")
            .args(["-js", "-a", "127.0.0.1", "-p", &port, "-sd"])
            .arg(self.dir.path().join("store"))
            .arg("-l")
            .arg(&log)
            .args(&self.options)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting nats-server");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            if text.contains("Server is ready")
                && let Some(p) = text
                    .split("Listening for client connections on 127.0.0.1:")
                    .nth(1)
                    .and_then(|rest| rest.split_whitespace().next())
                    .and_then(|p| p.parse().ok())
            {
                self.port = p;
                return;
            }
            assert!(
                Instant::now() < deadline,
                "nats-server did not start:\n{text}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// SIGTERM and wait (JetStream flushes its store on the way out).
    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
            let deadline = Instant::now() + Duration::from_secs(15);
            while child.try_wait().ok().flatten().is_none() {
                if Instant::now() > deadline {
                    let _ = child.kill();
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }
}

impl Drop for OwnedServer {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

pub(crate) fn nats_server_on_path() -> bool {
    Command::new("nats-server")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// The broker a test uses: `(url, server the test owns)`; `None` = skip.
pub(crate) fn broker(test: &str) -> Option<(String, Option<OwnedServer>)> {
    if let Ok(url) = std::env::var(URL_ENV) {
        return Some((url, None));
    }
    assert!(
        !in_ci(),
        "CI is set but {URL_ENV} is not: .ci/run starts nats-server and exports it"
    );
    if nats_server_on_path() {
        let server = OwnedServer::start();
        return Some((server.url(), Some(server)));
    }
    println!("note: {test}: no {URL_ENV} and no nats-server on PATH; skipping");
    None
}

/// A broker this test owns (it will be stopped and restarted); `None` = skip.
fn owned_broker(test: &str) -> Option<OwnedServer> {
    if nats_server_on_path() {
        return Some(OwnedServer::start());
    }
    assert!(!in_ci(), "CI is set but nats-server is not on PATH");
    println!("note: {test}: no nats-server on PATH; skipping");
    None
}

/// Stream and subject names no other test uses.
struct Names {
    events_stream: String,
    events_subject: String,
    verdict_stream: String,
    verdict_subject: String,
    core_subject: String,
}

impl Names {
    fn new() -> Names {
        let id = unique("nw");
        Names {
            events_stream: format!("{id}_EVENTS"),
            events_subject: format!("{id}.events"),
            verdict_stream: format!("{id}_VERDICTS"),
            verdict_subject: format!("{id}.verdicts.js"),
            core_subject: format!("{id}.verdicts.core"),
        }
    }
}

/// A daemon config: a JetStream input (stream and consumer created by the daemon), a
/// JetStream verdict output and a core verdict output.
fn write_config(dir: &Path, url: &str, n: &Names, capacity: usize, ack_wait: u64) -> PathBuf {
    helpers::write_config(
        dir,
        &format!(
            r#"[pipeline]
channel_capacity = {capacity}
[inputs.bus]
type = "nats"
url = "{url}"
subject = "{events_subject}"
jetstream = {{ stream = "{events_stream}", consumer = "nightwatch", create = true, ack_wait_secs = {ack_wait} }}
[outputs.verdicts]
type = "nats"
url = "{url}"
subject = "{verdict_subject}"
jetstream = true
[outputs.live]
type = "nats"
url = "{url}"
subject = "{core_subject}"
"#,
            events_subject = n.events_subject,
            events_stream = n.events_stream,
            verdict_subject = n.verdict_subject,
            core_subject = n.core_subject,
        ),
    )
}

pub(crate) async fn connect(url: &str) -> async_nats::Client {
    async_nats::ConnectOptions::new()
        .retry_on_initial_connect()
        .reconnect_delay_callback(|_| Duration::from_millis(100))
        .connect(url)
        .await
        .expect("test client connects")
}

/// The value of one series in the daemon's `/metrics` (0 when absent).
pub(crate) fn metric(daemon: &Daemon, series: &str) -> f64 {
    crate::helpers::metric(daemon.addr, series)
}

pub(crate) const PARSED: &str = "nightwatch_events_parsed_total{format=\"json\"}";
const PUBLISHED_JS: &str = "nightwatch_nats_published_total{mode=\"jetstream\"}";
const PUBLISHED_CORE: &str = "nightwatch_nats_published_total{mode=\"core\"}";
const REDELIVERED: &str = "nightwatch_nats_redelivered_total";
pub(crate) const CONNECTED: &str = "nightwatch_nats_connection_events_total{event=\"connected\"}";

/// Waits until the daemon created the events stream.
pub(crate) fn wait_for_stream(rt: &tokio::runtime::Runtime, js: &jetstream::Context, stream: &str) {
    wait_for(
        "the daemon to create the events stream",
        Duration::from_secs(30),
        || rt.block_on(js.get_stream(stream)).is_ok(),
    );
}

/// Publishes `lines` to the events stream, `per_message` lines per message (the last message
/// may hold fewer); returns the number of messages. Every publish is acked by the broker. A
/// publish answered "no responders" (`StreamNotFound`: the server can answer so for a moment
/// after the stream was created) stored nothing and is sent again, as nats.go's publisher
/// does, up to 10 times 250 ms apart.
pub(crate) fn publish(
    rt: &tokio::runtime::Runtime,
    js: &jetstream::Context,
    subject: &str,
    lines: &[String],
    per_message: usize,
) -> usize {
    rt.block_on(async {
        let mut pending = Vec::new();
        let mut messages = 0;
        for chunk in lines.chunks(per_message.max(1)) {
            let payload = bytes::Bytes::from(chunk.join("\n"));
            let ack = js
                .publish(subject.to_owned(), payload.clone())
                .await
                .expect("publish");
            pending.push((payload, ack));
            messages += 1;
            if pending.len() >= 256 {
                settle(js, subject, pending.drain(..)).await;
            }
        }
        settle(js, subject, pending.drain(..)).await;
        messages
    })
}

/// Awaits each publish ack, sending again what found no stream (see [`publish`]).
async fn settle(
    js: &jetstream::Context,
    subject: &str,
    pending: impl Iterator<Item = (bytes::Bytes, jetstream::context::PublishAckFuture)>,
) {
    use async_nats::jetstream::context::PublishErrorKind;
    for (payload, ack) in pending {
        let mut result = ack.await;
        for _ in 0..10 {
            match &result {
                Err(e) if e.kind() == PublishErrorKind::StreamNotFound => {
                    tokio::time::sleep(Duration::from_millis(250)).await;
                    let again = js.publish(subject.to_owned(), payload.clone()).await;
                    result = again.expect("publish").await;
                }
                _ => break,
            }
        }
        result.expect("publish ack");
    }
}

pub(crate) fn consumer_info(
    rt: &tokio::runtime::Runtime,
    js: &jetstream::Context,
    stream: &str,
) -> jetstream::consumer::Info {
    rt.block_on(async {
        let s = js.get_stream(stream).await.expect("events stream");
        s.consumer_info("nightwatch").await.expect("consumer info")
    })
}

/// Every message of the verdict stream: (headers' Nats-Msg-Id, Nats-Schema, body).
fn verdict_stream_messages(
    rt: &tokio::runtime::Runtime,
    js: &jetstream::Context,
    stream: &str,
) -> Vec<(String, String, serde_json::Value)> {
    rt.block_on(async {
        let s = js.get_stream(stream).await.expect("verdict stream");
        let count = s.get_info().await.unwrap().state.messages as usize;
        if count == 0 {
            return Vec::new();
        }
        let consumer: jetstream::consumer::PullConsumer = s
            .create_consumer(jetstream::consumer::pull::Config::default())
            .await
            .unwrap();
        let mut out = Vec::new();
        let mut batch = consumer
            .fetch()
            .max_messages(count.max(1))
            .expires(Duration::from_secs(5))
            .messages()
            .await
            .unwrap();
        while out.len() < count {
            let Some(msg) = batch.next().await else { break };
            let msg = msg.unwrap();
            let header = |name: &str| {
                msg.headers
                    .as_ref()
                    .and_then(|h| h.get(name))
                    .map(|v| v.as_str().to_owned())
                    .unwrap_or_default()
            };
            let (id, schema) = (header("Nats-Msg-Id"), header("Nats-Schema"));
            let body: serde_json::Value = serde_json::from_slice(&msg.payload).unwrap();
            out.push((id, schema, body));
        }
        assert_eq!(out.len(), count, "read every stored verdict");
        out
    })
}

fn create_verdict_stream(rt: &tokio::runtime::Runtime, js: &jetstream::Context, n: &Names) {
    rt.block_on(js.create_stream(jetstream::stream::Config {
        name: n.verdict_stream.clone(),
        subjects: vec![n.verdict_subject.clone()],
        ..Default::default()
    }))
    .expect("verdict stream");
}

/// Collects the verdicts published on the core subject.
pub(crate) fn subscribe_core(
    rt: &tokio::runtime::Runtime,
    client: &async_nats::Client,
    subject: &str,
) -> Arc<Mutex<Vec<serde_json::Value>>> {
    let got = Arc::new(Mutex::new(Vec::new()));
    let mut sub = rt.block_on(client.subscribe(subject.to_owned())).unwrap();
    let sink = got.clone();
    rt.spawn(async move {
        while let Some(m) = sub.next().await {
            let v: serde_json::Value = serde_json::from_slice(&m.payload).unwrap();
            let schema = m
                .headers
                .as_ref()
                .and_then(|h| h.get("Nats-Schema"))
                .map(|v| v.as_str().to_owned());
            assert_eq!(schema.as_deref(), Some("nightwatch.verdict.v1"));
            sink.lock().unwrap().push(v);
        }
    });
    got
}

fn assert_verdicts(stored: &[(String, String, serde_json::Value)]) {
    let mut ids = std::collections::BTreeSet::new();
    for (id, schema, v) in stored {
        assert_eq!(v["schema"], "nightwatch.verdict.v1");
        assert_eq!(schema, "nightwatch.verdict.v1");
        assert_eq!(
            v["verdict_id"].as_str(),
            Some(id.as_str()),
            "Nats-Msg-Id is the verdict id"
        );
        assert!(!v["findings"].as_array().unwrap().is_empty());
        assert!(ids.insert(id.clone()), "verdict {id} stored twice");
    }
}

#[test]
fn jetstream_events_become_verdicts_on_nats() {
    let Some((url, _server)) = broker("jetstream_events_become_verdicts_on_nats") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let n = Names::new();
    let rt = runtime();
    let _in_runtime = rt.enter(); // the JetStream context spawns a task
    let client = rt.block_on(connect(&url));
    let js = jetstream::new(client.clone());
    create_verdict_stream(&rt, &js, &n);
    let core = subscribe_core(&rt, &client, &n.core_subject);

    let events = 2000;
    let lines = demo_lines(dir.path(), events, 7);
    let config = write_config(dir.path(), &url, &n, 256, 30);
    let daemon = Daemon::start(&["--config", &config.display().to_string()], &[]);
    wait_for_stream(&rt, &js, &n.events_stream);
    // One event per message for the first half, three per message for the rest.
    let half = events / 2;
    let started = Instant::now();
    let mut messages = publish(&rt, &js, &n.events_subject, &lines[..half], 1);
    messages += publish(&rt, &js, &n.events_subject, &lines[half..], 3);

    wait_for("every event parsed", Duration::from_secs(120), || {
        metric(&daemon, PARSED) >= events as f64
    });
    wait_for("every message acked", Duration::from_secs(60), || {
        let info = consumer_info(&rt, &js, &n.events_stream);
        info.num_pending == 0 && info.num_ack_pending == 0
    });
    let elapsed = started.elapsed();
    let info = consumer_info(&rt, &js, &n.events_stream);
    assert_eq!(info.ack_floor.stream_sequence, messages as u64);
    assert_eq!(
        metric(&daemon, PARSED),
        events as f64,
        "each event exactly once"
    );
    assert_eq!(
        metric(&daemon, "nightwatch_nats_acks_total{kind=\"ack\"}"),
        messages as f64
    );
    assert_eq!(
        metric(&daemon, "nightwatch_dead_letters_total{stage=\"parse\"}"),
        0.0
    );

    // Verdicts: every one the JetStream output published is in the stream exactly once, and
    // the core subscriber saw every one the core output flushed.
    let mut stored = Vec::new();
    wait_for("verdicts stored", Duration::from_secs(30), || {
        let published = metric(&daemon, PUBLISHED_JS);
        stored = verdict_stream_messages(&rt, &js, &n.verdict_stream);
        published > 0.0 && stored.len() as f64 == published
    });
    assert_verdicts(&stored);
    let total_verdicts: f64 = {
        let (_, body) = http_get(daemon.addr, "/metrics");
        body.lines()
            .filter(|l| l.starts_with("nightwatch_verdicts_total{"))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    };
    assert_eq!(
        stored.len() as f64,
        total_verdicts,
        "every verdict published"
    );
    wait_for("core verdicts", Duration::from_secs(10), || {
        core.lock().unwrap().len() as f64 == metric(&daemon, PUBLISHED_CORE)
    });
    assert_eq!(core.lock().unwrap().len(), stored.len());
    eprintln!(
        "nats e2e: {events} events in {messages} messages consumed and acked in {elapsed:?}; {} verdicts on JetStream, {} on core",
        stored.len(),
        core.lock().unwrap().len()
    );
    let (code, log) = daemon.terminate(Duration::from_secs(30));
    assert_eq!(code, 0, "{log:?}");
    assert!(
        log.iter().any(|l| l.contains("nats input stopped")),
        "{log:?}"
    );
}

#[test]
fn jetstream_redelivers_what_a_killed_daemon_did_not_finish() {
    let Some((url, _server)) = broker("jetstream_redelivers_what_a_killed_daemon_did_not_finish")
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let n = Names::new();
    let rt = runtime();
    let _in_runtime = rt.enter(); // the JetStream context spawns a task
    let client = rt.block_on(connect(&url));
    let js = jetstream::new(client.clone());
    create_verdict_stream(&rt, &js, &n);

    let events = 10_000;
    let capacity = 64; // max_ack_pending: the in-flight window
    let lines = demo_lines(dir.path(), events, 11);
    let config = write_config(dir.path(), &url, &n, capacity, 5);
    let args = ["--config".to_owned(), config.display().to_string()];
    let args: Vec<&str> = args.iter().map(String::as_str).collect();

    let mut first = Daemon::start(&args, &[]);
    wait_for_stream(&rt, &js, &n.events_stream);
    let messages = publish(&rt, &js, &n.events_subject, &lines, 1);
    assert_eq!(messages, events);
    wait_for("a quarter of the events", Duration::from_secs(120), || {
        metric(&first, PARSED) >= (events / 4) as f64
    });
    let parsed_before_kill = metric(&first, PARSED);
    first.child.kill().unwrap(); // SIGKILL
    first.child.wait().unwrap();
    assert!(parsed_before_kill < events as f64, "killed mid-stream");
    std::thread::sleep(Duration::from_millis(300));
    let at_kill = consumer_info(&rt, &js, &n.events_stream);
    eprintln!(
        "at SIGKILL: parsed {parsed_before_kill}, acked up to {}, {} delivered but unacked, {} not yet delivered",
        at_kill.ack_floor.stream_sequence, at_kill.num_ack_pending, at_kill.num_pending
    );
    assert!(
        at_kill.num_ack_pending <= capacity,
        "bounded by max_ack_pending"
    );
    drop(first);

    let second = Daemon::start(&args, &[]);
    wait_for(
        "every message acked after the restart",
        Duration::from_secs(180),
        || {
            let info = consumer_info(&rt, &js, &n.events_stream);
            info.num_pending == 0 && info.num_ack_pending == 0
        },
    );
    let info = consumer_info(&rt, &js, &n.events_stream);
    assert_eq!(info.ack_floor.stream_sequence, events as u64, "all acked");
    assert!(info.delivered.stream_sequence >= events as u64);
    let parsed_after = metric(&second, PARSED);
    let redelivered = metric(&second, REDELIVERED);
    let duplicates = parsed_before_kill + parsed_after - events as f64;
    eprintln!(
        "after restart: parsed {parsed_after}; redelivered {redelivered} (unacked at the kill: {}); events processed twice: at least {duplicates}",
        at_kill.num_ack_pending
    );
    assert!(
        parsed_before_kill + parsed_after >= events as f64,
        "every event processed"
    );
    assert!(redelivered >= at_kill.num_ack_pending as f64);
    // Duplicates: what was in flight at the kill (≤ max_ack_pending), plus redeliveries of
    // events whose ack_wait expired while they waited in a case (none expected).
    assert!(
        duplicates <= (2 * capacity) as f64,
        "duplicates bounded: {duplicates}"
    );
    let stored = verdict_stream_messages(&rt, &js, &n.verdict_stream);
    assert!(!stored.is_empty());
    assert_verdicts(&stored);
    let (code, log) = second.terminate(Duration::from_secs(30));
    assert_eq!(code, 0, "{log:?}");
}

#[test]
fn daemon_recovers_from_a_broker_restart_without_losing_events() {
    let Some(mut server) =
        owned_broker("daemon_recovers_from_a_broker_restart_without_losing_events")
    else {
        return;
    };
    let url = server.url();
    let dir = tempfile::tempdir().unwrap();
    let n = Names::new();
    let rt = runtime();
    let _in_runtime = rt.enter(); // the JetStream context spawns a task
    let client = rt.block_on(connect(&url));
    let js = jetstream::new(client.clone());
    create_verdict_stream(&rt, &js, &n);

    // The broker goes away mid-stream: messages are in flight in the daemon, their acks and
    // verdicts cannot be sent until it is back.
    let events = 6000;
    let capacity = 64;
    let lines = demo_lines(dir.path(), events, 23);
    let (first_half, second_half) = lines.split_at(events / 2);
    let config = write_config(dir.path(), &url, &n, capacity, 10);
    let daemon = Daemon::start(&["--config", &config.display().to_string()], &[]);
    wait_for_stream(&rt, &js, &n.events_stream);
    let m1 = publish(&rt, &js, &n.events_subject, first_half, 1);
    wait_for(
        "a third of the first half",
        Duration::from_secs(120),
        || metric(&daemon, PARSED) >= (first_half.len() / 3) as f64,
    );
    let before = consumer_info(&rt, &js, &n.events_stream);
    let parsed_at_stop = metric(&daemon, PARSED);
    let published_before = metric(&daemon, PUBLISHED_JS);
    let connects_before = metric(&daemon, CONNECTED);

    server.stop();
    std::thread::sleep(Duration::from_secs(3));
    server.launch();
    // Three clients: the input and the two outputs.
    let reconnect = wait_for(
        "the daemon's clients to reconnect",
        Duration::from_secs(30),
        || metric(&daemon, CONNECTED) >= connects_before + 3.0,
    );
    rt.block_on(async {
        while client.connection_state() != async_nats::connection::State::Connected {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    });
    let m2 = publish(&rt, &js, &n.events_subject, second_half, 1);
    let caught_up = wait_for("every message acked", Duration::from_secs(180), || {
        let info = consumer_info(&rt, &js, &n.events_stream);
        info.num_pending == 0 && info.num_ack_pending == 0
    });
    let info = consumer_info(&rt, &js, &n.events_stream);
    assert_eq!(
        info.ack_floor.stream_sequence,
        (m1 + m2) as u64,
        "none lost"
    );
    let parsed = metric(&daemon, PARSED);
    assert!(parsed >= events as f64, "every event processed: {parsed}");
    assert_eq!(
        metric(&daemon, "nightwatch_dead_letters_total{stage=\"parse\"}"),
        0.0
    );
    let mut stored = Vec::new();
    wait_for(
        "verdicts after the restart",
        Duration::from_secs(30),
        || {
            let published = metric(&daemon, PUBLISHED_JS);
            stored = verdict_stream_messages(&rt, &js, &n.verdict_stream);
            published > published_before && stored.len() as f64 == published
        },
    );
    assert_verdicts(&stored);
    eprintln!(
        "broker restart: stopped with {parsed_at_stop} of {} events parsed, acked up to {} and {} unacked; the daemon's 3 clients reconnected {reconnect:?} after the broker was ready again; all {} messages acked {caught_up:?} after the second half was published; events processed {parsed} (duplicates {}), redelivered {}; verdicts {published_before} before the stop, {} at the end",
        first_half.len(),
        before.ack_floor.stream_sequence,
        before.num_ack_pending,
        m1 + m2,
        parsed - events as f64,
        metric(&daemon, REDELIVERED),
        stored.len()
    );
    let (code, log) = daemon.terminate(Duration::from_secs(30));
    for line in log
        .iter()
        .filter(|l| l.contains("nats") && !l.contains(" INFO "))
    {
        eprintln!("  daemon: {line}");
    }
    assert_eq!(code, 0, "{log:?}");
    assert!(
        log.iter().any(|l| l.contains("nats disconnected")),
        "{log:?}"
    );
}

#[test]
fn core_nats_queue_group_input_reads_every_line() {
    let Some((url, _server)) = broker("core_nats_queue_group_input_reads_every_line") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let subject = format!("{}.core.events", unique("nw"));
    let rt = runtime();
    let client = rt.block_on(connect(&url));
    let config = dir.path().join("nightwatch.toml");
    std::fs::write(
        &config,
        format!(
            "[rules]\npaths = [{rules:?}]\n[inputs.bus]\ntype = \"nats\"\nurl = \"{url}\"\nsubject = \"{subject}\"\nqueue_group = \"nightwatch\"\n",
            rules = repo().join("rules").display().to_string(),
        ),
    )
    .unwrap();
    let daemon = Daemon::start(&["--config", &config.display().to_string()], &[]);
    wait_for("the input to connect", Duration::from_secs(30), || {
        metric(&daemon, CONNECTED) >= 1.0
    });
    // Core NATS is best-effort: only what is published after the subscription exists arrives.
    std::thread::sleep(Duration::from_millis(300));
    let lines = demo_lines(dir.path(), 500, 5);
    rt.block_on(async {
        for chunk in lines.chunks(5) {
            client
                .publish(subject.clone(), chunk.join("\n").into())
                .await
                .unwrap();
        }
        client.flush().await.unwrap();
    });
    wait_for("every line parsed", Duration::from_secs(60), || {
        metric(&daemon, PARSED) >= 500.0
    });
    assert_eq!(metric(&daemon, PARSED), 500.0);
    assert_eq!(
        metric(&daemon, "nightwatch_nats_messages_total{mode=\"core\"}"),
        100.0
    );
    let (code, log) = daemon.terminate(Duration::from_secs(30));
    assert_eq!(code, 0, "{log:?}");
}
