//! [`OfflineBooks`] on SQLite: each method one IMMEDIATE transaction on the
//! store's one connection, so identification is atomic with the deposit.

use ecash_core::offline::messages::OfflineOutcome;
use ecash_core::offline::{self, Identity, LEN, TERMS, VerifiedSpend};
use ecash_core::{B32, Fixed};
use rusqlite::{Connection, OptionalExtension, params};

use super::{SqliteStorage, b32, db, move_money};
use crate::storage::offline::*;
use crate::storage::{StorageError, to_i64, to_u64};

fn refused(why: impl Into<String>) -> StorageError {
    StorageError::OfflineRefused(why.into())
}

fn identity_of(v: Vec<u8>) -> Result<Identity, StorageError> {
    <[u8; LEN]>::try_from(v.as_slice())
        .map(Fixed)
        .map_err(|_| StorageError::Db("an identity is not 32 bytes".into()))
}

/// The account's row, made on first use (an account must exist).
fn ensure_account(c: &Connection, account_id: &str) -> Result<(), StorageError> {
    let known = c
        .query_row(
            "SELECT 1 FROM accounts WHERE id = ?1",
            params![account_id],
            |_| Ok(()),
        )
        .optional()
        .map_err(db)?;
    if known.is_none() {
        return Err(StorageError::UnknownAccount(account_id.to_owned()));
    }
    c.execute(
        "INSERT OR IGNORE INTO offline_accounts (account_id) VALUES (?1)",
        params![account_id],
    )
    .map_err(db)?;
    Ok(())
}

fn standing(c: &Connection, account_id: &str, now: u64) -> Result<OfflineStanding, StorageError> {
    ensure_account(c, account_id)?;
    let (collateral, penalties, frozen, next_counter): (i64, i64, bool, i64) = c
        .query_row(
            "SELECT collateral, penalties, frozen, next_counter FROM offline_accounts
             WHERE account_id = ?1",
            params![account_id],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .map_err(db)?;
    // Past its window plus the margin, a coin can no longer be deposited,
    // and an unfinished withdrawal no longer be finished.
    let since = to_i64(now.saturating_sub(RELEASE_MARGIN_SECS))?;
    let in_use: i64 = c
        .query_row(
            "SELECT COALESCE(SUM(value), 0) FROM offline_withdrawals
             WHERE account_id = ?1 AND ((state = 'signed' AND deposit_until >= ?2)
                                     OR (state = 'chosen' AND withdraw_until >= ?2))",
            params![account_id, since],
            |r| r.get(0),
        )
        .map_err(db)?;
    Ok(OfflineStanding {
        collateral: to_u64(collateral)?,
        in_use: to_u64(in_use)?,
        penalties: to_u64(penalties)?,
        frozen,
        next_counter: to_u64(next_counter)?,
        unfinished: 0,
    })
}

/// Withdrawals of `account_id` in `period` begun and not signed.
fn unfinished(c: &Connection, account_id: &str, period: u64) -> Result<u64, StorageError> {
    let n: i64 = c
        .query_row(
            "SELECT COUNT(*) FROM offline_withdrawals
             WHERE account_id = ?1 AND period = ?2 AND state != 'signed'",
            params![account_id, to_i64(period)?],
            |r| r.get(0),
        )
        .map_err(db)?;
    to_u64(n)
}

fn state_from(s: &str) -> Result<WithdrawalState, StorageError> {
    match s {
        "chosen" => Ok(WithdrawalState::Chosen),
        "signed" => Ok(WithdrawalState::Signed),
        "refused" => Ok(WithdrawalState::Refused),
        other => Err(StorageError::Db(format!("withdrawal state {other}"))),
    }
}

type RawWithdrawal = (
    String,
    Vec<u8>,
    Vec<u8>,
    Vec<u8>,
    i64,
    String,
    String,
    String,
    Option<Vec<u8>>,
    Option<String>,
);

fn withdrawal_row(
    c: &Connection,
    request_id: &B32,
) -> Result<Option<OfflineWithdrawal>, StorageError> {
    let raw: Option<RawWithdrawal> = c
        .query_row(
            "SELECT account_id, request_hash, identity, key_id, value, candidates, chosen, state,
                    open_hash, response
             FROM offline_withdrawals WHERE request_id = ?1",
            params![&request_id.0[..]],
            |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                    r.get(6)?,
                    r.get(7)?,
                    r.get(8)?,
                    r.get(9)?,
                ))
            },
        )
        .optional()
        .map_err(db)?;
    raw.map(
        |(
            account_id,
            hash,
            identity,
            key_id,
            value,
            candidates_json,
            chosen_json,
            state,
            open,
            response_json,
        )| {
            Ok(OfflineWithdrawal {
                account_id,
                request_hash: b32(hash)?,
                identity: identity_of(identity)?,
                key_id: b32(key_id)?,
                value: to_u64(value)?,
                candidates_json,
                chosen_json,
                state: state_from(&state)?,
                open_hash: open.map(b32).transpose()?,
                response_json,
            })
        },
    )
    .transpose()
}

