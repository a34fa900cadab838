//! Crashes inside governance actions: each action is driven to each of its
//! failpoints (between statements, before the commit, after the commit
//! before publication, after publication before the response), where the
//! process dies or the database refuses; the control plane is then
//! restarted from the file. Every time, the whole action is there — every
//! log entry, the notice, the engine's decision — or none of it, and fsck
//! finds the store and its log consistent.
#![cfg(feature = "failpoints")]

use std::sync::Arc;

use serde_json::{Value, json};
use verdict_control::failpoint::{self, Failure};
use verdict_control::{Actor, Core, ManualClock, Principal, SigningKey};
use verdict_model::{AppealOutcome, CaseSpec, Clause, Inventory, OrderSpec, Role, Timestamp};
use verdict_store::Store;
use verdict_testdb::{Backend, TestDb};

const DAY: i64 = 86_400;

fn person(name: &str, role: Role) -> Principal {
    let tenant = (role == Role::Tenant).then(|| "mod".to_owned());
    Principal { name: name.to_owned(), roles: vec![role], tenant, scope: None }
}

fn now() -> Timestamp {
    Timestamp::parse("2026-06-01T00:00:00Z").unwrap()
}

struct Opened {
    core: Arc<Core>,
    store: Arc<dyn Store>,
}

async fn open(db: &TestDb, key: &SigningKey) -> Opened {
    let store = db.open().await;
    let core = Core::open_with_clock(store.clone(), key.clone(), Arc::new(ManualClock::new(now()))).await.unwrap();
    Opened { core: Arc::new(core), store }
}

/// Stops the control plane as a dead process would leave it: nothing more
/// is written, the connections close.
async fn stop(opened: Opened) {
    let Opened { core, store } = opened;
    drop(core);
    store.close().await;
}

fn spec(value: Value) -> OrderSpec {
    serde_json::from_value(value).unwrap()
}

fn storage_order(amends: Option<&str>, services: &[&str]) -> OrderSpec {
    spec(json!({"tenant": "mod", "clause": "AUP-2", "case_id": null, "title": "signals",
        "scope": {"units": ["intelligence/signals"]}, "services": services,
        "phases": [{"mode": "notice", "start": now().plus(-2 * DAY)}, {"mode": "disabled", "start": now().plus(-DAY)}],
        "amends": amends}))
}

/// A store with an order in force (approved by two), an appeal against it
/// waiting, and an amendment of it with one of its two approvals.
/// Returns (order in force, appeal, amendment).
async fn prepare(db: &TestDb, key: &SigningKey) -> (String, String, String) {
    let o = open(db, key).await;
    let core = &o.core;
    let inventory = Inventory::from_json(
        &json!({"tenants": [{"id": "mod", "kind": "government"}],
            "subscriptions": [
                {"id": "sig-archive", "tenant": "mod", "unit": "intelligence/signals", "services": ["storage.blob", "ai.vision"], "region": "westeurope"},
                {"id": "log-erp", "tenant": "mod", "unit": "logistics", "services": ["storage.blob"]}]})
        .to_string(),
    )
    .unwrap();
    core.import(&Actor::admin(), inventory, &|_| ()).await.unwrap();
    let admin = person("admin", Role::Admin);
    let clause: Clause = serde_json::from_value(json!({"id": "AUP-2", "title": "No mass surveillance",
        "text": "No technology to facilitate mass surveillance of civilians."}))
    .unwrap();
    core.publish_clause(&admin, clause).await.unwrap();
    let analyst = person("analyst", Role::Analyst);
    let case: CaseSpec = serde_json::from_value(json!({"tenant": "mod", "source_type": "third_party_report",
        "title": "Reported intercept archive", "units": ["intelligence/signals"], "clauses": ["AUP-2"]}))
    .unwrap();
    let case = core.open_case(&analyst, case).await.unwrap();
    let with_case = |mut s: OrderSpec| {
        s.case_id = Some(case.id.clone());
        s
    };
    let order = core.propose_order(&analyst, with_case(storage_order(None, &["storage.*", "ai.*"]))).await.unwrap();
    for approver in ["approver-a", "approver-b"] {
        let hash = core.preview_order(&order.id).await.unwrap().hash;
        core.approve_order(&person(approver, Role::Approver), &order.id, Some(&hash), &[]).await.unwrap();
    }
    let appeal = core.file_appeal(&person("mod-legal", Role::Tenant), &order.id, "we object").await.unwrap();
    let amendment =
        core.propose_order(&analyst, with_case(storage_order(Some(&order.id), &["storage.*"]))).await.unwrap();
    let hash = core.preview_order(&amendment.id).await.unwrap().hash;
    core.approve_order(&person("approver-a", Role::Approver), &amendment.id, Some(&hash), &[]).await.unwrap();
    stop(o).await;
    (order.id, appeal.id, amendment.id)
}

