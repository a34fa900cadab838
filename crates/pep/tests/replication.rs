//! A replica against the real control plane on loopback: bootstrap, follow,
//! resume after a disconnect, resync when too far behind, a phase flip with
//! no message, the staleness policy both ways, and the tower layer.
//!
//! The replica reaches the server through a TCP relay the test can cut, as
//! a network partition would.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use tokio::net::TcpListener;
use tower::{Service, ServiceExt};
use verdict_control::feed::FeedLimits;
use verdict_control::{Actor, Core, SigningKey};
use verdict_model::{Inventory, OrderSpec, Subscription, Timestamp};
use verdict_pep::{HttpSource, PepLayer, Replica, ReplicaOptions, StalenessPolicy, Target};
use verdict_server::{AppState, Tokens};
use verdict_store::SqliteStore;

const PEP: &str = "pep-secret";

mod common;
use common::Relay;

struct World {
    core: Arc<Core>,
    relay: Relay,
    _dir: tempfile::TempDir,
}

/// The DESIGN §1 inventory on a real control plane over SQLite, served on
/// port 0 behind a relay.
async fn world() -> World {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open(&dir.path().join("verdict.db")).await.unwrap());
    let core = Arc::new(Core::open(store, SigningKey::generate("verdict.test/log").unwrap()).await.unwrap());
    let inventory: Inventory = serde_json::from_value(json!({
        "tenants": [{"id": "ministry-of-defense", "kind": "government"}],
        "subscriptions": [
            {"id": "sig-archive-nl", "tenant": "ministry-of-defense", "unit": "intelligence/signals"},
            {"id": "sig-ai", "tenant": "ministry-of-defense", "unit": "intelligence/signals"},
            {"id": "cyber-ops", "tenant": "ministry-of-defense", "unit": "cyber-defense"},
            {"id": "log-erp", "tenant": "ministry-of-defense", "unit": "logistics"},
        ],
    }))
    .unwrap();
    core.import(&Actor::admin(), inventory, &|_| ()).await.unwrap();
    let state = Arc::new(AppState::new(core.clone(), Tokens { admin: "admin-secret".into(), pep: PEP.into() }));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, verdict_server::router(state)).await.unwrap() });
    World { core, relay: Relay::start(addr).await, _dir: dir }
}

fn options(policy: StalenessPolicy) -> ReplicaOptions {
    ReplicaOptions {
        policy,
        heartbeat: Duration::from_millis(100),
        backoff_min: Duration::from_millis(20),
        backoff_max: Duration::from_millis(200),
        bootstrap_timeout: Duration::from_secs(10),
        cache: None,
        cache_interval: Duration::from_millis(100),
        refuse_outside_scope: false,
    }
}

async fn replica(world: &World, policy: StalenessPolicy) -> Arc<Replica> {
    let source = HttpSource::new(&world.relay.url, PEP, Duration::from_millis(100)).unwrap();
    Replica::start(source, options(policy)).await.unwrap()
}

