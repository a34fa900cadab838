//! The replica: bootstrap, follow, decide locally, know its age.

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use verdict_engine::{ChangeSet, Decision, Engine, Snapshot, SnapshotDocument};
use verdict_model::Timestamp;

use crate::Event;
use crate::PepError;
use crate::policy::{Staleness, StalenessPolicy};
use crate::source::{ChangeSource, EventStream};

/// How a replica follows the control plane.
#[derive(Debug, Clone)]
pub struct ReplicaOptions {
    /// What to do when the snapshot gets old.
    pub policy: StalenessPolicy,
    /// How often the server is asked to say it is alive. A stream silent for
    /// three of these (and a second) is dropped and reconnected.
    pub heartbeat: Duration,
    /// First wait before reconnecting; doubles up to `backoff_max`.
    pub backoff_min: Duration,
    /// Longest wait between reconnects.
    pub backoff_max: Duration,
    /// How long [`Replica::start`] keeps trying to get the first snapshot.
    pub bootstrap_timeout: Duration,
    /// Where to keep the last snapshot on disk. When the first fetch
    /// fails, the replica starts from this file (with the age it had when
    /// written, plus the time since) rather than waiting for the server.
    pub cache: Option<std::path::PathBuf>,
    /// How often the cache file is rewritten while the version moves on.
    pub cache_interval: Duration,
    /// With a scoped token, deny requests for subscriptions the snapshot
    /// does not hold (they may be another region's or tenant's) instead of
    /// allowing them as unknown.
    pub refuse_outside_scope: bool,
}

impl Default for ReplicaOptions {
    fn default() -> Self {
        ReplicaOptions {
            policy: StalenessPolicy::default(),
            heartbeat: Duration::from_secs(1),
            backoff_min: Duration::from_millis(100),
            backoff_max: Duration::from_secs(10),
            bootstrap_timeout: Duration::from_secs(30),
            cache: None,
            cache_interval: Duration::from_secs(30),
            refuse_outside_scope: false,
        }
    }
}

/// What a replica can say about itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    /// The snapshot version it decides on.
    pub version: u64,
    /// Time since the server last confirmed that version current.
    pub age: Duration,
    /// Whether the change stream is open now.
    pub connected: bool,
    /// Change sets applied.
    pub applied: u64,
    /// Whole snapshots fetched (the first one included).
    pub bootstraps: u64,
    /// Whether the replica started from its cache file, the control plane
    /// being unreachable.
    pub from_cache: bool,
    /// Change streams opened (the first one included).
    pub connects: u64,
    /// How the changes travel on the stream open now (or last open):
    /// `sse`, `nats`; empty before the first.
    pub transport: &'static str,
    /// When the version held was applied (milliseconds since the Unix
    /// epoch, by this machine's clock): with the server's acknowledgement
    /// time, the time a change took to reach this replica.
    pub version_at_ms: u64,
}

/// A replica of the control plane's decision snapshot; see the crate docs.
pub struct Replica {
    engine: Engine,
    policy: StalenessPolicy,
    /// Whether any family fails closed (if not, deciding skips the clock).
    guarded: bool,
    born: Instant,
    /// Milliseconds after `born` of the last confirmation from the server
    /// (negative for a snapshot read from the cache, confirmed before).
    contact_ms: AtomicI64,
    from_cache: bool,
    connected: AtomicBool,
    applied: AtomicU64,
    bootstraps: AtomicU64,
    connects: AtomicU64,
    transport: Mutex<&'static str>,
    version_at_ms: AtomicU64,
    versions: tokio::sync::watch::Sender<u64>,
    /// The history the snapshot's version counts in (from its document).
    lineage: Mutex<String>,
    tasks: Mutex<Vec<tokio::task::JoinHandle<()>>>,
}

impl Drop for Replica {
    fn drop(&mut self) {
        for task in self.tasks.lock().unwrap_or_else(|e| e.into_inner()).drain(..) {
            task.abort();
        }
    }
}

