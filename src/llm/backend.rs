//! The two provider APIs: request bodies, one HTTP exchange, and the classification of what
//! came back into a [`Reply`].
//!
//! Gemini: `POST {endpoint}/models/{model}:generateContent`, key in `x-goog-api-key`,
//! `responseMimeType: application/json` with our `responseSchema`; the JSON answer is the text
//! of the first candidate, usable only when `finishReason` is `STOP`. OpenAI-compatible:
//! `POST {endpoint}/chat/completions`, `Authorization: Bearer` when a key is set,
//! `response_format` of type `json_schema`; usable only with `finish_reason: stop`.
//!
//! The key is only ever put in a header; errors show the endpoint redacted and a short excerpt
//! of the provider's message, never the request.

use std::time::Duration;

use bytes::Bytes;
use reqwest::StatusCode;
use reqwest::header::{CONTENT_TYPE, HeaderValue, RETRY_AFTER};
use serde::Deserialize;
use serde_json::{Value, json};

use super::prompt::{self, Prompt};
use super::settings::{Backend, Settings};
use super::{LlmError, TokenUsage};
use crate::base::{Secret, redact_url};

/// Longest excerpt of a provider's error message kept.
const MAX_REASON: usize = 200;

/// What one exchange came to.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    /// A clean finish: `text` should be our JSON answer.
    Answer {
        text: String,
        usage: TokenUsage,
        model: String,
    },
    /// Cut at the output token limit (`MAX_TOKENS`, `length`).
    Truncated { usage: TokenUsage },
    /// A safety or policy block of the prompt or the answer.
    Blocked { usage: TokenUsage, reason: String },
    /// A response that is not the provider's documented shape, or an unusable finish.
    Malformed { usage: TokenUsage, reason: String },
    /// 429. `daily` when the provider says a per-day quota is exhausted.
    RateLimited {
        retry_after: Option<Duration>,
        daily: bool,
        reason: String,
    },
    /// 5xx, 408, timeouts and transport errors: worth retrying.
    Unavailable {
        retry_after: Option<Duration>,
        reason: String,
    },
    /// Any other status (bad key, unknown model, bad request): retrying cannot help.
    Rejected { reason: String },
}

/// A client for the configured backend.
pub struct Client {
    backend: Backend,
    url: reqwest::Url,
    shown_url: String,
    model: String,
    key: Option<Secret>,
    http: reqwest::Client,
    temperature: f64,
    max_output_tokens: u32,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("backend", &self.backend)
            .field("url", &self.shown_url)
            .field("model", &self.model)
            .field("key", &self.key.as_ref().map(|_| "<redacted>"))
            .finish_non_exhaustive()
    }
}

