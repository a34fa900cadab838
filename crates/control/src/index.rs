//! The in-memory inventory index: each tenant's subscriptions (id, unit,
//! region, enabled services) in id order, so the blast-radius preview and
//! diff, and which subscriptions an order covers, read memory instead of a
//! tenant's worth of store rows.
//!
//! **Invariant**: derived state, like the engine snapshot. It is built from
//! the store on start and, after every commit, takes the same
//! [`Change`]s the snapshot takes; if it cannot, it is rebuilt from the
//! store. A published index is never mutated: a change copies the tenant
//! record it touches and, inside it, only the chunk of subscriptions it
//! touches (copy-on-write), so a reader never waits for the writer and
//! never sees half a change.
//!
//! Compact at a million subscriptions: a chunk stores its ids back to back
//! in one string, a subscription's unit and region as indexes into its
//! tenant's tables and its services as a catalog bit set, about 28 bytes
//! plus the id.

use std::collections::HashMap;
use std::hash::{BuildHasher, BuildHasherDefault, Hasher, RandomState};
use std::sync::Arc;

use verdict_engine::Change;
use verdict_model::{Catalog, Inventory, Scope, ServiceSet, Subscription, UnitPath};

/// Subscriptions a chunk is filled with when built in bulk; an insert
/// splits a chunk that grows past twice this. Small enough that copying a
/// chunk on write costs a few microseconds, large enough that a tenant of
/// 100,000 subscriptions is a vector of a few hundred pointers.
const CHUNK_FILL: usize = 512;

/// Why changes could not be applied; the caller rebuilds from the store.
#[derive(Debug, thiserror::Error)]
pub(crate) enum InventoryError {
    /// A move or removal names a subscription the index does not hold.
    #[error("the inventory index holds no subscription {0:?}")]
    UnknownSubscription(String),
}

/// A run of one tenant's subscriptions, in id order.
#[derive(Clone, Default)]
struct Chunk {
    /// Every id, back to back.
    ids: String,
    /// Where each id ends in `ids`.
    ends: Vec<u32>,
    /// Each subscription's unit, an index into its tenant's unit table.
    units: Vec<u32>,
    /// Each subscription's region, an index into its tenant's region table.
    regions: Vec<u32>,
    /// Each subscription's services (every service if it lists none).
    services: Vec<ServiceSet>,
}

impl Chunk {
    fn len(&self) -> usize {
        self.ends.len()
    }

    fn id(&self, i: usize) -> &str {
        let start = if i == 0 { 0 } else { self.ends[i - 1] as usize };
        &self.ids[start..self.ends[i] as usize]
    }

    fn last_id(&self) -> &str {
        self.id(self.len() - 1)
    }

    fn find(&self, id: &str) -> Result<usize, usize> {
        let (mut low, mut high) = (0, self.len());
        while low < high {
            let mid = (low + high) / 2;
            match self.id(mid).cmp(id) {
                std::cmp::Ordering::Less => low = mid + 1,
                std::cmp::Ordering::Greater => high = mid,
                std::cmp::Ordering::Equal => return Ok(mid),
            }
        }
        Err(low)
    }

    fn push(&mut self, id: &str, place: Place, services: ServiceSet) {
        self.ids.push_str(id);
        self.ends.push(self.ids.len() as u32);
        self.units.push(place.unit);
        self.regions.push(place.region);
        self.services.push(services);
    }

    fn insert(&mut self, at: usize, id: &str, place: Place, services: ServiceSet) {
        let start = if at == 0 { 0 } else { self.ends[at - 1] };
        self.ids.insert_str(start as usize, id);
        for end in &mut self.ends[at..] {
            *end += id.len() as u32;
        }
        self.ends.insert(at, start + id.len() as u32);
        self.units.insert(at, place.unit);
        self.regions.insert(at, place.region);
        self.services.insert(at, services);
    }

    fn remove(&mut self, at: usize) {
        let start = if at == 0 { 0 } else { self.ends[at - 1] };
        let len = self.ends[at] - start;
        self.ids.replace_range(start as usize..(start + len) as usize, "");
        self.ends.remove(at);
        for end in &mut self.ends[at..] {
            *end -= len;
        }
        self.units.remove(at);
        self.regions.remove(at);
        self.services.remove(at);
    }

