//! The control plane and its transparency log: one entry per change, none
//! for a refused change, concurrent writers sharing syncs, and order ends
//! logged once when they come.

use std::sync::Arc;

use serde_json::json;
use verdict_control::{Actor, Core, ManualClock, SigningKey};
use verdict_log::{Checkpoint, Tree};
use verdict_model::{Subscription, Timestamp, UnitPath};
use verdict_store::Store;
use verdict_testdb::{Backend, TestDb};

const T0: Timestamp = Timestamp(1_800_000_000);

fn key() -> SigningKey {
    SigningKey::from_seed("verdict.test/log", [7; 32]).unwrap()
}

async fn open(db: &TestDb, clock: Arc<ManualClock>) -> (Core, Arc<dyn Store>) {
    let store = db.open().await;
    let core = Core::open_with_clock(store.clone(), key(), clock).await.unwrap();
    (core, store)
}

async fn seed(core: &Core) {
    let inventory = serde_json::from_value(json!({
        "tenants": [{"id": "mod", "kind": "government"}],
        "units": [{"tenant": "mod", "path": "intel"}],
        "subscriptions": [{"id": "sig", "tenant": "mod", "unit": "intel", "services": ["storage.blob"]}]
    }))
    .unwrap();
    core.import(&Actor::admin(), inventory, &|_| ()).await.unwrap();
}

fn order(end: Option<Timestamp>) -> verdict_model::OrderSpec {
    serde_json::from_value(json!({
        "tenant": "mod", "clause": "AUP-2", "scope": {"units": ["intel"]}, "services": ["storage.*"],
        "phases": [{"mode": "disabled", "start": T0.plus(-10)}], "end": end
    }))
    .unwrap()
}

/// The stored entries rebuild the tree the published checkpoint signs.
async fn assert_log_matches_checkpoint(core: &Core, store: &dyn Store) -> u64 {
    let records = store.read().await.unwrap().log_records(0, 100_000).await.unwrap();
    let signed = core.checkpoint();
    let checked = Checkpoint::open(&signed.note, &core.log_key()).unwrap();
    assert_eq!(checked.size, records.len() as u64);
    let tree = Tree::from_leaves(records.iter().map(|r| verdict_log::leaf_hash(&r.entry)));
    assert_eq!(tree.root(), checked.root);
    checked.size
}

#[tokio::test]
async fn each_change_is_one_entry_and_a_refused_change_none() {
    for backend in verdict_testdb::backends() {
        each_change_is_one_entry_and_a_refused_change_none_on(backend).await;
    }
}

async fn each_change_is_one_entry_and_a_refused_change_none_on(backend: Backend) {
    let db = TestDb::new(backend).await;
    let (core, store) = open(&db, Arc::new(ManualClock::new(T0))).await;
    seed(&core).await;
    assert_eq!(assert_log_matches_checkpoint(&core, store.as_ref()).await, 1);
    let (created, _) = core.create_order(&Actor::new("cli:alice"), order(None)).await.unwrap();
    assert_eq!(created.log_index, Some(1));
    let refused = core.move_subscription(&Actor::admin(), "sig", UnitPath::parse("nowhere").unwrap()).await;
    assert_eq!(refused.unwrap_err().code(), "unknown-unit");
    let refused = core.lift_order(&Actor::admin(), "ord-nope", "because").await;
    assert_eq!(refused.unwrap_err().code(), "unknown-order");
    assert_eq!(assert_log_matches_checkpoint(&core, store.as_ref()).await, 2);
    let record = core.log_record(1).await.unwrap();
    let private: serde_json::Value = serde_json::from_slice(&record.private).unwrap();
    assert_eq!(private["actor"], "cli:alice");
    assert_eq!(private["tenant"], "mod");
    assert_eq!(private["units"], json!(["intel"]));

    // An event that changes no state is logged the same way.
    let index = core
        .record(
            &Actor::admin(),
            "case.opened",
            Some("mod"),
            json!({"source_type": "third_party"}),
            json!({"title": "x"}),
        )
        .await
        .unwrap();
    assert_eq!(index, 2);
    assert_eq!(assert_log_matches_checkpoint(&core, store.as_ref()).await, 3);

    // Reopened, the log and checkpoint are as they were (signing is
    // deterministic, so even the note is the same).
    let note = core.checkpoint().note.clone();
    drop(core);
    let (again, store) = open(&db, Arc::new(ManualClock::new(T0))).await;
    assert_eq!(again.checkpoint().note, note);
    assert_eq!(assert_log_matches_checkpoint(&again, store.as_ref()).await, 3);
}

