//! Blast radius: what an order would cut, per subscription, service and
//! phase, and what it spares — before anyone approves it — and the tenant's
//! effective entitlements before and after it.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use serde::Serialize;
use sha2::{Digest, Sha256};
use verdict_engine::Change;
use verdict_model::{
    ActionClass, Catalog, Lifecycle, Order, OrderSpec, OrderState, PhaseMode, ServiceIndex, ServiceSet, Timestamp,
    UnitPath,
};

use crate::error::Thing;
use crate::index::{IndexedSubscription, InventoryIndex, TenantSubscriptions};
use crate::orders::check_scope;
use crate::{Core, CoreError};

/// One subscription an order restricts, with what each phase denies per service.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Affected {
    /// The subscription.
    pub subscription: String,
    /// Its unit.
    pub unit: String,
    /// Per service: per phase mode, the action classes denied.
    #[cfg_attr(feature = "openapi", schema(value_type = BTreeMap<String, BTreeMap<String, Vec<ActionClass>>>))]
    pub services: ServiceDenials,
}

/// Per service, per phase mode, the action classes denied. Shared between
/// the subscriptions that lose the same services (a preview lists 10,000
/// alike); serialised as the map itself.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServiceDenials(Arc<BTreeMap<String, BTreeMap<String, Vec<ActionClass>>>>);

impl std::ops::Deref for ServiceDenials {
    type Target = BTreeMap<String, BTreeMap<String, Vec<ActionClass>>>;

    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl From<BTreeMap<String, BTreeMap<String, Vec<ActionClass>>>> for ServiceDenials {
    fn from(map: BTreeMap<String, BTreeMap<String, Vec<ActionClass>>>) -> ServiceDenials {
        ServiceDenials(Arc::new(map))
    }
}

impl Serialize for ServiceDenials {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(serializer)
    }
}

/// One of the tenant's subscriptions the order leaves alone.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Untouched {
    /// The subscription.
    pub subscription: String,
    /// Its unit.
    pub unit: String,
}

/// Counts for people.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PreviewSummary {
    /// Subscriptions restricted in some phase.
    pub affected_subscriptions: usize,
    /// The tenant's other subscriptions.
    pub untouched_subscriptions: usize,
    /// Affected subscriptions per unit.
    pub by_unit: BTreeMap<String, usize>,
    /// Affected subscriptions per service family.
    pub by_family: BTreeMap<String, usize>,
    /// Per phase mode, the subscriptions that lose at least one action class.
    pub by_phase: BTreeMap<String, usize>,
}

/// What an order does to its tenant, over the inventory as it is now.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Preview {
    /// The order, if it is stored.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub order: Option<String>,
    /// Its tenant.
    pub tenant: String,
    /// Restricted subscriptions.
    pub affected: Vec<Affected>,
    /// The tenant's other subscriptions.
    pub untouched: Vec<Untouched>,
    /// Services the order's patterns match but an exemption spares.
    pub exempted: Vec<String>,
    /// Counts.
    pub summary: PreviewSummary,
    /// `sha256:` + hex over the content above (order and summary aside): an
    /// approval can be bound to exactly what its approver saw.
    pub hash: String,
}

/// One entitlement that an order changes.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Difference {
    /// The subscription.
    pub subscription: String,
    /// The service.
    pub service: String,
    /// From when (the phase's start, or now if it has begun).
    pub from: Timestamp,
    /// The phase that brings the change.
    pub phase: PhaseMode,
    /// Action classes denied without the order.
    pub before: Vec<ActionClass>,
    /// Action classes denied with it.
    pub after: Vec<ActionClass>,
}

/// The tenant's effective entitlements before and after an order: only what changes.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Diff {
    /// Its tenant.
    pub tenant: String,
    /// Subscriptions of the tenant compared.
    pub subscriptions_compared: usize,
    /// The changes, by subscription, service and time.
    pub changes: Vec<Difference>,
}

fn family(service: &str) -> &str {
    service.split('.').next().unwrap_or(service)
}

/// Every phase mode. [`class_groups`] relies on the list being whole; the
/// match in `phase_mode_listed` stops compiling when a mode is added.
const PHASE_MODES: [PhaseMode; 3] = [PhaseMode::Notice, PhaseMode::ExportOnly, PhaseMode::Disabled];

