//! Exchanges: coins in, fresh coins of the same total out. For change
//! ([`ExactCoins`]), to renew every coin ([`ExchangeAll`]), to claim a
//! received token, to take coins back, to refresh coins near expiry.

use ecash_core::amount::Denomination;
use ecash_core::messages::ExchangeRequest;
use ecash_core::{B32, Coin, Fixed, PendingCoin};

use super::batch::Batch;
use super::io::{Input, Io, Machine, Next};
use super::journal::Drive;
use super::keys::RefreshKeys;
use super::outputs::DeriveOutputs;
use super::{State, denominations_of};
use crate::error::WalletError;
use crate::platform;
use crate::records::*;
use crate::select::{Selection, select};

/// Which coins go in.
enum Inputs {
    /// Coins of this wallet, free now: reserved for the exchange.
    Own(Vec<B32>),
    /// Coins from outside (a received token): not this wallet's yet.
    Foreign(Vec<Coin>),
}

enum Phase {
    Start,
    Outputs(Box<DeriveOutputs>, Vec<Coin>),
    Journal(Box<Operation>, Vec<PendingCoin>),
    Drive(Box<Drive>),
    Finished,
}

/// Journals and runs one exchange.
pub(crate) struct ExchangeCoins {
    inputs: Option<Inputs>,
    out: Vec<Denomination>,
    purpose: ExchangePurpose,
    /// The bank it goes to when not the wallet's own; its keys sign the outputs.
    at: Option<MerchantBank>,
    /// For a recoup: each input's coin seed.
    recoup: Option<Vec<B32>>,
    phase: Phase,
}

impl ExchangeCoins {
    /// An exchange of this wallet's coins `serials` for outputs `out`.
    pub(crate) fn own(serials: Vec<B32>, out: Vec<Denomination>, purpose: ExchangePurpose) -> Self {
        Self {
            inputs: Some(Inputs::Own(serials)),
            out,
            purpose,
            at: None,
            recoup: None,
            phase: Phase::Start,
        }
    }

    /// Sent to bank `at` instead of the wallet's own (its keys sign the outputs).
    pub(crate) fn at(mut self, at: Option<MerchantBank>) -> Self {
        self.at = at;
        self
    }

    /// A recoup: the inputs (of a revoked key) proven by these coin seeds.
    pub(crate) fn recoup(mut self, seeds: Vec<B32>) -> Self {
        self.recoup = Some(seeds);
        self
    }

    /// An exchange of coins from outside for outputs `out`.
    pub(crate) fn foreign(
        coins: Vec<Coin>,
        out: Vec<Denomination>,
        purpose: ExchangePurpose,
    ) -> Self {
        Self {
            inputs: Some(Inputs::Foreign(coins)),
            out,
            purpose,
            at: None,
            recoup: None,
            phase: Phase::Start,
        }
    }
}

impl Machine for ExchangeCoins {
    type Output = ();

