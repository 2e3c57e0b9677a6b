//! Denomination keys and the key set the mint master key signs.

use std::collections::BTreeMap;

use crypto_bigint::BoxedUint;
use rsa::PublicKey as RsaPublicKey;
use rsa::traits::PublicKeyParts;
use serde::{Deserialize, Serialize};

use crate::amount::{Amount, Currency, Denomination};
use crate::bytes::{B32, Bytes, Fixed};
use crate::canonical::{Canonical, Encoder};
use crate::signing::{PublicKey, Signed};

/// Smallest RSA modulus the protocol accepts, in bits.
pub const MIN_RSA_BITS: usize = 2048;
/// Largest RSA modulus the protocol accepts, in bits.
pub const MAX_RSA_BITS: usize = 4096;

/// A key set failed verification.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeySetError {
    /// The key set is not signed by the pinned master key.
    #[error("key set is not signed by the pinned master key")]
    BadSignature,
    /// The key set names another master key than the pinned one.
    #[error("key set names master key {got}, pinned is {pinned}")]
    WrongMasterKey {
        /// Fingerprint of the key in the set.
        got: String,
        /// Fingerprint of the pinned key.
        pinned: String,
    },
    /// An RSA public key is malformed or of a refused size.
    #[error("invalid RSA public key: {0}")]
    BadRsaKey(String),
    /// A key id does not match its key.
    #[error("key id {0} does not match its public key")]
    KeyIdMismatch(B32),
    /// A denomination is of another currency or not a power of two.
    #[error("bad denomination in key {0}")]
    BadDenomination(B32),
    /// Two keys of one value share a period index, or their withdraw
    /// windows overlap: one of them could be a key made for one user.
    #[error(
        "two keys for value {value} in period {period}: a key set must have one key per value and period"
    )]
    DuplicatePeriod {
        /// The coin value.
        value: u64,
        /// The period index shown twice, or the later of two overlapping periods.
        period: u64,
    },
    /// A key's windows are out of order (withdraw_from after withdraw_until,
    /// or withdraw_until after deposit_until).
    #[error("key {0} has its validity windows out of order")]
    BadWindows(B32),
    /// The key for a value and period is not the one this wallet saw before.
    #[error("the key for value {value} in period {period} changed from {seen} to {got}")]
    KeyChanged {
        /// The coin value.
        value: u64,
        /// The period index.
        period: u64,
        /// The key id seen before.
        seen: B32,
        /// The key id shown now.
        got: B32,
    },
}

/// An RSA public key on the wire: big-endian modulus and exponent.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RsaPublicKeyData {
    /// Modulus `n`, big-endian.
    pub n: Bytes,
    /// Public exponent `e`, big-endian.
    pub e: Bytes,
}

impl RsaPublicKeyData {
    /// The wire form of a key.
    pub fn from_key(pk: &RsaPublicKey) -> Self {
        Self {
            n: Bytes(pk.n_bytes().into_vec()),
            e: Bytes(pk.e_bytes().into_vec()),
        }
    }

    /// Parses and checks the key (size 2048 to 4096 bits, valid exponent).
    pub fn to_key(&self) -> Result<RsaPublicKey, KeySetError> {
        if self.n.0.len() > MAX_RSA_BITS / 8 || self.e.0.len() > 8 || self.e.0.is_empty() {
            return Err(KeySetError::BadRsaKey("component too long".into()));
        }
        let n = BoxedUint::from_be_slice_vartime(&self.n.0);
        let e = BoxedUint::from_be_slice_vartime(&self.e.0);
        RsaPublicKey::new_with_size_limits(n, e, MIN_RSA_BITS..=MAX_RSA_BITS)
            .map_err(|err| KeySetError::BadRsaKey(err.to_string()))
    }

    /// `key_id`: SHA-256 of the canonical encoding of the key (the seed's "keyversion").
    pub fn key_id(&self) -> B32 {
        Fixed(self.canonical_hash())
    }
}

impl Canonical for RsaPublicKeyData {
    const DOMAIN: &'static str = "rsa-public-key";
    fn encode_fields(&self, e: &mut Encoder) {
        e.bytes(&self.n.0).bytes(&self.e.0);
    }
}

