//! Revocation of denomination keys and recoup, on the real binary: the
//! operator revokes a key on a running mint (`mint-server revoke-key`);
//! within a rotation tick the signed key set lists it and no coin of it is
//! exchanged or signed any more. Honest holders recoup their coins once
//! each, by revealing the coin seed whose blinding factor links a coin to its
//! withdrawal; coins that link to no withdrawal, or to one marked as
//! extorted, are refused, and so is a coin already spent.

use std::time::{Duration, Instant};

use ecash_core::api;
use ecash_core::coin::PendingCoin;
use ecash_core::messages::{RecoupCoin, RecoupRequest, WithdrawRequest};
use ecash_core::{B32, Coin, ErrorCode, Fixed, Signed};
use ecash_testkit::{MintProc, SyncBank, random32, refused};

/// A coin withdrawn by `acct` as one coin of `value`, with the secrets that
/// prove its withdrawal, and that withdrawal's request id.
fn withdraw_one(
    bank: &SyncBank,
    acct: &ecash_testkit::Account,
    value: u64,
) -> (Coin, PendingCoin, B32) {
    let (req, pending) = bank.withdraw_request(acct, value);
    assert_eq!(pending.len(), 1, "{value} is one coin");
    let sigs = bank.call::<api::Withdraw>(&(), &req).expect("withdraw");
    let coin = bank.finalize(&pending, &sigs).remove(0);
    let id = req.body.request_id;
    (coin, pending.into_iter().next().expect("one"), id)
}

/// A recoup of `coins` (each with the coin seed it proves with) for fresh coins.
fn recoup_request(bank: &SyncBank, coins: &[(&Coin, B32)]) -> (RecoupRequest, Vec<PendingCoin>) {
    let value = coins
        .iter()
        .map(|(c, _)| bank.keys.key(&c.key_id).expect("key").info.value.value)
        .sum();
    let pending = bank.blind(value);
    let req = RecoupRequest {
        request_id: Fixed(random32()),
        coins: coins
            .iter()
            .map(|(c, seed)| RecoupCoin {
                coin: (*c).clone(),
                coin_seed: *seed,
            })
            .collect(),
        outputs: pending.iter().map(|p| p.blinded.clone()).collect(),
    };
    (req, pending)
}

fn seed_of(p: &PendingCoin) -> B32 {
    p.coin_seed.expect("a random coin has a seed")
}

