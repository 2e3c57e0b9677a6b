//! Withdraw: money from the bank account as coins, blinded here, signed
//! there, unblinded and verified here before any is kept.

use ecash_core::amount::Denomination;
use ecash_core::api;
use ecash_core::messages::WithdrawRequest;
use ecash_core::{Amount, Fixed, PendingCoin, Signed};
use serde::{Deserialize, Serialize};

use super::batch::Batch;
use super::io::{Input, Io, Machine, Next};
use super::journal::Drive;
use super::keys::{RefreshKeys, Single, statement};
use super::outputs::DeriveOutputs;
use super::{Progress, State, denominations_of};
use crate::error::WalletError;
use crate::platform;
use crate::records::*;

/// A finished withdrawal.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct WithdrawDone {
    /// Value withdrawn.
    pub amount: u64,
    /// Coins made.
    pub coins: usize,
}

enum Phase {
    Keys(RefreshKeys),
    Balance(Single<api::Statement>, Vec<Denomination>),
    Outputs(Box<DeriveOutputs>),
    Journal(Box<Operation>, Vec<PendingCoin>),
    Signing(Box<Operation>, Vec<PendingCoin>),
    Drive(Box<Drive>),
    Finished,
}

/// Withdraws `amount` from the bank account as coins.
pub(crate) struct Withdraw {
    amount: u64,
    coins: usize,
    phase: Phase,
}

impl Withdraw {
    pub(crate) fn new(amount: u64) -> Result<Self, WalletError> {
        if amount == 0 {
            return Err(WalletError::Input("withdraw a positive amount".into()));
        }
        Ok(Self {
            amount,
            coins: 0,
            phase: Phase::Keys(RefreshKeys::when_stale()),
        })
    }
}

impl Withdraw {
    /// The balance is known: derive the outputs if it covers the amount.
    fn funded(&mut self, have: u64, denoms: Vec<Denomination>) -> Result<(), WalletError> {
        if have < self.amount {
            return Err(WalletError::InsufficientFunds {
                need: self.amount,
                have,
            });
        }
        self.coins = denoms.len();
        self.phase = Phase::Outputs(Box::new(DeriveOutputs::new(denoms)));
        Ok(())
    }

    /// Journals the signed request before it leaves.
    fn journal(
        &mut self,
        s: &State,
        outputs: Vec<Derivation>,
        pending: Vec<PendingCoin>,
    ) -> Result<Next<WithdrawDone>, WalletError> {
        let request = Signed::sign(
            WithdrawRequest {
                account_id: s.meta.account_id.clone(),
                request_id: Fixed(platform::random::<32>()?),
                amount: Amount::new(s.keys.set.currency.clone(), self.amount),
                coins: pending.iter().map(|p| p.blinded.clone()).collect(),
                timestamp: s.now(),
            },
            &s.account,
        );
        let op = s.operation(OpKind::Withdraw { request, outputs })?;
        let mut b = Batch::default();
        b.put_op(op.clone())?;
        self.phase = Phase::Journal(Box::new(op), pending);
        Ok(Next::Io(Io::Commit(b)))
    }
}

impl Machine for Withdraw {
    type Output = WithdrawDone;

    fn resume(&mut self, s: &State, mut input: Input) -> Result<Next<WithdrawDone>, WalletError> {
        loop {
            match std::mem::replace(&mut self.phase, Phase::Finished) {
                Phase::Keys(mut k) => match k.resume(s, input)? {
                    Next::Io(io) => {
                        self.phase = Phase::Keys(k);
                        return Ok(Next::Io(io));
                    }
                    Next::Done(()) => {
                        let denoms = denominations_of(self.amount, &s.withdraw_denominations())?;
                        // Ask first: a refused withdrawal would waste derivation counters.
                        self.phase = Phase::Balance(statement(s)?, denoms);
                        input = Input::Start;
                    }
                },
                Phase::Balance(mut call, denoms) => match call.resume(s, input)? {
                    Next::Io(io) => {
                        self.phase = Phase::Balance(call, denoms);
                        return Ok(Next::Io(io));
                    }
                    Next::Done(st) => {
                        self.funded(st.balance.value, denoms)?;
                        input = Input::Start;
                    }
                },
                Phase::Outputs(mut d) => match d.resume(s, input)? {
                    Next::Io(io) => {
                        self.phase = Phase::Outputs(d);
                        return Ok(Next::Io(io));
                    }
                    Next::Done((outputs, pending)) => return self.journal(s, outputs, pending),
                },
                Phase::Journal(op, pending) => {
                    input.committed()?;
                    self.phase = Phase::Signing(op, pending);
                    return Ok(Next::Io(Io::Progress(Progress {
                        phase: "signing",
                        done: 0,
                        total: self.coins,
                    })));
                }
                Phase::Signing(op, pending) => {
                    self.phase = Phase::Drive(Box::new(Drive::new(*op, Some(pending))));
                    input = Input::Start;
                }
                Phase::Drive(mut d) => match d.resume(s, input)? {
                    Next::Io(io) => {
                        self.phase = Phase::Drive(d);
                        return Ok(Next::Io(io));
                    }
                    Next::Done(_) => {
                        return Ok(Next::Done(WithdrawDone {
                            amount: self.amount,
                            coins: self.coins,
                        }));
                    }
                },
                Phase::Finished => {
                    return Err(WalletError::Crypto("withdraw resumed after its end".into()));
                }
            }
        }
    }
}

impl<S: crate::store::Store, T: crate::transport::Transport> super::Wallet<S, T> {
    /// Withdraws `amount` from the bank account as coins (not from a bank
    /// whose papers no longer vouch for it: its coins would be worth nothing).
    pub async fn withdraw(
        &mut self,
        amount: u64,
        progress: Option<super::ProgressFn<'_>>,
    ) -> Result<WithdrawDone, WalletError> {
        self.state.check_papers()?;
        self.run(Withdraw::new(amount)?, progress).await
    }
}
