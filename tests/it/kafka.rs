//! Kafka input and output against a real Kafka-protocol broker (`tansu`): end to end,
//! at-least-once across a SIGKILL, and recovery from the broker being unreachable.
//!
//! The broker is the one `.ci/run` starts (`NIGHTWATCH_TEST_KAFKA`, `host:port`); without it a
//! test starts its own `tansu` (in-memory storage) when the binary is on PATH or in
//! `~/.cargo/bin`, else it is skipped with a note. When `CI` is set a missing broker fails the
//! test. The outage test always owns its broker and puts a TCP relay in front of it (tansu's
//! storage is in memory, so a restarted tansu would have lost its topics; cutting the relay
//! makes the broker unreachable for the daemon, connections reset and refused, for 4 s).
//! Loopback only.
//!
//! Two defects of tansu 0.6 (dynostore engine) shape how the tests talk to it, not what they
//! assert:
//! * a Fetch whose offset lies inside a record batch skips that batch (Kafka returns it and the
//!   client drops the records before the offset), so a consumer resuming mid-batch — from a
//!   committed offset after a restart, or from its position after a pause — silently loses the
//!   rest of the batch, or gets nothing at all when it is the newest one. The test producers
//!   therefore write one record per batch (`batch.num.messages=1`), so every offset a consumer
//!   can resume from starts a batch;
//! * ListOffsets(latest) answers the base offset of the newest batch plus one, not the high
//!   watermark, so the high watermarks come from the producer's delivery reports, and the
//!   verdict topic (batched by the daemon's producer) is read until it goes quiet.

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, Message};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Offset, TopicPartitionList};

use crate::helpers::{self, Daemon, demo_lines, http_get, in_ci, runtime, unique, wait_for};
use crate::nats::metric;

mod cluster;

const BROKER_ENV: &str = "NIGHTWATCH_TEST_KAFKA";
const PARSED: &str = "nightwatch_events_parsed_total{format=\"json\"}";

