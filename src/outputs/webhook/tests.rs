//! The webhook against a real HTTP receiver on loopback, fed through the real fan-out.

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use tokio::sync::Semaphore;

use super::*;
use crate::base::Secret;
use crate::cases::Published;
use crate::flow::ack::{Ack, Outcome};
use crate::flow::channel::{self, Sender};
use crate::metrics::Metrics;
use crate::outputs::OutputConfig;
use crate::outputs::thehive::tests::sample;
use crate::outputs::webhook::{WebhookConfig, WebhookFormat};
use crate::outputs::websocket::VerdictStream;
use crate::outputs::{OutputOptions, spawn_with_env};

/// One request as the receiver saw it.
#[derive(Debug, Clone)]
struct Request {
    path: String,
    headers: BTreeMap<String, String>,
    body: Bytes,
    /// The receiver checked `X-Nightwatch-Signature` against its key (None: no key).
    signature_ok: Option<bool>,
}

/// A scripted answer: status and optional `Retry-After`.
type Answer = (u16, Option<&'static str>);

/// A real HTTP server on 127.0.0.1:0 that records requests and answers from a script.
#[derive(Clone, Default)]
struct Receiver {
    log: Arc<Mutex<Vec<Request>>>,
    /// Answers to give first (status, Retry-After); then `default`.
    script: Arc<Mutex<VecDeque<Answer>>>,
    default: Arc<Mutex<u16>>,
    /// HMAC keys by path, checked on every request to that path.
    keys: Arc<BTreeMap<String, Vec<u8>>>,
    /// When set, each request waits for a permit before it is answered.
    gate: Option<Arc<Semaphore>>,
}

impl Receiver {
    fn new(default: u16) -> Self {
        Receiver {
            default: Arc::new(Mutex::new(default)),
            ..Default::default()
        }
    }

    async fn serve(self) -> SocketAddr {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = axum::Router::new().fallback(handle).with_state(self);
        tokio::spawn(async move { axum::serve(listener, app).await });
        addr
    }

    fn requests(&self) -> Vec<Request> {
        self.log.lock().unwrap().clone()
    }
}

async fn handle(
    axum::extract::State(r): axum::extract::State<Receiver>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().to_owned();
    let signature_ok = r.keys.get(&path).map(|key| {
        let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap();
        mac.update(&body);
        let expected = format!("sha256={}", crate::event::hex(&mac.finalize().into_bytes()));
        headers
            .get("x-nightwatch-signature")
            .is_some_and(|v| v.as_bytes() == expected.as_bytes())
    });
    r.log.lock().unwrap().push(Request {
        path,
        headers: headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_owned()))
            .collect(),
        body,
        signature_ok,
    });
    if let Some(gate) = &r.gate {
        gate.acquire().await.unwrap().forget();
    }
    if signature_ok == Some(false) {
        return (StatusCode::UNAUTHORIZED, "bad signature").into_response();
    }
    let scripted = r.script.lock().unwrap().pop_front();
    let (status, retry_after) = scripted.unwrap_or((*r.default.lock().unwrap(), None));
    let status = StatusCode::from_u16(status).unwrap();
    match retry_after {
        Some(ra) => (status, [("retry-after", ra)], "try later").into_response(),
        None => (status, "receiver says so").into_response(),
    }
}

/// Acknowledgement outcomes, in completion order.
#[derive(Clone, Default)]
struct Acks(Arc<Mutex<Vec<(String, Outcome)>>>);

impl Acks {
    fn ack(&self, id: &str) -> Ack {
        let (seen, id) = (self.0.clone(), id.to_owned());
        Ack::new(move |o| seen.lock().unwrap().push((id, o)))
    }
    fn all(&self) -> Vec<(String, Outcome)> {
        self.0.lock().unwrap().clone()
    }
}

struct Rig {
    verdicts: Sender<Published>,
    outputs: tokio::task::JoinHandle<Result<(), crate::outputs::OutputError>>,
    metrics: Arc<Metrics>,
    acks: Acks,
}

