//! Prometheus metrics: every series the daemon exports, defined in one place.
//!
//! Names follow `nightwatch_<what>_<unit>[_total]`; labels are bounded (stage, channel,
//! format, level, conclusion, severity, reason — never rule ids, hosts or paths). A [`Metrics`]
//! owns its own registry so tests can build as many independent pipelines as they like.
//!
//! The series are grouped per stage or component, each group a struct whose `new` creates,
//! registers and pre-creates (at 0) its series: the pipeline's in `pipeline.rs`, inputs, sinks
//! and the API in `io.rs`, NATS and Kafka in `brokers.rs`, threat intel and the LLM in
//! `enrich.rs`. Fixed label values are constants next to their family (e.g.
//! [`nats::ack::NAK`]), used by both the up-front registration and the call sites.

mod brokers;
mod enrich;
mod io;
mod pipeline;

pub use brokers::{KafkaMetrics, NatsMetrics, kafka, nats};
pub use enrich::{IntelMetrics, LlmMetrics, intel, llm};
pub use io::{ApiMetrics, InputMetrics, SinkMetrics, api, input, sink};
pub use pipeline::{
    CaseMetrics, ChannelMetrics, DetectMetrics, HistoryMetrics, StageMetrics, history_compacted,
    output_error, stage_drop,
};

use prometheus::core::Collector;
use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge,
    IntGaugeVec, Opts, Registry, TextEncoder,
};

/// Every metric of the daemon, grouped per stage or component.
pub struct Metrics {
    registry: Registry,
    /// Per-stage throughput, errors, drops and processing time (`nightwatch_stage_*`).
    pub stages: StageMetrics,
    /// Depth and capacity of the channels between stages (`nightwatch_channel_*`).
    pub channels: ChannelMetrics,
    /// Parsing, rule and correlation matching.
    pub detect: DetectMetrics,
    /// Open cases, verdicts and end-to-end latency.
    pub cases: CaseMetrics,
    /// WebSocket clients and refused API requests.
    pub api: ApiMetrics,
    /// Streaming and listening inputs (`nightwatch_input_*`).
    pub input: InputMetrics,
    /// Verdict sinks and dead letters.
    pub sink: SinkMetrics,
    /// NATS inputs and outputs (`nightwatch_nats_*`).
    pub nats: NatsMetrics,
    /// Kafka inputs, outputs and history replication (`nightwatch_kafka_*`,
    /// `nightwatch_cluster_*`).
    pub kafka: KafkaMetrics,
    /// Threat-intel extraction, feeds and providers.
    pub intel: IntelMetrics,
    /// The LLM summary worker (`nightwatch_llm_*`).
    pub llm: LlmMetrics,
    /// The case history store (`nightwatch_history_*`).
    pub history: HistoryMetrics,
}

/// Stage names used as the `stage` label.
pub mod stage {
    pub const PARSE: &str = "parse";
    pub const DETECT: &str = "detect";
    pub const CORRELATE: &str = "correlate";
    pub const CASES: &str = "cases";
    pub const OUTPUT: &str = "output";
    pub const ALL: &[&str] = &[PARSE, DETECT, CORRELATE, CASES, OUTPUT];
}

/// Label values shared by several groups, registered up front so each series exists (at 0)
/// from start-up: dashboards show zero instead of "no data", and rate() works from the first
/// scrape. Values of one family live next to it (see the modules re-exported above).
mod labels {
    pub const LEVELS: &[&str] = &["informational", "low", "medium", "high", "critical"];
    pub const CONCLUSIONS: &[&str] = &["incident", "suspicious", "benign", "needs_review"];
}

const LATENCY_BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
];
const DELIVERY_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0,
];
const LLM_BUCKETS: &[f64] = &[0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0];
const END_TO_END_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];

/// Registers `c` with `registry` and hands it back.
fn register<C: Collector + Clone + 'static>(
    registry: &Registry,
    c: C,
) -> Result<C, prometheus::Error> {
    registry.register(Box::new(c.clone()))?;
    Ok(c)
}

