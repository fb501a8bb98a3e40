//! Tests of the report view and its three renderers.

use super::*;
use crate::outputs::thehive::tests::sample;

/// The sample verdict with every optional section filled and hostile strings in every
/// event-derived field.
pub(crate) fn full_input() -> ReportInput {
    let mut v = sample("41aa", 2);
    v.findings[0].rule_title = "LSASS <script>alert(1)</script> Access".into();
    v.findings[0].evidence[0].source = "logs/<img src=x onerror=alert(2)>.jsonl".into();
    // The optional sections in the verdict's own shapes (as `CaseBook` fills them).
    let doc = serde_json::json!({
        "indicators": [{
            "value": "203.0.113.7\"><script>x</script>",
            "kind": "ip",
            "tier": "malicious",
            "score": 92,
            "sources": [
                {"source": "offline-feed", "opinion": "malicious", "strength": 1.0,
                 "detail": "feodo c2", "link": null, "observed_at": "2026-11-02T09:14:10Z"},
                {"source": "virustotal", "opinion": "malicious", "strength": 0.87,
                 "detail": "61/94 engines", "link": null, "observed_at": "2026-11-02T09:14:10Z"},
                {"source": "abuseipdb", "opinion": "suspicious", "strength": 0.74,
                 "detail": "", "link": null, "observed_at": "2026-11-02T09:14:10Z"}
            ]
        }],
        "next_steps": [
            {"runbook": "T1003.001", "title": "Isolate the host",
             "action": "cut network access of the workstation"},
            {"runbook": "credential-access", "title": "Reset credentials cached on the host",
             "action": ""}
        ],
        "timeline": [
            {"time": "2026-11-02T09:14:10Z", "stage": "triage", "actor": "nightwatch", "note": ""},
            {"time": "2026-11-02T09:15:00Z", "stage": "investigate", "actor": "nightwatch",
             "note": "second rule"}
        ]
    });
    let mut merged = serde_json::to_value(&v).unwrap();
    for (k, val) in doc.as_object().unwrap() {
        merged[k] = val.clone();
    }
    ReportInput::from_json(&merged).unwrap()
}

#[test]
fn pdf_is_rendered_only_by_a_build_with_the_pdf_feature() {
    let input = full_input();
    assert!(ReportFormat::Md.render(&input).is_ok() && ReportFormat::Html.available().is_ok());
    let pdf = ReportFormat::Pdf.render(&input);
    if cfg!(feature = "pdf") {
        assert!(pdf.unwrap().starts_with(b"%PDF-"));
    } else {
        let e = pdf.unwrap_err().to_string();
        assert_eq!(
            e,
            "this build has no PDF support: rebuild with --features pdf"
        );
        assert_eq!(ReportFormat::Pdf.available().unwrap_err().to_string(), e);
    }
}

#[test]
fn optional_sections_are_read_from_the_verdict_document() {
    let input = full_input();
    assert_eq!(input.indicators[0].sources.len(), 3);
    assert_eq!(input.indicators[0].kind, "ip");
    assert_eq!(input.next_steps[1].references, vec!["credential-access"]);
    assert_eq!(input.stages[1].stage, "investigate");
    let mut bare = sample("c", 1);
    bare.next_steps.clear();
    let plain = serde_json::to_value(bare).unwrap();
    let input = ReportInput::from_json(&plain).unwrap();
    assert!(input.indicators.is_empty() && input.next_steps.is_empty());
}

#[test]
fn broken_documents_are_errors_not_panics() {
    assert!(matches!(
        ReportInput::from_json(&serde_json::json!({"schema": "x"})),
        Err(ReportError::NotAVerdict(_))
    ));
    let mut v = serde_json::to_value(sample("c", 1)).unwrap();
    v["indicators"] = serde_json::json!([{"no_value": 1}]);
    assert!(matches!(
        ReportInput::from_json(&v),
        Err(ReportError::NotAVerdict(_))
    ));
}

#[test]
fn matrix_columns_follow_the_kill_chain() {
    let input = ReportInput::new(sample("c", 1));
    let r = Report::new(&input);
    let tactics: Vec<&str> = r.matrix.iter().map(|c| c.tactic.as_str()).collect();
    assert_eq!(tactics, vec!["Execution", "Credential Access"]);
    assert_eq!(r.matrix[1].techniques, vec!["T1003.001 LSASS Memory"]);
    assert_eq!(r.timeline.items.len(), 2);
    assert_eq!(r.timeline.more, 0);
}

