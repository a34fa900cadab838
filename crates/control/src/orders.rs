//! Orders: loading one directly, proposing one from a case, approving it
//! (with the supersession of the version it amends and its notice, in one
//! action), rejecting, lifting, guards, what an order covers, and logging
//! each order's end as it passes.

use std::collections::{BTreeSet, HashSet};
use std::sync::Arc;

use serde_json::json;
use verdict_engine::Change;
use verdict_model::{
    Approval, Guard, GuardOverride, Lifecycle, Order, OrderSpec, OrderState, OrderStatus, Rejection, Timestamp,
    UnitPath,
};
use verdict_store::{Op, Page, Reads};

use crate::cases::clause_in;
use crate::error::{ApprovalError, OrderError, Thing};
use crate::index::InventoryIndex;
use crate::ledger::{Prepared, Tx};
use crate::log::{Actor, Draft};
use crate::{Core, CoreError, Principal, new_id};

/// Approvers an order needs when its clause does not say.
pub const DEFAULT_APPROVALS: u32 = 2;

pub(crate) fn new_order_id() -> Result<String, CoreError> {
    new_id("ord-")
}

/// The customer kind of a tenant, as the log's public parts name it.
pub(crate) async fn customer_kind(reads: &mut dyn Reads, tenant: &str) -> Result<String, CoreError> {
    Ok(reads.tenant(tenant).await?.map(|t| t.kind.as_str().to_owned()).unwrap_or_default())
}

/// An order by id, read inside an action.
pub(crate) async fn order_in(reads: &mut dyn Reads, id: &str) -> Result<Order, CoreError> {
    reads.order(id).await?.ok_or_else(|| CoreError::NotFound { kind: Thing::Order, id: id.to_owned() })
}

/// A new order, next in sequence and in the log.
pub(crate) async fn new_order(
    tx: &mut Tx<'_>,
    id: String,
    spec: OrderSpec,
    lifecycle: Lifecycle,
) -> Result<Order, CoreError> {
    Ok(Order {
        id,
        seq: tx.store().max_order_seq().await? + 1,
        spec,
        created_at: tx.now(),
        lifted_at: None,
        lift_reason: None,
        superseded_by: None,
        retained: Vec::new(),
        log_index: Some(tx.next_index()),
        lifecycle,
    })
}

/// Every unit and subscription in an order's scope exists and belongs to
/// its tenant.
pub(crate) async fn check_scope(reads: &mut dyn Reads, spec: &OrderSpec) -> Result<(), CoreError> {
    if reads.tenant(&spec.tenant).await?.is_none() {
        return Err(CoreError::UnknownReference { kind: Thing::Tenant, id: spec.tenant.clone() });
    }
    let units: HashSet<UnitPath> = reads.units(&spec.tenant).await?.into_iter().collect();
    for unit in &spec.scope.units {
        if !units.contains(unit) {
            return Err(CoreError::UnknownReference { kind: Thing::Unit, id: format!("{}:{}", spec.tenant, unit) });
        }
    }
    for id in &spec.scope.subscriptions {
        match reads.subscription(id).await? {
            None => return Err(CoreError::UnknownReference { kind: Thing::Subscription, id: id.clone() }),
            Some(sub) if sub.tenant != spec.tenant => {
                return Err(OrderError::ScopeSpansTenants {
                    subscription: id.clone(),
                    belongs_to: sub.tenant,
                    order_tenant: spec.tenant.clone(),
                }
                .into());
            }
            Some(_) => {}
        }
    }
    Ok(())
}

/// The regions of the subscriptions an order's scope covers now, and how
/// many subscriptions that is, from the inventory index (which holds what
/// the store committed; the action holds the store's write lock).
pub(crate) fn coverage(index: &InventoryIndex, spec: &OrderSpec) -> (BTreeSet<String>, u64) {
    let mut regions = BTreeSet::new();
    let mut covered = 0u64;
    let Some(tenant) = index.tenant(&spec.tenant) else { return (regions, covered) };
    for (sub, _) in tenant.with_coverage(&spec.scope).filter(|(_, covered)| *covered) {
        covered += 1;
        let region = &tenant.regions()[sub.region as usize];
        if !region.is_empty() {
            regions.insert(region.clone());
        }
    }
    (regions, covered)
}

