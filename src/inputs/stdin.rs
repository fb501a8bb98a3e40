//! The `stdin` input: NDJSON on standard input, one event per non-empty line. Lines longer
//! than `max_line_bytes` are cut to it, marked and counted ([`super::lines`]); memory stays
//! bounded however long a line is.

use std::sync::Arc;

use chrono::Utc;
use serde::Deserialize;
use tokio::io::{AsyncBufRead, BufReader};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::lines::{self, Cuts, DEFAULT_MAX_LINE_BYTES};
use crate::base::Problem;
use crate::event::Origin;
use crate::flow::ack::Ack;
use crate::flow::channel::Sender;
use crate::metrics::Metrics;
use crate::normalize::RawRecord;
use crate::normalize::{Format, Position};

/// `[inputs.NAME] type = "stdin"`: NDJSON on standard input (at most one such input).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StdinInputConfig {
    /// Longer lines are cut to this many bytes and marked.
    #[serde(default = "default_max_line_bytes")]
    pub max_line_bytes: usize,
}

fn default_max_line_bytes() -> usize {
    DEFAULT_MAX_LINE_BYTES
}

impl StdinInputConfig {
    /// Every problem of the table at key path `table`.
    pub fn problems(&self, table: &str) -> Vec<Problem> {
        crate::base::at_least_one(table, &[("max_line_bytes", self.max_line_bytes as u64)])
    }
}

/// Starts a `stdin` input; the daemon does not wait for it.
pub fn start(name: Arc<str>, cfg: &StdinInputConfig, w: &super::Wiring) -> Option<JoinHandle<()>> {
    let (max_line_bytes, w) = (cfg.max_line_bytes, w.clone());
    tokio::spawn(async move {
        match run(name.clone(), max_line_bytes, w.raw, w.stop, &w.metrics).await {
            Ok(n) => tracing::info!(input = %name, records = n, "stdin input finished"),
            Err(e) => tracing::error!(input = %name, error = %e, "stdin input failed"),
        }
    });
    None
}

/// Reads standard input until end of file or shutdown. Returns the number of records sent.
pub async fn run(
    name: Arc<str>,
    max_line_bytes: usize,
    out: Sender<RawRecord>,
    shutdown: CancellationToken,
    metrics: &Metrics,
) -> std::io::Result<u64> {
    let cuts = Cuts::new(
        name.clone(),
        max_line_bytes,
        Some(metrics.input.truncated.with_label_values(&[&name])),
    );
    read(
        name,
        BufReader::new(tokio::io::stdin()),
        max_line_bytes,
        cuts,
        out,
        shutdown,
    )
    .await
}

/// [`run`] over any reader.
async fn read(
    name: Arc<str>,
    mut reader: impl AsyncBufRead + Unpin,
    max_line_bytes: usize,
    mut cuts: Cuts,
    out: Sender<RawRecord>,
    shutdown: CancellationToken,
) -> std::io::Result<u64> {
    let source: Arc<str> = Arc::from("stdin");
    let keep = lines::kept_bytes(max_line_bytes);
    let mut kept = Vec::new();
    let mut index = 0u64;
    let mut line_no = 0u64;
    loop {
        let len = tokio::select! {
            _ = shutdown.cancelled() => break,
            len = lines::read_line_async(&mut reader, &mut kept, keep) => len?,
        };
        let Some(len) = len else { break };
        line_no += 1;
        let Some(framed) = lines::frame(Format::Json, &kept, len, max_line_bytes, &mut None) else {
            continue;
        };
        if let Some(original) = framed.cut_from {
            cuts.note(&source, Position::Line(line_no), original);
        }
        let record = RawRecord {
            origin: Origin {
                input: name.clone(),
                source: source.clone(),
                index,
            },
            received: Utc::now(),
            payload: framed.payload,
            ack: Ack::none(),
        };
        index += 1;
        if out.send(record).await.is_err() {
            break;
        }
    }
    Ok(index)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::flow::channel::bounded;
    use crate::normalize::Payload;

    #[tokio::test]
    async fn a_long_line_is_cut_marked_and_counted() {
        let m = Metrics::new().unwrap();
        let (tx, rx) = bounded("raw", 16, &m);
        let mut data = b"{\"a\":1}\n\n".to_vec();
        data.extend(std::iter::repeat_n(b'x', 100_000));
        data.extend(b"\n{\"b\":2}");
        let name = "pipe";
        let counter = m.input.truncated.with_label_values(&[name]);
        let cuts = Cuts::new(Arc::from(name), 1000, Some(counter.clone()));
        let n = read(
            Arc::from(name),
            BufReader::with_capacity(4096, data.as_slice()),
            1000,
            cuts,
            tx,
            CancellationToken::new(),
        )
        .await
        .unwrap();
        assert_eq!(n, 3);
        let mut payloads = Vec::new();
        while let Ok(r) = rx.recv().await {
            payloads.push((r.origin.index, r.payload));
        }
        assert_eq!(counter.get(), 1);
        let (
            index,
            Payload::Truncated {
                inner,
                original_bytes,
            },
        ) = &payloads[1]
        else {
            panic!("{payloads:?}");
        };
        assert_eq!((*index, *original_bytes), (1, 100_000));
        assert!(matches!(&**inner, Payload::Line { line, .. } if line.len() == 1000));
        assert!(matches!(&payloads[2].1, Payload::Line { line, .. } if line == "{\"b\":2}"));
    }
}
