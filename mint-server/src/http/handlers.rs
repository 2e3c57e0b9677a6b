//! Thin handlers: parse, call bank logic on a blocking thread, answer the
//! endpoint's type. Each handler's answer names its endpoint, which is how
//! [`super::routes`] knows where it is served.

use std::sync::Arc;

use actix_web::{HttpRequest, HttpResponse, web};
use ecash_core::api::{self, SIGNATURE_HEADER, TIMESTAMP_HEADER};
use ecash_core::messages::*;
use ecash_core::{ErrorCode, Fixed, Signature, Signed};
use ecash_serve::{Answer, Cached, HttpError, Reply, blocking};

use ecash_core::clearing::{PeerInfo, PeerList, PeerRegistration, SettlementRequest};
use ecash_core::offline::messages::{
    CollateralRequest, OfflineDepositRequest, OfflineOpenRequest, OfflineQuery,
    OfflineWithdrawRequest,
};

use crate::bank::{Bank, BankResult};
use crate::clearing::ClearingLink;

type Json<E> = Result<Answer<E>, HttpError>;

/// Runs `f` on the bank off the async workers (RSA and SQLite block).
async fn on_bank<T, F>(bank: &web::Data<Bank>, f: F) -> Result<T, HttpError>
where
    T: Send + 'static,
    F: FnOnce(&Bank) -> BankResult<T> + Send + 'static,
{
    let bank: Arc<Bank> = bank.clone().into_inner();
    blocking(move || f(&bank)).await
}

/// `GET /keys`: the signed set with its certification, encoded once per
/// rotation and attestation.
pub async fn keys(bank: web::Data<Bank>) -> Result<Cached<api::Keys>, HttpError> {
    Ok(Cached::new(bank.keys_answer(), 60))
}

/// `GET /keys/{key_id}/spent`: one list for every client, cacheable.
pub async fn spent_list(
    bank: web::Data<Bank>,
    key_id: web::Path<String>,
) -> Result<Cached<api::SpentCoins>, HttpError> {
    let key_id = Fixed::from_b64(&key_id)
        .ok_or_else(|| HttpError::new(ErrorCode::InvalidField, "key id is not 32 bytes"))?;
    let json = on_bank(&bank, move |b| b.spent_list(&key_id)).await?;
    let max_age = bank.settings().spent_list_max_age.as_secs();
    Ok(Cached::new(json, max_age))
}

/// Whether `/metrics` is served (`--metrics`).
#[derive(Debug, Clone, Copy)]
pub struct MetricsOn(pub bool);

/// `GET /metrics`: counters of costly work, when enabled.
pub async fn metrics(
    bank: web::Data<Bank>,
    on: Option<web::Data<MetricsOn>>,
) -> Result<Reply<api::Metrics>, HttpError> {
    if !on.is_some_and(|m| m.0) {
        return Err(HttpError::new(
            ErrorCode::NotFound,
            "metrics are off on this bank (--metrics)",
        ));
    }
    Ok(Reply::new(
        HttpResponse::Ok()
            .content_type("text/plain; version=0.0.4")
            .body(bank.metrics().render()),
    ))
}

/// `POST /accounts`
pub async fn register(
    bank: web::Data<Bank>,
    body: web::Json<Signed<RegisterAccount>>,
) -> Json<api::Register> {
    let body = body.into_inner();
    Ok(Answer(on_bank(&bank, move |b| b.register(&body)).await?))
}

/// `GET /accounts/{id}` (signed query in headers)
pub async fn account(
    bank: web::Data<Bank>,
    id: web::Path<String>,
    req: HttpRequest,
) -> Json<api::Statement> {
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
    Ok(Answer(
        on_bank(&bank, move |b| b.statement(&id, ts, &sig)).await?,
    ))
}

/// `GET /accounts/{id}/public-key`
pub async fn public_key(bank: web::Data<Bank>, id: web::Path<String>) -> Json<api::PublicKeyOf> {
    let id = id.into_inner();
    let public_key = on_bank(&bank, move |b| b.public_key(&id)).await?;
    Ok(Answer(AccountKey { public_key }))
}

/// `POST /accounts/{id}/certificate`
pub async fn certify_merchant(
    bank: web::Data<Bank>,
    id: web::Path<String>,
    body: web::Json<Signed<MerchantCertRequest>>,
) -> Json<api::CertifyMerchant> {
    let (id, body) = (id.into_inner(), body.into_inner());
    Ok(Answer(
        on_bank(&bank, move |b| b.certify_merchant(&id, &body)).await?,
    ))
}

/// `POST /accounts/{id}/faucet`
pub async fn faucet(
    bank: web::Data<Bank>,
    id: web::Path<String>,
    body: web::Json<FaucetRequest>,
) -> Json<api::Faucet> {
    let (id, body) = (id.into_inner(), body.into_inner());
    Ok(Answer(on_bank(&bank, move |b| b.faucet(&id, &body)).await?))
}

/// `POST /withdraw`
pub async fn withdraw(
    bank: web::Data<Bank>,
    body: web::Json<Signed<WithdrawRequest>>,
) -> Json<api::Withdraw> {
    let body = body.into_inner();
    Ok(Answer(on_bank(&bank, move |b| b.withdraw(&body)).await?))
}

/// `POST /deposit`: this mint's coins booked here, another mint's
/// deposited there first (NetCash clearing).
pub async fn deposit(
    bank: web::Data<Bank>,
    link: web::Data<ClearingLink>,
    body: web::Json<Signed<Deposit>>,
) -> Json<api::Deposit> {
    let bank: Arc<Bank> = bank.into_inner();
    Ok(Answer(
        crate::clearing::deposit(bank, &link, body.into_inner()).await?,
    ))
}

