//! Receive: a transfer token's coins checked, then exchanged at once, so
//! the sender cannot spend them again.

use std::collections::BTreeSet;

use ecash_core::Coin;

use super::exchange::ExchangeCoins;
use super::io::{Input, Machine, Next};
use super::keys::RefreshKeys;
use super::{State, denominations_of};
use crate::error::WalletError;
use crate::records::ExchangePurpose;
use crate::token::{self, TokenBody};

enum Phase {
    /// The key set, fetched again when the token names keys the wallet does not know.
    Keys(RefreshKeys, bool),
    /// The coins checked: fresh keys for the outputs.
    Fresh(RefreshKeys, u64),
    Exchange(Box<ExchangeCoins>, u64),
    Finished,
}

/// Claims a transfer token; yields the value received.
pub(crate) struct Receive {
    coins: Vec<Coin>,
    phase: Phase,
}

impl Receive {
    /// Decodes the token and checks it is for this wallet's bank.
    pub(crate) fn new(s: &State, token_text: &str) -> Result<Self, WalletError> {
        let TokenBody { bank_id, coins, .. } = token::decode(token_text)?;
        if bank_id != s.keys.set.bank_id {
            return Err(WalletError::Token(format!(
                "the token is for bank {bank_id}, this wallet uses {}",
                s.keys.set.bank_id
            )));
        }
        let unknown = coins.iter().any(|c| s.keys.key(&c.key_id).is_none());
        Ok(Self {
            coins,
            phase: Phase::Keys(RefreshKeys::always(), unknown),
        })
    }

    /// Every coin: a key of the signed set, a valid signature, not expired,
    /// not twice, not held already. Returns the total.
    fn check(&self, s: &State) -> Result<u64, WalletError> {
        let t = s.now();
        let mut seen = BTreeSet::new();
        let mut total = 0u64;
        for (i, c) in self.coins.iter().enumerate() {
            let n = i + 1;
            let key = s.keys.key(&c.key_id).ok_or_else(|| {
                WalletError::Token(format!(
                    "coin {n} names a key that is not in the bank's signed key set"
                ))
            })?;
            c.verify(&key.key)
                .map_err(|_| WalletError::Token(format!("coin {n} has an invalid signature")))?;
            if !key.info.can_deposit(t) {
                return Err(WalletError::Token(format!("coin {n} has expired")));
            }
            if !seen.insert(c.serial) || s.coins.contains_key(&c.serial) {
                return Err(WalletError::Token(format!(
                    "coin {n} is already in this wallet or twice in the token"
                )));
            }
            total = total
                .checked_add(key.info.value.value)
                .ok_or_else(|| WalletError::Token("the coins overflow".into()))?;
        }
        Ok(total)
    }
}

impl Machine for Receive {
    type Output = u64;

    fn resume(&mut self, s: &State, mut input: Input) -> Result<Next<u64>, WalletError> {
        loop {
            match std::mem::replace(&mut self.phase, Phase::Finished) {
                Phase::Keys(mut k, needed) => {
                    if needed && let Next::Io(io) = k.resume(s, input)? {
                        self.phase = Phase::Keys(k, true);
                        return Ok(Next::Io(io));
                    }
                    let total = self.check(s)?;
                    self.phase = Phase::Fresh(RefreshKeys::when_stale(), total);
                    input = Input::Start;
                }
                Phase::Fresh(mut k, total) => match k.resume(s, input)? {
                    Next::Io(io) => {
                        self.phase = Phase::Fresh(k, total);
                        return Ok(Next::Io(io));
                    }
                    Next::Done(()) => {
                        let out = denominations_of(total, &s.withdraw_denominations())?;
                        let coins = std::mem::take(&mut self.coins);
                        self.phase = Phase::Exchange(
                            Box::new(ExchangeCoins::foreign(coins, out, ExchangePurpose::Receive)),
                            total,
                        );
                        input = Input::Start;
                    }
                },
                Phase::Exchange(mut x, total) => match x.resume(s, input)? {
                    Next::Io(io) => {
                        self.phase = Phase::Exchange(x, total);
                        return Ok(Next::Io(io));
                    }
                    Next::Done(()) => return Ok(Next::Done(total)),
                },
                Phase::Finished => {
                    return Err(WalletError::Crypto("receive resumed after its end".into()));
                }
            }
        }
    }
}

impl<S: crate::store::Store, T: crate::transport::Transport> super::Wallet<S, T> {
    /// Claims a transfer token: checks every coin, then exchanges them at once
    /// so the sender cannot spend them again. Returns the value received.
    pub async fn receive(&mut self, token_text: &str) -> Result<u64, WalletError> {
        let m = Receive::new(&self.state, token_text)?;
        self.run(m, None).await
    }
}
