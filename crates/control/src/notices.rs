//! Notices: the statement of reasons an order's tenant receives when it
//! takes effect or an appeal is decided, written in the same action as what
//! it announces; and their delivery to the tenant's webhook, whose state
//! changes go through the ledger like everything else.

use std::collections::HashSet;

use serde_json::json;
use verdict_model::{Appeal, Notice, NoticeKind, Order, OrderState, StatementOfReasons, Timestamp};
use verdict_store::{Op, OutboxItem};

use crate::cases::clause_in;
use crate::error::Thing;
use crate::ledger::{Prepared, Tx};
use crate::log::{Actor, Draft};
use crate::orders::{coverage, customer_kind};
use crate::{Core, CoreError, new_id};

/// How a tenant contests an order; every restriction notice says it.
fn how_to_appeal(order: &str) -> String {
    format!(
        "You may appeal within 30 days: a user of your tenant posts a statement to /v1/orders/{order}/appeals \
         (verdict appeal file {order}). A reviewer who neither proposed nor approved the order decides: uphold, \
         amend or lift, with reasons, in a further notice."
    )
}

/// The statement of reasons for `order` as it stands.
async fn statement_in(tx: &mut Tx<'_>, order: &Order) -> Result<StatementOfReasons, CoreError> {
    let spec = &order.spec;
    let clause = clause_in(tx.store(), &spec.clause)
        .await?
        .ok_or_else(|| CoreError::UnknownReference { kind: Thing::Clause, id: spec.clause.clone() })?;
    let (case, events) = match &spec.case_id {
        Some(id) => {
            let case = tx
                .store()
                .case(id)
                .await?
                .ok_or_else(|| CoreError::UnknownReference { kind: Thing::Case, id: id.clone() })?;
            (Some(case), tx.store().case_events(id).await?)
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
    let (regions, _) = coverage(&tx.inventory_index(), spec);
    let source_type = case.as_ref().map_or(verdict_model::SourceType::InternalSignal, |c| c.spec.source_type);
    Ok(StatementOfReasons {
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

/// Writes a notice about `order` to its tenant: stored, logged and queued
/// for delivery, in the action that causes it.
pub(crate) async fn write_notice(
    tx: &mut Tx<'_>,
    order: &Order,
    kind: NoticeKind,
    appeal: Option<Appeal>,
) -> Result<Notice, CoreError> {
    let spec = &order.spec;
    let statement = statement_in(tx, order).await?;
    let now = tx.now();
    let notice = Notice {
        id: new_id("ntc-")?,
        kind,
        tenant: spec.tenant.clone(),
        order: order.id.clone(),
        case: spec.case_id.clone(),
        issued_at: now,
        statement,
        appeal,
        log_index: Some(tx.next_index()),
    };
    let body = json!({"type": "notice.issued", "notice": notice}).to_string();
    let draft = Draft::new(
        "notice.issued",
        json!({"notice": notice.id, "kind": kind.as_str(), "order": order.id, "clause": spec.clause,
               "restriction": "partial_suspension", "customer_kind": customer_kind(tx.store(), &spec.tenant).await?}),
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
    tx.write(&Actor::system(), change).await?;
    Ok(notice)
}

impl Core {
    /// Notices, newest first, optionally of one tenant.
    pub async fn notices(&self, tenant: Option<&str>) -> Result<Vec<Notice>, CoreError> {
        Ok(self.reads().await?.notices(tenant).await?)
    }

    /// One notice.
    pub async fn notice(&self, id: &str) -> Result<Notice, CoreError> {
        self.reads()
            .await?
            .notice(id)
            .await?
            .ok_or_else(|| CoreError::NotFound { kind: Thing::Notice, id: id.to_owned() })
    }

    /// Issues the restriction notice of every approved order proposed from a
    /// case that has none. An approval and its notice are one action, so
    /// this finds something only in a store written by an older version
    /// that committed them apart; it runs on start.
    pub(crate) async fn issue_pending_notices(&self) -> Result<Vec<Notice>, CoreError> {
        let noticed: HashSet<String> = self.reads().await?.notices(None).await?.into_iter().map(|n| n.order).collect();
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
                let mut tx = self.begin().await?;
                let notice = write_notice(&mut tx, &order, NoticeKind::Restriction, None).await?;
                tx.commit().await?;
                issued.push(notice);
            }
        }
        Ok(issued)
    }

    /// Undelivered notices due by `now_ms`, oldest first.
    pub async fn outbox_due(&self, now_ms: i64, limit: u32) -> Result<Vec<OutboxItem>, CoreError> {
        Ok(self.reads().await?.outbox_due(now_ms, limit).await?)
    }

    /// Every delivery attempt of a notice.
    pub async fn outbox_of(&self, notice_id: &str) -> Result<Vec<OutboxItem>, CoreError> {
        Ok(self.reads().await?.outbox_of(notice_id).await?)
    }

    /// Records that a notice was delivered.
    pub async fn outbox_delivered(&self, id: i64, at: Timestamp) -> Result<(), CoreError> {
        let mut tx = self.begin().await?;
        tx.write_unlogged(&[Op::OutboxDelivered { id, at }]).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Records a failed delivery and when to try again.
    pub async fn outbox_failed(&self, id: i64, next_at_ms: i64, error: &str) -> Result<(), CoreError> {
        let mut tx = self.begin().await?;
        tx.write_unlogged(&[Op::OutboxFailed { id, next_at_ms, error: error.to_owned() }]).await?;
        tx.commit().await?;
        Ok(())
    }
}
