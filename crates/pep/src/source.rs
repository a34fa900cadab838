//! Where a replica gets the snapshot and its changes: the [`ChangeSource`]
//! seam, and [`HttpSource`], the control plane's own HTTP endpoints with
//! server-sent events.

use std::future::Future;
use std::time::Duration;

use verdict_engine::SnapshotDocument;
use verdict_wire::StreamEvent as Event;

use crate::PepError;

/// A transport for replication: the whole snapshot, and the changes after
/// a version. Implemented by [`HttpSource`]; a message bus (NATS
/// JetStream) carries the same events behind the same trait.
pub trait ChangeSource: Send + Sync + 'static {
    /// The stream [`ChangeSource::watch`] opens.
    type Stream: EventStream;
    /// Fetches the whole snapshot.
    fn snapshot(&self) -> impl Future<Output = Result<SnapshotDocument, PepError>> + Send;
    /// Opens the change stream after `since` in history `lineage` (the
    /// snapshot document's; a stream of another history answers `resync`).
    fn watch(&self, since: u64, lineage: &str) -> impl Future<Output = Result<Self::Stream, PepError>> + Send;
}

/// An open change stream.
pub trait EventStream: Send + 'static {
    /// The next event; `None` when the stream ended.
    fn next(&mut self) -> impl Future<Output = Result<Option<Event>, PepError>> + Send;
    /// How the events travel, for status pages: `sse`, `nats`.
    fn transport(&self) -> &'static str {
        "sse"
    }
}

/// The control plane over HTTP: `GET /v1/snapshot` and `GET /v1/watch`
/// with a pep (or admin) token.
#[derive(Clone)]
pub struct HttpSource {
    client: reqwest::Client,
    base: String,
    token: String,
    heartbeat: Duration,
}

impl HttpSource {
    /// A source at `base` (e.g. `http://127.0.0.1:8750`) asking for a
    /// heartbeat every `heartbeat`.
    pub fn new(base: &str, token: &str, heartbeat: Duration) -> Result<HttpSource, PepError> {
        Self::with_ca(base, token, heartbeat, None)
    }

    /// [`HttpSource::new`], trusting the certificates in `ca_file` (PEM)
    /// beside the system's roots, for a server with a private CA.
    pub fn with_ca(
        base: &str,
        token: &str,
        heartbeat: Duration,
        ca_file: Option<&std::path::Path>,
    ) -> Result<HttpSource, PepError> {
        // A half-open connection must not hang a replica: a response's
        // headers must come within a bound, the stream then goes silent for
        // at most three heartbeats, and the snapshot's body may pause for at
        // most 30 s between chunks (a slow link is fine; a dead one is not).
        let client = crate::tls::client_builder(ca_file)?
            .connect_timeout(Duration::from_secs(5))
            // A dead peer is noticed in about 15 + 3 × 5 s even on a quiet
            // connection (Linux's defaults would take eleven minutes).
            .tcp_keepalive(Duration::from_secs(15))
            .tcp_keepalive_interval(Duration::from_secs(5))
            .tcp_keepalive_retries(3)
            .tcp_nodelay(true)
            .build()
            .map_err(|source| PepError::Unreachable { url: base.to_owned(), source })?;
        Ok(HttpSource {
            client,
            base: base.trim_end_matches('/').to_owned(),
            token: token.trim().to_owned(),
            heartbeat,
        })
    }

    /// GETs `path` (accepting gzip if `gzip`); the response's headers must
    /// arrive within `within`.
    async fn get(&self, path: &str, within: Duration, gzip: bool) -> Result<reqwest::Response, PepError> {
        let url = format!("{}{path}", self.base);
        let mut request = self.client.get(&url).bearer_auth(&self.token);
        if gzip {
            request = request.header("accept-encoding", "gzip");
        }
        let request = request.send();
        let response = tokio::time::timeout(within, request)
            .await
            .map_err(|_| PepError::Timeout { url: url.clone(), after: within })?
            .map_err(|source| PepError::Unreachable { url: url.clone(), source })?;
        if !response.status().is_success() {
            let status = response.status().as_u16();
            let body = response.text().await.unwrap_or_default();
            return Err(PepError::Refused { url, status, body });
        }
        Ok(response)
    }
}