/// One denomination key: its value and its validity windows (unix seconds).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DenominationKey {
    /// SHA-256 of the public key's canonical encoding.
    pub key_id: B32,
    /// Value of every coin this key signs.
    pub value: Amount,
    /// The RSA public key.
    pub public_key: RsaPublicKeyData,
    /// Index of the withdraw period this key signs in: one key per value and
    /// period, so a bank cannot slip a key made for one user into the set.
    pub period: u64,
    /// First second coins may be withdrawn with this key.
    pub withdraw_from: u64,
    /// Last second coins may be withdrawn with this key.
    pub withdraw_until: u64,
    /// Last second coins of this key may be deposited or exchanged.
    pub deposit_until: u64,
}

impl DenominationKey {
    /// Whether the key signs new coins at `now`.
    pub fn can_withdraw(&self, now: u64) -> bool {
        self.withdraw_from <= now && now <= self.withdraw_until
    }

    /// Whether coins of this key are accepted at `now`.
    pub fn can_deposit(&self, now: u64) -> bool {
        self.withdraw_from <= now && now <= self.deposit_until
    }

    /// The denomination of this key's value.
    pub fn denomination(&self) -> Result<Denomination, KeySetError> {
        Denomination::from_value(self.value.value)
            .map_err(|_| KeySetError::BadDenomination(self.key_id))
    }
}

impl Canonical for DenominationKey {
    const DOMAIN: &'static str = "denomination-key";
    fn encode_fields(&self, e: &mut Encoder) {
        e.fixed(&self.key_id.0);
        self.value.encode(e);
        self.public_key.encode_fields(e);
        e.u64(self.period)
            .u64(self.withdraw_from)
            .u64(self.withdraw_until)
            .u64(self.deposit_until);
    }
}

/// Everything a wallet needs to trust the mint: signed as a whole by the master key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeySet {
    /// The bank's identifier (`bank_id` in payment_info).
    pub bank_id: String,
    /// The one currency of this mint.
    pub currency: Currency,
    /// The master public key that signs this set, deposit acks and proofs.
    pub master_public_key: PublicKey,
    /// The bank's RSA-OAEP encryption key for sealed envelopes.
    pub encryption_key: RsaPublicKeyData,
    /// All denomination keys not yet past `deposit_until`.
    pub denominations: Vec<DenominationKey>,
    /// When this set was signed.
    pub issued_at: u64,
}

impl Canonical for KeySet {
    const DOMAIN: &'static str = "key-set";
    fn encode_fields(&self, e: &mut Encoder) {
        e.str(&self.bank_id)
            .str(self.currency.as_str())
            .fixed(&self.master_public_key.0.0);
        self.encryption_key.encode_fields(e);
        e.list(&self.denominations).u64(self.issued_at);
    }
}

/// Refuses two keys of one value with the same period index, or with
/// overlapping withdraw windows (a later period must also start later).
fn check_one_key_per_period(keys: &[DenominationKey]) -> Result<(), KeySetError> {
    let mut by_value: BTreeMap<u64, Vec<&DenominationKey>> = BTreeMap::new();
    for d in keys {
        by_value.entry(d.value.value).or_default().push(d);
    }
    for (value, mut ks) in by_value {
        // Well-formed windows first: then consecutive periods that do not
        // overlap leave no two windows of one value overlapping at all.
        if let Some(d) = ks
            .iter()
            .find(|d| d.withdraw_from > d.withdraw_until || d.withdraw_until > d.deposit_until)
        {
            return Err(KeySetError::BadWindows(d.key_id));
        }
        ks.sort_by_key(|d| d.period);
        for pair in ks.windows(2) {
            let (a, b) = (pair[0], pair[1]);
            if a.period == b.period || a.withdraw_until >= b.withdraw_from {
                return Err(KeySetError::DuplicatePeriod {
                    value,
                    period: b.period,
                });
            }
        }
    }
    Ok(())
}

/// What a wallet remembers of the key sets it accepted: for each value and
/// period index, the key id it saw.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SeenKeys {
    /// `(value, period)` to key id.
    pub keys: BTreeMap<(u64, u64), B32>,
}

/// One remembered key, as stored.
#[derive(Serialize, Deserialize)]
struct SeenKey {
    value: u64,
    period: u64,
    key_id: B32,
}

impl Serialize for SeenKeys {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let list: Vec<SeenKey> = self
            .keys
            .iter()
            .map(|(&(value, period), &key_id)| SeenKey {
                value,
                period,
                key_id,
            })
            .collect();
        list.serialize(s)
    }
}

