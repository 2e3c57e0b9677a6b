//! The contract every [`Store`] keeps, as a test suite each backend runs:
//! memory and SQLite natively, IndexedDB in Chromium. `make` opens a fresh,
//! empty store; [`run_shared`] takes two handles on one store (two tabs, two
//! processes) where the backend has them.
//!
//! What the wallet relies on: a batch lands whole and durably; records come
//! back in key order; a counter reserved is never handed out twice, even to
//! two handles at once; a counter written in a batch (a restore sets them)
//! is where reservations go on from.

use std::future::Future;

use super::{Store, Write};

fn put(k: &str, v: &str) -> Write {
    Write::Put(k.to_owned(), v.to_owned())
}

async fn records<S: Store>(s: &S) -> Vec<(String, String)> {
    s.load_all()
        .await
        .unwrap_or_else(|e| panic!("load_all: {e}"))
}

async fn apply<S: Store>(s: &S, w: Vec<Write>) {
    s.apply(w).await.unwrap_or_else(|e| panic!("apply: {e}"));
}

async fn reserve<S: Store>(s: &S, key: &str, n: u64) -> u64 {
    s.reserve(key, n)
        .await
        .unwrap_or_else(|e| panic!("reserve {key}: {e}"))
}

/// Runs every check on fresh stores from `make`.
pub async fn run<S, F, Fut>(make: F)
where
    S: Store,
    F: Fn() -> Fut,
    Fut: Future<Output = S>,
{
    batches_land_whole_and_in_key_order(&make().await).await;
    counters_count_up_once(&make().await).await;
    counters_go_on_from_written_values(&make().await).await;
    interleaved_reservations_never_overlap(&make().await, None).await;
    guarded_batches_land_once(&make().await, None).await;
}

/// The checks that need two handles on one store.
pub async fn run_shared<S: Store>(first: &S, second: &S) {
    apply(first, vec![put("shared/a", "1")]).await;
    assert!(
        records(second)
            .await
            .contains(&("shared/a".to_owned(), "1".to_owned())),
        "a batch written through one handle is seen through the other"
    );
    interleaved_reservations_never_overlap(first, Some(second)).await;
    guarded_batches_land_once(first, Some(second)).await;
}

async fn batches_land_whole_and_in_key_order<S: Store>(s: &S) {
    assert!(records(s).await.is_empty(), "a new store is empty");
    apply(s, vec![]).await;
    apply(
        s,
        vec![
            put("coin/b", "2"),
            put("coin/a", "1"),
            put("meta", "{}"),
            put("op/x", "pending"),
        ],
    )
    .await;
    let keys: Vec<String> = records(s).await.into_iter().map(|(k, _)| k).collect();
    assert_eq!(keys, ["coin/a", "coin/b", "meta", "op/x"], "in key order");
    // One batch replaces, deletes (also what is not there) and adds at once.
    apply(
        s,
        vec![
            put("coin/a", "1b"),
            Write::Delete("op/x".into()),
            Write::Delete("never/was".into()),
            put("hist/1", "h"),
            // The last write to a key in a batch is the one that stands.
            put("coin/c", "first"),
            put("coin/c", "last"),
        ],
    )
    .await;
    assert_eq!(
        records(s).await,
        vec![
            ("coin/a".to_owned(), "1b".to_owned()),
            ("coin/b".to_owned(), "2".to_owned()),
            ("coin/c".to_owned(), "last".to_owned()),
            ("hist/1".to_owned(), "h".to_owned()),
            ("meta".to_owned(), "{}".to_owned()),
        ]
    );
    // Large values and every character survive.
    let big = "é€𝄞\"\\\n".repeat(20_000);
    apply(s, vec![put("coin/big", &big)]).await;
    let got = records(s).await;
    assert_eq!(
        got.iter()
            .find(|(k, _)| k == "coin/big")
            .map(|(_, v)| v.as_str()),
        Some(big.as_str())
    );
}

async fn counters_count_up_once<S: Store>(s: &S) {
    assert_eq!(reserve(s, "ctr/k", 3).await, 0, "an absent counter is 0");
    assert_eq!(reserve(s, "ctr/k", 2).await, 3);
    assert_eq!(reserve(s, "ctr/k", 0).await, 5, "reserving none reads it");
    assert_eq!(reserve(s, "ctr/k", 1).await, 5);
    assert_eq!(reserve(s, "ctr/other", 1).await, 0, "counters are apart");
    assert!(
        s.reserve("ctr/k", u64::MAX).await.is_err(),
        "an overflow is refused"
    );
    assert_eq!(reserve(s, "ctr/k", 1).await, 6, "and changes nothing");
    apply(s, vec![put("ctr/bad", "not a number")]).await;
    assert!(
        s.reserve("ctr/bad", 1).await.is_err(),
        "a corrupt counter is refused"
    );
}

