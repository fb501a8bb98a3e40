//! The `file` input, one-shot: read files and directories (recursively) once.
//!
//! Each file's format is sniffed from its first bytes. Framing only: NDJSON is split into lines,
//! EVTX into chunks (headers only), XML is passed as one document; the parse pool does the rest.
//! Runs on a blocking thread and sends with backpressure. A file that cannot be read or framed
//! becomes a positioned dead letter and the next file is read; directory entries in formats this
//! build does not read are skipped and counted, while a file named explicitly is an error.
//!
//! Memory is bounded whatever the file: gzip files (`.gz`, detected by magic) are decompressed
//! as a stream ([`flate2::read::MultiGzDecoder`]) in 64 KiB reads, never whole; lines are cut
//! at [`FileLimits::max_line_bytes`] ([`super::lines`]). Formats parsed as one document
//! (packet captures, emails, Zeek logs, XML, JSON that is not NDJSON) are read whole, up to
//! [`FileLimits::max_document_bytes`]: a larger file (or decompressed content) is not read but
//! dead-lettered with the reason — never cut short silently. EVTX is framed chunk by chunk;
//! mailboxes (mbox) message by message ([`super::mbox`]), each message up to the same limit.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::Utc;
use serde_json::Value;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::lines::{self, Cuts};
use crate::event::Origin;
use crate::flow::ack::Ack;
use crate::flow::channel::{Closed, Sender};
use crate::normalize::DeadLetter;
use crate::normalize::weblog::W3cFields;
use crate::normalize::{self, Format, ParseError, Position, evtx};
use crate::normalize::{Payload, RawRecord};

/// What a file input did.
#[derive(Debug, Default, Clone)]
pub struct FileReport {
    /// Files whose format was recognized and read.
    pub files: u64,
    /// Records framed and sent.
    pub records: u64,
    /// Directory entries skipped because their format is not one this build reads.
    pub skipped: Vec<PathBuf>,
    /// Lines cut to `max_line_bytes` (sent on, marked).
    pub truncated: u64,
}

/// Size caps of the file input (`[inputs.NAME] type = "file"`, and `scan`/`detect` flags).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileLimits {
    /// Longer lines are cut to this many bytes and marked ([`super::lines`]).
    pub max_line_bytes: usize,
    /// Largest file (or decompressed content) read whole for a one-document format.
    pub max_document_bytes: u64,
}

mod config;
pub use config::{DEFAULT_MAX_DOCUMENT_BYTES, FileInputConfig};

impl Default for FileLimits {
    fn default() -> Self {
        Self {
            max_line_bytes: lines::DEFAULT_MAX_LINE_BYTES,
            max_document_bytes: DEFAULT_MAX_DOCUMENT_BYTES,
        }
    }
}

/// How a file input reads.
#[derive(Debug, Clone, Default)]
pub struct FileOptions {
    /// Overrides format detection for every file.
    pub forced: Option<Format>,
    pub limits: FileLimits,
    /// The input's `nightwatch_input_records_truncated_total` series (the daemon's inputs).
    pub truncated: Option<prometheus::IntCounter>,
}

/// Starts a `file` input on a blocking thread; the daemon does not wait for it (a one-shot read
/// stops at shutdown and acknowledges nothing).
pub fn start(name: Arc<str>, cfg: &FileInputConfig, w: &super::Wiring) -> Option<JoinHandle<()>> {
    let options = FileOptions {
        forced: None,
        limits: FileLimits {
            max_line_bytes: cfg.max_line_bytes,
            max_document_bytes: cfg.max_document_bytes,
        },
        truncated: Some(w.metrics.input.truncated.with_label_values(&[&name])),
    };
    let (paths, w) = (cfg.paths.clone(), w.clone());
    tokio::task::spawn_blocking(move || {
        let report = read_paths(name.clone(), &paths, &options, &w.raw, &w.dead, &w.stop);
        tracing::info!(input = %name, files = report.files, records = report.records, skipped = report.skipped.len(), truncated = report.truncated, "file input finished");
    });
    None
}

/// Reads every path (files, or directories recursively in file-name order). Blocking: call it
/// from `spawn_blocking`. Stops early on shutdown or when the pipeline is gone.
pub fn read_paths(
    input: Arc<str>,
    paths: &[PathBuf],
    options: &FileOptions,
    out: &Sender<RawRecord>,
    dead: &Sender<DeadLetter>,
    shutdown: &CancellationToken,
) -> FileReport {
    let mut report = FileReport::default();
    let mut reader = Reader {
        input: input.clone(),
        forced: options.forced,
        limits: options.limits,
        cuts: Cuts::new(
            input.clone(),
            options.limits.max_line_bytes,
            options.truncated.clone(),
        ),
        out,
        dead,
    };
    read_roots(&mut reader, paths, shutdown, &mut report);
    report.truncated = reader.cuts.count();
    report
}

