//! Paying: a shop's payment request paid with exact coins sealed to the
//! bank ([`Pay`]); coins handed over as a token ([`Send`]); a payment proved
//! with the bank's signed statement ([`Prove`]).

use ecash_core::api;
use ecash_core::messages::PaymentProof;
use ecash_core::{B32, Bytes, Coin, Signed, payment};
use serde::{Deserialize, Serialize};

use super::batch::Batch;
use super::exchange::ExactCoins;
use super::io::{Await, Input, Io, Machine, Next};
use super::journal::{Drive, ask_proof, check_proof};
use super::{State, Wallet, answers, keys::Single};
use crate::error::WalletError;
use crate::links;
use crate::platform;
use crate::records::*;
use crate::store::Store;
use crate::token::{self, TokenBody};
use crate::transport::Transport;

/// A finished payment.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PaymentDone {
    /// The history line with receipt and payer code.
    pub entry: HistoryEntry,
}

impl PaymentDone {
    /// Where to send the payer for the goods (checked, goods key in the fragment).
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

enum PayPhase {
    /// The merchant's bank is another: its certified key set first.
    Bank(Option<Await<api::Keys>>),
    /// Its coins are to be paid with and the wallet holds too few: the bank
    /// kept (or checked again) as a known bank ...
    Known(Box<FetchMint>),
    /// ... and the shortfall exchanged into its coins.
    Into(Box<ExchangeInto>),
    Coins(Box<ExactCoins>),
    Journal(Box<Operation>),
    Drive(Box<Drive>),
    Finished,
}

/// Pays a payment request: exact coins, sealed to the bank, posted to the
/// shop; yields the history line with the verified receipt.
pub(crate) struct Pay {
    offer: Option<Offer>,
    /// The merchant's bank when it is not the wallet's, checked against the
    /// pinned certifier: as the journal keeps it, and its key set.
    bank: Option<(MerchantBank, Box<ecash_core::VerifiedKeySet>)>,
    /// Whose coins pay, when not the wallet's own bank's: the merchant's bank's.
    coins_at: Option<MerchantBank>,
    phase: PayPhase,
}

use super::answers::Offer;
use super::mints::{ExchangeInto, FetchMint};

/// [`answers::check_offer`], and under a pinned certifier (NetCash) a
/// merchant certified by its bank: the wallet pays only whom a bank vouches for.
fn check_certified_offer(s: &State, offer: &Offer) -> Result<(), WalletError> {
    s.check_papers()?;
    answers::check_offer(&s.keys.set, offer, s.now())?;
    if s.meta.certifier.is_some() && offer.payreq.merchant_certificate.is_none() {
        return Err(WalletError::Payreq(
            "the merchant carries no certificate from its bank; this wallet pays only certified merchants".into(),
        ));
    }
    Ok(())
}

/// Whether the merchant banks at another bank than the wallet's (NetCash).
fn at_other_bank(s: &State, offer: &Offer) -> bool {
    offer.payreq.merchant_bank_id != s.keys.set.bank_id
}

/// The address of a merchant's bank that is not the wallet's, checked: the
/// wallet must pin a certifier (which must vouch for that bank), and its
/// address must be a web origin. (Whose coins pay is chosen once that bank's
/// key set is in hand: [`Pay::choose_coins`].)
fn other_bank_url(s: &State, offer: &Offer) -> Result<String, WalletError> {
    let p = &offer.payreq;
    if s.meta.certifier.is_none() {
        return Err(WalletError::Payreq(format!(
            "the merchant banks with {}, this wallet with {}; paying at another bank needs a wallet that pins a certifier",
            p.merchant_bank_id, s.keys.set.bank_id
        )));
    }
    let url = p.merchant_bank_url.as_deref().ok_or_else(|| {
        WalletError::Payreq("the payment request names no address of the merchant's bank".into())
    })?;
    let u = links::web_url(url)
        .map_err(|e| WalletError::Payreq(format!("the merchant's bank's address: {e}")))?;
    Ok(u.origin().ascii_serialization())
}

/// The key set of a merchant's bank that is not the wallet's, as answered
/// at `url`: it must be certified by the pinned certifier at that address,
/// be the bank the request names, issue the wallet's currency, and certify
/// the merchant; then the offer is checked against it.
fn check_other_bank(
    s: &State,
    offer: &Offer,
    url: &str,
    answer: &ecash_core::certificate::KeysAnswer,
) -> Result<(MerchantBank, ecash_core::VerifiedKeySet), WalletError> {
    let pin = s
        .meta
        .certifier
        .as_ref()
        .ok_or_else(|| WalletError::Crypto("no certifier pinned".into()))?;
    let known = s.papers.as_ref().map(|p| &p.revocations);
    let m = ecash_core::certificate::verify_certified(answer, url, &pin.key, known, s.now())?;
    answers::check_offer(&m.keys.set, offer, s.now())?;
    if m.keys.set.currency != s.keys.set.currency {
        return Err(WalletError::Payreq(format!(
            "the merchant's bank issues {}, this wallet holds {}",
            m.keys.set.currency, s.keys.set.currency
        )));
    }
    if offer.payreq.merchant_certificate.is_none() {
        return Err(WalletError::Payreq(
            "the merchant carries no certificate from its bank; this wallet pays only certified merchants".into(),
        ));
    }
    let bank = MerchantBank {
        bank_id: m.keys.set.bank_id.clone(),
        url: url.to_owned(),
        master_key: m.certificate.master_public_key,
    };
    Ok((bank, m.keys))
}

impl Pay {
    pub(crate) fn new(s: &State, offer: Offer) -> Result<Self, WalletError> {
        let other = at_other_bank(s, &offer);
        if other {
            s.check_papers()?;
            other_bank_url(s, &offer)?;
        } else {
            check_certified_offer(s, &offer)?;
        }
        if let Some(op) = s.ops.values().find(|o| {
            matches!(&o.kind, OpKind::Pay { payreq: p, .. } if p.payreq_id == offer.payreq.payreq_id)
        }) {
            return Err(WalletError::Interrupted {
                op: op.id.clone(),
                source: Box::new(WalletError::Payreq(
                    "a payment for this request is already under way".into(),
                )),
            });
        }
        let amount = offer.payreq.amount.value;
        Ok(Self {
            offer: Some(offer),
            bank: None,
            coins_at: None,
            phase: if other {
                PayPhase::Bank(None)
            } else {
                PayPhase::Coins(Box::new(ExactCoins::new(amount)))
            },
        })
    }

