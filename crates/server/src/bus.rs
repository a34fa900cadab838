//! Publishing the replication stream to NATS JetStream (`verdict serve
//! --nats`): every version this server decides with, as one message per
//! version read from the store's change table, and a heartbeat; replicas
//! follow with an ordered consumer (`verdict_pep::nats`). The format and
//! why duplicates from several servers are harmless: `verdict_wire::bus`.

use std::sync::Arc;
use std::time::Duration;

use async_nats::HeaderMap;
use async_nats::jetstream::{self, stream};
use verdict_control::Core;
use verdict_model::Timestamp;
use verdict_wire::StreamEvent;
use verdict_wire::bus::{self as wire, CHANGES, HEARTBEATS, LINEAGE, STREAM, SUBJECTS, VERSION};

/// How the publisher reaches NATS and what the stream keeps.
#[derive(Debug, Clone)]
pub struct BusOptions {
    /// The NATS server, e.g. `nats://127.0.0.1:4222`.
    pub url: String,
    /// How often a heartbeat is published.
    pub heartbeat: Duration,
    /// How long the stream keeps messages (a replica away longer fetches
    /// the snapshot again).
    pub max_age: Duration,
}

impl BusOptions {
    /// The defaults for `url`: a heartbeat a second, an hour of history.
    pub fn new(url: &str) -> BusOptions {
        BusOptions { url: url.to_owned(), heartbeat: Duration::from_secs(1), max_age: Duration::from_secs(3600) }
    }
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A backlog larger than this is not replayed onto the stream after an
/// outage: the stream jumps to the present and replicas resync.
const MAX_BACKFILL: u64 = 100_000;

/// Publishes for as long as the task runs, reconnecting with backoff.
pub async fn publish_forever(core: Arc<Core>, options: BusOptions) {
    let mut wait = Duration::from_millis(100);
    loop {
        match publish(&core, &options, &mut wait).await {
            Ok(()) => {}
            Err(e) => tracing::warn!(error = %e, url = %options.url, retry_in = ?wait, "cannot publish to NATS"),
        }
        tokio::time::sleep(wait).await;
        wait = (wait * 2).min(Duration::from_secs(10));
    }
}

fn headers(lineage: &str, version: u64) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(LINEAGE, lineage);
    headers.insert(VERSION, version.to_string().as_str());
    headers
}

/// The version of the stream's last change message, if it is of `lineage`.
async fn stream_version(stream: &stream::Stream, lineage: &str) -> Option<u64> {
    let last = stream.get_last_raw_message_by_subject(CHANGES).await.ok()?;
    let same = last.headers.get(LINEAGE).is_some_and(|l| l.as_str() == lineage);
    same.then(|| last.headers.get(VERSION)?.as_str().parse().ok()).flatten()
}

async fn publish(core: &Core, options: &BusOptions, wait: &mut Duration) -> Result<(), BoxError> {
    let client =
        async_nats::ConnectOptions::new().connection_timeout(Duration::from_secs(5)).connect(&options.url).await?;
    let js = jetstream::new(client);
    let stream = js
        .get_or_create_stream(stream::Config {
            name: STREAM.to_owned(),
            subjects: vec![SUBJECTS.to_owned()],
            max_age: options.max_age,
            duplicate_window: Duration::from_secs(120),
            storage: stream::StorageType::File,
            ..Default::default()
        })
        .await?;
    let mut lineage = core.lineage();
    let current = core.snapshot().version();
    // Resume where the stream is (another server may have published past
    // this one's start), backfilling what it missed from the store.
    let mut last = match stream_version(&stream, &lineage).await {
        Some(at) if at <= current && current - at <= MAX_BACKFILL => at,
        _ => current,
    };
    tracing::info!(url = %options.url, version = last, "publishing the replication stream to NATS JetStream");
    let mut versions = core.published_versions();
    let mut beat = tokio::time::interval(options.heartbeat);
    beat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let rows = core.change_rows(last, 1000).await?;
        if !rows.is_empty() {
            // The first entry of a new store changes its lineage.
            lineage = core.lineage();
            let mut acks = Vec::with_capacity(rows.len());
            for (version, delta) in rows {
                let mut headers = headers(&lineage, version);
                headers.insert("Nats-Msg-Id", wire::message_id(&lineage, version).as_str());
                let body = wire::change_message(version, delta.as_deref());
                acks.push(js.publish_with_headers(CHANGES, headers, body.into()).await?);
                last = version;
            }
            // Sent in order on one connection; the acks say JetStream has
            // them (or had them already, from another server).
            for ack in acks {
                ack.await?;
            }
            *wait = Duration::from_millis(100);
            continue;
        }
        tokio::select! {
            changed = versions.changed() => {
                if changed.is_err() {
                    return Ok(());
                }
            }
            _ = beat.tick() => {
                let body = StreamEvent::Heartbeat { version: last, time: Timestamp::now() }.encode();
                js.publish_with_headers(HEARTBEATS, headers(&lineage, last), body.into()).await?;
            }
        }
    }
}
