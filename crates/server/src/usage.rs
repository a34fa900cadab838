//! `POST /v1/usage`: usage metadata from the provider's metering pipeline,
//! as NDJSON, one event per line, counted all or nothing: the first line
//! that is not an event of numbers about resources refuses the batch, with
//! its line number, its code and the reason.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use serde::Serialize;
use verdict_model::{Catalog, Role};

use crate::AppState;
use crate::auth::{Caller, require};
use crate::error::{ApiError, RawBody};

type Result<T> = std::result::Result<T, ApiError>;

/// What a batch did.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct UsageSummary {
    /// Events counted.
    accepted: usize,
    /// Events not counted again: their id was counted before.
    duplicates: usize,
}

/// Counts a batch of usage events (NDJSON, `application/x-ndjson`, at most
/// 100,000 lines), all or nothing. Meter and admin tokens.
#[utoipa::path(post, path = "/v1/usage", tag = "usage",
    request_body(content = String, content_type = "application/x-ndjson",
        description = "One event per line: tenant, subscription, service, meter, quantity, region, time, id"),
    responses((status = 200, body = UsageSummary),
        (status = 400, description = "a line is not JSON", body = crate::error::ErrorBody),
        (status = 403, description = "the token may not send usage (meter and admin tokens may)", body = crate::error::ErrorBody),
        (status = 415, description = "not NDJSON", body = crate::error::ErrorBody),
        (status = 422, description = "a line is refused (its code says why); nothing was counted", body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub(crate) async fn ingest(
    State(s): State<Arc<AppState>>,
    Caller(who): Caller,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> Result<axum::Json<UsageSummary>> {
    require(&who, &[Role::Meter, Role::Admin], "send usage")?;
    let mime = headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .unwrap_or("")
        .trim();
    if mime != "application/x-ndjson" && mime != "application/jsonl" {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported-media-type",
            "send usage as NDJSON, one event per line, with 'Content-Type: application/x-ndjson'",
        ));
    }
    let (earliest, latest) = s.core.usage_bounds();
    // Reading a batch is CPU work (on every core for a large one): off the
    // threads that serve requests.
    let events = tokio::task::spawn_blocking(move || {
        verdict_control::parse_usage_batch(&body, &Catalog::builtin(), earliest, latest)
    })
    .await
    .map_err(|e| ApiError::internal(&format!("reading a usage batch failed: {e}")))?
    .map_err(|e| match e {
        verdict_control::UsageBatchError::Malformed { .. } => ApiError::bad_request("malformed-usage", e.to_string()),
        e => ApiError::from(verdict_control::CoreError::from(e)),
    })?;
    let done = s.core.ingest_usage(&events).await?;
    Ok(axum::Json(UsageSummary { accepted: done.accepted, duplicates: done.duplicates }))
}

/// `GET /v1/usage/{tenant}` query.
#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
pub(crate) struct SeriesQuery {
    /// The first hour (default: the retention period ago).
    from: Option<verdict_model::Timestamp>,
}

/// One hour of a series.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct HourView {
    /// The hour's start.
    hour: verdict_model::Timestamp,
    /// A counter's sum or a gauge's highest reading.
    quantity: f64,
}

/// One series of a tenant.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct SeriesView {
    /// The subscription.
    subscription: String,
    /// The service.
    service: String,
    /// The meter.
    meter: String,
    /// Counter or gauge.
    kind: verdict_model::MeterKind,
    /// Its hours with usage, oldest first.
    hours: Vec<HourView>,
}

/// A tenant's usage in hour slices, per subscription, service and meter.
/// Staff.
#[utoipa::path(get, path = "/v1/usage/{tenant}", tag = "usage", params(("tenant" = String, Path, description = "Tenant id"), SeriesQuery),
    responses((status = 200, body = Vec<SeriesView>), (status = 400, description = "from is not an RFC 3339 instant", body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub(crate) async fn series(
    State(s): State<Arc<AppState>>,
    _: crate::auth::Staff,
    axum::extract::Path(tenant): axum::extract::Path<String>,
    crate::manage::Query(q): crate::manage::Query<SeriesQuery>,
) -> Result<axum::Json<Vec<SeriesView>>> {
    if s.core.tenant(&tenant).await?.is_none() {
        return Err(ApiError::from(verdict_control::CoreError::NotFound {
            kind: verdict_control::Thing::Tenant,
            id: tenant,
        }));
    }
    let from = q.from.unwrap_or_else(|| s.core.now().plus(-verdict_control::USAGE_RETENTION_DAYS * 86_400));
    let series = s.core.usage_series(&tenant, from.seconds()).await?;
    Ok(axum::Json(
        series
            .into_iter()
            .map(|(key, series)| SeriesView {
                subscription: key.subscription,
                service: key.service,
                meter: key.meter,
                kind: series.kind,
                hours: series
                    .hours
                    .iter()
                    .map(|(hour, quantity)| HourView { hour: verdict_model::Timestamp(*hour), quantity: *quantity })
                    .collect(),
            })
            .collect(),
    ))
}