    /// The merchant's bank's key set checked ([`check_other_bank`]).
    fn other_bank(
        &mut self,
        s: &State,
        answer: ecash_core::certificate::KeysAnswer,
    ) -> Result<(), WalletError> {
        let offer = self
            .offer
            .as_ref()
            .ok_or_else(|| WalletError::Crypto("payment prepared twice".into()))?;
        let url = other_bank_url(s, offer)?;
        let (bank, keys) = check_other_bank(s, offer, &url, &answer)?;
        self.bank = Some((bank, Box::new(keys)));
        Ok(())
    }

    /// Whose coins pay a merchant of another bank: that bank's own, if the
    /// wallet holds enough of them (no clearing); else the wallet's own
    /// bank's, if the merchant takes them (its bank clears them); else that
    /// bank's, after exchanging the shortfall into them at that bank.
    fn choose_coins(&mut self, s: &State) -> Result<PayPhase, WalletError> {
        let (bank, _) = self.bank.as_ref().ok_or_else(super::journal::out_of_turn)?;
        let offer = self
            .offer
            .as_ref()
            .ok_or_else(super::journal::out_of_turn)?;
        let amount = offer.payreq.amount.value;
        // A bank id the wallet knows must be that very bank: its coins go
        // where the wallet keeps it, never where a payreq points.
        if let Some(known) = s.others.get(&bank.bank_id) {
            let kept = known.record.bank();
            if kept.master_key != bank.master_key || kept.url != bank.url {
                return Err(WalletError::Payreq(format!(
                    "the merchant's bank {} is not the bank of that id this wallet knows (at {})",
                    bank.bank_id, kept.url
                )));
            }
        }
        let held: u64 = if s.others.contains_key(&bank.bank_id) {
            s.candidates_at(Some(&bank.bank_id))
                .iter()
                .map(|c| c.value)
                .sum()
        } else {
            0
        };
        if held >= amount {
            self.coins_at = Some(bank.clone());
            return Ok(PayPhase::Coins(Box::new(ExactCoins::at(
                amount,
                Some(bank.clone()),
            ))));
        }
        if offer.payreq.accepts(&s.keys.set.bank_id) {
            return Ok(PayPhase::Coins(Box::new(ExactCoins::new(amount))));
        }
        self.coins_at = Some(bank.clone());
        Ok(PayPhase::Known(Box::new(FetchMint::new(s, &bank.url)?)))
    }

