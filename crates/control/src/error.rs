//! The control plane's errors: one enum per area (inventory, import,
//! orders, approvals, cases, appeals, users), each variant with its class
//! (which a transport maps to a status), a stable code, and a lowercase
//! message that quotes the input. [`CoreError`] wraps them; every one
//! implements [`verdict_model::Problem`].

use std::fmt;

use verdict_model::{CaseStatus, ModelError, OrderStatus, Problem, Timestamp};
use verdict_store::StoreError;

/// Broad class of a [`CoreError`].
pub use verdict_model::ProblemKind as ErrorKind;

/// What an identifier names, in errors about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Thing {
    /// A tenant.
    Tenant,
    /// A unit of a tenant.
    Unit,
    /// A subscription.
    Subscription,
    /// An enforcement order.
    Order,
    /// A user.
    User,
    /// A case.
    Case,
    /// A clause of the terms.
    Clause,
    /// A notice.
    Notice,
    /// An appeal.
    Appeal,
    /// A detection rule.
    Rule,
}

impl Thing {
    /// The word for it.
    pub fn as_str(self) -> &'static str {
        match self {
            Thing::Tenant => "tenant",
            Thing::Unit => "unit",
            Thing::Subscription => "subscription",
            Thing::Order => "order",
            Thing::User => "user",
            Thing::Case => "case",
            Thing::Clause => "clause",
            Thing::Notice => "notice",
            Thing::Appeal => "appeal",
            Thing::Rule => "rule",
        }
    }

    /// The code for an id of this kind that names nothing.
    pub fn unknown_code(self) -> &'static str {
        match self {
            Thing::Tenant => "unknown-tenant",
            Thing::Unit => "unknown-unit",
            Thing::Subscription => "unknown-subscription",
            Thing::Order => "unknown-order",
            Thing::User => "unknown-user",
            Thing::Case => "unknown-case",
            Thing::Clause => "unknown-clause",
            Thing::Notice => "unknown-notice",
            Thing::Appeal => "unknown-appeal",
            Thing::Rule => "unknown-rule",
        }
    }
}

impl fmt::Display for Thing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a tenant, unit or subscription change was refused.
#[derive(Debug, thiserror::Error)]
pub enum InventoryError {
    /// Creating a tenant, unit or subscription that exists.
    #[error("{kind} {id:?} already exists")]
    Exists {
        /// What.
        kind: Thing,
        /// Its id.
        id: String,
    },
    /// A subscription would change tenant.
    #[error(
        "subscription {subscription:?} belongs to tenant {from:?} and cannot move to tenant {to:?}; subscriptions move only within their tenant"
    )]
    CrossTenantMove {
        /// The subscription.
        subscription: String,
        /// Its tenant.
        from: String,
        /// The tenant asked for.
        to: String,
    },
    /// A unit cannot be deleted.
    #[error("unit {unit:?} cannot be deleted: {why}")]
    UnitNotEmpty {
        /// The unit.
        unit: String,
        /// What keeps it.
        why: String,
    },
}

impl Problem for InventoryError {
    fn kind(&self) -> ErrorKind {
        ErrorKind::Conflict
    }

    fn code(&self) -> &'static str {
        match self {
            InventoryError::Exists { kind: Thing::Tenant, .. } => "tenant-exists",
            InventoryError::Exists { kind: Thing::Unit, .. } => "unit-exists",
            InventoryError::Exists { kind: Thing::Subscription, .. } => "subscription-exists",
            InventoryError::Exists { .. } => "exists",
            InventoryError::CrossTenantMove { .. } => "cross-tenant-move",
            InventoryError::UnitNotEmpty { .. } => "unit-not-empty",
        }
    }
}

