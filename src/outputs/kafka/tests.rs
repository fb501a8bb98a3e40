//! The Kafka output against librdkafka's mock cluster: key, headers and payload of each
//! verdict, acknowledgement only after the broker acked, and dead letters when the broker is
//! down longer than the retries last — then delivery again once it is back.

use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{BorrowedMessage, Headers, Message};
use rdkafka::mocking::MockCluster;
use rdkafka::{Offset, TopicPartitionList};

use super::*;
use crate::flow::ack::{Ack, Outcome};
use crate::flow::channel::{self, Sender};
use crate::kafka::Properties;
use crate::outputs::thehive::tests::sample;

const TOPIC: &str = "verdicts";

fn config(bootstrap: &str) -> KafkaOutputConfig {
    KafkaOutputConfig {
        brokers: bootstrap.to_owned(),
        topic: TOPIC.to_owned(),
        delivery_timeout_ms: 1000,
        max_retries: 1,
        retry_backoff_ms: 10,
        retry_backoff_max_ms: 20,
        properties: Properties::from_pairs([("linger.ms", "5")]),
    }
}

/// Sends one verdict with a tracked acknowledgement.
async fn send(tx: &Sender<Item>, case: &str) -> tokio::sync::oneshot::Receiver<Outcome> {
    let verdict = Arc::new(sample(case, 1));
    let (done, rx) = tokio::sync::oneshot::channel();
    let item = Item {
        json: serde_json::to_string(&*verdict).unwrap().into(),
        verdict,
        ack: Ack::new(move |o| {
            let _ = done.send(o);
        }),
    };
    assert!(tx.send(item).await.is_ok());
    rx
}

fn header(m: &BorrowedMessage<'_>, name: &str) -> String {
    let headers = m.headers().unwrap();
    headers
        .iter()
        .find(|h| h.key == name)
        .and_then(|h| h.value)
        .map(|v| String::from_utf8_lossy(v).into_owned())
        .unwrap_or_default()
}

/// Every message of the verdict topic: (key, schema, schema_version, verdict_id, body).
fn read_all(bootstrap: &str) -> Vec<(String, String, String, String, serde_json::Value)> {
    let consumer: BaseConsumer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "reader")
        .create()
        .unwrap();
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(TOPIC, 0, Offset::Beginning)
        .unwrap();
    consumer.assign(&tpl).unwrap();
    let (_, high) = consumer
        .fetch_watermarks(TOPIC, 0, Duration::from_secs(10))
        .unwrap();
    let mut out = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while (out.len() as i64) < high && std::time::Instant::now() < deadline {
        if let Some(Ok(m)) = consumer.poll(Duration::from_millis(200)) {
            out.push((
                String::from_utf8_lossy(m.key().unwrap_or_default()).into_owned(),
                header(&m, "schema"),
                header(&m, "schema_version"),
                header(&m, "verdict_id"),
                serde_json::from_slice(m.payload().unwrap()).unwrap(),
            ));
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verdicts_are_keyed_by_host_with_schema_headers_and_acked_after_the_broker() {
    let cluster = MockCluster::new(1).unwrap();
    cluster.create_topic(TOPIC, 1, 1).unwrap();
    let bootstrap = cluster.bootstrap_servers();
    let metrics = Arc::new(Metrics::new().unwrap());
    let dir = tempfile::tempdir().unwrap();
    let dead = dir.path().join("dead.jsonl");
    let sink = KafkaSink::open(
        "stream",
        &config(&bootstrap),
        Some(dead.clone()),
        metrics.clone(),
    )
    .unwrap();
    let (tx, rx) = channel::bounded::<Item>("output_stream", 16, &metrics);
    let task = tokio::spawn(sink.run(rx));

    let first = send(&tx, "case-1").await;
    let second = send(&tx, "case-2").await;
    assert_eq!(first.await.unwrap(), Outcome::Delivered);
    assert_eq!(second.await.unwrap(), Outcome::Delivered);
    let ok = metrics.sink.deliveries.with_label_values(&["stream", "ok"]);
    assert_eq!(ok.get(), 2);

    // The broker goes down: the attempt and its retry time out, the verdict is dead-lettered
    // and its acknowledgement released (handled).
    cluster.broker_down(1).unwrap();
    let lost = send(&tx, "case-3").await;
    assert_eq!(lost.await.unwrap(), Outcome::Delivered);
    let failed = metrics
        .sink
        .deliveries
        .with_label_values(&["stream", "failed"]);
    assert_eq!(failed.get(), 1);
    let letters = std::fs::read_to_string(&dead).unwrap();
    let letter: serde_json::Value = serde_json::from_str(letters.trim()).unwrap();
    assert_eq!(letter["output"], "stream");
    assert_eq!(letter["url"], format!("kafka://{bootstrap}/{TOPIC}"));
    assert_eq!(letter["attempts"], 2);
    assert_eq!(letter["verdict"]["case_id"], "case-3");

    // Back up: delivering again.
    cluster.broker_up(1).unwrap();
    let back = send(&tx, "case-4").await;
    assert_eq!(back.await.unwrap(), Outcome::Delivered);
    drop(tx);
    task.await.unwrap().unwrap();

    let b = bootstrap.clone();
    let stored = tokio::task::spawn_blocking(move || read_all(&b))
        .await
        .unwrap();
    let cases: Vec<&str> = stored
        .iter()
        .map(|(.., body)| body["case_id"].as_str().unwrap())
        .collect();
    assert_eq!(cases, ["case-1", "case-2", "case-4"]);
    for (key, schema, version, id, body) in &stored {
        assert_eq!(key, "WS-FIN-07.corp.example");
        assert_eq!(schema, "nightwatch.verdict.v1");
        assert_eq!(version, "1");
        assert_eq!(body["verdict_id"].as_str(), Some(id.as_str()));
    }
}
