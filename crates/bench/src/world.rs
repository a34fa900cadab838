//! Seeded synthetic worlds: tenants with unit trees, subscriptions spread
//! over the units, and enforcement orders of every shape DESIGN §2 allows.

use std::collections::HashMap;

use verdict_model::{
    Catalog, Inventory, Order, OrderSpec, Phase, PhaseMode, Scope, ServicePattern, Subscription, Tenant, TenantKind,
    Timestamp, Unit, UnitPath,
};

use crate::rng::Rng;

/// Seconds in a day.
pub const DAY: i64 = 86_400;

const NONE: u32 = u32::MAX;
const MAX_DEPTH: u8 = 3;

const WORDS: [&str; 12] = [
    "intelligence",
    "signals",
    "logistics",
    "research",
    "finance",
    "operations",
    "platform",
    "analytics",
    "media",
    "health",
    "archive",
    "labs",
];
const REGIONS: [&str; 6] = ["westeurope", "northeurope", "eastus", "westus2", "southeastasia", "japaneast"];
const KINDS: [TenantKind; 8] = [
    TenantKind::Enterprise,
    TenantKind::Enterprise,
    TenantKind::Enterprise,
    TenantKind::Government,
    TenantKind::Individual,
    TenantKind::Nonprofit,
    TenantKind::Education,
    TenantKind::Other,
];
/// Service pattern sets an order restricts, as an analyst would write them.
const SERVICE_SETS: [&[&str]; 10] = [
    &["storage.*", "ai.*"],
    &["storage.*", "ai.*"],
    &["storage.*"],
    &["ai.*"],
    &["*"],
    &["*"],
    &["compute.vm"],
    &["storage.blob"],
    &["ai.speech-to-text", "ai.translation"],
    &["compute.vm", "storage.*"],
];

/// The size and seed of a world.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WorldConfig {
    /// Tenants.
    pub tenants: usize,
    /// Units over all tenants (at least one per tenant).
    pub units: usize,
    /// Subscriptions, spread uniformly over the units.
    pub subscriptions: usize,
    /// Enforcement orders.
    pub orders: usize,
    /// Seed; the same configuration always yields the same world.
    pub seed: u64,
}

impl Default for WorldConfig {
    /// The benchmark's default scale: a million subscriptions, ten thousand
    /// orders.
    fn default() -> WorldConfig {
        WorldConfig { tenants: 10_000, units: 100_000, subscriptions: 1_000_000, orders: 10_000, seed: 1 }
    }
}

/// A generated inventory and its orders, with the tree structure kept as
/// indexes so requests can aim at what the orders cover.
///
/// `inventory.units[i]` is unit `i` and `inventory.subscriptions[i]` is
/// subscription `i` in every index this type hands out.
pub struct World {
    /// The catalog the world is built against (the built-in one).
    pub catalog: Catalog,
    /// Tenants, units (parents listed before children) and subscriptions.
    pub inventory: Inventory,
    /// Orders, `seq` ascending.
    pub orders: Vec<Order>,
    /// The instant the world is set at; phases start around it.
    pub now: Timestamp,
    seed: u64,
    unit_tenant: Vec<u32>,
    unit_parent: Vec<u32>,
    unit_depth: Vec<u8>,
    unit_children: Vec<Vec<u32>>,
    unit_subs: Vec<Vec<u32>>,
    tenant_units: Vec<Vec<u32>>,
    tenant_subs: Vec<Vec<u32>>,
    sub_unit: Vec<u32>,
}

impl WorldConfig {
    /// A world of `subscriptions` in the proportions the HTTP benchmarks
    /// use: a tenant per 100 subscriptions, a unit per 10, an order per 100.
    pub fn scaled(subscriptions: usize, seed: u64) -> WorldConfig {
        WorldConfig {
            tenants: (subscriptions / 100).max(1),
            units: (subscriptions / 10).max(1),
            subscriptions,
            orders: (subscriptions / 100).max(1),
            seed,
        }
    }
}

