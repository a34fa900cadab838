//! The control plane's rules for changes: illegal ones get specific errors
//! and leave the store and the snapshot exactly as they were.

use std::sync::Arc;

use verdict_control::{Actor, Core, CoreError, ErrorKind, SigningKey};
use verdict_model::{Inventory, OrderSpec, Subscription, Tenant, TenantKind, Unit, UnitPath};
use verdict_store::Store;
use verdict_testdb::{Backend, TestDb};

async fn core(backend: Backend) -> (Core, Arc<dyn Store>, TestDb) {
    let db = TestDb::new(backend).await;
    let store = db.open().await;
    let core = Core::open(store.clone(), SigningKey::generate("verdict.test/log").unwrap()).await.unwrap();
    let inventory: Inventory = serde_json::from_value(serde_json::json!({
        "tenants": [{"id": "mod", "kind": "government"}, {"id": "acme", "kind": "enterprise"}],
        "units": [{"tenant": "mod", "path": "intel/signals"}, {"tenant": "mod", "path": "cyber"}],
        "subscriptions": [
            {"id": "sig", "tenant": "mod", "unit": "intel/signals", "services": ["storage.blob"]},
            {"id": "ops", "tenant": "mod", "unit": "cyber", "services": ["security.defender"]},
            {"id": "acme-1", "tenant": "acme", "unit": "root", "services": ["storage.blob"]}
        ]
    }))
    .unwrap();
    let summary = core.import(&Actor::admin(), inventory, &|_| ()).await.unwrap();
    assert_eq!((summary.tenants_created, summary.units_created, summary.subscriptions_created), (2, 4, 3));
    (core, store, db)
}

fn spec(value: serde_json::Value) -> OrderSpec {
    serde_json::from_value(value).unwrap()
}

fn order_body() -> serde_json::Value {
    serde_json::json!({
        "tenant": "mod", "clause": "AUP-2",
        "scope": {"units": ["intel/signals"]},
        "services": ["storage.*"],
        "phases": [{"mode": "disabled", "start": "2020-01-01T00:00:00Z"}]
    })
}

async fn fingerprint(store: &dyn Store, core: &Core) -> String {
    let loaded = store.read().await.unwrap().load().await.unwrap();
    format!("{:?}|{:?}|{}|{:?}", loaded.inventory, loaded.orders, loaded.version, core.snapshot().counts())
}

#[tokio::test]
async fn rejected_changes_have_specific_codes_and_leave_nothing_behind() {
    for backend in verdict_testdb::backends() {
        rejected_changes_have_specific_codes_and_leave_nothing_behind_on(backend).await;
    }
}

async fn rejected_changes_have_specific_codes_and_leave_nothing_behind_on(backend: Backend) {
    let (core, store, _dir) = core(backend).await;
    let before = fingerprint(store.as_ref(), &core).await;
    let mut spans = order_body();
    spans["scope"]["subscriptions"] = serde_json::json!(["acme-1"]);
    let mut unknown_unit = order_body();
    unknown_unit["scope"]["units"] = serde_json::json!(["intel/nowhere"]);
    let cases: Vec<(&str, Result<(), CoreError>)> = vec![
        (
            "tenant-exists",
            core.create_tenant(
                &Actor::admin(),
                Tenant { id: "mod".into(), kind: TenantKind::Other, name: String::new() },
            )
            .await
            .map(|_| ()),
        ),
        ("scope-spans-tenants", core.create_order(&Actor::admin(), spec(spans)).await.map(|_| ())),
        ("unknown-unit", core.create_order(&Actor::admin(), spec(unknown_unit)).await.map(|_| ())),
        (
            "unknown-subscription",
            core.move_subscription(&Actor::admin(), "nope", UnitPath::parse("cyber").unwrap()).await.map(|_| ()),
        ),
        (
            "unknown-unit",
            core.move_subscription(&Actor::admin(), "sig", UnitPath::parse("cyber/new").unwrap()).await.map(|_| ()),
        ),
        ("unknown-order", core.lift_order(&Actor::admin(), "ord-nope", "because").await.map(|_| ())),
        (
            "subscription-exists",
            core.create_subscription(
                &Actor::admin(),
                Subscription {
                    id: "sig".into(),
                    tenant: "mod".into(),
                    unit: UnitPath::parse("cyber").unwrap(),
                    services: vec![],
                    region: String::new(),
                },
            )
            .await
            .map(|_| ()),
        ),
        (
            "unknown-service",
            core.create_subscription(
                &Actor::admin(),
                Subscription {
                    id: "new".into(),
                    tenant: "mod".into(),
                    unit: UnitPath::parse("cyber").unwrap(),
                    services: vec!["storage.blbo".into()],
                    region: String::new(),
                },
            )
            .await
            .map(|_| ()),
        ),
        (
            "unit-not-empty",
            core.delete_unit(&Actor::admin(), "mod", &UnitPath::parse("intel").unwrap()).await.map(|_| ()),
        ),
        (
            "unit-exists",
            core.create_unit(&Actor::admin(), Unit { tenant: "mod".into(), path: UnitPath::parse("cyber").unwrap() })
                .await
                .map(|_| ()),
        ),
    ];
    for (code, result) in cases {
        let err = result.expect_err(code);
        assert_eq!(err.code(), code, "{err}");
        assert_ne!(err.kind(), ErrorKind::Internal);
    }
    let mut bad_import: Inventory = serde_json::from_value(serde_json::json!({
        "tenants": [{"id": "fresh", "kind": "individual"}],
        "subscriptions": [
            {"id": "fine", "tenant": "fresh", "unit": "a", "services": []},
            {"id": "acme-1", "tenant": "mod", "unit": "cyber", "services": []}
        ]
    }))
    .unwrap();
    assert_eq!(
        core.import(&Actor::admin(), bad_import.clone(), &|_| ()).await.unwrap_err().code(),
        "cross-tenant-move"
    );
    bad_import.subscriptions.pop();
    bad_import.subscriptions.push(bad_import.subscriptions[0].clone());
    assert_eq!(core.import(&Actor::admin(), bad_import, &|_| ()).await.unwrap_err().code(), "duplicate-record");
    assert_eq!(fingerprint(store.as_ref(), &core).await, before, "a rejected change left something behind");
}

