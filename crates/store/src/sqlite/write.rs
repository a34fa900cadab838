//! The SQLite statements every write runs, inside a transaction.

use sqlx::{QueryBuilder, Sqlite, SqliteConnection};
use verdict_model::{Subscription, Timestamp};

use super::to_json;
use crate::{Appended, Op, StoreError};

pub(super) async fn apply(
    c: &mut SqliteConnection,
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
            q.build().execute(&mut *c).await?;
            i += run.len();
            done += run.len();
            progress(done);
            continue;
        }
        apply_one(c, at, &ops[i]).await?;
        i += 1;
        done += 1;
        if done % 1000 == 0 {
            progress(done);
        }
    }
    progress(done);
    Ok(())
}

async fn retain(c: &mut SqliteConnection, at: i64, sub: &str, orders: &[String]) -> Result<(), StoreError> {
    for order in orders {
        sqlx::query(
            "INSERT INTO order_retained (order_id, subscription, since) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
        )
        .bind(order)
        .bind(sub)
        .bind(at)
        .execute(&mut *c)
        .await?;
    }
    Ok(())
}

async fn apply_one(c: &mut SqliteConnection, at: i64, op: &Op) -> Result<(), StoreError> {
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
            .execute(&mut *c)
            .await?;
        }
        Op::PutUnit(u) => {
            sqlx::query("INSERT INTO units (tenant, path, created_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING")
                .bind(&u.tenant)
                .bind(u.path.as_str())
                .bind(at)
                .execute(&mut *c)
                .await?;
        }
        Op::DeleteUnit(u) => {
            let done = sqlx::query("DELETE FROM units WHERE tenant = ? AND path = ?")
                .bind(&u.tenant)
                .bind(u.path.as_str())
                .execute(&mut *c)
                .await?;
            if done.rows_affected() == 0 {
                return Err(StoreError::NotFound { kind: "unit", id: format!("{}/{}", u.tenant, u.path) });
            }
        }
        Op::PutSubscription(_) => unreachable!("subscription puts are written in bulk by apply"),
        Op::MoveSubscription { id, unit, retained_by } => {
            retain(c, at, id, retained_by).await?;
            let done = sqlx::query("UPDATE subscriptions SET unit = ?, updated_at = ? WHERE id = ?")
                .bind(unit.as_str())
                .bind(at)
                .bind(id)
                .execute(&mut *c)
                .await?;
            if done.rows_affected() == 0 {
                return Err(StoreError::NotFound { kind: "subscription", id: id.clone() });
            }
        }
        Op::DeleteSubscription { id, retained_by } => {
            retain(c, at, id, retained_by).await?;
            let done = sqlx::query("DELETE FROM subscriptions WHERE id = ?").bind(id).execute(&mut *c).await?;
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
            .execute(&mut *c)
            .await?;
            for sub in &o.retained {
                retain(c, at, sub, std::slice::from_ref(&o.id)).await?;
            }
        }
        Op::PutClause(clause) => {
            sqlx::query("INSERT INTO clauses (id, version, body, created_at) VALUES (?, ?, ?, ?)")
                .bind(&clause.id)
                .bind(clause.version)
                .bind(to_json(clause)?)
                .bind(clause.created_at.seconds())
                .execute(&mut *c)
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
            .execute(&mut *c)
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
            .execute(&mut *c)
            .await?;
        }
        Op::PutNotice(notice) => {
            sqlx::query("INSERT INTO notices (id, tenant, order_id, body, issued_at) VALUES (?, ?, ?, ?, ?)")
                .bind(&notice.id)
                .bind(&notice.tenant)
                .bind(&notice.order)
                .bind(to_json(notice)?)
                .bind(notice.issued_at.seconds())
                .execute(&mut *c)
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
            .execute(&mut *c)
            .await?;
        }
        Op::FileAppeal(appeal) => {
            sqlx::query("INSERT INTO appeals (id, order_id, tenant, body, filed_at) VALUES (?, ?, ?, ?, ?)")
                .bind(&appeal.id)
                .bind(&appeal.order)
                .bind(&appeal.tenant)
                .bind(to_json(appeal)?)
                .bind(appeal.filed_at.seconds())
                .execute(&mut *c)
                .await?;
        }
        Op::DecideAppeal(appeal) => {
            let done =
                sqlx::query("UPDATE appeals SET body = ? WHERE id = ? AND json_extract(body, '$.decision') IS NULL")
                    .bind(to_json(appeal)?)
                    .bind(&appeal.id)
                    .execute(&mut *c)
                    .await?;
            if done.rows_affected() == 0 {
                return Err(StoreError::Conflict(format!(
                    "appeal {:?} does not exist or is decided already",
                    appeal.id
                )));
            }
        }
        Op::Enqueue { notice_id, body } => {
            sqlx::query("INSERT INTO outbox (notice_id, body, next_at_ms) VALUES (?, ?, ?)")
                .bind(notice_id)
                .bind(body)
                .bind(at * 1000)
                .execute(&mut *c)
                .await?;
        }
        Op::SetOrderLifecycle { id, lifecycle } => {
            let done = sqlx::query("UPDATE orders SET lifecycle = ? WHERE id = ?")
                .bind(to_json(lifecycle)?)
                .bind(id)
                .execute(&mut *c)
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
            .execute(&mut *c)
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
                .execute(&mut *c)
                .await?;
            if done.rows_affected() == 0 {
                return Err(StoreError::Conflict(format!("user {name:?} does not exist or is already revoked")));
            }
        }
        Op::LiftOrder { id, at: lifted, reason, superseded_by } => {
            let done = sqlx::query(
                "UPDATE orders SET lifted_at = ?, lift_reason = ?, superseded_by = ? WHERE id = ? AND lifted_at IS NULL",
            )
            .bind(lifted.seconds())
            .bind(reason)
            .bind(superseded_by)
            .bind(id)
            .execute(&mut *c)
            .await?;
            if done.rows_affected() == 0 {
                return Err(StoreError::Conflict(format!("order {id:?} does not exist or is already lifted")));
            }
        }
        Op::OutboxDelivered { id, at: delivered } => {
            sqlx::query("UPDATE outbox SET delivered_at = ?, last_error = NULL WHERE id = ?")
                .bind(delivered.seconds())
                .bind(id)
                .execute(&mut *c)
                .await?;
        }
        Op::OutboxFailed { id, next_at_ms, error } => {
            sqlx::query("UPDATE outbox SET attempts = attempts + 1, next_at_ms = ?, last_error = ? WHERE id = ?")
                .bind(next_at_ms)
                .bind(error)
                .bind(id)
                .execute(&mut *c)
                .await?;
        }
    }
    Ok(())
}

