//! The webhook output: one HTTP POST per verdict, at-least-once per URL.
//!
//! A webhook takes verdicts from its own bounded queue, one at a time and in order, and posts
//! each as JSON: the verdict document as every sink writes it (`native`) or a TheHive 5 alert
//! ([`super::thehive`]). With an HMAC key the body is signed:
//! `X-Nightwatch-Signature: sha256=<hex of HMAC-SHA256(key, body)>`, next to
//! `X-Nightwatch-Timestamp` (Unix seconds of the attempt).
//!
//! Delivery: a 2xx releases the verdict's acknowledgement. Connection errors, timeouts, 408,
//! 429 and 5xx are retried up to `max_retries` times with exponential backoff
//! (`retry_backoff_ms`, doubling, capped at `retry_backoff_max_ms`; a `Retry-After` on 429/503
//! raises the delay, within the same cap: [`crate::flow::retry`]). Any other status (3xx, other 4xx) is not retried.
//! A verdict that is not delivered is dead-lettered: counted, logged at warn once per burst of
//! failures, appended to the `[dead_letter] path` file when one is configured, and then
//! acknowledged as handled. While a webhook is slow or retrying its queue fills and the
//! fan-out waits, back up to the inputs: memory never grows.
//!
//! Secrets stay out of sight: the key is only held as keyed HMAC state, errors and logs show
//! the URL without user info or query ([`crate::base::redact_url`]), and transport errors are
//! formatted without their URL.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use hmac::{Hmac, Mac};
use reqwest::StatusCode;
use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue, RETRY_AFTER};
use sha2::Sha256;

use super::dead_letter::DeadLetterBus;
use super::{DeadVerdict, Item, OutputError, thehive};
use crate::base::redact_url;
use crate::flow::channel::Receiver;
use crate::flow::retry::{Backoff, parse_retry_after};
use crate::metrics::{self, Metrics};
use crate::verdict::Verdict;
pub use config::{WebhookConfig, WebhookFormat};

/// Header carrying `sha256=<hex>`.
pub const SIGNATURE_HEADER: &str = "x-nightwatch-signature";
/// Header carrying the Unix time (seconds) of the attempt.
pub const TIMESTAMP_HEADER: &str = "x-nightwatch-timestamp";

/// Longest excerpt of a failing response body kept in the dead-letter reason.
const MAX_REASON_BODY: usize = 200;

/// `sha256=<lowercase hex of HMAC-SHA256(key, body)>`.
pub fn signature(key: &Hmac<Sha256>, body: &[u8]) -> String {
    let mut mac = key.clone();
    mac.update(body);
    format!("sha256={}", crate::event::hex(&mac.finalize().into_bytes()))
}

/// What one attempt came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attempt {
    Delivered,
    /// Worth retrying (transport error, timeout, 408, 429, 5xx).
    Retry {
        reason: String,
        retry_after: Option<Duration>,
    },
    /// Retrying cannot help (3xx, other 4xx, a request that cannot be built).
    Fatal {
        reason: String,
    },
}

/// Classifies a response status; `retry_after` is only honoured on 429 and 503.
pub fn classify(status: StatusCode, retry_after: Option<Duration>, body: &str) -> Attempt {
    let reason = if body.is_empty() {
        format!("http {status}")
    } else {
        format!("http {status}: {body}")
    };
    if status.is_success() {
        Attempt::Delivered
    } else if status == StatusCode::TOO_MANY_REQUESTS || status == StatusCode::SERVICE_UNAVAILABLE {
        Attempt::Retry {
            reason,
            retry_after,
        }
    } else if status == StatusCode::REQUEST_TIMEOUT || status.is_server_error() {
        Attempt::Retry {
            reason,
            retry_after: None,
        }
    } else {
        Attempt::Fatal { reason }
    }
}

/// An opened webhook output.
pub(crate) struct Webhook {
    name: String,
    url: reqwest::Url,
    /// The URL as logs and errors may show it.
    shown_url: String,
    format: WebhookFormat,
    key: Option<Hmac<Sha256>>,
    headers: HeaderMap,
    client: reqwest::Client,
    max_retries: u32,
    backoff: Backoff,
    dead_letter: Option<PathBuf>,
    dead_bus: Option<Arc<DeadLetterBus>>,
    metrics: Arc<Metrics>,
}

