//! Due process through real HTTP on port 0: a case built on evidence, an
//! order proposed from it that takes effect only after two approvers who did
//! not propose it, and every illegal step refused with its own code, writing
//! nothing — while each legal step is exactly one log entry with its actor.

mod common;

use std::sync::Arc;

use common::{ADMIN, Api, PEP};
use reqwest::StatusCode;
use serde_json::{Value, json};
use verdict_control::Actor;
use verdict_model::Timestamp;
use verdict_store::{SqliteStore, Store};

const DAY: i64 = 86_400;

struct Server {
    api: Api,
    store: Arc<SqliteStore>,
    _dir: tempfile::TempDir,
}

impl std::ops::Deref for Server {
    type Target = Api;

    fn deref(&self) -> &Api {
        &self.api
    }
}

struct Staff {
    analyst: String,
    approver_a: String,
    approver_b: String,
    auditor: String,
    legal: String,
}

async fn start() -> (Server, Staff) {
    let (core, store, dir) = common::open_core().await;
    let inventory = serde_json::from_value(json!({
        "tenants": [{"id": "mod", "kind": "government"}, {"id": "acme", "kind": "enterprise"}],
        "units": [{"tenant": "mod", "path": "intelligence/signals"}, {"tenant": "mod", "path": "cyber"},
                  {"tenant": "acme", "path": "rd"}],
        "subscriptions": [
            {"id": "sig-archive", "tenant": "mod", "unit": "intelligence/signals", "services": ["storage.blob"]},
            {"id": "cyber-ops", "tenant": "mod", "unit": "cyber", "services": ["storage.blob"]}
        ]
    }))
    .unwrap();
    core.import(&Actor::admin(), inventory, &|_| ()).await.unwrap();
    let s = Server { api: Api::new(common::serve(core).await), store, _dir: dir };
    let clause = json!({"id": "AUP-2", "title": "No mass surveillance of civilians",
        "text": "The customer shall not use the services to facilitate mass surveillance of civilians."});
    assert_eq!(s.call("/v1/clauses", ADMIN, Some(clause)).await.0, StatusCode::CREATED);
    let add = async |name: &str, role: &str, tenant: Option<&str>| {
        let (status, body) =
            s.call("/v1/users", ADMIN, Some(json!({"name": name, "role": role, "tenant": tenant}))).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body["token"].as_str().unwrap().to_owned()
    };
    let staff = Staff {
        analyst: add("analyst", "analyst", None).await,
        approver_a: add("approver-a", "approver", None).await,
        approver_b: add("approver-b", "approver", None).await,
        auditor: add("auditor", "auditor", None).await,
        legal: add("mod-legal", "tenant", Some("mod")).await,
    };
    (s, staff)
}

impl Server {
    async fn entries(&self) -> Vec<verdict_store::LogRecord> {
        self.store.read().await.unwrap().log_records(0, 100_000).await.unwrap()
    }

    /// Whether a write to sig-archive is denied now.
    async fn denied(&self) -> bool {
        let body = json!({"subject": {"type": "gw", "id": "1"}, "action": {"name": "put-blob"},
            "resource": {"type": "service", "id": "storage.blob", "properties": {"subscription": "sig-archive"}}});
        let (_, answer) = self.call("/access/v1/evaluation", PEP, Some(body)).await;
        !answer["decision"].as_bool().unwrap()
    }

    /// Asserts a refusal with `status` and `code` that wrote nothing.
    async fn refused(&self, path: &str, token: &str, body: Value, status: StatusCode, code: &str) {
        let before = self.entries().await.len();
        let (got, answer) = self.call(path, token, Some(body.clone())).await;
        assert_eq!((got, answer["error"]["code"].as_str()), (status, Some(code)), "{path} {body}: {answer}");
        assert!(!answer["error"]["message"].as_str().unwrap().is_empty());
        assert_eq!(self.entries().await.len(), before, "{path} {body} was refused but wrote to the log");
    }
}

fn order(case: &str, emergency: Option<&str>) -> Value {
    let now = Timestamp::now();
    let phases = if emergency.is_some() {
        json!([{"mode": "disabled", "start": now.plus(-DAY)}])
    } else {
        json!([{"mode": "notice", "start": now.plus(-3 * DAY)}, {"mode": "export_only", "start": now.plus(-DAY)},
               {"mode": "disabled", "start": now.plus(6 * DAY)}])
    };
    json!({"tenant": "mod", "clause": "AUP-2", "case_id": case, "scope": {"units": ["intelligence/signals"]},
           "services": ["storage.*", "ai.*"], "exempt": ["security.*"], "phases": phases,
           "emergency_reason": emergency})
}

