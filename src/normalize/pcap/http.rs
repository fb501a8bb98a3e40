//! HTTP/1.x request-head recognizer for single TCP segments.
//!
//! No stream reassembly: a segment whose payload starts with `METHOD SP target SP HTTP/1.x` is a
//! request start, and the headers present in the same segment are read (up to the blank line or
//! the end of the segment). Recognition is by content, not port, so HTTP on unusual ports (C2)
//! is seen too.

/// Methods recognized at the start of a segment (RFC 9110 plus WebDAV).
const METHODS: &[&str] = &[
    "GET",
    "POST",
    "HEAD",
    "PUT",
    "DELETE",
    "OPTIONS",
    "PATCH",
    "CONNECT",
    "TRACE",
    "PROPFIND",
    "PROPPATCH",
    "MKCOL",
    "COPY",
    "MOVE",
    "LOCK",
    "UNLOCK",
    "SEARCH",
    "REPORT",
];

/// Longest header value kept (bytes); longer values are cut at a char boundary.
pub const MAX_VALUE: usize = 8192;

/// One HTTP request head.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Request {
    pub method: String,
    /// The request-target exactly as sent (`/p?q`, or `http://h/p` through a proxy).
    pub uri: String,
    pub version: String,
    pub host: Option<String>,
    pub user_agent: Option<String>,
    pub referer: Option<String>,
    pub cookie: Option<String>,
    pub content_type: Option<String>,
    pub content_length: Option<u64>,
    /// Whether the header block ended inside this segment.
    pub complete: bool,
}

impl Request {
    /// The path part of the target (no query), for absolute targets too.
    pub fn path(&self) -> &str {
        let t = self.uri.as_str();
        let t = match t.find("://") {
            Some(i) => {
                let rest = &t[i + 3..];
                rest.find('/').map_or("/", |j| &rest[j..])
            }
            None => t,
        };
        t.split(['?', '#']).next().unwrap_or(t)
    }

    /// The query string (after `?`, without fragment).
    pub fn query(&self) -> Option<&str> {
        let q = self.uri.split_once('?')?.1;
        Some(q.split('#').next().unwrap_or(q))
    }

    /// The extension of the last path segment, lower-case-preserving (`exe`, `php`).
    pub fn extension(&self) -> Option<&str> {
        let last = self.path().rsplit('/').next()?;
        let (stem, ext) = last.rsplit_once('.')?;
        (!stem.is_empty() && !ext.is_empty()).then_some(ext)
    }
}

fn lossy_cut(b: &[u8]) -> String {
    let s = String::from_utf8_lossy(&b[..b.len().min(MAX_VALUE + 4)]);
    let mut s = s.into_owned();
    if s.len() > MAX_VALUE {
        let mut cut = MAX_VALUE;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
    }
    s
}

/// Quick test whether a payload can start an HTTP request (cheap, for every segment).
pub fn looks_like_request(payload: &[u8]) -> bool {
    let Some(sp) = payload.iter().take(10).position(|&b| b == b' ') else {
        return false;
    };
    let m = &payload[..sp];
    METHODS.iter().any(|x| x.as_bytes() == m)
}

/// Parses the request head at the start of `payload`.
pub fn parse(payload: &[u8]) -> Option<Request> {
    if !looks_like_request(payload) {
        return None;
    }
    let line_end = memchr::memchr(b'\n', payload).unwrap_or(payload.len());
    let line = payload[..line_end]
        .strip_suffix(b"\r")
        .unwrap_or(&payload[..line_end]);
    let mut parts = line.splitn(3, |&b| b == b' ');
    let method = parts.next()?;
    let uri = parts.next()?;
    let version = parts.next()?;
    if !version.starts_with(b"HTTP/") || uri.is_empty() {
        return None;
    }
    let mut req = Request {
        method: lossy_cut(method),
        uri: lossy_cut(uri),
        version: lossy_cut(&version[5..]),
        ..Request::default()
    };
    let mut rest = payload.get(line_end + 1..).unwrap_or(&[]);
    while !rest.is_empty() {
        let (line, next, terminated) = match memchr::memchr(b'\n', rest) {
            Some(i) => (&rest[..i], &rest[i + 1..], true),
            None => (rest, &[][..], false),
        };
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() && terminated {
            req.complete = true;
            break;
        }
        if let Some(colon) = memchr::memchr(b':', line) {
            let name = &line[..colon];
            let value = line[colon + 1..].trim_ascii();
            let slot = if name.eq_ignore_ascii_case(b"host") {
                Some(&mut req.host)
            } else if name.eq_ignore_ascii_case(b"user-agent") {
                Some(&mut req.user_agent)
            } else if name.eq_ignore_ascii_case(b"referer") {
                Some(&mut req.referer)
            } else if name.eq_ignore_ascii_case(b"cookie") {
                Some(&mut req.cookie)
            } else if name.eq_ignore_ascii_case(b"content-type") {
                Some(&mut req.content_type)
            } else {
                None
            };
            if let Some(slot) = slot {
                if slot.is_none() {
                    *slot = Some(lossy_cut(value));
                }
            } else if name.eq_ignore_ascii_case(b"content-length") {
                req.content_length = std::str::from_utf8(value).ok().and_then(|v| v.parse().ok());
            }
        }
        rest = next;
    }
    Some(req)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn parses_request_head() {
        let r = parse(b"GET /a/b.php?x=1&y=2 HTTP/1.1\r\nHost: ex.com\r\nUser-Agent: curl/8\r\nReferer: http://r/\r\n\r\nbody").unwrap();
        assert_eq!(r.method, "GET");
        assert_eq!(r.uri, "/a/b.php?x=1&y=2");
        assert_eq!(r.path(), "/a/b.php");
        assert_eq!(r.query(), Some("x=1&y=2"));
        assert_eq!(r.extension(), Some("php"));
        assert_eq!(r.host.as_deref(), Some("ex.com"));
        assert_eq!(r.user_agent.as_deref(), Some("curl/8"));
        assert_eq!(r.referer.as_deref(), Some("http://r/"));
        assert_eq!(r.version, "1.1");
        assert!(r.complete);
    }

    #[test]
    fn absolute_targets_and_partial_heads() {
        let r = parse(b"POST http://h.example/up/x.exe HTTP/1.0\r\nHost: h.exa").unwrap();
        assert_eq!(r.path(), "/up/x.exe");
        assert_eq!(r.extension(), Some("exe"));
        assert_eq!(r.host.as_deref(), Some("h.exa"));
        assert!(!r.complete);
    }

    #[test]
    fn non_requests_are_ignored() {
        assert!(parse(b"HTTP/1.1 200 OK\r\n\r\n").is_none());
        assert!(parse(b"GET /x\r\n").is_none());
        assert!(parse(b"GETX / HTTP/1.1\r\n").is_none());
        assert!(parse(b"").is_none());
    }
}
