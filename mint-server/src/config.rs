//! Service configuration: flags and environment variables (`clap`).

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use clap::Parser;

/// The bank of browser e-cash: an actix-web mint on SQLite.
#[derive(Debug, Clone, Parser)]
#[command(name = "mint-server", version, about)]
pub struct Config {
    /// Address to listen on. Port 0 picks a free port (printed at start).
    #[arg(long, env = "MINT_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,

    /// Directory for the database and key files (created if missing).
    #[arg(long, env = "MINT_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,

    /// The books' database: a `postgres://user:password@host:port/db` URL
    /// (or key=value settings) for a database several nodes share. Without
    /// it, the books are the embedded SQLite file `bank.db` in the data
    /// directory. Prefer the environment to the command line for a URL with
    /// a password: it is not shown in process lists.
    #[arg(long, env = "MINT_DATABASE_URL", hide_env_values = true)]
    pub database: Option<String>,

    /// File holding the key-encryption key (32 bytes, base64url) under which
    /// the mint's private keys are sealed in the PostgreSQL database. Every
    /// node of one mint is given the same file; the database never sees it.
    /// Required with `--database`. Make one with
    /// `(umask 077; head -c 32 /dev/urandom | basenc --base64url | tr -d '=\n' > kek)`;
    /// a file others may read is refused.
    #[arg(long, env = "MINT_KEY_ENCRYPTION_KEY_FILE")]
    pub key_encryption_key_file: Option<PathBuf>,

    /// Connections to the PostgreSQL database this node keeps at most.
    #[arg(long, env = "MINT_DATABASE_POOL", default_value_t = 16, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub database_pool: u32,

    /// This bank's identifier, as it appears in payment_info and statements.
    #[arg(long, env = "MINT_BANK_ID", default_value = "demo-bank")]
    pub bank_id: String,

    /// Currency code of every amount (3-12 characters A-Z, 0-9).
    #[arg(long, env = "MINT_CURRENCY", default_value = "DEMO")]
    pub currency: String,

    /// Largest denomination as a power of two: coins of 1, 2, 4, ... 2^N minor units.
    #[arg(long, env = "MINT_MAX_DENOMINATION_EXP", default_value_t = 16, value_parser = clap::value_parser!(u8).range(0..=40))]
    pub max_denomination_exp: u8,

    /// RSA modulus size of denomination keys, in bits.
    #[arg(long, env = "MINT_RSA_BITS", default_value_t = 2048, value_parser = clap::value_parser!(u32).range(2048..=4096))]
    pub rsa_bits: u32,

    /// How long one denomination key signs new coins, in seconds (then it rotates).
    #[arg(long, env = "MINT_WITHDRAW_PERIOD_SECS", default_value_t = 30 * 24 * 3600)]
    pub withdraw_period_secs: u64,

    /// How long after its withdraw window a key's coins can still be deposited, in seconds.
    #[arg(long, env = "MINT_DEPOSIT_GRACE_SECS", default_value_t = 365 * 24 * 3600)]
    pub deposit_grace_secs: u64,

    /// Offline (CAFE) coins, `OFFLINE.md`: keys of their own for values 1, 2,
    /// ... 2^N minor units. Off unless given; needs the SQLite books.
    #[arg(long, env = "MINT_OFFLINE_MAX_EXP", value_parser = clap::value_parser!(u8).range(0..=16))]
    pub offline_max_exp: Option<u8>,

    /// Enable the demo faucet (free test money). Off unless asked for.
    #[arg(long, env = "MINT_DEMO_FAUCET", default_value_t = false)]
    pub demo_faucet: bool,

    /// Certify merchants' keys under the names they ask for, for this many
    /// seconds (off unless given: a bank vouching for names must vet them).
    #[arg(long, env = "MINT_MERCHANT_CERTIFICATE_SECS", value_parser = clap::value_parser!(u64).range(60..=366 * 86_400))]
    pub merchant_certificate_secs: Option<u64>,

