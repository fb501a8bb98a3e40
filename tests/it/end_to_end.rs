//! Both brokers in, every verdict sink out: demo events produced to a Kafka topic and to a
//! JetStream stream are all consumed and acknowledged, and every verdict the daemon publishes
//! arrives, once, on each of the four sinks: the Kafka verdict topic, a NATS subject, a webhook
//! receiver and a WebSocket client.
//!
//! The brokers are the ones `.ci/run` starts, or ones the test starts (see `kafka` and `nats`);
//! without either the test is skipped with a note, and fails when `CI` is set. Loopback only.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_nats::jetstream;
use futures_util::StreamExt;
use tokio_tungstenite::tungstenite::Message;

use crate::helpers::{Daemon, demo_lines, runtime, unique, wait_for, write_config};
use crate::nats::{PARSED, consumer_info, metric, publish, subscribe_core, wait_for_stream};
use crate::ws_resume::Ws;
use crate::{kafka, nats, webhook, ws_resume};

/// Demo events produced to each broker, in `ROUNDS` rounds a little longer apart than the case
/// stage's update interval, so that cases grow over several verdict versions.
const EVENTS: usize = 1000;
const ROUNDS: usize = 4;
/// Events per broker message (several per message, so a message is acked only after all of
/// its events are finished).
const PER_MESSAGE: usize = 2;

/// Every JSON document a WebSocket client receives until the daemon closes it.
fn collect_ws(rt: &tokio::runtime::Runtime, ws: Ws) -> Arc<Mutex<Vec<serde_json::Value>>> {
    let seen: Arc<Mutex<Vec<serde_json::Value>>> = Arc::default();
    let out = seen.clone();
    rt.spawn(async move {
        let mut ws = ws;
        while let Some(Ok(message)) = ws.next().await {
            if let Message::Text(text) = message {
                out.lock()
                    .unwrap()
                    .push(serde_json::from_str(&text).unwrap());
            }
        }
    });
    seen
}

/// verdict_id → how many times a sink got it; panics on a document that is not a verdict.
fn tally<'a>(verdicts: impl Iterator<Item = &'a serde_json::Value>) -> BTreeMap<String, usize> {
    let mut ids = BTreeMap::new();
    for v in verdicts {
        assert_eq!(v["schema"], "nightwatch.verdict.v1", "{v}");
        let id = v["verdict_id"].as_str().expect("a verdict id").to_owned();
        *ids.entry(id).or_insert(0) += 1;
    }
    ids
}