/// What [`read_file`] needs besides the file.
struct Reader<'a> {
    input: Arc<str>,
    forced: Option<Format>,
    limits: FileLimits,
    cuts: Cuts,
    out: &'a Sender<RawRecord>,
    dead: &'a Sender<DeadLetter>,
}

fn read_roots(
    reader: &mut Reader<'_>,
    paths: &[PathBuf],
    shutdown: &CancellationToken,
    report: &mut FileReport,
) {
    let (input, dead) = (reader.input.clone(), reader.dead);
    for root in paths {
        if root.is_dir() {
            // A Maildir's `tmp/` holds messages still being delivered: `cur/` and `new/` are read.
            let walk = walkdir::WalkDir::new(root)
                .sort_by_file_name()
                .into_iter()
                .filter_entry(|e| !maildir_tmp(e.path()));
            for entry in walk {
                if shutdown.is_cancelled() {
                    return;
                }
                match entry {
                    Ok(e) if e.file_type().is_file() => {
                        if read_file(reader, e.path(), false, report).is_err() {
                            return;
                        }
                    }
                    Ok(_) => {}
                    Err(e) => {
                        let file = e
                            .path()
                            .map(|p| p.display().to_string())
                            .unwrap_or_else(|| root.display().to_string());
                        let _ = send_dead(dead, io_error(&input, &file, e.to_string()));
                    }
                }
            }
        } else if read_file(reader, root, true, report).is_err() {
            return;
        }
        if shutdown.is_cancelled() {
            break;
        }
    }
}

/// The `tmp/` folder of a Maildir (a sibling of `cur/` and `new/`).
fn maildir_tmp(path: &Path) -> bool {
    path.file_name().is_some_and(|n| n == "tmp")
        && path.is_dir()
        && path
            .parent()
            .is_some_and(|p| p.join("cur").is_dir() && p.join("new").is_dir())
}

/// Sends a framing failure to the dead-letter output (no acknowledgement: files are re-read).
fn send_dead(dead: &Sender<DeadLetter>, error: ParseError) -> Result<(), Closed> {
    dead.send_blocking(error.into())
}

fn io_error(input: &Arc<str>, file: &str, reason: String) -> ParseError {
    ParseError {
        format: Format::Json,
        input: input.clone(),
        file: Arc::from(file),
        position: Position::Byte(0),
        reason,
        raw: None,
    }
}

