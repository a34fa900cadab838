//! verdict's HTTP face: the AuthZEN 1.0 PDP, the nginx and Envoy gateway
//! adapters, and the management API under `/v1`, described at
//! `/openapi.json`.
//!
//! **API boundary**: this is the only crate that knows HTTP and the wire
//! JSON of AuthZEN and errors. It asks [`verdict_control::Core`] for every
//! change and the engine snapshot for every decision; it holds no state of
//! its own beyond metrics.

mod actions;
mod appeals;
mod auth;
pub mod bus;
mod console;
mod detection;
mod error;
mod manage;
mod notices;
mod openapi;
pub mod outbox;
mod process;
pub mod replicas;
mod replication;
mod screen;
mod tlog;
mod usage;
pub mod usage_bus;
mod users;

use std::sync::Arc;

use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::middleware::from_fn_with_state;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use tower_http::request_id::PropagateRequestIdLayer;
use utoipa::OpenApi;
use verdict_control::Core;

pub use auth::Tokens;
pub use verdict_wire::edge::{self, EdgeLimits};
pub use verdict_wire::tls;
pub use verdict_wire::{ApiError, BODY_LIMIT, DecisionSource, Decisions, Metrics};

use verdict_wire::edge::bounded;

/// Largest body `/v1/import` accepts.
pub const IMPORT_LIMIT: usize = 256 * 1024 * 1024;

/// The largest usage batch accepted, in bytes (100,000 events of up to
/// about 600 bytes).
pub const USAGE_LIMIT: usize = 64 * 1024 * 1024;

/// What every handler shares.
pub struct AppState {
    /// The control plane.
    pub core: Arc<Core>,
    /// Accepted tokens.
    pub tokens: Tokens,
    /// Counters.
    pub metrics: Arc<Metrics>,
    /// The decision endpoints' state: the control plane's own engine.
    pub decisions: Arc<Decisions>,
    /// The request-level bounds of the edge (body silence, whole request);
    /// the connection-level ones are given to [`verdict_wire::edge::serve`].
    pub edge: EdgeLimits,
    /// The snapshot document last encoded for replicas.
    documents: replication::DocumentCache,
    /// The public transparency report last computed, by log size.
    public_report: console::ReportCache,
    /// How console sessions are kept.
    pub console: console::ConsoleSettings,
    /// The replicas connected to the change stream.
    pub replicas: Arc<replicas::Replicas>,
    /// Set when the server shuts down: change streams end, so a graceful
    /// shutdown does not wait for replicas that never hang up.
    closing: tokio::sync::watch::Sender<bool>,
}

impl AppState {
    /// The state of a server over `core` accepting `tokens`.
    pub fn new(core: Arc<Core>, tokens: Tokens) -> AppState {
        let metrics = Arc::new(Metrics::default());
        let decisions = Arc::new(Decisions { source: Arc::new(ControlPlane(core.clone())), metrics: metrics.clone() });
        AppState {
            core,
            tokens,
            metrics,
            decisions,
            edge: EdgeLimits::default(),
            documents: replication::DocumentCache::default(),
            public_report: console::ReportCache::default(),
            console: console::ConsoleSettings::default(),
            replicas: Arc::default(),
            closing: tokio::sync::watch::channel(false).0,
        }
    }

    /// Ends every open change stream (replicas reconnect elsewhere or
    /// later); call it when shutting down.
    pub fn close_streams(&self) {
        self.closing.send_replace(true);
    }
}

/// The control plane's own engine as the decision endpoints' source: it is
/// the truth, so it is never stale.
struct ControlPlane(Arc<Core>);

impl DecisionSource for ControlPlane {
    fn snapshot(&self) -> Arc<verdict_engine::Snapshot> {
        self.0.snapshot()
    }

