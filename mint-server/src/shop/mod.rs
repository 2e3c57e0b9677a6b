//! The demo shop, served under `/shop`: a merchant with its own account and
//! key at the bank. It issues payreqs, accepts payments, deposits them, and
//! answers with a signed receipt and the goods. No goods without a valid
//! deposit_ack, and one payment per order: a payment claims its order
//! atomically before it is deposited.
//!
//! Links it hands out are built from the configured public URL, never from
//! request headers. Orders are made by POST only (a crawler following links
//! makes none), and the goods need the payment id, which travels in URL
//! fragments and request bodies only.

pub mod catalog;
mod pages;
pub mod store;

use std::path::Path;
use std::sync::Arc;

use actix_web::{HttpRequest, HttpResponse, web};
use ecash_core::messages::*;
use ecash_core::{Amount, ApiError, B32, ErrorCode, Keypair, Signed};
use serde::{Deserialize, Serialize};

use crate::api::error::HttpError;
use crate::api::handlers::blocking;
use crate::bank::{Bank, BankResult, Opened, unix_now};
use store::ShopStore;

/// Unpaid orders are forgotten this long after they expire, in seconds.
const FORGET_UNPAID_AFTER_SECS: u64 = 24 * 3600;

/// Shop set-up failed.
#[derive(Debug, thiserror::Error)]
pub enum ShopError {
    /// Files or database.
    #[error("shop storage: {0}")]
    Storage(String),
    /// Registering the merchant account failed.
    #[error("registering the shop's account: {0}")]
    Register(ApiError),
}

/// The demo merchant.
pub struct Shop {
    bank: Arc<Bank>,
    key: Keypair,
    account_id: String,
    store: ShopStore,
    base_url: String,
    payreq_ttl: u64,
    /// When this process started: a claim made before it belongs to a
    /// request that died with the previous process, and the same payment
    /// sent again may take it over.
    started_at: u64,
    /// Other origins whose pages may make orders.
    order_origins: Vec<String>,
}

fn err(code: ErrorCode, msg: impl Into<String>) -> ApiError {
    ApiError::new(code, msg)
}

/// `POST /shop/api/orders` body.
#[derive(Debug, Deserialize)]
pub struct NewOrder {
    /// Item to buy.
    pub item_id: String,
}

/// What the goods endpoint answers.
#[derive(Debug, Serialize, Deserialize)]
pub struct Delivery {
    /// The item's title.
    pub title: String,
    /// The goods.
    pub goods: String,
    /// The receipt for them.
    pub receipt: Signed<Receipt>,
}

impl Shop {
    /// Opens the shop's key and books in `data_dir/shop`, registering its
    /// merchant account at the bank on first start. Its links start with
    /// `base_url` (an origin); payreqs stay payable `payreq_ttl` seconds;
    /// pages of `order_origins` (checked origins) may make orders too.
    pub fn open(
        bank: Arc<Bank>,
        data_dir: &Path,
        base_url: &str,
        payreq_ttl: u64,
        order_origins: Vec<String>,
    ) -> Result<Self, ShopError> {
        let dir = data_dir.join("shop");
        std::fs::create_dir_all(&dir).map_err(|e| ShopError::Storage(e.to_string()))?;
        let key_path = dir.join("merchant.key");
        let key = match std::fs::read_to_string(&key_path) {
            Ok(text) => {
                let secret = B32::from_b64(text.trim()).ok_or_else(|| {
                    ShopError::Storage(format!("{} is corrupt", key_path.display()))
                })?;
                Keypair::from_secret_bytes(&secret.0)
            }
            Err(_) => {
                let kp = Keypair::generate().map_err(|e| ShopError::Storage(e.to_string()))?;
                write_secret(&key_path, &B32::from_array(kp.secret_bytes()).to_b64())?;
                kp
            }
        };
        let reg = Signed::sign(
            RegisterAccount {
                public_key: key.public(),
                label: "demo shop".into(),
                timestamp: unix_now(),
            },
            &key,
        );
        let account_id = bank.register(&reg).map_err(ShopError::Register)?.account_id;
        let store =
            ShopStore::open(&dir.join("shop.db")).map_err(|e| ShopError::Storage(e.to_string()))?;
        Ok(Self {
            bank,
            key,
            account_id,
            store,
            base_url: base_url.trim_end_matches('/').to_owned(),
            payreq_ttl,
            started_at: unix_now(),
            order_origins,
        })
    }

