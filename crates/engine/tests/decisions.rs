//! Runs every decision case in `tests/decisions/` against the engine alone,
//! and against two replicas of it: one compiled from the snapshot's export
//! and one that follows its changes, both through their JSON wire form.

#[path = "../../../tests/decisions/case.rs"]
mod case;

use case::{Step, all_cases};
use verdict_engine::{Change, Query, Snapshot, SnapshotDocument};
use verdict_model::Catalog;

#[test]
fn every_decision_case_holds_on_the_engine() {
    let mut failures = Vec::new();
    for (path, case) in all_cases() {
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        let mut snapshot = Snapshot::compile(Catalog::builtin(), &case.inventory, &case.orders, 1)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let mut orders = case.orders.clone();
        let mut follower = through_the_wire(&snapshot);
        for (n, step) in case.steps.iter().enumerate() {
            let change = match step {
                Step::Check(requests) => {
                    let queries: Vec<Query> = requests
                        .iter()
                        .map(|r| Query {
                            subscription: &r.subscription,
                            service: &r.service,
                            action: &r.action,
                            at: r.at,
                        })
                        .collect();
                    let mut batch = Vec::new();
                    snapshot.decide_batch(&queries, &mut batch);
                    let single: Vec<_> = requests
                        .iter()
                        .map(|r| snapshot.decide(&r.subscription, &r.service, &r.action, r.at))
                        .collect();
                    assert_eq!(batch, single, "{name} step {n}: decide_batch differs from decide");
                    let exported = through_the_wire(&snapshot);
                    for r in requests {
                        let context = format!("{name} ({}) step {n}", case.description);
                        failures.extend(r.failure(&context, &r.answer(&snapshot)));
                        failures.extend(r.failure(&format!("{context}, exported replica"), &r.answer(&exported)));
                        failures.extend(r.failure(&format!("{context}, following replica"), &r.answer(&follower)));
                    }
                    continue;
                }
                Step::Move { subscription, unit, at } => Change::MoveSubscription {
                    id: subscription.clone(),
                    unit: unit.clone(),
                    retained_by: snapshot.orders_covering(subscription, *at),
                },
                Step::Create(sub) => Change::PutSubscription(sub.clone()),
                Step::Delete { subscription, at } => Change::RemoveSubscription {
                    id: subscription.clone(),
                    retained_by: snapshot.orders_covering(subscription, *at),
                },
                Step::Lift { order, at } => {
                    let o = orders.iter_mut().find(|o| &o.id == order).expect("known order");
                    o.lifted_at = Some(*at);
                    Change::PutOrder(o.clone())
                }
            };
            snapshot = snapshot
                .apply(std::slice::from_ref(&change), snapshot.version() + 1)
                .unwrap_or_else(|e| panic!("{name} step {n}: {e}"));
            let wire = serde_json::to_string(&change.for_replica()).unwrap();
            let received: Change = serde_json::from_str(&wire).unwrap_or_else(|e| panic!("{name}: {e} in {wire}"));
            follower = follower
                .apply(&[received], follower.version() + 1)
                .unwrap_or_else(|e| panic!("{name} step {n}, following replica: {e}"));
        }
    }
    assert!(failures.is_empty(), "{} mismatches:\n{}", failures.len(), failures.join("\n"));
}

/// The snapshot exported, sent as JSON and compiled again, as a replica
/// bootstraps.
fn through_the_wire(snapshot: &Snapshot) -> Snapshot {
    let json = serde_json::to_vec(&snapshot.export()).unwrap();
    let document: SnapshotDocument = serde_json::from_slice(&json).unwrap();
    assert_eq!(document.version, snapshot.version());
    document.compile().unwrap()
}
