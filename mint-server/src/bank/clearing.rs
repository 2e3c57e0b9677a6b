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

/// A peer as last checked, and whether that check passed.
struct PeerEntry {
    peer: Arc<PeerMint>,
    /// Whether new clearings may start with it (its last check passed).
    usable: bool,
}

/// The mints this one clears with, by bank id.
#[derive(Default)]
pub struct Peers(RwLock<HashMap<String, PeerEntry>>);

impl Peers {
    /// The mint with this bank id, usable or not: what finishing a clearing
    /// begun with it needs (its coins are there already).
    pub fn get(&self, bank_id: &str) -> Option<Arc<PeerMint>> {
        let map = self.0.read().unwrap_or_else(|p| p.into_inner());
        map.get(bank_id).map(|e| e.peer.clone())
    }

    /// The mint with this bank id, if new clearings may start with it.
    pub fn usable(&self, bank_id: &str) -> Option<Arc<PeerMint>> {
        let map = self.0.read().unwrap_or_else(|p| p.into_inner());
        map.get(bank_id)
            .filter(|e| e.usable)
            .map(|e| e.peer.clone())
    }

    /// Every peer new clearings may start with.
    pub fn all(&self) -> Vec<Arc<PeerMint>> {
        let map = self.0.read().unwrap_or_else(|p| p.into_inner());
        map.values()
            .filter(|e| e.usable)
            .map(|e| e.peer.clone())
            .collect()
    }

    /// Installs (or replaces) a peer as checked just now. Refused: a bank
    /// id another peer holds under another master key, or a denomination
    /// key another peer lists (which would let one mint stand for another).
    pub fn install(&self, peer: PeerMint) -> Result<(), String> {
        let mut map = self.0.write().unwrap_or_else(|p| p.into_inner());
        for e in map.values() {
            let other = &e.peer;
            if other.url == peer.url {
                continue;
            }
            if other.bank_id() == peer.bank_id() {
                return Err(format!("the bank id {} is {}'s", peer.bank_id(), other.url));
            }
            if peer
                .keys
                .keys
                .keys()
                .any(|k| other.keys.keys.contains_key(k))
            {
                return Err(format!("it lists a denomination key of {}", other.url));
            }
        }
        // A bank id that moved to another address: the old entry goes.
        map.retain(|_, e| e.peer.url != peer.url);
        map.insert(
            peer.bank_id().to_owned(),
            PeerEntry {
                peer: Arc::new(peer),
                usable: true,
            },
        );
        Ok(())
    }

    /// No new clearing with the peer at `url` until a check passes again.
    pub fn suspend(&self, url: &str) {
        let mut map = self.0.write().unwrap_or_else(|p| p.into_inner());
        for e in map.values_mut().filter(|e| e.peer.url == url) {
            e.usable = false;
        }
    }
}

/// Most clearings with one peer begun and not finished: past it, new ones
/// wait (a peer that is down cannot make the journal grow without bound).
pub const MAX_PENDING_PER_PEER: u64 = 1024;