/// Why an import was refused (nothing of it is written).
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// A record failed validation.
    #[error("{kind} record {index} (counting from 0): {error}")]
    InvalidRecord {
        /// Record kind.
        kind: Thing,
        /// Position among records of that kind.
        index: usize,
        /// What is wrong.
        error: ModelError,
    },
    /// The same id appears twice in one import.
    #[error("the import lists {kind} {id:?} more than once; each record must appear once")]
    Duplicate {
        /// Record kind.
        kind: Thing,
        /// The repeated id.
        id: String,
    },
    /// A record names a tenant that neither the file nor the store has.
    #[error(
        "{kind} record {index} names tenant {tenant:?}, which is neither in the import nor stored; add the tenant first"
    )]
    UnknownTenant {
        /// Record kind.
        kind: Thing,
        /// Position among records of that kind.
        index: usize,
        /// The tenant named.
        tenant: String,
    },
}

impl Problem for ImportError {
    fn kind(&self) -> ErrorKind {
        ErrorKind::Invalid
    }

    fn code(&self) -> &'static str {
        match self {
            ImportError::InvalidRecord { .. } => "invalid-record",
            ImportError::Duplicate { .. } => "duplicate-record",
            ImportError::UnknownTenant { .. } => "unknown-tenant",
        }
    }
}

/// Why a detection rule could not be published, activated or retired.
#[derive(Debug, thiserror::Error)]
pub enum DetectionError {
    /// The rule's text was refused (what it uses, or what it gives).
    #[error(transparent)]
    Rule(#[from] verdict_detect::RuleError),
    /// Only a shadow version can be approved.
    #[error("rule {id:?} version {version} is {state}; only a shadow version can be approved for activation")]
    NotShadow {
        /// The rule.
        id: String,
        /// Its version.
        version: u32,
        /// Where it stands.
        state: verdict_model::RuleState,
    },
    /// Its author approves.
    #[error("{who} published rule {id:?}; activating it takes two approvers other than its author")]
    SelfApproval {
        /// The approver.
        who: String,
        /// The rule.
        id: String,
    },
    /// The same approver twice.
    #[error("{who} has already approved rule {id:?} version {version}; a second approver is needed")]
    AlreadyApproved {
        /// The approver.
        who: String,
        /// The rule.
        id: String,
        /// Its version.
        version: u32,
    },
    /// Retired already.
    #[error("rule {id:?} version {version} is already retired")]
    Retired {
        /// The rule.
        id: String,
        /// Its version.
        version: u32,
    },
    /// A backtest's period.
    #[error("{0}")]
    Period(String),
}

impl Problem for DetectionError {
    fn kind(&self) -> ErrorKind {
        match self {
            DetectionError::Rule(_) | DetectionError::Period(_) => ErrorKind::Invalid,
            _ => ErrorKind::Conflict,
        }
    }

    fn code(&self) -> &'static str {
        match self {
            DetectionError::Rule(e) => e.code(),
            DetectionError::NotShadow { .. } => "rule-not-shadow",
            DetectionError::SelfApproval { .. } => "self-approval",
            DetectionError::AlreadyApproved { .. } => "already-approved",
            DetectionError::Retired { .. } => "rule-retired",
            DetectionError::Period(_) => "invalid-period",
        }
    }
}

/// Why a batch of usage events was refused: nothing of it is counted.
#[derive(Debug, thiserror::Error)]
pub enum UsageBatchError {
    /// An event failed its checks.
    #[error("line {line}: {error}")]
    Event {
        /// Its line, from 1.
        line: usize,
        /// What is wrong.
        error: verdict_model::UsageError,
    },
    /// A line is not JSON.
    #[error("line {line} is not JSON ({reason}); nothing was counted")]
    Malformed {
        /// Its line, from 1.
        line: usize,
        /// The parser's reason.
        reason: String,
    },
    /// An event names a subscription the inventory does not have.
    #[error("line {line}: subscription {subscription:?} of tenant {tenant:?} does not exist")]
    UnknownSubscription {
        /// Its line, from 1.
        line: usize,
        /// The tenant named.
        tenant: String,
        /// The subscription named.
        subscription: String,
    },
    /// No event at all.
    #[error("the batch holds no event; send one JSON object per line")]
    Empty,
    /// More events than one batch may hold.
    #[error("the batch holds {count} events; send at most {max} per request")]
    TooLarge {
        /// Events sent.
        count: usize,
        /// The most a batch may hold.
        max: usize,
    },
}

