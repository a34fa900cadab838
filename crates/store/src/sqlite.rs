//! The embedded default: one SQLite file in WAL mode.

use std::borrow::Cow;
use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::migrate::{Migration, MigrationSource, MigrationType, Migrator};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteRow, SqliteSynchronous};
use sqlx::{QueryBuilder, Row, Sqlite, SqlitePool, Transaction};
use verdict_model::{
    Appeal, Case, CaseEvent, Clause, Guard, Inventory, Notice, Order, OrderSpec, Role, Subscription, Tenant,
    TenantKind, Timestamp, Unit, UnitPath, User,
};

use crate::{Batch, ChangeRecord, Loaded, LogRecord, Op, OutboxItem, Page, Store, StoreError};

/// The SQLite schema, embedded so an installed binary migrates itself.
#[derive(Debug)]
struct Embedded;

const MIGRATIONS: &[(i64, &str, &str)] = &[
    (1, "inventory and orders", include_str!("../migrations/sqlite/0001_inventory_and_orders.sql")),
    (2, "transparency log", include_str!("../migrations/sqlite/0002_transparency_log.sql")),
    (3, "users", include_str!("../migrations/sqlite/0003_users.sql")),
    (4, "cases and approvals", include_str!("../migrations/sqlite/0004_cases_and_approvals.sql")),
    (5, "notices", include_str!("../migrations/sqlite/0005_notices.sql")),
    (6, "appeals", include_str!("../migrations/sqlite/0006_appeals.sql")),
    (7, "guards", include_str!("../migrations/sqlite/0007_guards.sql")),
    (8, "subscriptions by tenant", include_str!("../migrations/sqlite/0008_subscriptions_by_tenant.sql")),
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
/// appends are written as one transaction ([`Store::append`]), so one fsync
/// covers the group. (Syncing the files from outside SQLite is not an
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

    async fn apply(
        tx: &mut Transaction<'_, Sqlite>,
        at: i64,
        ops: &[Op],
        progress: &(dyn Fn(usize) + Send + Sync),
    ) -> Result<(), StoreError> {
        let mut done = 0;
        let mut i = 0;
        while i < ops.len() {
            // Runs of subscription puts are the bulk of an import: write them
            // many rows per statement.
            if matches!(ops[i], Op::PutSubscription(_)) {
                let run: Vec<&Subscription> = ops[i..]
                    .iter()
                    .take(1000)
                    .map_while(|op| match op {
                        Op::PutSubscription(s) => Some(s),
                        _ => None,
                    })
                    .collect();
                let mut q = QueryBuilder::<Sqlite>::new(
                    "INSERT INTO subscriptions (id, tenant, unit, region, services, created_at, updated_at) ",
                );
                q.push_values(run.iter(), |mut b, s| {
                    b.push_bind(&s.id)
                        .push_bind(&s.tenant)
                        .push_bind(s.unit.as_str())
                        .push_bind(&s.region)
                        .push_bind(serde_json::to_string(&s.services).unwrap_or_else(|_| "[]".into()))
                        .push_bind(at)
                        .push_bind(at);
                });
                q.push(
                    " ON CONFLICT(id) DO UPDATE SET tenant = excluded.tenant, unit = excluded.unit, \
                     region = excluded.region, services = excluded.services, updated_at = excluded.updated_at",
                );
                q.build().execute(&mut **tx).await?;
                i += run.len();
                done += run.len();
                progress(done);
                continue;
            }
            Self::apply_one(tx, at, &ops[i]).await?;
            i += 1;
            done += 1;
            if done % 1000 == 0 {
                progress(done);
            }
        }
        progress(done);
        Ok(())
    }

    async fn retain(tx: &mut Transaction<'_, Sqlite>, at: i64, sub: &str, orders: &[String]) -> Result<(), StoreError> {
        for order in orders {
            sqlx::query(
                "INSERT INTO order_retained (order_id, subscription, since) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
            )
            .bind(order)
            .bind(sub)
            .bind(at)
            .execute(&mut **tx)
            .await?;
        }
        Ok(())
    }

    async fn apply_one(tx: &mut Transaction<'_, Sqlite>, at: i64, op: &Op) -> Result<(), StoreError> {
        match op {
            Op::PutTenant(t) => {
                sqlx::query(
                    "INSERT INTO tenants (id, kind, name, created_at) VALUES (?, ?, ?, ?) \
                     ON CONFLICT(id) DO UPDATE SET kind = excluded.kind, name = excluded.name",
                )
                .bind(&t.id)
                .bind(t.kind.as_str())
                .bind(&t.name)
                .bind(at)
                .execute(&mut **tx)
                .await?;
            }
            Op::PutUnit(u) => {
                sqlx::query("INSERT INTO units (tenant, path, created_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING")
                    .bind(&u.tenant)
                    .bind(u.path.as_str())
                    .bind(at)
                    .execute(&mut **tx)
                    .await?;
            }
            Op::DeleteUnit(u) => {
                let done = sqlx::query("DELETE FROM units WHERE tenant = ? AND path = ?")
                    .bind(&u.tenant)
                    .bind(u.path.as_str())
                    .execute(&mut **tx)
                    .await?;
                if done.rows_affected() == 0 {
                    return Err(StoreError::NotFound { kind: "unit", id: format!("{}/{}", u.tenant, u.path) });
                }
            }
            Op::PutSubscription(_) => unreachable!("subscription puts are written in bulk by apply"),
            Op::MoveSubscription { id, unit, retained_by } => {
                Self::retain(tx, at, id, retained_by).await?;
                let done = sqlx::query("UPDATE subscriptions SET unit = ?, updated_at = ? WHERE id = ?")
                    .bind(unit.as_str())
                    .bind(at)
                    .bind(id)
                    .execute(&mut **tx)
                    .await?;
                if done.rows_affected() == 0 {
                    return Err(StoreError::NotFound { kind: "subscription", id: id.clone() });
                }
            }
            Op::DeleteSubscription { id, retained_by } => {
                Self::retain(tx, at, id, retained_by).await?;
                let done = sqlx::query("DELETE FROM subscriptions WHERE id = ?").bind(id).execute(&mut **tx).await?;
                if done.rows_affected() == 0 {
                    return Err(StoreError::NotFound { kind: "subscription", id: id.clone() });
                }
            }
            Op::InsertOrder(o) => {
                let spec = serde_json::to_string(&o.spec).map_err(|e| StoreError::Corrupt(e.to_string()))?;
                sqlx::query(
                    "INSERT INTO orders (id, seq, tenant, spec, created_at, lifted_at, lift_reason, log_index, lifecycle) \
                     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                )
                .bind(&o.id)
                .bind(o.seq)
                .bind(&o.spec.tenant)
                .bind(spec)
                .bind(o.created_at.seconds())
                .bind(o.lifted_at.map(Timestamp::seconds))
                .bind(&o.lift_reason)
                .bind(o.log_index.map(|i| i as i64))
                .bind(to_json(&o.lifecycle)?)
                .execute(&mut **tx)
                .await?;
                for sub in &o.retained {
                    Self::retain(tx, at, sub, std::slice::from_ref(&o.id)).await?;
                }
            }
            Op::PutClause(clause) => {
                sqlx::query("INSERT INTO clauses (id, version, body, created_at) VALUES (?, ?, ?, ?)")
                    .bind(&clause.id)
                    .bind(clause.version)
                    .bind(to_json(clause)?)
                    .bind(clause.created_at.seconds())
                    .execute(&mut **tx)
                    .await?;
            }
            Op::PutCase(case) => {
                sqlx::query(
                    "INSERT INTO cases (id, tenant, status, body, opened_at, updated_at) VALUES (?, ?, ?, ?, ?, ?) \
                     ON CONFLICT(id) DO UPDATE SET status = excluded.status, body = excluded.body, updated_at = excluded.updated_at",
                )
                .bind(&case.id)
                .bind(&case.spec.tenant)
                .bind(case.status.as_str())
                .bind(to_json(case)?)
                .bind(case.opened_at.seconds())
                .bind(case.updated_at.seconds())
                .execute(&mut **tx)
                .await?;
            }
            Op::AddCaseEvent { case_id, event } => {
                sqlx::query(
                    "INSERT INTO case_events (case_id, seq, at, actor, kind, body) \
                     SELECT ?, COALESCE(max(seq), 0) + 1, ?, ?, ?, ? FROM case_events WHERE case_id = ?",
                )
                .bind(case_id)
                .bind(event.at.seconds())
                .bind(&event.actor)
                .bind(&event.kind)
                .bind(event.body.to_string())
                .bind(case_id)
                .execute(&mut **tx)
                .await?;
            }
            Op::PutNotice(notice) => {
                sqlx::query("INSERT INTO notices (id, tenant, order_id, body, issued_at) VALUES (?, ?, ?, ?, ?)")
                    .bind(&notice.id)
                    .bind(&notice.tenant)
                    .bind(&notice.order)
                    .bind(to_json(notice)?)
                    .bind(notice.issued_at.seconds())
                    .execute(&mut **tx)
                    .await?;
            }
            Op::PutGuard(guard) => {
                sqlx::query(
                    "INSERT INTO guards (id, body, created_at) VALUES (?, ?, ?) \
                     ON CONFLICT(id) DO UPDATE SET body = excluded.body",
                )
                .bind(&guard.id)
                .bind(to_json(guard)?)
                .bind(at)
                .execute(&mut **tx)
                .await?;
            }
            Op::PutAppeal(appeal) => {
                sqlx::query(
                    "INSERT INTO appeals (id, order_id, tenant, body, filed_at) VALUES (?, ?, ?, ?, ?) \
                     ON CONFLICT(id) DO UPDATE SET body = excluded.body",
                )
                .bind(&appeal.id)
                .bind(&appeal.order)
                .bind(&appeal.tenant)
                .bind(to_json(appeal)?)
                .bind(appeal.filed_at.seconds())
                .execute(&mut **tx)
                .await?;
            }
            Op::Enqueue { notice_id, body } => {
                sqlx::query("INSERT INTO outbox (notice_id, body, next_at_ms) VALUES (?, ?, ?)")
                    .bind(notice_id)
                    .bind(body)
                    .bind(at * 1000)
                    .execute(&mut **tx)
                    .await?;
            }
            Op::SetOrderLifecycle { id, lifecycle } => {
                let done = sqlx::query("UPDATE orders SET lifecycle = ? WHERE id = ?")
                    .bind(to_json(lifecycle)?)
                    .bind(id)
                    .execute(&mut **tx)
                    .await?;
                if done.rows_affected() == 0 {
                    return Err(StoreError::NotFound { kind: "order", id: id.clone() });
                }
            }
            Op::PutUser { user, token_hash } => {
                sqlx::query(
                    "INSERT INTO users (name, role, tenant, token_hash, created_at, revoked_at) VALUES (?, ?, ?, ?, ?, NULL)",
                )
                .bind(&user.name)
                .bind(verdict_model::roles_text(&user.roles))
                .bind(&user.tenant)
                .bind(&token_hash[..])
                .bind(user.created_at.seconds())
                .execute(&mut **tx)
                .await
                .map_err(|e| match StoreError::from(e) {
                    StoreError::Conflict(_) => StoreError::Conflict(format!("user {:?} already exists", user.name)),
                    other => other,
                })?;
            }
            Op::RevokeUser { name, at: revoked } => {
                let done = sqlx::query("UPDATE users SET revoked_at = ? WHERE name = ? AND revoked_at IS NULL")
                    .bind(revoked.seconds())
                    .bind(name)
                    .execute(&mut **tx)
                    .await?;
                if done.rows_affected() == 0 {
                    return Err(StoreError::Conflict(format!("user {name:?} does not exist or is already revoked")));
                }
            }
            Op::LiftOrder { id, at: lifted, reason } => {
                let done =
                    sqlx::query("UPDATE orders SET lifted_at = ?, lift_reason = ? WHERE id = ? AND lifted_at IS NULL")
                        .bind(lifted.seconds())
                        .bind(reason)
                        .bind(id)
                        .execute(&mut **tx)
                        .await?;
                if done.rows_affected() == 0 {
                    return Err(StoreError::Conflict(format!("order {id:?} does not exist or is already lifted")));
                }
            }
        }
        Ok(())
    }

    /// Keeps the newer of the stored and the given checkpoint.
    async fn write_checkpoint(tx: &mut Transaction<'_, Sqlite>, size: u64, note: &str) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO log_checkpoint (id, size, note) VALUES (1, ?, ?) \
             ON CONFLICT(id) DO UPDATE SET size = excluded.size, note = excluded.note WHERE excluded.size >= size",
        )
        .bind(size as i64)
        .bind(note)
        .execute(&mut **tx)
        .await?;
        Ok(())
    }

    async fn retained_of(&self, order: &str) -> Result<Vec<String>, StoreError> {
        let rows = sqlx::query("SELECT subscription FROM order_retained WHERE order_id = ? ORDER BY subscription")
            .bind(order)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(|r| r.try_get("subscription").map_err(StoreError::from)).collect()
    }

    async fn orders_with_retention(&self, rows: Vec<SqliteRow>) -> Result<Vec<Order>, StoreError> {
        let mut out = Vec::with_capacity(rows.len());
        for row in &rows {
            let id: String = row.try_get("id")?;
            let retained = self.retained_of(&id).await?;
            out.push(order_from_row(row, retained)?);
        }
        Ok(out)
    }
}

