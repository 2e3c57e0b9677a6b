//! Storage of the bank's books, behind one trait.
//!
//! [`Storage`] is what bank logic needs; [`sqlite::SqliteStorage`] is the
//! embedded default, [`postgres::PostgresStorage`] the one several mint
//! nodes share. Both keep the same contract (written on each method).
//!
//! Contract for every implementation:
//! - every method is one atomic transaction: it happens completely or not at all;
//! - a method that returns `Ok` has made its change durable;
//! - concurrent calls behave as if run one after another (serializable);
//! - money never moves except in `faucet_credit`, `commit_withdrawal` and
//!   `commit_deposit`, each with a ledger entry, and `expire_keys`, which
//!   books what a key's coins never deposited were worth;
//! - a coin is its `(key_id, serial)`: the same serial under two keys is
//!   two coins. Coins of a key are spent, and its blind signatures kept,
//!   only between `add_keys` and `expire_keys` of that key; expiring drops
//!   them whole, which is what keeps the spent set bounded.
//!
//! [`contract`] (feature `contract`, and in this crate's tests) checks all
//! of it; every backend runs it.

pub mod clearing;
#[cfg(any(test, feature = "contract"))]
pub mod contract;
mod group_commit;
pub mod offline;
pub mod postgres;
pub mod sqlite;

use ecash_core::B32;
use ecash_core::messages::LedgerEntry;

/// Storage failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StorageError {
    /// An account with this id exists.
    #[error("account exists")]
    AccountExists,
    /// No account with this id.
    #[error("unknown account {0}")]
    UnknownAccount(String),
    /// The account's balance is below the debit.
    #[error("insufficient funds: balance {balance}, needed {needed}")]
    InsufficientFunds {
        /// Current balance.
        balance: u64,
        /// Amount asked for.
        needed: u64,
    },
    /// Some serials are spent already; nothing was recorded.
    #[error("{} coin(s) already spent", .0.len())]
    Spent(Vec<B32>),
    /// A coin's key is not in the books (never added, or expired).
    #[error("coins of key {0} are not taken")]
    UnknownKey(B32),
    /// The request id is taken by a different request.
    #[error("request id reused for a different request")]
    RequestIdReused,
    /// A blind signature a recoup links to was recouped before; nothing was recorded.
    #[error("a blind signature was recouped before")]
    Recouped,
    /// A balance would overflow.
    #[error("balance overflow")]
    Overflow,
    /// An offline rule refused it (allowance, freeze, counter, cap); nothing changed.
    #[error("{0}")]
    OfflineRefused(String),
    /// The database failed.
    #[error("database: {0}")]
    Db(String),
}

/// A registered account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountRecord {
    /// Account id.
    pub id: String,
    /// Ed25519 public key.
    pub public_key: [u8; 32],
    /// Balance in minor units.
    pub balance: u64,
}

/// What a finished state-changing request stored, for idempotent replay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredAnswer {
    /// Hash of the request's canonical bytes (detects reuse of an id).
    pub request_hash: B32,
    /// The JSON answer given.
    pub response_json: String,
}

impl StoredAnswer {
    /// What a request id already committed means for a request with
    /// `request_hash`: the same request gets the stored answer, another is
    /// refused, and an unused id is free.
    pub(crate) fn replay(
        existing: Option<Self>,
        request_hash: &B32,
    ) -> Result<Option<Self>, StorageError> {
        match existing {
            Some(a) if &a.request_hash == request_hash => Ok(Some(a)),
            Some(_) => Err(StorageError::RequestIdReused),
            None => Ok(None),
        }
    }
}

/// An amount or a time as the databases' signed 64-bit integer.
pub use ecash_core::keyset::{KeyRevocation, RevocationReason};

/// Where a blind signature came from ([`Storage::signature_origins`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SignatureOrigins {
    /// Each request it was issued to, with the signature.
    pub issued: Vec<(B32, Vec<u8>)>,
    /// Whether a recoup took it back already.
    pub recouped: bool,
}

/// A revocation reason as the books spell it.
pub(crate) fn reason_from(s: &str) -> Result<RevocationReason, StorageError> {
    match s {
        "compromised" => Ok(RevocationReason::Compromised),
        "extorted" => Ok(RevocationReason::Extorted),
        other => Err(StorageError::Db(format!(
            "unknown revocation reason {other}"
        ))),
    }
}

pub(crate) fn to_i64(v: u64) -> Result<i64, StorageError> {
    i64::try_from(v).map_err(|_| StorageError::Overflow)
}

/// A stored signed 64-bit integer back as an amount or a time.
pub(crate) fn to_u64(v: i64) -> Result<u64, StorageError> {
    u64::try_from(v).map_err(|_| StorageError::Db(format!("negative value {v} in database")))
}