/// `POST /peers`
pub async fn register_peer(
    bank: web::Data<Bank>,
    body: web::Json<Signed<PeerRegistration>>,
) -> Json<api::RegisterPeer> {
    let body = body.into_inner();
    Ok(Answer(
        on_bank(&bank, move |b| b.register_peer(&body)).await?,
    ))
}

/// `GET /peers`
pub async fn peers(bank: web::Data<Bank>) -> Json<api::Peers> {
    let mut peers: Vec<PeerInfo> = bank
        .peers()
        .all()
        .iter()
        .map(|p| PeerInfo {
            bank_id: p.bank_id().to_owned(),
            name: p.certificate.cs_name.clone(),
            url: p.url.clone(),
        })
        .collect();
    peers.sort_by(|a, b| a.bank_id.cmp(&b.bank_id));
    Ok(Answer(PeerList { peers }))
}

/// `POST /settlements`
pub async fn settle(
    bank: web::Data<Bank>,
    body: web::Json<Signed<SettlementRequest>>,
) -> Json<api::Settle> {
    let body = body.into_inner();
    Ok(Answer(on_bank(&bank, move |b| b.settle(&body)).await?))
}

/// `POST /exchange`: this mint's coins at once, another certified mint's
/// deposited there first (NetCash's anonymous exchange).
pub async fn exchange(
    bank: web::Data<Bank>,
    link: web::Data<ClearingLink>,
    body: web::Json<ExchangeRequest>,
) -> Json<api::Exchange> {
    let bank: Arc<Bank> = bank.into_inner();
    Ok(Answer(
        crate::clearing::exchange(bank, &link, body.into_inner()).await?,
    ))
}

/// `POST /recoup`
pub async fn recoup(bank: web::Data<Bank>, body: web::Json<RecoupRequest>) -> Json<api::Recoup> {
    let body = body.into_inner();
    Ok(Answer(on_bank(&bank, move |b| b.recoup(&body)).await?))
}

/// `POST /offline/standing`
pub async fn offline_standing(
    bank: web::Data<Bank>,
    body: web::Json<Signed<OfflineQuery>>,
) -> Json<api::OfflineStandingOf> {
    let body = body.into_inner();
    Ok(Answer(
        on_bank(&bank, move |b| b.offline_standing(&body)).await?,
    ))
}

/// `POST /offline/collateral`
pub async fn offline_collateral(
    bank: web::Data<Bank>,
    body: web::Json<Signed<CollateralRequest>>,
) -> Json<api::OfflineCollateral> {
    let body = body.into_inner();
    Ok(Answer(
        on_bank(&bank, move |b| b.offline_collateral(&body)).await?,
    ))
}

/// `POST /offline/withdraw`
pub async fn offline_withdraw(
    bank: web::Data<Bank>,
    body: web::Json<Signed<OfflineWithdrawRequest>>,
) -> Json<api::OfflineWithdraw> {
    let body = body.into_inner();
    Ok(Answer(
        on_bank(&bank, move |b| b.offline_withdraw(&body)).await?,
    ))
}

/// `POST /offline/withdraw/open`
pub async fn offline_open(
    bank: web::Data<Bank>,
    body: web::Json<Signed<OfflineOpenRequest>>,
) -> Json<api::OfflineOpen> {
    let body = body.into_inner();
    Ok(Answer(
        on_bank(&bank, move |b| b.offline_open(&body)).await?,
    ))
}

/// `POST /offline/deposit`
pub async fn offline_deposit(
    bank: web::Data<Bank>,
    body: web::Json<Signed<OfflineDepositRequest>>,
) -> Json<api::OfflineDeposit> {
    let body = body.into_inner();
    Ok(Answer(
        on_bank(&bank, move |b| b.offline_deposit(&body)).await?,
    ))
}

/// `POST /coins/state`
pub async fn coin_state(
    bank: web::Data<Bank>,
    body: web::Json<CoinStateRequest>,
) -> Json<api::CoinState> {
    let body = body.into_inner();
    Ok(Answer(on_bank(&bank, move |b| b.coin_state(&body)).await?))
}

/// `POST /proofs`
pub async fn proofs(bank: web::Data<Bank>, body: web::Json<ProofRequest>) -> Json<api::Proof> {
    let body = body.into_inner();
    Ok(Answer(on_bank(&bank, move |b| b.proof(&body)).await?))
}

/// `POST /restore`
pub async fn restore(bank: web::Data<Bank>, body: web::Json<RestoreRequest>) -> Json<api::Restore> {
    let body = body.into_inner();
    Ok(Answer(on_bank(&bank, move |b| b.restore(&body)).await?))
}

/// `GET /healthz`: the database answers.
pub async fn healthz(bank: web::Data<Bank>) -> Json<api::Health> {
    on_bank(&bank, |b| Ok(b.storage().account("")?)).await?;
    Ok(Answer(Health {
        status: "ok".into(),
    }))
}

/// The OpenAPI document, generated and encoded once at start.
#[derive(Debug, Clone)]
pub struct OpenApiDoc(pub Arc<String>);

/// `GET /openapi.json`
pub async fn openapi(doc: web::Data<OpenApiDoc>) -> Result<Cached<api::OpenApi>, HttpError> {
    Ok(Cached::new(doc.0.clone(), 300))
}
