//! `verdict pep`: a sidecar that replicates the control plane's snapshot
//! and serves decisions locally — nginx `auth_request`, Envoy `ext_authz`
//! and AuthZEN — plus its own health and metrics.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use verdict_pep::{HttpSource, Replica, ReplicaOptions, StalenessPolicy};

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
    /// Follow the changes on this NATS JetStream server (nats://…), which
    /// `verdict serve --nats` publishes to; the snapshot still comes from
    /// --server, and the changes too while NATS is unreachable.
    #[arg(long, env = "VERDICT_NATS", value_name = "URL")]
    nats: Option<String>,
    /// The JetStream domain holding the stream, when --nats is a leaf node
    /// of the NATS that `verdict serve --nats` publishes to (a region's
    /// leaf of the central cluster; docs/deploy.md).
    #[arg(long, env = "VERDICT_NATS_DOMAIN", value_name = "DOMAIN", requires = "nats")]
    nats_domain: Option<String>,
    /// Trust the certificates in this PEM file for an HTTPS --server with
    /// a private CA (beside the system's roots).
    #[arg(long, env = "VERDICT_CA_FILE", value_name = "FILE")]
    ca_file: Option<PathBuf>,
    /// With a scoped pep token, what to answer for a subscription the
    /// replica does not hold (another tenant's or region's, or none at
    /// all): `allow` it as unknown, as an unscoped replica does, or
    /// `refuse` it.
    #[arg(long, env = "VERDICT_OUTSIDE_SCOPE", default_value = "allow", value_name = "POLICY",
        value_parser = ["allow", "refuse"])]
    outside_scope: String,
}

fn duration(text: &str) -> Result<Duration, String> {
    verdict_pep::parse_duration(text)
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
    let source = HttpSource::with_ca(&args.server, &token, args.heartbeat, args.ca_file.as_deref())?;
    let options = ReplicaOptions {
        policy,
        heartbeat: args.heartbeat,
        bootstrap_timeout: args.bootstrap_timeout,
        cache: args.cache_file.clone(),
        refuse_outside_scope: args.outside_scope == "refuse",
        ..Default::default()
    };
    eprintln!("fetching the snapshot from {}", args.server);
    let replica = match &args.nats {
        Some(url) => {
            eprintln!("following the changes on NATS at {url} (over HTTP while it is unreachable)");
            let mut nats = verdict_pep::nats::NatsOptions::new(url);
            nats.domain = args.nats_domain.clone();
            let source = verdict_pep::nats::NatsSource::new(nats, source);
            Replica::start(source, options).await
        }
        None => Replica::start(source, options).await,
    }
    .context("cannot replicate the control plane")?;
    let (t, u, s, o) = replica.snapshot().counts();
    let status = replica.status();
    let origin =
        if status.from_cache { "from the cache file, the server being unreachable" } else { "from the server" };
    eprintln!(
        "replicated version {} {origin}: {t} tenants, {u} units, {s} subscriptions, {o} orders; snapshot age {:.1} s",
        status.version,
        status.age.as_secs_f64()
    );
    if let Some(rule) = replica.snapshot().scope() {
        let outside = if rule.refuse_outside { "refused" } else { "allowed as unknown" };
        eprintln!("the token is scoped to {}; subscriptions outside it are {outside}", rule.scope);
    }
    let guarded = caller_token.is_some();
    let app = verdict_pep::sidecar::router(replica, &args.server, caller_token);
    let listener = tokio::net::TcpListener::bind(&args.listen)
        .await
        .with_context(|| format!("cannot listen on {}; pick another address with --listen", args.listen))?;
    let addr = listener.local_addr()?;
    if !addr.ip().is_loopback() && !guarded {
        eprintln!(
            "warning: serving decisions on {addr} to anyone who can reach it; bind to loopback or set --caller-token-file"
        );
    }
    crate::serve::say(&format!("verdict pep listening on http://{addr}\n"));
    verdict_wire::edge::serve(listener, app, verdict_wire::edge::EdgeLimits::default(), crate::serve::shutdown())
        .await
        .context("the sidecar failed")?;
    eprintln!("verdict pep stopped");
    Ok(())
}
