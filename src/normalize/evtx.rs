//! EVTX files: cheap streaming framing into 64 KiB chunks, and per-chunk parsing into events.
//!
//! [`read_chunks`] validates the 4096-byte file header (`ElfFile\0`) and then reads one chunk
//! at a time (`ElfChnk\0`), so memory stays bounded on multi-GB files. It parses no records:
//! each chunk's index range comes from the first/last event record numbers in its header, so
//! [`EvtxChunk::first_index`] is known before any record is decoded. [`parse_chunk`] is the CPU
//! part (BinXML → JSON via the evtx crate → flattened [`Event`]s) and is meant to run on a
//! worker pool.
//!
//! Chunks are framed in file order (a log that wrapped around is not re-ordered oldest-first);
//! all-zero (unused) chunks are skipped. A chunk with a bad magic or implausible header yields
//! one [`EvtxError::Chunk`] and framing continues with the next chunk; a trailing partial chunk
//! is zero-padded and still parsed (records past the cut become errors), followed by one
//! truncation error. Record indices are `first_index` + the record's position in the chunk.

use std::fs::File;
use std::io::{self, Read};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::sync::{Arc, OnceLock};

use ::evtx::{EvtxChunkData, ParserSettings};
use chrono::{DateTime, Utc};

use super::Position;
use super::liblog::Capture;
use super::windows::event_from_windows_json;
use crate::event::{Event, Origin};

/// Size of the EVTX file header block; the first chunk starts here.
pub const FILE_HEADER_SIZE: u64 = 4096;
/// Size of one EVTX chunk.
pub const CHUNK_SIZE: usize = 65536;
const FILE_MAGIC: &[u8; 8] = b"ElfFile\0";
const CHUNK_MAGIC: &[u8; 8] = b"ElfChnk\0";
/// More records than fit into a chunk (24-byte header + 4-byte size copy each) means the
/// chunk header is corrupt.
const MAX_RECORDS_PER_CHUNK: u64 = (CHUNK_SIZE as u64 - 512) / 28;

/// Errors while framing or parsing an EVTX file. Framing errors name the chunk and its byte
/// offset in the file; record errors the chunk and the record's 0-based index in the file.
#[derive(Debug, thiserror::Error)]
pub enum EvtxError {
    #[error("{file}: I/O error: {source}")]
    Io {
        file: Arc<str>,
        #[source]
        source: io::Error,
    },
    #[error("{file}: not a valid EVTX file: {reason}")]
    FileHeader { file: Arc<str>, reason: String },
    #[error("{file}: chunk {chunk} at byte offset {offset}: {reason}")]
    Chunk {
        file: Arc<str>,
        chunk: u64,
        offset: u64,
        reason: String,
    },
    #[error("{file}: chunk {chunk}, record {index}: {reason}")]
    Record {
        file: Arc<str>,
        chunk: u64,
        index: u64,
        reason: String,
    },
}

impl EvtxError {
    /// Where in the file the error sits: the record index for record errors, the chunk's byte
    /// offset for chunk errors, byte 0 for file-level errors.
    pub fn position(&self) -> Position {
        match self {
            EvtxError::Io { .. } | EvtxError::FileHeader { .. } => Position::Byte(0),
            EvtxError::Chunk { offset, .. } => Position::Byte(*offset),
            EvtxError::Record { index, .. } => Position::Record(*index),
        }
    }
}

/// One raw 64 KiB chunk, framed but not parsed.
#[derive(Debug, Clone)]
pub struct EvtxChunk {
    pub data: Vec<u8>,
    /// 0-based index in the file of the chunk's first record.
    pub first_index: u64,
    pub chunk_number: u64,
}

/// Byte offset of chunk `number` in the file.
pub fn chunk_offset(number: u64) -> u64 {
    FILE_HEADER_SIZE.saturating_add(number.saturating_mul(CHUNK_SIZE as u64))
}

