//! The PostgreSQL statements every write runs: the shared text in
//! `queries/write.rs`, over PostgreSQL's connection.

use sqlx::PgConnection as DbConnection;
use sqlx::Postgres as Db;

/// `NOTIFY`, delivered when (and only if) the transaction commits: every
/// other server following the change table looks at once.
async fn announce(c: &mut DbConnection, newest: u64) -> Result<(), StoreError> {
    sqlx::query("SELECT pg_notify($1, $2)").bind(super::CHANNEL).bind(newest.to_string()).execute(&mut *c).await?;
    Ok(())
}

/// The `n`th parameter (from 1) of a statement.
fn placeholder(n: usize) -> String {
    format!("${n}")
}

/// Claims of usage ids by several servers take turns (until the
/// transaction ends): each reads the hour's runs and adds its own, which
/// a concurrent claim must see.
async fn lock_usage_ids(c: &mut DbConnection) -> Result<(), StoreError> {
    sqlx::query("SELECT pg_advisory_xact_lock(hashtext('verdict.usage_id_runs'))").execute(&mut *c).await?;
    Ok(())
}

include!("../queries/write.rs");
