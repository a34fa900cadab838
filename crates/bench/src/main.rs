//! `verdict-bench engine`: verdict's decision engine at one or several
//! scales, against Cedar and Rego holding the same orders, on identical
//! requests with identical answers.

use std::process::ExitCode;

use anyhow::{Context as _, bail};
use verdict_bench::WorldConfig;
use verdict_bench::engine::{Effort, Peer, Timing, grouped, measure, nanos_human, rate};

const USAGE: &str = "usage: verdict-bench engine [--subscriptions N] [--units N] [--tenants N] [--orders N[,N…]] \
[--requests N] [--cedar-requests N] [--cedar-sliced-requests N] [--rego-requests N] [--rounds N] [--seed N]

For each number of orders (`--orders 10,1000,10000` measures three scales in
one run), generates a seeded world, compiles it into a verdict snapshot, into
Cedar policies and into Rego data, times every engine on the same request
stream and checks that each peer agrees with verdict on every request it is
asked. Prints Markdown tables on stdout: a summary across the scales, then
each scale's details; exits 1 if any peer disagrees on any request.

defaults: --subscriptions 1000000 --units 100000 --tenants 10000 --orders 10000
          --requests 10000000 --cedar-requests 2000 --cedar-sliced-requests 100000
          --rego-requests 20000 --rounds 5 --seed 1

Cedar is measured three ways: sliced by principal (only the policies whose
scope names the request's subscription or one of its units) with the slices
put together once per unit and named subscription — its best — or per
request from an index built once, and with every policy on every request.
OPA's Rego is evaluated by regorus over the same orders and inventory as
data.";

struct Options {
    world: WorldConfig,
    /// The scales: each a world with this many orders.
    orders: Vec<usize>,
    effort: Effort,
}

fn parse_args(args: &[String]) -> anyhow::Result<Options> {
    let world = WorldConfig::default();
    let mut options = Options {
        world,
        orders: vec![world.orders],
        effort: Effort {
            requests: 10_000_000,
            cedar_requests: 2_000,
            cedar_sliced_requests: 100_000,
            rego_requests: 20_000,
            rounds: 5,
        },
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
        if flag == "--orders" {
            options.orders = value
                .split(',')
                .map(|n| n.trim().replace('_', "").parse::<usize>())
                .collect::<Result<_, _>>()
                .with_context(|| format!("--orders takes whole numbers separated by commas, not {value:?}"))?;
            continue;
        }
        let number: u64 = value
            .replace(['_', ','], "")
            .parse()
            .with_context(|| format!("{flag} takes a whole number, not {value:?}"))?;
        let n = usize::try_from(number)?;
        match flag.as_str() {
            "--subscriptions" => options.world.subscriptions = n,
            "--units" => options.world.units = n,
            "--tenants" => options.world.tenants = n,
            "--requests" => options.effort.requests = n,
            "--cedar-requests" => options.effort.cedar_requests = n,
            "--cedar-sliced-requests" => options.effort.cedar_sliced_requests = n,
            "--rego-requests" => options.effort.rego_requests = n,
            "--rounds" => options.effort.rounds = n.max(1),
            "--seed" => options.world.seed = number,
            _ => bail!("unknown option {flag:?}\n\n{USAGE}"),
        }
    }
    if options.world.tenants == 0 || options.world.units == 0 {
        bail!("--tenants and --units must be at least 1");
    }
    let e = options.effort;
    if [e.requests, e.cedar_requests, e.cedar_sliced_requests, e.rego_requests].contains(&0) {
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

fn run(args: &[String], options: &Options) -> anyhow::Result<bool> {
    let mut scales = Vec::new();
    for &orders in &options.orders {
        let config = WorldConfig { orders, ..options.world };
        scales.push(measure(&config, &options.effort)?);
    }
    let w = options.world;
    let e = options.effort;
    println!("machine: {}", verdict_bench::machine());
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
        options.orders.iter().map(ToString::to_string).collect::<Vec<_>>().join(","),
        e.requests,
        e.cedar_requests,
        e.cedar_sliced_requests,
        e.rego_requests,
        e.rounds,
        w.seed
    );
    println!();
    println!("Decisions a second on one thread (p50 / p99 of one decision, timer included):");
    println!();
    println!(
        "| orders (in force) | verdict `decide` | verdict `decide_batch` | Cedar (best): slices cached per unit | Cedar (best), entities built | Cedar sliced per request | Rego (regorus) | Rego, input built | Cedar, every policy |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    let timing = |t: &Timing| format!("{} ({} / {})", rate(t.rate), nanos_human(t.p50_ns), nanos_human(t.p99_ns));
    for s in &scales {
        println!(
            "| {} ({}) | {} | {} | {} | {} | {} | {} | {} | {} ({} policies) |",
            grouped(s.orders as u64),
            grouped(s.in_force as u64),
            timing(&s.decide),
            rate(s.decide_batch),
            timing(&s.cedar_cached.decision),
            rate(s.cedar_cached.with_request_built),
            timing(&s.cedar_sliced.decision),
            timing(&s.rego.decision),
            rate(s.rego.with_request_built),
            timing(&s.cedar_whole.decision),
            grouped(s.cedar_policies as u64),
        );
    }
    println!();
    println!(
        "Ratios (verdict `decide` / `decide_batch` against the peer's decision with its request prebuilt) and agreement:"
    );
    println!();
    println!(
        "| orders | against Cedar (best) | against Cedar sliced per request | against Rego | against Cedar, every policy | agreement: Cedar best / sliced / Rego / every policy |"
    );
    println!("|---|---|---|---|---|---|");
    for s in &scales {
        let times = |x: f64| format!("{}×", grouped(x.round() as u64));
        let ratio = |peer: &Peer| {
            format!("{} / {}", times(s.decide.rate / peer.decision.rate), times(s.decide_batch / peer.decision.rate))
        };
        let agreed = |peer: &Peer| {
            format!("{}/{}", grouped(peer.agreement.agreed as u64), grouped(peer.agreement.checked as u64))
        };
        println!(
            "| {} | {} | {} | {} | {} | {} / {} / {} / {} |",
            grouped(s.orders as u64),
            ratio(&s.cedar_cached),
            ratio(&s.cedar_sliced),
            ratio(&s.rego),
            ratio(&s.cedar_whole),
            agreed(&s.cedar_cached),
            agreed(&s.cedar_sliced),
            agreed(&s.rego),
            agreed(&s.cedar_whole),
        );
    }
    for s in &scales {
        println!();
        println!("At {} orders:", grouped(s.orders as u64));
        println!();
        println!("| measure | result |");
        println!("|---|---|");
        for (what, value) in &s.rows {
            println!("| {what} | {value} |");
        }
    }
    let mut all_agree = true;
    for s in &scales {
        for (name, peer) in s.peers() {
            let agreement = &peer.agreement;
            if !agreement.all_agree() {
                eprintln!(
                    "\nat {} orders, verdict and {name} disagree on {} of {} requests; first ones:",
                    s.orders,
                    agreement.checked - agreement.agreed,
                    agreement.checked
                );
                for d in &agreement.disagreements {
                    eprintln!("  {d}");
                }
                all_agree = false;
            }
        }
    }
    Ok(all_agree)
}
