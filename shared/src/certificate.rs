//! NetCash's insurance certificates: a certifier (the FIC) vouches for each
//! currency server's master key, publishes the certificates it revoked, and
//! attests each key set a mint publishes, so a wallet pins one certifier
//! key instead of every mint's and detects a mint that shows different
//! keys to different users.
//!
//! The certifier attests a key set only if it agrees with every set of that
//! mint it attested before: the same bank id, currency, period length and
//! envelope key, and for each value and period the same denomination key.
//! Any two attested sets are thus consistent, so a key made for one user
//! cannot be attested, and a set that is not attested is refused.

use serde::{Deserialize, Serialize};

use crate::amount::Currency;
use crate::bytes::{B32, Fixed};
use crate::canonical::{Canonical, Encoder};
use crate::keyset::{KeySet, KeySetError, SignedKeySet, VerifiedKeySet};
use crate::signing::{PublicKey, Signed};

/// `{Cert_ID, CS_name, PK_CS, Issue_date, Expiry}Sig_FIC`, with the address
/// the server is reached at and the currency it issues.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct MintCertificate {
    /// The certifier's serial number of this certificate.
    pub cert_id: u64,
    /// The certifier that signs it (so a wallet can say whose it is).
    pub certifier: PublicKey,
    /// The currency server's name (`CS_name`).
    pub cs_name: String,
    /// The bank id its key sets carry, which coins and payments name it by:
    /// the certifier gives one bank id to one mint at a time, and a key set
    /// under another id is refused.
    #[serde(default)]
    pub bank_id: String,
    /// Its public base URL (`CS_addr`): a wallet accepts the certificate only
    /// from a mint reached at this origin.
    pub cs_addr: String,
    /// The master key certified (`PK_CS`).
    pub master_public_key: PublicKey,
    /// The one currency it issues.
    pub currency: Currency,
    /// Valid from (unix seconds).
    pub issued_at: u64,
    /// Valid until (unix seconds, inclusive).
    pub expires_at: u64,
}

impl Canonical for MintCertificate {
    const DOMAIN: &'static str = "mint-certificate";
    fn encode_fields(&self, e: &mut Encoder) {
        e.u64(self.cert_id)
            .fixed(&self.certifier.0.0)
            .str(&self.cs_name)
            .str(&self.bank_id)
            .str(&self.cs_addr)
            .fixed(&self.master_public_key.0.0)
            .str(self.currency.as_str())
            .u64(self.issued_at)
            .u64(self.expires_at);
    }
}

/// One revoked certificate.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Revoked {
    /// The certificate revoked.
    pub cert_id: u64,
    /// When (unix seconds).
    pub revoked_at: u64,
    /// Why, for people.
    pub reason: String,
}

impl Canonical for Revoked {
    const DOMAIN: &'static str = "revoked-certificate";
    fn encode_fields(&self, e: &mut Encoder) {
        e.u64(self.cert_id).u64(self.revoked_at).str(&self.reason);
    }
}

/// The certifier's list of revoked certificates, signed afresh each time it
/// is published: a newer list replaces an older one.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct RevocationList {
    /// The certifier that signs it.
    pub certifier: PublicKey,
    /// When it was signed.
    pub issued_at: u64,
    /// When a fresher list is due: past it, a wallet asks the certifier
    /// itself, and uses this one only while it cannot reach it.
    pub next_update: u64,
    /// Every revoked certificate not yet expired.
    pub revoked: Vec<Revoked>,
}

impl Canonical for RevocationList {
    const DOMAIN: &'static str = "revocation-list";
    fn encode_fields(&self, e: &mut Encoder) {
        e.fixed(&self.certifier.0.0)
            .u64(self.issued_at)
            .u64(self.next_update)
            .list(&self.revoked);
    }
}

impl RevocationList {
    /// Whether certificate `cert_id` is revoked.
    pub fn revokes(&self, cert_id: u64) -> bool {
        self.revoked.iter().any(|r| r.cert_id == cert_id)
    }
}

