//! PostgreSQL storage against a real server: the contract, migrations run
//! by many nodes at once. `make test-native` starts a throwaway cluster
//! (scripts/with-postgres.sh) and enables feature `pg-tests`; the server is
//! named by `ECASH_TEST_POSTGRES` in key=value form, without a dbname.

use super::*;

/// A fresh, empty database on the test server, as connection settings.
pub(crate) fn fresh_database() -> PgSettings {
    let server = std::env::var("ECASH_TEST_POSTGRES")
        .expect("ECASH_TEST_POSTGRES names the test server (make test-native starts one)");
    let mut name = [0u8; 8];
    getrandom::fill(&mut name).expect("random");
    let db: String = std::iter::once("t_".to_owned())
        .chain(name.iter().map(|b| format!("{b:02x}")))
        .collect();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let (client, conn) =
            tokio_postgres::connect(&format!("{server} dbname=postgres"), tokio_postgres::NoTls)
                .await
                .expect("the test server answers");
        tokio::spawn(conn);
        client
            .batch_execute(&format!("CREATE DATABASE {db}"))
            .await
            .expect("create database");
    });
    PgSettings {
        url: format!("{server} dbname={db}"),
        pool_size: 8,
    }
}

#[test]
#[cfg_attr(
    not(feature = "pg-tests"),
    ignore = "needs PostgreSQL: run make test-native"
)]
fn postgres_keeps_the_storage_contract() {
    crate::storage::contract::run(|| PostgresStorage::open(&fresh_database()).expect("open"));
}

#[test]
#[cfg_attr(
    not(feature = "pg-tests"),
    ignore = "needs PostgreSQL: run make test-native"
)]
fn nodes_starting_together_migrate_once() {
    let db = fresh_database();
    let nodes: Vec<_> = (0..8)
        .map(|_| {
            let db = db.clone();
            std::thread::spawn(move || PostgresStorage::open(&db).map(|_| ()))
        })
        .collect();
    for n in nodes {
        n.join().expect("thread").expect("every node opens");
    }
    let s = PostgresStorage::open(&db).expect("reopen");
    let versions: Vec<i32> = s
        .tx(|c| {
            Box::pin(async move {
                let rows = c
                    .query("SELECT version FROM schema_version ORDER BY version", &[])
                    .await?;
                Ok(rows.iter().map(|r| r.get(0)).collect())
            })
        })
        .expect("versions");
    let want: Vec<i32> = (1..=schema::latest() as i32).collect();
    assert_eq!(versions, want, "each migration ran exactly once");
    s.create_account("a", &[1; 32], "", 0)
        .expect("the schema works");
}

#[test]
#[cfg_attr(
    not(feature = "pg-tests"),
    ignore = "needs PostgreSQL: run make test-native"
)]
fn a_database_newer_than_the_mint_is_refused() {
    let db = fresh_database();
    let s = PostgresStorage::open(&db).expect("open");
    s.tx(|c| {
        Box::pin(async move {
            c.execute("INSERT INTO schema_version (version) VALUES (999)", &[])
                .await?;
            Ok(())
        })
    })
    .expect("pretend a newer mint ran");
    match PostgresStorage::open(&db) {
        Err(StorageError::Db(m)) => assert!(m.contains("newer than this mint"), "{m}"),
        Err(e) => panic!("wrong refusal: {e}"),
        Ok(_) => panic!("a newer schema was used"),
    }
}

#[test]
#[cfg_attr(
    not(feature = "pg-tests"),
    ignore = "needs PostgreSQL: run make test-native"
)]
fn a_closed_store_and_an_unreachable_server_fail_cleanly() {
    let s = PostgresStorage::open(&fresh_database()).expect("open");
    s.close().expect("close");
    assert!(matches!(s.account("a"), Err(StorageError::Db(m)) if m.contains("closed")));
    let nowhere = PgSettings {
        url: "host=127.0.0.1 port=1 user=postgres dbname=none connect_timeout=2".into(),
        pool_size: 1,
    };
    match PostgresStorage::open(&nowhere) {
        Err(StorageError::Db(m)) => assert!(m.contains("connecting"), "{m}"),
        Err(e) => panic!("wrong error: {e}"),
        Ok(_) => panic!("opened a store on no server"),
    }
}