#[tokio::test]
async fn concurrent_writers_share_syncs_and_every_change_lands_in_the_log() {
    for backend in verdict_testdb::backends() {
        concurrent_writers_share_syncs_and_every_change_lands_in_the_log_on(backend).await;
    }
}

async fn concurrent_writers_share_syncs_and_every_change_lands_in_the_log_on(backend: Backend) {
    let db = TestDb::new(backend).await;
    let (core, store) = open(&db, Arc::new(ManualClock::new(T0))).await;
    seed(&core).await;
    core.create_order(&Actor::admin(), order(None)).await.unwrap();
    let core = Arc::new(core);
    let tasks: Vec<_> = (0..64)
        .map(|i| {
            let core = core.clone();
            tokio::spawn(async move {
                let sub = Subscription {
                    id: format!("s{i}"),
                    tenant: "mod".into(),
                    unit: UnitPath::parse("intel").unwrap(),
                    region: String::new(),
                    services: vec![],
                };
                core.create_subscription(&Actor::admin(), sub).await.unwrap()
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    assert_eq!(assert_log_matches_checkpoint(&core, store.as_ref()).await, 66);
    // Acknowledged means decided on: every new subscription is in the
    // published snapshot.
    let snapshot = core.snapshot();
    for i in 0..64 {
        let decision = snapshot.decide(&format!("s{i}"), "storage.blob", "put-blob", T0);
        assert!(!decision.allowed, "s{i} is not covered by the order's unit");
    }
}

#[tokio::test]
async fn concurrent_appends_are_group_committed_with_distinct_consecutive_indexes() {
    for backend in verdict_testdb::backends() {
        concurrent_appends_are_group_committed_with_distinct_consecutive_indexes_on(backend).await;
    }
}

async fn concurrent_appends_are_group_committed_with_distinct_consecutive_indexes_on(backend: Backend) {
    let db = TestDb::new(backend).await;
    let (core, store) = open(&db, Arc::new(ManualClock::new(T0))).await;
    seed(&core).await;
    let core = Arc::new(core);
    let tasks: Vec<_> = (0..200)
        .map(|i| {
            let core = core.clone();
            tokio::spawn(async move {
                let index = core
                    .record(
                        &Actor::admin(),
                        "case.note",
                        Some("mod"),
                        json!({"n": i}),
                        json!({"text": format!("note {i}")}),
                    )
                    .await
                    .unwrap();
                // Acknowledged means covered by a signed checkpoint.
                assert!(core.checkpoint().checkpoint.size > index);
                index
            })
        })
        .collect();
    let mut indexes = Vec::new();
    for task in tasks {
        indexes.push(task.await.unwrap());
    }
    indexes.sort_unstable();
    assert_eq!(indexes, (1..=200).collect::<Vec<u64>>());
    assert_eq!(assert_log_matches_checkpoint(&core, store.as_ref()).await, 201);
    // Each entry is the one its caller asked for.
    for index in [1u64, 100, 200] {
        let record = core.log_record(index).await.unwrap();
        let entry: serde_json::Value = serde_json::from_slice(&record.entry).unwrap();
        let private: serde_json::Value = serde_json::from_slice(&record.private).unwrap();
        assert_eq!(private["facts"]["text"], format!("note {}", entry["public"]["n"]));
    }
    // An entry too large for the log is refused alone.
    let huge = core.record(&Actor::admin(), "case.note", None, json!({"pad": "x".repeat(70_000)}), json!({})).await;
    assert_eq!(huge.unwrap_err().code(), "entry-too-large");
    assert_eq!(core.record(&Actor::admin(), "case.note", None, json!({}), json!({})).await.unwrap(), 201);
}

#[tokio::test]
async fn an_order_end_is_logged_once_when_it_comes_and_a_lifted_order_never_expires() {
    for backend in verdict_testdb::backends() {
        an_order_end_is_logged_once_when_it_comes_and_a_lifted_order_never_expires_on(backend).await;
    }
}

async fn an_order_end_is_logged_once_when_it_comes_and_a_lifted_order_never_expires_on(backend: Backend) {
    let db = TestDb::new(backend).await;
    let clock = Arc::new(ManualClock::new(T0));
    let (core, store) = open(&db, clock.clone()).await;
    seed(&core).await;
    let (ending, _) = core.create_order(&Actor::admin(), order(Some(T0.plus(100)))).await.unwrap();
    let (lifted, _) = core.create_order(&Actor::admin(), order(Some(T0.plus(50)))).await.unwrap();
    core.lift_order(&Actor::admin(), &lifted.id, "appeal upheld").await.unwrap();
    assert_eq!(core.next_expiry().await, Some(T0.plus(100)));
    assert_eq!(core.log_expiries().await.unwrap(), 0);
    clock.set(T0.plus(99));
    assert_eq!(core.log_expiries().await.unwrap(), 0);
    clock.set(T0.plus(100));
    assert_eq!(core.log_expiries().await.unwrap(), 1);
    assert_eq!(core.log_expiries().await.unwrap(), 0);
    let size = assert_log_matches_checkpoint(&core, store.as_ref()).await;
    let last = core.log_record(size - 1).await.unwrap();
    assert_eq!(last.kind, "order.expired");
    let entry: serde_json::Value = serde_json::from_slice(&last.entry).unwrap();
    assert_eq!(entry["public"]["order"], ending.id.as_str());
    assert_eq!(entry["public"]["end"], T0.plus(100).to_string());
    drop(core);
    // After a restart the end is remembered as logged.
    let (again, _) = open(&db, clock.clone()).await;
    clock.set(T0.plus(1000));
    assert_eq!(again.next_expiry().await, None);
    assert_eq!(again.log_expiries().await.unwrap(), 0);
}

#[tokio::test]
async fn users_survive_a_restart_and_revocation_sticks() {
    for backend in verdict_testdb::backends() {
        users_survive_a_restart_and_revocation_sticks_on(backend).await;
    }
}

async fn users_survive_a_restart_and_revocation_sticks_on(backend: Backend) {
    let db = TestDb::new(backend).await;
    let clock = Arc::new(ManualClock::new(T0));
    let (core, _) = open(&db, clock.clone()).await;
    seed(&core).await;
    let user = |name: &str, role: verdict_model::Role, tenant: Option<&str>| verdict_model::User {
        name: name.into(),
        roles: vec![role],
        tenant: tenant.map(str::to_owned),
        created_at: T0,
        revoked_at: None,
        scope: None,
    };
    let (_, kept) = core.add_user(&Actor::admin(), user("kept", verdict_model::Role::Approver, None)).await.unwrap();
    let (_, gone) =
        core.add_user(&Actor::admin(), user("gone", verdict_model::Role::Tenant, Some("mod"))).await.unwrap();
    assert_eq!(core.authenticate(&gone).unwrap().tenant.as_deref(), Some("mod"));
    core.revoke_user(&Actor::new("cli:root"), "gone").await.unwrap();
    assert!(core.authenticate(&gone).is_none());
    drop(core);
    let (again, store) = open(&db, clock).await;
    assert_eq!(again.authenticate(&kept).unwrap().roles, [verdict_model::Role::Approver]);
    assert!(again.authenticate(&gone).is_none());
    assert!(again.authenticate("vdt_approver_0000").is_none());
    let records = store.read().await.unwrap().log_records(0, 100).await.unwrap();
    let revoked = records.iter().find(|r| r.kind == "user.revoked").unwrap();
    let private: serde_json::Value = serde_json::from_slice(&revoked.private).unwrap();
    assert_eq!(private["actor"], "cli:root");
    assert_eq!(revoked.tenant.as_deref(), Some("mod"));
}

#[tokio::test]
async fn every_checkpoint_the_log_publishes_is_already_stored_with_its_entries() {
    for backend in verdict_testdb::backends() {
        every_checkpoint_the_log_publishes_is_already_stored_with_its_entries_on(backend).await;
    }
}

async fn every_checkpoint_the_log_publishes_is_already_stored_with_its_entries_on(backend: Backend) {
    let db = TestDb::new(backend).await;
    let clock = Arc::new(ManualClock::new(T0));
    let (core, store) = open(&db, clock).await;
    seed(&core).await;
    let admin = Actor::admin();
    for i in 0..5 {
        let sub = Subscription {
            id: format!("s{i}"),
            tenant: "mod".into(),
            unit: UnitPath::parse("intel").unwrap(),
            services: vec![],
            region: String::new(),
        };
        core.create_subscription(&admin, sub).await.unwrap();
        // The moment an action returns, its checkpoint is published, and
        // the store — as another process would read it, with no later
        // action or restart to write it — already holds it.
        let published = core.checkpoint();
        let stored = store.read().await.unwrap().checkpoints().await.unwrap();
        assert_eq!(stored.last(), Some(&(published.checkpoint.size, published.note.clone())), "after change {i}");
    }
}