impl Problem for UsageBatchError {
    fn kind(&self) -> ErrorKind {
        ErrorKind::Invalid
    }

    fn code(&self) -> &'static str {
        match self {
            UsageBatchError::Event { error, .. } => error.code(),
            UsageBatchError::Malformed { .. } => "malformed-usage",
            UsageBatchError::UnknownSubscription { .. } => "unknown-subscription",
            UsageBatchError::Empty => "empty-batch",
            UsageBatchError::TooLarge { .. } => "batch-too-large",
        }
    }
}

/// Why an order could not be created, lifted or amended.
#[derive(Debug, thiserror::Error)]
pub enum OrderError {
    /// An order's scope reaches into another tenant.
    #[error(
        "subscription {subscription:?} belongs to tenant {belongs_to:?}, but the order is for tenant {order_tenant:?}; an order's scope must lie in one tenant"
    )]
    ScopeSpansTenants {
        /// The foreign subscription.
        subscription: String,
        /// Its tenant.
        belongs_to: String,
        /// The order's tenant.
        order_tenant: String,
    },
    /// An analyst proposed an order without a case.
    #[error("an order is proposed from a case: give case_id")]
    CaseRequired,
    /// The first phase skips notice without saying why.
    #[error("the first phase restricts at once, skipping notice; say why in emergency_reason (the notice shows it)")]
    EmergencyReasonRequired,
    /// The order's case is about another tenant.
    #[error("case {case} is about tenant {case_tenant:?}, not {tenant:?}")]
    CaseTenantMismatch {
        /// The case.
        case: String,
        /// The case's tenant.
        case_tenant: String,
        /// The order's tenant.
        tenant: String,
    },
    /// The order cites a clause its case does not concern.
    #[error("case {case} concerns {clauses:?}, not clause {clause:?}")]
    ClauseNotInCase {
        /// The case.
        case: String,
        /// The clauses it concerns.
        clauses: Vec<String>,
        /// The order's clause.
        clause: String,
    },
    /// Lifting an order that never had effect.
    #[error("order {id} is {status} and has no effect to lift; a proposed order is rejected instead")]
    NotApproved {
        /// The order.
        id: String,
        /// Its status.
        status: OrderStatus,
    },
    /// Lifting an order twice.
    #[error("order {id} was already lifted at {at}")]
    AlreadyLifted {
        /// The order.
        id: String,
        /// When it was lifted.
        at: Timestamp,
    },
    /// Lifting an order that has ended.
    #[error("order {id} already ended at {end}; there is nothing left to lift")]
    Expired {
        /// The order.
        id: String,
        /// When it ended.
        end: Timestamp,
    },
    /// Amending an order that is not in force.
    #[error("order {id} is {status}; only an order in force can be amended")]
    NotInForce {
        /// The order.
        id: String,
        /// Its status.
        status: OrderStatus,
    },
    /// An amendment for another tenant than the order's.
    #[error("order {id} is for tenant {tenant:?}, not {given:?}; an amendment keeps the order's tenant")]
    AmendmentChangesTenant {
        /// The order amended.
        id: String,
        /// Its tenant.
        tenant: String,
        /// The amendment's tenant.
        given: String,
    },
}

impl Problem for OrderError {
    fn kind(&self) -> ErrorKind {
        match self {
            OrderError::ScopeSpansTenants { .. } => ErrorKind::Invalid,
            _ => ErrorKind::Conflict,
        }
    }

    fn code(&self) -> &'static str {
        match self {
            OrderError::ScopeSpansTenants { .. } => "scope-spans-tenants",
            OrderError::CaseRequired => "case-required",
            OrderError::EmergencyReasonRequired => "emergency-reason-required",
            OrderError::CaseTenantMismatch { .. } => "case-tenant-mismatch",
            OrderError::ClauseNotInCase { .. } => "clause-not-in-case",
            OrderError::NotApproved { .. } => "order-not-approved",
            OrderError::AlreadyLifted { .. } => "order-already-lifted",
            OrderError::Expired { .. } => "order-expired",
            OrderError::NotInForce { .. } => "order-not-in-force",
            OrderError::AmendmentChangesTenant { .. } => "amendment-changes-tenant",
        }
    }
}