#[test]
fn kafka_and_jetstream_events_reach_all_four_verdict_sinks() {
    let test = "kafka_and_jetstream_events_reach_all_four_verdict_sinks";
    let Some((bootstrap, _kafka)) = kafka::broker(test) else {
        return;
    };
    let Some((nats_url, _nats)) = nats::broker(test) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let rt = runtime();
    let _in_runtime = rt.enter(); // the JetStream context spawns a task

    let topics = kafka::names();
    kafka::create_topics(&rt, &bootstrap, &topics);
    let id = unique("e2e");
    let (events_stream, events_subject) = (format!("{id}_EVENTS"), format!("{id}.events"));
    let verdict_subject = format!("{id}.verdicts");
    let (hook, posted) = rt.block_on(webhook::receiver());

    let config = write_config(
        dir.path(),
        &format!(
            r#"[inputs.stream]
type = "kafka"
brokers = "{bootstrap}"
group_id = "{group}"
topics = ["{events_topic}"]
[inputs.stream.properties]
"auto.commit.interval.ms" = 200
[inputs.bus]
type = "nats"
url = "{nats_url}"
subject = "{events_subject}"
jetstream = {{ stream = "{events_stream}", consumer = "nightwatch", create = true }}
[outputs.topic]
type = "kafka"
brokers = "{bootstrap}"
topic = "{verdict_topic}"
[outputs.subject]
type = "nats"
url = "{nats_url}"
subject = "{verdict_subject}"
[outputs.soar]
type = "webhook"
url = "http://{hook}/api/v1/alert"
format = "native"
"#,
            group = topics.group,
            events_topic = topics.events,
            verdict_topic = topics.verdicts,
        ),
    );
    let daemon = Daemon::start(&["--config", &config.display().to_string()], &[]);

    // The live subscribers are in place before the first event exists.
    let client = rt.block_on(nats::connect(&nats_url));
    let on_subject = subscribe_core(&rt, &client, &verdict_subject);
    let on_ws = collect_ws(&rt, rt.block_on(ws_resume::connect(&daemon, "")));
    let js = jetstream::new(client);
    wait_for_stream(&rt, &js, &events_stream);

    let kafka_lines = demo_lines(dir.path(), EVENTS, 31);
    let nats_lines = demo_lines(dir.path(), EVENTS, 32);
    let started = Instant::now();
    let mut produced = kafka::Produced::default();
    let mut nats_messages = 0;
    let round = EVENTS / ROUNDS;
    for (to_kafka, to_nats) in kafka_lines.chunks(round).zip(nats_lines.chunks(round)) {
        kafka::produce(
            &rt,
            &bootstrap,
            &topics.events,
            to_kafka,
            PER_MESSAGE,
            &mut produced,
        );
        nats_messages += publish(&rt, &js, &events_subject, to_nats, PER_MESSAGE);
        std::thread::sleep(Duration::from_millis(1500));
    }

    // In: every event parsed once, every message acknowledged to its broker.
    wait_for("every event parsed", Duration::from_secs(300), || {
        metric(&daemon, PARSED) >= (2 * EVENTS) as f64
    });
    wait_for(
        "every Kafka offset committed",
        Duration::from_secs(60),
        || kafka::committed(&bootstrap, &topics) == produced.high_watermarks(),
    );
    wait_for(
        "every JetStream message acked",
        Duration::from_secs(60),
        || {
            let info = consumer_info(&rt, &js, &events_stream);
            info.num_ack_pending == 0 && info.num_pending == 0
        },
    );
    let consumer = consumer_info(&rt, &js, &events_stream);
    assert_eq!(consumer.delivered.stream_sequence, nats_messages as u64);
    assert_eq!(metric(&daemon, PARSED), (2 * EVENTS) as f64, "each once");
    for input in ["stream", "bus"] {
        assert_eq!(
            metric(
                &daemon,
                &format!("nightwatch_input_records_total{{input=\"{input}\"}}")
            ),
            EVENTS as f64,
            "{input}"
        );
    }

    // Out: the four sinks hold the same verdicts, each once, and nothing else. The case stage
    // publishes at most once a second; the count is final once it stops moving.
    let hook_verdicts = || -> Vec<serde_json::Value> {
        posted
            .lock()
            .unwrap()
            .iter()
            .map(|(_, body)| serde_json::from_slice(body).unwrap())
            .collect()
    };
    let mut settled = (0.0, Instant::now());
    let mut on_topic = Vec::new();
    wait_for(
        "every sink to hold every verdict",
        Duration::from_secs(90),
        || {
            let published = kafka::verdicts_total(&daemon);
            if published != settled.0 {
                settled = (published, Instant::now());
            }
            let counts = [
                on_subject.lock().unwrap().len(),
                on_ws.lock().unwrap().len(),
                hook_verdicts().len(),
            ];
            if published == 0.0
                || settled.1.elapsed() < Duration::from_secs(3)
                || counts.iter().any(|c| *c as f64 != published)
            {
                return false;
            }
            on_topic = kafka::read_verdicts(&bootstrap, &topics.verdicts, published as usize);
            on_topic.len() as f64 == published
        },
    );
    let published = settled.0 as usize;
    kafka::assert_verdicts(&on_topic);
    let topic_bodies: Vec<serde_json::Value> = on_topic.iter().map(|s| s.body.clone()).collect();
    let hook_bodies = hook_verdicts();
    let subject_bodies = on_subject.lock().unwrap().clone();
    let ws_bodies = on_ws.lock().unwrap().clone();
    let sinks = [
        ("kafka topic", tally(topic_bodies.iter())),
        ("nats subject", tally(subject_bodies.iter())),
        ("webhook", tally(hook_bodies.iter())),
        ("websocket", tally(ws_bodies.iter())),
    ];
    let expected: BTreeSet<&String> = sinks[0].1.keys().collect();
    assert_eq!(expected.len(), published, "distinct verdicts");
    for (sink, ids) in &sinks {
        let twice: Vec<_> = ids.iter().filter(|(_, n)| **n > 1).collect();
        assert!(twice.is_empty(), "{sink} got verdicts twice: {twice:?}");
        assert_eq!(ids.keys().collect::<BTreeSet<_>>(), expected, "{sink}");
    }

    // Both inputs are cited as evidence (the demo's hosts appear on both brokers, so cases mix
    // events from the two).
    let cited: BTreeSet<&str> = topic_bodies
        .iter()
        .flat_map(|v| v["findings"].as_array().into_iter().flatten())
        .flat_map(|f| f["evidence"].as_array().into_iter().flatten())
        .filter_map(|e| e["input"].as_str())
        .collect();
    assert!(
        cited.contains("stream") && cited.contains("bus"),
        "inputs cited: {cited:?}"
    );
    for (sink, failed) in [
        (
            "topic",
            "nightwatch_sink_deliveries_total{output=\"topic\",result=\"failed\"}",
        ),
        (
            "subject",
            "nightwatch_sink_deliveries_total{output=\"subject\",result=\"failed\"}",
        ),
        (
            "soar",
            "nightwatch_sink_deliveries_total{output=\"soar\",result=\"failed\"}",
        ),
    ] {
        assert_eq!(metric(&daemon, failed), 0.0, "{sink}");
    }
    assert_eq!(
        metric(&daemon, "nightwatch_dead_letters_total{stage=\"parse\"}"),
        0.0
    );
    eprintln!(
        "end to end: {} events ({} Kafka messages, {nats_messages} JetStream messages) became \
         {published} verdicts on 4 sinks in {:?}",
        2 * EVENTS,
        produced.messages,
        started.elapsed()
    );
    let (code, log) = daemon.terminate(Duration::from_secs(30));
    assert_eq!(code, 0, "{log:?}");
}
