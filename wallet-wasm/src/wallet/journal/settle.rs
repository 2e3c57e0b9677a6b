//! A payment the shop refused, or never answered before its request
//! expired, settled with the bank: its proof if the coins were deposited,
//! the coins back (a reclaim exchange) if not.

use super::*;

impl Drive {
    /// A refused reclaim: the bank's proof if the payment was deposited
    /// after all; else the reclaim renewed (its output keys expired while
    /// it waited) a few times at most, or undone.
    pub(super) fn reclaim_proved(
        &mut self,
        s: &State,
        answer: Result<Signed<PaymentProof>, WalletError>,
        refusal: WalletError,
    ) -> Result<Option<Next<Final>>, WalletError> {
        let OpKind::Exchange {
            reclaims: Some(paid),
            ..
        } = &self.op.kind
        else {
            return Err(out_of_turn());
        };
        let bank = paid.merchant_bank.as_ref();
        match answer.and_then(|p| check_proof(s, bank, &paid.payment_id, &paid.payer_code, p)) {
            Ok(proof) => return self.paid_after_all(s, proof).map(Some),
            Err(pe) if pe.is_transient() => return Err(pe),
            Err(_) => {}
        }
        if refusal.spent_serials().is_empty() && paid.renewals < MAX_RECLAIM_RENEWALS {
            // The payment's record stays; the coins go back again with fresh outputs.
            self.phase = Phase::RenewKeys(RefreshKeys::always(), refusal);
            return Ok(None);
        }
        self.undo(s, refusal).map(Some)
    }

    /// Fresh keys in hand: the refused reclaim journaled again.
    pub(super) fn renew_reclaim(
        &mut self,
        s: &State,
        refusal: WalletError,
    ) -> Result<(), WalletError> {
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
        self.start_reclaim(s, plan, refusal)
    }

    /// A reclaim's outputs made: it is journaled (replacing what the plan's
    /// batch removes) and run next.
    pub(super) fn journal_reclaim(
        &mut self,
        s: &State,
        plan: ReclaimPlan,
        outputs: Vec<Derivation>,
        pending: Vec<PendingCoin>,
        refusal: WalletError,
    ) -> Stepped {
        let ReclaimPlan {
            mut batch,
            coins,
            paid,
            why,
        } = plan;
        let plan_serials: Vec<B32> = coins.iter().map(|c| c.serial).collect();
        let mut next = s.operation(OpKind::Exchange {
            request: ExchangeRequest {
                request_id: Fixed(platform::random::<32>()?),
                coins,
                outputs: pending.iter().map(|p| p.blinded.clone()).collect(),
            },
            outputs,
            purpose: ExchangePurpose::Reclaim,
            reclaims: Some(Box::new(paid)),
            // Back at the bank that minted them.
            at: s.bank_of_coins(&plan_serials)?,
            recoup: None,
        })?;
        next.last_error = Some(why);
        s.reserve_coins(&mut batch, &next)?;
        batch.put_op(next.clone())?;
        self.phase = Phase::Resolving(Outcome::Then(Box::new(next), pending, Box::new(refusal)));
        Ok(Next::Io(Io::Commit(batch)))
    }

    /// A chunk of spent flags came back.
    pub(super) fn flags_answered(
        &mut self,
        s: &State,
        call: &Await<api::CoinState>,
        input: Input,
        mut flags: Vec<bool>,
        why: WalletError,
    ) -> Stepped {
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
        self.settle_flags(s, flags, why)
    }

    /// The bank's proof of a refused payment whose coins are all spent (or none).
    pub(super) fn settle_proved(
        &mut self,
        s: &State,
        answer: Result<Signed<PaymentProof>, WalletError>,
        why: WalletError,
    ) -> Stepped {
        let OpKind::Pay {
            payment,
            payer_code,
            merchant_bank,
            ..
        } = &self.op.kind
        else {
            return Err(out_of_turn());
        };
        let bank = merchant_bank.as_ref();
        let proof =
            match answer.and_then(|p| check_proof(s, bank, &payment.payment_id(), payer_code, p)) {
                Ok(p) => Some(p),
                Err(pe) if pe.is_transient() => return Err(pe),
                Err(_) => None,
            };
        self.settle_spent(s, proof, why)
    }