/// A coin as the books name it: (serial, key id).
pub type CoinId = (B32, B32);

/// A blind signature made, as the books keep it for `/restore`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuedSig {
    /// SHA-256 of the blinded message's canonical bytes.
    pub blinded_hash: B32,
    /// The denomination key that signed (so its coins count as issued under it).
    pub key_id: B32,
    /// The blind signature.
    pub signature: Vec<u8>,
}

/// A denomination key as the books need it: its value, and when its coins stop counting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CoinKey {
    /// Key id.
    pub key_id: B32,
    /// Value of each of its coins, in minor units.
    pub value: u64,
    /// Unix seconds after which none of its coins is accepted.
    pub deposit_until: u64,
}

/// What expiring a key booked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expiry {
    /// Key id.
    pub key_id: B32,
    /// Its coins issued and never deposited.
    pub coins: u64,
    /// What they were worth, now booked as expired.
    pub amount: u64,
}

/// How expiring a key books its coins: `unspent` (issued minus spent, each
/// worth `value`) coins expire; fewer than none (coins from before keys
/// were counted, spent since) come out of the legacy figure. Returns
/// (coins expired, their amount, the change to the legacy figure).
pub(crate) fn expiry_split(unspent: i64, value: u64) -> Result<(i64, i64, i64), StorageError> {
    let value = to_i64(value)?;
    let coins = unspent.max(0);
    let amount = coins.checked_mul(value).ok_or(StorageError::Overflow)?;
    let legacy = unspent
        .min(0)
        .checked_mul(value)
        .ok_or(StorageError::Overflow)?;
    Ok((coins, amount, legacy))
}

/// A withdrawal to commit.
#[derive(Debug, Clone)]
pub struct NewWithdrawal {
    /// Request id.
    pub request_id: B32,
    /// Hash of the request's canonical bytes.
    pub request_hash: B32,
    /// Account debited.
    pub account_id: String,
    /// Amount debited.
    pub amount: u64,
    /// The blind signature of each coin, for `/restore`.
    pub signatures: Vec<IssuedSig>,
    /// The JSON answer to store.
    pub response_json: String,
    /// Unix seconds.
    pub now: u64,
}

/// An exchange to commit.
#[derive(Debug, Clone)]
pub struct NewExchange {
    /// Request id.
    pub request_id: B32,
    /// Hash of the request's canonical bytes.
    pub request_hash: B32,
    /// Each coin given up.
    pub spent: Vec<CoinId>,
    /// The blind signature of each new coin.
    pub signatures: Vec<IssuedSig>,
    /// For a recoup: the blinded coins (their hashes) whose blind
    /// signatures the coins given up were linked to. Each is recouped once
    /// ever, even through another coin made with a leaked key.
    pub recouped: Vec<B32>,
    /// The JSON answer to store.
    pub response_json: String,
    /// Unix seconds.
    pub now: u64,
}

/// A deposit to commit.
#[derive(Debug, Clone)]
pub struct NewDeposit {
    /// Payment id (idempotency key).
    pub payment_id: B32,
    /// Merchant credited.
    pub merchant_acc_id: String,
    /// Amount credited.
    pub amount: u64,
    /// Each coin.
    pub spent: Vec<CoinId>,
    /// `H(payer_code)` from payment_info, for proofs.
    pub payer_code_hash: B32,
    /// payment_info as JSON, for proofs.
    pub payment_info_json: String,
    /// The signed ack as JSON.
    pub ack_json: String,
    /// Unix seconds.
    pub now: u64,
}

/// A committed deposit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DepositRecord {
    /// Payment id.
    pub payment_id: B32,
    /// `H(payer_code)`.
    pub payer_code_hash: B32,
    /// payment_info JSON.
    pub payment_info_json: String,
    /// Signed ack JSON.
    pub ack_json: String,
    /// Unix seconds.
    pub deposited_at: u64,
}

/// Totals for audits and the conservation check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Totals {
    /// All money ever credited from outside (faucet).
    pub credited: u64,
    /// Sum of all account balances.
    pub balances: u64,
    /// Value of the coins of unexpired keys signed and not yet spent,
    /// counted key by key from the blind signatures and spent coins kept.
    pub outstanding: u64,
    /// Value of coins that expired unspent, as `expire_keys` booked it.
    pub expired: u64,
}

impl Totals {
    /// Whether the books balance: accounts + outstanding + expired = credited.
    pub fn balanced(&self) -> bool {
        self.balances
            .checked_add(self.outstanding)
            .and_then(|v| v.checked_add(self.expired))
            == Some(self.credited)
    }
}

