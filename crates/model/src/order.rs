//! Enforcement orders: which services a scope loses, in which phases, from
//! when, and the order's lifecycle.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::{ActionClass, Catalog, ModelError, ServicePattern, ServiceSet, Timestamp, UnitPath, validate_id};

/// The most units, and the most subscriptions, an order's scope names.
pub const MAX_SCOPE: usize = 1_000;
/// The most service patterns in an order's `services` or `exempt`.
pub const MAX_PATTERNS: usize = 64;

/// What a phase restricts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum PhaseMode {
    /// Restricts nothing; decisions carry a warning.
    Notice,
    /// Allows `read`, `list`, `export` and `delete` so the customer can take
    /// its data out; denies the rest.
    ExportOnly,
    /// Denies every action.
    Disabled,
}

impl PhaseMode {
    /// Whether this mode denies an action of `class`.
    #[inline]
    pub fn denies(self, class: ActionClass) -> bool {
        match self {
            PhaseMode::Notice => false,
            PhaseMode::ExportOnly => matches!(class, ActionClass::Write | ActionClass::Invoke | ActionClass::Admin),
            PhaseMode::Disabled => true,
        }
    }

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            PhaseMode::Notice => "notice",
            PhaseMode::ExportOnly => "export_only",
            PhaseMode::Disabled => "disabled",
        }
    }
}

impl fmt::Display for PhaseMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One step of an order's timeline; it lasts until the next step starts or
/// the order ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Phase {
    /// What the phase restricts.
    pub mode: PhaseMode,
    /// When it starts (inclusive, to the second).
    pub start: Timestamp,
}

/// What an order covers, all in one tenant.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Scope {
    /// Units, each with all its descendants, as the tree is at decision time.
    #[serde(default)]
    pub units: Vec<UnitPath>,
    /// Individual subscriptions.
    #[serde(default)]
    pub subscriptions: Vec<String>,
}

/// The body of an order as proposed: everything but its identity and status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct OrderSpec {
    /// The tenant every scope entry belongs to.
    pub tenant: String,
    /// The acceptable-use clause the order enforces, e.g. `AUP-2`.
    pub clause: String,
    /// A one-line summary for people.
    #[serde(default)]
    pub title: String,
    /// What the order covers.
    pub scope: Scope,
    /// Services restricted, e.g. `["storage.*", "ai.*"]`.
    pub services: Vec<ServicePattern>,
    /// Services spared even when `services` matches them, e.g. `["security.*"]`.
    #[serde(default)]
    pub exempt: Vec<ServicePattern>,
    /// The timeline, in strictly increasing start order.
    pub phases: Vec<Phase>,
    /// When the order stops applying (exclusive); none means until lifted.
    #[serde(default)]
    pub end: Option<Timestamp>,
    /// The case the order is proposed from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub case_id: Option<String>,
    /// Why the customer gets no notice phase first. Required when the first
    /// phase restricts anything; the notice shows it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub emergency_reason: Option<String>,
    /// The order in force this one amends: once approved, it supersedes it
    /// (the old order is lifted and stays in history).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amends: Option<String>,
}

