//! The management API under `/v1`: inventory, catalog, orders and import.

use std::sync::Arc;

use axum::extract::{FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use verdict_control::Page;
use verdict_control::{ImportSummary, Moved};
use verdict_model::{
    Catalog, Inventory, Order, OrderSpec, OrderStatus, PhaseMode, Role, Subscription, Tenant, Timestamp, Unit, UnitPath,
};

use crate::AppState;
use crate::auth::{Admin, Caller, Staff, require};
use crate::error::{ApiError, Json, RawBody};

type Result<T> = std::result::Result<T, ApiError>;

/// `axum::extract::Query` with rejections as [`ApiError`]s.
pub(crate) struct Query<T>(pub T);

/// An order status, by its name.
fn status_param<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Option<String>, D::Error> {
    let value = Option::<String>::deserialize(d)?;
    if let Some(text) = &value
        && OrderStatus::parse(text).is_none()
    {
        return Err(serde::de::Error::custom(format!(
            "status {text:?} is not one of proposed, rejected, scheduled, in_force, expired, lifted, superseded"
        )));
    }
    Ok(value)
}

/// A query parameter that names something by id: refused (400
/// `invalid-query`) unless it is an id, as the OpenAPI document states.
pub(crate) fn id_param<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Option<String>, D::Error> {
    let value = Option::<String>::deserialize(d)?;
    if let Some(id) = &value {
        verdict_model::validate_id("id", id).map_err(serde::de::Error::custom)?;
    }
    Ok(value)
}

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Query(v)| Query(v))
            .map_err(|e| {
                ApiError::bad_request("invalid-query", format!("the query string does not fit: {}", e.body_text()))
            })
    }
}

/// Paging and filtering parameters.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
pub(crate) struct ListParams {
    /// Return items after this id (the `next` of the previous page).
    #[serde(default, deserialize_with = "id_param")]
    after: Option<String>,
    /// At most this many items (1–1000, default 100).
    limit: Option<u32>,
    /// Only this tenant's items.
    #[serde(default, deserialize_with = "id_param")]
    tenant: Option<String>,
    /// Orders only: only those in this status now (`proposed`, `rejected`,
    /// `scheduled`, `in_force`, `expired`, `lifted`, `superseded`).
    /// Checked on every list, as the document states it.
    #[serde(default, deserialize_with = "status_param")]
    status: Option<String>,
}

impl ListParams {
    fn page(&self) -> Result<Page> {
        let limit = self.limit.unwrap_or(100);
        if !(1..=1000).contains(&limit) {
            return Err(ApiError::bad_request(
                "invalid-query",
                format!("limit {limit} is out of range; use 1 to 1000"),
            ));
        }
        Ok(Page { after: self.after.clone(), limit })
    }
}

/// A page of items.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct List<T> {
    /// The items.
    pub items: Vec<T>,
    /// Pass as `after` for the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
}

fn list<T>(items: Vec<T>, limit: u32, key: impl Fn(&T) -> String) -> List<T> {
    let next = if items.len() == limit as usize { items.last().map(key) } else { None };
    List { items, next }
}

/// A stored order with its status and phase as of now.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct OrderView {
    /// The order.
    #[serde(flatten)]
    pub order: Order,
    /// Where it stands now: `proposed`, `rejected`, `scheduled`,
    /// `in_force` (see `current_phase`), `expired`, `lifted` or
    /// `superseded`. A proposed or rejected order is never in force.
    pub status: OrderStatus,
    /// The phase governing now, if any.
    pub current_phase: Option<PhaseMode>,
}

impl OrderView {
    pub(crate) fn of(order: Order, now: Timestamp) -> OrderView {
        OrderView { status: order.status_at(now), current_phase: order.phase_at(now).map(|p| p.mode), order }
    }
}

/// A tenant's units.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct UnitList {
    /// The tenant.
    pub tenant: String,
    /// Its unit paths, sorted.
    pub units: Vec<UnitPath>,
}

/// Body of a move.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MoveBody {
    /// The unit to move to (same tenant; must exist).
    pub unit: UnitPath,
}

/// Body of a lift.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LiftBody {
    /// Why the order is lifted.
    pub reason: String,
}

/// What deleting a subscription left behind.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Deleted {
    /// The subscription.
    pub subscription: String,
    /// Orders that keep covering its id should it be recreated.
    pub retained_by: Vec<String>,
}

/// Lists tenants.
#[utoipa::path(get, path = "/v1/tenants", tag = "inventory", params(ListParams),
    responses((status = 200, body = List<Tenant>)), security(("bearer" = [])))]
