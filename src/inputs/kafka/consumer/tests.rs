//! The Kafka input against librdkafka's mock cluster (an in-process Kafka-protocol broker):
//! offsets are stored only over finished messages, partitions pause at the in-flight bound,
//! a failed message is read again, and nothing is committed past an unfinished one.

use std::time::Duration;

use rdkafka::consumer::BaseConsumer;
use rdkafka::mocking::MockCluster;
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};

use super::*;
use crate::flow::channel::{self, Receiver};
use crate::normalize::Payload;

const TOPIC: &str = "telemetry";

fn produce(bootstrap: &str, partition: i32, lines: &[String]) {
    let producer: ThreadedProducer<DefaultProducerContext> = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .unwrap();
    for line in lines {
        producer
            .send(
                BaseRecord::<(), str>::to(TOPIC)
                    .partition(partition)
                    .payload(line.as_str()),
            )
            .map_err(|(e, _)| e)
            .unwrap();
    }
    producer.flush(Duration::from_secs(10)).unwrap();
}

fn settings(bootstrap: &str, max_in_flight: usize) -> KafkaSettings {
    KafkaSettings {
        brokers: bootstrap.to_owned(),
        group_id: "nightwatch-test".to_owned(),
        topics: vec![TOPIC.to_owned()],
        format: Format::Json,
        auto_offset_reset: "earliest".to_owned(),
        max_in_flight,
        statistics_interval_ms: 100,
        properties: Properties::from_pairs([("session.timeout.ms", "6000")]),
    }
}

/// The group's committed offset of partition `p` (None: nothing committed).
fn committed(bootstrap: &str, p: i32) -> Option<i64> {
    let consumer: BaseConsumer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "nightwatch-test")
        .create()
        .unwrap();
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition(TOPIC, p);
    let got = consumer
        .committed_offsets(tpl, Duration::from_secs(10))
        .unwrap();
    match got.find_partition(TOPIC, p).unwrap().offset() {
        Offset::Offset(o) => Some(o),
        _ => None,
    }
}

async fn next(rx: &Receiver<RawRecord>, within: Duration) -> Option<RawRecord> {
    tokio::time::timeout(within, rx.recv()).await.ok()?.ok()
}

