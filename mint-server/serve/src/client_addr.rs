//! Who a request comes from: the peer address, or, when the peer is a
//! configured reverse proxy, the client address it names in a header.
//! Headers from anyone else are ignored, so a client cannot pick its own
//! rate-limit bucket.

use std::net::IpAddr;

use actix_web::dev::ServiceRequest;
use actix_web::http::header::HeaderName;

/// Which proxies to believe, and where they name the client.
#[derive(Debug, Clone)]
pub struct ClientAddr {
    trusted: Vec<IpAddr>,
    header: HeaderName,
}

impl ClientAddr {
    /// Believes `header` only on requests from `trusted` addresses.
    pub fn new(trusted: Vec<IpAddr>, header: &str) -> Result<Self, String> {
        let header = HeaderName::from_bytes(header.trim().to_ascii_lowercase().as_bytes())
            .map_err(|e| format!("--client-ip-header {header:?}: {e}"))?;
        let trusted = trusted.into_iter().map(|ip| ip.to_canonical()).collect();
        Ok(Self { trusted, header })
    }

    /// The client's address, if the request has a peer at all.
    pub fn of(&self, req: &ServiceRequest) -> Option<IpAddr> {
        // A dual-stack listener sees IPv4 peers as ::ffff:a.b.c.d.
        let peer = req.peer_addr()?.ip().to_canonical();
        if !self.trusted.contains(&peer) {
            return Some(peer);
        }
        let named = req
            .headers()
            .get_all(&self.header)
            .filter_map(|v| v.to_str().ok())
            .collect::<Vec<_>>()
            .join(",");
        Some(self.named_in(&named).unwrap_or(peer))
    }

    /// The rightmost address in a comma-separated list that is not a trusted
    /// proxy: the last hop a trusted proxy saw (entries left of it are the
    /// client's own claims). An entry that is no address stops the walk (no
    /// client address, so the peer's is used): skipping it would let the
    /// client's own claim left of it choose its bucket.
    fn named_in(&self, value: &str) -> Option<IpAddr> {
        for entry in value.split(',').rev() {
            let ip = parse_ip(entry.trim())?;
            if !self.trusted.contains(&ip) {
                return Some(ip);
            }
        }
        None
    }
}

/// An address as proxies write it: `1.2.3.4`, `1.2.3.4:5678`, `[::1]:80`, `[::1]` or `::1`.
fn parse_ip(s: &str) -> Option<IpAddr> {
    let s = s
        .strip_prefix('[')
        .and_then(|r| r.strip_suffix(']'))
        .unwrap_or(s);
    let ip = match s.parse::<IpAddr>() {
        Ok(ip) => ip,
        Err(_) => s.parse::<std::net::SocketAddr>().ok()?.ip(),
    };
    Some(ip.to_canonical())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    #[test]
    fn the_rightmost_untrusted_hop_is_the_client() {
        let c = ClientAddr::new(vec![ip("10.0.0.1"), ip("10.0.0.2")], "X-Forwarded-For")
            .expect("header");
        assert_eq!(c.named_in("203.0.113.9"), Some(ip("203.0.113.9")));
        // A client's forged entry sits left of what the proxy appended.
        assert_eq!(
            c.named_in("1.1.1.1, 203.0.113.9, 10.0.0.2"),
            Some(ip("203.0.113.9"))
        );
        assert_eq!(c.named_in("[2001:db8::1]:443"), Some(ip("2001:db8::1")));
        // IPv4 written as IPv6 is the same address.
        assert_eq!(c.named_in("::ffff:203.0.113.9"), Some(ip("203.0.113.9")));
        assert_eq!(
            c.named_in("203.0.113.9, ::ffff:10.0.0.2"),
            Some(ip("203.0.113.9"))
        );
        assert_eq!(c.named_in("garbage, 10.0.0.1"), None);
        // An unparseable hop is not skipped over to the client's own claim.
        assert_eq!(c.named_in("198.51.100.9, unknown"), None);
        assert_eq!(
            c.named_in("198.51.100.9, [2001:db8::1]"),
            Some(ip("2001:db8::1"))
        );
        assert_eq!(c.named_in(""), None);
        assert!(ClientAddr::new(vec![], "bad header\n").is_err());
    }
}
