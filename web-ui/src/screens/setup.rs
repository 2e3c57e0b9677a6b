//! First run (create or restore), the one-time seed backup, and settings.

use leptos::prelude::*;
use leptos::task::spawn_local;
use wallet_wasm::config::WalletConfig;
use wallet_wasm::store::indexeddb::IndexedDbStore;
use wallet_wasm::transport::FetchTransport;
use wallet_wasm::{Progress, Trust, Wallet, WalletError, WalletSettings};

use crate::state::{AppState, Busy, DB_NAME, Screen, Tone, set_wallet, wallet};

fn origin() -> String {
    web_sys::window()
        .and_then(|w| w.location().origin().ok())
        .unwrap_or_default()
}

/// The trust the wallet's own origin configures (`wallet-config.json`
/// beside this page): a certifier to pin, or, with no such file, the bank's
/// announced master key on first use. A file that is there but unusable is
/// an error: silently trusting on first use instead would hide it.
async fn configured_trust() -> Result<Trust, WalletError> {
    use ecash_core::client::{HttpRequest, Transport};
    let url = format!("{}/wallet-config.json", origin());
    let resp = FetchTransport
        .send(HttpRequest {
            method: ecash_core::api::Method::Get,
            url: url.clone(),
            headers: Vec::new(),
            body: None,
        })
        .await
        .map_err(|e| WalletError::Unreachable {
            url: url.clone(),
            reason: e.0,
        })?;
    match resp.status {
        200 => WalletConfig::parse(&String::from_utf8_lossy(&resp.body))?.trust(),
        404 => Ok(Trust::FirstUse),
        status => Err(WalletError::BadAnswer {
            url,
            reason: format!("status {status}"),
        }),
    }
}

/// Create a wallet, or restore one from its seed phrase.
#[component]
pub fn FirstRun() -> impl IntoView {
    let state = expect_context::<AppState>();
    let bank = RwSignal::new(origin());
    let phrase = RwSignal::new(String::new());
    let create = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        if state.is_busy() {
            return;
        }
        state.start("Creating the wallet");
        spawn_local(async move {
            let result = async {
                let trust = configured_trust().await?;
                let store = IndexedDbStore::open(DB_NAME).await?;
                Wallet::create(
                    store,
                    FetchTransport,
                    &bank.get_untracked(),
                    trust,
                    WalletSettings::default(),
                )
                .await
            }
            .await;
            state.stop();
            match result {
                Ok((w, seed)) => {
                    set_wallet(Some(w));
                    crate::app::register_protocol_handler();
                    state.seed.set(Some(seed));
                    state.refresh().await;
                    state.screen.set(Screen::Backup);
                }
                Err(e) => state.fail(&e),
            }
        });
    };
    let restore = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        if state.is_busy() {
            return;
        }
        state.start("Restoring coins from the seed");
        spawn_local(async move {
            let mut cb = move |p: Progress| {
                state.busy.set(Busy {
                    label: "Restoring coins from the seed".into(),
                    done: p.done,
                    total: p.total,
                })
            };
            let result = async {
                let trust = configured_trust().await?;
                let store = IndexedDbStore::open(DB_NAME).await?;
                Wallet::restore(
                    store,
                    FetchTransport,
                    &bank.get_untracked(),
                    trust,
                    &phrase.get_untracked(),
                    WalletSettings::default(),
                    Some(&mut cb),
                )
                .await
            }
            .await;
            state.stop();
            match result {
                Ok((w, report)) => {
                    set_wallet(Some(w));
                    phrase.set(String::new());
                    state.refresh().await;
                    state.say(
                        Tone::Ok,
                        format!(
                            "Restored {} coin(s) worth {}.",
                            report.unspent,
                            crate::text::money(report.value, &state.info.get_untracked().currency)
                        ),
                    );
                    state.screen.set(Screen::Balance);
                }
                Err(e) => state.fail(&e),
            }
        });
    };
    view! {
        <section aria-labelledby="first-run-title">
            <h2 id="first-run-title">"Welcome"</h2>
            <p>
                "This wallet keeps e-cash coins in this browser. The bank signs them without seeing them, so shops and the bank cannot tell who pays."
            </p>
            <form on:submit=create>
                <label for="bank-url">"Bank"</label>
                <input
                    id="bank-url"
                    type="url"
                    required
                    prop:value=move || bank.get()
                    on:input=move |ev| bank.set(event_target_value(&ev))
                />
                <button id="create" type="submit" class="primary" disabled=move || state.is_busy()>
                    "Create a new wallet"
                </button>
            </form>
            <h3>"Restore from a seed phrase"</h3>
            <form on:submit=restore>
                <label for="restore-phrase">"Seed phrase (64 hexadecimal digits)"</label>
                <textarea
                    id="restore-phrase"
                    rows="3"
                    autocomplete="off"
                    spellcheck="false"
                    prop:value=move || phrase.get()
                    on:input=move |ev| phrase.set(event_target_value(&ev))
                ></textarea>
                <button id="restore" type="submit" disabled=move || state.is_busy()>
                    "Restore"
                </button>
            </form>
        </section>
    }
}