#[test]
fn long_sections_are_bounded_and_counted() {
    let mut input = full_input();
    let mut weak = input.verdict.findings[0].clone();
    weak.weight = 1.0;
    weak.rule_title = "weak".into();
    let mut evidence = Vec::new();
    for i in 0..30 {
        let mut e = weak.evidence[0].clone();
        e.event_id = format!("e{i:02}");
        e.time += chrono::Duration::seconds(i);
        evidence.push(e);
    }
    weak.evidence = evidence;
    input.verdict.findings.push(weak);
    input.verdict.reasoning = vec!["x".repeat(400); 13];
    input
        .verdict
        .reasoning
        .push("Concluded incident: two kinds of evidence agree.".into());
    input.next_steps = vec![input.next_steps[0].clone(); 9];
    let r = Report::new(&input);
    assert_eq!(r.timeline.items.len(), bounds::TIMELINE_ROWS);
    // Every finding has a row, whatever its weight.
    for f in &input.verdict.findings {
        let title = if f.rule_title.is_empty() {
            &f.summary
        } else {
            &f.rule_title
        };
        assert!(
            r.timeline
                .items
                .iter()
                .any(|t| t.what.starts_with(title.as_str())),
            "{title}"
        );
    }
    let total: usize = input
        .verdict
        .findings
        .iter()
        .map(|f| f.evidence.len())
        .sum();
    assert!(r.timeline.more > 0 && r.timeline.more <= total - bounds::TIMELINE_ROWS);
    let times: Vec<&str> = r.timeline.items.iter().map(|t| t.time.as_str()).collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "{times:?}");
    assert_eq!((r.reasoning.items.len(), r.reasoning.more), (8, 6));
    assert_eq!(
        r.reasoning.items[0].chars().count(),
        bounds::REASONING_CHARS
    );
    assert!(r.reasoning.items[0].ends_with('…'));
    // The conclusion (the chain's last sentence) is kept when lines are left out.
    assert_eq!(
        r.reasoning.items.last(),
        Some(&cut(
            input.verdict.reasoning.last().unwrap(),
            bounds::REASONING_CHARS
        ))
    );
    assert_eq!((r.next_steps.items.len(), r.next_steps.more), (5, 4));
    assert_eq!(
        r.next_steps.more_line("next steps").as_deref(),
        Some("… and 4 more next steps.")
    );
    let weights: Vec<f64> = r
        .findings
        .items
        .iter()
        .map(|f| f.weight.parse::<f64>().unwrap().abs())
        .collect();
    assert!(weights.windows(2).all(|w| w[0] >= w[1]), "{weights:?}");
}

#[test]
fn timeline_details_come_from_the_evidence_or_the_stored_event() {
    let mut v = sample("c", 1);
    let mut fields = crate::event::Fields::new();
    fields.insert("TargetImage", "C:\\Windows\\system32\\lsass.exe");
    fields.insert("Noise", "x");
    let origin = crate::event::Origin {
        input: "file".into(),
        source: "sysmon.jsonl".into(),
        index: 7,
    };
    let event = Event::new(origin, v.findings[0].evidence[0].time, fields);
    let id = event.id.as_str().to_owned();
    v.findings[0].evidence[0].fields.clear();
    v.findings[0].evidence[0].event_id = id.clone();
    let input = ReportInput::new(v.clone()).with_events(vec![event]);
    let r = Report::new(&input);
    let row = r.timeline.items.iter().find(|t| t.event_id == id).unwrap();
    assert_eq!(row.detail, "TargetImage=C:\\Windows\\system32\\lsass.exe");
    let bare = ReportInput::new(v);
    let r = Report::new(&bare);
    assert_eq!(
        r.timeline
            .items
            .iter()
            .find(|t| t.event_id == id)
            .unwrap()
            .detail,
        ""
    );
    assert_eq!(cut("abcdef", 4), "abc…");
    assert_eq!(cut("abc", 4), "abc");
}
