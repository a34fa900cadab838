//! Transparency-log entries for governance changes: the public entry, the
//! private record it commits to, and the signed view of the log that readers
//! get (see `docs/log-format.md`, a public contract).

use serde::Serialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use verdict_log::{Checkpoint, Hash, SigningKey};
use verdict_model::Timestamp;
use verdict_store::LogRecord;

use crate::CoreError;

/// The entry format version, `v` in every entry and private record.
pub const ENTRY_FORMAT: u32 = 1;

/// Entries are served in tlog-tiles bundles with a 16-bit length prefix.
pub const MAX_ENTRY_BYTES: usize = u16::MAX as usize;

/// Who made a change; recorded in the private part of its log entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor(String);

impl Actor {
    /// An actor by name, e.g. `admin` or `cli:alice`.
    pub fn new(name: impl Into<String>) -> Actor {
        Actor(name.into())
    }

    /// The holder of the data directory's admin token.
    pub fn admin() -> Actor {
        Actor::new("admin")
    }

    /// verdict itself (e.g. logging that an order reached its end).
    pub fn system() -> Actor {
        Actor::new("verdict")
    }

    /// The name.
    pub fn name(&self) -> &str {
        &self.0
    }
}

/// What a change contributes to its log entry before it is sealed.
#[derive(Debug, Clone)]
pub(crate) struct Draft {
    pub(crate) kind: &'static str,
    /// The order (or other object) the entry is about, if any.
    pub(crate) subject: Option<String>,
    /// The tenant it concerns, if any.
    pub(crate) tenant: Option<String>,
    /// The public part: no customer identities, no case details.
    pub(crate) public: Value,
    /// Units named, for the private record.
    pub(crate) units: Vec<String>,
    /// Subscriptions named, for the private record.
    pub(crate) subscriptions: Vec<String>,
    /// Everything else the private record keeps.
    pub(crate) facts: Value,
}

impl Draft {
    pub(crate) fn new(kind: &'static str, public: Value) -> Draft {
        Draft {
            kind,
            subject: None,
            tenant: None,
            public,
            units: Vec::new(),
            subscriptions: Vec::new(),
            facts: json!({}),
        }
    }

    pub(crate) fn tenant(mut self, tenant: &str) -> Draft {
        self.tenant = Some(tenant.to_owned());
        self
    }

    pub(crate) fn subject(mut self, subject: &str) -> Draft {
        self.subject = Some(subject.to_owned());
        self
    }

    pub(crate) fn units(mut self, units: impl IntoIterator<Item = impl ToString>) -> Draft {
        self.units = units.into_iter().map(|u| u.to_string()).collect();
        self
    }

    pub(crate) fn subscriptions(mut self, subs: impl IntoIterator<Item = impl ToString>) -> Draft {
        self.subscriptions = subs.into_iter().map(|s| s.to_string()).collect();
        self
    }

    pub(crate) fn facts(mut self, facts: Value) -> Draft {
        self.facts = facts;
        self
    }

    /// The entry and private record for log position `index`.
    pub(crate) fn seal(self, index: u64, time: Timestamp, actor: &Actor) -> Result<LogRecord, CoreError> {
        let mut salt = [0u8; 32];
        getrandom::fill(&mut salt).map_err(|e| CoreError::Internal(format!("no randomness for a salt: {e}")))?;
        let private = serde_json::to_vec(&PrivateRecord {
            v: ENTRY_FORMAT,
            kind: self.kind,
            time,
            actor: actor.name(),
            tenant: self.tenant.as_deref(),
            units: &self.units,
            subscriptions: &self.subscriptions,
            facts: &self.facts,
        })
        .map_err(|e| CoreError::Internal(format!("cannot encode a private record: {e}")))?;
        let entry = serde_json::to_vec(&Entry {
            v: ENTRY_FORMAT,
            kind: self.kind,
            time,
            public: &self.public,
            commitment: commitment(&salt, &private),
        })
        .map_err(|e| CoreError::Internal(format!("cannot encode a log entry: {e}")))?;
        if entry.len() > MAX_ENTRY_BYTES {
            return Err(crate::LogError::EntryTooLarge { kind: self.kind, bytes: entry.len() }.into());
        }
        Ok(LogRecord {
            index,
            kind: self.kind.to_owned(),
            subject: self.subject,
            tenant: self.tenant,
            leaf_hash: verdict_log::leaf_hash(&entry),
            entry,
            private,
            salt,
        })
    }
}

/// The public entry, as hashed into the log. Field order is the wire order.
#[derive(Serialize)]
struct Entry<'a> {
    v: u32,
    #[serde(rename = "type")]
    kind: &'a str,
    time: Timestamp,
    public: &'a Value,
    commitment: String,
}

/// The private record an entry commits to.
#[derive(Serialize)]
struct PrivateRecord<'a> {
    v: u32,
    #[serde(rename = "type")]
    kind: &'a str,
    time: Timestamp,
    actor: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    tenant: Option<&'a str>,
    units: &'a [String],
    subscriptions: &'a [String],
    facts: &'a Value,
}

/// `sha256:` and the lowercase hex of SHA-256(salt ‖ private record).
pub fn commitment(salt: &[u8], private: &[u8]) -> String {
    let mut hasher = Sha256::new();
    hasher.update(salt);
    hasher.update(private);
    format!("sha256:{}", hex(&hasher.finalize()))
}

/// Lowercase hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The log as readers see it: a signed checkpoint, and the tree it covers.
#[derive(Debug, Clone)]
pub struct SignedCheckpoint {
    /// The checkpoint.
    pub checkpoint: Checkpoint,
    /// Its signed note, as served at `/log/checkpoint`.
    pub note: String,
}

impl SignedCheckpoint {
    pub(crate) fn sign(key: &SigningKey, size: u64, root: Hash) -> Result<SignedCheckpoint, CoreError> {
        let checkpoint = Checkpoint { origin: key.name().to_owned(), size, root };
        let note = checkpoint.sign(key).map_err(|e| CoreError::Internal(format!("cannot sign a checkpoint: {e}")))?;
        Ok(SignedCheckpoint { checkpoint, note })
    }
}
