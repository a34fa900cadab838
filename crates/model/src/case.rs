//! Due process: acceptable-use clauses, review cases, and the evidence a
//! case is built on — metadata and outside documents, never customer
//! content.

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::{ModelError, Timestamp, UnitPath, validate_id};

/// One version of an acceptable-use clause.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Clause {
    /// Identifier, e.g. `AUP-2`.
    pub id: String,
    /// Version, from 1; each publication adds one.
    #[serde(default, deserialize_with = "whole::number")]
    pub version: u32,
    /// Short title.
    pub title: String,
    /// The clause's text as customers agreed to it.
    pub text: String,
    /// Distinct approvers an order under this clause needs (default 2).
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "whole::optional")]
    pub approvals_required: Option<u32>,
    /// Approvers needed for customers of a kind, overriding the above, e.g.
    /// `{"government": 3}`.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty", deserialize_with = "whole::map")]
    pub approvals_by_customer_kind: std::collections::BTreeMap<crate::TenantKind, u32>,
    /// When this version was published.
    #[serde(default)]
    pub created_at: Timestamp,
}

impl Clause {
    /// Checks the id, the texts and the approval count.
    pub fn validate(&self) -> Result<(), ModelError> {
        validate_id("clause id", &self.id)?;
        if self.title.trim().is_empty() {
            return Err(ModelError::Empty("title"));
        }
        if self.text.trim().is_empty() {
            return Err(ModelError::Empty("text"));
        }
        if self.title.len() > 300 {
            return Err(ModelError::TooLong { field: "the clause's title", max: 300 });
        }
        if self.text.len() > 20_000 {
            return Err(ModelError::TooLong { field: "the clause's text", max: 20_000 });
        }
        if let Some(n) = self
            .approvals_required
            .into_iter()
            .chain(self.approvals_by_customer_kind.values().copied())
            .find(|n| !(1..=10).contains(n))
        {
            return Err(ModelError::InvalidClause(format!(
                "approvals_required is {n}; an order needs between 1 and 10 approvers"
            )));
        }
        Ok(())
    }
}

/// Where a case comes from; transparency reports count by it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum SourceType {
    /// A report by journalists, researchers or NGOs.
    ThirdPartyReport,
    /// The provider's own monitoring (metadata only).
    InternalSignal,
    /// A complaint by a person or organisation.
    Complaint,
    /// A court or authority's order.
    LegalOrder,
}

impl SourceType {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            SourceType::ThirdPartyReport => "third_party_report",
            SourceType::InternalSignal => "internal_signal",
            SourceType::Complaint => "complaint",
            SourceType::LegalOrder => "legal_order",
        }
    }
}

/// Where a case stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum CaseStatus {
    /// Opened; evidence is being gathered.
    Open,
    /// Being reviewed; orders may be proposed.
    UnderReview,
    /// A decision was taken (an order, or none).
    Decided,
    /// Done. Reopening is possible.
    Closed,
}

impl CaseStatus {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            CaseStatus::Open => "open",
            CaseStatus::UnderReview => "under_review",
            CaseStatus::Decided => "decided",
            CaseStatus::Closed => "closed",
        }
    }

    /// Whether a case may go from `self` to `next`: open → under review →
    /// decided → closed, and decided or closed back to open (reopen).
    pub fn can_become(self, next: CaseStatus) -> bool {
        use CaseStatus::*;
        matches!(
            (self, next),
            (Open, UnderReview) | (UnderReview, Decided) | (Decided, Closed) | (Decided, Open) | (Closed, Open)
        )
    }
}

impl fmt::Display for CaseStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `POST /v1/cases` body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CaseSpec {
    /// The tenant under review.
    pub tenant: String,
    /// Where the case comes from.
    pub source_type: SourceType,
    /// A line for people.
    pub title: String,
    /// The units concerned.
    #[serde(default)]
    pub units: Vec<UnitPath>,
    /// The clauses possibly breached.
    pub clauses: Vec<String>,
}

impl CaseSpec {
    /// Checks what needs no stored state.
    pub fn validate(&self) -> Result<(), ModelError> {
        validate_id("tenant id", &self.tenant)?;
        if self.title.trim().is_empty() {
            return Err(ModelError::Empty("title"));
        }
        if self.title.len() > 500 {
            return Err(ModelError::TooLong { field: "the case's title", max: 500 });
        }
        if self.clauses.is_empty() {
            return Err(ModelError::Empty("clauses (name the clause or clauses the case is about)"));
        }
        crate::check_list("the case's clauses", &self.clauses, 32)?;
        for clause in &self.clauses {
            validate_id("clause id", clause)?;
        }
        Ok(())
    }
}

