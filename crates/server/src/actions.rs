//! Governance actions as every front end takes them: the screening of what
//! people wrote for customer content, the shape check and the role check
//! (in the order the API has always made them, so its refusals do not
//! change), then the control plane. The JSON API and the console's forms both call
//! these, so a form is refused exactly when the API would refuse it, with
//! the same code and sentence.

use serde_json::Value;
use verdict_control::{Core, Principal};
use verdict_model::{Case, CaseEvent, CaseSpec, Evidence, Role};

use crate::auth::require;
use crate::error::ApiError;
use crate::screen::screen;

fn invalid(e: &verdict_model::ModelError) -> ApiError {
    ApiError::new(axum::http::StatusCode::UNPROCESSABLE_ENTITY, e.code(), e.to_string())
}

/// Opens a case from a `CaseSpec` body. Analysts only.
pub(crate) async fn open_case(core: &Core, who: &Principal, body: &Value) -> Result<Case, ApiError> {
    // The body first (content, then shape), as the API always has.
    screen(body)?;
    let spec: CaseSpec = verdict_wire::from_value(body)?;
    require(who, &[Role::Analyst], "open a case")?;
    Ok(core.open_case(who, spec).await?)
}

/// Adds evidence (an `Evidence` body) to case `id`. Analysts only.
pub(crate) async fn add_evidence(core: &Core, who: &Principal, id: &str, body: &Value) -> Result<CaseEvent, ApiError> {
    require(who, &[Role::Analyst], "add evidence")?;
    // Content first, at any depth; then the shape (serde's refusals, with
    // their codes); then what each kind's fields must be.
    screen(body)?;
    let evidence: Evidence = verdict_wire::from_value(body)?;
    evidence.validate().map_err(|e| invalid(&e))?;
    Ok(core.add_evidence(who, id, evidence).await?)
}

/// Assigns case `id` to analyst `user`. Analysts and admins.
pub(crate) async fn assign_case(core: &Core, who: &Principal, id: &str, user: &str) -> Result<Case, ApiError> {
    require(who, &[Role::Analyst, Role::Admin], "assign a case")?;
    Ok(core.assign_case(who, id, user).await?)
}

/// Moves case `id` to `status`, saying why (already screened). Analysts
/// and admins.
pub(crate) async fn set_case_status(
    core: &Core,
    who: &Principal,
    id: &str,
    status: verdict_model::CaseStatus,
    reason: Option<&str>,
) -> Result<Case, ApiError> {
    require(who, &[Role::Analyst, Role::Admin], "change a case's status")?;
    Ok(core.set_case_status(who, id, status, reason).await?)
}

/// Comments on case `id`. Staff who write (not auditors).
pub(crate) async fn comment(core: &Core, who: &Principal, id: &str, text: &str) -> Result<CaseEvent, ApiError> {
    screen(&serde_json::json!({ "text": text }))?;
    require(who, &[Role::Analyst, Role::Approver, Role::Reviewer, Role::Admin], "comment on a case")?;
    Ok(core.comment_case(who, id, text).await?)
}

/// Proposes an order from a case. Analysts and approvers; others approve it.
pub(crate) async fn propose_order(
    core: &Core,
    who: &Principal,
    spec: verdict_model::OrderSpec,
) -> Result<verdict_model::Order, ApiError> {
    require(who, &[Role::Analyst, Role::Approver], "propose an order")?;
    Ok(core.propose_order(who, spec).await?)
}

/// Approves order `id`, bound to the preview its approver saw. Approvers
/// who did not propose it; each once.
pub(crate) async fn approve(
    core: &Core,
    who: &Principal,
    id: &str,
    preview_hash: Option<&str>,
    overrides: &[verdict_model::GuardOverride],
) -> Result<verdict_model::Order, ApiError> {
    require(who, &[Role::Approver], "approve an order")?;
    Ok(core.approve_order(who, id, preview_hash, overrides).await?)
}

/// Rejects order `id` with a reason. Approvers who did not propose it.
pub(crate) async fn reject(
    core: &Core,
    who: &Principal,
    id: &str,
    reason: &str,
) -> Result<verdict_model::Order, ApiError> {
    screen(&serde_json::json!({ "reason": reason }))?;
    require(who, &[Role::Approver], "reject an order")?;
    Ok(core.reject_order(who, id, reason).await?)
}

/// Notice `id`, if `who` may read it: staff, or a user of its tenant.
/// Anyone else is told it does not exist (a tenant learns nothing of
/// another's notices).
pub(crate) async fn readable_notice(core: &Core, who: &Principal, id: &str) -> Result<verdict_model::Notice, ApiError> {
    let notice = core.notice(id).await?;
    if !(who.is_staff() || who.speaks_for(&notice.tenant)) {
        return Err(ApiError::new(
            axum::http::StatusCode::NOT_FOUND,
            "unknown-notice",
            format!("notice {id:?} does not exist"),
        ));
    }
    Ok(notice)
}

/// Files an appeal against order `id`. Users of the order's tenant.
pub(crate) async fn file_appeal(
    core: &Core,
    who: &Principal,
    id: &str,
    statement: &str,
) -> Result<verdict_model::Appeal, ApiError> {
    screen(&serde_json::json!({ "statement": statement }))?;
    require(who, &[Role::Tenant], "file an appeal")?;
    Ok(core.file_appeal(who, id, statement).await?)
}

/// Decides appeal `id`. Reviewers who neither proposed nor approved the
/// order.
pub(crate) async fn decide_appeal(
    core: &Core,
    who: &Principal,
    id: &str,
    outcome: verdict_model::AppealOutcome,
    reasons: &str,
    amendment: Option<verdict_model::OrderSpec>,
) -> Result<(verdict_model::Appeal, verdict_model::Notice), ApiError> {
    require(who, &[Role::Reviewer], "decide an appeal")?;
    Ok(core.decide_appeal(who, id, outcome, reasons, amendment).await?)
}

/// Publishes a detection rule's new version, in shadow. Analysts and admins.
pub(crate) async fn publish_rule(
    core: &Core,
    who: &Principal,
    spec: verdict_model::RuleSpec,
) -> Result<verdict_model::DetectionRule, ApiError> {
    screen(&serde_json::json!({ "title": spec.title }))?;
    require(who, &[Role::Analyst, Role::Admin], "publish a detection rule")?;
    Ok(core.publish_rule(who, spec).await?)
}

/// Approves a shadow version's activation. Approvers other than its author.
pub(crate) async fn approve_rule(
    core: &Core,
    who: &Principal,
    id: &str,
    version: u32,
) -> Result<verdict_model::DetectionRule, ApiError> {
    require(who, &[Role::Approver], "approve a detection rule")?;
    Ok(core.approve_rule(who, id, version).await?)
}

/// Retires a version. Approvers and admins.
pub(crate) async fn retire_rule(
    core: &Core,
    who: &Principal,
    id: &str,
    version: u32,
    reason: &str,
) -> Result<verdict_model::DetectionRule, ApiError> {
    screen(&serde_json::json!({ "reason": reason }))?;
    require(who, &[Role::Approver, Role::Admin], "retire a detection rule")?;
    Ok(core.retire_rule(who, id, version, reason).await?)
}
