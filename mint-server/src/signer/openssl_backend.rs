//! The fast backend: OpenSSL's raw RSA private operation (CRT, blinding,
//! assembly), then the RFC 9474 check that the result verifies.

use ecash_core::blind_rsa::BlindRsaError;
use ecash_core::rsa::PrivateKey as RsaPrivateKey;
use ecash_core::rsa::pkcs8::EncodePrivateKey;
use openssl::bn::BigNum;
use openssl::pkey::{Private, Public};
use openssl::rsa::{Padding, Rsa};

use super::BlindSigner;

/// Signs with OpenSSL.
pub struct OpensslSigner {
    /// The same key for the PSS half of verification.
    rust_public: ecash_core::rsa::PublicKey,
    private: Rsa<Private>,
    public: Rsa<Public>,
    n: BigNum,
    k: usize,
}

/// `key` in OpenSSL, through its PKCS#8 encoding.
fn to_openssl(key: &RsaPrivateKey) -> Result<openssl::pkey::PKey<Private>, String> {
    let der = key
        .to_pkcs8_der()
        .map_err(|e| format!("encoding the key for OpenSSL: {e}"))?;
    openssl::pkey::PKey::private_key_from_pkcs8(der.as_bytes())
        .map_err(|e| format!("OpenSSL refused the key: {e}"))
}

impl OpensslSigner {
    /// Loads `key` into OpenSSL.
    pub fn new(key: &RsaPrivateKey) -> Result<Self, String> {
        let pkey = to_openssl(key)?;
        let private = pkey.rsa().map_err(|e| format!("not an RSA key: {e}"))?;
        if !private.check_key().unwrap_or(false) {
            return Err("OpenSSL's key check failed".into());
        }
        let n = private.n().to_owned().map_err(|e| e.to_string())?;
        let e = private.e().to_owned().map_err(|e| e.to_string())?;
        let public = Rsa::from_public_components(n.to_owned().map_err(|e| e.to_string())?, e)
            .map_err(|e| e.to_string())?;
        let k = private.size() as usize;
        Ok(Self {
            rust_public: key.to_public_key(),
            private,
            public,
            n,
            k,
        })
    }
}

impl BlindSigner for OpensslSigner {
    fn name(&self) -> &'static str {
        "openssl"
    }

    fn blind_sign(&self, blinded_msg: &[u8]) -> Result<Vec<u8>, BlindRsaError> {
        if blinded_msg.len() != self.k {
            return Err(BlindRsaError::WrongLength {
                expected: self.k,
                got: blinded_msg.len(),
            });
        }
        let m = BigNum::from_slice(blinded_msg).map_err(|_| BlindRsaError::OutOfRange)?;
        // Same refusals as the Rust backend: 0 < m < n.
        if m >= self.n || m.num_bits() == 0 {
            return Err(BlindRsaError::OutOfRange);
        }
        let mut s = vec![0u8; self.k];
        let len = self
            .private
            .private_decrypt(blinded_msg, &mut s, Padding::NONE)
            .map_err(|_| BlindRsaError::SigningFailed)?;
        if len != self.k {
            return Err(BlindRsaError::SigningFailed);
        }
        // RFC 9474 §4.3: verify s^e == m before answering.
        let mut check = vec![0u8; self.k];
        let len = self
            .public
            .public_encrypt(&s, &mut check, Padding::NONE)
            .map_err(|_| BlindRsaError::SigningFailed)?;
        if len != self.k || check != blinded_msg {
            return Err(BlindRsaError::SigningFailed);
        }
        Ok(s)
    }

    fn verify_coin(&self, coin: &ecash_core::Coin) -> Result<(), BlindRsaError> {
        let sig = &coin.signature.0;
        if sig.len() != self.k {
            return Err(BlindRsaError::InvalidSignature);
        }
        // s^e mod n with OpenSSL (which refuses s >= n), then the PSS check in Rust.
        let mut m = vec![0u8; self.k];
        let len = self
            .public
            .public_encrypt(sig, &mut m, Padding::NONE)
            .map_err(|_| BlindRsaError::InvalidSignature)?;
        if len != self.k {
            return Err(BlindRsaError::InvalidSignature);
        }
        ecash_core::blind_rsa::verify_opened(
            &self.rust_public,
            &coin.input_msg(),
            &m,
            ecash_core::coin::COIN_VARIANT,
        )
    }
}

/// Unwraps envelope keys with OpenSSL (RSA-OAEP, SHA-256 and MGF1-SHA-256).
pub struct OpensslEnvelopeKey {
    pkey: openssl::pkey::PKey<Private>,
    /// Modulus length: OpenSSL would take a shorter input and pad it, so the
    /// length is checked here, as the Rust backend does.
    k: usize,
}

impl OpensslEnvelopeKey {
    /// For the bank's encryption key.
    pub fn new(key: &RsaPrivateKey) -> Result<Self, String> {
        Ok(Self {
            pkey: to_openssl(key)?,
            k: ecash_core::rsa::traits::PublicKeyParts::size(key),
        })
    }
}

impl super::EnvelopeKey for OpensslEnvelopeKey {
    fn unwrap_key(
        &self,
        wrapped: &[u8],
    ) -> Result<zeroize::Zeroizing<Vec<u8>>, ecash_core::envelope::EnvelopeError> {
        ecash_core::envelope::check_wrapped_len(wrapped, self.k)?;
        let run = || -> Result<Vec<u8>, openssl::error::ErrorStack> {
            let mut ctx = openssl::pkey_ctx::PkeyCtx::new(&self.pkey)?;
            ctx.decrypt_init()?;
            ctx.set_rsa_padding(Padding::PKCS1_OAEP)?;
            ctx.set_rsa_oaep_md(openssl::md::Md::sha256())?;
            ctx.set_rsa_mgf1_md(openssl::md::Md::sha256())?;
            let mut out = Vec::new();
            ctx.decrypt_to_vec(wrapped, &mut out)?;
            Ok(out)
        };
        run()
            .map(zeroize::Zeroizing::new)
            .map_err(|_| ecash_core::envelope::EnvelopeError::Open)
    }
}
