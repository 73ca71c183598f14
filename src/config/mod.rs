//! A deployment's configuration: the `bots/*.toml` files of the config folder ([`model`]),
//! loaded into a [`Config`] ([`load()`]) in three steps: each file read and parsed (`parse`),
//! each validated on its own terms (`validate`), then the identity files checked against each
//! other (`cross_checks`). Bot tokens are resolved by reference ([`secrets`], [`secret_ref`]),
//! and the checks that need their values are in `secret_checks`. Every problem is a
//! [`Finding`], so one run reports everything that is wrong rather than the first thing.
//! `herald check` (`crate::commands::check`) builds on these parts and adds the checks that
//! need templates and jobs; this module imports neither.

mod cross_checks;
pub mod finding;
pub mod load;
pub mod model;
mod parse;
pub(crate) mod secret_checks;
pub mod secret_ref;
pub mod secrets;
mod validate;

pub use finding::Finding;
pub use load::{load, resolve_tokens, Config, ConfigError};
pub use model::{bot_file, DEPLOYMENT_FILE, ROSTER_FILE};
pub use secret_ref::SecretRef;
pub use secrets::{SecretError, SecretStore, Token};
