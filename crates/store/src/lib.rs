//! verdict's persistence: the [`Store`] trait every backend implements, and
//! the embedded SQLite backend ([`SqliteStore`]).
//!
//! **Architecture invariant**: the store is the truth; the engine's snapshot
//! is derived from it. A governance change is one [`Batch`], written in one
//! transaction or not at all, and recorded in the change feed whose sequence
//! number is the snapshot version.
//!
//! The store does not judge: whether a tenant may be created or an order
//! lifted is decided by the control plane (`verdict-core`) before it commits.
//! Constraints the database can check (keys, references) are still checked
//! here, as a last line of defence.

mod sqlite;

use async_trait::async_trait;
use serde::Serialize;
use verdict_model::{
    Appeal, Case, CaseEvent, Clause, Guard, Inventory, Lifecycle, Notice, Order, Subscription, Tenant, Timestamp, Unit,
    UnitPath, User,
};

pub use sqlite::SqliteStore;

/// A storage failure.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A referenced row does not exist.
    #[error("{kind} {id:?} does not exist")]
    NotFound {
        /// What was looked for.
        kind: &'static str,
        /// Its id.
        id: String,
    },
    /// The change collides with what is stored (a key or reference).
    #[error("the change conflicts with stored data: {0}")]
    Conflict(String),
    /// Stored data does not decode; the store needs repair.
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    /// The database failed.
    #[error("database error")]
    Database(#[source] sqlx::Error),
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        if let sqlx::Error::Database(db) = &e
            && (db.is_unique_violation() || db.is_foreign_key_violation() || db.is_check_violation())
        {
            return StoreError::Conflict(db.message().to_owned());
        }
        StoreError::Database(e)
    }
}

/// One write inside a batch.
#[derive(Debug, Clone)]
// Short-lived values in a batch; boxing the order buys nothing.
#[allow(clippy::large_enum_variant)]
pub enum Op {
    /// Create or update a tenant.
    PutTenant(Tenant),
    /// Create a unit if missing (its ancestors must come first or exist).
    PutUnit(Unit),
    /// Delete a unit.
    DeleteUnit(Unit),
    /// Create or replace a subscription.
    PutSubscription(Subscription),
    /// Move a subscription; `retained_by` orders keep covering it.
    MoveSubscription {
        /// Subscription id.
        id: String,
        /// New unit.
        unit: UnitPath,
        /// Orders that retain it.
        retained_by: Vec<String>,
    },
    /// Delete a subscription; `retained_by` orders keep covering its id.
    DeleteSubscription {
        /// Subscription id.
        id: String,
        /// Orders that retain it.
        retained_by: Vec<String>,
    },
    /// Record a new order.
    InsertOrder(Order),
    /// Add a user with the SHA-256 of its token.
    PutUser {
        /// The user.
        user: User,
        /// SHA-256 of the token.
        token_hash: [u8; 32],
    },
    /// Revoke a user's token.
    RevokeUser {
        /// The user's name.
        name: String,
        /// When.
        at: Timestamp,
    },
    /// Publish a clause version.
    PutClause(Clause),
    /// Create or update a case (its status, assignee, timestamps).
    PutCase(Case),
    /// Append an event to a case's timeline (its `seq` is assigned).
    AddCaseEvent {
        /// The case.
        case_id: String,
        /// The event; `seq` is ignored.
        event: CaseEvent,
    },
    /// Issue a notice.
    PutNotice(Notice),
    /// File or decide an appeal.
    PutAppeal(Appeal),
    /// Declare or replace a guard.
    PutGuard(Guard),
    /// Queue a notice's delivery to the webhook.
    Enqueue {
        /// The notice.
        notice_id: String,
        /// The body to send.
        body: String,
    },
    /// Replace an order's approval lifecycle.
    SetOrderLifecycle {
        /// The order.
        id: String,
        /// Its lifecycle now.
        lifecycle: Lifecycle,
    },
    /// Lift an order.
    LiftOrder {
        /// Order id.
        id: String,
        /// When.
        at: Timestamp,
        /// Why.
        reason: String,
    },
}