/// The public part of an order's entry: what kind of restriction, on which
/// service families, when, where, and on what kind of customer; never who.
pub(crate) async fn order_draft(tx: &mut Tx<'_>, kind: &'static str, order: &Order) -> Result<Draft, CoreError> {
    let spec = &order.spec;
    let (regions, covered) = coverage(&tx.inventory_index(), spec);
    let phases: Vec<_> = spec.phases.iter().map(|p| json!({"mode": p.mode, "start": p.start})).collect();
    let public = json!({
        "order": order.id,
        "clause": spec.clause,
        "restriction": "partial_suspension",
        "customer_kind": customer_kind(tx.store(), &spec.tenant).await?,
        "services": spec.services,
        "exempt": spec.exempt,
        "phases": phases,
        "end": spec.end,
        "scope": {"units": spec.scope.units.len(), "subscriptions_named": spec.scope.subscriptions.len(), "subscriptions_covered": covered},
        "territorial_scope": regions,
    });
    Ok(Draft::new(kind, public)
        .tenant(&spec.tenant)
        .subject(&order.id)
        .units(&spec.scope.units)
        .subscriptions(&spec.scope.subscriptions)
        .facts(json!({"title": spec.title, "seq": order.seq})))
}

/// Writes the lifting of `order` at the action's instant: refused if it is
/// not approved, already lifted or past its end.
pub(crate) async fn write_lift(
    tx: &mut Tx<'_>,
    actor: &Actor,
    mut order: Order,
    reason: &str,
    superseded_by: Option<&str>,
) -> Result<Order, CoreError> {
    let now = tx.now();
    let id = order.id.clone();
    if order.lifecycle.state != OrderState::Approved {
        return Err(CoreError::from(OrderError::NotApproved { id: id.to_string(), status: order.status_at(now) }));
    }
    if let Some(at) = order.lifted_at {
        return Err(CoreError::from(OrderError::AlreadyLifted { id: id.to_string(), at }));
    }
    if let Some(end) = order.spec.end.filter(|end| *end <= now) {
        return Err(CoreError::from(OrderError::Expired { id: id.to_string(), end }));
    }
    order.lifted_at = Some(now);
    order.lift_reason = Some(reason.to_owned());
    order.superseded_by = superseded_by.map(str::to_owned);
    let kind = customer_kind(tx.store(), &order.spec.tenant).await?;
    let mut public = json!({"order": id, "clause": order.spec.clause, "customer_kind": kind, "lifted": now});
    if let Some(by) = superseded_by {
        public["superseded_by"] = json!(by);
    }
    let draft =
        Draft::new("order.lifted", public).tenant(&order.spec.tenant).subject(&id).facts(json!({"reason": reason}));
    let change = Prepared {
        at: now,
        summary: json!({"order": id}),
        ops: vec![Op::LiftOrder {
            id: id.clone(),
            at: now,
            reason: reason.to_owned(),
            superseded_by: superseded_by.map(str::to_owned),
        }],
        changes: vec![Change::PutOrder(order.clone())],
        draft,
    };
    tx.write(actor, change).await?;
    Ok(order)
}

/// Lifts the version `new` replaces, if it still binds: part of the action
/// that makes `new` take effect.
pub(crate) async fn write_supersession(tx: &mut Tx<'_>, actor: &Actor, new: &Order) -> Result<(), CoreError> {
    let Some(old) = &new.lifecycle.supersedes else { return Ok(()) };
    let Some(old) = tx.store().order(old).await? else { return Ok(()) };
    // An old version that ended or was lifted meanwhile has nothing left
    // to supersede; the approval stands.
    if old.lifted_at.is_some() || !old.binding_at(tx.now()) || !old.is_effective() {
        return Ok(());
    }
    let reason = format!("superseded by {}", new.id);
    let id = new.id.clone();
    write_lift(tx, actor, old, &reason, Some(&id)).await?;
    Ok(())
}

