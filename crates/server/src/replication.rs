//! Replication to enforcement points: the whole snapshot
//! (`GET /v1/snapshot`) and a stream of versioned changes after it
//! (`GET /v1/watch`, server-sent events). Format: `docs/replication.md`.

use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use tokio::sync::broadcast::error::RecvError;
use verdict_control::feed::{Frame, FrameBody, Resume, Scoped, ScopedView};
use verdict_model::{ReplicaScope, Timestamp};
use verdict_wire::StreamEvent;

use crate::AppState;
use crate::auth::ReplicaScoped;
use crate::error::ApiError;
use crate::manage::Query;

/// The snapshot document last encoded, by version: a hundred gateways
/// bootstrapping at once cost one encoding (the lock is held while encoding,
/// so the others wait for it rather than encode the same version again).
#[derive(Default)]
pub struct DocumentCache {
    whole: tokio::sync::Mutex<Option<Encoded>>,
    /// Scoped tokens' documents, by scope (those of the latest version
    /// encoded only, and at most [`SCOPED_DOCUMENTS`]).
    scoped: tokio::sync::Mutex<std::collections::HashMap<ReplicaScope, Encoded>>,
}

/// How many scopes' documents are kept encoded.
const SCOPED_DOCUMENTS: usize = 256;

/// One version's document, as JSON and gzipped.
#[derive(Clone)]
struct Encoded {
    version: u64,
    json: Bytes,
    gzip: Bytes,
}

/// The document as JSON, and that JSON gzipped (fast level: a million
/// subscriptions compress about fourfold in a fraction of a second, once
/// per version).
fn encode(
    snapshot: &verdict_engine::Snapshot,
    lineage: String,
    scope: Option<&ReplicaScope>,
) -> Result<Encoded, std::io::Error> {
    use std::io::Write as _;
    let mut document = snapshot.export_scoped(scope);
    document.lineage = lineage;
    let json = serde_json::to_vec(&document)?;
    let mut gzip = flate2::write::GzEncoder::new(Vec::with_capacity(json.len() / 4), flate2::Compression::fast());
    gzip.write_all(&json)?;
    let gzip = gzip.finish()?;
    Ok(Encoded { version: snapshot.version(), json: json.into(), gzip: gzip.into() })
}

/// The version a response describes.
const VERSION_HEADER: &str = "x-verdict-version";

/// Default and bounds of the heartbeat interval, in milliseconds.
const HEARTBEAT_MS: (u64, u64, u64) = (1000, 50, 60_000);

/// The whole snapshot as a replica compiles it. `ETag` is the version, so a
/// replica polling with `If-None-Match` gets 304 while nothing changed.
#[utoipa::path(get, path = "/v1/snapshot", tag = "replication",
    responses(
        (status = 200, description = "The snapshot document (verdict-snapshot/1); header X-Verdict-Version", content_type = "application/json"),
        (status = 304, description = "Unchanged since the version in If-None-Match"),
    ),
    security(("bearer" = [])))]
pub(crate) async fn snapshot(
    State(state): State<Arc<AppState>>,
    scoped: Option<ReplicaScoped>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let version = state.core.feed().current().version();
    if headers.get(header::IF_NONE_MATCH).is_some_and(|v| v == etag(version)) {
        let vary = HeaderValue::from_static("accept-encoding");
        return Ok((StatusCode::NOT_MODIFIED, [(header::ETAG, etag(version)), (header::VARY, vary)]).into_response());
    }
    let encoded = match scoped {
        None => whole_document(&state, version).await?,
        Some(ReplicaScoped(scope)) => scoped_document(&state, version, scope).await?,
    };
    let gzip = headers.get(header::ACCEPT_ENCODING).and_then(|v| v.to_str().ok()).is_some_and(accepts_gzip);
    let version = encoded.version;
    let mut response = if gzip {
        let mut r = encoded.gzip.into_response();
        r.headers_mut().insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        r
    } else {
        encoded.json.into_response()
    };
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    h.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    h.insert(header::ETAG, etag(version));
    h.insert(header::HeaderName::from_static(VERSION_HEADER), HeaderValue::from(version));
    Ok(response)
}

