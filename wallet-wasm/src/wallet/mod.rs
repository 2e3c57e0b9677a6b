//! The wallet: state in memory, mirrored to a [`Store`] in atomic batches.
//!
//! Lifecycle ([`Wallet::create`], [`Wallet::open`], [`Wallet::restore`]) and
//! queries live here; the money-moving operations in `operations`, the
//! journal and recovery in `journal`, restore from seed in `restore`.

pub mod answers;
mod http;
mod journal;
mod operations;
mod restore;

use std::collections::BTreeMap;

use ecash_core::keyset::SeenKeys;
use ecash_core::messages::{
    AccountCreated, AccountQuery, AccountStatement, FaucetRequest, RegisterAccount,
};
use ecash_core::signing::Signed;
use ecash_core::{Amount, B32, Keypair, PublicKey, SignedKeySet, VerifiedKeySet};
use serde::{Deserialize, Serialize};

use crate::error::WalletError;
use crate::platform::{self, now};
use crate::records::*;
use crate::secrets::Seed;
use crate::select::Candidate;
use crate::store::{Store, StoreError, Write};
use crate::transport::Transport;

pub use answers::Offer;
pub use journal::RecoverReport;
pub use operations::{PaymentDone, WithdrawDone};
pub use restore::RestoreReport;

/// Tunables.
#[derive(Clone, Debug)]
pub struct WalletSettings {
    /// Coins whose key stops being accepted within this many seconds are exchanged by `recover`.
    pub expiry_margin_secs: u64,
    /// Restore stops scanning a key after this many unused counters in a row.
    pub restore_gap: u64,
    /// A payment whose shop never answers is settled with the bank this long
    /// after its payment request expired (time for the shop's late deposit).
    pub payment_grace_secs: u64,
}

impl Default for WalletSettings {
    fn default() -> Self {
        Self {
            expiry_margin_secs: 7 * 24 * 3600,
            restore_gap: 32,
            payment_grace_secs: 15 * 60,
        }
    }
}

/// A step of a long operation, for progress bars.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Progress {
    /// `blinding`, `signing`, `unblinding`, `saving`, `restoring`.
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

/// Changes to persist in one atomic batch, then mirror in memory.
#[derive(Default)]
pub(crate) struct Batch {
    writes: Vec<Write>,
    coins_put: Vec<CoinRecord>,
    coins_del: Vec<B32>,
    ops_put: Vec<Operation>,
    ops_del: Vec<String>,
    hist_put: Vec<(String, HistoryEntry)>,
}

fn json<T: Serialize>(v: &T) -> Result<String, WalletError> {
    serde_json::to_string(v).map_err(|e| StoreError(format!("encoding a record: {e}")).into())
}

/// A random id for operations and history lines.
pub(crate) fn new_id() -> Result<String, WalletError> {
    Ok(hex::encode(platform::random::<8>()?))
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
    pub(crate) fn history(&mut self, amount: u64, event: Event) -> Result<String, WalletError> {
        let e = HistoryEntry {
            id: new_id()?,
            at: now(),
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
}

/// A wallet over a store `S` and a transport `T`.
pub struct Wallet<S: Store, T: Transport> {
    pub(crate) store: S,
    pub(crate) net: T,
    pub(crate) settings: WalletSettings,
    pub(crate) meta: Meta,
    pub(crate) seed: Seed,
    pub(crate) account: Keypair,
    pub(crate) keys: VerifiedKeySet,
    /// The key for each value and period in every key set accepted so far.
    pub(crate) seen: SeenKeys,
    pub(crate) coins: BTreeMap<B32, CoinRecord>,
    pub(crate) ops: BTreeMap<String, Operation>,
    pub(crate) history: BTreeMap<String, HistoryEntry>,
    /// When the key set was last fetched (0: not since opening).
    pub(crate) keys_fetched_at: u64,
}

/// How long a fetched key set is used before it is fetched again, seconds.
const KEYS_MAX_AGE: u64 = 600;

impl<S: Store, T: Transport> std::fmt::Debug for Wallet<S, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Wallet")
            .field("bank_url", &self.meta.bank_url)
            .field("account_id", &self.meta.account_id)
            .field("coins", &self.coins.len())
            .field("pending", &self.ops.len())
            .finish()
    }
}

