//! Per-client rate limit and request timeout, as middleware.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::web;
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
    if let Some(ip) = limits.clients.of(&req)
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
