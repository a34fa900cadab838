//! The AuthZEN Authorization API 1.0: single and batched evaluations and the
//! PDP metadata document.
//!
//! Mapping: `resource.type = "service"`, `resource.id` = the service,
//! `action.name` = the service's action, and the subscription from
//! `resource.properties.subscription`, else `subject.properties.subscription`.
//! `context.time` (RFC 3339) decides at that instant. Unknown fields are
//! ignored, as the spec requires.

use std::borrow::Cow;
use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use verdict_engine::Snapshot;
use verdict_model::Timestamp;

use crate::decide::{ContextRef, DecisionContext, Decisions, decide_ref};
use crate::error::{ApiError, ErrorDetail, RawBody, parse_json};

/// A string borrowed from the request body where it has no escapes.
#[derive(Deserialize)]
struct Text<'a>(#[serde(borrow)] Cow<'a, str>);

/// `Option<Cow<str>>` that borrows: serde borrows a `Cow` field only when it
/// is not wrapped, and an allocation per field was most of a batch item's
/// `malloc` time.
fn borrowed_text<'de: 'a, 'a, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Cow<'a, str>>, D::Error> {
    Ok(Option::<Text<'a>>::deserialize(d)?.map(|t| t.0))
}

/// Entity properties verdict reads; others are ignored.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
pub struct Properties<'a> {
    /// The subscription the request is scoped to.
    #[serde(borrow, default, deserialize_with = "borrowed_text")]
    #[schema(value_type = Option<String>)]
    pub subscription: Option<Cow<'a, str>>,
}

/// A subject or resource.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
pub struct Entity<'a> {
    /// Entity type; for resources it must be `service`.
    #[serde(rename = "type", borrow, default, deserialize_with = "borrowed_text")]
    #[schema(value_type = Option<String>)]
    pub kind: Option<Cow<'a, str>>,
    /// Entity id; for resources, the service name, e.g. `storage.blob`.
    #[serde(borrow, default, deserialize_with = "borrowed_text")]
    #[schema(value_type = Option<String>)]
    pub id: Option<Cow<'a, str>>,
    /// Properties; `subscription` is read from here, the rest ignored.
    #[serde(borrow, default)]
    pub properties: Option<Properties<'a>>,
}

/// The action.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
pub struct Action<'a> {
    /// The service's own action name, e.g. `put-blob`, or a class name.
    #[serde(borrow, default, deserialize_with = "borrowed_text")]
    #[schema(value_type = Option<String>)]
    pub name: Option<Cow<'a, str>>,
}

/// The request context; `time` (RFC 3339) decides at that instant.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
pub struct RequestContext<'a> {
    /// When to decide for; now if absent.
    #[serde(borrow, default)]
    #[schema(value_type = Option<String>)]
    pub time: Option<TimeField<'a>>,
}

/// `context.time` as sent: read without allocating when it is a string,
/// and described, for the error, when it is not.
#[derive(Debug, Clone)]
pub enum TimeField<'a> {
    /// A string, to be parsed as RFC 3339.
    Text(Cow<'a, str>),
    /// `null`: decide now.
    Null,
    /// Anything else, as the error will quote it.
    Other(String),
}

impl<'de: 'a, 'a> Deserialize<'de> for TimeField<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = TimeField<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an RFC 3339 time")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(TimeField::Text(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
                Ok(TimeField::Text(Cow::Owned(v.to_owned())))
            }
            fn visit_unit<E>(self) -> Result<Self::Value, E> {
                Ok(TimeField::Null)
            }
            fn visit_none<E>(self) -> Result<Self::Value, E> {
                Ok(TimeField::Null)
            }
            fn visit_bool<E>(self, v: bool) -> Result<Self::Value, E> {
                Ok(TimeField::Other(v.to_string()))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E> {
                Ok(TimeField::Other(v.to_string()))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
                Ok(TimeField::Other(v.to_string()))
            }
            fn visit_f64<E>(self, v: f64) -> Result<Self::Value, E> {
                Ok(TimeField::Other(v.to_string()))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
                let v = Value::deserialize(serde::de::value::SeqAccessDeserializer::new(seq))?;
                Ok(TimeField::Other(v.to_string()))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                let v = Value::deserialize(serde::de::value::MapAccessDeserializer::new(map))?;
                Ok(TimeField::Other(v.to_string()))
            }
        }
        deserializer.deserialize_any(Visit)
    }
}

