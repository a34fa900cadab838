//! Notices to a customer: the statement of reasons for a restriction (the
//! fields the EU Digital Services Act, Art. 17, asks for), and its export in
//! the shape of the DSA Transparency Database's statement submission.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::{Phase, Scope, ServicePattern, SourceType, Timestamp};

/// What a notice tells.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum NoticeKind {
    /// An order was approved: what is restricted, why, and how to appeal.
    Restriction,
    /// An appeal was decided: the outcome, its reasons, and the order as it
    /// now stands.
    AppealOutcome,
}

impl NoticeKind {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            NoticeKind::Restriction => "restriction",
            NoticeKind::AppealOutcome => "appeal_outcome",
        }
    }
}

/// The contractual ground: the clause as it stood when the order was approved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Ground {
    /// Clause id, e.g. `AUP-2`.
    pub clause: String,
    /// Its version.
    pub version: u32,
    /// Its title.
    pub title: String,
    /// Its text.
    pub text: String,
}

/// A statement of reasons.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StatementOfReasons {
    /// Kind of restriction: `partial_suspension` (these services, this scope).
    pub restriction: String,
    /// The units and subscriptions restricted.
    pub scope: Scope,
    /// Services restricted.
    pub services: Vec<ServicePattern>,
    /// Services spared.
    pub exempt: Vec<ServicePattern>,
    /// The phases and their dates.
    pub phases: Vec<Phase>,
    /// When the order took effect (its approval).
    pub effective_from: Timestamp,
    /// When it ends, if it does.
    pub end: Option<Timestamp>,
    /// Regions of the subscriptions in scope.
    pub territorial_scope: Vec<String>,
    /// Facts and circumstances the decision rests on.
    pub facts: String,
    /// The contractual ground.
    pub ground: Ground,
    /// Where the case came from.
    pub source_type: SourceType,
    /// Whether detection was automated (an internal signal).
    pub automated_detection: bool,
    /// Whether the decision was automated (never: people approve orders).
    pub automated_decision: bool,
    /// Why notice was skipped, for an emergency order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub emergency_reason: Option<String>,
    /// Protections the approvers overrode, with their reasons.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub guard_overrides: Vec<crate::GuardOverride>,
    /// How to contest it.
    pub how_to_appeal: String,
}

/// A notice to a tenant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Notice {
    /// Identifier, e.g. `ntc-3f9k2m7q1x`.
    pub id: String,
    /// What it tells.
    pub kind: NoticeKind,
    /// The tenant it is for.
    pub tenant: String,
    /// The order it is about.
    pub order: String,
    /// The case behind the order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub case: Option<String>,
    /// When it was issued.
    pub issued_at: Timestamp,
    /// The statement of reasons.
    pub statement: StatementOfReasons,
    /// For an appeal outcome: the appeal as decided.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub appeal: Option<Appeal>,
    /// Index of its `notice.issued` entry in the transparency log.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_index: Option<u64>,
}

/// ISO 3166 country of a cloud region, where the region name says it.
fn country_of(region: &str) -> Option<&'static str> {
    const KNOWN: &[(&str, &str)] = &[
        ("westeurope", "NL"),
        ("northeurope", "IE"),
        ("germanywestcentral", "DE"),
        ("germanynorth", "DE"),
        ("francecentral", "FR"),
        ("francesouth", "FR"),
        ("swedencentral", "SE"),
        ("italynorth", "IT"),
        ("polandcentral", "PL"),
        ("spaincentral", "ES"),
        ("norwayeast", "NO"),
        ("switzerlandnorth", "CH"),
        ("uksouth", "GB"),
        ("ukwest", "GB"),
        ("israelcentral", "IL"),
    ];
    KNOWN.iter().find(|(r, _)| *r == region).map(|(_, c)| *c)
}

impl Notice {
    /// The notice in the shape of a DSA Transparency Database statement
    /// submission (field names and enumerated values as that API uses them).
    pub fn dsa_statement(&self) -> Value {
        let s = &self.statement;
        let date = |t: Timestamp| t.to_string().get(..10).unwrap_or_default().to_owned();
        let source = match s.source_type {
            SourceType::ThirdPartyReport | SourceType::Complaint => "SOURCE_ARTICLE_16",
            SourceType::LegalOrder => "SOURCE_TYPE_OTHER_NOTIFICATION",
            SourceType::InternalSignal => "SOURCE_VOLUNTARY",
        };
        let mut countries: Vec<&str> = s.territorial_scope.iter().filter_map(|r| country_of(r)).collect();
        countries.sort_unstable();
        countries.dedup();
        let services: Vec<String> = s.services.iter().map(ToString::to_string).collect();
        json!({
            "decision_provision": "DECISION_PROVISION_PARTIAL_SUSPENSION",
            "decision_ground": "DECISION_GROUND_INCOMPATIBLE_CONTENT",
            "incompatible_content_ground": format!("{} v{}: {}", s.ground.clause, s.ground.version, s.ground.title),
            "incompatible_content_explanation": s.ground.text,
            "decision_facts": s.facts,
            "source_type": source,
            "automated_detection": if s.automated_detection { "Yes" } else { "No" },
            "automated_decision": if s.automated_decision { "AUTOMATED_DECISION_FULLY" } else { "AUTOMATED_DECISION_NOT_AUTOMATED" },
            "application_date": date(s.effective_from),
            "end_date_service_restriction": s.end.map(date),
            "territorial_scope": countries,
            "content_type": ["CONTENT_TYPE_OTHER"],
            "content_type_other": format!("use of cloud services: {}", services.join(", ")),
            "category": "STATEMENT_CATEGORY_SCOPE_OF_PLATFORM_SERVICE",
            "puid": self.id,
        })
    }
}

/// What a reviewer decided on an appeal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum AppealOutcome {
    /// The order stands as it is.
    Uphold,
    /// The order is replaced by a new version.
    Amend,
    /// The order is lifted.
    Lift,
}

impl AppealOutcome {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            AppealOutcome::Uphold => "uphold",
            AppealOutcome::Amend => "amend",
            AppealOutcome::Lift => "lift",
        }
    }
}

/// A reviewer's decision on an appeal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AppealDecision {
    /// Uphold, amend or lift.
    pub outcome: AppealOutcome,
    /// The reasons, as the tenant will read them.
    pub reasons: String,
    /// The reviewer.
    pub by: String,
    /// When.
    pub at: Timestamp,
    /// For an amendment, the new version of the order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new_order: Option<String>,
    /// For an amendment, the body of the new version (kept so the decision
    /// can be carried out again after a crash).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amendment: Option<crate::OrderSpec>,
}

/// A tenant's appeal against an order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Appeal {
    /// Identifier, e.g. `apl-3f9k2m7q1x`.
    pub id: String,
    /// The order appealed.
    pub order: String,
    /// The tenant appealing.
    pub tenant: String,
    /// The tenant's statement.
    pub statement: String,
    /// The tenant user who filed it.
    pub filed_by: String,
    /// When.
    pub filed_at: Timestamp,
    /// The decision, once taken.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decision: Option<AppealDecision>,
}
