//! RFC 9474 blind RSA signatures (RSABSSA-SHA384-PSS-*), on `rsa` 0.10's raw
//! operations.
//!
//! The protocol uses [`Variant::PSS_RANDOMIZED`]; the other three variants
//! exist so that all four Appendix A test vectors can be reproduced.
//! The PSS encoding is the seed chapter's "redundancy-adding function f": it
//! is what defeats the forgery `S = R^e` with "signature" `R`.

use crypto_bigint::modular::BoxedMontyForm;
use crypto_bigint::{BoxedUint, Gcd, RandomMod, Resize};
use rsa::traits::PublicKeyParts;
use rsa::{PrivateKey as RsaPrivateKey, PublicKey as RsaPublicKey};
use zeroize::Zeroize;

use crate::pss;

/// Salt length of the PSS variants, in bytes (the SHA-384 output length).
pub const SALT_LEN: usize = pss::HASH_LEN;
/// Length of the RFC 9474 message randomizer (`msg_prefix`), in bytes.
pub const PREFIX_LEN: usize = 32;

/// Errors of the blind RSA protocol steps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BlindRsaError {
    /// The message cannot be PSS-encoded under this key (modulus too small).
    #[error("message cannot be encoded under this key")]
    Encoding,
    /// The encoded message shares a factor with the modulus (RFC 9474 §4.2 step 3).
    #[error("encoded message is not invertible modulo n")]
    NotInvertible,
    /// A blinded message or signature has the wrong length.
    #[error("expected {expected} bytes, got {got}")]
    WrongLength {
        /// Required length: the modulus length in bytes.
        expected: usize,
        /// Length received.
        got: usize,
    },
    /// A blinded message or signature is zero or not below the modulus.
    #[error("value out of range: must be in [1, n)")]
    OutOfRange,
    /// The private-key operation failed or its result did not verify.
    #[error("signing failed")]
    SigningFailed,
    /// The signature does not verify for this message and key.
    #[error("invalid signature")]
    InvalidSignature,
    /// The operating system's random number generator failed.
    #[error("random number generator failed")]
    Rng,
}

/// Which of the four RFC 9474 variants: salt length and whether a random
/// message prefix is prepended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Variant {
    /// PSS salt length in bytes (48 or 0).
    pub salt_len: usize,
    /// Whether `Prepare` prepends a random 32-byte prefix.
    pub randomized: bool,
}

impl Variant {
    /// RSABSSA-SHA384-PSS-Randomized: the variant coins use.
    pub const PSS_RANDOMIZED: Self = Self {
        salt_len: SALT_LEN,
        randomized: true,
    };
    /// RSABSSA-SHA384-PSSZERO-Randomized.
    pub const PSSZERO_RANDOMIZED: Self = Self {
        salt_len: 0,
        randomized: true,
    };
    /// RSABSSA-SHA384-PSS-Deterministic.
    pub const PSS_DETERMINISTIC: Self = Self {
        salt_len: SALT_LEN,
        randomized: false,
    };
    /// RSABSSA-SHA384-PSSZERO-Deterministic.
    pub const PSSZERO_DETERMINISTIC: Self = Self {
        salt_len: 0,
        randomized: false,
    };
}

/// The secret that unblinds one blind signature: `inv = r^-1 mod n`.
/// Zeroized on drop; never logged (no `Debug` output of the value).
pub struct BlindInverse(BoxedUint);

impl BlindInverse {
    /// Big-endian bytes, `k` long, for a wallet journal that must survive a crash
    /// between blinding and finalizing.
    pub fn to_bytes(&self, pk: &RsaPublicKey) -> Vec<u8> {
        // `inv < n` always holds, so this cannot fail.
        i2osp(&self.0, pk.size()).unwrap_or_default()
    }

    /// Reads back what [`Self::to_bytes`] wrote; refuses values not in `[1, n)`.
    pub fn from_bytes(pk: &RsaPublicKey, bytes: &[u8]) -> Result<Self, BlindRsaError> {
        Ok(Self(os2ip_in_range(pk, bytes)?))
    }
}

