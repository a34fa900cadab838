//! `verdict-governance-bench`: governance actions through the real control
//! plane and SQLite store — the approval that makes an order take effect
//! (with its notice) from call to return, and state-changing governance
//! changes per second at several concurrencies. Each returns only once its
//! entries are fsync'd and covered by a signed checkpoint.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::json;
use verdict_bench::pg::BenchDatabase;
use verdict_control::{Actor, Core, Principal, SigningKey};
use verdict_model::{Role, Timestamp};
use verdict_store::SqliteStore;

const USAGE: &str = "usage: verdict-governance-bench [--seconds N] [--approvals N] [--rounds N] [--dir DIR]
       verdict-governance-bench --scale-out POSTGRES_URL [--seconds N] [--rounds N] [--dir DIR]

In a fresh data directory (default: under the system's temp dir, on the disk
a server would use), times --approvals approvals that complete an order
(approval, notice), then creates subscriptions at concurrency 1, 16 and 256
for N seconds each, --rounds times. Prints Markdown.

--scale-out compares durable, signed changes per second (concurrency 16 and
64, spread round-robin over the servers) on one server over SQLite, one over
PostgreSQL and three over one PostgreSQL database (three control planes, each
with its own connections and its follower, as three processes would have),
in a database it creates on that server and drops afterwards.

defaults: --seconds 5 --approvals 200 --rounds 3";

struct Options {
    seconds: u64,
    approvals: usize,
    rounds: usize,
    dir: Option<std::path::PathBuf>,
    scale_out: Option<String>,
}

fn parse(args: &[String]) -> anyhow::Result<Options> {
    let mut o = Options { seconds: 5, approvals: 200, rounds: 3, dir: None, scale_out: None };
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        if flag == "-h" || flag == "--help" {
            bail!("{USAGE}");
        }
        let value = it.next().with_context(|| format!("{flag} needs a value"))?;
        let number = || value.parse::<u64>().with_context(|| format!("{flag} takes a whole number, not {value:?}"));
        match flag.as_str() {
            "--seconds" => o.seconds = number()?.max(1),
            "--approvals" => o.approvals = number()?.max(1) as usize,
            "--rounds" => o.rounds = number()?.max(1) as usize,
            "--dir" => o.dir = Some(value.into()),
            "--scale-out" => o.scale_out = Some(value.clone()),
            _ => bail!("unknown option {flag:?}\n\n{USAGE}"),
        }
    }
    Ok(o)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

fn person(name: &str, role: Role) -> Principal {
    Principal { name: name.to_owned(), roles: vec![role], tenant: None, scope: None }
}

/// A tenant with one unit of 1,000 subscriptions, a clause and a case.
async fn world(core: &Core) -> anyhow::Result<String> {
    let subscriptions: Vec<_> = (0..1000)
        .map(|i| json!({"id": format!("s{i:04}"), "tenant": "mod", "unit": "signals", "services": ["storage.blob", "ai.vision"]}))
        .collect();
    let inventory = serde_json::from_value(
        json!({"tenants": [{"id": "mod", "kind": "government"}], "subscriptions": subscriptions}),
    )?;
    core.import(&Actor::admin(), inventory, &|_| ()).await?;
    let admin = person("admin", Role::Admin);
    let clause = serde_json::from_value(json!({"id": "AUP-2", "title": "No mass surveillance", "text": "None."}))?;
    core.publish_clause(&admin, clause).await?;
    let case = serde_json::from_value(json!({"tenant": "mod", "source_type": "third_party_report", "title": "Report",
        "units": ["signals"], "clauses": ["AUP-2"]}))?;
    Ok(core.open_case(&person("analyst", Role::Analyst), case).await?.id)
}

/// Times approvals that complete an order: the second of two.
async fn approvals(core: &Core, case: &str, n: usize) -> anyhow::Result<Vec<Duration>> {
    let now = Timestamp::now();
    let mut took = Vec::with_capacity(n);
    for _ in 0..n {
        let spec = serde_json::from_value(json!({"tenant": "mod", "clause": "AUP-2", "case_id": case,
            "scope": {"units": ["signals"]}, "services": ["storage.*"],
            "phases": [{"mode": "notice", "start": now}, {"mode": "disabled", "start": now.plus(86_400)}]}))?;
        let order = core.propose_order(&person("analyst", Role::Analyst), spec).await?;
        let hash = core.preview_order(&order.id).await?.hash;
        core.approve_order(&person("approver-a", Role::Approver), &order.id, Some(&hash), &[]).await?;
        let started = Instant::now();
        core.approve_order(&person("approver-b", Role::Approver), &order.id, Some(&hash), &[]).await?;
        took.push(started.elapsed());
    }
    took.sort();
    Ok(took)
}

