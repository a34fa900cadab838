// The queries every read runs, over one connection (a pooled one for plain
// reads, the transaction's own for reads-for-write), written once for both
// backends: `$N` placeholders, numbered in order of appearance, mean the
// same to SQLite and PostgreSQL, and the SQL keeps to what both speak.
// Included by `sqlite/read.rs` and `postgres/read.rs`, which name the
// connection and row types (`DbConnection`, `DbRow`).

use sqlx::Row;
use verdict_model::{
    Appeal, Case, CaseEvent, Clause, Guard, Inventory, Notice, Order, Role, Subscription, Tenant, Timestamp, Unit,
    UnitPath, User,
};

use super::{
    from_json, hash_from_row, kind_from_str, limit, order_from_row, outbox_from_row, path_from_str,
    subscription_from_row,
};
use crate::{CaseFilter, ChangeRecord, Loaded, LogRecord, OutboxItem, Page, RuleResult, StoreError, UsageSlice};

pub(super) async fn load(c: &mut DbConnection) -> Result<Loaded, StoreError> {
    let mut inventory = Inventory::default();
    for row in sqlx::query("SELECT id, kind, name FROM tenants ORDER BY id").fetch_all(&mut *c).await? {
        inventory.tenants.push(Tenant {
            id: row.try_get("id")?,
            kind: kind_from_str(row.try_get("kind")?)?,
            name: row.try_get("name")?,
        });
    }
    for row in sqlx::query("SELECT tenant, path FROM units ORDER BY tenant, path").fetch_all(&mut *c).await? {
        inventory.units.push(Unit { tenant: row.try_get("tenant")?, path: path_from_str(row.try_get("path")?)? });
    }
    for row in sqlx::query("SELECT id, tenant, unit, region, services FROM subscriptions ORDER BY id")
        .fetch_all(&mut *c)
        .await?
    {
        inventory.subscriptions.push(subscription_from_row(&row)?);
    }
    let mut retained: std::collections::HashMap<String, Vec<String>> = std::collections::HashMap::new();
    for row in sqlx::query("SELECT order_id, subscription FROM order_retained ORDER BY order_id, subscription")
        .fetch_all(&mut *c)
        .await?
    {
        retained.entry(row.try_get("order_id")?).or_default().push(row.try_get("subscription")?);
    }
    let mut orders = Vec::new();
    for row in sqlx::query("SELECT * FROM orders ORDER BY seq").fetch_all(&mut *c).await? {
        let id: String = row.try_get("id")?;
        let kept = retained.remove(&id).unwrap_or_default();
        orders.push(order_from_row(&row, kept)?);
    }
    let version: Option<i64> = sqlx::query_scalar("SELECT max(seq) FROM changes").fetch_one(&mut *c).await?;
    Ok(Loaded { inventory, orders, version: version.unwrap_or(0) as u64 })
}

pub(super) async fn tenant(c: &mut DbConnection, id: &str) -> Result<Option<Tenant>, StoreError> {
    let row = sqlx::query("SELECT id, kind, name FROM tenants WHERE id = $1").bind(id).fetch_optional(&mut *c).await?;
    row.map(|row| {
        Ok(Tenant { id: row.try_get("id")?, kind: kind_from_str(row.try_get("kind")?)?, name: row.try_get("name")? })
    })
    .transpose()
}