#[cfg(test)]
fn phase_mode_listed(mode: PhaseMode) -> bool {
    match mode {
        PhaseMode::Notice | PhaseMode::ExportOnly | PhaseMode::Disabled => PHASE_MODES.contains(&mode),
    }
}

/// The action classes in groups that every phase mode treats alike, each
/// group as (a member, the bits of its members' positions in
/// [`ActionClass::ALL`]). A decision denies a class exactly when some order
/// applying at that instant is in a mode that denies it, so the classes of
/// a group are always denied together: one decision per group answers for
/// all of them (two decisions instead of seven).
fn class_groups() -> Vec<(ActionClass, u8)> {
    let mut groups: Vec<([bool; PHASE_MODES.len()], ActionClass, u8)> = Vec::new();
    for (position, class) in ActionClass::ALL.into_iter().enumerate() {
        let treatment = PHASE_MODES.map(|mode| mode.denies(class));
        match groups.iter_mut().find(|(t, ..)| *t == treatment) {
            Some((_, _, members)) => *members |= 1 << position,
            None => groups.push((treatment, class, 1 << position)),
        }
    }
    groups.into_iter().map(|(_, class, members)| (class, members)).collect()
}

/// The classes whose bits are set, in [`ActionClass::ALL`] order.
fn classes_of(bits: u8) -> Vec<ActionClass> {
    ActionClass::ALL.into_iter().enumerate().filter(|(i, _)| bits & (1 << i) != 0).map(|(_, c)| c).collect()
}

fn denied(mode: PhaseMode) -> Vec<ActionClass> {
    ActionClass::ALL.into_iter().filter(|c| mode.denies(*c)).collect()
}

fn intersection(a: ServiceSet, b: ServiceSet) -> ServiceSet {
    a.minus(a.minus(b))
}

/// `io::Write` into a SHA-256, so the preview's hash is computed while its
/// content is serialised, without holding the JSON.
struct HashingWriter(Sha256);

impl std::io::Write for HashingWriter {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.update(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// `sha256:` + hex of the JSON serialisation of `content`: the same bytes
/// as `serde_json::to_vec(content)`, streamed through the hash.
fn content_hash(content: &impl Serialize) -> Result<String, CoreError> {
    // serde_json writes a few bytes at a time; batching them for the hash
    // is several times faster than feeding it each piece.
    let mut writer = std::io::BufWriter::with_capacity(64 * 1024, HashingWriter(Sha256::new()));
    serde_json::to_writer(&mut writer, content).map_err(|e| CoreError::Internal(e.to_string()))?;
    let hasher = writer.into_inner().map_err(|e| CoreError::Internal(e.to_string()))?;
    Ok(format!("sha256:{}", crate::hex(&hasher.0.finalize())))
}

/// Calls `visit` on each of a tenant's subscriptions in id order, with its
/// unit and the services the order takes from it (empty: untouched). A
/// subscription the scope covers loses the restricted services it uses, or
/// all of them if it lists none (the index stores "none" as "all").
fn walk_tenant<'a>(
    spec: &OrderSpec,
    restricted: ServiceSet,
    tenant: Option<&'a TenantSubscriptions>,
    mut visit: impl FnMut(IndexedSubscription<'a>, &'a UnitPath, ServiceSet),
) {
    let Some(tenant) = tenant else { return };
    for (sub, covered) in tenant.with_coverage(&spec.scope) {
        let lost = if covered { intersection(restricted, sub.services) } else { ServiceSet::default() };
        visit(sub, &tenant.units()[sub.unit as usize], lost);
    }
}

impl Core {
    /// The inventory index as of the last commit.
    fn inventory_index(&self) -> Arc<InventoryIndex> {
        self.inventory.load_full()
    }

    /// The blast radius of `spec` (stored as `order`, if it is).
    pub async fn preview(&self, spec: &OrderSpec, order: Option<&str>) -> Result<Preview, CoreError> {
        check_scope(&mut *self.reads().await?, spec).await?;
        self.preview_of(spec, order)
    }