#[derive(Clone, Copy, Debug)]
enum Action {
    ApproveAmendment,
    DecideAppealAmend,
    DecideAppealLift,
    Lift,
    Import,
}

async fn run(action: Action, core: &Core, ids: &(String, String, String)) -> Result<(), String> {
    let (order, appeal, amendment) = ids;
    let reviewer = person("reviewer", Role::Reviewer);
    let result = match action {
        Action::ApproveAmendment => {
            let hash = core.preview_order(amendment).await.map_err(|e| e.to_string())?.hash;
            core.approve_order(&person("approver-b", Role::Approver), amendment, Some(&hash), &[]).await.map(|_| ())
        }
        Action::DecideAppealAmend => core
            .decide_appeal(
                &reviewer,
                appeal,
                AppealOutcome::Amend,
                "AI use unproven",
                Some(storage_order(None, &["storage.*"])),
            )
            .await
            .map(|_| ()),
        Action::DecideAppealLift => {
            core.decide_appeal(&reviewer, appeal, AppealOutcome::Lift, "disproportionate", None).await.map(|_| ())
        }
        Action::Lift => core.lift_order(&Actor::new("approver-a"), order, "lifted").await.map(|_| ()),
        Action::Import => {
            let moved = Inventory::from_json(
                &json!({"subscriptions": [{"id": "sig-archive", "tenant": "mod", "unit": "logistics",
                    "services": ["storage.blob", "ai.vision"], "region": "westeurope"}]})
                .to_string(),
            )
            .unwrap();
            core.import(&Actor::admin(), moved, &|_| ()).await.map(|_| ())
        }
    };
    result.map_err(|e| e.to_string())
}

/// What a user can observe of the state: the log's entry kinds, each
/// order's status, the notices and appeals, and two decisions.
async fn fingerprint(core: &Core, store: &Arc<dyn Store>) -> Value {
    let kinds: Vec<String> =
        store.read().await.unwrap().log_records(0, 10_000).await.unwrap().into_iter().map(|r| r.kind).collect();
    let mut orders: Vec<String> = core
        .orders(None, None, &verdict_store::Page { after: None, limit: 100 })
        .await
        .unwrap()
        .iter()
        .map(|o| format!("{}:{}", o.seq, core.status_of(o)))
        .collect();
    orders.sort();
    let mut notices: Vec<String> = core.notices(None).await.unwrap().iter().map(|n| format!("{:?}", n.kind)).collect();
    notices.sort();
    let appeals: Vec<Option<String>> = core
        .appeals(None)
        .await
        .unwrap()
        .iter()
        .map(|a| a.decision.as_ref().map(|d| d.outcome.as_str().to_owned()))
        .collect();
    let snapshot = core.snapshot();
    let decide = |service: &str, action: &str| snapshot.decide("sig-archive", service, action, now()).allowed;
    let outbox = core.outbox_due(i64::MAX, 1000).await.unwrap().len();
    json!({"log": kinds, "orders": orders, "notices": notices, "appeals": appeals, "outbox": outbox,
           "put-blob": decide("storage.blob", "put-blob"), "analyze": decide("ai.vision", "analyze")})
}