impl Replica {
    /// Fetches the first snapshot (retrying with backoff for up to
    /// `bootstrap_timeout`), then follows `source` in a background task
    /// until the replica is dropped.
    pub async fn start<S: ChangeSource>(source: S, options: ReplicaOptions) -> Result<Arc<Replica>, PepError> {
        let deadline = Instant::now() + options.bootstrap_timeout;
        let mut backoff = Backoff::new(&options);
        let mut cache_tried = false;
        // The snapshot and how long ago the server confirmed it.
        let ((snapshot, lineage), age, from_cache) = loop {
            let left = deadline.saturating_duration_since(Instant::now()).max(Duration::from_millis(1));
            let attempt = match tokio::time::timeout(left, source.snapshot()).await {
                Ok(Ok(document)) => compile(document, options.refuse_outside_scope).await,
                Ok(Err(e)) => Err(e),
                Err(_) => Err(PepError::BootstrapTimeout(options.bootstrap_timeout)),
            };
            let e = match attempt {
                Ok(snapshot) => break (snapshot, Duration::ZERO, false),
                Err(e) => e,
            };
            if let (Some(path), false) = (&options.cache, cache_tried) {
                cache_tried = true;
                let cached = match crate::cache::read(path) {
                    Ok((document, age)) => compile(document, options.refuse_outside_scope)
                        .await
                        .map(|c| (c, age))
                        .map_err(|e| e.to_string()),
                    Err(why) => Err(why),
                };
                match cached {
                    Ok((compiled, age)) => {
                        tracing::warn!(error = %e, version = compiled.0.version(), ?age,
                            "the control plane is unreachable; enforcing the cached snapshot until it is back");
                        break (compiled, age, true);
                    }
                    Err(why) => tracing::warn!(%why, "no usable snapshot cache"),
                }
            }
            if Instant::now() + backoff.next >= deadline {
                tracing::error!(error = %e, "no snapshot from the control plane");
                return Err(PepError::BootstrapTimeout(options.bootstrap_timeout));
            }
            tracing::warn!(error = %e, retry_in = ?backoff.next, "cannot fetch the snapshot yet");
            backoff.wait().await;
        };
        let version = snapshot.version();
        let guarded = options.policy.default != Staleness::Keep
            || options.policy.families.iter().any(|(_, rule)| *rule != Staleness::Keep);
        let replica = Arc::new(Replica {
            engine: Engine::new(snapshot),
            policy: options.policy.clone(),
            guarded,
            born: Instant::now(),
            contact_ms: AtomicI64::new(-(age.as_millis().min(i64::MAX as u128) as i64)),
            from_cache,
            connected: AtomicBool::new(false),
            applied: AtomicU64::new(0),
            bootstraps: AtomicU64::new(u64::from(!from_cache)),
            connects: AtomicU64::new(0),
            transport: Mutex::new(""),
            version_at_ms: AtomicU64::new(unix_ms()),
            versions: tokio::sync::watch::channel(version).0,
            lineage: Mutex::new(lineage),
            tasks: Mutex::new(Vec::new()),
        });
        let mut tasks = vec![];
        if let Some(path) = options.cache.clone() {
            tasks.push(tokio::spawn(keep_cache(Arc::downgrade(&replica), path, options.cache_interval, from_cache)));
        }
        tasks.push(tokio::spawn(follow(Arc::downgrade(&replica), source, options)));
        *replica.tasks.lock().unwrap_or_else(|e| e.into_inner()) = tasks;
        Ok(replica)
    }

