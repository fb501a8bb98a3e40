//! The `nats` verdict output: each verdict published on a NATS subject.
//!
//! * **JetStream** (`jetstream = true`): every verdict is published with the header
//!   `Nats-Msg-Id: <verdict_id>` (unique per case version, deterministic from case id and
//!   version), so the stream's duplicate window absorbs retries and replays. The sink waits
//!   for the broker's publish ack and only then releases the verdict's [`Ack`]; a failed or
//!   timed-out publish is retried with backoff (100 ms doubling to 5 s) until it is acked, so a
//!   broker outage backs pressure up the pipeline instead of losing verdicts. A stream must
//!   capture the subject (until one does, publishes fail with "no responders" and are retried).
//! * **Core NATS** (`jetstream = false`): best-effort. The acknowledgement is released once the
//!   verdict is written to the connection and flushed; subscribers that are not listening, and
//!   messages in the socket when the connection drops, are lost.
//!
//! Every message carries `Nats-Schema: nightwatch.verdict.v1`, or with `format = "ocsf"` an OCSF
//! Detection Finding as payload and `Nats-Schema: ocsf.detection_finding`.

use std::sync::Arc;
use std::time::Duration;

use async_nats::HeaderMap;
use async_nats::jetstream::context::{Context, PublishAckFuture};
use async_nats::jetstream::message::PublishMessage;
use bytes::Bytes;
use serde::Deserialize;

use super::OutputFormat;
use super::{Item, OutputError};
use crate::base::Problem;
use crate::flow::ack::Ack;
use crate::flow::channel::Receiver;
use crate::metrics::{self, Metrics};
use crate::nats::{self, Connection, NatsTable};

/// The schema header's value.
pub const SCHEMA: &str = "nightwatch.verdict.v1";
/// The schema header's value with `format = "ocsf"`.
pub const OCSF_SCHEMA: &str = "ocsf.detection_finding";

/// How long the last flush at shutdown may wait for the broker (a client that never connected
/// — wrong credentials, broker down — would otherwise hold the shutdown forever).
const FINAL_FLUSH: Duration = Duration::from_secs(5);
/// Verdicts published together before their acks are awaited.
const WINDOW: usize = 64;

/// `[outputs.NAME] type = "nats"` and `[dead_letter.nats]`: the connection keys and the
/// output's own.
pub type NatsOutputConfig = NatsTable<NatsOutputKeys>;

/// The keys of a NATS output besides the connection's.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NatsOutputKeys {
    /// Subject the verdicts are published on (no wildcards).
    pub subject: String,
    /// Publish through JetStream (a stream must capture the subject): wait for the broker's
    /// ack, retry with backoff, `Nats-Msg-Id` = verdict id for dedup.
    #[serde(default)]
    pub jetstream: bool,
    /// `native` (the verdict document) or `ocsf` (an OCSF Detection Finding).
    #[serde(default)]
    pub format: OutputFormat,
}

impl NatsOutputConfig {
    /// Every problem of the table at key path `table`.
    pub fn problems(&self, table: &str) -> Vec<Problem> {
        let mut p = Vec::new();
        if let Some(m) = nats::subject_problem(&self.subject, false) {
            p.push(Problem::new(format!("{table}.subject"), m));
        }
        p.extend(self.server.problems(table));
        p
    }
}

/// Why a NATS output could not start or stopped.
#[derive(Debug, thiserror::Error)]
pub enum NatsOutputError {
    /// A secret named in the configuration is not in the environment.
    #[error("output {name} ({url}): {reason}")]
    Auth {
        name: String,
        url: String,
        reason: String,
    },
    #[error(transparent)]
    Connect(#[from] nats::ConnectError),
    /// The client was closed under the sink.
    #[error("output {name} ({url}): publishing to {subject}: {reason}")]
    Publish {
        name: String,
        url: String,
        subject: String,
        reason: String,
    },
}

/// A NATS output, resolved from its configuration.
#[derive(Debug, Clone)]
pub struct NatsOutputSettings {
    pub connection: Connection,
    pub subject: String,
    pub jetstream: bool,
    pub format: OutputFormat,
}

impl NatsOutputSettings {
    /// Reads the secrets the configuration names from the environment.
    pub fn from_config(name: &str, cfg: &NatsOutputConfig) -> Result<Self, NatsOutputError> {
        let auth = cfg
            .server
            .auth_keys()
            .resolve(|var| std::env::var(var).ok())
            .map_err(|reason| NatsOutputError::Auth {
                name: name.to_owned(),
                url: cfg.server.url.redacted(),
                reason,
            })?;
        Ok(NatsOutputSettings {
            connection: Connection {
                url: cfg.server.url.clone(),
                auth,
                tls: cfg.server.tls.clone().unwrap_or_default(),
                client_name: format!("nightwatch/output/{name}"),
                subscription_capacity: 1024,
            },
            subject: cfg.subject.clone(),
            jetstream: cfg.jetstream,
            format: cfg.format,
        })
    }
}

/// An opened NATS sink.
pub struct NatsSink {
    name: String,
    url: String,
    settings: NatsOutputSettings,
    client: async_nats::Client,
    metrics: Arc<Metrics>,
}

impl NatsSink {
    /// Creates the client (the connection itself is made, and remade, in the background).
    pub async fn open(
        name: &str,
        settings: NatsOutputSettings,
        metrics: Arc<Metrics>,
    ) -> Result<Self, NatsOutputError> {
        let client = nats::connect(&settings.connection, "output", name, metrics.clone()).await?;
        tracing::info!(
            output = name,
            url = %settings.connection.url,
            subject = %settings.subject,
            jetstream = settings.jetstream,
            "nats output ready"
        );
        Ok(NatsSink {
            name: name.to_owned(),
            url: settings.connection.url.redacted(),
            settings,
            client,
            metrics,
        })
    }