impl World {
    /// Generates a world. Deterministic in `config`.
    pub fn generate(config: &WorldConfig) -> World {
        let tenants = config.tenants.max(1);
        let units = config.units.max(tenants);
        let mut rng = Rng::new(config.seed);
        let mut world = World {
            catalog: Catalog::builtin(),
            inventory: Inventory::default(),
            orders: Vec::with_capacity(config.orders),
            now: Timestamp(1_780_272_000), // 2026-06-01T00:00:00Z
            seed: config.seed,
            unit_tenant: Vec::with_capacity(units),
            unit_parent: Vec::with_capacity(units),
            unit_depth: Vec::with_capacity(units),
            unit_children: Vec::with_capacity(units),
            unit_subs: Vec::with_capacity(units),
            tenant_units: vec![Vec::new(); tenants],
            tenant_subs: vec![Vec::new(); tenants],
            sub_unit: Vec::with_capacity(config.subscriptions),
        };
        world.inventory.tenants = (0..tenants)
            .map(|i| Tenant { id: format!("tenant-{i:05}"), kind: *rng.pick(&KINDS), name: String::new() })
            .collect();
        world.inventory.units.reserve(units);
        for i in 0..units {
            let tenant = if i < tenants { i } else { rng.below(tenants) };
            let own = &world.tenant_units[tenant];
            let parent = if own.is_empty() || rng.chance(0.3) {
                NONE
            } else {
                let p = *rng.pick(own);
                if world.unit_depth[p as usize] >= MAX_DEPTH { world.unit_parent[p as usize] } else { p }
            };
            world.add_unit(tenant as u32, parent, &mut rng);
        }
        world.inventory.subscriptions.reserve(config.subscriptions);
        for i in 0..config.subscriptions {
            let unit = rng.below(units) as u32;
            world.add_subscription(format!("sub-{i:07}"), unit, &mut rng);
        }
        for i in 0..config.orders {
            let order = world.random_order(format!("ord-{i:06}"), i as i64, &mut rng);
            world.orders.push(order);
        }
        world
    }

    fn add_unit(&mut self, tenant: u32, parent: u32, rng: &mut Rng) -> u32 {
        let index = self.inventory.units.len() as u32;
        let local = self.tenant_units[tenant as usize].len();
        let segment = format!("{}-{local}", rng.pick(&WORDS));
        let (path, depth) = if parent == NONE {
            (segment, 1)
        } else {
            let p = parent as usize;
            (format!("{}/{segment}", self.inventory.units[p].path), self.unit_depth[p] + 1)
        };
        self.inventory.units.push(Unit {
            tenant: self.inventory.tenants[tenant as usize].id.clone(),
            path: UnitPath::parse(&path).expect("generated unit paths are valid"),
        });
        self.unit_tenant.push(tenant);
        self.unit_parent.push(parent);
        self.unit_depth.push(depth);
        self.unit_children.push(Vec::new());
        self.unit_subs.push(Vec::new());
        if parent != NONE {
            self.unit_children[parent as usize].push(index);
        }
        self.tenant_units[tenant as usize].push(index);
        index
    }

    fn add_subscription(&mut self, id: String, unit: u32, rng: &mut Rng) -> u32 {
        let index = self.inventory.subscriptions.len() as u32;
        let tenant = self.unit_tenant[unit as usize];
        let n = 1 + rng.below(4);
        let mut services: Vec<String> = Vec::with_capacity(n);
        for _ in 0..n {
            let name = &rng.pick(&self.catalog.services).name;
            if !services.contains(name) {
                services.push(name.clone());
            }
        }
        self.inventory.subscriptions.push(Subscription {
            id,
            tenant: self.inventory.tenants[tenant as usize].id.clone(),
            unit: self.inventory.units[unit as usize].path.clone(),
            services,
            region: rng.pick(&REGIONS).to_string(),
        });
        self.sub_unit.push(unit);
        self.unit_subs[unit as usize].push(index);
        self.tenant_subs[tenant as usize].push(index);
        index
    }

    /// A unit of `tenant`; a third of the time the root or parent of the one
    /// first drawn, so that orders cover whole subtrees.
    fn scope_unit(&self, tenant: usize, rng: &mut Rng) -> u32 {
        let mut unit = *rng.pick(&self.tenant_units[tenant]);
        if rng.chance(0.35) {
            let climb_to_root = rng.chance(0.5);
            while self.unit_parent[unit as usize] != NONE {
                unit = self.unit_parent[unit as usize];
                if !climb_to_root {
                    break;
                }
            }
        }
        unit
    }

