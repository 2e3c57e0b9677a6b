//! The mint's keys: master signing key, envelope encryption key, and one
//! RSA key per denomination and key period, kept in a [`KeyVault`]: files
//! in the data dir ([`files`]) or, for several nodes, the database.
//!
//! Rotation: time is cut into withdraw periods of `withdraw_period_secs`.
//! For every denomination there is always a key for the current period and
//! one for the next, published ahead so wallets see it before it is needed.
//! Keys are made under the vault's creation lock, so of several nodes
//! sharing a vault one makes each key, and every node loads it.

pub mod files;
pub mod vault;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};

use ecash_core::blind_rsa;
use ecash_core::keyset::{KeyRevocation, RsaPublicKeyData};
use ecash_core::rsa::pkcs8::{DecodePrivateKey, EncodePrivateKey};
use ecash_core::rsa::{PrivateKey as RsaPrivateKey, PublicKey as RsaPublicKey};
use ecash_core::{Amount, B32, Currency, DenominationKey, KeySet, Keypair, Signed, SignedKeySet};
use zeroize::Zeroizing;

pub use vault::{Kek, KeyRecord, KeyVault, NewKey};

/// Key management failed.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// Reading or writing a key file failed.
    #[error("key file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A key file exists but cannot be parsed.
    #[error("key file {0} is corrupt: {1}")]
    Corrupt(PathBuf, String),
    /// A stored key is corrupt.
    #[error("stored key {0} is corrupt: {1}")]
    Stored(String, String),
    /// A sealed key does not open: another key-encryption key sealed it, or it was altered.
    #[error(
        "stored key {0} does not open with this key-encryption key: every node of a mint \
         needs the same --key-encryption-key-file"
    )]
    Sealed(String),
    /// The database holding the keys failed.
    #[error("key database: {0}")]
    Db(String),
    /// RSA key generation failed.
    #[error("key generation failed")]
    Keygen,
    /// Configuration cannot produce a key schedule.
    #[error("bad key configuration: {0}")]
    Config(String),
}

/// How often keys are rotated, seconds: a quarter period, between 1 s and a minute.
pub fn rotation_tick(withdraw_period: u64) -> u64 {
    (withdraw_period / 4).clamp(1, 60)
}

/// One denomination key with its private half.
pub struct DenomKey {
    /// The public record, as in the key set.
    pub info: DenominationKey,
    /// The private key.
    pub secret: RsaPrivateKey,
    /// Signs with it (the configured backend).
    pub signer: Arc<dyn crate::signer::BlindSigner>,
    /// The public key.
    pub public: RsaPublicKey,
}

/// The keys in force at one moment; replaced whole on rotation.
pub struct KeyState {
    /// The signed key set served at `/keys`.
    pub signed: SignedKeySet,
    /// `signed` as JSON, ready to serve.
    pub signed_json: String,
    /// Keys not yet past `deposit_until`, by key id.
    pub active: Active,
    /// Offline (CAFE) keys not yet past `deposit_until`, by key id.
    pub offline: Active,
    /// Keys past `deposit_until`, kept public-only to name them in errors.
    pub expired: HashMap<B32, DenominationKey>,
}

impl KeyState {
    /// The revocation of key `key_id`, if the set in force publishes one.
    pub fn revocation(&self, key_id: &B32) -> Option<&KeyRevocation> {
        self.signed
            .body
            .revoked
            .iter()
            .find(|r| &r.key_id == key_id)
    }
}

/// Keys in their window, by key id.
type Active = HashMap<B32, Arc<DenomKey>>;

/// Key schedule parameters.
#[derive(Debug, Clone)]
pub struct Schedule {
    /// Bank id.
    pub bank_id: String,
    /// Currency.
    pub currency: Currency,
    /// Largest denomination exponent.
    pub max_exp: u8,
    /// RSA bits.
    pub rsa_bits: usize,
    /// Withdraw period length, seconds.
    pub withdraw_period: u64,
    /// Deposit grace after the withdraw window, seconds.
    pub deposit_grace: u64,
    /// Which blind-signing backend the denomination keys use.
    pub signer: crate::signer::SignerKind,
}

/// The offline (CAFE) keys: where they live and their largest value's exponent.
pub struct OfflineShelf {
    /// Their vault, apart from the online keys' (one key per value and
    /// period in each).
    pub vault: Arc<dyn KeyVault>,
    /// Largest offline denomination exponent.
    pub max_exp: u8,
}

