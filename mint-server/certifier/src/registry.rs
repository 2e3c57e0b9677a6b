//! The certifier's registry: its certificates, revocations, and what each
//! mint's attested key sets fixed (its profile, and the key of each value
//! and period), in one SQLite file (WAL, `synchronous=FULL`). The command
//! line and the server open it side by side.

use std::path::Path;
use std::sync::Mutex;

use ecash_core::certificate::{
    Certification, KeySetAttestation, MintCertificate, RevocationList, Revoked, key_set_hash,
    origin,
};
use ecash_core::keyset::KeySetError;
use ecash_core::{
    B32, Canonical, Currency, Keypair, PublicKey, Signed, SignedKeySet, VerifiedKeySet,
};
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use rusqlite_migration::{M, Migrations};

/// A registry operation failed.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// No valid, unrevoked certificate names this master key.
    #[error("no certificate in force for master key {0}")]
    NotCertified(String),
    /// The key set is not validly signed or is malformed.
    #[error("the key set is refused: {0}")]
    BadKeySet(#[from] KeySetError),
    /// The key set contradicts one attested before.
    #[error("the key set contradicts one attested before: {0}")]
    Conflict(String),
    /// An argument is refused.
    #[error("{0}")]
    Invalid(String),
    /// No such certificate.
    #[error("no certificate {0}")]
    NoCertificate(u64),
    /// The database failed.
    #[error("registry database: {0}")]
    Db(#[from] rusqlite::Error),
    /// A stored record does not decode.
    #[error("registry record: {0}")]
    Corrupt(String),
}

/// Schema migrations, applied in order (`PRAGMA user_version` counts them).
fn migrations() -> Migrations<'static> {
    Migrations::new(vec![
        M::up(
            "CREATE TABLE certificates (
            cert_id     INTEGER PRIMARY KEY AUTOINCREMENT,
            master_key  BLOB NOT NULL,
            issued_at   INTEGER NOT NULL,
            expires_at  INTEGER NOT NULL,
            signed      TEXT NOT NULL
        );
        CREATE INDEX certificates_by_key ON certificates(master_key, expires_at);
        CREATE TABLE revocations (
            cert_id     INTEGER PRIMARY KEY REFERENCES certificates(cert_id),
            revoked_at  INTEGER NOT NULL,
            reason      TEXT NOT NULL
        );
        -- What a mint's first attested set fixed for every later one.
        CREATE TABLE profiles (
            master_key      BLOB PRIMARY KEY,
            bank_id         TEXT NOT NULL,
            currency        TEXT NOT NULL,
            period_secs     INTEGER NOT NULL,
            encryption_key  BLOB NOT NULL
        );
        -- The one key of each value and period, and its whole entry (value,
        -- windows): kept for good, so no later set can differ on a past period.
        CREATE TABLE attested_keys (
            master_key     BLOB NOT NULL,
            value          INTEGER NOT NULL,
            period         INTEGER NOT NULL,
            key_id         BLOB NOT NULL,
            entry_hash     BLOB NOT NULL,
            PRIMARY KEY (master_key, value, period),
            UNIQUE (master_key, key_id)
        );
        CREATE TABLE attestations (
            master_key         BLOB NOT NULL,
            key_set_hash       BLOB NOT NULL,
            key_set_issued_at  INTEGER NOT NULL,
            signed             TEXT NOT NULL,
            PRIMARY KEY (master_key, key_set_hash)
        );",
        ),
        // Offline (CAFE) keys: the same rule, one key per value and period,
        // in a list of their own; a key id is never in both lists.
        M::up(
            "CREATE TABLE attested_offline_keys (
            master_key     BLOB NOT NULL,
            value          INTEGER NOT NULL,
            period         INTEGER NOT NULL,
            key_id         BLOB NOT NULL,
            entry_hash     BLOB NOT NULL,
            PRIMARY KEY (master_key, value, period),
            UNIQUE (master_key, key_id)
        );",
        ),
    ])
}

