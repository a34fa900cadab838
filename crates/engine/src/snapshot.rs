//! The compiled snapshot: records, incremental changes and the decision
//! procedure of DESIGN §2.

use std::sync::Arc;

use compact_str::CompactString;
use smallvec::SmallVec;
use verdict_model::{
    ActionClass, Catalog, Inventory, Order, PhaseMode, ReplicaScope, ServiceIndex, ServiceSet, Subscription, Tenant,
    TenantKind, Timestamp, UnitPath,
};

use crate::catalog::{CompiledCatalog, Resolved};
use crate::decision::{Basis, Decision, Explanation, Facts};
use crate::persistent::{ChunkedVec, Located, ShardedMap};

const NONE: u32 = u32::MAX;

/// How many lookups [`Snapshot::decide_batch`] keeps in flight at once.
const BATCH_LANES: usize = 32;
/// The subscription is named by some order directly or retained by one.
const HAS_OWN_ORDERS: u32 = 1;
/// A subscription's flags hold its region's index above this bit.
const REGION_SHIFT: u32 = 16;

/// One request for [`Snapshot::decide_batch`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Query<'a> {
    /// Subscription id.
    pub subscription: &'a str,
    /// Service name.
    pub service: &'a str,
    /// The service's action.
    pub action: &'a str,
    /// The instant to decide for.
    pub at: Timestamp,
}

/// A handle to an order inside one snapshot lineage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct OrderRef(pub u32);

/// A change to apply to a snapshot. The control plane commits each to the
/// store first and then applies it here.
///
/// Changes are also what replication sends to enforcement points
/// (`crate::replica`): the serde form, tagged by `op`, is a wire format.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
// Changes are short-lived values passed by slice; boxing the order would
// cost an allocation per change for no memory that matters.
#[allow(clippy::large_enum_variant)]
pub enum Change {
    /// Create or update a tenant.
    PutTenant(Tenant),
    /// Create a unit and any missing ancestors.
    PutUnit {
        /// Owning tenant.
        tenant: String,
        /// Path.
        path: UnitPath,
    },
    /// Remove an empty unit.
    RemoveUnit {
        /// Owning tenant.
        tenant: String,
        /// Path.
        path: UnitPath,
    },
    /// Create a subscription, or replace one (its unit included).
    PutSubscription(Subscription),
    /// Move a subscription to another unit of its tenant.
    MoveSubscription {
        /// Subscription id.
        id: String,
        /// New unit.
        unit: UnitPath,
        /// Orders that covered it before the move and keep covering it.
        retained_by: Vec<String>,
    },
    /// Remove a subscription. Orders naming or retaining it keep doing so,
    /// should it come back.
    RemoveSubscription {
        /// Subscription id.
        id: String,
        /// Orders that covered it and keep covering it if it comes back.
        retained_by: Vec<String>,
    },
    /// Add an order, or update one already present (lifting, retention).
    PutOrder(Order),
}

/// A change that does not fit the snapshot it was applied to.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EngineError {
    /// Names a tenant the snapshot does not hold.
    #[error("unknown tenant {0:?}")]
    UnknownTenant(String),
    /// Names a unit the snapshot does not hold.
    #[error("tenant {0:?} has no unit {1:?}")]
    UnknownUnit(String, String),
    /// Names a subscription the snapshot does not hold.
    #[error("unknown subscription {0:?}")]
    UnknownSubscription(String),
    /// An order's patterns or timeline are invalid.
    #[error("order {0:?} cannot be compiled: {1}")]
    InvalidOrder(String, String),
    /// A snapshot document's catalog does not hold together.
    #[error("the snapshot's service catalog is invalid: {0}")]
    Catalog(String),
    /// A snapshot document of a format this engine does not read.
    #[error("snapshot format {0:?} is not {expected:?}", expected = crate::replica::SNAPSHOT_FORMAT)]
    Format(String),
}

#[derive(Clone)]
struct TenantRec {
    id: CompactString,
    kind: TenantKind,
}

#[derive(Clone)]
struct UnitRec {
    tenant: u32,
    live: bool,
    /// Orders whose scope names this unit or one of its ancestors: the tree's
    /// inheritance is resolved when orders and units are added, so a
    /// decision reads one unit record and never walks the tree.
    orders: SmallVec<[u32; 2]>,
}

#[derive(Clone, Copy, Default)]
struct SubRec {
    unit: u32,
    /// [`HAS_OWN_ORDERS`], and the region's index in [`Regions`] from
    /// [`REGION_SHIFT`] up.
    flags: u32,
}

