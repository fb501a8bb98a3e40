//! NATS connections, shared by the `nats` input ([`crate::inputs::nats`]) and output
//! ([`crate::outputs::nats`]).
//!
//! * **Secrets never reach logs or `Debug`**: tokens and passwords are read from environment
//!   variables into a [`Secret`], whose `Debug` prints `<redacted>`; URLs are kept in a
//!   [`NatsUrl`], whose `Debug` and `Display` replace any `user:password@` or `token@` part
//!   with `***@`. Errors and log lines only ever show the redacted form.
//! * **Authentication**: at most one of a credentials file (JWT + nkey seed), a token, or a
//!   user and password; or credentials in the URL. **TLS**: `tls://` URLs or `tls.required`,
//!   extra root certificates (`tls.ca_file`) and a client certificate (`tls.cert_file` +
//!   `tls.key_file`), through rustls (no system OpenSSL).
//! * **Reconnects**: a client is created even while the broker is down (the first connection is
//!   retried in the background) and reconnects forever with a capped backoff; subscriptions
//!   are restored by the client. Connection changes are logged and counted in
//!   `nightwatch_nats_connection_events_total`.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use serde::Deserialize;

use crate::base::{Problem, Secret, redact_url};
use crate::metrics::Metrics;

/// A NATS server URL (or a comma-separated list of them) as configured. It may carry
/// credentials (`nats://user:password@host:4222`), so it only prints redacted.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct NatsUrl(String);

impl NatsUrl {
    pub fn new(url: impl Into<String>) -> Self {
        NatsUrl(url.into())
    }

    /// The URL with its credentials, for handing to the client library only.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The URL with any credentials replaced by `***`.
    pub fn redacted(&self) -> String {
        redact_url(&self.0)
    }

    /// Each server address, split on commas and trimmed.
    pub fn servers(&self) -> impl Iterator<Item = &str> {
        self.0.split(',').map(str::trim).filter(|s| !s.is_empty())
    }
}

impl fmt::Debug for NatsUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NatsUrl({:?})", self.redacted())
    }
}

impl fmt::Display for NatsUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

/// How a client authenticates, with secrets resolved from the environment.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Auth {
    /// None, or credentials carried in the URL.
    #[default]
    None,
    /// A `.creds` file: user JWT and nkey seed.
    CredentialsFile(PathBuf),
    Token(Secret),
    UserPassword {
        user: String,
        password: Secret,
    },
}

/// The authentication keys of a `nats` input or output, before the environment is read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuthKeys {
    pub credentials_file: Option<PathBuf>,
    pub token_env: Option<String>,
    pub user: Option<String>,
    pub password_env: Option<String>,
}

impl AuthKeys {
    /// Problems with the combination of keys (key name, message); empty when consistent.
    pub fn problems(&self, env: impl Fn(&str) -> Option<String>) -> Vec<(&'static str, String)> {
        let mut p = Vec::new();
        let methods = [
            self.credentials_file.is_some(),
            self.token_env.is_some(),
            self.user.is_some() || self.password_env.is_some(),
        ]
        .iter()
        .filter(|m| **m)
        .count();
        if methods > 1 {
            p.push((
                "credentials_file",
                "use one of credentials_file, token_env, or user + password_env".to_owned(),
            ));
        }
        if self.user.is_some() != self.password_env.is_some() {
            p.push((
                "password_env",
                "user and password_env go together".to_owned(),
            ));
        }
        if let Some(path) = &self.credentials_file
            && !path.is_file()
        {
            p.push((
                "credentials_file",
                format!("{} is not a readable file", path.display()),
            ));
        }
        for (key, var) in [
            ("token_env", &self.token_env),
            ("password_env", &self.password_env),
        ] {
            if let Some(var) = var {
                if var.is_empty() {
                    p.push((key, "must name an environment variable".to_owned()));
                } else if env(var).is_none() {
                    p.push((key, format!("environment variable {var} is not set")));
                }
            }
        }
        p
    }

