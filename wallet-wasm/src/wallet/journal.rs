//! The journal: running journaled operations to their end, and recovery.
//!
//! An operation is in the store before its request leaves. [`Wallet::drive`]
//! sends it (again, on recovery: every request is idempotent at the bank and
//! the shop) and resolves it in one atomic batch with its coins and history.
//! A transient failure leaves it journaled; a definitive refusal undoes it.

use ecash_core::messages::{
    BlindSignatures, CoinStateRequest, CoinStateResponse, ExchangeRequest, PayReq, PaymentProof,
    PaymentResponse,
};
use ecash_core::{B32, Coin, Fixed, PendingCoin, Signed};
use serde::{Deserialize, Serialize};

use super::{Batch, ProgressFn, Wallet, answers, http, new_id};
use crate::error::WalletError;
use crate::links;
use crate::platform::{self, now};
use crate::records::*;
use crate::store::Store;
use crate::transport::Transport;

/// How many times a refused reclaim is journaled again with fresh outputs.
const MAX_RECLAIM_RENEWALS: u32 = 3;

/// Largest number of serials asked about in one `/coins/state` request.
const STATE_CHUNK: usize = 200;

/// What [`Wallet::recover`] did.
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

/// Where one attempt at an operation left it.
enum Step {
    /// Resolved; a payment yields its history line.
    Done(Option<Box<HistoryEntry>>),
    /// Refused for good and undone; report this error.
    Failed(WalletError),
    /// Replaced by a follow-up operation (a reclaim); report the error after it.
    Then(Box<Operation>, Vec<PendingCoin>, Box<WalletError>),
}

/// The origin a payment's URLs must stay on; journal entries written before
/// origins were recorded take their pay URL's.
fn pay_origin(payreq: &PayReq, origin: &str) -> Result<String, WalletError> {
    if origin.is_empty() {
        links::origin(&payreq.pay_url).map_err(|e| WalletError::Payreq(format!("its pay URL: {e}")))
    } else {
        Ok(origin.to_owned())
    }
}

impl<S: Store, T: Transport> Wallet<S, T> {
    /// Runs a journaled operation until it is resolved or a transient failure stops it.
    pub(crate) async fn drive(
        &mut self,
        mut op: Operation,
        mut pending: Option<Vec<PendingCoin>>,
        progress: &mut Option<ProgressFn<'_>>,
    ) -> Result<Option<HistoryEntry>, WalletError> {
        let mut carried: Option<WalletError> = None;
        loop {
            match self.attempt(&op, pending.take(), progress).await {
                // A payment made (even one its shop refused and deposited
                // anyway) is the outcome; otherwise the first refusal is.
                Ok(Step::Done(Some(entry))) => return Ok(Some(*entry)),
                Ok(Step::Done(None)) => return carried.map_or(Ok(None), Err),
                Ok(Step::Failed(e)) => return Err(carried.unwrap_or(e)),
                Ok(Step::Then(next, next_pending, e)) => {
                    carried.get_or_insert(*e);
                    op = *next;
                    pending = Some(next_pending);
                }
                Err(e) => {
                    self.note_failure(&op.id, &e).await;
                    return Err(WalletError::Interrupted {
                        op: op.id.clone(),
                        source: Box::new(e),
                    });
                }
            }
        }
    }

    /// Records a failed attempt on the journal entry (best effort: the entry itself is safe).
    async fn note_failure(&mut self, id: &str, e: &WalletError) {
        if let Some(mut op) = self.ops.get(id).cloned() {
            op.attempts += 1;
            op.last_error = Some(e.to_string());
            let mut b = Batch::default();
            if b.put_op(op).is_ok() {
                let _ = self.commit(b).await;
            }
        }
    }

