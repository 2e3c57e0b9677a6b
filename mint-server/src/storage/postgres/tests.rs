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
    let key = |n: u8, value| CoinKey {
        key_id: Fixed([n; 32]),
        value,
        deposit_until: 1_000,
    };
    a.add_keys(&[key(0, 1), key(7, 7)]).expect("keys");
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
            signatures: vec![IssuedSig {
                blinded_hash: Fixed([round; 32]),
                key_id: Fixed([7; 32]),
                signature: vec![round],
            }],
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
        (t.credited, t.balances),
        (140, 40),
        "20 credits of 7 withdrawn, 40 coins deposited: {t:?}"
    );
}

/// A key schedule with few, small keys (fast to make).
fn schedule(period: u64) -> crate::keys::Schedule {
    crate::keys::Schedule {
        bank_id: "b".into(),
        currency: ecash_core::Currency::new("DEMO").expect("currency"),
        max_exp: 2,
        rsa_bits: 2048,
        withdraw_period: period,
        deposit_grace: period / 2,
        signer: crate::signer::SignerKind::Rust,
    }
}

fn node_keys(
    db: &PgSettings,
    kek: [u8; 32],
    period: u64,
    now: u64,
) -> Result<crate::keys::MintKeys, crate::keys::KeyError> {
    let store = std::sync::Arc::new(PostgresStorage::open(db).expect("open"));
    let vault = PgVault::new(store, crate::keys::Kek::new(&kek));
    crate::keys::MintKeys::open(std::sync::Arc::new(vault), schedule(period), now)
}

/// Denomination keys stored per (value, period), and how many still hold a private key.
fn key_rows(db: &PgSettings) -> (Vec<(i64, i64, i64)>, i64) {
    let s = PostgresStorage::open(db).expect("open");
    s.tx(|c| {
        Box::pin(async move {
            let rows = c
                .query(
                    "SELECT value, withdraw_from, count(*) FROM denomination_keys \
                     GROUP BY value, withdraw_from ORDER BY 1, 2",
                    &[],
                )
                .await?;
            let live: i64 = c
                .query_one(
                    "SELECT count(*) FROM denomination_keys WHERE sealed IS NOT NULL",
                    &[],
                )
                .await?
                .get(0);
            Ok((
                rows.iter()
                    .map(|r| (r.get(0), r.get(1), r.get(2)))
                    .collect(),
                live,
            ))
        })
    })
    .expect("key rows")
}

/// Nodes starting together make every key once, and serve the very same
/// signed key set; a late node loads it; rotation and retirement on one
/// node are what every other node then loads.
#[test]
#[cfg_attr(
    not(feature = "pg-tests"),
    ignore = "needs PostgreSQL: run make test-native"
)]
fn nodes_make_each_key_once_and_sign_the_same_set() {
    let db = fresh_database();
    let kek = [9u8; 32];
    let now = 10_000;
    let nodes: Vec<_> = std::thread::scope(|t| {
        let handles: Vec<_> = (0..4)
            .map(|_| t.spawn(|| node_keys(&db, kek, 1000, now).expect("node opens")))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("thread"))
            .collect()
    });
    let (rows, _) = key_rows(&db);
    assert!(
        rows.iter().all(|&(_, _, n)| n == 1),
        "one key per value and period: {rows:?}"
    );
    assert_eq!(rows.len(), 3 * 2, "3 values x (current + next period)");
    let first = nodes[0].current().signed_json.clone();
    for n in &nodes {
        assert_eq!(
            n.current().signed_json,
            first,
            "every node signs the same set"
        );
        assert_eq!(n.master.public(), nodes[0].master.public());
    }
    // A node that starts later loads the same keys.
    let late = node_keys(&db, kek, 1000, now).expect("late node");
    assert_eq!(late.current().signed_json, first);

    // Node 0 rotates past the first period's deposit window; the others then
    // find the keys it made and retire what it retired, to the same set.
    let later = now + 1600;
    assert!(nodes[0].rotate(later).expect("rotate"));
    let (rows, live) = key_rows(&db);
    assert!(rows.iter().all(|&(_, _, n)| n == 1), "{rows:?}");
    assert_eq!(
        live as usize,
        rows.len() - 3,
        "the first period's secrets are gone"
    );
    for n in &nodes[1..] {
        n.rotate(later).expect("rotate");
        assert_eq!(n.current().signed_json, nodes[0].current().signed_json);
        assert_eq!(n.current().expired.len(), 3);
    }
}

