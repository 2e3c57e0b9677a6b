//! Crash under load: many clients withdraw, deposit and exchange while the
//! mint is killed (SIGKILL) at random moments, again and again. After each
//! kill the books are read straight from the database, and after each
//! restart (same port, same data dir) every request whose answer was lost
//! is sent again. Checked after every restart:
//! - every deposit that was acked is there, with the very ack given;
//! - no coin was accepted twice (spent coins are refused, every time);
//! - no account was debited without blind signatures it can fetch again;
//! - the books balance: accounts + outstanding coins = money credited,
//!   with outstanding counted key by key from the coins issued and spent.
//!
//! `CRASH_KILLS` sets the number of kills (default 20; `make crash` runs 200).

// Test code: a helper that meets what it did not expect panics, as the
// tests themselves do (clippy.toml allows it only inside #[test] functions).
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ecash_core::api;
use ecash_core::client::CallError;
use ecash_core::messages::*;
use ecash_core::{B32, Coin, ErrorCode, Fixed, Keypair, PendingCoin, PublicKey, Signed};
use ecash_testkit::{Account, MintProc, SyncBank, random32, refused};
use mint_server::storage::Storage;
use mint_server::storage::postgres::{PgSettings, PostgresStorage};
use mint_server::storage::sqlite::SqliteStorage;

/// A request whose outcome the client does not know yet (its answer was lost).
enum Unsure {
    Withdraw(Signed<WithdrawRequest>, Vec<PendingCoin>),
    Deposit(Payment, Vec<Coin>),
    Exchange(ExchangeRequest, Vec<PendingCoin>),
}

/// What the clients know, shared between them.
#[derive(Default)]
struct Books {
    /// Coins held, verified, never given to the bank.
    held: Vec<Coin>,
    /// Deposits the bank acked: payment id → (ack, coins).
    acked: HashMap<B32, (Signed<DepositAck>, Vec<Coin>)>,
    /// Coins the bank took (acked deposit or exchange).
    spent: Vec<Coin>,
    /// Every withdrawal request sent, by request id.
    withdrawals: HashMap<B32, Signed<WithdrawRequest>>,
    /// Requests whose answer was lost.
    unsure: Vec<Unsure>,
    /// Operations answered.
    done: u64,
}

fn rand_below(n: u64) -> u64 {
    fastrand::u64(..n.max(1))
}

/// How a call ended: answered (`Ok`), refused (status, code), or no answer.
enum Outcome<T> {
    Answered(T),
    Refused(u16, ErrorCode, String),
    Lost,
}

fn outcome<T>(r: Result<T, CallError>) -> Outcome<T> {
    match r {
        Ok(v) => Outcome::Answered(v),
        // A server error leaves the outcome open (the database may have
        // committed before it went away): as good as no answer.
        Err(CallError::Refused { status, .. }) if status >= 500 => Outcome::Lost,
        Err(CallError::Refused { status, error, .. }) => {
            Outcome::Refused(status, error.code, error.message)
        }
        // No answer, or half of one: the mint died under the request.
        Err(_) => Outcome::Lost,
    }
}

/// `call` until it is answered or refused for good: a node that is starting
/// or a database that restarts answers again within half a minute.
fn patient<T>(what: &str, mut call: impl FnMut() -> Result<T, CallError>) -> Result<T, CallError> {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        match call() {
            Err(e)
                if std::time::Instant::now() < deadline
                    && !matches!(&e, CallError::Refused { status, .. } if *status < 500) =>
            {
                println!("{what}, again after: {e}");
                std::thread::sleep(Duration::from_millis(200));
            }
            other => return other,
        }
    }
}

