//! verdict's persistence: the [`Store`] trait every backend implements, the
//! embedded SQLite backend ([`SqliteStore`]) and PostgreSQL ([`PgStore`]),
//! which several servers share.
//!
//! **Architecture invariant**: the store is the truth; the engine's snapshot
//! is derived from it. A governance action is one [`StoreTx`], written in one
//! transaction or not at all, and recorded in the change feed whose sequence
//! number is the snapshot version.
//!
//! The store does not judge: whether a tenant may be created or an order
//! lifted is decided by the control plane (`verdict-control`) before it commits.
//! Constraints the database can check (keys, references) are still checked
//! here, as a last line of defence.

#[macro_use]
mod macros;
mod codec;
mod migrations;
mod postgres;
mod sqlite;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde::Serialize;
use verdict_model::{
    Appeal, Case, CaseEvent, Clause, Guard, Inventory, Lifecycle, Notice, Order, Subscription, Tenant, Timestamp, Unit,
    UnitPath, User,
};

pub use postgres::{PgReader, PgStore, PgTx};
pub use sqlite::{SqliteReader, SqliteStore, SqliteTx};

/// Opens the store `spec` names: a `postgres://` (or `postgresql://`) URL,
/// or else the path of a SQLite file.
pub async fn open(spec: &str) -> Result<Arc<dyn Store>, StoreError> {
    if is_postgres(spec) {
        Ok(Arc::new(PgStore::connect(spec).await?))
    } else {
        Ok(Arc::new(SqliteStore::open(std::path::Path::new(spec)).await?))
    }
}

/// Whether `spec` names a PostgreSQL database rather than a SQLite file.
pub fn is_postgres(spec: &str) -> bool {
    spec.starts_with("postgres://") || spec.starts_with("postgresql://")
}

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
    /// File an appeal (refused if its id exists).
    FileAppeal(Appeal),
    /// Record an appeal's decision; refused (a conflict) if the stored
    /// appeal is decided already, so two decisions can never both land.
    DecideAppeal(Appeal),
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
    /// Lift an order; refused (a conflict) if it is lifted already.
    LiftOrder {
        /// Order id.
        id: String,
        /// When.
        at: Timestamp,
        /// Why.
        reason: String,
        /// The approved amendment replacing it, if that is why.
        superseded_by: Option<String>,
    },
    /// A console session opened.
    PutSession(Session),
    /// A console session ended (signed out) at `at`.
    EndSession {
        /// The SHA-256 of its secret.
        id_hash: [u8; 32],
        /// When.
        at: Timestamp,
    },
    /// Adds hour slices of usage to one tenant's numbered series (see
    /// [`StoreTx::usage_series_ids`]): a counter's quantity to the hour's, a
    /// gauge's as the hour's if higher. Slices in key order (hour, series)
    /// are written fastest.
    AddUsage {
        /// The series' tenant.
        tenant: String,
        /// Distinct (hour, series) slices.
        slices: Vec<UsageAdd>,
    },
    /// Creates or updates a version of a detection rule.
    PutRule(verdict_model::DetectionRule),
    /// Records what rule versions fired on at an hour.
    AddRuleResults(Vec<RuleResult>),
    /// Forgets usage (slices and event ids) of hours before `before_hour`.
    PurgeUsage {
        /// Seconds since the epoch, an hour boundary.
        before_hour: i64,
    },
    /// Sessions that expired before `before` forgotten.
    PurgeSessions {
        /// The cut-off.
        before: Timestamp,
    },
    /// A notice's delivery succeeded.
    OutboxDelivered {
        /// The outbox row.
        id: i64,
        /// When.
        at: Timestamp,
    },
    /// A notice's delivery failed; try again at `next_at_ms`.
    OutboxFailed {
        /// The outbox row.
        id: i64,
        /// When to try again (ms since the epoch).
        next_at_ms: i64,
        /// What went wrong.
        error: String,
    },
}

