//! Protocol core of browser e-cash: Chaum's Ecash on RFC 9474 blind RSA.
//!
//! Pure: no I/O, no async runtime; builds natively and for `wasm32-unknown-unknown`.
//! Everything the bank, the wallet and the shop agree on lives here, once:
//!
//! - [`blind_rsa`] / [`pss`]: RFC 9474 blind signatures (RSABSSA-SHA384-PSS-Randomized);
//! - [`coin`]: coins and the client steps that make them;
//! - [`keyset`]: denomination keys and the master-signed key set;
//! - [`messages`]: requests, responses and signed statements of the flows;
//! - [`envelope`]: coins sealed to the bank and bound to `H(payment_info)`;
//! - [`certificate`]: the certifier's papers for a mint (NetCash's FIC);
//! - [`signing`]: Ed25519 signatures of accounts, master key and statements;
//! - [`canonical`]: the one byte encoding that is hashed and signed;
//! - [`spent`]: the bank's public per-key lists of spent coins;
//! - [`offline`]: offline coins (CAFE): cut-and-choose withdrawal, spends a
//!   payee verifies with no network, a double spender identified;
//! - [`amount`]: money and denominations; [`error`]: wire error codes;
//! - [`payment`]: a payment sealed by the payer and opened by the bank, once;
//! - [`shop`]: catalogue, orders and goods between a shop and its buyers;
//! - [`api`]: every HTTP endpoint described once (method, path, types, errors);
//! - [`client`]: the one typed client over a [`client::Transport`];
//! - `openapi` (feature `schema`): the API documents, generated;
//! - [`clock`]: time, passed in.

pub mod amount;
pub mod api;
pub mod blind_rsa;
pub mod bytes;
pub mod canonical;
pub mod certificate;
pub mod clearing;
pub mod client;
pub mod clock;
pub mod coin;
pub mod envelope;
pub mod error;
pub mod keyset;
pub mod messages;
pub mod offline;
#[cfg(feature = "schema")]
pub mod openapi;
pub mod payment;
pub mod pss;
pub mod shop;
pub mod signing;
pub mod spent;

pub use amount::{Amount, Currency, Denomination};
pub use bytes::{B32, B64, Bytes, Fixed};
pub use canonical::Canonical;
pub use clock::Clock;
pub use coin::{BlindedCoin, Coin, PendingCoin};
pub use error::{ApiError, ErrorCode};
pub use keyset::{DenominationKey, KeySet, SignedKeySet, VerifiedKeySet};
pub use signing::{Keypair, PublicKey, Signature, Signed};

/// Re-exported so dependants name the same RSA types.
pub use rsa;
