//! verdict's control plane: every governance change goes through the
//! ledger (`Core::begin` in `ledger.rs`), which reads what the change
//! depends on and writes it, with its transparency-log entries, in one store
//! transaction; the derived state (engine snapshot, inventory index, Merkle
//! tree, feed) follows from what was committed, and the change is
//! acknowledged once it is durable and covered by a signed checkpoint.
//!
//! The domains sit over the ledger, one module each: `inventory` (tenants,
//! units, subscriptions, imports), `orders` (lifecycle, coverage, guards,
//! expiries), `preview` (blast radius and diff), `cases` (clauses, cases,
//! evidence), `notices` (statements of reasons and their delivery),
//! `appeals`, `users` (people and tokens), `report`, and `tlog` (the log's
//! read side: tiles, proofs, receipts, private records, `fsck`).
//!
//! **Architecture invariant**: one action, one store transaction, all its
//! log entries or none. Every legality check reads inside that transaction.
//! A change the store refuses never reaches the engine or the log; a change
//! the store accepted always does — and if the engine could not apply it
//! incrementally, the snapshot is recompiled from the store, because the
//! store is the truth. On start, the stored entries must reproduce every
//! signed checkpoint the store kept, or the control plane refuses to open.
//!
//! **API boundary**: the HTTP server and the CLI call [`Core`]; neither
//! writes to the store or the engine directly.

mod appeals;
mod browse;
mod cases;
mod clock;
mod datadir;
mod detection;
mod error;
pub mod failpoint;
pub mod feed;
mod follow;
mod index;
mod inventory;
mod ledger;
mod log;
mod notices;
mod orders;
mod preview;
mod report;
mod sessions;
mod tlog;
mod usage;
mod users;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use arc_swap::ArcSwap;
use serde_json::json;
use tokio::sync::Mutex;
use verdict_engine::{Change, Engine, Snapshot};
use verdict_log::Tree;
use verdict_model::{Catalog, Order, OrderStatus, Timestamp};
use verdict_store::{Reads, Store};

pub use browse::{InventoryPage, InventoryQuery, SubscriptionRow};
pub use clock::{Clock, ManualClock, ShiftedClock, SystemClock};
pub use datadir::{DataDir, DataDirError, DataDirLock, default_origin};
pub use detection::{BacktestHit, Evaluation};
pub use error::{
    AppealError, ApprovalError, CaseError, CoreError, DetectionError, ErrorKind, ImportError, InventoryError, LogError,
    OrderError, Thing, UsageBatchError, UserError,
};
pub use inventory::{ImportSummary, Moved};
pub use log::{Actor, ENTRY_FORMAT, MAX_ENTRY_BYTES, SignedCheckpoint, commitment, hex};
pub use orders::DEFAULT_APPROVALS;
pub use preview::{Affected, Diff, Difference, Preview, PreviewSummary, ServiceDenials, Untouched};
pub use report::{Counts, Medians, Report, Tally};
pub use tlog::{Fsck, HistoryError, fsck};
pub use usage::{LATENESS_SECONDS, MAX_USAGE_BATCH, USAGE_RETENTION_DAYS, parse_usage_batch};
pub use users::Principal;
pub use verdict_log::{SigningKey, VerifierKey};
// Store types that appear in the control plane's API, so its callers need not
// name the store.
pub use verdict_store::{CaseFilter, LogRecord, OutboxItem, Page, Session};

use crate::index::InventoryIndex;
use crate::ledger::{Prepared, Writer};
use crate::log::Draft;

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
    /// Usage series numbers the store has given (see `usage.rs`).
    usage_series: std::sync::Mutex<usage::SeriesNumbers>,
    /// When absorbing last found nothing new in the store.
    caught_up_at: std::sync::Mutex<std::time::Instant>,
    /// The version published to the engine, for whoever waits on it.
    versions: tokio::sync::watch::Sender<u64>,
}

/// A version's engine changes as the feed will stream them, or why it
/// cannot (replicas then fetch the snapshot).
type Streamed = Result<Vec<Change>, &'static str>;

type QueuedAppend = (Actor, Draft, tokio::sync::oneshot::Sender<Result<u64, CoreError>>);

#[derive(Clone)]
pub(crate) struct Pending {
    /// Signed and stored in the transaction that committed what it covers;
    /// published once a sync made that durable.
    pub(crate) checkpoint: Arc<SignedCheckpoint>,
    pub(crate) snapshot: Arc<Snapshot>,
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

impl Core {
    /// Loads the store and the log, checks that the stored entries
    /// reproduce every checkpoint the store kept (refusing to open, and
    /// naming the first entry that differs, if they do not), compiles the
    /// first snapshot and signs a checkpoint of the log as stored. `key`
    /// signs checkpoints; its name is the log's origin.
    pub async fn open(store: Arc<dyn Store>, key: SigningKey) -> Result<Core, CoreError> {
        Self::open_with_clock(store, key, Arc::new(SystemClock)).await
    }

