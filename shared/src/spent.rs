//! The bank's public list of spent coins, one per denomination key.
//!
//! A wallet must never show the bank which coins it holds, yet a wallet
//! restored from its seed must learn which of its re-derived coins were spent.
//! So the bank publishes, for each key, one list that is the same for every
//! client: the 64-bit fingerprints of the serials spent under that key,
//! sorted, with a header signed by the master key. The wallet downloads it
//! and checks its coins locally; the bank learns nothing about them.
//!
//! A fingerprint is the first 8 bytes of the serial, big-endian (serials are
//! 32 uniform random bytes). An unspent coin is mistaken for spent with
//! probability about n / 2^64 for n spent coins of its key: never, in
//! practice. The list costs 8 bytes per spent coin; keys rotate every period,
//! so each list is bounded by what one period's key signed.

use serde::{Deserialize, Serialize};

use crate::bytes::{B32, Bytes, Fixed};
use crate::canonical::{Canonical, Encoder, sha256};
use crate::signing::{Keypair, PublicKey, Signed};

/// Length of one fingerprint in bytes.
pub const FINGERPRINT_LEN: usize = 8;

/// The signed part of a spent list.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct SpentListHeader {
    /// The denomination key whose coins these are.
    pub key_id: B32,
    /// Number of fingerprints.
    pub count: u64,
    /// When the bank built the list, unix seconds (coins spent later are missing).
    pub built_at: u64,
    /// SHA-256 of the fingerprint bytes.
    pub digest: B32,
}

impl Canonical for SpentListHeader {
    const DOMAIN: &'static str = "spent-list";
    fn encode_fields(&self, e: &mut Encoder) {
        e.fixed(&self.key_id.0)
            .u64(self.count)
            .u64(self.built_at)
            .fixed(&self.digest.0);
    }
}

/// `GET /keys/{key_id}/spent`: the fingerprints of every serial spent under a key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct SpentList {
    /// Signed by the bank's master key.
    pub header: Signed<SpentListHeader>,
    /// Sorted, distinct, big-endian 8-byte fingerprints, concatenated.
    pub fingerprints: Bytes,
}

/// A spent list was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpentListError {
    /// The header is not signed by the pinned master key.
    #[error("the spent list is not signed by the bank's master key")]
    BadSignature,
    /// The list is for another key than the one asked for.
    #[error("the spent list is for another key")]
    WrongKey,
    /// The bytes do not match the signed header or are not a sorted list.
    #[error("the spent list is malformed: {0}")]
    Malformed(&'static str),
}

/// The fingerprint of a serial.
pub fn fingerprint(serial: &B32) -> u64 {
    let mut b = [0u8; FINGERPRINT_LEN];
    b.copy_from_slice(&serial.0[..FINGERPRINT_LEN]);
    u64::from_be_bytes(b)
}

impl SpentList {
    /// Builds and signs the list of `serials` spent under `key_id`.
    pub fn build<'a>(
        key_id: B32,
        serials: impl IntoIterator<Item = &'a B32>,
        built_at: u64,
        master: &Keypair,
    ) -> Self {
        let mut fps: Vec<u64> = serials.into_iter().map(fingerprint).collect();
        fps.sort_unstable();
        fps.dedup();
        let mut bytes = Vec::with_capacity(fps.len() * FINGERPRINT_LEN);
        for f in &fps {
            bytes.extend_from_slice(&f.to_be_bytes());
        }
        let header = SpentListHeader {
            key_id,
            count: fps.len() as u64,
            built_at,
            digest: Fixed(sha256(&bytes)),
        };
        Self {
            header: Signed::sign(header, master),
            fingerprints: Bytes(bytes),
        }
    }

    /// Checks the master key's signature, the key and the bytes, and returns
    /// the set to look coins up in.
    pub fn verify(&self, master: &PublicKey, key_id: &B32) -> Result<SpentSet, SpentListError> {
        let h = self
            .header
            .verify(master)
            .map_err(|_| SpentListError::BadSignature)?;
        if &h.key_id != key_id {
            return Err(SpentListError::WrongKey);
        }
        let bytes = &self.fingerprints.0;
        if !bytes.len().is_multiple_of(FINGERPRINT_LEN) {
            return Err(SpentListError::Malformed("length is not a multiple of 8"));
        }
        if (bytes.len() / FINGERPRINT_LEN) as u64 != h.count {
            return Err(SpentListError::Malformed("count does not match"));
        }
        if Fixed(sha256(bytes)) != h.digest {
            return Err(SpentListError::Malformed("digest does not match"));
        }
        let fps: Vec<u64> = bytes
            .chunks_exact(FINGERPRINT_LEN)
            .map(|c| {
                let mut b = [0u8; FINGERPRINT_LEN];
                b.copy_from_slice(c);
                u64::from_be_bytes(b)
            })
            .collect();
        if fps.windows(2).any(|w| w[0] >= w[1]) {
            return Err(SpentListError::Malformed("not sorted and distinct"));
        }
        Ok(SpentSet {
            built_at: h.built_at,
            fingerprints: fps,
        })
    }
}

/// A verified spent list, for local lookups.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SpentSet {
    /// When the bank built it.
    pub built_at: u64,
    fingerprints: Vec<u64>,
}

impl SpentSet {
    /// Whether the coin with this serial is (almost surely) spent.
    pub fn contains(&self, serial: &B32) -> bool {
        self.fingerprints
            .binary_search(&fingerprint(serial))
            .is_ok()
    }

    /// Number of spent coins listed.
    pub fn len(&self) -> usize {
        self.fingerprints.len()
    }

    /// Whether nothing is listed.
    pub fn is_empty(&self) -> bool {
        self.fingerprints.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn serial(n: u8) -> B32 {
        let mut b = [n; 32];
        b[31] = 0xaa;
        Fixed(b)
    }

    #[test]
    fn lists_verify_and_answer_lookups() {
        let master = Keypair::from_secret_bytes(&[7; 32]);
        let key = Fixed([1; 32]);
        let spent = [serial(3), serial(1), serial(2), serial(1)];
        let list = SpentList::build(key, &spent, 100, &master);
        assert_eq!(list.header.body.count, 3, "duplicates collapse");
        let set = list.verify(&master.public(), &key).expect("verifies");
        assert!(set.contains(&serial(1)) && set.contains(&serial(3)));
        assert!(!set.contains(&serial(4)));
        assert_eq!(set.len(), 3);

        let other = Keypair::from_secret_bytes(&[8; 32]);
        assert_eq!(
            list.verify(&other.public(), &key),
            Err(SpentListError::BadSignature)
        );
        assert_eq!(
            list.verify(&master.public(), &Fixed([2; 32])),
            Err(SpentListError::WrongKey)
        );
        // A fingerprint dropped, added, or reordered: the signed digest refuses it.
        let mut dropped = list.clone();
        dropped.fingerprints.0.truncate(8);
        assert!(dropped.verify(&master.public(), &key).is_err());
        let mut odd = list.clone();
        odd.fingerprints.0.push(0);
        assert!(odd.verify(&master.public(), &key).is_err());
        // Even re-signed, an unsorted list is refused.
        let mut bytes = list.fingerprints.0.clone();
        bytes.swap(0, 8);
        let unsorted = SpentList {
            header: Signed::sign(
                SpentListHeader {
                    digest: Fixed(sha256(&bytes)),
                    ..list.header.body.clone()
                },
                &master,
            ),
            fingerprints: Bytes(bytes),
        };
        assert!(matches!(
            unsorted.verify(&master.public(), &key),
            Err(SpentListError::Malformed(_))
        ));
    }
}