impl Core {
    /// Records a new order in force, loaded directly by an admin. Every
    /// unit and subscription in its scope must exist and belong to the
    /// order's tenant.
    pub async fn create_order(&self, actor: &Actor, spec: OrderSpec) -> Result<(Order, u64), CoreError> {
        spec.validate(self.snapshot().catalog())?;
        let mut tx = self.begin().await?;
        check_scope(tx.store(), &spec).await?;
        let order = new_order(&mut tx, new_order_id()?, spec, Lifecycle::default()).await?;
        let mut draft = order_draft(&mut tx, "order.created", &order).await?;
        // Loaded directly, with no case and no approvers: the log says so in
        // public.
        if let Some(public) = draft.public.as_object_mut() {
            public.insert("direct".into(), json!(true));
        }
        let change = Prepared {
            at: tx.now(),
            summary: json!({"order": order.id, "clause": order.spec.clause}),
            ops: vec![Op::InsertOrder(order.clone())],
            changes: vec![Change::PutOrder(order.clone())],
            draft,
        };
        tx.write(actor, change).await?;
        let version = tx.commit().await?;
        Ok((order, version))
    }

    /// One order.
    pub async fn order(&self, id: &str) -> Result<Option<Order>, CoreError> {
        Ok(self.reads().await?.order(id).await?)
    }

    /// Orders newest first, optionally of one tenant and in one status now,
    /// up to `page.limit` of them after `page.after`.
    pub async fn orders(
        &self,
        tenant: Option<&str>,
        status: Option<OrderStatus>,
        page: &Page,
    ) -> Result<Vec<Order>, CoreError> {
        let now = self.now();
        let mut reads = self.reads().await?;
        let mut out = Vec::new();
        // Status depends on the time, so it is filtered here, reading the
        // store a bounded page at a time until the page is full.
        let mut scan = Page { after: page.after.clone(), limit: page.limit.clamp(1, 1000) };
        loop {
            let batch = reads.orders(tenant, &scan).await?;
            let done = batch.len() < scan.limit as usize;
            scan.after = batch.last().map(|o| o.id.clone());
            for order in batch {
                if status.is_none_or(|s| order.status_at(now) == s) {
                    out.push(order);
                    if out.len() == page.limit as usize {
                        return Ok(out);
                    }
                }
            }
            if done {
                return Ok(out);
            }
        }
    }

    pub(crate) async fn all_orders(&self, tenant: Option<&str>) -> Result<Vec<Order>, CoreError> {
        self.orders(tenant, None, &Page { after: None, limit: u32::MAX }).await
    }

    /// Lifts an order now; refuses one already lifted or past its end.
    pub async fn lift_order(&self, actor: &Actor, id: &str, reason: &str) -> Result<(Order, u64), CoreError> {
        if reason.trim().is_empty() {
            return Err(CoreError::Invalid(verdict_model::ModelError::Empty("reason (say why the order is lifted)")));
        }
        let mut tx = self.begin().await?;
        let order = order_in(tx.store(), id).await?;
        let order = write_lift(&mut tx, actor, order, reason, None).await?;
        let version = tx.commit().await?;
        Ok((order, version))
    }

    /// Proposes an order from a case. It has no effect until approved.
    pub async fn propose_order(&self, who: &Principal, spec: OrderSpec) -> Result<Order, CoreError> {
        spec.validate(self.snapshot().catalog())?;
        let Some(case_id) = spec.case_id.clone() else {
            return Err(CoreError::from(OrderError::CaseRequired));
        };
        if spec.skips_notice() && spec.emergency_reason.as_deref().is_none_or(|r| r.trim().is_empty()) {
            return Err(CoreError::from(OrderError::EmergencyReasonRequired));
        }
        let mut tx = self.begin().await?;
        let mut case = Core::open_case_for_change(&mut tx, &case_id).await?;
        if case.spec.tenant != spec.tenant {
            return Err(CoreError::from(OrderError::CaseTenantMismatch {
                case: case_id.to_string(),
                case_tenant: case.spec.tenant.clone(),
                tenant: spec.tenant.clone(),
            }));
        }
        if !case.spec.clauses.contains(&spec.clause) {
            return Err(CoreError::from(OrderError::ClauseNotInCase {
                case: case_id.to_string(),
                clauses: case.spec.clauses.clone(),
                clause: spec.clause.clone(),
            }));
        }
        let clause = clause_in(tx.store(), &spec.clause)
            .await?
            .ok_or_else(|| CoreError::UnknownReference { kind: Thing::Clause, id: spec.clause.clone() })?;
        check_scope(tx.store(), &spec).await?;
        if let Some(old) = &spec.amends {
            amendable(&mut tx, old, &spec).await?;
        }
        let kind = tx.store().tenant(&spec.tenant).await?.map(|t| t.kind);
        let required = kind
            .and_then(|k| clause.approvals_by_customer_kind.get(&k).copied())
            .or(clause.approvals_required)
            .unwrap_or(DEFAULT_APPROVALS);
        let now = tx.now();
        let lifecycle = Lifecycle {
            state: OrderState::Proposed,
            proposed_by: Some(who.name.clone()),
            approvals_required: required,
            supersedes: spec.amends.clone(),
            ..Lifecycle::default()
        };
        let order = new_order(&mut tx, new_order_id()?, spec, lifecycle).await?;
        let draft = order_draft(&mut tx, "order.proposed", &order).await?;
        let event = verdict_model::CaseEvent {
            seq: 0,
            at: now,
            actor: who.name.clone(),
            kind: "order_proposed".into(),
            body: json!({"order": order.id}),
        };
        case.updated_at = now;
        let change = Prepared {
            at: now,
            summary: json!({"order": order.id, "case": case.id}),
            ops: vec![
                Op::InsertOrder(order.clone()),
                Op::PutCase(case.clone()),
                Op::AddCaseEvent { case_id: case.id.clone(), event },
            ],
            changes: vec![],
            draft,
        };
        tx.write(&who.actor(), change).await?;
        tx.commit().await?;
        Ok(order)
    }

