//! GymBooker's bookings (`migrations/0016_gym_bookings.sql`): one row per member and class
//! day. The booking job writes `booking` (committed) before each request and settles it after;
//! the member's commands and the waitlist button write requests the job or desk acts on.

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::SqliteConnection;

use super::time_key;

/// Where a member's booking for one day is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, sqlx::Type)]
#[sqlx(rename_all = "snake_case")]
pub enum GymState {
    Booking,
    Booked,
    Waitlisted,
    Full,
    Failed,
    Skipped,
    CancelRequested,
    Cancelled,
    WaitlistRequested,
}

impl GymState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Booking => "booking",
            Self::Booked => "booked",
            Self::Waitlisted => "waitlisted",
            Self::Full => "full",
            Self::Failed => "failed",
            Self::Skipped => "skipped",
            Self::CancelRequested => "cancel_requested",
            Self::Cancelled => "cancelled",
            Self::WaitlistRequested => "waitlist_requested",
        }
    }
}

/// One member's booking for one day.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct GymBookingRow {
    pub member: String,
    pub class_date: String,
    pub state: GymState,
    pub client_id: String,
    pub class_id: Option<String>,
    pub class_name: Option<String>,
    pub class_start: Option<String>,
    pub attempts: i64,
    pub last_error: Option<String>,
    pub updated_at: String,
    /// The member's DM about the outcome, waiting for the gym desk (HTML), and its buttons.
    #[sqlx(default)]
    pub to_tell: Option<String>,
    #[sqlx(default)]
    pub to_tell_buttons: Option<String>,
}

impl GymBookingRow {
    pub fn date(&self) -> Option<NaiveDate> {
        self.class_date.parse().ok()
    }

    pub fn class_start(&self) -> Option<DateTime<Utc>> {
        self.class_start.as_deref().and_then(super::parse_time)
    }
}

pub async fn get(
    conn: &mut SqliteConnection,
    member: &str,
    date: NaiveDate,
) -> Result<Option<GymBookingRow>, sqlx::Error> {
    sqlx::query_as("SELECT * FROM gym_bookings WHERE member = ? AND class_date = ?")
        .bind(member)
        .bind(date.to_string())
        .fetch_optional(conn)
        .await
}

/// What a row is set to.
#[derive(Debug, Clone, Default)]
pub struct ClassRef<'a> {
    pub id: Option<&'a str>,
    pub name: Option<&'a str>,
    pub start: Option<DateTime<Utc>>,
}

/// Sets `(member, date)` to `state` (creating the row), with the class it is about and the
/// error if any; `attempted` counts one more request.
#[allow(clippy::too_many_arguments)]
pub async fn set(
    conn: &mut SqliteConnection,
    member: &str,
    date: NaiveDate,
    client_id: &str,
    state: GymState,
    class: &ClassRef<'_>,
    error: Option<&str>,
    attempted: bool,
    at: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO gym_bookings (member, class_date, state, client_id, class_id, class_name,
                                   class_start, attempts, last_error, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
         ON CONFLICT (member, class_date) DO UPDATE SET
             state = ?3, client_id = ?4,
             class_id = coalesce(?5, class_id), class_name = coalesce(?6, class_name),
             class_start = coalesce(?7, class_start),
             attempts = attempts + ?8, last_error = ?9, updated_at = ?10",
    )
    .bind(member)
    .bind(date.to_string())
    .bind(state)
    .bind(client_id)
    .bind(class.id)
    .bind(class.name)
    .bind(class.start.map(time_key))
    .bind(i64::from(attempted))
    .bind(error)
    .bind(time_key(at))
    .execute(conn)
    .await?;
    Ok(())
}

/// Moves `(member, date)` from one of `from` to `to`. False if it was in none of them.
pub async fn transition(
    conn: &mut SqliteConnection,
    member: &str,
    date: NaiveDate,
    from: &[GymState],
    to: GymState,
    at: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    let placeholders = vec!["?"; from.len()].join(", ");
    let sql = format!(
        "UPDATE gym_bookings SET state = ?, updated_at = ?
         WHERE member = ? AND class_date = ? AND state IN ({placeholders})"
    );
    let mut query = sqlx::query(&sql)
        .bind(to)
        .bind(time_key(at))
        .bind(member)
        .bind(date.to_string());
    for state in from {
        query = query.bind(*state);
    }
    Ok(query.execute(conn).await?.rows_affected() == 1)
}

/// `member`'s rows from `from` on, by day.
pub async fn upcoming(
    conn: &mut SqliteConnection,
    member: &str,
    from: NaiveDate,
) -> Result<Vec<GymBookingRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT * FROM gym_bookings WHERE member = ? AND class_date >= ? ORDER BY class_date",
    )
    .bind(member)
    .bind(from.to_string())
    .fetch_all(conn)
    .await
}

/// Rows in `state` (requests for the desk), oldest first.
pub async fn in_state(
    conn: &mut SqliteConnection,
    state: GymState,
) -> Result<Vec<GymBookingRow>, sqlx::Error> {
    sqlx::query_as("SELECT * FROM gym_bookings WHERE state = ? ORDER BY updated_at, member")
        .bind(state)
        .fetch_all(conn)
        .await
}

/// Leaves `html` (with `buttons`) for the gym desk to DM the member of `(member, date)`, in
/// the transaction that settled the row; wakes the desk once it commits.
pub async fn tell(
    conn: &mut SqliteConnection,
    member: &str,
    date: NaiveDate,
    html: &str,
    buttons: Option<&serde_json::Value>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE gym_bookings SET to_tell = ?, to_tell_buttons = ? WHERE member = ? AND class_date = ?",
    )
    .bind(html)
    .bind(buttons.map(serde_json::Value::to_string))
    .bind(member)
    .bind(date.to_string())
    .execute(&mut *conn)
    .await?;
    super::signals::mark(conn, super::signals::Wake::Gym);
    Ok(())
}

/// Rows with a DM waiting, oldest first.
pub async fn untold(conn: &mut SqliteConnection) -> Result<Vec<GymBookingRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT * FROM gym_bookings WHERE to_tell IS NOT NULL ORDER BY updated_at, member",
    )
    .fetch_all(conn)
    .await
}

/// Clears the DM waiting on `(member, date)` if it is still `html`. False if it was not.
pub async fn told(
    conn: &mut SqliteConnection,
    member: &str,
    date: &str,
    html: &str,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE gym_bookings SET to_tell = NULL, to_tell_buttons = NULL
         WHERE member = ? AND class_date = ? AND to_tell = ?",
    )
    .bind(member)
    .bind(date)
    .bind(html)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}
