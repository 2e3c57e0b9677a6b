//! The books of clearing between mints (NetCash): accounts other mints
//! hold here, the journal of payments in other mints' coins, settlements.
//!
//! Contract, on top of [`super::Storage`]'s (same database, same rules):
//! - a journaled clearing is credited to its merchant at most once, only by
//!   `finish_clearing`, which also records the claim on the other mint;
//! - a clearing begun and not finished is listed by `pending_clearings`
//!   until it is finished or dropped, so a restart completes it;
//! - a settlement as payer debits the other mint's account here; as payee
//!   it lowers the claim once its statement is recorded;
//! - per mint: balances + outstanding + expired + settled out = credited +
//!   claims + settled in ([`ClearingTotals::balanced_with`]).
//!
//! Only the SQLite books keep them for now: a mint on PostgreSQL does not
//! clear (it says so at start, and to a mint asking to open an account).

use ecash_core::B32;

use super::{StorageError, Totals};

/// What a journaled clearing is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Purpose {
    /// A merchant's payment: credited once the peer acks.
    Deposit {
        /// The merchant.
        merchant_acc_id: String,
        /// `H(payer_code)` from payment_info, for proofs here.
        payer_code_hash: B32,
    },
    /// An anonymous exchange: new coins signed once the peer acks.
    Exchange {
        /// The request's canonical hash (a reused id is refused).
        request_hash: B32,
    },
}

/// A payment or exchange in another mint's coins, journaled before they go there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewClearing {
    /// The payment id, or the exchange's request id (idempotency key).
    pub payment_id: B32,
    /// The mint whose coins pay.
    pub peer_bank_id: String,
    /// Deposit or exchange.
    pub purpose: Purpose,
    /// Amount, minor units.
    pub amount: u64,
    /// The payment's payment_info, or the exchange request, as JSON.
    pub payment_info_json: String,
    /// The ack the merchant gets once the credit is booked (an exchange: empty).
    pub ack_json: String,
    /// The signed deposit sent to the peer, resent as it is on every retry.
    pub forward_json: String,
    /// Unix seconds.
    pub now: u64,
}

/// A journaled clearing, as a retry or a restart needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClearingRecord {
    /// The payment id, or the exchange's request id.
    pub payment_id: B32,
    /// For an exchange: its request's hash and the request as JSON.
    pub exchange: Option<(B32, String)>,
    /// The mint whose coins pay.
    pub peer_bank_id: String,
    /// Amount, minor units.
    pub amount: u64,
    /// The signed deposit for the peer, as JSON.
    pub forward_json: String,
    /// When it was journaled (an exchange's new coins are signed with the
    /// keys that signed then), unix seconds.
    pub began_at: u64,
}

/// Which side of a settlement this mint is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// It owed: the other mint's account here is debited.
    Payer,
    /// It was owed: its claim on the other mint goes down.
    Payee,
}

impl Side {
    /// As stored.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Payer => "payer",
            Self::Payee => "payee",
        }
    }
}

/// A settlement to book.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSettlement {
    /// Its id (idempotency key).
    pub settlement_id: B32,
    /// This mint's side.
    pub side: Side,
    /// The other mint's bank id.
    pub peer_bank_id: String,
    /// The account debited at the payer (as payer: the account here).
    pub account_id: String,
    /// Amount, minor units.
    pub amount: u64,
    /// The signed request as JSON (a replay must be the same request).
    pub request_json: String,
    /// The payer's signed statement, when known (always, as payer).
    pub statement_json: Option<String>,
    /// Unix seconds.
    pub now: u64,
}

/// A settlement as booked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettlementRecord {
    /// Its id.
    pub settlement_id: B32,
    /// The other mint's bank id.
    pub peer_bank_id: String,
    /// Amount, minor units.
    pub amount: u64,
    /// The signed request as JSON.
    pub request_json: String,
    /// The payer's signed statement, once recorded.
    pub statement_json: Option<String>,
}

