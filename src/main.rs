//! The herald binary: parse the command line, set up logging, hand the command to
//! `herald::commands`.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    // Everything herald creates (the database, its logs, backups) is its user's alone.
    herald::store::files::private_by_default();
    let cli = herald::cli::Cli::parse();
    herald::commands::init_logging(&cli);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("herald: cannot start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    runtime.block_on(herald::commands::execute(cli))
}