    /// The public base URL links start with.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// Orders stored (paid, claimed, and unpaid ones not yet forgotten).
    pub fn order_count(&self) -> BankResult<u64> {
        self.store.count().map_err(Self::store_err)
    }

    /// The shop's account at the bank.
    pub fn account_id(&self) -> &str {
        &self.account_id
    }

    fn store_err(e: store::ShopDbError) -> ApiError {
        tracing::error!(error = %e, "shop storage");
        err(ErrorCode::Internal, "shop storage failure")
    }

    /// Creates an order for an item and returns its payreq.
    pub fn create_order(&self, item_id: &str) -> BankResult<PayReq> {
        let item = catalog::item(item_id)
            .ok_or_else(|| err(ErrorCode::NotFound, format!("no item {item_id}")))?;
        let mut id = [0u8; 16];
        getrandom::fill(&mut id)
            .map_err(|_| err(ErrorCode::Internal, "random number generator failed"))?;
        let payreq_id = ecash_core::bytes::b64_encode(&id);
        let now = unix_now();
        let base = &self.base_url;
        let payreq = PayReq {
            payreq_id: payreq_id.clone(),
            amount: Amount::new(self.bank.settings().currency.clone(), item.price),
            timestamp: now,
            expires_at: now + self.payreq_ttl,
            merchant_bank_id: self.bank.settings().bank_id.clone(),
            merchant_acc_id: self.account_id.clone(),
            description: format!("{}: {}", item.title, item.description),
            pay_url: format!("{base}/shop/api/pay/{payreq_id}"),
            fulfillment_url: format!("{base}/shop/fulfillment/{payreq_id}"),
        };
        let json = serde_json::to_string(&payreq)
            .map_err(|_| err(ErrorCode::Internal, "encoding payreq"))?;
        let expired_before = now.saturating_sub(self.payreq_ttl);
        let forget_before = expired_before.saturating_sub(FORGET_UNPAID_AFTER_SECS);
        let stored = self
            .store
            .insert(
                &payreq_id,
                item.id,
                &json,
                now,
                expired_before,
                forget_before,
                store::MAX_UNPAID,
            )
            .map_err(Self::store_err)?;
        if !stored {
            return Err(err(
                ErrorCode::Unavailable,
                "the shop has too many open orders; try again in a few minutes",
            ));
        }
        Ok(payreq)
    }

    /// The URL of an order's payment request.
    pub fn payreq_url(&self, payreq_id: &str) -> String {
        format!("{}/shop/api/orders/{payreq_id}", self.base_url)
    }

    /// The payreq of an order.
    pub fn payreq(&self, payreq_id: &str) -> BankResult<PayReq> {
        let order = self.order(payreq_id)?;
        serde_json::from_str(&order.payreq_json)
            .map_err(|_| err(ErrorCode::Internal, "stored payreq is corrupt"))
    }

    fn order(&self, payreq_id: &str) -> BankResult<store::Order> {
        self.store
            .get(payreq_id)
            .map_err(Self::store_err)?
            .ok_or_else(|| err(ErrorCode::NotFound, format!("no order {payreq_id}")))
    }

