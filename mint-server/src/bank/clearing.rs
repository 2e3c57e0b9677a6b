//! Clearing between mints (NetCash), the bank's side: a merchant's payment
//! in another certified mint's coins is opened and checked here with that
//! mint's certified key set, journaled, and deposited there as this mint;
//! only that mint's signed ack lets the merchant be credited. As the other
//! side: certified mints open accounts here, and settle them.
//!
//! The network calls are the HTTP layer's (`crate::clearing`); everything
//! here is synchronous, like the rest of the bank.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, RwLock};

use ecash_core::canonical::Canonical;
use ecash_core::certificate::{MintCertificate, check_standing};
use ecash_core::clearing::{
    PeerRegistration, SettlementRequest, SettlementStatement, clearing_payreq_id,
};
use ecash_core::messages::{
    AccountCreated, BlindSignatures, Deposit, DepositAck, ExchangeRequest, PaymentInfo, account_id,
    description_hash,
};
use ecash_core::{Amount, B32, Fixed, PublicKey, Signed, VerifiedKeySet, payment};

use super::metrics::Metrics;
use super::withdraw::blind_signatures_answer;
use super::{Bank, BankError, BankResult, QUERY_MAX_SKEW_SECS, parse_stored, replayed, to_json};
use crate::storage::clearing::{
    ClearingBooks, ClearingRecord, ClearingTotals, NewClearing, NewSettlement, Purpose,
    SettlementRecord, Side,
};
use crate::storage::{NewExchange, StorageError};

/// Another certified mint this one clears with, as last checked.
#[derive(Debug, Clone)]
pub struct PeerMint {
    /// Its base URL (its certificate's address).
    pub url: String,
    /// Its certificate, checked against the pinned certifier.
    pub certificate: MintCertificate,
    /// Its key set, verified under the certified master key.
    pub keys: VerifiedKeySet,
}

impl PeerMint {
    /// Its bank id.
    pub fn bank_id(&self) -> &str {
        &self.keys.set.bank_id
    }

    /// Its master key.
    pub fn master(&self) -> &PublicKey {
        &self.certificate.master_public_key
    }
}

/// The mints this one clears with, by bank id.
#[derive(Default)]
pub struct Peers(RwLock<HashMap<String, Arc<PeerMint>>>);

impl Peers {
    /// The mint with this bank id, if it is a peer.
    pub fn get(&self, bank_id: &str) -> Option<Arc<PeerMint>> {
        let map = self.0.read().unwrap_or_else(|p| p.into_inner());
        map.get(bank_id).cloned()
    }

    /// Every peer.
    pub fn all(&self) -> Vec<Arc<PeerMint>> {
        let map = self.0.read().unwrap_or_else(|p| p.into_inner());
        map.values().cloned().collect()
    }

    /// Installs (or replaces) a peer as checked just now.
    pub fn install(&self, peer: PeerMint) {
        let mut map = self.0.write().unwrap_or_else(|p| p.into_inner());
        map.insert(peer.bank_id().to_owned(), Arc::new(peer));
    }
}

/// What an exchange needs next.
pub enum ExchangeStep {
    /// Answered (now or before).
    Done(BlindSignatures),
    /// Coins of another mint, journaled: deposit them there next.
    Clear(ClearingRecord),
}

/// A journaled clearing finished: the answer of its payment or exchange.
pub enum Finished {
    /// A payment's: the merchant's ack.
    Deposit(Signed<DepositAck>),
    /// An exchange's: the new blind signatures.
    Exchange(BlindSignatures),
}

/// What a deposit needs next.
pub enum DepositStep {
    /// Booked (now or before): the ack.
    Done(Signed<DepositAck>),
    /// Coins of another mint, journaled: deposit them there next.
    Clear(ClearingRecord),
}

impl Bank {
    fn clearing_books(&self) -> BankResult<&Arc<dyn ClearingBooks>> {
        self.clearing
            .as_ref()
            .ok_or(BankError::NoClearing("its books do not keep clearing"))
    }

    /// The mints this one clears with.
    pub fn peers(&self) -> &Peers {
        &self.peers
    }

    /// This mint's account id at other mints (from its master key).
    pub fn peer_account_id(&self) -> String {
        account_id(&self.keys.master.public())
    }

