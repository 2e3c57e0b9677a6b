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
    /// One key appears twice in the set (under two values or periods).
    #[error("key {0} appears twice in the key set")]
    DuplicateKey(B32),
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
    /// A key's windows are not its period's: `withdraw_from` must be
    /// `period × period_secs`, the withdraw window one period long, and the
    /// deposit window no shorter.
    #[error("key {0} has windows that are not those of its period")]
    BadWindows(B32),
    /// The set's period length is zero, or not the one this wallet saw before.
    #[error("the key set's period length is {got} s; expected {expected} s")]
    PeriodLength {
        /// The length in the set.
        got: u64,
        /// The length seen before (0: any positive length).
        expected: u64,
    },
    /// A value can be withdrawn now, but the set does not announce its key
    /// for the next period: a wallet must see that key before it is used.
    #[error("the key set announces no key of value {0} for the next period")]
    NoNextKey(u64),
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
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
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
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
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
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct KeySet {
    /// The bank's identifier (`bank_id` in payment_info).
    pub bank_id: String,
    /// The one currency of this mint.
    pub currency: Currency,
    /// The master public key that signs this set, deposit acks and proofs.
    pub master_public_key: PublicKey,
    /// The bank's RSA-OAEP encryption key for sealed envelopes.
    pub encryption_key: RsaPublicKeyData,
    /// Length of a withdraw period, seconds: key `period` p signs from
    /// `p × period_secs` for one period, so a period index is a time, not a label.
    pub period_secs: u64,
    /// All denomination keys not yet past `deposit_until`.
    pub denominations: Vec<DenominationKey>,
    /// When this set was signed.
    pub issued_at: u64,
    /// Denomination keys the bank revoked (still listed above, so their
    /// coins can be recouped): no coin of theirs is paid or exchanged.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub revoked: Vec<KeyRevocation>,
    /// Offline denomination keys (CAFE coins, `OFFLINE.md`): RSA keys of
    /// their own, never online keys, with the same windows per period.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub offline: Vec<DenominationKey>,
}

/// Why a denomination key was revoked.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum RevocationReason {
    /// Its private key leaked.
    Compromised,
    /// Coins were extorted under it (the chapter's "perfect crime"): the
    /// extorted withdrawals are marked, and only honest coins are recouped.
    Extorted,
}

impl RevocationReason {
    /// Its name on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Compromised => "compromised",
            Self::Extorted => "extorted",
        }
    }
}

/// A denomination key revoked, as the signed key set publishes it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct KeyRevocation {
    /// The key.
    pub key_id: B32,
    /// Why.
    pub reason: RevocationReason,
    /// Unix seconds.
    pub revoked_at: u64,
}

impl Canonical for KeyRevocation {
    const DOMAIN: &'static str = "key-revocation";
    fn encode_fields(&self, e: &mut Encoder) {
        e.fixed(&self.key_id.0)
            .str(self.reason.as_str())
            .u64(self.revoked_at);
    }
}

impl KeySet {
    /// Whether key `key_id` is revoked.
    pub fn is_revoked(&self, key_id: &B32) -> bool {
        self.revoked.iter().any(|r| &r.key_id == key_id)
    }
}

impl Canonical for KeySet {
    const DOMAIN: &'static str = "key-set";
    fn encode_fields(&self, e: &mut Encoder) {
        e.str(&self.bank_id)
            .str(self.currency.as_str())
            .fixed(&self.master_public_key.0.0);
        self.encryption_key.encode_fields(e);
        e.u64(self.period_secs)
            .list(&self.denominations)
            .u64(self.issued_at);
        // Only when there are any: sets signed before revocations (and
        // offline keys) existed keep their signatures and attestations.
        // With offline keys the revocations are always encoded, so the two
        // lists never read as one another.
        if !self.revoked.is_empty() || !self.offline.is_empty() {
            e.list(&self.revoked);
        }
        if !self.offline.is_empty() {
            e.list(&self.offline);
        }
    }
}

/// Ties every key to the time its period index names (`withdraw_from =
/// period × period_secs`, a withdraw window one period long, a deposit
/// window no shorter), and refuses two keys of one value in one period. A
/// key made for one user would need a period of its own, that is a time of
/// its own: it cannot stand beside the honest key of the same moment.
fn check_periods(period_secs: u64, keys: &[DenominationKey]) -> Result<(), KeySetError> {
    if period_secs == 0 {
        return Err(KeySetError::PeriodLength {
            got: 0,
            expected: 0,
        });
    }
    let mut seen = std::collections::BTreeSet::new();
    for d in keys {
        let from = d.period.checked_mul(period_secs);
        let until = from.and_then(|f| f.checked_add(period_secs - 1));
        if from != Some(d.withdraw_from)
            || until != Some(d.withdraw_until)
            || d.deposit_until < d.withdraw_until
        {
            return Err(KeySetError::BadWindows(d.key_id));
        }
        if !seen.insert((d.value.value, d.period)) {
            return Err(KeySetError::DuplicatePeriod {
                value: d.value.value,
                period: d.period,
            });
        }
    }
    Ok(())
}

/// What a wallet remembers of the key sets it accepted: the period length,
/// and for each value and period the key it saw (until that key expires).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SeenKeys {
    /// The period length of the sets seen (none yet: `None`).
    pub period_secs: Option<u64>,
    /// `(value, period)` to (key id, `deposit_until`).
    pub keys: BTreeMap<(u64, u64), (B32, u64)>,
}

/// One remembered key, as stored.
#[derive(Serialize, Deserialize)]
struct SeenKey {
    value: u64,
    period: u64,
    key_id: B32,
    deposit_until: u64,
}

