//! The inventory: tenants, their unit trees and subscriptions — created,
//! moved, deleted one at a time or imported all or nothing. A move or a
//! deletion records which orders bound the subscription, so they keep
//! covering it (retention).

use std::collections::{BTreeSet, HashMap, HashSet};

use serde::Serialize;
use serde_json::json;
use verdict_engine::Change;
use verdict_model::{Catalog, Inventory, Subscription, Tenant, Unit, UnitPath};
use verdict_store::{Op, Page};

use crate::error::{ImportError, InventoryError, Thing};
use crate::ledger::{Prepared, Tx};
use crate::log::{Actor, Draft};
use crate::orders::customer_kind;
use crate::{Core, CoreError};

/// What an import did.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ImportSummary {
    /// Tenants created.
    pub tenants_created: usize,
    /// Tenants whose kind or name changed.
    pub tenants_updated: usize,
    /// Units created, implied ancestors included.
    pub units_created: usize,
    /// Subscriptions created.
    pub subscriptions_created: usize,
    /// Subscriptions whose region or services changed.
    pub subscriptions_updated: usize,
    /// Subscriptions moved to another unit (with retention, like a move).
    pub subscriptions_moved: usize,
    /// Records that changed nothing.
    pub unchanged: usize,
    /// The snapshot version after the import.
    pub version: u64,
}

/// The result of moving a subscription.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Moved {
    /// The subscription as it is now.
    pub subscription: Subscription,
    /// Orders that covered it before the move and keep covering it.
    pub retained_by: Vec<String>,
    /// The snapshot version after the move.
    pub version: u64,
}

/// Whether a tenant exists, read inside an action.
pub(crate) async fn tenant_exists(tx: &mut Tx<'_>, id: &str) -> Result<bool, CoreError> {
    Ok(tx.store().tenant(id).await?.is_some())
}

async fn unit_exists(tx: &mut Tx<'_>, tenant: &str, path: &UnitPath) -> Result<bool, CoreError> {
    Ok(tx.store().units(tenant).await?.iter().any(|p| p == path))
}

impl Core {
    /// One tenant.
    pub async fn tenant(&self, id: &str) -> Result<Option<Tenant>, CoreError> {
        Ok(self.reads().await?.tenant(id).await?)
    }

    /// Tenants by id, a page at a time.
    pub async fn tenants(&self, page: &Page) -> Result<Vec<Tenant>, CoreError> {
        Ok(self.reads().await?.tenants(page).await?)
    }

    /// A tenant's units by path.
    pub async fn units(&self, tenant: &str) -> Result<Vec<UnitPath>, CoreError> {
        Ok(self.reads().await?.units(tenant).await?)
    }

    /// One subscription.
    pub async fn subscription(&self, id: &str) -> Result<Option<Subscription>, CoreError> {
        Ok(self.reads().await?.subscription(id).await?)
    }

    /// Subscriptions by id, optionally of one tenant, a page at a time.
    pub async fn subscriptions(&self, tenant: Option<&str>, page: &Page) -> Result<Vec<Subscription>, CoreError> {
        Ok(self.reads().await?.subscriptions(tenant, page).await?)
    }

    /// Creates a tenant; refuses one that exists.
    pub async fn create_tenant(&self, actor: &Actor, tenant: Tenant) -> Result<(Tenant, u64), CoreError> {
        tenant.validate()?;
        let mut tx = self.begin().await?;
        if tenant_exists(&mut tx, &tenant.id).await? {
            return Err(InventoryError::Exists { kind: Thing::Tenant, id: tenant.id }.into());
        }
        let draft = Draft::new("tenant.created", json!({"customer_kind": tenant.kind.as_str()}))
            .tenant(&tenant.id)
            .facts(json!({"name": tenant.name, "kind": tenant.kind.as_str()}));
        let change = Prepared {
            at: tx.now(),
            summary: json!({"tenant": tenant.id}),
            ops: vec![Op::PutTenant(tenant.clone())],
            changes: vec![Change::PutTenant(tenant.clone())],
            draft,
        };
        let version = tx.write(actor, change).await?;
        tx.commit().await?;
        Ok((tenant, version))
    }

