//! The operations pages over HTTP, for the provider's staff: the replicas
//! connected to this server, the orders in force, and the inventory.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Deserialize;
use verdict_console::operations::{self, InventoryView, Overview, ReplicaRow};
use verdict_console::public::problem;
use verdict_control::{InventoryQuery, Page};
use verdict_model::{OrderStatus, Timestamp, UnitPath};

use super::failed;
use super::public::html;
use super::session::staff;
use crate::AppState;
use crate::error::ApiError;

const STAFF_ONLY: &str = "Operations pages are the provider's staff's.";

/// Rows on a page of orders, tenants or subscriptions.
const PER_PAGE: usize = 50;

/// `GET /console/operations`.
pub(super) async fn overview(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    let signed = match staff(&state, &headers, "/console/operations", STAFF_ONLY).await {
        Ok(signed) => signed,
        Err(response) => return response,
    };
    let version = state.core.feed().current().version();
    let now = Timestamp::now();
    let replicas = state
        .replicas
        .list()
        .iter()
        .map(|c| ReplicaRow {
            name: c.name.clone(),
            scoped: c.scoped,
            agent: c.agent.clone(),
            connected_at: c.connected_at.to_string(),
            version: c.version(),
            behind: version.saturating_sub(c.version()),
            silent_seconds: (now.seconds() - c.sent_at().seconds()).max(0),
        })
        .collect();
    let overview = Overview {
        version,
        log_size: state.core.checkpoint().checkpoint.size,
        subscriptions: state.core.inventory_index_footprint().0,
        replicas,
    };
    html(StatusCode::OK, operations::overview(&signed.viewer, &overview))
}

/// A page's position: after this id.
#[derive(Deserialize, Default)]
pub(super) struct After {
    after: Option<String>,
}

fn next_page(base: &str, ids: &[&str]) -> Option<String> {
    (ids.len() == PER_PAGE).then(|| format!("{base}?after={}", ids.last().copied().unwrap_or_default()))
}

/// `GET /console/operations/orders`: orders in force now, newest first.
pub(super) async fn orders(State(state): State<Arc<AppState>>, headers: HeaderMap, Query(q): Query<After>) -> Response {
    let signed = match staff(&state, &headers, "/console/operations/orders", STAFF_ONLY).await {
        Ok(signed) => signed,
        Err(response) => return response,
    };
    let page = Page { after: q.after.filter(|a| !a.is_empty()), limit: PER_PAGE as u32 };
    match state.core.orders(None, Some(OrderStatus::InForce), &page).await {
        Ok(orders) => {
            let ids: Vec<&str> = orders.iter().map(|o| o.id.as_str()).collect();
            let next = next_page("/console/operations/orders", &ids);
            html(
                StatusCode::OK,
                operations::orders_in_force(&signed.viewer, &orders, state.core.now(), next.as_deref()),
            )
        }
        Err(e) => failed(&ApiError::from(e)),
    }
}

/// `GET /console/operations/inventory`: the tenants by id.
pub(super) async fn tenants(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Query(q): Query<After>,
) -> Response {
    let signed = match staff(&state, &headers, "/console/operations/inventory", STAFF_ONLY).await {
        Ok(signed) => signed,
        Err(response) => return response,
    };
    let page = Page { after: q.after.filter(|a| !a.is_empty()), limit: PER_PAGE as u32 };
    match state.core.tenants(&page).await {
        Ok(tenants) => {
            let ids: Vec<&str> = tenants.iter().map(|t| t.id.as_str()).collect();
            let next = next_page("/console/operations/inventory", &ids);
            html(StatusCode::OK, operations::tenants(&signed.viewer, &tenants, next.as_deref()))
        }
        Err(e) => failed(&ApiError::from(e)),
    }
}

/// The inventory page's address.
#[derive(Deserialize, Default)]
pub(super) struct InventoryParams {
    unit: Option<String>,
    q: Option<String>,
    page: Option<usize>,
}

/// `GET /console/operations/inventory/{tenant}`.
pub(super) async fn tenant(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(q): Query<InventoryParams>,
) -> Response {
    let here = format!("/console/operations/inventory/{id}");
    let signed = match staff(&state, &headers, &here, STAFF_ONLY).await {
        Ok(signed) => signed,
        Err(response) => return response,
    };
    let view = InventoryView {
        unit: q.unit.unwrap_or_default().trim().to_owned(),
        search: q.q.unwrap_or_default().trim().to_owned(),
        page: q.page.unwrap_or(1).max(1),
        per_page: PER_PAGE,
    };
    let unit = match view.unit.as_str() {
        "" => None,
        text => match UnitPath::parse(text) {
            Ok(unit) => Some(unit),
            Err(e) => return html(StatusCode::BAD_REQUEST, problem("Not a unit path", &e.to_string())),
        },
    };
    let query = InventoryQuery {
        unit,
        search: Some(view.search.clone()).filter(|s| !s.is_empty()),
        offset: (view.page - 1) * PER_PAGE,
        limit: PER_PAGE,
    };
    let tenant = match state.core.tenant(&id).await {
        Ok(Some(tenant)) => tenant,
        Ok(None) => {
            return failed(&ApiError::from(verdict_control::CoreError::NotFound {
                kind: verdict_control::Thing::Tenant,
                id: id.clone(),
            }));
        }
        Err(e) => return failed(&ApiError::from(e)),
    };
    match state.core.inventory_page(&id, &query).await {
        Ok(page) => html(StatusCode::OK, operations::tenant_inventory(&signed.viewer, &tenant, &page, &view)),
        Err(e) => failed(&ApiError::from(e)),
    }
}