impl Webhook {
    /// Builds the client, resolves the HMAC key (`env` looks up `hmac_secret_env`), and
    /// registers the output's metrics.
    pub(crate) fn open(
        name: &str,
        config: &WebhookConfig,
        env: impl Fn(&str) -> Option<String>,
        dead_letter: Option<PathBuf>,
        metrics: Arc<Metrics>,
    ) -> Result<Self, OutputError> {
        let shown_url = redact_url(&config.url);
        let err = |message: String| OutputError::Webhook {
            name: name.to_owned(),
            url: shown_url.clone(),
            message,
        };
        let url = reqwest::Url::parse(&config.url).map_err(|e| err(format!("bad url: {e}")))?;
        let key = match config.secret(env) {
            Ok(None) => None,
            Ok(Some(secret)) => Some(
                Hmac::<Sha256>::new_from_slice(secret.expose().as_bytes())
                    .map_err(|_| err("unusable hmac key".to_owned()))?,
            ),
            Err(var) => {
                return Err(err(format!(
                    "hmac_secret_env: environment variable {var} is not set or empty"
                )));
            }
        };
        let mut headers = HeaderMap::new();
        for (k, v) in &config.headers {
            let name = HeaderName::from_bytes(k.as_bytes())
                .map_err(|_| err(format!("header {k}: not a valid name")))?;
            let mut value = HeaderValue::from_str(v)
                .map_err(|_| err(format!("header {k}: not a valid value")))?;
            value.set_sensitive(true);
            headers.insert(name, value);
        }
        let timeout = Duration::from_millis(config.timeout_ms.max(1));
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            // A redirect would re-send the body and headers (signature, tokens) elsewhere.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("nightwatch/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| err(error_chain(&e.without_url())))?;
        metrics.sink.register(name, true);
        let backoff = Duration::from_millis(config.retry_backoff_ms.max(1));
        Ok(Webhook {
            name: name.to_owned(),
            url,
            shown_url,
            format: config.format,
            key,
            headers,
            client,
            max_retries: config.max_retries,
            backoff: Backoff::new(
                backoff,
                Duration::from_millis(config.retry_backoff_max_ms).max(backoff),
            ),
            dead_letter,
            dead_bus: None,
            metrics,
        })
    }

    /// Also publishes this output's dead letters on the `[dead_letter]` brokers.
    pub(crate) fn with_dead_bus(mut self, bus: Option<Arc<DeadLetterBus>>) -> Self {
        self.dead_bus = bus;
        self
    }

    /// Delivers every queued verdict until the queue closes.
    pub(crate) async fn run(self, rx: Receiver<Item>) -> Result<(), OutputError> {
        let result = |r: &str| {
            self.metrics
                .sink
                .deliveries
                .with_label_values(&[self.name.as_str(), r])
        };
        let (ok, retried, failed) = (
            result(metrics::sink::OK),
            result(metrics::sink::RETRY),
            result(metrics::sink::FAILED),
        );
        let latency = self
            .metrics
            .sink
            .delivery
            .with_label_values(&[self.name.as_str()]);
        let dead_count = self
            .metrics
            .sink
            .dead_letters
            .with_label_values(&[metrics::stage::OUTPUT]);
        // Verdicts dead-lettered since the last success: only the first of a burst is a warning.
        let mut burst = 0u64;
        let mut dead_file = self.dead_letter.clone();
        while let Ok(item) = rx.recv().await {
            let body = match self.body(&item) {
                Ok(body) => body,
                Err(reason) => {
                    failed.inc();
                    dead_count.inc();
                    self.give_up(&item.verdict, &reason, 0, &mut burst, &mut dead_file)
                        .await;
                    item.ack.done();
                    continue;
                }
            };
            let started = Instant::now();
            let mut retry = 0u32;
            let outcome = loop {
                match self.attempt(body.clone()).await {
                    Attempt::Delivered => break Ok(()),
                    Attempt::Fatal { reason } => break Err(reason),
                    Attempt::Retry {
                        reason,
                        retry_after,
                    } => {
                        if retry >= self.max_retries {
                            break Err(format!("{reason} (gave up after {} attempts)", retry + 1));
                        }
                        retried.inc();
                        let delay = self.backoff.wait(retry, retry_after);
                        tracing::debug!(output = %self.name, url = %self.shown_url, retry = retry + 1, delay_ms = delay.as_millis() as u64, reason = %reason, "webhook attempt failed; retrying");
                        tokio::time::sleep(delay).await;
                        retry += 1;
                    }
                }
            };
            latency.observe(started.elapsed().as_secs_f64());
            match outcome {
                Ok(()) => {
                    ok.inc();
                    if burst > 0 {
                        tracing::warn!(output = %self.name, url = %self.shown_url, dead_lettered = burst, "webhook delivering again");
                        burst = 0;
                    }
                }
                Err(reason) => {
                    failed.inc();
                    dead_count.inc();
                    self.give_up(
                        &item.verdict,
                        &reason,
                        retry + 1,
                        &mut burst,
                        &mut dead_file,
                    )
                    .await;
                }
            }
            // Delivered, or dead-lettered: either way the verdict is handled.
            item.ack.done();
        }
        if burst > 0 {
            tracing::warn!(output = %self.name, url = %self.shown_url, dead_lettered = burst, "webhook stopped while failing");
        }
        Ok(())
    }

