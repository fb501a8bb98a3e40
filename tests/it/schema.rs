//! The verdict JSON Schema in `schema/` accepts what `scan` really produces and rejects broken
//! documents.

use serde_json::{Value, json};

use crate::helpers::demo_verdicts;

fn validator() -> jsonschema::Validator {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("schema/nightwatch.verdict.v1.json");
    let schema: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    jsonschema::draft202012::options()
        .should_validate_formats(true)
        .build(&schema)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn errors(v: &jsonschema::Validator, doc: &Value) -> Vec<String> {
    v.iter_errors(doc)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect()
}

#[test]
fn every_demo_verdict_validates_against_the_schema() {
    let validator = validator();
    let verdicts = demo_verdicts();
    assert!(verdicts.len() >= 2, "{verdicts:?}");
    assert!(verdicts.iter().any(|v| v["conclusion"] == "incident"));
    for v in &verdicts {
        let errs = errors(&validator, v);
        assert!(errs.is_empty(), "{errs:#?}\n{v}");
    }
}

#[test]
fn broken_verdicts_fail_validation() {
    let validator = validator();
    let good = demo_verdicts()
        .into_iter()
        .find(|v| v["conclusion"] == "incident")
        .unwrap();
    assert!(validator.is_valid(&good));
    type Breakage = Box<dyn Fn(&mut Value)>;
    let breakages: Vec<(&str, Breakage)> = vec![
        (
            "missing conclusion",
            Box::new(|v| {
                v.as_object_mut().unwrap().remove("conclusion");
            }),
        ),
        (
            "unknown conclusion",
            Box::new(|v| v["conclusion"] = json!("maybe")),
        ),
        ("score above 100", Box::new(|v| v["score"] = json!(101))),
        (
            "confidence above 1",
            Box::new(|v| v["confidence"] = json!(1.5)),
        ),
        (
            "wrong schema name",
            Box::new(|v| v["schema"] = json!("nightwatch.verdict.v2")),
        ),
        ("version 0", Box::new(|v| v["version"] = json!(0))),
        (
            "unknown finding kind",
            Box::new(|v| v["findings"][0]["kind"] = json!("hunch")),
        ),
        (
            "rule match without rule id",
            Box::new(|v| {
                v["findings"][0].as_object_mut().unwrap().remove("rule_id");
            }),
        ),
        (
            "evidence without event id",
            Box::new(|v| {
                v["findings"][0]["evidence"][0]
                    .as_object_mut()
                    .unwrap()
                    .remove("event_id");
            }),
        ),
        (
            "time not RFC 3339",
            Box::new(|v| v["first_seen"] = json!("yesterday")),
        ),
        (
            "technique id malformed",
            Box::new(|v| v["attack"][0]["technique_id"] = json!("1059")),
        ),
    ];
    for (what, breakage) in breakages {
        let mut bad = good.clone();
        breakage(&mut bad);
        assert!(!validator.is_valid(&bad), "{what} passed validation");
    }
}

#[test]
fn forward_compatible_additions_still_validate() {
    let validator = validator();
    let mut v = demo_verdicts()
        .into_iter()
        .find(|v| v["conclusion"] == "incident")
        .unwrap();
    v["next_steps"] = json!([{"title": "isolate the host"}]);
    v["findings"].as_array_mut().unwrap().push(
        json!({"kind": "feed_hit", "summary": "known bad ip", "weight": 20.0,
            "indicator": {"value": "203.0.113.7"}}),
    );
    v["findings"]
        .as_array_mut()
        .unwrap()
        .push(json!({"kind": "feedback", "summary": "analyst marked benign", "weight": -30.0}));
    let errs = errors(&validator, &v);
    assert!(errs.is_empty(), "{errs:#?}");
}
