//! `verdict-bench engine`: verdict's decision engine at scale, against Cedar
//! holding the same orders, on identical requests with identical answers.

use std::hint::black_box;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use verdict_bench::{Agreement, CedarOutcome, CedarPdp, RegoPdp, RequestStream, World, WorldConfig, compare};
use verdict_engine::{Change, Query, Snapshot};

const USAGE: &str = "usage: verdict-bench engine [--subscriptions N] [--units N] [--tenants N] [--orders N] \
[--requests N] [--cedar-requests N] [--cedar-sliced-requests N] [--rego-requests N] [--rounds N] [--seed N]

Generates a seeded world, compiles it into a verdict snapshot and into Cedar
policies, times both engines on the same request stream and checks that they
agree on every request Cedar is asked. Prints a Markdown table on stdout;
exits 1 if the engines disagree on any request.

defaults: --subscriptions 1000000 --units 100000 --tenants 10000 --orders 10000
          --requests 10000000 --cedar-requests 2000 --cedar-sliced-requests 100000
          --rego-requests 20000 --rounds 5 --seed 1

Cedar is measured twice: with every policy on every request, and sliced by
principal (only the policies whose scope names the request's subscription
or one of its units, from an index built once); OPA's Rego is evaluated by
regorus over the same orders and inventory as data.";

struct Options {
    world: WorldConfig,
    requests: usize,
    cedar_requests: usize,
    cedar_sliced_requests: usize,
    rego_requests: usize,
    rounds: usize,
}

fn parse_args(args: &[String]) -> anyhow::Result<Options> {
    let mut options = Options {
        world: WorldConfig::default(),
        requests: 10_000_000,
        cedar_requests: 2_000,
        cedar_sliced_requests: 100_000,
        rego_requests: 20_000,
        rounds: 5,
    };
    let mut it = args.iter();
    match it.next().map(String::as_str) {
        Some("engine") => {}
        Some("-h" | "--help") | None => bail!("{USAGE}"),
        Some(other) => bail!("unknown subcommand {other:?}\n\n{USAGE}"),
    }
    while let Some(flag) = it.next() {
        if flag == "-h" || flag == "--help" {
            bail!("{USAGE}");
        }
        let value = it.next().with_context(|| format!("{flag} needs a value"))?;
        let number: u64 = value
            .replace(['_', ','], "")
            .parse()
            .with_context(|| format!("{flag} takes a whole number, not {value:?}"))?;
        let n = usize::try_from(number)?;
        match flag.as_str() {
            "--subscriptions" => options.world.subscriptions = n,
            "--units" => options.world.units = n,
            "--tenants" => options.world.tenants = n,
            "--orders" => options.world.orders = n,
            "--requests" => options.requests = n,
            "--cedar-requests" => options.cedar_requests = n,
            "--cedar-sliced-requests" => options.cedar_sliced_requests = n,
            "--rego-requests" => options.rego_requests = n,
            "--rounds" => options.rounds = n.max(1),
            "--seed" => options.world.seed = number,
            _ => bail!("unknown option {flag:?}\n\n{USAGE}"),
        }
    }
    if options.world.tenants == 0 || options.world.units == 0 {
        bail!("--tenants and --units must be at least 1");
    }
    if [options.requests, options.cedar_requests, options.cedar_sliced_requests, options.rego_requests].contains(&0) {
        bail!("--requests, --cedar-requests, --cedar-sliced-requests and --rego-requests must be at least 1");
    }
    Ok(options)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let options = match parse_args(&args[1..]) {
        Ok(options) => options,
        Err(e) => {
            eprintln!("{e:#}");
            return ExitCode::from(2);
        }
    };
    match run(&args, &options) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
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

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn percentile(sorted: &[u32], p: f64) -> u32 {
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i]
}

