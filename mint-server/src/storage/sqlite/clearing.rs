//! [`ClearingBooks`] on SQLite: each method one IMMEDIATE transaction on
//! the store's one connection.

use ecash_core::B32;
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use super::{SqliteStorage, b32, db, deposit_record, insert_blind_sigs, move_money, stored_answer};
use crate::storage::clearing::*;
use crate::storage::{DepositRecord, NewExchange, StorageError, StoredAnswer, to_i64, to_u64};

impl SqliteStorage {
    /// Runs `f` in one IMMEDIATE transaction, committed if it succeeds.
    pub(super) fn write<T>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, StorageError>,
    ) -> Result<T, StorageError> {
        self.with(|c| {
            let tx = c
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(db)?;
            let out = f(&tx)?;
            tx.commit().map_err(db)?;
            Ok(out)
        })
    }
}

/// The columns [`record`] reads, in its order.
const RECORD: &str =
    "payment_id, peer_bank_id, amount, forward, request_hash, payment_info, began_at";

/// A journal row's columns ([`RECORD`]), raw.
type RawRecord = (Vec<u8>, String, i64, String, Option<Vec<u8>>, String, i64);

fn record(r: &rusqlite::Row<'_>) -> rusqlite::Result<RawRecord> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
        r.get(6)?,
    ))
}

fn parse_record(raw: RawRecord) -> Result<ClearingRecord, StorageError> {
    let (id, peer_bank_id, amount, forward_json, request_hash, request_json, began_at) = raw;
    Ok(ClearingRecord {
        payment_id: b32(id)?,
        exchange: request_hash
            .map(|h| Ok::<_, StorageError>((b32(h)?, request_json)))
            .transpose()?,
        peer_bank_id,
        amount: to_u64(amount)?,
        forward_json,
        began_at: to_u64(began_at)?,
    })
}

fn clearing_row(
    c: &Connection,
    payment_id: &B32,
) -> Result<Option<(ClearingRecord, bool)>, StorageError> {
    c.query_row(
        &format!("SELECT {RECORD}, done_at IS NOT NULL FROM clearings WHERE payment_id = ?1"),
        params![&payment_id.0[..]],
        |r| Ok((record(r)?, r.get::<_, bool>(7)?)),
    )
    .optional()
    .map_err(db)?
    .map(|(raw, done)| Ok((parse_record(raw)?, done)))
    .transpose()
}

fn settlement_row(c: &Connection, id: &B32) -> Result<Option<SettlementRecord>, StorageError> {
    c.query_row(
        "SELECT peer_bank_id, amount, request, statement FROM settlements WHERE settlement_id = ?1",
        params![&id.0[..]],
        |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, Option<String>>(3)?,
            ))
        },
    )
    .optional()
    .map_err(db)?
    .map(|(peer_bank_id, amount, request_json, statement_json)| {
        Ok(SettlementRecord {
            settlement_id: *id,
            peer_bank_id,
            amount: to_u64(amount)?,
            request_json,
            statement_json,
        })
    })
    .transpose()
}

/// What other mints owe, per mint: clearings finished minus payee
/// settlements (`with_pending`: pending ones too).
fn claims(c: &Connection, with_pending: bool) -> Result<Vec<(String, u64)>, StorageError> {
    let settled = if with_pending {
        "side = 'payee'"
    } else {
        "side = 'payee' AND done_at IS NOT NULL"
    };
    let sql = format!(
        "SELECT peer, SUM(amount) FROM (
             SELECT peer_bank_id AS peer, amount FROM clearings WHERE done_at IS NOT NULL
             UNION ALL
             SELECT peer_bank_id AS peer, -amount FROM settlements WHERE {settled}
         ) GROUP BY peer ORDER BY peer"
    );
    let mut stmt = c.prepare(&sql).map_err(db)?;
    let rows = stmt
        .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))
        .map_err(db)?;
    let mut out = Vec::new();
    for row in rows {
        let (peer, v) = row.map_err(db)?;
        out.push((peer, to_u64(v)?));
    }
    Ok(out)
}