/// Why an approval or rejection was refused.
#[derive(Debug, thiserror::Error)]
pub enum ApprovalError {
    /// The order is not waiting for approvers.
    #[error("order {id} is {status}, not proposed; only a proposed order can be {verb}")]
    NotProposed {
        /// The order.
        id: String,
        /// Its status.
        status: OrderStatus,
        /// `approved` or `rejected`.
        verb: &'static str,
    },
    /// The proposer approving or rejecting their own order.
    #[error("{who} proposed order {id} and so cannot be the one who has it {verb}")]
    SelfApproval {
        /// The approver.
        who: String,
        /// The order.
        id: String,
        /// `approved` or `rejected`.
        verb: &'static str,
    },
    /// A second approval by the same approver.
    #[error("{who} already approved order {id}; it needs approvals from distinct approvers")]
    AlreadyApproved {
        /// The approver.
        who: String,
        /// The order.
        id: String,
    },
    /// An approval without the preview's hash.
    #[error(
        "approve with the preview's hash: GET /v1/orders/{id}/preview, check it, and send its 'hash' as preview_hash"
    )]
    PreviewRequired {
        /// The order.
        id: String,
    },
    /// An approval of a preview that no longer describes the order.
    #[error(
        "what order {id} would do has changed since that preview (the inventory or the order moved on); preview it again and approve what you see"
    )]
    PreviewStale {
        /// The order.
        id: String,
    },
    /// A guard override without a reason.
    #[error("the override of guard {guard} gives no reason")]
    OverrideReasonRequired {
        /// The guard.
        guard: String,
    },
    /// The order restricts what guards protect, and not every one is overridden.
    #[error(
        "order {id} would restrict what guard(s) {} protect; an approver may override each with a reason (overrides: [{{\"guard\": …, \"reason\": …}}])",
        guards.join(", ")
    )]
    GuardViolated {
        /// The order.
        id: String,
        /// The guards not overridden.
        guards: Vec<String>,
    },
}

impl Problem for ApprovalError {
    fn kind(&self) -> ErrorKind {
        ErrorKind::Conflict
    }

    fn code(&self) -> &'static str {
        match self {
            ApprovalError::NotProposed { .. } => "order-not-proposed",
            ApprovalError::SelfApproval { .. } => "self-approval",
            ApprovalError::AlreadyApproved { .. } => "already-approved",
            ApprovalError::PreviewRequired { .. } => "preview-required",
            ApprovalError::PreviewStale { .. } => "preview-stale",
            ApprovalError::OverrideReasonRequired { .. } => "override-reason-required",
            ApprovalError::GuardViolated { .. } => "guard-violated",
        }
    }
}

/// Why a change to a case was refused.
#[derive(Debug, thiserror::Error)]
pub enum CaseError {
    /// Adding to a closed case.
    #[error("case {id} is closed; reopen it (status \"open\") before adding to it")]
    Closed {
        /// The case.
        id: String,
    },
    /// Assigning a case to someone who is not an analyst.
    #[error("{who} is a {roles} user; cases are assigned to analysts")]
    AssigneeNotAnalyst {
        /// The user named.
        who: String,
        /// Their roles.
        roles: String,
    },
    /// A status change the case's lifecycle does not allow.
    #[error(
        "case {id} is {from} and cannot become {to}; cases go open → under_review → decided → closed, and decided or closed may reopen"
    )]
    IllegalTransition {
        /// The case.
        id: String,
        /// Its status.
        from: CaseStatus,
        /// The status asked for.
        to: CaseStatus,
    },
}

impl Problem for CaseError {
    fn kind(&self) -> ErrorKind {
        ErrorKind::Conflict
    }