/// One client's loop: random withdrawals, deposits and exchanges until the
/// mint goes away (or `stop`).
fn client(
    url: String,
    master: PublicKey,
    payer: String,
    merchant: String,
    books: Arc<Mutex<Books>>,
    stop: Arc<AtomicBool>,
) {
    let c = match std::panic::catch_unwind(|| SyncBank::connect(&url, &master)) {
        Ok(c) => c,
        Err(_) => return, // the mint died before this client started
    };
    let acct = Account {
        key: payer_key(),
        id: payer,
    };
    while !stop.load(Ordering::Relaxed) {
        let op = rand_below(10);
        if op < 4 {
            let (req, pending) = c.withdraw_request(&acct, 1 + rand_below(40));
            books
                .lock()
                .expect("books")
                .withdrawals
                .insert(req.body.request_id, req.clone());
            match outcome(c.call::<api::Withdraw>(&(), &req)) {
                Outcome::Answered(sigs) => {
                    let coins = c.finalize(&pending, &sigs);
                    let mut b = books.lock().expect("books");
                    b.held.extend(coins);
                    b.done += 1;
                }
                // The clients share one account: one withdrawal signs at a
                // time, the others are told to retry.
                Outcome::Refused(409, ErrorCode::InProgress, _) => {}
                Outcome::Refused(status, code, message) => {
                    assert!(
                        status == 402,
                        "withdraw refused: {status} {code:?} {message}"
                    );
                }
                Outcome::Lost => {
                    books
                        .lock()
                        .expect("books")
                        .unsure
                        .push(Unsure::Withdraw(req, pending));
                    return;
                }
            }
        } else {
            let take = 1 + rand_below(3) as usize;
            let coins: Vec<Coin> = {
                let mut b = books.lock().expect("books");
                let n = take.min(b.held.len());
                let at = b.held.len() - n;
                b.held.split_off(at)
            };
            if coins.is_empty() {
                continue;
            }
            if op < 8 {
                let (payment, _) = c.payment(&coins, &merchant, "crash", "load");
                match outcome(c.call::<api::Deposit>(&(), &deposit_of(&payment, &merchant))) {
                    Outcome::Answered(ack) => {
                        let mut b = books.lock().expect("books");
                        b.spent.extend(coins.iter().cloned());
                        b.acked.insert(payment.payment_id(), (ack, coins));
                        b.done += 1;
                    }
                    Outcome::Refused(status, code, message) => {
                        panic!("deposit of unspent coins refused: {status} {code:?} {message}")
                    }
                    Outcome::Lost => {
                        books
                            .lock()
                            .expect("books")
                            .unsure
                            .push(Unsure::Deposit(payment, coins));
                        return;
                    }
                }
            } else {
                let pending = c.blind(c.value_of(&coins));
                let req = ExchangeRequest {
                    request_id: Fixed(random32()),
                    coins: coins.clone(),
                    outputs: pending.iter().map(|p| p.blinded.clone()).collect(),
                };
                match outcome(c.call::<api::Exchange>(&(), &req)) {
                    Outcome::Answered(sigs) => {
                        let fresh = c.finalize(&pending, &sigs);
                        let mut b = books.lock().expect("books");
                        b.spent.extend(coins);
                        b.held.extend(fresh);
                        b.done += 1;
                    }
                    Outcome::Refused(status, code, message) => {
                        panic!("exchange of unspent coins refused: {status} {code:?} {message}")
                    }
                    Outcome::Lost => {
                        books
                            .lock()
                            .expect("books")
                            .unsure
                            .push(Unsure::Exchange(req, pending));
                        return;
                    }
                }
            }
        }
    }
}

/// The merchant's signed deposit of `payment` (its key is the fixed test key).
fn deposit_of(payment: &Payment, merchant: &str) -> Signed<Deposit> {
    Signed::sign(
        Deposit {
            merchant_acc_id: merchant.to_owned(),
            payment: payment.clone(),
        },
        &merchant_key(),
    )
}

fn merchant_key() -> Keypair {
    Keypair::from_secret_bytes(&[0x4d; 32])
}

fn payer_key() -> Keypair {
    Keypair::from_secret_bytes(&[0x50; 32])
}

/// Registers a fixed key (again after a restart: the same id comes back).
fn register(c: &SyncBank, key: &Keypair) -> String {
    let req = Signed::sign(
        RegisterAccount {
            public_key: key.public(),
            label: "crash".into(),
            timestamp: c.now(),
        },
        key,
    );
    c.call::<api::Register>(&(), &req)
        .expect("register")
        .account_id
}

