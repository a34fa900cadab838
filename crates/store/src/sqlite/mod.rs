//! The embedded default: one SQLite file in WAL mode.

mod read;
mod write;

use std::borrow::Cow;
use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::migrate::{Migration, MigrationSource, MigrationType, Migrator};
use sqlx::pool::PoolConnection;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteRow, SqliteSynchronous};
use sqlx::{Row, Sqlite, SqliteConnection, SqlitePool, Transaction};
use verdict_model::{
    Appeal, Case, CaseEvent, Clause, Guard, Notice, Order, OrderSpec, Subscription, Tenant, TenantKind, Timestamp,
    UnitPath, User,
};

use crate::{Appended, ChangeRecord, Loaded, LogRecord, Op, OutboxItem, Page, Reads, Store, StoreError, StoreTx};

/// The SQLite schema, embedded so an installed binary migrates itself.
#[derive(Debug)]
struct Embedded;

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
];

type BoxDynError = Box<dyn std::error::Error + Send + Sync>;

impl MigrationSource<'static> for Embedded {
    fn resolve(self) -> Pin<Box<dyn Future<Output = Result<Vec<Migration>, BoxDynError>> + Send>> {
        Box::pin(async {
            Ok(MIGRATIONS
                .iter()
                .map(|(version, name, sql)| {
                    Migration::new(*version, Cow::Borrowed(*name), MigrationType::Simple, Cow::Borrowed(*sql), false)
                })
                .collect())
        })
    }
}

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

fn kind_from_str(text: &str) -> Result<TenantKind, StoreError> {
    serde_json::from_value(serde_json::Value::String(text.to_owned()))
        .map_err(|_| StoreError::Corrupt(format!("unknown tenant kind {text:?}")))
}

fn path_from_str(text: &str) -> Result<UnitPath, StoreError> {
    UnitPath::parse(text).map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn subscription_from_row(row: &SqliteRow) -> Result<Subscription, StoreError> {
    let services: String = row.try_get("services")?;
    Ok(Subscription {
        id: row.try_get("id")?,
        tenant: row.try_get("tenant")?,
        unit: path_from_str(row.try_get("unit")?)?,
        region: row.try_get("region")?,
        services: serde_json::from_str(&services).map_err(|e| StoreError::Corrupt(e.to_string()))?,
    })
}

fn order_from_row(row: &SqliteRow, retained: Vec<String>) -> Result<Order, StoreError> {
    let spec: String = row.try_get("spec")?;
    let spec: OrderSpec = serde_json::from_str(&spec).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    Ok(Order {
        id: row.try_get("id")?,
        seq: row.try_get("seq")?,
        spec,
        created_at: Timestamp(row.try_get("created_at")?),
        lifted_at: row.try_get::<Option<i64>, _>("lifted_at")?.map(Timestamp),
        lift_reason: row.try_get("lift_reason")?,
        retained,
        superseded_by: row.try_get("superseded_by")?,
        log_index: row.try_get::<Option<i64>, _>("log_index")?.map(|i| i as u64),
        lifecycle: match row.try_get::<Option<String>, _>("lifecycle")? {
            None => Default::default(),
            Some(text) => serde_json::from_str(&text).map_err(|e| StoreError::Corrupt(e.to_string()))?,
        },
    })
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
            .busy_timeout(Duration::from_secs(10));
        Self::connect(options, 4).await
    }

    /// Closes every connection, waiting for them (a test that "restarts"
    /// reopens the file only after this).
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// A private in-memory database, for tests.
    pub async fn in_memory() -> Result<SqliteStore, StoreError> {
        let options = SqliteConnectOptions::from_str("sqlite::memory:")?.foreign_keys(true);
        Self::connect(options, 1).await
    }

    async fn connect(options: SqliteConnectOptions, connections: u32) -> Result<SqliteStore, StoreError> {
        let pool = SqlitePoolOptions::new()
            .max_connections(connections)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(options)
            .await?;
        let migrator =
            Migrator::new(Embedded).await.map_err(|e| StoreError::Corrupt(format!("cannot read migrations: {e}")))?;
        migrator.run(&pool).await.map_err(|e| StoreError::Corrupt(format!("cannot migrate the database: {e}")))?;
        Ok(SqliteStore { pool })
    }
}

