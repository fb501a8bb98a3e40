//! The report as a PDF, written in-process with `pdf-writer` (no external programs, no font
//! files): A4 pages, the standard Helvetica fonts in WinAnsi encoding, and uncompressed content
//! streams, so every word is extractable (`pdftotext`, search, screen readers). The content is
//! bounded ([`super::bounds`]) so a case fits on one page; what still does not (very long
//! strings) flows onto more pages, each numbered.
//!
//! Text that WinAnsi cannot encode is replaced (`→` by `->`, others by `?`); text is written
//! only as escaped PDF string literals, so event content cannot alter the document.

use pdf_writer::{Content, Finish, Name, Pdf, Rect, Ref, Str, TextStr};

use super::{Report, ReportInput};

const PAGE_W: f32 = 595.0;
const PAGE_H: f32 = 842.0;
const MARGIN: f32 = 30.0;
const SMALL: f32 = 7.0;
const CELL_PAD: f32 = 1.5;

#[derive(Clone, Copy, PartialEq)]
enum Font {
    Regular,
    Bold,
}

impl Font {
    fn name(self) -> Name<'static> {
        match self {
            Font::Regular => Name(b"F1"),
            Font::Bold => Name(b"F2"),
        }
    }
}

/// Helvetica advance widths (1/1000 em) of ASCII 32..=126, from the standard font metrics.
const HELVETICA: [u16; 95] = [
    278, 278, 355, 556, 556, 889, 667, 191, 333, 333, 389, 584, 278, 333, 278, 278, // ' '../
    556, 556, 556, 556, 556, 556, 556, 556, 556, 556, 278, 278, 584, 584, 584, 556, // 0..?
    1015, 667, 667, 722, 722, 667, 611, 778, 722, 278, 500, 667, 556, 833, 722, 778, // @..O
    667, 778, 722, 667, 611, 722, 667, 944, 667, 667, 611, 278, 278, 278, 469, 556, // P.._
    333, 556, 556, 500, 556, 556, 278, 556, 556, 222, 222, 500, 222, 833, 556, 556, // `..o
    556, 556, 333, 500, 278, 556, 500, 722, 500, 500, 500, 334, 260, 334, 584, // p..~
];

/// Width of `s` in points; bold is estimated 10% wider than regular.
fn width(s: &str, font: Font, size: f32) -> f32 {
    let units: u32 = s
        .chars()
        .map(|c| {
            let code = c as u32;
            if (32..=126).contains(&code) {
                u32::from(HELVETICA[(code - 32) as usize])
            } else {
                556
            }
        })
        .sum();
    let w = units as f32 * size / 1000.0;
    if font == Font::Bold { w * 1.1 } else { w }
}

/// Encodes text in WinAnsi (Latin-1 plus the typographic characters of 0x80–0x9F).
pub fn win_ansi(s: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len());
    for c in s.chars() {
        match c {
            ' '..='~' => out.push(c as u8),
            '\u{a0}'..='\u{ff}' => out.push(c as u32 as u8),
            '€' => out.push(0x80),
            '…' => out.push(0x85),
            '‘' => out.push(0x91),
            '’' => out.push(0x92),
            '“' => out.push(0x93),
            '”' => out.push(0x94),
            '•' => out.push(0x95),
            '–' => out.push(0x96),
            '—' => out.push(0x97),
            '→' => out.extend_from_slice(b"->"),
            c if c.is_control() => out.push(b' '),
            _ => out.push(b'?'),
        }
    }
    out
}