impl<'de> Deserialize<'de> for SeenKeys {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let list = Vec::<SeenKey>::deserialize(d)?;
        Ok(Self {
            keys: list
                .into_iter()
                .map(|k| ((k.value, k.period), k.key_id))
                .collect(),
        })
    }
}

/// A key set with the master key's signature, as served at `GET /keys`.
pub type SignedKeySet = Signed<KeySet>;

/// A denomination key whose RSA key has been parsed and checked.
#[derive(Clone, Debug)]
pub struct VerifiedDenomination {
    /// The key as published.
    pub info: DenominationKey,
    /// Its denomination.
    pub denomination: Denomination,
    /// The parsed RSA key.
    pub key: RsaPublicKey,
}

/// A key set checked against the pinned master key, with every key parsed.
#[derive(Clone, Debug)]
pub struct VerifiedKeySet {
    /// The set as signed.
    pub set: KeySet,
    /// The parsed bank encryption key.
    pub encryption_key: RsaPublicKey,
    /// Denomination keys by key id.
    pub keys: BTreeMap<B32, VerifiedDenomination>,
}

impl VerifiedKeySet {
    /// Verifies `signed` against the pinned master key and parses every key.
    /// Refuses an unsigned or re-signed set, a foreign master key, a key whose
    /// id does not match, values that are not powers of two of the currency,
    /// and more than one key per value and period (or overlapping withdraw
    /// windows of one value), which is how a bank would tag one user.
    pub fn verify(signed: &SignedKeySet, pinned_master: &PublicKey) -> Result<Self, KeySetError> {
        let set = &signed.body;
        if &set.master_public_key != pinned_master {
            return Err(KeySetError::WrongMasterKey {
                got: set.master_public_key.fingerprint(),
                pinned: pinned_master.fingerprint(),
            });
        }
        signed
            .verify(pinned_master)
            .map_err(|_| KeySetError::BadSignature)?;
        let encryption_key = set.encryption_key.to_key()?;
        let mut keys = BTreeMap::new();
        for d in &set.denominations {
            if d.public_key.key_id() != d.key_id {
                return Err(KeySetError::KeyIdMismatch(d.key_id));
            }
            if d.value.currency != set.currency {
                return Err(KeySetError::BadDenomination(d.key_id));
            }
            let denomination = d.denomination()?;
            let key = d.public_key.to_key()?;
            keys.insert(
                d.key_id,
                VerifiedDenomination {
                    info: d.clone(),
                    denomination,
                    key,
                },
            );
        }
        check_one_key_per_period(&set.denominations)?;
        Ok(Self {
            set: set.clone(),
            encryption_key,
            keys,
        })
    }

    /// Checks this set against the keys a wallet saw before (value and period
    /// to key id) and records the new ones. A key that differs from the one
    /// seen for its value and period is refused: the bank is showing this
    /// wallet another key than before, which is how it would tag it.
    pub fn check_seen(&self, seen: &mut SeenKeys) -> Result<(), KeySetError> {
        for d in &self.set.denominations {
            if let Some(prev) = seen.keys.get(&(d.value.value, d.period))
                && *prev != d.key_id
            {
                return Err(KeySetError::KeyChanged {
                    value: d.value.value,
                    period: d.period,
                    seen: *prev,
                    got: d.key_id,
                });
            }
        }
        for d in &self.set.denominations {
            seen.keys.insert((d.value.value, d.period), d.key_id);
        }
        // Forget periods no key of this set reaches back to: the memory stays small.
        if let Some(oldest) = self.set.denominations.iter().map(|d| d.period).min() {
            seen.keys.retain(|(_, p), _| *p >= oldest);
        }
        Ok(())
    }

    /// The key with this id, if the set has it.
    pub fn key(&self, key_id: &B32) -> Option<&VerifiedDenomination> {
        self.keys.get(key_id)
    }

    /// For each denomination, the withdrawable key at `now` that expires last.
    pub fn withdraw_keys(&self, now: u64) -> BTreeMap<Denomination, &VerifiedDenomination> {
        let mut out: BTreeMap<Denomination, &VerifiedDenomination> = BTreeMap::new();
        for k in self.keys.values().filter(|k| k.info.can_withdraw(now)) {
            let better = out
                .get(&k.denomination)
                .is_none_or(|cur| cur.info.withdraw_until < k.info.withdraw_until);
            if better {
                out.insert(k.denomination, k);
            }
        }
        out
    }
}
