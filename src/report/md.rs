//! The report as Markdown (GitHub-flavoured tables). Event-derived text is escaped so it
//! cannot open links, images, HTML or break out of a table cell.

use std::fmt::Write;

use super::{Report, ReportInput};

/// Escapes Markdown and inline HTML metacharacters; newlines become spaces.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\\' | '`' | '*' | '_' | '[' | ']' | '(' | ')' | '#' | '|' | '!' | '~' => {
                out.push('\\');
                out.push(c);
            }
            '\n' | '\r' | '\t' => out.push(' '),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// A paragraph `… and N more …` when something was left out.
fn more(d: &mut String, line: Option<String>) {
    if let Some(line) = line {
        let _ = writeln!(d, "\n{}", escape(&line));
    }
}

/// Renders the report as Markdown.
pub fn render_md(input: &ReportInput) -> String {
    let r = Report::new(input);
    let mut d = String::new();
    let _ = writeln!(d, "# {}\n", escape(&r.title));
    for (label, value) in &r.facts {
        let _ = writeln!(d, "- **{label}:** {}", escape(value));
    }

    if !r.stages.items.is_empty() {
        d.push_str("\n## Case timeline\n\n| Time | Stage | Detail |\n|---|---|---|\n");
        for s in &r.stages.items {
            let _ = writeln!(
                d,
                "| {} | {} | {} |",
                super::short_time(s.time),
                escape(&s.stage),
                escape(&s.detail)
            );
        }
        more(&mut d, r.stages.more_line("earlier case timeline entries"));
    }

    d.push_str(
        "\n## Evidence timeline\n\n| Time | Finding | Detail | Event | Origin |\n|---|---|---|---|---|\n",
    );
    for row in &r.timeline.items {
        let _ = writeln!(
            d,
            "| {} | {} | {} | {} | {} |",
            row.time,
            escape(&row.what),
            escape(&row.detail),
            escape(&row.event_id),
            escape(&row.origin)
        );
    }
    more(&mut d, r.timeline.more_line("evidence events"));

    if !r.matrix.is_empty() {
        d.push_str("\n## ATT&CK matrix\n\n|");
        for c in &r.matrix {
            let _ = write!(d, " {} |", escape(&c.tactic));
        }
        d.push_str("\n|");
        d.push_str(&"---|".repeat(r.matrix.len()));
        d.push('\n');
        let rows = r
            .matrix
            .iter()
            .map(|c| c.techniques.len())
            .max()
            .unwrap_or(0);
        for i in 0..rows {
            d.push('|');
            for c in &r.matrix {
                let cell = c.techniques.get(i).map(|t| escape(t)).unwrap_or_default();
                let _ = write!(d, " {cell} |");
            }
            d.push('\n');
        }
    }

    d.push_str(
        "\n## Findings\n\n| Kind | Finding | Level | Count | Weight |\n|---|---|---|---|---|\n",
    );
    for f in &r.findings.items {
        let _ = writeln!(
            d,
            "| {} | {} | {} | {} | {} |",
            escape(&f.kind),
            escape(&f.title),
            escape(&f.level),
            f.count,
            f.weight
        );
    }
    more(&mut d, r.findings.more_line("findings"));

    if !r.indicators.items.is_empty() {
        d.push_str("\n## Indicator enrichments\n");
        for i in &r.indicators.items {
            let score = i.score.map(|s| format!(", score {s}")).unwrap_or_default();
            let _ = writeln!(
                d,
                "\n**{}** ({}): {}{score}\n",
                escape(&i.value),
                escape(&i.kind),
                escape(&i.verdict)
            );
            if !i.sources.is_empty() {
                d.push_str("| Source | Verdict | Score | Detail |\n|---|---|---|---|\n");
                for s in &i.sources {
                    let _ = writeln!(
                        d,
                        "| {} | {} | {} | {} |",
                        escape(&s.source),
                        escape(&s.verdict),
                        s.score.map(|x| x.to_string()).unwrap_or_default(),
                        escape(&s.detail)
                    );
                }
            }
        }
        more(&mut d, r.indicators.more_line("indicators"));
    }

    d.push_str("\n## Reasoning\n\n");
    for (n, line) in r.reasoning.items.iter().enumerate() {
        let _ = writeln!(d, "{}. {}", n + 1, escape(line));
    }
    more(&mut d, r.reasoning.more_line("reasoning lines"));

    if !r.next_steps.items.is_empty() {
        d.push_str("\n## Next steps\n\n");
        for (n, s) in r.next_steps.items.iter().enumerate() {
            let _ = write!(d, "{}. **{}**", n + 1, escape(&s.title));
            if !s.detail.is_empty() {
                let _ = write!(d, ": {}", escape(&s.detail));
            }
            if !s.references.is_empty() {
                let refs: Vec<String> = s.references.iter().map(|r| escape(r)).collect();
                let _ = write!(d, " ({})", refs.join(", "));
            }
            d.push('\n');
        }
        more(&mut d, r.next_steps.more_line("next steps"));
    }
    let _ = writeln!(d, "\n---\n{}", escape(&r.footer));
    d
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::report::tests::full_input;

    #[test]
    fn every_section_is_rendered_and_hostile_text_is_escaped() {
        let input = full_input();
        let md = render_md(&input);
        for heading in [
            "## Case timeline",
            "## Evidence timeline",
            "## ATT&CK matrix",
            "## Findings",
            "## Indicator enrichments",
            "## Reasoning",
            "## Next steps",
        ] {
            assert!(md.contains(heading), "{heading} missing:\n{md}");
        }
        assert!(md.contains("- **Conclusion:** incident"));
        assert!(md.contains("| Execution | Credential Access |"), "{md}");
        assert!(md.contains("| virustotal | malicious | 0.87 | 61/94 engines |"));
        assert!(md.contains("1. **Isolate the host**: cut network access"));
        assert!(!md.contains("<script>"), "{md}");
        assert!(!md.contains("<img"), "{md}");
        assert!(md.contains("&lt;script&gt;"));
    }

    #[test]
    fn optional_sections_are_left_out_when_empty() {
        let mut v = crate::outputs::thehive::tests::sample("c", 1);
        v.next_steps.clear();
        v.timeline.clear();
        v.indicators.clear();
        let md = render_md(&ReportInput::new(v));
        assert!(!md.contains("## Next steps"));
        assert!(!md.contains("## Indicator enrichments"));
        assert!(!md.contains("## Case timeline"));
        assert!(md.contains("## Reasoning"));
    }

    #[test]
    fn escape_neutralizes_markdown() {
        assert_eq!(escape("a|b"), "a\\|b");
        assert_eq!(escape("[x](http://e)"), "\\[x\\]\\(http://e\\)");
        assert_eq!(escape("l1\nl2"), "l1 l2");
    }
}
