//! The transparency report: what the record says about cases, orders,
//! suspensions and appeals in a period, counted the ways regulators ask.

use std::collections::BTreeMap;

use serde::Serialize;
use verdict_model::{OrderState, PhaseMode, Timestamp};

use crate::{Core, CoreError};

/// Counts by a key (clause, customer kind, source, service family, outcome).
pub type Counts = BTreeMap<String, u64>;

/// Counts of one kind of record.
#[derive(Debug, Default, Clone, Serialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Tally {
    /// How many in the period.
    pub total: u64,
    /// By clause.
    pub by_clause: Counts,
    /// By customer kind: `government` or `not_government`.
    pub by_customer_kind: Counts,
    /// By detection source (cases, and orders through their case).
    pub by_source: Counts,
    /// By service family restricted (`storage`, `ai`, …; `all` for `*`).
    pub by_service_family: Counts,
}

/// Median durations, in seconds (none when there is nothing to measure).
#[derive(Debug, Default, Clone, Serialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Medians {
    /// From a case's opening to the first order proposed from it.
    pub case_opened_to_order_seconds: Option<i64>,
    /// From an order's approval to its first restricting phase.
    pub approval_to_effect_seconds: Option<i64>,
    /// From an appeal's filing to its decision.
    pub appeal_to_decision_seconds: Option<i64>,
}

/// The transparency report for `[from, to)`.
#[derive(Debug, Default, Clone, Serialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Report {
    /// Start of the period (inclusive).
    pub from: Timestamp,
    /// End of the period (exclusive).
    pub to: Timestamp,
    /// Cases opened.
    pub cases: Tally,
    /// Orders proposed or loaded.
    pub orders: Tally,
    /// Orders that took effect with a restricting phase (suspensions).
    pub suspensions: Tally,
    /// Orders by lifecycle state: proposed, approved, rejected, lifted.
    pub orders_by_state: Counts,
    /// Appeals filed, by outcome (`pending` if undecided).
    pub appeals_by_outcome: Counts,
    /// Guards overridden by approvers, by guard.
    pub overrides_by_guard: Counts,
    /// Medians.
    pub medians: Medians,
}

fn bump(counts: &mut Counts, key: impl Into<String>) {
    *counts.entry(key.into()).or_default() += 1;
}

fn median(mut values: Vec<i64>) -> Option<i64> {
    values.sort_unstable();
    (!values.is_empty()).then(|| values[values.len() / 2])
}

