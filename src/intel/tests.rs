//! Enrichment against local mock servers (axum on 127.0.0.1:0) serving the project's fixture
//! responses under `tests/fixtures/intel/`: every provider's malicious, clean, not-found,
//! rate-limited and bad-key answers, and the fan-out mechanics shown by request counts.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::IntoResponse;

use super::settings::{CacheTtl, ProviderConfig};
use super::*;
use crate::base::Secret;
use crate::metrics::Metrics;
use crate::store::Store;

const M256: &str = "5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8";
const N256: &str = "fcde2b2edba56bf408601fb721fe9b5c338d10ee429ea04fae5511b68fbf8fb9";
/// Every provider answers 429 for this address.
const LIMITED: &str = "192.0.2.129";

/// One request as the mock saw it.
#[derive(Clone, Debug)]
struct Seen {
    text: String,
    headers: HeaderMap,
}

type Reply = (u16, Vec<(&'static str, String)>, String);
type Handler = Arc<dyn Fn(&Seen, usize) -> Reply + Send + Sync>;

#[derive(Clone)]
struct Mock {
    addr: SocketAddr,
    log: Arc<Mutex<Vec<Seen>>>,
    in_flight: Arc<AtomicUsize>,
    max_in_flight: Arc<AtomicUsize>,
}

impl Mock {
    /// Serves `handler` (given each request and its 0-based number) after `delay`.
    async fn start(delay: Duration, handler: Handler) -> Mock {
        let mock = Mock {
            addr: "127.0.0.1:0".parse().unwrap(),
            log: Arc::default(),
            in_flight: Arc::default(),
            max_in_flight: Arc::default(),
        };
        let m = mock.clone();
        let app = axum::Router::new().fallback(
            move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
                let m = m.clone();
                let handler = handler.clone();
                async move {
                    let text = format!(
                        "{method} {} {}",
                        percent_decode(&uri.to_string()),
                        percent_decode(&String::from_utf8_lossy(&body).replace('+', " "))
                    );
                    let seen = Seen { text, headers };
                    let n = {
                        let mut log = m.log.lock().unwrap();
                        log.push(seen.clone());
                        log.len() - 1
                    };
                    let now = m.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                    m.max_in_flight.fetch_max(now, Ordering::SeqCst);
                    tokio::time::sleep(delay).await;
                    m.in_flight.fetch_sub(1, Ordering::SeqCst);
                    let (status, headers, body) = handler(&seen, n);
                    let mut resp = (StatusCode::from_u16(status).unwrap(), body).into_response();
                    for (k, v) in headers {
                        resp.headers_mut().insert(k, v.parse().unwrap());
                    }
                    resp.headers_mut()
                        .insert("content-type", "application/json".parse().unwrap());
                    resp
                }
            },
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        Mock { addr, ..mock }
    }

    fn count(&self) -> usize {
        self.log.lock().unwrap().len()
    }

    fn requests(&self) -> Vec<Seen> {
        self.log.lock().unwrap().clone()
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        match (
            b[i],
            b.get(i + 1).copied().and_then(hex),
            b.get(i + 2).copied().and_then(hex),
        ) {
            (b'%', Some(h), Some(l)) => {
                out.push((h * 16 + l) as u8);
                i += 3;
            }
            (c, _, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn fixture(rel: &str) -> String {
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/intel")
        .join(rel);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn ok(rel: &str) -> Reply {
    (200, vec![], fixture(rel))
}

fn status(code: u16, rel: &str) -> Reply {
    (code, vec![], fixture(rel))
}

/// The fixture routing of one provider: by the indicator in the request, and the key.
fn routes(provider: &'static str) -> Handler {
    Arc::new(move |req: &Seen, _n: usize| {
        let t = req.text.as_str();
        let has = |s: &str| t.contains(s);
        let header = |h: &str| {
            req.headers
                .get(h)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_owned()
        };
        let key_ok = match provider {
            "virustotal" => header("x-apikey") == "good",
            "abuseipdb" => header("key") == "good" && header("accept") == "application/json",
            "shodan" => has("key=good"),
            "internetdb" => true,
            "urlscan" => header("api-key") == "good",
            "threatfox" | "malwarebazaar" => header("auth-key") == "good",
            "otx" => header("x-otx-api-key") == "good",
            _ => false,
        };
        match provider {
            "virustotal" if !key_ok => status(401, "virustotal/error_bad_key_401.json"),
            "virustotal" if has(LIMITED) => (
                429,
                vec![("retry-after", "3600".into())],
                fixture("virustotal/error_rate_limited_429.json"),
            ),
            "virustotal" if has("/ip_addresses/203.0.113.66") => ok("virustotal/ip_malicious.json"),
            "virustotal" if has("/ip_addresses/198.51.100.20") => ok("virustotal/ip_clean.json"),
            "virustotal" if has(&format!("/files/{M256}")) => ok("virustotal/file_malicious.json"),
            "virustotal" => status(404, "virustotal/error_not_found_404.json"),

            "abuseipdb" if !key_ok => status(401, "abuseipdb/error_bad_key_401.json"),
            "abuseipdb" if has(LIMITED) => (
                429,
                vec![("retry-after", "29241".into())],
                fixture("abuseipdb/error_rate_limited_429.json"),
            ),
            "abuseipdb" if has("ipAddress=203.0.113.66") => ok("abuseipdb/check_malicious.json"),
            "abuseipdb" if has("ipAddress=198.51.100.20") => ok("abuseipdb/check_whitelisted.json"),
            "abuseipdb" => ok("abuseipdb/check_unreported.json"),

            "shodan" if !key_ok => status(401, "shodan/error_bad_key_401.json"),
            "shodan" | "internetdb" if has(LIMITED) => {
                status(429, "shodan/error_rate_limited_429.json")
            }
            "shodan" if has("/shodan/host/203.0.113.66") => ok("shodan/host_malicious.json"),
            "shodan" if has("/shodan/host/198.51.100.20") => ok("shodan/host_clean.json"),
            "shodan" => status(404, "shodan/error_not_found_404.json"),
            "internetdb" if has("/203.0.113.66") => ok("shodan/internetdb_malicious.json"),
            "internetdb" if has("/198.51.100.20") => ok("shodan/internetdb_clean.json"),
            "internetdb" => status(404, "shodan/internetdb_not_found_404.json"),

            "urlscan" if !key_ok => status(401, "urlscan/error_bad_key_401.json"),
            "urlscan" if has(LIMITED) => (
                429,
                vec![("x-rate-limit-reset-after", "3600".into())],
                fixture("urlscan/error_rate_limited_429.json"),
            ),
            "urlscan" if has("q=ip:\"203.0.113.66\"") => ok("urlscan/search_malicious_hit.json"),
            "urlscan" if has("q=ip:\"198.51.100.20\"") => ok("urlscan/search_clean_hit.json"),
            "urlscan" if has("/result/0190a1b2-0000-7000-8000-000000000001/") => {
                ok("urlscan/result_malicious.json")
            }
            "urlscan" if has("/result/0190a1b2-0000-7000-8000-000000000003/") => {
                ok("urlscan/result_clean.json")
            }
            "urlscan" if has("/api/v1/search/") => ok("urlscan/search_empty.json"),

            "threatfox" if !key_ok => status(401, "threatfox/unknown_auth_key.json"),
            "threatfox" if has(LIMITED) => (429, vec![], "{}".into()),
            "threatfox" if has("203.0.113.66") => ok("threatfox/search_ioc_malicious.json"),
            "threatfox" => ok("threatfox/no_result.json"),

            "malwarebazaar" if !key_ok => status(401, "malwarebazaar/unknown_auth_key.json"),
            "malwarebazaar" if has("hash=abababab") => (429, vec![], "{}".into()),
            "malwarebazaar" if has(&format!("hash={M256}")) => {
                ok("malwarebazaar/get_info_malicious.json")
            }
            "malwarebazaar" => ok("malwarebazaar/hash_not_found.json"),

            "otx" if !key_ok => status(403, "otx/error_bad_key_403.json"),
            "otx" if has(LIMITED) => (429, vec![], fixture("otx/error_rate_limited_429.json")),
            "otx" if has("/IPv4/203.0.113.66/") => ok("otx/ipv4_general_malicious.json"),
            "otx" if has("/IPv4/198.51.100.20/") => ok("otx/hostname_general_clean.json"),
            "otx" => ok("otx/file_general_unknown.json"),
            _ => (500, vec![], "{}".into()),
        }
    })
}

fn ip(v: &str) -> Indicator {
    Indicator {
        kind: if v.contains(':') {
            IndicatorKind::Ipv6
        } else {
            IndicatorKind::Ipv4
        },
        value: v.into(),
        field: "test".into(),
        internal: false,
    }
}

fn hash(v: &str) -> Indicator {
    Indicator {
        kind: IndicatorKind::Sha256,
        value: v.into(),
        field: "test".into(),
        internal: false,
    }
}

/// A config with only `provider` enabled, pointed at `base`, with `key`.
fn config(provider: &str, base: &str, key: &str) -> IntelConfig {
    let mut providers = BTreeMap::new();
    providers.insert(
        provider.to_owned(),
        ProviderConfig {
            enabled: Some(true),
            api_key: Some(Secret::new(key)),
            base_url: Some(base.to_owned()),
            requests_per_minute: Some(6000.0),
            burst: Some(100),
            ..ProviderConfig::default()
        },
    );
    IntelConfig {
        documentation_as_internal: false,
        max_retries: 1,
        retry_backoff_ms: 10,
        retry_backoff_max_ms: 2_000,
        timeout_ms: 5_000,
        providers,
        ..IntelConfig::default()
    }
}

fn enricher(config: &IntelConfig, store: Option<&Store>) -> (Enricher, Arc<Metrics>) {
    let metrics = Arc::new(Metrics::new().unwrap());
    let (e, _rx) =
        Enricher::with_env(config, store, Arc::default(), metrics.clone(), &|_| None).unwrap();
    (e, metrics)
}

async fn opinion_of(e: &Enricher, provider: &str, ind: &Indicator) -> SourceOpinion {
    let p = e.profile(ind).await;
    p.sources
        .into_iter()
        .find(|s| s.source == provider)
        .unwrap_or_else(|| panic!("{provider} gave no opinion of {}", ind.value))
}

/// (indicator, expected opinion, expected detail fragment) per scenario of each provider.
fn scenarios(provider: &str) -> Vec<(Indicator, Opinion, &'static str)> {
    use Opinion::*;
    let (mal, clean, unknown) = (ip("203.0.113.66"), ip("198.51.100.20"), ip("192.0.2.200"));
    match provider {
        "virustotal" => vec![
            (mal, Malicious, "14/94 engines malicious"),
            (clean, Benign, "63 harmless"),
            (hash(M256), Malicious, "51/68"),
            (hash(N256), Unknown, "not in VirusTotal"),
        ],
        "abuseipdb" => vec![
            (mal, Malicious, "abuse confidence 100%"),
            (clean, Benign, "whitelisted"),
            (unknown, Unknown, "0 reports"),
        ],
        "shodan" | "internetdb" => vec![
            (mal, Malicious, "c2"),
            (clean, Unknown, "cloud"),
            (unknown, Unknown, "no information"),
        ],
        "urlscan" => vec![
            (mal, Malicious, "phishing"),
            (clean, Unknown, "verdict score 0"),
            (unknown, Unknown, "no urlscan scans"),
        ],
        "threatfox" => vec![
            (mal, Malicious, "TestLoader botnet_cc, confidence 90%"),
            (clean, Unknown, "not in ThreatFox"),
        ],
        "malwarebazaar" => vec![
            (hash(M256), Malicious, "TestLoader"),
            (hash(N256), Unknown, "not in MalwareBazaar"),
        ],
        "otx" => vec![
            (mal, Malicious, "families TestLoader"),
            (clean, Benign, "whitelisted"),
            (hash(N256), Unknown, "0 pulses"),
        ],
        _ => vec![],
    }
}

#[tokio::test]
async fn every_provider_maps_malicious_clean_unknown_rate_limited_and_bad_key() {
    for provider in [
        "virustotal",
        "abuseipdb",
        "shodan",
        "internetdb",
        "urlscan",
        "threatfox",
        "malwarebazaar",
        "otx",
    ] {
        let mock = Mock::start(Duration::ZERO, routes(provider)).await;
        let (e, _) = enricher(&config(provider, &mock.url(), "good"), None);
        assert_eq!(e.provider_names(), vec![provider]);
        for (ind, want, detail) in scenarios(provider) {
            let o = opinion_of(&e, provider, &ind).await;
            assert_eq!(o.opinion, want, "{provider} {}: {o:?}", ind.value);
            assert!(o.detail.contains(detail), "{provider} {}: {o:?}", ind.value);
        }
        // rate limited: a typed error, never an opinion about the indicator
        let limited = if provider == "malwarebazaar" {
            hash(&"ab".repeat(32))
        } else {
            ip(LIMITED)
        };
        let o = opinion_of(&e, provider, &limited).await;
        assert_eq!(o.opinion, Opinion::Error, "{provider}: {o:?}");
        assert!(o.detail.contains("rate limited"), "{provider}: {o:?}");

        // bad key: a typed error (internetdb has no key)
        if provider != "internetdb" {
            let mock = Mock::start(Duration::ZERO, routes(provider)).await;
            let (e, metrics) = enricher(&config(provider, &mock.url(), "wrong"), None);
            let ind = if provider == "malwarebazaar" {
                hash(M256)
            } else {
                ip("203.0.113.66")
            };
            let o = opinion_of(&e, provider, &ind).await;
            assert_eq!(o.opinion, Opinion::Error, "{provider}: {o:?}");
            assert_eq!(o.detail, "API key rejected", "{provider}");
            assert_eq!(
                metrics
                    .intel
                    .errors
                    .with_label_values(&[provider, "bad_key"])
                    .get(),
                1
            );
            // the breaker is open now: no second request with a rejected key
            let other = if provider == "malwarebazaar" {
                hash(N256)
            } else {
                ip("203.0.113.67")
            };
            let again = opinion_of(&e, provider, &other).await;
            assert!(
                again.detail.contains("circuit open"),
                "{provider}: {again:?}"
            );
            assert_eq!(mock.count(), 1, "{provider}");
        }
    }
}

#[tokio::test]
async fn keys_travel_in_the_vendor_header_and_never_in_logs_or_debug() {
    let mock = Mock::start(Duration::ZERO, routes("virustotal")).await;
    let c = config("virustotal", &mock.url(), "good");
    assert!(!format!("{c:?}").contains("good\""), "{c:?}");
    let (e, _) = enricher(&c, None);
    assert!(!format!("{e:?}").contains("good"));
    e.profile(&ip("203.0.113.66")).await;
    let r = &mock.requests()[0];
    assert_eq!(r.headers.get("x-apikey").unwrap(), "good");
    assert!(!r.text.contains("good"));
}

#[tokio::test]
async fn retry_after_is_honoured_then_the_lookup_succeeds() {
    let mock = Mock::start(
        Duration::ZERO,
        Arc::new(|req: &Seen, n: usize| {
            if n == 0 {
                (
                    429,
                    vec![("retry-after", "1".into())],
                    fixture("virustotal/error_rate_limited_429.json"),
                )
            } else {
                routes("virustotal")(req, n)
            }
        }),
    )
    .await;
    let (e, _) = enricher(&config("virustotal", &mock.url(), "good"), None);
    let o = opinion_of(&e, "virustotal", &ip("203.0.113.66")).await;
    assert_eq!(o.opinion, Opinion::Malicious);
    assert_eq!(mock.count(), 2);
}

#[tokio::test]
async fn unavailable_is_retried_with_backoff_up_to_max_retries() {
    let mock = Mock::start(
        Duration::ZERO,
        Arc::new(|req: &Seen, n: usize| {
            if n < 2 {
                (503, vec![], "{}".into())
            } else {
                routes("virustotal")(req, n)
            }
        }),
    )
    .await;
    let mut c = config("virustotal", &mock.url(), "good");
    c.max_retries = 2;
    let (e, _) = enricher(&c, None);
    let o = opinion_of(&e, "virustotal", &ip("203.0.113.66")).await;
    assert_eq!(o.opinion, Opinion::Malicious, "{o:?}");
    assert_eq!(mock.count(), 3);
}

#[tokio::test]
async fn the_circuit_breaker_opens_after_repeated_failures() {
    let mock = Mock::start(
        Duration::ZERO,
        Arc::new(|_: &Seen, _| (503, vec![], "{}".into())),
    )
    .await;
    let mut c = config("virustotal", &mock.url(), "good");
    c.max_retries = 0;
    c.breaker_failures = 2;
    let (e, metrics) = enricher(&c, None);
    for i in 0..5 {
        let o = opinion_of(&e, "virustotal", &ip(&format!("203.0.113.{}", 100 + i))).await;
        assert_eq!(o.opinion, Opinion::Error);
    }
    assert_eq!(
        mock.count(),
        2,
        "after 2 failures the breaker stops the requests"
    );
    assert_eq!(
        metrics
            .intel
            .errors
            .with_label_values(&["virustotal", "circuit_open"])
            .get(),
        3
    );
    assert_eq!(
        metrics
            .intel
            .circuit_open
            .with_label_values(&["virustotal"])
            .get(),
        1,
        "the open circuit is exported"
    );
}

#[tokio::test]
async fn a_spent_daily_quota_keeps_the_breaker_open() {
    let mock = Mock::start(Duration::ZERO, routes("abuseipdb")).await;
    let (e, _) = enricher(&config("abuseipdb", &mock.url(), "good"), None);
    let o = opinion_of(&e, "abuseipdb", &ip(LIMITED)).await;
    assert!(o.detail.contains("rate limited"), "{o:?}");
    // Retry-After 29241 s: no retry, and no request for other indicators either
    let o = opinion_of(&e, "abuseipdb", &ip("203.0.113.66")).await;
    assert!(o.detail.contains("circuit open"), "{o:?}");
    assert_eq!(mock.count(), 1);
}

#[tokio::test]
async fn the_configured_daily_quota_and_budget_stop_requests() {
    let mock = Mock::start(Duration::ZERO, routes("virustotal")).await;
    let mut c = config("virustotal", &mock.url(), "good");
    c.providers.get_mut("virustotal").unwrap().daily_quota = Some(2);
    let (e, _) = enricher(&c, None);
    for i in 0..4 {
        e.profile(&ip(&format!("203.0.113.{}", 10 + i))).await;
    }
    assert_eq!(mock.count(), 2);

    let mock = Mock::start(Duration::ZERO, routes("virustotal")).await;
    let mut c = config("virustotal", &mock.url(), "good");
    c.daily_budget = 3;
    let (e, _) = enricher(&c, None);
    let mut last = None;
    for i in 0..5 {
        last = Some(opinion_of(&e, "virustotal", &ip(&format!("203.0.113.{}", 10 + i))).await);
    }
    assert_eq!(mock.count(), 3);
    assert!(last.unwrap().detail.contains("budget"));
}

#[tokio::test]
async fn the_token_bucket_holds_requests_beyond_the_burst() {
    let mock = Mock::start(Duration::ZERO, routes("virustotal")).await;
    let mut c = config("virustotal", &mock.url(), "good");
    let p = c.providers.get_mut("virustotal").unwrap();
    p.requests_per_minute = Some(1.0);
    p.burst = Some(2);
    let (e, _) = enricher(&c, None);
    e.profile(&ip("203.0.113.1")).await;
    e.profile(&ip("203.0.113.2")).await;
    // the third waits ~60 s for a token: not sent while we wait a moment
    let third =
        tokio::time::timeout(Duration::from_millis(300), e.profile(&ip("203.0.113.3"))).await;
    assert!(third.is_err());
    assert_eq!(mock.count(), 2);
}

#[tokio::test]
async fn concurrent_lookups_of_one_indicator_share_one_request() {
    let mock = Mock::start(Duration::from_millis(200), routes("virustotal")).await;
    let (e, _) = enricher(&config("virustotal", &mock.url(), "good"), None);
    let ind = ip("203.0.113.66");
    let all = futures_util::future::join_all((0..10).map(|_| e.profile(&ind))).await;
    assert_eq!(mock.count(), 1);
    assert!(
        all.iter()
            .all(|p| p.tier == all[0].tier && p.score == all[0].score)
    );
    // submit skips an indicator already in flight
    let (e2, _) = enricher(&config("virustotal", &mock.url(), "good"), None);
    let slow = e2.clone();
    let ind2 = ind.clone();
    let h = tokio::spawn(async move { slow.profile(&ind2).await });
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(!e2.submit(ind.clone()));
    h.await.unwrap();
}

#[tokio::test]
async fn the_global_concurrency_bound_holds() {
    let mock = Mock::start(Duration::from_millis(100), routes("virustotal")).await;
    let mut c = config("virustotal", &mock.url(), "good");
    c.max_concurrency = 2;
    let (e, _) = enricher(&c, None);
    let inds: Vec<Indicator> = (0..6)
        .map(|i| ip(&format!("203.0.113.{}", 20 + i)))
        .collect();
    futures_util::future::join_all(inds.iter().map(|i| e.profile(i))).await;
    assert_eq!(mock.count(), 6);
    assert!(mock.max_in_flight.load(Ordering::SeqCst) <= 2);
}

#[tokio::test]
async fn the_cache_answers_repeat_lookups_and_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let mock = Mock::start(Duration::ZERO, routes("virustotal")).await;
    let c = config("virustotal", &mock.url(), "good");
    let ind = ip("203.0.113.66");
    {
        let store = Store::open(dir.path()).unwrap();
        let (e, metrics) = enricher(&c, Some(&store));
        let a = e.profile(&ind).await;
        let b = e.profile(&ind).await;
        assert_eq!(a.tier, b.tier);
        assert_eq!(mock.count(), 1);
        let hits = metrics
            .intel
            .cache
            .with_label_values(&["virustotal", "hit"])
            .get();
        assert_eq!(hits, 1);
        store.db().flush().unwrap();
    }
    let store = crate::testutil::reopen_store(dir.path());
    let (e, _) = enricher(&c, Some(&store));
    let p = e.profile(&ind).await;
    assert_eq!(mock.count(), 1, "answered from the cache after the restart");
    assert_eq!(
        p.sources
            .iter()
            .find(|s| s.source == "virustotal")
            .unwrap()
            .opinion,
        Opinion::Malicious
    );
    // errors have their own (short) lifetime: with 0 they are not cached
    let mock = Mock::start(
        Duration::ZERO,
        Arc::new(|_: &Seen, _| (503, vec![], "{}".into())),
    )
    .await;
    let mut c = config("virustotal", &mock.url(), "good");
    c.max_retries = 0;
    c.cache_ttl_secs = CacheTtl {
        error: 0,
        ..CacheTtl::default()
    };
    let store = Store::temporary().unwrap();
    let (e, _) = enricher(&c, Some(&store));
    e.profile(&ind).await;
    e.profile(&ind).await;
    assert_eq!(mock.count(), 2);
}

#[tokio::test]
async fn internal_indicators_are_never_sent_out() {
    let mock = Mock::start(Duration::ZERO, routes("virustotal")).await;
    let mut c = config("virustotal", &mock.url(), "good");
    c.documentation_as_internal = true;
    let (e, _) = enricher(&c, None);
    for v in ["10.0.0.5", "203.0.113.66", "www.example.com"] {
        let ind = Indicator::parse(v, e.extract_settings()).unwrap();
        assert!(ind.internal, "{v}");
        let p = e.profile(&ind).await;
        assert_eq!(p.tier, Tier::Unknown);
        assert!(p.sources.iter().all(|s| s.source == feeds::SOURCE));
    }
    assert_eq!(mock.count(), 0);
}

#[tokio::test]
async fn submitted_indicators_arrive_as_profiles_and_a_full_queue_drops() {
    let mock = Mock::start(Duration::from_millis(100), routes("virustotal")).await;
    let mut c = config("virustotal", &mock.url(), "good");
    c.queue_capacity = 1;
    c.max_concurrency = 1;
    let metrics = Arc::new(Metrics::new().unwrap());
    let (e, mut rx) =
        Enricher::with_env(&c, None, Arc::default(), metrics.clone(), &|_| None).unwrap();
    let mut accepted = 0;
    for i in 0..20 {
        if e.submit(ip(&format!("203.0.113.{}", 30 + i))) {
            accepted += 1;
        }
    }
    assert!((1..20).contains(&accepted), "{accepted}");
    let dropped = metrics
        .intel
        .dropped
        .with_label_values(&["queue_full"])
        .get();
    assert_eq!(dropped as usize, 20 - accepted);
    let first = tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .unwrap()
        .unwrap();
    assert!(first.sources.iter().any(|s| s.source == "virustotal"));
}

#[tokio::test]
async fn offline_feeds_alone_give_a_profile_without_keys() {
    let slot: feeds::FeedSlot = Arc::default();
    let metrics = Arc::new(Metrics::new().unwrap());
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/intel/feeds");
    feeds::reload(&[dir], &slot, &metrics);
    let c = IntelConfig {
        documentation_as_internal: false,
        ..IntelConfig::default()
    };
    let (e, _rx) = Enricher::with_env(&c, None, slot, metrics.clone(), &|_| None).unwrap();
    assert!(e.provider_names().is_empty());
    let p = e.profile(&ip("203.0.113.10")).await;
    assert_eq!(p.tier, Tier::High, "{p:?}");
    assert_eq!(p.sources.len(), 1);
    assert!(p.sources[0].detail.contains("TestLoader"), "{p:?}");
    let p = e.profile(&ip("8.8.4.4")).await;
    assert_eq!(p.tier, Tier::Unknown);
    assert!(
        metrics
            .render()
            .contains("nightwatch_intel_feed_indicators{feed=\"feodo\"} 3")
    );
}
