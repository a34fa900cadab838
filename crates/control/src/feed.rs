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
use verdict_engine::{Change, Snapshot};

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
    /// For [`FrameBody::Changes`], each change's place in the JSON and what
    /// it concerns, so a scoped stream can pass on only its part.
    pub items: Vec<FrameItem>,
}

/// One change of a frame.
#[derive(Debug, Clone)]
pub struct FrameItem {
    /// The change's bytes in the frame's JSON.
    pub span: std::ops::Range<usize>,
    /// What it concerns.
    pub reach: Reach,
}

/// What a change concerns, as a scope sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reach {
    /// A tenant, its units or its orders.
    Tenant(Arc<str>),
    /// A subscription of `tenant`: its region before the change (`None`
    /// for a new one) and after (`None` once removed).
    Subscription {
        /// Its tenant.
        tenant: Arc<str>,
        /// Its region before.
        before: Option<Arc<str>>,
        /// Its region after.
        after: Option<Arc<str>>,
    },
    /// A move or removal of a subscription the previous snapshot does not
    /// hold (cannot happen with a consistent store): scoped streams resync.
    Unknown,
}

/// What a frame carries.
#[derive(Debug)]
pub enum FrameBody {
    /// The changes from `prev` to `version`, encoded once as a JSON
    /// [`ChangeSet`](verdict_engine::ChangeSet) for every transport and subscriber.
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
        /// The snapshot the backlog ends at and live frames start from.
        at: Arc<Snapshot>,
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
        let (body, items) = match changes {
            Ok(changes) if changes.len() <= MAX_STREAMED_CHANGES => {
                match encode(version, prev, &changes, &state.current) {
                    Ok((json, items)) => (FrameBody::Changes(json.into()), items),
                    Err(e) => {
                        tracing::error!(error = %e, "change set does not encode; replicas will resync");
                        (FrameBody::Resync("the change could not be encoded"), Vec::new())
                    }
                }
            }
            Ok(_) => (FrameBody::Resync(TOO_LARGE), Vec::new()),
            Err(why) => (FrameBody::Resync(why), Vec::new()),
        };
        let frame = Arc::new(Frame { version, prev, body, items });
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
        let at = state.current.clone();
        if since == current {
            return Resume::From { backlog: Vec::new(), live, at };
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
        Resume::From { backlog, live, at }
    }
}

/// A subscription's tenant and region.
type Placement = (Arc<str>, Arc<str>);

/// Encodes a change set as the JSON of a [`ChangeSet`](verdict_engine::ChangeSet), each change as
/// replicas receive it, noting where each change is and what it concerns
/// (read off `before`, the snapshot the changes apply to).
fn encode(
    version: u64,
    prev: u64,
    changes: &[Change],
    before: &Snapshot,
) -> Result<(String, Vec<FrameItem>), serde_json::Error> {
    use std::collections::HashMap;
    use std::fmt::Write as _;
    let mut json = String::with_capacity(64 + changes.len() * 96);
    // The same fields, in the same order, as serde writes a ChangeSet.
    let _ = write!(json, "{{\"version\":{version},\"prev\":{prev},\"changes\":[");
    let mut items = Vec::with_capacity(changes.len());
    // Subscriptions placed by earlier changes of this set: (tenant, region),
    // or None once removed.
    let mut placed: HashMap<&str, Option<Placement>> = HashMap::new();
    let place = |placed: &HashMap<&str, Option<Placement>>, id: &str| match placed.get(id) {
        Some(known) => known.clone(),
        None => before.placement(id).map(|(t, r)| (Arc::from(t), Arc::from(r))),
    };
    for (i, change) in changes.iter().enumerate() {
        if i > 0 {
            json.push(',');
        }
        let start = json.len();
        json.push_str(&serde_json::to_string(&change.for_replica())?);
        let reach = match change {
            Change::PutTenant(t) => Reach::Tenant(t.id.as_str().into()),
            Change::PutUnit { tenant, .. } | Change::RemoveUnit { tenant, .. } => Reach::Tenant(tenant.as_str().into()),
            Change::PutOrder(o) => Reach::Tenant(o.spec.tenant.as_str().into()),
            Change::PutSubscription(sub) => {
                let tenant: Arc<str> = sub.tenant.as_str().into();
                let region: Arc<str> = sub.region.as_str().into();
                let before = place(&placed, &sub.id).map(|(_, r)| r);
                placed.insert(&sub.id, Some((tenant.clone(), region.clone())));
                Reach::Subscription { tenant, before, after: Some(region) }
            }
            Change::MoveSubscription { id, .. } => match place(&placed, id) {
                Some((tenant, region)) => {
                    Reach::Subscription { tenant, before: Some(region.clone()), after: Some(region) }
                }
                None => Reach::Unknown,
            },
            Change::RemoveSubscription { id, .. } => match place(&placed, id) {
                Some((tenant, region)) => {
                    placed.insert(id, None);
                    Reach::Subscription { tenant, before: Some(region), after: None }
                }
                None => Reach::Unknown,
            },
        };
        items.push(FrameItem { span: start..json.len(), reach });
    }
    json.push_str("]}");
    Ok((json, items))
}

