//! The case page (`/cases/{id}[?version=N]`): the verdict as a document an analyst can audit.
//! Every reasoning line links to the events it rests on; the events show their key fields with
//! the raw record one click away; indicators, entities and techniques link to their pages;
//! every verdict version is reachable; the analyst's actions sit on the same timeline as the
//! events. Values are never cut: long ones wrap.

use std::collections::HashMap;

use axum::extract::State;
use axum::response::Response;
use chrono::{DateTime, Utc};
use maud::{Markup, html};
use serde::Deserialize;

use super::super::AppState;
use super::super::error::{ApiError, ApiPath, ApiQuery};
use super::super::guard::Caller;
use super::{
    blocking, case_href, conclusion, enc, entity, history, indicator_href, label, layout, severity,
    technique, when,
};
use crate::event::Event;
use crate::history::{CaseRecord, CaseStatus};
use crate::verdict::{Finding, Verdict};

#[derive(Debug, Deserialize)]
pub struct CaseQuery {
    version: Option<u32>,
}

/// Everything the page shows, read in one blocking call.
struct Loaded {
    case: CaseRecord,
    verdicts: Vec<Verdict>,
    events: Vec<Event>,
    /// Other cases that involve the same host, user or address.
    related: Vec<CaseRecord>,
}

/// At most this many related cases are listed (the entity pages have them all).
const MAX_RELATED: usize = 50;

/// `GET /cases/{id}`.
pub async fn page(
    State(state): State<AppState>,
    caller: Option<axum::Extension<Caller>>,
    ApiPath(id): ApiPath<String>,
    ApiQuery(q): ApiQuery<CaseQuery>,
) -> Result<Response, ApiError> {
    let h = history(&state)?;
    let lookup = id.clone();
    let loaded = blocking(move || {
        let Some(case) = h.case(&lookup)? else {
            return Ok(None);
        };
        let verdicts = h.verdicts(&lookup)?;
        let events = h.events(&lookup)?;
        let mut ids = Vec::new();
        for e in &case.entities {
            ids.extend(h.cases_for_entity(e)?);
        }
        ids.sort();
        ids.dedup();
        ids.retain(|i| *i != lookup);
        let mut related = Vec::new();
        for i in ids {
            if let Some(r) = h.case(&i)? {
                related.push(r);
            }
        }
        related.sort_by_key(|r| std::cmp::Reverse(r.first_seen));
        related.truncate(MAX_RELATED);
        Ok(Some(Loaded {
            case,
            verdicts,
            events,
            related,
        }))
    })
    .await?
    .ok_or_else(|| ApiError::not_found(format!("no case {id}")))?;
    let Some(v) = (match q.version {
        Some(n) => loaded.verdicts.iter().find(|v| v.version == n),
        None => loaded.verdicts.last(),
    }) else {
        return Err(ApiError::not_found(match q.version {
            Some(n) => format!("case {id} has no version {n}"),
            None => format!("case {id} has no verdict stored"),
        }));
    };
    let caller = caller.as_deref();
    let title = format!("{} · {}", v.conclusion.as_str(), v.entity.value);
    let body = document(&loaded, v, caller);
    Ok(layout(&title, "case", caller, body))
}