impl Client {
    pub fn new(s: &Settings) -> Result<Self, LlmError> {
        let full = match s.backend {
            Backend::Gemini => format!("{}/models/{}:generateContent", s.endpoint, s.model),
            Backend::OpenaiCompat => format!("{}/chat/completions", s.endpoint),
        };
        let url = reqwest::Url::parse(&full).map_err(|e| LlmError::Endpoint {
            endpoint: redact_url(&s.endpoint),
            message: e.to_string(),
        })?;
        let http = reqwest::Client::builder()
            .timeout(s.timeout)
            .build()
            .map_err(|e| LlmError::Client(e.to_string()))?;
        Ok(Self {
            backend: s.backend,
            shown_url: redact_url(url.as_str()),
            url,
            model: s.model.clone(),
            key: s.api_key.clone(),
            http,
            temperature: s.temperature,
            max_output_tokens: s.max_output_tokens,
        })
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub fn model(&self) -> &str {
        &self.model
    }

    /// What identifies the request besides its body (for the cache key): backend, URL
    /// without credentials, model.
    pub fn identity(&self) -> String {
        format!(
            "{}\n{}\n{}",
            self.backend.name(),
            self.shown_url,
            self.model
        )
    }

    /// The exact request body for `p`.
    pub fn body(&self, p: &Prompt) -> Bytes {
        let v = match self.backend {
            Backend::Gemini => json!({
                "systemInstruction": {"parts": [{"text": p.system}]},
                "contents": [{"role": "user", "parts": [{"text": p.user}]}],
                "generationConfig": {
                    "temperature": self.temperature,
                    "maxOutputTokens": self.max_output_tokens,
                    "candidateCount": 1,
                    "responseMimeType": "application/json",
                    "responseSchema": prompt::gemini_schema(),
                },
            }),
            Backend::OpenaiCompat => json!({
                "model": self.model,
                "temperature": self.temperature,
                "max_tokens": self.max_output_tokens,
                "stream": false,
                "messages": [
                    {"role": "system", "content": p.system},
                    {"role": "user", "content": p.user},
                ],
                "response_format": {
                    "type": "json_schema",
                    "json_schema": {"name": "case_summary", "strict": true, "schema": prompt::json_schema()},
                },
            }),
        };
        Bytes::from(v.to_string())
    }

    /// One exchange.
    pub async fn send(&self, body: Bytes) -> Reply {
        let mut req = self
            .http
            .post(self.url.clone())
            .header(CONTENT_TYPE, "application/json")
            .body(body);
        if let Some(key) = &self.key {
            let (name, value) = match self.backend {
                Backend::Gemini => ("x-goog-api-key", key.expose().to_owned()),
                Backend::OpenaiCompat => ("authorization", format!("Bearer {}", key.expose())),
            };
            match HeaderValue::from_str(&value) {
                Ok(mut v) => {
                    v.set_sensitive(true);
                    req = req.header(name, v);
                }
                Err(_) => {
                    return Reply::Rejected {
                        reason: "the api key is not a valid header value".into(),
                    };
                }
            }
        }
        let response = match req.send().await {
            Ok(r) => r,
            Err(e) => {
                return Reply::Unavailable {
                    retry_after: None,
                    reason: transport_reason(e),
                };
            }
        };
        let status = response.status();
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| crate::flow::retry::parse_retry_after(v, chrono::Utc::now()));
        let body = match response.bytes().await {
            Ok(b) => b,
            Err(e) => {
                return Reply::Unavailable {
                    retry_after: None,
                    reason: transport_reason(e),
                };
            }
        };
        classify(self.backend, status, retry_after, &body)
    }
}

/// A transport error in a few words, without the URL.
fn transport_reason(e: reqwest::Error) -> String {
    let e = e.without_url();
    if e.is_timeout() {
        "timed out".into()
    } else if e.is_connect() {
        "cannot connect".into()
    } else {
        let mut s = e.to_string();
        let mut src = std::error::Error::source(&e);
        while let Some(inner) = src {
            s.push_str(": ");
            s.push_str(&inner.to_string());
            src = inner.source();
        }
        excerpt(&s)
    }
}

fn excerpt(s: &str) -> String {
    s.chars().take(MAX_REASON).collect()
}

/// Classifies a response by backend, status and body.
pub fn classify(
    backend: Backend,
    status: StatusCode,
    retry_after: Option<Duration>,
    body: &[u8],
) -> Reply {
    if status.is_success() {
        return match backend {
            Backend::Gemini => gemini_answer(body),
            Backend::OpenaiCompat => openai_answer(body),
        };
    }
    let error = provider_error(body);
    let reason = format!("http {}: {}", status.as_u16(), excerpt(&error.message));
    if status == StatusCode::TOO_MANY_REQUESTS {
        Reply::RateLimited {
            retry_after: error.retry_delay.or(retry_after),
            daily: error.daily,
            reason,
        }
    } else if status.is_server_error() || status == StatusCode::REQUEST_TIMEOUT {
        Reply::Unavailable {
            retry_after: if status == StatusCode::SERVICE_UNAVAILABLE {
                error.retry_delay.or(retry_after)
            } else {
                None
            },
            reason,
        }
    } else {
        Reply::Rejected { reason }
    }
}

/// What an error body says, in Google RPC or OpenAI style.
struct ProviderError {
    message: String,
    /// `google.rpc.RetryInfo.retryDelay`.
    retry_delay: Option<Duration>,
    /// A per-day quota is exhausted (Gemini `QuotaFailure` quota id or metric naming a day;
    /// OpenAI `insufficient_quota`).
    daily: bool,
}

