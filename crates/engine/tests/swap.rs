//! Snapshots swap atomically under live traffic: readers on other threads
//! always see a whole snapshot, old or new, never a mix.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use verdict_engine::{Change, Engine, Snapshot};
use verdict_model::{Catalog, Inventory, Order, Timestamp};

fn order(id: &str, seq: i64, unit: &str) -> Order {
    serde_json::from_value(serde_json::json!({
        "id": id, "seq": seq, "tenant": "t", "clause": "AUP-1", "scope": {"units": [unit]},
        "services": ["storage.*"], "phases": [{"mode": "disabled", "start": "2026-01-01T00:00:00Z"}]
    }))
    .unwrap()
}

#[test]
fn readers_see_whole_snapshots_while_writers_publish() {
    let inventory: Inventory = serde_json::from_value(serde_json::json!({
        "tenants": [{"id": "t", "kind": "enterprise"}],
        "subscriptions": [
            {"id": "a", "tenant": "t", "unit": "x", "services": []},
            {"id": "b", "tenant": "t", "unit": "y", "services": []}
        ]
    }))
    .unwrap();
    let base = Snapshot::compile(Catalog::builtin(), &inventory, &[], 1).unwrap();
    let engine = Arc::new(Engine::new(base));
    let stop = Arc::new(AtomicBool::new(false));
    let at = Timestamp::parse("2026-06-01T00:00:00Z").unwrap();
    let readers: Vec<_> = (0..2)
        .map(|_| {
            let (engine, stop) = (engine.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut seen = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let snapshot = engine.snapshot();
                    // Every published version moves the one order between
                    // x and y together with one subscription move: exactly
                    // one of a and b is ever denied.
                    let a = snapshot.decide("a", "storage.blob", "get-blob", at).allowed;
                    let b = snapshot.decide("b", "storage.blob", "get-blob", at).allowed;
                    assert!(a != b || snapshot.version() == 1, "version {} mixed: a {a}, b {b}", snapshot.version());
                    seen += 1;
                }
                seen
            })
        })
        .collect();
    let mut current = engine.snapshot().apply(&[Change::PutOrder(order("o-0", 0, "x"))], 2).unwrap();
    engine.publish(current.clone());
    for i in 1..300 {
        let lift = {
            let mut o = order(&format!("o-{}", i - 1), i - 1, if i % 2 == 1 { "x" } else { "y" });
            o.lifted_at = Some(Timestamp(0));
            o
        };
        let next = order(&format!("o-{i}"), i, if i % 2 == 1 { "y" } else { "x" });
        current = current.apply(&[Change::PutOrder(lift), Change::PutOrder(next)], 2 + i as u64).unwrap();
        engine.publish(current.clone());
    }
    stop.store(true, Ordering::Relaxed);
    let reads: u64 = readers.into_iter().map(|r| r.join().unwrap()).sum();
    assert!(reads > 0);
    assert_eq!(engine.snapshot().version(), 301);
}
