//! The mint's keys in the database every node shares: why there, and not
//! in a key directory the nodes share, is that the database already gives
//! what key creation needs across machines (a transaction, and an
//! advisory lock only one node holds), where a shared file system gives
//! neither reliably (NFS locks, rename across clients). Each private key is
//! sealed under the key-encryption key ([`Kek`]) every node is given and
//! the database never sees: a copy of the database, a backup or a replica
//! holds no usable key.

use std::sync::Arc;

use ecash_core::{B32, DenominationKey};

use super::{PostgresStorage, StorageError, b32, connect, pg, to_i64, to_u64};
use crate::keys::vault::{KeyRecord, KeyVault, Maker, Planner, Secret};
use crate::keys::{Kek, KeyError};

/// The advisory lock key creation holds ("ecash-key").
const KEYS_LOCK: i64 = 0x6563_6173_682d_6b65;

/// Key material in the PostgreSQL store's database, sealed under the KEK.
pub struct PgVault {
    store: Arc<PostgresStorage>,
    kek: Arc<Kek>,
}

/// A denomination key's row as the seal binds it: its key id and a hash of
/// its public record, so a record altered in the database (another value,
/// another window) no longer opens its private key.
fn denomination_name(key_id: &B32, record: &str) -> String {
    let digest = <sha2::Sha256 as sha2::Digest>::digest(record.as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("denomination:{}:{hex}", key_id.to_b64())
}

fn db(e: StorageError) -> KeyError {
    KeyError::Db(e.to_string())
}

/// Opens a transaction that holds the key-creation lock. Its wait for the
/// lock is unbounded (another node may be making keys), and bounded all
/// the same: the holder is idle in its transaction while it makes keys,
/// and the server ends a transaction idle for 5 minutes (a node paused or
/// cut off mid-way), which frees the lock.
async fn locked(
    client: &mut deadpool_postgres::Client,
) -> Result<deadpool_postgres::Transaction<'_>, StorageError> {
    let tx = client.transaction().await.map_err(pg("key transaction"))?;
    tx.batch_execute(
        "SET LOCAL statement_timeout = 0; SET LOCAL lock_timeout = 0; \
         SET LOCAL idle_in_transaction_session_timeout = '300s'",
    )
    .await
    .map_err(pg("key transaction"))?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&KEYS_LOCK])
        .await
        .map_err(pg("the key lock"))?;
    Ok(tx)
}

async fn read_records(
    c: &impl deadpool_postgres::GenericClient,
) -> Result<Vec<KeyRecord>, StorageError> {
    let rows = c
        .query(
            "SELECT key_id, record, created_at, sealed IS NOT NULL FROM denomination_keys",
            &[],
        )
        .await
        .map_err(pg("reading keys"))?;
    rows.iter()
        .map(|row| {
            let key_id = b32(row.get(0))?;
            let info: DenominationKey = serde_json::from_str(row.get(1))
                .map_err(|e| StorageError::Db(format!("key {key_id}: {e}")))?;
            if info.key_id != key_id {
                return Err(StorageError::Db(format!(
                    "key {key_id}: record of another key"
                )));
            }
            Ok(KeyRecord {
                info,
                created_at: to_u64(row.get(2))?,
                has_secret: row.get(3),
            })
        })
        .collect()
}

impl PgVault {
    /// Keys in `store`'s database, sealed under `kek`.
    pub fn new(store: Arc<PostgresStorage>, kek: Kek) -> Self {
        Self {
            store,
            kek: Arc::new(kek),
        }
    }

    fn sealed_secret(&self, name: &str) -> Result<Option<Vec<u8>>, KeyError> {
        let pool = self.store.pool().map_err(db)?;
        let name = name.to_owned();
        self.store
            .run(async move {
                let c = connect(&pool).await?;
                let row = c
                    .query_opt("SELECT sealed FROM mint_secrets WHERE name = $1", &[&name])
                    .await
                    .map_err(pg("reading a key"))?;
                Ok(row.map(|r| r.get::<_, Vec<u8>>(0)))
            })
            .map_err(db)
    }
}