fn provider_error(body: &[u8]) -> ProviderError {
    let v: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let e = &v["error"];
    let message = e["message"]
        .as_str()
        .map(str::to_owned)
        .unwrap_or_else(|| String::from_utf8_lossy(&body[..body.len().min(MAX_REASON)]).into());
    let mut retry_delay = None;
    let mut daily = e["code"].as_str() == Some("insufficient_quota");
    for d in e["details"].as_array().into_iter().flatten() {
        let kind = d["@type"].as_str().unwrap_or("");
        if kind.ends_with("google.rpc.RetryInfo") {
            retry_delay = d["retryDelay"].as_str().and_then(parse_duration);
        }
        if kind.ends_with("google.rpc.QuotaFailure") {
            for q in d["violations"].as_array().into_iter().flatten() {
                let id = q["quotaId"].as_str().unwrap_or("").to_ascii_lowercase();
                let metric = q["quotaMetric"].as_str().unwrap_or("").to_ascii_lowercase();
                if id.contains("perday") || metric.contains("per_day") {
                    daily = true;
                }
            }
        }
    }
    ProviderError {
        message,
        retry_delay,
        daily,
    }
}

/// A protobuf JSON duration: `"37s"`, `"1.5s"`.
pub fn parse_duration(s: &str) -> Option<Duration> {
    let secs: f64 = s.trim().strip_suffix('s')?.parse().ok()?;
    (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs.min(86_400.0 * 2.0)))
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct GeminiResponse {
    candidates: Vec<GeminiCandidate>,
    prompt_feedback: Option<GeminiFeedback>,
    usage_metadata: GeminiUsage,
    model_version: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct GeminiCandidate {
    content: Option<GeminiContent>,
    finish_reason: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct GeminiContent {
    parts: Vec<GeminiPart>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct GeminiPart {
    text: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct GeminiFeedback {
    block_reason: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct GeminiUsage {
    prompt_token_count: u64,
    candidates_token_count: u64,
    thoughts_token_count: u64,
    total_token_count: u64,
}

/// Finish reasons that mean a safety or policy block.
const GEMINI_BLOCKS: &[&str] = &[
    "SAFETY",
    "RECITATION",
    "BLOCKLIST",
    "PROHIBITED_CONTENT",
    "SPII",
    "IMAGE_SAFETY",
];

fn gemini_answer(body: &[u8]) -> Reply {
    let r: GeminiResponse = match serde_json::from_slice(body) {
        Ok(r) => r,
        Err(e) => {
            return Reply::Malformed {
                usage: TokenUsage::default(),
                reason: format!("response is not JSON: {e}"),
            };
        }
    };
    let u = &r.usage_metadata;
    let completion = u.candidates_token_count + u.thoughts_token_count;
    let usage = TokenUsage {
        prompt: u.prompt_token_count,
        completion,
        total: u.total_token_count.max(u.prompt_token_count + completion),
    };
    if let Some(reason) = r.prompt_feedback.and_then(|f| f.block_reason) {
        return Reply::Blocked {
            usage,
            reason: format!("prompt blocked: {}", excerpt(&reason)),
        };
    }
    let Some(c) = r.candidates.into_iter().next() else {
        return Reply::Malformed {
            usage,
            reason: "no candidates".into(),
        };
    };
    match c.finish_reason.as_deref() {
        Some("STOP") => {
            let text: String = c
                .content
                .map(|c| c.parts.into_iter().filter_map(|p| p.text).collect())
                .unwrap_or_default();
            Reply::Answer {
                text,
                usage,
                model: r.model_version.unwrap_or_default(),
            }
        }
        Some("MAX_TOKENS") => Reply::Truncated { usage },
        Some(b) if GEMINI_BLOCKS.contains(&b) => Reply::Blocked {
            usage,
            reason: format!("answer blocked: {b}"),
        },
        other => Reply::Malformed {
            usage,
            reason: format!("finish reason {}", excerpt(other.unwrap_or("missing"))),
        },
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct OpenAiResponse {
    choices: Vec<OpenAiChoice>,
    usage: OpenAiUsage,
    model: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct OpenAiChoice {
    message: OpenAiMessage,
    finish_reason: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct OpenAiMessage {
    content: Option<String>,
    refusal: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct OpenAiUsage {
    prompt_tokens: u64,
    completion_tokens: u64,
    total_tokens: u64,
}

fn openai_answer(body: &[u8]) -> Reply {
    let r: OpenAiResponse = match serde_json::from_slice(body) {
        Ok(r) => r,
        Err(e) => {
            return Reply::Malformed {
                usage: TokenUsage::default(),
                reason: format!("response is not JSON: {e}"),
            };
        }
    };
    let usage = TokenUsage {
        prompt: r.usage.prompt_tokens,
        completion: r.usage.completion_tokens,
        total: r
            .usage
            .total_tokens
            .max(r.usage.prompt_tokens + r.usage.completion_tokens),
    };
    let Some(c) = r.choices.into_iter().next() else {
        return Reply::Malformed {
            usage,
            reason: "no choices".into(),
        };
    };
    if let Some(refusal) = c.message.refusal.filter(|s| !s.is_empty()) {
        return Reply::Blocked {
            usage,
            reason: format!("refused: {}", excerpt(&refusal)),
        };
    }
    match c.finish_reason.as_deref() {
        Some("stop") => Reply::Answer {
            text: c.message.content.unwrap_or_default(),
            usage,
            model: r.model.unwrap_or_default(),
        },
        Some("length") => Reply::Truncated { usage },
        Some("content_filter") => Reply::Blocked {
            usage,
            reason: "answer blocked: content_filter".into(),
        },
        other => Reply::Malformed {
            usage,
            reason: format!("finish reason {}", excerpt(other.unwrap_or("missing"))),
        },
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn retry_delays_parse() {
        assert_eq!(parse_duration("37s"), Some(Duration::from_secs(37)));
        assert_eq!(parse_duration("1.5s"), Some(Duration::from_millis(1500)));
        assert_eq!(parse_duration("soon"), None);
        assert_eq!(parse_duration("-3s"), None);
    }

    #[test]
    fn gemini_daily_quota_is_recognised() {
        let body = br#"{"error":{"code":429,"message":"quota","status":"RESOURCE_EXHAUSTED","details":[
            {"@type":"type.googleapis.com/google.rpc.QuotaFailure","violations":[{"quotaId":"GenerateRequestsPerDayPerProjectPerModel-FreeTier"}]},
            {"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"3600s"}]}}"#;
        let r = classify(Backend::Gemini, StatusCode::TOO_MANY_REQUESTS, None, body);
        assert_eq!(
            r,
            Reply::RateLimited {
                retry_after: Some(Duration::from_secs(3600)),
                daily: true,
                reason: "http 429: quota".into()
            }
        );
    }

    #[test]
    fn openai_finishes_map_to_replies() {
        let body = |finish: &str| {
            format!(
                r#"{{"choices":[{{"message":{{"content":"{{}}"}},"finish_reason":"{finish}"}}],"usage":{{"prompt_tokens":5,"completion_tokens":2,"total_tokens":7}}}}"#
            )
        };
        let ok = StatusCode::OK;
        assert!(matches!(
            classify(Backend::OpenaiCompat, ok, None, body("stop").as_bytes()),
            Reply::Answer {
                usage: TokenUsage {
                    prompt: 5,
                    completion: 2,
                    total: 7
                },
                ..
            }
        ));
        assert!(matches!(
            classify(Backend::OpenaiCompat, ok, None, body("length").as_bytes()),
            Reply::Truncated { .. }
        ));
        assert!(matches!(
            classify(
                Backend::OpenaiCompat,
                ok,
                None,
                body("content_filter").as_bytes()
            ),
            Reply::Blocked { .. }
        ));
        assert!(matches!(
            classify(
                Backend::OpenaiCompat,
                ok,
                None,
                body("tool_calls").as_bytes()
            ),
            Reply::Malformed { .. }
        ));
        assert!(matches!(
            classify(Backend::OpenaiCompat, StatusCode::NOT_FOUND, None, b"{}"),
            Reply::Rejected { .. }
        ));
    }
}
