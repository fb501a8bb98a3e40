//! The `file` input, one-shot: read files and directories (recursively) once.
//!
//! Each file's format is sniffed from its first bytes. Framing only: NDJSON is split into lines,
//! EVTX into chunks (headers only), XML is passed as one document; the parse pool does the rest.
//! Runs on a blocking thread and sends with backpressure. A file that cannot be read or framed
//! becomes a positioned dead letter and the next file is read; directory entries in formats this
//! build does not read are skipped and counted, while a file named explicitly is an error.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::Utc;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use super::{Payload, RawRecord, line_payload};
use crate::event::Origin;
use crate::normalize::weblog::W3cFields;
use crate::normalize::{self, Format, ParseError, Position, evtx};
use crate::pipeline::DeadLetter;
use crate::pipeline::ack::Ack;
use crate::pipeline::channel::{Closed, Sender};

/// What a file input did.
#[derive(Debug, Default, Clone)]
pub struct FileReport {
    /// Files whose format was recognized and read.
    pub files: u64,
    /// Records framed and sent.
    pub records: u64,
    /// Directory entries skipped because their format is not one this build reads.
    pub skipped: Vec<PathBuf>,
}

/// Reads every path (files, or directories recursively in file-name order). `forced` overrides
/// format detection for every file. Blocking: call it from `spawn_blocking`. Stops early on
/// shutdown or when the pipeline is gone.
pub fn read_paths(
    input: Arc<str>,
    paths: &[PathBuf],
    forced: Option<Format>,
    out: &Sender<RawRecord>,
    dead: &Sender<DeadLetter>,
    shutdown: &CancellationToken,
) -> FileReport {
    let mut report = FileReport::default();
    for root in paths {
        if root.is_dir() {
            for entry in walkdir::WalkDir::new(root).sort_by_file_name() {
                if shutdown.is_cancelled() {
                    return report;
                }
                match entry {
                    Ok(e) if e.file_type().is_file() => {
                        if read_file(&input, e.path(), false, forced, out, dead, &mut report)
                            .is_err()
                        {
                            return report;
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
        } else if read_file(&input, root, true, forced, out, dead, &mut report).is_err() {
            return report;
        }
        if shutdown.is_cancelled() {
            break;
        }
    }
    report
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
    input: &Arc<str>,
    path: &Path,
    explicit: bool,
    forced: Option<Format>,
    out: &Sender<RawRecord>,
    dead: &Sender<DeadLetter>,
    report: &mut FileReport,
) -> Result<(), Closed> {
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
    let mut head_len = match File::open(path).and_then(|mut f| read_head(&mut f, &mut head)) {
        Ok(n) => n,
        Err(e) => {
            return send_dead(
                dead,
                fail(Position::Byte(0), Format::Json, format!("cannot read: {e}")),
            );
        }
    };
    // Compressed files (CloudTrail exports are `.json.gz`) are read through the decompressor.
    let content = if head[..head_len].starts_with(&[0x1f, 0x8b]) {
        match gunzip(path) {
            Ok(bytes) => {
                let n = bytes.len().min(head.len());
                head[..n].copy_from_slice(&bytes[..n]);
                head_len = n;
                Content::Memory(bytes)
            }
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
        Content::File(path)
    };
    let sniffed = forced.or_else(|| normalize::sniff(&head[..head_len]));
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
    match format {
        Format::Evtx if matches!(content, Content::Memory(_)) => send_dead(
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
        Format::WinXml => match content.bytes() {
            Ok(bytes) => send(
                origin(0),
                Payload::WinXml(normalize::decode_text(&bytes).into_owned()),
            ),
            Err(e) => send_dead(
                dead,
                fail(Position::Byte(0), format, format!("cannot read: {e}")),
            ),
        },
        Format::Pcap | Format::Eml | Format::Zeek => match content.bytes() {
            Ok(bytes) => send(
                origin(0),
                Payload::Document {
                    format,
                    bytes: bytes.into_owned(),
                },
            ),
            Err(e) => send_dead(
                dead,
                fail(Position::Byte(0), format, format!("cannot read: {e}")),
            ),
        },
        Format::Syslog | Format::WebAccess | Format::Text => {
            read_lines(&content, format, &origin, &mut send, &|p, r| {
                send_dead(dead, fail(p, format, r))
            })
        }
        Format::Json => read_json(&content, &head[..head_len], &origin, &mut send, &|p, r| {
            send_dead(dead, fail(p, format, r))
        }),
    }
}

/// Largest decompressed size read from one compressed file.
const MAX_DECOMPRESSED: u64 = 4 << 30;

/// A file's bytes: on disk, or decompressed in memory.
enum Content<'a> {
    File(&'a Path),
    Memory(Vec<u8>),
}

impl Content<'_> {
    fn reader(&self) -> std::io::Result<Box<dyn BufRead + '_>> {
        Ok(match self {
            Content::File(p) => Box::new(BufReader::new(File::open(p)?)),
            Content::Memory(b) => Box::new(b.as_slice()),
        })
    }

    fn bytes(&self) -> std::io::Result<std::borrow::Cow<'_, [u8]>> {
        Ok(match self {
            Content::File(p) => std::borrow::Cow::Owned(std::fs::read(p)?),
            Content::Memory(b) => std::borrow::Cow::Borrowed(b),
        })
    }
}

fn gunzip(path: &Path) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::new();
    flate2::read::MultiGzDecoder::new(BufReader::new(File::open(path)?))
        .take(MAX_DECOMPRESSED)
        .read_to_end(&mut out)?;
    Ok(out)
}

fn read_head(f: &mut File, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match f.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

/// Line framing: each non-empty line (trimmed, lossy UTF-8) is one record; its index counts
/// non-empty lines from 0. Reads with bounded memory however large the file.
fn read_lines(
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
    let mut buf = Vec::new();
    let mut index = 0u64;
    let mut line_no = 0u64;
    // W3C extended logs (IIS) name their columns in `#Fields:`; later data lines use them.
    let mut w3c: Option<Arc<W3cFields>> = None;
    loop {
        buf.clear();
        match reader.read_until(b'\n', &mut buf) {
            Ok(0) => return Ok(()),
            Ok(_) => line_no += 1,
            Err(e) => return fail(Position::Line(line_no + 1), format!("cannot read: {e}")),
        }
        let text = String::from_utf8_lossy(&buf);
        let line = text.trim().trim_start_matches('\u{feff}');
        if line.is_empty() {
            continue;
        }
        send(origin(index), line_payload(format, line, &mut w3c))?;
        index += 1;
    }
}

/// JSON framing: an array (each element an event), NDJSON (each non-empty line an event), or
/// one or more concatenated, possibly pretty-printed documents.
fn read_json(
    content: &Content<'_>,
    head: &[u8],
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
        return read_lines(content, Format::Json, origin, send, fail);
    }
    let bytes = match content.bytes() {
        Ok(b) => b,
        Err(e) => return fail(Position::Byte(0), format!("cannot read: {e}")),
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
mod tests {
    use super::*;
    use crate::metrics::Metrics;
    use crate::pipeline::channel::bounded;
    use std::io::Write;

    fn run(paths: &[PathBuf]) -> (Vec<RawRecord>, Vec<ParseError>, FileReport) {
        let m = Metrics::new().unwrap();
        let (tx, rx) = bounded("raw", 1000, &m);
        let (dtx, drx) = bounded("dead", 1000, &m);
        let report = read_paths(
            Arc::from("file"),
            paths,
            None,
            &tx,
            &dtx,
            &CancellationToken::new(),
        );
        drop((tx, dtx));
        let mut recs = Vec::new();
        while let Ok(r) = rx.recv_blocking() {
            recs.push(r);
        }
        let mut dead = Vec::new();
        while let Ok(d) = drx.recv_blocking() {
            dead.push(d.error);
        }
        (recs, dead, report)
    }

    #[test]
    fn ndjson_indices_count_non_empty_lines() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.log");
        let mut f = File::create(&p).unwrap();
        writeln!(f, "{{\"a\":1}}\n\n{{\"a\":2}}\n{{broken}}\n").unwrap();
        let (recs, dead, report) = run(std::slice::from_ref(&p));
        assert!(dead.is_empty());
        assert_eq!(report.files, 1);
        let idx: Vec<u64> = recs.iter().map(|r| r.origin.index).collect();
        assert_eq!(idx, vec![0, 1, 2]);
        assert_eq!(&*recs[0].origin.source, p.display().to_string());
    }

    #[test]
    fn arrays_and_concatenated_documents() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("arr.json"), "[{\"a\":1},{\"a\":2}]").unwrap();
        std::fs::write(
            dir.path().join("cat.json"),
            "{\n \"a\": 1\n}\n{\n \"a\": 2\n}\n{\n \"a\": 3\n}",
        )
        .unwrap();
        std::fs::write(dir.path().join("notes.txt"), "plain text").unwrap();
        let (recs, dead, report) = run(&[dir.path().to_owned()]);
        assert!(dead.is_empty(), "{dead:?}");
        assert_eq!(recs.len(), 5);
        assert_eq!(report.skipped.len(), 1);
        // Directory arguments: the directory as given joined with the relative path.
        assert_eq!(
            &*recs[0].origin.source,
            dir.path().join("arr.json").display().to_string()
        );
    }

    #[test]
    fn broken_documents_and_missing_files_are_dead_letters() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("bad.json");
        std::fs::write(&p, "{\n \"a\": 1\n}\n{\n \"a\": \n").unwrap();
        let missing = dir.path().join("missing.json");
        let binary = dir.path().join("blob.bin");
        std::fs::write(&binary, b"\x00\x01garbage\x00").unwrap();
        let (recs, dead, _) = run(&[p, missing, binary]);
        assert_eq!(recs.len(), 1);
        assert_eq!(dead.len(), 3, "{dead:?}");
        assert!(matches!(dead[0].position, Position::Byte(_)));
        assert!(dead[1].reason.contains("cannot read"));
        assert!(dead[2].reason.contains("unrecognized binary format"));
    }

    #[test]
    fn gzip_and_cloudtrail_records_wrappers() {
        use std::io::Write;
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("trail.json.gz");
        let mut gz = flate2::write::GzEncoder::new(
            File::create(&p).unwrap(),
            flate2::Compression::default(),
        );
        gz.write_all(br#"{"Records": [{"eventName": "A"}, {"eventName": "B"}]}"#)
            .unwrap();
        gz.finish().unwrap();
        let (recs, dead, _) = run(std::slice::from_ref(&p));
        assert!(dead.is_empty(), "{dead:?}");
        let names: Vec<String> = recs
            .into_iter()
            .flat_map(crate::normalize::parse)
            .map(|e| e.unwrap().fields.get_str("eventName").unwrap().into_owned())
            .collect();
        assert_eq!(names, vec!["A", "B"]);
    }

    #[test]
    fn text_files_frame_by_line_and_explicit_unknown_text_is_raw_text() {
        let dir = tempfile::tempdir().unwrap();
        let syslog = dir.path().join("auth.log");
        std::fs::write(
            &syslog,
            b"Nov 21 06:00:01 host sshd[1]: Accepted password for bob\n\n<34>Oct 11 22:14:15 mymachine su: \xff bad utf8\n",
        )
        .unwrap();
        let notes = dir.path().join("notes.txt");
        std::fs::write(&notes, "first line\nsecond line\n").unwrap();
        let (recs, dead, report) = run(&[syslog, notes]);
        assert!(dead.is_empty(), "{dead:?}");
        assert_eq!(report.files, 2);
        let formats: Vec<(Format, u64)> = recs
            .iter()
            .map(|r| (r.payload.format(), r.origin.index))
            .collect();
        assert_eq!(
            formats,
            vec![
                (Format::Syslog, 0),
                (Format::Syslog, 1),
                (Format::Text, 0),
                (Format::Text, 1)
            ]
        );
    }

    #[test]
    fn iis_logs_with_a_custom_fields_directive_use_its_columns() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("u_ex261121.log");
        std::fs::write(
            &p,
            "#Software: Microsoft Internet Information Services 10.0\n\
             #Fields: date time cs-method cs-uri-stem c-ip sc-status cs(User-Agent)\n\
             2026-11-21 06:00:01 GET /owa/auth/x.aspx 198.51.100.7 200 python-requests/2.31\n\
             #Fields: date time c-ip cs-uri-query sc-status\n\
             2026-11-21 06:00:02 203.0.113.9 cmd=whoami 404\n",
        )
        .unwrap();
        let (recs, dead, _) = run(std::slice::from_ref(&p));
        assert!(dead.is_empty(), "{dead:?}");
        let events: Vec<_> = recs
            .into_iter()
            .flat_map(normalize::parse)
            .map(Result::unwrap)
            .collect();
        assert_eq!(
            events.len(),
            5,
            "two directives, three data lines: {events:?}"
        );
        let first = &events[2];
        assert_eq!(first.logsource.category.as_deref(), Some("webserver"));
        assert_eq!(
            first.fields.get("c-ip"),
            Some(&serde_json::json!("198.51.100.7"))
        );
        assert_eq!(
            first.fields.get("cs-uri-stem"),
            Some(&serde_json::json!("/owa/auth/x.aspx"))
        );
        assert_eq!(first.fields.get("sc-status"), Some(&serde_json::json!(200)));
        assert_eq!(
            first.fields.get("cs-user-agent"),
            Some(&serde_json::json!("python-requests/2.31"))
        );
        assert_eq!(first.time.to_rfc3339(), "2026-11-21T06:00:01+00:00");
        let second = &events[4];
        assert_eq!(
            second.fields.get("c-ip"),
            Some(&serde_json::json!("203.0.113.9"))
        );
        assert_eq!(
            second.fields.get("cs-uri-query"),
            Some(&serde_json::json!("cmd=whoami"))
        );
        assert_eq!(
            second.fields.get("sc-status"),
            Some(&serde_json::json!(404))
        );
        assert!(second.fields.get("cs-method").is_none());
    }
}