impl SubRec {
    fn region(self) -> usize {
        (self.flags >> REGION_SHIFT) as usize
    }
}

/// Region names, interned: a subscription keeps a 16-bit index. Index 0 is
/// the empty name (a replica's snapshot does not know regions).
#[derive(Clone)]
struct Regions {
    names: Vec<CompactString>,
    index: std::collections::HashMap<CompactString, u32>,
}

impl Default for Regions {
    fn default() -> Self {
        Regions { names: vec![CompactString::default()], index: [(CompactString::default(), 0)].into() }
    }
}

/// What a snapshot compiled from a scoped document holds, and what it does
/// with a subscription it does not know (which may be outside its scope).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScopeRule {
    /// The scope of the document.
    pub scope: ReplicaScope,
    /// Deny requests for subscriptions the snapshot does not hold, rather
    /// than allow them as an unscoped snapshot does.
    pub refuse_outside: bool,
}

#[derive(Clone)]
struct OrderRec {
    id: CompactString,
    clause: CompactString,
    seq: i64,
    tenant: u32,
    services: ServiceSet,
    phases: SmallVec<[(i64, PhaseMode); 4]>,
    /// Exclusive end of applicability: the earlier of `end` and lifting.
    until: i64,
    /// Start of applicability: its approval (phases never apply earlier).
    from: i64,
    /// Where the transparency log recorded the order.
    log_index: Option<u64>,
    /// The order as replicas receive it (`crate::replica::for_replica`), so
    /// a snapshot can be exported without the store.
    source: Arc<Order>,
}

impl OrderRec {
    #[inline]
    fn phase_at(&self, at: i64) -> Option<(u8, PhaseMode)> {
        if at >= self.until || at < self.from {
            return None;
        }
        let mut found = None;
        for (i, (start, mode)) in self.phases.iter().enumerate() {
            if *start <= at {
                found = Some((i as u8, *mode));
            } else {
                break;
            }
        }
        found
    }
}

/// An immutable, compiled view of inventory and orders at one version.
#[derive(Clone)]
pub struct Snapshot {
    version: u64,
    catalog: Arc<CompiledCatalog>,
    tenants: ChunkedVec<TenantRec>,
    tenant_index: ShardedMap<u32>,
    units: ChunkedVec<UnitRec>,
    /// One bit per unit: set when some order covers it. Most requests come
    /// from units no order touches; this 12 KiB-per-100,000-units bitmap
    /// stays in cache and spares them the unit record's cache miss.
    armed: ChunkedVec<u64>,
    /// Each unit's children, to push a new order down a subtree.
    children: ChunkedVec<SmallVec<[u32; 4]>>,
    /// `tenant '\0' path` → unit.
    unit_index: ShardedMap<u32>,
    subs: ShardedMap<SubRec>,
    /// Subscription id → orders that name it directly or retain it.
    own_orders: ShardedMap<SmallVec<[u32; 2]>>,
    orders: ChunkedVec<OrderRec>,
    order_index: ShardedMap<u32>,
    regions: Arc<Regions>,
    /// Set on a replica's snapshot of a scoped document.
    scope: Option<Arc<ScopeRule>>,
}

fn unit_key(tenant: &str, path: &str) -> String {
    let mut key = String::with_capacity(tenant.len() + 1 + path.len());
    key.push_str(tenant);
    key.push('\0');
    key.push_str(path);
    key
}

/// Rank of a candidate: denying beats allowing, then severity, then age.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Rank {
    denies: bool,
    mode: PhaseMode,
    /// Negated creation sequence, so older ranks higher.
    age: i64,
}

impl Snapshot {
    /// An empty snapshot over a catalog.
    pub fn empty(catalog: Catalog) -> Snapshot {
        Snapshot {
            version: 0,
            catalog: Arc::new(CompiledCatalog::new(catalog)),
            tenants: ChunkedVec::new(),
            tenant_index: ShardedMap::new(),
            units: ChunkedVec::new(),
            armed: ChunkedVec::new(),
            children: ChunkedVec::new(),
            unit_index: ShardedMap::new(),
            subs: ShardedMap::new(),
            own_orders: ShardedMap::new(),
            orders: ChunkedVec::new(),
            order_index: ShardedMap::new(),
            regions: Arc::new(Regions::default()),
            scope: None,
        }
    }

