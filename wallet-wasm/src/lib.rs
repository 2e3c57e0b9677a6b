//! Wallet core of browser e-cash. The operations (withdraw, pay, exchange,
//! recover) arrive with the wallet issue; this crate already builds for both
//! targets so the workspace layout is fixed from the start.

pub use ecash_core;
