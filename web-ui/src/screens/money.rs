//! Balance, withdraw, send and receive.

use leptos::prelude::*;
use leptos::task::spawn_local;
use wallet_wasm::Progress;

use crate::state::{AppState, Busy, Screen, Tone, wallet};
use crate::text::{money, parse_money};

fn currency(state: AppState) -> String {
    state.info.get().currency
}

/// A unix time as a date for people.
pub fn date(unix: u64) -> String {
    let d = js_sys::Date::new(&wasm_bindgen::JsValue::from_f64(unix as f64 * 1000.0));
    String::from(d.to_locale_date_string("en-GB", &wasm_bindgen::JsValue::UNDEFINED))
}

/// Shows a step of a long operation on the progress bar.
pub fn show_progress(state: AppState, p: Progress) {
    let label = match p.phase {
        "blinding" => "Blinding coins",
        "signing" => "The bank is signing",
        "unblinding" => "Unblinding and checking signatures",
        _ => "Working",
    };
    state.busy.set(Busy {
        label: label.into(),
        done: p.done,
        total: p.total,
    });
}

/// Total and coins by denomination, with expiry.
#[component]
pub fn BalanceScreen() -> impl IntoView {
    let state = expect_context::<AppState>();
    view! {
        <section aria-labelledby="balance-title">
            <h2 id="balance-title">"Balance"</h2>
            <p class="total">
                <span id="balance-total">
                    {move || {
                        state.balance.get().map(|b| money(b.total, &b.currency)).unwrap_or_default()
                    }}
                </span>
            </p>
            {move || {
                // With coins of several banks, each bank's share (see Banks).
                let mints = state.mints.get();
                let cur = currency(state);
                (mints.len() > 1)
                    .then(|| {
                        view! {
                            <ul id="balance-by-bank" class="note">
                                {mints
                                    .into_iter()
                                    .map(|m| {
                                        view! {
                                            <li data-bank=m.bank_id.clone()>
                                                {format!("{}: {}", m.name, money(m.total, &cur))}
                                            </li>
                                        }
                                    })
                                    .collect_view()}
                            </ul>
                        }
                    })
            }}
            {move || {
                state
                    .balance
                    .get()
                    .filter(|b| b.reserved > 0)
                    .map(|b| {
                        view! {
                            <p id="balance-reserved" class="note">
                                {format!(
                                    "{} is held by an unfinished operation (see History).",
                                    money(b.reserved, &b.currency),
                                )}
                            </p>
                        }
                    })
            }}
            <table id="denominations">
                <caption>"Coins"</caption>
                <thead>
                    <tr>
                        <th scope="col">"Value"</th>
                        <th scope="col">"Count"</th>
                        <th scope="col">"Expires"</th>
                    </tr>
                </thead>
                <tbody>
                    {move || {
                        let cur = currency(state);
                        state
                            .balance
                            .get()
                            .map(|b| b.denominations)
                            .unwrap_or_default()
                            .into_iter()
                            .map(|d| {
                                view! {
                                    <tr>
                                        <td>{money(d.value, &cur)}</td>
                                        <td>{d.count}</td>
                                        <td>{date(d.next_expiry)}</td>
                                    </tr>
                                }
                            })
                            .collect_view()
                    }}
                </tbody>
            </table>
            <p class="actions">
                <button class="primary" on:click=move |_| state.screen.set(Screen::Withdraw)>"Withdraw"</button>
                <button on:click=move |_| state.screen.set(Screen::Send)>"Send"</button>
                <button on:click=move |_| state.screen.set(Screen::Receive)>"Receive"</button>
            </p>
        </section>
    }
}

/// Demo faucet and withdraw, with a progress bar.
#[component]
pub fn Withdraw() -> impl IntoView {
    let state = expect_context::<AppState>();
    let amount = RwSignal::new(String::new());
    let faucet_amount = RwSignal::new("100".to_owned());
    spawn_local(async move { state.refresh_account().await });
    let faucet = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let Some(v) = parse_money(&faucet_amount.get_untracked()) else {
            state.say(Tone::Error, "Enter an amount like 100 or 12.50.");
            return;
        };
        let Some(w) = wallet() else { return };
        state.start("Asking the demo faucet");
        spawn_local(async move {
            let r = w.lock().await.faucet(v).await;
            state.stop();
            match r {
                Ok(st) => {
                    state.account_balance.set(Some(st.balance.value));
                    state.say(
                        Tone::Ok,
                        format!(
                            "{} credited to your bank account.",
                            money(v, &currency(state))
                        ),
                    );
                }
                Err(e) => state.fail(&e),
            }
        });
    };
    let withdraw = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        if state.is_busy() {
            return;
        }
        let Some(v) = parse_money(&amount.get_untracked()) else {
            state.say(Tone::Error, "Enter an amount like 5 or 12.50.");
            return;
        };
        let Some(w) = wallet() else { return };
        state.start("Withdrawing");
        spawn_local(async move {
            let mut cb = move |p: Progress| show_progress(state, p);
            let r = w.lock().await.withdraw(v, Some(&mut cb)).await;
            state.stop();
            match r {
                Ok(done) => {
                    amount.set(String::new());
                    state.say(
                        Tone::Ok,
                        format!(
                            "Withdrew {} as {} coins.",
                            money(done.amount, &currency(state)),
                            done.coins
                        ),
                    );
                }
                Err(e) => state.fail(&e),
            }
            state.refresh().await;
            state.refresh_account().await;
        });
    };
    view! {
        <section aria-labelledby="withdraw-title">
            <h2 id="withdraw-title">"Withdraw"</h2>
            <p>
                "Bank account: "
                <strong id="account-balance">
                    {move || {
                        state
                            .account_balance
                            .get()
                            .map(|v| money(v, &currency(state)))
                            .unwrap_or_else(|| "…".into())
                    }}
                </strong>
            </p>
            <form on:submit=withdraw>
                <label for="withdraw-amount">"Amount to withdraw as coins"</label>
                <input
                    id="withdraw-amount"
                    inputmode="decimal"
                    autocomplete="off"
                    placeholder="e.g. 5.00"
                    prop:value=move || amount.get()
                    on:input=move |ev| amount.set(event_target_value(&ev))
                />
                <button id="withdraw-btn" type="submit" class="primary" disabled=move || state.is_busy()>
                    "Withdraw"
                </button>
            </form>
            <h3>"Demo money"</h3>
            <form on:submit=faucet>
                <label for="faucet-amount">"Amount the demo faucet credits to your bank account"</label>
                <input
                    id="faucet-amount"
                    inputmode="decimal"
                    prop:value=move || faucet_amount.get()
                    on:input=move |ev| faucet_amount.set(event_target_value(&ev))
                />
                <button id="faucet-btn" type="submit" disabled=move || state.is_busy()>
                    "Get demo money"
                </button>
            </form>
        </section>
    }
}