    /// Compiles a whole inventory and set of orders from scratch.
    pub fn compile(
        catalog: Catalog,
        inventory: &Inventory,
        orders: &[Order],
        version: u64,
    ) -> Result<Snapshot, EngineError> {
        let mut snapshot = Snapshot::empty(catalog);
        snapshot.subs.reserve(inventory.subscriptions.len());
        snapshot.unit_index.reserve(inventory.units.len());
        for tenant in &inventory.tenants {
            snapshot.put_tenant(tenant);
        }
        for unit in &inventory.units {
            snapshot.put_unit(&unit.tenant, &unit.path)?;
        }
        for sub in &inventory.subscriptions {
            snapshot.put_subscription(sub)?;
        }
        for order in orders {
            snapshot.put_order(order)?;
        }
        snapshot.version = version;
        Ok(snapshot)
    }

    /// A new snapshot with `changes` applied, sharing every untouched piece
    /// with `self`. All or nothing: on error `self` is the answer still.
    pub fn apply(&self, changes: &[Change], version: u64) -> Result<Snapshot, EngineError> {
        let mut next = self.clone();
        for change in changes {
            next.apply_one(change)?;
        }
        next.version = version;
        Ok(next)
    }

    fn apply_one(&mut self, change: &Change) -> Result<(), EngineError> {
        match change {
            Change::PutTenant(tenant) => {
                self.put_tenant(tenant);
                Ok(())
            }
            Change::PutUnit { tenant, path } => self.put_unit(tenant, path).map(|_| ()),
            Change::RemoveUnit { tenant, path } => {
                let key = unit_key(tenant, path.as_str());
                let index = self
                    .unit_index
                    .remove(&key)
                    .ok_or_else(|| EngineError::UnknownUnit(tenant.clone(), path.to_string()))?;
                self.units.get_mut(index).live = false;
                Ok(())
            }
            Change::PutSubscription(sub) => self.put_subscription(sub),
            Change::MoveSubscription { id, unit, retained_by } => {
                let tenant = self.tenant_of_sub(id).ok_or_else(|| EngineError::UnknownSubscription(id.clone()))?;
                let tenant_id = self.tenants.get(tenant).id.clone();
                let unit_index = self.put_unit(&tenant_id, unit)?;
                self.retain(id, retained_by)?;
                let rec = self.subs.get_mut(id).expect("subscription exists: checked above");
                rec.unit = unit_index;
                Ok(())
            }
            Change::RemoveSubscription { id, retained_by } => {
                self.retain(id, retained_by)?;
                self.subs.remove(id).map(|_| ()).ok_or_else(|| EngineError::UnknownSubscription(id.clone()))
            }
            Change::PutOrder(order) => self.put_order(order),
        }
    }

    fn retain(&mut self, sub: &str, orders: &[String]) -> Result<(), EngineError> {
        for order in orders {
            let o = *self
                .order_index
                .get(order)
                .ok_or_else(|| EngineError::InvalidOrder(order.clone(), "no such order".into()))?;
            self.add_own_order(sub, o);
        }
        Ok(())
    }

    fn put_tenant(&mut self, tenant: &Tenant) {
        match self.tenant_index.get(&tenant.id) {
            Some(&i) => self.tenants.get_mut(i).kind = tenant.kind,
            None => {
                let i = self.tenants.push(TenantRec { id: tenant.id.as_str().into(), kind: tenant.kind });
                self.tenant_index.insert(&tenant.id, i);
            }
        }
    }

    /// Returns the unit's index, creating it and its ancestors as needed.
    fn put_unit(&mut self, tenant: &str, path: &UnitPath) -> Result<u32, EngineError> {
        let tenant_index =
            *self.tenant_index.get(tenant).ok_or_else(|| EngineError::UnknownTenant(tenant.to_owned()))?;
        if let Some(&i) = self.unit_index.get(&unit_key(tenant, path.as_str())) {
            return Ok(i);
        }
        let mut parent = NONE;
        for step in path.lineage() {
            let key = unit_key(tenant, step.as_str());
            parent = match self.unit_index.get(&key) {
                Some(&i) => i,
                None => {
                    let inherited =
                        if parent == NONE { SmallVec::new() } else { self.units.get(parent).orders.clone() };
                    let armed = !inherited.is_empty();
                    let i = self.units.push(UnitRec { tenant: tenant_index, live: true, orders: inherited });
                    if i.is_multiple_of(64) {
                        self.armed.push(0);
                    }
                    if armed {
                        self.arm(i);
                    }
                    self.children.push(SmallVec::new());
                    if parent != NONE {
                        self.children.get_mut(parent).push(i);
                    }
                    self.unit_index.insert(&key, i);
                    i
                }
            };
        }
        Ok(parent)
    }

