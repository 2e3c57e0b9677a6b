//! `mint-server`: see `mint-server --help`.

use clap::Parser;
use mint_server::config::Config;

#[actix_web::main]
async fn main() -> std::process::ExitCode {
    ecash_serve::logging::init();
    let config = Config::parse();
    match mint_server::run(config).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mint-server: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
