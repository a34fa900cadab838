//! Due process over HTTP: clauses, cases with evidence and timeline, and the
//! approval of proposed orders. Each handler names the roles it admits.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use verdict_model::{Case, CaseEvent, CaseSpec, CaseStatus, Clause, Evidence};

use crate::AppState;
use crate::auth::{Admin, Caller, Staff};
use crate::error::{ApiError, Json, RawBody, parse_json};
use crate::manage::{OrderView, Query};
use crate::screen::Screened;

type Result<T> = std::result::Result<T, ApiError>;

/// Every version of every clause (public terms: any user may read them).
#[utoipa::path(get, path = "/v1/clauses", tag = "cases", responses((status = 200, body = [Clause])), security(("bearer" = [])))]
pub(crate) async fn clauses(State(s): State<Arc<AppState>>, _: Caller) -> Result<axum::Json<Vec<Clause>>> {
    Ok(axum::Json(s.core.clauses().await?))
}

/// Publishes a clause (a new version if its id exists). Admins only.
#[utoipa::path(post, path = "/v1/clauses", tag = "cases", request_body = Clause,
    responses((status = 201, body = Clause), (status = 422, body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub(crate) async fn publish_clause(
    State(s): State<Arc<AppState>>,
    Admin(who): Admin,
    Json(clause): Json<Clause>,
) -> Result<(StatusCode, axum::Json<Clause>)> {
    Ok((StatusCode::CREATED, axum::Json(s.core.publish_clause(&who, clause).await?)))
}

/// Opens a case. Analysts only.
#[utoipa::path(post, path = "/v1/cases", tag = "cases", request_body = CaseSpec,
    responses((status = 201, body = Case), (status = 403, body = crate::error::ErrorBody),
        (status = 422, body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub(crate) async fn open_case(
    State(s): State<Arc<AppState>>,
    Caller(who): Caller,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> Result<(StatusCode, axum::Json<Case>)> {
    let value: Value = parse_json(&headers, &body)?;
    Ok((StatusCode::CREATED, axum::Json(crate::actions::open_case(&s.core, &who, &value).await?)))
}

/// Filter of `GET /v1/cases`.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
pub(crate) struct CaseFilter {
    /// Only this tenant's cases.
    #[serde(default, deserialize_with = "crate::manage::id_param")]
    tenant: Option<String>,
}

/// Cases, newest first. Staff only.
#[utoipa::path(get, path = "/v1/cases", tag = "cases", params(CaseFilter),
    responses((status = 200, body = [Case])), security(("bearer" = [])))]
pub(crate) async fn list_cases(
    State(s): State<Arc<AppState>>,
    _: Staff,
    Query(q): Query<CaseFilter>,
) -> Result<axum::Json<Vec<Case>>> {
    Ok(axum::Json(s.core.cases(q.tenant.as_deref()).await?))
}

/// A case with its timeline.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct CaseView {
    /// The case.
    case: Case,
    /// Everything that happened to it, oldest first: evidence, comments,
    /// assignments, status changes, orders proposed.
    timeline: Vec<CaseEvent>,
}

/// One case and its timeline. Staff only.
#[utoipa::path(get, path = "/v1/cases/{id}", tag = "cases", params(("id" = String, Path, description = "Case id")),
    responses((status = 200, body = CaseView), (status = 404, body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub(crate) async fn get_case(
    State(s): State<Arc<AppState>>,
    _: Staff,
    Path(id): Path<String>,
) -> Result<axum::Json<CaseView>> {
    let (case, timeline) = s.core.case(&id).await?;
    Ok(axum::Json(CaseView { case, timeline }))
}

/// Adds evidence: an external document (address, SHA-256, summary), a
/// metadata finding (figures and how they were obtained) or a note. Anything
/// presented as customer content is refused (`customer-content-refused`):
/// verdict builds cases on metadata and outside evidence, never on what
/// customers store. Analysts only.
#[utoipa::path(post, path = "/v1/cases/{id}/evidence", tag = "cases", params(("id" = String, Path, description = "Case id")),
    request_body = Evidence,
    responses((status = 201, body = CaseEvent), (status = 409, description = "case-closed", body = crate::error::ErrorBody),
        (status = 422, description = "invalid-evidence or customer-content-refused", body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub(crate) async fn add_evidence(
    State(s): State<Arc<AppState>>,
    Caller(who): Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> Result<(StatusCode, axum::Json<CaseEvent>)> {
    let value: Value = parse_json(&headers, &body)?;
    Ok((StatusCode::CREATED, axum::Json(crate::actions::add_evidence(&s.core, &who, &id, &value).await?)))
}

/// `POST /v1/cases/{id}/comments` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CommentBody {
    /// The comment.
    text: String,
}

/// Comments on a case. Staff who write (not auditors).
#[utoipa::path(post, path = "/v1/cases/{id}/comments", tag = "cases", params(("id" = String, Path, description = "Case id")),
    request_body = CommentBody, responses((status = 201, body = CaseEvent)), security(("bearer" = [])))]
pub(crate) async fn comment(
    State(s): State<Arc<AppState>>,
    Caller(who): Caller,
    Path(id): Path<String>,
    Screened(body): Screened<CommentBody>,
) -> Result<(StatusCode, axum::Json<CaseEvent>)> {
    Ok((StatusCode::CREATED, axum::Json(crate::actions::comment(&s.core, &who, &id, &body.text).await?)))
}

/// `POST /v1/cases/{id}/assign` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct AssignBody {
    /// The analyst.
    user: String,
}

/// Assigns a case to an analyst. Analysts and admins.
#[utoipa::path(post, path = "/v1/cases/{id}/assign", tag = "cases", params(("id" = String, Path, description = "Case id")),
    request_body = AssignBody, responses((status = 200, body = Case)), security(("bearer" = [])))]
pub(crate) async fn assign(
    State(s): State<Arc<AppState>>,
    Caller(who): Caller,
    Path(id): Path<String>,
    Json(body): Json<AssignBody>,
) -> Result<axum::Json<Case>> {
    Ok(axum::Json(crate::actions::assign_case(&s.core, &who, &id, &body.user).await?))
}

/// `POST /v1/cases/{id}/status` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct StatusBody {
    /// The new status.
    status: CaseStatus,
    /// Why.
    #[serde(default)]
    reason: Option<String>,
}

