//! Cases: the clauses orders cite, review cases with their evidence (never
//! customer content), comments, assignment and status. Each event is one
//! transaction and one log entry with its actor.

use serde_json::json;
use verdict_model::{Case, CaseEvent, CaseSpec, CaseStatus, Clause, Evidence, Role};
use verdict_store::{Op, Reads};

use crate::error::{CaseError, Thing};
use crate::ledger::{Prepared, Tx};
use crate::log::Draft;
use crate::{Core, CoreError, Principal, new_id};

/// One event on a case: its log entry's type and public part, and the
/// timeline entry's kind and details (which the private record keeps).
struct CaseChange {
    log_type: &'static str,
    public: serde_json::Value,
    event_kind: &'static str,
    body: serde_json::Value,
}

/// The newest version of clause `id` among `clauses`.
fn newest(clauses: Vec<Clause>, id: &str) -> Option<Clause> {
    clauses.into_iter().filter(|c| c.id == id).max_by_key(|c| c.version)
}

/// The newest version of clause `id`.
pub(crate) async fn clause_in(reads: &mut dyn Reads, id: &str) -> Result<Option<Clause>, CoreError> {
    Ok(newest(reads.clauses().await?, id))
}

impl Core {
    /// Every version of every clause.
    pub async fn clauses(&self) -> Result<Vec<Clause>, CoreError> {
        Ok(self.reads().await?.clauses().await?)
    }

    /// The newest version of clause `id`.
    pub async fn clause(&self, id: &str) -> Result<Option<Clause>, CoreError> {
        clause_in(&mut *self.reads().await?, id).await
    }

    /// Publishes a clause, as version 1 or the next version of its id.
    pub async fn publish_clause(&self, who: &Principal, mut clause: Clause) -> Result<Clause, CoreError> {
        clause.validate()?;
        let mut tx = self.begin().await?;
        clause.version = clause_in(tx.store(), &clause.id).await?.map_or(1, |c| c.version + 1);
        clause.created_at = tx.now();
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
        tx.write(&who.actor(), change).await?;
        tx.commit().await?;
        Ok(clause)
    }

    // ---- cases -------------------------------------------------------------

    /// One case and its timeline.
    pub async fn case(&self, id: &str) -> Result<(Case, Vec<CaseEvent>), CoreError> {
        let case = self
            .reads()
            .await?
            .case(id)
            .await?
            .ok_or_else(|| CoreError::NotFound { kind: Thing::Case, id: id.to_owned() })?;
        let events = self.reads().await?.case_events(id).await?;
        Ok((case, events))
    }

    /// Cases, newest first.
    pub async fn cases(&self, tenant: Option<&str>) -> Result<Vec<Case>, CoreError> {
        Ok(self.reads().await?.cases(tenant, 1000).await?)
    }

    /// A page of the case queue: cases matching `filter`, last changed
    /// first, and how many match in all — filtered, sorted and counted by
    /// the store.
    pub async fn case_queue(
        &self,
        filter: &verdict_store::CaseFilter,
        offset: u64,
        limit: u32,
    ) -> Result<(Vec<Case>, u64), CoreError> {
        Ok(self.reads().await?.case_queue(filter, offset, limit).await?)
    }

    /// Opens a case against units of a tenant under named clauses.
    pub async fn open_case(&self, who: &Principal, spec: CaseSpec) -> Result<Case, CoreError> {
        spec.validate()?;
        let mut tx = self.begin().await?;
        let Some(tenant) = tx.store().tenant(&spec.tenant).await? else {
            return Err(CoreError::UnknownReference { kind: Thing::Tenant, id: spec.tenant });
        };
        let units = tx.store().units(&spec.tenant).await?;
        if let Some(unit) = spec.units.iter().find(|u| !units.contains(u)) {
            return Err(CoreError::UnknownReference { kind: Thing::Unit, id: format!("{}:{unit}", spec.tenant) });
        }
        for clause in &spec.clauses {
            if clause_in(tx.store(), clause).await?.is_none() {
                return Err(CoreError::UnknownReference { kind: Thing::Clause, id: clause.clone() });
            }
        }
        let now = tx.now();
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
        tx.write(&who.actor(), change).await?;
        tx.commit().await?;
        Ok(case)
    }

