//! Going live: what turns a clone into a running deployment and keeps it running. A new
//! deployment folder from the shipped example ([`init`]), and the copies of the last
//! configuration that booted healthy ([`config_backup`]).

pub mod config_backup;
pub mod init;
