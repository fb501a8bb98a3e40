//! The report as one self-contained HTML page: inline CSS with a print stylesheet (one A4
//! page: the content is bounded by [`super::bounds`] and printed small), no scripts, no
//! external assets. Every text node and attribute value goes through [`escape`]: event
//! content is attacker-controlled.

use std::fmt::Write;

use super::{Report, ReportInput};

/// Escapes the five HTML metacharacters.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if c.is_control() && c != '\n' && c != '\t' => {}
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = r#"
:root { --ink: #1d2330; --muted: #5b6475; --line: #d5d9e0; --band: #f3f5f8; }
* { box-sizing: border-box; }
body { font: 10.5pt/1.35 -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; color: var(--ink);
       max-width: 1000px; margin: 1.5rem auto; padding: 0 1rem; }
h1 { font-size: 15pt; margin: 0 0 .4rem; }
h2 { font-size: 11pt; margin: .9rem 0 .3rem; padding-bottom: .15rem; border-bottom: 1px solid var(--line); }
table { border-collapse: collapse; width: 100%; font-size: 9pt; }
th, td { border: 1px solid var(--line); padding: .15rem .35rem; text-align: left; vertical-align: top;
         overflow-wrap: anywhere; }
th { background: var(--band); font-weight: 600; }
.facts { display: grid; grid-template-columns: repeat(4, auto); gap: .1rem 1rem; margin: .3rem 0; font-size: 9.5pt; }
.facts dt { color: var(--muted); } .facts dd { margin: 0; font-weight: 600; overflow-wrap: anywhere; }
.badge { display: inline-block; padding: .1rem .6rem; border-radius: .3rem; font-weight: 700;
         text-transform: uppercase; letter-spacing: .04em; border: 2px solid currentColor; }
.incident { color: #a4161a; } .suspicious { color: #b35c00; }
.needs_review { color: #5a4fcf; } .benign { color: #2b7a3d; }
.matrix td { width: 1%; font-size: 8.5pt; }
ol { margin: .2rem 0; padding-left: 1.4rem; } li { margin: .1rem 0; }
.muted, footer { color: var(--muted); font-size: 8.5pt; }
footer { margin-top: .8rem; border-top: 1px solid var(--line); padding-top: .3rem; }
p.more { margin: .15rem 0; }
/* One A4 page: the content is bounded (report::bounds) and printed small and tight. */
@page { size: A4 portrait; margin: 10mm; }
@media print {
  body { margin: 0; max-width: none; padding: 0; font-size: 7.5pt; line-height: 1.25; }
  h1 { font-size: 12pt; margin: 0 0 .2rem; }
  h2 { font-size: 9pt; margin: .35rem 0 .1rem; break-after: avoid; }
  table { font-size: 6.8pt; } th, td { padding: .05rem .25rem; }
  .facts { font-size: 7.5pt; margin: .15rem 0; } .matrix td { font-size: 6.5pt; }
  ol { margin: 0; } li { margin: 0; } p.more { margin: .05rem 0; }
  footer { margin-top: .3rem; padding-top: .1rem; font-size: 6.5pt; }
  tr, li { break-inside: avoid; }
  .badge { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
}
"#;

/// `<p class="muted">… and N more …</p>` when something was left out.
fn more(h: &mut String, line: Option<String>) {
    if let Some(line) = line {
        let _ = writeln!(h, "<p class=\"muted more\">{}</p>", escape(&line));
    }
}

/// Renders the report as a complete HTML document.
pub fn render_html(input: &ReportInput) -> String {
    let r = Report::new(input);
    let v = &input.verdict;
    let mut h = String::new();
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n",
        escape(&r.title)
    );
    let _ = writeln!(
        h,
        "<header><h1>{}</h1><span class=\"badge {}\">{}</span></header>",
        escape(&r.title),
        v.conclusion.as_str(),
        escape(v.conclusion.as_str())
    );
    h.push_str("<dl class=\"facts\">\n");
    for (label, value) in &r.facts {
        let _ = writeln!(h, "<dt>{label}</dt><dd>{}</dd>", escape(value));
    }
    h.push_str("</dl>\n");

    if !r.stages.items.is_empty() {
        h.push_str(
            "<h2>Case timeline</h2>\n<table><tr><th>Time</th><th>Stage</th><th>Detail</th></tr>\n",
        );
        for s in &r.stages.items {
            let _ = writeln!(
                h,
                "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
                super::short_time(s.time),
                escape(&s.stage),
                escape(&s.detail)
            );
        }
        h.push_str("</table>\n");
        more(&mut h, r.stages.more_line("earlier case timeline entries"));
    }

    h.push_str("<h2>Evidence timeline</h2>\n<table><tr><th>Time</th><th>Finding</th><th>Detail</th><th>Event</th></tr>\n");
    for row in &r.timeline.items {
        let _ = writeln!(
            h,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}<br><span class=\"muted\">{}</span></td></tr>",
            escape(&row.time),
            escape(&row.what),
            escape(&row.detail),
            escape(&row.event_id),
            escape(&row.origin)
        );
    }
    h.push_str("</table>\n");
    more(&mut h, r.timeline.more_line("evidence events"));

    if !r.matrix.is_empty() {
        h.push_str("<h2>ATT&amp;CK matrix</h2>\n<table class=\"matrix\"><tr>");
        for c in &r.matrix {
            let _ = write!(h, "<th>{}</th>", escape(&c.tactic));
        }
        h.push_str("</tr>\n<tr>");
        for c in &r.matrix {
            let cells: Vec<String> = c.techniques.iter().map(|t| escape(t)).collect();
            let _ = write!(h, "<td>{}</td>", cells.join("<br>"));
        }
        h.push_str("</tr></table>\n");
    }

    h.push_str("<h2>Findings</h2>\n<table><tr><th>Kind</th><th>Finding</th><th>Level</th><th>Count</th><th>Weight</th></tr>\n");
    for f in &r.findings.items {
        let _ = writeln!(
            h,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(&f.kind),
            escape(&f.title),
            escape(&f.level),
            f.count,
            escape(&f.weight)
        );
    }
    h.push_str("</table>\n");
    more(&mut h, r.findings.more_line("findings"));

    if !r.indicators.items.is_empty() {
        h.push_str("<h2>Indicator enrichments</h2>\n<table><tr><th>Indicator</th><th>Source</th><th>Verdict</th><th>Score</th><th>Detail</th></tr>\n");
        for i in &r.indicators.items {
            let score = i.score.map(|s| s.to_string()).unwrap_or_default();
            let _ = writeln!(
                h,
                "<tr><th rowspan=\"{}\">{} <span class=\"muted\">{}</span></th><td><em>combined</em></td><td>{}</td><td>{}</td><td></td></tr>",
                i.sources.len() + 1,
                escape(&i.value),
                escape(&i.kind),
                escape(&i.verdict),
                escape(&score)
            );
            for s in &i.sources {
                let _ = writeln!(
                    h,
                    "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                    escape(&s.source),
                    escape(&s.verdict),
                    escape(&s.score.map(|x| x.to_string()).unwrap_or_default()),
                    escape(&s.detail)
                );
            }
        }
        h.push_str("</table>\n");
        more(&mut h, r.indicators.more_line("indicators"));
    }

    h.push_str("<h2>Reasoning</h2>\n<ol>\n");
    for line in &r.reasoning.items {
        let _ = writeln!(h, "<li>{}</li>", escape(line));
    }
    h.push_str("</ol>\n");
    more(&mut h, r.reasoning.more_line("reasoning lines"));

    if !r.next_steps.items.is_empty() {
        h.push_str("<h2>Next steps</h2>\n<ol>\n");
        for s in &r.next_steps.items {
            let _ = write!(h, "<li><strong>{}</strong>", escape(&s.title));
            if !s.detail.is_empty() {
                let _ = write!(h, ": {}", escape(&s.detail));
            }
            if !s.references.is_empty() {
                let refs: Vec<String> = s.references.iter().map(|r| escape(r)).collect();
                let _ = write!(h, " <span class=\"muted\">({})</span>", refs.join(", "));
            }
            h.push_str("</li>\n");
        }
        h.push_str("</ol>\n");
        more(&mut h, r.next_steps.more_line("next steps"));
    }
    let _ = write!(
        h,
        "<footer>{}</footer>\n</body>\n</html>\n",
        escape(&r.footer)
    );
    h
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::report::tests::full_input;

    #[test]
    fn a_self_contained_page_with_every_section() {
        let html = render_html(&full_input());
        assert!(html.starts_with("<!DOCTYPE html>"));
        assert!(html.contains("@media print") && html.contains("@page"));
        for heading in [
            "Case timeline",
            "Evidence timeline",
            "ATT&amp;CK matrix",
            "Findings",
            "Indicator enrichments",
            "Reasoning",
            "Next steps",
        ] {
            assert!(html.contains(&format!("<h2>{heading}</h2>")), "{heading}");
        }
        assert!(html.contains("<span class=\"badge incident\">incident</span>"));
        assert!(html.contains("<th>Execution</th><th>Credential Access</th>"));
        // No scripts, no external resources of any kind.
        let lower = html.to_ascii_lowercase();
        for banned in [
            "<script", "<img", "<link", "<a ", "<iframe", "<object", "url(", "@import", "http:",
            "https:",
        ] {
            assert!(!lower.contains(banned), "{banned} in the page");
        }
    }

    #[test]
    fn hostile_event_text_is_escaped() {
        let html = render_html(&full_input());
        assert!(html.contains("LSASS &lt;script&gt;alert(1)&lt;/script&gt; Access"));
        assert!(html.contains("logs/&lt;img src=x onerror=alert(2)&gt;.jsonl"));
        assert!(html.contains("203.0.113.7&quot;&gt;&lt;script&gt;x&lt;/script&gt;"));
        assert_eq!(escape("a'b\"c&<>"), "a&#39;b&quot;c&amp;&lt;&gt;");
    }
}
