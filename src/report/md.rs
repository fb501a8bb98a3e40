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

/// Renders the report as Markdown.
pub fn render_md(input: &ReportInput) -> String {
    let r = Report::new(input);
    let mut d = String::new();
    let _ = writeln!(d, "# {}\n", escape(&r.title));
    for (label, value) in &r.facts {
        let _ = writeln!(d, "- **{label}:** {}", escape(value));
    }

    if !input.stages.is_empty() {
        d.push_str("\n## Case timeline\n\n| Time | Stage | Detail |\n|---|---|---|\n");
        for s in &input.stages {
            let _ = writeln!(
                d,
                "| {} | {} | {} |",
                super::time(s.time),
                escape(&s.stage),
                escape(&s.detail)
            );
        }
    }

    d.push_str(
        "\n## Evidence timeline\n\n| Time | Finding | Event | Origin |\n|---|---|---|---|\n",
    );
    for row in &r.timeline {
        let _ = writeln!(
            d,
            "| {} | {} | {} | {} |",
            row.time,
            escape(&row.what),
            escape(&row.event_id),
            escape(&row.origin)
        );
    }
    if r.timeline_more > 0 {
        let _ = writeln!(d, "\n… and {} more evidence events.", r.timeline_more);
    }

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
    for f in &r.findings {
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

    if !input.indicators.is_empty() {
        d.push_str("\n## Indicator enrichments\n");
        for i in &input.indicators {
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
    }

    d.push_str("\n## Reasoning\n\n");
    for (n, line) in input.verdict.reasoning.iter().enumerate() {
        let _ = writeln!(d, "{}. {}", n + 1, escape(line));
    }

    if !input.next_steps.is_empty() {
        d.push_str("\n## Next steps\n\n");
        for (n, s) in input.next_steps.iter().enumerate() {
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
