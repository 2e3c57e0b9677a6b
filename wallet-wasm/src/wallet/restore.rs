//! Restore from seed: re-derive every blinded coin, fetch the bank's stored
//! blind signatures, keep the coins that are still unspent (looked up in the
//! bank's public spent lists, so the bank never learns which coins).
//!
//! Privacy cost that remains: `/restore` shows the bank the blinded coins of
//! this seed, so it learns which withdrawals and exchanges were this
//! wallet's (it knew the withdrawals already, from the account). It learns
//! nothing of the coins' serials, nor which were spent or are held.

use std::collections::BTreeMap;
use std::collections::btree_map::Entry;

use ecash_core::messages::{RestoreRequest, RestoreResponse};
use ecash_core::spent::{SpentList, SpentSet};
use ecash_core::{B32, PublicKey};
use serde::{Deserialize, Serialize};

use super::{Batch, ProgressFn, Wallet, WalletSettings, fetch_keys, http};
use crate::error::WalletError;
use crate::records::*;
use crate::secrets::Seed;
use crate::store::{Store, Write};
use crate::transport::Transport;
use crate::wallet::Progress;

/// Largest number of blinded coins in one `/restore` request.
const RESTORE_CHUNK: usize = 128;

/// What a restore found.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RestoreReport {
    /// Coins the bank had signed for this seed.
    pub found: usize,
    /// Of those, still unspent and now in the wallet.
    pub unspent: usize,
    /// Their value.
    pub value: u64,
}

impl<S: Store, T: Transport> Wallet<S, T> {
    /// Restores a wallet from its seed phrase into an empty `store`.
    ///
    /// For every denomination key in the bank's key set, counters are scanned
    /// in windows of `settings.restore_gap` until a window finds nothing.
    pub async fn restore(
        store: S,
        net: T,
        bank_url: &str,
        pinned: Option<PublicKey>,
        phrase: &str,
        settings: WalletSettings,
        mut progress: Option<ProgressFn<'_>>,
    ) -> Result<(Self, RestoreReport), WalletError> {
        let seed = Seed::from_phrase(phrase)?;
        if store.load_all().await?.iter().any(|(k, _)| k == META_KEY) {
            return Err(WalletError::WalletExists);
        }
        let (signed, keys) = fetch_keys(&net, bank_url, pinned.as_ref()).await?;
        let gap = settings.restore_gap.max(1);
        let (mut w, identity) =
            Self::init(store, net, bank_url, signed, keys, seed, settings).await?;
        let key_ids: Vec<B32> = w.keys.keys.keys().copied().collect();
        let mut found: Vec<CoinRecord> = Vec::new();
        let mut counters: Vec<(B32, u64)> = Vec::new();
        for (i, key_id) in key_ids.iter().enumerate() {
            if let Some(p) = progress.as_mut() {
                p(Progress {
                    phase: "restoring",
                    done: i,
                    total: key_ids.len(),
                });
            }
            let next = w.scan_key(key_id, gap, &mut found).await?;
            if next > 0 {
                counters.push((*key_id, next));
            }
        }
        // Which found coins are spent: checked here against each key's public
        // spent list, the same for every client. Asking the bank about the
        // coins would show it every coin this wallet holds.
        let mut lists: BTreeMap<B32, SpentSet> = BTreeMap::new();
        let mut unspent: Vec<CoinRecord> = Vec::new();
        for r in &found {
            let key_id = r.coin.key_id;
            if let Entry::Vacant(slot) = lists.entry(key_id) {
                slot.insert(w.spent_list(&key_id).await?);
            }
            if !lists
                .get(&key_id)
                .is_some_and(|l| l.contains(&r.coin.serial))
            {
                unspent.push(r.clone());
            }
        }
        let report = RestoreReport {
            found: found.len(),
            unspent: unspent.len(),
            value: unspent.iter().map(|r| r.value).sum(),
        };
        // One batch: the wallet exists in the store only with its counters set
        // past every restored coin, so new coins never reuse their secrets.
        let mut b = Batch::default();
        for (k, n) in &counters {
            b.raw(Write::Put(counter_key(k), n.to_string()));
        }
        for w in identity {
            b.raw(w);
        }
        for r in unspent {
            b.put_coin(r)?;
        }
        b.history(
            report.value,
            Event::Restored {
                coins: report.unspent,
            },
        )?;
        w.commit(b).await?;
        if let Some(p) = progress.as_mut() {
            p(Progress {
                phase: "restoring",
                done: key_ids.len(),
                total: key_ids.len(),
            });
        }
        Ok((w, report))
    }

    /// The bank's signed list of the coins spent under `key_id`, verified
    /// against the pinned master key.
    pub(crate) async fn spent_list(&self, key_id: &B32) -> Result<SpentSet, WalletError> {
        let url = self.url(&format!("/keys/{}/spent", key_id.to_b64()));
        let list: SpentList = http::get(&self.net, &url, &[]).await?;
        list.verify(&self.meta.master_key, key_id)
            .map_err(|e| WalletError::Tampered(e.to_string()))
    }

    /// Scans one key's counters; returns the first counter never used.
    async fn scan_key(
        &self,
        key_id: &B32,
        gap: u64,
        found: &mut Vec<CoinRecord>,
    ) -> Result<u64, WalletError> {
        let key = self.known_key(key_id)?;
        let mut start = 0u64;
        let mut next_free = 0u64;
        loop {
            let counters: Vec<u64> = (start..start + gap).collect();
            let pending: Vec<(u64, _)> = counters
                .iter()
                .copied()
                .zip(self.seed.coins(key, &counters)?)
                .collect();
            let mut hit = false;
            for chunk in pending.chunks(RESTORE_CHUNK) {
                let req = RestoreRequest {
                    blinded: chunk.iter().map(|(_, p)| p.blinded.clone()).collect(),
                };
                let resp: RestoreResponse =
                    http::post(&self.net, &self.url("/restore"), &req).await?;
                if resp.blind_signatures.len() != chunk.len() {
                    return Err(WalletError::BadAnswer {
                        url: self.url("/restore"),
                        reason: "wrong number of answers".into(),
                    });
                }
                for ((counter, p), sig) in chunk.iter().zip(&resp.blind_signatures) {
                    let Some(sig) = sig else { continue };
                    let coin = p.finalize(&key.key, &sig.0).map_err(|_| {
                        WalletError::Tampered("a restored blind signature does not verify".into())
                    })?;
                    hit = true;
                    next_free = next_free.max(counter + 1);
                    found.push(CoinRecord {
                        coin,
                        value: key.info.value.value,
                        deposit_until: key.info.deposit_until,
                        reserved_by: None,
                    });
                }
                crate::platform::yield_now().await;
            }
            if !hit {
                return Ok(next_free);
            }
            start += gap;
        }
    }
}
