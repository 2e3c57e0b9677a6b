//! The app's state: the open wallet (one per page) and the signals the screens show.

use std::cell::RefCell;
use std::rc::Rc;

use futures::lock::Mutex;
use leptos::prelude::*;
use wallet_wasm::records::HistoryEntry;
use wallet_wasm::store::indexeddb::IndexedDbStore;
use wallet_wasm::transport::FetchTransport;
use wallet_wasm::wallet::{Balance, MintBalance, PendingOp};
use wallet_wasm::{Wallet, WalletError};

/// The IndexedDB database of the wallet.
pub const DB_NAME: &str = "ecash-wallet";

/// The wallet type of the browser.
pub type BrowserWallet = Wallet<IndexedDbStore, FetchTransport>;
/// A shared handle; calls take turns on the lock.
pub type Handle = Rc<Mutex<BrowserWallet>>;

thread_local! {
    // Not in a signal: the wallet is neither Send nor Sync, and only this thread uses it.
    static WALLET: RefCell<Option<Handle>> = const { RefCell::new(None) };
}

/// The open wallet, if any.
pub fn wallet() -> Option<Handle> {
    WALLET.with(|w| w.borrow().clone())
}

/// Installs (or removes) the open wallet.
pub fn set_wallet(w: Option<BrowserWallet>) {
    WALLET.with(|cell| *cell.borrow_mut() = w.map(|w| Rc::new(Mutex::new(w))));
}

/// Which screen is showing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Screen {
    /// Opening the wallet.
    Loading,
    /// No wallet yet: create or restore.
    FirstRun,
    /// Just created: show the seed once.
    Backup,
    /// Coins by denomination.
    Balance,
    /// Withdraw from the bank account.
    Withdraw,
    /// Pay a payment request.
    Pay,
    /// Make a transfer token.
    Send,
    /// Claim a transfer token.
    Receive,
    /// The banks whose coins the wallet holds; adding one, exchanging into one.
    Mints,
    /// Payments, receipts, pending operations.
    History,
    /// Bank, keys, backup.
    Settings,
}

/// Kind of a banner message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tone {
    /// Something failed.
    Error,
    /// Something worked.
    Ok,
    /// For information.
    Info,
}

/// Wallet facts for the settings screen.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Info {
    /// Bank base URL.
    pub bank_url: String,
    /// Pinned master key fingerprint.
    pub fingerprint: String,
    /// Bank account id.
    pub account_id: String,
    /// Currency code.
    pub currency: String,
    /// Who certifies the bank, as whom, until when (or that nobody does).
    pub certified: String,
}

/// Progress of a long operation.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Busy {
    /// What is happening (empty: idle).
    pub label: String,
    /// Steps done.
    pub done: usize,
    /// Steps in all (0: unknown).
    pub total: usize,
}

/// Every signal of the app, cheap to copy into closures.
#[derive(Clone, Copy)]
pub struct AppState {
    pub screen: RwSignal<Screen>,
    pub message: RwSignal<Option<(Tone, String)>>,
    pub busy: RwSignal<Busy>,
    pub balance: RwSignal<Option<Balance>>,
    /// The wallet's own bank, then the other banks it knows, with their shares.
    pub mints: RwSignal<Vec<MintBalance>>,
    pub account_balance: RwSignal<Option<u64>>,
    pub history: RwSignal<Vec<HistoryEntry>>,
    pub pending: RwSignal<Vec<PendingOp>>,
    pub info: RwSignal<Info>,
    /// A payment request handed over in the URL or pasted.
    pub payreq_input: RwSignal<String>,
    /// A transfer token handed over in the URL.
    pub token_input: RwSignal<String>,
    /// Bumped whenever a link hands over a payment request or token.
    pub arrivals: RwSignal<u32>,
    /// The seed phrase, only while the backup screen shows it.
    pub seed: RwSignal<Option<String>>,
}

impl AppState {
    /// All signals at their start values.
    pub fn new() -> Self {
        Self {
            screen: RwSignal::new(Screen::Loading),
            message: RwSignal::new(None),
            busy: RwSignal::new(Busy::default()),
            balance: RwSignal::new(None),
            mints: RwSignal::new(vec![]),
            account_balance: RwSignal::new(None),
            history: RwSignal::new(vec![]),
            pending: RwSignal::new(vec![]),
            info: RwSignal::new(Info::default()),
            payreq_input: RwSignal::new(String::new()),
            token_input: RwSignal::new(String::new()),
            arrivals: RwSignal::new(0),
            seed: RwSignal::new(None),
        }
    }

    /// Shows a failure in words a person can act on.
    pub fn fail(&self, e: &WalletError) {
        self.message
            .set(Some((Tone::Error, crate::text::explain(e))));
    }

    /// Shows a success or note.
    pub fn say(&self, tone: Tone, text: impl Into<String>) {
        self.message.set(Some((tone, text.into())));
    }

    /// Marks a long operation as running.
    pub fn start(&self, label: &str) {
        self.message.set(None);
        self.busy.set(Busy {
            label: label.into(),
            done: 0,
            total: 0,
        });
    }

    /// Marks the long operation as done.
    pub fn stop(&self) {
        self.busy.set(Busy::default());
    }

    /// Whether a long operation runs.
    pub fn is_busy(&self) -> bool {
        !self.busy.get().label.is_empty()
    }

    /// Re-reads balance, history, pending operations and facts from the wallet.
    pub async fn refresh(&self) {
        let Some(w) = wallet() else { return };
        let w = w.lock().await;
        self.balance.set(Some(w.balance()));
        self.mints.set(w.mints());
        self.history.set(w.history());
        self.pending.set(w.pending());
        self.info.set(Info {
            bank_url: w.bank_url().to_owned(),
            fingerprint: w.master_fingerprint(),
            account_id: w.account_id().to_owned(),
            currency: w.key_set().set.currency.as_str().to_owned(),
            certified: match (w.certificate(), w.certifier()) {
                (Some(c), _) => format!(
                    "as \"{}\" by certifier {} (certificate {}, valid until {})",
                    c.cs_name,
                    c.certifier.fingerprint(),
                    c.cert_id,
                    crate::screens::money::date(c.expires_at)
                ),
                (None, Some(_)) => "pinned certifier; certificate not checked yet".into(),
                (None, None) => "no certifier pinned: the bank's master key is pinned".into(),
            },
        });
    }

    /// Re-reads the bank account's balance (needs the network).
    pub async fn refresh_account(&self) {
        let Some(w) = wallet() else { return };
        let r = w.lock().await.account_statement().await;
        match r {
            Ok(st) => self.account_balance.set(Some(st.balance.value)),
            Err(e) => self.fail(&e),
        }
    }
}
