//! The summary worker: a bounded priority queue in front of the provider, within budgets.
//!
//! [`SummaryWorker::submit`] only takes a short lock and never waits. The queue holds at most
//! `llm.queue_capacity` cases, highest severity first (oldest first within a severity); when
//! it is full the lowest-severity case is skipped (the newcomer itself when nothing queued is
//! lower), and a newer version of a queued case replaces the older one in place. Every skip
//! is counted by reason.
//!
//! One task takes cases as a concurrency permit frees up and summarizes each in its own task:
//! cache lookup (tree [`CACHE_TREE`], key = SHA-256 of backend, endpoint, model and the exact
//! request body), the circuit (open after a provider's per-day quota answer or our own
//! `tokens_per_day`, until the provider's hint or the next UTC midnight), the
//! requests-per-minute window, the request, retries of 429/5xx (the provider's `retryDelay` or
//! `Retry-After`, else exponential backoff), validation, and delivery on the channel.

use std::collections::{HashSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use sha2::{Digest, Sha256};
use tokio::sync::{Notify, Semaphore, mpsc};
use tokio::time::Instant;

use super::backend::{Client, Reply};
use super::settings::Settings;
use super::{CaseDigest, LlmError, Summary, TokenUsage, guard, prompt};
use crate::flow::retry::Backoff;
use crate::metrics::Metrics;
use crate::store::Store;
use crate::verdict::Severity;

/// The store tree of cached summaries.
pub const CACHE_TREE: &str = "llm_cache";

/// The label values of the `nightwatch_llm_*` series (defined with them in `metrics`).
pub use crate::metrics::llm::{GUARDRAIL_DROPS, outcome, skip};

/// Retry timing: 2 s when the provider names no delay, doubling per retry up to 120 s; the
/// provider's hint is honoured up to 300 s (longer rate-limit hints open the circuit instead).
const BACKOFF: Backoff = Backoff::new(Duration::from_secs(2), Duration::from_secs(120))
    .max_doublings(16)
    .hint_replaces(Duration::from_secs(300));
const MINUTE: Duration = Duration::from_secs(60);

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Hands cases to the LLM off the hot path. Dropping it stops the worker after the requests
/// in flight; cases still queued are abandoned.
pub struct SummaryWorker {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for SummaryWorker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SummaryWorker")
            .field("queued", &self.queued())
            .field("capacity", &self.shared.capacity)
            .finish()
    }
}

struct Shared {
    queue: Mutex<Queue>,
    wake: Notify,
    capacity: usize,
    min_severity: Severity,
    backend: &'static str,
    metrics: Arc<Metrics>,
}

#[derive(Default)]
struct Queue {
    items: Vec<Queued>,
    next_seq: u64,
    closed: bool,
}

struct Queued {
    digest: CaseDigest,
    seq: u64,
}

impl Shared {
    fn skipped(&self, reason: &str) {
        self.metrics
            .llm
            .requests
            .with_label_values(&[self.backend, outcome::SKIPPED])
            .inc();
        self.metrics.llm.skipped.with_label_values(&[reason]).inc();
    }

    /// The next case to summarize: highest severity, oldest first; `None` once closed.
    async fn next(&self) -> Option<CaseDigest> {
        loop {
            {
                let mut q = lock(&self.queue);
                if q.closed {
                    return None;
                }
                let best = q
                    .items
                    .iter()
                    .enumerate()
                    .max_by(|(_, a), (_, b)| {
                        a.digest
                            .severity
                            .cmp(&b.digest.severity)
                            .then(b.seq.cmp(&a.seq))
                    })
                    .map(|(i, _)| i);
                if let Some(i) = best {
                    let item = q.items.swap_remove(i);
                    self.metrics.llm.queue_depth.set(q.items.len() as i64);
                    return Some(item.digest);
                }
            }
            self.wake.notified().await;
        }
    }
}

