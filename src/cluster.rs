//! Horizontal scale-out on Kafka (`[cluster]`): several instances in one consumer group split
//! the input partitions; each keeps the history of the others' cases by consuming the verdict
//! topic.
//!
//! * **Instance id**: `cluster.instance_id`, or the host name. The Kafka verdict output puts it
//!   in the `nightwatch_instance` header of every verdict it produces.
//! * **History replication**: with `[cluster.history_topic]` set (the verdict topic the
//!   instances' Kafka outputs write), a task consumes every partition of that topic in a
//!   consumer group of its own (`nightwatch-history-<instance>`, so each instance reads
//!   everything and resumes where it stopped) and records each foreign verdict into the
//!   history store through [`HistoryStore::record`]: the case, its verdict version and its index
//!   entries (indicators, host, users, addresses), so history correlation and the case API see
//!   the other instances' cases. Verdicts carrying this instance's id are skipped (it recorded
//!   them itself), as are versions not newer than the stored one (replays, duplicates).
//!   Offsets are stored only after the record was written (at-least-once; a replay is
//!   absorbed by the version check).
//!
//! What is not replicated: evidence event copies (the verdict carries only their ids),
//! analyst feedback and closes made through another instance's API, and open cases' in-memory
//! correlation state (it lives on the instance that owns the host's partition).
//!
//! Replication needs the `kafka` feature; without it `[cluster.history_topic]` is refused
//! (validation) and only the instance id remains.

use std::sync::Arc;

#[cfg(feature = "kafka")]
use rdkafka::consumer::{Consumer, StreamConsumer};
#[cfg(feature = "kafka")]
use rdkafka::message::{Headers, Message};
#[cfg(feature = "kafka")]
use rdkafka::{Offset, TopicPartitionList};
use serde::Deserialize;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::history::{CaseRecord, HistoryError, HistoryStore};
use crate::kafka::{self, Properties};
use crate::metrics::Metrics;
#[cfg(feature = "kafka")]
use crate::outputs::kafka::INSTANCE_HEADER;
use crate::verdict::Verdict;

/// `[cluster]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterConfig {
    /// This instance's id; empty = the host name.
    #[serde(default)]
    pub instance_id: String,
    /// The verdict topic to replicate the other instances' cases from.
    #[serde(default)]
    pub history_topic: Option<HistoryTopicConfig>,
}

/// `[cluster.history_topic]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HistoryTopicConfig {
    /// Bootstrap servers, `host:port` comma-separated.
    pub brokers: String,
    /// The verdict topic the instances' Kafka outputs write.
    pub topic: String,
    /// librdkafka properties passed through (security, SASL, TLS).
    #[serde(default)]
    pub properties: Properties,
}

impl ClusterConfig {
    /// The configured id, else the host name, else `nightwatch`.
    pub fn instance(&self) -> String {
        let configured = self.instance_id.trim();
        if !configured.is_empty() {
            return configured.to_owned();
        }
        std::fs::read_to_string("/proc/sys/kernel/hostname")
            .ok()
            .or_else(|| std::env::var("HOSTNAME").ok())
            .map(|h| h.trim().to_owned())
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| "nightwatch".to_owned())
    }

    /// Problems of the section, as (key, message).
    pub fn problems(&self) -> Vec<(String, String)> {
        let mut p = Vec::new();
        if let Some(t) = &self.history_topic {
            if cfg!(not(feature = "kafka")) {
                p.push((
                    "cluster.history_topic".to_owned(),
                    crate::features::missing(crate::features::Feature::Kafka),
                ));
            }
            for (k, m) in kafka::problems(&t.brokers, &t.properties, kafka::CONSUMER_RESERVED) {
                p.push((format!("cluster.history_topic.{k}"), m));
            }
            if t.topic.trim().is_empty() {
                p.push((
                    "cluster.history_topic.topic".to_owned(),
                    "must not be empty".to_owned(),
                ));
            }
        }
        p
    }
}

