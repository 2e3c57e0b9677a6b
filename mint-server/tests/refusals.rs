//! Bad input is refused with a JSON `{code, message}` and a fitting 4xx,
//! and changes nothing: balances, spent serials and the books stay as they were.

mod common;

use common::*;
use ecash_core::blind_rsa;
use ecash_core::canonical::Canonical;
use ecash_core::messages::*;
use ecash_core::rsa::traits::PublicKeyParts;
use ecash_core::{Bytes, Coin, ErrorCode, Fixed, Signed};

struct World {
    /// Keeps the server alive for the test.
    _mint: Mint,
    c: Client,
    alice: Account,
    shop: Account,
    coins: Vec<Coin>,
}

fn world(args: &[&str]) -> World {
    let mint = Mint::start(args);
    let c = mint.client();
    let alice = c.register("alice");
    let shop = c.register("shop");
    c.faucet(&alice, 600);
    let coins = c.withdraw(&alice, 300);
    World {
        _mint: mint,
        c,
        alice,
        shop,
        coins,
    }
}

/// Balances and the spent state of every coin, to compare before and after.
fn snapshot(w: &World) -> (u64, u64, Vec<bool>) {
    (
        w.c.balance(&w.alice),
        w.c.balance(&w.shop),
        w.c.spent(&w.coins),
    )
}

fn refused<T: std::fmt::Debug>(r: Result<T, Refused>, status: u16, code: ErrorCode) {
    let e = r.expect_err("request must be refused");
    assert_eq!(
        (e.status, e.error.code),
        (status, code),
        "message: {}",
        e.error.message
    );
    assert!(!e.error.message.is_empty());
}

#[test]
fn forged_coin_seed_inverse_relation() {
    let w = world(&[]);
    let before = snapshot(&w);
    let key = w.c.keys.key(&w.coins[0].key_id).expect("key");
    // Pick R, present S = R^e as serial material and R as the "signature".
    let mut r = vec![0x5au8; key.key.size()];
    r[0] = 1;
    let s = blind_rsa::raw_public_op(&key.key, &r).expect("R^e");
    let forged = Coin {
        key_id: key.info.key_id,
        serial: Fixed(s[..32].try_into().expect("32")),
        msg_prefix: Fixed(s[32..64].try_into().expect("32")),
        signature: Bytes(r),
    };
    let (p, _) =
        w.c.payment(std::slice::from_ref(&forged), &w.shop.id, "x", "x");
    refused(w.c.deposit(&w.shop, &p), 400, ErrorCode::InvalidCoin);
    refused(w.c.exchange(&[forged]), 400, ErrorCode::InvalidCoin);
    // A real coin with a tampered serial is refused the same way.
    let mut tampered = w.coins[0].clone();
    tampered.serial.0[0] ^= 1;
    let (p, _) = w.c.payment(&[tampered], &w.shop.id, "x", "x");
    refused(w.c.deposit(&w.shop, &p), 400, ErrorCode::InvalidCoin);
    assert_eq!(snapshot(&w), before);
}

#[test]
fn coin_of_unknown_key() {
    let w = world(&[]);
    let before = snapshot(&w);
    let mut c = w.coins[0].clone();
    c.key_id = Fixed([7; 32]);
    // The client cannot value a coin of an unknown key, so the payment is built by hand.
    let mut info_coins = vec![c];
    info_coins.extend_from_slice(&w.coins[1..2]);
    let real_value = w.c.value_of(&w.coins[1..2]);
    let (mut p, _) = w.c.payment(&w.coins[1..2], &w.shop.id, "x", "x");
    p.payment_info.ncoins = 2;
    p.payment_info.amount.value = real_value + 1;
    let bundle = CoinBundle {
        payment_info_hash: Fixed(p.payment_info.canonical_hash()),
        coins: info_coins,
    };
    p.sealed_coins = ecash_core::envelope::seal(
        &w.c.keys.encryption_key,
        &serde_json::to_vec(&bundle).expect("json"),
        &p.payment_info.canonical_hash(),
    )
    .expect("seal");
    refused(w.c.deposit(&w.shop, &p), 400, ErrorCode::UnknownKey);
    // Withdrawing with an unknown key.
    let (mut req, _) = w.c.withdraw_request(&w.alice, 1);
    req.body.coins[0].key_id = Fixed([7; 32]);
    let req = Signed::sign(req.body, &w.alice.key);
    refused(
        w.c.post::<_, BlindSignatures>("/withdraw", &req),
        400,
        ErrorCode::UnknownKey,
    );
    assert_eq!(snapshot(&w), before);
}

