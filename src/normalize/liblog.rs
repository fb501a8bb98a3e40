//! Log records of the libraries we parse with, kept out of the daemon's log and turned into
//! positioned errors.
//!
//! The `evtx` crate reports damage it recovers from (`Read incorrect amount of data …`,
//! `Broken record`) through the `log` crate, with no file or record. [`install`] sets the
//! process's `log` logger to a bridge that hands every other crate's records to `tracing` (as
//! `tracing-log` does) but routes the `evtx` crate's WARN/ERROR records into a per-thread
//! [`Capture`]: [`super::evtx::parse_chunk`] opens one around each record it decodes and turns
//! what was captured into an error naming the file, chunk and record. A record the library
//! logs about outside any capture goes to `tracing` at debug with its target, never at warn.

use std::cell::RefCell;

use tracing::level_filters::LevelFilter;
use tracing_log::AsTrace;

/// Messages kept per capture (the rest are counted).
const MAX_MESSAGES: usize = 4;
/// Characters kept of one library message.
const MAX_MESSAGE_CHARS: usize = 300;

thread_local! {
    static CAPTURE: RefCell<Option<Captured>> = const { RefCell::new(None) };
}

/// What a library logged during a [`Capture`].
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Captured {
    /// The first messages, each cut to a bounded length.
    pub messages: Vec<String>,
    /// Messages logged in all.
    pub count: usize,
}

impl Captured {
    /// One line for an error reason: the messages, and how many more there were.
    pub fn reason(&self) -> String {
        let mut s = self.messages.join("; ");
        if self.count > self.messages.len() {
            s.push_str(&format!("; and {} more", self.count - self.messages.len()));
        }
        s
    }
}

/// Collects the `evtx` crate's WARN/ERROR records logged on this thread until [`Capture::finish`]
/// (or drop). Captures do not nest: opening one ends any open on the thread.
pub struct Capture(());

impl Capture {
    pub fn start() -> Self {
        CAPTURE.with(|c| *c.borrow_mut() = Some(Captured::default()));
        Capture(())
    }

    /// Ends the capture; `None` when nothing was logged.
    pub fn finish(self) -> Option<Captured> {
        CAPTURE
            .with(|c| c.borrow_mut().take())
            .filter(|c| c.count > 0)
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        CAPTURE.with(|c| c.borrow_mut().take());
    }
}

fn is_captured_library(target: &str) -> bool {
    target == "evtx" || target.starts_with("evtx::")
}

struct Bridge;

impl log::Log for Bridge {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        (is_captured_library(metadata.target()) && metadata.level() <= log::Level::Warn)
            || metadata.level().as_trace() <= LevelFilter::current()
    }

    fn log(&self, record: &log::Record<'_>) {
        if !self.enabled(record.metadata()) {
            return;
        }
        if !is_captured_library(record.target()) {
            let _ = tracing_log::format_trace(record);
            return;
        }
        let captured = CAPTURE.with(|c| match c.borrow_mut().as_mut() {
            Some(cap) => {
                cap.count += 1;
                if cap.messages.len() < MAX_MESSAGES {
                    let text = record.args().to_string();
                    cap.messages
                        .push(text.chars().take(MAX_MESSAGE_CHARS).collect());
                }
                true
            }
            None => false,
        });
        if !captured {
            tracing::debug!(library = record.target(), message = %record.args(), "parser library message outside a record");
        }
    }

    fn flush(&self) {}
}

static BRIDGE: Bridge = Bridge;

/// Installs the bridge as the process's `log` logger (once; later calls only raise the `log`
/// max level to what the current `tracing` subscriber enables). Call it after setting the
/// `tracing` subscriber. When another `log` logger was set first, the library records go
/// there instead.
pub fn install() {
    let _ = log::set_logger(&BRIDGE);
    let tracing_max = match LevelFilter::current().into_level() {
        None => log::LevelFilter::Off,
        Some(tracing::Level::ERROR) => log::LevelFilter::Error,
        Some(tracing::Level::WARN) => log::LevelFilter::Warn,
        Some(tracing::Level::INFO) => log::LevelFilter::Info,
        Some(tracing::Level::DEBUG) => log::LevelFilter::Debug,
        Some(tracing::Level::TRACE) => log::LevelFilter::Trace,
    };
    log::set_max_level(tracing_max.max(log::LevelFilter::Warn));
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn the_evtx_crates_records_are_captured_per_thread_and_bounded() {
        install();
        let cap = Capture::start();
        for i in 0..6 {
            log::warn!(target: "evtx::binxml::tokens", "damaged {i} {}", "x".repeat(1000));
        }
        log::warn!(target: "sled::tree", "not captured");
        let got = cap.finish().unwrap();
        assert_eq!(got.count, 6);
        assert_eq!(got.messages.len(), MAX_MESSAGES);
        assert!(got.messages[0].starts_with("damaged 0"));
        assert!(got.messages[0].chars().count() <= MAX_MESSAGE_CHARS);
        assert!(got.reason().ends_with("; and 2 more"));
        // Nothing logged: no capture result; and records on another thread are not seen.
        let cap = Capture::start();
        std::thread::spawn(|| log::error!(target: "evtx", "Broken record"))
            .join()
            .unwrap();
        assert_eq!(cap.finish(), None);
    }
}