/// A node given another KEK, or keys altered in the database, cannot start.
#[test]
#[cfg_attr(
    not(feature = "pg-tests"),
    ignore = "needs PostgreSQL: run make test-native"
)]
fn another_kek_or_an_altered_key_is_refused() {
    let db = fresh_database();
    node_keys(&db, [1; 32], 1000, 10_000).expect("first node");
    match node_keys(&db, [2; 32], 1000, 10_000) {
        Err(crate::keys::KeyError::Sealed(name)) => assert_eq!(name, "master"),
        Err(e) => panic!("wrong refusal: {e}"),
        Ok(_) => panic!("a node with another KEK started"),
    }
    // A sealed denomination key moved into another key's row does not open there.
    let s = PostgresStorage::open(&db).expect("open");
    s.tx(|c| {
        Box::pin(async move {
            c.execute(
                "UPDATE denomination_keys SET sealed = \
                 (SELECT sealed FROM denomination_keys ORDER BY key_id LIMIT 1) \
                 WHERE key_id = (SELECT key_id FROM denomination_keys ORDER BY key_id DESC LIMIT 1)",
                &[],
            )
            .await?;
            Ok(())
        })
    })
    .expect("swap a sealed key");
    match node_keys(&db, [1; 32], 1000, 10_000) {
        Err(crate::keys::KeyError::Sealed(name)) => assert!(name.starts_with("denomination:")),
        Err(e) => panic!("wrong refusal: {e}"),
        Ok(_) => panic!("a swapped key was loaded"),
    }
}

/// Coins spent before the spent set was partitioned move into one
/// partition per key, and stay spent; the key is added over them.
#[test]
#[cfg_attr(
    not(feature = "pg-tests"),
    ignore = "needs PostgreSQL: run make test-native"
)]
fn coins_spent_before_partitioning_stay_spent() {
    let db = fresh_database();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        // Version 2, as the first PostgreSQL release left it, with coins spent.
        let cfg: tokio_postgres::Config = db.url.parse().expect("settings");
        let mgr = deadpool_postgres::Manager::new(cfg, tokio_postgres::NoTls);
        let pool = Pool::builder(mgr).max_size(1).build().expect("pool");
        let mut c = pool.get().await.expect("client");
        schema::migrate_to(&mut c, 2).await.expect("version 2");
        // 10 credited to a, withdrawn as 5 coins of 2; 3 of them paid to m.
        c.batch_execute(
            "INSERT INTO accounts VALUES ('a', '\\x01', '', 0, 0), ('m', '\\x02', '', 6, 0);
             INSERT INTO ledger (account_id, delta, reason, reference, at) VALUES
                 ('a', 10, 'faucet', 'demo', 0), ('a', -10, 'withdraw', 'r', 0), ('m', 6, 'deposit', 'p', 0);
             INSERT INTO withdrawals VALUES ('\\x0a', '\\x0b', 'a', 10, '{}', 0);
             INSERT INTO deposits VALUES ('\\x0d', 'm', 6, '\\x00', '{}', 'ack', 0);",
        )
        .await
        .expect("books of version 2");
        for (serial, key) in [(1u8, 7u8), (2, 7), (3, 8)] {
            c.execute(
                "INSERT INTO spent_coins (serial, key_id, spent_at, spent_in) VALUES ($1, $2, 0, $3)",
                &[&vec![serial; 32], &vec![key; 32], &vec![0u8; 32]],
            )
            .await
            .expect("a legacy coin");
        }
    });
    let s = PostgresStorage::open(&db).expect("migrates to the partitioned set");
    let coin = |serial: u8, key: u8| (Fixed([serial; 32]), Fixed([key; 32]));
    assert_eq!(
        s.spent(&[coin(1, 7), coin(2, 7), coin(3, 8), coin(3, 7)])
            .expect("q"),
        vec![true, true, true, false]
    );
    let key = |n: u8| CoinKey {
        key_id: Fixed([n; 32]),
        value: 2,
        deposit_until: 10,
    };
    s.add_keys(&[key(7), key(8)])
        .expect("keys added over their legacy partitions");
    let t = s.totals().expect("totals");
    assert_eq!(
        (t.credited, t.balances, t.outstanding, t.expired),
        (10, 6, 4, 0)
    );
    assert!(
        t.balanced(),
        "what coins from before hold stays counted: {t:?}"
    );
    let pay = |serial: u8| NewDeposit {
        payment_id: Fixed([serial; 32]),
        merchant_acc_id: "m".into(),
        amount: 2,
        spent: vec![coin(serial, 7)],
        payer_code_hash: Fixed([0; 32]),
        payment_info_json: "{}".into(),
        ack_json: "ack".into(),
        now: 1,
    };
    assert!(matches!(
        s.commit_deposit(&pay(1)),
        Err(StorageError::Spent(_))
    ));
    s.commit_deposit(&pay(4))
        .expect("a coin from before, paid now");
    assert_eq!(s.spent_serials(&Fixed([7; 32])).expect("list").len(), 3);
    let t = s.totals().expect("totals");
    assert_eq!((t.balances, t.outstanding), (8, 2), "{t:?}");
    assert!(t.balanced(), "{t:?}");
    // Both keys expire: the coin from before spent since comes out of the
    // legacy figure; the partitions go, the books still balance.
    let done = s.expire_keys(11, 12).expect("expire");
    assert_eq!(done.len(), 2);
    assert!(done.iter().all(|e| e.amount == 0), "{done:?}");
    let t = s.totals().expect("totals");
    assert_eq!((t.balances, t.outstanding, t.expired), (8, 2, 0), "{t:?}");
    assert!(t.balanced(), "{t:?}");
    assert!(matches!(
        s.commit_deposit(&pay(5)),
        Err(StorageError::UnknownKey(_))
    ));
}

