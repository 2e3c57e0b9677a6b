//! Pay a payment request: show who (and the site it came from), how much,
//! what; confirm; then back to the shop, but only to a link on that site.

use leptos::prelude::*;
use leptos::task::spawn_local;
use wallet_wasm::Offer;
use wallet_wasm::records::Event;

use crate::state::{AppState, Tone, wallet};
use crate::text::money;

/// Loads the payment request named in `payreq_input`, checks it, and pays on confirmation.
#[component]
pub fn Pay() -> impl IntoView {
    let state = expect_context::<AppState>();
    let payreq = RwSignal::new(None::<Offer>);
    let paid = RwSignal::new(None::<(String, String, Option<String>)>);
    let load = move || {
        let input = state.payreq_input.get_untracked();
        if input.trim().is_empty() {
            return;
        }
        let Some(w) = wallet() else { return };
        state.start("Fetching the payment request");
        spawn_local(async move {
            let r = async {
                let w = w.lock().await;
                let p = w.resolve_payreq(&input).await?;
                w.verify_payreq(&p).await?;
                Ok::<_, wallet_wasm::WalletError>(p)
            }
            .await;
            state.stop();
            match r {
                Ok(p) => payreq.set(Some(p)),
                Err(e) => state.fail(&e),
            }
        });
    };
    // On arrival, and again whenever a link brings another request.
    Effect::new(move |_| {
        state.arrivals.get();
        payreq.set(None);
        paid.set(None);
        load();
    });
    let confirm = move |_| {
        let Some(p) = payreq.get_untracked() else {
            return;
        };
        let Some(w) = wallet() else { return };
        if state.is_busy() {
            return;
        }
        state.start("Paying");
        spawn_local(async move {
            let r = w.lock().await.pay(p.clone()).await;
            state.stop();
            match r {
                Ok(done) => {
                    let back = done.goods_link();
                    if let Event::Paid {
                        payment_id,
                        receipt,
                        ..
                    } = &done.entry.event
                    {
                        let tx = receipt
                            .as_ref()
                            .map(|r| r.body.transaction_id.clone())
                            .unwrap_or_default();
                        paid.set(Some((tx, payment_id.to_b64(), back.clone())));
                    }
                    state.payreq_input.set(String::new());
                    match (back, done.link_refused()) {
                        // Back to the shop's fulfillment page, as the chapter's
                        // Web flow does: a link checked to lie on the shop's site.
                        (Some(back), _) => {
                            state.say(Tone::Ok, "Paid. The shop's signed receipt checks out. Taking you back to the shop…");
                            if let Some(win) = web_sys::window() {
                                let _ = win.location().assign(&back);
                            }
                        }
                        (None, why) => state.say(
                            Tone::Error,
                            format!(
                                "Paid, and the shop's signed receipt checks out, but the wallet will not follow the shop's link back ({}). Your receipt is in History.",
                                why.unwrap_or("the shop gave no usable link")
                            ),
                        ),
                    }
                }
                Err(e) => state.fail(&e),
            }
            state.refresh().await;
        });
    };
    view! {
        <section aria-labelledby="pay-title">
            <h2 id="pay-title">"Pay"</h2>
            <form on:submit=move |ev: leptos::ev::SubmitEvent| {
                ev.prevent_default();
                payreq.set(None);
                load();
            }>
                <label for="payreq-input">"Payment request (link from a shop)"</label>
                <input
                    id="payreq-input"
                    type="text"
                    autocomplete="off"
                    prop:value=move || state.payreq_input.get()
                    on:input=move |ev| state.payreq_input.set(event_target_value(&ev))
                />
                <button type="submit" disabled=move || state.is_busy()>"Load"</button>
            </form>
            {move || {
                payreq
                    .get()
                    .map(|offer| {
                        let site = offer.origin.clone();
                        let p = offer.payreq;
                        let cur = p.amount.currency.as_str().to_owned();
                        view! {
                            <div class="payreq" id="payreq">
                                <dl class="facts">
                                    <dt>"To"</dt>
                                    <dd id="pay-merchant">{match &p.merchant_certificate {
                                        // Shown as the bank vouches for it; the wallet checked it.
                                        Some(c) => format!("{} (certified by {}; account {})", c.body.name, p.merchant_bank_id, p.merchant_acc_id),
                                        None => format!("Merchant account {} at {} (not certified)", p.merchant_acc_id, p.merchant_bank_id),
                                    }}</dd>
                                    <dt>"Their bank"</dt>
                                    <dd id="pay-bank">{match &p.merchant_bank_url {
                                        // Checked against the pinned certifier before this shows.
                                        Some(u) => format!("{} at {u}", p.merchant_bank_id),
                                        None => p.merchant_bank_id.clone(),
                                    }}</dd>
                                    <dt>"Site"</dt>
                                    <dd id="pay-origin"><code>{site}</code></dd>
                                    <dt>"For"</dt>
                                    <dd id="pay-description">{p.description.clone()}</dd>
                                    <dt>"Amount"</dt>
                                    <dd id="pay-amount"><strong>{money(p.amount.value, &cur)}</strong></dd>
                                    <dt>"Order"</dt>
                                    <dd><code>{p.payreq_id.clone()}</code></dd>
                                </dl>
                                <p class="note">
                                    "Your coins are sealed for the merchant's bank: the shop cannot read them, and neither learns who you are."
                                </p>
                                <button id="pay-confirm" class="primary" on:click=confirm disabled=move || state.is_busy() || paid.get().is_some()>
                                    {format!("Pay {}", money(p.amount.value, &cur))}
                                </button>
                            </div>
                        }
                    })
            }}
            {move || {
                paid.get()
                    .map(|(tx, pid, back)| {
                        view! {
                            <div id="receipt" class="receipt">
                                <h3>"Receipt"</h3>
                                <p>"Transaction " <code>{tx}</code></p>
                                <p>"Payment " <code>{pid}</code></p>
                                {back.map(|b| view! { <p><a id="back-to-shop" href=b>"Back to the shop"</a></p> })}
                            </div>
                        }
                    })
            }}
        </section>
    }
}