/// Why history replication could not start.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error("cluster.history_topic ({brokers}/{topic}): {reason}")]
    Consumer {
        brokers: String,
        topic: String,
        reason: String,
    },
    #[error("cluster.history_topic is set but the case history is disabled")]
    NoHistory,
}

/// What became of one replicated verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Absorbed {
    /// Recorded into the history store.
    Recorded,
    /// This instance's own verdict.
    Own,
    /// Not newer than the stored version of its case.
    Stale,
}

impl Absorbed {
    #[cfg(feature = "kafka")]
    fn label(self) -> &'static str {
        match self {
            Absorbed::Recorded => crate::metrics::kafka::cluster::RECORDED,
            Absorbed::Own => crate::metrics::kafka::cluster::OWN,
            Absorbed::Stale => crate::metrics::kafka::cluster::STALE,
        }
    }
}

/// Records a foreign verdict into `history` unless the stored case is as new or newer.
pub fn absorb(history: &dyn HistoryStore, v: &Verdict) -> Result<Absorbed, HistoryError> {
    let stored = history.case(&v.case_id)?;
    if stored.as_ref().is_some_and(|s| s.version >= v.version) {
        return Ok(Absorbed::Stale);
    }
    let fresh = CaseRecord::from_verdict(v);
    let record = match stored {
        // Where the case opened and what of it is already stored stay as first recorded.
        Some(s) => CaseRecord {
            opened_at: s.opened_at,
            events_stored: s.events_stored,
            ..fresh
        },
        None => fresh,
    };
    history.record(&record, v, &[])?;
    Ok(Absorbed::Recorded)
}

/// Starts history replication when `[cluster.history_topic]` is set; the task ends when `stop`
/// fires, after committing what it recorded.
pub fn spawn(
    cfg: &ClusterConfig,
    history: Option<Arc<dyn HistoryStore>>,
    stop: CancellationToken,
    metrics: Arc<Metrics>,
) -> Result<Option<JoinHandle<()>>, ClusterError> {
    let Some(topic_cfg) = cfg.history_topic.clone() else {
        return Ok(None);
    };
    let history = history.ok_or(ClusterError::NoHistory)?;
    start_replication(cfg, topic_cfg, history, stop, metrics).map(Some)
}

/// Without the `kafka` feature there is nothing to replicate with (validation refuses the
/// section first; a caller that skipped it fails here).
#[cfg(not(feature = "kafka"))]
fn start_replication(
    _cfg: &ClusterConfig,
    topic_cfg: HistoryTopicConfig,
    _history: Arc<dyn HistoryStore>,
    _stop: CancellationToken,
    _metrics: Arc<Metrics>,
) -> Result<JoinHandle<()>, ClusterError> {
    Err(ClusterError::Consumer {
        brokers: topic_cfg.brokers,
        topic: topic_cfg.topic,
        reason: crate::features::missing(crate::features::Feature::Kafka),
    })
}

#[cfg(feature = "kafka")]
fn start_replication(
    cfg: &ClusterConfig,
    topic_cfg: HistoryTopicConfig,
    history: Arc<dyn HistoryStore>,
    stop: CancellationToken,
    metrics: Arc<Metrics>,
) -> Result<JoinHandle<()>, ClusterError> {
    let instance = cfg.instance();
    let failed = |reason: String| ClusterError::Consumer {
        brokers: topic_cfg.brokers.clone(),
        topic: topic_cfg.topic.clone(),
        reason,
    };
    let mut fixed = vec![
        ("group.id", format!("nightwatch-history-{instance}")),
        ("enable.auto.commit", "true".to_owned()),
        ("enable.auto.offset.store", "false".to_owned()),
        ("auto.offset.reset", "earliest".to_owned()),
    ];
    if topic_cfg.properties.get("client.id").is_none() {
        fixed.push(("client.id", format!("nightwatch-history-{instance}")));
    }
    let consumer: StreamConsumer =
        kafka::client_config(&topic_cfg.brokers, &topic_cfg.properties, &fixed)
            .create()
            .map_err(|e| failed(e.to_string()))?;
    consumer
        .subscribe(&[topic_cfg.topic.as_str()])
        .map_err(|e| failed(e.to_string()))?;
    for result in crate::metrics::kafka::cluster::ALL {
        metrics.kafka.cluster_verdicts.with_label_values(&[result]);
    }
    tracing::info!(instance = %instance, brokers = %topic_cfg.brokers, topic = %topic_cfg.topic, "replicating the other instances' cases from the verdict topic");
    Ok(tokio::spawn(replicate(
        consumer, instance, history, stop, metrics,
    )))
}