/// Fetches the key set and verifies it against `pinned`, or against the key it
/// names when nothing is pinned yet (trust on first use; the caller shows the fingerprint).
pub(crate) async fn fetch_keys<T: Transport>(
    net: &T,
    bank_url: &str,
    pinned: Option<&PublicKey>,
) -> Result<(SignedKeySet, VerifiedKeySet), WalletError> {
    crate::links::web_url(bank_url)?;
    let signed: SignedKeySet = http::get(net, &http::join(bank_url, "/keys"), &[]).await?;
    let master = pinned.copied().unwrap_or(signed.body.master_public_key);
    let verified = VerifiedKeySet::verify(&signed, &master)?;
    verified.check_announced(now())?;
    Ok((signed, verified))
}

/// Registers the seed's account key; an account that exists already (a restore) is fine.
pub(crate) async fn register<T: Transport>(
    net: &T,
    bank_url: &str,
    account: &Keypair,
) -> Result<String, WalletError> {
    let req = Signed::sign(
        RegisterAccount {
            public_key: account.public(),
            label: "browser e-cash wallet".into(),
            timestamp: now(),
        },
        account,
    );
    match http::post::<_, _, AccountCreated>(net, &http::join(bank_url, "/accounts"), &req).await {
        Ok(created) => Ok(created.account_id),
        Err(WalletError::Refused { error, .. })
            if error.code == ecash_core::ErrorCode::AccountExists =>
        {
            Ok(ecash_core::messages::account_id(&account.public()))
        }
        Err(e) => Err(e),
    }
}

async fn ensure_empty<S: Store>(store: &S) -> Result<(), WalletError> {
    if store.load_all().await?.iter().any(|(k, _)| k == META_KEY) {
        return Err(WalletError::WalletExists);
    }
    Ok(())
}

fn parse<T: serde::de::DeserializeOwned>(key: &str, v: &str) -> Result<T, WalletError> {
    serde_json::from_str(v).map_err(|e| StoreError(format!("record {key} is corrupt: {e}")).into())
}

impl<S: Store, T: Transport> Wallet<S, T> {
    /// Creates a wallet for the bank at `bank_url`: fetches and verifies its
    /// key set (against `pinned`, or trusting the announced master key on first
    /// use), makes a seed and registers the account. Returns the seed phrase,
    /// to show once for backup.
    pub async fn create(
        store: S,
        net: T,
        bank_url: &str,
        pinned: Option<PublicKey>,
        settings: WalletSettings,
    ) -> Result<(Self, String), WalletError> {
        ensure_empty(&store).await?;
        let (signed, keys) = fetch_keys(&net, bank_url, pinned.as_ref()).await?;
        let seed = Seed::generate()?;
        let phrase = seed.phrase();
        let (w, identity) = Self::init(store, net, bank_url, signed, keys, seed, settings).await?;
        w.store.apply(identity).await?;
        Ok((w, phrase))
    }