pub(super) async fn tenants(c: &mut DbConnection, page: &Page) -> Result<Vec<Tenant>, StoreError> {
    let rows = sqlx::query("SELECT id, kind, name FROM tenants WHERE id > $1 ORDER BY id LIMIT $2")
        .bind(page.after.as_deref().unwrap_or(""))
        .bind(limit(page))
        .fetch_all(&mut *c)
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

pub(super) async fn units(c: &mut DbConnection, tenant: &str) -> Result<Vec<UnitPath>, StoreError> {
    let rows =
        sqlx::query("SELECT path FROM units WHERE tenant = $1 ORDER BY path").bind(tenant).fetch_all(&mut *c).await?;
    rows.iter().map(|row| path_from_str(row.try_get("path")?)).collect()
}

pub(super) async fn subscription(c: &mut DbConnection, id: &str) -> Result<Option<Subscription>, StoreError> {
    let row = sqlx::query("SELECT id, tenant, unit, region, services FROM subscriptions WHERE id = $1")
        .bind(id)
        .fetch_optional(&mut *c)
        .await?;
    row.as_ref().map(subscription_from_row).transpose()
}

pub(super) async fn subscriptions(
    c: &mut DbConnection,
    tenant: Option<&str>,
    page: &Page,
) -> Result<Vec<Subscription>, StoreError> {
    // Two statements, so that a tenant's page is a range of the
    // (tenant, id) index rather than a filtered scan of everyone's.
    let after = page.after.as_deref().unwrap_or("");
    let rows = match tenant {
        Some(tenant) => {
            sqlx::query(
                "SELECT id, tenant, unit, region, services FROM subscriptions \
                 WHERE tenant = $1 AND id > $2 ORDER BY id LIMIT $3",
            )
            .bind(tenant)
            .bind(after)
            .bind(limit(page))
            .fetch_all(&mut *c)
            .await?
        }
        None => {
            sqlx::query(
                "SELECT id, tenant, unit, region, services FROM subscriptions WHERE id > $1 ORDER BY id LIMIT $2",
            )
            .bind(after)
            .bind(limit(page))
            .fetch_all(&mut *c)
            .await?
        }
    };
    rows.iter().map(subscription_from_row).collect()
}

pub(super) async fn subscriptions_within(
    c: &mut DbConnection,
    tenant: &str,
    unit: &UnitPath,
) -> Result<u64, StoreError> {
    let below = format!("{}/", unit.as_str());
    let n: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM subscriptions WHERE tenant = $1 AND (unit = $2 OR substr(unit, 1, length($3)) = $3)",
    )
    .bind(tenant)
    .bind(unit.as_str())
    .bind(&below)
    .fetch_one(&mut *c)
    .await?;
    Ok(n as u64)
}

pub(super) async fn order(c: &mut DbConnection, id: &str) -> Result<Option<Order>, StoreError> {
    let row = sqlx::query("SELECT * FROM orders WHERE id = $1").bind(id).fetch_optional(&mut *c).await?;
    match row {
        None => Ok(None),
        Some(row) => Ok(Some(order_from_row(&row, retained_of(c, id).await?)?)),
    }
}

pub(super) async fn orders(c: &mut DbConnection, tenant: Option<&str>, page: &Page) -> Result<Vec<Order>, StoreError> {
    let before: i64 = match &page.after {
        Some(id) => sqlx::query_scalar("SELECT seq FROM orders WHERE id = $1")
            .bind(id)
            .fetch_optional(&mut *c)
            .await?
            .ok_or_else(|| StoreError::NotFound { kind: "order", id: id.clone() })?,
        None => i64::MAX,
    };
    let rows = sqlx::query(
        "SELECT * FROM orders WHERE seq < $1 AND (CAST($2 AS TEXT) IS NULL OR tenant = $3) ORDER BY seq DESC LIMIT $4",
    )
    .bind(before)
    .bind(tenant)
    .bind(tenant)
    .bind(limit(page))
    .fetch_all(&mut *c)
    .await?;
    orders_with_retention(c, rows).await
}

pub(super) async fn max_order_seq(c: &mut DbConnection) -> Result<i64, StoreError> {
    let max: Option<i64> = sqlx::query_scalar("SELECT max(seq) FROM orders").fetch_one(&mut *c).await?;
    Ok(max.unwrap_or(0))
}

pub(super) async fn changes(c: &mut DbConnection, after: u64, limit: u32) -> Result<Vec<ChangeRecord>, StoreError> {
    let rows = sqlx::query(
        "SELECT seq, at, kind, summary, log_index, log_leaf, delta FROM changes WHERE seq > $1 ORDER BY seq LIMIT $2",
    )
    .bind(after as i64)
    .bind(i64::from(limit.clamp(1, 10_000)))
    .fetch_all(&mut *c)
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
                delta: row.try_get("delta")?,
            })
        })
        .collect()
}

pub(super) async fn clauses(c: &mut DbConnection) -> Result<Vec<Clause>, StoreError> {
    let rows: Vec<String> =
        sqlx::query_scalar("SELECT body FROM clauses ORDER BY id, version").fetch_all(&mut *c).await?;
    rows.iter().map(|b| from_json(b)).collect()
}

pub(super) async fn case(c: &mut DbConnection, id: &str) -> Result<Option<Case>, StoreError> {
    let body: Option<String> =
        sqlx::query_scalar("SELECT body FROM cases WHERE id = $1").bind(id).fetch_optional(&mut *c).await?;
    body.as_deref().map(from_json).transpose()
}

