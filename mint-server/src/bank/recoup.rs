//! `POST /recoup`: coins of a revoked denomination key taken back once each
//! for fresh coins, when they link to a blind signature this bank issued
//! and that signature was not extorted (the chapter's "perfect crime": the
//! extortionist's coins become worthless, and nobody else's do).

use std::collections::HashSet;

use ecash_core::canonical::Canonical;
use ecash_core::coin::CoinSecrets;
use ecash_core::messages::{BlindSignatures, RecoupCoin, RecoupRequest};
use ecash_core::rsa::traits::PublicKeyParts;
use ecash_core::{B32, BlindedCoin, Bytes, Fixed, blind_rsa};

use super::withdraw::Swap;
use super::{Bank, BankError, BankResult, replayed};
use crate::keys::KeyState;

impl Bank {
    /// `POST /recoup`. Every check is public-key work (the coin's signature,
    /// its link) before the outputs are signed; the coins are spent and the
    /// outputs signed once, as an exchange is.
    pub fn recoup(&self, req: &RecoupRequest) -> BankResult<BlindSignatures> {
        self.check_not_clearing(&req.request_id)?;
        self.check_count(req.coins.len(), "coins")?;
        self.check_count(req.outputs.len(), "outputs")?;
        let request_hash = Fixed(req.canonical_hash());
        if let Some(a) = self.storage.exchange(&req.request_id)? {
            return replayed(a, &request_hash);
        }
        // A coin spent or recouped before is answered as spent (its holder
        // drops it), before the work of linking it.
        let coins: Vec<crate::storage::CoinId> = req
            .coins
            .iter()
            .map(|rc| (rc.coin.serial, rc.coin.key_id))
            .collect();
        self.refuse_spent(&coins)?;
        let now = self.clock.now();
        let state = self.keys.current();
        let keys = Self::signable(&state, &req.outputs, now)?;
        let total_out = Self::blinded_total(&keys)?;
        let mut seen = HashSet::new();
        let mut total_in = 0u64;
        let mut spent = Vec::with_capacity(req.coins.len());
        let mut recouped = Vec::with_capacity(req.coins.len());
        for (i, rc) in req.coins.iter().enumerate() {
            if !seen.insert(rc.coin.serial) {
                return Err(BankError::DuplicateCoin(rc.coin.key_id));
            }
            let (value, link) = self.check_recoup(&state, i + 1, rc, now)?;
            if recouped.contains(&link) {
                return Err(BankError::RecoupRefused {
                    index: i + 1,
                    why: "two coins link to one blind signature",
                });
            }
            total_in = total_in.checked_add(value).ok_or(BankError::Overflow)?;
            spent.push((rc.coin.serial, rc.coin.key_id));
            recouped.push(link);
        }
        if total_in != total_out {
            return Err(BankError::AmountMismatch(
                "outputs must add up to exactly the coins recouped",
            ));
        }
        tracing::info!(coins = spent.len(), amount = total_in, "recoup");
        self.swap_coins(Swap {
            request_id: req.request_id,
            request_hash,
            spent,
            recouped,
            outputs: &req.outputs,
            keys,
            now,
        })
    }

    /// One coin of a recoup: of a revoked key still listed, validly signed,
    /// and linked by its coin seed to a blind signature this bank
    /// issued to a request not marked extorted. Its value, and the hash of
    /// the blinded coin it links to.
    fn check_recoup(
        &self,
        state: &KeyState,
        index: usize,
        rc: &RecoupCoin,
        now: u64,
    ) -> BankResult<(u64, B32)> {
        let coin = &rc.coin;
        if state.revocation(&coin.key_id).is_none() {
            return Err(BankError::RecoupRefused {
                index,
                why: "its key is not revoked (exchange it instead)",
            });
        }
        let k = self.coin_key(state, coin, now)?;
        // Everything follows from the coin's seed, the blinding factor
        // too: a hash output, which nobody can aim at another withdrawal's
        // blind signature.
        let secrets = CoinSecrets::from_coin_seed(&rc.coin_seed.0, k.public.size())
            .map_err(|_| BankError::Internal("deriving a coin's secrets"))?;
        if secrets.serial != coin.serial.0 || secrets.prefix != coin.msg_prefix.0 {
            return Err(BankError::RecoupRefused {
                index,
                why: "its seed gives another coin",
            });
        }
        let (blinded, blind_sig) =
            blind_rsa::reblind(&k.public, &coin.signature.0, &secrets.r_bytes).map_err(|_| {
                BankError::RecoupRefused {
                    index,
                    why: "its seed gives no blinding factor",
                }
            })?;
        let hash: B32 = Fixed(
            BlindedCoin {
                key_id: coin.key_id,
                blinded_msg: Bytes(blinded),
            }
            .canonical_hash(),
        );
        let origins = self.storage.signature_origins(&hash)?;
        let linked: Vec<B32> = origins
            .issued
            .into_iter()
            .filter(|(_, sig)| sig == &blind_sig)
            .map(|(request_id, _)| request_id)
            .collect();
        if linked.is_empty() {
            return Err(BankError::RecoupRefused {
                index,
                why: "it links to no blind signature this bank issued",
            });
        }
        if self.storage.any_extorted(&linked)? {
            tracing::warn!(key_id = %coin.key_id, "recoup of an extorted coin refused");
            return Err(BankError::RecoupRefused {
                index,
                why: "it links to a withdrawal marked as extorted",
            });
        }
        // Checked again atomically at the commit; here so that no signing
        // is done for a link already taken back.
        if origins.recouped {
            return Err(BankError::RecoupRefused {
                index,
                why: "the blind signature it links to was recouped before",
            });
        }
        Ok((k.info.value.value, hash))
    }
}