impl PgVault {
    /// Seals the keys of a mint that kept them in files (an older version
    /// on PostgreSQL) into the database, so the mint keeps its identity and
    /// its coins stay good. Only into a database that holds no master key
    /// yet and has books already (withdrawals made with those keys): the
    /// key files of a mint whose books are elsewhere (its SQLite file)
    /// would let this mint credit coins its books never issued. Whether it did.
    pub fn adopt(&self, files: &dyn KeyVault) -> Result<bool, KeyError> {
        if self.sealed_secret("master")?.is_some() {
            return Ok(false);
        }
        let none: Maker = Arc::new(|name: &str| {
            Err(KeyError::Config(format!(
                "the key files hold no {name} key"
            )))
        });
        let mut singles = Vec::new();
        for name in ["master", "encryption"] {
            let secret = files.singleton(name, none.clone())?;
            singles.push((name.to_owned(), self.kek.seal(name, &secret)?));
        }
        let mut rows = Vec::new();
        for r in files.records()? {
            let record =
                serde_json::to_string(&r.info).map_err(|e| KeyError::Config(e.to_string()))?;
            let sealed = match files.secret(&r.info.key_id)? {
                Some(secret) => Some(
                    self.kek
                        .seal(&denomination_name(&r.info.key_id, &record), &secret)?,
                ),
                None => None,
            };
            rows.push((r, record, sealed));
        }
        let pool = self.store.pool().map_err(db)?;
        self.store
            .run_within(None, async move {
                let mut c = connect(&pool).await?;
                let tx = locked(&mut c).await?;
                let taken = tx
                    .query_opt("SELECT 1 FROM mint_secrets WHERE name = 'master'", &[])
                    .await
                    .map_err(pg("reading a key"))?;
                let history = tx
                    .query_opt("SELECT 1 FROM withdrawals LIMIT 1", &[])
                    .await
                    .map_err(pg("reading the books"))?;
                if taken.is_some() || history.is_none() {
                    return Ok(false);
                }
                for (name, sealed) in &singles {
                    tx.execute(
                        "INSERT INTO mint_secrets (name, sealed) VALUES ($1, $2)",
                        &[name, sealed],
                    )
                    .await
                    .map_err(pg("storing a key"))?;
                }
                for (r, record, sealed) in &rows {
                    let info = &r.info;
                    tx.execute(
                        "INSERT INTO denomination_keys \
                         (key_id, currency, value, withdraw_from, record, sealed, created_at) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING",
                        &[
                            &info.key_id.0.as_slice(),
                            &info.value.currency.as_str(),
                            &to_i64(info.value.value)?,
                            &to_i64(info.withdraw_from)?,
                            record,
                            sealed,
                            &to_i64(r.created_at)?,
                        ],
                    )
                    .await
                    .map_err(pg("storing a key"))?;
                }
                tx.commit().await.map_err(pg("storing keys"))?;
                Ok(true)
            })
            .map_err(db)
    }
}

impl KeyVault for PgVault {
    fn singleton(&self, name: &str, make: Maker) -> Result<Secret, KeyError> {
        if let Some(sealed) = self.sealed_secret(name)? {
            return self.kek.open(name, &sealed);
        }
        let pool = self.store.pool().map_err(db)?;
        let kek = self.kek.clone();
        let owned = name.to_owned();
        let sealed = self
            .store
            .run_within(None, async move {
                let mut c = connect(&pool).await?;
                let tx = locked(&mut c).await?;
                let row = tx
                    .query_opt("SELECT sealed FROM mint_secrets WHERE name = $1", &[&owned])
                    .await
                    .map_err(pg("reading a key"))?;
                if let Some(row) = row {
                    return Ok(Ok(row.get::<_, Vec<u8>>(0)));
                }
                let made = {
                    let owned = owned.clone();
                    tokio::task::spawn_blocking(move || make(&owned))
                        .await
                        .map_err(|e| StorageError::Db(format!("making a key: {e}")))?
                };
                let sealed = match made.and_then(|secret| kek.seal(&owned, &secret)) {
                    Ok(s) => s,
                    Err(e) => return Ok(Err(e)),
                };
                tx.execute(
                    "INSERT INTO mint_secrets (name, sealed) VALUES ($1, $2)",
                    &[&owned, &sealed],
                )
                .await
                .map_err(pg("storing a key"))?;
                tx.commit().await.map_err(pg("storing a key"))?;
                Ok(Ok(sealed))
            })
            .map_err(db)??;
        self.kek.open(name, &sealed)
    }

