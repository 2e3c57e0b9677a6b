//! Receiving offline, as a payee: the wallet issues an invoice of
//! single-use requests, takes a payer's token with no network (every check
//! of `OFFLINE.md` section 4), and deposits what it took once the bank
//! answers, in journaled batches checked against the pinned master key.

use ecash_core::api;
use ecash_core::offline::messages::{MAX_BATCH, OfflineDepositRequest, OfflineOutcome};
use ecash_core::offline::payee::check_spend;
use ecash_core::offline::{NONCE_LEN, PaymentRequest};
use ecash_core::{B32, Fixed, Signed};
use serde::{Deserialize, Serialize};

use super::super::Wallet;
use super::super::batch::Batch;
use super::super::keys::Single;
use super::{
    Book, OfflinePayment, OpenRequest, PendingDeposit, ReceivedRecord, deposit_key, put,
    received_key, request_key,
};
use crate::error::WalletError;
use crate::platform;
use crate::records::Event;
use crate::store::{Store, Write};
use crate::transport::Transport;

/// Prefix of an offline invoice (versioned).
pub const INVOICE_PREFIX: &str = "ecashreq1";
/// How long this wallet's requests stay open, seconds: a payer must answer
/// within it, and a coin whose key closes sooner is refused.
pub const REQUEST_WINDOW_SECS: u64 = 3600;
/// Requests per invoice: the most coins a payer may use for it.
pub const INVOICE_REQUESTS: usize = 8;

const INVOICE: super::Text = super::Text {
    prefix: INVOICE_PREFIX,
    max: 16 * 1024,
    what: "an offline invoice",
    err: WalletError::Payreq,
};

/// What a payee shows the payer (as text, a QR code or a link fragment):
/// the amount and single-use requests, one per coin the payer may use.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OfflineInvoice {
    /// The bank whose offline coins it takes.
    pub bank_id: String,
    /// Minor units.
    pub amount: u64,
    /// The requests, all of one payee.
    pub requests: Vec<PaymentRequest>,
}

impl OfflineInvoice {
    /// The invoice text.
    pub fn encode(&self) -> Result<String, WalletError> {
        INVOICE.encode(self)
    }

    /// Reads an invoice: an amount, 1 to [`INVOICE_REQUESTS`] requests of one
    /// payee with distinct nonces.
    pub fn decode(text: &str) -> Result<Self, WalletError> {
        let inv: Self = INVOICE.decode(text)?;
        let n = inv.requests.len();
        if n == 0 || n > INVOICE_REQUESTS || inv.amount == 0 {
            return Err(WalletError::Payreq(format!(
                "an offline invoice asks a positive amount with 1 to {INVOICE_REQUESTS} requests"
            )));
        }
        let payee = &inv.requests[0].payee_id;
        let nonces: std::collections::BTreeSet<_> = inv.requests.iter().map(|r| r.nonce).collect();
        if nonces.len() != n || inv.requests.iter().any(|r| &r.payee_id != payee) {
            return Err(WalletError::Payreq(
                "an offline invoice's requests are one payee's, each nonce once".into(),
            ));
        }
        Ok(inv)
    }
}

/// What an offline token brought in.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OfflineReceived {
    /// Value, minor units.
    pub amount: u64,
    /// Coins.
    pub coins: usize,
}

/// What a deposit of received offline coins came to, by the bank's receipts.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OfflineDepositDone {
    /// Coins deposited.
    pub coins: usize,
    /// Credited to the account, minor units (first deposits, and what the
    /// double spenders' collateral paid).
    pub credited: u64,
    /// Coins their payer had spent before elsewhere.
    pub double_spent: usize,
    /// Coins the bank refused (their spend does not hold); written off.
    pub refused: usize,
}