/// A review case.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Case {
    /// Identifier, e.g. `case-3f9k2m7q1x`.
    pub id: String,
    /// What was opened.
    #[serde(flatten)]
    pub spec: CaseSpec,
    /// Where it stands.
    pub status: CaseStatus,
    /// The analyst working it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assignee: Option<String>,
    /// Who opened it.
    pub opened_by: String,
    /// When.
    pub opened_at: Timestamp,
    /// Last change.
    pub updated_at: Timestamp,
}

/// Names under which customer content is offered as evidence; each is
/// refused by name, so the refusal says why.
const CONTENT_WORDS: &[&str] = &[
    "customer_content",
    "customer_data",
    "content",
    "data",
    "payload",
    "attachment",
    "file",
    "file_upload",
    "blob",
    "recording",
    "transcript",
];

/// The content word `name` is, compared without case and with `-`, `.`
/// and spaces read as `_` (`Customer-Data` is `customer_data`).
fn content_word(name: &str) -> Option<&'static str> {
    let normal: String =
        name.trim().chars().map(|c| if matches!(c, '-' | '.' | ' ') { '_' } else { c.to_ascii_lowercase() }).collect();
    CONTENT_WORDS.iter().copied().find(|w| *w == normal)
}

/// Refuses customer content anywhere in a body, at any depth: a field named
/// like content (`transcript`, `Customer-Data`, …), or `"source":
/// "customer"`. Every body that carries evidence, comments or notes goes
/// through this before it is read, so the refusal is the same everywhere.
pub fn refuse_content(value: &Value) -> Result<(), ModelError> {
    match value {
        Value::Object(object) => {
            for (name, inner) in object {
                if let Some(word) = content_word(name) {
                    return Err(ModelError::CustomerContent(word.to_owned()));
                }
                if name == "source" && inner.as_str().is_some_and(|s| s.trim().eq_ignore_ascii_case("customer")) {
                    return Err(ModelError::CustomerContent("source".to_owned()));
                }
                if name == "kind"
                    && let Some(word) = inner.as_str().and_then(content_word)
                {
                    return Err(ModelError::CustomerContent(word.to_owned()));
                }
                refuse_content(inner)?;
            }
            Ok(())
        }
        Value::Array(items) => items.iter().try_for_each(refuse_content),
        _ => Ok(()),
    }
}

/// One item of evidence. Cases rest on metadata and outside evidence:
/// verdict never stores or looks at what customers keep in the services.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Evidence {
    /// A document published or sent by someone else, by address and hash.
    ExternalDocument {
        /// Where it is (`http://` or `https://`).
        address: String,
        /// Lowercase hex SHA-256 of the document as read.
        sha256: String,
        /// What it says, in the analyst's words.
        summary: String,
    },
    /// Figures drawn from service metadata (usage, volumes, regions).
    MetadataFinding {
        /// What the figures show.
        summary: String,
        /// The figures, by name.
        figures: serde_json::Map<String, Value>,
        /// How they were obtained (query, system, period).
        method: String,
    },
    /// An analyst's note.
    Note {
        /// The note.
        text: String,
    },
}

impl Evidence {
    /// Parses an evidence body, refusing customer content by name before
    /// anything else, then checking the fields of its kind.
    pub fn from_json(value: &Value) -> Result<Evidence, ModelError> {
        if !value.is_object() {
            return Err(ModelError::InvalidEvidence("evidence is a JSON object with a \"kind\"".into()));
        }
        refuse_content(value)?;
        let evidence: Evidence =
            serde_json::from_value(value.clone()).map_err(|e| ModelError::InvalidEvidence(e.to_string()))?;
        evidence.validate()?;
        Ok(evidence)
    }

