//! The wallet seed and everything derived from it.
//!
//! Coin secrets are HKDF-SHA256 outputs of the seed, bound to the denomination
//! key id and a per-key counter, so a wallet restored from its seed can
//! re-create every blinded message it ever sent and fetch the bank's stored
//! blind signatures (`/restore`). The account key is derived too, so the
//! restored wallet owns the same bank account.

use ecash_core::coin::{COIN_SEED_LEN, CoinSecrets};
use ecash_core::keyset::VerifiedDenomination;
use ecash_core::rsa::traits::PublicKeyParts;
use ecash_core::{Keypair, PendingCoin};
use hkdf::Hkdf;
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::error::WalletError;
use crate::records::Scheme;

/// Domain separation salt of every derivation.
const HKDF_SALT: &[u8] = b"ecash/v1/wallet-seed";

/// 32 random bytes the whole wallet grows from.
pub struct Seed(Zeroizing<[u8; 32]>);

impl std::fmt::Debug for Seed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Seed(..)")
    }
}

impl Seed {
    /// A fresh seed from the OS random number generator.
    pub fn generate() -> Result<Self, WalletError> {
        Ok(Self(Zeroizing::new(crate::platform::random::<32>()?)))
    }

    /// Parses a backup phrase: 64 hex digits, spaces and dashes ignored.
    pub fn from_phrase(phrase: &str) -> Result<Self, WalletError> {
        let compact: Zeroizing<String> = Zeroizing::new(
            phrase
                .chars()
                .filter(|c| !c.is_whitespace() && *c != '-')
                .collect(),
        );
        let bytes = Zeroizing::new(hex::decode(compact.as_str()).map_err(|_| {
            WalletError::Input("the seed phrase must be 64 hexadecimal digits".into())
        })?);
        let arr: [u8; 32] = bytes.as_slice().try_into().map_err(|_| {
            WalletError::Input("the seed phrase must be 64 hexadecimal digits".into())
        })?;
        Ok(Self(Zeroizing::new(arr)))
    }

    /// The backup phrase: 16 groups of 4 hex digits.
    pub fn phrase(&self) -> String {
        let h = Zeroizing::new(hex::encode(*self.0));
        h.as_bytes()
            .chunks(4)
            .map(|c| String::from_utf8_lossy(c).into_owned())
            .collect::<Vec<_>>()
            .join("-")
    }

    fn expand(&self, info: &[u8], out: &mut [u8]) -> Result<(), WalletError> {
        Hkdf::<Sha256>::new(Some(HKDF_SALT), self.0.as_slice())
            .expand(info, out)
            .map_err(|_| WalletError::Crypto("HKDF output too long".into()))
    }

    /// The account's Ed25519 key.
    pub fn account_key(&self) -> Result<Keypair, WalletError> {
        let mut secret = Zeroizing::new([0u8; 32]);
        self.expand(b"ecash/v1/account", secret.as_mut_slice())?;
        Ok(Keypair::from_secret_bytes(&secret))
    }

    /// The seed of coin number `counter` of denomination key `key`: every
    /// secret of a [`Scheme::V2`] coin comes from it
    /// ([`CoinSecrets::from_coin_seed`]), and it proves the coin's
    /// withdrawal in a recoup.
    pub fn coin_seed(
        &self,
        key: &VerifiedDenomination,
        counter: u64,
    ) -> Result<Zeroizing<[u8; COIN_SEED_LEN]>, WalletError> {
        let mut seed = Zeroizing::new([0u8; COIN_SEED_LEN]);
        self.expand(
            &coin_info(b"ecash/v2/coin", key, counter),
            seed.as_mut_slice(),
        )?;
        Ok(seed)
    }

    /// The secrets of coin number `counter` of denomination key `key` under
    /// derivation `scheme`: serial, randomizer, PSS salt and blinding-factor
    /// bytes.
    pub fn coin_secrets(
        &self,
        key: &VerifiedDenomination,
        counter: u64,
        scheme: Scheme,
    ) -> Result<CoinSecrets, WalletError> {
        match scheme {
            Scheme::V2 => {
                let seed = self.coin_seed(key, counter)?;
                Ok(CoinSecrets::from_coin_seed(&seed, key.key.size())?)
            }
            Scheme::V1 => self.coin_secrets_v1(key, counter),
        }
    }

    /// The first wallets' derivation, straight from the wallet seed, kept so
    /// their coins are still found by a restore and re-derived on resume
    /// (they have no coin seed, so they cannot be recouped).
    fn coin_secrets_v1(
        &self,
        key: &VerifiedDenomination,
        counter: u64,
    ) -> Result<CoinSecrets, WalletError> {
        use ecash_core::blind_rsa::{PREFIX_LEN, SALT_LEN};
        let k = key.key.size();
        // serial | prefix | salt | k+16 bytes for the blinding factor (unbiased mod n).
        let mut okm = Zeroizing::new(vec![0u8; 32 + PREFIX_LEN + SALT_LEN + k + 16]);
        self.expand(&coin_info(b"ecash/v1/coin", key, counter), &mut okm)?;
        let mut c = CoinSecrets {
            serial: [0; 32],
            prefix: [0; PREFIX_LEN],
            salt: [0; SALT_LEN],
            r_bytes: okm[32 + PREFIX_LEN + SALT_LEN..].to_vec(),
        };
        c.serial.copy_from_slice(&okm[..32]);
        c.prefix.copy_from_slice(&okm[32..32 + PREFIX_LEN]);
        c.salt
            .copy_from_slice(&okm[32 + PREFIX_LEN..32 + PREFIX_LEN + SALT_LEN]);
        Ok(c)
    }