impl Drop for BlindInverse {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl std::fmt::Debug for BlindInverse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BlindInverse(..)")
    }
}

/// Output of [`blind`]: the blinded message for the bank, and the secret
/// inverse the client keeps.
#[derive(Debug)]
pub struct Blinded {
    /// `blinded_msg`, `k` bytes, sent to the signer.
    pub blinded_msg: Vec<u8>,
    /// `inv`, kept by the client until [`finalize`].
    pub inv: BlindInverse,
}

/// RFC 9474 `Prepare`: the message the signature is over, `msg_prefix || msg`
/// for randomized variants.
pub fn prepare(prefix: &[u8; PREFIX_LEN], msg: &[u8], variant: Variant) -> Vec<u8> {
    let mut out = Vec::with_capacity(PREFIX_LEN + msg.len());
    if variant.randomized {
        out.extend_from_slice(prefix);
    }
    out.extend_from_slice(msg);
    out
}

/// Modulus length in bits.
fn mod_bits(pk: &RsaPublicKey) -> usize {
    pk.n().bit_width() as usize
}

/// I2OSP: `x` as exactly `len` big-endian bytes.
pub(crate) fn i2osp(x: &BoxedUint, len: usize) -> Result<Vec<u8>, BlindRsaError> {
    let bytes = x.to_be_bytes();
    if bytes.len() >= len {
        let (extra, tail) = bytes.split_at(bytes.len() - len);
        if extra.iter().any(|b| *b != 0) {
            return Err(BlindRsaError::OutOfRange);
        }
        Ok(tail.to_vec())
    } else {
        let mut out = vec![0u8; len - bytes.len()];
        out.extend_from_slice(&bytes);
        Ok(out)
    }
}

/// OS2IP of a `k`-byte string, refusing 0 and values `>= n`.
pub(crate) fn os2ip_in_range(pk: &RsaPublicKey, bytes: &[u8]) -> Result<BoxedUint, BlindRsaError> {
    let k = pk.size();
    if bytes.len() != k {
        return Err(BlindRsaError::WrongLength {
            expected: k,
            got: bytes.len(),
        });
    }
    let x = BoxedUint::from_be_slice(bytes, pk.n_bits_precision())
        .map_err(|_| BlindRsaError::OutOfRange)?;
    if bool::from(x.is_zero()) || x >= **pk.n() {
        return Err(BlindRsaError::OutOfRange);
    }
    Ok(x)
}

fn random_bytes<const N: usize>() -> Result<[u8; N], BlindRsaError> {
    let mut out = [0u8; N];
    getrandom::fill(&mut out).map_err(|_| BlindRsaError::Rng)?;
    Ok(out)
}

/// A fresh random blinding factor `r` in `[1, n)`.
fn random_r(pk: &RsaPublicKey) -> Result<BoxedUint, BlindRsaError> {
    let n = pk.n();
    loop {
        let r = BoxedUint::try_random_mod_vartime(&mut getrandom::SysRng, n)
            .map_err(|_| BlindRsaError::Rng)?;
        if !bool::from(r.is_zero()) {
            return Ok(r);
        }
    }
}

/// RFC 9474 `Blind` with fresh randomness (salt and `r`).
pub fn blind(
    pk: &RsaPublicKey,
    input_msg: &[u8],
    variant: Variant,
) -> Result<Blinded, BlindRsaError> {
    let salt = random_bytes::<SALT_LEN>()?;
    let r = random_r(pk)?;
    blind_with(pk, input_msg, &salt[..variant.salt_len], r)
}

/// `r` from `bytes` of uniform randomness (at least `k + 16` bytes, so the
/// reduction mod n is unbiased to 2^-128). Wallets derive these bytes from
/// their seed so a restore can re-create every blinded message.
pub fn blinding_factor_from_bytes(
    pk: &RsaPublicKey,
    bytes: &[u8],
) -> Result<BoxedUint, BlindRsaError> {
    if bytes.len() < pk.size() + 16 {
        return Err(BlindRsaError::WrongLength {
            expected: pk.size() + 16,
            got: bytes.len(),
        });
    }
    let x = BoxedUint::from_be_slice(bytes, (bytes.len() * 8) as u32)
        .map_err(|_| BlindRsaError::OutOfRange)?;
    let r = x.rem(pk.n());
    if bool::from(r.is_zero()) {
        return Err(BlindRsaError::NotInvertible);
    }
    Ok(r)
}