    fn put_subscription(&mut self, sub: &Subscription) -> Result<(), EngineError> {
        let unit = self.put_unit(&sub.tenant, &sub.unit)?;
        let mut flags = if self.own_orders.get(&sub.id).is_some() { HAS_OWN_ORDERS } else { 0 };
        flags |= self.region_index(&sub.region)? << REGION_SHIFT;
        self.subs.insert(&sub.id, SubRec { unit, flags });
        Ok(())
    }

    /// The index of a region name, interned on first sight.
    fn region_index(&mut self, region: &str) -> Result<u32, EngineError> {
        if let Some(&i) = self.regions.index.get(region) {
            return Ok(i);
        }
        let regions = Arc::make_mut(&mut self.regions);
        let i = u32::try_from(regions.names.len()).ok().filter(|&i| i < 1 << (32 - REGION_SHIFT)).ok_or_else(|| {
            EngineError::Format(format!("more than {} regions; region {region:?} is one too many", u16::MAX))
        })?;
        regions.names.push(region.into());
        regions.index.insert(region.into(), i);
        Ok(i)
    }

    fn add_own_order(&mut self, sub: &str, order: u32) {
        match self.own_orders.get_mut(sub) {
            Some(list) if list.contains(&order) => {}
            Some(list) => list.push(order),
            None => {
                self.own_orders.insert(sub, SmallVec::from_slice(&[order]));
            }
        }
        if let Some(rec) = self.subs.get_mut(sub) {
            rec.flags |= HAS_OWN_ORDERS;
        }
    }

    fn put_order(&mut self, order: &Order) -> Result<(), EngineError> {
        let catalog = &self.catalog.catalog;
        let services =
            order.spec.validate(catalog).map_err(|e| EngineError::InvalidOrder(order.id.clone(), e.to_string()))?;
        // The services the catalog does not list that its patterns reach.
        let services = services.union(self.catalog.unlisted_covered(&order.spec.services, &order.spec.exempt));
        let tenant = *self
            .tenant_index
            .get(&order.spec.tenant)
            .ok_or_else(|| EngineError::UnknownTenant(order.spec.tenant.clone()))?;
        if !order.is_effective() && self.order_index.get(&order.id).is_none() {
            // A proposed or rejected order has no effect; it enters the
            // snapshot when it is approved.
            return Ok(());
        }
        let mut until =
            order.spec.end.unwrap_or(Timestamp::MAX).min(order.lifted_at.unwrap_or(Timestamp::MAX)).seconds();
        if !order.is_effective() {
            until = i64::MIN;
        }
        let rec = OrderRec {
            from: order.lifecycle.approved_at.map_or(i64::MIN, Timestamp::seconds),
            id: order.id.as_str().into(),
            clause: order.spec.clause.as_str().into(),
            log_index: order.log_index,
            source: Arc::new(crate::replica::for_replica(order)),
            seq: order.seq,
            tenant,
            services,
            phases: order.spec.phases.iter().map(|p| (p.start.seconds(), p.mode)).collect(),
            until,
        };
        let index = match self.order_index.get(&order.id) {
            Some(&i) => {
                *self.orders.get_mut(i) = rec;
                i
            }
            None => {
                let i = self.orders.push(rec);
                self.order_index.insert(&order.id, i);
                for path in &order.spec.scope.units {
                    let key = unit_key(&order.spec.tenant, path.as_str());
                    let unit = *self
                        .unit_index
                        .get(&key)
                        .ok_or_else(|| EngineError::UnknownUnit(order.spec.tenant.clone(), path.to_string()))?;
                    // Down the subtree, so every descendant carries it.
                    let mut stack = vec![unit];
                    while let Some(u) = stack.pop() {
                        let orders = &mut self.units.get_mut(u).orders;
                        if !orders.contains(&i) {
                            orders.push(i);
                        }
                        self.arm(u);
                        stack.extend(self.children.get(u).iter().copied());
                    }
                }
                for sub in &order.spec.scope.subscriptions {
                    self.add_own_order(sub, i);
                }
                i
            }
        };
        for sub in &order.retained {
            self.add_own_order(sub, index);
        }
        Ok(())
    }

    fn arm(&mut self, unit: u32) {
        *self.armed.get_mut(unit / 64) |= 1 << (unit % 64);
    }

    #[inline]
    fn is_armed(&self, unit: u32) -> bool {
        self.armed.get(unit / 64) & (1 << (unit % 64)) != 0
    }

