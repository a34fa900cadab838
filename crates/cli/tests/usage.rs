//! Usage ingestion across a crash: a metering client sends batches while
//! `verdict serve` is killed (SIGKILL) mid-stream; after a restart the
//! stored figures hold every acknowledged batch and nothing of half a
//! batch, and resending what was not acknowledged brings them to exactly
//! every event once.

mod common;

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{Running, start, token};
use serde_json::{Value, json};

const BATCH: usize = 250;

fn serve(dir: &Path) -> Running {
    start(&["serve", "--data", dir.to_str().unwrap(), "--listen", "127.0.0.1:0"])
}

fn post(base: &str, path: &str, token: &str, body: &Value) -> Value {
    let r =
        reqwest::blocking::Client::new().post(format!("{base}{path}")).bearer_auth(token).json(body).send().unwrap();
    let status = r.status();
    let text = r.text().unwrap();
    assert!(status.is_success(), "{path}: {status} {text}");
    serde_json::from_str(&text).unwrap()
}

/// Batch `n`: `BATCH` events of one second of audio each, every one with
/// its own id.
fn batch(n: usize) -> String {
    let time = verdict_model::Timestamp::now().plus(-600).to_string();
    (0..BATCH)
        .map(|i| {
            let event = json!({"tenant": "mod", "subscription": format!("sig-{}", i % 3), "service": "ai.speech-to-text",
                "meter": "audio_seconds", "quantity": 1.0, "time": time, "id": format!("b{n}-e{i}")});
            format!("{event}\n")
        })
        .collect()
}

fn send(base: &str, token: &str, body: String) -> Option<Value> {
    let r = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
        .post(format!("{base}/v1/usage"))
        .bearer_auth(token)
        .header("content-type", "application/x-ndjson")
        .body(body)
        .send()
        .ok()?;
    r.status().is_success().then(|| r.json().unwrap())
}

fn stored_total(base: &str, admin: &str) -> f64 {
    let r = reqwest::blocking::Client::new().get(format!("{base}/v1/usage/mod")).bearer_auth(admin).send().unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    let series: Value = r.json().unwrap();
    series
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["hours"].as_array().unwrap().iter())
        .map(|h| h["quantity"].as_f64().unwrap())
        .sum()
}

#[test]
fn a_crash_during_ingestion_loses_no_acknowledged_event_and_counts_none_twice() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut server = serve(&data);
    let admin = token(&data, "admin");
    post(&server.base, "/v1/tenants", &admin, &json!({"id": "mod", "kind": "government"}));
    post(&server.base, "/v1/units", &admin, &json!({"tenant": "mod", "path": "signals"}));
    for i in 0..3 {
        post(
            &server.base,
            "/v1/subscriptions",
            &admin,
            &json!({"id": format!("sig-{i}"), "tenant": "mod",
            "unit": "signals", "services": ["ai.speech-to-text"]}),
        );
    }
    let meter = post(&server.base, "/v1/users", &admin, &json!({"name": "metering", "role": "meter"}))["token"]
        .as_str()
        .unwrap()
        .to_owned();

    // The client sends batch after batch; the server is killed under it.
    let acked = Arc::new(Mutex::new(Vec::new()));
    let sender = {
        let (base, meter, acked) = (server.base.clone(), meter.clone(), acked.clone());
        std::thread::spawn(move || {
            let mut sent = 0;
            while sent < 400 {
                match send(&base, &meter, batch(sent)) {
                    Some(answer) => {
                        assert_eq!(answer, json!({"accepted": BATCH, "duplicates": 0}));
                        acked.lock().unwrap().push(sent);
                    }
                    None => return sent + 1,
                }
                sent += 1;
            }
            sent
        })
    };
    while acked.lock().unwrap().len() < 20 {
        std::thread::sleep(Duration::from_millis(5));
    }
    server.child.kill().unwrap();
    server.child.wait().unwrap();
    let sent = sender.join().unwrap();
    let acked: Vec<usize> = acked.lock().unwrap().clone();
    assert!(acked.len() >= 20 && acked.len() < 400, "the kill came mid-stream: {} acknowledged", acked.len());

    // Every acknowledged batch is there; an unacknowledged one is there
    // whole or not at all.
    let server = serve(&data);
    let total = stored_total(&server.base, &admin);
    let floor = (acked.len() * BATCH) as f64;
    assert!(total >= floor, "acknowledged events lost: {total} < {floor}");
    assert_eq!(total % BATCH as f64, 0.0, "half a batch counted: {total}");
    assert!(total <= (sent * BATCH) as f64, "more than was sent: {total}");

    // Resending what was not acknowledged counts each event exactly once.
    for n in (0..sent).filter(|n| !acked.contains(n)) {
        let answer = send(&server.base, &meter, batch(n)).expect("the resend is accepted");
        assert_eq!(answer["accepted"].as_u64().unwrap() + answer["duplicates"].as_u64().unwrap(), BATCH as u64);
    }
    assert_eq!(stored_total(&server.base, &admin), (sent * BATCH) as f64, "every event once");
}
