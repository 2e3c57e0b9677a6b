//! The outside audit's findings, against the real mint binary (run them
//! against another build with `MINT_BIN=/path/to/mint-server`). Numbers
//! are the findings' numbers in the audit. The shop's findings (its CSP,
//! one payment per order, its links, its item pages and order origins) are
//! the merchant's now: `mint-server/merchant/tests/`.

// Test code: a helper that meets what it did not expect panics, as the
// tests themselves do (clippy.toml allows it only inside #[test] functions).
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::sync::{Arc, Barrier};

use ecash_core::api::{self, Endpoint, Method};
use ecash_core::client::{CallError, HttpResponse};
use ecash_core::messages::*;
use ecash_core::{BlindedCoin, Bytes, ErrorCode, Fixed, PendingCoin, Signed};
use ecash_testkit::process::refuses_to_start;
use ecash_testkit::{Account, MintProc, SyncBank, now, random32, refused};

/// The answer's header `name`, as text.
fn header(resp: &HttpResponse, name: &str) -> String {
    resp.header(name).unwrap_or_default().to_owned()
}

/// Finding 1 (the server's half): every page carries a strict CSP; the
/// wallet's forbids inline script, which also stops `javascript:` URLs.
#[test]
fn f1_every_page_carries_a_strict_content_security_policy() {
    let web = tempfile::tempdir().expect("web dir");
    std::fs::write(
        web.path().join("index.html"),
        "<!doctype html><title>w</title>",
    )
    .expect("index");
    let web_dir = web.path().to_str().expect("utf8").to_owned();
    let mint = MintProc::start(&[
        "--web-dir",
        &web_dir,
        "--frame-ancestor",
        "https://shop.example",
    ]);
    let c = mint.client();
    let http = c.http();
    // The web wallet is served at the root (no endpoint: a directory of files).
    let page = http.probe(Method::Get, "/");
    assert_eq!(page.status, 200);
    assert!(String::from_utf8_lossy(&page.body).contains("<title>w</title>"));
    let wallet = header(&page, "content-security-policy");
    for part in [
        "default-src 'none'",
        "script-src 'self' 'wasm-unsafe-eval';",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'self' https://shop.example",
        "connect-src 'self' https:",
    ] {
        assert!(wallet.contains(part), "wallet CSP lacks {part}: {wallet}");
    }
    assert!(!wallet.contains("unsafe-inline"), "{wallet}");
    assert!(
        wallet.contains("frame-src 'self'"),
        "the embedding example frames the wallet"
    );
    // The API's answers, and its errors, may load and be framed by nothing.
    let keys = http.send_with::<api::Keys>(&(), &(), &[]);
    assert_eq!(keys.status, 200);
    let missing = http.probe(Method::Get, "/no/such/path");
    assert_eq!(missing.status, 404);
    for api in [&keys, &missing] {
        assert_eq!(
            header(api, "content-security-policy"),
            "default-src 'none'; frame-ancestors 'none'"
        );
        assert_eq!(header(api, "x-content-type-options"), "nosniff");
        assert_eq!(header(api, "referrer-policy"), "no-referrer");
    }
    // The mint serves no shop any more.
    let shop = http.probe(Method::Get, api::ItemPage::path("haiku").as_str());
    assert_eq!(shop.status, 404, "a shop route on the bank");
    // A frame ancestor that is not a bare origin could inject policy: refused.
    let err = refuses_to_start(
        "mint-server",
        &[
            "--web-dir",
            "/nonexistent",
            "--max-denomination-exp",
            "2",
            "--frame-ancestor",
            "https://x.example; script-src *",
        ],
    );
    assert!(err.contains("--frame-ancestor"), "{err}");
}

