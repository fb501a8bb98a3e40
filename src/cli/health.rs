//! `nightwatch health`: a probe of a running daemon's `/health`, for container health checks
//! on images that carry no curl. Exit 0 on HTTP 200, 1 otherwise (no answer, another status),
//! 2 when the URL is not an `http://` URL with a host.
//!
//! The request is reqwest's, made as a probe should: directly (no proxy from the environment),
//! without following redirects, within `--timeout` for the whole exchange.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use reqwest::{StatusCode, Url, redirect};

use super::BadInput;

/// The URL to probe: `http://host[:port][/path]`.
fn parse_url(url: &str) -> Result<Url, BadInput> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| BadInput(format!("{url}: only http:// URLs are probed")))?;
    // The URL standard reads `http:///health` as host `health`; a probe names its host.
    if rest.is_empty() || rest.starts_with('/') {
        return Err(BadInput(format!("{url}: no host")));
    }
    Url::parse(url).map_err(|e| BadInput(format!("{url}: {e}")))
}

pub(super) fn probe(url: &str, timeout: Duration) -> anyhow::Result<ExitCode> {
    let url = parse_url(url)?;
    let client = reqwest::Client::builder()
        .timeout(timeout)
        .no_proxy()
        .redirect(redirect::Policy::none())
        .user_agent("nightwatch-health")
        .build()
        .context("creating the HTTP client")?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let answer = runtime.block_on(async { client.get(url.clone()).send().await });
    match answer.map(|r| r.status()) {
        Ok(StatusCode::OK) => Ok(ExitCode::SUCCESS),
        Ok(other) => {
            eprintln!("unhealthy: {url} answered {other}");
            Ok(ExitCode::from(1))
        }
        Err(e) => {
            eprintln!("unhealthy: {url}: {}", e.without_url());
            Ok(ExitCode::from(1))
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::net::SocketAddr;

    use axum::Router;
    use axum::routing::get;

    use super::*;

    #[test]
    fn urls_split_into_authority_and_path() {
        let u = parse_url("http://127.0.0.1:8080/health").unwrap();
        assert_eq!(
            (u.host_str(), u.port_or_known_default(), u.path()),
            (Some("127.0.0.1"), Some(8080), "/health")
        );
        let u = parse_url("http://localhost").unwrap();
        assert_eq!(
            (u.host_str(), u.port_or_known_default(), u.path()),
            (Some("localhost"), Some(80), "/")
        );
        assert!(parse_url("https://x/health").is_err());
        assert!(parse_url("http:///health").is_err());
        assert!(parse_url("http://").is_err());
    }

    /// A server on a runtime of its own (the probe blocks on its own runtime) answering
    /// `/health` with `status` and `/moved` with a redirect to `/health`.
    fn serve(status: StatusCode) -> (SocketAddr, tokio::runtime::Runtime) {
        let rt = tokio::runtime::Runtime::new().unwrap();
        let listener = rt
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let addr = listener.local_addr().unwrap();
        let app = Router::new()
            .route("/health", get(move || async move { status }))
            .route(
                "/moved",
                get(|| async { axum::response::Redirect::temporary("/health") }),
            );
        rt.spawn(async move { axum::serve(listener, app).await });
        (addr, rt)
    }

    #[test]
    fn healthy_only_on_200_and_redirects_are_not_followed() {
        let timeout = Duration::from_secs(10);
        let (ok, _ok_rt) = serve(StatusCode::OK);
        let (draining, _draining_rt) = serve(StatusCode::SERVICE_UNAVAILABLE);
        let probe = |url: String| probe(&url, timeout).unwrap();
        assert_eq!(probe(format!("http://{ok}/health")), ExitCode::SUCCESS);
        assert_eq!(
            probe(format!("http://{draining}/health")),
            ExitCode::from(1)
        );
        assert_eq!(probe(format!("http://{ok}/missing")), ExitCode::from(1));
        assert_eq!(probe(format!("http://{ok}/moved")), ExitCode::from(1));
    }

    #[test]
    fn no_answer_is_unhealthy_and_a_bad_url_is_bad_input() {
        // A port that was just free: nothing listens there.
        let closed = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let got = probe(&format!("http://{closed}/health"), Duration::from_secs(5)).unwrap();
        assert_eq!(got, ExitCode::from(1));
        let bad = probe("ftp://127.0.0.1/health", Duration::from_secs(5)).unwrap_err();
        assert!(bad.is::<BadInput>(), "{bad}");
    }
}
