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