    fn tenant_of_sub(&self, id: &str) -> Option<u32> {
        self.subs.get(id).map(|s| self.units.get(s.unit).tenant)
    }

    /// The whole snapshot as a replication document: what a replica
    /// compiles to decide exactly as this snapshot does.
    pub fn export(&self) -> crate::replica::SnapshotDocument {
        self.export_scoped(None)
    }

    /// The part of the snapshot within `scope` as a replication document
    /// (all of it for `None`): the tenants [`Snapshot::tenants_in_scope`]
    /// names, each with every unit and order, and its subscriptions in the
    /// scope's regions. A replica of it decides as this snapshot does for
    /// every subscription it holds.
    pub fn export_scoped(&self, scope: Option<&ReplicaScope>) -> crate::replica::SnapshotDocument {
        let kept = self.tenant_mask(scope);
        let region_ok = |rec: &SubRec| scope.is_none_or(|s| s.admits_region(&self.regions.names[rec.region()]));
        let tenants = self
            .tenants
            .iter()
            .zip(&kept)
            .filter(|(_, keep)| **keep)
            .map(|(t, _)| Tenant { id: t.id.to_string(), kind: t.kind, name: String::new() })
            .collect();
        // Unit index → position in the document, kept live units only.
        let mut position = vec![usize::MAX; self.units.len()];
        let mut units = Vec::with_capacity(self.unit_index.len());
        for (key, &index) in self.unit_index.iter() {
            if !kept[self.units.get(index).tenant as usize] {
                continue;
            }
            let (tenant, path) = key.split_once('\0').expect("unit keys are tenant NUL path");
            let path = UnitPath::parse(path).expect("stored unit paths are valid");
            position[index as usize] = units.len();
            units.push((tenant.to_owned(), path));
        }
        let subs = self
            .subs
            .iter()
            .filter(|(_, rec)| kept[self.units.get(rec.unit).tenant as usize] && region_ok(rec))
            .map(|(id, rec)| (id.to_owned(), position[rec.unit as usize]));
        let units = crate::replica::group(units, subs);
        let mut retained: std::collections::HashMap<String, Vec<String>> = std::collections::HashMap::new();
        for (sub, list) in self.own_orders.iter() {
            // A removed subscription's retention travels (it may come back,
            // in scope); one held outside the scope's regions does not.
            if self.subs.get(sub).is_some_and(|rec| !region_ok(rec)) {
                continue;
            }
            for &o in list {
                let order = self.orders.get(o);
                if kept[order.tenant as usize] {
                    retained.entry(order.id.to_string()).or_default().push(sub.to_owned());
                }
            }
        }
        let orders = self.orders.iter().filter(|o| kept[o.tenant as usize]).map(|o| (*o.source).clone()).collect();
        crate::replica::SnapshotDocument {
            format: crate::replica::SNAPSHOT_FORMAT.to_owned(),
            version: self.version,
            lineage: String::new(),
            // A replica's own export keeps the scope it was given.
            scope: scope.cloned().or_else(|| self.scope.as_ref().map(|rule| rule.scope.clone())),
            catalog: self.catalog.catalog.clone(),
            tenants,
            units,
            orders: crate::replica::with_retention(orders, retained),
        }
    }

    /// The tenants a replica of `scope` holds: those the scope names (all
    /// for none) and, for a scope with regions, only those with a
    /// subscription in one of its regions.
    pub fn tenants_in_scope(&self, scope: &ReplicaScope) -> std::collections::HashSet<String> {
        self.tenant_mask(Some(scope))
            .iter()
            .zip(self.tenants.iter())
            .filter(|(keep, _)| **keep)
            .map(|(_, t)| t.id.to_string())
            .collect()
    }

    /// Which tenants (by index) a scope keeps.
    fn tenant_mask(&self, scope: Option<&ReplicaScope>) -> Vec<bool> {
        let Some(scope) = scope else { return vec![true; self.tenants.len()] };
        let named: Vec<bool> = self.tenants.iter().map(|t| scope.admits_tenant(&t.id)).collect();
        if !scope.is_regional() {
            return named;
        }
        let mut kept = vec![false; self.tenants.len()];
        let regions: Vec<bool> = self.regions.names.iter().map(|r| scope.admits_region(r)).collect();
        for (_, rec) in self.subs.iter() {
            let tenant = self.units.get(rec.unit).tenant as usize;
            if named[tenant] && regions[rec.region()] {
                kept[tenant] = true;
            }
        }
        kept
    }