/// The blinding factor `r = inv^-1 mod n` of a given inverse (RFC 9474's
/// test vectors list `inv`, not `r`).
pub fn blinding_factor_from_inverse(
    pk: &RsaPublicKey,
    inv: &[u8],
) -> Result<BoxedUint, BlindRsaError> {
    let inv = os2ip_in_range(pk, inv)?;
    let r = BoxedMontyForm::new(inv, pk.n_params())
        .invert()
        .into_option()
        .ok_or(BlindRsaError::NotInvertible)?;
    Ok(r.retrieve())
}

/// RFC 9474 `Blind` with the caller's salt and blinding factor `r`.
/// Used by [`blind`], by wallets with deterministic secrets, and by the test vectors.
pub fn blind_with(
    pk: &RsaPublicKey,
    input_msg: &[u8],
    salt: &[u8],
    r: BoxedUint,
) -> Result<Blinded, BlindRsaError> {
    let params = pk.n_params();
    let k = pk.size();
    let em = pss::encode(input_msg, mod_bits(pk) - 1, salt).map_err(|_| BlindRsaError::Encoding)?;
    let m = BoxedUint::from_be_slice(&em, pk.n_bits_precision())
        .map_err(|_| BlindRsaError::Encoding)?;
    // Step 3: m must be coprime with n (else it would reveal a factor of n).
    if m.gcd(pk.n().as_ref()) != BoxedUint::one_with_precision(pk.n_bits_precision()) {
        return Err(BlindRsaError::NotInvertible);
    }
    let r = r.resize(pk.n_bits_precision());
    let r_form = BoxedMontyForm::new(r, params);
    let inv = r_form
        .invert()
        .into_option()
        .ok_or(BlindRsaError::NotInvertible)?;
    let x =
        rsa::hazmat::rsa_encrypt(pk, &r_form.retrieve()).map_err(|_| BlindRsaError::Encoding)?;
    let z = BoxedMontyForm::new(m, params).mul(&BoxedMontyForm::new(x, params));
    Ok(Blinded {
        blinded_msg: i2osp(&z.retrieve(), k)?,
        inv: BlindInverse(inv.retrieve()),
    })
}

/// One message of a [`blind_batch`]: the prepared input, the PSS salt and the blinding factor.
pub struct BlindItem<'a> {
    /// `input_msg` from [`prepare`].
    pub input_msg: &'a [u8],
    /// PSS salt (`variant.salt_len` bytes).
    pub salt: &'a [u8],
    /// Blinding factor `r`.
    pub r: BoxedUint,
}

