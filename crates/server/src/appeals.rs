//! Appeals over HTTP: a tenant's user appeals an order against its tenant;
//! a reviewer who took no part in the order decides.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use verdict_model::{Appeal, AppealOutcome, Notice, OrderSpec, Role};

use crate::AppState;
use crate::auth::{Caller, require};
use crate::error::ApiError;
use crate::screen::Screened;

type Result<T> = std::result::Result<T, ApiError>;

/// `POST /v1/orders/{id}/appeals` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct FileBody {
    /// Why the tenant contests the order.
    statement: String,
}

/// Files an appeal against an order in force. Users of the order's tenant.
#[utoipa::path(post, path = "/v1/orders/{id}/appeals", tag = "appeals", params(("id" = String, Path, description = "Order id")),
    request_body = FileBody, responses((status = 201, body = Appeal), (status = 404, body = crate::error::ErrorBody),
        (status = 409, description = "order-not-in-force, appeal-pending", body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub(crate) async fn file(
    State(s): State<Arc<AppState>>,
    Caller(who): Caller,
    Path(id): Path<String>,
    Screened(body): Screened<FileBody>,
) -> Result<(StatusCode, axum::Json<Appeal>)> {
    Ok((StatusCode::CREATED, axum::Json(crate::actions::file_appeal(&s.core, &who, &id, &body.statement).await?)))
}

/// Appeals: all for staff, their own tenant's for a tenant's users.
#[utoipa::path(get, path = "/v1/appeals", tag = "appeals", responses((status = 200, body = [Appeal])), security(("bearer" = [])))]
pub(crate) async fn list(State(s): State<Arc<AppState>>, Caller(who): Caller) -> Result<axum::Json<Vec<Appeal>>> {
    if who.is_staff() {
        return Ok(axum::Json(s.core.appeals(None).await?));
    }
    require(&who, &[Role::Tenant], "read appeals")?;
    Ok(axum::Json(s.core.appeals(who.tenant.as_deref()).await?))
}

/// One appeal.
#[utoipa::path(get, path = "/v1/appeals/{id}", tag = "appeals", params(("id" = String, Path, description = "Appeal id")),
    responses((status = 200, body = Appeal), (status = 404, body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub(crate) async fn get(
    State(s): State<Arc<AppState>>,
    Caller(who): Caller,
    Path(id): Path<String>,
) -> Result<axum::Json<Appeal>> {
    let appeal = s.core.appeal(&id).await?;
    if !(who.is_staff() || who.speaks_for(&appeal.tenant)) {
        return Err(ApiError::new(StatusCode::NOT_FOUND, "unknown-appeal", format!("appeal {id:?} does not exist")));
    }
    Ok(axum::Json(appeal))
}

/// `POST /v1/appeals/{id}/decision` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct DecisionBody {
    /// `uphold`, `amend` or `lift`.
    outcome: AppealOutcome,
    /// The reasons, as the tenant will read them.
    reasons: String,
    /// For `amend`: the order's new version.
    #[serde(default)]
    amendment: Option<OrderSpec>,
}

/// The decided appeal and the outcome notice sent to the tenant.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct Decided {
    /// The appeal.
    appeal: Appeal,
    /// The outcome notice.
    notice: Notice,
}

/// Decides an appeal. Reviewers who neither proposed nor approved the order.
#[utoipa::path(post, path = "/v1/appeals/{id}/decision", tag = "appeals", params(("id" = String, Path, description = "Appeal id")),
    request_body = DecisionBody, responses((status = 200, body = Decided),
        (status = 409, description = "reviewer-conflict, appeal-decided, amendment-required", body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub(crate) async fn decide(
    State(s): State<Arc<AppState>>,
    Caller(who): Caller,
    Path(id): Path<String>,
    Screened(body): Screened<DecisionBody>,
) -> Result<axum::Json<Decided>> {
    let (appeal, notice) =
        crate::actions::decide_appeal(&s.core, &who, &id, body.outcome, &body.reasons, body.amendment).await?;
    Ok(axum::Json(Decided { appeal, notice }))
}
