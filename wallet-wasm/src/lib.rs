//! The e-cash wallet: one core for the browser (WASM), native programs and tests.
//!
//! - [`wallet`]: the operations (withdraw, pay, send, receive, exchange,
//!   prove, recover, restore), written against two traits:
//! - [`store::Store`]: where coins, the journal and history live
//!   (IndexedDB in the browser, SQLite natively, memory for ephemeral use);
//! - [`transport::Transport`]: how requests reach the bank and the shop
//!   (`fetch` in the browser, `reqwest` natively).
//!
//! Every operation that talks to the network is written to the journal
//! ([`records::Operation`]) before its request leaves and resolved after its
//! answer is checked, so [`wallet::Wallet::recover`] can finish or undo it after
//! a crash or a cut connection. Coin secrets come from the wallet seed
//! ([`secrets::Seed`]), so [`wallet::Wallet::restore`] can rebuild the coins.

pub mod config;
pub mod error;
pub mod links;
pub mod platform;
pub mod records;
pub mod secrets;
pub mod select;
pub mod store;
pub mod token;
pub mod transport;
pub mod wallet;

#[cfg(all(target_arch = "wasm32", target_os = "unknown"))]
pub mod js;

pub use error::WalletError;
pub use wallet::{Offer, Progress, Trust, Wallet, WalletSettings};
