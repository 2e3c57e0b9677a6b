//! Requests, responses and statements of the ten flows.
//!
//! Everything signed implements [`Canonical`]; its domain tag names the type,
//! so a signature on one message type can never pass as another.

use serde::{Deserialize, Serialize};

use crate::amount::Amount;
use crate::bytes::{B32, Bytes, Fixed};
use crate::canonical::{Canonical, Encoder, sha256};
use crate::coin::{BlindedCoin, Coin};
use crate::envelope::SealedEnvelope;
use crate::signing::{PublicKey, Signed};

/// An account id: base64url of the first 16 bytes of SHA-256 of the account's public key.
pub fn account_id(pk: &PublicKey) -> String {
    crate::bytes::b64_encode(&sha256(&pk.0.0)[..16])
}

/// `POST /accounts`: register a signing key. Signed by that key (proof of possession).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct RegisterAccount {
    /// The account's Ed25519 public key.
    pub public_key: PublicKey,
    /// Free text for the account holder's own records (e.g. "alice's wallet").
    pub label: String,
    /// Client time, unix seconds.
    pub timestamp: u64,
}

impl Canonical for RegisterAccount {
    const DOMAIN: &'static str = "register-account";
    fn encode_fields(&self, e: &mut Encoder) {
        e.fixed(&self.public_key.0.0)
            .str(&self.label)
            .u64(self.timestamp);
    }
}

/// Answer to a registration.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct AccountCreated {
    /// The new account's id.
    pub account_id: String,
}

/// Answer to `GET /accounts/{id}/public-key`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct AccountKey {
    /// The account's Ed25519 public key.
    pub public_key: PublicKey,
}

/// Answer to `GET /healthz`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Health {
    /// `ok`.
    pub status: String,
}

/// `POST /accounts/{id}/certificate`: a merchant asks its bank to certify
/// its account key under a name. Signed by the account key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct MerchantCertRequest {
    /// The account to certify.
    pub account_id: String,
    /// The name to certify it under.
    pub name: String,
    /// Client time, unix seconds; the bank refuses stale requests.
    pub timestamp: u64,
}

impl Canonical for MerchantCertRequest {
    const DOMAIN: &'static str = "merchant-cert-request";
    fn encode_fields(&self, e: &mut Encoder) {
        e.str(&self.account_id).str(&self.name).u64(self.timestamp);
    }
}

/// Answer to `GET /certifier`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct CertifierInfo {
    /// The certifier's name.
    pub name: String,
    /// The key that signs its certificates, lists and attestations.
    pub public_key: crate::signing::PublicKey,
}

/// `POST /accounts/{id}/faucet`: demo credit.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct FaucetRequest {
    /// Amount to credit.
    pub amount: Amount,
}

/// Signed query for `GET /accounts/{id}` (sent in headers).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct AccountQuery {
    /// Whose statement.
    pub account_id: String,
    /// Client time, unix seconds; the bank refuses stale queries.
    pub timestamp: u64,
}

impl Canonical for AccountQuery {
    const DOMAIN: &'static str = "account-query";
    fn encode_fields(&self, e: &mut Encoder) {
        e.str(&self.account_id).u64(self.timestamp);
    }
}

/// One line of an account's ledger.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct LedgerEntry {
    /// Signed change in minor units.
    pub delta: i64,
    /// Why: `faucet`, `withdraw`, `deposit`.
    pub reason: String,
    /// Request id or payment id behind the change.
    pub reference: String,
    /// Unix seconds.
    pub at: u64,
}

/// Answer to `GET /accounts/{id}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct AccountStatement {
    /// The account.
    pub account_id: String,
    /// Current balance.
    pub balance: Amount,
    /// Every balance change, oldest first.
    pub ledger: Vec<LedgerEntry>,
}

/// `POST /withdraw`: one account-signed request for a batch of blinded coins.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct WithdrawRequest {
    /// The account to debit.
    pub account_id: String,
    /// Client-chosen id; a retry with the same id and body gets the same answer.
    pub request_id: B32,
    /// Total, which must equal the sum of the coins' denominations.
    pub amount: Amount,
    /// Coins to sign.
    pub coins: Vec<BlindedCoin>,
    /// Client time, unix seconds.
    pub timestamp: u64,
}

impl Canonical for WithdrawRequest {
    const DOMAIN: &'static str = "withdraw-request";
    fn encode_fields(&self, e: &mut Encoder) {
        e.str(&self.account_id).fixed(&self.request_id.0);
        self.amount.encode(e);
        e.list(&self.coins).u64(self.timestamp);
    }
}

/// Blind signatures, in request order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct BlindSignatures {
    /// The request answered.
    pub request_id: B32,
    /// One per blinded coin, same order.
    pub blind_signatures: Vec<Bytes>,
}