#[tokio::test]
async fn an_order_takes_effect_only_after_two_approvers_who_did_not_propose_it() {
    let (s, staff) = start().await;
    let start_entries = s.entries().await.len();

    // A case, built on outside evidence and metadata.
    let case = json!({"tenant": "mod", "source_type": "third_party_report", "title": "Reported intercept archive",
        "units": ["intelligence/signals"], "clauses": ["AUP-2"]});
    let (status, case) = s.call("/v1/cases", &staff.analyst, Some(case)).await;
    assert_eq!(status, StatusCode::CREATED, "{case}");
    assert_eq!(case["status"], "open");
    let id = case["id"].as_str().unwrap().to_owned();
    let evidence = format!("/v1/cases/{id}/evidence");
    let document = json!({"kind": "external_document", "address": "https://news.example/report",
        "sha256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", "summary": "Investigative report"});
    assert_eq!(s.call(&evidence, &staff.analyst, Some(document)).await.0, StatusCode::CREATED);
    let finding = json!({"kind": "metadata_finding", "summary": "Storage grew 40x in a month",
        "figures": {"stored_tib": 8000, "speech_hours_per_day": 12000}, "method": "billing meters, Oct 2026"});
    assert_eq!(s.call(&evidence, &staff.analyst, Some(finding)).await.0, StatusCode::CREATED);
    s.refused(
        &evidence,
        &staff.analyst,
        json!({"kind": "customer_content", "text": "intercepted call"}),
        StatusCode::UNPROCESSABLE_ENTITY,
        "customer-content-refused",
    )
    .await;
    s.refused(
        &evidence,
        &staff.analyst,
        json!({"kind": "note", "text": "see file", "attachment": "…"}),
        StatusCode::UNPROCESSABLE_ENTITY,
        "customer-content-refused",
    )
    .await;
    s.refused(&evidence, &staff.auditor, json!({"kind": "note", "text": "x"}), StatusCode::FORBIDDEN, "forbidden")
        .await;
    s.refused(
        &format!("/v1/cases/{id}/status"),
        &staff.analyst,
        json!({"status": "closed"}),
        StatusCode::CONFLICT,
        "illegal-case-transition",
    )
    .await;
    let (status, _) =
        s.call(&format!("/v1/cases/{id}/status"), &staff.analyst, Some(json!({"status": "under_review"}))).await;
    assert_eq!(status, StatusCode::OK);

    // Proposal rules.
    s.refused(
        "/v1/orders",
        &staff.analyst,
        order(&id, None)
            .as_object()
            .unwrap()
            .iter()
            .filter(|(k, _)| *k != "case_id")
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect::<serde_json::Map<_, _>>()
            .into(),
        StatusCode::CONFLICT,
        "case-required",
    )
    .await;
    let mut emergency = order(&id, Some("x"));
    emergency["emergency_reason"] = Value::Null;
    s.refused("/v1/orders", &staff.analyst, emergency, StatusCode::CONFLICT, "emergency-reason-required").await;
    s.refused("/v1/orders", &staff.auditor, order(&id, None), StatusCode::FORBIDDEN, "forbidden").await;
    s.refused("/v1/orders?direct=true", &staff.analyst, order(&id, None), StatusCode::FORBIDDEN, "forbidden").await;

    let (status, proposed) = s.call("/v1/orders", &staff.analyst, Some(order(&id, None))).await;
    assert_eq!(status, StatusCode::CREATED, "{proposed}");
    assert_eq!((proposed["state"].as_str(), proposed["approvals_required"].as_u64()), (Some("proposed"), Some(2)));
    let oid = proposed["id"].as_str().unwrap().to_owned();
    assert!(!s.denied().await, "a proposed order has no effect");

    // Approval rules.
    let approve = format!("/v1/orders/{oid}/approve");
    s.refused(&approve, &staff.analyst, json!({}), StatusCode::FORBIDDEN, "forbidden").await;
    s.refused(&approve, &staff.auditor, json!({}), StatusCode::FORBIDDEN, "forbidden").await;
    s.refused(&approve, &staff.legal, json!({}), StatusCode::FORBIDDEN, "forbidden").await;
    let (status, once) = s.call(&approve, &staff.approver_a, Some(s.seen(&oid).await)).await;
    assert_eq!((status, once["state"].as_str()), (StatusCode::OK, Some("proposed")), "{once}");
    assert!(!s.denied().await, "one approval of two has no effect");
    s.refused(&approve, &staff.approver_a, json!({}), StatusCode::CONFLICT, "already-approved").await;
    let (status, done) = s.call(&approve, &staff.approver_b, Some(s.seen(&oid).await)).await;
    assert_eq!((status, done["state"].as_str()), (StatusCode::OK, Some("approved")), "{done}");
    assert!(s.denied().await, "approved: the export_only phase denies writes");
    s.refused(&approve, &staff.approver_b, json!({}), StatusCode::CONFLICT, "order-not-proposed").await;
    // In force from the approval, not from the phase start written in the order.
    let before_approval = done["approved_at"].as_str().unwrap();
    let past = json!({"subject": {"type": "gw", "id": "1"}, "action": {"name": "put-blob"},
        "resource": {"type": "service", "id": "storage.blob", "properties": {"subscription": "sig-archive"}},
        "context": {"time": Timestamp::parse(before_approval).unwrap().plus(-1).to_string()}});
    assert_eq!(s.call("/access/v1/evaluation", PEP, Some(past)).await.1["decision"], true);

    // Self-approval: an approver may propose, but not approve its own order.
    let (_, own) = s.call("/v1/orders", &staff.approver_a, Some(order(&id, Some("imminent harm")))).await;
    let own_id = own["id"].as_str().unwrap().to_owned();
    s.refused(
        &format!("/v1/orders/{own_id}/approve"),
        &staff.approver_a,
        json!({}),
        StatusCode::CONFLICT,
        "self-approval",
    )
    .await;
    s.refused(
        &format!("/v1/orders/{own_id}/reject"),
        &staff.approver_a,
        json!({"reason": "mine"}),
        StatusCode::CONFLICT,
        "self-approval",
    )
    .await;
    let (status, rejected) = s
        .call(&format!("/v1/orders/{own_id}/reject"), &staff.approver_b, Some(json!({"reason": "not proportionate"})))
        .await;
    assert_eq!((status, rejected["state"].as_str()), (StatusCode::OK, Some("rejected")), "{rejected}");
    s.refused(
        &format!("/v1/orders/{own_id}/lift"),
        &staff.approver_b,
        json!({"reason": "x"}),
        StatusCode::CONFLICT,
        "order-not-approved",
    )
    .await;

    // Lifting needs an approver, once.
    let lift = format!("/v1/orders/{oid}/lift");
    s.refused(&lift, &staff.analyst, json!({"reason": "x"}), StatusCode::FORBIDDEN, "forbidden").await;
    s.refused(&lift, ADMIN, json!({"reason": "x"}), StatusCode::FORBIDDEN, "forbidden").await;
    let (status, lifted) = s.call(&lift, &staff.approver_a, Some(json!({"reason": "appeal upheld"}))).await;
    assert_eq!((status, lifted["status"].as_str()), (StatusCode::OK, Some("lifted")), "{lifted}");
    s.refused(&lift, &staff.approver_b, json!({"reason": "again"}), StatusCode::CONFLICT, "order-already-lifted").await;
    assert!(!s.denied().await);

    // Exactly one entry per legal step, each with its actor.
    let entries = s.entries().await;
    let steps: Vec<(String, String)> = entries[start_entries..]
        .iter()
        .map(|r| {
            let private: Value = serde_json::from_slice(&r.private).unwrap();
            (r.kind.clone(), private["actor"].as_str().unwrap().to_owned())
        })
        .collect();
    let expected = [
        ("case.opened", "analyst"),
        ("evidence.added", "analyst"),
        ("evidence.added", "analyst"),
        ("case.status_changed", "analyst"),
        ("order.proposed", "analyst"),
        ("order.approval", "approver-a"),
        ("order.approved", "approver-b"),
        ("notice.issued", "verdict"),
        ("order.proposed", "approver-a"),
        ("order.rejected", "approver-b"),
        ("order.lifted", "approver-a"),
    ];
    let steps: Vec<(&str, &str)> = steps.iter().map(|(k, a)| (k.as_str(), a.as_str())).collect();
    assert_eq!(steps, expected);

    // The case's timeline tells the same story; the tenant cannot read it.
    let (status, view) = s.call(&format!("/v1/cases/{id}"), &staff.auditor, None).await;
    assert_eq!(status, StatusCode::OK);
    let kinds: Vec<&str> = view["timeline"].as_array().unwrap().iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["opened", "evidence", "evidence", "status", "order_proposed", "order_proposed"]);
    assert_eq!(s.call(&format!("/v1/cases/{id}"), &staff.legal, None).await.0, StatusCode::FORBIDDEN);

    // A closed case takes nothing more until reopened.
    for to in ["decided", "closed"] {
        let (status, _) = s.call(&format!("/v1/cases/{id}/status"), &staff.analyst, Some(json!({"status": to}))).await;
        assert_eq!(status, StatusCode::OK);
    }
    s.refused(&evidence, &staff.analyst, json!({"kind": "note", "text": "late"}), StatusCode::CONFLICT, "case-closed")
        .await;
    s.refused("/v1/orders", &staff.analyst, order(&id, None), StatusCode::CONFLICT, "case-closed").await;
    let (status, reopened) = s
        .call(&format!("/v1/cases/{id}/status"), &staff.analyst, Some(json!({"status": "open", "reason": "new facts"})))
        .await;
    assert_eq!((status, reopened["status"].as_str()), (StatusCode::OK, Some("open")));
}