    /// Creates a unit and any missing ancestors; refuses one that exists.
    pub async fn create_unit(&self, actor: &Actor, unit: Unit) -> Result<(Unit, u64), CoreError> {
        verdict_model::validate_id("tenant id", &unit.tenant)?;
        let mut tx = self.begin().await?;
        if !tenant_exists(&mut tx, &unit.tenant).await? {
            return Err(CoreError::UnknownReference { kind: Thing::Tenant, id: unit.tenant });
        }
        let existing: HashSet<UnitPath> = tx.store().units(&unit.tenant).await?.into_iter().collect();
        if existing.contains(&unit.path) {
            return Err(
                InventoryError::Exists { kind: Thing::Unit, id: format!("{}:{}", unit.tenant, unit.path) }.into()
            );
        }
        let created: Vec<UnitPath> = unit.path.lineage().into_iter().filter(|p| !existing.contains(p)).collect();
        let ops =
            created.iter().map(|path| Op::PutUnit(Unit { tenant: unit.tenant.clone(), path: path.clone() })).collect();
        let kind = customer_kind(tx.store(), &unit.tenant).await?;
        let draft = Draft::new("unit.created", json!({"customer_kind": kind, "units_created": created.len()}))
            .tenant(&unit.tenant)
            .units(&created);
        let change = Prepared {
            at: tx.now(),
            summary: json!({"tenant": unit.tenant, "unit": unit.path}),
            ops,
            changes: vec![Change::PutUnit { tenant: unit.tenant.clone(), path: unit.path.clone() }],
            draft,
        };
        let version = tx.write(actor, change).await?;
        tx.commit().await?;
        Ok((unit, version))
    }

    /// Deletes a unit that holds nothing: no subscriptions, no child units,
    /// and no order names it.
    pub async fn delete_unit(&self, actor: &Actor, tenant: &str, path: &UnitPath) -> Result<u64, CoreError> {
        let mut tx = self.begin().await?;
        let units = tx.store().units(tenant).await?;
        if !units.contains(path) {
            return Err(CoreError::NotFound { kind: Thing::Unit, id: format!("{tenant}:{path}") });
        }
        if let Some(child) = units.iter().find(|u| *u != path && u.is_within(path)) {
            return Err(InventoryError::UnitNotEmpty {
                unit: path.to_string(),
                why: format!("it has the child unit {child:?}"),
            }
            .into());
        }
        let subs = tx.store().subscriptions_within(tenant, path).await?;
        if subs > 0 {
            return Err(InventoryError::UnitNotEmpty {
                unit: path.to_string(),
                why: format!("it holds {subs} subscription(s); move or delete them first"),
            }
            .into());
        }
        let mut page = Page { after: None, limit: 1000 };
        loop {
            let orders = tx.store().orders(Some(tenant), &page).await?;
            let done = orders.len() < page.limit as usize;
            page.after = orders.last().map(|o| o.id.clone());
            if let Some(order) = orders.iter().find(|o| o.spec.scope.units.contains(path)) {
                return Err(InventoryError::UnitNotEmpty {
                    unit: path.to_string(),
                    why: format!("order {} names it in its scope", order.id),
                }
                .into());
            }
            if done {
                break;
            }
        }
        let unit = Unit { tenant: tenant.to_owned(), path: path.clone() };
        let kind = customer_kind(tx.store(), tenant).await?;
        let draft = Draft::new("unit.deleted", json!({"customer_kind": kind})).tenant(tenant).units([path]);
        let change = Prepared {
            at: tx.now(),
            summary: json!({"tenant": tenant, "unit": path}),
            ops: vec![Op::DeleteUnit(unit)],
            changes: vec![Change::RemoveUnit { tenant: tenant.to_owned(), path: path.clone() }],
            draft,
        };
        tx.write(actor, change).await?;
        tx.commit().await
    }

    /// Creates a subscription in an existing unit; refuses one that exists.
    pub async fn create_subscription(
        &self,
        actor: &Actor,
        sub: Subscription,
    ) -> Result<(Subscription, u64), CoreError> {
        sub.validate(self.snapshot().catalog())?;
        let mut tx = self.begin().await?;
        if !tenant_exists(&mut tx, &sub.tenant).await? {
            return Err(CoreError::UnknownReference { kind: Thing::Tenant, id: sub.tenant });
        }
        if !unit_exists(&mut tx, &sub.tenant, &sub.unit).await? {
            return Err(CoreError::UnknownReference { kind: Thing::Unit, id: format!("{}:{}", sub.tenant, sub.unit) });
        }
        if tx.store().subscription(&sub.id).await?.is_some() {
            return Err(InventoryError::Exists { kind: Thing::Subscription, id: sub.id }.into());
        }
        let kind = customer_kind(tx.store(), &sub.tenant).await?;
        let draft = Draft::new(
            "subscription.created",
            json!({"customer_kind": kind, "region": sub.region, "services": sub.services}),
        )
        .tenant(&sub.tenant)
        .units([&sub.unit])
        .subscriptions([&sub.id]);
        let change = Prepared {
            at: tx.now(),
            summary: json!({"subscription": sub.id}),
            ops: vec![Op::PutSubscription(sub.clone())],
            changes: vec![Change::PutSubscription(sub.clone())],
            draft,
        };
        let version = tx.write(actor, change).await?;
        tx.commit().await?;
        Ok((sub, version))
    }

