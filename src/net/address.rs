//! Which network addresses a remote party may make us contact when no allow-list names them:
//! only public ones. Loopback, private (RFC 1918, ULA), link-local (which holds cloud metadata
//! services such as 169.254.169.254), carrier-grade NAT, multicast and reserved ranges are
//! refused, after DNS resolution, so that the server cannot be used to reach internal hosts.

use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::pin::Pin;

/// Whether `url` names its host by a literal IP address that is not public. Such URLs bypass
/// DNS, so [`PublicOnlyResolver`] never sees them: every URL a remote party hands us (token
/// realms, redirects, upstream file URLs) must be checked with this as well.
#[must_use]
pub fn is_internal_literal(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => !is_public(ip.into()),
        Some(url::Host::Ipv6(ip)) => !is_public(ip.into()),
        _ => false,
    }
}

/// Whether `ip` is a publicly routable unicast address.
#[must_use]
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => is_public_v4(v4),
            None => is_public_v6(v6),
        },
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || a == 0
        || (a == 100 && (64..128).contains(&b)) // carrier-grade NAT, RFC 6598
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 198 && (18..20).contains(&b)) // benchmarking, RFC 2544
        || a >= 240) // reserved
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let first = ip.segments()[0];
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_multicast()
        || (first & 0xfe00) == 0xfc00 // unique local, fc00::/7
        || (first & 0xffc0) == 0xfe80 // link-local, fe80::/10
        || (first & 0xffc0) == 0xfec0 // site-local (deprecated), fec0::/10
        || first == 0x2001 && ip.segments()[1] == 0x0db8 // documentation
        || first == 0x0064 && ip.segments()[1] == 0xff9b) // NAT64 can embed private v4
}

/// A DNS resolver that drops every non-public address and fails when none is left.
#[derive(Debug, Clone, Copy, Default)]
pub struct PublicOnlyResolver;

impl reqwest::dns::Resolve for PublicOnlyResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().to_owned();
        let lookup: Pin<Box<dyn Future<Output = _> + Send>> = Box::pin(async move {
            let found: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .filter(|address| is_public(address.ip()))
                .collect();
            if found.is_empty() {
                let message = format!("`{host}` resolves to no public address");
                return Err(Box::<dyn std::error::Error + Send + Sync>::from(message));
            }
            let addresses: reqwest::dns::Addrs = Box::new(found.into_iter());
            Ok(addresses)
        });
        lookup
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_internal_hosts() {
        for url in [
            "https://10.1.2.3/token",
            "http://169.254.169.254/latest/meta-data/",
            "https://[::1]:8443/",
            "https://[::ffff:192.168.0.1]/",
            "http://127.0.0.1:5000/v2/",
        ] {
            let url = url::Url::parse(url).unwrap();
            assert!(is_internal_literal(&url), "{url} must count as internal");
        }
        for url in [
            "https://8.8.8.8/token",
            "https://ghcr.io/token",
            "https://localhost/token", // a name: the resolver's business
            "https://[2606:4700::1111]/",
        ] {
            let url = url::Url::parse(url).unwrap();
            assert!(
                !is_internal_literal(&url),
                "{url} is not an internal literal"
            );
        }
    }

    /// Names go through DNS, then only public addresses are kept: `localhost` resolves to
    /// loopback only, so nothing is left and the lookup fails (only loopback is ever resolved).
    #[tokio::test]
    async fn resolver_drops_internal_addresses_after_resolution() {
        use reqwest::dns::Resolve as _;
        let name: reqwest::dns::Name = "localhost".parse().unwrap();
        let error = match PublicOnlyResolver.resolve(name).await {
            Ok(addresses) => panic!("localhost resolved to {:?}", addresses.collect::<Vec<_>>()),
            Err(error) => error.to_string(),
        };
        assert_eq!(error, "`localhost` resolves to no public address");
    }

    #[test]
    fn refuses_internal_addresses() {
        let refused = [
            "127.0.0.1",
            "127.1.2.3",
            "10.0.0.1",
            "172.16.5.4",
            "192.168.1.1",
            "169.254.169.254",
            "169.254.0.1",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "224.0.0.1",
            "240.0.0.1",
            "192.0.0.8",
            "198.18.0.1",
            "::1",
            "::",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "64:ff9b::a9fe:a9fe",
            "ff02::1",
            "2001:db8::1",
        ];
        for address in refused {
            let ip: IpAddr = address.parse().unwrap();
            assert!(!is_public(ip), "{address} must be refused");
        }
    }

    #[test]
    fn allows_public_addresses() {
        for address in [
            "140.82.112.34",
            "8.8.8.8",
            "1.1.1.1",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
        ] {
            let ip: IpAddr = address.parse().unwrap();
            assert!(is_public(ip), "{address} must be allowed");
        }
    }
}