/// All of the mint's keys.
pub struct MintKeys {
    /// Signs the key set, deposit acks and proofs.
    pub master: Keypair,
    /// Opens payment envelopes.
    pub encryption: RsaPrivateKey,
    /// Unwraps envelope keys with it (the configured backend).
    pub envelope: Arc<dyn crate::signer::EnvelopeKey>,
    vault: Arc<dyn KeyVault>,
    offline: Option<OfflineShelf>,
    schedule: Schedule,
    state: RwLock<Arc<KeyState>>,
    /// Held while a rotation runs: two at once (the rotation task and a
    /// caller of [`MintKeys::rotate`]) would each create the keys missing,
    /// and publish two keys of one value and period.
    rotating: Mutex<()>,
    /// The revocations the books hold, published with the next rotation.
    revocations: Mutex<Vec<KeyRevocation>>,
}

impl MintKeys {
    /// Publishes these revocations (from the books) with the next rotation.
    pub fn set_revocations(&self, r: Vec<KeyRevocation>) {
        *self.revocations.lock().unwrap_or_else(|p| p.into_inner()) = r;
    }

    /// Loads the keys from `vault`, creating what is missing, and brings
    /// the denomination keys up to date for `now`.
    pub fn open(vault: Arc<dyn KeyVault>, schedule: Schedule, now: u64) -> Result<Self, KeyError> {
        Self::open_with_offline(vault, None, schedule, now)
    }

    /// [`Self::open`], with offline keys kept on `offline` when given.
    pub fn open_with_offline(
        vault: Arc<dyn KeyVault>,
        offline: Option<OfflineShelf>,
        schedule: Schedule,
        now: u64,
    ) -> Result<Self, KeyError> {
        if schedule.withdraw_period == 0 {
            return Err(KeyError::Config("withdraw period must be positive".into()));
        }
        let seed = vault.singleton(
            "master",
            Arc::new(|_: &str| {
                let kp = Keypair::generate().map_err(|_| KeyError::Keygen)?;
                tracing::info!(fingerprint = %kp.public().fingerprint(), "created master key");
                Ok(Zeroizing::new(kp.secret_bytes().to_vec()))
            }),
        )?;
        let seed = <[u8; 32]>::try_from(seed.as_slice())
            .map_err(|_| KeyError::Stored("master".into(), "not 32 bytes".into()))?;
        let master = Keypair::from_secret_bytes(&Zeroizing::new(seed));

        let der = vault.singleton(
            "encryption",
            Arc::new(|_: &str| {
                let k = blind_rsa::generate_key(2048).map_err(|_| KeyError::Keygen)?;
                pkcs8(&k)
            }),
        )?;
        let encryption = RsaPrivateKey::from_pkcs8_der(&der)
            .map_err(|e| KeyError::Stored("encryption".into(), e.to_string()))?;

        let envelope = crate::signer::envelope_key(schedule.signer, &encryption)
            .map_err(|e| KeyError::Stored("encryption".into(), e))?;

        let placeholder = Arc::new(KeyState {
            signed: Signed::sign(
                KeySet {
                    bank_id: schedule.bank_id.clone(),
                    currency: schedule.currency.clone(),
                    master_public_key: master.public(),
                    encryption_key: RsaPublicKeyData::from_key(&encryption.to_public_key()),
                    period_secs: schedule.withdraw_period,
                    denominations: vec![],
                    issued_at: now,
                    revoked: vec![],
                    offline: vec![],
                },
                &master,
            ),
            signed_json: String::new(),
            active: HashMap::new(),
            offline: HashMap::new(),
            expired: HashMap::new(),
        });
        let keys = Self {
            master,
            encryption,
            envelope,
            vault,
            offline,
            schedule,
            state: RwLock::new(placeholder),
            rotating: Mutex::new(()),
            revocations: Mutex::new(Vec::new()),
        };
        // At start only what wallets need now (current and next period):
        // the first rotation tick creates the period after.
        keys.rotate_ahead(now, 1)?;
        Ok(keys)
    }

    /// The secret offline identities are made under (see
    /// `ecash_core::offline::identity`), from the master key.
    pub fn offline_identity_secret(&self) -> Zeroizing<[u8; 32]> {
        let seed = Zeroizing::new(self.master.secret_bytes());
        ecash_core::offline::identity_secret(&seed[..])
    }

    /// Whether this mint has offline (CAFE) keys.
    pub fn has_offline(&self) -> bool {
        self.offline.is_some()
    }

