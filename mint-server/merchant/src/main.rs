//! `merchant`: see `merchant --help`.

use clap::Parser;
use merchant::config::Config;

#[actix_web::main]
async fn main() -> std::process::ExitCode {
    ecash_serve::logging::init();
    let config = Config::parse();
    match merchant::run(config).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("merchant: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
