//! The books of offline (CAFE) coins, `OFFLINE.md` sections 3, 5 and 6:
//! collateral and allowance per account, the two-round withdrawals (each
//! the identity `u` it was made under), and every deposited transcript with
//! its terms indexed, so that a second spend names the withdrawal.
//!
//! Contract, on top of [`super::Storage`]'s (same database, same rules):
//! - collateral moves only from and to the account's balance, each move
//!   with a ledger entry; a release never leaves less collateral than the
//!   allowance in use (withdrawals begun whose key's deposit window is open);
//! - a withdrawal begins once per request id, with the account's next
//!   counter, within the allowance, not frozen, and with fewer than the cap
//!   of unfinished withdrawals in its period; it is debited once, when it
//!   finishes; a refused one stays counted against the cap;
//! - a batch of transcripts is deposited once per batch id, atomically with
//!   the identification of every double spender in it: the first deposit of
//!   a coin credits its value; a transcript sharing terms with ones kept
//!   before names the identity most of those terms point at among the
//!   identities of signed withdrawals, whose collateral pays it (never to
//!   that account itself), oldest first, while any is left, and whose
//!   allowance is frozen; a coin deposited again that names no one is paid
//!   nothing, a coin that only shares terms with other coins and names no
//!   one is a first deposit; the same transcript again is a replay;
//! - per books: balances + online outstanding + expired + collateral +
//!   offline issued − offline redeemed = credited ([`OfflineTotals::balanced_with`]).
//!
//! Only the SQLite books keep them for now: a mint on PostgreSQL has no
//! offline keys (it says so at start).

use ecash_core::B32;
use ecash_core::offline::messages::OfflineOutcome;
use ecash_core::offline::{Identity, VerifiedSpend};

use super::{StorageError, Totals};

/// How long past its window a withdrawal still holds its allowance,
/// seconds: a deposit the bank checked at the window's last second may
/// commit a little later, and must still find the collateral behind it.
pub const RELEASE_MARGIN_SECS: u64 = 300;

/// An account's offline standing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct OfflineStanding {
    /// Collateral locked, minor units (after penalties).
    pub collateral: u64,
    /// Value of the offline coins signed whose key still takes deposits, and
    /// of withdrawals begun that may still be finished.
    pub in_use: u64,
    /// Penalties paid out of the collateral to payees of double spends.
    pub penalties: u64,
    /// Whether a double spend froze the allowance.
    pub frozen: bool,
    /// The counter of the account's next offline identity.
    pub next_counter: u64,
    /// Withdrawals of the current period begun and not finished (or refused).
    pub unfinished: u64,
}

/// An offline withdrawal to begin.
#[derive(Debug, Clone)]
pub struct NewOfflineWithdrawal {
    /// Request id.
    pub request_id: B32,
    /// Hash of the request's canonical bytes.
    pub request_hash: B32,
    /// The account it is for.
    pub account_id: String,
    /// The account's counter it takes (must be its next).
    pub counter: u64,
    /// The identity `u` of that counter.
    pub identity: Identity,
    /// The offline key.
    pub key_id: B32,
    /// The coin's value.
    pub value: u64,
    /// The key's last withdraw second: an unfinished withdrawal holds the
    /// allowance until then (and [`RELEASE_MARGIN_SECS`]).
    pub withdraw_until: u64,
    /// The key's last deposit second: a signed coin holds the allowance
    /// until then (and [`RELEASE_MARGIN_SECS`]).
    pub deposit_until: u64,
    /// The key's period (unfinished withdrawals are capped per period).
    pub period: u64,
    /// The blinded candidates, as JSON.
    pub candidates_json: String,
    /// The candidates the bank opens, as JSON.
    pub chosen_json: String,
    /// Most unfinished withdrawals an account may have in one period.
    pub unfinished_cap: u64,
    /// Unix seconds.
    pub now: u64,
}

/// Where an offline withdrawal stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WithdrawalState {
    /// The bank chose what to open; the wallet has not opened it yet.
    Chosen,
    /// Opened, checked, signed and debited.
    Signed,
    /// The openings did not match: closed, counted against the cap.
    Refused,
}

/// An offline withdrawal as stored.
#[derive(Debug, Clone)]
pub struct OfflineWithdrawal {
    /// The account.
    pub account_id: String,
    /// Hash of the first round's request.
    pub request_hash: B32,
    /// The identity the candidates must encode.
    pub identity: Identity,
    /// The offline key.
    pub key_id: B32,
    /// The coin's value.
    pub value: u64,
    /// The blinded candidates, as JSON.
    pub candidates_json: String,
    /// The candidates to open, as JSON.
    pub chosen_json: String,
    /// Where it stands.
    pub state: WithdrawalState,
    /// Hash of the opening request, once signed.
    pub open_hash: Option<B32>,
    /// The blind signature answer, once signed, as JSON.
    pub response_json: Option<String>,
}

