//! `verdict pep`: a sidecar that replicates the control plane's snapshot
//! and serves decisions locally — nginx `auth_request`, Envoy `ext_authz`
//! and AuthZEN — plus its own health and metrics.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use clap::Args;
use verdict_pep::{HttpSource, Replica, ReplicaOptions, StalenessPolicy};
use verdict_server::{ApiError, DecisionSource, Decisions, Metrics};

/// Arguments of `verdict pep`.
#[derive(Args)]
pub struct PepArgs {
    /// The control plane to follow.
    #[arg(long, env = "VERDICT_SERVER", default_value = "http://127.0.0.1:8750", value_name = "URL")]
    server: String,
    /// File holding a pep token of that server (its DATA/pep.token).
    #[arg(long, env = "VERDICT_PEP_TOKEN_FILE", value_name = "FILE")]
    token_file: PathBuf,
    /// Address to serve decisions on.
    #[arg(long, env = "VERDICT_PEP_LISTEN", default_value = "127.0.0.1:8751", value_name = "ADDR")]
    listen: String,
    /// Staleness rule, repeatable: FAMILY=keep or FAMILY=fail-closed:DURATION
    /// (`*` for every other family). Default: keep deciding on the last
    /// snapshot. Example: --stale 'ai=fail-closed:5m' --stale '*=keep'.
    #[arg(long = "stale", value_name = "RULE")]
    stale: Vec<String>,
    /// How often the server confirms the stream is alive.
    #[arg(long, default_value = "1s", value_name = "DURATION", value_parser = duration)]
    heartbeat: Duration,
    /// How long to keep trying to get the first snapshot before giving up.
    #[arg(long, default_value = "30s", value_name = "DURATION", value_parser = duration)]
    bootstrap_timeout: Duration,
    /// Keep the last snapshot in this file (rewritten at most every 30 s
    /// while it changes), and start from it when the control plane cannot
    /// be reached, so a restart during an outage still enforces.
    #[arg(long, env = "VERDICT_PEP_CACHE", value_name = "FILE")]
    cache_file: Option<PathBuf>,
    /// Require callers to send this file's token as a bearer token (by
    /// default the sidecar trusts whoever reaches its listen address, which
    /// should be loopback).
    #[arg(long, value_name = "FILE")]
    caller_token_file: Option<PathBuf>,
}

fn duration(text: &str) -> Result<Duration, String> {
    verdict_pep::parse_duration(text)
}

/// The replica as the decision endpoints see it.
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

