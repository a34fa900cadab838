//! The change feed to enforcement points: every published snapshot, and
//! the changes that led to it, kept for a while so that replicas can resume.
//!
//! The control plane publishes here exactly what it publishes to its own
//! engine, at the same moment (after the change is durable and signed), so a
//! replica never sees a change the control plane has not acknowledged.
//! Transports read from it: server-sent events in `verdict-server`; a
//! message bus would subscribe the same way.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use tokio::sync::broadcast;
use verdict_engine::{Change, ChangeSet, Snapshot};

/// A change set bigger than this is not streamed: replicas are told to
/// fetch the whole snapshot again (an import of a million subscriptions is
/// cheaper to bootstrap than to replay).
pub const MAX_STREAMED_CHANGES: usize = 10_000;

/// Why a frame of more than [`MAX_STREAMED_CHANGES`] is a resync.
pub const TOO_LARGE: &str = "the change is too large to stream (an import); fetch the snapshot";
/// Why a frame after a recompilation is a resync.
pub const RECOMPILED: &str = "the control plane recompiled its snapshot; fetch it";

/// How much history the feed keeps for resuming replicas.
#[derive(Debug, Clone, Copy)]
pub struct FeedLimits {
    /// At most this many versions.
    pub frames: usize,
    /// At most this many bytes of encoded changes.
    pub bytes: usize,
}

impl Default for FeedLimits {
    fn default() -> Self {
        FeedLimits { frames: 4096, bytes: 64 << 20 }
    }
}

/// One published version as the stream carries it.
#[derive(Debug)]
pub struct Frame {
    /// The version published.
    pub version: u64,
    /// The version before it.
    pub prev: u64,
    /// What it carries.
    pub body: FrameBody,
}

/// What a frame carries.
#[derive(Debug)]
pub enum FrameBody {
    /// The changes from `prev` to `version`, encoded once as a JSON
    /// [`ChangeSet`] for every transport and subscriber.
    Changes(Arc<str>),
    /// The changes are not streamable (too many, or the snapshot was
    /// recompiled): replicas must fetch the snapshot again.
    Resync(&'static str),
}

impl Frame {
    fn cost(&self) -> usize {
        match &self.body {
            FrameBody::Changes(json) => json.len() + 64,
            FrameBody::Resync(_) => 64,
        }
    }
}

/// Where a subscriber starts.
pub enum Resume {
    /// Frames after the subscriber's version, then everything live.
    From {
        /// Frames already published after the requested version, in order.
        backlog: Vec<Arc<Frame>>,
        /// Live frames from here on.
        live: broadcast::Receiver<Arc<Frame>>,
    },
    /// The feed cannot bring the subscriber forward from its version: it
    /// must fetch the snapshot again.
    Resync {
        /// Why, for people.
        reason: String,
        /// The version the feed is at.
        current: u64,
    },
}

struct State {
    limits: FeedLimits,
    current: Arc<Snapshot>,
    frames: VecDeque<Arc<Frame>>,
    bytes: usize,
}

impl State {
    /// Drops the oldest frames beyond the limits.
    fn prune(&mut self) {
        while self.frames.len() > self.limits.frames || self.bytes > self.limits.bytes {
            match self.frames.pop_front() {
                Some(old) => self.bytes -= old.cost(),
                None => break,
            }
        }
    }
}

/// The feed; see the module documentation.
pub struct Feed {
    state: Mutex<State>,
    live: broadcast::Sender<Arc<Frame>>,
}

impl Feed {
    /// A feed starting at `snapshot`, with no history.
    pub fn new(snapshot: Arc<Snapshot>, limits: FeedLimits) -> Feed {
        let (live, _) = broadcast::channel(1024);
        Feed { state: Mutex::new(State { limits, current: snapshot, frames: VecDeque::new(), bytes: 0 }), live }
    }

    /// Changes how much history is kept from now on.
    pub fn set_limits(&self, limits: FeedLimits) {
        let mut state = self.state();
        state.limits = limits;
        state.prune();
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The latest published snapshot.
    pub fn current(&self) -> Arc<Snapshot> {
        self.state().current.clone()
    }

    /// Publishes `snapshot`, reached from the current one by `changes`, or
    /// by changes that cannot be streamed (`Err(why)`).
    pub fn publish(&self, snapshot: Arc<Snapshot>, changes: Result<Vec<Change>, &'static str>) {
        let mut state = self.state();
        let prev = state.current.version();
        let version = snapshot.version();
        if version == prev && changes.as_ref().is_ok_and(Vec::is_empty) {
            state.current = snapshot;
            return;
        }
        let body = match changes {
            Ok(changes) if changes.len() <= MAX_STREAMED_CHANGES => {
                let set = ChangeSet { version, prev, changes: changes.iter().map(Change::for_replica).collect() };
                match serde_json::to_string(&set) {
                    Ok(json) => FrameBody::Changes(json.into()),
                    Err(e) => {
                        tracing::error!(error = %e, "change set does not encode; replicas will resync");
                        FrameBody::Resync("the change could not be encoded")
                    }
                }
            }
            Ok(_) => FrameBody::Resync(TOO_LARGE),
            Err(why) => FrameBody::Resync(why),
        };
        let frame = Arc::new(Frame { version, prev, body });
        state.bytes += frame.cost();
        state.frames.push_back(frame.clone());
        state.prune();
        state.current = snapshot;
        // Sent under the lock, so a subscriber registered under it sees
        // every frame after its backlog exactly once.
        let _ = self.live.send(frame);
    }

    /// Subscribes from `since`, the version a replica holds.
    pub fn subscribe(&self, since: u64) -> Resume {
        let state = self.state();
        let current = state.current.version();
        let live = self.live.subscribe();
        if since == current {
            return Resume::From { backlog: Vec::new(), live };
        }
        if since > current {
            return Resume::Resync {
                reason: format!("version {since} is ahead of this server's {current}; it is from another history"),
                current,
            };
        }
        let Some(start) = state.frames.iter().position(|f| f.prev == since) else {
            let oldest = state.frames.front().map_or(current, |f| f.prev);
            return Resume::Resync {
                reason: format!(
                    "version {since} is older than the history this server keeps (from {oldest}); fetch the snapshot"
                ),
                current,
            };
        };
        let backlog: Vec<Arc<Frame>> = state.frames.iter().skip(start).cloned().collect();
        Resume::From { backlog, live }
    }
}
