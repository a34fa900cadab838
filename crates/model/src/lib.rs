//! verdict's domain: tenants, units, subscriptions, the service catalog and
//! enforcement orders, with the validation every other crate relies on.
//!
//! This crate does no I/O. Its serde shapes are verdict's document formats:
//! the inventory import file, the order body of the management API and the
//! data-driven decision cases all use them.

mod case;
mod catalog;
mod error;
mod inventory;
mod names;
mod notice;
#[cfg(feature = "openapi")]
mod openapi;
mod order;
mod pattern;
mod rule;
mod timestamp;
mod usage;
mod user;

pub use case::{Case, CaseEvent, CaseSpec, CaseStatus, Clause, Evidence, SourceType, refuse_content};
pub use catalog::{ActionClass, Catalog, ServiceDef, ServiceIndex};
pub use error::{ModelError, Problem, ProblemKind, check_list, refuse, take_refusal};
pub use inventory::{Inventory, ParseError, Subscription, Tenant, TenantKind, Unit};
pub use names::{UnitPath, validate_id};
pub use notice::{Appeal, AppealDecision, AppealOutcome, Ground, Notice, NoticeKind, StatementOfReasons};
pub use order::{
    Approval, Guard, GuardOverride, Lifecycle, Order, OrderSpec, OrderState, OrderStatus, Phase, PhaseMode, Rejection,
    Scope,
};
pub use pattern::{ServicePattern, ServiceSet};
pub use rule::{DetectionRule, RuleApproval, RuleSpec, RuleState, RuleTarget};
pub use timestamp::Timestamp;
pub use usage::{
    LineError, MAX_CLOCK_SKEW_SECONDS, METERS, MeterDef, MeterKind, UsageError, UsageEvent, meter, meters_of,
};
pub use user::{ReplicaScope, Role, User, roles_text};