    /// Every guard.
    pub async fn guards(&self) -> Result<Vec<Guard>, CoreError> {
        Ok(self.reads().await?.guards().await?)
    }

    /// The guards an order with this body and preview would break: what an
    /// approval must override with a reason. Shown while drafting and
    /// beside the Approve button.
    pub async fn guards_broken(&self, spec: &OrderSpec, preview: &crate::Preview) -> Result<Vec<Guard>, CoreError> {
        let mut reads = self.reads().await?;
        let kind = reads.tenant(&spec.tenant).await?.map(|t| t.kind);
        let guards = reads.guards().await?;
        let broken = broken_guards(guards.clone(), kind, spec, preview)?;
        Ok(guards.into_iter().filter(|g| broken.contains(&g.id)).collect())
    }

    /// Declares (or replaces) a guard.
    pub async fn put_guard(&self, who: &Principal, guard: Guard) -> Result<Guard, CoreError> {
        guard.validate(&verdict_model::Catalog::builtin())?;
        let mut tx = self.begin().await?;
        if let Some(tenant) = &guard.tenant
            && tx.store().tenant(tenant).await?.is_none()
        {
            return Err(CoreError::UnknownReference { kind: Thing::Tenant, id: tenant.clone() });
        }
        let services: Vec<String> = guard.services.iter().map(ToString::to_string).collect();
        let draft = Draft::new(
            "guard.declared",
            json!({"guard": guard.id, "customer_kind": guard.customer_kind, "services": services,
                   "scoped": guard.tenant.is_some() || guard.subscription.is_some()}),
        )
        .facts(serde_json::to_value(&guard).map_err(|e| CoreError::Internal(e.to_string()))?);
        let draft = match &guard.tenant {
            Some(t) => draft.tenant(t),
            None => draft,
        };
        let change = Prepared {
            at: tx.now(),
            summary: json!({"guard": guard.id}),
            ops: vec![Op::PutGuard(guard.clone())],
            changes: vec![],
            draft,
        };
        tx.write(&who.actor(), change).await?;
        tx.commit().await?;
        Ok(guard)
    }

