//! The demo merchant of browser e-cash: a party of its own, with its own
//! key, database and account, that talks to its bank only over HTTP through
//! the protocol's typed client and trusts only the bank's signatures,
//! checked against the master key it was configured with.
//!
//! - [`config`]: flags and environment;
//! - [`bank`]: the link to the bank (pinned key, key set, deposits, acks);
//! - [`catalog`]: what it sells;
//! - [`store`]: its orders, in its own SQLite file;
//! - [`shop`]: orders, payments, receipts, goods, the shop keeper's list;
//! - [`http`]: its routes, as the protocol describes them, and its pages.

pub mod bank;
pub mod catalog;
pub mod config;
pub mod http;
pub mod shop;
pub mod store;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use actix_web::{HttpServer, web};
use ecash_core::clock::SystemClock;
use ecash_core::{B32, Clock, Keypair};
use ecash_serve::{Edge, EdgeSettings, limits, ready};

use crate::bank::BankLink;
use crate::config::Config;
use crate::shop::{Shop, ShopSettings};
use crate::store::ShopStore;

/// The merchant could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// A configuration value is refused.
    #[error("configuration: {0}")]
    Config(String),
    /// Its files: key, token, database.
    #[error("shop storage: {0}")]
    Storage(String),
    /// The bank: unreachable, untrusted, or refusing the account.
    #[error(transparent)]
    Bank(#[from] bank::BankLinkError),
    /// Binding or serving failed.
    #[error("server: {0}")]
    Io(#[from] std::io::Error),
}

/// A merchant that listens.
#[derive(Clone)]
pub struct Started {
    /// Its public base URL.
    pub url: String,
    /// Its account at the bank.
    pub account_id: String,
    /// The shop keeper's admin token.
    pub admin_token: String,
    /// Stops the server.
    pub handle: actix_web::dev::ServerHandle,
}

/// Runs the merchant on the system clock until SIGINT/SIGTERM.
pub async fn run(config: Config) -> Result<(), ServeError> {
    serve(config, Arc::new(SystemClock), None).await
}

/// A secret file's contents, made (32 random bytes, base64url, mode 0600) if missing.
fn secret(path: &Path) -> Result<B32, ServeError> {
    ecash_serve::secret_file::load_or_create(path).map_err(ServeError::Storage)
}

/// The API document, serialized once at start.
fn openapi_json() -> Result<http::OpenApiDoc, ServeError> {
    let json = serde_json::to_string(&http::openapi_document())
        .map_err(|e| ServeError::Config(format!("the API document: {e}")))?;
    Ok(http::OpenApiDoc(Arc::new(json)))
}

/// The edge the flags describe: limits, the shop's policy, body limit.
fn edge(config: &Config) -> Result<Edge, ServeError> {
    Edge::new(EdgeSettings {
        page_csp: http::pages::SHOP_CSP,
        max_body_bytes: config.max_body_bytes,
        rate_per_sec: config.rate_limit_per_sec,
        rate_burst: config.rate_limit_burst,
        request_timeout: Duration::from_secs(config.request_timeout_secs),
        trusted_proxies: config.trusted_proxies.clone(),
        client_ip_header: &config.client_ip_header,
    })
    .map_err(ServeError::Config)
}

/// The origins the flags name, checked: the bank, the wallet, storefronts.
struct Origins {
    bank: String,
    wallet: String,
    orders: Vec<String>,
}

impl Origins {
    fn of(config: &Config) -> Result<Self, ServeError> {
        let bank = ecash_serve::origin_of(&config.bank_url)
            .map_err(|e| ServeError::Config(format!("--bank-url {:?}: {e}", config.bank_url)))?;
        let wallet = match &config.wallet_url {
            Some(w) => ecash_serve::origin_of(w)
                .map_err(|e| ServeError::Config(format!("--wallet-url {w:?}: {e}")))?,
            None => bank.clone(),
        };
        let orders = ecash_serve::origins("--order-origin", &config.order_origins)
            .map_err(ServeError::Config)?;
        Ok(Self {
            bank,
            wallet,
            orders,
        })
    }
}

/// The shop's own files, made on first start: its key, the shop keeper's
/// token, its database.
fn open_files(config: &Config) -> Result<(Keypair, String, ShopStore), ServeError> {
    std::fs::create_dir_all(&config.data_dir)
        .map_err(|e| ServeError::Storage(format!("{}: {e}", config.data_dir.display())))?;
    let key = Keypair::from_secret_bytes(&secret(&config.data_dir.join("merchant.key"))?.0);
    let admin_token = secret(&config.data_dir.join("admin.token"))?.to_b64();
    let store = ShopStore::open(&config.data_dir.join("shop.db"))
        .map_err(|e| ServeError::Storage(e.to_string()))?;
    Ok((key, admin_token, store))
}

/// Prints where the shop listens and the shop keeper's page, and writes
/// the ready file.
fn announce(
    config: &Config,
    addr: SocketAddr,
    started: &Started,
    bank_url: &str,
) -> std::io::Result<()> {
    let (url, account) = (&started.url, &started.account_id);
    println!("merchant listening on http://{addr}");
    println!("shop at {url}/ (account {account} at {bank_url})");
    println!(
        "orders page for the shop keeper: {url}/orders#key={}",
        started.admin_token
    );
    ready::Ready {
        server: "merchant".into(),
        url: url.clone(),
        pid: std::process::id(),
        master_public_key: None,
        account_id: Some(account.clone()),
    }
    .announce(config.ready_file.as_deref())
}

/// Runs the merchant on `clock`; once it listens, sends where on `started`.
pub async fn serve(
    config: Config,
    clock: Arc<dyn Clock>,
    started: Option<std::sync::mpsc::Sender<Started>>,
) -> Result<(), ServeError> {
    let routes = http::routes();
    routes
        .check(ecash_core::api::merchant)
        .map_err(ServeError::Config)?;
    let openapi = web::Data::new(openapi_json()?);
    let master = http::parse_master(&config.bank_master_key).map_err(ServeError::Config)?;
    let origins = Origins::of(&config)?;
    let edge = edge(&config)?;
    let limits = edge.limits.clone();
    let (key, admin_token, store) = open_files(&config)?;

    let link = BankLink::connect(
        &origins.bank,
        master,
        Duration::from_secs(config.bank_timeout_secs.max(1)),
        Duration::from_secs(config.bank_wait_secs),
        clock.clone(),
    )
    .await?;
    let account_id = link.register(&key, &config.label).await?;

    let listener = std::net::TcpListener::bind(config.listen)?;
    let addr = listener.local_addr()?;
    let base_url =
        ecash_serve::public_base(config.public_url.as_deref(), addr).map_err(ServeError::Config)?;
    let settings = ShopSettings {
        base_url: base_url.clone(),
        wallet_url: origins.wallet,
        payreq_ttl: config.payreq_ttl_secs,
        order_origins: origins.orders,
        admin_token: admin_token.clone(),
        // The request timeout, then two calls to the bank (key set, deposit)
        // at their timeout each, and a margin.
        claim_lease: config.request_timeout_secs + 2 * config.bank_timeout_secs.max(1) + 60,
        name: config.label.clone(),
    };
    let shop = Shop::new(link, key, account_id.clone(), store, settings, clock)
        .map_err(|e| ServeError::Storage(e.to_string()))?;
    let shop = Arc::new(shop);
    let shop_data = web::Data::from(shop.clone());
    let quotas = web::Data::new(http::Quotas::new(&config));
    let trimmed = quotas.clone();
    let server = HttpServer::new(move || {
        ecash_serve::app(edge.clone())
            .app_data(shop_data.clone())
            .app_data(quotas.clone())
            .app_data(openapi.clone())
            .configure(|c| routes.configure(c))
    })
    .shutdown_timeout(10)
    .client_request_timeout(Duration::from_secs(config.request_timeout_secs));
    let server = match config.workers {
        Some(n) => server.workers(n),
        None => server,
    };
    let server = server.listen(listener)?.run();

    let here = Started {
        url: base_url,
        account_id,
        admin_token,
        handle: server.handle(),
    };
    announce(&config, addr, &here, &origins.bank)?;
    if let Some(tx) = started {
        let _ = tx.send(here);
    }
    let settler = actix_web::rt::spawn(settle(
        shop,
        limits,
        trimmed,
        Duration::from_secs(config.settle_every_secs.max(1)),
    ));
    let result = server.await;
    settler.abort();
    result?;
    Ok(())
}

/// Sends payments whose outcome at the bank is unknown again, on schedule
/// (the first round at start: claims left by a previous process), and
/// trims the rate limiter and the quotas.
async fn settle(
    shop: Arc<Shop>,
    limits: Arc<limits::Limits>,
    quotas: web::Data<http::Quotas>,
    every: Duration,
) {
    loop {
        match shop.settle().await {
            Ok(0) => {}
            Ok(n) => tracing::info!(settled = n, "payments settled with the bank"),
            Err(e) => tracing::warn!(error = %e, "settling payments"),
        }
        // Batches in a row, so a backlog after an outage drains before its
        // keys' windows close; a bounded number per round.
        for _ in 0..16 {
            match shop.deposit_offline().await {
                Ok(0) => break,
                Ok(n) => tracing::info!(deposited = n, "offline payments deposited at the bank"),
                Err(e) => {
                    tracing::warn!(error = %e, "depositing offline payments");
                    break;
                }
            }
        }
        limits.shrink();
        quotas.shrink();
        tokio::time::sleep(every).await;
    }
}
