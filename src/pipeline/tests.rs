//! The whole graph with acknowledgements: each record is acknowledged once, as delivered,
//! and a matching record only after its verdict is in the sink.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::Utc;

use super::*;
use crate::cases::CaseSettings;
use crate::detect::{LoadOptions, compile_str};
use crate::event::Origin;
use crate::flow::ack::{Ack, Outcome};
use crate::normalize::Format;
use crate::normalize::Payload;
use crate::outputs::{JsonlConfig, OutputConfig};

const RULE: &str = r#"
title: Whoami
id: 3b1f0c7e-0000-4000-8000-000000000001
status: test
level: high
logsource: {product: windows, category: process_creation}
detection:
  sel: {Image|endswith: '\whoami.exe'}
  condition: sel
"#;

fn line(index: u64, text: &str, ack: Ack) -> RawRecord {
    RawRecord {
        origin: Origin {
            input: Arc::from("test"),
            source: Arc::from("test.ndjson"),
            index,
        },
        received: Utc::now(),
        payload: Payload::Line {
            format: Format::Json,
            line: text.to_owned(),
        },
        ack,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_record_is_acknowledged_once_and_matches_only_after_the_sink() {
    let report = compile_str(RULE, &LoadOptions::default());
    assert!(report.rejected.is_empty(), "{:?}", report.rejected);
    let metrics = Arc::new(Metrics::new().unwrap());
    let settings = Settings {
        capacity: 8,
        parse_workers: 2,
        detect_workers: 2,
        correlation: CorrelationLimits::default(),
        lookout: None,
        journal: None,
    };
    let graph = spawn_detection(&settings, Arc::new(report.rules), metrics.clone());
    let verdicts = spawn_cases(
        graph.detections,
        CaseSettings::default(),
        Publishing::Live {
            interval: Duration::from_millis(20),
        },
        Annotators::default(),
        8,
        metrics.clone(),
    );
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("verdicts.jsonl");
    let ws = crate::outputs::websocket::VerdictStream::new(16, 16);
    let outputs = crate::outputs::spawn(
        &[(
            "file".into(),
            OutputConfig::Jsonl(JsonlConfig {
                path: out.clone(),
                format: Default::default(),
            }),
        )],
        verdicts,
        ws,
        8,
        metrics.clone(),
        Default::default(),
    )
    .await
    .unwrap();
    let dead = graph.dead;
    let dead_task = tokio::spawn(async move {
        let mut n = 0;
        while let Ok(letter) = dead.recv().await {
            n += 1;
            letter.ack.done();
        }
        n
    });

    // What each acknowledgement saw, and whether the verdict file held a verdict by then.
    let seen: Arc<Mutex<Vec<(u64, Outcome, bool)>>> = Arc::default();
    let tracked = |index: u64| {
        let (seen, out) = (seen.clone(), out.clone());
        Ack::new(move |outcome| {
            let in_sink = std::fs::read_to_string(&out).is_ok_and(|s| s.contains("Whoami"));
            seen.lock().unwrap().push((index, outcome, in_sink));
        })
    };
    let records = [
        r#"{"Channel":"Microsoft-Windows-Sysmon/Operational","EventID":1,"Computer":"ws1","Image":"C:\\Windows\\System32\\whoami.exe"}"#,
        r#"{"Channel":"Microsoft-Windows-Sysmon/Operational","EventID":1,"Computer":"ws1","Image":"C:\\Windows\\notepad.exe"}"#,
        r#"{"not json"#,
    ];
    for (i, text) in records.iter().enumerate() {
        graph
            .raw
            .send(line(i as u64, text, tracked(i as u64)))
            .await
            .unwrap();
    }
    drop(graph.raw);
    drop(graph.dead_tx);
    outputs.await.unwrap().unwrap();
    assert_eq!(dead_task.await.unwrap(), 1);

    let mut seen = seen.lock().unwrap().clone();
    seen.sort_by_key(|s| s.0);
    assert_eq!(
        seen.len(),
        3,
        "each record acknowledged exactly once: {seen:?}"
    );
    assert!(seen.iter().all(|s| s.1 == Outcome::Delivered), "{seen:?}");
    assert!(
        seen[0].2,
        "the match was acknowledged before its verdict was written"
    );
}

#[tokio::test]
async fn a_record_dropped_by_a_stopped_stage_fails() {
    // A detection whose case verdict never reaches a sink (the verdict stream is dropped).
    let metrics = Arc::new(Metrics::new().unwrap());
    let (tx, rx) = bounded::<Detection>("detections", 4, &metrics);
    let verdicts = spawn_cases(
        rx,
        CaseSettings::default(),
        Publishing::AtEnd,
        Annotators::default(),
        4,
        metrics,
    );
    let (otx, orx) = std::sync::mpsc::channel();
    let mut e = Event::new(
        Origin {
            input: Arc::from("t"),
            source: Arc::from("t"),
            index: 0,
        },
        Utc::now(),
        crate::event::Fields::new(),
    );
    e.host = Some("ws1".into());
    let rule = compile_str(RULE, &LoadOptions::default()).rules;
    let meta = rule.rules().next().unwrap().clone();
    tx.send(Detection {
        event: Arc::new(e),
        hits: vec![Hit::Rule(meta)],
        indicators: Vec::new(),
        ack: Ack::new(move |o| otx.send(o).unwrap()),
    })
    .await
    .unwrap();
    drop(tx);
    let published = verdicts.recv().await.unwrap();
    drop(published);
    assert_eq!(
        orx.recv_timeout(Duration::from_secs(5)),
        Ok(Outcome::Failed)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn feed_listed_indicators_are_findings_without_a_rule_and_internal_ones_stay_home() {
    let report = compile_str(RULE, &LoadOptions::default());
    let metrics = Arc::new(Metrics::new().unwrap());
    let mut feed = crate::intel::feeds::FeedBuilder::new();
    crate::intel::feeds::load_text("bad.example.net\n", "blocklist", &mut feed).unwrap();
    let lookout = Lookout::new(
        crate::intel::ExtractSettings::default(),
        Arc::new(std::sync::RwLock::new(Arc::new(feed.finish()))),
        metrics.clone(),
    );
    let settings = Settings {
        capacity: 8,
        parse_workers: 1,
        detect_workers: 1,
        correlation: CorrelationLimits::default(),
        lookout: Some(lookout),
        journal: None,
    };
    let graph = spawn_detection(&settings, Arc::new(report.rules), metrics.clone());
    let records = [
        // No rule, but a listed domain: a feed hit.
        r#"{"Channel":"Microsoft-Windows-Sysmon/Operational","EventID":22,"Computer":"ws1","QueryName":"bad.example.net"}"#,
        // A rule, an internal and an external address: only the external one is cited.
        r#"{"Channel":"Microsoft-Windows-Sysmon/Operational","EventID":1,"Computer":"ws1","Image":"C:\\Windows\\System32\\whoami.exe","CommandLine":"whoami 10.1.2.3 8.8.4.4"}"#,
        // Neither: no detection.
        r#"{"Channel":"Microsoft-Windows-Sysmon/Operational","EventID":22,"Computer":"ws1","QueryName":"good.example.org"}"#,
    ];
    for (i, r) in records.iter().enumerate() {
        graph
            .raw
            .send(line(i as u64, r, Ack::none()))
            .await
            .unwrap();
    }
    drop(graph.raw);
    drop(graph.dead_tx);
    let mut got = Vec::new();
    while let Ok(d) = graph.detections.recv().await {
        got.push(d);
    }
    got.sort_by_key(|d| d.event.origin.index);
    assert_eq!(got.len(), 2, "{got:?}");
    assert!(matches!(
        &got[0].hits[..],
        [Hit::Feed { indicator, feed, level }]
            if indicator.value == "bad.example.net" && feed == "blocklist" && *level == crate::detect::Level::High
    ));
    assert_eq!(got[0].indicators[0].value, "bad.example.net");
    assert!(matches!(&got[1].hits[..], [Hit::Rule(_)]));
    let cited: Vec<&str> = got[1].indicators.iter().map(|i| i.value.as_str()).collect();
    assert_eq!(cited, vec!["8.8.4.4"]);
}

fn part(seq: u64, n: u32, last: bool) -> Part<u32> {
    Part {
        seq,
        part: n,
        last,
        items: vec![(seq as u32) * 100 + n],
    }
}

#[test]
fn reorder_releases_parts_in_record_order_whatever_order_they_arrive_in() {
    let mut r = Reorder::new();
    let mut ready = Vec::new();
    // Record 0 has two parts, records 1 and 2 one each; they finish out of order.
    r.push(part(2, 0, true), &mut ready);
    r.push(part(0, 1, true), &mut ready);
    assert!(ready.is_empty(), "record 0's first part is still missing");
    r.push(part(0, 0, false), &mut ready);
    let got: Vec<u32> = ready.drain(..).flat_map(|p| p.items).collect();
    assert_eq!(
        got,
        vec![0, 1],
        "record 0, both parts; record 2 waits for 1"
    );
    r.push(part(1, 0, true), &mut ready);
    let got: Vec<u32> = ready.drain(..).flat_map(|p| p.items).collect();
    assert_eq!(got, vec![100, 200]);
    assert_eq!(r.drain().count(), 0);
}

#[test]
fn reorder_hands_back_what_it_holds_at_the_end_in_order() {
    let mut r = Reorder::new();
    let mut ready = Vec::new();
    r.push(part(3, 0, true), &mut ready);
    r.push(part(1, 0, true), &mut ready);
    assert!(ready.is_empty());
    let rest: Vec<u64> = r.drain().map(|p| p.seq).collect();
    assert_eq!(rest, vec![1, 3]);
}
