//! The JavaScript API (wasm-bindgen): what a web page embedding the wallet calls.
//!
//! Every method returns a `Promise`; failures reject with an `Error` whose
//! `name` is `EcashError` and whose `code` is the stable code of
//! [`WalletError::code`]. Calls on one wallet run one at a time.

use std::rc::Rc;

use ecash_core::{B32, PublicKey};
use futures::lock::Mutex;
use js_sys::{Function, Promise, Reflect};
use serde::Serialize;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::future_to_promise;

use crate::error::WalletError;
use crate::store::indexeddb::IndexedDbStore;
use crate::transport::FetchTransport;
use crate::wallet::{Progress, Wallet, WalletSettings};

type BrowserWallet = Wallet<IndexedDbStore, FetchTransport>;

#[wasm_bindgen(typescript_custom_section)]
const TS_TYPES: &str = r#"
/** A step of a long operation. */
export interface Progress { phase: "blinding" | "signing" | "unblinding" | "restoring"; done: number; total: number }
/** Coins held, by denomination. */
export interface Balance {
  currency: string; total: number; spendable: number; reserved: number;
  denominations: { value: number; count: number; next_expiry: number }[];
}
/** Errors thrown by the wallet carry a stable `code` (e.g. "insufficient_funds", "unreachable", "coin_spent"). */
export interface EcashError extends Error { name: "EcashError"; code: string; operation?: string; causeCode?: string }
/** One line of history: `type` is withdrawn | paid | sent | received | exchanged | spent_elsewhere | restored. */
export interface HistoryEntry { id: string; at: number; amount: number; type: string; [field: string]: unknown }
/** One bank's share of the wallet: its own bank first, then the other certified banks it knows. */
export interface MintBalance { bank_id: string; name: string; url: string; own: boolean; total: number; spendable: number; certified_until: number | null }
/** What a restore found: coins the bank had signed for this seed, those still unspent and now held, their value. */
export interface RestoreReport { found: number; unspent: number; value: number }
/** What recover did. */
export interface RecoverReport { resumed: number; completed: number; undone: number; still_pending: number; refreshed: number; recouped: number; problems: string[] }
/** Offline coins held and received (no network). */
export interface OfflineBalance { coins_value: number; coins: [number, number][]; withdrawing: number; to_deposit: number; received: number; undelivered: number }
/** The account's offline standing at the bank: collateral, allowance, penalties, freeze. */
export interface OfflineStanding { account_id: string; collateral: { currency: string; value: number }; in_use: { currency: string; value: number }; available: { currency: string; value: number }; penalties: { currency: string; value: number }; frozen: boolean; next_counter: number; unfinished: number; unfinished_cap: number; [field: string]: unknown }
/** An offline payment made: the token to hand the receiving wallet (none for a shop). */
export interface OfflineSpent { amount: number; coins: number; token: string | null }
/** What a deposit of offline coins received came to, by the bank's signed receipts. */
export interface OfflineDepositDone { coins: number; credited: number; double_spent: number; refused: number }
/** A payment request and the origin it came from (show it to the payer). */
export interface Offer { payreq: { amount: { currency: string; value: number }; description: string; merchant_acc_id: string; [field: string]: unknown }; origin: string }
"#;

/// A JS `Error` with `name = "EcashError"` and a stable `code`.
pub fn to_js_error(e: &WalletError) -> JsValue {
    let err = js_sys::Error::new(&e.to_string());
    err.set_name("EcashError");
    let _ = Reflect::set(&err, &"code".into(), &e.code().into());
    if let WalletError::Interrupted { op, source } = e {
        let _ = Reflect::set(&err, &"operation".into(), &op.as_str().into());
        let _ = Reflect::set(&err, &"causeCode".into(), &source.code().into());
    }
    err.into()
}

fn to_js<T: Serialize>(v: &T) -> Result<JsValue, JsValue> {
    let json = serde_json::to_string(v).map_err(|e| JsValue::from_str(&e.to_string()))?;
    js_sys::JSON::parse(&json)
}