fn document(l: &Loaded, v: &Verdict, caller: Option<&Caller>) -> Markup {
    let c = &l.case;
    let anchors: HashMap<&str, usize> = l
        .events
        .iter()
        .enumerate()
        .map(|(i, e)| (e.id.as_str(), i))
        .collect();
    let latest = l.verdicts.last().map_or(v.version, |x| x.version);
    html! {
        div #case data-case=(c.case_id) data-version=(latest) {
            div #newer.panel.banner hidden { a href=(case_href(&c.case_id)) { "A newer version is available" } }
            @if v.version != latest {
                div.panel.banner { "You are reading version " (v.version) " of " (latest) ". "
                    a href=(case_href(&c.case_id)) { "Read the latest" } }
            }
            h1 { (conclusion(v.conclusion)) " " (severity(v.severity)) " " (entity(&v.entity)) }
            p.muted.mono { "case " (c.case_id) " · verdict " (v.verdict_id) }
            div.panel.facts {
                div { span { "Score" } (v.score) " / 100" }
                div { span { "Confidence" } (format!("{:.2}", v.confidence)) }
                div { span { "Status" } (status(c)) }
                div { span { "Assignee" } (c.assignee.as_deref().unwrap_or("nobody")) }
                div { span { "Stage" } (label(&c.stage)) }
                div { span { "First event" } (when(v.first_seen)) }
                div { span { "Last event" } (when(v.last_seen)) }
                div { span { "Findings" } (v.findings.len()) }
                div { span { "Events stored" } (l.events.len()) }
                div { span { "Entities" }
                    @for e in &c.entities { div { (entity(e)) } }
                }
                div { span { "Versions" }
                    @for x in &l.verdicts {
                        @if x.version == v.version { b { (x.version) } } @else {
                            a href={(case_href(&c.case_id)) "?version=" (x.version)} { (x.version) }
                        }
                        " "
                    }
                }
                div { span { "Export" }
                    a href={"/api/cases/" (enc(&c.case_id)) "/report.md"} { "Markdown" } " · "
                    a href={"/api/cases/" (enc(&c.case_id)) "/report.html"} { "HTML" } " · "
                    a href={"/api/cases/" (enc(&c.case_id)) "/report.pdf"} { "PDF" }
                }
            }
            (workflow(c, caller))
            h2 { "Why this verdict" }
            ol.reasoning {
                @for (i, line) in v.reasoning.iter().enumerate() {
                    li {
                        (line)
                        @if let Some(f) = v.findings.get(i) { (cites(f, &anchors)) }
                    }
                }
            }
            h2 { "Findings and their weights" }
            (findings(v))
            @if !v.attack.is_empty() {
                h2 { "ATT&CK" }
                (matrix(v))
            }
            @if !v.indicators.is_empty() {
                h2 { "Indicators" }
                (indicators(v))
            } @else if !c.indicators.is_empty() {
                h2 { "Indicators" }
                p { @for i in &c.indicators { a.mono href=(indicator_href(i)) { (i) } " " } }
            }
            h2 { "Timeline" }
            (timeline(c, &l.events))
            h2 { "Evidence events" }
            (events(&l.events, v))
            @if let Some(s) = &v.summary {
                h2 { "LLM summary (advisory)" }
                div.panel.advisory {
                    p.muted { "Advisory only: never part of the score. Written by " (s.model)
                        " for version " (s.case_version) " at " (when(s.generated_at))
                        @if s.case_version != v.version { " (this page shows version " (v.version) ")" } "." }
                    p { (s.executive_summary) }
                    @if !s.hypotheses.is_empty() {
                        ul { @for h in &s.hypotheses { li { (h.text)
                            @for id in &h.evidence_ids {
                                " " @if let Some(n) = anchors.get(id.as_str()) {
                                    a.mono href={"#ev-" (n)} { "[event " (n + 1) "]" }
                                } @else { span.mono.muted { "[" (id) "]" } }
                            }
                        } } }
                    }
                    @if !s.suggested_next_queries.is_empty() {
                        p.muted { "Suggested queries (not run):" }
                        ul { @for qy in &s.suggested_next_queries { li.mono { (qy.request) } } }
                    }
                }
            }
            @if !v.next_steps.is_empty() {
                h2 { "Next steps" }
                ol { @for s in &v.next_steps {
                    li { b { (s.title) } ": " (s.action) " " span.muted.mono { "(" (s.runbook) ")" } }
                } }
            }
            @if !v.missing_evidence.is_empty() {
                h2 { "Missing evidence" }
                ul { @for m in &v.missing_evidence { li { (m) } } }
            }
            @if !v.unclassified.is_empty() {
                h2 { "Evidence no rule classified" }
                table { thead { tr { th { "Time" } th { "Event" } th { "Why kept" } th { "Indicators" } } }
                    tbody { @for u in &v.unclassified { tr {
                        td.mono { (when(u.time)) }
                        td.mono { (event_ref(&u.event_id, &anchors)) }
                        td { (u.reason) }
                        td { @for i in &u.indicators { a.mono href=(indicator_href(i)) { (i) } " " } }
                    } } }
                }
            }
            h2 { "Other cases with the same entities" }
            (related(&l.related, c))
        }
    }
}

fn status(c: &CaseRecord) -> Markup {
    html! {
        @match c.status {
            CaseStatus::Open => {
                "open"
                @if let Some(a) = &c.acknowledged_by { ", acknowledged by " (a) }
            }
            CaseStatus::Closed => {
                "closed"
                @if let Some(by) = &c.closed_by { " by " (by) }
                @if let Some(at) = c.closed_at { " at " (when(at)) }
            }
        }
        @if let Some(d) = c.disposition { " · " (d.as_str().replace('_', " ")) }
    }
}

/// The analyst's actions. Shown to everyone; the server decides (a viewer's click is refused
/// with the reason, shown under the buttons).
fn workflow(c: &CaseRecord, caller: Option<&Caller>) -> Markup {
    let viewer = caller.is_some_and(|c| !c.role().may_change());
    html! {
        div.panel {
            div.workflow {
                textarea #note placeholder="Note for the timeline and audit log (why, what you checked)" {}
            }
            div.workflow {
                input #assignee placeholder="assignee (default: you)" size="18";
                button type="button" data-action="assign" { "Assign" }
                button type="button" data-action="acknowledge" { "Acknowledge" }
                button type="button" data-action="feedback" data-disposition="true_positive" { "True positive" }
                button type="button" data-action="feedback" data-disposition="false_positive" { "False positive" }
                button type="button" data-action="feedback" data-disposition="benign" { "Benign" }
                @if c.status == CaseStatus::Open {
                    button type="button" data-action="close" { "Close" }
                } @else {
                    button type="button" data-action="reopen" { "Reopen" }
                }
            }
            p #flash { @if viewer { "You are signed in as a viewer: changes will be refused." } }
        }
    }
}

