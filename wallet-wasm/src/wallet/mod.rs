//! The wallet: its state in memory, mirrored to a [`Store`] in atomic
//! batches, and its operations as state machines ([`io`]) that one driver
//! runs against the store and the transport.
//!
//! - lifecycle ([`Wallet::create`], [`Wallet::open`]) and queries: here;
//! - [`io`]: the requests an operation makes and the driver that performs them;
//! - [`keys`]: first contact with a bank, and fetching its key set again;
//! - [`outputs`]: new coins' secrets reserved and blinded, and signatures unblinded;
//! - [`journal`]: a journaled request run to its end, and `recover`;
//! - [`withdraw`], [`exchange`], [`pay`], [`receive`], [`restore`]: one
//!   module per operation;
//! - [`answers`]: what a shop's answers must look like (pure checks).

pub mod answers;
mod batch;
mod exchange;
mod io;
mod journal;
mod keys;
mod mints;
pub mod offline;
mod outputs;
mod pay;
mod receive;
mod recover;
mod restore;
mod withdraw;

use std::collections::BTreeMap;
use std::sync::Arc;

use ecash_core::amount::Denomination;
use ecash_core::api;
use ecash_core::keyset::SeenKeys;
use ecash_core::messages::AccountStatement;
use ecash_core::{Amount, B32, Clock, Keypair, SignedKeySet, VerifiedKeySet};
use serde::{Deserialize, Serialize};

use crate::error::WalletError;
use crate::platform;
use crate::records::*;
use crate::secrets::Seed;
use crate::select::Candidate;
use crate::store::{Store, StoreError, Write};
use crate::transport::Transport;

pub use answers::Offer;
pub use keys::Trust;
pub use mints::{KnownMint, MintBalance};
pub use pay::PaymentDone;
pub use recover::RecoverReport;
pub use restore::RestoreReport;
pub use withdraw::WithdrawDone;

use batch::Batch;
use io::{Machine, Mirror};

/// Tunables, and the clock the wallet tells time by.
#[derive(Clone, Debug)]
pub struct WalletSettings {
    /// Coins whose key stops being accepted within this many seconds are exchanged by `recover`.
    pub expiry_margin_secs: u64,
    /// Restore stops scanning a key after this many unused counters in a row.
    pub restore_gap: u64,
    /// A payment whose shop never answers is settled with the bank this long
    /// after its payment request expired (time for the shop's late deposit).
    pub payment_grace_secs: u64,
    /// Now, in unix seconds (the host's clock; tests pass one they move).
    pub clock: Arc<dyn Clock>,
}

impl Default for WalletSettings {
    fn default() -> Self {
        Self {
            expiry_margin_secs: 7 * 24 * 3600,
            restore_gap: 32,
            payment_grace_secs: 15 * 60,
            clock: Arc::new(platform::HostClock),
        }
    }
}

/// A step of a long operation, for progress bars.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Progress {
    /// `blinding`, `signing`, `unblinding`, `restoring`.
    pub phase: &'static str,
    /// Steps done.
    pub done: usize,
    /// Steps in all.
    pub total: usize,
}

/// A progress callback.
pub type ProgressFn<'a> = &'a mut dyn FnMut(Progress);

/// The wallet's coins by denomination.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Balance {
    /// Currency code.
    pub currency: String,
    /// Value of every coin held.
    pub total: u64,
    /// Value free to spend now.
    pub spendable: u64,
    /// Value held by unfinished operations (recover resolves them).
    pub reserved: u64,
    /// Per denomination, largest first.
    pub denominations: Vec<DenominationBalance>,
}

/// Coins of one value.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DenominationBalance {
    /// Coin value.
    pub value: u64,
    /// How many.
    pub count: usize,
    /// The soonest `deposit_until` among them.
    pub next_expiry: u64,
}

/// An unfinished operation, as shown to people.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PendingOp {
    /// Journal id.
    pub id: String,
    /// What it is.
    pub kind: String,
    /// Unix seconds.
    pub started_at: u64,
    /// Recovery attempts so far.
    pub attempts: u32,
    /// Why it has not finished.
    pub last_error: Option<String>,
}

/// A random id for operations and history lines.
pub(crate) fn new_id() -> Result<String, WalletError> {
    Ok(hex::encode(platform::random::<8>()?))
}