    /// Moves the upper half into a new chunk.
    fn split(&mut self) -> Chunk {
        let half = self.len() / 2;
        let mut upper = Chunk::default();
        for i in half..self.len() {
            upper.push(self.id(i), self.place(i), self.services[i]);
        }
        self.ids.truncate(self.ends[half - 1] as usize);
        self.ends.truncate(half);
        self.units.truncate(half);
        self.regions.truncate(half);
        self.services.truncate(half);
        // A bulk import in id order never comes back to the lower half:
        // give back the room it grew into.
        self.shrink();
        upper
    }

    fn shrink(&mut self) {
        self.ids.shrink_to_fit();
        self.ends.shrink_to_fit();
        self.units.shrink_to_fit();
        self.regions.shrink_to_fit();
        self.services.shrink_to_fit();
    }

    fn place(&self, i: usize) -> Place {
        Place { unit: self.units[i], region: self.regions[i] }
    }

    fn heap_bytes(&self) -> usize {
        self.ids.capacity()
            + self.ends.capacity() * 4
            + self.units.capacity() * 4
            + self.regions.capacity() * 4
            + self.services.capacity() * size_of::<ServiceSet>()
    }
}

/// Where a subscription is: its unit and region, as positions in its
/// tenant's tables.
#[derive(Clone, Copy)]
struct Place {
    unit: u32,
    region: u32,
}

/// A tenant's unit paths (or regions), each stored once; subscriptions
/// refer to them by position. Only grows: a position stays valid for every
/// chunk that uses it.
#[derive(Clone)]
struct Table<T> {
    values: Vec<T>,
    positions: HashMap<T, u32>,
}

impl<T> Default for Table<T> {
    fn default() -> Self {
        Table { values: Vec::new(), positions: HashMap::new() }
    }
}

impl<T: Clone + Eq + std::hash::Hash> Table<T> {
    /// The position of `value`, added if it is new (copying the table only then).
    fn position(table: &mut Arc<Table<T>>, value: &T) -> u32 {
        if let Some(position) = table.positions.get(value) {
            return *position;
        }
        let table = Arc::make_mut(table);
        let position = table.values.len() as u32;
        table.values.push(value.clone());
        table.positions.insert(value.clone(), position);
        position
    }
}

/// One of a tenant's subscriptions, as the index holds it.
#[derive(Clone, Copy)]
pub(crate) struct IndexedSubscription<'a> {
    /// Its id.
    pub id: &'a str,
    /// Its unit, a position in [`TenantSubscriptions::units`].
    pub unit: u32,
    /// Its region, a position in [`TenantSubscriptions::regions`].
    pub region: u32,
    /// Its services; every service of the catalog if it lists none.
    pub services: ServiceSet,
}

/// One tenant's subscriptions in id order, in shared chunks.
#[derive(Clone, Default)]
pub(crate) struct TenantSubscriptions {
    units: Arc<Table<UnitPath>>,
    regions: Arc<Table<String>>,
    chunks: Vec<Arc<Chunk>>,
    len: usize,
}

impl TenantSubscriptions {
    /// How many subscriptions the tenant has.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Every unit path a subscription of the tenant uses or has used,
    /// indexed by [`IndexedSubscription::unit`].
    pub fn units(&self) -> &[UnitPath] {
        &self.units.values
    }

    /// Every region a subscription of the tenant is or was in (`""`: none
    /// given), indexed by [`IndexedSubscription::region`].
    pub fn regions(&self) -> &[String] {
        &self.regions.values
    }