/// Subscriptions created by `concurrency` callers for `seconds`, caller
/// `w` on server `w % servers.len()`: how many per second, and each one's
/// latency.
async fn changes(
    servers: &[Arc<Core>],
    concurrency: usize,
    seconds: u64,
    tag: &str,
) -> anyhow::Result<(f64, Vec<Duration>)> {
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let tasks: Vec<_> = (0..concurrency)
        .map(|w| {
            let core = servers[w % servers.len()].clone();
            let tag = tag.to_owned();
            tokio::spawn(async move {
                let mut took = Vec::new();
                let mut n = 0u64;
                while Instant::now() < deadline {
                    let sub = serde_json::from_value(json!({"id": format!("{tag}-{w}-{n}"), "tenant": "mod",
                        "unit": "signals", "services": ["storage.blob"]}))
                    .expect("a valid subscription");
                    let began = Instant::now();
                    core.create_subscription(&Actor::admin(), sub).await.map_err(|e| anyhow::anyhow!("{e}"))?;
                    took.push(began.elapsed());
                    n += 1;
                }
                anyhow::Ok(took)
            })
        })
        .collect();
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await??);
    }
    let rate = all.len() as f64 / started.elapsed().as_secs_f64();
    all.sort();
    Ok((rate, all))
}

/// Changes per second on one SQLite server, one PostgreSQL server and three
/// PostgreSQL servers over one database.
async fn scale_out(o: &Options, admin_url: &str) -> anyhow::Result<()> {
    let tmp = match &o.dir {
        Some(dir) => tempfile::tempdir_in(dir)?,
        None => tempfile::tempdir()?,
    };
    let key = SigningKey::generate("bench.verdict/log")?;
    println!("| store | servers | concurrency | changes/s per round | median | p50 / p99 latency (median round) |");
    println!("|---|---|---|---|---|---|");
    for (label, servers) in [("SQLite", 1usize), ("PostgreSQL", 1), ("PostgreSQL", 3)] {
        let database =
            if label == "PostgreSQL" { Some(BenchDatabase::create(admin_url, "governance").await?) } else { None };
        let spec = match &database {
            Some(db) => db.url.clone(),
            None => tmp.path().join(format!("{servers}.db")).display().to_string(),
        };
        let mut cores = Vec::new();
        let mut followers = Vec::new();
        for _ in 0..servers {
            let core = Arc::new(Core::open(verdict_store::open(&spec).await?, key.clone()).await?);
            followers.push(tokio::spawn(core.clone().follow_forever()));
            cores.push(core);
        }
        world(&cores[0]).await?;
        for core in &cores {
            core.follow().await?;
        }
        for concurrency in [16, 64] {
            let mut rounds = Vec::new();
            for round in 0..o.rounds {
                let tag = format!("{label}{servers}c{concurrency}r{round}");
                rounds.push(changes(&cores, concurrency, o.seconds, &tag).await?);
            }
            let rates: Vec<String> = rounds.iter().map(|(r, _)| format!("{r:.0}")).collect();
            let mut by_rate: Vec<usize> = (0..rounds.len()).collect();
            by_rate.sort_by(|a, b| rounds[*a].0.total_cmp(&rounds[*b].0));
            let (rate, took) = &rounds[by_rate[by_rate.len() / 2]];
            println!(
                "| {label} | {servers} | {concurrency} | {} | **{rate:.0}/s** | {} / {} |",
                rates.join(" / "),
                ms(percentile(took, 0.5)),
                ms(percentile(took, 0.99))
            );
        }
        for follower in followers {
            follower.abort();
        }
        drop(cores);
        if let Some(db) = database {
            db.drop_now().await?;
        }
    }
    Ok(())
}

async fn run(o: Options) -> anyhow::Result<()> {
    if let Some(admin_url) = o.scale_out.clone() {
        return scale_out(&o, &admin_url).await;
    }
    let tmp = match &o.dir {
        Some(dir) => tempfile::tempdir_in(dir)?,
        None => tempfile::tempdir()?,
    };
    let store = Arc::new(SqliteStore::open(&tmp.path().join("verdict.db")).await?);
    let core = Arc::new(Core::open(store, SigningKey::generate("bench.verdict/log")?).await?);
    let case = world(&core).await?;

    println!("| round | approval p50 | approval p99 |");
    println!("|---|---|---|");
    let mut medians = Vec::new();
    for round in 1..=o.rounds {
        let took = approvals(&core, &case, o.approvals).await?;
        println!("| {round} | {} | {} |", ms(percentile(&took, 0.5)), ms(percentile(&took, 0.99)));
        medians.push(percentile(&took, 0.5));
    }
    medians.sort();
    println!(
        "\napproval that completes an order (approval + notice), median of round medians: {}\n",
        ms(medians[medians.len() / 2])
    );

    println!("| concurrency | changes/s per round | median | p50 / p99 latency (median round) |");
    println!("|---|---|---|---|");
    for concurrency in [1, 16, 256] {
        let mut rounds = Vec::new();
        for round in 0..o.rounds {
            rounds.push(
                changes(std::slice::from_ref(&core), concurrency, o.seconds, &format!("c{concurrency}r{round}"))
                    .await?,
            );
        }
        let rates: Vec<String> = rounds.iter().map(|(r, _)| format!("{r:.0}")).collect();
        let mut by_rate: Vec<usize> = (0..rounds.len()).collect();
        by_rate.sort_by(|a, b| rounds[*a].0.total_cmp(&rounds[*b].0));
        let (rate, took) = &rounds[by_rate[by_rate.len() / 2]];
        println!(
            "| {concurrency} | {} | **{rate:.0}/s** | {} / {} |",
            rates.join(" / "),
            ms(percentile(took, 0.5)),
            ms(percentile(took, 0.99))
        );
    }
    Ok(())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let options = match parse(&args) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("cannot start the runtime: {e}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(run(options)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("verdict-governance-bench: {e:#}");
            ExitCode::FAILURE
        }
    }
}
