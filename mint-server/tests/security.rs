//! The outside audit's findings, against the real mint binary. Each test
//! failed on the code the audit read (run them against another build with
//! `MINT_BIN=/path/to/mint-server`), and passes now. Numbers are the
//! findings' numbers in the audit.

mod common;

use std::sync::{Arc, Barrier};

use common::*;
use ecash_core::messages::*;
use ecash_core::{BlindedCoin, Bytes, ErrorCode, Fixed, PendingCoin};

/// The response's header `name`, as text.
fn header(resp: &reqwest::blocking::Response, name: &str) -> String {
    resp.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
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
    let mint = Mint::start(&[
        "--web-dir",
        &web_dir,
        "--frame-ancestor",
        "https://shop.example",
    ]);
    let http = reqwest::blocking::Client::new();
    let get = |path: &str| http.get(format!("{}{path}", mint.url)).send().expect("GET");
    let wallet = header(&get("/"), "content-security-policy");
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
    // Any spelling of a shop path gets the shop's policy (set by its handlers).
    for path in [
        "/shop",
        "/shop/item/haiku",
        "/%73hop/item/haiku",
        "/shop/%69tem/haiku",
    ] {
        let r = get(path);
        let csp = header(&r, "content-security-policy");
        assert!(
            csp.contains("script-src 'self';") && csp.contains("frame-ancestors 'none'"),
            "{path}: {csp}"
        );
        let html = r.text().expect("html");
        assert!(
            !html.contains("<script>") && !html.contains("<style>") && !html.contains("style="),
            "{path} has inline script or style: {html}"
        );
    }
    let api = get("/keys");
    assert_eq!(
        header(&api, "content-security-policy"),
        "default-src 'none'; frame-ancestors 'none'"
    );
    assert_eq!(header(&api, "x-content-type-options"), "nosniff");
    assert_eq!(header(&api, "referrer-policy"), "no-referrer");
    // A frame ancestor that is not a bare origin could inject policy: refused.
    let err = refuses_to_start(&["--frame-ancestor", "https://x.example; script-src *"]);
    assert!(err.contains("--frame-ancestor"), "{err}");
}

/// Finding 3: a spent coin re-sent with 256 outputs costs the mint no
/// private-key operation, and neither does a request with one bad output.
#[test]
fn f3_refused_requests_cost_no_private_key_work() {
    let mint = Mint::start(&["--metrics"]);
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
    let e = c
        .post::<_, BlindSignatures>(
            "/exchange",
            &ExchangeRequest {
                request_id: Fixed(random32()),
                coins: coins.clone(),
                outputs: outputs.clone(),
            },
        )
        .expect_err("spent coin");
    assert_eq!(e.status, 409);
    assert_eq!(e.error.code, ErrorCode::CoinSpent);
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
    let req = ecash_core::Signed::sign(req.body, &a.key);
    let e = c
        .post::<_, BlindSignatures>("/withdraw", &req)
        .expect_err("bad blinded coin");
    assert_eq!(e.error.code, ErrorCode::InvalidField, "{:?}", e.error);
    assert_eq!(c.metric("mint_blind_signatures_total"), signed_before);
    // The account was not debited either.
    assert_eq!(c.balance(&a), 2000 - 256);
}

