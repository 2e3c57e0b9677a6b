//! Sealed envelope to the bank: RSA-OAEP-SHA256 wraps a fresh AES-256-GCM
//! key; the payload is encrypted under it with `H(payment_info)` as
//! associated data.
//!
//! The merchant carries the envelope but can neither read the coins nor move
//! them into another payment: the bank opens it only with the same
//! `payment_info` hash, and GCM refuses any other. The bank's encryption key
//! is its own RSA key (never a signing key) and travels in the signed key set.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use rsa::{PrivateKey as RsaPrivateKey, PublicKey as RsaPublicKey};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use zeroize::Zeroize;

use crate::bytes::{Bytes, Fixed};

/// An envelope only the bank can open.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct SealedEnvelope {
    /// The AES-256 key, encrypted with RSA-OAEP-SHA256 to the bank's encryption key.
    pub wrapped_key: Bytes,
    /// The 96-bit GCM nonce.
    pub nonce: Fixed<12>,
    /// AES-256-GCM ciphertext with its 16-byte tag.
    pub ciphertext: Bytes,
}

/// Sealing or opening failed. Opening failures are one variant on purpose: an
/// attacker learns nothing about which part was wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum EnvelopeError {
    /// The random number generator or the key wrap failed while sealing.
    #[error("could not seal the envelope")]
    Seal,
    /// Wrong key, tampered envelope, or different associated data.
    #[error("envelope cannot be opened: tampered, or not bound to this payment")]
    Open,
}

/// Encrypts `plaintext` to the bank, bound to `aad`.
pub fn seal(
    bank: &RsaPublicKey,
    plaintext: &[u8],
    aad: &[u8],
) -> Result<SealedEnvelope, EnvelopeError> {
    let mut key = [0u8; 32];
    let mut nonce = [0u8; 12];
    getrandom::fill(&mut key).map_err(|_| EnvelopeError::Seal)?;
    getrandom::fill(&mut nonce).map_err(|_| EnvelopeError::Seal)?;
    let wrapped = bank
        .oaep_encrypt_with_rng::<Sha256, _>(&mut getrandom::SysRng, &key)
        .map_err(|_| EnvelopeError::Seal);
    let cipher = Aes256Gcm::new_from_slice(&key).map_err(|_| EnvelopeError::Seal);
    key.zeroize();
    let ciphertext = cipher?
        .encrypt(
            Nonce::from_slice(&nonce),
            Payload {
                msg: plaintext,
                aad,
            },
        )
        .map_err(|_| EnvelopeError::Seal)?;
    Ok(SealedEnvelope {
        wrapped_key: Bytes(wrapped?),
        nonce: Fixed(nonce),
        ciphertext: Bytes(ciphertext),
    })
}

/// Refuses a wrapped key that is not exactly `modulus_len` bytes. RSA
/// implementations differ on shorter inputs (OpenSSL pads them), so without
/// this one envelope would have several accepted byte forms.
pub fn check_wrapped_len(wrapped: &[u8], modulus_len: usize) -> Result<(), EnvelopeError> {
    if wrapped.len() == modulus_len {
        Ok(())
    } else {
        Err(EnvelopeError::Open)
    }
}

/// Decrypts an envelope with the bank's key; refuses any change to the
/// wrapped key, nonce, ciphertext or `aad`.
pub fn open(
    bank: &RsaPrivateKey,
    env: &SealedEnvelope,
    aad: &[u8],
) -> Result<Vec<u8>, EnvelopeError> {
    let key = unwrap_key(bank, &env.wrapped_key.0)?;
    open_with_key(&key, env, aad)
}

/// The first half of [`open`]: the AES key, unwrapped with the bank's key
/// (pure Rust); a wrapped key of any length but the modulus's is refused
/// before any private-key work.
pub fn unwrap_key(
    bank: &RsaPrivateKey,
    wrapped: &[u8],
) -> Result<zeroize::Zeroizing<Vec<u8>>, EnvelopeError> {
    check_wrapped_len(wrapped, rsa::traits::PublicKeyParts::size(bank))?;
    bank.oaep_decrypt_with_rng::<Sha256, _>(&mut getrandom::SysRng, wrapped)
        .map(zeroize::Zeroizing::new)
        .map_err(|_| EnvelopeError::Open)
}

/// The second half of [`open`]: decrypts the payload with the unwrapped
/// AES key (for banks that unwrap the key with another RSA implementation).
pub fn open_with_key(
    key: &[u8],
    env: &SealedEnvelope,
    aad: &[u8],
) -> Result<Vec<u8>, EnvelopeError> {
    let cipher = Aes256Gcm::new_from_slice(key).map_err(|_| EnvelopeError::Open)?;
    cipher
        .decrypt(
            Nonce::from_slice(&env.nonce.0),
            Payload {
                msg: &env.ciphertext.0,
                aad,
            },
        )
        .map_err(|_| EnvelopeError::Open)
}