    fn body(&self, item: &Item) -> Result<Bytes, String> {
        match self.format {
            WebhookFormat::Native => Ok(Bytes::from_owner(SharedJson(item.json.clone()))),
            WebhookFormat::Thehive => serde_json::to_vec(&thehive::alert(&item.verdict))
                .map(Bytes::from)
                .map_err(|e| format!("serializing the thehive alert: {e}")),
            WebhookFormat::Ocsf => Ok(Bytes::from(
                super::ocsf::detection_finding(&item.verdict).to_string(),
            )),
        }
    }

    async fn attempt(&self, body: Bytes) -> Attempt {
        let mut request = self
            .client
            .post(self.url.clone())
            .headers(self.headers.clone())
            .header(CONTENT_TYPE, "application/json");
        if let Some(key) = &self.key {
            request = request
                .header(SIGNATURE_HEADER, signature(key, &body))
                .header(TIMESTAMP_HEADER, chrono::Utc::now().timestamp().to_string());
        }
        let response = match request.body(body).send().await {
            Ok(r) => r,
            Err(e) if e.is_builder() => {
                return Attempt::Fatal {
                    reason: error_chain(&e.without_url()),
                };
            }
            Err(e) => {
                return Attempt::Retry {
                    reason: error_chain(&e.without_url()),
                    retry_after: None,
                };
            }
        };
        let status = response.status();
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| parse_retry_after(v, chrono::Utc::now()));
        // Read the body (bounded) so the connection can be reused; keep an excerpt on failure.
        let mut response = response;
        let mut excerpt = Vec::new();
        loop {
            match response.chunk().await {
                Ok(Some(chunk)) => {
                    if excerpt.len() < MAX_REASON_BODY {
                        excerpt.extend_from_slice(&chunk[..chunk.len().min(MAX_REASON_BODY)]);
                    } else {
                        break;
                    }
                }
                Ok(None) => break,
                // The status is what counts; a body cut short does not change it.
                Err(_) => break,
            }
        }
        let excerpt = if status.is_success() {
            String::new()
        } else {
            printable(&excerpt)
        };
        classify(status, retry_after, &excerpt)
    }

    /// Counts, logs (warn once per burst) and stores one undeliverable verdict.
    async fn give_up(
        &self,
        verdict: &Arc<Verdict>,
        reason: &str,
        attempts: u32,
        burst: &mut u64,
        file: &mut Option<PathBuf>,
    ) {
        if *burst == 0 {
            tracing::warn!(output = %self.name, url = %self.shown_url, verdict_id = %verdict.verdict_id, attempts, reason = %reason, "webhook gave up on a verdict; dead-lettered (further failures are logged at debug until a delivery succeeds)");
        } else {
            tracing::debug!(output = %self.name, url = %self.shown_url, verdict_id = %verdict.verdict_id, attempts, reason = %reason, "webhook gave up on a verdict; dead-lettered");
        }
        *burst += 1;
        let record = DeadVerdict {
            output: &self.name,
            url: &self.shown_url,
            reason,
            attempts,
            time: chrono::Utc::now(),
            verdict,
        };
        record.store(file, self.dead_bus.as_deref()).await;
    }
}

/// The fan-out's serialized verdict as a request body, without copying it.
struct SharedJson(Arc<str>);

impl AsRef<[u8]> for SharedJson {
    fn as_ref(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

/// An error and its sources, `: `-separated.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(inner) = cur {
        let text = inner.to_string();
        if !s.ends_with(&text) {
            s.push_str(": ");
            s.push_str(&text);
        }
        cur = inner.source();
    }
    s
}

/// A response excerpt fit for a log line: lossy UTF-8, control characters replaced.
fn printable(bytes: &[u8]) -> String {
    String::from_utf8_lossy(&bytes[..bytes.len().min(MAX_REASON_BODY)])
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect::<String>()
        .trim()
        .to_owned()
}

mod config;

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests;
