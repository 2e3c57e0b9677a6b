//! The shop's logic: orders and their payment requests, payments claimed,
//! deposited at the bank over HTTP and answered with a signed receipt, the
//! goods for the holder of the goods key, and the shop keeper's list.
//!
//! No goods without the bank's ack, checked against the pinned master key,
//! and one payment per order: a payment claims its order before it goes to
//! the bank, and only the bank's definite refusal frees the order for
//! another. When the bank's answer is lost, the claim is kept for that
//! payment and [`Shop::settle`] sends it again until the bank answers.

use std::sync::Arc;

use ecash_core::client::CallError;
use ecash_core::messages::{
    Deposit, DepositAck, PayReq, Payment, PaymentResponse, Receipt, description_hash,
};
use ecash_core::shop::{Delivery, ORDER_LIST_MAX, OrderList};
use ecash_core::{ApiError, B32, Clock, ErrorCode, Keypair, Signed, envelope};
use ecash_serve::limits::{ClientIp, ClientQuota};

use crate::bank::BankLink;
use crate::catalog;
use crate::store::{self, Claim, ShopDbError, ShopStore};

/// Unpaid orders are forgotten this long after they expire, in seconds.
const FORGET_UNPAID_AFTER_SECS: u64 = 24 * 3600;

/// Claims settled per round of [`Shop::settle`].
const SETTLE_BATCH: usize = 32;

/// What the shop refuses, and why.
#[derive(Debug, thiserror::Error)]
pub enum ShopError {
    /// No such item.
    #[error("no item {0}")]
    NoItem(String),
    /// No such order.
    #[error("no order {0}")]
    NoOrder(String),
    /// Too many open orders.
    #[error("the shop has too many open orders; try again in a few minutes")]
    Full,
    /// The payment is not for this payment request.
    #[error("payment does not match the payment request: {0}")]
    Mismatch(&'static str),
    /// The payment request expired before this payment came.
    #[error("this payment request has expired; start again")]
    Expired,
    /// The order is not paid.
    #[error("this order is not paid")]
    NotPaid,
    /// No such payment for this order.
    #[error("no such payment for this order")]
    NoSuchPayment,
    /// Another payment paid the order.
    #[error("this order is already paid; your coins were not taken")]
    OrderTaken,
    /// Another payment is at the bank for this order.
    #[error("a payment for this order is being deposited; retry shortly")]
    InProgress,
    /// This address sent too many payments.
    #[error("too many payments from this address; slow down")]
    RateLimited,
    /// The envelope cannot be the bank's (its wrapped key has the wrong length).
    #[error("the coins are not sealed to this shop's bank")]
    Envelope,
    /// The bank refused the payment (its code passes through).
    #[error("the bank refused the payment: {}", .0.message)]
    Bank(ApiError),
    /// The bank did not answer; the payment may or may not be deposited.
    #[error("the bank did not answer ({0}); send the same payment again")]
    BankUnreachable(String),
    /// The bank's ack does not verify against the pinned master key.
    #[error("the bank's deposit_ack does not verify; no goods delivered")]
    BadAck,
    /// The bank holds a payment signed with the shop's key for an order
    /// another payment holds (only a deposit made outside this shop).
    #[error(
        "the bank holds your payment but the order is held by another; contact the shop with your proof"
    )]
    HeldElsewhere,
    /// The admin token is missing or wrong.
    #[error("this list is for the shop keeper: a valid admin token is needed")]
    Unauthorized,
    /// The shop's own storage or random numbers failed.
    #[error("shop failure: {0}")]
    Internal(String),
}