/// The whole document at `version` or newer.
async fn whole_document(state: &Arc<AppState>, version: u64) -> Result<Encoded, ApiError> {
    let mut cache = state.documents.whole.lock().await;
    // Whoever held the lock may have encoded this version or a newer one
    // meanwhile: serve that (the stream brings a replica the rest) rather
    // than queue one encoding per waiter while versions move on.
    if let Some(encoded) = cache.as_ref().filter(|e| e.version >= version) {
        return Ok(encoded.clone());
    }
    let encoded = encode_current(state, None).await?;
    *cache = Some(encoded.clone());
    Ok(encoded)
}

/// A scope's document at `version` or newer.
async fn scoped_document(state: &Arc<AppState>, version: u64, scope: Arc<ReplicaScope>) -> Result<Encoded, ApiError> {
    if let Some(encoded) = state.documents.scoped.lock().await.get(&*scope).filter(|e| e.version >= version) {
        return Ok(encoded.clone());
    }
    // Scoped documents are small; two replicas of one scope asking at once
    // may both encode it, which is cheaper than a lock per scope.
    let encoded = encode_current(state, Some(scope.clone())).await?;
    let mut cache = state.documents.scoped.lock().await;
    cache.retain(|_, e| e.version >= encoded.version);
    if cache.len() < SCOPED_DOCUMENTS {
        cache.insert((*scope).clone(), encoded.clone());
    }
    Ok(encoded)
}

/// Encodes the current snapshot (off the runtime: a million subscriptions
/// take a while).
async fn encode_current(state: &Arc<AppState>, scope: Option<Arc<ReplicaScope>>) -> Result<Encoded, ApiError> {
    let current = state.core.feed().current();
    let lineage = state.core.lineage();
    tokio::task::spawn_blocking(move || encode(&current, lineage, scope.as_deref()))
        .await
        .map_err(|e| ApiError::internal(&e))?
        .map_err(|e| ApiError::internal(&e))
}

/// The entity tag of a version's document.
fn etag(version: u64) -> HeaderValue {
    HeaderValue::from_str(&format!("\"{version}\"")).expect("a quoted number is a valid header value")
}

/// Whether an `Accept-Encoding` value accepts gzip: `gzip` (or `x-gzip`,
/// or `*`) with a non-zero weight, in any case.
fn accepts_gzip(value: &str) -> bool {
    let mut star = false;
    for item in value.split(',') {
        let mut parts = item.split(';');
        let coding = parts.next().unwrap_or("").trim().to_ascii_lowercase();
        let weight = parts
            .filter_map(|p| p.trim().strip_prefix("q=").or_else(|| p.trim().strip_prefix("Q=")))
            .find_map(|q| q.trim().parse::<f32>().ok())
            .unwrap_or(1.0);
        match coding.as_str() {
            "gzip" | "x-gzip" => return weight > 0.0,
            "*" => star = weight > 0.0,
            _ => {}
        }
    }
    star
}

/// Query of `GET /v1/watch`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub(crate) struct WatchQuery {
    /// The version the replica holds (or send `Last-Event-ID`).
    since: Option<i64>,
    /// Milliseconds between heartbeats (50 to 60,000; default 1,000).
    heartbeat_ms: Option<u64>,
    /// The `lineage` of the replica's snapshot; another history's gets a
    /// `resync`, whatever its version.
    #[serde(default, deserialize_with = "hex_param")]
    lineage: Option<String>,
}

/// A lineage: lowercase hex, as `GET /v1/snapshot` gives it.
fn hex_param<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let value = Option::<String>::deserialize(d)?;
    if value
        .as_deref()
        .is_some_and(|v| v.len() > 64 || !v.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
    {
        return Err(serde::de::Error::custom("lineage is lowercase hex, as GET /v1/snapshot gives it"));
    }
    Ok(value)
}

