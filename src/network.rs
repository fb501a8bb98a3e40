//! IP networks as the configuration, rules and feeds write them, for detection (the Sigma
//! `cidr` modifier) and threat intel (internal networks, allowlists, feed networks): an
//! [`ipnet::IpNet`] from `a.b.c.d/n`, `x::/n` or a bare address (a host network), with the
//! host bits cleared (`10.1.2.3/8` is `10.0.0.0/8`).
//!
//! The address is read by the standard library's parser (no leading zeros, no zone ids) and
//! the prefix as a decimal number; `ipnet` checks the prefix length and does the masking,
//! containment and display.

use std::net::IpAddr;

pub use ipnet::IpNet;

/// The network `s` names (surrounding whitespace ignored); `None` when it is not one.
pub fn parse(s: &str) -> Option<IpNet> {
    let s = s.trim();
    let (addr, prefix) = match s.split_once('/') {
        Some((a, p)) => (a, Some(p.parse::<u8>().ok()?)),
        None => (s, None),
    };
    let addr: IpAddr = addr.parse().ok()?;
    let net = match prefix {
        Some(p) => IpNet::new(addr, p).ok()?,
        None => IpNet::from(addr),
    };
    Some(net.trunc())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn networks_are_masked_and_bare_addresses_are_host_networks() {
        assert_eq!(parse(" 10.1.2.3/8 ").unwrap().to_string(), "10.0.0.0/8");
        assert_eq!(parse("10.1.2.3").unwrap().to_string(), "10.1.2.3/32");
        assert_eq!(
            parse("2001:db8::1/32").unwrap().to_string(),
            "2001:db8::/32"
        );
        assert_eq!(parse("::1").unwrap().to_string(), "::1/128");
        assert_eq!(parse("0.0.0.0/0").unwrap().to_string(), "0.0.0.0/0");
        for bad in [
            "10.0.0.0/33",
            "::/129",
            "10.0.0.0/",
            "10.0.0.0/x",
            "010.0.0.1/8",
            "10.0.0/8",
            "host",
            "",
        ] {
            assert_eq!(parse(bad), None, "{bad}");
        }
    }
}