/// A merchant's payment request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct PayReq {
    /// Merchant's id for this sale (becomes the receipt's transaction id).
    pub payreq_id: String,
    /// Price.
    pub amount: Amount,
    /// When issued, unix seconds.
    pub timestamp: u64,
    /// After this, the merchant refuses payment.
    pub expires_at: u64,
    /// The merchant's bank (`bank_id` of its key set).
    pub merchant_bank_id: String,
    /// The merchant's account at that bank.
    pub merchant_acc_id: String,
    /// What is sold.
    pub description: String,
    /// Where the wallet posts the payment.
    pub pay_url: String,
    /// Where the buyer sees the goods after paying.
    pub fulfillment_url: String,
    /// The merchant's certificate by its bank (NetCash): who the payer
    /// pays. Signed on its own, so it is not part of the request's hash.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merchant_certificate: Option<Signed<crate::certificate::MerchantCertificate>>,
    /// The merchant's bank's public URL (its certificate's address), where
    /// a payer holding another bank's coins fetches its certified key set to
    /// seal the payment to (NetCash). The payer checks what it finds there,
    /// so it is not part of the request's hash either.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merchant_bank_url: Option<String>,
    /// The banks whose coins the merchant's bank takes (its own and those it
    /// clears with), by bank id; empty: its own only.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub accepted_mints: Vec<String>,
}

impl PayReq {
    /// Whether the merchant takes coins of `bank_id`.
    pub fn accepts(&self, bank_id: &str) -> bool {
        self.merchant_bank_id == bank_id || self.accepted_mints.iter().any(|m| m == bank_id)
    }
}

impl Canonical for PayReq {
    const DOMAIN: &'static str = "payreq";
    fn encode_fields(&self, e: &mut Encoder) {
        e.str(&self.payreq_id);
        self.amount.encode(e);
        e.u64(self.timestamp)
            .u64(self.expires_at)
            .str(&self.merchant_bank_id)
            .str(&self.merchant_acc_id)
            .str(&self.description)
            .str(&self.pay_url)
            .str(&self.fulfillment_url);
    }
}

/// `payment_info`: what the merchant and bank see of a payment.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct PaymentInfo {
    /// The bank that must accept the coins.
    pub bank_id: String,
    /// Total paid.
    pub amount: Amount,
    /// Number of coins in the envelope.
    pub ncoins: u32,
    /// Payer's time, unix seconds.
    pub timestamp: u64,
    /// Payee's bank.
    pub merchant_bank_id: String,
    /// Payee's account.
    pub merchant_acc_id: String,
    /// The payreq this pays.
    pub payreq_id: String,
    /// `H(description)`.
    pub description_hash: B32,
    /// `H(proof key)`: lets the payer, and only the payer, prove the payment
    /// later ([`proof_key`]).
    pub payer_code_hash: B32,
    /// `H(goods key)`: the shop hands the goods over for the key
    /// ([`goods_key`]), which the bank cannot derive. Absent in payments
    /// made before goods keys (and then not encoded at all, so their hashes
    /// stand).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub goods_key_hash: Option<B32>,
}

impl Canonical for PaymentInfo {
    const DOMAIN: &'static str = "payment-info";
    fn encode_fields(&self, e: &mut Encoder) {
        e.str(&self.bank_id);
        self.amount.encode(e);
        e.u32(self.ncoins)
            .u64(self.timestamp)
            .str(&self.merchant_bank_id)
            .str(&self.merchant_acc_id)
            .str(&self.payreq_id)
            .fixed(&self.description_hash.0)
            .fixed(&self.payer_code_hash.0);
        // Last, and only when present: the bytes before it fix every field's
        // boundary, so the length left says whether it is there.
        if let Some(h) = &self.goods_key_hash {
            e.fixed(&h.0);
        }
    }
}

/// The plaintext inside a payment's envelope: `{Coins, H(payment_info)}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct CoinBundle {
    /// `H(payment_info)`, checked by the bank against the envelope's associated data.
    pub payment_info_hash: B32,
    /// The coins.
    pub coins: Vec<Coin>,
}

/// `payment = {payment_info, {Coins, H(payment_info)}PK_bank}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Payment {
    /// What is paid, to whom.
    pub payment_info: PaymentInfo,
    /// The coins, sealed to the bank and bound to `payment_info`.
    pub sealed_coins: SealedEnvelope,
}

