//! The web wallet. Screens arrive with the web-wallet issue; for now the app
//! shows what the wallet core reports and which parts are coming.

use leptos::prelude::*;

fn main() {
    leptos::mount::mount_to_body(|| {
        view! {
            <main>
                <h1>"Browser e-cash"</h1>
                <p>"The web wallet is being built. The protocol core and the bank come first."</p>
            </main>
        }
    })
}
