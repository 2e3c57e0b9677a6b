//! Changes to persist in one atomic batch, then mirror in memory.

use ecash_core::keyset::SeenKeys;
use ecash_core::{B32, SignedKeySet, VerifiedKeySet};
use serde::Serialize;

use crate::error::WalletError;
use crate::records::*;
use crate::store::{StoreError, Write};

/// A key set accepted, with what the wallet now remembers of key sets.
pub(crate) struct KeysUpdate {
    pub(crate) signed: SignedKeySet,
    pub(crate) verified: VerifiedKeySet,
    /// The bank's certification, under a pinned certifier.
    pub(crate) papers: Option<Papers>,
    pub(crate) seen: SeenKeys,
    pub(crate) fetched_at: u64,
}

/// One batch: store writes, and what they change in memory.
#[derive(Default)]
pub(crate) struct Batch {
    pub(crate) writes: Vec<Write>,
    pub(crate) coins_put: Vec<CoinRecord>,
    pub(crate) coins_del: Vec<B32>,
    pub(crate) ops_put: Vec<Operation>,
    pub(crate) ops_del: Vec<String>,
    pub(crate) hist_put: Vec<(String, HistoryEntry)>,
    pub(crate) keys: Option<Box<KeysUpdate>>,
    pub(crate) papers: Option<Box<Papers>>,
    pub(crate) mints_put: Vec<super::KnownMint>,
}

pub(crate) fn json<T: Serialize>(v: &T) -> Result<String, WalletError> {
    serde_json::to_string(v).map_err(|e| StoreError(format!("encoding a record: {e}")).into())
}

impl Batch {
    pub(crate) fn put_coin(&mut self, r: CoinRecord) -> Result<(), WalletError> {
        self.writes
            .push(Write::Put(coin_key(&r.coin.serial), json(&r)?));
        self.coins_put.push(r);
        Ok(())
    }

    /// A raw write (records that are not mirrored in memory: meta, counters).
    pub(crate) fn raw(&mut self, w: Write) {
        self.writes.push(w);
    }

    pub(crate) fn del_coin(&mut self, serial: B32) {
        self.writes.push(Write::Delete(coin_key(&serial)));
        self.coins_del.push(serial);
    }

    pub(crate) fn put_op(&mut self, op: Operation) -> Result<(), WalletError> {
        self.writes.push(Write::Put(op_key(&op.id), json(&op)?));
        self.ops_put.push(op);
        Ok(())
    }

    pub(crate) fn del_op(&mut self, id: &str) {
        self.writes.push(Write::Delete(op_key(id)));
        self.ops_del.push(id.to_owned());
    }

    /// A history line of `amount` at `at`; returns its id.
    pub(crate) fn history(
        &mut self,
        at: u64,
        amount: u64,
        event: Event,
    ) -> Result<String, WalletError> {
        let e = HistoryEntry {
            id: super::new_id()?,
            at,
            amount,
            event,
        };
        let id = e.id.clone();
        self.put_history(e)?;
        Ok(id)
    }

    pub(crate) fn put_history(&mut self, e: HistoryEntry) -> Result<(), WalletError> {
        let key = history_key(e.at, &e.id);
        self.writes.push(Write::Put(key.clone(), json(&e)?));
        self.hist_put.push((key, e));
        Ok(())
    }

    /// The key set accepted, and the keys remembered with it.
    pub(crate) fn keys(&mut self, k: KeysUpdate) -> Result<(), WalletError> {
        self.writes
            .push(Write::Put(KEYS_KEY.into(), json(&k.signed)?));
        self.writes
            .push(Write::Put(SEEN_KEYS_KEY.into(), json(&k.seen)?));
        if let Some(p) = &k.papers {
            self.writes.push(Write::Put(PAPERS_KEY.into(), json(p)?));
        }
        self.keys = Some(Box::new(k));
        Ok(())
    }

    /// Another bank added or checked again.
    pub(crate) fn put_mint(&mut self, m: super::KnownMint) -> Result<(), WalletError> {
        self.writes
            .push(Write::Put(mint_key(&m.keys.set.bank_id), json(&m.record)?));
        self.mints_put.push(m);
        Ok(())
    }

    /// The bank's papers, alone (a newer revocation list that refused the bank).
    pub(crate) fn papers(&mut self, p: Papers) -> Result<(), WalletError> {
        self.writes.push(Write::Put(PAPERS_KEY.into(), json(&p)?));
        self.papers = Some(Box::new(p));
        Ok(())
    }
}
