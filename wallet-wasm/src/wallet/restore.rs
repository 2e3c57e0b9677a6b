//! Restore from seed: re-derive every blinded coin, fetch the bank's stored
//! blind signatures, keep the coins that are still unspent (looked up in the
//! bank's public spent lists, so the bank never learns which coins). The
//! same scan finds the coins of another bank the wallet added again.
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
/// Most windows scanned per key, and in all: a bank that claims to have
/// signed every blinded coin it is shown would otherwise keep the scan
/// going for ever.
const MAX_WINDOWS: u32 = 256;
const MAX_WINDOWS_IN_ALL: u32 = 1024;

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
    window: Vec<(Derivation, PendingCoin)>,
    /// Whether the window also holds [`Scheme::V1`] coins: the first
    /// wallets' derivation, until a window finds v2 coins and no v1 ones
    /// (a wallet's counters move on, so an upgraded wallet never goes back).
    legacy: bool,
    hit_v1: bool,
    hit_v2: bool,
    next_free: u64,
    /// Windows scanned of this key so far, this one included.
    windows: u32,
    /// On a live wallet: the window's counters are reserved in the store
    /// before any of it is shown to the bank.
    reserved: bool,
}

enum Phase {
    /// Another bank's scan on a live wallet: its counters are read first
    /// (a reserve of nothing). At a bank scanned before, coins below them
    /// this wallet made itself (held, spent, or in a journaled operation),
    /// so the scan starts there; at a bank not scanned yet the wallet made
    /// none (it derives nothing there until it is), so it starts at zero.
    ReadStarts,
    /// Those counters asked for.
    StartsRead,
    /// The next key to scan (index into the key list), or the spent lists.
    NextKey(usize),
    /// A window's counters being reserved before it is shown.
    Reserving(Box<Scan>, usize),
    /// A chunk of the window asked about.
    Asked(
        Await<api::Restore>,
        Box<Scan>,
        usize,
        Vec<(Derivation, PendingCoin)>,
    ),
    /// A key's spent list asked for.
    SpentList(Await<api::SpentCoins>, B32),
    /// The whole restore is being written.
    Writing(RestoreReport),
    Finished,
}

/// Scans every key of a bank's key set: counters in windows of `gap`
/// until a window finds nothing.
pub(crate) struct Restore {
    /// Whose keys: another known bank's (on a live wallet), or the wallet's
    /// own (a new wallet from its phrase, written with `identity`).
    at: Option<String>,
    identity: Vec<Write>,
    gap: u64,
    key_ids: Vec<B32>,
    /// Per key, the counter the scan starts at.
    starts: BTreeMap<B32, u64>,
    /// On a live wallet, per key: the store's counter as far as this scan
    /// knows (another tab may have moved it further; reserving more than
    /// needed is harmless).
    known: BTreeMap<B32, u64>,
    /// Windows scanned in all.
    windows: u32,
    found: Vec<CoinRecord>,
    /// Per key scanned (in `key_ids` order), the counter past every blinded
    /// coin shown to the bank.
    counters: Vec<(B32, u64)>,
    lists: BTreeMap<B32, SpentSet>,
    phase: Phase,
}

impl Restore {
    pub(crate) fn new(s: &State, identity: Vec<Write>) -> Self {
        let keys = s.keys.keys.keys().copied().collect();
        Self::scanning(s, None, identity, keys, Phase::NextKey(0))
    }

    /// Scans the keys of `bank_id`, another bank the wallet knows.
    pub(crate) fn at_bank(s: &State, bank_id: &str) -> Result<Self, WalletError> {
        let keys = s.other(bank_id)?.keys.keys.keys().copied().collect();
        let at = Some(bank_id.to_owned());
        Ok(Self::scanning(s, at, Vec::new(), keys, Phase::ReadStarts))
    }

    fn scanning(
        s: &State,
        at: Option<String>,
        identity: Vec<Write>,
        key_ids: Vec<B32>,
        phase: Phase,
    ) -> Self {
        Self {
            at,
            identity,
            gap: s.settings.restore_gap.max(1),
            key_ids,
            starts: BTreeMap::new(),
            known: BTreeMap::new(),
            windows: 0,
            found: Vec::new(),
            counters: Vec::new(),
            lists: BTreeMap::new(),
            phase,
        }
    }

    /// The counter of every key scanned, with nothing added (a read).
    fn read_counters(&self) -> Io {
        Io::Reserve(self.key_ids.iter().map(|k| (counter_key(k), 0)).collect())
    }

