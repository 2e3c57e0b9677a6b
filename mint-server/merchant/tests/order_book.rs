//! One client with no money must not fill the shop's order book for
//! everyone. An order is stored until it expires, at most
//! `store::MAX_UNPAID` (50,000) unpaid at once, and a live one is never
//! pushed out; `POST /api/orders` from a program passes the same-site check
//! (no `Origin`, no `Sec-Fetch-Site`). So orders have a quota per client
//! (defaults: 60 a minute, bursts of 30): one address holds at most about
//! 900 live orders of 15 minutes, and the book needs more than fifty
//! clients (IPv6: /64 prefixes) to fill.
//!
//! Behind a trusted proxy that names the client, one client orders as fast
//! as it can; it is refused `429 rate_limited` past its burst, and a buyer
//! at another address orders at once.

#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::sync::Arc;

use ecash_core::clock::SystemClock;
use ecash_core::shop::NewOrder;
use ecash_core::{ErrorCode, api};
use ecash_testkit::client::error_of;
use ecash_testkit::{InProcMerchant, InProcMint};

#[test]
fn one_client_cannot_fill_the_order_book() {
    let mint = InProcMint::start(&[], Arc::new(SystemClock));
    let m = InProcMerchant::start(
        &mint,
        &[
            "--order-rate",
            "60",
            "--order-burst",
            "30",
            "--trusted-proxy",
            "127.0.0.1",
        ],
        Arc::new(SystemClock),
    );
    let http = m.client().http();
    let order = |client: &str| {
        let req = NewOrder {
            item_id: "haiku".into(),
        };
        http.send_with::<api::NewOrderApi>(&(), &req, &[("x-forwarded-for", client)])
    };
    let (mut made, mut limited) = (0, 0);
    for _ in 0..200 {
        let r = order("203.0.113.66");
        match r.status {
            201 => made += 1,
            429 if error_of(&r).1.code == ErrorCode::RateLimited => limited += 1,
            s => panic!("an order answered {s}: {:?}", error_of(&r)),
        }
    }
    assert!(
        (30..=35).contains(&made),
        "one client made {made} orders in a burst (its quota: 30)"
    );
    assert_eq!(made + limited, 200);
    let r = order("198.51.100.7");
    assert_eq!(
        r.status,
        201,
        "a buyer's order is refused: {:?}",
        error_of(&r)
    );
    // An IPv6 client is its /64: new addresses in it share the quota.
    for i in 0..40 {
        order(&format!("2001:db8:1:2::{i:x}"));
    }
    let r = order("2001:db8:1:2:ffff::1");
    assert_eq!(r.status, 429, "the /64 is one client");
    let r = order("2001:db8:1:3::1");
    assert_eq!(r.status, 201, "another /64 is another client");
}