/// Shows the seed phrase once, then offers demo money.
#[component]
pub fn Backup() -> impl IntoView {
    let state = expect_context::<AppState>();
    let done = move |_| {
        state.seed.set(None);
        state.say(
            Tone::Ok,
            "Wallet ready. Get some demo money, then withdraw it as coins.",
        );
        state.screen.set(Screen::Withdraw);
    };
    view! {
        <section aria-labelledby="backup-title">
            <h2 id="backup-title">"Write down your seed phrase"</h2>
            <p>
                "It restores every coin if this browser loses them. Anyone who has it can spend your coins. It is shown only now."
            </p>
            <pre id="seed-phrase" class="seed">{move || state.seed.get().unwrap_or_default()}</pre>
            <button id="seed-ok" class="primary" on:click=done>
                "I have written it down"
            </button>
        </section>
    }
}

/// Bank, keys, backup, protocol handler, delete.
#[component]
pub fn Settings() -> impl IntoView {
    let state = expect_context::<AppState>();
    let shown_seed = RwSignal::new(None::<String>);
    let show_seed = move |_| {
        spawn_local(async move {
            if let Some(w) = wallet() {
                shown_seed.set(Some(w.lock().await.seed_phrase()));
            }
        })
    };
    let register = move |_| {
        if crate::app::register_protocol_handler() {
            state.say(
                Tone::Ok,
                "web+ecash: links now open this wallet (if the browser asked, accept).",
            );
        } else {
            state.say(Tone::Info, "This browser does not let web pages handle web+ecash: links; the shop's plain link still works.");
        }
    };
    let confirm_delete = RwSignal::new(false);
    let delete = move |_| {
        if !confirm_delete.get_untracked() {
            confirm_delete.set(true);
            return;
        }
        spawn_local(async move {
            if let Some(w) = wallet() {
                w.lock().await.store().close();
            }
            set_wallet(None);
            match IndexedDbStore::delete(DB_NAME).await {
                Ok(()) => {
                    state.balance.set(None);
                    state.say(Tone::Info, "The wallet was deleted from this browser.");
                    state.screen.set(Screen::FirstRun);
                }
                Err(e) => state.fail(&WalletError::from(e)),
            }
        });
    };
    view! {
        <section aria-labelledby="settings-title">
            <h2 id="settings-title">"Settings"</h2>
            <dl class="facts">
                <dt>"Bank"</dt>
                <dd id="settings-bank">{move || state.info.get().bank_url}</dd>
                <dt>"Bank master key (fingerprint)"</dt>
                <dd id="settings-fingerprint"><code>{move || state.info.get().fingerprint}</code></dd>
                <dt>"Certified"</dt>
                <dd id="settings-certificate">{move || state.info.get().certified}</dd>
                <dt>"Bank account"</dt>
                <dd><code>{move || state.info.get().account_id}</code></dd>
                <dt>"Currency"</dt>
                <dd>{move || state.info.get().currency}</dd>
            </dl>
            <h3>"Backup"</h3>
            {move || match shown_seed.get() {
                Some(s) => view! { <pre id="settings-seed" class="seed">{s}</pre> }.into_any(),
                None => view! { <button id="show-seed" on:click=show_seed>"Show seed phrase"</button> }.into_any(),
            }}
            <h3>"Links"</h3>
            <button id="register-handler" on:click=register>"Open web+ecash: links with this wallet"</button>
            <h3>"Restore from seed"</h3>
            <p>"To restore another wallet, delete this one first (back up its seed phrase!), then choose Restore."</p>
            <button id="delete-wallet" class="danger" on:click=delete>
                {move || if confirm_delete.get() { "Really delete every coin in this browser?" } else { "Delete this wallet" }}
            </button>
        </section>
    }
}
