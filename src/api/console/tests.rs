//! Handler tests of the console over the real router ([`crate::api::testing`]): every page and
//! partial, the assets, sign-in, roles, CSRF and the analyst actions.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use reqwest::header::{ACCEPT, CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, SET_COOKIE};
use reqwest::{Client, StatusCode, redirect};
use serde_json::json;

use crate::api::identity::{AnalystConfig, Role, token_sha256};
use crate::api::testing::{TestServer, api_config, serve};

fn client() -> Client {
    Client::builder()
        .redirect(redirect::Policy::none())
        .build()
        .unwrap()
}

async fn page(s: &TestServer, path: &str) -> (StatusCode, String) {
    let r = client()
        .get(s.url(path))
        .header(ACCEPT, "text/html")
        .send()
        .await
        .unwrap();
    let status = r.status();
    if status == StatusCode::OK {
        let ctype = r.headers()[CONTENT_TYPE].to_str().unwrap().to_owned();
        assert_eq!(ctype, "text/html; charset=utf-8", "{path}");
        let csp = r.headers()[CONTENT_SECURITY_POLICY].to_str().unwrap();
        assert!(
            csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
            "{path}: {csp}"
        );
        assert_eq!(r.headers()[CACHE_CONTROL], "no-store", "{path}");
    }
    (status, r.text().await.unwrap())
}

fn rows(html: &str) -> Vec<&str> {
    html.split("data-case=\"")
        .skip(1)
        .filter_map(|s| s.split('"').next())
        .collect()
}

