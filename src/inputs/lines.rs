//! Line framing with a size cap, shared by the line-framed inputs (file, tail, stdin).
//!
//! A line is read with bounded memory whatever its length: at most `max + 2` bytes of it are
//! kept (room for a `\r\n` ending), the rest is consumed and only counted. A line whose content
//! is longer than `max` bytes is **cut**, not dropped (a SOC wants the record): its first `max`
//! bytes (back to a UTF-8 boundary) are framed as usual and wrapped in [`Payload::Truncated`],
//! so its events carry [`TRUNCATED_FIELD`](crate::normalize::TRUNCATED_FIELD) = the line's original length and a parse error on it
//! says the line was cut. Each cut is counted in `nightwatch_input_records_truncated_total{input}`
//! and logged at warn on the 1st, 2nd, 4th, 8th, … cut of an input ([`Cuts`]).

use std::io::{self, BufRead};
use std::sync::Arc;

use tokio::io::{AsyncBufRead, AsyncBufReadExt};

use super::line_payload;
use crate::normalize::Payload;
use crate::normalize::weblog::W3cFields;
use crate::normalize::{Format, Position};

/// Default cap of one line of the file and stdin inputs, in bytes (the tail input's
/// `max_line_bytes` keeps its own default of 64 KiB).
pub const DEFAULT_MAX_LINE_BYTES: usize = 1 << 20;

/// How much of a line is kept in memory for a cap of `max` content bytes.
pub fn kept_bytes(max: usize) -> usize {
    max.saturating_add(2)
}

/// Appends the next piece of a line from `available` to `kept` (never growing it past
/// `keep`). Returns how many bytes of `available` belong to the line and whether they end it
/// (a newline was found; the newline is included in the count).
pub fn take_segment(available: &[u8], kept: &mut Vec<u8>, keep: usize) -> (usize, bool) {
    let (len, complete) = match memchr::memchr(b'\n', available) {
        Some(i) => (i + 1, true),
        None => (available.len(), false),
    };
    let room = keep.saturating_sub(kept.len()).min(len);
    kept.extend_from_slice(&available[..room]);
    (len, complete)
}

/// The length of a line read: bytes in all (its newline included) and whether it ended in a
/// newline (the last line of an input may not).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LineLen {
    pub total: u64,
    pub newline: bool,
}

impl LineLen {
    /// Adds a segment from [`take_segment`]; `Some` once the line is complete.
    fn add(&mut self, used: usize, complete: bool) -> Option<LineLen> {
        self.total += used as u64;
        self.newline = complete;
        complete.then_some(*self)
    }

    /// At end of input: the unterminated last line, if any.
    fn at_end(self) -> Option<LineLen> {
        (self.total > 0).then_some(self)
    }
}

