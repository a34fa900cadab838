//! The transparency log's read side: the signed checkpoint, tiles, proofs,
//! receipts and private records as readers see them, and the checks that
//! the stored history is the one this log signed (on start and in `fsck`).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use verdict_log::{Checkpoint, Hash, Receipt, TileId, Tree, VerifierKey, leaf_hash};
use verdict_store::{LogRecord, Page, Store};

use crate::error::LogError;
use crate::log::{SignedCheckpoint, commitment, hex};
use crate::{Core, CoreError};

/// Why a stored history is not the one this log signed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HistoryError {
    /// The entries cannot be read as 0, 1, 2, … (one is missing, say).
    #[error("the stored log cannot be read in order: {0}")]
    Unreadable(String),
    /// The store holds fewer entries than a signed checkpoint covers.
    #[error("entry {index}: missing — a signed checkpoint covers {signed} entries, the store holds {index}")]
    Missing {
        /// The first missing entry (the store's size).
        index: u64,
        /// The size of the largest checkpoint signed.
        signed: u64,
    },
    /// The entries no longer reproduce a signed checkpoint.
    #[error(
        "entry {good}: the stored log differs from the history this log signed — the checkpoint of {good} entries \
         still verifies, the one of {bad} does not, so an entry from {good} on was rewritten, reordered or replaced; \
         refusing to sign over it (restore the store from a backup)"
    )]
    Differs {
        /// The largest checkpoint the entries still reproduce, which is
        /// also the index of the first entry that can differ.
        good: u64,
        /// The smallest one they do not.
        bad: u64,
    },
    /// A stored checkpoint is not signed by this log's key.
    #[error("the stored checkpoint of {size} entries does not verify with this log's key: {why}")]
    BadCheckpoint {
        /// Its size.
        size: u64,
        /// Why.
        why: String,
    },
}

impl HistoryError {
    /// The stable code.
    pub fn code(&self) -> &'static str {
        match self {
            HistoryError::Unreadable(_) => "log-unreadable",
            HistoryError::Missing { .. } => "log-entry-missing",
            HistoryError::Differs { .. } => "log-rewritten",
            HistoryError::BadCheckpoint { .. } => "checkpoint-invalid",
        }
    }
}

/// Checks that `tree` reproduces every signed checkpoint (size, note),
/// smallest first, and so extends each: the condition for signing anything
/// over it. Once a prefix of the log differs, every longer prefix differs
/// too, so the first checkpoint the tree no longer reproduces is found by
/// bisection; each checkpoint the search relies on is verified with `key`
/// (O(log n) signatures, not one per checkpoint).
pub(crate) fn check_history(tree: &Tree, checkpoints: &[(u64, String)], key: &VerifierKey) -> Result<(), HistoryError> {
    let open = |(size, note): &(u64, String)| -> Result<Checkpoint, HistoryError> {
        let checkpoint =
            Checkpoint::open(note, key).map_err(|e| HistoryError::BadCheckpoint { size: *size, why: e.to_string() })?;
        if checkpoint.size != *size {
            return Err(HistoryError::BadCheckpoint {
                size: *size,
                why: format!("it says {} entries", checkpoint.size),
            });
        }
        Ok(checkpoint)
    };
    let Some(largest) = checkpoints.last() else { return Ok(()) };
    let largest = open(largest)?;
    if largest.size > tree.size() {
        return Err(HistoryError::Missing { index: tree.size(), signed: largest.size });
    }
    let reproduces = |c: &Checkpoint| tree.root_at(c.size).is_ok_and(|root| root == c.root);
    if reproduces(&largest) {
        return Ok(());
    }
    // Invariant: checkpoints[..low] reproduce, checkpoints[high..] do not.
    let (mut low, mut high) = (0, checkpoints.len() - 1);
    while low < high {
        let mid = low + (high - low) / 2;
        if reproduces(&open(&checkpoints[mid])?) {
            low = mid + 1;
        } else {
            high = mid;
        }
    }
    let good = if high == 0 { 0 } else { checkpoints[high - 1].0 };
    Err(HistoryError::Differs { good, bad: checkpoints[high].0 })
}

/// What `fsck` found in a store's log and state.
#[derive(Debug, Clone, Default)]
pub struct Fsck {
    /// Log entries read.
    pub size: u64,
    /// Change records read.
    pub changes: u64,
    /// Orders read.
    pub orders: u64,
    /// Every problem, each naming the entry, change or order it concerns.
    pub problems: Vec<String>,
}