fn bits_bytes(bits: &[bool; TERMS]) -> Vec<u8> {
    let mut out = vec![0u8; TERMS.div_ceil(8)];
    for (i, b) in bits.iter().enumerate() {
        if *b {
            out[i / 8] |= 1 << (7 - i % 8);
        }
    }
    out
}

/// A kept transcript, as [`offline::identify`] reads it.
fn stored_spend(c: &Connection, seq: i64) -> Result<VerifiedSpend, StorageError> {
    let (coin, bits, terms, pads): (Vec<u8>, Vec<u8>, Vec<u8>, Vec<u8>) = c
        .query_row(
            "SELECT coin_id, bits, terms, pads FROM offline_transcripts WHERE seq = ?1",
            params![seq],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .map_err(db)?;
    let bad = || StorageError::Db(format!("offline transcript {seq} is corrupt"));
    if terms.len() != TERMS * 2 * LEN || pads.len() != TERMS * LEN || bits.len() * 8 < TERMS {
        return Err(bad());
    }
    let mut out_bits = [false; TERMS];
    for (i, b) in out_bits.iter_mut().enumerate() {
        *b = bits[i / 8] >> (7 - i % 8) & 1 == 1;
    }
    let half = |s: &[u8]| <[u8; LEN]>::try_from(s).map_err(|_| bad());
    Ok(VerifiedSpend {
        coin_id: b32(coin)?,
        bits: out_bits,
        terms: terms
            .chunks(2 * LEN)
            .map(|t| Ok((half(&t[..LEN])?, half(&t[LEN..])?)))
            .collect::<Result<_, StorageError>>()?,
        pads: pads.chunks(LEN).map(half).collect::<Result<_, _>>()?,
    })
}

/// Deposits one transcript inside the batch's transaction.
fn deposit_one(
    c: &Connection,
    d: &NewOfflineDeposit,
    position: usize,
    t: &NewTranscript,
) -> Result<OfflineOutcome, StorageError> {
    let s = &t.spend;
    let bits = bits_bytes(&s.bits);
    let now = to_i64(d.now)?;
    let reference = s.coin_id.to_b64();
    let replay = c
        .query_row(
            "SELECT 1 FROM offline_transcripts
             WHERE coin_id = ?1 AND bits = ?2 AND request_hash = ?3",
            params![&s.coin_id.0[..], &bits, &t.request_hash.0[..]],
            |_| Ok(()),
        )
        .optional()
        .map_err(db)?
        .is_some();
    let term_ids = s.term_ids(&t.key_id);
    let mut earlier: Vec<i64> = Vec::new();
    if !replay {
        let mut stmt = c
            .prepare_cached("SELECT transcript FROM offline_terms WHERE term_id = ?1")
            .map_err(db)?;
        for id in &term_ids {
            for seq in stmt
                .query_map(params![&id.0[..]], |r| r.get::<_, i64>(0))
                .map_err(db)?
            {
                let seq = seq.map_err(db)?;
                if !earlier.contains(&seq) {
                    earlier.push(seq);
                }
            }
        }
        earlier.sort_unstable();
    }
    // A coin's first deposit: its value to the payee.
    let credit = || -> Result<OfflineOutcome, StorageError> {
        move_money(
            c,
            &d.payee_id,
            to_i64(t.value)?,
            "offline_deposit",
            &reference,
            now,
        )?;
        Ok(OfflineOutcome::Credited { amount: t.value })
    };
    let (outcome, double) = if replay {
        (OfflineOutcome::Replayed, None)
    } else if earlier.is_empty() {
        (credit()?, None)
    } else {
        // Every identity the shared terms point at, over every earlier
        // transcript, with how many terms point at it; the best supported
        // one that names a signed withdrawal is the double spender.
        let mut pointed: Vec<(Identity, usize)> = Vec::new();
        let mut same_coin = false;
        for seq in &earlier {
            let before = stored_spend(c, *seq)?;
            same_coin |= before.coin_id == s.coin_id;
            for (u, n) in offline::identities(&before, s) {
                match pointed.iter_mut().find(|(v, _)| *v == u) {
                    Some((_, m)) => *m += n,
                    None => pointed.push((u, n)),
                }
            }
        }
        pointed.sort_by_key(|e| std::cmp::Reverse(e.1));
        let mut named: Option<(Identity, String)> = None;
        for (u, _) in &pointed {
            let account: Option<String> = c
                .query_row(
                    "SELECT account_id FROM offline_withdrawals
                     WHERE identity = ?1 AND state = 'signed'",
                    params![&u.0[..]],
                    |r| r.get(0),
                )
                .optional()
                .map_err(db)?;
            if let Some(acc) = account {
                named = Some((*u, acc));
                break;
            }
        }
        match named {
            Some((u, acc)) => {
                let collateral: i64 = c
                    .query_row(
                        "SELECT collateral FROM offline_accounts WHERE account_id = ?1",
                        params![acc],
                        |r| r.get(0),
                    )
                    .map_err(db)?;
                // Never to the double spender himself: he would take his own
                // collateral back ahead of the payees he cheated.
                let paid = if acc == d.payee_id {
                    0
                } else {
                    t.value.min(to_u64(collateral)?)
                };
                c.execute(
                    "UPDATE offline_accounts SET collateral = collateral - ?1,
                         penalties = penalties + ?1, frozen = 1 WHERE account_id = ?2",
                    params![to_i64(paid)?, acc],
                )
                .map_err(db)?;
                if paid > 0 {
                    move_money(
                        c,
                        &d.payee_id,
                        to_i64(paid)?,
                        "offline_double_spend",
                        &reference,
                        now,
                    )?;
                }
                (
                    OfflineOutcome::DoubleSpent {
                        paid,
                        identified: true,
                    },
                    Some((Some(u), Some(acc), paid)),
                )
            }
            // The same coin again, naming no one (2^-40 of the time): unpaid.
            None if same_coin => (
                OfflineOutcome::DoubleSpent {
                    paid: 0,
                    identified: false,
                },
                Some((None, None, 0)),
            ),
            // Terms shared with other coins only, naming no one: a term copied
            // from a spend seen in transit voids no honest coin.
            None => (credit()?, None),
        }
    };
    let (name, paid, identified) = match &outcome {
        OfflineOutcome::Credited { amount } => ("credited", *amount, false),
        OfflineOutcome::DoubleSpent { paid, identified } => ("double_spent", *paid, *identified),
        OfflineOutcome::Replayed => ("replayed", 0, false),
    };
    let terms: Vec<u8> = s
        .terms
        .iter()
        .flat_map(|(x, y)| [&x[..], &y[..]].concat())
        .collect();
    let pads: Vec<u8> = s.pads.concat();
    c.execute(
        "INSERT INTO offline_transcripts (batch_id, position, coin_id, key_id, value, bits, terms,
             pads, spend, outcome, paid, identified, at, request_hash)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
        params![
            &d.batch_id.0[..],
            to_i64(position as u64)?,
            &s.coin_id.0[..],
            &t.key_id.0[..],
            to_i64(t.value)?,
            &bits,
            &terms,
            &pads,
            &t.spend_json,
            name,
            to_i64(paid)?,
            identified,
            now,
            &t.request_hash.0[..],
        ],
    )
    .map_err(db)?;
    let seq = c.last_insert_rowid();
    if !replay {
        let mut stmt = c
            .prepare_cached(
                "INSERT OR IGNORE INTO offline_terms (term_id, transcript) VALUES (?1, ?2)",
            )
            .map_err(db)?;
        for id in &term_ids {
            stmt.execute(params![&id.0[..], seq]).map_err(db)?;
        }
    }
    if let Some((identity, account, paid)) = double {
        c.execute(
            "INSERT INTO offline_double_spends (transcript, coin_id, identity, account_id, paid)
             VALUES (?1, ?2, ?3, ?4, ?5)",
            params![
                seq,
                &s.coin_id.0[..],
                identity.as_ref().map(|u| u.0.to_vec()),
                account,
                to_i64(paid)?
            ],
        )
        .map_err(db)?;
    }
    Ok(outcome)
}