pub(super) async fn cases(c: &mut DbConnection, tenant: Option<&str>, limit: u32) -> Result<Vec<Case>, StoreError> {
    let rows: Vec<String> = sqlx::query_scalar(
        "SELECT body FROM cases WHERE (CAST($1 AS TEXT) IS NULL OR tenant = $2) ORDER BY opened_at DESC, id LIMIT $3",
    )
    .bind(tenant)
    .bind(tenant)
    .bind(i64::from(limit.clamp(1, 10_000_000)))
    .fetch_all(&mut *c)
    .await?;
    rows.iter().map(|b| from_json(b)).collect()
}

pub(super) async fn case_queue(
    c: &mut DbConnection,
    filter: &CaseFilter,
    offset: u64,
    limit: u32,
) -> Result<(Vec<Case>, u64), StoreError> {
    // Each filter is optional: `$n IS NULL OR column = $n`.
    const WHERE: &str = "(CAST($1 AS TEXT) IS NULL OR tenant = $1) AND (CAST($2 AS TEXT) IS NULL OR status = $2) \
         AND (CAST($3 AS TEXT) IS NULL OR assignee = $3) AND (CAST($4 AS TEXT) IS NULL OR source = $4)";
    let total: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM cases WHERE {WHERE}"))
        .bind(filter.tenant.as_deref())
        .bind(filter.status.as_deref())
        .bind(filter.assignee.as_deref())
        .bind(filter.source.as_deref())
        .fetch_one(&mut *c)
        .await?;
    let rows: Vec<String> = sqlx::query_scalar(&format!(
        "SELECT body FROM cases WHERE {WHERE} ORDER BY updated_at DESC, id DESC LIMIT $5 OFFSET $6"
    ))
    .bind(filter.tenant.as_deref())
    .bind(filter.status.as_deref())
    .bind(filter.assignee.as_deref())
    .bind(filter.source.as_deref())
    .bind(i64::from(limit.clamp(1, 10_000)))
    .bind(i64::try_from(offset).unwrap_or(i64::MAX))
    .fetch_all(&mut *c)
    .await?;
    Ok((rows.iter().map(|b| from_json(b)).collect::<Result<_, _>>()?, total as u64))
}

pub(super) async fn rules(c: &mut DbConnection) -> Result<Vec<verdict_model::DetectionRule>, StoreError> {
    let rows: Vec<String> =
        sqlx::query_scalar("SELECT body FROM detection_rules ORDER BY id, version").fetch_all(&mut *c).await?;
    rows.iter().map(|b| from_json(b)).collect()
}

pub(super) async fn rule_results(
    c: &mut DbConnection,
    rule_id: &str,
    version: u32,
    limit: u32,
) -> Result<Vec<RuleResult>, StoreError> {
    let rows = sqlx::query(
        "SELECT tenant, target, hour, figures, case_id FROM rule_results WHERE rule_id = $1 AND version = $2 \
         ORDER BY hour DESC, tenant, target LIMIT $3",
    )
    .bind(rule_id)
    .bind(i64::from(version))
    .bind(i64::from(limit.clamp(1, 10_000)))
    .fetch_all(&mut *c)
    .await?;
    rows.iter()
        .map(|row| {
            let figures: String = row.try_get("figures")?;
            Ok(RuleResult {
                rule_id: rule_id.to_owned(),
                version,
                tenant: row.try_get("tenant")?,
                target: row.try_get("target")?,
                hour: row.try_get("hour")?,
                figures: from_json(&figures)?,
                case_id: row.try_get("case_id")?,
            })
        })
        .collect()
}

pub(super) async fn last_rules_evaluation(c: &mut DbConnection) -> Result<Option<i64>, StoreError> {
    Ok(sqlx::query_scalar("SELECT MAX(hour) FROM rule_evaluations").fetch_one(&mut *c).await?)
}

pub(super) async fn usage_hours(c: &mut DbConnection, tenant: &str, from_hour: i64) -> Result<Vec<UsageSlice>, StoreError> {
    let rows = sqlx::query(
        "SELECT s.subscription, s.service, s.meter, h.hour, s.gauge, h.quantity \
         FROM usage_slices h JOIN usage_series s ON s.id = h.series \
         WHERE h.tenant = $1 AND h.hour >= $2 ORDER BY s.subscription, s.service, s.meter, h.hour",
    )
    .bind(tenant)
    .bind(from_hour)
    .fetch_all(&mut *c)
    .await?;
    rows.iter()
        .map(|row| {
            Ok(UsageSlice {
                tenant: tenant.to_owned(),
                subscription: row.try_get("subscription")?,
                service: row.try_get("service")?,
                meter: row.try_get("meter")?,
                hour: row.try_get("hour")?,
                gauge: row.try_get("gauge")?,
                quantity: row.try_get("quantity")?,
            })
        })
        .collect()
}

