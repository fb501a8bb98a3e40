//! Sigma filter documents (`filter:`): environment tuning applied to listed rules as `AND NOT`.
//!
//! A filter has its own logsource; it only excludes a rule's match when that logsource can apply
//! to the event as well. The `filter:` section is compiled like a detection (selections plus
//! `condition`), ignoring its `rules` key, which lists the target rules by id or name.

use std::collections::HashMap;

use yaml_rust2::Yaml;

use super::compile::{CompileCtx, CompiledDetection, compile_detection};
use super::logsource::{Aliases, FieldTable, RuleSource};

/// A compiled filter.
#[derive(Debug)]
pub(crate) struct FilterRule {
    pub source: RuleSource,
    pub det: CompiledDetection,
}

/// A filter document, compiled, with the raw target references still to resolve.
pub(crate) struct ParsedFilter {
    pub rule: FilterRule,
    pub targets: Vec<String>,
}

/// Compiles the `filter:` section of a filter document.
pub(crate) fn compile_filter(
    section: &Yaml,
    source: RuleSource,
    fields: &mut FieldTable,
    placeholders: &HashMap<String, Vec<String>>,
) -> Result<ParsedFilter, String> {
    let Yaml::Hash(h) = section else {
        return Err("filter must be a map".into());
    };
    let targets: Vec<String> = match h.get(&Yaml::String("rules".into())) {
        Some(Yaml::Array(a)) => a
            .iter()
            .filter_map(|y| y.as_str().map(String::from))
            .collect(),
        Some(Yaml::String(s)) => vec![s.clone()],
        _ => return Err("filter has no 'rules' list".into()),
    };
    if targets.is_empty() {
        return Err("filter 'rules' list is empty".into());
    }
    let mut ctx = CompileCtx {
        fields,
        aliases: Aliases::builtin(),
        source: &source,
        placeholders,
    };
    let det = compile_detection(section, &mut ctx, &["rules"])?;
    Ok(ParsedFilter {
        rule: FilterRule { source, det },
        targets,
    })
}