    /// Each subscription with whether `scope` covers it: named in it, or in
    /// a unit within one it names (as the tree is now). The one definition
    /// of coverage the previews, the diff and the log entries share.
    pub fn with_coverage<'a>(&'a self, scope: &Scope) -> impl Iterator<Item = (IndexedSubscription<'a>, bool)> {
        let named: std::collections::HashSet<&str> = scope.subscriptions.iter().map(String::as_str).collect();
        // Decided once per unit, not once per subscription.
        let unit_covered: Vec<bool> =
            self.units().iter().map(|unit| scope.units.iter().any(|u| unit.is_within(u))).collect();
        self.iter().map(move |sub| {
            let covered = unit_covered[sub.unit as usize] || named.contains(sub.id);
            (sub, covered)
        })
    }

    /// The subscriptions in id order.
    pub fn iter(&self) -> impl Iterator<Item = IndexedSubscription<'_>> {
        self.chunks.iter().flat_map(|chunk| {
            (0..chunk.len()).map(move |i| IndexedSubscription {
                id: chunk.id(i),
                unit: chunk.units[i],
                region: chunk.regions[i],
                services: chunk.services[i],
            })
        })
    }

    fn place(&mut self, unit: &UnitPath, region: &String) -> Place {
        Place { unit: Table::position(&mut self.units, unit), region: Table::position(&mut self.regions, region) }
    }

    /// The chunk that holds `id` or should, and where in it.
    fn locate(&self, id: &str) -> (usize, Result<usize, usize>) {
        if self.chunks.is_empty() {
            return (0, Err(0));
        }
        let chunk = self.chunks.partition_point(|c| c.last_id() < id).min(self.chunks.len() - 1);
        (chunk, self.chunks[chunk].find(id))
    }

    /// Whether the tenant has subscription `id`.
    pub fn contains(&self, id: &str) -> bool {
        self.locate(id).1.is_ok()
    }

    /// Adds or replaces a subscription; true if it is new.
    fn put(&mut self, id: &str, place: Place, services: ServiceSet) -> bool {
        let (at, found) = self.locate(id);
        if self.chunks.is_empty() {
            self.chunks.push(Arc::new(Chunk::default()));
        }
        let chunk = Arc::make_mut(&mut self.chunks[at]);
        match found {
            Ok(i) => {
                chunk.units[i] = place.unit;
                chunk.regions[i] = place.region;
                chunk.services[i] = services;
                false
            }
            Err(i) => {
                chunk.insert(i, id, place, services);
                if chunk.len() > 2 * CHUNK_FILL {
                    let upper = chunk.split();
                    self.chunks.insert(at + 1, Arc::new(upper));
                }
                self.len += 1;
                true
            }
        }
    }

    /// Changes a subscription's unit; false if the tenant has no such subscription.
    fn relocate(&mut self, id: &str, unit: &UnitPath) -> bool {
        let unit = Table::position(&mut self.units, unit);
        let (at, Ok(i)) = self.locate(id) else { return false };
        Arc::make_mut(&mut self.chunks[at]).units[i] = unit;
        true
    }

    /// Removes a subscription; false if the tenant has no such subscription.
    fn remove(&mut self, id: &str) -> bool {
        let (at, Ok(i)) = self.locate(id) else { return false };
        let chunk = Arc::make_mut(&mut self.chunks[at]);
        chunk.remove(i);
        if chunk.len() == 0 {
            self.chunks.remove(at);
        }
        self.len -= 1;
        true
    }
}

/// Every tenant's subscriptions, as of the last commit.
#[derive(Clone)]
pub(crate) struct InventoryIndex {
    /// What "lists no services" stands for: all of them.
    every_service: ServiceSet,
    /// Tenant id → position in `tenants`; shared until a tenant is added.
    positions: Arc<HashMap<String, u32>>,
    tenants: Vec<Arc<TenantSubscriptions>>,
}

impl InventoryIndex {
    /// The index of an inventory (as loaded from the store), and the
    /// writer's locator for it.
    pub fn build(catalog: &Catalog, inventory: &Inventory) -> (InventoryIndex, Locator) {
        let mut index = InventoryIndex {
            every_service: ServiceSet::from_fn(catalog, |_| true),
            positions: Arc::new(HashMap::new()),
            tenants: Vec::new(),
        };
        let mut locator = Locator::new(inventory.subscriptions.len());
        for tenant in &inventory.tenants {
            index.tenant_position(&tenant.id);
        }
        let mut by_tenant: Vec<(u32, &Subscription)> =
            inventory.subscriptions.iter().map(|s| (index.tenant_position(&s.tenant), s)).collect();
        by_tenant.sort_unstable_by(|(t1, s1), (t2, s2)| t1.cmp(t2).then_with(|| s1.id.cmp(&s2.id)));
        by_tenant.dedup_by(|(t1, s1), (t2, s2)| t1 == t2 && s1.id == s2.id);
        let catalog_services = Self::service_bits(catalog);
        for group in by_tenant.chunk_by(|(t1, _), (t2, _)| t1 == t2) {
            let position = group[0].0;
            let tenant = Arc::make_mut(&mut index.tenants[position as usize]);
            let mut chunk = Chunk::default();
            for (_, sub) in group {
                let place = tenant.place(&sub.unit, &sub.region);
                chunk.push(&sub.id, place, Self::services_of(index.every_service, &catalog_services, sub));
                locator.add(&sub.id, position);
                if chunk.len() == CHUNK_FILL {
                    chunk.shrink();
                    tenant.chunks.push(Arc::new(std::mem::take(&mut chunk)));
                }
            }
            if chunk.len() > 0 {
                chunk.shrink();
                tenant.chunks.push(Arc::new(chunk));
            }
            tenant.len = group.len();
        }
        (index, locator)
    }

