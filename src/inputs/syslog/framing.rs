//! Syslog TCP framing (RFC 6587) as a push parser with a hard memory bound.
//!
//! A [`Framer`] is fed the bytes of one connection in whatever chunks the socket hands over and
//! yields complete frames. The framing is chosen by the connection's first byte: a digit means
//! octet counting (`LEN SP MSG`), anything else non-transparent framing (one message per line).
//!
//! Limits, all tied to `max_message_bytes`:
//! * **Octet counting**: the length prefix may have at most as many digits as
//!   `max_message_bytes` has, and its value may not exceed it. The prefix is checked digit by
//!   digit, so `1` followed by megabytes of digits fails at the digit that crosses the cap,
//!   and a non-digit before the space fails at once ([`Invalid`]). Either way the stream
//!   cannot be resynchronized: the caller closes the connection.
//! * **Lines**: a line longer than `max_message_bytes` is dropped (not buffered) up to its
//!   newline and reported as [`Frame::Oversize`]; the connection goes on.
//!
//! So the framer never holds more than `max_message_bytes` bytes, whatever it is fed.

/// Why an octet-counted stream was given up (the connection is closed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Invalid {
    /// The length prefix has more digits than the maximum message size, or a larger value.
    LengthOverCap,
    /// Something other than a digit before the space, or no digit at all.
    BadLength,
}

impl Invalid {
    /// The bounded `reason` label of the connection it closes.
    pub fn reason(self) -> &'static str {
        match self {
            Invalid::LengthOverCap => "length_over_cap",
            Invalid::BadLength => "bad_length",
        }
    }
}

/// One result of feeding the framer.
#[derive(Debug, PartialEq, Eq)]
pub enum Frame<'a> {
    /// A complete message (framing removed; may be empty).
    Message(&'a [u8]),
    /// A line longer than the maximum was skipped to its newline.
    Oversize,
    /// The octet-counted stream is unusable from here on; close the connection.
    Invalid(Invalid),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Nothing received yet: the first byte picks the framing.
    Start,
    /// Octet counting, reading the length prefix.
    Length { len: usize, digits: usize },
    /// Octet counting, reading `remaining` more bytes of the message.
    Body { remaining: usize },
    /// Non-transparent framing, inside a line; `oversize` once it outgrew the maximum.
    Line { oversize: bool },
    /// An [`Invalid`] prefix was seen: everything else is ignored.
    Failed,
}

/// The frame parser of one connection.
#[derive(Debug)]
pub struct Framer {
    max: usize,
    max_digits: usize,
    state: State,
    frame: Vec<u8>,
    /// `frame` was handed out and must be cleared before the next byte goes in.
    emitted: bool,
}

impl Framer {
    /// A framer for messages of at most `max_message_bytes` bytes.
    pub fn new(max_message_bytes: usize) -> Self {
        let max = max_message_bytes.max(1);
        Framer {
            max,
            max_digits: max.ilog10() as usize + 1,
            state: State::Start,
            frame: Vec::new(),
            emitted: false,
        }
    }

    /// Bytes held for an incomplete frame (never more than `max_message_bytes`).
    pub fn buffered(&self) -> usize {
        if self.emitted { 0 } else { self.frame.len() }
    }

