//! Races over real HTTP, each repeated many times on fresh objects: two
//! reviewers deciding one appeal, two lifts of one order, three approvers
//! for two slots, an amendment approved while the old order is lifted.
//! Every time exactly one outcome per action, one log entry per transition,
//! and the loser gets a specific 409.

mod common;

use std::sync::Arc;

use common::{ADMIN, Api};
use reqwest::StatusCode;
use serde_json::{Value, json};
use verdict_control::Actor;
use verdict_model::Timestamp;
use verdict_store::{SqliteStore, Store};

const DAY: i64 = 86_400;
const ROUNDS: usize = 50;

struct World {
    api: Arc<Api>,
    store: Arc<SqliteStore>,
    analyst: String,
    approvers: [String; 3],
    reviewers: [String; 2],
    legal: String,
    case: String,
    _dir: tempfile::TempDir,
}

async fn world() -> World {
    let (core, store, dir) = common::open_core().await;
    let inventory = serde_json::from_value(json!({
        "tenants": [{"id": "mod", "kind": "government"}],
        "units": [{"tenant": "mod", "path": "intelligence/signals"}],
        "subscriptions": [{"id": "sig-archive", "tenant": "mod", "unit": "intelligence/signals", "services": ["storage.blob"]}]
    }))
    .unwrap();
    core.import(&Actor::admin(), inventory, &|_| ()).await.unwrap();
    let api = Api::new(common::serve(core).await);
    let clause = json!({"id": "AUP-2", "title": "No mass surveillance of civilians", "text": "No mass surveillance."});
    assert_eq!(api.call("/v1/clauses", ADMIN, Some(clause)).await.0, StatusCode::CREATED);
    let add = async |name: &str, role: &str, tenant: Option<&str>| {
        let (status, body) =
            api.call("/v1/users", ADMIN, Some(json!({"name": name, "role": role, "tenant": tenant}))).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body["token"].as_str().unwrap().to_owned()
    };
    let analyst = add("analyst", "analyst", None).await;
    let approvers =
        [add("ap-1", "approver", None).await, add("ap-2", "approver", None).await, add("ap-3", "approver", None).await];
    let reviewers = [add("rv-1", "reviewer", None).await, add("rv-2", "reviewer", None).await];
    let legal = add("mod-legal", "tenant", Some("mod")).await;
    let case = json!({"tenant": "mod", "source_type": "third_party_report", "title": "Reported archive",
        "units": ["intelligence/signals"], "clauses": ["AUP-2"]});
    let (status, case) = api.call("/v1/cases", &analyst, Some(case)).await;
    assert_eq!(status, StatusCode::CREATED, "{case}");
    World {
        api: Arc::new(api),
        store,
        analyst,
        approvers,
        reviewers,
        legal,
        case: case["id"].as_str().unwrap().to_owned(),
        _dir: dir,
    }
}

impl World {
    fn spec(&self, amends: Option<&str>) -> Value {
        let now = Timestamp::now();
        json!({"tenant": "mod", "clause": "AUP-2", "case_id": self.case, "scope": {"units": ["intelligence/signals"]},
               "services": ["storage.*"], "amends": amends,
               "phases": [{"mode": "notice", "start": now.plus(-2 * DAY)}, {"mode": "disabled", "start": now.plus(-DAY)}]})
    }

    async fn propose(&self, amends: Option<&str>) -> String {
        let (status, order) = self.api.call("/v1/orders", &self.analyst, Some(self.spec(amends))).await;
        assert_eq!(status, StatusCode::CREATED, "{order}");
        order["id"].as_str().unwrap().to_owned()
    }

    async fn approve(&self, id: &str, approver: usize) -> (StatusCode, Value) {
        let seen = self.api.seen(id).await;
        self.api.call(&format!("/v1/orders/{id}/approve"), &self.approvers[approver], Some(seen)).await
    }

    /// An order in force, approved by the first two approvers.
    async fn in_force(&self) -> String {
        let id = self.propose(None).await;
        for a in 0..2 {
            assert_eq!(self.approve(&id, a).await.0, StatusCode::OK);
        }
        id
    }

    async fn kinds_about(&self, subject: &str) -> Vec<String> {
        let records = self.store.read().await.unwrap().log_records(0, 1_000_000).await.unwrap();
        records.into_iter().filter(|r| r.subject.as_deref() == Some(subject)).map(|r| r.kind).collect()
    }

    async fn count(&self, kind: &str) -> usize {
        self.store
            .read()
            .await
            .unwrap()
            .log_records(0, 1_000_000)
            .await
            .unwrap()
            .iter()
            .filter(|r| r.kind == kind)
            .count()
    }
}

/// Runs two requests at once; returns their answers in order.
async fn both<A, B>(a: A, b: B) -> ((StatusCode, Value), (StatusCode, Value))
where
    A: Future<Output = (StatusCode, Value)> + Send + 'static,
    B: Future<Output = (StatusCode, Value)> + Send + 'static,
{
    let (a, b) = tokio::join!(tokio::spawn(a), tokio::spawn(b));
    (a.unwrap(), b.unwrap())
}