impl OrderSpec {
    /// Checks everything that needs no inventory: identifiers, patterns
    /// against the catalog, the timeline. Returns the services the order
    /// restricts, exemptions removed.
    pub fn validate(&self, catalog: &Catalog) -> Result<ServiceSet, ModelError> {
        validate_id("tenant id", &self.tenant)?;
        validate_id("clause", &self.clause)?;
        if self.title.len() > 500 {
            return Err(ModelError::TooLong { field: "the order's title", max: 500 });
        }
        crate::check_list("scope.units", &self.scope.units, MAX_SCOPE)?;
        crate::check_list("scope.subscriptions", &self.scope.subscriptions, MAX_SCOPE)?;
        crate::check_list("services", &self.services, MAX_PATTERNS)?;
        crate::check_list("exempt", &self.exempt, MAX_PATTERNS)?;
        if self.scope.units.is_empty() && self.scope.subscriptions.is_empty() {
            return Err(ModelError::Empty("scope (give at least one unit or subscription)"));
        }
        for sub in &self.scope.subscriptions {
            validate_id("subscription id", sub)?;
        }
        if self.services.is_empty() {
            return Err(ModelError::Empty("services"));
        }
        let restricted = ServiceSet::of_patterns(catalog, &self.services)?;
        let exempt = ServiceSet::of_patterns(catalog, &self.exempt)?;
        let effective = restricted.minus(exempt);
        if effective.is_empty() {
            return Err(ModelError::InvalidOrder(
                "the exempt patterns spare every service the order restricts, so it would restrict nothing".into(),
            ));
        }
        if self.phases.is_empty() {
            return Err(ModelError::Empty("phases"));
        }
        if self.phases.len() > 16 {
            return Err(ModelError::InvalidOrder("an order has at most 16 phases".into()));
        }
        for pair in self.phases.windows(2) {
            if pair[1].start <= pair[0].start {
                return Err(ModelError::InvalidOrder(format!(
                    "phase {} starts at {}, not after the phase before it ({}); list phases in time order",
                    pair[1].mode, pair[1].start, pair[0].start
                )));
            }
        }
        if let Some(end) = self.end {
            let first = self.phases[0].start;
            if end <= first {
                return Err(ModelError::InvalidOrder(format!(
                    "end {end} is not after the first phase's start {first}"
                )));
            }
        }
        Ok(effective)
    }

    /// Whether the timeline starts restricting without a `notice` phase.
    pub fn skips_notice(&self) -> bool {
        self.phases.first().is_some_and(|p| p.mode != PhaseMode::Notice)
    }

    /// The phase governing instant `at`, ignoring lifting; `None` before the
    /// first phase and from `end` on.
    pub fn phase_at(&self, at: Timestamp) -> Option<Phase> {
        if self.end.is_some_and(|end| at >= end) {
            return None;
        }
        self.phases.iter().rev().find(|p| p.start <= at).copied()
    }
}

/// Where an order stands at an instant, as a person reads it: one value
/// that combines its approval lifecycle and its timeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum OrderStatus {
    /// Waiting for approvers; has no effect.
    Proposed,
    /// Refused by an approver; never had effect.
    Rejected,
    /// Approved, but no phase has started yet.
    Scheduled,
    /// Approved and in one of its phases now.
    InForce,
    /// Its end has passed.
    Expired,
    /// Ended early by a decision.
    Lifted,
    /// Ended because an approved amendment replaced it.
    Superseded,
}

impl OrderStatus {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            OrderStatus::Proposed => "proposed",
            OrderStatus::Rejected => "rejected",
            OrderStatus::Scheduled => "scheduled",
            OrderStatus::InForce => "in_force",
            OrderStatus::Expired => "expired",
            OrderStatus::Lifted => "lifted",
            OrderStatus::Superseded => "superseded",
        }
    }

    /// Parses a wire name (a list filter, say).
    pub fn parse(text: &str) -> Option<OrderStatus> {
        [
            OrderStatus::Proposed,
            OrderStatus::Rejected,
            OrderStatus::Scheduled,
            OrderStatus::InForce,
            OrderStatus::Expired,
            OrderStatus::Lifted,
            OrderStatus::Superseded,
        ]
        .into_iter()
        .find(|s| s.as_str() == text)
    }
}

impl std::fmt::Display for OrderStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where an order is in its approval lifecycle.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum OrderState {
    /// Proposed from a case; waiting for approvers. Has no effect.
    Proposed,
    /// Approved (or loaded directly by an admin): its phases take effect,
    /// but not before the approval.
    #[default]
    Approved,
    /// Refused by an approver. Never takes effect.
    Rejected,
}

impl OrderState {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            OrderState::Proposed => "proposed",
            OrderState::Approved => "approved",
            OrderState::Rejected => "rejected",
        }
    }
}

