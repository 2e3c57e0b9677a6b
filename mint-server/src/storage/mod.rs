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
//!   `commit_deposit`, each with a ledger entry.
//!
//! [`contract`] (feature `contract`, and in this crate's tests) checks all
//! of it; every backend runs it.

#[cfg(any(test, feature = "contract"))]
pub mod contract;
mod group_commit;
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
    /// The request id is taken by a different request.
    #[error("request id reused for a different request")]
    RequestIdReused,
    /// A balance would overflow.
    #[error("balance overflow")]
    Overflow,
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
pub(crate) fn to_i64(v: u64) -> Result<i64, StorageError> {
    i64::try_from(v).map_err(|_| StorageError::Overflow)
}

/// A stored signed 64-bit integer back as an amount or a time.
pub(crate) fn to_u64(v: i64) -> Result<u64, StorageError> {
    u64::try_from(v).map_err(|_| StorageError::Db(format!("negative value {v} in database")))
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
    /// (SHA-256 of blinded message, blind signature) per coin, for `/restore`.
    pub signatures: Vec<(B32, Vec<u8>)>,
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
    /// (serial, key id) of each coin given up.
    pub spent: Vec<(B32, B32)>,
    /// (SHA-256 of blinded message, blind signature) per new coin.
    pub signatures: Vec<(B32, Vec<u8>)>,
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
    /// (serial, key id) of each coin.
    pub spent: Vec<(B32, B32)>,
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
    /// Value of coins signed and not yet deposited (withdrawn - deposited).
    pub outstanding: u64,
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

    /// For each serial, whether it is spent.
    fn spent(&self, serials: &[B32]) -> Result<Vec<bool>, StorageError>;

    /// Every serial spent under the denomination key `key_id` (for its public spent list).
    fn spent_serials(&self, key_id: &B32) -> Result<Vec<B32>, StorageError>;

    /// For each blinded-message hash, the stored blind signature.
    fn blind_signatures(&self, hashes: &[B32]) -> Result<Vec<Option<Vec<u8>>>, StorageError>;

    /// Records that a payment proof was issued.
    fn record_proof(
        &self,
        payment_id: &B32,
        proof_json: &str,
        now: u64,
    ) -> Result<(), StorageError>;

    /// Totals for the conservation check.
    fn totals(&self) -> Result<Totals, StorageError>;

    /// Flushes and closes cleanly (checkpoint the WAL). Later calls fail.
    fn close(&self) -> Result<(), StorageError>;
}