/// The checks made on the database of the dead mint.
fn check_books_on_disk(mint: &MintProc, database: Option<&str>, books: &Books, payer: &str) {
    let db: Box<dyn Storage> = match database {
        None => Box::new(
            SqliteStorage::open(&mint.proc.data_dir().join("bank.db"))
                .expect("open the dead mint's db"),
        ),
        Some(url) => Box::new(
            PostgresStorage::open(&PgSettings {
                url: url.to_owned(),
                pool_size: 2,
            })
            .expect("open the dead mint's db"),
        ),
    };
    for (pid, (ack, _)) in &books.acked {
        let rec = db
            .deposit(pid)
            .expect("query")
            .unwrap_or_else(|| panic!("acked deposit {pid} is gone"));
        let stored: Signed<DepositAck> = serde_json::from_str(&rec.ack_json).expect("ack json");
        assert_eq!(&stored, ack, "the ack given is the ack stored");
    }
    for entry in db.ledger(payer).expect("ledger") {
        if entry.reason != "withdraw" {
            continue;
        }
        let rid = B32::from_b64(&entry.reference).expect("request id");
        let req = books
            .withdrawals
            .get(&rid)
            .unwrap_or_else(|| panic!("a debit for a withdrawal nobody sent: {rid}"));
        assert!(
            db.withdrawal(&rid).expect("query").is_some(),
            "debit without its answer"
        );
        let hashes: Vec<B32> = req
            .body
            .coins
            .iter()
            .map(|b| Fixed(ecash_core::Canonical::canonical_hash(b)))
            .collect();
        let sigs = db.blind_signatures(&hashes).expect("query");
        assert!(
            sigs.iter().all(Option::is_some),
            "account debited for {rid} without all its blind signatures"
        );
    }
    let t = db.totals().expect("totals");
    assert!(t.balanced(), "books unbalanced: {t:?}");
    assert_eq!(t.expired, 0, "no key expired: {t:?}");
    db.close().expect("close");
}

/// After a restart: send every request whose answer was lost again, until
/// each has its answer (every request is idempotent).
fn settle(c: &SyncBank, books: &mut Books, merchant: &str) {
    for u in std::mem::take(&mut books.unsure) {
        match u {
            Unsure::Withdraw(req, pending) => {
                match patient("withdraw", || c.call::<api::Withdraw>(&(), &req)) {
                    Ok(sigs) => books.held.extend(c.finalize(&pending, &sigs)),
                    Err(e) => assert_eq!(refused(Err::<(), _>(e)).1, ErrorCode::InsufficientFunds),
                }
            }
            Unsure::Deposit(payment, coins) => {
                let deposit = deposit_of(&payment, merchant);
                let ack = patient("deposit", || c.call::<api::Deposit>(&(), &deposit))
                    .expect("a lost deposit, sent again, is acked");
                books.spent.extend(coins.iter().cloned());
                books.acked.insert(payment.payment_id(), (ack, coins));
            }
            Unsure::Exchange(req, pending) => {
                let sigs = patient("exchange", || c.call::<api::Exchange>(&(), &req))
                    .expect("a lost exchange, sent again, is answered");
                books.spent.extend(req.coins);
                books.held.extend(c.finalize(&pending, &sigs));
            }
        }
    }
}