/// Server-sent events after version `since`: `changes` (id = version; data
/// a change set to apply on top of `prev`), `heartbeat` (the version the
/// stream is at and the server's time) and `resync` (fetch the snapshot
/// again; the stream ends).
#[utoipa::path(get, path = "/v1/watch", tag = "replication",
    params(WatchQuery),
    responses(
        (status = 200, description = "An event stream", content_type = "text/event-stream"),
        (status = 400, description = "No version given, or a bad heartbeat"),
    ),
    security(("bearer" = [])))]
pub(crate) async fn watch(
    State(state): State<Arc<AppState>>,
    scoped: Option<ReplicaScoped>,
    name: Option<axum::Extension<crate::auth::ReplicaName>>,
    Query(query): Query<WatchQuery>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let last_event = headers.get("last-event-id").and_then(|v| v.to_str().ok()).filter(|v| !v.trim().is_empty());
    // An EventSource reconnects with its first URL plus Last-Event-ID, so
    // the header is the newer position and wins.
    // Versions are 63-bit, like every integer in the API's JSON.
    let since: u64 = match (last_event, query.since) {
        (Some(id), _) => id.trim().parse::<i64>().ok().and_then(|v| u64::try_from(v).ok()).ok_or_else(|| {
            ApiError::bad_request("invalid-version", format!("Last-Event-ID {id:?} is not a version number"))
        })?,
        (None, Some(v)) => u64::try_from(v).map_err(|_| {
            ApiError::bad_request("invalid-version", format!("since {v} is not a version number (0 or more)"))
        })?,
        (None, None) => {
            return Err(ApiError::bad_request(
                "missing-version",
                "say which version you hold: ?since=V (the X-Verdict-Version of GET /v1/snapshot) or Last-Event-ID",
            ));
        }
    };
    let (default, low, high) = HEARTBEAT_MS;
    let heartbeat = query.heartbeat_ms.unwrap_or(default);
    if !(low..=high).contains(&heartbeat) {
        return Err(ApiError::bad_request(
            "invalid-heartbeat",
            format!("heartbeat_ms {heartbeat} is out of range; give {low} to {high}"),
        ));
    }
    let resume = match query.lineage {
        Some(theirs) if !theirs.is_empty() && theirs != state.core.lineage() => Resume::Resync {
            reason: format!(
                "the replica's snapshot is from another history (lineage {theirs}, not {}); fetch the snapshot",
                state.core.lineage()
            ),
            current: state.core.feed().current().version(),
        },
        _ => state.core.feed().subscribe(since),
    };
    state.metrics.watcher(1);
    let agent = headers.get(header::USER_AGENT).and_then(|v| v.to_str().ok()).unwrap_or("");
    let name = name.map_or_else(|| "unknown".to_owned(), |axum::Extension(n)| n.0);
    let registration = state.replicas.join(&name, scoped.is_some(), agent, since);
    let stream = Watch {
        registration,
        closing: state.closing.subscribe(),
        resume: Some(resume),
        scope: scoped.map(|ReplicaScoped(scope)| scope),
        view: None,
        backlog: Vec::new().into_iter(),
        live: None,
        cursor: since,
        heartbeat: tokio::time::interval(Duration::from_millis(heartbeat)),
        done: false,
        state: state.clone(),
    };
    let body = Body::from_stream(futures_util::stream::unfold(stream, |mut w| async move {
        let event = w.next().await?;
        Some((Ok::<_, std::convert::Infallible>(event), w))
    }));
    Ok((
        [
            (header::CONTENT_TYPE, HeaderValue::from_static("text/event-stream")),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
            // Proxies such as nginx must pass events on as they come.
            (header::HeaderName::from_static("x-accel-buffering"), HeaderValue::from_static("no")),
        ],
        body,
    )
        .into_response())
}

/// One watcher's position in the feed.
struct Watch {
    /// Its entry on the operations page, until it goes.
    registration: crate::replicas::Registration,
    closing: tokio::sync::watch::Receiver<bool>,
    resume: Option<Resume>,
    /// A scoped token's scope, and once the stream starts, its view.
    scope: Option<Arc<ReplicaScope>>,
    view: Option<ScopedView>,
    backlog: std::vec::IntoIter<Arc<Frame>>,
    live: Option<tokio::sync::broadcast::Receiver<Arc<Frame>>>,
    cursor: u64,
    heartbeat: tokio::time::Interval,
    done: bool,
    state: Arc<AppState>,
}

