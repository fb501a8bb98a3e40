//! `nightwatch report` and `scan --report` through the real binary.

use std::io::Write;
use std::process::Stdio;

use crate::helpers::{bin, demo_events, demo_verdicts, run};

fn s(p: &std::path::Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn scan_writes_one_report_per_case_in_each_format() {
    let dir = tempfile::tempdir().unwrap();
    let events = demo_events(dir.path());
    let reports = dir.path().join("reports");
    let rules = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("rules");
    let out = run(&[
        "scan",
        "--rules",
        s(&rules),
        "--report",
        s(&reports),
        s(&events),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let verdicts = crate::helpers::stdout_lines(&out);
    assert!(!verdicts.is_empty());
    for v in &verdicts {
        let case = v["case_id"].as_str().unwrap();
        let conclusion = v["conclusion"].as_str().unwrap();
        let md = std::fs::read_to_string(reports.join(format!("{case}.md"))).unwrap();
        assert!(
            md.contains(&format!(
                "- **Conclusion:** {}",
                conclusion.replace('_', "\\_")
            )),
            "{md}"
        );
        let html = std::fs::read_to_string(reports.join(format!("{case}.html"))).unwrap();
        assert!(html.contains(&format!("class=\"badge {conclusion}\"")));
        let pdf = std::fs::read(reports.join(format!("{case}.pdf"))).unwrap();
        assert!(pdf.starts_with(b"%PDF-"));
    }
    let files = std::fs::read_dir(&reports).unwrap().count();
    assert_eq!(files, verdicts.len() * 3);

    // Only the formats asked for.
    let only = dir.path().join("only-md");
    let out = run(&[
        "scan",
        "--rules",
        s(&rules),
        "--report",
        s(&only),
        "--report-format",
        "md",
        s(&events),
    ]);
    assert!(out.status.success());
    let names: Vec<String> = std::fs::read_dir(&only)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names.len(), verdicts.len());
    assert!(names.iter().all(|n| n.ends_with(".md")), "{names:?}");
}

#[test]
fn report_renders_a_demo_incident_as_a_pdf_that_pdftotext_reads() {
    let dir = tempfile::tempdir().unwrap();
    let incident = demo_verdicts()
        .into_iter()
        .find(|v| v["conclusion"] == "incident")
        .unwrap();
    let verdict = dir.path().join("v.json");
    std::fs::write(&verdict, incident.to_string()).unwrap();
    let pdf = dir.path().join("r.pdf");
    let out = run(&[
        "report",
        "--verdict",
        s(&verdict),
        "--format",
        "pdf",
        "--out",
        s(&pdf),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let bytes = std::fs::read(&pdf).unwrap();
    assert!(bytes.starts_with(b"%PDF-"));
    match std::process::Command::new("pdftotext")
        .arg(&pdf)
        .arg("-")
        .output()
    {
        Ok(text) => {
            assert!(text.status.success());
            let text = String::from_utf8_lossy(&text.stdout);
            assert!(text.contains("INCIDENT"), "{text}");
            assert!(text.contains(incident["host"].as_str().unwrap()), "{text}");
        }
        Err(_) if std::env::var_os("CI").is_some() => {
            panic!("pdftotext (poppler-utils) is required when CI is set")
        }
        Err(_) => eprintln!("pdftotext not installed; skipping the text extraction check"),
    }

    // Markdown from standard input.
    let mut child = bin()
        .args(["report", "--verdict", "-", "--format", "md"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(incident.to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("## Reasoning"));
}

#[test]
fn report_rejects_what_is_not_a_verdict() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, "{\"schema\": \"something else\"}").unwrap();
    let out = run(&["report", "--verdict", s(&bad)]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a nightwatch.verdict.v1"));
    std::fs::write(&bad, "{\"a\": 1}\n{\"b\": 2}\n").unwrap();
    let out = run(&["report", "--verdict", s(&bad)]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("give one verdict"));
    assert_eq!(
        run(&["report", "--verdict", "/nonexistent.json"])
            .status
            .code(),
        Some(2)
    );
}

/// Text of a PDF by `pdftotext` and its page count (form feeds), or `None` without pdftotext
/// (required when `CI` is set).
fn pdftotext(pdf: &std::path::Path) -> Option<(String, usize)> {
    match std::process::Command::new("pdftotext")
        .arg("-layout")
        .arg(pdf)
        .arg("-")
        .output()
    {
        Ok(out) => {
            assert!(out.status.success(), "{out:?}");
            let text = String::from_utf8_lossy(&out.stdout).into_owned();
            let pages = text.matches('\u{c}').count();
            Some((text, pages))
        }
        Err(_) if std::env::var_os("CI").is_some() => {
            panic!("pdftotext (poppler-utils) is required when CI is set")
        }
        Err(_) => {
            eprintln!("pdftotext not installed; skipping the text extraction check");
            None
        }
    }
}

/// A raw HTTP GET: (status, content type, body bytes).
fn get_bytes(addr: std::net::SocketAddr, path: &str) -> (u16, String, Vec<u8>) {
    use std::io::Read;
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).unwrap();
    let split = buf.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8_lossy(&buf[..split]).into_owned();
    let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    let ctype = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-type: ")
                .map(str::to_owned)
        })
        .unwrap_or_default();
    (status, ctype, buf[split + 4..].to_vec())
}

#[test]
fn the_demo_incident_report_comes_from_the_history_on_one_page() {
    let dir = tempfile::tempdir().unwrap();
    let events = demo_events(dir.path());
    let state = dir.path().join("state");
    let rules = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("rules");
    let out = run(&[
        "scan",
        "--rules",
        s(&rules),
        "--state-dir",
        s(&state),
        s(&events),
    ]);
    assert!(out.status.success(), "{out:?}");
    let verdicts = crate::helpers::stdout_lines(&out);
    let incident = verdicts
        .iter()
        .filter(|v| v["conclusion"] == "incident")
        .max_by_key(|v| v["findings"].as_array().unwrap().len())
        .unwrap();
    let id = incident["case_id"].as_str().unwrap();
    let host = incident["host"].as_str().unwrap();

    // The command line, from the history of the state directory.
    let pdf = dir.path().join("case.pdf");
    let out = run(&[
        "report",
        id,
        "--state-dir",
        s(&state),
        "--format",
        "pdf",
        "--out",
        s(&pdf),
    ]);
    assert!(out.status.success(), "{out:?}");
    if let Some((text, pages)) = pdftotext(&pdf) {
        assert_eq!(pages, 1, "the demo incident is one page:\n{text}");
        assert!(text.contains("INCIDENT"), "{text}");
        assert!(text.contains(host), "{text}");
        assert!(text.contains("page 1 of 1"), "{text}");
    }
    let out = run(&["report", id, "--state-dir", s(&state), "--format", "md"]);
    assert!(out.status.success(), "{out:?}");
    let md = String::from_utf8_lossy(&out.stdout);
    assert!(md.contains("- **Conclusion:** incident"), "{md}");
    // Key fields of the evidence events are on the timeline.
    assert!(md.contains("CommandLine="), "{md}");
    let out = run(&["report", "nope", "--state-dir", s(&state)]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no case nope"));
    let html = run(&["report", id, "--state-dir", s(&state), "--format", "html"]);
    let html = String::from_utf8_lossy(&html.stdout);
    assert!(
        html.contains("@page { size: A4 portrait"),
        "print CSS for one A4 page"
    );
    assert!(html.contains("@media print"));
    assert!(!html.contains("page-break-before") && !html.contains("break-before: page"));

    // The daemon serves the same reports from the same history.
    let cfg = dir.path().join("serve.toml");
    std::fs::write(
        &cfg,
        format!(
            "[rules]\npaths = [{:?}]\n[state]\ndir = {:?}\n",
            s(&rules),
            s(&state)
        ),
    )
    .unwrap();
    let daemon = crate::helpers::Daemon::start(&["--config", s(&cfg)], &[]);
    for (ext, ctype) in [
        ("md", "text/markdown; charset=utf-8"),
        ("html", "text/html; charset=utf-8"),
        ("pdf", "application/pdf"),
    ] {
        let (status, got, body) = get_bytes(daemon.addr, &format!("/api/cases/{id}/report.{ext}"));
        assert_eq!((status, got.as_str()), (200, ctype), "{ext}");
        if ext == "pdf" {
            let served = dir.path().join("served.pdf");
            std::fs::write(&served, &body).unwrap();
            if let Some((text, pages)) = pdftotext(&served) {
                assert_eq!(pages, 1, "{text}");
                assert!(text.contains("INCIDENT") && text.contains(host), "{text}");
            }
        }
        let (status, got, body) = get_bytes(daemon.addr, &format!("/api/cases/nope/report.{ext}"));
        assert_eq!(status, 404);
        assert!(got.starts_with("application/json"), "{got}");
        let err: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(err["code"], "not_found");
    }
    // The history gauges are set at start-up.
    let (_, metrics) = crate::helpers::http_get(daemon.addr, "/metrics");
    let cases = metrics
        .lines()
        .find_map(|l| l.strip_prefix("nightwatch_history_cases "))
        .unwrap();
    assert_eq!(
        cases.trim().parse::<usize>().unwrap(),
        verdicts
            .iter()
            .map(|v| v["case_id"].as_str().unwrap())
            .collect::<std::collections::BTreeSet<_>>()
            .len()
    );
    assert!(metrics.contains("nightwatch_history_compacted_total{reason=\"size\"} 0"));
    let (code, _) = daemon.terminate(std::time::Duration::from_secs(30));
    assert_eq!(code, 0);
}

#[test]
fn the_case_reports_need_the_token_like_the_rest_of_the_case_api() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("serve.toml");
    std::fs::write(
        &cfg,
        format!("[state]\ndir = {:?}\n", s(&dir.path().join("state"))),
    )
    .unwrap();
    let daemon = crate::helpers::Daemon::start(
        &["--config", s(&cfg)],
        &[("NIGHTWATCH__API__TOKEN", "s3cret-token")],
    );
    for path in ["/api/cases/x/report.pdf", "/api/indicators/8.8.4.4"] {
        let (status, _, body) = get_bytes(daemon.addr, path);
        assert_eq!(status, 401, "{path}");
        let err: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(err["code"], "unauthorized");
    }
    let (code, body) = crate::helpers::http_request(
        daemon.addr,
        "GET",
        "/api/cases/x/report.html",
        &[("Authorization", "Bearer s3cret-token")],
        "",
    );
    assert_eq!(code, 404, "{body}");
    daemon.terminate(std::time::Duration::from_secs(30));
}
