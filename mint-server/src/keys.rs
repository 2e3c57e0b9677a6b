//! The mint's keys: master signing key, envelope encryption key, and one
//! RSA key per denomination and key period, kept in the data dir.
//!
//! Layout under `<data-dir>/keys/` (private files mode 0600, never logged):
//! - `master.key`: the Ed25519 master secret (base64url);
//! - `encryption.der`: the RSA-OAEP envelope key (PKCS#8 DER);
//! - `denominations/<key_id>.json`: a key's public record;
//! - `denominations/<key_id>.der`: its private key, deleted once the key is
//!   past `deposit_until` (nothing is accepted after, so nothing is kept).
//!
//! Rotation: time is cut into withdraw periods of `withdraw_period_secs`.
//! For every denomination there is always a key for the current period and
//! one for the next, published ahead so wallets see it before it is needed.

use std::collections::HashMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

use ecash_core::blind_rsa;
use ecash_core::keyset::RsaPublicKeyData;
use ecash_core::rsa::pkcs8::{DecodePrivateKey, EncodePrivateKey};
use ecash_core::rsa::{PrivateKey as RsaPrivateKey, PublicKey as RsaPublicKey};
use ecash_core::{Amount, B32, Currency, DenominationKey, KeySet, Keypair, Signed, SignedKeySet};

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
    /// RSA key generation failed.
    #[error("key generation failed")]
    Keygen,
    /// Configuration cannot produce a key schedule.
    #[error("bad key configuration: {0}")]
    Config(String),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> KeyError + '_ {
    move |source| KeyError::Io {
        path: path.to_owned(),
        source,
    }
}

/// Writes a file atomically (temp file, fsync, rename); `secret` files get mode 0600.
fn write_file(path: &Path, data: &[u8], secret: bool) -> Result<(), KeyError> {
    let tmp = path.with_extension("tmp");
    let mut opts = fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(if secret { 0o600 } else { 0o644 });
    }
    let mut f = opts.open(&tmp).map_err(io(&tmp))?;
    f.write_all(data).map_err(io(&tmp))?;
    f.sync_all().map_err(io(&tmp))?;
    fs::rename(&tmp, path).map_err(io(path))
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
    /// Keys past `deposit_until`, kept public-only to name them in errors.
    pub expired: HashMap<B32, DenominationKey>,
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

/// All of the mint's keys.
pub struct MintKeys {
    /// Signs the key set, deposit acks and proofs.
    pub master: Keypair,
    /// Opens payment envelopes.
    pub encryption: RsaPrivateKey,
    /// Unwraps envelope keys with it (the configured backend).
    pub envelope: Arc<dyn crate::signer::EnvelopeKey>,
    dir: PathBuf,
    schedule: Schedule,
    state: RwLock<Arc<KeyState>>,
    /// Held while a rotation runs: two at once (the rotation task and a
    /// caller of [`MintKeys::rotate`]) would each create the keys missing,
    /// and publish two keys of one value and period.
    rotating: Mutex<()>,
}