fn limit(page: &Page) -> i64 {
    i64::from(page.limit.clamp(1, 10_000))
}

#[async_trait]
impl Store for SqliteStore {
    async fn commit(&self, batch: &Batch, progress: &(dyn Fn(usize) + Send + Sync)) -> Result<u64, StoreError> {
        let at = batch.at.seconds();
        // IMMEDIATE: take the write lock up front, so a transaction that reads
        // before it writes cannot find its snapshot stale (SQLITE_BUSY_SNAPSHOT)
        // when another connection (the checkpoint writer) committed meanwhile.
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        Self::apply(&mut tx, at, &batch.ops, progress).await?;
        if let Some(entry) = &batch.entry {
            // Only the next index may be written: the insert is conditional
            // on the log's current length, in the same round trip.
            let written = sqlx::query(
                "INSERT INTO log_entries (idx, kind, subject, tenant, entry, leaf_hash, private, salt) \
                 SELECT ?, ?, ?, ?, ?, ?, ?, ? WHERE (SELECT COALESCE(max(idx) + 1, 0) FROM log_entries) = ?",
            )
            .bind(entry.index as i64)
            .bind(&entry.kind)
            .bind(&entry.subject)
            .bind(&entry.tenant)
            .bind(&entry.entry)
            .bind(&entry.leaf_hash[..])
            .bind(&entry.private)
            .bind(&entry.salt[..])
            .bind(entry.index as i64)
            .execute(&mut *tx)
            .await?;
            if written.rows_affected() != 1 {
                return Err(StoreError::Conflict(format!("log entry {} is not the next one", entry.index)));
            }
        }
        if let Some((size, note)) = &batch.checkpoint {
            Self::write_checkpoint(&mut tx, *size, note).await?;
        }
        let seq: i64 = sqlx::query_scalar(
            "INSERT INTO changes (at, kind, summary, log_index, log_leaf) VALUES (?, ?, ?, ?, ?) RETURNING seq",
        )
        .bind(at)
        .bind(batch.kind)
        .bind(batch.summary.to_string())
        .bind(batch.entry.as_ref().map(|e| e.index as i64))
        .bind(batch.entry.as_ref().map(|e| e.leaf_hash.to_vec()))
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(seq as u64)
    }

