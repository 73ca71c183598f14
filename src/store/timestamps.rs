//! How instants are stored: RFC 3339 text in UTC, and read back.

/// How times are stored in the scheduler and pause tables: RFC 3339, UTC, whole seconds
/// (`2026-11-23T03:00:00Z`), so that they compare correctly as text.
pub fn time_key(at: chrono::DateTime<chrono::Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// Reads back a time stored as RFC 3339 (by [`time_key`] or `to_rfc3339`).
pub fn parse_time(text: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    chrono::DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| t.with_timezone(&chrono::Utc))
}
