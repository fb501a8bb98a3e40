//! Pivot pages: an indicator (its enrichment profile, per source, and the cases that carried
//! it), an entity (host, user or source address: its cases in event-time order) and an ATT&CK
//! technique (what it is, the runbook's next steps, the cases that saw it).

use axum::extract::State;
use axum::response::Response;
use maud::{Markup, html};

use super::super::AppState;
use super::super::error::{ApiError, ApiPath};
use super::super::guard::Caller;
use super::{
    blocking, case_href, conclusion, entity, entity_kind_label, history, label, layout, severity,
    when,
};
use crate::history::{CaseFilter, CaseRecord, CaseStatus};
use crate::verdict::{EntityKind, EntityRef};

/// Cases listed on a pivot page at most, newest event first.
const MAX_CASES: usize = 200;

/// A table of cases, newest first by event time.
fn cases_table(cases: &[CaseRecord]) -> Markup {
    html! {
        @if cases.is_empty() { p.muted { "No case in the history." } }
        @else {
            table { thead { tr { th { "First event" } th { "Last event" } th { "Case" } th { "Verdict" }
                th { "Entity" } th { "Score" } th { "Status" } } }
                tbody { @for r in cases { tr {
                    td.mono { (when(r.first_seen)) }
                    td.mono { (when(r.last_seen)) }
                    td.mono { a href=(case_href(&r.case_id)) { (r.case_id) } }
                    td { (conclusion(r.conclusion)) " " (severity(r.severity)) }
                    td { (entity(&r.entity)) }
                    td { (r.score) }
                    td { @match r.status { CaseStatus::Open => "open", CaseStatus::Closed => "closed" }
                        @if let Some(d) = r.disposition { " · " (d.as_str().replace('_', " ")) } }
                } } }
            }
        }
    }
}

/// Reads the records of these case ids, newest event first.
async fn records(state: &AppState, ids: Vec<String>) -> Result<Vec<CaseRecord>, ApiError> {
    let h = history(state)?;
    blocking(move || {
        let mut out = Vec::new();
        for id in ids {
            if let Some(r) = h.case(&id)? {
                out.push(r);
            }
        }
        out.sort_by_key(|r| std::cmp::Reverse(r.first_seen));
        out.truncate(MAX_CASES);
        Ok(out)
    })
    .await
}

/// `GET /indicators/{value}`.
pub async fn indicator(
    State(state): State<AppState>,
    caller: Option<axum::Extension<Caller>>,
    ApiPath(value): ApiPath<String>,
) -> Result<Response, ApiError> {
    let lookup = value.clone();
    let h = history(&state)?;
    let ids = blocking(move || h.cases_for_indicator(&lookup)).await?;
    let cases = records(&state, ids).await?;
    let parsed = state
        .enricher
        .as_ref()
        .and_then(|e| crate::intel::Indicator::parse(&value, e.extract_settings()).map(|i| (e, i)));
    let profile = match parsed {
        Some((e, ind)) => Some(e.profile(&ind).await),
        None => None,
    };
    let body = html! {
        h1 { "Indicator " span.mono { (value) } }
        @match &profile {
            Some(p) => div.panel {
                dl.kv {
                    dt { "Kind" } dd { (p.kind.as_str()) }
                    dt { "Tier" } dd { (p.tier.as_str()) }
                    dt { "Score" } dd { (p.score) " / 100" }
                    dt { "Profile updated" } dd { (when(p.updated_at)) }
                }
                table { thead { tr { th { "Source" } th { "Opinion" } th { "Strength" } th { "Detail" } th { "Observed" } } }
                    tbody { @for s in &p.sources { tr {
                        td { b { (s.source) } }
                        td { (label(&s.opinion)) }
                        td { (format!("{:.2}", s.strength)) }
                        td { (s.detail) @if let Some(l) = &s.link { " " a href=(l) rel="noreferrer noopener" target="_blank" { "source" } } }
                        td.mono { (when(s.observed_at)) }
                    } } }
                }
                @if p.sources.is_empty() { p.muted { "No feed or provider has an opinion on it." } }
            },
            None => p.muted { @if state.enricher.is_none() { "Threat intel is disabled on this server." }
                @else { "Not an indicator nightwatch enriches (public address, domain, URL, email address or hash)." } },
        }
        h2 { "Cases whose evidence carried it" }
        (cases_table(&cases))
    };
    Ok(layout(
        &format!("Indicator {value}"),
        "indicator",
        caller.as_deref(),
        body,
    ))
}