    fn journal(&mut self, s: &State, serials: Vec<B32>) -> Result<Next<PaymentDone>, WalletError> {
        let Offer { payreq, origin } = self
            .offer
            .take()
            .ok_or_else(|| WalletError::Crypto("payment prepared twice".into()))?;
        let coins: Vec<Coin> = serials
            .iter()
            .filter_map(|c| s.coins.get(c).map(|r| r.coin.clone()))
            .collect();
        let payer_code = platform::random::<32>()?.to_vec();
        let coins_bank = self
            .coins_at
            .as_ref()
            .map_or(&s.keys.set.bank_id, |b| &b.bank_id);
        let info = payment::info_for(
            &payreq,
            coins_bank,
            coins.len() as u32,
            s.now(),
            &payer_code,
        );
        // To the bank that opens it: the merchant's.
        let key = self
            .bank
            .as_ref()
            .map_or(&s.keys.encryption_key, |(_, k)| &k.encryption_key);
        let sealed = payment::seal(key, info, coins)
            .map_err(|e| WalletError::Crypto(format!("sealing the coins: {e}")))?;
        let op = s.operation(OpKind::Pay {
            payreq,
            origin,
            payment: sealed,
            payer_code: Bytes(payer_code),
            serials,
            merchant_bank: self.bank.as_ref().map(|(b, _)| b.clone()),
        })?;
        let mut b = Batch::default();
        s.reserve_coins(&mut b, &op)?;
        b.put_op(op.clone())?;
        self.phase = PayPhase::Journal(Box::new(op));
        Ok(Next::Io(Io::Commit(b)))
    }
}

impl Machine for Pay {
    type Output = PaymentDone;