/// The events a reasoning line rests on: stored copies as links, the others by id.
fn cites(f: &Finding, anchors: &HashMap<&str, usize>) -> Markup {
    let (stored, unstored): (Vec<_>, Vec<_>) = f
        .evidence
        .iter()
        .partition(|e| anchors.contains_key(e.event_id.as_str()));
    html! {
        @if !f.evidence.is_empty() {
            div.cites.muted {
                "evidence: "
                @for (i, e) in stored.iter().enumerate() {
                    @if i > 0 { ", " }
                    (event_ref(&e.event_id, anchors))
                }
                @if !unstored.is_empty() {
                    details {
                        summary { (unstored.len()) " more cited event(s) without a stored copy" }
                        @for e in &unstored { div.mono { (when(e.time)) " " (e.event_id) " (" (e.input) " " (e.source) " #" (e.index) ")" } }
                    }
                }
                @if f.count > f.evidence.len() as u64 {
                    " (" (f.count) " events in all; the first are kept)"
                }
            }
        }
    }
}

fn event_ref(id: &str, anchors: &HashMap<&str, usize>) -> Markup {
    html! {
        @if let Some(n) = anchors.get(id) {
            a.mono href={"#ev-" (n)} title=(id) { "event " (n + 1) }
        } @else {
            span.mono title="no copy of this event is stored" { (id) }
        }
    }
}

fn findings(v: &Verdict) -> Markup {
    html! {
        table {
            thead { tr { th { "Kind" } th { "Rule" } th { "Level" } th { "Weight" } th { "Events" }
                th { "First" } th { "Last" } th { "Earlier cases" } } }
            tbody { @for f in &v.findings { tr {
                td { (label(&f.kind)) }
                td { (f.rule_title) br; span.mono.muted { (f.rule_id) } br; (f.summary) }
                td { (label(&f.level)) }
                td.mono { (format!("{:+}", f.weight)) }
                td { (f.count) @if f.suppressed > 0 { span.muted { " (+" (f.suppressed) " suppressed)" } } }
                td.mono { (when(f.first_seen)) }
                td.mono { (when(f.last_seen)) }
                td { @for p in &f.prior_cases { a.mono href=(case_href(p)) { (p) } " " } }
            } } }
        }
    }
}

/// The case's techniques under their tactics, in ATT&CK order.
fn matrix(v: &Verdict) -> Markup {
    let mut tactics: Vec<&str> = v
        .attack
        .iter()
        .flat_map(|a| a.tactics.iter().map(String::as_str))
        .collect();
    let order = |t: &str| {
        crate::attack::tactics()
            .iter()
            .position(|x| x.shortname == t)
            .unwrap_or(usize::MAX)
    };
    tactics.sort_by_key(|t| order(t));
    tactics.dedup();
    html! {
        div.matrix { @for t in &tactics {
            div.tactic {
                h3 { (crate::attack::tactic(t).map_or_else(|| (*t).to_owned(), |x| x.name.to_owned())) }
                @for a in v.attack.iter().filter(|a| a.tactics.iter().any(|x| x == t)) {
                    div { (technique(&a.technique_id)) " " (a.technique) }
                }
            }
        } }
    }
}

fn indicators(v: &Verdict) -> Markup {
    html! {
        table {
            thead { tr { th { "Indicator" } th { "Kind" } th { "Tier" } th { "Score" } th { "Sources" } } }
            tbody { @for i in &v.indicators { tr {
                td.mono { a href=(indicator_href(&i.value)) { (i.value) } }
                td { (i.kind) }
                td { (i.tier.as_deref().unwrap_or("not enriched")) }
                td { @if let Some(s) = i.score { (s) } @else { "—" } }
                td { @if i.sources.is_empty() { span.muted { "no source has an opinion" } }
                    @for s in &i.sources { div {
                        b { (s.source) } ": " (s.opinion) " " span.muted { "(" (format!("{:.2}", s.strength)) ")" }
                        @if !s.detail.is_empty() { " " (s.detail) }
                        @if let Some(l) = &s.link { " " a href=(l) rel="noreferrer noopener" target="_blank" { "source" } }
                    } }
                }
            } } }
        }
    }
}

