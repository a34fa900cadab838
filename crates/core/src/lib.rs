//! verdict's control plane: every governance change goes through [`Core`],
//! which checks it, commits it with its transparency-log entry to the store,
//! makes it durable, signs a checkpoint covering it and then publishes a new
//! engine snapshot derived from it.
//!
//! **Architecture invariant**: one writer at a time (a mutex around the
//! write path), store first, engine second. A change and its log entry are
//! one store transaction: they exist together or not at all. A change is
//! acknowledged (and decided on) only after a sync made it durable and a
//! signed checkpoint covers its entry; many writers share one sync (group
//! commit). A change the store refuses never reaches the engine or the log;
//! a change the store accepted always does — and if the engine could not
//! apply it incrementally, the snapshot is recompiled from the store, because
//! the store is the truth.
//!
//! **API boundary**: the HTTP server and the CLI call [`Core`]; neither
//! writes to the store or the engine directly.

mod clock;
mod datadir;
mod error;
pub mod feed;
mod inventory;
mod log;
mod preview;
mod process;
mod report;
mod users;

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use arc_swap::ArcSwap;
use serde::Serialize;
use serde_json::json;
use tokio::sync::{Mutex, MutexGuard};
use verdict_engine::{Change, Engine, Snapshot};
use verdict_log::{Hash, Receipt, TileId, Tree};
use verdict_model::{
    Catalog, Inventory, Lifecycle, Order, OrderSpec, Subscription, Tenant, Timestamp, Unit, UnitPath, User,
};
use verdict_store::{Batch, LogRecord, Op, Page, Store};

pub use clock::{Clock, ManualClock, ShiftedClock, SystemClock};
pub use datadir::{DataDir, DataDirError, DataDirLock, default_origin};
pub use error::{CoreError, ErrorKind};
pub use log::{Actor, ENTRY_FORMAT, MAX_ENTRY_BYTES, SignedCheckpoint, commitment, hex};
pub use preview::{Affected, Diff, Difference, Preview, PreviewSummary, ServiceDenials, Untouched};
pub use process::DEFAULT_APPROVALS;
pub use report::{Counts, Medians, Report, Tally};
pub use users::Principal;
pub use verdict_log::{SigningKey, VerifierKey};

use crate::inventory::{InventoryIndex, Locator};
use crate::log::Draft;

/// What an import did.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ImportSummary {
    /// Tenants created.
    pub tenants_created: usize,
    /// Tenants whose kind or name changed.
    pub tenants_updated: usize,
    /// Units created, implied ancestors included.
    pub units_created: usize,
    /// Subscriptions created.
    pub subscriptions_created: usize,
    /// Subscriptions whose region or services changed.
    pub subscriptions_updated: usize,
    /// Subscriptions moved to another unit (with retention, like a move).
    pub subscriptions_moved: usize,
    /// Records that changed nothing.
    pub unchanged: usize,
    /// The snapshot version after the import.
    pub version: u64,
}

/// The result of moving a subscription.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Moved {
    /// The subscription as it is now.
    pub subscription: Subscription,
    /// Orders that covered it before the move and keep covering it.
    pub retained_by: Vec<String>,
    /// The snapshot version after the move.
    pub version: u64,
}

/// The control plane over one store, one engine and one transparency log.
pub struct Core {
    store: Arc<dyn Store>,
    engine: Engine,
    clock: Arc<dyn Clock>,
    key: SigningKey,
    writer: Mutex<Writer>,
    /// Every committed leaf; a prefix of them is durable and signed.
    tree: std::sync::RwLock<Tree>,
    /// The latest committed state, waiting for a sync.
    pending: std::sync::Mutex<Pending>,
    /// One sync at a time; writers whose change it covers just wait for it.
    syncer: Mutex<()>,
    /// The latest signed checkpoint; everything it covers is durable.
    published: ArcSwap<SignedCheckpoint>,
    /// Active users by token hash.
    directory: ArcSwap<HashMap<[u8; 32], Principal>>,
    /// Log appends waiting for a group commit.
    appends: std::sync::Mutex<Vec<QueuedAppend>>,
    /// Held by whoever commits the queued appends.
    appender: Mutex<()>,
    /// Engine changes committed but not yet published, by version
    /// (`Err`: the snapshot was recompiled instead, or they are too many).
    unpublished: std::sync::Mutex<Vec<(u64, Streamed)>>,
    /// What enforcement points replicate.
    feed: feed::Feed,
    /// Each tenant's subscriptions as of the last commit, for previews
    /// (derived, like the snapshot; see `inventory.rs`).
    inventory: ArcSwap<InventoryIndex>,
}

/// A version's engine changes as the feed will stream them, or why it
/// cannot (replicas then fetch the snapshot).
type Streamed = Result<Vec<Change>, &'static str>;

type QueuedAppend = (Actor, Draft, tokio::sync::oneshot::Sender<Result<u64, CoreError>>);

/// What only the writer touches.
struct Writer {
    /// The snapshot after the last commit (durable or not yet).
    snapshot: Arc<Snapshot>,
    /// Orders with an end whose expiry is not logged yet: (end, id).
    expiries: BTreeSet<(Timestamp, String)>,
    /// Which tenant holds a subscription id, for the inventory index.
    locator: Locator,
}

#[derive(Clone)]
struct Pending {
    size: u64,
    root: Hash,
    snapshot: Arc<Snapshot>,
}

/// A change ready to commit: its writes, its engine changes and its log entry.
struct Prepared {
    at: Timestamp,
    summary: serde_json::Value,
    ops: Vec<Op>,
    changes: Vec<Change>,
    draft: Draft,
}

/// A random identifier: `prefix` and ten base-32 characters.
fn new_id(prefix: &str) -> Result<String, CoreError> {
    const ALPHABET: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";
    let mut bytes = [0u8; 10];
    getrandom::fill(&mut bytes).map_err(|e| CoreError::Internal(format!("no randomness: {e}")))?;
    let mut id = String::from(prefix);
    id.extend(bytes.iter().map(|b| ALPHABET[(*b & 31) as usize] as char));
    Ok(id)
}

fn new_order_id() -> Result<String, CoreError> {
    new_id("ord-")
}

fn log_error(code: &'static str, not_found: bool, message: String) -> CoreError {
    CoreError::Log { code, not_found, message }
}

impl Core {
    /// Loads the store and the log, compiles the first snapshot and signs a
    /// checkpoint of the log as stored. `key` signs checkpoints; its name is
    /// the log's origin.
    pub async fn open(store: Arc<dyn Store>, key: SigningKey) -> Result<Core, CoreError> {
        Self::open_with_clock(store, key, Arc::new(SystemClock)).await
    }