/// Finding 3: a spent coin re-sent with 256 outputs costs the mint no
/// private-key operation, and neither does a request with one bad output.
#[test]
fn f3_refused_requests_cost_no_private_key_work() {
    let mint = MintProc::start(&["--metrics"]);
    let c = mint.client();
    let a = c.register("a");
    c.faucet(&a, 2000);
    let coins = c.withdraw(&a, 256);
    assert_eq!(coins.len(), 1);
    c.exchange(&coins).expect("first exchange spends the coin");

    let key1 = c.keys.withdraw_keys(now())[&ecash_core::Denomination::from_value(1).expect("1")]
        .info
        .clone();
    let k1 = c.keys.key(&key1.key_id).expect("key").key.clone();
    let outputs: Vec<BlindedCoin> = PendingCoin::new_random_batch(key1.key_id, &k1, 256)
        .expect("blind")
        .into_iter()
        .map(|p| p.blinded)
        .collect();

    let signed_before = c.metric("mint_blind_signatures_total");
    let e = c.call::<api::Exchange>(
        &(),
        &ExchangeRequest {
            request_id: Fixed(random32()),
            coins: coins.clone(),
            outputs: outputs.clone(),
        },
    );
    assert_eq!(refused(e), (409, ErrorCode::CoinSpent));
    assert_eq!(
        c.metric("mint_blind_signatures_total"),
        signed_before,
        "a spent coin bought signatures"
    );

    // A withdrawal whose last blinded coin is out of range: refused before
    // any of the others is signed.
    let (mut req, _) = c.withdraw_request(&a, 7);
    let last = req.body.coins.len() - 1;
    req.body.coins[last].blinded_msg = Bytes(vec![0xff; 256]);
    let req = Signed::sign(req.body, &a.key);
    assert_eq!(
        refused(c.call::<api::Withdraw>(&(), &req)).1,
        ErrorCode::InvalidField
    );
    assert_eq!(c.metric("mint_blind_signatures_total"), signed_before);
    // The account was not debited either.
    assert_eq!(c.balance(&a), 2000 - 256);
}

/// Finding 8 (the bank's half): the public URL is an origin or nothing;
/// anything else stops the mint at start. (The shop's links: the merchant's
/// tests.)
#[test]
fn f8_a_public_url_that_is_not_an_origin_is_refused() {
    for bad in ["javascript:alert(1)", "https://mint.example/path"] {
        let err = refuses_to_start(
            "mint-server",
            &[
                "--web-dir",
                "/nonexistent",
                "--max-denomination-exp",
                "2",
                "--public-url",
                bad,
            ],
        );
        assert!(err.contains("--public-url"), "{err}");
    }
}