    fn random_order(&self, id: String, seq: i64, rng: &mut Rng) -> Order {
        // Orders land on tenants in proportion to their units.
        let tenant = self.unit_tenant[rng.below(self.unit_tenant.len())] as usize;
        let subs = &self.tenant_subs[tenant];
        let mut units: Vec<u32> = Vec::new();
        let mut direct: Vec<u32> = Vec::new();
        let shape = rng.unit();
        let n_subs = |rng: &mut Rng, max: usize| 1 + rng.below(max);
        if shape < 0.55 || ((0.70..0.85).contains(&shape) && subs.is_empty()) {
            units.push(self.scope_unit(tenant, rng));
        } else if shape < 0.70 {
            for _ in 0..2 + rng.below(2) {
                let u = self.scope_unit(tenant, rng);
                if !units.contains(&u) {
                    units.push(u);
                }
            }
        } else if shape < 0.85 {
            for _ in 0..n_subs(rng, 3) {
                let s = *rng.pick(subs);
                if !direct.contains(&s) {
                    direct.push(s);
                }
            }
        } else {
            units.push(self.scope_unit(tenant, rng));
            if !subs.is_empty() {
                for _ in 0..n_subs(rng, 2) {
                    let s = *rng.pick(subs);
                    if !direct.contains(&s) {
                        direct.push(s);
                    }
                }
            }
        }
        let mut retained: Vec<String> = Vec::new();
        if !subs.is_empty() && rng.chance(0.06) {
            for _ in 0..n_subs(rng, 2) {
                let s = &self.inventory.subscriptions[*rng.pick(subs) as usize].id;
                if !retained.contains(s) {
                    retained.push(s.clone());
                }
            }
        }

        let patterns = |names: &[&str]| -> Vec<ServicePattern> {
            names.iter().map(|p| ServicePattern::parse(p).expect("generated patterns parse")).collect()
        };
        let set = *rng.pick(&SERVICE_SETS);
        let services = patterns(set);
        let exempt_choice: &[&str] = if set == ["*"] {
            match rng.below(7) {
                0..=4 => &["security.*"],
                5 => &["security.*", "compute.vm"],
                _ => &[],
            }
        } else if set.contains(&"ai.*") && rng.chance(0.2) {
            &["ai.translation"]
        } else if set.contains(&"storage.*") && rng.chance(0.2) {
            &["storage.files", "security.*"]
        } else if rng.chance(0.25) {
            &["security.*"]
        } else {
            &[]
        };
        let exempt = patterns(exempt_choice);

        let t0 = self.now.seconds() + rng.between(-30 * DAY, 10 * DAY);
        let at = |offset: i64| Timestamp(t0 + offset);
        let jitter = |rng: &mut Rng| rng.between(0, 6 * 3600);
        let phases: Vec<Phase> = match rng.below(20) {
            0..=7 => vec![
                Phase { mode: PhaseMode::Notice, start: at(0) },
                Phase { mode: PhaseMode::ExportOnly, start: at(2 * DAY + jitter(rng)) },
                Phase { mode: PhaseMode::Disabled, start: at(9 * DAY + jitter(rng)) },
            ],
            8..=11 => vec![
                Phase { mode: PhaseMode::ExportOnly, start: at(0) },
                Phase { mode: PhaseMode::Disabled, start: at(rng.between(DAY, 20 * DAY)) },
            ],
            12..=14 => vec![Phase { mode: PhaseMode::Disabled, start: at(0) }],
            15..=16 => vec![Phase { mode: PhaseMode::Notice, start: at(0) }],
            _ => vec![Phase { mode: PhaseMode::ExportOnly, start: at(0) }],
        };
        let end = rng.chance(0.1).then(|| at(rng.between(3600, 40 * DAY)));
        let lifted_at = rng.chance(0.05).then(|| at(rng.between(-DAY, 20 * DAY)));

        let spec = OrderSpec {
            tenant: self.inventory.tenants[tenant].id.clone(),
            clause: format!("AUP-{}", 1 + rng.below(6)),
            title: String::new(),
            scope: Scope {
                units: units.iter().map(|&u| self.inventory.units[u as usize].path.clone()).collect(),
                subscriptions: direct.iter().map(|&s| self.inventory.subscriptions[s as usize].id.clone()).collect(),
            },
            services,
            exempt,
            phases,
            end,
            case_id: None,
            emergency_reason: None,
            amends: None,
        };
        debug_assert!(spec.validate(&self.catalog).is_ok(), "{id}: {:?}", spec.validate(&self.catalog));
        Order {
            id,
            seq,
            created_at: Timestamp(t0 - 3 * DAY),
            lift_reason: lifted_at.map(|_| "lifted on appeal".to_owned()),
            superseded_by: None,
            lifted_at,
            retained,
            log_index: None,
            lifecycle: Default::default(),
            spec,
        }
    }

