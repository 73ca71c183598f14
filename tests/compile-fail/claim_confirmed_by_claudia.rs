// A claim's confirmation is posted by Claims and never by Claudia: `claims::confirm` takes
// Claims' poster, so finance code holding Claudia's cannot post one (the incident in which
// Claudia posted a confirmation that should have come from the claims bot).
use herald::identity::{Claudia, Poster};
use herald::store::claims::Claim;

async fn confirm_as_claudia(
    conn: &mut sqlx::SqliteConnection,
    poster: &Poster<Claudia>,
    claim: &Claim,
) {
    let _ = herald::claims::confirm(conn, poster, claim, &[]).await;
}

fn main() {}
