//! Runs every decision case in `tests/decisions/` through the control plane
//! and the real SQLite store: import, order creation, moves, deletes and
//! lifts take the production path, and the snapshot is then also recompiled
//! from the store to check the two agree.

#[path = "../../../tests/decisions/case.rs"]
mod case;

use std::collections::HashMap;
use std::sync::Arc;

use case::{Answer, Step, all_cases};
use verdict_control::{Actor, Core, ManualClock, SigningKey};
use verdict_engine::Snapshot;
use verdict_model::Timestamp;
use verdict_store::SqliteStore;

/// The answer in the files' terms, with verdict's order ids mapped back
/// to the case's.
fn answer(snapshot: &Snapshot, r: &case::Request, ids: &HashMap<String, String>) -> Answer {
    let mut a = r.answer(snapshot);
    if let Some(order) = &a.order
        && let Some((case_id, _)) = ids.iter().find(|(_, real)| *real == order)
    {
        a.order = Some(case_id.clone());
    }
    a
}

#[tokio::test]
async fn every_decision_case_holds_through_the_store() {
    let mut failures = Vec::new();
    for (path, case) in all_cases() {
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(SqliteStore::open(&dir.path().join("verdict.db")).await.unwrap());
        let clock = Arc::new(ManualClock::new(Timestamp::parse("2025-01-01T00:00:00Z").unwrap()));
        let key = SigningKey::generate("verdict.test/log").unwrap();
        let core = Core::open_with_clock(store.clone(), key.clone(), clock.clone()).await.unwrap();
        core.import(&Actor::admin(), case.inventory.clone(), &|_| ()).await.unwrap_or_else(|e| panic!("{name}: {e}"));
        let mut ids = HashMap::new();
        for order in &case.orders {
            let (created, _) =
                core.create_order(&Actor::admin(), order.spec.clone()).await.unwrap_or_else(|e| panic!("{name}: {e}"));
            ids.insert(order.id.clone(), created.id.clone());
            if let Some(at) = order.lifted_at {
                clock.set(at);
                core.lift_order(&Actor::admin(), &created.id, "case").await.unwrap();
            }
        }
        for (n, step) in case.steps.iter().enumerate() {
            match step {
                Step::Check(requests) => {
                    let live = core.snapshot();
                    let recompiled = Core::open(store.clone(), key.clone()).await.unwrap().snapshot();
                    for r in requests {
                        for (which, snapshot) in [("live", &live), ("recompiled", &recompiled)] {
                            let context = format!("{name} ({}) step {n} ({which})", case.description);
                            failures.extend(r.failure(&context, &answer(snapshot, r, &ids)));
                        }
                    }
                }
                Step::Move { subscription, unit, at } => {
                    clock.set(*at);
                    if !core.units(&store_tenant(&core, subscription).await).await.unwrap().contains(unit) {
                        let tenant = store_tenant(&core, subscription).await;
                        core.create_unit(&Actor::admin(), verdict_model::Unit { tenant, path: unit.clone() })
                            .await
                            .unwrap();
                    }
                    core.move_subscription(&Actor::admin(), subscription, unit.clone()).await.unwrap();
                }
                Step::Create(sub) => {
                    if !core.units(&sub.tenant).await.unwrap().contains(&sub.unit) {
                        core.create_unit(
                            &Actor::admin(),
                            verdict_model::Unit { tenant: sub.tenant.clone(), path: sub.unit.clone() },
                        )
                        .await
                        .unwrap();
                    }
                    core.create_subscription(&Actor::admin(), sub.clone()).await.unwrap();
                }
                Step::Delete { subscription, at } => {
                    clock.set(*at);
                    core.delete_subscription(&Actor::admin(), subscription).await.unwrap();
                }
                Step::Lift { order, at } => {
                    clock.set(*at);
                    core.lift_order(&Actor::admin(), &ids[order], "lifted by the case").await.unwrap();
                }
            }
        }
    }
    assert!(failures.is_empty(), "{} mismatches:\n{}", failures.len(), failures.join("\n"));
}

async fn store_tenant(core: &Core, subscription: &str) -> String {
    core.subscription(subscription).await.unwrap().expect("subscription exists").tenant
}