impl ShopError {
    /// The wire error.
    pub fn to_api(&self) -> ApiError {
        let code = match self {
            Self::NoItem(_) | Self::NoOrder(_) | Self::NoSuchPayment => ErrorCode::NotFound,
            Self::Full | Self::BankUnreachable(_) => ErrorCode::Unavailable,
            Self::Mismatch(_) | Self::Expired | Self::NotPaid => ErrorCode::PayreqInvalid,
            Self::OrderTaken => ErrorCode::OrderTaken,
            Self::InProgress => ErrorCode::InProgress,
            Self::RateLimited => ErrorCode::RateLimited,
            Self::Envelope => ErrorCode::EnvelopeInvalid,
            Self::Bank(e) => return e.clone(),
            Self::BadAck | Self::HeldElsewhere | Self::Internal(_) => ErrorCode::Internal,
            Self::Unauthorized => ErrorCode::Unauthorized,
        };
        ApiError::new(code, self.to_string())
    }
}

impl From<ShopDbError> for ShopError {
    fn from(e: ShopDbError) -> Self {
        tracing::error!(error = %e, "shop storage");
        Self::Internal("storage".into())
    }
}

/// How the shop is set up.
#[derive(Debug, Clone)]
pub struct ShopSettings {
    /// The shop's public base URL (an origin): its links start with it.
    pub base_url: String,
    /// Where buyers' wallets live: the "Pay with Ecash" link goes there.
    pub wallet_url: String,
    /// How long a payment request stays payable, seconds.
    pub payreq_ttl: u64,
    /// Other origins whose pages may make orders.
    pub order_origins: Vec<String>,
    /// The shop keeper's token for the list of orders.
    pub admin_token: String,
    /// A claim this old is stale even in this process, seconds: longer than
    /// any deposit can take (its calls to the bank time out before).
    pub claim_lease: u64,
}

/// The demo merchant.
pub struct Shop {
    bank: BankLink,
    key: Keypair,
    account_id: String,
    store: Arc<ShopStore>,
    settings: ShopSettings,
    clock: Arc<dyn Clock>,
    /// This process, among all that ran the shop: a claim made by another
    /// belongs to a request that died with it.
    epoch: [u8; 16],
}

fn random<const N: usize>() -> Result<[u8; N], ShopError> {
    let mut b = [0u8; N];
    getrandom::fill(&mut b).map_err(|_| ShopError::Internal("random numbers".into()))?;
    Ok(b)
}

