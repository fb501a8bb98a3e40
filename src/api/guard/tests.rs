//! Unit tests of [`super::Guard`]: the decision on each header combination.

#![allow(clippy::unwrap_used)]

use super::*;

fn api(listen: &str, token: &str) -> ApiConfig {
    let mut c = crate::config::Config::embedded_default().unwrap().api;
    c.listen = listen.into();
    c.token = Secret::new(token);
    c
}

fn guard(listen: &str, token: &str) -> Guard {
    let mut c = api(listen, token);
    c.allowed_hosts = vec!["nightwatch.soc.example".into()];
    c.allowed_origins = vec!["https://console.soc.example".into()];
    Guard::new(listen.parse().unwrap(), &c).unwrap()
}

/// The refusal reason of a request (`None`: accepted).
fn verdict(g: &Guard, method: Method, headers: &[(&str, &str)]) -> Option<&'static str> {
    let mut h = HeaderMap::new();
    for (k, v) in headers {
        h.append(
            axum::http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
            v.parse().unwrap(),
        );
    }
    let uri: Uri = "/api/cases".parse().unwrap();
    g.check(&method, &uri, &h, None, Instant::now())
        .err()
        .map(|r| r.reason)
}

#[test]
fn hosts_outside_the_allowlist_are_misdirected() {
    let g = guard("127.0.0.1:8080", "");
    for ok in [
        "127.0.0.1:8080",
        "localhost:8080",
        "LOCALHOST.",
        "[::1]:8080",
        "nightwatch.soc.example",
    ] {
        assert_eq!(verdict(&g, Method::GET, &[("host", ok)]), None, "{ok}");
    }
    assert_eq!(
        verdict(&g, Method::GET, &[]),
        None,
        "no Host: not a browser"
    );
    for bad in [
        "evil.example",
        "evil.example:8080",
        "10.0.0.5:8080",
        "user@127.0.0.1",
        "",
    ] {
        assert_eq!(
            verdict(&g, Method::GET, &[("host", bad)]),
            Some("host"),
            "{bad}"
        );
    }
    // Listening on every address: any address literal, still no foreign name.
    let g = guard("0.0.0.0:8080", "t");
    let auth = ("authorization", "Bearer t");
    assert_eq!(
        verdict(&g, Method::GET, &[("host", "10.0.0.5:8080"), auth]),
        None
    );
    assert_eq!(
        verdict(&g, Method::GET, &[("host", "evil.example"), auth]),
        Some("host")
    );
}

#[test]
fn foreign_origins_are_refused_same_and_local_origins_pass() {
    let g = guard("127.0.0.1:8080", "");
    let host = ("host", "127.0.0.1:8080");
    for ok in [
        "http://127.0.0.1:8080",
        "http://localhost:3000",
        "http://[::1]",
        "https://console.soc.example",
        "https://console.soc.example/",
        "https://nightwatch.soc.example",
    ] {
        assert_eq!(
            verdict(&g, Method::GET, &[host, ("origin", ok)]),
            None,
            "{ok}"
        );
    }
    for bad in [
        "http://evil.example",
        "null",
        "file://",
        "http://127.0.0.1.evil.example",
        "https://console.soc.example:444",
    ] {
        assert_eq!(
            verdict(&g, Method::GET, &[host, ("origin", bad)]),
            Some("origin"),
            "{bad}"
        );
    }
    // Same origin behind a TLS proxy (default ports on both sides).
    let g = guard("0.0.0.0:8080", "t");
    let auth = ("authorization", "Bearer t");
    let h = ("host", "nightwatch.soc.example");
    assert_eq!(
        verdict(
            &g,
            Method::GET,
            &[h, ("origin", "https://nightwatch.soc.example"), auth]
        ),
        None
    );
    // On a wildcard listener an address-literal origin must be the request's own.
    let h = ("host", "10.0.0.5:8080");
    assert_eq!(
        verdict(
            &g,
            Method::GET,
            &[h, ("origin", "http://10.0.0.5:8080"), auth]
        ),
        None
    );
    assert_eq!(
        verdict(
            &g,
            Method::GET,
            &[h, ("origin", "http://10.0.0.66:8080"), auth]
        ),
        Some("origin")
    );
}