/// `GET /entities/{kind}/{value}`: `host`, `user` or `source_address`.
pub async fn entity_page(
    State(state): State<AppState>,
    caller: Option<axum::Extension<Caller>>,
    ApiPath((kind, value)): ApiPath<(String, String)>,
) -> Result<Response, ApiError> {
    let kind = match kind.as_str() {
        "host" => EntityKind::Host,
        "user" => EntityKind::User,
        "source_address" => EntityKind::SourceAddress,
        k => {
            return Err(ApiError::not_found(format!(
                "no entity kind {k}: host, user or source_address"
            )));
        }
    };
    let e = EntityRef::new(kind, value.clone());
    let h = history(&state)?;
    let lookup = e.clone();
    let ids = blocking(move || h.cases_for_entity(&lookup)).await?;
    let cases = records(&state, ids).await?;
    let open = cases
        .iter()
        .filter(|c| c.status == CaseStatus::Open)
        .count();
    let compromised = cases.iter().any(CaseRecord::is_compromise);
    let body = html! {
        h1 { (entity_kind_label(kind)) " " (value) }
        div.panel.facts {
            div { span { "Cases" } (cases.len()) }
            div { span { "Open" } (open) }
            div { span { "Compromised before" } @if compromised { "yes (an incident or a confirmed case)" } @else { "no" } }
        }
        h2 { "Cases" }
        (cases_table(&cases))
    };
    Ok(layout(
        &format!("{} {value}", entity_kind_label(kind)),
        "entity",
        caller.as_deref(),
        body,
    ))
}

/// `GET /techniques/{id}`.
pub async fn technique(
    State(state): State<AppState>,
    caller: Option<axum::Extension<Caller>>,
    ApiPath(id): ApiPath<String>,
) -> Result<Response, ApiError> {
    let t = crate::attack::technique(&id)
        .ok_or_else(|| ApiError::not_found(format!("no ATT&CK technique {id}")))?;
    let h = history(&state)?;
    let filter = CaseFilter {
        technique: Some(t.id.to_owned()),
        limit: MAX_CASES,
        ..CaseFilter::default()
    };
    let cases = blocking(move || h.list(&filter)).await?.cases;
    let steps = state.policy.runbooks.next_steps(&[t.id], &t.tactics);
    let by_technique = super::coverage::rules_by_technique(&state.rules);
    let rules = by_technique
        .get(t.id)
        .map(Vec::as_slice)
        .unwrap_or_default();
    let body = html! {
        h1 { span.mono { (t.id) } " " (t.name) }
        div.panel {
            dl.kv {
                dt { "Tactics" } dd { @for (i, s) in t.tactics.iter().enumerate() {
                    @if i > 0 { ", " } (crate::attack::tactic(s).map_or(*s, |x| x.name))
                } }
                dt { "ATT&CK" } dd { "v18.1 (enterprise)" }
            }
        }
        @if !steps.is_empty() {
            h2 { "Runbook next steps" }
            ol { @for s in &steps { li { b { (s.title) } ": " (s.action) } } }
        }
        h2 { "Rules attributed to it (" (rules.len()) ")" }
        @if rules.is_empty() { p.muted { "No loaded rule is attributed to this technique." } }
        @else {
            table { thead { tr { th { "Rule" } th { "Level" } th { "Logsource" } th { "File" } } }
                tbody { @for r in rules { tr {
                    td { (r.title) br; span.mono.muted { (r.id) } }
                    td { (label(&r.level)) }
                    td.mono { ([&r.logsource.product, &r.logsource.category, &r.logsource.service]
                        .into_iter().flatten().map(|s| s.to_string()).collect::<Vec<_>>().join(" / ")) }
                    td.mono { (r.path.display()) }
                } } }
            }
        }
        h2 { "Cases that saw it (or a sub-technique)" }
        (cases_table(&cases))
    };
    Ok(layout(
        &format!("{} {}", t.id, t.name),
        "technique",
        caller.as_deref(),
        body,
    ))
}