/// One transcript of a batch to deposit, checked by the bank.
#[derive(Debug, Clone)]
pub struct NewTranscript {
    /// The spend as verified (its terms, bits and pads).
    pub spend: VerifiedSpend,
    /// The coin's offline key.
    pub key_id: B32,
    /// The coin's value.
    pub value: u64,
    /// The spend as received, as JSON (kept as the evidence).
    pub spend_json: String,
    /// Hash of the payee's request it answers: a replay is the same
    /// transcript for the same request.
    pub request_hash: B32,
}

/// A batch of transcripts to deposit.
#[derive(Debug, Clone)]
pub struct NewOfflineDeposit {
    /// Batch id (idempotency key).
    pub batch_id: B32,
    /// Hash of the batch's canonical bytes.
    pub batch_hash: B32,
    /// The payee credited.
    pub payee_id: String,
    /// The transcripts, in order.
    pub transcripts: Vec<NewTranscript>,
    /// Unix seconds.
    pub now: u64,
}

/// A batch deposited before, as a retry's answer needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredBatch {
    /// Hash of the batch first deposited under this id.
    pub batch_hash: B32,
    /// Its payee.
    pub payee_id: String,
    /// Each coin and what it came to, in the batch's order.
    pub results: Vec<(B32, OfflineOutcome)>,
}

/// Sums for the conservation check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct OfflineTotals {
    /// Collateral locked in all accounts.
    pub collateral: u64,
    /// Value of every offline withdrawal signed.
    pub issued: u64,
    /// Value credited for first deposits of offline coins.
    pub redeemed: u64,
}

impl OfflineTotals {
    /// Whether the books balance with offline money counted:
    /// balances + outstanding + expired + collateral + issued − redeemed = credited.
    pub fn balanced_with(&self, t: &Totals) -> bool {
        let held = t
            .balances
            .checked_add(t.outstanding)
            .and_then(|v| v.checked_add(t.expired))
            .and_then(|v| v.checked_add(self.collateral))
            .and_then(|v| v.checked_add(self.issued));
        held.and_then(|v| v.checked_sub(self.redeemed)) == Some(t.credited)
    }
}

/// A double spend the bank identified, as its books show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DoubleSpend {
    /// The coin spent again.
    pub coin_id: B32,
    /// The identity revealed (`None`: not revealed, `2^-40` of the time).
    pub identity: Option<Identity>,
    /// The account behind it.
    pub account_id: Option<String>,
    /// Paid to the second payee from the collateral.
    pub paid: u64,
}

/// The offline books. See the module docs for the contract.
pub trait OfflineBooks: Send + Sync {
    /// The account's offline standing at `now`, its unfinished
    /// withdrawals counted in `period`.
    fn offline_standing(
        &self,
        account_id: &str,
        now: u64,
        period: u64,
    ) -> Result<OfflineStanding, StorageError>;

    /// Locks (`delta > 0`) or releases (`delta < 0`) collateral, once per
    /// request id (a replay with the same delta changes nothing). A release
    /// beyond the collateral not in use, or of a frozen account, is
    /// `OfflineLimit`.
    fn move_collateral(
        &self,
        account_id: &str,
        request_id: &B32,
        delta: i64,
        now: u64,
    ) -> Result<OfflineStanding, StorageError>;

    /// Begins a withdrawal (see the contract); a replay with the same hash
    /// returns the stored chosen set, another hash is `RequestIdReused`.
    fn begin_offline_withdrawal(&self, w: &NewOfflineWithdrawal) -> Result<String, StorageError>;

    /// The withdrawal of `request_id`, if begun.
    fn offline_withdrawal(
        &self,
        request_id: &B32,
    ) -> Result<Option<OfflineWithdrawal>, StorageError>;

    /// Marks it signed and debits the account its value, once, unless the
    /// account is frozen: a replay with the same opening hash returns the
    /// stored answer.
    fn finish_offline_withdrawal(
        &self,
        request_id: &B32,
        open_hash: &B32,
        response_json: &str,
        now: u64,
    ) -> Result<String, StorageError>;

    /// Closes it as refused (its openings did not match).
    fn refuse_offline_withdrawal(&self, request_id: &B32, now: u64) -> Result<(), StorageError>;

    /// Deposits a batch (see the contract): one outcome per transcript, in
    /// order. A replay of the batch id with the same hash returns the
    /// outcomes stored; another hash is `RequestIdReused`.
    fn commit_offline_deposit(
        &self,
        d: &NewOfflineDeposit,
    ) -> Result<Vec<OfflineOutcome>, StorageError>;

    /// The batch deposited under `batch_id`, if any.
    fn offline_batch(&self, batch_id: &B32) -> Result<Option<StoredBatch>, StorageError>;

    /// The double spends identified against `account_id` (`None`: all).
    fn double_spends(&self, account_id: Option<&str>) -> Result<Vec<DoubleSpend>, StorageError>;

    /// Every identity `u` of the withdrawals signed (for the audit that an
    /// honest deposit's records hold none of them).
    fn offline_identities(&self) -> Result<Vec<Identity>, StorageError>;

    /// Sums for the conservation check.
    fn offline_totals(&self) -> Result<OfflineTotals, StorageError>;
}
