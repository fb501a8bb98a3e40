//! Series of the message brokers: NATS inputs and outputs (`nightwatch_nats_*`), Kafka inputs
//! and outputs (`nightwatch_kafka_*`) and history replication over Kafka
//! (`nightwatch_cluster_*`). Their fixed label values are the constants of [`nats`] and
//! [`kafka`].

use prometheus::{IntCounter, IntCounterVec, IntGaugeVec, Registry};

use super::{counter, counter_vec, gauge_vec};

/// Label values of the NATS series.
pub mod nats {
    /// `mode` of `nightwatch_nats_messages_total` and `nightwatch_nats_published_total`.
    pub mod mode {
        pub const CORE: &str = "core";
        pub const JETSTREAM: &str = "jetstream";
        pub const ALL: &[&str] = &[CORE, JETSTREAM];
    }
    /// `kind` of `nightwatch_nats_acks_total`.
    pub mod ack {
        pub const ACK: &str = "ack";
        pub const NAK: &str = "nak";
        pub const ALL: &[&str] = &[ACK, NAK];
    }
    /// `kind` of `nightwatch_nats_errors_total`.
    pub mod error {
        pub const BIND: &str = "bind";
        pub const CONSUME: &str = "consume";
        pub const ACK: &str = "ack";
        pub const PUBLISH: &str = "publish";
        pub const ALL: &[&str] = &[BIND, CONSUME, ACK, PUBLISH];
    }
    /// `event` of `nightwatch_nats_connection_events_total`.
    pub const EVENTS: &[&str] = &["connected", "disconnected", "slow_consumer", "error"];
}

/// Label values of the Kafka and cluster series.
pub mod kafka {
    /// `kind` of `nightwatch_kafka_errors_total`.
    pub mod error {
        pub const CONSUME: &str = "consume";
        pub const STORE: &str = "store";
        pub const PRODUCE: &str = "produce";
        pub const CLIENT: &str = "client";
        pub const ALL: &[&str] = &[CONSUME, STORE, PRODUCE, CLIENT];
    }
    /// `event` of `nightwatch_kafka_consumer_events_total`, created per input when it starts.
    pub mod event {
        pub const ASSIGNED: &str = "assigned";
        pub const REVOKED: &str = "revoked";
        pub const PAUSED: &str = "paused";
        pub const RESUMED: &str = "resumed";
        pub const REWOUND: &str = "rewound";
        pub const ALL: &[&str] = &[ASSIGNED, REVOKED, PAUSED, RESUMED, REWOUND];
    }
    /// `result` of `nightwatch_cluster_verdicts_total`.
    pub mod cluster {
        pub const RECORDED: &str = "recorded";
        pub const OWN: &str = "own";
        pub const STALE: &str = "stale";
        pub const INVALID: &str = "invalid";
        pub const FAILED: &str = "failed";
        pub const ALL: &[&str] = &[RECORDED, OWN, STALE, INVALID, FAILED];
    }
}

/// NATS inputs and outputs.
pub struct NatsMetrics {
    /// Messages NATS inputs received, by mode ([`nats::mode`]).
    pub messages: IntCounterVec,
    /// JetStream messages received that had been delivered before (a redelivery).
    pub redelivered: IntCounter,
    /// Acknowledgements NATS inputs sent to JetStream, by kind ([`nats::ack`]).
    pub acks: IntCounterVec,
    /// Verdicts NATS outputs published, by mode (`core`: flushed; `jetstream`: broker-acked).
    pub published: IntCounterVec,
    /// JetStream publishes the broker reported as duplicates (absorbed by `Nats-Msg-Id`).
    pub publish_duplicates: IntCounter,
    /// NATS failures, by kind ([`nats::error`]).
    pub errors: IntCounterVec,
    /// NATS client connection events, by event (`connected`, `disconnected`,
    /// `slow_consumer`, `error`).
    pub connection_events: IntCounterVec,
}

