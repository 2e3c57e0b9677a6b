//! Offline (CAFE) coins at the bank, `OFFLINE.md`: collateral and
//! allowance, the two-round withdrawal against an identity, and the batch
//! deposit of transcripts that names a double spender.
//!
//! Every check that needs no private key and no write comes first: the
//! account's signature, counts, the key and its window, the range of every
//! candidate, every transcript's arithmetic. A refused request changes
//! nothing, except a withdrawal whose openings do not match: that one is
//! closed and counts against the account's cap (a wallet must not get a
//! fresh choice of halves for free).

use std::sync::Arc;

use ecash_core::canonical::Canonical;
use ecash_core::keyset::RsaPublicKeyData;
use ecash_core::offline::messages::*;
use ecash_core::offline::{self, OfflineError};
use ecash_core::{Amount, B32, Bytes, Fixed, Signed};

use super::{Bank, BankError, BankResult, QUERY_MAX_SKEW_SECS, parse_stored, to_json};
use crate::keys::{DenomKey, KeyState};
use crate::storage::offline::{
    self as books, NewOfflineDeposit, NewOfflineWithdrawal, NewTranscript, OfflineBooks,
    WithdrawalState,
};

/// Which window of an offline key a request needs.
#[derive(Clone, Copy)]
enum Window {
    Withdraw,
    Deposit,
}

fn invalid(what: &'static str, index: usize, e: impl std::fmt::Display) -> BankError {
    BankError::OfflineInvalid {
        what,
        index,
        why: e.to_string(),
    }
}

impl Bank {
    /// The bank, issuing offline coins on `books` (the same database as its storage).
    pub fn with_offline(mut self, books: Arc<dyn OfflineBooks>) -> Self {
        self.offline = Some(books);
        self
    }

    fn offline_books(&self) -> BankResult<&Arc<dyn OfflineBooks>> {
        match &self.offline {
            Some(b) if self.keys.has_offline() => Ok(b),
            _ => Err(BankError::OfflineRefused(
                "this bank issues no offline coins (it runs without --offline-max-exp)".into(),
            )),
        }
    }

    /// The offline key `key_id`, in the window asked for and not revoked.
    /// An online key is not one: its coins are never offline coins.
    fn offline_key(
        &self,
        state: &KeyState,
        key_id: &B32,
        window: Window,
        now: u64,
    ) -> BankResult<Arc<DenomKey>> {
        let k = state
            .offline
            .get(key_id)
            .ok_or(BankError::UnknownKey(*key_id))?;
        if state.revocation(key_id).is_some() {
            return Err(BankError::KeyRevoked(*key_id));
        }
        let (open, why) = match window {
            Window::Withdraw => (k.info.can_withdraw(now), "is outside its withdraw window"),
            Window::Deposit => (k.info.can_deposit(now), "is past its deposit window"),
        };
        if !open {
            return Err(BankError::KeyExpired { key: *key_id, why });
        }
        Ok(k.clone())
    }

    /// Refuses `req` unless the key of account `account_id` signed it.
    fn signed_by<T: Canonical>(
        &self,
        req: &Signed<T>,
        account_id: &str,
        refusal: &'static str,
    ) -> BankResult<()> {
        let key = self.account_key(account_id)?;
        req.verify(&key)
            .map(|_| ())
            .map_err(|_| BankError::BadSignature(refusal))
    }

    fn check_fresh(&self, timestamp: u64) -> BankResult<u64> {
        let now = self.clock.now();
        if now.abs_diff(timestamp) > QUERY_MAX_SKEW_SECS {
            return Err(BankError::StaleQuery);
        }
        Ok(now)
    }