/// One log entry appended in a transaction, with the change-feed row that
/// names it (its sequence number is the snapshot version it makes).
#[derive(Debug, Clone)]
pub struct Appended {
    /// When the change was made.
    pub at: Timestamp,
    /// A small JSON summary for the feed (ids, counts; no private facts).
    pub summary: serde_json::Value,
    /// The transparency-log entry; its `index` must be the log's next.
    pub record: LogRecord,
    /// The engine changes the row makes, as the control plane encodes
    /// them, so that other servers over the same store can follow without
    /// recompiling; `None` when they are too many to keep (an import), and
    /// followers then reload from the store.
    pub delta: Option<String>,
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

/// One hour of one usage series.
#[derive(Debug, Clone, PartialEq)]
pub struct UsageSlice {
    /// The tenant.
    pub tenant: String,
    /// The subscription.
    pub subscription: String,
    /// The service.
    pub service: String,
    /// The meter.
    pub meter: String,
    /// The hour's start, seconds since the epoch.
    pub hour: i64,
    /// A gauge (the hour keeps its highest reading) or a counter (it adds).
    pub gauge: bool,
    /// The quantity.
    pub quantity: f64,
}

/// A usage series: what its hour slices measure.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct UsageSeries {
    /// The tenant.
    pub tenant: String,
    /// The subscription.
    pub subscription: String,
    /// The service.
    pub service: String,
    /// The meter.
    pub meter: String,
    /// A gauge (an hour keeps its highest reading) or a counter (it adds).
    pub gauge: bool,
}

/// Usage to add to one hour of a numbered series.
#[derive(Debug, Clone, PartialEq)]
pub struct UsageAdd {
    /// The series' number.
    pub series: i64,
    /// The hour's start, seconds since the epoch.
    pub hour: i64,
    /// Whether the series is a gauge.
    pub gauge: bool,
    /// The quantity.
    pub quantity: f64,
}

/// What a rule version fired on at one hour.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleResult {
    /// The rule.
    pub rule_id: String,
    /// Its version.
    pub version: u32,
    /// The tenant.
    pub tenant: String,
    /// The unit path or subscription id it fired on.
    pub target: String,
    /// The hour whose windows closed.
    pub hour: i64,
    /// Each figure it read, with its value (JSON object).
    pub figures: serde_json::Value,
    /// The case it opened or added to (active rules).
    pub case_id: Option<String>,
}

/// Which cases a page of the queue shows; every filter is optional.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CaseFilter {
    /// Of this tenant.
    pub tenant: Option<String>,
    /// In this status (its wire name).
    pub status: Option<String>,
    /// Assigned to this user.
    pub assignee: Option<String>,
    /// From this source type (its wire name).
    pub source: Option<String>,
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
    /// The engine changes it made, as written with [`Appended::delta`].
    #[serde(skip)]
    pub delta: Option<String>,
}

/// A console session as stored: the hash of its secret (the browser's
/// cookie holds the secret; the store never does) and of the token it was
/// opened with, so that revoking the token ends it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// The SHA-256 of the session's secret.
    pub id_hash: [u8; 32],
    /// The user it belongs to.
    pub user: String,
    /// The SHA-256 of the token it was opened with.
    pub token_hash: [u8; 32],
    /// When it was opened.
    pub created_at: Timestamp,
    /// When it stops being accepted, whatever happens.
    pub expires_at: Timestamp,
    /// When it was signed out, if it was.
    pub ended_at: Option<Timestamp>,
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

/// Persistence for verdict. Implementations: [`SqliteStore`] (embedded,
/// one process) and [`PgStore`] (shared by several servers).
///
/// **API boundary**: reads go through [`Reads`] — from [`Store::read`] (a
/// connection seeing committed state; readers run concurrently) or from a
/// [`StoreTx`] (which sees its own writes). Every write, and every read a
/// write depends on, goes through a [`StoreTx`] from [`Store::begin`].
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Begins a write transaction. Writers are serialised by the store
    /// itself (SQLite: `BEGIN IMMEDIATE` takes the database's write lock;
    /// PostgreSQL: a transaction-scoped advisory lock, the log head's), so
    /// one transaction at a time reads-for-write, across processes and
    /// servers too, and it sees every transaction committed before it.
    async fn begin(&self) -> Result<Box<dyn StoreTx>, StoreError>;
    /// A reader of committed state.
    async fn read(&self) -> Result<Box<dyn Reads>, StoreError>;
    /// Makes every committed transaction durable (on disk, fsync'd), for
    /// stores whose commits do not wait for the disk; nothing is
    /// acknowledged before this returns. SQLite commits durably already.
    async fn sync(&self) -> Result<(), StoreError>;
    /// Waits until another connection may have committed a change, or
    /// `within` has passed (whichever comes first); `true` if it was told.
    /// PostgreSQL is told by `LISTEN`; a store that cannot tell just waits,
    /// and so does any store while its notifications are down, so callers
    /// treat a return as "look now", never as proof of silence.
    async fn await_change(&self, within: Duration) -> bool;
    /// Closes every connection, waiting for them (so a restart, or a test
    /// that stands for one, reopens a store nobody else holds).
    async fn close(&self);
}