/// [`SeenKeys`] as stored.
#[derive(Serialize, Deserialize)]
struct SeenKeysRecord {
    period_secs: Option<u64>,
    keys: Vec<SeenKey>,
}

impl Serialize for SeenKeys {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        SeenKeysRecord {
            period_secs: self.period_secs,
            keys: self
                .keys
                .iter()
                .map(|(&(value, period), &(key_id, deposit_until))| SeenKey {
                    value,
                    period,
                    key_id,
                    deposit_until,
                })
                .collect(),
        }
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for SeenKeys {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let r = SeenKeysRecord::deserialize(d)?;
        Ok(Self {
            period_secs: r.period_secs,
            keys: r
                .keys
                .into_iter()
                .map(|k| ((k.value, k.period), (k.key_id, k.deposit_until)))
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
    /// Offline denomination keys by key id (none shares an id with `keys`).
    pub offline: BTreeMap<B32, VerifiedDenomination>,
}

/// Parses and checks every key of one list of a set: ids, currency, value.
fn verify_keys(
    set: &KeySet,
    list: &[DenominationKey],
    others: &BTreeMap<B32, VerifiedDenomination>,
) -> Result<BTreeMap<B32, VerifiedDenomination>, KeySetError> {
    let mut keys = BTreeMap::new();
    for d in list {
        if d.public_key.key_id() != d.key_id {
            return Err(KeySetError::KeyIdMismatch(d.key_id));
        }
        if d.value.currency != set.currency {
            return Err(KeySetError::BadDenomination(d.key_id));
        }
        let denomination = d.denomination()?;
        let key = d.public_key.to_key()?;
        let earlier = keys.insert(
            d.key_id,
            VerifiedDenomination {
                info: d.clone(),
                denomination,
                key,
            },
        );
        // A map keeps one of two entries: checks that walk the map would
        // miss the other, which the set's signature and hash still cover.
        // An offline key that is an online one too would sign both kinds.
        if earlier.is_some() || others.contains_key(&d.key_id) {
            return Err(KeySetError::DuplicateKey(d.key_id));
        }
    }
    check_periods(set.period_secs, list)?;
    Ok(keys)
}

impl VerifiedKeySet {
    /// Verifies `signed` against the pinned master key and parses every key.
    /// Refuses an unsigned or re-signed set, a foreign master key, a key whose
    /// id does not match, values that are not powers of two of the currency,
    /// keys whose windows are not their period's, and more than one key per
    /// value and period: how a bank would tag one user.
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
        let keys = verify_keys(set, &set.denominations, &BTreeMap::new())?;
        let offline = verify_keys(set, &set.offline, &keys)?;
        Ok(Self {
            set: set.clone(),
            encryption_key,
            keys,
            offline,
        })
    }

    /// Checks this set against what a wallet saw before (the period length,
    /// and the key of each value and period) and records it; forgets keys
    /// past their deposit window at `now`. A different key for a value and
    /// period already seen is refused: the bank is showing this wallet
    /// another key than before, which is how it would tag it.
    pub fn check_seen(&self, seen: &mut SeenKeys, now: u64) -> Result<(), KeySetError> {
        let len = self.set.period_secs;
        if let Some(expected) = seen.period_secs
            && expected != len
        {
            return Err(KeySetError::PeriodLength { got: len, expected });
        }

        for d in &self.set.denominations {
            if let Some((prev, _)) = seen.keys.get(&(d.value.value, d.period))
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
        seen.period_secs = Some(len);
        for d in &self.set.denominations {
            seen.keys
                .insert((d.value.value, d.period), (d.key_id, d.deposit_until));
        }
        // A key past its deposit window signs and accepts nothing any more.
        seen.keys.retain(|_, (_, until)| *until >= now);
        Ok(())
    }

    /// Checks that a freshly fetched set announces, for every value that can
    /// be withdrawn at `now`, its key for the next period. A wallet that
    /// keeps in touch thus sees each key a period before it signs, so a key
    /// shown to that wallet alone at the turn of a period meets the key it
    /// remembers ([`VerifiedKeySet::check_seen`]), and is refused.
    pub fn check_announced(&self, now: u64) -> Result<(), KeySetError> {
        let current = now / self.set.period_secs.max(1);
        for d in self
            .set
            .denominations
            .iter()
            .filter(|d| d.period == current)
        {
            let next = self
                .set
                .denominations
                .iter()
                .any(|n| n.value.value == d.value.value && n.period == current + 1);
            if !next {
                return Err(KeySetError::NoNextKey(d.value.value));
            }
        }
        Ok(())
    }

    /// The key with this id, if the set has it.
    pub fn key(&self, key_id: &B32) -> Option<&VerifiedDenomination> {
        self.keys.get(key_id)
    }

    /// The offline key with this id, if the set has it.
    pub fn offline_key(&self, key_id: &B32) -> Option<&VerifiedDenomination> {
        self.offline.get(key_id)
    }

    /// For each denomination, the offline key that signs at `now`.
    pub fn offline_withdraw_keys(&self, now: u64) -> BTreeMap<Denomination, &VerifiedDenomination> {
        self.offline
            .values()
            .filter(|k| k.info.can_withdraw(now) && !self.set.is_revoked(&k.info.key_id))
            .map(|k| (k.denomination, k))
            .collect()
    }

    /// For each denomination, the withdrawable key at `now` that expires last.
    pub fn withdraw_keys(&self, now: u64) -> BTreeMap<Denomination, &VerifiedDenomination> {
        let mut out: BTreeMap<Denomination, &VerifiedDenomination> = BTreeMap::new();
        for k in self
            .keys
            .values()
            .filter(|k| k.info.can_withdraw(now) && !self.set.is_revoked(&k.info.key_id))
        {
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
