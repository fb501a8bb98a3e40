//! The per-caller rate limit of analyst state changes (feedback, close): a token bucket per
//! caller (`api.changes_burst` requests at once, refilled at `api.changes_per_minute`).
//!
//! Memory is bounded whatever the number of callers: buckets live in a fixed table of
//! [`SLOTS`] slots indexed by a keyed hash of the caller (a per-process random key, so a caller
//! cannot choose its slot). A bucket that has refilled completely is as good as new, so an idle
//! caller's slot serves the next caller hashed to it; two callers active at once on the same
//! slot share one budget, which can only make the limit stricter, never looser.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Buckets in the table.
pub const SLOTS: usize = 1024;

#[derive(Debug, Clone, Copy)]
struct Slot {
    tokens: f64,
    at: Instant,
}

/// A bounded table of token buckets keyed by caller address.
#[derive(Debug)]
pub struct RateLimiter {
    slots: Mutex<Vec<Slot>>,
    burst: f64,
    per_sec: f64,
    hasher: RandomState,
}

impl RateLimiter {
    /// `burst` requests at once, then `per_minute` a minute (both at least 1).
    pub fn new(per_minute: u32, burst: u32) -> Self {
        let burst = f64::from(burst.max(1));
        Self {
            slots: Mutex::new(vec![
                Slot {
                    tokens: burst,
                    at: Instant::now(),
                };
                SLOTS
            ]),
            burst,
            per_sec: f64::from(per_minute.max(1)) / 60.0,
            hasher: RandomState::new(),
        }
    }

    /// Takes one token from `caller`'s bucket at `now`; when it is empty, how long until the
    /// next token. A bucket refilled to `burst` belongs to nobody in particular: that is how an
    /// idle caller's slot passes to the next one.
    pub fn check(&self, caller: IpAddr, now: Instant) -> Result<(), Duration> {
        let i = (self.hasher.hash_one(caller) % SLOTS as u64) as usize;
        // A poisoned lock only means another request panicked mid-update: the table is plain
        // numbers, still usable.
        let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        let slot = &mut slots[i];
        let tokens = (slot.tokens
            + now.saturating_duration_since(slot.at).as_secs_f64() * self.per_sec)
            .min(self.burst);
        slot.at = now.max(slot.at);
        if tokens >= 1.0 {
            slot.tokens = tokens - 1.0;
            Ok(())
        } else {
            slot.tokens = tokens;
            Err(Duration::from_secs_f64((1.0 - tokens) / self.per_sec))
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn a_burst_then_the_refill_rate_per_caller() {
        let limit = RateLimiter::new(60, 3);
        let t0 = Instant::now();
        let a = ip("192.0.2.1");
        for _ in 0..3 {
            assert_eq!(limit.check(a, t0), Ok(()));
        }
        let wait = limit.check(a, t0).unwrap_err();
        assert!(
            wait > Duration::ZERO && wait <= Duration::from_secs(1),
            "{wait:?}"
        );
        // One token a second.
        assert!(limit.check(a, t0 + Duration::from_millis(500)).is_err());
        assert_eq!(limit.check(a, t0 + Duration::from_millis(1_100)), Ok(()));
        assert!(limit.check(a, t0 + Duration::from_millis(1_200)).is_err());
        // A caller in another slot has its own budget.
        let h = |x: IpAddr| (limit.hasher.hash_one(x) % SLOTS as u64) as usize;
        let other = (0..=255u8)
            .map(|i| IpAddr::from([198, 51, 100, i]))
            .find(|c| h(*c) != h(a))
            .unwrap();
        for _ in 0..3 {
            assert_eq!(limit.check(other, t0), Ok(()));
        }
        assert!(limit.check(other, t0).is_err());
    }

    #[test]
    fn callers_sharing_a_slot_share_a_budget_until_the_owner_is_idle() {
        let limit = RateLimiter::new(60, 2);
        let h = |x: IpAddr| (limit.hasher.hash_one(x) % SLOTS as u64) as usize;
        let a = ip("203.0.113.1");
        let mut n = 0u32;
        let b = loop {
            let c = IpAddr::from(n.to_be_bytes());
            if c != a && h(c) == h(a) {
                break c;
            }
            n += 1;
        };
        let t0 = Instant::now();
        assert_eq!(limit.check(a, t0), Ok(()));
        assert_eq!(limit.check(b, t0), Ok(()));
        assert!(limit.check(a, t0).is_err(), "a and b share one bucket of 2");
        // Once the bucket has refilled, b has the whole budget again.
        let t1 = t0 + Duration::from_secs(3);
        assert_eq!(limit.check(b, t1), Ok(()));
        assert_eq!(limit.check(b, t1), Ok(()));
        assert!(limit.check(b, t1).is_err());
        // The table never grows.
        assert_eq!(
            limit.slots.lock().unwrap_or_else(|e| e.into_inner()).len(),
            SLOTS
        );
    }
}