    async fn append(&self, batches: &[Batch]) -> Result<Vec<u64>, StoreError> {
        if batches.is_empty() {
            return Ok(Vec::new());
        }
        if batches.iter().any(|b| !b.ops.is_empty() || b.entry.is_none()) {
            return Err(StoreError::Conflict("append takes log entries only; commit changes with commit".into()));
        }
        let entries: Vec<&crate::LogRecord> = batches.iter().filter_map(|b| b.entry.as_ref()).collect();
        let start = entries[0].index;
        if entries.iter().enumerate().any(|(i, e)| e.index != start + i as u64) {
            return Err(StoreError::Conflict("appended entries must have consecutive indexes".into()));
        }
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let next: i64 =
            sqlx::query_scalar("SELECT COALESCE(max(idx) + 1, 0) FROM log_entries").fetch_one(&mut *tx).await?;
        if next as u64 != start {
            return Err(StoreError::Conflict(format!("log entry {start} is not the next one: the log holds {next}")));
        }
        // Many rows per statement: each statement is a round trip to the
        // database thread.
        for chunk in entries.chunks(500) {
            let mut q = QueryBuilder::<Sqlite>::new(
                "INSERT INTO log_entries (idx, kind, subject, tenant, entry, leaf_hash, private, salt) ",
            );
            q.push_values(chunk.iter(), |mut b, e| {
                b.push_bind(e.index as i64)
                    .push_bind(&e.kind)
                    .push_bind(&e.subject)
                    .push_bind(&e.tenant)
                    .push_bind(&e.entry)
                    .push_bind(&e.leaf_hash[..])
                    .push_bind(&e.private)
                    .push_bind(&e.salt[..]);
            });
            q.build().execute(&mut *tx).await?;
        }
        let mut seqs = Vec::with_capacity(batches.len());
        for chunk in batches.chunks(500) {
            let mut q = QueryBuilder::<Sqlite>::new("INSERT INTO changes (at, kind, summary, log_index, log_leaf) ");
            q.push_values(chunk.iter(), |mut b, batch| {
                let entry = batch.entry.as_ref();
                b.push_bind(batch.at.seconds())
                    .push_bind(batch.kind)
                    .push_bind(batch.summary.to_string())
                    .push_bind(entry.map(|e| e.index as i64))
                    .push_bind(entry.map(|e| e.leaf_hash.to_vec()));
            });
            q.push(" RETURNING seq");
            let mut rows: Vec<i64> = q.build_query_scalar().fetch_all(&mut *tx).await?;
            // RETURNING rows come in no promised order; sequence numbers are
            // assigned in insertion order.
            rows.sort_unstable();
            seqs.extend(rows.into_iter().map(|s| s as u64));
        }
        if let Some((size, note)) = batches.iter().rev().find_map(|b| b.checkpoint.as_ref()) {
            Self::write_checkpoint(&mut tx, *size, note).await?;
        }
        tx.commit().await?;
        Ok(seqs)
    }

