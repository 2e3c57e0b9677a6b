//! Offline (CAFE) coins against a real mint process (`OFFLINE.md`): the
//! two-round withdrawal within an allowance, spends accepted by payees
//! while the bank's process is stopped, and the deposit that pays honest
//! spends once and names every double spender, atomically.

// Test code: a helper that meets what it did not expect panics, as the
// tests themselves do (clippy.toml allows it only inside #[test] functions).
#![allow(clippy::expect_used, clippy::unwrap_used)]

use ecash_core::offline::messages::{OfflineOutcome, UNFINISHED_CAP};
use ecash_core::offline::payee::{AcceptError, Payee};
use ecash_core::offline::{self, OfflineCoin, Revealed, Spend};
use ecash_core::{Coin, ErrorCode, Fixed, api};
use ecash_testkit::client::Account;
use ecash_testkit::{MintProc, SyncBank, random32, refused};
use rusqlite::{Connection, OpenFlags};

const OFFLINE: &[&str] = &["--offline-max-exp", "3"];

/// An account with `balance` of which `collateral` is locked.
fn funded(c: &SyncBank, name: &str, balance: u64, collateral: u64) -> Account {
    let a = c.register(name);
    c.faucet(&a, balance);
    c.collateral(&a, true, collateral).expect("lock collateral");
    a
}

/// `coin` spent to `payee`, accepted by it with no network.
fn pay(coin: &OfflineCoin, payee: &mut Payee, c: &SyncBank) -> Spend {
    let request = payee.request(c.now()).expect("request");
    let spend = coin.spend(&request);
    payee
        .accept(&spend, &c.keys, c.now())
        .expect("the payee accepts");
    spend
}

fn outcome(c: &SyncBank, payee: &Account, spends: &[Spend]) -> Vec<OfflineOutcome> {
    c.offline_deposit(payee, spends)
        .expect("deposit")
        .results
        .into_iter()
        .map(|r| r.outcome)
        .collect()
}

