//! The fan-out engine: asks one provider about one indicator under every limit — a global
//! concurrency bound, a token bucket per provider (free-tier defaults), a per-attempt timeout,
//! retries with exponential backoff and jitter that honour `Retry-After`, a circuit breaker per
//! provider, a per-provider daily quota (exhausting it opens the breaker until 00:00 UTC) and a
//! daily budget over all providers. It always answers with an opinion: failures become
//! [`Opinion::Error`] with the reason, counted by kind.

use std::sync::Arc;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use chrono::{NaiveDate, Utc};
use tokio::sync::Semaphore;

use super::providers::{Provider, ProviderError};
use super::{Indicator, Opinion, SourceOpinion};
use crate::flow::retry::Backoff;
use crate::metrics::Metrics;

/// The limits shared by every provider.
#[derive(Clone, Debug)]
pub struct Limits {
    pub max_concurrency: usize,
    pub timeout: Duration,
    pub max_retries: u32,
    /// Retry timing: doubling up to its cap with jitter; a provider's `Retry-After` longer
    /// than the cap is a spent quota.
    pub backoff: Backoff,
    pub breaker_failures: u32,
    pub breaker_open: Duration,
    /// Requests per UTC day over all providers, 0 = unlimited.
    pub daily_budget: u64,
}

/// Rate limits of one provider.
#[derive(Clone, Copy, Debug)]
pub struct Rate {
    pub per_minute: f64,
    pub burst: u32,
    /// Requests per UTC day, 0 = unlimited.
    pub daily_quota: u64,
}

struct Bucket {
    tokens: f64,
    last: Instant,
}

#[derive(Default)]
struct Breaker {
    failures: u32,
    open_until: Option<Instant>,
    reason: &'static str,
}

/// A counter that resets at 00:00 UTC.
struct Daily {
    day: NaiveDate,
    used: u64,
}

impl Daily {
    fn new() -> Self {
        Self {
            day: Utc::now().date_naive(),
            used: 0,
        }
    }

    /// Takes one unit; false when `limit` (non-zero) is reached today.
    fn take(&mut self, limit: u64) -> bool {
        let today = Utc::now().date_naive();
        if today != self.day {
            self.day = today;
            self.used = 0;
        }
        if limit > 0 && self.used >= limit {
            return false;
        }
        self.used += 1;
        true
    }
}

/// Time until the next 00:00 UTC.
fn until_midnight() -> Duration {
    let now = Utc::now();
    let next = (now.date_naive() + chrono::Days::new(1))
        .and_hms_opt(0, 0, 0)
        .map(|t| t.and_utc());
    next.and_then(|n| (n - now).to_std().ok())
        .unwrap_or(Duration::from_secs(86_400))
}

/// One provider with its limiter state.
pub struct Slot {
    pub provider: Provider,
    rate: Rate,
    bucket: Mutex<Bucket>,
    breaker: Mutex<Breaker>,
    quota: Mutex<Daily>,
}

impl Slot {
    pub fn new(provider: Provider, rate: Rate) -> Self {
        Self {
            provider,
            rate,
            bucket: Mutex::new(Bucket {
                tokens: f64::from(rate.burst.max(1)),
                last: Instant::now(),
            }),
            breaker: Mutex::new(Breaker::default()),
            quota: Mutex::new(Daily::new()),
        }
    }

    fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
        m.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Waits for a token of the provider's bucket.
    async fn acquire(&self) {
        loop {
            let wait = {
                let mut b = Self::lock(&self.bucket);
                let now = Instant::now();
                let rate = self.rate.per_minute / 60.0;
                let burst = f64::from(self.rate.burst.max(1));
                b.tokens = (b.tokens + now.duration_since(b.last).as_secs_f64() * rate).min(burst);
                b.last = now;
                if b.tokens >= 1.0 {
                    b.tokens -= 1.0;
                    return;
                }
                Duration::from_secs_f64((1.0 - b.tokens) / rate)
            };
            tokio::time::sleep(wait).await;
        }
    }

    /// `Some(reason)` while the breaker is open. After the open period one request may try
    /// (half-open): its failure reopens the breaker at once.
    fn open(&self) -> Option<&'static str> {
        let mut b = Self::lock(&self.breaker);
        match b.open_until {
            Some(t) if Instant::now() < t => Some(b.reason),
            Some(_) => {
                b.open_until = None;
                None
            }
            None => None,
        }
    }

    /// Whether the breaker is open now (without the half-open transition of [`Self::open`]).
    fn is_open(&self) -> bool {
        Self::lock(&self.breaker)
            .open_until
            .is_some_and(|t| Instant::now() < t)
    }

    fn trip(&self, for_: Duration, reason: &'static str) {
        let mut b = Self::lock(&self.breaker);
        b.open_until = Some(Instant::now() + for_);
        b.reason = reason;
        tracing::warn!(
            provider = self.provider.name(),
            reason,
            secs = for_.as_secs(),
            "intel provider circuit opened"
        );
    }

    fn failure(&self, limits: &Limits) {
        let n = {
            let mut b = Self::lock(&self.breaker);
            b.failures += 1;
            b.failures
        };
        if n >= limits.breaker_failures {
            self.trip(limits.breaker_open, "repeated failures");
            // half-open after the period: one more failure reopens
            Self::lock(&self.breaker).failures = limits.breaker_failures.saturating_sub(1);
        }
    }

    fn success(&self) {
        Self::lock(&self.breaker).failures = 0;
    }
}

