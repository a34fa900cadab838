//! Due process: clauses, review cases with their evidence and timeline, and
//! orders proposed from a case that take effect only when enough distinct
//! approvers, none of them the proposer, approve. Every transition is one
//! store transaction and one log entry with its actor.

use serde_json::json;
use verdict_engine::Change;
use verdict_model::{
    Approval, Case, CaseEvent, CaseSpec, CaseStatus, Clause, Evidence, Guard, GuardOverride, Lifecycle, Order,
    OrderSpec, OrderState, Rejection, Role,
};
use verdict_store::Op;

use crate::log::Draft;
use crate::{Core, CoreError, Prepared, Principal, new_id, new_order_id};

/// Approvers an order needs when its clause does not say.
pub const DEFAULT_APPROVALS: u32 = 2;

/// One event on a case: its log entry's type and public part, and the
/// timeline entry's kind and details (which the private record keeps).
struct CaseChange {
    log_type: &'static str,
    public: serde_json::Value,
    event_kind: &'static str,
    body: serde_json::Value,
}

fn conflict(code: &'static str, message: String) -> CoreError {
    CoreError::IllegalTransition { code, message }
}

impl Core {
    // ---- clauses -----------------------------------------------------------

    /// Every version of every clause.
    pub async fn clauses(&self) -> Result<Vec<Clause>, CoreError> {
        Ok(self.store.clauses().await?)
    }

    /// The newest version of clause `id`.
    pub async fn clause(&self, id: &str) -> Result<Option<Clause>, CoreError> {
        Ok(self.store.clauses().await?.into_iter().filter(|c| c.id == id).max_by_key(|c| c.version))
    }

    /// Publishes a clause, as version 1 or the next version of its id.
    pub async fn publish_clause(&self, who: &Principal, mut clause: Clause) -> Result<Clause, CoreError> {
        clause.validate()?;
        let w = self.writer.lock().await;
        clause.version = self.clause(&clause.id).await?.map_or(1, |c| c.version + 1);
        clause.created_at = self.clock.now();
        // Clauses are the provider's public terms: the whole text is public.
        let draft = Draft::new(
            "clause.published",
            json!({"clause": clause.id, "version": clause.version, "title": clause.title, "text": clause.text,
                   "approvals_required": clause.approvals_required}),
        );
        let change = Prepared {
            at: clause.created_at,
            summary: json!({"clause": clause.id, "version": clause.version}),
            ops: vec![Op::PutClause(clause.clone())],
            changes: vec![],
            draft,
        };
        self.commit(w, &who.actor(), change, &|_| ()).await?;
        Ok(clause)
    }

    // ---- cases -------------------------------------------------------------

    /// One case and its timeline.
    pub async fn case(&self, id: &str) -> Result<(Case, Vec<CaseEvent>), CoreError> {
        let case = self.store.case(id).await?.ok_or_else(|| CoreError::NotFound { kind: "case", id: id.to_owned() })?;
        let events = self.store.case_events(id).await?;
        Ok((case, events))
    }

    /// Cases, newest first.
    pub async fn cases(&self, tenant: Option<&str>) -> Result<Vec<Case>, CoreError> {
        Ok(self.store.cases(tenant, 1000).await?)
    }

    /// Opens a case against units of a tenant under named clauses.
    pub async fn open_case(&self, who: &Principal, spec: CaseSpec) -> Result<Case, CoreError> {
        spec.validate()?;
        let w = self.writer.lock().await;
        let Some(tenant) = self.store.tenant(&spec.tenant).await? else {
            return Err(CoreError::UnknownReference { kind: "tenant", id: spec.tenant });
        };
        let units = self.store.units(&spec.tenant).await?;
        if let Some(unit) = spec.units.iter().find(|u| !units.contains(u)) {
            return Err(CoreError::UnknownReference { kind: "unit", id: format!("{}:{unit}", spec.tenant) });
        }
        for clause in &spec.clauses {
            if self.clause(clause).await?.is_none() {
                return Err(CoreError::UnknownReference { kind: "clause", id: clause.clone() });
            }
        }
        let now = self.clock.now();
        let case = Case {
            id: new_id("case-")?,
            spec,
            status: CaseStatus::Open,
            assignee: None,
            opened_by: who.name.clone(),
            opened_at: now,
            updated_at: now,
        };
        let draft = Draft::new(
            "case.opened",
            json!({"case": case.id, "source_type": case.spec.source_type.as_str(),
                   "customer_kind": tenant.kind.as_str(), "clauses": case.spec.clauses, "units": case.spec.units.len()}),
        )
        .tenant(&case.spec.tenant)
        .subject(&case.id)
        .units(&case.spec.units)
        .facts(json!({"title": case.spec.title}));
        let event = CaseEvent {
            seq: 0,
            at: now,
            actor: who.name.clone(),
            kind: "opened".into(),
            body: json!({"title": case.spec.title}),
        };
        let change = Prepared {
            at: now,
            summary: json!({"case": case.id}),
            ops: vec![Op::PutCase(case.clone()), Op::AddCaseEvent { case_id: case.id.clone(), event }],
            changes: vec![],
            draft,
        };
        self.commit(w, &who.actor(), change, &|_| ()).await?;
        Ok(case)
    }

