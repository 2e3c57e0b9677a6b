//! [`Storage`] on PostgreSQL: each method one transaction on a pooled
//! connection (see [`PostgresStorage::tx`]).

use ecash_core::B32;
use ecash_core::messages::LedgerEntry;

use super::writes::*;
use super::{PostgresStorage, b32, coin_keys};
use crate::storage::*;

impl Storage for PostgresStorage {
    fn create_account(
        &self,
        id: &str,
        public_key: &[u8; 32],
        label: &str,
        now: u64,
    ) -> Result<(), StorageError> {
        let (id, key, label, now) = (id.to_owned(), *public_key, label.to_owned(), to_i64(now)?);
        self.tx(move |c| {
            let (id, label) = (id.clone(), label.clone());
            Box::pin(async move {
                let stmt = c
                    .prepare_cached(
                        "INSERT INTO accounts (id, public_key, label, balance, created_at)
                         VALUES ($1, $2, $3, 0, $4) ON CONFLICT DO NOTHING",
                    )
                    .await?;
                match c.execute(&stmt, &[&id, &&key[..], &label, &now]).await? {
                    0 => Err(StorageError::AccountExists.into()),
                    _ => Ok(()),
                }
            })
        })
    }

    fn account(&self, id: &str) -> Result<Option<AccountRecord>, StorageError> {
        let id = id.to_owned();
        self.tx(move |c| {
            let id = id.clone();
            Box::pin(async move {
                let stmt = c
                    .prepare_cached("SELECT public_key, balance FROM accounts WHERE id = $1")
                    .await?;
                let Some(r) = c.query_opt(&stmt, &[&id]).await? else {
                    return Ok(None);
                };
                Ok(Some(AccountRecord {
                    public_key: b32(r.get::<_, &[u8]>(0))?.0,
                    balance: to_u64(r.get(1))?,
                    id,
                }))
            })
        })
    }

    fn ledger(&self, id: &str) -> Result<Vec<LedgerEntry>, StorageError> {
        let id = id.to_owned();
        self.tx(move |c| {
            let id = id.clone();
            Box::pin(async move {
                let stmt = c
                    .prepare_cached(
                        "SELECT delta, reason, reference, at FROM ledger WHERE account_id = $1 ORDER BY seq",
                    )
                    .await?;
                let rows = c.query(&stmt, &[&id]).await?;
                rows.iter()
                    .map(|r| {
                        Ok(LedgerEntry {
                            delta: r.get(0),
                            reason: r.get(1),
                            reference: r.get(2),
                            at: to_u64(r.get(3))?,
                        })
                    })
                    .collect()
            })
        })
    }

    fn faucet_credit(&self, id: &str, amount: u64, now: u64) -> Result<u64, StorageError> {
        let (id, amount, now) = (id.to_owned(), to_i64(amount)?, to_i64(now)?);
        self.tx(move |c| {
            let id = id.clone();
            Box::pin(async move {
                let tx = c.transaction().await?;
                let balance = move_money(&tx, &id, amount, "faucet", "demo", now).await?;
                tx.commit().await?;
                Ok(balance)
            })
        })
    }

    fn withdrawal(&self, request_id: &B32) -> Result<Option<StoredAnswer>, StorageError> {
        let id = *request_id;
        self.tx(move |c| Box::pin(async move { stored_answer(&*c, "withdrawals", &id).await }))
    }

    fn commit_withdrawal(&self, w: &NewWithdrawal) -> Result<StoredAnswer, StorageError> {
        let w = w.clone();
        self.tx(move |c| {
            let w = w.clone();
            Box::pin(async move { commit_withdrawal(c, &w).await })
        })
    }

    fn exchange(&self, request_id: &B32) -> Result<Option<StoredAnswer>, StorageError> {
        let id = *request_id;
        self.tx(move |c| Box::pin(async move { stored_answer(&*c, "exchanges", &id).await }))
    }

    fn commit_exchange(&self, x: &NewExchange) -> Result<StoredAnswer, StorageError> {
        let x = x.clone();
        self.tx(move |c| {
            let x = x.clone();
            Box::pin(async move { commit_exchange(c, &x).await })
        })
    }

    fn deposit(&self, payment_id: &B32) -> Result<Option<DepositRecord>, StorageError> {
        let id = *payment_id;
        self.tx(move |c| Box::pin(async move { deposit_record(&*c, &id).await }))
    }

    /// Group commit, as on SQLite: the deposits waiting on this node go in
    /// one transaction, each in a savepoint of its own.
    fn commit_deposit(&self, d: &NewDeposit) -> Result<DepositRecord, StorageError> {
        self.deposits.submit(d.clone(), |batch| {
            let jobs = batch.to_vec();
            self.tx(move |c| {
                let jobs = jobs.clone();
                Box::pin(async move { commit_group(c, &jobs).await })
            })
            .unwrap_or_else(|e| batch.iter().map(|_| Err(e.clone())).collect())
        })
    }

