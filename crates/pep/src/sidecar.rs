//! The `verdict pep` sidecar's HTTP surface: the decision endpoints of the
//! wire crate over a [`Replica`], behind an optional caller token, plus the
//! sidecar's own health and metrics. The command line (flags, messages,
//! binding) lives in the `verdict` binary.

use std::fmt::Write as _;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use verdict_wire::{ApiError, DecisionSource, Decisions, Metrics};

use crate::Replica;

/// The replica as the decision endpoints see it: its staleness policy
/// admits or refuses each family.
struct ReplicaSource(Arc<Replica>);

impl DecisionSource for ReplicaSource {
    fn snapshot(&self) -> Arc<verdict_engine::Snapshot> {
        self.0.snapshot()
    }

    fn admit(&self, service: &str) -> Result<(), String> {
        self.0.admit(service)
    }
}

struct Sidecar {
    replica: Arc<Replica>,
    metrics: Arc<Metrics>,
    server: String,
    caller_token: Option<String>,
}

/// The sidecar's application: decisions on `replica` (which follows
/// `server`), guarded by `caller_token` when one is given.
pub fn router(replica: Arc<Replica>, server: &str, caller_token: Option<String>) -> Router {
    let metrics = Arc::new(Metrics::default());
    let decisions = Arc::new(Decisions { source: Arc::new(ReplicaSource(replica.clone())), metrics: metrics.clone() });
    let sidecar = Arc::new(Sidecar { replica, metrics, server: server.to_owned(), caller_token });
    let guarded = verdict_wire::decision_routes::<Arc<Sidecar>>(decisions)
        .route_layer(axum::middleware::from_fn_with_state(sidecar.clone(), require_caller));
    let app = Router::new()
        .merge(guarded)
        .merge(verdict_wire::discovery_routes())
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics_text));
    let app = verdict_wire::edge::bounded(app, verdict_wire::edge::EdgeLimits::default(), verdict_wire::BODY_LIMIT);
    verdict_wire::with_fallbacks(app).with_state(sidecar)
}

async fn require_caller(State(sidecar): State<Arc<Sidecar>>, request: Request, next: Next) -> Response {
    let Some(expected) = &sidecar.caller_token else { return next.run(request).await };
    let given = request.headers().get(header::AUTHORIZATION).and_then(verdict_wire::bearer);
    match given {
        Some(token) if verdict_wire::same_secret(token.as_bytes(), expected.as_bytes()) => next.run(request).await,
        Some(_) => ApiError::new(
            StatusCode::UNAUTHORIZED,
            "invalid-token",
            "the bearer token is not this sidecar's caller token",
        )
        .into_response(),
        None => ApiError::new(
            StatusCode::UNAUTHORIZED,
            "missing-token",
            "this sidecar requires 'Authorization: Bearer <token>' with the token of its --caller-token-file",
        )
        .into_response(),
    }
}

/// Version, age and connection: 200 while connected, 503 while not (the
/// sidecar still decides, under its staleness policy).
async fn healthz(State(sidecar): State<Arc<Sidecar>>) -> Response {
    let status = sidecar.replica.status();
    let body = serde_json::json!({
        "status": if status.connected { "ok" } else { "disconnected" },
        "server": sidecar.server,
        "snapshot_version": status.version,
        "snapshot_age_ms": status.age.as_millis() as u64,
        "version_at_ms": status.version_at_ms,
        "connected": status.connected,
        "bootstraps": status.bootstraps,
        "connects": status.connects,
        "transport": status.transport,
        "applied": status.applied,
        "from_cache": status.from_cache,
    });
    let code = if status.connected { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (code, axum::Json(body)).into_response()
}

async fn metrics_text(State(sidecar): State<Arc<Sidecar>>) -> impl IntoResponse {
    let status = sidecar.replica.status();
    let mut out = sidecar.metrics.render(&sidecar.replica.snapshot(), verdict_model::Timestamp::now());
    let mut gauge = |name: &str, kind: &str, help: &str, value: f64| {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} {kind}");
        let _ = writeln!(out, "{name} {value}");
    };
    gauge(
        "verdict_pep_snapshot_age_seconds",
        "gauge",
        "Time since the control plane last confirmed the snapshot current.",
        status.age.as_secs_f64(),
    );
    gauge(
        "verdict_pep_connected",
        "gauge",
        "Whether the change stream is open.",
        f64::from(u8::from(status.connected)),
    );
    gauge("verdict_pep_bootstraps_total", "counter", "Whole snapshots fetched.", status.bootstraps as f64);
    gauge("verdict_pep_applied_total", "counter", "Change sets applied.", status.applied as f64);
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], out)
}
