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
