//! Offline withdrawal: the bank's two rounds (`OFFLINE.md` section 3), each
//! coin journaled with its candidates before round 1 leaves, so a crash or
//! a cut connection never loses a coin the bank debited: the same signed
//! rounds are sent again, and the bank answers them as before.

use ecash_core::api;
use ecash_core::offline::messages::{
    OfflineOpenRequest, OfflineQuery, OfflineStanding, OfflineWithdrawRequest,
};
use ecash_core::offline::{Candidates, check_selection};
use ecash_core::{Fixed, Signed};
use serde::{Deserialize, Serialize};

use super::super::batch::Batch;
use super::super::keys::{RefreshKeys, Single};
use super::super::{Progress, ProgressFn, Wallet};
use super::{Book, OfflineCoinRecord, PendingWithdrawal, coin_key, put, withdrawal_key};
use crate::error::WalletError;
use crate::platform;
use crate::records::Event;
use crate::store::{Store, Write};
use crate::transport::Transport;

/// A finished offline withdrawal.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OfflineWithdrawDone {
    /// Value withdrawn, minor units.
    pub amount: u64,
    /// Offline coins made.
    pub coins: usize,
}

/// Whether `e` ends a withdrawal for good (the bank refused it) rather
/// than leaving it for another try.
fn final_refusal(e: &WalletError) -> bool {
    // Short of funds is for now: the bank keeps the withdrawal open.
    matches!(e, WalletError::Refused { .. })
        && !e.is_transient()
        && e.code() != "insufficient_funds"
}

impl<S: Store, T: Transport> Wallet<S, T> {
    /// The account's offline standing: collateral, allowance in use and
    /// free, penalties, freeze, and the next withdrawal's counter (a query
    /// signed by the account key).
    pub async fn offline_standing(&self) -> Result<OfflineStanding, WalletError> {
        let s = &self.state;
        let q = Signed::sign(
            OfflineQuery {
                account_id: s.meta.account_id.clone(),
                timestamp: s.now(),
            },
            &s.account,
        );
        self.run_stateless(Single::<api::OfflineStandingOf>::new(s.bank(), &(), &q)?)
            .await
    }

    /// Locks `amount` of the account's balance as collateral (or releases
    /// it, `lock = false`): the offline allowance. Released collateral
    /// comes back once the keys it backs close for deposits.
    pub async fn offline_collateral(
        &self,
        lock: bool,
        amount: u64,
    ) -> Result<OfflineStanding, WalletError> {
        let s = &self.state;
        let r = Signed::sign(
            ecash_core::offline::messages::CollateralRequest {
                account_id: s.meta.account_id.clone(),
                request_id: Fixed(platform::random::<32>()?),
                lock,
                amount: ecash_core::Amount::new(s.keys.set.currency.clone(), amount),
                timestamp: s.now(),
            },
            &s.account,
        );
        self.run_stateless(Single::<api::OfflineCollateral>::new(s.bank(), &(), &r)?)
            .await
    }

    /// Withdraws `amount` as offline coins against the offline allowance:
    /// one coin per offline denomination of the amount, each in the bank's
    /// two rounds. Withdrawals a crash interrupted are finished first.
    pub async fn offline_withdraw(
        &mut self,
        amount: u64,
        mut progress: Option<ProgressFn<'_>>,
    ) -> Result<OfflineWithdrawDone, WalletError> {
        if amount == 0 {
            return Err(WalletError::Input("withdraw a positive amount".into()));
        }
        self.state.check_papers()?;
        self.offline_finish_withdrawals().await?;
        self.run(RefreshKeys::when_stale(), None).await?;
        let now = self.state.now();
        // What each coin needs of its key, owned: the loop below changes the wallet.
        let keys: std::collections::BTreeMap<_, _> = self
            .state
            .keys
            .offline_withdraw_keys(now)
            .into_iter()
            .map(|(d, k)| (d, (k.key.clone(), k.info.key_id, k.info.value.value)))
            .collect();
        let denoms: Vec<_> = keys.keys().copied().collect();
        if denoms.is_empty() {
            return Err(WalletError::Input(
                "this bank issues no offline coins".into(),
            ));
        }
        let split = super::super::denominations_of(amount, &denoms)?;
        let mut standing = self.offline_standing().await?;
        if standing.frozen {
            return Err(WalletError::Offline(
                "the bank froze this account's offline allowance (an offline coin of it was spent twice)"
                    .into(),
            ));
        }
        if standing.available.value < amount {
            return Err(WalletError::InsufficientFunds {
                need: amount,
                have: standing.available.value,
            });
        }
        let total = split.len();
        for (i, d) in split.iter().enumerate() {
            if i > 0 {
                // Each withdrawal has its own counter and identity.
                standing = self.offline_standing().await?;
            }
            if let Some(p) = progress.as_mut() {
                p(Progress {
                    phase: "blinding",
                    done: i,
                    total,
                });
            }
            platform::yield_now().await;
            let (pk, key_id, value) = keys
                .get(d)
                .ok_or_else(|| WalletError::Crypto("a split denomination has no key".into()))?;
            let cands = Candidates::new(pk, *key_id, standing.next_identity)
                .map_err(|e| WalletError::Crypto(e.to_string()))?;
            let s = &self.state;
            let request = Signed::sign(
                OfflineWithdrawRequest {
                    account_id: s.meta.account_id.clone(),
                    request_id: Fixed(platform::random::<32>()?),
                    key_id: *key_id,
                    counter: standing.next_counter,
                    candidates: cands.blinded.clone(),
                    timestamp: s.now(),
                },
                &s.account,
            );
            let pending = PendingWithdrawal {
                candidates: cands
                    .stored(pk)
                    .map_err(|e| WalletError::Crypto(e.to_string()))?,
                request,
                value: *value,
                open: None,
            };
            // Journaled before it leaves: a crash from here on is finished by recover.
            self.store
                .apply(vec![put(
                    withdrawal_key(&pending.request.body.request_id),
                    &pending,
                )?])
                .await?;
            if let Some(p) = progress.as_mut() {
                p(Progress {
                    phase: "signing",
                    done: i,
                    total,
                });
            }
            self.offline_finish_one(pending).await?;
        }
        if let Some(p) = progress.as_mut() {
            p(Progress {
                phase: "signing",
                done: total,
                total,
            });
        }
        Ok(OfflineWithdrawDone {
            amount,
            coins: total,
        })
    }