/// Frames one file. `Err(Closed)` only when the pipeline has gone away.
fn read_file(
    reader: &mut Reader<'_>,
    path: &Path,
    explicit: bool,
    report: &mut FileReport,
) -> Result<(), Closed> {
    let (input, dead, out) = (reader.input.clone(), reader.dead, reader.out);
    let source: Arc<str> = Arc::from(path.display().to_string());
    let fail = |position: Position, format: Format, reason: String| ParseError {
        format,
        input: input.clone(),
        file: source.clone(),
        position,
        reason,
        raw: None,
    };
    let mut head = [0u8; 4096];
    let head_len = match File::open(path).and_then(|mut f| read_head(&mut f, &mut head)) {
        Ok(n) => n,
        Err(e) => {
            return send_dead(
                dead,
                fail(Position::Byte(0), Format::Json, format!("cannot read: {e}")),
            );
        }
    };
    // Compressed files (CloudTrail exports are `.json.gz`) are read through the decompressor,
    // as a stream: the head to sniff is the decompressed head.
    let content = Content {
        path,
        gzip: head[..head_len].starts_with(&[0x1f, 0x8b]),
    };
    let head_len = if content.gzip {
        match content
            .reader()
            .and_then(|mut r| read_head(&mut r, &mut head))
        {
            Ok(n) => n,
            Err(e) => {
                return send_dead(
                    dead,
                    fail(
                        Position::Byte(0),
                        Format::Json,
                        format!("cannot decompress: {e}"),
                    ),
                );
            }
        }
    } else {
        head_len
    };
    let sniffed = reader
        .forced
        .or_else(|| normalize::sniff(&head[..head_len]));
    let format = match sniffed {
        Some(f) => f,
        // A text file named explicitly is read as raw text, one event per line.
        None if explicit && normalize::looks_like_text(&head[..head_len]) => Format::Text,
        None if explicit => {
            return send_dead(
                dead,
                fail(
                    Position::Byte(0),
                    Format::Text,
                    "unrecognized binary format (expected EVTX or a packet capture)".to_owned(),
                ),
            );
        }
        None => {
            tracing::debug!(file = %path.display(), "skipping file in an unrecognized format");
            report.skipped.push(path.to_owned());
            return Ok(());
        }
    };
    report.files += 1;
    let origin = |index: u64| Origin {
        input: input.clone(),
        source: source.clone(),
        index,
    };
    let mut send = |origin: Origin, payload: Payload| {
        report.records += 1;
        out.send_blocking(RawRecord {
            origin,
            received: Utc::now(),
            payload,
            ack: Ack::none(),
        })
    };
    let max_document = reader.limits.max_document_bytes;
    match format {
        Format::Evtx if content.gzip => send_dead(
            dead,
            fail(
                Position::Byte(0),
                format,
                "EVTX inside a compressed file is not read; decompress it first".to_owned(),
            ),
        ),
        Format::Evtx => match evtx::read_chunks(path) {
            Ok(chunks) => {
                for chunk in chunks {
                    match chunk {
                        Ok(chunk) => send(origin(chunk.first_index), Payload::EvtxChunk(chunk))?,
                        Err(e) => send_dead(
                            dead,
                            fail(
                                e.position(),
                                format,
                                normalize::reason_without_file(e.to_string(), &source),
                            ),
                        )?,
                    }
                }
                Ok(())
            }
            Err(e) => send_dead(
                dead,
                fail(
                    e.position(),
                    format,
                    normalize::reason_without_file(e.to_string(), &source),
                ),
            ),
        },
        Format::WinXml => match content.whole(max_document) {
            Ok(bytes) => send(
                origin(0),
                Payload::WinXml(normalize::decode_text(&bytes).into_owned()),
            ),
            Err(reason) => send_dead(dead, fail(Position::Byte(0), format, reason)),
        },
        // A mailbox (mbox, or one message with its postmark line) is read message by message.
        Format::Eml if super::mbox::is_mbox(&head[..head_len]) => {
            let mut stream = match content.reader() {
                Ok(r) => r,
                Err(e) => {
                    return send_dead(
                        dead,
                        fail(Position::Byte(0), format, format!("cannot read: {e}")),
                    );
                }
            };
            let split = super::mbox::split(&mut stream, max_document, |framed| match framed {
                super::mbox::Framed::Message { offset, bytes } => {
                    send(origin(offset), Payload::Document { format, bytes })
                }
                super::mbox::Framed::TooLarge { offset, bytes } => send_dead(
                    dead,
                    fail(
                        Position::Byte(offset),
                        format,
                        format!(
                            "a message of the mailbox ({bytes} bytes) is larger than max_document_bytes ({max_document} bytes); it is skipped, the next one is read"
                        ),
                    ),
                ),
            });
            match split {
                Ok(sent) => sent,
                Err(e) => send_dead(
                    dead,
                    fail(Position::Byte(0), format, format!("cannot read: {e}")),
                ),
            }
        }
        Format::Pcap | Format::Eml | Format::Zeek => match content.whole(max_document) {
            Ok(bytes) => send(origin(0), Payload::Document { format, bytes }),
            Err(reason) => send_dead(dead, fail(Position::Byte(0), format, reason)),
        },
        Format::Syslog | Format::WebAccess | Format::Text => {
            let mut lines = LineReader {
                max: reader.limits.max_line_bytes,
                cuts: &mut reader.cuts,
                source: &source,
            };
            lines.read(&content, format, &origin, &mut send, &|p, r| {
                send_dead(dead, fail(p, format, r))
            })
        }
        Format::Json => {
            let mut lines = LineReader {
                max: reader.limits.max_line_bytes,
                cuts: &mut reader.cuts,
                source: &source,
            };
            read_json(
                &content,
                &head[..head_len],
                max_document,
                &mut lines,
                &origin,
                &mut send,
                &|p, r| send_dead(dead, fail(p, format, r)),
            )
        }
    }
}

/// A file's bytes, on disk or through the gzip decompressor; never held whole except by
/// [`Content::whole`], which is capped.
struct Content<'a> {
    path: &'a Path,
    gzip: bool,
}

/// Bytes read from a file (or the decompressor) at a time.
const READ_BUFFER: usize = 64 * 1024;

impl Content<'_> {
    /// A fresh reader from the start (decompressing as it goes).
    fn reader(&self) -> std::io::Result<Box<dyn BufRead>> {
        let file = File::open(self.path)?;
        Ok(if self.gzip {
            Box::new(BufReader::with_capacity(
                READ_BUFFER,
                flate2::read::MultiGzDecoder::new(BufReader::with_capacity(READ_BUFFER, file)),
            ))
        } else {
            Box::new(BufReader::with_capacity(READ_BUFFER, file))
        })
    }

    /// The whole content, for formats parsed as one document. More than `max` bytes is an
    /// error (the reason, for the dead letter), never a silent cut.
    fn whole(&self, max: u64) -> Result<Vec<u8>, String> {
        let too_large = |what: &str| {
            format!(
                "{what} is larger than max_document_bytes ({max} bytes); this format is parsed as one document and read whole, so the file is not read (raise the limit to read it)"
            )
        };
        if !self.gzip
            && let Ok(meta) = std::fs::metadata(self.path)
            && meta.len() > max
        {
            return Err(too_large(&format!("the file ({} bytes)", meta.len())));
        }
        let mut out = Vec::new();
        self.reader()
            .and_then(|r| r.take(max.saturating_add(1)).read_to_end(&mut out))
            .map_err(|e| format!("cannot read: {e}"))?;
        if out.len() as u64 > max {
            return Err(too_large("the decompressed content"));
        }
        Ok(out)
    }
}