#[test]
fn the_token_is_taken_from_the_header_or_a_websocket_subprotocol_only() {
    let g = guard("127.0.0.1:8080", "s3cret/+token");
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode("s3cret/+token");
    let proto = format!("{WS_PROTOCOL}, {WS_BEARER_PREFIX}{b64}");
    let upgrade = ("upgrade", "websocket");
    assert_eq!(
        verdict(&g, Method::GET, &[]),
        Some("unauthorized"),
        "no token"
    );
    assert_eq!(
        verdict(
            &g,
            Method::GET,
            &[("authorization", "Bearer s3cret/+token")]
        ),
        None
    );
    assert_eq!(
        verdict(
            &g,
            Method::GET,
            &[("authorization", "bearer s3cret/+token")]
        ),
        None
    );
    assert_eq!(
        verdict(&g, Method::GET, &[("authorization", "Bearer s3cret")]),
        Some("unauthorized")
    );
    assert_eq!(
        verdict(
            &g,
            Method::GET,
            &[upgrade, ("sec-websocket-protocol", &proto)]
        ),
        None
    );
    // The subprotocol counts on WebSocket upgrades only.
    assert_eq!(
        verdict(&g, Method::GET, &[("sec-websocket-protocol", &proto)]),
        Some("unauthorized")
    );
    let wrong = format!("{WS_BEARER_PREFIX}{}", "d3Jvbmc");
    assert_eq!(
        verdict(
            &g,
            Method::GET,
            &[upgrade, ("sec-websocket-protocol", &wrong)]
        ),
        Some("unauthorized")
    );
    assert!(!format!("{g:?}").contains("s3cret"));
}

#[test]
fn changes_need_json_and_are_rate_limited() {
    let mut c = api("127.0.0.1:8080", "");
    c.changes_burst = 2;
    c.changes_per_minute = 1;
    let g = Guard::new("127.0.0.1:8080".parse().unwrap(), &c).unwrap();
    assert_eq!(verdict(&g, Method::POST, &[]), Some("content_type"));
    assert_eq!(
        verdict(&g, Method::POST, &[("content-type", "text/plain")]),
        Some("content_type")
    );
    let json = ("content-type", "application/json; charset=utf-8");
    assert_eq!(verdict(&g, Method::POST, &[json]), None);
    assert_eq!(verdict(&g, Method::POST, &[json]), None);
    // Reads are not counted against the budget.
    assert_eq!(verdict(&g, Method::GET, &[]), None);
    let mut h = HeaderMap::new();
    h.insert(header::CONTENT_TYPE, "application/json".parse().unwrap());
    let r = g
        .check(
            &Method::POST,
            &"/x".parse().unwrap(),
            &h,
            None,
            Instant::now(),
        )
        .err()
        .unwrap();
    assert_eq!(r.reason, "rate_limited");
    assert_eq!(r.error.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(r.error.retry_after.is_some_and(|s| (1..=60).contains(&s)));
}

#[test]
fn off_loopback_without_a_token_is_a_problem_naming_api_token() {
    let p = problems(&api("0.0.0.0:8080", ""));
    assert_eq!(p.len(), 1, "{p:?}");
    assert_eq!(p[0].key, "api.token");
    assert!(p[0].message.contains("0.0.0.0:8080"));
    assert!(problems(&api("0.0.0.0:8080", "t")).is_empty());
    assert!(problems(&api("127.0.0.1:8080", "")).is_empty());
    assert!(problems(&api("[::1]:8080", "")).is_empty());
    assert!(problems(&api("[::ffff:127.0.0.1]:8080", "")).is_empty());
    assert!(Guard::new("0.0.0.0:8080".parse().unwrap(), &api("0.0.0.0:8080", "")).is_err());
    let mut c = api("127.0.0.1:8080", "");
    c.allowed_hosts = vec!["ok.example".into(), "http://x".into(), "a:80".into()];
    c.allowed_origins = vec!["https://ok.example".into(), "ok.example".into()];
    c.changes_burst = 0;
    let keys: Vec<String> = problems(&c).into_iter().map(|p| p.key).collect();
    assert_eq!(
        keys,
        [
            "api.allowed_hosts",
            "api.allowed_hosts",
            "api.allowed_origins",
            "api.changes_burst"
        ]
    );
}