/// Each coin and outcome stored for batch `batch_id`, in order.
fn batch_outcomes(
    c: &Connection,
    batch_id: &B32,
) -> Result<Vec<(B32, OfflineOutcome)>, StorageError> {
    let mut stmt = c
        .prepare(
            "SELECT coin_id, outcome, paid, identified FROM offline_transcripts
             WHERE batch_id = ?1 ORDER BY position",
        )
        .map_err(db)?;
    let rows = stmt
        .query_map(params![&batch_id.0[..]], |r| {
            Ok((
                r.get::<_, Vec<u8>>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, i64>(2)?,
                r.get::<_, bool>(3)?,
            ))
        })
        .map_err(db)?;
    let mut out = Vec::new();
    for row in rows {
        let (coin, name, paid, identified) = row.map_err(db)?;
        let paid = to_u64(paid)?;
        let outcome = match name.as_str() {
            "credited" => OfflineOutcome::Credited { amount: paid },
            "double_spent" => OfflineOutcome::DoubleSpent { paid, identified },
            "replayed" => OfflineOutcome::Replayed,
            other => return Err(StorageError::Db(format!("transcript outcome {other}"))),
        };
        out.push((b32(coin)?, outcome));
    }
    Ok(out)
}

impl OfflineBooks for SqliteStorage {
    fn offline_standing(
        &self,
        account_id: &str,
        now: u64,
        period: u64,
    ) -> Result<OfflineStanding, StorageError> {
        self.write(|c| {
            let mut s = standing(c, account_id, now)?;
            s.unfinished = unfinished(c, account_id, period)?;
            Ok(s)
        })
    }