    /// Largest faucet credit per request, in minor units.
    #[arg(long, env = "MINT_FAUCET_MAX", default_value_t = 100_000)]
    pub faucet_max: u64,

    /// Directory of the built web wallet (Trunk's dist/), served at / when it exists.
    #[arg(long, env = "MINT_WEB_DIR", default_value = "./dist")]
    pub web_dir: PathBuf,

    /// Largest request body, in bytes.
    #[arg(long = "max-body-bytes", env = "MINT_MAX_BODY_BYTES", default_value_t = 1024 * 1024)]
    pub max_body_bytes: usize,

    /// Blind-signing backend: openssl (fast, the default) or rust (portable).
    #[arg(long, env = "MINT_SIGNER", value_enum, default_value_t = crate::signer::SignerKind::Openssl)]
    pub signer: crate::signer::SignerKind,

    /// Threads of the signing pool (default: one per core).
    #[arg(long, env = "MINT_SIGNING_THREADS")]
    pub signing_threads: Option<usize>,

    /// Most coins (or blinded coins) one request may carry.
    #[arg(long = "max-coins", env = "MINT_MAX_COINS", default_value_t = 256)]
    pub max_coins: usize,

    /// Requests per second allowed per client address (sustained).
    #[arg(long = "rate-limit", env = "MINT_RATE_LIMIT", default_value_t = 200)]
    pub rate_limit_per_sec: u32,

    /// Burst size of the per-address rate limit.
    #[arg(long = "rate-burst", env = "MINT_RATE_BURST", default_value_t = 400)]
    pub rate_limit_burst: u32,

