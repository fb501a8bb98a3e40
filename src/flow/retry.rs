//! Retry timing: one backoff policy for every outbound call that is retried.
//!
//! A [`Backoff`] doubles a `base` delay per retry up to a `cap`, optionally with jitter, and
//! folds in the delay a server asked for (`Retry-After`, a provider's `retryDelay`). Callers
//! keep their own numbers, which are parameters of the policy, not separate formulas:
//!
//! | caller | base, cap | jitter | server hint |
//! |---|---|---|---|
//! | webhook output | `retry_backoff_ms`, `retry_backoff_max_ms` | none | raises the delay, capped |
//! | Kafka output | `retry_backoff_ms`, `retry_backoff_max_ms` | none | (none) |
//! | NATS output, dead-letter brokers | 100 ms, 5 s | none | (none) |
//! | intel fan-out | `retry_backoff_ms`, `retry_backoff_max_ms` | upper half | replaces it; longer than the cap trips the circuit |
//! | LLM worker | 2 s, 120 s | none | replaces it; longer than 300 s opens the circuit |
//!
//! [`parse_retry_after`] reads the HTTP header (delta-seconds or an HTTP date).

use std::time::Duration;

/// Default `max_retries` of the webhook and Kafka outputs: retries after the first attempt,
/// then the verdict is dead-lettered.
pub fn default_sink_max_retries() -> u32 {
    5
}
/// Default `retry_backoff_ms` of the webhook and Kafka outputs: the first retry delay.
pub fn default_sink_backoff_ms() -> u64 {
    500
}
/// Default `retry_backoff_max_ms` of the webhook and Kafka outputs: the longest delay.
pub fn default_sink_backoff_max_ms() -> u64 {
    30_000
}

/// Problems of a retried sink's timing keys under `table`: its per-attempt limit `attempt`
/// (key, value) and `retry_backoff_ms` at least 1, `retry_backoff_max_ms` at least 1 and at
/// least `retry_backoff_ms`.
pub fn sink_timing_problems(
    table: &str,
    attempt: (&str, u64),
    backoff_ms: u64,
    backoff_max_ms: u64,
) -> Vec<crate::base::Problem> {
    use crate::base::Problem;
    let mut p = crate::base::at_least_one(
        table,
        &[
            attempt,
            ("retry_backoff_ms", backoff_ms),
            ("retry_backoff_max_ms", backoff_max_ms),
        ],
    );
    if backoff_max_ms < backoff_ms {
        p.push(Problem::new(
            format!("{table}.retry_backoff_max_ms"),
            "must be at least retry_backoff_ms",
        ));
    }
    p
}

/// How a delay is spread so that many callers retrying at once do not stay in step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Jitter {
    /// The computed delay exactly.
    None,
    /// A uniformly random delay between half the computed delay and all of it.
    UpperHalf,
}

/// How a delay the server asked for combines with the computed one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hint {
    /// The longer of the two, capped at the policy's cap (never retry sooner than asked).
    Raises,
    /// The server's delay instead of the computed one, capped at the longest honoured hint;
    /// callers check [`Backoff::hint_too_long`] first to stop asking instead.
    Replaces,
}

/// The retry policy: exponential backoff from `base` to `cap`, `Retry-After` aware.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    base: Duration,
    cap: Duration,
    max_doublings: u32,
    jitter: Jitter,
    hint: Hint,
    longest_hint: Duration,
}

impl Backoff {
    /// `base * 2^retry` capped at `cap`, no jitter, a server hint raises the delay up to `cap`.
    pub const fn new(base: Duration, cap: Duration) -> Self {
        Backoff {
            base,
            cap,
            max_doublings: 31,
            jitter: Jitter::None,
            hint: Hint::Raises,
            longest_hint: cap,
        }
    }

    /// Stops doubling after `n` retries (the delay stays at `base * 2^n` or the cap).
    pub const fn max_doublings(mut self, n: u32) -> Self {
        self.max_doublings = n;
        self
    }

    /// Spreads the computed delay (not a server's hint).
    pub const fn jitter(mut self, jitter: Jitter) -> Self {
        self.jitter = jitter;
        self
    }

    /// A server's delay replaces the computed one; hints longer than `longest` are too long to
    /// wait for ([`Backoff::hint_too_long`]) and are capped at `longest` when waited anyway.
    pub const fn hint_replaces(mut self, longest: Duration) -> Self {
        self.hint = Hint::Replaces;
        self.longest_hint = longest;
        self
    }

    /// Whether a server asked for a longer wait than this policy honours (the caller opens its
    /// circuit or gives up instead of sleeping).
    pub fn hint_too_long(&self, hint: Duration) -> bool {
        hint > self.longest_hint
    }