impl MintKeys {
    /// Loads the keys from `data_dir/keys`, creating what is missing, and
    /// brings the denomination keys up to date for `now`.
    pub fn open(data_dir: &Path, schedule: Schedule, now: u64) -> Result<Self, KeyError> {
        if schedule.withdraw_period == 0 {
            return Err(KeyError::Config("withdraw period must be positive".into()));
        }
        let dir = data_dir.join("keys");
        fs::create_dir_all(dir.join("denominations")).map_err(io(&dir))?;

        let master_path = dir.join("master.key");
        let master = if master_path.exists() {
            let text = fs::read_to_string(&master_path).map_err(io(&master_path))?;
            let secret = B32::from_b64(text.trim()).ok_or_else(|| {
                KeyError::Corrupt(master_path.clone(), "not 32 bytes of base64url".into())
            })?;
            Keypair::from_secret_bytes(&secret.0)
        } else {
            let kp = Keypair::generate().map_err(|_| KeyError::Keygen)?;
            write_file(
                &master_path,
                B32::from_array(kp.secret_bytes()).to_b64().as_bytes(),
                true,
            )?;
            tracing::info!(fingerprint = %kp.public().fingerprint(), "created master key");
            kp
        };

        let enc_path = dir.join("encryption.der");
        let encryption = if enc_path.exists() {
            read_rsa(&enc_path)?
        } else {
            let k = blind_rsa::generate_key(2048).map_err(|_| KeyError::Keygen)?;
            write_rsa(&enc_path, &k)?;
            k
        };

        let envelope = crate::signer::envelope_key(schedule.signer, &encryption)
            .map_err(|e| KeyError::Corrupt(enc_path.clone(), e))?;

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
                },
                &master,
            ),
            signed_json: String::new(),
            active: HashMap::new(),
            expired: HashMap::new(),
        });
        let keys = Self {
            master,
            encryption,
            envelope,
            dir,
            schedule,
            state: RwLock::new(placeholder),
            rotating: Mutex::new(()),
        };
        // At start only what wallets need now (current and next period):
        // the first rotation tick creates the period after.
        keys.rotate_ahead(now, 1)?;
        Ok(keys)
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
        let mut records = load_records(&self.dir.join("denominations"), s.withdraw_period)?;
        records.retain(|(info, _)| info.value.currency == s.currency);
        self.check_periods(&records, now)?;
        let created = self.create_missing(&mut records, now, ahead)?;
        let old = self.current();
        let (active, expired) = self.load_live(records, &old, now)?;
        let same_keys =
            old.active.len() == active.len() && active.keys().all(|k| old.active.contains_key(k));
        if same_keys && !created && !old.signed_json.is_empty() {
            return Ok(false);
        }
        self.publish(active, expired, now)?;
        Ok(true)
    }

    /// The signed set ties each key's window to its period index and the
    /// period length: keys made with another length cannot be published.
    fn check_periods(
        &self,
        records: &[(DenominationKey, PathBuf)],
        now: u64,
    ) -> Result<(), KeyError> {
        let period = self.schedule.withdraw_period;
        let Some((info, _)) = records.iter().find(|(info, _)| {
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

    /// Creates the keys missing from `records`; whether it made any.
    ///
    /// Wallets require the next period's keys in every set they fetch.
    /// Rotations create them a whole period early (two ahead), so a late
    /// tick or slow key generation at the turn of a period never leaves a
    /// set without them; and any rotation (the first at start, too) creates
    /// the period after next when it begins within two ticks. Nearest
    /// periods first.
    fn create_missing(
        &self,
        records: &mut Vec<(DenominationKey, PathBuf)>,
        now: u64,
        ahead: u64,
    ) -> Result<bool, KeyError> {
        let s = &self.schedule;
        let period = now / s.withdraw_period;
        let soon =
            (now + s.withdraw_period + 2 * rotation_tick(s.withdraw_period)) / s.withdraw_period;
        let mut created = false;
        for p in period..=soon.max(period + ahead.max(1)) {
            for exp in 0..=s.max_exp {
                let value = 1u64 << exp;
                let from = p.saturating_mul(s.withdraw_period);
                let exists = records
                    .iter()
                    .any(|(info, _)| info.value.value == value && info.withdraw_from == from);
                if !exists {
                    records.push(self.create_key(value, from)?);
                    created = true;
                }
            }
        }
        Ok(created)
    }

    /// The keys still in their window (loaded, or kept from `old`) and the
    /// expired ones (their private keys deleted).
    fn load_live(
        &self,
        records: Vec<(DenominationKey, PathBuf)>,
        old: &KeyState,
        now: u64,
    ) -> Result<(Active, HashMap<B32, DenominationKey>), KeyError> {
        let mut active = HashMap::new();
        let mut expired = HashMap::new();
        for (info, secret_path) in records {
            if info.deposit_until < now {
                // Past its window: the private key has no further use.
                if secret_path.exists() {
                    fs::remove_file(&secret_path).map_err(io(&secret_path))?;
                    tracing::info!(key_id = %info.key_id, "retired denomination key");
                }
                expired.insert(info.key_id, info);
            } else if let Some(k) = old.active.get(&info.key_id) {
                // Loaded before: keep it (and its signer) rather than parse it again.
                active.insert(info.key_id, k.clone());
            } else {
                active.insert(info.key_id, Arc::new(self.load_key(info, &secret_path)?));
            }
        }
        Ok((active, expired))
    }

    /// A denomination key's private half, checked against its record.
    fn load_key(&self, info: DenominationKey, secret_path: &Path) -> Result<DenomKey, KeyError> {
        let secret = read_rsa(secret_path)?;
        let public = secret.to_public_key();
        if RsaPublicKeyData::from_key(&public).key_id() != info.key_id {
            return Err(KeyError::Corrupt(
                secret_path.to_path_buf(),
                "private key does not match its record".into(),
            ));
        }
        let signer = crate::signer::build(self.schedule.signer, &secret)
            .map_err(|e| KeyError::Corrupt(secret_path.to_path_buf(), e))?;
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
        expired: HashMap<B32, DenominationKey>,
        now: u64,
    ) -> Result<(), KeyError> {
        let s = &self.schedule;
        let mut denominations: Vec<DenominationKey> =
            active.values().map(|k| k.info.clone()).collect();
        denominations.sort_by_key(|d| (d.value.value, d.withdraw_from));
        let set = KeySet {
            bank_id: s.bank_id.clone(),
            currency: s.currency.clone(),
            master_public_key: self.master.public(),
            encryption_key: RsaPublicKeyData::from_key(&self.encryption.to_public_key()),
            period_secs: s.withdraw_period,
            denominations,
            issued_at: now,
        };
        let signed = Signed::sign(set, &self.master);
        let signed_json =
            serde_json::to_string(&signed).map_err(|e| KeyError::Config(e.to_string()))?;
        let state = Arc::new(KeyState {
            signed,
            signed_json,
            active,
            expired,
        });
        match self.state.write() {
            Ok(mut g) => *g = state,
            Err(poisoned) => *poisoned.into_inner() = state,
        }
        Ok(())
    }

    fn create_key(
        &self,
        value: u64,
        withdraw_from: u64,
    ) -> Result<(DenominationKey, PathBuf), KeyError> {
        let s = &self.schedule;
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
        let dir = self.dir.join("denominations");
        let name = info.key_id.to_b64();
        let secret_path = dir.join(format!("{name}.der"));
        write_rsa(&secret_path, &secret)?;
        let json = serde_json::to_vec_pretty(&info).map_err(|e| KeyError::Config(e.to_string()))?;
        // The record last: a key without its record is ignored and regenerated.
        write_file(&dir.join(format!("{name}.json")), &json, false)?;
        tracing::info!(key_id = %info.key_id, value, withdraw_from, "created denomination key");
        Ok((info, secret_path))
    }
}

fn read_rsa(path: &Path) -> Result<RsaPrivateKey, KeyError> {
    let der = zeroize::Zeroizing::new(fs::read(path).map_err(io(path))?);
    RsaPrivateKey::from_pkcs8_der(&der)
        .map_err(|e| KeyError::Corrupt(path.to_owned(), e.to_string()))
}

fn write_rsa(path: &Path, key: &RsaPrivateKey) -> Result<(), KeyError> {
    let doc = key
        .to_pkcs8_der()
        .map_err(|e| KeyError::Corrupt(path.to_owned(), e.to_string()))?;
    write_file(path, doc.as_bytes(), true)
}

/// Every `<key_id>.json` record with the path of its private key. Records
/// written before keys carried a period index get it from their
/// `withdraw_from` and `period_secs`, and are rewritten.
fn load_records(dir: &Path, period_secs: u64) -> Result<Vec<(DenominationKey, PathBuf)>, KeyError> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir).map_err(io(dir))? {
        let path = entry.map_err(io(dir))?.path();
        if path.extension().and_then(|e| e.to_str()) != Some("json") {
            continue;
        }
        let bytes = fs::read(&path).map_err(io(&path))?;
        let corrupt = |e: serde_json::Error| KeyError::Corrupt(path.clone(), e.to_string());
        let mut value: serde_json::Value = serde_json::from_slice(&bytes).map_err(corrupt)?;
        let upgrade = value.get("period").is_none();
        if upgrade {
            let from = value
                .get("withdraw_from")
                .and_then(serde_json::Value::as_u64)
                .ok_or_else(|| KeyError::Corrupt(path.clone(), "no withdraw_from".into()))?;
            value["period"] = serde_json::Value::from(from / period_secs.max(1));
        }
        let info: DenominationKey = serde_json::from_value(value).map_err(corrupt)?;
        if upgrade {
            let json =
                serde_json::to_vec_pretty(&info).map_err(|e| KeyError::Config(e.to_string()))?;
            write_file(&path, &json, false)?;
        }
        out.push((info, path.with_extension("der")));
    }
    Ok(out)
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

    #[test]
    fn keys_persist_rotate_and_retire() {
        let dir = tempfile::tempdir().expect("tmp");
        let k = MintKeys::open(dir.path(), schedule(), 1000).expect("open");
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
        let k = MintKeys::open(dir.path(), schedule(), 1000).expect("reopen");
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
            let mode = fs::metadata(dir.path().join("keys/master.key"))
                .expect("meta")
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
}
