//! Every endpoint's flow end to end against a real mint process, including
//! the demo shop checkout.

mod common;

use common::*;
use ecash_core::messages::*;
use ecash_core::{ErrorCode, Fixed, PublicKey, Signed};

#[test]
fn keys_openapi_healthz_and_json_404() {
    let mint = Mint::start(&[]);
    let c = mint.client();
    assert_eq!(c.keys.set.currency.as_str(), "DEMO");
    assert_eq!(
        c.keys.withdraw_keys(now()).len(),
        11,
        "denominations 1..=1024"
    );
    let doc: serde_json::Value = c.get("/openapi.json").expect("openapi");
    assert_eq!(doc["openapi"], "3.1.0");
    let h: serde_json::Value = c.get("/healthz").expect("healthz");
    assert_eq!(h["status"], "ok");
    let e = c
        .get::<serde_json::Value>("/no/such/path")
        .expect_err("404");
    assert_eq!((e.status, e.error.code), (404, ErrorCode::NotFound));
    let e = c
        .get::<serde_json::Value>("/withdraw")
        .expect_err("wrong method");
    assert!(e.status == 404 || e.status == 405, "status {}", e.status);
}

#[test]
fn account_faucet_statement_withdraw_deposit_proof_exchange_restore() {
    let mint = Mint::start(&[]);
    let c = mint.client();
    let alice = c.register("alice");
    let shop = c.register("merchant");

    // Registering the same key again gives the same id.
    let again = Signed::sign(
        RegisterAccount {
            public_key: alice.key.public(),
            label: "alice".into(),
            timestamp: now(),
        },
        &alice.key,
    );
    let created: AccountCreated = c.post("/accounts", &again).expect("re-register");
    assert_eq!(created.account_id, alice.id);

    // Faucet and a signed statement.
    assert_eq!(c.faucet(&alice, 1000).balance.value, 1000);
    let st = c.statement(&alice).expect("statement");
    assert_eq!(st.ledger.len(), 1);
    assert_eq!(st.ledger[0].reason, "faucet");
    // Someone else's key cannot read Alice's statement.
    let mallory = c.register("mallory");
    let forged = Account {
        key: mallory.key,
        id: alice.id.clone(),
    };
    let e = c.statement(&forged).expect_err("foreign key");
    assert_eq!(e.error.code, ErrorCode::BadSignature);

    // Withdraw 700: coins verify; replay gives the same answer and no second debit.
    let (req, pending) = c.withdraw_request(&alice, 700);
    let first: BlindSignatures = c.post("/withdraw", &req).expect("withdraw");
    let replay: BlindSignatures = c.post("/withdraw", &req).expect("replay");
    assert_eq!(first, replay);
    assert_eq!(c.balance(&alice), 300);
    let coins = c.finalize(&pending, &first);
    assert_eq!(c.value_of(&coins), 700);
    assert_eq!(coins.len(), 700u64.count_ones() as usize);
    // A different request with the same id is refused.
    let (mut other, _) = c.withdraw_request(&alice, 100);
    other.body.request_id = req.body.request_id;
    let other = Signed::sign(other.body, &alice.key);
    let e = c
        .post::<_, BlindSignatures>("/withdraw", &other)
        .expect_err("reused id");
    assert_eq!((e.status, e.error.code), (409, ErrorCode::RequestIdReused));
    // Insufficient funds: nothing debited.
    let (big, _) = c.withdraw_request(&alice, 512);
    let e = c
        .post::<_, BlindSignatures>("/withdraw", &big)
        .expect_err("overdraft");
    assert_eq!(
        (e.status, e.error.code),
        (402, ErrorCode::InsufficientFunds)
    );
    assert_eq!(c.balance(&alice), 300);

    // Restore returns the stored blind signatures for the same blinded messages.
    let restored: RestoreResponse = c
        .post(
            "/restore",
            &RestoreRequest {
                blinded: pending.iter().map(|p| p.blinded.clone()).collect(),
            },
        )
        .expect("restore");
    assert_eq!(
        restored.blind_signatures,
        first
            .blind_signatures
            .iter()
            .cloned()
            .map(Some)
            .collect::<Vec<_>>()
    );

    // Exchange some coins; the old ones become spent.
    let (give, keep) = coins.split_at(2);
    assert_eq!(c.spent(give), vec![false, false]);
    let fresh = c.exchange(give).expect("exchange");
    assert_eq!(c.value_of(&fresh), c.value_of(give));
    assert_eq!(c.spent(give), vec![true, true]);
    assert!(
        c.exchange(give).is_err(),
        "spent coins cannot be exchanged again"
    );

    // Pay the merchant and deposit; replay gives the same ack; proof with payer code.
    let mut wallet: Vec<_> = keep.iter().cloned().chain(fresh).collect();
    let pay_coins: Vec<_> = wallet.drain(..2).collect();
    let (payment, payer_code) = c.payment(&pay_coins, &shop.id, "order-1", "a book");
    let ack = c.deposit(&shop, &payment).expect("deposit");
    ack.verify(&c.master).expect("ack signed by the bank");
    assert_eq!(ack.body.amount.value, c.value_of(&pay_coins));
    assert_eq!(ack.body.payment_id, payment.payment_id());
    assert_eq!(c.deposit(&shop, &payment).expect("replay"), ack);
    assert_eq!(c.balance(&shop), c.value_of(&pay_coins));

    let proof: Signed<PaymentProof> = c
        .post(
            "/proofs",
            &ProofRequest {
                payment_id: payment.payment_id(),
                payer_code: payer_code.clone().into(),
            },
        )
        .expect("proof");
    proof.verify(&c.master).expect("proof signed");
    assert_eq!(proof.body.payment_info, payment.payment_info);
    let e = c
        .post::<_, Signed<PaymentProof>>(
            "/proofs",
            &ProofRequest {
                payment_id: payment.payment_id(),
                payer_code: vec![0u8; 32].into(),
            },
        )
        .expect_err("wrong payer code");
    assert_eq!((e.status, e.error.code), (403, ErrorCode::BadPayerCode));
    let e = c
        .post::<_, Signed<PaymentProof>>(
            "/proofs",
            &ProofRequest {
                payment_id: Fixed([9; 32]),
                payer_code: payer_code.into(),
            },
        )
        .expect_err("unknown payment");
    assert_eq!(e.error.code, ErrorCode::NotFound);

    // Privacy: no serial appears anywhere in the server's log.
    let log = std::fs::read_to_string(mint.dir.path().join("server.log")).expect("log");
    assert!(log.contains("deposit"), "the log is being written");
    for coin in &coins {
        assert!(!log.contains(&coin.serial.to_b64()), "a serial was logged");
        assert!(
            !log.contains(&hex_of(&coin.serial.0)),
            "a serial was logged (hex)"
        );
    }

    // The merchant's public key is published for receipts.
    let pk: serde_json::Value = c
        .get(&format!("/accounts/{}/public-key", shop.id))
        .expect("pk");
    let pk: PublicKey = serde_json::from_value(pk["public_key"].clone()).expect("key");
    assert_eq!(pk, shop.key.public());
}