#[test]
fn a_revoked_key_is_recouped_once_for_honest_coins_and_never_for_extorted_ones() {
    // Short periods, so a running mint takes up the revocation within seconds.
    let mint = MintProc::start(&[
        "--withdraw-period-secs",
        "40",
        "--deposit-grace-secs",
        "3600",
    ]);
    let mut bank = mint.client();
    let alice = bank.register("alice");
    bank.faucet(&alice, 1000);
    let victim = bank.register("forced to withdraw");
    bank.faucet(&victim, 1000);

    let (honest, honest_p, _) = withdraw_one(&bank, &alice, 64);
    let (spent_p_coin, spent_p, _) = withdraw_one(&bank, &alice, 64);
    let (extorted, extorted_p, extorted_req) = withdraw_one(&bank, &victim, 64);
    // One spent before the revocation (exchanged for other coins).
    bank.exchange(std::slice::from_ref(&spent_p_coin))
        .expect("exchanged before the revocation");
    let keys: std::collections::BTreeSet<B32> = [&honest, &spent_p_coin, &extorted]
        .iter()
        .map(|c| c.key_id)
        .collect();

    // Refused, changing nothing: a key this mint does not have, a malformed id,
    // extorted requests with a reason that is not extortion.
    let e = mint
        .command(&[
            "revoke-key",
            "--key-id",
            &B32::default().to_b64(),
            "--reason",
            "compromised",
        ])
        .expect_err("no such key");
    assert!(e.contains("no denomination key"), "{e}");
    let e = mint
        .command(&["revoke-key", "--key-id", "nope", "--reason", "compromised"])
        .expect_err("not an id");
    assert!(e.contains("base64url"), "{e}");
    let any = keys.iter().next().expect("a key").to_b64();
    let e = mint
        .command(&[
            "revoke-key",
            "--key-id",
            &any,
            "--reason",
            "compromised",
            "--extorted-request",
            &extorted_req.to_b64(),
        ])
        .expect_err("extorted requests go with extortion");
    assert!(e.contains("--reason extorted"), "{e}");

    // The bank was forced to sign the victim's withdrawal: the key is
    // revoked for extortion, that withdrawal marked.
    for k in &keys {
        let out = mint
            .command(&[
                "revoke-key",
                "--key-id",
                &k.to_b64(),
                "--reason",
                "extorted",
                "--extorted-request",
                &extorted_req.to_b64(),
            ])
            .expect("revoked");
        assert!(out.contains("revoked key"), "{out}");
    }
    // The running mint publishes it within a rotation tick (10 s here).
    let deadline = Instant::now() + Duration::from_secs(30);
    while !keys.iter().all(|k| bank.keys.set.is_revoked(k)) {
        assert!(
            Instant::now() < deadline,
            "the key set never listed the revocation"
        );
        std::thread::sleep(Duration::from_millis(200));
        bank.refresh_keys();
    }
    let r = &bank.keys.set.revoked[0];
    assert_eq!(r.reason, ecash_core::keyset::RevocationReason::Extorted);

    // No coin of it is exchanged (nor deposited), and it signs nothing.
    assert_eq!(
        refused(bank.exchange(std::slice::from_ref(&honest))),
        (410, ErrorCode::KeyRevoked)
    );
    let k = bank.keys.key(&honest.key_id).expect("still listed");
    let blinded = PendingCoin::new_random(honest.key_id, &k.key).expect("blind");
    let w = WithdrawRequest {
        account_id: alice.id.clone(),
        request_id: Fixed(random32()),
        amount: bank.amount(64),
        coins: vec![blinded.blinded.clone()],
        timestamp: bank.now(),
    };
    let before = bank.balance(&alice);
    assert_eq!(
        refused(bank.call::<api::Withdraw>(&(), &Signed::sign(w, &alice.key))),
        (410, ErrorCode::KeyRevoked)
    );
    assert_eq!(bank.balance(&alice), before, "nothing debited");

    // Refused: another coin's seed (gives another coin), the extorted
    // coin, a coin spent before the revocation, a coin of a key not revoked.
    let (req, _) = recoup_request(&bank, &[(&honest, seed_of(&extorted_p))]);
    assert_eq!(
        refused(bank.call::<api::Recoup>(&(), &req)),
        (403, ErrorCode::RecoupRefused)
    );
    let (req, _) = recoup_request(&bank, &[(&extorted, seed_of(&extorted_p))]);
    assert_eq!(
        refused(bank.call::<api::Recoup>(&(), &req)),
        (403, ErrorCode::RecoupRefused),
        "the extortionist's coin is worthless"
    );
    let (req, _) = recoup_request(&bank, &[(&spent_p_coin, seed_of(&spent_p))]);
    assert_eq!(
        refused(bank.call::<api::Recoup>(&(), &req)),
        (409, ErrorCode::CoinSpent)
    );
    let fresh = bank.withdraw(&alice, 8);
    assert!(!bank.keys.set.is_revoked(&fresh[0].key_id));
    let r = bank.call::<api::Recoup>(
        &(),
        &RecoupRequest {
            request_id: Fixed(random32()),
            coins: vec![RecoupCoin {
                coin: fresh[0].clone(),
                coin_seed: Fixed([1; 32]),
            }],
            outputs: bank.blind(8).iter().map(|p| p.blinded.clone()).collect(),
        },
    );
    assert_eq!(
        refused(r),
        (403, ErrorCode::RecoupRefused),
        "the key is not revoked"
    );

    // The honest coin: recouped for fresh coins of the same value, once.
    let (req, pending) = recoup_request(&bank, &[(&honest, seed_of(&honest_p))]);
    let sigs = bank.call::<api::Recoup>(&(), &req).expect("recouped");
    let again = bank
        .call::<api::Recoup>(&(), &req)
        .expect("the same request is replayed");
    assert_eq!(again, sigs);
    let new_coins = bank.finalize(&pending, &sigs);
    assert_eq!(bank.value_of(&new_coins), 64);
    assert!(
        new_coins
            .iter()
            .all(|c| !bank.keys.set.is_revoked(&c.key_id))
    );
    // Again, under a new request: the coin is spent (so a copy of the
    // wallet drops it), and its blind signature was taken back.
    let (second, _) = recoup_request(&bank, &[(&honest, seed_of(&honest_p))]);
    assert_eq!(
        refused(bank.call::<api::Recoup>(&(), &second)),
        (409, ErrorCode::CoinSpent),
        "recouped exactly once"
    );
    assert_eq!(bank.spent(std::slice::from_ref(&honest)), vec![true]);
    // The fresh coins spend as any coin does.
    bank.exchange(&new_coins)
        .expect("the recouped value spends");

    // Revocations last across a restart: the set lists them at once.
    let mut mint = mint;
    mint.proc.restart();
    let bank = mint.client();
    assert!(keys.iter().all(|k| bank.keys.set.is_revoked(k)));
}