impl ClearingBooks for SqliteStorage {
    fn mark_peer(&self, account_id: &str, name: &str, now: u64) -> Result<(), StorageError> {
        self.write(|c| {
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
                "INSERT INTO peer_accounts (account_id, name, since) VALUES (?1, ?2, ?3)
                 ON CONFLICT (account_id) DO NOTHING",
                params![account_id, name, to_i64(now)?],
            )
            .map_err(db)?;
            Ok(())
        })
    }

    fn begin_clearing(&self, n: &NewClearing) -> Result<ClearingRecord, StorageError> {
        self.write(|c| {
            if let Some((r, _)) = clearing_row(c, &n.payment_id)? {
                return Ok(r);
            }
            let (merchant, payer_code_hash, request_hash) = match &n.purpose {
                Purpose::Deposit {
                    merchant_acc_id,
                    payer_code_hash,
                } => (
                    Some(merchant_acc_id.as_str()),
                    Some(&payer_code_hash.0[..]),
                    None,
                ),
                Purpose::Exchange { request_hash } => (None, None, Some(&request_hash.0[..])),
            };
            c.execute(
                "INSERT INTO clearings (payment_id, peer_bank_id, merchant_acc_id, amount,
                     payer_code_hash, request_hash, payment_info, ack, forward, began_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                params![
                    &n.payment_id.0[..],
                    n.peer_bank_id,
                    merchant,
                    to_i64(n.amount)?,
                    payer_code_hash,
                    request_hash,
                    n.payment_info_json,
                    n.ack_json,
                    n.forward_json,
                    to_i64(n.now)?
                ],
            )
            .map_err(db)?;
            Ok(ClearingRecord {
                payment_id: n.payment_id,
                exchange: match &n.purpose {
                    Purpose::Exchange { request_hash } => {
                        Some((*request_hash, n.payment_info_json.clone()))
                    }
                    Purpose::Deposit { .. } => None,
                },
                peer_bank_id: n.peer_bank_id.clone(),
                amount: n.amount,
                forward_json: n.forward_json.clone(),
                began_at: n.now,
            })
        })
    }

    fn clearing(&self, payment_id: &B32) -> Result<Option<ClearingRecord>, StorageError> {
        self.with(|c| Ok(clearing_row(c, payment_id)?.and_then(|(r, done)| (!done).then_some(r))))
    }

    fn finish_clearing(
        &self,
        payment_id: &B32,
        peer_ack_json: &str,
        now: u64,
    ) -> Result<DepositRecord, StorageError> {
        self.write(|c| {
            if let Some(r) = deposit_record(c, payment_id)? {
                return Ok(r);
            }
            let row = c
                .query_row(
                    "SELECT merchant_acc_id, amount, payer_code_hash, payment_info, ack
                     FROM clearings WHERE payment_id = ?1 AND merchant_acc_id IS NOT NULL",
                    params![&payment_id.0[..]],
                    |r| {
                        Ok((
                            r.get::<_, String>(0)?,
                            r.get::<_, i64>(1)?,
                            r.get::<_, Vec<u8>>(2)?,
                            r.get::<_, String>(3)?,
                            r.get::<_, String>(4)?,
                        ))
                    },
                )
                .optional()
                .map_err(db)?
                .ok_or_else(|| StorageError::Db("no clearing journaled for this payment".into()))?;
            let (merchant, amount, payer_code_hash, info, ack) = row;
            let at = to_i64(now)?;
            move_money(c, &merchant, amount, "deposit", &payment_id.to_b64(), at)?;
            c.execute(
                "INSERT INTO deposits (payment_id, merchant_acc_id, amount, payer_code_hash, payment_info, ack, deposited_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![&payment_id.0[..], merchant, amount, payer_code_hash, info, ack, at],
            )
            .map_err(db)?;
            c.execute(
                "UPDATE clearings SET peer_ack = ?1, done_at = ?2 WHERE payment_id = ?3",
                params![peer_ack_json, at, &payment_id.0[..]],
            )
            .map_err(db)?;
            Ok(DepositRecord {
                payment_id: *payment_id,
                payer_code_hash: b32(payer_code_hash)?,
                payment_info_json: info,
                ack_json: ack,
                deposited_at: now,
            })
        })
    }

    fn finish_exchange_clearing(
        &self,
        journal_id: &B32,
        peer_ack_json: &str,
        x: &NewExchange,
    ) -> Result<StoredAnswer, StorageError> {
        self.write(|c| {
            if let Some(a) = StoredAnswer::replay(
                stored_answer(c, "exchanges", &x.request_id)?,
                &x.request_hash,
            )? {
                return Ok(a);
            }
            let journaled = c
                .query_row(
                    "SELECT request_hash FROM clearings
                     WHERE payment_id = ?1 AND done_at IS NULL AND request_hash IS NOT NULL",
                    params![&journal_id.0[..]],
                    |r| r.get::<_, Vec<u8>>(0),
                )
                .optional()
                .map_err(db)?
                .ok_or_else(|| StorageError::Db("no exchange journaled for this request".into()))?;
            if b32(journaled)? != x.request_hash {
                return Err(StorageError::RequestIdReused);
            }
            let at = to_i64(x.now)?;
            c.execute(
                "INSERT INTO exchanges (request_id, request_hash, response, at) VALUES (?1, ?2, ?3, ?4)",
                params![&x.request_id.0[..], &x.request_hash.0[..], x.response_json, at],
            )
            .map_err(db)?;
            insert_blind_sigs(c, &x.signatures, &x.request_id)?;
            c.execute(
                "UPDATE clearings SET peer_ack = ?1, done_at = ?2 WHERE payment_id = ?3",
                params![peer_ack_json, at, &journal_id.0[..]],
            )
            .map_err(db)?;
            Ok(StoredAnswer {
                request_hash: x.request_hash,
                response_json: x.response_json.clone(),
            })
        })
    }

    fn drop_clearing(&self, payment_id: &B32) -> Result<(), StorageError> {
        self.write(|c| {
            c.execute(
                "DELETE FROM clearings WHERE payment_id = ?1 AND done_at IS NULL",
                params![&payment_id.0[..]],
            )
            .map_err(db)?;
            Ok(())
        })
    }

    fn pending_clearings(&self) -> Result<Vec<ClearingRecord>, StorageError> {
        self.with(|c| {
            let mut stmt = c
                .prepare(&format!(
                    "SELECT {RECORD} FROM clearings WHERE done_at IS NULL ORDER BY began_at"
                ))
                .map_err(db)?;
            let rows = stmt.query_map([], record).map_err(db)?;
            let mut out = Vec::new();
            for row in rows {
                out.push(parse_record(row.map_err(db)?)?);
            }
            Ok(out)
        })
    }

    fn pending_count(&self, peer_bank_id: &str) -> Result<u64, StorageError> {
        self.with(|c| {
            to_u64(
                c.query_row(
                    "SELECT COUNT(*) FROM clearings WHERE peer_bank_id = ?1 AND done_at IS NULL",
                    params![peer_bank_id],
                    |r| r.get::<_, i64>(0),
                )
                .map_err(db)?,
            )
        })
    }

    fn settlement(&self, settlement_id: &B32) -> Result<Option<SettlementRecord>, StorageError> {
        self.with(|c| settlement_row(c, settlement_id))
    }

    fn drop_settlement(&self, settlement_id: &B32) -> Result<(), StorageError> {
        self.write(|c| {
            c.execute(
                "DELETE FROM settlements
                 WHERE settlement_id = ?1 AND side = 'payee' AND done_at IS NULL",
                params![&settlement_id.0[..]],
            )
            .map_err(db)?;
            Ok(())
        })
    }

    fn begin_settlement(&self, s: &NewSettlement) -> Result<SettlementRecord, StorageError> {
        self.write(|c| {
            if let Some(r) = settlement_row(c, &s.settlement_id)? {
                return if r.request_json == s.request_json {
                    Ok(r)
                } else {
                    Err(StorageError::RequestIdReused)
                };
            }
            let (amount, at) = (to_i64(s.amount)?, to_i64(s.now)?);
            match s.side {
                Side::Payer => {
                    let peer = c
                        .query_row(
                            "SELECT 1 FROM peer_accounts WHERE account_id = ?1",
                            params![s.account_id],
                            |_| Ok(()),
                        )
                        .optional()
                        .map_err(db)?;
                    if peer.is_none() {
                        return Err(StorageError::UnknownAccount(s.account_id.clone()));
                    }
                    move_money(
                        c,
                        &s.account_id,
                        -amount,
                        "settlement",
                        &s.settlement_id.to_b64(),
                        at,
                    )?;
                }
                Side::Payee => {
                    let free = claims(c, true)?
                        .into_iter()
                        .find(|(p, _)| p == &s.peer_bank_id)
                        .map_or(0, |(_, v)| v);
                    if free < s.amount {
                        return Err(StorageError::InsufficientFunds {
                            balance: free,
                            needed: s.amount,
                        });
                    }
                }
            }
            let done = s.statement_json.as_ref().map(|_| at);
            c.execute(
                "INSERT INTO settlements (settlement_id, side, peer_bank_id, account_id, amount,
                     request, statement, began_at, done_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                params![
                    &s.settlement_id.0[..],
                    s.side.as_str(),
                    s.peer_bank_id,
                    s.account_id,
                    amount,
                    s.request_json,
                    s.statement_json,
                    at,
                    done
                ],
            )
            .map_err(db)?;
            Ok(SettlementRecord {
                settlement_id: s.settlement_id,
                peer_bank_id: s.peer_bank_id.clone(),
                amount: s.amount,
                request_json: s.request_json.clone(),
                statement_json: s.statement_json.clone(),
            })
        })
    }

    fn finish_settlement(
        &self,
        settlement_id: &B32,
        statement_json: &str,
        now: u64,
    ) -> Result<(), StorageError> {
        self.write(|c| {
            c.execute(
                "UPDATE settlements SET statement = ?1, done_at = ?2
                 WHERE settlement_id = ?3 AND side = 'payee' AND done_at IS NULL",
                params![statement_json, to_i64(now)?, &settlement_id.0[..]],
            )
            .map_err(db)?;
            Ok(())
        })
    }

    fn pending_settlements(&self) -> Result<Vec<SettlementRecord>, StorageError> {
        self.with(|c| {
            let mut stmt = c
                .prepare(
                    "SELECT settlement_id FROM settlements
                     WHERE side = 'payee' AND done_at IS NULL ORDER BY began_at",
                )
                .map_err(db)?;
            let ids = stmt
                .query_map([], |r| r.get::<_, Vec<u8>>(0))
                .map_err(db)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(db)?;
            let mut out = Vec::new();
            for id in ids {
                if let Some(r) = settlement_row(c, &b32(id)?)? {
                    out.push(r);
                }
            }
            Ok(out)
        })
    }

    fn unsettled_claims(&self) -> Result<Vec<(String, u64)>, StorageError> {
        self.with(|c| claims(c, true))
    }

    fn clearing_totals(&self) -> Result<ClearingTotals, StorageError> {
        self.with(|c| {
            let q = |sql: &str| -> Result<u64, StorageError> {
                to_u64(c.query_row(sql, [], |r| r.get::<_, i64>(0)).map_err(db)?)
            };
            c.execute_batch("BEGIN").map_err(db)?;
            let sums = (|| {
                let claims = claims(c, false)?
                    .into_iter()
                    .try_fold(0u64, |a, (_, v)| a.checked_add(v))
                    .ok_or(StorageError::Overflow)?;
                Ok(ClearingTotals {
                    peer_accounts: q("SELECT COALESCE(SUM(a.balance), 0) FROM accounts a
                         JOIN peer_accounts p ON p.account_id = a.id")?,
                    claims,
                    settled_in: q("SELECT COALESCE(SUM(amount), 0) FROM settlements
                         WHERE side = 'payee' AND done_at IS NOT NULL")?,
                    settled_out: q(
                        "SELECT COALESCE(SUM(amount), 0) FROM settlements WHERE side = 'payer'",
                    )?,
                })
            })();
            c.execute_batch("COMMIT").map_err(db)?;
            sums
        })
    }
}

#[cfg(test)]
mod tests {
    use ecash_core::Fixed;

    use super::*;
    use crate::storage::Storage;

    fn store() -> SqliteStorage {
        let s = SqliteStorage::open(std::path::Path::new(":memory:")).expect("open");
        s.create_account("shop", &[1; 32], "shop", 1).expect("shop");
        s.create_account("mint-b", &[2; 32], "mint B", 1)
            .expect("mint");
        s
    }

    fn clearing(id: u8, amount: u64) -> NewClearing {
        NewClearing {
            payment_id: Fixed([id; 32]),
            peer_bank_id: "mint-a".into(),
            purpose: Purpose::Deposit {
                merchant_acc_id: "shop".into(),
                payer_code_hash: Fixed([9; 32]),
            },
            amount,
            payment_info_json: "{}".into(),
            ack_json: format!("ack {id}"),
            forward_json: format!("forward {id}"),
            now: 5,
        }
    }

    fn settlement(id: u8, side: Side, account: &str, amount: u64) -> NewSettlement {
        NewSettlement {
            settlement_id: Fixed([id; 32]),
            side,
            peer_bank_id: "mint-a".into(),
            account_id: account.into(),
            amount,
            request_json: format!("request {id} {amount}"),
            statement_json: (side == Side::Payer).then(|| "statement".into()),
            now: 7,
        }
    }

    #[test]
    fn a_clearing_is_journaled_once_and_credited_once() {
        let s = store();
        let first = s.begin_clearing(&clearing(1, 13)).expect("begin");
        let mut other = clearing(1, 13);
        other.forward_json = "another forward".into();
        assert_eq!(
            s.begin_clearing(&other).expect("again"),
            first,
            "the first is kept"
        );
        assert_eq!(s.pending_clearings().expect("pending"), vec![first.clone()]);
        let done = s
            .finish_clearing(&first.payment_id, "peer ack", 6)
            .expect("finish");
        assert_eq!(done.ack_json, "ack 1");
        assert_eq!(
            s.finish_clearing(&first.payment_id, "peer ack", 9)
                .expect("again"),
            done
        );
        assert_eq!(s.account("shop").expect("shop").expect("shop").balance, 13);
        assert_eq!(s.deposit(&first.payment_id).expect("deposit"), Some(done));
        assert!(s.pending_clearings().expect("pending").is_empty());
        assert_eq!(
            s.clearing(&first.payment_id).expect("lookup"),
            None,
            "finished"
        );
        // A finished clearing is not dropped; an unknown one is not finished.
        s.drop_clearing(&first.payment_id).expect("drop");
        assert_eq!(s.account("shop").expect("shop").expect("shop").balance, 13);
        assert!(s.finish_clearing(&Fixed([2; 32]), "ack", 6).is_err());
        let t = s.totals().expect("totals");
        let c = s.clearing_totals().expect("clearing totals");
        assert_eq!(c.claims, 13);
        assert!(c.balanced_with(&t), "{t:?} {c:?}");
    }

    #[test]
    fn a_refused_clearing_is_dropped_and_credits_nothing() {
        let s = store();
        let r = s.begin_clearing(&clearing(3, 4)).expect("begin");
        s.drop_clearing(&r.payment_id).expect("drop");
        assert!(s.pending_clearings().expect("pending").is_empty());
        assert_eq!(s.account("shop").expect("shop").expect("shop").balance, 0);
        assert_eq!(s.clearing_totals().expect("totals").claims, 0);
    }

    #[test]
    fn settlements_move_what_is_owed_once_and_no_more() {
        let s = store();
        // As payer: only a mint's account, never below zero, once per id.
        assert!(matches!(
            s.begin_settlement(&settlement(1, Side::Payer, "mint-b", 5)),
            Err(StorageError::UnknownAccount(_))
        ));
        s.mark_peer("mint-b", "Mint B", 1).expect("mark");
        s.mark_peer("mint-b", "Mint B", 2).expect("again");
        assert!(matches!(
            s.mark_peer("nobody", "x", 1),
            Err(StorageError::UnknownAccount(_))
        ));
        assert!(matches!(
            s.begin_settlement(&settlement(1, Side::Payer, "mint-b", 5)),
            Err(StorageError::InsufficientFunds { .. })
        ));
        s.faucet_credit("mint-b", 8, 1).expect("credit");
        let paid = s
            .begin_settlement(&settlement(1, Side::Payer, "mint-b", 5))
            .expect("settle");
        assert_eq!(
            s.begin_settlement(&settlement(1, Side::Payer, "mint-b", 5))
                .expect("replay"),
            paid
        );
        assert!(matches!(
            s.begin_settlement(&settlement(1, Side::Payer, "mint-b", 3)),
            Err(StorageError::RequestIdReused)
        ));
        assert_eq!(s.account("mint-b").expect("b").expect("b").balance, 3);
        let c = s.clearing_totals().expect("totals");
        assert_eq!((c.peer_accounts, c.settled_out), (3, 5));
        assert!(c.balanced_with(&s.totals().expect("totals")));

        // As payee: at most what is owed, pending until the statement.
        let r = s.begin_clearing(&clearing(4, 10)).expect("begin");
        s.finish_clearing(&r.payment_id, "ack", 6).expect("finish");
        assert!(matches!(
            s.begin_settlement(&settlement(2, Side::Payee, "us", 11)),
            Err(StorageError::InsufficientFunds { .. })
        ));
        // A payee settlement the payer refused for good frees its amount.
        s.begin_settlement(&settlement(5, Side::Payee, "us", 10))
            .expect("pending");
        assert!(
            s.begin_settlement(&settlement(6, Side::Payee, "us", 1))
                .is_err()
        );
        s.drop_settlement(&Fixed([5; 32])).expect("drop");
        assert_eq!(s.settlement(&Fixed([5; 32])).expect("lookup"), None);
        s.begin_settlement(&settlement(2, Side::Payee, "us", 6))
            .expect("pending");
        assert_eq!(
            s.settlement(&Fixed([2; 32]))
                .expect("lookup")
                .map(|r| r.amount),
            Some(6)
        );
        assert_eq!(
            s.unsettled_claims().expect("claims"),
            vec![("mint-a".into(), 4)]
        );
        assert!(
            s.begin_settlement(&settlement(3, Side::Payee, "us", 5))
                .is_err()
        );
        assert_eq!(s.pending_settlements().expect("pending").len(), 1);
        assert_eq!(
            s.clearing_totals().expect("totals").claims,
            10,
            "not settled yet"
        );
        s.finish_settlement(&Fixed([2; 32]), "their statement", 8)
            .expect("finish");
        s.drop_settlement(&Fixed([2; 32]))
            .expect("a finished one stays");
        assert!(s.settlement(&Fixed([2; 32])).expect("lookup").is_some());
        s.finish_settlement(&Fixed([2; 32]), "another", 9)
            .expect("again: nothing");
        assert!(s.pending_settlements().expect("pending").is_empty());
        let c = s.clearing_totals().expect("totals");
        assert_eq!((c.claims, c.settled_in), (4, 6));
        assert!(c.balanced_with(&s.totals().expect("totals")), "{c:?}");
    }
}
