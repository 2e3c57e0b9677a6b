//! The bank's HTTP edge: one route per endpoint the protocol describes
//! (`ecash_core::api::bank`), thin handlers ([`handlers`]), bank refusals
//! mapped to `{code, message}` and a status, the web wallet's files and
//! their Content-Security-Policy ([`wallet`]), and the OpenAPI document
//! generated from the same descriptions.

pub mod handlers;
pub mod wallet;

use ecash_core::ApiError;
use ecash_serve::{HttpError, Routes};

use crate::bank::BankError;

/// Every bank route.
pub fn routes() -> Routes {
    use handlers::*;
    let mut r = Routes::new();
    r.add(keys)
        .add(spent_list)
        .add(register)
        .add(account)
        .add(public_key)
        .add(faucet)
        .add(certify_merchant)
        .add(register_peer)
        .add(peers)
        .add(settle)
        .add(withdraw)
        .add(deposit)
        .add(exchange)
        .add(recoup)
        .add(offline_standing)
        .add(offline_collateral)
        .add(offline_withdraw)
        .add(offline_open)
        .add(offline_deposit)
        .add(coin_state)
        .add(proofs)
        .add(restore)
        .add(healthz)
        .add(openapi)
        .add(metrics);
    r
}

/// The bank's API document, generated from the endpoint descriptions.
pub fn openapi_document() -> serde_json::Value {
    ecash_core::openapi::document(
        "Browser e-cash mint",
        "Chaumian e-cash mint: RFC 9474 blind RSA coins (RSABSSA-SHA384-PSS-Randomized), \
         Ed25519-signed statements. Every error is JSON {code, message}.",
        ecash_core::api::bank,
    )
}

/// A bank refusal as the wire error, at the edge only.
pub fn wire_error(e: BankError) -> HttpError {
    let mut api = ApiError::new(e.code(), e.to_string());
    api.spent = e.spent().to_vec();
    HttpError(api)
}

impl From<BankError> for HttpError {
    fn from(e: BankError) -> Self {
        wire_error(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_described_bank_endpoint_is_routed_and_documented() {
        routes()
            .check(ecash_core::api::bank)
            .expect("routes are the description");
        let doc = openapi_document();
        assert_eq!(
            ecash_core::openapi::operations(&doc),
            ecash_core::openapi::described(ecash_core::api::bank)
        );
    }

    #[test]
    fn a_spent_refusal_names_the_coins() {
        let serial = ecash_core::B32::default();
        let e = wire_error(BankError::Spent(vec![serial]));
        assert_eq!(e.0.code, ecash_core::ErrorCode::CoinSpent);
        assert_eq!(e.0.spent, vec![serial]);
    }
}
