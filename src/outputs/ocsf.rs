//! The verdict as an OCSF Detection Finding (class 2004, category 2 Findings, OCSF 1.3): what
//! an output with `format = "ocsf"` writes.
//!
//! [`detection_finding`] is a pure function of the verdict: nothing is looked up or invented.
//! The finding is the case: `finding_info.uid` is the case id, the first version of a case is
//! activity 1 (Create) and later versions are activity 2 (Update), and `metadata.uid` is the
//! verdict id so each version stays distinguishable. Times are milliseconds since the epoch as
//! OCSF's `timestamp_t`. What OCSF has no attribute for (the conclusion, the reasoning chain,
//! the verdict version) is kept under `unmapped.nightwatch`.

use serde_json::{Map, Value, json};

use crate::attack;
use crate::verdict::{AttackRef, Conclusion, Finding, FindingKind, Severity, Verdict};

/// The OCSF schema version the mapping follows.
pub const OCSF_VERSION: &str = "1.3.0";
pub const CLASS_UID: u32 = 2004;
pub const CATEGORY_UID: u32 = 2;

/// OCSF `severity_id`: 1 Informational, 2 Low, 3 Medium, 4 High, 5 Critical.
pub fn severity_id(s: Severity) -> u8 {
    match s {
        Severity::Informational => 1,
        Severity::Low => 2,
        Severity::Medium => 3,
        Severity::High => 4,
        Severity::Critical => 5,
    }
}

fn severity_name(s: Severity) -> &'static str {
    match s {
        Severity::Informational => "Informational",
        Severity::Low => "Low",
        Severity::Medium => "Medium",
        Severity::High => "High",
        Severity::Critical => "Critical",
    }
}

/// OCSF `risk_level_id` from the 0–100 score: 0 Info, 1 Low, 2 Medium, 3 High, 4 Critical,
/// on the same bands as the verdict's severity.
fn risk_level(score: u8) -> (u8, &'static str) {
    match score {
        80.. => (4, "Critical"),
        60..=79 => (3, "High"),
        35..=59 => (2, "Medium"),
        15..=34 => (1, "Low"),
        _ => (0, "Info"),
    }
}

/// OCSF `confidence_id` (1 Low, 2 Medium, 3 High) from the verdict's 0–1 confidence.
fn confidence_level(confidence: f64) -> (u8, &'static str) {
    if confidence >= 0.75 {
        (3, "High")
    } else if confidence >= 0.5 {
        (2, "Medium")
    } else {
        (1, "Low")
    }
}

/// One line: conclusion, severity, host and the strongest finding.
pub fn title(v: &Verdict) -> String {
    let strongest = v
        .findings
        .first()
        .map(|f| format!(": {}", finding_label(f)))
        .unwrap_or_default();
    format!(
        "{} ({}) on {}{strongest}",
        v.conclusion.as_str(),
        v.severity.as_str(),
        v.host
    )
}

fn finding_label(f: &Finding) -> &str {
    if f.rule_title.is_empty() {
        &f.summary
    } else {
        &f.rule_title
    }
}

fn ms(t: chrono::DateTime<chrono::Utc>) -> i64 {
    t.timestamp_millis()
}

/// The OCSF `analytic` of a finding: the rule behind it.
fn analytic(f: &Finding) -> Value {
    let (type_id, kind) = match f.kind {
        FindingKind::RuleMatch => (1, "Rule"),
        FindingKind::Correlation => (2, "Behavioral"),
        // Kinds that are not rules (feed hits, history, feedback, …) as they are added.
        #[allow(unreachable_patterns)]
        _ => (99, "Other"),
    };
    json!({
        "uid": f.rule_id,
        "name": f.rule_title,
        "type_id": type_id,
        "type": kind,
        "category": "sigma",
    })
}

/// One OCSF `attack` object per (technique, tactic) pair; a sub-technique is reported under
/// its parent technique.
fn attacks(refs: &[AttackRef]) -> Vec<Value> {
    let mut out = Vec::new();
    for a in refs {
        let (technique, sub) = match a.technique_id.split_once('.') {
            Some((parent, _)) => {
                let name = attack::technique(parent)
                    .map(|t| t.name)
                    .unwrap_or_default();
                (
                    json!({"uid": parent, "name": name}),
                    Some(json!({"uid": a.technique_id, "name": a.technique})),
                )
            }
            None => (json!({"uid": a.technique_id, "name": a.technique}), None),
        };
        let tactics: Vec<Option<&attack::Tactic>> = if a.tactics.is_empty() {
            vec![None]
        } else {
            a.tactics.iter().map(|t| attack::tactic(t)).collect()
        };
        for tactic in tactics {
            let mut o = Map::new();
            if let Some(t) = tactic {
                o.insert("tactic".into(), json!({"uid": t.id, "name": t.name}));
            }
            o.insert("technique".into(), technique.clone());
            if let Some(s) = &sub {
                o.insert("sub_technique".into(), s.clone());
            }
            out.push(Value::Object(o));
        }
    }
    out
}

