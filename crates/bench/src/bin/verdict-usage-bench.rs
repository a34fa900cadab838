//! `verdict-usage-bench`: usage metadata at scale — 100,000 subscriptions
//! × 10 meters. Events aggregated per second on one core in process (hour
//! slices only, and from NDJSON text through the event checks), over HTTP
//! as NDJSON on loopback into SQLite, rule evaluation time per unit at a
//! window's close, and memory per series.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde_json::json;
use verdict_bench::number_arg as arg;
use verdict_control::{Actor, Core, SigningKey};
use verdict_detect::{Batch, Member, Rule, Series, SeriesKey, Tenancy, unit_targets};
use verdict_model::{Catalog, MeterKind, Role, Timestamp, UnitPath, UsageEvent, User};
use verdict_server::{AppState, Tokens};
use verdict_store::SqliteStore;

/// Ten meters over the services a subscription of the bench has.
const METERS: [(&str, &str); 10] = [
    ("ai.speech-to-text", "audio_seconds"),
    ("ai.speech-to-text", "requests"),
    ("ai.translation", "characters"),
    ("ai.translation", "requests"),
    ("storage.blob", "bytes_stored"),
    ("storage.blob", "bytes_ingress"),
    ("storage.blob", "bytes_egress"),
    ("storage.blob", "objects_written"),
    ("compute.vm", "vcpu_seconds"),
    ("ai.vision", "images"),
];

const TENANT: &str = "bench";

fn subscription(i: usize) -> String {
    format!("sub-{i:06}")
}

/// Event `n` of a stream over `subscriptions` × the meters, within the
/// last hour before `now`.
fn event(n: usize, subscriptions: usize, now: Timestamp) -> UsageEvent {
    let (service, meter) = METERS[n % METERS.len()];
    UsageEvent {
        tenant: TENANT.into(),
        subscription: subscription((n / METERS.len()) % subscriptions),
        service: service.into(),
        meter: meter.into(),
        quantity: (n % 1000) as f64,
        region: Some("westeurope".into()),
        time: now.plus(-((n % 3000) as i64) - 1),
        id: None,
    }
}