    fn code(&self) -> &'static str {
        match self {
            CaseError::Closed { .. } => "case-closed",
            CaseError::AssigneeNotAnalyst { .. } => "assignee-not-analyst",
            CaseError::IllegalTransition { .. } => "illegal-case-transition",
        }
    }
}

/// Why an appeal could not be filed or decided.
#[derive(Debug, thiserror::Error)]
pub enum AppealError {
    /// Appealing an order that has no effect.
    #[error("order {order} is {status}; there is nothing to appeal")]
    OrderNotInForce {
        /// The order.
        order: String,
        /// Its status.
        status: OrderStatus,
    },
    /// A second appeal while one waits.
    #[error("order {order} already has an appeal waiting for a decision")]
    Pending {
        /// The order.
        order: String,
    },
    /// Deciding an appeal twice.
    #[error("appeal {appeal} was already decided ({outcome}) by {by}")]
    Decided {
        /// The appeal.
        appeal: String,
        /// Its outcome.
        outcome: &'static str,
        /// Who decided it.
        by: String,
    },
    /// A reviewer who proposed or approved the order.
    #[error("{who} proposed or approved order {order} and so cannot decide its appeal")]
    ReviewerConflict {
        /// The reviewer.
        who: String,
        /// The order.
        order: String,
    },
    /// An amendment without the order's new version.
    #[error("an amendment gives the order's new version as 'amendment'")]
    AmendmentRequired,
    /// An amendment for another tenant than the order's.
    #[error(
        "the amendment is for tenant {given:?}, the order {order} for {tenant:?}; an amendment keeps the order's tenant"
    )]
    AmendmentChangesTenant {
        /// The order.
        order: String,
        /// Its tenant.
        tenant: String,
        /// The amendment's tenant.
        given: String,
    },
}

impl Problem for AppealError {
    fn kind(&self) -> ErrorKind {
        ErrorKind::Conflict
    }

    fn code(&self) -> &'static str {
        match self {
            AppealError::OrderNotInForce { .. } => "order-not-in-force",
            AppealError::Pending { .. } => "appeal-pending",
            AppealError::Decided { .. } => "appeal-decided",
            AppealError::ReviewerConflict { .. } => "reviewer-conflict",
            AppealError::AmendmentRequired => "amendment-required",
            AppealError::AmendmentChangesTenant { .. } => "amendment-changes-tenant",
        }
    }
}

/// Why a change to users was refused.
#[derive(Debug, thiserror::Error)]
pub enum UserError {
    /// A user that exists.
    #[error("user {name:?} already exists")]
    Exists {
        /// The name.
        name: String,
    },
    /// A name kept for verdict's own principals.
    #[error("{name:?} is reserved for the data directory's own tokens and verdict itself; pick another name")]
    Reserved {
        /// The name.
        name: String,
    },
    /// Revoking twice.
    #[error("user {name:?} was already revoked at {at}")]
    AlreadyRevoked {
        /// The name.
        name: String,
        /// When.
        at: Timestamp,
    },
}

impl Problem for UserError {
    fn kind(&self) -> ErrorKind {
        ErrorKind::Conflict
    }

    fn code(&self) -> &'static str {
        match self {
            UserError::Exists { .. } => "user-exists",
            UserError::Reserved { .. } => "reserved-user-name",
            UserError::AlreadyRevoked { .. } => "user-already-revoked",
        }
    }
}