    /// Records an approval; the last required one makes the order take
    /// effect (from that instant, never earlier), lifts the version it
    /// amends and issues its notice — all one action.
    pub async fn approve_order(
        &self,
        who: &Principal,
        id: &str,
        preview_hash: Option<&str>,
        overrides: &[GuardOverride],
    ) -> Result<Order, CoreError> {
        let mut tx = self.begin().await?;
        let mut order = proposed_order(&mut tx, who, id, "approved").await?;
        if order.lifecycle.approvals.iter().any(|a| a.by == who.name) {
            return Err(CoreError::from(ApprovalError::AlreadyApproved { who: who.name.clone(), id: id.to_string() }));
        }
        // The approval is bound to what the approver saw. The preview reads
        // the inventory index, which holds exactly what the store committed
        // (this action holds the store's write lock).
        check_scope(tx.store(), &order.spec).await?;
        let preview = self.preview_of(&order.spec, Some(id))?;
        match preview_hash {
            None => {
                return Err(CoreError::from(ApprovalError::PreviewRequired { id: id.to_string() }));
            }
            Some(hash) if hash != preview.hash => {
                return Err(CoreError::from(ApprovalError::PreviewStale { id: id.to_string() }));
            }
            Some(_) => {}
        }
        if let Some(o) = overrides.iter().find(|o| o.reason.trim().is_empty()) {
            return Err(CoreError::from(ApprovalError::OverrideReasonRequired { guard: o.guard.clone() }));
        }
        let kind = tx.store().tenant(&order.spec.tenant).await?.map(|t| t.kind);
        let guards = tx.store().guards().await?;
        let broken = broken_guards(guards, kind, &order.spec, &preview)?;
        let unexcused: Vec<&str> =
            broken.iter().filter(|g| !overrides.iter().any(|o| &o.guard == *g)).map(String::as_str).collect();
        if !unexcused.is_empty() {
            return Err(CoreError::from(ApprovalError::GuardViolated {
                id: id.to_string(),
                guards: unexcused.iter().map(|g| g.to_string()).collect(),
            }));
        }
        let overrides: Vec<GuardOverride> = overrides.iter().filter(|o| broken.contains(&o.guard)).cloned().collect();
        let now = tx.now();
        order.lifecycle.approvals.push(Approval {
            by: who.name.clone(),
            at: now,
            preview_hash: Some(preview.hash.clone()),
            overrides: overrides.clone(),
        });
        let complete = order.lifecycle.approvals.len() as u32 >= order.lifecycle.approvals_required;
        let (kind, changes) = if complete {
            order.lifecycle.state = OrderState::Approved;
            order.lifecycle.approved_at = Some(now);
            ("order.approved", vec![Change::PutOrder(order.clone())])
        } else {
            ("order.approval", vec![])
        };
        let overridden: Vec<&str> = overrides.iter().map(|o| o.guard.as_str()).collect();
        let public = json!({
            "order": id,
            "approvals": order.lifecycle.approvals.len(),
            "approvals_required": order.lifecycle.approvals_required,
            "effective_from": order.lifecycle.approved_at,
            "preview_hash": preview.hash,
            "guards_overridden": overridden,
        });
        let draft =
            Draft::new(kind, public).tenant(&order.spec.tenant).subject(id).facts(json!({"overrides": overrides}));
        let change = Prepared {
            at: now,
            summary: json!({"order": id, "approved": complete}),
            ops: vec![Op::SetOrderLifecycle { id: id.to_owned(), lifecycle: order.lifecycle.clone() }],
            changes,
            draft,
        };
        tx.write(&who.actor(), change).await?;
        if complete {
            // An amendment takes the old version's place: it is lifted and
            // stays in history.
            write_supersession(&mut tx, &who.actor(), &order).await?;
            crate::notices::write_notice(&mut tx, &order, verdict_model::NoticeKind::Restriction, None).await?;
        }
        tx.commit().await?;
        Ok(order)
    }

    /// Refuses a proposed order, with a reason; it never takes effect.
    pub async fn reject_order(&self, who: &Principal, id: &str, reason: &str) -> Result<Order, CoreError> {
        if reason.trim().is_empty() {
            return Err(CoreError::Invalid(verdict_model::ModelError::Empty("reason (say why the order is rejected)")));
        }
        let mut tx = self.begin().await?;
        let mut order = proposed_order(&mut tx, who, id, "rejected").await?;
        let now = tx.now();
        order.lifecycle.state = OrderState::Rejected;
        order.lifecycle.rejection = Some(Rejection { by: who.name.clone(), at: now, reason: reason.to_owned() });
        let draft = Draft::new("order.rejected", json!({"order": id}))
            .tenant(&order.spec.tenant)
            .subject(id)
            .facts(json!({"reason": reason}));
        let change = Prepared {
            at: now,
            summary: json!({"order": id}),
            ops: vec![Op::SetOrderLifecycle { id: id.to_owned(), lifecycle: order.lifecycle.clone() }],
            changes: vec![],
            draft,
        };
        tx.write(&who.actor(), change).await?;
        tx.commit().await?;
        Ok(order)
    }