/// A scoped replica's view of the feed: which changes of each frame reach
/// it, and when it must fetch its snapshot again instead.
///
/// A change to a tenant the replica holds passes; one to any other tenant
/// does not. With regions, the replica holds a tenant only while one of its
/// subscriptions is in them: a subscription entering the regions for a
/// tenant the replica does not hold, or leaving them, asks for a resync (the
/// scoped snapshot then holds exactly what it should). A tenant that loses
/// its last subscription in the regions stays held until then, harmlessly.
pub struct ScopedView {
    scope: Arc<verdict_model::ReplicaScope>,
    /// For a regional scope, the tenants the replica holds.
    held: std::collections::HashSet<String>,
}

/// What a scoped replica gets of a frame.
pub enum Scoped {
    /// This change set (JSON of a [`ChangeSet`](verdict_engine::ChangeSet), possibly with no changes).
    Changes(String),
    /// Fetch the snapshot again, for this reason.
    Resync(String),
}

impl ScopedView {
    /// The view of a replica at `at`'s version, or a reason to resync if the
    /// frames it still has to receive (`backlog`) may bring a tenant into
    /// its scope that its snapshot lacks.
    pub fn new(
        scope: Arc<verdict_model::ReplicaScope>,
        at: &Snapshot,
        backlog: &[Arc<Frame>],
    ) -> Result<ScopedView, String> {
        let held = if scope.is_regional() { at.tenants_in_scope(&scope) } else { Default::default() };
        let view = ScopedView { scope, held };
        if view.scope.is_regional() {
            // The replica's tenants are `held` unless the backlog brings a
            // subscription into the regions (its tenant may be new to the
            // replica) or takes one out for a tenant no longer held (the
            // replica holds it; changes to it would not pass).
            for frame in backlog {
                for item in &frame.items {
                    let Reach::Subscription { tenant, before, after } = &item.reach else { continue };
                    if !view.scope.admits_tenant(tenant) {
                        continue;
                    }
                    let was = before.as_deref().is_some_and(|r| view.scope.admits_region(r));
                    let is = after.as_deref().is_some_and(|r| view.scope.admits_region(r));
                    if was != is && (is || !view.held.contains(&**tenant)) {
                        return Err(format!(
                            "tenant {tenant:?} entered or left this replica's scope at version {}; fetch the snapshot",
                            frame.version
                        ));
                    }
                }
            }
        }
        Ok(view)
    }

    fn holds(&self, tenant: &str) -> bool {
        if self.scope.is_regional() { self.held.contains(tenant) } else { self.scope.admits_tenant(tenant) }
    }