    /// Registers the account and builds the wallet in memory. Returns the
    /// writes that make it exist in the store (meta and key set), for the
    /// caller to apply when the wallet is complete: a restore that fails
    /// half-way must not leave a wallet whose counters restart at zero.
    pub(crate) async fn init(
        store: S,
        net: T,
        bank_url: &str,
        signed: SignedKeySet,
        keys: VerifiedKeySet,
        seed: Seed,
        settings: WalletSettings,
    ) -> Result<(Self, Vec<Write>), WalletError> {
        let mut seen = SeenKeys::default();
        keys.check_seen(&mut seen, now())?;
        let account = seed.account_key()?;
        let account_id = register(&net, bank_url, &account).await?;
        let meta = Meta {
            version: FORMAT_VERSION,
            bank_url: bank_url.trim_end_matches('/').to_owned(),
            master_key: keys.set.master_public_key,
            seed_hex: seed.phrase().replace('-', ""),
            account_id,
            created_at: now(),
        };
        let identity = vec![
            Write::Put(META_KEY.into(), json(&meta)?),
            Write::Put(KEYS_KEY.into(), json(&signed)?),
            Write::Put(SEEN_KEYS_KEY.into(), json(&seen)?),
        ];
        let w = Self {
            store,
            net,
            settings,
            meta,
            seed,
            account,
            keys,
            seen,
            coins: BTreeMap::new(),
            ops: BTreeMap::new(),
            history: BTreeMap::new(),
            keys_fetched_at: now(),
        };
        Ok((w, identity))
    }

    /// Opens the wallet in `store`. The cached key set is verified again
    /// against the pinned master key; only a set cached in an older format
    /// is fetched from the bank again (the one time opening touches the network).
    pub async fn open(store: S, net: T, settings: WalletSettings) -> Result<Self, WalletError> {
        let records = store.load_all().await?;
        let mut meta: Option<Meta> = None;
        let mut signed: Option<SignedKeySet> = None;
        let mut seen = SeenKeys::default();
        let mut coins = BTreeMap::new();
        let mut ops = BTreeMap::new();
        let mut history = BTreeMap::new();
        for (k, v) in &records {
            if k == META_KEY {
                meta = Some(parse(k, v)?);
            } else if k == KEYS_KEY {
                // A set cached in an older format is fetched again below.
                signed = serde_json::from_str::<SignedKeySet>(v).ok();
            } else if k == SEEN_KEYS_KEY {
                seen = parse(k, v)?;
            } else if k.starts_with("coin/") {
                let r: CoinRecord = parse(k, v)?;
                coins.insert(r.coin.serial, r);
            } else if k.starts_with("op/") {
                let o: Operation = parse(k, v)?;
                ops.insert(o.id.clone(), o);
            } else if k.starts_with("hist/") {
                history.insert(k.clone(), parse(k, v)?);
            }
        }
        let meta = meta.ok_or(WalletError::NoWallet)?;
        let cached = signed.and_then(|s| VerifiedKeySet::verify(&s, &meta.master_key).ok());
        let (keys, refetched) = match cached {
            Some(keys) => (keys, None),
            None => {
                // Written by an older wallet (or damaged): fetch it again,
                // checked against the pinned master key as always.
                let (signed, keys) =
                    fetch_keys(&net, &meta.bank_url, Some(&meta.master_key)).await?;
                (keys, Some(signed))
            }
        };
        // Wallets from before key memory start remembering with this set.
        keys.check_seen(&mut seen, now())?;
        if let Some(signed) = refetched {
            store
                .apply(vec![
                    Write::Put(KEYS_KEY.into(), json(&signed)?),
                    Write::Put(SEEN_KEYS_KEY.into(), json(&seen)?),
                ])
                .await?;
        }
        let seed = Seed::from_phrase(&meta.seed_hex)?;
        let account = seed.account_key()?;
        Ok(Self {
            store,
            net,
            settings,
            meta,
            seed,
            account,
            keys,
            seen,
            coins,
            ops,
            history,
            keys_fetched_at: 0,
        })
    }

    /// Persists `b` atomically, then mirrors it in memory.
    pub(crate) async fn commit(&mut self, b: Batch) -> Result<(), WalletError> {
        self.store.apply(b.writes).await?;
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
        Ok(())
    }

    pub(crate) fn url(&self, path: &str) -> String {
        http::join(&self.meta.bank_url, path)
    }

