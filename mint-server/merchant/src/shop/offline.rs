//! Offline (CAFE) payments at the shop: single-use requests, spends taken
//! with no bank (the shop's own list of coins received), and their deposit
//! in batches once the bank answers, each batch journaled before it is sent
//! so a retry sends the very same one.

use ecash_core::client::CallError;
use ecash_core::offline::messages::{
    MAX_BATCH, OfflineAccepted, OfflineDepositRequest, OfflineOutcome,
};
use ecash_core::offline::payee::{AcceptError, check_spend};
use ecash_core::offline::{PaymentRequest, Spend};
use ecash_core::{Amount, B32, Fixed, Signed};

use super::{Shop, ShopError, random};
use crate::bank::OfflineDepositError;
use crate::store::OfflineRefusal;

impl Shop {
    /// A fresh request for an offline payment, open for the payreq lifetime.
    pub async fn offline_request(&self) -> Result<PaymentRequest, ShopError> {
        let nonce = random::<16>()?;
        let now = self.clock.now();
        let forget = now.saturating_sub(self.settings.payreq_ttl);
        if !self
            .db(move |s| s.offline_request(&nonce, now, forget))
            .await?
        {
            return Err(ShopError::OfflineFull);
        }
        Ok(PaymentRequest {
            payee_id: self.account_id.clone(),
            nonce: Fixed(nonce),
            issued_at: now,
        })
    }

    /// Takes an offline spend with no bank: its request this shop's, open
    /// and unused; its key, window and arithmetic right; its coin new here.
    pub async fn offline_pay(&self, spend: Spend) -> Result<OfflineAccepted, ShopError> {
        if spend.request.payee_id != self.account_id {
            return Err(ShopError::OfflineRequest);
        }
        let now = self.clock.now();
        let window = self.settings.payreq_ttl;
        if spend.request.issued_at.saturating_add(window) < now {
            return Err(ShopError::Offline(AcceptError::Expired));
        }
        let (nonce, issued_at) = (spend.request.nonce.0, spend.request.issued_at);
        let open_since = now.saturating_sub(window);
        let json = serde_json::to_string(&spend)
            .map_err(|_| ShopError::Internal("encoding a spend".into()))?;
        // The cheap look-up first: the arithmetic is for requests still open.
        if !self
            .db(move |s| s.offline_request_open(&nonce, issued_at, open_since))
            .await?
        {
            // The very spend taken before (the payer lost the answer): the same answer.
            let coin = ecash_core::offline::coin_id_of(&spend.key_id, &spend.signature.0);
            let again = json.clone();
            if let Some((value, at)) = self.db(move |s| s.offline_taken(&coin, &again)).await? {
                let keys = self.bank.keys().await;
                return Ok(OfflineAccepted {
                    coin_id: coin,
                    value: Amount::new(keys.set.currency.clone(), value),
                    received_at: at,
                });
            }
            return Err(ShopError::OfflineRequest);
        }
        let keys = self.bank.keys().await;
        let (accepted, _) = check_spend(&spend, &keys, now, window).map_err(ShopError::Offline)?;
        let (coin, value) = (accepted.coin_id, accepted.value);
        self.db(move |s| s.offline_take(&nonce, issued_at, open_since, &coin, value, &json, now))
            .await?
            .map_err(|r| match r {
                OfflineRefusal::Request => ShopError::OfflineRequest,
                OfflineRefusal::Received => ShopError::OfflineReceived,
            })?;
        Ok(OfflineAccepted {
            coin_id: coin,
            value: Amount::new(keys.set.currency.clone(), value),
            received_at: now,
        })
    }

    /// Deposits the next batch of offline spends taken: how many settled.
    /// A bank that does not answer (or fails) leaves the batch for the next
    /// round; one that refuses a spend of a batch gets each spend again
    /// alone, and only the one it refuses is settled as refused.
    pub async fn deposit_offline(&self) -> Result<usize, ShopError> {
        let batch = self.db(|s| s.offline_unsettled(MAX_BATCH)).await?;
        let Some(first) = batch.first() else {
            return Ok(0);
        };
        let batch_id = match first.batch_id {
            Some(id) => id,
            None => {
                let id: B32 = Fixed(random::<32>()?);
                let coins: Vec<B32> = batch.iter().map(|b| b.coin_id).collect();
                self.db(move |s| s.offline_batch(&id, &coins)).await?;
                id
            }
        };
        let spends = batch
            .iter()
            .map(|b| serde_json::from_str::<Spend>(&b.spend_json))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| ShopError::Internal("a stored offline spend does not parse".into()))?;
        let req = Signed::sign(
            OfflineDepositRequest {
                payee_id: self.account_id.clone(),
                batch_id,
                spends,
                timestamp: self.clock.now(),
            },
            &self.key,
        );
        let results: Vec<(B32, &'static str, u64)> = match self.bank.offline_deposit(&req).await {
            Ok(receipt) => receipt
                .results
                .iter()
                .map(|r| match r.outcome {
                    OfflineOutcome::Credited { amount } => (r.coin_id, "credited", amount),
                    OfflineOutcome::DoubleSpent { paid, .. } => (r.coin_id, "double_spent", paid),
                    OfflineOutcome::Replayed => (r.coin_id, "replayed", 0),
                })
                .collect(),
            // A refusal about a spend (its key closed or revoked, its
            // arithmetic): of a batch, every spend goes again alone, so
            // only the one refused is written off.
            Err(OfflineDepositError::Call(CallError::Refused { error, .. }))
                if ecash_core::offline::messages::refuses_a_spend(error.code) =>
            {
                tracing::warn!(code = error.code.as_str(), message = %error.message,
                    "the bank refused an offline payment");
                if batch.len() > 1 {
                    self.db(move |s| s.offline_split(&batch_id)).await?;
                    return Ok(0);
                }
                batch.iter().map(|b| (b.coin_id, "refused", 0)).collect()
            }
            // Anything else (the bank down or failing, offline coins off
            // there, a bad receipt): kept, and sent again next round.
            Err(e) => {
                tracing::warn!(error = %e, "offline payments not deposited yet");
                return Ok(0);
            }
        };
        let n = results.len();
        self.db(move |s| s.offline_settled(&results)).await?;
        Ok(n)
    }
}