    /// Publishes every queued verdict until the queue closes, then flushes.
    pub async fn run(self, rx: Receiver<Item>) -> Result<(), OutputError> {
        let result = if self.settings.jetstream {
            self.run_jetstream(&rx).await
        } else {
            self.run_core(&rx).await
        };
        result.map_err(OutputError::from)
    }

    fn headers(&self, verdict_id: Option<&str>) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            "Nats-Schema",
            match self.settings.format {
                OutputFormat::Native => SCHEMA,
                OutputFormat::Ocsf => OCSF_SCHEMA,
            },
        );
        if let Some(id) = verdict_id {
            h.insert("Nats-Msg-Id", id);
        }
        h
    }

    fn closed(&self, reason: impl ToString) -> NatsOutputError {
        NatsOutputError::Publish {
            name: self.name.clone(),
            url: self.url.clone(),
            subject: self.settings.subject.clone(),
            reason: crate::base::redact_url(&reason.to_string()),
        }
    }

    async fn run_core(&self, rx: &Receiver<Item>) -> Result<(), NatsOutputError> {
        let published = self
            .metrics
            .nats
            .published
            .with_label_values(&[metrics::nats::mode::CORE]);
        let mut written: Vec<Ack> = Vec::new();
        while let Ok(item) = rx.recv().await {
            self.client
                .publish_with_headers(
                    self.settings.subject.clone(),
                    self.headers(None),
                    Bytes::copy_from_slice(item.document(self.settings.format).as_bytes()),
                )
                .await
                .map_err(|e| self.closed(e))?;
            written.push(item.ack);
            if rx.is_empty() {
                self.client.flush().await.map_err(|e| self.closed(e))?;
                published.inc_by(written.len() as u64);
                written.drain(..).for_each(Ack::done);
            }
        }
        if written.is_empty() || !self.final_flush().await? {
            // Not flushed: the acks are dropped unreleased, so replayable inputs read again.
            return Ok(());
        }
        published.inc_by(written.len() as u64);
        written.into_iter().for_each(Ack::done);
        Ok(())
    }

    /// The flush at shutdown, bounded by [`FINAL_FLUSH`]; `false` when it timed out.
    async fn final_flush(&self) -> Result<bool, NatsOutputError> {
        match tokio::time::timeout(FINAL_FLUSH, self.client.flush()).await {
            Ok(r) => r.map(|()| true).map_err(|e| self.closed(e)),
            Err(_) => {
                tracing::warn!(output = %self.name, url = %self.url, "nats output could not flush within 5 s at shutdown");
                Ok(false)
            }
        }
    }

    async fn run_jetstream(&self, rx: &Receiver<Item>) -> Result<(), NatsOutputError> {
        let js = async_nats::jetstream::ContextBuilder::new()
            .timeout(Duration::from_secs(5))
            .build(self.client.clone());
        while let Ok(first) = rx.recv().await {
            let mut window = vec![first];
            while window.len() < WINDOW && !rx.is_empty() {
                match rx.recv().await {
                    Ok(item) => window.push(item),
                    Err(_) => break,
                }
            }
            // Publish the window, then collect the acks in order; retry what failed.
            let mut sent = Vec::with_capacity(window.len());
            for item in window {
                let future = self.send(&js, &item).await;
                sent.push((item, future));
            }
            for (item, future) in sent {
                let first_try = match future {
                    Ok(f) => f.await.map_err(|e| e.to_string()),
                    Err(e) => Err(e),
                };
                self.confirm(&js, item, first_try).await;
            }
        }
        self.final_flush().await?;
        Ok(())
    }

    async fn send(&self, js: &Context, item: &Item) -> Result<PublishAckFuture, String> {
        let message = PublishMessage::build()
            .payload(Bytes::copy_from_slice(
                item.document(self.settings.format).as_bytes(),
            ))
            .headers(self.headers(Some(item.verdict.verdict_id.as_str())));
        js.send_publish(self.settings.subject.clone(), message)
            .await
            .map_err(|e| e.to_string())
    }

    /// Retries `item` until the broker acks it, then releases its acknowledgement.
    async fn confirm(
        &self,
        js: &Context,
        item: Item,
        mut result: Result<async_nats::jetstream::publish::PublishAck, String>,
    ) {
        let mut attempt = 1u32;
        loop {
            match result {
                Ok(ack) => {
                    if ack.duplicate {
                        self.metrics.nats.publish_duplicates.inc();
                    }
                    if attempt > 1 {
                        tracing::info!(output = %self.name, verdict_id = %item.verdict.verdict_id, attempts = attempt, "nats verdict published after retries");
                    }
                    self.metrics
                        .nats
                        .published
                        .with_label_values(&[metrics::nats::mode::JETSTREAM])
                        .inc();
                    item.ack.done();
                    return;
                }
                Err(e) => {
                    self.metrics
                        .nats
                        .errors
                        .with_label_values(&[metrics::nats::error::PUBLISH])
                        .inc();
                    if attempt == 1 || attempt.is_multiple_of(10) {
                        tracing::warn!(
                            output = %self.name,
                            url = %self.url,
                            subject = %self.settings.subject,
                            verdict_id = %item.verdict.verdict_id,
                            attempt,
                            error = %crate::base::redact_url(&e),
                            "nats verdict publish not acknowledged; retrying"
                        );
                    }
                }
            }
            tokio::time::sleep(super::BROKER_RETRY.wait(attempt - 1, None)).await;
            attempt += 1;
            result = match self.send(js, &item).await {
                Ok(f) => f.await.map_err(|e| e.to_string()),
                Err(e) => Err(e),
            };
        }
    }
}
