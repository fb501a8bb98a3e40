//! TLS ClientHello recognizer (RFC 5246 / RFC 8446 record and handshake framing).
//!
//! Works on the first TCP segment of a ClientHello, without reassembly: when the hello is longer
//! than the segment, the extensions present in the segment are still read and `partial` is set.
//! Extracts the SNI host name, the offered versions (`supported_versions` wins over the legacy
//! field), cipher-suite count, ALPN protocols and a JA3-style string
//! (`version,ciphers,extensions,groups,point_formats`, GREASE values removed; not hashed).

use std::fmt::Write;

/// One ClientHello.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientHello {
    /// Legacy `client_version` (0x0303 for TLS 1.2 and 1.3 hellos).
    pub legacy_version: u16,
    /// Highest offered version: from `supported_versions` when present, else the legacy field.
    pub max_version: u16,
    pub sni: Option<String>,
    pub cipher_count: usize,
    pub alpn: Vec<String>,
    /// JA3 input string (not hashed).
    pub ja3: String,
    /// The hello continues beyond this segment; fields after the cut are missing.
    pub partial: bool,
}

/// Display name of a TLS protocol version (`TLS 1.3`, `SSL 3.0`, …).
pub fn version_name(v: u16) -> String {
    match v {
        0x0300 => "SSL 3.0".into(),
        0x0301 => "TLS 1.0".into(),
        0x0302 => "TLS 1.1".into(),
        0x0303 => "TLS 1.2".into(),
        0x0304 => "TLS 1.3".into(),
        0x0002 => "SSL 2.0".into(),
        _ => format!("0x{v:04x}"),
    }
}

fn is_grease(v: u16) -> bool {
    v & 0x0F0F == 0x0A0A && (v >> 8) == (v & 0xFF)
}

/// A bounded big-endian reader over a byte slice.
struct Cur<'a> {
    b: &'a [u8],
    at: usize,
}

impl<'a> Cur<'a> {
    fn u8(&mut self) -> Option<u8> {
        let v = *self.b.get(self.at)?;
        self.at += 1;
        Some(v)
    }
    fn u16(&mut self) -> Option<u16> {
        let s = self.b.get(self.at..self.at + 2)?;
        self.at += 2;
        Some(u16::from_be_bytes([s[0], s[1]]))
    }
    /// Takes `n` bytes; when fewer remain, takes what is there and reports it as cut.
    fn take(&mut self, n: usize) -> (&'a [u8], bool) {
        let end = self.at.saturating_add(n).min(self.b.len());
        let s = &self.b[self.at..end];
        self.at = end;
        (s, s.len() < n)
    }
}

fn u16_list(b: &[u8]) -> impl Iterator<Item = u16> + '_ {
    b.chunks_exact(2).map(|c| u16::from_be_bytes([c[0], c[1]]))
}

fn join_dash(out: &mut String, vals: impl Iterator<Item = u16>) {
    let mut first = true;
    for v in vals.filter(|v| !is_grease(*v)) {
        if !first {
            out.push('-');
        }
        first = false;
        let _ = write!(out, "{v}");
    }
}

/// Parses a ClientHello at the start of a TCP payload. `None` when the payload is not a TLS
/// handshake record carrying a ClientHello.
pub fn parse(payload: &[u8]) -> Option<ClientHello> {
    // Record header: type 22 (handshake), version 3.x, length.
    if payload.len() < 9 || payload[0] != 0x16 || payload[1] != 3 || payload[2] > 4 {
        return None;
    }
    let mut c = Cur { b: payload, at: 5 };
    if c.u8()? != 1 {
        return None;
    }
    let hs_len = usize::from(c.u8()?) << 16 | usize::from(c.u16()?);
    let mut hello = ClientHello {
        partial: payload.len() < 9 + hs_len,
        ..ClientHello::default()
    };
    hello.legacy_version = c.u16()?;
    if hello.legacy_version >> 8 != 3 {
        return None;
    }
    hello.max_version = hello.legacy_version;
    let (_random, cut) = c.take(32);
    if cut {
        return Some(hello);
    }
    let sid = usize::from(c.u8()?);
    if sid > 32 {
        return None;
    }
    c.take(sid);
    let n = usize::from(c.u16()?);
    let (ciphers, cut) = c.take(n);
    hello.cipher_count = ciphers.len() / 2;
    let mut extensions: Vec<u16> = Vec::new();
    let mut groups: &[u8] = &[];
    let mut formats: &[u8] = &[];
    if !cut && let Some(n) = c.u8() {
        c.take(usize::from(n));
        if let Some(total) = c.u16() {
            let (mut exts, _) = c.take(usize::from(total));
            while exts.len() >= 4 {
                let ty = u16::from_be_bytes([exts[0], exts[1]]);
                let len = usize::from(u16::from_be_bytes([exts[2], exts[3]]));
                let body = &exts[4..(4 + len).min(exts.len())];
                extensions.push(ty);
                let complete = body.len() == len;
                match ty {
                    0 if complete => hello.sni = parse_sni(body),
                    10 if complete && body.len() >= 2 => groups = &body[2..],
                    11 if complete && !body.is_empty() => formats = &body[1..],
                    16 if complete => hello.alpn = parse_alpn(body),
                    43 if complete && !body.is_empty() => {
                        if let Some(v) = u16_list(&body[1..]).filter(|v| !is_grease(*v)).max() {
                            hello.max_version = hello.max_version.max(v);
                        }
                    }
                    _ => {}
                }
                exts = &exts[4 + body.len()..];
            }
        }
    }
    let mut ja3 = String::new();
    let _ = write!(ja3, "{},", hello.legacy_version);
    join_dash(&mut ja3, u16_list(ciphers));
    ja3.push(',');
    join_dash(&mut ja3, extensions.into_iter());
    ja3.push(',');
    join_dash(&mut ja3, u16_list(groups));
    ja3.push(',');
    let mut first = true;
    for f in formats {
        if !first {
            ja3.push('-');
        }
        first = false;
        let _ = write!(ja3, "{f}");
    }
    hello.ja3 = ja3;
    Some(hello)
}

