use super::*;
use crate::flow::channel::bounded;
use crate::metrics::Metrics;
use std::io::Write;

fn run(paths: &[PathBuf]) -> (Vec<RawRecord>, Vec<ParseError>, FileReport) {
    run_with(paths, FileLimits::default())
}

fn run_with(
    paths: &[PathBuf],
    limits: FileLimits,
) -> (Vec<RawRecord>, Vec<ParseError>, FileReport) {
    let m = Metrics::new().unwrap();
    let (tx, rx) = bounded("raw", 1000, &m);
    let (dtx, drx) = bounded("dead", 1000, &m);
    let report = read_paths(
        Arc::from("file"),
        paths,
        &FileOptions {
            limits,
            ..Default::default()
        },
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
    let mut gz =
        flate2::write::GzEncoder::new(File::create(&p).unwrap(), flate2::Compression::default());
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

fn gzip(path: &Path, parts: &[&[u8]]) {
    let mut gz =
        flate2::write::GzEncoder::new(File::create(path).unwrap(), flate2::Compression::fast());
    for p in parts {
        gz.write_all(p).unwrap();
    }
    gz.finish().unwrap();
}

#[test]
fn gzip_streams_and_long_lines_are_cut_and_marked() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("app.log.gz");
    gzip(&p, &[b"first\n", &vec![b'z'; 300_000], b"\nlast\n"]);
    let limits = FileLimits {
        max_line_bytes: 1000,
        ..FileLimits::default()
    };
    let (recs, dead, report) = run_with(std::slice::from_ref(&p), limits);
    assert!(dead.is_empty(), "{dead:?}");
    assert_eq!(recs.len(), 3);
    assert_eq!(report.truncated, 1);
    let Payload::Truncated {
        inner,
        original_bytes,
    } = &recs[1].payload
    else {
        panic!("{:?}", recs[1].payload);
    };
    assert_eq!(*original_bytes, 300_000);
    assert!(matches!(&**inner, Payload::Line { line, .. } if line.len() == 1000));
    let events: Vec<_> = recs.into_iter().flat_map(normalize::parse).collect();
    let cut = events[1].as_ref().unwrap();
    assert_eq!(
        cut.fields.get(crate::normalize::TRUNCATED_FIELD),
        Some(&serde_json::json!(300_000))
    );
    assert!(
        events[0]
            .as_ref()
            .unwrap()
            .fields
            .get(crate::normalize::TRUNCATED_FIELD)
            .is_none()
    );
}

#[test]
fn documents_over_the_cap_are_dead_lettered_not_cut() {
    let dir = tempfile::tempdir().unwrap();
    let array = format!("[{}]", vec![r#"{"a":1}"#; 300].join(","));
    let plain = dir.path().join("events.json");
    std::fs::write(&plain, &array).unwrap();
    let packed = dir.path().join("events.json.gz");
    gzip(&packed, &[array.as_bytes()]);
    let limits = FileLimits {
        max_document_bytes: 1000,
        ..FileLimits::default()
    };
    let (recs, dead, _) = run_with(&[plain.clone(), packed], limits);
    assert!(recs.is_empty(), "nothing is read from a file over the cap");
    assert_eq!(dead.len(), 2, "{dead:?}");
    assert!(
        dead[0]
            .reason
            .contains("the file (2401 bytes) is larger than max_document_bytes (1000 bytes)"),
        "{}",
        dead[0].reason
    );
    assert!(
        dead[1]
            .reason
            .contains("the decompressed content is larger"),
        "{}",
        dead[1].reason
    );
    // At the cap exactly, it is read.
    let limits = FileLimits {
        max_document_bytes: array.len() as u64,
        ..FileLimits::default()
    };
    let (recs, dead, _) = run_with(&[plain], limits);
    assert!(dead.is_empty());
    assert_eq!(recs.len(), 300);
}

const MESSAGE: &str =
    "From: a@sender.example\nTo: b@corp.example\nSubject: s\nMessage-ID: <m@x>\n\nbody\n";

#[test]
fn a_mailbox_is_read_message_by_message_and_an_oversized_one_is_dead_lettered() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("reported.mbox");
    let big = format!("{MESSAGE}{}\n", "x".repeat(4000));
    let text = format!(
        "From a@sender.example Mon Jan  1 00:00:00 2024\n{MESSAGE}\nFrom c@sender.example Mon Jan  1 00:01:00 2024\n{big}\nFrom d@sender.example Mon Jan  1 00:02:00 2024\n{MESSAGE}"
    );
    std::fs::write(&p, &text).unwrap();
    let limits = FileLimits {
        max_document_bytes: 1000,
        ..FileLimits::default()
    };
    let (recs, dead, report) = run_with(std::slice::from_ref(&p), limits);
    assert_eq!(report.files, 1);
    assert_eq!(recs.len(), 2, "two messages fit the limit");
    let offsets: Vec<u64> = recs.iter().map(|r| r.origin.index).collect();
    assert_eq!(offsets[0], 0);
    assert_eq!(offsets[1] as usize, text.find("From d@").unwrap());
    assert_eq!(dead.len(), 1);
    assert!(
        dead[0].reason.contains("larger than max_document_bytes"),
        "{}",
        dead[0].reason
    );
    // Each message parses to its own events, with distinct indices.
    let mut ids = std::collections::BTreeSet::new();
    for r in recs {
        let Payload::Document { bytes, .. } = r.payload else {
            panic!("a message is a document")
        };
        let events = crate::normalize::eml::parse_message_at(
            &bytes,
            &r.origin.source,
            &r.origin.input,
            Utc::now(),
            r.origin.index,
        );
        let event = events[0].as_ref().unwrap();
        assert_eq!(
            event.fields.get("Subject").and_then(Value::as_str),
            Some("s")
        );
        assert!(ids.insert(event.id.clone()));
    }
}

#[test]
fn a_maildir_reads_cur_and_new_and_skips_messages_still_in_tmp() {
    let dir = tempfile::tempdir().unwrap();
    for sub in ["cur", "new", "tmp"] {
        std::fs::create_dir(dir.path().join(sub)).unwrap();
        std::fs::write(
            dir.path()
                .join(sub)
                .join(format!("1701.M1P1.host:2,S-{sub}")),
            MESSAGE,
        )
        .unwrap();
    }
    let (recs, dead, report) = run(&[dir.path().to_path_buf()]);
    assert!(dead.is_empty());
    assert_eq!(report.files, 2);
    let sources: Vec<String> = recs.iter().map(|r| r.origin.source.to_string()).collect();
    assert!(sources.iter().all(|s| !s.ends_with("S-tmp")), "{sources:?}");
    assert_eq!(recs.len(), 2);
}
