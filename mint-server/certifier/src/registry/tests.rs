use std::sync::OnceLock;

use ecash_core::keyset::RsaPublicKeyData;
use ecash_core::{Amount, DenominationKey, KeySet, blind_rsa};

use super::*;

/// Seven RSA public keys, made once: 0 to 3 for periods 10 to 13, 4 the
/// envelope key, 5 a key made for one user, 6 another envelope key.
fn rsa(i: usize) -> RsaPublicKeyData {
    static K: OnceLock<Vec<RsaPublicKeyData>> = OnceLock::new();
    K.get_or_init(|| {
        (0..7)
            .map(|_| {
                let sk = blind_rsa::generate_key(2048).expect("keygen");
                RsaPublicKeyData::from_key(&sk.to_public_key())
            })
            .collect()
    })[i]
        .clone()
}

fn demo() -> Currency {
    Currency::new("DEMO").expect("currency")
}

const PERIOD: u64 = 1_000;
const NOW: u64 = 10_500;

/// A key set of `master` with one key of value 4 in each of `periods`
/// (10 to 13), the last of them made for one user if `which` is 1.
fn set(master: &Keypair, periods: &[u64], which: usize, issued_at: u64) -> SignedKeySet {
    let denominations = periods
        .iter()
        .enumerate()
        .map(|(i, &p)| {
            let own = (p - 10) as usize;
            let k = rsa(if i + 1 == periods.len() && which == 1 {
                5
            } else {
                own
            });
            DenominationKey {
                key_id: k.key_id(),
                value: Amount::new(demo(), 4),
                public_key: k,
                period: p,
                withdraw_from: p * PERIOD,
                withdraw_until: p * PERIOD + PERIOD - 1,
                deposit_until: p * PERIOD + 3 * PERIOD,
            }
        })
        .collect();
    Signed::sign(
        KeySet {
            bank_id: "mint-a".into(),
            currency: demo(),
            master_public_key: master.public(),
            encryption_key: rsa(4),
            period_secs: PERIOD,
            denominations,
            issued_at,
            revoked: vec![],
            offline: vec![],
        },
        master,
    )
}

fn registry() -> (tempfile::TempDir, Registry) {
    let dir = tempfile::tempdir().expect("tempdir");
    let r = Registry::open(dir.path()).expect("open");
    (dir, r)
}

fn certify(r: &Registry, master: &Keypair) -> Signed<MintCertificate> {
    r.issue(
        "Mint A",
        "mint-a",
        "http://127.0.0.1:9/",
        &master.public().0.to_b64(),
        "DEMO",
        86_400,
        true,
        NOW - 100,
    )
    .expect("issued")
}

#[test]
fn a_certified_mint_gets_its_sets_attested_once_each() {
    let (_d, r) = registry();
    let master = Keypair::generate().expect("rng");
    let cert = certify(&r, &master);
    assert_eq!(cert.body.cs_addr, "http://127.0.0.1:9");
    assert!(cert.verify(&r.public_key()).is_ok());

    let s1 = set(&master, &[10, 11], 0, 1);
    let c1 = r.attest(&s1, NOW, 60).expect("attested");
    assert_eq!(c1.certificate, cert);
    assert_eq!(c1.attestation.body.key_set_hash, key_set_hash(&s1.body));
    assert!(c1.attestation.verify(&r.public_key()).is_ok());
    // Again, later: the same attestation.
    let again = r.attest(&s1, NOW + 5, 60).expect("again");
    assert_eq!(again.attestation, c1.attestation);
    assert_eq!(again.revocations.body.issued_at, NOW + 5);

    // The next rotation: one key more, the old ones unchanged.
    let s2 = set(&master, &[10, 11, 12], 1, 2);
    let c2 = r.attest(&s2, NOW + 10, 60).expect("rotated");
    assert_ne!(
        c2.attestation.body.key_set_hash,
        c1.attestation.body.key_set_hash
    );
    assert_eq!(
        r.attested(cert.body.cert_id, NOW).expect("read"),
        Some(c2.attestation)
    );
}

