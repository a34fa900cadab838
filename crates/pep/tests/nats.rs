//! Replicas over NATS JetStream, against a real `nats-server` this test
//! starts on a free port (so that it can kill and restart it): bootstrap
//! over HTTP and follow over NATS; a gap in the stream is a resync; NATS
//! restarted mid-stream is followed again; NATS down means following over
//! HTTP/SSE, and back to NATS once it returns.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use verdict_control::{Actor, Core, SigningKey};
use verdict_model::{Inventory, OrderSpec, Timestamp};
use verdict_pep::nats::{NatsOptions, NatsSource};
use verdict_pep::{HttpSource, Replica, ReplicaOptions};
use verdict_server::bus::{BusOptions, publish_forever};
use verdict_server::{AppState, Tokens};
use verdict_testdb::{Backend, Nats, TestDb};

const PEP: &str = "pep-secret";
const HEARTBEAT: Duration = Duration::from_millis(100);

struct World {
    core: Arc<Core>,
    base: String,
    _db: TestDb,
}

async fn world(nats: &Nats) -> World {
    let db = TestDb::new(Backend::Sqlite).await;
    let core = Arc::new(Core::open(db.open().await, SigningKey::generate("verdict.test/log").unwrap()).await.unwrap());
    let inventory: Inventory = serde_json::from_value(json!({
        "tenants": [{"id": "mod", "kind": "government"}],
        "subscriptions": (0..8).map(|i| json!({"id": format!("s{i}"), "tenant": "mod", "unit": format!("u{i}")}))
            .collect::<Vec<_>>(),
    }))
    .unwrap();
    core.import(&Actor::admin(), inventory, &|_| ()).await.unwrap();
    let state = Arc::new(AppState::new(core.clone(), Tokens { admin: "admin-secret".into(), pep: PEP.into() }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, verdict_server::router(state)).await.unwrap() });
    let mut bus = BusOptions::new(&nats.url());
    bus.heartbeat = HEARTBEAT;
    tokio::spawn(publish_forever(core.clone(), bus));
    World { core, base, _db: db }
}

async fn replica(world: &World, nats: &Nats) -> Arc<Replica> {
    replica_with(world, nats, PEP).await
}

async fn replica_with(world: &World, nats: &Nats, token: &str) -> Arc<Replica> {
    let http = HttpSource::new(&world.base, token, HEARTBEAT).unwrap();
    let mut options = NatsOptions::new(&nats.url());
    options.retry = Duration::from_millis(500);
    options.connect_timeout = Duration::from_millis(300);
    let replica_options = ReplicaOptions {
        heartbeat: HEARTBEAT,
        backoff_min: Duration::from_millis(20),
        backoff_max: Duration::from_millis(200),
        ..Default::default()
    };
    Replica::start(NatsSource::new(options, http), replica_options).await.unwrap()
}

/// Disables storage for subscription `s{n}`; the new version.
async fn restrict(core: &Core, n: usize) -> u64 {
    let spec: OrderSpec = serde_json::from_value(json!({"tenant": "mod", "clause": "AUP-2",
        "scope": {"subscriptions": [format!("s{n}")]}, "services": ["storage.*"],
        "phases": [{"mode": "disabled", "start": "2020-01-01T00:00:00Z"}]}))
    .unwrap();
    core.create_order(&Actor::admin(), spec).await.unwrap();
    core.snapshot().version()
}

