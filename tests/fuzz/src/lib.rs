//! Shared scaffolding for the fuzz targets: a raw record with a fixed origin and receive time,
//! so every target drives the parsers through the same `normalize::parse` seam the daemon uses.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use nightwatch::event::Origin;
use nightwatch::normalize::{Payload, RawRecord};
use nightwatch::flow::ack::Ack;

/// A record as an input would frame it, holding `payload`.
pub fn record(payload: Payload) -> RawRecord {
    RawRecord {
        origin: Origin {
            input: Arc::from("fuzz"),
            source: Arc::from("fuzz-input"),
            index: 0,
        },
        received: DateTime::<Utc>::UNIX_EPOCH,
        payload,
        ack: Ack::none(),
    }
}