    fn resume(&mut self, s: &State, mut input: Input) -> Result<Next<()>, WalletError> {
        loop {
            match std::mem::replace(&mut self.phase, Phase::Finished) {
                Phase::Start => {
                    let coins = match self.inputs.take() {
                        Some(Inputs::Own(serials)) => serials
                            .iter()
                            .map(|serial| {
                                s.coins
                                    .get(serial)
                                    .filter(|r| r.reserved_by.is_none())
                                    .map(|r| r.coin.clone())
                                    .ok_or_else(|| WalletError::Input("coin not available".into()))
                            })
                            .collect::<Result<Vec<_>, _>>()?,
                        Some(Inputs::Foreign(coins)) => coins,
                        None => return Err(WalletError::Crypto("exchange started twice".into())),
                    };
                    let derive = DeriveOutputs::at(
                        std::mem::take(&mut self.out),
                        self.at.as_ref().map(|b| b.bank_id.clone()),
                    );
                    self.phase = Phase::Outputs(Box::new(derive), coins);
                    input = Input::Start;
                }
                Phase::Outputs(mut d, coins) => match d.resume(s, input)? {
                    Next::Io(io) => {
                        self.phase = Phase::Outputs(d, coins);
                        return Ok(Next::Io(io));
                    }
                    Next::Done((outputs, pending)) => {
                        let request = ExchangeRequest {
                            request_id: Fixed(platform::random::<32>()?),
                            coins,
                            outputs: pending.iter().map(|p| p.blinded.clone()).collect(),
                        };
                        let op = s.operation(OpKind::Exchange {
                            request,
                            outputs,
                            purpose: self.purpose,
                            reclaims: None,
                            at: self.at.clone(),
                            recoup: self.recoup.take(),
                        })?;
                        let mut b = Batch::default();
                        // Reserving coins the wallet does not hold is a no-op.
                        s.reserve_coins(&mut b, &op)?;
                        b.put_op(op.clone())?;
                        self.phase = Phase::Journal(Box::new(op), pending);
                        return Ok(Next::Io(Io::Commit(b)));
                    }
                },
                Phase::Journal(op, pending) => {
                    input.committed()?;
                    self.phase = Phase::Drive(Box::new(Drive::new(*op, Some(pending))));
                    input = Input::Start;
                }
                Phase::Drive(mut d) => match d.resume(s, input)? {
                    Next::Io(io) => {
                        self.phase = Phase::Drive(d);
                        return Ok(Next::Io(io));
                    }
                    Next::Done(_) => return Ok(Next::Done(())),
                },
                Phase::Finished => {
                    return Err(WalletError::Crypto("exchange resumed after its end".into()));
                }
            }
        }
    }
}

enum ExactPhase {
    Select,
    /// Change to make: the wallet's own key set refreshed first (`None`:
    /// another bank's, checked when the operation began).
    Keys(Option<RefreshKeys>, B32, u64, u64),
    Change(Box<ExchangeCoins>),
    Finished,
}

/// Finds coins summing exactly to `amount`, breaking a coin first when it must.
pub(crate) struct ExactCoins {
    amount: u64,
    /// Whose coins: another bank's (change is made there), or the wallet's own.
    at: Option<MerchantBank>,
    rounds: u32,
    phase: ExactPhase,
}

impl ExactCoins {
    /// Coins of the wallet's own bank.
    pub(crate) fn new(amount: u64) -> Self {
        Self::at(amount, None)
    }

    /// Coins of bank `at` (`None`: the wallet's own).
    pub(crate) fn at(amount: u64, at: Option<MerchantBank>) -> Self {
        Self {
            amount,
            at,
            rounds: 0,
            phase: ExactPhase::Select,
        }
    }
}

impl Machine for ExactCoins {
    type Output = Vec<B32>;

