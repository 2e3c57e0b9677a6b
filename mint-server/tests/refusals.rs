//! Bad input is refused with a JSON `{code, message}` and a fitting 4xx,
//! and changes nothing: balances, spent serials and the books stay as they were.

// Test code: a helper that meets what it did not expect panics, as the
// tests themselves do (clippy.toml allows it only inside #[test] functions).
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::sync::Arc;

use ecash_core::api::{self, Endpoint, Method, RequestBody};
use ecash_core::blind_rsa;
use ecash_core::client::{CallError, HttpRequest, HttpResponse};
use ecash_core::messages::*;
use ecash_core::rsa::traits::PublicKeyParts;
use ecash_core::{Bytes, Clock, Coin, ErrorCode, Fixed, PendingCoin, Signed, payment};
use ecash_testkit::client::error_of;
use ecash_testkit::{Account, InProcMint, MintProc, SyncBank, TestClock, now, random32};

struct World {
    /// Keeps the server alive for the test.
    _mint: MintProc,
    c: SyncBank,
    alice: Account,
    shop: Account,
    coins: Vec<Coin>,
}

fn world(args: &[&str]) -> World {
    let mint = MintProc::start(args);
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

/// `r` is a refusal with this status and code, and a message.
fn refused<T: std::fmt::Debug>(r: Result<T, CallError>, status: u16, code: ErrorCode) {
    match r {
        Err(CallError::Refused {
            status: got, error, ..
        }) => {
            assert_eq!(
                (got, error.code),
                (status, code),
                "message: {}",
                error.message
            );
            assert!(!error.message.is_empty());
        }
        other => panic!("expected a refusal {status} {code:?}, got {other:?}"),
    }
}

/// An undecoded answer is a JSON refusal with this status and code.
fn raw_refused(resp: &HttpResponse, status: u16, code: ErrorCode) {
    let (got, error) = error_of(resp);
    assert_eq!(
        (got, error.code),
        (status, code),
        "message: {}",
        error.message
    );
    assert!(!error.message.is_empty());
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
    let (p, _) = w.c.payment(&w.coins[1..2], &w.shop.id, "x", "x");
    let mut info = p.payment_info;
    info.ncoins = 2;
    info.amount.value = real_value + 1;
    let p = payment::seal(&w.c.keys.encryption_key, info, info_coins).expect("seal");
    refused(w.c.deposit(&w.shop, &p), 400, ErrorCode::UnknownKey);
    // Withdrawing with an unknown key.
    let (mut req, _) = w.c.withdraw_request(&w.alice, 1);
    req.body.coins[0].key_id = Fixed([7; 32]);
    let req = Signed::sign(req.body, &w.alice.key);
    refused(
        w.c.call::<api::Withdraw>(&(), &req),
        400,
        ErrorCode::UnknownKey,
    );
    assert_eq!(snapshot(&w), before);
}

/// Keys sign for an hour and accept deposits ten minutes longer; the
/// mint runs on a test clock, moved (and its keys rotated) by the test.
#[test]
fn coin_of_expired_key() {
    let clock = Arc::new(TestClock::at(now()));
    let mint = InProcMint::start(
        &[
            "--withdraw-period-secs",
            "3600",
            "--deposit-grace-secs",
            "600",
            "--max-denomination-exp",
            "2",
        ],
        clock.clone(),
    );
    let c = SyncBank::connect_on(&mint.url, &mint.master, clock.clone());
    let alice = c.register("alice");
    let shop = c.register("shop");
    c.faucet(&alice, 10);
    let early = c.withdraw(&alice, 1);
    let late = c.withdraw(&alice, 1);
    let key_id = early[0].key_id;
    assert_eq!(late[0].key_id, key_id, "both coins of one key");
    let info = c.keys.key(&key_id).expect("key").info.clone();
    let old_key = c.keys.key(&key_id).expect("key").key.clone();

    // Past its withdraw window the key signs no new coins, but takes deposits.
    mint.advance(&clock, info.withdraw_until + 1 - clock.now());
    let mut c = SyncBank::connect_on(&mint.url, &mint.master, clock.clone());
    let pending = PendingCoin::new_random(key_id, &old_key).expect("blind");
    let req = Signed::sign(
        WithdrawRequest {
            account_id: alice.id.clone(),
            request_id: Fixed(random32()),
            amount: c.amount(1),
            coins: vec![pending.blinded],
            timestamp: c.now(),
        },
        &alice.key,
    );
    refused(
        c.call::<api::Withdraw>(&(), &req),
        410,
        ErrorCode::KeyExpired,
    );
    // At the last second of its deposit window a coin still deposits ...
    mint.advance(&clock, info.deposit_until - clock.now());
    let (p, _) = c.payment(&early, &shop.id, "x", "x");
    c.deposit(&shop, &p).expect("deposit inside the window");
    assert_eq!(c.balance(&shop), 1);
    // ... and one second later no longer.
    mint.advance(&clock, 1);
    let (p, _) = c.payment(&late, &shop.id, "y", "y");
    refused(c.deposit(&shop, &p), 410, ErrorCode::KeyExpired);
    assert_eq!(c.balance(&shop), 1);
    assert_eq!(c.balance(&alice), 8, "nothing moved but the one deposit");
    // Its state is not told either: the books may have dropped its key's coins.
    refused(
        c.call::<api::CoinState>(
            &(),
            &ecash_core::messages::CoinStateRequest {
                coins: vec![late[0].id()],
            },
        ),
        410,
        ErrorCode::KeyExpired,
    );
    // Nor can it be exchanged for coins of today's keys.
    c.refresh_keys();
    let req = ExchangeRequest {
        request_id: Fixed(random32()),
        coins: late.clone(),
        outputs: c.blind(1).into_iter().map(|p| p.blinded).collect(),
    };
    refused(
        c.call::<api::Exchange>(&(), &req),
        410,
        ErrorCode::KeyExpired,
    );
    // The rotation dropped the expired key from the key set, and the set
    // still has a key of every value for now.
    assert!(
        c.keys.key(&key_id).is_none(),
        "the expired key is still listed"
    );
    assert_eq!(c.keys.withdraw_keys(c.now()).len(), 3);
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
        w.c.call::<api::Deposit>(&(), &d),
        401,
        ErrorCode::BadSignature,
    );
    // A withdraw request signed by the wrong key.
    let (req, _) = w.c.withdraw_request(&w.alice, 8);
    let forged = Signed::sign(req.body, &thief.key);
    refused(
        w.c.call::<api::Withdraw>(&(), &forged),
        401,
        ErrorCode::BadSignature,
    );
    // A tampered withdraw request (amount raised after signing).
    let (mut req, _) = w.c.withdraw_request(&w.alice, 8);
    req.body.amount.value = 1;
    refused(
        w.c.call::<api::Withdraw>(&(), &req),
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
    raw_refused(
        &w.c.raw::<api::Withdraw>(&(), big),
        413,
        ErrorCode::PayloadTooLarge,
    );
    raw_refused(
        &w.c.raw::<api::Deposit>(&(), b"{not json".to_vec()),
        400,
        ErrorCode::MalformedRequest,
    );
    raw_refused(
        &w.c.raw::<api::Exchange>(&(), b"{\"request_id\": 5}".to_vec()),
        400,
        ErrorCode::MalformedRequest,
    );
    raw_refused(
        &w.c.raw::<api::Withdraw>(&(), b"[]".to_vec()),
        400,
        ErrorCode::MalformedRequest,
    );
    raw_refused(
        &w.c.raw::<api::CoinState>(
            &(),
            b"{\"coins\": [{\"key_id\": \"AAAA\", \"serial\": \"AAAA\"}]}".to_vec(),
        ),
        400,
        ErrorCode::MalformedRequest,
    );
    // Wrong content type, and no content type at all.
    let http = w.c.http();
    for body in [Some(("text/plain", b"{}".to_vec())), None] {
        let resp = http.send(HttpRequest {
            method: Method::Post,
            url: http.client.url::<api::Deposit>(&()),
            headers: Vec::new(),
            body,
        });
        assert_eq!(resp.status, 400);
        error_of(&resp);
    }
    // 9 coins when 8 are allowed: 255 = 8 coins, 511 = 9 coins.
    let (req, _) = w.c.withdraw_request(&w.alice, 511);
    refused(
        w.c.call::<api::Withdraw>(&(), &req),
        400,
        ErrorCode::TooManyCoins,
    );
    let (req, _) = w.c.withdraw_request(&w.alice, 0);
    refused(
        w.c.call::<api::Withdraw>(&(), &req),
        400,
        ErrorCode::InvalidField,
    );
    // A blinded message of the wrong length, and amount not matching the coins.
    let (mut req, _) = w.c.withdraw_request(&w.alice, 4);
    req.body.coins[0].blinded_msg.0.pop();
    let req = Signed::sign(req.body, &w.alice.key);
    refused(
        w.c.call::<api::Withdraw>(&(), &req),
        400,
        ErrorCode::InvalidField,
    );
    let (mut req, _) = w.c.withdraw_request(&w.alice, 4);
    req.body.amount.value = 5;
    let req = Signed::sign(req.body, &w.alice.key);
    refused(
        w.c.call::<api::Withdraw>(&(), &req),
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
        w.c.call::<api::Exchange>(&(), &x),
        400,
        ErrorCode::AmountMismatch,
    );
    // The same coin twice in one exchange.
    let twice = vec![w.coins[0].clone(), w.coins[0].clone()];
    refused(w.c.exchange(&twice), 400, ErrorCode::DuplicateCoin);
    // Faucet beyond its limit, and an unknown account.
    refused(
        w.c.call::<api::Faucet>(
            &w.alice.id,
            &FaucetRequest {
                amount: w.c.amount(10_000_000),
            },
        ),
        400,
        ErrorCode::InvalidField,
    );
    refused(
        w.c.call::<api::Faucet>(
            "nobody",
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
    let mint = MintProc::start(&["--rate-limit", "5", "--rate-burst", "5"]);
    let c = mint.client();
    let mut limited = 0;
    for _ in 0..40 {
        match c.call::<api::Health>(&(), &()) {
            Ok(_) => {}
            Err(e) => {
                let e = match e {
                    CallError::Refused { status, error, .. } => (status, error.code),
                    other => panic!("not a refusal: {other:?}"),
                };
                assert_eq!(e, (429, ErrorCode::RateLimited));
                limited += 1;
            }
        }
    }
    assert!(
        limited > 20,
        "only {limited} of 40 rapid requests were limited"
    );

    // A mint started without --demo-faucet refuses faucet requests.
    let plain = MintProc::start_with(&[]);
    let c = plain.client();
    let a = c.register("a");
    refused(
        c.call::<api::Faucet>(
            &a.id,
            &FaucetRequest {
                amount: c.amount(5),
            },
        ),
        403,
        ErrorCode::FaucetDisabled,
    );
    assert_eq!(c.balance(&a), 0);
}

#[test]
fn garbage_to_every_endpoint_is_a_json_4xx() {
    let w = world(&[]);
    let before = snapshot(&w);
    let mut rng = fastrand::Rng::with_seed(7);
    // Every endpoint of the bank that takes a JSON body.
    let posts: Vec<_> = api::infos(api::bank)
        .into_iter()
        .filter(|i| i.body == RequestBody::Json)
        .collect();
    assert!(posts.len() >= 8, "{posts:?}");
    assert!(posts.iter().any(|i| i.path == api::Deposit::INFO.path));
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
    let http = w.c.http();
    for info in posts {
        let params: Vec<String> = info.params.iter().map(|_| w.alice.id.clone()).collect();
        let url = ecash_core::client::join(&w.c.url, &api::fill_path(info.path, &params));
        for body in shapes
            .iter()
            .cloned()
            .chain((0..5).map(|_| (0..rng.usize(1..300)).map(|_| rng.u8(..)).collect()))
        {
            let resp = http.send(HttpRequest {
                method: info.method,
                url: url.clone(),
                headers: Vec::new(),
                body: Some(("application/json", body.clone())),
            });
            let (status, _) = error_of(&resp);
            assert!(
                (400..500).contains(&status),
                "{} answered {status} to {:?}",
                info.path,
                String::from_utf8_lossy(&body)
            );
        }
    }
    assert_eq!(snapshot(&w), before);
}
