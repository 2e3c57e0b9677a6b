//! What the wallet persists, and under which keys.
//!
//! Keys: `meta`, `keys` (the signed key set), `papers` (its certificate), `seenkeys` (key ids by value
//! and period, to notice a key made for this wallet), `coin/<serial>`, `op/<id>` (the
//! journal), `hist/<time>-<id>` (history), `ctr/<key_id>` (derivation counters),
//! `mint/<bank_id>` (another certified bank the wallet holds coins of),
//! `offline/...` (offline coins and the observer: see `wallet::offline`).

use ecash_core::certificate::{MintCertificate, RevocationList};
use ecash_core::messages::{
    DepositAck, ExchangeRequest, PayReq, Payment, PaymentProof, Receipt, WithdrawRequest,
};
use ecash_core::{B32, Bytes, Coin, PublicKey, Signed};
use serde::{Deserialize, Serialize};

/// Format version of the stored records. 2: a wallet says whether it was
/// restored ([`Meta::restored`]); a wallet of version 1 may have been, so it
/// scans every bank it adds before deriving coins there.
pub const FORMAT_VERSION: u32 = 2;

/// Key of the wallet's identity record.
pub const META_KEY: &str = "meta";
/// Key of the cached signed key set.
pub const KEYS_KEY: &str = "keys";
/// Key of the keys seen so far, by value and period ([`ecash_core::keyset::SeenKeys`]).
pub const SEEN_KEYS_KEY: &str = "seenkeys";
/// Key of the bank's certificate and the newest revocation list ([`Papers`]).
pub const PAPERS_KEY: &str = "papers";

/// Key of a coin record.
pub fn coin_key(serial: &B32) -> String {
    format!("coin/{}", serial.to_b64())
}
/// Key of a journal entry.
pub fn op_key(id: &str) -> String {
    format!("op/{id}")
}
/// Key of a history entry (sorts by time).
pub fn history_key(at: u64, id: &str) -> String {
    format!("hist/{at:012}-{id}")
}
/// Key of another bank's record ([`OtherMint`]).
pub fn mint_key(bank_id: &str) -> String {
    format!("mint/{bank_id}")
}
/// Key of a denomination key's derivation counter.
pub fn counter_key(key_id: &B32) -> String {
    format!("ctr/{}", key_id.to_b64())
}

/// The wallet's identity: its bank, the pinned master key, its seed and account.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Meta {
    /// [`FORMAT_VERSION`] when written.
    pub version: u32,
    /// Base URL of the bank.
    pub bank_url: String,
    /// The master key the key set must be signed by.
    pub master_key: PublicKey,
    /// The certifier that must vouch for the bank, if the wallet pins one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certifier: Option<CertifierPin>,
    /// The seed, hex. Stored like the coins themselves: whoever reads the store can spend them.
    pub seed_hex: String,
    /// The wallet's bank account.
    pub account_id: String,
    /// Unix seconds.
    pub created_at: u64,
    /// Made by a restore from the phrase: the phrase does not say which
    /// other banks the seed used, so each bank added is scanned
    /// ([`OtherMint::unscanned`]) before new coins are derived there.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub restored: bool,
}

/// A certifier a wallet pins (NetCash's FIC): its key, and where to ask it
/// for a fresh revocation list when the one the bank relays is stale (a
/// revoked bank would relay an old one).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CertifierPin {
    /// The certifier's public key.
    pub key: PublicKey,
    /// Its base URL.
    pub url: String,
}

/// The bank's certificate and the newest revocation list the wallet saw.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Papers {
    /// The certificate over the bank's master key.
    pub certificate: MintCertificate,
    /// The newest revocation list, signed by the certifier.
    pub revocations: Signed<RevocationList>,
}

/// A coin the wallet holds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CoinRecord {
    /// The coin.
    pub coin: Coin,
    /// Its value in minor units.
    pub value: u64,
    /// Last second the bank accepts it.
    pub deposit_until: u64,
    /// The journaled operation that is spending it, if any.
    pub reserved_by: Option<String>,
    /// The bank that minted it, when it is not the wallet's own (NetCash).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bank_id: Option<String>,
    /// Where its secrets come from, to prove its withdrawal in a recoup
    /// (absent on coins stored before this was kept).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub derivation: Option<Derivation>,
}

/// Another certified bank whose coins the wallet holds or takes (NetCash):
/// added by URL after its certificate by the pinned certifier was checked.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct OtherMint {
    /// Its certified address.
    pub url: String,
    /// Its certificate by the pinned certifier.
    pub certificate: MintCertificate,
    /// Its key set, signed by the certified master key.
    pub keys: ecash_core::SignedKeySet,
    /// When it was last fetched and checked, unix seconds.
    pub checked_at: u64,
    /// Added to a restored wallet and not scanned yet for the seed's coins
    /// there: no coin is derived at this bank until it is, since its
    /// counters may repeat coins the bank signed before (the same coins
    /// again, spent or held).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub unscanned: bool,
}

