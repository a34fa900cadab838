//! Following the replication stream on NATS JetStream: the snapshot over
//! HTTP, then the change sets and heartbeats through an ordered consumer
//! (`verdict pep --nats`), and server-sent events over HTTP whenever NATS
//! cannot be reached, going back to NATS as soon as it can.
//!
//! The consumer starts a little before now ([`NatsOptions::replay`]) and
//! skips every version the replica holds, so nothing published between the
//! snapshot and the subscription is missed; a change set that does not
//! follow the replica's version (a gap: the stream lost messages, or the
//! replica was away longer than the stream keeps them) asks for a resync,
//! exactly as over SSE.

use std::time::{Duration, Instant};

use async_nats::jetstream::{self, consumer};
use futures_util::StreamExt;
use verdict_engine::SnapshotDocument;
use verdict_wire::StreamEvent as Event;
use verdict_wire::bus::{CHANGES, HEARTBEATS, LINEAGE, STREAM, SUBJECTS, VERSION};

use crate::PepError;
use crate::source::{ChangeSource, EventStream, HttpSource, SseStream};

/// How a replica uses NATS.
#[derive(Debug, Clone)]
pub struct NatsOptions {
    /// The NATS server, e.g. `nats://127.0.0.1:4222`.
    pub url: String,
    /// How far before now the consumer starts, so that what was published
    /// while the snapshot travelled is replayed (and skipped when held).
    pub replay: Duration,
    /// While following over HTTP, how often NATS is tried again.
    pub retry: Duration,
    /// How long connecting to NATS may take before HTTP is used instead.
    pub connect_timeout: Duration,
    /// The JetStream domain that holds the stream, when the replica's NATS
    /// server is a leaf node of the one that does (a region's leaf of the
    /// central cluster); `None` for the server's own JetStream.
    pub domain: Option<String>,
}

impl NatsOptions {
    /// The defaults for `url`.
    pub fn new(url: &str) -> NatsOptions {
        NatsOptions {
            url: url.to_owned(),
            replay: Duration::from_secs(10),
            retry: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(2),
            domain: None,
        }
    }
}

/// The snapshot from the control plane over HTTP, the changes from NATS
/// (or from the control plane's SSE stream while NATS is unreachable).
pub struct NatsSource {
    options: NatsOptions,
    http: HttpSource,
    client: tokio::sync::Mutex<Option<async_nats::Client>>,
    /// The last snapshot was scoped: the stream on NATS carries every
    /// tenant's changes, so the replica follows its own over HTTP.
    scoped: std::sync::atomic::AtomicBool,
}

impl NatsSource {
    /// A source following `options.url`, with `http` for the snapshot and
    /// the fallback.
    pub fn new(options: NatsOptions, http: HttpSource) -> NatsSource {
        NatsSource { options, http, client: tokio::sync::Mutex::new(None), scoped: Default::default() }
    }

    fn bus(&self, detail: impl std::fmt::Display) -> PepError {
        bus_error(&self.options.url, detail)
    }

    async fn client(&self) -> Result<async_nats::Client, PepError> {
        let mut held = self.client.lock().await;
        if let Some(client) = held.as_ref()
            && client.connection_state() == async_nats::connection::State::Connected
        {
            return Ok(client.clone());
        }
        let client = async_nats::ConnectOptions::new()
            .connection_timeout(self.options.connect_timeout)
            .connect(&self.options.url)
            .await
            .map_err(|e| self.bus(e))?;
        *held = Some(client.clone());
        Ok(client)
    }

    async fn follow_bus(&self, since: u64, lineage: &str) -> Result<BusStream, PepError> {
        let client = self.client().await?;
        let js = match &self.options.domain {
            Some(domain) => jetstream::with_domain(client, domain),
            None => jetstream::new(client),
        };
        let stream = js.get_stream(STREAM).await.map_err(|e| self.bus(format!("no stream {STREAM}: {e}")))?;
        let start = time::OffsetDateTime::now_utc() - self.options.replay;
        let consumer = stream
            .create_consumer(consumer::pull::OrderedConfig {
                filter_subject: SUBJECTS.to_owned(),
                deliver_policy: consumer::DeliverPolicy::ByStartTime { start_time: start },
                ..Default::default()
            })
            .await
            .map_err(|e| self.bus(e))?;
        let messages = consumer.messages().await.map_err(|e| self.bus(e))?;
        Ok(BusStream {
            url: self.options.url.clone(),
            messages,
            held: since,
            lineage: lineage.to_owned(),
            live_from: time::OffsetDateTime::now_utc(),
        })
    }
}

impl ChangeSource for NatsSource {
    type Stream = Following;

    async fn snapshot(&self) -> Result<SnapshotDocument, PepError> {
        let document = self.http.snapshot().await?;
        let scoped = document.scope.is_some();
        if scoped && !self.scoped.swap(true, std::sync::atomic::Ordering::Relaxed) {
            tracing::warn!(
                "this token is scoped and the NATS stream carries every tenant's changes; following the control plane's scoped stream over HTTP"
            );
        }
        self.scoped.store(scoped, std::sync::atomic::Ordering::Relaxed);
        Ok(document)
    }