    fn records(&self) -> Result<Vec<KeyRecord>, KeyError> {
        let pool = self.store.pool().map_err(db)?;
        self.store
            .run(async move {
                let c = connect(&pool).await?;
                read_records(&c).await
            })
            .map_err(db)
    }

    fn secret(&self, key_id: &B32) -> Result<Option<Secret>, KeyError> {
        let pool = self.store.pool().map_err(db)?;
        let id = key_id.0.to_vec();
        let sealed = self
            .store
            .run(async move {
                let c = connect(&pool).await?;
                let row = c
                    .query_opt(
                        "SELECT sealed, record FROM denomination_keys WHERE key_id = $1",
                        &[&id],
                    )
                    .await
                    .map_err(pg("reading a key"))?;
                Ok(row.and_then(|r| {
                    let sealed: Option<Vec<u8>> = r.get(0);
                    sealed.map(|s| (s, r.get::<_, String>(1)))
                }))
            })
            .map_err(db)?;
        sealed
            .map(|(s, record)| self.kek.open(&denomination_name(key_id, &record), &s))
            .transpose()
    }

    fn create(&self, plan: Planner) -> Result<Vec<KeyRecord>, KeyError> {
        let pool = self.store.pool().map_err(db)?;
        let kek = self.kek.clone();
        self.store
            .run_within(None, async move {
                let mut c = connect(&pool).await?;
                let tx = locked(&mut c).await?;
                let mut records = read_records(&tx).await?;
                let stored = records.clone();
                let made = tokio::task::spawn_blocking(move || plan(&stored))
                    .await
                    .map_err(|e| StorageError::Db(format!("making keys: {e}")))?;
                let keys = match made {
                    Ok(keys) => keys,
                    Err(e) => return Ok(Err(e)),
                };
                for key in keys {
                    let info = &key.info;
                    let record = serde_json::to_string(info)
                        .map_err(|e| StorageError::Db(format!("a key record: {e}")))?;
                    let name = denomination_name(&info.key_id, &record);
                    let sealed = match kek.seal(&name, &key.secret) {
                        Ok(s) => s,
                        Err(e) => return Ok(Err(e)),
                    };
                    tx.execute(
                        "INSERT INTO denomination_keys \
                         (key_id, currency, value, withdraw_from, record, sealed, created_at) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7)",
                        &[
                            &info.key_id.0.as_slice(),
                            &info.value.currency.as_str(),
                            &to_i64(info.value.value)?,
                            &to_i64(info.withdraw_from)?,
                            &record,
                            &sealed,
                            &to_i64(key.created_at)?,
                        ],
                    )
                    .await
                    .map_err(pg("storing a key"))?;
                    records.push(KeyRecord {
                        info: key.info,
                        created_at: key.created_at,
                        has_secret: true,
                    });
                }
                tx.commit().await.map_err(pg("storing keys"))?;
                Ok(Ok(records))
            })
            .map_err(db)?
    }

    fn retire(&self, key_id: &B32) -> Result<(), KeyError> {
        let pool = self.store.pool().map_err(db)?;
        let id = key_id.0.to_vec();
        self.store
            .run(async move {
                let c = connect(&pool).await?;
                c.execute(
                    "UPDATE denomination_keys SET sealed = NULL WHERE key_id = $1",
                    &[&id],
                )
                .await
                .map_err(pg("retiring a key"))?;
                Ok(())
            })
            .map_err(db)
    }
}
