//! What the shop refuses, and why, and how each refusal goes on the wire.

use ecash_core::{ApiError, ErrorCode};

use crate::store::ShopDbError;

/// What the shop refuses, and why.
#[derive(Debug, thiserror::Error)]
pub enum ShopError {
    /// No such item.
    #[error("no item {0}")]
    NoItem(String),
    /// No such order.
    #[error("no order {0}")]
    NoOrder(String),
    /// Too many open orders.
    #[error("the shop has too many open orders; try again in a few minutes")]
    Full,
    /// The payment is not for this payment request.
    #[error("payment does not match the payment request: {0}")]
    Mismatch(&'static str),
    /// The payment request expired before this payment came.
    #[error("this payment request has expired; start again")]
    Expired,
    /// The order is not paid.
    #[error("this order is not paid")]
    NotPaid,
    /// No such payment for this order.
    #[error("no such payment for this order")]
    NoSuchPayment,
    /// Another payment paid the order.
    #[error("this order is already paid; your coins were not taken")]
    OrderTaken,
    /// Another payment is at the bank for this order.
    #[error("a payment for this order is being deposited; retry shortly")]
    InProgress,
    /// This address sent too many payments.
    #[error("too many payments from this address; slow down")]
    RateLimited,
    /// The envelope cannot be the bank's (its wrapped key has the wrong length).
    #[error("the coins are not sealed to this shop's bank")]
    Envelope,
    /// The bank refused the payment (its code passes through).
    #[error("the bank refused the payment: {}", .0.message)]
    Bank(ApiError),
    /// The bank did not answer; the payment may or may not be deposited.
    #[error("the bank did not answer ({0}); send the same payment again")]
    BankUnreachable(String),
    /// The bank's ack does not verify against the pinned master key.
    #[error("the bank's deposit_ack does not verify; no goods delivered")]
    BadAck,
    /// The bank holds a payment signed with the shop's key for an order
    /// another payment holds (only a deposit made outside this shop).
    #[error(
        "the bank holds your payment but the order is held by another; contact the shop with your proof"
    )]
    HeldElsewhere,
    /// The admin token is missing or wrong.
    #[error("this list is for the shop keeper: a valid admin token is needed")]
    Unauthorized,
    /// An offline spend answers no open request of this shop's.
    #[error(
        "this offline payment answers no open request of this shop (taken, expired, or never issued)"
    )]
    OfflineRequest,
    /// An offline spend refused with no network (key, window, arithmetic).
    #[error("offline payment refused: {0}")]
    Offline(ecash_core::offline::payee::AcceptError),
    /// Too many offline requests are open.
    #[error("the shop has too many open offline requests; try again in a few minutes")]
    OfflineFull,
    /// The offline coin was received before.
    #[error("this offline coin was received before")]
    OfflineReceived,
    /// The shop's own storage or random numbers failed.
    #[error("shop failure: {0}")]
    Internal(String),
}

impl ShopError {
    /// The wire error.
    pub fn to_api(&self) -> ApiError {
        let code = match self {
            Self::NoItem(_) | Self::NoOrder(_) | Self::NoSuchPayment => ErrorCode::NotFound,
            Self::Full | Self::BankUnreachable(_) => ErrorCode::Unavailable,
            Self::Mismatch(_) | Self::Expired | Self::NotPaid => ErrorCode::PayreqInvalid,
            Self::OrderTaken => ErrorCode::OrderTaken,
            Self::InProgress => ErrorCode::InProgress,
            Self::RateLimited => ErrorCode::RateLimited,
            Self::Envelope => ErrorCode::EnvelopeInvalid,
            Self::Bank(e) => return e.clone(),
            Self::BadAck | Self::HeldElsewhere | Self::Internal(_) => ErrorCode::Internal,
            Self::Unauthorized => ErrorCode::Unauthorized,
            Self::OfflineRequest => ErrorCode::PayreqInvalid,
            Self::OfflineReceived => ErrorCode::CoinSpent,
            Self::OfflineFull => ErrorCode::Unavailable,
            Self::Offline(e) => {
                use ecash_core::offline::payee::AcceptError as A;
                match e {
                    A::UnknownRequest | A::Expired => ErrorCode::PayreqInvalid,
                    A::UnknownKey(_) => ErrorCode::UnknownKey,
                    A::KeyClosed(_) => ErrorCode::KeyExpired,
                    A::AlreadyReceived => ErrorCode::CoinSpent,
                    A::Invalid(_) => ErrorCode::InvalidCoin,
                }
            }
        };
        ApiError::new(code, self.to_string())
    }
}

impl From<ShopDbError> for ShopError {
    fn from(e: ShopDbError) -> Self {
        tracing::error!(error = %e, "shop storage");
        Self::Internal("storage".into())
    }
}