async fn rig(
    outputs: Vec<(&str, WebhookConfig)>,
    capacity: usize,
    env: &'static [(&'static str, &'static str)],
    dead_letter: Option<std::path::PathBuf>,
) -> Rig {
    let metrics = Arc::new(Metrics::new().unwrap());
    let (tx, rx) = channel::bounded::<Published>("verdicts", capacity, &metrics);
    let configs: Vec<(String, OutputConfig)> = outputs
        .into_iter()
        .map(|(n, c)| (n.to_owned(), OutputConfig::Webhook(c)))
        .collect();
    let handle = spawn_with_env(
        &configs,
        rx,
        VerdictStream::new(16, 16),
        capacity,
        metrics.clone(),
        OutputOptions {
            dead_letter,
            ..Default::default()
        },
        |var| {
            env.iter()
                .find(|(k, _)| *k == var)
                .map(|(_, v)| v.to_string())
        },
    )
    .await
    .unwrap();
    Rig {
        verdicts: tx,
        outputs: handle,
        metrics,
        acks: Acks::default(),
    }
}

impl Rig {
    async fn publish(&self, verdict: crate::verdict::Verdict) {
        let ack = self.acks.ack(&verdict.verdict_id);
        self.verdicts
            .send(Published {
                verdict: Arc::new(verdict),
                oldest_received: None,
                ack,
                summarize: false,
            })
            .await
            .unwrap();
    }

    async fn finish(self) -> (Arc<Metrics>, Acks) {
        drop(self.verdicts);
        self.outputs.await.unwrap().unwrap();
        (self.metrics, self.acks)
    }
}

fn deliveries(m: &Metrics, output: &str, result: &str) -> u64 {
    m.sink.deliveries.with_label_values(&[output, result]).get()
}

