//! Error codes every HTTP error carries, and the JSON error body.

use serde::{Deserialize, Serialize};

/// Stable, machine-readable error codes. Clients switch on these; the
/// message is for people.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The request body is not valid JSON of the expected shape.
    MalformedRequest,
    /// A field is present but its value is refused (lengths, ranges, currency).
    InvalidField,
    /// The body is larger than the server accepts.
    PayloadTooLarge,
    /// More coins than one request may carry.
    TooManyCoins,
    /// A signature by an account or merchant does not verify.
    BadSignature,
    /// The account does not exist.
    UnknownAccount,
    /// The account already exists.
    AccountExists,
    /// The account's balance is too low.
    InsufficientFunds,
    /// A coin or blinded coin names a key the bank does not know.
    UnknownKey,
    /// A key is outside its withdraw or deposit window.
    KeyExpired,
    /// A coin's signature does not verify.
    InvalidCoin,
    /// A coin was spent before.
    CoinSpent,
    /// The same coin appears twice in one request.
    DuplicateCoin,
    /// Amounts do not add up (payment total, exchange in vs out).
    AmountMismatch,
    /// A request id was used before for a different request.
    RequestIdReused,
    /// The sealed envelope cannot be opened or is not bound to the payment.
    EnvelopeInvalid,
    /// The depositor is not the merchant named in the payment.
    WrongMerchant,
    /// The payer code does not match the payment.
    BadPayerCode,
    /// The request is too old or from the future.
    StaleRequest,
    /// No such resource.
    NotFound,
    /// The client sent too many requests; retry later.
    RateLimited,
    /// The demo faucet is off on this bank.
    FaucetDisabled,
    /// The request took too long.
    Timeout,
    /// A payment request has expired or does not match.
    PayreqInvalid,
    /// A server-side fault; nothing was changed.
    Internal,
    /// An upstream service (the bank, for the shop) is unreachable.
    Unavailable,
    /// The order is paid with another payment.
    OrderTaken,
    /// Another request is working on the same account, coins or order right
    /// now; retry shortly (the answer then is that request's, or a fresh one).
    InProgress,
    /// The request lacks the credentials the endpoint wants (a shop's admin token).
    Unauthorized,
    /// The certifier holds no valid, unrevoked certificate for this master key.
    NotCertified,
    /// A key set contradicts one the certifier attested before for the same
    /// mint (another key for a value and period, another envelope key).
    KeySetConflict,
    /// The coin's denomination key is revoked: only a recoup takes it now.
    KeyRevoked,
    /// A recoup was refused: the coin links to no withdrawal of this bank,
    /// or to one the bank marked as extorted.
    RecoupRefused,
    /// An offline (CAFE) rule refused it: the allowance exceeded or frozen,
    /// too many withdrawals unfinished, offline coins off at this bank.
    OfflineRefused,
}

impl ErrorCode {
    /// Whether the same request may succeed later as it is.
    pub fn is_retryable(self) -> bool {
        matches!(
            self,
            Self::InProgress
                | Self::RateLimited
                | Self::Timeout
                | Self::Unavailable
                | Self::Internal
        )
    }

    /// The HTTP status that carries this code.
    pub fn http_status(self) -> u16 {
        match self {
            Self::MalformedRequest
            | Self::InvalidField
            | Self::TooManyCoins
            | Self::UnknownKey
            | Self::InvalidCoin
            | Self::DuplicateCoin
            | Self::AmountMismatch
            | Self::EnvelopeInvalid
            | Self::PayreqInvalid => 400,
            Self::BadSignature | Self::StaleRequest | Self::Unauthorized => 401,
            Self::InsufficientFunds => 402,
            Self::WrongMerchant
            | Self::BadPayerCode
            | Self::FaucetDisabled
            | Self::NotCertified
            | Self::RecoupRefused
            | Self::OfflineRefused => 403,
            Self::UnknownAccount | Self::NotFound => 404,
            Self::AccountExists
            | Self::CoinSpent
            | Self::RequestIdReused
            | Self::OrderTaken
            | Self::InProgress
            | Self::KeySetConflict => 409,
            Self::KeyExpired | Self::KeyRevoked => 410,
            Self::PayloadTooLarge => 413,
            Self::RateLimited => 429,
            Self::Internal => 500,
            Self::Unavailable | Self::Timeout => 503,
        }
    }

    /// The code as it appears in JSON.
    pub fn as_str(self) -> &'static str {
        // A static table keeps this allocation-free; a test pins it to serde's names.
        match self {
            Self::MalformedRequest => "malformed_request",
            Self::InvalidField => "invalid_field",
            Self::PayloadTooLarge => "payload_too_large",
            Self::TooManyCoins => "too_many_coins",
            Self::BadSignature => "bad_signature",
            Self::UnknownAccount => "unknown_account",
            Self::AccountExists => "account_exists",
            Self::InsufficientFunds => "insufficient_funds",
            Self::UnknownKey => "unknown_key",
            Self::KeyExpired => "key_expired",
            Self::InvalidCoin => "invalid_coin",
            Self::CoinSpent => "coin_spent",
            Self::DuplicateCoin => "duplicate_coin",
            Self::AmountMismatch => "amount_mismatch",
            Self::RequestIdReused => "request_id_reused",
            Self::EnvelopeInvalid => "envelope_invalid",
            Self::WrongMerchant => "wrong_merchant",
            Self::BadPayerCode => "bad_payer_code",
            Self::StaleRequest => "stale_request",
            Self::NotFound => "not_found",
            Self::RateLimited => "rate_limited",
            Self::FaucetDisabled => "faucet_disabled",
            Self::Timeout => "timeout",
            Self::PayreqInvalid => "payreq_invalid",
            Self::Internal => "internal",
            Self::Unavailable => "unavailable",
            Self::OrderTaken => "order_taken",
            Self::InProgress => "in_progress",
            Self::Unauthorized => "unauthorized",
            Self::NotCertified => "not_certified",
            Self::KeySetConflict => "key_set_conflict",
            Self::KeyRevoked => "key_revoked",
            Self::RecoupRefused => "recoup_refused",
            Self::OfflineRefused => "offline_refused",
        }
    }
}

/// The body of every HTTP error: `{code, message}`, plus the spent serials
/// for `coin_spent`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[error("{code:?}: {message}")]
pub struct ApiError {
    /// Stable code.
    pub code: ErrorCode,
    /// Readable explanation.
    pub message: String,
    /// For `coin_spent`: the serials already spent.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub spent: Vec<crate::bytes::B32>,
}

impl ApiError {
    /// An error with a code and message.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            spent: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn as_str_matches_serde_for_every_code() {
        use ErrorCode::*;
        for c in [
            MalformedRequest,
            InvalidField,
            PayloadTooLarge,
            TooManyCoins,
            BadSignature,
            UnknownAccount,
            AccountExists,
            InsufficientFunds,
            UnknownKey,
            KeyExpired,
            InvalidCoin,
            CoinSpent,
            DuplicateCoin,
            AmountMismatch,
            RequestIdReused,
            EnvelopeInvalid,
            WrongMerchant,
            BadPayerCode,
            StaleRequest,
            NotFound,
            RateLimited,
            FaucetDisabled,
            Timeout,
            PayreqInvalid,
            Internal,
            Unavailable,
            OrderTaken,
            InProgress,
            Unauthorized,
            NotCertified,
            KeySetConflict,
            KeyRevoked,
            RecoupRefused,
        ] {
            assert_eq!(
                serde_json::to_value(c).expect("ser"),
                serde_json::Value::String(c.as_str().into())
            );
        }
    }
}