    fn admit(&self, _: &str) -> Result<(), String> {
        Ok(())
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "verdict", description = "Acceptable-use enforcement: AuthZEN decisions, gateway adapters and the management API. Every error is JSON {\"error\": {\"code\", \"message\"}}."),
    paths(
        verdict_wire::evaluation, verdict_wire::evaluations, verdict_wire::configuration,
        verdict_wire::nginx, verdict_wire::envoy, replication::snapshot, replication::watch,
        manage::list_tenants, manage::create_tenant, manage::get_tenant, manage::list_units, manage::create_unit, manage::delete_unit,
        manage::create_subscription, manage::list_subscriptions, manage::get_subscription, manage::move_subscription, manage::delete_subscription,
        manage::catalog, manage::create_order, manage::list_orders, manage::get_order, manage::lift_order, manage::import,
        users::add, users::list, users::revoke,
        process::clauses, process::publish_clause, process::open_case, process::list_cases, process::get_case,
        appeals::file, appeals::list, appeals::get, appeals::decide,
        notices::list, notices::get, notices::receipt, notices::dsa, notices::deliveries,
        process::report, process::guards, process::put_guard, process::preview, process::preview_order, process::diff, process::diff_order,
        process::add_evidence, process::comment, process::assign, process::set_status, process::approve, process::reject,
        tlog::checkpoint, tlog::key, tlog::tile, tlog::inclusion, tlog::consistency, tlog::receipt, tlog::private,
        usage::ingest, usage::series,
        detection::list, detection::publish, detection::get, detection::approve, detection::retire, detection::backtest,
        detection::evaluate,
        healthz, readyz, metrics_text,
    ),
    modifiers(&BearerAuth),
    tags(
        (name = "authzen", description = "AuthZEN Authorization API 1.0"),
        (name = "gateways", description = "nginx auth_request and Envoy ext_authz"),
        (name = "replication", description = "The snapshot and its change stream, for enforcement points (pep tokens)"),
        (name = "inventory", description = "Tenants, units, subscriptions, import"),
        (name = "orders", description = "Enforcement orders"),
        (name = "catalog", description = "Services and action classes"),
        (name = "appeals", description = "Tenants' appeals and reviewers' decisions"),
        (name = "notices", description = "Statements of reasons to tenants, receipts, DSA export, delivery"),
        (name = "cases", description = "Clauses, cases, evidence and timelines"),
        (name = "users", description = "Token holders and their roles"),
        (name = "log", description = "The transparency log: C2SP tlog-tiles, proofs, tlog-proof receipts, private records"),
        (name = "detection", description = "Detection rules in CEL over usage figures: published in the log, shadowed, activated by two approvers; they open cases, people decide"),
        (name = "usage", description = "Usage metadata for detection: numbers about resources, never about people or content"),
        (name = "operations", description = "Health and metrics"),
    )
)]
struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The OpenAPI document.
pub fn openapi() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

/// Liveness: the snapshot version and inventory counts.
#[utoipa::path(get, path = "/healthz", tag = "operations", responses((status = 200, description = "Serving")))]
async fn healthz(State(state): State<Arc<AppState>>) -> axum::Json<serde_json::Value> {
    let snapshot = state.core.snapshot();
    let (tenants, units, subscriptions, orders) = snapshot.counts();
    axum::Json(serde_json::json!({
        "status": "ok",
        "snapshot_version": snapshot.version(),
        "tenants": tenants, "units": units, "subscriptions": subscriptions, "orders": orders,
    }))
}

/// Readiness: whether this server decides with everything the store holds
/// (other servers over a shared store may have committed more). Behind, it
/// catches up once before answering; still behind or unable to read the
/// store, it answers 503 so a load balancer sends traffic elsewhere.
#[utoipa::path(get, path = "/readyz", tag = "operations", responses(
    (status = 200, description = "Caught up with the store"),
    (status = 503, description = "Behind the store, or the store is unreachable")))]
async fn readyz(State(state): State<Arc<AppState>>) -> axum::response::Response {
    let core = &state.core;
    let mut versions = core.versions().await;
    if versions.as_ref().is_ok_and(|(store, mine)| mine < store) {
        let _ = tokio::time::timeout(std::time::Duration::from_secs(2), core.follow()).await;
        versions = core.versions().await;
    }
    let unavailable = axum::http::StatusCode::SERVICE_UNAVAILABLE;
    match versions {
        Ok((store, mine)) if mine >= store => {
            axum::Json(serde_json::json!({"status": "ready", "store_version": store, "snapshot_version": mine}))
                .into_response()
        }
        Ok((store, mine)) => (
            unavailable,
            axum::Json(serde_json::json!({"status": "behind", "store_version": store, "snapshot_version": mine})),
        )
            .into_response(),
        Err(e) => {
            (unavailable, axum::Json(serde_json::json!({"status": "store-unreachable", "message": e.to_string()})))
                .into_response()
        }
    }
}

