//! Going live: what turns a clone into a running deployment and keeps it running. A new
//! deployment folder from the shipped example ([`init`]), the ids its roster needs
//! ([`discover`]), the copies of the last configuration that booted healthy
//! ([`config_backup`]), and the service-manager unit that keeps it running ([`service`]).

pub mod config_backup;
pub mod discover;
pub mod init;
pub mod service;