    fn move_collateral(
        &self,
        account_id: &str,
        request_id: &B32,
        delta: i64,
        now: u64,
    ) -> Result<OfflineStanding, StorageError> {
        self.write(|c| {
            let before: Option<(String, i64)> = c
                .query_row(
                    "SELECT account_id, delta FROM offline_collateral_moves WHERE request_id = ?1",
                    params![&request_id.0[..]],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()
                .map_err(db)?;
            match before {
                Some((acc, d)) if acc == account_id && d == delta => {
                    return standing(c, account_id, now);
                }
                Some(_) => return Err(StorageError::RequestIdReused),
                None => {}
            }
            let s = standing(c, account_id, now)?;
            if delta < 0 {
                let free = s.collateral.saturating_sub(s.in_use);
                if s.frozen {
                    return Err(refused(
                        "the offline allowance is frozen after a double spend: its collateral \
                         is kept",
                    ));
                }
                if delta.unsigned_abs() > free {
                    return Err(refused(format!(
                        "only {free} of the collateral is free: {} backs offline coins whose \
                         deposit window is open",
                        s.in_use
                    )));
                }
            }
            let reason = if delta > 0 {
                "offline_collateral"
            } else {
                "offline_release"
            };
            move_money(
                c,
                account_id,
                -delta,
                reason,
                &request_id.to_b64(),
                to_i64(now)?,
            )?;
            c.execute(
                "UPDATE offline_accounts SET collateral = collateral + ?1 WHERE account_id = ?2",
                params![delta, account_id],
            )
            .map_err(db)?;
            c.execute(
                "INSERT INTO offline_collateral_moves (request_id, account_id, delta, at)
                 VALUES (?1, ?2, ?3, ?4)",
                params![&request_id.0[..], account_id, delta, to_i64(now)?],
            )
            .map_err(db)?;
            standing(c, account_id, now)
        })
    }

    fn begin_offline_withdrawal(&self, w: &NewOfflineWithdrawal) -> Result<String, StorageError> {
        self.write(|c| {
            if let Some(old) = withdrawal_row(c, &w.request_id)? {
                if old.request_hash != w.request_hash {
                    return Err(StorageError::RequestIdReused);
                }
                return Ok(old.chosen_json);
            }
            let s = standing(c, &w.account_id, w.now)?;
            if s.frozen {
                return Err(refused(
                    "the offline allowance is frozen: a coin of this account was spent twice",
                ));
            }
            if w.counter != s.next_counter {
                return Err(refused(format!(
                    "offline counter {} is not the account's next, {}",
                    w.counter, s.next_counter
                )));
            }
            let open = unfinished(c, &w.account_id, w.period)?;
            if open >= w.unfinished_cap {
                return Err(refused(format!(
                    "{open} offline withdrawals of this period were begun and not finished \
                     (at most {}): finish them, or wait for the next period",
                    w.unfinished_cap
                )));
            }
            let need = s
                .in_use
                .checked_add(w.value)
                .ok_or(StorageError::Overflow)?;
            if need > s.collateral {
                return Err(refused(format!(
                    "offline allowance exceeded: {} in use, {} asked, {} of collateral locked",
                    s.in_use, w.value, s.collateral
                )));
            }
            c.execute(
                "INSERT INTO offline_withdrawals (request_id, request_hash, account_id, counter,
                     identity, key_id, value, withdraw_until, deposit_until, period, candidates,
                     chosen, state, at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, 'chosen', ?13)",
                params![
                    &w.request_id.0[..],
                    &w.request_hash.0[..],
                    w.account_id,
                    to_i64(w.counter)?,
                    &w.identity.0[..],
                    &w.key_id.0[..],
                    to_i64(w.value)?,
                    to_i64(w.withdraw_until)?,
                    to_i64(w.deposit_until)?,
                    to_i64(w.period)?,
                    w.candidates_json,
                    w.chosen_json,
                    to_i64(w.now)?,
                ],
            )
            .map_err(db)?;
            c.execute(
                "UPDATE offline_accounts SET next_counter = next_counter + 1 WHERE account_id = ?1",
                params![w.account_id],
            )
            .map_err(db)?;
            Ok(w.chosen_json.clone())
        })
    }

