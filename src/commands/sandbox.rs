//! `herald sandbox`: turns the command line into [`SandboxSettings`] and plays the scripted
//! session ([`crate::sandbox`]), which knows nothing of the command line. Exit code 0 when the
//! session played to its end, 1 otherwise.

use std::process::ExitCode;

use super::run::run_options;
use crate::cli::{GlobalOptions, SandboxArgs};
use crate::sandbox::SandboxSettings;

/// Runs `herald sandbox` to completion.
pub async fn execute(global: &GlobalOptions, args: &SandboxArgs) -> ExitCode {
    let settings = SandboxSettings {
        config_dir: global.config.clone(),
        clock_start: global.clock_start,
        clock_speed: global.clock_speed,
        timeout_seconds: args.timeout_seconds,
        run: run_options(global, 1, false),
    };
    match crate::sandbox::play(&settings).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("herald sandbox: {e}");
            ExitCode::from(1)
        }
    }
}
