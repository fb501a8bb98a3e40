//! Bounded, metered channels: the only kind of edge in the stage graph.
//!
//! Every edge has a fixed capacity from config. A full channel makes `send` wait, which makes
//! the upstream stage wait, all the way back to the inputs, which then stop reading: memory is
//! bounded by construction. Channels are multi-producer multi-consumer so a CPU stage can run
//! as a pool of blocking workers sharing one queue. The depth gauge is updated on every send
//! and receive, so `/metrics` shows where work is queueing.

use std::time::Duration;

use prometheus::IntGauge;

use crate::metrics::Metrics;

/// The receiving side has gone away (or, for receivers, every sender has).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("channel closed")]
pub struct Closed;

/// Creates a bounded channel named `name` (the `channel` label of its metrics).
pub fn bounded<T>(name: &str, capacity: usize, metrics: &Metrics) -> (Sender<T>, Receiver<T>) {
    let (tx, rx) = async_channel::bounded(capacity.max(1));
    let depth = metrics.channels.depth.with_label_values(&[name]);
    metrics
        .channels
        .capacity
        .with_label_values(&[name])
        .set(capacity.max(1) as i64);
    (
        Sender {
            inner: tx,
            depth: depth.clone(),
        },
        Receiver { inner: rx, depth },
    )
}

pub struct Sender<T> {
    inner: async_channel::Sender<T>,
    depth: IntGauge,
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            depth: self.depth.clone(),
        }
    }
}

impl<T> Sender<T> {
    /// Sends, waiting while the channel is full.
    pub async fn send(&self, item: T) -> Result<(), Closed> {
        self.inner.send(item).await.map_err(|_| Closed)?;
        self.depth.set(self.inner.len() as i64);
        Ok(())
    }

    /// Sends from a blocking thread (a worker pool or a file reader), waiting while full.
    pub fn send_blocking(&self, item: T) -> Result<(), Closed> {
        self.inner.send_blocking(item).map_err(|_| Closed)?;
        self.depth.set(self.inner.len() as i64);
        Ok(())
    }

    /// Sends only if there is room now: `Ok(false)` when the channel is full (for inputs that
    /// must not wait, like UDP, and count what they drop instead).
    pub fn try_send(&self, item: T) -> Result<bool, Closed> {
        match self.inner.try_send(item) {
            Ok(()) => {
                self.depth.set(self.inner.len() as i64);
                Ok(true)
            }
            Err(async_channel::TrySendError::Full(_)) => Ok(false),
            Err(async_channel::TrySendError::Closed(_)) => Err(Closed),
        }
    }

    /// True once every receiver is gone.
    pub fn is_closed(&self) -> bool {
        self.inner.is_closed()
    }
}

pub struct Receiver<T> {
    inner: async_channel::Receiver<T>,
    depth: IntGauge,
}

impl<T> Clone for Receiver<T> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            depth: self.depth.clone(),
        }
    }
}

impl<T> Receiver<T> {
    /// Receives the next item; `Err(Closed)` once the channel is empty and every sender gone.
    pub async fn recv(&self) -> Result<T, Closed> {
        let item = self.inner.recv().await.map_err(|_| Closed)?;
        self.depth.set(self.inner.len() as i64);
        Ok(item)
    }

    /// Receives from a blocking thread.
    pub fn recv_blocking(&self) -> Result<T, Closed> {
        let item = self.inner.recv_blocking().map_err(|_| Closed)?;
        self.depth.set(self.inner.len() as i64);
        Ok(item)
    }

    /// Receives from a blocking thread inside a Tokio runtime, waiting at most `timeout`:
    /// `Ok(None)` when nothing came in time.
    pub fn recv_blocking_timeout(&self, timeout: Duration) -> Result<Option<T>, Closed> {
        let handle = tokio::runtime::Handle::current();
        match handle.block_on(tokio::time::timeout(timeout, self.inner.recv())) {
            Ok(Ok(item)) => {
                self.depth.set(self.inner.len() as i64);
                Ok(Some(item))
            }
            Ok(Err(_)) => Err(Closed),
            Err(_) => Ok(None),
        }
    }

    pub fn len(&self) -> usize {
        self.inner.len()
    }

    pub fn is_empty(&self) -> bool {
        self.inner.is_empty()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn full_channel_blocks_sender_and_depth_is_reported() {
        let m = Metrics::new().unwrap();
        let name = "t";
        let (tx, rx) = bounded::<u32>(name, 2, &m);
        tx.send(1).await.unwrap();
        tx.send(2).await.unwrap();
        assert_eq!(m.channels.depth.with_label_values(&[name]).get(), 2);
        // The third send must wait until a receive frees a slot.
        let blocked = tokio::time::timeout(Duration::from_millis(50), tx.send(3)).await;
        assert!(blocked.is_err(), "send on a full channel must wait");
        assert_eq!(rx.recv().await.unwrap(), 1);
        tx.send(3).await.unwrap();
        assert_eq!(rx.len(), 2);
    }

    #[tokio::test]
    async fn closes_when_all_senders_drop() {
        let m = Metrics::new().unwrap();
        let (tx, rx) = bounded::<u32>("t", 4, &m);
        tx.send(9).await.unwrap();
        drop(tx);
        assert_eq!(rx.recv().await, Ok(9));
        assert_eq!(rx.recv().await, Err(Closed));
    }
}