/// Frames an EVTX file into chunks cheaply (header validation + chunk headers only, no record
/// parsing), streaming: bounded memory on multi-GB files.
pub fn read_chunks(
    path: &Path,
) -> Result<impl Iterator<Item = Result<EvtxChunk, EvtxError>>, EvtxError> {
    let name: Arc<str> = Arc::from(path.to_string_lossy().as_ref());
    let io_err = |source| EvtxError::Io {
        file: name.clone(),
        source,
    };
    let mut file = File::open(path).map_err(io_err)?;
    let mut header = vec![0u8; FILE_HEADER_SIZE as usize];
    let n = read_full(&mut file, &mut header).map_err(io_err)?;
    let header_err = |reason: String| EvtxError::FileHeader {
        file: name.clone(),
        reason,
    };
    if n < 128 {
        return Err(header_err(format!("file header truncated ({n} bytes)")));
    }
    if header.get(..8) != Some(&FILE_MAGIC[..]) {
        return Err(header_err("bad file magic (expected `ElfFile\\0`)".into()));
    }
    Ok(ChunkReader {
        file,
        name,
        next_chunk: 0,
        next_index: 0,
        done: n < FILE_HEADER_SIZE as usize,
        pending: None,
    })
}

/// Streaming chunk framer returned by [`read_chunks`].
struct ChunkReader {
    file: File,
    name: Arc<str>,
    next_chunk: u64,
    next_index: u64,
    done: bool,
    /// An error to report after the chunk just returned (truncation).
    pending: Option<EvtxError>,
}

impl ChunkReader {
    fn chunk_error(&self, chunk: u64, reason: String) -> EvtxError {
        EvtxError::Chunk {
            file: self.name.clone(),
            chunk,
            offset: chunk_offset(chunk),
            reason,
        }
    }
}

impl Iterator for ChunkReader {
    type Item = Result<EvtxChunk, EvtxError>;

    fn next(&mut self) -> Option<Self::Item> {
        if let Some(err) = self.pending.take() {
            return Some(Err(err));
        }
        loop {
            if self.done {
                return None;
            }
            let number = self.next_chunk;
            self.next_chunk += 1;
            let mut data = vec![0u8; CHUNK_SIZE];
            let n = match read_full(&mut self.file, &mut data) {
                Ok(n) => n,
                Err(source) => {
                    self.done = true;
                    return Some(Err(EvtxError::Io {
                        file: self.name.clone(),
                        source,
                    }));
                }
            };
            if n < CHUNK_SIZE {
                self.done = true;
                if data[..n].iter().all(|&b| b == 0) {
                    return None;
                }
                let err = self.chunk_error(
                    number,
                    format!("truncated chunk: {n} of {CHUNK_SIZE} bytes present"),
                );
                if n < 512 || data.get(..8) != Some(&CHUNK_MAGIC[..]) {
                    return Some(Err(err));
                }
                // Parse what is there; report the truncation after it.
                self.pending = Some(err);
            } else if data.iter().all(|&b| b == 0) {
                continue;
            }
            if data.get(..8) != Some(&CHUNK_MAGIC[..]) {
                return Some(Err(self.chunk_error(
                    number,
                    "bad chunk magic (expected `ElfChnk\\0`)".into(),
                )));
            }
            let first = read_u64(&data, 8);
            let last = read_u64(&data, 16);
            if last < first || last - first >= MAX_RECORDS_PER_CHUNK {
                return Some(Err(self.chunk_error(
                    number,
                    format!("implausible record numbers in chunk header ({first}..={last})"),
                )));
            }
            let first_index = self.next_index;
            self.next_index += last - first + 1;
            return Some(Ok(EvtxChunk {
                data,
                first_index,
                chunk_number: number,
            }));
        }
    }
}

fn read_u64(data: &[u8], at: usize) -> u64 {
    let mut b = [0u8; 8];
    if let Some(s) = data.get(at..at + 8) {
        b.copy_from_slice(s);
    }
    u64::from_le_bytes(b)
}