impl<S: Store, T: Transport> Wallet<S, T> {
    /// An invoice for `amount` of offline coins, to show the payer: single-use
    /// requests open [`REQUEST_WINDOW_SECS`], kept in the store. No network.
    pub async fn offline_invoice(&self, amount: u64) -> Result<String, WalletError> {
        if amount == 0 {
            return Err(WalletError::Input("ask a positive amount".into()));
        }
        let now = self.state.now();
        let mut writes = Vec::new();
        let mut requests = Vec::new();
        // Forget requests that can no longer be answered.
        for (k, r) in Book::load(&self.store).await?.requests {
            if r.request.issued_at.saturating_add(REQUEST_WINDOW_SECS) < now {
                writes.push(Write::Delete(super::key("req", &k)));
            }
        }
        for _ in 0..INVOICE_REQUESTS.min(usize::try_from(amount).unwrap_or(usize::MAX)) {
            let request = PaymentRequest {
                payee_id: self.state.meta.account_id.clone(),
                nonce: Fixed(platform::random::<NONCE_LEN>()?),
                issued_at: now,
            };
            writes.push(put(
                request_key(&request.nonce.0),
                &OpenRequest {
                    request: request.clone(),
                },
            )?);
            requests.push(request);
        }
        self.store.apply(writes).await?;
        OfflineInvoice {
            bank_id: self.state.keys.set.bank_id.clone(),
            amount,
            requests,
        }
        .encode()
    }

    /// Takes an offline payment token with no network: every spend answers
    /// an open request of this wallet's, under an offline key of the bank's
    /// set that stays open long enough, with its arithmetic right, for a
    /// coin not received before. All or nothing; kept to deposit later.
    pub async fn offline_receive(&mut self, token: &str) -> Result<OfflineReceived, WalletError> {
        let p = OfflinePayment::decode(token)?;
        let s = &self.state;
        if p.bank_id != s.keys.set.bank_id {
            return Err(WalletError::Offline(format!(
                "the token holds bank {}'s offline coins; this wallet banks at {}",
                p.bank_id, s.keys.set.bank_id
            )));
        }
        let now = s.now();
        let book = Book::load(&self.store).await?;
        let mut writes = Vec::new();
        let mut seen = std::collections::BTreeSet::new();
        let mut amount = 0u64;
        for (i, spend) in p.spends.iter().enumerate() {
            let r = &spend.request;
            let nonce = ecash_core::bytes::b64_encode(&r.nonce.0);
            let open = book
                .requests
                .get(&nonce)
                .is_some_and(|o| o.request == *r && r.payee_id == s.meta.account_id);
            if !open {
                return Err(WalletError::Offline(format!(
                    "spend {} answers no open request of this wallet (used already, or never issued)",
                    i + 1
                )));
            }
            if r.issued_at.saturating_add(REQUEST_WINDOW_SECS) < now {
                return Err(WalletError::Offline(format!(
                    "spend {}: the request expired",
                    i + 1
                )));
            }
            let (accepted, _) = check_spend(spend, &s.keys, now, REQUEST_WINDOW_SECS)
                .map_err(|e| WalletError::Offline(format!("spend {}: {e}", i + 1)))?;
            if book.received.contains_key(&accepted.coin_id)
                || book.seen.contains(&accepted.coin_id)
                || !seen.insert(accepted.coin_id)
            {
                return Err(WalletError::Offline(format!(
                    "spend {}: this coin was received before",
                    i + 1
                )));
            }
            amount = amount.saturating_add(accepted.value);
            writes.push(Write::Delete(request_key(&r.nonce.0)));
            writes.push(put(
                received_key(&accepted.coin_id),
                &ReceivedRecord {
                    coin_id: accepted.coin_id,
                    value: accepted.value,
                    spend: spend.clone(),
                    at: now,
                    batch: None,
                },
            )?);
        }
        let mut b = Batch::default();
        for w in writes {
            b.raw(w);
        }
        let coins = p.spends.len();
        b.history(now, amount, Event::OfflineReceived { coins })?;
        self.commit(b).await?;
        Ok(OfflineReceived { amount, coins })
    }

    /// Deposits what was received offline, in batches of up to
    /// [`MAX_BATCH`], each journaled before it is sent (a retry sends the
    /// very same one) and settled by the bank's receipt, checked against
    /// the pinned master key. A batch the bank refuses goes again one spend
    /// at a time, and only a spend refused alone is written off.
    pub async fn offline_deposit(&mut self) -> Result<OfflineDepositDone, WalletError> {
        let mut done = OfflineDepositDone::default();
        loop {
            let book = Book::load(&self.store).await?;
            let pending = match book.deposits.into_iter().next() {
                Some(p) => p,
                None => {
                    let batch: Vec<&ReceivedRecord> = book
                        .received
                        .values()
                        .filter(|r| r.batch.is_none())
                        .take(MAX_BATCH)
                        .collect();
                    if batch.is_empty() {
                        return Ok(done);
                    }
                    self.offline_journal_batch(&batch).await?
                }
            };
            self.offline_send_batch(pending, &mut done).await?;
        }
    }