    fn offline_withdrawal(
        &self,
        request_id: &B32,
    ) -> Result<Option<OfflineWithdrawal>, StorageError> {
        self.with(|c| withdrawal_row(c, request_id))
    }

    fn finish_offline_withdrawal(
        &self,
        request_id: &B32,
        open_hash: &B32,
        response_json: &str,
        now: u64,
    ) -> Result<String, StorageError> {
        self.write(|c| {
            let w = withdrawal_row(c, request_id)?
                .ok_or_else(|| refused("no offline withdrawal was begun under this request id"))?;
            match w.state {
                WithdrawalState::Signed => {
                    return match (w.open_hash, w.response_json) {
                        (Some(h), Some(r)) if &h == open_hash => Ok(r),
                        _ => Err(StorageError::RequestIdReused),
                    };
                }
                WithdrawalState::Refused => {
                    return Err(refused(
                        "this offline withdrawal was refused: its openings did not match",
                    ));
                }
                WithdrawalState::Chosen => {}
            }
            if standing(c, &w.account_id, now)?.frozen {
                return Err(refused(
                    "the offline allowance is frozen: a coin of this account was spent twice",
                ));
            }
            move_money(
                c,
                &w.account_id,
                -to_i64(w.value)?,
                "offline_withdraw",
                &request_id.to_b64(),
                to_i64(now)?,
            )?;
            c.execute(
                "UPDATE offline_withdrawals SET state = 'signed', open_hash = ?1, response = ?2
                 WHERE request_id = ?3",
                params![&open_hash.0[..], response_json, &request_id.0[..]],
            )
            .map_err(db)?;
            Ok(response_json.to_owned())
        })
    }

    fn refuse_offline_withdrawal(&self, request_id: &B32, _now: u64) -> Result<(), StorageError> {
        self.write(|c| {
            c.execute(
                "UPDATE offline_withdrawals SET state = 'refused'
                 WHERE request_id = ?1 AND state = 'chosen'",
                params![&request_id.0[..]],
            )
            .map_err(db)?;
            Ok(())
        })
    }

