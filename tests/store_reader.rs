//! Outside the crate the store is read, never written: `Store::reader` is the database opened
//! read-only by SQLite, so a row written through it (an outbox row without a poster, say)
//! fails, while what herald wrote is there to read.

#[tokio::test]
async fn the_reader_sees_the_database_and_cannot_write_to_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}", dir.path().join("t.db").display());
    let store = herald::store::Store::open(&url).await.expect("store opens");
    let applied: i64 = sqlx::query_scalar("SELECT count(*) FROM _sqlx_migrations")
        .fetch_one(store.reader())
        .await
        .expect("readable");
    assert!(applied >= 10, "{applied} migrations");
    let written = sqlx::query(
        "INSERT INTO outbox (bot, kind, lane, chat_id, text, created_at, updated_at)
         VALUES ('claudia', 'send', 0, 1, 'hello', 't', 't')",
    )
    .execute(store.reader())
    .await;
    let error = written.expect_err("a read-only connection refuses writes");
    assert!(error.to_string().contains("readonly"), "{error}");
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM outbox")
        .fetch_one(store.reader())
        .await
        .expect("readable");
    assert_eq!(rows, 0);
    store.close().await;
}