    /// Reads the secrets from the environment (`env` looks a variable up).
    pub fn resolve(&self, env: impl Fn(&str) -> Option<String>) -> Result<Auth, String> {
        let read = |var: &str| {
            env(var)
                .map(Secret::new)
                .ok_or_else(|| format!("environment variable {var} is not set"))
        };
        if let Some(path) = &self.credentials_file {
            return Ok(Auth::CredentialsFile(path.clone()));
        }
        if let Some(var) = &self.token_env {
            return Ok(Auth::Token(read(var)?));
        }
        match (&self.user, &self.password_env) {
            (Some(user), Some(var)) => Ok(Auth::UserPassword {
                user: user.clone(),
                password: read(var)?,
            }),
            (None, None) => Ok(Auth::None),
            _ => Err("user and password_env go together".to_owned()),
        }
    }
}

/// `tls = { … }` of a `nats` input or output.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// Require TLS even for `nats://` URLs.
    #[serde(default)]
    pub required: bool,
    /// PEM file of extra root certificates (a private CA).
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// PEM client certificate and key, for servers that verify clients.
    #[serde(default)]
    pub cert_file: Option<PathBuf>,
    #[serde(default)]
    pub key_file: Option<PathBuf>,
}

impl TlsConfig {
    /// Problems (key name, message); empty when consistent.
    pub fn problems(&self) -> Vec<(&'static str, String)> {
        let mut p = Vec::new();
        if self.cert_file.is_some() != self.key_file.is_some() {
            p.push((
                "tls.key_file",
                "cert_file and key_file go together".to_owned(),
            ));
        }
        for (key, file) in [
            ("tls.ca_file", &self.ca_file),
            ("tls.cert_file", &self.cert_file),
            ("tls.key_file", &self.key_file),
        ] {
            if let Some(path) = file
                && !path.is_file()
            {
                p.push((key, format!("{} is not a readable file", path.display())));
            }
        }
        p
    }
}

/// The connection keys every NATS table of the configuration has (`[inputs.NAME]`,
/// `[outputs.NAME]` and `[dead_letter.nats]`): server URL(s), one way to authenticate, TLS.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    /// Server URL(s), comma-separated; printed redacted.
    pub url: NatsUrl,
    #[serde(default)]
    pub credentials_file: Option<PathBuf>,
    #[serde(default)]
    pub token_env: Option<String>,
    #[serde(default)]
    pub user: Option<String>,
    #[serde(default)]
    pub password_env: Option<String>,
    #[serde(default)]
    pub tls: Option<TlsConfig>,
}

impl ServerConfig {
    /// The keys of this table, as they appear flat in a NATS table.
    const KEYS: [&str; 6] = [
        "url",
        "credentials_file",
        "token_env",
        "user",
        "password_env",
        "tls",
    ];

    pub fn auth_keys(&self) -> AuthKeys {
        AuthKeys {
            credentials_file: self.credentials_file.clone(),
            token_env: self.token_env.clone(),
            user: self.user.clone(),
            password_env: self.password_env.clone(),
        }
    }

    /// Problems of the URL, authentication and TLS keys, under the table's key path `prefix`.
    pub fn problems(&self, prefix: &str) -> Vec<Problem> {
        let key = |k: &str| format!("{prefix}.{k}");
        let mut p = Vec::new();
        if let Some(m) = url_problem(&self.url) {
            p.push(Problem::new(key("url"), m));
        }
        let env = |var: &str| std::env::var(var).ok();
        for (k, m) in self.auth_keys().problems(env) {
            p.push(Problem::new(key(k), m));
        }
        for (k, m) in self
            .tls
            .as_ref()
            .map(TlsConfig::problems)
            .unwrap_or_default()
        {
            p.push(Problem::new(key(k), m));
        }
        p
    }
}

/// A NATS table as users write it: the shared connection keys ([`ServerConfig`]) beside the
/// component's own keys `T`, flat in one table. It is read by splitting the table in two, so
/// both halves stay strict (`deny_unknown_fields`): a misspelt key, a secret's included, is an
/// error and never silently ignored. Derefs to `T`.
#[derive(Debug, Clone)]
pub struct NatsTable<T> {
    pub server: ServerConfig,
    pub own: T,
}

impl<T> std::ops::Deref for NatsTable<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.own
    }
}

impl<'de, T: serde::de::DeserializeOwned> Deserialize<'de> for NatsTable<T> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let mut own = toml::Table::deserialize(d)?;
        let server: toml::Table = ServerConfig::KEYS
            .iter()
            .filter_map(|k| own.remove_entry(*k))
            .collect();
        let server =
            ServerConfig::deserialize(toml::Value::Table(server)).map_err(D::Error::custom)?;
        let own = T::deserialize(toml::Value::Table(own)).map_err(D::Error::custom)?;
        Ok(NatsTable { server, own })
    }
}

