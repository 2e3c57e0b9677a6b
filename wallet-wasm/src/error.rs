//! The wallet's errors, each with a stable code for programs and a message for people.

use ecash_core::ApiError;
use ecash_core::keyset::KeySetError;

use crate::store::StoreError;

/// Everything a wallet operation can fail with.
#[derive(Debug, thiserror::Error)]
pub enum WalletError {
    /// The bank or shop could not be reached (network down, server stopped).
    #[error("cannot reach {url}: {reason}")]
    Unreachable {
        /// What was called.
        url: String,
        /// The network error.
        reason: String,
    },
    /// The bank or shop answered with an error.
    #[error("{url} refused: {} ({})", .error.message, .error.code.as_str())]
    Refused {
        /// What was called.
        url: String,
        /// HTTP status.
        status: u16,
        /// The `{code, message}` body.
        error: ApiError,
    },
    /// The answer is not what the protocol says it must be.
    #[error("unexpected answer from {url}: {reason}")]
    BadAnswer {
        /// What was called.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A signature in an answer does not verify (bank or shop tampered, or a man in the middle).
    #[error("answer refused, it does not verify: {0}")]
    Tampered(String),
    /// The bank's key set is unsigned, signed by another key, or malformed.
    #[error("key set refused: {0}")]
    KeySet(#[from] KeySetError),
    /// The bank's certification is refused: none, another certifier's,
    /// expired, revoked, for another bank, or for another key set.
    #[error("bank not certified: {0}")]
    Certificate(#[from] ecash_core::certificate::CertError),
    /// Not enough money in the wallet.
    #[error("insufficient funds: need {need}, the wallet holds {have}")]
    InsufficientFunds {
        /// Amount asked for.
        need: u64,
        /// Amount available.
        have: u64,
    },
    /// A payment request is malformed, expired, or for another bank.
    #[error("payment request refused: {0}")]
    Payreq(String),
    /// A transfer token is malformed, for another bank, or carries a bad coin.
    #[error("transfer token refused: {0}")]
    Token(String),
    /// A URL from outside fails the link rule (see [`crate::links`]).
    #[error("link refused: {0}")]
    Link(#[from] crate::links::LinkError),
    /// The caller passed something unusable.
    #[error("invalid input: {0}")]
    Input(String),
    /// The wallet's storage failed.
    #[error("wallet storage: {0}")]
    Storage(#[from] StoreError),
    /// There is no wallet in this store.
    #[error("no wallet here yet: create or restore one")]
    NoWallet,
    /// A wallet already exists in this store.
    #[error("a wallet already exists here")]
    WalletExists,
    /// A local cryptographic step failed (RNG, blinding).
    #[error("crypto: {0}")]
    Crypto(String),
    /// The wallet's observer refused a second spend of an offline coin.
    #[error("the observer refused: offline coin {0} was spent before")]
    ObserverRefused(String),
    /// An offline spend, invoice or payment token is refused (malformed,
    /// another bank's, expired, already received, or its arithmetic wrong).
    #[error("offline payment refused: {0}")]
    Offline(String),
    /// An operation was journaled but could not finish; `recover` will finish or undo it.
    #[error("{source}; the operation is saved and recover will finish it")]
    Interrupted {
        /// The journaled operation.
        op: String,
        /// Why it stopped.
        source: Box<WalletError>,
    },
}

impl WalletError {
    /// Stable machine-readable code (JS `error.code`, CLI exit message).
    pub fn code(&self) -> &'static str {
        match self {
            Self::Unreachable { .. } => "unreachable",
            Self::Refused { error, .. } => error.code.as_str(),
            Self::BadAnswer { .. } => "bad_answer",
            Self::Tampered(_) => "tampered_answer",
            Self::KeySet(_) => "keyset_refused",
            Self::Certificate(e) => {
                use ecash_core::certificate::CertError;
                match e {
                    CertError::NotCertified(_) => "not_certified",
                    CertError::Expired { .. } => "certificate_expired",
                    CertError::Revoked { .. } => "certificate_revoked",
                    CertError::NotAttested(_) => "keyset_not_attested",
                    CertError::KeySet(_) => "keyset_refused",
                    CertError::OtherCertifier { .. }
                    | CertError::BadSignature(_)
                    | CertError::Mismatch(_) => "certificate_invalid",
                }
            }
            Self::InsufficientFunds { .. } => "insufficient_funds",
            Self::Payreq(_) => "payreq_invalid",
            Self::Token(_) => "token_invalid",
            Self::Link(_) => "unsafe_link",
            Self::Input(_) => "invalid_input",
            Self::Storage(_) => "storage",
            Self::NoWallet => "no_wallet",
            Self::WalletExists => "wallet_exists",
            Self::Crypto(_) => "crypto",
            Self::ObserverRefused(_) => "observer_refused",
            Self::Offline(_) => "offline_refused",
            Self::Interrupted { .. } => "interrupted",
        }
    }

    /// Whether trying again later may succeed (the request may or may not have been executed).
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Unreachable { .. } | Self::BadAnswer { .. } | Self::Tampered(_) => true,
            Self::Refused { status, error, .. } => {
                *status >= 500 || *status == 429 || error.code.is_retryable()
            }
            Self::Interrupted { source, .. } => source.is_transient(),
            _ => false,
        }
    }

    /// For a `coin_spent` refusal: the serials the bank says are spent.
    pub fn spent_serials(&self) -> &[ecash_core::B32] {
        match self {
            Self::Refused { error, .. } => &error.spent,
            _ => &[],
        }
    }
}

impl From<ecash_core::client::CallError> for WalletError {
    fn from(e: ecash_core::client::CallError) -> Self {
        use ecash_core::client::CallError;
        match e {
            CallError::Unreachable { url, reason } => Self::Unreachable { url, reason },
            CallError::Refused { url, status, error } => Self::Refused { url, status, error },
            CallError::BadAnswer { url, reason } => Self::BadAnswer { url, reason },
            CallError::Encode { url, reason } => {
                Self::Input(format!("cannot encode the request to {url}: {reason}"))
            }
        }
    }
}

impl From<ecash_core::blind_rsa::BlindRsaError> for WalletError {
    fn from(e: ecash_core::blind_rsa::BlindRsaError) -> Self {
        Self::Crypto(e.to_string())
    }
}
