//! The SQLite statements every write runs: the shared text in
//! `queries/write.rs`, over SQLite's connection.

use sqlx::Sqlite as Db;
use sqlx::SqliteConnection as DbConnection;

/// SQLite has no notifications: other processes find new rows by polling.
async fn announce(_: &mut DbConnection, _newest: u64) -> Result<(), StoreError> {
    Ok(())
}

include!("../queries/write.rs");
