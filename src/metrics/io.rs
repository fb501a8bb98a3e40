//! Series of the edges of the daemon: inputs, verdict sinks and dead letters, the API and its
//! WebSocket clients.

use prometheus::{HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Registry};

use super::{DELIVERY_BUCKETS, counter_vec, gauge, gauge_vec, histogram_vec, stage};

/// Fixed values of the input `reason` labels (the `input` label is the configured input name).
pub mod input {
    /// `nightwatch_input_dropped_total` reasons.
    pub mod dropped {
        /// UDP while the pipeline is full.
        pub const OVERLOAD: &str = "overload";
        /// Longer than the input's maximum.
        pub const OVERSIZE: &str = "oversize";
        /// UDP datagrams the kernel dropped (socket receive buffer full).
        pub const KERNEL: &str = "kernel";
    }
}

/// Inputs (`nightwatch_input_*`), by input name (names come from the configuration).
pub struct InputMetrics {
    /// Records an input framed and sent.
    pub records: IntCounterVec,
    /// Records an input dropped before the pipeline, by input and reason ([`input::dropped`]).
    pub dropped: IntCounterVec,
    /// Records a line-framed input (file, tail, stdin) cut to its size cap and sent on marked,
    /// by input.
    pub truncated: IntCounterVec,
    /// Open connections of a listening input.
    pub connections: IntGaugeVec,
    /// TLS handshakes a listening input refused, by input and reason (`not_tls`,
    /// `no_client_certificate`, `bad_certificate`, `alert`, `timeout`, `closed`, `other`).
    pub tls_handshake_failures: IntCounterVec,
    /// Connections a listening input refused at accept, by input and reason (`total`,
    /// `per_peer`: which connection limit was reached).
    pub connections_refused: IntCounterVec,
    /// Connections a listening input closed from its side, by input and reason
    /// (`idle_timeout`, `length_over_cap`, `bad_length`).
    pub connections_closed: IntCounterVec,
}

impl InputMetrics {
    pub(super) fn new(registry: &Registry) -> Result<Self, prometheus::Error> {
        Ok(Self {
            records: counter_vec(
                registry,
                "nightwatch_input_records_total",
                "Records (lines or documents) a streaming input framed and sent into the pipeline, by input: syslog, tailed files, Kafka, NATS.",
                &["input"],
            )?,
            dropped: counter_vec(
                registry,
                "nightwatch_input_dropped_total",
                "Records an input dropped before the pipeline (overload: UDP while the pipeline is full; oversize: longer than the input's maximum; kernel: UDP datagrams the kernel dropped because the socket's receive buffer was full), by input and reason.",
                &["input", "reason"],
            )?,
            truncated: counter_vec(
                registry,
                "nightwatch_input_records_truncated_total",
                "Records a line-framed input (file, tail, stdin) cut to its max_line_bytes and sent on, marked with the nightwatch_truncated_bytes field, by input.",
                &["input"],
            )?,
            connections: gauge_vec(
                registry,
                "nightwatch_input_connections",
                "Open connections of a listening input.",
                &["input"],
            )?,
            tls_handshake_failures: counter_vec(
                registry,
                "nightwatch_input_tls_handshake_failures_total",
                "TLS handshakes a listening input refused, by input and reason (not_tls, no_client_certificate, bad_certificate, alert, timeout, closed, other).",
                &["input", "reason"],
            )?,
            connections_refused: counter_vec(
                registry,
                "nightwatch_input_connections_refused_total",
                "Connections a listening input refused (closed at once with a reset), by input and the limit reached (total, per_peer).",
                &["input", "reason"],
            )?,
            connections_closed: counter_vec(
                registry,
                "nightwatch_input_connections_closed_total",
                "Connections a listening input closed from its side, by input and reason (idle_timeout; length_over_cap, bad_length: an unusable RFC 6587 length prefix).",
                &["input", "reason"],
            )?,
        })
    }
}

/// Label values of the sink and dead-letter series.
pub mod sink {
    /// `nightwatch_sink_deliveries_total` result: delivered.
    pub const OK: &str = "ok";
    /// `nightwatch_sink_deliveries_total` result: an attempt failed and is retried.
    pub const RETRY: &str = "retry";
    /// `nightwatch_sink_deliveries_total` result: given up.
    pub const FAILED: &str = "failed";
    /// Every delivery result, created per sink when it opens.
    pub const RESULTS: &[&str] = &[OK, RETRY, FAILED];
    /// `nightwatch_dead_letters_total` stages.
    pub const DEAD_LETTER_STAGES: &[&str] = &[super::stage::PARSE, super::stage::OUTPUT];
}

