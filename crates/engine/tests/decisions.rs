//! Runs every decision case in `tests/decisions/` through the shared runner
//! against the engine alone (one request at a time, and as batches), and
//! against two replicas of it: one compiled from the snapshot's export and
//! one that follows its changes, both through their JSON wire form.

#[path = "../../../tests/decisions/case.rs"]
mod case;
#[path = "../../../tests/decisions/runner.rs"]
mod runner;

use case::{Answer, Case, Request, Step};
use runner::Implementation;
use verdict_engine::{Change, Query, Snapshot, SnapshotDocument};
use verdict_model::{Catalog, Order};

/// How the engine is asked.
#[derive(Clone, Copy, PartialEq)]
enum Mode {
    /// `decide`, one request at a time (and `decide_batch`, which must agree).
    Direct,
    /// A snapshot exported, sent as JSON and compiled again at each check.
    Exported,
    /// A replica that receives every change as JSON and applies it.
    Following,
}

struct Engine {
    mode: Mode,
    snapshot: Option<Snapshot>,
    follower: Option<Snapshot>,
    orders: Vec<Order>,
}

impl Engine {
    fn new(mode: Mode) -> Engine {
        Engine { mode, snapshot: None, follower: None, orders: Vec::new() }
    }

    fn snapshot(&self) -> &Snapshot {
        self.snapshot.as_ref().expect("loaded")
    }
}

impl Implementation for Engine {
    async fn load(&mut self, case: &Case) {
        let snapshot = Snapshot::compile(Catalog::builtin(), &case.inventory, &case.orders, 1).expect("compiles");
        self.follower = Some(through_the_wire(&snapshot));
        self.snapshot = Some(snapshot);
        self.orders = case.orders.clone();
    }

    async fn apply(&mut self, step: &Step) {
        let snapshot = self.snapshot.as_ref().expect("loaded");
        let change = match step {
            Step::Check(_) => unreachable!("the runner answers checks"),
            Step::Move { subscription, unit, at } => Change::MoveSubscription {
                id: subscription.clone(),
                unit: unit.clone(),
                retained_by: snapshot.orders_covering(subscription, *at),
            },
            Step::Create(sub) => Change::PutSubscription(sub.clone()),
            Step::Delete { subscription, at } => Change::RemoveSubscription {
                id: subscription.clone(),
                retained_by: snapshot.orders_covering(subscription, *at),
            },
            Step::Lift { order, at } => {
                let o = self.orders.iter_mut().find(|o| &o.id == order).expect("known order");
                o.lifted_at = Some(*at);
                Change::PutOrder(o.clone())
            }
        };
        let next = snapshot.apply(std::slice::from_ref(&change), snapshot.version() + 1).expect("applies");
        self.snapshot = Some(next);
        let wire = serde_json::to_string(&change.for_replica()).unwrap();
        let received: Change = serde_json::from_str(&wire).unwrap_or_else(|e| panic!("{e} in {wire}"));
        let follower = self.follower.take().expect("loaded");
        self.follower = Some(follower.apply(&[received], follower.version() + 1).expect("the replica applies"));
    }

    async fn answer(&mut self, requests: &[Request]) -> Vec<Answer> {
        match self.mode {
            Mode::Direct => {
                let snapshot = self.snapshot();
                let queries: Vec<Query> = requests
                    .iter()
                    .map(|r| Query { subscription: &r.subscription, service: &r.service, action: &r.action, at: r.at })
                    .collect();
                let mut batch = Vec::new();
                snapshot.decide_batch(&queries, &mut batch);
                let single: Vec<_> =
                    requests.iter().map(|r| snapshot.decide(&r.subscription, &r.service, &r.action, r.at)).collect();
                assert_eq!(batch, single, "decide_batch differs from decide");
                requests.iter().map(|r| r.answer(snapshot)).collect()
            }
            Mode::Exported => {
                let exported = through_the_wire(self.snapshot());
                requests.iter().map(|r| r.answer(&exported)).collect()
            }
            Mode::Following => requests.iter().map(|r| r.answer(self.follower.as_ref().expect("loaded"))).collect(),
        }
    }
}

#[tokio::test]
async fn every_decision_case_holds_on_the_engine_and_its_replicas() {
    let mut failures = Vec::new();
    for (label, mode) in
        [("engine", Mode::Direct), ("exported replica", Mode::Exported), ("following replica", Mode::Following)]
    {
        failures.extend(runner::run(label, || Engine::new(mode)).await);
    }
    assert!(failures.is_empty(), "{} mismatches:\n{}", failures.len(), failures.join("\n"));
}

/// The snapshot exported, sent as JSON and compiled again, as a replica
/// bootstraps.
fn through_the_wire(snapshot: &Snapshot) -> Snapshot {
    let json = serde_json::to_vec(&snapshot.export()).unwrap();
    let document: SnapshotDocument = serde_json::from_slice(&json).unwrap();
    assert_eq!(document.version, snapshot.version());
    document.compile().unwrap()
}