/// Every read, over one connection: a reader's or a transaction's.
#[async_trait]
pub trait Reads: Send {
    /// Loads everything a snapshot is compiled from.
    async fn load(&mut self) -> Result<Loaded, StoreError>;
    /// One tenant.
    async fn tenant(&mut self, id: &str) -> Result<Option<Tenant>, StoreError>;
    /// Lists tenants by id.
    async fn tenants(&mut self, page: &Page) -> Result<Vec<Tenant>, StoreError>;
    /// A tenant's units by path.
    async fn units(&mut self, tenant: &str) -> Result<Vec<UnitPath>, StoreError>;
    /// One subscription.
    async fn subscription(&mut self, id: &str) -> Result<Option<Subscription>, StoreError>;
    /// Subscriptions by id, optionally of one tenant.
    async fn subscriptions(&mut self, tenant: Option<&str>, page: &Page) -> Result<Vec<Subscription>, StoreError>;
    /// Counts subscriptions in a unit and below it.
    async fn subscriptions_within(&mut self, tenant: &str, unit: &UnitPath) -> Result<u64, StoreError>;
    /// One order.
    async fn order(&mut self, id: &str) -> Result<Option<Order>, StoreError>;
    /// Orders newest first, optionally of one tenant.
    async fn orders(&mut self, tenant: Option<&str>, page: &Page) -> Result<Vec<Order>, StoreError>;
    /// The highest order sequence number used (0 if none).
    async fn max_order_seq(&mut self) -> Result<i64, StoreError>;
    /// The newest change's sequence number: the store's version (0 if none).
    async fn version(&mut self) -> Result<u64, StoreError>;
    /// Change-feed entries after `after`, oldest first.
    async fn changes(&mut self, after: u64, limit: u32) -> Result<Vec<ChangeRecord>, StoreError>;
    /// Every clause version, by id then version.
    async fn clauses(&mut self) -> Result<Vec<Clause>, StoreError>;
    /// One case.
    async fn case(&mut self, id: &str) -> Result<Option<Case>, StoreError>;
    /// Cases, newest first, optionally of one tenant.
    async fn cases(&mut self, tenant: Option<&str>, limit: u32) -> Result<Vec<Case>, StoreError>;
    /// A page of the case queue: cases matching `filter`, last changed
    /// first, after skipping `offset`; and how many match in all.
    async fn case_queue(
        &mut self,
        filter: &CaseFilter,
        offset: u64,
        limit: u32,
    ) -> Result<(Vec<Case>, u64), StoreError>;
    /// Every version of every detection rule, by id then version.
    async fn rules(&mut self) -> Result<Vec<verdict_model::DetectionRule>, StoreError>;
    /// What a rule version fired on, newest hour first, up to `limit`.
    async fn rule_results(&mut self, rule_id: &str, version: u32, limit: u32) -> Result<Vec<RuleResult>, StoreError>;
    /// The latest hour whose evaluation is done.
    async fn last_rules_evaluation(&mut self) -> Result<Option<i64>, StoreError>;
    /// A tenant's usage slices from hour `from_hour` on.
    async fn usage_hours(&mut self, tenant: &str, from_hour: i64) -> Result<Vec<UsageSlice>, StoreError>;
    /// A case's timeline, oldest first.
    async fn case_events(&mut self, id: &str) -> Result<Vec<CaseEvent>, StoreError>;
    /// Every guard, by id.
    async fn guards(&mut self) -> Result<Vec<Guard>, StoreError>;
    /// One appeal.
    async fn appeal(&mut self, id: &str) -> Result<Option<Appeal>, StoreError>;
    /// Appeals, newest first, optionally of one tenant.
    async fn appeals(&mut self, tenant: Option<&str>) -> Result<Vec<Appeal>, StoreError>;
    /// Notices, newest first, optionally of one tenant.
    async fn notices(&mut self, tenant: Option<&str>) -> Result<Vec<Notice>, StoreError>;
    /// One notice.
    async fn notice(&mut self, id: &str) -> Result<Option<Notice>, StoreError>;
    /// Undelivered outbox items due by `now_ms`, oldest first.
    async fn outbox_due(&mut self, now_ms: i64, limit: u32) -> Result<Vec<OutboxItem>, StoreError>;
    /// Every outbox item of a notice.
    async fn outbox_of(&mut self, notice_id: &str) -> Result<Vec<OutboxItem>, StoreError>;
    /// The console session whose secret hashes to `id_hash`.
    async fn session(&mut self, id_hash: &[u8; 32]) -> Result<Option<Session>, StoreError>;
    /// Every user (revoked ones too) with its token hash, by name.
    async fn users(&mut self) -> Result<Vec<(User, [u8; 32])>, StoreError>;
    /// How many entries the log holds (the next entry's index).
    async fn log_size(&mut self) -> Result<u64, StoreError>;
    /// Every log entry's leaf hash, in index order. Fails with
    /// [`StoreError::Corrupt`] if the indexes are not 0, 1, 2, ….
    async fn log_leaves(&mut self) -> Result<Vec<[u8; 32]>, StoreError>;
    /// The public entries with index in `start..end`, in order.
    async fn log_entries(&mut self, start: u64, end: u64) -> Result<Vec<Vec<u8>>, StoreError>;
    /// Up to `limit` whole log records from index `start` on, in order.
    async fn log_records(&mut self, start: u64, limit: u32) -> Result<Vec<LogRecord>, StoreError>;
    /// Up to `limit` records of the entries that concern `tenant`, before
    /// index `before`, newest first.
    async fn tenant_log_records(&mut self, tenant: &str, before: u64, limit: u32)
    -> Result<Vec<LogRecord>, StoreError>;
    /// The ids of orders whose expiry has been logged.
    async fn logged_expiries(&mut self) -> Result<Vec<String>, StoreError>;
    /// Every stored signed checkpoint (tree size, note), smallest first.
    async fn checkpoints(&mut self) -> Result<Vec<(u64, String)>, StoreError>;
}

