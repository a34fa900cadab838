//! The ledger: the one write path of the control plane. A governance action
//! begins a [`Tx`], reads what it decides on through it, writes one or more
//! changes (each with its transparency-log entry) and commits them together;
//! then the derived state — the Merkle tree, the writer's snapshot, the
//! inventory index, the expiry queue, the token directory — is brought up to
//! date from what was committed, by one code path, and the action waits
//! until a sync made it durable and a signed checkpoint covers it.
//!
//! **Architecture invariant**: serialisation comes from the store
//! ([`verdict_store::Store::begin`] takes its write lock, across processes
//! and servers); the process-local writer mutex only orders the derived
//! state. Other servers may commit to the same store: every action first
//! absorbs what they committed (`absorb`, from the change table, whose rows
//! carry their engine changes), so it decides on the store's state and
//! appends at the log's real head; between actions, `follow` does the same
//! as soon as the store says something changed. Every
//! legality check of an action reads through its `Tx`, inside the
//! transaction that commits it. A `Tx` dropped without commit rolls back and
//! leaves no trace in memory either, because derived state is touched only
//! after the store committed.

use std::collections::BTreeSet;
use std::sync::Arc;

use serde_json::json;
use tokio::sync::MutexGuard;
use verdict_engine::{Change, Snapshot};
use verdict_log::Hash;
use verdict_model::Timestamp;
use verdict_store::{Appended, Op, StoreTx};

use crate::failpoint;
use crate::feed;
use crate::follow::encode_delta;
use crate::index::{InventoryIndex, Locator};
use crate::log::{Actor, Draft, SignedCheckpoint};
use crate::{Core, CoreError};

/// What only the writer touches.
pub(crate) struct Writer {
    /// The snapshot after the last commit (durable or not yet).
    pub(crate) snapshot: Arc<Snapshot>,
    /// Orders with an end whose expiry is not logged yet: (end, id).
    pub(crate) expiries: BTreeSet<(Timestamp, String)>,
    /// Which tenant holds a subscription id, for the inventory index.
    pub(crate) locator: Locator,
}

/// A change ready to write: its store writes, its engine changes and its
/// log entry.
pub(crate) struct Prepared {
    pub(crate) at: Timestamp,
    pub(crate) summary: serde_json::Value,
    pub(crate) ops: Vec<Op>,
    pub(crate) changes: Vec<Change>,
    pub(crate) draft: Draft,
}

/// One governance action in progress: a store transaction holding the
/// store's write lock, and what its commit will bring into memory.
pub(crate) struct Tx<'a> {
    core: &'a Core,
    writer: MutexGuard<'a, Writer>,
    store: Box<dyn StoreTx>,
    /// The index the next entry takes.
    next: u64,
    now: Timestamp,
    leaves: Vec<Hash>,
    changes: Vec<Change>,
    version: Option<u64>,
    users_changed: bool,
    expired: Vec<String>,
}