fn parse_sni(body: &[u8]) -> Option<String> {
    let mut c = Cur { b: body, at: 0 };
    let list = usize::from(c.u16()?);
    let (mut l, _) = c.take(list);
    while l.len() >= 3 {
        let kind = l[0];
        let n = usize::from(u16::from_be_bytes([l[1], l[2]]));
        let name = l.get(3..3 + n)?;
        if kind == 0 {
            return Some(String::from_utf8_lossy(name).into_owned());
        }
        l = &l[3 + n..];
    }
    None
}

fn parse_alpn(body: &[u8]) -> Vec<String> {
    let mut out = Vec::new();
    let mut l = body.get(2..).unwrap_or(&[]);
    while let Some((&n, rest)) = l.split_first() {
        let n = usize::from(n);
        let Some(p) = rest.get(..n) else { break };
        out.push(String::from_utf8_lossy(p).into_owned());
        l = &rest[n..];
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
pub(crate) mod tests {
    use super::*;

    fn ext(ty: u16, body: &[u8]) -> Vec<u8> {
        let mut v = ty.to_be_bytes().to_vec();
        v.extend_from_slice(&(body.len() as u16).to_be_bytes());
        v.extend_from_slice(body);
        v
    }

    /// A ClientHello record with the given SNI (and TLS 1.3 in supported_versions when `tls13`).
    pub(crate) fn client_hello(sni: &str, tls13: bool) -> Vec<u8> {
        let mut exts = Vec::new();
        let mut s = Vec::new();
        s.extend_from_slice(&((sni.len() + 3) as u16).to_be_bytes());
        s.push(0);
        s.extend_from_slice(&(sni.len() as u16).to_be_bytes());
        s.extend_from_slice(sni.as_bytes());
        exts.extend(ext(0x0A0A, &[]));
        exts.extend(ext(0, &s));
        exts.extend(ext(10, &[0, 4, 0, 29, 0, 23]));
        exts.extend(ext(11, &[1, 0]));
        exts.extend(ext(16, b"\x00\x0c\x02h2\x08http/1.1"));
        if tls13 {
            exts.extend(ext(43, &[4, 0x03, 0x04, 0x03, 0x03]));
        }
        let mut body = vec![0x03, 0x03];
        body.extend_from_slice(&[7; 32]);
        body.push(0);
        body.extend_from_slice(&[0, 6, 0x1A, 0x1A, 0x13, 0x01, 0xC0, 0x2F]);
        body.extend_from_slice(&[1, 0]);
        body.extend_from_slice(&(exts.len() as u16).to_be_bytes());
        body.extend(exts);
        let mut hs = vec![1, 0];
        hs.extend_from_slice(&(body.len() as u16).to_be_bytes());
        hs.extend(body);
        let mut rec = vec![0x16, 3, 1];
        rec.extend_from_slice(&(hs.len() as u16).to_be_bytes());
        rec.extend(hs);
        rec
    }

    #[test]
    fn sni_versions_and_ja3() {
        let h = parse(&client_hello("secure.example.org", true)).unwrap();
        assert_eq!(h.sni.as_deref(), Some("secure.example.org"));
        assert_eq!(version_name(h.max_version), "TLS 1.3");
        assert_eq!(version_name(h.legacy_version), "TLS 1.2");
        assert_eq!(h.cipher_count, 3);
        assert_eq!(h.alpn, vec!["h2", "http/1.1"]);
        assert_eq!(h.ja3, "771,4865-49199,0-10-11-16-43,29-23,0");
        assert!(!h.partial);
    }

    #[test]
    fn cut_hello_keeps_early_fields() {
        let full = client_hello("a.example", false);
        let h = parse(&full[..full.len() - 20]).unwrap();
        assert!(h.partial);
        assert_eq!(h.sni.as_deref(), Some("a.example"));
        assert_eq!(version_name(h.max_version), "TLS 1.2");
        assert!(parse(&full[..8]).is_none());
        assert!(parse(b"\x17\x03\x03\x00\x10xxxxxxxxxxxxxxxx").is_none());
    }
}