/// RFC 9474 `Blind` for many messages under one key, with one modular
/// inversion for the whole batch (Montgomery's trick) instead of a GCD and
/// an inversion per message, which are most of a client's cost. Each result
/// equals [`blind_with`] on the same item. If any message or factor is not
/// invertible, the batch falls back to [`blind_with`] item by item, so the
/// error names the same failure.
pub fn blind_batch(
    pk: &RsaPublicKey,
    items: Vec<BlindItem<'_>>,
) -> Result<Vec<Blinded>, BlindRsaError> {
    if items.len() < 2 {
        return items
            .into_iter()
            .map(|it| blind_with(pk, it.input_msg, it.salt, it.r))
            .collect();
    }
    let params = pk.n_params();
    let k = pk.size();
    let prec = pk.n_bits_precision();
    let mut ms = Vec::with_capacity(items.len());
    let mut rs = Vec::with_capacity(items.len());
    for it in &items {
        let em = pss::encode(it.input_msg, mod_bits(pk) - 1, it.salt)
            .map_err(|_| BlindRsaError::Encoding)?;
        let m = BoxedUint::from_be_slice(&em, prec).map_err(|_| BlindRsaError::Encoding)?;
        ms.push(BoxedMontyForm::new(m, params));
        rs.push(BoxedMontyForm::new(it.r.clone().resize(prec), params));
    }
    // prefix[i] = r_0 * ... * r_i; every m_i joins the product to be inverted,
    // so one inversion also proves each m_i coprime with n (RFC 9474 §4.2 step 3).
    let mut prefix = Vec::with_capacity(rs.len());
    let mut acc = rs[0].clone();
    prefix.push(acc.clone());
    for r in &rs[1..] {
        acc = acc.mul(r);
        prefix.push(acc.clone());
    }
    let m_product = ms[1..].iter().fold(ms[0].clone(), |a, m| a.mul(m));
    let Some(inv_all) = acc.mul(&m_product).invert().into_option() else {
        return items
            .into_iter()
            .map(|it| blind_with(pk, it.input_msg, it.salt, it.r))
            .collect();
    };
    // (r_0 ... r_i)^-1, walked back one factor at a time.
    let mut inv_prefix = inv_all.mul(&m_product);
    let mut invs = vec![None; rs.len()];
    for i in (0..rs.len()).rev() {
        let inv_r = if i == 0 {
            inv_prefix.clone()
        } else {
            inv_prefix.mul(&prefix[i - 1])
        };
        inv_prefix = inv_prefix.mul(&rs[i]);
        invs[i] = Some(inv_r);
    }
    let mut out = Vec::with_capacity(rs.len());
    for ((m, r), inv) in ms.iter().zip(&rs).zip(invs) {
        let inv = inv.ok_or(BlindRsaError::NotInvertible)?;
        let x = rsa::hazmat::rsa_encrypt(pk, &r.retrieve()).map_err(|_| BlindRsaError::Encoding)?;
        let z = m.mul(&BoxedMontyForm::new(x, params));
        out.push(Blinded {
            blinded_msg: i2osp(&z.retrieve(), k)?,
            inv: BlindInverse(inv.retrieve()),
        });
    }
    Ok(out)
}

/// The checks `blind_sign` makes before its private-key operation: exactly
/// `k` bytes, and `0 < m < n`. A bank runs them over a whole request first,
/// so a refused request never costs it a signature.
pub fn check_blinded_msg(pk: &RsaPublicKey, blinded_msg: &[u8]) -> Result<(), BlindRsaError> {
    os2ip_in_range(pk, blinded_msg).map(|_| ())
}

/// RFC 9474 `BlindSign`: the raw private-key operation, then the RFC's check
/// that the result verifies (`s^e == m`) before it is returned, so a faulty
/// CRT computation never leaks a factor of n.
pub fn blind_sign(sk: &RsaPrivateKey, blinded_msg: &[u8]) -> Result<Vec<u8>, BlindRsaError> {
    let pk = sk.as_public_key();
    let m = os2ip_in_range(pk, blinded_msg)?;
    // rsa_decrypt_and_check blinds the exponentiation and recomputes s^e == m.
    let s = rsa::hazmat::rsa_decrypt_and_check(sk, Some(&mut getrandom::SysRng), &m)
        .map_err(|_| BlindRsaError::SigningFailed)?;
    let check = rsa::hazmat::rsa_encrypt(pk, &s).map_err(|_| BlindRsaError::SigningFailed)?;
    if check != m {
        return Err(BlindRsaError::SigningFailed);
    }
    i2osp(&s, pk.size())
}

/// RFC 9474 `Finalize`: unblind, then verify before returning the signature.
pub fn finalize(
    pk: &RsaPublicKey,
    input_msg: &[u8],
    blind_sig: &[u8],
    inv: &BlindInverse,
    variant: Variant,
) -> Result<Vec<u8>, BlindRsaError> {
    let params = pk.n_params();
    let z = os2ip_in_range(pk, blind_sig)?;
    let s = BoxedMontyForm::new(z, params).mul(&BoxedMontyForm::new(inv.0.clone(), params));
    let sig = i2osp(&s.retrieve(), pk.size())?;
    verify(pk, input_msg, &sig, variant)?;
    Ok(sig)
}

