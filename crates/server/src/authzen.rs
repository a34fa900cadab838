//! The AuthZEN Authorization API 1.0: single and batched evaluations and the
//! PDP metadata document.
//!
//! Mapping: `resource.type = "service"`, `resource.id` = the service,
//! `action.name` = the service's action, and the subscription from
//! `resource.properties.subscription`, else `subject.properties.subscription`.
//! `context.time` (RFC 3339) decides at that instant. Unknown fields are
//! ignored, as the spec requires.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use verdict_model::Timestamp;

use crate::AppState;
use crate::decide::{DecisionContext, decide};
use crate::error::{ApiError, ErrorDetail, Json};

/// A subject or resource.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
pub struct Entity {
    /// Entity type; for resources it must be `service`.
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// Entity id; for resources, the service name, e.g. `storage.blob`.
    pub id: Option<String>,
    /// Free-form properties; `subscription` is read from here.
    #[serde(default)]
    pub properties: Option<Map<String, Value>>,
}

/// The action.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
pub struct Action {
    /// The service's own action name, e.g. `put-blob`, or a class name.
    pub name: Option<String>,
}

/// `POST /access/v1/evaluation` body.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
pub struct EvaluationRequest {
    /// Who asks (the caller); may carry `properties.subscription`.
    pub subject: Option<Entity>,
    /// The service, with `properties.subscription`.
    pub resource: Option<Entity>,
    /// The action.
    pub action: Option<Action>,
    /// Optional; `time` evaluates at that instant.
    pub context: Option<Map<String, Value>>,
}

/// Options of a batch.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
pub struct EvaluationOptions {
    /// `execute_all` (default), `deny_on_first_deny` or `permit_on_first_permit`.
    pub evaluations_semantic: Option<String>,
}

/// `POST /access/v1/evaluations` body: defaults plus per-item overrides.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
pub struct EvaluationsRequest {
    /// Default subject.
    pub subject: Option<Entity>,
    /// Default resource.
    pub resource: Option<Entity>,
    /// Default action.
    pub action: Option<Action>,
    /// Default context.
    pub context: Option<Map<String, Value>>,
    /// The evaluations; each field given overrides the default.
    pub evaluations: Option<Vec<EvaluationRequest>>,
    /// Batch options.
    pub options: Option<EvaluationOptions>,
}

/// One answer.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct EvaluationResponse {
    /// `true` allows, `false` denies.
    pub decision: bool,
    /// Why.
    pub context: EvaluationContext,
}

/// Either a decision's context or, inside a batch, an item's error.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum EvaluationContext {
    /// The decision's explanation.
    Decision(DecisionContext),
    /// Why the item could not be evaluated (it counts as a deny).
    Error {
        /// The error.
        error: ErrorDetail,
    },
}

/// `POST /access/v1/evaluations` answer.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct EvaluationsResponse {
    /// Answers in request order; short-circuiting semantics stop early.
    pub evaluations: Vec<EvaluationResponse>,
}

fn missing(field: &str) -> ApiError {
    ApiError::bad_request("missing-field", format!("the request needs {field}"))
}

fn subscription_of<'a>(resource: &'a Entity, subject: &'a Entity) -> Option<&'a str> {
    let from = |e: &'a Entity| e.properties.as_ref()?.get("subscription")?.as_str();
    from(resource).or_else(|| from(subject))
}

fn time_of(context: Option<&Map<String, Value>>) -> Result<Timestamp, ApiError> {
    match context.and_then(|c| c.get("time")) {
        None | Some(Value::Null) => Ok(Timestamp::now()),
        Some(Value::String(text)) => {
            Timestamp::parse(text).map_err(|e| ApiError::bad_request("invalid-time", format!("context.time: {e}")))
        }
        Some(other) => Err(ApiError::bad_request(
            "invalid-time",
            format!("context.time must be an RFC 3339 string such as \"2026-11-23T09:00:00Z\", not {other}"),
        )),
    }
}

fn evaluate(state: &AppState, req: &EvaluationRequest) -> Result<EvaluationResponse, ApiError> {
    let subject = req.subject.as_ref().ok_or_else(|| missing("a 'subject' object (the caller)"))?;
    if subject.kind.is_none() || subject.id.is_none() {
        return Err(missing("'subject.type' and 'subject.id'"));
    }
    let resource = req.resource.as_ref().ok_or_else(|| missing("a 'resource' object of type \"service\""))?;
    match resource.kind.as_deref() {
        Some("service") => {}
        Some(other) => {
            return Err(ApiError::bad_request(
                "unsupported-resource-type",
                format!("resource.type is {other:?}; verdict decides on resources of type \"service\""),
            ));
        }
        None => return Err(missing("'resource.type' (\"service\")")),
    }
    let service =
        resource.id.as_deref().ok_or_else(|| missing("'resource.id' (the service, e.g. \"storage.blob\")"))?;
    let action = req
        .action
        .as_ref()
        .and_then(|a| a.name.as_deref())
        .ok_or_else(|| missing("'action.name' (the service's action, e.g. \"put-blob\")"))?;
    let subscription = subscription_of(resource, subject).ok_or_else(|| {
        missing(
            "the subscription as a string in 'resource.properties.subscription' or 'subject.properties.subscription'",
        )
    })?;
    let at = time_of(req.context.as_ref())?;
    let (decision, context) = decide(state, subscription, service, action, at);
    Ok(EvaluationResponse { decision, context: EvaluationContext::Decision(context) })
}

