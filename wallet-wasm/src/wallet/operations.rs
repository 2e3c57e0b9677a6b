//! The operations that move money: withdraw, pay, send, receive, exchange, prove.

use std::collections::{BTreeMap, BTreeSet};

use ecash_core::amount::{self, Denomination};
use ecash_core::canonical::Canonical;
use ecash_core::messages::{
    BlindSignatures, CoinBundle, ExchangeRequest, Payment, PaymentInfo, PaymentProof, ProofRequest,
    WithdrawRequest, description_hash, payer_code_hash,
};
use ecash_core::{Amount, B32, Bytes, Coin, Fixed, PendingCoin, Signed, envelope};
use serde::{Deserialize, Serialize};

use super::answers::{self, Offer};
use super::{Batch, ProgressFn, Wallet, http, new_id};
use crate::error::WalletError;
use crate::links;
use crate::platform::{self, now};
use crate::records::*;
use crate::select::{Selection, select};
use crate::store::Store;
use crate::token::{self, TokenBody};
use crate::transport::Transport;
use crate::wallet::Progress;

/// How many coins are unblinded between two yields to the browser's event loop.
const YIELD_EVERY: usize = 8;
/// Coins blinded per batch (one modular inversion each).
const BLIND_BATCH: usize = 32;

/// A finished withdrawal.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct WithdrawDone {
    /// Value withdrawn.
    pub amount: u64,
    /// Coins made.
    pub coins: usize,
}

/// A finished payment.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PaymentDone {
    /// The history line with receipt and payer code.
    pub entry: HistoryEntry,
}

impl PaymentDone {
    /// Where to send the payer for the goods (checked, payment id in the fragment).
    pub fn goods_link(&self) -> Option<String> {
        self.entry.event.goods_link()
    }

    /// Why the shop's link back was refused, if it was.
    pub fn link_refused(&self) -> Option<&str> {
        match &self.entry.event {
            Event::Paid { link_refused, .. } => link_refused.as_deref(),
            _ => None,
        }
    }
}

fn denominations_of(value: u64, keys: &[Denomination]) -> Result<Vec<Denomination>, WalletError> {
    amount::split(value, keys)
        .map_err(|_| WalletError::Input(format!("{value} cannot be made from the bank's coins")))
}

impl<S: Store, T: Transport> Wallet<S, T> {
    /// Denominations the bank signs now.
    fn withdraw_denominations(&self) -> Vec<Denomination> {
        self.keys.withdraw_keys(now()).keys().copied().collect()
    }

    /// Reserves counters and blinds one output per denomination.
    pub(crate) async fn derive_outputs(
        &mut self,
        denoms: &[Denomination],
        progress: &mut Option<ProgressFn<'_>>,
    ) -> Result<(Vec<Derivation>, Vec<PendingCoin>), WalletError> {
        let t = now();
        let keys = self.keys.withdraw_keys(t);
        let mut per_key: BTreeMap<B32, u64> = BTreeMap::new();
        let mut key_of = Vec::with_capacity(denoms.len());
        for d in denoms {
            let k = keys.get(d).ok_or_else(|| {
                WalletError::Input(format!("the bank has no key for value {}", d.value()))
            })?;
            *per_key.entry(k.info.key_id).or_default() += 1;
            key_of.push(k.info.key_id);
        }
        // Counters are taken from the store before any use, so no two coins share secrets.
        let mut next: BTreeMap<B32, u64> = BTreeMap::new();
        for (key_id, n) in &per_key {
            let start = self.store.reserve(&counter_key(key_id), *n).await?;
            next.insert(*key_id, start);
        }
        let mut derivations = Vec::with_capacity(key_of.len());
        for key_id in key_of {
            let counter = next
                .get_mut(&key_id)
                .ok_or_else(|| WalletError::Crypto("counter missing for a key".into()))?;
            derivations.push(Derivation {
                key_id,
                counter: *counter,
            });
            *counter += 1;
        }
        // Blind key by key in batches: one modular inversion per batch
        // (Montgomery's trick), with room between batches to paint progress.
        let total = derivations.len();
        let mut slots: Vec<Option<PendingCoin>> = (0..total).map(|_| None).collect();
        let mut done = 0;
        for key_id in per_key.keys() {
            let key = self
                .keys
                .key(key_id)
                .ok_or_else(|| WalletError::Crypto("key vanished".into()))?;
            let idx: Vec<usize> = (0..total)
                .filter(|&i| derivations[i].key_id == *key_id)
                .collect();
            for chunk in idx.chunks(BLIND_BATCH) {
                let counters: Vec<u64> = chunk.iter().map(|&i| derivations[i].counter).collect();
                for (&i, p) in chunk.iter().zip(self.seed.coins(key, &counters)?) {
                    slots[i] = Some(p);
                }
                done += chunk.len();
                if let Some(p) = progress.as_mut() {
                    p(Progress {
                        phase: "blinding",
                        done,
                        total,
                    });
                }
                platform::yield_now().await;
            }
        }
        let pending = slots
            .into_iter()
            .map(|p| p.ok_or_else(|| WalletError::Crypto("a coin was not blinded".into())))
            .collect::<Result<Vec<_>, _>>()?;
        Ok((derivations, pending))
    }

