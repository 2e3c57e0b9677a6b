//! History: payments with receipts and proofs, transfers, and unfinished operations.

use leptos::prelude::*;
use leptos::task::spawn_local;
use wallet_wasm::records::{Event, HistoryEntry};

use crate::state::{AppState, Tone, wallet};
use crate::text::money;

fn describe(e: &HistoryEntry) -> (String, String) {
    match &e.event {
        Event::Withdrawn { coins } => ("Withdrawn".into(), format!("{coins} coins")),
        Event::Paid {
            payreq,
            receipt,
            proof,
            ..
        } => (
            "Paid".into(),
            format!(
                "{} — {}{}",
                payreq.description,
                if receipt.is_some() {
                    "signed receipt"
                } else {
                    "no receipt"
                },
                if proof.is_some() { ", bank proof" } else { "" }
            ),
        ),
        Event::Sent { .. } => ("Sent".into(), "transfer token".into()),
        Event::Received { coins } => ("Received".into(), format!("{coins} coins")),
        Event::Exchanged { purpose } => ("Exchanged".into(), purpose.name().into()),
        Event::SpentElsewhere { coins } => ("Spent elsewhere".into(), format!("{coins} coins")),
        Event::Restored { coins } => ("Restored".into(), format!("{coins} coins")),
        Event::OfflineWithdrawn { coins } => {
            ("Offline coins withdrawn".into(), format!("{coins} coins"))
        }
        Event::OfflineSpent { to, coins } => {
            ("Paid offline".into(), format!("{coins} coins to {to}"))
        }
        Event::OfflineReceived { coins } => (
            "Received offline".into(),
            format!("{coins} coins, deposited when online"),
        ),
        Event::OfflineDeposited {
            coins,
            double_spent,
        } => (
            "Offline coins deposited".into(),
            format!("{coins} coins, {double_spent} spent twice by their payer"),
        ),
    }
}

/// The history screen.
#[component]
pub fn History() -> impl IntoView {
    let state = expect_context::<AppState>();
    let recover = move |_| {
        if state.is_busy() {
            return;
        }
        state.start("Recovering");
        spawn_local(async move {
            crate::app::background_recover(state).await;
            state.stop();
            if state.message.get_untracked().is_none() {
                state.say(Tone::Ok, "Nothing to recover.");
            }
        });
    };
    let prove = move |payment_id: ecash_core::B32| {
        let Some(w) = wallet() else { return };
        state.start("Asking the bank for a proof of payment");
        spawn_local(async move {
            let r = w.lock().await.prove_payment(&payment_id).await;
            state.stop();
            match r {
                Ok(p) => state.say(
                    Tone::Ok,
                    format!(
                        "The bank signed a proof: payment {} made at {}.",
                        p.body.payment_id.to_b64(),
                        p.body.deposited_at
                    ),
                ),
                Err(e) => state.fail(&e),
            }
            state.refresh().await;
        });
    };
    view! {
        <section aria-labelledby="history-title">
            <h2 id="history-title">"History"</h2>
            <h3>"Unfinished operations"</h3>
            {move || {
                let pending = state.pending.get();
                if pending.is_empty() {
                    view! { <p id="pending-none">"None."</p> }.into_any()
                } else {
                    view! {
                        <ul id="pending">
                            {pending
                                .into_iter()
                                .map(|p| {
                                    view! {
                                        <li>
                                            <strong>{p.kind}</strong>
                                            {format!(" — {} attempt(s)", p.attempts)}
                                            {p.last_error.map(|e| format!(": {e}"))}
                                        </li>
                                    }
                                })
                                .collect_view()}
                        </ul>
                    }
                        .into_any()
                }
            }}
            <button id="recover-btn" on:click=recover disabled=move || state.is_busy()>"Recover now"</button>
            <h3>"Past"</h3>
            <ul id="history" class="history">
                {move || {
                    let cur = state.info.get().currency;
                    state
                        .history
                        .get()
                        .into_iter()
                        .map(|e| {
                            let (what, detail) = describe(&e);
                            let amount = money(e.amount, &cur);
                            let extra = match &e.event {
                                Event::Paid { payment_id, receipt, proof, .. } => {
                                    let pid = *payment_id;
                                    // Checked again here: only a link on the shop's own site is shown.
                                    let link = e.event.goods_link();
                                    let tx = receipt.as_ref().map(|r| r.body.transaction_id.clone());
                                    let has_proof = proof.is_some();
                                    view! {
                                        <div class="detail">
                                            {tx.map(|t| view! { <span>"Receipt " <code>{t}</code>" · "</span> })}
                                            {link.map(|l| view! { <a href=l>"Goods"</a>" · " })}
                                            <button class="link" on:click=move |_| prove(pid)>
                                                {if has_proof { "Proof again" } else { "Get bank proof" }}
                                            </button>
                                        </div>
                                    }
                                        .into_any()
                                }
                                Event::Sent { token } => {
                                    view! {
                                        <details>
                                            <summary>"Token"</summary>
                                            <textarea rows="3" readonly aria-label="Sent token">{token.clone()}</textarea>
                                        </details>
                                    }
                                        .into_any()
                                }
                                _ => ().into_any(),
                            };
                            view! {
                                <li>
                                    <span class="what">{what}</span>
                                    <span class="amount">{amount}</span>
                                    <span class="detail">{detail}</span>
                                    {extra}
                                </li>
                            }
                        })
                        .collect_view()
                }}
            </ul>
        </section>
    }
}
