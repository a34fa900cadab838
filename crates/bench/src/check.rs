//! The differential check: verdict and Cedar must give the same answer, and
//! a denial's order must be among Cedar's determining policies.

use verdict_engine::{Basis, Snapshot};
use verdict_model::Timestamp;

use crate::cedar::{CedarOutcome, CedarPdp, Slicing};
use crate::requests::RequestStream;

/// Compares verdict's decision on one request with Cedar's outcome; the
/// error says how they differ.
pub fn compare(
    snapshot: &Snapshot,
    (subscription, service, action, at): (&str, &str, &str, Timestamp),
    cedar: &CedarOutcome,
) -> Result<(), String> {
    let decision = snapshot.decide(subscription, service, action, at);
    let describe = || {
        let explanation = snapshot.explain(&decision, subscription, service, action);
        format!(
            "{subscription} {service} {action} at {at} ({}): verdict {} ({}), cedar {} by {:?}",
            at.seconds(),
            if decision.allowed { "allows" } else { "denies" },
            explanation.reason,
            if cedar.allowed { "allows" } else { "denies" },
            cedar.reasons,
        )
    };
    if !cedar.errors.is_empty() {
        return Err(format!("{}; cedar errors: {:?}", describe(), cedar.errors));
    }
    if decision.allowed != cedar.allowed {
        return Err(describe());
    }
    if !decision.allowed {
        let Basis::Order { order, phase, .. } = decision.basis else {
            return Err(format!("{}; a denial without an order", describe()));
        };
        let policy = format!("{}#{phase}", snapshot.order_id(order));
        if !cedar.reasons.contains(&policy) {
            return Err(format!("{}; verdict names {policy}, which cedar does not", describe()));
        }
        let explained = snapshot.explain(&decision, subscription, service, action).order;
        if explained.as_deref() != Some(snapshot.order_id(order)) {
            return Err(format!("{}; explain names {explained:?}", describe()));
        }
    }
    Ok(())
}

/// The result of checking a run of requests.
#[derive(Debug, Default)]
pub struct Agreement {
    /// Requests compared.
    pub checked: usize,
    /// Requests on which the engines agree.
    pub agreed: usize,
    /// Requests verdict allowed.
    pub allowed: usize,
    /// The first few disagreements, spelled out.
    pub disagreements: Vec<String>,
}

impl Agreement {
    /// Most disagreements kept for the report.
    pub const KEEP: usize = 20;

    /// Records one comparison; `index` is the request's position.
    pub fn record(&mut self, index: usize, allowed: bool, result: Result<(), String>) {
        self.checked += 1;
        self.allowed += usize::from(allowed);
        match result {
            Ok(()) => self.agreed += 1,
            Err(why) if self.disagreements.len() < Self::KEEP => self.disagreements.push(format!("#{index}: {why}")),
            Err(_) => {}
        }
    }

    /// Whether every request agreed.
    pub fn all_agree(&self) -> bool {
        self.checked == self.agreed
    }
}

/// Asks verdict and a peer (`ask`) about requests `range` of `stream`
/// and compares.
fn check_with(
    snapshot: &Snapshot,
    stream: &RequestStream,
    range: std::ops::Range<usize>,
    ask: impl Fn(&str, &str, &str, Timestamp) -> anyhow::Result<CedarOutcome>,
) -> anyhow::Result<Agreement> {
    let mut agreement = Agreement::default();
    for i in range {
        let request = stream.get(i);
        let (sub, service, action, at) = request;
        let outcome = ask(sub, service, action, at)?;
        agreement.record(i, snapshot.decide(sub, service, action, at).allowed, compare(snapshot, request, &outcome));
    }
    Ok(agreement)
}

/// Asks verdict and Cedar about requests `range` of `stream` and compares;
/// Cedar is given the policies `slicing` gives it.
pub fn check(
    snapshot: &Snapshot,
    cedar: &CedarPdp<'_>,
    slicing: Slicing,
    stream: &RequestStream,
    range: std::ops::Range<usize>,
) -> anyhow::Result<Agreement> {
    check_with(snapshot, stream, range, |sub, service, action, at| cedar.decide_with(sub, service, action, at, slicing))
}

/// Asks verdict and Rego (through `regorus`) about requests `range` of
/// `stream` and compares, as [`check`] does for Cedar.
pub fn check_rego(
    snapshot: &Snapshot,
    rego: &crate::rego::RegoPdp<'_>,
    stream: &RequestStream,
    range: std::ops::Range<usize>,
) -> anyhow::Result<Agreement> {
    check_with(snapshot, stream, range, |sub, service, action, at| rego.decide(sub, service, action, at))
}
