//! Coins, blinded coins, and the client-side steps that make them.

use rsa::PublicKey as RsaPublicKey;
use serde::{Deserialize, Serialize};

use crate::blind_rsa::{self, BlindInverse, BlindRsaError, PREFIX_LEN, Variant};
use crate::bytes::{B32, Bytes, Fixed};
use crate::canonical::{Canonical, Encoder};

/// The variant every coin uses.
pub const COIN_VARIANT: Variant = Variant::PSS_RANDOMIZED;

/// A coin: `{key_id, serial, msg_prefix, signature}`. Its value is its key's denomination.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Coin {
    /// Which denomination key signed it (the seed's "keyversion").
    pub key_id: B32,
    /// 32 random bytes chosen by the wallet; the bank first sees it at deposit.
    pub serial: B32,
    /// RFC 9474 message randomizer.
    pub msg_prefix: B32,
    /// RSA-PSS signature over `msg_prefix || serial`.
    pub signature: Bytes,
}

impl Coin {
    /// The coin as the bank names it: its key and its serial.
    pub fn id(&self) -> crate::messages::CoinRef {
        crate::messages::CoinRef {
            key_id: self.key_id,
            serial: self.serial,
        }
    }

    /// The message the signature is over: `msg_prefix || serial`.
    pub fn input_msg(&self) -> Vec<u8> {
        blind_rsa::prepare(&self.msg_prefix.0, &self.serial.0, COIN_VARIANT)
    }

    /// Checks the bank's signature under the coin's denomination key.
    pub fn verify(&self, key: &RsaPublicKey) -> Result<(), BlindRsaError> {
        blind_rsa::verify(key, &self.input_msg(), &self.signature.0, COIN_VARIANT)
    }
}

impl Canonical for Coin {
    const DOMAIN: &'static str = "coin";
    fn encode_fields(&self, e: &mut Encoder) {
        e.fixed(&self.key_id.0)
            .fixed(&self.serial.0)
            .fixed(&self.msg_prefix.0)
            .bytes(&self.signature.0);
    }
}

/// A blinded coin, as sent to the bank for signing.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct BlindedCoin {
    /// Denomination key to sign with.
    pub key_id: B32,
    /// RFC 9474 `blinded_msg`.
    pub blinded_msg: Bytes,
}

impl Canonical for BlindedCoin {
    const DOMAIN: &'static str = "blinded-coin";
    fn encode_fields(&self, e: &mut Encoder) {
        e.fixed(&self.key_id.0).bytes(&self.blinded_msg.0);
    }
}

/// The secrets of one coin before blinding: serial, randomizer, PSS salt,
/// and `k + 16` uniform bytes for the blinding factor.
pub struct CoinSecrets {
    /// Serial.
    pub serial: [u8; 32],
    /// Message randomizer.
    pub prefix: [u8; PREFIX_LEN],
    /// PSS salt.
    pub salt: [u8; blind_rsa::SALT_LEN],
    /// Bytes reduced mod n into the blinding factor.
    pub r_bytes: Vec<u8>,
}

/// Length of a coin seed ([`CoinSecrets::from_coin_seed`]).
pub const COIN_SEED_LEN: usize = 32;

impl CoinSecrets {
    /// Every secret of a coin, derived from its one seed with HKDF-SHA256
    /// for a key of `k` bytes. Revealing the seed in a recoup proves the
    /// coin's blinding factor: a hash output, which nobody can aim at
    /// another withdrawal's blind signature (a freely chosen factor links
    /// any coin to any signature: blinding hides perfectly).
    pub fn from_coin_seed(seed: &[u8; COIN_SEED_LEN], k: usize) -> Result<Self, BlindRsaError> {
        let mut okm =
            zeroize::Zeroizing::new(vec![0u8; 32 + PREFIX_LEN + blind_rsa::SALT_LEN + k + 16]);
        hkdf::Hkdf::<sha2::Sha256>::new(Some(b"ecash/coin-seed/v1"), seed)
            .expand(b"serial|prefix|salt|r", &mut okm)
            .map_err(|_| BlindRsaError::Encoding)?;
        let mut c = Self {
            serial: [0; 32],
            prefix: [0; PREFIX_LEN],
            salt: [0; blind_rsa::SALT_LEN],
            r_bytes: okm[32 + PREFIX_LEN + blind_rsa::SALT_LEN..].to_vec(),
        };
        c.serial.copy_from_slice(&okm[..32]);
        c.prefix.copy_from_slice(&okm[32..32 + PREFIX_LEN]);
        c.salt
            .copy_from_slice(&okm[32 + PREFIX_LEN..32 + PREFIX_LEN + blind_rsa::SALT_LEN]);
        Ok(c)
    }
}

impl Drop for CoinSecrets {
    fn drop(&mut self) {
        use zeroize::Zeroize;
        self.serial.zeroize();
        self.prefix.zeroize();
        self.salt.zeroize();
        self.r_bytes.zeroize();
    }
}

/// The wallet's secrets for one coin between blinding and finalizing.
pub struct PendingCoin {
    /// Denomination key id.
    pub key_id: B32,
    /// Serial.
    pub serial: B32,
    /// Message randomizer.
    pub msg_prefix: B32,
    /// What goes to the bank.
    pub blinded: BlindedCoin,
    /// Unblinding secret.
    pub inv: BlindInverse,
    /// The seed its secrets come from, when it was made from one here
    /// ([`PendingCoin::new_random`]): what proves its withdrawal in a recoup.
    pub coin_seed: Option<B32>,
}

