//! The decision as every endpoint reports it: engine answer plus explanation.

use std::sync::Arc;
use std::time::Instant;

use serde::Serialize;
use verdict_engine::{Basis, Snapshot};
use verdict_model::{ActionClass, PhaseMode, Timestamp};

use crate::metrics::Metrics;

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

/// Decides and explains one request on the current snapshot, recording
/// metrics; the owned form, for callers that keep the context.
pub(crate) fn decide(
    state: &Decisions,
    subscription: &str,
    service: &str,
    action: &str,
    at: Timestamp,
) -> (bool, DecisionContext) {
    let snapshot = state.source.snapshot();
    let mut reason = String::with_capacity(160);
    let (allowed, context) = decide_ref(state, &snapshot, subscription, service, action, at, &mut reason);
    (allowed, context.to_owned())
}

/// A decision's context as the wire formats write it: borrowed from the
/// snapshot and from a reason buffer the caller reuses, so answering
/// allocates nothing per decision. Serialises exactly as [`DecisionContext`].
#[derive(Debug, Clone, Serialize)]
pub(crate) struct ContextRef<'a> {
    code: &'static str,
    reason: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    order: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    clause: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    log_index: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    phase: Option<PhaseMode>,
    #[serde(skip_serializing_if = "Option::is_none")]
    phase_start: Option<Timestamp>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_phase: Option<NextPhase>,
    action_class: ActionClass,
    action_known: bool,
    time: Timestamp,
    snapshot_version: u64,
}

impl ContextRef<'_> {
    /// The owned form, for callers that keep it.
    pub(crate) fn to_owned(&self) -> DecisionContext {
        DecisionContext {
            code: self.code,
            reason: self.reason.to_owned(),
            order: self.order.map(str::to_owned),
            clause: self.clause.map(str::to_owned),
            log_index: self.log_index,
            phase: self.phase,
            phase_start: self.phase_start,
            next_phase: self.next_phase.clone(),
            action_class: self.action_class,
            action_known: self.action_known,
            time: self.time,
            snapshot_version: self.snapshot_version,
        }
    }
}

/// Decides and explains one request, writing the sentence into `reason`
/// (cleared first) and recording metrics.
pub(crate) fn decide_ref<'a>(
    state: &Decisions,
    snapshot: &'a Snapshot,
    subscription: &str,
    service: &str,
    action: &str,
    at: Timestamp,
    reason: &'a mut String,
) -> (bool, ContextRef<'a>) {
    let started = Instant::now();
    reason.clear();
    let mut context = ContextRef {
        code: "stale-snapshot",
        reason: "",
        order: None,
        clause: None,
        log_index: None,
        phase: None,
        phase_start: None,
        next_phase: None,
        action_class: ActionClass::Write,
        action_known: false,
        time: at,
        snapshot_version: snapshot.version(),
    };
    if let Err(refusal) = state.source.admit(service) {
        state.metrics.observe(false, started.elapsed());
        let class = snapshot.catalog().services.iter().find(|s| s.name == service).and_then(|s| s.class_of(action));
        context.action_class = class.unwrap_or(ActionClass::Write);
        context.action_known = class.is_some();
        reason.push_str(&refusal);
        context.reason = reason;
        return (false, context);
    }
    let decision = snapshot.decide(subscription, service, action, at);
    let facts = snapshot.explain_into(&decision, subscription, service, action, reason);
    state.metrics.observe(decision.allowed, started.elapsed());
    let reason: &'a String = reason;
    context.code = facts.code;
    context.reason = reason;
    context.order = facts.order;
    context.clause = facts.clause;
    context.log_index = facts.log_index;
    context.phase = match decision.basis {
        Basis::Order { mode, .. } => Some(mode),
        _ => None,
    };
    context.phase_start = facts.phase_start;
    context.next_phase = facts.next_phase.map(|(mode, start)| NextPhase { mode, start });
    context.action_class = decision.class;
    context.action_known = decision.action_known;
    (decision.allowed, context)
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fixed(Arc<Snapshot>);

    impl DecisionSource for Fixed {
        fn snapshot(&self) -> Arc<Snapshot> {
            self.0.clone()
        }

        fn admit(&self, service: &str) -> Result<(), String> {
            if service.starts_with("ai.") { Err("stale for ai".into()) } else { Ok(()) }
        }
    }

    #[test]
    fn the_borrowed_context_serialises_as_the_owned_one() {
        let inventory = serde_json::from_value(serde_json::json!({
            "tenants": [{"id": "t", "kind": "government"}],
            "subscriptions": [{"id": "s", "tenant": "t", "unit": "u"}],
        }))
        .unwrap();
        let order: verdict_model::Order = serde_json::from_value(serde_json::json!({
            "id": "ord-1", "seq": 1, "tenant": "t", "clause": "AUP-2", "scope": {"units": ["u"]},
            "services": ["storage.*"], "state": "approved",
            "phases": [{"mode": "export_only", "start": "2026-01-01T00:00:00Z"},
                       {"mode": "disabled", "start": "2026-02-01T00:00:00Z"}],
        }))
        .unwrap();
        let snapshot = Arc::new(Snapshot::compile(verdict_model::Catalog::builtin(), &inventory, &[order], 3).unwrap());
        let state = Decisions { source: Arc::new(Fixed(snapshot.clone())), metrics: Arc::new(Metrics::default()) };
        let at = Timestamp::parse("2026-01-15T00:00:00Z").unwrap();
        let mut reason = String::new();
        for (sub, service, action) in [
            ("s", "storage.blob", "put-blob"),
            ("s", "storage.blob", "get-blob"),
            ("x", "compute.vm", "start"),
            ("s", "ai.vision", "analyze"),
        ] {
            let (allowed, borrowed) = decide_ref(&state, &snapshot, sub, service, action, at, &mut reason);
            let owned = borrowed.to_owned();
            assert_eq!(serde_json::to_value(&borrowed).unwrap(), serde_json::to_value(&owned).unwrap());
            assert_eq!(allowed, sub == "x" || action == "get-blob", "{sub} {service} {action}: {}", owned.reason);
        }
    }
}
