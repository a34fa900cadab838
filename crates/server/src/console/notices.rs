//! A tenant's pages and the reviewer's over HTTP: notices (their own for a
//! tenant's users, all for staff) with their receipts, filing an appeal,
//! and deciding one. Reads and writes go through the API's actions, so a
//! tenant's user reaching another tenant's notice by its address is told
//! it does not exist, exactly as over the API.

use std::sync::Arc;

use axum::Form;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use verdict_console::cases::Refusal;
use verdict_console::notices::{self, NoticeActions};
use verdict_console::public::problem;
use verdict_model::{AppealOutcome, NoticeKind, Role};

use super::public::html;
use super::session::{Signed, form_sender, require};
use super::{after_form, failed, refusal};
use crate::AppState;
use crate::error::ApiError;

async fn signed(state: &AppState, headers: &HeaderMap, here: &str) -> Result<Signed, Response> {
    require(state, headers, here).await.map_err(IntoResponse::into_response)
}

/// `GET /console/notices`.
pub(super) async fn list(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    let signed = match signed(&state, &headers, "/console/notices").await {
        Ok(signed) => signed,
        Err(response) => return response,
    };
    let p = &signed.principal;
    let tenant = if p.is_staff() {
        None
    } else if p.is(&[Role::Tenant]) {
        p.tenant.clone()
    } else {
        return html(StatusCode::FORBIDDEN, problem("Not for your role", "This token may not read notices."));
    };
    let all = match state.core.notices(tenant.as_deref()).await {
        Ok(all) => all,
        Err(e) => return failed(&ApiError::from(e)),
    };
    // A tenant's users follow their orders here: those approved (what was
    // only proposed or was rejected never restricted them).
    let orders = match &tenant {
        Some(t) => match state.core.orders(Some(t), None, &verdict_control::Page { after: None, limit: 200 }).await {
            Ok(orders) => orders.into_iter().filter(|o| o.is_effective()).collect(),
            Err(e) => return failed(&ApiError::from(e)),
        },
        None => Vec::new(),
    };
    html(StatusCode::OK, notices::notices(&signed.viewer, &all, &orders, state.core.now()))
}

async fn notice_page(state: &AppState, signed: &Signed, id: &str, status: StatusCode, r: Option<&Refusal>) -> Response {
    match crate::actions::readable_notice(&state.core, &signed.principal, id).await {
        Ok(notice) => {
            let may = NoticeActions {
                appeal: signed.principal.speaks_for(&notice.tenant) && notice.kind == NoticeKind::Restriction,
            };
            html(status, notices::notice(&signed.viewer, &notice, may, r))
        }
        Err(e) => failed(&e),
    }
}

/// `GET /console/notices/{id}`.
pub(super) async fn show(State(state): State<Arc<AppState>>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    match signed(&state, &headers, &format!("/console/notices/{id}")).await {
        Ok(signed) => notice_page(&state, &signed, &id, StatusCode::OK, None).await,
        Err(response) => response,
    }
}

/// `GET /console/notices/{id}/receipt`: the notice's log receipt, to keep.
pub(super) async fn receipt(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let signed = match signed(&state, &headers, &format!("/console/notices/{id}")).await {
        Ok(signed) => signed,
        Err(response) => return response,
    };
    let notice = match crate::actions::readable_notice(&state.core, &signed.principal, &id).await {
        Ok(notice) => notice,
        Err(e) => return failed(&e),
    };
    let Some(index) = notice.log_index else {
        return failed(&ApiError::internal(&format!("notice {id} has no log entry")));
    };
    match state.core.receipt(index).await {
        Ok(receipt) => (
            [
                (header::CONTENT_TYPE, "text/plain; charset=utf-8".to_owned()),
                (header::CONTENT_DISPOSITION, format!("attachment; filename=\"{id}.tlog-proof\"")),
            ],
            receipt.to_text(),
        )
            .into_response(),
        Err(e) => failed(&ApiError::from(e)),
    }
}

/// The appeal form.
#[derive(Deserialize)]
pub(super) struct AppealForm {
    #[serde(rename = "_csrf", default)]
    csrf: String,
    #[serde(default)]
    notice: String,
    #[serde(default)]
    statement: String,
}

/// `POST /console/orders/{id}/appeals`: filed from the notice's page.
pub(super) async fn file(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(order): Path<String>,
    Form(form): Form<AppealForm>,
) -> Response {
    let here = format!("/console/notices/{}", form.notice);
    let signed = match form_sender(&state, &headers, &here, &form.csrf).await {
        Ok(signed) => signed,
        Err(response) => return response,
    };
    let done = crate::actions::file_appeal(&state.core, &signed.principal, &order, &form.statement).await;
    match after_form(done, |appeal| format!("/console/appeals/{}", appeal.id)) {
        Ok(response) => response,
        Err(e) => notice_page(&state, &signed, &form.notice, e.status, Some(&refusal(&e))).await,
    }
}

