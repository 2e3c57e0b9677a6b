//! Offline coins (CAFE; `OFFLINE.md`): the wallet's purse and its observer.
//!
//! - the **purse** (the user's side) holds the coins, withdraws them in the
//!   bank's two rounds ([`withdraw`]), and builds payments to a shop or to
//!   another wallet with no bank ([`spend`]); as a payee it issues requests,
//!   takes spends with no network and deposits them later ([`receive`]);
//! - the **observer** (the bank's side, [`Observer`]) authorizes each offline
//!   coin's one spend and refuses a second. The software observer keeps its
//!   record in the wallet's store, written in the same atomic step as the
//!   coin leaving the purse, and only one of several tabs or processes can
//!   write it ([`Store::apply_unless`]).
//!
//! Offline records live under `offline/`: `coin/<id>` (the purse),
//! `wd/<request>` (a withdrawal in flight, written before round 1 leaves),
//! `observer/<id>` (the observer's one authorization per coin),
//! `spent/<id>` (a spend made, kept to show again), `req/<nonce>` (a
//! request of ours still open), `recv/<id>` (a spend received, to deposit),
//! `batch/<id>` (a deposit in flight, the signed request sent again as is),
//! `seen/<id>` (a coin received and deposited: never taken again).

mod receive;
mod spend;
mod withdraw;

use std::collections::BTreeMap;

use ecash_core::offline::messages::OfflineDepositRequest;
use ecash_core::offline::messages::OfflineWithdrawRequest;
use ecash_core::offline::stored::{StoredCandidates, StoredCoin};
use ecash_core::offline::{PaymentRequest, Spend};
use ecash_core::{B32, Signed};
use serde::{Deserialize, Serialize};

use super::Wallet;
use super::batch::{Batch, json};
use crate::error::WalletError;
use crate::store::{Store, StoreError, Write};
use crate::transport::Transport;

pub use receive::{OfflineDepositDone, OfflineInvoice, OfflineReceived};
pub use spend::{OfflinePayment, OfflineSpent};
pub use withdraw::OfflineWithdrawDone;

const PREFIX: &str = "offline/";

fn key(kind: &str, id: &str) -> String {
    format!("{PREFIX}{kind}/{id}")
}

/// An offline coin in the purse.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct OfflineCoinRecord {
    /// The coin's id.
    pub id: B32,
    /// Its value, minor units (from its key).
    pub value: u64,
    /// The last second a payee can deposit it (its key's deposit window).
    pub deposit_until: u64,
    /// When it was withdrawn.
    pub withdrawn_at: u64,
    /// The coin and its terms' secrets.
    pub coin: StoredCoin,
}

/// A withdrawal between its two rounds.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct PendingWithdrawal {
    /// Round 1, signed once and sent again as is.
    pub(crate) request: Signed<OfflineWithdrawRequest>,
    /// The candidates and their secrets.
    pub(crate) candidates: StoredCandidates,
    /// The coin's value.
    pub(crate) value: u64,
    /// The bank's choice of candidates to open, once it answered.
    pub(crate) open: Option<Vec<u16>>,
}

/// Where a spend went.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "to", rename_all = "snake_case")]
pub enum Destination {
    /// A shop's offline endpoint.
    Shop {
        /// The shop's base URL (checked by the link rule).
        url: String,
    },
    /// Another wallet, through a token.
    Wallet,
}

impl std::fmt::Display for Destination {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Shop { url } => write!(f, "shop {url}"),
            Self::Wallet => f.write_str("wallet"),
        }
    }
}

/// A coin spent: its transcript, kept to show again (a receiver that lost
/// it, a shop that did not answer) until its key's deposit window closes.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SpentRecord {
    /// The coin's id.
    pub coin_id: B32,
    /// Its value.
    pub value: u64,
    /// The spend.
    pub spend: Spend,
    /// Where it went.
    pub to: Destination,
    /// When.
    pub at: u64,
    /// Whether the payee said it took it (a shop's answer; a token counts as delivered).
    pub delivered: bool,
    /// Deposit window of its key (kept until then).
    pub deposit_until: u64,
}

/// A request this wallet issued as a payee.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct OpenRequest {
    pub(crate) request: PaymentRequest,
}

/// A spend this wallet received, to deposit.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ReceivedRecord {
    /// The coin's id.
    pub coin_id: B32,
    /// Its value.
    pub value: u64,
    /// The spend.
    pub spend: Spend,
    /// When it was taken.
    pub at: u64,
    /// The deposit batch it is in, once one was journaled.
    pub batch: Option<B32>,
}

