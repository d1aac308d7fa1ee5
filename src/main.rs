//! The `proctor` binary: parse the command line, start logging, dispatch.

use proctor::cli::{self, Cli};

fn main() -> std::process::ExitCode {
    let cli = Cli::parse_args();
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    match cli::run(cli) {
        Ok(status) => status,
        Err(err) => {
            eprintln!("error: {err}");
            std::process::ExitCode::FAILURE
        }
    }
}