/// What the wallet knows: what operations read, and what committed batches change.
pub struct State {
    pub(crate) settings: WalletSettings,
    pub(crate) meta: Meta,
    pub(crate) seed: Seed,
    pub(crate) account: Keypair,
    pub(crate) keys: VerifiedKeySet,
    /// The bank's certificate and the newest revocation list (under a certifier).
    pub(crate) papers: Option<Papers>,
    /// The key for each value and period in every key set accepted so far.
    pub(crate) seen: SeenKeys,
    /// Other certified banks, by bank id (NetCash).
    pub(crate) others: BTreeMap<String, KnownMint>,
    pub(crate) coins: BTreeMap<B32, CoinRecord>,
    pub(crate) ops: BTreeMap<String, Operation>,
    pub(crate) history: BTreeMap<String, HistoryEntry>,
    /// When the key set was last fetched (0: not since opening).
    pub(crate) keys_fetched_at: u64,
}

impl Mirror for State {
    fn mirror(&mut self, b: Batch) {
        for s in b.coins_del {
            self.coins.remove(&s);
        }
        for r in b.coins_put {
            self.coins.insert(r.coin.serial, r);
        }
        for id in b.ops_del {
            self.ops.remove(&id);
        }
        for o in b.ops_put {
            self.ops.insert(o.id.clone(), o);
        }
        for (k, e) in b.hist_put {
            self.history.insert(k, e);
        }
        if let Some(p) = b.papers {
            self.papers = Some(*p);
        }
        for m in b.mints_put {
            self.others.insert(m.keys.set.bank_id.clone(), m);
        }
        if let Some(k) = b.keys {
            if k.papers.is_some() {
                self.papers = k.papers;
            }
            self.keys = k.verified;
            self.seen = k.seen;
            self.keys_fetched_at = k.fetched_at;
        }
    }
}

impl State {
    /// Now, by the wallet's clock.
    pub(crate) fn now(&self) -> u64 {
        self.settings.clock.now()
    }

    /// The bank's base URL.
    pub(crate) fn bank(&self) -> &str {
        &self.meta.bank_url
    }

    /// Under a pinned certifier, whether the papers in hand still vouch for
    /// the bank at `now` (valid, not revoked by the newest list seen): what
    /// paying from the cached key set relies on.
    pub(crate) fn check_papers(&self) -> Result<(), WalletError> {
        use ecash_core::certificate::{CertError, check_standing};
        if self.meta.certifier.is_none() {
            return Ok(());
        }
        let p = self
            .papers
            .as_ref()
            .ok_or_else(|| CertError::NotCertified(self.meta.bank_url.clone()))?;
        Ok(check_standing(
            &p.certificate,
            [&p.revocations],
            self.now(),
        )?)
    }

    /// Denominations the bank signs now.
    pub(crate) fn withdraw_denominations(&self) -> Vec<Denomination> {
        self.keys
            .withdraw_keys(self.now())
            .keys()
            .copied()
            .collect()
    }

    /// A key of the verified key set, or of another bank's
    /// ([`State::bank_of_key`] says whose).
    pub(crate) fn known_key(
        &self,
        key_id: &B32,
    ) -> Result<&ecash_core::keyset::VerifiedDenomination, WalletError> {
        self.keys
            .key(key_id)
            .or_else(|| self.others.values().find_map(|m| m.keys.key(key_id)))
            .ok_or_else(|| {
                WalletError::KeySet(ecash_core::keyset::KeySetError::BadRsaKey(format!(
                    "key {key_id:?} is not in the signed key set of any bank this wallet knows"
                )))
            })
    }

    /// Coins of the wallet's own bank free to spend, as selection sees them.
    pub(crate) fn candidates(&self) -> Vec<Candidate> {
        self.candidates_at(None)
    }

    /// Coins of bank `at` (`None`: the wallet's own) free to spend.
    pub(crate) fn candidates_at(&self, at: Option<&str>) -> Vec<Candidate> {
        let t = self.now();
        self.coins
            .values()
            .filter(|r| r.bank_id.as_deref() == at)
            .filter(|r| r.reserved_by.is_none() && r.deposit_until >= t)
            // A revoked key's coins are only recouped.
            .filter(|r| {
                self.keyset(at)
                    .is_ok_and(|k| !k.set.is_revoked(&r.coin.key_id))
            })
            .map(|r| Candidate {
                serial: r.coin.serial,
                value: r.value,
                deposit_until: r.deposit_until,
            })
            .collect()
    }