pub(super) async fn case_events(c: &mut DbConnection, id: &str) -> Result<Vec<CaseEvent>, StoreError> {
    let rows = sqlx::query("SELECT seq, at, actor, kind, body FROM case_events WHERE case_id = $1 ORDER BY seq")
        .bind(id)
        .fetch_all(&mut *c)
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

pub(super) async fn guards(c: &mut DbConnection) -> Result<Vec<Guard>, StoreError> {
    let rows: Vec<String> = sqlx::query_scalar("SELECT body FROM guards ORDER BY id").fetch_all(&mut *c).await?;
    rows.iter().map(|b| from_json(b)).collect()
}

pub(super) async fn appeals(c: &mut DbConnection, tenant: Option<&str>) -> Result<Vec<Appeal>, StoreError> {
    let rows: Vec<String> = sqlx::query_scalar(
        "SELECT body FROM appeals WHERE (CAST($1 AS TEXT) IS NULL OR tenant = $2) ORDER BY filed_at DESC, id",
    )
    .bind(tenant)
    .bind(tenant)
    .fetch_all(&mut *c)
    .await?;
    rows.iter().map(|b| from_json(b)).collect()
}

pub(super) async fn notices(c: &mut DbConnection, tenant: Option<&str>) -> Result<Vec<Notice>, StoreError> {
    let rows: Vec<String> = sqlx::query_scalar(
        "SELECT body FROM notices WHERE (CAST($1 AS TEXT) IS NULL OR tenant = $2) ORDER BY issued_at DESC, id",
    )
    .bind(tenant)
    .bind(tenant)
    .fetch_all(&mut *c)
    .await?;
    rows.iter().map(|b| from_json(b)).collect()
}

pub(super) async fn notice(c: &mut DbConnection, id: &str) -> Result<Option<Notice>, StoreError> {
    let body: Option<String> =
        sqlx::query_scalar("SELECT body FROM notices WHERE id = $1").bind(id).fetch_optional(&mut *c).await?;
    body.as_deref().map(from_json).transpose()
}

pub(super) async fn outbox_due(c: &mut DbConnection, now_ms: i64, limit: u32) -> Result<Vec<OutboxItem>, StoreError> {
    let rows = sqlx::query(
        "SELECT * FROM outbox WHERE delivered_at IS NULL AND next_at_ms <= $1 ORDER BY next_at_ms, id LIMIT $2",
    )
    .bind(now_ms)
    .bind(i64::from(limit.clamp(1, 1000)))
    .fetch_all(&mut *c)
    .await?;
    rows.iter().map(outbox_from_row).collect()
}

pub(super) async fn outbox_of(c: &mut DbConnection, notice_id: &str) -> Result<Vec<OutboxItem>, StoreError> {
    let rows =
        sqlx::query("SELECT * FROM outbox WHERE notice_id = $1 ORDER BY id").bind(notice_id).fetch_all(&mut *c).await?;
    rows.iter().map(outbox_from_row).collect()
}

pub(super) async fn session(c: &mut DbConnection, id_hash: &[u8; 32]) -> Result<Option<crate::Session>, StoreError> {
    let Some(row) =
        sqlx::query("SELECT * FROM console_sessions WHERE id_hash = $1").bind(&id_hash[..]).fetch_optional(&mut *c).await?
    else {
        return Ok(None);
    };
    let hash = |name: &str| -> Result<[u8; 32], StoreError> {
        let bytes: Vec<u8> = row.try_get(name)?;
        bytes.try_into().map_err(|_| StoreError::Corrupt(format!("a console session's {name} is not 32 bytes")))
    };
    Ok(Some(crate::Session {
        id_hash: hash("id_hash")?,
        user: row.try_get("user_name")?,
        token_hash: hash("token_hash")?,
        created_at: Timestamp(row.try_get("created_at")?),
        expires_at: Timestamp(row.try_get("expires_at")?),
        ended_at: row.try_get::<Option<i64>, _>("ended_at")?.map(Timestamp),
    }))
}

pub(super) async fn users(c: &mut DbConnection) -> Result<Vec<(User, [u8; 32])>, StoreError> {
    let rows = sqlx::query("SELECT * FROM users ORDER BY name").fetch_all(&mut *c).await?;
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
                scope: row
                    .try_get::<Option<String>, _>("scope")?
                    .map(|json| serde_json::from_str(&json))
                    .transpose()
                    .map_err(|e| StoreError::Corrupt(format!("a user's replica scope does not parse: {e}")))?,
                created_at: Timestamp(row.try_get("created_at")?),
                revoked_at: row.try_get::<Option<i64>, _>("revoked_at")?.map(Timestamp),
            };
            let hash: [u8; 32] =
                hash.try_into().map_err(|_| StoreError::Corrupt(format!("user {:?}: bad token hash", user.name)))?;
            Ok((user, hash))
        })
        .collect()
}

