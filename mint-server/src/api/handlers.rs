//! Thin HTTP handlers: parse, call bank logic on a blocking thread, answer JSON.

use std::sync::Arc;

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use ecash_core::messages::*;
use ecash_core::{ErrorCode, Fixed, Signature, Signed};
use serde::Serialize;

use super::error::HttpError;
use crate::bank::{Bank, BankResult};

/// Header carrying the unix time of a signed account query.
pub const TIMESTAMP_HEADER: &str = "x-ecash-timestamp";
/// Header carrying the base64url signature of a signed account query.
pub const SIGNATURE_HEADER: &str = "x-ecash-signature";

type Resp = Result<HttpResponse, HttpError>;

/// Runs bank or shop logic off the async workers (RSA and SQLite block) and
/// maps a failure of the worker itself to a JSON 500.
pub async fn blocking<S, T, F>(state: &web::Data<S>, f: F) -> Result<T, HttpError>
where
    S: Send + Sync + 'static,
    T: Send + 'static,
    F: FnOnce(&S) -> BankResult<T> + Send + 'static,
{
    let state: Arc<S> = state.clone().into_inner();
    web::block(move || f(&state))
        .await
        .map_err(|_| {
            HttpError::new(
                ErrorCode::Internal,
                "worker thread failed; nothing was changed",
            )
        })?
        .map_err(HttpError)
}

fn ok<T: Serialize>(v: &T) -> Resp {
    Ok(HttpResponse::Ok().json(v))
}

/// `GET /keys`
pub async fn keys(bank: web::Data<Bank>) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "public, max-age=60"))
        .content_type("application/json")
        .body(bank.key_set_json())
}

/// `GET /keys/{key_id}/spent`: one list for every client, cacheable.
pub async fn spent_list(bank: web::Data<Bank>, key_id: web::Path<String>) -> Resp {
    let key_id = Fixed::from_b64(&key_id)
        .ok_or_else(|| HttpError::new(ErrorCode::InvalidField, "key id is not 32 bytes"))?;
    let json = blocking(&bank, move |b| b.spent_list(&key_id)).await?;
    let max_age = bank.settings().spent_list_max_age.as_secs();
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, format!("public, max-age={max_age}")))
        .content_type("application/json")
        .body(json.as_str().to_owned()))
}

/// Whether `/metrics` is served (`--metrics`).
#[derive(Debug, Clone, Copy)]
pub struct MetricsOn(pub bool);

/// `GET /metrics`: counters of costly work, when enabled.
pub async fn metrics(bank: web::Data<Bank>, on: Option<web::Data<MetricsOn>>) -> Resp {
    if !on.is_some_and(|m| m.0) {
        return Err(HttpError::new(
            ErrorCode::NotFound,
            "metrics are off on this bank (--metrics)",
        ));
    }
    Ok(HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(bank.metrics().render()))
}

/// `POST /accounts`
pub async fn register(bank: web::Data<Bank>, body: web::Json<Signed<RegisterAccount>>) -> Resp {
    let body = body.into_inner();
    ok(&blocking(&bank, move |b| b.register(&body)).await?)
}

/// `GET /accounts/{id}` (signed query in headers)
pub async fn account(bank: web::Data<Bank>, id: web::Path<String>, req: HttpRequest) -> Resp {
    let header = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let ts = header(TIMESTAMP_HEADER)
        .and_then(|v| v.parse::<u64>().ok())
        .ok_or_else(|| {
            HttpError::new(
                ErrorCode::BadSignature,
                format!("missing or bad {TIMESTAMP_HEADER} header"),
            )
        })?;
    let sig = header(SIGNATURE_HEADER)
        .and_then(|v| Fixed::from_b64(&v))
        .map(Signature)
        .ok_or_else(|| {
            HttpError::new(
                ErrorCode::BadSignature,
                format!("missing or bad {SIGNATURE_HEADER} header"),
            )
        })?;
    let id = id.into_inner();
    ok(&blocking(&bank, move |b| b.statement(&id, ts, &sig)).await?)
}

/// `GET /accounts/{id}/public-key`
pub async fn public_key(bank: web::Data<Bank>, id: web::Path<String>) -> Resp {
    let id = id.into_inner();
    let pk = blocking(&bank, move |b| b.public_key(&id)).await?;
    ok(&serde_json::json!({ "public_key": pk }))
}

/// `POST /accounts/{id}/faucet`
pub async fn faucet(
    bank: web::Data<Bank>,
    id: web::Path<String>,
    body: web::Json<FaucetRequest>,
) -> Resp {
    let (id, body) = (id.into_inner(), body.into_inner());
    ok(&blocking(&bank, move |b| b.faucet(&id, &body)).await?)
}

/// `POST /withdraw`
pub async fn withdraw(bank: web::Data<Bank>, body: web::Json<Signed<WithdrawRequest>>) -> Resp {
    let body = body.into_inner();
    ok(&blocking(&bank, move |b| b.withdraw(&body)).await?)
}

/// `POST /deposit`
pub async fn deposit(bank: web::Data<Bank>, body: web::Json<Signed<Deposit>>) -> Resp {
    let body = body.into_inner();
    ok(&blocking(&bank, move |b| b.deposit(&body)).await?)
}

/// `POST /exchange`
pub async fn exchange(bank: web::Data<Bank>, body: web::Json<ExchangeRequest>) -> Resp {
    let body = body.into_inner();
    ok(&blocking(&bank, move |b| b.exchange(&body)).await?)
}

/// `POST /coins/state`
pub async fn coin_state(bank: web::Data<Bank>, body: web::Json<CoinStateRequest>) -> Resp {
    let body = body.into_inner();
    ok(&blocking(&bank, move |b| b.coin_state(&body)).await?)
}

/// `POST /proofs`
pub async fn proofs(bank: web::Data<Bank>, body: web::Json<ProofRequest>) -> Resp {
    let body = body.into_inner();
    ok(&blocking(&bank, move |b| b.proof(&body)).await?)
}

/// `POST /restore`
pub async fn restore(bank: web::Data<Bank>, body: web::Json<RestoreRequest>) -> Resp {
    let body = body.into_inner();
    ok(&blocking(&bank, move |b| b.restore(&body)).await?)
}

/// `GET /healthz`: the database answers.
pub async fn healthz(bank: web::Data<Bank>) -> Resp {
    blocking(&bank, |b| b.storage().account("").map_err(Into::into)).await?;
    ok(&serde_json::json!({ "status": "ok" }))
}

/// `GET /openapi.json`
pub async fn openapi() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(super::OPENAPI)
}

/// `GET /` when no built web wallet is present.
pub async fn landing() -> HttpResponse {
    HttpResponse::Ok().content_type("text/html; charset=utf-8").body(
        "<!doctype html><html lang=en><meta charset=utf-8><title>Browser e-cash mint</title>\
         <h1>Browser e-cash mint</h1><p>The bank is running. The web wallet is not built here \
         (run <code>make run</code>).</p><ul><li><a href=/shop>Demo shop</a></li>\
         <li><a href=/keys>Signed key set</a></li><li><a href=/openapi.json>API (OpenAPI)</a></li></ul></html>",
    )
}
