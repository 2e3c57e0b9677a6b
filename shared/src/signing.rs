//! Signatures of accounts, the mint master key and bank statements.
//!
//! Ed25519 (`ed25519-dalek`, strict verification) rather than RSA-PSS:
//! 32-byte keys and 64-byte signatures keep requests small, verification is
//! ~20x cheaper than RSA-2048 signing, and signing is deterministic, so a
//! browser wallet needs no randomness to sign and a signature never depends
//! on a weak RNG. Blind signatures stay RSA (RFC 9474); that is the only
//! place RSA's multiplicative structure is wanted.

use ed25519_dalek::{Signer, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};
use zeroize::Zeroize;

use crate::bytes::{B32, B64};
use crate::canonical::Canonical;

/// A signature failed to verify, or a public key is malformed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// The bytes are not a valid Ed25519 public key.
    #[error("malformed public key")]
    BadPublicKey,
    /// The signature does not verify under the key.
    #[error("signature does not verify")]
    BadSignature,
}

/// An Ed25519 public key, base64url in JSON.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(transparent)]
pub struct PublicKey(pub B32);

impl PublicKey {
    /// Verifies `sig` over the canonical bytes of `msg`.
    pub fn verify<T: Canonical>(&self, msg: &T, sig: &Signature) -> Result<(), SignatureError> {
        self.verify_raw(&msg.canonical_bytes(), sig)
    }

    /// Verifies `sig` over raw bytes (strict: refuses small-order keys and malleable signatures).
    pub fn verify_raw(&self, msg: &[u8], sig: &Signature) -> Result<(), SignatureError> {
        let vk = VerifyingKey::from_bytes(&self.0.0).map_err(|_| SignatureError::BadPublicKey)?;
        let sig = ed25519_dalek::Signature::from_bytes(&sig.0.0);
        vk.verify_strict(msg, &sig)
            .map_err(|_| SignatureError::BadSignature)
    }

    /// Whether the bytes are a valid Ed25519 public key.
    pub fn is_valid(&self) -> bool {
        VerifyingKey::from_bytes(&self.0.0).is_ok()
    }

    /// Short fingerprint for people to compare: first 8 bytes of SHA-256, hex.
    pub fn fingerprint(&self) -> String {
        let h = crate::canonical::sha256(&self.0.0);
        h[..8]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<Vec<_>>()
            .join(":")
    }
}

/// An Ed25519 signature, base64url in JSON.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(transparent)]
pub struct Signature(pub B64);

/// An Ed25519 key pair. The secret is zeroized on drop and never printed.
pub struct Keypair(SigningKey);

impl Keypair {
    /// A fresh key pair from the OS random number generator.
    pub fn generate() -> Result<Self, getrandom::Error> {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed)?;
        let kp = Self::from_secret_bytes(&seed);
        seed.zeroize();
        Ok(kp)
    }

    /// The key pair of a 32-byte secret (for key files and seed derivation).
    pub fn from_secret_bytes(secret: &[u8; 32]) -> Self {
        Self(SigningKey::from_bytes(secret))
    }

    /// The 32-byte secret, for writing a key file.
    pub fn secret_bytes(&self) -> [u8; 32] {
        self.0.to_bytes()
    }

    /// The public key.
    pub fn public(&self) -> PublicKey {
        PublicKey(B32::from_array(self.0.verifying_key().to_bytes()))
    }

    /// Signs the canonical bytes of `msg`.
    pub fn sign<T: Canonical>(&self, msg: &T) -> Signature {
        self.sign_raw(&msg.canonical_bytes())
    }

    /// Signs raw bytes.
    pub fn sign_raw(&self, msg: &[u8]) -> Signature {
        Signature(B64::from_array(self.0.sign(msg).to_bytes()))
    }
}

impl std::fmt::Debug for Keypair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Keypair(public={:?})", self.public())
    }
}

/// A message together with its signer's signature over its canonical bytes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "schema", schemars(rename = "Signed{T}"))]
pub struct Signed<T> {
    /// The signed message.
    pub body: T,
    /// Signature over `body.canonical_bytes()`.
    pub signature: Signature,
}

impl<T: Canonical> Signed<T> {
    /// Signs `body` with `key`.
    pub fn sign(body: T, key: &Keypair) -> Self {
        let signature = key.sign(&body);
        Self { body, signature }
    }

    /// Checks the signature against `key`.
    pub fn verify(&self, key: &PublicKey) -> Result<&T, SignatureError> {
        key.verify(&self.body, &self.signature)?;
        Ok(&self.body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::canonical::Encoder;

    struct Msg(u64);
    impl Canonical for Msg {
        const DOMAIN: &'static str = "test-msg";
        fn encode_fields(&self, e: &mut Encoder) {
            e.u64(self.0);
        }
    }

    #[test]
    fn sign_verify_and_refusals() {
        let k = Keypair::generate().expect("rng");
        let other = Keypair::generate().expect("rng");
        let s = Signed::sign(Msg(5), &k);
        assert!(s.verify(&k.public()).is_ok());
        assert_eq!(
            s.verify(&other.public()).err(),
            Some(SignatureError::BadSignature)
        );
        let tampered = Signed {
            body: Msg(6),
            signature: s.signature,
        };
        assert!(tampered.verify(&k.public()).is_err());
        let mut bad_sig = s.signature;
        bad_sig.0.0[10] ^= 1;
        assert!(k.public().verify(&Msg(5), &bad_sig).is_err());
    }

    #[test]
    fn secret_bytes_round_trip_and_debug_hides_secret() {
        let k = Keypair::generate().expect("rng");
        let k2 = Keypair::from_secret_bytes(&k.secret_bytes());
        assert_eq!(k.public(), k2.public());
        let dbg = format!("{k:?}");
        assert!(!dbg.contains(&crate::bytes::b64_encode(&k.secret_bytes())));
    }
}
