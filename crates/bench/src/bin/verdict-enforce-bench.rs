//! `verdict-enforce-bench`: how fast a change reaches enforcement points,
//! and what replication costs.
//!
//! 1. Time to enforce: a control plane over SQLite on loopback and N
//!    replicas (`verdict_pep::Replica`, in this process), each on its own
//!    connection, following over SSE and then (with `--nats URL`) over NATS
//!    JetStream, each replica with its own NATS connection and consumer. Each round makes one change that must start a
//!    denial — an order loaded (approved as made) on a unit, or a new
//!    subscription under a suspended unit — and records, per replica, the
//!    time from the change's call to the first deny that replica gives.
//! 2. Bytes per change on the stream, per kind of change.
//! 3. The whole snapshot at scale: its size, the server's first encoding,
//!    and a replica's bootstrap over HTTP (fetch, parse, compile), checked
//!    to decide exactly as the server does.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use verdict_bench::{World, WorldConfig, number_arg as arg};
use verdict_control::feed::Resume;
use verdict_control::{Actor, Core, SigningKey};
use verdict_model::{Inventory, OrderSpec, Subscription, Timestamp};
use verdict_pep::{HttpSource, Replica, ReplicaOptions};
use verdict_server::{AppState, Tokens};
use verdict_store::SqliteStore;

const TOKEN: &str = "bench-pep";

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

async fn open(dir: &tempfile::TempDir) -> anyhow::Result<Arc<Core>> {
    let store = Arc::new(SqliteStore::open(&dir.path().join("verdict.db")).await?);
    Ok(Arc::new(Core::open(store, SigningKey::generate("bench.verdict/log")?).await?))
}

async fn serve(core: Arc<Core>) -> anyhow::Result<String> {
    let state = Arc::new(AppState::new(core, Tokens { admin: "unused".into(), pep: TOKEN.into() }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, verdict_server::router(state)).await });
    Ok(base)
}

fn disabling(unit: &str) -> OrderSpec {
    let now = Timestamp::now().seconds();
    serde_json::from_value(json!({
        "tenant": "target", "clause": "AUP-2", "scope": {"units": [unit]},
        "services": ["storage.*", "ai.*"], "exempt": ["security.*"],
        "phases": [{"mode": "notice", "start": Timestamp(now - 86_400)}, {"mode": "disabled", "start": Timestamp(now - 1)}],
    }))
    .expect("a valid order")
}

fn subscription(id: &str, unit: &str) -> Subscription {
    serde_json::from_value(json!({"id": id, "tenant": "target", "unit": unit, "services": ["storage.blob"]}))
        .expect("a valid subscription")
}

/// The encoded size of the change set that took the feed from `since`.
fn frame_bytes(core: &Core, since: u64) -> usize {
    match core.feed().subscribe(since) {
        Resume::From { backlog, .. } => backlog
            .iter()
            .map(|f| match &f.body {
                verdict_control::feed::FrameBody::Changes(json) => json.len(),
                verdict_control::feed::FrameBody::Resync(_) => 0,
            })
            .sum(),
        Resume::Resync { .. } => 0,
    }
}

/// How the replicas follow.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Transport {
    Sse,
    Nats,
}

