//! `verdict log` as a user runs it: a monitor verifying a live log, receipts
//! verified offline, tampering with the stored log (each case detected and
//! located by `verify` or `fsck`), forks, and SIGKILL at random moments.

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, Instant};

use common::{Running, run, start, token};
use serde_json::{Value, json};

fn serve(dir: &Path) -> Running {
    start(&["serve", "--data", dir.to_str().unwrap(), "--listen", "127.0.0.1:0", "--log-origin", "verdict.test/log"])
}

fn admin_post(server: &Running, dir: &Path, path: &str, body: &Value) -> reqwest::StatusCode {
    reqwest::blocking::Client::new()
        .post(format!("{}{path}", server.base))
        .bearer_auth(token(dir, "admin"))
        .json(body)
        .send()
        .unwrap()
        .status()
}

fn subscription(id: &str) -> Value {
    json!({"id": id, "tenant": "t", "unit": "u", "services": ["storage.blob"], "region": "westeurope"})
}

/// A data directory with a tenant, a unit, five subscriptions and an order:
/// eight entries. Returns the log's verifier key.
fn populate(dir: &Path) -> String {
    let server = serve(dir);
    assert!(admin_post(&server, dir, "/v1/tenants", &json!({"id": "t", "kind": "government"})).is_success());
    assert!(admin_post(&server, dir, "/v1/units", &json!({"tenant": "t", "path": "u"})).is_success());
    for i in 0..5 {
        assert!(admin_post(&server, dir, "/v1/subscriptions", &subscription(&format!("s{i}"))).is_success());
    }
    let order = json!({"tenant": "t", "clause": "AUP-2", "scope": {"units": ["u"]}, "services": ["ai.*"],
        "phases": [{"mode": "disabled", "start": "2026-01-01T00:00:00Z"}]});
    assert!(admin_post(&server, dir, "/v1/orders?direct=true", &order).is_success());
    key(dir)
}

