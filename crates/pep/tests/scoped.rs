//! Scoped replicas against a real server on loopback, on every store
//! backend: a pep token limited to tenants or regions gets only that part
//! of the snapshot and of the change stream, its replica resyncs when the
//! scope gains a tenant or a subscription leaves it, and after any sequence
//! of changes (a partition in the middle included) it decides exactly as the
//! server for everything it holds and refuses the rest when told to.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use tokio::net::TcpListener;
use verdict_control::{Actor, Core, SigningKey};
use verdict_engine::{Basis, SnapshotDocument};
use verdict_model::{Inventory, OrderSpec, ReplicaScope, Role, Subscription, Timestamp, UnitPath, User};
use verdict_pep::{HttpSource, Replica, ReplicaOptions};
use verdict_server::{AppState, Tokens};
use verdict_testdb::{Backend, TestDb};

mod common;
use common::Relay;

const ADMIN: &str = "admin-secret";
const PEP: &str = "pep-secret";

struct World {
    core: Arc<Core>,
    url: String,
    relay: Relay,
    _db: TestDb,
}

/// Three tenants over two regions: the ministry in both, acme in
/// westeurope only, globex in eastus only; an order on the ministry's
/// signals unit.
async fn world(backend: Backend) -> World {
    let db = TestDb::new(backend).await;
    let core = Arc::new(Core::open(db.open().await, SigningKey::generate("verdict.test/log").unwrap()).await.unwrap());
    let inventory: Inventory = serde_json::from_value(json!({
        "tenants": [
            {"id": "ministry", "kind": "government"},
            {"id": "acme", "kind": "enterprise"},
            {"id": "globex", "kind": "enterprise"},
        ],
        "units": [{"tenant": "ministry", "path": "cyber-defense"}],
        "subscriptions": [
            {"id": "sig-eu", "tenant": "ministry", "unit": "intelligence/signals", "region": "westeurope"},
            {"id": "sig-us", "tenant": "ministry", "unit": "intelligence/signals", "region": "eastus"},
            {"id": "log-eu", "tenant": "ministry", "unit": "logistics", "region": "westeurope"},
            {"id": "acme-eu", "tenant": "acme", "unit": "web", "region": "westeurope"},
            {"id": "globex-us", "tenant": "globex", "unit": "apps", "region": "eastus"},
        ],
    }))
    .unwrap();
    core.import(&Actor::admin(), inventory, &|_| ()).await.unwrap();
    core.create_order(&Actor::admin(), disabled("ministry", "intelligence/signals")).await.unwrap();
    let state = Arc::new(AppState::new(core.clone(), Tokens { admin: ADMIN.into(), pep: PEP.into() }));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, verdict_server::router(state)).await.unwrap() });
    World { core, url: format!("http://{addr}"), relay: Relay::start(addr).await, _db: db }
}

/// An order disabling storage and AI on a unit since an hour ago.
fn disabled(tenant: &str, unit: &str) -> OrderSpec {
    let now = Timestamp::now().seconds();
    serde_json::from_value(json!({
        "tenant": tenant, "clause": "AUP-2", "scope": {"units": [unit]},
        "services": ["storage.*", "ai.*"],
        "phases": [{"mode": "disabled", "start": Timestamp(now - 3_600)}],
    }))
    .unwrap()
}

fn scope(tenants: &[&str], regions: &[&str]) -> ReplicaScope {
    ReplicaScope::new(tenants.iter().map(|t| t.to_string()), regions.iter().map(|r| r.to_string()))
}

/// A pep user with `scope`, and its token.
async fn pep_user(core: &Core, name: &str, scope: ReplicaScope) -> String {
    let user = User {
        name: name.into(),
        roles: vec![Role::Pep],
        tenant: None,
        scope: Some(scope),
        created_at: Timestamp::default(),
        revoked_at: None,
    };
    core.add_user(&Actor::admin(), user).await.unwrap().1
}

async fn document(url: &str, token: &str) -> SnapshotDocument {
    let response = reqwest::Client::new().get(format!("{url}/v1/snapshot")).bearer_auth(token).send().await.unwrap();
    assert_eq!(response.status(), 200);
    serde_json::from_str(&response.text().await.unwrap()).unwrap()
}

fn tenants(doc: &SnapshotDocument) -> BTreeSet<&str> {
    doc.tenants.iter().map(|t| t.id.as_str()).collect()
}

fn subscriptions(doc: &SnapshotDocument) -> BTreeSet<&str> {
    doc.units.iter().flat_map(|u| u.subscriptions.iter().map(String::as_str)).collect()
}