async fn time_to_enforce(
    peps: usize,
    rounds: usize,
    background: usize,
    transport: Transport,
    nats: &str,
) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let core = open(&dir).await?;
    let world = World::generate(&WorldConfig {
        tenants: (background / 100).max(1),
        units: (background / 10).max(1),
        subscriptions: background,
        orders: 0,
        seed: 5,
    });
    core.import(&Actor::admin(), world.inventory, &|_| ()).await?;
    let target: Inventory = serde_json::from_value(json!({
        "tenants": [{"id": "target", "kind": "government"}],
        "subscriptions": (0..rounds).map(|i| json!({"id": format!("target-{i}"), "tenant": "target", "unit": format!("t/u{i}")}))
            .chain([json!({"id": "suspended-0", "tenant": "target", "unit": "suspended"})]).collect::<Vec<_>>(),
    }))?;
    core.import(&Actor::admin(), target, &|_| ()).await?;
    core.create_order(&Actor::admin(), disabling("suspended")).await?;
    let base = serve(core.clone()).await?;
    let publisher = (transport == Transport::Nats).then(|| {
        tokio::spawn(verdict_server::bus::publish_forever(core.clone(), verdict_server::bus::BusOptions::new(nats)))
    });

    let label = if transport == Transport::Nats { "nats" } else { "sse" };
    eprintln!("starting {peps} replicas on {base} following over {label}…");
    let options = ReplicaOptions { heartbeat: Duration::from_secs(1), ..ReplicaOptions::default() };
    let mut replicas = Vec::with_capacity(peps);
    for _ in 0..peps {
        let source = HttpSource::new(&base, TOKEN, options.heartbeat)?;
        replicas.push(match transport {
            Transport::Sse => Replica::start(source, options.clone()).await?,
            Transport::Nats => {
                let bus = verdict_pep::nats::NatsSource::new(verdict_pep::nats::NatsOptions::new(nats), source);
                Replica::start(bus, options.clone()).await?
            }
        });
    }
    let deadline = Instant::now() + Duration::from_secs(120);
    while !replicas.iter().all(|r| r.status().connected && r.status().transport == label) {
        anyhow::ensure!(Instant::now() < deadline, "replicas did not all connect over {label}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    let mut from_call = Vec::new();
    let mut from_ack = Vec::new();
    let mut acks = Vec::new();
    let mut bytes: Vec<(&str, usize)> = Vec::new();
    for round in 0..rounds {
        // Odd rounds: a new subscription under the suspended unit; even
        // rounds: an order on a unit of its own.
        let (kind, sub) = if round % 2 == 0 {
            ("order loaded", format!("target-{round}"))
        } else {
            ("subscription created", format!("suspended-{}", round + 1))
        };
        let watchers: Vec<_> = replicas
            .iter()
            .map(|r| {
                let r = r.clone();
                let sub = sub.clone();
                let mut versions = r.versions();
                tokio::spawn(async move {
                    loop {
                        if !r.decide(&sub, "storage.blob", "put-blob", Timestamp::now()).is_none_or(|d| d.allowed) {
                            return Instant::now();
                        }
                        if versions.changed().await.is_err() {
                            return Instant::now();
                        }
                    }
                })
            })
            .collect();
        let before = core.feed().current().version();
        let called = Instant::now();
        if round % 2 == 0 {
            core.create_order(&Actor::admin(), disabling(&format!("t/u{round}"))).await?;
        } else {
            core.create_subscription(&Actor::admin(), subscription(&sub, "suspended")).await?;
        }
        let acked = Instant::now();
        acks.push(acked - called);
        for watcher in watchers {
            let denied = watcher.await?;
            from_call.push(denied.saturating_duration_since(called));
            from_ack.push(denied.saturating_duration_since(acked));
        }
        bytes.push((kind, frame_bytes(&core, before)));
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for v in [&mut from_call, &mut from_ack, &mut acks] {
        v.sort_unstable();
    }
    if let Some(task) = publisher {
        task.abort();
    }
    println!("## time to enforce: {peps} replicas over {label}, {rounds} changes, {} samples", from_call.len());
    println!("| measured from | p50 | p99 | max |");
    println!("|---|---|---|---|");
    for (label, v) in [
        ("the change's call (commit, fsync, signed checkpoint, stream, apply)", &from_call),
        ("the change's acknowledgement", &from_ack),
        ("(the acknowledgement itself, per change)", &acks),
    ] {
        println!("| {label} | {} | {} | {} |", ms(percentile(v, 0.5)), ms(percentile(v, 0.99)), ms(*v.last().unwrap()));
    }

    // The other kinds of change, for their size on the stream.
    let v = core.feed().current().version();
    core.move_subscription(&Actor::admin(), "target-0", verdict_model::UnitPath::parse("t/u1")?).await?;
    bytes.push(("subscription moved", frame_bytes(&core, v)));
    let v = core.feed().current().version();
    core.delete_subscription(&Actor::admin(), "target-2").await?;
    bytes.push(("subscription deleted", frame_bytes(&core, v)));
    let orders = core.orders(Some("target"), None, &verdict_store::Page { after: None, limit: 1 }).await?;
    let v = core.feed().current().version();
    core.lift_order(&Actor::admin(), &orders[0].id, "lifted by the benchmark").await?;
    bytes.push(("order lifted", frame_bytes(&core, v)));
    println!();
    println!("## bytes per change on the stream (the `data:` of one `changes` event)");
    println!("| change | bytes |");
    println!("|---|---|");
    let mut kinds: Vec<&str> = bytes.iter().map(|(k, _)| *k).collect();
    kinds.dedup();
    kinds.sort_unstable();
    kinds.dedup();
    for kind in kinds {
        let mut sizes: Vec<usize> = bytes.iter().filter(|(k, _)| *k == kind).map(|(_, b)| *b).collect();
        sizes.sort_unstable();
        println!("| {kind} | {} |", sizes[sizes.len() / 2]);
    }
    Ok(())
}

async fn snapshot_at_scale(subscriptions: usize, orders: usize) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let core = open(&dir).await?;
    let world = World::generate(&WorldConfig {
        tenants: (subscriptions / 100).max(1),
        units: (subscriptions / 10).max(1),
        subscriptions,
        orders,
        seed: 1,
    });
    eprintln!("loading {subscriptions} subscriptions and {orders} orders through the control plane…");
    let started = Instant::now();
    core.import(&Actor::admin(), world.inventory.clone(), &|_| ()).await?;
    for order in &world.orders {
        core.create_order(&Actor::admin(), order.spec.clone()).await?;
    }
    eprintln!("loaded in {:.1} s", started.elapsed().as_secs_f64());
    let base = serve(core.clone()).await?;
    let client = reqwest::Client::new();
    let mut fetches = Vec::new();
    let mut size = 0;
    for _ in 0..3 {
        let started = Instant::now();
        let body = client.get(format!("{base}/v1/snapshot")).bearer_auth(TOKEN).send().await?.bytes().await?;
        fetches.push(started.elapsed());
        size = body.len();
    }
    let started = Instant::now();
    let gzipped = client
        .get(format!("{base}/v1/snapshot"))
        .bearer_auth(TOKEN)
        .header("accept-encoding", "gzip")
        .send()
        .await?
        .bytes()
        .await?;
    let gzip_fetch = started.elapsed();
    let mut bootstraps = Vec::new();
    let mut replica = None;
    for _ in 0..3 {
        let started = Instant::now();
        let source = HttpSource::new(&base, TOKEN, Duration::from_secs(1))?;
        replica = Some(Replica::start(source, ReplicaOptions::default()).await?);
        bootstraps.push(started.elapsed());
    }
    let replica = replica.expect("three bootstraps");
    let server = core.snapshot();
    let requests = world.requests(200_000, 17);
    let mut agree = 0;
    for i in 0..requests.len() {
        let (sub, service, action, at) = requests.get(i);
        let (a, b) = (server.decide(sub, service, action, at), replica.snapshot().decide(sub, service, action, at));
        anyhow::ensure!(
            a.allowed == b.allowed
                && server.explain(&a, sub, service, action) == replica.snapshot().explain(&b, sub, service, action),
            "the replica decides {sub} {service} {action} differently"
        );
        agree += 1;
    }
    bootstraps[1..].sort_unstable();
    println!();
    println!("## the whole snapshot: {subscriptions} subscriptions, {orders} orders");
    println!("| measure | result |");
    println!("|---|---|");
    println!(
        "| document size (JSON, uncompressed) | {:.1} MB ({:.1} bytes per subscription) |",
        size as f64 / 1e6,
        size as f64 / subscriptions as f64
    );
    println!(
        "| document size gzipped (`Accept-Encoding: gzip`, what replicas fetch) | {:.1} MB ({:.1}× smaller) |",
        gzipped.len() as f64 / 1e6,
        size as f64 / gzipped.len() as f64
    );
    println!("| first GET /v1/snapshot (export, encode and gzip, then transfer) | {} |", ms(fetches[0]));
    println!("| later GET /v1/snapshot gzipped (cached; transfer only) | {} |", ms(gzip_fetch));
    println!("| later GET /v1/snapshot (cached encoding, transfer only) | {} |", ms(fetches[2]));
    println!(
        "| replica bootstrap over HTTP (fetch gzipped, inflate, parse, compile), median of the last two of three | {} (first: {}) |",
        ms(bootstraps[1]),
        ms(bootstraps[0])
    );
    println!("| replica agrees with the server | {agree} / {} requests |", requests.len());
    Ok(())
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let peps = arg(&args, "--peps", 100)?;
    let rounds = arg(&args, "--rounds", 20)?.max(2);
    let background = arg(&args, "--background", 10_000)?;
    let subscriptions = arg(&args, "--subscriptions", 1_000_000)?;
    let orders = arg(&args, "--orders", 10_000)?;
    let nats = args.iter().position(|a| a == "--nats").and_then(|i| args.get(i + 1)).cloned();
    let peps_list: Vec<usize> = match args.iter().position(|a| a == "--peps-list").and_then(|i| args.get(i + 1)) {
        Some(list) => list.split(',').map(|n| n.parse()).collect::<Result<_, _>>()?,
        None => vec![peps],
    };
    for &peps in &peps_list {
        time_to_enforce(peps, rounds, background, Transport::Sse, "").await?;
        if let Some(url) = &nats {
            time_to_enforce(peps, rounds, background, Transport::Nats, url).await?;
        }
    }
    if subscriptions > 0 {
        snapshot_at_scale(subscriptions, orders).await?;
    }
    Ok(())
}
