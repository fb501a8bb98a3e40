//! Series of the enrichment stages: threat intel (`nightwatch_intel_*`) and the LLM summary
//! worker (`nightwatch_llm_*`).

use prometheus::{HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Registry};

use super::{DELIVERY_BUCKETS, LLM_BUCKETS, counter, counter_vec, gauge, gauge_vec, histogram_vec};

/// Label values of the threat-intel series.
pub mod intel {
    /// `result` of `nightwatch_intel_feed_reloads_total`.
    pub mod feed_reload {
        pub const OK: &str = "ok";
        pub const ERROR: &str = "error";
        pub const ALL: &[&str] = &[OK, ERROR];
    }
    /// `reason` of `nightwatch_intel_dropped_total`.
    pub const DROPPED: &[&str] = &["queue_full", "in_flight", "closed"];
    /// `outcome` of `nightwatch_intel_requests_total`.
    pub const OUTCOMES: &[&str] = &["malicious", "suspicious", "benign", "unknown", "error"];
    /// `result` of `nightwatch_intel_cache_lookups_total`.
    pub mod cache {
        pub const HIT: &str = "hit";
        pub const MISS: &str = "miss";
        pub const ALL: &[&str] = &[HIT, MISS];
    }
    /// `kind` of `nightwatch_intel_errors_total`.
    pub const ERRORS: &[&str] = &[
        "bad_key",
        "rate_limited",
        "unavailable",
        "invalid",
        "circuit_open",
        "quota",
        "budget",
    ];
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
    pub(super) fn new(registry: &Registry) -> Result<Self, prometheus::Error> {
        let m = Self {
            requests: counter_vec(
                registry,
                "nightwatch_intel_requests_total",
                "Threat-intel lookups answered, by provider and outcome.",
                &["provider", "outcome"],
            )?,
            errors: counter_vec(
                registry,
                "nightwatch_intel_errors_total",
                "Failed threat-intel lookups, by provider and kind.",
                &["provider", "kind"],
            )?,
            latency: histogram_vec(
                registry,
                "nightwatch_intel_request_seconds",
                "Time of one threat-intel provider request.",
                DELIVERY_BUCKETS,
                &["provider"],
            )?,
            cache: counter_vec(
                registry,
                "nightwatch_intel_cache_lookups_total",
                "Threat-intel cache lookups, by provider and result (hit, miss).",
                &["provider", "result"],
            )?,
            extracted: counter_vec(
                registry,
                "nightwatch_intel_indicators_extracted_total",
                "Indicators extracted from events, by kind.",
                &["kind"],
            )?,
            feed_matches: counter(
                registry,
                "nightwatch_intel_feed_matches_total",
                "Indicators that matched at least one offline feed entry.",
            )?,
            feed_indicators: gauge_vec(
                registry,
                "nightwatch_intel_feed_indicators",
                "Entries per loaded offline feed.",
                &["feed"],
            )?,
            feed_reloads: counter_vec(
                registry,
                "nightwatch_intel_feed_reloads_total",
                "Offline feed (re)loads, by result.",
                &["result"],
            )?,
            dropped: counter_vec(
                registry,
                "nightwatch_intel_dropped_total",
                "Indicators not queued for background enrichment, by reason.",
                &["reason"],
            )?,
            circuit_open: gauge_vec(
                registry,
                "nightwatch_intel_circuit_open",
                "1 while a threat-intel provider's circuit breaker is open (as of its latest lookup).",
                &["provider"],
            )?,
        };
        for r in intel::feed_reload::ALL {
            m.feed_reloads.with_label_values(&[r]);
        }
        for r in intel::DROPPED {
            m.dropped.with_label_values(&[r]);
        }
        Ok(m)
    }

    /// Creates a provider's series at 0 (called when it is configured).
    pub fn register_provider(&self, provider: &str) {
        for o in intel::OUTCOMES {
            self.requests.with_label_values(&[provider, o]);
        }
        for r in intel::cache::ALL {
            self.cache.with_label_values(&[provider, r]);
        }
        for k in intel::ERRORS {
            self.errors.with_label_values(&[provider, k]);
        }
        self.latency.with_label_values(&[provider]);
        self.circuit_open.with_label_values(&[provider]);
    }
}

/// Label values of the LLM series (outcomes, skip reasons and guardrail drops are defined by
/// `llm::worker`).
pub mod llm {
    /// `kind` of `nightwatch_llm_tokens_total`: tokens of the prompt.
    pub const PROMPT: &str = "prompt";
    /// `kind` of `nightwatch_llm_tokens_total`: tokens of the answer.
    pub const COMPLETION: &str = "completion";
    /// Every `kind` of `nightwatch_llm_tokens_total`.
    pub const TOKEN_KINDS: &[&str] = &[PROMPT, COMPLETION];

