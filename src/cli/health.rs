//! `nightwatch health`: a dependency-free probe of a running daemon's `/health`, for container
//! health checks on images that carry no curl. Exit 0 on HTTP 200, 1 otherwise.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::process::ExitCode;
use std::time::Duration;

use super::BadInput;

/// Splits `http://host:port/path` into the address and the path.
fn parse_url(url: &str) -> Result<(String, String), BadInput> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| BadInput(format!("{url}: only http:// URLs are probed")))?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    if authority.is_empty() {
        return Err(BadInput(format!("{url}: no host")));
    }
    let authority = if authority
        .rsplit_once(':')
        .is_some_and(|(_, p)| p.parse::<u16>().is_ok())
    {
        authority.to_owned()
    } else {
        format!("{authority}:80")
    };
    Ok((authority, path.to_owned()))
}

pub(super) fn probe(url: &str, timeout: Duration) -> anyhow::Result<ExitCode> {
    let (authority, path) = parse_url(url)?;
    let addr = authority
        .to_socket_addrs()
        .map_err(|e| BadInput(format!("{authority}: {e}")))?
        .next()
        .ok_or_else(|| BadInput(format!("{authority}: no address")))?;
    let status = (|| -> std::io::Result<Option<u16>> {
        let mut stream = TcpStream::connect_timeout(&addr, timeout)?;
        stream.set_read_timeout(Some(timeout))?;
        stream.set_write_timeout(Some(timeout))?;
        write!(
            stream,
            "GET {path} HTTP/1.0\r\nHost: {authority}\r\nUser-Agent: nightwatch-health\r\n\r\n"
        )?;
        let mut head = [0u8; 64];
        let n = stream.read(&mut head)?;
        let line = String::from_utf8_lossy(&head[..n]);
        Ok(line
            .split_whitespace()
            .nth(1)
            .and_then(|code| code.parse().ok()))
    })();
    match status {
        Ok(Some(200)) => Ok(ExitCode::SUCCESS),
        Ok(other) => {
            eprintln!("unhealthy: {url} answered {other:?}");
            Ok(ExitCode::from(1))
        }
        Err(e) => {
            eprintln!("unhealthy: {url}: {e}");
            Ok(ExitCode::from(1))
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn urls_split_into_authority_and_path() {
        assert_eq!(
            parse_url("http://127.0.0.1:8080/health").unwrap(),
            ("127.0.0.1:8080".into(), "/health".into())
        );
        assert_eq!(
            parse_url("http://localhost").unwrap(),
            ("localhost:80".into(), "/".into())
        );
        assert!(parse_url("https://x/health").is_err());
        assert!(parse_url("http:///health").is_err());
    }
}
