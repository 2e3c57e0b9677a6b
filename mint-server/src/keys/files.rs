//! Keys in the data dir, for a mint on one machine.
//!
//! Layout under `<data-dir>/keys/` (private files mode 0600, never logged):
//! - `master.key`: the Ed25519 master secret (base64url);
//! - `encryption.der`: the RSA-OAEP envelope key (PKCS#8 DER);
//! - `denominations/<key_id>.json`: a key's public record;
//! - `denominations/<key_id>.der`: its private key, deleted once the key is
//!   past `deposit_until` (nothing is accepted after, so nothing is kept).
//!
//! One process uses a data dir at a time; creation is serialized by the
//! caller's rotation lock.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use ecash_core::{B32, DenominationKey};
use zeroize::Zeroizing;

use super::KeyError;
use super::vault::{KeyRecord, KeyVault, Maker, Planner, Secret};

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

/// The key files of one data dir.
pub struct FileVault {
    dir: PathBuf,
    period_secs: u64,
}

impl FileVault {
    /// Opens (creating) `data_dir/keys`; `period_secs` upgrades records
    /// written before keys carried a period index.
    pub fn open(data_dir: &Path, period_secs: u64) -> Result<Self, KeyError> {
        let dir = data_dir.join("keys");
        fs::create_dir_all(dir.join("denominations")).map_err(io(&dir))?;
        Ok(Self { dir, period_secs })
    }

    fn denominations(&self) -> PathBuf {
        self.dir.join("denominations")
    }

    fn secret_path(&self, key_id: &B32) -> PathBuf {
        self.denominations()
            .join(format!("{}.der", key_id.to_b64()))
    }
}

impl KeyVault for FileVault {
    fn singleton(&self, name: &str, make: Maker) -> Result<Secret, KeyError> {
        // The master seed is kept as text, as it always was.
        let (path, text) = match name {
            "master" => (self.dir.join("master.key"), true),
            other => (self.dir.join(format!("{other}.der")), false),
        };
        if path.exists() {
            let bytes = Zeroizing::new(fs::read(&path).map_err(io(&path))?);
            if !text {
                return Ok(bytes);
            }
            let seed = std::str::from_utf8(&bytes)
                .ok()
                .and_then(|t| B32::from_b64(t.trim()))
                .ok_or_else(|| {
                    KeyError::Corrupt(path.clone(), "not 32 bytes of base64url".into())
                })?;
            return Ok(Zeroizing::new(seed.0.to_vec()));
        }
        let secret = make(name)?;
        if text {
            let seed = <[u8; 32]>::try_from(secret.as_slice())
                .map_err(|_| KeyError::Config("a master seed is 32 bytes".into()))?;
            let encoded = Zeroizing::new(B32::from_array(seed).to_b64());
            write_file(&path, encoded.as_bytes(), true)?;
        } else {
            write_file(&path, &secret, true)?;
        }
        Ok(secret)
    }

    fn records(&self) -> Result<Vec<KeyRecord>, KeyError> {
        let dir = self.denominations();
        let mut out = Vec::new();
        for entry in fs::read_dir(&dir).map_err(io(&dir))? {
            let path = entry.map_err(io(&dir))?.path();
            if path.extension().and_then(|e| e.to_str()) != Some("json") {
                continue;
            }
            let (info, created) = read_record(&path, self.period_secs)?;
            // Records from before they kept it: the file's time.
            let created_at = created.unwrap_or_else(|| {
                fs::metadata(&path)
                    .and_then(|m| m.modified())
                    .ok()
                    .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                    .map_or(0, |d| d.as_secs())
            });
            out.push(KeyRecord {
                has_secret: path.with_extension("der").exists(),
                info,
                created_at,
            });
        }
        Ok(out)
    }

    fn secret(&self, key_id: &B32) -> Result<Option<Secret>, KeyError> {
        let path = self.secret_path(key_id);
        match fs::read(&path) {
            Ok(der) => Ok(Some(Zeroizing::new(der))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io(&path)(e)),
        }
    }

    fn create(&self, plan: Planner) -> Result<Vec<KeyRecord>, KeyError> {
        let mut records = self.records()?;
        for key in plan(&records)? {
            let name = key.info.key_id.to_b64();
            let dir = self.denominations();
            write_file(&dir.join(format!("{name}.der")), &key.secret, true)?;
            let json = record_json(&key.info, key.created_at)?;
            // The record last: a key without its record is ignored and made again.
            write_file(&dir.join(format!("{name}.json")), &json, false)?;
            records.push(KeyRecord {
                info: key.info,
                created_at: key.created_at,
                has_secret: true,
            });
        }
        Ok(records)
    }

    fn retire(&self, key_id: &B32) -> Result<(), KeyError> {
        let path = self.secret_path(key_id);
        match fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io(&path)(e)),
        }
    }
}

/// A key's record as its file holds it: the public record, and when it was made.
fn record_json(info: &DenominationKey, created_at: u64) -> Result<Vec<u8>, KeyError> {
    let mut value = serde_json::to_value(info).map_err(|e| KeyError::Config(e.to_string()))?;
    value["created_at"] = serde_json::Value::from(created_at);
    serde_json::to_vec_pretty(&value).map_err(|e| KeyError::Config(e.to_string()))
}

/// A `<key_id>.json` record, and when it was made if it says. One written
/// before keys carried a period index gets it from its `withdraw_from` and
/// `period_secs`, and is rewritten.
fn read_record(path: &Path, period_secs: u64) -> Result<(DenominationKey, Option<u64>), KeyError> {
    let bytes = fs::read(path).map_err(io(path))?;
    let corrupt = |e: serde_json::Error| KeyError::Corrupt(path.to_owned(), e.to_string());
    let mut value: serde_json::Value = serde_json::from_slice(&bytes).map_err(corrupt)?;
    let created_at = value
        .as_object_mut()
        .and_then(|o| o.remove("created_at"))
        .and_then(|v| v.as_u64());
    let upgrade = value.get("period").is_none();
    if upgrade {
        let from = value
            .get("withdraw_from")
            .and_then(serde_json::Value::as_u64)
            .ok_or_else(|| KeyError::Corrupt(path.to_owned(), "no withdraw_from".into()))?;
        value["period"] = serde_json::Value::from(from / period_secs.max(1));
    }
    let info: DenominationKey = serde_json::from_value(value).map_err(corrupt)?;
    if upgrade {
        let json = match created_at {
            Some(at) => record_json(&info, at)?,
            None => {
                serde_json::to_vec_pretty(&info).map_err(|e| KeyError::Config(e.to_string()))?
            }
        };
        write_file(path, &json, false)?;
    }
    Ok((info, created_at))
}