    async fn attempt(
        &mut self,
        op: &Operation,
        pending: Option<Vec<PendingCoin>>,
        progress: &mut Option<ProgressFn<'_>>,
    ) -> Result<Step, WalletError> {
        match &op.kind {
            OpKind::Withdraw { request, outputs } => {
                let answer =
                    http::post::<_, _, BlindSignatures>(&self.net, &self.url("/withdraw"), request)
                        .await;
                let sigs = match answer {
                    Ok(s) => s,
                    Err(e) => return self.refused(op, e).await,
                };
                let coins = self
                    .finalize_outputs(&request.body.request_id, outputs, pending, &sigs, progress)
                    .await?;
                let mut b = Batch::default();
                let n = coins.len();
                for c in coins {
                    b.put_coin(c)?;
                }
                b.del_op(&op.id);
                b.history(request.body.amount.value, Event::Withdrawn { coins: n })?;
                self.commit(b).await?;
                Ok(Step::Done(None))
            }
            OpKind::Exchange {
                request,
                outputs,
                purpose,
                ..
            } => {
                let answer =
                    http::post::<_, _, BlindSignatures>(&self.net, &self.url("/exchange"), request)
                        .await;
                let sigs = match answer {
                    Ok(s) => s,
                    Err(e) => return self.refused(op, e).await,
                };
                let coins = self
                    .finalize_outputs(&request.request_id, outputs, pending, &sigs, progress)
                    .await?;
                let mut b = Batch::default();
                let n = coins.len();
                let total: u64 = coins.iter().map(|c| c.value).sum();
                for c in &request.coins {
                    if self.coins.contains_key(&c.serial) {
                        b.del_coin(c.serial);
                    }
                }
                for c in coins {
                    b.put_coin(c)?;
                }
                b.del_op(&op.id);
                let event = match purpose {
                    ExchangePurpose::Receive => Event::Received { coins: n },
                    p => Event::Exchanged { purpose: *p },
                };
                b.history(total, event)?;
                self.commit(b).await?;
                Ok(Step::Done(None))
            }
            OpKind::Pay {
                payreq,
                origin,
                payment,
                payer_code,
                serials,
            } => {
                let origin = pay_origin(payreq, origin)?;
                let pay_url = links::on_origin(&payreq.pay_url, &origin)
                    .map_err(|e| WalletError::Payreq(format!("its pay URL: {e}")))?;
                let answer =
                    http::post::<_, _, PaymentResponse>(&self.net, &pay_url, payment).await;
                let resp = match answer {
                    Ok(r) => r,
                    Err(e) if e.is_transient() => return self.unanswered(op, e).await,
                    Err(e) => return self.settle_refused_payment(op, e).await,
                };
                let payment_id = payment.payment_id();
                if let Err(e) =
                    answers::check_ack(&resp, &self.meta.master_key, &payment_id, payreq)
                {
                    // An answer that does not carry the bank's ack is no answer.
                    return self.unanswered(op, e).await;
                }
                let answers::CheckedAnswer {
                    receipt_ok,
                    fulfillment_url,
                    link_refused,
                } = answers::check_answer(&resp, &payment_id, payreq, &origin);
                let entry = HistoryEntry {
                    id: new_id()?,
                    at: now(),
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
                for s in serials {
                    b.del_coin(*s);
                }
                b.del_op(&op.id);
                b.put_history(entry.clone())?;
                self.commit(b).await?;
                if receipt_ok {
                    Ok(Step::Done(Some(Box::new(entry))))
                } else {
                    Ok(Step::Failed(WalletError::Tampered(
                        "the shop's receipt does not verify; the bank's signed ack in the history shows the payment was made".into(),
                    )))
                }
            }
        }
    }

    /// The shop gave no valid answer to a payment. Until the request expires
    /// (plus a grace period for a late deposit) the payment stays journaled
    /// and is sent again; after, the bank settles it: the payment was made
    /// (its proof), or the coins come back. So no shop, silent or hostile,
    /// holds coins for good, nor keeps the wallet calling it.
    async fn unanswered(&mut self, op: &Operation, e: WalletError) -> Result<Step, WalletError> {
        let OpKind::Pay { payreq, .. } = &op.kind else {
            return Err(e);
        };
        let deadline =
            answers::settle_after(payreq, op.started_at, self.settings.payment_grace_secs);
        if now() <= deadline {
            return Err(e);
        }
        let why = WalletError::Payreq(format!(
            "the shop gave no valid answer before its payment request expired ({e})"
        ));
        self.settle_refused_payment(op, why).await
    }

    /// A withdraw or exchange failed: transient failures keep it journaled;
    /// a refusal undoes it, dropping inputs the bank says are spent.
    async fn refused(&mut self, op: &Operation, e: WalletError) -> Result<Step, WalletError> {
        if e.is_transient() {
            return Err(e);
        }
        if let OpKind::Exchange {
            reclaims: Some(paid),
            request,
            ..
        } = &op.kind
        {
            // A reclaim refused: did the shop deposit the payment after all
            // (its coins are spent)? Then the payer keeps the bank's proof.
            match self.fetch_proof(&paid.payment_id, &paid.payer_code).await {
                Ok(proof) => return self.paid_after_all(op, paid, proof).await,
                Err(pe) if pe.is_transient() => return Err(pe),
                Err(_) => {}
            }
            // Refused for another reason (its output keys expired while it
            // waited): the payment's record stays, and the coins are taken
            // back again with fresh outputs, a few times at most.
            if e.spent_serials().is_empty() && paid.renewals < MAX_RECLAIM_RENEWALS {
                let value: u64 = request
                    .coins
                    .iter()
                    .filter_map(|c| self.coins.get(&c.serial))
                    .map(|r| r.value)
                    .sum();
                self.refresh_keys().await?;
                let mut again = (**paid).clone();
                again.renewals += 1;
                let mut b = Batch::default();
                b.del_op(&op.id);
                let (next, pending) = self
                    .reclaim(
                        &mut b,
                        request.coins.clone(),
                        value,
                        again,
                        format!("reclaim refused: {e}"),
                    )
                    .await?;
                self.commit(b).await?;
                return Ok(Step::Then(Box::new(next), pending, Box::new(e)));
            }
        }
        let spent: Vec<B32> = e.spent_serials().to_vec();
        let mut b = Batch::default();
        let mut gone = 0;
        let mut gone_value = 0;
        for s in super::operations::op_inputs(&op.kind) {
            let Some(r) = self.coins.get(&s) else {
                continue;
            };
            if spent.contains(&s) {
                gone += 1;
                gone_value += r.value;
                b.del_coin(s);
            } else {
                let mut r = r.clone();
                r.reserved_by = None;
                b.put_coin(r)?;
            }
        }
        if gone > 0 {
            b.history(gone_value, Event::SpentElsewhere { coins: gone })?;
        }
        b.del_op(&op.id);
        self.commit(b).await?;
        Ok(Step::Failed(e))
    }

    /// A reclaimed payment was deposited after all: its coins are gone, and
    /// the bank's proof stands in for the receipt.
    async fn paid_after_all(
        &mut self,
        op: &Operation,
        paid: &ReclaimedPayment,
        proof: Signed<PaymentProof>,
    ) -> Result<Step, WalletError> {
        let mut b = Batch::default();
        for s in super::operations::op_inputs(&op.kind) {
            if self.coins.contains_key(&s) {
                b.del_coin(s);
            }
        }
        b.del_op(&op.id);
        let entry = HistoryEntry {
            id: new_id()?,
            at: now(),
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
        };
        b.put_history(entry.clone())?;
        self.commit(b).await?;
        Ok(Step::Done(Some(Box::new(entry))))
    }

    /// The shop refused a payment for good. If the bank has its coins, the
    /// payment was made: fetch the bank's proof. Otherwise take the coins back
    /// with an exchange, so the shop can never deposit them later.
    async fn settle_refused_payment(
        &mut self,
        op: &Operation,
        e: WalletError,
    ) -> Result<Step, WalletError> {
        let OpKind::Pay {
            payreq,
            origin,
            payment,
            payer_code,
            serials,
        } = &op.kind
        else {
            return Ok(Step::Failed(e));
        };
        let origin = pay_origin(payreq, origin)?;
        let spent = self.spent_flags(serials).await?;
        let payment_id = payment.payment_id();
        if spent.iter().all(|s| *s) {
            let proof = match self.fetch_proof(&payment_id, payer_code).await {
                Ok(p) => Some(p),
                Err(pe) if pe.is_transient() => return Err(pe),
                Err(_) => None,
            };
            let mut b = Batch::default();
            for s in serials {
                b.del_coin(*s);
            }
            b.del_op(&op.id);
            let Some(proof) = proof else {
                b.history(
                    payreq.amount.value,
                    Event::SpentElsewhere {
                        coins: serials.len(),
                    },
                )?;
                self.commit(b).await?;
                return Ok(Step::Failed(e));
            };
            let entry = HistoryEntry {
                id: new_id()?,
                at: now(),
                amount: payreq.amount.value,
                event: Event::Paid {
                    payreq: payreq.clone(),
                    payment_id,
                    payer_code: payer_code.clone(),
                    receipt: None,
                    deposit_ack: None,
                    proof: Some(proof),
                    fulfillment_url: links::on_origin(&payreq.fulfillment_url, &origin).ok(),
                    origin,
                    link_refused: None,
                },
            };
            b.put_history(entry.clone())?;
            self.commit(b).await?;
            return Ok(Step::Done(Some(Box::new(entry))));
        }
        // Reclaim the unspent coins; drop the ones someone else spent.
        self.fresh_keys().await?;
        let mut b = Batch::default();
        let (mut keep, mut keep_value, mut gone, mut gone_value) = (vec![], 0u64, 0usize, 0u64);
        for (s, is_spent) in serials.iter().zip(&spent) {
            let Some(r) = self.coins.get(s) else { continue };
            if *is_spent {
                gone += 1;
                gone_value += r.value;
                b.del_coin(*s);
            } else {
                keep.push(r.coin.clone());
                keep_value += r.value;
            }
        }
        if gone > 0 {
            b.history(gone_value, Event::SpentElsewhere { coins: gone })?;
        }
        b.del_op(&op.id);
        if keep.is_empty() {
            self.commit(b).await?;
            return Ok(Step::Failed(e));
        }
        let paid = ReclaimedPayment {
            payreq: payreq.clone(),
            origin: origin.clone(),
            payment_id,
            payer_code: payer_code.clone(),
            renewals: 0,
        };
        let (next, pending) = self
            .reclaim(
                &mut b,
                keep,
                keep_value,
                paid,
                format!("payment refused: {e}"),
            )
            .await?;
        self.commit(b).await?;
        Ok(Step::Then(Box::new(next), pending, Box::new(e)))
    }

    /// Journals (in `b`) an exchange that takes `coins` (worth `value`) back
    /// from the payment `paid`, reserving them for it.
    async fn reclaim(
        &mut self,
        b: &mut Batch,
        coins: Vec<Coin>,
        value: u64,
        paid: ReclaimedPayment,
        why: String,
    ) -> Result<(Operation, Vec<PendingCoin>), WalletError> {
        let denoms: Vec<_> = self.keys.withdraw_keys(now()).keys().copied().collect();
        let out = ecash_core::amount::split(value, &denoms)
            .map_err(|_| WalletError::Input("cannot split the reclaimed value".into()))?;
        let (outputs, pending) = self.derive_outputs(&out, &mut None).await?;
        let next = Operation {
            id: new_id()?,
            started_at: now(),
            attempts: 0,
            last_error: Some(why),
            kind: OpKind::Exchange {
                request: ExchangeRequest {
                    request_id: Fixed(platform::random::<32>()?),
                    coins,
                    outputs: pending.iter().map(|p| p.blinded.clone()).collect(),
                },
                outputs,
                purpose: ExchangePurpose::Reclaim,
                reclaims: Some(Box::new(paid)),
            },
        };
        self.reserve_coins(b, &next)?;
        b.put_op(next.clone())?;
        Ok((next, pending))
    }

    /// `/coins/state` for `serials`, in chunks. Only ever asked about the
    /// coins of one unfinished operation, which that operation already shows
    /// the bank together: never about the coins a wallet holds.
    pub(crate) async fn spent_flags(&self, serials: &[B32]) -> Result<Vec<bool>, WalletError> {
        let mut out = Vec::with_capacity(serials.len());
        for chunk in serials.chunks(STATE_CHUNK) {
            let r: CoinStateResponse = http::post(
                &self.net,
                &self.url("/coins/state"),
                &CoinStateRequest {
                    serials: chunk.to_vec(),
                },
            )
            .await?;
            if r.spent.len() != chunk.len() {
                return Err(WalletError::BadAnswer {
                    url: self.url("/coins/state"),
                    reason: "wrong number of flags".into(),
                });
            }
            out.extend(r.spent);
        }
        Ok(out)
    }

    /// After a crash or a cut connection: finishes or undoes every journaled
    /// operation (a payment whose shop is gone is settled with the bank once
    /// its request has expired), and exchanges coins whose key is about to expire.
    pub async fn recover(&mut self) -> Result<RecoverReport, WalletError> {
        let mut report = RecoverReport::default();
        self.refresh_keys().await?;
        let ids: Vec<String> = self.ops.keys().cloned().collect();
        for id in ids {
            let Some(op) = self.ops.get(&id).cloned() else {
                continue;
            };
            report.resumed += 1;
            match self.drive(op, None, &mut None).await {
                Ok(_) => report.completed += 1,
                Err(WalletError::Interrupted { source, .. }) => {
                    report.still_pending += 1;
                    report.problems.push(source.to_string());
                }
                Err(e) => {
                    report.undone += 1;
                    report.problems.push(e.to_string());
                }
            }
        }
        // No question about the free coins goes to the bank: asking which of
        // them are spent would show it every coin this wallet holds. A coin
        // spent elsewhere (a copy of this wallet) is found when it is next
        // paid or exchanged, and dropped then.
        let t = now();
        let horizon = t.saturating_add(self.settings.expiry_margin_secs);
        let expiring: Vec<(B32, u64)> = self
            .coins
            .values()
            .filter(|r| {
                r.reserved_by.is_none() && r.deposit_until >= t && r.deposit_until <= horizon
            })
            .map(|r| (r.coin.serial, r.value))
            .collect();
        if !expiring.is_empty() {
            let value: u64 = expiring.iter().map(|(_, v)| v).sum();
            let denoms: Vec<_> = self.keys.withdraw_keys(t).keys().copied().collect();
            let fresh_enough = self
                .keys
                .withdraw_keys(t)
                .values()
                .all(|k| k.info.deposit_until > horizon);
            match ecash_core::amount::split(value, &denoms) {
                Ok(out) if fresh_enough => {
                    let serials: Vec<B32> = expiring.iter().map(|(s, _)| *s).collect();
                    match self
                        .exchange_own(&serials, &out, ExchangePurpose::Refresh)
                        .await
                    {
                        Ok(()) => report.refreshed = serials.len(),
                        Err(e) => report.problems.push(format!("refreshing coins: {e}")),
                    }
                }
                _ => report
                    .problems
                    .push("coins near expiry, but the bank offers no longer-lived key yet".into()),
            }
        }
        Ok(report)
    }
}