    /// Unblinds and verifies every signature; any failure refuses the whole answer.
    pub(crate) async fn finalize_outputs(
        &self,
        request_id: &B32,
        outputs: &[Derivation],
        pending: Option<Vec<PendingCoin>>,
        sigs: &BlindSignatures,
        progress: &mut Option<ProgressFn<'_>>,
    ) -> Result<Vec<CoinRecord>, WalletError> {
        if &sigs.request_id != request_id || sigs.blind_signatures.len() != outputs.len() {
            return Err(WalletError::Tampered(
                "the bank answered another request or the wrong number of signatures".into(),
            ));
        }
        let pending = match pending {
            Some(p) => p,
            None => {
                let mut v = Vec::with_capacity(outputs.len());
                for d in outputs {
                    v.push(self.seed.coin(self.known_key(&d.key_id)?, d.counter)?);
                }
                v
            }
        };
        let total = outputs.len();
        let mut coins = Vec::with_capacity(total);
        for (i, (p, s)) in pending.iter().zip(&sigs.blind_signatures).enumerate() {
            let key = self.known_key(&p.key_id)?;
            let coin = p.finalize(&key.key, &s.0).map_err(|_| {
                WalletError::Tampered(format!(
                    "blind signature {} of {total} does not verify",
                    i + 1
                ))
            })?;
            coins.push(CoinRecord {
                coin,
                value: key.info.value.value,
                deposit_until: key.info.deposit_until,
                reserved_by: None,
            });
            if let Some(p) = progress.as_mut() {
                p(Progress {
                    phase: "unblinding",
                    done: i + 1,
                    total,
                });
            }
            if (i + 1) % YIELD_EVERY == 0 {
                platform::yield_now().await;
            }
        }
        Ok(coins)
    }

    pub(crate) fn known_key(
        &self,
        key_id: &B32,
    ) -> Result<&ecash_core::keyset::VerifiedDenomination, WalletError> {
        self.keys.key(key_id).ok_or_else(|| {
            WalletError::KeySet(ecash_core::keyset::KeySetError::BadRsaKey(format!(
                "key {key_id:?} is not in the bank's signed key set"
            )))
        })
    }

    /// Withdraws `amount` from the bank account as coins.
    pub async fn withdraw(
        &mut self,
        amount: u64,
        mut progress: Option<ProgressFn<'_>>,
    ) -> Result<WithdrawDone, WalletError> {
        if amount == 0 {
            return Err(WalletError::Input("withdraw a positive amount".into()));
        }
        self.fresh_keys().await?;
        let denoms = denominations_of(amount, &self.withdraw_denominations())?;
        // Ask first: a refused withdrawal would waste derivation counters.
        let have = self.account_statement().await?.balance.value;
        if have < amount {
            return Err(WalletError::InsufficientFunds { need: amount, have });
        }
        let (outputs, pending) = self.derive_outputs(&denoms, &mut progress).await?;
        let request = Signed::sign(
            WithdrawRequest {
                account_id: self.meta.account_id.clone(),
                request_id: Fixed(platform::random::<32>()?),
                amount: Amount::new(self.keys.set.currency.clone(), amount),
                coins: pending.iter().map(|p| p.blinded.clone()).collect(),
                timestamp: now(),
            },
            &self.account,
        );
        let op = Operation {
            id: new_id()?,
            started_at: now(),
            attempts: 0,
            last_error: None,
            kind: OpKind::Withdraw { request, outputs },
        };
        let mut b = Batch::default();
        b.put_op(op.clone())?;
        self.commit(b).await?;
        if let Some(p) = progress.as_mut() {
            p(Progress {
                phase: "signing",
                done: 0,
                total: denoms.len(),
            });
        }
        self.drive(op, Some(pending), &mut progress).await?;
        Ok(WithdrawDone {
            amount,
            coins: denoms.len(),
        })
    }