    /// `POST /deposit`, whatever mint issued the coins: this mint's are
    /// booked at once; another certified mint's are checked with its key
    /// set and journaled, to be deposited there
    /// ([`Bank::finish_clearing`] once it acks).
    pub fn deposit_step(&self, req: &Signed<Deposit>) -> BankResult<DepositStep> {
        let info = &req.body.payment.payment_info;
        if info.bank_id == self.settings.bank_id || self.clearing.is_none() {
            return self.deposit(req).map(DepositStep::Done);
        }
        let payment_id = self.check_depositor(req)?;
        if let Some(r) = self.storage.deposit(&payment_id)? {
            return Ok(DepositStep::Done(parse_stored(&r.ack_json)?));
        }
        let books = self.clearing_books()?;
        if let Some(r) = books.clearing(&payment_id)? {
            // An exchange's request id cannot stand for a payment.
            return match r.exchange {
                None => Ok(DepositStep::Clear(r)),
                Some(_) => Err(BankError::RequestIdReused),
            };
        }
        let peer = self.peers.get(&info.bank_id).ok_or(BankError::OtherBank)?;
        self.check_amount(&info.amount)?;
        self.check_count(info.ncoins as usize, "coins")?;
        let coins = payment::open(&req.body.payment, self.keys.envelope_len(), |wrapped| {
            Metrics::count(&self.metrics.envelope_unwraps);
            self.keys.envelope.unwrap_key(wrapped)
        })?;
        let now = self.clock.now();
        if self.peer_coins_total(&peer, &coins, now)? != info.amount.value {
            return Err(BankError::AmountMismatch(
                "coins do not add up to the payment amount",
            ));
        }
        let forward = self.forward_deposit(
            &peer,
            (&info.amount, info.ncoins, info.payer_code_hash),
            &payment_id,
            coins,
            now,
        )?;
        let ack = Signed::sign(
            DepositAck {
                result: "accepted".into(),
                payment_id,
                amount: info.amount.clone(),
                merchant_acc_id: req.body.merchant_acc_id.clone(),
                bank_id: self.settings.bank_id.clone(),
                deposited_at: now,
            },
            &self.keys.master,
        );
        let record = books.begin_clearing(&NewClearing {
            payment_id,
            peer_bank_id: peer.bank_id().to_owned(),
            purpose: Purpose::Deposit {
                merchant_acc_id: req.body.merchant_acc_id.clone(),
                payer_code_hash: info.payer_code_hash,
            },
            amount: info.amount.value,
            payment_info_json: to_json(info)?,
            ack_json: to_json(&ack)?,
            forward_json: to_json(&forward)?,
            now,
        })?;
        Ok(DepositStep::Clear(record))
    }

    /// Checks another mint's coins with its certified keys (known key in
    /// its deposit window, valid signature, no serial twice): their total.
    /// Whether they are spent is that mint's to say.
    fn peer_coins_total(
        &self,
        peer: &PeerMint,
        coins: &[ecash_core::Coin],
        now: u64,
    ) -> BankResult<u64> {
        let mut seen = HashSet::new();
        if let Some(c) = coins.iter().find(|c| !seen.insert(c.serial)) {
            return Err(BankError::DuplicateCoin(c.key_id));
        }
        let check = |coin: &ecash_core::Coin| -> BankResult<u64> {
            let k = peer
                .keys
                .key(&coin.key_id)
                .ok_or(BankError::UnknownKey(coin.key_id))?;
            if !k.info.can_deposit(now) {
                return Err(BankError::KeyExpired {
                    key: coin.key_id,
                    why: "is not in its deposit window",
                });
            }
            Metrics::count(&self.metrics.coin_checks);
            coin.verify(&k.key).map_err(|_| BankError::InvalidCoin)?;
            Ok(k.info.value.value)
        };
        use rayon::prelude::*;
        let values: Vec<u64> = self
            .signing_pool
            .install(|| coins.par_iter().map(check).collect::<BankResult<_>>())?;
        values
            .into_iter()
            .try_fold(0u64, |a, v| a.checked_add(v))
            .ok_or(BankError::Overflow)
    }

    /// The deposit this mint makes at `peer` for a merchant's payment: the
    /// coins sealed to the peer's envelope key, into this mint's account
    /// there, signed by this mint's master key (that account's key).
    fn forward_deposit(
        &self,
        peer: &PeerMint,
        (amount, ncoins, payer_code_hash): (&Amount, u32, B32),
        payment_id: &B32,
        coins: Vec<ecash_core::Coin>,
        now: u64,
    ) -> BankResult<Signed<Deposit>> {
        let account = self.peer_account_id();
        let forward = PaymentInfo {
            bank_id: peer.bank_id().to_owned(),
            amount: amount.clone(),
            ncoins,
            timestamp: now,
            merchant_bank_id: peer.bank_id().to_owned(),
            merchant_acc_id: account.clone(),
            payreq_id: clearing_payreq_id(payment_id),
            description_hash: description_hash(&clearing_payreq_id(payment_id)),
            payer_code_hash,
            goods_key_hash: None,
        };
        let sealed = payment::seal(&peer.keys.encryption_key, forward, coins)
            .map_err(|_| BankError::Internal("could not seal the coins to their mint"))?;
        Ok(Signed::sign(
            Deposit {
                merchant_acc_id: account,
                payment: sealed,
            },
            &self.keys.master,
        ))
    }