/// A mint on PostgreSQL that kept its keys in files (an older version)
/// keeps its identity and its keys: they are sealed into its database once,
/// and every node then loads them. A new database takes no key files.
#[test]
#[cfg_attr(
    not(feature = "pg-tests"),
    ignore = "needs PostgreSQL: run make test-native"
)]
fn key_files_are_adopted_into_the_database_once() {
    let dir = tempfile::tempdir().expect("tmp");
    let files = crate::keys::files::FileVault::open(dir.path(), 1000).expect("files");
    let before = crate::keys::MintKeys::open(std::sync::Arc::new(files), schedule(1000), 10_000)
        .expect("keys in files");
    let db = fresh_database();
    let store = std::sync::Arc::new(PostgresStorage::open(&db).expect("open"));
    let vault = PgVault::new(store.clone(), crate::keys::Kek::new(&[3; 32]));
    let files = crate::keys::files::FileVault::open(dir.path(), 1000).expect("files");
    assert!(
        !vault.adopt(&files).expect("adopt"),
        "a database without books takes no other mint's keys"
    );
    // Books made with those keys (an older version kept them in files).
    store.create_account("a", &[1; 32], "", 0).expect("a");
    store.faucet_credit("a", 1, 0).expect("credit");
    store
        .commit_withdrawal(&NewWithdrawal {
            request_id: Fixed([1; 32]),
            request_hash: Fixed([1; 32]),
            account_id: "a".into(),
            amount: 1,
            signatures: vec![],
            response_json: "{}".into(),
            now: 0,
        })
        .expect("a withdrawal");
    assert!(vault.adopt(&files).expect("adopt"), "sealed in");
    assert!(!vault.adopt(&files).expect("again"), "once");
    let after = node_keys(&db, [3; 32], 1000, 10_000).expect("a node on the database");
    assert_eq!(
        after.master.public(),
        before.master.public(),
        "the same mint"
    );
    assert_eq!(
        after.current().signed_json,
        before.current().signed_json,
        "the same keys"
    );
}

