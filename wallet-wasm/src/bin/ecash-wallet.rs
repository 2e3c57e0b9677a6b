//! `ecash-wallet`: the wallet core on the command line, for testers and scripts.
//!
//! State lives in one SQLite file (`--wallet`, default `./ecash-wallet.db`).
//! Results print as JSON on stdout; errors as `error [code]: message` on stderr
//! with exit status 1.

#[cfg(not(target_arch = "wasm32"))]
mod cli {
    use std::path::PathBuf;

    use clap::{Parser, Subcommand};
    use ecash_core::{B32, PublicKey};
    use serde::Serialize;
    use wallet_wasm::store::sqlite::SqliteStore;
    use wallet_wasm::transport::ReqwestTransport;
    use wallet_wasm::{Progress, Wallet, WalletError, WalletSettings};

    #[derive(Parser)]
    #[command(
        name = "ecash-wallet",
        version,
        about = "Chaumian e-cash wallet (CLI over the same core as the browser wallet)"
    )]
    struct Args {
        /// The wallet's SQLite file.
        #[arg(long, env = "ECASH_WALLET", default_value = "ecash-wallet.db")]
        wallet: PathBuf,
        #[command(subcommand)]
        cmd: Cmd,
    }

    #[derive(Subcommand)]
    enum Cmd {
        /// Create a wallet for a bank and print its seed phrase (write it down).
        Init {
            /// Bank base URL, e.g. http://127.0.0.1:8080
            #[arg(long)]
            bank: String,
            /// Master public key to pin (base64url); default: trust the bank's on first use.
            #[arg(long)]
            master_key: Option<String>,
        },
        /// Restore a wallet from its seed phrase into a new wallet file.
        Restore {
            /// Bank base URL.
            #[arg(long)]
            bank: String,
            /// The seed phrase.
            #[arg(long, env = "ECASH_SEED")]
            seed: String,
            /// Master public key to pin (base64url).
            #[arg(long)]
            master_key: Option<String>,
        },
        /// Demo faucet: credit the bank account.
        Faucet { amount: u64 },
        /// Withdraw coins from the bank account.
        Withdraw { amount: u64 },
        /// Pay a payment request: its URL, a web+ecash: link, or its JSON.
        Pay { payreq: String },
        /// Take coins out as a transfer token.
        Send { amount: u64 },
        /// Claim a transfer token.
        Receive { token: String },
        /// Exchange every coin for fresh ones (new serials, renewed expiry).
        Exchange,
        /// Coins held, by denomination.
        Balance,
        /// The bank account's statement.
        Account,
        /// History, newest first.
        History,
        /// Unfinished operations.
        Pending,
        /// Ask the bank for a signed proof of a payment.
        Prove { payment_id: String },
        /// Finish or undo unfinished operations; drop coins spent elsewhere; refresh expiring coins.
        Recover,
        /// Print the seed phrase.
        Seed,
        /// Offline coins (CAFE): spend and receive with no bank.
        Offline {
            #[command(subcommand)]
            cmd: OfflineCmd,
        },
    }

    #[derive(Subcommand)]
    enum OfflineCmd {
        /// Collateral, allowance, penalties and freeze, from the bank.
        Standing,
        /// Lock part of the account balance as collateral (the offline allowance).
        Lock { amount: u64 },
        /// Release collateral (it comes back when the keys it backs close).
        Release { amount: u64 },
        /// Withdraw offline coins against the allowance.
        Withdraw { amount: u64 },
        /// Make an invoice for another wallet to pay offline (prints it).
        Invoice { amount: u64 },
        /// Pay an invoice offline (prints the token to hand over).
        Pay { invoice: String },
        /// Pay a shop offline at its base URL.
        PayShop {
            /// The shop's base URL.
            shop: String,
            /// Minor units.
            amount: u64,
        },
        /// Take an offline token with no network.
        Receive { token: String },
        /// Deposit what was received offline (needs the bank).
        Deposit,
        /// Send again the spends a shop did not confirm.
        Resend,
        /// The tokens of offline payments to wallets, to hand over again.
        Tokens,
        /// Offline coins held and received (no network).
        Balance,
        /// Finish offline withdrawals a crash or cut interrupted.
        Recover,
    }

    async fn offline<S: wallet_wasm::store::Store, T: wallet_wasm::transport::Transport>(
        wallet: &mut Wallet<S, T>,
        cmd: OfflineCmd,
    ) -> Result<(), WalletError> {
        match cmd {
            OfflineCmd::Standing => print(&wallet.offline_standing().await?),
            OfflineCmd::Lock { amount } => print(&wallet.offline_collateral(true, amount).await?),
            OfflineCmd::Release { amount } => {
                print(&wallet.offline_collateral(false, amount).await?)
            }
            OfflineCmd::Withdraw { amount } => {
                let mut cb = progress;
                print(&wallet.offline_withdraw(amount, Some(&mut cb)).await?)
            }
            OfflineCmd::Invoice { amount } => {
                println!("{}", wallet.offline_invoice(amount).await?);
                Ok(())
            }
            OfflineCmd::Pay { invoice } => {
                let done = wallet.offline_pay_invoice(&invoice).await?;
                eprintln!("paid {} in {} offline coins", done.amount, done.coins);
                println!("{}", done.token.unwrap_or_default());
                Ok(())
            }
            OfflineCmd::PayShop { shop, amount } => {
                print(&wallet.offline_pay_shop(&shop, amount).await?)
            }
            OfflineCmd::Receive { token } => print(&wallet.offline_receive(&token).await?),
            OfflineCmd::Deposit => print(&wallet.offline_deposit().await?),
            OfflineCmd::Resend => {
                let (confirmed, last) = wallet.offline_resend().await?;
                print(&serde_json::json!({
                    "confirmed": confirmed,
                    "last_error": last.map(|e| format!("[{}] {e}", e.code())),
                }))
            }
            OfflineCmd::Tokens => print(&wallet.offline_tokens().await?),
            OfflineCmd::Balance => print(&wallet.offline_balance().await?),
            OfflineCmd::Recover => print(&serde_json::json!({
                "finished": wallet.offline_finish_withdrawals().await?
            })),
        }
    }

    fn print<T: Serialize>(v: &T) -> Result<(), WalletError> {
        let s = serde_json::to_string_pretty(v)
            .map_err(|e| WalletError::Input(format!("printing: {e}")))?;
        println!("{s}");
        Ok(())
    }

    fn pinned(m: Option<String>) -> Result<Option<PublicKey>, WalletError> {
        m.map(|s| {
            B32::from_b64(&s)
                .map(PublicKey)
                .ok_or_else(|| WalletError::Input("--master-key must be 32 bytes base64url".into()))
        })
        .transpose()
    }

    fn progress(p: Progress) {
        eprint!("\r{} {}/{}   ", p.phase, p.done, p.total);
        if p.done == p.total {
            eprintln!();
        }
    }

    async fn run(args: Args) -> Result<(), WalletError> {
        let store = SqliteStore::open(&args.wallet)?;
        let net =
            ReqwestTransport::new().map_err(|e| WalletError::Input(format!("HTTP client: {e}")))?;
        let settings = WalletSettings::default();
        let (mut wallet, cmd) = match args.cmd {
            Cmd::Init { bank, master_key } => {
                let (w, phrase) =
                    Wallet::create(store, net, &bank, pinned(master_key)?, settings).await?;
                eprintln!("Write this seed phrase down; it restores every coin:\n{phrase}");
                return print(&serde_json::json!({
                    "account_id": w.account_id(),
                    "master_fingerprint": w.master_fingerprint(),
                }));
            }
            Cmd::Restore {
                bank,
                seed,
                master_key,
            } => {
                let mut cb = progress;
                let (_, report) = Wallet::restore(
                    store,
                    net,
                    &bank,
                    pinned(master_key)?,
                    &seed,
                    settings,
                    Some(&mut cb),
                )
                .await?;
                return print(&report);
            }
            cmd => (Wallet::open(store, net, settings).await?, cmd),
        };
        match cmd {
            Cmd::Faucet { amount } => print(&wallet.faucet(amount).await?),
            Cmd::Withdraw { amount } => {
                let mut cb = progress;
                print(&wallet.withdraw(amount, Some(&mut cb)).await?)
            }
            Cmd::Pay { payreq } => {
                let p = wallet.resolve_payreq(&payreq).await?;
                print(&wallet.pay(p).await?.entry)
            }
            Cmd::Send { amount } => {
                println!("{}", wallet.send(amount).await?);
                Ok(())
            }
            Cmd::Receive { token } => {
                print(&serde_json::json!({ "received": wallet.receive(&token).await? }))
            }
            Cmd::Exchange => {
                print(&serde_json::json!({ "exchanged": wallet.exchange_all().await? }))
            }
            Cmd::Balance => print(&wallet.balance()),
            Cmd::Account => print(&wallet.account_statement().await?),
            Cmd::History => print(&wallet.history()),
            Cmd::Pending => print(&wallet.pending()),
            Cmd::Prove { payment_id } => {
                let id = B32::from_b64(&payment_id).ok_or_else(|| {
                    WalletError::Input("a payment id is 32 bytes base64url".into())
                })?;
                print(&wallet.prove_payment(&id).await?)
            }
            Cmd::Recover => print(&wallet.recover().await?),
            Cmd::Seed => {
                println!("{}", wallet.seed_phrase());
                Ok(())
            }
            Cmd::Offline { cmd } => offline(&mut wallet, cmd).await,
            Cmd::Init { .. } | Cmd::Restore { .. } => Ok(()),
        }
    }

    /// Entry point.
    pub fn main() -> std::process::ExitCode {
        let args = Args::parse();
        let rt = match tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            Ok(rt) => rt,
            Err(e) => {
                eprintln!("error [runtime]: {e}");
                return std::process::ExitCode::FAILURE;
            }
        };
        match rt.block_on(run(args)) {
            Ok(()) => std::process::ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error [{}]: {e}", e.code());
                std::process::ExitCode::FAILURE
            }
        }
    }
}

#[cfg(not(target_arch = "wasm32"))]
fn main() -> std::process::ExitCode {
    cli::main()
}

// The CLI is native only; wasm builds of the crate (wasm-pack test) still compile this target.
#[cfg(target_arch = "wasm32")]
fn main() {}