/// Everything needed to open a client.
#[derive(Debug, Clone)]
pub struct Connection {
    pub url: NatsUrl,
    pub auth: Auth,
    pub tls: TlsConfig,
    /// Client name shown by the server (`nightwatch/<role>/<name>`).
    pub client_name: String,
    /// Messages a subscription buffers before the server sees a slow consumer.
    pub subscription_capacity: usize,
}

/// A client could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// The credentials file could not be read.
    #[error("{role} {name} ({url}): credentials file {path}: {source}")]
    Credentials {
        role: &'static str,
        name: String,
        url: String,
        path: PathBuf,
        source: std::io::Error,
    },
    /// The client library rejected the options or the URL.
    #[error("{role} {name} ({url}): connecting: {reason}")]
    Connect {
        role: &'static str,
        name: String,
        url: String,
        reason: String,
    },
}

/// Opens a client. The first connection is retried in the background, so this succeeds while
/// the broker is down; the client then reconnects forever (delays from 0 to 2 s).
pub async fn connect(
    conn: &Connection,
    role: &'static str,
    name: &str,
    metrics: Arc<Metrics>,
) -> Result<async_nats::Client, ConnectError> {
    let url = conn.url.redacted();
    let mut options = match &conn.auth {
        Auth::None => async_nats::ConnectOptions::new(),
        Auth::CredentialsFile(path) => async_nats::ConnectOptions::with_credentials_file(path)
            .await
            .map_err(|source| ConnectError::Credentials {
                role,
                name: name.to_owned(),
                url: url.clone(),
                path: path.clone(),
                source,
            })?,
        Auth::Token(token) => async_nats::ConnectOptions::with_token(token.expose().to_owned()),
        Auth::UserPassword { user, password } => {
            async_nats::ConnectOptions::with_user_and_password(
                user.clone(),
                password.expose().to_owned(),
            )
        }
    };
    if conn.tls.required {
        options = options.require_tls(true);
    }
    if let Some(ca) = &conn.tls.ca_file {
        options = options.add_root_certificates(ca.clone());
    }
    if let (Some(cert), Some(key)) = (&conn.tls.cert_file, &conn.tls.key_file) {
        options = options.add_client_certificate(cert.clone(), key.clone());
    }
    let (log_role, log_name, log_url) = (role, name.to_owned(), url.clone());
    let link = Arc::new(Link::default());
    options = options
        .name(&conn.client_name)
        .retry_on_initial_connect()
        .connection_timeout(Duration::from_secs(5))
        .ping_interval(Duration::from_secs(10))
        .subscription_capacity(conn.subscription_capacity.max(1))
        .reconnect_delay_callback(reconnect_delay)
        .event_callback(move |event| {
            let (m, link, role, name, url) = (
                metrics.clone(),
                link.clone(),
                log_role,
                log_name.clone(),
                log_url.clone(),
            );
            async move { on_event(&m, &link, role, &name, &url, event) }
        });
    let addrs: Vec<async_nats::ServerAddr> = conn
        .url
        .servers()
        .map(|s| s.parse::<async_nats::ServerAddr>())
        .collect::<Result<_, _>>()
        .map_err(|e| ConnectError::Connect {
            role,
            name: name.to_owned(),
            url: url.clone(),
            reason: redact_url(&e.to_string()),
        })?;
    options
        .connect(addrs)
        .await
        .map_err(|e| ConnectError::Connect {
            role,
            name: name.to_owned(),
            url,
            reason: redact_url(&e.to_string()),
        })
}

/// 0 for the first attempt, then 100 ms doubling up to 2 s.
fn reconnect_delay(attempts: usize) -> Duration {
    if attempts <= 1 {
        return Duration::ZERO;
    }
    let exp = (attempts - 2).min(5) as u32;
    Duration::from_millis(100 * 2u64.pow(exp)).min(Duration::from_secs(2))
}

/// A client's connection, as its events tell it.
#[derive(Default)]
struct Link {
    connected: AtomicBool,
    /// Client errors since the last successful connection.
    failures: AtomicU64,
}

