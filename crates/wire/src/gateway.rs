//! Gateway adapters: nginx `auth_request` and Envoy `ext_authz` (HTTP mode).
//!
//! Both read the request's coordinates from headers the gateway sets —
//! `X-Verdict-Subscription`, `X-Verdict-Service`, `X-Verdict-Action` — and
//! fail closed: a missing header is a 403 with reason `missing-header`
//! (nginx turns any status but 2xx, 401 and 403 into a 500).

use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use verdict_model::Timestamp;

use crate::decide::{DecisionContext, Decisions, decide};

const SUBSCRIPTION: &str = "x-verdict-subscription";
const SERVICE: &str = "x-verdict-service";
const ACTION: &str = "x-verdict-action";

enum Verdict {
    Missing(&'static str),
    Decided(bool, DecisionContext),
}

fn decide_from_headers(state: &Decisions, headers: &HeaderMap) -> Verdict {
    let get = |name: &'static str| headers.get(name).and_then(|v| v.to_str().ok()).filter(|v| !v.is_empty());
    let Some(subscription) = get(SUBSCRIPTION) else { return Verdict::Missing(SUBSCRIPTION) };
    let Some(service) = get(SERVICE) else { return Verdict::Missing(SERVICE) };
    let Some(action) = get(ACTION) else { return Verdict::Missing(ACTION) };
    let (allowed, context) = decide(state, subscription, service, action, Timestamp::now());
    Verdict::Decided(allowed, context)
}

fn header(value: &str) -> HeaderValue {
    HeaderValue::from_str(value).unwrap_or_else(|_| HeaderValue::from_static("unprintable"))
}

fn verdict_headers(context: &DecisionContext) -> Vec<(HeaderName, HeaderValue)> {
    let mut out = vec![
        (HeaderName::from_static("x-verdict-code"), header(context.code)),
        (HeaderName::from_static("x-verdict-reason"), header(&context.reason)),
    ];
    if let Some(order) = &context.order {
        out.push((HeaderName::from_static("x-verdict-order"), header(order)));
    }
    if let Some(phase) = context.phase {
        out.push((HeaderName::from_static("x-verdict-phase"), header(phase.as_str())));
    }
    if let Some(index) = context.log_index {
        out.push((HeaderName::from_static("x-verdict-log-index"), HeaderValue::from(index)));
    }
    out
}

fn missing_header(state: &Decisions, name: &'static str) -> Response {
    state.metrics.invalid();
    let reason = format!("missing-header: the gateway must set {name}");
    (
        StatusCode::FORBIDDEN,
        [
            (HeaderName::from_static("x-verdict-code"), HeaderValue::from_static("missing-header")),
            (HeaderName::from_static("x-verdict-reason"), header(&reason)),
        ],
        reason,
    )
        .into_response()
}

/// nginx `auth_request`: 204 allows, 403 denies.
#[utoipa::path(get, path = "/authz/nginx", tag = "gateways",
    params(
        ("X-Verdict-Subscription" = String, Header, description = "Subscription id"),
        ("X-Verdict-Service" = String, Header, description = "Service, e.g. storage.blob"),
        ("X-Verdict-Action" = String, Header, description = "The service's action"),
    ),
    responses(
        (status = 204, description = "Allowed"),
        (status = 403, description = "Denied (headers X-Verdict-Order, X-Verdict-Reason) or a header is missing (reason missing-header)"),
    ),
    security(("bearer" = [])))]
pub async fn nginx(State(state): State<Arc<Decisions>>, headers: HeaderMap) -> Response {
    match decide_from_headers(&state, &headers) {
        Verdict::Missing(name) => missing_header(&state, name),
        Verdict::Decided(allowed, context) => {
            let status = if allowed { StatusCode::NO_CONTENT } else { StatusCode::FORBIDDEN };
            let mut response = status.into_response();
            response.headers_mut().extend(verdict_headers(&context));
            response
        }
    }
}

/// Envoy `ext_authz` HTTP service: Envoy appends the original path; any
/// method. 200 allows; a deny is 403 with the reason in body and headers.
#[utoipa::path(post, path = "/authz/envoy/{path}", tag = "gateways",
    params(("path" = String, Path, description = "The original request path, appended by Envoy")),
    responses(
        (status = 200, description = "Allowed"),
        (status = 403, description = "Denied; the body is the reason sentence"),
    ),
    security(("bearer" = [])))]
pub async fn envoy(State(state): State<Arc<Decisions>>, headers: HeaderMap) -> Response {
    match decide_from_headers(&state, &headers) {
        Verdict::Missing(name) => missing_header(&state, name),
        Verdict::Decided(allowed, context) => {
            let status = if allowed { StatusCode::OK } else { StatusCode::FORBIDDEN };
            let body = if allowed { String::new() } else { context.reason.clone() };
            let mut response = (status, body).into_response();
            response.headers_mut().extend(verdict_headers(&context));
            response
        }
    }
}