#[test]
fn a_set_with_another_key_for_a_value_and_period_is_refused() {
    let (_d, r) = registry();
    let master = Keypair::generate().expect("rng");
    certify(&r, &master);
    r.attest(&set(&master, &[10, 11], 0, 1), NOW, 60)
        .expect("attested");
    // A key for period 11 made for one user: refused, and nothing stored.
    let tagged = set(&master, &[10, 11], 1, 2);
    assert!(matches!(
        r.attest(&tagged, NOW, 60),
        Err(RegistryError::Conflict(_))
    ));
    let newest = r.attested(1, NOW).expect("read").expect("one");
    assert_eq!(newest.body.key_set_issued_at, 1);
    // Another envelope key, or period length, is refused too.
    let mut other = set(&master, &[10, 11], 0, 3).body;
    other.encryption_key = rsa(6);
    let other = Signed::sign(other, &master);
    assert!(matches!(
        r.attest(&other, NOW, 60),
        Err(RegistryError::Conflict(_))
    ));
}

/// Offline keys follow the same rule in a list of their own: one key per
/// value and period, fixed once attested, and never a key of both kinds.
#[test]
fn offline_keys_are_attested_apart_and_never_change_kind() {
    let (_d, r) = registry();
    let master = Keypair::generate().expect("rng");
    certify(&r, &master);
    // Period 10's key online; period 11's key as the offline key of value 4.
    let mut body = set(&master, &[10], 0, 1).body;
    let offline = set(&master, &[11], 0, 1).body.denominations;
    body.offline = offline.clone();
    r.attest(&Signed::sign(body.clone(), &master), NOW, 60)
        .expect("attested with an offline key of the same value and period kind apart");
    // Another offline key for that value and period: refused.
    let mut tagged = body.clone();
    tagged.issued_at = 2;
    tagged.offline[0].key_id = rsa(5).key_id();
    tagged.offline[0].public_key = rsa(5);
    assert!(matches!(
        r.attest(&Signed::sign(tagged, &master), NOW, 60),
        Err(RegistryError::Conflict(_))
    ));
    // The offline key listed online next period: refused (it would sign both kinds).
    let mut moved = set(&master, &[10], 0, 3).body;
    let mut as_online = offline[0].clone();
    as_online.period = 12;
    as_online.withdraw_from = 12 * PERIOD;
    as_online.withdraw_until = 12 * PERIOD + PERIOD - 1;
    as_online.deposit_until = 15 * PERIOD;
    moved.denominations.push(as_online);
    assert!(matches!(
        r.attest(&Signed::sign(moved, &master), NOW, 60),
        Err(RegistryError::Conflict(_))
    ));
    // One key in both lists of one set: the set itself is refused.
    let mut both = body;
    both.issued_at = 4;
    both.offline = both.denominations.clone();
    assert!(r.attest(&Signed::sign(both, &master), NOW, 60).is_err());
}

/// A bank id is one mint's: a set under another id than its certificate's
/// gets no attestation (wallets take no key set without one), and another
/// master key gets no certificate for an id in force.
#[test]
fn a_set_under_another_bank_id_than_its_certificate_is_refused() {
    let (_d, r) = registry();
    let a = Keypair::generate().expect("rng");
    let b = Keypair::generate().expect("rng");
    certify(&r, &a);
    let mut renamed = set(&a, &[10, 11], 0, 1).body;
    renamed.bank_id = "mint-b".into();
    assert!(matches!(
        r.attest(&Signed::sign(renamed, &a), NOW, 60),
        Err(RegistryError::Conflict(m)) if m.contains("bank id")
    ));
    assert_eq!(r.attested(1, NOW).expect("read"), None, "nothing kept");
    r.attest(&set(&a, &[10, 11], 0, 1), NOW, 60)
        .expect("under its own id");
    let b_key = b.public().0.to_b64();
    let issue_b = || {
        r.issue(
            "Mint E",
            "mint-a",
            "http://127.0.0.1:8",
            &b_key,
            "DEMO",
            10,
            true,
            NOW,
        )
    };
    assert!(matches!(issue_b(), Err(RegistryError::Invalid(m)) if m.contains("bank id")));
    // A's key under another id: refused, its sets are attested as mint-a.
    let a_key = a.public().0.to_b64();
    assert!(matches!(
        r.issue("Mint A", "mint-z", "http://127.0.0.1:9", &a_key, "DEMO", 10, true, NOW),
        Err(RegistryError::Invalid(m)) if m.contains("mint-a")
    ));
    // A's certificate revoked (a new master key for the bank): the id is free.
    r.revoke(1, "new master key", NOW).expect("revoked");
    assert_eq!(issue_b().expect("the id is free").body.bank_id, "mint-a");
}