    /// The delay before retry number `retry` (0 for the first retry), given the server's hint.
    pub fn wait(&self, retry: u32, retry_after: Option<Duration>) -> Duration {
        self.wait_with(retry, retry_after, fastrand::f64())
    }

    /// [`Backoff::wait`] with the jitter's random draw `unit` (in `[0, 1)`) given.
    pub fn wait_with(&self, retry: u32, retry_after: Option<Duration>, unit: f64) -> Duration {
        let doubled = self
            .base
            .saturating_mul(2u32.saturating_pow(retry.min(self.max_doublings)))
            .min(self.cap);
        let computed = match self.jitter {
            Jitter::None => doubled,
            Jitter::UpperHalf => doubled.mul_f64(0.5 + unit.clamp(0.0, 1.0) * 0.5),
        };
        match (retry_after, self.hint) {
            (None, _) => computed,
            (Some(hint), Hint::Raises) => computed.max(hint).min(self.cap),
            (Some(hint), Hint::Replaces) => hint.min(self.longest_hint),
        }
    }
}

/// `Retry-After` as delta-seconds or an HTTP date, relative to `now`.
pub fn parse_retry_after(value: &str, now: chrono::DateTime<chrono::Utc>) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let when = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    Some(
        (when.with_timezone(&chrono::Utc) - now)
            .to_std()
            .unwrap_or_default(),
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    const MS: fn(u64) -> Duration = Duration::from_millis;

    #[test]
    fn replaced_hints_are_capped_at_the_longest_honoured_one() {
        let b = Backoff::new(MS(2_000), MS(120_000)).hint_replaces(MS(300_000));
        assert_eq!(b.wait(0, None), MS(2_000));
        assert_eq!(b.wait(6, None), MS(120_000), "computed delay capped");
        assert_eq!(b.wait(0, Some(MS(50))), MS(50), "a short hint is honoured");
        assert_eq!(b.wait(0, Some(MS(200_000))), MS(200_000), "above the cap");
        assert_eq!(b.wait(0, Some(MS(400_000))), MS(300_000));
        assert!(b.hint_too_long(MS(300_001)));
        assert!(!b.hint_too_long(MS(300_000)));
    }

    #[test]
    fn upper_half_jitter_stays_between_half_and_all_of_the_delay() {
        let b = Backoff::new(MS(100), MS(1_000)).jitter(Jitter::UpperHalf);
        assert_eq!(b.wait_with(1, None, 0.0), MS(100));
        assert_eq!(b.wait_with(1, None, 0.5), MS(150));
        assert_eq!(
            b.wait_with(5, None, 0.0),
            MS(500),
            "jitter applies after the cap"
        );
        for _ in 0..100 {
            let d = b.wait(2, None);
            assert!(d >= MS(200) && d <= MS(400), "{d:?}");
        }
        let hinted = b.hint_replaces(MS(1_000));
        assert_eq!(
            hinted.wait_with(0, Some(MS(700)), 0.0),
            MS(700),
            "hints are not jittered"
        );
    }

    #[test]
    fn doublings_stop_at_the_limit() {
        let b = Backoff::new(MS(1), Duration::MAX).max_doublings(3);
        assert_eq!(b.wait(2, None), MS(4));
        assert_eq!(b.wait(3, None), MS(8));
        assert_eq!(b.wait(40, None), MS(8));
        let unbounded = Backoff::new(MS(1), Duration::MAX);
        assert_eq!(unbounded.wait(40, None), MS(1 << 31), "no overflow");
    }

    #[test]
    fn backoff_doubles_to_the_cap_and_retry_after_raises_it() {
        let (base, cap) = (Duration::from_millis(100), Duration::from_secs(1));
        let d = |retry, ra| Backoff::new(base, cap).wait(retry, ra);
        assert_eq!(d(0, None), Duration::from_millis(100));
        assert_eq!(d(1, None), Duration::from_millis(200));
        assert_eq!(d(3, None), Duration::from_millis(800));
        assert_eq!(d(4, None), cap);
        assert_eq!(d(40, None), cap, "no overflow");
        assert_eq!(
            d(0, Some(Duration::from_millis(700))),
            Duration::from_millis(700)
        );
        assert_eq!(d(0, Some(Duration::from_secs(3600))), cap, "capped");
    }

    #[test]
    fn retry_after_is_seconds_or_an_http_date() {
        let now = chrono::DateTime::parse_from_rfc3339("2015-10-21T07:28:00Z")
            .unwrap()
            .with_timezone(&chrono::Utc);
        assert_eq!(
            parse_retry_after("120", now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:30 GMT", now),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:00:00 GMT", now),
            Some(Duration::ZERO),
            "a date in the past means now"
        );
        assert_eq!(parse_retry_after("soon", now), None);
    }
}