/// The certifier's statement that a mint published this key set.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct KeySetAttestation {
    /// The mint's certificate.
    pub cert_id: u64,
    /// SHA-256 of the key set's canonical encoding ([`key_set_hash`]).
    pub key_set_hash: B32,
    /// The set's own `issued_at`.
    pub key_set_issued_at: u64,
    /// When the certifier attested it.
    pub attested_at: u64,
}

impl Canonical for KeySetAttestation {
    const DOMAIN: &'static str = "key-set-attestation";
    fn encode_fields(&self, e: &mut Encoder) {
        e.u64(self.cert_id)
            .fixed(&self.key_set_hash.0)
            .u64(self.key_set_issued_at)
            .u64(self.attested_at);
    }
}

/// The hash the certifier attests: of the key set's canonical encoding.
pub fn key_set_hash(set: &KeySet) -> B32 {
    Fixed(set.canonical_hash())
}

/// What a mint serves with its key set: its certificate, the attestation of
/// that set, and the latest revocation list it got, all signed by the
/// certifier, so the mint cannot forge any of them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Certification {
    /// The mint's certificate.
    pub certificate: Signed<MintCertificate>,
    /// The certifier's attestation of the key set served with it.
    pub attestation: Signed<KeySetAttestation>,
    /// The certifier's latest revocation list.
    pub revocations: Signed<RevocationList>,
}

/// `GET /keys`: the signed key set, with the certifier's certification
/// when the mint is certified.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct KeysAnswer {
    /// The key set signed by the mint master key.
    #[serde(flatten)]
    pub key_set: SignedKeySet,
    /// The certifier's papers for it (absent on an uncertified mint).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certification: Option<Certification>,
}