impl Core {
    /// Begins a governance action: the store's write lock, then whatever
    /// other servers committed since this one last looked, then the log's
    /// length as the store has it (which must now be this server's tree).
    pub(crate) async fn begin(&self) -> Result<Tx<'_>, CoreError> {
        let mut writer = self.writer.lock().await;
        let mut store = self.store.begin().await?;
        self.absorb(&mut writer, store.as_mut(), true).await?;
        let next = store.log_size().await?;
        let size = self.tree_size();
        if next != size {
            return Err(CoreError::Internal(format!(
                "the store's log holds {next} entries but this server's tree {size} after catching up; \
                 the change table and the log disagree (run `verdict log fsck`)"
            )));
        }
        Ok(Tx {
            core: self,
            writer,
            store,
            next,
            now: self.clock.now(),
            leaves: Vec::new(),
            changes: Vec::new(),
            version: None,
            users_changed: false,
            expired: Vec::new(),
        })
    }

    /// Pushes `leaves` onto the tree; its new size and root. Only a
    /// committing action does this, holding the writer lock; readers ask
    /// for sizes up to the published checkpoint, so they never see leaves
    /// that a failed commit takes back.
    pub(crate) fn grow_tree(&self, leaves: &[Hash]) -> (u64, Hash) {
        let mut tree = self.tree.write().unwrap_or_else(|e| e.into_inner());
        for leaf in leaves {
            tree.push(*leaf);
        }
        (tree.size(), tree.root())
    }

    /// Takes back the leaves of an action that did not commit.
    pub(crate) fn truncate_tree(&self, size: u64) {
        self.tree.write().unwrap_or_else(|e| e.into_inner()).truncate(size);
    }

    /// The size of the tree of every committed entry.
    pub(crate) fn tree_size(&self) -> u64 {
        self.tree.read().unwrap_or_else(|e| e.into_inner()).size()
    }

    /// After a commit: the new leaves join the tree, the writer's snapshot
    /// and the inventory index take the changes (rebuilt from the store if
    /// they cannot), the expiry queue and the token directory follow, and
    /// that point waits for a sync. Returns the log's size.
    pub(crate) async fn committed(&self, w: &mut Writer, done: Committed) -> Result<u64, CoreError> {
        let Committed { checkpoint, changes, version, users_changed, expired } = done;
        let size = checkpoint.checkpoint.size;
        let (changes, streamed) = match changes {
            Some(changes) => match w.snapshot.apply(&changes, version) {
                Ok(next) => {
                    w.snapshot = Arc::new(next);
                    let streamed = if changes.len() > feed::MAX_STREAMED_CHANGES {
                        Err(feed::TOO_LARGE)
                    } else {
                        Ok(changes.clone())
                    };
                    (changes, streamed)
                }
                Err(e) => {
                    tracing::error!(error = %e, "snapshot update failed after commit; recompiling from the store");
                    w.snapshot = Arc::new(Self::compile(self.store.as_ref()).await?);
                    (changes, Err(feed::RECOMPILED))
                }
            },
            None => {
                // Another server's change too large to carry: the store's
                // state, read whole (the caller holds the store's write
                // lock); the snapshot, index and expiry queue are rebuilt, so
                // nothing below has changes to follow.
                self.rebuild(w).await?;
                (Vec::new(), Err(feed::RECOMPILED))
            }
        };
        self.unpublished.lock().unwrap_or_else(|e| e.into_inner()).push((version, streamed));
        for change in &changes {
            if let Change::PutOrder(order) = change
                && let Some(end) = order.spec.end
            {
                let key = (end, order.id.clone());
                // An order lifted before its end never expires.
                if order.is_effective() && order.lifted_at.is_none_or(|lifted| lifted > end) {
                    w.expiries.insert(key);
                } else {
                    w.expiries.remove(&key);
                }
            }
        }
        for id in &expired {
            w.expiries.retain(|(_, queued)| queued != id);
        }
        if !changes.is_empty() {
            // Published now, not at the sync: previews (and the approvals
            // bound to them) see what is committed, as the store shows it.
            let catalog = w.snapshot.catalog();
            match self.inventory.load().apply(catalog, &changes, &mut w.locator) {
                Ok(next) => self.inventory.store(Arc::new(next)),
                Err(e) => {
                    tracing::error!(error = %e, "inventory index update failed after commit; rebuilding from the store");
                    let loaded = self.reads().await?.load().await?;
                    let (index, locator) = InventoryIndex::build(catalog, &loaded.inventory);
                    w.locator = locator;
                    self.inventory.store(Arc::new(index));
                }
            }
        }
        if users_changed {
            self.refresh_directory().await?;
        }
        *self.pending.lock().unwrap_or_else(|e| e.into_inner()) =
            crate::Pending { checkpoint, snapshot: w.snapshot.clone() };
        Ok(size)
    }

    /// Waits until the log of `size` entries is durable and signed. The
    /// first waiter syncs for everyone committed so far; the others find
    /// their entry covered when it is done (group commit).
    pub(crate) async fn make_durable(&self, size: u64) -> Result<(), CoreError> {
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
            self.engine.publish((*target.snapshot).clone());
            self.versions.send_replace(target.snapshot.version());
            self.feed.publish(target.snapshot.clone(), self.take_unpublished(target.snapshot.version()));
            self.published.store(target.checkpoint);
        }
    }

    /// Appends log entries that change nothing else (case and notice
    /// events), as one transaction; returns each draft's index or why it
    /// was refused. An entry that fails to seal is refused alone.
    pub(crate) async fn append_drafts(
        &self,
        drafts: Vec<(Actor, Draft)>,
    ) -> Result<Vec<Result<u64, CoreError>>, CoreError> {
        let mut tx = self.begin().await?;
        let at = tx.now;
        let mut appended = Vec::with_capacity(drafts.len());
        let mut answers = Vec::with_capacity(drafts.len());
        for (actor, draft) in drafts {
            // The next free index: a refused entry leaves no gap.
            match draft.seal(tx.next + appended.len() as u64, at, &actor) {
                Ok(record) => {
                    answers.push(Ok(record.index));
                    let delta = Some("[]".to_owned());
                    appended.push(Appended { at, summary: json!({"log_index": record.index}), record, delta });
                }
                Err(e) => answers.push(Err(e)),
            }
        }
        if appended.is_empty() {
            return Ok(answers);
        }
        tx.append(&appended).await?;
        tx.commit().await?;
        Ok(answers)
    }
}

