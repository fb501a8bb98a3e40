//! Links inside PDF attachments: a PDF whose only job is a button to a credential page or a
//! shortener is a common lure that hides the link from a gateway reading the message body.
//! URI actions (`/URI (…)`) are read from the file as written and from its Flate-compressed
//! streams (object streams hold them in most generated PDFs), bounded in streams and bytes.

use std::io::Read;

const MAX_STREAMS: usize = 256;
const MAX_INFLATED: u64 = 4 * 1024 * 1024;
const MAX_LINKS: usize = 32;

/// The `http(s)` URIs of a PDF's link annotations, deduplicated, in file order.
pub fn links(pdf: &[u8]) -> Vec<String> {
    let mut out = Vec::new();
    collect(pdf, &mut out);
    let mut budget = MAX_INFLATED;
    let mut from = 0;
    let mut streams = 0;
    while streams < MAX_STREAMS && budget > 0 && out.len() < MAX_LINKS {
        let Some(p) = memchr::memmem::find(&pdf[from..], b"stream") else {
            break;
        };
        let mut start = from + p + b"stream".len();
        from = start;
        // `endstream` also contains "stream": skip it.
        if pdf[..from - b"stream".len()].ends_with(b"end") {
            continue;
        }
        if pdf.get(start) == Some(&b'\r') {
            start += 1;
        }
        if pdf.get(start) == Some(&b'\n') {
            start += 1;
        }
        let Some(end) = memchr::memmem::find(&pdf[start..], b"endstream") else {
            break;
        };
        streams += 1;
        let mut inflated = Vec::new();
        let read = flate2::read::ZlibDecoder::new(&pdf[start..start + end])
            .take(budget)
            .read_to_end(&mut inflated);
        if read.is_ok() || !inflated.is_empty() {
            budget = budget.saturating_sub(inflated.len() as u64);
            collect(&inflated, &mut out);
        }
        from = start + end;
    }
    out
}

fn collect(bytes: &[u8], out: &mut Vec<String>) {
    let mut from = 0;
    while out.len() < MAX_LINKS {
        let Some(p) = memchr::memmem::find(&bytes[from..], b"/URI") else {
            return;
        };
        let mut i = from + p + 4;
        from = i;
        while bytes.get(i).is_some_and(u8::is_ascii_whitespace) {
            i += 1;
        }
        if bytes.get(i) != Some(&b'(') {
            continue;
        }
        let rest = &bytes[i + 1..];
        let end = rest
            .iter()
            .position(|b| *b == b')')
            .unwrap_or(rest.len())
            .min(2048);
        let uri = String::from_utf8_lossy(&rest[..end]).replace("\\/", "/");
        let uri = uri.trim();
        let lower = uri.to_ascii_lowercase();
        if (lower.starts_with("http://") || lower.starts_with("https://"))
            && !out.iter().any(|u| u == uri)
        {
            out.push(uri.to_owned());
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn uris_are_read_as_written_and_from_compressed_streams() {
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        z.write_all(b"<< /Type /Annot /A << /S /URI /URI (https://x.example.top/login) >> >>")
            .unwrap();
        let compressed = z.finish().unwrap();
        let mut pdf = b"%PDF-1.7\n1 0 obj << /A << /URI (https://bit.ly/abc) >> >> endobj\n2 0 obj << /Filter /FlateDecode >>\nstream\n".to_vec();
        pdf.extend_from_slice(&compressed);
        pdf.extend_from_slice(b"\nendstream\nendobj\n%%EOF\n");
        assert_eq!(
            links(&pdf),
            vec!["https://bit.ly/abc", "https://x.example.top/login"]
        );
    }

    #[test]
    fn a_pdf_without_links_and_garbage_give_nothing() {
        assert!(
            links(b"%PDF-1.4\n1 0 obj << /Type /Page >> endobj\nstream\nnot zlib\nendstream\n")
                .is_empty()
        );
        assert!(links(b"").is_empty());
        assert!(links(b"/URI (mailto:a@b.example)").is_empty());
    }
}