/// Why a read of the transparency log was refused.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    /// A tile beyond the published tree.
    #[error("{path} is not in the published tree: {why}")]
    TileNotFound {
        /// The tile's path.
        path: String,
        /// Why.
        why: String,
    },
    /// A tree size beyond the latest checkpoint (it may exist later).
    #[error("{what} {size} is beyond the latest checkpoint, which covers {published} entries")]
    SizeBeyondCheckpoint {
        /// Which parameter.
        what: &'static str,
        /// The size asked for.
        size: u64,
        /// The latest checkpoint's size.
        published: u64,
    },
    /// A consistency proof between sizes that are not old ≤ new.
    #[error("old must be between 1 and new ({new}), not {old}")]
    InvalidRange {
        /// The older size.
        old: u64,
        /// The newer size.
        new: u64,
    },
    /// An inclusion proof for an index outside the tree it names.
    #[error("index {index} is not in a tree of {size} entries (indexes start at 0)")]
    IndexNotInTree {
        /// The index.
        index: u64,
        /// The tree's size.
        size: u64,
    },
    /// An entry whose public part is over the log's entry limit.
    #[error(
        "this {kind} log entry would be {bytes} bytes, over the {}-byte limit of a log entry; put less in its public part",
        crate::MAX_ENTRY_BYTES
    )]
    EntryTooLarge {
        /// The entry's type.
        kind: &'static str,
        /// Its size.
        bytes: usize,
    },
    /// An entry the log does not have (yet).
    #[error("the log has {size} entries (indexes 0..{size}); there is no entry {index} yet")]
    NoEntry {
        /// The index asked for.
        index: u64,
        /// The log's size.
        size: u64,
    },
}

impl Problem for LogError {
    fn kind(&self) -> ErrorKind {
        match self {
            LogError::TileNotFound { .. } | LogError::SizeBeyondCheckpoint { .. } | LogError::NoEntry { .. } => {
                ErrorKind::NotFound
            }
            LogError::InvalidRange { .. } | LogError::IndexNotInTree { .. } | LogError::EntryTooLarge { .. } => {
                ErrorKind::Invalid
            }
        }
    }

    fn code(&self) -> &'static str {
        match self {
            LogError::TileNotFound { .. } => "tile-not-found",
            LogError::SizeBeyondCheckpoint { .. } => "size-out-of-range",
            LogError::InvalidRange { .. } => "invalid-range",
            LogError::IndexNotInTree { .. } => "index-not-in-tree",
            LogError::NoEntry { .. } => "index-out-of-range",
            LogError::EntryTooLarge { .. } => "entry-too-large",
        }
    }
}

