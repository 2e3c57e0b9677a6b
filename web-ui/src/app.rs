//! The shell: start-up, navigation, the message banner, the progress bar, and screen routing.

use leptos::prelude::*;
use leptos::task::spawn_local;
use wallet_wasm::store::Store;
use wallet_wasm::store::indexeddb::IndexedDbStore;
use wallet_wasm::transport::FetchTransport;
use wallet_wasm::{Wallet, WalletSettings};

use crate::screens::{history, mints, money, pay, setup};
use crate::state::{AppState, DB_NAME, Screen, Tone, set_wallet};

/// Reads `#payreq=` / `#token=` (also as `web+ecash:` links) and clears them
/// from the address bar. They travel in the fragment, which the browser
/// never sends to a server, so no server log ever holds them.
fn take_url_inputs(state: AppState) {
    let Some(window) = web_sys::window() else {
        return;
    };
    let Ok(hash) = window.location().hash() else {
        return;
    };
    let payreq = wallet_wasm::links::fragment_value(&hash, "payreq");
    let token = wallet_wasm::links::fragment_value(&hash, "token");
    if let Some(p) = &payreq {
        state.payreq_input.set(p.trim().to_owned());
    }
    if let Some(t) = &token {
        state.token_input.set(t.trim().to_owned());
    }
    if payreq.is_some() || token.is_some() {
        state.arrivals.update(|n| *n += 1);
    }
    if !hash.is_empty()
        && let Ok(history) = window.history()
    {
        let _ = history.replace_state_with_url(&wasm_bindgen::JsValue::NULL, "", Some("/"));
    }
}

/// Asks the browser to send `web+ecash:` links to this wallet (where it allows it).
pub fn register_protocol_handler() -> bool {
    let Some(window) = web_sys::window() else {
        return false;
    };
    let Ok(origin) = window.location().origin() else {
        return false;
    };
    let nav = window.navigator();
    let f = js_sys::Reflect::get(&nav, &"registerProtocolHandler".into())
        .ok()
        .and_then(|f| wasm_bindgen::JsCast::dyn_into::<js_sys::Function>(f).ok());
    match f {
        Some(f) => f
            .call2(
                &nav,
                &"web+ecash".into(),
                &format!("{origin}/#payreq=%s").into(),
            )
            .is_ok(),
        None => false,
    }
}

/// A link followed while the wallet is open changes only the fragment: take
/// what it brings and show the screen for it.
fn listen_for_links(state: AppState) {
    let Some(window) = web_sys::window() else {
        return;
    };
    let on_change = wasm_bindgen::closure::Closure::<dyn FnMut()>::new(move || {
        take_url_inputs(state);
        if crate::state::wallet().is_none() {
            return;
        }
        if !state.payreq_input.get_untracked().is_empty() {
            state.screen.set(Screen::Pay);
        } else if !state.token_input.get_untracked().is_empty() {
            state.screen.set(Screen::Receive);
        }
    });
    let _ = window.add_event_listener_with_callback(
        "hashchange",
        wasm_bindgen::JsCast::unchecked_ref(on_change.as_ref()),
    );
    // Lives as long as the page.
    on_change.forget();
}

async fn start(state: AppState) {
    take_url_inputs(state);
    listen_for_links(state);
    let store = match IndexedDbStore::open(DB_NAME).await {
        Ok(s) => s,
        Err(e) => {
            state.say(
                Tone::Error,
                format!("This browser does not let the wallet store coins: {e}"),
            );
            state.screen.set(Screen::FirstRun);
            return;
        }
    };
    let exists = match store.load_all().await {
        Ok(records) => records
            .iter()
            .any(|(k, _)| k == wallet_wasm::records::META_KEY),
        Err(e) => {
            state.say(Tone::Error, format!("Reading the wallet failed: {e}"));
            false
        }
    };
    if !exists {
        state.screen.set(Screen::FirstRun);
        return;
    }
    match Wallet::open(store, FetchTransport, WalletSettings::default()).await {
        Ok(w) => set_wallet(Some(w)),
        Err(e) => {
            state.fail(&e);
            state.screen.set(Screen::FirstRun);
            return;
        }
    }
    state.refresh().await;
    state
        .screen
        .set(if !state.payreq_input.get_untracked().is_empty() {
            Screen::Pay
        } else if !state.token_input.get_untracked().is_empty() {
            Screen::Receive
        } else {
            Screen::Balance
        });
    // Finish whatever a closed tab or a lost connection left unfinished.
    background_recover(state).await;
}

