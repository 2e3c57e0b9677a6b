use std::sync::OnceLock;

use rsa::PrivateKey;

use super::*;

const SECRET: [u8; 32] = [42; 32];

/// One offline key for every test (RSA-2048, e = 65537), made once.
fn key() -> &'static (PrivateKey, B32) {
    static K: OnceLock<(PrivateKey, B32)> = OnceLock::new();
    K.get_or_init(|| {
        let sk = blind_rsa::generate_key(2048).expect("keygen");
        let id = crate::keyset::RsaPublicKeyData::from_key(&sk.to_public_key()).key_id();
        (sk, id)
    })
}

fn pk() -> RsaPublicKey {
    key().0.to_public_key()
}

fn request(payee: &str, n: u8) -> PaymentRequest {
    PaymentRequest {
        payee_id: payee.into(),
        nonce: Fixed([n; NONCE_LEN]),
        issued_at: 1_000 + u64::from(n),
    }
}

/// A whole honest withdrawal: the bank opens half, checks them, signs the
/// product of the rest once; the wallet unblinds.
fn withdraw(u: Identity) -> OfflineCoin {
    let (sk, key_id) = key();
    let pk = pk();
    let cands = Candidates::new(&pk, *key_id, u).expect("candidates");
    let chosen = choose_openings().expect("choice");
    let openings = cands.open(&pk, &chosen).expect("open");
    check_openings(&pk, key_id, &u, &cands.blinded, &chosen, &openings).expect("opened honestly");
    let product = blind_product(&pk, &cands.blinded, &chosen).expect("product");
    let sig = sign_product(sk, &product).expect("one private operation");
    cands.finish(&pk, &chosen, &sig).expect("a coin")
}

#[test]
fn an_honest_coin_is_withdrawn_spent_and_verified_offline() {
    let u = identity(&SECRET, "acct-1", 7);
    let coin = withdraw(u);
    assert_eq!(coin.terms.len(), TERMS);
    let spend = coin.spend(&request("shop", 1));
    let v = spend.verify(&pk()).expect("the payee accepts");
    assert_eq!(v.coin_id, coin.id());
    // The wire form round-trips.
    let json = serde_json::to_string(&spend).expect("json");
    let back: Spend = serde_json::from_str(&json).expect("parse");
    assert_eq!(back.verify(&pk()).expect("again"), v);
    // Another payee's request: another challenge (nearly always).
    let other = coin
        .spend(&request("wallet-b", 2))
        .verify(&pk())
        .expect("ok");
    assert_ne!(other.bits, v.bits);
}

#[test]
fn one_spend_shows_nothing_of_the_identity_two_show_it() {
    for n in 0..6u8 {
        let u = identity(&SECRET, "acct-2", u64::from(n));
        let coin = withdraw(u);
        let first = coin.spend(&request("shop-a", n)).verify(&pk()).expect("a");
        // One spend: no revealed value is u, nor the XOR of two pads (a term
        // gives only one of a and a ⊕ u).
        for (i, p) in first.pads.iter().enumerate() {
            assert_ne!(p, &u.0);
            for q in &first.pads[i + 1..] {
                assert_ne!(xor(p, q), u.0);
            }
        }
        assert_eq!(identify(&first, &first), None, "the same spend twice");
        // Two payees: the double spender is named, every time.
        let second = coin
            .spend(&request("shop-b", n.wrapping_add(100)))
            .verify(&pk())
            .expect("b");
        assert_eq!(identify(&first, &second), Some(u), "coin {n}");
        assert_eq!(identify(&second, &first), Some(u));
    }
}

#[test]
fn a_term_in_two_coins_names_its_withdrawer_too() {
    // Signatures combine (σ_P·σ_R/σ_Q), so a term can turn up in two coins:
    // the bank's term index treats that as a double spend of the term.
    let u = identity(&SECRET, "acct-3", 1);
    let coin = withdraw(u);
    let a = coin.spend(&request("p", 1)).verify(&pk()).expect("a");
    let b = coin.spend(&request("q", 2)).verify(&pk()).expect("b");
    let shared = a
        .term_ids(&coin.key_id)
        .iter()
        .zip(b.term_ids(&coin.key_id))
        .filter(|(x, y)| **x == *y)
        .count();
    assert_eq!(shared, TERMS, "the same coin: every term shared");
    // Another identity's coin shares no term with it.
    let other = withdraw(identity(&SECRET, "acct-4", 1))
        .spend(&request("p", 3))
        .verify(&pk())
        .expect("c");
    assert!(
        a.term_ids(&coin.key_id)
            .iter()
            .all(|t| !other.term_ids(&coin.key_id).contains(t))
    );
    assert_eq!(identify(&a, &other), None);
}

