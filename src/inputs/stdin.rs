//! The `stdin` input: NDJSON on standard input, one event per non-empty line.

use std::sync::Arc;

use chrono::Utc;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio_util::sync::CancellationToken;

use super::{Payload, RawRecord};
use crate::event::Origin;
use crate::normalize::Format;
use crate::pipeline::ack::Ack;
use crate::pipeline::channel::Sender;

/// Reads standard input until end of file or shutdown. Returns the number of records sent.
pub async fn run(
    name: Arc<str>,
    out: Sender<RawRecord>,
    shutdown: CancellationToken,
) -> std::io::Result<u64> {
    let source: Arc<str> = Arc::from("stdin");
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    let mut index = 0u64;
    loop {
        let line = tokio::select! {
            _ = shutdown.cancelled() => break,
            line = lines.next_line() => line?,
        };
        let Some(line) = line else { break };
        if line.trim().is_empty() {
            continue;
        }
        let record = RawRecord {
            origin: Origin {
                input: name.clone(),
                source: source.clone(),
                index,
            },
            received: Utc::now(),
            payload: Payload::Line {
                format: Format::Json,
                line,
            },
            ack: Ack::none(),
        };
        index += 1;
        if out.send(record).await.is_err() {
            break;
        }
    }
    Ok(index)
}
