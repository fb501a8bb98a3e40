//! The TheHive 5 alert a `format = "thehive"` webhook posts (`POST /api/v1/alert`).
//!
//! Only what a verdict carries is mapped; nothing is invented. `sourceRef` is the case id and
//! version, so a re-sent verdict (at-least-once delivery) is the same alert, which TheHive
//! rejects as a duplicate of `(type, source, sourceRef)` instead of creating a second one.
//! Observables: the case's host as a `hostname`. Verdict evidence references events (id,
//! time, input, source file, position) but carries none of their field values, so there is
//! no IP, domain, URL, hash or mail address to map.

use serde::Serialize;

use crate::verdict::{Severity, Verdict};

/// `type` and `source` of every alert.
pub const ALERT_TYPE: &str = "nightwatch";
pub const ALERT_SOURCE: &str = "nightwatch";

/// A TheHive 5 alert.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Alert {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub source: &'static str,
    pub source_ref: String,
    pub title: String,
    pub description: String,
    /// 1 low, 2 medium, 3 high, 4 critical.
    pub severity: u8,
    /// Milliseconds since the epoch: the event time of the case's first evidence.
    pub date: i64,
    /// ATT&CK technique ids.
    pub tags: Vec<String>,
    pub observables: Vec<Observable>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Observable {
    pub data_type: &'static str,
    pub data: String,
    pub message: String,
}

/// TheHive's 1–4 severity. TheHive has no informational level: it maps to low.
pub fn severity(s: Severity) -> u8 {
    match s {
        Severity::Informational | Severity::Low => 1,
        Severity::Medium => 2,
        Severity::High => 3,
        Severity::Critical => 4,
    }
}

/// Stable per case version: the case id and the version.
pub fn source_ref(v: &Verdict) -> String {
    format!("{}-v{}", v.case_id, v.version)
}

/// Maps one verdict.
pub fn alert(v: &Verdict) -> Alert {
    let headline = match v.findings.first() {
        Some(f) if v.findings.len() > 1 => format!(
            ": {} (+{} more finding{})",
            f.rule_title,
            v.findings.len() - 1,
            if v.findings.len() > 2 { "s" } else { "" }
        ),
        Some(f) => format!(": {}", f.rule_title),
        None => String::new(),
    };
    let title = format!(
        "{} ({}) on {}{headline}",
        v.conclusion.as_str(),
        v.severity.as_str(),
        v.host
    );
    let observables = if v.host.is_empty() {
        Vec::new()
    } else {
        vec![Observable {
            data_type: "hostname",
            data: v.host.clone(),
            message: format!("host of nightwatch case {}", v.case_id),
        }]
    };
    Alert {
        kind: ALERT_TYPE,
        source: ALERT_SOURCE,
        source_ref: source_ref(v),
        title,
        description: description(v),
        severity: severity(v.severity),
        date: v.first_seen.timestamp_millis(),
        tags: v.attack.iter().map(|a| a.technique_id.clone()).collect(),
        observables,
    }
}

