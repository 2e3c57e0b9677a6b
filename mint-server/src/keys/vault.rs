//! Where the mint's key material lives, behind one trait: files in the data
//! dir for a mint on one machine ([`super::files::FileVault`]), or rows in
//! the PostgreSQL database every node of a cluster shares, each private key
//! sealed under a key-encryption key ([`Kek`]) that every node is given.

use std::sync::Arc;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use ecash_core::{B32, DenominationKey};
use zeroize::Zeroizing;

use super::KeyError;

/// Secret bytes (a private key's DER, the master seed), wiped when dropped.
pub type Secret = Zeroizing<Vec<u8>>;

/// Makes a named secret (`master`, `encryption`) that does not exist yet.
pub type Maker = Arc<dyn Fn(&str) -> Result<Secret, KeyError> + Send + Sync>;

/// Given the keys stored (seen under the vault's creation lock), makes the
/// keys missing from them.
pub type Planner = Arc<dyn Fn(&[KeyRecord]) -> Result<Vec<NewKey>, KeyError> + Send + Sync>;

/// A denomination key as stored: its public record, when it was made, and
/// whether its private half is still kept.
#[derive(Debug, Clone)]
pub struct KeyRecord {
    /// The public record, as in the key set.
    pub info: DenominationKey,
    /// Unix seconds it was made (the signed key set's `issued_at` is the
    /// latest of these and of retirements, so every node signs the same set).
    pub created_at: u64,
    /// Whether the private key is still stored (deleted once retired).
    pub has_secret: bool,
}

/// A denomination key made, to store.
pub struct NewKey {
    /// Its public record.
    pub info: DenominationKey,
    /// Its private key, PKCS#8 DER.
    pub secret: Secret,
    /// Unix seconds.
    pub created_at: u64,
}

/// Keeps the mint's keys. Every method is atomic; creation happens once
/// however many nodes share the vault.
pub trait KeyVault: Send + Sync {
    /// The secret `name`, made with `make` and stored if there is none: of
    /// all the nodes that ask at once, one makes it and all get the same.
    fn singleton(&self, name: &str, make: Maker) -> Result<Secret, KeyError>;

    /// Every denomination key's record.
    fn records(&self) -> Result<Vec<KeyRecord>, KeyError>;

    /// The private key (PKCS#8 DER) of `key_id`, or `None` once retired.
    fn secret(&self, key_id: &B32) -> Result<Option<Secret>, KeyError>;

    /// Runs `plan` on the records stored, under a lock only one node holds
    /// at a time, stores what it made, and returns every record after.
    fn create(&self, plan: Planner) -> Result<Vec<KeyRecord>, KeyError>;

    /// Deletes the private half of `key_id` (past its deposit window).
    fn retire(&self, key_id: &B32) -> Result<(), KeyError>;
}

/// The key-encryption key: AES-256-GCM, sealing each private key with the
/// name it is stored under as associated data, so that a sealed key copied
/// into another row does not open there.
pub struct Kek(Aes256Gcm);

/// Version byte of a sealed secret, for a later change of cipher.
const SEALED_V1: u8 = 1;

/// What the associated data begins with: a domain tag of our own.
const AAD_TAG: &[u8] = b"ecash-mint-key-v1:";

impl Kek {
    /// The key from its 32 bytes.
    pub fn new(bytes: &[u8; 32]) -> Self {
        Self(Aes256Gcm::new(bytes.into()))
    }