    /// Logs the end of every order whose end has passed; returns how many.
    pub async fn log_expiries(&self) -> Result<usize, CoreError> {
        let mut logged = 0;
        // A write transaction only when an end is due: this runs every few
        // seconds.
        while self.next_expiry().await.is_some_and(|end| end <= self.now()) {
            let mut tx = self.begin().await?;
            let Some((end, id)) = tx.first_expiry_due() else { break };
            tx.expiry_logged(id.clone());
            if let Some(order) = tx.store().order(&id).await? {
                let kind = customer_kind(tx.store(), &order.spec.tenant).await?;
                let draft = Draft::new(
                    "order.expired",
                    json!({"order": id, "clause": order.spec.clause, "customer_kind": kind, "end": end}),
                )
                .tenant(&order.spec.tenant)
                .subject(&id);
                let change =
                    Prepared { at: tx.now(), summary: json!({"order": id}), ops: vec![], changes: vec![], draft };
                tx.write(&Actor::system(), change).await?;
                logged += 1;
            }
            tx.commit().await?;
        }
        Ok(logged)
    }

    /// Logs each order's end as it comes, for as long as the task runs.
    pub async fn log_expiries_forever(self: Arc<Core>) {
        loop {
            if let Err(e) = self.log_expiries().await {
                tracing::error!(error = %e, "cannot log the end of an order; retrying");
            }
            let now = self.clock.now().seconds();
            // Wake at the next end, and at least every few seconds, since
            // an order created meanwhile may end sooner.
            let wait = match self.next_expiry().await {
                Some(end) => (end.seconds() - now).clamp(0, 5),
                None => 5,
            };
            tokio::time::sleep(std::time::Duration::from_millis(wait as u64 * 1000 + 50)).await;
        }
    }

    /// When the next order ends, if any order's end is still to be logged.
    pub async fn next_expiry(&self) -> Option<Timestamp> {
        self.writer.lock().await.expiries.first().map(|(end, _)| *end)
    }
}

/// The guards (of those given) an order with this preview would break.
fn broken_guards(
    guards: Vec<Guard>,
    kind: Option<verdict_model::TenantKind>,
    spec: &OrderSpec,
    preview: &crate::Preview,
) -> Result<Vec<String>, CoreError> {
    let catalog = verdict_model::Catalog::builtin();
    let mut broken = Vec::new();
    for guard in guards {
        if guard.tenant.as_ref().is_some_and(|t| *t != spec.tenant)
            || guard.customer_kind.is_some_and(|k| Some(k) != kind)
        {
            continue;
        }
        let protected = guard.validate(&catalog)?;
        let hit = preview.affected.iter().any(|a| {
            guard.subscription.as_ref().is_none_or(|s| *s == a.subscription)
                && a.services.iter().any(|(service, phases)| {
                    catalog.index_of(service).is_some_and(|i| protected.contains(i))
                        && phases.values().any(|denied| !denied.is_empty())
                })
        });
        if hit {
            broken.push(guard.id);
        }
    }
    Ok(broken)
}

/// An order may be amended while it is in force: approved, neither lifted
/// nor ended, and of the same tenant.
async fn amendable(tx: &mut Tx<'_>, id: &str, spec: &OrderSpec) -> Result<Order, CoreError> {
    let old = tx
        .store()
        .order(id)
        .await?
        .ok_or_else(|| CoreError::UnknownReference { kind: Thing::Order, id: id.to_owned() })?;
    let now = tx.now();
    if !old.is_effective() || !old.binding_at(now) {
        return Err(CoreError::from(OrderError::NotInForce { id: id.to_string(), status: old.status_at(now) }));
    }
    if old.spec.tenant != spec.tenant {
        return Err(CoreError::from(OrderError::AmendmentChangesTenant {
            id: id.to_string(),
            tenant: old.spec.tenant.clone(),
            given: spec.tenant.clone(),
        }));
    }
    Ok(old)
}

/// A proposed order that `who` (not its proposer) may approve or reject.
async fn proposed_order(tx: &mut Tx<'_>, who: &Principal, id: &str, verb: &'static str) -> Result<Order, CoreError> {
    let order = order_in(tx.store(), id).await?;
    if order.lifecycle.state != OrderState::Proposed {
        return Err(CoreError::from(ApprovalError::NotProposed {
            id: id.to_string(),
            status: order.status_at(tx.now()),
            verb,
        }));
    }
    if order.lifecycle.proposed_by.as_deref() == Some(who.name.as_str()) {
        return Err(CoreError::from(ApprovalError::SelfApproval { who: who.name.clone(), id: id.to_string(), verb }));
    }
    Ok(order)
}
