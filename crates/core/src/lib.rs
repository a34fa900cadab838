//! verdict's control plane: every governance change goes through [`Core`],
//! which checks it, commits it to the store and then publishes a new engine
//! snapshot derived from it.
//!
//! **Architecture invariant**: one writer at a time (a mutex around the
//! write path), store first, engine second. A change the store refuses never
//! reaches the engine; a change the store accepted always does — and if the
//! engine could not apply it incrementally, the snapshot is recompiled from
//! the store, because the store is the truth.
//!
//! **API boundary**: the HTTP server and the CLI call [`Core`]; neither
//! writes to the store or the engine directly.

mod clock;
mod datadir;
mod error;

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use serde::Serialize;
use tokio::sync::Mutex;
use verdict_engine::{Change, Engine, Snapshot};
use verdict_model::{Catalog, Inventory, Order, OrderSpec, Subscription, Tenant, Timestamp, Unit, UnitPath};
use verdict_store::{Batch, Op, Page, Store};

pub use clock::{Clock, ManualClock, SystemClock};
pub use datadir::{DataDir, DataDirError, DataDirLock};
pub use error::{CoreError, ErrorKind};

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

/// The control plane over one store and one engine.
pub struct Core {
    store: Arc<dyn Store>,
    engine: Engine,
    writer: Mutex<()>,
    clock: Arc<dyn Clock>,
}

fn new_order_id() -> Result<String, CoreError> {
    const ALPHABET: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";
    let mut bytes = [0u8; 10];
    getrandom::fill(&mut bytes).map_err(|e| CoreError::Internal(format!("no randomness: {e}")))?;
    let mut id = String::from("ord-");
    id.extend(bytes.iter().map(|b| ALPHABET[(*b & 31) as usize] as char));
    Ok(id)
}

impl Core {
    /// Loads the store and compiles the first snapshot.
    pub async fn open(store: Arc<dyn Store>) -> Result<Core, CoreError> {
        Self::open_with_clock(store, Arc::new(SystemClock)).await
    }

    /// Like [`Core::open`], with the clock that stamps changes and moves.
    pub async fn open_with_clock(store: Arc<dyn Store>, clock: Arc<dyn Clock>) -> Result<Core, CoreError> {
        let snapshot = Self::compile(store.as_ref()).await?;
        Ok(Core { store, engine: Engine::new(snapshot), writer: Mutex::new(()), clock })
    }

    /// The time as the control plane sees it.
    pub fn now(&self) -> Timestamp {
        self.clock.now()
    }

    async fn compile(store: &dyn Store) -> Result<Snapshot, CoreError> {
        let loaded = store.load().await?;
        Snapshot::compile(Catalog::builtin(), &loaded.inventory, &loaded.orders, loaded.version)
            .map_err(|e| CoreError::Internal(format!("stored state does not compile: {e}")))
    }

