use std::sync::OnceLock;

use super::*;
use crate::amount::Amount;
use crate::blind_rsa;
use crate::keyset::{DenominationKey, RsaPublicKeyData};
use crate::signing::Keypair;

fn rsa_key() -> &'static RsaPublicKeyData {
    static K: OnceLock<RsaPublicKeyData> = OnceLock::new();
    K.get_or_init(|| {
        let sk = blind_rsa::generate_key(2048).expect("keygen");
        RsaPublicKeyData::from_key(&sk.to_public_key())
    })
}

fn demo() -> Currency {
    Currency::new("DEMO").expect("currency")
}

/// A certifier, a mint and everything the mint would serve at `/keys`.
struct World {
    fic: Keypair,
    master: Keypair,
    answer: KeysAnswer,
}

const NOW: u64 = 1_000;
const URL: &str = "https://mint-a.example";

fn key_set(master: &Keypair, issued_at: u64) -> SignedKeySet {
    let enc = rsa_key().clone();
    let d = DenominationKey {
        key_id: enc.key_id(),
        value: Amount::new(demo(), 4),
        public_key: enc.clone(),
        period: 0,
        withdraw_from: 0,
        withdraw_until: 1_999,
        deposit_until: 5_000,
    };
    Signed::sign(
        KeySet {
            bank_id: "mint-a".into(),
            currency: demo(),
            master_public_key: master.public(),
            encryption_key: enc,
            period_secs: 2_000,
            denominations: vec![d],
            issued_at,
            revoked: vec![],
            offline: vec![],
        },
        master,
    )
}

fn certificate(fic: &Keypair, master: &Keypair) -> MintCertificate {
    MintCertificate {
        cert_id: 7,
        certifier: fic.public(),
        cs_name: "Mint A".into(),
        bank_id: "mint-a".into(),
        cs_addr: format!("{URL}/"),
        master_public_key: master.public(),
        currency: demo(),
        issued_at: 500,
        expires_at: 2_000,
    }
}

fn revocations(fic: &Keypair, issued_at: u64, revoked: &[u64]) -> Signed<RevocationList> {
    Signed::sign(
        RevocationList {
            certifier: fic.public(),
            issued_at,
            next_update: issued_at + 60,
            revoked: revoked
                .iter()
                .map(|&cert_id| Revoked {
                    cert_id,
                    revoked_at: issued_at,
                    reason: "compromised".into(),
                })
                .collect(),
        },
        fic,
    )
}

fn attest(fic: &Keypair, set: &SignedKeySet) -> Signed<KeySetAttestation> {
    Signed::sign(
        KeySetAttestation {
            cert_id: 7,
            key_set_hash: key_set_hash(&set.body),
            key_set_issued_at: set.body.issued_at,
            attested_at: NOW,
        },
        fic,
    )
}

fn world() -> World {
    let fic = Keypair::generate().expect("rng");
    let master = Keypair::generate().expect("rng");
    let set = key_set(&master, 10);
    let certification = Certification {
        certificate: Signed::sign(certificate(&fic, &master), &fic),
        attestation: attest(&fic, &set),
        revocations: revocations(&fic, 980, &[3]),
    };
    World {
        fic,
        master,
        answer: KeysAnswer {
            key_set: set,
            certification: Some(certification),
        },
    }
}

fn check(w: &World, answer: &KeysAnswer) -> Result<CertifiedMint, CertError> {
    verify_certified(answer, URL, &w.fic.public(), None, NOW)
}

fn papers(a: &mut KeysAnswer) -> &mut Certification {
    a.certification.as_mut().expect("certified")
}

#[test]
fn a_certified_mint_is_accepted_with_its_keys() {
    let w = world();
    let m = check(&w, &w.answer).expect("accepted");
    assert_eq!(m.certificate.cs_name, "Mint A");
    assert!(!m.revocations_stale);
    // Past the list's next update: still accepted, but flagged.
    let late = verify_certified(&w.answer, URL, &w.fic.public(), None, 1_041).expect("stale");
    assert!(late.revocations_stale);
    assert_eq!(m.keys.set.master_public_key, w.master.public());
    // The same mint reached with another path or case of its origin.
    verify_certified(
        &w.answer,
        "HTTPS://Mint-A.example/wallet",
        &w.fic.public(),
        None,
        NOW,
    )
    .expect("same origin");
}

#[test]
fn a_mint_without_a_certificate_is_refused() {
    let w = world();
    let mut a = w.answer.clone();
    a.certification = None;
    assert!(matches!(check(&w, &a), Err(CertError::NotCertified(_))));
}

#[test]
fn a_certificate_of_another_certifier_is_refused() {
    let w = world();
    let other = Keypair::generate().expect("rng");
    let mut a = w.answer.clone();
    papers(&mut a).certificate = Signed::sign(certificate(&other, &w.master), &other);
    assert!(matches!(
        check(&w, &a),
        Err(CertError::OtherCertifier {
            what: "certificate",
            ..
        })
    ));
    // One that names the pinned certifier but is signed by another.
    papers(&mut a).certificate = Signed::sign(certificate(&w.fic, &w.master), &other);
    assert_eq!(
        check(&w, &a).err(),
        Some(CertError::BadSignature("certificate"))
    );
}

#[test]
fn an_expired_or_future_certificate_is_refused() {
    let w = world();
    for now in [499, 2_001] {
        assert!(matches!(
            verify_certified(&w.answer, URL, &w.fic.public(), None, now),
            Err(CertError::Expired { cert_id: 7, .. })
        ));
    }
    verify_certified(&w.answer, URL, &w.fic.public(), None, 2_000).expect("last second");
}