    /// `POST /exchange`, whatever mint issued the coins: this mint's are
    /// exchanged at once; another certified mint's (the anonymous exchange
    /// of NetCash: no account, no identity) are checked with its key set,
    /// the new coins' keys and ranges too, and journaled, to be deposited
    /// there first ([`Bank::finish_clearing`] signs the new coins).
    pub fn exchange_step(&self, req: &ExchangeRequest) -> BankResult<ExchangeStep> {
        let state = self.keys.current();
        let foreign = req.coins.first().filter(|c| {
            !state.active.contains_key(&c.key_id) && !state.expired.contains_key(&c.key_id)
        });
        let peer = foreign.and_then(|c| {
            self.peers
                .all()
                .into_iter()
                .find(|p| p.keys.key(&c.key_id).is_some())
        });
        let (Some(peer), Some(books)) = (peer, self.clearing.as_ref()) else {
            return self.exchange(req).map(ExchangeStep::Done);
        };
        self.check_count(req.coins.len(), "coins")?;
        self.check_count(req.outputs.len(), "outputs")?;
        let request_hash = Fixed(req.canonical_hash());
        if let Some(a) = self.storage.exchange(&req.request_id)? {
            return replayed(a, &request_hash).map(ExchangeStep::Done);
        }
        let same_request = |r: ClearingRecord| match &r.exchange {
            Some((h, _)) if *h == request_hash => Ok(ExchangeStep::Clear(r)),
            _ => Err(BankError::RequestIdReused),
        };
        if let Some(r) = books.clearing(&req.request_id)? {
            return same_request(r);
        }
        let now = self.clock.now();
        let keys = Self::signable(&state, &req.outputs, now)?;
        let total_out = Self::blinded_total(&keys)?;
        let total_in = self.peer_coins_total(&peer, &req.coins, now)?;
        if total_in != total_out {
            return Err(BankError::AmountMismatch(
                "outputs must add up to exactly the coins given",
            ));
        }
        let amount = Amount::new(self.settings.currency.clone(), total_in);
        let ncoins = u32::try_from(req.coins.len()).map_err(|_| BankError::Overflow)?;
        // Nobody proves an exchange's deposit: a hash no one knows a preimage of.
        let forward = self.forward_deposit(
            &peer,
            (&amount, ncoins, B32::default()),
            &req.request_id,
            req.coins.clone(),
            now,
        )?;
        let record = books.begin_clearing(&NewClearing {
            payment_id: req.request_id,
            peer_bank_id: peer.bank_id().to_owned(),
            purpose: Purpose::Exchange { request_hash },
            amount: total_in,
            payment_info_json: to_json(req)?,
            ack_json: String::new(),
            forward_json: to_json(&forward)?,
            now,
        })?;
        // Another request under the same id may have been journaled first.
        same_request(record)
    }

    /// With the issuing mint's ack of a journaled clearing: checks the ack
    /// with that mint's certified master key, then, once, credits the
    /// merchant (a payment) or signs the new coins (an exchange), and books
    /// the claim. The answer the payment or exchange gets.
    pub fn finish_clearing(
        &self,
        rec: &ClearingRecord,
        peer_ack: &Signed<DepositAck>,
    ) -> BankResult<Finished> {
        let books = self.clearing_books()?;
        let peer = self
            .peers
            .get(&rec.peer_bank_id)
            .ok_or_else(|| BankError::PeerUnavailable(rec.peer_bank_id.clone()))?;
        let forward: Signed<Deposit> = parse_stored(&rec.forward_json)?;
        let a = &peer_ack.body;
        let true_ack = peer_ack.verify(peer.master()).is_ok()
            && a.result == "accepted"
            && a.payment_id == forward.body.payment.payment_id()
            && a.amount == forward.body.payment.payment_info.amount
            && a.merchant_acc_id == forward.body.merchant_acc_id
            && a.bank_id == rec.peer_bank_id;
        if !true_ack {
            tracing::error!(peer = %rec.peer_bank_id, "a peer's deposit ack does not check out");
            return Err(BankError::PeerUnavailable(rec.peer_bank_id.clone()));
        }
        let ack_json = to_json(peer_ack)?;
        if let Some((request_hash, request_json)) = &rec.exchange {
            return self
                .finish_exchange(books, request_hash, request_json, &ack_json)
                .map(Finished::Exchange);
        }
        let record = books.finish_clearing(&rec.payment_id, &ack_json, self.clock.now())?;
        parse_stored(&record.ack_json).map(Finished::Deposit)
    }

