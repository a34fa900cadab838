//! `verdict-log-bench`: durable transparency-log appends through the real
//! control plane and SQLite store (fsync'd, covered by a signed checkpoint
//! before each append returns), at several concurrencies; integration
//! latency under a steady offered load; and offline receipt verification.

use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::json;
use verdict_control::{Actor, Core, SigningKey};
use verdict_log::{Receipt, leaf_hash};
use verdict_store::SqliteStore;

const USAGE: &str = "usage: verdict-log-bench [--seconds N] [--rate N] [--latency-seconds N] [--dir DIR]

Appends ~1 KiB entries to a fresh log in DIR (default: a temporary directory
under the system's temp dir, i.e. on the disk the server would use) at
concurrency 1, 16 and 256 for N seconds each, then offers --rate appends/s
for --latency-seconds and reports integration latency, then times receipt
verification. Prints Markdown.

defaults: --seconds 5 --rate 1000 --latency-seconds 10";

struct Options {
    seconds: u64,
    rate: u64,
    latency_seconds: u64,
    dir: Option<std::path::PathBuf>,
}

fn parse(args: &[String]) -> anyhow::Result<Options> {
    let mut o = Options { seconds: 5, rate: 1000, latency_seconds: 10, dir: None };
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        if flag == "-h" || flag == "--help" {
            bail!("{USAGE}");
        }
        let value = it.next().with_context(|| format!("{flag} needs a value"))?;
        let number = || value.parse::<u64>().with_context(|| format!("{flag} takes a whole number, not {value:?}"));
        match flag.as_str() {
            "--seconds" => o.seconds = number()?.max(1),
            "--rate" => o.rate = number()?.max(1),
            "--latency-seconds" => o.latency_seconds = number()?.max(1),
            "--dir" => o.dir = Some(value.into()),
            _ => bail!("unknown option {flag:?}\n\n{USAGE}"),
        }
    }
    Ok(o)
}

/// A public part that makes the whole entry about 1 KiB.
fn payload() -> serde_json::Value {
    json!({"note": "x".repeat(860)})
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

async fn append(core: &Core) -> anyhow::Result<u64> {
    Ok(core.record(&Actor::system(), "bench.appended", None, payload(), json!({})).await?)
}

async fn throughput(core: &Arc<Core>, concurrency: usize, seconds: u64) -> anyhow::Result<(f64, Duration, Duration)> {
    let stop = Arc::new(AtomicBool::new(false));
    let count = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let tasks: Vec<_> = (0..concurrency)
        .map(|_| {
            let (core, stop, count) = (core.clone(), stop.clone(), count.clone());
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    let t = Instant::now();
                    append(&core).await?;
                    latencies.push(t.elapsed());
                    count.fetch_add(1, Ordering::Relaxed);
                }
                anyhow::Ok(latencies)
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    stop.store(true, Ordering::Relaxed);
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await??);
    }
    let elapsed = started.elapsed().as_secs_f64();
    latencies.sort_unstable();
    Ok((count.load(Ordering::Relaxed) as f64 / elapsed, percentile(&latencies, 0.5), percentile(&latencies, 0.99)))
}

async fn steady(core: &Arc<Core>, rate: u64, seconds: u64) -> anyhow::Result<(Vec<Duration>, u64)> {
    let interval = Duration::from_nanos(1_000_000_000 / rate);
    let total = rate * seconds;
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(total as usize);
    for n in 0..total {
        // Open loop: each append is due at its slot, whatever happened to
        // the earlier ones; latency counts from the slot.
        let due = started + interval * n as u32;
        tokio::time::sleep_until(due.into()).await;
        let core = core.clone();
        tasks.push(tokio::spawn(async move {
            append(&core).await?;
            anyhow::Ok(due.elapsed())
        }));
    }
    let mut latencies = Vec::with_capacity(tasks.len());
    for task in tasks {
        latencies.push(task.await??);
    }
    latencies.sort_unstable();
    Ok((latencies, total))
}

async fn run(options: Options) -> anyhow::Result<()> {
    let tmp = match &options.dir {
        Some(dir) => {
            std::fs::create_dir_all(dir)?;
            tempfile::tempdir_in(dir)?
        }
        None => tempfile::tempdir()?,
    };
    let store = Arc::new(SqliteStore::open(&tmp.path().join("verdict.db")).await?);
    let core = Arc::new(Core::open(store, SigningKey::generate("bench.verdict/log")?).await?);
    append(&core).await?;
    let entry_size = core.log_record(0).await?.entry.len();

    println!("| concurrency | durable appends/s | latency p50 | latency p99 |");
    println!("|---|---|---|---|");
    for concurrency in [1usize, 16, 256] {
        eprintln!("appending at concurrency {concurrency} for {} s…", options.seconds);
        let (rate, p50, p99) = throughput(&core, concurrency, options.seconds).await?;
        println!("| {concurrency} | {rate:.0} | {} | {} |", ms(p50), ms(p99));
    }

    eprintln!("offering {} appends/s for {} s…", options.rate, options.latency_seconds);
    let (latencies, total) = steady(&core, options.rate, options.latency_seconds).await?;
    println!();
    println!(
        "Integration latency at {} appends/s offered ({total} appends, open loop): p50 {}, p99 {}, max {}.",
        options.rate,
        ms(percentile(&latencies, 0.5)),
        ms(percentile(&latencies, 0.99)),
        ms(*latencies.last().unwrap_or(&Duration::ZERO))
    );

    // Receipt verification, as `verdict log verify-receipt` does it: parse,
    // hash the entry, open the checkpoint, check the inclusion proof.
    let size = core.checkpoint().checkpoint.size;
    let receipt = core.receipt(size / 2).await?;
    let text = receipt.to_text();
    let key = core.log_key();
    let rounds = 20_000;
    let mut times = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        let t = Instant::now();
        let parsed = Receipt::parse(&text)?;
        let entry = parsed.extra.as_deref().context("the receipt carries its entry")?;
        parsed.verify(&key, &leaf_hash(entry))?;
        times.push(t.elapsed());
    }
    times.sort_unstable();
    println!();
    println!(
        "Receipt verification (parse + leaf hash + Ed25519 checkpoint signature + {}-hash inclusion proof, tree of {size}): median {:.1} µs, p99 {:.1} µs over {rounds}.",
        receipt.proof.len(),
        percentile(&times, 0.5).as_secs_f64() * 1e6,
        percentile(&times, 0.99).as_secs_f64() * 1e6
    );
    println!();
    println!("Entry size: {entry_size} bytes. Log directory: {}.", tmp.path().display());
    Ok(())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let options = match parse(&args) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("{e:#}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cannot start the runtime: {e}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(run(options)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