/// Splits `text` into lines no wider than `max` points, breaking at spaces, and inside words
/// that are longer than a line.
fn wrap(text: &str, font: Font, size: f32, max: f32) -> Vec<String> {
    let mut lines = Vec::new();
    for para in text.split('\n') {
        let mut line = String::new();
        for word in para.split(' ') {
            let candidate = if line.is_empty() {
                word.to_owned()
            } else {
                format!("{line} {word}")
            };
            if width(&candidate, font, size) <= max {
                line = candidate;
                continue;
            }
            if !line.is_empty() {
                lines.push(std::mem::take(&mut line));
            }
            // A word wider than the line is cut into pieces that fit.
            for c in word.chars() {
                line.push(c);
                if width(&line, font, size) > max && line.chars().count() > 1 {
                    let last = line.pop().unwrap_or(' ');
                    lines.push(std::mem::take(&mut line));
                    line.push(last);
                }
            }
        }
        lines.push(line);
    }
    lines
}

/// Pages being laid out top to bottom.
struct Layout {
    pages: Vec<Content>,
    page: Content,
    y: f32,
}

impl Layout {
    fn new() -> Self {
        Layout {
            pages: Vec::new(),
            page: Content::new(),
            y: PAGE_H - MARGIN,
        }
    }

    fn ensure(&mut self, height: f32) {
        if self.y - height < MARGIN + 14.0 {
            let full = std::mem::replace(&mut self.page, Content::new());
            self.pages.push(full);
            self.y = PAGE_H - MARGIN;
        }
    }

    fn text(&mut self, x: f32, y: f32, font: Font, size: f32, s: &str) {
        let bytes = win_ansi(s);
        self.page
            .begin_text()
            .set_font(font.name(), size)
            .next_line(x, y)
            .show(Str(&bytes))
            .end_text();
    }

    fn paragraph(&mut self, s: &str, font: Font, size: f32, indent: f32) {
        let leading = size * 1.25;
        for line in wrap(s, font, size, PAGE_W - 2.0 * MARGIN - indent) {
            self.ensure(leading);
            self.y -= leading;
            self.text(MARGIN + indent, self.y + size * 0.25, font, size, &line);
        }
    }

    /// A muted `… and N more …` line when something was left out.
    fn more(&mut self, line: Option<String>) {
        if let Some(line) = line {
            self.paragraph(&line, Font::Regular, SMALL, 0.0);
        }
    }

    fn heading(&mut self, s: &str) {
        self.ensure(36.0);
        self.y -= 3.0;
        self.paragraph(s, Font::Bold, 9.0, 0.0);
        self.y -= 2.0;
        self.page
            .set_stroke_gray(0.75)
            .set_line_width(0.5)
            .move_to(MARGIN, self.y)
            .line_to(PAGE_W - MARGIN, self.y)
            .stroke();
        self.y -= 2.0;
    }

    /// A table (headers shaded, none when empty) whose columns share the page width in the
    /// given proportions; each cell may
    /// hold several lines (split on `\n`), each wrapped to the column.
    fn table(&mut self, headers: &[&str], weights: &[f32], rows: &[Vec<String>], size: f32) {
        let total: f32 = weights.iter().sum();
        let avail = PAGE_W - 2.0 * MARGIN;
        let widths: Vec<f32> = weights.iter().map(|w| avail * w / total).collect();
        if !headers.is_empty() {
            let header: Vec<String> = headers.iter().map(|h| h.to_string()).collect();
            self.row(&header, &widths, Font::Bold, size, true);
        }
        for r in rows {
            self.row(r, &widths, Font::Regular, size, false);
        }
    }

