//! herald: one binary hosting a team's Telegram bots. Typed identities, one canonical roster,
//! secrets by reference, a durable outbox and deterministic templated posts.
//!
//! Data flows one way: Telegram -> inbound (handler tree per identity) -> store (state, audit
//! and outbox rows in one transaction) -> sender per identity -> Telegram.

pub mod activity;
pub mod approvals;
pub mod bots;
pub mod claims;
pub mod cli;
pub mod clock;
pub mod commands;
pub mod config;
pub mod console_texts;
pub mod deploy;
pub mod durable;
pub mod faults;
pub mod fleet;
pub mod gym;
pub mod health;
pub mod identity;
pub mod inbound;
pub mod isolation;
pub mod jobs;
pub mod outbox;
pub mod roster;
#[cfg(feature = "sandbox")]
pub mod sandbox;
pub mod schedule;
pub mod sources;
pub mod store;
pub mod supervisor;
pub mod telegram;
pub mod telemetry;
pub mod templates;
pub mod text;