#[test]
fn coin_of_expired_key() {
    // Keys sign for 4 s and accept deposits 1 s longer.
    let mint = Mint::start(&[
        "--withdraw-period-secs",
        "4",
        "--deposit-grace-secs",
        "1",
        "--max-denomination-exp",
        "2",
    ]);
    let c = mint.client();
    let alice = c.register("alice");
    let shop = c.register("shop");
    c.faucet(&alice, 10);
    let c = mint.client(); // fresh key set: keys rotate every 4 s here
    let coins = c.withdraw(&alice, 1);
    let deposit_until = c
        .keys
        .key(&coins[0].key_id)
        .expect("key")
        .info
        .deposit_until;
    while now() <= deposit_until + 1 {
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    let (p, _) = c.payment(&coins, &shop.id, "x", "x");
    refused(c.deposit(&shop, &p), 410, ErrorCode::KeyExpired);
    assert_eq!(c.balance(&shop), 0);
    // Exchanged for coins of today's keys (the client's key set is stale by now).
    let fresh = mint.client();
    let outputs = fresh.blind(1).into_iter().map(|p| p.blinded).collect();
    let req = ecash_core::messages::ExchangeRequest {
        request_id: ecash_core::Fixed(random32()),
        coins: coins.clone(),
        outputs,
    };
    refused(
        fresh.post::<_, ecash_core::messages::BlindSignatures>("/exchange", &req),
        410,
        ErrorCode::KeyExpired,
    );
    // The key set no longer lists the expired key once rotation ran (every second here).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while Client::connect(&mint.url)
        .keys
        .key(&coins[0].key_id)
        .is_some()
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the expired key is still in the key set"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}

#[test]
fn tampered_envelope_and_swapped_payment_info() {
    let w = world(&[]);
    let before = snapshot(&w);
    let (p, _) = w.c.payment(&w.coins[..1], &w.shop.id, "x", "x");
    let mut bad = p.clone();
    bad.sealed_coins.ciphertext.0[5] ^= 1;
    refused(w.c.deposit(&w.shop, &bad), 400, ErrorCode::EnvelopeInvalid);
    let mut bad = p.clone();
    bad.sealed_coins.wrapped_key.0[17] ^= 1;
    refused(w.c.deposit(&w.shop, &bad), 400, ErrorCode::EnvelopeInvalid);
    // The merchant moves the coins into another payment_info (e.g. its own payreq id).
    let mut moved = p.clone();
    moved.payment_info.payreq_id = "other".into();
    refused(
        w.c.deposit(&w.shop, &moved),
        400,
        ErrorCode::EnvelopeInvalid,
    );
    assert_eq!(snapshot(&w), before);
}

#[test]
fn payment_deposited_by_another_merchant_or_bad_signature() {
    let w = world(&[]);
    let before = snapshot(&w);
    let thief = w.c.register("thief");
    let (p, _) = w.c.payment(&w.coins[..1], &w.shop.id, "x", "x");
    // The thief signs a deposit of a payment made out to the shop.
    refused(w.c.deposit(&thief, &p), 403, ErrorCode::WrongMerchant);
    // The thief claims to be the shop but signs with its own key.
    let d = Signed::sign(
        Deposit {
            merchant_acc_id: w.shop.id.clone(),
            payment: p.clone(),
        },
        &thief.key,
    );
    refused(
        w.c.post::<_, Signed<DepositAck>>("/deposit", &d),
        401,
        ErrorCode::BadSignature,
    );
    // A withdraw request signed by the wrong key.
    let (req, _) = w.c.withdraw_request(&w.alice, 8);
    let forged = Signed::sign(req.body, &thief.key);
    refused(
        w.c.post::<_, BlindSignatures>("/withdraw", &forged),
        401,
        ErrorCode::BadSignature,
    );
    // A tampered withdraw request (amount raised after signing).
    let (mut req, _) = w.c.withdraw_request(&w.alice, 8);
    req.body.amount.value = 1;
    refused(
        w.c.post::<_, BlindSignatures>("/withdraw", &req),
        401,
        ErrorCode::BadSignature,
    );
    assert_eq!(snapshot(&w), before);
    assert_eq!(w.c.balance(&thief), 0);
}

#[test]
fn oversized_malformed_and_too_many() {
    let w = world(&["--max-body-bytes", "65536", "--max-coins", "8"]);
    let before = snapshot(&w);
    let big = vec![b' '; 70_000];
    refused(
        w.c.post_raw("/withdraw", big),
        413,
        ErrorCode::PayloadTooLarge,
    );
    refused(
        w.c.post_raw("/deposit", b"{not json".to_vec()),
        400,
        ErrorCode::MalformedRequest,
    );
    refused(
        w.c.post_raw("/exchange", b"{\"request_id\": 5}".to_vec()),
        400,
        ErrorCode::MalformedRequest,
    );
    refused(
        w.c.post_raw("/withdraw", b"[]".to_vec()),
        400,
        ErrorCode::MalformedRequest,
    );
    refused(
        w.c.post_raw("/coins/state", b"{\"serials\": [\"AAAA\"]}".to_vec()),
        400,
        ErrorCode::MalformedRequest,
    );
    // Wrong content type.
    let resp =
        w.c.http
            .post(format!("{}/deposit", w.c.url))
            .body("{}")
            .send()
            .expect("post");
    assert_eq!(resp.status().as_u16(), 400);
    // 9 coins when 8 are allowed: 255 = 8 coins, 511 = 9 coins.
    let (req, _) = w.c.withdraw_request(&w.alice, 511);
    refused(
        w.c.post::<_, BlindSignatures>("/withdraw", &req),
        400,
        ErrorCode::TooManyCoins,
    );
    let (req, _) = w.c.withdraw_request(&w.alice, 0);
    refused(
        w.c.post::<_, BlindSignatures>("/withdraw", &req),
        400,
        ErrorCode::InvalidField,
    );
    // A blinded message of the wrong length, and amount not matching the coins.
    let (mut req, _) = w.c.withdraw_request(&w.alice, 4);
    req.body.coins[0].blinded_msg.0.pop();
    let req = Signed::sign(req.body, &w.alice.key);
    refused(
        w.c.post::<_, BlindSignatures>("/withdraw", &req),
        400,
        ErrorCode::InvalidField,
    );
    let (mut req, _) = w.c.withdraw_request(&w.alice, 4);
    req.body.amount.value = 5;
    let req = Signed::sign(req.body, &w.alice.key);
    refused(
        w.c.post::<_, BlindSignatures>("/withdraw", &req),
        400,
        ErrorCode::AmountMismatch,
    );
    // Exchange asking for more than it gives.
    let pending = w.c.blind(w.c.value_of(&w.coins[..1]) * 2);
    let x = ExchangeRequest {
        request_id: Fixed(random32()),
        coins: w.coins[..1].to_vec(),
        outputs: pending.iter().map(|p| p.blinded.clone()).collect(),
    };
    refused(
        w.c.post::<_, BlindSignatures>("/exchange", &x),
        400,
        ErrorCode::AmountMismatch,
    );
    // The same coin twice in one exchange.
    let twice = vec![w.coins[0].clone(), w.coins[0].clone()];
    refused(w.c.exchange(&twice), 400, ErrorCode::DuplicateCoin);
    // Faucet beyond its limit, and an unknown account.
    refused(
        w.c.post::<_, AccountStatement>(
            &format!("/accounts/{}/faucet", w.alice.id),
            &FaucetRequest {
                amount: w.c.amount(10_000_000),
            },
        ),
        400,
        ErrorCode::InvalidField,
    );
    refused(
        w.c.post::<_, AccountStatement>(
            "/accounts/nobody/faucet",
            &FaucetRequest {
                amount: w.c.amount(1),
            },
        ),
        404,
        ErrorCode::UnknownAccount,
    );
    assert_eq!(snapshot(&w), before);
}

#[test]
fn faucet_is_off_by_default_and_rate_limit_answers_429() {
    let mint = Mint::start(&["--rate-limit", "5", "--rate-burst", "5"]);
    let c = mint.client();
    let mut limited = 0;
    for _ in 0..40 {
        match c.get::<serde_json::Value>("/healthz") {
            Ok(_) => {}
            Err(e) => {
                assert_eq!((e.status, e.error.code), (429, ErrorCode::RateLimited));
                limited += 1;
            }
        }
    }
    assert!(
        limited > 20,
        "only {limited} of 40 rapid requests were limited"
    );

    // A mint started without --demo-faucet refuses faucet requests.
    let plain = Mint::start_with(&[]);
    let c = plain.client();
    let a = c.register("a");
    let e = c
        .post::<_, AccountStatement>(
            &format!("/accounts/{}/faucet", a.id),
            &FaucetRequest {
                amount: c.amount(5),
            },
        )
        .expect_err("faucet off");
    assert_eq!((e.status, e.error.code), (403, ErrorCode::FaucetDisabled));
    assert_eq!(c.balance(&a), 0);
}

#[test]
fn garbage_to_every_endpoint_is_a_json_4xx() {
    let w = world(&[]);
    let before = snapshot(&w);
    let mut rng = fastrand::Rng::with_seed(7);
    let posts = [
        "/accounts",
        "/withdraw",
        "/deposit",
        "/exchange",
        "/coins/state",
        "/proofs",
        "/restore",
        "/shop/api/orders",
        "/shop/api/pay/nope",
    ];
    let shapes: Vec<Vec<u8>> = vec![
        b"".to_vec(),
        b"null".to_vec(),
        b"{}".to_vec(),
        b"{\"body\":{},\"signature\":\"\"}".to_vec(),
        b"{\"coins\":[{\"key_id\":\"AAAA\"}]}".to_vec(),
        b"{\"serials\":[]}".to_vec(),
        b"{\"blinded\":[]}".to_vec(),
        b"\xff\xfe\x00garbage".to_vec(),
        "{\"x\":\"\u{1F4B0}\"}".as_bytes().to_vec(),
    ];
    for path in posts {
        for body in shapes
            .iter()
            .cloned()
            .chain((0..5).map(|_| (0..rng.usize(1..300)).map(|_| rng.u8(..)).collect()))
        {
            let r = w.c.post_raw(path, body.clone());
            let e = r.expect_err("garbage must be refused");
            assert!(
                (400..500).contains(&e.status),
                "{path} answered {} to {:?}",
                e.status,
                String::from_utf8_lossy(&body)
            );
        }
    }
    assert_eq!(snapshot(&w), before);
}
