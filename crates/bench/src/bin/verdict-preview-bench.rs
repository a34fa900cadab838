//! `verdict-preview-bench`: the blast-radius preview and diff at scale,
//! through the real control plane over SQLite: a 1,000,000-subscription
//! world, plus a tenant whose unit holds 10,000 subscriptions (preview) and
//! a tenant of 100,000 subscriptions (diff).

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use verdict_bench::{World, WorldConfig, number_arg as arg};
use verdict_control::{Actor, Core, SigningKey};
use verdict_model::{Inventory, OrderSpec, Timestamp};
use verdict_store::SqliteStore;

/// A tenant `id` with `units` units of `per_unit` subscriptions each.
fn tenant(id: &str, units: usize, per_unit: usize) -> Inventory {
    let mut subs = Vec::with_capacity(units * per_unit);
    for u in 0..units {
        for s in 0..per_unit {
            subs.push(json!({"id": format!("{id}-u{u}-s{s}"), "tenant": id, "unit": format!("div/u{u}"),
                "services": ["storage.blob", "ai.vision", "security.defender"], "region": "westeurope"}));
        }
    }
    serde_json::from_value(json!({"tenants": [{"id": id, "kind": "government"}], "units": [], "subscriptions": subs}))
        .expect("a valid inventory")
}

fn order(tenant: &str, unit: &str) -> OrderSpec {
    let now = Timestamp::now();
    serde_json::from_value(json!({"tenant": tenant, "clause": "AUP-2", "scope": {"units": [unit]},
        "services": ["storage.*", "ai.*"], "exempt": ["security.*"],
        "phases": [{"mode": "notice", "start": now.plus(3600)}, {"mode": "export_only", "start": now.plus(86_400)},
                   {"mode": "disabled", "start": now.plus(7 * 86_400)}]}))
    .expect("a valid order")
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort_unstable();
    v[v.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1e3)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let subscriptions = arg(&args, "--subscriptions", 1_000_000)?;
    let rounds = arg(&args, "--rounds", 5)?.max(1);
    eprintln!("generating a {subscriptions}-subscription world and loading it through the control plane…");
    let world = World::generate(&WorldConfig {
        tenants: (subscriptions / 100).max(1),
        units: (subscriptions / 10).max(1),
        subscriptions,
        orders: 0,
        seed: 3,
    });
    let dir = tempfile::tempdir()?;
    let store = Arc::new(SqliteStore::open(&dir.path().join("verdict.db")).await?);
    let core = Core::open(store, SigningKey::generate("bench.verdict/log")?).await?;
    let started = Instant::now();
    core.import(&Actor::admin(), world.inventory, &|_| ()).await?;
    core.import(&Actor::admin(), tenant("unit10k", 2, 10_000), &|_| ()).await?;
    core.import(&Actor::admin(), tenant("big", 10, 10_000), &|_| ()).await?;
    eprintln!("loaded in {:.1} s", started.elapsed().as_secs_f64());
    let (indexed, bytes) = core.inventory_index_footprint();
    eprintln!("inventory index: {indexed} subscriptions in about {:.1} MiB", bytes as f64 / (1024.0 * 1024.0));

    let mut preview_times = Vec::new();
    let mut diff_times = Vec::new();
    let (mut affected, mut untouched, mut changes) = (0, 0, 0);
    for _ in 0..rounds {
        let t = Instant::now();
        let preview = core.preview(&order("unit10k", "div/u0"), None).await?;
        preview_times.push(t.elapsed());
        affected = preview.summary.affected_subscriptions;
        untouched = preview.summary.untouched_subscriptions;
        let t = Instant::now();
        let diff = core.diff(&order("big", "div/u3"), None).await?;
        diff_times.push(t.elapsed());
        changes = diff.changes.len();
    }
    println!("| measure | median of {rounds} | target |");
    println!("|---|---|---|");
    println!(
        "| preview, order on a unit of 10,000 subscriptions ({affected} affected, {untouched} untouched), {subscriptions}-subscription inventory | {} | ≤ 50 ms |",
        ms(median(preview_times))
    );
    println!(
        "| diff, tenant of 100,000 subscriptions, order on a unit of 10,000 ({changes} changes listed) | {} | ≤ 500 ms |",
        ms(median(diff_times))
    );
    Ok(())
}
