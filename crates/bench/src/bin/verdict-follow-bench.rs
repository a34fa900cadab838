//! Decision throughput at one server while another server writes to the
//! same PostgreSQL: server A serves AuthZEN single evaluations on loopback
//! (driven by `wrk`) and follows the shared change table; server B creates
//! subscriptions in A's world at a target rate. Three runs per round, in
//! rotating order: A idle; B writing to a database of its own (the machine
//! is as busy, A follows nothing); B writing to A's database (A applies
//! every change to its engine, index and feed). The last two against the
//! first separate what following costs from what sharing two cores costs.
//!
//! Usage: verdict-follow-bench POSTGRES_URL [--rate 1000] [--seconds 10]
//!        [--rounds 3] [--connections 32] [--subscriptions 10000]

use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::json;
use verdict_bench::pg::BenchDatabase;
use verdict_bench::wrk::{TOKEN, WrkResult, micros, wrk};
use verdict_bench::{World, WorldConfig, number_arg as arg};
use verdict_control::{Actor, Core, SigningKey};
use verdict_server::{AppState, Tokens};

/// Concurrent writers at B.
const WRITERS: u64 = 16;

/// What a writing run did.
struct Written {
    changes: u64,
    seconds: f64,
}

/// Server B on a thread and runtime of its own (so A's runtime serves only
/// A), writing subscriptions of tenant `load` at `rate` per second until
/// `stop`.
fn writer(
    url: String,
    key: SigningKey,
    rate: u64,
    stop: Arc<AtomicBool>,
    tag: String,
) -> std::thread::JoinHandle<anyhow::Result<(Written, u64)>> {
    std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(async move {
            let core = Arc::new(Core::open(verdict_store::open(&url).await?, key).await?);
            let written = Arc::new(AtomicU64::new(0));
            let started = Instant::now();
            let period = Duration::from_secs_f64(WRITERS as f64 / rate as f64);
            let tasks: Vec<_> = (0..WRITERS)
                .map(|w| {
                    let (core, stop, written, tag) = (core.clone(), stop.clone(), written.clone(), tag.clone());
                    tokio::spawn(async move {
                        let mut tick = tokio::time::interval(period);
                        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
                        let mut n = 0u64;
                        while !stop.load(Ordering::Relaxed) {
                            tick.tick().await;
                            let sub = serde_json::from_value(json!({"id": format!("{tag}-{w}-{n}"),
                                "tenant": "load", "unit": "writes", "region": "westeurope"}))?;
                            core.create_subscription(&Actor::admin(), sub).await.map_err(|e| anyhow::anyhow!("{e}"))?;
                            written.fetch_add(1, Ordering::Relaxed);
                            n += 1;
                        }
                        anyhow::Ok(())
                    })
                })
                .collect();
            for task in tasks {
                task.await??;
            }
            let seconds = started.elapsed().as_secs_f64();
            let version = core.snapshot().version();
            Ok((Written { changes: written.load(Ordering::Relaxed), seconds }, version))
        })
    })
}

/// A tenant for B's writes, in a store.
async fn load_tenant(core: &Core) -> anyhow::Result<()> {
    let inventory = serde_json::from_value(json!({
        "tenants": [{"id": "load", "kind": "enterprise"}],
        "units": [{"tenant": "load", "path": "writes"}],
    }))?;
    core.import(&Actor::admin(), inventory, &|_| ()).await?;
    Ok(())
}

/// Which run.
#[derive(Clone, Copy, PartialEq)]
enum Load {
    Idle,
    OtherDatabase,
    SameDatabase,
}

struct Run {
    decisions: WrkResult,
    written: Option<Written>,
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(|a, b| a.total_cmp(b));
    values[values.len() / 2]
}

