//! Every endpoint's flow end to end against a real mint process, through
//! the protocol's typed client.

use ecash_core::api;
use ecash_core::messages::*;
use ecash_core::{ErrorCode, Fixed, Signed};
use ecash_testkit::{Account, MintProc, now, refused};

#[test]
fn keys_openapi_healthz_and_json_404() {
    let mint = MintProc::start(&["--metrics"]);
    let c = mint.client();
    assert_eq!(c.keys.set.currency.as_str(), "DEMO");
    assert_eq!(
        c.keys.withdraw_keys(now()).len(),
        11,
        "denominations 1..=1024"
    );
    let doc = c.call::<api::OpenApi>(&(), &()).expect("openapi");
    assert_eq!(doc["openapi"], "3.1.0");
    assert_eq!(
        ecash_core::openapi::operations(&doc),
        ecash_core::openapi::described(api::bank),
        "the served document is the description"
    );
    assert_eq!(
        c.call::<api::Health>(&(), &()).expect("healthz").status,
        "ok"
    );
    // Every described route is live at its path with its method (a router
    // miss is a 404 `not_found`; handlers answer with their own codes).
    for info in api::infos(api::bank) {
        let path = api::fill_path(info.path, &vec!["x".to_owned(); info.params.len()]);
        let r = c
            .block_on(c.bank.0.probe(info.method, &path))
            .expect("an answer");
        let code = serde_json::from_slice::<ecash_core::ApiError>(&r.body)
            .ok()
            .map(|e| e.code);
        assert!(
            r.status != 405 && !(r.status == 404 && code == Some(ErrorCode::NotFound)),
            "{} {path} is not routed: {}",
            info.method.as_str(),
            r.status
        );
    }
    let r = c
        .block_on(c.bank.0.probe(api::Method::Get, "/no/such/path"))
        .expect("an answer");
    assert_eq!(r.status, 404);
    let e: ecash_core::ApiError = serde_json::from_slice(&r.body).expect("a JSON error");
    assert_eq!(e.code, ErrorCode::NotFound);
    let r = c
        .block_on(c.bank.0.probe(api::Method::Get, "/withdraw"))
        .expect("an answer");
    assert!(r.status == 404 || r.status == 405, "status {}", r.status);
}

#[test]
fn account_faucet_statement_withdraw_deposit_proof_exchange_restore() {
    every_flow(&[]);
}

/// The same flows with the books on PostgreSQL.
#[test]
#[cfg_attr(
    not(feature = "pg-tests"),
    ignore = "needs PostgreSQL: run make test-native"
)]
fn every_flow_on_postgres() {
    let books = ecash_testkit::PgBooks::new();
    let args = books.args();
    every_flow(&args.iter().map(String::as_str).collect::<Vec<_>>());
}

fn every_flow(args: &[&str]) {
    let mint = MintProc::start(args);
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
    let created = c.call::<api::Register>(&(), &again).expect("re-register");
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
    assert_eq!(
        refused(c.statement(&forged)).1,
        ErrorCode::BadSignature,
        "a foreign key"
    );

    // Withdraw 700: coins verify; replay gives the same answer and no second debit.
    let (req, pending) = c.withdraw_request(&alice, 700);
    let first = c.call::<api::Withdraw>(&(), &req).expect("withdraw");
    let replay = c.call::<api::Withdraw>(&(), &req).expect("replay");
    assert_eq!(first, replay);
    assert_eq!(c.balance(&alice), 300);
    let coins = c.finalize(&pending, &first);
    assert_eq!(c.value_of(&coins), 700);
    assert_eq!(coins.len(), 700u64.count_ones() as usize);
    // A different request with the same id is refused.
    let (mut other, _) = c.withdraw_request(&alice, 100);
    other.body.request_id = req.body.request_id;
    let other = Signed::sign(other.body, &alice.key);
    assert_eq!(
        refused(c.call::<api::Withdraw>(&(), &other)),
        (409, ErrorCode::RequestIdReused)
    );
    // Insufficient funds: nothing debited.
    let (big, _) = c.withdraw_request(&alice, 512);
    assert_eq!(
        refused(c.call::<api::Withdraw>(&(), &big)),
        (402, ErrorCode::InsufficientFunds)
    );
    assert_eq!(c.balance(&alice), 300);

    // Restore returns the stored blind signatures for the same blinded messages.
    let restored = c
        .call::<api::Restore>(
            &(),
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

    let proof = c
        .call::<api::Proof>(
            &(),
            &ProofRequest {
                payment_id: payment.payment_id(),
                payer_code: payer_code.clone().into(),
            },
        )
        .expect("proof");
    proof.verify(&c.master).expect("proof signed");
    assert_eq!(proof.body.payment_info, payment.payment_info);
    let wrong = ProofRequest {
        payment_id: payment.payment_id(),
        payer_code: vec![0u8; 32].into(),
    };
    assert_eq!(
        refused(c.call::<api::Proof>(&(), &wrong)),
        (403, ErrorCode::BadPayerCode)
    );
    let unknown = ProofRequest {
        payment_id: Fixed([9; 32]),
        payer_code: payer_code.into(),
    };
    assert_eq!(
        refused(c.call::<api::Proof>(&(), &unknown)).1,
        ErrorCode::NotFound
    );

    // Privacy: no serial appears anywhere in the server's log.
    let log = mint.proc.log();
    assert!(log.contains("deposit"), "the log is being written");
    for coin in &coins {
        assert!(!log.contains(&coin.serial.to_b64()), "a serial was logged");
        assert!(
            !log.contains(&hex_of(&coin.serial.0)),
            "a serial was logged (hex)"
        );
    }

    // The merchant's public key is published for receipts.
    let pk = c.block_on(c.bank.public_key(&shop.id)).expect("pk");
    assert_eq!(pk, shop.key.public());
}

fn hex_of(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}