    fn standing_message(&self, account_id: &str, s: books::OfflineStanding) -> OfflineStanding {
        let amount = |v| Amount::new(self.settings.currency.clone(), v);
        let available = if s.frozen {
            0
        } else {
            s.collateral.saturating_sub(s.in_use)
        };
        OfflineStanding {
            account_id: account_id.to_owned(),
            collateral: amount(s.collateral),
            in_use: amount(s.in_use),
            available: amount(available),
            penalties: amount(s.penalties),
            frozen: s.frozen,
            next_counter: s.next_counter,
            next_identity: offline::identity(
                &self.keys.offline_identity_secret(),
                account_id,
                s.next_counter,
            ),
            unfinished: s.unfinished,
            unfinished_cap: UNFINISHED_CAP,
        }
    }

    fn period_now(&self, now: u64) -> u64 {
        now / self.keys.current().signed.body.period_secs.max(1)
    }

    /// `POST /offline/standing`: collateral, allowance and next counter.
    pub fn offline_standing(&self, req: &Signed<OfflineQuery>) -> BankResult<OfflineStanding> {
        let books = self.offline_books()?;
        let body = &req.body;
        self.signed_by(
            req,
            &body.account_id,
            "offline query signature does not verify",
        )?;
        let now = self.check_fresh(body.timestamp)?;
        let s = books.offline_standing(&body.account_id, now, self.period_now(now))?;
        Ok(self.standing_message(&body.account_id, s))
    }

    /// `POST /offline/collateral`: locks balance as collateral, or releases
    /// what no open offline coin needs.
    pub fn offline_collateral(
        &self,
        req: &Signed<CollateralRequest>,
    ) -> BankResult<OfflineStanding> {
        let books = self.offline_books()?;
        let body = &req.body;
        self.signed_by(
            req,
            &body.account_id,
            "collateral request signature does not verify",
        )?;
        self.check_amount(&body.amount)?;
        if body.amount.value == 0 {
            return Err(BankError::Empty("collateral amount"));
        }
        let v = i64::try_from(body.amount.value).map_err(|_| BankError::Overflow)?;
        let now = self.clock.now();
        let delta = if body.lock { v } else { -v };
        books.move_collateral(&body.account_id, &body.request_id, delta, now)?;
        let s = books.offline_standing(&body.account_id, now, self.period_now(now))?;
        Ok(self.standing_message(&body.account_id, s))
    }

    /// `POST /offline/withdraw`, round 1: checks the candidates, stores them
    /// with the account's next identity, and draws the half to open.
    pub fn offline_withdraw(
        &self,
        req: &Signed<OfflineWithdrawRequest>,
    ) -> BankResult<OfflineChallenge> {
        let books = self.offline_books()?;
        let body = &req.body;
        self.signed_by(
            req,
            &body.account_id,
            "offline withdraw signature does not verify",
        )?;
        let request_hash = body.idempotency_hash();
        let answer = |chosen_json: &str| -> BankResult<OfflineChallenge> {
            Ok(OfflineChallenge {
                request_id: body.request_id,
                open: parse_stored(chosen_json)?,
            })
        };
        if let Some(w) = books.offline_withdrawal(&body.request_id)? {
            if w.request_hash != request_hash {
                return Err(BankError::RequestIdReused);
            }
            return answer(&w.chosen_json);
        }
        let now = self.clock.now();
        let state = self.keys.current();
        let k = self.offline_key(&state, &body.key_id, Window::Withdraw, now)?;
        offline::check_blinded(&k.public, &body.candidates)
            .map_err(|e| invalid("candidate", candidate_index(&e), e))?;
        let chosen =
            offline::choose_openings().map_err(|_| BankError::Internal("no randomness"))?;
        let stored = books.begin_offline_withdrawal(&NewOfflineWithdrawal {
            request_id: body.request_id,
            request_hash,
            account_id: body.account_id.clone(),
            counter: body.counter,
            identity: offline::identity(
                &self.keys.offline_identity_secret(),
                &body.account_id,
                body.counter,
            ),
            key_id: body.key_id,
            value: k.info.value.value,
            withdraw_until: k.info.withdraw_until,
            deposit_until: k.info.deposit_until,
            period: self.period_now(now),
            candidates_json: to_json(&body.candidates)?,
            chosen_json: to_json(&chosen)?,
            unfinished_cap: UNFINISHED_CAP,
            now,
        })?;
        answer(&stored)
    }

