//! Detection rules over HTTP: publishing a version (analysts), approving
//! its activation (approvers other than its author), retiring it,
//! backtesting a draft over stored usage, reading what a version fired on,
//! and running an hour's evaluation by hand (admins; the server runs it
//! itself as each hour closes).

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use verdict_control::{BacktestHit, Evaluation};
use verdict_model::{DetectionRule, RuleSpec, RuleTarget, Timestamp};

use crate::AppState;
use crate::auth::{Admin, Caller, Staff};
use crate::error::{ApiError, Json};
use crate::manage::Query;
use crate::screen::Screened;

type Result<T> = std::result::Result<T, ApiError>;

/// A version in a path: a number from 1; anything else names no version.
fn version_of(id: &str, text: &str) -> Result<u32> {
    text.parse::<u32>().map_err(|_| {
        ApiError::new(StatusCode::NOT_FOUND, "unknown-rule", format!("rule {id:?} has no version {text:?}"))
    })
}

/// Every version of every rule, by id then version. Staff.
#[utoipa::path(get, path = "/v1/rules", tag = "detection",
    responses((status = 200, body = Vec<DetectionRule>)), security(("bearer" = [])))]
pub(crate) async fn list(State(s): State<Arc<AppState>>, _: Staff) -> Result<axum::Json<Vec<DetectionRule>>> {
    Ok(axum::Json(s.core.rules().await?))
}

/// Publishes a new version of a rule, in shadow; its text goes into the
/// transparency log. Analysts and admins.
#[utoipa::path(post, path = "/v1/rules", tag = "detection", request_body = RuleSpec,
    responses((status = 201, body = DetectionRule),
        (status = 422, description = "the text uses what rules cannot evaluate (rule-*), or the clause is unknown", body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub(crate) async fn publish(
    State(s): State<Arc<AppState>>,
    Caller(who): Caller,
    Screened(spec): Screened<RuleSpec>,
) -> Result<(StatusCode, axum::Json<DetectionRule>)> {
    Ok((StatusCode::CREATED, axum::Json(crate::actions::publish_rule(&s.core, &who, spec).await?)))
}

/// What a version fired on at one hour.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct HitView {
    /// The tenant.
    tenant: String,
    /// The unit path or subscription id.
    target: String,
    /// The hour whose windows closed.
    at: Timestamp,
    /// Each figure read, with its value.
    #[schema(value_type = Object)]
    figures: serde_json::Value,
    /// The case it opened or added to (active versions).
    #[serde(skip_serializing_if = "Option::is_none")]
    case: Option<String>,
}

/// A version, with what it fired on most recently.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct RuleView {
    /// The version.
    rule: DetectionRule,
    /// Its latest hits, newest first (up to 500).
    hits: Vec<HitView>,
}

/// A version and its latest hits. Staff.
#[utoipa::path(get, path = "/v1/rules/{id}/versions/{version}", tag = "detection",
    params(("id" = String, Path, description = "Rule id"), ("version" = u32, Path, description = "Version, from 1")),
    responses((status = 200, body = RuleView), (status = 404, body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub(crate) async fn get(
    State(s): State<Arc<AppState>>,
    _: Staff,
    Path((id, version)): Path<(String, String)>,
) -> Result<axum::Json<RuleView>> {
    let version = version_of(&id, &version)?;
    let rule = s.core.rule(&id, version).await?;
    let hits = s
        .core
        .rule_results(&id, version, 500)
        .await?
        .into_iter()
        .map(|r| HitView {
            tenant: r.tenant,
            target: r.target,
            at: Timestamp(r.hour),
            figures: r.figures,
            case: r.case_id,
        })
        .collect();
    Ok(axum::Json(RuleView { rule, hits }))
}

/// Approves a shadow version's activation; the second approval activates
/// it. Approvers other than its author.
#[utoipa::path(post, path = "/v1/rules/{id}/versions/{version}/approve", tag = "detection",
    params(("id" = String, Path, description = "Rule id"), ("version" = u32, Path, description = "Version, from 1")),
    responses((status = 200, body = DetectionRule), (status = 404, body = crate::error::ErrorBody),
        (status = 409, description = "self-approval, already-approved, rule-not-shadow", body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub(crate) async fn approve(
    State(s): State<Arc<AppState>>,
    Caller(who): Caller,
    Path((id, version)): Path<(String, String)>,
) -> Result<axum::Json<DetectionRule>> {
    let version = version_of(&id, &version)?;
    Ok(axum::Json(crate::actions::approve_rule(&s.core, &who, &id, version).await?))
}

/// `POST …/retire` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RetireBody {
    /// Why.
    reason: String,
}

/// Retires a version: it is no longer evaluated. Approvers and admins.
#[utoipa::path(post, path = "/v1/rules/{id}/versions/{version}/retire", tag = "detection",
    params(("id" = String, Path, description = "Rule id"), ("version" = u32, Path, description = "Version, from 1")),
    request_body = RetireBody,
    responses((status = 200, body = DetectionRule), (status = 404, body = crate::error::ErrorBody),
        (status = 409, description = "rule-retired", body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub(crate) async fn retire(
    State(s): State<Arc<AppState>>,
    Caller(who): Caller,
    Path((id, version)): Path<(String, String)>,
    Screened(body): Screened<RetireBody>,
) -> Result<axum::Json<DetectionRule>> {
    let version = version_of(&id, &version)?;
    Ok(axum::Json(crate::actions::retire_rule(&s.core, &who, &id, version, &body.reason).await?))
}

/// `POST /v1/rules/backtest` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct BacktestBody {
    /// The rule's text.
    text: String,
    /// Units (default) or subscriptions.
    #[serde(default = "unit")]
    target: RuleTarget,
    /// The first hour to evaluate at.
    from: Timestamp,
    /// The last (at most 30 days after `from`).
    to: Timestamp,
}

fn unit() -> RuleTarget {
    RuleTarget::Unit
}

/// Runs a draft over stored usage at every hour from `from` to `to`: the
/// targets it would have fired on, first when and how often. Opens
/// nothing. Staff.
#[utoipa::path(post, path = "/v1/rules/backtest", tag = "detection", request_body = BacktestBody,
    responses((status = 200, body = Vec<BacktestHit>), (status = 400, description = "a time is not an RFC 3339 instant", body = crate::error::ErrorBody),
        (status = 422, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub(crate) async fn backtest(
    State(s): State<Arc<AppState>>,
    _: Staff,
    Json(body): Json<BacktestBody>,
) -> Result<axum::Json<Vec<BacktestHit>>> {
    Ok(axum::Json(s.core.backtest(&body.text, body.target, body.from, body.to).await?))
}

/// `POST /v1/rules/evaluate` query.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub(crate) struct EvaluateQuery {
    /// The hour whose windows close (default: the last hour boundary).
    at: Option<Timestamp>,
}

/// Evaluates every shadow and active version at an hour's close, unless
/// that hour was evaluated. Admins; the server does it itself each hour.
#[utoipa::path(post, path = "/v1/rules/evaluate", tag = "detection", params(EvaluateQuery),
    responses((status = 200, body = Evaluation), (status = 400, description = "at is not an RFC 3339 instant", body = crate::error::ErrorBody),
        (status = 422, description = "invalid-period: the hour has not closed", body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub(crate) async fn evaluate(
    State(s): State<Arc<AppState>>,
    _: Admin,
    Query(q): Query<EvaluateQuery>,
) -> Result<axum::Json<Evaluation>> {
    Ok(axum::Json(s.core.evaluate_rules(q.at.unwrap_or_else(|| s.core.now())).await?))
}