/// Answers one evaluation.
#[utoipa::path(
    post, path = "/access/v1/evaluation", tag = "authzen",
    request_body = EvaluationRequest,
    responses(
        (status = 200, description = "The decision; a deny is `decision: false`", body = EvaluationResponse),
        (status = 400, description = "A required field is missing or malformed", body = crate::error::ErrorBody),
        (status = 401, description = "No or unknown token", body = crate::error::ErrorBody),
    ),
    security(("bearer" = []))
)]
pub(crate) async fn evaluation(
    State(state): State<Arc<AppState>>,
    Json(req): Json<EvaluationRequest>,
) -> Result<axum::Json<EvaluationResponse>, ApiError> {
    evaluate(&state, &req).map(axum::Json).inspect_err(|_| state.metrics.invalid())
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Semantic {
    ExecuteAll,
    DenyOnFirstDeny,
    PermitOnFirstPermit,
}

/// Answers a batch of evaluations under one of the three semantics.
#[utoipa::path(
    post, path = "/access/v1/evaluations", tag = "authzen",
    request_body = EvaluationsRequest,
    responses(
        (status = 200, description = "The decisions in order (or one decision if `evaluations` is absent)", body = EvaluationsResponse),
        (status = 400, description = "Malformed request or unknown semantic", body = crate::error::ErrorBody),
        (status = 401, description = "No or unknown token", body = crate::error::ErrorBody),
    ),
    security(("bearer" = []))
)]
pub(crate) async fn evaluations(
    State(state): State<Arc<AppState>>,
    Json(req): Json<EvaluationsRequest>,
) -> Result<axum::response::Response, ApiError> {
    use axum::response::IntoResponse;
    let semantic = match req.options.as_ref().and_then(|o| o.evaluations_semantic.as_deref()) {
        None | Some("execute_all") => Semantic::ExecuteAll,
        Some("deny_on_first_deny") => Semantic::DenyOnFirstDeny,
        Some("permit_on_first_permit") => Semantic::PermitOnFirstPermit,
        Some(other) => {
            return Err(ApiError::bad_request(
                "invalid-semantic",
                format!(
                    "options.evaluations_semantic {other:?} is not one of execute_all, deny_on_first_deny, permit_on_first_permit"
                ),
            ));
        }
    };
    let items = req.evaluations.as_deref().unwrap_or(&[]);
    if items.is_empty() {
        // Per the spec, a batch without items is a single evaluation.
        let single = EvaluationRequest {
            subject: req.subject,
            resource: req.resource,
            action: req.action,
            context: req.context,
        };
        return evaluate(&state, &single)
            .map(|r| axum::Json(r).into_response())
            .inspect_err(|_| state.metrics.invalid());
    }
    if items.len() > 10_000 {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too-many-evaluations",
            format!("the batch has {} evaluations; send at most 10000 per request", items.len()),
        ));
    }
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        let merged = EvaluationRequest {
            subject: item.subject.clone().or_else(|| req.subject.clone()),
            resource: item.resource.clone().or_else(|| req.resource.clone()),
            action: item.action.clone().or_else(|| req.action.clone()),
            context: item.context.clone().or_else(|| req.context.clone()),
        };
        let response = evaluate(&state, &merged).unwrap_or_else(|e| {
            state.metrics.invalid();
            EvaluationResponse {
                decision: false,
                context: EvaluationContext::Error {
                    error: ErrorDetail { code: e.code.to_owned(), message: e.message },
                },
            }
        });
        let decision = response.decision;
        out.push(response);
        match semantic {
            Semantic::DenyOnFirstDeny if !decision => break,
            Semantic::PermitOnFirstPermit if decision => break,
            _ => {}
        }
    }
    Ok(axum::Json(EvaluationsResponse { evaluations: out }).into_response())
}

/// The PDP metadata document.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PdpMetadata {
    /// This PDP's base URL.
    pub policy_decision_point: String,
    /// Single evaluation endpoint.
    pub access_evaluation_endpoint: String,
    /// Batch endpoint.
    pub access_evaluations_endpoint: String,
}

/// AuthZEN discovery.
#[utoipa::path(get, path = "/.well-known/authzen-configuration", tag = "authzen",
    responses((status = 200, description = "PDP metadata", body = PdpMetadata)))]
pub(crate) async fn configuration(headers: HeaderMap) -> axum::Json<PdpMetadata> {
    let host = headers.get(axum::http::header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("127.0.0.1:8750");
    let scheme = headers
        .get("x-forwarded-proto")
        .and_then(|h| h.to_str().ok())
        .filter(|p| *p == "https" || *p == "http")
        .unwrap_or("http");
    let base = format!("{scheme}://{host}");
    axum::Json(PdpMetadata {
        access_evaluation_endpoint: format!("{base}/access/v1/evaluation"),
        access_evaluations_endpoint: format!("{base}/access/v1/evaluations"),
        policy_decision_point: base,
    })
}
