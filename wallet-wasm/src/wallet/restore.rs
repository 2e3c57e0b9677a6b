//! Restore from seed: re-derive every blinded coin, fetch the bank's stored
//! blind signatures, keep the coins that are still unspent (looked up in the
//! bank's public spent lists, so the bank never learns which coins).
//!
//! Privacy cost that remains: `/restore` shows the bank the blinded coins of
//! this seed, so it learns which withdrawals and exchanges were this
//! wallet's (it knew the withdrawals already, from the account). It learns
//! nothing of the coins' serials, nor which were spent or are held.

use std::collections::BTreeMap;

use ecash_core::api;
use ecash_core::messages::RestoreRequest;
use ecash_core::spent::SpentSet;
use ecash_core::{B32, PendingCoin};
use serde::{Deserialize, Serialize};

use super::batch::Batch;
use super::io::{Await, Input, Io, Machine, Next};
use super::{Progress, ProgressFn, State, Wallet, WalletSettings, ensure_empty};
use crate::error::WalletError;
use crate::records::*;
use crate::secrets::Seed;
use crate::store::{Store, Write};
use crate::transport::Transport;

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

/// One key being scanned: a window of counters, asked in chunks.
struct Scan {
    key_id: B32,
    start: u64,
    window: Vec<(u64, PendingCoin)>,
    hit: bool,
    next_free: u64,
}

enum Phase {
    /// The next key to scan (index into the key list), or the spent lists.
    NextKey(usize),
    /// A chunk of the window asked about.
    Asked(
        Await<api::Restore>,
        Box<Scan>,
        usize,
        Vec<(u64, PendingCoin)>,
    ),
    /// A key's spent list asked for.
    SpentList(Await<api::SpentCoins>, B32),
    /// The whole restore is being written.
    Writing(RestoreReport),
    Finished,
}

/// Scans every key of the bank's key set: counters in windows of `gap`
/// until a window finds nothing.
pub(crate) struct Restore {
    identity: Vec<Write>,
    gap: u64,
    key_ids: Vec<B32>,
    found: Vec<CoinRecord>,
    counters: Vec<(B32, u64)>,
    lists: BTreeMap<B32, SpentSet>,
    phase: Phase,
}

impl Restore {
    pub(crate) fn new(s: &State, identity: Vec<Write>) -> Self {
        Self {
            identity,
            gap: s.settings.restore_gap.max(1),
            key_ids: s.keys.keys.keys().copied().collect(),
            found: Vec::new(),
            counters: Vec::new(),
            lists: BTreeMap::new(),
            phase: Phase::NextKey(0),
        }
    }

    /// A window of counters of `key_id` from `start`, blinded.
    fn window(
        &self,
        s: &State,
        key_id: B32,
        start: u64,
        next_free: u64,
    ) -> Result<Scan, WalletError> {
        let key = s.known_key(&key_id)?;
        let counters: Vec<u64> = (start..start + self.gap).collect();
        let window = counters
            .iter()
            .copied()
            .zip(s.seed.coins(key, &counters)?)
            .collect();
        Ok(Scan {
            key_id,
            start,
            window,
            hit: false,
            next_free,
        })
    }

    /// Asks about the next chunk of the scan's window, or moves on.
    fn ask(
        &mut self,
        s: &State,
        mut scan: Box<Scan>,
        key_index: usize,
    ) -> Result<Next<RestoreReport>, WalletError> {
        if scan.window.is_empty() {
            if scan.hit {
                let next = self.window(s, scan.key_id, scan.start + self.gap, scan.next_free)?;
                return self.ask(s, Box::new(next), key_index);
            }
            if scan.next_free > 0 {
                self.counters.push((scan.key_id, scan.next_free));
            }
            self.phase = Phase::NextKey(key_index + 1);
            return Ok(Next::Io(Io::Progress(Progress {
                phase: "restoring",
                done: key_index + 1,
                total: self.key_ids.len(),
            })));
        }
        let n = scan.window.len().min(RESTORE_CHUNK);
        let chunk: Vec<(u64, PendingCoin)> = scan.window.drain(..n).collect();
        let req = RestoreRequest {
            blinded: chunk.iter().map(|(_, p)| p.blinded.clone()).collect(),
        };
        let (call, io) = Await::<api::Restore>::at_base(s.bank(), &(), &req)?;
        self.phase = Phase::Asked(call, scan, key_index, chunk);
        Ok(Next::Io(io))
    }