#[test]
fn an_uncertified_revoked_or_expired_master_key_gets_nothing() {
    let (_d, r) = registry();
    let master = Keypair::generate().expect("rng");
    let s = set(&master, &[10, 11], 0, 1);
    assert!(matches!(
        r.attest(&s, NOW, 60),
        Err(RegistryError::NotCertified(_))
    ));
    let cert = certify(&r, &master);
    // Expired.
    assert!(matches!(
        r.attest(&s, cert.body.expires_at + 1, 60),
        Err(RegistryError::NotCertified(_))
    ));
    // A set signed by someone else in the mint's name.
    let thief = Keypair::generate().expect("rng");
    let forged = Signed {
        body: s.body.clone(),
        signature: thief.sign(&s.body),
    };
    assert!(matches!(
        r.attest(&forged, NOW, 60),
        Err(RegistryError::BadKeySet(
            ecash_core::keyset::KeySetError::BadSignature
        ))
    ));
    // Revoked: on the list, out of the directory, no more attestations.
    r.revoke(cert.body.cert_id, "compromised", NOW)
        .expect("revoked");
    r.revoke(cert.body.cert_id, "again", NOW + 1)
        .expect("idempotent");
    let list = r.revocations(NOW + 2, 60).expect("list");
    assert!(list.body.revokes(cert.body.cert_id));
    assert_eq!(list.body.revoked[0].reason, "compromised");
    assert_eq!(list.body.next_update, NOW + 62);
    assert!(r.in_force(NOW).expect("list").is_empty());
    assert!(matches!(
        r.attest(&s, NOW, 60),
        Err(RegistryError::NotCertified(_))
    ));
    assert!(matches!(
        r.revoke(99, "x", NOW),
        Err(RegistryError::NoCertificate(99))
    ));
}

#[test]
fn a_renewed_certificate_keeps_what_the_old_one_fixed() {
    let (_d, r) = registry();
    let master = Keypair::generate().expect("rng");
    certify(&r, &master);
    let s = set(&master, &[10, 11], 0, 1);
    r.attest(&s, NOW, 60).expect("attested");
    // Without --replace a second certificate for the key is refused.
    let m = master.public().0.to_b64();
    assert!(matches!(
        r.issue(
            "Mint A",
            "mint-a",
            "http://127.0.0.1:9",
            &m,
            "DEMO",
            10,
            false,
            NOW
        ),
        Err(RegistryError::Invalid(_))
    ));
    let renewed = certify(&r, &master);
    assert_eq!(renewed.body.cert_id, 2);
    // The first is revoked as superseded: revoking the second revokes the mint.
    let list = r.revocations(NOW, 60).expect("list");
    assert!(
        list.body.revokes(1) && !list.body.revokes(2),
        "{:?}",
        list.body.revoked
    );
    assert_eq!(r.attested(1, NOW).expect("read"), None);
    let c = r
        .attest(&s, NOW + 1, 60)
        .expect("attested under the new one");
    assert_eq!(c.certificate, renewed);
    assert_eq!(c.attestation.body.cert_id, 2);
    assert!(c.attestation.verify(&r.public_key()).is_ok());
    assert!(matches!(
        r.attest(&set(&master, &[10, 11], 1, 2), NOW + 1, 60),
        Err(RegistryError::Conflict(_))
    ));
}

