//! What a holder keeps of its offline coins between runs: the candidates of
//! a withdrawal in flight (written before round 1 leaves, so a crash never
//! loses a withdrawal the bank may have debited) and the finished coins.
//! The secrets are plain data here: the store that keeps them is the
//! holder's to protect.

use crypto_bigint::Resize;
use rsa::PublicKey as RsaPublicKey;
use rsa::traits::PublicKeyParts;
use serde::{Deserialize, Serialize};

use super::{CANDIDATES, Candidates, Identity, OfflineCoin, OfflineError, TERMS, TermSecrets};
use crate::blind_rsa::{i2osp, os2ip_in_range};
use crate::bytes::{B32, Bytes, Fixed};

/// One term's secrets, stored.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredTerm {
    /// `a`.
    pub a: B32,
    /// `c`.
    pub c: B32,
    /// `d`.
    pub d: B32,
}

impl std::fmt::Debug for StoredTerm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StoredTerm(..)")
    }
}

impl From<&TermSecrets> for StoredTerm {
    fn from(t: &TermSecrets) -> Self {
        Self {
            a: Fixed(t.a),
            c: Fixed(t.c),
            d: Fixed(t.d),
        }
    }
}

impl From<&StoredTerm> for TermSecrets {
    fn from(t: &StoredTerm) -> Self {
        Self {
            a: t.a.0,
            c: t.c.0,
            d: t.d.0,
        }
    }
}

/// A withdrawal's candidates, stored.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredCandidates {
    /// The key.
    pub key_id: B32,
    /// The identity they hide.
    pub u: Identity,
    /// Every candidate's secrets.
    pub terms: Vec<StoredTerm>,
    /// Every candidate's blinding factor, `len(n)` bytes.
    pub r: Vec<Bytes>,
    /// What went to the bank.
    pub blinded: Vec<Bytes>,
}

impl std::fmt::Debug for StoredCandidates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredCandidates")
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

impl Candidates {
    /// The stored form.
    pub fn stored(&self, pk: &RsaPublicKey) -> Result<StoredCandidates, OfflineError> {
        Ok(StoredCandidates {
            key_id: self.key_id,
            u: self.u,
            terms: self.terms.iter().map(StoredTerm::from).collect(),
            r: self
                .r
                .iter()
                .map(|r| i2osp(r, pk.size()).map(Bytes))
                .collect::<Result<_, _>>()?,
            blinded: self.blinded.clone(),
        })
    }

    /// Candidates read back for key `pk`: the counts and every value checked
    /// (a damaged record must not finish into a coin that fails later).
    pub fn from_stored(pk: &RsaPublicKey, s: &StoredCandidates) -> Result<Self, OfflineError> {
        for (what, got) in [
            ("terms", s.terms.len()),
            ("blinding factors", s.r.len()),
            ("candidates", s.blinded.len()),
        ] {
            if got != CANDIDATES {
                return Err(OfflineError::Count {
                    what,
                    expected: CANDIDATES,
                    got,
                });
            }
        }
        super::check_blinded(pk, &s.blinded)?;
        let r =
            s.r.iter()
                .map(|r| Ok(os2ip_in_range(pk, &r.0)?.resize(pk.n_bits_precision())))
                .collect::<Result<_, OfflineError>>()?;
        Ok(Self {
            key_id: s.key_id,
            u: s.u,
            terms: s.terms.iter().map(TermSecrets::from).collect(),
            r,
            blinded: s.blinded.clone(),
        })
    }
}

/// An offline coin, stored.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredCoin {
    /// Its key.
    pub key_id: B32,
    /// Its signature.
    pub signature: Bytes,
    /// The identity it hides.
    pub u: Identity,
    /// Its terms, in canonical order.
    pub terms: Vec<StoredTerm>,
}

impl std::fmt::Debug for StoredCoin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredCoin")
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

impl OfflineCoin {
    /// The stored form.
    pub fn stored(&self) -> StoredCoin {
        StoredCoin {
            key_id: self.key_id,
            signature: self.signature.clone(),
            u: self.u,
            terms: self.terms.iter().map(StoredTerm::from).collect(),
        }
    }

    /// A coin read back; its term count checked (its arithmetic is checked
    /// by whoever it is spent to).
    pub fn from_stored(s: &StoredCoin) -> Result<Self, OfflineError> {
        if s.terms.len() != TERMS {
            return Err(OfflineError::Count {
                what: "terms",
                expected: TERMS,
                got: s.terms.len(),
            });
        }
        Ok(Self {
            key_id: s.key_id,
            signature: s.signature.clone(),
            u: s.u,
            terms: s.terms.iter().map(TermSecrets::from).collect(),
        })
    }
}
