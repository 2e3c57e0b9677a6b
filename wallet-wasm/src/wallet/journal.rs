//! The journal: a journaled operation run to its end ([`Drive`]); the
//! recovery that runs every unfinished one is in `recover`, the settling of
//! an unanswered payment with the bank in `settle`.
//!
//! An operation is in the store before its request leaves. [`Drive`] sends
//! it (again, on recovery: every request is idempotent at the bank and the
//! shop) and resolves it in one atomic batch with its coins and history. A
//! transient failure leaves it journaled (its attempt noted); a definitive
//! refusal undoes it. A payment the shop refuses, or never answers before
//! its request expires, is settled with the bank: its proof if the coins
//! were deposited, the coins back (a reclaim exchange) if not.

use ecash_core::api;
use ecash_core::messages::{
    CoinStateRequest, ExchangeRequest, PaymentProof, ProofRequest, RecoupCoin, RecoupRequest,
    payer_code_hash, proof_key,
};
use ecash_core::{B32, Bytes, Coin, Fixed, PendingCoin, Signed};

use super::batch::Batch;
use super::io::{Await, Input, Io, Machine, Next};
use super::keys::RefreshKeys;
use super::outputs::{DeriveOutputs, Finalizer};
use super::{State, answers, denominations_of, new_id};
use crate::error::WalletError;
use crate::links;
use crate::platform;
use crate::records::*;

mod settle;

/// How many times a refused reclaim is journaled again with fresh outputs.
const MAX_RECLAIM_RENEWALS: u32 = 3;

/// Largest number of serials asked about in one `/coins/state` request.
const STATE_CHUNK: usize = 200;

/// How an attempt ended.
enum Outcome {
    /// Resolved; a payment yields its history line.
    Done(Option<Box<HistoryEntry>>),
    /// Refused for good and undone; report this error.
    Failed(WalletError),
    /// Replaced by a follow-up operation (a reclaim); report the error after it.
    Then(Box<Operation>, Vec<PendingCoin>, Box<WalletError>),
}

/// A reclaim being prepared: what its batch holds so far, and what it takes back.
struct ReclaimPlan {
    batch: Batch,
    coins: Vec<Coin>,
    paid: ReclaimedPayment,
    why: String,
}

enum Phase {
    Attempt,
    Withdraw(Await<api::Withdraw>),
    Exchange(Await<api::Exchange>),
    Recoup(Await<api::Recoup>),
    Pay(Await<api::Pay>, String),
    Unblind(Box<Finalizer>),
    /// The resolving batch is being written; then this outcome.
    Resolving(Outcome),
    /// A transient failure's note is being written; then `Interrupted`.
    Noting(WalletError),
    /// A refused reclaim: was the payment deposited after all?
    ReclaimProof(Await<api::Proof>, WalletError),
    /// A refused reclaim renewed: the key set first.
    RenewKeys(RefreshKeys, WalletError),
    /// A reclaim's outputs being made.
    Reclaim(Box<DeriveOutputs>, Box<ReclaimPlan>, WalletError),
    /// A refused payment: which of its coins are spent.
    SpentFlags {
        call: Await<api::CoinState>,
        flags: Vec<bool>,
        why: WalletError,
    },
    /// Every coin spent: the bank's proof.
    SettleProof(Await<api::Proof>, WalletError),
    /// Some unspent: fresh keys, then a reclaim.
    SettleKeys(RefreshKeys, Vec<bool>, WalletError),
    Finished,
}

/// Runs one journaled operation until it is resolved or a transient failure
/// stops it (then the error is `Interrupted`, and `recover` goes on later).
pub(crate) struct Drive {
    op: Operation,
    pending: Option<Vec<PendingCoin>>,
    carried: Option<WalletError>,
    phase: Phase,
}

impl Drive {
    /// Runs `op`, whose outputs' pending coins are `pending` if still in memory.
    pub(crate) fn new(op: Operation, pending: Option<Vec<PendingCoin>>) -> Self {
        Self {
            op,
            pending,
            carried: None,
            phase: Phase::Attempt,
        }
    }
}