pub(crate) async fn list_tenants(
    State(s): State<Arc<AppState>>,
    _: Staff,
    Query(q): Query<ListParams>,
) -> Result<axum::Json<List<Tenant>>> {
    let page = q.page()?;
    let items = s.core.tenants(&page).await?;
    Ok(axum::Json(list(items, page.limit, |t| t.id.clone())))
}

/// Creates a tenant.
#[utoipa::path(post, path = "/v1/tenants", tag = "inventory", request_body = Tenant,
    responses((status = 201, body = Tenant), (status = 409, description = "tenant-exists", body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub(crate) async fn create_tenant(
    State(s): State<Arc<AppState>>,
    Admin(who): Admin,
    Json(t): Json<Tenant>,
) -> Result<(StatusCode, axum::Json<Tenant>)> {
    let (t, _) = s.core.create_tenant(&who.actor(), t).await?;
    Ok((StatusCode::CREATED, axum::Json(t)))
}

async fn tenant_or_404(s: &AppState, id: &str) -> Result<Tenant> {
    s.core
        .tenant(id)
        .await?
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "unknown-tenant", format!("tenant {id:?} does not exist")))
}

/// One tenant.
#[utoipa::path(get, path = "/v1/tenants/{id}", tag = "inventory",
    responses((status = 200, body = Tenant), (status = 404, body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub(crate) async fn get_tenant(
    State(s): State<Arc<AppState>>,
    _: Staff,
    Path(id): Path<String>,
) -> Result<axum::Json<Tenant>> {
    tenant_or_404(&s, &id).await.map(axum::Json)
}

/// A tenant's units.
#[utoipa::path(get, path = "/v1/tenants/{id}/units", tag = "inventory",
    responses((status = 200, body = UnitList), (status = 404, body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub(crate) async fn list_units(
    State(s): State<Arc<AppState>>,
    _: Staff,
    Path(id): Path<String>,
) -> Result<axum::Json<UnitList>> {
    tenant_or_404(&s, &id).await?;
    let units = s.core.units(&id).await?;
    Ok(axum::Json(UnitList { tenant: id, units }))
}

/// Creates a unit (and missing ancestors).
#[utoipa::path(post, path = "/v1/units", tag = "inventory", request_body = Unit,
    responses((status = 201, body = Unit), (status = 409, description = "unit-exists", body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub(crate) async fn create_unit(
    State(s): State<Arc<AppState>>,
    Admin(who): Admin,
    Json(u): Json<Unit>,
) -> Result<(StatusCode, axum::Json<Unit>)> {
    let (u, _) = s.core.create_unit(&who.actor(), u).await?;
    Ok((StatusCode::CREATED, axum::Json(u)))
}

/// Deletes an empty unit.
#[utoipa::path(delete, path = "/v1/tenants/{id}/units/{path}", tag = "inventory",
    responses((status = 204), (status = 409, description = "unit-not-empty", body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub(crate) async fn delete_unit(
    State(s): State<Arc<AppState>>,
    Admin(who): Admin,
    Path((tenant, path)): Path<(String, String)>,
) -> Result<StatusCode> {
    let path = UnitPath::parse(&path).map_err(|e| ApiError::bad_request(e.code(), e.to_string()))?;
    s.core.delete_unit(&who.actor(), &tenant, &path).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Creates a subscription in an existing unit.
#[utoipa::path(post, path = "/v1/subscriptions", tag = "inventory", request_body = Subscription,
    responses((status = 201, body = Subscription), (status = 409, description = "subscription-exists", body = crate::error::ErrorBody),
        (status = 422, description = "unknown tenant, unit or service", body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub(crate) async fn create_subscription(
    State(s): State<Arc<AppState>>,
    Admin(who): Admin,
    Json(sub): Json<Subscription>,
) -> Result<(StatusCode, axum::Json<Subscription>)> {
    let (sub, _) = s.core.create_subscription(&who.actor(), sub).await?;
    Ok((StatusCode::CREATED, axum::Json(sub)))
}

/// Lists subscriptions.
#[utoipa::path(get, path = "/v1/subscriptions", tag = "inventory", params(ListParams),
    responses((status = 200, body = List<Subscription>)), security(("bearer" = [])))]
pub(crate) async fn list_subscriptions(
    State(s): State<Arc<AppState>>,
    _: Staff,
    Query(q): Query<ListParams>,
) -> Result<axum::Json<List<Subscription>>> {
    let page = q.page()?;
    let items = s.core.subscriptions(q.tenant.as_deref(), &page).await?;
    Ok(axum::Json(list(items, page.limit, |s| s.id.clone())))
}

/// One subscription.
#[utoipa::path(get, path = "/v1/subscriptions/{id}", tag = "inventory",
    responses((status = 200, body = Subscription), (status = 404, body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub(crate) async fn get_subscription(
    State(s): State<Arc<AppState>>,
    _: Staff,
    Path(id): Path<String>,
) -> Result<axum::Json<Subscription>> {
    s.core.subscription(&id).await?.map(axum::Json).ok_or_else(|| {
        ApiError::new(StatusCode::NOT_FOUND, "unknown-subscription", format!("subscription {id:?} does not exist"))
    })
}

/// Moves a subscription to another unit of its tenant; orders binding it
/// keep covering it (`retained_by`).
#[utoipa::path(post, path = "/v1/subscriptions/{id}/move", tag = "inventory", request_body = MoveBody,
    responses((status = 200, description = "Moved; `retained_by` lists orders that keep covering it", body = Moved),
        (status = 404, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub(crate) async fn move_subscription(
    State(s): State<Arc<AppState>>,
    Admin(who): Admin,
    Path(id): Path<String>,
    Json(body): Json<MoveBody>,
) -> Result<axum::Json<Moved>> {
    Ok(axum::Json(s.core.move_subscription(&who.actor(), &id, body.unit).await?))
}

/// Deletes a subscription; orders binding it keep covering its id.
#[utoipa::path(delete, path = "/v1/subscriptions/{id}", tag = "inventory",
    responses((status = 200, body = Deleted), (status = 404, body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub(crate) async fn delete_subscription(
    State(s): State<Arc<AppState>>,
    Admin(who): Admin,
    Path(id): Path<String>,
) -> Result<axum::Json<Deleted>> {
    let (retained_by, _) = s.core.delete_subscription(&who.actor(), &id).await?;
    Ok(axum::Json(Deleted { subscription: id, retained_by }))
}

/// The service catalog: services, their actions and each action's class.
#[utoipa::path(get, path = "/v1/catalog", tag = "catalog", responses((status = 200, body = Catalog)), security(("bearer" = [])))]
pub(crate) async fn catalog(State(s): State<Arc<AppState>>, _: Staff) -> axum::Json<Catalog> {
    axum::Json(s.core.snapshot().catalog().clone())
}

/// `POST /v1/orders` query.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
pub(crate) struct CreateParams {
    /// `true` loads the order directly, approved as made, with no case and
    /// no approvers: an admin-only bulk-load path, logged as such.
    #[serde(default)]
    direct: bool,
}

/// Proposes an order from a case (`case_id`; analysts or approvers): it takes effect
/// only when approved. Admins may load one directly with `?direct=true`.
#[utoipa::path(post, path = "/v1/orders", tag = "orders", request_body = OrderSpec, params(CreateParams),
    responses((status = 201, body = OrderView),
        (status = 400, description = "malformed body or pattern", body = crate::error::ErrorBody),
        (status = 403, description = "not an analyst (or, with direct, not an admin)", body = crate::error::ErrorBody),
        (status = 409, description = "case-required, emergency-reason-required, clause-not-in-case, case-closed", body = crate::error::ErrorBody),
        (status = 422, description = "unknown scope entries, scope spanning tenants, bad timeline", body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub(crate) async fn create_order(
    State(s): State<Arc<AppState>>,
    Caller(who): Caller,
    Query(q): Query<CreateParams>,
    Json(spec): Json<OrderSpec>,
) -> Result<(StatusCode, axum::Json<OrderView>)> {
    let order = if q.direct {
        require(&who, &[Role::Admin], "load an order directly")?;
        s.core.create_order(&who.actor(), spec).await?.0
    } else {
        crate::actions::propose_order(&s.core, &who, spec).await?
    };
    Ok((StatusCode::CREATED, axum::Json(OrderView::of(order, s.core.now()))))
}

/// Lists orders, newest first.
#[utoipa::path(get, path = "/v1/orders", tag = "orders", params(ListParams),
    responses((status = 200, body = List<OrderView>)), security(("bearer" = [])))]
pub(crate) async fn list_orders(
    State(s): State<Arc<AppState>>,
    Caller(who): Caller,
    Query(q): Query<ListParams>,
) -> Result<axum::Json<List<OrderView>>> {
    let page = q.page()?;
    // A tenant's users see their own tenant's orders only.
    let tenant = match () {
        () if who.is_staff() => q.tenant.clone(),
        () if who.is(&[Role::Tenant]) => who.tenant.clone(),
        () => return Err(ApiError::new(StatusCode::FORBIDDEN, "forbidden", "this token may not read orders")),
    };
    let status = match q.status.as_deref() {
        None => None,
        Some(text) => Some(OrderStatus::parse(text).ok_or_else(|| {
            ApiError::bad_request(
                "invalid-query",
                format!(
                    "status {text:?} is not an order status; use proposed, rejected, scheduled, in_force, expired, lifted or superseded"
                ),
            )
        })?),
    };
    let items = s.core.orders(tenant.as_deref(), status, &page).await?;
    let now = s.core.now();
    Ok(axum::Json(list(items.into_iter().map(|o| OrderView::of(o, now)).collect(), page.limit, |o| o.order.id.clone())))
}

/// One order.
#[utoipa::path(get, path = "/v1/orders/{id}", tag = "orders",
    responses((status = 200, body = OrderView), (status = 404, body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub(crate) async fn get_order(
    State(s): State<Arc<AppState>>,
    Caller(who): Caller,
    Path(id): Path<String>,
) -> Result<axum::Json<OrderView>> {
    // Another tenant's order does not exist as far as a tenant's user can tell.
    let now = s.core.now();
    s.core
        .order(&id)
        .await?
        .filter(|o| who.is_staff() || who.speaks_for(&o.spec.tenant))
        .map(|o| axum::Json(OrderView::of(o, now)))
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "unknown-order", format!("order {id:?} does not exist")))
}

/// Lifts an order now.
#[utoipa::path(post, path = "/v1/orders/{id}/lift", tag = "orders", request_body = LiftBody,
    responses((status = 200, body = OrderView), (status = 404, body = crate::error::ErrorBody),
        (status = 409, description = "order-already-lifted or order-expired", body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub(crate) async fn lift_order(
    State(s): State<Arc<AppState>>,
    Caller(who): Caller,
    Path(id): Path<String>,
    Json(body): Json<LiftBody>,
) -> Result<axum::Json<OrderView>> {
    // An approver lifts; an admin may lift only what it loaded directly.
    if !who.is(&[Role::Approver])
        && let Some(order) = s.core.order(&id).await?
        && !(who.is(&[Role::Admin]) && order.lifecycle.proposed_by.is_none())
    {
        require(&who, &[Role::Approver], "lift an order")?;
    }
    let (order, _) = s.core.lift_order(&who.actor(), &id, &body.reason).await?;
    Ok(axum::Json(OrderView::of(order, s.core.now())))
}

/// Imports an inventory, all or nothing: JSON (`application/json`) or
/// NDJSON (`application/x-ndjson`). Up to 256 MiB.
#[utoipa::path(post, path = "/v1/import", tag = "inventory", request_body(content = Inventory, description = "JSON, or NDJSON records with a `type`"),
    responses((status = 200, body = ImportSummary), (status = 400, description = "unparseable document", body = crate::error::ErrorBody),
        (status = 422, description = "a record is invalid; nothing was imported", body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub(crate) async fn import(
    State(s): State<Arc<AppState>>,
    Admin(who): Admin,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> Result<axum::Json<ImportSummary>> {
    let text = std::str::from_utf8(&body)
        .map_err(|_| ApiError::bad_request("invalid-body", "the import is not UTF-8 text"))?;
    let content_type = headers.get(axum::http::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let mime = content_type.split(';').next().unwrap_or("").trim();
    let inventory = match mime {
        // Line by line, so an error names its line.
        "application/x-ndjson" | "application/jsonl" => Inventory::from_ndjson(text).map_err(|e| {
            ApiError::bad_request("malformed-import", format!("the import does not parse at {e}; nothing was imported"))
        })?,
        "application/json" => match Inventory::from_json(text) {
            Ok(inventory) => inventory,
            // The same codes as every other JSON body (serde's kind, and
            // where), found again only for a document that failed.
            Err(e) => {
                let refusal = verdict_wire::parse_body::<Inventory>(&headers, &body).err().unwrap_or_else(|| {
                    ApiError::bad_request("malformed-import", format!("the import does not parse at {e}"))
                });
                return Err(ApiError { message: format!("{}; nothing was imported", refusal.message), ..refusal });
            }
        },
        _ => {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported-media-type",
                "send the import as JSON ('Content-Type: application/json') or NDJSON ('Content-Type: application/x-ndjson')",
            ));
        }
    };
    Ok(axum::Json(s.core.import(&who.actor(), inventory, &|_| ()).await?))
}
