//! Series of the pipeline itself: stages, the channels between them, parsing and detection,
//! cases and the case history.

use prometheus::{
    Histogram, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Registry,
};

use super::{
    END_TO_END_BUCKETS, LATENCY_BUCKETS, counter, counter_vec, gauge, gauge_vec, histogram,
    histogram_vec, labels, stage,
};

/// `reason` values of `nightwatch_stage_dropped_total`.
pub mod stage_drop {
    /// Detect: an event no rule matched.
    pub const NO_MATCH: &str = "no_match";
    /// Correlate: a match of a correlation-only rule (it feeds correlations, not cases).
    pub const CORRELATION_ONLY: &str = "correlation_only";
    /// Every (stage, reason) pair, created at 0.
    pub const ALL: &[(&str, &str)] = &[
        (super::stage::DETECT, NO_MATCH),
        (super::stage::CORRELATE, CORRELATION_ONLY),
    ];
}

/// `kind` values of `nightwatch_stage_errors_total{stage="output"}`.
pub mod output_error {
    pub const SERIALIZE: &str = "serialize";
    pub const SINK_CLOSED: &str = "sink_closed";
    pub const ALL: &[&str] = &[SERIALIZE, SINK_CLOSED];
}

/// Per-stage series (`nightwatch_stage_*`), labelled by [`stage`].
pub struct StageMetrics {
    /// Items a stage took from its input channel.
    pub received: IntCounterVec,
    /// Items a stage passed downstream.
    pub sent: IntCounterVec,
    /// Items a stage failed on, by kind.
    pub errors: IntCounterVec,
    /// Items a stage dropped on purpose, by reason ([`stage_drop`]).
    pub dropped: IntCounterVec,
    /// Time a stage spent on one item.
    pub processing: HistogramVec,
}

impl StageMetrics {
    pub(super) fn new(registry: &Registry) -> Result<Self, prometheus::Error> {
        let m = Self {
            received: counter_vec(
                registry,
                "nightwatch_stage_received_total",
                "Items a stage took from its input.",
                &["stage"],
            )?,
            sent: counter_vec(
                registry,
                "nightwatch_stage_sent_total",
                "Items a stage passed downstream.",
                &["stage"],
            )?,
            errors: counter_vec(
                registry,
                "nightwatch_stage_errors_total",
                "Items a stage failed on, by kind.",
                &["stage", "kind"],
            )?,
            dropped: counter_vec(
                registry,
                "nightwatch_stage_dropped_total",
                "Items a stage dropped on purpose, by reason.",
                &["stage", "reason"],
            )?,
            processing: histogram_vec(
                registry,
                "nightwatch_stage_processing_seconds",
                "Time a stage spent on one item.",
                LATENCY_BUCKETS,
                &["stage"],
            )?,
        };
        for s in stage::ALL {
            m.received.with_label_values(&[s]);
            m.sent.with_label_values(&[s]);
            m.processing.with_label_values(&[s]);
        }
        for (s, reason) in stage_drop::ALL {
            m.dropped.with_label_values(&[s, reason]);
        }
        for kind in output_error::ALL {
            m.errors.with_label_values(&[stage::OUTPUT, kind]);
        }
        Ok(m)
    }
}

/// Channels between stages (`nightwatch_channel_*`), by `channel` name.
pub struct ChannelMetrics {
    /// Items waiting in a channel.
    pub depth: IntGaugeVec,
    /// Capacity of a channel (for saturation = depth / capacity).
    pub capacity: IntGaugeVec,
}

impl ChannelMetrics {
    pub(super) fn new(registry: &Registry) -> Result<Self, prometheus::Error> {
        Ok(Self {
            depth: gauge_vec(
                registry,
                "nightwatch_channel_depth",
                "Items waiting in a channel between stages.",
                &["channel"],
            )?,
            capacity: gauge_vec(
                registry,
                "nightwatch_channel_capacity",
                "Capacity of a channel between stages.",
                &["channel"],
            )?,
        })
    }
}

/// Parsing and detection: events, parse errors, rule and correlation matches, loaded rules.
pub struct DetectMetrics {
    /// Events produced by a parser, by format.
    pub events_parsed: IntCounterVec,
    /// Records a parser rejected, by format.
    pub parse_errors: IntCounterVec,
    /// Single-event rule matches, by rule level.
    pub rule_matches: IntCounterVec,
    /// Correlation rule matches, by rule level.
    pub correlation_matches: IntCounterVec,
    /// Rules compiled and active.
    pub rules_loaded: IntGauge,
    /// Rules skipped at load because they could not be compiled.
    pub rules_rejected: IntCounter,
}