    /// Marks the wallet's coins an operation spends as reserved by it.
    pub(crate) fn reserve_coins(&self, b: &mut Batch, op: &Operation) -> Result<(), WalletError> {
        for s in op.kind.inputs() {
            if let Some(r) = self.coins.get(&s) {
                let mut r = r.clone();
                r.reserved_by = Some(op.id.clone());
                b.put_coin(r)?;
            }
        }
        Ok(())
    }

    /// An operation record started now.
    pub(crate) fn operation(&self, kind: OpKind) -> Result<Operation, WalletError> {
        Ok(Operation {
            id: new_id()?,
            started_at: self.now(),
            attempts: 0,
            last_error: None,
            kind,
        })
    }
}

/// The denominations that make `value` from `keys`.
pub(crate) fn denominations_of(
    value: u64,
    keys: &[Denomination],
) -> Result<Vec<Denomination>, WalletError> {
    ecash_core::amount::split(value, keys)
        .map_err(|_| WalletError::Input(format!("{value} cannot be made from the bank's coins")))
}

/// A wallet over a store `S` and a transport `T`.
pub struct Wallet<S: Store, T: Transport> {
    pub(crate) store: S,
    pub(crate) net: T,
    pub(crate) state: State,
}

impl<S: Store, T: Transport> std::fmt::Debug for Wallet<S, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Wallet")
            .field("bank_url", &self.state.meta.bank_url)
            .field("account_id", &self.state.meta.account_id)
            .field("coins", &self.state.coins.len())
            .field("pending", &self.state.ops.len())
            .finish()
    }
}

fn parse<V: serde::de::DeserializeOwned>(key: &str, v: &str) -> Result<V, WalletError> {
    serde_json::from_str(v).map_err(|e| StoreError(format!("record {key} is corrupt: {e}")).into())
}

impl<S: Store, T: Transport> Wallet<S, T> {
    /// Runs operation `m` to its end (the driver: see [`io`]).
    pub(crate) async fn run<M: Machine>(
        &mut self,
        mut m: M,
        mut progress: Option<ProgressFn<'_>>,
    ) -> Result<M::Output, WalletError> {
        io::drive(
            &mut m,
            &mut self.state,
            &self.store,
            &self.net,
            &mut progress,
        )
        .await
    }

    /// Runs `m`, which neither reads nor writes the wallet's state (a single
    /// call), through the same driver.
    pub(crate) async fn run_stateless<M: Machine<()>>(
        &self,
        mut m: M,
    ) -> Result<M::Output, WalletError> {
        io::drive(&mut m, &mut (), &self.store, &self.net, &mut None).await
    }

    /// Creates a wallet for the bank at `bank_url`: fetches and verifies its
    /// key set as `trust` says (a pinned master key, a certifier that must
    /// vouch for the bank, or the announced master key on first use), makes
    /// a seed and registers the account. Returns the seed phrase, to show
    /// once for backup.
    pub async fn create(
        store: S,
        net: T,
        bank_url: &str,
        trust: impl Into<Trust>,
        settings: WalletSettings,
    ) -> Result<(Self, String), WalletError> {
        ensure_empty(&store).await?;
        let seed = Seed::generate()?;
        let phrase = seed.phrase();
        let trust = trust.into();
        let (w, identity) = Self::connect(store, net, bank_url, &trust, seed, settings).await?;
        w.store.apply(identity).await?;
        Ok((w, phrase))
    }

    /// First contact: the bank's key set fetched and verified, the seed's
    /// account registered, the wallet built in memory. Returns the writes
    /// that make it exist in the store, for the caller to apply when the
    /// wallet is complete: a restore that fails half-way must not leave a
    /// wallet whose counters restart at zero.
    pub(crate) async fn connect(
        store: S,
        net: T,
        bank_url: &str,
        trust: &Trust,
        seed: Seed,
        settings: WalletSettings,
    ) -> Result<(Self, Vec<Write>), WalletError> {
        let account = seed.account_key()?;
        let now = settings.clock.now();
        let mut first = keys::Connect::new(bank_url, trust, &account, now)?;
        let met = io::drive(&mut first, &mut (), &store, &net, &mut None).await?;
        let meta = Meta {
            version: FORMAT_VERSION,
            bank_url: bank_url.trim_end_matches('/').to_owned(),
            master_key: met.verified.set.master_public_key,
            certifier: match trust {
                Trust::Certifier(pin) => Some(pin.clone()),
                Trust::FirstUse | Trust::Master(_) => None,
            },
            seed_hex: seed.phrase().replace('-', ""),
            account_id: met.account_id,
            created_at: now,
            restored: false,
        };
        let mut identity = vec![
            Write::Put(META_KEY.into(), batch::json(&meta)?),
            Write::Put(KEYS_KEY.into(), batch::json(&met.signed)?),
            Write::Put(SEEN_KEYS_KEY.into(), batch::json(&met.seen)?),
        ];
        if let Some(p) = &met.papers {
            identity.push(Write::Put(PAPERS_KEY.into(), batch::json(p)?));
        }
        let state = State {
            settings,
            meta,
            seed,
            account,
            keys: met.verified,
            papers: met.papers,
            seen: met.seen,
            others: BTreeMap::new(),
            coins: BTreeMap::new(),
            ops: BTreeMap::new(),
            history: BTreeMap::new(),
            keys_fetched_at: now,
        };
        Ok((Self { store, net, state }, identity))
    }