async fn reaches(replica: &Replica, version: u64, within: Duration, what: &str) {
    let started = Instant::now();
    while replica.version() < version {
        assert!(started.elapsed() < within, "{what}: the replica stayed at {:?}, not {version}", replica.status());
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

fn denies(replica: &Replica, n: usize) -> bool {
    let at = Timestamp::now();
    !replica.decide(&format!("s{n}"), "storage.blob", "put-blob", at).expect("decides").allowed
}

async fn transport_is(replica: &Replica, transport: &str, within: Duration) {
    let started = Instant::now();
    while replica.status().transport != transport || !replica.status().connected {
        assert!(started.elapsed() < within, "never followed over {transport}: {:?}", replica.status());
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_follows_over_nats_resyncs_on_a_gap_and_falls_back_to_http() {
    let mut nats = Nats::start();
    let world = world(&nats).await;
    let replica = replica(&world, &nats).await;
    assert_eq!(replica.version(), world.core.snapshot().version(), "bootstrapped over HTTP");
    transport_is(&replica, "nats", Duration::from_secs(5)).await;

    // Follow: an order reaches the replica through JetStream.
    let v = restrict(&world.core, 0).await;
    reaches(&replica, v, Duration::from_secs(5), "following").await;
    assert!(denies(&replica, 0) && !denies(&replica, 1));
    assert_eq!(replica.status().transport, "nats");
    let bootstraps = replica.status().bootstraps;

    // A gap: a change set that skips a version is a resync, not applied.
    let client = async_nats::connect(nats.url()).await.unwrap();
    let js = async_nats::jetstream::new(client);
    let held = replica.version();
    let mut headers = async_nats::HeaderMap::new();
    headers.insert(verdict_wire::bus::LINEAGE, world.core.lineage().as_str());
    headers.insert(verdict_wire::bus::VERSION, (held + 2).to_string().as_str());
    let skipping = verdict_wire::bus::change_message(held + 2, Some("[]"));
    let ack =
        js.publish_with_headers(verdict_wire::bus::CHANGES, headers, skipping.into()).await.unwrap().await.unwrap();
    let started = Instant::now();
    while replica.status().bootstraps == bootstraps {
        assert!(started.elapsed() < Duration::from_secs(5), "the gap was not a resync: {:?}", replica.status());
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // The forged message goes, so that no later replay meets it again.
    js.get_stream(verdict_wire::bus::STREAM).await.unwrap().delete_message(ack.sequence).await.unwrap();
    assert_eq!(replica.version(), held, "resynced to the server's version, not the skipping one");
    transport_is(&replica, "nats", Duration::from_secs(5)).await;
    let v = restrict(&world.core, 1).await;
    reaches(&replica, v, Duration::from_secs(5), "after the resync").await;

    // NATS restarted mid-stream: the replica follows it again.
    nats.kill();
    nats.restart();
    let v = restrict(&world.core, 2).await;
    reaches(&replica, v, Duration::from_secs(10), "across a NATS restart").await;
    assert!(denies(&replica, 2));

    // NATS down: the changes come over HTTP/SSE meanwhile...
    nats.kill();
    transport_is(&replica, "sse", Duration::from_secs(10)).await;
    let v = restrict(&world.core, 3).await;
    reaches(&replica, v, Duration::from_secs(5), "over HTTP while NATS is down").await;
    assert!(denies(&replica, 3));
    // ... and over NATS again once it is back.
    nats.restart();
    transport_is(&replica, "nats", Duration::from_secs(15)).await;
    let v = restrict(&world.core, 4).await;
    reaches(&replica, v, Duration::from_secs(5), "over NATS again").await;
    assert!((0..5).all(|n| denies(&replica, n)) && !denies(&replica, 5));
}

/// The stream on NATS carries every tenant's changes: a replica whose token
/// is scoped follows its own scoped stream over HTTP instead.
#[tokio::test]
async fn a_scoped_replica_follows_over_http_beside_nats() {
    let nats = Nats::start();
    let world = world(&nats).await;
    let user = verdict_model::User {
        name: "pep-mod".into(),
        roles: vec![verdict_model::Role::Pep],
        tenant: None,
        scope: Some(verdict_model::ReplicaScope::new(["mod".to_owned()], [])),
        created_at: Default::default(),
        revoked_at: None,
    };
    let (_, token) = world.core.add_user(&Actor::admin(), user).await.unwrap();
    let replica = replica_with(&world, &nats, &token).await;
    let version = restrict(&world.core, 2).await;
    reaches(&replica, version, Duration::from_secs(5), "a scoped replica").await;
    assert!(denies(&replica, 2));
    assert_eq!(replica.status().transport, "sse");
}