    /// Accepts a payment for an order: checks it against the payreq, has the
    /// bank open it, claims the order for it, deposits it, and answers the
    /// receipt. Paying the same order with the same payment again returns the
    /// same answer; a payment the bank already holds completes the order even
    /// after it expired (the shop stopped half-way); any other payment is
    /// refused with `order_taken`, or told to retry (`in_progress`) while
    /// another one is being deposited, before its coins are touched.
    pub fn pay(&self, payreq_id: &str, payment: Payment) -> BankResult<PaymentResponse> {
        let order = self.order(payreq_id)?;
        let payment_id = payment.payment_id();
        if let (Some(paid), Some(resp)) = (order.payment_id, &order.response_json) {
            if paid == payment_id {
                return serde_json::from_str(resp)
                    .map_err(|_| err(ErrorCode::Internal, "stored answer corrupt"));
            }
            return Err(err(
                ErrorCode::OrderTaken,
                "this order is already paid; your coins were not taken",
            ));
        }
        let payreq: PayReq = serde_json::from_str(&order.payreq_json)
            .map_err(|_| err(ErrorCode::Internal, "stored payreq corrupt"))?;
        let info = &payment.payment_info;
        if info.amount != payreq.amount
            || info.payreq_id != payreq.payreq_id
            || info.merchant_acc_id != self.account_id
            || info.merchant_bank_id != payreq.merchant_bank_id
            || info.description_hash != description_hash(&payreq.description)
        {
            return Err(err(
                ErrorCode::PayreqInvalid,
                "payment does not match the payment request",
            ));
        }
        let now = unix_now();
        // Deposited already (the shop stopped between the bank's ack and
        // its own books): finish the order, expired or not.
        if let Some(ack) = self.bank.deposited(&payment_id)? {
            return self.complete(payreq_id, &payreq, payment_id, ack, now);
        }
        if now > payreq.expires_at {
            return Err(err(
                ErrorCode::PayreqInvalid,
                "this payment request has expired; start again",
            ));
        }
        let deposit = Signed::sign(
            Deposit {
                merchant_acc_id: self.account_id.clone(),
                payment,
            },
            &self.key,
        );
        // The bank opens and checks the payment first: one that cannot be
        // deposited (forged, tampered, spent) never holds the order.
        let opened = match self.bank.open_deposit(&deposit)? {
            Opened::Deposited(ack) => {
                return self.complete(payreq_id, &payreq, payment_id, ack, now);
            }
            Opened::Ready(d) => d,
        };
        let mut token = [0u8; 16];
        getrandom::fill(&mut token)
            .map_err(|_| err(ErrorCode::Internal, "random number generator failed"))?;
        match self
            .store
            .claim(payreq_id, &payment_id, &token, now, self.started_at)
            .map_err(Self::store_err)?
        {
            store::Claim::Won => {}
            // Not final: the payment in progress may yet be refused.
            store::Claim::Busy => {
                return Err(err(
                    ErrorCode::InProgress,
                    "a payment for this order is being deposited; retry shortly",
                ));
            }
            store::Claim::Taken => {
                return Err(err(
                    ErrorCode::OrderTaken,
                    "this order is already paid; your coins were not taken",
                ));
            }
            store::Claim::Missing => {
                return Err(err(ErrorCode::NotFound, format!("no order {payreq_id}")));
            }
        }
        let ack = match self.bank.commit_opened(&opened) {
            Ok(ack) => ack,
            Err(e) => {
                // The commit has run its course: if the bank does not hold
                // the payment, the order is free again (a retry of this one
                // claims it anew). A claim kept after a passing error would
                // block the order for every payer.
                if self.bank.deposited(&payment_id)?.is_none() {
                    self.store
                        .release(payreq_id, &token)
                        .map_err(Self::store_err)?;
                }
                return Err(e);
            }
        };
        self.complete(payreq_id, &payreq, payment_id, ack, now)
    }

    /// Answers a deposited payment: checks the bank's ack, signs the
    /// receipt, and marks the order paid by it.
    fn complete(
        &self,
        payreq_id: &str,
        payreq: &PayReq,
        payment_id: B32,
        ack: Signed<DepositAck>,
        now: u64,
    ) -> BankResult<PaymentResponse> {
        // Trust nothing unverified: the ack must carry the bank's signature and this payment.
        let master = self.bank.keys().master.public();
        if ack.verify(&master).is_err()
            || ack.body.payment_id != payment_id
            || ack.body.amount != payreq.amount
        {
            return Err(err(
                ErrorCode::Internal,
                "the bank's deposit_ack does not verify; no goods delivered",
            ));
        }
        let receipt = Signed::sign(
            Receipt {
                amount: payreq.amount.clone(),
                transaction_id: payreq.payreq_id.clone(),
                date: now,
                payment_id,
                merchant_acc_id: self.account_id.clone(),
            },
            &self.key,
        );
        let response = PaymentResponse {
            receipt,
            merchant_public_key: self.key.public(),
            deposit_ack: ack,
            fulfillment_url: payreq.fulfillment_url.clone(),
        };
        let json = serde_json::to_string(&response)
            .map_err(|_| err(ErrorCode::Internal, "encoding receipt"))?;
        let stands = self
            .store
            .mark_paid(payreq_id, &payment_id, &json, now)
            .map_err(Self::store_err)?
            .ok_or_else(|| {
                // Only a deposit made with the shop's key outside this
                // process can get here; the operator must settle it.
                tracing::error!(order = %payreq_id, "deposited payment conflicts with the order's claim");
                err(
                    ErrorCode::Internal,
                    "the bank holds your payment but the order is held by another; contact the shop with your proof",
                )
            })?;
        tracing::info!(order = %payreq_id, "order paid");
        serde_json::from_str(&stands).map_err(|_| err(ErrorCode::Internal, "stored answer corrupt"))
    }

