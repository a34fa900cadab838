//! Users and roles through real HTTP on port 0: tokens issued once and
//! stored only as hashes, each role held to what it may do, revocation at
//! once, tenant users confined to their tenant, every change attributed.

mod common;

use std::sync::Arc;

use common::ADMIN;
use reqwest::StatusCode;
use serde_json::{Value, json};
use verdict_control::{Actor, Core};
use verdict_store::{SqliteStore, Store};

struct Server {
    base: String,
    http: reqwest::Client,
    core: Arc<Core>,
    store: Arc<SqliteStore>,
    _dir: tempfile::TempDir,
}

async fn start() -> Server {
    let (core, store, dir) = common::open_core().await;
    let inventory = serde_json::from_value(json!({
        "tenants": [{"id": "mod", "kind": "government"}, {"id": "acme", "kind": "enterprise"}],
        "units": [{"tenant": "mod", "path": "intel"}, {"tenant": "acme", "path": "rd"}],
        "subscriptions": []
    }))
    .unwrap();
    core.import(&Actor::admin(), inventory, &|_| ()).await.unwrap();
    for (tenant, path) in [("mod", "cyber"), ("acme", "ops")] {
        let unit = serde_json::from_value(json!({"tenant": tenant, "path": path})).unwrap();
        core.create_unit(&Actor::admin(), unit).await.unwrap();
    }
    let base = common::serve(core.clone()).await;
    Server { base, http: reqwest::Client::new(), core, store, _dir: dir }
}