    fn row(&mut self, cells: &[String], widths: &[f32], font: Font, size: f32, shaded: bool) {
        let leading = size * 1.25;
        let wrapped: Vec<Vec<String>> = cells
            .iter()
            .zip(widths)
            .map(|(c, w)| {
                c.split('\n')
                    .flat_map(|part| wrap(part, font, size, w - 2.0 * CELL_PAD))
                    .collect()
            })
            .collect();
        let lines = wrapped.iter().map(Vec::len).max().unwrap_or(1).max(1);
        let height = lines as f32 * leading + 2.0 * CELL_PAD;
        self.ensure(height);
        let top = self.y;
        if shaded {
            self.page
                .set_fill_gray(0.93)
                .rect(MARGIN, top - height, widths.iter().sum(), height)
                .fill_nonzero()
                .set_fill_gray(0.0);
        }
        let mut x = MARGIN;
        for (cell, w) in wrapped.iter().zip(widths) {
            for (i, line) in cell.iter().enumerate() {
                let baseline = top - CELL_PAD - (i as f32 + 1.0) * leading + size * 0.25;
                self.text(x + CELL_PAD, baseline, font, size, line);
            }
            self.page
                .set_stroke_gray(0.7)
                .set_line_width(0.4)
                .rect(x, top - height, *w, height)
                .stroke();
            x += w;
        }
        self.y -= height;
    }

    fn finish(mut self) -> Vec<Content> {
        self.pages.push(self.page);
        self.pages
    }
}

/// Renders the report as a PDF document.
pub fn render_pdf(input: &ReportInput) -> Vec<u8> {
    let r = Report::new(input);
    let v = &input.verdict;
    let mut l = Layout::new();

    l.paragraph(&r.title, Font::Bold, 14.0, 0.0);
    l.y -= 2.0;
    l.paragraph(
        &format!(
            "{}  ·  severity {}  ·  score {}/100  ·  confidence {:.0}%",
            v.conclusion.as_str().to_uppercase(),
            v.severity.as_str(),
            v.score,
            (v.confidence * 100.0).clamp(0.0, 100.0)
        ),
        Font::Bold,
        11.0,
        0.0,
    );
    l.y -= 3.0;
    let facts: Vec<Vec<String>> = r
        .facts
        .chunks(3)
        .map(|group| {
            let mut row = Vec::new();
            for (label, value) in group {
                row.push(label.to_string());
                row.push(value.clone());
            }
            row.resize(6, String::new());
            row
        })
        .collect();
    l.table(&[], &[1.0, 2.0, 1.0, 2.0, 1.0, 2.0], &facts, SMALL);

    if !r.stages.items.is_empty() {
        l.heading("Case timeline");
        let rows: Vec<Vec<String>> = r
            .stages
            .items
            .iter()
            .map(|s| vec![super::short_time(s.time), s.stage.clone(), s.detail.clone()])
            .collect();
        l.table(&["Time", "Stage", "Detail"], &[1.6, 1.3, 6.0], &rows, SMALL);
        l.more(r.stages.more_line("earlier case timeline entries"));
    }

    l.heading("Evidence timeline");
    let rows: Vec<Vec<String>> = r
        .timeline
        .items
        .iter()
        .map(|t| {
            vec![
                t.time.clone(),
                t.what.clone(),
                t.detail.clone(),
                format!("{}\n{}", t.event_id, t.origin),
            ]
        })
        .collect();
    l.table(
        &["Time", "Finding", "Detail", "Event"],
        &[1.6, 3.0, 2.9, 2.6],
        &rows,
        SMALL,
    );
    l.more(r.timeline.more_line("evidence events"));

    if !r.matrix.is_empty() {
        l.heading("ATT&CK matrix");
        let headers: Vec<&str> = r.matrix.iter().map(|c| c.tactic.as_str()).collect();
        let cells: Vec<String> = r.matrix.iter().map(|c| c.techniques.join("\n")).collect();
        l.table(&headers, &vec![1.0; headers.len()], &[cells], SMALL);
    }

    l.heading("Findings");
    let rows: Vec<Vec<String>> = r
        .findings
        .items
        .iter()
        .map(|f| {
            vec![
                f.kind.clone(),
                f.title.clone(),
                f.level.clone(),
                f.count.to_string(),
                f.weight.clone(),
            ]
        })
        .collect();
    l.table(
        &["Kind", "Finding", "Level", "Count", "Weight"],
        &[1.3, 5.6, 0.9, 0.7, 0.8],
        &rows,
        SMALL,
    );
    l.more(r.findings.more_line("findings"));

    if !r.indicators.items.is_empty() {
        l.heading("Indicator enrichments");
        let mut rows = Vec::new();
        for i in &r.indicators.items {
            let score = |s: Option<f64>| s.map(|x| x.to_string()).unwrap_or_default();
            rows.push(vec![
                format!("{} ({})", i.value, i.kind),
                "combined".to_owned(),
                i.verdict.clone(),
                score(i.score),
                String::new(),
            ]);
            for s in &i.sources {
                rows.push(vec![
                    String::new(),
                    s.source.clone(),
                    s.verdict.clone(),
                    score(s.score),
                    s.detail.clone(),
                ]);
            }
        }
        l.table(
            &["Indicator", "Source", "Verdict", "Score", "Detail"],
            &[3.0, 1.6, 1.3, 0.8, 3.0],
            &rows,
            SMALL,
        );
        l.more(r.indicators.more_line("indicators"));
    }

    l.heading("Reasoning");
    for (n, line) in r.reasoning.items.iter().enumerate() {
        l.paragraph(&format!("{}. {line}", n + 1), Font::Regular, SMALL, 0.0);
    }
    l.more(r.reasoning.more_line("reasoning lines"));

    if !r.next_steps.items.is_empty() {
        l.heading("Next steps");
        for (n, s) in r.next_steps.items.iter().enumerate() {
            let mut line = format!("{}. {}", n + 1, s.title);
            if !s.detail.trim().is_empty() {
                line = format!("{line}: {}", s.detail.trim());
            }
            if !s.references.is_empty() {
                line = format!("{line} ({})", s.references.join(", "));
            }
            l.paragraph(&line, Font::Regular, SMALL, 0.0);
        }
        l.more(r.next_steps.more_line("next steps"));
    }

    let pages = l.finish();
    write_document(pages, &r.title, &r.footer)
}

