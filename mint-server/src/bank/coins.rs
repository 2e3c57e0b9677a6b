//! The checks and the signing that withdrawals, exchanges and deposits
//! share: keys and their windows, blinded-message ranges, coin signatures,
//! spent state, and the blind signing itself on the bank's own pool.

use std::collections::HashSet;
use std::sync::Arc;

use ecash_core::canonical::Canonical;
use ecash_core::{B32, BlindedCoin, Coin, Fixed, blind_rsa};

use super::metrics::Metrics;
use super::{Bank, BankError, BankResult};
use crate::keys::{DenomKey, KeyState};
use crate::storage::{CoinId, IssuedSig};

/// From this many coins on, signatures are verified in parallel (see [`Bank::check_coins`]).
const PARALLEL_VERIFY_MIN: usize = 2;

/// A coin checked against the keys: its value.
pub(crate) struct CheckedCoin<'a> {
    pub(crate) coin: &'a Coin,
    pub(crate) value: u64,
}

impl CheckedCoin<'_> {
    /// (serial, key id) of each coin, as storage records them.
    pub(crate) fn spent(coins: &[Self]) -> Vec<CoinId> {
        coins
            .iter()
            .map(|c| (c.coin.serial, c.coin.key_id))
            .collect()
    }

    /// The coins' total value.
    pub(crate) fn total(coins: &[Self]) -> Option<u64> {
        coins.iter().try_fold(0u64, |a, c| a.checked_add(c.value))
    }
}

