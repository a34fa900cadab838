//! Appeals: a tenant contests an order in force; a reviewer who took no part
//! in it decides — uphold, amend (a new version supersedes it) or lift — and
//! the decision, its effect and the outcome notice are one action.

use serde_json::json;
use verdict_engine::Change;
use verdict_model::{
    Appeal, AppealDecision, AppealOutcome, Approval, Lifecycle, Notice, NoticeKind, Order, OrderSpec, OrderState,
};
use verdict_store::{Op, Reads};

use crate::error::{AppealError, Thing};
use crate::ledger::{Prepared, Tx};
use crate::log::{Actor, Draft};
use crate::notices::write_notice;
use crate::orders::{check_scope, new_order, new_order_id, order_draft, order_in, write_lift};
use crate::{Core, CoreError, Principal, new_id};

/// An appeal by id.
async fn appeal_in(reads: &mut dyn Reads, id: &str) -> Result<Appeal, CoreError> {
    reads.appeal(id).await?.ok_or_else(|| CoreError::NotFound { kind: Thing::Appeal, id: id.to_owned() })
}

impl Core {
    /// Appeals, newest first, optionally of one tenant.
    pub async fn appeals(&self, tenant: Option<&str>) -> Result<Vec<Appeal>, CoreError> {
        Ok(self.reads().await?.appeals(tenant).await?)
    }

    /// One appeal.
    pub async fn appeal(&self, id: &str) -> Result<Appeal, CoreError> {
        appeal_in(&mut *self.reads().await?, id).await
    }

    /// A tenant's user appeals an order in force against its tenant.
    pub async fn file_appeal(&self, who: &Principal, order_id: &str, statement: &str) -> Result<Appeal, CoreError> {
        if statement.trim().is_empty() {
            return Err(verdict_model::ModelError::Empty("statement (the appeal's grounds)").into());
        }
        if statement.len() > 20_000 {
            return Err(verdict_model::ModelError::TooLong { field: "an appeal's statement", max: 20_000 }.into());
        }
        let mut tx = self.begin().await?;
        let order = tx.store().order(order_id).await?;
        // Another tenant's order does not exist as far as this user can tell.
        let Some(order) = order.filter(|o| who.tenant.as_deref() == Some(o.spec.tenant.as_str())) else {
            return Err(CoreError::NotFound { kind: Thing::Order, id: order_id.to_owned() });
        };
        let now = tx.now();
        if !order.is_effective() || !order.binding_at(now) {
            return Err(CoreError::from(AppealError::OrderNotInForce {
                order: order_id.to_string(),
                status: order.status_at(now),
            }));
        }
        if tx
            .store()
            .appeals(Some(&order.spec.tenant))
            .await?
            .iter()
            .any(|a| a.order == order_id && a.decision.is_none())
        {
            return Err(CoreError::from(AppealError::Pending { order: order_id.to_string() }));
        }
        let appeal = Appeal {
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
            ops: vec![Op::FileAppeal(appeal.clone())],
            changes: vec![],
            draft,
        };
        tx.write(&who.actor(), change).await?;
        tx.commit().await?;
        Ok(appeal)
    }

