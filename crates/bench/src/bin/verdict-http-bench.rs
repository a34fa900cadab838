//! AuthZEN over HTTP, side by side with an empty handler on the same server:
//! starts verdict's real router on loopback with a synthetic world, mounts
//! `POST /bench/empty` behind the same token check and layers, and drives
//! both with `wrk` (Debian's `wrk`). Single evaluations, then batches of 100;
//! then single evaluations again while `--idle N` other connections (half
//! silent, half stalled halfway through their headers) are held open — and
//! reopened as the edge's header bound closes them — to show what idle and
//! slow clients cost the decisions.
//!
//! The server is served through the real edge (`verdict_server::edge`).
//!
//! Usage: verdict-http-bench [--duration SECS] [--connections N] [--subscriptions N] [--idle N]

use std::sync::Arc;

use anyhow::bail;
use axum::Router;
use axum::routing::post;
use verdict_bench::wrk::{TOKEN, WrkResult, micros, wrk};
use verdict_bench::{World, WorldConfig, number_arg as arg};
use verdict_control::{Actor, Core, SigningKey};
use verdict_server::{AppState, Tokens};
use verdict_store::SqliteStore;

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
    let config = WorldConfig::scaled(subscriptions, 7);
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
    if args.iter().any(|a| a == "--axum-serve") {
        // For comparison only: axum's own loop, without the edge's bounds.
        tokio::spawn(async move { axum::serve(listener, app).await });
    } else {
        let limits = verdict_server::EdgeLimits::default();
        tokio::spawn(verdict_server::edge::serve(listener, app, limits, std::future::pending()));
    }
    let idle = arg(&args, "--idle", 300)?;

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
    let mut crowded_rows = Vec::new();
    let rounds = arg(&args, "--rounds", 3)?.max(1);
    for round in 0..rounds {
        eprintln!(
            "round {}: empty handler, batches of 100, single evaluations without and with {idle} idle or stalled connections ({seconds} s each)…",
            round + 1
        );
        let empty = wrk(&base, "/bench/empty", &singles, seconds, connections)?;
        let batch = wrk(&base, "/access/v1/evaluations", &batches, seconds, connections)?;
        // The two single-evaluation runs back to back, in alternating
        // order, so that the machine's drift falls on both alike.
        let crowded_run = async || -> anyhow::Result<(WrkResult, u64)> {
            let idler = Idler::start(&base, idle).await?;
            let crowded = wrk(&base, "/access/v1/evaluation", &singles, seconds, connections)?;
            Ok((crowded, idler.stop().await))
        };
        let (single, (crowded, reopened)) = if round % 2 == 0 {
            let single = wrk(&base, "/access/v1/evaluation", &singles, seconds, connections)?;
            (single, crowded_run().await?)
        } else {
            let crowded = crowded_run().await?;
            (wrk(&base, "/access/v1/evaluation", &singles, seconds, connections)?, crowded)
        };
        for r in [&empty, &single, &batch, &crowded] {
            if r.non_2xx > 0 {
                bail!("{} responses were not 2xx", r.non_2xx);
            }
        }
        crowded_rows.push((crowded, reopened));
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
    println!(
        "machine: {}; server: {workers} tokio worker(s); wrk: 1 thread, {connections} connections, {seconds} s per run, loopback",
        verdict_bench::machine()
    );
    println!(
        "command: cargo run --release -p verdict-bench --bin verdict-http-bench -- --duration {seconds} --connections {connections} --subscriptions {subscriptions} --workers {workers} --idle {idle} --rounds {rounds}"
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
    println!();
    println!(
        "| round | single p99, none idle | single p99, {idle} idle or stalled | ratio | req/s with them | idle connections the edge closed and were reopened |"
    );
    println!("|---|---|---|---|---|---|");
    let mut ratios = Vec::new();
    for (i, ((_, single, _), (crowded, reopened))) in rows.iter().zip(&crowded_rows).enumerate() {
        let ratio = micros(&crowded.p99) / micros(&single.p99);
        ratios.push(ratio);
        println!("| {} | {} | {} | {ratio:.2} | {:.0} | {reopened} |", i + 1, single.p99, crowded.p99, crowded.rps);
    }
    ratios.sort_by(|a, b| a.total_cmp(b));
    let median_of = |mut v: Vec<f64>| {
        v.sort_by(|a, b| a.total_cmp(b));
        v[v.len() / 2]
    };
    let none = median_of(rows.iter().map(|r| micros(&r.1.p99)).collect());
    let held = median_of(crowded_rows.iter().map(|r| micros(&r.0.p99)).collect());
    println!(
        "| **median** | **{:.2} ms** | **{:.2} ms** | **{:.2}** (ratio of medians; median of ratios {:.2}) | | |",
        none / 1e3,
        held / 1e3,
        held / none,
        ratios[ratios.len() / 2]
    );
    Ok(())
}

/// Holds `n` connections open to the server, half silent and half stalled
/// halfway through a request's headers, reopening each one the server
/// closes, until stopped.
struct Idler {
    stop: tokio::sync::watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<u64>>,
}

impl Idler {
    async fn start(base: &str, n: usize) -> anyhow::Result<Idler> {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let addr: std::net::SocketAddr = base.trim_start_matches("http://").parse()?;
        let (stop, watch) = tokio::sync::watch::channel(false);
        let mut tasks = Vec::with_capacity(n);
        for i in 0..n {
            let mut watch = watch.clone();
            tasks.push(tokio::spawn(async move {
                let mut reopened = 0u64;
                loop {
                    let Ok(mut stream) = tokio::net::TcpStream::connect(addr).await else { return reopened };
                    if i % 2 == 1 {
                        let _ = stream.write_all(b"POST /access/v1/evaluation HTTP/1.1\r\nHost: verdict\r\n").await;
                    }
                    let mut buffer = [0u8; 256];
                    tokio::select! {
                        _ = stream.read(&mut buffer) => reopened += 1,
                        _ = watch.wait_for(|stop| *stop) => return reopened,
                    }
                }
            }));
        }
        // Let them all connect before measuring.
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        Ok(Idler { stop, tasks })
    }

    /// Stops, and says how many connections the server closed meanwhile.
    async fn stop(self) -> u64 {
        let _ = self.stop.send(true);
        let mut reopened = 0;
        for task in self.tasks {
            reopened += task.await.unwrap_or(0);
        }
        reopened
    }
}