async fn run(args: Vec<String>) -> anyhow::Result<()> {
    let Some(admin_url) = args.get(1).filter(|a| !a.starts_with("--")).cloned() else {
        bail!(
            "usage: verdict-follow-bench POSTGRES_URL [--rate 1000] [--seconds 10] [--rounds 3] [--connections 32] [--subscriptions 10000]"
        );
    };
    let rate = arg(&args, "--rate", 1000)?.max(1) as u64;
    let seconds = arg(&args, "--seconds", 10)?.max(1) as u64;
    let rounds = arg(&args, "--rounds", 3)?.max(1);
    let connections = arg(&args, "--connections", 32)? as u64;
    let subscriptions = arg(&args, "--subscriptions", 10_000)?;
    let key = SigningKey::generate("verdict.bench/log")?;
    let shared = BenchDatabase::create(&admin_url, "follow_a").await?;
    let other = BenchDatabase::create(&admin_url, "follow_b").await?;

    eprintln!("loading a world of {subscriptions} subscriptions into PostgreSQL…");
    let config = WorldConfig::scaled(subscriptions, 7);
    let world = World::generate(&config);
    let a = Arc::new(Core::open(verdict_store::open(&shared.url).await?, key.clone()).await?);
    a.import(&Actor::admin(), world.inventory.clone(), &|_| ()).await?;
    for order in &world.orders {
        a.create_order(&Actor::admin(), order.spec.clone()).await?;
    }
    load_tenant(&a).await?;
    {
        let b = Core::open(verdict_store::open(&other.url).await?, key.clone()).await?;
        load_tenant(&b).await?;
    }
    tokio::spawn(a.clone().follow_forever());
    let state = Arc::new(AppState::new(a.clone(), Tokens { admin: "unused".into(), pep: TOKEN.into() }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let app = verdict_server::router(state);
    tokio::spawn(verdict_server::edge::serve(
        listener,
        app,
        verdict_server::EdgeLimits::default(),
        std::future::pending(),
    ));

    let stream = world.requests(2_000, 11);
    let singles: Vec<String> = (0..1_000)
        .map(|i| {
            let (sub, service, action, at) = stream.get(i);
            json!({"subject": {"type": "gateway", "id": "gw-bench"},
                "resource": {"type": "service", "id": service, "properties": {"subscription": sub}},
                "action": {"name": action}, "context": {"time": at.to_string()}})
            .to_string()
        })
        .collect();
    eprintln!("warming up…");
    wrk(&base, "/access/v1/evaluation", &singles, 2, connections)?;

    let mut results: Vec<[Option<Run>; 3]> = Vec::new();
    let order = [Load::Idle, Load::OtherDatabase, Load::SameDatabase];
    for round in 0..rounds {
        let mut row: [Option<Run>; 3] = [None, None, None];
        for k in 0..3 {
            let load = order[(k + round) % 3];
            let url = match load {
                Load::Idle => None,
                Load::OtherDatabase => Some(other.url.clone()),
                Load::SameDatabase => Some(shared.url.clone()),
            };
            eprintln!("round {}: {} ({seconds} s)…", round + 1, label(load));
            let stop = Arc::new(AtomicBool::new(false));
            let handle = url.map(|url| writer(url, key.clone(), rate, stop.clone(), format!("r{round}k{k}")));
            if handle.is_some() {
                // B opens its store and reaches its pace first.
                tokio::time::sleep(Duration::from_secs(2)).await;
            }
            let decisions = wrk(&base, "/access/v1/evaluation", &singles, seconds, connections)?;
            stop.store(true, Ordering::Relaxed);
            let written = match handle {
                None => None,
                Some(h) => {
                    let (written, version) = h.join().map_err(|_| anyhow::anyhow!("the writer panicked"))??;
                    if load == Load::SameDatabase {
                        // A must have followed all of it.
                        let deadline = Instant::now() + Duration::from_secs(10);
                        while a.snapshot().version() < version {
                            if Instant::now() > deadline {
                                bail!("server A stayed at version {} behind B's {version}", a.snapshot().version());
                            }
                            tokio::time::sleep(Duration::from_millis(10)).await;
                        }
                    }
                    Some(written)
                }
            };
            if decisions.non_2xx > 0 {
                bail!("{} decisions were not 2xx", decisions.non_2xx);
            }
            row[order[(k + round) % 3] as usize] = Some(Run { decisions, written });
        }
        results.push(row);
    }
    drop(a);
    shared.drop_now().await?;
    other.drop_now().await?;

    println!(
        "machine: {}, shared by server A (1 tokio worker), B (1 thread), PostgreSQL and wrk (1 thread, {connections} connections)",
        verdict_bench::machine()
    );
    println!(
        "command: cargo run --release -p verdict-bench --bin verdict-follow-bench -- {admin_url} --rate {rate} --seconds {seconds} --rounds {rounds} --connections {connections} --subscriptions {subscriptions}"
    );
    println!();
    println!(
        "| round | A idle: decisions/s (p99) | B writes elsewhere: decisions/s (p99), B's changes/s | B writes to A's store: decisions/s (p99), B's changes/s |"
    );
    println!("|---|---|---|---|");
    let cell = |run: &Run| {
        let written =
            run.written.as_ref().map_or(String::new(), |w| format!(", {:.0}/s", w.changes as f64 / w.seconds));
        format!("{:.0} ({}){written}", run.decisions.rps, run.decisions.p99)
    };
    for (i, row) in results.iter().enumerate() {
        let [idle, elsewhere, same] = row.each_ref().map(|r| r.as_ref().expect("every run ran"));
        println!("| {} | {} | {} | {} |", i + 1, cell(idle), cell(elsewhere), cell(same));
    }
    let rps = |k: usize| median(results.iter().map(|r| r[k].as_ref().expect("ran").decisions.rps).collect());
    let p99 = |k: usize| median(results.iter().map(|r| micros(&r[k].as_ref().expect("ran").decisions.p99)).collect());
    let writes = |k: usize| {
        median(
            results
                .iter()
                .filter_map(|r| r[k].as_ref().and_then(|run| run.written.as_ref()))
                .map(|w| w.changes as f64 / w.seconds)
                .collect(),
        )
    };
    println!(
        "| **median** | **{:.0}** ({:.2} ms) | **{:.0}** ({:.2} ms), {:.0}/s | **{:.0}** ({:.2} ms), {:.0}/s |",
        rps(0),
        p99(0) / 1e3,
        rps(1),
        p99(1) / 1e3,
        writes(1),
        rps(2),
        p99(2) / 1e3,
        writes(2)
    );
    println!();
    println!(
        "decisions while B writes to A's store / A idle: {:.1} %; / B writing elsewhere: {:.1} % (what following costs A)",
        100.0 * rps(2) / rps(0),
        100.0 * rps(2) / rps(1)
    );
    Ok(())
}

fn label(load: Load) -> &'static str {
    match load {
        Load::Idle => "A idle",
        Load::OtherDatabase => "B writing to a database of its own",
        Load::SameDatabase => "B writing to A's database",
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build();
    let result = runtime.context("cannot start the runtime").and_then(|rt| rt.block_on(run(args)));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("verdict-follow-bench: {e:#}");
            ExitCode::FAILURE
        }
    }
}