    /// The base URL of the bank scanned.
    fn base<'a>(&self, s: &'a State) -> Result<&'a str, WalletError> {
        match &self.at {
            None => Ok(s.bank()),
            Some(id) => Ok(&s.other(id)?.record.url),
        }
    }

    /// The master key of the bank scanned.
    fn master(&self, s: &State) -> Result<ecash_core::PublicKey, WalletError> {
        match &self.at {
            None => Ok(s.meta.master_key),
            Some(id) => Ok(s.other(id)?.record.certificate.master_public_key),
        }
    }

    /// A window of counters of `key_id` from `start`, blinded under each
    /// scheme the scan still looks for.
    fn window(
        &mut self,
        s: &State,
        key_id: B32,
        start: u64,
        legacy: bool,
        next_free: u64,
        windows: u32,
    ) -> Result<Scan, WalletError> {
        self.windows += 1;
        if windows > MAX_WINDOWS || self.windows > MAX_WINDOWS_IN_ALL {
            return Err(WalletError::Tampered(format!(
                "the bank claims more coins for this seed than a wallet makes \
                 ({} windows of {} counters)",
                self.windows, self.gap
            )));
        }
        let key = s.known_key(&key_id)?;
        let counters: Vec<u64> = (start..start + self.gap).collect();
        let schemes: &[Scheme] = if legacy {
            &[Scheme::V2, Scheme::V1]
        } else {
            &[Scheme::V2]
        };
        let mut window = Vec::with_capacity(counters.len() * schemes.len());
        for &scheme in schemes {
            for (&counter, p) in counters.iter().zip(s.seed.coins(key, &counters, scheme)?) {
                let d = Derivation {
                    key_id,
                    counter,
                    scheme: Some(scheme),
                };
                window.push((d, p));
            }
        }
        Ok(Scan {
            key_id,
            start,
            window,
            legacy,
            hit_v1: false,
            hit_v2: false,
            next_free,
            windows,
            reserved: self.at.is_none(),
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
            if scan.hit_v1 || scan.hit_v2 {
                let legacy = scan.legacy && (scan.hit_v1 || !scan.hit_v2);
                let next = self.window(
                    s,
                    scan.key_id,
                    scan.start + self.gap,
                    legacy,
                    scan.next_free,
                    scan.windows + 1,
                )?;
                return self.ask(s, Box::new(next), key_index);
            }
            // Past the last window, not just the last coin found: the bank
            // saw every blinded coin of it, and new coins must be ones it
            // has not seen (else it could link them to this scan).
            self.counters
                .push((scan.key_id, scan.start.saturating_add(self.gap)));
            self.phase = Phase::NextKey(key_index + 1);
            return Ok(Next::Io(Io::Progress(Progress {
                phase: "restoring",
                done: key_index + 1,
                total: self.key_ids.len(),
            })));
        }
        if !scan.reserved {
            // Counters past the window first: if the scan stops half-way,
            // new coins are still ones the bank has not been shown.
            scan.reserved = true;
            let end = scan.start.saturating_add(self.gap);
            let known = self.known.get(&scan.key_id).copied().unwrap_or(0);
            if end > known {
                self.known.insert(scan.key_id, end);
                let reserve = vec![(counter_key(&scan.key_id), end - known)];
                self.phase = Phase::Reserving(scan, key_index);
                return Ok(Next::Io(Io::Reserve(reserve)));
            }
        }
        let n = scan.window.len().min(RESTORE_CHUNK);
        let chunk: Vec<(Derivation, PendingCoin)> = scan.window.drain(..n).collect();
        let req = RestoreRequest {
            blinded: chunk.iter().map(|(_, p)| p.blinded.clone()).collect(),
        };
        let (call, io) = Await::<api::Restore>::at_base(self.base(s)?, &(), &req)?;
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
            let (call, io) = Await::<api::SpentCoins>::at_base(self.base(s)?, &key_id, &())?;
            self.phase = Phase::SpentList(call, key_id);
            return Ok(Next::Io(io));
        }
        // Which found coins are spent: checked here against each key's
        // public spent list, the same for every client. Coins the wallet
        // holds already stay as they are.
        let unspent: Vec<CoinRecord> = self
            .found
            .iter()
            .filter(|r| {
                !self
                    .lists
                    .get(&r.coin.key_id)
                    .is_some_and(|l| l.contains(&r.coin.serial))
                    && !s.coins.contains_key(&r.coin.serial)
            })
            .cloned()
            .collect();
        let report = RestoreReport {
            found: self.found.len(),
            unspent: unspent.len(),
            value: unspent.iter().map(|r| r.value).sum(),
        };
        if self.at.is_some() {
            // A live wallet: its counters moved on window by window.
            return self.write(s, Batch::default(), unspent, report);
        }
        // One batch: the wallet exists in the store only with its counters set
        // past every restored coin, so new coins never reuse their secrets.
        let mut b = Batch::default();
        for (k, n) in &self.counters {
            b.raw(Write::Put(counter_key(k), n.to_string()));
        }
        for w in std::mem::take(&mut self.identity) {
            b.raw(w);
        }
        self.write(s, b, unspent, report)
    }

    /// Commits the coins found unspent, with a line of history.
    fn write(
        &mut self,
        s: &State,
        mut b: Batch,
        unspent: Vec<CoinRecord>,
        report: RestoreReport,
    ) -> Result<Next<RestoreReport>, WalletError> {
        for r in unspent {
            b.put_coin(r)?;
        }
        if let Some(id) = &self.at {
            // Scanned: new coins can be derived there now.
            let mut m = s.other(id)?.clone();
            m.record.unscanned = false;
            b.put_mint(m)?;
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
            Phase::ReadStarts => {
                self.phase = Phase::StartsRead;
                Ok(Next::Io(self.read_counters()))
            }
            Phase::StartsRead => {
                let counters = match input {
                    Input::Reserved(r) => r?,
                    _ => return Err(super::journal::out_of_turn()),
                };
                let unscanned = match &self.at {
                    Some(id) => s.other(id)?.record.unscanned,
                    None => false,
                };
                self.known = self.key_ids.iter().copied().zip(counters).collect();
                self.starts = if unscanned {
                    BTreeMap::new()
                } else {
                    self.known.clone()
                };
                self.phase = Phase::NextKey(0);
                self.resume(s, Input::Start)
            }
            Phase::NextKey(i) => match self.key_ids.get(i).copied() {
                Some(key_id) => {
                    let start = self.starts.get(&key_id).copied().unwrap_or(0);
                    let scan = self.window(s, key_id, start, true, start, 1)?;
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
                for ((d, p), sig) in chunk.iter().zip(&resp.blind_signatures) {
                    let Some(sig) = sig else { continue };
                    let coin = p.finalize(&key.key, &sig.0).map_err(|_| {
                        WalletError::Tampered("a restored blind signature does not verify".into())
                    })?;
                    match d.scheme {
                        Some(Scheme::V1) => scan.hit_v1 = true,
                        _ => scan.hit_v2 = true,
                    }
                    scan.next_free = scan.next_free.max(d.counter + 1);
                    self.found.push(CoinRecord {
                        coin,
                        value: key.info.value.value,
                        deposit_until: key.info.deposit_until,
                        reserved_by: None,
                        bank_id: self.at.clone(),
                        derivation: Some(*d),
                    });
                }
                self.ask(s, scan, i)
            }
            Phase::SpentList(call, key_id) => {
                let list = call.receive(input)?;
                let set = list
                    .verify(&self.master(s)?, &key_id)
                    .map_err(|e| WalletError::Tampered(e.to_string()))?;
                self.lists.insert(key_id, set);
                self.lists_or_write(s)
            }
            Phase::Reserving(scan, i) => {
                match input {
                    Input::Reserved(r) => r?,
                    _ => return Err(super::journal::out_of_turn()),
                };
                self.ask(s, scan, i)
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
    /// Looks for this seed's coins at `bank_id`, another bank the wallet
    /// knows (add it again after a restore: the phrase does not say which
    /// other banks the wallet used), and keeps those still unspent.
    ///
    /// Privacy cost: that bank sees the blinded coins of this seed, so it
    /// learns which of its exchanges were this wallet's (never the coins'
    /// serials, nor which are held). Only a person's request starts it.
    pub async fn restore_mint(
        &mut self,
        bank_id: &str,
        progress: Option<ProgressFn<'_>>,
    ) -> Result<RestoreReport, WalletError> {
        // Its papers checked again first: a bank no longer certified is
        // shown nothing of this seed.
        let url = self.state.other(bank_id)?.record.url.clone();
        let fetch = super::mints::FetchMint::new(&self.state, &url)?;
        self.run(fetch, None).await?;
        let m = Restore::at_bank(&self.state, bank_id)?;
        self.run(m, progress).await
    }

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
        let (mut w, mut identity) =
            Self::connect(store, net, bank_url, &trust, seed, settings).await?;
        // The phrase does not say which other banks the seed used: each one
        // added is scanned before new coins are derived there.
        w.state.meta.restored = true;
        for write in &mut identity {
            if let Write::Put(k, v) = write
                && k == META_KEY
            {
                *v = super::batch::json(&w.state.meta)?;
            }
        }
        let m = Restore::new(&w.state, identity);
        let report = w.run(m, progress).await?;
        Ok((w, report))
    }
}
