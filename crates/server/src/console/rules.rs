//! Detection rules in the console over HTTP: the list, a version (approve,
//! retire) and the draft form with its backtest; publishing, approving and
//! retiring go through the API's actions.

use std::sync::Arc;

use axum::Form;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Deserialize;
use verdict_console::cases::Refusal;
use verdict_console::rules::{self, HitRow, RuleActions, RuleDraft};
use verdict_model::{Role, RuleSpec, RuleState, RuleTarget, Timestamp};

use super::public::html;
use super::session::{Signed, form_sender, staff};
use super::{after_form, failed, refusal};
use crate::AppState;
use crate::error::ApiError;

const STAFF_ONLY: &str = "Detection rules are the provider's staff's; their texts are public in the transparency log.";

/// `GET /console/rules`.
pub(super) async fn list(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    let signed = match staff(&state, &headers, "/console/rules", STAFF_ONLY).await {
        Ok(signed) => signed,
        Err(response) => return response,
    };
    match state.core.rules().await {
        Ok(all) => html(StatusCode::OK, rules::list(&signed.viewer, &all)),
        Err(e) => failed(&ApiError::from(e)),
    }
}

async fn rule_page(
    state: &AppState,
    signed: &Signed,
    id: &str,
    version: u32,
    status: StatusCode,
    r: Option<&Refusal>,
) -> Response {
    let rule = match state.core.rule(id, version).await {
        Ok(rule) => rule,
        Err(e) => return failed(&ApiError::from(e)),
    };
    let hits = match state.core.rule_results(id, version, 200).await {
        Ok(hits) => hits,
        Err(e) => return failed(&ApiError::from(e)),
    };
    let hits: Vec<HitRow> = hits
        .into_iter()
        .map(|h| HitRow {
            tenant: h.tenant,
            target: h.target,
            at: Timestamp(h.hour).to_string(),
            figures: h
                .figures
                .as_object()
                .map(|o| o.iter().map(|(k, v)| (k.clone(), v.as_f64().unwrap_or(0.0))).collect())
                .unwrap_or_default(),
            case: h.case_id,
        })
        .collect();
    let p = &signed.principal;
    let may = RuleActions {
        approve: rule.state == RuleState::Shadow && p.is(&[Role::Approver]) && rule.author != p.name,
        retire: rule.state != RuleState::Retired && p.is(&[Role::Approver, Role::Admin]),
    };
    html(status, rules::rule(&signed.viewer, &rule, &hits, may, r))
}

/// `GET /console/rules/{id}/{version}`.
pub(super) async fn show(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path((id, version)): Path<(String, u32)>,
) -> Response {
    match staff(&state, &headers, &format!("/console/rules/{id}/{version}"), STAFF_ONLY).await {
        Ok(signed) => rule_page(&state, &signed, &id, version, StatusCode::OK, None).await,
        Err(response) => response,
    }
}

/// A form with only its CSRF token (and a reason, for retiring).
#[derive(Deserialize)]
pub(super) struct DecideForm {
    #[serde(rename = "_csrf", default)]
    csrf: String,
    #[serde(default)]
    reason: String,
}

/// What an approver or admin does to a version from its page.
enum Decision {
    Approve,
    Retire,
}

async fn decide(
    state: &AppState,
    headers: &HeaderMap,
    id: &str,
    version: u32,
    form: &DecideForm,
    decision: Decision,
) -> Response {
    let here = format!("/console/rules/{id}/{version}");
    let signed = match form_sender(state, headers, &here, &form.csrf).await {
        Ok(signed) => signed,
        Err(response) => return response,
    };
    let p = &signed.principal;
    let done = match decision {
        Decision::Approve => crate::actions::approve_rule(&state.core, p, id, version).await,
        Decision::Retire => crate::actions::retire_rule(&state.core, p, id, version, &form.reason).await,
    };
    match after_form(done, |_| here.clone()) {
        Ok(response) => response,
        Err(e) => rule_page(state, &signed, id, version, e.status, Some(&refusal(&e))).await,
    }
}

/// `POST /console/rules/{id}/{version}/approve`.
pub(super) async fn approve(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path((id, version)): Path<(String, u32)>,
    Form(form): Form<DecideForm>,
) -> Response {
    decide(&state, &headers, &id, version, &form, Decision::Approve).await
}