async fn counters_go_on_from_written_values<S: Store>(s: &S) {
    apply(s, vec![put("ctr/restored", "40")]).await;
    assert_eq!(reserve(s, "ctr/restored", 2).await, 40);
    assert_eq!(reserve(s, "ctr/restored", 1).await, 42);
}

async fn interleaved_reservations_never_overlap<S: Store>(a: &S, b: Option<&S>) {
    let b = b.unwrap_or(a);
    let key = "ctr/race";
    let base = reserve(a, key, 0).await;
    let mut starts = Vec::new();
    // Many reservations in flight at once from both handles.
    let from_a: Vec<_> = (0..16).map(|i| a.reserve(key, 1 + i % 3)).collect();
    let from_b: Vec<_> = (0..16).map(|i| b.reserve(key, 1 + i % 2)).collect();
    let (ra, rb) = futures::future::join(
        futures::future::join_all(from_a),
        futures::future::join_all(from_b),
    )
    .await;
    for (i, r) in ra.into_iter().enumerate() {
        starts.push((
            r.unwrap_or_else(|e| panic!("reserve: {e}")),
            1 + i as u64 % 3,
        ));
    }
    for (i, r) in rb.into_iter().enumerate() {
        starts.push((
            r.unwrap_or_else(|e| panic!("reserve: {e}")),
            1 + i as u64 % 2,
        ));
    }
    starts.sort();
    let mut next = base;
    for (start, n) in &starts {
        assert_eq!(
            *start, next,
            "ranges are disjoint and leave no gap: {starts:?}"
        );
        next += n;
    }
    assert_eq!(reserve(b, key, 0).await, next);
}

async fn guarded_batches_land_once<S: Store>(a: &S, b: Option<&S>) {
    let b = b.unwrap_or(a);
    let claim = |who: &str| {
        vec![
            put("guard/coin", who),
            put(&format!("spent/{who}"), "x"),
            Write::Delete("coin/held".into()),
        ]
    };
    apply(a, vec![put("coin/held", "1")]).await;
    let guards = ["guard/coin".to_owned()];
    // Many claims at once from both handles: exactly one lands, whole.
    let from_a: Vec<_> = (0..8)
        .map(|i| a.apply_unless(&guards, claim(&format!("a{i}"))))
        .collect();
    let from_b: Vec<_> = (0..8)
        .map(|i| b.apply_unless(&guards, claim(&format!("b{i}"))))
        .collect();
    let (ra, rb) = futures::future::join(
        futures::future::join_all(from_a),
        futures::future::join_all(from_b),
    )
    .await;
    let won: Vec<bool> = ra
        .into_iter()
        .chain(rb)
        .map(|r| r.unwrap_or_else(|e| panic!("apply_unless: {e}")))
        .collect();
    assert_eq!(
        won.iter().filter(|w| **w).count(),
        1,
        "one claim lands: {won:?}"
    );
    let got = records(b).await;
    let winner = got
        .iter()
        .find(|(k, _)| k == "guard/coin")
        .map(|(_, v)| v.clone())
        .unwrap_or_else(|| panic!("the guard is written"));
    let spent: Vec<&String> = got
        .iter()
        .filter(|(k, _)| k.starts_with("spent/"))
        .map(|(k, _)| k)
        .collect();
    assert_eq!(
        spent,
        [&format!("spent/{winner}")],
        "only the winner's writes"
    );
    assert!(!got.iter().any(|(k, _)| k == "coin/held"));
    // A guard that is not there lets a batch through; a later one is refused.
    assert!(
        a.apply_unless(&["guard/other".to_owned()], vec![put("guard/other", "1")])
            .await
            .unwrap_or_else(|e| panic!("apply_unless: {e}"))
    );
    assert!(
        !b.apply_unless(
            &["guard/none".to_owned(), "guard/other".to_owned()],
            vec![put("x/never", "1")]
        )
        .await
        .unwrap_or_else(|e| panic!("apply_unless: {e}"))
    );
    assert!(!records(a).await.iter().any(|(k, _)| k == "x/never"));
}