async fn fsck_clean(store: &Arc<dyn Store>, key: &SigningKey) {
    let report = verdict_control::fsck(store.as_ref(), Some(&key.verifier())).await.unwrap();
    assert!(report.problems.is_empty(), "fsck: {:?}", report.problems);
}

/// Points after the store's commit: the action must survive them.
fn committed_at(point: &str) -> bool {
    matches!(point, "ledger.after-commit" | "ledger.after-publish")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_governance_action_is_all_or_nothing_at_every_failpoint() {
    for backend in verdict_testdb::backends() {
        every_governance_action_is_all_or_nothing_on(backend).await;
    }
}

async fn every_governance_action_is_all_or_nothing_on(backend: Backend) {
    let key = SigningKey::generate("verdict.test/log").unwrap();
    let base = TestDb::new(backend).await;
    let ids = prepare(&base, &key).await;
    let before = {
        let o = open(&base, &key).await;
        let f = fingerprint(&o.core, &o.store).await;
        stop(o).await;
        f
    };
    let mut runs = 0;
    let actions =
        [Action::ApproveAmendment, Action::DecideAppealAmend, Action::DecideAppealLift, Action::Lift, Action::Import];
    for action in actions {
        // A clean run: the points the action passes, and the state after it.
        let clean = base.copy().await;
        let o = open(&clean, &key).await;
        failpoint::arm(None, Failure::Refuse);
        run(action, &o.core, &ids).await.unwrap_or_else(|e| panic!("{action:?}: {e}"));
        let points = failpoint::reached();
        failpoint::disarm();
        let after = fingerprint(&o.core, &o.store).await;
        assert_ne!(after, before, "{action:?} changed nothing");
        stop(o).await;
        assert!(points.len() >= 4, "{action:?} passed only {points:?}");

        for (n, point) in points.iter().enumerate() {
            for failure in [Failure::Die, Failure::Refuse] {
                let dir = base.copy().await;
                let o = open(&dir, &key).await;
                failpoint::arm(Some(n as u64 + 1), failure);
                let core = o.core.clone();
                let ids2 = ids.clone();
                let outcome = tokio::spawn(async move { run(action, &core, &ids2).await }).await;
                failpoint::disarm();
                let what = format!("{action:?} at {point} (#{}) {failure:?} on {backend}", n + 1);
                match (&outcome, failure) {
                    (Err(join), Failure::Die) => assert!(join.is_panic(), "{what}: {join}"),
                    (Err(join), Failure::Refuse) => {
                        // Nothing may refuse after the commit: that is a crash.
                        assert!(committed_at(point) && join.is_panic(), "{what}: {join}")
                    }
                    (Ok(result), Failure::Refuse) => assert!(result.is_err(), "{what}: the refusal was ignored"),
                    (Ok(_), Failure::Die) => panic!("{what}: the process should have died"),
                }
                let survives = committed_at(point);
                if failure == Failure::Refuse && !survives {
                    // The same process goes on: nothing of the refused
                    // action is in memory either.
                    assert_eq!(fingerprint(&o.core, &o.store).await, before, "{what}: before the restart");
                }
                stop(o).await;
                let o = open(&dir, &key).await;
                let expected = if survives { &after } else { &before };
                assert_eq!(&fingerprint(&o.core, &o.store).await, expected, "{what}: after the restart");
                fsck_clean(&o.store, &key).await;
                if !survives {
                    // And the action can be done again, whole.
                    run(action, &o.core, &ids).await.unwrap_or_else(|e| panic!("{what}: again: {e}"));
                    assert_eq!(fingerprint(&o.core, &o.store).await, after, "{what}: done again");
                    fsck_clean(&o.store, &key).await;
                }
                stop(o).await;
                runs += 1;
            }
        }
    }
    assert!(runs >= 5 * 4 * 2, "only {runs} crash runs");
}
