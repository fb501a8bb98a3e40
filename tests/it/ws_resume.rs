//! `/ws?after=<verdict_id>`: a reconnecting client gets exactly what it missed, then the live
//! stream; an id that left the replay window is reported as a gap.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use tokio_tungstenite::tungstenite::Message;

use crate::helpers::{Daemon, http_get};

pub(crate) type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

pub(crate) async fn connect(daemon: &Daemon, query: &str) -> Ws {
    let url = format!("ws://{}/ws{query}", daemon.addr);
    tokio_tungstenite::connect_async(&url)
        .await
        .expect("ws connect")
        .0
}

/// The next text message as JSON.
pub(crate) async fn next(ws: &mut Ws) -> serde_json::Value {
    let text = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            match ws.next().await {
                Some(Ok(Message::Text(t))) => return t.to_string(),
                Some(Ok(_)) => continue,
                other => panic!("websocket ended: {other:?}"),
            }
        }
    })
    .await
    .expect("a message within 30 s");
    serde_json::from_str(&text).unwrap()
}

fn id(v: &serde_json::Value) -> String {
    v["verdict_id"].as_str().expect("a verdict").to_owned()
}

/// A client connected for the whole test: every verdict id in publication order.
fn observe(ws: Ws) -> Arc<Mutex<Vec<String>>> {
    let seen: Arc<Mutex<Vec<String>>> = Arc::default();
    let out = seen.clone();
    tokio::spawn(async move {
        let mut ws = ws;
        loop {
            let v = next(&mut ws).await;
            out.lock().unwrap().push(id(&v));
        }
    });
    seen
}

async fn wait_for(seen: &Arc<Mutex<Vec<String>>>, count: usize) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while seen.lock().unwrap().len() < count {
        assert!(
            Instant::now() < deadline,
            "only {} verdicts published",
            seen.lock().unwrap().len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Where the observer saw `id` (waiting for it to arrive there too).
async fn position(seen: &Arc<Mutex<Vec<String>>>, id: &str) -> usize {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(p) = seen.lock().unwrap().iter().position(|s| s == id) {
            return p;
        }
        assert!(Instant::now() < deadline, "the observer never saw {id}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn demo(extra: &[(&str, &str)]) -> Daemon {
    let mut env = vec![
        ("NIGHTWATCH__DEMO__EVENTS_PER_SECOND", "2000"),
        ("NIGHTWATCH__CASES__UPDATE_INTERVAL_SECS", "1"),
    ];
    env.extend_from_slice(extra);
    Daemon::start(&["--demo"], &env)
}

#[test]
fn a_resuming_client_gets_exactly_the_verdicts_it_missed_then_the_live_stream() {
    let daemon = demo(&[]);
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        let seen = observe(connect(&daemon, "").await);
        let mut client = connect(&daemon, "").await;
        let mut first = Vec::new();
        for _ in 0..3 {
            first.push(id(&next(&mut client).await));
        }
        drop(client);
        let last = first[2].clone();
        let at = position(&seen, &last).await;
        assert_eq!(
            seen.lock().unwrap()[at - 2..=at],
            first[..],
            "one order for all"
        );

        // Miss at least five verdicts.
        wait_for(&seen, at + 1 + 5).await;
        let mut resumed_ws = connect(&daemon, &format!("?after={last}")).await;
        // What was missed so far, plus at least three published after the reconnect.
        let missed = seen.lock().unwrap().len() - (at + 1);
        let mut resumed = Vec::new();
        for _ in 0..missed + 3 {
            resumed.push(id(&next(&mut resumed_ws).await));
        }
        wait_for(&seen, at + 1 + resumed.len()).await;
        let expected = seen.lock().unwrap()[at + 1..at + 1 + resumed.len()].to_vec();
        assert_eq!(
            resumed, expected,
            "the missed verdicts, in order, then live, once each"
        );
        eprintln!(
            "resumed after {last}: {missed} replayed, {} live",
            resumed.len() - missed
        );
    });
    let (_, metrics) = http_get(daemon.addr, "/metrics");
    assert!(
        metrics.contains("nightwatch_ws_resumes_total{result=\"replayed\"} 1"),
        "{metrics}"
    );
    let (code, _) = daemon.terminate(Duration::from_secs(30));
    assert_eq!(code, 0);
}

#[test]
fn an_id_outside_the_replay_window_is_a_gap_then_the_oldest_kept_verdicts() {
    const REPLAY: usize = 3;
    let daemon = demo(&[("NIGHTWATCH__API__WS_REPLAY", "3")]);
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        let seen = observe(connect(&daemon, "").await);
        let mut client = connect(&daemon, "").await;
        let gone = id(&next(&mut client).await);
        drop(client);
        let at = position(&seen, &gone).await;
        // More than the window published since: `gone` has left it.
        wait_for(&seen, at + 1 + REPLAY + 2).await;

        let mut ws = connect(&daemon, &format!("?after={gone}")).await;
        assert_eq!(
            next(&mut ws).await,
            serde_json::json!({"type": "resume_gap", "after": gone})
        );
        let mut got = Vec::new();
        for _ in 0..REPLAY + 2 {
            got.push(id(&next(&mut ws).await));
        }
        let start = position(&seen, &got[0]).await;
        assert!(start > at + 1, "verdicts after {gone} are really missing");
        wait_for(&seen, start + got.len()).await;
        let expected = seen.lock().unwrap()[start..start + got.len()].to_vec();
        assert_eq!(
            got, expected,
            "the kept window, then live, without a hole or repeat"
        );

        let mut unknown = connect(&daemon, "?after=no-such-verdict").await;
        assert_eq!(
            next(&mut unknown).await,
            serde_json::json!({"type": "resume_gap", "after": "no-such-verdict"})
        );
    });
    let (_, metrics) = http_get(daemon.addr, "/metrics");
    assert!(
        metrics.contains("nightwatch_ws_resumes_total{result=\"gap\"} 2"),
        "{metrics}"
    );
    let (code, _) = daemon.terminate(Duration::from_secs(30));
    assert_eq!(code, 0);
}