fn amount_arg(v: f64) -> Result<u64, WalletError> {
    if v.is_finite() && v >= 1.0 && v.fract() == 0.0 && v <= 9_007_199_254_740_991.0 {
        Ok(v as u64)
    } else {
        Err(WalletError::Input(format!(
            "{v} is not a whole positive amount in minor units"
        )))
    }
}

fn master_arg(master_key: Option<String>) -> Result<Option<PublicKey>, WalletError> {
    master_key
        .filter(|s| !s.trim().is_empty())
        .map(|s| {
            B32::from_b64(s.trim()).map(PublicKey).ok_or_else(|| {
                WalletError::Input("the master key must be 32 bytes base64url".into())
            })
        })
        .transpose()
}

fn progress_fn(cb: Option<Function>) -> impl FnMut(Progress) {
    move |p: Progress| {
        if let (Some(f), Ok(v)) = (&cb, to_js(&p)) {
            let _ = f.call1(&JsValue::NULL, &v);
        }
    }
}

/// A wallet kept in this origin's IndexedDB.
#[wasm_bindgen]
pub struct EcashWallet {
    inner: Rc<Mutex<BrowserWallet>>,
}

#[wasm_bindgen]
impl EcashWallet {
    /// Whether a wallet exists in the IndexedDB database `dbName`.
    pub async fn exists(db_name: String) -> Result<bool, JsValue> {
        let store = IndexedDbStore::open(&db_name)
            .await
            .map_err(|e| to_js_error(&e.into()))?;
        let found = crate::store::Store::load_all(&store)
            .await
            .map_err(|e| to_js_error(&e.into()))?
            .iter()
            .any(|(k, _)| k == crate::records::META_KEY);
        store.close();
        Ok(found)
    }

    /// Creates a wallet in `dbName` for the bank at `bankUrl`, pinning
    /// `certifierKey` (base64url; any bank it certifies, asking
    /// `certifierUrl` for fresh revocations), else `masterKey`, else the
    /// bank's announced key. Show `backupSeed()` to the user once.
    pub async fn create(
        db_name: String,
        bank_url: String,
        master_key: Option<String>,
        certifier_key: Option<String>,
        certifier_url: Option<String>,
    ) -> Result<EcashWallet, JsValue> {
        let run = async {
            let pinned =
                crate::config::trust_of(master_arg(master_key)?, certifier_key, certifier_url)?;
            let store = IndexedDbStore::open(&db_name).await?;
            let (w, _phrase) = Wallet::create(
                store,
                FetchTransport,
                &bank_url,
                pinned,
                WalletSettings::default(),
            )
            .await?;
            Ok::<_, WalletError>(w)
        };
        run.await.map(Self::wrap).map_err(|e| to_js_error(&e))
    }

    /// Opens the wallet in `dbName` (no network needed).
    pub async fn open(db_name: String) -> Result<EcashWallet, JsValue> {
        let run = async {
            let store = IndexedDbStore::open(&db_name).await?;
            Wallet::open(store, FetchTransport, WalletSettings::default()).await
        };
        run.await.map(Self::wrap).map_err(|e| to_js_error(&e))
    }

    /// Restores a wallet from its seed phrase into the empty database `dbName`.
    /// `onProgress` receives `Progress` objects.
    pub async fn restore(
        db_name: String,
        bank_url: String,
        master_key: Option<String>,
        seed_phrase: String,
        on_progress: Option<Function>,
        certifier_key: Option<String>,
        certifier_url: Option<String>,
    ) -> Result<EcashWallet, JsValue> {
        let run = async {
            let pinned =
                crate::config::trust_of(master_arg(master_key)?, certifier_key, certifier_url)?;
            let store = IndexedDbStore::open(&db_name).await?;
            let mut cb = progress_fn(on_progress);
            let (w, _report) = Wallet::restore(
                store,
                FetchTransport,
                &bank_url,
                pinned,
                &seed_phrase,
                WalletSettings::default(),
                Some(&mut cb),
            )
            .await?;
            Ok::<_, WalletError>(w)
        };
        run.await.map(Self::wrap).map_err(|e| to_js_error(&e))
    }

