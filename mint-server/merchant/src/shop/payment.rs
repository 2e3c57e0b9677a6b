//! A payment's way through the shop: checked against its request, the
//! order claimed for it, deposited at the bank, and the claim settled by
//! the bank's answer (paid, freed, or left to [`Shop::settle`]).

use std::sync::Arc;

use ecash_core::client::CallError;
use ecash_core::messages::{
    Deposit, DepositAck, PayReq, Payment, PaymentResponse, Receipt, description_hash,
};
use ecash_core::{B32, ErrorCode, Signed, envelope};
use ecash_serve::limits::{ClientIp, ClientQuota};

use super::{SETTLE_BATCH, Shop, ShopError, random, stored_payreq};
use crate::store::{self, Claim};

impl Shop {
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
    /// the order: another request, another merchant, coins of a bank its bank
    /// does not take,
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
        // The shop's bank's own coins, or those of a bank it clears with
        // (as the payreq said; the bank itself decides at deposit).
        if !payreq.accepts(&info.bank_id) || payreq.merchant_bank_id != keys.set.bank_id {
            return Err(ShopError::Mismatch(
                "coins of a bank the shop's bank does not take",
            ));
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
