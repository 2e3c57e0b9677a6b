//! What a curious bank learns from a deposit: not what was bought, beyond
//! what the amount says. The payment binds only `H(description)`, and the
//! shop's descriptions carry a random reference, so the bank cannot match
//! the hash against the public catalogue. `payment_info` names the order
//! (`payreq_id`), so the shop shows an order's request (its description in
//! words) only while no payment holds it. It hands the goods over for the
//! goods key, not for the payment id, which the bank computes. The payer
//! derives the goods key from its payer code, and the bank cannot derive it,
//! not even after the payer proves the payment with its proof key (derived
//! under another tag). (Found by the outside audits: each of these was open
//! to the bank.) The amount stays visible to the bank, as in every
//! Chaum-style system.
//!
//! The test plays the bank with exactly what a deposit shows it: the
//! payment's `payment_info` (sent in the clear, signed by the shop) and its
//! payment id.

#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::sync::Arc;

use ecash_core::clock::SystemClock;
use ecash_core::messages::{ProofRequest, description_hash, goods_key};
use ecash_core::{ErrorCode, Fixed, api};
use ecash_testkit::{InProcMerchant, InProcMint, refused};

#[test]
fn a_deposit_does_not_tell_the_bank_what_was_bought() {
    let mint = InProcMint::start(&[], Arc::new(SystemClock));
    let merchant = InProcMerchant::start(&mint, &[], Arc::new(SystemClock));
    let shop = merchant.client();
    let bank = mint.client();
    let buyer = bank.register("buyer");
    bank.faucet(&buyer, 1000);
    let payreq = shop.order("sticker");
    let coins = bank.withdraw(&buyer, payreq.amount.value);
    let (payment, proof_key) = bank.payment_for(&payreq, &coins);
    shop.pay(&payreq.payreq_id, &payment).expect("paid");

    // What the deposit showed the bank.
    let info = payment.payment_info.clone();
    let payment_id = payment.payment_id();
    assert_eq!(info.description_hash, description_hash(&payreq.description));
    // The catalogue is public, but the hash matches none of its items: each
    // order's description carries a random reference the bank never sees.
    for item in shop.items() {
        let guess = format!("{}: {}", item.title, item.description);
        assert_ne!(description_hash(&guess), info.description_hash, "{guess}");
    }

    // The bank asks the shop (it knows the shop's address: the merchant
    // account is its customer) about the order the deposit names.
    let learned = shop.shop.payreq_url(&info.payreq_id);
    let described = shop
        .block_on(shop.shop.payreq(&info.payreq_id))
        .ok()
        .map(|p| p.description);
    let goods = shop.goods(&info.payreq_id, payment_id).ok();
    assert!(
        described.is_none() && goods.is_none(),
        "from its deposit alone the bank read what was bought: {learned} says {:?}; \
         the goods endpoint gave it {:?}",
        described,
        goods.map(|g| g.title)
    );
    // Nor does the order's page say it; the payer's goods key still works.
    let page = shop
        .call::<api::OrderPage>(&info.payreq_id, &())
        .expect("the order page");
    assert!(
        page.contains("order-taken") && !page.contains(&payreq.description),
        "{page}"
    );
    let goods = shop.goods(&payreq.payreq_id, bank.goods_key(&payment));
    assert!(
        goods
            .expect("the payer's goods")
            .title
            .starts_with("Sticker")
    );

    // The payer proves the payment at the bank: the bank now holds what the
    // payer revealed, and still cannot get the goods with it.
    let proof = bank.call::<api::Proof>(
        &(),
        &ProofRequest {
            payment_id,
            payer_code: proof_key.clone().into(),
        },
    );
    proof.expect("proved");
    let revealed: [u8; 32] = proof_key.try_into().expect("32 bytes");
    for guess in [Fixed(revealed), goods_key(&revealed)] {
        assert_eq!(
            refused(shop.goods(&payreq.payreq_id, guess)),
            (404, ErrorCode::NotFound)
        );
    }
}
