use super::*;

#[test]
fn every_exported_name_is_prefixed() {
    let m = Metrics::new().unwrap();
    // What the daemon registers at start-up for the formats (normalize is above metrics).
    let formats: Vec<&str> = crate::normalize::Format::ALL
        .iter()
        .map(|f| f.name())
        .collect();
    m.register_labels(&formats, &[]);
    m.stages.received.with_label_values(&[stage::PARSE]).inc();
    let text = m.render();
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        assert!(line.starts_with("nightwatch_"), "{line}");
    }
    assert!(text.contains("nightwatch_stage_received_total{stage=\"parse\"} 1"));
    // Known label values exist before anything happens.
    assert!(
        text.contains("nightwatch_verdicts_total{conclusion=\"incident\",severity=\"critical\"} 0")
    );
    assert!(text.contains("nightwatch_parse_errors_total{format=\"evtx\"} 0"));
}

#[test]
fn independent_registries() {
    let a = Metrics::new().unwrap();
    let b = Metrics::new().unwrap();
    a.detect.rules_loaded.set(3);
    assert!(b.render().contains("nightwatch_rules_loaded 0"));
}