impl Drop for Watch {
    fn drop(&mut self) {
        self.state.metrics.watcher(-1);
    }
}

fn resync(reason: &str, current: u64) -> Bytes {
    Bytes::from(StreamEvent::Resync { reason: reason.to_owned(), version: current }.encode())
}

impl Watch {
    /// The next event, or `None` when the stream ends.
    async fn next(&mut self) -> Option<Bytes> {
        if self.done {
            return None;
        }
        if let Some(resume) = self.resume.take() {
            match resume {
                Resume::Resync { reason, current } => {
                    self.done = true;
                    return Some(resync(&reason, current));
                }
                Resume::From { backlog, live, at } => {
                    if let Some(scope) = self.scope.clone() {
                        match ScopedView::new(scope, &at, &backlog) {
                            Ok(view) => self.view = Some(view),
                            Err(reason) => {
                                self.done = true;
                                return Some(resync(&reason, at.version()));
                            }
                        }
                    }
                    self.backlog = backlog.into_iter();
                    self.live = Some(live);
                    // The first heartbeat goes out at once: the replica
                    // learns the stream is up and where it stands.
                }
            }
        }
        if let Some(frame) = self.backlog.next() {
            return Some(self.frame(&frame));
        }
        enum Next {
            Closing,
            Frame(Result<Arc<Frame>, RecvError>),
            Beat,
        }
        let live = self.live.as_mut()?;
        let next = tokio::select! {
            _ = self.closing.wait_for(|closing| *closing) => Next::Closing,
            received = live.recv() => Next::Frame(received),
            _ = self.heartbeat.tick() => Next::Beat,
        };
        match next {
            Next::Closing => {
                self.done = true;
                None
            }
            Next::Frame(Ok(frame)) => Some(self.frame(&frame)),
            Next::Frame(Err(RecvError::Lagged(_))) => {
                self.done = true;
                Some(resync("this stream fell behind the changes; fetch the snapshot", self.cursor))
            }
            Next::Frame(Err(RecvError::Closed)) => None,
            Next::Beat => {
                self.registration.connection.sent(self.cursor);
                Some(Bytes::from(StreamEvent::Heartbeat { version: self.cursor, time: Timestamp::now() }.encode()))
            }
        }
    }

    fn frame(&mut self, frame: &Frame) -> Bytes {
        if frame.version <= self.cursor {
            // Already covered (cannot happen with a well-behaved feed).
            return Bytes::from_static(b": skipped\n\n");
        }
        if frame.prev != self.cursor {
            self.done = true;
            return resync(&format!("the stream missed version {}; fetch the snapshot", frame.prev), frame.version);
        }
        match &frame.body {
            FrameBody::Changes(json) => {
                let scoped = match &self.view {
                    None => None,
                    Some(view) => match view.frame(frame, json) {
                        Scoped::Changes(part) => Some(part),
                        Scoped::Resync(reason) => {
                            self.done = true;
                            return resync(&reason, frame.version);
                        }
                    },
                };
                let json = scoped.as_deref().unwrap_or(json);
                self.cursor = frame.version;
                self.registration.connection.sent(frame.version);
                self.state.metrics.streamed(json.len());
                Bytes::from(verdict_wire::events::encode_changes(frame.version, json))
            }
            FrameBody::Resync(reason) => {
                self.done = true;
                resync(reason, frame.version)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::accepts_gzip;

    #[test]
    fn gzip_is_negotiated_by_weight_and_case() {
        for yes in ["gzip", "GZip", "br, gzip;q=0.5", "x-gzip", "*", "identity, *;q=0.1", "gzip;q=1.0, *;q=0"] {
            assert!(accepts_gzip(yes), "{yes}");
        }
        for no in ["", "identity", "gzip;q=0", "br", "*;q=0", "gzip; q=0.0, br"] {
            assert!(!accepts_gzip(no), "{no}");
        }
    }
}