impl Payment {
    /// Payment id, the idempotency key of deposits and the handle of proofs:
    /// a hash of `payment_info`, the nonce and the AES-GCM ciphertext (with
    /// its tag), which the payer fixed and which have one byte form each.
    ///
    /// The wrapped key is left out on purpose: it is an integer mod n, and a
    /// carrier could change its byte form (strip a leading zero) to have one
    /// payment deposited under a second id. The ciphertext already fixes the
    /// payment, since only the payer knows the key it was made under. Banks
    /// also refuse a wrapped key that is not exactly the modulus length.
    pub fn payment_id(&self) -> B32 {
        let mut e = Encoder::new("payment-id");
        self.payment_info.encode_fields(&mut e);
        e.fixed(&self.sealed_coins.nonce.0)
            .bytes(&self.sealed_coins.ciphertext.0);
        Fixed(sha256(&e.finish()))
    }
}

impl Canonical for Payment {
    const DOMAIN: &'static str = "payment";
    fn encode_fields(&self, e: &mut Encoder) {
        self.payment_info.encode_fields(e);
        e.bytes(&self.sealed_coins.wrapped_key.0)
            .fixed(&self.sealed_coins.nonce.0)
            .bytes(&self.sealed_coins.ciphertext.0);
    }
}

/// `deposit`: the merchant forwards a payment, signed by its account key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Deposit {
    /// The depositing merchant; must equal `payment_info.merchant_acc_id`.
    pub merchant_acc_id: String,
    /// The payment as received.
    pub payment: Payment,
}

impl Canonical for Deposit {
    const DOMAIN: &'static str = "deposit";
    fn encode_fields(&self, e: &mut Encoder) {
        e.str(&self.merchant_acc_id);
        self.payment.encode_fields(e);
    }
}

/// `deposit_ack = {result, amount, ...}Sig_bank`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct DepositAck {
    /// Always `accepted`: a refused deposit is an error, not an ack.
    pub result: String,
    /// The payment deposited.
    pub payment_id: B32,
    /// Amount credited.
    pub amount: Amount,
    /// Account credited.
    pub merchant_acc_id: String,
    /// The bank.
    pub bank_id: String,
    /// When the deposit committed, unix seconds.
    pub deposited_at: u64,
}

impl Canonical for DepositAck {
    const DOMAIN: &'static str = "deposit-ack";
    fn encode_fields(&self, e: &mut Encoder) {
        e.str(&self.result).fixed(&self.payment_id.0);
        self.amount.encode(e);
        e.str(&self.merchant_acc_id)
            .str(&self.bank_id)
            .u64(self.deposited_at);
    }
}

/// The merchant's receipt: `{amount, transaction_id, date}Sig_M`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Receipt {
    /// Amount paid.
    pub amount: Amount,
    /// The merchant's transaction id (the payreq id).
    pub transaction_id: String,
    /// Unix seconds.
    pub date: u64,
    /// The payment this receipt is for.
    pub payment_id: B32,
    /// The merchant.
    pub merchant_acc_id: String,
}

impl Canonical for Receipt {
    const DOMAIN: &'static str = "receipt";
    fn encode_fields(&self, e: &mut Encoder) {
        self.amount.encode(e);
        e.str(&self.transaction_id)
            .u64(self.date)
            .fixed(&self.payment_id.0)
            .str(&self.merchant_acc_id);
    }
}

/// What a shop answers to a payment.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct PaymentResponse {
    /// The shop's signed receipt.
    pub receipt: Signed<Receipt>,
    /// The key the receipt is signed with. Account ids are hashes of their
    /// keys ([`account_id`]), so the payer checks it against the payment
    /// request's merchant account without asking the bank, which would show
    /// the bank whom the payer just paid.
    pub merchant_public_key: PublicKey,
    /// The bank's signed ack the receipt rests on.
    pub deposit_ack: Signed<DepositAck>,
    /// Where the goods are.
    pub fulfillment_url: String,
}

/// `POST /proofs`: the payer reveals `payer_code`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct ProofRequest {
    /// The payment.
    pub payment_id: B32,
    /// The secret whose hash is `payment_info.payer_code_hash`: the payer
    /// code's [`proof_key`] (in payments made before goods keys, the payer
    /// code itself).
    pub payer_code: Bytes,
}

/// A bank-signed statement that a payment was made.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct PaymentProof {
    /// The payment.
    pub payment_id: B32,
    /// Its payment_info, showing amount, payee and `H(payer_code)`.
    pub payment_info: PaymentInfo,
    /// When it was deposited.
    pub deposited_at: u64,
    /// The bank.
    pub bank_id: String,
}

impl Canonical for PaymentProof {
    const DOMAIN: &'static str = "payment-proof";
    fn encode_fields(&self, e: &mut Encoder) {
        e.fixed(&self.payment_id.0);
        self.payment_info.encode_fields(e);
        e.u64(self.deposited_at).str(&self.bank_id);
    }
}

