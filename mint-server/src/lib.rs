//! The bank of browser e-cash: an actix-web mint on SQLite.
//!
//! - [`config`]: flags and environment;
//! - [`certification`]: the certifier's papers, served with `/keys`;
//! - [`clearing`]: deposits at other mints, their refresh and settlement loops;
//! - [`keys`]: master, envelope and denomination keys, rotation;
//! - [`storage`]: the books behind a trait, SQLite by default, or PostgreSQL;
//! - [`bank`]: the flows (withdraw, deposit, exchange, proofs, restore);
//! - [`in_flight`]: accounts and coins requests are working on right now;
//! - [`signer`]: blind-signing and envelope backends (OpenSSL, pure Rust);
//! - [`http`]: the routes the protocol describes, thin handlers, the web
//!   wallet's files; the edge itself (errors, limits, headers, log) is
//!   `ecash-serve`'s, shared with the merchant.

pub mod bank;
pub mod certification;
pub mod clearing;
pub mod config;
pub mod http;
pub mod in_flight;
pub mod keys;
pub mod signer;
pub mod storage;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use actix_web::{HttpServer, web};
use ecash_core::clock::SystemClock;
use ecash_core::{Clock, Currency};
use ecash_serve::{Edge, EdgeSettings, limits, ready};

use crate::bank::{Bank, BankSettings};
use crate::config::Config;
use crate::keys::files::FileVault;
use crate::keys::{Kek, KeyVault, MintKeys, Schedule};
use crate::storage::Storage;
use crate::storage::clearing::ClearingBooks;
use crate::storage::offline::OfflineBooks;
use crate::storage::postgres::{PgSettings, PgVault, PostgresStorage};
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
    /// Binding or serving failed.
    #[error("server: {0}")]
    Io(#[from] std::io::Error),
}

/// The books, the keys' vault of one mint, and the clearing and offline
/// books when the books keep them.
type Books = (
    Arc<dyn Storage>,
    Arc<dyn KeyVault>,
    Option<Arc<dyn ClearingBooks>>,
    Option<Arc<dyn OfflineBooks>>,
);

/// The books `--database` names and where the keys live: PostgreSQL for
/// both, sealed under the KEK; or SQLite and key files in the data dir.
fn open_storage(config: &Config) -> Result<Books, ServeError> {
    let Some(url) = &config.database else {
        let path = config.data_dir.join("bank.db");
        tracing::info!(path = %path.display(), "books on SQLite");
        let vault = FileVault::open(&config.data_dir, config.withdraw_period_secs)?;
        let store = Arc::new(SqliteStorage::open(&path)?);
        return Ok((
            store.clone(),
            Arc::new(vault),
            Some(store.clone()),
            Some(store),
        ));
    };
    if config.offline_max_exp.is_some() {
        return Err(ServeError::Config(
            "--offline-max-exp needs the SQLite books: offline coins are not kept on PostgreSQL yet"
                .into(),
        ));
    }
    if !config.peers.is_empty() {
        return Err(ServeError::Config(
            "--peer needs the SQLite books: clearing between mints is not kept on PostgreSQL yet"
                .into(),
        ));
    }
    // Before connecting: a node without the KEK cannot use the keys there.
    let kek_file = config.key_encryption_key_file.as_ref().ok_or_else(|| {
        ServeError::Config(
            "--database needs --key-encryption-key-file: the mint's keys are kept in the \
             database, sealed under a key every node is given"
                .into(),
        )
    })?;
    let kek = Kek::from_file(kek_file)?;
    let pg = url.parse::<tokio_postgres::Config>().map_err(|_| {
        // The URL may hold a password: the error does not repeat it.
        ServeError::Config("--database is not a PostgreSQL URL or key=value settings".into())
    })?;
    let hosts: Vec<String> = pg
        .get_hosts()
        .iter()
        .map(|h| match h {
            tokio_postgres::config::Host::Tcp(name) => name.clone(),
            tokio_postgres::config::Host::Unix(path) => path.display().to_string(),
        })
        .collect();
    tracing::info!(
        hosts = %hosts.join(","),
        database = pg.get_dbname().unwrap_or("(the user's)"),
        "books on PostgreSQL"
    );
    let settings = PgSettings {
        url: url.clone(),
        pool_size: config.database_pool as usize,
    };
    let store = Arc::new(PostgresStorage::open(&settings)?);
    let vault = Arc::new(PgVault::new(store.clone(), kek));
    // A mint on PostgreSQL that kept its keys in files keeps them, sealed
    // into the database; a new database never takes another mint's keys.
    if config.data_dir.join("keys/master.key").exists() {
        let files = FileVault::open(&config.data_dir, config.withdraw_period_secs)?;
        if vault.adopt(&files)? {
            tracing::info!("the key files of the data dir are sealed into the database");
        } else {
            tracing::warn!(
                "the data dir's key files are not this database's keys (its own, or a \
                 new database's): they are left unused"
            );
        }
    }
    Ok((store, vault, None, None))
}

