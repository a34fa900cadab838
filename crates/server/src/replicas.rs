//! The replicas connected to this server's change stream (`GET /v1/watch`),
//! each with the version it has been sent and when: what the operations
//! page shows. A stream updates its own atomics as it sends; the shared
//! map is touched only when a replica connects or goes.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use verdict_model::Timestamp;

/// Every connected replica.
#[derive(Default)]
pub struct Replicas {
    next: AtomicU64,
    live: Mutex<BTreeMap<u64, Arc<Connection>>>,
}

/// One connected replica.
pub struct Connection {
    id: u64,
    /// The token's user (`pep` for the built-in one).
    pub name: String,
    /// Whether its token is scoped to part of the inventory.
    pub scoped: bool,
    /// Its `User-Agent`, if it sent one.
    pub agent: String,
    /// When it connected.
    pub connected_at: Timestamp,
    version: AtomicU64,
    sent_at: AtomicI64,
}

impl Connection {
    /// The version it has been sent (changes or a heartbeat).
    pub fn version(&self) -> u64 {
        self.version.load(Ordering::Relaxed)
    }

    /// When it was last sent anything, in seconds since the epoch.
    pub fn sent_at(&self) -> Timestamp {
        Timestamp(self.sent_at.load(Ordering::Relaxed))
    }

    /// Records what the stream sent.
    pub(crate) fn sent(&self, version: u64) {
        self.version.store(version, Ordering::Relaxed);
        self.sent_at.store(Timestamp::now().seconds(), Ordering::Relaxed);
    }
}

/// A replica's place in [`Replicas`]; dropping it removes the replica.
pub(crate) struct Registration {
    replicas: Arc<Replicas>,
    /// The connection it registered.
    pub connection: Arc<Connection>,
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.replicas.live.lock().unwrap_or_else(|p| p.into_inner()).remove(&self.connection.id);
    }
}

impl Replicas {
    /// Registers a replica that holds `version`.
    pub(crate) fn join(self: &Arc<Self>, name: &str, scoped: bool, agent: &str, version: u64) -> Registration {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let now = Timestamp::now();
        let connection = Arc::new(Connection {
            id,
            name: name.to_owned(),
            scoped,
            agent: agent.chars().take(120).collect(),
            connected_at: now,
            version: AtomicU64::new(version),
            sent_at: AtomicI64::new(now.seconds()),
        });
        self.live.lock().unwrap_or_else(|p| p.into_inner()).insert(id, connection.clone());
        Registration { replicas: self.clone(), connection }
    }

    /// The connected replicas, oldest connection first.
    pub fn list(&self) -> Vec<Arc<Connection>> {
        self.live.lock().unwrap_or_else(|p| p.into_inner()).values().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_replica_is_listed_while_connected_with_what_it_was_sent() {
        let replicas = Arc::new(Replicas::default());
        let a = replicas.join("pep-eu", false, "verdict-pep/0.1", 7);
        let b = replicas.join("pep-us", true, "", 3);
        b.connection.sent(9);
        let listed: Vec<(String, u64)> = replicas.list().iter().map(|c| (c.name.clone(), c.version())).collect();
        assert_eq!(listed, [("pep-eu".to_owned(), 7), ("pep-us".to_owned(), 9)]);
        drop(a);
        assert_eq!(replicas.list().len(), 1);
        drop(b);
        assert!(replicas.list().is_empty());
    }
}
