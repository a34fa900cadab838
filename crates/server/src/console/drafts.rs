//! Drafting orders over HTTP: a case's analyst drafts and proposes an
//! order, an appeal's reviewer drafts the amended version; both see the
//! blast radius redrawn as the draft changes (`draft.js` posts the form to
//! `…/preview` and puts the panel it gets in place; without script, a
//! button redraws the whole page). Proposing and amending go through the
//! API's own actions.

use std::sync::Arc;

use axum::Form;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use verdict_console::cases::Refusal;
use verdict_console::drafts::{self, Choices, DraftFor, DraftOutcome, DraftProblem, DraftValues};
use verdict_console::public::problem;
use verdict_model::{AppealOutcome, Catalog, OrderSpec, Phase, PhaseMode, Role, Scope, ServicePattern, UnitPath};

use super::public::html;
use super::session::{Signed, form_sender, staff};
use super::{after_form, failed};
use crate::AppState;
use crate::error::ApiError;

const STAFF_ONLY: &str = "Orders are drafted by the provider's staff; your own orders are on your home page.";

/// Units offered as boxes to tick: the case's, and the tenant's when it
/// has no more than this many (beyond that, paths are typed).
const UNITS_OFFERED: usize = 100;

/// The longest timeline a form may describe, in days.
const MAX_DAYS: f64 = 3650.0;

/// A draft's problem with one field.
fn field_problem(field: &str, code: &str, message: String) -> DraftProblem {
    DraftProblem { field: Some(field.to_owned()), refusal: Refusal { code: code.to_owned(), message } }
}

/// The field an API refusal of a draft concerns, from its code.
fn field_of(code: &str) -> Option<&'static str> {
    match code {
        "invalid-unit-path" | "unknown-unit" | "unknown-subscription" | "scope-spans-tenants" => Some("scope"),
        "invalid-pattern" | "pattern-matches-nothing" | "unknown-service" => Some("service"),
        "unknown-clause" | "clause-not-in-case" => Some("clause"),
        "emergency-reason-required" => Some("emergency_reason"),
        _ => None,
    }
}

fn api_problem(e: &ApiError) -> DraftProblem {
    DraftProblem {
        field: field_of(e.code).map(str::to_owned),
        refusal: Refusal { code: e.code.to_owned(), message: e.message.clone() },
    }
}

/// Days from now as an instant; blank is none.
fn days(
    values_field: &str,
    text: &str,
    now: verdict_model::Timestamp,
) -> Result<Option<verdict_model::Timestamp>, DraftProblem> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    match text.parse::<f64>() {
        Ok(d) if d.is_finite() && (0.0..=MAX_DAYS).contains(&d) => Ok(Some(now.plus((d * 86_400.0).round() as i64))),
        _ => Err(field_problem(
            values_field,
            "invalid-days",
            format!("{text:?} is not a number of days from 0 to {MAX_DAYS}; write e.g. 2 or 0.5, or leave it blank"),
        )),
    }
}