    fn resume(&mut self, s: &State, mut input: Input) -> Result<Next<PaymentDone>, WalletError> {
        loop {
            match std::mem::replace(&mut self.phase, PayPhase::Finished) {
                PayPhase::Bank(None) => {
                    let offer = self
                        .offer
                        .as_ref()
                        .ok_or_else(|| WalletError::Crypto("payment prepared twice".into()))?;
                    let url = other_bank_url(s, offer)?;
                    let (call, io) = Await::<api::Keys>::at_base(&url, &(), &())?;
                    self.phase = PayPhase::Bank(Some(call));
                    return Ok(Next::Io(io));
                }
                PayPhase::Bank(Some(call)) => {
                    self.other_bank(s, call.receive(input)?)?;
                    self.phase = self.choose_coins(s)?;
                    input = Input::Start;
                }
                PayPhase::Known(mut k) => match k.resume(s, input)? {
                    Next::Io(io) => {
                        self.phase = PayPhase::Known(k);
                        return Ok(Next::Io(io));
                    }
                    Next::Done(m) => {
                        let amount = self.offer.as_ref().map_or(0, |o| o.payreq.amount.value);
                        let held: u64 = s
                            .candidates_at(Some(&m.keys.set.bank_id))
                            .iter()
                            .map(|c| c.value)
                            .sum();
                        if Some(&m.keys.set.bank_id) != self.coins_at.as_ref().map(|b| &b.bank_id) {
                            return Err(WalletError::Tampered(
                                "the merchant's bank answered as another bank".into(),
                            ));
                        }
                        let x =
                            ExchangeInto::new(s, &m.keys.set.bank_id, amount.saturating_sub(held))?;
                        self.phase = PayPhase::Into(Box::new(x));
                        input = Input::Start;
                    }
                },
                PayPhase::Into(mut x) => match x.resume(s, input)? {
                    Next::Io(io) => {
                        self.phase = PayPhase::Into(x);
                        return Ok(Next::Io(io));
                    }
                    Next::Done(()) => {
                        let amount = self.offer.as_ref().map_or(0, |o| o.payreq.amount.value);
                        self.phase = PayPhase::Coins(Box::new(ExactCoins::at(
                            amount,
                            self.coins_at.clone(),
                        )));
                        input = Input::Start;
                    }
                },
                PayPhase::Coins(mut c) => match c.resume(s, input)? {
                    Next::Io(io) => {
                        self.phase = PayPhase::Coins(c);
                        return Ok(Next::Io(io));
                    }
                    Next::Done(serials) => return self.journal(s, serials),
                },
                PayPhase::Journal(op) => {
                    input.committed()?;
                    self.phase = PayPhase::Drive(Box::new(Drive::new(*op, None)));
                    input = Input::Start;
                }
                PayPhase::Drive(mut d) => match d.resume(s, input)? {
                    Next::Io(io) => {
                        self.phase = PayPhase::Drive(d);
                        return Ok(Next::Io(io));
                    }
                    Next::Done(Some(entry)) => return Ok(Next::Done(PaymentDone { entry })),
                    Next::Done(None) => {
                        return Err(WalletError::BadAnswer {
                            url: String::new(),
                            reason: "payment finished without a record".into(),
                        });
                    }
                },
                PayPhase::Finished => {
                    return Err(WalletError::Crypto("payment resumed after its end".into()));
                }
            }
        }
    }
}

/// Takes `amount` out of the wallet as a transfer token for another wallet.
pub(crate) struct Send {
    coins: ExactCoins,
    token: Option<String>,
}

impl Send {
    pub(crate) fn new(amount: u64) -> Self {
        Self {
            coins: ExactCoins::new(amount),
            token: None,
        }
    }
}

impl Machine for Send {
    type Output = String;

    fn resume(&mut self, s: &State, input: Input) -> Result<Next<String>, WalletError> {
        if let Some(token) = self.token.take() {
            input.committed()?;
            return Ok(Next::Done(token));
        }
        let serials = match self.coins.resume(s, input)? {
            Next::Io(io) => return Ok(Next::Io(io)),
            Next::Done(serials) => serials,
        };
        let coins: Vec<Coin> = serials
            .iter()
            .filter_map(|c| s.coins.get(c).map(|r| r.coin.clone()))
            .collect();
        let amount = coins
            .iter()
            .filter_map(|c| s.coins.get(&c.serial).map(|r| r.value))
            .sum();
        let token = token::encode(&TokenBody {
            bank_url: s.meta.bank_url.clone(),
            bank_id: s.keys.set.bank_id.clone(),
            coins,
        })?;
        let mut b = Batch::default();
        for c in &serials {
            b.del_coin(*c);
        }
        b.history(
            s.now(),
            amount,
            Event::Sent {
                token: token.clone(),
            },
        )?;
        self.token = Some(token);
        Ok(Next::Io(Io::Commit(b)))
    }
}

/// Asks the bank for a signed proof of a payment, revealing its payer code,
/// and keeps it with the payment's history line.
pub(crate) struct Prove {
    entry: HistoryEntry,
    payment_id: B32,
    payer_code: Bytes,
    bank: Option<MerchantBank>,
    call: Option<Await<api::Proof>>,
    proof: Option<Signed<PaymentProof>>,
}

impl Prove {
    pub(crate) fn new(s: &State, payment_id: &B32) -> Result<Self, WalletError> {
        let entry = s
            .history
            .values()
            .find(|e| matches!(&e.event, Event::Paid { payment_id: p, .. } if p == payment_id))
            .cloned()
            .ok_or_else(|| WalletError::Input("no payment with this id in the history".into()))?;
        let Event::Paid {
            payer_code,
            merchant_bank,
            ..
        } = &entry.event
        else {
            return Err(WalletError::Input("not a payment".into()));
        };
        Ok(Self {
            payer_code: payer_code.clone(),
            bank: merchant_bank.clone(),
            entry,
            payment_id: *payment_id,
            call: None,
            proof: None,
        })
    }
}

impl Machine for Prove {
    type Output = Signed<PaymentProof>;