/// Checks a store offline: the log by itself (contiguous, each entry
/// hashing to its leaf and matching its commitment), the store against the
/// log (each change has its entry, each order its creation and lifting),
/// and the log against every signed checkpoint kept, as a server does
/// before it opens.
pub async fn fsck(store: &dyn Store, key: Option<&VerifierKey>) -> Result<Fsck, CoreError> {
    let mut store = store.read().await?;
    let mut problems: Vec<String> = Vec::new();

    // The log by itself: contiguous, each entry matching its leaf hash and
    // its private record matching its commitment.
    let mut leaves = Vec::new();
    let mut entries: HashMap<u64, (String, Option<String>)> = HashMap::new();
    let mut leaf_of: HashMap<u64, Hash> = HashMap::new();
    let mut next = 0u64;
    // A gap ends the walk: everything after it is misplaced anyway.
    'records: loop {
        let batch = store.log_records(next, 10_000).await?;
        if batch.is_empty() {
            break;
        }
        for record in batch {
            if record.index != next {
                problems.push(format!("entry {next}: missing (the next stored entry is {})", record.index));
                break 'records;
            }
            let i = record.index;
            let computed = leaf_hash(&record.entry);
            if computed != record.leaf_hash {
                problems.push(format!("entry {i}: its bytes do not hash to its stored leaf hash"));
            }
            match serde_json::from_slice::<serde_json::Value>(&record.entry) {
                Err(e) => problems.push(format!("entry {i}: not JSON ({e})")),
                Ok(v) => {
                    if v["type"] != record.kind.as_str() {
                        problems.push(format!("entry {i}: says type {} but is stored as {}", v["type"], record.kind));
                    }
                    if v["commitment"] != commitment(&record.salt, &record.private).as_str() {
                        problems.push(format!(
                            "entry {i}: its private record (salt {}) does not match its commitment",
                            hex(&record.salt)
                        ));
                    }
                }
            }
            leaves.push(record.leaf_hash);
            leaf_of.insert(i, computed);
            entries.insert(i, (record.kind, record.subject));
            next += 1;
        }
    }
    let size = leaves.len() as u64;
    let tree = Tree::from_leaves(leaves);

    // A store older than its log starts with a `log.started` entry; what it
    // did before that has no entries.
    let adopted = entries.get(&0).is_some_and(|(kind, _)| kind == "log.started");
    let lifted: std::collections::HashSet<&str> = entries
        .values()
        .filter(|(kind, _)| kind == "order.lifted")
        .filter_map(|(_, subject)| subject.as_deref())
        .collect();
    // The store against the log: each change has its entry, of its kind.
    let mut changes = 0u64;
    let mut logged_changes: BTreeMap<u64, u64> = BTreeMap::new();
    let mut after = 0;
    loop {
        let batch = store.changes(after, 10_000).await?;
        if batch.is_empty() {
            break;
        }
        for change in &batch {
            changes += 1;
            after = change.seq;
            match change.log_index {
                None if adopted => {}
                None => problems.push(format!("change {} ({}) has no log entry", change.seq, change.kind)),
                Some(i) => match entries.get(&i) {
                    None => problems
                        .push(format!("change {} ({}) names log entry {i}, which is missing", change.seq, change.kind)),
                    Some((kind, _)) if *kind != change.kind => problems
                        .push(format!("change {} is a {} but log entry {i} is a {kind}", change.seq, change.kind)),
                    Some(_) if change.log_leaf.is_some() && change.log_leaf != leaf_of.get(&i).copied() => {
                        problems.push(format!(
                            "entry {i}: not the entry change {} ({}) committed; the log was reordered or rewritten here",
                            change.seq, change.kind
                        ));
                    }
                    Some(_) => {
                        logged_changes.insert(i, change.seq);
                    }
                },
            }
        }
    }
    for i in 0..size {
        if !logged_changes.contains_key(&i) {
            problems.push(format!("entry {i}: no change in the store records it"));
        }
    }
    // Orders against their entries.
    let mut orders = 0u64;
    let mut page = Page { after: None, limit: 1000 };
    loop {
        let batch = store.orders(None, &page).await?;
        let done = batch.len() < page.limit as usize;
        page.after = batch.last().map(|o| o.id.clone());
        for order in &batch {
            orders += 1;
            match order.log_index.and_then(|i| entries.get(&i).map(|e| (i, e))) {
                None if adopted && order.log_index.is_none() => {}
                None => problems.push(format!("order {}: its creation is not in the log", order.id)),
                Some((i, (kind, subject))) => {
                    let creation = ["order.created", "order.proposed", "order.amended"].contains(&kind.as_str());
                    if !creation || subject.as_deref() != Some(order.id.as_str()) {
                        problems.push(format!("order {}: log entry {i} is not its creation", order.id));
                    }
                }
            }
            if order.lifted_at.is_some() && order.log_index.is_some() && !lifted.contains(order.id.as_str()) {
                problems.push(format!("order {}: lifted, but the lifting is not in the log", order.id));
            }
        }
        if done {
            break;
        }
    }

    // Against every signed checkpoint the store kept: the same check a
    // server makes before it opens.
    let checkpoints = store.checkpoints().await?;
    match key {
        None => problems.push("the data directory has no log.key to check the signed checkpoints with".to_owned()),
        Some(_) if checkpoints.is_empty() && size > 0 => problems.push("no signed checkpoint is stored".to_owned()),
        Some(key) => {
            if let Err(e) = check_history(&tree, &checkpoints, key) {
                problems.push(e.to_string());
            }
        }
    }
    Ok(Fsck { size, changes, orders, problems })
}

