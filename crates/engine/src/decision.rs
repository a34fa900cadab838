//! What a decision says, and the sentence that explains it to a person.

use verdict_model::{ActionClass, PhaseMode, Timestamp};

use crate::OrderRef;

/// Why a decision came out as it did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Basis {
    /// The catalog has no such service and no order's pattern reaches it
    /// (`*` or its `family.*`); verdict only subtracts, so it allows.
    UnknownService,
    /// The service or action name is malformed; denied (fail closed).
    MalformedName,
    /// verdict knows no such subscription; allowed.
    UnknownSubscription,
    /// A replica of a scoped snapshot does not hold the subscription (it
    /// may be outside the scope) and refuses what it cannot know; denied.
    OutsideScope,
    /// No order in force restricts this service for this subscription.
    NoOrder,
    /// An order governs the request: the most restrictive one that applies
    /// (ties: the oldest). It denies iff its phase denies the action's class.
    Order {
        /// The deciding order.
        order: OrderRef,
        /// Index of its governing phase in the order's timeline.
        phase: u8,
        /// That phase's mode.
        mode: PhaseMode,
    },
}

/// The answer for one request. `Copy`, small, built without allocating.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    /// Whether the request may proceed.
    pub allowed: bool,
    /// Why.
    pub basis: Basis,
    /// The class the action was given.
    pub class: ActionClass,
    /// Whether the catalog lists the action (unlisted ones are `write`).
    pub action_known: bool,
    /// The instant decided for.
    pub at: Timestamp,
}

/// A decision spelled out for people and wire formats.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Explanation {
    /// Stable reason code: `no-order`, `unknown-subscription`,
    /// `unknown-service`, `malformed-name`, `notice`, `export-window`,
    /// `restricted`.
    pub code: &'static str,
    /// The deciding order's id.
    pub order: Option<String>,
    /// Its clause.
    pub clause: Option<String>,
    /// Its governing phase.
    pub phase: Option<PhaseMode>,
    /// When that phase began.
    pub phase_start: Option<Timestamp>,
    /// When the next phase of that order begins, if any.
    pub next_phase: Option<(PhaseMode, Timestamp)>,
    /// One sentence a person can act on.
    pub reason: String,
    /// Index of the deciding order's entry in the transparency log.
    pub log_index: Option<u64>,
}

/// What an explanation says besides its sentence, borrowed from the
/// snapshot ([`crate::Snapshot::explain_into`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Facts<'s> {
    /// Stable reason code, as in [`Explanation::code`].
    pub code: &'static str,
    /// The deciding order's id.
    pub order: Option<&'s str>,
    /// Its clause.
    pub clause: Option<&'s str>,
    /// Its governing phase.
    pub phase: Option<PhaseMode>,
    /// When that phase began.
    pub phase_start: Option<Timestamp>,
    /// When the next phase of that order begins, if any.
    pub next_phase: Option<(PhaseMode, Timestamp)>,
    /// Index of the deciding order's entry in the transparency log.
    pub log_index: Option<u64>,
}