fn tansu_binary() -> Option<PathBuf> {
    let on_path = Command::new("tansu")
        .arg("--help")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if on_path {
        return Some(PathBuf::from("tansu"));
    }
    let home = std::env::var_os("HOME").map(PathBuf::from)?;
    let cargo = home.join(".cargo/bin/tansu");
    cargo.exists().then_some(cargo)
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A `tansu broker` this test started (in-memory storage), killed on drop.
pub(crate) struct OwnedBroker {
    child: Child,
    port: u16,
}

impl OwnedBroker {
    /// Listens on a free port and advertises `advertised` (its own address by default).
    fn start(binary: &Path, advertised: Option<u16>) -> OwnedBroker {
        let port = free_port();
        let advertised = advertised.unwrap_or(port);
        let child = Command::new(binary)
            .args([
                "broker",
                "--listener-url",
                &format!("tcp://127.0.0.1:{port}"),
                "--advertised-listener-url",
                &format!("tcp://127.0.0.1:{advertised}"),
                "--storage-engine",
                "memory://tansu/",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting tansu");
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "tansu did not listen within 30 s"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        OwnedBroker { child, port }
    }
}

impl Drop for OwnedBroker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The broker a test uses: `(bootstrap, broker the test owns)`; `None` = skip.
pub(crate) fn broker(test: &str) -> Option<(String, Option<OwnedBroker>)> {
    if let Ok(addr) = std::env::var(BROKER_ENV) {
        return Some((addr, None));
    }
    assert!(
        !in_ci(),
        "CI is set but {BROKER_ENV} is not: .ci/run starts tansu and exports it"
    );
    if let Some(bin) = tansu_binary() {
        let b = OwnedBroker::start(&bin, None);
        return Some((format!("127.0.0.1:{}", b.port), Some(b)));
    }
    println!("note: {test}: no {BROKER_ENV} and no tansu; skipping");
    None
}

/// Topic and group names no other test uses.
pub(crate) struct Names {
    pub(crate) events: String,
    pub(crate) verdicts: String,
    pub(crate) group: String,
}

pub(crate) const EVENT_PARTITIONS: i32 = 3;

pub(crate) fn create_topics(rt: &tokio::runtime::Runtime, bootstrap: &str, n: &Names) {
    let admin: AdminClient<DefaultClientContext> = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .unwrap();
    let topics = [
        NewTopic::new(&n.events, EVENT_PARTITIONS, TopicReplication::Fixed(1)),
        NewTopic::new(&n.verdicts, 1, TopicReplication::Fixed(1)),
    ];
    let results = rt
        .block_on(admin.create_topics(&topics, &AdminOptions::new()))
        .unwrap();
    for r in results {
        r.unwrap();
    }
}

fn write_config(dir: &Path, bootstrap: &str, n: &Names, capacity: usize) -> PathBuf {
    helpers::write_config(
        dir,
        &format!(
            r#"[pipeline]
channel_capacity = {capacity}
[inputs.stream]
type = "kafka"
brokers = "{bootstrap}"
group_id = "{group}"
topics = ["{events}"]
statistics_interval_ms = 500
[inputs.stream.properties]
"auto.commit.interval.ms" = 200
"reconnect.backoff.max.ms" = 1000
[outputs.verdicts]
type = "kafka"
brokers = "{bootstrap}"
topic = "{verdicts}"
max_retries = 20
[outputs.verdicts.properties]
"reconnect.backoff.max.ms" = 1000
"#,
            group = n.group,
            events = n.events,
            verdicts = n.verdicts,
        ),
    )
}

/// What a test produced to the events topic: messages, and per partition the offset after the
/// last one (from the broker's delivery reports, not ListOffsets: see the module docs).
#[derive(Default)]
pub(crate) struct Produced {
    pub(crate) messages: usize,
    high: [i64; EVENT_PARTITIONS as usize],
}

impl Produced {
    pub(crate) fn high_watermarks(&self) -> i64 {
        self.high.iter().sum()
    }
}

/// The (key, partition) of a message's lines.
type Route<'a> = dyn Fn(&[String]) -> (String, i32) + 'a;

/// Produces `lines`, `per_message` lines per message, round-robin over the partitions (or to the
/// (key, partition) `route` gives a message). Every message is acked by the broker and is its
/// own record batch (`batch.num.messages=1`, see the module docs).
fn produce_to(
    rt: &tokio::runtime::Runtime,
    bootstrap: &str,
    topic: &str,
    lines: &[String],
    per_message: usize,
    route: Option<&Route<'_>>,
    produced: &mut Produced,
) {
    let producer: FutureProducer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("linger.ms", "5")
        .set("batch.num.messages", "1")
        .create()
        .unwrap();
    rt.block_on(async {
        let mut pending = Vec::new();
        for (i, chunk) in lines.chunks(per_message.max(1)).enumerate() {
            let payload = chunk.join("\n");
            let routed = route.map(|f| f(chunk));
            let mut record = FutureRecord::<String, String>::to(topic).payload(&payload);
            record = match &routed {
                Some((key, partition)) => record.key(key).partition(*partition),
                None => record.partition(i as i32 % EVENT_PARTITIONS),
            };
            pending.push(
                producer
                    .send_result(record)
                    .map_err(|(e, _)| e)
                    .expect("enqueue"),
            );
            produced.messages += 1;
            if pending.len() >= 500 {
                for p in pending.drain(..) {
                    let d = p.await.unwrap().map_err(|(e, _)| e).expect("produced");
                    let h = &mut produced.high[d.partition as usize];
                    *h = (*h).max(d.offset + 1);
                }
            }
        }
        for p in pending {
            let d = p.await.unwrap().map_err(|(e, _)| e).expect("produced");
            let h = &mut produced.high[d.partition as usize];
            *h = (*h).max(d.offset + 1);
        }
    });
}

pub(crate) fn produce(
    rt: &tokio::runtime::Runtime,
    bootstrap: &str,
    topic: &str,
    lines: &[String],
    per_message: usize,
    produced: &mut Produced,
) {
    produce_to(rt, bootstrap, topic, lines, per_message, None, produced);
}

/// The group's committed offsets of the events topic, summed over its partitions.
pub(crate) fn committed(bootstrap: &str, n: &Names) -> i64 {
    let consumer: BaseConsumer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", &n.group)
        .create()
        .unwrap();
    let mut tpl = TopicPartitionList::new();
    for p in 0..EVENT_PARTITIONS {
        tpl.add_partition(&n.events, p);
    }
    consumer
        .committed_offsets(tpl, Duration::from_secs(10))
        .map(|tpl| {
            tpl.elements()
                .iter()
                .map(|e| match e.offset() {
                    Offset::Offset(o) => o,
                    _ => 0,
                })
                .sum()
        })
        .unwrap_or(-1)
}

/// One message of the verdict topic.
pub(crate) struct StoredVerdict {
    pub(crate) key: String,
    pub(crate) schema: String,
    pub(crate) verdict_id: String,
    pub(crate) instance: String,
    pub(crate) body: serde_json::Value,
}

/// Every verdict on the verdict topic. Reads from
/// the beginning until at least `expected` arrived and then nothing more for a second (tansu's
/// ListOffsets cannot say where the topic ends: see the module docs).
pub(crate) fn read_verdicts(bootstrap: &str, topic: &str, expected: usize) -> Vec<StoredVerdict> {
    let consumer: BaseConsumer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", unique("reader"))
        .create()
        .unwrap();
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(topic, 0, Offset::Beginning)
        .unwrap();
    consumer.assign(&tpl).unwrap();
    let mut out = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut last = Instant::now();
    loop {
        let Some(Ok(m)) = consumer.poll(Duration::from_millis(100)) else {
            if out.len() >= expected && last.elapsed() > Duration::from_secs(1) {
                return out;
            }
            assert!(
                Instant::now() < deadline,
                "read {} of at least {expected} verdicts",
                out.len()
            );
            continue;
        };
        last = Instant::now();
        let header = |name: &str| {
            m.headers()
                .and_then(|h| h.iter().find(|h| h.key == name).and_then(|h| h.value))
                .map(|v| String::from_utf8_lossy(v).into_owned())
                .unwrap_or_default()
        };
        out.push(StoredVerdict {
            key: String::from_utf8_lossy(m.key().unwrap_or_default()).into_owned(),
            schema: header("schema"),
            verdict_id: header("verdict_id"),
            instance: header("nightwatch_instance"),
            body: serde_json::from_slice(m.payload().unwrap()).unwrap(),
        });
    }
}

pub(crate) fn assert_verdicts(stored: &[StoredVerdict]) {
    for s in stored {
        let v = &s.body;
        assert_eq!(s.schema, "nightwatch.verdict.v1");
        assert_eq!(v["schema"], "nightwatch.verdict.v1");
        assert_eq!(v["verdict_id"].as_str(), Some(s.verdict_id.as_str()));
        assert_eq!(v["host"].as_str(), Some(s.key.as_str()), "keyed by host");
        assert!(!s.instance.is_empty(), "the producing instance is named");
        assert!(!v["findings"].as_array().unwrap().is_empty());
    }
}

pub(crate) fn verdicts_total(daemon: &Daemon) -> f64 {
    let (_, body) = http_get(daemon.addr, "/metrics");
    body.lines()
        .filter(|l| l.starts_with("nightwatch_verdicts_total{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

pub(crate) fn names() -> Names {
    let id = unique("nw");
    Names {
        events: format!("{id}-events"),
        verdicts: format!("{id}-verdicts"),
        group: format!("{id}-group"),
    }
}

#[test]
fn kafka_events_become_verdicts_on_kafka() {
    let Some((bootstrap, _broker)) = broker("kafka_events_become_verdicts_on_kafka") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let n = names();
    let rt = runtime();
    create_topics(&rt, &bootstrap, &n);
    let events = 2000;
    let lines = demo_lines(dir.path(), events, 7);
    let config = write_config(dir.path(), &bootstrap, &n, 1024);
    let daemon = Daemon::start(&["--config", &config.display().to_string()], &[]);
    // One event per message for the first half, three per message for the rest.
    let half = events / 2;
    let started = Instant::now();
    let mut produced = Produced::default();
    produce(&rt, &bootstrap, &n.events, &lines[..half], 1, &mut produced);
    produce(&rt, &bootstrap, &n.events, &lines[half..], 3, &mut produced);
    let (messages, high) = (produced.messages, produced.high_watermarks());

    wait_for("every event parsed", Duration::from_secs(420), || {
        metric(&daemon, PARSED) >= events as f64
    });
    let mut position = 0;
    let waited = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        wait_for("every offset committed", Duration::from_secs(60), || {
            position = committed(&bootstrap, &n);
            position == high
        })
    }));
    assert!(
        waited.is_ok(),
        "committed {position} of {high} (high watermarks summed); {messages} messages produced; daemon: {} messages, lag gauge {}",
        metric(&daemon, "nightwatch_kafka_messages_total{input=\"stream\"}"),
        metric(
            &daemon,
            "nightwatch_kafka_consumer_lag_messages{input=\"stream\"}"
        ),
    );
    let elapsed = started.elapsed();
    assert_eq!(committed(&bootstrap, &n), messages as i64);
    assert_eq!(
        metric(&daemon, PARSED),
        events as f64,
        "each event exactly once"
    );
    assert_eq!(
        metric(&daemon, "nightwatch_kafka_messages_total{input=\"stream\"}"),
        messages as f64
    );
    assert_eq!(
        metric(&daemon, "nightwatch_dead_letters_total{stage=\"parse\"}"),
        0.0
    );
    let mut stored = Vec::new();
    wait_for(
        "every verdict on the topic",
        Duration::from_secs(60),
        || {
            let ok = metric(
                &daemon,
                "nightwatch_sink_deliveries_total{output=\"verdicts\",result=\"ok\"}",
            );
            stored = read_verdicts(&bootstrap, &n.verdicts, ok as usize);
            ok > 0.0 && stored.len() as f64 == ok && ok == verdicts_total(&daemon)
        },
    );
    assert_verdicts(&stored);
    let lag = metric(
        &daemon,
        "nightwatch_kafka_consumer_lag_messages{input=\"stream\"}",
    );
    eprintln!(
        "kafka e2e: {events} events in {messages} messages consumed and committed in {elapsed:?}; {} verdicts on the verdict topic; lag gauge {lag}",
        stored.len()
    );
    let (code, log) = daemon.terminate(Duration::from_secs(30));
    assert_eq!(code, 0, "{log:?}");
    assert!(
        log.iter().any(|l| l.contains("kafka input stopped")),
        "{log:?}"
    );
}

#[test]
fn kafka_rereads_what_a_killed_daemon_did_not_finish() {
    let Some((bootstrap, _broker)) = broker("kafka_rereads_what_a_killed_daemon_did_not_finish")
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let n = names();
    let rt = runtime();
    create_topics(&rt, &bootstrap, &n);
    let events = 4000;
    let capacity = 64; // max_in_flight
    let lines = demo_lines(dir.path(), events, 11);
    let config = write_config(dir.path(), &bootstrap, &n, capacity);
    let args = ["--config".to_owned(), config.display().to_string()];
    let args: Vec<&str> = args.iter().map(String::as_str).collect();

    let mut produced = Produced::default();
    produce(&rt, &bootstrap, &n.events, &lines, 1, &mut produced);
    assert_eq!(produced.messages, events);
    let high = produced.high_watermarks();
    let mut first = Daemon::start(&args, &[]);
    wait_for("a quarter of the events", Duration::from_secs(420), || {
        metric(&first, PARSED) >= (events / 4) as f64
    });
    let parsed_before_kill = metric(&first, PARSED);
    first.child.kill().unwrap(); // SIGKILL
    first.child.wait().unwrap();
    assert!(parsed_before_kill < events as f64, "killed mid-stream");
    let committed_at_kill = committed(&bootstrap, &n);
    drop(first);

    let second = Daemon::start(&args, &[]);
    second.wait_for(
        "every offset committed after the restart",
        Duration::from_secs(420),
        &[
            "nightwatch_kafka",
            "nightwatch_events_parsed",
            "nightwatch_stage",
        ],
        || committed(&bootstrap, &n) == high,
    );
    wait_for(
        "the parse counter to settle",
        Duration::from_secs(30),
        || metric(&second, PARSED) >= (events as i64 - committed_at_kill) as f64,
    );
    let parsed_after = metric(&second, PARSED);
    let total = parsed_before_kill + parsed_after;
    let duplicates = total - events as f64;
    let uncommitted_at_kill = parsed_before_kill - committed_at_kill as f64;
    eprintln!(
        "kafka SIGKILL: {events} events; parsed {parsed_before_kill} before the kill with {committed_at_kill} committed ({uncommitted_at_kill} processed but not committed); parsed {parsed_after} after the restart; lost 0, processed twice {duplicates}"
    );
    assert!(total >= events as f64, "every event processed");
    // What is read twice is exactly what was processed but not yet committed at the kill: the
    // in-flight window plus what finished within the last auto-commit interval (200 ms).
    assert!(
        duplicates <= uncommitted_at_kill.max(0.0),
        "duplicates {duplicates} beyond the uncommitted {uncommitted_at_kill}"
    );
    let stored = read_verdicts(&bootstrap, &n.verdicts, 1);
    assert!(!stored.is_empty());
    assert_verdicts(&stored);
    let (code, log) = second.terminate(Duration::from_secs(30));
    assert_eq!(code, 0, "{log:?}");
}

/// A TCP relay from `listen` to `target` that can be cut (every connection reset, new ones
/// refused) and restored.
struct Relay {
    up: Arc<AtomicBool>,
    generation: Arc<std::sync::atomic::AtomicU64>,
}

impl Relay {
    fn start(rt: &tokio::runtime::Runtime, listen: u16, target: SocketAddr) -> Relay {
        let up = Arc::new(AtomicBool::new(true));
        let generation = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let (u, g) = (up.clone(), generation.clone());
        let listener = rt
            .block_on(tokio::net::TcpListener::bind(("127.0.0.1", listen)))
            .unwrap();
        rt.spawn(async move {
            loop {
                let Ok((mut inbound, _)) = listener.accept().await else {
                    continue;
                };
                if !u.load(Ordering::SeqCst) {
                    drop(inbound); // refused (reset right away)
                    continue;
                }
                let born = g.load(Ordering::SeqCst);
                let g = g.clone();
                tokio::spawn(async move {
                    let Ok(mut outbound) = tokio::net::TcpStream::connect(target).await else {
                        return;
                    };
                    let cut = async {
                        while g.load(Ordering::SeqCst) == born {
                            tokio::time::sleep(Duration::from_millis(20)).await;
                        }
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                        _ = cut => {}
                    }
                });
            }
        });
        Relay { up, generation }
    }

    fn cut(&self) {
        self.up.store(false, Ordering::SeqCst);
        self.generation.fetch_add(1, Ordering::SeqCst);
    }

    fn restore(&self) {
        self.up.store(true, Ordering::SeqCst);
    }
}

#[test]
fn daemon_recovers_when_the_broker_is_unreachable_for_seconds() {
    let Some(bin) = tansu_binary() else {
        assert!(!in_ci(), "CI is set but tansu is not installed");
        println!(
            "note: daemon_recovers_when_the_broker_is_unreachable_for_seconds: no tansu; skipping"
        );
        return;
    };
    let rt = runtime();
    let relay_port = free_port();
    let broker = OwnedBroker::start(&bin, Some(relay_port));
    let relay = Relay::start(
        &rt,
        relay_port,
        SocketAddr::from(([127, 0, 0, 1], broker.port)),
    );
    let bootstrap = format!("127.0.0.1:{relay_port}");
    let dir = tempfile::tempdir().unwrap();
    let n = names();
    create_topics(&rt, &bootstrap, &n);
    let events = 3000;
    let lines = demo_lines(dir.path(), events, 23);
    let (first_half, second_half) = lines.split_at(events / 2);
    let config = write_config(dir.path(), &bootstrap, &n, 256);
    let daemon = Daemon::start(&["--config", &config.display().to_string()], &[]);
    let mut produced = Produced::default();
    produce(&rt, &bootstrap, &n.events, first_half, 1, &mut produced);
    wait_for(
        "a third of the first half",
        Duration::from_secs(420),
        || metric(&daemon, PARSED) >= (first_half.len() / 3) as f64,
    );
    let parsed_at_cut = metric(&daemon, PARSED);
    let delivered_at_cut = metric(
        &daemon,
        "nightwatch_sink_deliveries_total{output=\"verdicts\",result=\"ok\"}",
    );
    relay.cut();
    std::thread::sleep(Duration::from_secs(4));
    relay.restore();
    produce(&rt, &bootstrap, &n.events, second_half, 1, &mut produced);
    let high = produced.high_watermarks();
    let caught_up = wait_for("every offset committed", Duration::from_secs(420), || {
        committed(&bootstrap, &n) == high
    });
    assert_eq!(high, produced.messages as i64, "each message written once");
    let parsed = metric(&daemon, PARSED);
    assert!(parsed >= events as f64, "every event processed: {parsed}");
    let mut stored = Vec::new();
    wait_for(
        "every verdict on the topic",
        Duration::from_secs(60),
        || {
            let ok = metric(
                &daemon,
                "nightwatch_sink_deliveries_total{output=\"verdicts\",result=\"ok\"}",
            );
            stored = read_verdicts(&bootstrap, &n.verdicts, ok as usize);
            ok == verdicts_total(&daemon) && stored.len() as f64 >= ok
        },
    );
    assert_verdicts(&stored);
    let failed = metric(
        &daemon,
        "nightwatch_sink_deliveries_total{output=\"verdicts\",result=\"failed\"}",
    );
    assert_eq!(failed, 0.0, "no verdict dead-lettered");
    eprintln!(
        "kafka outage: cut for 4 s with {parsed_at_cut} of {} events parsed and {delivered_at_cut} verdicts delivered; all {} messages committed {caught_up:?} after the second half was produced; events processed {parsed} (duplicates {}); {} verdicts on the topic",
        first_half.len(),
        produced.messages,
        parsed - events as f64,
        stored.len()
    );
    let (code, log) = daemon.terminate(Duration::from_secs(30));
    assert_eq!(code, 0, "{log:?}");
    drop(broker);
}
