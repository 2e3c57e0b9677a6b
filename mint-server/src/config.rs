//! Service configuration: flags and environment variables (`clap`).

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Parser;

/// The bank of browser e-cash: an actix-web mint on SQLite, with a demo shop.
#[derive(Debug, Clone, Parser)]
#[command(name = "mint-server", version, about)]
pub struct Config {
    /// Address to listen on. Port 0 picks a free port (printed at start).
    #[arg(long, env = "MINT_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,

    /// Directory for the database and key files (created if missing).
    #[arg(long, env = "MINT_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,

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

    /// Enable the demo faucet (free test money). Off unless asked for.
    #[arg(long, env = "MINT_DEMO_FAUCET", default_value_t = false)]
    pub demo_faucet: bool,

    /// Largest faucet credit per request, in minor units.
    #[arg(long, env = "MINT_FAUCET_MAX", default_value_t = 100_000)]
    pub faucet_max: u64,

    /// Serve the demo shop under /shop.
    #[arg(long, env = "MINT_SHOP", default_value_t = true, action = clap::ArgAction::Set)]
    pub shop: bool,

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
}
