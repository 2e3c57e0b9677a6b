//! Clearing between two certified mints (NetCash), all real binaries: a
//! certifier, mint A (behind a fault proxy, its certified address), mint B
//! clearing with it. Coins withdrawn at A pay a merchant who banks at B:
//! B checks them with A's certified keys, deposits them at A into its own
//! account there, and credits the merchant only with A's signed ack. B then
//! holds a claim on A equal to its account at A, settlement brings both to
//! zero under a statement both keep, and the books of the whole network
//! balance. Faults: A down (the merchant hears "retry", nothing is
//! credited), and B killed after A's ack (the restart credits exactly once).

// Test code: a helper that meets what it did not expect panics, as the
// tests themselves do (clippy.toml allows it only inside #[test] functions).
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::time::{Duration, Instant};

use ecash_core::client::BankClient;
use ecash_core::messages::{ExchangeRequest, ProofRequest};
use ecash_core::{Bytes, Coin, ErrorCode, Fixed, PendingCoin};
use ecash_testkit::proxy::{Fault, Proxy};
use ecash_testkit::{CertifierProc, MintProc, SyncBank, random32, refused};
use mint_server::storage::Storage;
use mint_server::storage::Totals;
use mint_server::storage::clearing::{ClearingBooks, ClearingTotals};
use mint_server::storage::sqlite::SqliteStorage;

/// The books of a mint, read straight from its database.
fn books(mint: &MintProc) -> (Totals, ClearingTotals, usize) {
    let db = SqliteStorage::open(&mint.proc.data_dir().join("bank.db")).expect("open the books");
    let t = db.totals().expect("totals");
    let c = db.clearing_totals().expect("clearing totals");
    let pending = db.pending_clearings().expect("journal").len();
    db.close().expect("close");
    (t, c, pending)
}

/// Polls `done` for up to 20 s.
fn wait_until(what: &str, log: impl Fn() -> String, done: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !done() {
        assert!(Instant::now() < deadline, "{what}:\n{}", log());
        std::thread::sleep(Duration::from_millis(100));
    }
}

struct Network {
    fic: CertifierProc,
    proxy: Proxy,
    a: MintProc,
    b: MintProc,
    /// A's certificate id.
    a_cert: u64,
}

fn network() -> Network {
    let fic = CertifierProc::start(&[]);
    let fic_args = fic.mint_args();
    // The proxy's port is held while A starts, so that A (which picks a
    // free port of its own) cannot take it.
    let held = std::net::TcpListener::bind(("127.0.0.1", 0)).expect("a port for the proxy");
    let port = held.local_addr().expect("addr").port();
    let public = format!("http://127.0.0.1:{port}");
    let mut args: Vec<&str> = fic_args.iter().map(String::as_str).collect();
    args.extend(["--bank-id", "mint-a", "--public-url", &public]);
    let a = MintProc::start(&args);
    drop(held);
    let proxy = Proxy::start(port, &format!("127.0.0.1:{}", a.proc.port()), None);
    let a_cert = fic
        .issue("Mint A", "mint-a", &public, &a.master, 86_400)
        .body
        .cert_id;
    let mut args: Vec<&str> = fic_args.iter().map(String::as_str).collect();
    args.extend([
        "--bank-id",
        "mint-b",
        "--peer",
        &public,
        "--peer-refresh-secs",
        "1",
        "--settle-every-secs",
        "86400",
    ]);
    let b = MintProc::start(&args);
    fic.certify("Mint B", &b);
    b.wait_clearing_at(&public);
    Network {
        fic,
        proxy,
        a,
        b,
        a_cert,
    }
}

