//! NetCash's certifier (the FIC) for browser e-cash. It certifies each
//! mint's master key (`{Cert_ID, CS_name, PK_CS, Issue_date, Expiry}Sig_FIC`,
//! with the mint's address), publishes the certificates it revoked, and
//! attests each key set a mint hands in, refusing one that contradicts a set
//! attested before. Wallets pin its key, not each mint's.
//!
//! - [`config`]: the command line;
//! - [`registry`]: certificates, revocations and attested keys, in SQLite;
//! - [`http`]: its routes, as `ecash_core::api::certifier` describes them.

pub mod config;
pub mod http;
pub mod registry;

use std::sync::Arc;
use std::time::Duration;

use actix_web::{HttpServer, web};
use ecash_core::Clock;
use ecash_core::clock::SystemClock;
use ecash_serve::{Edge, EdgeSettings, ready};

use crate::config::{Cli, Command, ServeArgs};
use crate::registry::{Registry, RegistryError};

/// The certifier could not do what it was asked.
#[derive(Debug, thiserror::Error)]
pub enum CertifierError {
    /// A configuration value is refused.
    #[error("configuration: {0}")]
    Config(String),
    /// The registry refused or failed.
    #[error(transparent)]
    Registry(#[from] RegistryError),
    /// Binding or serving failed.
    #[error("server: {0}")]
    Io(#[from] std::io::Error),
}

/// Runs one command of the command line.
pub async fn run(cli: Cli) -> Result<(), CertifierError> {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let open = || Registry::open(&cli.data_dir);
    match cli.command {
        Command::Serve(args) => serve(open()?, args, clock).await,
        Command::Issue(a) => {
            let registry = open()?;
            let now = clock.now();
            let held = match a.if_missing {
                true => registry.held(&a.master_key, &a.bank_id, &a.cs_addr, now)?,
                false => None,
            };
            let cert = match held {
                Some(c) => c,
                None => registry.issue(
                    &a.cs_name,
                    &a.bank_id,
                    &a.cs_addr,
                    &a.master_key,
                    &a.currency,
                    a.valid_secs,
                    a.replace,
                    now,
                )?,
            };
            let json = serde_json::to_string_pretty(&cert)
                .map_err(|e| CertifierError::Config(e.to_string()))?;
            println!("{json}");
            Ok(())
        }
        Command::Revoke(a) => {
            open()?.revoke(a.cert_id, &a.reason, clock.now())?;
            println!("certificate {} revoked", a.cert_id);
            Ok(())
        }
        Command::List => {
            let now = clock.now();
            for e in open()?.entries()? {
                let c = &e.certificate.body;
                let state = match &e.revoked {
                    Some(r) => format!("revoked ({})", r.reason),
                    None if now > c.expires_at => "expired".into(),
                    None => "in force".into(),
                };
                println!(
                    "{}\t{}\t{}\t{}\t{}\t{state}",
                    c.cert_id,
                    c.cs_name,
                    c.bank_id,
                    c.cs_addr,
                    c.master_public_key.fingerprint()
                );
            }
            Ok(())
        }
        Command::PublicKey => {
            println!("{}", open()?.public_key().0.to_b64());
            Ok(())
        }
    }
}

/// Settings of a running certifier.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Its name.
    pub name: String,
    /// How long a revocation list is fresh, seconds.
    pub revocations_ttl: u64,
}

/// Serves `registry` on `clock` until SIGINT/SIGTERM.
pub async fn serve(
    registry: Registry,
    args: ServeArgs,
    clock: Arc<dyn Clock>,
) -> Result<(), CertifierError> {
    let routes = http::routes();
    routes
        .check(ecash_core::api::certifier)
        .map_err(CertifierError::Config)?;
    let doc = serde_json::to_string(&http::openapi_document())
        .map_err(|e| CertifierError::Config(e.to_string()))?;
    let doc = web::Data::new(http::OpenApiDoc(Arc::new(doc)));
    let listener = std::net::TcpListener::bind(args.listen)?;
    let addr = listener.local_addr()?;
    let url = ecash_serve::public_base(args.public_url.as_deref(), addr)
        .map_err(CertifierError::Config)?;
    let edge = Edge::new(EdgeSettings {
        page_csp: "default-src 'none'; frame-ancestors 'none'",
        max_body_bytes: args.max_body_bytes,
        rate_per_sec: args.rate_limit_per_sec,
        rate_burst: args.rate_limit_burst,
        request_timeout: Duration::from_secs(args.request_timeout_secs),
        trusted_proxies: args.trusted_proxies.clone(),
        client_ip_header: &args.client_ip_header,
    })
    .map_err(CertifierError::Config)?;
    let public = registry.public_key();
    let state = web::Data::new(http::State {
        registry: Arc::new(registry),
        clock,
        settings: Settings {
            name: args.name.clone(),
            revocations_ttl: args.revocations_ttl_secs,
        },
    });
    let server = HttpServer::new(move || {
        ecash_serve::app(edge.clone())
            .app_data(state.clone())
            .app_data(doc.clone())
            .configure(|c| routes.configure(c))
    })
    .shutdown_timeout(5)
    .listen(listener)?
    .run();
    println!("certifier listening on http://{addr}");
    println!(
        "certifier key fingerprint {} (pin this in wallets: {})",
        public.fingerprint(),
        public.0.to_b64()
    );
    ready::Ready {
        server: "certifier".into(),
        url,
        pid: std::process::id(),
        master_public_key: Some(public.0.to_b64()),
        account_id: None,
    }
    .announce(args.ready_file.as_deref())?;
    server.await?;
    Ok(())
}
