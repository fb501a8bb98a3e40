//! Integration tests: one binary, driving the real `nightwatch` executable.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod annotations;
mod backpressure;
mod cases;
mod cli;
mod daemon;
mod dashboards;
mod deploy;
mod determinism;
mod end_to_end;
mod helpers;
mod intel;
mod kafka;
mod nats;
mod nats_auth;
mod nats_jwt;
mod pki;
mod report;
mod restart;
mod schema;
mod sigma_regression;
mod sources;
mod streaming;
mod syslog_tls;
mod webhook;
mod ws_resume;