    /// Like [`Core::open`], with the clock that stamps changes and moves.
    pub async fn open_with_clock(
        store: Arc<dyn Store>,
        key: SigningKey,
        clock: Arc<dyn Clock>,
    ) -> Result<Core, CoreError> {
        let loaded = store.load().await?;
        let version = loaded.version;
        let logged: HashSet<String> = store.logged_expiries().await?.into_iter().collect();
        let expiries = loaded
            .orders
            .iter()
            .filter(|o| !logged.contains(&o.id))
            .filter_map(|o| {
                let end = o.spec.end?;
                // An order lifted before its end never expires.
                (o.lifted_at.is_none_or(|lifted| lifted > end)).then(|| (end, o.id.clone()))
            })
            .collect();
        let snapshot = Arc::new(Self::compile_loaded(&loaded)?);
        let (inventory, locator) = InventoryIndex::build(snapshot.catalog(), &loaded.inventory);
        let users = store.users().await?;
        let tree = Tree::from_leaves(store.log_leaves().await?);
        // Whatever a crash left committed but unsynced is kept: sync it
        // before signing over it.
        store.sync().await?;
        let signed = SignedCheckpoint::sign(&key, tree.size(), tree.root())?;
        store.put_checkpoint(signed.checkpoint.size, &signed.note).await?;
        let pending = Pending { size: tree.size(), root: tree.root(), snapshot: snapshot.clone() };
        let core = Core {
            store,
            engine: Engine::new((*snapshot).clone()),
            clock,
            key,
            writer: Mutex::new(Writer { snapshot: snapshot.clone(), expiries, locator }),
            tree: std::sync::RwLock::new(tree),
            pending: std::sync::Mutex::new(pending),
            syncer: Mutex::new(()),
            published: ArcSwap::from_pointee(signed),
            appends: std::sync::Mutex::new(Vec::new()),
            appender: Mutex::new(()),
            unpublished: std::sync::Mutex::new(Vec::new()),
            feed: feed::Feed::new(snapshot.clone(), feed::FeedLimits::default()),
            directory: ArcSwap::from_pointee(users::directory(&users)),
            inventory: ArcSwap::from_pointee(inventory),
        };
        if core.published.load().checkpoint.size == 0 && version > 0 {
            core.adopt_unlogged_state(version).await?;
        }
        core.issue_pending_notices().await?;
        core.complete_appeals().await?;
        Ok(core)
    }

    /// A store written before the log existed: record that the log starts
    /// here, over state it did not see being made.
    async fn adopt_unlogged_state(&self, version: u64) -> Result<(), CoreError> {
        let w = self.writer.lock().await;
        let draft = Draft::new("log.started", json!({"prior_changes": version}))
            .facts(json!({"note": "the store held changes made before it had a transparency log"}));
        let change = Prepared { at: self.clock.now(), summary: json!({}), ops: vec![], changes: vec![], draft };
        self.commit(w, &Actor::system(), change, &|_| ()).await?;
        Ok(())
    }

    /// The time as the control plane sees it.
    pub fn now(&self) -> Timestamp {
        self.clock.now()
    }

    fn compile_loaded(loaded: &verdict_store::Loaded) -> Result<Snapshot, CoreError> {
        Snapshot::compile(Catalog::builtin(), &loaded.inventory, &loaded.orders, loaded.version)
            .map_err(|e| CoreError::Internal(format!("stored state does not compile: {e}")))
    }

    /// Compiles a snapshot straight from a store, without opening a
    /// control plane (for read-only tools such as `verdict check --data`).
    pub async fn compile(store: &dyn Store) -> Result<Snapshot, CoreError> {
        Self::compile_loaded(&store.load().await?)
    }