fn limit(page: &Page) -> i64 {
    i64::from(page.limit.clamp(1, 10_000))
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

/// The connection a reader or a transaction reads over.
trait Connection: Send {
    fn connection(&mut self) -> &mut SqliteConnection;
}

impl Connection for SqliteReader {
    fn connection(&mut self) -> &mut SqliteConnection {
        &mut self.conn
    }
}

impl Connection for SqliteTx {
    fn connection(&mut self) -> &mut SqliteConnection {
        &mut self.tx
    }
}

#[async_trait]
impl<C: Connection> Reads for C {
    async fn load(&mut self) -> Result<Loaded, StoreError> {
        read::load(self.connection()).await
    }

    async fn tenant(&mut self, id: &str) -> Result<Option<Tenant>, StoreError> {
        read::tenant(self.connection(), id).await
    }

    async fn tenants(&mut self, page: &Page) -> Result<Vec<Tenant>, StoreError> {
        read::tenants(self.connection(), page).await
    }

    async fn units(&mut self, tenant: &str) -> Result<Vec<UnitPath>, StoreError> {
        read::units(self.connection(), tenant).await
    }

    async fn subscription(&mut self, id: &str) -> Result<Option<Subscription>, StoreError> {
        read::subscription(self.connection(), id).await
    }

    async fn subscriptions(&mut self, tenant: Option<&str>, page: &Page) -> Result<Vec<Subscription>, StoreError> {
        read::subscriptions(self.connection(), tenant, page).await
    }

    async fn subscriptions_within(&mut self, tenant: &str, unit: &UnitPath) -> Result<u64, StoreError> {
        read::subscriptions_within(self.connection(), tenant, unit).await
    }

    async fn order(&mut self, id: &str) -> Result<Option<Order>, StoreError> {
        read::order(self.connection(), id).await
    }

    async fn orders(&mut self, tenant: Option<&str>, page: &Page) -> Result<Vec<Order>, StoreError> {
        read::orders(self.connection(), tenant, page).await
    }

    async fn max_order_seq(&mut self) -> Result<i64, StoreError> {
        read::max_order_seq(self.connection()).await
    }

    async fn changes(&mut self, after: u64, limit: u32) -> Result<Vec<ChangeRecord>, StoreError> {
        read::changes(self.connection(), after, limit).await
    }

    async fn clauses(&mut self) -> Result<Vec<Clause>, StoreError> {
        read::clauses(self.connection()).await
    }

    async fn case(&mut self, id: &str) -> Result<Option<Case>, StoreError> {
        read::case(self.connection(), id).await
    }

    async fn cases(&mut self, tenant: Option<&str>, limit: u32) -> Result<Vec<Case>, StoreError> {
        read::cases(self.connection(), tenant, limit).await
    }

    async fn case_events(&mut self, id: &str) -> Result<Vec<CaseEvent>, StoreError> {
        read::case_events(self.connection(), id).await
    }

    async fn guards(&mut self) -> Result<Vec<Guard>, StoreError> {
        read::guards(self.connection()).await
    }

    async fn appeal(&mut self, id: &str) -> Result<Option<Appeal>, StoreError> {
        read::appeal(self.connection(), id).await
    }

    async fn appeals(&mut self, tenant: Option<&str>) -> Result<Vec<Appeal>, StoreError> {
        read::appeals(self.connection(), tenant).await
    }

    async fn notices(&mut self, tenant: Option<&str>) -> Result<Vec<Notice>, StoreError> {
        read::notices(self.connection(), tenant).await
    }

    async fn notice(&mut self, id: &str) -> Result<Option<Notice>, StoreError> {
        read::notice(self.connection(), id).await
    }

    async fn outbox_due(&mut self, now_ms: i64, limit: u32) -> Result<Vec<OutboxItem>, StoreError> {
        read::outbox_due(self.connection(), now_ms, limit).await
    }

    async fn outbox_of(&mut self, notice_id: &str) -> Result<Vec<OutboxItem>, StoreError> {
        read::outbox_of(self.connection(), notice_id).await
    }

    async fn users(&mut self) -> Result<Vec<(User, [u8; 32])>, StoreError> {
        read::users(self.connection()).await
    }

    async fn log_size(&mut self) -> Result<u64, StoreError> {
        read::log_size(self.connection()).await
    }

    async fn log_leaves(&mut self) -> Result<Vec<[u8; 32]>, StoreError> {
        read::log_leaves(self.connection()).await
    }

    async fn log_entries(&mut self, start: u64, end: u64) -> Result<Vec<Vec<u8>>, StoreError> {
        read::log_entries(self.connection(), start, end).await
    }

    async fn log_records(&mut self, start: u64, limit: u32) -> Result<Vec<LogRecord>, StoreError> {
        read::log_records(self.connection(), start, limit).await
    }

    async fn logged_expiries(&mut self) -> Result<Vec<String>, StoreError> {
        read::logged_expiries(self.connection()).await
    }

    async fn checkpoints(&mut self) -> Result<Vec<(u64, String)>, StoreError> {
        read::checkpoints(self.connection()).await
    }
}

#[async_trait]
impl StoreTx for SqliteTx {
    async fn apply(
        &mut self,
        at: Timestamp,
        ops: &[Op],
        progress: &(dyn Fn(usize) + Send + Sync),
    ) -> Result<(), StoreError> {
        write::apply(&mut self.tx, at.seconds(), ops, progress).await
    }

    async fn append(&mut self, entries: &[Appended]) -> Result<Vec<u64>, StoreError> {
        write::append(&mut self.tx, entries).await
    }

    async fn put_checkpoint(&mut self, size: u64, note: &str) -> Result<(), StoreError> {
        write::put_checkpoint(&mut self.tx, size, note).await
    }

    async fn commit(self: Box<Self>) -> Result<(), StoreError> {
        Ok(self.tx.commit().await?)
    }
}

fn outbox_from_row(row: &SqliteRow) -> Result<OutboxItem, StoreError> {
    Ok(OutboxItem {
        id: row.try_get("id")?,
        notice_id: row.try_get("notice_id")?,
        body: row.try_get("body")?,
        attempts: row.try_get::<i64, _>("attempts")? as u32,
        next_at_ms: row.try_get("next_at_ms")?,
        delivered_at: row.try_get::<Option<i64>, _>("delivered_at")?.map(Timestamp),
        last_error: row.try_get("last_error")?,
    })
}

fn to_json<T: serde::Serialize>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| StoreError::Corrupt(format!("cannot encode a record: {e}")))
}

fn from_json<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(format!("a stored record does not decode: {e}")))
}

fn hash_from_row(row: &SqliteRow, column: &str, index: i64) -> Result<[u8; 32], StoreError> {
    let bytes: Vec<u8> = row.try_get(column)?;
    bytes
        .try_into()
        .map_err(|b: Vec<u8>| StoreError::Corrupt(format!("log entry {index}: {column} is {} bytes, not 32", b.len())))
}