/// `POST /access/v1/evaluation` body.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
pub struct EvaluationRequest<'a> {
    /// Who asks (the caller); may carry `properties.subscription`.
    #[serde(borrow, default)]
    pub subject: Option<Entity<'a>>,
    /// The service, with `properties.subscription`.
    #[serde(borrow, default)]
    pub resource: Option<Entity<'a>>,
    /// The action.
    #[serde(borrow, default)]
    pub action: Option<Action<'a>>,
    /// Optional; `time` evaluates at that instant.
    #[serde(borrow, default)]
    pub context: Option<RequestContext<'a>>,
}

/// Options of a batch.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
pub struct EvaluationOptions<'a> {
    /// `execute_all` (default), `deny_on_first_deny` or `permit_on_first_permit`.
    #[serde(borrow, default, deserialize_with = "borrowed_text")]
    #[schema(value_type = Option<String>)]
    pub evaluations_semantic: Option<Cow<'a, str>>,
}

/// A batch's items, each of which must be a JSON object: serde would read
/// an array as a struct's fields in order, which the document does not
/// allow and a client did not mean.
fn objects<'de: 'a, 'a, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Vec<EvaluationRequest<'a>>>, D::Error> {
    struct Object<'a>(EvaluationRequest<'a>);

    impl<'de: 'a, 'a> Deserialize<'de> for Object<'a> {
        fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct Visit<'a>(std::marker::PhantomData<&'a ()>);
            impl<'de: 'a, 'a> serde::de::Visitor<'de> for Visit<'a> {
                type Value = Object<'a>;
                fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                    f.write_str("an evaluation object")
                }
                fn visit_map<M: serde::de::MapAccess<'de>>(self, map: M) -> Result<Object<'a>, M::Error> {
                    EvaluationRequest::deserialize(serde::de::value::MapAccessDeserializer::new(map)).map(Object)
                }
            }
            d.deserialize_map(Visit(std::marker::PhantomData))
        }
    }

    Option::<Vec<Object<'a>>>::deserialize(d).map(|items| items.map(|v| v.into_iter().map(|o| o.0).collect()))
}

/// `POST /access/v1/evaluations` body: defaults plus per-item overrides.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
pub struct EvaluationsRequest<'a> {
    /// Default subject.
    #[serde(borrow, default)]
    pub subject: Option<Entity<'a>>,
    /// Default resource.
    #[serde(borrow, default)]
    pub resource: Option<Entity<'a>>,
    /// Default action.
    #[serde(borrow, default)]
    pub action: Option<Action<'a>>,
    /// Default context.
    #[serde(borrow, default)]
    pub context: Option<RequestContext<'a>>,
    /// The evaluations; each field given overrides the default.
    #[serde(borrow, default, deserialize_with = "objects")]
    pub evaluations: Option<Vec<EvaluationRequest<'a>>>,
    /// Batch options.
    #[serde(borrow, default)]
    pub options: Option<EvaluationOptions<'a>>,
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
/// Decisions are written through a borrowed twin (`Answer`) that serialises
/// the same; this variant is the wire shape for the OpenAPI document.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum EvaluationContext {
    /// The decision's explanation.
    #[allow(dead_code)] // written through `Answer`; kept for the schema
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

fn subscription_of<'r>(resource: &'r Entity<'_>, subject: &'r Entity<'_>) -> Option<&'r str> {
    let from = |e: &'r Entity<'_>| e.properties.as_ref()?.subscription.as_deref();
    from(resource).or_else(|| from(subject))
}