/// A governance change: its writes and its entry in the change feed.
#[derive(Debug, Clone)]
pub struct Batch {
    /// When the change was made.
    pub at: Timestamp,
    /// Change kind, e.g. `subscription.moved`.
    pub kind: &'static str,
    /// A small JSON summary for the feed (ids, counts; no private facts).
    pub summary: serde_json::Value,
    /// The writes, applied in order.
    pub ops: Vec<Op>,
    /// The change's transparency-log entry, written in the same transaction.
    pub entry: Option<LogRecord>,
    /// The latest signed checkpoint (size, note), stored in the same
    /// transaction if it is newer than the one stored.
    pub checkpoint: Option<(u64, String)>,
}

/// One transparency-log entry as the store keeps it: the public entry that
/// is hashed into the tree, and the private record it commits to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogRecord {
    /// Index in the log (0-based); must be the next one.
    pub index: u64,
    /// Entry type, e.g. `order.created`.
    pub kind: String,
    /// What the entry is about (an order id), for lookups.
    pub subject: Option<String>,
    /// The tenant it concerns, for entitlement; never published.
    pub tenant: Option<String>,
    /// The public entry, byte for byte.
    pub entry: Vec<u8>,
    /// The RFC 6962 leaf hash of `entry`.
    pub leaf_hash: [u8; 32],
    /// The private record, byte for byte.
    pub private: Vec<u8>,
    /// The salt of the commitment.
    pub salt: [u8; 32],
}

/// Everything needed to compile a snapshot.
#[derive(Debug, Clone, Default)]
pub struct Loaded {
    /// The inventory.
    pub inventory: Inventory,
    /// Every order, oldest first, with retention.
    pub orders: Vec<Order>,
    /// The last change's sequence number (0 for an empty store).
    pub version: u64,
}

/// One entry of the change feed.
#[derive(Debug, Clone, Serialize)]
pub struct ChangeRecord {
    /// Sequence number.
    pub seq: u64,
    /// When.
    pub at: Timestamp,
    /// Kind.
    pub kind: String,
    /// Summary.
    pub summary: serde_json::Value,
    /// Index of the change's transparency-log entry.
    pub log_index: Option<u64>,
    /// That entry's leaf hash, as committed.
    pub log_leaf: Option<[u8; 32]>,
}

/// One delivery in the outbox.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct OutboxItem {
    /// Row id.
    pub id: i64,
    /// The notice delivered.
    pub notice_id: String,
    /// The body sent.
    #[serde(skip)]
    pub body: String,
    /// Failed attempts so far.
    pub attempts: u32,
    /// When the next attempt is due (ms since the epoch).
    pub next_at_ms: i64,
    /// When it was delivered.
    pub delivered_at: Option<Timestamp>,
    /// The last failure.
    pub last_error: Option<String>,
}

/// A page request: up to `limit` rows after the key `after`.
#[derive(Debug, Clone, Default)]
pub struct Page {
    /// Exclusive lower bound on the sort key.
    pub after: Option<String>,
    /// At most this many rows.
    pub limit: u32,
}

