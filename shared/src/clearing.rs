//! Clearing between mints (NetCash): what one certified mint asks of
//! another and what it gets back, all signed by the mints' master keys.
//!
//! A merchant banks at its own mint (B) and deposits every payment there.
//! Coins of another mint (A) are deposited by B at A as an ordinary
//! deposit into B's account at A, signed by B's master key (that account's
//! key) and sealed to A's envelope key; A's signed ack is what lets B
//! credit the merchant. B's account at A is opened with a
//! [`PeerRegistration`] carrying B's certificate, so A books it as a
//! mint's, and positions are brought to zero by a [`SettlementRequest`]
//! that A answers with a signed [`SettlementStatement`] both sides keep.

use serde::{Deserialize, Serialize};

use crate::amount::Amount;
use crate::bytes::B32;
use crate::canonical::{Canonical, Encoder};
use crate::certificate::MintCertificate;
use crate::signing::Signed;

/// The `payreq_id` of the deposit a mint makes at another for the payment
/// `payment_id` it is clearing: one per payment, so a retry is the same
/// deposit.
pub fn clearing_payreq_id(payment_id: &B32) -> String {
    format!("clearing:{}", payment_id.to_b64())
}

/// `POST /peers`: a certified mint opens its account at this mint, signed
/// by the master key its certificate names.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct PeerRegistration {
    /// The asking mint's certificate, by a certifier both pin.
    pub certificate: Signed<MintCertificate>,
    /// The asking mint's time, unix seconds; stale requests are refused.
    pub timestamp: u64,
}

impl Canonical for PeerRegistration {
    const DOMAIN: &'static str = "peer-registration";
    fn encode_fields(&self, e: &mut Encoder) {
        e.fixed(&self.certificate.body.canonical_hash())
            .fixed(&self.certificate.signature.0.0)
            .u64(self.timestamp);
    }
}

/// `POST /settlements`: a mint (the payee) asks another (the payer) to
/// settle `amount` of what the payer owes it, paid outside the system.
/// Signed by the payee's master key; idempotent under `settlement_id`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct SettlementRequest {
    /// Chosen by the payee, fresh per settlement.
    pub settlement_id: B32,
    /// The payee's account at the payer.
    pub account_id: String,
    /// The mint that owes (the one asked).
    pub payer_bank_id: String,
    /// The mint owed (the one asking).
    pub payee_bank_id: String,
    /// How much is settled.
    pub amount: Amount,
    /// The payee's time, unix seconds.
    pub timestamp: u64,
}

impl Canonical for SettlementRequest {
    const DOMAIN: &'static str = "settlement-request";
    fn encode_fields(&self, e: &mut Encoder) {
        e.fixed(&self.settlement_id.0)
            .str(&self.account_id)
            .str(&self.payer_bank_id)
            .str(&self.payee_bank_id);
        self.amount.encode(e);
        e.u64(self.timestamp);
    }
}

/// The payer mint's statement of a settlement: `amount` left the payee's
/// account at the payer, owed now outside the system. Signed by the
/// payer's master key; both mints keep it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct SettlementStatement {
    /// The request's id.
    pub settlement_id: B32,
    /// The payee's account at the payer.
    pub account_id: String,
    /// The mint that owes.
    pub payer_bank_id: String,
    /// The mint owed.
    pub payee_bank_id: String,
    /// How much was settled.
    pub amount: Amount,
    /// When the payer booked it, unix seconds.
    pub settled_at: u64,
}

impl Canonical for SettlementStatement {
    const DOMAIN: &'static str = "settlement-statement";
    fn encode_fields(&self, e: &mut Encoder) {
        e.fixed(&self.settlement_id.0)
            .str(&self.account_id)
            .str(&self.payer_bank_id)
            .str(&self.payee_bank_id);
        self.amount.encode(e);
        e.u64(self.settled_at);
    }
}

impl SettlementStatement {
    /// Whether this statement answers `req` (every field the payee chose).
    pub fn answers(&self, req: &SettlementRequest) -> bool {
        self.settlement_id == req.settlement_id
            && self.account_id == req.account_id
            && self.payer_bank_id == req.payer_bank_id
            && self.payee_bank_id == req.payee_bank_id
            && self.amount == req.amount
    }
}

/// A mint another clears with, as `GET /peers` lists it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct PeerInfo {
    /// Its bank id.
    pub bank_id: String,
    /// Its certified name.
    pub name: String,
    /// Its certified address.
    pub url: String,
}

/// `GET /peers`: the certified mints whose coins this mint takes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct PeerList {
    /// Every peer checked in the last round.
    pub peers: Vec<PeerInfo>,
}