    /// The goods of a paid order, for the holder of its payment id.
    pub fn deliver(&self, payreq_id: &str, payment_id: &B32) -> BankResult<Delivery> {
        let order = self.order(payreq_id)?;
        let (Some(paid), Some(resp)) = (order.payment_id, order.response_json) else {
            return Err(err(ErrorCode::PayreqInvalid, "this order is not paid"));
        };
        if &paid != payment_id {
            return Err(err(ErrorCode::NotFound, "no such payment for this order"));
        }
        let response: PaymentResponse = serde_json::from_str(&resp)
            .map_err(|_| err(ErrorCode::Internal, "stored answer corrupt"))?;
        let item = catalog::item(&order.item_id)
            .ok_or_else(|| err(ErrorCode::Internal, "item vanished"))?;
        Ok(Delivery {
            title: item.title.into(),
            goods: item.goods.into(),
            receipt: response.receipt,
        })
    }
}

fn write_secret(path: &Path, text: &str) -> Result<(), ShopError> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts
        .open(path)
        .map_err(|e| ShopError::Storage(e.to_string()))?;
    f.write_all(text.as_bytes())
        .and_then(|_| f.sync_all())
        .map_err(|e| ShopError::Storage(e.to_string()))
}

/// `POST /shop/api/orders/{id}/goods` body: the payment id, in the body
/// and never in a URL, since it is what the goods are handed over for.
#[derive(Deserialize)]
struct GoodsRequest {
    payment_id: B32,
}

/// Registers the shop's routes under `/shop`.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/shop")
            .route("", web::get().to(pages::index))
            .route("/", web::get().to(pages::index))
            .route("/item/{id}", web::get().to(pages::item_page))
            .route("/item/{id}/order", web::post().to(pages::order_item))
            .route("/order/{payreq_id}", web::get().to(pages::order_page))
            .route(
                "/fulfillment/{payreq_id}",
                web::get().to(pages::fulfillment),
            )
            .route("/assets/{name}", web::get().to(pages::asset))
            .route("/api/items", web::get().to(items))
            .route("/api/orders", web::post().to(create_order))
            .route("/api/orders/{payreq_id}", web::get().to(get_payreq))
            .route("/api/orders/{payreq_id}/goods", web::post().to(goods))
            .route("/api/pay/{payreq_id}", web::post().to(pay)),
    );
}

async fn items() -> HttpResponse {
    HttpResponse::Ok().json(catalog::ITEMS)
}

/// Whether a browser made this request for another site's page: such a
/// request may not make orders. Browsers say so (`Sec-Fetch-Site`); older
/// ones send only `Origin`, compared with the shop's public URL. Programs
/// send neither.
pub(crate) fn from_another_site(req: &HttpRequest, shop: &Shop) -> bool {
    let header = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok());
    let origin = header("origin");
    if origin.is_some_and(|o| shop.order_origins.iter().any(|a| a == o)) {
        return false;
    }
    match header("sec-fetch-site") {
        Some(site) => site != "same-origin" && site != "none",
        None => origin.is_some_and(|o| o != shop.base_url),
    }
}

async fn create_order(
    shop: web::Data<Shop>,
    req: HttpRequest,
    body: web::Json<NewOrder>,
) -> Result<HttpResponse, HttpError> {
    if from_another_site(&req, &shop) {
        return Err(HttpError::new(
            ErrorCode::MalformedRequest,
            "orders are made from the shop's own pages",
        ));
    }
    let item = body.into_inner().item_id;
    let payreq = blocking(&shop, move |s| s.create_order(&item)).await?;
    Ok(HttpResponse::Created().json(payreq))
}

async fn get_payreq(
    shop: web::Data<Shop>,
    id: web::Path<String>,
) -> Result<HttpResponse, HttpError> {
    let id = id.into_inner();
    Ok(HttpResponse::Ok().json(blocking(&shop, move |s| s.payreq(&id)).await?))
}

async fn pay(
    shop: web::Data<Shop>,
    id: web::Path<String>,
    body: web::Json<Payment>,
) -> Result<HttpResponse, HttpError> {
    let (id, payment) = (id.into_inner(), body.into_inner());
    Ok(HttpResponse::Ok().json(blocking(&shop, move |s| s.pay(&id, payment)).await?))
}

async fn goods(
    shop: web::Data<Shop>,
    id: web::Path<String>,
    body: web::Json<GoodsRequest>,
) -> Result<HttpResponse, HttpError> {
    let pid = body.into_inner().payment_id;
    let id = id.into_inner();
    Ok(HttpResponse::Ok().json(blocking(&shop, move |s| s.deliver(&id, &pid)).await?))
}
