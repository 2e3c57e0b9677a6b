//! The merchant's configuration: flags and environment variables (`clap`).

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use clap::Parser;

/// The demo merchant of browser e-cash: a shop that banks at a mint over HTTP.
#[derive(Debug, Clone, Parser)]
#[command(name = "merchant", version, about)]
pub struct Config {
    /// Address to listen on. Port 0 picks a free port (printed at start).
    #[arg(long, env = "SHOP_LISTEN", default_value = "127.0.0.1:8081")]
    pub listen: SocketAddr,

    /// Directory for the shop's key, admin token and database (created if missing).
    #[arg(long, env = "SHOP_DATA_DIR", default_value = "./data/shop")]
    pub data_dir: PathBuf,

    /// The bank the shop banks at (its base URL).
    #[arg(long, env = "SHOP_BANK_URL", default_value = "http://127.0.0.1:8080")]
    pub bank_url: String,

    /// The bank's master public key (base64url, as `mint-server` prints it):
    /// the key set and every deposit ack must be signed by it. No trust on
    /// first use: without it the shop does not start.
    // base64url may start with '-': a value, not a flag.
    #[arg(long, env = "SHOP_BANK_MASTER_KEY", allow_hyphen_values = true)]
    pub bank_master_key: String,

    /// Public base URL of this shop, as buyers reach it (e.g.
    /// https://shop.example). Its links are built from it; request headers
    /// never change them. Default: http:// and the listen address.
    #[arg(long, env = "SHOP_PUBLIC_URL")]
    pub public_url: Option<String>,

    /// Where buyers' web wallets live: "Pay with Ecash" links there, with
    /// the payment request's address in the fragment. Default: the bank's URL
    /// (the mint serves the web wallet).
    #[arg(long, env = "SHOP_WALLET_URL")]
    pub wallet_url: Option<String>,

    /// How long a payment request stays payable, in seconds (at most an
    /// hour: wallets refuse longer ones).
    #[arg(long, env = "SHOP_PAYREQ_TTL_SECS", default_value_t = 15 * 60, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub payreq_ttl_secs: u64,

    /// Origin whose pages may make orders (repeat, or comma-separate),
    /// beside the shop's own: a storefront on another host. Other sites'
    /// pages may not, so none can fill the order book through its visitors.
    #[arg(
        long = "order-origin",
        env = "SHOP_ORDER_ORIGINS",
        value_delimiter = ','
    )]
    pub order_origins: Vec<String>,

    /// The account's label at the bank.
    #[arg(long, env = "SHOP_LABEL", default_value = "demo shop")]
    pub label: String,

    /// How long a call to the bank may take, in seconds.
    #[arg(long, env = "SHOP_BANK_TIMEOUT_SECS", default_value_t = 20)]
    pub bank_timeout_secs: u64,

    /// How long to wait at start for the bank to answer, in seconds.
    #[arg(long, env = "SHOP_BANK_WAIT_SECS", default_value_t = 60)]
    pub bank_wait_secs: u64,

    /// How often payments whose outcome at the bank is unknown are sent
    /// again, in seconds.
    #[arg(long, env = "SHOP_SETTLE_EVERY_SECS", default_value_t = 30)]
    pub settle_every_secs: u64,

    /// Largest request body, in bytes.
    #[arg(long = "max-body-bytes", env = "SHOP_MAX_BODY_BYTES", default_value_t = 1024 * 1024)]
    pub max_body_bytes: usize,

    /// Requests per second allowed per client address (sustained).
    #[arg(long = "rate-limit", env = "SHOP_RATE_LIMIT", default_value_t = 200)]
    pub rate_limit_per_sec: u32,

    /// Burst size of the per-address rate limit.
    #[arg(long = "rate-burst", env = "SHOP_RATE_BURST", default_value_t = 400)]
    pub rate_limit_burst: u32,

    /// Orders a client address may make per minute (sustained; bursts of
    /// `--order-burst`): every order is stored until it expires, so one
    /// client must not fill the order book for everyone.
    #[arg(long, env = "SHOP_ORDER_RATE", default_value_t = 60)]
    pub order_rate: u32,

    /// Burst size of the per-address order quota.
    #[arg(long, env = "SHOP_ORDER_BURST", default_value_t = 30)]
    pub order_burst: u32,

    /// Payments a client address may send per minute (sustained; bursts of
    /// `--pay-burst`): each is deposited at the bank, which counts the
    /// whole shop as one client, so one client's junk must not use up the
    /// shop's quota there. Keep it well below the bank's rate per client.
    #[arg(long, env = "SHOP_PAY_RATE", default_value_t = 60)]
    pub pay_rate: u32,

    /// Burst size of the per-address payment quota.
    #[arg(long, env = "SHOP_PAY_BURST", default_value_t = 20)]
    pub pay_burst: u32,

    /// A request taking longer than this is answered 503 `timeout`, in seconds.
    #[arg(
        long = "request-timeout-secs",
        env = "SHOP_REQUEST_TIMEOUT_SECS",
        default_value_t = 30
    )]
    pub request_timeout_secs: u64,

    /// Address of a reverse proxy in front of this shop (repeat, or
    /// comma-separate): only its requests may name the client in
    /// `--client-ip-header`.
    #[arg(
        long = "trusted-proxy",
        env = "SHOP_TRUSTED_PROXIES",
        value_delimiter = ','
    )]
    pub trusted_proxies: Vec<IpAddr>,

    /// Header in which a trusted proxy names the client address.
    #[arg(long, env = "SHOP_CLIENT_IP_HEADER", default_value = "x-forwarded-for")]
    pub client_ip_header: String,

    /// Worker threads for HTTP (default: one per core).
    #[arg(long, env = "SHOP_WORKERS")]
    pub workers: Option<usize>,

    /// Once listening, write where (and the shop's account) to this file
    /// as JSON, atomically: for scripts and test kits.
    #[arg(long, env = "SHOP_READY_FILE")]
    pub ready_file: Option<PathBuf>,
}
