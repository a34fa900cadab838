//! verdict and Cedar, holding the same orders, must agree on every request of
//! small synthetic worlds — before and after changes applied incrementally
//! to the snapshot (new orders, liftings, moves with retention, new
//! subscriptions) and mirrored into a freshly encoded Cedar policy set —
//! with every policy on every request, and sliced by principal — and given
//! to OPA's Rego through `regorus`.

use verdict_bench::{Agreement, CedarPdp, DAY, RegoPdp, RequestStream, Slicing, World, WorldConfig, check, check_rego};
use verdict_engine::{Basis, Change, Snapshot};
use verdict_model::{PhaseMode, Timestamp};

/// Requests per world. Cedar is unoptimised under `cargo test` (about 1.5 ms a
/// decision against these ~80 policies), which is what bounds this.
const REQUESTS: usize = 2_500;

fn assert_agrees(agreement: &Agreement, what: &str) {
    assert!(
        agreement.all_agree(),
        "{what}: {}/{} agree; first disagreements:\n{}",
        agreement.agreed,
        agreement.checked,
        agreement.disagreements.join("\n")
    );
}

fn world(seed: u64) -> World {
    World::generate(&WorldConfig { tenants: 12, units: 60, subscriptions: 300, orders: 60, seed })
}

/// The stream must reach every kind of decision, or agreement proves little.
/// (This world is denser in orders than the benchmark's, so more of it is
/// denied than the benchmark's nine in ten allowed.)
fn assert_exercises_every_path(snapshot: &Snapshot, stream: &RequestStream, seed: u64) {
    let mut counts = [0usize; 7];
    for i in 0..stream.len() {
        let (sub, service, action, at) = stream.get(i);
        let d = snapshot.decide(sub, service, action, at);
        let slot = match (d.basis, d.allowed) {
            (Basis::UnknownService, _) => 0,
            (Basis::UnknownSubscription, _) => 1,
            (Basis::OutsideScope, _) => unreachable!("the benchmark's snapshot is not scoped"),
            (Basis::MalformedName, _) => 5,
            (Basis::NoOrder, _) => 2,
            (Basis::Order { mode: PhaseMode::Notice, .. }, _) => 3,
            (Basis::Order { mode: PhaseMode::ExportOnly, .. }, true) => 4,
            (Basis::Order { .. }, false) if !d.action_known => 6,
            (Basis::Order { mode: PhaseMode::ExportOnly, .. }, false) => 5,
            (Basis::Order { mode: PhaseMode::Disabled, .. }, false) => 5,
            (Basis::Order { .. }, true) => 2,
        };
        counts[slot] += 1;
    }
    let names = [
        "unknown service",
        "unknown subscription",
        "no order",
        "notice",
        "export window allowing",
        "denial",
        "denial of an unknown action",
    ];
    for (name, n) in names.iter().zip(counts) {
        assert!(n > 0, "seed {seed}: no request decided as {name}: {counts:?}");
    }
    let allowed = stream.len() - counts[5] - counts[6];
    let share = allowed as f64 / stream.len() as f64;
    assert!((0.5..0.97).contains(&share), "seed {seed}: {share:.3} allowed");
}

#[test]
fn verdict_and_cedar_agree_on_every_request() {
    for seed in 1..=3 {
        let world = world(seed);
        let snapshot = Snapshot::compile(world.catalog.clone(), &world.inventory, &world.orders, 1).unwrap();
        let cedar = CedarPdp::new(&world.catalog, &world.inventory, &world.orders).unwrap();
        let stream = world.requests(REQUESTS, seed);
        for slicing in [Slicing::Whole, Slicing::ByPrincipal, Slicing::Cached] {
            let agreement = check(&snapshot, &cedar, slicing, &stream, 0..stream.len()).unwrap();
            assert_agrees(&agreement, &format!("seed {seed}, Cedar {slicing:?}"));
        }
        let rego = RegoPdp::new(&world.catalog, &world.inventory, &world.orders).unwrap();
        let agreement = check_rego(&snapshot, &rego, &stream, 0..stream.len()).unwrap();
        assert_agrees(&agreement, &format!("seed {seed}, Rego"));
        assert_exercises_every_path(&snapshot, &stream, seed);
    }
}

#[test]
fn agreement_survives_incremental_changes() {
    for seed in [5, 6] {
        let mut world = world(seed);
        let mut snapshot = Snapshot::compile(world.catalog.clone(), &world.inventory, &world.orders, 1).unwrap();
        let now = world.now;
        for step in 0..40u64 {
            let change = match step % 4 {
                0 => {
                    let order = world.new_order(step);
                    world.add_order(order.clone());
                    Change::PutOrder(order)
                }
                1 => {
                    let index = (step as usize * 7) % world.orders.len();
                    let at = Timestamp(now.seconds() + (step as i64 % 5) * DAY);
                    Change::PutOrder(world.lift_order(index, at).clone())
                }
                2 => {
                    let sub = (step as usize * 37) % world.inventory.subscriptions.len();
                    let Some(unit) = world.move_target(sub, step) else {
                        continue;
                    };
                    let id = world.inventory.subscriptions[sub].id.clone();
                    let retained_by = snapshot.orders_covering(&id, now);
                    world.move_subscription(sub, unit, &retained_by);
                    Change::MoveSubscription { id, unit: world.inventory.units[unit].path.clone(), retained_by }
                }
                _ => {
                    let unit = (step as usize * 13) % world.inventory.units.len();
                    let index = world.create_subscription(format!("sub-late-{step}"), unit);
                    Change::PutSubscription(world.inventory.subscriptions[index].clone())
                }
            };
            snapshot = snapshot.apply(&[change], snapshot.version() + 1).unwrap();
        }
        let cedar = CedarPdp::new(&world.catalog, &world.inventory, &world.orders).unwrap();
        let stream = world.requests(REQUESTS * 2 / 3, seed + 100);
        for slicing in [Slicing::Whole, Slicing::ByPrincipal, Slicing::Cached] {
            let agreement = check(&snapshot, &cedar, slicing, &stream, 0..stream.len()).unwrap();
            assert_agrees(&agreement, &format!("seed {seed} after changes, Cedar {slicing:?}"));
        }
        let rego = RegoPdp::new(&world.catalog, &world.inventory, &world.orders).unwrap();
        let agreement = check_rego(&snapshot, &rego, &stream, 0..stream.len()).unwrap();
        assert_agrees(&agreement, &format!("seed {seed} after changes, Rego"));

        // The incrementally built snapshot decides like one compiled afresh.
        let fresh = Snapshot::compile(world.catalog.clone(), &world.inventory, &world.orders, 1).unwrap();
        for i in 0..stream.len() {
            let (sub, service, action, at) = stream.get(i);
            assert_eq!(
                snapshot.decide(sub, service, action, at).allowed,
                fresh.decide(sub, service, action, at).allowed,
                "{sub} {service} {action} at {at}"
            );
        }
    }
}
