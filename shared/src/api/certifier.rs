//! The certifier's endpoints (NetCash's FIC).

use super::{Endpoint, EndpointInfo, Method, Param, Visitor, json};
use crate::certificate::{Certification, KeySetAttestation, MintCertificate, RevocationList};
use crate::error::ErrorCode;
use crate::keyset::SignedKeySet;
use crate::messages::CertifierInfo;
use crate::signing::Signed;

pub(crate) const P_CERT: Param = Param {
    name: "cert_id",
    description: "a certificate's serial number",
};

endpoint!(
    /// `GET /certifier`: the certifier's name and public key.
    CertifierIdentity, (), () => CertifierInfo,
    json(
        "certifier",
        Method::Get,
        "/certifier",
        "The certifier's name and public key (wallets pin the key, learnt out of band)",
        &[],
    )
);

endpoint!(
    /// `GET /revocations`: the signed list of revoked certificates.
    Revocations, (), () => Signed<RevocationList>,
    json(
        "revocations",
        Method::Get,
        "/revocations",
        "Every revoked certificate not yet expired, signed afresh with its next update",
        &[],
    )
);

endpoint!(
    /// `GET /mints`: every valid certificate.
    Mints, (), () => Vec<Signed<MintCertificate>>,
    json(
        "mints",
        Method::Get,
        "/mints",
        "Every certificate in force (not expired, not revoked)",
        &[],
    )
);

endpoint!(
    /// `GET /mints/{cert_id}/key-set`: the latest key set attested for a mint.
    AttestedKeySet, u64, () => Signed<KeySetAttestation>,
    EndpointInfo {
        params: &[P_CERT],
        description: "The hash of the newest key set the mint published, so a wallet can \
            compare it with the set it was shown.",
        ..json(
            "attested_key_set",
            Method::Get,
            "/mints/{cert_id}/key-set",
            "The attestation of a mint's newest key set",
            &[ErrorCode::NotFound],
        )
    }
);

endpoint!(
    /// `POST /attest`: a mint hands in its signed key set.
    Attest, (), SignedKeySet => Certification,
    EndpointInfo {
        description: "The set must be signed by a certified master key and agree with every \
            set of that mint attested before (bank id, currency, period length, envelope key, \
            one key per value and period). The answer is what the mint serves with /keys.",
        ..json(
            "attest",
            Method::Post,
            "/attest",
            "Attests a mint's key set; answers its certification",
            &[
                ErrorCode::NotCertified,
                ErrorCode::KeySetConflict,
                ErrorCode::InvalidField,
                ErrorCode::BadSignature,
            ],
        )
    }
);

/// Every endpoint of the certifier.
pub fn certifier<V: Visitor>(v: &mut V) {
    v.visit::<CertifierIdentity>();
    v.visit::<Revocations>();
    v.visit::<Mints>();
    v.visit::<AttestedKeySet>();
    v.visit::<Attest>();
    v.visit::<super::Health>();
    v.visit::<super::OpenApi>();
}
