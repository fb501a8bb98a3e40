//! The API's access rules against the real daemon (issue 17, items 1, 2, 6, 11): the verdict
//! WebSocket needs the token and a local origin; cross-site and DNS-rebinding requests are
//! refused (foreign `Origin`, foreign `Host`, non-JSON changes); changes are rate-limited per
//! caller; the audit log grows by the size of each change, not of the case; query-string and
//! body-size errors are JSON; off loopback a token is required before anything starts.
//! Real clients: reqwest for HTTP, tokio-tungstenite for the WebSocket.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine;
use serde_json::Value;
use tokio_tungstenite::tungstenite;
use tungstenite::client::IntoClientRequest;

use crate::helpers::{Daemon, fixture, wait_for};

const TOKEN: &str = "it-s3cret/token+";

/// A config reading the ws-fin-07 fixture from stdin with the fixture rules, state under `dir`,
/// then `extra` (an `[api]` table, say).
fn config(dir: &Path, extra: &str) -> PathBuf {
    let path = dir.join("nightwatch.toml");
    std::fs::write(
        &path,
        format!(
            "[rules]\npaths = [{rules:?}]\n[cases]\nupdate_interval_secs = 1\n[inputs.pipe]\ntype = \"stdin\"\n[state]\ndir = {state:?}\n{extra}",
            rules = fixture("rules").display().to_string(),
            state = dir.join("state").display().to_string(),
        ),
    )
    .unwrap();
    path
}

/// A daemon on 127.0.0.1:0 that has built the fixture's cases.
fn daemon(dir: &Path, extra: &str, env: &[(&str, &str)]) -> Daemon {
    let events = std::fs::read(fixture("logs/ws-fin-07.jsonl")).unwrap();
    let cfg = config(dir, extra);
    Daemon::start_with_stdin(&["--config", &cfg.display().to_string()], env, Some(events))
}

struct Reply {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: Vec<u8>,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "{} is not JSON: {e}: {}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    /// The `code` of a JSON error, checking the content type says JSON.
    fn code(&self) -> String {
        let ctype = self.headers[reqwest::header::CONTENT_TYPE]
            .to_str()
            .unwrap();
        assert!(ctype.starts_with("application/json"), "{ctype}");
        self.json()["code"].as_str().unwrap().to_owned()
    }
}

/// reqwest against one daemon.
struct Http {
    rt: tokio::runtime::Runtime,
    client: reqwest::Client,
    addr: SocketAddr,
}

impl Http {
    fn new(addr: SocketAddr) -> Self {
        Self {
            rt: crate::helpers::runtime(),
            client: reqwest::Client::builder()
                .timeout(std::time::Duration::from_secs(30))
                .build()
                .unwrap(),
            addr,
        }
    }