/// Finding 9: a carrier cannot have one payment deposited under a second
/// id. Every byte it could change is refused or gives the same id.
#[test]
fn f9_a_payment_has_one_id_whatever_its_carrier_changes() {
    let mint = MintProc::start(&[]);
    let c = mint.client();
    let buyer = c.register("buyer");
    c.faucet(&buyer, 100);
    let merchant = c.register("merchant");
    let coins = c.withdraw(&buyer, 1);
    // A payment whose wrapped key starts with a zero byte (1 in 256 do).
    let (payment, payer_code) = loop {
        let (p, code) = c.payment(&coins, &merchant.id, "order-1", "a haiku");
        if p.sealed_coins.wrapped_key.0[0] == 0 {
            break (p, code);
        }
    };
    let id = payment.payment_id();
    let refused = |p: &Payment, what: &str| match c.deposit(&merchant, p) {
        Err(CallError::Refused { status, error, .. }) => {
            assert!((400..500).contains(&status), "{what}: {status} {error:?}")
        }
        other => panic!("{what}: {other:?}"),
    };
    // The leading zero stripped, or another one added: the same integer, refused.
    let mut stripped = payment.clone();
    stripped.sealed_coins.wrapped_key.0.remove(0);
    refused(&stripped, "wrapped key without its leading zero");
    let mut padded = payment.clone();
    padded.sealed_coins.wrapped_key.0.insert(0, 0);
    refused(&padded, "wrapped key with a zero more");
    let mut longer = payment.clone();
    longer.sealed_coins.wrapped_key.0.push(0);
    refused(&longer, "wrapped key with a byte appended");
    // Every byte of the wrapped key, the nonce and the ciphertext.
    for i in 0..payment.sealed_coins.wrapped_key.0.len() {
        let mut p = payment.clone();
        p.sealed_coins.wrapped_key.0[i] ^= 0x01;
        refused(&p, &format!("wrapped key byte {i}"));
    }
    for i in 0..12 {
        let mut p = payment.clone();
        p.sealed_coins.nonce.0[i] ^= 0x80;
        refused(&p, &format!("nonce byte {i}"));
    }
    for i in 0..payment.sealed_coins.ciphertext.0.len() {
        let mut p = payment.clone();
        p.sealed_coins.ciphertext.0[i] ^= 0x04;
        refused(&p, &format!("ciphertext byte {i}"));
    }
    // Every field of payment_info.
    type Change = Box<dyn Fn(&mut PaymentInfo)>;
    let info_changes: Vec<(&str, Change)> = vec![
        ("bank_id", Box::new(|i| i.bank_id.push('x'))),
        ("amount", Box::new(|i| i.amount.value += 1)),
        ("ncoins", Box::new(|i| i.ncoins += 1)),
        ("timestamp", Box::new(|i| i.timestamp += 1)),
        (
            "merchant_bank_id",
            Box::new(|i| i.merchant_bank_id.push('x')),
        ),
        ("payreq_id", Box::new(|i| i.payreq_id.push('x'))),
        (
            "description_hash",
            Box::new(|i| i.description_hash.0[0] ^= 1),
        ),
        (
            "payer_code_hash",
            Box::new(|i| i.payer_code_hash.0[31] ^= 1),
        ),
    ];
    for (field, change) in &info_changes {
        let mut p = payment.clone();
        change(&mut p.payment_info);
        refused(&p, field);
    }
    // Nothing moved so far.
    assert_eq!(c.balance(&merchant), 0);
    assert!(c.spent(&coins).iter().all(|s| !s));

    // The payment as sent: deposited once, under the id the payer knows.
    let ack = c.deposit(&merchant, &payment).expect("deposit");
    assert_eq!(ack.body.payment_id, id);
    // Re-spelt JSON (an unknown field, another field order) is the same payment.
    let mut json = serde_json::to_value(&payment).expect("json");
    json["sealed_coins"]["padding"] = serde_json::json!("ignored");
    let respelt: Payment = serde_json::from_value(json).expect("payment");
    assert_eq!(respelt.payment_id(), id);
    assert_eq!(
        c.deposit(&merchant, &respelt).expect("replay").body,
        ack.body
    );
    assert_eq!(c.balance(&merchant), 1, "credited exactly once");
    // The payer proves it with the id it computed.
    let proof = c
        .call::<api::Proof>(
            &(),
            &ProofRequest {
                payment_id: id,
                payer_code: Bytes(payer_code),
            },
        )
        .expect("the payer's proof");
    proof.verify(&c.master).expect("bank signed");
    assert_eq!(proof.body.payment_id, id);
}

/// Finding 10: behind a configured proxy, each client has its own rate
/// limit; without one, a forwarded header changes nothing.
#[test]
fn f10_rate_limit_per_client_behind_a_trusted_proxy() {
    // Raw clients: fetching the key set first would spend a token.
    let hit = |http: &ecash_testkit::client::Http, client: &str| {
        http.send_with::<api::Health>(&(), &(), &[("x-forwarded-for", client)])
            .status
    };
    let behind = MintProc::start(&[
        "--rate-limit",
        "1",
        "--rate-burst",
        "3",
        "--trusted-proxy",
        "127.0.0.1",
    ]);
    let http = ecash_testkit::client::Http::connect(behind.url());
    let a: Vec<u16> = (0..4).map(|_| hit(&http, "203.0.113.1")).collect();
    assert_eq!(a, [200, 200, 200, 429], "client A has its own bucket");
    assert_eq!(hit(&http, "203.0.113.2"), 200, "client B is not A");
    // A forged entry left of what the proxy appended changes nothing.
    assert_eq!(hit(&http, "198.51.100.9, 203.0.113.1"), 429);

    let direct = MintProc::start(&["--rate-limit", "1", "--rate-burst", "3"]);
    let http = ecash_testkit::client::Http::connect(direct.url());
    let spoofed: Vec<u16> = (0..4)
        .map(|i| hit(&http, &format!("203.0.113.{i}")))
        .collect();
    assert_eq!(
        spoofed,
        [200, 200, 200, 429],
        "no proxy configured: the header is ignored"
    );
}