fn key(dir: &Path) -> String {
    let out = run(&["log", "key", "--data", dir.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

fn verify(server: &Running, key: &str, state: Option<&Path>) -> Output {
    let url = format!("{}/log", server.base);
    let mut args = vec!["log", "verify", "--url", &url, "--key", key];
    if let Some(state) = state {
        args.extend(["--state", state.to_str().unwrap()]);
    }
    run(&args)
}

fn fsck(dir: &Path) -> Output {
    run(&["log", "fsck", "--data", dir.to_str().unwrap()])
}

#[track_caller]
fn assert_ok(out: &Output) {
    assert!(
        out.status.success(),
        "exit {:?}\nstdout: {}\nstderr: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Fails with exit status 1 and a message that contains `needle`.
#[track_caller]
fn assert_fails_naming(out: &Output, needle: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "expected a verification failure naming {needle:?}; stderr: {stderr}");
    assert!(stderr.contains(needle), "expected {needle:?} in: {stderr}");
}

fn sql(dir: &Path, statements: &[&str]) {
    let db = dir.join("verdict.db");
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
        use sqlx::Connection as _;
        let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite://{}", db.display())).await.unwrap();
        for statement in statements {
            sqlx::query(statement).execute(&mut conn).await.unwrap();
        }
        conn.close().await.unwrap();
    });
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        if entry.file_name() != "serve.lock" {
            std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
        }
    }
}

#[test]
fn a_monitor_verifies_a_growing_log_and_receipts_verify_offline() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let vkey = populate(&dir);
    assert!(vkey.starts_with("verdict.test/log+"), "{vkey}");
    let server = serve(&dir);
    let served_key = reqwest::blocking::get(format!("{}/log/key", server.base)).unwrap().text().unwrap();
    assert_eq!(served_key.trim(), vkey);

    let state = tmp.path().join("monitor.json");
    let out = verify(&server, &vkey, Some(&state));
    assert_ok(&out);
    assert!(String::from_utf8_lossy(&out.stdout).contains("verified 8 entries"));
    // The log grows; the monitor checks the new tree extends the old one.
    assert!(admin_post(&server, &dir, "/v1/subscriptions", &subscription("s9")).is_success());
    let out = verify(&server, &vkey, Some(&state));
    assert_ok(&out);
    assert!(String::from_utf8_lossy(&out.stdout).contains("verified 9 entries"));
    let remembered: Value = serde_json::from_slice(&std::fs::read(&state).unwrap()).unwrap();
    assert_eq!(remembered["size"], 9);

    // The key as a file works too; another key does not.
    let key_file = tmp.path().join("vkey");
    std::fs::write(&key_file, &vkey).unwrap();
    assert_ok(&verify(&server, key_file.to_str().unwrap(), None));
    let other = key(&tmp.path().join("other"));
    assert_fails_naming(&verify(&server, &other, None), "checkpoint");

    // A receipt carries its entry and verifies alone.
    let receipt = reqwest::blocking::get(format!("{}/log/receipt/7", server.base)).unwrap().text().unwrap();
    let file = tmp.path().join("order.tlog-proof");
    std::fs::write(&file, &receipt).unwrap();
    let out = run(&["log", "verify-receipt", file.to_str().unwrap(), "--key", &vkey]);
    assert_ok(&out);
    assert!(String::from_utf8_lossy(&out.stdout).contains("entry 7 (order.created"), "{out:?}");
    // Against another entry, another key, or a tampered proof, it fails.
    let wrong_entry = tmp.path().join("entry.json");
    std::fs::write(&wrong_entry, br#"{"v":1,"type":"order.created"}"#).unwrap();
    let out = run(&[
        "log",
        "verify-receipt",
        file.to_str().unwrap(),
        "--key",
        &vkey,
        "--entry",
        wrong_entry.to_str().unwrap(),
    ]);
    assert_fails_naming(&out, "entry 7");
    assert_fails_naming(&run(&["log", "verify-receipt", file.to_str().unwrap(), "--key", &other]), "entry 7");
    let lines: Vec<&str> = receipt.lines().collect();
    let proof_line = lines.iter().position(|l| l.starts_with("index ")).unwrap() + 1;
    let mut tampered: Vec<String> = lines.iter().map(|l| (*l).to_owned()).collect();
    let first = tampered[proof_line].remove(0);
    tampered[proof_line].insert(0, if first == 'A' { 'B' } else { 'A' });
    std::fs::write(&file, tampered.join("\n") + "\n").unwrap();
    assert_fails_naming(&run(&["log", "verify-receipt", file.to_str().unwrap(), "--key", &vkey]), "entry 7");
    drop(server);
    assert_ok(&fsck(&dir));
}

#[test]
fn tampering_with_the_stored_log_is_detected_and_located() {
    let tmp = tempfile::tempdir().unwrap();
    let pristine = tmp.path().join("pristine");
    let vkey = populate(&pristine);
    assert_ok(&fsck(&pristine));
    let state = tmp.path().join("monitor.json");
    {
        let server = serve(&pristine);
        assert_ok(&verify(&server, &vkey, Some(&state)));
    }
    let case = |name: &str, statements: &[&str]| -> PathBuf {
        let dir = tmp.path().join(name);
        copy_dir(&pristine, &dir);
        sql(&dir, statements);
        dir
    };

    // One byte of a stored entry.
    let dir = case(
        "byte",
        &[
            "UPDATE log_entries SET entry = CAST(replace(CAST(entry AS TEXT), '\"v\":1', '\"v\":2') AS BLOB) WHERE idx = 3",
        ],
    );
    assert_fails_naming(&fsck(&dir), "entry 3");
    let server = serve(&dir);
    assert_fails_naming(&verify(&server, &vkey, None), "entry 3");
    drop(server);

    // The server refuses to start on a history that does not reproduce
    // what it signed, names the first entry that differs, signs nothing,
    // and fsck says the same whether or not a server ran since.
    let refuses_naming = |dir: &Path, needle: &str| {
        let checkpoints_before = stored_checkpoints(dir);
        let out = run(&["serve", "--data", dir.to_str().unwrap(), "--listen", "127.0.0.1:0"]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "the server should refuse to start: {stderr}");
        assert!(stderr.contains(needle), "expected {needle:?} in: {stderr}");
        assert_eq!(stored_checkpoints(dir), checkpoints_before, "a refusing server signed something");
        assert_fails_naming(&fsck(dir), needle);
    };

    // One byte of a tile (a stored leaf hash).
    let dir = case(
        "tile",
        &["UPDATE log_entries SET leaf_hash = (CASE WHEN substr(leaf_hash, 1, 1) = X'00' THEN X'01' ELSE X'00' END) \
           || substr(leaf_hash, 2) WHERE idx = 4"],
    );
    refuses_naming(&dir, "entry 4");

    // An entry rewritten consistently: its bytes, its leaf hash and its
    // change row all agree, so only the signed checkpoints can tell.
    let dir = tmp.path().join("rewrite");
    copy_dir(&pristine, &dir);
    let entry = entry_bytes(&dir, 5);
    let forged = String::from_utf8(entry)
        .unwrap()
        .replace("\"customer_kind\":\"government\"", "\"customer_kind\":\"enterprise\"");
    assert!(forged.as_bytes() != entry_bytes(&dir, 5), "the forgery must change the entry");
    let leaf = hex(&verdict_log::leaf_hash(forged.as_bytes()));
    sql(
        &dir,
        &[
            &format!(
                "UPDATE log_entries SET entry = X'{}', leaf_hash = X'{leaf}' WHERE idx = 5",
                hex(forged.as_bytes())
            ),
            &format!("UPDATE changes SET log_leaf = X'{leaf}' WHERE log_index = 5"),
        ],
    );
    refuses_naming(&dir, "entry 5");

    // Two entries reordered, hashes, change rows and all.
    let dir = case(
        "reorder",
        &[
            "UPDATE log_entries SET idx = -1 WHERE idx = 2",
            "UPDATE log_entries SET idx = 2 WHERE idx = 5",
            "UPDATE log_entries SET idx = 5 WHERE idx = -1",
            "UPDATE changes SET log_index = -1 WHERE log_index = 2",
            "UPDATE changes SET log_index = 2 WHERE log_index = 5",
            "UPDATE changes SET log_index = 5 WHERE log_index = -1",
        ],
    );
    refuses_naming(&dir, "entry 2");

    // An entry deleted.
    let dir = case("delete", &["DELETE FROM log_entries WHERE idx = 4"]);
    refuses_naming(&dir, "entry 4");

    // The log truncated (with its change records): the last entry gone.
    let dir = case("truncate", &["DELETE FROM log_entries WHERE idx >= 7", "DELETE FROM changes WHERE log_index >= 7"]);
    refuses_naming(&dir, "entry 7: missing");
}

/// Every stored signed checkpoint, as (size, note).
fn stored_checkpoints(dir: &Path) -> Vec<(i64, String)> {
    let db = dir.join("verdict.db");
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
        use sqlx::Connection as _;
        let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite://{}", db.display())).await.unwrap();
        let rows: Vec<(i64, String)> =
            sqlx::query_as("SELECT size, note FROM log_checkpoints ORDER BY size").fetch_all(&mut conn).await.unwrap();
        conn.close().await.unwrap();
        rows
    })
}