    /// Moves a subscription to another existing unit of its tenant. Orders
    /// binding it now that would not cover it at its new place retain it.
    pub async fn move_subscription(&self, actor: &Actor, id: &str, unit: UnitPath) -> Result<Moved, CoreError> {
        let mut tx = self.begin().await?;
        let mut sub = tx
            .store()
            .subscription(id)
            .await?
            .ok_or_else(|| CoreError::NotFound { kind: Thing::Subscription, id: id.to_owned() })?;
        if !unit_exists(&mut tx, &sub.tenant, &unit).await? {
            return Err(CoreError::UnknownReference { kind: Thing::Unit, id: format!("{}:{}", sub.tenant, unit) });
        }
        let now = tx.now();
        let retained_by = tx.snapshot().orders_covering(id, now);
        let kind = customer_kind(tx.store(), &sub.tenant).await?;
        let draft = Draft::new("subscription.moved", json!({"customer_kind": kind, "retained": retained_by.len()}))
            .tenant(&sub.tenant)
            .units([&sub.unit, &unit])
            .subscriptions([id])
            .facts(json!({"from": sub.unit, "to": unit, "retained_by": retained_by}));
        let change = Prepared {
            at: now,
            summary: json!({"subscription": id, "from": sub.unit, "to": unit, "retained_by": retained_by}),
            ops: vec![Op::MoveSubscription { id: id.to_owned(), unit: unit.clone(), retained_by: retained_by.clone() }],
            changes: vec![Change::MoveSubscription {
                id: id.to_owned(),
                unit: unit.clone(),
                retained_by: retained_by.clone(),
            }],
            draft,
        };
        let version = tx.write(actor, change).await?;
        tx.commit().await?;
        sub.unit = unit;
        Ok(Moved { subscription: sub, retained_by, version })
    }

    /// Deletes a subscription. Orders binding it keep covering its id, so
    /// recreating it elsewhere is no way around them.
    pub async fn delete_subscription(&self, actor: &Actor, id: &str) -> Result<(Vec<String>, u64), CoreError> {
        let mut tx = self.begin().await?;
        let Some(sub) = tx.store().subscription(id).await? else {
            return Err(CoreError::NotFound { kind: Thing::Subscription, id: id.to_owned() });
        };
        let now = tx.now();
        let retained_by = tx.snapshot().orders_covering(id, now);
        let kind = customer_kind(tx.store(), &sub.tenant).await?;
        let draft = Draft::new("subscription.deleted", json!({"customer_kind": kind, "retained": retained_by.len()}))
            .tenant(&sub.tenant)
            .units([&sub.unit])
            .subscriptions([id])
            .facts(json!({"retained_by": retained_by}));
        let change = Prepared {
            at: now,
            summary: json!({"subscription": id, "retained_by": retained_by}),
            ops: vec![Op::DeleteSubscription { id: id.to_owned(), retained_by: retained_by.clone() }],
            changes: vec![Change::RemoveSubscription { id: id.to_owned(), retained_by: retained_by.clone() }],
            draft,
        };
        let version = tx.write(actor, change).await?;
        tx.commit().await?;
        Ok((retained_by, version))
    }