/// Finding 6 (the server's half): the access log holds no query string
/// and no client address, and times only to the second.
#[test]
fn f6_access_log_holds_no_query_strings() {
    let mint = MintProc::start(&[]);
    let c = mint.client();
    let a = c.register("a");
    c.faucet(&a, 1000);
    let coins = c.withdraw(&a, 137);
    let m = c.register("m");
    let (p, _) = c.payment(&coins, &m.id, "o", "d");
    c.deposit(&m, &p).expect("deposit");
    let http = c.http();
    let secret = "ecash1SECRETTOKENabcdef";
    for path in [
        format!("/?token={secret}"),
        format!("{}?payment_id={secret}", api::PublicKeyOf::path(&m.id)),
        format!("{}?payreq={secret}", api::Keys::INFO.path),
    ] {
        http.probe(Method::Get, &path);
    }
    // The log is written by another thread of the server.
    std::thread::sleep(std::time::Duration::from_millis(300));
    let log = mint.proc.log();
    assert!(log.contains("GET /keys 200"), "{log}");
    assert!(
        !log.contains(secret),
        "a query string reached the log:\n{log}"
    );
    for line in log.lines().filter(|l| l.contains(" http: ")) {
        assert!(
            !line.contains("127.0.0.1"),
            "a client address in the log: {line}"
        );
    }
    // Nor amounts or coin counts that could match a withdrawal to a payment.
    assert!(!log.contains("amount=") && !log.contains("coins="), "{log}");
    // Timestamps to the second (no fraction).
    let first = log.lines().find(|l| l.contains("GET /keys")).expect("line");
    let stamp = first.split_whitespace().next().expect("stamp");
    assert!(
        stamp.ends_with('Z') && !stamp.contains('.'),
        "timestamp finer than a second: {stamp}"
    );
}

/// The spent list: the same bytes for every client, signed, and a coin is
/// in it once deposited.
#[test]
fn spent_lists_are_public_signed_and_complete() {
    let mint = MintProc::start(&["--spent-list-max-age-secs", "0"]);
    let c = mint.client();
    let a = c.register("a");
    c.faucet(&a, 10);
    let coins = c.withdraw(&a, 3);
    let m = c.register("m");
    let (p, _) = c.payment(&coins[..1], &m.id, "o", "d");
    c.deposit(&m, &p).expect("deposit");
    let key = coins[0].key_id;
    let list = c.call::<api::SpentCoins>(&key, &()).expect("list");
    let set = list.verify(&c.master, &key).expect("signed by the bank");
    assert!(set.contains(&coins[0].serial));
    for other in &coins[1..] {
        if other.key_id == key {
            assert!(!set.contains(&other.serial));
        }
    }
    // The same bytes for another client.
    let http = c.http();
    let one = http.send_with::<api::SpentCoins>(&key, &(), &[]);
    let two = mint
        .client()
        .http()
        .send_with::<api::SpentCoins>(&key, &(), &[]);
    assert_eq!((one.status, &one.body), (200, &two.body));
    assert_eq!(
        refused(c.call::<api::SpentCoins>(&Fixed([9u8; 32]), &()),).1,
        ErrorCode::UnknownKey
    );
    // A key id that is not one at all.
    let bad = http.probe(
        Method::Get,
        &api::fill_path(api::SpentCoins::INFO.path, &["not-a-key".to_owned()]),
    );
    assert_eq!(bad.status, 400);
}

