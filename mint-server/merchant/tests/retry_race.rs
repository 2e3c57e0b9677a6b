//! A payment sent again that races its own first request at the bank gets
//! the first's ack, not `coin_spent` for its own coins, so the shop never
//! frees an order the bank holds and no second payer can pay it. (Found by
//! the outside audit: the retry's refusal freed the order; paid twice.)
//!
//! The network delays the first deposit (the shop sees its connection
//! break, the bank receives it later: a hostile or merely slow network).
//! The shop abandons the claim (outcome unknown) and the payer retries; the
//! retry (`Claim::Resumed`) reaches the bank while the first is being
//! checked: its lookup by payment id comes before the first's commit and
//! its spent check after it.

#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ecash_core::api;
use ecash_core::clock::SystemClock;
use ecash_core::messages::WithdrawRequest;
use ecash_core::shop::OrderState;
use ecash_core::{Coin, ErrorCode, Fixed, Signed};
use ecash_testkit::process::merchant_key;
use ecash_testkit::{Account, InProcMerchant, InProcMint, SyncBank, random32, refused};

/// Reads one HTTP request (head and content-length body).
fn read_request(conn: &mut TcpStream) -> std::io::Result<Option<(String, Vec<u8>)>> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 65536];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let n = conn.read(&mut chunk)?;
        if n == 0 {
            return Ok(None);
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let len: usize = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim()
                .eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse().ok())?
        })
        .unwrap_or(0);
    while buf.len() < head_end + len {
        let n = conn.read(&mut chunk)?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let path = head.split_whitespace().nth(1).unwrap_or("/").to_owned();
    let mut out = String::new();
    for (i, line) in head.trim_end().lines().enumerate() {
        let name = line.split(':').next().unwrap_or("").trim();
        if i > 0 && name.eq_ignore_ascii_case("connection") {
            continue;
        }
        out.push_str(line);
        out.push_str("\r\n");
    }
    out.push_str("connection: close\r\n\r\n");
    let mut request = out.into_bytes();
    request.extend_from_slice(&buf[head_end..]);
    Ok(Some((path, request)))
}

fn forward(upstream: &str, request: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut up = TcpStream::connect(upstream)?;
    up.write_all(request)?;
    let mut answer = Vec::new();
    up.read_to_end(&mut answer)?;
    Ok(answer)
}

/// A proxy in front of the bank. Armed, it keeps the next deposit (and
/// breaks the shop's connection, unanswered); the deposit after it is
/// forwarded just after the kept one, so the two meet at the bank.
struct LateNetwork {
    url: String,
    armed: Arc<AtomicBool>,
}

impl LateNetwork {
    fn start(upstream: String) -> Self {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!("http://{}", l.local_addr().expect("addr"));
        let armed = Arc::new(AtomicBool::new(false));
        let kept: Arc<Mutex<Option<Vec<u8>>>> = Arc::new(Mutex::new(None));
        let a = armed.clone();
        std::thread::spawn(move || {
            for conn in l.incoming() {
                let Ok(mut conn) = conn else { continue };
                let (upstream, armed, kept) = (upstream.clone(), a.clone(), kept.clone());
                std::thread::spawn(move || {
                    let Ok(Some((path, request))) = read_request(&mut conn) else {
                        return;
                    };
                    if path.starts_with("/deposit") {
                        if armed.swap(false, Ordering::SeqCst) {
                            // Kept for later; the shop sees the connection break.
                            *kept.lock().unwrap() = Some(request);
                            return;
                        }
                        if let Some(first) = kept.lock().unwrap().take() {
                            let up = upstream.clone();
                            std::thread::spawn(move || {
                                let _ = forward(&up, &first);
                            });
                            std::thread::sleep(Duration::from_millis(2));
                        }
                    }
                    if let Ok(answer) = forward(&upstream, &request) {
                        let _ = conn.write_all(&answer);
                    }
                });
            }
        });
        Self { url, armed }
    }
}

/// `n` coins of value 1 (a payment of many coins: the bank checks each).
fn ones(bank: &SyncBank, acct: &Account, n: usize) -> Vec<Coin> {
    let pending: Vec<_> = (0..n).map(|_| bank.blind(1).remove(0)).collect();
    let req = Signed::sign(
        WithdrawRequest {
            account_id: acct.id.clone(),
            request_id: Fixed(random32()),
            amount: bank.amount(n as u64),
            coins: pending.iter().map(|p| p.blinded.clone()).collect(),
            timestamp: bank.now(),
        },
        &acct.key,
    );
    let sigs = bank.call::<api::Withdraw>(&(), &req).expect("withdraw");
    bank.finalize(&pending, &sigs)
}

#[test]
fn a_retried_payment_racing_its_first_request_never_frees_a_paid_order() {
    let clock = Arc::new(SystemClock);
    let mint = InProcMint::start(&[], clock.clone());
    let net = LateNetwork::start(mint.url.strip_prefix("http://").unwrap().to_owned());
    let merchant = InProcMerchant::start_at(
        &net.url,
        &mint.master,
        &["--settle-every-secs", "3600"],
        clock.clone(),
    );
    let shop = merchant.client();
    let bank = mint.client();
    let buyer = bank.register("buyer");
    let other = bank.register("another buyer");
    bank.faucet(&buyer, 1000);
    bank.faucet(&other, 1000);
    let me = Account {
        key: merchant_key(merchant.dir.path()),
        id: merchant.account_id.clone(),
    };
    let state = |id: &str| {
        shop.orders(&merchant.admin_token)
            .expect("list")
            .orders
            .into_iter()
            .find(|o| o.payreq_id == id)
            .expect("listed")
            .state
    };

    let mut orders = 0;
    for round in 0..30 {
        let payreq = shop.order("sticker");
        orders += 1;
        bank.faucet(&buyer, 99);
        bank.faucet(&other, 99);
        let coins = ones(&bank, &buyer, 99);
        let (p, _) = bank.payment_for(&payreq, &coins);
        net.armed.store(true, Ordering::SeqCst);
        // The first request: the shop's connection to the bank breaks.
        assert_eq!(
            refused(shop.pay(&payreq.payreq_id, &p)),
            (503, ErrorCode::Unavailable)
        );
        assert_eq!(state(&payreq.payreq_id), OrderState::Paying);
        // The payer sends it again; it meets the first at the bank.
        let again = shop.pay(&payreq.payreq_id, &p);
        std::thread::sleep(Duration::from_millis(300));
        let taken = bank.spent(&coins).iter().all(|s| *s);
        assert!(taken, "round {round}: the bank took the payment");
        let left = state(&payreq.payreq_id);
        // Another payer for the same order must be refused now.
        let (q_coins, q) = bank.pay_from(&other, &payreq);
        let q_paid = shop.pay(&payreq.payreq_id, &q);
        assert!(
            q_paid.is_err(),
            "round {round}: the order was paid twice: the bank holds the first payment \
             (the retry was told {:?}, the order was left {:?}), and a second payer's coins \
             were taken too",
            again.as_ref().err().map(|e| e.to_string()),
            left
        );
        assert!(bank.spent(&q_coins).iter().all(|s| !s));
        // The first payer's retry finishes it, whatever the race did.
        let done = shop.pay(&payreq.payreq_id, &p);
        assert!(
            done.is_ok() || matches!(refused(done), (409, ErrorCode::InProgress)),
            "round {round}"
        );
    }
    assert_eq!(
        bank.balance(&me),
        99 * orders,
        "each order is paid exactly once"
    );
}