impl SummaryWorker {
    /// Opens the cache tree, builds the client and spawns the worker on the current tokio
    /// runtime. Summaries arrive on the returned channel as `(case_id, summary)`.
    pub fn start(
        settings: Settings,
        store: &Store,
        metrics: Arc<Metrics>,
    ) -> Result<(Self, super::Summaries), LlmError> {
        let cache = store.tree(CACHE_TREE)?;
        let client = Client::new(&settings)?;
        let backend = client.backend().name();
        metrics.llm.register(backend);
        let (tx, rx) = mpsc::channel(settings.queue_capacity.max(1));
        let shared = Arc::new(Shared {
            queue: Mutex::new(Queue::default()),
            wake: Notify::new(),
            capacity: settings.queue_capacity.max(1),
            min_severity: settings.min_severity,
            backend,
            metrics: metrics.clone(),
        });
        let concurrency = settings.concurrency.max(1);
        let ctx = Arc::new(Ctx {
            client,
            settings,
            cache,
            tx,
            metrics,
            backend,
            rate: tokio::sync::Mutex::new(VecDeque::new()),
            budget: Mutex::new(Budget::default()),
            circuit: Mutex::new(None),
            warned: Mutex::new(HashSet::new()),
        });
        tokio::spawn(run(shared.clone(), ctx, concurrency));
        Ok((Self { shared }, rx))
    }

    /// Queues `digest` for a summary and returns at once. Never blocks: when the queue is full
    /// the lowest-severity case is skipped and counted.
    pub fn submit(&self, digest: CaseDigest) {
        let s = &self.shared;
        if digest.severity < s.min_severity {
            s.skipped(skip::BELOW_MIN_SEVERITY);
            return;
        }
        let mut q = lock(&s.queue);
        if q.closed {
            return;
        }
        if let Some(queued) = q
            .items
            .iter_mut()
            .find(|i| i.digest.case_id == digest.case_id)
        {
            queued.digest = digest;
            drop(q);
            s.skipped(skip::SUPERSEDED);
            return;
        }
        if q.items.len() >= s.capacity {
            // The lowest severity goes first; among equals, the most recent (the older one
            // has waited longer and keeps its place).
            let lowest = q
                .items
                .iter()
                .enumerate()
                .min_by(|(_, a), (_, b)| {
                    a.digest
                        .severity
                        .cmp(&b.digest.severity)
                        .then(b.seq.cmp(&a.seq))
                })
                .map(|(i, item)| (i, item.digest.severity));
            match lowest {
                Some((i, severity)) if severity < digest.severity => {
                    q.items.swap_remove(i);
                }
                _ => {
                    drop(q);
                    s.skipped(skip::QUEUE_FULL);
                    return;
                }
            }
            s.skipped(skip::QUEUE_FULL);
        }
        let seq = q.next_seq;
        q.next_seq += 1;
        q.items.push(Queued { digest, seq });
        s.metrics.llm.queue_depth.set(q.items.len() as i64);
        drop(q);
        s.wake.notify_one();
    }

    /// Cases waiting.
    pub fn queued(&self) -> usize {
        lock(&self.shared.queue).items.len()
    }
}

impl Drop for SummaryWorker {
    fn drop(&mut self) {
        lock(&self.shared.queue).closed = true;
        self.shared.wake.notify_one();
    }
}

async fn run(shared: Arc<Shared>, ctx: Arc<Ctx>, concurrency: usize) {
    let permits = Arc::new(Semaphore::new(concurrency));
    loop {
        let Ok(permit) = permits.clone().acquire_owned().await else {
            return;
        };
        let Some(digest) = shared.next().await else {
            return;
        };
        let ctx = ctx.clone();
        tokio::spawn(async move {
            ctx.summarize(digest).await;
            drop(permit);
        });
    }
}

/// Tokens spent on one UTC day.
#[derive(Default)]
struct Budget {
    day: Option<NaiveDate>,
    used: u64,
}

struct Ctx {
    client: Client,
    settings: Settings,
    cache: sled::Tree,
    tx: mpsc::Sender<(String, Summary)>,
    metrics: Arc<Metrics>,
    backend: &'static str,
    /// Start times of the requests of the last minute.
    rate: tokio::sync::Mutex<VecDeque<Instant>>,
    budget: Mutex<Budget>,
    /// Open until this instant.
    circuit: Mutex<Option<Instant>>,
    /// Outcomes already logged at warn (later ones go to debug).
    warned: Mutex<HashSet<&'static str>>,
}