/// Exactly one success; the other is a 409 with `code`.
#[track_caller]
fn one_wins(answers: &[(StatusCode, Value)], code: &str) {
    let wins = answers.iter().filter(|(s, _)| *s == StatusCode::OK).count();
    assert_eq!(wins, 1, "{answers:?}");
    for (status, body) in answers.iter().filter(|(s, _)| *s != StatusCode::OK) {
        assert_eq!((*status, body["error"]["code"].as_str()), (StatusCode::CONFLICT, Some(code)), "{answers:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_reviewers_deciding_one_appeal_make_one_decision() {
    let w = world().await;
    for _ in 0..ROUNDS {
        let order = w.in_force().await;
        let statement = json!({"statement": "We object."});
        let (status, appeal) = w.api.call(&format!("/v1/orders/{order}/appeals"), &w.legal, Some(statement)).await;
        assert_eq!(status, StatusCode::CREATED, "{appeal}");
        let appeal = appeal["id"].as_str().unwrap().to_owned();
        let path = format!("/v1/appeals/{appeal}/decision");
        let notices = w.count("notice.issued").await;
        let (api, p1, t1) = (w.api.clone(), path.clone(), w.reviewers[0].clone());
        let (api2, p2, t2) = (w.api.clone(), path.clone(), w.reviewers[1].clone());
        // Different outcomes, so a double decision could not hide.
        let (a, b) = both(
            async move { api.call(&p1, &t1, Some(json!({"outcome": "uphold", "reasons": "Proportionate."}))).await },
            async move { api2.call(&p2, &t2, Some(json!({"outcome": "lift", "reasons": "Disproportionate."}))).await },
        )
        .await;
        one_wins(&[a.clone(), b], "appeal-decided");
        assert_eq!(w.kinds_about(&appeal).await, ["appeal.filed", "appeal.decided"]);
        assert_eq!(w.count("notice.issued").await, notices + 1, "one outcome notice");
        let lifted = w.kinds_about(&order).await.iter().filter(|k| *k == "order.lifted").count();
        assert_eq!(lifted, usize::from(a.0 != StatusCode::OK), "lifted exactly when the lift won");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_lifts_of_one_order_lift_it_once() {
    let w = world().await;
    for _ in 0..ROUNDS {
        let order = w.in_force().await;
        let path = format!("/v1/orders/{order}/lift");
        let (api, p1, t1) = (w.api.clone(), path.clone(), w.approvers[0].clone());
        let (api2, p2, t2) = (w.api.clone(), path.clone(), w.approvers[1].clone());
        let (a, b) = both(async move { api.call(&p1, &t1, Some(json!({"reason": "first"}))).await }, async move {
            api2.call(&p2, &t2, Some(json!({"reason": "second"}))).await
        })
        .await;
        one_wins(&[a, b], "order-already-lifted");
        let lifted = w.kinds_about(&order).await.iter().filter(|k| *k == "order.lifted").count();
        assert_eq!(lifted, 1);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_approvers_for_two_slots_make_two_approvals() {
    let w = world().await;
    for _ in 0..ROUNDS {
        let order = w.propose(None).await;
        let seen = w.api.seen(&order).await;
        let calls: Vec<_> = (0..3)
            .map(|a| {
                let (api, path, token, seen) =
                    (w.api.clone(), format!("/v1/orders/{order}/approve"), w.approvers[a].clone(), seen.clone());
                tokio::spawn(async move { api.call(&path, &token, Some(seen)).await })
            })
            .collect();
        let mut answers = Vec::new();
        for call in calls {
            answers.push(call.await.unwrap());
        }
        let ok = answers.iter().filter(|(s, _)| *s == StatusCode::OK).count();
        assert_eq!(ok, 2, "{answers:?}");
        let refused = answers.iter().find(|(s, _)| *s != StatusCode::OK).unwrap();
        assert_eq!(
            (refused.0, refused.1["error"]["code"].as_str()),
            (StatusCode::CONFLICT, Some("order-not-proposed"))
        );
        let kinds = w.kinds_about(&order).await;
        assert_eq!(kinds, ["order.proposed", "order.approval", "order.approved"], "{answers:?}");
        let (_, stored) = w.api.call(&format!("/v1/orders/{order}"), ADMIN, None).await;
        assert_eq!(
            (stored["status"].as_str(), stored["approvals"].as_array().map(Vec::len)),
            (Some("in_force"), Some(2))
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_amendment_approved_while_the_old_order_is_lifted_leaves_one_history() {
    let w = world().await;
    for _ in 0..ROUNDS {
        let old = w.in_force().await;
        let new = w.propose(Some(&old)).await;
        assert_eq!(w.approve(&new, 0).await.0, StatusCode::OK);
        let seen = w.api.seen(&new).await;
        let (api, approve, t1) = (w.api.clone(), format!("/v1/orders/{new}/approve"), w.approvers[1].clone());
        let (api2, lift, t2) = (w.api.clone(), format!("/v1/orders/{old}/lift"), w.approvers[2].clone());
        let (a, b) = both(async move { api.call(&approve, &t1, Some(seen)).await }, async move {
            api2.call(&lift, &t2, Some(json!({"reason": "lifted by hand"}))).await
        })
        .await;
        // Both may succeed, in either order; the old order is lifted once.
        assert_eq!(a.0, StatusCode::OK, "the approval stands whatever happened to the old version: {a:?}");
        if b.0 != StatusCode::OK {
            assert_eq!((b.0, b.1["error"]["code"].as_str()), (StatusCode::CONFLICT, Some("order-already-lifted")));
        }
        let lifted = w.kinds_about(&old).await.iter().filter(|k| *k == "order.lifted").count();
        assert_eq!(lifted, 1, "{a:?} {b:?}");
        let (_, stored) = w.api.call(&format!("/v1/orders/{old}"), ADMIN, None).await;
        let expected = if b.0 == StatusCode::OK { "lifted" } else { "superseded" };
        assert_eq!(stored["status"], expected, "{stored}");
        let (_, amended) = w.api.call(&format!("/v1/orders/{new}"), ADMIN, None).await;
        assert_eq!(amended["status"], "in_force");
        assert_eq!(w.kinds_about(&new).await, ["order.proposed", "order.approval", "order.approved"]);
    }
}