    /// The engine that answers decisions.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The snapshot in force now.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.engine.snapshot()
    }

    /// The in-memory inventory index previews read: how many subscriptions
    /// it holds and roughly how many heap bytes (for benchmarks and metrics).
    pub fn inventory_index_footprint(&self) -> (usize, usize) {
        let index = self.inventory.load();
        (index.len(), index.heap_bytes())
    }

    /// The store, for reads.
    pub fn store(&self) -> &dyn Store {
        self.store.as_ref()
    }

    /// Commits one change with its log entry, releases the writer, and
    /// returns once a sync made it durable and a signed checkpoint covers it.
    async fn commit(
        &self,
        mut w: MutexGuard<'_, Writer>,
        actor: &Actor,
        change: Prepared,
        progress: &(dyn Fn(usize) + Send + Sync),
    ) -> Result<u64, CoreError> {
        let index = self.next_log_index();
        let kind = change.draft.kind;
        let record = change.draft.seal(index, change.at, actor)?;
        let leaf = record.leaf_hash;
        // The signed checkpoint rides along with the next change rather than
        // costing a write of its own on every sync.
        let published = self.published.load();
        let batch = Batch {
            at: change.at,
            kind,
            summary: change.summary,
            ops: change.ops,
            entry: Some(record),
            checkpoint: Some((published.checkpoint.size, published.note.clone())),
        };
        let version = self.store.commit(&batch, progress).await?;
        let size = self.committed(&mut w, [leaf], &change.changes, version).await?;
        drop(w);
        self.make_durable(size).await?;
        Ok(version)
    }

    /// After a commit: the new leaves join the tree, the writer's snapshot
    /// and the inventory index take the changes (rebuilt from the store if
    /// they cannot), and that point waits for a sync. Returns the log's size.
    async fn committed(
        &self,
        w: &mut Writer,
        leaves: impl IntoIterator<Item = Hash>,
        changes: &[Change],
        version: u64,
    ) -> Result<u64, CoreError> {
        let (size, root) = {
            let mut tree = self.tree.write().unwrap_or_else(|e| e.into_inner());
            for leaf in leaves {
                tree.push(leaf);
            }
            (tree.size(), tree.root())
        };
        let streamed = match w.snapshot.apply(changes, version) {
            Ok(next) => {
                w.snapshot = Arc::new(next);
                if changes.len() > feed::MAX_STREAMED_CHANGES { Err(feed::TOO_LARGE) } else { Ok(changes.to_vec()) }
            }
            Err(e) => {
                tracing::error!(error = %e, "snapshot update failed after commit; recompiling from the store");
                w.snapshot = Arc::new(Self::compile(self.store.as_ref()).await?);
                Err(feed::RECOMPILED)
            }
        };
        self.unpublished.lock().unwrap_or_else(|e| e.into_inner()).push((version, streamed));
        if !changes.is_empty() {
            // Published now, not at the sync: previews (and the approvals
            // bound to them) see what is committed, as the store shows it.
            let catalog = w.snapshot.catalog();
            match self.inventory.load().apply(catalog, changes, &mut w.locator) {
                Ok(next) => self.inventory.store(Arc::new(next)),
                Err(e) => {
                    tracing::error!(error = %e, "inventory index update failed after commit; rebuilding from the store");
                    let loaded = self.store.load().await?;
                    let (index, locator) = InventoryIndex::build(catalog, &loaded.inventory);
                    w.locator = locator;
                    self.inventory.store(Arc::new(index));
                }
            }
        }
        *self.pending.lock().unwrap_or_else(|e| e.into_inner()) = Pending { size, root, snapshot: w.snapshot.clone() };
        Ok(size)
    }

    /// The index the next log entry will take. Stable while the writer lock
    /// is held.
    fn next_log_index(&self) -> u64 {
        self.tree.read().unwrap_or_else(|e| e.into_inner()).size()
    }

    /// Waits until the log of `size` entries is durable and signed. The
    /// first waiter syncs for everyone committed so far; the others find
    /// their entry covered when it is done (group commit).
    async fn make_durable(&self, size: u64) -> Result<(), CoreError> {
        loop {
            if self.published.load().checkpoint.size >= size {
                return Ok(());
            }
            let _sync = self.syncer.lock().await;
            if self.published.load().checkpoint.size >= size {
                return Ok(());
            }
            let target = self.pending.lock().unwrap_or_else(|e| e.into_inner()).clone();
            self.store.sync().await?;
            let signed = SignedCheckpoint::sign(&self.key, target.size, target.root)?;
            self.engine.publish((*target.snapshot).clone());
            self.feed.publish(target.snapshot.clone(), self.take_unpublished(target.snapshot.version()));
            self.published.store(Arc::new(signed));
        }
    }

    /// The engine changes committed up to `version`, in order, as one set.
    fn take_unpublished(&self, version: u64) -> Streamed {
        let mut unpublished = self.unpublished.lock().unwrap_or_else(|e| e.into_inner());
        let upto = unpublished.partition_point(|(v, _)| *v <= version);
        let mut all = Ok(Vec::new());
        for (_, changes) in unpublished.drain(..upto) {
            all = match (all, changes) {
                (Ok(mut all), Ok(changes)) => {
                    all.extend(changes);
                    Ok(all)
                }
                (Err(why), _) | (_, Err(why)) => Err(why),
            };
        }
        all
    }

    /// What enforcement points replicate: the published snapshot and the
    /// changes since recent versions.
    pub fn feed(&self) -> &feed::Feed {
        &self.feed
    }

    /// The history versions count in, and the catalog they are decided
    /// against: a hash of the log's origin, its first entry (which no other
    /// store shares and this one never loses) and the service catalog.
    /// Replicas resume a stream only within their lineage, so another
    /// store's replica, or one compiled with another catalog (after an
    /// upgrade), fetches the snapshot again.
    pub fn lineage(&self) -> String {
        use sha2::{Digest, Sha256};
        let first = self.tree.read().unwrap_or_else(|e| e.into_inner()).leaf(0);
        let mut hasher = Sha256::new();
        hasher.update(self.published.load().checkpoint.origin.as_bytes());
        hasher.update([0]);
        hasher.update(first.unwrap_or([0; 32]));
        hasher.update(serde_json::to_vec(self.snapshot().catalog()).unwrap_or_default());
        hex(&hasher.finalize()[..16])
    }

    // ---- the log, as readers see it -------------------------------------

    /// The latest signed checkpoint.
    pub fn checkpoint(&self) -> Arc<SignedCheckpoint> {
        self.published.load_full()
    }

    /// The key that verifies the log's checkpoints.
    pub fn log_key(&self) -> VerifierKey {
        self.key.verifier()
    }

    /// A tlog-tiles resource of the published tree: a hash tile, or an
    /// entry bundle.
    pub async fn log_tile(&self, tile: &TileId) -> Result<Vec<u8>, CoreError> {
        let size = self.published.load().checkpoint.size;
        let (start, end) = tile.entry_range();
        if !tile.entries {
            let tree = self.tree.read().unwrap_or_else(|e| e.into_inner());
            return tree.tile(tile, size).map_err(|e| log_error("tile-not-found", true, e.to_string()));
        }
        if end > size {
            return Err(log_error(
                "tile-not-found",
                true,
                format!("{} covers entries {start}..{end}, beyond the log's {size} entries", tile.path()),
            ));
        }
        let entries = self.store.log_entries(start, end).await?;
        verdict_log::encode_bundle(entries.iter().map(Vec::as_slice))
            .map_err(|e| CoreError::Internal(format!("cannot bundle entries {start}..{end}: {e}")))
    }

    fn check_size(&self, what: &str, size: u64) -> Result<(), CoreError> {
        let published = self.published.load().checkpoint.size;
        if size > published {
            return Err(log_error(
                "size-out-of-range",
                true,
                format!("{what} {size} is beyond the latest checkpoint, which covers {published} entries"),
            ));
        }
        Ok(())
    }

    /// The inclusion proof of entry `index` in the tree of `size` entries.
    pub fn inclusion_proof(&self, index: u64, size: u64) -> Result<Vec<Hash>, CoreError> {
        self.check_size("size", size)?;
        if index >= size {
            return Err(log_error(
                "index-out-of-range",
                false,
                format!("index {index} is not in a tree of {size} entries (indexes start at 0)"),
            ));
        }
        let tree = self.tree.read().unwrap_or_else(|e| e.into_inner());
        tree.inclusion_proof(index, size).map_err(|e| log_error("index-out-of-range", false, e.to_string()))
    }

    /// The consistency proof from the tree of `old` entries to that of `new`.
    pub fn consistency_proof(&self, old: u64, new: u64) -> Result<Vec<Hash>, CoreError> {
        self.check_size("new", new)?;
        if old == 0 || old > new {
            return Err(log_error(
                "size-out-of-range",
                false,
                format!("old must be between 1 and new ({new}), not {old}"),
            ));
        }
        let tree = self.tree.read().unwrap_or_else(|e| e.into_inner());
        tree.consistency_proof(old, new).map_err(|e| log_error("size-out-of-range", false, e.to_string()))
    }

    /// A tlog-proof receipt for entry `index` against the latest checkpoint.
    /// Its `extra` line carries the entry itself, so the receipt verifies
    /// offline on its own.
    pub async fn receipt(&self, index: u64) -> Result<Receipt, CoreError> {
        let signed = self.checkpoint();
        let size = signed.checkpoint.size;
        if index >= size {
            return Err(log_error(
                "index-out-of-range",
                true,
                format!("the log has {size} entries (indexes 0..{size}); there is no entry {index} yet"),
            ));
        }
        let entry = self.store.log_entries(index, index + 1).await?.pop();
        let proof = self.inclusion_proof(index, size)?;
        Ok(Receipt { extra: entry, index, proof, checkpoint: signed.note.clone() })
    }

    /// The whole stored record of entry `index`: public entry, private
    /// record and salt.
    pub async fn log_record(&self, index: u64) -> Result<LogRecord, CoreError> {
        let size = self.published.load().checkpoint.size;
        if index >= size {
            return Err(log_error(
                "index-out-of-range",
                true,
                format!("the log has {size} entries (indexes 0..{size}); there is no entry {index}"),
            ));
        }
        self.store
            .log_records(index, 1)
            .await?
            .pop()
            .filter(|r| r.index == index)
            .ok_or_else(|| CoreError::Internal(format!("log entry {index} is covered by a checkpoint but not stored")))
    }

    // ---- users -------------------------------------------------------------

    /// Who holds `token`, if it is an active user's.
    pub fn authenticate(&self, token: &str) -> Option<Principal> {
        self.directory.load().get(&users::token_hash(token)).cloned()
    }

    /// Every user, revoked ones included, by name.
    pub async fn users(&self) -> Result<Vec<User>, CoreError> {
        Ok(self.store.users().await?.into_iter().map(|(u, _)| u).collect())
    }

    async fn refresh_directory(&self) -> Result<(), CoreError> {
        self.directory.store(Arc::new(users::directory(&self.store.users().await?)));
        Ok(())
    }

    /// Adds a user and returns it with its new token, shown this once.
    pub async fn add_user(&self, actor: &Actor, user: User) -> Result<(User, String), CoreError> {
        let token = users::new_token(&user.roles).map_err(|e| CoreError::Internal(format!("no randomness: {e}")))?;
        let user = self.add_user_with_token(actor, user, &token).await?;
        Ok((user, token))
    }

    /// Adds a user whose token the caller chose (the data directory's
    /// `admin.token` and `pep.token`, say).
    pub async fn add_user_with_token(&self, actor: &Actor, mut user: User, token: &str) -> Result<User, CoreError> {
        user.created_at = self.clock.now();
        user.revoked_at = None;
        user.validate()?;
        if ["admin", "pep", "verdict"].contains(&user.name.as_str()) {
            return Err(CoreError::IllegalTransition {
                code: "reserved-user-name",
                message: format!(
                    "{:?} is reserved for the data directory's own tokens and verdict itself; pick another name",
                    user.name
                ),
            });
        }
        let w = self.writer.lock().await;
        if self.store.users().await?.iter().any(|(u, _)| u.name == user.name) {
            return Err(CoreError::Exists { kind: "user", id: user.name });
        }
        let hash = users::token_hash(token);
        if self.directory.load().contains_key(&hash) {
            return Err(CoreError::Internal("a token collided with an existing one".into()));
        }
        if let Some(tenant) = &user.tenant
            && !self.tenant_exists(tenant).await?
        {
            return Err(CoreError::UnknownReference { kind: "tenant", id: tenant.clone() });
        }
        let roles = verdict_model::roles_text(&user.roles);
        let mut draft =
            Draft::new("user.added", json!({"roles": roles})).facts(json!({"name": user.name, "roles": roles}));
        if let Some(tenant) = &user.tenant {
            draft = draft.tenant(tenant);
        }
        let change = Prepared {
            at: user.created_at,
            summary: json!({"user": user.name, "roles": roles}),
            ops: vec![Op::PutUser { user: user.clone(), token_hash: hash }],
            changes: vec![],
            draft,
        };
        self.commit(w, actor, change, &|_| ()).await?;
        self.refresh_directory().await?;
        Ok(user)
    }

    /// Revokes a user's token; what it did stays attributed to it.
    pub async fn revoke_user(&self, actor: &Actor, name: &str) -> Result<User, CoreError> {
        let w = self.writer.lock().await;
        let Some((mut user, _)) = self.store.users().await?.into_iter().find(|(u, _)| u.name == name) else {
            return Err(CoreError::NotFound { kind: "user", id: name.to_owned() });
        };
        if let Some(at) = user.revoked_at {
            return Err(CoreError::IllegalTransition {
                code: "user-already-revoked",
                message: format!("user {name:?} was already revoked at {at}"),
            });
        }
        let now = self.clock.now();
        user.revoked_at = Some(now);
        let mut draft = Draft::new("user.revoked", json!({"roles": verdict_model::roles_text(&user.roles)}))
            .facts(json!({"name": name}));
        if let Some(tenant) = &user.tenant {
            draft = draft.tenant(tenant);
        }
        let change = Prepared {
            at: now,
            summary: json!({"user": name}),
            ops: vec![Op::RevokeUser { name: name.to_owned(), at: now }],
            changes: vec![],
            draft,
        };
        self.commit(w, actor, change, &|_| ()).await?;
        self.refresh_directory().await?;
        Ok(user)
    }

    // ---- changes ---------------------------------------------------------

    async fn customer_kind(&self, tenant: &str) -> Result<String, CoreError> {
        Ok(self.store.tenant(tenant).await?.map(|t| t.kind.as_str().to_owned()).unwrap_or_default())
    }

    /// Appends a record of an event that changes no inventory or order (a
    /// case or evidence event, say) to the log, durably; returns its index.
    /// `public` must hold no customer identity; `facts` go to the private
    /// record only. Concurrent calls are committed together: one
    /// transaction, one sync and one signature for a whole group.
    pub async fn record(
        &self,
        actor: &Actor,
        kind: &'static str,
        tenant: Option<&str>,
        public: serde_json::Value,
        facts: serde_json::Value,
    ) -> Result<u64, CoreError> {
        let mut draft = Draft::new(kind, public).facts(facts);
        if let Some(tenant) = tenant {
            draft = draft.tenant(tenant);
        }
        let (reply, mut answer) = tokio::sync::oneshot::channel();
        self.appends.lock().unwrap_or_else(|e| e.into_inner()).push((actor.clone(), draft, reply));
        loop {
            if let Ok(result) = answer.try_recv() {
                return result;
            }
            let _appender = self.appender.lock().await;
            if let Ok(result) = answer.try_recv() {
                return result;
            }
            self.append_queued().await;
        }
    }

    /// Commits every queued append as one group and answers each. Called
    /// with the appender lock held.
    async fn append_queued(&self) {
        let queued = std::mem::take(&mut *self.appends.lock().unwrap_or_else(|e| e.into_inner()));
        if queued.is_empty() {
            return;
        }
        let (outcome, replies) = {
            let mut w = self.writer.lock().await;
            let at = self.clock.now();
            let start = self.next_log_index();
            let published = self.published.load();
            let mut batches = Vec::with_capacity(queued.len());
            let mut replies = Vec::with_capacity(queued.len());
            for (actor, draft, reply) in queued {
                let kind = draft.kind;
                // The next free index: an entry that fails to seal (too
                // large, say) is refused alone and leaves no gap.
                match draft.seal(start + batches.len() as u64, at, &actor) {
                    Ok(record) => {
                        replies.push((record.index, reply));
                        batches.push(Batch {
                            at,
                            kind,
                            summary: json!({"log_index": record.index}),
                            ops: vec![],
                            entry: Some(record),
                            checkpoint: None,
                        });
                    }
                    Err(e) => {
                        let _ = reply.send(Err(e));
                    }
                }
            }
            if batches.is_empty() {
                return;
            }
            if let Some(last) = batches.last_mut() {
                last.checkpoint = Some((published.checkpoint.size, published.note.clone()));
            }
            match self.store.append(&batches).await {
                Err(e) => (Err(CoreError::from(e)), replies),
                Ok(versions) => {
                    let version = versions.last().copied().unwrap_or(w.snapshot.version());
                    let leaves = batches.iter().filter_map(|b| b.entry.as_ref().map(|e| e.leaf_hash));
                    (self.committed(&mut w, leaves, &[], version).await, replies)
                }
            }
        };
        let durable = match outcome {
            Ok(size) => self.make_durable(size).await,
            Err(e) => Err(e),
        };
        for (index, reply) in replies {
            let _ = reply.send(match &durable {
                Ok(()) => Ok(index),
                Err(e) => Err(CoreError::Internal(format!("the group commit failed: {e}"))),
            });
        }
    }

    /// Logs the end of every order whose end has passed; returns how many.
    pub async fn log_expiries(&self) -> Result<usize, CoreError> {
        let mut logged = 0;
        loop {
            let mut w = self.writer.lock().await;
            let now = self.clock.now();
            let Some((end, id)) = w.expiries.first().cloned().filter(|(end, _)| *end <= now) else {
                return Ok(logged);
            };
            w.expiries.pop_first();
            let Some(order) = self.store.order(&id).await? else { continue };
            let kind = self.customer_kind(&order.spec.tenant).await?;
            let draft = Draft::new(
                "order.expired",
                json!({"order": id, "clause": order.spec.clause, "customer_kind": kind, "end": end}),
            )
            .tenant(&order.spec.tenant)
            .subject(&id);
            let change = Prepared { at: now, summary: json!({"order": id}), ops: vec![], changes: vec![], draft };
            self.commit(w, &Actor::system(), change, &|_| ()).await?;
            logged += 1;
        }
    }

    /// Logs each order's end as it comes, for as long as the task runs.
    pub async fn log_expiries_forever(self: Arc<Core>) {
        loop {
            if let Err(e) = self.log_expiries().await {
                tracing::error!(error = %e, "cannot log the end of an order; retrying");
            }
            let now = self.clock.now().seconds();
            // Wake at the next end, and at least every few seconds, since
            // an order created meanwhile may end sooner.
            let wait = match self.next_expiry().await {
                Some(end) => (end.seconds() - now).clamp(0, 5),
                None => 5,
            };
            tokio::time::sleep(std::time::Duration::from_millis(wait as u64 * 1000 + 50)).await;
        }
    }

    /// When the next order ends, if any order's end is still to be logged.
    pub async fn next_expiry(&self) -> Option<Timestamp> {
        self.writer.lock().await.expiries.first().map(|(end, _)| *end)
    }

    async fn tenant_exists(&self, id: &str) -> Result<bool, CoreError> {
        Ok(self.store.tenant(id).await?.is_some())
    }

    async fn unit_exists(&self, tenant: &str, path: &UnitPath) -> Result<bool, CoreError> {
        Ok(self.store.units(tenant).await?.iter().any(|p| p == path))
    }

    /// Creates a tenant; refuses one that exists.
    pub async fn create_tenant(&self, actor: &Actor, tenant: Tenant) -> Result<(Tenant, u64), CoreError> {
        tenant.validate()?;
        let w = self.writer.lock().await;
        if self.tenant_exists(&tenant.id).await? {
            return Err(CoreError::Exists { kind: "tenant", id: tenant.id });
        }
        let draft = Draft::new("tenant.created", json!({"customer_kind": tenant.kind.as_str()}))
            .tenant(&tenant.id)
            .facts(json!({"name": tenant.name, "kind": tenant.kind.as_str()}));
        let change = Prepared {
            at: self.clock.now(),
            summary: json!({"tenant": tenant.id}),
            ops: vec![Op::PutTenant(tenant.clone())],
            changes: vec![Change::PutTenant(tenant.clone())],
            draft,
        };
        let version = self.commit(w, actor, change, &|_| ()).await?;
        Ok((tenant, version))
    }

    /// Creates a unit and any missing ancestors; refuses one that exists.
    pub async fn create_unit(&self, actor: &Actor, unit: Unit) -> Result<(Unit, u64), CoreError> {
        verdict_model::validate_id("tenant id", &unit.tenant)?;
        let w = self.writer.lock().await;
        if !self.tenant_exists(&unit.tenant).await? {
            return Err(CoreError::UnknownReference { kind: "tenant", id: unit.tenant });
        }
        let existing: HashSet<UnitPath> = self.store.units(&unit.tenant).await?.into_iter().collect();
        if existing.contains(&unit.path) {
            return Err(CoreError::Exists { kind: "unit", id: format!("{}:{}", unit.tenant, unit.path) });
        }
        let created: Vec<UnitPath> = unit.path.lineage().into_iter().filter(|p| !existing.contains(p)).collect();
        let ops =
            created.iter().map(|path| Op::PutUnit(Unit { tenant: unit.tenant.clone(), path: path.clone() })).collect();
        let kind = self.customer_kind(&unit.tenant).await?;
        let draft = Draft::new("unit.created", json!({"customer_kind": kind, "units_created": created.len()}))
            .tenant(&unit.tenant)
            .units(&created);
        let change = Prepared {
            at: self.clock.now(),
            summary: json!({"tenant": unit.tenant, "unit": unit.path}),
            ops,
            changes: vec![Change::PutUnit { tenant: unit.tenant.clone(), path: unit.path.clone() }],
            draft,
        };
        let version = self.commit(w, actor, change, &|_| ()).await?;
        Ok((unit, version))
    }

    /// Deletes a unit that holds nothing: no subscriptions, no child units,
    /// and no order names it.
    pub async fn delete_unit(&self, actor: &Actor, tenant: &str, path: &UnitPath) -> Result<u64, CoreError> {
        let w = self.writer.lock().await;
        let units = self.store.units(tenant).await?;
        if !units.contains(path) {
            return Err(CoreError::NotFound { kind: "unit", id: format!("{tenant}:{path}") });
        }
        if let Some(child) = units.iter().find(|u| *u != path && u.is_within(path)) {
            return Err(CoreError::UnitNotEmpty {
                unit: path.to_string(),
                why: format!("it has the child unit {child:?}"),
            });
        }
        let subs = self.store.subscriptions_within(tenant, path).await?;
        if subs > 0 {
            return Err(CoreError::UnitNotEmpty {
                unit: path.to_string(),
                why: format!("it holds {subs} subscription(s); move or delete them first"),
            });
        }
        for order in self.all_orders(Some(tenant)).await? {
            if order.spec.scope.units.contains(path) {
                return Err(CoreError::UnitNotEmpty {
                    unit: path.to_string(),
                    why: format!("order {} names it in its scope", order.id),
                });
            }
        }
        let unit = Unit { tenant: tenant.to_owned(), path: path.clone() };
        let kind = self.customer_kind(tenant).await?;
        let draft = Draft::new("unit.deleted", json!({"customer_kind": kind})).tenant(tenant).units([path]);
        let change = Prepared {
            at: self.clock.now(),
            summary: json!({"tenant": tenant, "unit": path}),
            ops: vec![Op::DeleteUnit(unit)],
            changes: vec![Change::RemoveUnit { tenant: tenant.to_owned(), path: path.clone() }],
            draft,
        };
        self.commit(w, actor, change, &|_| ()).await
    }

    /// Creates a subscription in an existing unit; refuses one that exists.
    pub async fn create_subscription(
        &self,
        actor: &Actor,
        sub: Subscription,
    ) -> Result<(Subscription, u64), CoreError> {
        sub.validate(self.snapshot().catalog())?;
        let w = self.writer.lock().await;
        if !self.tenant_exists(&sub.tenant).await? {
            return Err(CoreError::UnknownReference { kind: "tenant", id: sub.tenant });
        }
        if !self.unit_exists(&sub.tenant, &sub.unit).await? {
            return Err(CoreError::UnknownReference { kind: "unit", id: format!("{}:{}", sub.tenant, sub.unit) });
        }
        if self.store.subscription(&sub.id).await?.is_some() {
            return Err(CoreError::Exists { kind: "subscription", id: sub.id });
        }
        let kind = self.customer_kind(&sub.tenant).await?;
        let draft = Draft::new(
            "subscription.created",
            json!({"customer_kind": kind, "region": sub.region, "services": sub.services}),
        )
        .tenant(&sub.tenant)
        .units([&sub.unit])
        .subscriptions([&sub.id]);
        let change = Prepared {
            at: self.clock.now(),
            summary: json!({"subscription": sub.id}),
            ops: vec![Op::PutSubscription(sub.clone())],
            changes: vec![Change::PutSubscription(sub.clone())],
            draft,
        };
        let version = self.commit(w, actor, change, &|_| ()).await?;
        Ok((sub, version))
    }

    /// Moves a subscription to another existing unit of its tenant. Orders
    /// binding it now that would not cover it at its new place retain it.
    pub async fn move_subscription(&self, actor: &Actor, id: &str, unit: UnitPath) -> Result<Moved, CoreError> {
        let w = self.writer.lock().await;
        let mut sub = self
            .store
            .subscription(id)
            .await?
            .ok_or_else(|| CoreError::NotFound { kind: "subscription", id: id.to_owned() })?;
        if !self.unit_exists(&sub.tenant, &unit).await? {
            return Err(CoreError::UnknownReference { kind: "unit", id: format!("{}:{}", sub.tenant, unit) });
        }
        let now = self.clock.now();
        let retained_by = w.snapshot.orders_covering(id, now);
        let kind = self.customer_kind(&sub.tenant).await?;
        let draft = Draft::new("subscription.moved", json!({"customer_kind": kind, "retained": retained_by.len()}))
            .tenant(&sub.tenant)
            .units([&sub.unit, &unit])
            .subscriptions([id])
            .facts(json!({"from": sub.unit, "to": unit, "retained_by": retained_by}));
        let change = Prepared {
            at: now,
            summary: json!({"subscription": id, "from": sub.unit, "to": unit, "retained_by": retained_by}),
            ops: vec![Op::MoveSubscription { id: id.to_owned(), unit: unit.clone(), retained_by: retained_by.clone() }],
            changes: vec![Change::MoveSubscription {
                id: id.to_owned(),
                unit: unit.clone(),
                retained_by: retained_by.clone(),
            }],
            draft,
        };
        let version = self.commit(w, actor, change, &|_| ()).await?;
        sub.unit = unit;
        Ok(Moved { subscription: sub, retained_by, version })
    }

    /// Deletes a subscription. Orders binding it keep covering its id, so
    /// recreating it elsewhere is no way around them.
    pub async fn delete_subscription(&self, actor: &Actor, id: &str) -> Result<(Vec<String>, u64), CoreError> {
        let w = self.writer.lock().await;
        let Some(sub) = self.store.subscription(id).await? else {
            return Err(CoreError::NotFound { kind: "subscription", id: id.to_owned() });
        };
        let now = self.clock.now();
        let retained_by = w.snapshot.orders_covering(id, now);
        let kind = self.customer_kind(&sub.tenant).await?;
        let draft = Draft::new("subscription.deleted", json!({"customer_kind": kind, "retained": retained_by.len()}))
            .tenant(&sub.tenant)
            .units([&sub.unit])
            .subscriptions([id])
            .facts(json!({"retained_by": retained_by}));
        let change = Prepared {
            at: now,
            summary: json!({"subscription": id, "retained_by": retained_by}),
            ops: vec![Op::DeleteSubscription { id: id.to_owned(), retained_by: retained_by.clone() }],
            changes: vec![Change::RemoveSubscription { id: id.to_owned(), retained_by: retained_by.clone() }],
            draft,
        };
        let version = self.commit(w, actor, change, &|_| ()).await?;
        Ok((retained_by, version))
    }

    /// Imports an inventory all or nothing: tenants and subscriptions are
    /// created or updated, units (and the ancestors of every unit named)
    /// created. A subscription that changes unit is moved, with retention.
    /// `progress` is told how many records have been written.
    pub async fn import(
        &self,
        actor: &Actor,
        inventory: Inventory,
        progress: &(dyn Fn(usize) + Send + Sync),
    ) -> Result<ImportSummary, CoreError> {
        let catalog = Catalog::builtin();
        let mut seen_tenants = HashSet::new();
        for (i, t) in inventory.tenants.iter().enumerate() {
            t.validate().map_err(|e| CoreError::invalid_record("tenant", i, e))?;
            if !seen_tenants.insert(t.id.as_str()) {
                return Err(CoreError::ImportDuplicate { kind: "tenant", id: t.id.clone() });
            }
        }
        let mut seen_subs = HashSet::new();
        for (i, s) in inventory.subscriptions.iter().enumerate() {
            s.validate(&catalog).map_err(|e| CoreError::invalid_record("subscription", i, e))?;
            if !seen_subs.insert(s.id.as_str()) {
                return Err(CoreError::ImportDuplicate { kind: "subscription", id: s.id.clone() });
            }
        }
        let w = self.writer.lock().await;
        let loaded = self.store.load().await?;
        let stored_tenants: HashMap<&str, &Tenant> =
            loaded.inventory.tenants.iter().map(|t| (t.id.as_str(), t)).collect();
        let known = |id: &str| seen_tenants.contains(id) || stored_tenants.contains_key(id);
        for (i, u) in inventory.units.iter().enumerate() {
            if !known(&u.tenant) {
                return Err(CoreError::ImportUnknownTenant { kind: "unit", index: i, tenant: u.tenant.clone() });
            }
        }
        for (i, s) in inventory.subscriptions.iter().enumerate() {
            if !known(&s.tenant) {
                return Err(CoreError::ImportUnknownTenant {
                    kind: "subscription",
                    index: i,
                    tenant: s.tenant.clone(),
                });
            }
        }
        let stored_units: HashSet<(&str, &str)> =
            loaded.inventory.units.iter().map(|u| (u.tenant.as_str(), u.path.as_str())).collect();
        let stored_subs: HashMap<&str, &Subscription> =
            loaded.inventory.subscriptions.iter().map(|s| (s.id.as_str(), s)).collect();

        let mut summary = ImportSummary::default();
        let mut ops = Vec::new();
        let mut changes = Vec::new();
        for t in &inventory.tenants {
            match stored_tenants.get(t.id.as_str()) {
                None => summary.tenants_created += 1,
                Some(old) if *old == t => {
                    summary.unchanged += 1;
                    continue;
                }
                Some(_) => summary.tenants_updated += 1,
            }
            ops.push(Op::PutTenant(t.clone()));
            changes.push(Change::PutTenant(t.clone()));
        }
        let mut new_units: BTreeSet<(String, UnitPath)> = BTreeSet::new();
        let named = inventory
            .units
            .iter()
            .map(|u| (&u.tenant, &u.path))
            .chain(inventory.subscriptions.iter().map(|s| (&s.tenant, &s.unit)));
        for (tenant, path) in named {
            for step in path.lineage() {
                if !stored_units.contains(&(tenant.as_str(), step.as_str())) {
                    new_units.insert((tenant.clone(), step));
                }
            }
        }
        summary.units_created = new_units.len();
        // BTreeSet order puts every ancestor before its descendants.
        for (tenant, path) in new_units {
            ops.push(Op::PutUnit(Unit { tenant: tenant.clone(), path: path.clone() }));
            changes.push(Change::PutUnit { tenant, path });
        }
        let snapshot = w.snapshot.clone();
        let now = self.clock.now();
        // Order of writes: tenants and units first (the moves and puts below
        // refer to them), then moves (which record retention), then the bulk
        // subscription puts.
        let mut subscription_ops = Vec::new();
        for s in &inventory.subscriptions {
            match stored_subs.get(s.id.as_str()) {
                None => summary.subscriptions_created += 1,
                Some(old) if old.tenant != s.tenant => {
                    return Err(CoreError::CrossTenantMove {
                        subscription: s.id.clone(),
                        from: old.tenant.clone(),
                        to: s.tenant.clone(),
                    });
                }
                Some(old) if *old == s => {
                    summary.unchanged += 1;
                    continue;
                }
                Some(old) if old.unit != s.unit => {
                    summary.subscriptions_moved += 1;
                    let retained_by = snapshot.orders_covering(&s.id, now);
                    ops.push(Op::MoveSubscription {
                        id: s.id.clone(),
                        unit: s.unit.clone(),
                        retained_by: retained_by.clone(),
                    });
                    changes.push(Change::MoveSubscription { id: s.id.clone(), unit: s.unit.clone(), retained_by });
                }
                Some(_) => summary.subscriptions_updated += 1,
            }
            subscription_ops.push(Op::PutSubscription(s.clone()));
            changes.push(Change::PutSubscription(s.clone()));
        }
        ops.extend(subscription_ops);
        let mut counts = serde_json::to_value(&summary).unwrap_or_default();
        if let Some(map) = counts.as_object_mut() {
            map.remove("version");
        }
        let mut kinds: Vec<&str> = inventory.tenants.iter().map(|t| t.kind.as_str()).collect();
        kinds.sort_unstable();
        kinds.dedup();
        let mut tenants: Vec<&str> = inventory
            .tenants
            .iter()
            .map(|t| t.id.as_str())
            .chain(inventory.subscriptions.iter().map(|s| s.tenant.as_str()))
            .collect();
        tenants.sort_unstable();
        tenants.dedup();
        let draft = Draft::new("inventory.imported", json!({"counts": counts, "customer_kinds": kinds}))
            .facts(json!({"tenants": tenants}));
        let change = Prepared { at: now, summary: counts, ops, changes, draft };
        summary.version = self.commit(w, actor, change, progress).await?;
        Ok(summary)
    }

    /// Records a new order in force. Every unit and subscription in its scope
    /// must exist and belong to the order's tenant.
    pub async fn create_order(&self, actor: &Actor, spec: OrderSpec) -> Result<(Order, u64), CoreError> {
        spec.validate(self.snapshot().catalog())?;
        let w = self.writer.lock().await;
        self.check_order_scope(&spec).await?;
        let now = self.clock.now();
        let order = self.new_order(new_order_id()?, spec, now, Lifecycle::default()).await?;
        let draft = self.order_created_draft(&order).await?;
        let change = Prepared {
            at: now,
            summary: json!({"order": order.id, "clause": order.spec.clause}),
            ops: vec![Op::InsertOrder(order.clone())],
            changes: vec![Change::PutOrder(order.clone())],
            draft,
        };
        let version = self.commit(w, actor, change, &|_| ()).await?;
        if let Some(end) = order.spec.end {
            self.writer.lock().await.expiries.insert((end, order.id.clone()));
        }
        Ok((order, version))
    }

    /// A new order, next in sequence and in the log. Call with the writer
    /// lock held.
    async fn new_order(
        &self,
        id: String,
        spec: OrderSpec,
        now: Timestamp,
        lifecycle: Lifecycle,
    ) -> Result<Order, CoreError> {
        Ok(Order {
            id,
            seq: self.store.max_order_seq().await? + 1,
            spec,
            created_at: now,
            lifted_at: None,
            lift_reason: None,
            retained: Vec::new(),
            log_index: Some(self.next_log_index()),
            lifecycle,
        })
    }

    /// Every unit and subscription in an order's scope exists and belongs
    /// to its tenant.
    async fn check_order_scope(&self, spec: &OrderSpec) -> Result<(), CoreError> {
        if !self.tenant_exists(&spec.tenant).await? {
            return Err(CoreError::UnknownReference { kind: "tenant", id: spec.tenant.clone() });
        }
        let units: HashSet<UnitPath> = self.store.units(&spec.tenant).await?.into_iter().collect();
        for unit in &spec.scope.units {
            if !units.contains(unit) {
                return Err(CoreError::UnknownReference { kind: "unit", id: format!("{}:{}", spec.tenant, unit) });
            }
        }
        for id in &spec.scope.subscriptions {
            match self.store.subscription(id).await? {
                None => return Err(CoreError::UnknownReference { kind: "subscription", id: id.clone() }),
                Some(sub) if sub.tenant != spec.tenant => {
                    return Err(CoreError::ScopeSpansTenants {
                        subscription: id.clone(),
                        belongs_to: sub.tenant,
                        order_tenant: spec.tenant.clone(),
                    });
                }
                Some(_) => {}
            }
        }
        Ok(())
    }

    /// The public part of an order's entry: what kind of restriction, on
    /// which service families, when, where, and on what kind of customer;
    /// never who.
    async fn order_created_draft(&self, order: &Order) -> Result<Draft, CoreError> {
        let mut draft = self.order_draft("order.created", order).await?;
        // Loaded directly by an admin, with no case and no approvers: the
        // log says so in public.
        if let Some(public) = draft.public.as_object_mut() {
            public.insert("direct".into(), json!(true));
        }
        Ok(draft)
    }

    /// The public part of an order's entry (see [`Core::order_created_draft`]).
    async fn order_draft(&self, kind: &'static str, order: &Order) -> Result<Draft, CoreError> {
        let spec = &order.spec;
        let (regions, covered) = self.coverage(spec).await?;
        let phases: Vec<_> = spec.phases.iter().map(|p| json!({"mode": p.mode, "start": p.start})).collect();
        let public = json!({
            "order": order.id,
            "clause": spec.clause,
            "restriction": "partial_suspension",
            "customer_kind": self.customer_kind(&spec.tenant).await?,
            "services": spec.services,
            "exempt": spec.exempt,
            "phases": phases,
            "end": spec.end,
            "scope": {"units": spec.scope.units.len(), "subscriptions_named": spec.scope.subscriptions.len(), "subscriptions_covered": covered},
            "territorial_scope": regions,
        });
        Ok(Draft::new(kind, public)
            .tenant(&spec.tenant)
            .subject(&order.id)
            .units(&spec.scope.units)
            .subscriptions(&spec.scope.subscriptions)
            .facts(json!({"title": spec.title, "seq": order.seq})))
    }

    /// The regions of the subscriptions an order's scope covers now, and how
    /// many subscriptions that is.
    async fn coverage(&self, spec: &OrderSpec) -> Result<(BTreeSet<String>, u64), CoreError> {
        let mut regions = BTreeSet::new();
        let mut covered = 0u64;
        let mut page = Page { after: None, limit: 10_000 };
        loop {
            let subs = self.store.subscriptions(Some(&spec.tenant), &page).await?;
            let done = subs.len() < page.limit as usize;
            page.after = subs.last().map(|s| s.id.clone());
            for sub in subs {
                if spec.scope.subscriptions.contains(&sub.id) || spec.scope.units.iter().any(|u| sub.unit.is_within(u))
                {
                    covered += 1;
                    if !sub.region.is_empty() {
                        regions.insert(sub.region);
                    }
                }
            }
            if done {
                return Ok((regions, covered));
            }
        }
    }

    /// Lifts an order now; refuses one already lifted or past its end.
    pub async fn lift_order(&self, actor: &Actor, id: &str, reason: &str) -> Result<(Order, u64), CoreError> {
        if reason.trim().is_empty() {
            return Err(CoreError::Invalid(verdict_model::ModelError::Empty("reason (say why the order is lifted)")));
        }
        let mut w = self.writer.lock().await;
        let mut order =
            self.store.order(id).await?.ok_or_else(|| CoreError::NotFound { kind: "order", id: id.to_owned() })?;
        let now = self.clock.now();
        if order.lifecycle.state != verdict_model::OrderState::Approved {
            return Err(CoreError::IllegalTransition {
                code: "order-not-approved",
                message: format!(
                    "order {id} is {} and has no effect to lift; a proposed order is rejected instead",
                    order.lifecycle.state.as_str()
                ),
            });
        }
        match order.status_at(now) {
            verdict_model::OrderStatus::Lifted => {
                return Err(CoreError::IllegalTransition {
                    code: "order-already-lifted",
                    message: format!("order {id} was already lifted at {}", order.lifted_at.unwrap_or(now)),
                });
            }
            verdict_model::OrderStatus::Expired => {
                return Err(CoreError::IllegalTransition {
                    code: "order-expired",
                    message: format!(
                        "order {id} already ended at {}; there is nothing left to lift",
                        order.spec.end.unwrap_or(now)
                    ),
                });
            }
            verdict_model::OrderStatus::InForce => {}
        }
        order.lifted_at = Some(now);
        order.lift_reason = Some(reason.to_owned());
        if let Some(end) = order.spec.end {
            w.expiries.remove(&(end, order.id.clone()));
        }
        let kind = self.customer_kind(&order.spec.tenant).await?;
        let draft = Draft::new(
            "order.lifted",
            json!({"order": id, "clause": order.spec.clause, "customer_kind": kind, "lifted": now}),
        )
        .tenant(&order.spec.tenant)
        .subject(id)
        .facts(json!({"reason": reason}));
        let change = Prepared {
            at: now,
            summary: json!({"order": id}),
            ops: vec![Op::LiftOrder { id: id.to_owned(), at: now, reason: reason.to_owned() }],
            changes: vec![Change::PutOrder(order.clone())],
            draft,
        };
        let version = self.commit(w, actor, change, &|_| ()).await?;
        Ok((order, version))
    }

    async fn all_orders(&self, tenant: Option<&str>) -> Result<Vec<Order>, CoreError> {
        let mut out = Vec::new();
        let mut page = Page { after: None, limit: 1000 };
        loop {
            let batch = self.store.orders(tenant, &page).await?;
            let done = batch.len() < page.limit as usize;
            page.after = batch.last().map(|o| o.id.clone());
            out.extend(batch);
            if done {
                return Ok(out);
            }
        }
    }
}