/// The order body a draft describes, or the field that stops it.
fn spec_of(
    values: &DraftValues,
    tenant: &str,
    case_id: Option<String>,
    now: verdict_model::Timestamp,
) -> Result<OrderSpec, DraftProblem> {
    let mut units = Vec::new();
    for path in values.units.iter().map(String::as_str).chain(values.other_units.lines()) {
        let path = path.trim();
        if path.is_empty() {
            continue;
        }
        units.push(UnitPath::parse(path).map_err(|e| field_problem("scope", e.code(), e.to_string()))?);
    }
    units.sort();
    units.dedup();
    let subscriptions: Vec<String> = values
        .subscriptions
        .split(|c: char| c.is_whitespace() || c == ',')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    let patterns = |field: &str, texts: &[String]| -> Result<Vec<ServicePattern>, DraftProblem> {
        texts
            .iter()
            .map(|t| ServicePattern::parse(t).map_err(|e| field_problem(field, e.code(), e.to_string())))
            .collect()
    };
    let services = patterns("service", &values.services)?;
    let exempt = patterns("exempt", &values.exempt)?;
    if services.is_empty() {
        return Err(field_problem(
            "service",
            "empty-field",
            "tick at least one service to restrict; the preview shows what each would cut".into(),
        ));
    }
    let mut phases = Vec::new();
    for (field, text, mode) in [
        ("notice_days", &values.notice_days, PhaseMode::Notice),
        ("export_only_days", &values.export_only_days, PhaseMode::ExportOnly),
        ("disabled_days", &values.disabled_days, PhaseMode::Disabled),
    ] {
        if let Some(start) = days(field, text, now)? {
            phases.push(Phase { mode, start });
        }
    }
    if phases.is_empty() {
        return Err(field_problem(
            "notice_days",
            "empty-field",
            "give the timeline at least one phase: the days from approval each phase starts".into(),
        ));
    }
    // The model wants strictly increasing starts; say so beside the field.
    phases.sort_by_key(|p| p.start);
    if let Some(pair) = phases.windows(2).find(|w| w[0].start == w[1].start) {
        return Err(field_problem(
            "export_only_days",
            "invalid-order",
            format!(
                "phases {} and {} start on the same day; give each phase its own start",
                pair[0].mode.as_str(),
                pair[1].mode.as_str()
            ),
        ));
    }
    Ok(OrderSpec {
        tenant: tenant.to_owned(),
        clause: values.clause.trim().to_owned(),
        title: values.title.trim().to_owned(),
        scope: Scope { units, subscriptions },
        services,
        exempt,
        phases,
        end: days("end_days", &values.end_days, now)?,
        case_id,
        emergency_reason: Some(values.emergency_reason.trim().to_owned()).filter(|r| !r.is_empty()),
        amends: None,
    })
}

/// What the preview panel shows for a draft: its blast radius and the
/// guards it breaks, or why it cannot be drawn.
async fn outcome_of(state: &AppState, spec: Result<OrderSpec, DraftProblem>) -> DraftOutcome {
    let spec = match spec {
        Ok(spec) => spec,
        Err(problem) => return DraftOutcome::Problem(problem),
    };
    let preview = match state.core.preview(&spec, None).await {
        Ok(preview) => preview,
        Err(e) => return DraftOutcome::Problem(api_problem(&ApiError::from(e))),
    };
    match state.core.guards_broken(&spec, &preview).await {
        Ok(broken) => DraftOutcome::Preview {
            needs_emergency_reason: spec.skips_notice() && spec.emergency_reason.is_none(),
            preview,
            broken,
        },
        Err(e) => DraftOutcome::Problem(api_problem(&ApiError::from(e))),
    }
}

/// A draft's subject: the case (and its tenant), or the appeal with the
/// order it amends.
enum Subject {
    Case(verdict_model::Case),
    Amendment { appeal: Box<verdict_model::Appeal>, order: Box<verdict_model::Order> },
}

impl Subject {
    fn target(&self) -> DraftFor<'_> {
        match self {
            Subject::Case(case) => DraftFor::Case { id: &case.id, tenant: &case.spec.tenant },
            Subject::Amendment { appeal, order } => {
                DraftFor::Amendment { appeal: &appeal.id, order: &order.id, tenant: &order.spec.tenant }
            }
        }
    }

    fn tenant(&self) -> &str {
        match self {
            Subject::Case(case) => &case.spec.tenant,
            Subject::Amendment { order, .. } => &order.spec.tenant,
        }
    }

    fn case_id(&self) -> Option<String> {
        match self {
            Subject::Case(case) => Some(case.id.clone()),
            Subject::Amendment { order, .. } => order.spec.case_id.clone(),
        }
    }

    fn first_values(&self, now: verdict_model::Timestamp) -> DraftValues {
        match self {
            Subject::Case(case) => DraftValues::for_case(case),
            Subject::Amendment { order, .. } => DraftValues::of_spec(&order.spec, now),
        }
    }
}

/// Which draft an address names.
#[derive(Clone, Copy)]
enum Kind {
    Case,
    Amendment,
}