impl OtherMint {
    /// The bank as operations that go to it record it.
    pub fn bank(&self) -> MerchantBank {
        MerchantBank {
            bank_id: self.keys.body.bank_id.clone(),
            url: self.url.clone(),
            master_key: self.certificate.master_public_key,
        }
    }
}

/// Where a blinded output's secrets come from: the seed, this key, this
/// counter, by this scheme.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Derivation {
    /// Denomination key.
    pub key_id: B32,
    /// Counter under that key.
    pub counter: u64,
    /// How the secrets are derived. Absent on records written before it was
    /// kept: those are tried under each scheme, and the coin decides.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheme: Option<Scheme>,
}

impl Derivation {
    /// Output `counter` of key `key_id` under today's scheme.
    pub fn current(key_id: B32, counter: u64) -> Self {
        Self {
            key_id,
            counter,
            scheme: Some(Scheme::V2),
        }
    }

    /// The schemes its secrets may come from, most likely first.
    pub fn candidates(&self) -> &'static [Scheme] {
        match self.scheme {
            Some(Scheme::V1) => &[Scheme::V1],
            Some(Scheme::V2) => &[Scheme::V2],
            None => &[Scheme::V2, Scheme::V1],
        }
    }
}

/// A coin-secret derivation scheme.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scheme {
    /// The first wallets': secrets straight from the wallet seed. Such coins
    /// have no coin seed, so they cannot be recouped; `recover` exchanges
    /// them for v2 coins.
    V1,
    /// Secrets from a per-coin seed (`ecash/v2/coin`), which proves the
    /// coin's withdrawal in a recoup.
    V2,
}

/// Why coins are exchanged.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExchangePurpose {
    /// Break a coin to pay an exact amount.
    Change,
    /// Claim a received transfer token.
    Receive,
    /// Take back the coins of a payment that did not go through.
    Reclaim,
    /// Replace coins whose key is about to expire.
    Refresh,
    /// The wallet's coins in, another bank's coins out, at that bank
    /// (NetCash's anonymous exchange).
    ToBank,
    /// Coins of a revoked key in, proven by their coin seeds (`POST /recoup`).
    Recoup,
}

impl ExchangePurpose {
    /// Short name for people and logs.
    pub fn name(self) -> &'static str {
        match self {
            Self::Change => "exchange for change",
            Self::Receive => "receive",
            Self::Reclaim => "reclaim",
            Self::Refresh => "refresh",
            Self::ToBank => "exchange into another bank",
            Self::Recoup => "recoup",
        }
    }
}

/// A journaled operation: written before its request leaves, removed when resolved.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Operation {
    /// Random id.
    pub id: String,
    /// Unix seconds.
    pub started_at: u64,
    /// How many times recovery tried it.
    pub attempts: u32,
    /// The last failure, for people.
    pub last_error: Option<String>,
    /// What it does.
    pub kind: OpKind,
}

/// The request of a journaled operation, complete enough to send again.
// Few of these live at once and each is written once; boxing would only add noise.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum OpKind {
    /// `POST /withdraw`.
    Withdraw {
        /// The exact signed request (replayed byte for byte).
        request: Signed<WithdrawRequest>,
        /// Secrets of each output, request order.
        outputs: Vec<Derivation>,
    },
    /// `POST /exchange`.
    Exchange {
        /// The exact request.
        request: ExchangeRequest,
        /// Secrets of each output, request order.
        outputs: Vec<Derivation>,
        /// Why.
        purpose: ExchangePurpose,
        /// For a reclaim: the payment its coins were in. If the shop
        /// deposited it after all, the bank's proof is fetched with it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reclaims: Option<Box<ReclaimedPayment>>,
        /// The bank it is sent to, whose coins come out, when it is not the
        /// wallet's own: an anonymous exchange into another bank (NetCash).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        at: Option<MerchantBank>,
        /// For a recoup (`POST /recoup`): each input coin's seed, which
        /// proves its withdrawal.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        recoup: Option<Vec<B32>>,
    },
    /// A payment posted to a shop.
    Pay {
        /// What is paid.
        payreq: PayReq,
        /// The origin the payment request came from: every URL of the shop must stay on it.
        #[serde(default)]
        origin: String,
        /// The exact payment.
        payment: Payment,
        /// The secret that proves the payment later.
        payer_code: Bytes,
        /// The coins inside.
        serials: Vec<B32>,
        /// The merchant's bank, when it is another than the wallet's (NetCash).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        merchant_bank: Option<MerchantBank>,
    },
}

/// A bank that is not the wallet's (NetCash), named by its certificate by
/// the pinned certifier: a merchant's bank, which a payment is sealed to and
/// whose acks and proofs are checked with its master key, or a bank an
/// exchange goes to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MerchantBank {
    /// Its bank id.
    pub bank_id: String,
    /// Its certified address.
    pub url: String,
    /// Its master key.
    pub master_key: PublicKey,
}