/// Waits (at most 10 s) until `ready` holds of the replica.
async fn until(replica: &Replica, what: &str, ready: impl Fn(&Replica) -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !ready(replica) {
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting until {what}: {:?}", replica.status());
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn caught_up(replica: &Replica, core: &Core) {
    let version = core.feed().current().version();
    until(replica, &format!("at version {version}"), |r| r.version() >= version).await;
}

/// An order on `intelligence/signals` for storage and AI, security exempt.
fn order(phases: serde_json::Value) -> OrderSpec {
    serde_json::from_value(json!({
        "tenant": "ministry-of-defense", "clause": "AUP-2",
        "scope": {"units": ["intelligence/signals"]},
        "services": ["storage.*", "ai.*"], "exempt": ["security.*"],
        "phases": phases,
    }))
    .unwrap()
}

fn disabled_since_yesterday() -> OrderSpec {
    let now = Timestamp::now().seconds();
    order(json!([
        {"mode": "notice", "start": Timestamp(now - 86_400)},
        {"mode": "disabled", "start": Timestamp(now - 3_600)},
    ]))
}

fn allows(replica: &Replica, sub: &str, service: &str, action: &str) -> bool {
    replica.decide(sub, service, action, Timestamp::now()).expect("the staleness policy admits it").allowed
}

fn subscription(id: &str, unit: &str) -> Subscription {
    serde_json::from_value(json!({"id": id, "tenant": "ministry-of-defense", "unit": unit})).unwrap()
}

#[tokio::test]
async fn follows_changes_and_resumes_after_a_disconnect() {
    let world = world().await;
    let replica = replica(&world, StalenessPolicy::default()).await;
    assert!(allows(&replica, "sig-archive-nl", "storage.blob", "put-blob"));
    until(&replica, "connected", |r| r.status().connected).await;

    world.core.create_order(&Actor::admin(), disabled_since_yesterday()).await.unwrap();
    caught_up(&replica, &world.core).await;
    assert!(!allows(&replica, "sig-archive-nl", "storage.blob", "put-blob"));
    assert!(allows(&replica, "cyber-ops", "security.defender", "scan"), "exempt and out of scope");
    assert!(allows(&replica, "log-erp", "storage.blob", "put-blob"), "another unit is untouched");

    // Partition: the server moves on without the replica.
    world.relay.cut();
    until(&replica, "disconnected", |r| !r.status().connected).await;
    world.core.create_subscription(&Actor::admin(), subscription("sig-new", "intelligence/signals")).await.unwrap();
    assert!(allows(&replica, "sig-new", "storage.blob", "put-blob"), "the replica cannot know yet");

    // Mended: it resumes from its version, without fetching the snapshot.
    world.relay.mend();
    caught_up(&replica, &world.core).await;
    assert!(!allows(&replica, "sig-new", "storage.blob", "put-blob"), "created under the suspended unit");
    let status = replica.status();
    assert_eq!(status.bootstraps, 1, "resumed from its version: {status:?}");
    assert!(status.connects >= 2, "{status:?}");
    until(&replica, "connected again", |r| r.status().connected).await;
}

#[tokio::test]
async fn fetches_the_snapshot_again_when_too_far_behind() {
    let world = world().await;
    world.core.feed().set_limits(FeedLimits { frames: 2, bytes: 1 << 20 });
    world.core.create_order(&Actor::admin(), disabled_since_yesterday()).await.unwrap();
    let replica = replica(&world, StalenessPolicy::default()).await;
    until(&replica, "connected", |r| r.status().connected).await;

    world.relay.cut();
    until(&replica, "disconnected", |r| !r.status().connected).await;
    for i in 0..5 {
        let sub = subscription(&format!("sig-{i}"), "intelligence/signals");
        world.core.create_subscription(&Actor::admin(), sub).await.unwrap();
    }
    world.relay.mend();
    caught_up(&replica, &world.core).await;
    let status = replica.status();
    assert_eq!(status.bootstraps, 2, "the server kept too little history to resume: {status:?}");
    for i in 0..5 {
        assert!(!allows(&replica, &format!("sig-{i}"), "ai.translation", "translate"));
    }
}

#[tokio::test]
async fn a_phase_starts_at_its_instant_with_no_message() {
    let world = world().await;
    let now = Timestamp::now().seconds();
    // Far enough ahead for the setup below on a slow machine.
    let flip = Timestamp(now + 4);
    let spec = order(json!([{"mode": "notice", "start": Timestamp(now - 60)}, {"mode": "disabled", "start": flip}]));
    world.core.create_order(&Actor::admin(), spec).await.unwrap();
    let replica = replica(&world, StalenessPolicy::default()).await;
    caught_up(&replica, &world.core).await;

    // Nothing can reach the replica from here on.
    world.relay.cut();
    until(&replica, "disconnected", |r| !r.status().connected).await;
    let version = replica.version();
    let at = |t: Timestamp| replica.decide("sig-ai", "ai.speech-to-text", "transcribe", t).unwrap().allowed;
    assert!(at(flip.plus(-1)), "notice restricts nothing, to the last second before the flip");
    assert!(!at(flip), "disabled from its instant");
    // And in real time, as a gateway asks: allowed until the clock reaches
    // the instant, denied from then on.
    loop {
        let now = Timestamp::now();
        assert_eq!(at(now), now < flip, "at {now}");
        if now >= flip {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(replica.version(), version, "no message arrived");
}

#[tokio::test]
async fn the_staleness_policy_keeps_deciding_or_fails_closed_per_family() {
    let world = world().await;
    world.core.create_order(&Actor::admin(), disabled_since_yesterday()).await.unwrap();
    let mut policy = StalenessPolicy::default();
    policy.add("storage=fail-closed:500ms").unwrap();
    let replica = replica(&world, policy).await;
    caught_up(&replica, &world.core).await;
    assert!(replica.admit("storage.blob").is_ok());

    world.relay.cut();
    until(&replica, "older than the storage limit", |r| r.age() > Duration::from_millis(600)).await;
    // storage fails closed, even where no order applies …
    let refusal = replica.admit("storage.blob").unwrap_err();
    assert!(refusal.contains("fails closed") && refusal.contains("storage"), "{refusal}");
    assert_eq!(replica.decide("log-erp", "storage.blob", "get-blob", Timestamp::now()), None);
    // … while the other families keep deciding on the last snapshot.
    assert!(allows(&replica, "log-erp", "compute.vm", "create-vm"));
    assert!(!allows(&replica, "sig-ai", "ai.translation", "translate"), "the order still holds");

    world.relay.mend();
    until(&replica, "admitting storage again", |r| {
        r.status().connected
            && r.decide("log-erp", "storage.blob", "get-blob", Timestamp::now()).is_some_and(|d| d.allowed)
    })
    .await;
}

#[tokio::test]
async fn the_tower_layer_passes_allowed_requests_and_refuses_denied_ones() {
    let world = world().await;
    world.core.create_order(&Actor::admin(), disabled_since_yesterday()).await.unwrap();
    let replica = replica(&world, StalenessPolicy::default()).await;
    caught_up(&replica, &world.core).await;

    let read = |request: &http::Request<String>| {
        let header = |name: &str| Some(request.headers().get(name)?.to_str().ok()?.to_owned());
        Some(Target {
            subscription: header("x-subscription")?,
            service: header("x-service")?,
            action: header("x-action")?,
        })
    };
    let upstream = tower::service_fn(|_: http::Request<String>| async {
        Ok::<_, Infallible>(http::Response::new("upstream".to_owned()))
    });
    let mut service = tower::ServiceBuilder::new().layer(PepLayer::new(replica.clone(), read)).service(upstream);
    let request = |sub: &str, service: &str, action: &str| {
        http::Request::builder()
            .header("x-subscription", sub)
            .header("x-service", service)
            .header("x-action", action)
            .body(String::new())
            .unwrap()
    };

    let allowed = service.ready().await.unwrap().call(request("log-erp", "storage.blob", "put-blob")).await.unwrap();
    assert_eq!((allowed.status(), allowed.body().as_str()), (http::StatusCode::OK, "upstream"));

    let denied =
        service.ready().await.unwrap().call(request("sig-archive-nl", "storage.blob", "put-blob")).await.unwrap();
    assert_eq!(denied.status(), http::StatusCode::FORBIDDEN);
    assert_eq!(denied.headers()["x-verdict-code"], "restricted");
    assert!(denied.headers()["x-verdict-order"].to_str().unwrap().starts_with("ord-"));
    assert!(denied.body().starts_with("denied: order ord-"), "{}", denied.body());

    let unplaced = service.ready().await.unwrap().call(http::Request::new(String::new())).await.unwrap();
    assert_eq!(unplaced.status(), http::StatusCode::FORBIDDEN);
    assert_eq!(unplaced.headers()["x-verdict-code"], "missing-target");
}

#[tokio::test]
async fn a_replica_restarted_during_an_outage_enforces_its_cached_snapshot() {
    let world = world().await;
    world.core.create_order(&Actor::admin(), disabled_since_yesterday()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("snapshot.json");
    let mut policy = StalenessPolicy::default();
    policy.add("ai=fail-closed:1h").unwrap();
    policy.add("compute=fail-closed:1s").unwrap();
    let with_cache = |bootstrap: Duration| {
        let mut o = options(policy.clone());
        o.cache = Some(cache.clone());
        o.bootstrap_timeout = bootstrap;
        o
    };
    let source = || HttpSource::new(&world.relay.url, PEP, Duration::from_millis(100)).unwrap();
    let first = Replica::start(source(), with_cache(Duration::from_secs(10))).await.unwrap();
    caught_up(&first, &world.core).await;
    let version = first.version();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !cache.exists() {
        assert!(tokio::time::Instant::now() < deadline, "the cache was not written");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    drop(first);

    // The control plane is unreachable and the enforcement point restarts.
    world.relay.cut();
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let second = Replica::start(source(), with_cache(Duration::from_secs(1))).await.unwrap();
    let status = second.status();
    assert!(status.from_cache && status.bootstraps == 0, "{status:?}");
    assert_eq!(status.version, version);
    assert!(status.age >= Duration::from_secs(1), "the cached snapshot keeps its age: {status:?}");
    assert!(!allows(&second, "sig-ai", "ai.translation", "translate"), "the order still holds");
    assert!(allows(&second, "cyber-ops", "security.defender", "scan"));
    assert!(second.admit("compute.vm").is_err(), "past compute's limit, it fails closed");

    // Once the control plane is back, it resumes from the cached version.
    world.relay.mend();
    world.core.create_subscription(&Actor::admin(), subscription("sig-late", "intelligence/signals")).await.unwrap();
    caught_up(&second, &world.core).await;
    assert!(!allows(&second, "sig-late", "storage.blob", "put-blob"));
    assert_eq!(second.status().bootstraps, 0, "resumed, not fetched: {:?}", second.status());

    assert!(!second.lineage().is_empty(), "the cache keeps the lineage");
    let cached = std::fs::read_to_string(&cache).unwrap();
    assert!(cached.contains(&format!("\"lineage\":\"{}\"", second.lineage())), "the file carries the lineage");
    drop(second);

    // The cache of one control plane never resumes on another's history,
    // even at a version the other has.
    let other = self::world().await;
    for i in 0..20 {
        let sub = subscription(&format!("other-{i}"), "logistics");
        other.core.create_subscription(&Actor::admin(), sub).await.unwrap();
    }
    other.relay.cut();
    let mut from_cache = with_cache(Duration::from_secs(1));
    from_cache.cache = Some(cache.clone());
    let elsewhere = HttpSource::new(&other.relay.url, PEP, Duration::from_millis(100)).unwrap();
    let third = Replica::start(elsewhere, from_cache).await.unwrap();
    assert!(third.status().from_cache);
    assert!(other.core.feed().current().version() >= third.version(), "the other history is ahead");
    other.relay.mend();
    until(&third, "resynced from the other control plane", |r| r.status().bootstraps == 1).await;
    caught_up(&third, &other.core).await;
    assert!(allows(&third, "sig-ai", "ai.translation", "translate"), "the other control plane has no order");

    // Without a cache, the same restart fails after its bootstrap timeout.
    world.relay.cut();
    let mut no_cache = options(StalenessPolicy::default());
    no_cache.bootstrap_timeout = Duration::from_millis(300);
    assert!(Replica::start(source(), no_cache).await.is_err());
}
