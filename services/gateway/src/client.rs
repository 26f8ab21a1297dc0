//! Who the client is on the network: the peer's address, or, when the peer
//! is a load balancer we trust, the last address it saw before itself in
//! `X-Forwarded-For`. Never an address a client merely claims.

use std::net::IpAddr;

use tonic::transport::server::TcpConnectInfo;

use crate::GatewayError;

/// Addresses or CIDR blocks of trusted load balancers.
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies(Vec<(IpAddr, u8)>);

impl TrustedProxies {
    pub fn parse(entries: &[String]) -> Result<Self, GatewayError> {
        let mut blocks = Vec::new();
        for entry in entries {
            let invalid = || {
                GatewayError::Settings(format!(
                    "limits.trusted_proxies: {entry:?} is not an address or a CIDR block"
                ))
            };
            let (address, prefix) = match entry.split_once('/') {
                Some((address, prefix)) => (address, Some(prefix)),
                None => (entry.as_str(), None),
            };
            let address: IpAddr = address.trim().parse().map_err(|_| invalid())?;
            let width = if address.is_ipv4() { 32 } else { 128 };
            let prefix = match prefix {
                Some(prefix) => prefix.trim().parse::<u8>().map_err(|_| invalid())?,
                None => width,
            };
            if prefix > width {
                return Err(invalid());
            }
            blocks.push((address, prefix));
        }
        Ok(Self(blocks))
    }

    pub fn contains(&self, address: IpAddr) -> bool {
        self.0
            .iter()
            .any(|(block, prefix)| within(address, *block, *prefix))
    }
}

fn within(address: IpAddr, block: IpAddr, prefix: u8) -> bool {
    let (address, block, width) = match (address.to_canonical(), block) {
        (IpAddr::V4(a), IpAddr::V4(b)) => (u128::from(a.to_bits()), u128::from(b.to_bits()), 32),
        (IpAddr::V6(a), IpAddr::V6(b)) => (a.to_bits(), b.to_bits(), 128),
        _ => return false,
    };
    let shift = width - u32::from(prefix);
    shift >= width || (address >> shift) == (block >> shift)
}

/// The client's address for a request the server accepted.
pub fn address<B>(request: &http::Request<B>, trusted: &TrustedProxies) -> IpAddr {
    let peer = request
        .extensions()
        .get::<TcpConnectInfo>()
        .and_then(TcpConnectInfo::remote_addr)
        .map(|address| address.ip().to_canonical())
        .unwrap_or(IpAddr::from([0, 0, 0, 0]));
    if !trusted.contains(peer) {
        return peer;
    }
    // Walk back from the nearest hop; the first one we do not trust is the
    // client (anything further left is the client's own claim).
    let forwarded = request
        .headers()
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(str::trim)
        .collect::<Vec<_>>();
    let mut client = peer;
    for hop in forwarded.iter().rev() {
        match hop.parse::<IpAddr>() {
            Ok(hop) if trusted.contains(hop.to_canonical()) => client = hop.to_canonical(),
            Ok(hop) => return hop.to_canonical(),
            Err(_) => return client,
        }
    }
    client
}

/// A call on to a service for the client at `address` (identity's login
/// audit and the services' logs read it).
pub fn on_behalf_of<T>(message: T, address: IpAddr) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    if let Ok(value) = address.to_string().parse() {
        request.metadata_mut().insert("x-forwarded-for", value);
    }
    request
}

/// `request` carrying the caller's access token.
pub fn with_bearer<T>(mut request: tonic::Request<T>, token: &str) -> tonic::Request<T> {
    if let Ok(value) = format!("Bearer {token}").parse() {
        request.metadata_mut().insert("authorization", value);
    }
    request
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;

    use super::*;

    fn request(peer: &str, forwarded: &[&str]) -> http::Request<()> {
        let mut request = http::Request::new(());
        let peer: SocketAddr = peer.parse().unwrap_or_else(|_| panic!("{peer}"));
        request.extensions_mut().insert(TcpConnectInfo {
            local_addr: None,
            remote_addr: Some(peer),
        });
        for value in forwarded {
            request.headers_mut().append(
                "x-forwarded-for",
                http::HeaderValue::from_str(value).unwrap_or_else(|_| panic!("{value}")),
            );
        }
        request
    }

    fn trusted(entries: &[&str]) -> TrustedProxies {
        let entries: Vec<String> = entries.iter().map(|e| (*e).to_owned()).collect();
        TrustedProxies::parse(&entries).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn a_claimed_address_is_ignored_unless_the_peer_is_trusted() {
        let none = trusted(&[]);
        let client = address(&request("203.0.113.7:5000", &["1.2.3.4"]), &none);
        assert_eq!(client, IpAddr::from([203, 0, 113, 7]));
    }

    #[test]
    fn behind_a_trusted_balancer_the_last_untrusted_hop_is_the_client() {
        let ingress = trusted(&["10.0.0.0/8"]);
        // The client claimed 1.2.3.4; the balancer appended the real peer.
        let request = request("10.1.2.3:443", &["1.2.3.4, 198.51.100.9", "10.9.9.9"]);
        assert_eq!(address(&request, &ingress), IpAddr::from([198, 51, 100, 9]));
    }

    #[test]
    fn blocks_parse_and_bad_ones_name_the_setting() {
        let blocks = trusted(&["10.0.0.0/8", "192.168.1.1", "fd00::/8"]);
        assert!(blocks.contains(IpAddr::from([10, 200, 0, 1])));
        assert!(blocks.contains(IpAddr::from([192, 168, 1, 1])));
        assert!(!blocks.contains(IpAddr::from([192, 168, 1, 2])));
        assert!(blocks.contains("fd12::1".parse().unwrap_or(IpAddr::from([0, 0, 0, 0]))));
        for bad in ["10.0.0.0/33", "ten", "10.0.0.0/x"] {
            let error = TrustedProxies::parse(&[bad.to_owned()])
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(error.contains("limits.trusted_proxies"), "{bad}: {error}");
        }
    }
}
