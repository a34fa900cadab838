//! The analyst's pages over HTTP: the case queue, a case, and the forms
//! that open a case, add evidence and comment. Each form becomes the API's
//! JSON body and goes through the same action (`crate::actions`), so it is
//! refused exactly when the API refuses, with the same code and sentence,
//! shown beside the form.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Deserialize;
use serde_json::{Value, json};
use verdict_console::cases::{self, Attempt, CaseActions, Filter, NewCase, Refusal};
use verdict_console::public::problem;
use verdict_model::Role;

use super::public::html;
use super::session::{Signed, form_sender, staff};
use super::{after_form, failed, refusal};
use crate::AppState;
use crate::error::ApiError;

/// Cases on a page of the queue.
const PER_PAGE: usize = 50;

const STAFF_ONLY: &str = "Cases are the provider's staff's; your notices and orders are on your home page.";

/// The queue's address.
#[derive(Deserialize, Default)]
pub(super) struct QueueQuery {
    status: Option<String>,
    tenant: Option<String>,
    assignee: Option<String>,
    source: Option<String>,
    page: Option<usize>,
}

fn given(value: Option<String>) -> Option<String> {
    value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
}

/// `GET /console/cases`.
pub(super) async fn queue(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Query(q): Query<QueueQuery>,
) -> Response {
    let signed = match staff(&state, &headers, "/console/cases", STAFF_ONLY).await {
        Ok(signed) => signed,
        Err(response) => return response,
    };
    let filter = Filter {
        status: given(q.status),
        tenant: given(q.tenant),
        assignee: given(q.assignee),
        source: given(q.source),
    };
    let wanted = verdict_control::CaseFilter {
        tenant: filter.tenant.clone(),
        status: filter.status.clone(),
        assignee: filter.assignee.clone(),
        source: filter.source.clone(),
    };
    let page = q.page.unwrap_or(1).max(1);
    let (mut shown, mut total) =
        match state.core.case_queue(&wanted, ((page - 1) * PER_PAGE) as u64, PER_PAGE as u32).await {
            Ok(found) => found,
            Err(e) => return failed(&ApiError::from(e)),
        };
    // A page past the end shows the last one.
    let pages = (total as usize).div_ceil(PER_PAGE).max(1);
    let page = if page > pages {
        match state.core.case_queue(&wanted, ((pages - 1) * PER_PAGE) as u64, PER_PAGE as u32).await {
            Ok(found) => (shown, total) = found,
            Err(e) => return failed(&ApiError::from(e)),
        }
        pages
    } else {
        page
    };
    html(StatusCode::OK, cases::queue(&signed.viewer, &shown, &filter, page, total as usize, PER_PAGE))
}

fn may(signed: &Signed) -> CaseActions {
    let p = &signed.principal;
    CaseActions {
        add_evidence: p.is(&[Role::Analyst]),
        comment: p.is(&[Role::Analyst, Role::Approver, Role::Reviewer, Role::Admin]),
        draft_order: p.is(&[Role::Analyst, Role::Approver]),
        manage: p.is(&[Role::Analyst, Role::Admin]),
    }
}

async fn case_page(
    state: &AppState,
    signed: &Signed,
    id: &str,
    status: StatusCode,
    attempt: Option<&Attempt>,
) -> Response {
    let (case, timeline) = match state.core.case(id).await {
        Ok(found) => found,
        Err(e) => return failed(&ApiError::from(e)),
    };
    let may = may(signed);
    let analysts: Vec<String> = if may.manage {
        match state.core.users().await {
            Ok(users) => users
                .into_iter()
                .filter(|u| u.revoked_at.is_none() && u.roles.contains(&Role::Analyst))
                .map(|u| u.name)
                .collect(),
            Err(e) => return failed(&ApiError::from(e)),
        }
    } else {
        Vec::new()
    };
    html(status, cases::case(&signed.viewer, &case, &timeline, may, &analysts, attempt))
}