    /// Exchanges coins of this wallet for fresh ones of the values `out`.
    pub(crate) async fn exchange_own(
        &mut self,
        serials: &[B32],
        out: &[Denomination],
        purpose: ExchangePurpose,
    ) -> Result<(), WalletError> {
        let mut coins = Vec::with_capacity(serials.len());
        for s in serials {
            let r = self
                .coins
                .get(s)
                .filter(|r| r.reserved_by.is_none())
                .ok_or_else(|| WalletError::Input("coin not available".into()))?;
            coins.push(r.coin.clone());
        }
        self.exchange_coins(coins, out, purpose, true).await
    }

    /// Journals and runs an exchange of `coins` (this wallet's when `own`) for outputs `out`.
    async fn exchange_coins(
        &mut self,
        coins: Vec<Coin>,
        out: &[Denomination],
        purpose: ExchangePurpose,
        own: bool,
    ) -> Result<(), WalletError> {
        let (outputs, pending) = self.derive_outputs(out, &mut None).await?;
        let request = ExchangeRequest {
            request_id: Fixed(platform::random::<32>()?),
            coins,
            outputs: pending.iter().map(|p| p.blinded.clone()).collect(),
        };
        let op = Operation {
            id: new_id()?,
            started_at: now(),
            attempts: 0,
            last_error: None,
            kind: OpKind::Exchange {
                request,
                outputs,
                purpose,
                reclaims: None,
            },
        };
        let mut b = Batch::default();
        if own {
            self.reserve_coins(&mut b, &op)?;
        }
        b.put_op(op.clone())?;
        self.commit(b).await?;
        self.drive(op, Some(pending), &mut None).await?;
        Ok(())
    }

    /// Marks the wallet's coins an operation spends as reserved by it.
    pub(crate) fn reserve_coins(&self, b: &mut Batch, op: &Operation) -> Result<(), WalletError> {
        for s in op_inputs(&op.kind) {
            if let Some(r) = self.coins.get(&s) {
                let mut r = r.clone();
                r.reserved_by = Some(op.id.clone());
                b.put_coin(r)?;
            }
        }
        Ok(())
    }

    /// Finds coins summing exactly to `amount`, breaking a coin first when it must.
    async fn exact_coins(&mut self, amount: u64) -> Result<Vec<B32>, WalletError> {
        if amount == 0 {
            return Err(WalletError::Input("the amount must be positive".into()));
        }
        // One round of change always makes the sum exact; the bound guards against surprises.
        for _ in 0..3 {
            match select(&self.candidates(), amount) {
                Selection::Exact(s) => return Ok(s),
                Selection::Insufficient { have } => {
                    return Err(WalletError::InsufficientFunds { need: amount, have });
                }
                Selection::NeedsChange {
                    coin,
                    coin_value,
                    pay,
                    ..
                } => {
                    self.fresh_keys().await?;
                    let denoms = self.withdraw_denominations();
                    let mut out = denominations_of(pay, &denoms)?;
                    out.extend(denominations_of(coin_value - pay, &denoms)?);
                    self.exchange_own(&[coin], &out, ExchangePurpose::Change)
                        .await?;
                }
            }
        }
        Err(WalletError::Input(format!(
            "could not make exactly {amount}"
        )))
    }

    /// Exchanges every free coin for fresh ones of the same total (new
    /// serials, current keys): unlinks them from how they were obtained and
    /// renews their expiry. Returns the value exchanged.
    pub async fn exchange_all(&mut self) -> Result<u64, WalletError> {
        let free: Vec<(B32, u64)> = self
            .candidates()
            .iter()
            .map(|c| (c.serial, c.value))
            .collect();
        let value: u64 = free.iter().map(|(_, v)| v).sum();
        if free.is_empty() {
            return Ok(0);
        }
        self.fresh_keys().await?;
        let out = denominations_of(value, &self.withdraw_denominations())?;
        let serials: Vec<B32> = free.into_iter().map(|(s, _)| s).collect();
        self.exchange_own(&serials, &out, ExchangePurpose::Refresh)
            .await?;
        Ok(value)
    }

