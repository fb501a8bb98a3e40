//! Prometheus metrics: every series the daemon exports, defined in one place.
//!
//! Names follow `nightwatch_<what>_<unit>[_total]`; labels are bounded (stage, channel,
//! format, level, conclusion, severity, reason — never rule ids, hosts or paths). A [`Metrics`]
//! owns its own registry so tests can build as many independent pipelines as they like.

use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge,
    IntGaugeVec, Opts, Registry, TextEncoder,
};

/// Every metric of the daemon.
pub struct Metrics {
    registry: Registry,
    /// Items a stage took from its input channel.
    pub stage_received: IntCounterVec,
    /// Items a stage passed downstream.
    pub stage_sent: IntCounterVec,
    /// Items a stage failed on, by kind.
    pub stage_errors: IntCounterVec,
    /// Items a stage dropped on purpose, by reason.
    pub stage_dropped: IntCounterVec,
    /// Time a stage spent on one item.
    pub stage_processing: HistogramVec,
    /// Items waiting in a channel.
    pub channel_depth: IntGaugeVec,
    /// Capacity of a channel (for saturation = depth / capacity).
    pub channel_capacity: IntGaugeVec,
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
    /// Cases currently open.
    pub cases_open: IntGauge,
    /// Verdict versions published, by conclusion and severity.
    pub verdicts: IntCounterVec,
    /// Event time of ingest (receive) to verdict publication.
    pub ingest_to_verdict: Histogram,
    /// Connected WebSocket clients.
    pub ws_clients: IntGauge,
    /// WebSocket clients disconnected by the server, by reason.
    pub ws_disconnects: IntCounterVec,
    /// WebSocket clients that asked to resume (`/ws?after=`), by result (`replayed`, `gap`).
    pub ws_resumes: IntCounterVec,
    /// API requests refused before reaching a handler, by reason (host, origin, unauthorized,
    /// content_type, rate_limited).
    pub api_refused: IntCounterVec,
    /// Records written to the dead-letter output.
    pub dead_letters: IntCounterVec,
    /// Records an input framed and sent, by input name (names come from the configuration).
    pub input_records: IntCounterVec,
    /// Records an input dropped before the pipeline, by input and reason.
    pub input_dropped: IntCounterVec,
    /// Records a line-framed input (file, tail, stdin) cut to its size cap and sent on marked,
    /// by input.
    pub input_truncated: IntCounterVec,
    /// Open connections of a listening input.
    pub input_connections: IntGaugeVec,
    /// TLS handshakes a listening input refused, by input and reason (`not_tls`,
    /// `no_client_certificate`, `bad_certificate`, `alert`, `timeout`, `closed`, `other`).
    pub input_tls_handshake_failures: IntCounterVec,
    /// Connections a listening input refused at accept, by input and reason (`total`,
    /// `per_peer`: which connection limit was reached).
    pub input_connections_refused: IntCounterVec,
    /// Connections a listening input closed from its side, by input and reason
    /// (`idle_timeout`, `length_over_cap`, `bad_length`).
    pub input_connections_closed: IntCounterVec,
    /// Verdict deliveries by sink, by result (`ok`, `retry`, `failed`).
    pub sink_deliveries: IntCounterVec,
    /// Time from a webhook's first attempt at a verdict to its outcome (retries included).
    pub sink_delivery: HistogramVec,
    /// Messages NATS inputs received, by mode (`core`, `jetstream`).
    pub nats_messages: IntCounterVec,
    /// JetStream messages received that had been delivered before (a redelivery).
    pub nats_redelivered: IntCounter,
    /// Acknowledgements NATS inputs sent to JetStream, by kind (`ack`, `nak`).
    pub nats_acks: IntCounterVec,
    /// Verdicts NATS outputs published, by mode (`core`: flushed; `jetstream`: broker-acked).
    pub nats_published: IntCounterVec,
    /// JetStream publishes the broker reported as duplicates (absorbed by `Nats-Msg-Id`).
    pub nats_publish_duplicates: IntCounter,
    /// NATS failures, by kind (`bind`, `consume`, `ack`, `publish`).
    pub nats_errors: IntCounterVec,
    /// NATS client connection events, by event (`connected`, `disconnected`,
    /// `slow_consumer`, `error`).
    pub nats_connection_events: IntCounterVec,
    /// Messages Kafka inputs received, by input.
    pub kafka_messages: IntCounterVec,
    /// Messages behind, summed over the partitions an input owns (from librdkafka statistics).
    pub kafka_consumer_lag: IntGaugeVec,
    /// Kafka consumer events, by input and event (`assigned`, `revoked`, `paused`, `resumed`,
    /// `rewound`).
    pub kafka_consumer_events: IntCounterVec,
    /// Kafka failures, by kind (`consume`, `store`, `produce`, `client`).
    pub kafka_errors: IntCounterVec,
    /// Verdicts read from the verdict topic by history replication, by result (`recorded`,
    /// `own`, `stale`, `invalid`, `failed`).
    pub cluster_verdicts: IntCounterVec,
    /// Threat-intel extraction, feeds and providers.
    pub intel: IntelMetrics,
    /// LLM summary requests by backend and outcome (`skipped`: a case never sent).
    pub llm_requests: IntCounterVec,
    /// Time of one LLM request, by backend.
    pub llm_request_duration: HistogramVec,
    /// Tokens the LLM provider reported, by backend and kind (`prompt`, `completion`).
    pub llm_tokens: IntCounterVec,
    /// Cases waiting for an LLM summary.
    pub llm_queue_depth: IntGauge,
    /// Cases not sent to the LLM, by reason.
    pub llm_skipped: IntCounterVec,
    /// Parts of LLM answers dropped by the guardrails, by what.
    pub llm_guardrail_drops: IntCounterVec,
    /// Summaries served from the cache instead of a request.
    pub llm_cache_hits: IntCounter,
    /// Values redacted before a prompt was sent.
    pub llm_redactions: IntCounter,
    /// 1 while the LLM circuit is open (daily quota or token budget spent).
    pub llm_circuit_open: IntGauge,
    /// Case history: size of the embedded store on disk (sled `size_on_disk`, all trees).
    pub history_store_bytes: IntGauge,
    /// Case history: bytes of keys and values in the history's own trees (what
    /// `[history] max_bytes` caps).
    pub history_data_bytes: IntGauge,
    /// Case history: cases stored.
    pub history_cases: IntGauge,
    /// Cases removed by compaction, by reason (`age`, `size`, `count`).
    pub history_compacted: IntCounterVec,
    /// Compactions (or history measurements) that failed.
    pub history_errors: IntCounter,
}