pub(super) async fn log_leaves(c: &mut DbConnection) -> Result<Vec<[u8; 32]>, StoreError> {
    let rows = sqlx::query("SELECT idx, leaf_hash FROM log_entries ORDER BY idx").fetch_all(&mut *c).await?;
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

pub(super) async fn log_entries(c: &mut DbConnection, start: u64, end: u64) -> Result<Vec<Vec<u8>>, StoreError> {
    let rows = sqlx::query("SELECT idx, entry FROM log_entries WHERE idx >= $1 AND idx < $2 ORDER BY idx")
        .bind(start as i64)
        .bind(end as i64)
        .fetch_all(&mut *c)
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

pub(super) async fn log_records(c: &mut DbConnection, start: u64, limit: u32) -> Result<Vec<LogRecord>, StoreError> {
    let rows = sqlx::query("SELECT * FROM log_entries WHERE idx >= $1 ORDER BY idx LIMIT $2")
        .bind(start as i64)
        .bind(i64::from(limit.clamp(1, 100_000)))
        .fetch_all(&mut *c)
        .await?;
    records_of(&rows)
}

pub(super) async fn tenant_log_records(
    c: &mut DbConnection,
    tenant: &str,
    before: u64,
    limit: u32,
) -> Result<Vec<LogRecord>, StoreError> {
    let rows = sqlx::query("SELECT * FROM log_entries WHERE tenant = $1 AND idx < $2 ORDER BY idx DESC LIMIT $3")
        .bind(tenant)
        .bind(i64::try_from(before).unwrap_or(i64::MAX))
        .bind(i64::from(limit.clamp(1, 10_000)))
        .fetch_all(&mut *c)
        .await?;
    records_of(&rows)
}

fn records_of(rows: &[DbRow]) -> Result<Vec<LogRecord>, StoreError> {
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

pub(super) async fn logged_expiries(c: &mut DbConnection) -> Result<Vec<String>, StoreError> {
    let rows =
        sqlx::query_scalar("SELECT subject FROM log_entries WHERE kind = 'order.expired' AND subject IS NOT NULL")
            .fetch_all(&mut *c)
            .await?;
    Ok(rows)
}

async fn retained_of(c: &mut DbConnection, order: &str) -> Result<Vec<String>, StoreError> {
    let rows = sqlx::query("SELECT subscription FROM order_retained WHERE order_id = $1 ORDER BY subscription")
        .bind(order)
        .fetch_all(&mut *c)
        .await?;
    rows.iter().map(|r| r.try_get("subscription").map_err(StoreError::from)).collect()
}

async fn orders_with_retention(c: &mut DbConnection, rows: Vec<DbRow>) -> Result<Vec<Order>, StoreError> {
    let mut out = Vec::with_capacity(rows.len());
    for row in &rows {
        let id: String = row.try_get("id")?;
        let retained = retained_of(c, &id).await?;
        out.push(order_from_row(row, retained)?);
    }
    Ok(out)
}

pub(super) async fn checkpoints(c: &mut DbConnection) -> Result<Vec<(u64, String)>, StoreError> {
    let rows = sqlx::query("SELECT size, note FROM log_checkpoints ORDER BY size").fetch_all(&mut *c).await?;
    rows.iter().map(|row| Ok((row.try_get::<i64, _>("size")? as u64, row.try_get("note")?))).collect()
}

pub(super) async fn appeal(c: &mut DbConnection, id: &str) -> Result<Option<Appeal>, StoreError> {
    let body: Option<String> =
        sqlx::query_scalar("SELECT body FROM appeals WHERE id = $1").bind(id).fetch_optional(&mut *c).await?;
    body.as_deref().map(from_json).transpose()
}

pub(super) async fn log_size(c: &mut DbConnection) -> Result<u64, StoreError> {
    let next: i64 = sqlx::query_scalar("SELECT COALESCE(max(idx) + 1, 0) FROM log_entries").fetch_one(&mut *c).await?;
    Ok(next as u64)
}

pub(super) async fn version(c: &mut DbConnection) -> Result<u64, StoreError> {
    let newest: Option<i64> = sqlx::query_scalar("SELECT max(seq) FROM changes").fetch_one(&mut *c).await?;
    Ok(newest.unwrap_or(0) as u64)
}