fn time_of(context: Option<&RequestContext<'_>>) -> Result<Timestamp, ApiError> {
    match context.and_then(|c| c.time.as_ref()) {
        None | Some(TimeField::Null) => Ok(Timestamp::now()),
        Some(TimeField::Text(text)) => {
            Timestamp::parse(text).map_err(|e| ApiError::bad_request("invalid-time", format!("context.time: {e}")))
        }
        Some(TimeField::Other(other)) => Err(ApiError::bad_request(
            "invalid-time",
            format!("context.time must be an RFC 3339 string such as \"2026-11-23T09:00:00Z\", not {other}"),
        )),
    }
}

/// The parts of one evaluation, each from the item or the batch's default.
struct Parts<'r, 'a> {
    subject: Option<&'r Entity<'a>>,
    resource: Option<&'r Entity<'a>>,
    action: Option<&'r Action<'a>>,
    context: Option<&'r RequestContext<'a>>,
}

fn evaluate<'s>(
    state: &Decisions,
    snapshot: &'s Snapshot,
    req: Parts<'_, '_>,
    reason: &'s mut String,
) -> Result<(bool, ContextRef<'s>), ApiError> {
    let subject = req.subject.ok_or_else(|| missing("a 'subject' object (the caller)"))?;
    if subject.kind.is_none() || subject.id.is_none() {
        return Err(missing("'subject.type' and 'subject.id'"));
    }
    let resource = req.resource.ok_or_else(|| missing("a 'resource' object of type \"service\""))?;
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
        .and_then(|a| a.name.as_deref())
        .ok_or_else(|| missing("'action.name' (the service's action, e.g. \"put-blob\")"))?;
    let subscription = subscription_of(resource, subject).ok_or_else(|| {
        missing(
            "the subscription as a string in 'resource.properties.subscription' or 'subject.properties.subscription'",
        )
    })?;
    let at = time_of(req.context)?;
    Ok(decide_ref(state, snapshot, subscription, service, action, at, reason))
}

/// One answer as written: borrowed, serialised as [`EvaluationResponse`].
#[derive(Serialize)]
struct Answer<'a> {
    decision: bool,
    context: ContextRef<'a>,
}

/// One evaluation answered as a whole response.
fn answer_one(state: &Decisions, snapshot: &Snapshot, parts: Parts<'_, '_>) -> Result<Response, ApiError> {
    let mut reason = String::with_capacity(256);
    let (decision, context) = evaluate(state, snapshot, parts, &mut reason)?;
    let mut out = Vec::with_capacity(640);
    write(&mut out, &Answer { decision, context })?;
    Ok(json(out))
}

/// A JSON response from bytes already written.
fn json(body: Vec<u8>) -> Response {
    ([(axum::http::header::CONTENT_TYPE, "application/json")], body).into_response()
}

fn write(out: &mut Vec<u8>, value: &impl Serialize) -> Result<(), ApiError> {
    serde_json::to_writer(out, value).map_err(|e| ApiError::internal(&e))
}

