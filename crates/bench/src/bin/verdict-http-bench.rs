//! AuthZEN over HTTP, side by side with an empty handler on the same server:
//! starts verdict's real router on loopback with a synthetic world, mounts
//! `POST /bench/empty` behind the same token check and layers, and drives
//! both with `wrk` (Debian's `wrk`). Single evaluations, then batches of 100.
//!
//! Usage: verdict-http-bench [--duration SECS] [--connections N] [--subscriptions N]

use std::fmt::Write as _;
use std::process::Command;
use std::sync::Arc;

use anyhow::{Context, bail};
use axum::Router;
use axum::routing::post;
use verdict_bench::{World, WorldConfig, number_arg as arg};
use verdict_control::{Actor, Core, SigningKey};
use verdict_server::{AppState, Tokens};
use verdict_store::SqliteStore;

const TOKEN: &str = "bench-token";

fn lua_string(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// A wrk script that cycles through `bodies`.
fn script(path: &str, bodies: &[String]) -> String {
    let mut out = String::from("local bodies = {\n");
    for b in bodies {
        let _ = writeln!(out, "  {},", lua_string(b));
    }
    let _ = write!(
        out,
        "}}\nlocal i = 0\nwrk.method = \"POST\"\nwrk.headers[\"Content-Type\"] = \"application/json\"\n\
         wrk.headers[\"Authorization\"] = \"Bearer {TOKEN}\"\n\
         request = function()\n  i = i % #bodies + 1\n  return wrk.format(nil, {}, nil, bodies[i])\nend\n",
        lua_string(path)
    );
    out
}

struct WrkResult {
    rps: f64,
    p50: String,
    p99: String,
    non_2xx: u64,
}

fn wrk(base: &str, path: &str, bodies: &[String], seconds: u64, connections: u64) -> anyhow::Result<WrkResult> {
    let dir = tempfile::tempdir()?;
    let file = dir.path().join("bench.lua");
    std::fs::write(&file, script(path, bodies))?;
    let out = Command::new("wrk")
        .args(["-t1", &format!("-c{connections}"), &format!("-d{seconds}s"), "--latency", "-s"])
        .arg(&file)
        .arg(base)
        .output()
        .context("cannot run wrk; install it with `apt-get install wrk`")?;
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    if !out.status.success() {
        bail!("wrk failed: {text}{}", String::from_utf8_lossy(&out.stderr));
    }
    let field = |prefix: &str| {
        text.lines()
            .find_map(|l| l.trim().strip_prefix(prefix).map(|r| r.split_whitespace().next().unwrap_or("").to_owned()))
    };
    let rps = field("Requests/sec:").context("wrk printed no Requests/sec")?.parse()?;
    let non_2xx = field("Non-2xx or 3xx responses:").map(|v| v.parse().unwrap_or(0)).unwrap_or(0);
    Ok(WrkResult { rps, p50: field("50%").unwrap_or_default(), p99: field("99%").unwrap_or_default(), non_2xx })
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    // One worker by default: the server on one core, wrk on the other.
    let workers = arg(&args, "--workers", 1)?.max(1);
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()?
        .block_on(run(args, workers))
}

async fn run(args: Vec<String>, workers: usize) -> anyhow::Result<()> {
    let seconds = arg(&args, "--duration", 10)? as u64;
    let connections = arg(&args, "--connections", 32)? as u64;
    let subscriptions = arg(&args, "--subscriptions", 100_000)?;
    let config = WorldConfig {
        tenants: (subscriptions / 100).max(1),
        units: (subscriptions / 10).max(1),
        subscriptions,
        orders: (subscriptions / 100).max(1),
        seed: 7,
    };
    eprintln!("generating a world of {subscriptions} subscriptions and loading it through the control plane…");
    let world = World::generate(&config);
    let dir = tempfile::tempdir()?;
    let store = Arc::new(SqliteStore::open(&dir.path().join("verdict.db")).await?);
    let core = Arc::new(Core::open(store, SigningKey::generate("verdict.bench/log")?).await?);
    core.import(&Actor::admin(), world.inventory.clone(), &|_| ()).await?;
    let mut ids = std::collections::HashMap::new();
    for order in &world.orders {
        let (created, _) = core.create_order(&Actor::admin(), order.spec.clone()).await?;
        ids.insert(order.id.clone(), created.id);
    }
    let state = Arc::new(AppState::new(core, Tokens { admin: "unused".into(), pep: TOKEN.into() }));
    let empty = Router::new().route(
        "/bench/empty",
        post(|_body: axum::body::Bytes| async { axum::Json(serde_json::json!({"decision": true})) }),
    );
    let app = verdict_server::router_with(state, empty);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, app).await });

    let stream = world.requests(2_000, 11);
    let evaluation = |i: usize| {
        let (sub, service, action, at) = stream.get(i);
        serde_json::json!({
            "subject": {"type": "gateway", "id": "gw-bench"},
            "resource": {"type": "service", "id": service, "properties": {"subscription": sub}},
            "action": {"name": action},
            "context": {"time": at.to_string()}
        })
    };
    let singles: Vec<String> = (0..1_000).map(|i| evaluation(i).to_string()).collect();
    let batches: Vec<String> = (0..10)
        .map(|b| {
            let items: Vec<serde_json::Value> = (0..100).map(|i| evaluation(1_000 + b * 100 + i)).collect();
            serde_json::json!({"evaluations": items}).to_string()
        })
        .collect();

    eprintln!("warming up…");
    wrk(&base, "/access/v1/evaluation", &singles, 2, connections)?;
    let mut rows = Vec::new();
    for round in 0..3 {
        eprintln!("round {}: empty handler, single evaluations, batches of 100 ({seconds} s each)…", round + 1);
        let empty = wrk(&base, "/bench/empty", &singles, seconds, connections)?;
        let single = wrk(&base, "/access/v1/evaluation", &singles, seconds, connections)?;
        let batch = wrk(&base, "/access/v1/evaluations", &batches, seconds, connections)?;
        for r in [&empty, &single, &batch] {
            if r.non_2xx > 0 {
                bail!("{} responses were not 2xx", r.non_2xx);
            }
        }
        rows.push((empty, single, batch));
    }
    let median = |f: &dyn Fn(&(WrkResult, WrkResult, WrkResult)) -> f64| {
        let mut v: Vec<f64> = rows.iter().map(f).collect();
        v.sort_by(|a, b| a.total_cmp(b));
        v[v.len() / 2]
    };
    let empty_rps = median(&|r| r.0.rps);
    let single_rps = median(&|r| r.1.rps);
    let batch_rps = median(&|r| r.2.rps);
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines().find(|l| l.starts_with("model name")).map(|l| l.split(':').nth(1).unwrap_or("").trim().to_owned())
        })
        .unwrap_or_default();
    println!(
        "machine: {cpu}, {} cores; server: {workers} tokio worker(s); wrk: 1 thread, {connections} connections, {seconds} s per run, loopback",
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0)
    );
    println!(
        "command: cargo run --release -p verdict-bench --bin verdict-http-bench -- --duration {seconds} --connections {connections} --subscriptions {subscriptions} --workers {workers}"
    );
    println!();
    println!(
        "| round | empty handler req/s | AuthZEN single req/s (p50 / p99) | batch-of-100 req/s | decisions/s via batches |"
    );
    println!("|---|---|---|---|---|");
    for (i, (e, s, b)) in rows.iter().enumerate() {
        println!(
            "| {} | {:.0} | {:.0} ({} / {}) | {:.0} | {:.0} |",
            i + 1,
            e.rps,
            s.rps,
            s.p50,
            s.p99,
            b.rps,
            b.rps * 100.0
        );
    }
    println!(
        "| **median** | **{empty_rps:.0}** | **{single_rps:.0}** | **{batch_rps:.0}** | **{:.0}** |",
        batch_rps * 100.0
    );
    println!();
    println!("AuthZEN single / empty handler: {:.1} %", 100.0 * single_rps / empty_rps);
    Ok(())
}
