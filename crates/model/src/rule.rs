//! Detection rules as the provider publishes them: a CEL expression over
//! usage figures, the clause it watches for, what it is evaluated on, and
//! where each version stands — draft, shadow (evaluated, nothing opened),
//! active (opens cases; two approvers other than its author), retired.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::{ModelError, Timestamp, validate_id};

/// What a rule is evaluated on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum RuleTarget {
    /// Each unit, with its subscriptions and every unit below it.
    Unit,
    /// Each subscription on its own.
    Subscription,
}

/// A rule as its author writes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RuleSpec {
    /// Identifier, the same across versions, e.g. `aup2-intercept-archive`.
    pub id: String,
    /// The clause it watches for, e.g. `AUP-2`.
    pub clause: String,
    /// One line for people.
    pub title: String,
    /// The CEL expression, e.g. `sum("ai.speech-to-text", "audio_seconds", "1d") > 3.6e6`.
    pub text: String,
    /// Units (default) or subscriptions.
    #[serde(default = "unit_target")]
    pub target: RuleTarget,
}

fn unit_target() -> RuleTarget {
    RuleTarget::Unit
}

impl RuleSpec {
    /// Checks the id, clause, title and the text's length (the text itself
    /// is checked by the rule compiler).
    pub fn validate(&self) -> Result<(), ModelError> {
        validate_id("rule id", &self.id)?;
        validate_id("clause", &self.clause)?;
        if self.title.trim().is_empty() {
            return Err(ModelError::Empty("title (say what the rule watches for)"));
        }
        if self.title.len() > 200 {
            return Err(ModelError::TooLong { field: "the rule's title", max: 200 });
        }
        if self.text.len() > 4000 {
            return Err(ModelError::TooLong { field: "the rule's text", max: 4000 });
        }
        Ok(())
    }
}

/// Where a version stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum RuleState {
    /// Published and evaluated; what it would fire on is recorded, nothing
    /// is opened.
    Shadow,
    /// Opens cases (or adds findings to the open one for the unit).
    Active,
    /// No longer evaluated.
    Retired,
}

impl RuleState {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            RuleState::Shadow => "shadow",
            RuleState::Active => "active",
            RuleState::Retired => "retired",
        }
    }
}

impl fmt::Display for RuleState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An approval of a rule's activation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RuleApproval {
    /// Who.
    pub by: String,
    /// When.
    pub at: Timestamp,
}

/// One published version of a rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DetectionRule {
    /// The rule as written.
    #[serde(flatten)]
    pub spec: RuleSpec,
    /// Its version, from 1.
    pub version: u32,
    /// Where it stands.
    pub state: RuleState,
    /// Who published it.
    pub author: String,
    /// When.
    pub published_at: Timestamp,
    /// The log entry that published its text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_index: Option<u64>,
    /// Approvals of its activation so far.
    #[serde(default)]
    pub approvals: Vec<RuleApproval>,
    /// How many approvals activation needs.
    pub approvals_required: u32,
    /// When it became active, if it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub activated_at: Option<Timestamp>,
    /// When it was retired, if it was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retired_at: Option<Timestamp>,
}
