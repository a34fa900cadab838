//! The decision as every endpoint reports it: engine answer plus explanation.

use std::time::Instant;

use serde::Serialize;
use verdict_engine::{Basis, Snapshot};
use verdict_model::{ActionClass, PhaseMode, Timestamp};

use crate::AppState;

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
    state: &AppState,
    subscription: &str,
    service: &str,
    action: &str,
    at: Timestamp,
) -> (bool, DecisionContext) {
    decide_on(state, &state.core.snapshot(), subscription, service, action, at)
}

/// Decides and explains one request on a given snapshot (a batch holds one
/// snapshot for all its items).
pub(crate) fn decide_on(
    state: &AppState,
    snapshot: &Snapshot,
    subscription: &str,
    service: &str,
    action: &str,
    at: Timestamp,
) -> (bool, DecisionContext) {
    let started = Instant::now();
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