#[test]
fn a_payment_in_coins_of_another_mint_is_cleared_credited_once_and_settled() {
    let mut net = network();
    let wallet = SyncBank::connect(&net.a.proc.local_url(), &net.a.master);
    let shop_bank = net.b.client();
    let payer = wallet.register("payer");
    wallet.faucet(&payer, 100);
    let merchant = shop_bank.register("shop");

    // Withdraw at A, pay the merchant at B: credited at B on A's ack.
    let coins = wallet.withdraw(&payer, 13);
    let (p, proof) = wallet.payment_via(&shop_bank.keys, &merchant.id, &coins);
    let ack = shop_bank
        .deposit(&merchant, &p)
        .expect("cleared at A, credited at B");
    ack.verify(&net.b.master)
        .expect("B signs the merchant's ack");
    assert_eq!(ack.body.amount.value, 13);
    assert_eq!(shop_bank.balance(&merchant), 13);
    assert_eq!(wallet.spent(&coins), vec![true; coins.len()], "spent at A");
    // A replay is the same ack, credited once.
    assert_eq!(shop_bank.deposit(&merchant, &p).expect("replay"), ack);
    assert_eq!(shop_bank.balance(&merchant), 13);
    // The payer proves the payment at the merchant's mint.
    let proved = shop_bank
        .block_on(shop_bank.bank.proof(&ProofRequest {
            payment_id: p.payment_id(),
            payer_code: Bytes(proof.clone()),
        }))
        .expect("a proof at B");
    proved.verify(&net.b.master).expect("signed by B");
    // B holds a claim on A equal to its account at A.
    let (tb, cb, _) = books(&net.b);
    let (ta, ca, _) = books(&net.a);
    assert_eq!(cb.claims, 13, "B's claim on A");
    assert_eq!(ca.peer_accounts, 13, "B's account at A");
    assert!(
        cb.balanced_with(&tb) && ca.balanced_with(&ta),
        "{tb:?} {cb:?} {ta:?} {ca:?}"
    );

    // Refused, changing nothing: the same coins again (A says spent), a
    // forged coin (B's own check, A never asked), a mint B does not clear with.
    let (again, _) = wallet.payment_via(&shop_bank.keys, &merchant.id, &coins);
    let (status, code) = refused(shop_bank.deposit(&merchant, &again));
    assert_eq!((status, code), (409, ErrorCode::CoinSpent));
    let mut forged = wallet.withdraw(&payer, 1);
    forged[0].signature.0[7] ^= 1;
    let (f, _) = wallet.payment_via(&shop_bank.keys, &merchant.id, &forged);
    assert_eq!(
        refused(shop_bank.deposit(&merchant, &f)).1,
        ErrorCode::InvalidCoin
    );
    let own = shop_bank.withdraw(&merchant, 1);
    let (mut stray, _) = shop_bank.payment_via(&shop_bank.keys, &merchant.id, &own);
    stray.payment_info.bank_id = "mint-z".into();
    assert_eq!(
        refused(shop_bank.deposit(&merchant, &stray)).1,
        ErrorCode::InvalidField
    );
    assert_eq!(
        shop_bank.balance(&merchant),
        12,
        "13 less the coin withdrawn"
    );
    assert_eq!(books(&net.b).2, 0, "nothing left journaled");

    // A down: the merchant hears "retry later"; nothing is credited until
    // A answers, then once (B's own retry, or the merchant's).
    let coins = wallet.withdraw(&payer, 7);
    let (p, _) = wallet.payment_via(&shop_bank.keys, &merchant.id, &coins);
    net.a.proc.kill();
    let (status, code) = refused(shop_bank.deposit(&merchant, &p));
    assert_eq!((status, code), (503, ErrorCode::Unavailable));
    assert!(code.is_retryable());
    assert_eq!(shop_bank.balance(&merchant), 12);
    net.a.proc.start_again();
    let wallet = SyncBank::connect(&net.a.proc.local_url(), &net.a.master);
    wait_until(
        "B's retry clears the journaled payment",
        || net.b.proc.log(),
        || shop_bank.balance(&merchant) == 19,
    );
    shop_bank
        .deposit(&merchant, &p)
        .expect("the merchant's retry: the ack");
    assert_eq!(shop_bank.balance(&merchant), 19);

    // B killed after A acked and before the merchant was credited (A's
    // answers lost on the way, then B dies): the restart credits once.
    let coins = wallet.withdraw(&payer, 5);
    let (p, _) = wallet.payment_via(&shop_bank.keys, &merchant.id, &coins);
    net.proxy.fail_next("/deposit", Fault::DropAfter, 1_000_000);
    assert_eq!(
        refused(shop_bank.deposit(&merchant, &p)).1,
        ErrorCode::Unavailable
    );
    assert_eq!(wallet.spent(&coins), vec![true; coins.len()], "A took them");
    net.b.proc.kill();
    // (B settled what A owed once its journal was empty after A's restart.)
    let (_, cb, pending) = books(&net.b);
    assert_eq!(
        (cb.claims + cb.settled_in, pending),
        (20, 1),
        "journaled, not credited: {cb:?}"
    );
    let ca = books(&net.a).1;
    assert_eq!(
        ca.peer_accounts + ca.settled_out,
        25,
        "A credited B's account: {ca:?}"
    );
    net.proxy.clear_rules();
    net.b.proc.start_again();
    let shop_bank = net.b.client();
    wait_until(
        "the restart finishes the credit",
        || net.b.proc.log(),
        || shop_bank.balance(&merchant) == 24,
    );
    shop_bank
        .deposit(&merchant, &p)
        .expect("the merchant's retry: the ack");
    assert_eq!(shop_bank.balance(&merchant), 24);

    // With its journal empty after the restart, B settles what A owes.
    wait_until(
        "settled",
        || net.b.proc.log(),
        || books(&net.b).1.claims == 0,
    );
    net.b.proc.stop();
    net.a.proc.stop();
    let (ta, ca, _) = books(&net.a);
    let (tb, cb, pending) = books(&net.b);
    assert_eq!(pending, 0);
    assert_eq!((ca.peer_accounts, ca.settled_out), (0, 25), "A: {ca:?}");
    assert_eq!((cb.claims, cb.settled_in), (0, 25), "B: {cb:?}");
    assert!(ca.balanced_with(&ta), "A: {ta:?} {ca:?}");
    assert!(cb.balanced_with(&tb), "B: {tb:?} {cb:?}");
    // The whole network: customer and merchant accounts plus every mint's
    // outstanding coins equal all money credited; mints' accounts at each
    // other are left out.
    let accounts = ta.balances - ca.peer_accounts + tb.balances - cb.peer_accounts;
    let coins_out = ta.outstanding + ta.expired + tb.outstanding + tb.expired;
    assert_eq!(accounts + coins_out, ta.credited + tb.credited);
    drop(net.fic);
}