    /// The blast radius of `spec`, whose scope is known to exist, from the
    /// inventory index alone.
    pub(crate) fn preview_of(&self, spec: &OrderSpec, order: Option<&str>) -> Result<Preview, CoreError> {
        let catalog = Catalog::builtin();
        let restricted = spec.validate(&catalog)?;
        let matched = ServiceSet::of_patterns(&catalog, &spec.services)?;
        let exempted: Vec<String> =
            matched.minus(restricted).iter().map(|i| catalog.services[i as usize].name.to_string()).collect();
        let modes: Vec<PhaseMode> = spec.phases.iter().map(|p| p.mode).collect();
        let per_phase: BTreeMap<String, Vec<ActionClass>> =
            modes.iter().map(|m| (m.as_str().to_owned(), denied(*m))).collect();
        // Subscriptions mostly share a few sets of services: their
        // per-service maps are built once per set and cloned.
        let mut per_set: HashMap<ServiceSet, (ServiceDenials, usize)> = HashMap::new();
        let index = self.inventory_index();
        let tenant = index.tenant(&spec.tenant);
        let mut unit_counts = vec![0usize; tenant.map_or(0, |t| t.units().len())];
        let mut affected = Vec::new();
        let mut untouched = Vec::new();
        walk_tenant(spec, restricted, tenant, |sub, unit, lost| {
            if lost.is_empty() {
                untouched.push(Untouched { subscription: sub.id.to_owned(), unit: unit.to_string() });
                return;
            }
            let (services, count) = per_set.entry(lost).or_insert_with(|| {
                let services: BTreeMap<String, _> =
                    lost.iter().map(|i| (catalog.services[i as usize].name.clone(), per_phase.clone())).collect();
                (services.into(), 0)
            });
            *count += 1;
            unit_counts[sub.unit as usize] += 1;
            affected.push(Affected {
                subscription: sub.id.to_owned(),
                unit: unit.to_string(),
                services: services.clone(),
            });
        });
        let mut summary = PreviewSummary {
            affected_subscriptions: affected.len(),
            untouched_subscriptions: untouched.len(),
            ..PreviewSummary::default()
        };
        if let Some(tenant) = tenant {
            for (unit, count) in tenant.units().iter().zip(&unit_counts).filter(|(_, c)| **c > 0) {
                *summary.by_unit.entry(unit.to_string()).or_default() += count;
            }
        }
        for (set, (_, count)) in &per_set {
            // Families in catalog order, a run of one family counted once.
            let mut families: Vec<&str> = set.iter().map(|i| family(&catalog.services[i as usize].name)).collect();
            families.dedup();
            for family in families {
                *summary.by_family.entry(family.to_owned()).or_default() += count;
            }
        }
        for mode in modes.iter().filter(|m| !denied(**m).is_empty()) {
            *summary.by_phase.entry(mode.as_str().to_owned()).or_default() += affected.len();
        }
        let hash = content_hash(&(&spec.tenant, &spec.phases, &affected, &untouched, &exempted))?;
        Ok(Preview {
            order: order.map(str::to_owned),
            tenant: spec.tenant.clone(),
            affected,
            untouched,
            exempted,
            summary,
            hash,
        })
    }

    /// The preview of a stored order.
    pub async fn preview_order(&self, id: &str) -> Result<Preview, CoreError> {
        let order = self
            .reads()
            .await?
            .order(id)
            .await?
            .ok_or_else(|| CoreError::NotFound { kind: Thing::Order, id: id.to_owned() })?;
        self.preview(&order.spec, Some(id)).await
    }