    /// The part of a [`FrameBody::Changes`] frame this replica gets.
    pub fn frame(&self, frame: &Frame, json: &str) -> Scoped {
        use std::fmt::Write as _;
        let mut out = String::with_capacity(64);
        let _ = write!(out, "{{\"version\":{},\"prev\":{},\"changes\":[", frame.version, frame.prev);
        let mut first = true;
        for item in &frame.items {
            let pass = match &item.reach {
                Reach::Tenant(tenant) => self.holds(tenant),
                Reach::Subscription { tenant, before, after } => {
                    if !self.scope.is_regional() {
                        self.holds(tenant)
                    } else if !self.scope.admits_tenant(tenant) {
                        false
                    } else {
                        let was = before.as_deref().is_some_and(|r| self.scope.admits_region(r));
                        let is = after.as_deref().is_some_and(|r| self.scope.admits_region(r));
                        match (was, is) {
                            // The replica holds it: changed in place, moved
                            // or removed.
                            (true, true) => true,
                            (true, false) if after.is_none() => true,
                            (true, false) => {
                                return Scoped::Resync(format!(
                                    "a subscription of tenant {tenant:?} left this replica's regions at version {}; fetch the snapshot",
                                    frame.version
                                ));
                            }
                            (false, true) if self.holds(tenant) => true,
                            (false, true) => {
                                return Scoped::Resync(format!(
                                    "tenant {tenant:?} entered this replica's scope at version {}; fetch the snapshot",
                                    frame.version
                                ));
                            }
                            (false, false) => false,
                        }
                    }
                }
                Reach::Unknown => {
                    return Scoped::Resync(format!(
                        "version {} changes a subscription this server did not hold; fetch the snapshot",
                        frame.version
                    ));
                }
            };
            if pass {
                if !first {
                    out.push(',');
                }
                first = false;
                out.push_str(&json[item.span.clone()]);
            }
        }
        out.push_str("]}");
        Scoped::Changes(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use verdict_engine::ChangeSet;
    use verdict_model::{Catalog, Inventory, ReplicaScope, Subscription, UnitPath};

    fn sub(id: &str, tenant: &str, region: &str) -> Subscription {
        Subscription {
            id: id.into(),
            tenant: tenant.into(),
            unit: UnitPath::parse("apps").unwrap(),
            services: vec!["storage.blob".into()],
            region: region.into(),
        }
    }

    /// Tenants `a` (a subscription in eu) and `b` (one in us), then three
    /// versions: b gets one in eu; a unit for b; a's moves to us.
    fn feed() -> Feed {
        let feed = empty_feed();
        for step in 1..=3 {
            publish(&feed, step);
        }
        feed
    }

    fn publish(feed: &Feed, version: u64) {
        let changes = match version {
            1 => vec![Change::PutSubscription(sub("b2", "b", "eu"))],
            2 => vec![Change::PutUnit { tenant: "b".into(), path: UnitPath::parse("data").unwrap() }],
            _ => vec![Change::PutSubscription(sub("a1", "a", "us"))],
        };
        let next = feed.current().apply(&changes, version).unwrap();
        feed.publish(Arc::new(next), Ok(changes));
    }

    fn empty_feed() -> Feed {
        let inventory: Inventory = serde_json::from_value(serde_json::json!({
            "tenants": [{"id": "a", "kind": "enterprise"}, {"id": "b", "kind": "enterprise"}],
        }))
        .unwrap();
        let mut inventory = inventory;
        inventory.subscriptions = vec![sub("a1", "a", "eu"), sub("b1", "b", "us")];
        let first = Snapshot::compile(Catalog::builtin(), &inventory, &[], 0).unwrap();
        Feed::new(Arc::new(first), FeedLimits::default())
    }

    fn resume(feed: &Feed, since: u64) -> (Vec<Arc<Frame>>, Arc<Snapshot>) {
        match feed.subscribe(since) {
            Resume::From { backlog, at, .. } => (backlog, at),
            Resume::Resync { reason, .. } => panic!("{reason}"),
        }
    }

    fn changes(scoped: Scoped) -> Vec<Change> {
        match scoped {
            Scoped::Changes(json) => serde_json::from_str::<ChangeSet>(&json).unwrap().changes,
            Scoped::Resync(reason) => panic!("resync: {reason}"),
        }
    }

    fn json(frame: &Frame) -> &str {
        match &frame.body {
            FrameBody::Changes(json) => json,
            FrameBody::Resync(why) => panic!("{why}"),
        }
    }

    #[test]
    fn a_frame_is_the_change_set_replicas_decode() {
        let feed = feed();
        let (backlog, _) = resume(&feed, 0);
        let set: ChangeSet = serde_json::from_str(json(&backlog[0])).unwrap();
        let private = Change::PutSubscription(sub("b2", "b", "eu"));
        assert_eq!(set, ChangeSet { version: 1, prev: 0, changes: vec![private.for_replica()] });
        let reach = &backlog[2].items[0].reach;
        let eu = Some(Arc::from("eu"));
        assert_eq!(*reach, Reach::Subscription { tenant: "a".into(), before: eu, after: Some("us".into()) });
    }

    #[test]
    fn a_tenant_scope_passes_its_tenants_changes_only() {
        let feed = feed();
        let (backlog, at) = resume(&feed, 0);
        let view = ScopedView::new(Arc::new(ReplicaScope::new(["a".into()], [])), &at, &backlog).unwrap();
        assert!(changes(view.frame(&backlog[0], json(&backlog[0]))).is_empty(), "b's subscription");
        assert!(changes(view.frame(&backlog[1], json(&backlog[1]))).is_empty(), "b's unit");
        assert_eq!(changes(view.frame(&backlog[2], json(&backlog[2]))).len(), 1, "a's own");
    }

    #[test]
    fn a_region_scope_resyncs_when_a_tenant_enters_or_a_subscription_leaves() {
        let feed = feed();
        let europe = Arc::new(ReplicaScope::new([], ["eu".into()]));
        // From version 0 the backlog brings b into the scope: a replica of
        // version 0 does not hold b, so it must fetch the snapshot.
        let (backlog, at) = resume(&feed, 0);
        let refused = ScopedView::new(europe.clone(), &at, &backlog).err().unwrap();
        assert!(refused.contains("\"b\""), "{refused}");
        // So does one that lost a tenant on the way (a, by version 3).
        let (backlog, at) = resume(&feed, 2);
        assert!(ScopedView::new(europe.clone(), &at, &backlog).is_err());
        // Live from version 1, a replica holds a and b: b's unit passes,
        // and a's subscription leaving eu asks for a resync.
        let feed = empty_feed();
        publish(&feed, 1);
        let (backlog, at) = resume(&feed, 1);
        let view = ScopedView::new(europe, &at, &backlog).unwrap();
        publish(&feed, 2);
        publish(&feed, 3);
        let (live, _) = resume(&feed, 1);
        assert_eq!(changes(view.frame(&live[0], json(&live[0]))).len(), 1, "b's unit");
        let Scoped::Resync(reason) = view.frame(&live[1], json(&live[1])) else { panic!("a1 left eu") };
        assert!(reason.contains("left"), "{reason}");
    }
}