/// RSASSA-PSS-VERIFY with SHA-384/MGF1-SHA-384 and the variant's salt length.
pub fn verify(
    pk: &RsaPublicKey,
    input_msg: &[u8],
    sig: &[u8],
    variant: Variant,
) -> Result<(), BlindRsaError> {
    let s = os2ip_in_range(pk, sig).map_err(|_| BlindRsaError::InvalidSignature)?;
    let m = rsa::hazmat::rsa_encrypt(pk, &s).map_err(|_| BlindRsaError::InvalidSignature)?;
    let em_bits = mod_bits(pk) - 1;
    let em = i2osp(&m, pss::em_len(em_bits)).map_err(|_| BlindRsaError::InvalidSignature)?;
    pss::verify(input_msg, &em, em_bits, variant.salt_len)
        .map_err(|_| BlindRsaError::InvalidSignature)
}

/// The PSS half of [`verify`], on `m = sig^e mod n` computed elsewhere (a
/// bank doing the public-key operation with another RSA implementation).
/// `m` is big-endian; a value that does not fit the encoded length is refused.
pub fn verify_opened(
    pk: &RsaPublicKey,
    input_msg: &[u8],
    m: &[u8],
    variant: Variant,
) -> Result<(), BlindRsaError> {
    let em_bits = mod_bits(pk) - 1;
    let em_len = pss::em_len(em_bits);
    if m.len() < em_len || m[..m.len() - em_len].iter().any(|b| *b != 0) {
        return Err(BlindRsaError::InvalidSignature);
    }
    pss::verify(input_msg, &m[m.len() - em_len..], em_bits, variant.salt_len)
        .map_err(|_| BlindRsaError::InvalidSignature)
}

/// A finalized signature `s` blinded again with the factor `r` (from
/// `r_bytes`, as [`blinding_factor_from_bytes`]) its withdrawal used: the
/// blind signature `s·r mod n` the bank issued, and the blinded message
/// `(s·r)^e mod n` it signed. A bank recouping a coin finds its withdrawal
/// by them. Public-key work only. `r` must come from a hash the caller
/// cannot aim (a coin seed): a freely chosen `r` links any coin to any
/// blind signature.
pub fn reblind(
    pk: &RsaPublicKey,
    sig: &[u8],
    r_bytes: &[u8],
) -> Result<(Vec<u8>, Vec<u8>), BlindRsaError> {
    let params = pk.n_params();
    let s = os2ip_in_range(pk, sig).map_err(|_| BlindRsaError::InvalidSignature)?;
    let r = blinding_factor_from_bytes(pk, r_bytes)?.resize(pk.n_bits_precision());
    let blind_sig = BoxedMontyForm::new(s, params)
        .mul(&BoxedMontyForm::new(r, params))
        .retrieve();
    let blinded = rsa::hazmat::rsa_encrypt(pk, &blind_sig).map_err(|_| BlindRsaError::Encoding)?;
    Ok((i2osp(&blinded, pk.size())?, i2osp(&blind_sig, pk.size())?))
}

/// A fresh RSA key of `bits` bits with e = 65537, for denomination and encryption keys.
pub fn generate_key(bits: usize) -> Result<RsaPrivateKey, BlindRsaError> {
    RsaPrivateKey::new(&mut getrandom::SysRng, bits).map_err(|_| BlindRsaError::Rng)
}

/// A fresh random 32-byte message prefix for [`prepare`].
pub fn random_prefix() -> Result<[u8; PREFIX_LEN], BlindRsaError> {
    random_bytes::<PREFIX_LEN>()
}

/// Raw RSA on a public key, exposed for the forgery test: `x^e mod n`.
pub fn raw_public_op(pk: &RsaPublicKey, x: &[u8]) -> Result<Vec<u8>, BlindRsaError> {
    let x = os2ip_in_range(pk, x)?;
    let y = rsa::hazmat::rsa_encrypt(pk, &x).map_err(|_| BlindRsaError::Encoding)?;
    i2osp(&y, pk.size())
}
