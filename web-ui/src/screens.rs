//! The wallet's screens.

pub mod history;
pub mod mints;
pub mod money;
pub mod pay;
pub mod setup;
