//! The offline (CAFE) protocol's messages (`OFFLINE.md` sections 3, 5, 6):
//! an account's collateral and allowance, the two-round withdrawal, and the
//! payee's batch deposit of transcripts, with the bank's signed receipt.

use serde::{Deserialize, Serialize};

use super::{Opening, PaymentRequest, Revealed, Spend};
use crate::amount::Amount;
use crate::bytes::{B32, Bytes};
use crate::canonical::{Canonical, Encoder};

/// Most unfinished offline withdrawals an account may have in one period (`A`).
pub const UNFINISHED_CAP: u64 = 4;
/// Most transcripts in one deposit batch.
pub const MAX_BATCH: usize = 64;

/// `POST /offline/standing`: an account asks where it stands (signed by its key).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct OfflineQuery {
    /// The account.
    pub account_id: String,
    /// Client time, unix seconds.
    pub timestamp: u64,
}

impl Canonical for OfflineQuery {
    const DOMAIN: &'static str = "offline-query";
    fn encode_fields(&self, e: &mut Encoder) {
        e.str(&self.account_id).u64(self.timestamp);
    }
}

/// An account's offline standing: collateral, allowance, and its next identity.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct OfflineStanding {
    /// The account.
    pub account_id: String,
    /// Collateral locked (after penalties): the allowance.
    pub collateral: Amount,
    /// Offline coins withdrawn whose key still takes deposits.
    pub in_use: Amount,
    /// What may still be withdrawn offline (0 when frozen).
    pub available: Amount,
    /// Paid from the collateral to payees of coins spent twice.
    pub penalties: Amount,
    /// Whether a double spend froze the allowance.
    pub frozen: bool,
    /// The counter the next offline withdrawal must name.
    pub next_counter: u64,
    /// The identity `u` of that counter, which its candidates must hide:
    /// the bank's secret function of account and counter, told only to the
    /// account's holder.
    pub next_identity: super::Identity,
    /// Withdrawals of this period begun and not finished.
    pub unfinished: u64,
    /// The most there may be.
    pub unfinished_cap: u64,
}

/// `POST /offline/collateral`: lock balance as collateral, or release it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct CollateralRequest {
    /// The account.
    pub account_id: String,
    /// A retry with the same id and body changes nothing more.
    pub request_id: B32,
    /// `true` locks, `false` releases.
    pub lock: bool,
    /// How much.
    pub amount: Amount,
    /// Client time, unix seconds.
    pub timestamp: u64,
}

impl Canonical for CollateralRequest {
    const DOMAIN: &'static str = "offline-collateral";
    fn encode_fields(&self, e: &mut Encoder) {
        e.str(&self.account_id)
            .fixed(&self.request_id.0)
            .bool(self.lock);
        self.amount.encode(e);
        e.u64(self.timestamp);
    }
}

/// `POST /offline/withdraw`, round 1: the blinded candidates under the
/// identity of the account's next counter.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct OfflineWithdrawRequest {
    /// The account debited.
    pub account_id: String,
    /// Client-chosen; the same id and body get the same answer.
    pub request_id: B32,
    /// The offline key.
    pub key_id: B32,
    /// The account's next counter (its standing's `next_counter`).
    pub counter: u64,
    /// `B_i = r_i^e · f(x_i, y_i) mod n`, [`super::CANDIDATES`] of them.
    pub candidates: Vec<Bytes>,
    /// Client time, unix seconds.
    pub timestamp: u64,
}

impl Canonical for OfflineWithdrawRequest {
    const DOMAIN: &'static str = "offline-withdraw";
    fn encode_fields(&self, e: &mut Encoder) {
        e.str(&self.account_id)
            .fixed(&self.request_id.0)
            .fixed(&self.key_id.0)
            .u64(self.counter)
            .u32(u32::try_from(self.candidates.len()).unwrap_or(u32::MAX));
        for b in &self.candidates {
            e.bytes(&b.0);
        }
        e.u64(self.timestamp);
    }
}

