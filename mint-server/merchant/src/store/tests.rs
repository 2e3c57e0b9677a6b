//! The shop store against a real SQLite file.

use super::*;

fn order(id: &str, now: u64) -> NewOrder<'_> {
    NewOrder {
        payreq_id: id,
        item_id: "haiku",
        payreq_json: "{}",
        amount: 25,
        now,
        expires_at: now + 10,
    }
}

fn live(epoch: &[u8; 16], stale_before: u64) -> Live {
    Live {
        epoch: *epoch,
        stale_before,
    }
}

fn catalog_title(id: &str) -> String {
    id.to_owned()
}

#[test]
fn migrations_are_valid() {
    migrations()
        .validate()
        .expect("every migration applies in order");
}

fn open() -> (tempfile::TempDir, ShopStore) {
    let dir = tempfile::tempdir().expect("tmp");
    let s = ShopStore::open(&dir.path().join("shop.db")).expect("open");
    (dir, s)
}

#[test]
fn unpaid_orders_are_capped_and_only_expired_ones_pushed_out() {
    let (_dir, s) = open();
    // Five open orders at most; new ones are refused while all are live ...
    for i in 0..5u64 {
        assert!(
            s.insert(&order(&format!("o{i}"), i), 0, 0, 5)
                .expect("insert")
        );
    }
    assert!(!s.insert(&order("o5", 5), 0, 0, 5).expect("insert"), "full");
    assert_eq!(s.count().expect("count"), 5);
    // ... and push out only expired ones (older than 3 here), when full.
    for now in 5..12u64 {
        assert!(
            s.insert(&order(&format!("o{now}"), now), now - 3, 0, 5)
                .expect("insert")
        );
    }
    assert_eq!(s.count().expect("count"), 4);
    assert!(s.get("o8").expect("get").is_some() && s.get("o7").expect("get").is_none());
}

#[test]
fn claims_belong_to_their_request_and_payment() {
    let (_dir, s) = open();
    assert!(s.insert(&order("o11", 11), 0, 0, 5).expect("insert"));
    let (p1, p2) = (ecash_core::Fixed([1; 32]), ecash_core::Fixed([2; 32]));
    let (t1, t2) = ([1u8; 16], [2u8; 16]);
    let claim = |p, json, t, now, epoch: &[u8; 16]| {
        s.claim("o11", p, json, t, now, live(epoch, 0))
            .expect("claim")
    };
    // Two processes: the one that made the first claims, and the next.
    let (a, b) = (&[0xa; 16], &[0xb; 16]);
    assert_eq!(claim(&p1, "P1", &t1, 100, a), Claim::Won);
    assert_eq!(s.get("o11").expect("get").expect("o").claimed_by, Some(p1));
    // Another payment, or the same one from another request: busy.
    assert_eq!(claim(&p2, "P2", &t2, 101, a), Claim::Busy);
    assert_eq!(claim(&p1, "P1", &t2, 101, a), Claim::Busy);
    // A release with another request's token changes nothing.
    s.release("o11", &t2).expect("release");
    assert_eq!(claim(&p2, "P2", &t2, 102, a), Claim::Busy);
    // The same payment may take over a stale claim (its request died) ...
    assert_eq!(claim(&p1, "P1", &t2, 300, b), Claim::Resumed);
    // ... and the first request's token no longer releases it.
    s.release("o11", &t1).expect("release");
    assert_eq!(claim(&p2, "P2", &t1, 301, b), Claim::Busy);
    // Abandoned: the same payment may take it over, another may not,
    // and the settler finds it.
    s.abandon("o11", &t2).expect("abandon");
    assert_eq!(claim(&p2, "P2", &t1, 302, b), Claim::Busy);
    let stuck = s.abandoned(live(&[0xb; 16], 0), 10).expect("abandoned");
    let want = Abandoned {
        payreq_id: "o11".into(),
        payment_json: "P1".into(),
    };
    assert_eq!(stuck, vec![want]);
    assert_eq!(claim(&p1, "P1", &t1, 302, b), Claim::Resumed);
    assert!(
        s.abandoned(live(&[0xb; 16], 0), 10)
            .expect("abandoned")
            .is_empty(),
        "held again"
    );
    // Seen from another process (started within the same second, too),
    // the live claim is one that died with its process.
    assert_eq!(s.abandoned(live(a, 0), 10).expect("abandoned").len(), 1);
    // Another payment cannot mark an order claimed by the first ...
    assert_eq!(
        s.mark_paid("o11", &p2, Some(&ecash_core::Fixed([9; 32])), "other", 302)
            .expect("mark"),
        None
    );
    let answer = Some("answer".to_owned());
    assert_eq!(
        s.mark_paid("o11", &p1, Some(&ecash_core::Fixed([9; 32])), "answer", 302)
            .expect("mark"),
        answer
    );
    // ... and marking again returns the answer that stands.
    assert_eq!(
        s.mark_paid("o11", &p1, Some(&ecash_core::Fixed([9; 32])), "again", 303)
            .expect("mark"),
        answer
    );
    assert_eq!(claim(&p2, "P2", &t1, 303, b), Claim::Taken);
    let missing = s
        .claim("nope", &p2, "P2", &t1, 303, live(&[0xb; 16], 0))
        .expect("claim");
    assert_eq!(missing, Claim::Missing);
}

