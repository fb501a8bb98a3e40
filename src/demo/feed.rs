//! The live feed of `nightwatch run --demo`: the intrusion scenario round after round, a new
//! seed per round, event times rebased to now, sent into the pipeline at the configured pace.
//! Unlike the generator beside it, this reads the clock.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use tokio_util::sync::CancellationToken;

use crate::config::DemoConfig;
use crate::demo;
use crate::event::Origin;
use crate::flow::ack::Ack;
use crate::flow::channel::Sender;
use crate::normalize::{Payload, RawRecord};

/// Feeds the demo scenario round after round at the configured pace, event times rebased to
/// now. Blocking: generation is CPU work and the pace is kept with short sleeps.
pub fn run(cfg: DemoConfig, raw: Sender<RawRecord>, stop: CancellationToken) {
    let input: Arc<str> = Arc::from("demo");
    // Send in small batches every 50 ms to keep the pace smooth without a timer per event.
    const TICK: Duration = Duration::from_millis(50);
    let per_tick = (cfg.events_per_second as f64 * TICK.as_secs_f64()).max(1.0);
    let mut budget = 0.0f64;
    let mut next_tick = std::time::Instant::now();
    for round in 0u64.. {
        let scenario = demo::ScenarioConfig {
            seed: cfg.seed.wrapping_add(round),
            events: cfg.events_per_round,
            benign_ratio: cfg.benign_ratio,
            start: Utc::now(),
        };
        let source: Arc<str> = Arc::from(format!("demo/round-{round}"));
        for (index, value) in demo::stream(demo::Scenario::Intrusion, &scenario).enumerate() {
            while budget < 1.0 {
                if stop.is_cancelled() {
                    return;
                }
                let now = std::time::Instant::now();
                if next_tick > now {
                    std::thread::sleep(next_tick - now);
                }
                next_tick += TICK;
                budget += per_tick;
            }
            budget -= 1.0;
            let record = RawRecord {
                origin: Origin {
                    input: input.clone(),
                    source: source.clone(),
                    index: index as u64,
                },
                received: Utc::now(),
                payload: Payload::Json(value),
                ack: Ack::none(),
            };
            if stop.is_cancelled() || raw.send_blocking(record).is_err() {
                return;
            }
        }
    }
}
