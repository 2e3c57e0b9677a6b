//! The bank's answer to a deposit is lost (a proxy between merchant and
//! bank forwards the deposit, then drops the connection): the payer is told
//! to retry, the order is held for that payment (`paying`), other payments
//! are told `in_progress`, and the same payment, sent again or by the
//! shop's settler, completes it, even after the payment request expired.
//! Bank and merchant run in this process on one test clock.

// Test code: a helper that meets what it did not expect panics, as the
// tests themselves do (clippy.toml allows it only inside #[test] functions).
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use ecash_core::api::{self, Endpoint};
use ecash_core::messages::PayReq;
use ecash_core::shop::OrderState;
use ecash_core::{Clock, ErrorCode};
use ecash_testkit::process::merchant_key;
use ecash_testkit::proxy::{Fault, Proxy};
use ecash_testkit::{Account, InProcMerchant, InProcMint, Shop, SyncBank, TestClock, now, refused};

struct World {
    clock: Arc<TestClock>,
    mint: InProcMint,
    proxy: Proxy,
    merchant: InProcMerchant,
    shop: Shop,
    bank: SyncBank,
    buyer: Account,
}

/// A mint, a proxy in front of it, and a merchant banking through the proxy.
fn world(merchant_args: &[&str]) -> World {
    let clock = Arc::new(TestClock::at(now()));
    let mint = InProcMint::start(&[], clock.clone());
    let upstream = mint.url.strip_prefix("http://").expect("an http URL");
    let proxy = Proxy::start(0, upstream, None);
    let merchant = InProcMerchant::start_at(&proxy.url, &mint.master, merchant_args, clock.clone());
    let shop = merchant.client();
    let bank = SyncBank::connect_on(&mint.url, &mint.master, clock.clone());
    let buyer = bank.register("buyer");
    bank.faucet(&buyer, 1000);
    World {
        clock,
        mint,
        proxy,
        merchant,
        shop,
        bank,
        buyer,
    }
}

impl World {
    fn state(&self, payreq_id: &str) -> OrderState {
        self.shop.order_state(&self.merchant.admin_token, payreq_id)
    }

    /// The merchant's balance at the bank.
    fn takings(&self) -> u64 {
        let me = Account {
            key: merchant_key(self.merchant.dir.path()),
            id: self.merchant.account_id.clone(),
        };
        self.bank.balance(&me)
    }

    /// The next deposit reaches the bank, its answer does not.
    fn lose_next_answer(&self) {
        self.proxy
            .fail_next(api::Deposit::INFO.path, Fault::DropAfter, 1);
    }

