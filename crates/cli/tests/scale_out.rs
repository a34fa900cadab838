//! Several servers, one history: three `verdict serve` processes over one
//! PostgreSQL take governance changes round-robin from concurrent clients
//! while one of them is killed with SIGKILL at random moments and started
//! again. Afterwards every acknowledged change is in the store and decides
//! as it should on every server, the log verifies from each server in turn
//! with one monitor state (no fork), fsck finds the store consistent, and
//! the three converge to one version.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{run, start, token, verdict};
use serde_json::{Value, json};
use verdict_testdb::{Backend, TestDb};

const SERVERS: usize = 3;
const KILLS: usize = 20;
const CLIENTS: usize = 4;

fn serve(data: &std::path::Path, url: &str) -> common::Running {
    start(&["serve", "--data", &data.display().to_string(), "--store", url, "--listen", "127.0.0.1:0"])
}

/// What a client saw acknowledged: subscriptions created, and those an
/// order then disabled storage for.
#[derive(Default)]
struct Acknowledged {
    subscriptions: Vec<String>,
    disabled: Vec<String>,
}

/// One governance change on `base`; `Some(true)` when acknowledged, `None`
/// when the server could not be reached or answered a server error (the
/// change may or may not have landed: not acknowledged).
fn change(http: &reqwest::blocking::Client, base: &str, admin: &str, path: &str, body: &Value) -> Option<bool> {
    let response = http.post(format!("{base}{path}")).bearer_auth(admin).json(body).send().ok()?;
    let status = response.status();
    if status.is_server_error() {
        return None;
    }
    assert!(status.is_success(), "{path} {body}: {status} {:?}", response.text());
    Some(true)
}

fn decide(http: &reqwest::blocking::Client, base: &str, pep: &str, subscription: &str) -> bool {
    let body = json!({"subject": {"type": "gateway", "id": "test"},
        "resource": {"type": "service", "id": "storage.blob", "properties": {"subscription": subscription}},
        "action": {"name": "put-blob"}});
    let answer: Value =
        http.post(format!("{base}/access/v1/evaluation")).bearer_auth(pep).json(&body).send().unwrap().json().unwrap();
    answer["decision"].as_bool().expect("a decision")
}