    /// A subscription's tenant and region (empty where the snapshot does
    /// not know regions: a replica's).
    pub fn placement(&self, subscription: &str) -> Option<(&str, &str)> {
        let rec = self.subs.get(subscription)?;
        let tenant = self.tenants.get(self.units.get(rec.unit).tenant).id.as_str();
        Some((tenant, self.regions.names[rec.region()].as_str()))
    }

    /// The scope of the document this snapshot was compiled from, if any.
    pub fn scope(&self) -> Option<&ScopeRule> {
        self.scope.as_deref()
    }

    /// Marks the snapshot as a replica of a scoped document (`None`: of a
    /// whole one).
    pub fn set_scope(&mut self, rule: Option<ScopeRule>) {
        self.scope = rule.map(Arc::new);
    }

    /// The version this snapshot was built at (the store's change sequence).
    pub fn version(&self) -> u64 {
        self.version
    }

    /// The catalog decisions are made against.
    pub fn catalog(&self) -> &Catalog {
        &self.catalog.catalog
    }

    /// Counts of tenants, live units, subscriptions and orders.
    pub fn counts(&self) -> (usize, usize, usize, usize) {
        (self.tenant_index.len(), self.unit_index.len(), self.subs.len(), self.orders.len())
    }

    /// How many orders govern some phase at `at` (not lifted, begun, not ended).
    pub fn orders_in_force(&self, at: Timestamp) -> usize {
        self.orders.iter().filter(|o| o.phase_at(at.seconds()).is_some()).count()
    }

    /// The decision for one request, per DESIGN §2. Allocates nothing and
    /// takes no lock.
    #[inline]
    pub fn decide(&self, subscription: &str, service: &str, action: &str, at: Timestamp) -> Decision {
        // Start the subscription's (likely) cache miss first, so the catalog
        // lookups below run while it is in flight.
        let located = self.subs.locate(subscription);
        self.subs.prefetch(located);
        let resolved = self.catalog.resolve(service, action);
        self.decide_resolved(subscription, resolved, || self.subs.get_at(located, subscription).copied(), at)
    }

    /// A decision once the names are resolved; `sub` looks the subscription up.
    #[inline]
    fn decide_resolved(
        &self,
        subscription: &str,
        resolved: Resolved,
        sub: impl FnOnce() -> Option<SubRec>,
        at: Timestamp,
    ) -> Decision {
        let (svc, class, action_known) = match resolved {
            Resolved::Service { service, class, known } => (service, class, known),
            Resolved::Unlisted { slot } => (slot, ActionClass::Write, false),
            // Fail closed: a name no catalog spelling matches could be any.
            Resolved::Malformed => {
                return Decision {
                    allowed: false,
                    basis: Basis::MalformedName,
                    class: ActionClass::Write,
                    action_known: false,
                    at,
                };
            }
        };
        let Some(sub) = sub() else {
            if self.scope.as_ref().is_some_and(|rule| rule.refuse_outside) {
                return Decision { allowed: false, basis: Basis::OutsideScope, class, action_known, at };
            }
            return Decision { allowed: true, basis: Basis::UnknownSubscription, class, action_known, at };
        };
        let decision = self.decide_known(subscription, sub, svc, class, action_known, at);
        if decision.basis == Basis::NoOrder && self.catalog.is_unlisted(svc) {
            // No order's pattern reaches this unlisted service.
            return Decision { basis: Basis::UnknownService, ..decision };
        }
        decision
    }

    /// The rest of a decision once the service, class and subscription are
    /// known.
    #[inline]
    fn decide_known(
        &self,
        subscription: &str,
        sub: SubRec,
        svc: ServiceIndex,
        class: ActionClass,
        action_known: bool,
        at: Timestamp,
    ) -> Decision {
        let t = at.seconds();
        let mut best: Option<(Rank, u32, u8, PhaseMode)> = None;
        if self.is_armed(sub.unit) {
            for &o in self.units.get(sub.unit).orders.iter() {
                self.consider(o, svc, class, t, &mut best);
            }
        }
        if sub.flags & HAS_OWN_ORDERS != 0
            && let Some(list) = self.own_orders.get(subscription)
        {
            let tenant = self.units.get(sub.unit).tenant;
            // A subscription id reused by another tenant inherits nothing.
            for &o in list.iter().filter(|&&o| self.orders.get(o).tenant == tenant) {
                self.consider(o, svc, class, t, &mut best);
            }
        }
        match best {
            None => Decision { allowed: true, basis: Basis::NoOrder, class, action_known, at },
            Some((rank, order, phase, mode)) => Decision {
                allowed: !rank.denies,
                basis: Basis::Order { order: OrderRef(order), phase, mode },
                class,
                action_known,
                at,
            },
        }
    }