/// Maps one verdict to an OCSF Detection Finding.
pub fn detection_finding(v: &Verdict) -> Value {
    let (activity_id, activity) = if v.version <= 1 {
        (1u32, "Create")
    } else {
        (2, "Update")
    };
    let (risk_level_id, risk_level_name) = risk_level(v.score);
    let (confidence_id, confidence_name) = confidence_level(v.confidence);
    let mut related_events = Vec::new();
    let mut evidences = Vec::new();
    for f in &v.findings {
        for e in &f.evidence {
            if !related_events
                .iter()
                .any(|r: &Value| r["uid"] == e.event_id)
            {
                related_events.push(json!({"uid": e.event_id}));
            }
            evidences.push(json!({
                "data": {
                    "event_id": e.event_id,
                    "time": ms(e.time),
                    "rule_id": e.rule_id,
                    "input": e.input,
                    "source": e.source,
                    "index": e.index,
                },
            }));
        }
    }
    let mut finding_info = json!({
        "uid": v.case_id,
        "title": title(v),
        "desc": v.reasoning.join("\n"),
        "types": [v.conclusion.as_str()],
        "first_seen_time": ms(v.first_seen),
        "last_seen_time": ms(v.last_seen),
        "created_time": ms(v.generated_at),
        "attacks": attacks(&v.attack),
        "related_events": related_events,
    });
    if let Some(first) = v.findings.first() {
        finding_info["analytic"] = analytic(first);
        let related: Vec<Value> = v.findings.iter().skip(1).map(analytic).collect();
        if !related.is_empty() {
            finding_info["related_analytics"] = Value::Array(related);
        }
    }
    let mut out = json!({
        "class_uid": CLASS_UID,
        "class_name": "Detection Finding",
        "category_uid": CATEGORY_UID,
        "category_name": "Findings",
        "activity_id": activity_id,
        "activity_name": activity,
        "type_uid": CLASS_UID * 100 + activity_id,
        "type_name": format!("Detection Finding: {activity}"),
        "severity_id": severity_id(v.severity),
        "severity": severity_name(v.severity),
        "status_id": 1,
        "status": "New",
        "time": ms(v.generated_at),
        "timezone_offset": 0,
        "message": title(v),
        "is_alert": matches!(v.conclusion, Conclusion::Incident | Conclusion::Suspicious),
        "confidence_id": confidence_id,
        "confidence": confidence_name,
        "confidence_score": (v.confidence * 100.0).round().clamp(0.0, 100.0) as u8,
        "risk_score": v.score,
        "risk_level_id": risk_level_id,
        "risk_level": risk_level_name,
        "finding_info": finding_info,
        "evidences": evidences,
        "metadata": {
            "version": OCSF_VERSION,
            "uid": v.verdict_id,
            "correlation_uid": v.case_id,
            "product": {
                "name": "nightwatch",
                "vendor_name": "nightwatch",
                "version": env!("CARGO_PKG_VERSION"),
            },
        },
        "unmapped": {
            "nightwatch": {
                "schema": v.schema,
                "conclusion": v.conclusion.as_str(),
                "version": v.version,
                "reasoning": v.reasoning,
            },
        },
    });
    if !v.host.is_empty() {
        out["device"] = json!({"hostname": v.host, "type_id": 0, "type": "Unknown"});
        out["observables"] = json!([{
            "name": "device.hostname",
            "type_id": 1,
            "type": "Hostname",
            "value": v.host,
        }]);
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::outputs::thehive::tests::sample;

    #[test]
    fn required_base_attributes_and_type_uid() {
        let f = detection_finding(&sample("c1", 1));
        for key in [
            "activity_id",
            "category_uid",
            "class_uid",
            "metadata",
            "severity_id",
            "time",
            "type_uid",
        ] {
            assert!(f.get(key).is_some(), "missing {key}");
        }
        assert_eq!(f["type_uid"], 200401);
        assert_eq!(f["finding_info"]["uid"], "c1");
        assert_eq!(detection_finding(&sample("c1", 3))["type_uid"], 200402);
        assert_eq!(
            detection_finding(&sample("c1", 3))["activity_name"],
            "Update"
        );
    }

    #[test]
    fn sub_techniques_sit_under_their_parent_and_tactic() {
        let f = detection_finding(&sample("c1", 1));
        let attacks = f["finding_info"]["attacks"].as_array().unwrap();
        assert_eq!(attacks.len(), 2);
        assert_eq!(attacks[0]["technique"]["uid"], "T1003");
        assert_eq!(attacks[0]["technique"]["name"], "OS Credential Dumping");
        assert_eq!(attacks[0]["sub_technique"]["uid"], "T1003.001");
        assert_eq!(attacks[0]["tactic"]["uid"], "TA0006");
    }

    #[test]
    fn golden_detection_finding() {
        let f = detection_finding(&sample("41aa", 2));
        crate::testutil::golden_json("ocsf-detection-finding.json", &f);
    }

    #[test]
    fn severities_and_confidence_map_onto_ocsf_ids() {
        assert_eq!(severity_id(Severity::Informational), 1);
        assert_eq!(severity_id(Severity::Critical), 5);
        assert_eq!(risk_level(100), (4, "Critical"));
        assert_eq!(risk_level(0), (0, "Info"));
        assert_eq!(confidence_level(0.4).0, 1);
        assert_eq!(confidence_level(0.95).0, 3);
    }
}