/// The origin a payment's URLs must stay on; journal entries written before
/// origins were recorded take their pay URL's.
fn pay_origin(payreq: &ecash_core::messages::PayReq, origin: &str) -> Result<String, WalletError> {
    if origin.is_empty() {
        links::origin(&payreq.pay_url).map_err(|e| WalletError::Payreq(format!("its pay URL: {e}")))
    } else {
        Ok(origin.to_owned())
    }
}

/// A proof request for a payment.
pub(crate) fn ask_proof(
    s: &State,
    bank: Option<&MerchantBank>,
    payment_id: &B32,
    payer_code: &Bytes,
) -> Result<(Await<api::Proof>, Io), WalletError> {
    Await::at_base(
        bank.map_or(s.bank(), |b| b.url.as_str()),
        &(),
        &ProofRequest {
            payment_id: *payment_id,
            // The proof key, not the payer code: from the code the bank
            // could derive the goods key.
            payer_code: Bytes(proof_key(&payer_code.0).0.to_vec()),
        },
    )
}

/// The proof must be the bank's, for this payment and payer code.
pub(crate) fn check_proof(
    s: &State,
    bank: Option<&MerchantBank>,
    payment_id: &B32,
    payer_code: &Bytes,
    proof: Signed<PaymentProof>,
) -> Result<Signed<PaymentProof>, WalletError> {
    proof
        .verify(bank.map_or(&s.meta.master_key, |b| &b.master_key))
        .map_err(|_| WalletError::Tampered("the payment proof is not signed by the bank".into()))?;
    if &proof.body.payment_id != payment_id
        || proof.body.payment_info.payer_code_hash != payer_code_hash(&payer_code.0)
    {
        return Err(WalletError::Tampered(
            "the proof is for another payment".into(),
        ));
    }
    Ok(proof)
}

pub(super) fn out_of_turn() -> WalletError {
    WalletError::Crypto("the journal was resumed out of turn".into())
}

/// The final result of a journaled operation: its history line, or the
/// refusal that undid it.
type Final = Result<Option<HistoryEntry>, WalletError>;

/// One step of [`Drive`]: an `Err` is a transient stop (noted, then `Interrupted`).
type Stepped = Result<Next<Final>, WalletError>;

impl Machine for Drive {
    type Output = Option<HistoryEntry>;

    fn resume(&mut self, s: &State, input: Input) -> Result<Next<Self::Output>, WalletError> {
        if let Phase::Noting(_) = &self.phase {
            // Best effort: the entry itself is safe whether the note landed or not.
            let Phase::Noting(e) = std::mem::replace(&mut self.phase, Phase::Finished) else {
                return Err(out_of_turn());
            };
            return Err(self.interrupted(e));
        }
        match self.step(s, input) {
            Ok(Next::Io(io)) => Ok(Next::Io(io)),
            Ok(Next::Done(outcome)) => outcome.map(Next::Done),
            Err(e) => {
                // Stopped by a transient failure: note it on the journal entry.
                let Some(mut op) = s.ops.get(&self.op.id).cloned() else {
                    return Err(self.interrupted(e));
                };
                op.attempts += 1;
                op.last_error = Some(e.to_string());
                let mut b = Batch::default();
                if b.put_op(op).is_err() {
                    return Err(self.interrupted(e));
                }
                self.phase = Phase::Noting(e);
                Ok(Next::Io(Io::Commit(b)))
            }
        }
    }
}

impl Drive {
    fn interrupted(&self, e: WalletError) -> WalletError {
        WalletError::Interrupted {
            op: self.op.id.clone(),
            source: Box::new(e),
        }
    }