/// The bank's books. See the module docs for the contract.
pub trait Storage: Send + Sync + 'static {
    /// Registers an account. Fails with `AccountExists` if the id is taken.
    fn create_account(
        &self,
        id: &str,
        public_key: &[u8; 32],
        label: &str,
        now: u64,
    ) -> Result<(), StorageError>;

    /// The account, or `None`.
    fn account(&self, id: &str) -> Result<Option<AccountRecord>, StorageError>;

    /// Every ledger entry of the account, oldest first.
    fn ledger(&self, id: &str) -> Result<Vec<LedgerEntry>, StorageError>;

    /// Credits demo money from outside the system; returns the new balance.
    fn faucet_credit(&self, id: &str, amount: u64, now: u64) -> Result<u64, StorageError>;

    /// The stored answer of a withdrawal, if `request_id` was committed.
    fn withdrawal(&self, request_id: &B32) -> Result<Option<StoredAnswer>, StorageError>;

    /// Debits the account and stores the answer and blind signatures, once.
    /// If `request_id` is already committed with the same hash, changes nothing
    /// and returns the stored answer; with another hash, `RequestIdReused`.
    fn commit_withdrawal(&self, w: &NewWithdrawal) -> Result<StoredAnswer, StorageError>;

    /// The stored answer of an exchange, if committed.
    fn exchange(&self, request_id: &B32) -> Result<Option<StoredAnswer>, StorageError>;

    /// Marks the coins spent and stores the new blind signatures, once.
    /// Any coin already spent: `Spent(all such serials)` and nothing recorded.
    /// Replay rules as for `commit_withdrawal`.
    fn commit_exchange(&self, x: &NewExchange) -> Result<StoredAnswer, StorageError>;

    /// The committed deposit of this payment, if any.
    fn deposit(&self, payment_id: &B32) -> Result<Option<DepositRecord>, StorageError>;

    /// Marks the coins spent and credits the merchant, once per payment id.
    /// If the payment is already deposited, changes nothing and returns the stored record.
    /// Any coin already spent: `Spent(all such serials)` and nothing recorded.
    fn commit_deposit(&self, d: &NewDeposit) -> Result<DepositRecord, StorageError>;

    /// For each coin, whether it is spent.
    fn spent(&self, coins: &[CoinId]) -> Result<Vec<bool>, StorageError>;

    /// Every serial spent under the denomination key `key_id` (for its
    /// public spent list); `UnknownKey` if the key is not in force in the books.
    fn spent_serials(&self, key_id: &B32) -> Result<Vec<B32>, StorageError>;

    /// For each blinded-message hash, the stored blind signature.
    fn blind_signatures(&self, hashes: &[B32]) -> Result<Vec<Option<Vec<u8>>>, StorageError>;

    /// Revokes a denomination key (the first revocation of a key stands)
    /// and marks the requests `extorted` (withdrawals or exchanges whose
    /// blinded coins the bank was forced to sign) as extorted.
    fn revoke_key(&self, r: &KeyRevocation, extorted: &[B32]) -> Result<(), StorageError>;

    /// Every denomination key revoked.
    fn key_revocations(&self) -> Result<Vec<KeyRevocation>, StorageError>;

    /// The requests that were issued the blind signature over the blinded
    /// coin hashing to `blinded_hash`, each with that signature, and whether
    /// a recoup took it back already.
    fn signature_origins(&self, blinded_hash: &B32) -> Result<SignatureOrigins, StorageError>;

    /// Whether any of these requests is marked extorted.
    fn any_extorted(&self, request_ids: &[B32]) -> Result<bool, StorageError>;

    /// Records that a payment proof was issued.
    fn record_proof(
        &self,
        payment_id: &B32,
        proof_json: &str,
        now: u64,
    ) -> Result<(), StorageError>;

    /// Makes the books ready for coins of `keys` (PostgreSQL: a partition
    /// of the spent coins each). Keys known already are left as they are.
    /// A coin of a key not added cannot be spent.
    fn add_keys(&self, keys: &[CoinKey]) -> Result<(), StorageError>;

    /// Expires every added key whose `deposit_until` is before `cutoff`:
    /// books the value of its coins issued and never spent as expired, then
    /// drops its spent coins and blind signatures whole. Once per key.
    fn expire_keys(&self, cutoff: u64, now: u64) -> Result<Vec<Expiry>, StorageError>;

    /// Totals for the conservation check.
    fn totals(&self) -> Result<Totals, StorageError>;

    /// Flushes and closes cleanly (checkpoint the WAL). Later calls fail.
    fn close(&self) -> Result<(), StorageError>;
}