/// A key's public record altered in the database (a longer window) no
/// longer opens its private key: the seal covers the record.
#[test]
#[cfg_attr(
    not(feature = "pg-tests"),
    ignore = "needs PostgreSQL: run make test-native"
)]
fn an_altered_key_record_is_refused() {
    let db = fresh_database();
    node_keys(&db, [1; 32], 1000, 10_000).expect("first node");
    let s = PostgresStorage::open(&db).expect("open");
    s.tx(|c| {
        Box::pin(async move {
            c.execute(
                "UPDATE denomination_keys \
                 SET record = replace(record, '\"deposit_until\":11499', '\"deposit_until\":99999')",
                &[],
            )
            .await?;
            Ok(())
        })
    })
    .expect("re-denominate a key");
    match node_keys(&db, [1; 32], 1000, 10_000) {
        Err(crate::keys::KeyError::Sealed(name)) => assert!(name.starts_with("denomination:")),
        Err(e) => panic!("wrong refusal: {e}"),
        Ok(_) => panic!("an altered record was loaded"),
    }
}

/// Two nodes expire the same keys at once, while a third keeps
/// depositing coins of a key in force: each key is booked once, and the
/// books balance.
#[test]
#[cfg_attr(
    not(feature = "pg-tests"),
    ignore = "needs PostgreSQL: run make test-native"
)]
fn two_nodes_expire_a_key_once_while_deposits_go_on() {
    use std::sync::{Arc, Barrier};
    let db = fresh_database();
    let nodes: Vec<Arc<PostgresStorage>> = (0..3)
        .map(|_| Arc::new(PostgresStorage::open(&db).expect("node")))
        .collect();
    let key = |n: u8, until| CoinKey {
        key_id: Fixed([n; 32]),
        value: 1,
        deposit_until: until,
    };
    nodes[0]
        .add_keys(&[key(1, 10), key(2, 10), key(3, 1_000)])
        .expect("keys");
    nodes[0].create_account("a", &[1; 32], "", 0).expect("a");
    nodes[0].create_account("m", &[2; 32], "", 0).expect("m");
    nodes[0].faucet_credit("a", 300, 0).expect("credit");
    let sigs: Vec<IssuedSig> = (0..300u16)
        .map(|i| IssuedSig {
            blinded_hash: {
                let mut h = [0u8; 32];
                h[..2].copy_from_slice(&i.to_be_bytes());
                Fixed(h)
            },
            key_id: Fixed([1 + (i % 3) as u8; 32]),
            signature: vec![1],
        })
        .collect();
    nodes[0]
        .commit_withdrawal(&NewWithdrawal {
            request_id: Fixed([9; 32]),
            request_hash: Fixed([9; 32]),
            account_id: "a".into(),
            amount: 300,
            signatures: sigs,
            response_json: "{}".into(),
            now: 1,
        })
        .expect("100 coins of each key");
    let gate = Arc::new(Barrier::new(3));
    let (e1, e2, paid) = std::thread::scope(|t| {
        let expire = |n: &Arc<PostgresStorage>| {
            let (n, gate) = (n.clone(), gate.clone());
            t.spawn(move || {
                gate.wait();
                n.expire_keys(11, 20).expect("expire")
            })
        };
        let (x, y) = (expire(&nodes[0]), expire(&nodes[1]));
        let (depositor, gate) = (nodes[2].clone(), gate.clone());
        let d = t.spawn(move || {
            gate.wait();
            (0..50u8)
                .map(|i| {
                    depositor
                        .commit_deposit(&NewDeposit {
                            payment_id: Fixed([i; 32]),
                            merchant_acc_id: "m".into(),
                            amount: 1,
                            spent: vec![(Fixed([i; 32]), Fixed([3; 32]))],
                            payer_code_hash: Fixed([0; 32]),
                            payment_info_json: "{}".into(),
                            ack_json: "ack".into(),
                            now: 15,
                        })
                        .is_ok()
                })
                .filter(|ok| *ok)
                .count()
        });
        (
            x.join().expect("x"),
            y.join().expect("y"),
            d.join().expect("d"),
        )
    });
    let mut booked: Vec<_> = e1.iter().chain(&e2).map(|e| (e.key_id, e.amount)).collect();
    booked.sort();
    assert_eq!(
        booked,
        vec![(Fixed([1; 32]), 100), (Fixed([2; 32]), 100)],
        "each expired key booked once, by one node"
    );
    assert_eq!(paid, 50, "deposits of the key in force went on");
    let t = nodes[2].totals().expect("totals");
    assert_eq!(
        (t.balances, t.outstanding, t.expired),
        (50, 50, 200),
        "{t:?}"
    );
    assert!(t.balanced(), "{t:?}");
}
