//! verdict's benchmarks: synthetic worlds, request streams, the same orders
//! encoded for Cedar and for Rego, and a differential check against each.
//!
//! - [`World::generate`] builds a seeded world: tenants with unit trees up
//!   to three levels deep, subscriptions spread over the units, and orders
//!   with unit scopes (often on parent units, so descendants are covered),
//!   named and retained subscriptions, patterns such as `storage.*`, `ai.*`,
//!   `*` and `compute.vm`, exemptions such as `security.*`, and timelines of
//!   `notice`, `export_only` and `disabled` phases around the world's `now`,
//!   some ended and some lifted.
//! - [`World::requests`] draws a request stream in which about nine in ten
//!   requests are allowed, with unknown subscriptions, services and actions
//!   mixed in.
//! - [`cedar`] encodes the orders as Cedar policies (one `forbid` per
//!   denying phase, named `<order-id>#<phase>`) and each request as a Cedar
//!   request with its entity slice; Cedar is given every policy, or the
//!   slice of the request's principal ([`Slicing`]).
//! - [`rego`] holds the same orders and inventory as data for one Rego
//!   policy, evaluated by `regorus`.
//! - [`mod@check`] asks verdict and a peer and insists they agree: same
//!   allow or deny, and on a deny verdict's order phase among the peer's
//!   reasons.
//! - [`engine`] measures one scale: verdict and each peer timed on one
//!   stream, each peer's answers compared with verdict's.
//!
//! The `verdict-bench` binary times all of it; `tests/differential.rs` runs
//! a small version under `cargo test`.

pub mod cedar;
pub mod check;
pub mod engine;
pub mod pg;
pub mod rego;
mod requests;
mod rng;
mod world;
pub mod wrk;

pub use cedar::{CedarOutcome, CedarPdp, CedarRequest, Slicing};
pub use check::{Agreement, check, check_rego, compare};
pub use rego::RegoPdp;
pub use requests::{Request, RequestStream};
pub use world::{DAY, World, WorldConfig};

/// The number after `name` in a command line (`_` allowed as a digit
/// separator, `1_000_000`), or `default` when `name` is absent; the bench
/// binaries take their options this way.
pub fn number_arg(args: &[String], name: &str, default: usize) -> anyhow::Result<usize> {
    use anyhow::Context as _;
    match args.iter().position(|a| a == name) {
        None => Ok(default),
        Some(i) => args
            .get(i + 1)
            .with_context(|| format!("{name} takes a value"))?
            .replace('_', "")
            .parse()
            .with_context(|| format!("{name} takes a number")),
    }
}

/// The machine, for a benchmark's header: the CPU model and core count.
pub fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines().find(|l| l.starts_with("model name")).map(|l| l.split(':').nth(1).unwrap_or("").trim().to_owned())
        })
        .unwrap_or_default();
    format!("{cpu}, {} cores", std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0))
}