fn hook(addr: SocketAddr, path: &str) -> WebhookConfig {
    let mut c = WebhookConfig::new(format!("http://{addr}{path}"));
    c.retry_backoff_ms = 1;
    c.retry_backoff_max_ms = 5;
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ocsf_webhooks_post_detection_findings() {
    let receiver = Receiver::new(201);
    let addr = receiver.clone().serve().await;
    let mut ocsf = hook(addr, "/ocsf");
    ocsf.format = WebhookFormat::Ocsf;
    let rig = rig(vec![("ocsf", ocsf)], 4, &[], None).await;
    let v = sample("case-o", 1);
    rig.publish(v.clone()).await;
    rig.finish().await;
    let requests = receiver.requests();
    assert_eq!(requests.len(), 1, "{requests:?}");
    let body: serde_json::Value = serde_json::from_slice(&requests[0].body).unwrap();
    assert_eq!(body, crate::outputs::ocsf::detection_finding(&v));
    assert_eq!(body["class_uid"], 2004);
    assert_eq!(body["finding_info"]["uid"], "case-o");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn native_and_thehive_verdicts_arrive_signed_and_in_order() {
    let mut receiver = Receiver::new(201);
    receiver.keys = Arc::new(BTreeMap::from([
        ("/native".to_owned(), b"s3cret".to_vec()),
        ("/alert".to_owned(), b"hive-key".to_vec()),
    ]));
    let addr = receiver.clone().serve().await;
    let mut native = hook(addr, "/native");
    native.hmac_secret = Some(Secret::new("s3cret"));
    let mut hive = hook(addr, "/alert");
    hive.format = WebhookFormat::Thehive;
    hive.hmac_secret_env = Some("HIVE_KEY".to_owned());
    hive.headers
        .insert("Authorization".to_owned(), "Bearer t0ken".to_owned());
    let rig = rig(
        vec![("native", native), ("hive", hive)],
        4,
        &[("HIVE_KEY", "hive-key")],
        None,
    )
    .await;
    let verdicts: Vec<_> = (1..=3).map(|v| sample("case-a", v)).collect();
    for v in &verdicts {
        rig.publish(v.clone()).await;
    }
    let (metrics, acks) = rig.finish().await;

    let requests = receiver.requests();
    let at = |path: &str| -> Vec<Request> {
        requests
            .iter()
            .filter(|r| r.path == path)
            .cloned()
            .collect()
    };
    let (native, hive) = (at("/native"), at("/alert"));
    assert_eq!(native.len(), 3, "{requests:?}");
    assert_eq!(hive.len(), 3, "{requests:?}");
    for (r, v) in native.iter().zip(&verdicts) {
        // Exactly the bytes every other sink writes.
        assert_eq!(r.body, serde_json::to_string(v).unwrap().as_bytes());
        assert_eq!(r.signature_ok, Some(true));
        assert_eq!(r.headers["content-type"], "application/json");
        let ts: i64 = r.headers["x-nightwatch-timestamp"].parse().unwrap();
        assert!((chrono::Utc::now().timestamp() - ts).abs() < 300);
    }
    for (r, v) in hive.iter().zip(&verdicts) {
        assert_eq!(r.signature_ok, Some(true));
        assert_eq!(r.headers["authorization"], "Bearer t0ken");
        let alert: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(alert["type"], "nightwatch");
        assert_eq!(alert["sourceRef"], format!("case-a-v{}", v.version));
        assert_eq!(alert["observables"][0]["dataType"], "hostname");
    }
    assert_eq!(deliveries(&metrics, "native", "ok"), 3);
    assert_eq!(deliveries(&metrics, "hive", "ok"), 3);
    assert_eq!(deliveries(&metrics, "hive", "retry"), 0);
    assert_eq!(
        metrics
            .sink
            .delivery
            .with_label_values(&["native"])
            .get_sample_count(),
        3
    );
    let acks = acks.all();
    assert_eq!(acks.len(), 3);
    assert!(
        acks.iter().all(|(_, o)| *o == Outcome::Delivered),
        "{acks:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_503s_then_200_is_delivered_once_with_two_retries() {
    let receiver = Receiver::new(200);
    receiver
        .script
        .lock()
        .unwrap()
        .extend([(503, Some("0")), (503, None)]);
    let addr = receiver.clone().serve().await;
    let rig = rig(vec![("soar", hook(addr, "/hook"))], 4, &[], None).await;
    let v = sample("case-b", 1);
    rig.publish(v.clone()).await;
    let (metrics, acks) = rig.finish().await;

    let requests = receiver.requests();
    assert_eq!(requests.len(), 3, "two refused attempts and one accepted");
    assert!(requests.iter().all(|r| r.body == requests[0].body));
    assert_eq!(deliveries(&metrics, "soar", "ok"), 1);
    assert_eq!(deliveries(&metrics, "soar", "retry"), 2);
    assert_eq!(deliveries(&metrics, "soar", "failed"), 0);
    assert_eq!(acks.all(), vec![(v.verdict_id, Outcome::Delivered)]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_400_is_not_retried_but_dead_lettered_and_released() {
    let receiver = Receiver::new(400);
    let addr = receiver.clone().serve().await;
    let dir = tempfile::tempdir().unwrap();
    let dead = dir.path().join("dead.jsonl");
    // Credentials in the URL and a secret must not reach the dead letter.
    let mut config = WebhookConfig::new(format!(
        "http://nightwatch:hunter2@{addr}/hook?token=qwerty"
    ));
    config.hmac_secret = Some(Secret::new("topsecret"));
    let rig = rig(vec![("soar", config)], 4, &[], Some(dead.clone())).await;
    let v = sample("case-c", 1);
    rig.publish(v.clone()).await;
    let (metrics, acks) = rig.finish().await;

    assert_eq!(receiver.requests().len(), 1, "a 400 is final");
    assert_eq!(deliveries(&metrics, "soar", "ok"), 0);
    assert_eq!(deliveries(&metrics, "soar", "retry"), 0);
    assert_eq!(deliveries(&metrics, "soar", "failed"), 1);
    assert_eq!(
        metrics
            .sink
            .dead_letters
            .with_label_values(&["output"])
            .get(),
        1
    );
    // Dead-lettered is handled: the records behind the verdict may be committed.
    assert_eq!(acks.all(), vec![(v.verdict_id.clone(), Outcome::Delivered)]);
    let text = std::fs::read_to_string(&dead).unwrap();
    let line: serde_json::Value = serde_json::from_str(text.trim()).unwrap();
    assert_eq!(line["output"], "soar");
    assert_eq!(line["attempts"], 1);
    assert_eq!(line["url"], format!("http://{addr}/hook"));
    assert!(line["reason"].as_str().unwrap().contains("400"), "{line}");
    assert_eq!(line["verdict"]["verdict_id"], v.verdict_id);
    for secret in ["hunter2", "qwerty", "topsecret"] {
        assert!(!text.contains(secret), "{secret} leaked: {text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_down_webhook_is_retried_then_dead_lettered_without_credentials() {
    // A port nothing listens on: every attempt is a connection error.
    let addr = {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        l.local_addr().unwrap()
    };
    let dir = tempfile::tempdir().unwrap();
    let dead = dir.path().join("dead.jsonl");
    let mut config = WebhookConfig::new(format!("http://u:hunter2@{addr}/hook"));
    config.max_retries = 2;
    config.retry_backoff_ms = 1;
    let rig = rig(vec![("down", config)], 4, &[], Some(dead.clone())).await;
    rig.publish(sample("case-d", 1)).await;
    let (metrics, acks) = rig.finish().await;
    assert_eq!(deliveries(&metrics, "down", "retry"), 2);
    assert_eq!(deliveries(&metrics, "down", "failed"), 1);
    assert_eq!(acks.all().len(), 1);
    let text = std::fs::read_to_string(&dead).unwrap();
    let line: serde_json::Value = serde_json::from_str(text.trim()).unwrap();
    assert_eq!(line["attempts"], 3);
    assert!(!text.contains("hunter2"), "{text}");
    assert!(
        line["reason"]
            .as_str()
            .unwrap()
            .contains("gave up after 3 attempts"),
        "{line}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blocked_webhook_fills_its_queue_and_the_fan_out_waits() {
    const CAP: usize = 2;
    const TOTAL: usize = 12;
    let mut receiver = Receiver::new(200);
    let gate = Arc::new(Semaphore::new(0));
    receiver.gate = Some(gate.clone());
    let addr = receiver.clone().serve().await;
    let mut config = hook(addr, "/slow");
    config.timeout_ms = 120_000;
    let rig = Arc::new(rig(vec![("slow", config)], CAP, &[], None).await);
    let sent = Arc::new(AtomicUsize::new(0));
    let producer = {
        let (rig, sent) = (rig.clone(), sent.clone());
        tokio::spawn(async move {
            for v in 1..=TOTAL as u32 {
                rig.publish(sample("case-e", v)).await;
                sent.fetch_add(1, Ordering::SeqCst);
            }
        })
    };
    // Steady state: one verdict in the receiver's hands, CAP in the webhook's queue, one held
    // by the fan-out waiting for room, CAP in the verdict channel; the producer waits.
    let stuck = 1 + CAP + 1 + CAP;
    let depth = |channel: &str| {
        rig.metrics
            .channels
            .depth
            .with_label_values(&[channel])
            .get()
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while !(receiver.requests().len() == 1
        && sent.load(Ordering::SeqCst) == stuck
        && depth("output_slow") == CAP as i64
        && depth("verdicts") == CAP as i64)
    {
        assert!(
            std::time::Instant::now() < deadline,
            "no steady state: sent {} requests {}",
            sent.load(Ordering::SeqCst),
            receiver.requests().len()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // Held there, not merely slow: nothing more moves while the receiver blocks.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(sent.load(Ordering::SeqCst), stuck);
    assert!(!producer.is_finished());
    assert_eq!(receiver.requests().len(), 1);
    assert!(
        rig.acks.all().is_empty(),
        "nothing acknowledged before a 2xx"
    );

    gate.add_permits(TOTAL);
    producer.await.unwrap();
    let rig = Arc::into_inner(rig).unwrap();
    let (metrics, acks) = rig.finish().await;
    let versions: Vec<u64> = receiver
        .requests()
        .iter()
        .map(|r| {
            serde_json::from_slice::<serde_json::Value>(&r.body).unwrap()["version"]
                .as_u64()
                .unwrap()
        })
        .collect();
    assert_eq!(
        versions,
        (1..=TOTAL as u64).collect::<Vec<_>>(),
        "in order, once each"
    );
    assert_eq!(deliveries(&metrics, "slow", "ok"), TOTAL as u64);
    assert_eq!(acks.all().len(), TOTAL);
}

#[test]
fn hmac_matches_rfc_4231_test_case_2() {
    let key = Hmac::<Sha256>::new_from_slice(b"Jefe").unwrap();
    assert_eq!(
        signature(&key, b"what do ya want for nothing?"),
        "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
    );
}

#[test]
fn statuses_are_classified() {
    let retry_after = Some(Duration::from_secs(2));
    assert_eq!(classify(StatusCode::OK, None, ""), Attempt::Delivered);
    assert_eq!(classify(StatusCode::ACCEPTED, None, ""), Attempt::Delivered);
    for s in [429, 503] {
        let s = StatusCode::from_u16(s).unwrap();
        assert!(matches!(
            classify(s, retry_after, ""),
            Attempt::Retry {
                retry_after: Some(_),
                ..
            }
        ));
    }
    for s in [408, 500, 502, 504] {
        let s = StatusCode::from_u16(s).unwrap();
        // Retry-After only counts on 429 and 503.
        assert!(matches!(
            classify(s, retry_after, ""),
            Attempt::Retry {
                retry_after: None,
                ..
            }
        ));
    }
    for s in [301, 400, 401, 403, 404, 409, 413, 422] {
        let s = StatusCode::from_u16(s).unwrap();
        assert!(
            matches!(classify(s, None, "x"), Attempt::Fatal { .. }),
            "{s}"
        );
    }
}

#[test]
fn debug_output_hides_secrets_tokens_and_url_credentials() {
    let mut c = WebhookConfig::new("https://bot:hunter2@soar.example:8443/api/v1/alert?key=qwerty");
    c.hmac_secret = Some(Secret::new("topsecret"));
    c.headers
        .insert("Authorization".to_owned(), "Bearer t0ken".to_owned());
    let shown = format!("{:?}", OutputConfig::Webhook(c));
    for secret in ["hunter2", "qwerty", "topsecret", "t0ken", "bot"] {
        assert!(!shown.contains(secret), "{secret} in {shown}");
    }
    assert!(
        shown.contains("https://soar.example:8443/api/v1/alert"),
        "{shown}"
    );
    assert!(shown.contains("Authorization"), "{shown}");
}

#[tokio::test]
async fn a_missing_secret_variable_fails_at_start_naming_it_not_its_value() {
    let mut c = WebhookConfig::new("http://127.0.0.1:9/x");
    c.hmac_secret_env = Some("NO_SUCH_NIGHTWATCH_VAR".to_owned());
    let metrics = Arc::new(Metrics::new().unwrap());
    let err = Webhook::open("soar", &c, |_| None, None, metrics)
        .err()
        .unwrap();
    let text = err.to_string();
    assert!(text.contains("NO_SUCH_NIGHTWATCH_VAR"), "{text}");
    assert!(
        text.starts_with("output soar (http://127.0.0.1:9/x)"),
        "{text}"
    );
}