/// `POST /exchange`: coins in, blinded coins of the same total out.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct ExchangeRequest {
    /// Client-chosen id for idempotent retry.
    pub request_id: B32,
    /// Coins given up.
    pub coins: Vec<Coin>,
    /// New coins wanted, of the same total.
    pub outputs: Vec<BlindedCoin>,
}

impl Canonical for ExchangeRequest {
    const DOMAIN: &'static str = "exchange-request";
    fn encode_fields(&self, e: &mut Encoder) {
        e.fixed(&self.request_id.0)
            .list(&self.coins)
            .list(&self.outputs);
    }
}

/// `POST /recoup`: coins of a revoked key for fresh coins of the same total.
/// Each coin comes with the seed its secrets were derived from: its serial
/// and blinding factor follow, which links it to the blind signature the
/// bank issued, so the bank learns which withdrawal it came from; it is the
/// price of a recoup.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct RecoupRequest {
    /// Client-chosen id for idempotent retry.
    pub request_id: B32,
    /// The coins, each with its coin seed.
    pub coins: Vec<RecoupCoin>,
    /// New coins wanted, of the same total, under keys not revoked.
    pub outputs: Vec<BlindedCoin>,
}

/// A coin to recoup, with its coin seed ([`crate::coin::CoinSecrets::from_coin_seed`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct RecoupCoin {
    /// The coin.
    pub coin: Coin,
    /// The seed its serial, prefix, salt and blinding factor come from.
    pub coin_seed: B32,
}

impl Canonical for RecoupCoin {
    const DOMAIN: &'static str = "recoup-coin";
    fn encode_fields(&self, e: &mut Encoder) {
        self.coin.encode_fields(e);
        e.fixed(&self.coin_seed.0);
    }
}

impl Canonical for RecoupRequest {
    const DOMAIN: &'static str = "recoup-request";
    fn encode_fields(&self, e: &mut Encoder) {
        e.fixed(&self.request_id.0)
            .list(&self.coins)
            .list(&self.outputs);
    }
}

/// `POST /coins/state`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct CoinStateRequest {
    /// Coins to look up: a coin is its key and its serial.
    pub coins: Vec<CoinRef>,
}

/// A coin named without its signature.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct CoinRef {
    /// The denomination key that signed it.
    pub key_id: B32,
    /// Its serial.
    pub serial: B32,
}

/// Answer to `/coins/state`: one flag per coin, same order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct CoinStateResponse {
    /// `true` where the coin is spent.
    pub spent: Vec<bool>,
}

/// `POST /restore`: blinded messages whose blind signatures the bank stored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct RestoreRequest {
    /// Blinded coins re-derived from the wallet seed.
    pub blinded: Vec<BlindedCoin>,
}

/// Answer to `/restore`: the stored blind signature, or none, per blinded coin.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct RestoreResponse {
    /// Same order as the request.
    pub blind_signatures: Vec<Option<Bytes>>,
}

/// Length of a payer code in bytes.
pub const PAYER_CODE_LEN: usize = 32;

/// `H(description)` as it goes into `payment_info`.
pub fn description_hash(description: &str) -> B32 {
    Fixed(sha256(description.as_bytes()))
}

/// What the payer reveals to the bank to prove a payment (as
/// [`ProofRequest::payer_code`]): derived from its payer code under a
/// domain tag of its own, so the bank, which then knows it, still cannot
/// derive the goods key.
pub fn proof_key(payer_code: &[u8]) -> B32 {
    tagged(b"ecash/v1/proof-key", payer_code)
}

/// The key the shop hands the goods over for: derived from the payer code
/// under another tag, so the shop, which learns it when the payer asks for
/// the goods, cannot derive the proof key (nor the bank this one).
pub fn goods_key(payer_code: &[u8]) -> B32 {
    tagged(b"ecash/v1/goods-key", payer_code)
}

fn tagged(tag: &[u8], secret: &[u8]) -> B32 {
    let mut input = Vec::with_capacity(tag.len() + secret.len());
    input.extend_from_slice(tag);
    input.extend_from_slice(secret);
    Fixed(sha256(&input))
}

/// The hash a revealed key is checked against: `SHA-256(key)`.
pub fn key_hash(key: &[u8]) -> B32 {
    Fixed(sha256(key))
}

/// `payment_info.payer_code_hash` of a payer code: the hash of its proof key.
pub fn payer_code_hash(payer_code: &[u8]) -> B32 {
    key_hash(&proof_key(payer_code).0)
}

/// `payment_info.goods_key_hash` of a payer code: the hash of its goods key.
pub fn goods_key_hash(payer_code: &[u8]) -> B32 {
    key_hash(&goods_key(payer_code).0)
}