    /// Consumes bytes from the front of `input` until a frame is complete and returns it, or
    /// consumes all of `input` and returns `None` when more bytes are needed.
    pub fn next(&mut self, input: &mut &[u8]) -> Option<Frame<'_>> {
        if self.emitted {
            self.frame.clear();
            self.emitted = false;
        }
        loop {
            let (&first, _) = input.split_first()?;
            match self.state {
                State::Start => {
                    self.state = if first.is_ascii_digit() {
                        State::Length { len: 0, digits: 0 }
                    } else {
                        State::Line { oversize: false }
                    };
                }
                State::Failed => {
                    *input = &[];
                    return None;
                }
                State::Length { len, digits } => {
                    *input = &input[1..];
                    let (len, digits) = match first {
                        // A newline between frames (some senders add one) is skipped.
                        b'\r' | b'\n' if digits == 0 => continue,
                        b' ' if digits > 0 => {
                            self.state = State::Body { remaining: len };
                            if len == 0 {
                                return Some(self.emit());
                            }
                            continue;
                        }
                        b'0'..=b'9' => (
                            len.saturating_mul(10)
                                .saturating_add(usize::from(first - b'0')),
                            digits + 1,
                        ),
                        _ => return Some(self.fail(Invalid::BadLength)),
                    };
                    if digits > self.max_digits || len > self.max {
                        return Some(self.fail(Invalid::LengthOverCap));
                    }
                    self.state = State::Length { len, digits };
                }
                State::Body { remaining } => {
                    let take = remaining.min(input.len());
                    self.frame.extend_from_slice(&input[..take]);
                    *input = &input[take..];
                    if take == remaining {
                        return Some(self.emit());
                    }
                    self.state = State::Body {
                        remaining: remaining - take,
                    };
                }
                State::Line { oversize } => {
                    let (chunk, used, found) = match memchr::memchr(b'\n', input) {
                        Some(i) => (&input[..i], i + 1, true),
                        None => (*input, input.len(), false),
                    };
                    let oversize = oversize || self.frame.len() + chunk.len() > self.max;
                    if oversize {
                        self.frame.clear();
                    } else {
                        self.frame.extend_from_slice(chunk);
                    }
                    *input = &input[used..];
                    if found {
                        self.state = State::Line { oversize: false };
                        return Some(if oversize {
                            Frame::Oversize
                        } else {
                            self.emit()
                        });
                    }
                    self.state = State::Line { oversize };
                }
            }
        }
    }

    /// The end of the stream: the last line when it had no newline. An incomplete
    /// octet-counted frame is lost (the sender closed in its middle).
    pub fn finish(&mut self) -> Option<Frame<'_>> {
        if self.emitted {
            self.frame.clear();
            self.emitted = false;
        }
        match std::mem::replace(&mut self.state, State::Failed) {
            State::Line { oversize: true } => Some(Frame::Oversize),
            State::Line { oversize: false } if !self.frame.is_empty() => Some(self.emit()),
            _ => None,
        }
    }

    fn emit(&mut self) -> Frame<'_> {
        if matches!(self.state, State::Body { .. }) {
            self.state = State::Length { len: 0, digits: 0 };
        }
        self.emitted = true;
        Frame::Message(&self.frame)
    }

    fn fail(&mut self, why: Invalid) -> Frame<'static> {
        self.state = State::Failed;
        self.frame = Vec::new();
        Frame::Invalid(why)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// What a framer yields for `bytes` fed in chunks split at `cuts`, then EOF; `Err` holds
    /// the frames before an invalid prefix. Checks the memory bound after every step.
    fn frames(max: usize, bytes: &[u8], cuts: &[usize]) -> Result<Vec<Vec<u8>>, Invalid> {
        let mut f = Framer::new(max);
        let mut out = Vec::new();
        let push = |frame: Frame<'_>, out: &mut Vec<Vec<u8>>| match frame {
            Frame::Message(m) => {
                assert!(m.len() <= max, "{} > {max}", m.len());
                out.push(m.to_vec());
                Ok(())
            }
            Frame::Oversize => {
                out.push(b"<oversize>".to_vec());
                Ok(())
            }
            Frame::Invalid(why) => Err(why),
        };
        let mut start = 0;
        let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (bytes.len() + 1)).collect();
        cuts.sort_unstable();
        for end in cuts.into_iter().chain([bytes.len()]) {
            let mut chunk = &bytes[start..end.max(start)];
            start = end.max(start);
            while let Some(frame) = f.next(&mut chunk) {
                push(frame, &mut out)?;
                assert!(f.buffered() <= max);
            }
            assert!(chunk.is_empty());
            assert!(f.buffered() <= max, "{} > {max}", f.buffered());
            assert!(f.frame.capacity() <= 2 * max + 64, "{}", f.frame.capacity());
        }
        if let Some(frame) = f.finish() {
            push(frame, &mut out)?;
        }
        Ok(out)
    }

    #[test]
    fn octet_counted_frames_and_newlines_between_them() {
        let got = frames(64, b"5 hello\n11 hello world3 end", &[]).unwrap();
        assert_eq!(got, [&b"hello"[..], b"hello world", b"end"]);
        // Split anywhere, the same frames.
        for cut in 0..27 {
            let got = frames(64, b"5 hello\n11 hello world3 end", &[cut]).unwrap();
            assert_eq!(got, [&b"hello"[..], b"hello world", b"end"], "cut at {cut}");
        }
        assert_eq!(frames(64, b"0 5 hello", &[]).unwrap(), [&b""[..], b"hello"]);
        // An incomplete last frame is lost.
        assert_eq!(frames(64, b"5 hello9 cut", &[]).unwrap(), [b"hello"]);
    }

    #[test]
    fn a_length_prefix_over_the_cap_fails_at_the_digit_that_crosses_it() {
        // max 1000: four digits at most, value at most 1000.
        assert_eq!(frames(1000, b"1000 ", &[]), Ok(vec![]));
        assert_eq!(frames(1000, b"1001 x", &[]), Err(Invalid::LengthOverCap));
        assert_eq!(frames(1000, b"00001 x", &[]), Err(Invalid::LengthOverCap));
        let mut f = Framer::new(1000);
        let attack = [b"1".as_slice(), &[b'9'; 1 << 20]].concat();
        let mut input = attack.as_slice();
        assert_eq!(
            f.next(&mut input),
            Some(Frame::Invalid(Invalid::LengthOverCap))
        );
        assert_eq!(attack.len() - input.len(), 4, "stopped at the 4th digit");
        // Whatever follows is ignored, never buffered.
        assert_eq!(f.next(&mut &b"12 more"[..]), None);
        assert_eq!(f.buffered(), 0);
    }

    #[test]
    fn a_non_digit_in_the_length_prefix_fails_at_once() {
        let mut f = Framer::new(65_536);
        let attack = [b"1".as_slice(), &[b'x'; 1 << 20]].concat();
        let mut input = attack.as_slice();
        assert_eq!(f.next(&mut input), Some(Frame::Invalid(Invalid::BadLength)));
        assert_eq!(attack.len() - input.len(), 2);
        assert_eq!(frames(64, b"5 hello\n x", &[]), Err(Invalid::BadLength));
        assert_eq!(frames(64, b"3 abc-1 x", &[]), Err(Invalid::BadLength));
    }

    #[test]
    fn lines_longer_than_the_maximum_are_skipped_to_their_newline() {
        let long = [b"x".repeat(100), b"\nshort\r\n".to_vec(), b"y".repeat(65)].concat();
        for cut in [0, 1, 50, 99, 100, 101, 105, 170] {
            let got = frames(64, &long, &[cut, cut / 2]).unwrap();
            assert_eq!(
                got,
                [&b"<oversize>"[..], b"short\r", b"<oversize>"],
                "cut at {cut}"
            );
        }
        // Exactly the maximum fits; a last line without newline counts at EOF.
        let exact = [b"z".repeat(64), b"\nlast".to_vec()].concat();
        assert_eq!(
            frames(64, &exact, &[]).unwrap(),
            [b"z".repeat(64), b"last".to_vec()]
        );
    }

    /// Octet-counted encoding of messages.
    fn counted(msgs: &[Vec<u8>]) -> Vec<u8> {
        msgs.iter()
            .flat_map(|m| [format!("{} ", m.len()).into_bytes(), m.clone()].concat())
            .collect()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        /// Arbitrary bytes in arbitrary chunks: no panic, never more than the maximum held
        /// (checked inside `frames`), and the chunking does not change the result.
        #[test]
        fn arbitrary_bytes_and_chunkings_stay_bounded(
            max in 1usize..300,
            bytes in proptest::collection::vec(any::<u8>(), 0..2048),
            cuts in proptest::collection::vec(any::<usize>(), 0..12),
        ) {
            let whole = frames(max, &bytes, &[]);
            let chunked = frames(max, &bytes, &cuts);
            prop_assert_eq!(whole, chunked);
        }

        /// Digit-led streams (octet counting chosen) with long digit runs and junk.
        #[test]
        fn digit_led_streams_stay_bounded(
            max in 1usize..100_000,
            parts in proptest::collection::vec(
                prop_oneof![
                    proptest::collection::vec(b'0'..=b'9', 1..40),
                    Just(b" ".to_vec()),
                    Just(b"\n".to_vec()),
                    proptest::collection::vec(any::<u8>(), 0..64),
                ],
                1..40,
            ),
            cuts in proptest::collection::vec(any::<usize>(), 0..12),
        ) {
            let bytes = [b"1".to_vec(), parts.concat()].concat();
            prop_assert_eq!(frames(max, &bytes, &[]), frames(max, &bytes, &cuts));
        }

        /// Messages within the maximum come back exactly, octet-counted or one per line.
        #[test]
        fn encoded_messages_round_trip(
            max in 1usize..200,
            msgs in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..200), 1..20),
            cuts in proptest::collection::vec(any::<usize>(), 0..12),
        ) {
            let msgs: Vec<Vec<u8>> = msgs.into_iter().filter(|m| m.len() <= max).collect();
            prop_assume!(!msgs.is_empty());
            prop_assert_eq!(frames(max, &counted(&msgs), &cuts).unwrap(), msgs.clone());

            // Lines: no newline inside, a non-digit first byte, no empty line.
            let lines: Vec<Vec<u8>> = msgs
                .iter()
                .map(|m| {
                    let mut l: Vec<u8> = m.iter().map(|&b| if b == b'\n' { b'.' } else { b }).collect();
                    if l.first().is_none_or(u8::is_ascii_digit) {
                        l.insert(0, b'<');
                        l.truncate(max);
                    }
                    l
                })
                .collect();
            let text: Vec<u8> = lines.iter().flat_map(|l| [l.as_slice(), b"\n"].concat()).collect();
            prop_assert_eq!(frames(max, &text, &cuts).unwrap(), lines);
        }
    }
}