fn counter(registry: &Registry, name: &str, help: &str) -> Result<IntCounter, prometheus::Error> {
    register(registry, IntCounter::new(name, help)?)
}

fn counter_vec(
    registry: &Registry,
    name: &str,
    help: &str,
    labels: &[&str],
) -> Result<IntCounterVec, prometheus::Error> {
    register(registry, IntCounterVec::new(Opts::new(name, help), labels)?)
}

fn gauge(registry: &Registry, name: &str, help: &str) -> Result<IntGauge, prometheus::Error> {
    register(registry, IntGauge::new(name, help)?)
}

fn gauge_vec(
    registry: &Registry,
    name: &str,
    help: &str,
    labels: &[&str],
) -> Result<IntGaugeVec, prometheus::Error> {
    register(registry, IntGaugeVec::new(Opts::new(name, help), labels)?)
}

fn histogram(
    registry: &Registry,
    name: &str,
    help: &str,
    buckets: &[f64],
) -> Result<Histogram, prometheus::Error> {
    let opts = HistogramOpts::new(name, help).buckets(buckets.to_vec());
    register(registry, Histogram::with_opts(opts)?)
}

fn histogram_vec(
    registry: &Registry,
    name: &str,
    help: &str,
    buckets: &[f64],
    labels: &[&str],
) -> Result<HistogramVec, prometheus::Error> {
    let opts = HistogramOpts::new(name, help).buckets(buckets.to_vec());
    register(registry, HistogramVec::new(opts, labels)?)
}

impl Metrics {
    /// Builds and registers every metric, plus process metrics (CPU, memory, fds) named
    /// `nightwatch_process_*`.
    pub fn new() -> Result<Self, prometheus::Error> {
        let registry = Registry::new();
        #[cfg(target_os = "linux")]
        registry.register(Box::new(
            prometheus::process_collector::ProcessCollector::new(
                std::process::id() as i32,
                "nightwatch",
            ),
        ))?;
        let build_info = gauge_vec(
            &registry,
            "nightwatch_build_info",
            "Build information; value is always 1.",
            &["version"],
        )?;
        build_info
            .with_label_values(&[env!("CARGO_PKG_VERSION")])
            .set(1);
        Ok(Self {
            stages: StageMetrics::new(&registry)?,
            channels: ChannelMetrics::new(&registry)?,
            detect: DetectMetrics::new(&registry)?,
            cases: CaseMetrics::new(&registry)?,
            api: ApiMetrics::new(&registry)?,
            input: InputMetrics::new(&registry)?,
            sink: SinkMetrics::new(&registry)?,
            nats: NatsMetrics::new(&registry)?,
            kafka: KafkaMetrics::new(&registry)?,
            intel: IntelMetrics::new(&registry)?,
            llm: LlmMetrics::new(&registry)?,
            history: HistoryMetrics::new(&registry)?,
            registry,
        })
    }

    /// Creates at 0 the series labelled by values that belong to higher floors (the parser
    /// formats, the indicator kinds), so that they exist from start-up; the daemon passes
    /// `normalize::Format` and `intel::IndicatorKind` names.
    pub fn register_labels(&self, formats: &[&str], indicator_kinds: &[&str]) {
        for f in formats {
            self.stages.errors.with_label_values(&[stage::PARSE, f]);
            self.detect.events_parsed.with_label_values(&[f]);
            self.detect.parse_errors.with_label_values(&[f]);
        }
        for k in indicator_kinds {
            self.intel.extracted.with_label_values(&[k]);
        }
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let mut buf = Vec::new();
        if let Err(e) = TextEncoder::new().encode(&self.registry.gather(), &mut buf) {
            tracing::warn!(error = %e, "metrics encoding failed");
        }
        String::from_utf8_lossy(&buf).into_owned()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests;