impl OfflineWithdrawRequest {
    /// What a retry must repeat: everything but the time, so a wallet that
    /// signs its request again after a crash gets the stored answer.
    pub fn idempotency_hash(&self) -> B32 {
        let mut same = self.clone();
        same.timestamp = 0;
        crate::bytes::Fixed(same.canonical_hash())
    }
}

/// The bank's answer to round 1: which candidates to open.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct OfflineChallenge {
    /// The withdrawal.
    pub request_id: B32,
    /// [`super::TERMS`] distinct indices below [`super::CANDIDATES`], sorted.
    pub open: Vec<u16>,
}

/// `POST /offline/withdraw/open`, round 2: the chosen candidates opened.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct OfflineOpenRequest {
    /// The account.
    pub account_id: String,
    /// The withdrawal.
    pub request_id: B32,
    /// One per chosen index, in its order.
    pub openings: Vec<Opening>,
    /// Client time, unix seconds.
    pub timestamp: u64,
}

impl Canonical for Opening {
    const DOMAIN: &'static str = "offline-opening";
    fn encode_fields(&self, e: &mut Encoder) {
        e.u32(u32::from(self.index))
            .fixed(&self.a.0)
            .fixed(&self.c.0)
            .fixed(&self.d.0)
            .bytes(&self.r.0);
    }
}

impl Canonical for OfflineOpenRequest {
    const DOMAIN: &'static str = "offline-open";
    fn encode_fields(&self, e: &mut Encoder) {
        e.str(&self.account_id)
            .fixed(&self.request_id.0)
            .list(&self.openings)
            .u64(self.timestamp);
    }
}

impl OfflineOpenRequest {
    /// What a retry must repeat: everything but the time (see
    /// [`OfflineWithdrawRequest::idempotency_hash`]).
    pub fn idempotency_hash(&self) -> B32 {
        let mut e = Encoder::new("offline-open-idempotency");
        e.str(&self.account_id)
            .fixed(&self.request_id.0)
            .list(&self.openings);
        crate::bytes::Fixed(crate::canonical::sha256(&e.finish()))
    }
}

/// The bank's answer to round 2: `(∏ B_i)^d` over the candidates not opened.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct OfflineBlindSignature {
    /// The withdrawal.
    pub request_id: B32,
    /// The blind signature, `len(n)` bytes.
    pub blind_signature: Bytes,
}

impl Canonical for PaymentRequest {
    const DOMAIN: &'static str = "offline-payment-request";
    fn encode_fields(&self, e: &mut Encoder) {
        e.str(&self.payee_id)
            .fixed(&self.nonce.0)
            .u64(self.issued_at);
    }
}

impl Canonical for Revealed {
    const DOMAIN: &'static str = "offline-revealed";
    fn encode_fields(&self, e: &mut Encoder) {
        match self {
            Self::Pad { a, c, y } => e.u8(1).fixed(&a.0).fixed(&c.0).fixed(&y.0),
            Self::Masked { x, b, d } => e.u8(0).fixed(&x.0).fixed(&b.0).fixed(&d.0),
        };
    }
}

impl Canonical for Spend {
    const DOMAIN: &'static str = "offline-spend";
    fn encode_fields(&self, e: &mut Encoder) {
        e.fixed(&self.key_id.0).bytes(&self.signature.0);
        self.request.encode_fields(e);
        e.list(&self.revealed);
    }
}

/// `POST /offline/deposit`: a payee's transcripts, deposited in one batch
/// (signed by the payee's account key).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct OfflineDepositRequest {
    /// The payee: every spend's request must name it.
    pub payee_id: String,
    /// Client-chosen; the same id and body get the same receipt.
    pub batch_id: B32,
    /// The spends received, at most [`MAX_BATCH`].
    pub spends: Vec<Spend>,
    /// Client time, unix seconds.
    pub timestamp: u64,
}