    async fn watch(&self, since: u64, lineage: &str) -> Result<Following, PepError> {
        if self.scoped.load(std::sync::atomic::Ordering::Relaxed) {
            let stream = self.http.watch(since, lineage).await?;
            // Until the next resync tells whether the token is still scoped.
            return Ok(Following::Http { stream, until: Instant::now() + Duration::from_secs(86_400 * 365) });
        }
        let bus = tokio::time::timeout(self.options.connect_timeout * 2, self.follow_bus(since, lineage)).await;
        match bus {
            Ok(Ok(stream)) => Ok(Following::Bus(Box::new(stream))),
            Ok(Err(e)) => self.fall_back(since, lineage, &e).await,
            Err(_) => self.fall_back(since, lineage, &self.bus("no answer in time")).await,
        }
    }
}

impl NatsSource {
    async fn fall_back(&self, since: u64, lineage: &str, why: &PepError) -> Result<Following, PepError> {
        tracing::warn!(error = %why, retry_in = ?self.options.retry, "NATS is unreachable; following the control plane over HTTP");
        let stream = self.http.watch(since, lineage).await?;
        Ok(Following::Http { stream, until: Instant::now() + self.options.retry })
    }
}

/// The stream a [`NatsSource`] follows now.
pub enum Following {
    /// The ordered consumer on NATS (boxed: it is large, and one per replica).
    Bus(Box<BusStream>),
    /// Server-sent events, until it is time to try NATS again (the stream
    /// then ends and the replica reconnects, to NATS if it is back).
    Http {
        /// The SSE stream.
        stream: SseStream,
        /// When to end it.
        until: Instant,
    },
}

impl EventStream for Following {
    fn transport(&self) -> &'static str {
        if matches!(self, Following::Bus(_)) { "nats" } else { "sse" }
    }

    async fn next(&mut self) -> Result<Option<Event>, PepError> {
        match self {
            Following::Bus(stream) => stream.next().await,
            Following::Http { stream, until } => {
                let left = until.saturating_duration_since(Instant::now());
                match tokio::time::timeout(left, stream.next()).await {
                    Ok(event) => event,
                    Err(_) => Ok(None),
                }
            }
        }
    }
}

/// An ordered consumer's messages as stream events, versions the replica
/// holds skipped.
pub struct BusStream {
    url: String,
    messages: consumer::pull::Ordered,
    /// The version the replica holds once it applied what this stream gave.
    held: u64,
    lineage: String,
    /// Messages published from here on are live rather than replayed.
    live_from: time::OffsetDateTime,
}

fn bus_error(url: &str, detail: impl std::fmt::Display) -> PepError {
    PepError::Bus { url: url.to_owned(), detail: detail.to_string() }
}

impl EventStream for BusStream {
    fn transport(&self) -> &'static str {
        "nats"
    }

    async fn next(&mut self) -> Result<Option<Event>, PepError> {
        loop {
            let Some(message) = self.messages.next().await else { return Ok(None) };
            let message = message.map_err(|e| bus_error(&self.url, e))?;
            let header = |name: &str| message.headers.as_ref().and_then(|h| h.get(name)).map(|v| v.as_str());
            if header(LINEAGE).is_some_and(|l| l != self.lineage) {
                // Replayed messages of another history are the past (a new
                // store's first entry changes its lineage); a live one means
                // the servers moved to another history: fetch it.
                let live = message.info().is_ok_and(|info| info.published >= self.live_from);
                if !live {
                    continue;
                }
                return Ok(Some(Event::Resync {
                    reason: "the stream carries another history (the store was replaced or the catalog changed)".into(),
                    version: 0,
                }));
            }
            let version: Option<u64> = header(VERSION).and_then(|v| v.parse().ok());
            let subject = message.subject.as_str();
            if subject == CHANGES && version.is_some_and(|v| v <= self.held) {
                continue; // Held already: replayed, or another server's copy.
            }
            let event = verdict_wire::bus::decode(&message.payload)
                .map_err(|e| PepError::Protocol { what: "bus message", detail: e.to_string() })?;
            match event {
                Some(Event::Changes(set)) if subject == CHANGES => {
                    if set.version <= self.held {
                        continue;
                    }
                    if set.prev != self.held {
                        return Ok(Some(Event::Resync {
                            reason: format!(
                                "version {} follows {} but this replica holds {}: the stream has a gap",
                                set.version, set.prev, self.held
                            ),
                            version: set.version,
                        }));
                    }
                    self.held = set.version;
                    return Ok(Some(Event::Changes(set)));
                }
                Some(Event::Resync { reason, version }) if version > self.held => {
                    return Ok(Some(Event::Resync { reason, version }));
                }
                // A server vouches for a version this replica holds or has
                // passed (servers publish independently; one may lag).
                Some(Event::Heartbeat { version, time }) if subject == HEARTBEATS && version <= self.held => {
                    return Ok(Some(Event::Heartbeat { version: self.held, time }));
                }
                // A server publishes a version before its heartbeats, in one
                // stream: a beat ahead of this replica means the versions
                // between were not delivered (published before the
                // consumer's start, or lost).
                Some(Event::Heartbeat { version, .. }) if subject == HEARTBEATS => {
                    return Ok(Some(Event::Resync {
                        reason: format!("the stream is at version {version}, past this replica's {}", self.held),
                        version,
                    }));
                }
                _ => continue,
            }
        }
    }
}