/// How far ahead of the certifier's clock a key set may be dated, seconds.
const MAX_SKEW_SECS: u64 = 300;

/// How long a revoked certificate stays on the list after it expires, for
/// wallets whose clocks run behind, seconds.
const LIST_PAST_EXPIRY_SECS: u64 = 7 * 86_400;

/// How many attestations of one mint are kept (the newest): a wallet that
/// fetched a set just before a rotation still finds it.
const KEEP_ATTESTATIONS: i64 = 64;

/// The registry and the certifier's key.
pub struct Registry {
    conn: Mutex<Connection>,
    key: Keypair,
}

fn to_i64(v: u64) -> Result<i64, RegistryError> {
    i64::try_from(v).map_err(|_| RegistryError::Invalid(format!("{v} is out of range")))
}

fn from_i64(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

fn decode<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, RegistryError> {
    serde_json::from_str(text).map_err(|e| RegistryError::Corrupt(e.to_string()))
}

fn encode<T: serde::Serialize>(v: &T) -> Result<String, RegistryError> {
    serde_json::to_string(v).map_err(|e| RegistryError::Corrupt(e.to_string()))
}

/// A certificate and whether it was revoked.
#[derive(Debug, Clone)]
pub struct Entry {
    /// The signed certificate.
    pub certificate: Signed<MintCertificate>,
    /// Its revocation, if any.
    pub revoked: Option<Revoked>,
}

impl Registry {
    /// Opens (or makes) the registry in `dir`, with the key in
    /// `certifier.key` (made once, mode 0600).
    pub fn open(dir: &Path) -> Result<Self, RegistryError> {
        std::fs::create_dir_all(dir)
            .map_err(|e| RegistryError::Invalid(format!("{}: {e}", dir.display())))?;
        let secret = ecash_serve::secret_file::load_or_create(&dir.join("certifier.key"))
            .map_err(RegistryError::Invalid)?;
        let key = Keypair::from_secret_bytes(&secret.0);
        let mut conn = Connection::open(dir.join("certifier.db"))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        migrations()
            .to_latest(&mut conn)
            .map_err(|e| RegistryError::Corrupt(format!("migrating: {e}")))?;
        Ok(Self {
            conn: Mutex::new(conn),
            key,
        })
    }

    /// The certifier's public key.
    pub fn public_key(&self) -> PublicKey {
        self.key.public()
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        // A panic while holding the lock leaves SQLite consistent.
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Certifies `master_key` as mint `cs_name` with bank id `bank_id` at
    /// `cs_addr` from `now` for `valid_secs`. A key has one certificate in
    /// force at a time, so that revoking it revokes the mint: an earlier one
    /// in force is refused, or with `replace` revoked as superseded. A bank
    /// id is one mint's at a time: another key's certificate in force for it
    /// is refused (a new master key of the same bank takes it once the old
    /// certificate is revoked).
    #[allow(clippy::too_many_arguments)]
    pub fn issue(
        &self,
        cs_name: &str,
        bank_id: &str,
        cs_addr: &str,
        master_key: &str,
        currency: &str,
        valid_secs: u64,
        replace: bool,
        now: u64,
    ) -> Result<Signed<MintCertificate>, RegistryError> {
        let cs_name = cs_name.trim();
        if cs_name.is_empty()
            || cs_name.chars().count() > 64
            || cs_name.chars().any(char::is_control)
        {
            return Err(RegistryError::Invalid(
                "--cs-name must be 1 to 64 printable characters".into(),
            ));
        }
        let bank_id = bank_id.trim();
        if bank_id.is_empty()
            || bank_id.len() > 64
            || !bank_id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        {
            return Err(RegistryError::Invalid(
                "--bank-id must be 1 to 64 letters, digits, '-', '_' or '.'".into(),
            ));
        }
        let cs_addr = origin(cs_addr).ok_or_else(|| {
            RegistryError::Invalid("--cs-addr must be an http(s) URL without credentials".into())
        })?;
        let master = B32::from_b64(master_key.trim())
            .map(PublicKey)
            .ok_or_else(|| {
                RegistryError::Invalid("--master-key must be 32 bytes base64url".into())
            })?;
        // A key that cannot verify anything is no mint's.
        if !master.is_valid() {
            return Err(RegistryError::Invalid(
                "--master-key is not an Ed25519 public key".into(),
            ));
        }
        let currency =
            Currency::new(currency).map_err(|e| RegistryError::Invalid(e.to_string()))?;
        let expires_at = now
            .checked_add(valid_secs)
            .ok_or_else(|| RegistryError::Invalid("--valid-secs is too large".into()))?;
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let earlier: Vec<i64> = tx
            .prepare(
                "SELECT c.cert_id FROM certificates c LEFT JOIN revocations r ON r.cert_id = c.cert_id
                 WHERE c.master_key = ?1 AND c.expires_at >= ?2 AND r.cert_id IS NULL",
            )?
            .query_map(params![&master.0.0[..], to_i64(now)?], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        // Another key's certificate in force for this bank id: checked in
        // this transaction, so two issues cannot both take it.
        let others: Vec<String> = tx
            .prepare(
                "SELECT c.signed FROM certificates c LEFT JOIN revocations r ON r.cert_id = c.cert_id
                 WHERE c.master_key <> ?1 AND c.expires_at >= ?2 AND r.cert_id IS NULL",
            )?
            .query_map(params![&master.0.0[..], to_i64(now)?], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        for other in others {
            let c: Signed<MintCertificate> = decode(&other)?;
            if c.body.bank_id == bank_id {
                return Err(RegistryError::Invalid(format!(
                    "bank id {bank_id:?} is certificate {}'s, another master key's: revoke that one first",
                    c.body.cert_id
                )));
            }
        }
        // The id its key sets were first attested under stays the key's.
        let profile: Option<String> = tx
            .query_row(
                "SELECT bank_id FROM profiles WHERE master_key = ?1",
                [&master.0.0[..]],
                |r| r.get(0),
            )
            .optional()?;
        if let Some(attested) = profile.filter(|b| b != bank_id) {
            return Err(RegistryError::Invalid(format!(
                "this master key's key sets carry bank id {attested:?}, not {bank_id:?}"
            )));
        }
        if !earlier.is_empty() && !replace {
            return Err(RegistryError::Invalid(format!(
                "certificate {} is in force for this key: revoke it, or issue with --replace",
                earlier[0]
            )));
        }
        let next: i64 = tx.query_row(
            "SELECT COALESCE(MAX(cert_id), 0) + 1 FROM certificates",
            [],
            |r| r.get(0),
        )?;
        let cert = Signed::sign(
            MintCertificate {
                cert_id: from_i64(next),
                certifier: self.key.public(),
                cs_name: cs_name.to_owned(),
                bank_id: bank_id.to_owned(),
                cs_addr,
                master_public_key: master,
                currency,
                // Valid a little before now: clocks of mints and wallets differ.
                issued_at: now.saturating_sub(MAX_SKEW_SECS),
                expires_at,
            },
            &self.key,
        );
        tx.execute(
            "INSERT INTO certificates (cert_id, master_key, issued_at, expires_at, signed)
             VALUES (?1, ?2, ?3, ?4, ?5)",
            params![
                next,
                &master.0.0[..],
                to_i64(now)?,
                to_i64(expires_at)?,
                encode(&cert)?
            ],
        )?;
        for id in earlier {
            tx.execute(
                "INSERT INTO revocations (cert_id, revoked_at, reason) VALUES (?1, ?2, ?3)",
                params![
                    id,
                    to_i64(now)?,
                    format!("superseded by certificate {next}")
                ],
            )?;
        }
        tx.commit()?;
        Ok(cert)
    }

    /// Revokes certificate `cert_id` (revoking it again changes nothing).
    pub fn revoke(&self, cert_id: u64, reason: &str, now: u64) -> Result<(), RegistryError> {
        let reason = reason.trim();
        if reason.is_empty() || reason.len() > 200 {
            return Err(RegistryError::Invalid(
                "--reason must be 1 to 200 bytes".into(),
            ));
        }
        let conn = self.conn();
        let id = to_i64(cert_id)?;
        let exists: Option<i64> = conn
            .query_row(
                "SELECT cert_id FROM certificates WHERE cert_id = ?1",
                [id],
                |r| r.get(0),
            )
            .optional()?;
        if exists.is_none() {
            return Err(RegistryError::NoCertificate(cert_id));
        }
        conn.execute(
            "INSERT INTO revocations (cert_id, revoked_at, reason) VALUES (?1, ?2, ?3)
             ON CONFLICT (cert_id) DO NOTHING",
            params![id, to_i64(now)?, reason],
        )?;
        Ok(())
    }

    /// Every certificate, newest first, with its revocation.
    pub fn entries(&self) -> Result<Vec<Entry>, RegistryError> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT c.signed, r.cert_id, r.revoked_at, r.reason FROM certificates c
             LEFT JOIN revocations r ON r.cert_id = c.cert_id ORDER BY c.cert_id DESC",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, Option<i64>>(1)?,
                r.get::<_, Option<i64>>(2)?,
                r.get::<_, Option<String>>(3)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (signed, id, at, reason) = row?;
            out.push(Entry {
                certificate: decode(&signed)?,
                revoked: match (id, at, reason) {
                    (Some(id), Some(at), Some(reason)) => Some(Revoked {
                        cert_id: from_i64(id),
                        revoked_at: from_i64(at),
                        reason,
                    }),
                    _ => None,
                },
            });
        }
        Ok(out)
    }

    /// Certificates in force at `now`: valid and not revoked.
    pub fn in_force(&self, now: u64) -> Result<Vec<Signed<MintCertificate>>, RegistryError> {
        Ok(self
            .entries()?
            .into_iter()
            .filter(|e| e.revoked.is_none())
            .map(|e| e.certificate)
            .filter(|c| c.body.issued_at <= now && now <= c.body.expires_at)
            .collect())
    }

    /// The certificate in force at `now` for `master_key` as `bank_id` at
    /// `cs_addr`'s origin, if any.
    pub fn held(
        &self,
        master_key: &str,
        bank_id: &str,
        cs_addr: &str,
        now: u64,
    ) -> Result<Option<Signed<MintCertificate>>, RegistryError> {
        let addr = origin(cs_addr);
        Ok(self.in_force(now)?.into_iter().find(|c| {
            c.body.master_public_key.0.to_b64() == master_key.trim()
                && c.body.bank_id == bank_id.trim()
                && Some(&c.body.cs_addr) == addr.as_ref()
        }))
    }

    /// The revocation list at `now`, fresh until `now + ttl`: every revoked
    /// certificate not yet expired.
    pub fn revocations(&self, now: u64, ttl: u64) -> Result<Signed<RevocationList>, RegistryError> {
        let revoked = self
            .entries()?
            .into_iter()
            .filter(|e| {
                e.certificate
                    .body
                    .expires_at
                    .saturating_add(LIST_PAST_EXPIRY_SECS)
                    >= now
            })
            .filter_map(|e| e.revoked)
            .collect();
        Ok(Signed::sign(
            RevocationList {
                certifier: self.key.public(),
                issued_at: now,
                next_update: now.saturating_add(ttl),
                revoked,
            },
            &self.key,
        ))
    }

    /// The newest attestation of the mint certified as `cert_id`, if that
    /// certificate is in force at `now`.
    pub fn attested(
        &self,
        cert_id: u64,
        now: u64,
    ) -> Result<Option<Signed<KeySetAttestation>>, RegistryError> {
        let Some(cert) = self
            .in_force(now)?
            .into_iter()
            .find(|c| c.body.cert_id == cert_id)
        else {
            return Ok(None);
        };
        let master = cert.body.master_public_key.0.0.to_vec();
        let conn = self.conn();
        let signed: Option<String> = conn
            .query_row(
                "SELECT signed FROM attestations WHERE master_key = ?1
                 ORDER BY key_set_issued_at DESC LIMIT 1",
                [master],
                |r| r.get(0),
            )
            .optional()?;
        let Some(signed) = signed else {
            return Ok(None);
        };
        let mut att: Signed<KeySetAttestation> = decode(&signed)?;
        // Stored under the certificate that was in force when it was made;
        // a renewed certificate names the same key set under its own id.
        if att.body.cert_id != cert_id {
            att = Signed::sign(
                KeySetAttestation {
                    cert_id,
                    ..att.body
                },
                &self.key,
            );
        }
        Ok(Some(att))
    }

    /// Attests `signed`, a mint's key set, at `now`: it must be signed by a
    /// certified master key and agree with every set of that mint attested
    /// before. The same set attested twice gets the same attestation.
    pub fn attest(
        &self,
        signed: &SignedKeySet,
        now: u64,
        revocations_ttl: u64,
    ) -> Result<Certification, RegistryError> {
        let set = &signed.body;
        let master = set.master_public_key;
        let certificate = self
            .in_force(now)?
            .into_iter()
            .find(|c| c.body.master_public_key == master)
            .ok_or_else(|| RegistryError::NotCertified(master.fingerprint()))?;
        VerifiedKeySet::verify(signed, &master)?;
        if set.bank_id != certificate.body.bank_id {
            return Err(RegistryError::Conflict(format!(
                "the set names bank id {:?}, the certificate {:?}",
                set.bank_id, certificate.body.bank_id
            )));
        }
        if set.currency != certificate.body.currency {
            return Err(RegistryError::Conflict(format!(
                "the set is in {}, the certificate in {}",
                set.currency, certificate.body.currency
            )));
        }
        let hash = key_set_hash(set);
        let key = &master.0.0[..];
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let profile: Option<(String, String, i64, Vec<u8>)> = tx
            .query_row(
                "SELECT bank_id, currency, period_secs, encryption_key FROM profiles WHERE master_key = ?1",
                [key],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .optional()?;
        let enc = set.encryption_key.key_id();
        match profile {
            Some((bank_id, currency, period, enc_seen)) => {
                let same = bank_id == set.bank_id
                    && currency == set.currency.as_str()
                    && from_i64(period) == set.period_secs
                    && enc_seen == enc.0;
                if !same {
                    return Err(RegistryError::Conflict(
                        "its bank id, currency, period length or envelope key changed".into(),
                    ));
                }
            }
            None => {
                tx.execute(
                    "INSERT INTO profiles (master_key, bank_id, currency, period_secs, encryption_key)
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                    params![key, set.bank_id, set.currency.as_str(), to_i64(set.period_secs)?, &enc.0[..]],
                )?;
            }
        }
        // Every entry as signed (the verified map holds each key once; the
        // check refused a key listed twice).
        for (list, table, other) in [
            (&set.denominations, "attested_keys", "attested_offline_keys"),
            (&set.offline, "attested_offline_keys", "attested_keys"),
        ] {
            for d in list {
                attest_key(&tx, key, d, table, other)?;
            }
        }
        let stored: Option<String> = tx
            .query_row(
                "SELECT signed FROM attestations WHERE master_key = ?1 AND key_set_hash = ?2",
                params![key, &hash.0[..]],
                |r| r.get(0),
            )
            .optional()?;
        let attestation = match stored {
            Some(s) => decode::<Signed<KeySetAttestation>>(&s)?,
            None => {
                // A new set is newer than every one before, and not from the
                // future: "the newest attested set" is then the mint's current one.
                let newest: Option<i64> = tx.query_row(
                    "SELECT MAX(key_set_issued_at) FROM attestations WHERE master_key = ?1",
                    [key],
                    |r| r.get(0),
                )?;
                if set.issued_at > now.saturating_add(MAX_SKEW_SECS) {
                    return Err(RegistryError::Invalid(format!(
                        "the key set is dated {}, ahead of the certifier's clock ({now})",
                        set.issued_at
                    )));
                }
                if newest.is_some_and(|n| to_i64(set.issued_at).is_ok_and(|i| i < n)) {
                    return Err(RegistryError::Conflict(
                        "the key set is older than the newest one attested".into(),
                    ));
                }
                let a = Signed::sign(
                    KeySetAttestation {
                        cert_id: certificate.body.cert_id,
                        key_set_hash: hash,
                        key_set_issued_at: set.issued_at,
                        attested_at: now,
                    },
                    &self.key,
                );
                tx.execute(
                    "INSERT INTO attestations (master_key, key_set_hash, key_set_issued_at, signed)
                     VALUES (?1, ?2, ?3, ?4)",
                    params![key, &hash.0[..], to_i64(set.issued_at)?, encode(&a)?],
                )?;
                tx.execute(
                    "DELETE FROM attestations WHERE master_key = ?1 AND key_set_hash NOT IN (
                         SELECT key_set_hash FROM attestations WHERE master_key = ?1
                         ORDER BY key_set_issued_at DESC LIMIT ?2)",
                    params![key, KEEP_ATTESTATIONS],
                )?;
                a
            }
        };
        tx.commit()?;
        drop(conn);
        // An attestation made under an older certificate of the same key.
        let attestation = if attestation.body.cert_id == certificate.body.cert_id {
            attestation
        } else {
            Signed::sign(
                KeySetAttestation {
                    cert_id: certificate.body.cert_id,
                    ..attestation.body
                },
                &self.key,
            )
        };
        Ok(Certification {
            certificate,
            attestation,
            revocations: self.revocations(now, revocations_ttl)?,
        })
    }
}

/// Records key `d` of a set in `table` (or checks it against the entry
/// there): one key per value and period, never changed, and never a key
/// of the other kind's table.
fn attest_key(
    tx: &rusqlite::Transaction<'_>,
    master: &[u8],
    d: &ecash_core::DenominationKey,
    table: &str,
    other: &str,
) -> Result<(), RegistryError> {
    let value = to_i64(d.value.value)?;
    let period = to_i64(d.period)?;
    let entry = d.canonical_hash();
    let elsewhere = tx
        .query_row(
            &format!("SELECT 1 FROM {other} WHERE master_key = ?1 AND key_id = ?2"),
            params![master, &d.key_id.0[..]],
            |_| Ok(()),
        )
        .optional()?;
    if elsewhere.is_some() {
        return Err(RegistryError::Conflict(format!(
            "key {} was attested as the other kind (online or offline)",
            d.key_id
        )));
    }
    let seen: Option<Vec<u8>> = tx
        .query_row(
            &format!(
                "SELECT entry_hash FROM {table}
                 WHERE master_key = ?1 AND ((value = ?2 AND period = ?3) OR key_id = ?4)"
            ),
            params![master, value, period, &d.key_id.0[..]],
            |r| r.get(0),
        )
        .optional()?;
    match seen {
        Some(h) if h != entry => Err(RegistryError::Conflict(format!(
            "the key for value {} in period {} (or its windows) differs from the one \
             attested before",
            d.value.value, d.period
        ))),
        Some(_) => Ok(()),
        None => {
            tx.execute(
                &format!(
                    "INSERT INTO {table} (master_key, value, period, key_id, entry_hash)
                     VALUES (?1, ?2, ?3, ?4, ?5)"
                ),
                params![master, value, period, &d.key_id.0[..], &entry[..]],
            )?;
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests;