/// One write transaction: reads that see its own writes, the writes, and
/// the commit. Dropped without [`StoreTx::commit`], it rolls back.
#[async_trait]
pub trait StoreTx: Reads {
    /// Applies writes in order. `progress` is told how many are written.
    async fn apply(
        &mut self,
        at: Timestamp,
        ops: &[Op],
        progress: &(dyn Fn(usize) + Send + Sync),
    ) -> Result<(), StoreError>;
    /// Appends log entries, each with its change-feed row; the first must
    /// take the log's next index and the rest follow it. Returns each
    /// row's sequence number.
    async fn append(&mut self, entries: &[Appended]) -> Result<Vec<u64>, StoreError>;
    /// Records usage events as counted, each by its hour and the digest of
    /// its id; returns those counted before, which the caller leaves out.
    /// Concurrent claims take turns (on PostgreSQL, until the transaction
    /// ends), so each sees the ids the other counted.
    async fn claim_usage_ids(
        &mut self,
        ids: &[(i64, i64)],
    ) -> Result<std::collections::HashSet<(i64, i64)>, StoreError>;
    /// The numbers of usage series (distinct), in order, numbering those
    /// new to the store.
    async fn usage_series_ids(&mut self, series: &[UsageSeries]) -> Result<Vec<i64>, StoreError>;
    /// Claims the evaluation of the rules at the close of `hour`; false if
    /// it was claimed before (by this server or another).
    async fn claim_rules_hour(&mut self, hour: i64) -> Result<bool, StoreError>;
    /// Stores a signed checkpoint (tree size, note) if none of its size is.
    async fn put_checkpoint(&mut self, size: u64, note: &str) -> Result<(), StoreError>;
    /// Commits; durable when it returns if the store commits durably.
    async fn commit(self: Box<Self>) -> Result<(), StoreError>;
}