/// Prometheus metrics.
#[utoipa::path(get, path = "/metrics", tag = "operations", responses((status = 200, description = "Prometheus text format", content_type = "text/plain")))]
async fn metrics_text(State(state): State<Arc<AppState>>) -> impl IntoResponse {
    let mut body = state.metrics.render(&state.core.snapshot(), verdict_model::Timestamp::now());
    body.push_str(&replication_metrics(&state.core).await);
    ([(axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4")], body)
}

/// How far this server is behind the store it shares with others.
async fn replication_metrics(core: &Core) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let Ok((store, mine)) = core.versions().await else {
        return out;
    };
    let behind = core.behind_for().as_secs_f64();
    let _ = writeln!(out, "# HELP verdict_store_version The store's newest version (every server's changes).");
    let _ = writeln!(out, "# TYPE verdict_store_version gauge");
    let _ = writeln!(out, "verdict_store_version {store}");
    let _ = writeln!(
        out,
        "# HELP verdict_store_lag_versions Versions the store holds that this server does not decide with yet."
    );
    let _ = writeln!(out, "# TYPE verdict_store_lag_versions gauge");
    let _ = writeln!(out, "verdict_store_lag_versions {}", store.saturating_sub(mine));
    let _ = writeln!(
        out,
        "# HELP verdict_store_lag_seconds How long this server has been behind the store (0 when caught up)."
    );
    let _ = writeln!(out, "# TYPE verdict_store_lag_seconds gauge");
    let _ = writeln!(out, "verdict_store_lag_seconds {}", if store > mine { behind } else { 0.0 });
    out
}

async fn openapi_json() -> axum::Json<serde_json::Value> {
    axum::Json(openapi_document())
}

/// The OpenAPI document as served at `/openapi.json`: [`openapi`], with
/// every error each operation can answer listed (see `openapi.rs`).
pub fn openapi_document() -> serde_json::Value {
    // Derived, serialised and finished once; it never changes at run time.
    static DOCUMENT: std::sync::OnceLock<serde_json::Value> = std::sync::OnceLock::new();
    DOCUMENT.get_or_init(|| openapi::document(&openapi())).clone()
}

/// The whole application.
pub fn router(state: Arc<AppState>) -> Router {
    router_with(state, Router::new())
}

/// The application with `extra` routes mounted behind the same decision-token
/// check and layers as the decision endpoints (the HTTP benchmark mounts an
/// empty handler this way, to compare like with like).
pub fn router_with(state: Arc<AppState>, extra: Router<Arc<AppState>>) -> Router {
    let limits = state.edge;
    let decisions = verdict_wire::decision_routes::<Arc<AppState>>(state.decisions.clone())
        .merge(extra)
        .route("/v1/snapshot", get(replication::snapshot))
        .route("/v1/watch", get(replication::watch))
        .route_layer(from_fn_with_state(state.clone(), auth::require_decider));
    let decisions = bounded(decisions, limits, BODY_LIMIT);
    // The import alone may take minutes: its body is bounded by size and
    // silence, not by a deadline.
    let import = Router::new()
        .route("/v1/import", post(manage::import))
        .layer(DefaultBodyLimit::max(IMPORT_LIMIT))
        .layer(axum::middleware::from_fn(|r, n| edge::declared_size(IMPORT_LIMIT, r, n)))
        .layer(tower_http::timeout::RequestBodyTimeoutLayer::new(limits.body_idle));
    // A batch of usage may be large: bounded by size and silence, like the import.
    let usage = Router::new()
        .route("/v1/usage", post(usage::ingest))
        .layer(DefaultBodyLimit::max(USAGE_LIMIT))
        .layer(axum::middleware::from_fn(|r, n| edge::declared_size(USAGE_LIMIT, r, n)))
        .layer(tower_http::timeout::RequestBodyTimeoutLayer::new(limits.body_idle));
    let management = Router::new()
        .route("/v1/tenants", get(manage::list_tenants).post(manage::create_tenant))
        .route("/v1/tenants/{id}", get(manage::get_tenant))
        .route("/v1/tenants/{id}/units", get(manage::list_units))
        .route("/v1/tenants/{id}/units/{*path}", axum::routing::delete(manage::delete_unit))
        .route("/v1/units", post(manage::create_unit))
        .route("/v1/subscriptions", get(manage::list_subscriptions).post(manage::create_subscription))
        .route("/v1/subscriptions/{id}", get(manage::get_subscription).delete(manage::delete_subscription))
        .route("/v1/subscriptions/{id}/move", post(manage::move_subscription))
        .route("/v1/catalog", get(manage::catalog))
        .route("/v1/orders", get(manage::list_orders).post(manage::create_order))
        .route("/v1/orders/{id}", get(manage::get_order))
        .route("/v1/orders/{id}/lift", post(manage::lift_order))
        .route("/v1/log/entries/{index}/private", get(tlog::private))
        .route("/v1/users", get(users::list).post(users::add))
        .route("/v1/clauses", get(process::clauses).post(process::publish_clause))
        .route("/v1/cases", get(process::list_cases).post(process::open_case))
        .route("/v1/cases/{id}", get(process::get_case))
        .route("/v1/cases/{id}/evidence", post(process::add_evidence))
        .route("/v1/cases/{id}/comments", post(process::comment))
        .route("/v1/cases/{id}/assign", post(process::assign))
        .route("/v1/cases/{id}/status", post(process::set_status))
        .route("/v1/orders/{id}/approve", post(process::approve))
        .route("/v1/orders/preview", post(process::preview))
        .route("/v1/guards", get(process::guards).post(process::put_guard))
        .route("/v1/orders/diff", post(process::diff))
        .route("/v1/orders/{id}/preview", get(process::preview_order))
        .route("/v1/orders/{id}/diff", get(process::diff_order))
        .route("/v1/orders/{id}/appeals", post(appeals::file))
        .route("/v1/appeals", get(appeals::list))
        .route("/v1/appeals/{id}", get(appeals::get))
        .route("/v1/appeals/{id}/decision", post(appeals::decide))
        .route("/v1/reports/transparency", get(process::report))
        .route("/v1/notices", get(notices::list))
        .route("/v1/notices/{id}", get(notices::get))
        .route("/v1/notices/{id}/receipt", get(notices::receipt))
        .route("/v1/notices/{id}/dsa", get(notices::dsa))
        .route("/v1/notices/{id}/deliveries", get(notices::deliveries))
        .route("/v1/orders/{id}/reject", post(process::reject))
        .route("/v1/users/{name}/revoke", post(users::revoke))
        .route("/v1/usage/{tenant}", get(usage::series))
        .route("/v1/rules", get(detection::list).post(detection::publish))
        .route("/v1/rules/backtest", post(detection::backtest))
        .route("/v1/rules/evaluate", post(detection::evaluate))
        .route("/v1/rules/{id}/versions/{version}", get(detection::get))
        .route("/v1/rules/{id}/versions/{version}/approve", post(detection::approve))
        .route("/v1/rules/{id}/versions/{version}/retire", post(detection::retire))
        .layer(DefaultBodyLimit::max(BODY_LIMIT));
    let management = bounded(management, limits, BODY_LIMIT)
        .merge(import)
        .merge(usage)
        .route_layer(from_fn_with_state(state.clone(), auth::require_user));
    let open = Router::new()
        .route("/openapi.json", get(openapi_json))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics_text))
        .route("/log/checkpoint", get(tlog::checkpoint))
        .route("/log/key", get(tlog::key))
        .route("/log/tile/{*path}", get(tlog::tile))
        .route("/log/proof/inclusion", get(tlog::inclusion))
        .route("/log/proof/consistency", get(tlog::consistency))
        .route("/log/receipt/{index}", get(tlog::receipt));
    let open = bounded(open, limits, BODY_LIMIT);
    let pages = bounded(console::routes(), limits, BODY_LIMIT);
    let router = Router::new()
        .merge(decisions.layer(DefaultBodyLimit::max(BODY_LIMIT)))
        .merge(verdict_wire::discovery_routes())
        .merge(management)
        .merge(open)
        .merge(pages);
    verdict_wire::with_fallbacks(router).layer(PropagateRequestIdLayer::x_request_id()).with_state(state)
}