/// Runs `recover` quietly; speaks only when it did something or failed.
pub async fn background_recover(state: AppState) {
    let Some(w) = crate::state::wallet() else {
        return;
    };
    let r = w.lock().await.recover().await;
    match r {
        Ok(r) if r.resumed > 0 || r.refreshed > 0 || r.recouped > 0 => {
            let mut parts = vec![];
            if r.completed > 0 {
                parts.push(format!("{} unfinished operation(s) completed", r.completed));
            }
            if r.undone > 0 {
                parts.push(format!(
                    "{} refused operation(s) undone, coins given back",
                    r.undone
                ));
            }
            if r.still_pending > 0 {
                parts.push(format!("{} still waiting for the network", r.still_pending));
            }
            if r.recouped > 0 {
                parts.push(format!(
                    "{} coin(s) of a key the bank revoked recouped",
                    r.recouped
                ));
            }
            if r.refreshed > 0 {
                parts.push(format!("{} coin(s) near expiry renewed", r.refreshed));
            }
            state.say(Tone::Info, format!("Recovery: {}.", parts.join("; ")));
        }
        Ok(_) => {}
        Err(e) => state.fail(&e),
    }
    state.refresh().await;
}

#[component]
fn Nav() -> impl IntoView {
    let state = expect_context::<AppState>();
    let item = move |screen: Screen, id: &'static str, label: &'static str| {
        view! {
            <li>
                <button
                    id=id
                    class="nav"
                    aria-current=move || (state.screen.get() == screen).then_some("page")
                    on:click=move |_| {
                        state.message.set(None);
                        state.screen.set(screen);
                    }
                >
                    {label}
                </button>
            </li>
        }
    };
    view! {
        <nav aria-label="Wallet">
            <ul>
                {item(Screen::Balance, "nav-balance", "Balance")}
                {item(Screen::Withdraw, "nav-withdraw", "Withdraw")}
                {item(Screen::Pay, "nav-pay", "Pay")}
                {item(Screen::Send, "nav-send", "Send")}
                {item(Screen::Receive, "nav-receive", "Receive")}
                {item(Screen::Mints, "nav-mints", "Banks")}
                {item(Screen::History, "nav-history", "History")}
                {item(Screen::Settings, "nav-settings", "Settings")}
            </ul>
        </nav>
    }
}

#[component]
fn Banner() -> impl IntoView {
    let state = expect_context::<AppState>();
    view! {
        <div id="message-area" aria-live="polite">
            {move || {
                state
                    .message
                    .get()
                    .map(|(tone, text)| {
                        let (class, role) = match tone {
                            Tone::Error => ("message error", "alert"),
                            Tone::Ok => ("message ok", "status"),
                            Tone::Info => ("message info", "status"),
                        };
                        view! {
                            <p id="message" class=class role=role>
                                {text}
                                <button
                                    class="dismiss"
                                    aria-label="Dismiss message"
                                    on:click=move |_| state.message.set(None)
                                >
                                    "×"
                                </button>
                            </p>
                        }
                    })
            }}
        </div>
        <div id="busy" aria-live="polite">
            {move || {
                let b = state.busy.get();
                (!b.label.is_empty())
                    .then(|| {
                        view! {
                            <label for="progress">{b.label.clone()}</label>
                            <progress
                                id="progress"
                                max=b.total.max(1)
                                value=if b.total == 0 { None } else { Some(b.done) }
                            ></progress>
                        }
                    })
            }}
        </div>
    }
}

/// The whole app.
#[component]
pub fn App() -> impl IntoView {
    let state = AppState::new();
    provide_context(state);
    spawn_local(start(state));
    let has_wallet = move || {
        !matches!(
            state.screen.get(),
            Screen::Loading | Screen::FirstRun | Screen::Backup
        )
    };
    view! {
        <header>
            <h1>"e-cash wallet"</h1>
        </header>
        <Show when=has_wallet>
            <Nav />
        </Show>
        <main id="main">
            <Banner />
            {move || match state.screen.get() {
                Screen::Loading => view! { <p id="loading">"Opening the wallet…"</p> }.into_any(),
                Screen::FirstRun => view! { <setup::FirstRun /> }.into_any(),
                Screen::Backup => view! { <setup::Backup /> }.into_any(),
                Screen::Balance => view! { <money::BalanceScreen /> }.into_any(),
                Screen::Withdraw => view! { <money::Withdraw /> }.into_any(),
                Screen::Pay => view! { <pay::Pay /> }.into_any(),
                Screen::Send => view! { <money::Send /> }.into_any(),
                Screen::Receive => view! { <money::Receive /> }.into_any(),
                Screen::Mints => view! { <mints::Mints /> }.into_any(),
                Screen::History => view! { <history::History /> }.into_any(),
                Screen::Settings => view! { <setup::Settings /> }.into_any(),
            }}
        </main>
    }
}