    /// Coin number `counter` of denomination key `key`, blinded.
    pub fn coin(
        &self,
        key: &VerifiedDenomination,
        counter: u64,
        scheme: Scheme,
    ) -> Result<PendingCoin, WalletError> {
        let c = self.coin_secrets(key, counter, scheme)?;
        Ok(PendingCoin::new_deterministic(
            key.info.key_id,
            &key.key,
            c.serial,
            c.prefix,
            &c.salt,
            &c.r_bytes,
        )?)
    }

    /// Coins `counters` of key `key`, blinded as one batch (one modular
    /// inversion for all: most of the client's cost per coin otherwise).
    pub fn coins(
        &self,
        key: &VerifiedDenomination,
        counters: &[u64],
        scheme: Scheme,
    ) -> Result<Vec<PendingCoin>, WalletError> {
        let secrets = counters
            .iter()
            .map(|c| self.coin_secrets(key, *c, scheme))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(PendingCoin::new_deterministic_batch(
            key.info.key_id,
            &key.key,
            &secrets,
        )?)
    }
}

/// The HKDF info of a coin: scheme label, key id, counter.
fn coin_info(label: &[u8], key: &VerifiedDenomination, counter: u64) -> Vec<u8> {
    let mut info = Vec::with_capacity(label.len() + 32 + 8);
    info.extend_from_slice(label);
    info.extend_from_slice(&key.info.key_id.0);
    info.extend_from_slice(&counter.to_be_bytes());
    info
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phrase_round_trips_and_refuses_garbage() {
        let s = Seed::generate().expect("rng");
        let p = s.phrase();
        assert_eq!(p.len(), 64 + 15);
        let back = Seed::from_phrase(&p.replace('-', " ")).expect("parses");
        assert_eq!(*back.0, *s.0);
        for bad in ["", "zz", &p[..60], &format!("{p}00")] {
            assert!(
                matches!(Seed::from_phrase(bad), Err(WalletError::Input(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn batch_derivation_equals_one_by_one() {
        let sk = ecash_core::blind_rsa::generate_key(2048).expect("keygen");
        let public_key = ecash_core::keyset::RsaPublicKeyData::from_key(&sk.to_public_key());
        let info = ecash_core::DenominationKey {
            key_id: public_key.key_id(),
            value: ecash_core::Amount::new(ecash_core::Currency::new("DEMO").expect("c"), 4),
            public_key,
            period: 0,
            withdraw_from: 0,
            withdraw_until: 10,
            deposit_until: 20,
        };
        let key = VerifiedDenomination {
            denomination: info.denomination().expect("denomination"),
            key: info.public_key.to_key().expect("key"),
            info,
        };
        let seed = Seed::from_phrase(&"ab".repeat(32)).expect("seed");
        for scheme in [Scheme::V1, Scheme::V2] {
            let batch = seed.coins(&key, &[0, 1, 7], scheme).expect("batch");
            for (p, c) in batch.iter().zip([0u64, 1, 7]) {
                let one = seed.coin(&key, c, scheme).expect("one");
                assert_eq!(one.blinded, p.blinded);
                assert_eq!(one.serial, p.serial);
            }
            assert_ne!(batch[0].serial, batch[1].serial);
        }
        // The schemes give different coins for one counter, and v1 is the
        // first wallets' derivation, byte for byte.
        let v1 = seed.coin_secrets(&key, 0, Scheme::V1).expect("v1");
        let v2 = seed.coin_secrets(&key, 0, Scheme::V2).expect("v2");
        assert_ne!(v1.serial, v2.serial);
        let mut okm = vec![0u8; 32];
        Hkdf::<Sha256>::new(Some(HKDF_SALT), &[0xab; 32])
            .expand(&coin_info(b"ecash/v1/coin", &key, 0), &mut okm)
            .expect("hkdf");
        assert_eq!(v1.serial[..], okm[..]);
    }

    #[test]
    fn account_key_is_derived_and_seed_specific() {
        let a = Seed::from_phrase(&"11".repeat(32)).expect("seed");
        let b = Seed::from_phrase(&"22".repeat(32)).expect("seed");
        let a2 = Seed::from_phrase(&"11".repeat(32)).expect("seed");
        assert_eq!(
            a.account_key().expect("k").public(),
            a2.account_key().expect("k").public()
        );
        assert_ne!(
            a.account_key().expect("k").public(),
            b.account_key().expect("k").public()
        );
    }
}