fn on_event(m: &Metrics, link: &Link, role: &str, name: &str, url: &str, event: async_nats::Event) {
    use async_nats::Event;
    let kind = match &event {
        Event::Connected => {
            link.connected.store(true, Ordering::Relaxed);
            let failed = link.failures.swap(0, Ordering::Relaxed);
            tracing::info!(role, name, url, failed_attempts = failed, "nats connected");
            "connected"
        }
        Event::Disconnected => {
            link.connected.store(false, Ordering::Relaxed);
            tracing::warn!(role, name, url, "nats disconnected; reconnecting");
            "disconnected"
        }
        // While (re)connecting, each failed attempt reports an error: log the first only.
        Event::ClientError(e) if !link.connected.load(Ordering::Relaxed) => {
            let error = redact_url(&e.to_string());
            if link.failures.fetch_add(1, Ordering::Relaxed) == 0 {
                tracing::warn!(role, name, url, error = %error, "nats cannot connect; retrying");
            } else {
                tracing::debug!(role, name, url, error = %error, "nats connection attempt failed");
            }
            "error"
        }
        Event::SlowConsumer(sid) => {
            tracing::warn!(
                role,
                name,
                url,
                sid,
                "nats slow consumer: the server dropped messages"
            );
            "slow_consumer"
        }
        Event::ServerError(e) => {
            tracing::error!(role, name, url, error = %redact_url(&e.to_string()), "nats server error");
            "error"
        }
        Event::ClientError(e) => {
            tracing::error!(role, name, url, error = %redact_url(&e.to_string()), "nats client error");
            "error"
        }
        Event::LameDuckMode | Event::Draining | Event::Closed => {
            tracing::info!(role, name, url, event = %event, "nats connection event");
            return;
        }
    };
    m.nats.connection_events.with_label_values(&[kind]).inc();
}

/// A NATS subject (`a.b.c`, wildcards `*` and `>` only where `wildcards`): non-empty tokens,
/// no whitespace.
pub fn subject_problem(subject: &str, wildcards: bool) -> Option<String> {
    if subject.is_empty() {
        return Some("must not be empty".to_owned());
    }
    if subject.chars().any(char::is_whitespace) {
        return Some(format!("`{subject}` contains whitespace"));
    }
    let tokens: Vec<&str> = subject.split('.').collect();
    for (i, t) in tokens.iter().enumerate() {
        if t.is_empty() {
            return Some(format!("`{subject}` has an empty token"));
        }
        let wild = *t == "*" || *t == ">";
        if (t.contains('*') || t.contains('>')) && !wild {
            return Some(format!("`{subject}`: wildcards must be whole tokens"));
        }
        if wild && !wildcards {
            return Some(format!("`{subject}`: wildcards are not allowed here"));
        }
        if *t == ">" && i + 1 != tokens.len() {
            return Some(format!("`{subject}`: `>` must be the last token"));
        }
    }
    None
}

/// A JetStream stream or consumer name: non-empty, no `.`, `*`, `>`, `/`, `\` or whitespace.
pub fn name_problem(name: &str) -> Option<String> {
    if name.is_empty() {
        return Some("must not be empty".to_owned());
    }
    if name
        .chars()
        .any(|c| matches!(c, '.' | '*' | '>' | '/' | '\\') || c.is_whitespace())
    {
        return Some(format!(
            "`{name}` may not contain `.`, `*`, `>`, `/`, `\\` or whitespace"
        ));
    }
    None
}

