//! One scale of the engine benchmark: a world with a given number of
//! orders, verdict and its three peers timed on the same request stream,
//! and each peer's answers checked against verdict's.

use std::hint::black_box;
use std::time::{Duration, Instant};

use verdict_engine::{Change, Query, Snapshot};

use crate::{Agreement, CedarOutcome, CedarPdp, RegoPdp, RequestStream, Slicing, World, WorldConfig, compare};

/// How much of the request stream each engine answers, and how often.
#[derive(Debug, Clone, Copy)]
pub struct Effort {
    /// Requests in the stream verdict answers (each round).
    pub requests: usize,
    /// Requests Cedar with every policy answers.
    pub cedar_requests: usize,
    /// Requests Cedar sliced by principal answers.
    pub cedar_sliced_requests: usize,
    /// Requests Rego answers.
    pub rego_requests: usize,
    /// Rounds of verdict's stream; the median is reported.
    pub rounds: usize,
}

/// An engine's throughput on one thread and its per-request latency.
#[derive(Debug, Clone, Copy, Default)]
pub struct Timing {
    /// Decisions a second.
    pub rate: f64,
    /// Median latency of one decision, nanoseconds (timer included).
    pub p50_ns: u32,
    /// 99th percentile latency of one decision, nanoseconds.
    pub p99_ns: u32,
}

/// A peer's figures: its decision alone, and with the per-request work a
/// gateway would also pay (building Cedar's entities, Rego's input).
#[derive(Debug, Default)]
pub struct Peer {
    /// The decision with its request prebuilt.
    pub decision: Timing,
    /// Decisions a second with the request built too.
    pub with_request_built: f64,
    /// How its answers compare with verdict's.
    pub agreement: Agreement,
}

impl Peer {
    /// A peer's figures from a [`timed`] run of `n` requests whose
    /// preparation took `prepare`, and its answers compared.
    fn of(n: usize, elapsed: Duration, prepare: Duration, decision: Timing, agreement: Agreement) -> Peer {
        Peer { decision, with_request_built: n as f64 / (elapsed + prepare).as_secs_f64(), agreement }
    }
}

/// Everything one scale measured.
#[derive(Debug, Default)]
pub struct Scale {
    /// Orders in the world.
    pub orders: usize,
    /// Orders in force at the world's now.
    pub in_force: usize,
    /// Cedar policies in the whole set (permit-all included).
    pub cedar_policies: usize,
    /// verdict's single-call path (median of the rounds).
    pub decide: Timing,
    /// verdict's batch path, decisions a second (median of the rounds).
    pub decide_batch: f64,
    /// Cedar with its slices by principal put together once per unit and
    /// named subscription: the best Cedar encoding measured.
    pub cedar_cached: Peer,
    /// Cedar with its slice by principal put together per request.
    pub cedar_sliced: Peer,
    /// Rego through regorus.
    pub rego: Peer,
    /// Cedar with every policy on every request.
    pub cedar_whole: Peer,
    /// The detailed measures, as (what, value) rows.
    pub rows: Vec<(String, String)>,
}