/// Shows only the key and the blinded message: the serial, randomizer and
/// coin seed would link the coin to its withdrawal in any log.
impl std::fmt::Debug for PendingCoin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PendingCoin")
            .field("key_id", &self.key_id)
            .field("blinded", &self.blinded)
            .finish_non_exhaustive()
    }
}

impl PendingCoin {
    /// Blinds a coin with secrets from a fresh random coin seed (kept in
    /// [`PendingCoin::coin_seed`]).
    pub fn new_random(key_id: B32, key: &RsaPublicKey) -> Result<Self, BlindRsaError> {
        let mut seed = [0u8; COIN_SEED_LEN];
        getrandom::fill(&mut seed).map_err(|_| BlindRsaError::Rng)?;
        Self::from_coin_seed(key_id, key, &seed)
    }

    /// Blinds a coin with the secrets of `seed` ([`CoinSecrets::from_coin_seed`]).
    pub fn from_coin_seed(
        key_id: B32,
        key: &RsaPublicKey,
        seed: &[u8; COIN_SEED_LEN],
    ) -> Result<Self, BlindRsaError> {
        let c = CoinSecrets::from_coin_seed(seed, rsa::traits::PublicKeyParts::size(key))?;
        let mut p = Self::new_deterministic(key_id, key, c.serial, c.prefix, &c.salt, &c.r_bytes)?;
        p.coin_seed = Some(Fixed(*seed));
        Ok(p)
    }

    /// Blinds a coin from caller-chosen secrets (a wallet deriving them from its seed).
    pub fn new_deterministic(
        key_id: B32,
        key: &RsaPublicKey,
        serial: [u8; 32],
        prefix: [u8; PREFIX_LEN],
        salt: &[u8; blind_rsa::SALT_LEN],
        r_bytes: &[u8],
    ) -> Result<Self, BlindRsaError> {
        let input = blind_rsa::prepare(&prefix, &serial, COIN_VARIANT);
        let r = blind_rsa::blinding_factor_from_bytes(key, r_bytes)?;
        let b = blind_rsa::blind_with(key, &input, salt, r)?;
        Ok(Self::from_parts(key_id, Fixed(serial), Fixed(prefix), b))
    }

    /// Blinds many coins under one key from caller-chosen secrets, with one
    /// modular inversion for the batch ([`blind_rsa::blind_batch`]). Each coin
    /// equals [`PendingCoin::new_deterministic`] on the same secrets.
    pub fn new_deterministic_batch(
        key_id: B32,
        key: &RsaPublicKey,
        secrets: &[CoinSecrets],
    ) -> Result<Vec<Self>, BlindRsaError> {
        let inputs: Vec<Vec<u8>> = secrets
            .iter()
            .map(|c| blind_rsa::prepare(&c.prefix, &c.serial, COIN_VARIANT))
            .collect();
        let mut items = Vec::with_capacity(secrets.len());
        for (c, input) in secrets.iter().zip(&inputs) {
            items.push(blind_rsa::BlindItem {
                input_msg: input,
                salt: &c.salt,
                r: blind_rsa::blinding_factor_from_bytes(key, &c.r_bytes)?,
            });
        }
        let blinded = blind_rsa::blind_batch(key, items)?;
        Ok(secrets
            .iter()
            .zip(blinded)
            .map(|(c, b)| Self::from_parts(key_id, Fixed(c.serial), Fixed(c.prefix), b))
            .collect())
    }

    /// `n` coins with fresh random secrets, blinded as one batch.
    pub fn new_random_batch(
        key_id: B32,
        key: &RsaPublicKey,
        n: usize,
    ) -> Result<Vec<Self>, BlindRsaError> {
        let k = rsa::traits::PublicKeyParts::size(key);
        let mut seeds = Vec::with_capacity(n);
        let mut secrets = Vec::with_capacity(n);
        for _ in 0..n {
            let mut seed = [0u8; COIN_SEED_LEN];
            getrandom::fill(&mut seed).map_err(|_| BlindRsaError::Rng)?;
            secrets.push(CoinSecrets::from_coin_seed(&seed, k)?);
            seeds.push(seed);
        }
        let mut coins = Self::new_deterministic_batch(key_id, key, &secrets)?;
        for (p, seed) in coins.iter_mut().zip(seeds) {
            p.coin_seed = Some(Fixed(seed));
        }
        Ok(coins)
    }

    fn from_parts(key_id: B32, serial: B32, msg_prefix: B32, b: blind_rsa::Blinded) -> Self {
        Self {
            key_id,
            serial,
            msg_prefix,
            blinded: BlindedCoin {
                key_id,
                blinded_msg: Bytes(b.blinded_msg),
            },
            inv: b.inv,
            coin_seed: None,
        }
    }

    /// Unblinds the bank's blind signature and verifies the coin before returning it.
    pub fn finalize(&self, key: &RsaPublicKey, blind_sig: &[u8]) -> Result<Coin, BlindRsaError> {
        let input = blind_rsa::prepare(&self.msg_prefix.0, &self.serial.0, COIN_VARIANT);
        let sig = blind_rsa::finalize(key, &input, blind_sig, &self.inv, COIN_VARIANT)?;
        Ok(Coin {
            key_id: self.key_id,
            serial: self.serial,
            msg_prefix: self.msg_prefix,
            signature: Bytes(sig),
        })
    }
}
