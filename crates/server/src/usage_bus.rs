//! Usage from NATS JetStream (`verdict serve --nats`): the metering
//! pipeline publishes NDJSON batches, the same as `POST /v1/usage` takes,
//! on `verdict-usage.<tenant>` (outside `verdict.>`, which the replication
//! stream holds: JetStream streams may not share subjects); the stream keeps them until a server has
//! counted them. Every server pulls from one durable consumer, so each
//! batch is counted by one of them, and a batch is acknowledged only once
//! the transaction that counted it has committed: a server that dies
//! before that leaves the batch to be delivered again, and its events
//! with ids count once. A batch that is refused (the same checks and codes
//! as over HTTP) is never delivered again; its refusal is published on
//! [`REFUSALS`] for the pipeline to see.

use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::consumer::{AckPolicy, pull};
use async_nats::jetstream::{self, AckKind, Message, stream};
use futures_util::StreamExt;
use verdict_control::{Core, MAX_USAGE_BATCH, UsageBatchError};
use verdict_model::{Catalog, Problem, UsageEvent};

/// The stream that holds usage batches until they are counted.
pub const USAGE_STREAM: &str = "VERDICT_USAGE";
/// Where the pipeline publishes: `verdict-usage.<tenant>`.
pub const USAGE_SUBJECTS: &str = "verdict-usage.>";
/// The durable consumer every server pulls from.
pub const USAGE_CONSUMER: &str = "verdict-usage";
/// Where a refused batch is reported (plain NATS, outside the stream): a
/// JSON object with the batch's subject and stream sequence, the code and
/// the sentence.
pub const REFUSALS: &str = "verdict-usage-refusals";

/// Batches taken together into one transaction, at most.
const MESSAGES_PER_ROUND: usize = 256;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// How a server reaches NATS for usage.
#[derive(Debug, Clone)]
pub struct UsageBusOptions {
    /// The NATS server, e.g. `nats://127.0.0.1:4222`.
    pub url: String,
    /// How long a batch delivered to a server that then died (or hangs)
    /// waits before it is delivered again, to any server.
    pub ack_wait: Duration,
}

impl UsageBusOptions {
    /// The defaults for `url`: a minute's wait for an acknowledgement.
    pub fn new(url: &str) -> UsageBusOptions {
        UsageBusOptions { url: url.to_owned(), ack_wait: Duration::from_secs(60) }
    }
}

/// Counts usage from NATS for as long as the task runs, reconnecting with
/// backoff.
pub async fn consume_usage_forever(core: Arc<Core>, options: UsageBusOptions) {
    let mut wait = Duration::from_millis(100);
    loop {
        if let Err(e) = consume(&core, &options, &mut wait).await {
            tracing::warn!(error = %e, url = %options.url, retry_in = ?wait, "cannot count usage from NATS");
        }
        tokio::time::sleep(wait).await;
        wait = (wait * 2).min(Duration::from_secs(10));
    }
}

async fn consume(core: &Core, options: &UsageBusOptions, wait: &mut Duration) -> Result<(), BoxError> {
    let client =
        async_nats::ConnectOptions::new().connection_timeout(Duration::from_secs(5)).connect(&options.url).await?;
    let js = jetstream::new(client.clone());
    let stream = js
        .get_or_create_stream(stream::Config {
            name: USAGE_STREAM.to_owned(),
            subjects: vec![USAGE_SUBJECTS.to_owned()],
            retention: stream::RetentionPolicy::WorkQueue,
            // Older than the allowed lateness, a batch could not be counted.
            max_age: Duration::from_secs(verdict_control::LATENESS_SECONDS as u64),
            duplicate_window: Duration::from_secs(120),
            storage: stream::StorageType::File,
            ..Default::default()
        })
        .await?;
    let consumer = stream
        .get_or_create_consumer(
            USAGE_CONSUMER,
            pull::Config {
                durable_name: Some(USAGE_CONSUMER.to_owned()),
                ack_policy: AckPolicy::Explicit,
                ack_wait: options.ack_wait,
                max_ack_pending: 4 * MESSAGES_PER_ROUND as i64,
                ..Default::default()
            },
        )
        .await?;
    let mut messages = consumer.stream().max_messages_per_batch(MESSAGES_PER_ROUND).messages().await?;
    *wait = Duration::from_millis(100);
    loop {
        // The first message waits; those already here join its round.
        let Some(first) = messages.next().await else { return Err("the usage consumer ended".into()) };
        let mut round = vec![first?];
        while round.len() < MESSAGES_PER_ROUND {
            match tokio::time::timeout(Duration::from_millis(2), messages.next()).await {
                Ok(Some(message)) => round.push(message?),
                Ok(None) | Err(_) => break,
            }
        }
        count_round(core, &client, round).await?;
    }
}

/// Reads each batch of a round, refuses the bad ones, and counts the rest
/// in as few transactions as the batch limit allows.
async fn count_round(core: &Core, client: &async_nats::Client, round: Vec<Message>) -> Result<(), BoxError> {
    let (earliest, latest) = core.usage_bounds();
    let read = tokio::task::spawn_blocking(move || {
        round
            .into_iter()
            .map(|m| {
                let events = verdict_control::parse_usage_batch(&m.payload, &Catalog::builtin(), earliest, latest);
                (m, events)
            })
            .collect::<Vec<_>>()
    })
    .await?;
    let mut taken: Vec<Message> = Vec::new();
    let mut events: Vec<(usize, UsageEvent)> = Vec::new();
    for (message, read) in read {
        match read.and_then(|e| core.check_usage_subscriptions(&e).map(|()| e)) {
            Err(refusal) => refuse(client, &message, &refusal).await?,
            Ok(batch) => {
                if events.len() + batch.len() > MAX_USAGE_BATCH {
                    count(core, std::mem::take(&mut taken), std::mem::take(&mut events)).await?;
                }
                events.extend(batch);
                taken.push(message);
            }
        }
    }
    if !taken.is_empty() {
        count(core, taken, events).await?;
    }
    Ok(())
}

/// Counts batches in one transaction, then acknowledges them; if the
/// store fails they are delivered again later.
async fn count(core: &Core, taken: Vec<Message>, events: Vec<(usize, UsageEvent)>) -> Result<(), BoxError> {
    match core.ingest_usage(&events).await {
        Ok(done) => {
            tracing::debug!(
                batches = taken.len(),
                accepted = done.accepted,
                duplicates = done.duplicates,
                "usage counted from NATS"
            );
            for message in &taken {
                message.double_ack().await?;
            }
            Ok(())
        }
        Err(e) => {
            for message in &taken {
                message.ack_with(AckKind::Nak(Some(Duration::from_secs(5)))).await?;
            }
            Err(Box::new(e) as BoxError)
        }
    }
}

async fn refuse(client: &async_nats::Client, message: &Message, refusal: &UsageBatchError) -> Result<(), BoxError> {
    let sequence = message.info().map(|i| i.stream_sequence).unwrap_or(0);
    let report = serde_json::json!({
        "subject": message.subject.as_str(),
        "stream_sequence": sequence,
        "code": refusal.code(),
        "message": refusal.to_string(),
    });
    tracing::warn!(subject = %message.subject, sequence, error = %refusal, "usage batch from NATS refused");
    client.publish(REFUSALS, report.to_string().into()).await?;
    message.ack_with(AckKind::Term).await?;
    Ok(())
}