/// Verdict sinks and the dead-letter output.
pub struct SinkMetrics {
    /// Verdict deliveries by sink, by result ([`sink::RESULTS`]).
    pub deliveries: IntCounterVec,
    /// Time from a webhook's first attempt at a verdict to its outcome (retries included).
    pub delivery: HistogramVec,
    /// Records written to the dead-letter output, by stage ([`stage::PARSE`],
    /// [`stage::OUTPUT`]).
    pub dead_letters: IntCounterVec,
}

impl SinkMetrics {
    pub(super) fn new(registry: &Registry) -> Result<Self, prometheus::Error> {
        let m = Self {
            deliveries: counter_vec(
                registry,
                "nightwatch_sink_deliveries_total",
                "Verdict deliveries by sink and result (ok, retry, failed).",
                &["output", "result"],
            )?,
            delivery: histogram_vec(
                registry,
                "nightwatch_sink_delivery_seconds",
                "Time from a webhook's first attempt at a verdict to its outcome, retries included.",
                DELIVERY_BUCKETS,
                &["output"],
            )?,
            dead_letters: counter_vec(
                registry,
                "nightwatch_dead_letters_total",
                "Records written to the dead-letter output, by stage.",
                &["stage"],
            )?,
        };
        for s in sink::DEAD_LETTER_STAGES {
            m.dead_letters.with_label_values(&[s]);
        }
        Ok(m)
    }

    /// Creates the delivery series of one sink (every result at 0), so its rates and error
    /// ratios exist from start-up. `timed` sinks (webhooks) also get the latency histogram.
    pub fn register(&self, output: &str, timed: bool) {
        for r in sink::RESULTS {
            self.deliveries.with_label_values(&[output, r]);
        }
        if timed {
            self.delivery.with_label_values(&[output]);
        }
    }
}

/// Label values of the API series.
pub mod api {
    /// `nightwatch_ws_disconnects_total` reasons.
    pub const WS_DISCONNECTS: &[&str] = &["lagging", "stalled", "shutdown"];
    /// `nightwatch_ws_resumes_total` results.
    pub const WS_RESUMES: &[&str] = &["replayed", "gap"];
    /// `nightwatch_api_refused_total` reasons (see `api::guard`).
    pub const REFUSED: &[&str] = &[
        "host",
        "origin",
        "unauthorized",
        "content_type",
        "role",
        "csrf",
        "rate_limited",
    ];
}

/// The API: WebSocket clients and refused requests.
pub struct ApiMetrics {
    /// Connected WebSocket clients.
    pub ws_clients: IntGauge,
    /// WebSocket clients disconnected by the server, by reason.
    pub ws_disconnects: IntCounterVec,
    /// WebSocket clients that asked to resume (`/ws?after=`), by result (`replayed`, `gap`).
    pub ws_resumes: IntCounterVec,
    /// API requests refused before reaching a handler, by reason (host, origin, unauthorized,
    /// content_type, role, csrf, rate_limited); failed console sign-ins count as unauthorized.
    pub refused: IntCounterVec,
}

impl ApiMetrics {
    pub(super) fn new(registry: &Registry) -> Result<Self, prometheus::Error> {
        let m = Self {
            ws_clients: gauge(
                registry,
                "nightwatch_ws_clients",
                "Connected WebSocket clients.",
            )?,
            ws_disconnects: counter_vec(
                registry,
                "nightwatch_ws_disconnects_total",
                "WebSocket clients disconnected by the server, by reason.",
                &["reason"],
            )?,
            ws_resumes: counter_vec(
                registry,
                "nightwatch_ws_resumes_total",
                "WebSocket clients that asked to resume after a verdict id, by result.",
                &["result"],
            )?,
            refused: counter_vec(
                registry,
                "nightwatch_api_refused_total",
                "API requests refused before a handler, by reason.",
                &["reason"],
            )?,
        };
        for r in api::WS_DISCONNECTS {
            m.ws_disconnects.with_label_values(&[r]);
        }
        for r in api::WS_RESUMES {
            m.ws_resumes.with_label_values(&[r]);
        }
        for r in api::REFUSED {
            m.refused.with_label_values(&[r]);
        }
        Ok(m)
    }
}