/// A mint's certification was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CertError {
    /// The mint serves no certificate.
    #[error("the mint at {0} has no certificate from a certifier")]
    NotCertified(String),
    /// A certificate, list or attestation is signed by another certifier.
    #[error("the {what} is by certifier {got}, not the pinned certifier {pinned}")]
    OtherCertifier {
        /// Which paper.
        what: &'static str,
        /// Fingerprint of the key it names.
        got: String,
        /// Fingerprint of the pinned key.
        pinned: String,
    },
    /// A signature does not verify under the pinned certifier key.
    #[error("the {0} does not carry a valid signature of the certifier")]
    BadSignature(&'static str),
    /// The certificate is not valid at this time.
    #[error("certificate {cert_id} of {cs_name} is valid from {from} to {until}, not now ({now})")]
    Expired {
        /// The certificate.
        cert_id: u64,
        /// The mint it names.
        cs_name: String,
        /// Valid from.
        from: u64,
        /// Valid until.
        until: u64,
        /// Now.
        now: u64,
    },
    /// The certificate is on the certifier's revocation list.
    #[error("certificate {cert_id} of {cs_name} is revoked: {reason}")]
    Revoked {
        /// The certificate.
        cert_id: u64,
        /// The mint it names.
        cs_name: String,
        /// The certifier's reason.
        reason: String,
    },
    /// The certificate is for another master key, currency or address.
    #[error("the certificate does not match the mint: {0}")]
    Mismatch(String),
    /// The key set served is not the one the certifier attested: the mint
    /// may be showing this wallet a set of its own.
    #[error("the key set the mint serves is not the one the certifier attested for {0}")]
    NotAttested(String),
    /// The key set itself is refused.
    #[error(transparent)]
    KeySet(#[from] KeySetError),
}

/// A mint whose certificate, attestation and key set all checked out.
#[derive(Clone, Debug)]
pub struct CertifiedMint {
    /// Its certificate.
    pub certificate: MintCertificate,
    /// Its key set, verified under the certified master key.
    pub keys: VerifiedKeySet,
    /// The newest revocation list seen (the one given or the one relayed).
    pub revocations: Signed<RevocationList>,
    /// Whether even that list is past its `next_update`: a revoked mint may
    /// relay an old list, so the wallet asks the certifier for a fresh one,
    /// and goes on with this one only while the certifier is unreachable.
    pub revocations_stale: bool,
}

/// The origin (`scheme://host[:port]`) of an http(s) URL without
/// credentials, or `None` for anything else.
pub fn origin(text: &str) -> Option<String> {
    let u = url::Url::parse(text.trim()).ok()?;
    let plain = matches!(u.scheme(), "http" | "https")
        && u.host().is_some()
        && u.username().is_empty()
        && u.password().is_none();
    plain.then(|| u.origin().ascii_serialization())
}

/// Checks a certifier-signed paper's signer and signature.
fn check_signed<T: Canonical>(
    what: &'static str,
    signed: &Signed<T>,
    named: &PublicKey,
    pinned: &PublicKey,
) -> Result<(), CertError> {
    if named != pinned {
        return Err(CertError::OtherCertifier {
            what,
            got: named.fingerprint(),
            pinned: pinned.fingerprint(),
        });
    }
    signed
        .verify(pinned)
        .map(|_| ())
        .map_err(|_| CertError::BadSignature(what))
}

/// Checks a revocation list against the pinned certifier.
pub fn verify_revocations(
    list: &Signed<RevocationList>,
    certifier: &PublicKey,
) -> Result<(), CertError> {
    check_signed("revocation list", list, &list.body.certifier, certifier)
}

/// Checks that `cert` is valid at `now` and on none of `lists` (checked by
/// the caller). Revocation is for good: a certificate on any list the
/// certifier signed is revoked, whichever list is newer.
pub fn check_standing<'a>(
    cert: &MintCertificate,
    lists: impl IntoIterator<Item = &'a Signed<RevocationList>>,
    now: u64,
) -> Result<(), CertError> {
    if now < cert.issued_at || now > cert.expires_at {
        return Err(CertError::Expired {
            cert_id: cert.cert_id,
            cs_name: cert.cs_name.clone(),
            from: cert.issued_at,
            until: cert.expires_at,
            now,
        });
    }
    if let Some(r) = lists
        .into_iter()
        .flat_map(|l| l.body.revoked.iter())
        .find(|r| r.cert_id == cert.cert_id)
    {
        return Err(CertError::Revoked {
            cert_id: cert.cert_id,
            cs_name: cert.cs_name.clone(),
            reason: r.reason.clone(),
        });
    }
    Ok(())
}

/// Checks what a mint reached at `mint_url` served at `GET /keys` against
/// the pinned `certifier` at `now`: a certificate by that certifier, valid
/// now, for this mint's master key, currency and origin, not revoked by the
/// relayed list nor `known` (a list the wallet holds, checked
/// here too; either list revokes for good), and an attestation of exactly
/// the key set served.
pub fn verify_certified(
    answer: &KeysAnswer,
    mint_url: &str,
    certifier: &PublicKey,
    known: Option<&Signed<RevocationList>>,
    now: u64,
) -> Result<CertifiedMint, CertError> {
    let set = &answer.key_set.body;
    let c = answer
        .certification
        .as_ref()
        .ok_or_else(|| CertError::NotCertified(mint_url.to_owned()))?;
    let cert = &c.certificate.body;
    check_signed("certificate", &c.certificate, &cert.certifier, certifier)?;
    if cert.master_public_key != set.master_public_key {
        return Err(CertError::Mismatch(format!(
            "it certifies master key {}, the key set is signed by {}",
            cert.master_public_key.fingerprint(),
            set.master_public_key.fingerprint()
        )));
    }
    if cert.currency != set.currency {
        return Err(CertError::Mismatch(format!(
            "it certifies currency {}, the mint issues {}",
            cert.currency, set.currency
        )));
    }
    if cert.bank_id != set.bank_id {
        return Err(CertError::Mismatch(format!(
            "it certifies bank id {:?}, the key set names {:?}",
            cert.bank_id, set.bank_id
        )));
    }
    if origin(&cert.cs_addr).is_none() || origin(&cert.cs_addr) != origin(mint_url) {
        return Err(CertError::Mismatch(format!(
            "it certifies the mint at {}, this one was reached at {mint_url}",
            cert.cs_addr
        )));
    }
    verify_revocations(&c.revocations, certifier)?;
    if let Some(k) = known {
        verify_revocations(k, certifier)?;
    }
    check_standing(cert, std::iter::once(&c.revocations).chain(known), now)?;
    let newest = match known {
        Some(k) if k.body.issued_at > c.revocations.body.issued_at => k,
        _ => &c.revocations,
    };
    check_signed("key set attestation", &c.attestation, certifier, certifier)?;
    let att = &c.attestation.body;
    if att.cert_id != cert.cert_id || att.key_set_hash != key_set_hash(set) {
        return Err(CertError::NotAttested(cert.cs_name.clone()));
    }
    let keys = VerifiedKeySet::verify(&answer.key_set, &cert.master_public_key)?;
    Ok(CertifiedMint {
        certificate: cert.clone(),
        keys,
        revocations_stale: now > newest.body.next_update,
        revocations: newest.clone(),
    })
}