    /// The next key whose spent list is needed, or the whole restore written.
    fn lists_or_write(&mut self, s: &State) -> Result<Next<RestoreReport>, WalletError> {
        if let Some(key_id) = self
            .found
            .iter()
            .map(|r| r.coin.key_id)
            .find(|k| !self.lists.contains_key(k))
        {
            let (call, io) = Await::<api::SpentCoins>::at_base(s.bank(), &key_id, &())?;
            self.phase = Phase::SpentList(call, key_id);
            return Ok(Next::Io(io));
        }
        // Which found coins are spent: checked here against each key's
        // public spent list, the same for every client.
        let unspent: Vec<CoinRecord> = self
            .found
            .iter()
            .filter(|r| {
                !self
                    .lists
                    .get(&r.coin.key_id)
                    .is_some_and(|l| l.contains(&r.coin.serial))
            })
            .cloned()
            .collect();
        let report = RestoreReport {
            found: self.found.len(),
            unspent: unspent.len(),
            value: unspent.iter().map(|r| r.value).sum(),
        };
        // One batch: the wallet exists in the store only with its counters set
        // past every restored coin, so new coins never reuse their secrets.
        let mut b = Batch::default();
        for (k, n) in &self.counters {
            b.raw(Write::Put(counter_key(k), n.to_string()));
        }
        for w in std::mem::take(&mut self.identity) {
            b.raw(w);
        }
        for r in unspent {
            b.put_coin(r)?;
        }
        b.history(
            s.now(),
            report.value,
            Event::Restored {
                coins: report.unspent,
            },
        )?;
        self.phase = Phase::Writing(report);
        Ok(Next::Io(Io::Commit(b)))
    }
}

impl Machine for Restore {
    type Output = RestoreReport;

    fn resume(&mut self, s: &State, input: Input) -> Result<Next<RestoreReport>, WalletError> {
        match std::mem::replace(&mut self.phase, Phase::Finished) {
            Phase::NextKey(i) => match self.key_ids.get(i).copied() {
                Some(key_id) => {
                    let scan = self.window(s, key_id, 0, 0)?;
                    self.ask(s, Box::new(scan), i)
                }
                None => self.lists_or_write(s),
            },
            Phase::Asked(call, mut scan, i, chunk) => {
                let resp = call.receive(input)?;
                if resp.blind_signatures.len() != chunk.len() {
                    return Err(WalletError::BadAnswer {
                        url: call.url().to_owned(),
                        reason: "wrong number of answers".into(),
                    });
                }
                let key = s.known_key(&scan.key_id)?;
                for ((counter, p), sig) in chunk.iter().zip(&resp.blind_signatures) {
                    let Some(sig) = sig else { continue };
                    let coin = p.finalize(&key.key, &sig.0).map_err(|_| {
                        WalletError::Tampered("a restored blind signature does not verify".into())
                    })?;
                    scan.hit = true;
                    scan.next_free = scan.next_free.max(counter + 1);
                    self.found.push(CoinRecord {
                        coin,
                        value: key.info.value.value,
                        deposit_until: key.info.deposit_until,
                        reserved_by: None,
                        bank_id: None,
                        derivation: Some(Derivation {
                            key_id: scan.key_id,
                            counter: *counter,
                        }),
                    });
                }
                self.ask(s, scan, i)
            }
            Phase::SpentList(call, key_id) => {
                let list = call.receive(input)?;
                let set = list
                    .verify(&s.meta.master_key, &key_id)
                    .map_err(|e| WalletError::Tampered(e.to_string()))?;
                self.lists.insert(key_id, set);
                self.lists_or_write(s)
            }
            Phase::Writing(report) => {
                input.committed()?;
                Ok(Next::Done(report))
            }
            Phase::Finished => Err(WalletError::Crypto("restore resumed after its end".into())),
        }
    }
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
        trust: impl Into<super::Trust>,
        phrase: &str,
        settings: WalletSettings,
        progress: Option<ProgressFn<'_>>,
    ) -> Result<(Self, RestoreReport), WalletError> {
        let seed = Seed::from_phrase(phrase)?;
        ensure_empty(&store).await?;
        let trust = trust.into();
        let (mut w, identity) = Self::connect(store, net, bank_url, &trust, seed, settings).await?;
        let m = Restore::new(&w.state, identity);
        let report = w.run(m, progress).await?;
        Ok((w, report))
    }
}