/// Why a control-plane operation was refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum CoreError {
    /// The input failed validation.
    #[error(transparent)]
    Invalid(#[from] ModelError),
    /// A body refers to something that does not exist.
    #[error("{kind} {id:?} does not exist; create it first or check the spelling")]
    UnknownReference {
        /// What was referred to.
        kind: Thing,
        /// Its id.
        id: String,
    },
    /// The addressed resource does not exist.
    #[error("{kind} {id:?} does not exist")]
    NotFound {
        /// What was addressed.
        kind: Thing,
        /// Its id.
        id: String,
    },
    /// Tenants, units, subscriptions.
    #[error(transparent)]
    Inventory(#[from] InventoryError),
    /// Imports.
    #[error(transparent)]
    Import(#[from] ImportError),
    /// Creating, lifting and amending orders.
    #[error(transparent)]
    Order(#[from] OrderError),
    /// Approving and rejecting orders.
    #[error(transparent)]
    Approval(#[from] ApprovalError),
    /// Cases.
    #[error(transparent)]
    Case(#[from] CaseError),
    /// Appeals.
    #[error(transparent)]
    Appeal(#[from] AppealError),
    /// Users.
    #[error(transparent)]
    User(#[from] UserError),
    /// A read of the transparency log asks for something outside it.
    #[error(transparent)]
    Log(#[from] LogError),
    /// Usage events.
    #[error(transparent)]
    Usage(#[from] UsageBatchError),
    /// Detection rules.
    #[error(transparent)]
    Detection(#[from] DetectionError),
    /// The stored log is not the history this log signed; the control
    /// plane refuses to open (and to sign anything) over it.
    #[error(transparent)]
    History(#[from] crate::HistoryError),
    /// The store failed.
    #[error("storage failed")]
    Store(#[from] StoreError),
    /// An internal invariant broke.
    #[error("internal error: {0}")]
    Internal(String),
}

impl CoreError {
    /// The area error this wraps, if any.
    fn area(&self) -> Option<&dyn Problem> {
        Some(match self {
            CoreError::Invalid(e) => e,
            CoreError::Inventory(e) => e,
            CoreError::Import(e) => e,
            CoreError::Order(e) => e,
            CoreError::Approval(e) => e,
            CoreError::Case(e) => e,
            CoreError::Appeal(e) => e,
            CoreError::User(e) => e,
            CoreError::Log(e) => e,
            CoreError::Usage(e) => e,
            CoreError::Detection(e) => e,
            _ => return None,
        })
    }

    /// The broad class.
    pub fn kind(&self) -> ErrorKind {
        if let Some(area) = self.area() {
            return area.kind();
        }
        match self {
            CoreError::UnknownReference { .. } => ErrorKind::Invalid,
            CoreError::NotFound { .. } => ErrorKind::NotFound,
            CoreError::Store(StoreError::Conflict(_)) => ErrorKind::Conflict,
            CoreError::Store(StoreError::NotFound { .. }) => ErrorKind::NotFound,
            _ => ErrorKind::Internal,
        }
    }

    /// The stable, machine-readable code.
    pub fn code(&self) -> &'static str {
        if let Some(area) = self.area() {
            return area.code();
        }
        match self {
            CoreError::UnknownReference { kind, .. } | CoreError::NotFound { kind, .. } => kind.unknown_code(),
            CoreError::Store(StoreError::Conflict(_)) => "conflict",
            CoreError::Store(StoreError::NotFound { .. }) => "not-found",
            CoreError::History(e) => e.code(),
            _ => "internal",
        }
    }
}

impl Problem for CoreError {
    fn kind(&self) -> ErrorKind {
        CoreError::kind(self)
    }

    fn code(&self) -> &'static str {
        CoreError::code(self)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    /// Every refusal, with the input its message must quote (empty: a fixed
    /// sentence).
    fn samples() -> Vec<(CoreError, &'static str)> {
        let id = || "ord-1".to_owned();
        let at = Timestamp::parse("2026-12-01T00:00:00Z").unwrap();
        vec![
            (CoreError::NotFound { kind: Thing::Order, id: id() }, "ord-1"),
            (CoreError::UnknownReference { kind: Thing::Clause, id: "AUP-9".into() }, "AUP-9"),
            (InventoryError::Exists { kind: Thing::Tenant, id: "t".into() }.into(), r#""t""#),
            (InventoryError::Exists { kind: Thing::Unit, id: "t:u".into() }.into(), "t:u"),
            (InventoryError::Exists { kind: Thing::Subscription, id: "s".into() }.into(), r#""s""#),
            (
                InventoryError::CrossTenantMove { subscription: "s".into(), from: "a".into(), to: "b".into() }.into(),
                r#""s""#,
            ),
            (
                InventoryError::UnitNotEmpty { unit: "u".into(), why: "it holds 1 subscription(s)".into() }.into(),
                r#""u""#,
            ),
            (ImportError::Duplicate { kind: Thing::Tenant, id: "t".into() }.into(), r#""t""#),
            (ImportError::UnknownTenant { kind: Thing::Unit, index: 0, tenant: "t".into() }.into(), r#""t""#),
            (
                OrderError::ScopeSpansTenants {
                    subscription: "s".into(),
                    belongs_to: "a".into(),
                    order_tenant: "b".into(),
                }
                .into(),
                r#""s""#,
            ),
            (OrderError::CaseRequired.into(), ""),
            (OrderError::EmergencyReasonRequired.into(), ""),
            (
                OrderError::CaseTenantMismatch { case: "c".into(), case_tenant: "a".into(), tenant: "b".into() }.into(),
                "case c",
            ),
            (
                OrderError::ClauseNotInCase { case: "c".into(), clauses: vec!["AUP-1".into()], clause: "AUP-2".into() }
                    .into(),
                "AUP-2",
            ),
            (OrderError::NotApproved { id: id(), status: OrderStatus::Proposed }.into(), "ord-1"),
            (OrderError::AlreadyLifted { id: id(), at }.into(), "ord-1"),
            (OrderError::Expired { id: id(), end: at }.into(), "ord-1"),
            (OrderError::NotInForce { id: id(), status: OrderStatus::Lifted }.into(), "ord-1"),
            (OrderError::AmendmentChangesTenant { id: id(), tenant: "a".into(), given: "b".into() }.into(), "ord-1"),
            (ApprovalError::NotProposed { id: id(), status: OrderStatus::InForce, verb: "approved" }.into(), "ord-1"),
            (ApprovalError::SelfApproval { who: "ana".into(), id: id(), verb: "approved" }.into(), "ana"),
            (ApprovalError::AlreadyApproved { who: "ana".into(), id: id() }.into(), "ana"),
            (ApprovalError::PreviewRequired { id: id() }.into(), "ord-1"),
            (ApprovalError::PreviewStale { id: id() }.into(), "ord-1"),
            (ApprovalError::OverrideReasonRequired { guard: "g".into() }.into(), "guard g"),
            (ApprovalError::GuardViolated { id: id(), guards: vec!["g".into()] }.into(), "guard(s) g"),
            (CaseError::Closed { id: "c".into() }.into(), "case c"),
            (CaseError::AssigneeNotAnalyst { who: "bo".into(), roles: "approver".into() }.into(), "bo"),
            (
                CaseError::IllegalTransition { id: "c".into(), from: CaseStatus::Closed, to: CaseStatus::Decided }
                    .into(),
                "case c",
            ),
            (AppealError::OrderNotInForce { order: id(), status: OrderStatus::Expired }.into(), "ord-1"),
            (AppealError::Pending { order: id() }.into(), "ord-1"),
            (AppealError::Decided { appeal: "apl-1".into(), outcome: "uphold", by: "rev".into() }.into(), "apl-1"),
            (AppealError::ReviewerConflict { who: "rev".into(), order: id() }.into(), "rev"),
            (AppealError::AmendmentRequired.into(), ""),
            (
                AppealError::AmendmentChangesTenant { order: id(), tenant: "a".into(), given: "b".into() }.into(),
                "ord-1",
            ),
            (UserError::Exists { name: "ana".into() }.into(), r#""ana""#),
            (UserError::Reserved { name: "admin".into() }.into(), r#""admin""#),
            (UserError::AlreadyRevoked { name: "ana".into(), at }.into(), r#""ana""#),
            (LogError::TileNotFound { path: "tile/0/001".into(), why: "beyond".into() }.into(), "tile/0/001"),
            (LogError::SizeBeyondCheckpoint { what: "size", size: 70, published: 6 }.into(), "70"),
            (LogError::InvalidRange { old: 3, new: 2 }.into(), "not 3"),
            (LogError::IndexNotInTree { index: 6, size: 6 }.into(), "index 6"),
            (LogError::NoEntry { index: 9, size: 6 }.into(), "entry 9"),
            (LogError::EntryTooLarge { kind: "order.created", bytes: 99_999 }.into(), "99999"),
        ]
    }

    #[test]
    fn every_code_is_stable_kebab_case_with_one_class() {
        let mut classes: HashMap<&str, ErrorKind> = HashMap::new();
        for (e, _) in samples() {
            let code = e.code();
            assert!(
                !code.is_empty() && code.bytes().all(|b| b.is_ascii_lowercase() || b == b'-'),
                "{code:?} is not kebab-case"
            );
            assert_ne!(code, "internal", "{e}");
            assert_ne!(e.kind(), ErrorKind::Internal, "{code}");
            if let Some(before) = classes.insert(code, e.kind()) {
                assert_eq!(before, e.kind(), "{code} has two classes");
            }
            let message = e.to_string();
            assert!(!message.is_empty() && !message.ends_with('.'), "{code}: {message:?}");
        }
    }

    #[test]
    fn messages_quote_the_input() {
        for (e, input) in samples() {
            assert!(e.to_string().contains(input), "{}: {e} does not quote {input}", e.code());
        }
    }
}