    /// A reclaimed payment was deposited after all: its coins are gone, and
    /// the bank's proof stands in for the receipt.
    pub(super) fn paid_after_all(&mut self, s: &State, proof: Signed<PaymentProof>) -> Stepped {
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
    pub(super) fn settle_refused(&mut self, s: &State, why: WalletError) -> Stepped {
        if !matches!(self.op.kind, OpKind::Pay { .. }) {
            return Err(out_of_turn());
        }
        self.settle_flags(s, Vec::new(), why)
    }

    /// Asks about the next chunk of the payment's coins, or settles once all are known.
    pub(super) fn settle_flags(
        &mut self,
        s: &State,
        flags: Vec<bool>,
        why: WalletError,
    ) -> Stepped {
        let serials = self.op.kind.inputs();
        if flags.len() < serials.len() {
            let end = (flags.len() + STATE_CHUNK).min(serials.len());
            // A coin is its key and serial; the payment's coins stay in the
            // wallet (reserved) until it settles.
            let coins = serials[flags.len()..end]
                .iter()
                .map(|serial| Ok(s.coins.get(serial).ok_or_else(out_of_turn)?.coin.id()))
                .collect::<Result<Vec<_>, WalletError>>()?;
            // Asked of the bank that minted them.
            let bank = s.bank_of_coins(&serials)?;
            let url = bank.as_ref().map_or(s.bank(), |b| b.url.as_str());
            let (call, io) =
                Await::<api::CoinState>::at_base(url, &(), &CoinStateRequest { coins })?;
            self.phase = Phase::SpentFlags { call, flags, why };
            return Ok(Next::Io(io));
        }
        let OpKind::Pay {
            payment,
            payer_code,
            merchant_bank,
            ..
        } = &self.op.kind
        else {
            return Err(out_of_turn());
        };
        if flags.iter().all(|f| *f) {
            let (call, io) =
                ask_proof(s, merchant_bank.as_ref(), &payment.payment_id(), payer_code)?;
            self.phase = Phase::SettleProof(call, why);
            return Ok(Next::Io(io));
        }
        self.phase = Phase::SettleKeys(RefreshKeys::when_stale(), flags, why);
        self.step(s, Input::Start)
    }

    /// Every coin of a refused payment is spent: the bank's proof (if it has
    /// the payment) stands in for the receipt; else the coins were spent elsewhere.
    pub(super) fn settle_spent(
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
            merchant_bank,
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
            merchant_bank: merchant_bank.clone(),
        };
        let entry = paid_entry(s, &paid, proof)?;
        b.put_history(entry.clone())?;
        self.phase = Phase::Resolving(Outcome::Done(Some(Box::new(entry))));
        Ok(Next::Io(Io::Commit(b)))
    }

    /// Some coins of a refused payment are unspent: take them back with an
    /// exchange, so the shop can never deposit them later; drop the ones
    /// someone else spent.
    pub(super) fn settle_unspent(
        &mut self,
        s: &State,
        spent: &[bool],
        why: WalletError,
    ) -> Stepped {
        let OpKind::Pay {
            payreq,
            origin,
            payment,
            payer_code,
            serials,
            merchant_bank,
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
                merchant_bank: merchant_bank.clone(),
            },
            why: format!("payment refused: {why}"),
        };
        self.start_reclaim(s, plan, why)?;
        self.step(s, Input::Start)
    }

    /// Starts making the outputs of a reclaim of `plan.coins`.
    pub(super) fn start_reclaim(
        &mut self,
        s: &State,
        plan: ReclaimPlan,
        refusal: WalletError,
    ) -> Result<(), WalletError> {
        let value: u64 = plan
            .coins
            .iter()
            .filter_map(|c| s.known_key(&c.key_id).ok().map(|k| k.info.value.value))
            .sum();
        let serials: Vec<B32> = plan.coins.iter().map(|c| c.serial).collect();
        let bank = s.bank_of_coins(&serials)?.map(|b| b.bank_id);
        let out = denominations_of(value, &s.withdraw_denominations_at(bank.as_deref())?)
            .map_err(|_| WalletError::Input("cannot split the reclaimed value".into()))?;
        self.phase = Phase::Reclaim(
            Box::new(DeriveOutputs::at(out, bank)),
            Box::new(plan),
            refusal,
        );
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
            merchant_bank: paid.merchant_bank.clone(),
        },
    })
}