#[test]
fn demo_shop_checkout() {
    let mint = Mint::start(&[]);
    let c = mint.client();
    let buyer = c.register("buyer");
    c.faucet(&buyer, 500);

    let items: Vec<serde_json::Value> = c.get("/shop/api/items").expect("items");
    assert!(items.len() >= 3);
    let payreq: PayReq = c
        .post("/shop/api/orders", &serde_json::json!({"item_id": "notes"}))
        .expect("order");
    assert_eq!(payreq.amount.value, 150);
    let fetched: PayReq = c
        .get(&format!("/shop/api/orders/{}", payreq.payreq_id))
        .expect("payreq");
    assert_eq!(fetched, payreq);

    // No goods before payment.
    let pid_guess = Fixed([1u8; 32]).to_b64();
    let e = c
        .post::<_, serde_json::Value>(
            &format!("/shop/api/orders/{}/goods", payreq.payreq_id),
            &serde_json::json!({ "payment_id": pid_guess }),
        )
        .expect_err("unpaid");
    assert_eq!(e.error.code, ErrorCode::PayreqInvalid);

    let coins = c.withdraw(&buyer, 150);
    let path = payreq
        .pay_url
        .strip_prefix(&c.url)
        .expect("pay_url on this server");

    // Wrong amount for the payreq: refused, coins untouched.
    let (short, _) = c.payment(
        &coins[..1],
        &payreq.merchant_acc_id,
        &payreq.payreq_id,
        &payreq.description,
    );
    let e = c
        .post::<_, PaymentResponse>(path, &short)
        .expect_err("short payment");
    assert_eq!(e.error.code, ErrorCode::PayreqInvalid);
    assert!(c.spent(&coins).iter().all(|s| !s));

    let (payment, _) = c.payment(
        &coins,
        &payreq.merchant_acc_id,
        &payreq.payreq_id,
        &payreq.description,
    );
    let resp: PaymentResponse = c.post(path, &payment).expect("pay");
    resp.deposit_ack.verify(&c.master).expect("bank ack");
    let shop_pk: serde_json::Value = c
        .get(&format!("/accounts/{}/public-key", payreq.merchant_acc_id))
        .expect("pk");
    let shop_pk: PublicKey = serde_json::from_value(shop_pk["public_key"].clone()).expect("pk");
    resp.receipt
        .verify(&shop_pk)
        .expect("receipt signed by the shop");
    assert_eq!(resp.receipt.body.amount.value, 150);
    assert_eq!(resp.receipt.body.transaction_id, payreq.payreq_id);
    assert_eq!(resp.receipt.body.payment_id, payment.payment_id());
    // Paying again with the same payment returns the same receipt.
    let again: PaymentResponse = c.post(path, &payment).expect("replay");
    assert_eq!(again, resp);

    let pid = payment.payment_id().to_b64();
    let goods: serde_json::Value = c
        .post(
            &format!("/shop/api/orders/{}/goods", payreq.payreq_id),
            &serde_json::json!({ "payment_id": pid }),
        )
        .expect("goods");
    assert!(goods["goods"].as_str().expect("goods").contains("Ecash"));
    // The page itself holds no goods: its script fetches them with the
    // payment id from the fragment, which the server never sees.
    let page = c
        .http
        .get(format!("{}#payment_id={pid}", resp.fulfillment_url))
        .send()
        .expect("fulfillment")
        .text()
        .expect("html");
    assert!(page.contains("Thank you") && page.contains(&payreq.payreq_id));
    assert!(page.contains("/shop/assets/fulfillment.js"));

    // The item page orders by POST; the order page offers both link forms,
    // the payment request's URL in the fragment.
    let html = c
        .http
        .get(format!("{}/shop/item/haiku", c.url))
        .send()
        .expect("item")
        .text()
        .expect("html");
    assert!(html.contains("method=post") && !html.contains("payreq"));
    let no_redirects = reqwest::blocking::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let created = no_redirects
        .post(format!("{}/shop/item/haiku/order", c.url))
        .send()
        .expect("order");
    assert_eq!(created.status().as_u16(), 303);
    let order_path = created
        .headers()
        .get("location")
        .and_then(|l| l.to_str().ok())
        .expect("location")
        .to_owned();
    let html = c
        .http
        .get(format!("{}{order_path}", c.url))
        .send()
        .expect("order page")
        .text()
        .expect("html");
    assert!(
        html.contains("web+ecash:") && html.contains("/#payreq="),
        "{html}"
    );
}

fn hex_of(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}