/// Finding 4: two payers racing for one order: exactly one is deposited,
/// the other is refused before its coins are touched and keeps them.
#[test]
fn f4_one_order_takes_exactly_one_payment() {
    let mint = Mint::start(&[]);
    let c = mint.client();
    for round in 0..6 {
        let payreq: PayReq = c
            .post("/shop/api/orders", &serde_json::json!({"item_id": "haiku"}))
            .expect("order");
        let path = payreq
            .pay_url
            .strip_prefix(&c.url)
            .expect("pay_url on this server")
            .to_owned();
        let barrier = Arc::new(Barrier::new(2));
        let payers: Vec<_> = (0..2)
            .map(|i| {
                let c = mint.client();
                let payreq = payreq.clone();
                let path = path.clone();
                let barrier = barrier.clone();
                std::thread::spawn(move || {
                    let buyer = c.register(&format!("buyer {round}/{i}"));
                    c.faucet(&buyer, payreq.amount.value);
                    let coins = c.withdraw(&buyer, payreq.amount.value);
                    let (payment, _) = c.payment(
                        &coins,
                        &payreq.merchant_acc_id,
                        &payreq.payreq_id,
                        &payreq.description,
                    );
                    barrier.wait();
                    let r = c.post::<_, PaymentResponse>(&path, &payment);
                    (coins, payment.payment_id(), r)
                })
            })
            // Both threads must exist before either is joined (the barrier).
            .collect::<Vec<_>>()
            .into_iter()
            .map(|t| t.join().expect("payer"))
            .collect();
        let won: Vec<_> = payers.iter().filter(|(_, _, r)| r.is_ok()).collect();
        assert_eq!(won.len(), 1, "round {round}: exactly one payment is taken");
        // The loser, retrying once the winner is done, is refused for good.
        for (coins, _, r) in &payers {
            if r.is_err() {
                let (again, _) = c.payment(
                    coins,
                    &payreq.merchant_acc_id,
                    &payreq.payreq_id,
                    &payreq.description,
                );
                let e = c
                    .post::<_, PaymentResponse>(&path, &again)
                    .expect_err("paid already");
                assert_eq!(e.error.code, ErrorCode::OrderTaken);
            }
        }
        for (coins, pid, r) in &payers {
            match r {
                Ok(resp) => {
                    assert_eq!(&resp.receipt.body.payment_id, pid, "its own receipt");
                    assert!(c.spent(coins).iter().all(|s| *s));
                }
                Err(e) => {
                    // Refused before its coins were touched: at once
                    // (order_taken), or told to retry while the other payment
                    // is at the bank (in_progress), then refused.
                    assert_eq!(e.status, 409, "{:?}", e.error);
                    assert!(
                        matches!(e.error.code, ErrorCode::OrderTaken | ErrorCode::InProgress),
                        "{:?}",
                        e.error
                    );
                    assert!(
                        c.spent(coins).iter().all(|s| !s),
                        "round {round}: the refused payer keeps its coins"
                    );
                }
            }
        }
    }
}

/// Finding 8: payment links come from the configured public URL, never
/// from `X-Forwarded-*` or `Forwarded` headers.
#[test]
fn f8_payment_links_ignore_forwarded_headers() {
    let http = reqwest::blocking::Client::new();
    let order = |url: &str| -> PayReq {
        http.post(format!("{url}/shop/api/orders"))
            .header("x-forwarded-host", "evil.example")
            .header("x-forwarded-proto", "https")
            .header("forwarded", "host=evil.example;proto=https")
            .header("host", "evil.example")
            .json(&serde_json::json!({"item_id": "haiku"}))
            .send()
            .expect("order")
            .json()
            .expect("payreq")
    };
    let mint = Mint::start(&[]);
    let p = order(&mint.url);
    for u in [&p.pay_url, &p.fulfillment_url] {
        assert!(u.starts_with(&format!("{}/shop/", mint.url)), "{u}");
    }
    let public = Mint::start(&["--public-url", "https://shop.example"]);
    let p = order(&public.url);
    assert!(
        p.pay_url.starts_with("https://shop.example/shop/api/pay/"),
        "{}",
        p.pay_url
    );
    assert!(!p.fulfillment_url.contains("evil"));
    let err = refuses_to_start(&["--public-url", "javascript:alert(1)"]);
    assert!(err.contains("--public-url"), "{err}");
}