impl Server {
    async fn call(&self, method: &str, path: &str, token: &str, body: Option<Value>) -> (StatusCode, Value) {
        let url = format!("{}{path}", self.base);
        let mut request = match method {
            "GET" => self.http.get(url),
            _ => self.http.post(url),
        }
        .bearer_auth(token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let r = request.send().await.unwrap();
        let status = r.status();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    async fn add(&self, name: &str, role: &str, tenant: Option<&str>) -> String {
        let (status, body) =
            self.call("POST", "/v1/users", ADMIN, Some(json!({"name": name, "role": role, "tenant": tenant}))).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        assert_eq!(body["user"]["roles"], json!([role]));
        body["token"].as_str().unwrap().to_owned()
    }
}

#[tokio::test]
async fn each_role_does_what_it_may_and_nothing_else() {
    let s = start().await;
    let analyst = s.add("ana", "analyst", None).await;
    let auditor = s.add("audrey", "auditor", None).await;
    let legal = s.add("mod-legal", "tenant", Some("mod")).await;
    let gateway = s.add("gw-1", "pep", None).await;
    assert!(analyst.starts_with("vdt_analyst_"));

    // Staff read the inventory; only admins change it.
    assert_eq!(s.call("GET", "/v1/tenants", &analyst, None).await.0, StatusCode::OK);
    assert_eq!(s.call("GET", "/v1/tenants", &auditor, None).await.0, StatusCode::OK);
    for token in [&analyst, &auditor] {
        let (status, body) = s.call("POST", "/v1/tenants", token, Some(json!({"id": "x", "kind": "other"}))).await;
        assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::FORBIDDEN, Some("forbidden")), "{body}");
    }
    // A tenant's user sees no one else's inventory.
    let (status, body) = s.call("GET", "/v1/tenants", &legal, None).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    // A gateway decides and does nothing else.
    let decision = json!({"subject": {"type": "gw", "id": "1"}, "action": {"name": "read"},
        "resource": {"type": "service", "id": "storage.blob", "properties": {"subscription": "s"}}});
    assert_eq!(s.call("POST", "/access/v1/evaluation", &gateway, Some(decision.clone())).await.0, StatusCode::OK);
    assert_eq!(s.call("POST", "/access/v1/evaluation", &analyst, Some(decision)).await.0, StatusCode::FORBIDDEN);
    assert_eq!(s.call("GET", "/v1/users", &gateway, None).await.0, StatusCode::FORBIDDEN);
    // Only admins manage users.
    let (status, _) = s.call("POST", "/v1/users", &analyst, Some(json!({"name": "z", "role": "admin"}))).await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // Private log records: admins, auditors, and the tenant for its own.
    let records = s.store.read().await.unwrap().log_records(0, 1000).await.unwrap();
    let own = records.iter().find(|r| r.tenant.as_deref() == Some("mod")).unwrap().index;
    let other = records.iter().find(|r| r.tenant.as_deref() == Some("acme")).unwrap().index;
    let private = |i: u64| format!("/v1/log/entries/{i}/private");
    assert_eq!(s.call("GET", &private(own), &auditor, None).await.0, StatusCode::OK);
    assert_eq!(s.call("GET", &private(own), &legal, None).await.0, StatusCode::OK);
    let (status, body) = s.call("GET", &private(other), &legal, None).await;
    // Another tenant's entry has, to a tenant's user, no private record.
    assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::NOT_FOUND, Some("unknown-record")), "{body}");
    assert_eq!(s.call("GET", &private(own), &analyst, None).await.0, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn tokens_are_hashed_revocable_and_every_change_is_attributed() {
    let s = start().await;
    let token = s.add("zelda", "analyst", None).await;
    // Only a hash is stored.
    let stored = s.store.read().await.unwrap().users().await.unwrap();
    let (user, hash) = stored.iter().find(|(u, _)| u.name == "zelda").unwrap();
    assert_eq!(user.roles, [verdict_model::Role::Analyst]);
    assert_ne!(&hash[..], token.as_bytes());
    assert_eq!(s.core.authenticate(&token).unwrap().name, "zelda");

    // The change is logged with its actor, and the user's name is private.
    let records = s.store.read().await.unwrap().log_records(0, 1000).await.unwrap();
    let added = records.iter().find(|r| r.kind == "user.added").unwrap();
    assert!(!String::from_utf8_lossy(&added.entry).contains("zelda"));
    let private: Value = serde_json::from_slice(&added.private).unwrap();
    assert_eq!((private["actor"].as_str(), private["facts"]["name"].as_str()), (Some("admin"), Some("zelda")));

    // Refusals, each specific, each leaving nothing behind.
    let before = s.store.read().await.unwrap().log_records(0, 1000).await.unwrap().len();
    for (body, status, code) in [
        (json!({"name": "zelda", "role": "auditor"}), StatusCode::CONFLICT, "user-exists"),
        (json!({"name": "admin", "role": "auditor"}), StatusCode::CONFLICT, "reserved-user-name"),
        (json!({"name": "x", "role": "boss"}), StatusCode::UNPROCESSABLE_ENTITY, "unknown-role"),
        (json!({"name": "x", "role": "tenant"}), StatusCode::UNPROCESSABLE_ENTITY, "invalid-user"),
        (json!({"name": "x", "role": "analyst", "tenant": "mod"}), StatusCode::UNPROCESSABLE_ENTITY, "invalid-user"),
        (json!({"name": "x", "role": "tenant", "tenant": "nope"}), StatusCode::UNPROCESSABLE_ENTITY, "unknown-tenant"),
        (json!({"name": "bad name", "role": "auditor"}), StatusCode::UNPROCESSABLE_ENTITY, "invalid-id"),
        (
            json!({"name": "x", "roles": ["tenant", "analyst"], "tenant": "mod"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid-user",
        ),
        (json!({"name": "x", "roles": ["approver", "approver"]}), StatusCode::UNPROCESSABLE_ENTITY, "invalid-user"),
        (json!({"name": "x"}), StatusCode::UNPROCESSABLE_ENTITY, "invalid-user"),
    ] {
        let (got, answer) = s.call("POST", "/v1/users", ADMIN, Some(body.clone())).await;
        assert_eq!((got, answer["error"]["code"].as_str()), (status, Some(code)), "{body}: {answer}");
    }
    assert_eq!(s.store.read().await.unwrap().log_records(0, 1000).await.unwrap().len(), before);

    // Revoked: refused at once, and revoking again is an illegal transition.
    let (status, body) = s.call("POST", "/v1/users/zelda/revoke", ADMIN, None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body["revoked_at"].is_string());
    let (status, body) = s.call("GET", "/v1/tenants", &token, None).await;
    assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::UNAUTHORIZED, Some("invalid-token")));
    let (status, body) = s.call("POST", "/v1/users/zelda/revoke", ADMIN, None).await;
    assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::CONFLICT, Some("user-already-revoked")));
    let (status, body) = s.call("POST", "/v1/users/nobody/revoke", ADMIN, None).await;
    assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::NOT_FOUND, Some("unknown-user")));
    let (_, users) = s.call("GET", "/v1/users", ADMIN, None).await;
    assert_eq!(users.as_array().unwrap().len(), 1);
    // Several staff roles in one user.
    let (status, both) =
        s.call("POST", "/v1/users", ADMIN, Some(json!({"name": "cleo", "roles": ["approver", "reviewer"]}))).await;
    assert_eq!((status, both["user"]["roles"].clone()), (StatusCode::CREATED, json!(["approver", "reviewer"])));
    assert_eq!(s.core.authenticate(both["token"].as_str().unwrap()).unwrap().roles_text(), "approver+reviewer");
    // Another user is unaffected.
    let other = s.add("audrey", "auditor", None).await;
    assert_eq!(s.call("GET", "/v1/tenants", &other, None).await.0, StatusCode::OK);
}
