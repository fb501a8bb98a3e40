//! The special-purpose IP ranges (RFC 1918, loopback, link-local, CGNAT, multicast,
//! documentation, …) that are never looked up outside. Configured networks (internal networks,
//! allowlists, feed networks) are [`crate::network`]s.

use std::net::IpAddr;

/// Private, loopback, link-local, CGNAT, "this network", multicast, broadcast, benchmarking and
/// reserved IPv4 ranges; loopback, unspecified, unique-local, link-local and multicast IPv6.
pub fn is_special(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(a) => {
            let o = a.octets();
            a.is_private()
                || a.is_loopback()
                || a.is_link_local()
                || a.is_multicast()
                || a.is_broadcast()
                || o[0] == 0
                || (o[0] == 100 && (64..128).contains(&o[1]))
                || (o[0] == 198 && (o[1] == 18 || o[1] == 19))
                || o[0] >= 240
                || (o[0] == 192 && o[1] == 0 && o[2] == 0)
        }
        IpAddr::V6(a) => {
            let s = a.segments();
            if let Some(v4) = a.to_ipv4_mapped() {
                return is_special(IpAddr::V4(v4));
            }
            a.is_loopback()
                || a.is_unspecified()
                || a.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00
                || (s[0] & 0xffc0) == 0xfe80
        }
    }
}

/// The documentation ranges (RFC 5737 TEST-NET-1/2/3, RFC 3849 `2001:db8::/32`).
pub fn is_documentation(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(a) => {
            let o = a.octets();
            matches!(
                (o[0], o[1], o[2]),
                (192, 0, 2) | (198, 51, 100) | (203, 0, 113)
            )
        }
        IpAddr::V6(a) => a.segments()[0] == 0x2001 && a.segments()[1] == 0x0db8,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn cidr_containment() {
        use crate::network::parse;
        let c = parse("198.51.100.0/25").unwrap();
        assert!(c.contains(&"198.51.100.99".parse::<IpAddr>().unwrap()));
        assert!(!c.contains(&"198.51.100.200".parse::<IpAddr>().unwrap()));
        let c6 = parse("2001:db8::/32").unwrap();
        assert!(c6.contains(&"2001:db8::1".parse::<IpAddr>().unwrap()));
        assert!(!c6.contains(&"10.0.0.1".parse::<IpAddr>().unwrap()));
        assert_eq!(parse("10.1.2.3/8").unwrap().to_string(), "10.0.0.0/8");
        assert!(parse("10.0.0.0/33").is_none());
    }

    #[test]
    fn special_ranges() {
        for s in [
            "10.0.0.5",
            "192.168.1.10",
            "127.0.0.1",
            "169.254.1.1",
            "100.64.0.1",
            "0.9.8.1",
            "224.0.0.251",
            "::1",
            "fe80::1",
            "fd00::1",
        ] {
            assert!(is_special(s.parse().unwrap()), "{s}");
        }
        for s in ["8.8.8.8", "203.0.113.66", "2606:4700::1111"] {
            assert!(!is_special(s.parse().unwrap()), "{s}");
        }
        assert!(is_documentation("203.0.113.66".parse().unwrap()));
    }
}