/// `{merchant_id, merchant name, PK_M, not_before, not_after}` signed by the
/// merchant's own mint: who a payer pays, as the mint vouches for it. The
/// payreq carries it; the receipt must be signed by `public_key`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct MerchantCertificate {
    /// The merchant's account at the mint (the hash of `public_key`).
    pub merchant_id: String,
    /// The merchant's name, as the mint has it.
    pub name: String,
    /// The key that signs the merchant's receipts.
    pub public_key: PublicKey,
    /// The mint that vouches (`bank_id` of its key set).
    pub bank_id: String,
    /// Valid from (unix seconds).
    pub not_before: u64,
    /// Valid until (unix seconds, inclusive).
    pub not_after: u64,
}

impl Canonical for MerchantCertificate {
    const DOMAIN: &'static str = "merchant-certificate";
    fn encode_fields(&self, e: &mut Encoder) {
        e.str(&self.merchant_id)
            .str(&self.name)
            .fixed(&self.public_key.0.0)
            .str(&self.bank_id)
            .u64(self.not_before)
            .u64(self.not_after);
    }
}

/// A merchant's certificate was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MerchantCertError {
    /// Not signed by the master key of the mint it names.
    #[error("the merchant certificate is not signed by the bank {0}")]
    NotByBank(String),
    /// Not valid at this time.
    #[error("the merchant certificate of {name} is valid from {from} to {until}, not now ({now})")]
    Expired {
        /// The merchant's name.
        name: String,
        /// Valid from.
        from: u64,
        /// Valid until.
        until: u64,
        /// Now.
        now: u64,
    },
    /// For another merchant account or key than the one asking to be paid.
    #[error("the merchant certificate is for {got}, the payment request for {want}")]
    OtherMerchant {
        /// The account it names.
        got: String,
        /// The account the request names.
        want: String,
    },
}

/// Checks `cert` for the merchant account `merchant_id` at the bank `bank_id`
/// whose master key is `bank_master`, at `now`: signed by that bank, valid
/// now, naming that account, whose id is the hash of the certified key.
pub fn verify_merchant(
    cert: &Signed<MerchantCertificate>,
    bank_id: &str,
    bank_master: &PublicKey,
    merchant_id: &str,
    now: u64,
) -> Result<(), MerchantCertError> {
    let c = &cert.body;
    if c.bank_id != bank_id || cert.verify(bank_master).is_err() {
        return Err(MerchantCertError::NotByBank(bank_id.to_owned()));
    }
    if c.merchant_id != merchant_id || crate::messages::account_id(&c.public_key) != c.merchant_id {
        return Err(MerchantCertError::OtherMerchant {
            got: c.merchant_id.clone(),
            want: merchant_id.to_owned(),
        });
    }
    if now < c.not_before || now > c.not_after {
        return Err(MerchantCertError::Expired {
            name: c.name.clone(),
            from: c.not_before,
            until: c.not_after,
            now,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests;