/// Threat-intel series (`nightwatch_intel_*`). Labels: `provider` (the fixed provider names and
/// `offline_feeds`), `kind` (indicator kinds, error kinds), `feed` (configured feed file
/// stems), `outcome`, `result`, `reason` — all bounded.
pub struct IntelMetrics {
    /// Lookups answered, by provider and outcome (malicious, suspicious, benign, unknown, error).
    pub requests: IntCounterVec,
    /// Failed lookups, by provider and kind (bad_key, rate_limited, unavailable, invalid,
    /// circuit_open, quota, budget).
    pub errors: IntCounterVec,
    /// Time of one provider request (attempt).
    pub latency: HistogramVec,
    /// Cache lookups by provider and result (hit, miss): hit ratio = hit / (hit + miss).
    pub cache: IntCounterVec,
    /// Indicators extracted from events, by kind.
    pub extracted: IntCounterVec,
    /// Indicators that matched at least one offline feed entry.
    pub feed_matches: IntCounter,
    /// Entries per loaded offline feed.
    pub feed_indicators: IntGaugeVec,
    /// Offline feed (re)loads, by result (ok, error).
    pub feed_reloads: IntCounterVec,
    /// Indicators not queued for background enrichment, by reason (queue_full, in_flight, closed).
    pub dropped: IntCounterVec,
    /// 1 while a provider's circuit breaker is open, as of its latest lookup.
    pub circuit_open: IntGaugeVec,
}