    /// One step; an `Err` is a transient stop.
    fn step(&mut self, s: &State, mut input: Input) -> Stepped {
        loop {
            let next = match std::mem::replace(&mut self.phase, Phase::Finished) {
                Phase::Attempt => Some(self.attempt(s)?),
                Phase::Withdraw(call) => {
                    let answer = call.receive(input);
                    self.unblind(s, answer)?
                }
                Phase::Exchange(call) => {
                    let answer = call.receive(input);
                    self.unblind(s, answer)?
                }
                Phase::Recoup(call) => {
                    let answer = call.receive(input);
                    self.unblind(s, answer)?
                }
                Phase::Unblind(f) => Some(self.unblinding(s, f)?),
                Phase::Pay(call, origin) => Some(self.answered(s, call.receive(input), origin)?),
                Phase::Resolving(outcome) => {
                    input.committed()?;
                    self.resolved(outcome)
                }
                Phase::ReclaimProof(call, refusal) => {
                    self.reclaim_proved(s, call.receive(input), refusal)?
                }
                Phase::RenewKeys(mut keys, refusal) => match keys.resume(s, input)? {
                    Next::Io(io) => {
                        self.phase = Phase::RenewKeys(keys, refusal);
                        Some(Next::Io(io))
                    }
                    Next::Done(()) => {
                        self.renew_reclaim(s, refusal)?;
                        None
                    }
                },
                Phase::Reclaim(mut derive, plan, refusal) => match derive.resume(s, input)? {
                    Next::Io(io) => {
                        self.phase = Phase::Reclaim(derive, plan, refusal);
                        Some(Next::Io(io))
                    }
                    Next::Done((outputs, pending)) => {
                        Some(self.journal_reclaim(s, *plan, outputs, pending, refusal)?)
                    }
                },
                Phase::SpentFlags { call, flags, why } => {
                    Some(self.flags_answered(s, &call, input, flags, why)?)
                }
                Phase::SettleProof(call, why) => {
                    Some(self.settle_proved(s, call.receive(input), why)?)
                }
                Phase::SettleKeys(mut keys, spent, why) => match keys.resume(s, input)? {
                    Next::Io(io) => {
                        self.phase = Phase::SettleKeys(keys, spent, why);
                        Some(Next::Io(io))
                    }
                    Next::Done(()) => Some(self.settle_unspent(s, &spent, why)?),
                },
                Phase::Noting(_) | Phase::Finished => return Err(out_of_turn()),
            };
            if let Some(next) = next {
                return Ok(next);
            }
            input = Input::Start;
        }
    }

    /// The bank's answer to a withdraw or exchange: its signatures to
    /// unblind, or its refusal.
    fn unblind(
        &mut self,
        s: &State,
        answer: Result<ecash_core::messages::BlindSignatures, WalletError>,
    ) -> Result<Option<Next<Final>>, WalletError> {
        let sigs = match answer {
            Ok(sigs) => sigs,
            Err(e) => return self.refused(s, e).map(Some),
        };
        let (request_id, outputs) = match &self.op.kind {
            OpKind::Withdraw { request, outputs } => (request.body.request_id, outputs),
            OpKind::Exchange {
                request, outputs, ..
            } => (request.request_id, outputs),
            OpKind::Pay { .. } => return Err(out_of_turn()),
        };
        let f = Finalizer::new(s, &request_id, outputs, self.pending.take(), sigs)?;
        self.phase = Phase::Unblind(Box::new(f));
        Ok(None)
    }

    /// The next chunk unblinded, or the new coins written.
    fn unblinding(&mut self, s: &State, mut f: Box<Finalizer>) -> Stepped {
        if !f.finished()
            && let Some(p) = f.advance(s)?
        {
            self.phase = Phase::Unblind(f);
            return Ok(Next::Io(Io::Progress(p)));
        }
        self.resolve_outputs(s, f.into_coins())
    }

    /// The resolving batch is written: the outcome, or the follow-up operation.
    fn resolved(&mut self, outcome: Outcome) -> Option<Next<Final>> {
        match outcome {
            // A payment made (even one its shop refused and deposited
            // anyway) is the outcome; otherwise the first refusal is.
            Outcome::Done(Some(entry)) => Some(Next::Done(Ok(Some(*entry)))),
            Outcome::Done(None) => Some(Next::Done(self.carried.take().map_or(Ok(None), Err))),
            Outcome::Failed(e) => Some(Next::Done(Err(self.carried.take().unwrap_or(e)))),
            Outcome::Then(next, pending, e) => {
                self.carried.get_or_insert(*e);
                self.op = *next;
                self.pending = Some(pending);
                self.phase = Phase::Attempt;
                None
            }
        }
    }