impl ChangeSource for HttpSource {
    type Stream = SseStream;

    async fn snapshot(&self) -> Result<SnapshotDocument, PepError> {
        // The snapshot comes gzipped: about a quarter of the bytes.
        let mut response = self.get("/v1/snapshot", Duration::from_secs(60), true).await?;
        let url = response.url().to_string();
        let gzipped = response.headers().get("content-encoding").is_some_and(|v| v.as_bytes() == b"gzip");
        let idle = Duration::from_secs(30);
        let mut bytes = Vec::with_capacity(response.content_length().unwrap_or(0).min(1 << 30) as usize);
        loop {
            let chunk = tokio::time::timeout(idle, response.chunk())
                .await
                .map_err(|_| PepError::Timeout { url: url.clone(), after: idle })?
                .map_err(|source| PepError::Unreachable { url: url.clone(), source })?;
            match chunk {
                Some(chunk) => bytes.extend_from_slice(&chunk),
                None => break,
            }
        }
        // Parsing a million subscriptions takes a while: off the runtime.
        tokio::task::spawn_blocking(move || {
            let bad = |detail: String| PepError::Protocol { what: "snapshot", detail };
            if gzipped {
                use std::io::Read as _;
                let mut json = Vec::with_capacity(bytes.len() * 6);
                flate2::read::GzDecoder::new(&bytes[..]).read_to_end(&mut json).map_err(|e| bad(e.to_string()))?;
                serde_json::from_slice::<SnapshotDocument>(&json).map_err(|e| bad(e.to_string()))
            } else {
                serde_json::from_slice::<SnapshotDocument>(&bytes).map_err(|e| bad(e.to_string()))
            }
        })
        .await
        .map_err(|e| PepError::Protocol { what: "snapshot", detail: e.to_string() })?
    }

    async fn watch(&self, since: u64, lineage: &str) -> Result<SseStream, PepError> {
        // Lineages are hex; anything else is not sent rather than escaped.
        let lineage = if lineage.bytes().all(|b| b.is_ascii_hexdigit()) { lineage } else { "" };
        let path =
            format!("/v1/watch?since={since}&heartbeat_ms={}&lineage={lineage}", self.heartbeat.as_millis().max(50));
        let response = self.get(&path, self.heartbeat * 3 + Duration::from_secs(5), false).await?;
        Ok(SseStream { response, buffer: Vec::new() })
    }
}

/// A server-sent event stream from `GET /v1/watch`.
pub struct SseStream {
    response: reqwest::Response,
    buffer: Vec<u8>,
}

impl EventStream for SseStream {
    async fn next(&mut self) -> Result<Option<Event>, PepError> {
        loop {
            while let Some(end) = self.buffer.windows(2).position(|w| w == b"\n\n") {
                let block: Vec<u8> = self.buffer.drain(..end + 2).collect();
                if let Some(event) = parse_event(&block[..end])? {
                    return Ok(Some(event));
                }
            }
            let url = self.response.url().to_string();
            match self.response.chunk().await.map_err(|source| PepError::Unreachable { url, source })? {
                // Line ends may be CRLF (the SSE format allows it); events
                // are separated by a blank line either way.
                Some(chunk) => self.buffer.extend(chunk.iter().filter(|b| **b != b'\r')),
                None => return Ok(None),
            }
        }
    }
}

/// One event block (without its blank line); `None` for comments and
/// events this replica does not know.
fn parse_event(block: &[u8]) -> Result<Option<Event>, PepError> {
    let text = std::str::from_utf8(block)
        .map_err(|e| PepError::Protocol { what: "event", detail: format!("not UTF-8: {e}") })?;
    Event::decode(text).map_err(|e| PepError::Protocol { what: "event", detail: e.to_string() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_that_are_not_text_are_protocol_errors() {
        assert!(matches!(parse_event(b"event: changes\ndata: \xff"), Err(PepError::Protocol { .. })));
        assert_eq!(parse_event(b": skipped").unwrap(), None);
    }
}