/// `POST /console/rules/{id}/{version}/retire`.
pub(super) async fn retire(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path((id, version)): Path<(String, u32)>,
    Form(form): Form<DecideForm>,
) -> Response {
    decide(&state, &headers, &id, version, &form, Decision::Retire).await
}

/// The draft form.
#[derive(Deserialize, Default)]
pub(super) struct DraftForm {
    #[serde(rename = "_csrf", default)]
    csrf: String,
    #[serde(default)]
    id: String,
    #[serde(default)]
    clause: String,
    #[serde(default)]
    title: String,
    #[serde(default)]
    text: String,
    #[serde(default)]
    target: String,
    #[serde(default)]
    days: String,
}

impl DraftForm {
    fn values(&self) -> RuleDraft {
        RuleDraft {
            id: self.id.clone(),
            clause: self.clause.clone(),
            title: self.title.clone(),
            text: self.text.clone(),
            target: self.target.clone(),
            days: self.days.clone(),
        }
    }

    fn target(&self) -> RuleTarget {
        if self.target == "subscription" { RuleTarget::Subscription } else { RuleTarget::Unit }
    }
}

async fn draft_page(
    state: &AppState,
    signed: &Signed,
    values: &RuleDraft,
    backtest: Option<&[verdict_control::BacktestHit]>,
    status: StatusCode,
    r: Option<&Refusal>,
) -> Response {
    if !signed.principal.is(&[Role::Analyst, Role::Admin]) {
        return html(
            StatusCode::FORBIDDEN,
            verdict_console::public::problem("Not for your role", "Drafting a detection rule takes the analyst role."),
        );
    }
    let clauses = match state.core.clauses().await {
        Ok(clauses) => clauses.into_iter().map(|c| (c.id, c.title)).collect::<Vec<_>>(),
        Err(e) => return failed(&ApiError::from(e)),
    };
    html(status, rules::draft(&signed.viewer, values, &clauses, backtest, r))
}

/// `GET /console/rules/new`.
pub(super) async fn new_form(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    match staff(&state, &headers, "/console/rules/new", STAFF_ONLY).await {
        Ok(signed) => {
            let values = RuleDraft { target: "unit".into(), days: "7".into(), ..RuleDraft::default() };
            draft_page(&state, &signed, &values, None, StatusCode::OK, None).await
        }
        Err(response) => response,
    }
}

/// `POST /console/rules/new`: the draft backtested over stored usage.
pub(super) async fn backtest(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Form(form): Form<DraftForm>,
) -> Response {
    let signed = match form_sender(&state, &headers, "/console/rules/new", &form.csrf).await {
        Ok(signed) => signed,
        Err(response) => return response,
    };
    let days = form.days.trim().parse::<i64>().ok().filter(|d| (1..=30).contains(d));
    let Some(days) = days else {
        let r = Refusal {
            code: "invalid-period".into(),
            message: format!("{:?} is not a number of days from 1 to 30", form.days.trim()),
        };
        return draft_page(&state, &signed, &form.values(), None, StatusCode::UNPROCESSABLE_ENTITY, Some(&r)).await;
    };
    let now = state.core.now();
    match state.core.backtest(&form.text, form.target(), now.plus(-days * 86_400), now).await {
        Ok(hits) => draft_page(&state, &signed, &form.values(), Some(&hits), StatusCode::OK, None).await,
        Err(e) => {
            let e = ApiError::from(e);
            draft_page(&state, &signed, &form.values(), None, e.status, Some(&refusal(&e))).await
        }
    }
}

/// `POST /console/rules`: publishes the draft in shadow.
pub(super) async fn publish(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Form(form): Form<DraftForm>,
) -> Response {
    let signed = match form_sender(&state, &headers, "/console/rules/new", &form.csrf).await {
        Ok(signed) => signed,
        Err(response) => return response,
    };
    let spec = RuleSpec {
        id: form.id.trim().to_owned(),
        clause: form.clause.trim().to_owned(),
        title: form.title.trim().to_owned(),
        text: form.text.clone(),
        target: form.target(),
    };
    let done = crate::actions::publish_rule(&state.core, &signed.principal, spec).await;
    match after_form(done, |rule| format!("/console/rules/{}/{}", rule.spec.id, rule.version)) {
        Ok(response) => response,
        Err(e) => draft_page(&state, &signed, &form.values(), None, e.status, Some(&refusal(&e))).await,
    }
}