/// Every provider slot and the shared limits.
pub struct Fanout {
    pub slots: Vec<Arc<Slot>>,
    limits: Limits,
    global: Semaphore,
    budget: Mutex<Daily>,
    metrics: Arc<Metrics>,
}

impl Fanout {
    pub fn new(slots: Vec<Slot>, limits: Limits, metrics: Arc<Metrics>) -> Self {
        for s in &slots {
            metrics.intel.register_provider(s.provider.name());
        }
        Self {
            slots: slots.into_iter().map(Arc::new).collect(),
            global: Semaphore::new(limits.max_concurrency.max(1)),
            limits,
            budget: Mutex::new(Daily::new()),
            metrics,
        }
    }

    fn error(&self, slot: &Slot, kind: &'static str, detail: String) -> SourceOpinion {
        let name = slot.provider.name();
        self.metrics
            .intel
            .errors
            .with_label_values(&[name, kind])
            .inc();
        self.metrics
            .intel
            .requests
            .with_label_values(&[name, Opinion::Error.as_str()])
            .inc();
        SourceOpinion::new(name, Opinion::Error, 0.0, detail)
    }

    /// Asks `slot`'s provider about `ind`, with every limit applied, then exports the state of
    /// its circuit (`nightwatch_intel_circuit_open`).
    pub async fn ask(&self, slot: &Slot, ind: &Indicator) -> SourceOpinion {
        let opinion = self.ask_limited(slot, ind).await;
        self.metrics
            .intel
            .circuit_open
            .with_label_values(&[slot.provider.name()])
            .set(i64::from(slot.is_open()));
        opinion
    }

    async fn ask_limited(&self, slot: &Slot, ind: &Indicator) -> SourceOpinion {
        let name = slot.provider.name();
        let mut attempt = 0u32;
        loop {
            if let Some(reason) = slot.open() {
                return self.error(slot, "circuit_open", format!("circuit open: {reason}"));
            }
            if !Slot::lock(&self.budget).take(self.limits.daily_budget) {
                return self.error(slot, "budget", "daily enrichment budget spent".into());
            }
            if !Slot::lock(&slot.quota).take(slot.rate.daily_quota) {
                slot.trip(until_midnight(), "daily quota spent");
                return self.error(slot, "quota", "daily quota spent".into());
            }
            slot.acquire().await;
            let result = {
                let _permit = self.global.acquire().await;
                let t0 = Instant::now();
                let r = tokio::time::timeout(self.limits.timeout, slot.provider.lookup(ind)).await;
                self.metrics
                    .intel
                    .latency
                    .with_label_values(&[name])
                    .observe(t0.elapsed().as_secs_f64());
                r.unwrap_or_else(|_| Err(ProviderError::Unavailable("timeout".into())))
            };
            let err = match result {
                Ok(o) => {
                    slot.success();
                    self.metrics
                        .intel
                        .requests
                        .with_label_values(&[name, o.opinion.as_str()])
                        .inc();
                    return o;
                }
                Err(e) => e,
            };
            self.metrics
                .intel
                .errors
                .with_label_values(&[name, err.kind()])
                .inc();
            let retry_in = match &err {
                ProviderError::BadKey => {
                    slot.trip(self.limits.breaker_open, "API key rejected");
                    None
                }
                ProviderError::Invalid(_) => None,
                ProviderError::RateLimited { retry_after } => {
                    match retry_after {
                        // A long wait is a spent quota: stop asking until it resets.
                        Some(wait) if self.limits.backoff.hint_too_long(*wait) => {
                            slot.trip(*wait, "rate limited (quota spent)");
                            None
                        }
                        _ => Some(self.limits.backoff.wait(attempt, *retry_after)),
                    }
                }
                ProviderError::Unavailable(_) => {
                    slot.failure(&self.limits);
                    Some(self.limits.backoff.wait(attempt, None))
                }
            };
            match retry_in {
                Some(wait) if attempt < self.limits.max_retries => {
                    tracing::debug!(provider = name, attempt, wait_ms = wait.as_millis() as u64, error = %err, "intel lookup retry");
                    tokio::time::sleep(wait).await;
                    attempt += 1;
                }
                _ => {
                    if matches!(err, ProviderError::RateLimited { .. }) {
                        slot.failure(&self.limits);
                    }
                    self.metrics
                        .intel
                        .requests
                        .with_label_values(&[name, Opinion::Error.as_str()])
                        .inc();
                    return SourceOpinion::new(name, Opinion::Error, 0.0, err.to_string());
                }
            }
        }
    }
}
