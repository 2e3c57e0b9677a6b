//! Recovery: every journaled operation finished or undone, and coins near
//! expiry exchanged, without asking the bank about the coins held.

use ecash_core::B32;
use serde::{Deserialize, Serialize};

use super::State;
use super::exchange::ExchangeCoins;
use super::io::{Input, Machine, Next};
use super::journal::{Drive, out_of_turn};
use super::keys::RefreshKeys;
use crate::error::WalletError;
use crate::records::{ExchangePurpose, Scheme};

/// Most coins exchanged in one refresh: well under a bank's limit per
/// request (256 by default), so a wallet with many old coins renews them
/// over several requests instead of being refused.
const REFRESH_BATCH: usize = 64;

/// What [`Recover`] did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecoverReport {
    /// Journaled operations found.
    pub resumed: usize,
    /// Of those, finished.
    pub completed: usize,
    /// Of those, refused for good and undone (coins given back).
    pub undone: usize,
    /// Of those, still unfinished (network still down).
    pub still_pending: usize,
    /// Coins near expiry exchanged for fresh ones.
    pub refreshed: usize,
    /// Coins of revoked keys recouped for fresh ones.
    #[serde(default)]
    pub recouped: usize,
    /// Problems that did not stop recovery.
    pub problems: Vec<String>,
}

enum RecoverPhase {
    Keys(RefreshKeys),
    /// The next journaled operation, or the expiring coins.
    Next(Vec<String>),
    Op(Box<Drive>, Vec<String>),
    Recoup(Box<ExchangeCoins>),
    Refresh(Box<ExchangeCoins>, usize),
    Finished,
}

/// After a crash or a cut connection: finishes or undoes every journaled
/// operation (a payment whose shop is gone is settled with the bank once
/// its request has expired), and exchanges coins whose key is about to
/// expire. It asks the bank nothing about the coins the wallet holds.
pub(crate) struct Recover {
    report: RecoverReport,
    phase: RecoverPhase,
    /// Coins whose recoup or refresh was tried in this run.
    tried: Vec<B32>,
}

impl Recover {
    pub(crate) fn new() -> Self {
        Self {
            report: RecoverReport::default(),
            phase: RecoverPhase::Keys(RefreshKeys::always()),
            tried: Vec::new(),
        }
    }

    /// Starts the recoup of the next free coin whose key the bank revoked
    /// (it is worth nothing else), or goes on to the coins near expiry. One
    /// coin per request: a recoup shows the bank the coin's withdrawal, and
    /// coins recouped together would show it that they belong together; a
    /// refused one blocks no other.
    fn revoked(&mut self, s: &State) -> Result<Next<RecoverReport>, WalletError> {
        let next = s.coins.values().find(|r| {
            r.bank_id.is_none()
                && r.reserved_by.is_none()
                && s.keys.set.is_revoked(&r.coin.key_id)
                && !self.tried.contains(&r.coin.serial)
        });
        let Some(r) = next else {
            return self.expiring(s);
        };
        self.tried.push(r.coin.serial);
        let seed = match seed_of(s, r) {
            Ok(seed) => seed,
            Err(e) => {
                self.report
                    .problems
                    .push(format!("a coin of a revoked key cannot be recouped: {e}"));
                return self.revoked(s);
            }
        };
        let Ok(out) = ecash_core::amount::split(r.value, &s.withdraw_denominations()) else {
            self.report.problems.push(
                "coins of a revoked key, but the bank offers no key to recoup them into".into(),
            );
            return self.expiring(s);
        };
        self.phase = RecoverPhase::Recoup(Box::new(
            ExchangeCoins::own(vec![r.coin.serial], out, ExchangePurpose::Recoup)
                .recoup(vec![seed]),
        ));
        self.resume(s, Input::Start)
    }

    /// Starts the refresh of coins near expiry, or finishes.
    fn expiring(&mut self, s: &State) -> Result<Next<RecoverReport>, WalletError> {
        // No question about the free coins goes to the bank: asking which of
        // them are spent would show it every coin this wallet holds. A coin
        // spent elsewhere (a copy of this wallet) is found when it is next
        // paid or exchanged, and dropped then.
        let t = s.now();
        let horizon = t.saturating_add(s.settings.expiry_margin_secs);
        let expiring: Vec<(B32, u64)> = s
            .coins
            .values()
            // Another bank's coins are renewed at that bank, when exchanged
            // there; a revoked key's coins are only recouped.
            .filter(|r| r.bank_id.is_none() && !s.keys.set.is_revoked(&r.coin.key_id))
            // Coins that could not be recouped (from before coins kept their
            // derivation, or made by an older wallet without coin seeds) are
            // renewed too: the new ones can prove their withdrawal.
            .filter(|r| {
                r.reserved_by.is_none()
                    && r.deposit_until >= t
                    && (r.deposit_until <= horizon || !recoupable(r))
                    && !self.tried.contains(&r.coin.serial)
            })
            .map(|r| (r.coin.serial, r.value))
            .take(REFRESH_BATCH)
            .collect();
        if expiring.is_empty() {
            return Ok(Next::Done(std::mem::take(&mut self.report)));
        }
        let value: u64 = expiring.iter().map(|(_, v)| v).sum();
        let fresh_enough = s
            .keys
            .withdraw_keys(t)
            .values()
            .all(|k| k.info.deposit_until > horizon);
        match ecash_core::amount::split(value, &s.withdraw_denominations()) {
            Ok(out) if fresh_enough => {
                let serials: Vec<B32> = expiring.iter().map(|(c, _)| *c).collect();
                let n = serials.len();
                self.tried.extend_from_slice(&serials);
                self.phase = RecoverPhase::Refresh(
                    Box::new(ExchangeCoins::own(serials, out, ExchangePurpose::Refresh)),
                    n,
                );
                self.resume(s, Input::Start)
            }
            _ => {
                self.report
                    .problems
                    .push("coins near expiry, but the bank offers no longer-lived key yet".into());
                Ok(Next::Done(std::mem::take(&mut self.report)))
            }
        }
    }
}