/// What clearing adds to the totals.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ClearingTotals {
    /// Balances of accounts other mints hold here (part of `Totals::balances`).
    pub peer_accounts: u64,
    /// What other mints owe this one: clearings acked minus settled.
    pub claims: u64,
    /// Settled as payee (received outside the system).
    pub settled_in: u64,
    /// Settled as payer (paid outside the system).
    pub settled_out: u64,
}

impl ClearingTotals {
    /// Whether one mint's books balance: balances + outstanding + expired +
    /// settled out = credited + claims + settled in.
    pub fn balanced_with(&self, t: &Totals) -> bool {
        let left = t
            .balances
            .checked_add(t.outstanding)
            .and_then(|v| v.checked_add(t.expired))
            .and_then(|v| v.checked_add(self.settled_out));
        let right = t
            .credited
            .checked_add(self.claims)
            .and_then(|v| v.checked_add(self.settled_in));
        left.is_some() && left == right
    }
}

/// The clearing books. See the module docs for the contract.
pub trait ClearingBooks: Send + Sync + 'static {
    /// Marks an account as another mint's (`name`: its certified name).
    /// Again for the same account: nothing changes.
    fn mark_peer(&self, account_id: &str, name: &str, now: u64) -> Result<(), StorageError>;

    /// Journals a clearing once per payment id; the one stored (this, or
    /// an earlier one of the same payment) is returned.
    fn begin_clearing(&self, c: &NewClearing) -> Result<ClearingRecord, StorageError>;

    /// The journaled clearing of a payment not yet finished, if any.
    fn clearing(&self, payment_id: &B32) -> Result<Option<ClearingRecord>, StorageError>;

    /// With the peer's ack: credits the merchant, records the claim and
    /// the deposit (as `Storage::deposit` finds it), once. Again: the
    /// stored record, nothing changed.
    fn finish_clearing(
        &self,
        payment_id: &B32,
        peer_ack_json: &str,
        now: u64,
    ) -> Result<super::DepositRecord, StorageError>;

    /// With the peer's ack of an exchange's coins (journaled under
    /// `journal_id`): stores the exchange's answer and new blind signatures
    /// under `x.request_id` (as `Storage::exchange` finds them) and records
    /// the claim, once. Again: the stored answer.
    fn finish_exchange_clearing(
        &self,
        journal_id: &B32,
        peer_ack_json: &str,
        x: &super::NewExchange,
    ) -> Result<super::StoredAnswer, StorageError>;

    /// Drops a clearing the peer refused for good (not a finished one).
    fn drop_clearing(&self, payment_id: &B32) -> Result<(), StorageError>;

    /// Every clearing begun and not finished, oldest first.
    fn pending_clearings(&self) -> Result<Vec<ClearingRecord>, StorageError>;

    /// How many clearings with `peer_bank_id` are begun and not finished.
    fn pending_count(&self, peer_bank_id: &str) -> Result<u64, StorageError>;

    /// Books a settlement once per id: as payer it debits the account
    /// (`InsufficientFunds` if short); as payee without a statement it is
    /// pending, and its amount no longer free to settle. The same id with
    /// another request: `RequestIdReused`. Returns what is stored.
    fn begin_settlement(&self, s: &NewSettlement) -> Result<SettlementRecord, StorageError>;

    /// Records the payer's statement of a pending payee settlement, once.
    fn finish_settlement(
        &self,
        settlement_id: &B32,
        statement_json: &str,
        now: u64,
    ) -> Result<(), StorageError>;

    /// The settlement booked under this id, if any.
    fn settlement(&self, settlement_id: &B32) -> Result<Option<SettlementRecord>, StorageError>;

    /// Drops a payee settlement the payer refused for good (not a finished
    /// one): its amount is free to settle again.
    fn drop_settlement(&self, settlement_id: &B32) -> Result<(), StorageError>;

    /// Payee settlements still waiting for their statement.
    fn pending_settlements(&self) -> Result<Vec<SettlementRecord>, StorageError>;

    /// Per other mint: what it owes here and no settlement covers yet.
    fn unsettled_claims(&self) -> Result<Vec<(String, u64)>, StorageError>;

    /// Clearing's part of the totals.
    fn clearing_totals(&self) -> Result<ClearingTotals, StorageError>;
}
