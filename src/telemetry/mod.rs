//! What herald tells a supervisor or a monitoring system about itself while it runs: whether it
//! is ready ([`readiness`]), what it counted ([`metrics`]), and the HTTP endpoints that serve
//! both ([`http`]). The capability probes (is a bot still in the chat, is Xero connected) are
//! [`crate::health`]; this is the process itself.

pub mod http;
pub mod listen;
pub mod metrics;
pub mod readiness;

pub use readiness::{Readiness, ReadinessReport};