    /// A request taking longer than this is answered 503 `timeout`, in seconds.
    /// A timed-out state change may still commit; retrying with the same
    /// request id returns its stored answer.
    #[arg(
        long = "request-timeout-secs",
        env = "MINT_REQUEST_TIMEOUT_SECS",
        default_value_t = 30
    )]
    pub request_timeout_secs: u64,

    /// Worker threads for HTTP (default: one per core).
    #[arg(long, env = "MINT_WORKERS")]
    pub workers: Option<usize>,

    /// Public base URL of this server, as clients reach it (e.g.
    /// https://mint.example), as the ready file reports it; request headers
    /// never change it. Default: http:// and the listen address (127.0.0.1
    /// when listening on every address).
    #[arg(long, env = "MINT_PUBLIC_URL")]
    pub public_url: Option<String>,

    /// Address of a reverse proxy in front of this server (repeat, or
    /// comma-separate). Only requests from these addresses may name the
    /// client in `--client-ip-header`; the rate limit then counts per client.
    #[arg(
        long = "trusted-proxy",
        env = "MINT_TRUSTED_PROXIES",
        value_delimiter = ','
    )]
    pub trusted_proxies: Vec<IpAddr>,

    /// Header in which a trusted proxy names the client address
    /// (`x-forwarded-for`: the rightmost address not of a trusted proxy).
    #[arg(long, env = "MINT_CLIENT_IP_HEADER", default_value = "x-forwarded-for")]
    pub client_ip_header: String,

    /// Origin allowed to show the web wallet in a frame (repeat, or
    /// comma-separate), beside the wallet's own origin: the page that embeds
    /// `<ecash-wallet-panel>`. Every other origin is refused by the CSP
    /// `frame-ancestors`, so no foreign page can frame the wallet to trick clicks.
    #[arg(
        long = "frame-ancestor",
        env = "MINT_FRAME_ANCESTORS",
        value_delimiter = ','
    )]
    pub frame_ancestors: Vec<String>,

    /// Serve counters of costly work at /metrics. Off by default: their
    /// timing could help an onlooker link a withdrawal to a payment.
    #[arg(long, env = "MINT_METRICS", default_value_t = false)]
    pub metrics: bool,

    /// How long one built spent list (`/keys/{key_id}/spent`) is served
    /// before it is built again, in seconds.
    #[arg(long, env = "MINT_SPENT_LIST_MAX_AGE_SECS", default_value_t = 60)]
    pub spent_list_max_age_secs: u64,

    /// Once listening, write where (and the master public key) to this
    /// file as JSON, atomically: for scripts and test kits.
    #[arg(long, env = "MINT_READY_FILE")]
    pub ready_file: Option<PathBuf>,

    /// The certifier (NetCash's FIC) that certifies this mint: its base URL.
    /// The mint hands it each key set it publishes and serves the answer
    /// (certificate, attestation, revocation list) with `/keys`.
    #[arg(long, env = "MINT_CERTIFIER_URL", requires = "certifier_key")]
    pub certifier_url: Option<String>,

    /// The certifier's public key (base64url): what it answers is served
    /// only if signed by it and naming this mint's key and public URL.
    // base64url may start with '-': a value, not a flag.
    #[arg(
        long,
        env = "MINT_CERTIFIER_KEY",
        allow_hyphen_values = true,
        requires = "certifier_url"
    )]
    pub certifier_key: Option<String>,

    /// How often the key set is handed to the certifier again (for a fresh
    /// revocation list), in seconds; at once after each rotation.
    #[arg(long, env = "MINT_CERTIFY_EVERY_SECS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub certify_every_secs: u64,

    /// Another certified mint this one clears with (NetCash), by its base
    /// URL; repeat for more. Its merchants' payments in that mint's coins
    /// are deposited there, into this mint's account. Needs the certifier.
    #[arg(
        long = "peer",
        env = "MINT_PEERS",
        value_delimiter = ',',
        requires = "certifier_key"
    )]
    pub peers: Vec<String>,

    /// How often each peer's certificate and key set are fetched and
    /// checked again, in seconds.
    #[arg(long, env = "MINT_PEER_REFRESH_SECS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub peer_refresh_secs: u64,

    /// How often what peers owe this mint is settled, in seconds.
    #[arg(long, env = "MINT_SETTLE_EVERY_SECS", default_value_t = 300, value_parser = clap::value_parser!(u64).range(1..=86400))]
    pub settle_every_secs: u64,

    /// An operator's action on the books instead of serving (a running mint
    /// of the same books takes it up within a rotation tick).
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// What an operator does to the books of a mint, running or not.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum Command {
    /// Revokes a denomination key: none of its coins is paid or exchanged
    /// any more; honest holders recoup them (`POST /recoup`).
    RevokeKey {
        /// The key id, base64url (as `/keys` lists it).
        // base64url may start with '-': a value, not a flag.
        #[arg(long, allow_hyphen_values = true)]
        key_id: String,
        /// Why: its private key leaked, or coins were extorted under it.
        #[arg(long, value_enum)]
        reason: ReasonArg,
        /// A withdrawal or exchange (its request id, base64url) whose blinded
        /// coins the bank was forced to sign: they are never recouped.
        /// Repeatable; only with `--reason extorted`.
        #[arg(long = "extorted-request", allow_hyphen_values = true)]
        extorted_requests: Vec<String>,
    },
}

/// [`ecash_core::keyset::RevocationReason`] on the command line.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum ReasonArg {
    /// Its private key leaked.
    Compromised,
    /// Coins were extorted under it.
    Extorted,
}

impl Config {
    /// The public base URL: `--public-url` checked, or the one `listen` implies.
    pub fn public_base(&self, bound: SocketAddr) -> Result<String, String> {
        ecash_serve::public_base(self.public_url.as_deref(), bound)
    }

    /// `--frame-ancestor` values as origins, each checked.
    pub fn frame_ancestor_origins(&self) -> Result<Vec<String>, String> {
        ecash_serve::origins("--frame-ancestor", &self.frame_ancestors)
    }
}