    fn spent(&self, coins: &[CoinId]) -> Result<Vec<bool>, StorageError> {
        let coins = coins.to_vec();
        self.tx(move |c| {
            let coins = coins.clone();
            Box::pin(async move {
                let stmt = c
                    .prepare_cached(
                        "SELECT s.key_id, s.serial FROM spent_coins s
                         JOIN unnest($1::bytea[], $2::bytea[]) AS q(k, n)
                           ON s.key_id = q.k AND s.serial = q.n",
                    )
                    .await?;
                let keys: Vec<&[u8]> = coins.iter().map(|(_, k)| &k.0[..]).collect();
                let serials: Vec<&[u8]> = coins.iter().map(|(s, _)| &s.0[..]).collect();
                let mut found = std::collections::HashSet::new();
                for r in c.query(&stmt, &[&keys, &serials]).await? {
                    found.insert((b32(r.get::<_, &[u8]>(1))?, b32(r.get::<_, &[u8]>(0))?));
                }
                Ok(coins.iter().map(|c| found.contains(c)).collect())
            })
        })
    }

    fn spent_serials(&self, key_id: &B32) -> Result<Vec<B32>, StorageError> {
        let key = *key_id;
        self.tx(move |c| {
            Box::pin(async move {
                // One snapshot: the key in force, and its coins.
                let tx = c
                    .build_transaction()
                    .read_only(true)
                    .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
                    .start()
                    .await?;
                let live = tx
                    .query_opt(
                        "SELECT 1 FROM coin_keys WHERE key_id = $1 AND expired_at IS NULL",
                        &[&&key.0[..]],
                    )
                    .await?;
                if live.is_none() {
                    return Err(StorageError::UnknownKey(key).into());
                }
                let stmt = tx
                    .prepare_cached("SELECT serial FROM spent_coins WHERE key_id = $1")
                    .await?;
                let rows = tx.query(&stmt, &[&&key.0[..]]).await?;
                Ok(rows
                    .iter()
                    .map(|r| b32(r.get::<_, &[u8]>(0)))
                    .collect::<Result<_, _>>()?)
            })
        })
    }

    fn blind_signatures(&self, hashes: &[B32]) -> Result<Vec<Option<Vec<u8>>>, StorageError> {
        let hashes = hashes.to_vec();
        self.tx(move |c| {
            let hashes = hashes.clone();
            Box::pin(async move {
                let stmt = c
                    .prepare_cached(
                        "SELECT DISTINCT ON (blinded_hash) blinded_hash, blind_sig
                         FROM blind_signatures WHERE blinded_hash = ANY($1)",
                    )
                    .await?;
                let list: Vec<&[u8]> = hashes.iter().map(|h| &h.0[..]).collect();
                let mut found = std::collections::HashMap::new();
                for r in c.query(&stmt, &[&list]).await? {
                    found.insert(b32(r.get::<_, &[u8]>(0))?, r.get::<_, Vec<u8>>(1));
                }
                Ok(hashes.iter().map(|h| found.get(h).cloned()).collect())
            })
        })
    }

    fn revoke_key(&self, r: &KeyRevocation, extorted: &[B32]) -> Result<(), StorageError> {
        let (r, extorted) = (r.clone(), extorted.to_vec());
        let at = to_i64(r.revoked_at)?;
        self.tx(move |c| {
            let (r, extorted) = (r.clone(), extorted.clone());
            Box::pin(async move {
                let tx = c.transaction().await?;
                tx.execute(
                    "INSERT INTO key_revocations (key_id, reason, revoked_at)
                     VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
                    &[&&r.key_id.0[..], &r.reason.as_str(), &at],
                )
                .await?;
                for id in &extorted {
                    tx.execute(
                        "INSERT INTO extorted_requests (request_id, marked_at)
                         VALUES ($1, $2) ON CONFLICT DO NOTHING",
                        &[&&id.0[..], &at],
                    )
                    .await?;
                }
                tx.commit().await?;
                Ok(())
            })
        })
    }

    fn key_revocations(&self) -> Result<Vec<KeyRevocation>, StorageError> {
        self.tx(move |c| {
            Box::pin(async move {
                let rows = c
                    .query(
                        "SELECT key_id, reason, revoked_at FROM key_revocations ORDER BY key_id",
                        &[],
                    )
                    .await?;
                let mut out = Vec::with_capacity(rows.len());
                for r in rows {
                    out.push(KeyRevocation {
                        key_id: b32(r.get::<_, &[u8]>(0))?,
                        reason: reason_from(r.get::<_, &str>(1))?,
                        revoked_at: to_u64(r.get::<_, i64>(2))?,
                    });
                }
                Ok(out)
            })
        })
    }