    /// Reads a KEK file: 32 bytes in base64url (no padding), as
    /// `head -c 32 /dev/urandom | basenc --base64url | tr -d '=\n'` writes.
    /// The file must be readable by its owner alone (mode 0600, as an SSH key).
    pub fn from_file(path: &std::path::Path) -> Result<Self, KeyError> {
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(path)
                .map_err(|source| KeyError::Io {
                    path: path.to_owned(),
                    source,
                })?
                .permissions()
                .mode();
            if mode & 0o077 != 0 {
                return Err(KeyError::Corrupt(
                    path.to_owned(),
                    format!("mode {:o}: others may read it; chmod 600 it", mode & 0o777),
                ));
            }
        }
        let text =
            Zeroizing::new(
                std::fs::read_to_string(path).map_err(|source| KeyError::Io {
                    path: path.to_owned(),
                    source,
                })?,
            );
        let bytes = B32::from_b64(text.trim()).ok_or_else(|| {
            KeyError::Corrupt(
                path.to_owned(),
                "a key-encryption key is 32 bytes in base64url".into(),
            )
        })?;
        let raw = Zeroizing::new(bytes.0);
        Ok(Self::new(&raw))
    }

    fn aad(name: &str) -> Vec<u8> {
        [AAD_TAG, name.as_bytes()].concat()
    }

    /// `secret` sealed for the row `name`: version, 12-byte nonce, ciphertext.
    pub fn seal(&self, name: &str, secret: &[u8]) -> Result<Vec<u8>, KeyError> {
        let mut nonce = [0u8; 12];
        getrandom::fill(&mut nonce).map_err(|_| KeyError::Keygen)?;
        let aad = Self::aad(name);
        let ct = self
            .0
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: secret,
                    aad: &aad,
                },
            )
            .map_err(|_| KeyError::Sealed(name.to_owned()))?;
        Ok([&[SEALED_V1][..], &nonce, &ct].concat())
    }

    /// Opens what [`Self::seal`] sealed for `name`.
    pub fn open(&self, name: &str, sealed: &[u8]) -> Result<Secret, KeyError> {
        let wrong = || KeyError::Sealed(name.to_owned());
        let (version, rest) = sealed.split_first().ok_or_else(wrong)?;
        if *version != SEALED_V1 || rest.len() < 12 + 16 {
            return Err(wrong());
        }
        let (nonce, ct) = rest.split_at(12);
        let aad = Self::aad(name);
        self.0
            .decrypt(Nonce::from_slice(nonce), Payload { msg: ct, aad: &aad })
            .map(Zeroizing::new)
            .map_err(|_| wrong())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_keys_open_only_under_their_kek_and_name() {
        let kek = Kek::new(&[7; 32]);
        let sealed = kek.seal("denomination:abc", b"secret der").expect("seal");
        assert_eq!(
            kek.open("denomination:abc", &sealed)
                .expect("open")
                .as_slice(),
            b"secret der"
        );
        assert!(kek.open("denomination:abd", &sealed).is_err(), "other row");
        assert!(
            Kek::new(&[8; 32])
                .open("denomination:abc", &sealed)
                .is_err()
        );
        let mut flipped = sealed.clone();
        *flipped.last_mut().expect("byte") ^= 1;
        assert!(kek.open("denomination:abc", &flipped).is_err(), "tampered");
        assert!(
            kek.open("denomination:abc", &sealed[..20]).is_err(),
            "short"
        );
        let mut v2 = sealed;
        v2[0] = 2;
        assert!(
            kek.open("denomination:abc", &v2).is_err(),
            "unknown version"
        );
    }

    #[test]
    fn kek_files_hold_32_bytes_of_base64url_for_their_owner_alone() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tmp");
        let write = |name: &str, text: &str, mode: u32| {
            let p = dir.path().join(name);
            std::fs::write(&p, text).expect("w");
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).expect("chmod");
            p
        };
        let key = format!("{}\n", B32::from_array([1; 32]).to_b64());
        assert!(Kek::from_file(&write("kek", &key, 0o600)).is_ok());
        assert!(matches!(
            Kek::from_file(&write("open", &key, 0o644)),
            Err(KeyError::Corrupt(_, m)) if m.contains("chmod 600")
        ));
        let bad = write("bad", "not a key", 0o600);
        assert!(matches!(Kek::from_file(&bad), Err(KeyError::Corrupt(..))));
        assert!(matches!(
            Kek::from_file(&dir.path().join("missing")),
            Err(KeyError::Io { .. })
        ));
    }
}
