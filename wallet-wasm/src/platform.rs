//! The little the wallet needs from its host besides storage and network: time, randomness, yielding.

use crate::error::WalletError;

/// The host's clock: the system's natively, the browser's in WebAssembly.
#[derive(Debug, Clone, Copy, Default)]
pub struct HostClock;

impl ecash_core::Clock for HostClock {
    fn now(&self) -> u64 {
        now()
    }
}

/// Current time, unix seconds.
#[cfg(not(all(target_arch = "wasm32", target_os = "unknown")))]
pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Current time, unix seconds.
#[cfg(all(target_arch = "wasm32", target_os = "unknown"))]
pub fn now() -> u64 {
    (js_sys::Date::now() / 1000.0) as u64
}

/// `N` bytes from the OS (or `crypto.getRandomValues`).
pub fn random<const N: usize>() -> Result<[u8; N], WalletError> {
    let mut b = [0u8; N];
    getrandom::fill(&mut b).map_err(|e| WalletError::Crypto(format!("random numbers: {e}")))?;
    Ok(b)
}

/// Lets the browser paint and handle input during long work (a macrotask turn); a no-op natively.
#[cfg(all(target_arch = "wasm32", target_os = "unknown"))]
pub async fn yield_now() {
    use wasm_bindgen::JsCast;
    let promise = js_sys::Promise::new(&mut |resolve, _reject| {
        let global = js_sys::global();
        let set_timeout = js_sys::Reflect::get(&global, &"setTimeout".into())
            .ok()
            .and_then(|f| f.dyn_into::<js_sys::Function>().ok());
        match set_timeout {
            Some(f) => {
                let _ = f.call2(&global, &resolve, &0.into());
            }
            None => {
                let _ = resolve.call0(&wasm_bindgen::JsValue::UNDEFINED);
            }
        }
    });
    let _ = wasm_bindgen_futures::JsFuture::from(promise).await;
}

/// Lets the browser paint and handle input during long work (a macrotask turn); a no-op natively.
#[cfg(not(all(target_arch = "wasm32", target_os = "unknown")))]
pub async fn yield_now() {}