    /// Outcome labels of `nightwatch_llm_requests_total`.
    pub mod outcome {
        pub const OK: &str = "ok";
        pub const TRUNCATED: &str = "truncated";
        pub const BLOCKED: &str = "blocked";
        pub const INVALID: &str = "invalid";
        pub const RATE_LIMITED: &str = "rate_limited";
        pub const UNAVAILABLE: &str = "unavailable";
        pub const REJECTED: &str = "rejected";
        pub const SKIPPED: &str = "skipped";
        pub const ALL: &[&str] = &[
            OK,
            TRUNCATED,
            BLOCKED,
            INVALID,
            RATE_LIMITED,
            UNAVAILABLE,
            REJECTED,
            SKIPPED,
        ];
    }

    /// Reason labels of `nightwatch_llm_skipped_total`.
    pub mod skip {
        pub const QUEUE_FULL: &str = "queue_full";
        pub const SUPERSEDED: &str = "superseded";
        pub const BELOW_MIN_SEVERITY: &str = "below_min_severity";
        pub const CIRCUIT_OPEN: &str = "circuit_open";
        pub const TOKEN_BUDGET: &str = "token_budget";
        pub const ALL: &[&str] = &[
            QUEUE_FULL,
            SUPERSEDED,
            BELOW_MIN_SEVERITY,
            CIRCUIT_OPEN,
            TOKEN_BUDGET,
        ];
    }

    /// `what` labels of `nightwatch_llm_guardrail_drops_total`.
    pub const GUARDRAIL_DROPS: [&str; 4] = [
        "hypothesis_ungrounded",
        "query_not_allowed",
        "query_bad_argument",
        "query_ungrounded",
    ];
}

/// The LLM summary worker (`nightwatch_llm_*`); its labelled series are created by
/// `LlmMetrics::register` when the worker starts.
pub struct LlmMetrics {
    /// Summary requests by backend and outcome (`skipped`: a case never sent).
    pub requests: IntCounterVec,
    /// Time of one request, by backend.
    pub request_duration: HistogramVec,
    /// Tokens the provider reported, by backend and kind ([`llm::TOKEN_KINDS`]).
    pub tokens: IntCounterVec,
    /// Cases waiting for a summary.
    pub queue_depth: IntGauge,
    /// Cases not sent to the LLM, by reason.
    pub skipped: IntCounterVec,
    /// Parts of answers dropped by the guardrails, by what.
    pub guardrail_drops: IntCounterVec,
    /// Summaries served from the cache instead of a request.
    pub cache_hits: IntCounter,
    /// Values redacted before a prompt was sent.
    pub redactions: IntCounter,
    /// 1 while the LLM circuit is open (daily quota or token budget spent).
    pub circuit_open: IntGauge,
}

impl LlmMetrics {
    pub(super) fn new(registry: &Registry) -> Result<Self, prometheus::Error> {
        Ok(Self {
            requests: counter_vec(
                registry,
                "nightwatch_llm_requests_total",
                "LLM summary requests by backend and outcome (ok, truncated, blocked, invalid, rate_limited, unavailable, rejected; skipped: a case never sent).",
                &["backend", "outcome"],
            )?,
            request_duration: histogram_vec(
                registry,
                "nightwatch_llm_request_duration_seconds",
                "Time of one LLM summary request, by backend.",
                LLM_BUCKETS,
                &["backend"],
            )?,
            tokens: counter_vec(
                registry,
                "nightwatch_llm_tokens_total",
                "Tokens the LLM provider reported, by backend and kind (prompt, completion).",
                &["backend", "kind"],
            )?,
            queue_depth: gauge(
                registry,
                "nightwatch_llm_queue_depth",
                "Cases waiting for an LLM summary.",
            )?,
            skipped: counter_vec(
                registry,
                "nightwatch_llm_skipped_total",
                "Cases not sent to the LLM, by reason.",
                &["reason"],
            )?,
            guardrail_drops: counter_vec(
                registry,
                "nightwatch_llm_guardrail_drops_total",
                "Parts of LLM answers dropped by the guardrails, by what.",
                &["what"],
            )?,
            cache_hits: counter(
                registry,
                "nightwatch_llm_cache_hits_total",
                "LLM summaries served from the cache instead of a request.",
            )?,
            redactions: counter(
                registry,
                "nightwatch_llm_redactions_total",
                "Values redacted before an LLM prompt was sent.",
            )?,
            circuit_open: gauge(
                registry,
                "nightwatch_llm_circuit_open",
                "1 while the LLM circuit is open (daily quota or token budget spent).",
            )?,
        })
    }

    /// Creates the series of the LLM summary worker for `backend` (every outcome, reason and
    /// kind at 0); called when the worker starts, so they exist only when the feature is on.
    #[cfg(feature = "llm")]
    pub fn register(&self, backend: &str) {
        for o in llm::outcome::ALL {
            self.requests.with_label_values(&[backend, o]);
        }
        self.request_duration.with_label_values(&[backend]);
        for kind in llm::TOKEN_KINDS {
            self.tokens.with_label_values(&[backend, kind]);
        }
        for r in llm::skip::ALL {
            self.skipped.with_label_values(&[r]);
        }
        for what in llm::GUARDRAIL_DROPS {
            self.guardrail_drops.with_label_values(&[what]);
        }
    }
}