/// A stored entry's bytes.
fn entry_bytes(dir: &Path, index: i64) -> Vec<u8> {
    let db = dir.join("verdict.db");
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
        use sqlx::Connection as _;
        let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite://{}", db.display())).await.unwrap();
        let row: Vec<u8> = sqlx::query_scalar("SELECT entry FROM log_entries WHERE idx = ?")
            .bind(index)
            .fetch_one(&mut conn)
            .await
            .unwrap();
        conn.close().await.unwrap();
        row
    })
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn a_forked_log_is_caught_by_a_monitor_that_remembers() {
    let tmp = tempfile::tempdir().unwrap();
    let pristine = tmp.path().join("pristine");
    let vkey = populate(&pristine);
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    copy_dir(&pristine, &a);
    copy_dir(&pristine, &b);
    let state = tmp.path().join("monitor.json");
    {
        let server = serve(&a);
        assert!(admin_post(&server, &a, "/v1/subscriptions", &subscription("from-a")).is_success());
        assert_ok(&verify(&server, &vkey, Some(&state)));
    }
    let remembered = std::fs::read(&state).unwrap();
    // Same key, same size, another root: a fork.
    let server = serve(&b);
    assert!(admin_post(&server, &b, "/v1/subscriptions", &subscription("from-b")).is_success());
    assert_fails_naming(&verify(&server, &vkey, Some(&state)), "entry 8: changed");
    assert_fails_naming(&verify(&server, &vkey, Some(&state)), "fork");
    // Grown past it, but not from it: not an extension.
    assert!(admin_post(&server, &b, "/v1/subscriptions", &subscription("from-b-2")).is_success());
    assert_fails_naming(&verify(&server, &vkey, Some(&state)), "not an extension");
    // A failed verification leaves the monitor's memory as it was.
    assert_eq!(std::fs::read(&state).unwrap(), remembered);
}

