//! PostgreSQL: one database shared by every server of a deployment.
//!
//! Writers are serialised by a transaction-scoped advisory lock (the "log
//! head" lock, [`LOG_HEAD_LOCK`]) taken as the first statement of every
//! write transaction: whichever server writes, one transaction at a time
//! reads the log's length, appends at it and commits, and the next one
//! starts after that commit, seeing it (READ COMMITTED takes a new snapshot
//! per statement). The log's primary key on the index is a second line of
//! defence: an entry can never be stored twice at one index. Each commit
//! that appends sends a `NOTIFY` on [`CHANNEL`], which [`Store::await_change`]
//! waits for, so the other servers follow within a round trip.

mod read;
mod write;

use std::time::Duration;

use async_trait::async_trait;
use sqlx::pool::PoolConnection;
use sqlx::postgres::{PgConnectOptions, PgListener, PgPoolOptions, PgRow};
use sqlx::{PgConnection, PgPool, Postgres, Row, Transaction};
use tokio::sync::Mutex;
use verdict_model::{
    Appeal, Case, CaseEvent, Clause, Guard, Notice, Order, OrderSpec, Subscription, Tenant, Timestamp, UnitPath, User,
};

use crate::codec::{from_json, kind_from_str, limit, path_from_str};
use crate::{
    Appended, CaseFilter, ChangeRecord, Loaded, LogRecord, Op, OutboxItem, Page, Reads, RuleResult, Store, StoreError,
    StoreTx, UsageSeries, UsageSlice,
};

/// The PostgreSQL schema, embedded so an installed binary migrates itself.
const MIGRATIONS: &[(i64, &str, &str)] = &[
    (1, "schema", include_str!("../../migrations/postgres/0001_schema.sql")),
    (2, "replica scopes", include_str!("../../migrations/postgres/0002_replica_scopes.sql")),
    (3, "console sessions", include_str!("../../migrations/postgres/0003_console_sessions.sql")),
    (4, "log by tenant", include_str!("../../migrations/postgres/0004_log_by_tenant.sql")),
    (5, "case queue", include_str!("../../migrations/postgres/0005_case_queue.sql")),
    (6, "usage", include_str!("../../migrations/postgres/0006_usage.sql")),
    (7, "detection rules", include_str!("../../migrations/postgres/0007_detection_rules.sql")),
    (8, "usage keys", include_str!("../../migrations/postgres/0008_usage_keys.sql")),
];

/// The advisory lock every write transaction takes first: the log head's.
/// (An arbitrary constant: the ASCII of "verdict" read as a number.)
pub const LOG_HEAD_LOCK: i64 = 0x0076_6572_6469_6374;

/// The channel each appending commit notifies, with its newest version.
pub const CHANNEL: &str = "verdict_changes";

row_decoders!(PgRow);

/// A store in a PostgreSQL database, which several servers may share.
///
/// Commits are durable when they return (PostgreSQL's default
/// `synchronous_commit = on`), so [`Store::sync`] has nothing left to do.
pub struct PgStore {
    pool: PgPool,
    /// The `LISTEN` connection, opened on first use and again after it
    /// fails; `None` while it is down.
    listener: Mutex<Option<PgListener>>,
}

impl PgStore {
    /// Connects to the database at `url` (`postgres://user@host:port/db`)
    /// and migrates it. Migrations take PostgreSQL's own advisory lock, so
    /// several servers starting at once migrate once.
    pub async fn connect(url: &str) -> Result<PgStore, StoreError> {
        let options: PgConnectOptions = url.parse()?;
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .min_connections(1)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options)
            .await?;
        crate::migrations::run(MIGRATIONS, &pool).await?;
        Ok(PgStore { pool, listener: Mutex::new(None) })
    }

    async fn listen(&self) -> Result<PgListener, sqlx::Error> {
        let mut listener = PgListener::connect_with(&self.pool).await?;
        listener.listen(CHANNEL).await?;
        Ok(listener)
    }
}

#[async_trait]
impl Store for PgStore {
    async fn begin(&self) -> Result<Box<dyn StoreTx>, StoreError> {
        let mut tx = self.pool.begin().await?;
        // Held until the commit or rollback: the writers of every server
        // queue here, in order.
        sqlx::query("SELECT pg_advisory_xact_lock($1)").bind(LOG_HEAD_LOCK).execute(&mut *tx).await?;
        Ok(Box::new(PgTx { tx }))
    }

    async fn read(&self) -> Result<Box<dyn Reads>, StoreError> {
        Ok(Box::new(PgReader { conn: self.pool.acquire().await? }))
    }

    async fn sync(&self) -> Result<(), StoreError> {
        // synchronous_commit = on: every commit was durable as it returned.
        Ok(())
    }

    async fn await_change(&self, within: Duration) -> bool {
        let mut guard = self.listener.lock().await;
        if guard.is_none() {
            match self.listen().await {
                Ok(listener) => *guard = Some(listener),
                Err(e) => {
                    tracing::warn!(error = %e, "cannot LISTEN for changes; polling");
                    drop(guard);
                    tokio::time::sleep(within).await;
                    return false;
                }
            }
        }
        let Some(listener) = guard.as_mut() else { return false };
        match tokio::time::timeout(within, listener.try_recv()).await {
            Err(_) => false,
            Ok(Ok(Some(_))) => {
                // One look covers every change notified so far.
                while listener.next_buffered().is_some() {}
                true
            }
            // The connection dropped: notifications sent meanwhile are lost,
            // so the caller must look (and the next call reconnects).
            Ok(Ok(None)) => true,
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "the LISTEN connection failed; reconnecting");
                *guard = None;
                true
            }
        }
    }

    async fn close(&self) {
        if let Some(listener) = self.listener.lock().await.take() {
            drop(listener);
        }
        self.pool.close().await;
    }
}

/// A pooled connection reading committed state.
pub struct PgReader {
    conn: PoolConnection<Postgres>,
}

/// A write transaction on a [`PgStore`], holding the log head's lock until
/// it commits or is dropped (which rolls it back and releases the lock).
pub struct PgTx {
    tx: Transaction<'static, Postgres>,
}

reader_and_transaction!(PgReader, PgTx, PgConnection);
