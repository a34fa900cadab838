//! verdict's decision engine: compiles inventory and orders into an
//! immutable [`Snapshot`] and answers "may this subscription do this action
//! on this service at this instant?".
//!
//! **API boundary**: every decision in verdict — AuthZEN, gateways, the CLI,
//! benchmarks — is answered by [`Snapshot::decide`]; nothing re-implements
//! the semantics elsewhere.
//!
//! **Architecture invariant**: a snapshot is derived state. It is never
//! mutated once published; a change produces a new snapshot that shares all
//! untouched pieces with the old one ([`Snapshot::apply`]), and the
//! [`Engine`] swaps it in atomically. Deciding takes no lock and allocates
//! nothing.

mod catalog;
mod cpu;
mod decision;
mod persistent;
pub mod replica;
mod snapshot;

use std::sync::Arc;

use arc_swap::ArcSwap;

pub use decision::{Basis, Decision, Explanation, Facts};
pub use replica::{ChangeSet, SnapshotDocument};
pub use snapshot::{Change, EngineError, OrderRef, Query, ScopeRule, Snapshot};
use verdict_model::Timestamp;

/// Holds the current snapshot and swaps in new ones under live traffic.
pub struct Engine {
    current: ArcSwap<Snapshot>,
}

impl Engine {
    /// An engine serving `snapshot`.
    pub fn new(snapshot: Snapshot) -> Engine {
        Engine { current: ArcSwap::from_pointee(snapshot) }
    }

    /// The snapshot in force now; holding it keeps it alive.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.current.load_full()
    }

    /// Publishes a new snapshot; decisions already running finish on the old.
    pub fn publish(&self, snapshot: Snapshot) {
        self.current.store(Arc::new(snapshot));
    }

    /// Decides on the current snapshot without taking a lock.
    #[inline]
    pub fn decide(&self, subscription: &str, service: &str, action: &str, at: Timestamp) -> Decision {
        self.current.load().decide(subscription, service, action, at)
    }
}