    /// The tenant's effective entitlements without and with the order, at
    /// each of its phase starts (or now, for phases begun): only changes.
    /// Only the subscriptions the preview lists as affected can change.
    pub async fn diff(&self, spec: &OrderSpec, order: Option<&str>) -> Result<Diff, CoreError> {
        let catalog = Catalog::builtin();
        let restricted = spec.validate(&catalog)?;
        check_scope(&mut *self.reads().await?, spec).await?;
        ServiceSet::of_patterns(&catalog, &spec.services)?;
        let index = self.inventory_index();
        let tenant = index.tenant(&spec.tenant);
        let now = self.clock.now();
        let current = self.snapshot();
        let probe = |state: OrderState| Order {
            id: order.map_or_else(|| "ord-preview".to_owned(), str::to_owned),
            seq: i64::MAX / 2,
            spec: spec.clone(),
            created_at: now,
            lifted_at: None,
            lift_reason: None,
            superseded_by: None,
            retained: Vec::new(),
            log_index: None,
            lifecycle: Lifecycle { state, ..Lifecycle::default() },
        };
        let apply = |state| {
            current
                .apply(&[Change::PutOrder(probe(state))], current.version())
                .map_err(|e| CoreError::Internal(format!("cannot preview the order: {e}")))
        };
        // Without: a stored order is neutralised; with: it applies as written.
        let without = if order.is_some() { Arc::new(apply(OrderState::Rejected)?) } else { current.clone() };
        let with = apply(OrderState::Approved)?;
        // The instants to compare at: each phase's start, or now for the
        // phase in force; not phases already over, nor after the end.
        let instants: Vec<(PhaseMode, Timestamp)> = spec
            .phases
            .iter()
            .enumerate()
            .filter(|(i, _)| spec.phases.get(i + 1).is_none_or(|next| next.start > now))
            .map(|(_, phase)| (phase.mode, phase.start.max(now)))
            .filter(|(_, at)| spec.end.is_none_or(|end| *at < end))
            .collect();
        // By name, the order in which the changes list them.
        let mut by_name: Vec<(ServiceIndex, &str)> =
            restricted.iter().map(|i| (i, catalog.services[i as usize].name.as_str())).collect();
        by_name.sort_unstable_by_key(|(_, name)| *name);
        let groups = class_groups();
        let denied_bits = |snapshot: &verdict_engine::Snapshot, sub: &str, service: &str, at: Timestamp| -> u8 {
            groups
                .iter()
                .filter(|(class, _)| !snapshot.decide(sub, service, class.as_str(), at).allowed)
                .fold(0, |bits, (_, members)| bits | members)
        };
        let mut changes = Vec::new();
        walk_tenant(spec, restricted, tenant, |sub, _, lost| {
            for (_, name) in by_name.iter().filter(|(i, _)| lost.contains(*i)) {
                for (mode, at) in &instants {
                    let before = denied_bits(&without, sub.id, name, *at);
                    let after = denied_bits(&with, sub.id, name, *at);
                    if before != after {
                        changes.push(Difference {
                            subscription: sub.id.to_owned(),
                            service: (*name).to_owned(),
                            from: *at,
                            phase: *mode,
                            before: classes_of(before),
                            after: classes_of(after),
                        });
                    }
                }
            }
        });
        Ok(Diff { tenant: spec.tenant.clone(), subscriptions_compared: tenant.map_or(0, |t| t.len()), changes })
    }

    /// The diff of a stored order.
    pub async fn diff_order(&self, id: &str) -> Result<Diff, CoreError> {
        let order = self
            .reads()
            .await?
            .order(id)
            .await?
            .ok_or_else(|| CoreError::NotFound { kind: Thing::Order, id: id.to_owned() })?;
        self.diff(&order.spec, Some(id)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn class_groups_cover_every_class_once_and_agree_with_every_mode() {
        assert!(PHASE_MODES.iter().all(|m| phase_mode_listed(*m)));
        let groups = class_groups();
        let all = groups.iter().fold(0u8, |bits, (_, members)| {
            assert_eq!(bits & members, 0, "a class is in two groups");
            bits | members
        });
        assert_eq!(all, (1u8 << ActionClass::ALL.len()) - 1);
        for (representative, members) in groups {
            for class in classes_of(members) {
                for mode in PHASE_MODES {
                    assert_eq!(
                        mode.denies(class),
                        mode.denies(representative),
                        "{class} and {representative} in {mode:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn the_streamed_hash_is_the_hash_of_the_json() {
        let content = (&"t", &vec![1, 2, 3], &BTreeMap::from([("a", "b")]));
        let expected = format!("sha256:{}", crate::hex(&Sha256::digest(serde_json::to_vec(&content).unwrap())));
        assert_eq!(content_hash(&content).unwrap(), expected);
    }
}
