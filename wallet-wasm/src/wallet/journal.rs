//! The journal: a journaled operation run to its end ([`Drive`]), and
//! [`Recover`], which runs every unfinished one.
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
    CoinStateRequest, ExchangeRequest, PaymentProof, ProofRequest, payer_code_hash,
};
use ecash_core::{B32, Bytes, Coin, Fixed, PendingCoin, Signed};
use serde::{Deserialize, Serialize};

use super::batch::Batch;
use super::exchange::ExchangeCoins;
use super::io::{Await, Input, Io, Machine, Next};
use super::keys::RefreshKeys;
use super::outputs::{DeriveOutputs, Finalizer};
use super::{State, answers, denominations_of, new_id};
use crate::error::WalletError;
use crate::links;
use crate::platform;
use crate::records::*;

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
    payment_id: &B32,
    payer_code: &Bytes,
) -> Result<(Await<api::Proof>, Io), WalletError> {
    Await::at_base(
        s.bank(),
        &(),
        &ProofRequest {
            payment_id: *payment_id,
            payer_code: payer_code.clone(),
        },
    )
}

/// The proof must be the bank's, for this payment and payer code.
pub(crate) fn check_proof(
    s: &State,
    payment_id: &B32,
    payer_code: &Bytes,
    proof: Signed<PaymentProof>,
) -> Result<Signed<PaymentProof>, WalletError> {
    proof
        .verify(&s.meta.master_key)
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

fn out_of_turn() -> WalletError {
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
            match std::mem::replace(&mut self.phase, Phase::Finished) {
                Phase::Attempt => return self.attempt(s),
                Phase::Withdraw(call) => match call.receive(input) {
                    Ok(sigs) => {
                        let OpKind::Withdraw { request, outputs } = &self.op.kind else {
                            return Err(out_of_turn());
                        };
                        let f = Finalizer::new(
                            s,
                            &request.body.request_id,
                            outputs,
                            self.pending.take(),
                            sigs,
                        )?;
                        self.phase = Phase::Unblind(Box::new(f));
                        input = Input::Start;
                    }
                    Err(e) => return self.refused(s, e),
                },
                Phase::Exchange(call) => match call.receive(input) {
                    Ok(sigs) => {
                        let OpKind::Exchange {
                            request, outputs, ..
                        } = &self.op.kind
                        else {
                            return Err(out_of_turn());
                        };
                        let f = Finalizer::new(
                            s,
                            &request.request_id,
                            outputs,
                            self.pending.take(),
                            sigs,
                        )?;
                        self.phase = Phase::Unblind(Box::new(f));
                        input = Input::Start;
                    }
                    Err(e) => return self.refused(s, e),
                },
                Phase::Unblind(mut f) => {
                    if !f.finished()
                        && let Some(p) = f.advance(s)?
                    {
                        self.phase = Phase::Unblind(f);
                        return Ok(Next::Io(Io::Progress(p)));
                    }
                    return self.resolve_outputs(s, f.into_coins());
                }
                Phase::Pay(call, origin) => return self.answered(s, call.receive(input), origin),
                Phase::Resolving(outcome) => {
                    input.committed()?;
                    match outcome {
                        // A payment made (even one its shop refused and deposited
                        // anyway) is the outcome; otherwise the first refusal is.
                        Outcome::Done(Some(entry)) => return Ok(Next::Done(Ok(Some(*entry)))),
                        Outcome::Done(None) => {
                            return Ok(Next::Done(self.carried.take().map_or(Ok(None), Err)));
                        }
                        Outcome::Failed(e) => {
                            return Ok(Next::Done(Err(self.carried.take().unwrap_or(e))));
                        }
                        Outcome::Then(next, pending, e) => {
                            self.carried.get_or_insert(*e);
                            self.op = *next;
                            self.pending = Some(pending);
                            self.phase = Phase::Attempt;
                            input = Input::Start;
                        }
                    }
                }
                Phase::ReclaimProof(call, refusal) => {
                    let OpKind::Exchange {
                        reclaims: Some(paid),
                        request,
                        ..
                    } = &self.op.kind
                    else {
                        return Err(out_of_turn());
                    };
                    match call
                        .receive(input)
                        .and_then(|p| check_proof(s, &paid.payment_id, &paid.payer_code, p))
                    {
                        Ok(proof) => return self.paid_after_all(s, proof),
                        Err(pe) if pe.is_transient() => return Err(pe),
                        Err(_) => {}
                    }
                    // Refused for another reason (its output keys expired while
                    // it waited): the payment's record stays, and the coins are
                    // taken back again with fresh outputs, a few times at most.
                    let _ = request;
                    if refusal.spent_serials().is_empty() && paid.renewals < MAX_RECLAIM_RENEWALS {
                        self.phase = Phase::RenewKeys(RefreshKeys::always(), refusal);
                        input = Input::Start;
                    } else {
                        return self.undo(s, refusal);
                    }
                }
                Phase::RenewKeys(mut keys, refusal) => match keys.resume(s, input)? {
                    Next::Io(io) => {
                        self.phase = Phase::RenewKeys(keys, refusal);
                        return Ok(Next::Io(io));
                    }
                    Next::Done(()) => {
                        let OpKind::Exchange {
                            reclaims: Some(paid),
                            request,
                            ..
                        } = &self.op.kind
                        else {
                            return Err(out_of_turn());
                        };
                        let mut again = (**paid).clone();
                        again.renewals += 1;
                        let mut batch = Batch::default();
                        batch.del_op(&self.op.id);
                        let plan = ReclaimPlan {
                            batch,
                            coins: request.coins.clone(),
                            paid: again,
                            why: format!("reclaim refused: {refusal}"),
                        };
                        self.start_reclaim(s, plan, refusal)?;
                        input = Input::Start;
                    }
                },
                Phase::Reclaim(mut derive, plan, refusal) => match derive.resume(s, input)? {
                    Next::Io(io) => {
                        self.phase = Phase::Reclaim(derive, plan, refusal);
                        return Ok(Next::Io(io));
                    }
                    Next::Done((outputs, pending)) => {
                        let ReclaimPlan {
                            mut batch,
                            coins,
                            paid,
                            why,
                        } = *plan;
                        let mut next = s.operation(OpKind::Exchange {
                            request: ExchangeRequest {
                                request_id: Fixed(platform::random::<32>()?),
                                coins,
                                outputs: pending.iter().map(|p| p.blinded.clone()).collect(),
                            },
                            outputs,
                            purpose: ExchangePurpose::Reclaim,
                            reclaims: Some(Box::new(paid)),
                        })?;
                        next.last_error = Some(why);
                        s.reserve_coins(&mut batch, &next)?;
                        batch.put_op(next.clone())?;
                        self.phase = Phase::Resolving(Outcome::Then(
                            Box::new(next),
                            pending,
                            Box::new(refusal),
                        ));
                        return Ok(Next::Io(Io::Commit(batch)));
                    }
                },
                Phase::SpentFlags {
                    call,
                    mut flags,
                    why,
                } => {
                    let r = call.receive(input)?;
                    let serials = self.op.kind.inputs();
                    let asked = serials.len().saturating_sub(flags.len()).min(STATE_CHUNK);
                    if r.spent.len() != asked {
                        return Err(WalletError::BadAnswer {
                            url: call.url().to_owned(),
                            reason: "wrong number of flags".into(),
                        });
                    }
                    flags.extend(r.spent);
                    return self.settle_flags(s, flags, why);
                }
                Phase::SettleProof(call, why) => {
                    let OpKind::Pay {
                        payment,
                        payer_code,
                        ..
                    } = &self.op.kind
                    else {
                        return Err(out_of_turn());
                    };
                    let payment_id = payment.payment_id();
                    let proof = match call
                        .receive(input)
                        .and_then(|p| check_proof(s, &payment_id, payer_code, p))
                    {
                        Ok(p) => Some(p),
                        Err(pe) if pe.is_transient() => return Err(pe),
                        Err(_) => None,
                    };
                    return self.settle_spent(s, proof, why);
                }
                Phase::SettleKeys(mut keys, spent, why) => match keys.resume(s, input)? {
                    Next::Io(io) => {
                        self.phase = Phase::SettleKeys(keys, spent, why);
                        return Ok(Next::Io(io));
                    }
                    Next::Done(()) => return self.settle_unspent(s, &spent, why),
                },
                Phase::Noting(_) | Phase::Finished => return Err(out_of_turn()),
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
            OpKind::Exchange { request, .. } => {
                let (a, io) = Await::<api::Exchange>::at_base(s.bank(), &(), request)?;
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
        if let Err(e) = answers::check_ack(&resp, &s.meta.master_key, &payment_id, payreq) {
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
            let (call, io) = ask_proof(s, &paid.payment_id, &paid.payer_code)?;
            self.phase = Phase::ReclaimProof(call, e);
            return Ok(Next::Io(io));
        }
        self.undo(s, e)
    }

    /// Undoes a refused operation: its coins free again, those the bank says
    /// are spent dropped.
    fn undo(&mut self, s: &State, e: WalletError) -> Stepped {
        let spent: Vec<B32> = e.spent_serials().to_vec();
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

    /// A reclaimed payment was deposited after all: its coins are gone, and
    /// the bank's proof stands in for the receipt.
    fn paid_after_all(&mut self, s: &State, proof: Signed<PaymentProof>) -> Stepped {
        let OpKind::Exchange {
            reclaims: Some(paid),
            ..
        } = &self.op.kind
        else {
            return Err(out_of_turn());
        };
        let mut b = Batch::default();
        for serial in self.op.kind.inputs() {
            if s.coins.contains_key(&serial) {
                b.del_coin(serial);
            }
        }
        b.del_op(&self.op.id);
        let entry = paid_entry(s, paid, proof)?;
        b.put_history(entry.clone())?;
        self.phase = Phase::Resolving(Outcome::Done(Some(Box::new(entry))));
        Ok(Next::Io(Io::Commit(b)))
    }

    /// The shop refused a payment for good: asks the bank which of its coins
    /// it holds. Only ever asked about the coins of this one payment, which
    /// the payment already showed the bank together, never about the coins
    /// the wallet holds.
    fn settle_refused(&mut self, s: &State, why: WalletError) -> Stepped {
        if !matches!(self.op.kind, OpKind::Pay { .. }) {
            return Err(out_of_turn());
        }
        self.settle_flags(s, Vec::new(), why)
    }

    /// Asks about the next chunk of the payment's coins, or settles once all are known.
    fn settle_flags(&mut self, s: &State, flags: Vec<bool>, why: WalletError) -> Stepped {
        let serials = self.op.kind.inputs();
        if flags.len() < serials.len() {
            let end = (flags.len() + STATE_CHUNK).min(serials.len());
            let (call, io) = Await::<api::CoinState>::at_base(
                s.bank(),
                &(),
                &CoinStateRequest {
                    serials: serials[flags.len()..end].to_vec(),
                },
            )?;
            self.phase = Phase::SpentFlags { call, flags, why };
            return Ok(Next::Io(io));
        }
        let OpKind::Pay {
            payment,
            payer_code,
            ..
        } = &self.op.kind
        else {
            return Err(out_of_turn());
        };
        if flags.iter().all(|f| *f) {
            let (call, io) = ask_proof(s, &payment.payment_id(), payer_code)?;
            self.phase = Phase::SettleProof(call, why);
            return Ok(Next::Io(io));
        }
        self.phase = Phase::SettleKeys(RefreshKeys::when_stale(), flags, why);
        self.step(s, Input::Start)
    }

    /// Every coin of a refused payment is spent: the bank's proof (if it has
    /// the payment) stands in for the receipt; else the coins were spent elsewhere.
    fn settle_spent(
        &mut self,
        s: &State,
        proof: Option<Signed<PaymentProof>>,
        why: WalletError,
    ) -> Stepped {
        let OpKind::Pay {
            payreq,
            origin,
            payment,
            payer_code,
            serials,
        } = &self.op.kind
        else {
            return Err(out_of_turn());
        };
        let origin = pay_origin(payreq, origin)?;
        let mut b = Batch::default();
        for serial in serials {
            b.del_coin(*serial);
        }
        b.del_op(&self.op.id);
        let Some(proof) = proof else {
            b.history(
                s.now(),
                payreq.amount.value,
                Event::SpentElsewhere {
                    coins: serials.len(),
                },
            )?;
            self.phase = Phase::Resolving(Outcome::Failed(why));
            return Ok(Next::Io(Io::Commit(b)));
        };
        let paid = ReclaimedPayment {
            payreq: payreq.clone(),
            origin,
            payment_id: payment.payment_id(),
            payer_code: payer_code.clone(),
            renewals: 0,
        };
        let entry = paid_entry(s, &paid, proof)?;
        b.put_history(entry.clone())?;
        self.phase = Phase::Resolving(Outcome::Done(Some(Box::new(entry))));
        Ok(Next::Io(Io::Commit(b)))
    }

    /// Some coins of a refused payment are unspent: take them back with an
    /// exchange, so the shop can never deposit them later; drop the ones
    /// someone else spent.
    fn settle_unspent(&mut self, s: &State, spent: &[bool], why: WalletError) -> Stepped {
        let OpKind::Pay {
            payreq,
            origin,
            payment,
            payer_code,
            serials,
        } = &self.op.kind
        else {
            return Err(out_of_turn());
        };
        let origin = pay_origin(payreq, origin)?;
        let mut batch = Batch::default();
        let (mut keep, mut gone, mut gone_value) = (vec![], 0usize, 0u64);
        for (serial, is_spent) in serials.iter().zip(spent) {
            let Some(r) = s.coins.get(serial) else {
                continue;
            };
            if *is_spent {
                gone += 1;
                gone_value += r.value;
                batch.del_coin(*serial);
            } else {
                keep.push(r.coin.clone());
            }
        }
        if gone > 0 {
            batch.history(s.now(), gone_value, Event::SpentElsewhere { coins: gone })?;
        }
        batch.del_op(&self.op.id);
        if keep.is_empty() {
            self.phase = Phase::Resolving(Outcome::Failed(why));
            return Ok(Next::Io(Io::Commit(batch)));
        }
        let plan = ReclaimPlan {
            batch,
            coins: keep,
            paid: ReclaimedPayment {
                payreq: payreq.clone(),
                origin,
                payment_id: payment.payment_id(),
                payer_code: payer_code.clone(),
                renewals: 0,
            },
            why: format!("payment refused: {why}"),
        };
        self.start_reclaim(s, plan, why)?;
        self.step(s, Input::Start)
    }

    /// Starts making the outputs of a reclaim of `plan.coins`.
    fn start_reclaim(
        &mut self,
        s: &State,
        plan: ReclaimPlan,
        refusal: WalletError,
    ) -> Result<(), WalletError> {
        let value: u64 = plan
            .coins
            .iter()
            .filter_map(|c| s.keys.key(&c.key_id).map(|k| k.info.value.value))
            .sum();
        let out = denominations_of(value, &s.withdraw_denominations())
            .map_err(|_| WalletError::Input("cannot split the reclaimed value".into()))?;
        self.phase = Phase::Reclaim(Box::new(DeriveOutputs::new(out)), Box::new(plan), refusal);
        Ok(())
    }
}

/// The history line of a payment the bank proved.
fn paid_entry(
    s: &State,
    paid: &ReclaimedPayment,
    proof: Signed<PaymentProof>,
) -> Result<HistoryEntry, WalletError> {
    Ok(HistoryEntry {
        id: new_id()?,
        at: s.now(),
        amount: paid.payreq.amount.value,
        event: Event::Paid {
            payreq: paid.payreq.clone(),
            payment_id: paid.payment_id,
            payer_code: paid.payer_code.clone(),
            receipt: None,
            deposit_ack: None,
            proof: Some(proof),
            fulfillment_url: links::on_origin(&paid.payreq.fulfillment_url, &paid.origin).ok(),
            origin: paid.origin.clone(),
            link_refused: None,
        },
    })
}

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
    /// Problems that did not stop recovery.
    pub problems: Vec<String>,
}

enum RecoverPhase {
    Keys(RefreshKeys),
    /// The next journaled operation, or the expiring coins.
    Next(Vec<String>),
    Op(Box<Drive>, Vec<String>),
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
}

impl Recover {
    pub(crate) fn new() -> Self {
        Self {
            report: RecoverReport::default(),
            phase: RecoverPhase::Keys(RefreshKeys::always()),
        }
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
            .filter(|r| {
                r.reserved_by.is_none() && r.deposit_until >= t && r.deposit_until <= horizon
            })
            .map(|r| (r.coin.serial, r.value))
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
                    None => return self.expiring(s),
                },
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
                        Ok(Next::Done(())) => self.report.refreshed = n,
                        Err(e) => self.report.problems.push(format!("refreshing coins: {e}")),
                    }
                    return Ok(Next::Done(std::mem::take(&mut self.report)));
                }
                RecoverPhase::Finished => return Err(out_of_turn()),
            }
        }
    }
}

impl<S: crate::store::Store, T: crate::transport::Transport> super::Wallet<S, T> {
    /// After a crash or a cut connection: finishes or undoes every journaled
    /// operation, and exchanges coins whose key is about to expire.
    pub async fn recover(&mut self) -> Result<RecoverReport, WalletError> {
        self.run(Recover::new(), None).await
    }
}
