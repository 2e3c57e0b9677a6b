//! The bank of browser e-cash: an actix-web mint on SQLite, with a demo shop.
//!
//! - [`config`]: flags and environment;
//! - [`keys`]: master, envelope and denomination keys, rotation;
//! - [`storage`]: the books behind a trait, SQLite by default;
//! - [`bank`]: the flows (withdraw, deposit, exchange, proofs, restore);
//! - [`in_flight`]: accounts and coins requests are working on right now;
//! - [`api`]: thin HTTP handlers, JSON errors, limits (per client, behind
//!   trusted proxies), security headers (CSP), the access log;
//! - [`shop`]: the demo merchant under `/shop`.

pub mod api;
pub mod bank;
pub mod config;
pub mod in_flight;
pub mod keys;
pub mod shop;
pub mod signer;
pub mod storage;

use std::sync::Arc;
use std::time::Duration;

use actix_web::middleware::{ErrorHandlers, from_fn};
use actix_web::{App, HttpServer, web};
use ecash_core::Currency;

use crate::bank::{Bank, BankSettings, unix_now};
use crate::config::Config;
use crate::keys::{MintKeys, Schedule};
use crate::shop::Shop;
use crate::storage::Storage;
use crate::storage::sqlite::SqliteStorage;

/// The server could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// A configuration value is refused.
    #[error("configuration: {0}")]
    Config(String),
    /// Keys could not be loaded or created.
    #[error(transparent)]
    Keys(#[from] keys::KeyError),
    /// The database could not be opened.
    #[error("database: {0}")]
    Storage(#[from] storage::StorageError),
    /// The shop could not start.
    #[error(transparent)]
    Shop(#[from] shop::ShopError),
    /// Binding or serving failed.
    #[error("server: {0}")]
    Io(#[from] std::io::Error),
}

/// Opens keys and storage and builds the bank (used by `run` and by tests).
pub fn open_bank(config: &Config) -> Result<Arc<Bank>, ServeError> {
    let currency =
        Currency::new(&config.currency).map_err(|e| ServeError::Config(e.to_string()))?;
    if config.max_coins == 0 {
        return Err(ServeError::Config("--max-coins must be at least 1".into()));
    }
    std::fs::create_dir_all(&config.data_dir)?;
    let schedule = Schedule {
        bank_id: config.bank_id.clone(),
        currency: currency.clone(),
        max_exp: config.max_denomination_exp,
        rsa_bits: config.rsa_bits as usize,
        withdraw_period: config.withdraw_period_secs,
        deposit_grace: config.deposit_grace_secs,
        signer: config.signer,
    };
    let keys = Arc::new(MintKeys::open(&config.data_dir, schedule, unix_now())?);
    let storage: Arc<dyn Storage> =
        Arc::new(SqliteStorage::open(&config.data_dir.join("bank.db"))?);
    let settings = BankSettings {
        bank_id: config.bank_id.clone(),
        currency,
        demo_faucet: config.demo_faucet,
        faucet_max: config.faucet_max,
        max_coins: config.max_coins,
        signing_threads: config.signing_threads.unwrap_or(0),
        spent_list_max_age: Duration::from_secs(config.spent_list_max_age_secs),
    };
    Ok(Arc::new(
        Bank::new(storage, keys, settings).map_err(ServeError::Config)?,
    ))
}

/// Runs the mint (and the shop) until SIGINT/SIGTERM, then finishes in-flight
/// requests and closes the database cleanly.
pub async fn run(config: Config) -> Result<(), ServeError> {
    let bank = open_bank(&config)?;
    // Bind first: the public URL defaults to the address actually bound.
    let listener = std::net::TcpListener::bind(config.listen)?;
    let addr = listener.local_addr()?;
    let public_url = config.public_base(addr).map_err(ServeError::Config)?;
    let shop = if config.shop {
        Some(Arc::new(Shop::open(
            bank.clone(),
            &config.data_dir,
            &public_url,
            config.payreq_ttl_secs,
            config.shop_order_origins().map_err(ServeError::Config)?,
        )?))
    } else {
        None
    };
    let clients =
        api::client_addr::ClientAddr::new(config.trusted_proxies.clone(), &config.client_ip_header)
            .map_err(ServeError::Config)?;
    let limits = api::limits::Limits::new(
        config.rate_limit_per_sec,
        config.rate_limit_burst,
        Duration::from_secs(config.request_timeout_secs),
        clients,
    );
    let policies = api::security::Policies::new(
        &config
            .frame_ancestor_origins()
            .map_err(ServeError::Config)?,
    )
    .map_err(ServeError::Config)?;

    let bank_data = web::Data::from(bank.clone());
    let shop_data = shop.clone().map(web::Data::from);
    let limits_data = web::Data::from(limits.clone());
    let policies_data = web::Data::new(policies);
    let metrics_on = web::Data::new(api::handlers::MetricsOn(config.metrics));
    let json_cfg = web::JsonConfig::default()
        .limit(config.max_body_bytes)
        .error_handler(api::error::json_error);
    let web_dir = config.web_dir.clone();
    let serve_wallet = web_dir.join("index.html").exists();

    let server = HttpServer::new(move || {
        let mut app = App::new()
            .app_data(bank_data.clone())
            .app_data(limits_data.clone())
            .app_data(policies_data.clone())
            .app_data(metrics_on.clone())
            .app_data(json_cfg.clone())
            .wrap(from_fn(api::limits::limit))
            .wrap(ErrorHandlers::new().default_handler(api::error::ensure_json_error))
            .wrap(from_fn(api::security::headers))
            .wrap(from_fn(api::access_log::log))
            // Outermost: wallets embedded in other origins' pages (and the
            // wasm test runner) call the bank cross-origin. No cookies or
            // ambient credentials exist, so any origin may.
            .wrap(
                actix_cors::Cors::default()
                    .allow_any_origin()
                    .allow_any_method()
                    .allow_any_header()
                    .max_age(3600),
            )
            .configure(api::configure);
        if let Some(shop) = &shop_data {
            app = app.app_data(shop.clone()).configure(shop::configure);
        }
        if serve_wallet {
            app.service(actix_files::Files::new("/", &web_dir).index_file("index.html"))
        } else {
            app.route("/", web::get().to(api::handlers::landing))
        }
    })
    .shutdown_timeout(10)
    .client_request_timeout(Duration::from_secs(config.request_timeout_secs));
    let server = match config.workers {
        Some(n) => server.workers(n),
        None => server,
    };
    let server = server.listen(listener)?;

    // Tests and scripts read this line to find the port.
    println!("mint-server listening on http://{addr}");
    if let Some(s) = &shop {
        println!(
            "demo shop at {}/shop (merchant account {})",
            s.base_url(),
            s.account_id()
        );
    }
    println!(
        "master key fingerprint {} (pin this in wallets)",
        bank.keys().master.public().fingerprint()
    );
    use std::io::Write;
    let _ = std::io::stdout().flush();

    let rotation = tokio::spawn(rotate_keys(
        bank.clone(),
        limits,
        config.withdraw_period_secs,
    ));
    let result = server.run().await;
    rotation.abort();
    tracing::info!("server stopped; closing the database");
    bank.storage().close()?;
    result?;
    Ok(())
}

/// Rotates denomination keys on schedule and trims the rate limiter.
async fn rotate_keys(bank: Arc<Bank>, limits: Arc<api::limits::Limits>, period: u64) {
    let tick = Duration::from_secs(keys::rotation_tick(period));
    // The first round runs at once: start-up made only the keys wallets
    // need now, this one makes the period after next.
    loop {
        let b = bank.clone();
        match tokio::task::spawn_blocking(move || b.keys().rotate(unix_now())).await {
            Ok(Ok(true)) => tracing::info!("key set rotated"),
            Ok(Ok(false)) => {}
            Ok(Err(e)) => tracing::error!(error = %e, "key rotation failed"),
            Err(e) => tracing::error!(error = %e, "key rotation task failed"),
        }
        limits.shrink();
        tokio::time::sleep(tick).await;
    }
}