    fn send(&self, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Reply {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut rb = self
            .client
            .request(method, format!("http://{}{path}", self.addr))
            .body(body.to_vec());
        for (k, v) in headers {
            rb = rb.header(*k, *v);
        }
        self.rt.block_on(async {
            let r = rb.send().await.expect("request");
            Reply {
                status: r.status().as_u16(),
                headers: r.headers().clone(),
                body: r.bytes().await.unwrap().to_vec(),
            }
        })
    }

    fn get(&self, path: &str, headers: &[(&str, &str)]) -> Reply {
        self.send("GET", path, headers, b"")
    }

    /// The id of a case, once the daemon has recorded one.
    fn case_id(&self, headers: &[(&str, &str)]) -> String {
        let mut id = String::new();
        wait_for("a case in the history", Duration::from_secs(60), || {
            let r = self.get("/api/cases", headers);
            assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
            if let Some(c) = r.json()["cases"].as_array().and_then(|c| c.first()) {
                id = c["case_id"].as_str().unwrap().to_owned();
            }
            !id.is_empty()
        });
        id
    }
}

const JSON: (&str, &str) = ("Content-Type", "application/json");
const EVIL_ORIGIN: (&str, &str) = ("Origin", "http://evil.example");
const EVIL_HOST: (&str, &str) = ("Host", "evil.example");

/// The status of a WebSocket handshake on `path` with extra headers (101 on success), and the
/// first text message when it succeeded.
fn ws(addr: SocketAddr, path: &str, headers: &[(&str, &str)]) -> (u16, Option<String>) {
    let mut req = format!("ws://{addr}{path}").into_client_request().unwrap();
    for (k, v) in headers {
        req.headers_mut().insert(
            tungstenite::http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
            v.parse().unwrap(),
        );
    }
    crate::helpers::runtime().block_on(async {
        use futures_util::StreamExt;
        match tokio_tungstenite::connect_async(req).await {
            Ok((mut stream, response)) => {
                let first = tokio::time::timeout(Duration::from_secs(20), async {
                    loop {
                        match stream.next().await {
                            Some(Ok(tungstenite::Message::Text(t))) => return t.to_string(),
                            Some(Ok(_)) => continue,
                            other => panic!("websocket ended: {other:?}"),
                        }
                    }
                })
                .await
                .expect("a first message within 20 s");
                assert_eq!(response.status().as_u16(), 101);
                (101, Some(first))
            }
            Err(tungstenite::Error::Http(response)) => {
                // The refusal is JSON (when the client kept the body).
                if let Some(body) = response.body().as_ref().filter(|b| !b.is_empty()) {
                    let v: Value = serde_json::from_slice(body).expect("a JSON refusal");
                    assert!(v["code"].is_string(), "{v}");
                }
                (response.status().as_u16(), None)
            }
            Err(e) => panic!("websocket handshake: {e}"),
        }
    })
}

#[test]
fn the_websocket_needs_the_token_and_a_local_origin() {
    let dir = tempfile::tempdir().unwrap();
    let d = daemon(dir.path(), "", &[("NIGHTWATCH__API__TOKEN", TOKEN)]);
    let bearer = format!("Bearer {TOKEN}");
    let auth = ("Authorization", bearer.as_str());
    // The fixture's cases exist (so the verdict ring holds what an attacker would read).
    Http::new(d.addr).case_id(&[auth]);

    // `after=x` replays every kept verdict after a resume_gap notice.
    let path = "/ws?after=x";
    assert_eq!(ws(d.addr, path, &[]).0, 401, "no token");
    assert_eq!(
        ws(d.addr, path, &[("Authorization", "Bearer wrong")]).0,
        401
    );
    assert_eq!(ws(d.addr, "/ws?token=it-s3cret%2Ftoken%2B", &[]).0, 401);
    assert_eq!(
        ws(d.addr, path, &[auth, EVIL_ORIGIN]).0,
        403,
        "token, but a page of another site"
    );
    let (status, first) = ws(d.addr, path, &[auth]);
    assert_eq!(status, 101);
    assert!(first.unwrap().contains("resume_gap"));
    // What a browser can do: the token as a subprotocol next to nightwatch.v1, from a page
    // served by the daemon's own origin.
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(TOKEN);
    let protocols = format!("nightwatch.v1, nightwatch.bearer.{b64}");
    let origin = format!("http://{}", d.addr);
    let (status, _) = ws(
        d.addr,
        path,
        &[("Sec-WebSocket-Protocol", &protocols), ("Origin", &origin)],
    );
    assert_eq!(status, 101, "tungstenite checks nightwatch.v1 was selected");
    let wrong = format!("nightwatch.v1, nightwatch.bearer.{}", "d3Jvbmc");
    assert_eq!(
        ws(d.addr, path, &[("Sec-WebSocket-Protocol", &wrong)]).0,
        401
    );

    let (_, metrics) = crate::helpers::http_get(d.addr, "/metrics");
    assert!(
        metrics.contains("nightwatch_api_refused_total{reason=\"unauthorized\"} 4"),
        "{metrics}"
    );
    let (code, log) = d.terminate(Duration::from_secs(30));
    assert_eq!(code, 0);
    assert!(
        log.iter()
            .all(|l| !l.contains("s3cret") && !l.contains(&b64)),
        "token logged"
    );
}

#[test]
fn the_websocket_on_an_open_loopback_listener_refuses_foreign_origins_and_hosts() {
    let dir = tempfile::tempdir().unwrap();
    let d = daemon(dir.path(), "", &[]);
    Http::new(d.addr).case_id(&[]);
    let path = "/ws?after=x";
    assert_eq!(ws(d.addr, path, &[EVIL_ORIGIN]).0, 403);
    assert_eq!(ws(d.addr, path, &[("Origin", "null")]).0, 403);
    assert_eq!(ws(d.addr, path, &[EVIL_HOST]).0, 421, "DNS rebinding");
    // Local tools (no Origin) and local pages stay welcome.
    assert_eq!(ws(d.addr, path, &[]).0, 101);
    let local = format!("http://localhost:{}", d.addr.port());
    assert_eq!(ws(d.addr, path, &[("Origin", &local)]).0, 101);
}

#[test]
fn cross_site_changes_are_refused_and_the_same_changes_done_properly_are_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let d = daemon(dir.path(), "", &[]);
    let http = Http::new(d.addr);
    let id = http.case_id(&[]);
    let feedback = format!("/api/cases/{id}/feedback");
    let close = format!("/api/cases/{id}/close");
    let body = br#"{"disposition":"false_positive"}"#;