impl IntelMetrics {
    fn new(registry: &Registry) -> Result<Self, prometheus::Error> {
        let cv = |name: &str, help: &str, labels: &[&str]| -> Result<_, prometheus::Error> {
            let c = IntCounterVec::new(Opts::new(name, help), labels)?;
            registry.register(Box::new(c.clone()))?;
            Ok(c)
        };
        let latency = HistogramVec::new(
            HistogramOpts::new(
                "nightwatch_intel_request_seconds",
                "Time of one threat-intel provider request.",
            )
            .buckets(DELIVERY_BUCKETS.to_vec()),
            &["provider"],
        )?;
        registry.register(Box::new(latency.clone()))?;
        let feed_indicators = IntGaugeVec::new(
            Opts::new(
                "nightwatch_intel_feed_indicators",
                "Entries per loaded offline feed.",
            ),
            &["feed"],
        )?;
        registry.register(Box::new(feed_indicators.clone()))?;
        let feed_matches = IntCounter::new(
            "nightwatch_intel_feed_matches_total",
            "Indicators that matched at least one offline feed entry.",
        )?;
        registry.register(Box::new(feed_matches.clone()))?;
        let circuit_open = IntGaugeVec::new(
            Opts::new(
                "nightwatch_intel_circuit_open",
                "1 while a threat-intel provider's circuit breaker is open (as of its latest lookup).",
            ),
            &["provider"],
        )?;
        registry.register(Box::new(circuit_open.clone()))?;
        let m = Self {
            requests: cv(
                "nightwatch_intel_requests_total",
                "Threat-intel lookups answered, by provider and outcome.",
                &["provider", "outcome"],
            )?,
            errors: cv(
                "nightwatch_intel_errors_total",
                "Failed threat-intel lookups, by provider and kind.",
                &["provider", "kind"],
            )?,
            latency,
            cache: cv(
                "nightwatch_intel_cache_lookups_total",
                "Threat-intel cache lookups, by provider and result (hit, miss).",
                &["provider", "result"],
            )?,
            extracted: cv(
                "nightwatch_intel_indicators_extracted_total",
                "Indicators extracted from events, by kind.",
                &["kind"],
            )?,
            feed_matches,
            feed_indicators,
            feed_reloads: cv(
                "nightwatch_intel_feed_reloads_total",
                "Offline feed (re)loads, by result.",
                &["result"],
            )?,
            dropped: cv(
                "nightwatch_intel_dropped_total",
                "Indicators not queued for background enrichment, by reason.",
                &["reason"],
            )?,
            circuit_open,
        };
        for k in crate::intel::IndicatorKind::ALL {
            m.extracted.with_label_values(&[k.as_str()]);
        }
        for r in ["ok", "error"] {
            m.feed_reloads.with_label_values(&[r]);
        }
        for r in ["queue_full", "in_flight", "closed"] {
            m.dropped.with_label_values(&[r]);
        }
        Ok(m)
    }

