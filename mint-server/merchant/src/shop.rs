//! The shop's logic: orders and their payment requests, payments claimed,
//! deposited at the bank over HTTP and answered with a signed receipt, the
//! goods for the holder of the goods key, and the shop keeper's list.
//!
//! No goods without the bank's ack, checked against the pinned master key,
//! and one payment per order: a payment claims its order before it goes to
//! the bank, and only the bank's definite refusal frees the order for
//! another. When the bank's answer is lost, the claim is kept for that
//! payment and [`Shop::settle`] sends it again until the bank answers.

mod error;
mod offline;
mod payment;

use std::sync::Arc;

use ecash_core::messages::{PayReq, PaymentResponse};
use ecash_core::shop::{Delivery, ORDER_LIST_MAX, OrderList};
use ecash_core::{B32, Clock, Keypair};

use crate::bank::BankLink;
use crate::catalog;
use crate::store::{self, ShopDbError, ShopStore};

pub use error::ShopError;

/// Unpaid orders are forgotten this long after they expire, in seconds.
const FORGET_UNPAID_AFTER_SECS: u64 = 24 * 3600;

/// Claims settled per round of [`Shop::settle`].
const SETTLE_BATCH: usize = 32;

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
    /// The name the bank is asked to certify the shop under.
    pub name: String,
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
        let clearing = self.bank.clearing();
        let certificate = self
            .bank
            .certificate(&self.key, &self.account_id, &self.settings.name)
            .await;
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
            merchant_certificate: certificate,
            merchant_bank_url: clearing.bank_url,
            accepted_mints: clearing.accepted,
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

/// The payment request an order was made with.
fn stored_payreq(order: &store::Order) -> Result<PayReq, ShopError> {
    serde_json::from_str(&order.payreq_json)
        .map_err(|_| ShopError::Internal("a stored payment request is corrupt".into()))
}

/// An endpoint's path with one parameter filled in.
fn api_path<E: ecash_core::api::Endpoint<Params = str>>(param: &str) -> String {
    E::path(param)
}