#[test]
fn mint_killed_under_load_loses_nothing() {
    let kills: usize = std::env::var("CRASH_KILLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    killed_under_load(kills, None, 1);
}

/// One mint as three nodes on PostgreSQL, under load on every node: one
/// node is killed each round (and comes back), and every third round the
/// database server itself crashes and restarts while the other nodes
/// work. A lost answer is asked again of another node than the one that
/// lost it: any node answers what any other committed.
#[test]
#[cfg_attr(
    not(feature = "pg-tests"),
    ignore = "needs PostgreSQL: run make test-native"
)]
fn three_nodes_on_postgres_killed_under_load_lose_nothing() {
    let kills: usize = std::env::var("CRASH_KILLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(9);
    let books = ecash_testkit::PgBooks::new();
    killed_under_load(kills, Some(&books), 3);
}

fn killed_under_load(kills: usize, database: Option<&ecash_testkit::PgBooks>, nodes: usize) {
    let mut args: Vec<String> = [
        "--max-denomination-exp",
        "5",
        "--max-coins",
        "64",
        "--faucet-max",
        "100000000",
    ]
    .map(String::from)
    .to_vec();
    if let Some(books) = database {
        args.extend(books.args());
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut mints: Vec<MintProc> = (0..nodes).map(|_| MintProc::start(&args)).collect();
    for m in &mints[1..] {
        assert_eq!(m.master, mints[0].master, "the nodes share one master key");
    }
    let c = mints[0].client();
    let payer = register(&c, &payer_key());
    let merchant = register(&c, &merchant_key());
    let funds = 10_000_000;
    c.faucet(
        &Account {
            key: payer_key(),
            id: payer.clone(),
        },
        funds,
    );
    let url = database.map(|b| b.url.clone());
    let books = Arc::new(Mutex::new(Books::default()));
    for round in 1..=kills {
        let stop = Arc::new(AtomicBool::new(false));
        let clients: Vec<_> = (0..6)
            .map(|i| {
                let (url, books, stop, m, p) = (
                    mints[i % nodes].url().to_owned(),
                    books.clone(),
                    stop.clone(),
                    merchant.clone(),
                    payer.clone(),
                );
                let master = mints[0].master;
                std::thread::spawn(move || client(url, master, p, m, books, stop))
            })
            .collect();
        std::thread::sleep(Duration::from_millis(100 + rand_below(1100)));
        let victim = round % nodes;
        mints[victim].proc.kill();
        if database.is_some() && round % 3 == 0 {
            // The others keep working while the database crashes under them.
            std::thread::sleep(Duration::from_millis(rand_below(300)));
            ecash_testkit::restart_postgres();
            println!("round {round}: the database restarted");
            std::thread::sleep(Duration::from_millis(rand_below(500)));
        }
        stop.store(true, Ordering::Relaxed);
        for t in clients {
            t.join().expect("a client panicked");
        }
        {
            let b = books.lock().expect("books");
            check_books_on_disk(&mints[victim], url.as_deref(), &b, &payer);
        }
        mints[victim].proc.start_again();
        let c = mints[(victim + 1) % nodes].client();
        let mut b = books.lock().expect("books");
        settle(&c, &mut b, &merchant);
        // No coin is accepted twice: a spent coin is refused, every time, by every node.
        let n = b.spent.len();
        if n > 0 {
            let coin = b.spent[rand_below(n as u64) as usize].clone();
            for m in &mints {
                let c = m.client();
                let (p, _) = c.payment(std::slice::from_ref(&coin), &merchant, "again", "twice");
                let e = c.call::<api::Deposit>(&(), &deposit_of(&p, &merchant));
                assert_eq!(refused(e).1, ErrorCode::CoinSpent, "round {round}");
            }
        }
        println!(
            "round {round}: {} operations answered, {} acked deposits, {} coins held",
            b.done,
            b.acked.len(),
            b.held.len()
        );
    }
    // At the end: the coins held are all unspent, the spent ones all spent,
    // and the money adds up across payer, merchant and coins.
    let c = mints[0].client();
    let b = books.lock().expect("books");
    for chunk in b.held.chunks(64) {
        assert!(c.spent(chunk).iter().all(|s| !s), "a held coin is spent");
    }
    for chunk in b.spent.chunks(64) {
        assert!(
            c.spent(chunk).iter().all(|s| *s),
            "a taken coin is not spent"
        );
    }
    let payer_balance = c.balance(&Account {
        key: payer_key(),
        id: payer.clone(),
    });
    let merchant_balance = c.balance(&Account {
        key: merchant_key(),
        id: merchant.clone(),
    });
    let deposited: u64 = b.acked.values().map(|(a, _)| a.body.amount.value).sum();
    assert_eq!(
        merchant_balance, deposited,
        "the merchant holds exactly the acked deposits"
    );
    assert_eq!(
        payer_balance + merchant_balance + c.value_of(&b.held),
        funds,
        "money was created or lost"
    );
    assert!(b.done > 0, "no operation was answered in {kills} rounds");
    println!(
        "{kills} kills survived; {} operations answered, {} deposits acked",
        b.done,
        b.acked.len()
    );
}