    /// Creates a provider's series at 0 (called when it is configured).
    pub fn register_provider(&self, provider: &str) {
        for o in ["malicious", "suspicious", "benign", "unknown", "error"] {
            self.requests.with_label_values(&[provider, o]);
        }
        for r in ["hit", "miss"] {
            self.cache.with_label_values(&[provider, r]);
        }
        for k in [
            "bad_key",
            "rate_limited",
            "unavailable",
            "invalid",
            "circuit_open",
            "quota",
            "budget",
        ] {
            self.errors.with_label_values(&[provider, k]);
        }
        self.latency.with_label_values(&[provider]);
        self.circuit_open.with_label_values(&[provider]);
    }
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

/// Every value of the bounded labels, registered up front so each series exists (at 0) from
/// start-up: dashboards show zero instead of "no data", and rate() works from the first scrape.
mod labels {
    pub const LEVELS: &[&str] = &["informational", "low", "medium", "high", "critical"];
    pub const CONCLUSIONS: &[&str] = &["incident", "suspicious", "benign", "needs_review"];
    pub const DROPS: &[(&str, &str)] = &[
        (super::stage::DETECT, "no_match"),
        (super::stage::CORRELATE, "correlation_only"),
    ];
    pub const WS_DISCONNECTS: &[&str] = &["lagging", "stalled", "shutdown"];
    pub const OUTPUT_ERRORS: &[&str] = &["serialize", "sink_closed"];
    pub const WS_RESUMES: &[&str] = &["replayed", "gap"];
    /// `nightwatch_api_refused_total` reasons (see `api::guard`).
    pub const API_REFUSED: &[&str] = &[
        "host",
        "origin",
        "unauthorized",
        "content_type",
        "rate_limited",
    ];
    /// `nightwatch_history_compacted_total` reasons.
    pub const HISTORY_COMPACTED: &[&str] = &["age", "size", "count"];
    pub const DEAD_LETTER_STAGES: &[&str] = &["parse", "output"];
    /// `nightwatch_sink_deliveries_total` results, created per sink when it opens.
    pub const SINK_RESULTS: &[&str] = &["ok", "retry", "failed"];
    pub const NATS_MODES: &[&str] = &["core", "jetstream"];
    pub const NATS_ACKS: &[&str] = &["ack", "nak"];
    pub const NATS_ERRORS: &[&str] = &["bind", "consume", "ack", "publish"];
    pub const NATS_EVENTS: &[&str] = &["connected", "disconnected", "slow_consumer", "error"];
    /// `nightwatch_kafka_consumer_events_total` events, created per input when it starts.
    pub const KAFKA_CONSUMER_EVENTS: &[&str] =
        &["assigned", "revoked", "paused", "resumed", "rewound"];
    pub const KAFKA_ERRORS: &[&str] = &["consume", "store", "produce", "client"];
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

impl Metrics {
    /// Builds and registers every metric, plus process metrics (CPU, memory, fds) named
    /// `nightwatch_process_*`.
    pub fn new() -> Result<Self, prometheus::Error> {
        let registry = Registry::new();
        let counter_vec =
            |name: &str, help: &str, labels: &[&str]| -> Result<_, prometheus::Error> {
                let c = IntCounterVec::new(Opts::new(name, help), labels)?;
                registry.register(Box::new(c.clone()))?;
                Ok(c)
            };
        let gauge_vec = |name: &str, help: &str, labels: &[&str]| -> Result<_, prometheus::Error> {
            let g = IntGaugeVec::new(Opts::new(name, help), labels)?;
            registry.register(Box::new(g.clone()))?;
            Ok(g)
        };
        let gauge = |name: &str, help: &str| -> Result<_, prometheus::Error> {
            let g = IntGauge::new(name, help)?;
            registry.register(Box::new(g.clone()))?;
            Ok(g)
        };
        let stage_processing = HistogramVec::new(
            HistogramOpts::new(
                "nightwatch_stage_processing_seconds",
                "Time a stage spent on one item.",
            )
            .buckets(LATENCY_BUCKETS.to_vec()),
            &["stage"],
        )?;
        registry.register(Box::new(stage_processing.clone()))?;
        let ingest_to_verdict = Histogram::with_opts(
            HistogramOpts::new(
                "nightwatch_ingest_to_verdict_seconds",
                "Time from receiving a record to publishing the verdict it contributed to.",
            )
            .buckets(END_TO_END_BUCKETS.to_vec()),
        )?;
        registry.register(Box::new(ingest_to_verdict.clone()))?;
        let sink_delivery = HistogramVec::new(
            HistogramOpts::new(
                "nightwatch_sink_delivery_seconds",
                "Time from a webhook's first attempt at a verdict to its outcome, retries included.",
            )
            .buckets(DELIVERY_BUCKETS.to_vec()),
            &["output"],
        )?;
        registry.register(Box::new(sink_delivery.clone()))?;
        let llm_request_duration = HistogramVec::new(
            HistogramOpts::new(
                "nightwatch_llm_request_duration_seconds",
                "Time of one LLM summary request, by backend.",
            )
            .buckets(LLM_BUCKETS.to_vec()),
            &["backend"],
        )?;
        registry.register(Box::new(llm_request_duration.clone()))?;
        let rules_rejected = IntCounter::new(
            "nightwatch_rules_rejected_total",
            "Rules skipped at load because they could not be compiled.",
        )?;
        registry.register(Box::new(rules_rejected.clone()))?;
        let counter = |name: &str, help: &str| -> Result<_, prometheus::Error> {
            let c = IntCounter::new(name, help)?;
            registry.register(Box::new(c.clone()))?;
            Ok(c)
        };
        #[cfg(target_os = "linux")]
        registry.register(Box::new(
            prometheus::process_collector::ProcessCollector::new(
                std::process::id() as i32,
                "nightwatch",
            ),
        ))?;
        let build_info = IntGaugeVec::new(
            Opts::new(
                "nightwatch_build_info",
                "Build information; value is always 1.",
            ),
            &["version"],
        )?;
        registry.register(Box::new(build_info.clone()))?;
        build_info
            .with_label_values(&[env!("CARGO_PKG_VERSION")])
            .set(1);

        let metrics = Self {
            stage_received: counter_vec(
                "nightwatch_stage_received_total",
                "Items a stage took from its input.",
                &["stage"],
            )?,
            stage_sent: counter_vec(
                "nightwatch_stage_sent_total",
                "Items a stage passed downstream.",
                &["stage"],
            )?,
            stage_errors: counter_vec(
                "nightwatch_stage_errors_total",
                "Items a stage failed on, by kind.",
                &["stage", "kind"],
            )?,
            stage_dropped: counter_vec(
                "nightwatch_stage_dropped_total",
                "Items a stage dropped on purpose, by reason.",
                &["stage", "reason"],
            )?,
            stage_processing,
            channel_depth: gauge_vec(
                "nightwatch_channel_depth",
                "Items waiting in a channel between stages.",
                &["channel"],
            )?,
            channel_capacity: gauge_vec(
                "nightwatch_channel_capacity",
                "Capacity of a channel between stages.",
                &["channel"],
            )?,
            events_parsed: counter_vec(
                "nightwatch_events_parsed_total",
                "Events produced by a parser.",
                &["format"],
            )?,
            parse_errors: counter_vec(
                "nightwatch_parse_errors_total",
                "Records a parser rejected.",
                &["format"],
            )?,
            rule_matches: counter_vec(
                "nightwatch_rule_matches_total",
                "Single-event rule matches, by rule level.",
                &["level"],
            )?,
            correlation_matches: counter_vec(
                "nightwatch_correlation_matches_total",
                "Correlation rule matches, by rule level.",
                &["level"],
            )?,
            rules_loaded: gauge("nightwatch_rules_loaded", "Rules compiled and active.")?,
            rules_rejected,
            cases_open: gauge("nightwatch_cases_open", "Cases currently open.")?,
            verdicts: counter_vec(
                "nightwatch_verdicts_total",
                "Verdict versions published, by conclusion and severity.",
                &["conclusion", "severity"],
            )?,
            ingest_to_verdict,
            ws_clients: gauge("nightwatch_ws_clients", "Connected WebSocket clients.")?,
            ws_disconnects: counter_vec(
                "nightwatch_ws_disconnects_total",
                "WebSocket clients disconnected by the server, by reason.",
                &["reason"],
            )?,
            ws_resumes: counter_vec(
                "nightwatch_ws_resumes_total",
                "WebSocket clients that asked to resume after a verdict id, by result.",
                &["result"],
            )?,
            api_refused: counter_vec(
                "nightwatch_api_refused_total",
                "API requests refused before a handler, by reason.",
                &["reason"],
            )?,
            dead_letters: counter_vec(
                "nightwatch_dead_letters_total",
                "Records written to the dead-letter output, by stage.",
                &["stage"],
            )?,
            input_records: counter_vec(
                "nightwatch_input_records_total",
                "Records (lines or documents) a streaming input framed and sent into the pipeline, by input: syslog, tailed files, Kafka, NATS.",
                &["input"],
            )?,
            input_dropped: counter_vec(
                "nightwatch_input_dropped_total",
                "Records an input dropped before the pipeline (overload: UDP while the pipeline is full; oversize: longer than the input's maximum; kernel: UDP datagrams the kernel dropped because the socket's receive buffer was full), by input and reason.",
                &["input", "reason"],
            )?,
            input_truncated: counter_vec(
                "nightwatch_input_records_truncated_total",
                "Records a line-framed input (file, tail, stdin) cut to its max_line_bytes and sent on, marked with the nightwatch_truncated_bytes field, by input.",
                &["input"],
            )?,
            input_connections: gauge_vec(
                "nightwatch_input_connections",
                "Open connections of a listening input.",
                &["input"],
            )?,
            input_tls_handshake_failures: counter_vec(
                "nightwatch_input_tls_handshake_failures_total",
                "TLS handshakes a listening input refused, by input and reason (not_tls, no_client_certificate, bad_certificate, alert, timeout, closed, other).",
                &["input", "reason"],
            )?,
            input_connections_refused: counter_vec(
                "nightwatch_input_connections_refused_total",
                "Connections a listening input refused (closed at once with a reset), by input and the limit reached (total, per_peer).",
                &["input", "reason"],
            )?,
            input_connections_closed: counter_vec(
                "nightwatch_input_connections_closed_total",
                "Connections a listening input closed from its side, by input and reason (idle_timeout; length_over_cap, bad_length: an unusable RFC 6587 length prefix).",
                &["input", "reason"],
            )?,
            sink_deliveries: counter_vec(
                "nightwatch_sink_deliveries_total",
                "Verdict deliveries by sink and result (ok, retry, failed).",
                &["output", "result"],
            )?,
            sink_delivery,
            nats_messages: counter_vec(
                "nightwatch_nats_messages_total",
                "Messages NATS inputs received, by mode.",
                &["mode"],
            )?,
            nats_redelivered: counter(
                "nightwatch_nats_redelivered_total",
                "JetStream messages received that had been delivered before.",
            )?,
            nats_acks: counter_vec(
                "nightwatch_nats_acks_total",
                "Acknowledgements NATS inputs sent to JetStream, by kind.",
                &["kind"],
            )?,
            nats_published: counter_vec(
                "nightwatch_nats_published_total",
                "Verdicts NATS outputs published (core: flushed; jetstream: acked by the broker).",
                &["mode"],
            )?,
            nats_publish_duplicates: counter(
                "nightwatch_nats_publish_duplicates_total",
                "JetStream verdict publishes the broker reported as duplicates.",
            )?,
            nats_errors: counter_vec(
                "nightwatch_nats_errors_total",
                "NATS failures, by kind.",
                &["kind"],
            )?,
            nats_connection_events: counter_vec(
                "nightwatch_nats_connection_events_total",
                "NATS client connection events, by event.",
                &["event"],
            )?,
            kafka_messages: counter_vec(
                "nightwatch_kafka_messages_total",
                "Messages Kafka inputs received, by input.",
                &["input"],
            )?,
            kafka_consumer_lag: gauge_vec(
                "nightwatch_kafka_consumer_lag_messages",
                "Messages behind the high watermark, summed over the partitions a Kafka input owns.",
                &["input"],
            )?,
            kafka_consumer_events: counter_vec(
                "nightwatch_kafka_consumer_events_total",
                "Kafka consumer events (assigned, revoked, paused, resumed, rewound), by input.",
                &["input", "event"],
            )?,
            kafka_errors: counter_vec(
                "nightwatch_kafka_errors_total",
                "Kafka failures, by kind.",
                &["kind"],
            )?,
            cluster_verdicts: counter_vec(
                "nightwatch_cluster_verdicts_total",
                "Verdicts read from the verdict topic by history replication, by result (recorded, own, stale, invalid, failed).",
                &["result"],
            )?,
            intel: IntelMetrics::new(&registry)?,
            llm_requests: counter_vec(
                "nightwatch_llm_requests_total",
                "LLM summary requests by backend and outcome (ok, truncated, blocked, invalid, rate_limited, unavailable, rejected; skipped: a case never sent).",
                &["backend", "outcome"],
            )?,
            llm_request_duration,
            llm_tokens: counter_vec(
                "nightwatch_llm_tokens_total",
                "Tokens the LLM provider reported, by backend and kind (prompt, completion).",
                &["backend", "kind"],
            )?,
            llm_queue_depth: gauge(
                "nightwatch_llm_queue_depth",
                "Cases waiting for an LLM summary.",
            )?,
            llm_skipped: counter_vec(
                "nightwatch_llm_skipped_total",
                "Cases not sent to the LLM, by reason.",
                &["reason"],
            )?,
            llm_guardrail_drops: counter_vec(
                "nightwatch_llm_guardrail_drops_total",
                "Parts of LLM answers dropped by the guardrails, by what.",
                &["what"],
            )?,
            llm_cache_hits: counter(
                "nightwatch_llm_cache_hits_total",
                "LLM summaries served from the cache instead of a request.",
            )?,
            llm_redactions: counter(
                "nightwatch_llm_redactions_total",
                "Values redacted before an LLM prompt was sent.",
            )?,
            llm_circuit_open: gauge(
                "nightwatch_llm_circuit_open",
                "1 while the LLM circuit is open (daily quota or token budget spent).",
            )?,
            history_store_bytes: gauge(
                "nightwatch_history_store_bytes",
                "Size of the embedded store on disk (all trees), as of the last history compaction.",
            )?,
            history_data_bytes: gauge(
                "nightwatch_history_data_bytes",
                "Bytes of keys and values in the case history's trees (what history.max_bytes caps).",
            )?,
            history_cases: gauge("nightwatch_history_cases", "Cases in the case history.")?,
            history_compacted: counter_vec(
                "nightwatch_history_compacted_total",
                "Cases removed from the history by compaction, by reason (age, size, count).",
                &["reason"],
            )?,
            history_errors: counter(
                "nightwatch_history_errors_total",
                "History operations that failed: compactions, measurements, and the case builder's lookups and writes (the case continues without them).",
            )?,
            registry,
        };
        let formats: Vec<&str> = crate::normalize::Format::ALL
            .iter()
            .map(|f| f.name())
            .collect();
        metrics.register_known_series(&formats);
        Ok(metrics)
    }

