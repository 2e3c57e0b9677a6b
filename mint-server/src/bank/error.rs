//! What the bank refuses, and why: domain errors, each with its wire code.
//! Only the HTTP edge turns them into `{code, message}` and a status.

use ecash_core::payment::PaymentError;
use ecash_core::{B32, ErrorCode};

use crate::storage::StorageError;

/// A bank operation was refused or failed; nothing was changed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BankError {
    /// An amount is in another currency than the bank's.
    #[error("currency {got} is not this bank's {ours}")]
    WrongCurrency {
        /// The currency given.
        got: String,
        /// The bank's.
        ours: String,
    },
    /// A request carries none of what it is about.
    #[error("no {0} in request")]
    Empty(&'static str),
    /// A request carries more coins than one may.
    #[error("{n} {what}; at most {max} per request")]
    TooMany {
        /// How many it carries.
        n: usize,
        /// Of what.
        what: &'static str,
        /// The limit.
        max: usize,
    },
    /// A signature by an account or merchant does not verify.
    #[error("{0}")]
    BadSignature(&'static str),
    /// A signed query's time is too far from the bank's clock.
    #[error("query timestamp too far from the bank's clock")]
    StaleQuery,
    /// No account with this id.
    #[error("no account {0}")]
    UnknownAccount(String),
    /// An account label is too long.
    #[error("label longer than {0} characters")]
    LabelTooLong(usize),
    /// The demo faucet is off.
    #[error("the demo faucet is off on this bank")]
    FaucetDisabled,
    /// The bank does not certify merchants.
    #[error("this bank does not certify merchants (--merchant-certificate-secs)")]
    NoMerchantCertificates,
    /// A merchant name the bank will not certify.
    #[error("a merchant name is 1 to {0} printable characters")]
    BadMerchantName(usize),
    /// A faucet amount outside 1..=max.
    #[error("faucet amount must be 1..={0}")]
    FaucetAmount(u64),
    /// The balance is below the debit.
    #[error("insufficient funds: balance {balance}, needed {needed}")]
    InsufficientFunds {
        /// The balance.
        balance: u64,
        /// The debit asked for.
        needed: u64,
    },
    /// A key the bank does not know.
    #[error("unknown key {0}")]
    UnknownKey(B32),
    /// A key past its deposit window, or (for signing) outside its withdraw window.
    #[error("key {key} {why}")]
    KeyExpired {
        /// The key.
        key: B32,
        /// Which window it is outside.
        why: &'static str,
    },
    /// A key the bank revoked: its coins are only recouped, and it signs nothing.
    #[error("key {0} is revoked: its coins can only be recouped (POST /recoup)")]
    KeyRevoked(B32),
    /// A recoup refused: the coin links to no blind signature of this bank,
    /// or to a request marked as extorted.
    #[error("recoup of coin {index} refused: {why}")]
    RecoupRefused {
        /// Its place in the request, from 1.
        index: usize,
        /// Why.
        why: &'static str,
    },
    /// A blinded coin the key cannot sign (length, range).
    #[error("blinded coin {index} refused: {reason}")]
    BlindedRefused {
        /// Its place in the request, from 1.
        index: usize,
        /// Why.
        reason: String,
    },
    /// A coin's signature does not verify.
    #[error("coin signature does not verify")]
    InvalidCoin,
    /// The same coin twice in one request.
    #[error("a coin of key {0} appears twice")]
    DuplicateCoin(B32),
    /// Coins spent before (all of them named).
    #[error("{} coin(s) already spent", .0.len())]
    Spent(Vec<B32>),
    /// Amounts do not add up.
    #[error("{0}")]
    AmountMismatch(&'static str),
    /// A sum overflows.
    #[error("amount too large")]
    Overflow,
    /// The request id was used for another request.
    #[error("request id was used for a different request")]
    RequestIdReused,
    /// The payment's envelope does not open, or is not bound to it.
    #[error("{0}")]
    Envelope(PaymentError),
    /// The depositor is not the payment's merchant, or not of this bank.
    #[error("the payment is made out to another merchant")]
    WrongMerchant,
    /// The payment's coins are of another bank.
    #[error("payment is for another bank")]
    OtherBank,
    /// No deposit with this payment id.
    #[error("no deposited payment with this id")]
    NoSuchPayment,
    /// The payer code does not match.
    #[error("payer code does not match this payment")]
    BadPayerCode,
    /// Another request works on the same account, coins or request id now.
    #[error("another request is working on {0} right now; retry shortly")]
    InProgress(&'static str),
    /// This mint does not clear with other mints (no certifier, or books
    /// that do not keep clearing).
    #[error("this mint clears with no other mint: {0}")]
    NoClearing(&'static str),
    /// The mint whose coins these are cannot be asked now; the same
    /// request later may succeed, and nothing is credited before it does.
    #[error("the mint {0} that issued these coins does not answer now; try again later")]
    PeerUnavailable(String),
    /// The mint whose coins these are refused them (spent there, invalid).
    #[error("the mint {bank} that issued these coins refused them: {message}")]
    PeerRefused {
        /// That mint.
        bank: String,
        /// Its refusal code.
        code: ErrorCode,
        /// Its message.
        message: String,
        /// The serials it named as spent.
        spent: Vec<B32>,
    },
    /// A mint's certificate does not hold (another certifier, expired, revoked).
    #[error("the mint's certificate does not hold: {0}")]
    PeerNotCertified(String),
    /// An offline rule refused it (allowance, freeze, counter, cap, offline coins off).
    #[error("{0}")]
    OfflineRefused(String),
    /// An offline transcript or opening is refused (it does not verify,
    /// follows another challenge, is for another payee or key).
    #[error("offline {what} {index} refused: {why}")]
    OfflineInvalid {
        /// A transcript or an opening.
        what: &'static str,
        /// Its place in the request, from 1.
        index: usize,
        /// Why.
        why: String,
    },
    /// The bank failed (storage, signing, a corrupt record); logged, nothing changed.
    #[error("{0}; nothing was changed")]
    Internal(&'static str),
}

impl BankError {
    /// The wire code.
    pub fn code(&self) -> ErrorCode {
        use BankError::*;
        match self {
            WrongCurrency { .. }
            | Empty(_)
            | LabelTooLong(_)
            | FaucetAmount(_)
            | BadMerchantName(_)
            | Overflow
            | BlindedRefused { .. }
            | OtherBank => ErrorCode::InvalidField,
            TooMany { .. } => ErrorCode::TooManyCoins,
            BadSignature(_) => ErrorCode::BadSignature,
            StaleQuery => ErrorCode::StaleRequest,
            UnknownAccount(_) => ErrorCode::UnknownAccount,
            FaucetDisabled => ErrorCode::FaucetDisabled,
            NoMerchantCertificates => ErrorCode::NotFound,
            InsufficientFunds { .. } => ErrorCode::InsufficientFunds,
            UnknownKey(_) => ErrorCode::UnknownKey,
            KeyExpired { .. } => ErrorCode::KeyExpired,
            KeyRevoked(_) => ErrorCode::KeyRevoked,
            RecoupRefused { .. } => ErrorCode::RecoupRefused,
            InvalidCoin => ErrorCode::InvalidCoin,
            DuplicateCoin(_) => ErrorCode::DuplicateCoin,
            Spent(_) => ErrorCode::CoinSpent,
            AmountMismatch(_) => ErrorCode::AmountMismatch,
            RequestIdReused => ErrorCode::RequestIdReused,
            Envelope(PaymentError::CoinCount) => ErrorCode::AmountMismatch,
            Envelope(_) => ErrorCode::EnvelopeInvalid,
            WrongMerchant => ErrorCode::WrongMerchant,
            NoSuchPayment => ErrorCode::NotFound,
            BadPayerCode => ErrorCode::BadPayerCode,
            InProgress(_) => ErrorCode::InProgress,
            Internal(_) => ErrorCode::Internal,
            NoClearing(_) => ErrorCode::NotFound,
            PeerUnavailable(_) => ErrorCode::Unavailable,
            PeerRefused { code, .. } => *code,
            PeerNotCertified(_) => ErrorCode::NotCertified,
            OfflineRefused(_) => ErrorCode::OfflineRefused,
            OfflineInvalid { .. } => ErrorCode::InvalidCoin,
        }
    }

    /// For [`BankError::Spent`]: the serials already spent.
    pub fn spent(&self) -> &[B32] {
        match self {
            Self::Spent(s) | Self::PeerRefused { spent: s, .. } => s,
            _ => &[],
        }
    }
}

impl From<StorageError> for BankError {
    fn from(e: StorageError) -> Self {
        match e {
            StorageError::AccountExists => Self::Internal("account exists"),
            StorageError::UnknownAccount(id) => Self::UnknownAccount(id),
            StorageError::InsufficientFunds { balance, needed } => {
                Self::InsufficientFunds { balance, needed }
            }
            StorageError::Spent(serials) => Self::Spent(serials),
            StorageError::Recouped => Self::RecoupRefused {
                index: 0,
                why: "the blind signature it links to was recouped before",
            },
            // Expired at the books (by another node's clock) since the check.
            StorageError::UnknownKey(key) => Self::KeyExpired {
                key,
                why: "has expired",
            },
            StorageError::RequestIdReused => Self::RequestIdReused,
            StorageError::Overflow => Self::Overflow,
            StorageError::OfflineRefused(why) => Self::OfflineRefused(why),
            StorageError::Db(msg) => {
                tracing::error!(%msg, "storage failure");
                Self::Internal("storage failure")
            }
        }
    }
}

impl From<PaymentError> for BankError {
    fn from(e: PaymentError) -> Self {
        Self::Envelope(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_are_4xx_and_faults_5xx() {
        let refusals = [
            BankError::Empty("coins"),
            BankError::TooMany {
                n: 2,
                what: "coins",
                max: 1,
            },
            BankError::Spent(vec![B32::default()]),
            BankError::Envelope(PaymentError::CoinCount),
            BankError::Envelope(PaymentError::OtherPayment),
            BankError::InProgress("these coins"),
        ];
        for e in &refusals {
            assert!((400..500).contains(&e.code().http_status()), "{e:?}");
        }
        assert_eq!(
            BankError::Envelope(PaymentError::CoinCount).code(),
            ErrorCode::AmountMismatch
        );
        assert_eq!(BankError::Internal("x").code().http_status(), 500);
        assert_eq!(BankError::Spent(vec![B32::default()]).spent().len(), 1);
        assert_eq!(
            BankError::from(StorageError::Db("disk".into())),
            BankError::Internal("storage failure")
        );
    }
}
