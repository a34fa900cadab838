//! The embedded default: one SQLite file in WAL mode.

mod read;
mod write;

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::pool::PoolConnection;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteRow, SqliteSynchronous};
use sqlx::{Row, Sqlite, SqliteConnection, SqlitePool, Transaction};
use verdict_model::{
    Appeal, Case, CaseEvent, Clause, Guard, Notice, Order, OrderSpec, Subscription, Tenant, Timestamp, UnitPath, User,
};

use crate::codec::{from_json, kind_from_str, limit, path_from_str};
use crate::{
    Appended, CaseFilter, ChangeRecord, Loaded, LogRecord, Op, OutboxItem, Page, Reads, RuleResult, Store, StoreError,
    StoreTx, UsageSeries, UsageSlice,
};

/// The SQLite schema, embedded so an installed binary migrates itself.
const MIGRATIONS: &[(i64, &str, &str)] = &[
    (1, "inventory and orders", include_str!("../../migrations/sqlite/0001_inventory_and_orders.sql")),
    (2, "transparency log", include_str!("../../migrations/sqlite/0002_transparency_log.sql")),
    (3, "users", include_str!("../../migrations/sqlite/0003_users.sql")),
    (4, "cases and approvals", include_str!("../../migrations/sqlite/0004_cases_and_approvals.sql")),
    (5, "notices", include_str!("../../migrations/sqlite/0005_notices.sql")),
    (6, "appeals", include_str!("../../migrations/sqlite/0006_appeals.sql")),
    (7, "guards", include_str!("../../migrations/sqlite/0007_guards.sql")),
    (8, "subscriptions by tenant", include_str!("../../migrations/sqlite/0008_subscriptions_by_tenant.sql")),
    (9, "checkpoint history", include_str!("../../migrations/sqlite/0009_checkpoint_history.sql")),
    (10, "change deltas", include_str!("../../migrations/sqlite/0010_change_deltas.sql")),
    (11, "appeals decided", include_str!("../../migrations/sqlite/0011_appeals_decided.sql")),
    (12, "replica scopes", include_str!("../../migrations/sqlite/0012_replica_scopes.sql")),
    (13, "console sessions", include_str!("../../migrations/sqlite/0013_console_sessions.sql")),
    (14, "log by tenant", include_str!("../../migrations/sqlite/0014_log_by_tenant.sql")),
    (15, "case queue", include_str!("../../migrations/sqlite/0015_case_queue.sql")),
    (16, "usage", include_str!("../../migrations/sqlite/0016_usage.sql")),
    (17, "detection rules", include_str!("../../migrations/sqlite/0017_detection_rules.sql")),
    (18, "usage keys", include_str!("../../migrations/sqlite/0018_usage_keys.sql")),
];

row_decoders!(SqliteRow);

/// A store in one SQLite file (WAL, `synchronous=FULL`, foreign keys on).
///
/// Every commit is fsync'd by SQLite before it returns, so [`Store::sync`]
/// has nothing left to do. Group commit happens one level up: concurrent log
/// appends are written as one transaction ([`StoreTx::append`]), so one
/// fsync covers the group. (Syncing the files from outside SQLite is not an
/// option: opening and closing another descriptor on the database drops
/// SQLite's POSIX locks for the whole process, which lets another process
/// write concurrently and corrupts the database.)
#[derive(Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path` and migrates it.
    pub async fn open(path: &Path) -> Result<SqliteStore, StoreError> {
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            // A page cache of 64 MiB per connection (SQLite's default is
            // 2 MiB): usage slices and ids land all over their B-trees.
            .pragma("cache_size", "-65536")
            .busy_timeout(Duration::from_secs(10));
        Self::connect(options, 4).await
    }

    /// A private in-memory database, for tests.
    pub async fn in_memory() -> Result<SqliteStore, StoreError> {
        let options = SqliteConnectOptions::from_str("sqlite::memory:")?.foreign_keys(true);
        Self::connect(options, 1).await
    }

    async fn connect(options: SqliteConnectOptions, connections: u32) -> Result<SqliteStore, StoreError> {
        // Setting up a connection (WAL mode and the other pragmas) can meet
        // the lock of another process still closing the same file (its last
        // checkpoint), and SQLite's busy timeout does not cover every such
        // step: retry for as long as the busy timeout would wait.
        let mut waited = Duration::ZERO;
        let pool = loop {
            let attempt = SqlitePoolOptions::new()
                .max_connections(connections)
                .min_connections(1)
                .idle_timeout(None)
                .max_lifetime(None)
                .connect_with(options.clone())
                .await;
            match attempt {
                Err(sqlx::Error::Database(e))
                    if matches!(e.code().as_deref(), Some("5" | "6" | "261" | "517"))
                        && waited < Duration::from_secs(10) =>
                {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    waited += Duration::from_millis(50);
                }
                other => break other?,
            }
        };
        crate::migrations::run(MIGRATIONS, &pool).await?;
        Ok(SqliteStore { pool })
    }
}

#[async_trait]
impl Store for SqliteStore {
    async fn begin(&self) -> Result<Box<dyn StoreTx>, StoreError> {
        // IMMEDIATE: take the database's write lock up front, so writers are
        // serialised by SQLite itself (across processes too) and a
        // transaction that reads before it writes cannot find its snapshot
        // stale (SQLITE_BUSY_SNAPSHOT).
        let tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        Ok(Box::new(SqliteTx { tx }))
    }

    async fn read(&self) -> Result<Box<dyn Reads>, StoreError> {
        Ok(Box::new(SqliteReader { conn: self.pool.acquire().await? }))
    }

    async fn sync(&self) -> Result<(), StoreError> {
        // synchronous=FULL: every commit was fsync'd as it returned.
        Ok(())
    }

    async fn await_change(&self, within: Duration) -> bool {
        // SQLite cannot tell: one process writes it, and a second one on
        // the same file (a tool) is found by polling.
        tokio::time::sleep(within).await;
        false
    }

    async fn close(&self) {
        self.pool.close().await;
    }
}

/// A pooled connection reading committed state.
pub struct SqliteReader {
    conn: PoolConnection<Sqlite>,
}

/// A write transaction on a [`SqliteStore`], holding the database's write
/// lock until it commits or is dropped (which rolls it back).
pub struct SqliteTx {
    tx: Transaction<'static, Sqlite>,
}

reader_and_transaction!(SqliteReader, SqliteTx, SqliteConnection);