    // The probe of the issue, then each of its parts alone.
    let text = ("Content-Type", "text/plain");
    let r = http.send("POST", &feedback, &[text, EVIL_ORIGIN, EVIL_HOST], body);
    assert_eq!((r.status, r.code()), (421, "misdirected_request".into()));
    let r = http.send("POST", &feedback, &[JSON, EVIL_ORIGIN], body);
    assert_eq!((r.status, r.code()), (403, "forbidden_origin".into()));
    let r = http.send("POST", &feedback, &[JSON, EVIL_HOST], body);
    assert_eq!((r.status, r.code()), (421, "misdirected_request".into()));
    let r = http.send("POST", &feedback, &[text], body);
    assert_eq!((r.status, r.code()), (415, "unsupported_media_type".into()));
    let r = http.send("POST", &close, &[], b"");
    assert_eq!(
        (r.status, r.code()),
        (415, "unsupported_media_type".into()),
        "a close without a body needs the JSON content type too"
    );
    let r = http.send("POST", &close, &[JSON, EVIL_ORIGIN], b"");
    assert_eq!(r.status, 403);
    // Reads under a foreign name.
    for path in ["/api/cases", &format!("/api/cases/{id}"), "/api/hosts/x"] {
        let r = http.get(path, &[EVIL_HOST]);
        assert_eq!((r.status, r.code()), (421, "misdirected_request".into()));
    }
    // Nothing of the above reached the case.
    let r = http.get(&format!("/api/cases/{id}"), &[]);
    assert_eq!(r.json()["case"]["disposition"], Value::Null);
    assert_eq!(r.json()["case"]["status"], "open");

    // Errors of the request itself are JSON too.
    let r = http.get("/api/cases?limit=lots", &[]);
    assert_eq!((r.status, r.code()), (400, "bad_request".into()));
    let big = format!(
        r#"{{"disposition":"benign","note":"{}"}}"#,
        "n".repeat(20_000)
    );
    let r = http.send("POST", &feedback, &[JSON], big.as_bytes());
    assert_eq!((r.status, r.code()), (413, "body_too_large".into()));
    let long = format!(
        r#"{{"disposition":"benign","note":"{}"}}"#,
        "n".repeat(4097)
    );
    let r = http.send("POST", &feedback, &[JSON], long.as_bytes());
    assert_eq!((r.status, r.code()), (400, "note_too_long".into()));

    // Done properly: JSON, from the daemon's own name (a local page), or a local tool.
    let origin = format!("http://localhost:{}", d.addr.port());
    let host = format!("localhost:{}", d.addr.port());
    let r = http.send(
        "POST",
        &feedback,
        &[
            ("Content-Type", "application/json; charset=utf-8"),
            ("Origin", &origin),
            ("Host", &host),
        ],
        body,
    );
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["case"]["disposition"], "false_positive");
    let r = http.send("POST", &close, &[JSON], b"");
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["case"]["status"], "closed");
    let (_, metrics) = crate::helpers::http_get(d.addr, "/metrics");
    for (reason, n) in [("host", 5), ("origin", 2), ("content_type", 2)] {
        let series = format!("nightwatch_api_refused_total{{reason=\"{reason}\"}} {n}");
        assert!(metrics.contains(&series), "{series} in {metrics}");
    }
    let (code, _) = d.terminate(Duration::from_secs(30));
    assert_eq!(code, 0);
    let audit = std::fs::read_to_string(dir.path().join("state/audit.jsonl")).unwrap();
    let actions: Vec<String> = audit
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap()["action"].to_string())
        .collect();
    assert_eq!(actions, ["\"feedback\"", "\"close\""], "{audit}");
}

#[test]
fn changes_are_rate_limited_per_caller() {
    let dir = tempfile::tempdir().unwrap();
    let d = daemon(
        dir.path(),
        "[api]\nchanges_burst = 2\nchanges_per_minute = 1\n",
        &[],
    );
    let http = Http::new(d.addr);
    let id = http.case_id(&[]);
    let feedback = format!("/api/cases/{id}/feedback");
    let body = br#"{"disposition":"true_positive","note":"seen"}"#;
    for _ in 0..2 {
        assert_eq!(http.send("POST", &feedback, &[JSON], body).status, 200);
    }
    let r = http.send("POST", &feedback, &[JSON], body);
    assert_eq!((r.status, r.code()), (429, "rate_limited".into()));
    let retry: u64 = r.headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
    // Reads are not limited.
    assert_eq!(http.get(&format!("/api/cases/{id}"), &[]).status, 200);
}