/// A deposit batch in flight.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct PendingDeposit {
    pub(crate) request: Signed<OfflineDepositRequest>,
}

/// Everything offline the store holds, read in one pass.
#[derive(Default)]
pub(crate) struct Book {
    pub(crate) coins: BTreeMap<B32, OfflineCoinRecord>,
    pub(crate) withdrawals: Vec<PendingWithdrawal>,
    pub(crate) authorized: std::collections::BTreeSet<B32>,
    pub(crate) spent: BTreeMap<B32, SpentRecord>,
    pub(crate) requests: BTreeMap<String, OpenRequest>,
    pub(crate) received: BTreeMap<B32, ReceivedRecord>,
    pub(crate) deposits: Vec<PendingDeposit>,
    /// Coins received and deposited already (kept so a rolled-back payer
    /// cannot pay this payee the same coin again).
    pub(crate) seen: std::collections::BTreeSet<B32>,
}

fn parse<V: serde::de::DeserializeOwned>(k: &str, v: &str) -> Result<V, WalletError> {
    serde_json::from_str(v)
        .map_err(|e| StoreError(format!("offline record {k} is corrupt: {e}")).into())
}

/// The coin id a record's key ends in.
fn id_in(k: &str, id: &str) -> Result<B32, WalletError> {
    B32::from_b64(id).ok_or_else(|| StoreError(format!("offline record {k} is corrupt")).into())
}

/// An offline text (invoice, token): `prefix` then base64url of JSON, at
/// most `max` characters; surrounding whitespace is ignored when read.
/// `what` names it in errors, which `err` wraps.
pub(crate) struct Text {
    pub(crate) prefix: &'static str,
    pub(crate) max: usize,
    pub(crate) what: &'static str,
    pub(crate) err: fn(String) -> WalletError,
}

impl Text {
    pub(crate) fn encode<V: Serialize>(&self, v: &V) -> Result<String, WalletError> {
        let json = serde_json::to_vec(v).map_err(|e| (self.err)(e.to_string()))?;
        Ok(format!(
            "{}{}",
            self.prefix,
            ecash_core::bytes::b64_encode(&json)
        ))
    }

    pub(crate) fn decode<V: serde::de::DeserializeOwned>(
        &self,
        text: &str,
    ) -> Result<V, WalletError> {
        let t = text.trim();
        if t.len() > self.max {
            return Err((self.err)(format!("{} too long", self.what)));
        }
        let b64 = t
            .strip_prefix(self.prefix)
            .ok_or_else(|| (self.err)(format!("{} starts with {}", self.what, self.prefix)))?;
        let json = ecash_core::bytes::b64_decode(b64)
            .map_err(|_| (self.err)(format!("{} is not base64url", self.what)))?;
        serde_json::from_slice(&json).map_err(|e| (self.err)(format!("{} content: {e}", self.what)))
    }
}

impl Book {
    /// Reads the offline records (read again at every operation, so two
    /// tabs or processes see each other's changes).
    pub(crate) async fn load<S: Store>(store: &S) -> Result<Self, WalletError> {
        let mut b = Self::default();
        for (k, v) in store.load_all().await? {
            let Some(rest) = k.strip_prefix(PREFIX) else {
                continue;
            };
            let Some((kind, id)) = rest.split_once('/') else {
                continue;
            };
            match kind {
                "coin" => {
                    let r: OfflineCoinRecord = parse(&k, &v)?;
                    b.coins.insert(r.id, r);
                }
                "wd" => b.withdrawals.push(parse(&k, &v)?),
                "observer" => {
                    b.authorized.insert(id_in(&k, id)?);
                }
                "spent" => {
                    let r: SpentRecord = parse(&k, &v)?;
                    b.spent.insert(r.coin_id, r);
                }
                "req" => {
                    b.requests.insert(id.to_owned(), parse(&k, &v)?);
                }
                "recv" => {
                    let r: ReceivedRecord = parse(&k, &v)?;
                    b.received.insert(r.coin_id, r);
                }
                "batch" => b.deposits.push(parse(&k, &v)?),
                "seen" => {
                    b.seen.insert(id_in(&k, id)?);
                }
                _ => {}
            }
        }
        // A coin the observer authorized is spent, whatever a stale purse
        // record (put back by another tab's late write) says.
        let authorized = &b.authorized;
        b.coins.retain(|id, _| !authorized.contains(id));
        Ok(b)
    }
}