    /// Decides many requests at once, the same as [`Snapshot::decide`] on
    /// each. Requests are taken in groups whose subscription lookups are all
    /// issued before any is used, so their cache misses overlap instead of
    /// queueing; this is the fast path for batched evaluations.
    pub fn decide_batch(&self, queries: &[Query<'_>], out: &mut Vec<Decision>) {
        out.reserve(queries.len());
        let mut located = [Located::default(); BATCH_LANES];
        let mut subs = [None; BATCH_LANES];
        for group in queries.chunks(BATCH_LANES) {
            self.start_lookups(group, &mut located);
            // The lookups, now mostly in cache; ask for the unit records that
            // orders cover before deciding any of the group.
            for ((slot, at), q) in subs.iter_mut().zip(&located).zip(group) {
                *slot = self.subs.get_at(*at, q.subscription).copied();
                if let Some(sub) = slot
                    && self.is_armed(sub.unit)
                {
                    self.units.prefetch(sub.unit);
                }
            }
            for (q, sub) in group.iter().zip(subs) {
                let resolved = self.catalog.resolve(q.service, q.action);
                out.push(self.decide_resolved(q.subscription, resolved, || sub, q.at));
            }
        }
    }

    /// Hashes each query's subscription and asks for its slot, without
    /// waiting: the DRAM round trips of the whole group overlap.
    #[inline]
    fn start_lookups(&self, group: &[Query<'_>], located: &mut [Located; BATCH_LANES]) {
        for (at, q) in located.iter_mut().zip(group) {
            *at = self.subs.locate(q.subscription);
            self.subs.prefetch(*at);
        }
    }

    #[inline]
    fn consider(
        &self,
        o: u32,
        svc: ServiceIndex,
        class: ActionClass,
        t: i64,
        best: &mut Option<(Rank, u32, u8, PhaseMode)>,
    ) {
        let order = self.orders.get(o);
        if !order.services.contains(svc) {
            return;
        }
        let Some((phase, mode)) = order.phase_at(t) else { return };
        let rank = Rank { denies: mode.denies(class), mode, age: -order.seq };
        if best.is_none_or(|(r, ..)| rank > r) {
            *best = Some((rank, o, phase, mode));
        }
    }

    /// The ids of the orders that bind `subscription` at `now` (not lifted,
    /// not ended; begun or not), through its unit or by name. A move must
    /// retain these.
    pub fn orders_covering(&self, subscription: &str, now: Timestamp) -> Vec<String> {
        let Some(sub) = self.subs.get(subscription) else { return Vec::new() };
        let mut out: Vec<u32> = self.units.get(sub.unit).orders.to_vec();
        if let Some(list) = self.own_orders.get(subscription) {
            let tenant = self.units.get(sub.unit).tenant;
            out.extend(list.iter().copied().filter(|&o| self.orders.get(o).tenant == tenant));
        }
        out.sort_unstable();
        out.dedup();
        out.into_iter()
            .map(|o| self.orders.get(o))
            .filter(|o| now.seconds() < o.until)
            .map(|o| o.id.to_string())
            .collect()
    }

    /// The order behind a handle: id, clause, tenant kind, lifted or not.
    pub fn order_id(&self, order: OrderRef) -> &str {
        self.orders.get(order.0).id.as_str()
    }

    /// The kind of the tenant an order belongs to.
    pub fn order_tenant_kind(&self, order: OrderRef) -> TenantKind {
        self.tenants.get(self.orders.get(order.0).tenant).kind
    }

    /// Spells a decision out. Allocates; call it off the hot path.
    pub fn explain(&self, decision: &Decision, subscription: &str, service: &str, action: &str) -> Explanation {
        let mut reason = String::with_capacity(160);
        let facts = self.explain_into(decision, subscription, service, action, &mut reason);
        Explanation {
            code: facts.code,
            order: facts.order.map(str::to_owned),
            clause: facts.clause.map(str::to_owned),
            phase: facts.phase,
            phase_start: facts.phase_start,
            next_phase: facts.next_phase,
            reason,
            log_index: facts.log_index,
        }
    }

    /// Like [`Snapshot::explain`], writing the sentence into `reason` and
    /// borrowing the rest from the snapshot: the wire formats write both
    /// straight into a response, with no allocation per decision.
    pub fn explain_into<W: std::fmt::Write>(
        &self,
        decision: &Decision,
        subscription: &str,
        service: &str,
        action: &str,
        reason: &mut W,
    ) -> Facts<'_> {
        // Writing into a String or a response buffer cannot fail.
        let _ = self.write_reason(decision, subscription, service, action, reason);
        let Basis::Order { order, phase, mode } = decision.basis else {
            let code = match decision.basis {
                Basis::UnknownService => "unknown-service",
                Basis::MalformedName => "malformed-name",
                Basis::UnknownSubscription => "unknown-subscription",
                Basis::OutsideScope => "outside-scope",
                _ => "no-order",
            };
            return Facts { code, ..Facts::default() };
        };
        let rec = self.orders.get(order.0);
        let (start, _) = rec.phases[phase as usize];
        Facts {
            code: match (mode, decision.allowed) {
                (PhaseMode::Notice, _) => "notice",
                (PhaseMode::ExportOnly, true) => "export-window",
                _ => "restricted",
            },
            order: Some(rec.id.as_str()),
            clause: Some(rec.clause.as_str()),
            phase: Some(mode),
            phase_start: Some(Timestamp(start.max(rec.from))),
            next_phase: self.next_phase(rec, phase),
            log_index: rec.log_index,
        }
    }

    fn next_phase(&self, rec: &OrderRec, phase: u8) -> Option<(PhaseMode, Timestamp)> {
        rec.phases.get(phase as usize + 1).filter(|(s, _)| *s < rec.until).map(|(s, m)| (*m, Timestamp(*s)))
    }

    fn write_reason<W: std::fmt::Write>(
        &self,
        decision: &Decision,
        subscription: &str,
        service: &str,
        action: &str,
        w: &mut W,
    ) -> std::fmt::Result {
        let class_note = |w: &mut W| {
            if decision.action_known {
                write!(w, "{action:?} is a {} action", decision.class)
            } else {
                write!(w, "{action:?} is not in the catalog for {service}, so it is treated as a write")
            }
        };
        match decision.basis {
            Basis::MalformedName => write!(
                w,
                "denied: {service:?} with {action:?} is not a service and action name verdict accepts (lowercase letters, digits, '.', '_' and '-', at most 128 bytes; case is folded); a gateway must pass names as the catalog spells them"
            ),
            Basis::UnknownService => write!(
                w,
                "allowed: verdict's catalog has no service {service:?}, so no order can restrict it; the platform's own access control still applies"
            ),
            Basis::UnknownSubscription => write!(
                w,
                "allowed: verdict knows no subscription {subscription:?}, so no order can restrict it; the platform's own access control still applies"
            ),
            Basis::OutsideScope => {
                let scope = self.scope.as_ref().map(|rule| rule.scope.to_string()).unwrap_or_default();
                write!(
                    w,
                    "denied: subscription {subscription:?} is not in this enforcement point's scope ({scope}), and it refuses what it cannot know"
                )
            }
            Basis::NoOrder => {
                write!(w, "allowed: no order in force restricts {service} for subscription {subscription:?}")
            }
            Basis::Order { order, phase, mode } => {
                let rec = self.orders.get(order.0);
                let (start, _) = rec.phases[phase as usize];
                let (id, clause) = (rec.id.as_str(), rec.clause.as_str());
                let since = Timestamp(start.max(rec.from));
                match (mode, decision.allowed) {
                    (PhaseMode::Notice, _) => write!(
                        w,
                        "allowed with warning: order {id} under clause {clause} has given notice for {service} on subscription {subscription:?} since {since}"
                    )?,
                    (PhaseMode::ExportOnly, true) => {
                        write!(
                            w,
                            "allowed: order {id} under clause {clause} keeps {service} export-only since {since} so data can be taken out; "
                        )?;
                        class_note(w)?;
                    }
                    (PhaseMode::ExportOnly, false) => {
                        write!(
                            w,
                            "denied: order {id} under clause {clause} has made {service} export-only for subscription {subscription:?} since {since}; only read, list, export and delete are allowed, and "
                        )?;
                        class_note(w)?;
                    }
                    (PhaseMode::Disabled, _) => {
                        return write!(
                            w,
                            "denied: order {id} under clause {clause} has disabled {service} for subscription {subscription:?} since {since}"
                        );
                    }
                }
                match self.next_phase(rec, phase) {
                    Some((m, s)) => write!(w, "; it becomes {m} at {s}"),
                    None => Ok(()),
                }
            }
        }
    }
}
