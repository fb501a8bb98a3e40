//! The console's stylesheet and script, compiled into the binary. Pages link them with the
//! first 16 hex digits of their SHA-256 as `?v=` so that a link names one exact content: such a
//! request is cached for a year (`immutable`); any other is revalidated (`no-cache` and an
//! `ETag`).

use std::sync::LazyLock;

use axum::extract::{Path, RawQuery};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

/// One embedded file.
pub struct Asset {
    pub name: &'static str,
    pub content_type: &'static str,
    pub body: &'static str,
    /// 16 hex digits of the SHA-256 of `body`.
    pub version: String,
}

fn asset(name: &'static str, content_type: &'static str, body: &'static str) -> Asset {
    let version = hex::encode(Sha256::digest(body.as_bytes()))[..16].to_owned();
    Asset {
        name,
        content_type,
        body,
        version,
    }
}

/// Every asset the console serves.
pub static ASSETS: LazyLock<Vec<Asset>> = LazyLock::new(|| {
    vec![
        asset(
            "console.css",
            "text/css; charset=utf-8",
            include_str!("assets/console.css"),
        ),
        asset(
            "console.js",
            "text/javascript; charset=utf-8",
            include_str!("assets/console.js"),
        ),
        asset(
            "favicon.svg",
            "image/svg+xml",
            include_str!("assets/favicon.svg"),
        ),
    ]
});

fn find(name: &str) -> Option<&'static Asset> {
    ASSETS.iter().find(|a| a.name == name)
}

/// The versioned URL of an asset.
pub fn url(name: &str) -> String {
    match find(name) {
        Some(a) => format!("/assets/{}?v={}", a.name, a.version),
        None => format!("/assets/{name}"),
    }
}

/// `GET /assets/{file}`.
pub async fn serve(
    Path(file): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let Some(a) = find(&file) else {
        return super::super::error::ApiError::not_found(format!("no asset {file}"))
            .into_response();
    };
    let etag = format!("\"{}\"", a.version);
    let exact = query.as_deref() == Some(&format!("v={}", a.version));
    let cache = if exact {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    };
    let fresh = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag));
    let mut r = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        a.body.into_response()
    };
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(a.content_type),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    if let Ok(v) = HeaderValue::from_str(&etag) {
        h.insert(header::ETAG, v);
    }
    r
}