/// Writes the catalog, page tree, fonts and pages; adds the footer and page number to each.
fn write_document(pages: Vec<Content>, title: &str, footer: &str) -> Vec<u8> {
    let catalog = Ref::new(1);
    let tree = Ref::new(2);
    let regular = Ref::new(3);
    let bold = Ref::new(4);
    let info = Ref::new(5);
    let first_page = 6;
    let count = pages.len() as i32;
    let page_ids: Vec<Ref> = (0..count).map(|i| Ref::new(first_page + 2 * i)).collect();

    let mut pdf = Pdf::new();
    pdf.catalog(catalog).pages(tree);
    pdf.pages(tree).kids(page_ids.iter().copied()).count(count);
    pdf.type1_font(regular)
        .base_font(Name(b"Helvetica"))
        .encoding_predefined(Name(b"WinAnsiEncoding"));
    pdf.type1_font(bold)
        .base_font(Name(b"Helvetica-Bold"))
        .encoding_predefined(Name(b"WinAnsiEncoding"));
    pdf.document_info(info)
        .title(TextStr(title))
        .producer(TextStr(concat!("nightwatch ", env!("CARGO_PKG_VERSION"))));

    for (i, mut content) in pages.into_iter().enumerate() {
        let label = format!("{footer}  ·  page {} of {count}", i + 1);
        let bytes = win_ansi(&label);
        content
            .set_fill_gray(0.4)
            .begin_text()
            .set_font(Font::Regular.name(), 6.5)
            .next_line(MARGIN, MARGIN - 12.0)
            .show(Str(&bytes))
            .end_text();
        let page = page_ids[i];
        let stream = Ref::new(page.get() + 1);
        let mut p = pdf.page(page);
        p.parent(tree)
            .media_box(Rect::new(0.0, 0.0, PAGE_W, PAGE_H))
            .contents(stream);
        {
            let mut resources = p.resources();
            let mut fonts = resources.fonts();
            fonts.pair(Font::Regular.name(), regular);
            fonts.pair(Font::Bold.name(), bold);
        }
        p.finish();
        pdf.stream(stream, &content.finish());
    }
    pdf.finish()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
pub(crate) mod tests {
    use super::*;
    use crate::report::tests::full_input;

    /// The text of every string shown with `Tj` in the document's (uncompressed) content
    /// streams — literal `(…)` or hex `<…>` — unescaped and decoded from WinAnsi (as Latin-1),
    /// one line per string.
    pub(crate) fn extract_text(pdf: &[u8]) -> String {
        let mut out = String::new();
        let mut i = 0;
        while i < pdf.len() {
            let (bytes, end) = match pdf[i] {
                b'(' => literal(pdf, i),
                b'<' if pdf.get(i + 1) != Some(&b'<') => hex(pdf, i),
                _ => {
                    i += 1;
                    continue;
                }
            };
            let rest = &pdf[(end + 1).min(pdf.len())..];
            if rest.starts_with(b" Tj") || rest.starts_with(b"Tj") {
                out.extend(bytes.iter().map(|&b| b as char));
                out.push('\n');
            }
            i = end + 1;
        }
        out
    }

    /// A literal string starting at `i`: its bytes and the index of its closing parenthesis.
    fn literal(pdf: &[u8], i: usize) -> (Vec<u8>, usize) {
        let (mut depth, mut s, mut j) = (0, Vec::new(), i);
        while j < pdf.len() {
            match pdf[j] {
                b'\\' if j + 1 < pdf.len() => {
                    j += 1;
                    s.push(match pdf[j] {
                        b'n' => b'\n',
                        b'r' => b'\r',
                        b't' => b'\t',
                        other => other,
                    });
                }
                b'(' => {
                    if depth > 0 {
                        s.push(b'(');
                    }
                    depth += 1;
                }
                b')' => {
                    depth -= 1;
                    if depth == 0 {
                        break;
                    }
                    s.push(b')');
                }
                c => s.push(c),
            }
            j += 1;
        }
        (s, j)
    }

    /// A hex string starting at `i`: its bytes and the index of its closing `>`.
    fn hex(pdf: &[u8], i: usize) -> (Vec<u8>, usize) {
        let end = pdf[i..]
            .iter()
            .position(|&b| b == b'>')
            .map_or(pdf.len(), |p| i + p);
        let digits: Vec<u8> = pdf[i + 1..end]
            .iter()
            .copied()
            .filter(u8::is_ascii_hexdigit)
            .collect();
        let bytes = digits
            .chunks(2)
            .filter_map(|pair| u8::from_str_radix(std::str::from_utf8(pair).ok()?, 16).ok())
            .collect();
        (bytes, end)
    }

    /// Checks the header, trailer and that every xref entry points at its object.
    pub(crate) fn check_structure(pdf: &[u8]) {
        assert!(pdf.starts_with(b"%PDF-"), "no PDF header");
        let at =
            |offset: usize, what: &[u8]| pdf.get(offset..).is_some_and(|r| r.starts_with(what));
        let tail = String::from_utf8_lossy(&pdf[pdf.len().saturating_sub(64)..]).into_owned();
        assert!(tail.trim_end().ends_with("%%EOF"), "no %%EOF: {tail}");
        let start: usize = tail
            .rsplit("startxref")
            .next()
            .unwrap()
            .split_whitespace()
            .next()
            .unwrap()
            .parse()
            .unwrap();
        assert!(at(start, b"xref"), "startxref is off");
        let table = String::from_utf8_lossy(&pdf[start..]).into_owned();
        let mut lines = table.lines().skip(1);
        let mut header = lines.next().unwrap().split_whitespace();
        let first: usize = header.next().unwrap().parse().unwrap();
        let n: usize = header.next().unwrap().parse().unwrap();
        assert!(n > 5, "{n} objects");
        for (k, line) in lines.take(n).enumerate() {
            let id = first + k;
            let mut parts = line.split_whitespace();
            let offset: usize = parts.next().unwrap().parse().unwrap();
            if parts.nth(1) == Some("n") {
                assert!(
                    at(offset, format!("{id} 0 obj").as_bytes()),
                    "xref entry {id} points at the wrong place"
                );
            }
        }
    }

    #[test]
    fn a_valid_pdf_with_extractable_text() {
        let input = full_input();
        let pdf = render_pdf(&input);
        check_structure(&pdf);
        let text = extract_text(&pdf);
        for needle in [
            "INCIDENT",
            "score 70/100",
            "WS-FIN-07.corp.example",
            "Evidence timeline",
            "ATT&CK matrix",
            "Credential Access",
            "T1003.001 LSASS Memory",
            "Indicator enrichments",
            "virustotal",
            "Reasoning",
            "Next steps",
            "1. Isolate the host",
            "page 1 of 1",
        ] {
            assert!(text.contains(needle), "{needle} not in:\n{text}");
        }
        // Hostile text is a string literal like any other: it cannot end the stream or the
        // string early.
        assert!(text.contains("<script>alert(1)</script>"), "{text}");
    }

    #[test]
    fn what_the_bounds_cannot_hold_flows_onto_numbered_pages() {
        let mut input = full_input();
        let mut f = input.verdict.findings[0].clone();
        f.rule_title = "a very long rule title ".repeat(60);
        input.verdict.findings = vec![f; 60];
        let pdf = render_pdf(&input);
        check_structure(&pdf);
        let text = extract_text(&pdf);
        assert!(text.contains("page 1 of "), "{text}");
        assert!(!text.contains("page 1 of 1\n"));
        assert!(text.contains("and 52 more findings."), "{text}");
    }

    #[test]
    fn many_findings_steps_and_reasoning_lines_stay_on_one_page() {
        let mut input = full_input();
        let f = input.verdict.findings[0].clone();
        input.verdict.findings = vec![f; 60];
        input.verdict.reasoning = vec!["a long line of reasoning ".repeat(12); 40];
        input.next_steps = vec![input.next_steps[0].clone(); 30];
        let pdf = render_pdf(&input);
        check_structure(&pdf);
        let text = extract_text(&pdf);
        assert!(text.contains("page 1 of 1\n"), "{text}");
        for more in [
            "and 52 more findings.",
            "and 32 more reasoning lines.",
            "and 25 more next steps.",
        ] {
            assert!(text.contains(more), "{more} not in:\n{text}");
        }
    }

    #[test]
    fn wrapping_keeps_lines_within_the_width() {
        let lines = wrap(
            &format!("short words then {}", "x".repeat(300)),
            Font::Regular,
            8.0,
            100.0,
        );
        assert!(lines.len() > 3);
        for l in &lines {
            assert!(width(l, Font::Regular, 8.0) <= 100.0, "{l}");
        }
        assert_eq!(win_ansi("a→b—c"), b"a->b\x97c");
        assert_eq!(win_ansi("日"), b"?");
    }

    #[test]
    fn pdftotext_reads_the_conclusion_when_installed() {
        if std::process::Command::new("pdftotext")
            .arg("-v")
            .output()
            .is_err()
        {
            assert!(
                std::env::var_os("CI").is_none(),
                "pdftotext (poppler-utils) is required when CI is set"
            );
            eprintln!("pdftotext not installed; skipping (the pure-Rust extraction test runs)");
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.pdf");
        std::fs::write(&path, render_pdf(&full_input())).unwrap();
        let out = std::process::Command::new("pdftotext")
            .arg(&path)
            .arg("-")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("INCIDENT"), "{text}");
        assert!(text.contains("WS-FIN-07.corp.example"), "{text}");
        assert!(text.contains("T1003.001 LSASS Memory"), "{text}");
    }
}