#[test]
fn sets_move_forward_and_keep_every_entry_as_first_attested() {
    let (_d, r) = registry();
    let master = Keypair::generate().expect("rng");
    certify(&r, &master);
    r.attest(&set(&master, &[10, 11], 0, 5), NOW, 60)
        .expect("attested");
    // Older than the newest, or dated far ahead: refused.
    assert!(matches!(
        r.attest(&set(&master, &[10], 0, 4), NOW, 60),
        Err(RegistryError::Conflict(_))
    ));
    assert!(matches!(
        r.attest(&set(&master, &[10, 11, 12], 0, NOW + 1_000), NOW, 60),
        Err(RegistryError::Invalid(_))
    ));
    // The same key for the same period, with a later deposit deadline for some users.
    let mut longer = set(&master, &[10, 11], 0, 6).body;
    longer.denominations[1].deposit_until += 1;
    let longer = Signed::sign(longer, &master);
    assert!(matches!(
        r.attest(&longer, NOW, 60),
        Err(RegistryError::Conflict(_))
    ));
    // One RSA key under another value.
    let mut revalued = set(&master, &[10, 11, 12], 1, 7).body;
    let k = rsa(0);
    revalued.denominations[2].public_key = k.clone();
    revalued.denominations[2].key_id = k.key_id();
    revalued.denominations[2].value = Amount::new(demo(), 8);
    let revalued = Signed::sign(revalued, &master);
    assert!(r.attest(&revalued, NOW, 60).is_err());
    // Long after period 10's keys expired, a new key for it is still refused.
    let late = set(&master, &[10], 1, 8);
    assert!(matches!(
        r.attest(&late, NOW + 100_000, 60),
        Err(RegistryError::Conflict(_)) | Err(RegistryError::NotCertified(_))
    ));
}

#[test]
fn bad_certificate_requests_are_refused() {
    let (_d, r) = registry();
    let m = Keypair::generate().expect("rng").public().0.to_b64();
    for (name, id, addr, key, cur) in [
        ("", "a", "http://a.example", m.as_str(), "DEMO"),
        ("A", "", "http://a.example", m.as_str(), "DEMO"),
        ("A", "a b", "http://a.example", m.as_str(), "DEMO"),
        ("A", "a", "ftp://a.example", m.as_str(), "DEMO"),
        ("A", "a", "https://u:p@a.example", m.as_str(), "DEMO"),
        ("A", "a", "https://a.example", "short", "DEMO"),
        ("A", "a", "https://a.example", m.as_str(), "not a currency!"),
    ] {
        assert!(
            matches!(
                r.issue(name, id, addr, key, cur, 10, false, NOW),
                Err(RegistryError::Invalid(_))
            ),
            "{name} {id} {addr} {key} {cur}"
        );
    }
    assert!(r.entries().expect("list").is_empty());
}

#[test]
fn the_key_and_the_registry_survive_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let master = Keypair::generate().expect("rng");
    let (public, cert) = {
        let r = Registry::open(dir.path()).expect("open");
        (r.public_key(), certify(&r, &master))
    };
    let r = Registry::open(dir.path()).expect("reopen");
    assert_eq!(r.public_key(), public);
    assert_eq!(r.in_force(NOW).expect("list"), vec![cert.clone()]);
    let m = master.public().0.to_b64();
    assert_eq!(
        r.held(&m, "mint-a", "http://127.0.0.1:9/x", NOW)
            .expect("held"),
        Some(cert)
    );
    assert_eq!(
        r.held(&m, "mint-a", "http://127.0.0.1:10", NOW)
            .expect("held"),
        None
    );
    assert_eq!(
        r.held(&m, "mint-b", "http://127.0.0.1:9", NOW)
            .expect("held"),
        None
    );
}