#[test]
fn a_revoked_certificate_is_refused_by_the_newest_list() {
    let w = world();
    let mut a = w.answer.clone();
    papers(&mut a).revocations = revocations(&w.fic, 950, &[7]);
    assert!(matches!(
        check(&w, &a),
        Err(CertError::Revoked { cert_id: 7, .. })
    ));
    // A revoked mint relaying an older list does not hide a newer one the wallet holds.
    let newer = revocations(&w.fic, 990, &[7]);
    assert!(matches!(
        verify_certified(&w.answer, URL, &w.fic.public(), Some(&newer), NOW),
        Err(CertError::Revoked { .. })
    ));
    // Revocation is for good: an older list still revokes; the newest is kept.
    let older = revocations(&w.fic, 100, &[7]);
    assert!(matches!(
        verify_certified(&w.answer, URL, &w.fic.public(), Some(&older), NOW),
        Err(CertError::Revoked { .. })
    ));
    let older = revocations(&w.fic, 100, &[]);
    let m = verify_certified(&w.answer, URL, &w.fic.public(), Some(&older), NOW).expect("newer");
    assert_eq!(m.revocations.body.issued_at, 980);
    // A forged list is refused, not ignored.
    let other = Keypair::generate().expect("rng");
    let mut forged = revocations(&w.fic, 999, &[]);
    forged.signature = other.sign(&forged.body);
    assert_eq!(
        verify_certified(&w.answer, URL, &w.fic.public(), Some(&forged), NOW).err(),
        Some(CertError::BadSignature("revocation list"))
    );
}

#[test]
fn a_key_set_other_than_the_attested_one_is_refused() {
    let w = world();
    // The mint shows a set of its own (signed by its master key) with the
    // attestation of the set everyone else sees.
    let mut a = w.answer.clone();
    a.key_set = key_set(&w.master, 11);
    assert!(matches!(check(&w, &a), Err(CertError::NotAttested(_))));
    // An attestation for another certificate.
    let mut a = w.answer.clone();
    let mut att = papers(&mut a).attestation.body.clone();
    att.cert_id = 8;
    papers(&mut a).attestation = Signed::sign(att, &w.fic);
    assert!(matches!(check(&w, &a), Err(CertError::NotAttested(_))));
    // An attestation not signed by the certifier.
    let mut a = w.answer.clone();
    papers(&mut a).attestation = attest(&w.master, &w.answer.key_set);
    assert_eq!(
        check(&w, &a).err(),
        Some(CertError::BadSignature("key set attestation"))
    );
}

#[test]
fn a_certificate_for_another_mint_is_refused() {
    let w = world();
    // Another master key.
    let other = Keypair::generate().expect("rng");
    let mut a = w.answer.clone();
    papers(&mut a).certificate = Signed::sign(certificate(&w.fic, &other), &w.fic);
    assert!(matches!(check(&w, &a), Err(CertError::Mismatch(_))));
    // Another address: a certified mint's papers served by an impostor.
    for url in [
        "https://mint-b.example",
        "http://mint-a.example",
        "https://mint-a.example:8443",
        "https://mint-a.example.evil",
        "javascript:alert(1)",
    ] {
        assert!(
            matches!(
                verify_certified(&w.answer, url, &w.fic.public(), None, NOW),
                Err(CertError::Mismatch(_))
            ),
            "{url}"
        );
    }
    // Another currency.
    let mut cert = certificate(&w.fic, &w.master);
    cert.currency = Currency::new("EUR").expect("currency");
    let mut a = w.answer.clone();
    papers(&mut a).certificate = Signed::sign(cert, &w.fic);
    assert!(matches!(check(&w, &a), Err(CertError::Mismatch(_))));
    // Another bank id (a mint calling itself by another's), or none.
    for id in ["mint-b", ""] {
        let mut cert = certificate(&w.fic, &w.master);
        cert.bank_id = id.into();
        let mut a = w.answer.clone();
        papers(&mut a).certificate = Signed::sign(cert, &w.fic);
        assert!(
            matches!(check(&w, &a), Err(CertError::Mismatch(m)) if m.contains("bank id")),
            "{id:?}"
        );
    }
}

#[test]
fn the_keys_answer_keeps_the_key_set_wire_form() {
    let w = world();
    let json = serde_json::to_value(&w.answer).expect("json");
    assert!(json.get("body").is_some() && json.get("signature").is_some());
    let plain: SignedKeySet = serde_json::from_value(json.clone()).expect("old clients read it");
    assert_eq!(plain, w.answer.key_set);
    let back: KeysAnswer = serde_json::from_value(json).expect("round trip");
    assert_eq!(back, w.answer);
    let bare: KeysAnswer =
        serde_json::from_value(serde_json::to_value(&w.answer.key_set).expect("json"))
            .expect("an uncertified mint's answer");
    assert_eq!(bare.certification, None);
}

#[test]
fn origins_are_compared_by_scheme_host_and_port() {
    assert_eq!(
        origin("https://A.example/x?y#z").as_deref(),
        Some("https://a.example")
    );
    assert_eq!(
        origin("http://127.0.0.1:8080").as_deref(),
        Some("http://127.0.0.1:8080")
    );
    for bad in ["ftp://a", "https://", "https://user@a.example", "a.example"] {
        assert_eq!(origin(bad), None, "{bad}");
    }
}