    /// Opens the wallet in `store`. The cached key set is verified again
    /// against the pinned master key; only a set cached in an older format
    /// is fetched from the bank again (the one time opening touches the network).
    pub async fn open(store: S, net: T, settings: WalletSettings) -> Result<Self, WalletError> {
        let records = store.load_all().await?;
        let mut meta: Option<Meta> = None;
        let mut signed: Option<SignedKeySet> = None;
        let mut seen = SeenKeys::default();
        let mut papers: Option<Papers> = None;
        let mut coins = BTreeMap::new();
        let mut ops = BTreeMap::new();
        let mut history = BTreeMap::new();
        let mut other_records: Vec<OtherMint> = Vec::new();
        for (k, v) in &records {
            if k == META_KEY {
                meta = Some(parse(k, v)?);
            } else if k == KEYS_KEY {
                // A set cached in an older format is fetched again below.
                signed = serde_json::from_str::<SignedKeySet>(v).ok();
            } else if k == SEEN_KEYS_KEY {
                seen = parse(k, v)?;
            } else if k == PAPERS_KEY {
                // Damaged: as if missing, so the set and papers are fetched
                // and checked again.
                papers = serde_json::from_str(v).ok();
            } else if k.starts_with("coin/") {
                let r: CoinRecord = parse(k, v)?;
                coins.insert(r.coin.serial, r);
            } else if k.starts_with("op/") {
                let o: Operation = parse(k, v)?;
                ops.insert(o.id.clone(), o);
            } else if k.starts_with("hist/") {
                history.insert(k.clone(), parse(k, v)?);
            } else if k.starts_with("mint/") {
                other_records.push(parse(k, v)?);
            }
        }
        let others = mints::load(other_records);
        let meta = meta.ok_or(WalletError::NoWallet)?;
        let now = settings.clock.now();
        let cached = signed.and_then(|s| VerifiedKeySet::verify(&s, &meta.master_key).ok());
        // A certified wallet without its papers fetches them (and the set) again.
        let cached = cached.filter(|_| meta.certifier.is_none() || papers.is_some());
        let (verified, refetched) = match cached {
            Some(keys) => (keys, None),
            None => {
                // Written by an older wallet (or damaged): fetch it again,
                // checked against the pinned master key as always.
                let expect = keys::Expect::known(&meta, papers.as_ref());
                let mut m = keys::FetchKeys::new(&meta.bank_url, expect, now)?;
                let f = io::drive(&mut m, &mut (), &store, &net, &mut None).await?;
                if f.papers.is_some() {
                    papers = f.papers;
                }
                (f.verified, Some(f.signed))
            }
        };
        // Wallets from before key memory start remembering with this set.
        verified.check_seen(&mut seen, now)?;
        if let Some(signed) = refetched {
            let mut writes = vec![
                Write::Put(KEYS_KEY.into(), batch::json(&signed)?),
                Write::Put(SEEN_KEYS_KEY.into(), batch::json(&seen)?),
            ];
            if let Some(p) = &papers {
                writes.push(Write::Put(PAPERS_KEY.into(), batch::json(p)?));
            }
            store.apply(writes).await?;
        }
        let seed = Seed::from_phrase(&meta.seed_hex)?;
        let account = seed.account_key()?;
        Ok(Self {
            store,
            net,
            state: State {
                settings,
                meta,
                seed,
                account,
                keys: verified,
                papers,
                seen,
                others,
                coins,
                ops,
                history,
                keys_fetched_at: 0,
            },
        })
    }