    /// The engine that answers decisions.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The snapshot in force now.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.engine.snapshot()
    }

    /// The store, for reads.
    pub fn store(&self) -> &dyn Store {
        self.store.as_ref()
    }

    /// Commits `batch`, then publishes the snapshot with `changes` applied.
    /// Must be called with the writer lock held.
    async fn commit(
        &self,
        batch: Batch,
        changes: Vec<Change>,
        progress: &(dyn Fn(usize) + Send + Sync),
    ) -> Result<u64, CoreError> {
        let version = self.store.commit(&batch, progress).await?;
        let current = self.engine.snapshot();
        match current.apply(&changes, version) {
            Ok(next) => self.engine.publish(next),
            Err(e) => {
                tracing::error!(error = %e, "snapshot update failed after commit; recompiling from the store");
                let fresh = Self::compile(self.store.as_ref()).await?;
                self.engine.publish(fresh);
            }
        }
        Ok(version)
    }

    async fn tenant_exists(&self, id: &str) -> Result<bool, CoreError> {
        Ok(self.store.tenant(id).await?.is_some())
    }

    async fn unit_exists(&self, tenant: &str, path: &UnitPath) -> Result<bool, CoreError> {
        Ok(self.store.units(tenant).await?.iter().any(|p| p == path))
    }

    /// Creates a tenant; refuses one that exists.
    pub async fn create_tenant(&self, tenant: Tenant) -> Result<(Tenant, u64), CoreError> {
        tenant.validate()?;
        let _w = self.writer.lock().await;
        if self.tenant_exists(&tenant.id).await? {
            return Err(CoreError::Exists { kind: "tenant", id: tenant.id });
        }
        let batch = Batch {
            at: self.clock.now(),
            kind: "tenant.created",
            summary: serde_json::json!({"tenant": tenant.id}),
            ops: vec![Op::PutTenant(tenant.clone())],
        };
        let version = self.commit(batch, vec![Change::PutTenant(tenant.clone())], &|_| ()).await?;
        Ok((tenant, version))
    }

    /// Creates a unit and any missing ancestors; refuses one that exists.
    pub async fn create_unit(&self, unit: Unit) -> Result<(Unit, u64), CoreError> {
        verdict_model::validate_id("tenant id", &unit.tenant)?;
        let _w = self.writer.lock().await;
        if !self.tenant_exists(&unit.tenant).await? {
            return Err(CoreError::UnknownReference { kind: "tenant", id: unit.tenant });
        }
        let existing: HashSet<UnitPath> = self.store.units(&unit.tenant).await?.into_iter().collect();
        if existing.contains(&unit.path) {
            return Err(CoreError::Exists { kind: "unit", id: format!("{}:{}", unit.tenant, unit.path) });
        }
        let ops = unit
            .path
            .lineage()
            .into_iter()
            .filter(|p| !existing.contains(p))
            .map(|path| Op::PutUnit(Unit { tenant: unit.tenant.clone(), path }))
            .collect();
        let batch = Batch {
            at: self.clock.now(),
            kind: "unit.created",
            summary: serde_json::json!({"tenant": unit.tenant, "unit": unit.path}),
            ops,
        };
        let change = Change::PutUnit { tenant: unit.tenant.clone(), path: unit.path.clone() };
        let version = self.commit(batch, vec![change], &|_| ()).await?;
        Ok((unit, version))
    }

    /// Deletes a unit that holds nothing: no subscriptions, no child units,
    /// and no order names it.
    pub async fn delete_unit(&self, tenant: &str, path: &UnitPath) -> Result<u64, CoreError> {
        let _w = self.writer.lock().await;
        let units = self.store.units(tenant).await?;
        if !units.contains(path) {
            return Err(CoreError::NotFound { kind: "unit", id: format!("{tenant}:{path}") });
        }
        if let Some(child) = units.iter().find(|u| *u != path && u.is_within(path)) {
            return Err(CoreError::UnitNotEmpty {
                unit: path.to_string(),
                why: format!("it has the child unit {child:?}"),
            });
        }
        let subs = self.store.subscriptions_within(tenant, path).await?;
        if subs > 0 {
            return Err(CoreError::UnitNotEmpty {
                unit: path.to_string(),
                why: format!("it holds {subs} subscription(s); move or delete them first"),
            });
        }
        for order in self.all_orders(Some(tenant)).await? {
            if order.spec.scope.units.contains(path) {
                return Err(CoreError::UnitNotEmpty {
                    unit: path.to_string(),
                    why: format!("order {} names it in its scope", order.id),
                });
            }
        }
        let unit = Unit { tenant: tenant.to_owned(), path: path.clone() };
        let batch = Batch {
            at: self.clock.now(),
            kind: "unit.deleted",
            summary: serde_json::json!({"tenant": tenant, "unit": path}),
            ops: vec![Op::DeleteUnit(unit)],
        };
        let change = Change::RemoveUnit { tenant: tenant.to_owned(), path: path.clone() };
        self.commit(batch, vec![change], &|_| ()).await
    }

    /// Creates a subscription in an existing unit; refuses one that exists.
    pub async fn create_subscription(&self, sub: Subscription) -> Result<(Subscription, u64), CoreError> {
        sub.validate(self.snapshot().catalog())?;
        let _w = self.writer.lock().await;
        if !self.tenant_exists(&sub.tenant).await? {
            return Err(CoreError::UnknownReference { kind: "tenant", id: sub.tenant });
        }
        if !self.unit_exists(&sub.tenant, &sub.unit).await? {
            return Err(CoreError::UnknownReference { kind: "unit", id: format!("{}:{}", sub.tenant, sub.unit) });
        }
        if self.store.subscription(&sub.id).await?.is_some() {
            return Err(CoreError::Exists { kind: "subscription", id: sub.id });
        }
        let batch = Batch {
            at: self.clock.now(),
            kind: "subscription.created",
            summary: serde_json::json!({"subscription": sub.id}),
            ops: vec![Op::PutSubscription(sub.clone())],
        };
        let version = self.commit(batch, vec![Change::PutSubscription(sub.clone())], &|_| ()).await?;
        Ok((sub, version))
    }

    /// Moves a subscription to another existing unit of its tenant. Orders
    /// binding it now that would not cover it at its new place retain it.
    pub async fn move_subscription(&self, id: &str, unit: UnitPath) -> Result<Moved, CoreError> {
        let _w = self.writer.lock().await;
        let mut sub = self
            .store
            .subscription(id)
            .await?
            .ok_or_else(|| CoreError::NotFound { kind: "subscription", id: id.to_owned() })?;
        if !self.unit_exists(&sub.tenant, &unit).await? {
            return Err(CoreError::UnknownReference { kind: "unit", id: format!("{}:{}", sub.tenant, unit) });
        }
        let now = self.clock.now();
        let retained_by = self.snapshot().orders_covering(id, now);
        let batch = Batch {
            at: now,
            kind: "subscription.moved",
            summary: serde_json::json!({"subscription": id, "from": sub.unit, "to": unit, "retained_by": retained_by}),
            ops: vec![Op::MoveSubscription { id: id.to_owned(), unit: unit.clone(), retained_by: retained_by.clone() }],
        };
        let change =
            Change::MoveSubscription { id: id.to_owned(), unit: unit.clone(), retained_by: retained_by.clone() };
        let version = self.commit(batch, vec![change], &|_| ()).await?;
        sub.unit = unit;
        Ok(Moved { subscription: sub, retained_by, version })
    }

    /// Deletes a subscription. Orders binding it keep covering its id, so
    /// recreating it elsewhere is no way around them.
    pub async fn delete_subscription(&self, id: &str) -> Result<(Vec<String>, u64), CoreError> {
        let _w = self.writer.lock().await;
        if self.store.subscription(id).await?.is_none() {
            return Err(CoreError::NotFound { kind: "subscription", id: id.to_owned() });
        }
        let now = self.clock.now();
        let retained_by = self.snapshot().orders_covering(id, now);
        let batch = Batch {
            at: now,
            kind: "subscription.deleted",
            summary: serde_json::json!({"subscription": id, "retained_by": retained_by}),
            ops: vec![Op::DeleteSubscription { id: id.to_owned(), retained_by: retained_by.clone() }],
        };
        let change = Change::RemoveSubscription { id: id.to_owned(), retained_by: retained_by.clone() };
        let version = self.commit(batch, vec![change], &|_| ()).await?;
        Ok((retained_by, version))
    }

    /// Imports an inventory all or nothing: tenants and subscriptions are
    /// created or updated, units (and the ancestors of every unit named)
    /// created. A subscription that changes unit is moved, with retention.
    /// `progress` is told how many records have been written.
    pub async fn import(
        &self,
        inventory: Inventory,
        progress: &(dyn Fn(usize) + Send + Sync),
    ) -> Result<ImportSummary, CoreError> {
        let catalog = Catalog::builtin();
        let mut seen_tenants = HashSet::new();
        for (i, t) in inventory.tenants.iter().enumerate() {
            t.validate().map_err(|e| CoreError::invalid_record("tenant", i, e))?;
            if !seen_tenants.insert(t.id.as_str()) {
                return Err(CoreError::ImportDuplicate { kind: "tenant", id: t.id.clone() });
            }
        }
        let mut seen_subs = HashSet::new();
        for (i, s) in inventory.subscriptions.iter().enumerate() {
            s.validate(&catalog).map_err(|e| CoreError::invalid_record("subscription", i, e))?;
            if !seen_subs.insert(s.id.as_str()) {
                return Err(CoreError::ImportDuplicate { kind: "subscription", id: s.id.clone() });
            }
        }
        let _w = self.writer.lock().await;
        let loaded = self.store.load().await?;
        let stored_tenants: HashMap<&str, &Tenant> =
            loaded.inventory.tenants.iter().map(|t| (t.id.as_str(), t)).collect();
        let known = |id: &str| seen_tenants.contains(id) || stored_tenants.contains_key(id);
        for (i, u) in inventory.units.iter().enumerate() {
            if !known(&u.tenant) {
                return Err(CoreError::ImportUnknownTenant { kind: "unit", index: i, tenant: u.tenant.clone() });
            }
        }
        for (i, s) in inventory.subscriptions.iter().enumerate() {
            if !known(&s.tenant) {
                return Err(CoreError::ImportUnknownTenant {
                    kind: "subscription",
                    index: i,
                    tenant: s.tenant.clone(),
                });
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
        let snapshot = self.snapshot();
        let now = self.clock.now();
        // Order of writes: tenants and units first (the moves and puts below
        // refer to them), then moves (which record retention), then the bulk
        // subscription puts.
        let mut subscription_ops = Vec::new();
        for s in &inventory.subscriptions {
            match stored_subs.get(s.id.as_str()) {
                None => summary.subscriptions_created += 1,
                Some(old) if old.tenant != s.tenant => {
                    return Err(CoreError::CrossTenantMove {
                        subscription: s.id.clone(),
                        from: old.tenant.clone(),
                        to: s.tenant.clone(),
                    });
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
        let batch = Batch {
            at: now,
            kind: "inventory.imported",
            summary: serde_json::to_value(&summary).unwrap_or_default(),
            ops,
        };
        summary.version = self.commit(batch, changes, progress).await?;
        Ok(summary)
    }

    /// Records a new order in force. Every unit and subscription in its scope
    /// must exist and belong to the order's tenant.
    pub async fn create_order(&self, spec: OrderSpec) -> Result<(Order, u64), CoreError> {
        spec.validate(self.snapshot().catalog())?;
        let _w = self.writer.lock().await;
        if !self.tenant_exists(&spec.tenant).await? {
            return Err(CoreError::UnknownReference { kind: "tenant", id: spec.tenant });
        }
        let units: HashSet<UnitPath> = self.store.units(&spec.tenant).await?.into_iter().collect();
        for unit in &spec.scope.units {
            if !units.contains(unit) {
                return Err(CoreError::UnknownReference { kind: "unit", id: format!("{}:{}", spec.tenant, unit) });
            }
        }
        for id in &spec.scope.subscriptions {
            match self.store.subscription(id).await? {
                None => return Err(CoreError::UnknownReference { kind: "subscription", id: id.clone() }),
                Some(sub) if sub.tenant != spec.tenant => {
                    return Err(CoreError::ScopeSpansTenants {
                        subscription: id.clone(),
                        belongs_to: sub.tenant,
                        order_tenant: spec.tenant.clone(),
                    });
                }
                Some(_) => {}
            }
        }
        let now = self.clock.now();
        let order = Order {
            id: new_order_id()?,
            seq: self.store.max_order_seq().await? + 1,
            spec,
            created_at: now,
            lifted_at: None,
            lift_reason: None,
            retained: Vec::new(),
        };
        let batch = Batch {
            at: now,
            kind: "order.created",
            summary: serde_json::json!({"order": order.id, "clause": order.spec.clause}),
            ops: vec![Op::InsertOrder(order.clone())],
        };
        let version = self.commit(batch, vec![Change::PutOrder(order.clone())], &|_| ()).await?;
        Ok((order, version))
    }

    /// Lifts an order now; refuses one already lifted or past its end.
    pub async fn lift_order(&self, id: &str, reason: &str) -> Result<(Order, u64), CoreError> {
        if reason.trim().is_empty() {
            return Err(CoreError::Invalid(verdict_model::ModelError::Empty("reason (say why the order is lifted)")));
        }
        let _w = self.writer.lock().await;
        let mut order =
            self.store.order(id).await?.ok_or_else(|| CoreError::NotFound { kind: "order", id: id.to_owned() })?;
        let now = self.clock.now();
        match order.status_at(now) {
            verdict_model::OrderStatus::Lifted => {
                return Err(CoreError::IllegalTransition {
                    code: "order-already-lifted",
                    message: format!("order {id} was already lifted at {}", order.lifted_at.unwrap_or(now)),
                });
            }
            verdict_model::OrderStatus::Expired => {
                return Err(CoreError::IllegalTransition {
                    code: "order-expired",
                    message: format!(
                        "order {id} already ended at {}; there is nothing left to lift",
                        order.spec.end.unwrap_or(now)
                    ),
                });
            }
            verdict_model::OrderStatus::InForce => {}
        }
        order.lifted_at = Some(now);
        order.lift_reason = Some(reason.to_owned());
        let batch = Batch {
            at: now,
            kind: "order.lifted",
            summary: serde_json::json!({"order": id}),
            ops: vec![Op::LiftOrder { id: id.to_owned(), at: now, reason: reason.to_owned() }],
        };
        let version = self.commit(batch, vec![Change::PutOrder(order.clone())], &|_| ()).await?;
        Ok((order, version))
    }

    async fn all_orders(&self, tenant: Option<&str>) -> Result<Vec<Order>, CoreError> {
        let mut out = Vec::new();
        let mut page = Page { after: None, limit: 1000 };
        loop {
            let batch = self.store.orders(tenant, &page).await?;
            let done = batch.len() < page.limit as usize;
            page.after = batch.last().map(|o| o.id.clone());
            out.extend(batch);
            if done {
                return Ok(out);
            }
        }
    }
}
