//! Runs the data-driven blast-radius cases in `tests/previews/` against the
//! control plane over a real store of each backend (SQLite, PostgreSQL),
//! and checks that a second server over the same store previews the same.

use std::sync::Arc;

use serde_json::{Value, json};
use verdict_control::{Actor, Core, ManualClock, SigningKey};
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
    for backend in verdict_testdb::backends() {
        for (name, case) in cases() {
            preview_case_holds(backend, &format!("{name} on {backend}"), &case).await;
        }
    }
}

async fn preview_case_holds(backend: verdict_testdb::Backend, name: &str, case: &Value) {
    let db = verdict_testdb::TestDb::new(backend).await;
    let now = Timestamp::parse(case["now"].as_str().unwrap()).unwrap();
    let key = SigningKey::generate("verdict.test/log").unwrap();
    // A second server over the same store, open before the changes.
    let peer = Core::open_with_clock(db.open().await, key.clone(), Arc::new(ManualClock::new(now))).await.unwrap();
    let core = Core::open_with_clock(db.open().await, key, Arc::new(ManualClock::new(now))).await.unwrap();
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
    // An approver on another server sees the same blast radius: the
    // same hash, so an approval bound to it holds wherever it is sent.
    peer.follow().await.unwrap();
    assert_eq!(peer.preview(&spec, None).await.unwrap().hash, preview.hash, "{name}: the peer's preview");
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

/// The preview as it was computed before the in-memory index: from the
/// store's rows, hashed over the JSON of its content. The index must give
/// the same lists, the same summary and the same hash.
async fn preview_from_the_store(core: &Core, spec: &OrderSpec) -> Value {
    use std::collections::BTreeMap;
    use verdict_model::{ActionClass, Catalog, ServiceSet};
    let catalog = Catalog::builtin();
    let restricted = spec.validate(&catalog).unwrap();
    let matched = ServiceSet::of_patterns(&catalog, &spec.services).unwrap();
    let name = |i: u16| catalog.services[i as usize].name.clone();
    let exempted: Vec<String> = matched.minus(restricted).iter().map(name).collect();
    let restricted_names: Vec<String> = restricted.iter().map(name).collect();
    let mut subs = Vec::new();
    let mut page = verdict_store::Page { after: None, limit: 1000 };
    loop {
        let batch = core.subscriptions(Some(&spec.tenant), &page).await.unwrap();
        let done = batch.len() < page.limit as usize;
        page.after = batch.last().map(|s| s.id.clone());
        subs.extend(batch);
        if done {
            break;
        }
    }
    let per_phase: BTreeMap<String, Vec<ActionClass>> = spec
        .phases
        .iter()
        .map(|p| (p.mode.as_str().to_owned(), ActionClass::ALL.into_iter().filter(|c| p.mode.denies(*c)).collect()))
        .collect();
    let (mut affected, mut untouched) = (Vec::new(), Vec::new());
    let (mut by_unit, mut by_family, mut by_phase) =
        (BTreeMap::<String, usize>::new(), BTreeMap::<String, usize>::new(), BTreeMap::<String, usize>::new());
    for sub in subs {
        let covered =
            spec.scope.subscriptions.contains(&sub.id) || spec.scope.units.iter().any(|u| sub.unit.is_within(u));
        let services: Vec<&String> = restricted_names
            .iter()
            .filter(|n| covered && (sub.services.is_empty() || sub.services.contains(n)))
            .collect();
        if services.is_empty() {
            untouched.push(verdict_control::Untouched { subscription: sub.id, unit: sub.unit.to_string() });
            continue;
        }
        *by_unit.entry(sub.unit.to_string()).or_default() += 1;
        let mut families: Vec<&str> = services.iter().map(|s| s.split('.').next().unwrap()).collect();
        families.dedup();
        for f in families {
            *by_family.entry(f.to_owned()).or_default() += 1;
        }
        for p in spec.phases.iter().filter(|p| p.mode != verdict_model::PhaseMode::Notice) {
            *by_phase.entry(p.mode.as_str().to_owned()).or_default() += 1;
        }
        let services: BTreeMap<String, _> = services.into_iter().map(|s| (s.clone(), per_phase.clone())).collect();
        affected.push(verdict_control::Affected {
            subscription: sub.id,
            unit: sub.unit.to_string(),
            services: services.into(),
        });
    }
    let content = serde_json::to_vec(&(&spec.tenant, &spec.phases, &affected, &untouched, &exempted)).unwrap();
    let hash = sha2::Digest::finalize(<sha2::Sha256 as sha2::Digest>::new_with_prefix(&content));
    let hex: String = hash.iter().map(|b| format!("{b:02x}")).collect();
    json!({"tenant": spec.tenant, "affected": affected, "untouched": untouched, "exempted": exempted,
        "summary": {"affected_subscriptions": affected.len(), "untouched_subscriptions": untouched.len(),
            "by_unit": by_unit, "by_family": by_family, "by_phase": by_phase},
        "hash": format!("sha256:{hex}")})
}

/// The diff as it was computed before: every action class decided on the
/// snapshots without and with the order, for each affected subscription,
/// service and phase.
fn diff_deciding_every_class(core: &Core, spec: &OrderSpec, preview: &verdict_control::Preview) -> Vec<Value> {
    use verdict_model::{ActionClass, Lifecycle, Order, OrderState};
    let now = core.now();
    let current = core.snapshot();
    let with = Order {
        id: "ord-preview".into(),
        seq: i64::MAX / 2,
        spec: spec.clone(),
        created_at: now,
        lifted_at: None,
        lift_reason: None,
        superseded_by: None,
        retained: Vec::new(),
        log_index: None,
        lifecycle: Lifecycle { state: OrderState::Approved, ..Lifecycle::default() },
    };
    let with = current.apply(&[verdict_engine::Change::PutOrder(with)], current.version()).unwrap();
    let mut out = Vec::new();
    for sub in &preview.affected {
        for service in sub.services.keys() {
            for (i, phase) in spec.phases.iter().enumerate() {
                if spec.phases.get(i + 1).is_some_and(|next| next.start <= now) {
                    continue;
                }
                let at = phase.start.max(now);
                let classes = |snapshot: &verdict_engine::Snapshot| -> Vec<ActionClass> {
                    ActionClass::ALL
                        .into_iter()
                        .filter(|c| !snapshot.decide(&sub.subscription, service, c.as_str(), at).allowed)
                        .collect()
                };
                let (before, after) = (classes(&current), classes(&with));
                if before != after {
                    out.push(json!({"subscription": sub.subscription, "service": service, "from": at,
                        "phase": phase.mode, "before": before, "after": after}));
                }
            }
        }
    }
    out
}

/// Checks the preview against the store's; returns its hash.
async fn agrees(core: &Core, spec: &OrderSpec, step: &str) -> Value {
    let got = serde_json::to_value(core.preview(spec, None).await.unwrap()).unwrap();
    let expected = preview_from_the_store(core, spec).await;
    for field in ["tenant", "affected", "untouched", "exempted", "summary", "hash"] {
        // The first difference, not two pages of JSON.
        if let (Some(got), Some(expected)) = (got[field].as_array(), expected[field].as_array()) {
            let first = got.iter().zip(expected).position(|(g, e)| g != e);
            assert_eq!(first.map(|i| (&got[i], &expected[i])), None, "{step}: {field}");
            assert_eq!(got.len(), expected.len(), "{step}: {field}");
        }
        assert_eq!(got[field], expected[field], "{step}: {field}");
    }
    let diff = serde_json::to_value(core.diff(spec, None).await.unwrap().changes).unwrap();
    let reference = diff_deciding_every_class(core, spec, &core.preview(spec, None).await.unwrap());
    assert!(!reference.is_empty(), "{step}: the diff should have something to compare");
    assert_eq!(diff, Value::Array(reference), "{step}: diff");
    got["hash"].clone()
}

#[tokio::test]
async fn the_in_memory_inventory_previews_what_the_store_holds_through_changes_and_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("verdict.db");
    // One log, one key: a restart opens the store with the key that signed it.
    let key = SigningKey::generate("verdict.test/log").unwrap();
    let open = || async {
        let store = Arc::new(SqliteStore::open(&path).await.unwrap());
        Core::open(store, key.clone()).await.unwrap()
    };
    let core = open().await;
    let service_lists =
        [json!([]), json!(["storage.blob"]), json!(["ai.vision", "security.defender"]), json!(["compute.vm"])];
    // Enough subscriptions for one tenant to span several chunks, inserted
    // in no particular order, next to a second tenant.
    let subs: Vec<Value> = (0..2500)
        .map(|i| (i * 7919) % 2500)
        .map(|i| {
            let unit = ["a", "a/b", "c", "a/b/d"][i % 4];
            json!({"id": format!("s{i}"), "tenant": "t", "unit": unit, "services": service_lists[i % 4]})
        })
        .chain((0..50).map(|i| json!({"id": format!("o{i}"), "tenant": "other", "unit": "a"})))
        .collect();
    let inventory = json!({"tenants": [{"id": "t", "kind": "government"}, {"id": "other", "kind": "enterprise"}],
        "subscriptions": subs});
    core.import(&Actor::admin(), serde_json::from_value(inventory).unwrap(), &|_| ()).await.unwrap();
    // Orders already in force, so that decisions differ from one
    // subscription and phase to another.
    for existing in [
        json!({"tenant": "t", "clause": "AUP-1", "scope": {"units": ["a/b/d"]}, "services": ["storage.*"],
            "phases": [{"mode": "disabled", "start": "2020-01-01T00:00:00Z"}]}),
        json!({"tenant": "t", "clause": "AUP-1", "scope": {"subscriptions": ["s3", "s7"]}, "services": ["*"],
            "phases": [{"mode": "export_only", "start": "2030-01-15T00:00:00Z"}]}),
    ] {
        core.create_order(&Actor::admin(), serde_json::from_value(existing).unwrap()).await.unwrap();
    }
    let spec: OrderSpec = serde_json::from_value(json!({"tenant": "t", "clause": "AUP-2",
        "scope": {"units": ["a/b"], "subscriptions": ["s2", "s3"]}, "services": ["storage.*", "ai.*"],
        "exempt": ["security.*"], "phases": [{"mode": "notice", "start": "2030-01-01T00:00:00Z"},
            {"mode": "disabled", "start": "2030-02-01T00:00:00Z"}]}))
    .unwrap();
    agrees(&core, &spec, "after the import").await;

    core.move_subscription(&Actor::admin(), "s10", verdict_model::UnitPath::parse("a/b").unwrap()).await.unwrap();
    core.move_subscription(&Actor::admin(), "s5", verdict_model::UnitPath::parse("c").unwrap()).await.unwrap();
    core.delete_subscription(&Actor::admin(), "s6").await.unwrap();
    core.delete_subscription(&Actor::admin(), "s9").await.unwrap();
    let late = json!({"id": "s0000", "tenant": "t", "unit": "a/b/d", "services": ["ai.vision"]});
    core.create_subscription(&Actor::admin(), serde_json::from_value(late).unwrap()).await.unwrap();
    agrees(&core, &spec, "after moves, deletions and a creation").await;

    // A re-import that moves some subscriptions and changes others' services.
    let again: Vec<Value> = (100..400)
        .map(|i| {
            json!({"id": format!("s{i}"), "tenant": "t", "unit": if i % 2 == 0 { "c" } else { "a/b" },
            "services": service_lists[(i + 1) % 4]})
        })
        .collect();
    let inventory = json!({"tenants": [], "subscriptions": again});
    core.import(&Actor::admin(), serde_json::from_value(inventory).unwrap(), &|_| ()).await.unwrap();
    let incremental = agrees(&core, &spec, "after a re-import").await;

    drop(core);
    let reopened = open().await;
    assert_eq!(agrees(&reopened, &spec, "rebuilt from the store on start").await, incremental);
}
