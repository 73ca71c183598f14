// Outside the crate an outbox row is written only through a poster: the outbox's own write
// and the store's raw write access are private.
use herald::outbox::OutgoingMessage;
use herald::store::Store;

async fn post_as_claudia(store: &Store, at: chrono::DateTime<chrono::Utc>) {
    let mut tx = store.begin_write().await.unwrap();
    let message = OutgoingMessage::direct(1, "hello");
    herald::outbox::enqueue(&mut tx, "claudia", at, message).await.unwrap();
    sqlx::query("INSERT INTO outbox (bot) VALUES ('claudia')")
        .execute(store.pool())
        .await
        .unwrap();
}

fn main() {}