    fn resume(&mut self, s: &State, mut input: Input) -> Result<Next<Vec<B32>>, WalletError> {
        loop {
            match std::mem::replace(&mut self.phase, ExactPhase::Finished) {
                ExactPhase::Select => {
                    if self.amount == 0 {
                        return Err(WalletError::Input("the amount must be positive".into()));
                    }
                    // One round of change always makes the sum exact; the bound
                    // guards against surprises.
                    if self.rounds == 3 {
                        return Err(WalletError::Input(format!(
                            "could not make exactly {}",
                            self.amount
                        )));
                    }
                    self.rounds += 1;
                    let bank = self.at.as_ref().map(|b| b.bank_id.as_str());
                    match select(&s.candidates_at(bank), self.amount) {
                        Selection::Exact(serials) => return Ok(Next::Done(serials)),
                        Selection::Insufficient { have } => {
                            return Err(WalletError::InsufficientFunds {
                                need: self.amount,
                                have,
                            });
                        }
                        Selection::NeedsChange {
                            coin,
                            coin_value,
                            pay,
                            ..
                        } => {
                            let keys = self.at.is_none().then(RefreshKeys::when_stale);
                            self.phase = ExactPhase::Keys(keys, coin, coin_value, pay);
                            input = Input::Start;
                        }
                    }
                }
                ExactPhase::Keys(mut k, coin, coin_value, pay) => match match k.as_mut() {
                    Some(k) => k.resume(s, input)?,
                    None => Next::Done(()),
                } {
                    Next::Io(io) => {
                        self.phase = ExactPhase::Keys(k, coin, coin_value, pay);
                        return Ok(Next::Io(io));
                    }
                    Next::Done(()) => {
                        let bank = self.at.as_ref().map(|b| b.bank_id.as_str());
                        let denoms = s.withdraw_denominations_at(bank)?;
                        let mut out = denominations_of(pay, &denoms)?;
                        out.extend(denominations_of(coin_value - pay, &denoms)?);
                        self.phase = ExactPhase::Change(Box::new(
                            ExchangeCoins::own(vec![coin], out, ExchangePurpose::Change)
                                .at(self.at.clone()),
                        ));
                        input = Input::Start;
                    }
                },
                ExactPhase::Change(mut x) => match x.resume(s, input)? {
                    Next::Io(io) => {
                        self.phase = ExactPhase::Change(x);
                        return Ok(Next::Io(io));
                    }
                    Next::Done(()) => {
                        self.phase = ExactPhase::Select;
                        input = Input::Start;
                    }
                },
                ExactPhase::Finished => {
                    return Err(WalletError::Crypto(
                        "selection resumed after its end".into(),
                    ));
                }
            }
        }
    }
}

enum AllPhase {
    Start,
    Keys(RefreshKeys, Vec<B32>, u64),
    Exchange(Box<ExchangeCoins>, u64),
    Finished,
}

/// Exchanges every free coin for fresh ones of the same total (new
/// serials, current keys): unlinks them from how they were obtained and
/// renews their expiry. Yields the value exchanged.
pub(crate) struct ExchangeAll {
    phase: AllPhase,
}

impl ExchangeAll {
    pub(crate) fn new() -> Self {
        Self {
            phase: AllPhase::Start,
        }
    }
}

impl Machine for ExchangeAll {
    type Output = u64;

    fn resume(&mut self, s: &State, mut input: Input) -> Result<Next<u64>, WalletError> {
        loop {
            match std::mem::replace(&mut self.phase, AllPhase::Finished) {
                AllPhase::Start => {
                    let free = s.candidates();
                    let value: u64 = free.iter().map(|c| c.value).sum();
                    if free.is_empty() {
                        return Ok(Next::Done(0));
                    }
                    let serials = free.iter().map(|c| c.serial).collect();
                    self.phase = AllPhase::Keys(RefreshKeys::when_stale(), serials, value);
                    input = Input::Start;
                }
                AllPhase::Keys(mut k, serials, value) => match k.resume(s, input)? {
                    Next::Io(io) => {
                        self.phase = AllPhase::Keys(k, serials, value);
                        return Ok(Next::Io(io));
                    }
                    Next::Done(()) => {
                        let out = denominations_of(value, &s.withdraw_denominations())?;
                        self.phase = AllPhase::Exchange(
                            Box::new(ExchangeCoins::own(serials, out, ExchangePurpose::Refresh)),
                            value,
                        );
                        input = Input::Start;
                    }
                },
                AllPhase::Exchange(mut x, value) => match x.resume(s, input)? {
                    Next::Io(io) => {
                        self.phase = AllPhase::Exchange(x, value);
                        return Ok(Next::Io(io));
                    }
                    Next::Done(()) => return Ok(Next::Done(value)),
                },
                AllPhase::Finished => {
                    return Err(WalletError::Crypto("exchange resumed after its end".into()));
                }
            }
        }
    }
}

impl<S: crate::store::Store, T: crate::transport::Transport> super::Wallet<S, T> {
    /// Exchanges every free coin for fresh ones of the same total (new
    /// serials, current keys): unlinks them from how they were obtained and
    /// renews their expiry. Returns the value exchanged.
    pub async fn exchange_all(&mut self) -> Result<u64, WalletError> {
        self.run(ExchangeAll::new(), None).await
    }
}