/// What a commit brings into memory.
pub(crate) struct Committed {
    pub(crate) checkpoint: Arc<SignedCheckpoint>,
    /// The engine changes; `None` when they are not known (another server
    /// made too many to carry) and the derived state is rebuilt instead.
    pub(crate) changes: Option<Vec<Change>>,
    pub(crate) version: u64,
    pub(crate) users_changed: bool,
    /// Orders whose end was logged.
    pub(crate) expired: Vec<String>,
}

impl Tx<'_> {
    /// The instant the action happens at (read once, at its start).
    pub(crate) fn now(&self) -> Timestamp {
        self.now
    }

    /// The snapshot as of the last commit: what the store holds.
    pub(crate) fn snapshot(&self) -> &Arc<Snapshot> {
        &self.writer.snapshot
    }

    /// The inventory index as of the last commit: what the store holds
    /// (this action holds the store's write lock).
    pub(crate) fn inventory_index(&self) -> Arc<crate::index::InventoryIndex> {
        self.core.inventory.load_full()
    }

    /// Reads for the action, inside its transaction.
    pub(crate) fn store(&mut self) -> &mut dyn StoreTx {
        self.store.as_mut()
    }

    /// The index the next entry written takes.
    pub(crate) fn next_index(&self) -> u64 {
        self.next
    }

    /// The expiry queue's first entry due by now.
    pub(crate) fn first_expiry_due(&self) -> Option<(Timestamp, String)> {
        self.writer.expiries.first().cloned().filter(|(end, _)| *end <= self.now)
    }

    /// Marks an order's end as logged by this action (the queue forgets it
    /// only if the action commits).
    pub(crate) fn expiry_logged(&mut self, id: String) {
        self.expired.push(id);
    }

    /// Writes one change and its log entry; returns the entry's index.
    pub(crate) async fn write(&mut self, actor: &Actor, change: Prepared) -> Result<u64, CoreError> {
        self.write_with_progress(actor, change, &|_| ()).await
    }

    /// [`Tx::write`], telling `progress` how many writes are done.
    pub(crate) async fn write_with_progress(
        &mut self,
        actor: &Actor,
        change: Prepared,
        progress: &(dyn Fn(usize) + Send + Sync),
    ) -> Result<u64, CoreError> {
        let Prepared { at, summary, ops, changes, draft } = change;
        let record = draft.seal(self.next, at, actor)?;
        failpoint::hit("ledger.before-ops")?;
        self.store.apply(at, &ops, progress).await?;
        failpoint::hit("ledger.after-ops")?;
        let index = record.index;
        let delta = encode_delta(&changes)?;
        self.append(&[Appended { at, summary, record, delta }]).await?;
        self.changes.extend(changes);
        self.users_changed |= ops.iter().any(|op| matches!(op, Op::PutUser { .. } | Op::RevokeUser { .. }));
        Ok(index)
    }

    /// Appends entries at the next indexes; the tree takes their leaves at
    /// the commit.
    async fn append(&mut self, appended: &[Appended]) -> Result<(), CoreError> {
        let seqs = self.store.append(appended).await?;
        failpoint::hit("ledger.after-entry")?;
        self.next += appended.len() as u64;
        self.leaves.extend(appended.iter().map(|a| a.record.leaf_hash));
        self.version = seqs.last().copied().or(self.version);
        Ok(())
    }

    /// Before the commit: the new leaves join the tree, and the checkpoint
    /// over them is signed and written into the transaction (`None` if the
    /// action appended nothing). On an error the caller truncates the tree.
    async fn seal(&mut self) -> Result<Option<Arc<SignedCheckpoint>>, CoreError> {
        let signed = if self.leaves.is_empty() {
            None
        } else {
            let (size, root) = self.core.grow_tree(&self.leaves);
            let signed = SignedCheckpoint::sign(&self.core.key, size, root)?;
            self.store.put_checkpoint(size, &signed.note).await?;
            Some(Arc::new(signed))
        };
        failpoint::hit("ledger.before-commit")?;
        Ok(signed)
    }

    /// Writes that are not governance changes and make no log entry (a
    /// notice's delivery state).
    pub(crate) async fn write_unlogged(&mut self, ops: &[Op]) -> Result<(), CoreError> {
        self.store.apply(self.now, ops, &|_| ()).await?;
        Ok(())
    }

    /// Commits everything written, brings the derived state up to date and
    /// returns once it is durable and signed: the version of the snapshot
    /// that holds it.
    pub(crate) async fn commit(mut self) -> Result<u64, CoreError> {
        let core = self.core;
        let start = self.next - self.leaves.len() as u64;
        // The checkpoint over the new entries is signed now and stored in
        // the same transaction: every checkpoint the log ever publishes is
        // in the store with the entries it covers, so a restart checks the
        // history against the newest one (a crash leaves no window).
        let checkpoint = match self.seal().await {
            Ok(checkpoint) => checkpoint,
            Err(e) => {
                core.truncate_tree(start);
                return Err(e);
            }
        };
        if let Err(e) = self.store.commit().await {
            core.truncate_tree(start);
            return Err(e.into());
        }
        let Some(version) = self.version else { return Ok(self.writer.snapshot.version()) };
        let checkpoint = checkpoint.ok_or_else(|| CoreError::Internal("a new version without a log entry".into()))?;
        // From here on a failure is a crash: nothing may refuse between the
        // commit and the derived state, which a restart rebuilds anyway.
        failpoint::die_here("ledger.after-commit");
        let done = Committed {
            checkpoint,
            changes: Some(std::mem::take(&mut self.changes)),
            version,
            users_changed: self.users_changed,
            expired: std::mem::take(&mut self.expired),
        };
        let size = core.committed(&mut self.writer, done).await?;
        drop(self.writer);
        core.make_durable(size).await?;
        failpoint::hit("ledger.after-publish")?;
        Ok(version)
    }
}

impl Core {
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
        let (drafts, replies): (Vec<_>, Vec<_>) =
            queued.into_iter().map(|(actor, draft, reply)| ((actor, draft), reply)).unzip();
        match self.append_drafts(drafts).await {
            Ok(answers) => {
                for (answer, reply) in answers.into_iter().zip(replies) {
                    let _ = reply.send(answer);
                }
            }
            Err(e) => {
                for reply in replies {
                    let _ = reply.send(Err(CoreError::Internal(format!("the group commit failed: {e}"))));
                }
            }
        }
    }
}
