//! The portable backend: `ecash-core`'s RFC 9474 BlindSign on the `rsa` crate.

use ecash_core::blind_rsa::{self, BlindRsaError};
use ecash_core::rsa::PrivateKey as RsaPrivateKey;

use super::BlindSigner;

/// Signs with pure Rust.
pub struct RustSigner {
    key: RsaPrivateKey,
}

impl RustSigner {
    /// A signer for `key`.
    pub fn new(key: RsaPrivateKey) -> Self {
        Self { key }
    }
}

impl BlindSigner for RustSigner {
    fn name(&self) -> &'static str {
        "rust"
    }

    fn blind_sign(&self, blinded_msg: &[u8]) -> Result<Vec<u8>, BlindRsaError> {
        blind_rsa::blind_sign(&self.key, blinded_msg)
    }

    fn verify_coin(&self, coin: &ecash_core::Coin) -> Result<(), BlindRsaError> {
        coin.verify(self.key.as_public_key())
    }
}

/// Unwraps envelope keys with pure Rust.
pub struct RustEnvelopeKey {
    key: RsaPrivateKey,
}

impl RustEnvelopeKey {
    /// For the bank's encryption key.
    pub fn new(key: RsaPrivateKey) -> Self {
        Self { key }
    }
}

impl super::EnvelopeKey for RustEnvelopeKey {
    fn unwrap_key(
        &self,
        wrapped: &[u8],
    ) -> Result<zeroize::Zeroizing<Vec<u8>>, ecash_core::envelope::EnvelopeError> {
        ecash_core::envelope::unwrap_key(&self.key, wrapped)
    }
}
