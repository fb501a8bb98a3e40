//! Integration tests: one binary, driving the real `nightwatch` executable.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod cli;
mod daemon;
mod dashboards;
mod helpers;
mod kafka;
mod nats;
mod sigma_regression;
mod sources;
mod streaming;
mod webhook;
mod ws_resume;