    async fn load(&self) -> Result<Loaded, StoreError> {
        let mut conn = self.pool.acquire().await?;
        let mut inventory = Inventory::default();
        for row in sqlx::query("SELECT id, kind, name FROM tenants ORDER BY id").fetch_all(&mut *conn).await? {
            inventory.tenants.push(Tenant {
                id: row.try_get("id")?,
                kind: kind_from_str(row.try_get("kind")?)?,
                name: row.try_get("name")?,
            });
        }
        for row in sqlx::query("SELECT tenant, path FROM units ORDER BY tenant, path").fetch_all(&mut *conn).await? {
            inventory.units.push(Unit { tenant: row.try_get("tenant")?, path: path_from_str(row.try_get("path")?)? });
        }
        for row in sqlx::query("SELECT id, tenant, unit, region, services FROM subscriptions ORDER BY id")
            .fetch_all(&mut *conn)
            .await?
        {
            inventory.subscriptions.push(subscription_from_row(&row)?);
        }
        let mut retained: std::collections::HashMap<String, Vec<String>> = std::collections::HashMap::new();
        for row in sqlx::query("SELECT order_id, subscription FROM order_retained ORDER BY order_id, subscription")
            .fetch_all(&mut *conn)
            .await?
        {
            retained.entry(row.try_get("order_id")?).or_default().push(row.try_get("subscription")?);
        }
        let mut orders = Vec::new();
        for row in sqlx::query("SELECT * FROM orders ORDER BY seq").fetch_all(&mut *conn).await? {
            let id: String = row.try_get("id")?;
            let kept = retained.remove(&id).unwrap_or_default();
            orders.push(order_from_row(&row, kept)?);
        }
        let version: Option<i64> = sqlx::query_scalar("SELECT max(seq) FROM changes").fetch_one(&mut *conn).await?;
        Ok(Loaded { inventory, orders, version: version.unwrap_or(0) as u64 })
    }

