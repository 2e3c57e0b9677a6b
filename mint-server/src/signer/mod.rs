//! Blind-signing backends behind one trait.
//!
//! RSA blind signing is deterministic (`s = m^d mod n`), so every backend
//! must give the very same bytes for the same key and message; a test checks
//! it. Each backend refuses `m >= n` and wrong lengths, and checks
//! `s^e mod n == m` before it answers (RFC 9474 §4.3), so a fault in the
//! private operation (e.g. a CRT fault that would leak a factor) never leaves
//! the mint.

mod openssl_backend;
mod rust_backend;

use std::sync::Arc;

use ecash_core::Coin;
use ecash_core::blind_rsa::BlindRsaError;
use ecash_core::rsa::PrivateKey as RsaPrivateKey;

pub use openssl_backend::OpensslSigner;
pub use rust_backend::RustSigner;

/// Which implementation signs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum SignerKind {
    /// Pure Rust (`rsa` crate): portable, about 650 signatures/s per core on RSA-2048.
    Rust,
    /// OpenSSL's RSA (assembly, CRT and blinding): several times faster.
    Openssl,
}

/// The RSA private operation of RFC 9474 BlindSign for one denomination key.
pub trait BlindSigner: Send + Sync {
    /// Backend name (for logs and benchmarks).
    fn name(&self) -> &'static str;
    /// `blind_sig = blinded_msg^d mod n`, checked against `e` before it is returned.
    fn blind_sign(&self, blinded_msg: &[u8]) -> Result<Vec<u8>, BlindRsaError>;
    /// RFC 9474 Verify of a coin's signature under this key.
    fn verify_coin(&self, coin: &Coin) -> Result<(), BlindRsaError>;
}

/// Unwraps the AES key of a payment envelope (RSA-OAEP-SHA256 with the bank's encryption key).
pub trait EnvelopeKey: Send + Sync {
    /// The 32-byte AES key, or an error for any tampering (one error on purpose).
    fn unwrap_key(
        &self,
        wrapped: &[u8],
    ) -> Result<zeroize::Zeroizing<Vec<u8>>, ecash_core::envelope::EnvelopeError>;
}

/// An envelope key of `kind` for `key`.
pub fn envelope_key(kind: SignerKind, key: &RsaPrivateKey) -> Result<Arc<dyn EnvelopeKey>, String> {
    Ok(match kind {
        SignerKind::Rust => Arc::new(rust_backend::RustEnvelopeKey::new(key.clone())),
        SignerKind::Openssl => Arc::new(openssl_backend::OpensslEnvelopeKey::new(key)?),
    })
}

/// A signer of `kind` for `key`.
pub fn build(kind: SignerKind, key: &RsaPrivateKey) -> Result<Arc<dyn BlindSigner>, String> {
    Ok(match kind {
        SignerKind::Rust => Arc::new(RustSigner::new(key.clone())),
        SignerKind::Openssl => Arc::new(OpensslSigner::new(key)?),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ecash_core::B32;
    use ecash_core::blind_rsa;
    use ecash_core::coin::PendingCoin;
    use ecash_core::rsa::traits::PublicKeyParts;

    #[test]
    fn both_backends_unwrap_envelopes_and_refuse_tampering() {
        let sk = blind_rsa::generate_key(2048).expect("keygen");
        let env = ecash_core::envelope::seal(&sk.to_public_key(), b"coins", b"aad").expect("seal");
        for kind in [SignerKind::Rust, SignerKind::Openssl] {
            let k = envelope_key(kind, &sk).expect("key");
            let aes = k.unwrap_key(&env.wrapped_key.0).expect("unwraps");
            let plain = ecash_core::envelope::open_with_key(&aes, &env, b"aad").expect("opens");
            assert_eq!(plain, b"coins");
            let mut bad = env.wrapped_key.0.clone();
            bad[10] ^= 1;
            assert!(k.unwrap_key(&bad).is_err(), "{kind:?}");
            assert!(k.unwrap_key(&bad[1..]).is_err(), "{kind:?}");
        }
    }

    #[test]
    fn both_backends_take_a_wrapped_key_of_exactly_the_modulus_length() {
        // A wrapped key whose first byte is zero: the same integer without
        // that byte (or with another zero in front) must not open, or one
        // envelope would have several byte forms (finding 9 of the audit).
        let sk = blind_rsa::generate_key(2048).expect("keygen");
        let pk = sk.to_public_key();
        let env = loop {
            let e = ecash_core::envelope::seal(&pk, b"coins", b"aad").expect("seal");
            if e.wrapped_key.0[0] == 0 {
                break e;
            }
        };
        let stripped = &env.wrapped_key.0[1..];
        let mut padded = vec![0u8];
        padded.extend_from_slice(&env.wrapped_key.0);
        for kind in [SignerKind::Rust, SignerKind::Openssl] {
            let k = envelope_key(kind, &sk).expect("key");
            k.unwrap_key(&env.wrapped_key.0)
                .expect("exact length opens");
            assert!(k.unwrap_key(stripped).is_err(), "{kind:?} stripped");
            assert!(k.unwrap_key(&padded).is_err(), "{kind:?} padded");
        }
        assert!(
            ecash_core::envelope::open(
                &sk,
                &{
                    let mut e = env.clone();
                    e.wrapped_key.0.remove(0);
                    e
                },
                b"aad"
            )
            .is_err()
        );
    }

    #[test]
    fn both_backends_give_identical_blind_signatures_and_refuse_alike() {
        let sk = blind_rsa::generate_key(2048).expect("keygen");
        let pk = sk.to_public_key();
        let rust = build(SignerKind::Rust, &sk).expect("rust");
        let ossl = build(SignerKind::Openssl, &sk).expect("openssl");
        for _ in 0..12 {
            let p = PendingCoin::new_random(B32::default(), &pk).expect("blind");
            let msg = &p.blinded.blinded_msg.0;
            let a = rust.blind_sign(msg).expect("rust signs");
            let b = ossl.blind_sign(msg).expect("openssl signs");
            assert_eq!(a, b, "deterministic RSA: same bytes from both backends");
            // And the result finalizes into a coin both backends accept.
            let coin = p.finalize(&pk, &b).expect("finalizes and verifies");
            rust.verify_coin(&coin).expect("rust verifies");
            ossl.verify_coin(&coin).expect("openssl verifies");
            let mut bad = coin.clone();
            bad.serial.0[0] ^= 1;
            assert!(rust.verify_coin(&bad).is_err() && ossl.verify_coin(&bad).is_err());
            let mut bad = coin.clone();
            bad.signature.0[9] ^= 1;
            assert!(rust.verify_coin(&bad).is_err() && ossl.verify_coin(&bad).is_err());
            let mut bad = coin;
            bad.signature.0.pop();
            assert!(rust.verify_coin(&bad).is_err() && ossl.verify_coin(&bad).is_err());
        }
        let n = pk.n_bytes().into_vec();
        let zero = vec![0u8; n.len()];
        for bad in [n.clone(), vec![0xff; n.len()], vec![1u8; n.len() - 1], zero] {
            assert!(rust.blind_sign(&bad).is_err());
            assert!(ossl.blind_sign(&bad).is_err());
        }
    }
}
