//! Start-up and the running fleet. Order matters: configuration, secrets and templates are
//! validated first (no side effect on failure), then every token is verified with `getMe`
//! (a swapped, dead or silent token stops the start, naming the identity), and only then is
//! the database opened, under its lease (one `herald run` per database: a second one is
//! refused before it changes anything), and a poller and a sender launched per identity.
//!
//! The fleet stops on its own when a task fails, when the lease is lost (another instance
//! took the database over: exit 1, one line naming it, nothing more written), or when the
//! store gives up on the database (a persistent failure: one line and, where possible, a
//! last DM to the operators sent directly, since the outbox lives in that database).
//!
//! The start and the running fleet are four files: [`options`] (what a start takes and how it
//! fails), [`verify`] (every token answers as its identity), [`launch`] (the database, the
//! console, and per identity its poller, sender, jobs and desk) and [`running`] (the fleet
//! until it stops).

pub mod commands;
mod launch;
mod options;
mod running;
mod verify;

pub use launch::start;
pub use options::{RunError, RunOptions, StartError};
pub use running::{RunningFleet, VerifiedSummary};