/// A tiny deterministic generator for the kill schedule.
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self.0.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % n
    }
}

#[test]
fn sigkill_at_random_moments_loses_no_acknowledged_change() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    {
        let server = serve(&dir);
        assert!(admin_post(&server, &dir, "/v1/tenants", &json!({"id": "t", "kind": "enterprise"})).is_success());
        assert!(admin_post(&server, &dir, "/v1/units", &json!({"tenant": "t", "path": "u"})).is_success());
    }
    let mut rng = Lcg(std::process::id() as u64);
    let mut acknowledged: Vec<String> = Vec::new();
    let started = Instant::now();
    for round in 0..20 {
        let mut server = serve(&dir);
        let base = server.base.clone();
        let admin = token(&dir, "admin");
        // Two writers post subscriptions as fast as they can until the server dies.
        let writers: Vec<_> = (0..2)
            .map(|w| {
                let (base, admin) = (base.clone(), admin.clone());
                std::thread::spawn(move || {
                    let client = reqwest::blocking::Client::builder().timeout(Duration::from_secs(5)).build().unwrap();
                    let mut acked = Vec::new();
                    for n in 0.. {
                        let id = format!("r{round}-w{w}-n{n}");
                        match client
                            .post(format!("{base}/v1/subscriptions"))
                            .bearer_auth(&admin)
                            .json(&subscription(&id))
                            .send()
                        {
                            Ok(r) if r.status().is_success() => acked.push(id),
                            Ok(r) => panic!("{id}: HTTP {}", r.status()),
                            Err(_) => break,
                        }
                    }
                    acked
                })
            })
            .collect();
        std::thread::sleep(Duration::from_millis(50 + rng.below(400)));
        server.child.kill().unwrap(); // SIGKILL
        server.child.wait().unwrap();
        for writer in writers {
            acknowledged.extend(writer.join().unwrap());
        }
        let out = fsck(&dir);
        assert!(out.status.success(), "round {round}: {}", String::from_utf8_lossy(&out.stderr));
    }
    assert!(acknowledged.len() > 40, "too few changes were made to mean anything: {}", acknowledged.len());
    // Every acknowledged change is in the store and in the log.
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        use verdict_store::Store as _;
        let store = verdict_store::SqliteStore::open(&dir.join("verdict.db")).await.unwrap();
        let records = store.read().await.unwrap().log_records(0, 100_000).await.unwrap();
        let logged: std::collections::HashSet<String> = records
            .iter()
            .filter(|r| r.kind == "subscription.created")
            .map(|r| {
                serde_json::from_slice::<Value>(&r.private).unwrap()["subscriptions"][0].as_str().unwrap().to_owned()
            })
            .collect();
        for id in &acknowledged {
            assert!(
                store.read().await.unwrap().subscription(id).await.unwrap().is_some(),
                "{id} was acknowledged but is not stored"
            );
            assert!(logged.contains(id), "{id} was acknowledged but is not logged");
        }
    });
    eprintln!("{} acknowledged changes over 20 kills in {:?}", acknowledged.len(), started.elapsed());
}
