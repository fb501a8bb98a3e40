//! The ATT&CK coverage page (`/coverage`): for every tactic, the techniques the loaded rules are
//! attributed to (their tags plus the reviewed overrides, [`crate::attack::of_rule`]) with the
//! number of rules, and the number of cases active in the last 24 hours that saw each one.
//! Every cell links to the technique's page, which lists those rules and cases.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::response::Response;
use chrono::{Duration, Utc};
use maud::{Markup, html};

use super::super::AppState;
use super::super::error::ApiError;
use super::super::guard::Caller;
use super::{blocking, history, layout, technique_href};
use crate::detect::{RuleMeta, RuleSet};
use crate::history::CaseFilter;

/// The rules attributed to each technique (ids upper case), in rule order.
pub fn rules_by_technique(rules: &RuleSet) -> BTreeMap<&'static str, Vec<&RuleMeta>> {
    let mut out: BTreeMap<&'static str, Vec<&RuleMeta>> = BTreeMap::new();
    for r in rules.rules() {
        let (techniques, _) = crate::attack::of_rule(&r.id, r.tags.iter().map(String::as_str));
        for t in techniques {
            out.entry(t.id).or_default().push(r);
        }
    }
    out
}

/// Cases active in this window at most, for the 24-hour counts.
const MAX_RECENT_CASES: usize = 500;

/// A cell's shade: none, a few, several, many rules.
fn heat(n: usize) -> &'static str {
    match n {
        0 => "heat-0",
        1..=2 => "heat-1",
        3..=9 => "heat-2",
        _ => "heat-3",
    }
}

/// `GET /coverage`.
pub async fn page(
    State(state): State<AppState>,
    caller: Option<axum::Extension<Caller>>,
) -> Result<Response, ApiError> {
    let h = history(&state)?;
    let filter = CaseFilter {
        since: Some(Utc::now() - Duration::hours(24)),
        limit: MAX_RECENT_CASES,
        ..CaseFilter::default()
    };
    let recent = blocking(move || h.list(&filter)).await?;
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for c in &recent.cases {
        for t in &c.techniques {
            *seen.entry(t.to_ascii_uppercase()).or_default() += 1;
        }
    }
    let by_technique = rules_by_technique(&state.rules);
    let covered = by_technique.len();
    let all = crate::attack::techniques().count();
    let body = html! {
        h1 { "ATT&CK coverage" }
        p.muted {
            (state.rules.len()) " rules loaded; " (covered) " of " (all)
            " ATT&CK v18.1 techniques and sub-techniques have at least one rule attributed to them (tags and reviewed overrides). "
            "The second number in a cell counts the cases active in the last 24 hours that saw the technique"
            @if recent.next_cursor.is_some() { " (the " (MAX_RECENT_CASES) " most recent)" } "."
        }
        div.matrix.coverage {
            @for tactic in crate::attack::tactics() {
                (column(tactic, &by_technique, &seen))
            }
        }
    };
    Ok(layout("Coverage", "coverage", caller.as_deref(), body))
}

fn column(
    tactic: &crate::attack::Tactic,
    rules: &BTreeMap<&'static str, Vec<&RuleMeta>>,
    seen: &BTreeMap<String, usize>,
) -> Markup {
    let cells: Vec<(&'static crate::attack::Technique, usize, usize)> = crate::attack::techniques()
        .filter(|t| t.tactics.contains(&tactic.shortname))
        .map(|t| {
            (
                t,
                rules.get(t.id).map_or(0, Vec::len),
                seen.get(t.id).copied().unwrap_or(0),
            )
        })
        .filter(|(_, r, s)| *r > 0 || *s > 0)
        .collect();
    html! {
        div.tactic {
            h3 { (tactic.name) " " span.muted { "(" (cells.len()) ")" } }
            @for (t, n, s) in &cells {
                div class=(heat(*n)) {
                    a href=(technique_href(t.id)) title=(t.name) { span.mono { (t.id) } " " (t.name) }
                    " " span.counts title="rules · cases in 24 h" { (n) " · " (s) }
                }
            }
        }
    }
}