    /// Creates the series of every known label value (see [`labels`]) and of every format.
    fn register_known_series(&self, formats: &[&str]) {
        for r in ["recorded", "own", "stale", "invalid", "failed"] {
            self.cluster_verdicts.with_label_values(&[r]);
        }
        for s in stage::ALL {
            self.stage_received.with_label_values(&[s]);
            self.stage_sent.with_label_values(&[s]);
            self.stage_processing.with_label_values(&[s]);
        }
        for (s, reason) in labels::DROPS {
            self.stage_dropped.with_label_values(&[s, reason]);
        }
        for l in labels::LEVELS {
            self.rule_matches.with_label_values(&[l]);
            self.correlation_matches.with_label_values(&[l]);
        }
        for r in labels::HISTORY_COMPACTED {
            self.history_compacted.with_label_values(&[r]);
        }
        for c in labels::CONCLUSIONS {
            for sev in labels::LEVELS {
                self.verdicts.with_label_values(&[c, sev]);
            }
        }
        for r in labels::WS_DISCONNECTS {
            self.ws_disconnects.with_label_values(&[r]);
        }
        for r in labels::WS_RESUMES {
            self.ws_resumes.with_label_values(&[r]);
        }
        for r in labels::API_REFUSED {
            self.api_refused.with_label_values(&[r]);
        }
        for s in labels::DEAD_LETTER_STAGES {
            self.dead_letters.with_label_values(&[s]);
        }
        for f in formats {
            self.events_parsed.with_label_values(&[f]);
            self.parse_errors.with_label_values(&[f]);
            self.stage_errors.with_label_values(&[stage::PARSE, f]);
        }
        for kind in labels::OUTPUT_ERRORS {
            self.stage_errors.with_label_values(&[stage::OUTPUT, kind]);
        }
        for mode in labels::NATS_MODES {
            self.nats_messages.with_label_values(&[mode]);
            self.nats_published.with_label_values(&[mode]);
        }
        for kind in labels::NATS_ACKS {
            self.nats_acks.with_label_values(&[kind]);
        }
        for kind in labels::NATS_ERRORS {
            self.nats_errors.with_label_values(&[kind]);
        }
        for event in labels::NATS_EVENTS {
            self.nats_connection_events.with_label_values(&[event]);
        }
        for kind in labels::KAFKA_ERRORS {
            self.kafka_errors.with_label_values(&[kind]);
        }
    }