    /// Records one event on a case (and the case as it is after it) as one
    /// transaction and one log entry.
    async fn case_event(
        &self,
        w: tokio::sync::MutexGuard<'_, crate::Writer>,
        who: &Principal,
        mut case: Case,
        what: CaseChange,
    ) -> Result<(Case, CaseEvent), CoreError> {
        let CaseChange { log_type, public, event_kind, body } = what;
        let now = self.clock.now();
        case.updated_at = now;
        let event = CaseEvent { seq: 0, at: now, actor: who.name.clone(), kind: event_kind.into(), body: body.clone() };
        let mut public = public;
        if let Some(map) = public.as_object_mut() {
            map.insert("case".into(), json!(case.id));
        }
        let draft = Draft::new(log_type, public).tenant(&case.spec.tenant).subject(&case.id).facts(body);
        let change = Prepared {
            at: now,
            summary: json!({"case": case.id, "event": event_kind}),
            ops: vec![Op::PutCase(case.clone()), Op::AddCaseEvent { case_id: case.id.clone(), event: event.clone() }],
            changes: vec![],
            draft,
        };
        self.commit(w, &who.actor(), change, &|_| ()).await?;
        let events = self.store.case_events(&case.id).await?;
        let event = events.into_iter().last().unwrap_or(event);
        Ok((case, event))
    }

    async fn open_case_for_change(&self, id: &str) -> Result<Case, CoreError> {
        let case = self.store.case(id).await?.ok_or_else(|| CoreError::NotFound { kind: "case", id: id.to_owned() })?;
        if case.status == CaseStatus::Closed {
            return Err(conflict(
                "case-closed",
                format!("case {id} is closed; reopen it (status \"open\") before adding to it"),
            ));
        }
        Ok(case)
    }

    /// Adds evidence (never customer content; see [`Evidence::from_json`]).
    pub async fn add_evidence(
        &self,
        who: &Principal,
        case_id: &str,
        evidence: Evidence,
    ) -> Result<CaseEvent, CoreError> {
        let w = self.writer.lock().await;
        let case = self.open_case_for_change(case_id).await?;
        let body = serde_json::to_value(&evidence).map_err(|e| CoreError::Internal(e.to_string()))?;
        let public = json!({"evidence_kind": evidence.kind()});
        let what = CaseChange { log_type: "evidence.added", public, event_kind: "evidence", body };
        Ok(self.case_event(w, who, case, what).await?.1)
    }

    /// Adds a comment to a case's timeline.
    pub async fn comment_case(&self, who: &Principal, case_id: &str, text: &str) -> Result<CaseEvent, CoreError> {
        if text.trim().is_empty() || text.len() > 10_000 {
            return Err(CoreError::Invalid(verdict_model::ModelError::InvalidCase(
                "a comment is between 1 and 10,000 bytes of text".into(),
            )));
        }
        let w = self.writer.lock().await;
        let case = self.open_case_for_change(case_id).await?;
        let what = CaseChange {
            log_type: "case.commented",
            public: json!({}),
            event_kind: "comment",
            body: json!({"text": text}),
        };
        Ok(self.case_event(w, who, case, what).await?.1)
    }

    /// Assigns a case to an analyst.
    pub async fn assign_case(&self, who: &Principal, case_id: &str, assignee: &str) -> Result<Case, CoreError> {
        let w = self.writer.lock().await;
        let mut case = self.open_case_for_change(case_id).await?;
        let users = self.store.users().await?;
        match users.iter().find(|(u, _)| u.name == assignee && u.revoked_at.is_none()) {
            None => return Err(CoreError::UnknownReference { kind: "user", id: assignee.to_owned() }),
            Some((u, _)) if !u.roles.contains(&Role::Analyst) => {
                return Err(conflict(
                    "assignee-not-analyst",
                    format!(
                        "{assignee} is a {} user; cases are assigned to analysts",
                        verdict_model::roles_text(&u.roles)
                    ),
                ));
            }
            Some(_) => {}
        }
        case.assignee = Some(assignee.to_owned());
        let body = json!({"assignee": assignee});
        let what = CaseChange { log_type: "case.assigned", public: json!({}), event_kind: "assigned", body };
        Ok(self.case_event(w, who, case, what).await?.0)
    }

