//! A blocking client of the bank's offline (CAFE) endpoints: the wallet's
//! two-round withdrawal and the payee's batch deposit, for tests.

use ecash_core::api;
use ecash_core::client::CallError;
use ecash_core::offline::messages::*;
use ecash_core::offline::{Candidates, OfflineCoin, Spend};
use ecash_core::{B32, Fixed, Signed};

use crate::client::{Account, SyncBank};

/// The first round's answer and what the wallet keeps for the second.
pub struct Begun {
    /// The wallet's candidates.
    pub candidates: Candidates,
    /// The key.
    pub key_id: B32,
    /// The withdrawal.
    pub request_id: B32,
    /// The bank's choice of candidates to open.
    pub open: Vec<u16>,
}

impl SyncBank {
    /// The account's offline standing.
    pub fn offline_standing(&self, acct: &Account) -> Result<OfflineStanding, CallError> {
        let q = OfflineQuery {
            account_id: acct.id.clone(),
            timestamp: self.now(),
        };
        self.call::<api::OfflineStandingOf>(&(), &Signed::sign(q, &acct.key))
    }

    /// Locks (or releases) `value` of the account's balance as collateral.
    pub fn collateral(
        &self,
        acct: &Account,
        lock: bool,
        value: u64,
    ) -> Result<OfflineStanding, CallError> {
        let r = CollateralRequest {
            account_id: acct.id.clone(),
            request_id: Fixed(crate::random32()),
            lock,
            amount: self.amount(value),
            timestamp: self.now(),
        };
        self.call::<api::OfflineCollateral>(&(), &Signed::sign(r, &acct.key))
    }

    /// The offline key of `value` that signs now.
    pub fn offline_key_of(&self, value: u64) -> B32 {
        let keys = self.keys.offline_withdraw_keys(self.now());
        keys.values()
            .find(|k| k.info.value.value == value)
            .map(|k| k.info.key_id)
            .expect("an offline key of this value")
    }

    /// Round 1 of an offline withdrawal of a coin of key `key_id`.
    pub fn offline_begin(&self, acct: &Account, key_id: B32) -> Result<Begun, CallError> {
        let standing = self.offline_standing(acct)?;
        let counter = standing.next_counter;
        // An online key too: tests show the bank refuses it.
        let pk = &self
            .keys
            .offline_key(&key_id)
            .or_else(|| self.keys.key(&key_id))
            .expect("a key of the set")
            .key;
        let candidates = Candidates::new(pk, key_id, standing.next_identity).expect("candidates");
        let req = OfflineWithdrawRequest {
            account_id: acct.id.clone(),
            request_id: Fixed(crate::random32()),
            key_id,
            counter,
            candidates: candidates.blinded.clone(),
            timestamp: self.now(),
        };
        let request_id = req.request_id;
        let ch = self.call::<api::OfflineWithdraw>(&(), &Signed::sign(req, &acct.key))?;
        Ok(Begun {
            candidates,
            key_id,
            request_id,
            open: ch.open,
        })
    }

    /// Round 2: opens what the bank chose and finishes the coin.
    pub fn offline_finish(&self, acct: &Account, begun: Begun) -> Result<OfflineCoin, CallError> {
        let pk = &self
            .keys
            .offline_key(&begun.key_id)
            .expect("offline key")
            .key;
        let openings = begun.candidates.open(pk, &begun.open).expect("openings");
        let req = OfflineOpenRequest {
            account_id: acct.id.clone(),
            request_id: begun.request_id,
            openings,
            timestamp: self.now(),
        };
        let sig = self.call::<api::OfflineOpen>(&(), &Signed::sign(req, &acct.key))?;
        Ok(begun
            .candidates
            .finish(pk, &begun.open, &sig.blind_signature.0)
            .expect("the coin verifies"))
    }

    /// Both rounds: an offline coin of `value`.
    pub fn offline_withdraw(&self, acct: &Account, value: u64) -> Result<OfflineCoin, CallError> {
        let begun = self.offline_begin(acct, self.offline_key_of(value))?;
        self.offline_finish(acct, begun)
    }

    /// Deposits `spends` as one batch of `payee`'s, under `batch_id`.
    pub fn offline_deposit_as(
        &self,
        payee: &Account,
        batch_id: B32,
        spends: &[Spend],
    ) -> Result<Signed<OfflineDepositReceipt>, CallError> {
        let req = OfflineDepositRequest {
            payee_id: payee.id.clone(),
            batch_id,
            spends: spends.to_vec(),
            timestamp: self.now(),
        };
        self.call::<api::OfflineDeposit>(&(), &Signed::sign(req, &payee.key))
    }

    /// Deposits `spends` as a new batch of `payee`'s; the receipt checked
    /// against the pinned master key.
    pub fn offline_deposit(
        &self,
        payee: &Account,
        spends: &[Spend],
    ) -> Result<OfflineDepositReceipt, CallError> {
        let r = self.offline_deposit_as(payee, Fixed(crate::random32()), spends)?;
        r.verify(&self.master).expect("the receipt is the bank's");
        Ok(r.body)
    }
}