    fn signature_origins(&self, blinded_hash: &B32) -> Result<SignatureOrigins, StorageError> {
        let h = *blinded_hash;
        self.tx(move |c| {
            Box::pin(async move {
                let rows = c
                    .query(
                        "SELECT request_id, blind_sig FROM blind_signatures WHERE blinded_hash = $1",
                        &[&&h.0[..]],
                    )
                    .await?;
                let mut issued = Vec::with_capacity(rows.len());
                for r in rows {
                    issued.push((b32(r.get::<_, &[u8]>(0))?, r.get::<_, Vec<u8>>(1)));
                }
                let recouped = c
                    .query_opt(
                        "SELECT 1 FROM recouped_signatures WHERE blinded_hash = $1",
                        &[&&h.0[..]],
                    )
                    .await?
                    .is_some();
                Ok(SignatureOrigins { issued, recouped })
            })
        })
    }

    fn any_extorted(&self, request_ids: &[B32]) -> Result<bool, StorageError> {
        let ids = request_ids.to_vec();
        self.tx(move |c| {
            let ids = ids.clone();
            Box::pin(async move {
                let list: Vec<&[u8]> = ids.iter().map(|h| &h.0[..]).collect();
                let row = c
                    .query_opt(
                        "SELECT 1 FROM extorted_requests WHERE request_id = ANY($1) LIMIT 1",
                        &[&list],
                    )
                    .await?;
                Ok(row.is_some())
            })
        })
    }

    fn record_proof(
        &self,
        payment_id: &B32,
        proof_json: &str,
        now: u64,
    ) -> Result<(), StorageError> {
        let (id, proof, now) = (*payment_id, proof_json.to_owned(), to_i64(now)?);
        self.tx(move |c| {
            let proof = proof.clone();
            Box::pin(async move {
                let stmt = c
                    .prepare_cached(
                        "INSERT INTO proofs (payment_id, proof, issued_at) VALUES ($1, $2, $3)",
                    )
                    .await?;
                c.execute(&stmt, &[&&id.0[..], &proof, &now]).await?;
                Ok(())
            })
        })
    }

    fn add_keys(&self, keys: &[CoinKey]) -> Result<(), StorageError> {
        let keys = keys.to_vec();
        self.tx(move |c| {
            let keys = keys.clone();
            Box::pin(async move { coin_keys::add(c, &keys).await })
        })
    }

    fn expire_keys(&self, cutoff: u64, now: u64) -> Result<Vec<Expiry>, StorageError> {
        let (cutoff, now) = (to_i64(cutoff)?, to_i64(now)?);
        let due = self.tx(move |c| Box::pin(async move { coin_keys::due(&*c, cutoff).await }))?;
        let mut done = Vec::new();
        let mut failed = None;
        // One transaction per key; a key that fails (a lock not had in
        // time) does not hold up the others, and is tried again next tick.
        for (key_id, value) in due {
            match self.tx(move |c| {
                Box::pin(async move { coin_keys::expire(c, &key_id, value, now).await })
            }) {
                Ok(Some(e)) => done.push(e),
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!(%key_id, error = %e, "expiring a key failed; tried again next tick");
                    failed = Some(e);
                }
            }
        }
        let kept = self.tx(|c| Box::pin(async move { coin_keys::unforgotten(&*c).await }))?;
        for key_id in kept {
            self.tx(move |c| {
                Box::pin(async move { coin_keys::forget_signatures(c, &key_id).await })
            })?;
        }
        match failed {
            Some(e) if done.is_empty() => Err(e),
            _ => Ok(done),
        }
    }

    fn totals(&self) -> Result<Totals, StorageError> {
        self.tx(move |c| {
            Box::pin(async move {
                // One statement, one snapshot: the sums agree.
                let r = c
                    .query_one(
                        &format!(
                            "SELECT
                               (SELECT COALESCE(SUM(delta), 0) FROM ledger WHERE reason = 'faucet')::BIGINT,
                               (SELECT COALESCE(SUM(balance), 0) FROM accounts)::BIGINT,
                               ({}),
                               (SELECT COALESCE(SUM(expired_amount), 0) FROM coin_keys)::BIGINT",
                            coin_keys::OUTSTANDING
                        ),
                        &[],
                    )
                    .await?;
                Ok(Totals {
                    credited: to_u64(r.get(0))?,
                    balances: to_u64(r.get(1))?,
                    outstanding: to_u64(r.get(2))?,
                    expired: to_u64(r.get(3))?,
                })
            })
        })
    }

    fn close(&self) -> Result<(), StorageError> {
        if let Some(pool) = self
            .pool
            .lock()
            .map_err(|_| StorageError::Db("storage lock poisoned".into()))?
            .take()
        {
            pool.close();
        }
        Ok(())
    }
}