    /// Waits (the settler runs on its own schedule) until the order is paid.
    fn wait_paid(&self, payreq: &PayReq) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.state(&payreq.payreq_id) != OrderState::Paid {
            assert!(
                Instant::now() < deadline,
                "the settler did not pay the order"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

#[test]
fn a_lost_answer_holds_the_order_for_its_payment() {
    let w = world(&["--settle-every-secs", "3600"]);
    let payreq = w.shop.order("haiku");
    let id = &payreq.payreq_id;
    let (coins_p, p) = w.bank.pay_from(&w.buyer, &payreq);
    let (coins_q, q) = w.bank.pay_from(&w.buyer, &payreq);

    w.lose_next_answer();
    let e = w.shop.pay(id, &p).expect_err("no answer from the bank");
    assert!(e.is_transient(), "{e}");
    assert_eq!(refused(Err::<(), _>(e)), (503, ErrorCode::Unavailable));
    assert_eq!(w.proxy.report().1.get(&Fault::DropAfter), Some(&1));
    // The bank took it; the shop does not know.
    assert!(w.bank.spent(&coins_p).iter().all(|s| *s));
    assert_eq!(w.takings(), 25);
    assert_eq!(w.state(id), OrderState::Paying);
    // Another payment may not take an order the bank may hold.
    assert_eq!(refused(w.shop.pay(id, &q)), (409, ErrorCode::InProgress));
    assert!(
        w.bank.spent(&coins_q).iter().all(|s| !s),
        "its coins untouched"
    );
    assert_eq!(
        refused(w.shop.goods(id, w.bank.goods_key(&p))),
        (400, ErrorCode::PayreqInvalid),
        "no goods before the bank's ack"
    );

    // The same payment again: the bank answers its stored ack.
    let resp = w
        .shop
        .pay(id, &p)
        .expect("the same payment completes the order");
    resp.deposit_ack
        .verify(&w.mint.master)
        .expect("the bank's ack");
    assert_eq!(resp.receipt.body.payment_id, p.payment_id());
    assert_eq!(w.state(id), OrderState::Paid);
    assert_eq!(w.takings(), 25, "deposited once");
    assert_eq!(refused(w.shop.pay(id, &q)), (409, ErrorCode::OrderTaken));
    assert!(w.bank.spent(&coins_q).iter().all(|s| !s));
    let goods = w.shop.goods(id, w.bank.goods_key(&p)).expect("goods");
    assert_eq!(goods.receipt, resp.receipt);

    // A twin of a payment whose answer was lost (same id, junk envelope)
    // finds the bank holding the payment: it completes the order for it,
    // and cannot free it for another.
    let payreq = w.shop.order("haiku");
    let id = &payreq.payreq_id;
    let (coins_p, p) = w.bank.pay_from(&w.buyer, &payreq);
    let (coins_q, q) = w.bank.pay_from(&w.buyer, &payreq);
    let mut twin = p.clone();
    twin.sealed_coins.wrapped_key.0[5] ^= 0xff;
    w.lose_next_answer();
    assert_eq!(refused(w.shop.pay(id, &p)), (503, ErrorCode::Unavailable));
    let resp = w.shop.pay(id, &twin).expect("the bank holds this payment");
    assert_eq!(resp.receipt.body.payment_id, p.payment_id());
    assert_eq!(w.shop.pay(id, &p).expect("replay"), resp);
    assert_eq!(refused(w.shop.pay(id, &q)), (409, ErrorCode::OrderTaken));
    assert!(w.bank.spent(&coins_p).iter().all(|s| *s));
    assert!(w.bank.spent(&coins_q).iter().all(|s| !s));
    assert_eq!(w.takings(), 50);

    // A deposit lost before it reached the bank: the bank refuses the twin
    // for what it is, which frees the order; the payer keeps its coins.
    let payreq = w.shop.order("haiku");
    let id = &payreq.payreq_id;
    let (coins_p, p) = w.bank.pay_from(&w.buyer, &payreq);
    let (coins_q, q) = w.bank.pay_from(&w.buyer, &payreq);
    let mut twin = p.clone();
    twin.sealed_coins.wrapped_key.0[5] ^= 0xff;
    w.proxy
        .fail_next(api::Deposit::INFO.path, Fault::DropBefore, 1);
    assert_eq!(refused(w.shop.pay(id, &p)), (503, ErrorCode::Unavailable));
    assert_eq!(w.state(id), OrderState::Paying);
    assert!(w.bank.spent(&coins_p).iter().all(|s| !s));
    assert_eq!(
        refused(w.shop.pay(id, &twin)),
        (400, ErrorCode::EnvelopeInvalid)
    );
    assert_eq!(w.state(id), OrderState::Open);
    w.shop.pay(id, &q).expect("the order is free");
    assert_eq!(refused(w.shop.pay(id, &p)), (409, ErrorCode::OrderTaken));
    assert!(
        w.bank.spent(&coins_p).iter().all(|s| !s),
        "P keeps its coins"
    );
    assert!(w.bank.spent(&coins_q).iter().all(|s| *s));
    assert_eq!(w.takings(), 75);
}

#[test]
fn after_expiry_the_held_payment_still_completes_and_no_other() {
    let w = world(&["--payreq-ttl-secs", "60", "--settle-every-secs", "3600"]);
    let held = w.shop.order("haiku");
    let unclaimed = w.shop.order("haiku");
    let (coins_p, p) = w.bank.pay_from(&w.buyer, &held);
    let (coins_q, q) = w.bank.pay_from(&w.buyer, &held);
    let (coins_r, r) = w.bank.pay_from(&w.buyer, &unclaimed);
    w.lose_next_answer();
    assert_eq!(
        refused(w.shop.pay(&held.payreq_id, &p)),
        (503, ErrorCode::Unavailable)
    );

    w.mint.advance(&w.clock, 61);
    assert!(w.clock.now() > held.expires_at);
    // Payments the order does not hold are refused as expired ...
    assert_eq!(
        refused(w.shop.pay(&held.payreq_id, &q)),
        (400, ErrorCode::PayreqInvalid)
    );
    assert_eq!(
        refused(w.shop.pay(&unclaimed.payreq_id, &r)),
        (400, ErrorCode::PayreqInvalid)
    );
    assert!(w.bank.spent(&coins_q).iter().all(|s| !s));
    assert!(w.bank.spent(&coins_r).iter().all(|s| !s));
    assert_eq!(w.state(&held.payreq_id), OrderState::Paying);
    assert_eq!(w.state(&unclaimed.payreq_id), OrderState::Expired);
    // ... the one it holds completes it: the bank has it.
    let resp = w
        .shop
        .pay(&held.payreq_id, &p)
        .expect("completed, though expired");
    assert_eq!(resp.receipt.body.payment_id, p.payment_id());
    assert_eq!(resp.receipt.body.date, w.clock.now());
    assert!(w.bank.spent(&coins_p).iter().all(|s| *s));
    let goods = w
        .shop
        .goods(&held.payreq_id, w.bank.goods_key(&p))
        .expect("goods");
    assert!(!goods.goods.is_empty());
    assert_eq!(w.state(&held.payreq_id), OrderState::Paid);
    assert_eq!(w.takings(), 25);
}

#[test]
fn the_settler_sends_abandoned_payments_again() {
    let w = world(&["--settle-every-secs", "1"]);
    // The bank took it; its answer was lost.
    let payreq = w.shop.order("haiku");
    let (coins, p) = w.bank.pay_from(&w.buyer, &payreq);
    w.lose_next_answer();
    assert_eq!(
        refused(w.shop.pay(&payreq.payreq_id, &p)),
        (503, ErrorCode::Unavailable)
    );
    w.wait_paid(&payreq);
    let goods = w
        .shop
        .goods(&payreq.payreq_id, w.bank.goods_key(&p))
        .expect("goods, though the payer never heard back");
    let resp = w
        .shop
        .pay(&payreq.payreq_id, &p)
        .expect("the stored answer");
    assert_eq!(goods.receipt, resp.receipt);
    assert!(w.bank.spent(&coins).iter().all(|s| *s));
    // The bank never saw it: the settler deposits it.
    let payreq = w.shop.order("notes");
    let (coins, p) = w.bank.pay_from(&w.buyer, &payreq);
    w.proxy
        .fail_next(api::Deposit::INFO.path, Fault::DropBefore, 1);
    assert_eq!(
        refused(w.shop.pay(&payreq.payreq_id, &p)),
        (503, ErrorCode::Unavailable)
    );
    w.wait_paid(&payreq);
    assert!(w.bank.spent(&coins).iter().all(|s| *s));
    assert_eq!(w.takings(), 25 + 150, "each deposited once");
}

#[test]
fn a_restarted_merchant_settles_at_start() {
    let mut w = world(&["--settle-every-secs", "3600"]);
    let payreq = w.shop.order("haiku");
    let (coins, p) = w.bank.pay_from(&w.buyer, &payreq);
    w.lose_next_answer();
    assert_eq!(
        refused(w.shop.pay(&payreq.payreq_id, &p)),
        (503, ErrorCode::Unavailable)
    );
    // The settler's next round is an hour away: nothing moves meanwhile.
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(w.state(&payreq.payreq_id), OrderState::Paying);
    // Its first round runs at start.
    w.merchant.restart();
    // (A new client: the old one's connections died with the old server.)
    w.shop = w.merchant.client();
    w.wait_paid(&payreq);
    assert!(w.bank.spent(&coins).iter().all(|s| *s));
    let goods = w
        .shop
        .goods(&payreq.payreq_id, w.bank.goods_key(&p))
        .expect("goods");
    assert!(!goods.goods.is_empty());
    assert_eq!(w.takings(), 25);
}
