//! The approver's pages over HTTP: the approval queue and an order page
//! whose Approve form carries the hash of the preview on screen. Approving
//! and rejecting go through the API's own actions (`crate::actions`).

use std::sync::Arc;

use axum::Form;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Deserialize;
use verdict_console::cases::Refusal;
use verdict_console::orders::{self, OrderActions};
use verdict_control::Page;
use verdict_model::{GuardOverride, OrderStatus, Role};

use super::public::html;
use super::session::{Signed, form_sender, staff};
use super::{after_form, failed, refusal};
use crate::AppState;
use crate::error::ApiError;

/// Orders listed on the approval queue.
const QUEUE: u32 = 500;

const STAFF_ONLY: &str = "Orders under approval are the provider's staff's; your own orders are on your home page.";

/// `GET /console/approvals`.
pub(super) async fn approvals(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    let signed = match staff(&state, &headers, "/console/approvals", STAFF_ONLY).await {
        Ok(signed) => signed,
        Err(response) => return response,
    };
    match state.core.orders(None, Some(OrderStatus::Proposed), &Page { after: None, limit: QUEUE }).await {
        Ok(waiting) => html(StatusCode::OK, orders::approvals(&signed.viewer, &waiting)),
        Err(e) => failed(&ApiError::from(e)),
    }
}

async fn order_page(
    state: &AppState,
    signed: &Signed,
    id: &str,
    status: StatusCode,
    refusal: Option<&Refusal>,
) -> Response {
    let order = match state.core.order(id).await {
        Ok(Some(order)) => order,
        Ok(None) => {
            return failed(&ApiError::from(verdict_control::CoreError::NotFound {
                kind: verdict_control::Thing::Order,
                id: id.to_owned(),
            }));
        }
        Err(e) => return failed(&ApiError::from(e)),
    };
    let now = state.core.now();
    let current = order.status_at(now);
    let proposed = current == OrderStatus::Proposed;
    let (preview, broken) = if proposed {
        let preview = match state.core.preview_order(id).await {
            Ok(preview) => preview,
            Err(e) => return failed(&ApiError::from(e)),
        };
        match state.core.guards_broken(&order.spec, &preview).await {
            Ok(broken) => (Some(preview), broken),
            Err(e) => return failed(&ApiError::from(e)),
        }
    } else {
        (None, Vec::new())
    };
    let may = OrderActions { decide: proposed && signed.principal.is(&[Role::Approver]) };
    html(
        status,
        orders::order(
            &signed.viewer,
            &order,
            current.as_str(),
            now,
            preview.as_ref().map(|preview| orders::Review { preview, broken: &broken }),
            may,
            refusal,
        ),
    )
}

/// `GET /console/orders/{id}`.
pub(super) async fn show(State(state): State<Arc<AppState>>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    match staff(&state, &headers, &format!("/console/orders/{id}"), STAFF_ONLY).await {
        Ok(signed) => order_page(&state, &signed, &id, StatusCode::OK, None).await,
        Err(response) => response,
    }
}

/// `POST /console/orders/{id}/approve`: bound to the preview on screen,
/// with a reason for each guard overridden (`override.<guard>`; blank
/// ones are not overrides).
pub(super) async fn approve(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(form): Form<Vec<(String, String)>>,
) -> Response {
    let here = format!("/console/orders/{id}");
    let field = |name: &str| form.iter().find(|(k, _)| k == name).map_or("", |(_, v)| v.as_str());
    let signed = match form_sender(&state, &headers, &here, field("_csrf")).await {
        Ok(signed) => signed,
        Err(response) => return response,
    };
    let hash = Some(field("preview_hash")).filter(|h| !h.is_empty());
    let overrides: Vec<GuardOverride> = form
        .iter()
        .filter_map(|(k, v)| {
            Some(GuardOverride { guard: k.strip_prefix("override.")?.to_owned(), reason: v.trim().to_owned() })
        })
        .filter(|o| !o.reason.is_empty())
        .collect();
    let done = crate::actions::approve(&state.core, &signed.principal, &id, hash, &overrides).await;
    match after_form(done, |_| here.clone()) {
        Ok(response) => response,
        Err(e) => order_page(&state, &signed, &id, e.status, Some(&refusal(&e))).await,
    }
}

/// The Reject form.
#[derive(Deserialize)]
pub(super) struct RejectForm {
    #[serde(rename = "_csrf", default)]
    csrf: String,
    #[serde(default)]
    reason: String,
}

/// `POST /console/orders/{id}/reject`.
pub(super) async fn reject(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(form): Form<RejectForm>,
) -> Response {
    let here = format!("/console/orders/{id}");
    let signed = match form_sender(&state, &headers, &here, &form.csrf).await {
        Ok(signed) => signed,
        Err(response) => return response,
    };
    let done = crate::actions::reject(&state.core, &signed.principal, &id, &form.reason).await;
    match after_form(done, |_| here.clone()) {
        Ok(response) => response,
        Err(e) => order_page(&state, &signed, &id, e.status, Some(&refusal(&e))).await,
    }
}
