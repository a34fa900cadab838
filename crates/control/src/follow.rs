//! Following the store: what other servers over the same store committed
//! is brought into this server's derived state — the Merkle tree, the
//! snapshot, the inventory index, the expiry queue, the token directory,
//! the feed — from the change table, whose rows carry their log leaf and
//! their engine changes.
//!
//! Two paths lead here. Every governance action absorbs first, inside its
//! store transaction (holding the store's write lock, so what it reads is
//! the store's whole state). Between actions, [`Core::follow_forever`] looks
//! whenever the store says something changed (PostgreSQL's `LISTEN`) and at
//! least every [`POLL`]: without the lock it reads committed rows only, which
//! writers serialised by that lock always commit in version order, so what
//! it reads is a prefix of the history. A row without its engine changes
//! (an import too large to carry) is absorbed only under the lock, by
//! rebuilding from the store.

use std::collections::{BTreeSet, HashSet};
use std::sync::Arc;
use std::time::Duration;

use verdict_engine::Change;
use verdict_model::Timestamp;
use verdict_store::{ChangeRecord, Loaded, Reads};

use crate::feed;
use crate::index::InventoryIndex;
use crate::ledger::{Committed, Writer};
use crate::log::SignedCheckpoint;
use crate::{Core, CoreError};

/// How often a server looks at the change table when the store does not
/// tell it (SQLite; PostgreSQL while its `LISTEN` connection is down).
pub const POLL: Duration = Duration::from_millis(250);

/// Under a stream of changes, a server looks at most once per this: the
/// changes notified meanwhile are absorbed in one pass (one read, one
/// signature, one feed frame) rather than one pass each, which at a
/// thousand changes a second would cost a fifth of a core. Idle, a change
/// is looked at as soon as it is notified.
pub const MIN_PASS: Duration = Duration::from_millis(5);

/// Change rows read at a time.
const CHANGES_PER_READ: u32 = 1000;

/// Encodes an action's engine changes for its change row; `None` when
/// they are too many to carry (followers rebuild instead).
pub(crate) fn encode_delta(changes: &[Change]) -> Result<Option<String>, CoreError> {
    if changes.len() > feed::MAX_STREAMED_CHANGES {
        return Ok(None);
    }
    serde_json::to_string(changes)
        .map(Some)
        .map_err(|e| CoreError::Internal(format!("cannot encode the engine changes: {e}")))
}

/// The orders whose end is still to be logged: (end, id).
pub(crate) fn expiries_of(loaded: &Loaded, logged: &HashSet<String>) -> BTreeSet<(Timestamp, String)> {
    loaded
        .orders
        .iter()
        .filter(|o| o.is_effective() && !logged.contains(&o.id))
        .filter_map(|o| {
            let end = o.spec.end?;
            // An order lifted before its end never expires.
            (o.lifted_at.is_none_or(|lifted| lifted > end)).then(|| (end, o.id.clone()))
        })
        .collect()
}

