//! verdict's decision wire, shared by the control plane's server and the
//! `verdict pep` sidecar: the AuthZEN 1.0 evaluation endpoints, the nginx
//! `auth_request` and Envoy `ext_authz` adapters, the [`DecisionSource`]
//! they decide on, the JSON error every verdict HTTP surface answers, the
//! decision metrics, and the replication stream's [`StreamEvent`]s.
//!
//! **API boundary**: this crate knows HTTP and the wire JSON, never the
//! store or the control plane: its dependency tree has no sqlx, no
//! `verdict-store` and no `verdict-control` (checked by a test), so an
//! enforcement point links only the engine and this.

mod authzen;
pub mod body;
pub mod bus;
mod decide;
pub mod edge;
mod error;
pub mod events;
mod gateway;
mod metrics;
pub mod tls;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{Method, StatusCode, Uri};
use axum::routing::{any, get, post};

pub use authzen::{
    __path_configuration, __path_evaluation, __path_evaluations, EvaluationResponse, EvaluationsResponse, PdpMetadata,
    configuration, evaluation, evaluations,
};
pub use decide::{DecisionContext, DecisionSource, Decisions, NextPhase};
pub use error::{
    ApiError, ErrorBody, ErrorDetail, Json, RawBody, from_bytes_rejection, from_json_bytes, from_value, parse_body,
    parse_json, require_json,
};
pub use events::StreamEvent;
pub use gateway::{__path_envoy, __path_nginx, envoy, nginx};
pub use metrics::Metrics;

/// Largest body the decision endpoints (and most management endpoints)
/// accept.
pub const BODY_LIMIT: usize = 1024 * 1024;

/// Compares secrets in time independent of where the inputs differ.
pub fn same_secret(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The token of an `Authorization: Bearer …` header value, if it is one.
pub fn bearer(value: &axum::http::HeaderValue) -> Option<&str> {
    value.to_str().ok().and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer "))).map(str::trim)
}

/// The decision endpoints alone — AuthZEN, nginx and Envoy — over any
/// [`DecisionSource`], with no authentication and no fallback: the server
/// mounts them behind its token check, the `verdict pep` sidecar beside its
/// own health and metrics.
pub fn decision_routes<S: Clone + Send + Sync + 'static>(decisions: Arc<Decisions>) -> Router<S> {
    Router::new()
        .route("/access/v1/evaluation", post(authzen::evaluation))
        .route("/access/v1/evaluations", post(authzen::evaluations))
        .route("/authz/nginx", get(gateway::nginx))
        .route("/authz/envoy/", any(gateway::envoy))
        .route("/authz/envoy/{*path}", any(gateway::envoy))
        .with_state(decisions)
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
}

/// AuthZEN discovery (`/.well-known/authzen-configuration`), open to all.
pub fn discovery_routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new().route("/.well-known/authzen-configuration", get(authzen::configuration))
}

async fn no_route(method: Method, uri: Uri) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "no-route",
        format!("there is no endpoint {method} {}; see /openapi.json for the API", uri.path()),
    )
}

async fn wrong_method(method: Method, uri: Uri) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method-not-allowed",
        format!("{} does not accept {method}; see /openapi.json for the methods it takes", uri.path()),
    )
}

/// The JSON errors every verdict HTTP surface answers for unknown paths and
/// methods.
pub fn with_fallbacks<S: Clone + Send + Sync + 'static>(router: Router<S>) -> Router<S> {
    router.fallback(no_route).method_not_allowed_fallback(wrong_method)
}