fn read_head(f: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match f.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// Line framing: each non-empty line (trimmed, lossy UTF-8) is one record; its index counts
/// non-empty lines from 0. Bounded memory however large the file or long its lines: a line
/// past `max` bytes is cut and marked ([`super::lines`]).
struct LineReader<'a> {
    max: usize,
    cuts: &'a mut Cuts,
    source: &'a str,
}

impl LineReader<'_> {
    fn read(
        &mut self,
        content: &Content<'_>,
        format: Format,
        origin: &dyn Fn(u64) -> Origin,
        send: &mut dyn FnMut(Origin, Payload) -> Result<(), Closed>,
        fail: &dyn Fn(Position, String) -> Result<(), Closed>,
    ) -> Result<(), Closed> {
        let mut reader = match content.reader() {
            Ok(r) => r,
            Err(e) => return fail(Position::Byte(0), format!("cannot read: {e}")),
        };
        let keep = lines::kept_bytes(self.max);
        let mut kept = Vec::new();
        let mut index = 0u64;
        let mut line_no = 0u64;
        // W3C extended logs (IIS) name their columns in `#Fields:`; later data lines use them.
        let mut w3c: Option<Arc<W3cFields>> = None;
        loop {
            let len = match lines::read_line(&mut reader, &mut kept, keep) {
                Ok(None) => return Ok(()),
                Ok(Some(len)) => {
                    line_no += 1;
                    len
                }
                Err(e) => return fail(Position::Line(line_no + 1), format!("cannot read: {e}")),
            };
            let Some(framed) = lines::frame(format, &kept, len, self.max, &mut w3c) else {
                continue;
            };
            if let Some(original) = framed.cut_from {
                self.cuts
                    .note(self.source, Position::Line(line_no), original);
            }
            send(origin(index), framed.payload)?;
            index += 1;
        }
    }
}

/// JSON framing: an array (each element an event), NDJSON (each non-empty line an event), or
/// one or more concatenated, possibly pretty-printed documents.
fn read_json(
    content: &Content<'_>,
    head: &[u8],
    max_document: u64,
    lines: &mut LineReader<'_>,
    origin: &dyn Fn(u64) -> Origin,
    send: &mut dyn FnMut(Origin, Payload) -> Result<(), Closed>,
    fail: &dyn Fn(Position, String) -> Result<(), Closed>,
) -> Result<(), Closed> {
    let text_head = String::from_utf8_lossy(head);
    let first_line = text_head
        .trim_start_matches('\u{feff}')
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("");
    let ndjson = first_line.starts_with('{')
        && (first_line.ends_with('}') || head.len() == 4096 && !text_head.contains('\n'));
    if ndjson {
        return lines.read(content, Format::Json, origin, send, fail);
    }
    let bytes = match content.whole(max_document) {
        Ok(b) => b,
        Err(reason) => return fail(Position::Byte(0), reason),
    };
    let body = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&bytes);
    let mut index = 0u64;
    let mut stream = serde_json::Deserializer::from_slice(body).into_iter::<Value>();
    loop {
        let offset = stream.byte_offset();
        match stream.next() {
            None => return Ok(()),
            Some(Ok(Value::Array(items))) => {
                for item in items {
                    send(origin(index), Payload::Json(item))?;
                    index += 1;
                }
            }
            // CloudTrail delivery files wrap their events: {"Records": [...]}.
            Some(Ok(Value::Object(mut map)))
                if map.len() == 1 && matches!(map.get("Records"), Some(Value::Array(_))) =>
            {
                if let Some(Value::Array(items)) = map.remove("Records") {
                    for item in items {
                        send(origin(index), Payload::Json(item))?;
                        index += 1;
                    }
                }
            }
            Some(Ok(value)) => {
                send(origin(index), Payload::Json(value))?;
                index += 1;
            }
            Some(Err(e)) => {
                // The rest of a malformed document cannot be framed reliably.
                return fail(
                    Position::Byte(offset as u64),
                    format!(
                        "invalid JSON (line {}, column {}): {e}",
                        e.line(),
                        e.column()
                    ),
                );
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests;