impl Core {
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
            return tree
                .tile(tile, size)
                .map_err(|e| LogError::TileNotFound { path: tile.path(), why: e.to_string() }.into());
        }
        if end > size {
            return Err(LogError::TileNotFound {
                path: tile.path(),
                why: format!("it covers entries {start}..{end}, beyond the log's {size} entries"),
            }
            .into());
        }
        let entries = self.reads().await?.log_entries(start, end).await?;
        verdict_log::encode_bundle(entries.iter().map(Vec::as_slice))
            .map_err(|e| CoreError::Internal(format!("cannot bundle entries {start}..{end}: {e}")))
    }

    fn check_size(&self, what: &'static str, size: u64) -> Result<(), CoreError> {
        let published = self.published.load().checkpoint.size;
        if size > published {
            return Err(LogError::SizeBeyondCheckpoint { what, size, published }.into());
        }
        Ok(())
    }

    /// The inclusion proof of entry `index` in the tree of `size` entries.
    pub fn inclusion_proof(&self, index: u64, size: u64) -> Result<Vec<Hash>, CoreError> {
        self.check_size("size", size)?;
        if index >= size {
            return Err(LogError::IndexNotInTree { index, size }.into());
        }
        let tree = self.tree.read().unwrap_or_else(|e| e.into_inner());
        tree.inclusion_proof(index, size).map_err(|_| LogError::IndexNotInTree { index, size }.into())
    }

    /// The consistency proof from the tree of `old` entries to that of `new`.
    pub fn consistency_proof(&self, old: u64, new: u64) -> Result<Vec<Hash>, CoreError> {
        self.check_size("new", new)?;
        if old == 0 || old > new {
            return Err(LogError::InvalidRange { old, new }.into());
        }
        let tree = self.tree.read().unwrap_or_else(|e| e.into_inner());
        tree.consistency_proof(old, new).map_err(|_| LogError::InvalidRange { old, new }.into())
    }

    /// A tlog-proof receipt for entry `index` against the latest checkpoint.
    /// Its `extra` line carries the entry itself, so the receipt verifies
    /// offline on its own.
    pub async fn receipt(&self, index: u64) -> Result<Receipt, CoreError> {
        let signed = self.checkpoint();
        let size = signed.checkpoint.size;
        if index >= size {
            return Err(LogError::NoEntry { index, size }.into());
        }
        let entry = self.reads().await?.log_entries(index, index + 1).await?.pop();
        let proof = self.inclusion_proof(index, size)?;
        Ok(Receipt { extra: entry, index, proof, checkpoint: signed.note.clone() })
    }

    /// Entries `start..end` of the published log (those beyond its latest
    /// checkpoint left out), each as logged: the public parts.
    pub async fn log_entries(&self, start: u64, end: u64) -> Result<Vec<Vec<u8>>, CoreError> {
        let end = end.min(self.published.load().checkpoint.size);
        if start >= end {
            return Ok(Vec::new());
        }
        Ok(self.reads().await?.log_entries(start, end).await?)
    }

    /// The whole stored record of entry `index`: public entry, private
    /// record and salt.
    pub async fn log_record(&self, index: u64) -> Result<LogRecord, CoreError> {
        let size = self.published.load().checkpoint.size;
        if index >= size {
            return Err(LogError::NoEntry { index, size }.into());
        }
        self.reads()
            .await?
            .log_records(index, 1)
            .await?
            .pop()
            .filter(|r| r.index == index)
            .ok_or_else(|| CoreError::Internal(format!("log entry {index} is covered by a checkpoint but not stored")))
    }

    /// Up to `limit` records of the published entries that concern
    /// `tenant`, before index `before` (all published ones if none), newest
    /// first: what the tenant's users check against the entries' public
    /// commitments.
    pub async fn tenant_log_records(
        &self,
        tenant: &str,
        before: Option<u64>,
        limit: u32,
    ) -> Result<Vec<LogRecord>, CoreError> {
        let size = self.published.load().checkpoint.size;
        let before = before.map_or(size, |b| b.min(size));
        Ok(self.reads().await?.tenant_log_records(tenant, before, limit).await?)
    }
}