#[test]
fn the_audit_log_grows_by_the_size_of_each_change_not_of_the_case() {
    const POSTS: usize = 200;
    const NOTE: usize = 2048;
    let dir = tempfile::tempdir().unwrap();
    let d = daemon(
        dir.path(),
        "[api]\nchanges_burst = 1000\nchanges_per_minute = 100000\n",
        &[],
    );
    let http = Http::new(d.addr);
    let id = http.case_id(&[]);
    let feedback = format!("/api/cases/{id}/feedback");
    for i in 0..POSTS {
        let body = format!(
            r#"{{"disposition":"false_positive","analyst":"a{i}","note":"{}"}}"#,
            "x".repeat(NOTE)
        );
        let r = http.send("POST", &feedback, &[JSON], body.as_bytes());
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    }
    let shown = http.get(&format!("/api/cases/{id}"), &[]);
    let case_bytes = serde_json::to_vec(&shown.json()["case"]).unwrap().len();
    let (code, _) = d.terminate(Duration::from_secs(30));
    assert_eq!(code, 0);

    let audit = std::fs::read_to_string(dir.path().join("state/audit.jsonl")).unwrap();
    let lines: Vec<&str> = audit.lines().collect();
    assert_eq!(lines.len(), POSTS);
    let sizes: Vec<usize> = lines.iter().map(|l| l.len() + 1).collect();
    let max = *sizes.iter().max().unwrap();
    eprintln!(
        "{POSTS} changes of a {NOTE}-byte note: audit {} bytes (first line {}, last {}, max {max}); case record {case_bytes} bytes",
        audit.len(),
        sizes[0],
        sizes[POSTS - 1],
    );
    // Each line holds the change (the note once, its timeline entry's first 200 characters,
    // a few changed fields), whatever came before.
    assert!(max <= NOTE + 2048, "a line of {max} bytes");
    assert!(
        sizes[POSTS - 1] <= sizes[1] + 64,
        "lines grow: {} then {}",
        sizes[1],
        sizes[POSTS - 1]
    );
    let last: Value = serde_json::from_str(lines[POSTS - 1]).unwrap();
    assert_eq!(last["actor"], format!("a{}", POSTS - 1));
    assert_eq!(last["auth"], "open");
    assert_eq!(last["peer"], "127.0.0.1");
    let added = &last["changes"]["feedback"]["added"];
    assert_eq!(added[0]["note"].as_str().unwrap().len(), NOTE);
    assert!(last.get("before").is_none() && last.get("after").is_none());
    // The case keeps the latest 32 pieces of feedback: its size, rewritten on each change,
    // is bounded too.
    assert!(
        case_bytes <= 32 * (NOTE + 1024) + 64 * 1024,
        "case record {case_bytes} bytes"
    );
}

#[test]
fn off_loopback_without_a_token_run_and_validate_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), "[api]\nlisten = \"0.0.0.0:0\"\n");
    let cfg = cfg.to_str().unwrap();
    let out = crate::helpers::run(&["validate", "--config", cfg]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(2), "{stdout}");
    assert!(stdout.contains("api.token"), "{stdout}");

    // `run` refuses before it starts anything, with the file's listener or `--listen`'s.
    for args in [
        vec!["run", "--config", cfg],
        vec!["run", "--listen", "[::]:0"],
    ] {
        let mut child = crate::helpers::bin()
            .args(&args)
            .env("NIGHTWATCH__STATE__DIR", dir.path().join("run-state"))
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut status = None;
        let waited = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            wait_for("run to exit", Duration::from_secs(30), || {
                status = child.try_wait().unwrap();
                status.is_some()
            })
        }));
        if waited.is_err() {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{args:?} started without a token");
        }
        let mut stderr = String::new();
        std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
        assert_eq!(status.unwrap().code(), Some(2), "{args:?}: {stderr}");
        let named: Vec<&str> = stderr.lines().filter(|l| l.contains("api.token")).collect();
        assert_eq!(named.len(), 1, "one line names api.token: {stderr}");
    }

    // With a token the same file is fine.
    let out = crate::helpers::bin()
        .args(["validate", "--config", cfg])
        .env("NIGHTWATCH__API__TOKEN", TOKEN)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}