/// The journal id of an exchange: its request id under a domain of its own,
/// so no exchange can take a payment's id (which payers know).
pub fn exchange_journal_id(request_id: &B32) -> B32 {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(b"ecash clearing exchange v1\0");
    h.update(request_id.0);
    Fixed(h.finalize().into())
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
        let peer = self.usable_peer(&info.bank_id)?;
        self.check_amount(&info.amount)?;
        self.check_count(info.ncoins as usize, "coins")?;
        self.check_backlog(books, &peer)?;
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
        let forward =
            self.forward_deposit(&peer, (&info.amount, info.ncoins), &payment_id, coins, now)?;
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
        match record.exchange {
            None => Ok(DepositStep::Clear(record)),
            Some(_) => Err(BankError::RequestIdReused),
        }
    }

    /// A peer new clearings may start with: its last check passed, and its
    /// certificate stands now against the newest revocation list this mint
    /// holds (its own papers').
    fn usable_peer(&self, bank_id: &str) -> BankResult<Arc<PeerMint>> {
        let peer = self.peers.usable(bank_id).ok_or(BankError::OtherBank)?;
        let lists = self.certified.papers().map(|p| p.revocations);
        check_standing(&peer.certificate, lists.iter(), self.clock.now())
            .map_err(|e| BankError::PeerNotCertified(e.to_string()))?;
        Ok(peer)
    }

    /// Refuses (retry later) while too many clearings with `peer` wait.
    fn check_backlog(&self, books: &Arc<dyn ClearingBooks>, peer: &PeerMint) -> BankResult<()> {
        if books.pending_count(peer.bank_id())? >= MAX_PENDING_PER_PEER {
            return Err(BankError::PeerUnavailable(peer.bank_id().to_owned()));
        }
        Ok(())
    }

    /// Whether an exchange of this mint's own coins may take `request_id`:
    /// not while an exchange of another mint's coins is journaled under it.
    pub(crate) fn check_not_clearing(&self, request_id: &B32) -> BankResult<()> {
        if let Some(books) = &self.clearing
            && books.clearing(&exchange_journal_id(request_id))?.is_some()
        {
            return Err(BankError::RequestIdReused);
        }
        Ok(())
    }

    /// Checks another mint's coins with its certified keys (known key in
    /// its deposit window, not revoked, valid signature, no serial twice): their total.
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
            // Revoked by its mint (as of the set last checked): only a
            // recoup there takes it; the peer would refuse it anyway.
            if peer.keys.set.is_revoked(&coin.key_id) {
                return Err(BankError::KeyRevoked(coin.key_id));
            }
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
        (amount, ncoins): (&Amount, u32),
        payment_id: &B32,
        coins: Vec<ecash_core::Coin>,
        now: u64,
    ) -> BankResult<Signed<Deposit>> {
        let account = self.peer_account_id();
        // Nobody proves this deposit at the peer (the payer proves at this
        // mint): a fresh value, so the peer can link it to no payment and
        // tell no exchange from a payment.
        let mut fresh = [0u8; 32];
        getrandom::fill(&mut fresh).map_err(|_| BankError::Internal("no randomness"))?;
        let payer_code_hash = Fixed(fresh);
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
        let peer = self.usable_peer(peer.bank_id())?;
        let journal_id = exchange_journal_id(&req.request_id);
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
        if let Some(r) = books.clearing(&journal_id)? {
            return same_request(r);
        }
        self.check_backlog(books, &peer)?;
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
        let forward = self.forward_deposit(
            &peer,
            (&amount, ncoins),
            &journal_id,
            req.coins.clone(),
            now,
        )?;
        let _request = self
            .busy_requests
            .take(&[req.request_id])
            .ok_or(BankError::InProgress("this request id"))?;
        // An exchange of this mint's own coins under the same id, meanwhile.
        if let Some(a) = self.storage.exchange(&req.request_id)? {
            return replayed(a, &request_hash).map(ExchangeStep::Done);
        }
        let record = books.begin_clearing(&NewClearing {
            payment_id: journal_id,
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
                .finish_exchange(books, rec, request_hash, request_json, &ack_json)
                .map(Finished::Exchange);
        }
        let record = books.finish_clearing(&rec.payment_id, &ack_json, self.clock.now())?;
        parse_stored(&record.ack_json).map(Finished::Deposit)
    }

    /// Signs a journaled exchange's new coins and books them with the claim.
    fn finish_exchange(
        &self,
        books: &Arc<dyn ClearingBooks>,
        rec: &ClearingRecord,
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
        // With the keys that signed when it was journaled: the peer holds
        // its coins already, whatever rotated since.
        let keys = Self::signable_journaled(&state, &req.outputs, rec.began_at)?;
        let _request = self
            .busy_requests
            .take(&[req.request_id])
            .ok_or(BankError::InProgress("this request id"))?;
        let signatures = self.sign_all(&req.outputs, keys)?;
        let response = blind_signatures_answer(req.request_id, &signatures);
        let stored = books.finish_exchange_clearing(
            &rec.payment_id,
            ack_json,
            &NewExchange {
                request_id: req.request_id,
                request_hash: *request_hash,
                spent: Vec::new(),
                signatures,
                recouped: Vec::new(),
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
        // A replay is answered whatever its age: the payee may have waited
        // out a long outage for this very statement.
        if let Some(r) = books.settlement(&body.settlement_id)? {
            if r.request_json != to_json(req)? {
                return Err(BankError::RequestIdReused);
            }
            let stored = r.statement_json.ok_or(BankError::Internal(
                "a settlement as payer has no statement",
            ))?;
            return parse_stored(&stored);
        }
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
            // Who is paid is the account's holder, whatever the request calls it.
            peer_bank_id: body.account_id.clone(),
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

    /// The payer refused a payee settlement for good: dropped, its amount
    /// free to settle again.
    pub fn refuse_payee_settlement(&self, rec: &SettlementRecord) -> BankResult<()> {
        Ok(self.clearing_books()?.drop_settlement(&rec.settlement_id)?)
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