    /// Signs a journaled exchange's new coins and books them with the claim.
    fn finish_exchange(
        &self,
        books: &Arc<dyn ClearingBooks>,
        request_hash: &B32,
        request_json: &str,
        ack_json: &str,
    ) -> BankResult<BlindSignatures> {
        let req: ExchangeRequest = parse_stored(request_json)?;
        if let Some(a) = self.storage.exchange(&req.request_id)? {
            return replayed(a, request_hash);
        }
        let now = self.clock.now();
        let state = self.keys.current();
        let keys = Self::signable(&state, &req.outputs, now)?;
        let _request = self
            .busy_requests
            .take(&[req.request_id])
            .ok_or(BankError::InProgress("this request id"))?;
        let signatures = self.sign_all(&req.outputs, keys)?;
        let response = blind_signatures_answer(req.request_id, &signatures);
        let stored = books.finish_exchange_clearing(
            &req.request_id,
            ack_json,
            &NewExchange {
                request_id: req.request_id,
                request_hash: *request_hash,
                spent: Vec::new(),
                signatures,
                response_json: to_json(&response)?,
                now,
            },
        )?;
        parse_stored(&stored.response_json)
    }

    /// The issuing mint refused a journaled clearing for good: it is
    /// dropped, and the merchant gets that refusal.
    pub fn refuse_clearing(&self, rec: &ClearingRecord) -> BankResult<()> {
        Ok(self.clearing_books()?.drop_clearing(&rec.payment_id)?)
    }

    /// Every clearing begun and not finished (for the retry loop).
    pub fn pending_clearings(&self) -> BankResult<Vec<ClearingRecord>> {
        Ok(self.clearing_books()?.pending_clearings()?)
    }

    /// This mint's request to open its account at other mints, with its
    /// certificate; `None` while it holds no papers.
    pub fn peer_registration(&self) -> Option<Signed<PeerRegistration>> {
        let papers = self.certified.papers()?;
        Some(Signed::sign(
            PeerRegistration {
                certificate: papers.certificate,
                timestamp: self.clock.now(),
            },
            &self.keys.master,
        ))
    }

    /// Checks a mint's certificate against the pinned certifier and the
    /// newest revocation list this mint holds.
    fn check_peer_certificate(&self, cert: &Signed<MintCertificate>) -> BankResult<()> {
        let certifier = self
            .settings
            .certifier_key
            .as_ref()
            .ok_or(BankError::NoClearing("it pins no certifier"))?;
        cert.verify(certifier).map_err(|_| {
            BankError::PeerNotCertified("not signed by this mint's certifier".into())
        })?;
        if cert.body.currency != self.settings.currency {
            return Err(BankError::PeerNotCertified(
                "certified for another currency".into(),
            ));
        }
        let lists = self.certified.papers().map(|p| p.revocations);
        check_standing(&cert.body, lists.iter(), self.clock.now())
            .map_err(|e| BankError::PeerNotCertified(e.to_string()))
    }

    /// `POST /peers`: opens (or finds) a certified mint's clearing account.
    pub fn register_peer(&self, req: &Signed<PeerRegistration>) -> BankResult<AccountCreated> {
        let books = self.clearing_books()?;
        let cert = &req.body.certificate;
        self.check_peer_certificate(cert)?;
        let master = cert.body.master_public_key;
        req.verify(&master).map_err(|_| {
            BankError::BadSignature("not signed by the master key the certificate names")
        })?;
        let now = self.clock.now();
        if now.abs_diff(req.body.timestamp) > QUERY_MAX_SKEW_SECS {
            return Err(BankError::StaleQuery);
        }
        if master == self.keys.master.public() {
            return Err(BankError::PeerNotCertified("that is this mint".into()));
        }
        let id = account_id(&master);
        let label = format!("mint {}", cert.body.cs_name);
        let label: String = label.chars().take(super::MAX_LABEL_LEN).collect();
        match self.storage.create_account(&id, &master.0.0, &label, now) {
            Ok(()) | Err(StorageError::AccountExists) => {}
            Err(e) => return Err(e.into()),
        }
        books.mark_peer(&id, &cert.body.cs_name, now)?;
        Ok(AccountCreated { account_id: id })
    }