/// The signed-in author of a draft of this kind, and its subject; or the
/// page that says why not.
async fn author(
    state: &AppState,
    headers: &HeaderMap,
    kind: Kind,
    id: &str,
    csrf: Option<&str>,
) -> Result<(Signed, Subject), Response> {
    let here = match kind {
        Kind::Case => format!("/console/cases/{id}/draft"),
        Kind::Amendment => format!("/console/appeals/{id}/amend"),
    };
    let signed = match csrf {
        Some(csrf) => form_sender(state, headers, &here, csrf).await?,
        None => staff(state, headers, &here, STAFF_ONLY).await?,
    };
    let (roles, sentence): (&[Role], _) = match kind {
        Kind::Case => (&[Role::Analyst, Role::Approver], "Drafting an order takes the analyst (or approver) role."),
        Kind::Amendment => (&[Role::Reviewer], "Amending an order on appeal takes the reviewer role."),
    };
    if !signed.principal.is(roles) {
        return Err(html(StatusCode::FORBIDDEN, problem("Not for your role", sentence)));
    }
    let subject = match kind {
        Kind::Case => Subject::Case(state.core.case(id).await.map_err(|e| failed(&ApiError::from(e)))?.0),
        Kind::Amendment => {
            let appeal = state.core.appeal(id).await.map_err(|e| failed(&ApiError::from(e)))?;
            let order =
                state.core.order(&appeal.order).await.map_err(|e| failed(&ApiError::from(e)))?.ok_or_else(|| {
                    failed(&ApiError::new(
                        StatusCode::NOT_FOUND,
                        "unknown-order",
                        format!("order {:?} does not exist", appeal.order),
                    ))
                })?;
            Subject::Amendment { appeal: Box::new(appeal), order: Box::new(order) }
        }
    };
    Ok((signed, subject))
}

async fn page(
    state: &AppState,
    signed: &Signed,
    subject: &Subject,
    values: &DraftValues,
    outcome: Option<&DraftOutcome>,
    status: StatusCode,
) -> Response {
    let clauses = match state.core.clauses().await {
        Ok(clauses) => clauses.into_iter().map(|c| (c.id, c.title)).collect::<Vec<_>>(),
        Err(e) => return failed(&ApiError::from(e)),
    };
    let mut units: Vec<String> = match subject {
        Subject::Case(case) => case.spec.units.iter().map(|u| u.as_str().to_owned()).collect(),
        Subject::Amendment { order, .. } => order.spec.scope.units.iter().map(|u| u.as_str().to_owned()).collect(),
    };
    match state.core.units(subject.tenant()).await {
        Ok(all) if all.len() <= UNITS_OFFERED => units.extend(all.into_iter().map(|u| u.as_str().to_owned())),
        Ok(_) => {}
        Err(e) => return failed(&ApiError::from(e)),
    }
    units.sort();
    units.dedup();
    let catalog = Catalog::builtin();
    let choices = Choices { clauses: &clauses, units: &units, catalog: &catalog };
    html(status, drafts::draft(&signed.viewer, &subject.target(), values, choices, outcome))
}

fn kind_of(path: &str) -> Kind {
    if path.starts_with("/console/appeals/") { Kind::Amendment } else { Kind::Case }
}

fn csrf_of(pairs: &[(String, String)]) -> &str {
    pairs.iter().find(|(k, _)| k == "_csrf").map_or("", |(_, v)| v.as_str())
}

/// `GET /console/cases/{id}/draft` and `GET /console/appeals/{id}/amend`:
/// the first draft (an amendment starts from the order as it is, its
/// preview drawn).
pub(super) async fn start(
    State(state): State<Arc<AppState>>,
    uri: axum::http::Uri,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let kind = kind_of(uri.path());
    let (signed, subject) = match author(&state, &headers, kind, &id, None).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    let now = state.core.now();
    let values = subject.first_values(now);
    let outcome = match kind {
        Kind::Amendment => Some(outcome_of(&state, spec_of(&values, subject.tenant(), subject.case_id(), now)).await),
        Kind::Case => None,
    };
    page(&state, &signed, &subject, &values, outcome.as_ref(), StatusCode::OK).await
}

