//! Blast radius: what an order would cut, per subscription, service and
//! phase, and what it spares — before anyone approves it — and the tenant's
//! effective entitlements before and after it.

use std::collections::BTreeMap;

use serde::Serialize;
use sha2::{Digest, Sha256};
use verdict_engine::Change;
use verdict_model::{
    ActionClass, Catalog, Lifecycle, Order, OrderSpec, OrderState, PhaseMode, ServiceSet, Subscription, Timestamp,
};

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
    pub services: BTreeMap<String, BTreeMap<String, Vec<ActionClass>>>,
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

fn family(service: &str) -> String {
    service.split('.').next().unwrap_or(service).to_owned()
}

fn denied(mode: PhaseMode) -> Vec<ActionClass> {
    ActionClass::ALL.into_iter().filter(|c| mode.denies(*c)).collect()
}

impl Core {
    /// Every subscription of `tenant`, by id.
    async fn tenant_subscriptions(&self, tenant: &str) -> Result<Vec<Subscription>, CoreError> {
        let mut out = Vec::new();
        let mut page = verdict_store::Page { after: None, limit: 10_000 };
        loop {
            let batch = self.store.subscriptions(Some(tenant), &page).await?;
            let done = batch.len() < page.limit as usize;
            page.after = batch.last().map(|s| s.id.clone());
            out.extend(batch);
            if done {
                return Ok(out);
            }
        }
    }

    /// The blast radius of `spec` (stored as `order`, if it is).
    pub async fn preview(&self, spec: &OrderSpec, order: Option<&str>) -> Result<Preview, CoreError> {
        let catalog = Catalog::builtin();
        let restricted = spec.validate(&catalog)?;
        self.check_order_scope(spec).await?;
        let matched = ServiceSet::of_patterns(&catalog, &spec.services)?;
        let exempted: Vec<String> =
            matched.minus(restricted).iter().map(|i| catalog.services[i as usize].name.to_string()).collect();
        let restricted_names: Vec<String> =
            restricted.iter().map(|i| catalog.services[i as usize].name.to_string()).collect();
        let modes: Vec<PhaseMode> = spec.phases.iter().map(|p| p.mode).collect();
        let mut affected = Vec::new();
        let mut untouched = Vec::new();
        let mut summary = PreviewSummary::default();
        for sub in self.tenant_subscriptions(&spec.tenant).await? {
            let covered =
                spec.scope.subscriptions.contains(&sub.id) || spec.scope.units.iter().any(|u| sub.unit.is_within(u));
            if !covered {
                untouched.push(Untouched { subscription: sub.id, unit: sub.unit.to_string() });
                continue;
            }
            // The services it uses that the order restricts (all of them if
            // the subscription lists none).
            let services: Vec<&String> = restricted_names
                .iter()
                .filter(|name| sub.services.is_empty() || sub.services.iter().any(|s| s.as_str() == name.as_str()))
                .collect();
            if services.is_empty() {
                untouched.push(Untouched { subscription: sub.id, unit: sub.unit.to_string() });
                continue;
            }
            let per_phase: BTreeMap<String, Vec<ActionClass>> =
                modes.iter().map(|m| (m.as_str().to_owned(), denied(*m))).collect();
            *summary.by_unit.entry(sub.unit.to_string()).or_default() += 1;
            let mut families: Vec<String> = services.iter().map(|s| family(s)).collect();
            families.dedup();
            for f in families {
                *summary.by_family.entry(f).or_default() += 1;
            }
            for mode in &modes {
                if !denied(*mode).is_empty() {
                    *summary.by_phase.entry(mode.as_str().to_owned()).or_default() += 1;
                }
            }
            affected.push(Affected {
                subscription: sub.id,
                unit: sub.unit.to_string(),
                services: services.into_iter().map(|s| (s.clone(), per_phase.clone())).collect(),
            });
        }
        summary.affected_subscriptions = affected.len();
        summary.untouched_subscriptions = untouched.len();
        let content = serde_json::to_vec(&(&spec.tenant, &spec.phases, &affected, &untouched, &exempted))
            .map_err(|e| CoreError::Internal(e.to_string()))?;
        let hash = format!("sha256:{}", crate::hex(&Sha256::digest(&content)));
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
        let order =
            self.store.order(id).await?.ok_or_else(|| CoreError::NotFound { kind: "order", id: id.to_owned() })?;
        self.preview(&order.spec, Some(id)).await
    }

    /// The tenant's effective entitlements without and with the order, at
    /// each of its phase starts (or now, for phases begun): only changes.
    pub async fn diff(&self, spec: &OrderSpec, order: Option<&str>) -> Result<Diff, CoreError> {
        let preview = self.preview(spec, order).await?;
        let now = self.clock.now();
        let current = self.snapshot();
        let probe = |state: OrderState| Order {
            id: order.map_or_else(|| "ord-preview".to_owned(), str::to_owned),
            seq: i64::MAX / 2,
            spec: spec.clone(),
            created_at: now,
            lifted_at: None,
            lift_reason: None,
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
        let without = if order.is_some() { apply(OrderState::Rejected)? } else { (*current).clone() };
        let with = apply(OrderState::Approved)?;
        let mut changes = Vec::new();
        for sub in &preview.affected {
            for service in sub.services.keys() {
                for (i, phase) in spec.phases.iter().enumerate() {
                    // A phase already over by now changes nothing any more.
                    if spec.phases.get(i + 1).is_some_and(|next| next.start <= now) {
                        continue;
                    }
                    let at = phase.start.max(now);
                    if spec.end.is_some_and(|end| at >= end) {
                        continue;
                    }
                    let classes = |snapshot: &verdict_engine::Snapshot| -> Vec<ActionClass> {
                        ActionClass::ALL
                            .into_iter()
                            .filter(|c| !snapshot.decide(&sub.subscription, service, c.as_str(), at).allowed)
                            .collect()
                    };
                    let (before, after) = (classes(&without), classes(&with));
                    if before != after {
                        changes.push(Difference {
                            subscription: sub.subscription.clone(),
                            service: service.clone(),
                            from: at,
                            phase: phase.mode,
                            before,
                            after,
                        });
                    }
                }
            }
        }
        Ok(Diff {
            tenant: spec.tenant.clone(),
            subscriptions_compared: preview.summary.affected_subscriptions + preview.summary.untouched_subscriptions,
            changes,
        })
    }

    /// The diff of a stored order.
    pub async fn diff_order(&self, id: &str) -> Result<Diff, CoreError> {
        let order =
            self.store.order(id).await?.ok_or_else(|| CoreError::NotFound { kind: "order", id: id.to_owned() })?;
        self.diff(&order.spec, Some(id)).await
    }
}