    fn resume(&mut self, s: &State, input: Input) -> Result<Next<Self::Output>, WalletError> {
        if let Some(proof) = self.proof.take() {
            input.committed()?;
            return Ok(Next::Done(proof));
        }
        let Some(call) = self.call.take() else {
            let (call, io) = ask_proof(s, self.bank.as_ref(), &self.payment_id, &self.payer_code)?;
            self.call = Some(call);
            return Ok(Next::Io(io));
        };
        let proof = check_proof(
            s,
            self.bank.as_ref(),
            &self.payment_id,
            &self.payer_code,
            call.receive(input)?,
        )?;
        let mut entry = self.entry.clone();
        if let Event::Paid { proof: p, .. } = &mut entry.event {
            *p = Some(proof.clone());
        }
        let mut b = Batch::default();
        b.put_history(entry)?;
        self.proof = Some(proof);
        Ok(Next::Io(Io::Commit(b)))
    }
}

impl<S: Store, T: Transport> Wallet<S, T> {
    /// Pays a payment request: exact coins, sealed to the bank, posted to the
    /// shop; returns the history line with the verified receipt.
    pub async fn pay(&mut self, offer: Offer) -> Result<PaymentDone, WalletError> {
        let m = Pay::new(&self.state, offer)?;
        self.run(m, None).await
    }

    /// Takes `amount` out of the wallet as a transfer token for another wallet.
    pub async fn send(&mut self, amount: u64) -> Result<String, WalletError> {
        self.run(Send::new(amount), None).await
    }

    /// Asks the bank for a signed proof of a payment, revealing its payer code.
    pub async fn prove_payment(
        &mut self,
        payment_id: &B32,
    ) -> Result<Signed<PaymentProof>, WalletError> {
        let m = Prove::new(&self.state, payment_id)?;
        self.run(m, None).await
    }

    /// Fetches a payment request from a shop URL (https, or http on this machine).
    pub async fn fetch_payreq(&self, url: &str) -> Result<Offer, WalletError> {
        let u = links::web_url(url)
            .map_err(|e| WalletError::Payreq(format!("the payment request's address: {e}")))?;
        let origin = u.origin().ascii_serialization();
        let call = Single::<api::PayreqApi>::at_url(u.as_str(), &())?;
        let payreq = self.run_stateless(call).await?;
        Ok(Offer { payreq, origin })
    }

    /// Checks a payment request against this wallet's bank, the clock, and
    /// the link rule: its pay and fulfillment URLs must lie on the origin it
    /// came from.
    /// A request of a merchant at another bank passes only the checks
    /// possible without that bank's keys here; [`Wallet::verify_payreq`]
    /// makes them all.
    pub fn check_payreq(&self, offer: &Offer) -> Result<(), WalletError> {
        if at_other_bank(&self.state, offer) {
            self.state.check_papers()?;
            return other_bank_url(&self.state, offer).map(|_| ());
        }
        check_certified_offer(&self.state, offer)
    }

    /// [`Wallet::check_payreq`], and for a merchant at another bank the
    /// rest too: that bank's key set fetched from the address the request
    /// names and checked against the pinned certifier, the merchant's
    /// certificate by it. What a payer is shown before paying.
    pub async fn verify_payreq(&self, offer: &Offer) -> Result<(), WalletError> {
        if !at_other_bank(&self.state, offer) {
            return check_certified_offer(&self.state, offer);
        }
        self.state.check_papers()?;
        let url = other_bank_url(&self.state, offer)?;
        let keys_url = ecash_core::client::join(&url, &<api::Keys as api::Endpoint>::path(&()));
        let call = Single::<api::Keys>::at_url(&keys_url, &())?;
        let answer = self.run_stateless(call).await?;
        check_other_bank(&self.state, offer, &url, &answer).map(|_| ())
    }

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