#[tokio::test]
async fn the_queue_lists_open_cases_most_severe_first_and_filters() {
    let s = serve(api_config()).await;
    let (status, html) = page(&s, "/").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(rows(&html), ["c1", "c2"], "incident before suspicious");
    assert!(html.contains(r#"href="/cases/c1""#));
    assert!(html.contains(r#"href="/entities/host/ws%2D7""#), "{html}");
    assert!(html.contains("local (open access on loopback)"));
    let (_, html) = page(&s, "/?q=srv").await;
    assert_eq!(rows(&html), ["c2"]);
    let (_, html) = page(&s, "/?entity=m.roe").await;
    assert_eq!(rows(&html), ["c2"]);
    let (_, html) = page(&s, "/?status=closed").await;
    assert!(rows(&html).is_empty());
    assert!(html.contains("No case matches these filters."));
    let (_, html) = page(&s, "/?order=activity").await;
    assert_eq!(rows(&html), ["c2", "c1"], "c2's last event is later");
    let (status, _) = page(&s, "/?severity=loud").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // The live queue's partial: the row, or 204 when it no longer matches the filters.
    let (status, html) = page(&s, "/console/rows/c1").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        html.trim_start().starts_with("<tr data-case=\"c1\""),
        "{html}"
    );
    let r = client()
        .get(s.url("/console/rows/c1?q=srv"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let (status, _) = page(&s, "/console/rows/nope").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn the_case_page_links_each_reasoning_line_to_its_stored_events() {
    let s = serve(api_config()).await;
    let (status, html) = page(&s, "/cases/c1").await;
    assert_eq!(status, StatusCode::OK);
    let reasoning = html.split("<ol class=\"reasoning\">").nth(1).unwrap();
    let first = reasoning.split("</li>").next().unwrap();
    assert!(
        first.contains("Process Memory Dump Via Comsvcs.DLL"),
        "{first}"
    );
    assert!(first.contains(r##"href="#ev-0""##), "{first}");
    assert!(html.contains(r#"id="ev-0""#));
    assert!(html.contains("rundll32.exe comsvcs.dll MiniDump"));
    assert!(html.contains("Raw record"));
    assert!(html.contains(r#"href="/api/cases/c1/report.pdf""#));
    assert!(
        html.contains(r#"href="/entities/user/CORP%5Cj%2Edoe""#),
        "every entity links"
    );
    assert!(html.contains(r#"href="/indicators/203%2E0%2E113%2E7""#));
    for b in ["assign", "acknowledge", "feedback", "close"] {
        assert!(html.contains(&format!(r#"data-action="{b}""#)), "{b}");
    }
    let (status, _) = page(&s, "/cases/c1?version=9").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = page(&s, "/cases/nope").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn pivot_pages_list_the_cases_of_an_entity_indicator_and_technique() {
    let s = serve(api_config()).await;
    let (status, html) = page(&s, "/entities/user/CORP%5Cj.doe").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains(r#"href="/cases/c1""#) && !html.contains(r#"href="/cases/c2""#));
    let (status, html) = page(&s, "/entities/host/srv-2").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains(r#"href="/cases/c2""#));
    let (status, html) = page(&s, "/indicators/203.0.113.7").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        html.contains("Tier") && html.contains(r#"href="/cases/c1""#),
        "{html}"
    );
    let (status, html) = page(&s, "/techniques/T1003.001").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("LSASS Memory"));
    for missing in ["/techniques/T9999", "/entities/planet/x"] {
        assert_eq!(
            page(&s, missing).await.0,
            StatusCode::NOT_FOUND,
            "{missing}"
        );
    }
}

#[tokio::test]
async fn every_asset_is_served_from_the_binary_with_its_type_and_cache_headers() {
    let s = serve(api_config()).await;
    let (_, html) = page(&s, "/").await;
    for a in super::assets::ASSETS.iter() {
        let url = super::assets::url(a.name);
        assert!(html.contains(&url), "the page links {url}");
        let r = client().get(s.url(&url)).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.headers()[CONTENT_TYPE], a.content_type);
        assert_eq!(
            r.headers()[CACHE_CONTROL],
            "public, max-age=31536000, immutable"
        );
        let etag = r.headers()["etag"].to_str().unwrap().to_owned();
        assert_eq!(r.text().await.unwrap(), a.body);
        let r = client()
            .get(s.url(&format!("/assets/{}", a.name)))
            .header("if-none-match", &etag)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::NOT_MODIFIED);
        assert_eq!(r.headers()[CACHE_CONTROL], "no-cache");
    }
    let r = client().get(s.url("/assets/nope.js")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
}

fn analysts() -> crate::config::ApiConfig {
    let mut api = api_config();
    api.analysts = vec![
        AnalystConfig {
            name: "alice".into(),
            role: Role::Analyst,
            token_sha256: token_sha256("alice-token"),
        },
        AnalystConfig {
            name: "victor".into(),
            role: Role::Viewer,
            token_sha256: token_sha256("victor-token"),
        },
    ];
    api
}

/// Signs in; returns the cookie pair and the page's CSRF token.
async fn sign_in(s: &TestServer, token: &str) -> (String, String) {
    let r = client()
        .post(s.url("/api/session"))
        .json(&serde_json::json!({ "token": token }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let set = r.headers()[SET_COOKIE].to_str().unwrap().to_owned();
    for flag in ["HttpOnly", "SameSite=Strict", "Path=/", "Max-Age=43200"] {
        assert!(set.contains(flag), "{set}");
    }
    assert!(!set.contains("Secure"), "plain HTTP: {set}");
    let cookie = set.split(';').next().unwrap().to_owned();
    let html = client()
        .get(s.url("/"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let csrf = html
        .split(r#"<meta name="csrf-token" content=""#)
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("the page carries its CSRF token")
        .to_owned();
    (cookie, csrf)
}

#[tokio::test]
async fn analysts_sign_in_and_their_changes_carry_their_name_role_and_csrf_token() {
    let s = serve(analysts()).await;
    // A browser without a session is sent to the login page; an API client gets 401.
    let r = client()
        .get(s.url("/cases/c1"))
        .header(ACCEPT, "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(r.headers()["location"], "/login?next=%2Fcases%2Fc1");
    let r = client().get(s.url("/api/cases")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(page(&s, "/login").await.0, StatusCode::OK);
    let r = client()
        .post(s.url("/api/session"))
        .json(&serde_json::json!({"token": "guess"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let r = client()
        .post(s.url("/api/session"))
        .header("x-forwarded-proto", "https")
        .json(&serde_json::json!({"token": "alice-token"}))
        .send()
        .await
        .unwrap();
    assert!(
        r.headers()[SET_COOKIE]
            .to_str()
            .unwrap()
            .contains("; Secure")
    );

    let (cookie, csrf) = sign_in(&s, "alice-token").await;
    let post = |path: &str, csrf: Option<&str>, cookie: &str| {
        let mut rq = client()
            .post(s.url(path))
            .header("cookie", cookie)
            .json(&serde_json::json!({"disposition": "true_positive", "note": "dump confirmed", "analyst": "mallory"}));
        if let Some(t) = csrf {
            rq = rq.header("x-csrf-token", t);
        }
        rq.send()
    };
    let r = post("/api/cases/c1/feedback", None, &cookie).await.unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(r.json::<serde_json::Value>().await.unwrap()["code"], "csrf");
    let r = post("/api/cases/c1/feedback", Some(&csrf), &cookie)
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let case = crate::history::HistoryStore::case(&*s.history, "c1")
        .unwrap()
        .unwrap();
    let last = case.timeline.last().unwrap();
    assert_eq!(
        last.actor, "alice",
        "the signed-in analyst, not the name in the body"
    );
    let audit = std::fs::read_to_string(&s.audit).unwrap();
    let entry: serde_json::Value = serde_json::from_str(audit.lines().last().unwrap()).unwrap();
    assert_eq!(
        (entry["actor"].as_str(), entry["auth"].as_str()),
        (Some("alice"), Some("session"))
    );
    let (_, html) = page_with(&s, "/cases/c1", &cookie).await;
    assert!(
        html.contains("dump confirmed") && html.contains("<b>alice</b>"),
        "on the timeline"
    );

    // A viewer reads but may not change a case, by session or by token.
    let (vcookie, vcsrf) = sign_in(&s, "victor-token").await;
    assert_eq!(page_with(&s, "/cases/c1", &vcookie).await.0, StatusCode::OK);
    let r = client()
        .post(s.url("/api/cases/c1/close"))
        .header("cookie", &vcookie)
        .header("x-csrf-token", &vcsrf)
        .json(&serde_json::json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        r.json::<serde_json::Value>().await.unwrap()["code"],
        "forbidden_role"
    );
    let r = client()
        .post(s.url("/api/cases/c1/close"))
        .bearer_auth("victor-token")
        .json(&serde_json::json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    // An analyst's token works as a bearer (no cookie, so no CSRF token needed).
    let r = client()
        .post(s.url("/api/cases/c2/acknowledge"))
        .bearer_auth("alice-token")
        .json(&serde_json::json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let r: serde_json::Value = r.json().await.unwrap();
    assert_eq!(r["case"]["acknowledged_by"], "alice");

    // Signing out ends the session.
    let r = client()
        .delete(s.url("/api/session"))
        .header("cookie", &cookie)
        .header(CONTENT_TYPE, "application/json")
        .send()
        .await
        .unwrap();
    assert!(
        r.headers()[SET_COOKIE]
            .to_str()
            .unwrap()
            .contains("Max-Age=0")
    );
    let r = client()
        .get(s.url("/api/cases"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
}

async fn page_with(s: &TestServer, path: &str, cookie: &str) -> (StatusCode, String) {
    let r = client()
        .get(s.url(path))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap();
    (r.status(), r.text().await.unwrap())
}

/// A change by `bob` (open access, self-declared): its status and JSON answer.
async fn act(
    s: &TestServer,
    path: &str,
    body: serde_json::Value,
) -> (StatusCode, serde_json::Value) {
    let r = client()
        .post(s.url(path))
        .header("x-analyst", "bob")
        .json(&body)
        .send()
        .await
        .unwrap();
    (r.status(), r.json().await.unwrap())
}

#[tokio::test]
async fn assign_acknowledge_close_and_reopen_are_audited_and_filterable() {
    let s = serve(api_config()).await;
    let (_, r) = act(&s, "/api/cases/c1/assign", json!({})).await;
    assert_eq!(
        r["case"]["assignee"], "bob",
        "assign defaults to the caller"
    );
    let (_, r) = act(&s, "/api/cases/c1/assign", json!({"assignee": "carol"})).await;
    assert_eq!(r["case"]["assignee"], "carol");
    act(&s, "/api/cases/c1/acknowledge", json!({})).await;
    let (status, _) = act(&s, "/api/cases/c1/close", json!({"note": "contained"})).await;
    assert_eq!(status, StatusCode::OK);
    let open: serde_json::Value = client()
        .get(s.url("/api/cases?status=open"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let ids: Vec<_> = open["cases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["case_id"].clone())
        .collect();
    assert_eq!(ids, [json!("c2")], "status=open leaves the closed case out");
    let (_, r) = act(&s, "/api/cases/c1/reopen", json!({"note": "new beacon"})).await;
    assert_eq!(r["case"]["status"], "open");
    let notes: Vec<String> = r["case"]["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["actor"] == "bob")
        .map(|e| e["note"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        notes,
        [
            "assigned to bob",
            "assigned to carol",
            "acknowledged",
            "closed: contained",
            "reopened: new beacon"
        ]
    );
    let audit = std::fs::read_to_string(&s.audit).unwrap();
    let actions: Vec<String> = audit
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["action"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(
        actions,
        ["assign", "assign", "acknowledge", "close", "reopen"]
    );
    let r = client()
        .get(s.url("/api/cases?status=sleeping"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn the_coverage_page_counts_rules_and_recent_cases_per_technique() {
    let s = serve(api_config()).await;
    let (status, html) = page(&s, "/coverage").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("1 rules loaded; 1 of "), "{html}");
    let cell = html
        .split(r#"href="/techniques/T1003%2E001""#)
        .nth(1)
        .expect("a cell for T1003.001, linked to its page");
    let counts = cell.split("class=\"counts\"").nth(1).unwrap();
    // One rule; no case of the fixture is in the last 24 hours (they are from 2024).
    assert!(counts.contains(">1 · 0<"), "{counts}");
    let (_, html) = page(&s, "/techniques/T1003.001").await;
    assert!(html.contains("Rules attributed to it (1)"));
    assert!(html.contains("Process Memory Dump Via Comsvcs.DLL"));
}
