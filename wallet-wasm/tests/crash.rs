//! The process dies at every step of every operation: before or after
//! each store write, counter reservation and network call in turn (every
//! request the operation's state machine makes of the driver). Each time a
//! new process opens the wallet's file and recovers; money is never lost,
//! never counted twice, and no coin is left spent.
// Native: these start the mint in-process and use SQLite files.
#![cfg(not(target_arch = "wasm32"))]

mod common;

use std::cell::Cell;
use std::rc::Rc;

use common::*;
use wallet_wasm::records::Event;
use wallet_wasm::store::sqlite::SqliteStore;
use wallet_wasm::store::{Store, StoreError, Write};
use wallet_wasm::transport::{
    HttpRequest, HttpResponse, ReqwestTransport, Transport, TransportError,
};
use wallet_wasm::{Wallet, WalletError};

/// When the process dies: at its `at`-th effect, before or after doing it.
struct Death {
    left: Cell<usize>,
    dead: Cell<bool>,
    after: bool,
}

impl Death {
    fn new(at: usize, after: bool) -> Rc<Self> {
        Rc::new(Self {
            left: Cell::new(at),
            dead: Cell::new(false),
            after,
        })
    }

    /// `Ok(true)`: do it and live; `Ok(false)`: do it, then die; `Err`: dead already.
    fn step(&self) -> Result<bool, ()> {
        if self.dead.get() {
            return Err(());
        }
        if self.left.get() == 0 {
            self.dead.set(true);
            return if self.after { Ok(false) } else { Err(()) };
        }
        self.left.set(self.left.get() - 1);
        Ok(true)
    }
}

struct DyingStore<S> {
    inner: S,
    death: Rc<Death>,
}

fn died() -> StoreError {
    StoreError("the process died here (test)".into())
}

impl<S: Store> Store for DyingStore<S> {
    async fn load_all(&self) -> Result<Vec<(String, String)>, StoreError> {
        self.inner.load_all().await
    }
    async fn apply(&self, writes: Vec<Write>) -> Result<(), StoreError> {
        let live = self.death.step().map_err(|_| died())?;
        self.inner.apply(writes).await?;
        if live { Ok(()) } else { Err(died()) }
    }
    async fn reserve(&self, key: &str, n: u64) -> Result<u64, StoreError> {
        let live = self.death.step().map_err(|_| died())?;
        let v = self.inner.reserve(key, n).await?;
        if live { Ok(v) } else { Err(died()) }
    }
    async fn apply_unless(
        &self,
        guards: &[String],
        writes: Vec<Write>,
    ) -> Result<bool, StoreError> {
        let live = self.death.step().map_err(|_| died())?;
        let v = self.inner.apply_unless(guards, writes).await?;
        if live { Ok(v) } else { Err(died()) }
    }
}

struct DyingNet {
    inner: ReqwestTransport,
    death: Rc<Death>,
}

impl Transport for DyingNet {
    async fn send(&self, req: HttpRequest) -> Result<HttpResponse, TransportError> {
        let gone = || TransportError("the process died here (test)".into());
        let live = self.death.step().map_err(|_| gone())?;
        let r = self.inner.send(req).await?;
        if live { Ok(r) } else { Err(gone()) }
    }
}

type DyingWallet = Wallet<DyingStore<SqliteStore>, DyingNet>;

async fn dying(mint: &Mint, path: &std::path::Path, death: &Rc<Death>) -> DyingWallet {
    let store = DyingStore {
        inner: SqliteStore::open(path).expect("store"),
        death: death.clone(),
    };
    let net = DyingNet {
        inner: ReqwestTransport::new().expect("http"),
        death: death.clone(),
    };
    Wallet::open(store, net, mint.settings())
        .await
        .expect("open")
}

/// After a death: a new process opens the file and recovers everything.
async fn revive(mint: &Mint, path: &std::path::Path, what: &str) -> NativeWallet {
    let mut w = reopen(mint, path).await;
    let report = w.recover().await.expect("recover");
    assert!(
        w.pending().is_empty(),
        "{what}: still pending after recover: {report:?}"
    );
    assert_all_unspent(&w, mint).await;
    w
}

fn paid_total(w: &NativeWallet) -> u64 {
    w.history()
        .iter()
        .filter(|h| matches!(h.event, Event::Paid { .. }))
        .map(|h| h.amount)
        .sum()
}

