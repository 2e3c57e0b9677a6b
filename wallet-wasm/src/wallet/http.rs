//! Requests to the bank and the shop, and what their answers must look like.

use ecash_core::ApiError;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::WalletError;
use crate::transport::{Response, Transport};

/// Decodes an answer: JSON of `R` on 2xx, the `{code, message}` error otherwise.
pub(crate) fn decode<R: DeserializeOwned>(url: &str, resp: Response) -> Result<R, WalletError> {
    if (200..300).contains(&resp.status) {
        return serde_json::from_slice(&resp.body).map_err(|e| WalletError::BadAnswer {
            url: url.to_owned(),
            reason: format!("HTTP {} with a body that does not parse: {e}", resp.status),
        });
    }
    match serde_json::from_slice::<ApiError>(&resp.body) {
        Ok(error) => Err(WalletError::Refused {
            url: url.to_owned(),
            status: resp.status,
            error,
        }),
        Err(_) => Err(WalletError::BadAnswer {
            url: url.to_owned(),
            reason: format!("HTTP {} without a JSON error body", resp.status),
        }),
    }
}

/// A network failure calling `url`.
fn unreachable(url: &str) -> impl FnOnce(crate::transport::TransportError) -> WalletError + '_ {
    move |e| WalletError::Unreachable {
        url: url.to_owned(),
        reason: e.0,
    }
}

/// `GET url` → `R`.
pub(crate) async fn get<T: Transport, R: DeserializeOwned>(
    net: &T,
    url: &str,
    headers: &[(&str, String)],
) -> Result<R, WalletError> {
    let resp = net.get(url, headers).await.map_err(unreachable(url))?;
    decode(url, resp)
}

/// `POST url` with JSON `body` → `R`.
pub(crate) async fn post<T: Transport, B: Serialize, R: DeserializeOwned>(
    net: &T,
    url: &str,
    body: &B,
) -> Result<R, WalletError> {
    let json = serde_json::to_string(body)
        .map_err(|e| WalletError::Input(format!("encoding the request: {e}")))?;
    let resp = net.post_json(url, json).await.map_err(unreachable(url))?;
    decode(url, resp)
}

/// `base` + `path`, without a doubled slash.
pub(crate) fn join(base: &str, path: &str) -> String {
    format!("{}{path}", base.trim_end_matches('/'))
}