    /// The snapshot decisions are made on now.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.engine.snapshot()
    }

    /// The snapshot's version.
    pub fn version(&self) -> u64 {
        *self.versions.borrow()
    }

    /// Wakes on every new version (for tests, benchmarks and health checks).
    pub fn versions(&self) -> tokio::sync::watch::Receiver<u64> {
        self.versions.subscribe()
    }

    /// Time since the server last confirmed the snapshot current.
    pub fn age(&self) -> Duration {
        let now = self.born.elapsed().as_millis() as i64;
        Duration::from_millis(now.saturating_sub(self.contact_ms.load(Ordering::Relaxed)).max(0) as u64)
    }

    /// Everything at once.
    pub fn status(&self) -> Status {
        Status {
            version: self.version(),
            age: self.age(),
            connected: self.connected.load(Ordering::Relaxed),
            applied: self.applied.load(Ordering::Relaxed),
            bootstraps: self.bootstraps.load(Ordering::Relaxed),
            from_cache: self.from_cache,
            connects: self.connects.load(Ordering::Relaxed),
            transport: *self.transport.lock().unwrap_or_else(|e| e.into_inner()),
            version_at_ms: self.version_at_ms.load(Ordering::Relaxed),
        }
    }

    /// Whether a decision on `service` may be made on this snapshot under
    /// the staleness policy; if not, a sentence saying why (deny it).
    pub fn admit(&self, service: &str) -> Result<(), String> {
        if !self.guarded {
            return Ok(());
        }
        let Staleness::FailClosedAfter(limit) = self.policy.rule(service) else { return Ok(()) };
        let age = self.age();
        if age <= limit {
            return Ok(());
        }
        Err(format!(
            "denied: this enforcement point has not heard from the control plane for {:.1} s, past the {:.1} s limit for {} services, so it fails closed (snapshot version {})",
            age.as_secs_f64(),
            limit.as_secs_f64(),
            service.split('.').next().unwrap_or(service),
            self.version()
        ))
    }

    /// Decides locally; `None` if the staleness policy refuses (deny).
    pub fn decide(&self, subscription: &str, service: &str, action: &str, at: Timestamp) -> Option<Decision> {
        self.admit(service).ok()?;
        Some(self.engine.decide(subscription, service, action, at))
    }

    fn touch(&self) {
        self.contact_ms.store(self.born.elapsed().as_millis() as i64, Ordering::Relaxed);
    }

    /// The lineage of the snapshot held.
    pub fn lineage(&self) -> String {
        self.lineage.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn publish(&self, snapshot: Snapshot) {
        let version = snapshot.version();
        self.engine.publish(snapshot);
        self.version_at_ms.store(unix_ms(), Ordering::Relaxed);
        self.touch();
        self.versions.send_replace(version);
    }

    /// Applies a change set on top of the current version.
    fn apply(&self, set: &ChangeSet) -> Result<(), String> {
        let current = self.engine.snapshot();
        if set.prev != current.version() {
            return Err(format!("changes for version {} arrived at version {}", set.prev, current.version()));
        }
        let next = current.apply(&set.changes, set.version).map_err(|e| e.to_string())?;
        self.publish(next);
        self.applied.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

fn unix_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// Compiles a document off the runtime; returns the snapshot and its lineage.
async fn compile(document: SnapshotDocument, refuse_outside_scope: bool) -> Result<(Snapshot, String), PepError> {
    tokio::task::spawn_blocking(move || {
        let mut snapshot = document.compile()?;
        if let Some(scope) = document.scope {
            snapshot.set_scope(Some(verdict_engine::ScopeRule { scope, refuse_outside: refuse_outside_scope }));
        }
        Ok::<_, verdict_engine::EngineError>((snapshot, document.lineage))
    })
    .await
    .map_err(|e| PepError::Protocol { what: "snapshot", detail: e.to_string() })?
    .map_err(PepError::from)
}

/// What ended one connection to the stream.
enum Ended {
    /// Reconnect and resume from the version held; `delivered` says whether
    /// the stream carried any event first (a stream that ends at once is
    /// treated like a failed connect, with growing backoff).
    Resume {
        /// Whether any event arrived.
        delivered: bool,
    },
    /// Fetch the whole snapshot first.
    Resync,
    /// The replica was dropped.
    Gone,
}

/// Exponential backoff between attempts: `next` doubles after each wait, up
/// to the maximum, until reset.
struct Backoff {
    next: Duration,
    min: Duration,
    max: Duration,
}

impl Backoff {
    fn new(options: &ReplicaOptions) -> Backoff {
        Backoff { next: options.backoff_min, min: options.backoff_min, max: options.backoff_max }
    }

    async fn wait(&mut self) {
        tokio::time::sleep(self.next).await;
        self.next = (self.next * 2).min(self.max);
    }

    fn reset(&mut self) {
        self.next = self.min;
    }
}

/// Follows the change stream until the replica is dropped.
async fn follow<S: ChangeSource>(replica: Weak<Replica>, source: S, options: ReplicaOptions) {
    let mut backoff = Backoff::new(&options);
    let mut resync = false;
    let mut last_resync: Option<Instant> = None;
    loop {
        if resync {
            // Replicas told to resync together spread their fetches; one
            // that keeps being told to (servers that disagree behind a load
            // balancer) backs off instead of looping.
            // A failed fetch comes back here as a repeated resync.
            if last_resync.is_some_and(|t| t.elapsed() < Duration::from_secs(5)) {
                backoff.wait().await;
            } else {
                tokio::time::sleep(jitter(options.backoff_max.min(Duration::from_secs(1)))).await;
            }
            last_resync = Some(Instant::now());
            match source.snapshot().await {
                Ok(document) => match compile(document, options.refuse_outside_scope).await {
                    Ok((snapshot, lineage)) => {
                        let Some(r) = replica.upgrade() else { return };
                        tracing::info!(version = snapshot.version(), "fetched the snapshot again");
                        r.bootstraps.fetch_add(1, Ordering::Relaxed);
                        // Snapshot and lineage change together under the
                        // lineage's lock, so the cache never pairs them wrong.
                        let mut held = r.lineage.lock().unwrap_or_else(|e| e.into_inner());
                        r.publish(snapshot);
                        *held = lineage;
                        drop(held);
                        resync = false;
                    }
                    Err(e) => tracing::error!(error = %e, "the fetched snapshot does not compile"),
                },
                Err(e) => tracing::warn!(error = %e, retry_in = ?backoff.next, "cannot fetch the snapshot"),
            }
            if resync {
                continue;
            }
        }
        let Some((version, lineage)) = replica.upgrade().map(|r| (r.version(), r.lineage())) else { return };
        let stream = match source.watch(version, &lineage).await {
            Ok(stream) => stream,
            Err(e) => {
                tracing::warn!(error = %e, retry_in = ?backoff.next, "cannot open the change stream");
                backoff.wait().await;
                continue;
            }
        };
        if let Some(r) = replica.upgrade() {
            r.connected.store(true, Ordering::Relaxed);
            r.connects.fetch_add(1, Ordering::Relaxed);
            *r.transport.lock().unwrap_or_else(|e| e.into_inner()) = stream.transport();
        }
        let ended = read(&replica, stream, options.heartbeat * 3 + Duration::from_secs(1)).await;
        match replica.upgrade() {
            Some(r) => r.connected.store(false, Ordering::Relaxed),
            None => return,
        }
        match ended {
            Ended::Gone => return,
            Ended::Resync => resync = true,
            Ended::Resume { delivered } => {
                // A stream that worked resets the backoff, so a restarted
                // server is found fast; one that ended at once counts as a
                // failed attempt.
                if delivered {
                    backoff.reset();
                }
                backoff.wait().await;
            }
        }
    }
}

/// Reads one connection's events until it ends.
async fn read<T: EventStream>(replica: &Weak<Replica>, mut stream: T, silence: Duration) -> Ended {
    let mut delivered = false;
    loop {
        let next = tokio::time::timeout(silence, stream.next()).await;
        let Some(r) = replica.upgrade() else { return Ended::Gone };
        delivered |= matches!(next, Ok(Ok(Some(_))));
        match next {
            Err(_) => {
                tracing::warn!(?silence, "the change stream went silent; reconnecting");
                return Ended::Resume { delivered };
            }
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "the change stream broke; reconnecting");
                return Ended::Resume { delivered };
            }
            Ok(Ok(None)) => return Ended::Resume { delivered },
            Ok(Ok(Some(Event::Heartbeat { version, .. }))) => {
                if version != r.version() {
                    tracing::warn!(version, held = r.version(), "the stream is at another version; resyncing");
                    return Ended::Resync;
                }
                r.touch();
            }
            Ok(Ok(Some(Event::Changes(set)))) => {
                if let Err(e) = r.apply(&set) {
                    tracing::warn!(error = %e, "cannot apply the change set; resyncing");
                    return Ended::Resync;
                }
            }
            Ok(Ok(Some(Event::Resync { reason, .. }))) => {
                tracing::info!(%reason, "the control plane asks for a resync");
                return Ended::Resync;
            }
        }
    }
}

