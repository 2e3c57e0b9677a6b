//! Expiry keeps the spent set small: with key periods of seconds and
//! coins withdrawn and paid without pause, each key's spent coins are
//! dropped whole once its deposit window closes, so the spent set holds
//! only the coins of the keys still in force, however long the load runs;
//! what expired keys' coins never deposited were worth is booked as
//! expired, and the books balance: accounts + outstanding + expired =
//! credited. On SQLite, and on PostgreSQL (one partition per key).

use std::time::{Duration, Instant};

use ecash_core::{ErrorCode, api};
use ecash_testkit::{Account, MintProc, SyncBank};
use mint_server::storage::Storage;

/// Withdraw periods of 3 s and a grace of 2 s: a key takes coins for 5 s.
const PERIOD: u64 = 3;
const GRACE: u64 = 2;

/// (spent coins kept, keys in force) in the SQLite file of a running mint.
fn sqlite_size(path: &std::path::Path) -> (i64, i64) {
    let c = rusqlite::Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
        .expect("open read-only");
    c.busy_timeout(Duration::from_secs(5))
        .expect("busy timeout");
    let q = |sql: &str| c.query_row(sql, [], |r| r.get::<_, i64>(0)).expect(sql);
    (
        q("SELECT COUNT(*) FROM spent_coins"),
        q("SELECT COUNT(*) FROM coin_keys WHERE expired_at IS NULL"),
    )
}

/// The same in a PostgreSQL database, where each key in force has one partition.
#[cfg(feature = "pg-tests")]
fn postgres_size(url: &str) -> (i64, i64) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let (c, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
            .await
            .expect("connect");
        tokio::spawn(conn);
        let r = c
            .query_one(
                "SELECT (SELECT COUNT(*) FROM spent_coins),
                        (SELECT COUNT(*) FROM coin_keys WHERE expired_at IS NULL),
                        (SELECT COUNT(*) FROM pg_inherits WHERE inhparent = 'spent_coins'::regclass)",
                &[],
            )
            .await
            .expect("sizes");
        let (rows, live, parts): (i64, i64, i64) = (r.get(0), r.get(1), r.get(2));
        // A key's expiry detaches its partition and books it in one
        // transaction; the catalog (pg_inherits) is read under a snapshot
        // of its own, so for a moment it may show the detach before the
        // books do (2 values expire at once).
        assert!(
            parts <= live && live - parts <= 2,
            "{parts} partitions for {live} keys in force"
        );
        (rows, live)
    })
}

/// Runs the load for `secs` and checks the set stays bounded; returns the
/// mint (still running) for the books check.
fn bounded_under_load(
    extra: &[String],
    size: impl Fn(&MintProc) -> (i64, i64),
    secs: u64,
) -> MintProc {
    let mut args: Vec<String> = [
        "--withdraw-period-secs",
        &PERIOD.to_string(),
        "--deposit-grace-secs",
        &GRACE.to_string(),
        "--max-denomination-exp",
        "1",
    ]
    .map(String::from)
    .to_vec();
    args.extend(extra.iter().cloned());
    let mint = MintProc::start(&args.iter().map(String::as_str).collect::<Vec<_>>());
    let mut c = mint.client();
    let (payer, shop) = (c.register("payer"), c.register("shop"));
    c.faucet(&payer, 100_000);
    let start = Instant::now();
    let (mut paid, mut kept, mut biggest) = (0u64, 0u64, 0i64);
    let mut samples = Vec::new();
    while start.elapsed() < Duration::from_secs(secs) {
        // Six coins of 1 and 2 paid at once, and one kept and never paid:
        // its value expires with its key.
        let coins = withdraw(&mut c, &payer, 10);
        let (pay, keep) = coins.split_at(coins.len() - 1);
        let (p, _) = c.payment(pay, &shop.id, "expiry", "load");
        c.deposit(&shop, &p).expect("paid within the key's window");
        paid += pay.len() as u64;
        kept += c.value_of(keep);
        let (rows, live) = size(&mint);
        biggest = biggest.max(rows);
        samples.push((start.elapsed().as_secs(), rows, live));
    }
    let by_second: std::collections::BTreeMap<u64, (i64, i64)> = samples
        .iter()
        .map(|&(t, rows, live)| (t, (rows, live)))
        .collect();
    println!(
        "{paid} coins paid in {secs} s; spent coins kept at most {biggest}; \
         (spent coins kept, keys in force) by second: {by_second:?}"
    );
    // Keys in force at once: 2 values x (this period, the next two, and the
    // ones still in their grace, and a tick late): at most 2 x 7.
    let most_live = samples.iter().map(|s| s.2).max().unwrap_or(0);
    assert!(most_live <= 14, "keys in force grew to {most_live}");
    // Coins are kept for at most a key's window (5 s) and a tick or two:
    // well under half of what the run paid in 6 times that.
    assert!(
        (biggest as u64) < paid / 2,
        "the spent set grew to {biggest} of {paid} coins paid"
    );
    let last = samples.last().map_or(0, |s| s.1);
    assert!((last as u64) < paid / 2, "{last} of {paid}");
    assert!(kept > 0);
    mint
}

/// Withdraws `value` with the keys in force, fetched again when a period
/// turned between blinding and signing (the key no longer signs).
fn withdraw(c: &mut SyncBank, payer: &Account, value: u64) -> Vec<ecash_core::Coin> {
    for _ in 0..3 {
        c.refresh_keys();
        let (req, pending) = c.withdraw_request(payer, value);
        match c.call::<api::Withdraw>(&(), &req) {
            Ok(sigs) => return c.finalize(&pending, &sigs),
            Err(ecash_core::client::CallError::Refused { error, .. })
                if error.code == ErrorCode::KeyExpired => {}
            Err(e) => panic!("withdraw: {e}"),
        }
    }
    panic!("three periods turned during one withdrawal")
}

/// The books of a mint that ran the load: balanced, with expired value booked.
fn books_balance(store: &dyn Storage) {
    let t = store.totals().expect("totals");
    println!("{t:?}");
    assert!(
        t.expired > 0,
        "kept coins of expired keys are booked as expired: {t:?}"
    );
    assert!(
        t.balanced(),
        "accounts + outstanding + expired = credited: {t:?}"
    );
}

#[test]
fn the_spent_set_stays_bounded_on_sqlite() {
    let mut mint = bounded_under_load(&[], |m| sqlite_size(&m.proc.data_dir().join("bank.db")), 30);
    mint.proc.stop();
    let db = mint.proc.data_dir().join("bank.db");
    books_balance(&mint_server::storage::sqlite::SqliteStorage::open(&db).expect("open"));
}

#[cfg(feature = "pg-tests")]
#[test]
fn the_spent_set_stays_bounded_on_postgres() {
    let books = ecash_testkit::PgBooks::new();
    let url = books.url.clone();
    let mut mint = bounded_under_load(&books.args(), |_| postgres_size(&url), 30);
    mint.proc.stop();
    let store = mint_server::storage::postgres::PostgresStorage::open(
        &mint_server::storage::postgres::PgSettings {
            url: books.url.clone(),
            pool_size: 2,
        },
    )
    .expect("open");
    books_balance(&store);
}
