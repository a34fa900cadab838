// The statements every write runs, inside a transaction, written once for
// both backends (`$N` placeholders numbered in order of appearance, SQL
// both speak). Included by `sqlite/write.rs` and `postgres/write.rs`, which
// name the database (`Db`), its connection (`DbConnection`) and how a
// commit that appended is announced to other servers (`announce`).

use sqlx::QueryBuilder;
use verdict_model::{Subscription, Timestamp};

use crate::codec::to_json;
use crate::{Appended, Op, StoreError};

pub(super) async fn apply(
    c: &mut DbConnection,
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
            let mut q = QueryBuilder::<Db>::new(
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

async fn retain(c: &mut DbConnection, at: i64, sub: &str, orders: &[String]) -> Result<(), StoreError> {
    for order in orders {
        sqlx::query(
            "INSERT INTO order_retained (order_id, subscription, since) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
        )
        .bind(order)
        .bind(sub)
        .bind(at)
        .execute(&mut *c)
        .await?;
    }
    Ok(())
}

async fn apply_one(c: &mut DbConnection, at: i64, op: &Op) -> Result<(), StoreError> {
    match op {
        Op::PutTenant(t) => {
            sqlx::query(
                "INSERT INTO tenants (id, kind, name, created_at) VALUES ($1, $2, $3, $4) \
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
            sqlx::query("INSERT INTO units (tenant, path, created_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING")
                .bind(&u.tenant)
                .bind(u.path.as_str())
                .bind(at)
                .execute(&mut *c)
                .await?;
        }
        Op::DeleteUnit(u) => {
            let done = sqlx::query("DELETE FROM units WHERE tenant = $1 AND path = $2")
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
            let done = sqlx::query("UPDATE subscriptions SET unit = $1, updated_at = $2 WHERE id = $3")
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
            let done = sqlx::query("DELETE FROM subscriptions WHERE id = $1").bind(id).execute(&mut *c).await?;
            if done.rows_affected() == 0 {
                return Err(StoreError::NotFound { kind: "subscription", id: id.clone() });
            }
        }
        Op::InsertOrder(o) => {
            let spec = serde_json::to_string(&o.spec).map_err(|e| StoreError::Corrupt(e.to_string()))?;
            sqlx::query(
                "INSERT INTO orders (id, seq, tenant, spec, created_at, lifted_at, lift_reason, log_index, lifecycle) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
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
            sqlx::query("INSERT INTO clauses (id, version, body, created_at) VALUES ($1, $2, $3, $4)")
                .bind(&clause.id)
                .bind(i64::from(clause.version))
                .bind(to_json(clause)?)
                .bind(clause.created_at.seconds())
                .execute(&mut *c)
                .await?;
        }
        Op::PutCase(case) => {
            sqlx::query(
                "INSERT INTO cases (id, tenant, status, body, opened_at, updated_at, assignee, source) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
                 ON CONFLICT(id) DO UPDATE SET status = excluded.status, body = excluded.body, \
                 updated_at = excluded.updated_at, assignee = excluded.assignee",
            )
            .bind(&case.id)
            .bind(&case.spec.tenant)
            .bind(case.status.as_str())
            .bind(to_json(case)?)
            .bind(case.opened_at.seconds())
            .bind(case.updated_at.seconds())
            .bind(case.assignee.as_deref())
            .bind(case.spec.source_type.as_str())
            .execute(&mut *c)
            .await?;
        }
        Op::AddCaseEvent { case_id, event } => {
            sqlx::query(
                "INSERT INTO case_events (case_id, seq, at, actor, kind, body) \
                 SELECT $1, COALESCE(max(seq), 0) + 1, $2, $3, $4, $5 FROM case_events WHERE case_id = $6",
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
            sqlx::query("INSERT INTO notices (id, tenant, order_id, body, issued_at) VALUES ($1, $2, $3, $4, $5)")
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
                "INSERT INTO guards (id, body, created_at) VALUES ($1, $2, $3) \
                 ON CONFLICT(id) DO UPDATE SET body = excluded.body",
            )
            .bind(&guard.id)
            .bind(to_json(guard)?)
            .bind(at)
            .execute(&mut *c)
            .await?;
        }
        Op::FileAppeal(appeal) => {
            sqlx::query(
                "INSERT INTO appeals (id, order_id, tenant, body, decided, filed_at) VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(&appeal.id)
            .bind(&appeal.order)
            .bind(&appeal.tenant)
            .bind(to_json(appeal)?)
            .bind(appeal.decision.is_some())
            .bind(appeal.filed_at.seconds())
            .execute(&mut *c)
            .await?;
        }
        Op::DecideAppeal(appeal) => {
            let done = sqlx::query("UPDATE appeals SET body = $1, decided = TRUE WHERE id = $2 AND NOT decided")
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
            sqlx::query("INSERT INTO outbox (notice_id, body, next_at_ms) VALUES ($1, $2, $3)")
                .bind(notice_id)
                .bind(body)
                .bind(at * 1000)
                .execute(&mut *c)
                .await?;
        }
        Op::SetOrderLifecycle { id, lifecycle } => {
            let done = sqlx::query("UPDATE orders SET lifecycle = $1 WHERE id = $2")
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
                "INSERT INTO users (name, role, tenant, token_hash, created_at, revoked_at, scope) VALUES ($1, $2, $3, $4, $5, NULL, $6)",
            )
            .bind(&user.name)
            .bind(verdict_model::roles_text(&user.roles))
            .bind(&user.tenant)
            .bind(&token_hash[..])
            .bind(user.created_at.seconds())
            .bind(
                user.scope
                    .as_ref()
                    .map(serde_json::to_string)
                    .transpose()
                    .map_err(|e| StoreError::Corrupt(e.to_string()))?,
            )
            .execute(&mut *c)
            .await
            .map_err(|e| match StoreError::from(e) {
                StoreError::Conflict(_) => StoreError::Conflict(format!("user {:?} already exists", user.name)),
                other => other,
            })?;
        }
        Op::RevokeUser { name, at: revoked } => {
            let done = sqlx::query("UPDATE users SET revoked_at = $1 WHERE name = $2 AND revoked_at IS NULL")
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
                "UPDATE orders SET lifted_at = $1, lift_reason = $2, superseded_by = $3 WHERE id = $4 AND lifted_at IS NULL",
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
        Op::PutSession(session) => {
            sqlx::query(
                "INSERT INTO console_sessions (id_hash, user_name, token_hash, created_at, expires_at, ended_at) \
                 VALUES ($1, $2, $3, $4, $5, NULL)",
            )
            .bind(&session.id_hash[..])
            .bind(&session.user)
            .bind(&session.token_hash[..])
            .bind(session.created_at.seconds())
            .bind(session.expires_at.seconds())
            .execute(&mut *c)
            .await?;
        }
        Op::EndSession { id_hash, at: ended } => {
            sqlx::query("UPDATE console_sessions SET ended_at = $1 WHERE id_hash = $2 AND ended_at IS NULL")
                .bind(ended.seconds())
                .bind(&id_hash[..])
                .execute(&mut *c)
                .await?;
        }
        Op::AddUsage { tenant, slices } => {
            // Many rows a statement, the tenant given once, counters and
            // gauges apart; a batch's slices are distinct keys (one
            // statement may not update a row twice on PostgreSQL).
            for gauge in [false, true] {
                let rows: Vec<&crate::UsageAdd> = slices.iter().filter(|a| a.gauge == gauge).collect();
                let keep = if gauge {
                    "CASE WHEN excluded.quantity > usage_slices.quantity THEN excluded.quantity ELSE usage_slices.quantity END"
                } else {
                    "usage_slices.quantity + excluded.quantity"
                };
                for chunk in rows.chunks(SLICES_PER_STATEMENT) {
                    let sql = format!(
                        "INSERT INTO usage_slices (tenant, hour, series, quantity) \
                         SELECT CAST({} AS TEXT), v.column1, v.column2, v.column3 FROM (VALUES {}) AS v WHERE true \
                         ON CONFLICT (tenant, hour, series) DO UPDATE SET quantity = {keep}",
                        placeholder(1),
                        value_rows(chunk.len(), 3, 2, &["BIGINT", "BIGINT", "DOUBLE PRECISION"])
                    );
                    let mut query = sqlx::query(&sql).bind(tenant);
                    for add in chunk {
                        query = query.bind(add.hour).bind(add.series).bind(add.quantity);
                    }
                    query.execute(&mut *c).await?;
                }
            }
        }
        Op::PutRule(rule) => {
            sqlx::query(
                "INSERT INTO detection_rules (id, version, state, body) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT(id, version) DO UPDATE SET state = excluded.state, body = excluded.body",
            )
            .bind(&rule.spec.id)
            .bind(i64::from(rule.version))
            .bind(rule.state.as_str())
            .bind(to_json(rule)?)
            .execute(&mut *c)
            .await?;
        }
        Op::AddRuleResults(results) => {
            for r in results {
                sqlx::query(
                    "INSERT INTO rule_results (rule_id, version, tenant, target, hour, figures, case_id) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING",
                )
                .bind(&r.rule_id)
                .bind(i64::from(r.version))
                .bind(&r.tenant)
                .bind(&r.target)
                .bind(r.hour)
                .bind(r.figures.to_string())
                .bind(r.case_id.as_deref())
                .execute(&mut *c)
                .await?;
            }
        }
        Op::PurgeUsage { before_hour } => {
            // Per tenant, so each delete is a range of the slices' key.
            sqlx::query(
                "DELETE FROM usage_slices WHERE tenant IN (SELECT DISTINCT tenant FROM usage_series) AND hour < $1",
            )
            .bind(before_hour)
            .execute(&mut *c)
            .await?;
            sqlx::query("DELETE FROM usage_id_runs WHERE hour < $1").bind(before_hour).execute(&mut *c).await?;
        }
        Op::PurgeSessions { before } => {
            sqlx::query("DELETE FROM console_sessions WHERE expires_at < $1").bind(before.seconds()).execute(&mut *c).await?;
        }
        Op::OutboxDelivered { id, at: delivered } => {
            sqlx::query("UPDATE outbox SET delivered_at = $1, last_error = NULL WHERE id = $2")
                .bind(delivered.seconds())
                .bind(id)
                .execute(&mut *c)
                .await?;
        }
        Op::OutboxFailed { id, next_at_ms, error } => {
            sqlx::query("UPDATE outbox SET attempts = attempts + 1, next_at_ms = $1, last_error = $2 WHERE id = $3")
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
pub(super) async fn put_checkpoint(c: &mut DbConnection, size: u64, note: &str) -> Result<(), StoreError> {
    sqlx::query("INSERT INTO log_checkpoints (size, note) VALUES ($1, $2) ON CONFLICT(size) DO NOTHING")
        .bind(size as i64)
        .bind(note)
        .execute(&mut *c)
        .await?;
    Ok(())
}

/// Appends entries at the log's next indexes, each with its change row.
pub(super) async fn append(c: &mut DbConnection, entries: &[Appended]) -> Result<Vec<u64>, StoreError> {
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
        let mut q = QueryBuilder::<Db>::new(
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
    // Versions without gaps: this transaction holds the store's write lock,
    // so max(seq) + 1 is the next version and no other writer can take it
    // (a sequence would leave a gap at every rollback).
    let last: Option<i64> = sqlx::query_scalar("SELECT max(seq) FROM changes").fetch_one(&mut *c).await?;
    let first_seq = last.unwrap_or(0) + 1;
    for (n, chunk) in entries.chunks(500).enumerate() {
        let mut q =
            QueryBuilder::<Db>::new("INSERT INTO changes (seq, at, kind, summary, log_index, log_leaf, delta) ");
        q.push_values(chunk.iter().enumerate(), |mut b, (i, e)| {
            b.push_bind(first_seq + (n * 500 + i) as i64)
                .push_bind(e.at.seconds())
                .push_bind(&e.record.kind)
                .push_bind(e.summary.to_string())
                .push_bind(e.record.index as i64)
                .push_bind(e.record.leaf_hash.to_vec())
                .push_bind(&e.delta);
        });
        q.build().execute(&mut *c).await?;
    }
    let seqs: Vec<u64> = (0..entries.len()).map(|i| (first_seq + i as i64) as u64).collect();
    announce(c, seqs.last().copied().unwrap_or(0)).await?;
    Ok(seqs)
}

/// Usage slices written in one statement (3 parameters each).
const SLICES_PER_STATEMENT: usize = 2000;

/// Usage ids or series looked up or added in one statement.
const KEYS_PER_STATEMENT: usize = 2000;

/// `rows` rows of `columns` parameters for a `VALUES` list, numbered from
/// `first`; the first row's columns are cast to `types` where given
/// (PostgreSQL reads an untyped parameter in a `VALUES` subquery as text).
fn value_rows(rows: usize, columns: usize, first: usize, types: &[&str]) -> String {
    let mut sql = String::with_capacity(rows * columns * 4);
    for r in 0..rows {
        sql.push_str(if r == 0 { "(" } else { ", (" });
        for k in 0..columns {
            if k > 0 {
                sql.push_str(", ");
            }
            let p = placeholder(first + r * columns + k);
            match types.get(k) {
                Some(t) if r == 0 && !t.is_empty() => sql.push_str(&format!("CAST({p} AS {t})")),
                _ => sql.push_str(&p),
            }
        }
        sql.push(')');
    }
    sql
}

/// Runs of ids an hour may gather before they are merged into one.
const MAX_ID_RUNS: usize = 16;

/// Claims event ids, kept per hour as sorted runs of 64-bit digests (one
/// run a batch, merged when an hour has many): a batch's ids, sorted, are
/// compared with each run in one pass, and written as one row — where a
/// row per id, in an index of random digests, would rewrite every page
/// of the hour's ids at each commit.
pub(super) async fn claim_usage_ids(
    c: &mut DbConnection,
    ids: &[(i64, i64)],
) -> Result<std::collections::HashSet<(i64, i64)>, StoreError> {
    let mut before = std::collections::HashSet::new();
    if ids.is_empty() {
        return Ok(before);
    }
    lock_usage_ids(c).await?;
    let mut ids = ids.to_vec();
    ids.sort_unstable();
    ids.dedup();
    for group in ids.chunk_by(|a, b| a.0 == b.0) {
        let hour = group[0].0;
        let claimed: Vec<i64> = group.iter().map(|(_, id)| *id).collect();
        let runs: Vec<(i64, Vec<u8>)> =
            sqlx::query_as("SELECT run, ids FROM usage_id_runs WHERE hour = $1 ORDER BY run")
                .bind(hour)
                .fetch_all(&mut *c)
                .await?;
        let mut seen = vec![false; claimed.len()];
        for (_, run) in &runs {
            mark_present(&claimed, run, &mut seen);
        }
        before.extend(claimed.iter().zip(&seen).filter(|(_, s)| **s).map(|(id, _)| (hour, *id)));
        let fresh: Vec<i64> = claimed.iter().zip(&seen).filter(|(_, s)| !**s).map(|(id, _)| *id).collect();
        if fresh.is_empty() {
            continue;
        }
        let next = runs.last().map_or(0, |(run, _)| run + 1);
        let blob = if runs.len() + 1 > MAX_ID_RUNS {
            // Merge the hour's runs and this batch's ids into one run.
            let mut all: Vec<i64> = runs.iter().flat_map(|(_, run)| decode_ids(run)).chain(fresh).collect();
            all.sort_unstable();
            sqlx::query("DELETE FROM usage_id_runs WHERE hour = $1").bind(hour).execute(&mut *c).await?;
            encode_ids(&all)
        } else {
            encode_ids(&fresh)
        };
        sqlx::query("INSERT INTO usage_id_runs (hour, run, ids) VALUES ($1, $2, $3)")
            .bind(hour)
            .bind(next)
            .bind(blob)
            .execute(&mut *c)
            .await?;
    }
    Ok(before)
}

/// A run of ids as stored: sorted digests, 8 bytes each, big-endian.
fn encode_ids(ids: &[i64]) -> Vec<u8> {
    ids.iter().flat_map(|id| id.to_be_bytes()).collect()
}

fn decode_ids(run: &[u8]) -> impl Iterator<Item = i64> + '_ {
    run.chunks_exact(8).map(|b| i64::from_be_bytes(b.try_into().expect("8 bytes")))
}

/// Marks which of `claimed` (sorted) are in `run` (sorted), in one pass
/// over both.
fn mark_present(claimed: &[i64], run: &[u8], seen: &mut [bool]) {
    let mut stored = decode_ids(run).peekable();
    for (i, id) in claimed.iter().enumerate() {
        while stored.next_if(|s| s < id).is_some() {}
        match stored.peek() {
            Some(s) if s == id => seen[i] = true,
            Some(_) => {}
            None => return,
        }
    }
}

pub(super) async fn usage_series_ids(c: &mut DbConnection, series: &[crate::UsageSeries]) -> Result<Vec<i64>, StoreError> {
    let mut ids: Vec<Option<i64>> = vec![None; series.len()];
    // Twice at most: numbers the store has, new ones added, and once more
    // for those another server added meanwhile.
    for _ in 0..2 {
        let missing: Vec<usize> = (0..series.len()).filter(|&i| ids[i].is_none()).collect();
        for chunk in missing.chunks(KEYS_PER_STATEMENT) {
            let sql = format!(
                "SELECT v.column1, s.id FROM (VALUES {}) AS v JOIN usage_series s \
                 ON s.subscription = v.column2 AND s.service = v.column3 AND s.meter = v.column4",
                value_rows(chunk.len(), 4, 1, &["BIGINT", "TEXT", "TEXT", "TEXT"])
            );
            let mut query = sqlx::query_as::<_, (i64, i64)>(&sql);
            for &i in chunk {
                let s = &series[i];
                query = query.bind(i as i64).bind(&s.subscription).bind(&s.service).bind(&s.meter);
            }
            for (i, id) in query.fetch_all(&mut *c).await? {
                ids[i as usize] = Some(id);
            }
        }
        let new: Vec<usize> = (0..series.len()).filter(|&i| ids[i].is_none()).collect();
        for chunk in new.chunks(KEYS_PER_STATEMENT) {
            let sql = format!(
                "INSERT INTO usage_series (tenant, subscription, service, meter, gauge) VALUES {} \
                 ON CONFLICT DO NOTHING RETURNING id, subscription, service, meter",
                value_rows(chunk.len(), 5, 1, &[])
            );
            let mut query = sqlx::query_as::<_, (i64, String, String, String)>(&sql);
            for &i in chunk {
                let s = &series[i];
                query = query.bind(&s.tenant).bind(&s.subscription).bind(&s.service).bind(&s.meter).bind(s.gauge);
            }
            let at: std::collections::HashMap<(&str, &str, &str), usize> = chunk
                .iter()
                .map(|&i| ((series[i].subscription.as_str(), series[i].service.as_str(), series[i].meter.as_str()), i))
                .collect();
            for (id, subscription, service, meter) in query.fetch_all(&mut *c).await? {
                if let Some(&i) = at.get(&(subscription.as_str(), service.as_str(), meter.as_str())) {
                    ids[i] = Some(id);
                }
            }
        }
        if ids.iter().all(Option::is_some) {
            return Ok(ids.into_iter().flatten().collect());
        }
    }
    Err(StoreError::Conflict("usage series were numbered concurrently by another batch; send it again".into()))
}

pub(super) async fn claim_rules_hour(c: &mut DbConnection, hour: i64) -> Result<bool, StoreError> {
    let done = sqlx::query("INSERT INTO rule_evaluations (hour) VALUES ($1) ON CONFLICT DO NOTHING")
        .bind(hour)
        .execute(&mut *c)
        .await?;
    Ok(done.rows_affected() == 1)
}