/// A posted draft: its author (CSRF checked), subject, values and what its
/// preview panel shows.
async fn posted(
    state: &AppState,
    path: &str,
    headers: &HeaderMap,
    id: &str,
    pairs: &[(String, String)],
) -> Result<(Signed, Subject, DraftValues, DraftOutcome), Response> {
    let (signed, subject) = author(state, headers, kind_of(path), id, Some(csrf_of(pairs))).await?;
    let values = DraftValues::from_pairs(pairs);
    let outcome = outcome_of(state, spec_of(&values, subject.tenant(), subject.case_id(), state.core.now())).await;
    Ok((signed, subject, values, outcome))
}

/// `POST …/draft` and `POST …/amend`: the whole page redrawn with the
/// draft's preview (the form without script).
pub(super) async fn redraw(
    State(state): State<Arc<AppState>>,
    uri: axum::http::Uri,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Response {
    match posted(&state, uri.path(), &headers, &id, &pairs).await {
        Ok((signed, subject, values, outcome)) => {
            page(&state, &signed, &subject, &values, Some(&outcome), StatusCode::OK).await
        }
        Err(response) => response,
    }
}

/// `POST …/draft/preview` and `POST …/amend/preview`: the preview panel
/// alone, for `draft.js`.
pub(super) async fn panel(
    State(state): State<Arc<AppState>>,
    uri: axum::http::Uri,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Response {
    match posted(&state, uri.path(), &headers, &id, &pairs).await {
        Ok((_, _, _, outcome)) => html(StatusCode::OK, drafts::panel(Some(&outcome))),
        Err(response) => response,
    }
}

/// A draft posted to take effect: its author (CSRF checked), subject,
/// values and order body; or the page with the field that stops it.
async fn submitted(
    state: &AppState,
    headers: &HeaderMap,
    kind: Kind,
    id: &str,
    pairs: &[(String, String)],
) -> Result<(Signed, Subject, DraftValues, OrderSpec), Response> {
    let (signed, subject) = author(state, headers, kind, id, Some(csrf_of(pairs))).await?;
    let values = DraftValues::from_pairs(pairs);
    match spec_of(&values, subject.tenant(), subject.case_id(), state.core.now()) {
        Ok(spec) => Ok((signed, subject, values, spec)),
        Err(problem) => {
            let outcome = DraftOutcome::Problem(problem);
            Err(page(state, &signed, &subject, &values, Some(&outcome), StatusCode::UNPROCESSABLE_ENTITY).await)
        }
    }
}

/// `POST /console/cases/{id}/orders`: proposes the draft; its approvers
/// find it on their queue.
pub(super) async fn propose(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Response {
    let (signed, subject, values, spec) = match submitted(&state, &headers, Kind::Case, &id, &pairs).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    let done = crate::actions::propose_order(&state.core, &signed.principal, spec).await;
    match after_form(done, |order| format!("/console/orders/{}", order.id)) {
        Ok(response) => response,
        Err(e) => {
            page(&state, &signed, &subject, &values, Some(&DraftOutcome::Problem(api_problem(&e))), e.status).await
        }
    }
}

/// `POST /console/appeals/{id}/amendment`: decides the appeal by amending
/// the order to the draft, with the reviewer's reasons.
pub(super) async fn amend(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Response {
    let (signed, subject, values, spec) = match submitted(&state, &headers, Kind::Amendment, &id, &pairs).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    let reasons = pairs.iter().find(|(k, _)| k == "reasons").map_or("", |(_, v)| v.as_str()).to_owned();
    let done =
        crate::actions::decide_appeal(&state.core, &signed.principal, &id, AppealOutcome::Amend, &reasons, Some(spec))
            .await;
    match after_form(done, |_| format!("/console/appeals/{id}")) {
        Ok(response) => response,
        Err(e) => {
            let mut problem = api_problem(&e);
            if e.code == "empty-field" && e.message.contains("reasons") {
                problem.field = Some("reasons".into());
            }
            page(&state, &signed, &subject, &values, Some(&DraftOutcome::Problem(problem)), e.status).await
        }
    }
}