/// One approver's approval.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Approval {
    /// The approver's user name.
    pub by: String,
    /// When.
    pub at: Timestamp,
    /// The hash of the preview the approver saw.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preview_hash: Option<String>,
    /// Guards the approver overrode, each with a reason.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub overrides: Vec<GuardOverride>,
}

/// An approver's override of a guard the order breaks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct GuardOverride {
    /// The guard's id.
    pub guard: String,
    /// Why it is overridden; shown in the notice and counted in the report.
    pub reason: String,
}

/// A declared protection: services that orders must not restrict for some
/// customers or subscriptions, unless an approver overrides it with a reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Guard {
    /// Identifier, e.g. `gov-security`.
    pub id: String,
    /// What it protects, for people.
    pub description: String,
    /// Only customers of this kind.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer_kind: Option<crate::TenantKind>,
    /// Only this tenant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
    /// Only this subscription.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subscription: Option<String>,
    /// The services that stay available, e.g. `["security.*"]` (`["*"]`: all).
    pub services: Vec<ServicePattern>,
}

impl Guard {
    /// Checks the id, the description and the patterns.
    pub fn validate(&self, catalog: &Catalog) -> Result<ServiceSet, ModelError> {
        validate_id("guard id", &self.id)?;
        if let Some(tenant) = &self.tenant {
            validate_id("tenant id", tenant)?;
        }
        if let Some(subscription) = &self.subscription {
            validate_id("subscription id", subscription)?;
        }
        if self.description.trim().is_empty() {
            return Err(ModelError::Empty("description (say what the guard protects)"));
        }
        if self.services.is_empty() {
            return Err(ModelError::Empty("services (the services the guard keeps available)"));
        }
        crate::check_list("services", &self.services, MAX_PATTERNS)?;
        ServiceSet::of_patterns(catalog, &self.services)
    }
}

/// A refusal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Rejection {
    /// The approver's user name.
    pub by: String,
    /// When.
    pub at: Timestamp,
    /// Why.
    pub reason: String,
}

/// An order's approval lifecycle. The default is an order loaded directly
/// (approved from the start), as orders were before approvals existed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Lifecycle {
    /// Proposed, approved or rejected.
    #[serde(default)]
    pub state: OrderState,
    /// Who proposed it (none for a direct load).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proposed_by: Option<String>,
    /// How many distinct approvers it needs.
    #[serde(default)]
    pub approvals_required: u32,
    /// The approvals so far, oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub approvals: Vec<Approval>,
    /// When the last required approval came; phases take effect from then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approved_at: Option<Timestamp>,
    /// The refusal, if it was refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rejection: Option<Rejection>,
    /// The order this one replaces (an amendment on appeal).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub supersedes: Option<String>,
}

/// A stored order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Order {
    /// Identifier, e.g. `ord-3f9k2m7q1x`.
    pub id: String,
    /// Creation sequence: lower is older; breaks ties between orders.
    pub seq: i64,
    /// The body.
    #[serde(flatten)]
    pub spec: OrderSpec,
    /// When it was recorded.
    #[serde(default)]
    pub created_at: Timestamp,
    /// When it was lifted, if it was.
    #[serde(default)]
    pub lifted_at: Option<Timestamp>,
    /// Why it was lifted.
    #[serde(default)]
    pub lift_reason: Option<String>,
    /// The approved amendment that replaced it, if that is why it was lifted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub superseded_by: Option<String>,
    /// Subscriptions that were in scope while the order was in force and were
    /// moved out since; they stay covered.
    #[serde(default)]
    pub retained: Vec<String>,
    /// Index of the transparency-log entry that recorded the order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_index: Option<u64>,
    /// Proposal and approvals.
    #[serde(flatten)]
    pub lifecycle: Lifecycle,
}

impl Order {
    /// Whether its phases take effect (approved, or loaded directly).
    pub fn is_effective(&self) -> bool {
        self.lifecycle.state == OrderState::Approved
    }

