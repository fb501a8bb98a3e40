//! The `/ws` verdict stream, with resumption.
//!
//! [`VerdictStream`] numbers every published verdict and keeps two things: a broadcast ring of
//! `api.ws_max_lag` entries that connected clients read at their own pace, and a replay ring of
//! the last `api.ws_replay` verdicts for clients that reconnect with `/ws?after=<verdict_id>`,
//! holding at most `api.ws_replay_bytes` of verdict JSON (the oldest leave first; the newest
//! verdict is always kept), since a verdict of a busy case runs to hundreds of KB.
//! The pipeline never waits for a client: one that falls more than the broadcast ring's length
//! behind, or that stops reading long enough for a send to stall, is closed with a reason
//! (`lagging` or `stalled`) and counted.
//!
//! Resumption has no gap and no duplicate: [`VerdictStream::publish`] appends to the replay
//! ring and broadcasts under one lock, and [`VerdictStream::subscribe`] subscribes to the
//! broadcast *before* snapshotting the ring under that same lock. Every verdict is therefore
//! either in the snapshot or received live, and the client loop also drops any live verdict
//! whose sequence number is not past the snapshot's, so the replay-to-live switch cannot
//! repeat one. When the requested id has left the replay ring (or was never seen) the client
//! first gets `{"type":"resume_gap","after":"<id>"}`, then the ring from its oldest entry.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, WebSocket, close_code};
use tokio::sync::broadcast::{self, error::RecvError};
use tokio_util::sync::CancellationToken;

use crate::metrics::Metrics;

/// How long one send to a client may take before the client counts as stalled.
const SEND_TIMEOUT: Duration = Duration::from_secs(10);

/// One published verdict as the stream carries it.
#[derive(Debug)]
pub struct StreamItem {
    /// Position in the stream, from 0, without holes.
    pub seq: u64,
    pub verdict_id: Box<str>,
    /// The verdict document, shared with the other sinks.
    pub json: Arc<str>,
    /// Its compact queue form ([`crate::verdict::QueueItem`]) for consoles.
    pub queue: Arc<str>,
}

/// What a client is sent per verdict version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum View {
    /// The whole verdict document (SOAR clients, scripts).
    #[default]
    Verdict,
    /// The compact queue item (the console).
    Queue,
}

struct Ring {
    items: VecDeque<Arc<StreamItem>>,
    capacity: usize,
    /// Bytes of verdict JSON in `items`, and the most it may hold.
    bytes: usize,
    max_bytes: usize,
    next_seq: u64,
}

/// The live verdict stream and its replay ring.
pub struct VerdictStream {
    live: broadcast::Sender<Arc<StreamItem>>,
    ring: Mutex<Ring>,
}

/// What a new client starts from, taken atomically with its live subscription.
pub struct Subscription {
    /// The requested id when it was not in the replay ring: the client missed verdicts.
    pub gap: Option<String>,
    /// Verdicts to send before the live stream, oldest first.
    pub backlog: Vec<Arc<StreamItem>>,
    /// Live verdicts with a sequence below this were already covered by the snapshot.
    pub live_from: u64,
    pub live: broadcast::Receiver<Arc<StreamItem>>,
}

impl VerdictStream {
    /// A stream whose clients may lag `max_lag` verdicts and that keeps `replay` verdicts for
    /// resumption (both at least 1), whatever their size.
    pub fn new(max_lag: usize, replay: usize) -> Arc<Self> {
        Self::with_replay_bytes(max_lag, replay, usize::MAX)
    }

    /// Like [`VerdictStream::new`], the replay ring also holding at most `replay_bytes` of
    /// verdict JSON (and always the newest verdict, however large).
    pub fn with_replay_bytes(max_lag: usize, replay: usize, replay_bytes: usize) -> Arc<Self> {
        let (live, _) = broadcast::channel(max_lag.max(1));
        Arc::new(VerdictStream {
            live,
            ring: Mutex::new(Ring {
                items: VecDeque::with_capacity(replay.clamp(1, 4096)),
                capacity: replay.max(1),
                bytes: 0,
                max_bytes: replay_bytes,
                next_seq: 0,
            }),
        })
    }

    fn ring(&self) -> MutexGuard<'_, Ring> {
        // The ring is consistent after every statement; a panic elsewhere cannot break it.
        self.ring.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Appends a verdict (its document and its queue item) to the replay ring and broadcasts
    /// it. Never waits for clients.
    pub fn publish(&self, verdict_id: &str, json: Arc<str>, queue: Arc<str>) {
        let mut ring = self.ring();
        let item = Arc::new(StreamItem {
            seq: ring.next_seq,
            verdict_id: verdict_id.into(),
            json,
            queue,
        });
        ring.next_seq += 1;
        // The budget is of verdict JSON (`api.ws_replay_bytes`); queue items are a few hundred
        // bytes each and bounded by the ring's length.
        ring.bytes += item.json.len();
        ring.items.push_back(item.clone());
        while ring.items.len() > 1
            && (ring.items.len() > ring.capacity || ring.bytes > ring.max_bytes)
        {
            if let Some(old) = ring.items.pop_front() {
                ring.bytes -= old.json.len();
            }
        }
        // No receivers is fine: nobody is watching the stream right now. Sent under the lock
        // so that ring order and broadcast order are one order.
        let _ = self.live.send(item);
    }

