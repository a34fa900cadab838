//! The SQLite statements every write runs: the shared text in
//! `queries/write.rs`, over SQLite's connection.

use sqlx::Sqlite as Db;
use sqlx::SqliteConnection as DbConnection;

/// SQLite has no notifications: other processes find new rows by polling.
async fn announce(_: &mut DbConnection, _newest: u64) -> Result<(), StoreError> {
    Ok(())
}

/// The `n`th parameter (from 1) of a statement with many: SQLite finds a
/// `$n` by name, one name at a time, so statements of thousands of
/// parameters use plain `?`s, numbered in order.
fn placeholder(_n: usize) -> String {
    "?".to_owned()
}

/// Claims of usage ids need no lock of their own: a SQLite transaction
/// that writes holds the database's write lock from its start.
async fn lock_usage_ids(_: &mut DbConnection) -> Result<(), StoreError> {
    Ok(())
}

include!("../queries/write.rs");