impl Ctx {
    async fn summarize(&self, digest: CaseDigest) {
        let prompt = prompt::build(&digest, &self.settings.limits);
        self.metrics.llm.redactions.inc_by(prompt.redactions);
        let body = self.client.body(&prompt);
        let key = cache_key(&self.client.identity(), &body);
        if let Some(mut summary) = self.cached(&key) {
            self.metrics.llm.cache_hits.inc();
            summary.case_version = digest.version;
            self.deliver(digest.case_id, summary).await;
            return;
        }
        let mut attempt: u32 = 0;
        loop {
            if self.circuit_open() {
                self.skipped(skip::CIRCUIT_OPEN);
                return;
            }
            if !self.budget_left() {
                self.open_circuit(None, "tokens_per_day budget spent");
                self.skipped(skip::TOKEN_BUDGET);
                return;
            }
            self.rate_slot().await;
            let started = Instant::now();
            let reply = self.client.send(body.clone()).await;
            self.metrics
                .llm
                .request_duration
                .with_label_values(&[self.backend])
                .observe(started.elapsed().as_secs_f64());
            let retry_after = match reply {
                Reply::Answer { text, usage, model } => {
                    self.spend(usage);
                    match guard::check(&text, &digest, Utc::now()) {
                        Ok(checked) => {
                            self.count(outcome::OK);
                            let d = checked.drops;
                            let counts = [
                                d.ungrounded_hypotheses,
                                d.queries_not_allowed,
                                d.queries_bad_argument,
                                d.queries_ungrounded,
                            ];
                            for (what, n) in GUARDRAIL_DROPS.iter().zip(counts) {
                                self.metrics
                                    .llm
                                    .guardrail_drops
                                    .with_label_values(&[what])
                                    .inc_by(n);
                            }
                            let summary = Summary {
                                case_version: digest.version,
                                executive_summary: checked.executive_summary,
                                hypotheses: checked.hypotheses,
                                suggested_next_queries: checked.queries,
                                model: if model.is_empty() {
                                    self.client.model().to_owned()
                                } else {
                                    model
                                },
                                generated_at: Utc::now(),
                                tokens: usage,
                            };
                            self.store(&key, &summary);
                            self.deliver(digest.case_id, summary).await;
                        }
                        Err(why) => self.failed(outcome::INVALID, &digest.case_id, &why),
                    }
                    return;
                }
                Reply::Truncated { usage } => {
                    self.spend(usage);
                    self.failed(
                        outcome::TRUNCATED,
                        &digest.case_id,
                        "answer cut at max_output_tokens",
                    );
                    return;
                }
                Reply::Blocked { usage, reason } => {
                    self.spend(usage);
                    self.failed(outcome::BLOCKED, &digest.case_id, &reason);
                    return;
                }
                Reply::Malformed { usage, reason } => {
                    self.spend(usage);
                    self.failed(outcome::INVALID, &digest.case_id, &reason);
                    return;
                }
                Reply::Rejected { reason } => {
                    self.failed(outcome::REJECTED, &digest.case_id, &reason);
                    return;
                }
                Reply::RateLimited {
                    retry_after,
                    daily,
                    reason,
                } => {
                    self.failed(outcome::RATE_LIMITED, &digest.case_id, &reason);
                    if daily || retry_after.is_some_and(|d| BACKOFF.hint_too_long(d)) {
                        self.open_circuit(retry_after, &reason);
                        return;
                    }
                    retry_after
                }
                Reply::Unavailable {
                    retry_after,
                    reason,
                } => {
                    self.failed(outcome::UNAVAILABLE, &digest.case_id, &reason);
                    retry_after
                }
            };
            if attempt >= self.settings.max_retries {
                return;
            }
            tokio::time::sleep(BACKOFF.wait(attempt, retry_after)).await;
            attempt += 1;
        }
    }

    fn count(&self, outcome: &str) {
        self.metrics
            .llm
            .requests
            .with_label_values(&[self.backend, outcome])
            .inc();
    }

    fn skipped(&self, reason: &str) {
        self.count(outcome::SKIPPED);
        self.metrics.llm.skipped.with_label_values(&[reason]).inc();
    }

    /// Counts an unusable reply; the first of each outcome is logged at warn.
    fn failed(&self, outcome: &'static str, case_id: &str, reason: &str) {
        self.count(outcome);
        if lock(&self.warned).insert(outcome) {
            tracing::warn!(
                backend = self.backend,
                outcome,
                case_id,
                reason,
                "llm summary not usable (further ones of this outcome are logged at debug)"
            );
        } else {
            tracing::debug!(
                backend = self.backend,
                outcome,
                case_id,
                reason,
                "llm summary not usable"
            );
        }
    }