/// Runs `op` dying at each effect in turn (before, then after it), until it
/// runs to its end; `check` sees the revived wallet and whether `op` finished.
/// Returns how many deaths were survived.
async fn at_every_step<P, O, C>(mint: &Mint, name: &str, prepare: P, op: O, check: C) -> usize
where
    P: AsyncFn(&Mint, &std::path::Path) -> u64,
    O: AsyncFn(&mut DyingWallet) -> Result<(), WalletError>,
    C: AsyncFn(&Mint, NativeWallet, u64, bool, &str),
{
    let dir = tempfile::tempdir().expect("tmp");
    let mut survived = 0;
    for after in [false, true] {
        for at in 0.. {
            assert!(at < 60, "{name}: the operation never finished");
            let path = dir.path().join(format!("{name}-{after}-{at}.db"));
            let before = prepare(mint, &path).await;
            let death = Death::new(at, after);
            let mut w = dying(mint, &path, &death).await;
            let finished = op(&mut w).await.is_ok() && !death.dead.get();
            drop(w);
            let what = format!(
                "{name}: death {} effect {at}",
                if after { "after" } else { "before" }
            );
            let w = revive(mint, &path, &what).await;
            check(mint, w, before, finished, &what).await;
            if finished {
                break;
            }
            survived += 1;
        }
    }
    survived
}

/// A funded wallet at `path` holding `coins` of value, the rest on its account.
async fn wallet_with(mint: &Mint, path: &std::path::Path, coins: u64) -> NativeWallet {
    let store = SqliteStore::open(path).expect("store");
    let (mut w, _) = Wallet::create(store, Flaky::new(), &mint.url, None, mint.settings())
        .await
        .expect("create");
    w.faucet(1_000).await.expect("faucet");
    if coins > 0 {
        w.withdraw(coins, None).await.expect("withdraw");
    }
    w
}

/// Fails unless deaths were found at enough steps of `op` (else the
/// steps were not all reached).
fn reached_every_step(op: &str, deaths: usize) {
    println!("{op}: {deaths} deaths survived");
    assert!(
        deaths >= 4,
        "{op}: only {deaths} deaths: the steps were not all reached"
    );
}

/// Withdraw: the account is debited once, for exactly the coins kept.
#[tokio::test(flavor = "current_thread")]
async fn a_withdrawal_survives_a_death_at_every_step() {
    let mint = Mint::start();
    let n = at_every_step(
        &mint,
        "withdraw",
        async |m, p| {
            wallet_with(m, p, 0).await;
            1_000
        },
        async |w| w.withdraw(300, None).await.map(|_| ()),
        async |_, w, account_before, finished, what| {
            let account = w
                .account_statement()
                .await
                .expect("statement")
                .balance
                .value;
            let held = w.balance().total;
            assert!(held == 0 || held == 300, "{what}: holds {held}");
            assert_eq!(account + held, account_before, "{what}: money lost or made");
            if finished {
                assert_eq!(held, 300, "{what}");
            }
        },
    )
    .await;
    reached_every_step("withdraw", n);
}

/// Exchange every coin: the same value, and never a coin twice.
#[tokio::test(flavor = "current_thread")]
async fn an_exchange_survives_a_death_at_every_step() {
    let mint = Mint::start();
    let n = at_every_step(
        &mint,
        "exchange",
        async |m, p| wallet_with(m, p, 100).await.balance().total,
        async |w| w.exchange_all().await.map(|_| ()),
        async |_, w, held, _, what| {
            assert_eq!(w.balance().total, held, "{what}: value changed");
        },
    )
    .await;
    reached_every_step("exchange", n);
}

/// Pay with change (25 from 64): paid once or not at all, nothing lost.
#[tokio::test(flavor = "current_thread")]
async fn a_payment_survives_a_death_at_every_step() {
    let mint = Mint::start();
    let n = at_every_step(
        &mint,
        "pay",
        async |m, p| wallet_with(m, p, 64).await.balance().total,
        async |w| {
            let offer = mint.order("haiku").await;
            w.pay(offer).await.map(|_| ())
        },
        async |_, w, held, finished, what| {
            let paid = paid_total(&w);
            assert!(paid == 0 || paid == 25, "{what}: paid {paid}");
            assert_eq!(w.balance().total + paid, held, "{what}: money lost");
            if finished {
                assert_eq!(paid, 25, "{what}");
            }
        },
    )
    .await;
    reached_every_step("pay", n);
}