/// Finding 3 (outside review): concurrent requests against one balance or
/// one coin sign once; the others are refused before any signing.
#[test]
fn f3_concurrent_requests_for_one_balance_or_coin_sign_once() {
    let mint = MintProc::start(&["--metrics"]);
    let c = mint.client();
    let a = c.register("a");
    c.faucet(&a, 64);
    let before = c.metric("mint_blind_signatures_total");
    let barrier = Arc::new(Barrier::new(16));
    let withdrawals: Vec<bool> = (0..16)
        .map(|_| {
            let (url, master, barrier) = (c.url.clone(), c.master, barrier.clone());
            let key = ecash_core::Keypair::from_secret_bytes(&a.key.secret_bytes());
            let id = a.id.clone();
            std::thread::spawn(move || {
                let c = SyncBank::connect(&url, &master);
                let me = Account { key, id };
                let (req, _) = c.withdraw_request(&me, 64);
                barrier.wait();
                c.call::<api::Withdraw>(&(), &req).is_ok()
            })
        })
        .collect::<Vec<_>>()
        .into_iter()
        .map(|t| t.join().expect("thread"))
        .collect();
    assert_eq!(withdrawals.iter().filter(|ok| **ok).count(), 1);
    let signed = c.metric("mint_blind_signatures_total") - before;
    assert_eq!(
        signed, 1,
        "64 is one coin, signed once; all signed {signed}"
    );

    // One coin, sixteen exchanges of it at once.
    c.faucet(&a, 256);
    let coins = c.withdraw(&a, 256);
    let before = c.metric("mint_blind_signatures_total");
    let barrier = Arc::new(Barrier::new(16));
    let exchanges: Vec<bool> = (0..16)
        .map(|_| {
            let (url, master, barrier, coins) =
                (c.url.clone(), c.master, barrier.clone(), coins.clone());
            std::thread::spawn(move || {
                let c = SyncBank::connect(&url, &master);
                let outputs: Vec<BlindedCoin> = c
                    .blind(128)
                    .into_iter()
                    .chain(c.blind(128))
                    .map(|p| p.blinded)
                    .collect();
                let req = ExchangeRequest {
                    request_id: Fixed(random32()),
                    coins,
                    outputs,
                };
                barrier.wait();
                c.call::<api::Exchange>(&(), &req).is_ok()
            })
        })
        .collect::<Vec<_>>()
        .into_iter()
        .map(|t| t.join().expect("thread"))
        .collect();
    assert_eq!(exchanges.iter().filter(|ok| **ok).count(), 1);
    let signed = c.metric("mint_blind_signatures_total") - before;
    assert_eq!(
        signed, 2,
        "one exchange into two coins; all signed {signed}"
    );

    // Sixteen exchanges of different coins under one request id at once:
    // one is signed and answered; the others are not signed at all.
    c.faucet(&a, 16);
    let coins: Vec<_> = (0..16).map(|_| c.withdraw(&a, 1)).collect();
    let request_id = Fixed(random32());
    let before = c.metric("mint_blind_signatures_total");
    let barrier = Arc::new(Barrier::new(16));
    let shared: Vec<bool> = coins
        .into_iter()
        .map(|coins| {
            let (url, master, barrier) = (c.url.clone(), c.master, barrier.clone());
            std::thread::spawn(move || {
                let c = SyncBank::connect(&url, &master);
                let req = ExchangeRequest {
                    request_id,
                    coins,
                    outputs: c.blind(1).into_iter().map(|p| p.blinded).collect(),
                };
                barrier.wait();
                c.call::<api::Exchange>(&(), &req).is_ok()
            })
        })
        .collect::<Vec<_>>()
        .into_iter()
        .map(|t| t.join().expect("thread"))
        .collect();
    let answered = shared.iter().filter(|ok| **ok).count() as u64;
    let signed = c.metric("mint_blind_signatures_total") - before;
    assert!(answered >= 1, "none of the sixteen was answered");
    assert_eq!(
        signed, answered,
        "signatures made for requests refused: {signed} for {answered}"
    );

    // One exchange request sent sixteen times at once (a wallet retrying
    // over a flaky network): each copy gets the one answer or is told to
    // retry, never that its own coins are spent; it is signed once.
    c.faucet(&a, 8);
    let coins = c.withdraw(&a, 8);
    let req = ExchangeRequest {
        request_id: Fixed(random32()),
        coins,
        outputs: c.blind(8).into_iter().map(|p| p.blinded).collect(),
    };
    let before = c.metric("mint_blind_signatures_total");
    let barrier = Arc::new(Barrier::new(16));
    let copies: Vec<Result<BlindSignatures, ErrorCode>> = (0..16)
        .map(|_| {
            let (url, master, barrier, req) =
                (c.url.clone(), c.master, barrier.clone(), req.clone());
            std::thread::spawn(move || {
                let c = SyncBank::connect(&url, &master);
                barrier.wait();
                c.call::<api::Exchange>(&(), &req)
                    .map_err(|e| refused(Err::<(), _>(e)).1)
            })
        })
        .collect::<Vec<_>>()
        .into_iter()
        .map(|t| t.join().expect("thread"))
        .collect();
    let again = c
        .call::<api::Exchange>(&(), &req)
        .expect("the stored answer");
    for copy in &copies {
        match copy {
            Ok(sigs) => assert_eq!(sigs, &again),
            Err(code) => assert_eq!(*code, ErrorCode::InProgress, "{copies:?}"),
        }
    }
    assert_eq!(c.metric("mint_blind_signatures_total") - before, 1);
}