    /// Length in bytes of the envelope key's modulus: the one length a wrapped key may have.
    pub fn envelope_len(&self) -> usize {
        ecash_core::rsa::traits::PublicKeyParts::size(&self.encryption)
    }

    /// The keys in force.
    pub fn current(&self) -> Arc<KeyState> {
        match self.state.read() {
            Ok(g) => Arc::clone(&g),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    /// Creates missing keys for the current period and the next two, retires
    /// keys past their deposit window, and re-signs the key set. Returns
    /// whether anything changed.
    pub fn rotate(&self, now: u64) -> Result<bool, KeyError> {
        self.rotate_ahead(now, 2)
    }

    /// [`Self::rotate`], creating keys `ahead` periods past the current one.
    fn rotate_ahead(&self, now: u64, ahead: u64) -> Result<bool, KeyError> {
        let _one_at_a_time = self.rotating.lock().unwrap_or_else(|p| p.into_inner());
        let s = &self.schedule;
        let (records, created) = self.ensure(&*self.vault, s.max_exp, now, ahead)?;
        let (offline_records, offline_created) = match &self.offline {
            Some(o) => self.ensure(&*o.vault, o.max_exp, now, ahead)?,
            None => (Vec::new(), false),
        };
        self.check_periods(&records, now)?;
        self.check_periods(&offline_records, now)?;
        let old = self.current();
        let (active, mut expired) = self.load_live(&*self.vault, &records, &old.active, now)?;
        let (offline, offline_expired) = match &self.offline {
            Some(o) => self.load_live(&*o.vault, &offline_records, &old.offline, now)?,
            None => (HashMap::new(), HashMap::new()),
        };
        expired.extend(offline_expired);
        let same =
            |a: &Active, b: &Active| a.len() == b.len() && b.keys().all(|k| a.contains_key(k));
        let same_keys = same(&old.active, &active) && same(&old.offline, &offline);
        // Only revocations of keys still listed are published.
        let mut revoked: Vec<KeyRevocation> = self
            .revocations
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .filter(|r| active.contains_key(&r.key_id) || offline.contains_key(&r.key_id))
            .cloned()
            .collect();
        revoked.sort_by_key(|r| r.key_id);
        let same_revoked = old.signed.body.revoked == revoked;
        if same_keys && same_revoked && !created && !offline_created && !old.signed_json.is_empty()
        {
            return Ok(false);
        }
        // Every node signs the same set: its time is the latest change.
        let at = revoked.iter().map(|r| r.revoked_at).fold(
            issued_at(&records, now).max(if offline_records.is_empty() {
                0
            } else {
                issued_at(&offline_records, now)
            }),
            u64::max,
        );
        self.publish(active, offline, expired, revoked, at)?;
        Ok(true)
    }

    /// The records of `vault` after creating its keys missing for `now`
    /// (values `2^0 ..= 2^max_exp`), and whether any was made.
    fn ensure(
        &self,
        vault: &dyn KeyVault,
        max_exp: u8,
        now: u64,
        ahead: u64,
    ) -> Result<(Vec<KeyRecord>, bool), KeyError> {
        let s = &self.schedule;
        let mut records = vault.records()?;
        let mut created = false;
        if !missing(s, max_exp, &records, now, ahead).is_empty() {
            // Seen again under the vault's lock: another node may have made them.
            let schedule = s.clone();
            let made = Arc::new(std::sync::atomic::AtomicBool::new(false));
            let made_here = made.clone();
            records = vault.create(Arc::new(move |stored: &[KeyRecord]| {
                let keys = missing(&schedule, max_exp, stored, now, ahead)
                    .into_iter()
                    .map(|(value, from)| create_key(&schedule, value, from, now))
                    .collect::<Result<Vec<_>, _>>()?;
                made_here.store(!keys.is_empty(), std::sync::atomic::Ordering::Relaxed);
                Ok(keys)
            }))?;
            created = made.load(std::sync::atomic::Ordering::Relaxed);
        }
        records.retain(|r| r.info.value.currency == s.currency);
        Ok((records, created))
    }

    /// The signed set ties each key's window to its period index and the
    /// period length: keys made with another length cannot be published.
    fn check_periods(&self, records: &[KeyRecord], now: u64) -> Result<(), KeyError> {
        let period = self.schedule.withdraw_period;
        let Some(info) = records.iter().map(|r| &r.info).find(|info| {
            info.deposit_until >= now
                && (info.withdraw_from != info.period.saturating_mul(period)
                    || info.withdraw_until != info.withdraw_from.saturating_add(period - 1))
        }) else {
            return Ok(());
        };
        Err(KeyError::Config(format!(
            "key {} was made for withdraw periods of {} s, not {period} s: keep the old \
             --withdraw-period-secs until its keys expire, or use a new data dir",
            info.key_id,
            info.withdraw_until.saturating_sub(info.withdraw_from) + 1,
        )))
    }

    /// The keys still in their window (loaded, or kept from `old`) and the
    /// expired ones (their private keys deleted).
    fn load_live(
        &self,
        vault: &dyn KeyVault,
        records: &[KeyRecord],
        old: &Active,
        now: u64,
    ) -> Result<(Active, HashMap<B32, DenominationKey>), KeyError> {
        let mut active = HashMap::new();
        let mut expired = HashMap::new();
        for r in records {
            let info = &r.info;
            // Past its window (or retired by a node whose clock is ahead of
            // this one's): the private key has no further use.
            if info.deposit_until < now || !r.has_secret {
                if r.has_secret {
                    vault.retire(&info.key_id)?;
                    tracing::info!(key_id = %info.key_id, "retired denomination key");
                }
                expired.insert(info.key_id, info.clone());
            } else if let Some(k) = old.get(&info.key_id) {
                // Loaded before: keep it (and its signer) rather than parse it again.
                active.insert(info.key_id, k.clone());
            } else {
                active.insert(info.key_id, Arc::new(self.load_key(vault, info.clone())?));
            }
        }
        Ok((active, expired))
    }

    /// A denomination key's private half, checked against its record.
    fn load_key(&self, vault: &dyn KeyVault, info: DenominationKey) -> Result<DenomKey, KeyError> {
        let name = format!("denomination key {}", info.key_id);
        let stored = |why: String| KeyError::Stored(name.clone(), why);
        let der = vault
            .secret(&info.key_id)?
            .ok_or_else(|| stored("its private key is missing".into()))?;
        let secret = RsaPrivateKey::from_pkcs8_der(&der).map_err(|e| stored(e.to_string()))?;
        let public = secret.to_public_key();
        if RsaPublicKeyData::from_key(&public).key_id() != info.key_id {
            return Err(stored("private key does not match its record".into()));
        }
        let signer = crate::signer::build(self.schedule.signer, &secret).map_err(stored)?;
        Ok(DenomKey {
            info,
            secret,
            signer,
            public,
        })
    }

    /// Signs the key set of `active` and makes it the current state.
    fn publish(
        &self,
        active: Active,
        offline: Active,
        expired: HashMap<B32, DenominationKey>,
        revoked: Vec<KeyRevocation>,
        issued_at: u64,
    ) -> Result<(), KeyError> {
        let s = &self.schedule;
        let mut denominations: Vec<DenominationKey> =
            active.values().map(|k| k.info.clone()).collect();
        denominations.sort_by_key(|d| (d.value.value, d.withdraw_from));
        let mut offline_keys: Vec<DenominationKey> =
            offline.values().map(|k| k.info.clone()).collect();
        offline_keys.sort_by_key(|d| (d.value.value, d.withdraw_from));
        let set = KeySet {
            bank_id: s.bank_id.clone(),
            currency: s.currency.clone(),
            master_public_key: self.master.public(),
            encryption_key: RsaPublicKeyData::from_key(&self.encryption.to_public_key()),
            period_secs: s.withdraw_period,
            denominations,
            issued_at,
            revoked,
            offline: offline_keys,
        };
        let signed = Signed::sign(set, &self.master);
        let signed_json =
            serde_json::to_string(&signed).map_err(|e| KeyError::Config(e.to_string()))?;
        let state = Arc::new(KeyState {
            signed,
            signed_json,
            active,
            offline,
            expired,
        });
        match self.state.write() {
            Ok(mut g) => *g = state,
            Err(poisoned) => *poisoned.into_inner() = state,
        }
        Ok(())
    }
}

/// The (value, withdraw_from) of every key `records` lacks.
///
/// Wallets require the next period's keys in every set they fetch.
/// Rotations create them a whole period early (two ahead), so a late
/// tick or slow key generation at the turn of a period never leaves a
/// set without them; and any rotation (the first at start, too) creates
/// the period after next when it begins within two ticks. Nearest
/// periods first.
fn missing(
    s: &Schedule,
    max_exp: u8,
    records: &[KeyRecord],
    now: u64,
    ahead: u64,
) -> Vec<(u64, u64)> {
    let period = now / s.withdraw_period;
    let soon = (now + s.withdraw_period + 2 * rotation_tick(s.withdraw_period)) / s.withdraw_period;
    let mut out = Vec::new();
    for p in period..=soon.max(period + ahead.max(1)) {
        for exp in 0..=max_exp {
            let value = 1u64 << exp;
            let from = p.saturating_mul(s.withdraw_period);
            let exists = records.iter().any(|r| {
                r.info.value.currency == s.currency
                    && r.info.value.value == value
                    && r.info.withdraw_from == from
            });
            if !exists {
                out.push((value, from));
            }
        }
    }
    out
}

/// A new denomination key of `value` for the period from `withdraw_from`.
fn create_key(s: &Schedule, value: u64, withdraw_from: u64, now: u64) -> Result<NewKey, KeyError> {
    let secret = blind_rsa::generate_key(s.rsa_bits).map_err(|_| KeyError::Keygen)?;
    let public_key = RsaPublicKeyData::from_key(&secret.to_public_key());
    let withdraw_until = withdraw_from.saturating_add(s.withdraw_period - 1);
    let info = DenominationKey {
        key_id: public_key.key_id(),
        value: Amount::new(s.currency.clone(), value),
        public_key,
        period: withdraw_from / s.withdraw_period,
        withdraw_from,
        withdraw_until,
        deposit_until: withdraw_until.saturating_add(s.deposit_grace),
    };
    tracing::info!(key_id = %info.key_id, value, withdraw_from, "created denomination key");
    Ok(NewKey {
        info,
        secret: pkcs8(&secret)?,
        created_at: now,
    })
}

/// When the key set in force at `now` was issued: the latest creation of
/// a key in it or retirement of one from it. It depends on the stored keys
/// alone, so every node of a cluster signs the very same set.
fn issued_at(records: &[KeyRecord], now: u64) -> u64 {
    records
        .iter()
        .map(|r| {
            if r.info.deposit_until < now {
                r.info.deposit_until.saturating_add(1)
            } else {
                r.created_at
            }
        })
        .max()
        .unwrap_or(now)
}

/// A private key as PKCS#8 DER.
fn pkcs8(key: &RsaPrivateKey) -> Result<vault::Secret, KeyError> {
    let doc = key
        .to_pkcs8_der()
        .map_err(|e| KeyError::Config(format!("encoding a private key: {e}")))?;
    Ok(Zeroizing::new(doc.as_bytes().to_vec()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schedule() -> Schedule {
        Schedule {
            bank_id: "b".into(),
            currency: Currency::new("DEMO").expect("c"),
            max_exp: 2,
            rsa_bits: 2048,
            withdraw_period: 100,
            deposit_grace: 50,
            signer: crate::signer::SignerKind::Rust,
        }
    }

    fn files(dir: &std::path::Path) -> Arc<dyn KeyVault> {
        Arc::new(files::FileVault::open(dir, 100).expect("vault"))
    }

    #[test]
    fn keys_persist_rotate_and_retire() {
        let dir = tempfile::tempdir().expect("tmp");
        let k = MintKeys::open(files(dir.path()), schedule(), 1000).expect("open");
        let first = k.current();
        assert_eq!(
            first.active.len(),
            6,
            "3 denominations x (current + next period)"
        );
        let pinned = k.master.public();
        ecash_core::VerifiedKeySet::verify(&first.signed, &pinned).expect("signed set verifies");

        // Restart: same master key, same denomination keys.
        drop(k);
        let k = MintKeys::open(files(dir.path()), schedule(), 1000).expect("reopen");
        assert_eq!(
            k.current().signed_json,
            first.signed_json,
            "the same keys give the very same signed set"
        );
        assert_eq!(k.master.public(), pinned);
        let mut a: Vec<_> = first.active.keys().collect();
        let again = k.current();
        let mut b: Vec<_> = again.active.keys().collect();
        a.sort();
        b.sort();
        assert_eq!(a, b);

        // Past the first period's deposit window: its keys are retired and their secrets deleted.
        assert!(k.rotate(1150).expect("rotate"));
        let later = k.current();
        assert_eq!(later.expired.len(), 3);
        for id in later.expired.keys() {
            assert!(
                !dir.path()
                    .join("keys/denominations")
                    .join(format!("{}.der", id.to_b64()))
                    .exists()
            );
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join("keys/master.key"))
                .expect("meta")
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
}