    /// Fetches the key set again (new key periods), verifies it against the
    /// pinned master key, and refuses it if it shows another key for a value
    /// and period than the wallet saw before (a key made to tag this wallet).
    pub async fn refresh_keys(&mut self) -> Result<(), WalletError> {
        let (signed, keys) =
            fetch_keys(&self.net, &self.meta.bank_url, Some(&self.meta.master_key)).await?;
        let mut seen = self.seen.clone();
        keys.check_seen(&mut seen, now())?;
        self.store
            .apply(vec![
                Write::Put(KEYS_KEY.into(), json(&signed)?),
                Write::Put(SEEN_KEYS_KEY.into(), json(&seen)?),
            ])
            .await?;
        self.keys = keys;
        self.seen = seen;
        self.keys_fetched_at = now();
        Ok(())
    }

    /// Fetches the key set again when it offers no key to withdraw with now,
    /// or was last fetched long ago (new key periods are published ahead).
    pub(crate) async fn fresh_keys(&mut self) -> Result<(), WalletError> {
        let t = now();
        if self.keys.withdraw_keys(t).is_empty()
            || self.keys_fetched_at.saturating_add(KEYS_MAX_AGE) < t
        {
            self.refresh_keys().await?;
        }
        Ok(())
    }

    /// The backup phrase of the seed.
    pub fn seed_phrase(&self) -> String {
        self.seed.phrase()
    }

    /// The bank's URL.
    pub fn bank_url(&self) -> &str {
        &self.meta.bank_url
    }

    /// Fingerprint of the pinned master key.
    pub fn master_fingerprint(&self) -> String {
        self.meta.master_key.fingerprint()
    }

    /// The wallet's bank account id.
    pub fn account_id(&self) -> &str {
        &self.meta.account_id
    }

    /// The verified key set in use.
    pub fn key_set(&self) -> &VerifiedKeySet {
        &self.keys
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
        let mut v: Vec<&CoinRecord> = self.coins.values().collect();
        v.sort_by(|a, b| {
            b.value
                .cmp(&a.value)
                .then(a.deposit_until.cmp(&b.deposit_until))
        });
        v
    }

    /// Coins free to spend, as selection sees them.
    pub(crate) fn candidates(&self) -> Vec<Candidate> {
        let t = now();
        self.coins
            .values()
            .filter(|r| r.reserved_by.is_none() && r.deposit_until >= t)
            .map(|r| Candidate {
                serial: r.coin.serial,
                value: r.value,
                deposit_until: r.deposit_until,
            })
            .collect()
    }

    /// Total, spendable and reserved value, and coins by denomination.
    pub fn balance(&self) -> Balance {
        let mut by: BTreeMap<u64, DenominationBalance> = BTreeMap::new();
        let (mut total, mut reserved) = (0u64, 0u64);
        for r in self.coins.values() {
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
            currency: self.keys.set.currency.as_str().to_owned(),
            total,
            spendable: total - reserved,
            reserved,
            denominations: by.into_values().rev().collect(),
        }
    }

    /// History, newest first.
    pub fn history(&self) -> Vec<HistoryEntry> {
        self.history.values().rev().cloned().collect()
    }

    /// Unfinished operations and why.
    pub fn pending(&self) -> Vec<PendingOp> {
        self.ops
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
        let url = self.url(&format!("/accounts/{}/faucet", self.meta.account_id));
        let body = FaucetRequest {
            amount: Amount::new(self.keys.set.currency.clone(), amount),
        };
        http::post(&self.net, &url, &body).await
    }

    /// The account's balance and ledger (a query signed by the account key).
    pub async fn account_statement(&self) -> Result<AccountStatement, WalletError> {
        let t = now();
        let sig = self.account.sign(&AccountQuery {
            account_id: self.meta.account_id.clone(),
            timestamp: t,
        });
        let url = self.url(&format!("/accounts/{}", self.meta.account_id));
        http::get(
            &self.net,
            &url,
            &[
                ("x-ecash-timestamp", t.to_string()),
                ("x-ecash-signature", sig.0.to_b64()),
            ],
        )
        .await
    }
}