/// A random pause in `[0, max)`, from the process's hash randomness (no
/// cryptographic quality needed: it only spreads replicas out).
fn jitter(max: Duration) -> Duration {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(Instant::now().elapsed().as_nanos());
    let fraction = (hasher.finish() >> 11) as f64 / (1u64 << 53) as f64;
    max.mul_f64(fraction)
}

/// Keeps the cache at the replica's version: the document rewritten when
/// the version (or lineage) moved on, otherwise only the stamp that says
/// the version is still confirmed; checked every `interval`.
async fn keep_cache(replica: Weak<Replica>, path: std::path::PathBuf, interval: Duration, from_cache: bool) {
    let mut written = if from_cache { replica.upgrade().map(|r| (r.version(), r.lineage())) } else { None };
    loop {
        let Some(r) = replica.upgrade() else { return };
        let (snapshot, lineage) = {
            let held = r.lineage.lock().unwrap_or_else(|e| e.into_inner());
            (r.snapshot(), held.clone())
        };
        let (version, age, connected) = (snapshot.version(), r.age(), r.status().connected);
        drop(r);
        let path = path.clone();
        let key = (version, lineage.clone());
        let result = if written.as_ref() != Some(&key) {
            let written_now = tokio::task::spawn_blocking(move || {
                let mut document = snapshot.export();
                document.lineage = lineage;
                crate::cache::write(&path, document, age)
            })
            .await;
            match written_now {
                Ok(Ok(())) => {
                    written = Some(key);
                    Ok(())
                }
                Ok(Err(why)) => Err(why),
                Err(e) => Err(e.to_string()),
            }
        } else if connected {
            crate::cache::stamp(&path, version, &lineage, age)
        } else {
            Ok(())
        };
        if let Err(why) = result {
            tracing::warn!(%why, "the snapshot cache is not up to date");
        }
        tokio::time::sleep(interval).await;
    }
}
