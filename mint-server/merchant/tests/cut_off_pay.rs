//! A pay request cut off after it claimed its order, while its deposit is
//! on the way to the bank, still completes: the deposit runs in a task of
//! its own and settles the claim by the bank's answer, so the payer's retry
//! gets the receipt. (Found by the outside audit: the claim stayed held by
//! a request that no longer existed, until a restart.)
//!
//! What cuts the handler off here is the edge's own request timeout
//! (`ecash_serve::limits::limit` drops the handler's future), with
//! `--request-timeout-secs` above `--bank-timeout-secs` as in the shop's
//! defaults (30 > 20, scaled down to 3 > 2): the key-set refresh and the
//! deposit are two bank calls, each within the bank timeout, together over
//! the request timeout. (A payer hanging up does not cut the handler off:
//! actix lets it run to its end.)

#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use ecash_core::Clock;
use ecash_core::shop::OrderState;
use ecash_testkit::proxy::{Fault, Proxy};
use ecash_testkit::{Account, InProcMerchant, InProcMint, Shop, SyncBank, TestClock, now};

struct World {
    clock: Arc<TestClock>,
    mint: InProcMint,
    _proxy: Proxy,
    merchant: InProcMerchant,
    shop: Shop,
    bank: SyncBank,
    buyer: Account,
}

fn world(slow: &[&str], delay: Duration, merchant_args: &[&str]) -> World {
    let clock = Arc::new(TestClock::at(now()));
    let mint = InProcMint::start(&[], clock.clone());
    let upstream = mint.url.strip_prefix("http://").expect("http").to_owned();
    // Every request to a slow path is forwarded after `delay`, even if the
    // caller gave up meanwhile, as a slow network or bank would.
    let proxy = Proxy::start(0, &upstream, None);
    proxy.stall_for(delay);
    for path in slow {
        proxy.fail_next(path, Fault::Stall, usize::MAX);
    }
    let merchant = InProcMerchant::start_at(&proxy.url, &mint.master, merchant_args, clock.clone());
    let shop = merchant.client();
    let bank = SyncBank::connect_on(&mint.url, &mint.master, clock.clone());
    let buyer = bank.register("buyer");
    bank.faucet(&buyer, 1000);
    World {
        clock,
        mint,
        _proxy: proxy,
        merchant,
        shop,
        bank,
        buyer,
    }
}

impl World {
    /// Whether the bank holds every coin (asked on a fresh client: the old
    /// one's idle connection may have been closed by the mint meanwhile).
    fn all_spent(&self, coins: &[ecash_core::Coin]) -> bool {
        let bank = SyncBank::connect_on(&self.mint.url, &self.mint.master, self.clock.clone());
        bank.spent(coins).iter().all(|s| *s)
    }

    fn state(&self, payreq_id: &str) -> OrderState {
        self.shop.order_state(&self.merchant.admin_token, payreq_id)
    }

    /// Retries `payment` (and lets the settler run, every second) for up
    /// to `secs`: the payer's retries must finish an order the bank holds.
    fn retry_until_paid(
        &self,
        payreq_id: &str,
        payment: &ecash_core::messages::Payment,
        secs: u64,
    ) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(secs);
        let mut last = String::new();
        while Instant::now() < deadline {
            match self.shop.pay(payreq_id, payment) {
                Ok(_) => return Ok(()),
                Err(e) => last = e.to_string(),
            }
            if self.state(payreq_id) == OrderState::Paid {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(500));
        }
        Err(last)
    }
}

/// The edge's request timeout cuts the pay handler off during the deposit
/// (key set refresh + deposit, each under the bank timeout, together over
/// the request timeout). The bank takes the coins; the order must be paid
/// for this payment.
#[test]
fn a_pay_request_cut_by_the_request_timeout_still_completes() {
    let w = world(
        &["/keys", "/deposit"],
        Duration::from_millis(1700),
        &[
            "--request-timeout-secs",
            "3",
            "--bank-timeout-secs",
            "2",
            "--settle-every-secs",
            "1",
        ],
    );
    let payreq = w.shop.order("haiku");
    let (coins, payment) = w.bank.pay_from(&w.buyer, &payreq);
    // The shop's key set is older than its refresh age: paying refreshes it.
    w.mint.advance(&w.clock, 601);
    assert!(w.clock.now() < payreq.expires_at);
    let first = w.shop.pay(&payreq.payreq_id, &payment);
    let Err(e) = first else {
        return; // answered in time: nothing was cut off
    };
    assert!(e.to_string().contains("timed out"), "{e}");
    // The deposit reached the bank after all.
    std::thread::sleep(Duration::from_secs(2));
    assert!(w.all_spent(&coins), "the bank took the payment");
    // The deposit ran to its end without the request: already paid, or
    // still at the bank.
    let state = w.state(&payreq.payreq_id);
    assert!(
        matches!(state, OrderState::Paid | OrderState::Paying),
        "{state:?}"
    );
    // The payer sends the same payment again, and the settler runs every
    // second: the order the bank holds must be finished for this payment.
    let r = w.retry_until_paid(&payreq.payreq_id, &payment, 15);
    assert!(
        r.is_ok(),
        "the bank holds the payment, but the order stays {:?} and every retry is refused: {}",
        w.state(&payreq.payreq_id),
        r.unwrap_err()
    );
}