impl OfflineDepositRequest {
    /// What a retry must repeat: everything but the time.
    pub fn idempotency_hash(&self) -> B32 {
        let mut e = Encoder::new("offline-deposit-idempotency");
        e.str(&self.payee_id)
            .fixed(&self.batch_id.0)
            .list(&self.spends);
        crate::bytes::Fixed(crate::canonical::sha256(&e.finish()))
    }
}

impl Canonical for OfflineDepositRequest {
    const DOMAIN: &'static str = "offline-deposit";
    fn encode_fields(&self, e: &mut Encoder) {
        e.str(&self.payee_id)
            .fixed(&self.batch_id.0)
            .list(&self.spends)
            .u64(self.timestamp);
    }
}

/// What one deposited spend came to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum OfflineOutcome {
    /// The coin's first deposit: its value credited.
    Credited {
        /// Minor units.
        amount: u64,
    },
    /// The coin (or a term of it) was spent before: paid from the double
    /// spender's collateral, up to what was left (offline acceptance is
    /// guaranteed only up to it).
    DoubleSpent {
        /// Minor units paid.
        paid: u64,
        /// Whether the double spender was identified.
        identified: bool,
    },
    /// This very transcript was deposited before: nothing more is paid.
    Replayed,
}

impl Canonical for OfflineOutcome {
    const DOMAIN: &'static str = "offline-outcome";
    fn encode_fields(&self, e: &mut Encoder) {
        match self {
            Self::Credited { amount } => e.u8(0).u64(*amount),
            Self::DoubleSpent { paid, identified } => e.u8(1).u64(*paid).bool(*identified),
            Self::Replayed => e.u8(2),
        };
    }
}

/// One spend's line of a receipt.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct OfflineResult {
    /// The coin's id.
    pub coin_id: B32,
    /// What it came to.
    #[serde(flatten)]
    pub outcome: OfflineOutcome,
}

impl Canonical for OfflineResult {
    const DOMAIN: &'static str = "offline-result";
    fn encode_fields(&self, e: &mut Encoder) {
        e.fixed(&self.coin_id.0);
        self.outcome.encode_fields(e);
    }
}

/// The bank's receipt for a batch, signed by its master key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct OfflineDepositReceipt {
    /// The batch.
    pub batch_id: B32,
    /// The payee credited.
    pub payee_id: String,
    /// One per spend, in the batch's order.
    pub results: Vec<OfflineResult>,
    /// Total credited by this batch, minor units.
    pub credited: u64,
}

impl Canonical for OfflineDepositReceipt {
    const DOMAIN: &'static str = "offline-receipt";
    fn encode_fields(&self, e: &mut Encoder) {
        e.fixed(&self.batch_id.0)
            .str(&self.payee_id)
            .list(&self.results)
            .u64(self.credited);
    }
}

impl OfflineDepositReceipt {
    /// Whether this receipt is the one for `req`: its batch, its payee, and
    /// one line per spend in the batch's order. (The master key's signature
    /// over it is the caller's to check, with the key it pins.)
    pub fn answers(&self, req: &OfflineDepositRequest) -> bool {
        self.batch_id == req.batch_id
            && self.payee_id == req.payee_id
            && self.results.iter().map(|r| r.coin_id).eq(req
                .spends
                .iter()
                .map(|s| super::coin_id_of(&s.key_id, &s.signature.0)))
    }
}

/// A payee's answer to an offline spend it accepted, with no bank: the coin
/// is its to deposit later.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct OfflineAccepted {
    /// The coin's id.
    pub coin_id: B32,
    /// Its value, from its key.
    pub value: Amount,
    /// The payee's clock when it took it, unix seconds.
    pub received_at: u64,
}

/// Whether the bank's refusal of an offline deposit batch is about one of
/// its spends (and not about the payee, the bank, or the moment): the one
/// refusal after which a payee writes that spend off.
pub fn refuses_a_spend(code: crate::ErrorCode) -> bool {
    use crate::ErrorCode;
    matches!(
        code,
        ErrorCode::InvalidCoin
            | ErrorCode::UnknownKey
            | ErrorCode::KeyExpired
            | ErrorCode::KeyRevoked
    )
}
