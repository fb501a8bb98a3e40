//! The triage queue (`/`): open cases, most severe first, with filters and free-text search,
//! and the one-row partial (`/console/rows/{id}`) the live queue fetches when a new verdict
//! version arrives over the WebSocket (204 when the case no longer matches the filters).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use maud::{Markup, html};

use super::super::AppState;
use super::super::cases::ListQuery;
use super::super::error::{ApiError, ApiPath, ApiQuery};
use super::super::guard::Caller;
use super::{
    age, blocking, case_href, conclusion, enc, entity, history, layout, severity, technique, when,
};
use crate::history::{CaseRecord, CaseStatus};

/// The queue's defaults: open cases, most severe first.
fn with_defaults(mut q: ListQuery) -> ListQuery {
    if q.status.as_deref().is_none_or(str::is_empty) {
        q.status = Some("open".into());
    }
    if q.order.as_deref().is_none_or(str::is_empty) {
        q.order = Some("severity".into());
    }
    q
}

/// `GET /`.
pub async fn page(
    State(state): State<AppState>,
    caller: Option<axum::Extension<Caller>>,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Response, ApiError> {
    let q = with_defaults(q);
    let h = history(&state)?;
    let filter = q.clone().filter()?;
    let page = blocking(move || h.list(&filter)).await?;
    let now = Utc::now();
    let next = page.next_cursor.as_ref().map(|c| {
        let mut params = query_pairs(&q);
        params.retain(|(k, _)| *k != "cursor");
        params.push(("cursor", c.clone()));
        format!("/?{}", encode_pairs(&params))
    });
    let body = html! {
        h1 { "Triage queue" }
        (filters(&q))
        button #new-marker type="button" hidden {}
        table #queue {
            thead { tr {
                th { "Severity" } th { "Conclusion" } th { "Score" } th { "Conf." }
                th { "Entity" } th { "Techniques" } th { "Findings" } th { "First seen" }
                th { "Last seen" } th { "Age" } th { "Assignee" } th { "Status" }
            } }
            tbody {
                @for c in &page.cases { (row(c, now)) }
                @if page.cases.is_empty() {
                    tr #empty { td colspan="12" .muted { "No case matches these filters." } }
                }
            }
        }
        div.pager {
            @if q.cursor.is_some() { a href="/" { "← Newest" } }
            @if let Some(next) = next { a #older href=(next) { "Older →" } }
        }
        p.muted {
            kbd { "j" } " / " kbd { "k" } " move, " kbd { "Enter" } " opens, " kbd { "/" }
            " searches. New cases collect behind the marker above the table; rows already shown update in place."
        }
    };
    Ok(layout("Queue", "queue", caller.as_deref(), body))
}

/// `GET /console/rows/{id}?<the queue's filters>`: one row, or 204 when the case does not
/// match them.
pub async fn row_partial(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Response, ApiError> {
    let q = with_defaults(q);
    let filter = q.filter()?;
    let h = history(&state)?;
    let lookup = id.clone();
    let Some(case) = blocking(move || h.case(&lookup)).await? else {
        return Err(ApiError::not_found(format!("no case {id}")));
    };
    if !filter.admits(&case) {
        return Ok(StatusCode::NO_CONTENT.into_response());
    }
    Ok(super::html_response(StatusCode::OK, row(&case, Utc::now())))
}

/// One case in the queue: everything links somewhere.
fn row(c: &CaseRecord, now: DateTime<Utc>) -> Markup {
    let href = case_href(&c.case_id);
    html! {
        tr data-case=(c.case_id) data-href=(href) {
            td { (severity(c.severity)) }
            td { a href=(href) { (conclusion(c.conclusion)) } }
            td { (c.score) }
            td { (format!("{:.2}", c.confidence)) }
            td { (entity(&c.entity)) }
            td { @for (i, t) in c.techniques.iter().enumerate() {
                @if i > 0 { " " } (technique(t))
            } }
            td { (c.findings) }
            td.mono { (when(c.first_seen)) }
            td.mono { (when(c.last_seen)) }
            td { (age(c.last_seen, now)) }
            td { (c.assignee.as_deref().unwrap_or("—")) }
            td {
                @match c.status {
                    CaseStatus::Open => @if c.acknowledged_by.is_some() { "acknowledged" } @else { "open" },
                    CaseStatus::Closed => "closed",
                }
            }
        }
    }
}

/// The filter form: plain GET, so every filtered view is a link an analyst can share.
fn filters(q: &ListQuery) -> Markup {
    let sel = |v: &Option<String>, want: &str| v.as_deref() == Some(want);
    html! {
        form.filters method="get" action="/" {
            label { "Search" input #q name="q" type="search" value=[q.q.as_deref()] placeholder="host, user, indicator, rule, technique"; }
            label { "Status" select name="status" {
                @for s in ["open", "closed", "all"] { option value=(s) selected[sel(&q.status, s)] { (s) } }
            } }
            label { "Severity" select name="severity" {
                option value="" { "any" }
                @for s in ["critical", "high", "medium", "low", "informational"] {
                    option value=(s) selected[sel(&q.severity, s)] { (s) }
                }
            } }
            label { "Conclusion" select name="conclusion" {
                option value="" { "any" }
                @for s in ["incident", "suspicious", "needs_review", "benign"] {
                    option value=(s) selected[sel(&q.conclusion, s)] { (s.replace('_', " ")) }
                }
            } }
            label { "Entity" input name="entity" value=[q.entity.as_deref()] placeholder="host, user or address"; }
            label { "Technique" input name="technique" value=[q.technique.as_deref()] placeholder="T1003" size="8"; }
            label { "Active since" input name="since" value=[q.since.as_deref()] placeholder="2024-05-01T00:00:00Z"; }
            label { "Order" select name="order" {
                option value="severity" selected[sel(&q.order, "severity")] { "most severe first" }
                option value="activity" selected[sel(&q.order, "activity")] { "newest first" }
            } }
            button type="submit" { "Filter" }
            a href="/" { "Reset" }
        }
    }
}

fn query_pairs(q: &ListQuery) -> Vec<(&'static str, String)> {
    [
        ("q", &q.q),
        ("status", &q.status),
        ("severity", &q.severity),
        ("conclusion", &q.conclusion),
        ("entity", &q.entity),
        ("technique", &q.technique),
        ("host", &q.host),
        ("user", &q.user),
        ("since", &q.since),
        ("until", &q.until),
        ("order", &q.order),
        ("cursor", &q.cursor),
    ]
    .into_iter()
    .filter_map(|(k, v)| v.clone().filter(|v| !v.is_empty()).map(|v| (k, v)))
    .collect()
}

fn encode_pairs(pairs: &[(&str, String)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={}", enc(v)))
        .collect::<Vec<_>>()
        .join("&")
}
