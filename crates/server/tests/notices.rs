//! Notices through real HTTP on port 0: issued on approval with a statement
//! of reasons, readable by the tenant concerned and no other, provably the
//! one logged (receipt + private record), exported in the DSA shape, and
//! delivered to a webhook that fails at first: retried, signed, once in
//! effect.

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, StatusCode as AxumStatus};
use common::{ADMIN, Api, PEP};
use reqwest::StatusCode;
use serde_json::{Value, json};
use verdict_control::{Actor, Core};
use verdict_log::{Receipt, leaf_hash};
use verdict_model::Timestamp;
use verdict_server::outbox::{Webhook, deliver_forever, signature};

const SECRET: &[u8] = b"webhook-shared-secret";
const DAY: i64 = 86_400;

/// A receiver that answers 500 to its first `fail` requests.
#[derive(Default)]
struct Receiver {
    fail: usize,
    seen: Vec<(HeaderMap, String)>,
}

async fn receiver(fail: usize) -> (String, Arc<Mutex<Receiver>>) {
    let state = Arc::new(Mutex::new(Receiver { fail, seen: Vec::new() }));
    let shared = state.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: HeaderMap, body: String| {
            let shared = shared.clone();
            async move {
                let mut r = shared.lock().unwrap();
                r.seen.push((headers, body));
                if r.seen.len() <= r.fail { AxumStatus::INTERNAL_SERVER_ERROR } else { AxumStatus::NO_CONTENT }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}/hook"), state)
}

struct Server {
    api: Api,
    core: Arc<Core>,
    _dir: tempfile::TempDir,
}

impl std::ops::Deref for Server {
    type Target = Api;

    fn deref(&self) -> &Api {
        &self.api
    }
}

impl Server {
    async fn token(&self, name: &str, role: &str, tenant: Option<&str>) -> String {
        let (status, body) =
            self.call("/v1/users", ADMIN, Some(json!({"name": name, "role": role, "tenant": tenant}))).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body["token"].as_str().unwrap().to_owned()
    }
}

async fn start(hook: &str) -> Server {
    let (core, _, dir) = common::open_core().await;
    let inventory = serde_json::from_value(json!({
        "tenants": [{"id": "mod", "kind": "government"}, {"id": "acme", "kind": "enterprise"}],
        "units": [{"tenant": "mod", "path": "intelligence/signals"}, {"tenant": "acme", "path": "rd"}],
        "subscriptions": [{"id": "sig-archive", "tenant": "mod", "unit": "intelligence/signals",
                           "services": ["storage.blob"], "region": "westeurope"}]
    }))
    .unwrap();
    core.import(&Actor::admin(), inventory, &|_| ()).await.unwrap();
    let api = Api::new(common::serve(core.clone()).await);
    let webhook = Webhook {
        url: hook.to_owned(),
        secret: SECRET.to_vec(),
        first_retry: Duration::from_millis(50),
        max_retry: Duration::from_millis(200),
    };
    tokio::spawn(deliver_forever(core.clone(), webhook));
    Server { api, core, _dir: dir }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_approved_order_notifies_its_tenant_provably_and_reliably() {
    let (hook, received) = receiver(2).await;
    let s = start(&hook).await;
    let clause = json!({"id": "AUP-2", "title": "No mass surveillance of civilians",
        "text": "The customer shall not use the services to facilitate mass surveillance of civilians."});
    assert_eq!(s.call("/v1/clauses", ADMIN, Some(clause)).await.0, StatusCode::CREATED);
    let analyst = s.token("analyst", "analyst", None).await;
    let approver_a = s.token("approver-a", "approver", None).await;
    let approver_b = s.token("approver-b", "approver", None).await;
    let legal = s.token("mod-legal", "tenant", Some("mod")).await;
    let other = s.token("acme-legal", "tenant", Some("acme")).await;

    let (_, case) = s
        .call(
            "/v1/cases",
            &analyst,
            Some(json!({"tenant": "mod", "source_type": "third_party_report",
            "title": "Reported intercept archive", "units": ["intelligence/signals"], "clauses": ["AUP-2"]})),
        )
        .await;
    let case_id = case["id"].as_str().unwrap().to_owned();
    let document = json!({"kind": "external_document", "address": "https://news.example/report",
        "sha256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", "summary": "Investigative report"});
    s.call(&format!("/v1/cases/{case_id}/evidence"), &analyst, Some(document)).await;
    let now = Timestamp::now();
    let order = json!({"tenant": "mod", "clause": "AUP-2", "case_id": case_id,
        "scope": {"units": ["intelligence/signals"]}, "services": ["storage.*", "ai.*"], "exempt": ["security.*"],
        "phases": [{"mode": "notice", "start": now.plus(-DAY)}, {"mode": "disabled", "start": now.plus(6 * DAY)}]});
    let (_, order) = s.call("/v1/orders", &analyst, Some(order)).await;
    let order_id = order["id"].as_str().unwrap().to_owned();
    s.call(&format!("/v1/orders/{order_id}/approve"), &approver_a, Some(s.seen(&order_id).await)).await;
    let (_, notices) = s.call("/v1/notices", &legal, None).await;
    assert_eq!(notices.as_array().unwrap().len(), 0, "no notice before approval");
    s.call(&format!("/v1/orders/{order_id}/approve"), &approver_b, Some(s.seen(&order_id).await)).await;

    // The tenant concerned reads its notice; no one else's user does.
    let (status, notices) = s.call("/v1/notices", &legal, None).await;
    assert_eq!(status, StatusCode::OK);
    let notice = notices.as_array().unwrap()[0].clone();
    let id = notice["id"].as_str().unwrap().to_owned();
    let statement = &notice["statement"];
    assert_eq!(notice["order"], order_id.as_str());
    assert_eq!(statement["restriction"], "partial_suspension");
    assert_eq!(statement["ground"]["clause"], "AUP-2");
    assert_eq!(statement["ground"]["version"], 1);
    assert_eq!(statement["services"], json!(["storage.*", "ai.*"]));
    assert_eq!(statement["territorial_scope"], json!(["westeurope"]));
    assert_eq!(
        (statement["automated_detection"].as_bool(), statement["automated_decision"].as_bool()),
        (Some(false), Some(false))
    );
    assert!(statement["facts"].as_str().unwrap().contains("https://news.example/report"));
    assert!(statement["how_to_appeal"].as_str().unwrap().contains(&format!("/v1/orders/{order_id}/appeals")));
    assert_eq!(s.call("/v1/notices", &other, None).await.1, json!([]));
    let (status, body) = s.call(&format!("/v1/notices/{id}"), &other, None).await;
    assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::NOT_FOUND, Some("unknown-notice")));
    assert_eq!(s.call(&format!("/v1/notices/{id}/receipt"), &other, None).await.0, StatusCode::NOT_FOUND);

    // The notice the tenant holds is provably the one logged: the receipt
    // proves the entry, whose commitment covers this very notice.
    let text = s.http.get(format!("{}/v1/notices/{id}/receipt", s.base)).bearer_auth(&legal).send().await.unwrap();
    let receipt = Receipt::parse(&text.text().await.unwrap()).unwrap();
    let entry = receipt.extra.clone().unwrap();
    receipt.verify(&s.core.log_key(), &leaf_hash(&entry)).unwrap();
    let entry: Value = serde_json::from_slice(&entry).unwrap();
    assert_eq!(
        (entry["type"].as_str(), entry["public"]["notice"].as_str()),
        (Some("notice.issued"), Some(id.as_str()))
    );
    let (status, private) = s.call(&format!("/v1/log/entries/{}/private", receipt.index), &legal, None).await;
    assert_eq!(status, StatusCode::OK, "{private}");
    let record: Value = serde_json::from_str(private["record"].as_str().unwrap()).unwrap();
    assert_eq!(record["facts"], notice);
    assert_eq!(private["commitment"], entry["commitment"]);

    // DSA Transparency Database shape.
    let (_, dsa) = s.call(&format!("/v1/notices/{id}/dsa"), &legal, None).await;
    assert_eq!(dsa["decision_provision"], "DECISION_PROVISION_PARTIAL_SUSPENSION");
    assert_eq!(dsa["decision_ground"], "DECISION_GROUND_INCOMPATIBLE_CONTENT");
    assert_eq!(dsa["source_type"], "SOURCE_ARTICLE_16");
    assert_eq!(dsa["automated_decision"], "AUTOMATED_DECISION_NOT_AUTOMATED");
    assert_eq!(dsa["territorial_scope"], json!(["NL"]));
    assert_eq!(dsa["puid"], id.as_str());
    assert!(dsa["application_date"].as_str().unwrap().len() == 10);

    // Delivered despite two failures: retried, signed, one key throughout.
    let deadline = Instant::now() + Duration::from_secs(15);
    let deliveries = loop {
        let (_, rows) = s.call(&format!("/v1/notices/{id}/deliveries"), ADMIN, None).await;
        if rows[0]["delivered_at"].is_string() || Instant::now() > deadline {
            break rows;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(deliveries[0]["delivered_at"].is_string(), "not delivered: {deliveries}");
    assert_eq!(deliveries[0]["attempts"], 2);
    let seen = received.lock().unwrap().seen.clone();
    assert_eq!(seen.len(), 3, "two failures, then one success");
    for (headers, body) in &seen {
        assert_eq!(headers["idempotency-key"], id.as_str());
        let timestamp: i64 = headers["x-verdict-timestamp"].to_str().unwrap().parse().unwrap();
        assert_eq!(headers["x-verdict-signature"].to_str().unwrap(), signature(SECRET, timestamp, body));
        assert_ne!(headers["x-verdict-signature"].to_str().unwrap(), signature(b"wrong", timestamp, body));
        let delivered: Value = serde_json::from_str(body).unwrap();
        assert_eq!(delivered["notice"], notice);
    }
    // Once in effect: however often it came, the receiver saw one notice.
    let keys: std::collections::HashSet<String> =
        seen.iter().map(|(h, _)| h["idempotency-key"].to_str().unwrap().to_owned()).collect();
    assert_eq!(keys.len(), 1);
}

/// Tokens of the people in the story.
struct People {
    analyst: String,
    approver_a: String,
    approver_b: String,
    reviewer: String,
    legal: String,
    other: String,
}

/// The story up to an approved order under case; returns its id.
async fn approved_order(s: &Server) -> (String, People) {
    let clause = json!({"id": "AUP-2", "title": "No mass surveillance of civilians", "text": "No mass surveillance."});
    assert_eq!(s.call("/v1/clauses", ADMIN, Some(clause)).await.0, StatusCode::CREATED);
    let people = People {
        analyst: s.token("analyst", "analyst", None).await,
        approver_a: {
            let (_, body) = s
                .call("/v1/users", ADMIN, Some(json!({"name": "approver-a", "roles": ["approver", "reviewer"]})))
                .await;
            body["token"].as_str().unwrap().to_owned()
        },
        approver_b: s.token("approver-b", "approver", None).await,
        reviewer: s.token("reviewer", "reviewer", None).await,
        legal: s.token("mod-legal", "tenant", Some("mod")).await,
        other: s.token("acme-legal", "tenant", Some("acme")).await,
    };
    let (_, case) = s
        .call(
            "/v1/cases",
            &people.analyst,
            Some(json!({"tenant": "mod", "source_type": "complaint",
            "title": "Complaint", "units": ["intelligence/signals"], "clauses": ["AUP-2"]})),
        )
        .await;
    let now = Timestamp::now();
    let order = json!({"tenant": "mod", "clause": "AUP-2", "case_id": case["id"],
        "scope": {"units": ["intelligence/signals"]}, "services": ["storage.*", "ai.*"],
        "phases": [{"mode": "disabled", "start": now.plus(-DAY)}], "emergency_reason": "ongoing harm"});
    let (_, order) = s.call("/v1/orders", &people.analyst, Some(order)).await;
    let id = order["id"].as_str().unwrap().to_owned();
    for token in [&people.approver_a, &people.approver_b] {
        assert_eq!(s.call(&format!("/v1/orders/{id}/approve"), token, Some(s.seen(&id).await)).await.0, StatusCode::OK);
    }
    (id, people)
}

async fn decide(s: &Server, token: &str, path: &str, body: Value) -> (StatusCode, Value) {
    s.call(path, token, Some(body)).await
}

async fn allowed(s: &Server, service: &str, action: &str) -> bool {
    let body = json!({"subject": {"type": "gw", "id": "1"}, "action": {"name": action},
        "resource": {"type": "service", "id": service, "properties": {"subscription": "sig-archive"}}});
    s.call("/access/v1/evaluation", PEP, Some(body)).await.1["decision"].as_bool().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn appeals_are_decided_by_an_uninvolved_reviewer_and_the_tenant_is_told() {
    let (hook, _) = receiver(0).await;
    let s = start(&hook).await;
    let (order, p) = approved_order(&s).await;
    assert!(!allowed(&s, "ai.vision", "analyze").await);
    let file = format!("/v1/orders/{order}/appeals");
    let statement = json!({"statement": "The unit processes lawful intercepts under judicial warrant."});

    // Who may appeal what.
    let (status, body) = s.call(&file, &p.other, Some(statement.clone())).await;
    assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::NOT_FOUND, Some("unknown-order")), "{body}");
    assert_eq!(s.call(&file, &p.analyst, Some(statement.clone())).await.0, StatusCode::FORBIDDEN);
    let (status, appeal) = s.call(&file, &p.legal, Some(statement.clone())).await;
    assert_eq!(status, StatusCode::CREATED, "{appeal}");
    let (status, body) = s.call(&file, &p.legal, Some(statement.clone())).await;
    assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::CONFLICT, Some("appeal-pending")));
    assert_eq!(s.call("/v1/appeals", &p.other, None).await.1, json!([]));
    let appeal_id = appeal["id"].as_str().unwrap().to_owned();
    let decision = format!("/v1/appeals/{appeal_id}/decision");

    // A reviewer who approved the order may not decide; nor may a non-reviewer.
    let uphold = json!({"outcome": "uphold", "reasons": "The reports are corroborated by metadata."});
    let (status, body) = decide(&s, &p.approver_a, &decision, uphold.clone()).await;
    assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::CONFLICT, Some("reviewer-conflict")), "{body}");
    assert_eq!(decide(&s, &p.approver_b, &decision, uphold.clone()).await.0, StatusCode::FORBIDDEN);
    let (status, decided) = decide(&s, &p.reviewer, &decision, uphold.clone()).await;
    assert_eq!(status, StatusCode::OK, "{decided}");
    assert_eq!(decided["notice"]["kind"], "appeal_outcome");
    assert_eq!(decided["notice"]["appeal"]["decision"]["outcome"], "uphold");
    let (status, body) = decide(&s, &p.reviewer, &decision, uphold).await;
    assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::CONFLICT, Some("appeal-decided")));
    assert!(!allowed(&s, "ai.vision", "analyze").await, "upheld: still restricted");

    // Amended: a new version replaces the order; AI is restored, storage not.
    let (_, appeal) = s.call(&file, &p.legal, Some(statement.clone())).await;
    let decision = format!("/v1/appeals/{}/decision", appeal["id"].as_str().unwrap());
    let before = s.call("/v1/notices", &p.legal, None).await.1.as_array().unwrap().len();
    let (status, body) =
        decide(&s, &p.reviewer, &decision, json!({"outcome": "amend", "reasons": "AI use is unproven."})).await;
    assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::CONFLICT, Some("amendment-required")));
    let amendment = json!({"tenant": "mod", "clause": "AUP-2", "scope": {"units": ["intelligence/signals"]},
        "services": ["storage.*"], "phases": [{"mode": "disabled", "start": Timestamp::now().plus(-DAY)}]});
    let (status, decided) = decide(
        &s,
        &p.reviewer,
        &decision,
        json!({"outcome": "amend", "reasons": "AI use is unproven.", "amendment": amendment}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{decided}");
    let new_order = decided["appeal"]["decision"]["new_order"].as_str().unwrap().to_owned();
    assert_eq!(decided["notice"]["order"], new_order.as_str());
    assert!(allowed(&s, "ai.vision", "analyze").await, "amended: AI restored");
    assert!(!allowed(&s, "storage.blob", "put-blob").await, "amended: storage still restricted");
    let (_, old) = s.call(&format!("/v1/orders/{order}"), ADMIN, None).await;
    assert_eq!((old["status"].as_str(), old["superseded_by"].as_str()), (Some("superseded"), Some(new_order.as_str())));
    assert!(old["lift_reason"].as_str().unwrap().contains(&new_order));
    let (_, new) = s.call(&format!("/v1/orders/{new_order}"), ADMIN, None).await;
    assert_eq!((new["state"].as_str(), new["supersedes"].as_str()), (Some("approved"), Some(order.as_str())));
    assert_eq!(s.call("/v1/notices", &p.legal, None).await.1.as_array().unwrap().len(), before + 1);

    // Lifted on appeal of the new version, by another reviewer: the one who
    // wrote the amendment took part in that order.
    let (_, appeal) = s.call(&format!("/v1/orders/{new_order}/appeals"), &p.legal, Some(statement)).await;
    let path = format!("/v1/appeals/{}/decision", appeal["id"].as_str().unwrap());
    let lift = json!({"outcome": "lift", "reasons": "Disproportionate."});
    let (status, body) = decide(&s, &p.reviewer, &path, lift.clone()).await;
    assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::CONFLICT, Some("reviewer-conflict")));
    let second = s.token("reviewer-2", "reviewer", None).await;
    let (status, decided) = decide(&s, &second, &path, lift).await;
    assert_eq!(status, StatusCode::OK, "{decided}");
    assert!(allowed(&s, "storage.blob", "put-blob").await, "lifted on appeal");
    let (_, appeals) = s.call("/v1/appeals", &p.legal, None).await;
    let outcomes: Vec<&str> =
        appeals.as_array().unwrap().iter().map(|a| a["decision"]["outcome"].as_str().unwrap()).collect();
    assert_eq!(outcomes.len(), 3);
    assert!(outcomes.contains(&"uphold") && outcomes.contains(&"amend") && outcomes.contains(&"lift"));
    // Completing decided appeals again (as a restart does) changes nothing.
    let notices = s.call("/v1/notices", &p.legal, None).await.1;
    let orders = s.call("/v1/orders", ADMIN, None).await.1["items"].as_array().unwrap().len();
    s.core.complete_appeals().await.unwrap();
    assert_eq!(s.call("/v1/notices", &p.legal, None).await.1, notices);
    assert_eq!(s.call("/v1/orders", ADMIN, None).await.1["items"].as_array().unwrap().len(), orders);
}