#[tokio::test]
async fn a_scoped_token_gets_only_its_part_of_the_snapshot() {
    for backend in verdict_testdb::backends() {
        let world = world(backend).await;
        let ministry = pep_user(&world.core, "pep-ministry", scope(&["ministry"], &[])).await;
        let europe = pep_user(&world.core, "pep-europe", scope(&[], &["westeurope"])).await;
        let ministry_us = pep_user(&world.core, "pep-ministry-us", scope(&["ministry"], &["eastus"])).await;

        let whole = document(&world.url, PEP).await;
        assert_eq!(whole.scope, None);
        assert_eq!(tenants(&whole), BTreeSet::from(["acme", "globex", "ministry"]), "{backend}");
        assert_eq!(subscriptions(&whole).len(), 5);

        let doc = document(&world.url, &ministry).await;
        assert_eq!(doc.scope, Some(scope(&["ministry"], &[])));
        assert_eq!(tenants(&doc), BTreeSet::from(["ministry"]), "{backend}");
        assert_eq!(subscriptions(&doc), BTreeSet::from(["log-eu", "sig-eu", "sig-us"]));
        assert!(doc.units.iter().all(|u| u.tenant == "ministry"), "no other tenant's unit tree");
        assert!(doc.units.iter().any(|u| u.path.as_str() == "cyber-defense"), "every unit of the tenant");
        assert_eq!(doc.orders.len(), 1);

        let doc = document(&world.url, &europe).await;
        assert_eq!(tenants(&doc), BTreeSet::from(["acme", "ministry"]), "only tenants with a subscription there");
        assert_eq!(subscriptions(&doc), BTreeSet::from(["acme-eu", "log-eu", "sig-eu"]));
        assert!(doc.units.iter().all(|u| u.tenant != "globex"));

        let doc = document(&world.url, &ministry_us).await;
        assert_eq!(tenants(&doc), BTreeSet::from(["ministry"]));
        assert_eq!(subscriptions(&doc), BTreeSet::from(["sig-us"]));
        let size = |d: &SnapshotDocument| serde_json::to_vec(&(&d.tenants, &d.units, &d.orders)).unwrap().len();
        assert!(size(&doc) < size(&whole), "{} of {} bytes", size(&doc), size(&whole));

        // The scope is the token's: stored, listed, and checked when added.
        let users = world.core.users().await.unwrap();
        let stored = users.iter().find(|u| u.name == "pep-europe").unwrap();
        assert_eq!(stored.scope, Some(scope(&[], &["westeurope"])), "{backend}");
        let client = reqwest::Client::new();
        for (body, code) in [
            (json!({"name": "a1", "role": "analyst", "scope": {"tenants": ["acme"]}}), "invalid-user"),
            (json!({"name": "p1", "role": "pep", "scope": {}}), "invalid-user"),
            (json!({"name": "p2", "role": "pep", "scope": {"regions": ["west europe"]}}), "invalid-id"),
        ] {
            let response =
                client.post(format!("{}/v1/users", world.url)).bearer_auth(ADMIN).json(&body).send().await.unwrap();
            assert_eq!(response.status(), 422, "{body}");
            let error: serde_json::Value = response.json().await.unwrap();
            assert_eq!(error["error"]["code"], code, "{error}");
        }
    }
}

fn options(refuse_outside_scope: bool) -> ReplicaOptions {
    ReplicaOptions {
        heartbeat: Duration::from_millis(100),
        backoff_min: Duration::from_millis(20),
        backoff_max: Duration::from_millis(200),
        bootstrap_timeout: Duration::from_secs(10),
        refuse_outside_scope,
        ..ReplicaOptions::default()
    }
}

async fn replica(world: &World, token: &str, refuse_outside_scope: bool) -> Arc<Replica> {
    let source = HttpSource::new(&world.relay.url, token, Duration::from_millis(100)).unwrap();
    Replica::start(source, options(refuse_outside_scope)).await.unwrap()
}