    /// Fetches a payment request from a shop URL (https, or http on this machine).
    pub async fn fetch_payreq(&self, url: &str) -> Result<Offer, WalletError> {
        let u = links::web_url(url)
            .map_err(|e| WalletError::Payreq(format!("the payment request's address: {e}")))?;
        let origin = u.origin().ascii_serialization();
        let payreq = http::get(&self.net, u.as_str(), &[]).await?;
        Ok(Offer { payreq, origin })
    }

    /// Checks a payment request against this wallet's bank, the clock, and
    /// the link rule: its pay and fulfillment URLs must lie on the origin it
    /// came from.
    pub fn check_payreq(&self, offer: &Offer) -> Result<(), WalletError> {
        answers::check_offer(&self.keys.set, offer, now())
    }

    /// Pays a payment request: exact coins, sealed to the bank, posted to the
    /// shop; returns the history line with the verified receipt.
    pub async fn pay(&mut self, offer: Offer) -> Result<PaymentDone, WalletError> {
        self.check_payreq(&offer)?;
        let Offer { payreq, origin } = offer;
        if let Some(op) = self.ops.values().find(
            |o| matches!(&o.kind, OpKind::Pay { payreq: p, .. } if p.payreq_id == payreq.payreq_id),
        ) {
            return Err(WalletError::Interrupted {
                op: op.id.clone(),
                source: Box::new(WalletError::Payreq(
                    "a payment for this request is already under way".into(),
                )),
            });
        }
        let serials = self.exact_coins(payreq.amount.value).await?;
        let coins: Vec<Coin> = serials
            .iter()
            .filter_map(|s| self.coins.get(s).map(|r| r.coin.clone()))
            .collect();
        let set = &self.keys.set;
        let payer_code = platform::random::<32>()?.to_vec();
        let info = PaymentInfo {
            bank_id: set.bank_id.clone(),
            amount: payreq.amount.clone(),
            ncoins: coins.len() as u32,
            timestamp: now(),
            merchant_bank_id: payreq.merchant_bank_id.clone(),
            merchant_acc_id: payreq.merchant_acc_id.clone(),
            payreq_id: payreq.payreq_id.clone(),
            description_hash: description_hash(&payreq.description),
            payer_code_hash: payer_code_hash(&payer_code),
        };
        let bundle = CoinBundle {
            payment_info_hash: Fixed(info.canonical_hash()),
            coins,
        };
        let plaintext = serde_json::to_vec(&bundle)
            .map_err(|e| WalletError::Crypto(format!("encoding coins: {e}")))?;
        let sealed = envelope::seal(
            &self.keys.encryption_key,
            &plaintext,
            &info.canonical_hash(),
        )
        .map_err(|e| WalletError::Crypto(format!("sealing the coins: {e}")))?;
        let op = Operation {
            id: new_id()?,
            started_at: now(),
            attempts: 0,
            last_error: None,
            kind: OpKind::Pay {
                payreq,
                origin,
                payment: Payment {
                    payment_info: info,
                    sealed_coins: sealed,
                },
                payer_code: Bytes(payer_code),
                serials,
            },
        };
        let mut b = Batch::default();
        self.reserve_coins(&mut b, &op)?;
        b.put_op(op.clone())?;
        self.commit(b).await?;
        match self.drive(op, None, &mut None).await? {
            Some(entry) => Ok(PaymentDone { entry }),
            None => Err(WalletError::BadAnswer {
                url: String::new(),
                reason: "payment finished without a record".into(),
            }),
        }
    }

    /// Takes `amount` out of the wallet as a transfer token for another wallet.
    pub async fn send(&mut self, amount: u64) -> Result<String, WalletError> {
        let serials = self.exact_coins(amount).await?;
        let coins: Vec<Coin> = serials
            .iter()
            .filter_map(|s| self.coins.get(s).map(|r| r.coin.clone()))
            .collect();
        let token = token::encode(&TokenBody {
            bank_url: self.meta.bank_url.clone(),
            bank_id: self.keys.set.bank_id.clone(),
            coins,
        })?;
        let mut b = Batch::default();
        for s in &serials {
            b.del_coin(*s);
        }
        b.history(
            amount,
            Event::Sent {
                token: token.clone(),
            },
        )?;
        self.commit(b).await?;
        Ok(token)
    }