#[cfg(feature = "kafka")]
async fn replicate(
    consumer: StreamConsumer,
    instance: String,
    history: Arc<dyn HistoryStore>,
    stop: CancellationToken,
    metrics: Arc<Metrics>,
) {
    let mut failures = 0u64;
    loop {
        let message = tokio::select! {
            _ = stop.cancelled() => break,
            m = consumer.recv() => m,
        };
        let m = match message {
            Ok(m) => m,
            Err(e) => {
                metrics
                    .kafka
                    .errors
                    .with_label_values(&[crate::metrics::kafka::error::CONSUME])
                    .inc();
                tracing::debug!(error = %e, "history replication: kafka consume error");
                continue;
            }
        };
        let own = m.headers().is_some_and(|h| {
            h.iter()
                .any(|h| h.key == INSTANCE_HEADER && h.value == Some(instance.as_bytes()))
        });
        let outcome = if own {
            Ok(Absorbed::Own)
        } else {
            match serde_json::from_slice::<Verdict>(m.payload().unwrap_or_default()) {
                Ok(v) => {
                    let h = history.clone();
                    match tokio::task::spawn_blocking(move || absorb(h.as_ref(), &v)).await {
                        Ok(r) => r.map_err(|e| e.to_string()),
                        Err(e) => Err(e.to_string()),
                    }
                }
                Err(e) => {
                    // Not a verdict: skipped (counted), never retried.
                    metrics
                        .kafka
                        .cluster_verdicts
                        .with_label_values(&[crate::metrics::kafka::cluster::INVALID])
                        .inc();
                    tracing::warn!(topic = m.topic(), partition = m.partition(), offset = m.offset(), error = %e, "history replication: a message on the verdict topic is not a verdict; skipped");
                    store(&consumer, m.topic(), m.partition(), m.offset());
                    continue;
                }
            }
        };
        match outcome {
            Ok(a) => {
                failures = 0;
                metrics
                    .kafka
                    .cluster_verdicts
                    .with_label_values(&[a.label()])
                    .inc();
                store(&consumer, m.topic(), m.partition(), m.offset());
            }
            Err(e) => {
                // The offset is not stored: the verdict is read again after a restart. Reading
                // on keeps the other cases flowing; the failure is counted.
                failures += 1;
                metrics
                    .kafka
                    .cluster_verdicts
                    .with_label_values(&[crate::metrics::kafka::cluster::FAILED])
                    .inc();
                if failures == 1 || failures.is_multiple_of(100) {
                    tracing::warn!(error = %e, consecutive = failures, "history replication: recording a verdict failed");
                }
            }
        }
    }
    if let Err(e) = consumer.commit_consumer_state(rdkafka::consumer::CommitMode::Sync) {
        tracing::debug!(error = %e, "history replication: final commit");
    }
    consumer.unsubscribe();
}

/// Stores the offset after `offset` (the background commit sends it).
#[cfg(feature = "kafka")]
fn store(consumer: &StreamConsumer, topic: &str, partition: i32, offset: i64) {
    let mut tpl = TopicPartitionList::new();
    let stored = tpl
        .add_partition_offset(topic, partition, Offset::Offset(offset + 1))
        .and_then(|()| consumer.store_offsets(&tpl));
    if let Err(e) = stored {
        tracing::debug!(topic, partition, offset, error = %e, "history replication: offset not stored");
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests;