impl Event {
    /// For a payment: the link to its goods, with the goods key (derived
    /// from the payer code; the bank, which knows the payment id, cannot
    /// derive it) in the fragment, if the stored URL still passes the link
    /// rule on its origin.
    pub fn goods_link(&self) -> Option<String> {
        let Self::Paid {
            fulfillment_url: Some(url),
            origin,
            payreq,
            payer_code,
            ..
        } = self
        else {
            return None;
        };
        let origin = if origin.is_empty() {
            // Recorded before origins were: the request's own pay URL names it.
            crate::links::origin(&payreq.pay_url).ok()?
        } else {
            origin.clone()
        };
        let url = crate::links::on_origin(url, &origin).ok()?;
        let key = ecash_core::messages::goods_key(&payer_code.0);
        crate::links::with_fragment(&url, "goods_key", &key.to_b64()).ok()
    }
}

/// A payment whose coins a reclaim takes back: kept until the reclaim is
/// done, so a shop that refuses a payment and deposits it anyway leaves the
/// payer the bank's proof rather than nothing.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ReclaimedPayment {
    /// What was paid.
    pub payreq: PayReq,
    /// The origin the request came from.
    pub origin: String,
    /// The payment's id.
    pub payment_id: B32,
    /// Its payer code, to prove it.
    pub payer_code: Bytes,
    /// How many times the reclaim was journaled again after a refusal.
    #[serde(default)]
    pub renewals: u32,
    /// The merchant's bank, when it is another than the wallet's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merchant_bank: Option<MerchantBank>,
}

impl OpKind {
    /// The wallet coins the operation spends.
    pub fn inputs(&self) -> Vec<B32> {
        match self {
            Self::Withdraw { .. } => vec![],
            Self::Exchange { request, .. } => request.coins.iter().map(|c| c.serial).collect(),
            Self::Pay { serials, .. } => serials.clone(),
        }
    }

    /// Short name for people and logs.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Withdraw { .. } => "withdraw",
            Self::Exchange { purpose, .. } => purpose.name(),
            Self::Pay { .. } => "payment",
        }
    }
}

/// One line of the wallet's history.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct HistoryEntry {
    /// Random id.
    pub id: String,
    /// Unix seconds.
    pub at: u64,
    /// Value moved, minor units.
    pub amount: u64,
    /// What happened.
    #[serde(flatten)]
    pub event: Event,
}

/// What a history line records.
#[allow(clippy::large_enum_variant)] // as for OpKind
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    /// Coins withdrawn from the account.
    Withdrawn {
        /// Number of coins.
        coins: usize,
    },
    /// A payment to a merchant.
    Paid {
        /// The payment request paid.
        payreq: PayReq,
        /// Payment id (hash of the payment).
        payment_id: B32,
        /// Reveal this to the bank to prove the payment.
        payer_code: Bytes,
        /// The shop's signed receipt (absent when recovery proved the payment through the bank).
        receipt: Option<Signed<Receipt>>,
        /// The bank's signed ack.
        deposit_ack: Option<Signed<DepositAck>>,
        /// The bank's proof, once asked for.
        proof: Option<Signed<PaymentProof>>,
        /// Where the goods are: the shop's URL, checked to lie on `origin`
        /// (none when the shop gave a URL that failed the check).
        fulfillment_url: Option<String>,
        /// The origin the payment request came from.
        #[serde(default)]
        origin: String,
        /// Why the shop's fulfillment URL was refused, if it was.
        #[serde(default)]
        link_refused: Option<String>,
        /// The merchant's bank, when it is another than the wallet's (NetCash).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        merchant_bank: Option<MerchantBank>,
    },
    /// Coins handed out as a transfer token.
    Sent {
        /// The token (shown again if the receiver lost it).
        token: String,
    },
    /// A transfer token claimed.
    Received {
        /// Number of new coins.
        coins: usize,
    },
    /// Coins exchanged.
    Exchanged {
        /// Why.
        purpose: ExchangePurpose,
    },
    /// Coins the bank reports spent that this wallet did not spend (another device with the same seed, or a sent token).
    SpentElsewhere {
        /// How many.
        coins: usize,
    },
    /// Coins recovered from the seed.
    Restored {
        /// How many.
        coins: usize,
    },
    /// Offline coins withdrawn against the offline allowance.
    OfflineWithdrawn {
        /// How many.
        coins: usize,
    },
    /// Offline coins spent, with no bank: to a shop or as a token to a wallet.
    OfflineSpent {
        /// `shop <url>` or `wallet`.
        to: String,
        /// How many coins.
        coins: usize,
    },
    /// Offline coins received, with no bank; deposited later.
    OfflineReceived {
        /// How many.
        coins: usize,
    },
    /// Offline coins received, deposited: what the bank's signed receipt says.
    OfflineDeposited {
        /// Coins deposited.
        coins: usize,
        /// Of them, spent before elsewhere (paid from the spender's collateral, as far as it went).
        double_spent: usize,
    },
}