    async fn tenant(&self, id: &str) -> Result<Option<Tenant>, StoreError> {
        let row =
            sqlx::query("SELECT id, kind, name FROM tenants WHERE id = ?").bind(id).fetch_optional(&self.pool).await?;
        row.map(|row| {
            Ok(Tenant {
                id: row.try_get("id")?,
                kind: kind_from_str(row.try_get("kind")?)?,
                name: row.try_get("name")?,
            })
        })
        .transpose()
    }

    async fn tenants(&self, page: &Page) -> Result<Vec<Tenant>, StoreError> {
        let rows = sqlx::query("SELECT id, kind, name FROM tenants WHERE id > ? ORDER BY id LIMIT ?")
            .bind(page.after.as_deref().unwrap_or(""))
            .bind(limit(page))
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|row| {
                Ok(Tenant {
                    id: row.try_get("id")?,
                    kind: kind_from_str(row.try_get("kind")?)?,
                    name: row.try_get("name")?,
                })
            })
            .collect()
    }

    async fn units(&self, tenant: &str) -> Result<Vec<UnitPath>, StoreError> {
        let rows = sqlx::query("SELECT path FROM units WHERE tenant = ? ORDER BY path")
            .bind(tenant)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(|row| path_from_str(row.try_get("path")?)).collect()
    }

    async fn subscription(&self, id: &str) -> Result<Option<Subscription>, StoreError> {
        let row = sqlx::query("SELECT id, tenant, unit, region, services FROM subscriptions WHERE id = ?")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(subscription_from_row).transpose()
    }

    async fn subscriptions(&self, tenant: Option<&str>, page: &Page) -> Result<Vec<Subscription>, StoreError> {
        // Two statements, so that a tenant's page is a range of the
        // (tenant, id) index rather than a filtered scan of everyone's.
        let after = page.after.as_deref().unwrap_or("");
        let rows = match tenant {
            Some(tenant) => {
                sqlx::query(
                    "SELECT id, tenant, unit, region, services FROM subscriptions \
                     WHERE tenant = ? AND id > ? ORDER BY id LIMIT ?",
                )
                .bind(tenant)
                .bind(after)
                .bind(limit(page))
                .fetch_all(&self.pool)
                .await?
            }
            None => {
                sqlx::query(
                    "SELECT id, tenant, unit, region, services FROM subscriptions WHERE id > ? ORDER BY id LIMIT ?",
                )
                .bind(after)
                .bind(limit(page))
                .fetch_all(&self.pool)
                .await?
            }
        };
        rows.iter().map(subscription_from_row).collect()
    }

    async fn subscriptions_within(&self, tenant: &str, unit: &UnitPath) -> Result<u64, StoreError> {
        let below = format!("{}/", unit.as_str());
        let n: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM subscriptions WHERE tenant = ? AND (unit = ? OR substr(unit, 1, length(?)) = ?)",
        )
        .bind(tenant)
        .bind(unit.as_str())
        .bind(&below)
        .bind(&below)
        .fetch_one(&self.pool)
        .await?;
        Ok(n as u64)
    }

    async fn order(&self, id: &str) -> Result<Option<Order>, StoreError> {
        let row = sqlx::query("SELECT * FROM orders WHERE id = ?").bind(id).fetch_optional(&self.pool).await?;
        match row {
            None => Ok(None),
            Some(row) => Ok(Some(order_from_row(&row, self.retained_of(id).await?)?)),
        }
    }

    async fn orders(&self, tenant: Option<&str>, page: &Page) -> Result<Vec<Order>, StoreError> {
        let before: i64 = match &page.after {
            Some(id) => sqlx::query_scalar("SELECT seq FROM orders WHERE id = ?")
                .bind(id)
                .fetch_optional(&self.pool)
                .await?
                .ok_or_else(|| StoreError::NotFound { kind: "order", id: id.clone() })?,
            None => i64::MAX,
        };
        let rows =
            sqlx::query("SELECT * FROM orders WHERE seq < ? AND (? IS NULL OR tenant = ?) ORDER BY seq DESC LIMIT ?")
                .bind(before)
                .bind(tenant)
                .bind(tenant)
                .bind(limit(page))
                .fetch_all(&self.pool)
                .await?;
        self.orders_with_retention(rows).await
    }

    async fn max_order_seq(&self) -> Result<i64, StoreError> {
        let max: Option<i64> = sqlx::query_scalar("SELECT max(seq) FROM orders").fetch_one(&self.pool).await?;
        Ok(max.unwrap_or(0))
    }

    async fn changes(&self, after: u64, limit: u32) -> Result<Vec<ChangeRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT seq, at, kind, summary, log_index, log_leaf FROM changes WHERE seq > ? ORDER BY seq LIMIT ?",
        )
        .bind(after as i64)
        .bind(i64::from(limit.clamp(1, 10_000)))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                let summary: String = row.try_get("summary")?;
                Ok(ChangeRecord {
                    seq: row.try_get::<i64, _>("seq")? as u64,
                    at: Timestamp(row.try_get("at")?),
                    kind: row.try_get("kind")?,
                    summary: serde_json::from_str(&summary).map_err(|e| StoreError::Corrupt(e.to_string()))?,
                    log_index: row.try_get::<Option<i64>, _>("log_index")?.map(|i| i as u64),
                    log_leaf: row
                        .try_get::<Option<Vec<u8>>, _>("log_leaf")?
                        .map(|b| {
                            b.try_into().map_err(|_| StoreError::Corrupt("a change's log_leaf is not 32 bytes".into()))
                        })
                        .transpose()?,
                })
            })
            .collect()
    }

    async fn clauses(&self) -> Result<Vec<Clause>, StoreError> {
        let rows: Vec<String> =
            sqlx::query_scalar("SELECT body FROM clauses ORDER BY id, version").fetch_all(&self.pool).await?;
        rows.iter().map(|b| from_json(b)).collect()
    }

    async fn case(&self, id: &str) -> Result<Option<Case>, StoreError> {
        let body: Option<String> =
            sqlx::query_scalar("SELECT body FROM cases WHERE id = ?").bind(id).fetch_optional(&self.pool).await?;
        body.as_deref().map(from_json).transpose()
    }

    async fn cases(&self, tenant: Option<&str>, limit: u32) -> Result<Vec<Case>, StoreError> {
        let rows: Vec<String> = sqlx::query_scalar(
            "SELECT body FROM cases WHERE (? IS NULL OR tenant = ?) ORDER BY opened_at DESC, id LIMIT ?",
        )
        .bind(tenant)
        .bind(tenant)
        .bind(i64::from(limit.clamp(1, 10_000_000)))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(|b| from_json(b)).collect()
    }

    async fn case_events(&self, id: &str) -> Result<Vec<CaseEvent>, StoreError> {
        let rows = sqlx::query("SELECT seq, at, actor, kind, body FROM case_events WHERE case_id = ? ORDER BY seq")
            .bind(id)
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|row| {
                let body: String = row.try_get("body")?;
                Ok(CaseEvent {
                    seq: row.try_get::<i64, _>("seq")? as u64,
                    at: Timestamp(row.try_get("at")?),
                    actor: row.try_get("actor")?,
                    kind: row.try_get("kind")?,
                    body: from_json(&body)?,
                })
            })
            .collect()
    }

    async fn guards(&self) -> Result<Vec<Guard>, StoreError> {
        let rows: Vec<String> = sqlx::query_scalar("SELECT body FROM guards ORDER BY id").fetch_all(&self.pool).await?;
        rows.iter().map(|b| from_json(b)).collect()
    }

    async fn appeals(&self, tenant: Option<&str>) -> Result<Vec<Appeal>, StoreError> {
        let rows: Vec<String> =
            sqlx::query_scalar("SELECT body FROM appeals WHERE (? IS NULL OR tenant = ?) ORDER BY filed_at DESC, id")
                .bind(tenant)
                .bind(tenant)
                .fetch_all(&self.pool)
                .await?;
        rows.iter().map(|b| from_json(b)).collect()
    }

    async fn notices(&self, tenant: Option<&str>) -> Result<Vec<Notice>, StoreError> {
        let rows: Vec<String> =
            sqlx::query_scalar("SELECT body FROM notices WHERE (? IS NULL OR tenant = ?) ORDER BY issued_at DESC, id")
                .bind(tenant)
                .bind(tenant)
                .fetch_all(&self.pool)
                .await?;
        rows.iter().map(|b| from_json(b)).collect()
    }

    async fn notice(&self, id: &str) -> Result<Option<Notice>, StoreError> {
        let body: Option<String> =
            sqlx::query_scalar("SELECT body FROM notices WHERE id = ?").bind(id).fetch_optional(&self.pool).await?;
        body.as_deref().map(from_json).transpose()
    }

    async fn outbox_due(&self, now_ms: i64, limit: u32) -> Result<Vec<OutboxItem>, StoreError> {
        let rows = sqlx::query(
            "SELECT * FROM outbox WHERE delivered_at IS NULL AND next_at_ms <= ? ORDER BY next_at_ms, id LIMIT ?",
        )
        .bind(now_ms)
        .bind(i64::from(limit.clamp(1, 1000)))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(outbox_from_row).collect()
    }

    async fn outbox_of(&self, notice_id: &str) -> Result<Vec<OutboxItem>, StoreError> {
        let rows = sqlx::query("SELECT * FROM outbox WHERE notice_id = ? ORDER BY id")
            .bind(notice_id)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(outbox_from_row).collect()
    }

    async fn outbox_delivered(&self, id: i64, at: Timestamp) -> Result<(), StoreError> {
        sqlx::query("UPDATE outbox SET delivered_at = ?, last_error = NULL WHERE id = ?")
            .bind(at.seconds())
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn outbox_failed(&self, id: i64, next_at_ms: i64, error: &str) -> Result<(), StoreError> {
        sqlx::query("UPDATE outbox SET attempts = attempts + 1, next_at_ms = ?, last_error = ? WHERE id = ?")
            .bind(next_at_ms)
            .bind(error)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn users(&self) -> Result<Vec<(User, [u8; 32])>, StoreError> {
        let rows = sqlx::query("SELECT * FROM users ORDER BY name").fetch_all(&self.pool).await?;
        rows.iter()
            .map(|row| {
                let role: String = row.try_get("role")?;
                let hash: Vec<u8> = row.try_get("token_hash")?;
                let user = User {
                    name: row.try_get("name")?,
                    roles: role
                        .split('+')
                        .map(Role::parse)
                        .collect::<Result<_, _>>()
                        .map_err(|e| StoreError::Corrupt(e.to_string()))?,
                    tenant: row.try_get("tenant")?,
                    created_at: Timestamp(row.try_get("created_at")?),
                    revoked_at: row.try_get::<Option<i64>, _>("revoked_at")?.map(Timestamp),
                };
                let hash: [u8; 32] = hash
                    .try_into()
                    .map_err(|_| StoreError::Corrupt(format!("user {:?}: bad token hash", user.name)))?;
                Ok((user, hash))
            })
            .collect()
    }

    async fn sync(&self) -> Result<(), StoreError> {
        // synchronous=FULL: every commit was fsync'd as it returned.
        Ok(())
    }

    async fn log_leaves(&self) -> Result<Vec<[u8; 32]>, StoreError> {
        let rows = sqlx::query("SELECT idx, leaf_hash FROM log_entries ORDER BY idx").fetch_all(&self.pool).await?;
        let mut leaves = Vec::with_capacity(rows.len());
        for (expected, row) in rows.iter().enumerate() {
            let index: i64 = row.try_get("idx")?;
            if index != expected as i64 {
                return Err(StoreError::Corrupt(format!(
                    "the log has no entry {expected} (the next stored entry is {index})"
                )));
            }
            leaves.push(hash_from_row(row, "leaf_hash", index)?);
        }
        Ok(leaves)
    }

    async fn log_entries(&self, start: u64, end: u64) -> Result<Vec<Vec<u8>>, StoreError> {
        let rows = sqlx::query("SELECT idx, entry FROM log_entries WHERE idx >= ? AND idx < ? ORDER BY idx")
            .bind(start as i64)
            .bind(end as i64)
            .fetch_all(&self.pool)
            .await?;
        let mut out = Vec::with_capacity(rows.len());
        for (offset, row) in rows.iter().enumerate() {
            let index: i64 = row.try_get("idx")?;
            if index as u64 != start + offset as u64 {
                return Err(StoreError::Corrupt(format!("the log has no entry {}", start + offset as u64)));
            }
            out.push(row.try_get("entry")?);
        }
        if (out.len() as u64) < end.saturating_sub(start) {
            return Err(StoreError::Corrupt(format!("the log has no entry {}", start + out.len() as u64)));
        }
        Ok(out)
    }

    async fn log_records(&self, start: u64, limit: u32) -> Result<Vec<LogRecord>, StoreError> {
        let rows = sqlx::query("SELECT * FROM log_entries WHERE idx >= ? ORDER BY idx LIMIT ?")
            .bind(start as i64)
            .bind(i64::from(limit.clamp(1, 100_000)))
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|row| {
                let index: i64 = row.try_get("idx")?;
                Ok(LogRecord {
                    index: index as u64,
                    kind: row.try_get("kind")?,
                    subject: row.try_get("subject")?,
                    tenant: row.try_get("tenant")?,
                    entry: row.try_get("entry")?,
                    leaf_hash: hash_from_row(row, "leaf_hash", index)?,
                    private: row.try_get("private")?,
                    salt: hash_from_row(row, "salt", index)?,
                })
            })
            .collect()
    }

    async fn logged_expiries(&self) -> Result<Vec<String>, StoreError> {
        let rows =
            sqlx::query_scalar("SELECT subject FROM log_entries WHERE kind = 'order.expired' AND subject IS NOT NULL")
                .fetch_all(&self.pool)
                .await?;
        Ok(rows)
    }

    async fn put_checkpoint(&self, size: u64, note: &str) -> Result<(), StoreError> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        Self::write_checkpoint(&mut tx, size, note).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn checkpoint(&self) -> Result<Option<(u64, String)>, StoreError> {
        let row = sqlx::query("SELECT size, note FROM log_checkpoint WHERE id = 1").fetch_optional(&self.pool).await?;
        row.map(|row| Ok((row.try_get::<i64, _>("size")? as u64, row.try_get("note")?))).transpose()
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