impl Shop {
    /// A shop over its `store`, with its `key`, registered at `bank` as `account_id`.
    pub fn new(
        bank: BankLink,
        key: Keypair,
        account_id: String,
        store: ShopStore,
        settings: ShopSettings,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, ShopError> {
        Ok(Self {
            bank,
            key,
            account_id,
            store: Arc::new(store),
            settings,
            clock,
            epoch: random::<16>()?,
        })
    }

    /// The shop's account at its bank.
    pub fn account_id(&self) -> &str {
        &self.account_id
    }

    /// Settings.
    pub fn settings(&self) -> &ShopSettings {
        &self.settings
    }

    /// The clock.
    pub fn now(&self) -> u64 {
        self.clock.now()
    }

    /// The bank's currency.
    pub async fn currency(&self) -> ecash_core::Currency {
        self.bank.keys().await.set.currency.clone()
    }

    /// Runs `f` on the store off the async workers.
    async fn db<T, F>(&self, f: F) -> Result<T, ShopError>
    where
        T: Send + 'static,
        F: FnOnce(&ShopStore) -> Result<T, ShopDbError> + Send + 'static,
    {
        let store = self.store.clone();
        actix_web::web::block(move || f(&store))
            .await
            .map_err(|_| ShopError::Internal("worker thread".into()))?
            .map_err(Into::into)
    }

    /// Whether the shop's database answers.
    pub async fn healthy(&self) -> Result<(), ShopError> {
        self.db(|s| s.count()).await.map(|_| ())
    }

    /// Whether a browser made this request from another site's page
    /// (`Sec-Fetch-Site`, or for older browsers `Origin`): such a request
    /// may not make orders. Programs send neither.
    pub fn from_another_site(&self, sec_fetch_site: Option<&str>, origin: Option<&str>) -> bool {
        if origin.is_some_and(|o| self.settings.order_origins.iter().any(|a| a == o)) {
            return false;
        }
        match sec_fetch_site {
            Some(site) => site != "same-origin" && site != "none",
            None => origin.is_some_and(|o| o != self.settings.base_url),
        }
    }

    /// Creates an order for an item and returns its payment request.
    pub async fn create_order(&self, item_id: &str) -> Result<PayReq, ShopError> {
        let product =
            catalog::product(item_id).ok_or_else(|| ShopError::NoItem(item_id.to_owned()))?;
        let keys = self.bank.keys().await;
        let payreq_id = ecash_core::bytes::b64_encode(&random::<16>()?);
        let now = self.clock.now();
        let base = &self.settings.base_url;
        let payreq = PayReq {
            payreq_id: payreq_id.clone(),
            amount: product.item(&keys.set.currency).price,
            timestamp: now,
            expires_at: now + self.settings.payreq_ttl,
            merchant_bank_id: keys.set.bank_id.clone(),
            merchant_acc_id: self.account_id.clone(),
            description: product
                .order_description(&ecash_core::bytes::b64_encode(&random::<12>()?)),
            pay_url: ecash_core::client::join(base, &api_path::<ecash_core::api::Pay>(&payreq_id)),
            fulfillment_url: ecash_core::client::join(
                base,
                &api_path::<ecash_core::api::FulfillmentPage>(&payreq_id),
            ),
        };
        let json = serde_json::to_string(&payreq)
            .map_err(|_| ShopError::Internal("encoding the payment request".into()))?;
        let expired_before = now.saturating_sub(self.settings.payreq_ttl);
        let forget_before = expired_before.saturating_sub(FORGET_UNPAID_AFTER_SECS);
        let (id, item, amount, expires_at) = (
            payreq_id.clone(),
            product.id,
            payreq.amount.value,
            payreq.expires_at,
        );
        let stored = self
            .db(move |s| {
                s.insert(
                    &store::NewOrder {
                        payreq_id: &id,
                        item_id: item,
                        payreq_json: &json,
                        amount,
                        now,
                        expires_at,
                    },
                    expired_before,
                    forget_before,
                    store::MAX_UNPAID,
                )
            })
            .await?;
        if !stored {
            return Err(ShopError::Full);
        }
        Ok(payreq)
    }

    /// The URL wallets fetch an order's payment request from.
    pub fn payreq_url(&self, payreq_id: &str) -> String {
        ecash_core::client::join(
            &self.settings.base_url,
            &api_path::<ecash_core::api::PayreqApi>(payreq_id),
        )
    }

    async fn order(&self, payreq_id: &str) -> Result<store::Order, ShopError> {
        let id = payreq_id.to_owned();
        self.db(move |s| s.get(&id))
            .await?
            .ok_or_else(|| ShopError::NoOrder(payreq_id.to_owned()))
    }

    /// The payment request of an order no payment holds. Once one does,
    /// it is `in_progress` (at the bank) or `order_taken` (paid): the bank
    /// learns the order's id from the deposit, and must not read here what
    /// was bought.
    pub async fn payreq(&self, payreq_id: &str) -> Result<PayReq, ShopError> {
        let order = self.order(payreq_id).await?;
        if order.payment_id.is_some() {
            return Err(ShopError::OrderTaken);
        }
        if order.claimed_by.is_some() {
            return Err(ShopError::InProgress);
        }
        stored_payreq(&order)
    }

    /// Accepts a payment for an order: checks it against the payment
    /// request, claims the order for it, deposits it at the bank, and
    /// answers the receipt. The same payment again gets the same answer; a
    /// payment the order's claim holds completes it even after expiry (the
    /// bank may hold it); another payment is refused with `order_taken`, or
    /// told to retry (`in_progress`) while one is at the bank.
    ///
    /// A payment that may go to the bank is charged to `client`'s share
    /// of `quota` (replays and the shop's own refusals are not).
    pub async fn pay(
        self: Arc<Self>,
        payreq_id: &str,
        payment: Payment,
        quota: &ClientQuota,
        client: ClientIp,
    ) -> Result<PaymentResponse, ShopError> {
        let order = self.order(payreq_id).await?;
        let payment_id = payment.payment_id();
        if let (Some(paid), Some(resp)) = (order.payment_id, &order.response_json) {
            if paid == payment_id {
                return serde_json::from_str(resp)
                    .map_err(|_| ShopError::Internal("a stored answer is corrupt".into()));
            }
            return Err(ShopError::OrderTaken);
        }
        let payreq = stored_payreq(&order)?;
        self.check_payment(&payreq, &payment).await?;
        let now = self.clock.now();
        // Only a payment that claimed the order before can be at the bank.
        if now > payreq.expires_at && order.claimed_by != Some(payment_id) {
            return Err(ShopError::Expired);
        }
        if !quota.allows(client) {
            return Err(ShopError::RateLimited);
        }
        // From the claim on, the work runs in a task of its own: a request
        // cut off (the edge's timeout drops the handler) never leaves a
        // claim without the deposit that settles it.
        let id = payreq_id.to_owned();
        actix_web::rt::spawn(async move { self.claim_and_deposit(&id, payreq, payment, now).await })
            .await
            .map_err(|_| ShopError::Internal("the deposit task failed".into()))?
    }

    /// Claims the order for `payment`'s request and deposits it.
    async fn claim_and_deposit(
        &self,
        payreq_id: &str,
        payreq: PayReq,
        payment: Payment,
        now: u64,
    ) -> Result<PaymentResponse, ShopError> {
        let payment_id = payment.payment_id();
        let token = random::<16>()?;
        let payment_json = serde_json::to_string(&payment)
            .map_err(|_| ShopError::Internal("encoding the payment".into()))?;
        let (id, live) = (payreq_id.to_owned(), self.live(now));
        let claim = self
            .db(move |s| s.claim(&id, &payment_id, &payment_json, &token, now, live))
            .await?;
        let resumed = match claim {
            Claim::Won => false,
            Claim::Resumed => true,
            // Not final: the payment at the bank may yet be refused.
            Claim::Busy => return Err(ShopError::InProgress),
            Claim::Taken => return Err(ShopError::OrderTaken),
            Claim::Missing => return Err(ShopError::NoOrder(payreq_id.to_owned())),
        };
        self.deposit_claimed(payreq_id, &payreq, payment, token, resumed)
            .await
    }

    /// Which claims are live at `now`: this process's, younger than the
    /// lease (an older one's task is gone: a backstop, no such case known).
    fn live(&self, now: u64) -> store::Live {
        store::Live {
            epoch: self.epoch,
            stale_before: now.saturating_sub(self.settings.claim_lease),
        }
    }

    /// Refuses what the shop can see is wrong before the payment claims
    /// the order: another request, another merchant, coins of another bank,
    /// an envelope no key of the bank could have made.
    async fn check_payment(&self, payreq: &PayReq, payment: &Payment) -> Result<(), ShopError> {
        let info = &payment.payment_info;
        if info.amount != payreq.amount {
            return Err(ShopError::Mismatch("the amount"));
        }
        if info.payreq_id != payreq.payreq_id
            || info.description_hash != description_hash(&payreq.description)
        {
            return Err(ShopError::Mismatch("the order"));
        }
        if info.merchant_acc_id != self.account_id
            || info.merchant_bank_id != payreq.merchant_bank_id
        {
            return Err(ShopError::Mismatch("the merchant"));
        }
        if info.ncoins == 0 {
            return Err(ShopError::Mismatch("no coins"));
        }
        if info.goods_key_hash.is_none() {
            return Err(ShopError::Mismatch("no goods key (update the wallet)"));
        }
        let keys = self.bank.keys().await;
        if info.bank_id != keys.set.bank_id {
            return Err(ShopError::Mismatch("coins of another bank"));
        }
        let len = ecash_core::rsa::traits::PublicKeyParts::size(&keys.encryption_key);
        envelope::check_wrapped_len(&payment.sealed_coins.wrapped_key.0, len)
            .map_err(|_| ShopError::Envelope)
    }

    /// Deposits a payment whose claim the request `token` holds, and
    /// settles the claim by the bank's answer: paid, released (refused for
    /// good), or abandoned to the settler (no answer). `resumed`: an earlier
    /// request of this payment may still be at the bank.
    async fn deposit_claimed(
        &self,
        payreq_id: &str,
        payreq: &PayReq,
        payment: Payment,
        token: [u8; 16],
        resumed: bool,
    ) -> Result<PaymentResponse, ShopError> {
        let payment_id = payment.payment_id();
        let deposit = Signed::sign(
            Deposit {
                merchant_acc_id: self.account_id.clone(),
                payment,
            },
            &self.key,
        );
        let id = payreq_id.to_owned();
        match self.bank.deposit(&deposit).await {
            Ok(ack) => {
                let bank_id = &payreq.merchant_bank_id;
                if !self.bank.ack_holds(
                    &ack,
                    &payment_id,
                    &payreq.amount,
                    &self.account_id,
                    bank_id,
                ) {
                    tracing::error!(order = %payreq_id, "the bank's ack does not verify");
                    self.db(move |s| s.abandon(&id, &token)).await?;
                    return Err(ShopError::BadAck);
                }
                let key_hash = deposit.body.payment.payment_info.goods_key_hash;
                self.complete(payreq_id, payreq, payment_id, key_hash, ack)
                    .await
            }
            Err(e) if refused_for_good(&e, resumed) => {
                self.db(move |s| s.release(&id, &token)).await?;
                Err(match e {
                    CallError::Refused { error, .. } => ShopError::Bank(error),
                    other => ShopError::Internal(other.to_string()),
                })
            }
            Err(e) => {
                self.db(move |s| s.abandon(&id, &token)).await?;
                match e {
                    CallError::Refused { error, .. } => Err(ShopError::Bank(error)),
                    other => Err(ShopError::BankUnreachable(other.to_string())),
                }
            }
        }
    }

    /// Answers a deposited payment: signs the receipt and marks the order
    /// paid by it, its goods for the key whose hash the payment carries.
    async fn complete(
        &self,
        payreq_id: &str,
        payreq: &PayReq,
        payment_id: B32,
        goods_key_hash: Option<B32>,
        ack: Signed<DepositAck>,
    ) -> Result<PaymentResponse, ShopError> {
        let now = self.clock.now();
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
            .map_err(|_| ShopError::Internal("encoding the receipt".into()))?;
        let id = payreq_id.to_owned();
        let stands = self
            .db(move |s| s.mark_paid(&id, &payment_id, goods_key_hash.as_ref(), &json, now))
            .await?
            .ok_or_else(|| {
                tracing::error!(order = %payreq_id, "a deposited payment conflicts with the order's claim");
                ShopError::HeldElsewhere
            })?;
        tracing::info!(order = %payreq_id, "order paid");
        serde_json::from_str(&stands)
            .map_err(|_| ShopError::Internal("a stored answer is corrupt".into()))
    }

    /// Sends every payment whose outcome is unknown (the bank's answer was
    /// lost, or the shop stopped) to the bank again, and settles its claim.
    /// Returns how many orders it settled (paid or freed).
    pub async fn settle(&self) -> Result<usize, ShopError> {
        let live = self.live(self.clock.now());
        let stuck = self.db(move |s| s.abandoned(live, SETTLE_BATCH)).await?;
        let mut settled = 0;
        for a in stuck {
            let Ok(payment) = serde_json::from_str::<Payment>(&a.payment_json) else {
                tracing::error!(order = %a.payreq_id, "a claimed payment does not parse");
                continue;
            };
            let payreq = stored_payreq(&self.order(&a.payreq_id).await?)?;
            let (id, pid, json) = (a.payreq_id.clone(), payment.payment_id(), a.payment_json);
            let token = random::<16>()?;
            let now = self.clock.now();
            let claim = self
                .db(move |s| s.claim(&id, &pid, &json, &token, now, live))
                .await?;
            let resumed = match claim {
                Claim::Won => false,
                Claim::Resumed => true,
                Claim::Busy | Claim::Taken | Claim::Missing => continue,
            };
            match self
                .deposit_claimed(&a.payreq_id, &payreq, payment, token, resumed)
                .await
            {
                Ok(_) | Err(ShopError::Bank(_)) => settled += 1,
                Err(e) => {
                    tracing::info!(order = %a.payreq_id, error = %e, "payment still unsettled")
                }
            }
        }
        Ok(settled)
    }

    /// The goods of a paid order, for the holder of its goods key (which
    /// the payer derives from its payer code; the bank has only its hash).
    pub async fn deliver(&self, payreq_id: &str, goods_key: &B32) -> Result<Delivery, ShopError> {
        let order = self.order(payreq_id).await?;
        let (Some(paid), Some(resp)) = (order.payment_id, order.response_json) else {
            return Err(ShopError::NotPaid);
        };
        // Orders paid before goods keys: their links carry the payment id.
        let (given, want) = match order.goods_key_hash {
            Some(want) => (ecash_core::messages::key_hash(&goods_key.0), want),
            None => (*goods_key, paid),
        };
        if !bool::from(subtle::ConstantTimeEq::ct_eq(&given.0[..], &want.0[..])) {
            return Err(ShopError::NoSuchPayment);
        }
        let response: PaymentResponse = serde_json::from_str(&resp)
            .map_err(|_| ShopError::Internal("a stored answer is corrupt".into()))?;
        let product = catalog::product(&order.item_id)
            .ok_or_else(|| ShopError::Internal("the item is no longer sold".into()))?;
        Ok(Delivery {
            title: product.title.into(),
            kind: product.kind,
            goods: product.goods.into(),
            receipt: response.receipt,
        })
    }

    /// Every order and its state, for the holder of the admin token.
    pub async fn orders(&self, token: Option<&str>) -> Result<OrderList, ShopError> {
        let want = self.settings.admin_token.as_bytes();
        let ok = token.is_some_and(|t| {
            use subtle::ConstantTimeEq;
            bool::from(t.as_bytes().ct_eq(want))
        });
        if !ok {
            return Err(ShopError::Unauthorized);
        }
        let currency = self.currency().await;
        let now = self.clock.now();
        let (orders, paid, paid_value) = self
            .db(move |s| s.list(now, ORDER_LIST_MAX, catalog::title, &currency))
            .await?;
        Ok(OrderList {
            orders,
            paid,
            paid_value,
        })
    }
}

/// Whether the bank refused a deposit in a way that means it did not take
/// it: any refusal but those after which it may yet commit. A timeout may
/// commit later. `in_progress` says another request is spending these very
/// coins right now: an exchange of them (this payment will not commit), or,
/// when this payment was sent before (`resumed`), its own earlier request,
/// which may.
fn refused_for_good(e: &CallError, resumed: bool) -> bool {
    match e {
        CallError::Refused { error, .. } => match error.code {
            // Said of this request only (busy coins, the bank's rate limit,
            // a key just past its window): an earlier request of a resumed
            // payment may still commit.
            ErrorCode::InProgress | ErrorCode::RateLimited | ErrorCode::KeyExpired => !resumed,
            // May come after the commit.
            ErrorCode::Internal => false,
            code => !code.is_retryable(),
        },
        CallError::Encode { .. } => true,
        CallError::Unreachable { .. } | CallError::BadAnswer { .. } => false,
    }
}

/// The payment request an order was made with.
fn stored_payreq(order: &store::Order) -> Result<PayReq, ShopError> {
    serde_json::from_str(&order.payreq_json)
        .map_err(|_| ShopError::Internal("a stored payment request is corrupt".into()))
}

/// An endpoint's path with one parameter filled in.
fn api_path<E: ecash_core::api::Endpoint<Params = str>>(param: &str) -> String {
    E::path(param)
}