/// Stores a signed checkpoint unless one of its size is stored (signing is
/// deterministic, so the same size means the same note).
pub(super) async fn put_checkpoint(c: &mut SqliteConnection, size: u64, note: &str) -> Result<(), StoreError> {
    sqlx::query("INSERT INTO log_checkpoints (size, note) VALUES (?, ?) ON CONFLICT(size) DO NOTHING")
        .bind(size as i64)
        .bind(note)
        .execute(&mut *c)
        .await?;
    Ok(())
}

/// Appends entries at the log's next indexes, each with its change row.
pub(super) async fn append(c: &mut SqliteConnection, entries: &[Appended]) -> Result<Vec<u64>, StoreError> {
    let Some(first) = entries.first() else { return Ok(Vec::new()) };
    let start = first.record.index;
    if entries.iter().enumerate().any(|(i, e)| e.record.index != start + i as u64) {
        return Err(StoreError::Conflict("appended entries must have consecutive indexes".into()));
    }
    // Only the next index may be written: the log never gets a gap or a
    // duplicate, whoever writes.
    let next = super::read::log_size(c).await?;
    if next != start {
        return Err(StoreError::Conflict(format!("log entry {start} is not the next one: the log holds {next}")));
    }
    // Many rows per statement: each statement is a round trip to the
    // database thread.
    for chunk in entries.chunks(500) {
        let mut q = QueryBuilder::<Sqlite>::new(
            "INSERT INTO log_entries (idx, kind, subject, tenant, entry, leaf_hash, private, salt) ",
        );
        q.push_values(chunk.iter(), |mut b, e| {
            let r = &e.record;
            b.push_bind(r.index as i64)
                .push_bind(&r.kind)
                .push_bind(&r.subject)
                .push_bind(&r.tenant)
                .push_bind(&r.entry)
                .push_bind(&r.leaf_hash[..])
                .push_bind(&r.private)
                .push_bind(&r.salt[..]);
        });
        q.build().execute(&mut *c).await?;
    }
    let mut seqs = Vec::with_capacity(entries.len());
    for chunk in entries.chunks(500) {
        let mut q = QueryBuilder::<Sqlite>::new("INSERT INTO changes (at, kind, summary, log_index, log_leaf, delta) ");
        q.push_values(chunk.iter(), |mut b, e| {
            b.push_bind(e.at.seconds())
                .push_bind(&e.record.kind)
                .push_bind(e.summary.to_string())
                .push_bind(e.record.index as i64)
                .push_bind(e.record.leaf_hash.to_vec())
                .push_bind(&e.delta);
        });
        q.push(" RETURNING seq");
        let mut rows: Vec<i64> = q.build_query_scalar().fetch_all(&mut *c).await?;
        // RETURNING rows come in no promised order; sequence numbers are
        // assigned in insertion order.
        rows.sort_unstable();
        seqs.extend(rows.into_iter().map(|s| s as u64));
    }
    Ok(seqs)
}