/// Moves a case along its lifecycle, or reopens it. Analysts and admins.
#[utoipa::path(post, path = "/v1/cases/{id}/status", tag = "cases", params(("id" = String, Path, description = "Case id")),
    request_body = StatusBody, responses((status = 200, body = Case),
        (status = 409, description = "illegal-case-transition", body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub(crate) async fn set_status(
    State(s): State<Arc<AppState>>,
    Caller(who): Caller,
    Path(id): Path<String>,
    Screened(body): Screened<StatusBody>,
) -> Result<axum::Json<Case>> {
    Ok(axum::Json(crate::actions::set_case_status(&s.core, &who, &id, body.status, body.reason.as_deref()).await?))
}

/// `POST /v1/orders/{id}/approve` body.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ApproveBody {
    /// The `hash` of the preview the approver checked
    /// (`GET /v1/orders/{id}/preview`).
    #[serde(default)]
    preview_hash: Option<String>,
    /// Guards the order breaks that the approver overrides, each with a reason.
    #[serde(default)]
    overrides: Vec<verdict_model::GuardOverride>,
}

/// Approves a proposed order, bound to the preview the approver saw.
/// Approvers who did not propose it; each once.
#[utoipa::path(post, path = "/v1/orders/{id}/approve", tag = "orders", params(("id" = String, Path, description = "Order id")),
    request_body = ApproveBody,
    responses((status = 200, body = OrderView),
        (status = 409, description = "self-approval, already-approved, order-not-proposed, preview-required, preview-stale, guard-violated", body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub(crate) async fn approve(
    State(s): State<Arc<AppState>>,
    Caller(who): Caller,
    Path(id): Path<String>,
    Json(body): Json<ApproveBody>,
) -> Result<axum::Json<OrderView>> {
    let order = crate::actions::approve(&s.core, &who, &id, body.preview_hash.as_deref(), &body.overrides).await?;
    Ok(axum::Json(OrderView::of(order, s.core.now())))
}

/// Every guard. Staff.
#[utoipa::path(get, path = "/v1/guards", tag = "orders", responses((status = 200, body = [verdict_model::Guard])),
    security(("bearer" = [])))]
pub(crate) async fn guards(State(s): State<Arc<AppState>>, _: Staff) -> Result<axum::Json<Vec<verdict_model::Guard>>> {
    Ok(axum::Json(s.core.guards().await?))
}

/// Declares or replaces a guard: services an order must not restrict for
/// some customers or subscriptions unless an approver overrides it. Admins.
#[utoipa::path(post, path = "/v1/guards", tag = "orders", request_body = verdict_model::Guard,
    responses((status = 201, body = verdict_model::Guard), (status = 422, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub(crate) async fn put_guard(
    State(s): State<Arc<AppState>>,
    Admin(who): Admin,
    Json(guard): Json<verdict_model::Guard>,
) -> Result<(StatusCode, axum::Json<verdict_model::Guard>)> {
    Ok((StatusCode::CREATED, axum::Json(s.core.put_guard(&who, guard).await?)))
}

/// `POST /v1/orders/{id}/reject` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RejectBody {
    /// Why the order is refused.
    reason: String,
}

/// Rejects a proposed order. Approvers who did not propose it.
#[utoipa::path(post, path = "/v1/orders/{id}/reject", tag = "orders", params(("id" = String, Path, description = "Order id")),
    request_body = RejectBody, responses((status = 200, body = OrderView),
        (status = 409, description = "self-approval, order-not-proposed", body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub(crate) async fn reject(
    State(s): State<Arc<AppState>>,
    Caller(who): Caller,
    Path(id): Path<String>,
    Screened(body): Screened<RejectBody>,
) -> Result<axum::Json<OrderView>> {
    Ok(axum::Json(OrderView::of(crate::actions::reject(&s.core, &who, &id, &body.reason).await?, s.core.now())))
}

/// Period and format of the transparency report.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
pub(crate) struct ReportParams {
    /// Start (RFC 3339, inclusive); default the beginning of the record.
    from: Option<String>,
    /// End (RFC 3339, exclusive); default now.
    to: Option<String>,
    /// `json` (default) or `csv`.
    format: Option<String>,
}

/// The transparency report: counts of cases, orders, suspensions and appeals
/// by clause, customer kind, detection source, service family and appeal
/// outcome, with median durations. Staff only.
#[utoipa::path(get, path = "/v1/reports/transparency", tag = "cases", params(ReportParams),
    responses(
        (status = 200, description = "The report, as JSON or (format=csv) CSV",
            content((verdict_control::Report = "application/json"), (String = "text/csv"))),
        (status = 400, description = "invalid-format, invalid-time", body = crate::error::ErrorBody),
        (status = 422, description = "invalid-period: the end is not after the start", body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub(crate) async fn report(
    State(s): State<Arc<AppState>>,
    _: Staff,
    Query(q): Query<ReportParams>,
) -> Result<axum::response::Response> {
    use axum::response::IntoResponse;
    let instant = |name: &str, text: Option<&String>, default: verdict_model::Timestamp| match text {
        None => Ok(default),
        Some(t) => verdict_model::Timestamp::parse(t).map_err(|_| {
            ApiError::bad_request(
                "invalid-time",
                format!("{name} {t:?} is not an RFC 3339 instant, e.g. 2026-01-01T00:00:00Z"),
            )
        }),
    };
    // Every refusal before the report is computed: it reads the whole store.
    let csv = match q.format.as_deref() {
        None | Some("json") => false,
        Some("csv") => true,
        Some(other) => {
            return Err(ApiError::bad_request("invalid-format", format!("format {other:?} is not json or csv")));
        }
    };
    let from = instant("from", q.from.as_ref(), verdict_model::Timestamp(0))?;
    let to = instant("to", q.to.as_ref(), verdict_model::Timestamp::now().plus(1))?;
    let report = s.core.transparency_report(from, to).await?;
    if csv {
        Ok(([(axum::http::header::CONTENT_TYPE, "text/csv; charset=utf-8")], report.to_csv()).into_response())
    } else {
        Ok(axum::Json(report).into_response())
    }
}

/// What an order body would cut and spare, per subscription, service and
/// phase, over the inventory as it is now. Staff.
#[utoipa::path(post, path = "/v1/orders/preview", tag = "orders", request_body = verdict_model::OrderSpec,
    responses((status = 200, body = verdict_control::Preview), (status = 422, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub(crate) async fn preview(
    State(s): State<Arc<AppState>>,
    _: Staff,
    Json(spec): Json<verdict_model::OrderSpec>,
) -> Result<axum::Json<verdict_control::Preview>> {
    Ok(axum::Json(s.core.preview(&spec, None).await?))
}

/// The preview of a stored order (proposed or in force). Staff.
#[utoipa::path(get, path = "/v1/orders/{id}/preview", tag = "orders", params(("id" = String, Path, description = "Order id")),
    responses((status = 200, body = verdict_control::Preview), (status = 404, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub(crate) async fn preview_order(
    State(s): State<Arc<AppState>>,
    _: Staff,
    Path(id): Path<String>,
) -> Result<axum::Json<verdict_control::Preview>> {
    Ok(axum::Json(s.core.preview_order(&id).await?))
}

/// The tenant's effective entitlements before and after an order body:
/// only what changes. Staff.
#[utoipa::path(post, path = "/v1/orders/diff", tag = "orders", request_body = verdict_model::OrderSpec,
    responses((status = 200, body = verdict_control::Diff), (status = 422, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub(crate) async fn diff(
    State(s): State<Arc<AppState>>,
    _: Staff,
    Json(spec): Json<verdict_model::OrderSpec>,
) -> Result<axum::Json<verdict_control::Diff>> {
    Ok(axum::Json(s.core.diff(&spec, None).await?))
}

/// The diff of a stored order. Staff.
#[utoipa::path(get, path = "/v1/orders/{id}/diff", tag = "orders", params(("id" = String, Path, description = "Order id")),
    responses((status = 200, body = verdict_control::Diff), (status = 404, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub(crate) async fn diff_order(
    State(s): State<Arc<AppState>>,
    _: Staff,
    Path(id): Path<String>,
) -> Result<axum::Json<verdict_control::Diff>> {
    Ok(axum::Json(s.core.diff_order(&id).await?))
}