fn qr_svg(text: &str) -> Option<String> {
    let code =
        qrcode::QrCode::with_error_correction_level(text.as_bytes(), qrcode::EcLevel::L).ok()?;
    Some(
        code.render::<qrcode::render::svg::Color<'_>>()
            .min_dimensions(220, 220)
            .quiet_zone(true)
            .build(),
    )
}

/// A transfer token as text and QR code.
#[component]
pub fn Send() -> impl IntoView {
    let state = expect_context::<AppState>();
    let amount = RwSignal::new(String::new());
    let token = RwSignal::new(None::<String>);
    let send = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        if state.is_busy() {
            return;
        }
        let Some(v) = parse_money(&amount.get_untracked()) else {
            state.say(Tone::Error, "Enter an amount like 1 or 0.40.");
            return;
        };
        let Some(w) = wallet() else { return };
        state.start("Preparing the coins");
        spawn_local(async move {
            let r = w.lock().await.send(v).await;
            state.stop();
            match r {
                Ok(t) => {
                    token.set(Some(t));
                    state.say(
                        Tone::Ok,
                        format!("{} left the wallet. Give the token to the receiver; it is shown in History too.", money(v, &currency(state))),
                    );
                }
                Err(e) => state.fail(&e),
            }
            state.refresh().await;
        });
    };
    view! {
        <section aria-labelledby="send-title">
            <h2 id="send-title">"Send"</h2>
            <form on:submit=send>
                <label for="send-amount">"Amount"</label>
                <input
                    id="send-amount"
                    inputmode="decimal"
                    autocomplete="off"
                    prop:value=move || amount.get()
                    on:input=move |ev| amount.set(event_target_value(&ev))
                />
                <button id="send-btn" type="submit" class="primary" disabled=move || state.is_busy()>
                    "Make a transfer token"
                </button>
            </form>
            {move || {
                token
                    .get()
                    .map(|t| {
                        // The wallet's own address, the token in the fragment:
                        // no server ever sees it, so no log can hold it.
                        let here = web_sys::window()
                            .and_then(|w| w.location().origin().ok())
                            .unwrap_or_default();
                        let link = wallet_wasm::token::link(&format!("{here}/"), &t)
                            .unwrap_or_default();
                        let svg = qr_svg(&t);
                        view! {
                            <label for="token-text">"Transfer token"</label>
                            <textarea id="token-text" rows="5" readonly>{t.clone()}</textarea>
                            <p><a id="token-link" href=link>"Link to receive it"</a></p>
                            {match svg {
                                Some(svg) => view! { <div class="qr" role="img" aria-label="QR code of the token" inner_html=svg></div> }.into_any(),
                                None => view! { <p class="note">"Too many coins for one QR code; share the text or the link."</p> }.into_any(),
                            }}
                        }
                    })
            }}
        </section>
    }
}

/// Paste a token and claim it.
#[component]
pub fn Receive() -> impl IntoView {
    let state = expect_context::<AppState>();
    let receive = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        if state.is_busy() {
            return;
        }
        let t = state.token_input.get_untracked();
        if t.trim().is_empty() {
            state.say(Tone::Error, "Paste a transfer token first.");
            return;
        }
        let Some(w) = wallet() else { return };
        state.start("Claiming the coins at the bank");
        spawn_local(async move {
            let r = w.lock().await.receive(&t).await;
            state.stop();
            match r {
                Ok(v) => {
                    state.token_input.set(String::new());
                    state.say(
                        Tone::Ok,
                        format!("Received {}.", money(v, &currency(state))),
                    );
                }
                Err(e) => state.fail(&e),
            }
            state.refresh().await;
        });
    };
    view! {
        <section aria-labelledby="receive-title">
            <h2 id="receive-title">"Receive"</h2>
            <form on:submit=receive>
                <label for="receive-token">"Transfer token"</label>
                <textarea
                    id="receive-token"
                    rows="5"
                    spellcheck="false"
                    placeholder="ecash1…"
                    prop:value=move || state.token_input.get()
                    on:input=move |ev| state.token_input.set(event_target_value(&ev))
                ></textarea>
                <button id="receive-btn" type="submit" class="primary" disabled=move || state.is_busy()>
                    "Receive"
                </button>
            </form>
        </section>
    }
}
