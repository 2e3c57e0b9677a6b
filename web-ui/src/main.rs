//! The web wallet: a Leptos client-side app over the wallet core (`wallet-wasm`).
//!
//! The coins live in this origin's IndexedDB. The app opens the wallet (or
//! offers to create or restore one), runs `recover` in the background, and
//! picks up a payment request or transfer token handed over in the URL
//! (`/?payreq=...`, `/?token=...`, or a `web+ecash:` link).

#[cfg(all(target_arch = "wasm32", target_os = "unknown"))]
mod app;
#[cfg(all(target_arch = "wasm32", target_os = "unknown"))]
mod screens;
#[cfg(all(target_arch = "wasm32", target_os = "unknown"))]
mod state;
// Used by the browser app; a native build only runs its unit tests.
#[cfg_attr(
    not(all(target_arch = "wasm32", target_os = "unknown")),
    allow(dead_code)
)]
mod text;

#[cfg(all(target_arch = "wasm32", target_os = "unknown"))]
fn main() {
    leptos::mount::mount_to_body(app::App);
}

// The app is browser-only; a native build (cargo test --workspace) has nothing to run.
#[cfg(not(all(target_arch = "wasm32", target_os = "unknown")))]
fn main() {}