#[tokio::test]
async fn cases_and_clauses_refuse_what_does_not_hold_together() {
    let (s, staff) = start().await;
    let case = |v: Value| v;
    s.refused(
        "/v1/cases",
        &staff.analyst,
        case(json!({"tenant": "nope", "source_type": "complaint", "title": "t",
        "clauses": ["AUP-2"]})),
        StatusCode::UNPROCESSABLE_ENTITY,
        "unknown-tenant",
    )
    .await;
    s.refused(
        "/v1/cases",
        &staff.analyst,
        case(json!({"tenant": "mod", "source_type": "complaint", "title": "t",
        "clauses": ["AUP-99"]})),
        StatusCode::UNPROCESSABLE_ENTITY,
        "unknown-clause",
    )
    .await;
    s.refused(
        "/v1/cases",
        &staff.analyst,
        case(json!({"tenant": "mod", "source_type": "rumour", "title": "t",
        "clauses": ["AUP-2"]})),
        StatusCode::BAD_REQUEST,
        "invalid-value",
    )
    .await;
    s.refused(
        "/v1/cases",
        &staff.analyst,
        case(json!({"tenant": "mod", "source_type": "complaint", "title": "t",
        "units": ["nowhere"], "clauses": ["AUP-2"]})),
        StatusCode::UNPROCESSABLE_ENTITY,
        "unknown-unit",
    )
    .await;
    s.refused(
        "/v1/cases",
        &staff.approver_a,
        case(json!({"tenant": "mod", "source_type": "complaint", "title": "t",
        "clauses": ["AUP-2"]})),
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    // Clauses: admins publish versions; anyone signed in reads them.
    let (status, v2) = s
        .call(
            "/v1/clauses",
            ADMIN,
            Some(json!({"id": "AUP-2", "title": "No mass surveillance",
        "text": "Revised text.", "approvals_required": 3})),
        )
        .await;
    assert_eq!((status, v2["version"].as_u64()), (StatusCode::CREATED, Some(2)));
    s.refused(
        "/v1/clauses",
        &staff.analyst,
        json!({"id": "AUP-3", "title": "t", "text": "x"}),
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    s.refused(
        "/v1/clauses",
        ADMIN,
        json!({"id": "AUP-3", "title": "t", "text": "x", "approvals_required": 0}),
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid-clause",
    )
    .await;
    let (status, all) = s.call("/v1/clauses", &staff.legal, None).await;
    assert_eq!((status, all.as_array().unwrap().len()), (StatusCode::OK, 2));
    // An order under the revised clause needs three approvers.
    let (_, case) = s
        .call(
            "/v1/cases",
            &staff.analyst,
            Some(json!({"tenant": "mod", "source_type": "legal_order",
        "title": "Court order", "clauses": ["AUP-2"]})),
        )
        .await;
    let (status, proposed) =
        s.call("/v1/orders", &staff.analyst, Some(order(case["id"].as_str().unwrap(), None))).await;
    assert_eq!((status, proposed["approvals_required"].as_u64()), (StatusCode::CREATED, Some(3)), "{proposed}");
    // The wrong tenant for the case.
    let mut other = order(case["id"].as_str().unwrap(), None);
    other["tenant"] = json!("acme");
    other["scope"] = json!({"units": ["rd"]});
    s.refused("/v1/orders", &staff.analyst, other, StatusCode::CONFLICT, "case-tenant-mismatch").await;
}

#[tokio::test]
async fn amendments_supersede_orders_in_force_and_tenants_read_only_their_own() {
    let (s, staff) = start().await;
    // Government customers need three approvers under the revised clause.
    let revised = json!({"id": "AUP-2", "title": "No mass surveillance", "text": "Revised.",
        "approvals_required": 2, "approvals_by_customer_kind": {"government": 3}});
    assert_eq!(s.call("/v1/clauses", ADMIN, Some(revised)).await.0, StatusCode::CREATED);
    let (_, c) = s.call("/v1/users", ADMIN, Some(json!({"name": "approver-c", "role": "approver"}))).await;
    let approver_c = c["token"].as_str().unwrap().to_owned();
    let (_, other) =
        s.call("/v1/users", ADMIN, Some(json!({"name": "acme-legal", "role": "tenant", "tenant": "acme"}))).await;
    let acme_legal = other["token"].as_str().unwrap().to_owned();
    let (_, case) = s
        .call(
            "/v1/cases",
            &staff.analyst,
            Some(json!({"tenant": "mod", "source_type": "internal_signal",
        "title": "Usage anomaly", "clauses": ["AUP-2"]})),
        )
        .await;
    let case_id = case["id"].as_str().unwrap().to_owned();
    let approve_all = async |id: &str| {
        let mut last = Value::Null;
        for token in [&staff.approver_a, &staff.approver_b, &approver_c] {
            let (status, body) = s.call(&format!("/v1/orders/{id}/approve"), token, Some(s.seen(id).await)).await;
            assert_eq!(status, StatusCode::OK, "{body}");
            last = body;
        }
        last
    };
    let (_, first) = s.call("/v1/orders", &staff.analyst, Some(order(&case_id, None))).await;
    assert_eq!(first["approvals_required"], 3, "{first}");
    let first_id = first["id"].as_str().unwrap().to_owned();
    for token in [&staff.approver_a, &staff.approver_b] {
        s.call(&format!("/v1/orders/{first_id}/approve"), token, Some(s.seen(&first_id).await)).await;
    }
    let (_, two) = s.call(&format!("/v1/orders/{first_id}"), ADMIN, None).await;
    assert_eq!(two["state"], "proposed", "two of three approvals have no effect");
    assert!(!s.denied().await);
    let (_, done) = s.call(&format!("/v1/orders/{first_id}/approve"), &approver_c, Some(s.seen(&first_id).await)).await;
    assert_eq!(done["state"], "approved");
    assert!(s.denied().await);

    // An amendment restricting only AI replaces it once approved.
    let mut amendment = order(&case_id, None);
    amendment["services"] = json!(["ai.*"]);
    amendment["amends"] = json!(first_id);
    let (status, second) = s.call("/v1/orders", &staff.analyst, Some(amendment.clone())).await;
    assert_eq!(status, StatusCode::CREATED, "{second}");
    let second_id = second["id"].as_str().unwrap().to_owned();
    assert!(s.denied().await, "the amendment has no effect until approved");
    let approved = approve_all(&second_id).await;
    assert_eq!(
        (approved["state"].as_str(), approved["supersedes"].as_str()),
        (Some("approved"), Some(first_id.as_str()))
    );
    assert!(!s.denied().await, "storage is no longer restricted");
    let (_, old) = s.call(&format!("/v1/orders/{first_id}"), ADMIN, None).await;
    assert_eq!(old["status"], "superseded");
    assert!(old["lift_reason"].as_str().unwrap().contains(&second_id), "{old}");
    // The old version stays in history, and cannot be amended again.
    s.refused("/v1/orders", &staff.analyst, amendment, StatusCode::CONFLICT, "order-not-in-force").await;

    // Tenants read their own orders, and only those.
    let (status, mine) = s.call("/v1/orders", &staff.legal, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(mine["items"].as_array().unwrap().len(), 2);
    assert_eq!(s.call(&format!("/v1/orders/{second_id}"), &staff.legal, None).await.0, StatusCode::OK);
    let (status, body) = s.call(&format!("/v1/orders/{second_id}"), &acme_legal, None).await;
    assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::NOT_FOUND, Some("unknown-order")));
    assert_eq!(s.call("/v1/orders", &acme_legal, None).await.1["items"], json!([]));
    // …and their own log records, not others'.
    let (status, appeal) =
        s.call(&format!("/v1/orders/{second_id}/appeals"), &acme_legal, Some(json!({"statement": "not ours"}))).await;
    assert_eq!((status, appeal["error"]["code"].as_str()), (StatusCode::NOT_FOUND, Some("unknown-order")));
}

#[tokio::test]
async fn guards_stop_approvals_unless_overridden_and_approvals_bind_to_the_preview() {
    let (s, staff) = start().await;
    let guard = json!({"id": "gov-security", "description": "Governments keep their security services",
        "customer_kind": "government", "services": ["security.*"]});
    assert_eq!(s.call("/v1/guards", ADMIN, Some(guard)).await.0, StatusCode::CREATED);
    s.refused(
        "/v1/guards",
        &staff.analyst,
        json!({"id": "g2", "description": "x", "services": ["*"]}),
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    let sub = json!({"id": "sig-defender", "tenant": "mod", "unit": "intelligence/signals",
        "services": ["security.defender"], "region": "westeurope"});
    assert_eq!(s.call("/v1/subscriptions", ADMIN, Some(sub)).await.0, StatusCode::CREATED);
    let (_, case) = s
        .call(
            "/v1/cases",
            &staff.analyst,
            Some(json!({"tenant": "mod", "source_type": "complaint",
        "title": "t", "clauses": ["AUP-2"]})),
        )
        .await;
    let mut everything = order(case["id"].as_str().unwrap(), None);
    everything["services"] = json!(["*"]);
    everything["exempt"] = json!([]);
    let (_, proposed) = s.call("/v1/orders", &staff.analyst, Some(everything)).await;
    let id = proposed["id"].as_str().unwrap().to_owned();
    let approve = format!("/v1/orders/{id}/approve");

    // The preview shows what is cut, and the approval must carry its hash.
    let (_, preview) = s.call(&format!("/v1/orders/{id}/preview"), &staff.approver_a, None).await;
    let affected: Vec<&str> =
        preview["affected"].as_array().unwrap().iter().map(|a| a["subscription"].as_str().unwrap()).collect();
    assert_eq!(affected, ["sig-archive", "sig-defender"]);
    assert_eq!(preview["untouched"], json!([{"subscription": "cyber-ops", "unit": "cyber"}]));
    s.refused(&approve, &staff.approver_a, json!({}), StatusCode::CONFLICT, "preview-required").await;
    let seen = preview["hash"].clone();
    s.refused(&approve, &staff.approver_a, json!({"preview_hash": seen}), StatusCode::CONFLICT, "guard-violated").await;
    s.refused(
        &approve,
        &staff.approver_a,
        json!({"preview_hash": seen, "overrides": [{"guard": "gov-security", "reason": " "}]}),
        StatusCode::CONFLICT,
        "override-reason-required",
    )
    .await;

    // The inventory moves on: the old preview no longer binds.
    let late = json!({"id": "sig-late", "tenant": "mod", "unit": "intelligence/signals", "services": ["ai.vision"]});
    assert_eq!(s.call("/v1/subscriptions", ADMIN, Some(late)).await.0, StatusCode::CREATED);
    let overridden =
        json!([{"guard": "gov-security", "reason": "Defender is used to run the intercept platform itself"}]);
    s.refused(
        &approve,
        &staff.approver_a,
        json!({"preview_hash": seen, "overrides": overridden}),
        StatusCode::CONFLICT,
        "preview-stale",
    )
    .await;
    for token in [&staff.approver_a, &staff.approver_b] {
        let mut body = s.seen(&id).await;
        body["overrides"] = overridden.clone();
        let (status, answer) = s.call(&approve, token, Some(body)).await;
        assert_eq!(status, StatusCode::OK, "{answer}");
    }
    let (_, approved) = s.call(&format!("/v1/orders/{id}"), ADMIN, None).await;
    assert_eq!(approved["state"], "approved");
    assert_eq!(approved["approvals"][0]["overrides"][0]["guard"], "gov-security");
    // The override is in the log, the notice and the report.
    let entries = s.entries().await;
    let approval: Value =
        serde_json::from_slice(&entries.iter().rev().find(|r| r.kind == "order.approved").unwrap().entry).unwrap();
    assert_eq!(approval["public"]["guards_overridden"], json!(["gov-security"]));
    let (_, notices) = s.call("/v1/notices", &staff.legal, None).await;
    assert_eq!(notices[0]["statement"]["guard_overrides"][0]["guard"], "gov-security");
    let (_, report) = s.call("/v1/reports/transparency", &staff.auditor, None).await;
    assert!(report["overrides_by_guard"]["gov-security"].as_u64().unwrap() >= 1, "{report}");
}