impl NatsMetrics {
    pub(super) fn new(registry: &Registry) -> Result<Self, prometheus::Error> {
        let m = Self {
            messages: counter_vec(
                registry,
                "nightwatch_nats_messages_total",
                "Messages NATS inputs received, by mode.",
                &["mode"],
            )?,
            redelivered: counter(
                registry,
                "nightwatch_nats_redelivered_total",
                "JetStream messages received that had been delivered before.",
            )?,
            acks: counter_vec(
                registry,
                "nightwatch_nats_acks_total",
                "Acknowledgements NATS inputs sent to JetStream, by kind.",
                &["kind"],
            )?,
            published: counter_vec(
                registry,
                "nightwatch_nats_published_total",
                "Verdicts NATS outputs published (core: flushed; jetstream: acked by the broker).",
                &["mode"],
            )?,
            publish_duplicates: counter(
                registry,
                "nightwatch_nats_publish_duplicates_total",
                "JetStream verdict publishes the broker reported as duplicates.",
            )?,
            errors: counter_vec(
                registry,
                "nightwatch_nats_errors_total",
                "NATS failures, by kind.",
                &["kind"],
            )?,
            connection_events: counter_vec(
                registry,
                "nightwatch_nats_connection_events_total",
                "NATS client connection events, by event.",
                &["event"],
            )?,
        };
        for mode in nats::mode::ALL {
            m.messages.with_label_values(&[mode]);
            m.published.with_label_values(&[mode]);
        }
        for kind in nats::ack::ALL {
            m.acks.with_label_values(&[kind]);
        }
        for kind in nats::error::ALL {
            m.errors.with_label_values(&[kind]);
        }
        for event in nats::EVENTS {
            m.connection_events.with_label_values(&[event]);
        }
        Ok(m)
    }
}

/// Kafka inputs and outputs, and history replication from the verdict topic.
pub struct KafkaMetrics {
    /// Messages Kafka inputs received, by input.
    pub messages: IntCounterVec,
    /// Messages behind, summed over the partitions an input owns (from librdkafka statistics).
    pub consumer_lag: IntGaugeVec,
    /// Kafka consumer events, by input and event ([`kafka::event`]).
    pub consumer_events: IntCounterVec,
    /// Kafka failures, by kind ([`kafka::error`]).
    pub errors: IntCounterVec,
    /// Verdicts read from the verdict topic by history replication, by result
    /// ([`kafka::cluster`]).
    pub cluster_verdicts: IntCounterVec,
}

impl KafkaMetrics {
    pub(super) fn new(registry: &Registry) -> Result<Self, prometheus::Error> {
        let m = Self {
            messages: counter_vec(
                registry,
                "nightwatch_kafka_messages_total",
                "Messages Kafka inputs received, by input.",
                &["input"],
            )?,
            consumer_lag: gauge_vec(
                registry,
                "nightwatch_kafka_consumer_lag_messages",
                "Messages behind the high watermark, summed over the partitions a Kafka input owns.",
                &["input"],
            )?,
            consumer_events: counter_vec(
                registry,
                "nightwatch_kafka_consumer_events_total",
                "Kafka consumer events (assigned, revoked, paused, resumed, rewound), by input.",
                &["input", "event"],
            )?,
            errors: counter_vec(
                registry,
                "nightwatch_kafka_errors_total",
                "Kafka failures, by kind.",
                &["kind"],
            )?,
            cluster_verdicts: counter_vec(
                registry,
                "nightwatch_cluster_verdicts_total",
                "Verdicts read from the verdict topic by history replication, by result (recorded, own, stale, invalid, failed).",
                &["result"],
            )?,
        };
        for r in kafka::cluster::ALL {
            m.cluster_verdicts.with_label_values(&[r]);
        }
        for kind in kafka::error::ALL {
            m.errors.with_label_values(&[kind]);
        }
        Ok(m)
    }

    /// Creates the series of one Kafka input (every event at 0).
    pub fn register_input(&self, input: &str) {
        self.messages.with_label_values(&[input]);
        self.consumer_lag.with_label_values(&[input]);
        for event in kafka::event::ALL {
            self.consumer_events.with_label_values(&[input, event]);
        }
    }
}