/// `1234567` as `1,234,567`.
fn grouped(n: u64) -> String {
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

fn human(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s >= 1.0 {
        format!("{s:.2} s")
    } else if s >= 1e-3 {
        format!("{:.2} ms", s * 1e3)
    } else {
        format!("{:.1} µs", s * 1e6)
    }
}

fn rate(per_second: f64) -> String {
    if per_second >= 1e6 {
        format!("{:.2} M/s", per_second / 1e6)
    } else if per_second >= 1e3 {
        format!("{:.1} k/s", per_second / 1e3)
    } else {
        format!("{per_second:.0} /s")
    }
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|text| {
            text.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown".to_owned())
}

fn median_duration(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn run(args: &[String], options: &Options) -> anyhow::Result<bool> {
    let w = options.world;
    let mut rows: Vec<(String, String)> = Vec::new();
    let mut row = |what: &str, value: String| rows.push((what.to_owned(), value));

    eprintln!("generating the world…");
    let start = Instant::now();
    let world = World::generate(&w);
    let generation = start.elapsed();
    let start = Instant::now();
    let stream = world.requests(options.requests, w.seed);
    let request_generation = start.elapsed();

    eprintln!("compiling…");
    let start = Instant::now();
    let snapshot = Snapshot::compile(world.catalog.clone(), &world.inventory, &world.orders, 1)?;
    let compile = start.elapsed();
    let (tenants, units, subs, orders) = snapshot.counts();
    let in_force = snapshot.orders_in_force(world.now);

    eprintln!("applying single changes…");
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

    eprintln!("timing verdict over {} requests × {} rounds…", grouped(stream.len() as u64), options.rounds);
    let mut rates = Vec::new();
    let mut allowed = 0usize;
    for _ in 0..options.rounds {
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
    let verdict_rate = median(&mut rates);

    eprintln!("timing verdict's batch path (groups of {BATCH})…");
    const BATCH: usize = 1024;
    let mut batch_rates = Vec::new();
    let mut queries: Vec<Query> = Vec::with_capacity(BATCH);
    let mut decisions = Vec::with_capacity(BATCH);
    for _ in 0..options.rounds {
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
        batch_rates.push(stream.len() as f64 / start.elapsed().as_secs_f64());
        anyhow::ensure!(batch_allowed == allowed, "the batch path allowed {batch_allowed}, the single path {allowed}");
    }
    let batch_rate = median(&mut batch_rates);

    eprintln!("timing single decisions…");
    let mut overhead: Vec<u32> = Vec::with_capacity(1_000_000);
    for _ in 0..1_000_000 {
        let start = Instant::now();
        black_box(());
        overhead.push(start.elapsed().as_nanos() as u32);
    }
    overhead.sort_unstable();
    let mut latencies: Vec<u32> = Vec::with_capacity(stream.len());
    for r in &stream.requests {
        let (sub, service, action, at) = stream.resolve(r);
        let start = Instant::now();
        let d = snapshot.decide(black_box(sub), black_box(service), black_box(action), black_box(at));
        black_box(d);
        latencies.push(start.elapsed().as_nanos() as u32);
    }
    latencies.sort_unstable();

    let n_cedar = options.cedar_requests.min(stream.len());
    eprintln!("encoding the orders for Cedar…");
    let start = Instant::now();
    let cedar = CedarPdp::new(&world.catalog, &world.inventory, &world.orders)?;
    let cedar_build = start.elapsed();
    let policies = cedar.policy_count();
    eprintln!("timing Cedar over {} requests against {} policies…", grouped(n_cedar as u64), grouped(policies as u64));
    let start = Instant::now();
    let mut prepared = Vec::with_capacity(n_cedar);
    for i in 0..n_cedar {
        let (sub, service, action, at) = stream.get(i);
        prepared.push(cedar.prepare(sub, service, action, at)?);
    }
    let prepare = start.elapsed();
    let start = Instant::now();
    let mut responses = Vec::with_capacity(n_cedar);
    for request in &prepared {
        responses.push(black_box(cedar.authorize(request)));
    }
    let authorize = start.elapsed();
    let cedar_rate = n_cedar as f64 / authorize.as_secs_f64();
    let cedar_rate_with_slices = n_cedar as f64 / (authorize + prepare).as_secs_f64();

    let agreement = agreement_of(&snapshot, &stream, responses.iter().map(CedarOutcome::from));
    let cedar_denied = responses.len() - agreement.allowed;

    // Cedar given only the policies that can apply (sliced by principal),
    // over many more requests: entity slices prebuilt as above, the policy
    // slice built per request and timed with the decision.
    let n_sliced = options.cedar_sliced_requests.min(stream.len());
    eprintln!("timing Cedar sliced by principal over {} requests…", grouped(n_sliced as u64));
    let mut sliced_prepared = Vec::with_capacity(n_sliced);
    let start = Instant::now();
    for i in 0..n_sliced {
        let (sub, service, action, at) = stream.get(i);
        sliced_prepared.push(cedar.prepare(sub, service, action, at)?);
    }
    let sliced_prepare = start.elapsed();
    let mut sliced_responses = Vec::with_capacity(n_sliced);
    let mut slice_sizes = 0usize;
    let start = Instant::now();
    for request in &sliced_prepared {
        let slice = cedar.slice(request)?;
        slice_sizes += slice.policies().count();
        sliced_responses.push(black_box(cedar.authorizer().is_authorized(&request.request, &slice, &request.entities)));
    }
    let sliced = start.elapsed();
    let sliced_rate = n_sliced as f64 / sliced.as_secs_f64();
    let sliced_rate_with_entities = n_sliced as f64 / (sliced + sliced_prepare).as_secs_f64();
    // Rego through regorus: the data built and the policy compiled once,
    // inputs prebuilt (as Cedar's entity slices), each evaluated.
    let n_rego = options.rego_requests.min(stream.len());
    eprintln!("building the Rego data and compiling the policy…");
    let start = Instant::now();
    let rego = RegoPdp::new(&world.catalog, &world.inventory, &world.orders)?;
    let rego_build = start.elapsed();
    eprintln!("timing Rego over {} requests…", grouped(n_rego as u64));
    let start = Instant::now();
    let inputs: Vec<_> = (0..n_rego)
        .map(|i| {
            let (sub, service, action, at) = stream.get(i);
            rego.input(sub, service, action, at)
        })
        .collect();
    let rego_prepare = start.elapsed();
    let start = Instant::now();
    let mut rego_outcomes = Vec::with_capacity(n_rego);
    for input in inputs {
        rego_outcomes.push(black_box(rego.authorize(input)?));
    }
    let rego_eval = start.elapsed();
    let rego_rate = n_rego as f64 / rego_eval.as_secs_f64();
    let rego_rate_with_inputs = n_rego as f64 / (rego_eval + rego_prepare).as_secs_f64();
    let rego_agreement = agreement_of(&snapshot, &stream, rego_outcomes.into_iter());

    let sliced_agreement = agreement_of(&snapshot, &stream, sliced_responses.iter().map(CedarOutcome::from));

    let p = |q| percentile(&latencies, q);
    row(
        "world",
        format!(
            "{} tenants, {} units, {} subscriptions, {} orders ({} in force at the world's now), seed {}",
            grouped(tenants as u64),
            grouped(units as u64),
            grouped(subs as u64),
            grouped(orders as u64),
            grouped(in_force as u64),
            w.seed
        ),
    );
    row("world generation", human(generation));
    row(
        "request stream generation",
        format!("{} ({} requests)", human(request_generation), grouped(stream.len() as u64)),
    );
    row("full compile (`Snapshot::compile`)", human(compile));
    row(
        "apply one new order (`Snapshot::apply`, median of 50)",
        format!(
            "{} (max {})",
            human(median_duration(order_times.clone())),
            human(*order_times.iter().max().expect("50 samples"))
        ),
    );
    if !move_times.is_empty() {
        row(
            &format!("apply one subscription move (median of {})", move_times.len()),
            format!(
                "{} (max {})",
                human(median_duration(move_times.clone())),
                human(*move_times.iter().max().expect("samples"))
            ),
        );
    }
    row(
        &format!("verdict decisions/s, 1 thread (median of {} rounds)", options.rounds),
        format!(
            "{} ({:.1} ns/decision; rounds {}–{})",
            rate(verdict_rate),
            1e9 / verdict_rate,
            rate(slowest),
            rate(fastest)
        ),
    );
    row(
        &format!(
            "verdict decisions/s through `decide_batch`, 1 thread (groups of {BATCH}, median of {} rounds)",
            options.rounds
        ),
        format!("{} ({:.1} ns/decision)", rate(batch_rate), 1e9 / batch_rate),
    );
    row(
        "single-decision latency p50 / p99 / p99.9 (timer included)",
        format!("{} / {} / {} ns (max {} ns)", p(0.5), p(0.99), p(0.999), latencies[latencies.len() - 1]),
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
    row(
        "Cedar policies (forbid per denying phase + permit-all)",
        format!("{} (parsed in {})", grouped(policies as u64), human(cedar_build)),
    );
    row(
        &format!("Cedar request + entity slice building ({} requests)", grouped(n_cedar as u64)),
        format!("{:.1} µs/request", prepare.as_secs_f64() * 1e6 / n_cedar.max(1) as f64),
    );
    row(
        "Cedar decisions/s, 1 thread (`is_authorized` only, slices prebuilt)",
        format!("{} ({:.1} µs/decision; {} denied)", rate(cedar_rate), 1e6 / cedar_rate, grouped(cedar_denied as u64)),
    );
    row("Cedar decisions/s including slice building", rate(cedar_rate_with_slices));
    row("throughput ratio verdict / Cedar (every policy)", format!("{:.0}×", verdict_rate / cedar_rate));
    row(
        "agreement, Cedar with every policy",
        format!("{}/{}", grouped(agreement.agreed as u64), grouped(agreement.checked as u64)),
    );
    row(
        "Cedar sliced by principal: decisions/s, 1 thread (policy slice built and `is_authorized`; entity slices prebuilt)",
        format!(
            "{} ({:.1} µs/decision; {:.2} policies a slice on average)",
            rate(sliced_rate),
            1e6 / sliced_rate,
            slice_sizes as f64 / n_sliced.max(1) as f64
        ),
    );
    row(
        "Cedar sliced, including the request and entity slice building",
        format!("{} ({:.1} µs/decision)", rate(sliced_rate_with_entities), 1e6 / sliced_rate_with_entities),
    );
    row(
        "throughput ratio verdict (`decide` / `decide_batch`) / Cedar sliced",
        format!("{:.0}× / {:.0}×", verdict_rate / sliced_rate, batch_rate / sliced_rate),
    );
    row(
        "agreement, Cedar sliced",
        format!("{}/{}", grouped(sliced_agreement.agreed as u64), grouped(sliced_agreement.checked as u64)),
    );

    row("Rego data built and policy compiled (`regorus`)", human(rego_build));
    row(
        "Rego decisions/s, 1 thread (`eval_with_input` on the compiled policy; inputs prebuilt)",
        format!("{} ({:.1} µs/decision)", rate(rego_rate), 1e6 / rego_rate),
    );
    row(
        "Rego, including building the input",
        format!("{} ({:.1} µs/decision)", rate(rego_rate_with_inputs), 1e6 / rego_rate_with_inputs),
    );
    row(
        "throughput ratio verdict (`decide` / `decide_batch`) / Rego",
        format!("{:.0}× / {:.0}×", verdict_rate / rego_rate, batch_rate / rego_rate),
    );
    row(
        "agreement, Rego",
        format!("{}/{}", grouped(rego_agreement.agreed as u64), grouped(rego_agreement.checked as u64)),
    );

    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0);
    println!("machine: {} ({cores} cores available)", cpu_model());
    println!(
        "command: {}{}",
        args.join(" "),
        if cfg!(debug_assertions) { "  (DEBUG BUILD: numbers are meaningless; use --release)" } else { "" }
    );
    println!(
        "parameters: --subscriptions {} --units {} --tenants {} --orders {} --requests {} --cedar-requests {} --cedar-sliced-requests {} --rego-requests {} --rounds {} --seed {}",
        w.subscriptions,
        w.units,
        w.tenants,
        w.orders,
        options.requests,
        options.cedar_requests,
        options.cedar_sliced_requests,
        options.rego_requests,
        options.rounds,
        w.seed
    );
    println!();
    println!("| measure | result |");
    println!("|---|---|");
    for (what, value) in &rows {
        println!("| {what} | {value} |");
    }
    let mut all_agree = true;
    for (what, agreement) in [
        ("Cedar with every policy", &agreement),
        ("Cedar sliced by principal", &sliced_agreement),
        ("Rego", &rego_agreement),
    ] {
        if !agreement.all_agree() {
            eprintln!(
                "\nverdict and {what} disagree on {} of {} requests; first ones:",
                agreement.checked - agreement.agreed,
                agreement.checked
            );
            for d in &agreement.disagreements {
                eprintln!("  {d}");
            }
            all_agree = false;
        }
    }
    Ok(all_agree)
}