    /// `POST /settlements`, as the mint that owes: the amount leaves the
    /// asking mint's account here, under a statement both keep.
    pub fn settle(
        &self,
        req: &Signed<SettlementRequest>,
    ) -> BankResult<Signed<SettlementStatement>> {
        let books = self.clearing_books()?;
        let body = &req.body;
        let key = self.account_key(&body.account_id)?;
        req.verify(&key)
            .map_err(|_| BankError::BadSignature("settlement request signature does not verify"))?;
        if body.payer_bank_id != self.settings.bank_id {
            return Err(BankError::OtherBank);
        }
        self.check_amount(&body.amount)?;
        if body.amount.value == 0 {
            return Err(BankError::Empty("settlement amount"));
        }
        let now = self.clock.now();
        if now.abs_diff(body.timestamp) > QUERY_MAX_SKEW_SECS {
            return Err(BankError::StaleQuery);
        }
        let statement = Signed::sign(
            SettlementStatement {
                settlement_id: body.settlement_id,
                account_id: body.account_id.clone(),
                payer_bank_id: body.payer_bank_id.clone(),
                payee_bank_id: body.payee_bank_id.clone(),
                amount: body.amount.clone(),
                settled_at: now,
            },
            &self.keys.master,
        );
        let record = books.begin_settlement(&NewSettlement {
            settlement_id: body.settlement_id,
            side: Side::Payer,
            peer_bank_id: body.payee_bank_id.clone(),
            account_id: body.account_id.clone(),
            amount: body.amount.value,
            request_json: to_json(req)?,
            statement_json: Some(to_json(&statement)?),
            now,
        })?;
        let stored = record.statement_json.ok_or(BankError::Internal(
            "a settlement as payer has no statement",
        ))?;
        parse_stored(&stored)
    }

    /// As the mint owed: books a settlement of everything `peer_bank_id`
    /// owes and no settlement covers yet, to send; `None` if nothing is owed.
    pub fn begin_payee_settlement(
        &self,
        peer_bank_id: &str,
    ) -> BankResult<Option<SettlementRecord>> {
        let books = self.clearing_books()?;
        let owed = books
            .unsettled_claims()?
            .into_iter()
            .find(|(p, _)| p == peer_bank_id)
            .map_or(0, |(_, v)| v);
        if owed == 0 {
            return Ok(None);
        }
        let mut id = [0u8; 32];
        getrandom::fill(&mut id).map_err(|_| BankError::Internal("no randomness"))?;
        let now = self.clock.now();
        let req = Signed::sign(
            SettlementRequest {
                settlement_id: Fixed(id),
                account_id: self.peer_account_id(),
                payer_bank_id: peer_bank_id.to_owned(),
                payee_bank_id: self.settings.bank_id.clone(),
                amount: Amount::new(self.settings.currency.clone(), owed),
                timestamp: now,
            },
            &self.keys.master,
        );
        let record = books.begin_settlement(&NewSettlement {
            settlement_id: Fixed(id),
            side: Side::Payee,
            peer_bank_id: peer_bank_id.to_owned(),
            account_id: req.body.account_id.clone(),
            amount: owed,
            request_json: to_json(&req)?,
            statement_json: None,
            now,
        })?;
        Ok(Some(record))
    }

    /// Records the payer's statement of a payee settlement, after checking
    /// it with the payer's certified master key and against the request.
    pub fn finish_payee_settlement(
        &self,
        rec: &SettlementRecord,
        statement: &Signed<SettlementStatement>,
    ) -> BankResult<()> {
        let books = self.clearing_books()?;
        let peer = self
            .peers
            .get(&rec.peer_bank_id)
            .ok_or_else(|| BankError::PeerUnavailable(rec.peer_bank_id.clone()))?;
        let req: Signed<SettlementRequest> = parse_stored(&rec.request_json)?;
        if statement.verify(peer.master()).is_err() || !statement.body.answers(&req.body) {
            tracing::error!(peer = %rec.peer_bank_id, "a settlement statement does not check out");
            return Err(BankError::PeerUnavailable(rec.peer_bank_id.clone()));
        }
        Ok(books.finish_settlement(&rec.settlement_id, &to_json(statement)?, self.clock.now())?)
    }

    /// Payee settlements sent and not yet answered (for the retry loop).
    pub fn pending_settlements(&self) -> BankResult<Vec<SettlementRecord>> {
        Ok(self.clearing_books()?.pending_settlements()?)
    }

    /// Clearing's part of the totals; `None` on books that do not clear.
    pub fn clearing_totals(&self) -> BankResult<Option<ClearingTotals>> {
        match &self.clearing {
            Some(b) => Ok(Some(b.clearing_totals()?)),
            None => Ok(None),
        }
    }
}