impl Core {
    /// Brings the derived state up to every change committed after the
    /// writer's snapshot, reading through `reads`. `locked`: the caller
    /// holds the store's write lock (inside an action), so rows without
    /// engine changes can be absorbed by rebuilding; otherwise absorbing
    /// stops before such a row and says so (`false`).
    pub(crate) async fn absorb(&self, w: &mut Writer, reads: &mut dyn Reads, locked: bool) -> Result<bool, CoreError> {
        let mut rows: Vec<ChangeRecord> = Vec::new();
        loop {
            let after = rows.last().map_or(w.snapshot.version(), |r| r.seq);
            let batch = reads.changes(after, CHANGES_PER_READ).await?;
            let last = batch.len() < CHANGES_PER_READ as usize;
            rows.extend(batch);
            if last {
                break;
            }
        }
        if rows.is_empty() {
            *self.caught_up_at.lock().unwrap_or_else(|e| e.into_inner()) = std::time::Instant::now();
            return Ok(true);
        }
        let mut complete = true;
        if !locked && let Some(cut) = rows.iter().position(|r| r.delta.is_none()) {
            rows.truncate(cut);
            complete = false;
            if rows.is_empty() {
                return Ok(false);
            }
        }
        let start = self.tree_size();
        let mut leaves = Vec::with_capacity(rows.len());
        let mut changes = Some(Vec::new());
        let mut users_changed = false;
        let mut expired = Vec::new();
        for row in &rows {
            let (Some(index), Some(leaf)) = (row.log_index, row.log_leaf) else {
                return Err(CoreError::Internal(format!("change {} names no log entry", row.seq)));
            };
            if index != start + leaves.len() as u64 {
                return Err(CoreError::Internal(format!(
                    "change {} records log entry {index} where this server expected {}; \
                     the change table and the log disagree (run `verdict log fsck`)",
                    row.seq,
                    start + leaves.len() as u64
                )));
            }
            leaves.push(leaf);
            match (&row.delta, &mut changes) {
                (Some(text), Some(all)) => {
                    let decoded: Vec<Change> = serde_json::from_str(text).map_err(|e| {
                        CoreError::Internal(format!(
                            "change {} carries engine changes that do not decode: {e}",
                            row.seq
                        ))
                    })?;
                    all.extend(decoded);
                }
                _ => changes = None,
            }
            users_changed |= row.kind.starts_with("user.");
            if row.kind == "order.expired"
                && let Some(id) = row.summary.get("order").and_then(|v| v.as_str())
            {
                expired.push(id.to_owned());
            }
        }
        let version = rows.last().map_or(0, |r| r.seq);
        let (size, root) = self.grow_tree(&leaves);
        // The same key over the same tree: byte for byte the checkpoint the
        // writing server signed (Ed25519 signatures are deterministic).
        let checkpoint = match SignedCheckpoint::sign(&self.key, size, root) {
            Ok(signed) => Arc::new(signed),
            Err(e) => {
                self.truncate_tree(start);
                return Err(e);
            }
        };
        let done = Committed { checkpoint, changes, version, users_changed, expired };
        let size = self.committed(w, done).await?;
        self.make_durable(size).await?;
        tracing::debug!(version, entries = leaves.len(), "absorbed changes committed by another server");
        Ok(complete)
    }

    /// Rebuilds the writer's snapshot, inventory index and expiry queue
    /// from the store as a whole.
    pub(crate) async fn rebuild(&self, w: &mut Writer) -> Result<(), CoreError> {
        let mut reads = self.reads().await?;
        let loaded = reads.load().await?;
        let logged: HashSet<String> = reads.logged_expiries().await?.into_iter().collect();
        drop(reads);
        w.snapshot = Arc::new(Self::compile_loaded(&loaded)?);
        let (index, locator) = InventoryIndex::build(w.snapshot.catalog(), &loaded.inventory);
        w.locator = locator;
        self.inventory.store(Arc::new(index));
        w.expiries = expiries_of(&loaded, &logged);
        Ok(())
    }

    /// Absorbs what other servers committed, once: without the store's
    /// lock while the rows carry their engine changes, under it otherwise.
    pub async fn follow(&self) -> Result<(), CoreError> {
        let complete = {
            let mut w = self.writer.lock().await;
            let mut reads = self.reads().await?;
            self.absorb(&mut w, reads.as_mut(), false).await?
        };
        if !complete {
            // Beginning an action absorbs under the lock; it then rolls back.
            drop(self.begin().await?);
        }
        Ok(())
    }

    /// Follows the store for as long as the task runs: when told (at most
    /// once per 5 ms), and every 250 ms in any case.
    pub async fn follow_forever(self: Arc<Core>) {
        let mut last = tokio::time::Instant::now();
        loop {
            self.store.await_change(POLL).await;
            tokio::time::sleep_until(last + MIN_PASS).await;
            last = tokio::time::Instant::now();
            if let Err(e) = self.follow().await {
                tracing::error!(error = %e, "cannot follow the store; retrying");
                tokio::time::sleep(POLL).await;
            }
        }
    }

    /// How long ago this server last found itself caught up with the store
    /// (zero-ish while it keeps up).
    pub fn behind_for(&self) -> Duration {
        self.caught_up_at.lock().unwrap_or_else(|e| e.into_inner()).elapsed()
    }

    /// The store's newest version and the one this server decides with:
    /// equal when it is caught up.
    pub async fn versions(&self) -> Result<(u64, u64), CoreError> {
        let newest = self.reads().await?.version().await?;
        Ok((newest, self.snapshot().version()))
    }
}
