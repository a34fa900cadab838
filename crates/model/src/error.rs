//! Validation errors: each has a stable code for the API and a lowercase
//! message that quotes the offending input.

/// Why a piece of domain input was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ModelError {
    /// An identifier (tenant, subscription, order, clause) is malformed.
    #[error(
        "invalid {what} {value:?}: use 1 to 64 characters from a-z, A-Z, 0-9, '.', '_' and '-', starting with a letter or digit"
    )]
    InvalidId {
        /// Which kind of identifier.
        what: &'static str,
        /// The input as given.
        value: String,
    },
    /// A unit path is malformed.
    #[error("invalid unit path {value:?}: {why}")]
    InvalidUnitPath {
        /// The input as given.
        value: String,
        /// What is wrong with it.
        why: &'static str,
    },
    /// A service pattern does not parse.
    #[error(
        "invalid service pattern {value:?}: use '*', 'family.*' or 'family.name', e.g. 'storage.*' or 'ai.speech-to-text'"
    )]
    InvalidPattern {
        /// The input as given.
        value: String,
    },
    /// A service pattern parses but names nothing in the catalog.
    #[error(
        "service pattern {value:?} matches no service in the catalog; see GET /v1/catalog for the services verdict knows"
    )]
    PatternMatchesNothing {
        /// The input as given.
        value: String,
    },
    /// A service name is not in the catalog.
    #[error("unknown service {value:?}; see GET /v1/catalog for the services verdict knows")]
    UnknownService {
        /// The input as given.
        value: String,
    },
    /// A timestamp does not parse.
    #[error("invalid time {value:?}: use RFC 3339, e.g. 2026-11-23T09:00:00Z")]
    InvalidTime {
        /// The input as given.
        value: String,
    },
    /// An order's body is inconsistent.
    #[error("invalid order: {0}")]
    InvalidOrder(String),
    /// A field that must not be empty is.
    #[error("{0} must not be empty")]
    Empty(&'static str),
    /// A role name that is not one of verdict's roles.
    #[error("{0:?} is not a role; roles are admin, analyst, approver, reviewer, auditor, tenant and pep")]
    UnknownRole(String),
    /// A user record that does not hold together.
    #[error("{0}")]
    InvalidUser(String),
    /// A case that does not hold together.
    #[error("{0}")]
    InvalidCase(String),
    /// A clause that does not hold together.
    #[error("{0}")]
    InvalidClause(String),
    /// Evidence that does not hold together.
    #[error("invalid evidence: {0}")]
    InvalidEvidence(String),
    /// A period whose end is not after its start.
    #[error("the period's end {to} is not after its start {from}")]
    InvalidPeriod {
        /// Its start.
        from: crate::Timestamp,
        /// Its end.
        to: crate::Timestamp,
    },
    /// A text field longer than its limit.
    #[error("{field} is longer than {max} bytes")]
    TooLong {
        /// Which field.
        field: &'static str,
        /// Its limit.
        max: usize,
    },
    /// A list names the same thing twice.
    #[error("{list} lists {value:?} more than once; name each once")]
    DuplicateEntry {
        /// Which list.
        list: &'static str,
        /// The repeated entry.
        value: String,
    },
    /// A list longer than its limit.
    #[error("{list} has {given} entries; at most {max} are accepted")]
    TooManyEntries {
        /// Which list.
        list: &'static str,
        /// Its limit.
        max: usize,
        /// How many were given.
        given: usize,
    },
    /// Evidence offered as customer content.
    #[error(
        "evidence marked {0:?} looks like customer content, which verdict never takes: cases rest on service metadata and outside documents (by address and SHA-256), so that enforcement never requires reading what customers store"
    )]
    CustomerContent(String),
}

impl ModelError {
    /// The stable, machine-readable code of this error.
    pub fn code(&self) -> &'static str {
        match self {
            ModelError::InvalidId { .. } => "invalid-id",
            ModelError::InvalidUnitPath { .. } => "invalid-unit-path",
            ModelError::InvalidPattern { .. } => "invalid-pattern",
            ModelError::PatternMatchesNothing { .. } => "pattern-matches-nothing",
            ModelError::UnknownService { .. } => "unknown-service",
            ModelError::InvalidTime { .. } => "invalid-time",
            ModelError::InvalidOrder(_) => "invalid-order",
            ModelError::Empty(_) => "empty-field",
            ModelError::UnknownRole(_) => "unknown-role",
            ModelError::InvalidUser(_) => "invalid-user",
            ModelError::InvalidCase(_) => "invalid-case",
            ModelError::InvalidClause(_) => "invalid-clause",
            ModelError::InvalidEvidence(_) => "invalid-evidence",
            ModelError::CustomerContent(_) => "customer-content-refused",
            ModelError::TooLong { .. } => "too-long",
            ModelError::InvalidPeriod { .. } => "invalid-period",
            ModelError::DuplicateEntry { .. } => "duplicate-entry",
            ModelError::TooManyEntries { .. } => "too-many-entries",
        }
    }
}

/// The class of a refusal, which each transport maps to its own status
/// (HTTP: 422, 404, 409, 500).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProblemKind {
    /// The input is malformed or refers to something that does not exist.
    Invalid,
    /// The addressed resource does not exist.
    NotFound,
    /// The change is illegal in the current state.
    Conflict,
    /// verdict itself failed; details are logged, not shown.
    Internal,
}

/// An error every verdict surface reports the same way: a class, a stable
/// code and (through `Display`) a sentence quoting the input.
pub trait Problem: std::fmt::Display + std::fmt::Debug {
    /// The class.
    fn kind(&self) -> ProblemKind;
    /// The stable, machine-readable code, e.g. `unknown-order`.
    fn code(&self) -> &'static str;
}

impl Problem for ModelError {
    fn kind(&self) -> ProblemKind {
        ProblemKind::Invalid
    }

    fn code(&self) -> &'static str {
        ModelError::code(self)
    }
}

thread_local! {
    /// The code of the last [`ModelError`] a model type raised while being
    /// deserialised on this thread (see [`refuse`]).
    static REFUSAL: std::cell::Cell<Option<&'static str>> = const { std::cell::Cell::new(None) };
}

/// A model type's refusal while it is deserialised. serde carries only the
/// sentence (`Error::custom`); the typed code is kept beside it, on this
/// thread, for a body parser to collect with [`take_refusal`] — so an API
/// reports `invalid-pattern`, not a guess from the message's words.
pub fn refuse<E: serde::de::Error>(error: ModelError) -> E {
    REFUSAL.with(|r| r.set(Some(error.code())));
    E::custom(error)
}

/// The code of the last refusal [`refuse`] recorded on this thread, clearing
/// it. Call it before deserialising (to clear) and after a custom error.
pub fn take_refusal() -> Option<&'static str> {
    REFUSAL.with(std::cell::Cell::take)
}

/// Refuses a list with more than `max` entries or with an entry twice
/// (lists are sets: a duplicate is a mistake worth saying, not collapsing).
pub fn check_list<T: PartialEq + std::fmt::Display>(
    list: &'static str,
    items: &[T],
    max: usize,
) -> Result<(), ModelError> {
    if items.len() > max {
        return Err(ModelError::TooManyEntries { list, max, given: items.len() });
    }
    // Lists are short (the limits are in the hundreds): a quadratic scan
    // needs no hashing of the entry type.
    for (i, item) in items.iter().enumerate() {
        if items[..i].contains(item) {
            return Err(ModelError::DuplicateEntry { list, value: item.to_string() });
        }
    }
    Ok(())
}