impl Bank {
    /// The key that may sign new coins now, or why not.
    fn withdraw_key<'a>(
        state: &'a KeyState,
        key_id: &B32,
        now: u64,
        revoked_ok: bool,
    ) -> BankResult<&'a Arc<DenomKey>> {
        if !revoked_ok && state.revocation(key_id).is_some() {
            return Err(BankError::KeyRevoked(*key_id));
        }
        match state.active.get(key_id) {
            Some(k) if k.info.can_withdraw(now) => Ok(k),
            Some(_) => Err(BankError::KeyExpired {
                key: *key_id,
                why: "does not sign new coins now",
            }),
            None if state.expired.contains_key(key_id) => Err(BankError::KeyExpired {
                key: *key_id,
                why: "has expired",
            }),
            None => Err(BankError::UnknownKey(*key_id)),
        }
    }

    /// The withdrawable key of every blinded coin, after the checks its
    /// signing would make (length, `0 < m < n`): a request refused for any
    /// of them costs the bank no private-key operation.
    pub(crate) fn signable<'a>(
        state: &'a KeyState,
        coins: &[BlindedCoin],
        now: u64,
    ) -> BankResult<Vec<&'a Arc<DenomKey>>> {
        Self::signable_with(state, coins, now, false)
    }

    /// [`Bank::signable`] for a request journaled before its keys were
    /// revoked, whose inputs are gone already (a cleared exchange): signed
    /// all the same, its coins then recoupable, rather than lost.
    pub(crate) fn signable_journaled<'a>(
        state: &'a KeyState,
        coins: &[BlindedCoin],
        at: u64,
    ) -> BankResult<Vec<&'a Arc<DenomKey>>> {
        Self::signable_with(state, coins, at, true)
    }

    fn signable_with<'a>(
        state: &'a KeyState,
        coins: &[BlindedCoin],
        now: u64,
        revoked_ok: bool,
    ) -> BankResult<Vec<&'a Arc<DenomKey>>> {
        // One blinded coin twice would be paid twice for one coin.
        let mut seen = HashSet::new();
        coins
            .iter()
            .enumerate()
            .map(|(i, c)| {
                if !seen.insert(&c.blinded_msg.0) {
                    return Err(BankError::BlindedRefused {
                        index: i + 1,
                        reason: "the same blinded coin is in the request twice".into(),
                    });
                }
                let k = Self::withdraw_key(state, &c.key_id, now, revoked_ok)?;
                blind_rsa::check_blinded_msg(&k.public, &c.blinded_msg.0).map_err(|e| {
                    BankError::BlindedRefused {
                        index: i + 1,
                        reason: e.to_string(),
                    }
                })?;
                Ok(k)
            })
            .collect()
    }

    /// The value of blinded coins signed with `keys`.
    pub(crate) fn blinded_total(keys: &[&Arc<DenomKey>]) -> BankResult<u64> {
        keys.iter().try_fold(0u64, |acc, k| {
            acc.checked_add(k.info.value.value)
                .ok_or(BankError::Overflow)
        })
    }

    /// Signs every blinded coin with the keys [`Bank::signable`] checked, in
    /// order: (hash of the blinded coin, blind signature) each.
    pub(crate) fn sign_all(
        &self,
        coins: &[BlindedCoin],
        keys: Vec<&Arc<DenomKey>>,
    ) -> BankResult<Vec<IssuedSig>> {
        // RSA signing dominates a withdrawal: spread it over all cores on the
        // bank's own signing pool, apart from the HTTP workers and the blocking pool.
        use rayon::prelude::*;
        self.signing_pool.install(|| {
            coins
                .par_iter()
                .zip(keys)
                .enumerate()
                .map(|(i, (c, k))| {
                    Metrics::count(&self.metrics.blind_signatures);
                    let sig = k.signer.blind_sign(&c.blinded_msg.0).map_err(|e| match e {
                        blind_rsa::BlindRsaError::SigningFailed => {
                            tracing::error!("blind signing failed its own check");
                            BankError::Internal("signing failed")
                        }
                        other => BankError::BlindedRefused {
                            index: i + 1,
                            reason: other.to_string(),
                        },
                    })?;
                    Ok(IssuedSig {
                        blinded_hash: Fixed(c.canonical_hash()),
                        key_id: c.key_id,
                        signature: sig,
                    })
                })
                .collect()
        })
    }

    /// The key of a coin in its deposit window, once the coin's signature
    /// verifies under it: what deposits, exchanges and recoups each check.
    pub(crate) fn coin_key<'s>(
        &self,
        state: &'s KeyState,
        coin: &Coin,
        now: u64,
    ) -> BankResult<&'s Arc<DenomKey>> {
        let k = match state.active.get(&coin.key_id) {
            Some(k) if k.info.can_deposit(now) => k,
            Some(_) => {
                return Err(BankError::KeyExpired {
                    key: coin.key_id,
                    why: "is not valid yet",
                });
            }
            None if state.expired.contains_key(&coin.key_id) => {
                return Err(BankError::KeyExpired {
                    key: coin.key_id,
                    why: "has expired",
                });
            }
            None => return Err(BankError::UnknownKey(coin.key_id)),
        };
        Metrics::count(&self.metrics.coin_checks);
        k.signer
            .verify_coin(coin)
            .map_err(|_| BankError::InvalidCoin)?;
        Ok(k)
    }

    /// Checks coins for deposit or exchange: known key inside its deposit
    /// window, valid signature, no serial twice. Returns each coin's value.
    pub(crate) fn check_coins<'a>(
        &self,
        state: &KeyState,
        coins: &'a [Coin],
        now: u64,
    ) -> BankResult<Vec<CheckedCoin<'a>>> {
        let mut seen = HashSet::new();
        if let Some(c) = coins.iter().find(|c| !seen.insert(c.serial)) {
            return Err(BankError::DuplicateCoin(c.key_id));
        }
        let check = |coin: &'a Coin| -> BankResult<CheckedCoin<'a>> {
            if state.revocation(&coin.key_id).is_some() {
                return Err(BankError::KeyRevoked(coin.key_id));
            }
            let k = self.coin_key(state, coin, now)?;
            Ok(CheckedCoin {
                coin,
                value: k.info.value.value,
            })
        };
        // Coins are checked on the signing pool's cores. Even for an 8-coin
        // payment this beats checking them on the request's thread
        // (mint-bench: ~16.5k vs ~13.7k deposited coins/s on 2 cores).
        if coins.len() < PARALLEL_VERIFY_MIN {
            return coins.iter().map(check).collect();
        }
        use rayon::prelude::*;
        self.signing_pool
            .install(|| coins.par_iter().map(check).collect())
    }

    /// Refuses with [`BankError::Spent`] (naming them) if any of these coins is spent.
    pub(crate) fn refuse_spent(&self, coins: &[CoinId]) -> BankResult<()> {
        let spent: Vec<B32> = self
            .storage
            .spent(coins)?
            .into_iter()
            .zip(coins)
            .filter_map(|(is_spent, (s, _))| is_spent.then_some(*s))
            .collect();
        if spent.is_empty() {
            Ok(())
        } else {
            Err(BankError::Spent(spent))
        }
    }
}