    fn commit_offline_deposit(
        &self,
        d: &NewOfflineDeposit,
    ) -> Result<Vec<OfflineOutcome>, StorageError> {
        self.write(|c| {
            let before: Option<Vec<u8>> = c
                .query_row(
                    "SELECT batch_hash FROM offline_batches WHERE batch_id = ?1",
                    params![&d.batch_id.0[..]],
                    |r| r.get(0),
                )
                .optional()
                .map_err(db)?;
            match before {
                Some(h) if h == d.batch_hash.0 => {
                    return Ok(batch_outcomes(c, &d.batch_id)?
                        .into_iter()
                        .map(|(_, o)| o)
                        .collect());
                }
                Some(_) => return Err(StorageError::RequestIdReused),
                None => {}
            }
            ensure_account(c, &d.payee_id)?;
            c.execute(
                "INSERT INTO offline_batches (batch_id, batch_hash, payee_id, at) VALUES (?1, ?2, ?3, ?4)",
                params![&d.batch_id.0[..], &d.batch_hash.0[..], d.payee_id, to_i64(d.now)?],
            )
            .map_err(db)?;
            d.transcripts
                .iter()
                .enumerate()
                .map(|(i, t)| deposit_one(c, d, i, t))
                .collect()
        })
    }

    fn offline_batch(&self, batch_id: &B32) -> Result<Option<StoredBatch>, StorageError> {
        self.with(|c| {
            let row: Option<(Vec<u8>, String)> = c
                .query_row(
                    "SELECT batch_hash, payee_id FROM offline_batches WHERE batch_id = ?1",
                    params![&batch_id.0[..]],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()
                .map_err(db)?;
            row.map(|(hash, payee_id)| {
                Ok(StoredBatch {
                    batch_hash: b32(hash)?,
                    payee_id,
                    results: batch_outcomes(c, batch_id)?,
                })
            })
            .transpose()
        })
    }

    fn double_spends(&self, account_id: Option<&str>) -> Result<Vec<DoubleSpend>, StorageError> {
        self.with(|c| {
            let mut stmt = c
                .prepare(
                    "SELECT coin_id, identity, account_id, paid FROM offline_double_spends
                     WHERE ?1 IS NULL OR account_id = ?1 ORDER BY transcript",
                )
                .map_err(db)?;
            let rows = stmt
                .query_map(params![account_id], |r| {
                    Ok((
                        r.get::<_, Vec<u8>>(0)?,
                        r.get::<_, Option<Vec<u8>>>(1)?,
                        r.get::<_, Option<String>>(2)?,
                        r.get::<_, i64>(3)?,
                    ))
                })
                .map_err(db)?;
            let mut out = Vec::new();
            for row in rows {
                let (coin, identity, account_id, paid) = row.map_err(db)?;
                out.push(DoubleSpend {
                    coin_id: b32(coin)?,
                    identity: identity.map(identity_of).transpose()?,
                    account_id,
                    paid: to_u64(paid)?,
                });
            }
            Ok(out)
        })
    }

    fn offline_identities(&self) -> Result<Vec<Identity>, StorageError> {
        self.with(|c| {
            let mut stmt = c
                .prepare("SELECT identity FROM offline_withdrawals ORDER BY at")
                .map_err(db)?;
            let rows = stmt.query_map([], |r| r.get::<_, Vec<u8>>(0)).map_err(db)?;
            rows.map(|r| identity_of(r.map_err(db)?)).collect()
        })
    }

    fn offline_totals(&self) -> Result<OfflineTotals, StorageError> {
        self.with(|c| {
            let q = |sql: &str| -> Result<u64, StorageError> {
                to_u64(c.query_row(sql, [], |r| r.get::<_, i64>(0)).map_err(db)?)
            };
            c.execute_batch("BEGIN").map_err(db)?;
            let sums = (|| {
                Ok(OfflineTotals {
                    collateral: q("SELECT COALESCE(SUM(collateral), 0) FROM offline_accounts")?,
                    issued: q(
                        "SELECT COALESCE(SUM(value), 0) FROM offline_withdrawals WHERE state = 'signed'",
                    )?,
                    redeemed: q(
                        "SELECT COALESCE(SUM(paid), 0) FROM offline_transcripts WHERE outcome = 'credited'",
                    )?,
                })
            })();
            c.execute_batch("COMMIT").map_err(db)?;
            sums
        })
    }
}

#[cfg(test)]
mod tests;