    /// Sends the operation's request.
    fn attempt(&mut self, s: &State) -> Stepped {
        let (phase, io) = match &self.op.kind {
            OpKind::Withdraw { request, .. } => {
                let (a, io) = Await::<api::Withdraw>::at_base(s.bank(), &(), request)?;
                (Phase::Withdraw(a), io)
            }
            OpKind::Exchange {
                request,
                at,
                recoup: Some(seeds),
                ..
            } => {
                let url = at.as_ref().map_or(s.bank(), |b| b.url.as_str());
                let req = RecoupRequest {
                    request_id: request.request_id,
                    coins: request
                        .coins
                        .iter()
                        .zip(seeds)
                        .map(|(coin, seed)| RecoupCoin {
                            coin: coin.clone(),
                            coin_seed: *seed,
                        })
                        .collect(),
                    outputs: request.outputs.clone(),
                };
                let (a, io) = Await::<api::Recoup>::at_base(url, &(), &req)?;
                (Phase::Recoup(a), io)
            }
            OpKind::Exchange { request, at, .. } => {
                let url = at.as_ref().map_or(s.bank(), |b| b.url.as_str());
                let (a, io) = Await::<api::Exchange>::at_base(url, &(), request)?;
                (Phase::Exchange(a), io)
            }
            OpKind::Pay {
                payreq,
                origin,
                payment,
                ..
            } => {
                let origin = pay_origin(payreq, origin)?;
                let pay_url = links::on_origin(&payreq.pay_url, &origin)
                    .map_err(|e| WalletError::Payreq(format!("its pay URL: {e}")))?;
                let (a, io) = Await::<api::Pay>::at_url(&pay_url, payment)?;
                (Phase::Pay(a, origin), io)
            }
        };
        self.phase = phase;
        Ok(Next::Io(io))
    }

    /// Writes the new coins of a withdraw or exchange with its end.
    fn resolve_outputs(&mut self, s: &State, coins: Vec<CoinRecord>) -> Stepped {
        let mut b = Batch::default();
        let n = coins.len();
        match &self.op.kind {
            OpKind::Withdraw { request, .. } => {
                for c in coins {
                    b.put_coin(c)?;
                }
                b.history(
                    s.now(),
                    request.body.amount.value,
                    Event::Withdrawn { coins: n },
                )?;
            }
            OpKind::Exchange {
                request, purpose, ..
            } => {
                let total: u64 = coins.iter().map(|c| c.value).sum();
                for c in &request.coins {
                    if s.coins.contains_key(&c.serial) {
                        b.del_coin(c.serial);
                    }
                }
                for c in coins {
                    b.put_coin(c)?;
                }
                let event = match purpose {
                    ExchangePurpose::Receive => Event::Received { coins: n },
                    p => Event::Exchanged { purpose: *p },
                };
                b.history(s.now(), total, event)?;
            }
            OpKind::Pay { .. } => return Err(out_of_turn()),
        }
        b.del_op(&self.op.id);
        self.phase = Phase::Resolving(Outcome::Done(None));
        Ok(Next::Io(Io::Commit(b)))
    }

    /// The shop answered a payment (or did not).
    fn answered(
        &mut self,
        s: &State,
        answer: Result<ecash_core::messages::PaymentResponse, WalletError>,
        origin: String,
    ) -> Stepped {
        let OpKind::Pay {
            payreq,
            payment,
            payer_code,
            serials,
            merchant_bank,
            ..
        } = &self.op.kind
        else {
            return Err(out_of_turn());
        };
        let resp = match answer {
            Ok(r) => r,
            Err(e) if e.is_transient() => return self.unanswered(s, e),
            Err(e) => return self.settle_refused(s, e),
        };
        let payment_id = payment.payment_id();
        let master = merchant_bank
            .as_ref()
            .map_or(&s.meta.master_key, |b| &b.master_key);
        if let Err(e) = answers::check_ack(&resp, master, &payment_id, payreq) {
            // An answer that does not carry the bank's ack is no answer.
            return self.unanswered(s, e);
        }
        let answers::CheckedAnswer {
            receipt_ok,
            fulfillment_url,
            link_refused,
        } = answers::check_answer(&resp, &payment_id, payreq, &origin);
        let entry = HistoryEntry {
            id: new_id()?,
            at: s.now(),
            amount: payreq.amount.value,
            event: Event::Paid {
                payreq: payreq.clone(),
                payment_id,
                payer_code: payer_code.clone(),
                receipt: receipt_ok.then(|| resp.receipt.clone()),
                deposit_ack: Some(resp.deposit_ack.clone()),
                proof: None,
                fulfillment_url,
                origin,
                link_refused,
                merchant_bank: merchant_bank.clone(),
            },
        };
        let mut b = Batch::default();
        for serial in serials {
            b.del_coin(*serial);
        }
        b.del_op(&self.op.id);
        b.put_history(entry.clone())?;
        self.phase = Phase::Resolving(if receipt_ok {
            Outcome::Done(Some(Box::new(entry)))
        } else {
            Outcome::Failed(WalletError::Tampered(
                "the shop's receipt does not verify; the bank's signed ack in the history shows the payment was made".into(),
            ))
        });
        Ok(Next::Io(Io::Commit(b)))
    }