/// The case's own entries (nightwatch's and the analysts') and the stored events, on one time
/// axis.
fn timeline(c: &CaseRecord, events: &[Event]) -> Markup {
    enum Row<'a> {
        Entry(&'a crate::verdict::TimelineEntry),
        Event(usize, &'a Event),
    }
    let time = |r: &Row| -> DateTime<Utc> {
        match r {
            Row::Entry(e) => e.time,
            Row::Event(_, e) => e.time,
        }
    };
    let mut rows: Vec<Row> = c.timeline.iter().map(Row::Entry).collect();
    rows.extend(events.iter().enumerate().map(|(i, e)| Row::Event(i, e)));
    rows.sort_by_key(|r| time(r));
    html! {
        table #timeline {
            thead { tr { th { "Time" } th { "Who" } th { "What" } } }
            tbody { @for r in &rows { @match r {
                Row::Entry(e) => tr.entry data-actor=(e.actor) {
                    td.mono { (when(e.time)) }
                    td { @if e.actor == crate::history::ACTOR { span.muted { (e.actor) } } @else { b { (e.actor) } } }
                    td { (e.note) }
                },
                Row::Event(i, e) => tr {
                    td.mono { (when(e.time)) }
                    td.muted { "event" }
                    td { a href={"#ev-" (i)} { "event " (i + 1) } " " (event_title(e)) }
                },
            } } }
        }
    }
}

/// What an event is, in a few words: its channel or source type, event id and image.
fn event_title(e: &Event) -> String {
    let f = |k: &str| e.fields.get_str(k).map(|v| v.into_owned());
    let mut parts = Vec::new();
    if let Some(ls) = [
        &e.logsource.product,
        &e.logsource.service,
        &e.logsource.category,
    ]
    .into_iter()
    .flatten()
    .next()
    {
        parts.push(ls.to_string());
    }
    if let Some(id) = f("EventID") {
        parts.push(format!("EventID {id}"));
    }
    for k in [
        "Image",
        "TargetImage",
        "CommandLine",
        "eventName",
        "subject",
        "Subject",
    ] {
        if let Some(v) = f(k) {
            parts.push(v);
            break;
        }
    }
    parts.join(" · ")
}

/// Fields shown for an event before its raw record: the ones its evidence cites, else every
/// field.
fn events(events: &[Event], v: &Verdict) -> Markup {
    let mut cited: HashMap<&str, Vec<(&str, &str)>> = HashMap::new();
    for f in &v.findings {
        for e in &f.evidence {
            let fields = cited.entry(e.event_id.as_str()).or_default();
            for (k, val) in &e.fields {
                if !fields.iter().any(|(have, _)| have == k) {
                    fields.push((k.as_str(), val.as_str()));
                }
            }
        }
    }
    html! {
        @if events.is_empty() { p.muted { "No event copies are stored for this case." } }
        @for (i, e) in events.iter().enumerate() {
            div.panel.event id={"ev-" (i)} {
                b { "event " (i + 1) } " " span.mono { (when(e.time)) } " " (event_title(e))
                dl.kv {
                    dt { "id" } dd.mono { (e.id.as_str()) }
                    dt { "source" } dd.mono { (e.origin.input) " " (e.origin.source) " #" (e.origin.index) }
                    @if let Some(h) = &e.host { dt { "host" } dd { (h) } }
                    @match cited.get(e.id.as_str()).filter(|f| !f.is_empty()) {
                        Some(fields) => @for (k, val) in fields { dt.mono { (k) } dd.mono { (val) } },
                        None => @for (k, val) in e.fields.as_map() {
                            dt.mono { (k) }
                            dd.mono { @match val { serde_json::Value::String(s) => (s), other => (other.to_string()) } }
                        },
                    }
                }
                details {
                    summary { "Raw record" }
                    pre { @match &e.raw {
                        Some(raw) => (raw),
                        None => (serde_json::to_string_pretty(e.fields.as_map()).unwrap_or_default()),
                    } }
                }
            }
        }
    }
}

fn related(cases: &[CaseRecord], this: &CaseRecord) -> Markup {
    html! {
        @if cases.is_empty() { p.muted { "No other case involves these entities." } }
        @else {
            table { thead { tr { th { "" } th { "First event" } th { "Case" } th { "Conclusion" } th { "Entity" } th { "Status" } } }
                tbody { @for r in cases { tr {
                    td.muted { @if r.first_seen < this.first_seen { "earlier" } @else { "later" } }
                    td.mono { (when(r.first_seen)) }
                    td.mono { a href=(case_href(&r.case_id)) { (r.case_id) } }
                    td { (conclusion(r.conclusion)) " " (severity(r.severity)) }
                    td { (entity(&r.entity)) }
                    td { (status(r)) }
                } } }
            }
        }
    }
}