#[test]
fn a_planted_term_is_outvoted_by_the_honest_ones() {
    // A term made at withdrawal to point at another identity (it survived
    // the opening): it names that identity once, the honest terms name the
    // withdrawer many times, and the honest one comes first.
    let u = identity(&SECRET, "acct-7", 1);
    let coin = withdraw(u);
    let a = coin.spend(&request("p", 1)).verify(&pk()).expect("a");
    let mut b = coin.spend(&request("q", 2)).verify(&pk()).expect("b");
    let differ: Vec<usize> = (0..TERMS).filter(|&i| a.bits[i] != b.bits[i]).collect();
    assert!(
        differ.len() > 2,
        "two random challenges differ on about half the bits"
    );
    let planted = identity(&SECRET, "victim", 0);
    let k = differ[0];
    b.pads[k] = xor(&a.pads[k], &planted.0);
    let found = identities(&a, &b);
    assert_eq!(found[0], (u, differ.len() - 1));
    assert!(found.contains(&(planted, 1)));
    assert_eq!(identify(&a, &b), Some(u));
}

#[test]
fn forged_or_altered_spends_are_refused() {
    let pk = pk();
    let coin = withdraw(identity(&SECRET, "acct-5", 1));
    let good = coin.spend(&request("shop", 9));
    good.verify(&pk).expect("the honest one");

    // Another signature on the same terms (the payer answering the challenge
    // it gives): the product is not covered.
    let mut sig = coin.signature.clone();
    sig.0[200] ^= 1;
    let forged = OfflineCoin {
        key_id: coin.key_id,
        signature: sig,
        u: coin.u,
        terms: coin.terms.clone(),
    };
    assert_eq!(
        forged.spend(&request("shop", 9)).verify(&pk),
        Err(OfflineError::Signature)
    );
    // A signature changed in transit: the halves follow another challenge.
    let mut bad = good.clone();
    bad.signature.0[200] ^= 1;
    assert_eq!(bad.verify(&pk), Err(OfflineError::Challenge));
    // Another request than the one answered: the halves follow another challenge.
    let mut bad = good.clone();
    bad.request.nonce.0[0] ^= 1;
    assert_eq!(bad.verify(&pk), Err(OfflineError::Challenge));
    // One term's other half revealed (an x recomputed from a pad that is
    // not its own): the challenge or the product no longer holds.
    let mut bad = good.clone();
    let (Revealed::Pad { a: pad, .. } | Revealed::Masked { b: pad, .. }) = &mut bad.revealed[3];
    pad.0[0] ^= 1;
    assert!(bad.verify(&pk).is_err());
    // Terms reordered: refused before the product is looked at.
    let mut bad = good.clone();
    bad.revealed.swap(0, 1);
    assert!(matches!(
        bad.verify(&pk),
        Err(OfflineError::Challenge | OfflineError::Order)
    ));
    // Too few terms.
    let mut bad = good.clone();
    bad.revealed.pop();
    assert!(matches!(bad.verify(&pk), Err(OfflineError::Count { .. })));
    // The coin under another key (an online key, say): nothing verifies.
    let other = blind_rsa::generate_key(2048)
        .expect("keygen")
        .to_public_key();
    assert!(good.verify(&other).is_err());
}