/// `GET /console/cases/{id}`.
pub(super) async fn show(State(state): State<Arc<AppState>>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    match staff(&state, &headers, &format!("/console/cases/{id}"), STAFF_ONLY).await {
        Ok(signed) => case_page(&state, &signed, &id, StatusCode::OK, None).await,
        Err(response) => response,
    }
}

/// The evidence form's fields as the API's `Evidence` body.
fn evidence_body(form: &HashMap<String, String>) -> Value {
    let text = |name: &str| form.get(name).map(|v| v.trim().to_owned()).unwrap_or_default();
    match text("kind").as_str() {
        "metadata_finding" => {
            let mut figures = serde_json::Map::new();
            for i in 0..3 {
                let name = text(&format!("figure_name_{i}"));
                if name.is_empty() {
                    continue;
                }
                let raw = text(&format!("figure_value_{i}"));
                // A number stays a number; anything else is sent as text,
                // for the API to refuse as it would (figures are numbers).
                let value = raw.parse::<f64>().ok().and_then(|n| serde_json::Number::from_f64(n).map(Value::Number));
                figures.insert(name, value.unwrap_or(Value::String(raw)));
            }
            json!({"kind": "metadata_finding", "summary": text("summary"), "figures": figures, "method": text("method")})
        }
        "note" => json!({"kind": "note", "text": text("text")}),
        _ => json!({"kind": "external_document", "address": text("address"), "sha256": text("sha256"),
            "summary": text("summary")}),
    }
}

/// `POST /console/cases/{id}/evidence`.
pub(super) async fn add_evidence(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let here = format!("/console/cases/{id}");
    let csrf = form.get("_csrf").map_or("", String::as_str);
    let signed = match form_sender(&state, &headers, &here, csrf).await {
        Ok(signed) => signed,
        Err(response) => return response,
    };
    let done = crate::actions::add_evidence(&state.core, &signed.principal, &id, &evidence_body(&form)).await;
    match after_form(done, |_| here.clone()) {
        Ok(response) => response,
        Err(e) => {
            let values: BTreeMap<String, String> = form.into_iter().filter(|(k, _)| k != "_csrf").collect();
            let attempt = Attempt { form: "evidence".into(), refusal: Some(refusal(&e)), values };
            case_page(&state, &signed, &id, e.status, Some(&attempt)).await
        }
    }
}

/// The comment form.
#[derive(Deserialize)]
pub(super) struct CommentForm {
    #[serde(rename = "_csrf", default)]
    csrf: String,
    #[serde(default)]
    text: String,
}

/// `POST /console/cases/{id}/comments`.
pub(super) async fn comment(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(form): Form<CommentForm>,
) -> Response {
    let here = format!("/console/cases/{id}");
    let signed = match form_sender(&state, &headers, &here, &form.csrf).await {
        Ok(signed) => signed,
        Err(response) => return response,
    };
    match after_form(crate::actions::comment(&state.core, &signed.principal, &id, &form.text).await, |_| here.clone()) {
        Ok(response) => response,
        Err(e) => {
            let values = BTreeMap::from([("text".to_owned(), form.text)]);
            let attempt = Attempt { form: "comment".into(), refusal: Some(refusal(&e)), values };
            case_page(&state, &signed, &id, e.status, Some(&attempt)).await
        }
    }
}

async fn new_case_page(
    state: &AppState,
    signed: &Signed,
    values: &NewCase,
    status: StatusCode,
    r: Option<&Refusal>,
) -> Response {
    let clauses = match state.core.clauses().await {
        Ok(clauses) => clauses.into_iter().map(|c| (c.id, c.title)).collect::<Vec<_>>(),
        Err(e) => return failed(&ApiError::from(e)),
    };
    html(status, cases::new_case(&signed.viewer, values, &clauses, r))
}

/// `GET /console/cases/new`.
pub(super) async fn new_form(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    let signed = match staff(&state, &headers, "/console/cases/new", STAFF_ONLY).await {
        Ok(signed) => signed,
        Err(response) => return response,
    };
    if !signed.principal.is(&[Role::Analyst]) {
        return html(StatusCode::FORBIDDEN, problem("Not for your role", "Opening a case takes the analyst role."));
    }
    new_case_page(
        &state,
        &signed,
        &NewCase { source: "third_party_report".into(), ..NewCase::default() },
        StatusCode::OK,
        None,
    )
    .await
}