/// The vault of the offline keys: files of their own in the data dir.
fn offline_vault(config: &Config) -> Result<FileVault, ServeError> {
    Ok(FileVault::open(
        &config.data_dir.join("offline"),
        config.withdraw_period_secs,
    )?)
}

/// Opens keys and storage and builds the bank (used by `run` and by tests).
pub fn open_bank(config: &Config, clock: Arc<dyn Clock>) -> Result<Arc<Bank>, ServeError> {
    let currency =
        Currency::new(&config.currency).map_err(|e| ServeError::Config(e.to_string()))?;
    if config.max_coins == 0 {
        return Err(ServeError::Config("--max-coins must be at least 1".into()));
    }
    // A key is expired a rotation tick after its window (clocks of nodes
    // differ): a grace shorter than that would let a lagging node still
    // sign with a key whose coins the books have dropped.
    let tick = keys::rotation_tick(config.withdraw_period_secs);
    if config.deposit_grace_secs < tick {
        return Err(ServeError::Config(format!(
            "--deposit-grace-secs must be at least a rotation tick ({tick} s for this period)"
        )));
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
    let (storage, vault, clearing, offline_books) = open_storage(config)?;
    // Offline keys in a vault of their own: one key per value and period
    // in each kind, and never one key of both kinds.
    let shelf = match config.offline_max_exp {
        Some(max_exp) => Some(keys::OfflineShelf {
            vault: Arc::new(offline_vault(config)?),
            max_exp,
        }),
        None => None,
    };
    let keys = Arc::new(MintKeys::open_with_offline(
        vault,
        shelf,
        schedule,
        clock.now(),
    )?);
    let settings = BankSettings {
        bank_id: config.bank_id.clone(),
        currency,
        demo_faucet: config.demo_faucet,
        faucet_max: config.faucet_max,
        max_coins: config.max_coins,
        signing_threads: config.signing_threads.unwrap_or(0),
        spent_list_max_age: Duration::from_secs(config.spent_list_max_age_secs),
        merchant_certificate_secs: config.merchant_certificate_secs,
        certifier_key: certifier_key(config)?,
    };
    let bank = Bank::new(storage, keys, settings, clock).map_err(ServeError::Config)?;
    let bank = match offline_books {
        Some(books) if config.offline_max_exp.is_some() => bank.with_offline(books),
        _ => bank,
    };
    // Clearing needs a certifier: other mints are known by its certificates.
    Ok(Arc::new(match clearing {
        Some(books) if config.certifier_key.is_some() => bank.with_clearing(books),
        _ => bank,
    }))
}

/// A mint that listens: where, its bank, and a handle to stop it.
#[derive(Clone)]
pub struct Started {
    /// Its public base URL.
    pub url: String,
    /// The bank it serves (tests rotate keys on a test clock through it).
    pub bank: Arc<Bank>,
    /// Stops the server.
    pub handle: actix_web::dev::ServerHandle,
}

/// Runs the mint on the system clock until SIGINT/SIGTERM, then finishes
/// in-flight requests and closes the database cleanly.
pub async fn run(config: Config) -> Result<(), ServeError> {
    if let Some(command) = config.command.clone() {
        return actix_web::rt::task::spawn_blocking(move || operate(&config, command))
            .await
            .map_err(|e| ServeError::Config(format!("the command stopped: {e}")))?;
    }
    serve(config, Arc::new(SystemClock), None).await
}

/// Runs an operator's command on the books.
fn operate(config: &Config, command: config::Command) -> Result<(), ServeError> {
    use ecash_core::keyset::{KeyRevocation, RevocationReason};
    match command {
        config::Command::RevokeKey {
            key_id,
            reason,
            extorted_requests,
        } => {
            let id = |s: &str, what: &str| {
                ecash_core::B32::from_b64(s.trim()).ok_or_else(|| {
                    ServeError::Config(format!("{what} {s} is not 32 bytes base64url"))
                })
            };
            let key_id = id(&key_id, "--key-id")?;
            let reason = match reason {
                config::ReasonArg::Compromised => RevocationReason::Compromised,
                config::ReasonArg::Extorted => RevocationReason::Extorted,
            };
            if reason == RevocationReason::Compromised && !extorted_requests.is_empty() {
                return Err(ServeError::Config(
                    "--extorted-request goes with --reason extorted".into(),
                ));
            }
            let extorted = extorted_requests
                .iter()
                .map(|s| id(s, "--extorted-request"))
                .collect::<Result<Vec<_>, _>>()?;
            let (storage, vault, _, _) = open_storage(config)?;
            let mut records = vault.records()?;
            if config.offline_max_exp.is_some() {
                records.extend(offline_vault(config)?.records()?);
            }
            if !records.iter().any(|r| r.info.key_id == key_id) {
                return Err(ServeError::Config(format!(
                    "this mint has no denomination key {key_id}"
                )));
            }
            let r = KeyRevocation {
                key_id,
                reason,
                revoked_at: SystemClock.now(),
            };
            storage.revoke_key(&r, &extorted)?;
            println!(
                "revoked key {key_id} ({}); {} request(s) marked extorted; a running mint publishes it within a rotation tick",
                reason.as_str(),
                extorted.len()
            );
            storage.close()?;
            Ok(())
        }
    }
}

/// The API document, serialized once at start.
fn openapi_json() -> Result<http::handlers::OpenApiDoc, ServeError> {
    let json = serde_json::to_string(&http::openapi_document())
        .map_err(|e| ServeError::Config(format!("the API document: {e}")))?;
    Ok(http::handlers::OpenApiDoc(Arc::new(json)))
}

/// The edge the flags describe: limits, the wallet's policy, body limit.
fn edge(config: &Config) -> Result<Edge, ServeError> {
    let ancestors = config
        .frame_ancestor_origins()
        .map_err(ServeError::Config)?;
    Edge::new(EdgeSettings {
        page_csp: &http::wallet::wallet_policy(&ancestors),
        max_body_bytes: config.max_body_bytes,
        rate_per_sec: config.rate_limit_per_sec,
        rate_burst: config.rate_limit_burst,
        request_timeout: Duration::from_secs(config.request_timeout_secs),
        trusted_proxies: config.trusted_proxies.clone(),
        client_ip_header: &config.client_ip_header,
    })
    .map_err(ServeError::Config)
}

/// Prints where the mint listens and its master key (to pin), and writes
/// the ready file.
fn announce(config: &Config, bank: &Bank, addr: SocketAddr, url: &str) -> std::io::Result<()> {
    let master = bank.keys().master.public();
    println!("mint-server listening on http://{addr}");
    println!(
        "master key fingerprint {} (pin this in wallets and merchants: {})",
        master.fingerprint(),
        master.0.to_b64()
    );
    ready::Ready {
        server: "mint-server".into(),
        url: url.to_owned(),
        pid: std::process::id(),
        master_public_key: Some(master.0.to_b64()),
        account_id: None,
    }
    .announce(config.ready_file.as_deref())
}

/// Runs the mint on `clock`; once it listens, sends where on `started`.
pub async fn serve(
    config: Config,
    clock: Arc<dyn Clock>,
    started: Option<std::sync::mpsc::Sender<Started>>,
) -> Result<(), ServeError> {
    let routes = http::routes();
    routes
        .check(ecash_core::api::bank)
        .map_err(ServeError::Config)?;
    let openapi = web::Data::new(openapi_json()?);
    let bank = open_bank(&config, clock)?;
    // Bind first: the public URL defaults to the address actually bound.
    let listener = std::net::TcpListener::bind(config.listen)?;
    let addr = listener.local_addr()?;
    let public_url = config.public_base(addr).map_err(ServeError::Config)?;
    let certifier = certifier_link(&config, &public_url)?;
    let certifier_key = certifier_key(&config)?;
    let clearing_link = clearing::ClearingLink::new(
        peer_urls(&config)?,
        certifier_key,
        Duration::from_secs(config.peer_refresh_secs),
        Duration::from_secs(config.settle_every_secs),
    )
    .map_err(ServeError::Config)?;
    let clearing_data = web::Data::new(clearing_link.clone());
    let edge = edge(&config)?;
    let limits = edge.limits.clone();

    let bank_data = web::Data::from(bank.clone());
    let metrics_on = web::Data::new(http::handlers::MetricsOn(config.metrics));
    let web_dir = config.web_dir.clone();
    let serve_wallet = web_dir.join("index.html").exists();
    let server = HttpServer::new(move || {
        let app = ecash_serve::app(edge.clone())
            .app_data(bank_data.clone())
            .app_data(metrics_on.clone())
            .app_data(clearing_data.clone())
            .app_data(openapi.clone())
            .configure(|c| routes.configure(c));
        if serve_wallet {
            app.service(actix_files::Files::new("/", &web_dir).index_file("index.html"))
        } else {
            app.route("/", web::get().to(http::wallet::landing))
        }
    })
    .shutdown_timeout(10)
    .client_request_timeout(Duration::from_secs(config.request_timeout_secs));
    let server = match config.workers {
        Some(n) => server.workers(n),
        None => server,
    };
    let server = server.listen(listener)?.run();

    announce(&config, &bank, addr, &public_url)?;
    if let Some(tx) = started {
        let _ = tx.send(Started {
            url: public_url,
            bank: bank.clone(),
            handle: server.handle(),
        });
    }

    let rotation = tokio::spawn(rotate_keys(
        bank.clone(),
        limits,
        config.withdraw_period_secs,
    ));
    let certifying =
        certifier.map(|link| tokio::spawn(certification::keep_certified(bank.clone(), link)));
    let clearing_tasks = clearing::start(bank.clone(), clearing_link);
    let result = server.await;
    rotation.abort();
    if let Some(task) = certifying {
        task.abort();
    }
    for task in clearing_tasks {
        task.abort();
    }
    tracing::info!("server stopped; closing the database");
    bank.storage().close()?;
    result?;
    Ok(())
}

/// The certifier the flags name, checked.
fn certifier_link(
    config: &Config,
    public_url: &str,
) -> Result<Option<certification::CertifierLink>, ServeError> {
    let Some(url) = &config.certifier_url else {
        return Ok(None);
    };
    let url = ecash_serve::origin_of(url)
        .map_err(|e| ServeError::Config(format!("--certifier-url {e}")))?;
    let Some(key) = certifier_key(config)? else {
        return Ok(None);
    };
    Ok(Some(certification::CertifierLink {
        url,
        key,
        mint_url: public_url.to_owned(),
        every: Duration::from_secs(config.certify_every_secs),
    }))
}

/// `--certifier-key`, checked.
fn certifier_key(config: &Config) -> Result<Option<ecash_core::PublicKey>, ServeError> {
    let Some(key) = &config.certifier_key else {
        return Ok(None);
    };
    ecash_core::B32::from_b64(key.trim())
        .map(ecash_core::PublicKey)
        .filter(ecash_core::PublicKey::is_valid)
        .map(Some)
        .ok_or_else(|| {
            ServeError::Config("--certifier-key must be an Ed25519 key, 32 bytes base64url".into())
        })
}

/// `--peer` URLs, each checked to be an http(s) origin.
fn peer_urls(config: &Config) -> Result<Vec<String>, ServeError> {
    config
        .peers
        .iter()
        .map(|u| ecash_serve::origin_of(u).map_err(|e| ServeError::Config(format!("--peer {e}"))))
        .collect()
}

/// Rotates denomination keys on schedule and trims the rate limiter.
async fn rotate_keys(bank: Arc<Bank>, limits: Arc<limits::Limits>, period: u64) {
    let tick = Duration::from_secs(keys::rotation_tick(period));
    // The first round runs at once: start-up made only the keys wallets
    // need now, this one makes the period after next.
    loop {
        let b = bank.clone();
        match tokio::task::spawn_blocking(move || b.rotate_keys()).await {
            Ok(Ok(true)) => tracing::info!("key set rotated"),
            Ok(Ok(false)) => {}
            Ok(Err(e)) => tracing::error!(error = %e, "key rotation failed"),
            Err(e) => tracing::error!(error = %e, "key rotation task failed"),
        }
        limits.shrink();
        tokio::time::sleep(tick).await;
    }
}
