//! Raw text lines: one event per non-empty line, the line kept whole in the field `message`.
//!
//! This is the fallback for every line-oriented source whose shape nightwatch does not know
//! (application logs, debug logs, tool output) and for syslog lines no parser recognized. The
//! event has no Sigma logsource (no product, category or service), so only logsource-less
//! keyword rules can apply to it; `time` is the receive time and `host` is unset.
//!
//! Indicator extraction (IPs, domains, hashes, URLs — the enrichment stage) reads the `message`
//! field of these events; this module deliberately extracts nothing itself.

use chrono::{DateTime, Utc};

use super::{Format, ParseError, Position, excerpt};
use crate::event::{Event, Fields, Origin};

/// Parses one line of raw text. Fails only when the line is empty or whitespace.
pub fn parse_line(
    line: &str,
    origin: Origin,
    received: DateTime<Utc>,
) -> Result<Event, ParseError> {
    let line = trim_line(line);
    if line.trim().is_empty() {
        return Err(empty_line(Format::Text, &origin, line));
    }
    Ok(event(line, origin, received))
}

/// The raw-text event for a line known to be non-empty (also the syslog parser's fallback).
pub(crate) fn event(line: &str, origin: Origin, received: DateTime<Utc>) -> Event {
    let mut fields = Fields::new();
    fields.insert("message", line);
    Event::new(origin, received, fields)
}

/// Strips a trailing line break (`\n`, `\r\n`) and a leading UTF-8 byte-order mark.
pub(crate) fn trim_line(line: &str) -> &str {
    let line = line.strip_prefix('\u{FEFF}').unwrap_or(line);
    line.trim_end_matches(['\n', '\r'])
}

/// The error every line parser returns for an empty or whitespace-only line.
pub(crate) fn empty_line(format: Format, origin: &Origin, line: &str) -> ParseError {
    ParseError {
        format,
        input: origin.input.clone(),
        file: origin.source.clone(),
        position: Position::Record(origin.index),
        reason: "empty line".to_owned(),
        raw: (!line.is_empty()).then(|| excerpt(line)),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::sync::Arc;

    fn origin(i: u64) -> Origin {
        Origin {
            input: Arc::from("test"),
            source: Arc::from("t.log"),
            index: i,
        }
    }

    #[test]
    fn line_becomes_message() {
        let now = Utc::now();
        let e = parse_line("09/14 12:33:00 [MISC] DbFlag\r\n", origin(3), now).unwrap();
        assert_eq!(
            e.fields.get_str("message").as_deref(),
            Some("09/14 12:33:00 [MISC] DbFlag")
        );
        assert_eq!(e.time, now);
        assert!(e.logsource.product.is_none() && e.logsource.category.is_none());
        assert!(e.host.is_none());
    }

    #[test]
    fn empty_lines_are_errors_with_record_position() {
        for l in ["", "   ", "\r\n", "\t"] {
            let err = parse_line(l, origin(7), Utc::now()).unwrap_err();
            assert_eq!(err.position, Position::Record(7));
            assert_eq!(err.format, Format::Text);
        }
    }

    proptest! {
        #[test]
        fn never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let s = String::from_utf8_lossy(&bytes);
            let r = parse_line(&s, origin(0), Utc::now());
            prop_assert_eq!(r.is_err(), trim_line(&s).trim().is_empty());
        }
    }
}