fn line(r: &RawRecord) -> &str {
    match &r.payload {
        Payload::Line { line, .. } => line,
        other => panic!("{other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offsets_advance_only_over_finished_messages_and_failures_are_read_again() {
    let cluster = MockCluster::new(1).unwrap();
    cluster.create_topic(TOPIC, 1, 1).unwrap();
    let bootstrap = cluster.bootstrap_servers();
    let lines: Vec<String> = (0..12).map(|i| format!("{{\"n\":{i}}}")).collect();
    produce(&bootstrap, 0, &lines);

    let metrics = Arc::new(Metrics::new().unwrap());
    let (tx, rx) = channel::bounded::<RawRecord>("raw", 64, &metrics);
    let stop = CancellationToken::new();
    let max_in_flight = 4;
    let input = tokio::spawn(run(
        Arc::from("stream"),
        settings(&bootstrap, max_in_flight),
        tx,
        stop.clone(),
        metrics.clone(),
    ));

    // The first window: max_in_flight messages, then the partition is paused.
    let mut held = Vec::new();
    for _ in 0..max_in_flight {
        held.push(next(&rx, Duration::from_secs(30)).await.expect("a record"));
    }
    assert_eq!(held[0].origin.source.as_ref(), "telemetry/0");
    let offsets: Vec<u64> = held.iter().map(|r| r.origin.index).collect();
    assert_eq!(offsets, [0, 1, 2, 3]);
    assert_eq!(line(&held[2]), "{\"n\":2}");
    assert!(
        next(&rx, Duration::from_millis(500)).await.is_none(),
        "paused at the in-flight bound"
    );
    assert_eq!(
        metrics
            .kafka
            .consumer_events
            .with_label_values(&["stream", "paused"])
            .get(),
        1
    );

    // Finish 1..3 but not 0: nothing may be stored; then 0: offset 4 is stored.
    let first = held.remove(0);
    for r in held.drain(..) {
        r.ack.done();
    }
    first.ack.done();

    // Resumed: 4..7 arrive. Offset 5 fails (dropped unfinished): the partition is rewound to
    // 4 and 4..7 are read again.
    let mut second = Vec::new();
    for _ in 0..4 {
        second.push(next(&rx, Duration::from_secs(30)).await.expect("resumed"));
    }
    assert_eq!(
        second.iter().map(|r| r.origin.index).collect::<Vec<_>>(),
        [4, 5, 6, 7]
    );
    let failed = second.remove(1);
    drop(failed);
    let mut seen = Vec::new();
    // The stale shares of 4, 6 and 7 finish too; their completions are ignored.
    for r in second {
        r.ack.done();
    }
    while seen.len() < 8 {
        let r = next(&rx, Duration::from_secs(30)).await.expect("replayed");
        seen.push(r.origin.index);
        r.ack.done();
    }
    assert_eq!(seen, [4, 5, 6, 7, 8, 9, 10, 11]);
    assert_eq!(
        metrics
            .kafka
            .consumer_events
            .with_label_values(&["stream", "rewound"])
            .get(),
        1
    );

    stop.cancel();
    drop(rx);
    let report = tokio::time::timeout(Duration::from_secs(30), input)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(report.messages, 16, "12 messages, 4 read twice");
    assert_eq!(report.rewound, 1);
    assert_eq!(
        tokio::task::spawn_blocking(move || committed(&bootstrap, 0))
            .await
            .unwrap(),
        Some(12)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unfinished_message_holds_the_commit_point_across_a_restart() {
    let cluster = MockCluster::new(1).unwrap();
    cluster.create_topic(TOPIC, 2, 1).unwrap();
    let bootstrap = cluster.bootstrap_servers();
    // Partition 0: one JSON event per message; partition 1: one message of three lines.
    produce(
        &bootstrap,
        0,
        &(0..5)
            .map(|i| format!("{{\"p\":0,\"n\":{i}}}"))
            .collect::<Vec<_>>(),
    );
    produce(
        &bootstrap,
        1,
        &["{\"a\":1}\n{\"b\":2}\n\n{\"c\":3}".to_owned()],
    );

    let metrics = Arc::new(Metrics::new().unwrap());
    let (tx, rx) = channel::bounded::<RawRecord>("raw", 64, &metrics);
    let stop = CancellationToken::new();
    let input = tokio::spawn(run(
        Arc::from("stream"),
        settings(&bootstrap, 64),
        tx,
        stop.clone(),
        metrics.clone(),
    ));
    let mut records = Vec::new();
    while records.len() < 8 {
        records.push(next(&rx, Duration::from_secs(30)).await.expect("record"));
    }
    let multi: Vec<(String, u64)> = records
        .iter()
        .filter(|r| r.origin.source.starts_with("telemetry/1"))
        .map(|r| (r.origin.source.to_string(), r.origin.index))
        .collect();
    assert_eq!(
        multi,
        [
            ("telemetry/1#0".to_owned(), 0),
            ("telemetry/1#0".to_owned(), 1),
            ("telemetry/1#0".to_owned(), 2)
        ]
    );
    // Finish everything except partition 0's offset 2, then stop: the unfinished record is
    // dropped as the input drains (no rewind while stopping).
    let mut unfinished = None;
    for r in records {
        if r.origin.source.as_ref() == "telemetry/0" && r.origin.index == 2 {
            unfinished = Some(r);
        } else {
            r.ack.done();
        }
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    stop.cancel();
    drop(unfinished);
    drop(rx);
    tokio::time::timeout(Duration::from_secs(30), input)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let b = bootstrap.clone();
    let (c0, c1) = tokio::task::spawn_blocking(move || (committed(&b, 0), committed(&b, 1)))
        .await
        .unwrap();
    assert_eq!(c0, Some(2), "held at the unfinished message");
    assert_eq!(c1, Some(1), "the three-line message is finished");

    // A restart reads partition 0 from offset 2 again.
    let (tx, rx) = channel::bounded::<RawRecord>("raw", 64, &metrics);
    let stop = CancellationToken::new();
    let input = tokio::spawn(run(
        Arc::from("stream"),
        settings(&bootstrap, 64),
        tx,
        stop.clone(),
        metrics.clone(),
    ));
    let mut again = Vec::new();
    while again.len() < 3 {
        let r = next(&rx, Duration::from_secs(30)).await.expect("replayed");
        again.push((r.origin.source.to_string(), r.origin.index));
        r.ack.done();
    }
    assert_eq!(
        again,
        [
            ("telemetry/0".to_owned(), 2),
            ("telemetry/0".to_owned(), 3),
            ("telemetry/0".to_owned(), 4)
        ]
    );
    stop.cancel();
    drop(rx);
    tokio::time::timeout(Duration::from_secs(30), input)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let lag = metrics
        .kafka
        .consumer_lag
        .with_label_values(&["stream"])
        .get();
    assert!(lag >= 0, "{lag}");
}