    /// The status as of `now`. A proposed or rejected order is never in
    /// force, whatever its timeline says.
    pub fn status_at(&self, now: Timestamp) -> OrderStatus {
        match self.lifecycle.state {
            OrderState::Proposed => OrderStatus::Proposed,
            OrderState::Rejected => OrderStatus::Rejected,
            OrderState::Approved if self.lifted_at.is_some_and(|t| t <= now) => match self.superseded_by {
                Some(_) => OrderStatus::Superseded,
                None => OrderStatus::Lifted,
            },
            OrderState::Approved if self.spec.end.is_some_and(|end| end <= now) => OrderStatus::Expired,
            OrderState::Approved if self.phase_at(now).is_none() => OrderStatus::Scheduled,
            OrderState::Approved => OrderStatus::InForce,
        }
    }

    /// Whether the order's timeline still runs at `now`: neither lifted nor
    /// past its end (it may not have started yet, nor been approved).
    pub fn binding_at(&self, now: Timestamp) -> bool {
        self.lifted_at.is_none_or(|t| t > now) && self.spec.end.is_none_or(|end| end > now)
    }

    /// The phase governing instant `at`, lifting and approval included.
    pub fn phase_at(&self, at: Timestamp) -> Option<Phase> {
        if !self.is_effective() || self.lifted_at.is_some_and(|t| at >= t) {
            return None;
        }
        if self.lifecycle.approved_at.is_some_and(|t| at < t) {
            return None;
        }
        self.spec.phase_at(at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> OrderSpec {
        serde_json::from_value(serde_json::json!({
            "tenant": "ministry-of-defense",
            "clause": "AUP-2",
            "scope": {"units": ["intelligence/signals"]},
            "services": ["storage.*", "ai.*"],
            "exempt": ["security.*"],
            "phases": [
                {"mode": "notice", "start": "2026-11-20T00:00:00Z"},
                {"mode": "export_only", "start": "2026-11-22T00:00:00Z"},
                {"mode": "disabled", "start": "2026-11-29T00:00:00Z"}
            ]
        }))
        .unwrap()
    }

    #[test]
    fn timeline_selects_phase_to_the_second() {
        let spec = spec();
        let catalog = Catalog::builtin();
        assert_eq!(spec.validate(&catalog).unwrap().iter().count(), 5);
        let t = Timestamp::parse("2026-11-22T00:00:00Z").unwrap();
        assert_eq!(spec.phase_at(t).unwrap().mode, PhaseMode::ExportOnly);
        assert_eq!(spec.phase_at(t.plus(-1)).unwrap().mode, PhaseMode::Notice);
        assert_eq!(spec.phase_at(Timestamp(0)), None);
    }

    #[test]
    fn refuses_inconsistent_orders() {
        let catalog = Catalog::builtin();
        let mut s = spec();
        s.phases.swap(0, 1);
        assert_eq!(s.validate(&catalog).unwrap_err().code(), "invalid-order");
        let mut s = spec();
        s.exempt = vec![ServicePattern::All];
        assert_eq!(s.validate(&catalog).unwrap_err().code(), "invalid-order");
        let mut s = spec();
        s.scope = Scope::default();
        assert_eq!(s.validate(&catalog).unwrap_err().code(), "empty-field");
        let mut s = spec();
        s.end = Some(s.phases[0].start);
        assert!(s.validate(&catalog).is_err());
    }

    #[test]
    fn export_only_allows_exactly_the_exit_classes() {
        use ActionClass::*;
        let allowed: Vec<_> = ActionClass::ALL.into_iter().filter(|c| !PhaseMode::ExportOnly.denies(*c)).collect();
        assert_eq!(allowed, vec![Read, List, Export, Delete]);
        assert!(ActionClass::ALL.iter().all(|c| !PhaseMode::Notice.denies(*c)));
        assert!(ActionClass::ALL.iter().all(|c| PhaseMode::Disabled.denies(*c)));
    }
}
