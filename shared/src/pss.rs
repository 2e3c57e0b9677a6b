//! EMSA-PSS encoding and verification with MGF1 (RFC 8017 §9.1, appendix B.2.1),
//! instantiated with SHA-384 as RFC 9474 requires.
//!
//! `rsa` 0.10 keeps its PSS encoder private, so the blind-signature code needs
//! its own. The verifier compares in constant time: the encoded message of a
//! blinded coin is the wallet's secret until the coin is spent.

use sha2::{Digest, Sha384};
use subtle::ConstantTimeEq;

/// Output length of SHA-384 in bytes (`hLen`).
pub const HASH_LEN: usize = 48;

/// Why an encoding or verification failed. Kept coarse on purpose: a verifier
/// must not tell an attacker which check rejected a forged signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PssError {
    /// The modulus is too small for the hash and salt lengths.
    #[error("modulus too small for EMSA-PSS with this salt length")]
    EncodingError,
    /// The encoded message is not consistent with the message.
    #[error("inconsistent EMSA-PSS encoding")]
    Inconsistent,
}

/// MGF1 mask generation with SHA-384: `len` bytes from `seed`.
pub fn mgf1_sha384(seed: &[u8], len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len + HASH_LEN);
    let mut counter: u32 = 0;
    while out.len() < len {
        let mut h = Sha384::new();
        h.update(seed);
        h.update(counter.to_be_bytes());
        out.extend_from_slice(&h.finalize());
        counter = counter.wrapping_add(1);
    }
    out.truncate(len);
    out
}

/// The hash of `M' = 0x00*8 || mHash || salt` (steps 5 and 12 of RFC 8017 §9.1).
fn m_prime_hash(m_hash: &[u8], salt: &[u8]) -> [u8; HASH_LEN] {
    let mut h = Sha384::new();
    h.update([0u8; 8]);
    h.update(m_hash);
    h.update(salt);
    h.finalize().into()
}

/// Length in bytes of an encoded message of `em_bits` bits.
pub fn em_len(em_bits: usize) -> usize {
    em_bits.div_ceil(8)
}

/// EMSA-PSS-ENCODE(M, emBits) with the given salt (RFC 8017 §9.1.1).
pub fn encode(msg: &[u8], em_bits: usize, salt: &[u8]) -> Result<Vec<u8>, PssError> {
    let em_len = em_len(em_bits);
    let m_hash = Sha384::digest(msg);
    if em_len < HASH_LEN + salt.len() + 2 {
        return Err(PssError::EncodingError);
    }
    let h = m_prime_hash(&m_hash, salt);
    let db_len = em_len - HASH_LEN - 1;
    // DB = PS || 0x01 || salt, then masked in place.
    let mut db = vec![0u8; db_len];
    let ps_len = db_len - salt.len() - 1;
    db[ps_len] = 0x01;
    db[ps_len + 1..].copy_from_slice(salt);
    for (d, m) in db.iter_mut().zip(mgf1_sha384(&h, db_len)) {
        *d ^= m;
    }
    db[0] &= top_byte_mask(em_len, em_bits);
    let mut em = db;
    em.extend_from_slice(&h);
    em.push(0xbc);
    Ok(em)
}

/// Mask that clears the leftmost `8*emLen - emBits` bits of the first byte.
fn top_byte_mask(em_len: usize, em_bits: usize) -> u8 {
    let unused = 8 * em_len - em_bits; // 0..=7
    0xffu8 >> unused
}

/// EMSA-PSS-VERIFY(M, EM, emBits) for a fixed salt length (RFC 8017 §9.1.2).
pub fn verify(msg: &[u8], em: &[u8], em_bits: usize, salt_len: usize) -> Result<(), PssError> {
    let em_len = em_len(em_bits);
    if em.len() != em_len || em_len < HASH_LEN + salt_len + 2 {
        return Err(PssError::Inconsistent);
    }
    let m_hash = Sha384::digest(msg);
    let db_len = em_len - HASH_LEN - 1;
    let (masked_db, rest) = em.split_at(db_len);
    let (h, trailer) = rest.split_at(HASH_LEN);
    let mask = top_byte_mask(em_len, em_bits);

    // Accumulate every check into one Choice so timing does not reveal which failed.
    let mut ok = trailer[0].ct_eq(&0xbc);
    ok &= (masked_db[0] & !mask).ct_eq(&0);
    let mut db: Vec<u8> = masked_db
        .iter()
        .zip(mgf1_sha384(h, db_len))
        .map(|(a, b)| a ^ b)
        .collect();
    db[0] &= mask;
    let ps_len = db_len - salt_len - 1;
    for b in &db[..ps_len] {
        ok &= b.ct_eq(&0);
    }
    ok &= db[ps_len].ct_eq(&0x01);
    let salt = &db[ps_len + 1..];
    let expected = m_prime_hash(&m_hash, salt);
    ok &= expected.ct_eq(h);
    if bool::from(ok) {
        Ok(())
    } else {
        Err(PssError::Inconsistent)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encode_then_verify_round_trips_for_many_sizes() {
        for em_bits in [1023usize, 1024, 2047, 2048, 4095] {
            for salt_len in [0usize, 48] {
                let salt = vec![7u8; salt_len];
                let em = encode(b"coin", em_bits, &salt).expect("encode");
                assert_eq!(em.len(), em_len(em_bits));
                verify(b"coin", &em, em_bits, salt_len).expect("verify");
                assert_eq!(
                    verify(b"nioc", &em, em_bits, salt_len),
                    Err(PssError::Inconsistent)
                );
            }
        }
    }

    #[test]
    fn any_flipped_bit_is_refused() {
        let em = encode(b"m", 2047, &[1u8; 48]).expect("encode");
        for i in 0..em.len() * 8 {
            let mut bad = em.clone();
            bad[i / 8] ^= 1 << (i % 8);
            assert!(
                verify(b"m", &bad, 2047, 48).is_err(),
                "bit {i} flipped was accepted"
            );
        }
    }

    #[test]
    fn wrong_salt_length_or_tiny_modulus_is_refused() {
        let em = encode(b"m", 2047, &[1u8; 48]).expect("encode");
        assert!(verify(b"m", &em, 2047, 32).is_err());
        assert!(verify(b"m", &em[1..], 2047, 48).is_err());
        assert_eq!(
            encode(b"m", 8 * 90, &[0u8; 48]),
            Err(PssError::EncodingError)
        );
    }

    #[test]
    fn mgf1_matches_known_prefix_property() {
        // MGF1 output for a shorter length is a prefix of a longer one.
        let a = mgf1_sha384(b"seed", 10);
        let b = mgf1_sha384(b"seed", 100);
        assert_eq!(&b[..10], &a[..]);
        assert_eq!(b.len(), 100);
    }
}
