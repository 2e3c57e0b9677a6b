//! The access log: method, path, status and time taken, nothing more.
//!
//! No query string (tokens and ids must never be logged, whatever a client
//! puts there), no client address, and durations in whole milliseconds: the
//! log must not help anyone link a withdrawal to a later payment.

use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;

/// Longest path written to the log; longer ones are cut.
const MAX_LOGGED_PATH: usize = 160;

/// Logs one line per request under the `http` target.
pub async fn log(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let method = req.method().clone();
    // `path()` is the path only: the query string never reaches the log.
    let mut path = req.path().to_owned();
    if path.len() > MAX_LOGGED_PATH {
        let mut cut = MAX_LOGGED_PATH;
        while !path.is_char_boundary(cut) {
            cut -= 1;
        }
        path.truncate(cut);
        path.push('…');
    }
    let start = Instant::now();
    let res = next.call(req).await;
    let ms = start.elapsed().as_millis();
    match &res {
        Ok(r) => tracing::info!(target: "http", "{method} {path} {} {ms}ms", r.status().as_u16()),
        Err(e) => tracing::info!(
            target: "http",
            "{method} {path} {} {ms}ms",
            e.as_response_error().status_code().as_u16()
        ),
    }
    res
}
