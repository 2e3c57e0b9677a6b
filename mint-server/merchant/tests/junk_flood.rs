//! One client's junk payments must not use up the shop's quota at its
//! bank. Every payment that passes the shop's cheap checks (fields copied
//! from the public payment request, an envelope of the right wrapped-key
//! length: no money needed) is deposited at the bank, from the shop's
//! address, where the bank's per-client rate limit counts every deposit of
//! the shop as one client (and opens each envelope: an RSA private-key
//! operation). So the shop keeps a payment quota per client well below the
//! bank's rate (defaults: 60 a minute, bursts of 20, against the bank's
//! 200 a second, bursts of 400): one client alone cannot drain it.
//!
//! Scaled down: the bank allows 20/s (bursts of 20) per client, the shop a
//! burst of 5 payments per client. Behind a trusted proxy that names the
//! client, one client sends 80 junk payments; then an honest payer (another
//! address) pays.

#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use ecash_core::clock::SystemClock;
use ecash_core::{ErrorCode, Fixed, api};
use ecash_testkit::client::error_of;
use ecash_testkit::{InProcMerchant, InProcMint, random32};

#[test]
fn one_client_cannot_spend_the_shops_budget_at_the_bank() {
    let mint = InProcMint::start(
        &["--rate-limit", "20", "--rate-burst", "20"],
        Arc::new(SystemClock),
    );
    let merchant = InProcMerchant::start(
        &mint,
        &[
            "--rate-limit",
            "200",
            "--rate-burst",
            "400",
            "--pay-rate",
            "60",
            "--pay-burst",
            "5",
            "--trusted-proxy",
            "127.0.0.1",
        ],
        Arc::new(SystemClock),
    );
    let shop = merchant.client();
    let bank = mint.client();
    let buyer = bank.register("honest buyer");
    bank.faucet(&buyer, 1000);
    let honest_order = shop.order("haiku");
    let (_, honest) = bank.pay_from(&buyer, &honest_order);
    // The attacker's template: one payment's shape (its coins need not be
    // worth anything: the bank never gets past the envelope).
    let junk_orders: Vec<_> = (0..4).map(|_| shop.order("haiku")).collect();
    let templates: Vec<_> = junk_orders
        .iter()
        .map(|o| bank.payment_for(o, &bank.withdraw(&buyer, 25)).0)
        .collect();
    // The setup's own calls to the bank (all from this machine) are
    // forgotten: the bank's bucket is full again.
    std::thread::sleep(Duration::from_secs(2));

    let attackers: Vec<_> = junk_orders
        .into_iter()
        .zip(templates)
        .map(|(order, template)| {
            let http = merchant.client().http();
            std::thread::spawn(move || {
                let mut refused_here = 0;
                for _ in 0..20 {
                    let mut junk = template.clone();
                    junk.sealed_coins.nonce = Fixed(random32()[..12].try_into().unwrap());
                    let r = http.send_with::<api::Pay>(
                        &order.payreq_id,
                        &junk,
                        &[("x-forwarded-for", "203.0.113.66")],
                    );
                    if r.status == 429 && error_of(&r).1.code == ErrorCode::RateLimited {
                        refused_here += 1;
                    }
                }
                refused_here
            })
        })
        .collect();
    let refused: usize = attackers.into_iter().map(|a| a.join().unwrap()).sum();
    assert!(
        refused >= 70,
        "the shop refused only {refused} of 80 junk payments"
    );
    let r = shop.http().send_with::<api::Pay>(
        &honest_order.payreq_id,
        &honest,
        &[("x-forwarded-for", "198.51.100.7")],
    );
    assert_eq!(
        r.status,
        200,
        "an honest payment right after one client's junk is refused: {:?}",
        error_of(&r)
    );
}