impl Scale {
    /// The peers by name, in the order they are reported.
    pub fn peers(&self) -> [(&'static str, &Peer); 4] {
        [
            ("Cedar, slices cached per unit", &self.cedar_cached),
            ("Cedar sliced per request", &self.cedar_sliced),
            ("Rego", &self.rego),
            ("Cedar with every policy", &self.cedar_whole),
        ]
    }
}

/// Generates the world `config` describes and measures every engine on it.
pub fn measure(config: &WorldConfig, effort: &Effort) -> anyhow::Result<Scale> {
    let mut scale = Scale { orders: config.orders, ..Scale::default() };
    let mut rows: Vec<(String, String)> = Vec::new();
    let mut row = |what: &str, value: String| rows.push((what.to_owned(), value));

    eprintln!("[{} orders] generating the world…", config.orders);
    let start = Instant::now();
    let world = World::generate(config);
    let generation = start.elapsed();
    let start = Instant::now();
    let stream = world.requests(effort.requests, config.seed);
    let request_generation = start.elapsed();

    eprintln!("[{} orders] compiling…", config.orders);
    let start = Instant::now();
    let snapshot = Snapshot::compile(world.catalog.clone(), &world.inventory, &world.orders, 1)?;
    let compile = start.elapsed();
    let (tenants, units, subs, orders) = snapshot.counts();
    scale.in_force = snapshot.orders_in_force(world.now);
    row(
        "world",
        format!(
            "{} tenants, {} units, {} subscriptions, {} orders ({} in force at the world's now), seed {}",
            grouped(tenants as u64),
            grouped(units as u64),
            grouped(subs as u64),
            grouped(orders as u64),
            grouped(scale.in_force as u64),
            config.seed
        ),
    );
    row("world generation", human(generation));
    row(
        "request stream generation",
        format!("{} ({} requests)", human(request_generation), grouped(stream.len() as u64)),
    );
    row("full compile (`Snapshot::compile`)", human(compile));
    let (order_times, move_times) = single_changes(&world, &snapshot)?;
    row("apply one new order (`Snapshot::apply`, median of 50)", spread(order_times));
    if !move_times.is_empty() {
        row(&format!("apply one subscription move (median of {})", move_times.len()), spread(move_times));
    }

    // verdict: the single-call path and the batch path over the whole
    // stream, several rounds each; then each decision timed alone.
    eprintln!(
        "[{} orders] timing verdict over {} requests × {} rounds…",
        config.orders,
        grouped(stream.len() as u64),
        effort.rounds
    );
    let mut rates = Vec::new();
    let mut allowed = 0usize;
    for _ in 0..effort.rounds {
        allowed = 0;
        let start = Instant::now();
        for r in &stream.requests {
            let (sub, service, action, at) = stream.resolve(r);
            let d = snapshot.decide(black_box(sub), black_box(service), black_box(action), black_box(at));
            allowed += usize::from(black_box(d).allowed);
        }
        rates.push(stream.len() as f64 / start.elapsed().as_secs_f64());
    }
    let (slowest, fastest) = rates.iter().fold((f64::MAX, 0f64), |(lo, hi), r| (lo.min(*r), hi.max(*r)));
    let decide_rate = median(&mut rates);
    scale.decide_batch = time_batches(&snapshot, &stream, effort.rounds, allowed)?;
    let overhead = timer_overhead();
    let mut latencies: Vec<u32> = Vec::with_capacity(stream.len());
    for r in &stream.requests {
        let (sub, service, action, at) = stream.resolve(r);
        let start = Instant::now();
        let d = snapshot.decide(black_box(sub), black_box(service), black_box(action), black_box(at));
        black_box(d);
        latencies.push(nanos(start.elapsed()));
    }
    latencies.sort_unstable();
    scale.decide =
        Timing { rate: decide_rate, p50_ns: percentile(&latencies, 0.5), p99_ns: percentile(&latencies, 0.99) };
    row(
        &format!("verdict `decide`, 1 thread (median of {} rounds)", effort.rounds),
        format!(
            "{} ({:.1} ns/decision; rounds {}–{})",
            rate(decide_rate),
            1e9 / decide_rate,
            rate(slowest),
            rate(fastest)
        ),
    );
    row(
        &format!("verdict `decide_batch`, 1 thread (groups of {BATCH}, median of {} rounds)", effort.rounds),
        format!("{} ({:.1} ns/decision)", rate(scale.decide_batch), 1e9 / scale.decide_batch),
    );
    row(
        "verdict `decide` latency p50 / p99 / p99.9 (timer included)",
        format!(
            "{} / {} / {} ns (max {} ns)",
            percentile(&latencies, 0.5),
            percentile(&latencies, 0.99),
            percentile(&latencies, 0.999),
            latencies[latencies.len() - 1]
        ),
    );
    row(
        "timer overhead (empty timed region) p50 / p99",
        format!("{} / {} ns", percentile(&overhead, 0.5), percentile(&overhead, 0.99)),
    );
    row(
        "allowed",
        format!(
            "{:.2} % ({} of {})",
            100.0 * allowed as f64 / stream.len() as f64,
            grouped(allowed as u64),
            grouped(stream.len() as u64)
        ),
    );

    // Cedar: one encoding, asked with its policies sliced by principal
    // and with every policy.
    eprintln!("[{} orders] encoding the orders for Cedar…", config.orders);
    let start = Instant::now();
    let cedar = CedarPdp::new(&world.catalog, &world.inventory, &world.orders)?;
    row("Cedar policies parsed, indexed by principal, slices cached per unit", human(start.elapsed()));
    scale.cedar_policies = cedar.policy_count();

    let n_sliced = effort.cedar_sliced_requests.min(stream.len());
    eprintln!(
        "[{} orders] timing Cedar sliced by principal over {} requests…",
        config.orders,
        grouped(n_sliced as u64)
    );
    // Cedar given the policies `slicing` gives it, on requests prebuilt
    // in `prepare`.
    let cedar_peer = |prepared: &[crate::CedarRequest], prepare: Duration, slicing: Slicing| {
        let (responses, elapsed, decision) = timed(prepared, |request| cedar.authorize_with(request, slicing))?;
        let agreement = agreement_of(&snapshot, &stream, responses.iter().map(CedarOutcome::from));
        anyhow::Ok(Peer::of(prepared.len(), elapsed, prepare, decision, agreement))
    };
    let (prepared, prepare) = prepare_cedar(&cedar, &stream, n_sliced)?;
    let slice_sizes = prepared.iter().map(|r| cedar.cached_slice(r).policies().count()).sum::<usize>();
    scale.cedar_sliced = cedar_peer(&prepared, prepare, Slicing::ByPrincipal)?;
    // The same slices put together once: a lookup per request.
    scale.cedar_cached = cedar_peer(&prepared, prepare, Slicing::Cached)?;
    row("Cedar: request and entity slice building", format!("{:.1} µs/request", per_request_us(prepare, n_sliced)));
    row(
        "Cedar sliced: policies a slice on average",
        format!("{:.2} of {}", slice_sizes as f64 / n_sliced.max(1) as f64, grouped(scale.cedar_policies as u64)),
    );
    drop(prepared);

    let n_whole = effort.cedar_requests.min(stream.len());
    eprintln!(
        "[{} orders] timing Cedar over {} requests against {} policies…",
        config.orders,
        grouped(n_whole as u64),
        grouped(scale.cedar_policies as u64)
    );
    let (prepared, prepare) = prepare_cedar(&cedar, &stream, n_whole)?;
    scale.cedar_whole = cedar_peer(&prepared, prepare, Slicing::Whole)?;
    drop(prepared);
    drop(cedar);

    // Rego through regorus: the data built and the policy compiled once,
    // inputs prebuilt (as Cedar's entity slices), each evaluated.
    let n_rego = effort.rego_requests.min(stream.len());
    eprintln!("[{} orders] building the Rego data and compiling the policy…", config.orders);
    let start = Instant::now();
    let rego = RegoPdp::new(&world.catalog, &world.inventory, &world.orders)?;
    row("Rego data built and policy compiled (`regorus`)", human(start.elapsed()));
    eprintln!("[{} orders] timing Rego over {} requests…", config.orders, grouped(n_rego as u64));
    let start = Instant::now();
    let inputs: Vec<_> = (0..n_rego)
        .map(|i| {
            let (sub, service, action, at) = stream.get(i);
            rego.input(sub, service, action, at)
        })
        .collect();
    let prepare = start.elapsed();
    row("Rego: input building", format!("{:.1} µs/request", per_request_us(prepare, n_rego)));
    let (outcomes, elapsed, decision) = timed(&inputs, |input| rego.authorize(input.clone()))?;
    scale.rego = Peer::of(n_rego, elapsed, prepare, decision, agreement_of(&snapshot, &stream, outcomes.into_iter()));

    for (name, peer) in scale.peers() {
        row(
            &format!("{name}: decisions/s, 1 thread, request prebuilt (p50 / p99)"),
            format!(
                "{} ({} / {})",
                rate(peer.decision.rate),
                nanos_human(peer.decision.p50_ns),
                nanos_human(peer.decision.p99_ns)
            ),
        );
        row(&format!("{name}: decisions/s with the request built"), rate(peer.with_request_built));
        row(
            &format!("{name}: agreement with verdict"),
            format!("{}/{}", grouped(peer.agreement.agreed as u64), grouped(peer.agreement.checked as u64)),
        );
    }
    scale.rows = rows;
    Ok(scale)
}

/// Group size of the batch path.
const BATCH: usize = 1024;

/// Times `Snapshot::apply` for 50 new orders and up to 50 subscription
/// moves, each applied alone to `snapshot`.
fn single_changes(world: &World, snapshot: &Snapshot) -> anyhow::Result<(Vec<Duration>, Vec<Duration>)> {
    const CHANGES: u64 = 50;
    let mut order_times = Vec::new();
    for k in 0..CHANGES {
        let change = Change::PutOrder(world.new_order(k));
        let start = Instant::now();
        let next = snapshot.apply(std::slice::from_ref(&change), 2)?;
        order_times.push(start.elapsed());
        drop(black_box(next));
    }
    let mut move_times = Vec::new();
    let mut k = 0u64;
    while move_times.len() < CHANGES as usize && !world.inventory.subscriptions.is_empty() && k < 100 * CHANGES {
        let sub = (k as usize).wrapping_mul(7_919_993) % world.inventory.subscriptions.len();
        k += 1;
        let Some(unit) = world.move_target(sub, k) else {
            continue;
        };
        let id = world.inventory.subscriptions[sub].id.clone();
        let retained_by = snapshot.orders_covering(&id, world.now);
        let change = Change::MoveSubscription { id, unit: world.inventory.units[unit].path.clone(), retained_by };
        let start = Instant::now();
        let next = snapshot.apply(std::slice::from_ref(&change), 2)?;
        move_times.push(start.elapsed());
        drop(black_box(next));
    }
    Ok((order_times, move_times))
}

/// Median decisions a second of `decide_batch` over the stream in groups
/// of [`BATCH`]; fails unless it allows what the single path allowed.
fn time_batches(snapshot: &Snapshot, stream: &RequestStream, rounds: usize, allowed: usize) -> anyhow::Result<f64> {
    let mut rates = Vec::new();
    let mut queries: Vec<Query> = Vec::with_capacity(BATCH);
    let mut decisions = Vec::with_capacity(BATCH);
    for _ in 0..rounds {
        let mut batch_allowed = 0usize;
        let start = Instant::now();
        for chunk in stream.requests.chunks(BATCH) {
            queries.clear();
            queries.extend(chunk.iter().map(|r| {
                let (subscription, service, action, at) = stream.resolve(r);
                Query { subscription, service, action, at }
            }));
            decisions.clear();
            snapshot.decide_batch(black_box(&queries), &mut decisions);
            batch_allowed += decisions.iter().filter(|d| d.allowed).count();
        }
        rates.push(stream.len() as f64 / start.elapsed().as_secs_f64());
        anyhow::ensure!(batch_allowed == allowed, "the batch path allowed {batch_allowed}, the single path {allowed}");
    }
    Ok(median(&mut rates))
}

/// The first `n` requests of `stream` built for Cedar, and the time that took.
fn prepare_cedar(
    cedar: &CedarPdp<'_>,
    stream: &RequestStream,
    n: usize,
) -> anyhow::Result<(Vec<crate::CedarRequest>, Duration)> {
    let start = Instant::now();
    let mut prepared = Vec::with_capacity(n);
    for i in 0..n {
        let (sub, service, action, at) = stream.get(i);
        prepared.push(cedar.prepare(sub, service, action, at)?);
    }
    Ok((prepared, start.elapsed()))
}

/// Asks `ask` about each item twice: a run timed as a whole (the answers,
/// its time and the throughput, with no timer inside, as verdict's rate is
/// taken), then each call timed alone (the latencies).
fn timed<I, T>(
    items: &[I],
    mut ask: impl FnMut(&I) -> anyhow::Result<T>,
) -> anyhow::Result<(Vec<T>, Duration, Timing)> {
    let mut answers = Vec::with_capacity(items.len());
    let run = Instant::now();
    for item in items {
        answers.push(black_box(ask(item)?));
    }
    let elapsed = run.elapsed();
    let mut latencies = Vec::with_capacity(items.len());
    for item in items {
        let start = Instant::now();
        black_box(ask(item)?);
        latencies.push(nanos(start.elapsed()));
    }
    latencies.sort_unstable();
    let timing = Timing {
        rate: items.len() as f64 / elapsed.as_secs_f64(),
        p50_ns: percentile(&latencies, 0.5),
        p99_ns: percentile(&latencies, 0.99),
    };
    Ok((answers, elapsed, timing))
}

/// How a peer's outcomes on the first requests of `stream` compare with
/// verdict's decisions.
fn agreement_of(
    snapshot: &Snapshot,
    stream: &RequestStream,
    outcomes: impl Iterator<Item = CedarOutcome>,
) -> Agreement {
    let mut agreement = Agreement::default();
    for (i, outcome) in outcomes.enumerate() {
        let request = stream.get(i);
        let verdict_allowed = snapshot.decide(request.0, request.1, request.2, request.3).allowed;
        agreement.record(i, verdict_allowed, compare(snapshot, request, &outcome));
    }
    agreement
}

/// Latencies of a million empty timed regions, sorted.
fn timer_overhead() -> Vec<u32> {
    let mut overhead: Vec<u32> = Vec::with_capacity(1_000_000);
    for _ in 0..1_000_000 {
        let start = Instant::now();
        black_box(());
        overhead.push(nanos(start.elapsed()));
    }
    overhead.sort_unstable();
    overhead
}

fn nanos(d: Duration) -> u32 {
    u32::try_from(d.as_nanos()).unwrap_or(u32::MAX)
}

fn per_request_us(d: Duration, n: usize) -> f64 {
    d.as_secs_f64() * 1e6 / n.max(1) as f64
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn percentile(sorted: &[u32], p: f64) -> u32 {
    if sorted.is_empty() {
        return 0;
    }
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i]
}

/// The median of `samples` and their maximum.
fn spread(mut samples: Vec<Duration>) -> String {
    samples.sort();
    format!("{} (max {})", human(samples[samples.len() / 2]), human(samples[samples.len() - 1]))
}

/// `1234567` as `1,234,567`.
pub fn grouped(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A duration in the unit that reads best.
pub fn human(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s >= 1.0 {
        format!("{s:.2} s")
    } else if s >= 1e-3 {
        format!("{:.2} ms", s * 1e3)
    } else {
        format!("{:.1} µs", s * 1e6)
    }
}

/// Nanoseconds in the unit that reads best.
pub fn nanos_human(ns: u32) -> String {
    if ns < 1_000 { format!("{ns} ns") } else { human(Duration::from_nanos(u64::from(ns))) }
}

/// A rate a second, in k or M when large.
pub fn rate(per_second: f64) -> String {
    if per_second >= 1e6 {
        format!("{:.2} M/s", per_second / 1e6)
    } else if per_second >= 1e3 {
        format!("{:.1} k/s", per_second / 1e3)
    } else {
        format!("{per_second:.0} /s")
    }
}
