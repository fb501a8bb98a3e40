//! mbox framing: a mailbox file holds many messages, each starting with a `From ` postmark line
//! at the start of the file or after an empty line (the mboxo/mboxrd convention that mail
//! clients and SOC exports of user-reported mail use). Read as a stream, one message at a time:
//! memory is bounded by the largest message kept (`max` bytes), never by the file. mboxrd's
//! quoted `>From ` body lines are unquoted one level.

use std::io::BufRead;

/// One message of a mailbox, or a message too large to keep.
#[derive(Debug, PartialEq, Eq)]
pub enum Framed {
    /// The message's bytes (its postmark line included) and its byte offset in the file.
    Message { offset: u64, bytes: Vec<u8> },
    /// A message of more than `max` bytes at `offset`: skipped, its size so far.
    TooLarge { offset: u64, bytes: u64 },
}

/// Whether a file's head is a mailbox: it starts with a postmark line.
pub fn is_mbox(head: &[u8]) -> bool {
    let head = head.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(head);
    is_postmark(head.split(|b| *b == b'\n').next().unwrap_or_default())
}

/// Splits `reader` into messages, calling `each` per message in file order; stops early when
/// `each` returns an error. I/O errors end the split with the error.
pub fn split<E>(
    reader: &mut dyn BufRead,
    max: u64,
    mut each: impl FnMut(Framed) -> Result<(), E>,
) -> Result<Result<(), E>, std::io::Error> {
    let mut line = Vec::new();
    let mut current: Vec<u8> = Vec::new();
    let mut start = 0u64;
    let mut size = 0u64;
    let mut offset = 0u64;
    let mut previous_blank = true;
    let mut started = false;
    loop {
        line.clear();
        let n = reader.read_until(b'\n', &mut line)?;
        if n == 0 {
            break;
        }
        let postmark = previous_blank && is_postmark(&line);
        if postmark {
            if started && let Err(e) = each(finish(&mut current, start, size, max)) {
                return Ok(Err(e));
            }
            started = true;
            start = offset;
            size = 0;
        }
        offset += n as u64;
        if !started {
            // Bytes before the first postmark: not a message.
            previous_blank = is_blank(&line);
            continue;
        }
        size += n as u64;
        if size <= max {
            // mboxrd: `>From ` (any number of `>`) in a body loses one `>`.
            let body = if !postmark && line.starts_with(b">") && unquote(&line) {
                &line[1..]
            } else {
                &line[..]
            };
            current.extend_from_slice(body);
        } else if !current.is_empty() {
            current = Vec::new();
        }
        previous_blank = is_blank(&line);
    }
    if started {
        return Ok(each(finish(&mut current, start, size, max)));
    }
    Ok(Ok(()))
}

fn finish(current: &mut Vec<u8>, offset: u64, size: u64, max: u64) -> Framed {
    let bytes = std::mem::take(current);
    if size > max {
        Framed::TooLarge {
            offset,
            bytes: size,
        }
    } else {
        Framed::Message { offset, bytes }
    }
}

/// `From <sender> <asctime date>`: the sender a token, the date starting with a weekday and a
/// month (`From MAILER-DAEMON Fri Jul  8 12:08:34 2011`). A body line that merely starts with
/// "From " after a blank line ("From what I read, …") is not one.
fn is_postmark(line: &[u8]) -> bool {
    const DAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let Some(rest) = line.strip_prefix(b"From ") else {
        return false;
    };
    let text = String::from_utf8_lossy(rest);
    let mut words = text.split_whitespace();
    let (Some(_sender), Some(day), Some(month)) = (words.next(), words.next(), words.next()) else {
        return false;
    };
    DAYS.contains(&day) && MONTHS.contains(&month)
}

fn is_blank(line: &[u8]) -> bool {
    line.iter().all(|b| matches!(b, b'\r' | b'\n'))
}

fn unquote(line: &[u8]) -> bool {
    let rest = &line[line.iter().take_while(|b| **b == b'>').count()..];
    rest.starts_with(b"From ")
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn messages(text: &str, max: u64) -> Vec<Framed> {
        let mut out = Vec::new();
        split(&mut text.as_bytes(), max, |f| {
            out.push(f);
            Ok::<(), ()>(())
        })
        .unwrap()
        .unwrap();
        out
    }

    const BOX: &str = "From a@x Mon Jan  1 00:00:00 2024\nFrom: a@x\nSubject: one\n\nbody one\n>From the start\nFrom here on, a body line\n\nFrom what I read, not a postmark\n\nFrom b@y Tue Jan  2 00:00:00 2024\nFrom: b@y\nSubject: two\n\nbody two\n";

    #[test]
    fn postmark_lines_after_a_blank_line_split_messages_and_quoted_from_lines_are_unquoted() {
        let got = messages(BOX, 1 << 20);
        assert_eq!(got.len(), 2);
        let Framed::Message { offset, bytes } = &got[0] else {
            panic!()
        };
        assert_eq!(*offset, 0);
        let text = String::from_utf8_lossy(bytes);
        assert!(text.contains("\nFrom the start\n"), "{text}");
        // A body line starting with "From " but not after a blank line stays in the message.
        assert!(text.contains("From here on, a body line"));
        assert!(text.contains("\nFrom what I read, not a postmark\n"));
        let Framed::Message { offset, bytes } = &got[1] else {
            panic!()
        };
        assert_eq!(*offset as usize, BOX.find("From b@y").unwrap());
        assert!(String::from_utf8_lossy(bytes).starts_with("From b@y"));
    }

    #[test]
    fn a_message_over_the_limit_is_reported_not_kept_and_the_next_one_is_read() {
        let big = format!(
            "From a@x Mon Jan  1 00:00:00 2024\nSubject: big\n\n{}\n\nFrom b@y Tue Jan  2 00:00:00 2024\nSubject: small\n\nok\n",
            "x".repeat(500)
        );
        let got = messages(&big, 200);
        assert!(matches!(got[0], Framed::TooLarge { offset: 0, bytes } if bytes > 500));
        assert!(matches!(&got[1], Framed::Message { bytes, .. } if bytes.ends_with(b"ok\n")));
    }

    #[test]
    fn only_a_postmark_head_is_a_mailbox() {
        assert!(is_mbox(b"From a@x Mon Jan  1 00:00:00 2024\nFrom: a@x\n"));
        assert!(!is_mbox(b"From: a@x\nSubject: s\n"));
    }
}