fn coin_key(id: &B32) -> String {
    key("coin", &id.to_b64())
}
fn withdrawal_key(request_id: &B32) -> String {
    key("wd", &request_id.to_b64())
}
fn observer_key(id: &B32) -> String {
    key("observer", &id.to_b64())
}
fn spent_key(id: &B32) -> String {
    key("spent", &id.to_b64())
}
fn request_key(nonce: &[u8]) -> String {
    key("req", &ecash_core::bytes::b64_encode(nonce))
}
fn received_key(id: &B32) -> String {
    key("recv", &id.to_b64())
}
fn seen_key(id: &B32) -> String {
    key("seen", &id.to_b64())
}
fn deposit_key(batch_id: &B32) -> String {
    key("batch", &batch_id.to_b64())
}

fn put<V: Serialize>(k: String, v: &V) -> Result<Write, WalletError> {
    Ok(Write::Put(k, json(v)?))
}

/// CAFE's observer: the bank's side of the wallet, which authorizes each
/// offline coin's one spend. `writes` (the coin leaving the purse, its
/// spend kept) land in the same atomic step as the authorization, or not
/// at all. A secure element would implement this trait holding the terms'
/// secrets itself and releasing, once per coin, only the halves the
/// challenge asks for; the software observer below only keeps a record.
#[allow(async_fn_in_trait)]
pub trait Observer {
    /// Authorizes the one spend of each of `coin_ids` and applies `writes`
    /// with them, all or nothing; `false`, with nothing written, if a spend
    /// of any of them was authorized before.
    async fn authorize(&self, coin_ids: &[B32], writes: Vec<Write>) -> Result<bool, WalletError>;
}

/// The software observer: its record per coin lives in the wallet's store.
/// It stops mistakes (two tabs, a retry, a bug); it cannot stop the owner of
/// the machine who copies or rolls back the store (`OFFLINE.md` section 8).
/// The bank identifies a double spender whatever the observer did.
pub struct SoftwareObserver<'a, S: Store>(pub &'a S);

impl<S: Store> Observer for SoftwareObserver<'_, S> {
    async fn authorize(
        &self,
        coin_ids: &[B32],
        mut writes: Vec<Write>,
    ) -> Result<bool, WalletError> {
        let guards: Vec<String> = coin_ids.iter().map(observer_key).collect();
        writes.extend(guards.iter().map(|g| Write::Put(g.clone(), "1".into())));
        Ok(self.0.apply_unless(&guards, writes).await?)
    }
}

/// The offline side of the wallet at a glance (no network).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OfflineBalance {
    /// Value of the offline coins in the purse.
    pub coins_value: u64,
    /// Offline coins by value: `(value, count)`, largest first.
    pub coins: Vec<(u64, usize)>,
    /// Withdrawals between their two rounds (recover finishes them).
    pub withdrawing: usize,
    /// Value received offline and not yet deposited.
    pub to_deposit: u64,
    /// Spends received and not yet deposited.
    pub received: usize,
    /// Spends made that no shop confirmed yet.
    pub undelivered: usize,
}

impl<S: Store, T: Transport> Wallet<S, T> {
    /// Writes `b` and mirrors what it changes in memory (history).
    pub(crate) async fn commit(&mut self, mut b: Batch) -> Result<(), WalletError> {
        use super::io::Mirror;
        let writes = std::mem::take(&mut b.writes);
        self.store.apply(writes).await?;
        self.state.mirror(b);
        Ok(())
    }

    /// The offline coins held, soonest-closing first.
    pub async fn offline_coins(&self) -> Result<Vec<OfflineCoinRecord>, WalletError> {
        let mut v: Vec<OfflineCoinRecord> =
            Book::load(&self.store).await?.coins.into_values().collect();
        v.sort_by_key(|c| (c.deposit_until, c.value));
        Ok(v)
    }

    /// The spends this wallet made, to show again.
    pub async fn offline_spent(&self) -> Result<Vec<SpentRecord>, WalletError> {
        let mut v: Vec<SpentRecord> = Book::load(&self.store).await?.spent.into_values().collect();
        v.sort_by_key(|s| s.at);
        Ok(v)
    }

    /// Offline coins, withdrawals in flight, and what was received (no network).
    pub async fn offline_balance(&self) -> Result<OfflineBalance, WalletError> {
        let book = Book::load(&self.store).await?;
        let mut by: BTreeMap<u64, usize> = BTreeMap::new();
        for c in book.coins.values() {
            *by.entry(c.value).or_default() += 1;
        }
        Ok(OfflineBalance {
            coins_value: book.coins.values().map(|c| c.value).sum(),
            coins: by.into_iter().rev().collect(),
            withdrawing: book.withdrawals.len(),
            to_deposit: book.received.values().map(|r| r.value).sum(),
            received: book.received.len(),
            undelivered: book.spent.values().filter(|s| !s.delivered).count(),
        })
    }
}
