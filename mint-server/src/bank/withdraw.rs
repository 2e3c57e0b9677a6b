//! `POST /withdraw` and `POST /exchange`: blind signatures, debited once.

use ecash_core::canonical::Canonical;
use ecash_core::messages::{BlindSignatures, ExchangeRequest, WithdrawRequest};
use ecash_core::{B32, Bytes, Fixed, Signed};

use super::coins::CheckedCoin;
use super::{Bank, BankError, BankResult, parse_stored, replayed, to_json};
use crate::storage::{IssuedSig, NewExchange, NewWithdrawal};

/// The answer to a withdraw or exchange: its blind signatures in request order.
pub(super) fn blind_signatures_answer(
    request_id: B32,
    signatures: &[IssuedSig],
) -> BlindSignatures {
    BlindSignatures {
        request_id,
        blind_signatures: signatures
            .iter()
            .map(|s| Bytes(s.signature.clone()))
            .collect(),
    }
}

impl Bank {
    /// `POST /withdraw`: verify, debit once, sign every blinded coin.
    pub fn withdraw(&self, req: &Signed<WithdrawRequest>) -> BankResult<BlindSignatures> {
        let body = &req.body;
        self.check_count(body.coins.len(), "coins")?;
        let key = self.account_key(&body.account_id)?;
        req.verify(&key)
            .map_err(|_| BankError::BadSignature("withdraw request signature does not verify"))?;
        let request_hash = Fixed(body.canonical_hash());
        if let Some(a) = self.storage.withdrawal(&body.request_id)? {
            return replayed(a, &request_hash);
        }
        self.check_amount(&body.amount)?;
        let now = self.clock.now();
        let state = self.keys.current();
        let keys = Self::signable(&state, &body.coins, now)?;
        // One withdrawal of an account signs at a time: a second one sees the
        // first's debit in the balance check below, before any signing. And
        // one request id: its second sender gets the first's answer, later.
        let _held = self
            .busy_accounts
            .take(std::slice::from_ref(&body.account_id))
            .ok_or(BankError::InProgress("this account"))?;
        let _request = self
            .busy_requests
            .take(&[body.request_id])
            .ok_or(BankError::InProgress("this request id"))?;
        // Its first sender may have finished while this one waited.
        if let Some(a) = self.storage.withdrawal(&body.request_id)? {
            return replayed(a, &request_hash);
        }
        let total = Self::blinded_total(&keys)?;
        if total != body.amount.value {
            return Err(BankError::AmountMismatch(
                "the coins do not add up to the amount asked for",
            ));
        }
        // Cheap early refusal before the costly signing; storage re-checks atomically.
        let balance = self
            .storage
            .account(&body.account_id)?
            .map(|a| a.balance)
            .unwrap_or(0);
        if balance < total {
            // This very request may have committed on another node since
            // the look-up above, its debit being what the balance lacks.
            if let Some(a) = self.storage.withdrawal(&body.request_id)? {
                return replayed(a, &request_hash);
            }
            return Err(BankError::InsufficientFunds {
                balance,
                needed: total,
            });
        }
        let signatures = self.sign_all(&body.coins, keys)?;
        let response = blind_signatures_answer(body.request_id, &signatures);
        let stored = self.storage.commit_withdrawal(&NewWithdrawal {
            request_id: body.request_id,
            request_hash,
            account_id: body.account_id.clone(),
            amount: total,
            signatures,
            response_json: to_json(&response)?,
            now,
        })?;
        parse_stored(&stored.response_json)
    }

    /// `POST /exchange`: coins in, new blind signatures of the same total out.
    pub fn exchange(&self, req: &ExchangeRequest) -> BankResult<BlindSignatures> {
        self.check_not_clearing(&req.request_id)?;
        self.check_count(req.coins.len(), "coins")?;
        self.check_count(req.outputs.len(), "outputs")?;
        let request_hash = Fixed(req.canonical_hash());
        if let Some(a) = self.storage.exchange(&req.request_id)? {
            return replayed(a, &request_hash);
        }
        let now = self.clock.now();
        let state = self.keys.current();
        let keys = Self::signable(&state, &req.outputs, now)?;
        let total_out = Self::blinded_total(&keys)?;
        let checked = self.check_coins(&state, &req.coins, now)?;
        if CheckedCoin::total(&checked) != Some(total_out) {
            return Err(BankError::AmountMismatch(
                "outputs must add up to exactly the coins given",
            ));
        }
        self.swap_coins(Swap {
            request_id: req.request_id,
            request_hash,
            spent: CheckedCoin::spent(&checked),
            recouped: Vec::new(),
            outputs: &req.outputs,
            keys,
            now,
        })
    }

    /// The end of an exchange or a recoup whose cheap checks passed: the
    /// coins spent and the outputs signed, once, atomically.
    pub(super) fn swap_coins(&self, x: Swap<'_>) -> BankResult<BlindSignatures> {
        // Spent coins are refused before any signing, so a spent coin cannot
        // buy private-key work; the commit below checks again atomically.
        // Coins another request is spending wait for it.
        let serials: Vec<B32> = x.spent.iter().map(|(s, _)| *s).collect();
        let _held = self
            .busy_coins
            .take(&serials)
            .ok_or(BankError::InProgress("these coins"))?;
        let _request = self
            .busy_requests
            .take(&[x.request_id])
            .ok_or(BankError::InProgress("this request id"))?;
        // Its first sender may have finished while this one waited: the
        // coins are spent by that very request, so answer as it was.
        if let Some(a) = self.storage.exchange(&x.request_id)? {
            return replayed(a, &x.request_hash);
        }
        if let Err(e) = self.refuse_spent(&x.spent) {
            // Spent by this very request, committed on another node meanwhile.
            if let Some(a) = self.storage.exchange(&x.request_id)? {
                return replayed(a, &x.request_hash);
            }
            return Err(e);
        }
        let signatures = self.sign_all(x.outputs, x.keys)?;
        let response = blind_signatures_answer(x.request_id, &signatures);
        let stored = self.storage.commit_exchange(&NewExchange {
            request_id: x.request_id,
            request_hash: x.request_hash,
            spent: x.spent,
            signatures,
            recouped: x.recouped,
            response_json: to_json(&response)?,
            now: x.now,
        })?;
        parse_stored(&stored.response_json)
    }
}

/// Coins checked in, outputs checked out: what [`Bank::swap_coins`] commits.
pub(super) struct Swap<'a> {
    pub(super) request_id: B32,
    pub(super) request_hash: B32,
    pub(super) spent: Vec<crate::storage::CoinId>,
    /// For a recoup: the blinded coins its coins link to.
    pub(super) recouped: Vec<B32>,
    pub(super) outputs: &'a [ecash_core::BlindedCoin],
    pub(super) keys: Vec<&'a std::sync::Arc<crate::keys::DenomKey>>,
    pub(super) now: u64,
}
