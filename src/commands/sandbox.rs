//! `herald sandbox`: turns the command line into [`SandboxSettings`] and plays the scripted
//! session ([`crate::sandbox`]), which knows nothing of the command line. Exit code 0 when the
//! session played to its end, 1 otherwise.

use std::process::ExitCode;

use crate::cli::{GlobalOptions, SandboxArgs};

/// Runs `herald sandbox` to completion.
#[cfg(feature = "sandbox")]
pub async fn execute(global: &GlobalOptions, args: &SandboxArgs) -> ExitCode {
    let settings = crate::sandbox::SandboxSettings {
        config_dir: global.config.clone(),
        clock_start: global.clock_start,
        clock_speed: global.clock_speed,
        timeout_seconds: args.timeout_seconds,
        run: super::run::run_options(global, 1, false),
    };
    match crate::sandbox::play(&settings).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("herald sandbox: {e}");
            ExitCode::from(1)
        }
    }
}

/// A production build (`--no-default-features`) has no simulator: it says so and exits 2.
#[cfg(not(feature = "sandbox"))]
pub async fn execute(_global: &GlobalOptions, _args: &SandboxArgs) -> ExitCode {
    eprintln!(
        "herald sandbox: compiled out: this herald was built without the `sandbox` feature (a \
         production build); `cargo run -- sandbox` from the repository plays it"
    );
    ExitCode::from(2)
}
