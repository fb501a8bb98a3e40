//! Ground-floor configuration primitives every component shares: [`Problem`] (one problem in
//! a configuration, with the key path it concerns), [`Secret`] (a value that never prints) and
//! [`redact_url`] (the one way a URL is shown in logs, errors and `Debug`).
//!
//! They sit below `config` and every component that owns config (intel, llm, api, brokers),
//! so those can report problems and hold secrets without importing the configuration that
//! composes them.

use serde::Deserialize;

/// One problem found in a configuration, with the key path it concerns.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key}: {message}")]
pub struct Problem {
    /// Dotted key path, e.g. `pipeline.channel_capacity`.
    pub key: String,
    pub message: String,
}

impl Problem {
    pub fn new(key: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            message: message.into(),
        }
    }
}

/// The problem of each `table.key` whose value is 0 but must be at least 1, in order.
pub fn at_least_one(table: &str, values: &[(&str, u64)]) -> Vec<Problem> {
    values
        .iter()
        .filter(|(_, v)| *v == 0)
        .map(|(k, _)| Problem::new(format!("{table}.{k}"), "must be at least 1"))
        .collect()
}

/// A secret value (API key, token, password, HMAC key): usable, never printed. `Debug`
/// prints `"<redacted>"`.
#[derive(Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The secret itself, for handing to a client library only; never log or format it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("\"<redacted>\"")
    }
}

/// `url` as logs, errors and `Debug` may show it; credentials never show.
///
/// - A web endpoint (`http://`, `https://`: webhooks, intel providers, LLM backends) shows as
///   scheme, host, port and path: user info, query and fragment (where tokens travel) are
///   dropped; an unparsable one shows as `<invalid url>`.
/// - Anything else (broker URL lists such as `nats://a:p@h1:4222, tls://t@h2:4443`, and error
///   text quoting them) keeps its shape, with the user info of each comma-separated server
///   replaced by `***`, so a reader still sees that credentials were given.
pub fn redact_url(url: &str) -> String {
    let scheme = url.trim_start().split("://").next().unwrap_or("");
    if scheme.eq_ignore_ascii_case("http") || scheme.eq_ignore_ascii_case("https") {
        return match reqwest::Url::parse(url) {
            Ok(u) => {
                let host = u.host_str().unwrap_or("");
                match u.port() {
                    Some(port) => format!("{}://{host}:{port}{}", u.scheme(), u.path()),
                    None => format!("{}://{host}{}", u.scheme(), u.path()),
                }
            }
            Err(_) => "<invalid url>".to_owned(),
        };
    }
    url.split(',')
        .map(|server| {
            let (scheme, rest) = match server.find("://") {
                Some(i) => server.split_at(i + 3),
                None => ("", server),
            };
            let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
            match rest[..authority_end].rfind('@') {
                Some(at) => format!("{scheme}***{}", &rest[at..]),
                None => server.to_owned(),
            }
        })
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn web_endpoints_lose_user_info_query_and_fragment() {
        assert_eq!(
            redact_url("https://bot:hunter2@soar.example:8443/api/v1/alert?key=qwerty#f"),
            "https://soar.example:8443/api/v1/alert"
        );
        assert_eq!(
            redact_url("HTTP://h/x?t=1,2"),
            "http://h/x",
            "no list split"
        );
        assert_eq!(redact_url("http://h:99999/x?token=abc"), "<invalid url>");
    }

    #[test]
    fn broker_lists_mask_each_user_info() {
        assert_eq!(
            redact_url("nats://svc:pw@broker:4222,tls://tok3n@other:4443/x"),
            "nats://***@broker:4222,tls://***@other:4443/x"
        );
        assert_eq!(
            redact_url("connect to nats://a:b@h:1 failed"),
            "connect to nats://***@h:1 failed"
        );
    }

    #[test]
    fn secrets_never_print() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s:?}"), "\"<redacted>\"");
        assert_eq!(s.expose(), "hunter2");
    }
}
