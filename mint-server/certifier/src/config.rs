//! The certifier's command line: one data dir, and a command to serve,
//! certify a mint, revoke a certificate, or list them.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// NetCash's certifier (the FIC): certifies mints' master keys.
#[derive(Debug, Clone, Parser)]
#[command(name = "certifier", version, about)]
pub struct Cli {
    /// Directory of the certifier's key and registry (created if missing).
    #[arg(
        long,
        env = "CERTIFIER_DATA_DIR",
        default_value = "./data/certifier",
        global = true
    )]
    pub data_dir: PathBuf,

    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The certifier's commands.
#[derive(Debug, Clone, Subcommand)]
pub enum Command {
    /// Serves certificates, revocations and attestations over HTTP.
    Serve(ServeArgs),
    /// Certifies a mint's master key; prints the certificate as JSON.
    Issue(IssueArgs),
    /// Revokes a certificate.
    Revoke(RevokeArgs),
    /// Lists every certificate with its state.
    List,
    /// Prints the certifier's public key (base64url), for wallets to pin.
    PublicKey,
}

/// `certifier issue`.
#[derive(Debug, Clone, Args)]
pub struct IssueArgs {
    /// The mint's name (`CS_name`), shown to wallet users.
    #[arg(long)]
    pub cs_name: String,
    /// The bank id the mint's key sets carry (`mint-server --bank-id`):
    /// its key sets are attested only under it, and no other mint's
    /// certificate in force may hold it.
    #[arg(long)]
    pub bank_id: String,
    /// The mint's public base URL (`CS_addr`): wallets accept the
    /// certificate only from a mint reached at this origin.
    #[arg(long)]
    pub cs_addr: String,
    /// The mint's master public key (base64url, as `mint-server` prints it).
    // base64url may start with '-': a value, not a flag.
    #[arg(long, allow_hyphen_values = true)]
    pub master_key: String,
    /// The currency the mint issues.
    #[arg(long, default_value = "DEMO")]
    pub currency: String,
    /// How long the certificate is valid, in seconds (default 90 days).
    #[arg(long, default_value_t = 90 * 86_400, value_parser = clap::value_parser!(u64).range(1..=5 * 365 * 86_400))]
    pub valid_secs: u64,
    /// Issue nothing if a certificate in force already names this master
    /// key as this bank id at this address; print that one (for scripts run
    /// again).
    #[arg(long)]
    pub if_missing: bool,
    /// Revoke the key's certificate in force, if any, as superseded by this
    /// one (a key has one certificate in force at a time).
    #[arg(long)]
    pub replace: bool,
}

/// `certifier revoke`.
#[derive(Debug, Clone, Args)]
pub struct RevokeArgs {
    /// The certificate's serial number.
    #[arg(long)]
    pub cert_id: u64,
    /// Why, as wallets will show it.
    #[arg(long)]
    pub reason: String,
}

/// `certifier serve`.
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Address to listen on. Port 0 picks a free port (printed at start).
    #[arg(long, env = "CERTIFIER_LISTEN", default_value = "127.0.0.1:8070")]
    pub listen: SocketAddr,

    /// Public base URL, as wallets and mints reach it. Default: http:// and
    /// the listen address.
    #[arg(long, env = "CERTIFIER_PUBLIC_URL")]
    pub public_url: Option<String>,

    /// The certifier's name, as `GET /certifier` gives it.
    #[arg(long, env = "CERTIFIER_NAME", default_value = "demo certifier")]
    pub name: String,

    /// How long a revocation list is fresh, in seconds: its `next_update`.
    /// A wallet holding a stale list asks the certifier again.
    #[arg(long, env = "CERTIFIER_REVOCATIONS_TTL_SECS", default_value_t = 3600, value_parser = clap::value_parser!(u64).range(1..=7 * 86_400))]
    pub revocations_ttl_secs: u64,

    /// Largest request body, in bytes (a key set with many keys).
    #[arg(long, env = "CERTIFIER_MAX_BODY_BYTES", default_value_t = 1024 * 1024)]
    pub max_body_bytes: usize,

    /// Requests per second allowed per client address (sustained).
    #[arg(
        long = "rate-limit",
        env = "CERTIFIER_RATE_LIMIT",
        default_value_t = 100
    )]
    pub rate_limit_per_sec: u32,

    /// Burst size of the per-address rate limit.
    #[arg(
        long = "rate-burst",
        env = "CERTIFIER_RATE_BURST",
        default_value_t = 200
    )]
    pub rate_limit_burst: u32,

    /// A request taking longer is answered 503 `timeout`, in seconds.
    #[arg(long, env = "CERTIFIER_REQUEST_TIMEOUT_SECS", default_value_t = 30)]
    pub request_timeout_secs: u64,

    /// Address of a reverse proxy in front (repeat, or comma-separate).
    #[arg(
        long = "trusted-proxy",
        env = "CERTIFIER_TRUSTED_PROXIES",
        value_delimiter = ','
    )]
    pub trusted_proxies: Vec<IpAddr>,

    /// Header in which a trusted proxy names the client address.
    #[arg(
        long,
        env = "CERTIFIER_CLIENT_IP_HEADER",
        default_value = "x-forwarded-for"
    )]
    pub client_ip_header: String,

    /// Once listening, write where (and the certifier's key) to this file.
    #[arg(long, env = "CERTIFIER_READY_FILE")]
    pub ready_file: Option<PathBuf>,
}