/// A URL list's problem, if any: every server must parse, with scheme `nats` or `tls`.
pub fn url_problem(url: &NatsUrl) -> Option<String> {
    if url.servers().next().is_none() {
        return Some("must not be empty".to_owned());
    }
    for server in url.servers() {
        let shown = redact_url(server);
        if let Some((scheme, _)) = server.split_once("://")
            && !matches!(scheme, "nats" | "tls")
        {
            return Some(format!("`{shown}`: scheme must be nats:// or tls://"));
        }
        if let Err(e) = server.parse::<async_nats::ServerAddr>() {
            return Some(format!("`{shown}`: {}", redact_url(&e.to_string())));
        }
    }
    None
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn urls_print_without_credentials() {
        let url = NatsUrl::new("nats://svc:hunter2@broker:4222, tls://tok3n@other:4443/x");
        let shown = format!("{url} {url:?} {}", url.redacted());
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(!shown.contains("tok3n"), "{shown}");
        assert!(!shown.contains("svc"), "{shown}");
        assert_eq!(
            url.redacted(),
            "nats://***@broker:4222, tls://***@other:4443/x"
        );
        assert_eq!(redact_url("nats://127.0.0.1:4222"), "nats://127.0.0.1:4222");
        assert_eq!(redact_url("u:p@host:1"), "***@host:1");
        // An `@` after the authority is not user info.
        assert_eq!(redact_url("nats://h:1/a@b"), "nats://h:1/a@b");
    }

    #[test]
    fn secrets_are_redacted_in_debug() {
        let auth = AuthKeys {
            user: Some("svc".into()),
            password_env: Some("NW_TEST_PW".into()),
            ..AuthKeys::default()
        }
        .resolve(|v| (v == "NW_TEST_PW").then(|| "hunter2".to_owned()))
        .unwrap();
        let Auth::UserPassword { password, .. } = &auth else {
            panic!("{auth:?}")
        };
        assert_eq!(password.expose(), "hunter2");
        let conn = Connection {
            url: NatsUrl::new("nats://a:s3cret@h:4222"),
            auth: Auth::Token(Secret::new("t0ken")),
            tls: TlsConfig::default(),
            client_name: "n".into(),
            subscription_capacity: 1,
        };
        let shown = format!("{auth:?} {conn:?} {conn:#?}");
        for secret in ["hunter2", "s3cret", "t0ken"] {
            assert!(!shown.contains(secret), "{secret} leaked: {shown}");
        }
        assert!(shown.contains("<redacted>"), "{shown}");
    }

    #[test]
    fn auth_keys_resolve_and_report_problems() {
        let env = |v: &str| (v == "SET").then(|| "x".to_owned());
        assert_eq!(AuthKeys::default().resolve(env), Ok(Auth::None));
        let token = AuthKeys {
            token_env: Some("SET".into()),
            ..AuthKeys::default()
        };
        assert_eq!(token.resolve(env), Ok(Auth::Token(Secret::new("x"))));
        assert!(token.problems(env).is_empty());
        let missing = AuthKeys {
            token_env: Some("UNSET".into()),
            ..AuthKeys::default()
        };
        assert!(missing.resolve(env).is_err());
        assert_eq!(
            missing.problems(env),
            vec![(
                "token_env",
                "environment variable UNSET is not set".to_owned()
            )]
        );
        let both = AuthKeys {
            token_env: Some("SET".into()),
            user: Some("u".into()),
            ..AuthKeys::default()
        };
        let keys: Vec<_> = both.problems(env).into_iter().map(|(k, _)| k).collect();
        assert_eq!(keys, vec!["credentials_file", "password_env"]);
    }

    #[test]
    fn subjects_names_and_urls_are_checked() {
        assert_eq!(subject_problem("events.>", true), None);
        assert_eq!(subject_problem("events.*.x", true), None);
        assert!(subject_problem("events.>", false).is_some());
        assert!(subject_problem("a..b", true).is_some());
        assert!(subject_problem("a.>.b", true).is_some());
        assert!(subject_problem("a b", true).is_some());
        assert!(subject_problem("a.b*", true).is_some());
        assert!(subject_problem("", true).is_some());
        assert_eq!(name_problem("EVENTS"), None);
        assert!(name_problem("a.b").is_some());
        assert!(name_problem("").is_some());
        assert_eq!(url_problem(&NatsUrl::new("nats://127.0.0.1:4222")), None);
        assert_eq!(url_problem(&NatsUrl::new("127.0.0.1:4222,tls://h:1")), None);
        let bad = url_problem(&NatsUrl::new("http://u:pw@h:1")).unwrap();
        assert!(bad.contains("scheme") && !bad.contains("pw"), "{bad}");
        assert!(url_problem(&NatsUrl::new(" ")).is_some());
    }

    #[test]
    fn reconnect_delays_are_capped() {
        assert_eq!(reconnect_delay(1), Duration::ZERO);
        assert_eq!(reconnect_delay(2), Duration::from_millis(100));
        assert_eq!(reconnect_delay(3), Duration::from_millis(200));
        assert_eq!(reconnect_delay(50), Duration::from_secs(2));
    }
}
