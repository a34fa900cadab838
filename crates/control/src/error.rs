//! The control plane's errors: each has a kind (which the server maps to an
//! HTTP status), a stable code, and a message that quotes the input.

use verdict_model::{ModelError, Problem};
use verdict_store::StoreError;

/// Broad class of a [`CoreError`].
pub use verdict_model::ProblemKind as ErrorKind;

/// Why a control-plane operation was refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum CoreError {
    /// The input failed validation.
    #[error(transparent)]
    Invalid(#[from] ModelError),
    /// An import record failed validation.
    #[error("{kind} record {index} (counting from 0): {error}")]
    InvalidRecord {
        /// Record kind.
        kind: &'static str,
        /// Position among records of that kind.
        index: usize,
        /// What is wrong.
        error: ModelError,
    },
    /// The same id appears twice in one import.
    #[error("the import lists {kind} {id:?} more than once; each record must appear once")]
    ImportDuplicate {
        /// Record kind.
        kind: &'static str,
        /// The repeated id.
        id: String,
    },
    /// An import record names a tenant that neither the file nor the store has.
    #[error(
        "{kind} record {index} names tenant {tenant:?}, which is neither in the import nor stored; add the tenant first"
    )]
    ImportUnknownTenant {
        /// Record kind.
        kind: &'static str,
        /// Position among records of that kind.
        index: usize,
        /// The tenant named.
        tenant: String,
    },
    /// A body refers to something that does not exist.
    #[error("{kind} {id:?} does not exist; create it first or check the spelling")]
    UnknownReference {
        /// What was referred to.
        kind: &'static str,
        /// Its id.
        id: String,
    },
    /// The addressed resource does not exist.
    #[error("{kind} {id:?} does not exist")]
    NotFound {
        /// What was addressed.
        kind: &'static str,
        /// Its id.
        id: String,
    },
    /// Creating something that exists.
    #[error("{kind} {id:?} already exists")]
    Exists {
        /// What.
        kind: &'static str,
        /// Its id.
        id: String,
    },
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
    /// A lifecycle transition that the current state forbids.
    #[error("{message}")]
    IllegalTransition {
        /// Stable code, e.g. `order-already-lifted`.
        code: &'static str,
        /// The sentence.
        message: String,
    },
    /// A read of the transparency log asks for something outside it.
    #[error("{message}")]
    Log {
        /// Stable code, e.g. `index-out-of-range`.
        code: &'static str,
        /// Whether the thing asked for may exist later (404) rather than
        /// being malformed (400).
        not_found: bool,
        /// The sentence.
        message: String,
    },
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
    pub(crate) fn invalid_record(kind: &'static str, index: usize, error: ModelError) -> CoreError {
        CoreError::InvalidRecord { kind, index, error }
    }

    /// The broad class.
    pub fn kind(&self) -> ErrorKind {
        match self {
            CoreError::Invalid(_)
            | CoreError::InvalidRecord { .. }
            | CoreError::ImportDuplicate { .. }
            | CoreError::ImportUnknownTenant { .. }
            | CoreError::UnknownReference { .. }
            | CoreError::ScopeSpansTenants { .. } => ErrorKind::Invalid,
            CoreError::NotFound { .. } => ErrorKind::NotFound,
            CoreError::Log { not_found: true, .. } => ErrorKind::NotFound,
            CoreError::Log { not_found: false, .. } => ErrorKind::Invalid,
            CoreError::Exists { .. }
            | CoreError::CrossTenantMove { .. }
            | CoreError::UnitNotEmpty { .. }
            | CoreError::IllegalTransition { .. } => ErrorKind::Conflict,
            CoreError::Store(StoreError::Conflict(_)) => ErrorKind::Conflict,
            CoreError::Store(StoreError::NotFound { .. }) => ErrorKind::NotFound,
            CoreError::Store(_) | CoreError::Internal(_) | CoreError::History(_) => ErrorKind::Internal,
        }
    }

    /// The stable, machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            CoreError::Invalid(e) => e.code(),
            CoreError::InvalidRecord { .. } => "invalid-record",
            CoreError::ImportDuplicate { .. } => "duplicate-record",
            CoreError::ImportUnknownTenant { .. } => "unknown-tenant",
            CoreError::UnknownReference { kind, .. } | CoreError::NotFound { kind, .. } => match *kind {
                "tenant" => "unknown-tenant",
                "unit" => "unknown-unit",
                "subscription" => "unknown-subscription",
                "order" => "unknown-order",
                "user" => "unknown-user",
                "case" => "unknown-case",
                "clause" => "unknown-clause",
                "notice" => "unknown-notice",
                "appeal" => "unknown-appeal",
                _ => "not-found",
            },
            CoreError::Exists { kind, .. } => match *kind {
                "tenant" => "tenant-exists",
                "unit" => "unit-exists",
                "subscription" => "subscription-exists",
                "user" => "user-exists",
                _ => "exists",
            },
            CoreError::ScopeSpansTenants { .. } => "scope-spans-tenants",
            CoreError::CrossTenantMove { .. } => "cross-tenant-move",
            CoreError::UnitNotEmpty { .. } => "unit-not-empty",
            CoreError::IllegalTransition { code, .. } | CoreError::Log { code, .. } => code,
            CoreError::Store(StoreError::Conflict(_)) => "conflict",
            CoreError::Store(StoreError::NotFound { .. }) => "not-found",
            CoreError::History(e) => e.code(),
            CoreError::Store(_) | CoreError::Internal(_) => "internal",
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
