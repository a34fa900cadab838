//! A decision case loaded into the real control plane over a store of each
//! backend (SQLite, PostgreSQL): import,
//! order creation, moves, deletes and lifts take the production path. The
//! implementations that answer from it (the control plane's own snapshot,
//! one reopened from the store, a replica, AuthZEN over HTTP) share this.

#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::Arc;

use verdict_control::{Actor, Core, ManualClock, SigningKey};
use verdict_model::{Timestamp, Unit, UnitPath};
use verdict_store::Store;
use verdict_testdb::{Backend, TestDb};

use crate::case::{Answer, Case, Step};

/// A case's world in a control plane of its own.
pub struct ControlPlane {
    /// The control plane.
    pub core: Arc<Core>,
    /// Its store.
    pub store: Arc<dyn Store>,
    /// The database under it (another server may open it too).
    pub db: TestDb,
    /// Its log key.
    pub key: SigningKey,
    clock: Arc<ManualClock>,
    /// Case order id → the id the control plane gave it.
    ids: HashMap<String, String>,
}

impl ControlPlane {
    /// Imports `case`'s inventory and creates its orders (lifting those the
    /// case lists as lifted, at their instant).
    pub async fn load(case: &Case, backend: Backend) -> ControlPlane {
        let db = TestDb::new(backend).await;
        let store = db.open().await;
        let clock = Arc::new(ManualClock::new(Timestamp::parse("2025-01-01T00:00:00Z").unwrap()));
        let key = SigningKey::generate("verdict.test/log").unwrap();
        let core = Arc::new(Core::open_with_clock(store.clone(), key.clone(), clock.clone()).await.unwrap());
        core.import(&Actor::admin(), case.inventory.clone(), &|_| ()).await.expect("the case's inventory imports");
        let mut ids = HashMap::new();
        for order in &case.orders {
            let (created, _) = core.create_order(&Actor::admin(), order.spec.clone()).await.expect("order is created");
            ids.insert(order.id.clone(), created.id.clone());
            if let Some(at) = order.lifted_at {
                clock.set(at);
                core.lift_order(&Actor::admin(), &created.id, "case").await.unwrap();
            }
        }
        ControlPlane { core, store, db, key, clock, ids }
    }

    /// Applies a step that is not a check, as an operator would.
    pub async fn apply(&mut self, step: &Step) {
        let admin = Actor::admin();
        match step {
            Step::Check(_) => unreachable!("the runner answers checks"),
            Step::Move { subscription, unit, at } => {
                self.clock.set(*at);
                let tenant = self.core.subscription(subscription).await.unwrap().expect("subscription exists").tenant;
                self.ensure_unit(&tenant, unit).await;
                self.core.move_subscription(&admin, subscription, unit.clone()).await.unwrap();
            }
            Step::Create(sub) => {
                self.ensure_unit(&sub.tenant, &sub.unit).await;
                self.core.create_subscription(&admin, sub.clone()).await.unwrap();
            }
            Step::Delete { subscription, at } => {
                self.clock.set(*at);
                self.core.delete_subscription(&admin, subscription).await.unwrap();
            }
            Step::Lift { order, at } => {
                self.clock.set(*at);
                self.core.lift_order(&admin, &self.ids[order], "lifted by the case").await.unwrap();
            }
        }
    }

    async fn ensure_unit(&self, tenant: &str, unit: &UnitPath) {
        if !self.core.units(tenant).await.unwrap().contains(unit) {
            let unit = Unit { tenant: tenant.to_owned(), path: unit.clone() };
            self.core.create_unit(&Actor::admin(), unit).await.unwrap();
        }
    }

    /// `answer` with the control plane's order ids mapped back to the case's.
    pub fn in_case_terms(&self, mut answer: Answer) -> Answer {
        if let Some(order) = &answer.order
            && let Some((case_id, _)) = self.ids.iter().find(|(_, real)| *real == order)
        {
            answer.order = Some(case_id.clone());
        }
        answer
    }
}