    /// Subscribes a client. With `after`, the backlog holds every kept verdict published after
    /// that id; an id not in the ring yields a gap and the whole ring.
    pub fn subscribe(&self, after: Option<&str>) -> Subscription {
        let ring = self.ring();
        let live = self.live.subscribe();
        let live_from = ring.next_seq;
        let (gap, backlog) = match after {
            None => (None, Vec::new()),
            Some(id) => match ring.items.iter().rposition(|i| &*i.verdict_id == id) {
                Some(pos) => (None, ring.items.iter().skip(pos + 1).cloned().collect()),
                None => (Some(id.to_owned()), ring.items.iter().cloned().collect()),
            },
        };
        Subscription {
            gap,
            backlog,
            live_from,
            live,
        }
    }
}

/// Streams verdicts to one client until it disconnects, lags, stalls, or the server stops:
/// first the gap notice and backlog of its [`Subscription`], then the live stream.
pub async fn serve_client(
    mut socket: WebSocket,
    subscription: Subscription,
    view: View,
    shutdown: CancellationToken,
    metrics: Arc<Metrics>,
) {
    let body = |item: &StreamItem| match view {
        View::Verdict => item.json.clone(),
        View::Queue => item.queue.clone(),
    };
    metrics.api.ws_clients.inc();
    let Subscription {
        gap,
        backlog,
        live_from,
        live: mut verdicts,
    } = subscription;
    let mut first: Option<Arc<str>> = gap.map(|after| {
        Arc::from(serde_json::json!({"type": "resume_gap", "after": after}).to_string())
    });
    let mut backlog = backlog.into_iter();
    let reason = loop {
        if shutdown.is_cancelled() {
            break Some((
                close_code::AWAY,
                "server shutting down".to_owned(),
                "shutdown",
            ));
        }
        let next = if let Some(notice) = first.take() {
            Ok(notice)
        } else if let Some(item) = backlog.next() {
            Ok(body(&item))
        } else {
            let next = tokio::select! {
                _ = shutdown.cancelled() => continue,
                next = verdicts.recv() => next,
                incoming = socket.recv() => match incoming {
                    // Clients only listen; pings are answered by axum, anything else is ignored.
                    Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break None,
                    Some(Ok(_)) => continue,
                },
            };
            match next {
                // Already sent from the snapshot.
                Ok(item) if item.seq < live_from => continue,
                Ok(item) => Ok(body(&item)),
                Err(e) => Err(e),
            }
        };
        match next {
            Ok(json) => {
                let send = socket.send(Message::Text(json.as_ref().into()));
                match tokio::time::timeout(SEND_TIMEOUT, send).await {
                    Ok(Ok(())) => {}
                    Ok(Err(_)) => break None,
                    Err(_) => {
                        break Some((
                            close_code::AGAIN,
                            "stalled: not reading verdicts".to_owned(),
                            "stalled",
                        ));
                    }
                }
            }
            Err(RecvError::Lagged(n)) => {
                break Some((
                    close_code::AGAIN,
                    format!("lagging: fell {n} verdicts behind"),
                    "lagging",
                ));
            }
            Err(RecvError::Closed) => {
                break Some((
                    close_code::AWAY,
                    "verdict stream ended".to_owned(),
                    "shutdown",
                ));
            }
        }
    };
    if let Some((code, text, label)) = reason {
        metrics.api.ws_disconnects.with_label_values(&[label]).inc();
        tracing::debug!(reason = %text, "closing websocket client");
        let frame = CloseFrame {
            code,
            reason: text.into(),
        };
        let _ = tokio::time::timeout(SEND_TIMEOUT, socket.send(Message::Close(Some(frame)))).await;
    }
    metrics.api.ws_clients.dec();
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn ids(items: &[Arc<StreamItem>]) -> Vec<&str> {
        items.iter().map(|i| &*i.verdict_id).collect()
    }

    fn publish(s: &VerdictStream, ids: &[&str]) {
        for id in ids {
            s.publish(
                id,
                Arc::from(format!("{{\"verdict_id\":\"{id}\"}}")),
                Arc::from("{}"),
            );
        }
    }

    #[test]
    fn the_replay_ring_holds_at_most_its_bytes_and_always_the_newest() {
        // 1,000 verdicts of 10 KB each against a ring of 1,000 entries and 100 KB.
        let s = VerdictStream::with_replay_bytes(8, 1000, 100_000);
        let body = "x".repeat(10_000);
        for i in 0..1000 {
            s.publish(&format!("v{i}"), Arc::from(body.as_str()), Arc::from("{}"));
        }
        let kept = s.subscribe(Some("unknown")).backlog;
        let bytes: usize = kept.iter().map(|i| i.json.len()).sum();
        assert!(bytes <= 100_000, "{bytes} bytes kept");
        assert_eq!(kept.len(), 10, "as many whole verdicts as fit");
        assert_eq!(&*kept[9].verdict_id, "v999");
        // An evicted id is a gap; a kept one resumes after it.
        assert_eq!(s.subscribe(Some("v989")).gap.as_deref(), Some("v989"));
        assert_eq!(ids(&s.subscribe(Some("v997")).backlog), ["v998", "v999"]);
        // A verdict larger than the whole budget is still kept, alone.
        s.publish(
            "huge",
            Arc::from("y".repeat(200_000).as_str()),
            Arc::from("{}"),
        );
        assert_eq!(ids(&s.subscribe(Some("unknown")).backlog), ["huge"]);
        s.publish("next", Arc::from("{}"), Arc::from("{}"));
        assert_eq!(ids(&s.subscribe(Some("unknown")).backlog), ["next"]);
    }

    #[test]
    fn after_a_kept_id_the_backlog_is_what_followed_it() {
        let s = VerdictStream::new(8, 4);
        publish(&s, &["a", "b", "c"]);
        let sub = s.subscribe(Some("a"));
        assert_eq!(sub.gap, None);
        assert_eq!(ids(&sub.backlog), ["b", "c"]);
        let sub = s.subscribe(Some("c"));
        assert!(sub.backlog.is_empty(), "nothing after the newest");
        assert!(s.subscribe(None).backlog.is_empty(), "no after: live only");
    }

    #[test]
    fn an_evicted_or_unknown_id_is_a_gap_and_the_whole_ring() {
        let s = VerdictStream::new(8, 3);
        publish(&s, &["a", "b", "c", "d", "e"]);
        let sub = s.subscribe(Some("a"));
        assert_eq!(sub.gap.as_deref(), Some("a"));
        assert_eq!(ids(&sub.backlog), ["c", "d", "e"]);
        assert_eq!(s.subscribe(Some("zzz")).gap.as_deref(), Some("zzz"));
    }

    #[test]
    fn snapshot_and_live_meet_without_gap_or_duplicate() {
        let s = VerdictStream::new(64, 64);
        publish(&s, &["a", "b"]);
        let mut sub = s.subscribe(Some("a"));
        publish(&s, &["c", "d"]);
        let mut seen: Vec<String> = sub
            .backlog
            .iter()
            .map(|i| i.verdict_id.to_string())
            .collect();
        while let Ok(item) = sub.live.try_recv() {
            if item.seq >= sub.live_from {
                seen.push(item.verdict_id.to_string());
            }
        }
        assert_eq!(seen, ["b", "c", "d"]);
    }

    #[test]
    fn concurrent_publishing_never_splits_a_subscription() {
        // A publisher thread races subscribers; each subscriber's backlog + live stream must be
        // exactly the published sequence after its id.
        let s = VerdictStream::new(100_000, 100_000);
        let n = 20_000u64;
        let publisher = {
            let s = s.clone();
            std::thread::spawn(move || {
                for i in 0..n {
                    s.publish(&i.to_string(), Arc::from(i.to_string()), Arc::from("{}"));
                }
            })
        };
        let mut checked = 0;
        while !publisher.is_finished() || checked == 0 {
            let after = s.ring().next_seq.saturating_sub(3);
            let mut sub = s.subscribe(Some(&after.to_string()));
            if sub.gap.is_some() {
                continue;
            }
            let mut expected = after + 1;
            for item in &sub.backlog {
                assert_eq!(item.seq, expected);
                expected += 1;
            }
            // Read live until the publisher is done and the receiver is drained.
            loop {
                match sub.live.try_recv() {
                    Ok(item) if item.seq < sub.live_from => {}
                    Ok(item) => {
                        assert_eq!(item.seq, expected, "gap or duplicate at the switch");
                        expected += 1;
                    }
                    Err(broadcast::error::TryRecvError::Empty) if publisher.is_finished() => {
                        break;
                    }
                    Err(broadcast::error::TryRecvError::Empty) => std::thread::yield_now(),
                    Err(e) => panic!("{e:?}"),
                }
                if expected >= after + 200 {
                    break;
                }
            }
            checked += 1;
        }
        publisher.join().unwrap();
        assert!(checked > 0);
    }
}