    /// A fresh order in the style of the generated ones, not yet in
    /// `self.orders`; `n` picks it (and seeds it) among many possible.
    pub fn new_order(&self, n: u64) -> Order {
        let mut rng = Rng::new(self.seed.wrapping_mul(31).wrapping_add(n).wrapping_add(0x006f_7264_6572));
        let seq = self.orders.iter().map(|o| o.seq).max().unwrap_or(0) + 1 + n as i64;
        self.random_order(format!("ord-new-{n}"), seq, &mut rng)
    }

    /// Adds an order (as `Change::PutOrder` adds it to a snapshot).
    pub fn add_order(&mut self, order: Order) {
        self.orders.push(order);
    }

    /// Lifts order `index` at `at` (as an appeal decision would).
    pub fn lift_order(&mut self, index: usize, at: Timestamp) -> &Order {
        let order = &mut self.orders[index];
        order.lifted_at = Some(at);
        order.lift_reason = Some("lifted on appeal".to_owned());
        order
    }

    /// A unit, other than the subscription's own, of the same tenant for
    /// subscription `sub` to move to, or `None` if its tenant has one unit.
    pub fn move_target(&self, sub: usize, n: u64) -> Option<usize> {
        let unit = self.sub_unit[sub];
        let own = &self.tenant_units[self.unit_tenant[unit as usize] as usize];
        if own.len() < 2 {
            return None;
        }
        let mut rng = Rng::new(n ^ 0x6d6f_7665);
        loop {
            let target = *rng.pick(own);
            if target != unit {
                return Some(target as usize);
            }
        }
    }

    /// Moves subscription `sub` to unit `unit` of its tenant; the orders in
    /// `retained_by` keep covering it, as `Change::MoveSubscription` says.
    pub fn move_subscription(&mut self, sub: usize, unit: usize, retained_by: &[String]) {
        let old = self.sub_unit[sub] as usize;
        assert_eq!(self.unit_tenant[old], self.unit_tenant[unit], "moves stay within a tenant");
        self.unit_subs[old].retain(|&s| s as usize != sub);
        self.unit_subs[unit].push(sub as u32);
        self.sub_unit[sub] = unit as u32;
        self.inventory.subscriptions[sub].unit = self.inventory.units[unit].path.clone();
        let id = self.inventory.subscriptions[sub].id.clone();
        for order in self.orders.iter_mut().filter(|o| retained_by.contains(&o.id)) {
            if !order.retained.contains(&id) {
                order.retained.push(id.clone());
            }
        }
    }

    /// Creates subscription `id` in unit `unit`; returns its index.
    pub fn create_subscription(&mut self, id: String, unit: usize) -> usize {
        let mut rng = Rng::new(self.seed ^ self.sub_unit.len() as u64);
        self.add_subscription(id, unit as u32, &mut rng) as usize
    }

    /// For each order, the subscriptions it covers at some time: those in
    /// its scope units' subtrees, those it names and those it retains.
    pub fn coverage(&self) -> Vec<Vec<u32>> {
        let mut unit_index: HashMap<(&str, &str), u32> = HashMap::with_capacity(self.inventory.units.len());
        for (i, u) in self.inventory.units.iter().enumerate() {
            unit_index.insert((u.tenant.as_str(), u.path.as_str()), i as u32);
        }
        let mut sub_index: HashMap<&str, u32> = HashMap::with_capacity(self.inventory.subscriptions.len());
        for (i, s) in self.inventory.subscriptions.iter().enumerate() {
            sub_index.insert(s.id.as_str(), i as u32);
        }
        let mut stack: Vec<u32> = Vec::new();
        self.orders
            .iter()
            .map(|order| {
                let mut covered: Vec<u32> = Vec::new();
                for path in &order.spec.scope.units {
                    if let Some(&u) = unit_index.get(&(order.spec.tenant.as_str(), path.as_str())) {
                        stack.push(u);
                    }
                }
                while let Some(u) = stack.pop() {
                    covered.extend_from_slice(&self.unit_subs[u as usize]);
                    stack.extend_from_slice(&self.unit_children[u as usize]);
                }
                for id in order.spec.scope.subscriptions.iter().chain(&order.retained) {
                    covered.extend(sub_index.get(id.as_str()));
                }
                covered.sort_unstable();
                covered.dedup();
                covered
            })
            .collect()
    }

    /// How deep unit `unit` sits (top-level units are 1).
    pub fn unit_depth(&self, unit: usize) -> u8 {
        self.unit_depth[unit]
    }
}