/// Reads one line into `kept` (cleared first; at most `keep` bytes of it). Returns the line's
/// length, or `None` at end of input.
pub fn read_line(
    reader: &mut impl BufRead,
    kept: &mut Vec<u8>,
    keep: usize,
) -> io::Result<Option<LineLen>> {
    kept.clear();
    let mut len = LineLen {
        total: 0,
        newline: false,
    };
    loop {
        let available = match reader.fill_buf() {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if available.is_empty() {
            return Ok(len.at_end());
        }
        let (used, complete) = take_segment(available, kept, keep);
        reader.consume(used);
        if let Some(line) = len.add(used, complete) {
            return Ok(Some(line));
        }
    }
}

/// [`read_line`] for an asynchronous reader (standard input).
pub async fn read_line_async(
    reader: &mut (impl AsyncBufRead + Unpin),
    kept: &mut Vec<u8>,
    keep: usize,
) -> io::Result<Option<LineLen>> {
    kept.clear();
    let mut len = LineLen {
        total: 0,
        newline: false,
    };
    loop {
        let available = reader.fill_buf().await?;
        if available.is_empty() {
            return Ok(len.at_end());
        }
        let (used, complete) = take_segment(available, kept, keep);
        reader.consume(used);
        if let Some(line) = len.add(used, complete) {
            return Ok(Some(line));
        }
    }
}

/// A framed line: its payload, and the line's original content length when it was cut.
#[derive(Debug)]
pub struct Framed {
    pub payload: Payload,
    pub cut_from: Option<u64>,
}

/// Frames one line of length `len` of which `kept` holds the first bytes. `None` for a line
/// that is empty once trimmed. A line whose content (without its line ending) exceeds `max`
/// bytes is cut to `max` (at a UTF-8 boundary) and wrapped in [`Payload::Truncated`].
pub fn frame(
    format: Format,
    kept: &[u8],
    len: LineLen,
    max: usize,
    w3c: &mut Option<Arc<W3cFields>>,
) -> Option<Framed> {
    let (content, content_len) = if kept.len() as u64 == len.total {
        let c = kept.strip_suffix(b"\n").unwrap_or(kept);
        let c = c.strip_suffix(b"\r").unwrap_or(c);
        (c, c.len() as u64)
    } else {
        // Only a prefix is kept; the newline (if any) is in the part consumed.
        (kept, len.total - u64::from(len.newline))
    };
    let cut = content_len > max as u64;
    let bytes = if cut {
        utf8_prefix(&content[..max.min(content.len())])
    } else {
        content
    };
    let text = String::from_utf8_lossy(bytes);
    let line = text.trim().trim_start_matches('\u{feff}');
    if line.is_empty() {
        return None;
    }
    let payload = line_payload(format, line, w3c);
    Some(if cut {
        Framed {
            payload: Payload::Truncated {
                inner: Box::new(payload),
                original_bytes: content_len,
            },
            cut_from: Some(content_len),
        }
    } else {
        Framed {
            payload,
            cut_from: None,
        }
    })
}

/// The longest prefix of `bytes` that does not end inside a UTF-8 sequence.
fn utf8_prefix(bytes: &[u8]) -> &[u8] {
    match std::str::from_utf8(bytes) {
        Err(e) if e.error_len().is_none() => &bytes[..e.valid_up_to()],
        _ => bytes,
    }
}

/// Counts and logs the lines an input cut: every cut in the metric, the 1st, 2nd, 4th, 8th, …
/// in the log (a flood of long lines cannot flood the log).
#[derive(Debug)]
pub struct Cuts {
    input: Arc<str>,
    max: usize,
    counter: Option<prometheus::IntCounter>,
    seen: u64,
}

impl Cuts {
    /// `counter`: the input's `nightwatch_input_records_truncated_total` series (none for the
    /// one-shot commands, which report the count in their summary).
    pub fn new(input: Arc<str>, max: usize, counter: Option<prometheus::IntCounter>) -> Self {
        Self {
            input,
            max,
            counter,
            seen: 0,
        }
    }

    /// Records one cut line: `source` and `position` say where, `original` how long it was.
    pub fn note(&mut self, source: &str, position: Position, original: u64) {
        self.seen += 1;
        if let Some(c) = &self.counter {
            c.inc();
        }
        if self.seen.is_power_of_two() {
            tracing::warn!(
                input = %self.input,
                source = %source,
                position = %position,
                original_bytes = original,
                max_line_bytes = self.max,
                cut = self.seen,
                "line longer than max_line_bytes: cut to the limit and marked (logged on the 1st, 2nd, 4th, … cut)"
            );
        }
    }

    /// Lines cut so far.
    pub fn count(&self) -> u64 {
        self.seen
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn ended(total: u64) -> LineLen {
        LineLen {
            total,
            newline: true,
        }
    }

    fn lines(data: &[u8], max: usize) -> Vec<(Vec<u8>, u64)> {
        let mut r = io::BufReader::with_capacity(7, data);
        let mut kept = Vec::new();
        let mut out = Vec::new();
        while let Some(len) = read_line(&mut r, &mut kept, kept_bytes(max)).unwrap() {
            assert!(kept.len() <= kept_bytes(max));
            assert_eq!(
                len.newline,
                kept.len() as u64 != len.total || kept.ends_with(b"\n")
            );
            out.push((kept.clone(), len.total));
        }
        out
    }

    #[test]
    fn long_lines_keep_a_bounded_prefix_and_their_full_length() {
        let mut data = b"short\n".to_vec();
        data.extend(std::iter::repeat_n(b'x', 1000));
        data.extend(b"\nlast");
        let got = lines(&data, 10);
        assert_eq!(got.len(), 3);
        assert_eq!(got[0], (b"short\n".to_vec(), 6));
        assert_eq!(got[1], (vec![b'x'; 12], 1001));
        assert_eq!(got[2], (b"last".to_vec(), 4));
    }

    #[test]
    fn frame_cuts_marks_and_keeps_utf8_whole() {
        let mut w3c = None;
        // Exactly at the cap (with a CRLF ending): not cut.
        let f = frame(Format::Text, b"0123456789\r\n", ended(12), 10, &mut w3c).unwrap();
        assert!(f.cut_from.is_none());
        assert!(matches!(f.payload, Payload::Line { ref line, .. } if line == "0123456789"));
        // One byte over: cut to 10 and marked with the content length.
        let f = frame(Format::Text, b"0123456789a\n", ended(12), 10, &mut w3c).unwrap();
        assert_eq!(f.cut_from, Some(11));
        let Payload::Truncated {
            inner,
            original_bytes,
        } = f.payload
        else {
            panic!("not marked");
        };
        assert_eq!(original_bytes, 11);
        assert!(matches!(*inner, Payload::Line { ref line, .. } if line == "0123456789"));
        // A prefix of a longer line: "ééééé" is 10 bytes; a cap of 5 cuts inside the 3rd é.
        let text = "éééééééé".as_bytes();
        let f = frame(Format::Text, &text[..7], ended(5001), 5, &mut w3c).unwrap();
        assert_eq!(f.cut_from, Some(5000));
        assert!(
            matches!(f.payload, Payload::Truncated { ref inner, .. } if matches!(**inner, Payload::Line { ref line, .. } if line == "éé"))
        );
        // Blank lines frame nothing, however long.
        assert!(frame(Format::Text, b"   ", ended(1 << 30), 2, &mut w3c).is_none());
    }

    #[tokio::test]
    async fn the_async_reader_frames_the_same_lines() {
        let mut data = vec![b'y'; 300];
        data.extend(b"\nok\n");
        let mut r = tokio::io::BufReader::with_capacity(16, data.as_slice());
        let mut kept = Vec::new();
        let first = read_line_async(&mut r, &mut kept, kept_bytes(8))
            .await
            .unwrap();
        assert_eq!((first, kept.len()), (Some(ended(301)), 10));
        let second = read_line_async(&mut r, &mut kept, kept_bytes(8))
            .await
            .unwrap();
        assert_eq!((second, kept.as_slice()), (Some(ended(3)), &b"ok\n"[..]));
        assert_eq!(read_line_async(&mut r, &mut kept, 10).await.unwrap(), None);
    }

    #[test]
    fn cuts_are_counted_every_time() {
        let m = crate::metrics::Metrics::new().unwrap();
        let name = "files";
        let counter = m.input.truncated.with_label_values(&[name]);
        let mut cuts = Cuts::new(Arc::from(name), 10, Some(counter.clone()));
        for i in 0..5 {
            cuts.note("a.log", Position::Line(i), 100);
        }
        assert_eq!((cuts.count(), counter.get()), (5, 5));
    }
}