/// Answers one evaluation.
#[utoipa::path(
    post, path = "/access/v1/evaluation", tag = "authzen",
    request_body = EvaluationRequest,
    responses(
        (status = 200, description = "The decision; a deny is `decision: false`", body = EvaluationResponse),
        (status = 400, description = "A required field is missing or malformed", body = crate::ErrorBody),
        (status = 401, description = "No or unknown token", body = crate::ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn evaluation(State(state): State<Arc<Decisions>>, headers: HeaderMap, RawBody(body): RawBody) -> Response {
    let answer = parse_json::<EvaluationRequest>(&headers, &body).and_then(|req| {
        let parts = Parts {
            subject: req.subject.as_ref(),
            resource: req.resource.as_ref(),
            action: req.action.as_ref(),
            context: req.context.as_ref(),
        };
        answer_one(&state, &state.source.snapshot(), parts)
    });
    respond(&state, answer)
}

/// The response, or the error counted as an invalid decision request.
fn respond(state: &Decisions, answer: Result<Response, ApiError>) -> Response {
    answer.unwrap_or_else(|e| {
        state.metrics.invalid();
        e.into_response()
    })
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
        (status = 400, description = "Malformed request or unknown semantic", body = crate::ErrorBody),
        (status = 401, description = "No or unknown token", body = crate::ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn evaluations(State(state): State<Arc<Decisions>>, headers: HeaderMap, RawBody(body): RawBody) -> Response {
    respond(&state, batch(&state, &headers, &body))
}

fn batch(state: &Decisions, headers: &HeaderMap, body: &[u8]) -> Result<Response, ApiError> {
    let req: EvaluationsRequest = parse_json(headers, body)?;
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
    let snapshot = state.source.snapshot();
    let defaults = Parts {
        subject: req.subject.as_ref(),
        resource: req.resource.as_ref(),
        action: req.action.as_ref(),
        context: req.context.as_ref(),
    };
    let items = req.evaluations.as_deref().unwrap_or(&[]);
    if items.is_empty() {
        // Per the spec, a batch without items is a single evaluation.
        return answer_one(state, &snapshot, defaults);
    }
    if items.len() > 10_000 {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too-many-evaluations",
            format!("the batch has {} evaluations; send at most 10000 per request", items.len()),
        ));
    }
    // Answers are written as they are decided, into one buffer: no
    // per-item allocation beyond what parsing needed.
    let mut reason = String::with_capacity(256);
    let mut out = Vec::with_capacity(32 + items.len() * 400);
    out.extend_from_slice(b"{\"evaluations\":[");
    for (i, item) in items.iter().enumerate() {
        let merged = Parts {
            subject: item.subject.as_ref().or(defaults.subject),
            resource: item.resource.as_ref().or(defaults.resource),
            action: item.action.as_ref().or(defaults.action),
            context: item.context.as_ref().or(defaults.context),
        };
        if i > 0 {
            out.push(b',');
        }
        let decision = match evaluate(state, &snapshot, merged, &mut reason) {
            Ok((decision, context)) => {
                write(&mut out, &Answer { decision, context })?;
                decision
            }
            Err(e) => {
                state.metrics.invalid();
                let error = ErrorDetail { code: e.code.to_owned(), message: e.message };
                write(&mut out, &EvaluationResponse { decision: false, context: EvaluationContext::Error { error } })?;
                false
            }
        };
        match semantic {
            Semantic::DenyOnFirstDeny if !decision => break,
            Semantic::PermitOnFirstPermit if decision => break,
            _ => {}
        }
    }
    out.extend_from_slice(b"]}");
    Ok(json(out))
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
pub async fn configuration(headers: HeaderMap) -> axum::Json<PdpMetadata> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_borrow_from_the_body_unless_escaped() {
        let body = r#"{"subject":{"type":"gateway","id":"gw"},"resource":{"type":"service","id":"storage.blob","properties":{"subscription":"s\u0031"}},"action":{"name":"put-blob"}}"#;
        let req: EvaluationRequest = serde_json::from_str(body).unwrap();
        let resource = req.resource.unwrap();
        assert!(matches!(resource.id, Some(Cow::Borrowed("storage.blob"))));
        assert!(matches!(req.action.unwrap().name, Some(Cow::Borrowed("put-blob"))));
        assert!(matches!(req.subject.unwrap().kind, Some(Cow::Borrowed("gateway"))));
        let sub = resource.properties.unwrap().subscription.unwrap();
        assert!(matches!(sub, Cow::Owned(_)) && sub == "s1", "an escaped string is decoded: {sub:?}");
        let none: EvaluationRequest = serde_json::from_str(r#"{"resource":{"id":null}}"#).unwrap();
        assert!(none.resource.unwrap().id.is_none());
    }
}
