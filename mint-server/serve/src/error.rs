//! Every HTTP error is JSON `{code, message}` with the code's status.

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::ServiceResponse;
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::middleware::ErrorHandlerResponse;
use actix_web::{HttpResponse, ResponseError, error::JsonPayloadError};
use ecash_core::{ApiError, ErrorCode};

/// An [`ApiError`] as an actix response.
#[derive(Debug)]
pub struct HttpError(pub ApiError);

impl std::fmt::Display for HttpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl From<ApiError> for HttpError {
    fn from(e: ApiError) -> Self {
        Self(e)
    }
}

impl HttpError {
    /// An error with a code and message.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self(ApiError::new(code, message))
    }

    /// A server-side fault; nothing was changed.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Internal, message)
    }
}

/// Runs blocking work (RSA, SQLite) off the async workers, mapping a
/// failure of the worker itself to a JSON 500.
pub async fn blocking<T, E, F>(f: F) -> Result<T, HttpError>
where
    T: Send + 'static,
    E: Into<HttpError> + Send + 'static,
    F: FnOnce() -> Result<T, E> + Send + 'static,
{
    actix_web::web::block(f)
        .await
        .map_err(|_| HttpError::internal("worker thread failed; nothing was changed"))?
        .map_err(Into::into)
}

impl ResponseError for HttpError {
    fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.0.code.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    fn error_response(&self) -> HttpResponse<BoxBody> {
        HttpResponse::build(self.status_code()).json(&self.0)
    }
}

/// Path parameters that do not parse are 404s, as JSON.
pub fn path_error(
    e: actix_web::error::PathError,
    _req: &actix_web::HttpRequest,
) -> actix_web::Error {
    HttpError::new(ErrorCode::NotFound, format!("no such resource: {e}")).into()
}

/// Maps body-parsing failures: too large → 413, anything else → 400.
pub fn json_error(e: JsonPayloadError, _req: &actix_web::HttpRequest) -> actix_web::Error {
    let he = match &e {
        JsonPayloadError::Overflow { limit }
        | JsonPayloadError::OverflowKnownLength { limit, .. } => HttpError::new(
            ErrorCode::PayloadTooLarge,
            format!("body larger than {limit} bytes"),
        ),
        JsonPayloadError::ContentType => HttpError::new(
            ErrorCode::MalformedRequest,
            "Content-Type must be application/json",
        ),
        JsonPayloadError::Deserialize(d) => {
            HttpError::new(ErrorCode::MalformedRequest, format!("malformed JSON: {d}"))
        }
        other => HttpError::new(
            ErrorCode::MalformedRequest,
            format!("cannot read body: {other}"),
        ),
    };
    he.into()
}

/// Safety net: any error response that is not already JSON (actix's own 404,
/// 405, 413, ...) is rewritten as `{code, message}`.
pub fn ensure_json_error<B: MessageBody + 'static>(
    res: ServiceResponse<B>,
) -> actix_web::Result<ErrorHandlerResponse<B>> {
    let is_json = res
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if is_json {
        return Ok(ErrorHandlerResponse::Response(res.map_into_left_body()));
    }
    let status = res.status();
    let code = match status.as_u16() {
        404 => ErrorCode::NotFound,
        413 => ErrorCode::PayloadTooLarge,
        429 => ErrorCode::RateLimited,
        408 | 503 => ErrorCode::Timeout,
        400..=499 => ErrorCode::MalformedRequest,
        _ => ErrorCode::Internal,
    };
    let msg = status.canonical_reason().unwrap_or("error").to_owned();
    let body = serde_json::to_string(&ApiError::new(code, msg)).unwrap_or_default();
    let (req, res) = res.into_parts();
    let mut res = res.set_body(body).map_into_boxed_body();
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Ok(ErrorHandlerResponse::Response(
        ServiceResponse::new(req, res).map_into_right_body(),
    ))
}
