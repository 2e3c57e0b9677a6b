//! The bank's HTTP API: routes, error mapping, limits, security headers, access log.

pub mod access_log;
pub mod client_addr;
pub mod error;
pub mod handlers;
pub mod limits;
pub mod security;

use actix_web::web;

/// The OpenAPI document served at `/openapi.json`.
pub const OPENAPI: &str = include_str!("../../openapi.json");

/// Every bank route (method, path as in the OpenAPI document).
pub const ROUTES: &[(&str, &str)] = &[
    ("get", "/keys"),
    ("get", "/keys/{key_id}/spent"),
    ("post", "/accounts"),
    ("get", "/accounts/{id}"),
    ("get", "/accounts/{id}/public-key"),
    ("post", "/accounts/{id}/faucet"),
    ("post", "/withdraw"),
    ("post", "/deposit"),
    ("post", "/exchange"),
    ("post", "/coins/state"),
    ("post", "/proofs"),
    ("post", "/restore"),
    ("get", "/healthz"),
    ("get", "/openapi.json"),
    ("get", "/metrics"),
];

/// Registers the bank routes.
pub fn configure(cfg: &mut web::ServiceConfig) {
    use handlers::*;
    cfg.route("/keys", web::get().to(keys))
        .route("/keys/{key_id}/spent", web::get().to(spent_list))
        .route("/accounts", web::post().to(register))
        .route("/accounts/{id}", web::get().to(account))
        .route("/accounts/{id}/public-key", web::get().to(public_key))
        .route("/accounts/{id}/faucet", web::post().to(faucet))
        .route("/withdraw", web::post().to(withdraw))
        .route("/deposit", web::post().to(deposit))
        .route("/exchange", web::post().to(exchange))
        .route("/coins/state", web::post().to(coin_state))
        .route("/proofs", web::post().to(proofs))
        .route("/restore", web::post().to(restore))
        .route("/healthz", web::get().to(healthz))
        .route("/openapi.json", web::get().to(openapi))
        .route("/metrics", web::get().to(metrics));
}

#[cfg(test)]
mod tests {
    #[test]
    fn openapi_lists_exactly_the_routes() {
        let doc: serde_json::Value =
            serde_json::from_str(super::OPENAPI).expect("openapi.json parses");
        let paths = doc["paths"].as_object().expect("paths");
        let mut documented: Vec<(String, String)> = paths
            .iter()
            .filter(|(p, _)| !p.starts_with("/shop"))
            .flat_map(|(p, ops)| {
                ops.as_object()
                    .into_iter()
                    .flat_map(move |o| o.keys().map(move |m| (m.clone(), p.clone())))
            })
            .collect();
        let mut routes: Vec<(String, String)> = super::ROUTES
            .iter()
            .map(|(m, p)| (m.to_string(), p.to_string()))
            .collect();
        documented.sort();
        routes.sort();
        assert_eq!(documented, routes);
    }
}