#[tokio::test]
async fn lifting_twice_is_refused_and_moves_report_retention() {
    for backend in verdict_testdb::backends() {
        lifting_twice_is_refused_and_moves_report_retention_on(backend).await;
    }
}

async fn lifting_twice_is_refused_and_moves_report_retention_on(backend: Backend) {
    let (core, _store, _dir) = core(backend).await;
    let (order, _) = core.create_order(&Actor::admin(), spec(order_body())).await.unwrap();
    let moved = core.move_subscription(&Actor::admin(), "sig", UnitPath::parse("cyber").unwrap()).await.unwrap();
    assert_eq!(moved.retained_by, vec![order.id.clone()]);
    let now = core.now();
    assert!(!core.engine().decide("sig", "storage.blob", "get-blob", now).allowed, "retained after the move");
    core.lift_order(&Actor::admin(), &order.id, "appeal upheld").await.unwrap();
    assert!(core.engine().decide("sig", "storage.blob", "get-blob", core.now().plus(1)).allowed);
    let err = core.lift_order(&Actor::admin(), &order.id, "again").await.unwrap_err();
    assert_eq!(err.code(), "order-already-lifted");
    assert_eq!(err.kind(), ErrorKind::Conflict);
}

#[tokio::test]
async fn reimporting_the_same_inventory_changes_nothing() {
    for backend in verdict_testdb::backends() {
        reimporting_the_same_inventory_changes_nothing_on(backend).await;
    }
}

async fn reimporting_the_same_inventory_changes_nothing_on(backend: Backend) {
    let (core, _store, _dir) = core(backend).await;
    let inventory = Inventory {
        tenants: vec![Tenant { id: "mod".into(), kind: TenantKind::Government, name: String::new() }],
        units: vec![],
        subscriptions: vec![],
    };
    let summary = core.import(&Actor::admin(), inventory, &|_| ()).await.unwrap();
    assert_eq!(summary.unchanged, 1);
    assert_eq!(summary.tenants_created + summary.tenants_updated, 0);
}

#[tokio::test]
async fn reimport_moves_into_new_units_with_retention() {
    for backend in verdict_testdb::backends() {
        reimport_moves_into_new_units_with_retention_on(backend).await;
    }
}

async fn reimport_moves_into_new_units_with_retention_on(backend: Backend) {
    let (core, store, _dir) = core(backend).await;
    let (order, _) = core.create_order(&Actor::admin(), spec(order_body())).await.unwrap();
    let moved: Inventory = serde_json::from_value(serde_json::json!({
        "subscriptions": [{"id": "sig", "tenant": "mod", "unit": "brand/new/unit", "services": ["storage.blob"]}]
    }))
    .unwrap();
    let summary = core.import(&Actor::admin(), moved, &|_| ()).await.unwrap();
    assert_eq!((summary.subscriptions_moved, summary.units_created), (1, 3));
    let loaded = store.read().await.unwrap().load().await.unwrap();
    let sig = loaded.inventory.subscriptions.iter().find(|s| s.id == "sig").unwrap();
    assert_eq!(sig.unit.as_str(), "brand/new/unit");
    assert_eq!(loaded.orders[0].retained, vec!["sig".to_owned()]);
    assert!(!core.engine().decide("sig", "storage.blob", "get-blob", core.now()).allowed, "{}", order.id);
}

#[tokio::test]
async fn an_order_entry_states_the_coverage_and_regions_of_the_inventory_as_committed() {
    for backend in verdict_testdb::backends() {
        an_order_entry_states_the_coverage_and_regions_of_the_inventory_as_committed_on(backend).await;
    }
}

async fn an_order_entry_states_the_coverage_and_regions_of_the_inventory_as_committed_on(backend: Backend) {
    let (core, _store, _dir) = core(backend).await;
    let admin = Actor::admin();
    for (id, unit, region) in [("sig-2", "intel/signals/nl", "westeurope"), ("log-1", "logistics", "northeurope")] {
        let unit = UnitPath::parse(unit).unwrap();
        if !core.units("mod").await.unwrap().contains(&unit) {
            core.create_unit(&admin, Unit { tenant: "mod".into(), path: unit.clone() }).await.unwrap();
        }
        let sub = Subscription { id: id.into(), tenant: "mod".into(), unit, services: vec![], region: region.into() };
        core.create_subscription(&admin, sub).await.unwrap();
    }
    // A move just before the order: the order's entry counts it where it is now.
    core.move_subscription(&admin, "log-1", UnitPath::parse("intel/signals").unwrap()).await.unwrap();
    core.create_order(&admin, spec(order_body())).await.unwrap();
    let index = core.checkpoint().checkpoint.size - 1;
    let record = core.log_record(index).await.unwrap();
    let entry: serde_json::Value = serde_json::from_slice(&record.entry).unwrap();
    let public = &entry["public"];
    assert_eq!(public["scope"]["subscriptions_covered"], 3, "{entry}");
    assert_eq!(public["territorial_scope"], serde_json::json!(["northeurope", "westeurope"]), "{entry}");
}
