//! The replication format: a whole snapshot as one document, and the
//! changes that follow it, as enforcement points receive them.
//!
//! Replicas get only what deciding needs. Orders travel without their
//! title, case, proposer, approvers or reasons; subscriptions without their
//! services and region. The format is documented in `docs/replication.md`.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use verdict_model::{
    Catalog, Inventory, Lifecycle, Order, OrderSpec, ReplicaScope, Subscription, Tenant, Unit, UnitPath,
};

use crate::snapshot::{Change, EngineError, Snapshot};

/// The `format` of a [`SnapshotDocument`] this engine reads and writes.
pub const SNAPSHOT_FORMAT: &str = "verdict-snapshot/1";

/// A whole snapshot for replicas: compact (subscriptions grouped under
/// their unit, orders reduced to what decides) and versioned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotDocument {
    /// Always [`SNAPSHOT_FORMAT`].
    pub format: String,
    /// The control plane's change sequence this snapshot is at.
    pub version: u64,
    /// Which history `version` counts in: the same for every snapshot of
    /// one control plane's store, different for any other. A replica
    /// resumes a stream only within its lineage (empty: unknown).
    #[serde(default)]
    pub lineage: String,
    /// What the document holds, when the replica's token is scoped: only
    /// these tenants and regions. Absent: everything.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<ReplicaScope>,
    /// The service catalog decisions are made against, so that a replica
    /// built with another catalog still decides as the server does.
    pub catalog: Catalog,
    /// Tenants (id and kind).
    pub tenants: Vec<Tenant>,
    /// Every live unit, with the subscriptions it holds directly.
    pub units: Vec<UnitEntry>,
    /// Orders that entered the engine (approved or loaded directly, lifted
    /// ones too: they keep answering for instants before they stopped),
    /// oldest first, each with the subscriptions it retains.
    pub orders: Vec<Order>,
}

/// One unit and the subscriptions directly in it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnitEntry {
    /// Owning tenant.
    pub tenant: String,
    /// Path.
    pub path: UnitPath,
    /// Subscription ids, sorted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub subscriptions: Vec<String>,
}

/// A version's changes, as the change stream carries them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangeSet {
    /// The version these changes lead to.
    pub version: u64,
    /// The version they apply on top of; a replica at any other version
    /// must not apply them.
    pub prev: u64,
    /// The changes, in order (possibly none: the version moved on with
    /// changes that do not affect decisions, such as case events).
    pub changes: Vec<Change>,
}

/// An order reduced to what a replica needs to decide and explain.
pub fn for_replica(order: &Order) -> Order {
    let spec = &order.spec;
    Order {
        id: order.id.clone(),
        seq: order.seq,
        spec: OrderSpec {
            tenant: spec.tenant.clone(),
            clause: spec.clause.clone(),
            title: String::new(),
            scope: spec.scope.clone(),
            services: spec.services.clone(),
            exempt: spec.exempt.clone(),
            phases: spec.phases.clone(),
            end: spec.end,
            case_id: None,
            emergency_reason: None,
            amends: None,
        },
        created_at: order.created_at,
        lifted_at: order.lifted_at,
        lift_reason: None,
        superseded_by: None,
        retained: order.retained.clone(),
        log_index: order.log_index,
        lifecycle: Lifecycle {
            state: order.lifecycle.state,
            approved_at: order.lifecycle.approved_at,
            ..Lifecycle::default()
        },
    }
}

impl Change {
    /// The change as replicas receive it: private fields removed.
    pub fn for_replica(&self) -> Change {
        match self {
            Change::PutOrder(order) => Change::PutOrder(for_replica(order)),
            Change::PutTenant(t) => Change::PutTenant(Tenant { id: t.id.clone(), kind: t.kind, name: String::new() }),
            Change::PutSubscription(s) => Change::PutSubscription(Subscription {
                id: s.id.clone(),
                tenant: s.tenant.clone(),
                unit: s.unit.clone(),
                services: Vec::new(),
                region: String::new(),
            }),
            other => other.clone(),
        }
    }
}

impl SnapshotDocument {
    /// Compiles the document into a snapshot over its own catalog. Fails on
    /// a document of another format or one that does not hold together.
    pub fn compile(&self) -> Result<Snapshot, EngineError> {
        if self.format != SNAPSHOT_FORMAT {
            return Err(EngineError::Format(self.format.clone()));
        }
        self.catalog.check().map_err(EngineError::Catalog)?;
        let catalog = self.catalog.clone();
        let mut inventory = Inventory { tenants: self.tenants.clone(), ..Inventory::default() };
        inventory.units.reserve(self.units.len());
        for unit in &self.units {
            inventory.units.push(Unit { tenant: unit.tenant.clone(), path: unit.path.clone() });
            inventory.subscriptions.extend(unit.subscriptions.iter().map(|id| Subscription {
                id: id.clone(),
                tenant: unit.tenant.clone(),
                unit: unit.path.clone(),
                services: Vec::new(),
                region: String::new(),
            }));
        }
        let mut snapshot = Snapshot::compile(catalog, &inventory, &self.orders, self.version)?;
        snapshot.set_scope(self.scope.clone().map(|scope| crate::ScopeRule { scope, refuse_outside: false }));
        Ok(snapshot)
    }
}

/// Groups subscription ids under their unit (used by the export).
pub(crate) fn group(units: Vec<(String, UnitPath)>, subs: impl Iterator<Item = (String, usize)>) -> Vec<UnitEntry> {
    let mut entries: Vec<UnitEntry> =
        units.into_iter().map(|(tenant, path)| UnitEntry { tenant, path, subscriptions: Vec::new() }).collect();
    for (id, unit) in subs {
        entries[unit].subscriptions.push(id);
    }
    for e in &mut entries {
        e.subscriptions.sort_unstable();
    }
    entries.sort_by(|a, b| (&a.tenant, a.path.as_str()).cmp(&(&b.tenant, b.path.as_str())));
    entries
}

/// Adds retention to exported orders: `retained[order id]` lists the
/// subscriptions an order covers by retention rather than by name.
pub(crate) fn with_retention(mut orders: Vec<Order>, retained: HashMap<String, Vec<String>>) -> Vec<Order> {
    for order in &mut orders {
        let mut subs = retained.get(&order.id).cloned().unwrap_or_default();
        subs.retain(|s| !order.spec.scope.subscriptions.contains(s));
        subs.sort_unstable();
        subs.dedup();
        order.retained = subs;
    }
    orders.sort_by_key(|o| o.seq);
    orders
}