#[test]
fn paid_orders_survive_the_cap_and_are_listed_newest_first() {
    let (_dir, s) = open();
    let p1 = ecash_core::Fixed([1; 32]);
    assert!(s.insert(&order("o11", 11), 0, 0, 5).expect("insert"));
    assert_eq!(
        s.claim("o11", &p1, "P1", &[1; 16], 300, live(&[0xa; 16], 0))
            .expect("claim"),
        Claim::Won
    );
    assert!(
        s.mark_paid("o11", &p1, Some(&ecash_core::Fixed([9; 32])), "answer", 302)
            .expect("mark")
            .is_some()
    );
    for i in 20..40u64 {
        s.insert(&order(&format!("o{i}"), i), 1000, 1000, 5)
            .expect("insert");
    }
    assert!(s.get("o11").expect("get").is_some());
    let currency = ecash_core::Currency::new("DEMO").expect("currency");
    let (list, paid, value) = s
        .list(47, 200, |i| format!("title of {i}"), &currency)
        .expect("list");
    assert_eq!((paid, value), (1, 25));
    let o11 = list.iter().find(|o| o.payreq_id == "o11").expect("listed");
    assert_eq!((o11.state, o11.paid_at), (OrderState::Paid, Some(302)));
    assert_eq!(o11.title, "title of haiku");
    assert!(list.windows(2).all(|w| w[0].created_at >= w[1].created_at));
    let state = |id: &str| list.iter().find(|o| o.payreq_id == id).map(|o| o.state);
    assert_eq!(state("o39"), Some(OrderState::Open), "expires at 49");
    let (later, _, _) = s.list(50, 200, catalog_title, &currency).expect("list");
    assert_eq!(later.first().map(|o| o.state), Some(OrderState::Expired));
}

#[test]
fn a_claim_past_its_lease_is_stale_in_its_own_process_too() {
    let (_dir, s) = open();
    assert!(s.insert(&order("o1", 1), 0, 0, 5).expect("insert"));
    let (p, epoch) = (ecash_core::Fixed([1; 32]), [0xa; 16]);
    let claim = |t: &[u8; 16], now, stale| s.claim("o1", &p, "P", t, now, live(&epoch, stale));
    assert_eq!(claim(&[1; 16], 100, 0).expect("claim"), Claim::Won);
    // Within the lease, the live claim is its request's ...
    assert_eq!(claim(&[2; 16], 150, 100).expect("claim"), Claim::Busy);
    assert!(
        s.abandoned(live(&epoch, 100), 10)
            .expect("abandoned")
            .is_empty()
    );
    // ... past it, its task is gone: the settler and the same payment take over.
    assert_eq!(
        s.abandoned(live(&epoch, 101), 10).expect("abandoned").len(),
        1
    );
    assert_eq!(claim(&[2; 16], 400, 101).expect("claim"), Claim::Resumed);
}