/// Persistence for verdict. Implementations: [`SqliteStore`]; PostgreSQL
/// follows behind the same trait.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Commits a batch in one transaction; returns its sequence number.
    /// `progress` is told how many ops have been written so far.
    async fn commit(&self, batch: &Batch, progress: &(dyn Fn(usize) + Send + Sync)) -> Result<u64, StoreError>;
    /// Commits batches that change nothing but the log (each one entry and
    /// one change record, no ops) in one transaction; returns their
    /// sequence numbers. This is group commit for log appends.
    async fn append(&self, batches: &[Batch]) -> Result<Vec<u64>, StoreError>;
    /// Loads everything a snapshot is compiled from.
    async fn load(&self) -> Result<Loaded, StoreError>;
    /// One tenant.
    async fn tenant(&self, id: &str) -> Result<Option<Tenant>, StoreError>;
    /// Lists tenants by id.
    async fn tenants(&self, page: &Page) -> Result<Vec<Tenant>, StoreError>;
    /// Lists a tenant's units by path.
    async fn units(&self, tenant: &str) -> Result<Vec<UnitPath>, StoreError>;
    /// One subscription.
    async fn subscription(&self, id: &str) -> Result<Option<Subscription>, StoreError>;
    /// Lists subscriptions by id, optionally of one tenant.
    async fn subscriptions(&self, tenant: Option<&str>, page: &Page) -> Result<Vec<Subscription>, StoreError>;
    /// Counts subscriptions in a unit and below it.
    async fn subscriptions_within(&self, tenant: &str, unit: &UnitPath) -> Result<u64, StoreError>;
    /// One order.
    async fn order(&self, id: &str) -> Result<Option<Order>, StoreError>;
    /// Lists orders newest first, optionally of one tenant.
    async fn orders(&self, tenant: Option<&str>, page: &Page) -> Result<Vec<Order>, StoreError>;
    /// The highest order sequence number used (0 if none).
    async fn max_order_seq(&self) -> Result<i64, StoreError>;
    /// Change-feed entries after `after`, oldest first.
    async fn changes(&self, after: u64, limit: u32) -> Result<Vec<ChangeRecord>, StoreError>;
    /// Every clause version, by id then version.
    async fn clauses(&self) -> Result<Vec<Clause>, StoreError>;
    /// One case.
    async fn case(&self, id: &str) -> Result<Option<Case>, StoreError>;
    /// Cases, newest first, optionally of one tenant.
    async fn cases(&self, tenant: Option<&str>, limit: u32) -> Result<Vec<Case>, StoreError>;
    /// A case's timeline, oldest first.
    async fn case_events(&self, id: &str) -> Result<Vec<CaseEvent>, StoreError>;
    /// Every guard, by id.
    async fn guards(&self) -> Result<Vec<Guard>, StoreError>;
    /// Appeals, newest first, optionally of one tenant.
    async fn appeals(&self, tenant: Option<&str>) -> Result<Vec<Appeal>, StoreError>;
    /// Notices, newest first, optionally of one tenant.
    async fn notices(&self, tenant: Option<&str>) -> Result<Vec<Notice>, StoreError>;
    /// One notice.
    async fn notice(&self, id: &str) -> Result<Option<Notice>, StoreError>;
    /// Undelivered outbox items due by `now_ms`, oldest first.
    async fn outbox_due(&self, now_ms: i64, limit: u32) -> Result<Vec<OutboxItem>, StoreError>;
    /// Every outbox item of a notice.
    async fn outbox_of(&self, notice_id: &str) -> Result<Vec<OutboxItem>, StoreError>;
    /// Marks an outbox item delivered.
    async fn outbox_delivered(&self, id: i64, at: Timestamp) -> Result<(), StoreError>;
    /// Records a failed attempt and when to try again.
    async fn outbox_failed(&self, id: i64, next_at_ms: i64, error: &str) -> Result<(), StoreError>;
    /// Every user (revoked ones too) with its token hash, by name.
    async fn users(&self) -> Result<Vec<(User, [u8; 32])>, StoreError>;
    /// Makes every committed transaction durable (on disk, fsync'd), for
    /// stores whose commits do not wait for the disk; nothing is
    /// acknowledged before this returns. SQLite commits durably already.
    async fn sync(&self) -> Result<(), StoreError>;
    /// Every log entry's leaf hash, in index order. Fails with
    /// [`StoreError::Corrupt`] if the indexes are not 0, 1, 2, ….
    async fn log_leaves(&self) -> Result<Vec<[u8; 32]>, StoreError>;
    /// The public entries with index in `start..end`, in order.
    async fn log_entries(&self, start: u64, end: u64) -> Result<Vec<Vec<u8>>, StoreError>;
    /// Up to `limit` whole log records from index `start` on, in order.
    async fn log_records(&self, start: u64, limit: u32) -> Result<Vec<LogRecord>, StoreError>;
    /// The ids of orders whose expiry has been logged.
    async fn logged_expiries(&self) -> Result<Vec<String>, StoreError>;
    /// Replaces the latest signed checkpoint.
    async fn put_checkpoint(&self, size: u64, note: &str) -> Result<(), StoreError>;
    /// The latest signed checkpoint: its tree size and its note.
    async fn checkpoint(&self) -> Result<Option<(u64, String)>, StoreError>;
}