/// An exchange request: `coins` in, fresh coins of `to`'s keys out.
fn exchange_request(
    to: &SyncBank,
    coins: &[Coin],
    value: u64,
) -> (ExchangeRequest, Vec<PendingCoin>) {
    let pending = to.blind(value);
    let req = ExchangeRequest {
        request_id: Fixed(random32()),
        coins: coins.to_vec(),
        outputs: pending.iter().map(|p| p.blinded.clone()).collect(),
    };
    (req, pending)
}

#[test]
fn coins_of_a_exchange_anonymously_at_b_and_one_coin_exchanges_once_across_both() {
    let net = network();
    let wallet = SyncBank::connect(&net.a.proc.local_url(), &net.a.master);
    let other = net.b.client();
    let payer = wallet.register("payer");
    wallet.faucet(&payer, 64);

    // A's coins in at B, B's coins out: no account, no identity.
    let coins = wallet.withdraw(&payer, 11);
    let (req, pending) = exchange_request(&other, &coins, 11);
    let sigs = other
        .block_on(other.bank.exchange(&req))
        .expect("exchanged at B");
    let fresh = other.finalize(&pending, &sigs);
    assert_eq!(other.value_of(&fresh), 11);
    assert_eq!(
        wallet.spent(&coins),
        vec![true; coins.len()],
        "cleared at A"
    );
    assert_eq!(other.spent(&fresh), vec![false; fresh.len()]);
    // The same request again: the same answer, nothing signed twice.
    assert_eq!(
        other.block_on(other.bank.exchange(&req)).expect("replay"),
        sigs
    );
    // The same coins again under another id: A says spent.
    let (again, _) = exchange_request(&other, &coins, 11);
    assert_eq!(
        refused(other.block_on(other.bank.exchange(&again))).1,
        ErrorCode::CoinSpent
    );
    // Refused by B itself, A never asked: a forged coin, outputs worth more.
    let mut forged = wallet.withdraw(&payer, 2);
    forged[0].signature.0[3] ^= 1;
    let (f, _) = exchange_request(&other, &forged, 2);
    assert_eq!(
        refused(other.block_on(other.bank.exchange(&f))).1,
        ErrorCode::InvalidCoin
    );
    let honest = wallet.withdraw(&payer, 3);
    let (greedy, _) = exchange_request(&other, &honest, 4);
    assert_eq!(
        refused(other.block_on(other.bank.exchange(&greedy))).1,
        ErrorCode::AmountMismatch
    );
    assert_eq!(wallet.spent(&honest), vec![false; honest.len()]);
    let (tb, cb, pending) = books(&net.b);
    assert_eq!((cb.claims + cb.settled_in, pending), (11, 0), "{cb:?}");
    assert!(cb.balanced_with(&tb), "{tb:?} {cb:?}");

    // One coin, 64 exchanges at once, half at A and half at B: one wins.
    let coin = wallet.withdraw(&payer, 8);
    assert_eq!(coin.len(), 1);
    let reqs: Vec<(bool, ExchangeRequest)> = (0..64)
        .map(|i| {
            let at_b = i % 2 == 1;
            let to = if at_b { &other } else { &wallet };
            (at_b, exchange_request(to, &coin, 8).0)
        })
        .collect();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .expect("runtime");
    let (a_url, b_url) = (net.a.proc.local_url(), net.b.url().to_owned());
    let outcomes: Vec<(bool, ExchangeRequest, Result<(), ErrorCode>)> = rt.block_on(async {
        let tasks: Vec<_> =
            reqs.into_iter()
                .map(|(at_b, req)| {
                    let client = BankClient::new(
                        if at_b { &b_url } else { &a_url },
                        ecash_testkit::transport(),
                    );
                    tokio::spawn(async move {
                        let r =
                            client.exchange(&req).await.map(|_| ()).map_err(|e| {
                                e.refusal().map_or(ErrorCode::Unavailable, |r| r.code)
                            });
                        (at_b, req, r)
                    })
                })
                .collect();
        let mut out = Vec::new();
        for t in tasks {
            out.push(t.await.expect("task"));
        }
        out
    });
    let wins = outcomes.iter().filter(|(_, _, r)| r.is_ok()).count();
    assert_eq!(
        wins,
        1,
        "{:?}",
        outcomes.iter().map(|o| &o.2).collect::<Vec<_>>()
    );
    for (_, _, r) in &outcomes {
        if let Err(code) = r {
            assert!(
                matches!(
                    code,
                    ErrorCode::CoinSpent | ErrorCode::InProgress | ErrorCode::Unavailable
                ),
                "{code:?}"
            );
        }
    }
    // What B left journaled (A busy with the coin) is refused in the end,
    // and every loser asked again is refused: still one winner.
    wait_until(
        "B's journal empties",
        || net.b.proc.log(),
        || books(&net.b).2 == 0,
    );
    let b = BankClient::new(&b_url, ecash_testkit::transport());
    let a = BankClient::new(&a_url, ecash_testkit::transport());
    for (at_b, req, r) in &outcomes {
        if r.is_err() {
            let client = if *at_b { &b } else { &a };
            let again = rt.block_on(client.exchange(req));
            assert_eq!(refused(again).1, ErrorCode::CoinSpent);
        }
    }
    let (ta, ca, _) = books(&net.a);
    let (tb, cb, _) = books(&net.b);
    assert!(
        ca.balanced_with(&ta) && cb.balanced_with(&tb),
        "{ta:?} {ca:?} {tb:?} {cb:?}"
    );
    let accounts = ta.balances - ca.peer_accounts + tb.balances - cb.peer_accounts;
    let coins_out = ta.outstanding + ta.expired + tb.outstanding + tb.expired;
    assert_eq!(
        accounts + coins_out,
        ta.credited + tb.credited,
        "the network's books"
    );

    // A revoked: B takes none of its coins any more (its own papers bring
    // the certifier's fresh list within a second or two).
    let coins = wallet.withdraw(&payer, 1);
    net.fic.revoke(net.a_cert, "insolvent");
    wait_until(
        "B refuses A's coins",
        || net.b.proc.log(),
        || {
            // Outputs worth more than the coin: refused for that while B
            // still takes A's coins, so the probe never spends it.
            let (probe, _) = exchange_request(&other, &coins, 2);
            refused(other.block_on(other.bank.exchange(&probe))).1 != ErrorCode::AmountMismatch
        },
    );
    let (req, _) = exchange_request(&other, &coins, 1);
    let code = refused(other.block_on(other.bank.exchange(&req))).1;
    assert!(
        matches!(code, ErrorCode::NotCertified | ErrorCode::UnknownKey),
        "{code:?}"
    );
    assert_eq!(wallet.spent(&coins), vec![false], "never sent to A");
}
