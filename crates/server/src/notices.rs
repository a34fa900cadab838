//! Notices over HTTP: the tenant reads its own, staff read all; each with
//! its tlog-proof receipt and its DSA Transparency Database export.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use verdict_control::OutboxItem;
use verdict_control::Principal;
use verdict_model::{Notice, Role};

use crate::AppState;
use crate::auth::{Caller, Staff};
use crate::error::ApiError;
use crate::manage::Query;

type Result<T> = std::result::Result<T, ApiError>;

/// Filter of `GET /v1/notices`.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
pub(crate) struct NoticeFilter {
    /// Only this tenant's notices (staff; a tenant's users always see only theirs).
    #[serde(default, deserialize_with = "crate::manage::id_param")]
    tenant: Option<String>,
}

/// The notice, if `who` may read it: staff, or a user of its tenant.
async fn readable(s: &AppState, who: &Principal, id: &str) -> Result<Notice> {
    crate::actions::readable_notice(&s.core, who, id).await
}

/// Notices, newest first: all of them for staff, their own for a tenant's users.
#[utoipa::path(get, path = "/v1/notices", tag = "notices", params(NoticeFilter),
    responses((status = 200, body = [Notice])), security(("bearer" = [])))]
pub(crate) async fn list(
    State(s): State<Arc<AppState>>,
    Caller(who): Caller,
    Query(q): Query<NoticeFilter>,
) -> Result<axum::Json<Vec<Notice>>> {
    let tenant = match () {
        () if who.is(&[Role::Tenant]) => who.tenant.clone(),
        () if who.is_staff() => q.tenant,
        () => return Err(ApiError::new(StatusCode::FORBIDDEN, "forbidden", "this token may not read notices")),
    };
    Ok(axum::Json(s.core.notices(tenant.as_deref()).await?))
}

/// One notice with its statement of reasons.
#[utoipa::path(get, path = "/v1/notices/{id}", tag = "notices", params(("id" = String, Path, description = "Notice id")),
    responses((status = 200, body = Notice), (status = 404, body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub(crate) async fn get(
    State(s): State<Arc<AppState>>,
    Caller(who): Caller,
    Path(id): Path<String>,
) -> Result<axum::Json<Notice>> {
    Ok(axum::Json(readable(&s, &who, &id).await?))
}

/// The notice's `tlog-proof` receipt: proof that its `notice.issued` entry,
/// which commits to this very notice, is in the log.
#[utoipa::path(get, path = "/v1/notices/{id}/receipt", tag = "notices", params(("id" = String, Path, description = "Notice id")),
    responses((status = 200, description = "c2sp.org/tlog-proof@v1", content_type = "text/plain"),
        (status = 404, body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub(crate) async fn receipt(
    State(s): State<Arc<AppState>>,
    Caller(who): Caller,
    Path(id): Path<String>,
) -> Result<Response> {
    let notice = readable(&s, &who, &id).await?;
    let index = notice.log_index.ok_or_else(|| ApiError::internal(&format!("notice {id} has no log index")))?;
    let receipt = s.core.receipt(index).await?;
    Ok(([(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"))], receipt.to_text())
        .into_response())
}

/// The notice as a DSA Transparency Database statement submission.
#[utoipa::path(get, path = "/v1/notices/{id}/dsa", tag = "notices", params(("id" = String, Path, description = "Notice id")),
    responses((status = 200, description = "statement in the DSA Transparency Database shape"),
        (status = 404, body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub(crate) async fn dsa(
    State(s): State<Arc<AppState>>,
    Caller(who): Caller,
    Path(id): Path<String>,
) -> Result<axum::Json<serde_json::Value>> {
    Ok(axum::Json(readable(&s, &who, &id).await?.dsa_statement()))
}

/// Delivery attempts of a notice to the webhook. Staff only.
#[utoipa::path(get, path = "/v1/notices/{id}/deliveries", tag = "notices", params(("id" = String, Path, description = "Notice id")),
    responses((status = 200, description = "outbox rows: attempts, next attempt, delivered_at, last_error")),
    security(("bearer" = [])))]
pub(crate) async fn deliveries(
    State(s): State<Arc<AppState>>,
    _: Staff,
    Path(id): Path<String>,
) -> Result<axum::Json<Vec<OutboxItem>>> {
    s.core.notice(&id).await?;
    Ok(axum::Json(s.core.outbox_of(&id).await?))
}