    /// Journals a deposit batch of `spends`: the signed request, and each
    /// received record marked with its batch, in one step.
    async fn offline_journal_batch(
        &self,
        spends: &[&ReceivedRecord],
    ) -> Result<PendingDeposit, WalletError> {
        let s = &self.state;
        let request = Signed::sign(
            OfflineDepositRequest {
                payee_id: s.meta.account_id.clone(),
                batch_id: Fixed(platform::random::<32>()?),
                spends: spends.iter().map(|r| r.spend.clone()).collect(),
                timestamp: s.now(),
            },
            &s.account,
        );
        let pending = PendingDeposit { request };
        let id = pending.request.body.batch_id;
        let mut writes = vec![put(deposit_key(&id), &pending)?];
        for r in spends {
            let mut r = (*r).clone();
            r.batch = Some(id);
            writes.push(put(received_key(&r.coin_id), &r)?);
        }
        self.store.apply(writes).await?;
        Ok(pending)
    }

    async fn offline_send_batch(
        &mut self,
        pending: PendingDeposit,
        done: &mut OfflineDepositDone,
    ) -> Result<(), WalletError> {
        let req = &pending.request;
        let id = req.body.batch_id;
        let coins: Vec<B32> = req
            .body
            .spends
            .iter()
            .map(|s| ecash_core::offline::coin_id_of(&s.key_id, &s.signature.0))
            .collect();
        let bank = self.state.bank().to_owned();
        let answer = self
            .run_stateless(Single::<api::OfflineDeposit>::new(&bank, &(), req)?)
            .await;
        let mut b = Batch::default();
        b.raw(Write::Delete(deposit_key(&id)));
        match answer {
            Ok(receipt) => {
                if receipt.verify(&self.state.meta.master_key).is_err()
                    || !receipt.body.answers(&req.body)
                {
                    return Err(WalletError::Tampered(
                        "the bank's offline deposit receipt is not the pinned key's receipt of this batch"
                            .into(),
                    ));
                }
                let mut twice = 0;
                for r in &receipt.body.results {
                    if matches!(r.outcome, OfflineOutcome::DoubleSpent { .. }) {
                        twice += 1;
                    }
                    b.raw(Write::Delete(received_key(&r.coin_id)));
                    b.raw(Write::Put(super::seen_key(&r.coin_id), "1".into()));
                }
                done.coins += coins.len();
                done.credited = done.credited.saturating_add(receipt.body.credited);
                done.double_spent += twice;
                b.history(
                    self.state.now(),
                    receipt.body.credited,
                    Event::OfflineDeposited {
                        coins: coins.len(),
                        double_spent: twice,
                    },
                )?;
            }
            // Only a refusal about a spend writes anything off; one about the
            // bank, the account or the moment keeps everything for later.
            Err(WalletError::Refused { error, .. })
                if ecash_core::offline::messages::refuses_a_spend(error.code) =>
            {
                let book = Book::load(&self.store).await?;
                if coins.len() == 1 {
                    // Refused alone: this spend does not hold; written off.
                    b.raw(Write::Delete(received_key(&coins[0])));
                    b.raw(Write::Put(super::seen_key(&coins[0]), "1".into()));
                    done.refused += 1;
                } else {
                    // One spend spoils the batch: each goes again alone.
                    for c in &coins {
                        if let Some(r) = book.received.get(c) {
                            let mut r = r.clone();
                            r.batch = None;
                            b.raw(put(received_key(c), &r)?);
                        }
                    }
                    let solo: Vec<&ReceivedRecord> =
                        coins.iter().filter_map(|c| book.received.get(c)).collect();
                    self.commit(b).await?;
                    for r in solo {
                        let p = self.offline_journal_batch(&[r]).await?;
                        Box::pin(self.offline_send_batch(p, done)).await?;
                    }
                    return Ok(());
                }
            }
            Err(e) => return Err(e),
        }
        self.commit(b).await
    }
}
