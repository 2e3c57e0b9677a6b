//! Per-client rate limit and request timeout, as middleware; the client
//! each request is from ([`ClientIp`]), for handlers; and tighter quotas
//! per client for costly requests ([`ClientQuota`]).

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use actix_web::body::MessageBody;
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{FromRequest, HttpMessage, HttpRequest, web};
use ecash_core::ErrorCode;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::client_addr::ClientAddr;
use crate::error::HttpError;

/// Shared limiter state.
pub struct Limits {
    limiter: DefaultKeyedRateLimiter<IpAddr>,
    timeout: Duration,
    clients: ClientAddr,
}

impl Limits {
    /// `per_sec` sustained requests per client address with bursts of `burst`;
    /// requests longer than `timeout` are cut off. `clients` says who a
    /// request is from (behind a trusted proxy, the address it names).
    pub fn new(per_sec: u32, burst: u32, timeout: Duration, clients: ClientAddr) -> Arc<Self> {
        let per_sec = NonZeroU32::new(per_sec).unwrap_or(NonZeroU32::MIN);
        let burst = NonZeroU32::new(burst).unwrap_or(per_sec);
        Arc::new(Self {
            limiter: RateLimiter::keyed(Quota::per_second(per_sec).allow_burst(burst)),
            timeout,
            clients,
        })
    }

    /// Forgets addresses idle long enough to have a full bucket again.
    pub fn shrink(&self) {
        self.limiter.retain_recent();
        self.limiter.shrink_to_fit();
    }
}

/// Refuses a client address over its rate with 429 `rate_limited`, and cuts
/// off requests over the timeout with 503 `timeout`.
pub async fn limit(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let Some(limits) = req.app_data::<web::Data<Limits>>().cloned() else {
        return next.call(req).await;
    };
    let client = limits.clients.of(&req).map(bucket);
    req.extensions_mut().insert(ClientIp(client));
    if let Some(ip) = client
        && limits.limiter.check_key(&ip).is_err()
    {
        return Err(HttpError::new(
            ErrorCode::RateLimited,
            "too many requests from this address; slow down",
        )
        .into());
    }
    match tokio::time::timeout(limits.timeout, next.call(req)).await {
        Ok(r) => r,
        Err(_) => Err(HttpError::new(
            ErrorCode::Timeout,
            "request timed out; retry with the same request id to get its answer",
        )
        .into()),
    }
}
/// The bucket a client address counts in: itself, or for IPv6 its /64
/// (one subscriber's prefix, which it can fill with addresses at will).
fn bucket(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => {
            let prefix = u128::from(v6) & !((1u128 << 64) - 1);
            IpAddr::V6(prefix.into())
        }
        v4 => v4,
    }
}

/// The client a request is from, as the edge counted it (the address, or
/// its IPv6 /64; behind a trusted proxy, the one it names). `None`: no
/// peer address, or a request that did not pass the edge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientIp(pub Option<IpAddr>);

impl FromRequest for ClientIp {
    type Error = actix_web::Error;
    type Future = std::future::Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let client = req.extensions().get::<ClientIp>().copied();
        std::future::ready(Ok(client.unwrap_or(ClientIp(None))))
    }
}

/// A tighter quota per client for one kind of costly request (a payment
/// the shop deposits, an order it stores), beside the edge's limit.
pub struct ClientQuota {
    limiter: DefaultKeyedRateLimiter<IpAddr>,
    what: &'static str,
}

impl ClientQuota {
    /// `per_minute` sustained `what` per client, with bursts of `burst`.
    pub fn new(per_minute: u32, burst: u32, what: &'static str) -> Self {
        let per_minute = NonZeroU32::new(per_minute).unwrap_or(NonZeroU32::MIN);
        let burst = NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN);
        Self {
            limiter: RateLimiter::keyed(Quota::per_minute(per_minute).allow_burst(burst)),
            what,
        }
    }

    /// Takes one from `client`'s quota, or refuses with 429 `rate_limited`.
    pub fn take(&self, client: ClientIp) -> Result<(), HttpError> {
        if self.allows(client) {
            Ok(())
        } else {
            Err(HttpError::new(
                ErrorCode::RateLimited,
                format!("too many {} from this address; slow down", self.what),
            ))
        }
    }

    /// Takes one from `client`'s quota if it has one left (a request with
    /// no address passes: the edge's limit applies to it).
    pub fn allows(&self, client: ClientIp) -> bool {
        client
            .0
            .is_none_or(|ip| self.limiter.check_key(&ip).is_ok())
    }

    /// Forgets clients idle long enough to have a full quota again.
    pub fn shrink(&self) {
        self.limiter.retain_recent();
        self.limiter.shrink_to_fit();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    #[test]
    fn an_ipv6_client_counts_as_its_64() {
        assert_eq!(bucket(ip("2001:db8:1:2:aaaa::1")), ip("2001:db8:1:2::"));
        assert_eq!(
            bucket(ip("2001:db8:1:2:ffff:ffff:ffff:ffff")),
            ip("2001:db8:1:2::")
        );
        assert_ne!(bucket(ip("2001:db8:1:3::1")), ip("2001:db8:1:2::"));
        assert_eq!(bucket(ip("192.0.2.7")), ip("192.0.2.7"));
    }

    #[test]
    fn a_quota_refuses_one_client_past_its_burst_and_not_the_next() {
        let q = ClientQuota::new(1, 3, "orders");
        let (a, b) = (
            ClientIp(Some(ip("192.0.2.1"))),
            ClientIp(Some(ip("192.0.2.2"))),
        );
        for _ in 0..3 {
            q.take(a).expect("within the burst");
        }
        let e = q.take(a).expect_err("past the burst");
        assert_eq!(e.0.code, ErrorCode::RateLimited);
        assert!(e.0.message.contains("orders"), "{}", e.0.message);
        q.take(b).expect("another client has its own quota");
        q.take(ClientIp(None))
            .expect("no address: the edge's limit applies");
    }
}