impl Machine for Recover {
    type Output = RecoverReport;

    fn resume(&mut self, s: &State, mut input: Input) -> Result<Next<RecoverReport>, WalletError> {
        loop {
            match std::mem::replace(&mut self.phase, RecoverPhase::Finished) {
                RecoverPhase::Keys(mut k) => match k.resume(s, input)? {
                    Next::Io(io) => {
                        self.phase = RecoverPhase::Keys(k);
                        return Ok(Next::Io(io));
                    }
                    Next::Done(()) => {
                        let mut ids: Vec<String> = s.ops.keys().cloned().collect();
                        ids.reverse();
                        self.phase = RecoverPhase::Next(ids);
                        input = Input::Start;
                    }
                },
                RecoverPhase::Next(mut ids) => match ids.pop() {
                    Some(id) => {
                        if let Some(op) = s.ops.get(&id).cloned() {
                            self.report.resumed += 1;
                            self.phase = RecoverPhase::Op(Box::new(Drive::new(op, None)), ids);
                        } else {
                            self.phase = RecoverPhase::Next(ids);
                        }
                        input = Input::Start;
                    }
                    None => return self.revoked(s),
                },
                RecoverPhase::Recoup(mut x) => {
                    match x.resume(s, input) {
                        Ok(Next::Io(io)) => {
                            self.phase = RecoverPhase::Recoup(x);
                            return Ok(Next::Io(io));
                        }
                        Ok(Next::Done(())) => self.report.recouped += 1,
                        Err(e) => self.report.problems.push(format!("recouping a coin: {e}")),
                    }
                    return self.revoked(s);
                }
                RecoverPhase::Op(mut d, ids) => {
                    match d.resume(s, input) {
                        Ok(Next::Io(io)) => {
                            self.phase = RecoverPhase::Op(d, ids);
                            return Ok(Next::Io(io));
                        }
                        Ok(Next::Done(_)) => self.report.completed += 1,
                        Err(WalletError::Interrupted { source, .. }) => {
                            self.report.still_pending += 1;
                            self.report.problems.push(source.to_string());
                        }
                        Err(e) => {
                            self.report.undone += 1;
                            self.report.problems.push(e.to_string());
                        }
                    }
                    self.phase = RecoverPhase::Next(ids);
                    input = Input::Start;
                }
                RecoverPhase::Refresh(mut x, n) => {
                    match x.resume(s, input) {
                        Ok(Next::Io(io)) => {
                            self.phase = RecoverPhase::Refresh(x, n);
                            return Ok(Next::Io(io));
                        }
                        Ok(Next::Done(())) => {
                            self.report.refreshed += n;
                            return self.expiring(s);
                        }
                        Err(e) => self.report.problems.push(format!("refreshing coins: {e}")),
                    }
                    return Ok(Next::Done(std::mem::take(&mut self.report)));
                }
                RecoverPhase::Finished => return Err(out_of_turn()),
            }
        }
    }
}

/// The coin seed that proves a coin's withdrawal, re-derived from the
/// wallet's seed (and checked to give this very coin).
fn seed_of(s: &State, r: &crate::records::CoinRecord) -> Result<B32, WalletError> {
    let d = r.derivation.ok_or_else(|| {
        WalletError::Input("it was stored before coins kept their derivation".into())
    })?;
    let key = s.known_key(&d.key_id)?;
    for &scheme in d.candidates() {
        if s.seed.coin_secrets(key, d.counter, scheme)?.serial != r.coin.serial.0 {
            continue;
        }
        if scheme != Scheme::V2 {
            return Err(WalletError::Input(
                "an older wallet made it, without a coin seed to prove its withdrawal".into(),
            ));
        }
        return Ok(ecash_core::Fixed(*s.seed.coin_seed(key, d.counter)?));
    }
    Err(WalletError::Crypto(
        "its derivation gives another coin".into(),
    ))
}

/// Whether a coin can prove its withdrawal in a recoup: it was derived
/// under [`Scheme::V2`]. Coins that cannot are exchanged for ones that can.
fn recoupable(r: &crate::records::CoinRecord) -> bool {
    r.derivation
        .is_some_and(|d| d.scheme.is_none_or(|scheme| scheme == Scheme::V2))
}

impl<S: crate::store::Store, T: crate::transport::Transport> super::Wallet<S, T> {
    /// After a crash or a cut connection: finishes or undoes every journaled
    /// operation, and exchanges coins whose key is about to expire.
    pub async fn recover(&mut self) -> Result<RecoverReport, WalletError> {
        self.run(Recover::new(), None).await
    }
}