/// Waits (at most 10 s) until the replica is at the server's version.
async fn caught_up(replica: &Replica, core: &Core) {
    let version = core.feed().current().version();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while replica.version() < version {
        assert!(tokio::time::Instant::now() < deadline, "not at version {version}: {:?}", replica.status());
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn sub(id: &str, tenant: &str, unit: &str, region: &str) -> Subscription {
    serde_json::from_value(json!({"id": id, "tenant": tenant, "unit": unit, "region": region})).unwrap()
}

/// Sets a subscription's region, as an import does.
async fn relocate(core: &Core, id: &str, region: &str) {
    let mut moved = core.subscription(id).await.unwrap().unwrap();
    moved.region = region.into();
    let inventory = Inventory { subscriptions: vec![moved], ..Inventory::default() };
    core.import(&Actor::admin(), inventory, &|_| ()).await.unwrap();
}

fn basis(replica: &Replica, sub: &str) -> Basis {
    replica.decide(sub, "storage.blob", "put-blob", Timestamp::now()).unwrap().basis
}

#[tokio::test]
async fn a_scoped_replica_follows_its_part_and_resyncs_when_the_scope_changes() {
    for backend in verdict_testdb::backends() {
        let world = world(backend).await;
        let token = pep_user(&world.core, "pep-europe", scope(&[], &["westeurope"])).await;
        let replica = replica(&world, &token, true).await;
        let bootstraps = || replica.status().bootstraps;
        assert!(matches!(basis(&replica, "sig-eu"), Basis::Order { .. }), "{backend}");
        assert_eq!(basis(&replica, "acme-eu"), Basis::NoOrder);
        assert_eq!(basis(&replica, "sig-us"), Basis::OutsideScope, "another region's, refused");
        let refused = replica.decide("globex-us", "storage.blob", "put-blob", Timestamp::now()).unwrap();
        assert!(!refused.allowed);
        let reason = replica.snapshot().explain(&refused, "globex-us", "storage.blob", "put-blob");
        assert_eq!(reason.code, "outside-scope");
        assert!(reason.reason.contains("westeurope"), "{}", reason.reason);

        // Outside the scope: the version moves on, nothing arrives.
        world.core.create_subscription(&Actor::admin(), sub("globex-us-2", "globex", "apps", "eastus")).await.unwrap();
        world.core.create_order(&Actor::admin(), disabled("globex", "apps")).await.unwrap();
        caught_up(&replica, &world.core).await;
        assert!(replica.snapshot().placement("globex-us-2").is_none());
        assert_eq!(replica.snapshot().counts().0, 2, "still two tenants");
        assert_eq!(bootstraps(), 1, "{backend}: no resync for changes outside the scope");

        // Inside it, for a tenant held: streamed.
        world.core.create_order(&Actor::admin(), disabled("acme", "web")).await.unwrap();
        world.core.create_subscription(&Actor::admin(), sub("acme-eu-2", "acme", "web", "westeurope")).await.unwrap();
        caught_up(&replica, &world.core).await;
        assert!(matches!(basis(&replica, "acme-eu"), Basis::Order { .. }));
        assert!(matches!(basis(&replica, "acme-eu-2"), Basis::Order { .. }));
        world.core.delete_subscription(&Actor::admin(), "log-eu").await.unwrap();
        caught_up(&replica, &world.core).await;
        assert_eq!(basis(&replica, "log-eu"), Basis::OutsideScope);
        assert_eq!(bootstraps(), 1, "{backend}: streamed, not resynced");

        // A tenant enters the scope: the replica fetches its part again,
        // with the tenant's units and orders.
        world
            .core
            .create_subscription(&Actor::admin(), sub("globex-eu", "globex", "apps", "westeurope"))
            .await
            .unwrap();
        caught_up(&replica, &world.core).await;
        assert!(matches!(basis(&replica, "globex-eu"), Basis::Order { .. }), "{backend}: globex's order came along");
        assert_eq!(bootstraps(), 2);

        // A subscription leaves the regions: fetched again, and it is gone.
        relocate(&world.core, "sig-eu", "eastus").await;
        caught_up(&replica, &world.core).await;
        assert_eq!(basis(&replica, "sig-eu"), Basis::OutsideScope, "{backend}");
        assert_eq!(bootstraps(), 3);

        // After all that, the replica's document is the server's scoped one.
        let scoped = world.core.feed().current().export_scoped(Some(&scope(&[], &["westeurope"])));
        let mut held = replica.snapshot().export();
        held.lineage = scoped.lineage.clone();
        assert_eq!(held, scoped, "{backend}");
    }
}

/// A small deterministic generator (xorshift), so a failure replays.
struct Dice(u64);

impl Dice {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

const TENANTS: [&str; 4] = ["ministry", "acme", "globex", "initech"];
const REGIONS: [&str; 3] = ["westeurope", "eastus", "northeurope"];
const UNITS: [&str; 3] = ["apps", "apps/ingest", "data"];

/// Random inventory changes and orders while two scoped replicas (and an
/// unscoped one) follow, with their connections cut and mended in the
/// middle so that they resume from a backlog: at the end, each decides as
/// the server for every subscription in its scope and refuses the others.
#[tokio::test]
async fn scoped_replicas_agree_with_the_server_after_random_changes() {
    let world = world(Backend::Sqlite).await;
    world
        .core
        .create_tenant(&Actor::admin(), serde_json::from_value(json!({"id": "initech", "kind": "enterprise"})).unwrap())
        .await
        .unwrap();
    let scopes = [
        scope(&["acme", "globex"], &[]),
        scope(&[], &["westeurope", "northeurope"]),
        scope(&["ministry"], &["eastus"]),
    ];
    let mut replicas = Vec::new();
    for (i, s) in scopes.iter().enumerate() {
        let token = pep_user(&world.core, &format!("pep-{i}"), s.clone()).await;
        replicas.push((Some(s.clone()), replica(&world, &token, true).await));
    }
    replicas.push((None, replica(&world, PEP, false).await));
    let mut dice = Dice(0x5eed_cafe_f00d);
    let mut ids: Vec<String> = ["sig-eu", "sig-us", "log-eu", "acme-eu", "globex-us"].map(String::from).to_vec();
    for step in 0..150 {
        if step == 50 {
            world.relay.cut();
        }
        if step == 90 {
            world.relay.mend();
        }
        let actor = Actor::admin();
        let tenant = TENANTS[dice.below(TENANTS.len())];
        let unit = UNITS[dice.below(UNITS.len())];
        let region = REGIONS[dice.below(REGIONS.len())];
        let pick = dice.below(ids.len().max(1));
        match dice.below(10) {
            0..=3 => {
                let id = format!("s{step}");
                world
                    .core
                    .create_unit(&actor, serde_json::from_value(json!({"tenant": tenant, "path": unit})).unwrap())
                    .await
                    .ok();
                world.core.create_subscription(&actor, sub(&id, tenant, unit, region)).await.unwrap();
                ids.push(id);
            }
            4 => {
                if world.core.delete_subscription(&actor, &ids[pick]).await.is_ok() {
                    ids.remove(pick);
                }
            }
            5 | 6 => {
                if world.core.subscription(&ids[pick]).await.unwrap().is_some() {
                    relocate(&world.core, &ids[pick], region).await;
                }
            }
            7 => {
                let id = ids[pick].clone();
                if let Some(s) = world.core.subscription(&id).await.unwrap() {
                    let target = UnitPath::parse(UNITS[dice.below(UNITS.len())]).unwrap();
                    world
                        .core
                        .create_unit(
                            &actor,
                            serde_json::from_value(json!({"tenant": s.tenant, "path": target})).unwrap(),
                        )
                        .await
                        .ok();
                    world.core.move_subscription(&actor, &id, target).await.unwrap();
                }
            }
            _ => {
                if world.core.units(tenant).await.unwrap().iter().any(|u| u.as_str() == unit) {
                    world.core.create_order(&actor, disabled(tenant, unit)).await.unwrap();
                }
            }
        }
    }
    let server = world.core.feed().current();
    for (scope, replica) in &replicas {
        caught_up(replica, &world.core).await;
        for id in &ids {
            let want = server.decide(id, "storage.blob", "put-blob", Timestamp::now());
            let got = replica.decide(id, "storage.blob", "put-blob", Timestamp::now()).unwrap();
            let (tenant, region) = server.placement(id).unwrap();
            let inside = scope.as_ref().is_none_or(|s| s.admits_tenant(tenant) && s.admits_region(region));
            if inside {
                assert_eq!(got.allowed, want.allowed, "{id} ({tenant}, {region}) under {scope:?}");
                let order = |snapshot: &verdict_engine::Snapshot, basis| match basis {
                    Basis::Order { order, .. } => Some(snapshot.order_id(order).to_owned()),
                    _ => None,
                };
                assert_eq!(order(&replica.snapshot(), got.basis), order(&server, want.basis), "{id} under {scope:?}");
            } else {
                assert_eq!(got.basis, Basis::OutsideScope, "{id} ({tenant}, {region}) under {scope:?}");
            }
        }
        if let Some(scope) = scope {
            let held: BTreeSet<String> =
                subscriptions(&replica.snapshot().export()).into_iter().map(str::to_owned).collect();
            let wanted: BTreeSet<String> =
                subscriptions(&server.export_scoped(Some(scope))).into_iter().map(str::to_owned).collect();
            assert_eq!(held, wanted, "{scope:?}");
        }
    }
}