    /// Finishes the withdrawals a crash or a cut connection left between
    /// their rounds; returns how many coins they made.
    pub async fn offline_finish_withdrawals(&mut self) -> Result<usize, WalletError> {
        let pending = Book::load(&self.store).await?.withdrawals;
        let mut made = 0;
        for p in pending {
            self.offline_finish_one(p).await?;
            made += 1;
        }
        Ok(made)
    }

    /// Both rounds of one journaled withdrawal (round 1 skipped when its
    /// answer is journaled), then the coin kept and the journal entry gone
    /// in one batch.
    async fn offline_finish_one(&mut self, mut p: PendingWithdrawal) -> Result<(), WalletError> {
        let request_id = p.request.body.request_id;
        let op = withdrawal_key(&request_id);
        let r = self.offline_rounds(&mut p).await;
        match r {
            Ok(rec) => {
                let mut b = Batch::default();
                b.raw(Write::Delete(op));
                b.raw(put(coin_key(&rec.id), &rec)?);
                b.history(
                    self.state.now(),
                    rec.value,
                    Event::OfflineWithdrawn { coins: 1 },
                )?;
                self.commit(b).await
            }
            Err(e) if final_refusal(&e) => {
                // The bank refused the withdrawal for good: nothing was debited.
                self.store.apply(vec![Write::Delete(op)]).await?;
                Err(e)
            }
            Err(e) => Err(WalletError::Interrupted {
                op: request_id.to_b64(),
                source: Box::new(e),
            }),
        }
    }

    async fn offline_rounds(
        &mut self,
        p: &mut PendingWithdrawal,
    ) -> Result<OfflineCoinRecord, WalletError> {
        let key_id = p.request.body.key_id;
        let k = self.state.keys.offline_key(&key_id).ok_or_else(|| {
            WalletError::Offline(format!(
                "offline key {key_id:?} is not in the bank's key set"
            ))
        })?;
        let (pk, deposit_until) = (k.key.clone(), k.info.deposit_until);
        let bank = self.state.bank().to_owned();
        let request_id = p.request.body.request_id;
        let open = match &p.open {
            Some(open) => open.clone(),
            None => {
                let ch = self
                    .run_stateless(Single::<api::OfflineWithdraw>::new(&bank, &(), &p.request)?)
                    .await?;
                if ch.request_id != request_id || check_selection(&ch.open).is_err() {
                    return Err(WalletError::BadAnswer {
                        url: bank,
                        reason: "the bank's choice of candidates is not a valid half of this withdrawal's"
                            .into(),
                    });
                }
                p.open = Some(ch.open.clone());
                self.store
                    .apply(vec![put(withdrawal_key(&request_id), &*p)?])
                    .await?;
                ch.open
            }
        };
        let crypto = |e: ecash_core::offline::OfflineError| WalletError::Crypto(e.to_string());
        let cands = Candidates::from_stored(&pk, &p.candidates).map_err(crypto)?;
        let s = &self.state;
        let open_req = Signed::sign(
            OfflineOpenRequest {
                account_id: s.meta.account_id.clone(),
                request_id,
                openings: cands.open(&pk, &open).map_err(crypto)?,
                timestamp: s.now(),
            },
            &s.account,
        );
        let sig = self
            .run_stateless(Single::<api::OfflineOpen>::new(&bank, &(), &open_req)?)
            .await?;
        if sig.request_id != request_id {
            return Err(WalletError::BadAnswer {
                url: bank,
                reason: "the blind signature is for another withdrawal".into(),
            });
        }
        let coin = cands
            .finish(&pk, &open, &sig.blind_signature.0)
            .map_err(|e| WalletError::Tampered(format!("the bank's offline signature: {e}")))?;
        Ok(OfflineCoinRecord {
            id: coin.id(),
            value: p.value,
            deposit_until,
            withdrawn_at: self.state.now(),
            coin: coin.stored(),
        })
    }
}
