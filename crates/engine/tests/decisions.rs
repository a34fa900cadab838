//! Runs every decision case in `tests/decisions/` against the engine alone.

#[path = "../../../tests/decisions/case.rs"]
mod case;

use case::{Step, all_cases};
use verdict_engine::{Change, Query, Snapshot};
use verdict_model::Catalog;

#[test]
fn every_decision_case_holds_on_the_engine() {
    let mut failures = Vec::new();
    for (path, case) in all_cases() {
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        let mut snapshot = Snapshot::compile(Catalog::builtin(), &case.inventory, &case.orders, 1)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let mut orders = case.orders.clone();
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
                    for r in requests {
                        let context = format!("{name} ({}) step {n}", case.description);
                        failures.extend(r.failure(&context, &r.answer(&snapshot)));
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
            snapshot =
                snapshot.apply(&[change], snapshot.version() + 1).unwrap_or_else(|e| panic!("{name} step {n}: {e}"));
        }
    }
    assert!(failures.is_empty(), "{} mismatches:\n{}", failures.len(), failures.join("\n"));
}
