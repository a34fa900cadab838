//! The decision as every endpoint reports it: engine answer plus explanation.

use std::sync::Arc;
use std::time::Instant;

use serde::Serialize;
use verdict_engine::{Basis, Snapshot};
use verdict_model::{ActionClass, PhaseMode, Timestamp};

use crate::Metrics;

/// Where the decision endpoints get their snapshot: the server's own engine,
/// or a replica of it (the `verdict pep` sidecar).
pub trait DecisionSource: Send + Sync + 'static {
    /// The snapshot to decide on now.
    fn snapshot(&self) -> Arc<Snapshot>;
    /// Whether a decision on `service` may be made on that snapshot at all:
    /// a replica past its staleness limit refuses with a sentence saying
    /// why, and the request is denied (fail closed).
    fn admit(&self, service: &str) -> Result<(), String>;
}

/// What the decision endpoints share.
pub struct Decisions {
    /// The snapshot source.
    pub source: Arc<dyn DecisionSource>,
    /// Counters.
    pub metrics: Arc<Metrics>,
}

impl DecisionSource for verdict_core::Core {
    fn snapshot(&self) -> Arc<Snapshot> {
        verdict_core::Core::snapshot(self)
    }

    fn admit(&self, _: &str) -> Result<(), String> {
        Ok(())
    }
}

/// What the wire formats say about one decision.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct DecisionContext {
    /// `no-order`, `unknown-subscription`, `unknown-service`, `notice`,
    /// `export-window` or `restricted`.
    pub code: &'static str,
    /// One sentence for people.
    pub reason: String,
    /// The deciding order.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub order: Option<String>,
    /// Its clause.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub clause: Option<String>,
    /// Index of the order's entry in the transparency log
    /// (`GET /log/receipt/{index}` proves it is logged).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_index: Option<u64>,
    /// Its phase at the decision time.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phase: Option<PhaseMode>,
    /// When that phase began.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phase_start: Option<Timestamp>,
    /// The order's next phase, if one is scheduled.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_phase: Option<NextPhase>,
    /// The class the action was given.
    pub action_class: ActionClass,
    /// Whether the catalog lists the action (unlisted actions are `write`).
    pub action_known: bool,
    /// The instant decided for.
    pub time: Timestamp,
    /// The snapshot version that decided.
    pub snapshot_version: u64,
}

/// A scheduled phase change.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct NextPhase {
    /// The coming mode.
    pub mode: PhaseMode,
    /// When it starts.
    pub start: Timestamp,
}

/// Decides and explains one request, recording metrics.
pub(crate) fn decide(
    state: &Decisions,
    subscription: &str,
    service: &str,
    action: &str,
    at: Timestamp,
) -> (bool, DecisionContext) {
    decide_on(state, &state.source.snapshot(), subscription, service, action, at)
}

/// Decides and explains one request on a given snapshot (a batch holds one
/// snapshot for all its items).
pub(crate) fn decide_on(
    state: &Decisions,
    snapshot: &Snapshot,
    subscription: &str,
    service: &str,
    action: &str,
    at: Timestamp,
) -> (bool, DecisionContext) {
    let started = Instant::now();
    if let Err(reason) = state.source.admit(service) {
        state.metrics.observe(false, started.elapsed());
        return (false, stale(reason, at, snapshot.version()));
    }
    let decision = snapshot.decide(subscription, service, action, at);
    let e = snapshot.explain(&decision, subscription, service, action);
    state.metrics.observe(decision.allowed, started.elapsed());
    let context = DecisionContext {
        code: e.code,
        reason: e.reason,
        order: e.order,
        clause: e.clause,
        log_index: e.log_index,
        phase: match decision.basis {
            Basis::Order { mode, .. } => Some(mode),
            _ => None,
        },
        phase_start: e.phase_start,
        next_phase: e.next_phase.map(|(mode, start)| NextPhase { mode, start }),
        action_class: decision.class,
        action_known: decision.action_known,
        time: at,
        snapshot_version: snapshot.version(),
    };
    (decision.allowed, context)
}

/// The context of a decision refused because the replica's snapshot is too old.
fn stale(reason: String, at: Timestamp, version: u64) -> DecisionContext {
    DecisionContext {
        code: "stale-snapshot",
        reason,
        order: None,
        clause: None,
        log_index: None,
        phase: None,
        phase_start: None,
        next_phase: None,
        action_class: ActionClass::Write,
        action_known: false,
        time: at,
        snapshot_version: version,
    }
}