    /// The shop gave no valid answer to a payment. Until the request expires
    /// (plus a grace period for a late deposit) the payment stays journaled
    /// and is sent again; after, the bank settles it: the payment was made
    /// (its proof), or the coins come back. So no shop, silent or hostile,
    /// holds coins for good, nor keeps the wallet calling it.
    fn unanswered(&mut self, s: &State, e: WalletError) -> Stepped {
        let OpKind::Pay { payreq, .. } = &self.op.kind else {
            return Err(e);
        };
        let deadline =
            answers::settle_after(payreq, self.op.started_at, s.settings.payment_grace_secs);
        if s.now() <= deadline {
            return Err(e);
        }
        let why = WalletError::Payreq(format!(
            "the shop gave no valid answer before its payment request expired ({e})"
        ));
        self.settle_refused(s, why)
    }

    /// A withdraw or exchange failed: transient failures keep it journaled;
    /// a refusal undoes it, dropping inputs the bank says are spent. A
    /// refused reclaim first asks whether the payment was deposited after all.
    fn refused(&mut self, s: &State, e: WalletError) -> Stepped {
        if e.is_transient() {
            return Err(e);
        }
        if let OpKind::Exchange {
            reclaims: Some(paid),
            ..
        } = &self.op.kind
        {
            let (call, io) = ask_proof(
                s,
                paid.merchant_bank.as_ref(),
                &paid.payment_id,
                &paid.payer_code,
            )?;
            self.phase = Phase::ReclaimProof(call, e);
            return Ok(Next::Io(io));
        }
        self.undo(s, e)
    }

    /// Undoes a refused operation: its coins free again, those the bank says
    /// are spent dropped.
    fn undo(&mut self, s: &State, e: WalletError) -> Stepped {
        // Only the bank that minted the coins says they are spent: another
        // bank (an exchange into it) could keep them by claiming so. Its
        // refusal frees them; a later use at their own bank tells.
        let issuer_refused = match &self.op.kind {
            OpKind::Exchange { at: Some(b), .. } => {
                s.bank_of_coins(&self.op.kind.inputs())?.map(|i| i.bank_id)
                    == Some(b.bank_id.clone())
            }
            _ => true,
        };
        let spent: Vec<B32> = if issuer_refused {
            e.spent_serials().to_vec()
        } else {
            Vec::new()
        };
        let mut b = Batch::default();
        let (mut gone, mut gone_value) = (0, 0);
        for serial in self.op.kind.inputs() {
            let Some(r) = s.coins.get(&serial) else {
                continue;
            };
            if spent.contains(&serial) {
                gone += 1;
                gone_value += r.value;
                b.del_coin(serial);
            } else {
                let mut r = r.clone();
                r.reserved_by = None;
                b.put_coin(r)?;
            }
        }
        if gone > 0 {
            b.history(s.now(), gone_value, Event::SpentElsewhere { coins: gone })?;
        }
        b.del_op(&self.op.id);
        self.phase = Phase::Resolving(Outcome::Failed(e));
        Ok(Next::Io(Io::Commit(b)))
    }
}