    /// Moves a case along open → under review → decided → closed, or
    /// reopens it.
    pub async fn set_case_status(
        &self,
        who: &Principal,
        case_id: &str,
        status: CaseStatus,
        reason: Option<&str>,
    ) -> Result<Case, CoreError> {
        let w = self.writer.lock().await;
        let mut case =
            self.store.case(case_id).await?.ok_or_else(|| CoreError::NotFound { kind: "case", id: case_id.into() })?;
        let from = case.status;
        if !from.can_become(status) {
            return Err(conflict(
                "illegal-case-transition",
                format!(
                    "case {case_id} is {from} and cannot become {status}; cases go open → under_review → decided → closed, and decided or closed may reopen"
                ),
            ));
        }
        case.status = status;
        let body = json!({"from": from.as_str(), "to": status.as_str(), "reason": reason});
        let public = json!({"from": from.as_str(), "to": status.as_str()});
        let what = CaseChange { log_type: "case.status_changed", public, event_kind: "status", body };
        Ok(self.case_event(w, who, case, what).await?.0)
    }

    // ---- orders: proposal and approval ---------------------------------------

    /// Proposes an order from a case. It has no effect until approved.
    pub async fn propose_order(&self, who: &Principal, spec: OrderSpec) -> Result<Order, CoreError> {
        spec.validate(self.snapshot().catalog())?;
        let Some(case_id) = spec.case_id.clone() else {
            return Err(conflict("case-required", "an order is proposed from a case: give case_id".into()));
        };
        if spec.skips_notice() && spec.emergency_reason.as_deref().is_none_or(|r| r.trim().is_empty()) {
            return Err(conflict(
                "emergency-reason-required",
                "the first phase restricts at once, skipping notice; say why in emergency_reason (the notice shows it)"
                    .into(),
            ));
        }
        let w = self.writer.lock().await;
        let case = self.open_case_for_change(&case_id).await?;
        if case.spec.tenant != spec.tenant {
            return Err(conflict(
                "case-tenant-mismatch",
                format!("case {case_id} is about tenant {}, not {}", case.spec.tenant, spec.tenant),
            ));
        }
        if !case.spec.clauses.contains(&spec.clause) {
            return Err(conflict(
                "clause-not-in-case",
                format!("case {case_id} concerns {:?}, not clause {}", case.spec.clauses, spec.clause),
            ));
        }
        let clause = self
            .clause(&spec.clause)
            .await?
            .ok_or_else(|| CoreError::UnknownReference { kind: "clause", id: spec.clause.clone() })?;
        self.check_order_scope(&spec).await?;
        if let Some(old) = &spec.amends {
            self.amendable(old, &spec).await?;
        }
        let kind = self.store.tenant(&spec.tenant).await?.map(|t| t.kind);
        let required = kind
            .and_then(|k| clause.approvals_by_customer_kind.get(&k).copied())
            .or(clause.approvals_required)
            .unwrap_or(DEFAULT_APPROVALS);
        let now = self.clock.now();
        let supersedes = spec.amends.clone();
        let lifecycle = Lifecycle {
            state: OrderState::Proposed,
            proposed_by: Some(who.name.clone()),
            approvals_required: required,
            supersedes,
            ..Lifecycle::default()
        };
        let order = self.new_order(new_order_id()?, spec, now, lifecycle).await?;
        let draft = self.order_draft("order.proposed", &order).await?;
        let event = CaseEvent {
            seq: 0,
            at: now,
            actor: who.name.clone(),
            kind: "order_proposed".into(),
            body: json!({"order": order.id}),
        };
        let mut case = case;
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
        self.commit(w, &who.actor(), change, &|_| ()).await?;
        Ok(order)
    }

    /// Every guard.
    pub async fn guards(&self) -> Result<Vec<Guard>, CoreError> {
        Ok(self.store.guards().await?)
    }

    /// Declares (or replaces) a guard.
    pub async fn put_guard(&self, who: &Principal, guard: Guard) -> Result<Guard, CoreError> {
        guard.validate(&verdict_model::Catalog::builtin())?;
        let w = self.writer.lock().await;
        if let Some(tenant) = &guard.tenant
            && !self.tenant_exists(tenant).await?
        {
            return Err(CoreError::UnknownReference { kind: "tenant", id: tenant.clone() });
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
            at: self.clock.now(),
            summary: json!({"guard": guard.id}),
            ops: vec![Op::PutGuard(guard.clone())],
            changes: vec![],
            draft,
        };
        self.commit(w, &who.actor(), change, &|_| ()).await?;
        Ok(guard)
    }