/// Two nodes (two stores, two pools) on one database race for the same
/// request, the same coin and the same payment: the unique keys decide,
/// and the loser answers the winner's stored answer.
#[test]
#[cfg_attr(
    not(feature = "pg-tests"),
    ignore = "needs PostgreSQL: run make test-native"
)]
fn two_nodes_on_one_database_keep_the_contract() {
    use std::sync::{Arc, Barrier};
    let db = fresh_database();
    let (a, b) = (
        Arc::new(PostgresStorage::open(&db).expect("node a")),
        Arc::new(PostgresStorage::open(&db).expect("node b")),
    );
    a.create_account("payer", &[1; 32], "", 0).expect("create");
    b.create_account("shop", &[2; 32], "", 0).expect("create");
    let race = |f: &(dyn Fn(&PostgresStorage) -> String + Sync)| -> (String, String) {
        let gate = Barrier::new(2);
        std::thread::scope(|t| {
            let x = t.spawn(|| {
                gate.wait();
                f(&a)
            });
            let y = t.spawn(|| {
                gate.wait();
                f(&b)
            });
            (x.join().expect("a"), y.join().expect("b"))
        })
    };
    for round in 0..20u8 {
        // One withdrawal request on both nodes, the balance just enough for
        // one: both get its answer, and the account is debited once.
        a.faucet_credit("payer", 7, 0).expect("credit");
        let mut w = NewWithdrawal {
            request_id: Fixed([round; 32]),
            request_hash: Fixed([100 + round; 32]),
            account_id: "payer".into(),
            amount: 7,
            signatures: vec![(Fixed([round; 32]), vec![round])],
            response_json: format!("w{round}"),
            now: 1,
        };
        w.request_id.0[31] = 0xaa;
        let (x, y) = race(&|s| format!("{:?}", s.commit_withdrawal(&w).map(|a| a.response_json)));
        assert_eq!(
            (x.as_str(), y.as_str()),
            (&*format!("Ok(\"w{round}\")"), &*format!("Ok(\"w{round}\")")),
            "round {round}"
        );
        assert_eq!(
            b.account("payer").expect("q").expect("payer").balance,
            0,
            "round {round}"
        );

        // One coin in two payments on the two nodes: exactly one is credited.
        let coin = (Fixed([round; 32]), Fixed([0; 32]));
        let pay = |pid: u8| NewDeposit {
            payment_id: Fixed([pid; 32]),
            merchant_acc_id: "shop".into(),
            amount: 1,
            spent: vec![coin],
            payer_code_hash: Fixed([0; 32]),
            payment_info_json: "{}".into(),
            ack_json: format!("ack {pid}"),
            now: 1,
        };
        let (x, y) = race(&|s| {
            let pid = if std::ptr::eq(s, &*a) {
                2 * round
            } else {
                2 * round + 1
            };
            match s.commit_deposit(&pay(pid)) {
                Ok(_) => "won".into(),
                Err(StorageError::Spent(_)) => "spent".into(),
                Err(e) => format!("{e}"),
            }
        });
        let mut both = [x, y];
        both.sort();
        assert_eq!(
            both,
            ["spent".to_owned(), "won".to_owned()],
            "round {round}"
        );

        // One payment sent to both nodes: one credit, the same record twice.
        let mut same = pay(200);
        same.payment_id.0[0] = round;
        same.spent = vec![(Fixed([0xc0 ^ round; 32]), Fixed([0; 32]))];
        let (x, y) = race(&|s| format!("{:?}", s.commit_deposit(&same)));
        assert!(x.starts_with("Ok("), "round {round}: {x}");
        assert_eq!(x, y, "round {round}: the loser answers the winner's record");
    }
    let t = a.totals().expect("totals");
    assert_eq!(
        b.account("shop").expect("q").expect("shop").balance,
        40,
        "20 coins and 20 payments, each once"
    );
    assert_eq!(
        t.balances + t.outstanding,
        t.credited,
        "the books balance: {t:?}"
    );
}