    /// Each catalog service's name and its single-member set.
    fn service_bits(catalog: &Catalog) -> HashMap<&str, ServiceSet> {
        catalog
            .services
            .iter()
            .map(|s| (s.name.as_str(), ServiceSet::from_fn(catalog, |name| name == s.name)))
            .collect()
    }

    fn services_of(every_service: ServiceSet, bits: &HashMap<&str, ServiceSet>, sub: &Subscription) -> ServiceSet {
        if sub.services.is_empty() {
            return every_service;
        }
        // A name the catalog does not know restricts nothing, as before.
        sub.services.iter().filter_map(|name| bits.get(name.as_str())).fold(ServiceSet::default(), |a, b| a.union(*b))
    }

    /// The tenant's subscriptions, if it has any record here.
    pub fn tenant(&self, id: &str) -> Option<&TenantSubscriptions> {
        self.positions.get(id).map(|p| self.tenants[*p as usize].as_ref())
    }

    /// Subscriptions held, over every tenant.
    pub fn len(&self) -> usize {
        self.tenants.iter().map(|t| t.len).sum()
    }

    /// Roughly the heap this index holds (chunks and unit tables; shared
    /// pieces counted once per tenant, not once per published version).
    pub fn heap_bytes(&self) -> usize {
        let tenants: usize = self
            .tenants
            .iter()
            .map(|t| {
                let units: usize = t.units.values.iter().map(|p| 2 * (p.as_str().len() + 24) + 8).sum::<usize>()
                    + t.regions.values.iter().map(|r| 2 * (r.len() + 24) + 8).sum::<usize>();
                units + t.chunks.iter().map(|c| c.heap_bytes() + 16).sum::<usize>() + size_of::<TenantSubscriptions>()
            })
            .sum();
        tenants + self.positions.keys().map(|k| k.len() + 32).sum::<usize>()
    }

    fn tenant_position(&mut self, id: &str) -> u32 {
        if let Some(position) = self.positions.get(id) {
            return *position;
        }
        let position = self.tenants.len() as u32;
        Arc::make_mut(&mut self.positions).insert(id.to_owned(), position);
        self.tenants.push(Arc::new(TenantSubscriptions::default()));
        position
    }

    /// Which tenant holds subscription `id`, if any.
    fn holder(&self, locator: &Locator, id: &str) -> Option<u32> {
        let hint = locator.hint(id)?;
        if self.tenants[hint as usize].contains(id) {
            return Some(hint);
        }
        // Another id with the same 64-bit hash set the hint: ask every tenant.
        (0..self.tenants.len() as u32).find(|t| self.tenants[*t as usize].contains(id))
    }

    /// A new index with `changes` applied (the changes a commit made);
    /// `self` stays as it was. On an error the locator may be out of step:
    /// rebuild both from the store.
    pub fn apply(
        &self,
        catalog: &Catalog,
        changes: &[Change],
        locator: &mut Locator,
    ) -> Result<InventoryIndex, InventoryError> {
        let mut next = self.clone();
        let mut bits = None;
        for change in changes {
            match change {
                Change::PutTenant(tenant) => {
                    next.tenant_position(&tenant.id);
                }
                Change::PutSubscription(sub) => {
                    let bits = bits.get_or_insert_with(|| Self::service_bits(catalog));
                    let services = Self::services_of(next.every_service, bits, sub);
                    let position = next.tenant_position(&sub.tenant);
                    // An id is one subscription: if another tenant held it,
                    // the store replaced that row.
                    if let Some(previous) = next.holder(locator, &sub.id).filter(|p| *p != position) {
                        Arc::make_mut(&mut next.tenants[previous as usize]).remove(&sub.id);
                        locator.remove(&sub.id);
                    }
                    let tenant = Arc::make_mut(&mut next.tenants[position as usize]);
                    let place = tenant.place(&sub.unit, &sub.region);
                    if tenant.put(&sub.id, place, services) {
                        locator.add(&sub.id, position);
                    }
                }
                Change::MoveSubscription { id, unit, .. } => {
                    let holder =
                        next.holder(locator, id).ok_or_else(|| InventoryError::UnknownSubscription(id.clone()))?;
                    Arc::make_mut(&mut next.tenants[holder as usize]).relocate(id, unit);
                }
                Change::RemoveSubscription { id, .. } => {
                    let holder =
                        next.holder(locator, id).ok_or_else(|| InventoryError::UnknownSubscription(id.clone()))?;
                    Arc::make_mut(&mut next.tenants[holder as usize]).remove(id);
                    locator.remove(id);
                }
                // Units matter only through the subscriptions in them, and
                // orders not at all.
                Change::PutUnit { .. } | Change::RemoveUnit { .. } | Change::PutOrder(_) => {}
            }
        }
        Ok(next)
    }
}