/// The new-case form.
#[derive(Deserialize)]
pub(super) struct NewCaseForm {
    #[serde(rename = "_csrf", default)]
    csrf: String,
    #[serde(default)]
    tenant: String,
    #[serde(default)]
    title: String,
    #[serde(default)]
    source: String,
    #[serde(default)]
    units: String,
    #[serde(default)]
    clauses: String,
}

/// `POST /console/cases`.
pub(super) async fn open(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Form(form): Form<NewCaseForm>,
) -> Response {
    let signed = match form_sender(&state, &headers, "/console/cases/new", &form.csrf).await {
        Ok(signed) => signed,
        Err(response) => return response,
    };
    let list = |text: &str, separator: char| -> Vec<String> {
        text.split(separator).map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect()
    };
    let body = json!({
        "tenant": form.tenant.trim(), "title": form.title.trim(), "source_type": form.source,
        "units": list(&form.units, '\n'), "clauses": list(&form.clauses, ','),
    });
    let done = crate::actions::open_case(&state.core, &signed.principal, &body).await;
    match after_form(done, |case| format!("/console/cases/{}", case.id)) {
        Ok(response) => response,
        Err(e) => {
            let values = NewCase {
                tenant: form.tenant,
                title: form.title,
                source: form.source,
                units: form.units,
                clauses: form.clauses,
            };
            new_case_page(&state, &signed, &values, e.status, Some(&refusal(&e))).await
        }
    }
}

/// The assignment form.
#[derive(Deserialize)]
pub(super) struct AssignForm {
    #[serde(rename = "_csrf", default)]
    csrf: String,
    #[serde(default)]
    user: String,
}

/// `POST /console/cases/{id}/assign`.
pub(super) async fn assign(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(form): Form<AssignForm>,
) -> Response {
    let here = format!("/console/cases/{id}");
    let signed = match form_sender(&state, &headers, &here, &form.csrf).await {
        Ok(signed) => signed,
        Err(response) => return response,
    };
    let done = crate::actions::assign_case(&state.core, &signed.principal, &id, form.user.trim()).await;
    match after_form(done, |_| here.clone()) {
        Ok(response) => response,
        Err(e) => {
            let attempt = Attempt { form: "assign".into(), refusal: Some(refusal(&e)), values: BTreeMap::new() };
            case_page(&state, &signed, &id, e.status, Some(&attempt)).await
        }
    }
}

/// The status form: the button pressed names the status.
#[derive(Deserialize)]
pub(super) struct StatusForm {
    #[serde(rename = "_csrf", default)]
    csrf: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    reason: String,
}

/// `POST /console/cases/{id}/status`: screened for content and parsed as
/// the API's body is.
pub(super) async fn set_status(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(form): Form<StatusForm>,
) -> Response {
    let here = format!("/console/cases/{id}");
    let signed = match form_sender(&state, &headers, &here, &form.csrf).await {
        Ok(signed) => signed,
        Err(response) => return response,
    };
    let reason = Some(form.reason.trim()).filter(|r| !r.is_empty());
    let body = json!({"status": form.status, "reason": reason});
    let done = async {
        crate::screen::screen(&body)?;
        let status: verdict_model::CaseStatus = verdict_wire::from_value(&body["status"])?;
        crate::actions::set_case_status(&state.core, &signed.principal, &id, status, reason).await
    }
    .await;
    match after_form(done, |_| here.clone()) {
        Ok(response) => response,
        Err(e) => {
            let values = BTreeMap::from([("reason".to_owned(), form.reason)]);
            let attempt = Attempt { form: "status".into(), refusal: Some(refusal(&e)), values };
            case_page(&state, &signed, &id, e.status, Some(&attempt)).await
        }
    }
}