/// The bank's books, read while the mint runs (WAL: readers see commits).
fn books(mint: &MintProc) -> Connection {
    Connection::open_with_flags(
        mint.proc.data_dir().join("bank.db"),
        OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .expect("open the books")
}

/// Every blob and text the bank keeps of offline deposits.
fn deposit_records(db: &Connection) -> Vec<Vec<u8>> {
    let mut stmt = db
        .prepare("SELECT bits, terms, pads, spend FROM offline_transcripts")
        .expect("query");
    stmt.query_map([], |r| {
        Ok([
            r.get::<_, Vec<u8>>(0)?,
            r.get::<_, Vec<u8>>(1)?,
            r.get::<_, Vec<u8>>(2)?,
            r.get::<_, String>(3)?.into_bytes(),
        ]
        .concat())
    })
    .expect("rows")
    .map(|r| r.expect("row"))
    .collect()
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn honest_offline_spends_with_the_bank_stopped_are_paid_once_and_show_no_identity() {
    let mut mint = MintProc::start(OFFLINE);
    let c = mint.client();
    let alice = funded(&c, "alice", 100, 20);
    let shop = c.register("shop");
    let bob = c.register("bob");
    let s = c.offline_standing(&alice).expect("standing");
    assert_eq!(
        (s.collateral.value, s.in_use.value, s.frozen),
        (20, 0, false)
    );
    assert_eq!(c.balance(&alice), 80, "collateral leaves the balance");

    let coins: Vec<OfflineCoin> = [4, 8, 1]
        .iter()
        .map(|v| c.offline_withdraw(&alice, *v).expect("offline withdraw"))
        .collect();
    let s = c.offline_standing(&alice).expect("standing");
    assert_eq!((s.in_use.value, s.available.value), (13, 7));
    assert_eq!(s.next_counter, 3);
    assert_eq!(c.balance(&alice), 80 - 13, "each coin is paid for");

    // The bank's process is stopped: payees accept with no network at all.
    mint.proc.stop();
    let mut shop_side = Payee::new(&shop.id, 3600);
    let mut bob_side = Payee::new(&bob.id, 3600);
    let to_shop = vec![
        pay(&coins[0], &mut shop_side, &c),
        pay(&coins[1], &mut shop_side, &c),
    ];
    let to_bob = pay(&coins[2], &mut bob_side, &c);
    // The same spend again, and the same coin a second time, at one payee.
    assert_eq!(
        shop_side.accept(&to_shop[0], &c.keys, c.now()),
        Err(AcceptError::UnknownRequest)
    );
    let again = coins[0].spend(&shop_side.request(c.now()).expect("request"));
    assert_eq!(
        shop_side.accept(&again, &c.keys, c.now()),
        Err(AcceptError::AlreadyReceived)
    );
    // A spend made out to another payee.
    assert_eq!(
        bob_side.accept(&to_shop[1], &c.keys, c.now()),
        Err(AcceptError::UnknownRequest)
    );

    // Back online: the deposits, in batches.
    mint.proc.start_again();
    let c = SyncBank::connect(mint.url(), &mint.master);
    let batch = Fixed(random32());
    let receipt = c
        .offline_deposit_as(&shop, batch, &to_shop)
        .expect("deposit");
    receipt.verify(&c.master).expect("signed by the bank");
    assert_eq!(receipt.body.credited, 12);
    assert_eq!(
        receipt
            .body
            .results
            .iter()
            .map(|r| r.coin_id)
            .collect::<Vec<_>>(),
        vec![coins[0].id(), coins[1].id()]
    );
    assert_eq!(c.balance(&shop), 12);
    // The same batch again: the very same receipt, paid once.
    let replay = c
        .offline_deposit_as(&shop, batch, &to_shop)
        .expect("replay");
    assert_eq!(replay, receipt);
    // The same spend in another batch: a replay, paid nothing.
    assert_eq!(
        outcome(&c, &shop, &to_shop[..1]),
        vec![OfflineOutcome::Replayed]
    );
    // The batch id with other spends: refused.
    assert_eq!(
        refused(c.offline_deposit_as(&shop, batch, &to_shop[..1])),
        (409, ErrorCode::RequestIdReused)
    );
    assert_eq!(
        outcome(&c, &bob, std::slice::from_ref(&to_bob)),
        vec![OfflineOutcome::Credited { amount: 1 }]
    );
    assert_eq!((c.balance(&shop), c.balance(&bob)), (12, 1));
    let s = c.offline_standing(&alice).expect("standing");
    assert!(!s.frozen, "honest spends freeze nothing");
    assert_eq!(s.penalties.value, 0);

    // What the bank keeps of honest deposits holds none of the identities
    // its withdrawals were made under, nor the account part of one.
    let db = books(&mint);
    let records = deposit_records(&db);
    assert_eq!(records.len(), 4);
    let identities: Vec<Vec<u8>> = db
        .prepare("SELECT identity FROM offline_withdrawals")
        .expect("q")
        .query_map([], |r| r.get(0))
        .expect("rows")
        .map(|r| r.expect("row"))
        .collect();
    assert_eq!(identities.len(), 3);
    for u in &identities {
        assert!(coins.iter().any(|c| c.u.0[..] == u[..]), "the coins' own");
        for rec in &records {
            assert!(!contains(rec, u), "a transcript holds an identity");
            assert!(
                !contains(rec, alice.id.as_bytes()),
                "a transcript names the payer"
            );
        }
    }
    // Nor does any pair of kept pads combine into one: each term shows one side.
    for spend in to_shop.iter().chain([&to_bob]) {
        let key = &c.keys.offline_key(&spend.key_id).expect("key").key;
        let v = spend.verify(key).expect("verifies");
        for p in &v.pads {
            for q in &v.pads {
                let x: Vec<u8> = p.iter().zip(q).map(|(a, b)| a ^ b).collect();
                assert!(!identities.contains(&x));
            }
        }
    }
}

#[test]
fn a_coin_spent_twice_names_its_withdrawer_every_time() {
    let mint = MintProc::start(OFFLINE);
    let c = mint.client();
    let shops: Vec<Account> = (0..3).map(|i| c.register(&format!("shop{i}"))).collect();
    let mut sides: Vec<Payee> = shops.iter().map(|s| Payee::new(&s.id, 3600)).collect();
    let rounds = 8;
    for round in 0..rounds {
        // A fresh double spender each round: the first double spend freezes one.
        let value = 1 << (round % 4);
        let collateral = if round == 0 { value / 2 + 1 } else { 3 * value };
        let cheat = funded(&c, &format!("cheat{round}"), 100, collateral.max(value));
        let coin = c.offline_withdraw(&cheat, value).expect("withdraw");
        let first = pay(&coin, &mut sides[0], &c);
        let second = pay(&coin, &mut sides[1], &c);
        let third = pay(&coin, &mut sides[2], &c);
        // A withdrawal begun before the double spend is found is not finished after.
        let pending = (round > 0).then(|| {
            c.offline_begin(&cheat, c.offline_key_of(1))
                .expect("begun before the freeze")
        });
        let before: Vec<u64> = shops.iter().map(|s| c.balance(s)).collect();
        assert_eq!(
            outcome(&c, &shops[0], &[first]),
            vec![OfflineOutcome::Credited { amount: value }]
        );
        let locked = collateral.max(value);
        let paid_second = value.min(locked);
        assert_eq!(
            outcome(&c, &shops[1], &[second]),
            vec![OfflineOutcome::DoubleSpent {
                paid: paid_second,
                identified: true
            }],
            "round {round}"
        );
        let left = locked - paid_second;
        assert_eq!(
            outcome(&c, &shops[2], &[third]),
            vec![OfflineOutcome::DoubleSpent {
                paid: value.min(left),
                identified: true
            }],
            "paid first deposited first, up to the collateral"
        );
        let after: Vec<u64> = shops.iter().map(|s| c.balance(s)).collect();
        assert_eq!(after[0] - before[0], value);
        assert_eq!(after[1] - before[1], paid_second);
        assert_eq!(after[2] - before[2], value.min(left));
        let s = c.offline_standing(&cheat).expect("standing");
        assert!(s.frozen, "round {round}: the allowance is frozen");
        assert_eq!(s.available.value, 0);
        assert_eq!(s.penalties.value, paid_second + value.min(left));
        assert_eq!(s.collateral.value, locked - s.penalties.value);
        if let Some(p) = pending {
            assert_eq!(
                refused(c.offline_finish(&cheat, p).map(|_| ())),
                (403, ErrorCode::OfflineRefused)
            );
        }
        // Frozen: no more offline coins, and the collateral stays.
        let key = c.offline_key_of(1);
        assert_eq!(
            refused(c.offline_begin(&cheat, key).map(|_| ())),
            (403, ErrorCode::OfflineRefused)
        );
        assert_eq!(
            refused(c.collateral(&cheat, false, 1)),
            (403, ErrorCode::OfflineRefused)
        );
        // The books name the withdrawal: the account, by the identity revealed.
        let db = books(&mint);
        let named: Vec<(Vec<u8>, String)> = db
            .prepare(
                "SELECT identity, account_id FROM offline_double_spends WHERE coin_id = ?1
                 ORDER BY transcript",
            )
            .expect("q")
            .query_map([&coin.id().0[..]], |r| Ok((r.get(0)?, r.get(1)?)))
            .expect("rows")
            .map(|r| r.expect("row"))
            .collect();
        assert_eq!(named.len(), 2);
        for (u, account) in named {
            assert_eq!(u, coin.u.0.to_vec(), "the identity revealed is the coin's");
            assert_eq!(account, cheat.id);
        }
    }
}

#[test]
fn forgeries_and_limits_are_refused_and_change_nothing() {
    let mint = MintProc::start(OFFLINE);
    let c = mint.client();
    let alice = funded(&c, "alice", 100, 5);
    let shop = c.register("shop");
    let mut side = Payee::new(&shop.id, 3600);
    let coin = c.offline_withdraw(&alice, 4).expect("withdraw");
    let good = pay(&coin, &mut side, &c);

    // Beyond the allowance: 4 of 5 in use, a coin of 2 is refused.
    assert_eq!(
        refused(c.offline_withdraw(&alice, 2).map(|_| ())),
        (403, ErrorCode::OfflineRefused)
    );
    // Collateral backing open coins is not released; the free part is.
    assert_eq!(
        refused(c.collateral(&alice, false, 2)),
        (403, ErrorCode::OfflineRefused)
    );
    let s = c
        .collateral(&alice, false, 1)
        .expect("release the free part");
    assert_eq!((s.collateral.value, s.in_use.value), (4, 4));

    let bank_before = c.balance(&shop);
    let refused_deposit = |spend: Spend, why: &str| {
        assert_eq!(
            refused(c.offline_deposit(&shop, &[good.clone(), spend])),
            (400, ErrorCode::InvalidCoin),
            "{why}"
        );
    };
    // A wrong product: another signature.
    let mut sig = good.clone();
    let last = sig.signature.0.len() - 1;
    sig.signature.0[last] ^= 1;
    refused_deposit(sig, "altered signature");
    // A revealed half that does not match (the challenge no longer follows).
    let mut half = good.clone();
    half.revealed[7] = match &half.revealed[7] {
        Revealed::Pad { a, c, y } => Revealed::Pad {
            a: *a,
            c: *c,
            y: Fixed([y.0[0] ^ 1; 32]),
        },
        Revealed::Masked { x, b, d } => Revealed::Masked {
            x: Fixed([x.0[0] ^ 1; 32]),
            b: *b,
            d: *d,
        },
    };
    refused_deposit(half, "altered half");
    // Another request than the one answered: the challenge does not follow.
    let mut other = good.clone();
    other.request.nonce = Fixed([9; 16]);
    refused_deposit(other, "another nonce");
    // Made out to another payee.
    let bob = c.register("bob");
    let mut bob_side = Payee::new(&bob.id, 3600);
    let to_bob = coin.spend(&bob_side.request(c.now()).expect("request"));
    bob_side
        .accept(&to_bob, &c.keys, c.now())
        .expect("bob accepts");
    refused_deposit(to_bob.clone(), "another payee's spend");
    // An online key used offline.
    let online = *c.keys.keys.keys().next().expect("an online key");
    let mut wrong_kind = good.clone();
    wrong_kind.key_id = online;
    assert_eq!(
        refused(c.offline_deposit(&shop, &[wrong_kind.clone()])),
        (400, ErrorCode::UnknownKey)
    );
    let mut fresh = coin.spend(&side.request(c.now()).expect("request"));
    fresh.key_id = online;
    assert_eq!(
        side.accept(&fresh, &c.keys, c.now()),
        Err(AcceptError::UnknownKey(online))
    );
    // An offline key used online: a coin "of" it deposited as a payment.
    let online_coins = c.withdraw(&alice, 1);
    let forged = Coin {
        key_id: coin.key_id,
        ..online_coins[0].clone()
    };
    let payreq = ecash_core::messages::PayReq {
        payreq_id: "p".into(),
        amount: c.amount(4),
        timestamp: c.now(),
        expires_at: c.now() + 600,
        merchant_bank_id: c.keys.set.bank_id.clone(),
        merchant_acc_id: shop.id.clone(),
        description: "an offline key's coin online".into(),
        pay_url: String::new(),
        fulfillment_url: String::new(),
        merchant_certificate: None,
        merchant_bank_url: None,
        accepted_mints: Vec::new(),
    };
    let (payment, _) = c.payment_for(&payreq, &[forged]);
    assert_eq!(refused(c.deposit(&shop, &payment)).1, ErrorCode::UnknownKey);
    // And round 1 under an online key.
    assert_eq!(
        refused(c.offline_begin(&alice, online).map(|_| ())),
        (400, ErrorCode::UnknownKey)
    );
    // Nothing moved; the good spend alone is paid, once.
    assert_eq!(c.balance(&shop), bank_before);
    assert_eq!(
        outcome(&c, &shop, std::slice::from_ref(&good)),
        vec![OfflineOutcome::Credited { amount: 4 }]
    );
    // A reused challenge (the payee's nonce again): the same transcript, paid once.
    assert_eq!(
        outcome(&c, &shop, std::slice::from_ref(&good)),
        vec![OfflineOutcome::Replayed]
    );
    assert_eq!(c.balance(&shop), bank_before + 4);
    // Batches beyond the limit, and empty ones.
    assert_eq!(
        refused(c.offline_deposit(&shop, &[])),
        (400, ErrorCode::InvalidField)
    );
    assert_eq!(
        refused(c.offline_deposit(&shop, &vec![good.clone(); 65])),
        (400, ErrorCode::TooManyCoins)
    );
    // A deposit signed by another key than the payee's.
    let req = ecash_core::offline::messages::OfflineDepositRequest {
        payee_id: shop.id.clone(),
        batch_id: Fixed(random32()),
        spends: vec![good.clone()],
        timestamp: c.now(),
    };
    assert_eq!(
        refused(c.call::<api::OfflineDeposit>(&(), &ecash_core::Signed::sign(req, &bob.key))),
        (401, ErrorCode::BadSignature)
    );
}

#[test]
fn withdrawals_opened_wrongly_are_closed_and_capped() {
    let mint = MintProc::start(OFFLINE);
    let c = mint.client();
    let alice = funded(&c, "alice", 100, 50);
    let key = c.offline_key_of(1);

    // Openings that do not match: refused, the withdrawal closed, no debit.
    let balance = c.balance(&alice);
    let begun = c.offline_begin(&alice, key).expect("round 1");
    let pk = &c.keys.offline_key(&key).expect("key").key;
    let mut openings = begun.candidates.open(pk, &begun.open).expect("open");
    openings[3].a.0[0] ^= 1;
    let req = ecash_core::offline::messages::OfflineOpenRequest {
        account_id: alice.id.clone(),
        request_id: begun.request_id,
        openings: openings.clone(),
        timestamp: c.now(),
    };
    let signed = ecash_core::Signed::sign(req, &alice.key);
    assert_eq!(
        refused(c.call::<api::OfflineOpen>(&(), &signed)),
        (400, ErrorCode::InvalidCoin)
    );
    // Opened right afterwards: still refused (no second chance at the same choice).
    assert_eq!(
        refused(c.offline_finish(&alice, begun).map(|_| ())),
        (403, ErrorCode::OfflineRefused)
    );
    assert_eq!(c.balance(&alice), balance);

    // Candidates under another identity (another account's counter) fail the opening.
    let mallory_u = offline::identity(&[0; 32], "someone-else", 0);
    let cands = offline::Candidates::new(pk, key, mallory_u).expect("candidates");
    let standing = c.offline_standing(&alice).expect("standing");
    let req = ecash_core::offline::messages::OfflineWithdrawRequest {
        account_id: alice.id.clone(),
        request_id: Fixed(random32()),
        key_id: key,
        counter: standing.next_counter,
        candidates: cands.blinded.clone(),
        timestamp: c.now(),
    };
    let rid = req.request_id;
    let ch = c
        .call::<api::OfflineWithdraw>(&(), &ecash_core::Signed::sign(req.clone(), &alice.key))
        .expect("round 1 cannot tell");
    // Round 1 again: the very same choice, never a fresh one.
    let again = c
        .call::<api::OfflineWithdraw>(&(), &ecash_core::Signed::sign(req, &alice.key))
        .expect("replay");
    assert_eq!(again, ch);
    let open = ecash_core::offline::messages::OfflineOpenRequest {
        account_id: alice.id.clone(),
        request_id: rid,
        openings: cands.open(pk, &ch.open).expect("open"),
        timestamp: c.now(),
    };
    assert_eq!(
        refused(c.call::<api::OfflineOpen>(&(), &ecash_core::Signed::sign(open, &alice.key))),
        (400, ErrorCode::InvalidCoin)
    );
    // A stale counter.
    let stale = ecash_core::offline::messages::OfflineWithdrawRequest {
        account_id: alice.id.clone(),
        request_id: Fixed(random32()),
        key_id: key,
        counter: 0,
        candidates: cands.blinded.clone(),
        timestamp: c.now(),
    };
    assert_eq!(
        refused(c.call::<api::OfflineWithdraw>(&(), &ecash_core::Signed::sign(stale, &alice.key))),
        (403, ErrorCode::OfflineRefused)
    );
    // Two refused, two more begun and left: the cap is reached.
    let _left: Vec<_> = (0..UNFINISHED_CAP - 2)
        .map(|_| c.offline_begin(&alice, key).expect("begin"))
        .collect();
    let s = c.offline_standing(&alice).expect("standing");
    assert_eq!(s.unfinished, UNFINISHED_CAP);
    assert_eq!(
        refused(c.offline_begin(&alice, key).map(|_| ())),
        (403, ErrorCode::OfflineRefused)
    );
    assert_eq!(c.balance(&alice), balance, "nothing was debited");
}

#[test]
fn a_mint_without_offline_keys_says_so() {
    let mint = MintProc::start(&[]);
    let c = mint.client();
    assert!(c.keys.set.offline.is_empty());
    let a = c.register("a");
    assert_eq!(
        refused(c.offline_standing(&a)),
        (403, ErrorCode::OfflineRefused)
    );
}

#[test]
fn a_retry_signed_again_after_a_crash_gets_the_same_answers() {
    let mint = MintProc::start(OFFLINE);
    let c = mint.client();
    let bob = funded(&c, "bob", 100, 10);
    let key = c.offline_key_of(2);
    let standing = c.offline_standing(&bob).expect("standing");
    let pk = &c.keys.offline_key(&key).expect("key").key;
    let cands = offline::Candidates::new(pk, key, standing.next_identity).expect("candidates");
    let mut req = ecash_core::offline::messages::OfflineWithdrawRequest {
        account_id: bob.id.clone(),
        request_id: Fixed(random32()),
        key_id: key,
        counter: standing.next_counter,
        candidates: cands.blinded.clone(),
        timestamp: c.now(),
    };
    let ch = c
        .call::<api::OfflineWithdraw>(&(), &ecash_core::Signed::sign(req.clone(), &bob.key))
        .expect("round 1");
    // The wallet lost the answer and signs its request again, later.
    req.timestamp += 7;
    let again = c
        .call::<api::OfflineWithdraw>(&(), &ecash_core::Signed::sign(req.clone(), &bob.key))
        .expect("round 1 again");
    assert_eq!(again, ch);
    let mut open = ecash_core::offline::messages::OfflineOpenRequest {
        account_id: bob.id.clone(),
        request_id: req.request_id,
        openings: cands.open(pk, &ch.open).expect("open"),
        timestamp: c.now(),
    };
    let sig = c
        .call::<api::OfflineOpen>(&(), &ecash_core::Signed::sign(open.clone(), &bob.key))
        .expect("round 2");
    open.timestamp += 9;
    let sig_again = c
        .call::<api::OfflineOpen>(&(), &ecash_core::Signed::sign(open, &bob.key))
        .expect("round 2 again");
    assert_eq!(sig_again, sig, "the same blind signature, debited once");
    assert_eq!(c.balance(&bob), 90 - 2);
    cands
        .finish(pk, &ch.open, &sig.blind_signature.0)
        .expect("the coin verifies");
}

#[test]
fn an_offline_key_revoked_signs_and_takes_no_more_coins() {
    let mint = MintProc::start(&[
        "--offline-max-exp",
        "0",
        "--withdraw-period-secs",
        "40",
        "--deposit-grace-secs",
        "3600",
    ]);
    let c = mint.client();
    let alice = funded(&c, "alice", 100, 10);
    let shop = c.register("shop");
    let coin = c.offline_withdraw(&alice, 1).expect("withdraw");
    let mut side = Payee::new(&shop.id, 600);
    let spend = coin.spend(&side.request(c.now()).expect("request"));
    let out = mint
        .command(&[
            "revoke-key",
            "--key-id",
            &coin.key_id.to_b64(),
            "--reason",
            "compromised",
        ])
        .expect("an offline key is revoked like an online one");
    assert!(out.contains("revoked key"), "{out}");
    // The running mint publishes it within a rotation tick (10 s here).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(40);
    let mut c = c;
    while !c.keys.set.is_revoked(&coin.key_id) {
        assert!(
            std::time::Instant::now() < deadline,
            "the revocation is published"
        );
        std::thread::sleep(std::time::Duration::from_millis(500));
        c.refresh_keys();
    }
    assert!(matches!(
        side.accept(&spend, &c.keys, c.now()),
        Err(AcceptError::KeyClosed(_))
    ));
    assert_eq!(
        refused(c.offline_deposit(&shop, &[spend])),
        (410, ErrorCode::KeyRevoked)
    );
    assert_eq!(
        refused(c.offline_begin(&alice, coin.key_id).map(|_| ())),
        (410, ErrorCode::KeyRevoked)
    );
}
