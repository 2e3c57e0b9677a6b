//! `certifier`: see `certifier --help`.

use certifier::config::Cli;
use clap::Parser;

#[actix_web::main]
async fn main() -> std::process::ExitCode {
    ecash_serve::logging::init();
    match certifier::run(Cli::parse()).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("certifier: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