    /// Claims a transfer token: checks every coin, then exchanges them at once
    /// so the sender cannot spend them again. Returns the value received.
    pub async fn receive(&mut self, token_text: &str) -> Result<u64, WalletError> {
        let body = token::decode(token_text)?;
        if body.bank_id != self.keys.set.bank_id {
            return Err(WalletError::Token(format!(
                "the token is for bank {}, this wallet uses {}",
                body.bank_id, self.keys.set.bank_id
            )));
        }
        if body
            .coins
            .iter()
            .any(|c| self.keys.key(&c.key_id).is_none())
        {
            self.refresh_keys().await?;
        }
        let t = now();
        let mut seen = BTreeSet::new();
        let mut total = 0u64;
        for (i, c) in body.coins.iter().enumerate() {
            let n = i + 1;
            let key = self.keys.key(&c.key_id).ok_or_else(|| {
                WalletError::Token(format!(
                    "coin {n} names a key that is not in the bank's signed key set"
                ))
            })?;
            c.verify(&key.key)
                .map_err(|_| WalletError::Token(format!("coin {n} has an invalid signature")))?;
            if !key.info.can_deposit(t) {
                return Err(WalletError::Token(format!("coin {n} has expired")));
            }
            if !seen.insert(c.serial) || self.coins.contains_key(&c.serial) {
                return Err(WalletError::Token(format!(
                    "coin {n} is already in this wallet or twice in the token"
                )));
            }
            total = total
                .checked_add(key.info.value.value)
                .ok_or_else(|| WalletError::Token("the coins overflow".into()))?;
        }
        self.fresh_keys().await?;
        let out = denominations_of(total, &self.withdraw_denominations())?;
        self.exchange_coins(body.coins, &out, ExchangePurpose::Receive, false)
            .await?;
        Ok(total)
    }

    /// Asks the bank for a signed proof of a payment, revealing its payer code.
    pub async fn prove_payment(
        &mut self,
        payment_id: &B32,
    ) -> Result<Signed<PaymentProof>, WalletError> {
        let mut entry = self
            .history
            .values()
            .find(|e| matches!(&e.event, Event::Paid { payment_id: p, .. } if p == payment_id))
            .cloned()
            .ok_or_else(|| WalletError::Input("no payment with this id in the history".into()))?;
        let Event::Paid { payer_code, .. } = &entry.event else {
            return Err(WalletError::Input("not a payment".into()));
        };
        let proof = self.fetch_proof(payment_id, payer_code).await?;
        if let Event::Paid { proof: p, .. } = &mut entry.event {
            *p = Some(proof.clone());
        }
        let mut b = Batch::default();
        b.put_history(entry)?;
        self.commit(b).await?;
        Ok(proof)
    }

    /// `POST /proofs`, and the proof must be the bank's, for this payment and payer code.
    pub(crate) async fn fetch_proof(
        &self,
        payment_id: &B32,
        payer_code: &Bytes,
    ) -> Result<Signed<PaymentProof>, WalletError> {
        let proof: Signed<PaymentProof> = http::post(
            &self.net,
            &self.url("/proofs"),
            &ProofRequest {
                payment_id: *payment_id,
                payer_code: payer_code.clone(),
            },
        )
        .await?;
        proof.verify(&self.meta.master_key).map_err(|_| {
            WalletError::Tampered("the payment proof is not signed by the bank".into())
        })?;
        if &proof.body.payment_id != payment_id
            || proof.body.payment_info.payer_code_hash != payer_code_hash(&payer_code.0)
        {
            return Err(WalletError::Tampered(
                "the proof is for another payment".into(),
            ));
        }
        Ok(proof)
    }
}

/// The wallet coins an operation spends.
pub(crate) fn op_inputs(kind: &OpKind) -> Vec<B32> {
    match kind {
        OpKind::Withdraw { .. } => vec![],
        OpKind::Exchange { request, .. } => request.coins.iter().map(|c| c.serial).collect(),
        OpKind::Pay { serials, .. } => serials.clone(),
    }
}

impl<S: Store, T: Transport> Wallet<S, T> {
    /// A payment request from what a user or page hands over: the request as
    /// JSON (its origin is then its pay URL's), its URL, or a `web+ecash:`
    /// link to it (percent-encoded or not).
    pub async fn resolve_payreq(&self, input: &str) -> Result<Offer, WalletError> {
        let s = input.trim();
        if s.starts_with('{') {
            return answers::offer_from_json(s);
        }
        let url = s.strip_prefix("web+ecash:").unwrap_or(s);
        let url = if url.contains("://") {
            url.to_owned()
        } else {
            percent_encoding::percent_decode_str(url)
                .decode_utf8()
                .map_err(|_| WalletError::Payreq("the link is not UTF-8".into()))?
                .into_owned()
        };
        self.fetch_payreq(&url).await
    }
}