impl Core {
    /// Counts and medians over records made in `[from, to)`.
    pub async fn transparency_report(&self, from: Timestamp, to: Timestamp) -> Result<Report, CoreError> {
        if to <= from {
            return Err(verdict_model::ModelError::InvalidPeriod { from, to }.into());
        }
        let within = |t: Timestamp| from <= t && t < to;
        let mut kinds = BTreeMap::new();
        let mut page = verdict_store::Page { after: None, limit: 10_000 };
        loop {
            let tenants = self.reads().await?.tenants(&page).await?;
            let done = tenants.len() < page.limit as usize;
            page.after = tenants.last().map(|t| t.id.clone());
            for t in tenants {
                let kind =
                    if t.kind == verdict_model::TenantKind::Government { "government" } else { "not_government" };
                kinds.insert(t.id, kind);
            }
            if done {
                break;
            }
        }
        let kind_of = |tenant: &str| kinds.get(tenant).copied().unwrap_or("not_government");
        let cases = self.reads().await?.cases(None, u32::MAX).await?;
        let source_of_case: BTreeMap<&str, &str> =
            cases.iter().map(|c| (c.id.as_str(), c.spec.source_type.as_str())).collect();
        let mut report = Report { from, to, ..Report::default() };
        for case in cases.iter().filter(|c| within(c.opened_at)) {
            report.cases.total += 1;
            for clause in &case.spec.clauses {
                bump(&mut report.cases.by_clause, clause);
            }
            bump(&mut report.cases.by_customer_kind, kind_of(&case.spec.tenant));
            bump(&mut report.cases.by_source, case.spec.source_type.as_str());
        }
        let orders = self.all_orders(None).await?;
        let mut first_order_of_case: BTreeMap<&str, Timestamp> = BTreeMap::new();
        for order in &orders {
            if let Some(case) = order.spec.case_id.as_deref() {
                let at = first_order_of_case.entry(case).or_insert(order.created_at);
                *at = (*at).min(order.created_at);
            }
        }
        let mut approval_to_effect = Vec::new();
        for order in orders.iter().filter(|o| within(o.created_at)) {
            let source = order.spec.case_id.as_deref().and_then(|c| source_of_case.get(c)).copied().unwrap_or("direct");
            let families: std::collections::BTreeSet<String> = order
                .spec
                .services
                .iter()
                .map(|p| {
                    let text = p.to_string();
                    match text.split('.').next() {
                        Some("*") | None => "all".to_owned(),
                        Some(family) => family.to_owned(),
                    }
                })
                .collect();
            let tally = |t: &mut Tally| {
                t.total += 1;
                bump(&mut t.by_clause, &order.spec.clause);
                bump(&mut t.by_customer_kind, kind_of(&order.spec.tenant));
                bump(&mut t.by_source, source);
                for family in &families {
                    bump(&mut t.by_service_family, family);
                }
            };
            tally(&mut report.orders);
            for approval in &order.lifecycle.approvals {
                for o in &approval.overrides {
                    bump(&mut report.overrides_by_guard, &o.guard);
                }
            }
            let state = if order.lifted_at.is_some() { "lifted" } else { order.lifecycle.state.as_str() };
            bump(&mut report.orders_by_state, state);
            let restricting = order.spec.phases.iter().find(|p| p.mode != PhaseMode::Notice);
            if order.lifecycle.state == OrderState::Approved
                && let Some(phase) = restricting
            {
                tally(&mut report.suspensions);
                if let Some(approved) = order.lifecycle.approved_at {
                    approval_to_effect.push((phase.start.seconds() - approved.seconds()).max(0));
                }
            }
        }
        let case_to_order: Vec<i64> = cases
            .iter()
            .filter(|c| within(c.opened_at))
            .filter_map(|c| first_order_of_case.get(c.id.as_str()).map(|t| t.seconds() - c.opened_at.seconds()))
            .collect();
        let mut appeal_to_decision = Vec::new();
        for appeal in self.reads().await?.appeals(None).await?.iter().filter(|a| within(a.filed_at)) {
            match &appeal.decision {
                None => bump(&mut report.appeals_by_outcome, "pending"),
                Some(d) => {
                    bump(&mut report.appeals_by_outcome, d.outcome.as_str());
                    appeal_to_decision.push(d.at.seconds() - appeal.filed_at.seconds());
                }
            }
        }
        report.medians = Medians {
            case_opened_to_order_seconds: median(case_to_order),
            approval_to_effect_seconds: median(approval_to_effect),
            appeal_to_decision_seconds: median(appeal_to_decision),
        };
        Ok(report)
    }
}

impl Report {
    /// The report as CSV: `section,dimension,key,value` rows.
    pub fn to_csv(&self) -> String {
        let mut out = String::from("section,dimension,key,value\n");
        let mut row = |section: &str, dimension: &str, key: &str, value: String| {
            let quote = |s: &str| {
                if s.contains([',', '"', '\n']) { format!("\"{}\"", s.replace('"', "\"\"")) } else { s.to_owned() }
            };
            out.push_str(&format!("{},{},{},{}\n", quote(section), quote(dimension), quote(key), quote(&value)));
        };
        row("period", "from", "", self.from.to_string());
        row("period", "to", "", self.to.to_string());
        for (name, tally) in [("cases", &self.cases), ("orders", &self.orders), ("suspensions", &self.suspensions)] {
            row(name, "total", "", tally.total.to_string());
            for (dimension, counts) in [
                ("clause", &tally.by_clause),
                ("customer_kind", &tally.by_customer_kind),
                ("source", &tally.by_source),
                ("service_family", &tally.by_service_family),
            ] {
                for (key, n) in counts {
                    row(name, dimension, key, n.to_string());
                }
            }
        }
        for (key, n) in &self.orders_by_state {
            row("orders", "state", key, n.to_string());
        }
        for (key, n) in &self.appeals_by_outcome {
            row("appeals", "outcome", key, n.to_string());
        }
        for (key, n) in &self.overrides_by_guard {
            row("guards", "overridden", key, n.to_string());
        }
        let m = &self.medians;
        for (key, v) in [
            ("case_opened_to_order_seconds", m.case_opened_to_order_seconds),
            ("approval_to_effect_seconds", m.approval_to_effect_seconds),
            ("appeal_to_decision_seconds", m.appeal_to_decision_seconds),
        ] {
            row("medians", key, "", v.map(|v| v.to_string()).unwrap_or_default());
        }
        out
    }
}