    /// Deletes the database `dbName` with every coin in it.
    #[wasm_bindgen(js_name = deleteWallet)]
    pub async fn delete_wallet(db_name: String) -> Result<(), JsValue> {
        IndexedDbStore::delete(&db_name)
            .await
            .map_err(|e| to_js_error(&e.into()))
    }

    fn wrap(w: BrowserWallet) -> Self {
        Self {
            inner: Rc::new(Mutex::new(w)),
        }
    }

    fn call<F, Fut>(&self, f: F) -> Promise
    where
        F: FnOnce(Rc<Mutex<BrowserWallet>>) -> Fut + 'static,
        Fut: std::future::Future<Output = Result<JsValue, WalletError>> + 'static,
    {
        let inner = self.inner.clone();
        future_to_promise(async move { f(inner).await.map_err(|e| to_js_error(&e)) })
    }

    /// Closes the IndexedDB connection (needed before `deleteWallet`); the object is unusable after.
    #[wasm_bindgen(unchecked_return_type = "Promise<void>")]
    pub fn close(&self) -> Promise {
        self.call(|w| async move {
            w.lock().await.store().close();
            Ok(JsValue::UNDEFINED)
        })
    }

    /// Bank URL, master key fingerprint, account id, currency; for a
    /// certified bank its certified name, certificate expiry and certifier.
    #[wasm_bindgen(
        unchecked_return_type = "Promise<{bankUrl: string; masterFingerprint: string; accountId: string; currency: string; mintName?: string; certificateExpires?: number; certifierFingerprint?: string}>"
    )]
    pub fn info(&self) -> Promise {
        self.call(|w| async move {
            let w = w.lock().await;
            let o = js_sys::Object::new();
            let set = |k: &str, v: &str| Reflect::set(&o, &k.into(), &v.into());
            let _ = set("bankUrl", w.bank_url());
            let _ = set("masterFingerprint", &w.master_fingerprint());
            let _ = set("accountId", w.account_id());
            let _ = set("currency", w.key_set().set.currency.as_str());
            if let Some(c) = w.certificate() {
                let _ = set("mintName", &c.cs_name);
                let _ = Reflect::set(
                    &o,
                    &"certificateExpires".into(),
                    &JsValue::from_f64(c.expires_at as f64),
                );
                let _ = set("certifierFingerprint", &c.certifier.fingerprint());
            }
            Ok(o.into())
        })
    }

    /// The seed phrase, for the user's backup.
    #[wasm_bindgen(js_name = backupSeed, unchecked_return_type = "Promise<string>")]
    pub fn backup_seed(&self) -> Promise {
        self.call(|w| async move { Ok(w.lock().await.seed_phrase().into()) })
    }

    /// Coins held.
    #[wasm_bindgen(unchecked_return_type = "Promise<Balance>")]
    pub fn balance(&self) -> Promise {
        self.call(|w| async move { Ok(to_js(&w.lock().await.balance()).unwrap_or_default()) })
    }

    /// History, newest first.
    #[wasm_bindgen(unchecked_return_type = "Promise<HistoryEntry[]>")]
    pub fn history(&self) -> Promise {
        self.call(|w| async move { Ok(to_js(&w.lock().await.history()).unwrap_or_default()) })
    }

    /// Unfinished operations with their recovery state.
    #[wasm_bindgen(
        unchecked_return_type = "Promise<{id: string; kind: string; started_at: number; attempts: number; last_error: string | null}[]>"
    )]
    pub fn pending(&self) -> Promise {
        self.call(|w| async move { Ok(to_js(&w.lock().await.pending()).unwrap_or_default()) })
    }

    /// Demo faucet: credits the bank account with `amount` minor units.
    #[wasm_bindgen(unchecked_return_type = "Promise<number>")]
    pub fn faucet(&self, amount: f64) -> Promise {
        self.call(move |w| async move {
            let st = w.lock().await.faucet(amount_arg(amount)?).await?;
            Ok(JsValue::from_f64(st.balance.value as f64))
        })
    }

    /// The bank account's balance (money not yet withdrawn).
    #[wasm_bindgen(js_name = accountBalance, unchecked_return_type = "Promise<number>")]
    pub fn account_balance(&self) -> Promise {
        self.call(|w| async move {
            let st = w.lock().await.account_statement().await?;
            Ok(JsValue::from_f64(st.balance.value as f64))
        })
    }

    /// Withdraws `amount` as coins; `onProgress` sees blinding, signing, unblinding.
    #[wasm_bindgen(unchecked_return_type = "Promise<{amount: number; coins: number}>")]
    pub fn withdraw(&self, amount: f64, on_progress: Option<Function>) -> Promise {
        self.call(move |w| async move {
            let mut cb = progress_fn(on_progress);
            let done = w
                .lock()
                .await
                .withdraw(amount_arg(amount)?, Some(&mut cb))
                .await?;
            Ok(to_js(&done).unwrap_or_default())
        })
    }

    /// Fetches and checks a payment request (JSON, URL or `web+ecash:` link)
    /// without paying; resolves to it and the origin it came from.
    #[wasm_bindgen(js_name = inspectPayreq, unchecked_return_type = "Promise<Offer>")]
    pub fn inspect_payreq(&self, payreq: String) -> Promise {
        self.call(move |w| async move {
            let w = w.lock().await;
            let p = w.resolve_payreq(&payreq).await?;
            w.verify_payreq(&p).await?;
            Ok(to_js(&p).unwrap_or_default())
        })
    }

    /// Pays a payment request (JSON, URL or `web+ecash:` link); resolves to the
    /// history line with the shop's verified receipt. Its `fulfillment_url`
    /// is null when the shop's link back failed the link rule (`link_refused` says why).
    #[wasm_bindgen(unchecked_return_type = "Promise<HistoryEntry>")]
    pub fn pay(&self, payreq: String) -> Promise {
        self.call(move |w| async move {
            let mut w = w.lock().await;
            let p = w.resolve_payreq(&payreq).await?;
            let done = w.pay(p).await?;
            Ok(to_js(&done.entry).unwrap_or_default())
        })
    }

    /// Takes `amount` out as a transfer token (text, for a link or QR code).
    #[wasm_bindgen(unchecked_return_type = "Promise<string>")]
    pub fn send(&self, amount: f64) -> Promise {
        self.call(
            move |w| async move { Ok(w.lock().await.send(amount_arg(amount)?).await?.into()) },
        )
    }

    /// Claims a transfer token; resolves to the value received.
    #[wasm_bindgen(unchecked_return_type = "Promise<number>")]
    pub fn receive(&self, token: String) -> Promise {
        self.call(move |w| async move {
            let v = w.lock().await.receive(&token).await?;
            Ok(JsValue::from_f64(v as f64))
        })
    }

    /// Exchanges every coin for fresh ones (new serials, renewed expiry); resolves to the value.
    #[wasm_bindgen(unchecked_return_type = "Promise<number>")]
    pub fn exchange(&self) -> Promise {
        self.call(|w| async move {
            let v = w.lock().await.exchange_all().await?;
            Ok(JsValue::from_f64(v as f64))
        })
    }

    /// The wallet's own bank, then the other certified banks it knows, with
    /// the value held of each.
    #[wasm_bindgen(unchecked_return_type = "Promise<MintBalance[]>")]
    pub fn mints(&self) -> Promise {
        self.call(|w| async move { Ok(to_js(&w.lock().await.mints()).unwrap_or_default()) })
    }

    /// Adds the bank at `url` once the pinned certifier vouches for it there.
    #[wasm_bindgen(js_name = addMint, unchecked_return_type = "Promise<MintBalance>")]
    pub fn add_mint(&self, url: String) -> Promise {
        self.call(move |w| async move {
            let m = w.lock().await.add_mint(&url).await?;
            Ok(to_js(&m).unwrap_or_default())
        })
    }

    /// Exchanges `amount` of the wallet's own coins into coins of the known
    /// bank `bankId`, at that bank, anonymously; `onProgress` sees each phase.
    #[wasm_bindgen(js_name = exchangeInto, unchecked_return_type = "Promise<void>")]
    pub fn exchange_into(
        &self,
        bank_id: String,
        amount: f64,
        on_progress: Option<Function>,
    ) -> Promise {
        self.call(move |w| async move {
            let mut cb = progress_fn(on_progress);
            w.lock()
                .await
                .exchange_into(&bank_id, amount_arg(amount)?, Some(&mut cb))
                .await?;
            Ok(JsValue::UNDEFINED)
        })
    }

    /// Looks for this seed's coins at `bankId`, a known bank (add it again
    /// after a restore first); keeps the unspent ones. That bank sees this
    /// seed's blinded coins, so call it only when the person asks.
    #[wasm_bindgen(js_name = restoreMint, unchecked_return_type = "Promise<RestoreReport>")]
    pub fn restore_mint(&self, bank_id: String, on_progress: Option<Function>) -> Promise {
        self.call(move |w| async move {
            let mut cb = progress_fn(on_progress);
            let report = w.lock().await.restore_mint(&bank_id, Some(&mut cb)).await?;
            Ok(to_js(&report).unwrap_or_default())
        })
    }

    /// Asks the bank for a signed proof of the payment `paymentId` (base64url).
    #[wasm_bindgen(js_name = provePayment, unchecked_return_type = "Promise<any>")]
    pub fn prove_payment(&self, payment_id: String) -> Promise {
        self.call(move |w| async move {
            let id = B32::from_b64(payment_id.trim())
                .ok_or_else(|| WalletError::Input("a payment id is 32 bytes base64url".into()))?;
            let proof = w.lock().await.prove_payment(&id).await?;
            Ok(to_js(&proof).unwrap_or_default())
        })
    }

    /// Finishes or undoes unfinished operations, drops coins spent elsewhere,
    /// refreshes coins near expiry.
    #[wasm_bindgen(unchecked_return_type = "Promise<RecoverReport>")]
    pub fn recover(&self) -> Promise {
        self.call(|w| async move {
            let r = w.lock().await.recover().await?;
            Ok(to_js(&r).unwrap_or_default())
        })
    }

    /// Offline coins held, withdrawals in flight, and what was received to deposit (no network).
    #[wasm_bindgen(js_name = offlineBalance, unchecked_return_type = "Promise<OfflineBalance>")]
    pub fn offline_balance(&self) -> Promise {
        self.call(|w| async move {
            Ok(to_js(&w.lock().await.offline_balance().await?).unwrap_or_default())
        })
    }

    /// The account's offline standing at the bank.
    #[wasm_bindgen(js_name = offlineStanding, unchecked_return_type = "Promise<OfflineStanding>")]
    pub fn offline_standing(&self) -> Promise {
        self.call(|w| async move {
            Ok(to_js(&w.lock().await.offline_standing().await?).unwrap_or_default())
        })
    }

    /// Locks (`lock = true`) or releases `amount` of the account balance as
    /// collateral: the offline allowance.
    #[wasm_bindgen(js_name = offlineCollateral, unchecked_return_type = "Promise<OfflineStanding>")]
    pub fn offline_collateral(&self, lock: bool, amount: f64) -> Promise {
        self.call(move |w| async move {
            let s = w
                .lock()
                .await
                .offline_collateral(lock, amount_arg(amount)?)
                .await?;
            Ok(to_js(&s).unwrap_or_default())
        })
    }

    /// Withdraws `amount` as offline coins against the allowance.
    #[wasm_bindgen(
        js_name = offlineWithdraw,
        unchecked_return_type = "Promise<{amount: number; coins: number}>"
    )]
    pub fn offline_withdraw(&self, amount: f64, on_progress: Option<Function>) -> Promise {
        self.call(move |w| async move {
            let mut cb = progress_fn(on_progress);
            let done = w
                .lock()
                .await
                .offline_withdraw(amount_arg(amount)?, Some(&mut cb))
                .await?;
            Ok(to_js(&done).unwrap_or_default())
        })
    }

    /// An invoice for `amount` of offline coins, to show the payer (no network).
    #[wasm_bindgen(js_name = offlineInvoice, unchecked_return_type = "Promise<string>")]
    pub fn offline_invoice(&self, amount: f64) -> Promise {
        self.call(move |w| async move {
            Ok(w.lock()
                .await
                .offline_invoice(amount_arg(amount)?)
                .await?
                .into())
        })
    }

    /// Pays an offline invoice with no network; resolves to the token to hand over.
    #[wasm_bindgen(js_name = offlinePay, unchecked_return_type = "Promise<OfflineSpent>")]
    pub fn offline_pay(&self, invoice: String) -> Promise {
        self.call(move |w| async move {
            Ok(to_js(&w.lock().await.offline_pay_invoice(&invoice).await?).unwrap_or_default())
        })
    }

    /// Pays `amount` offline at the shop at `shopUrl` (the shop needs no bank).
    #[wasm_bindgen(js_name = offlinePayShop, unchecked_return_type = "Promise<OfflineSpent>")]
    pub fn offline_pay_shop(&self, shop_url: String, amount: f64) -> Promise {
        self.call(move |w| async move {
            let done = w
                .lock()
                .await
                .offline_pay_shop(&shop_url, amount_arg(amount)?)
                .await?;
            Ok(to_js(&done).unwrap_or_default())
        })
    }

    /// Takes an offline token with no network; resolves to what it brought.
    #[wasm_bindgen(
        js_name = offlineReceive,
        unchecked_return_type = "Promise<{amount: number; coins: number}>"
    )]
    pub fn offline_receive(&self, token: String) -> Promise {
        self.call(move |w| async move {
            Ok(to_js(&w.lock().await.offline_receive(&token).await?).unwrap_or_default())
        })
    }

    /// Deposits what was received offline (needs the bank).
    #[wasm_bindgen(js_name = offlineDeposit, unchecked_return_type = "Promise<OfflineDepositDone>")]
    pub fn offline_deposit(&self) -> Promise {
        self.call(|w| async move {
            Ok(to_js(&w.lock().await.offline_deposit().await?).unwrap_or_default())
        })
    }

    /// Sends again the spends a shop did not confirm; resolves to how many it confirmed now.
    #[wasm_bindgen(js_name = offlineResend, unchecked_return_type = "Promise<number>")]
    pub fn offline_resend(&self) -> Promise {
        self.call(|w| async move {
            let (done, _) = w.lock().await.offline_resend().await?;
            Ok(JsValue::from_f64(done as f64))
        })
    }

    /// Finishes offline withdrawals a crash or a cut connection interrupted;
    /// resolves to how many coins they made.
    #[wasm_bindgen(js_name = offlineRecover, unchecked_return_type = "Promise<number>")]
    pub fn offline_recover(&self) -> Promise {
        self.call(|w| async move {
            let n = w.lock().await.offline_finish_withdrawals().await?;
            Ok(JsValue::from_f64(n as f64))
        })
    }

    /// The tokens of offline payments made to wallets, to hand over again.
    #[wasm_bindgen(js_name = offlineTokens, unchecked_return_type = "Promise<string[]>")]
    pub fn offline_tokens(&self) -> Promise {
        self.call(|w| async move {
            Ok(to_js(&w.lock().await.offline_tokens().await?).unwrap_or_default())
        })
    }
}
