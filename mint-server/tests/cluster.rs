//! One mint as three nodes on one PostgreSQL database: every node serves
//! the same signed key set, and one coin sent 64 ways at once, spread over
//! the nodes, is accepted exactly once, round after round.
#![cfg(feature = "pg-tests")]

use std::sync::{Arc, Barrier, mpsc};

use ecash_core::api;
use ecash_core::client::CallError;
use ecash_core::messages::Payment;
use ecash_core::{ErrorCode, Signed};
use ecash_testkit::{Account, MintProc, PgBooks, SyncBank};

const NODES: usize = 3;
const WAYS: usize = 64;

/// How one of the 64 deposits of a coin ended.
#[derive(Debug, PartialEq)]
enum End {
    Acked(Box<Signed<ecash_core::messages::DepositAck>>),
    Spent,
    /// Another deposit of the coin was in flight on the same node.
    Busy,
}

fn end(r: Result<Signed<ecash_core::messages::DepositAck>, CallError>) -> End {
    match r {
        Ok(ack) => End::Acked(Box::new(ack)),
        Err(CallError::Refused { error, .. }) if error.code == ErrorCode::CoinSpent => End::Spent,
        Err(CallError::Refused { error, .. }) if error.code == ErrorCode::InProgress => End::Busy,
        Err(e) => panic!("a deposit failed otherwise: {e}"),
    }
}

#[test]
fn one_coin_sent_64_ways_over_three_nodes_is_accepted_once() {
    let rounds: usize = std::env::var("CLUSTER_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(25);
    let books = PgBooks::new();
    let args = books.args();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let nodes: Vec<MintProc> = (0..NODES).map(|_| MintProc::start(&args)).collect();

    // Every node serves the very same signed key set, once each has run
    // its first rotation round (a loaded machine may take seconds to make
    // the keys of the period after next).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(90);
    loop {
        let sets: Vec<Vec<u8>> = nodes
            .iter()
            .map(|n| n.client().raw::<api::Keys>(&(), Vec::new()).body)
            .collect();
        if sets.iter().all(|s| s == &sets[0]) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "nodes serve different key sets"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }

    let c = nodes[0].client();
    let (payer, shop) = (c.register("payer"), c.register("shop"));
    c.faucet(&payer, rounds as u64);

    // 64 depositors, spread over the nodes, each with its own connection.
    let gate = Arc::new(Barrier::new(WAYS + 1));
    let (done_tx, done_rx) = mpsc::channel();
    let mut work = Vec::new();
    let workers: Vec<_> = (0..WAYS)
        .map(|i| {
            let (tx, rx) = mpsc::channel::<Payment>();
            work.push(tx);
            let (gate, done, url, master) = (
                gate.clone(),
                done_tx.clone(),
                nodes[i % NODES].url().to_owned(),
                nodes[0].master,
            );
            let shop = Account {
                key: ecash_core::Keypair::from_secret_bytes(&shop.key.secret_bytes()),
                id: shop.id.clone(),
            };
            std::thread::spawn(move || {
                let bank = SyncBank::connect(&url, &master);
                for payment in rx {
                    gate.wait();
                    let e = end(bank.deposit(&shop, &payment));
                    done.send((i, payment, e)).expect("report");
                }
            })
        })
        .collect();

    for round in 0..rounds {
        let wallet = nodes[round % NODES].client();
        let coin = wallet.withdraw(&payer, 1);
        for tx in &work {
            let (p, _) = wallet.payment(&coin, &shop.id, &format!("r{round}"), "one coin, 64 ways");
            tx.send(p).expect("hand out");
        }
        gate.wait();
        let ends: Vec<(usize, Payment, End)> =
            (0..WAYS).map(|_| done_rx.recv().expect("end")).collect();
        let acked = ends
            .iter()
            .filter(|(_, _, e)| matches!(e, End::Acked(_)))
            .count();
        assert_eq!(
            acked, 1,
            "round {round}: {acked} deposits of one coin were acked"
        );
        // Those that met the winner in flight are refused once it is done,
        // by every node.
        for (i, payment, e) in &ends {
            if *e == End::Busy {
                let again = end(nodes[(i + 1) % NODES].client().deposit(&shop, payment));
                assert_eq!(again, End::Spent, "round {round}");
            }
        }
        assert_eq!(
            c.balance(&shop),
            round as u64 + 1,
            "round {round}: credited once"
        );
    }
    drop(work);
    for w in workers {
        w.join().expect("a depositor panicked");
    }
    assert_eq!(c.balance(&payer), 0);
}