/// Send: the coins leave only with the token in the history.
#[tokio::test(flavor = "current_thread")]
async fn a_send_survives_a_death_at_every_step() {
    let mint = Mint::start();
    let n = at_every_step(
        &mint,
        "send",
        async |m, p| wallet_with(m, p, 64).await.balance().total,
        async |w| w.send(40).await.map(|_| ()),
        async |_, w, held, _, what| {
            let sent: Vec<String> = w
                .history()
                .into_iter()
                .filter_map(|h| match h.event {
                    Event::Sent { token } => Some(token),
                    _ => None,
                })
                .collect();
            let left = w.balance().total;
            match sent.len() {
                0 => assert_eq!(left, held, "{what}: coins gone without a token"),
                1 => assert_eq!(left + 40, held, "{what}"),
                n => panic!("{what}: {n} tokens"),
            }
        },
    )
    .await;
    reached_every_step("send", n);
}

/// Receive: the token's value arrives once; a token not yet claimed can
/// be claimed again.
#[tokio::test(flavor = "current_thread")]
async fn a_receive_survives_a_death_at_every_step() {
    let mint = Mint::start();
    let token = {
        let dir = tempfile::tempdir().expect("tmp");
        let mut sender = wallet_with(&mint, &dir.path().join("sender.db"), 0).await;
        sender.withdraw(1_000, None).await.expect("withdraw");
        let mut tokens = Vec::new();
        for _ in 0..40 {
            tokens.push(sender.send(8).await.expect("send"));
        }
        std::cell::RefCell::new(tokens)
    };
    let current = std::cell::RefCell::new(String::new());
    let n = at_every_step(
        &mint,
        "receive",
        async |m, p| {
            wallet_with(m, p, 0).await;
            *current.borrow_mut() = token.borrow_mut().pop().expect("a token left");
            0
        },
        async |w| {
            let token = current.borrow().clone();
            w.receive(&token).await.map(|_| ())
        },
        async |_, mut w, _, _, what| {
            let got = w.balance().total;
            if got == 0 {
                let token = current.borrow().clone();
                let again = w.receive(&token).await.expect(what);
                assert_eq!(again, 8, "{what}: the unclaimed token still claims");
            } else {
                assert_eq!(got, 8, "{what}: received {got}");
            }
        },
    )
    .await;
    reached_every_step("receive", n);
}

/// Restore: a wallet that exists is whole; one cut half-way does not exist.
#[tokio::test(flavor = "current_thread")]
async fn a_restore_survives_a_death_at_every_step() {
    let mint = Mint::start();
    let phrase_dir = tempfile::tempdir().expect("tmp");
    let (phrase, value) = {
        let mut w = wallet_with(&mint, &phrase_dir.path().join("orig.db"), 200).await;
        let token = w.send(8).await.expect("send");
        // Claimed elsewhere: its coins are spent, and a restore must not bring them back.
        let mut other = wallet_with(&mint, &phrase_dir.path().join("other.db"), 0).await;
        other.receive(&token).await.expect("receive");
        (w.seed_phrase(), w.balance().total)
    };
    let dir = tempfile::tempdir().expect("tmp");
    let mut restores = 0;
    for after in [false, true] {
        for at in 0.. {
            assert!(at < 60, "restore never finished");
            let path = dir.path().join(format!("restore-{after}-{at}.db"));
            let death = Death::new(at, after);
            let store = DyingStore {
                inner: SqliteStore::open(&path).expect("store"),
                death: death.clone(),
            };
            let net = DyingNet {
                inner: ReqwestTransport::new().expect("http"),
                death: death.clone(),
            };
            let r =
                Wallet::restore(store, net, &mint.url, None, &phrase, mint.settings(), None).await;
            let finished = r.is_ok() && !death.dead.get();
            drop(r);
            let what = format!(
                "restore: death {} effect {at}",
                if after { "after" } else { "before" }
            );
            match Wallet::open(
                SqliteStore::open(&path).expect("store"),
                Flaky::new(),
                mint.settings(),
            )
            .await
            {
                Ok(w) => assert_eq!(w.balance().total, value, "{what}: a partial wallet"),
                Err(e) => {
                    assert_eq!(e.code(), "no_wallet", "{what}: {e}");
                    let (w, _) = mint
                        .restore(SqliteStore::open(&path).expect("store"), &phrase)
                        .await
                        .expect(&what);
                    assert_eq!(w.balance().total, value, "{what}");
                }
            }
            if finished {
                break;
            }
            restores += 1;
        }
    }
    reached_every_step("restore", restores);
}