/// `GET /console/appeals`: all for staff, their own tenant's for its users.
pub(super) async fn appeals(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    let signed = match signed(&state, &headers, "/console/appeals").await {
        Ok(signed) => signed,
        Err(response) => return response,
    };
    let p = &signed.principal;
    let tenant = if p.is_staff() { None } else { p.tenant.clone() };
    if !p.is_staff() && !p.is(&[Role::Tenant]) {
        return html(StatusCode::FORBIDDEN, problem("Not for your role", "This token may not read appeals."));
    }
    match state.core.appeals(tenant.as_deref()).await {
        Ok(mut all) => {
            all.sort_by_key(|a| (a.decision.is_some(), std::cmp::Reverse(a.filed_at)));
            html(StatusCode::OK, notices::appeals(&signed.viewer, &all))
        }
        Err(e) => failed(&ApiError::from(e)),
    }
}

async fn appeal_page(state: &AppState, signed: &Signed, id: &str, status: StatusCode, r: Option<&Refusal>) -> Response {
    let appeal = match state.core.appeal(id).await {
        Ok(appeal) if signed.principal.is_staff() || signed.principal.speaks_for(&appeal.tenant) => appeal,
        Ok(_) => {
            let e = ApiError::new(StatusCode::NOT_FOUND, "unknown-appeal", format!("appeal {id:?} does not exist"));
            return failed(&e);
        }
        Err(e) => return failed(&ApiError::from(e)),
    };
    let order = match state.core.order(&appeal.order).await {
        Ok(Some(order)) => order,
        Ok(None) => return failed(&ApiError::internal(&format!("appeal {id} names no stored order"))),
        Err(e) => return failed(&ApiError::from(e)),
    };
    // The notice the tenant was given for the order, shown beside it.
    let notice = match state.core.notices(Some(&appeal.tenant)).await {
        Ok(all) => all.into_iter().find(|n| n.order == order.id && n.kind == NoticeKind::Restriction),
        Err(e) => return failed(&ApiError::from(e)),
    };
    let decide = signed.principal.is(&[Role::Reviewer]);
    html(status, notices::appeal(&signed.viewer, &appeal, &order, notice.as_ref(), decide, r))
}

/// `GET /console/appeals/{id}`.
pub(super) async fn appeal(State(state): State<Arc<AppState>>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    match signed(&state, &headers, &format!("/console/appeals/{id}")).await {
        Ok(signed) => appeal_page(&state, &signed, &id, StatusCode::OK, None).await,
        Err(response) => response,
    }
}

/// The reviewer's form.
#[derive(Deserialize)]
pub(super) struct DecideForm {
    #[serde(rename = "_csrf", default)]
    csrf: String,
    #[serde(default)]
    outcome: String,
    #[serde(default)]
    reasons: String,
}

/// `POST /console/appeals/{id}/decision`: uphold or lift, with reasons.
pub(super) async fn decide(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(form): Form<DecideForm>,
) -> Response {
    let here = format!("/console/appeals/{id}");
    let signed = match form_sender(&state, &headers, &here, &form.csrf).await {
        Ok(signed) => signed,
        Err(response) => return response,
    };
    let outcome = match form.outcome.as_str() {
        "uphold" => AppealOutcome::Uphold,
        "lift" => AppealOutcome::Lift,
        other => {
            let e = ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid-outcome",
                format!("outcome {other:?} is not uphold or lift (amend through the API, with the new version)"),
            );
            return appeal_page(&state, &signed, &id, e.status, Some(&refusal(&e))).await;
        }
    };
    let screened = crate::screen::screen(&serde_json::json!({ "reasons": form.reasons }));
    let decided = match screened {
        Ok(()) => {
            crate::actions::decide_appeal(&state.core, &signed.principal, &id, outcome, &form.reasons, None).await
        }
        Err(e) => Err(e),
    };
    match after_form(decided, |_| here.clone()) {
        Ok(response) => response,
        Err(e) => appeal_page(&state, &signed, &id, e.status, Some(&refusal(&e))).await,
    }
}

/// Records on a page of a tenant's log records.
const RECORDS: u32 = 50;

/// The address of the records page.
#[derive(Deserialize, Default)]
pub(super) struct RecordsQuery {
    /// Entries before this index.
    before: Option<u64>,
    /// For admins and auditors: whose records.
    tenant: Option<String>,
}

/// `GET /console/records`: a tenant's users see their tenant's; admins
/// and auditors, with `?tenant=`, any tenant's (as the API lets them).
pub(super) async fn records(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    axum::extract::Query(q): axum::extract::Query<RecordsQuery>,
) -> Response {
    let signed = match signed(&state, &headers, "/console/records").await {
        Ok(signed) => signed,
        Err(response) => return response,
    };
    let p = &signed.principal;
    let tenant = match (&p.tenant, q.tenant) {
        (Some(own), _) if p.is(&[Role::Tenant]) => own.clone(),
        (_, Some(t)) if p.is(&[Role::Admin, Role::Auditor]) => t,
        _ => {
            return html(
                StatusCode::FORBIDDEN,
                problem(
                    "Not for your role",
                    "Private log records are read by the tenant they concern, and by admins and auditors (with ?tenant=).",
                ),
            );
        }
    };
    match state.core.tenant_log_records(&tenant, q.before, RECORDS).await {
        Ok(records) => {
            let older = (records.len() == RECORDS as usize).then(|| records.last().map(|r| r.index)).flatten();
            html(StatusCode::OK, verdict_console::records::records(&signed.viewer, &tenant, &records, older))
        }
        Err(e) => failed(&ApiError::from(e)),
    }
}
