//! Integration tests: one binary, driving the real `nightwatch` executable.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod annotations;
mod api_security;
mod backpressure;
mod cases;
mod cli;
mod console;
mod daemon;
// These start the daemon with Kafka (and the LLM) configured: default features only.
#[cfg(all(feature = "kafka", feature = "llm"))]
mod dashboards;
mod deploy;
mod determinism;
#[cfg(feature = "kafka")]
mod end_to_end;
mod helpers;
mod intel;
#[cfg(feature = "kafka")]
mod kafka;
mod limits;
mod nats;
mod nats_auth;
mod nats_jwt;
mod pki;
mod report;
mod restart;
mod schema;
mod sigma_regression;
mod sources;
mod startup;
mod streaming;
mod syslog_limits;
mod syslog_tls;
mod webhook;
mod ws_resume;