/// Hashes that are already hashes.
#[derive(Default)]
struct Prehashed(u64);

impl Hasher for Prehashed {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

/// The writer's way from a subscription id to its tenant, for the changes
/// that name only the id (moves, removals). Keyed by a 64-bit hash of the
/// id rather than the id, which halves its memory; an entry counts the ids
/// with that hash and names the tenant of one of them. A hash absent means
/// no such id; a hint that proves wrong (a collision) is resolved by asking
/// every tenant.
pub(crate) struct Locator {
    seed: RandomState,
    entries: HashMap<u64, (u32, u32), BuildHasherDefault<Prehashed>>,
}

impl Locator {
    fn new(capacity: usize) -> Locator {
        Locator { seed: RandomState::new(), entries: HashMap::with_capacity_and_hasher(capacity, Default::default()) }
    }

    fn hint(&self, id: &str) -> Option<u32> {
        self.entries.get(&self.seed.hash_one(id)).map(|(tenant, _)| *tenant)
    }

    fn add(&mut self, id: &str, tenant: u32) {
        let entry = self.entries.entry(self.seed.hash_one(id)).or_insert((tenant, 0));
        entry.1 += 1;
    }

    fn remove(&mut self, id: &str) {
        let hash = self.seed.hash_one(id);
        if let Some(entry) = self.entries.get_mut(&hash) {
            entry.1 -= 1;
            if entry.1 == 0 {
                self.entries.remove(&hash);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sub(id: &str, tenant: &str, unit: &str, services: &[&str]) -> Subscription {
        Subscription {
            id: id.to_owned(),
            tenant: tenant.to_owned(),
            unit: UnitPath::parse(unit).unwrap(),
            services: services.iter().map(|s| s.to_string()).collect(),
            region: String::new(),
        }
    }

    fn listing(index: &InventoryIndex, tenant: &str) -> Vec<(String, String)> {
        let t = index.tenant(tenant).unwrap();
        t.iter().map(|s| (s.id.to_owned(), t.units()[s.unit as usize].to_string())).collect()
    }

    #[test]
    fn changes_keep_ids_in_order_across_chunk_splits_and_leave_the_published_index_alone() {
        let catalog = Catalog::builtin();
        let (empty, mut locator) = InventoryIndex::build(&catalog, &Inventory::default());
        // Descending ids, so every insert lands at the front and chunks split.
        let n = 3 * CHUNK_FILL + 7;
        let puts: Vec<Change> =
            (0..n).rev().map(|i| Change::PutSubscription(sub(&format!("s{i:05}"), "t", "a", &[]))).collect();
        let full = empty.apply(&catalog, &puts, &mut locator).unwrap();
        assert!(empty.tenant("t").is_none());
        let ids: Vec<String> = listing(&full, "t").into_iter().map(|(id, _)| id).collect();
        let mut sorted = ids.clone();
        sorted.sort();
        assert_eq!(ids, sorted);
        assert_eq!(ids.len(), n);
        assert!(full.tenant("t").unwrap().chunks.len() > 1);

        let moved = full
            .apply(
                &catalog,
                &[
                    Change::MoveSubscription {
                        id: "s00010".into(),
                        unit: UnitPath::parse("a/b").unwrap(),
                        retained_by: vec![],
                    },
                    Change::RemoveSubscription { id: "s00011".into(), retained_by: vec![] },
                ],
                &mut locator,
            )
            .unwrap();
        let after = listing(&moved, "t");
        assert_eq!(after.len(), n - 1);
        assert!(after.contains(&("s00010".into(), "a/b".into())));
        assert!(!after.iter().any(|(id, _)| id == "s00011"));
        // The version readers hold is untouched.
        assert!(listing(&full, "t").contains(&("s00010".into(), "a".into())));
        assert!(listing(&full, "t").iter().any(|(id, _)| id == "s00011"));

        let unknown = moved.apply(
            &catalog,
            &[Change::RemoveSubscription { id: "nope".into(), retained_by: vec![] }],
            &mut locator,
        );
        assert!(matches!(unknown, Err(InventoryError::UnknownSubscription(_))));
    }

    #[test]
    fn built_and_applied_indexes_agree_and_services_follow_the_catalog() {
        let catalog = Catalog::builtin();
        let subs = vec![
            sub("b", "t1", "x", &["storage.blob"]),
            sub("a", "t1", "x/y", &[]),
            sub("c", "t2", "z", &["ai.vision", "storage.blob"]),
        ];
        let inventory = Inventory { tenants: vec![], units: vec![], subscriptions: subs.clone() };
        let (built, _) = InventoryIndex::build(&catalog, &inventory);
        let (empty, mut locator) = InventoryIndex::build(&catalog, &Inventory::default());
        let changes: Vec<Change> = subs.into_iter().map(Change::PutSubscription).collect();
        let applied = empty.apply(&catalog, &changes, &mut locator).unwrap();
        for index in [&built, &applied] {
            assert_eq!(listing(index, "t1"), vec![("a".into(), "x/y".into()), ("b".into(), "x".into())]);
            let t1 = index.tenant("t1").unwrap();
            let services: Vec<ServiceSet> = t1.iter().map(|s| s.services).collect();
            assert_eq!(services[0], ServiceSet::from_fn(&catalog, |_| true));
            assert_eq!(services[1], ServiceSet::from_fn(&catalog, |n| n == "storage.blob"));
            assert_eq!(index.len(), 3);
        }
    }

    #[test]
    fn coverage_is_by_unit_subtree_or_name_and_regions_follow_every_change() {
        let catalog = Catalog::builtin();
        let mut subs = vec![
            sub("a", "t", "x", &[]),
            sub("b", "t", "x/y", &[]),
            sub("c", "t", "z", &[]),
            sub("d", "t", "z", &[]),
            sub("e", "t", "xx", &[]),
        ];
        for (s, region) in subs.iter_mut().zip(["eu-west", "us-east", "", "eu-west", "ap-south"]) {
            s.region = region.to_owned();
        }
        let inventory = Inventory { tenants: vec![], units: vec![], subscriptions: subs.clone() };
        let (index, mut locator) = InventoryIndex::build(&catalog, &inventory);
        let scope = Scope { units: vec![UnitPath::parse("x").unwrap()], subscriptions: vec!["d".into()] };
        let covered = |index: &InventoryIndex| -> Vec<(String, String)> {
            let t = index.tenant("t").unwrap();
            t.with_coverage(&scope)
                .filter(|(_, covered)| *covered)
                .map(|(s, _)| (s.id.to_owned(), t.regions()[s.region as usize].clone()))
                .collect()
        };
        // "xx" is not within "x": coverage is by path segment, not prefix.
        assert_eq!(
            covered(&index),
            [("a", "eu-west"), ("b", "us-east"), ("d", "eu-west")].map(|(s, r)| (s.into(), r.into())).to_vec()
        );
        let mut b = subs[1].clone();
        b.region = "ap-south".into();
        let next = index
            .apply(
                &catalog,
                &[
                    Change::PutSubscription(b),
                    Change::MoveSubscription {
                        id: "c".into(),
                        unit: UnitPath::parse("x/q").unwrap(),
                        retained_by: vec![],
                    },
                ],
                &mut locator,
            )
            .unwrap();
        assert_eq!(
            covered(&next),
            [("a", "eu-west"), ("b", "ap-south"), ("c", ""), ("d", "eu-west")]
                .map(|(s, r)| (s.into(), r.into()))
                .to_vec()
        );
        assert_eq!(covered(&index).len(), 3, "the published index is untouched");
    }
}