    /// Records one event on a case (and the case as it is after it) as one
    /// transaction and one log entry.
    async fn case_event(
        &self,
        mut tx: Tx<'_>,
        who: &Principal,
        mut case: Case,
        what: CaseChange,
    ) -> Result<(Case, CaseEvent), CoreError> {
        let CaseChange { log_type, public, event_kind, body } = what;
        let now = tx.now();
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
        tx.write(&who.actor(), change).await?;
        tx.commit().await?;
        let events = self.reads().await?.case_events(&case.id).await?;
        let event = events.into_iter().last().unwrap_or(event);
        Ok((case, event))
    }

    pub(crate) async fn open_case_for_change(tx: &mut Tx<'_>, id: &str) -> Result<Case, CoreError> {
        let case =
            tx.store().case(id).await?.ok_or_else(|| CoreError::NotFound { kind: Thing::Case, id: id.to_owned() })?;
        if case.status == CaseStatus::Closed {
            return Err(CoreError::from(CaseError::Closed { id: id.to_string() }));
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
        let mut tx = self.begin().await?;
        let case = Self::open_case_for_change(&mut tx, case_id).await?;
        let body = serde_json::to_value(&evidence).map_err(|e| CoreError::Internal(e.to_string()))?;
        let public = json!({"evidence_kind": evidence.kind()});
        let what = CaseChange { log_type: "evidence.added", public, event_kind: "evidence", body };
        Ok(self.case_event(tx, who, case, what).await?.1)
    }

    /// Adds a comment to a case's timeline.
    pub async fn comment_case(&self, who: &Principal, case_id: &str, text: &str) -> Result<CaseEvent, CoreError> {
        if text.trim().is_empty() {
            return Err(verdict_model::ModelError::Empty("text (the comment)").into());
        }
        if text.len() > 10_000 {
            return Err(verdict_model::ModelError::TooLong { field: "a comment", max: 10_000 }.into());
        }
        let mut tx = self.begin().await?;
        let case = Self::open_case_for_change(&mut tx, case_id).await?;
        let what = CaseChange {
            log_type: "case.commented",
            public: json!({}),
            event_kind: "comment",
            body: json!({"text": text}),
        };
        Ok(self.case_event(tx, who, case, what).await?.1)
    }

    /// Assigns a case to an analyst.
    pub async fn assign_case(&self, who: &Principal, case_id: &str, assignee: &str) -> Result<Case, CoreError> {
        let mut tx = self.begin().await?;
        let mut case = Self::open_case_for_change(&mut tx, case_id).await?;
        let users = tx.store().users().await?;
        match users.iter().find(|(u, _)| u.name == assignee && u.revoked_at.is_none()) {
            None => return Err(CoreError::UnknownReference { kind: Thing::User, id: assignee.to_owned() }),
            Some((u, _)) if !u.roles.contains(&Role::Analyst) => {
                return Err(CoreError::from(CaseError::AssigneeNotAnalyst {
                    who: assignee.to_string(),
                    roles: verdict_model::roles_text(&u.roles).to_string(),
                }));
            }
            Some(_) => {}
        }
        case.assignee = Some(assignee.to_owned());
        let body = json!({"assignee": assignee});
        let what = CaseChange { log_type: "case.assigned", public: json!({}), event_kind: "assigned", body };
        Ok(self.case_event(tx, who, case, what).await?.0)
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
        let mut tx = self.begin().await?;
        let mut case = tx
            .store()
            .case(case_id)
            .await?
            .ok_or_else(|| CoreError::NotFound { kind: Thing::Case, id: case_id.into() })?;
        let from = case.status;
        if !from.can_become(status) {
            return Err(CoreError::from(CaseError::IllegalTransition { id: case_id.to_string(), from, to: status }));
        }
        case.status = status;
        let body = json!({"from": from.as_str(), "to": status.as_str(), "reason": reason});
        let public = json!({"from": from.as_str(), "to": status.as_str()});
        let what = CaseChange { log_type: "case.status_changed", public, event_kind: "status", body };
        Ok(self.case_event(tx, who, case, what).await?.0)
    }

    // ---- orders: proposal and approval ---------------------------------------
}