fn line(e: &UsageEvent, id: Option<String>) -> String {
    let mut v = json!({"tenant": e.tenant, "subscription": e.subscription, "service": e.service, "meter": e.meter,
        "quantity": e.quantity, "region": e.region, "time": e.time.to_string()});
    if let Some(id) = id {
        v["id"] = id.into();
    }
    format!("{v}\n")
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn rss_bytes() -> usize {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1).and_then(|p| p.parse::<usize>().ok()))
        .map_or(0, |pages| pages * 4096)
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let subscriptions = arg(&args, "--subscriptions", 100_000)?;
    let events = arg(&args, "--events", 2_000_000)?;
    let rounds = arg(&args, "--rounds", 3)?.max(1);
    let http_events = arg(&args, "--http-events", 1_000_000)?;
    let batch_size = arg(&args, "--batch", 50_000)?;
    let now = Timestamp::now();
    let catalog = Catalog::builtin();
    println!(
        "Usage at {subscriptions} subscriptions × {} meters ({} series):",
        METERS.len(),
        subscriptions * METERS.len()
    );
    println!();

    // 1. In process, one core: hour slices only, from checked events.
    let stream: Vec<UsageEvent> = (0..events).map(|n| event(n, subscriptions, now)).collect();
    let mut rates = Vec::new();
    let mut slices = 0;
    for _ in 0..rounds {
        let start = Instant::now();
        let mut batch = Batch::default();
        for e in &stream {
            batch.add(e);
        }
        rates.push(events as f64 / start.elapsed().as_secs_f64());
        slices = batch.len();
    }
    let aggregate = median(rates);
    // From NDJSON text, through the checks every event passes.
    let text: Vec<String> = stream.iter().take(events / 4).map(|e| line(e, None)).collect();
    let mut rates = Vec::new();
    for _ in 0..rounds {
        let start = Instant::now();
        let mut batch = Batch::default();
        for l in &text {
            let e = UsageEvent::parse_line(l.trim_end().as_bytes(), &catalog, now.plus(-48 * 3600), now.plus(300))
                .map_err(|e| anyhow::anyhow!("{e:?}"))?;
            batch.add(&e);
        }
        rates.push(text.len() as f64 / start.elapsed().as_secs_f64());
    }
    let parsed = median(rates);
    println!("| measure | median | target |");
    println!("|---|---|---|");
    println!(
        "| events into hour slices, one core, in process ({events} events → {slices} slices) | {:.0} events/s | ≥ 2,000,000 {} |",
        aggregate,
        if aggregate >= 2e6 { "✅" } else { "❌" }
    );
    println!("| the same from NDJSON lines through the event checks, one core | {parsed:.0} events/s | — |");

    // 2. Rule evaluation per unit at a window's close: a tenant of the
    // subscriptions in 1,000 units, 7 days of hourly slices of the rule's
    // two meters.
    let units = (subscriptions / 100).max(1);
    let members: Vec<Member> = (0..subscriptions)
        .map(|i| Member {
            subscription: subscription(i),
            unit: UnitPath::parse(&format!("division-{}/unit-{}", i % 10, i % units)).expect("a unit path"),
            region: "westeurope".into(),
        })
        .collect();
    let end = verdict_detect::hour_of(now);
    let hours = 7 * 24 + 1;
    let before = rss_bytes();
    let mut series: BTreeMap<SeriesKey, Series> = BTreeMap::new();
    for i in 0..subscriptions {
        for (service, meter, kind) in [
            ("ai.speech-to-text", "audio_seconds", MeterKind::Counter),
            ("storage.blob", "bytes_stored", MeterKind::Gauge),
        ] {
            let mut s = Series::new(kind);
            for h in 0..hours {
                s.add(end - (hours as i64 - h as i64) * 3600, (i % 97 + h) as f64);
            }
            series.insert(SeriesKey { subscription: subscription(i), service: service.into(), meter: meter.into() }, s);
        }
    }
    let per_series = (rss_bytes().saturating_sub(before)) as f64 / (2 * subscriptions) as f64;
    let tenancy = Tenancy { tenant: TENANT, kind: "government", members: &members };
    let start = Instant::now();
    let targets = unit_targets(&tenancy, &series);
    let rollup = start.elapsed();
    let rule = Rule::compile(
        r#"sum("ai.speech-to-text", "audio_seconds", "1d") > 3.6e6 && growth("storage.blob", "bytes_stored", "7d") > 4.0"#,
        &catalog,
    )?;
    let mut per = Vec::new();
    for _ in 0..rounds {
        let start = Instant::now();
        let mut fired = 0;
        for t in &targets {
            fired += usize::from(rule.evaluate(t, end)?.fires);
        }
        std::hint::black_box(fired);
        per.push(start.elapsed().as_secs_f64() * 1e6 / targets.len() as f64);
    }
    println!(
        "| rule evaluation per unit at a window's close ({} units with their subscriptions rolled up) | {:.1} µs | — |",
        targets.len(),
        median(per)
    );
    println!(
        "| rolling {} subscriptions' series up into their units | {:.0} ms | — |",
        subscriptions,
        rollup.as_secs_f64() * 1e3
    );
    println!(
        "| memory per series in evaluation, 7 days of hourly slices | {:.0} bytes ({:.1} per hour) | — |",
        per_series,
        per_series / hours as f64
    );
    drop(series);
    drop(targets);

    // 3. Over HTTP: NDJSON batches on loopback into SQLite, every event
    // with an id (a resent event counts once).
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    runtime.block_on(async {
        let dir = tempfile::tempdir()?;
        let store = Arc::new(SqliteStore::open(&dir.path().join("verdict.db")).await?);
        let core = Arc::new(Core::open(store, SigningKey::generate("verdict.bench/log")?).await?);
        let subs: Vec<_> = (0..subscriptions)
            .map(|i| json!({"id": subscription(i), "tenant": TENANT, "unit": format!("division-{}/unit-{}", i % 10, i % units),
                "services": ["ai.speech-to-text", "ai.translation", "ai.vision", "storage.blob", "compute.vm"]}))
            .collect();
        let inventory = serde_json::from_value(json!({"tenants": [{"id": TENANT, "kind": "government"}], "subscriptions": subs}))?;
        core.import(&Actor::admin(), inventory, &|_| ()).await?;
        let meter = User { name: "metering".into(), roles: vec![Role::Meter], tenant: None, scope: None,
            created_at: Default::default(), revoked_at: None };
        let token = core.add_user(&Actor::admin(), meter).await?.1;
        let state = Arc::new(AppState::new(core.clone(), Tokens { admin: "admin".into(), pep: "pep".into() }));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let base = format!("http://{}", listener.local_addr()?);
        tokio::spawn(async move { axum::serve(listener, verdict_server::router(state)).await });
        // The control plane alone, without HTTP and parsing.
        let direct: Vec<(usize, UsageEvent)> = (0..batch_size)
            .map(|n| {
                let mut e = event(n, subscriptions, Timestamp::now());
                e.id = Some(format!("direct-{n}"));
                (n + 1, e)
            })
            .collect();
        let start = Instant::now();
        core.ingest_usage(&direct).await?;
        let direct_rate = batch_size as f64 / start.elapsed().as_secs_f64();
        println!("| the control plane alone: one batch of {batch_size} checked events into SQLite | {direct_rate:.0} events/s | — |");
        // Two rounds of the same series: in the first every series is new
        // to the store (numbered as it is counted); the second is the
        // steady state of a metering pipeline, hour after hour. Two
        // requests in flight, as a pipeline with two senders would have.
        let http = reqwest::Client::new();
        for (round, prefix) in [
            ("every series new, every event with an id", Some("e")),
            ("series known (steady state), every event with an id", Some("s")),
            ("series known, events without ids", None),
        ] {
            let bodies: Vec<String> = (0..http_events.div_ceil(batch_size))
                .map(|b| {
                    (b * batch_size..((b + 1) * batch_size).min(http_events))
                        .map(|n| line(&event(n, subscriptions, Timestamp::now()), prefix.map(|p| format!("{p}{n}"))))
                        .collect()
                })
                .collect();
            let start = Instant::now();
            let sends = futures_util::stream::iter(bodies.into_iter().map(|body| {
                let http = http.clone();
                let url = format!("{base}/v1/usage");
                let token = token.clone();
                async move {
                    let r = http
                        .post(url)
                        .bearer_auth(&token)
                        .header("content-type", "application/x-ndjson")
                        .body(body)
                        .timeout(Duration::from_secs(300))
                        .send()
                        .await?;
                    anyhow::ensure!(r.status().is_success(), "{}", r.text().await?);
                    anyhow::Ok(())
                }
            }))
            .buffer_unordered(2);
            let results: Vec<anyhow::Result<()>> = sends.collect().await;
            results.into_iter().collect::<anyhow::Result<Vec<()>>>()?;
            let rate = http_events as f64 / start.elapsed().as_secs_f64();
            println!(
                "| over HTTP into SQLite, {round}: NDJSON batches of {batch_size} on loopback, 2 in flight ({http_events} events) | {rate:.0} events/s | ≥ 500,000 {} |",
                if rate >= 5e5 { "✅" } else { "❌" }
            );
        }
        let db = std::fs::metadata(dir.path().join("verdict.db")).map(|m| m.len()).unwrap_or(0);
        println!("| SQLite file after the HTTP run (slices and ids) | {:.1} MiB | — |", db as f64 / 1048576.0);
        anyhow::Ok(())
    })?;
    Ok(())
}