/// Finding 9: a carrier cannot have one payment deposited under a second
/// id. Every byte it could change is refused or gives the same id.
#[test]
fn f9_a_payment_has_one_id_whatever_its_carrier_changes() {
    let mint = Mint::start(&[]);
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
    let refused = |p: &Payment, what: &str| {
        let e = c.deposit(&merchant, p).expect_err(what);
        assert!(
            (400..500).contains(&e.status),
            "{what}: {} {:?}",
            e.status,
            e.error
        );
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
    let proof: ecash_core::Signed<PaymentProof> = c
        .post(
            "/proofs",
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
    let http = reqwest::blocking::Client::new();
    let hit = |url: &str, client: &str| {
        http.get(format!("{url}/healthz"))
            .header("x-forwarded-for", client)
            .send()
            .expect("GET")
            .status()
            .as_u16()
    };
    let behind = Mint::start(&[
        "--rate-limit",
        "1",
        "--rate-burst",
        "3",
        "--trusted-proxy",
        "127.0.0.1",
    ]);
    let a: Vec<u16> = (0..4).map(|_| hit(&behind.url, "203.0.113.1")).collect();
    assert_eq!(a, [200, 200, 200, 429], "client A has its own bucket");
    assert_eq!(hit(&behind.url, "203.0.113.2"), 200, "client B is not A");
    // A forged entry left of what the proxy appended changes nothing.
    assert_eq!(hit(&behind.url, "198.51.100.9, 203.0.113.1"), 429);

    let direct = Mint::start(&["--rate-limit", "1", "--rate-burst", "3"]);
    let spoofed: Vec<u16> = (0..4)
        .map(|i| hit(&direct.url, &format!("203.0.113.{i}")))
        .collect();
    assert_eq!(
        spoofed,
        [200, 200, 200, 429],
        "no proxy configured: the header is ignored"
    );
}

/// Finding 10: looking at item pages stores nothing; an order is made by POST.
#[test]
fn f10_item_pages_create_no_orders() {
    let mint = Mint::start(&[]);
    let http = reqwest::blocking::Client::new();
    let before = shop_orders(&mint);
    for _ in 0..25 {
        let r = http
            .get(format!("{}/shop/item/haiku", mint.url))
            .send()
            .expect("item page");
        assert_eq!(r.status().as_u16(), 200);
    }
    assert_eq!(
        shop_orders(&mint),
        before,
        "a crawler filled the orders table"
    );
    let r = http
        .post(format!("{}/shop/item/haiku/order", mint.url))
        .send()
        .expect("order");
    assert!(r.status().is_success(), "{}", r.status());
    assert_eq!(shop_orders(&mint), before + 1);
    // Another site's form cannot make orders.
    for (name, value) in [
        ("sec-fetch-site", "cross-site"),
        ("origin", "https://evil.example"),
    ] {
        let r = http
            .post(format!("{}/shop/item/haiku/order", mint.url))
            .header(name, value)
            .send()
            .expect("order");
        assert_eq!(r.status().as_u16(), 400, "{name}: {value}");
    }
    let r = http
        .post(format!("{}/shop/item/haiku/order", mint.url))
        .header("sec-fetch-site", "same-origin")
        .send()
        .expect("order");
    assert!(r.status().is_success());
    assert_eq!(shop_orders(&mint), before + 2);
    // Nor another site's script, through the JSON route.
    let r = http
        .post(format!("{}/shop/api/orders", mint.url))
        .header("sec-fetch-site", "cross-site")
        .json(&serde_json::json!({"item_id": "haiku"}))
        .send()
        .expect("order");
    assert_eq!(r.status().as_u16(), 400);
    assert_eq!(shop_orders(&mint), before + 2);
}

/// Finding 10: a storefront on another origin makes orders only when the
/// operator names it (`--shop-order-origin`); any other site is refused.
#[test]
fn f10_only_named_origins_make_orders_from_other_sites() {
    let mint = Mint::start(&["--shop-order-origin", "https://store.example"]);
    let http = reqwest::blocking::Client::new();
    let order = |origin: &str| {
        http.post(format!("{}/shop/api/orders", mint.url))
            .header("origin", origin)
            .header("sec-fetch-site", "cross-site")
            .json(&serde_json::json!({"item_id": "haiku"}))
            .send()
            .expect("order")
            .status()
            .as_u16()
    };
    let before = shop_orders(&mint);
    assert_eq!(order("https://store.example"), 201);
    assert_eq!(order("https://evil.example"), 400);
    assert_eq!(order("https://store.example.evil.example"), 400);
    assert_eq!(shop_orders(&mint), before + 1);
    // The value is checked at start: an origin, nothing else.
    let bad = std::process::Command::new(env!("CARGO_BIN_EXE_mint-server"))
        .args([
            "--listen",
            "127.0.0.1:0",
            "--shop-order-origin",
            "javascript:alert(1)",
        ])
        .args(["--data-dir", mint.data_dir().to_str().expect("utf-8")])
        .output()
        .expect("run");
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--shop-order-origin"));
}

/// Finding 4 (outside review): a payment the bank holds completes its
/// order even after the order expired (the shop stopped between the bank's
/// ack and its own books); the payer gets the receipt and the goods.
#[test]
fn f4_a_deposited_payment_completes_its_order_even_after_expiry() {
    let mint = Mint::start(&["--payreq-ttl-secs", "1"]);
    let c = mint.client();
    let payreq: PayReq = c
        .post("/shop/api/orders", &serde_json::json!({"item_id": "haiku"}))
        .expect("order");
    let buyer = c.register("buyer");
    c.faucet(&buyer, 25);
    let coins = c.withdraw(&buyer, 25);
    let (payment, _) = c.payment(
        &coins,
        &payreq.merchant_acc_id,
        &payreq.payreq_id,
        &payreq.description,
    );
    // The shop's deposit reached the bank; its books never heard of it.
    let secret = std::fs::read_to_string(mint.data_dir().join("shop/merchant.key")).expect("key");
    let shop = Account {
        key: ecash_core::Keypair::from_secret_bytes(
            &ecash_core::B32::from_b64(secret.trim()).expect("b64").0,
        ),
        id: payreq.merchant_acc_id.clone(),
    };
    c.deposit(&shop, &payment).expect("deposited at the bank");
    std::thread::sleep(std::time::Duration::from_millis(2100));
    let path = payreq.pay_url.strip_prefix(&c.url).expect("on this server");
    let resp: PaymentResponse = c.post(path, &payment).expect("completed, though expired");
    assert_eq!(resp.receipt.body.payment_id, payment.payment_id());
    let goods: serde_json::Value = c
        .post(
            &format!("/shop/api/orders/{}/goods", payreq.payreq_id),
            &serde_json::json!({ "payment_id": payment.payment_id().to_b64() }),
        )
        .expect("goods");
    assert!(goods["goods"].is_string());
}

/// Finding 6 (the server's half): the access log holds no query string
/// and no client address, and times only to the second.
#[test]
fn f6_access_log_holds_no_query_strings() {
    let mint = Mint::start(&[]);
    let c = mint.client();
    let a = c.register("a");
    c.faucet(&a, 1000);
    let coins = c.withdraw(&a, 137);
    let m = c.register("m");
    let (p, _) = c.payment(&coins, &m.id, "o", "d");
    c.deposit(&m, &p).expect("deposit");
    let http = reqwest::blocking::Client::new();
    let secret = "ecash1SECRETTOKENabcdef";
    for path in [
        format!("/?token={secret}"),
        format!("/shop/api/orders/x?payment_id={secret}"),
        format!("/keys?payreq={secret}"),
    ] {
        http.get(format!("{}{path}", mint.url)).send().expect("GET");
    }
    std::thread::sleep(std::time::Duration::from_millis(300));
    let log = mint.log();
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
    let mint = Mint::start(&["--spent-list-max-age-secs", "0"]);
    let c = mint.client();
    let a = c.register("a");
    c.faucet(&a, 10);
    let coins = c.withdraw(&a, 3);
    let m = c.register("m");
    let (p, _) = c.payment(&coins[..1], &m.id, "o", "d");
    c.deposit(&m, &p).expect("deposit");
    let key = coins[0].key_id;
    let list: ecash_core::spent::SpentList = c
        .get(&format!("/keys/{}/spent", key.to_b64()))
        .expect("list");
    let set = list.verify(&c.master, &key).expect("signed by the bank");
    assert!(set.contains(&coins[0].serial));
    for other in &coins[1..] {
        if other.key_id == key {
            assert!(!set.contains(&other.serial));
        }
    }
    let e = c
        .get::<serde_json::Value>(&format!("/keys/{}/spent", Fixed([9u8; 32]).to_b64()))
        .expect_err("unknown key");
    assert_eq!(e.error.code, ErrorCode::UnknownKey);
    let e = c
        .get::<serde_json::Value>("/keys/not-a-key/spent")
        .expect_err("bad id");
    assert_eq!(e.status, 400);
}

/// Finding 3 (outside review): concurrent requests against one balance or
/// one coin sign once; the others are refused before any signing.
#[test]
fn f3_concurrent_requests_for_one_balance_or_coin_sign_once() {
    let mint = Mint::start(&["--metrics"]);
    let c = mint.client();
    let a = c.register("a");
    c.faucet(&a, 64);
    let before = c.metric("mint_blind_signatures_total");
    let barrier = Arc::new(Barrier::new(16));
    let withdrawals: Vec<bool> = (0..16)
        .map(|_| {
            let (url, barrier) = (mint.url.clone(), barrier.clone());
            let key = ecash_core::Keypair::from_secret_bytes(&a.key.secret_bytes());
            let id = a.id.clone();
            std::thread::spawn(move || {
                let c = Client::connect(&url);
                let me = Account { key, id };
                let (req, _) = c.withdraw_request(&me, 64);
                barrier.wait();
                c.post::<_, BlindSignatures>("/withdraw", &req).is_ok()
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
            let (url, barrier, coins) = (mint.url.clone(), barrier.clone(), coins.clone());
            std::thread::spawn(move || {
                let c = Client::connect(&url);
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
                c.post::<_, BlindSignatures>("/exchange", &req).is_ok()
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
            let (url, barrier) = (mint.url.clone(), barrier.clone());
            std::thread::spawn(move || {
                let c = Client::connect(&url);
                let req = ExchangeRequest {
                    request_id,
                    coins,
                    outputs: c.blind(1).into_iter().map(|p| p.blinded).collect(),
                };
                barrier.wait();
                c.post::<_, BlindSignatures>("/exchange", &req).is_ok()
            })
        })
        .collect::<Vec<_>>()
        .into_iter()
        .map(|t| t.join().expect("thread"))
        .collect();
    let answered = shared.iter().filter(|ok| **ok).count() as u64;
    let signed = c.metric("mint_blind_signatures_total") - before;
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
            let (url, barrier, req) = (mint.url.clone(), barrier.clone(), req.clone());
            std::thread::spawn(move || {
                let c = Client::connect(&url);
                barrier.wait();
                c.post::<_, BlindSignatures>("/exchange", &req)
                    .map_err(|e| e.error.code)
            })
        })
        .collect::<Vec<_>>()
        .into_iter()
        .map(|t| t.join().expect("thread"))
        .collect();
    let again: BlindSignatures = c.post("/exchange", &req).expect("the stored answer");
    for copy in &copies {
        match copy {
            Ok(sigs) => assert_eq!(
                serde_json::to_value(sigs).expect("json"),
                serde_json::to_value(&again).expect("json")
            ),
            Err(code) => assert_eq!(*code, ErrorCode::InProgress, "{copies:?}"),
        }
    }
    assert_eq!(c.metric("mint_blind_signatures_total") - before, 1);
}

/// Finding 4 (outside review): a copy of a payment with a junk wrapped key
/// (the same payment id) cannot free the order while the real payment is
/// being deposited: the order is never paid twice, and no answer is a 5xx.
#[test]
fn f4_a_twin_payment_cannot_free_an_order_being_paid() {
    let mint = Mint::start(&[]);
    let c = mint.client();
    for round in 0..8 {
        let payreq: PayReq = c
            .post("/shop/api/orders", &serde_json::json!({"item_id": "haiku"}))
            .expect("order");
        let path = payreq
            .pay_url
            .strip_prefix(&c.url)
            .expect("on this server")
            .to_owned();
        let buyer = c.register(&format!("buyer {round}"));
        c.faucet(&buyer, 50);
        let coins_p = c.withdraw(&buyer, 25);
        let coins_q = c.withdraw(&buyer, 25);
        let pay = |coins: &[ecash_core::Coin]| {
            c.payment(
                coins,
                &payreq.merchant_acc_id,
                &payreq.payreq_id,
                &payreq.description,
            )
            .0
        };
        let p = pay(&coins_p);
        let mut twin = p.clone();
        twin.sealed_coins.wrapped_key.0[5] ^= 0xff;
        assert_eq!(twin.payment_id(), p.payment_id());
        let q = pay(&coins_q);
        let barrier = Arc::new(Barrier::new(3));
        let send = |payment: Payment, delay_ms: u64| {
            let (url, path, barrier) = (mint.url.clone(), path.clone(), barrier.clone());
            std::thread::spawn(move || {
                let c = Client::connect(&url);
                barrier.wait();
                std::thread::sleep(std::time::Duration::from_millis(delay_ms));
                c.post::<_, PaymentResponse>(&path, &payment)
                    .map(|_| ())
                    .map_err(|e| (e.status, e.error.code))
            })
        };
        let threads = [send(p, 0), send(twin, 0), send(q, 3)];
        let results: Vec<_> = threads
            .into_iter()
            .map(|t| t.join().expect("thread"))
            .collect();
        for (status, code) in results.iter().filter_map(|r| r.as_ref().err()) {
            assert!(*status < 500, "round {round}: {status} {code:?}");
        }
        let paid_p = c.spent(&coins_p).iter().all(|s| *s);
        let paid_q = c.spent(&coins_q).iter().all(|s| *s);
        assert!(
            !(paid_p && paid_q),
            "round {round}: the order was paid twice: {results:?}"
        );
        // Whoever was deposited got the receipt; the other kept its coins.
        assert_eq!(paid_p, results[0].is_ok(), "round {round}: {results:?}");
        assert_eq!(paid_q, results[2].is_ok(), "round {round}: {results:?}");
    }
}

/// Finding 4 (third review): a payment whose deposit fails for a passing
/// reason (its coins busy in an exchange at that instant) frees the order
/// again, so an honest payer is never told `in_progress` for good.
#[test]
fn f4_a_payment_that_fails_to_commit_frees_its_order() {
    let mint = Mint::start(&[]);
    let c = mint.client();
    for round in 0..12 {
        let payreq: PayReq = c
            .post("/shop/api/orders", &serde_json::json!({"item_id": "haiku"}))
            .expect("order");
        let path = payreq
            .pay_url
            .strip_prefix(&c.url)
            .expect("on this server")
            .to_owned();
        let buyer = c.register(&format!("racer {round}"));
        c.faucet(&buyer, 50);
        let racing = c.withdraw(&buyer, 25);
        let honest = c.withdraw(&buyer, 25);
        let pay = |coins: &[ecash_core::Coin]| {
            c.payment(
                coins,
                &payreq.merchant_acc_id,
                &payreq.payreq_id,
                &payreq.description,
            )
            .0
        };
        let (p, q) = (pay(&racing), pay(&honest));
        // The racing coins are paid and exchanged at the same moment.
        let exchange = ExchangeRequest {
            request_id: Fixed(random32()),
            coins: racing,
            outputs: c.blind(25).into_iter().map(|b| b.blinded).collect(),
        };
        let barrier = Arc::new(Barrier::new(2));
        let (url, b) = (mint.url.clone(), barrier.clone());
        let exchanger = std::thread::spawn(move || {
            let c = Client::connect(&url);
            b.wait();
            c.post::<_, BlindSignatures>("/exchange", &exchange).is_ok()
        });
        barrier.wait();
        let paid = c.post::<_, PaymentResponse>(&path, &p);
        let exchanged = exchanger.join().expect("thread");
        assert!(
            !(paid.is_ok() && exchanged),
            "round {round}: coins spent twice"
        );
        let answer = c.post::<_, PaymentResponse>(&path, &q);
        match &paid {
            Ok(_) => assert_eq!(
                answer.map_err(|e| e.error.code).err(),
                Some(ErrorCode::OrderTaken),
                "round {round}"
            ),
            Err(e) => assert!(
                answer.is_ok(),
                "round {round}: the racing payment failed ({:?}) and still holds the order: {:?}",
                e.error.code,
                answer.err().map(|e| e.error.code)
            ),
        }
    }
}
