//! Runs the data-driven blast-radius cases in `tests/previews/` against the
//! control plane over a real SQLite store.

use std::sync::Arc;

use serde_json::{Value, json};
use verdict_core::{Actor, Core, ManualClock, SigningKey};
use verdict_model::{OrderSpec, Timestamp};
use verdict_store::SqliteStore;

fn cases() -> Vec<(String, Value)> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/previews");
    let mut out: Vec<(String, Value)> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            (name, serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap())
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    assert!(out.len() >= 3, "preview cases missing from {}", dir.display());
    out
}

#[tokio::test]
async fn preview_cases_hold() {
    for (name, case) in cases() {
        let dir = tempfile::tempdir().unwrap();
        let now = Timestamp::parse(case["now"].as_str().unwrap()).unwrap();
        let store = Arc::new(SqliteStore::open(&dir.path().join("verdict.db")).await.unwrap());
        let key = SigningKey::generate("verdict.test/log").unwrap();
        let core = Core::open_with_clock(store, key, Arc::new(ManualClock::new(now))).await.unwrap();
        core.import(&Actor::admin(), serde_json::from_value(case["inventory"].clone()).unwrap(), &|_| ())
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        for existing in case["existing"].as_array().into_iter().flatten() {
            let spec: OrderSpec = serde_json::from_value(existing.clone()).unwrap();
            core.create_order(&Actor::admin(), spec).await.unwrap_or_else(|e| panic!("{name}: {e}"));
        }
        let spec: OrderSpec = serde_json::from_value(case["order"].clone()).unwrap();
        let preview = core.preview(&spec, None).await.unwrap_or_else(|e| panic!("{name}: {e}"));
        let got = serde_json::to_value(&preview).unwrap();
        let expected = &case["expected"];
        for field in ["affected", "untouched", "exempted"] {
            assert_eq!(got[field], expected[field], "{name}: {field}");
        }
        if !expected["summary"].is_null() {
            assert_eq!(got["summary"], expected["summary"], "{name}: summary");
        }
        assert!(preview.hash.starts_with("sha256:") && preview.hash.len() == 71, "{name}");
        // The same inputs give the same hash; a change in the inventory does not.
        assert_eq!(core.preview(&spec, None).await.unwrap().hash, preview.hash, "{name}");
        if let Some(diff) = expected["diff"].as_array() {
            let got = core.diff(&spec, None).await.unwrap();
            let got: Vec<Value> = got
                .changes
                .iter()
                .map(|d| {
                    json!({"subscription": d.subscription, "service": d.service, "phase": d.phase,
                    "before": d.before, "after": d.after})
                })
                .collect();
            assert_eq!(&got, diff, "{name}: diff");
        }
    }
}

#[tokio::test]
async fn a_subscription_created_after_a_preview_changes_its_hash() {
    let (name, case) = cases().into_iter().find(|(n, _)| n == "design-1.json").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open(&dir.path().join("verdict.db")).await.unwrap());
    let core = Core::open(store, SigningKey::generate("verdict.test/log").unwrap()).await.unwrap();
    core.import(&Actor::admin(), serde_json::from_value(case["inventory"].clone()).unwrap(), &|_| ()).await.unwrap();
    let spec: OrderSpec = serde_json::from_value(case["order"].clone()).unwrap();
    let before = core.preview(&spec, None).await.unwrap();
    let late = serde_json::from_value(json!({"id": "sig-late", "tenant": "ministry-of-defense",
        "unit": "intelligence/signals", "services": ["storage.blob"]}))
    .unwrap();
    core.create_subscription(&Actor::admin(), late).await.unwrap();
    let after = core.preview(&spec, None).await.unwrap();
    assert_ne!(before.hash, after.hash, "{name}");
    assert_eq!(after.summary.affected_subscriptions, before.summary.affected_subscriptions + 1);
}
