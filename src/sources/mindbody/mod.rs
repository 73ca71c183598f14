//! Mindbody, the booking system of the team's gym, for GymBooker: the classes of a day, a
//! booking at the window's opening second, a member's bookings read back (how a booking whose
//! answer never came is settled) and a cancellation, behind [`crate::sources::gym::GymProvider`].
//!
//! - [`model`]: the wire format, every path, parameter and field name in one file (ASSUMED ones
//!   marked: the error envelope and codes, offset-less site-local times).
//! - [`client`]: [`MindbodyClient`], the staff token (cached, renewed, issued again once on a
//!   401), timeouts, and each answer mapped to a named [`crate::sources::gym::GymError`].

pub mod client;
pub mod model;

pub use client::{MindbodyClient, MindbodyCredentials, MindbodySettings, DEFAULT_API_URL};

/// The client against the fake Mindbody on loopback: in the library's test binary, one binary
/// less to build and link.
#[cfg(test)]
mod tests;