    /// `POST /offline/withdraw/open`, round 2: checks the opened half against
    /// the account's identity, signs the product of the other half with one
    /// private-key operation, and debits the coin's value, once.
    pub fn offline_open(
        &self,
        req: &Signed<OfflineOpenRequest>,
    ) -> BankResult<OfflineBlindSignature> {
        let books = self.offline_books()?;
        let body = &req.body;
        self.signed_by(
            req,
            &body.account_id,
            "offline open signature does not verify",
        )?;
        let open_hash = body.idempotency_hash();
        let w = books.offline_withdrawal(&body.request_id)?.ok_or_else(|| {
            BankError::OfflineRefused(
                "no offline withdrawal was begun under this request id".into(),
            )
        })?;
        if w.account_id != body.account_id {
            return Err(BankError::OfflineRefused(
                "this offline withdrawal is another account's".into(),
            ));
        }
        match (w.state, &w.open_hash, &w.response_json) {
            (WithdrawalState::Signed, Some(h), Some(r)) if *h == open_hash => {
                return parse_stored(r);
            }
            (WithdrawalState::Signed, ..) => return Err(BankError::RequestIdReused),
            (WithdrawalState::Refused, ..) => {
                return Err(BankError::OfflineRefused(
                    "this offline withdrawal was refused: its openings did not match".into(),
                ));
            }
            (WithdrawalState::Chosen, ..) => {}
        }
        let now = self.clock.now();
        let state = self.keys.current();
        let k = match self.offline_key(&state, &w.key_id, Window::Withdraw, now) {
            Ok(k) => k,
            Err(e) => {
                books.refuse_offline_withdrawal(&body.request_id, now)?;
                return Err(e);
            }
        };
        let blinded: Vec<Bytes> = parse_stored(&w.candidates_json)?;
        let chosen: Vec<u16> = parse_stored(&w.chosen_json)?;
        if let Err(e) = offline::check_openings(
            &k.public,
            &w.key_id,
            &w.identity,
            &blinded,
            &chosen,
            &body.openings,
        ) {
            // Seen the half to open and failed it: closed, counted against the cap.
            books.refuse_offline_withdrawal(&body.request_id, now)?;
            return Err(invalid("opening", opening_index(&e, &chosen), e));
        }
        let balance = self
            .storage
            .account(&body.account_id)?
            .map(|a| a.balance)
            .unwrap_or(0);
        if balance < w.value {
            return Err(BankError::InsufficientFunds {
                balance,
                needed: w.value,
            });
        }
        let _request = self
            .busy_requests
            .take(&[body.request_id])
            .ok_or(BankError::InProgress("this request id"))?;
        let product = offline::blind_product(&k.public, &blinded, &chosen)
            .map_err(|_| BankError::Internal("the blind product"))?;
        let signature = offline::sign_product(&k.secret, &product)
            .map_err(|_| BankError::Internal("offline signing failed"))?;
        let response = OfflineBlindSignature {
            request_id: body.request_id,
            blind_signature: Bytes(signature),
        };
        let stored = books.finish_offline_withdrawal(
            &body.request_id,
            &open_hash,
            &to_json(&response)?,
            now,
        )?;
        parse_stored(&stored)
    }