fn wait_ready(http: &reqwest::blocking::Client, base: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(r) = http.get(format!("{base}/readyz")).send()
            && r.status() == 200
        {
            return r.json().unwrap();
        }
        assert!(Instant::now() < deadline, "{base} never became ready");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn three_servers_over_one_postgres_keep_one_history_through_sigkills() {
    if !verdict_testdb::backends().contains(&Backend::Postgres) {
        return;
    }
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let db = runtime.block_on(TestDb::new(Backend::Postgres));
    let url = db.spec().to_owned();
    // One data directory for the three: the log key and the tokens are the
    // same on every server (docs/deploy.md); the state is in PostgreSQL.
    let data = db.dir().join("data");
    let first = serve(&data, &url);
    let admin = token(&data, "admin");
    let pep = token(&data, "pep");
    let inventory = data.join("inventory.json");
    std::fs::write(
        &inventory,
        json!({"tenants": [{"id": "acme", "kind": "enterprise"}],
            "units": (0..CLIENTS).map(|c| json!({"tenant": "acme", "path": format!("team-{c}")})).collect::<Vec<_>>(),
            "subscriptions": [{"id": "seed", "tenant": "acme", "unit": "ops", "services": ["storage.blob"]}]})
        .to_string(),
    )
    .unwrap();
    let out = run(&["import", &inventory.display().to_string(), "--server", &first.base, "--token", &admin]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let mut servers = vec![first];
    for _ in 1..SERVERS {
        servers.push(serve(&data, &url));
    }
    let bases = Arc::new(Mutex::new(servers.iter().map(|s| s.base.clone()).collect::<Vec<_>>()));
    let servers = Arc::new(Mutex::new(servers));
    let stop = Arc::new(AtomicBool::new(false));

    let mut clients = Vec::new();
    for c in 0..CLIENTS {
        let (bases, stop, admin) = (bases.clone(), stop.clone(), admin.clone());
        clients.push(std::thread::spawn(move || {
            let http = reqwest::blocking::Client::builder().timeout(Duration::from_secs(10)).build().unwrap();
            let mut seen = Acknowledged::default();
            let mut n = 0usize;
            while !stop.load(Ordering::Relaxed) {
                n += 1;
                let base = bases.lock().unwrap()[(c + n) % SERVERS].clone();
                let id = format!("c{c}-{n}");
                let sub =
                    json!({"id": id, "tenant": "acme", "unit": format!("team-{c}"), "services": ["storage.blob"]});
                if change(&http, &base, &admin, "/v1/subscriptions", &sub).is_none() {
                    continue;
                }
                seen.subscriptions.push(id.clone());
                if n.is_multiple_of(3) {
                    // The order goes to the next server: it must know the
                    // subscription another server just created.
                    let base = bases.lock().unwrap()[(c + n + 1) % SERVERS].clone();
                    let order = json!({"tenant": "acme", "clause": "AUP-2",
                        "scope": {"subscriptions": [id]}, "services": ["storage.*"],
                        "phases": [{"mode": "disabled", "start": "2020-01-01T00:00:00Z"}]});
                    if change(&http, &base, &admin, "/v1/orders?direct=true", &order).is_some() {
                        seen.disabled.push(id);
                    }
                }
            }
            seen
        }));
    }

    // The killer: one server at a time, at random moments, restarted at
    // once (on a new port, which the clients then use).
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut random = move |below: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % below
    };
    let started = Instant::now();
    for _ in 0..KILLS {
        std::thread::sleep(Duration::from_millis(50 + random(300)));
        let victim = random(SERVERS as u64) as usize;
        let mut all = servers.lock().unwrap();
        let _ = all[victim].child.kill(); // SIGKILL
        let _ = all[victim].child.wait();
        all[victim] = serve(&data, &url);
        bases.lock().unwrap()[victim] = all[victim].base.clone();
    }
    stop.store(true, Ordering::Relaxed);
    let mut acknowledged = Acknowledged::default();
    for client in clients {
        let seen = client.join().unwrap();
        acknowledged.subscriptions.extend(seen.subscriptions);
        acknowledged.disabled.extend(seen.disabled);
    }
    eprintln!(
        "{KILLS} kills in {:?}; {} subscriptions and {} orders acknowledged",
        started.elapsed(),
        acknowledged.subscriptions.len(),
        acknowledged.disabled.len()
    );
    assert!(acknowledged.subscriptions.len() >= 20, "too few changes went through to mean anything");

    let http = reqwest::blocking::Client::new();
    let bases = bases.lock().unwrap().clone();
    let versions: Vec<u64> = bases.iter().map(|b| wait_ready(&http, b)["snapshot_version"].as_u64().unwrap()).collect();
    assert!(versions.windows(2).all(|w| w[0] == w[1]), "the servers converge to one version: {versions:?}");
    for base in &bases {
        for id in &acknowledged.subscriptions {
            let r = http.get(format!("{base}/v1/subscriptions/{id}")).bearer_auth(&admin).send().unwrap();
            assert_eq!(r.status(), 200, "{base}: acknowledged subscription {id} is missing");
        }
        for id in &acknowledged.disabled {
            assert!(!decide(&http, base, &pep, id), "{base}: {id} has an acknowledged order disabling storage");
        }
        assert!(decide(&http, base, &pep, "seed"), "{base}: the untouched subscription is allowed");
    }
    // One monitor, the three servers in turn: each checkpoint must extend
    // the one verified before it.
    let key = String::from_utf8(run(&["log", "key", "--data", &data.display().to_string()]).stdout).unwrap();
    let state = data.join("monitor.json");
    for round in 0..2 {
        for base in &bases {
            let out = verdict()
                .args(["log", "verify", "--url", &format!("{base}/log"), "--key", key.trim()])
                .args(["--state", &state.display().to_string()])
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "round {round}, {base}: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
    let out = run(&["log", "fsck", "--data", &data.display().to_string(), "--store", &url]);
    assert!(
        out.status.success(),
        "fsck: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    drop(servers);
}