/// Reads until `buf` is full or EOF; returns the number of bytes read.
fn read_full(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match r.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

fn parser_settings() -> Arc<ParserSettings> {
    static SETTINGS: OnceLock<Arc<ParserSettings>> = OnceLock::new();
    SETTINGS
        .get_or_init(|| Arc::new(ParserSettings::new().indent(false).num_threads(1)))
        .clone()
}

/// Parses one chunk into events (CPU work; the pipeline calls this from a worker pool so both
/// cores are used). Each record → Ok(Event) or Err with file, chunk and record position.
pub fn parse_chunk(
    chunk: &EvtxChunk,
    source: &Arc<str>,
    input: &Arc<str>,
    received: DateTime<Utc>,
) -> Vec<Result<Event, EvtxError>> {
    let chunk_err = |reason: String| EvtxError::Chunk {
        file: source.clone(),
        chunk: chunk.chunk_number,
        offset: chunk_offset(chunk.chunk_number),
        reason,
    };
    // The evtx crate is defensive, but a panic on hostile input must not take the worker down.
    catch_unwind(AssertUnwindSafe(|| {
        parse_chunk_inner(chunk, source, input, received)
    }))
    .unwrap_or_else(|_| vec![Err(chunk_err("parser panicked on this chunk".into()))])
}

fn parse_chunk_inner(
    chunk: &EvtxChunk,
    source: &Arc<str>,
    input: &Arc<str>,
    received: DateTime<Utc>,
) -> Vec<Result<Event, EvtxError>> {
    let chunk_err = |reason: String| EvtxError::Chunk {
        file: source.clone(),
        chunk: chunk.chunk_number,
        offset: chunk_offset(chunk.chunk_number),
        reason,
    };
    let mut data = match EvtxChunkData::new(chunk.data.clone(), false) {
        Ok(d) => d,
        Err(e) => return vec![Err(chunk_err(e.to_string()))],
    };
    data.number = Some(chunk.chunk_number);
    let expected = (read_u64(&chunk.data, 16).saturating_sub(read_u64(&chunk.data, 8)) + 1)
        .min(MAX_RECORDS_PER_CHUNK) as usize;
    // The library logs damage it recovers from instead of returning it: capture those
    // messages around each step and report them here, positioned ([`super::liblog`]).
    let capture = Capture::start();
    let mut parsed = match data.parse(parser_settings()) {
        Ok(p) => p,
        Err(e) => return vec![Err(chunk_err(e.to_string()))],
    };
    let mut out = Vec::with_capacity(expected);
    if let Some(damage) = capture.finish() {
        out.push(Err(chunk_err(format!(
            "the EVTX parser reported damaged chunk data: {}",
            damage.reason()
        ))));
    }
    let mut records = parsed.iter();
    for position in 0u64.. {
        let capture = Capture::start();
        let Some(record) = records.next() else { break };
        let index = chunk.first_index + position;
        let record_err = |reason: String| EvtxError::Record {
            file: source.clone(),
            chunk: chunk.chunk_number,
            index,
            reason,
        };
        let origin = Origin {
            input: input.clone(),
            source: source.clone(),
            index,
        };
        out.push(render(record, origin, received).map_err(record_err));
        if let Some(damage) = capture.finish() {
            // The record's event (if any) is kept: the library recovered; the damage is
            // reported as an error at the same position.
            out.push(Err(record_err(format!(
                "the EVTX parser recovered from damaged record data (fields may be missing or wrong): {}",
                damage.reason()
            ))));
        }
    }
    out
}

/// One decoded record to an event; the error is the reason.
fn render(
    record: ::evtx::err::Result<::evtx::EvtxRecord<'_>>,
    origin: Origin,
    received: DateTime<Utc>,
) -> Result<Event, String> {
    // Render to JSON bytes and parse once (`into_json_value` would validate UTF-8 first).
    let rendered = record
        .and_then(|r| r.into_json_bytes())
        .map_err(|e| e.to_string())?;
    let value = serde_json::from_slice(&rendered.data)
        .map_err(|e| format!("rendered JSON is invalid: {e}"))?;
    event_from_windows_json(value, origin, received).map_err(|e| e.to_string())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;
    use std::path::PathBuf;

    fn shared(rel: &str) -> Option<PathBuf> {
        crate::testutil::shared(rel)
    }

    fn files_with_ext(dir: &Path, ext: &str, out: &mut Vec<PathBuf>) {
        let Ok(rd) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in rd.flatten() {
            let p = entry.path();
            if p.is_dir() {
                files_with_ext(&p, ext, out);
            } else if p.extension().is_some_and(|e| e.eq_ignore_ascii_case(ext)) {
                out.push(p);
            }
        }
        out.sort();
    }

    /// Parses CSV text into records, honouring double quotes (fields may span lines).
    fn csv_records(text: &str) -> Vec<Vec<String>> {
        let (mut rows, mut row, mut cur, mut quoted) =
            (Vec::new(), Vec::new(), String::new(), false);
        let mut chars = text.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '"' if quoted && chars.peek() == Some(&'"') => {
                    cur.push('"');
                    chars.next();
                }
                '"' => quoted = !quoted,
                ',' if !quoted => row.push(std::mem::take(&mut cur)),
                '\n' if !quoted => {
                    row.push(std::mem::take(&mut cur));
                    rows.push(std::mem::take(&mut row));
                }
                '\r' if !quoted => {}
                c => cur.push(c),
            }
        }
        if !cur.is_empty() || !row.is_empty() {
            row.push(cur);
            rows.push(row);
        }
        rows
    }

    fn now() -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000, 0).unwrap()
    }

    struct FileResult {
        events: Vec<Event>,
        errors: Vec<String>,
        indices: Vec<u64>,
    }

    fn parse_file(path: &Path) -> FileResult {
        let src: Arc<str> = Arc::from(path.to_string_lossy().as_ref());
        let input: Arc<str> = Arc::from("file");
        let mut r = FileResult {
            events: Vec::new(),
            errors: Vec::new(),
            indices: Vec::new(),
        };
        let chunks = match read_chunks(path) {
            Ok(c) => c,
            Err(e) => {
                r.errors.push(e.to_string());
                return r;
            }
        };
        for chunk in chunks {
            let chunk = match chunk {
                Ok(c) => c,
                Err(e) => {
                    r.errors.push(e.to_string());
                    continue;
                }
            };
            for (i, res) in parse_chunk(&chunk, &src, &input, now())
                .into_iter()
                .enumerate()
            {
                match res {
                    Ok(ev) => {
                        r.indices.push(ev.origin.index);
                        r.events.push(ev);
                    }
                    Err(e) => {
                        r.indices.push(chunk.first_index + i as u64);
                        r.errors.push(e.to_string());
                    }
                }
            }
        }
        r
    }

    #[test]
    fn corpus_matches_ground_truth() {
        let Some(root) = shared("data/evtx") else {
            return;
        };
        let truth = std::fs::read_to_string(root.join("ground_truth.csv")).unwrap();
        let mut expected = BTreeMap::new();
        for f in csv_records(&truth).into_iter().skip(1) {
            let mut ids: Vec<&str> = f[10]
                .split(';')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .collect();
            ids.sort_unstable();
            expected.insert(f[0].clone(), (f[8].parse::<u64>().unwrap(), ids.join(";")));
        }
        let mut files = Vec::new();
        files_with_ext(&root, "evtx", &mut files);
        assert_eq!(files.len(), expected.len(), "file count vs ground truth");
        // folder → (files, events, errors)
        let mut per_folder: BTreeMap<String, (u64, u64, u64)> = BTreeMap::new();
        let mut mismatches = Vec::new();
        for path in &files {
            let rel = path
                .strip_prefix(&root)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            let r = parse_file(path);
            let folder = rel.split('/').take(2).collect::<Vec<_>>().join("/");
            let e = per_folder.entry(folder).or_default();
            e.0 += 1;
            e.1 += r.events.len() as u64;
            e.2 += r.errors.len() as u64;
            for err in r.errors.iter().take(3) {
                println!("  error in {rel}: {err}");
            }
            let mut counts: BTreeMap<String, u64> = BTreeMap::new();
            for ev in &r.events {
                let ch = ev.fields.get_str("Channel").unwrap_or_default();
                let id = ev.fields.get_str("EventID").unwrap_or_default();
                *counts.entry(format!("{ch}:{id}")).or_default() += 1;
            }
            let mut ids: Vec<String> = counts.iter().map(|(k, v)| format!("{k}={v}")).collect();
            ids.sort_unstable();
            let got = (r.events.len() as u64, ids.join(";"));
            if expected.get(&rel) != Some(&got) {
                mismatches.push(format!("{rel}: got {got:?} want {:?}", expected.get(&rel)));
            }
            let contiguous = r.indices.iter().enumerate().all(|(i, &x)| x == i as u64);
            assert!(contiguous, "{rel}: record indices not contiguous");
            for ev in &r.events {
                assert_eq!(ev.logsource.product.as_deref(), Some("windows"));
                assert!(ev.fields.get("EventID").is_some(), "{rel}: no EventID");
            }
        }
        let mut total = (0, 0, 0);
        for (folder, (f, ev, er)) in &per_folder {
            println!("{folder:<50} files {f:>4} events {ev:>6} errors {er:>4}");
            total = (total.0 + f, total.1 + ev, total.2 + er);
        }
        println!(
            "TOTAL files {} events {} errors {}",
            total.0, total.1, total.2
        );
        assert!(
            mismatches.is_empty(),
            "record count mismatches: {mismatches:#?}"
        );
    }

    #[test]
    fn regression_json_renderings_match_evtx() {
        let Some(root) = shared("sigma/regression_data") else {
            return;
        };
        let mut files = Vec::new();
        files_with_ext(&root, "json", &mut files);
        let (mut compared, mut events) = (0, 0);
        for json_path in &files {
            let evtx_path = json_path.with_extension("evtx");
            if !evtx_path.exists() {
                continue;
            }
            let text = std::fs::read_to_string(json_path).unwrap();
            let values: Vec<serde_json::Value> = serde_json::Deserializer::from_str(&text)
                .into_iter()
                .collect::<Result<_, _>>()
                .unwrap();
            let from_evtx = parse_file(&evtx_path);
            assert!(
                from_evtx.errors.is_empty(),
                "{}: {:?}",
                evtx_path.display(),
                from_evtx.errors
            );
            assert_eq!(
                values.len(),
                from_evtx.events.len(),
                "{}",
                json_path.display()
            );
            for (i, (v, ev)) in values.into_iter().zip(&from_evtx.events).enumerate() {
                assert!(super::super::windows::is_windows_json(&v));
                let origin = ev.origin.clone();
                let from_json = event_from_windows_json(v, origin, now()).unwrap();
                // The JSON was rendered by another evtx version: GUIDs may differ in braces and
                // case, times in sub-microsecond precision. Names and everything else agree.
                let (a, b) = (from_json.fields.as_map(), ev.fields.as_map());
                let keys = |m: &serde_json::Map<String, serde_json::Value>| {
                    m.keys().cloned().collect::<Vec<_>>()
                };
                assert_eq!(keys(a), keys(b), "{} event {i}", json_path.display());
                for (k, va) in a {
                    let norm = |v: &serde_json::Value| {
                        crate::event::scalar_str(v)
                            .map(|s| s.trim().trim_matches(['{', '}']).to_ascii_lowercase())
                    };
                    if k == "TimeCreated" {
                        continue;
                    }
                    assert_eq!(
                        norm(va),
                        norm(&b[k]),
                        "{} event {i} field {k}",
                        json_path.display()
                    );
                }
                assert_eq!(from_json.logsource, ev.logsource);
                assert!((from_json.time - ev.time).num_microseconds().unwrap().abs() <= 1);
                events += 1;
            }
            compared += 1;
        }
        println!("regression_data: {compared} JSON/EVTX pairs, {events} events agree");
    }

    fn temp_file(name: &str, bytes: &[u8]) -> PathBuf {
        let p = std::env::temp_dir().join(format!("winparse-{}-{name}.evtx", std::process::id()));
        std::fs::write(&p, bytes).unwrap();
        p
    }

    fn file_header() -> Vec<u8> {
        let mut h = vec![0u8; FILE_HEADER_SIZE as usize];
        h[..8].copy_from_slice(FILE_MAGIC);
        h
    }

    fn fake_chunk(first: u64, last: u64) -> Vec<u8> {
        let mut c = vec![0u8; CHUNK_SIZE];
        c[..8].copy_from_slice(CHUNK_MAGIC);
        c[8..16].copy_from_slice(&first.to_le_bytes());
        c[16..24].copy_from_slice(&last.to_le_bytes());
        c[48..52].copy_from_slice(&1024u32.to_le_bytes());
        // Some non-record bytes where records would start.
        for (i, b) in c[512..1024].iter_mut().enumerate() {
            *b = (i * 7 % 251) as u8;
        }
        c
    }

    #[test]
    fn rejects_bad_files() {
        let missing = read_chunks(Path::new("/nonexistent/x.evtx"));
        assert!(matches!(missing, Err(EvtxError::Io { .. })));
        let p = temp_file("garbage", &[0x41; 5000]);
        let err = read_chunks(&p).err().unwrap();
        assert!(matches!(err, EvtxError::FileHeader { .. }), "{err}");
        assert!(err.to_string().contains("winparse-"), "{err}");
        let p2 = temp_file("short", b"ElfFile\0");
        assert!(matches!(
            read_chunks(&p2),
            Err(EvtxError::FileHeader { .. })
        ));
        let p3 = temp_file("headeronly", &file_header());
        assert_eq!(read_chunks(&p3).unwrap().count(), 0);
        for p in [p, p2, p3] {
            let _ = std::fs::remove_file(p);
        }
    }

    #[test]
    fn frames_chunks_and_reports_corruption() {
        let mut bytes = file_header();
        bytes.extend(fake_chunk(1, 3)); // chunk 0: indices 0..3
        bytes.extend(vec![0u8; CHUNK_SIZE]); // chunk 1: unused, skipped
        let mut bad = fake_chunk(4, 4);
        bad[0] = b'X';
        bytes.extend(bad); // chunk 2: bad magic
        bytes.extend(fake_chunk(10, 5)); // chunk 3: reversed range
        bytes.extend(fake_chunk(4, 5)); // chunk 4: indices 3..5
        bytes.extend(&fake_chunk(6, 6)[..3000]); // chunk 5: truncated
        let p = temp_file("framing", &bytes);
        let items: Vec<_> = read_chunks(&p).unwrap().collect();
        let _ = std::fs::remove_file(&p);
        assert_eq!(items.len(), 6, "{items:?}");
        let c0 = items[0].as_ref().unwrap();
        assert_eq!((c0.chunk_number, c0.first_index), (0, 0));
        match &items[1] {
            Err(EvtxError::Chunk { chunk, offset, .. }) => {
                assert_eq!((*chunk, *offset), (2, 4096 + 2 * 65536));
            }
            other => panic!("{other:?}"),
        }
        let pos = items[1].as_ref().err().map(EvtxError::position);
        assert_eq!(pos, Some(Position::Byte(4096 + 2 * 65536)));
        assert!(matches!(items[2], Err(EvtxError::Chunk { chunk: 3, .. })));
        let c4 = items[3].as_ref().unwrap();
        assert_eq!((c4.chunk_number, c4.first_index), (4, 3));
        let c5 = items[4].as_ref().unwrap();
        assert_eq!(
            (c5.chunk_number, c5.first_index, c5.data.len()),
            (5, 5, CHUNK_SIZE)
        );
        assert!(matches!(items[5], Err(EvtxError::Chunk { chunk: 5, .. })));
        // Parsing garbage chunks yields errors, never panics.
        let src: Arc<str> = Arc::from("fake.evtx");
        for c in [c0, c4, c5] {
            let res = parse_chunk(c, &src, &src, now());
            assert!(res.iter().all(Result::is_err), "{res:?}");
        }
        let not_a_chunk = EvtxChunk {
            data: vec![1, 2, 3],
            first_index: 0,
            chunk_number: 7,
        };
        let res = parse_chunk(&not_a_chunk, &src, &src, now());
        assert!(matches!(res[..], [Err(EvtxError::Chunk { chunk: 7, .. })]));
    }

    #[test]
    fn corrupted_real_chunks_do_not_panic() {
        let Some(root) = shared("data/evtx") else {
            return;
        };
        let mut files = Vec::new();
        files_with_ext(&root, "evtx", &mut files);
        let src: Arc<str> = Arc::from("fuzz");
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let (mut ok, mut err) = (0, 0);
        for path in files.iter().step_by(9) {
            let Some(Ok(chunk)) = read_chunks(path).unwrap().next() else {
                continue;
            };
            for round in 0..6 {
                let mut c = chunk.clone();
                let flips = if round == 0 { 1 } else { round * 8 };
                for _ in 0..flips {
                    let at = 512 + (next() as usize % (CHUNK_SIZE - 512));
                    c.data[at] ^= (next() % 255 + 1) as u8;
                }
                for r in parse_chunk(&c, &src, &src, now()) {
                    if r.is_ok() { ok += 1 } else { err += 1 }
                }
            }
        }
        println!("fuzzed chunks: {ok} events, {err} errors");
    }

    /// A chunk with one record whose template instance declares a 2-byte UInt8 substitution:
    /// the evtx crate reads 1 byte, logs `Read incorrect amount of data …` and recovers.
    fn chunk_with_a_damaged_substitution() -> Vec<u8> {
        let mut c = vec![0u8; CHUNK_SIZE];
        c[..8].copy_from_slice(CHUNK_MAGIC);
        for at in [8, 16, 24, 32] {
            c[at..at + 8].copy_from_slice(&1u64.to_le_bytes()); // record numbers and ids: 1
        }
        c[40..44].copy_from_slice(&128u32.to_le_bytes()); // header size
        c[44..48].copy_from_slice(&512u32.to_le_bytes()); // last record offset
        let mut binxml = vec![0x0f, 1, 1, 0, 0x0c, 0x01];
        binxml.extend(7u32.to_le_bytes()); // template id
        let def_offset = 512 + 24 + binxml.len() as u32 + 4;
        binxml.extend(def_offset.to_le_bytes()); // the definition follows inline
        let body = [0x0f, 1, 1, 0, 0x00]; // fragment header, end of stream
        binxml.extend(0u32.to_le_bytes()); // next template
        binxml.extend([0x11; 16]); // GUID
        binxml.extend((body.len() as u32).to_le_bytes());
        binxml.extend(body);
        binxml.extend(1u32.to_le_bytes()); // one substitution
        binxml.extend([2, 0, 0x04, 0]); // size 2, type UInt8
        binxml.extend([5, 0]); // the value, and the byte the declared size adds
        binxml.push(0x00); // end of stream
        let size = (24 + binxml.len() + 4) as u32;
        let mut record = b"\x2a\x2a\x00\x00".to_vec();
        record.extend(size.to_le_bytes());
        record.extend(1u64.to_le_bytes()); // record id
        record.extend(133_000_000_000_000_000u64.to_le_bytes()); // FILETIME
        record.extend(&binxml);
        record.extend(size.to_le_bytes());
        c[512..512 + record.len()].copy_from_slice(&record);
        let free = 512 + record.len() as u32;
        c[48..52].copy_from_slice(&free.to_le_bytes());
        c
    }

    #[test]
    fn damage_the_library_only_logs_is_reported_with_file_chunk_and_record() {
        super::super::liblog::install();
        let chunk = EvtxChunk {
            data: chunk_with_a_damaged_substitution(),
            first_index: 40,
            chunk_number: 3,
        };
        let src: Arc<str> = Arc::from("damaged.evtx");
        let results = parse_chunk(&chunk, &src, &src, now());
        let damage: Vec<String> = results
            .iter()
            .filter_map(|r| r.as_ref().err())
            .filter(|e| matches!(e, EvtxError::Record { index: 40, .. }))
            .map(ToString::to_string)
            .filter(|e| e.contains("recovered from damaged record data"))
            .collect();
        assert_eq!(damage.len(), 1, "{results:?}");
        assert!(
            damage[0].starts_with("damaged.evtx: chunk 3, record 40: "),
            "{}",
            damage[0]
        );
        assert!(
            damage[0].contains("Read incorrect amount of data"),
            "{}",
            damage[0]
        );
    }
}