    fn cached(&self, key: &[u8]) -> Option<Summary> {
        let bytes = self.cache.get(key).ok()??;
        serde_json::from_slice(&bytes).ok()
    }

    fn store(&self, key: &[u8], summary: &Summary) {
        let Ok(bytes) = serde_json::to_vec(summary) else {
            return;
        };
        if let Err(e) = self.cache.insert(key, bytes) {
            tracing::warn!(error = %e, "llm cache write failed");
        }
    }

    async fn deliver(&self, case_id: String, summary: Summary) {
        // A closed receiver means the daemon is shutting down: nothing left to do.
        let _ = self.tx.send((case_id, summary)).await;
    }

    fn spend(&self, usage: TokenUsage) {
        self.metrics
            .llm
            .tokens
            .with_label_values(&[self.backend, crate::metrics::llm::PROMPT])
            .inc_by(usage.prompt);
        self.metrics
            .llm
            .tokens
            .with_label_values(&[self.backend, crate::metrics::llm::COMPLETION])
            .inc_by(usage.completion);
        let mut b = lock(&self.budget);
        roll(&mut b, Utc::now());
        b.used = b.used.saturating_add(usage.total);
    }

    fn budget_left(&self) -> bool {
        let mut b = lock(&self.budget);
        roll(&mut b, Utc::now());
        b.used < self.settings.tokens_per_day
    }

    fn circuit_open(&self) -> bool {
        let mut c = lock(&self.circuit);
        match *c {
            Some(until) if Instant::now() < until => true,
            Some(_) => {
                *c = None;
                self.metrics.llm.circuit_open.set(0);
                tracing::info!(backend = self.backend, "llm circuit closed");
                false
            }
            None => false,
        }
    }

    /// Opens the circuit for `hint`, else until the next UTC midnight.
    fn open_circuit(&self, hint: Option<Duration>, reason: &str) {
        let wait = hint.unwrap_or_else(|| until_midnight(Utc::now()));
        *lock(&self.circuit) = Some(Instant::now() + wait);
        self.metrics.llm.circuit_open.set(1);
        tracing::warn!(
            backend = self.backend,
            reason,
            reopens_in_secs = wait.as_secs(),
            "llm quota exhausted: summaries paused"
        );
    }

    /// Waits until a request fits in `requests_per_minute`.
    async fn rate_slot(&self) {
        let mut window = self.rate.lock().await;
        let limit = self.settings.requests_per_minute.max(1) as usize;
        loop {
            let now = Instant::now();
            while window
                .front()
                .is_some_and(|t| now.duration_since(*t) >= MINUTE)
            {
                window.pop_front();
            }
            match window.front() {
                Some(oldest) if window.len() >= limit => {
                    tokio::time::sleep_until(*oldest + MINUTE).await;
                }
                _ => {
                    window.push_back(now);
                    return;
                }
            }
        }
    }
}

fn roll(b: &mut Budget, now: DateTime<Utc>) {
    let today = now.date_naive();
    if b.day != Some(today) {
        b.day = Some(today);
        b.used = 0;
    }
}

fn until_midnight(now: DateTime<Utc>) -> Duration {
    let next = now
        .date_naive()
        .succ_opt()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc());
    next.and_then(|t| (t - now).to_std().ok())
        .unwrap_or(Duration::from_secs(86_400))
}

/// SHA-256 over what identifies a request: backend, endpoint, model and the exact body.
fn cache_key(identity: &str, body: &[u8]) -> Vec<u8> {
    let mut h = Sha256::new();
    h.update(identity.as_bytes());
    h.update([0u8]);
    h.update(body);
    h.finalize().to_vec()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn midnight_is_the_next_utc_day() {
        let now: DateTime<Utc> = "2026-11-21T23:59:30Z".parse().unwrap();
        assert_eq!(until_midnight(now), Duration::from_secs(30));
    }

    #[test]
    fn the_budget_resets_each_utc_day() {
        let mut b = Budget::default();
        roll(&mut b, "2026-11-21T10:00:00Z".parse().unwrap());
        b.used = 99;
        roll(&mut b, "2026-11-21T23:00:00Z".parse().unwrap());
        assert_eq!(b.used, 99);
        roll(&mut b, "2026-11-22T00:00:01Z".parse().unwrap());
        assert_eq!(b.used, 0);
    }
}
