//! The `kafka` input: records from Kafka topics through a consumer group (librdkafka).
//!
//! * **Framing**: as NATS — a message's payload is split into lines, one record per non-empty
//!   line, in the input's `format` (JSON by default). Origin: source = `TOPIC/PARTITION`,
//!   index = the message's offset; a message holding several lines gives them source
//!   `TOPIC/PARTITION#OFFSET` and index = the line's position ([`super::frame_message`]), so an
//!   event keeps its id when the message is delivered again.
//! * **At-least-once**: `enable.auto.commit=true` with `enable.auto.offset.store=false`, the
//!   pattern librdkafka recommends. All of a message's records share one
//!   [`Ack`](crate::flow::ack::Ack); per partition an
//!   [`OrderedCommits`](crate::flow::ack::OrderedCommits) turns the completions into the
//!   offset below which every message is finished (verdicts delivered by every sink, no match, or dead-lettered), and
//!   only that offset is stored, so the background commit never covers an unfinished message.
//!   A message that fails ([`Outcome::Failed`](crate::flow::ack::Outcome::Failed): a stage
//!   stopped, a sink closed) rewinds its partition to the commit point (a seek), so it is read again.
//! * **Backpressure**: besides the bounded pipeline channel, at most `max_in_flight` messages
//!   may be unfinished; beyond that every assigned partition is paused (librdkafka stops
//!   fetching, so nothing piles up in its queues) and resumed once half of them finished. The
//!   consumer keeps polling while paused, so it stays in its group.
//! * **Rebalances**: when partitions are revoked their in-flight tracking is forgotten (the
//!   offsets of unfinished messages were never stored, so the new owner reads them again; the
//!   late completions are ignored). Newly assigned partitions start fresh at their committed
//!   offset (or `auto_offset_reset`).
//! * **Lag**: librdkafka statistics (`statistics_interval_ms`) feed
//!   `nightwatch_kafka_consumer_lag_messages{input}`, summed over the owned partitions.
//!
//! The table and its checks ([`config`]) are compiled in every build, so a configuration parses
//! and is checked the same way; the consumer only with the `kafka` feature (without it the
//! table is refused by validation).

mod config;
#[cfg(feature = "kafka")]
mod consumer;

use std::sync::Arc;

pub use config::KafkaInputConfig;
#[cfg(feature = "kafka")]
pub use consumer::{KafkaInputError, KafkaReport, KafkaSettings, run};

/// Starts a `kafka` input; the daemon waits for it after the drain (it stores the offsets of
/// the last finished messages then).
#[cfg(feature = "kafka")]
pub fn start(name: Arc<str>, cfg: &KafkaInputConfig, w: &super::Wiring) -> super::Started {
    let settings = KafkaSettings::from_config(cfg, w.channel_capacity);
    let w = w.clone();
    Ok(Some(tokio::spawn(async move {
        match run(name.clone(), settings, w.raw, w.stop, w.metrics).await {
            Ok(r) => {
                tracing::info!(input = %name, messages = r.messages, records = r.records, offsets_stored = r.stored, rewound = r.rewound, pauses = r.pauses, "kafka input stopped")
            }
            Err(e) => tracing::error!(input = %name, error = %e, "kafka input failed"),
        }
    })))
}

/// Without the `kafka` feature validation refuses the table first; a caller that skipped it
/// fails here.
#[cfg(not(feature = "kafka"))]
pub fn start(name: Arc<str>, _cfg: &KafkaInputConfig, _w: &super::Wiring) -> super::Started {
    Err(crate::base::Problem::new(
        format!("inputs.{name}"),
        crate::features::missing(crate::features::Feature::Kafka),
    )
    .into())
}
