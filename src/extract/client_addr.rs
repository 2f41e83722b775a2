//! Who is calling, as far as throttling can tell: the client's network address.

use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use axum::extract::{ConnectInfo, FromRef, FromRequestParts};
use axum::http::request::Parts;

use crate::config::Settings;
use crate::error::ApiError;

/// The client's address: the socket peer, or the last `X-Forwarded-For` hop when the service is
/// configured to sit behind one trusted proxy. `None` only where there is no socket (in-process
/// calls).
pub(crate) struct ClientAddr(pub(crate) Option<IpAddr>);

impl ClientAddr {
    /// The address as throttling counts it. An IPv6 client usually holds a whole /64 (privacy
    /// addresses change by the hour, and any host can pick another), so the /64 is one client;
    /// an IPv4 address mapped into IPv6 is the IPv4 client it names.
    pub(crate) fn bucket(&self) -> Option<String> {
        self.0.map(|ip| match ip {
            IpAddr::V4(v4) => v4.to_string(),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => v4.to_string(),
                None => {
                    let [a, b, c, d, ..] = v6.segments();
                    format!("{}/64", Ipv6Addr::new(a, b, c, d, 0, 0, 0, 0))
                }
            },
        })
    }
}

impl<S> FromRequestParts<S> for ClientAddr
where
    S: Send + Sync,
    Arc<Settings>: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let forwarded = Arc::<Settings>::from_ref(state)
            .server
            .trust_forwarded_for
            .then(|| parts.headers.get("x-forwarded-for"))
            .flatten()
            .and_then(|value| value.to_str().ok())
            .and_then(|list| list.rsplit(',').next())
            .and_then(|hop| hop.trim().parse::<IpAddr>().ok());
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(addr)| addr.ip());
        Ok(Self(forwarded.or(peer)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bucket(ip: &str) -> Option<String> {
        ClientAddr(Some(ip.parse().expect("an address"))).bucket()
    }

    #[test]
    fn ipv6_clients_count_per_64_and_mapped_ipv4_as_ipv4() {
        assert_eq!(bucket("203.0.113.7").as_deref(), Some("203.0.113.7"));
        assert_eq!(bucket("::ffff:203.0.113.7").as_deref(), Some("203.0.113.7"));
        let one = bucket("2001:db8:1:2:aaaa::1");
        assert_eq!(one.as_deref(), Some("2001:db8:1:2::/64"));
        assert_eq!(bucket("2001:db8:1:2:ffff:ffff:ffff:ffff"), one);
        assert_ne!(bucket("2001:db8:1:3::1"), one);
        assert_eq!(ClientAddr(None).bucket(), None);
    }
}
