//! What a curious bank learns from a deposit: not what was bought. The
//! payment binds only `H(description)`, and `payment_info` names the order
//! (`payreq_id`), so the shop shows an order's request (its description in
//! words) only while no payment holds it, and hands the goods over for the
//! goods key, which the payer derives from its payer code and the bank
//! cannot (it knows only its hash), not for the payment id, which the bank
//! computes. (Found by the outside audit: both were open to the bank.) The
//! amount stays visible to the bank, as in every Chaum-style system.
//!
//! The test plays the bank with exactly what a deposit shows it: the
//! payment's `payment_info` (sent in the clear, signed by the shop) and its
//! payment id.

#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::sync::Arc;

use ecash_core::clock::SystemClock;
use ecash_core::messages::description_hash;
use ecash_testkit::{InProcMerchant, InProcMint};

#[test]
fn a_deposit_does_not_tell_the_bank_what_was_bought() {
    let mint = InProcMint::start(&[], Arc::new(SystemClock));
    let merchant = InProcMerchant::start(&mint, &[], Arc::new(SystemClock));
    let shop = merchant.client();
    let bank = mint.client();
    let buyer = bank.register("buyer");
    bank.faucet(&buyer, 1000);
    let payreq = shop.order("sticker");
    let (_, payment) = bank.pay_from(&buyer, &payreq);
    shop.pay(&payreq.payreq_id, &payment).expect("paid");

    // What the deposit showed the bank.
    let info = payment.payment_info.clone();
    let payment_id = payment.payment_id();
    assert_eq!(info.description_hash, description_hash(&payreq.description));

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
        .call::<ecash_core::api::OrderPage>(&info.payreq_id, &())
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
}