impl DetectMetrics {
    pub(super) fn new(registry: &Registry) -> Result<Self, prometheus::Error> {
        let m = Self {
            events_parsed: counter_vec(
                registry,
                "nightwatch_events_parsed_total",
                "Events produced by a parser.",
                &["format"],
            )?,
            parse_errors: counter_vec(
                registry,
                "nightwatch_parse_errors_total",
                "Records a parser rejected.",
                &["format"],
            )?,
            rule_matches: counter_vec(
                registry,
                "nightwatch_rule_matches_total",
                "Single-event rule matches, by rule level.",
                &["level"],
            )?,
            correlation_matches: counter_vec(
                registry,
                "nightwatch_correlation_matches_total",
                "Correlation rule matches, by rule level.",
                &["level"],
            )?,
            rules_loaded: gauge(
                registry,
                "nightwatch_rules_loaded",
                "Rules compiled and active.",
            )?,
            rules_rejected: counter(
                registry,
                "nightwatch_rules_rejected_total",
                "Rules skipped at load because they could not be compiled.",
            )?,
        };
        for l in labels::LEVELS {
            m.rule_matches.with_label_values(&[l]);
            m.correlation_matches.with_label_values(&[l]);
        }
        Ok(m)
    }
}

/// Cases and verdicts.
pub struct CaseMetrics {
    /// Cases currently open.
    pub open: IntGauge,
    /// Verdict versions published, by conclusion and severity.
    pub verdicts: IntCounterVec,
    /// Event time of ingest (receive) to verdict publication.
    pub ingest_to_verdict: Histogram,
}

impl CaseMetrics {
    pub(super) fn new(registry: &Registry) -> Result<Self, prometheus::Error> {
        let m = Self {
            open: gauge(registry, "nightwatch_cases_open", "Cases currently open.")?,
            verdicts: counter_vec(
                registry,
                "nightwatch_verdicts_total",
                "Verdict versions published, by conclusion and severity.",
                &["conclusion", "severity"],
            )?,
            ingest_to_verdict: histogram(
                registry,
                "nightwatch_ingest_to_verdict_seconds",
                "Time from receiving a record to publishing the verdict it contributed to.",
                END_TO_END_BUCKETS,
            )?,
        };
        for c in labels::CONCLUSIONS {
            for sev in labels::LEVELS {
                m.verdicts.with_label_values(&[c, sev]);
            }
        }
        Ok(m)
    }
}

/// `reason` values of `nightwatch_history_compacted_total`.
pub mod history_compacted {
    pub const AGE: &str = "age";
    pub const SIZE: &str = "size";
    pub const COUNT: &str = "count";
    pub const ALL: &[&str] = &[AGE, SIZE, COUNT];
}

/// Case history (`nightwatch_history_*`).
pub struct HistoryMetrics {
    /// Size of the embedded store on disk (sled `size_on_disk`, all trees).
    pub store_bytes: IntGauge,
    /// Bytes of keys and values in the history's own trees (what `[history] max_bytes` caps).
    pub data_bytes: IntGauge,
    /// Cases stored.
    pub cases: IntGauge,
    /// Cases removed by compaction, by reason ([`history_compacted`]).
    pub compacted: IntCounterVec,
    /// Compactions (or history measurements) that failed.
    pub errors: IntCounter,
}

impl HistoryMetrics {
    pub(super) fn new(registry: &Registry) -> Result<Self, prometheus::Error> {
        let m = Self {
            store_bytes: gauge(
                registry,
                "nightwatch_history_store_bytes",
                "Size of the embedded store on disk (all trees), as of the last history compaction.",
            )?,
            data_bytes: gauge(
                registry,
                "nightwatch_history_data_bytes",
                "Bytes of keys and values in the case history's trees (what history.max_bytes caps).",
            )?,
            cases: gauge(
                registry,
                "nightwatch_history_cases",
                "Cases in the case history.",
            )?,
            compacted: counter_vec(
                registry,
                "nightwatch_history_compacted_total",
                "Cases removed from the history by compaction, by reason (age, size, count).",
                &["reason"],
            )?,
            errors: counter(
                registry,
                "nightwatch_history_errors_total",
                "History operations that failed: compactions, measurements, and the case builder's lookups and writes (the case continues without them).",
            )?,
        };
        for r in history_compacted::ALL {
            m.compacted.with_label_values(&[r]);
        }
        Ok(m)
    }
}