    /// `POST /offline/deposit`: verifies every transcript (a bad one refuses
    /// the batch, and nothing changes), then books them at once: first
    /// deposits credited, second spends identified and paid from the
    /// double spender's collateral. The receipt is signed by the master key.
    pub fn offline_deposit(
        &self,
        req: &Signed<OfflineDepositRequest>,
    ) -> BankResult<Signed<OfflineDepositReceipt>> {
        let books = self.offline_books()?;
        let body = &req.body;
        if body.spends.is_empty() {
            return Err(BankError::Empty("spends"));
        }
        if body.spends.len() > MAX_BATCH {
            return Err(BankError::TooMany {
                n: body.spends.len(),
                what: "spends",
                max: MAX_BATCH,
            });
        }
        self.signed_by(
            req,
            &body.payee_id,
            "offline deposit signature does not verify",
        )?;
        // A retry gets its receipt again, even once the keys' windows have
        // closed: its spends were checked when the batch was first booked.
        let batch_hash = body.idempotency_hash();
        if let Some(stored) = books.offline_batch(&body.batch_id)? {
            if stored.batch_hash != batch_hash || stored.payee_id != body.payee_id {
                return Err(BankError::RequestIdReused);
            }
            let results = stored
                .results
                .into_iter()
                .map(|(coin_id, outcome)| OfflineResult { coin_id, outcome })
                .collect();
            return self.offline_receipt(body, results);
        }
        let now = self.clock.now();
        let state = self.keys.current();
        let mut transcripts = Vec::with_capacity(body.spends.len());
        for (i, spend) in body.spends.iter().enumerate() {
            let index = i + 1;
            if spend.request.payee_id != body.payee_id {
                return Err(invalid(
                    "transcript",
                    index,
                    "it is made out to another payee",
                ));
            }
            let k = self.offline_key(&state, &spend.key_id, Window::Deposit, now)?;
            let verified = spend
                .verify(&k.public)
                .map_err(|e| invalid("transcript", index, e))?;
            transcripts.push(NewTranscript {
                spend: verified,
                key_id: spend.key_id,
                value: k.info.value.value,
                spend_json: to_json(spend)?,
                request_hash: Fixed(spend.request.canonical_hash()),
            });
        }
        let outcomes = books.commit_offline_deposit(&NewOfflineDeposit {
            batch_id: body.batch_id,
            batch_hash,
            payee_id: body.payee_id.clone(),
            transcripts: transcripts.clone(),
            now,
        })?;
        let results: Vec<OfflineResult> = transcripts
            .iter()
            .zip(outcomes)
            .map(|(t, outcome)| OfflineResult {
                coin_id: t.spend.coin_id,
                outcome,
            })
            .collect();
        self.offline_receipt(body, results)
    }

    /// The signed receipt of a batch: its lines and what they credited.
    fn offline_receipt(
        &self,
        body: &OfflineDepositRequest,
        results: Vec<OfflineResult>,
    ) -> BankResult<Signed<OfflineDepositReceipt>> {
        let credited = results
            .iter()
            .map(|r| match r.outcome {
                OfflineOutcome::Credited { amount } => amount,
                OfflineOutcome::DoubleSpent { paid, .. } => paid,
                OfflineOutcome::Replayed => 0,
            })
            .try_fold(0u64, u64::checked_add)
            .ok_or(BankError::Overflow)?;
        Ok(Signed::sign(
            OfflineDepositReceipt {
                batch_id: body.batch_id,
                payee_id: body.payee_id.clone(),
                results,
                credited,
            },
            &self.keys.master,
        ))
    }

    /// The public key record of an offline key (for tests and tools).
    pub fn offline_key_data(&self, key_id: &B32) -> Option<RsaPublicKeyData> {
        self.keys
            .current()
            .offline
            .get(key_id)
            .map(|k| k.info.public_key.clone())
    }
}

/// The candidate a round-1 refusal names, from 1 (0: the count).
fn candidate_index(e: &OfflineError) -> usize {
    match e {
        OfflineError::Opening(i) => i + 1,
        _ => 0,
    }
}

/// The opening a round-2 refusal names, from 1, by its place in the request.
fn opening_index(e: &OfflineError, chosen: &[u16]) -> usize {
    match e {
        OfflineError::Opening(i) => chosen
            .iter()
            .position(|c| usize::from(*c) == *i)
            .map_or(0, |p| p + 1),
        _ => 0,
    }
}