/// Runs the sidecar until SIGINT or SIGTERM.
pub async fn run(args: PepArgs) -> anyhow::Result<()> {
    let token = std::fs::read_to_string(&args.token_file)
        .with_context(|| format!("cannot read the pep token from {}", args.token_file.display()))?;
    let caller_token = match &args.caller_token_file {
        Some(path) => {
            let token = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read the caller token from {}", path.display()))?
                .trim()
                .to_owned();
            anyhow::ensure!(!token.is_empty(), "the caller token file {} is empty", path.display());
            Some(token)
        }
        None => None,
    };
    let (low, high) = (Duration::from_millis(50), Duration::from_secs(60));
    anyhow::ensure!(
        (low..=high).contains(&args.heartbeat),
        "--heartbeat {:?} is out of range; give 50ms to 60s",
        args.heartbeat
    );
    let mut policy = StalenessPolicy::default();
    for rule in &args.stale {
        policy.add(rule).map_err(anyhow::Error::msg)?;
    }
    let source = HttpSource::new(&args.server, &token, args.heartbeat)?;
    let options = ReplicaOptions {
        policy,
        heartbeat: args.heartbeat,
        bootstrap_timeout: args.bootstrap_timeout,
        ..Default::default()
    };
    eprintln!("fetching the snapshot from {}", args.server);
    let replica = Replica::start(source, options).await.context("cannot replicate the control plane")?;
    let (t, u, s, o) = replica.snapshot().counts();
    let status = replica.status();
    let origin =
        if status.from_cache { "from the cache file, the server being unreachable" } else { "from the server" };
    eprintln!(
        "replicated version {} {origin}: {t} tenants, {u} units, {s} subscriptions, {o} orders; snapshot age {:.1} s",
        status.version,
        status.age.as_secs_f64()
    );
    let metrics = Arc::new(Metrics::default());
    let decisions = Arc::new(Decisions { source: Arc::new(ReplicaSource(replica.clone())), metrics: metrics.clone() });
    let sidecar = Arc::new(Sidecar { replica, metrics, server: args.server.clone(), caller_token });
    let guarded = verdict_server::decision_routes::<Arc<Sidecar>>(decisions)
        .route_layer(axum::middleware::from_fn_with_state(sidecar.clone(), require_caller));
    let app = Router::new()
        .merge(guarded)
        .merge(verdict_server::discovery_routes())
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics_text))
        .with_state(sidecar.clone());
    let app = verdict_server::with_fallbacks(app);
    let listener = tokio::net::TcpListener::bind(&args.listen)
        .await
        .with_context(|| format!("cannot listen on {}; pick another address with --listen", args.listen))?;
    let addr = listener.local_addr()?;
    if !addr.ip().is_loopback() && sidecar.caller_token.is_none() {
        eprintln!(
            "warning: serving decisions on {addr} to anyone who can reach it; bind to loopback or set --caller-token-file"
        );
    }
    crate::serve::say(&format!("verdict pep listening on http://{addr}\n"));
    axum::serve(listener, app).with_graceful_shutdown(crate::serve::shutdown()).await.context("the sidecar failed")?;
    eprintln!("verdict pep stopped");
    Ok(())
}

async fn require_caller(State(sidecar): State<Arc<Sidecar>>, request: Request, next: Next) -> Response {
    let Some(expected) = &sidecar.caller_token else { return next.run(request).await };
    let given = request.headers().get(header::AUTHORIZATION).and_then(verdict_server::bearer);
    match given {
        Some(token) if verdict_server::same_secret(token.as_bytes(), expected.as_bytes()) => next.run(request).await,
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
        "connected": status.connected,
        "bootstraps": status.bootstraps,
        "connects": status.connects,
        "applied": status.applied,
        "from_cache": status.from_cache,
    });
    let code = if status.connected { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (code, axum::Json(body)).into_response()
}

async fn metrics_text(State(sidecar): State<Arc<Sidecar>>) -> impl IntoResponse {
    let status = sidecar.replica.status();
    let mut out = sidecar.metrics.render(&sidecar.replica.snapshot(), verdict_model::Timestamp::now());
    let _ = writeln!(
        out,
        "# HELP verdict_pep_snapshot_age_seconds Time since the control plane last confirmed the snapshot current."
    );
    let _ = writeln!(out, "# TYPE verdict_pep_snapshot_age_seconds gauge");
    let _ = writeln!(out, "verdict_pep_snapshot_age_seconds {}", status.age.as_secs_f64());
    let _ = writeln!(out, "# HELP verdict_pep_connected Whether the change stream is open.");
    let _ = writeln!(out, "# TYPE verdict_pep_connected gauge");
    let _ = writeln!(out, "verdict_pep_connected {}", u8::from(status.connected));
    let _ = writeln!(out, "# HELP verdict_pep_bootstraps_total Whole snapshots fetched.");
    let _ = writeln!(out, "# TYPE verdict_pep_bootstraps_total counter");
    let _ = writeln!(out, "verdict_pep_bootstraps_total {}", status.bootstraps);
    let _ = writeln!(out, "# HELP verdict_pep_applied_total Change sets applied.");
    let _ = writeln!(out, "# TYPE verdict_pep_applied_total counter");
    let _ = writeln!(out, "verdict_pep_applied_total {}", status.applied);
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], out)
}