    /// Fetches the key set again (new key periods), verifies it against the
    /// pinned master key, and refuses it if it shows another key for a value
    /// and period than the wallet saw before (a key made to tag this wallet).
    pub async fn refresh_keys(&mut self) -> Result<(), WalletError> {
        self.run(keys::RefreshKeys::always(), None).await
    }

    /// The backup phrase of the seed.
    pub fn seed_phrase(&self) -> String {
        self.state.seed.phrase()
    }

    /// The bank's URL.
    pub fn bank_url(&self) -> &str {
        &self.state.meta.bank_url
    }

    /// Fingerprint of the pinned master key.
    pub fn master_fingerprint(&self) -> String {
        self.state.meta.master_key.fingerprint()
    }

    /// The certifier the wallet pins, if any.
    pub fn certifier(&self) -> Option<&CertifierPin> {
        self.state.meta.certifier.as_ref()
    }

    /// The bank's certificate, as last checked (under a pinned certifier).
    pub fn certificate(&self) -> Option<&ecash_core::certificate::MintCertificate> {
        self.state.papers.as_ref().map(|p| &p.certificate)
    }

    /// The wallet's bank account id.
    pub fn account_id(&self) -> &str {
        &self.state.meta.account_id
    }

    /// The verified key set in use.
    pub fn key_set(&self) -> &VerifiedKeySet {
        &self.state.keys
    }

    /// The store (for tests and tools that inspect it).
    pub fn store(&self) -> &S {
        &self.store
    }

    /// The transport (tests inject faults through it).
    pub fn transport(&self) -> &T {
        &self.net
    }

    /// Ends the wallet, giving back its store and transport.
    pub fn into_parts(self) -> (S, T) {
        (self.store, self.net)
    }

    /// The coins held, sooner-expiring first within a value.
    pub fn coins(&self) -> Vec<&CoinRecord> {
        let mut v: Vec<&CoinRecord> = self.state.coins.values().collect();
        v.sort_by(|a, b| {
            b.value
                .cmp(&a.value)
                .then(a.deposit_until.cmp(&b.deposit_until))
        });
        v
    }

    /// Total, spendable and reserved value, and coins by denomination.
    pub fn balance(&self) -> Balance {
        let mut by: BTreeMap<u64, DenominationBalance> = BTreeMap::new();
        let (mut total, mut reserved) = (0u64, 0u64);
        for r in self.state.coins.values() {
            total = total.saturating_add(r.value);
            if r.reserved_by.is_some() {
                reserved = reserved.saturating_add(r.value);
            }
            let d = by.entry(r.value).or_insert(DenominationBalance {
                value: r.value,
                count: 0,
                next_expiry: r.deposit_until,
            });
            d.count += 1;
            d.next_expiry = d.next_expiry.min(r.deposit_until);
        }
        Balance {
            currency: self.state.keys.set.currency.as_str().to_owned(),
            total,
            spendable: total - reserved,
            reserved,
            denominations: by.into_values().rev().collect(),
        }
    }

    /// History, newest first.
    pub fn history(&self) -> Vec<HistoryEntry> {
        self.state.history.values().rev().cloned().collect()
    }

    /// Unfinished operations and why.
    pub fn pending(&self) -> Vec<PendingOp> {
        self.state
            .ops
            .values()
            .map(|o| PendingOp {
                id: o.id.clone(),
                kind: o.kind.name().to_owned(),
                started_at: o.started_at,
                attempts: o.attempts,
                last_error: o.last_error.clone(),
            })
            .collect()
    }

    /// Demo faucet: credits the wallet's bank account (banks in demo mode only).
    pub async fn faucet(&mut self, amount: u64) -> Result<AccountStatement, WalletError> {
        let s = &self.state;
        let req = ecash_core::messages::FaucetRequest {
            amount: Amount::new(s.keys.set.currency.clone(), amount),
        };
        let call = keys::Single::<api::Faucet>::new(s.bank(), &s.meta.account_id, &req)?;
        self.run_stateless(call).await
    }

    /// The account's balance and ledger (a query signed by the account key).
    pub async fn account_statement(&self) -> Result<AccountStatement, WalletError> {
        let call = keys::statement(&self.state)?;
        self.run_stateless(call).await
    }
}

async fn ensure_empty<S: Store>(store: &S) -> Result<(), WalletError> {
    if store.load_all().await?.iter().any(|(k, _)| k == META_KEY) {
        return Err(WalletError::WalletExists);
    }
    Ok(())
}