    /// The guards an order with this preview would break.
    pub async fn broken_guards(&self, spec: &OrderSpec, preview: &crate::Preview) -> Result<Vec<String>, CoreError> {
        let catalog = verdict_model::Catalog::builtin();
        let kind = self.store.tenant(&spec.tenant).await?.map(|t| t.kind);
        let mut broken = Vec::new();
        for guard in self.store.guards().await? {
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

    /// An order may be amended while it is in force: approved, neither
    /// lifted nor ended, and of the same tenant.
    async fn amendable(&self, id: &str, spec: &OrderSpec) -> Result<Order, CoreError> {
        let old = self
            .store
            .order(id)
            .await?
            .ok_or_else(|| CoreError::UnknownReference { kind: "order", id: id.to_owned() })?;
        let now = self.clock.now();
        if !old.is_effective() || !old.binding_at(now) {
            return Err(conflict(
                "order-not-in-force",
                format!(
                    "order {id} is not in force ({}, {:?}); only an order in force can be amended",
                    old.lifecycle.state.as_str(),
                    old.status_at(now)
                ),
            ));
        }
        if old.spec.tenant != spec.tenant {
            return Err(conflict(
                "case-tenant-mismatch",
                format!("order {id} is for tenant {}, not {}", old.spec.tenant, spec.tenant),
            ));
        }
        Ok(old)
    }

    async fn proposed_order(&self, who: &Principal, id: &str, verb: &str) -> Result<Order, CoreError> {
        let order =
            self.store.order(id).await?.ok_or_else(|| CoreError::NotFound { kind: "order", id: id.to_owned() })?;
        if order.lifecycle.state != OrderState::Proposed {
            return Err(conflict(
                "order-not-proposed",
                format!(
                    "order {id} is {}, not proposed; only a proposed order can be {verb}",
                    order.lifecycle.state.as_str()
                ),
            ));
        }
        if order.lifecycle.proposed_by.as_deref() == Some(who.name.as_str()) {
            return Err(conflict(
                "self-approval",
                format!("{} proposed order {id} and so cannot be the one who has it {verb}", who.name),
            ));
        }
        Ok(order)
    }

    /// Records an approval; the last required one makes the order take
    /// effect (from that instant, never earlier).
    pub async fn approve_order(
        &self,
        who: &Principal,
        id: &str,
        preview_hash: Option<&str>,
        overrides: &[GuardOverride],
    ) -> Result<Order, CoreError> {
        let w = self.writer.lock().await;
        let mut order = self.proposed_order(who, id, "approved").await?;
        if order.lifecycle.approvals.iter().any(|a| a.by == who.name) {
            return Err(conflict(
                "already-approved",
                format!("{} already approved order {id}; it needs approvals from distinct approvers", who.name),
            ));
        }
        // The approval is bound to what the approver saw.
        let preview = self.preview(&order.spec, Some(id)).await?;
        match preview_hash {
            None => {
                return Err(conflict(
                    "preview-required",
                    format!(
                        "approve with the preview's hash: GET /v1/orders/{id}/preview, check it, and send its 'hash' as preview_hash"
                    ),
                ));
            }
            Some(hash) if hash != preview.hash => {
                return Err(conflict(
                    "preview-stale",
                    format!(
                        "what order {id} would do has changed since that preview (the inventory or the order moved on); preview it again and approve what you see"
                    ),
                ));
            }
            Some(_) => {}
        }
        if let Some(o) = overrides.iter().find(|o| o.reason.trim().is_empty()) {
            return Err(conflict(
                "override-reason-required",
                format!("the override of guard {} gives no reason", o.guard),
            ));
        }
        let broken = self.broken_guards(&order.spec, &preview).await?;
        let unexcused: Vec<&String> = broken.iter().filter(|g| !overrides.iter().any(|o| &o.guard == *g)).collect();
        if !unexcused.is_empty() {
            let names: Vec<&str> = unexcused.iter().map(|g| g.as_str()).collect();
            return Err(conflict(
                "guard-violated",
                format!(
                    "order {id} would restrict what guard(s) {} protect; an approver may override each with a reason (overrides: [{{\"guard\": …, \"reason\": …}}])",
                    names.join(", ")
                ),
            ));
        }
        let overrides: Vec<GuardOverride> = overrides.iter().filter(|o| broken.contains(&o.guard)).cloned().collect();
        let now = self.clock.now();
        order.lifecycle.approvals.push(Approval {
            by: who.name.clone(),
            at: now,
            preview_hash: Some(preview.hash.clone()),
            overrides: overrides.to_vec(),
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
        self.commit(w, &who.actor(), change, &|_| ()).await?;
        if complete {
            if let Some(end) = order.spec.end {
                self.writer.lock().await.expiries.insert((end, order.id.clone()));
            }
            // An amendment takes the old version's place: it is lifted and
            // stays in history.
            if let Some(old) = &order.lifecycle.supersedes
                && self.store.order(old).await?.is_some_and(|o| o.lifted_at.is_none())
            {
                self.lift_order(&who.actor(), old, &format!("superseded by {} (approved amendment)", order.id)).await?;
            }
            // This order's notice; the scan of all orders for missing
            // notices runs only on start.
            self.issue_notice(&order).await?;
        }
        Ok(order)
    }

    /// Refuses a proposed order, with a reason; it never takes effect.
    pub async fn reject_order(&self, who: &Principal, id: &str, reason: &str) -> Result<Order, CoreError> {
        if reason.trim().is_empty() {
            return Err(CoreError::Invalid(verdict_model::ModelError::Empty("reason (say why the order is rejected)")));
        }
        let w = self.writer.lock().await;
        let mut order = self.proposed_order(who, id, "rejected").await?;
        let now = self.clock.now();
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
        self.commit(w, &who.actor(), change, &|_| ()).await?;
        Ok(order)
    }
}

/// How a tenant contests an order; every restriction notice says it.
fn how_to_appeal(order: &str) -> String {
    format!(
        "You may appeal within 30 days: a user of your tenant posts a statement to /v1/orders/{order}/appeals \
         (verdict appeal file {order}). A reviewer who neither proposed nor approved the order decides: uphold, \
         amend or lift, with reasons, in a further notice."
    )
}

impl Core {
    // ---- notices -------------------------------------------------------------

    /// Notices, newest first, optionally of one tenant.
    pub async fn notices(&self, tenant: Option<&str>) -> Result<Vec<verdict_model::Notice>, CoreError> {
        Ok(self.store.notices(tenant).await?)
    }

    /// One notice.
    pub async fn notice(&self, id: &str) -> Result<verdict_model::Notice, CoreError> {
        self.store.notice(id).await?.ok_or_else(|| CoreError::NotFound { kind: "notice", id: id.to_owned() })
    }

    /// Issues the restriction notice of every approved order proposed from a
    /// case that has none yet. Runs after each approval and on start, so a
    /// crash between an approval and its notice leaves no order unnoticed.
    pub async fn issue_pending_notices(&self) -> Result<Vec<verdict_model::Notice>, CoreError> {
        let noticed: std::collections::HashSet<String> =
            self.store.notices(None).await?.into_iter().map(|n| n.order).collect();
        let mut issued = Vec::new();
        for order in self.all_orders(None).await? {
            // An amendment made on appeal is noticed by the appeal's outcome
            // notice (its only approval is the reviewer's decision).
            let on_appeal = order.lifecycle.supersedes.is_some()
                && order.lifecycle.approvals.len() == 1
                && order.lifecycle.approvals[0].by == order.lifecycle.proposed_by.clone().unwrap_or_default();
            let due = order.lifecycle.state == OrderState::Approved
                && order.lifecycle.proposed_by.is_some()
                && !on_appeal
                && !noticed.contains(&order.id);
            if due {
                issued.push(self.issue_notice(&order).await?);
            }
        }
        Ok(issued)
    }

    async fn issue_notice(&self, order: &Order) -> Result<verdict_model::Notice, CoreError> {
        let w = self.writer.lock().await;
        if self.store.notices(Some(&order.spec.tenant)).await?.iter().any(|n| n.order == order.id) {
            return Err(conflict("notice-exists", format!("order {} already has its notice", order.id)));
        }
        self.issue(w, order, verdict_model::NoticeKind::Restriction, None).await
    }

    /// The statement of reasons for `order` as it stands.
    async fn statement_for(&self, order: &Order) -> Result<verdict_model::StatementOfReasons, CoreError> {
        let spec = &order.spec;
        let clause = self
            .clause(&spec.clause)
            .await?
            .ok_or_else(|| CoreError::UnknownReference { kind: "clause", id: spec.clause.clone() })?;
        let (case, events) = match &spec.case_id {
            Some(id) => {
                let (case, events) = self.case(id).await?;
                (Some(case), events)
            }
            None => (None, Vec::new()),
        };
        let mut facts = case.as_ref().map(|c| c.spec.title.clone()).unwrap_or_default();
        for event in events.iter().filter(|e| e.kind == "evidence") {
            let line = match event.body["kind"].as_str() {
                Some("external_document") => format!(
                    "Document {} (SHA-256 {}): {}",
                    event.body["address"].as_str().unwrap_or(""),
                    event.body["sha256"].as_str().unwrap_or(""),
                    event.body["summary"].as_str().unwrap_or("")
                ),
                Some("metadata_finding") => format!(
                    "Metadata: {} ({}; {})",
                    event.body["summary"].as_str().unwrap_or(""),
                    event.body["figures"],
                    event.body["method"].as_str().unwrap_or("")
                ),
                _ => continue,
            };
            facts.push_str("\n- ");
            facts.push_str(&line);
        }
        let (regions, _) = self.coverage(spec).await?;
        let source_type = case.as_ref().map_or(verdict_model::SourceType::InternalSignal, |c| c.spec.source_type);
        Ok(verdict_model::StatementOfReasons {
            restriction: "partial_suspension".into(),
            scope: spec.scope.clone(),
            services: spec.services.clone(),
            exempt: spec.exempt.clone(),
            phases: spec.phases.clone(),
            effective_from: order.lifecycle.approved_at.unwrap_or(order.created_at),
            end: spec.end,
            territorial_scope: regions.into_iter().collect(),
            facts,
            ground: verdict_model::Ground {
                clause: clause.id.clone(),
                version: clause.version,
                title: clause.title.clone(),
                text: clause.text.clone(),
            },
            source_type,
            automated_detection: source_type == verdict_model::SourceType::InternalSignal,
            automated_decision: false,
            emergency_reason: spec.emergency_reason.clone(),
            guard_overrides: order.lifecycle.approvals.iter().flat_map(|a| a.overrides.clone()).collect(),
            how_to_appeal: how_to_appeal(&order.id),
        })
    }

    /// Issues a notice about `order` to its tenant: stored, logged, and
    /// queued for delivery in one transaction.
    async fn issue(
        &self,
        w: tokio::sync::MutexGuard<'_, crate::Writer>,
        order: &Order,
        kind: verdict_model::NoticeKind,
        appeal: Option<verdict_model::Appeal>,
    ) -> Result<verdict_model::Notice, CoreError> {
        let spec = &order.spec;
        let statement = self.statement_for(order).await?;
        let now = self.clock.now();
        let notice = verdict_model::Notice {
            id: new_id("ntc-")?,
            kind,
            tenant: spec.tenant.clone(),
            order: order.id.clone(),
            case: spec.case_id.clone(),
            issued_at: now,
            statement,
            appeal,
            log_index: Some(self.next_log_index()),
        };
        let body = json!({"type": "notice.issued", "notice": notice}).to_string();

        let draft = Draft::new(
            "notice.issued",
            json!({"notice": notice.id, "kind": kind.as_str(), "order": order.id, "clause": spec.clause,
                   "restriction": "partial_suspension", "customer_kind": self.customer_kind(&spec.tenant).await?}),
        )
        .tenant(&spec.tenant)
        .subject(&notice.id)
        .facts(serde_json::to_value(&notice).map_err(|e| CoreError::Internal(e.to_string()))?);
        let change = Prepared {
            at: now,
            summary: json!({"notice": notice.id, "order": order.id}),
            ops: vec![Op::PutNotice(notice.clone()), Op::Enqueue { notice_id: notice.id.clone(), body }],
            changes: vec![],
            draft,
        };
        self.commit(w, &crate::Actor::system(), change, &|_| ()).await?;
        Ok(notice)
    }
}

impl Core {
    // ---- appeals -------------------------------------------------------------

    /// Appeals, newest first, optionally of one tenant.
    pub async fn appeals(&self, tenant: Option<&str>) -> Result<Vec<verdict_model::Appeal>, CoreError> {
        Ok(self.store.appeals(tenant).await?)
    }

    /// One appeal.
    pub async fn appeal(&self, id: &str) -> Result<verdict_model::Appeal, CoreError> {
        self.store
            .appeals(None)
            .await?
            .into_iter()
            .find(|a| a.id == id)
            .ok_or_else(|| CoreError::NotFound { kind: "appeal", id: id.to_owned() })
    }

    /// A tenant's user appeals an order in force against its tenant.
    pub async fn file_appeal(
        &self,
        who: &Principal,
        order_id: &str,
        statement: &str,
    ) -> Result<verdict_model::Appeal, CoreError> {
        if statement.trim().is_empty() || statement.len() > 20_000 {
            return Err(CoreError::Invalid(verdict_model::ModelError::InvalidCase(
                "an appeal's statement is between 1 and 20,000 bytes".into(),
            )));
        }
        let w = self.writer.lock().await;
        let order = self.store.order(order_id).await?;
        // Another tenant's order does not exist as far as this user can tell.
        let Some(order) = order.filter(|o| who.tenant.as_deref() == Some(o.spec.tenant.as_str())) else {
            return Err(CoreError::NotFound { kind: "order", id: order_id.to_owned() });
        };
        let now = self.clock.now();
        if !order.is_effective() || !order.binding_at(now) {
            return Err(conflict(
                "order-not-in-force",
                format!(
                    "order {order_id} is not in force (it is {}, {:?}); there is nothing to appeal",
                    order.lifecycle.state.as_str(),
                    order.status_at(now)
                ),
            ));
        }
        if self
            .store
            .appeals(Some(&order.spec.tenant))
            .await?
            .iter()
            .any(|a| a.order == order_id && a.decision.is_none())
        {
            return Err(conflict(
                "appeal-pending",
                format!("order {order_id} already has an appeal waiting for a decision"),
            ));
        }
        let appeal = verdict_model::Appeal {
            id: new_id("apl-")?,
            order: order_id.to_owned(),
            tenant: order.spec.tenant.clone(),
            statement: statement.to_owned(),
            filed_by: who.name.clone(),
            filed_at: now,
            decision: None,
        };
        let draft =
            Draft::new("appeal.filed", json!({"appeal": appeal.id, "order": order_id, "clause": order.spec.clause}))
                .tenant(&appeal.tenant)
                .subject(&appeal.id)
                .facts(json!({"statement": statement}));
        let change = Prepared {
            at: now,
            summary: json!({"appeal": appeal.id, "order": order_id}),
            ops: vec![Op::PutAppeal(appeal.clone())],
            changes: vec![],
            draft,
        };
        self.commit(w, &who.actor(), change, &|_| ()).await?;
        Ok(appeal)
    }

    /// A reviewer who neither proposed nor approved the order decides an
    /// appeal: uphold, amend (a new version of the order replaces it) or
    /// lift. The tenant gets an outcome notice.
    pub async fn decide_appeal(
        &self,
        who: &Principal,
        appeal_id: &str,
        outcome: verdict_model::AppealOutcome,
        reasons: &str,
        amendment: Option<OrderSpec>,
    ) -> Result<(verdict_model::Appeal, verdict_model::Notice), CoreError> {
        use verdict_model::AppealOutcome;
        if reasons.trim().is_empty() {
            return Err(CoreError::Invalid(verdict_model::ModelError::Empty("reasons (the tenant reads them)")));
        }
        let mut appeal = self.appeal(appeal_id).await?;
        if let Some(decision) = &appeal.decision {
            return Err(conflict(
                "appeal-decided",
                format!("appeal {appeal_id} was already decided ({}) by {}", decision.outcome.as_str(), decision.by),
            ));
        }
        let order = self
            .store
            .order(&appeal.order)
            .await?
            .ok_or_else(|| CoreError::Internal(format!("appeal {appeal_id} names a missing order")))?;
        let involved = order.lifecycle.proposed_by.as_deref() == Some(who.name.as_str())
            || order.lifecycle.approvals.iter().any(|a| a.by == who.name);
        if involved {
            return Err(conflict(
                "reviewer-conflict",
                format!("{} proposed or approved order {} and so cannot decide its appeal", who.name, order.id),
            ));
        }
        let now = self.clock.now();
        let amendment = match (outcome, amendment) {
            (AppealOutcome::Amend, None) => {
                return Err(conflict(
                    "amendment-required",
                    "an amendment gives the order's new version as 'amendment'".into(),
                ));
            }
            (AppealOutcome::Amend, Some(mut spec)) => {
                if spec.tenant != order.spec.tenant {
                    return Err(conflict(
                        "case-tenant-mismatch",
                        format!("the amendment is for tenant {}, the order for {}", spec.tenant, order.spec.tenant),
                    ));
                }
                spec.case_id = order.spec.case_id.clone();
                spec.amends = None;
                spec.validate(self.snapshot().catalog())?;
                self.check_order_scope(&spec).await?;
                Some(spec)
            }
            (_, _) => None,
        };
        // The decision is recorded first, with everything needed to carry it
        // out; its effects follow and are completed again on start if a
        // crash cut them short.
        let new_order = amendment.is_some().then(new_order_id).transpose()?;
        appeal.decision = Some(verdict_model::AppealDecision {
            outcome,
            reasons: reasons.to_owned(),
            by: who.name.clone(),
            at: now,
            new_order,
            amendment,
        });
        let w = self.writer.lock().await;
        let draft = Draft::new(
            "appeal.decided",
            json!({"appeal": appeal.id, "order": appeal.order, "outcome": outcome.as_str(),
                   "new_order": appeal.decision.as_ref().and_then(|d| d.new_order.clone())}),
        )
        .tenant(&appeal.tenant)
        .subject(&appeal.id)
        .facts(json!({"reasons": reasons}));
        let change = Prepared {
            at: now,
            summary: json!({"appeal": appeal.id, "outcome": outcome.as_str()}),
            ops: vec![Op::PutAppeal(appeal.clone())],
            changes: vec![],
            draft,
        };
        self.commit(w, &who.actor(), change, &|_| ()).await?;
        let notice = self.complete_appeal(&appeal).await?;
        Ok((appeal, notice))
    }

    /// Carries out whatever of a decided appeal's effects is not done yet:
    /// the amended version, the lifting, the outcome notice. Idempotent.
    async fn complete_appeal(&self, appeal: &verdict_model::Appeal) -> Result<verdict_model::Notice, CoreError> {
        use verdict_model::AppealOutcome;
        let decision = appeal
            .decision
            .clone()
            .ok_or_else(|| CoreError::Internal(format!("appeal {} is not decided", appeal.id)))?;
        let reviewer = crate::Actor::new(decision.by.clone());
        let order = self
            .store
            .order(&appeal.order)
            .await?
            .ok_or_else(|| CoreError::Internal(format!("appeal {} names a missing order", appeal.id)))?;
        let why = |what: String| format!("{what} (appeal {}: {})", appeal.id, decision.reasons);
        let standing = match decision.outcome {
            AppealOutcome::Uphold => order,
            AppealOutcome::Lift => {
                if order.lifted_at.is_none() && order.binding_at(self.clock.now()) {
                    self.lift_order(&reviewer, &order.id, &why("lifted on appeal".into())).await?.0
                } else {
                    order
                }
            }
            AppealOutcome::Amend => {
                let id = decision
                    .new_order
                    .clone()
                    .ok_or_else(|| CoreError::Internal("an amendment without its order id".into()))?;
                let amended = match self.store.order(&id).await? {
                    Some(done) => done,
                    None => {
                        let spec = decision
                            .amendment
                            .clone()
                            .ok_or_else(|| CoreError::Internal("an amendment without its body".into()))?;
                        self.amend_order(&decision.by, &order, spec, &id, decision.at).await?
                    }
                };
                if order.lifted_at.is_none() && order.binding_at(self.clock.now()) {
                    self.lift_order(&reviewer, &order.id, &why(format!("superseded by {id} on appeal"))).await?;
                }
                amended
            }
        };
        let existing = self.store.notices(Some(&appeal.tenant)).await?.into_iter().find(|n| {
            n.kind == verdict_model::NoticeKind::AppealOutcome && n.appeal.as_ref().is_some_and(|a| a.id == appeal.id)
        });
        match existing {
            Some(notice) => Ok(notice),
            None => {
                let w = self.writer.lock().await;
                self.issue(w, &standing, verdict_model::NoticeKind::AppealOutcome, Some(appeal.clone())).await
            }
        }
    }

    /// Completes every decided appeal whose effects a crash cut short.
    pub async fn complete_appeals(&self) -> Result<(), CoreError> {
        for appeal in self.store.appeals(None).await? {
            if appeal.decision.is_some() {
                self.complete_appeal(&appeal).await?;
            }
        }
        Ok(())
    }

    /// The new version of `old`, in force from now, approved by the reviewer
    /// who decided the appeal.
    async fn amend_order(
        &self,
        reviewer: &str,
        old: &Order,
        spec: OrderSpec,
        id: &str,
        now: verdict_model::Timestamp,
    ) -> Result<Order, CoreError> {
        let w = self.writer.lock().await;
        self.check_order_scope(&spec).await?;
        let lifecycle = Lifecycle {
            state: OrderState::Approved,
            proposed_by: Some(reviewer.to_owned()),
            approvals_required: 1,
            approvals: vec![Approval { by: reviewer.to_owned(), at: now, preview_hash: None, overrides: vec![] }],
            approved_at: Some(now),
            rejection: None,
            supersedes: Some(old.id.clone()),
        };
        let order = self.new_order(id.to_owned(), spec, now, lifecycle).await?;
        let draft = self.order_draft("order.amended", &order).await?;
        let change = Prepared {
            at: now,
            summary: json!({"order": order.id, "supersedes": old.id}),
            ops: vec![Op::InsertOrder(order.clone())],
            changes: vec![Change::PutOrder(order.clone())],
            draft,
        };
        self.commit(w, &crate::Actor::new(reviewer), change, &|_| ()).await?;
        if let Some(end) = order.spec.end {
            self.writer.lock().await.expiries.insert((end, order.id.clone()));
        }
        Ok(order)
    }
}