    /// Imports an inventory all or nothing: tenants and subscriptions are
    /// created or updated, units (and the ancestors of every unit named)
    /// created. A subscription that changes unit is moved, with retention.
    /// `progress` is told how many records have been written.
    pub async fn import(
        &self,
        actor: &Actor,
        inventory: Inventory,
        progress: &(dyn Fn(usize) + Send + Sync),
    ) -> Result<ImportSummary, CoreError> {
        let catalog = Catalog::builtin();
        let mut seen_tenants = HashSet::new();
        for (i, t) in inventory.tenants.iter().enumerate() {
            t.validate().map_err(|e| invalid_record(Thing::Tenant, i, e))?;
            if !seen_tenants.insert(t.id.as_str()) {
                return Err(ImportError::Duplicate { kind: Thing::Tenant, id: t.id.clone() }.into());
            }
        }
        let mut seen_subs = HashSet::new();
        for (i, s) in inventory.subscriptions.iter().enumerate() {
            s.validate(&catalog).map_err(|e| invalid_record(Thing::Subscription, i, e))?;
            if !seen_subs.insert(s.id.as_str()) {
                return Err(ImportError::Duplicate { kind: Thing::Subscription, id: s.id.clone() }.into());
            }
        }
        let mut tx = self.begin().await?;
        let loaded = tx.store().load().await?;
        let stored_tenants: HashMap<&str, &Tenant> =
            loaded.inventory.tenants.iter().map(|t| (t.id.as_str(), t)).collect();
        let known = |id: &str| seen_tenants.contains(id) || stored_tenants.contains_key(id);
        for (i, u) in inventory.units.iter().enumerate() {
            if !known(&u.tenant) {
                return Err(ImportError::UnknownTenant { kind: Thing::Unit, index: i, tenant: u.tenant.clone() }.into());
            }
        }
        for (i, s) in inventory.subscriptions.iter().enumerate() {
            if !known(&s.tenant) {
                return Err(ImportError::UnknownTenant {
                    kind: Thing::Subscription,
                    index: i,
                    tenant: s.tenant.clone(),
                }
                .into());
            }
        }
        let stored_units: HashSet<(&str, &str)> =
            loaded.inventory.units.iter().map(|u| (u.tenant.as_str(), u.path.as_str())).collect();
        let stored_subs: HashMap<&str, &Subscription> =
            loaded.inventory.subscriptions.iter().map(|s| (s.id.as_str(), s)).collect();

        let mut summary = ImportSummary::default();
        let mut ops = Vec::new();
        let mut changes = Vec::new();
        for t in &inventory.tenants {
            match stored_tenants.get(t.id.as_str()) {
                None => summary.tenants_created += 1,
                Some(old) if *old == t => {
                    summary.unchanged += 1;
                    continue;
                }
                Some(_) => summary.tenants_updated += 1,
            }
            ops.push(Op::PutTenant(t.clone()));
            changes.push(Change::PutTenant(t.clone()));
        }
        let mut new_units: BTreeSet<(String, UnitPath)> = BTreeSet::new();
        let named = inventory
            .units
            .iter()
            .map(|u| (&u.tenant, &u.path))
            .chain(inventory.subscriptions.iter().map(|s| (&s.tenant, &s.unit)));
        for (tenant, path) in named {
            for step in path.lineage() {
                if !stored_units.contains(&(tenant.as_str(), step.as_str())) {
                    new_units.insert((tenant.clone(), step));
                }
            }
        }
        summary.units_created = new_units.len();
        // BTreeSet order puts every ancestor before its descendants.
        for (tenant, path) in new_units {
            ops.push(Op::PutUnit(Unit { tenant: tenant.clone(), path: path.clone() }));
            changes.push(Change::PutUnit { tenant, path });
        }
        let snapshot = tx.snapshot().clone();
        let now = tx.now();
        // Order of writes: tenants and units first (the moves and puts below
        // refer to them), then moves (which record retention), then the bulk
        // subscription puts.
        let mut subscription_ops = Vec::new();
        for s in &inventory.subscriptions {
            match stored_subs.get(s.id.as_str()) {
                None => summary.subscriptions_created += 1,
                Some(old) if old.tenant != s.tenant => {
                    return Err(InventoryError::CrossTenantMove {
                        subscription: s.id.clone(),
                        from: old.tenant.clone(),
                        to: s.tenant.clone(),
                    }
                    .into());
                }
                Some(old) if *old == s => {
                    summary.unchanged += 1;
                    continue;
                }
                Some(old) if old.unit != s.unit => {
                    summary.subscriptions_moved += 1;
                    let retained_by = snapshot.orders_covering(&s.id, now);
                    ops.push(Op::MoveSubscription {
                        id: s.id.clone(),
                        unit: s.unit.clone(),
                        retained_by: retained_by.clone(),
                    });
                    changes.push(Change::MoveSubscription { id: s.id.clone(), unit: s.unit.clone(), retained_by });
                }
                Some(_) => summary.subscriptions_updated += 1,
            }
            subscription_ops.push(Op::PutSubscription(s.clone()));
            changes.push(Change::PutSubscription(s.clone()));
        }
        ops.extend(subscription_ops);
        let mut counts = serde_json::to_value(&summary).unwrap_or_default();
        if let Some(map) = counts.as_object_mut() {
            map.remove("version");
        }
        let mut kinds: Vec<&str> = inventory.tenants.iter().map(|t| t.kind.as_str()).collect();
        kinds.sort_unstable();
        kinds.dedup();
        let mut tenants: Vec<&str> = inventory
            .tenants
            .iter()
            .map(|t| t.id.as_str())
            .chain(inventory.subscriptions.iter().map(|s| s.tenant.as_str()))
            .collect();
        tenants.sort_unstable();
        tenants.dedup();
        let draft = Draft::new("inventory.imported", json!({"counts": counts, "customer_kinds": kinds}))
            .facts(json!({"tenants": tenants}));
        let change = Prepared { at: now, summary: counts, ops, changes, draft };
        tx.write_with_progress(actor, change, progress).await?;
        summary.version = tx.commit().await?;
        Ok(summary)
    }
}

fn invalid_record(kind: Thing, index: usize, error: verdict_model::ModelError) -> CoreError {
    ImportError::InvalidRecord { kind, index, error }.into()
}
