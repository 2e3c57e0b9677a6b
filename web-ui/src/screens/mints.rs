//! The banks whose coins the wallet holds (NetCash): each with its
//! certificate and its share, a bank added by its address, and the
//! wallet's own coins exchanged into another bank's.

use leptos::prelude::*;
use leptos::task::spawn_local;
use wallet_wasm::Progress;

use crate::screens::money::{date, show_progress};
use crate::state::{AppState, Tone, wallet};
use crate::text::{money, parse_money};

/// The list of banks, the add form and the exchange form.
#[component]
pub fn Mints() -> impl IntoView {
    let state = expect_context::<AppState>();
    let url = RwSignal::new(String::new());
    let into = RwSignal::new(String::new());
    let amount = RwSignal::new(String::new());
    let cur = move || state.info.get().currency;
    let add = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        if state.is_busy() {
            return;
        }
        let u = url.get_untracked();
        if u.trim().is_empty() {
            state.say(
                Tone::Error,
                "Enter the bank's address, like https://bank.example.",
            );
            return;
        }
        let Some(w) = wallet() else { return };
        state.start("Checking the bank's certificate");
        spawn_local(async move {
            let r = w.lock().await.add_mint(u.trim()).await;
            state.stop();
            match r {
                Ok(m) => {
                    url.set(String::new());
                    into.set(m.bank_id.clone());
                    state.say(
                        Tone::Ok,
                        format!(
                            "Added {} ({}): the certifier vouches for it until {}.",
                            m.name,
                            m.bank_id,
                            m.certified_until.map(date).unwrap_or_default()
                        ),
                    );
                }
                Err(e) => state.fail(&e),
            }
            state.refresh().await;
        });
    };
    let exchange = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        if state.is_busy() {
            return;
        }
        let bank = into.get_untracked();
        if bank.is_empty() {
            state.say(Tone::Error, "Choose the bank whose coins you want.");
            return;
        }
        let Some(v) = parse_money(&amount.get_untracked()) else {
            state.say(Tone::Error, "Enter an amount like 3 or 2.50.");
            return;
        };
        let Some(w) = wallet() else { return };
        state.start("Exchanging at the other bank");
        spawn_local(async move {
            let mut cb = move |p: Progress| show_progress(state, p);
            let r = w.lock().await.exchange_into(&bank, v, Some(&mut cb)).await;
            state.stop();
            match r {
                Ok(()) => {
                    amount.set(String::new());
                    state.say(
                        Tone::Ok,
                        format!("Exchanged {} into coins of {bank}.", money(v, &cur())),
                    );
                }
                Err(e) => state.fail(&e),
            }
            state.refresh().await;
        });
    };
    // After a restore from the phrase, another bank's coins come back only
    // when that bank is scanned; it then sees this wallet's blinded coins,
    // so only a person's click starts it.
    let rescan = move |bank: String| {
        if state.is_busy() {
            return;
        }
        let Some(w) = wallet() else { return };
        state.start("Looking for your coins at the bank");
        spawn_local(async move {
            let mut cb = move |p: Progress| show_progress(state, p);
            let r = w.lock().await.restore_mint(&bank, Some(&mut cb)).await;
            state.stop();
            match r {
                Ok(rep) => state.say(
                    Tone::Ok,
                    format!(
                        "Found {} unspent coins worth {} at {bank}.",
                        rep.unspent,
                        money(rep.value, &cur())
                    ),
                ),
                Err(e) => state.fail(&e),
            }
            state.refresh().await;
        });
    };
    view! {
        <section aria-labelledby="mints-title">
            <h2 id="mints-title">"Banks"</h2>
            <p class="note">
                "Your account is at your own bank. Coins of other banks the certifier vouches for can be held too: a shop banking there is paid with them, and nobody there learns who you are."
            </p>
            <table id="mints">
                <caption>"Banks and the coins you hold of each"</caption>
                <thead>
                    <tr>
                        <th scope="col">"Bank"</th>
                        <th scope="col">"Address"</th>
                        <th scope="col">"Certified until"</th>
                        <th scope="col">"Coins"</th>
                        <th scope="col">"Restored wallet?"</th>
                    </tr>
                </thead>
                <tbody>
                    {move || {
                        let c = cur();
                        state
                            .mints
                            .get()
                            .into_iter()
                            .map(|m| {
                                let name = if m.own {
                                    format!("{} ({}, your bank)", m.name, m.bank_id)
                                } else {
                                    format!("{} ({})", m.name, m.bank_id)
                                };
                                view! {
                                    <tr data-bank=m.bank_id.clone()>
                                        <td>{name}</td>
                                        <td>{m.url.clone()}</td>
                                        <td>{m.certified_until.map(date).unwrap_or_else(|| "not certified".into())}</td>
                                        <td class="mint-total">{money(m.total, &c)}</td>
                                        <td>
                                            {(!m.own).then(|| {
                                                let id = m.bank_id.clone();
                                                view! {
                                                    <button
                                                        class="mint-restore"
                                                        type="button"
                                                        title="Finds this wallet's coins at this bank after a restore from the phrase. The bank then sees which of its exchanges were yours."
                                                        disabled=move || state.is_busy()
                                                        on:click=move |_| rescan(id.clone())
                                                    >
                                                        "Find my coins"
                                                    </button>
                                                }
                                            })}
                                        </td>
                                    </tr>
                                }
                            })
                            .collect_view()
                    }}
                </tbody>
            </table>
            <h3>"Add a bank"</h3>
            <form on:submit=add>
                <label for="mint-url">"The bank's address"</label>
                <input
                    id="mint-url"
                    type="url"
                    autocomplete="off"
                    placeholder="https://bank.example"
                    prop:value=move || url.get()
                    on:input=move |ev| url.set(event_target_value(&ev))
                />
                <button id="mint-add-btn" type="submit" disabled=move || state.is_busy()>
                    "Add"
                </button>
            </form>
            <h3>"Exchange into another bank's coins"</h3>
            <form on:submit=exchange>
                <label for="exchange-bank">"Bank"</label>
                <select
                    id="exchange-bank"
                    prop:value=move || into.get()
                    on:change=move |ev| into.set(event_target_value(&ev))
                >
                    <option value="">"Choose a bank"</option>
                    {move || {
                        state
                            .mints
                            .get()
                            .into_iter()
                            .filter(|m| !m.own)
                            .map(|m| {
                                let id = m.bank_id.clone();
                                let selected = into.get_untracked() == id;
                                view! { <option value=id selected=selected>{m.name.clone()}</option> }
                            })
                            .collect_view()
                    }}
                </select>
                <label for="exchange-amount">"Amount of your own bank's coins"</label>
                <input
                    id="exchange-amount"
                    inputmode="decimal"
                    autocomplete="off"
                    prop:value=move || amount.get()
                    on:input=move |ev| amount.set(event_target_value(&ev))
                />
                <button id="exchange-into-btn" type="submit" class="primary" disabled=move || state.is_busy()>
                    "Exchange"
                </button>
            </form>
        </section>
    }
}