    /// Creates the delivery series of one sink (every result at 0), so its rates and error
    /// ratios exist from start-up. `timed` sinks (webhooks) also get the latency histogram.
    pub fn register_sink(&self, output: &str, timed: bool) {
        for r in labels::SINK_RESULTS {
            self.sink_deliveries.with_label_values(&[output, r]);
        }
        if timed {
            self.sink_delivery.with_label_values(&[output]);
        }
    }

    /// Creates the series of the LLM summary worker for `backend` (every outcome, reason and
    /// kind at 0); called when the worker starts, so they exist only when the feature is on.
    #[cfg(feature = "llm")]
    pub fn register_llm(&self, backend: &str) {
        for o in crate::llm::worker::outcome::ALL {
            self.llm_requests.with_label_values(&[backend, o]);
        }
        self.llm_request_duration.with_label_values(&[backend]);
        for kind in ["prompt", "completion"] {
            self.llm_tokens.with_label_values(&[backend, kind]);
        }
        for r in crate::llm::worker::skip::ALL {
            self.llm_skipped.with_label_values(&[r]);
        }
        for what in crate::llm::worker::GUARDRAIL_DROPS {
            self.llm_guardrail_drops.with_label_values(&[what]);
        }
    }

    /// Creates the series of one Kafka input (every event at 0).
    pub fn register_kafka_input(&self, input: &str) {
        self.kafka_messages.with_label_values(&[input]);
        self.kafka_consumer_lag.with_label_values(&[input]);
        for event in labels::KAFKA_CONSUMER_EVENTS {
            self.kafka_consumer_events
                .with_label_values(&[input, event]);
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