#[test]
fn a_withdrawal_that_does_not_open_honestly_is_refused() {
    let (_, key_id) = key();
    let pk = pk();
    let u = identity(&SECRET, "acct-6", 1);
    let cands = Candidates::new(&pk, *key_id, u).expect("candidates");
    let chosen = choose_openings().expect("choice");
    let openings = cands.open(&pk, &chosen).expect("open");
    // Another identity than the bank's: every opened candidate mismatches.
    let other = identity(&SECRET, "acct-6", 2);
    assert!(matches!(
        check_openings(&pk, key_id, &other, &cands.blinded, &chosen, &openings),
        Err(OfflineError::Opening(_))
    ));
    // One opening altered, or one candidate the bank got altered.
    let mut bad = openings.clone();
    bad[5].c.0[0] ^= 1;
    assert_eq!(
        check_openings(&pk, key_id, &u, &cands.blinded, &chosen, &bad),
        Err(OfflineError::Opening(usize::from(chosen[5])))
    );
    let mut blinded = cands.blinded.clone();
    blinded[usize::from(chosen[0])].0[100] ^= 1;
    assert!(check_openings(&pk, key_id, &u, &blinded, &chosen, &openings).is_err());
    // Openings for another selection, or a selection that is not half.
    let mut shifted = openings.clone();
    shifted.rotate_left(1);
    assert!(check_openings(&pk, key_id, &u, &cands.blinded, &chosen, &shifted).is_err());
    for sel in [
        chosen[..TERMS - 1].to_vec(),
        vec![0; TERMS],
        (0..TERMS as u16).map(|i| i + CANDIDATES as u16).collect(),
    ] {
        assert_eq!(check_selection(&sel), Err(OfflineError::Selection));
    }
    // A blind signature on another product: the wallet refuses to keep it.
    let (sk, _) = key();
    let mut product = blind_product(&pk, &cands.blinded, &chosen).expect("product");
    product[50] ^= 1;
    let sig = sign_product(sk, &product).expect("sig");
    assert_eq!(
        cands.finish(&pk, &chosen, &sig).err(),
        Some(OfflineError::Signature)
    );
}

#[test]
fn the_opened_half_is_uniform_and_never_the_same() {
    let mut seen = std::collections::BTreeSet::new();
    let mut hits = [0u32; CANDIDATES];
    for _ in 0..200 {
        let c = choose_openings().expect("choice");
        check_selection(&c).expect("half, distinct");
        for i in &c {
            hits[usize::from(*i)] += 1;
        }
        seen.insert(c);
    }
    assert_eq!(seen.len(), 200, "C(80, 40) choices: no repeat");
    // Each index opened about half the time (100 of 200; 5 sigma is ±35).
    assert!(hits.iter().all(|&h| (65..=135).contains(&h)), "{hits:?}");
}

#[test]
fn stored_candidates_and_coins_come_back_whole_and_damage_is_caught() {
    let (sk, key_id) = key();
    let pk = pk();
    let u = identity(&SECRET, "acct-s", 1);
    let cands = Candidates::new(&pk, *key_id, u).expect("candidates");
    // Written before round 1, read back after a crash: the same candidates.
    let json = serde_json::to_string(&cands.stored(&pk).expect("stored")).expect("json");
    let back: stored::StoredCandidates = serde_json::from_str(&json).expect("parse");
    let again = Candidates::from_stored(&pk, &back).expect("read back");
    assert_eq!(again.blinded, cands.blinded);
    let chosen = choose_openings().expect("choice");
    assert_eq!(
        again.open(&pk, &chosen).expect("open"),
        cands.open(&pk, &chosen).expect("open")
    );
    let product = blind_product(&pk, &again.blinded, &chosen).expect("product");
    let sig = sign_product(sk, &product).expect("sign");
    let coin = again.finish(&pk, &chosen, &sig).expect("the coin");
    let kept = OfflineCoin::from_stored(&coin.stored()).expect("coin back");
    assert_eq!(kept.id(), coin.id());
    kept.spend(&request("p", 3)).verify(&pk).expect("spendable");

    // Damage: a missing candidate, a factor out of range, a short coin.
    let mut short = back.clone();
    short.terms.pop();
    assert!(matches!(
        Candidates::from_stored(&pk, &short),
        Err(OfflineError::Count { .. })
    ));
    let mut big = back.clone();
    big.r[0] = Bytes(vec![0xff; 256]);
    assert!(Candidates::from_stored(&pk, &big).is_err());
    let mut c = coin.stored();
    c.terms.truncate(3);
    assert!(OfflineCoin::from_stored(&c).is_err());
}