/// Markdown: conclusion, score and confidence, the reasoning chain, findings, ATT&CK.
fn description(v: &Verdict) -> String {
    use std::fmt::Write;
    let mut d = String::new();
    let _ = writeln!(
        d,
        "**Conclusion:** {} · **Severity:** {} · **Score:** {}/100 · **Confidence:** {}\n",
        v.conclusion.as_str(),
        v.severity.as_str(),
        v.score,
        v.confidence
    );
    let _ = writeln!(
        d,
        "**Host:** `{}` · **First seen:** {} · **Last seen:** {}\n",
        v.host,
        v.first_seen.to_rfc3339(),
        v.last_seen.to_rfc3339()
    );
    d.push_str("### Reasoning\n\n");
    for (i, line) in v.reasoning.iter().enumerate() {
        let _ = writeln!(d, "{}. {line}", i + 1);
    }
    if !v.findings.is_empty() {
        d.push_str("\n### Findings\n\n");
        for f in &v.findings {
            let _ = writeln!(
                d,
                "- **{}** ({}, rule `{}`): matched {} time(s), {} → {}",
                f.rule_title,
                f.level.as_str(),
                f.rule_id,
                f.count,
                f.first_seen.to_rfc3339(),
                f.last_seen.to_rfc3339()
            );
        }
    }
    if !v.attack.is_empty() {
        d.push_str("\n### ATT&CK\n\n");
        for a in &v.attack {
            let _ = writeln!(
                d,
                "- {} {} ({})",
                a.technique_id,
                a.technique,
                a.tactics.join(", ")
            );
        }
    }
    let _ = write!(
        d,
        "\n---\nnightwatch verdict `{}`, case `{}`, version {}",
        v.verdict_id, v.case_id, v.version
    );
    d
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
pub(crate) mod tests {
    use chrono::{DateTime, Utc};

    use super::*;
    use crate::detect::Level;
    use crate::verdict::{CaseHeader, Evidence, FindingInput, FindingKind, synthesize};

    /// A verdict from real scoring: a critical LSASS rule and a high PowerShell rule.
    pub(crate) fn sample(case_id: &str, version: u32) -> Verdict {
        let t: DateTime<Utc> = DateTime::parse_from_rfc3339("2026-11-02T09:14:09.500Z")
            .unwrap()
            .with_timezone(&Utc);
        let finding = |rule: &str, title: &str, level, tags: &[&str]| FindingInput {
            kind: FindingKind::RuleMatch,
            rule_id: rule.to_owned(),
            rule_title: title.to_owned(),
            level,
            tags: tags.iter().map(|s| s.to_string()).collect(),
            count: 1,
            first_seen: t,
            last_seen: t,
            evidence: vec![Evidence {
                event_id: format!("ev-{rule}"),
                time: t,
                rule_id: rule.to_owned(),
                input: "file".into(),
                source: "logs/ws-fin-07.jsonl".into(),
                index: 2,
                fields: Default::default(),
            }],
            ..Default::default()
        };
        synthesize(
            CaseHeader {
                case_id,
                version,
                host: "WS-FIN-07.corp.example",
                first_seen: t,
                last_seen: t + chrono::Duration::seconds(90),
            },
            &[
                finding(
                    "r-lsass",
                    "LSASS Access",
                    Level::Critical,
                    &["attack.credential_access", "attack.t1003.001"],
                ),
                finding(
                    "r-ps",
                    "Encoded PowerShell",
                    Level::High,
                    &["attack.execution", "attack.t1059.001"],
                ),
            ],
            t + chrono::Duration::seconds(100),
        )
    }

    #[test]
    fn maps_a_verdict_to_a_thehive_alert() {
        let v = sample("41aa", 2);
        let a = alert(&v);
        let json = serde_json::to_value(&a).unwrap();
        for key in [
            "type",
            "source",
            "sourceRef",
            "title",
            "description",
            "severity",
            "date",
            "tags",
            "observables",
        ] {
            assert!(json.get(key).is_some(), "missing {key}: {json}");
        }
        assert_eq!(json["type"], "nightwatch");
        assert_eq!(json["source"], "nightwatch");
        assert_eq!(json["sourceRef"], "41aa-v2");
        assert_eq!(v.severity, Severity::High, "score {}", v.score);
        assert_eq!(json["severity"], 3);
        assert_eq!(json["date"], v.first_seen.timestamp_millis());
        assert_eq!(json["tags"], serde_json::json!(["T1003.001", "T1059.001"]));
        assert_eq!(
            json["observables"],
            serde_json::json!([{"dataType": "hostname", "data": "WS-FIN-07.corp.example",
                "message": "host of nightwatch case 41aa"}])
        );
        assert_eq!(
            a.title,
            "incident (high) on WS-FIN-07.corp.example: LSASS Access (+1 more finding)"
        );
        // The description carries the conclusion, score, confidence and every reasoning line.
        assert!(a.description.contains("**Conclusion:** incident"));
        assert!(
            a.description
                .contains(&format!("**Score:** {}/100", v.score))
        );
        assert!(
            a.description
                .contains(&format!("**Confidence:** {}", v.confidence))
        );
        for line in &v.reasoning {
            assert!(a.description.contains(line.as_str()), "{line}");
        }
        assert!(
            a.description
                .contains("- T1003.001 LSASS Memory (credential-access)"),
            "{}",
            a.description
        );
    }

    #[test]
    fn golden_thehive_alert() {
        let a = alert(&sample("41aa", 2));
        crate::testutil::golden_json("thehive-alert.json", &serde_json::to_value(&a).unwrap());
    }

    #[test]
    fn source_ref_is_stable_per_case_version() {
        assert_eq!(
            alert(&sample("c", 1)).source_ref,
            alert(&sample("c", 1)).source_ref
        );
        assert_ne!(
            alert(&sample("c", 1)).source_ref,
            alert(&sample("c", 2)).source_ref
        );
    }

    #[test]
    fn severities_map_onto_thehive_1_to_4() {
        assert_eq!(severity(Severity::Informational), 1);
        assert_eq!(severity(Severity::Low), 1);
        assert_eq!(severity(Severity::Medium), 2);
        assert_eq!(severity(Severity::High), 3);
        assert_eq!(severity(Severity::Critical), 4);
    }
}