    /// Like [`Core::open`], with the clock that stamps changes and moves.
    pub async fn open_with_clock(
        store: Arc<dyn Store>,
        key: SigningKey,
        clock: Arc<dyn Clock>,
    ) -> Result<Core, CoreError> {
        // Read under the store's write lock: other servers over the same
        // store may be writing, and the tree, the snapshot and the users
        // must be of one moment.
        let mut reads = store.begin().await?;
        let tree = Tree::from_leaves(reads.log_leaves().await.map_err(|e| match e {
            verdict_store::StoreError::Corrupt(why) => CoreError::History(HistoryError::Unreadable(why)),
            other => other.into(),
        })?);
        let checkpoints = reads.checkpoints().await?;
        tlog::check_history(&tree, &checkpoints, &key.verifier())?;
        let loaded = reads.load().await?;
        let version = loaded.version;
        let logged: HashSet<String> = reads.logged_expiries().await?.into_iter().collect();
        let expiries = follow::expiries_of(&loaded, &logged);
        let snapshot = Arc::new(Self::compile_loaded(&loaded)?);
        let (inventory, locator) = InventoryIndex::build(snapshot.catalog(), &loaded.inventory);
        let users = reads.users().await?;
        // Whatever a crash left committed but unsynced is kept: sync it
        // before signing over it. The tree extends every stored checkpoint
        // (checked above), so this signature extends every one signed.
        store.sync().await?;
        let signed = SignedCheckpoint::sign(&key, tree.size(), tree.root())?;
        reads.put_checkpoint(signed.checkpoint.size, &signed.note).await?;
        reads.commit().await?;
        let signed = Arc::new(signed);
        let pending = Pending { checkpoint: signed.clone(), snapshot: snapshot.clone() };
        let core = Core {
            store,
            engine: Engine::new((*snapshot).clone()),
            clock,
            key,
            writer: Mutex::new(Writer { snapshot: snapshot.clone(), expiries, locator }),
            tree: std::sync::RwLock::new(tree),
            pending: std::sync::Mutex::new(pending),
            syncer: Mutex::new(()),
            published: ArcSwap::new(signed),
            appends: std::sync::Mutex::new(Vec::new()),
            appender: Mutex::new(()),
            unpublished: std::sync::Mutex::new(Vec::new()),
            feed: feed::Feed::new(snapshot.clone(), feed::FeedLimits::default()),
            directory: ArcSwap::from_pointee(users::directory(&users)),
            inventory: ArcSwap::from_pointee(inventory),
            usage_series: std::sync::Mutex::new(HashMap::new()),
            caught_up_at: std::sync::Mutex::new(std::time::Instant::now()),
            versions: tokio::sync::watch::channel(version).0,
        };
        if core.published.load().checkpoint.size == 0 && version > 0 {
            core.adopt_unlogged_state(version).await?;
        }
        // Stores written by versions that committed an approval and its
        // notice (or an appeal and its effects) apart: finish what a crash
        // cut short. Nothing written since is ever half done.
        core.issue_pending_notices().await?;
        core.complete_appeals().await?;
        Ok(core)
    }

    /// A store written before the log existed: record that the log starts
    /// here, over state it did not see being made.
    async fn adopt_unlogged_state(&self, version: u64) -> Result<(), CoreError> {
        let mut tx = self.begin().await?;
        let draft = Draft::new("log.started", json!({"prior_changes": version}))
            .facts(json!({"note": "the store held changes made before it had a transparency log"}));
        let change = Prepared { at: tx.now(), summary: json!({}), ops: vec![], changes: vec![], draft };
        tx.write(&Actor::system(), change).await?;
        tx.commit().await?;
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
        Self::compile_loaded(&store.read().await?.load().await?)
    }

    /// The engine that answers decisions.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Wakes whenever a new version is published to the engine (by this
    /// server's own actions or by following other servers').
    pub fn published_versions(&self) -> tokio::sync::watch::Receiver<u64> {
        self.versions.subscribe()
    }

    /// Up to `limit` versions after `after` and no further than the version
    /// in force here, each with its engine changes as the store keeps them
    /// (`None`: too many to carry; replicas fetch the snapshot): what a
    /// message bus carries to replicas.
    pub async fn change_rows(&self, after: u64, limit: u32) -> Result<Vec<(u64, Option<String>)>, CoreError> {
        let upto = self.snapshot().version();
        if after >= upto {
            return Ok(Vec::new());
        }
        let rows = self.reads().await?.changes(after, limit).await?;
        Ok(rows.into_iter().take_while(|r| r.seq <= upto).map(|r| (r.seq, r.delta)).collect())
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

    /// A reader of committed state.
    pub(crate) async fn reads(&self) -> Result<Box<dyn Reads>, CoreError> {
        Ok(self.store.read().await?)
    }

    /// Where an order stands now, by the control plane's clock.
    pub fn status_of(&self, order: &Order) -> OrderStatus {
        order.status_at(self.clock.now())
    }
}