    /// A reviewer who neither proposed nor approved the order decides an
    /// appeal: uphold, amend (a new version of the order replaces it) or
    /// lift. The decision, its effect on the order and the tenant's outcome
    /// notice are one action: all of them or none.
    pub async fn decide_appeal(
        &self,
        who: &Principal,
        appeal_id: &str,
        outcome: AppealOutcome,
        reasons: &str,
        amendment: Option<OrderSpec>,
    ) -> Result<(Appeal, Notice), CoreError> {
        if reasons.trim().is_empty() {
            return Err(CoreError::Invalid(verdict_model::ModelError::Empty("reasons (the tenant reads them)")));
        }
        let mut tx = self.begin().await?;
        let mut appeal = appeal_in(tx.store(), appeal_id).await?;
        if let Some(decision) = &appeal.decision {
            return Err(CoreError::from(AppealError::Decided {
                appeal: appeal_id.to_string(),
                outcome: decision.outcome.as_str(),
                by: decision.by.clone(),
            }));
        }
        let order = order_in(tx.store(), &appeal.order).await?;
        let involved = order.lifecycle.proposed_by.as_deref() == Some(who.name.as_str())
            || order.lifecycle.approvals.iter().any(|a| a.by == who.name);
        if involved {
            return Err(CoreError::from(AppealError::ReviewerConflict {
                who: who.name.clone(),
                order: order.id.clone(),
            }));
        }
        let amendment = match (outcome, amendment) {
            (AppealOutcome::Amend, None) => {
                return Err(CoreError::from(AppealError::AmendmentRequired));
            }
            (AppealOutcome::Amend, Some(mut spec)) => {
                if spec.tenant != order.spec.tenant {
                    return Err(CoreError::from(AppealError::AmendmentChangesTenant {
                        order: order.id.clone(),
                        tenant: order.spec.tenant.clone(),
                        given: spec.tenant.clone(),
                    }));
                }
                spec.case_id = order.spec.case_id.clone();
                spec.amends = None;
                spec.validate(self.snapshot().catalog())?;
                check_scope(tx.store(), &spec).await?;
                Some(spec)
            }
            (_, _) => None,
        };
        let now = tx.now();
        let new_order = amendment.is_some().then(new_order_id).transpose()?;
        appeal.decision = Some(AppealDecision {
            outcome,
            reasons: reasons.to_owned(),
            by: who.name.clone(),
            at: now,
            new_order,
            amendment,
        });
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
            ops: vec![Op::DecideAppeal(appeal.clone())],
            changes: vec![],
            draft,
        };
        tx.write(&who.actor(), change).await?;
        let notice = carry_out(&mut tx, &appeal, order).await?;
        tx.commit().await?;
        Ok((appeal, notice))
    }

    /// Carries out decided appeals whose effects an older version, which
    /// committed them apart, left unfinished when it crashed. Runs on start;
    /// a decision and its effects are one action now.
    pub async fn complete_appeals(&self) -> Result<(), CoreError> {
        for appeal in self.reads().await?.appeals(None).await? {
            if appeal.decision.is_none() {
                continue;
            }
            let done =
                self.reads().await?.notices(Some(&appeal.tenant)).await?.into_iter().any(|n| {
                    n.kind == NoticeKind::AppealOutcome && n.appeal.as_ref().is_some_and(|a| a.id == appeal.id)
                });
            if done {
                continue;
            }
            let mut tx = self.begin().await?;
            let order = order_in(tx.store(), &appeal.order).await?;
            carry_out(&mut tx, &appeal, order).await?;
            tx.commit().await?;
        }
        Ok(())
    }
}

/// Writes what a decided appeal does to its order (the amended version and
/// the lifting of the old one, or the lifting alone) and its outcome notice.
/// Steps already stored (by an older version) are not repeated.
async fn carry_out(tx: &mut Tx<'_>, appeal: &Appeal, order: Order) -> Result<Notice, CoreError> {
    let decision =
        appeal.decision.clone().ok_or_else(|| CoreError::Internal(format!("appeal {} is not decided", appeal.id)))?;
    let reviewer = Actor::new(decision.by.clone());
    let why = |what: String| format!("{what} (appeal {}: {})", appeal.id, decision.reasons);
    let still_binding = |order: &Order, tx: &Tx<'_>| order.lifted_at.is_none() && order.binding_at(tx.now());
    let standing = match decision.outcome {
        AppealOutcome::Uphold => order,
        AppealOutcome::Lift if still_binding(&order, tx) => {
            write_lift(tx, &reviewer, order, &why("lifted on appeal".into()), None).await?
        }
        AppealOutcome::Lift => order,
        AppealOutcome::Amend => {
            let id = decision
                .new_order
                .clone()
                .ok_or_else(|| CoreError::Internal("an amendment without its order id".into()))?;
            let amended = match tx.store().order(&id).await? {
                Some(done) => done,
                None => {
                    let spec = decision
                        .amendment
                        .clone()
                        .ok_or_else(|| CoreError::Internal("an amendment without its body".into()))?;
                    write_amendment(tx, &decision.by, &order, spec, &id).await?
                }
            };
            if still_binding(&order, tx) {
                write_lift(tx, &reviewer, order, &why(format!("superseded by {id} on appeal")), Some(&id)).await?;
            }
            amended
        }
    };
    write_notice(tx, &standing, NoticeKind::AppealOutcome, Some(appeal.clone())).await
}

/// Writes the new version of `old`, in force from now, approved by the
/// reviewer who decided the appeal.
async fn write_amendment(
    tx: &mut Tx<'_>,
    reviewer: &str,
    old: &Order,
    spec: OrderSpec,
    id: &str,
) -> Result<Order, CoreError> {
    check_scope(tx.store(), &spec).await?;
    let now = tx.now();
    let lifecycle = Lifecycle {
        state: OrderState::Approved,
        proposed_by: Some(reviewer.to_owned()),
        approvals_required: 1,
        approvals: vec![Approval { by: reviewer.to_owned(), at: now, preview_hash: None, overrides: vec![] }],
        approved_at: Some(now),
        rejection: None,
        supersedes: Some(old.id.clone()),
    };
    let order = new_order(tx, id.to_owned(), spec, lifecycle).await?;
    let draft = order_draft(tx, "order.amended", &order).await?;
    let change = Prepared {
        at: now,
        summary: json!({"order": order.id, "supersedes": old.id}),
        ops: vec![Op::InsertOrder(order.clone())],
        changes: vec![Change::PutOrder(order.clone())],
        draft,
    };
    tx.write(&Actor::new(reviewer), change).await?;
    Ok(order)
}
