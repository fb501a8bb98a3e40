//! nightwatch: a streaming SOC triage daemon.
//!
//! Code map, in the order data flows (see README "Architecture"):
//!
//! - [`flow`]: ground-floor plumbing: acknowledgements, bounded metered channels, retry policy.
//! - [`base`]: config primitives: `Problem` (key path), `Secret`, `redact_url`.
//! - [`inputs`]: transports that frame bytes into `RawRecord`s (files, stdin, tail, syslog,
//!   NATS, Kafka), each owning its `[inputs.NAME]` table, checks and start.
//! - [`normalize`]: the `RawRecord` contract ([`normalize::record`]) and parsers, one per format,
//!   from `RawRecord` to [`event::Event`].
//! - [`event`]: the one normalized event shape every later stage speaks.
//! - [`detect`]: the Sigma engine: rules compiled once, pure evaluation, correlations.
//! - [`intel`]: indicators extracted from events, offline feeds, threat-intel enrichment.
//! - [`cases`]: detections (`Detection`/`Hit`), feed hits and enrichment grouped per entity into cases.
//! - [`verdict`]: the `nightwatch.verdict.v1` document, its scoring and the LLM `Summary` it carries.
//! - [`attack`]: the MITRE ATT&CK technique and tactic table.
//! - [`outputs`]: verdict sinks (stdout, JSONL file, NATS, Kafka, webhooks, the `/ws` stream).
//! - [`nats`]: NATS connections shared by the NATS input and output.
//! - [`kafka`]: librdkafka properties and lag shared by the Kafka input and output.
//! - [`pipeline`]: the bounded stage graph that connects all of the above.
//! - [`cluster`]: multi-instance case replication over Kafka.
//! - [`report`]: printable case reports (Markdown, HTML, PDF) of a verdict.
//! - [`llm`]: asynchronous, guarded LLM case summaries (Gemini or OpenAI-compatible).
//! - [`store`]: the embedded sled database under `state.dir` (history, caches).
//! - [`history`]: case history (cases, verdict versions, indexes, feedback) and the audit log.
//! - [`api`]: the HTTP server (health, metrics, WebSocket, version).
//! - [`metrics`]: every Prometheus series.
//! - [`config`]: the configuration file, environment overrides, the daemon-wide sections; it
//!   composes the components' tables and calls their checks.
//! - [`network`]: IP networks (CIDR) as rules, configuration and feeds write them.
//! - [`preflight`]: the start-up checks `validate` and `run` share (rules, state, paths).
//! - [`daemon`]: `nightwatch run`: wiring, start-up and graceful shutdown.
//! - [`demo`]: the deterministic intrusion scenario (demo feed and load generator).
//! - [`cli`]: the command line.
//! - [`features`]: the optional components (cargo features `kafka`, `llm`, `pdf`).

pub mod api;
pub mod attack;
pub mod base;
pub mod cases;
pub mod cli;
pub mod cluster;
pub mod config;
pub mod daemon;
pub mod demo;
pub mod detect;
pub mod event;
pub mod features;
pub mod flow;
pub mod history;
pub mod inputs;
pub mod intel;
pub mod kafka;
pub mod llm;
pub mod metrics;
pub mod nats;
pub mod network;
pub mod normalize;
pub mod outputs;
pub mod pipeline;
pub mod preflight;
pub mod report;
pub mod store;
#[cfg(test)]
pub(crate) mod testutil;
pub mod verdict;
