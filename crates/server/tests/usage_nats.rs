//! Usage from NATS JetStream, against a real `nats-server` this test starts:
//! batches published on `verdict-usage.<tenant>` are counted once (resent
//! events too), a refused batch is reported on the refusals subject with
//! its code and line and never counted, the stream is drained, and what was
//! published while no server was counting is counted when one starts.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_nats::jetstream;
use futures_util::StreamExt;
use serde_json::{Value, json};
use verdict_control::{Actor, Core};
use verdict_model::Timestamp;
use verdict_server::bus::{BusOptions, publish_forever};
use verdict_server::usage_bus::{REFUSALS, USAGE_STREAM, UsageBusOptions, consume_usage_forever};
use verdict_testdb::Nats;

fn line(subscription: &str, meter: &str, quantity: f64, id: &str) -> String {
    let service = if meter == "bytes_stored" { "storage.blob" } else { "ai.speech-to-text" };
    format!(
        "{}\n",
        json!({"tenant": "ministry-of-defense", "subscription": subscription, "service": service, "meter": meter,
            "quantity": quantity, "time": Timestamp::now().plus(-60).to_string(), "id": id})
    )
}

/// The tenant's figures of `meter` counted so far, all hours together.
async fn counted(core: &Core, meter: &str) -> f64 {
    let series = core.usage_series("ministry-of-defense", 0).await.unwrap();
    series.iter().filter(|(k, _)| k.meter == meter).flat_map(|(_, s)| s.hours.values()).sum()
}

async fn audio_seconds(core: &Core) -> f64 {
    counted(core, "audio_seconds").await
}

async fn until_counted(core: &Core, want: f64) {
    until(core, "audio_seconds", want).await;
}

async fn until(core: &Core, meter: &str, want: f64) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let got = counted(core, meter).await;
        if got == want {
            return;
        }
        assert!(Instant::now() < deadline, "counted {got} {meter}, want {want}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A short wait for acknowledgements, so that a batch the stopped server
/// had taken is delivered again within the test.
fn options(nats: &Nats) -> UsageBusOptions {
    UsageBusOptions { ack_wait: Duration::from_secs(1), ..UsageBusOptions::new(&nats.url()) }
}

async fn publish(js: &jetstream::Context, body: String) {
    js.publish("verdict-usage.ministry-of-defense", body.into()).await.unwrap().await.unwrap();
}

#[tokio::test]
async fn usage_published_on_nats_is_counted_once_and_a_refused_batch_is_reported() {
    let nats = Nats::start();
    let (core, _, _dir) = common::open_core().await;
    let inventory = serde_json::from_value(json!({
        "tenants": [{"id": "ministry-of-defense", "kind": "government"}],
        "subscriptions": [
            {"id": "sig-ai", "tenant": "ministry-of-defense", "unit": "intelligence/signals", "services": ["ai.speech-to-text"]},
            {"id": "sig-archive", "tenant": "ministry-of-defense", "unit": "intelligence/signals", "services": ["storage.blob"]}],
    }))
    .unwrap();
    core.import(&Actor::admin(), inventory, &|_| ()).await.unwrap();
    // Beside the replication stream, as `verdict serve --nats` runs them.
    let publishing = tokio::spawn(publish_forever(Arc::clone(&core), BusOptions::new(&nats.url())));
    let counting = tokio::spawn(consume_usage_forever(Arc::clone(&core), options(&nats)));
    let client = async_nats::connect(nats.url()).await.unwrap();
    let mut refusals = client.subscribe(REFUSALS).await.unwrap();
    let js = jetstream::new(client.clone());
    let deadline = Instant::now() + Duration::from_secs(10);
    while js.get_stream(USAGE_STREAM).await.is_err() || js.get_stream(verdict_wire::bus::STREAM).await.is_err() {
        assert!(Instant::now() < deadline, "the server did not create the usage and replication streams");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let first = line("sig-ai", "audio_seconds", 100.0, "a1") + &line("sig-ai", "audio_seconds", 20.0, "a2");
    publish(&js, first.clone()).await;
    until_counted(&core, 120.0).await;
    // Sent again with one new event: only the new one counts.
    publish(&js, first.clone() + &line("sig-ai", "audio_seconds", 3.0, "a3")).await;
    until_counted(&core, 123.0).await;

    // A batch with a bad line is refused whole, reported, and never
    // delivered again; the batches after it are counted.
    publish(&js, line("sig-ai", "audio_seconds", 1000.0, "b1") + &line("sig-ai", "transcript_words", 5.0, "b2")).await;
    let refusal = tokio::time::timeout(Duration::from_secs(10), refusals.next()).await.unwrap().unwrap();
    let refusal: Value = serde_json::from_slice(&refusal.payload).unwrap();
    assert_eq!(refusal["code"], "unknown-meter", "{refusal}");
    assert_eq!(refusal["subject"], "verdict-usage.ministry-of-defense", "{refusal}");
    assert!(refusal["message"].as_str().unwrap().starts_with("line 2: "), "{refusal}");
    assert!(refusal["stream_sequence"].as_u64().unwrap() > 0, "{refusal}");
    let ghost = format!(
        "{}\n",
        json!({"tenant": "ministry-of-defense", "subscription": "ghost", "service": "ai.speech-to-text",
            "meter": "audio_seconds", "quantity": 1, "time": Timestamp::now().to_string()})
    );
    publish(&js, ghost).await;
    let refusal = tokio::time::timeout(Duration::from_secs(10), refusals.next()).await.unwrap().unwrap();
    assert_eq!(serde_json::from_slice::<Value>(&refusal.payload).unwrap()["code"], "unknown-subscription");
    publish(&js, line("sig-ai", "audio_seconds", 4.0, "a4")).await;
    until_counted(&core, 127.0).await;

    // No server counting: the stream keeps what is published, and the next
    // server to start counts it, once — a batch the stopped one had taken
    // but not acknowledged comes again after the wait for its ack.
    counting.abort();
    let _ = counting.await;
    publish(&js, line("sig-ai", "audio_seconds", 10.0, "c1") + &line("sig-archive", "bytes_stored", 5e9, "c2")).await;
    publish(&js, line("sig-ai", "audio_seconds", 10.0, "c1")).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(audio_seconds(&core).await, 127.0, "nothing is counted while no server counts");
    let counting = tokio::spawn(consume_usage_forever(Arc::clone(&core), options(&nats)));
    until(&core, "bytes_stored", 5e9).await;
    until_counted(&core, 137.0).await;

    // Every batch was acknowledged or terminated: the work queue is empty.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let mut stream = js.get_stream(USAGE_STREAM).await.unwrap();
        let held = stream.info().await.unwrap().state.messages;
        if held == 0 {
            break;
        }
        assert!(Instant::now() < deadline, "{held} usage batches are still in the stream");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    counting.abort();
    publishing.abort();
}
