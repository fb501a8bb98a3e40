//! Rate-limited logging of events a peer can trigger in a flood (refused connections, closed
//! connections, dropped datagrams): at most one log line per interval, carrying how many
//! events it stands for. The metrics count every event; the log only says that it happens.

use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use prometheus::IntCounter;

/// How often a flooded event may be logged.
pub const LOG_INTERVAL: Duration = Duration::from_secs(10);

/// Counts events between log lines.
#[derive(Debug)]
pub struct LogThrottle {
    interval: Duration,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    /// When the last line was allowed.
    last: Option<Instant>,
    /// Events since then.
    pending: u64,
}

impl Default for LogThrottle {
    fn default() -> Self {
        Self::new(LOG_INTERVAL)
    }
}

impl LogThrottle {
    pub fn new(interval: Duration) -> Self {
        LogThrottle {
            interval,
            state: Mutex::default(),
        }
    }

    /// Records `n` events at `now`; `Some(count)` when a line may be logged now, `count` being
    /// the events since the previous line (these included).
    pub fn hit(&self, now: Instant, n: u64) -> Option<u64> {
        let mut s = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        s.pending = s.pending.saturating_add(n);
        self.take(&mut s, now)
    }

    /// `Some(count)` when events are pending and the interval since the last line has passed:
    /// called periodically so the last events of a burst are logged too.
    pub fn flush(&self, now: Instant) -> Option<u64> {
        let mut s = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        self.take(&mut s, now)
    }

    fn take(&self, s: &mut State, now: Instant) -> Option<u64> {
        let due = s
            .last
            .is_none_or(|last| now.saturating_duration_since(last) >= self.interval);
        if s.pending == 0 || !due {
            return None;
        }
        s.last = Some(now);
        Some(std::mem::take(&mut s.pending))
    }
}

/// A counter whose increments are also logged, throttled.
#[derive(Debug)]
pub struct Flood {
    pub counter: IntCounter,
    log: LogThrottle,
}

impl Flood {
    pub fn new(counter: IntCounter) -> Self {
        Flood {
            counter,
            log: LogThrottle::default(),
        }
    }

    /// Counts `n` events; `Some(count)` when a line reporting `count` events may be logged.
    pub fn add(&self, n: u64) -> Option<u64> {
        self.counter.inc_by(n);
        self.log.hit(Instant::now(), n)
    }

    /// `Some(count)` of events not logged yet, once the interval has passed.
    pub fn flush(&self) -> Option<u64> {
        self.log.flush(Instant::now())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_per_interval_with_the_count() {
        let t = LogThrottle::new(Duration::from_secs(10));
        let t0 = Instant::now();
        let at = |s: u64| t0 + Duration::from_secs(s);
        assert_eq!(t.flush(at(0)), None, "nothing happened");
        assert_eq!(
            t.hit(at(0), 1),
            Some(1),
            "the first event is logged at once"
        );
        for s in 1..10 {
            assert_eq!(t.hit(at(s), 1), None);
        }
        assert_eq!(t.flush(at(9)), None, "interval not over");
        assert_eq!(t.hit(at(10), 1), Some(10), "9 held back and this one");
        assert_eq!(t.hit(at(12), 5), None);
        assert_eq!(
            t.flush(at(20)),
            Some(5),
            "the tail of a burst is logged by flush"
        );
        assert_eq!(t.flush(at(40)), None);
        assert_eq!(t.hit(at(41), 1), Some(1));
    }
}