    /// The wire name of its kind.
    pub fn kind(&self) -> &'static str {
        match self {
            Evidence::ExternalDocument { .. } => "external_document",
            Evidence::MetadataFinding { .. } => "metadata_finding",
            Evidence::Note { .. } => "note",
        }
    }

    /// Checks the fields of its kind (the shape is serde's to check).
    pub fn validate(&self) -> Result<(), ModelError> {
        let short = |what: &str, text: &str, max: usize| {
            if text.trim().is_empty() {
                Err(ModelError::InvalidEvidence(format!("{what} must not be empty")))
            } else if text.len() > max {
                Err(ModelError::InvalidEvidence(format!("{what} is longer than {max} bytes")))
            } else {
                Ok(())
            }
        };
        match self {
            Evidence::ExternalDocument { address, sha256, summary } => {
                if !(address.starts_with("https://") || address.starts_with("http://")) || address.len() > 2000 {
                    return Err(ModelError::InvalidEvidence(format!(
                        "address {address:?} is not an http(s) address of at most 2000 bytes"
                    )));
                }
                if sha256.len() != 64 || !sha256.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
                    return Err(ModelError::InvalidEvidence(format!(
                        "sha256 {sha256:?} is not 64 lowercase hex digits"
                    )));
                }
                short("summary", summary, 5000)
            }
            Evidence::MetadataFinding { summary, figures, method } => {
                short("summary", summary, 5000)?;
                short("method", method, 5000)?;
                if figures.is_empty() || figures.len() > 100 {
                    return Err(ModelError::InvalidEvidence("figures holds between 1 and 100 named figures".into()));
                }
                // Figures are numbers about resources; text could carry
                // what a customer stored, so it is refused as content.
                if let Some((name, _)) = figures.iter().find(|(_, v)| !v.is_number()) {
                    return Err(ModelError::CustomerContent(format!("figures.{name}")));
                }
                Ok(())
            }
            Evidence::Note { text } => short("text", text, 10_000),
        }
    }
}

/// One entry of a case's timeline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CaseEvent {
    /// Position in the case's timeline, from 1.
    pub seq: u64,
    /// When.
    pub at: Timestamp,
    /// Who.
    pub actor: String,
    /// What: `opened`, `evidence`, `comment`, `assigned`, `status`, `order_proposed`, ….
    pub kind: String,
    /// The details.
    pub body: Value,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn customer_content_is_refused_by_name() {
        for body in [
            json!({"kind": "customer_content", "text": "…"}),
            json!({"kind": "note", "text": "x", "content": "…"}),
            json!({"kind": "external_document", "address": "https://x", "sha256": "0", "summary": "s", "attachment": "…"}),
            json!({"kind": "note", "text": "x", "source": "customer"}),
            json!({"kind": "metadata_finding", "summary": "s", "method": "m",
                   "figures": {"transcript": "caller: meet at the station at 9"}}),
            json!({"kind": "metadata_finding", "summary": "s", "method": "m", "figures": {"hours": "caller: meet at 9"}}),
            json!({"kind": "metadata_finding", "summary": "s", "method": "m", "figures": {"Customer-Data": 3}}),
            json!({"kind": "note", "text": "x", "extra": [{"deep": {"Recording": "…"}}]}),
            json!({"kind": "note", "text": "x", "meta": {"source": "Customer"}}),
            json!({"kind": "Customer Content", "text": "…"}),
        ] {
            assert_eq!(Evidence::from_json(&body).unwrap_err().code(), "customer-content-refused", "{body}");
        }
        let ok = json!({"kind": "metadata_finding", "summary": "s", "figures": {"hours": 4.5e6}, "method": "billing"});
        assert_eq!(Evidence::from_json(&ok).unwrap().kind(), "metadata_finding");
        let bad = json!({"kind": "external_document", "address": "ftp://x", "sha256": "0", "summary": "s"});
        assert_eq!(Evidence::from_json(&bad).unwrap_err().code(), "invalid-evidence");
    }

    #[test]
    fn case_status_moves_only_forward_or_reopens() {
        use CaseStatus::*;
        assert!(Open.can_become(UnderReview) && UnderReview.can_become(Decided) && Decided.can_become(Closed));
        assert!(Closed.can_become(Open) && Decided.can_become(Open));
        assert!(!Open.can_become(Closed) && !Closed.can_become(Decided) && !Open.can_become(Open));
    }
}

/// Counts written as JSON numbers: `3` or `3.0` (JSON has one number type,
/// and JSON Schema's "integer" admits both), never `3.5` or `-1`.
mod whole {
    use std::collections::BTreeMap;

    use serde::{Deserialize, Deserializer};
    use serde_json::Number;

    fn count<E: serde::de::Error>(n: &Number) -> Result<u32, E> {
        let whole = n.as_u64().or_else(|| n.as_f64().filter(|f| f.fract() == 0.0 && *f >= 0.0).map(|f| f as u64));
        whole
            .and_then(|w| u32::try_from(w).ok())
            .ok_or_else(|| E::invalid_value(serde::de::Unexpected::Other(&n.to_string()), &"a whole number from 0"))
    }

    pub(super) fn number<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
        count(&Number::deserialize(d)?)
    }

    pub(super) fn optional<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
        Option::<Number>::deserialize(d)?.map(|n| count(&n)).transpose()
    }

    pub(super) fn map<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<crate::TenantKind, u32>, D::Error> {
        BTreeMap::<crate::TenantKind, Number>::deserialize(d)?.into_iter().map(|(k, n)| Ok((k, count(&n)?))).collect()
    }
}
