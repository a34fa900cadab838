//! Strict bodies on every write endpoint, through real HTTP: each is sent
//! an unknown field, a content-like field, broken JSON, JSON of the wrong
//! type and a body that is not JSON at all. Each is refused with its own
//! code, and none of them writes anything.

mod common;

use common::{ADMIN, Api};
use reqwest::StatusCode;
use serde_json::{Value, json};
use verdict_control::Actor;

/// A write endpoint and a body it accepts in shape (its fields, not
/// necessarily values the state would allow).
struct Endpoint {
    path: String,
    body: Value,
    /// Whether people write free text in it, so content is screened first.
    screened: bool,
    /// Whether only an analyst may call it (the role is checked first).
    analyst: bool,
}

fn endpoints(order: &str, case: &str, appeal: &str) -> Vec<Endpoint> {
    let spec = json!({"tenant": "mod", "clause": "AUP-2", "scope": {"units": ["signals"]},
        "services": ["storage.*"], "phases": [{"mode": "disabled", "start": "2026-01-01T00:00:00Z"}]});
    let e =
        |path: &str, body: Value, screened: bool| Endpoint { path: path.to_owned(), body, screened, analyst: false };
    vec![
        e("/v1/tenants", json!({"id": "t2", "kind": "enterprise"}), false),
        e("/v1/units", json!({"tenant": "mod", "path": "new/unit"}), false),
        e(
            "/v1/subscriptions",
            json!({"id": "s9", "tenant": "mod", "unit": "signals", "services": ["storage.blob"]}),
            false,
        ),
        e("/v1/subscriptions/sig/move", json!({"unit": "other"}), false),
        e("/v1/orders", spec.clone(), false),
        e("/v1/orders/preview", spec.clone(), false),
        e(&format!("/v1/orders/{order}/lift"), json!({"reason": "done"}), false),
        e("/v1/users", json!({"name": "nia", "role": "auditor"}), false),
        e("/v1/clauses", json!({"id": "AUP-7", "title": "t", "text": "x"}), false),
        e("/v1/guards", json!({"id": "g1", "description": "d", "services": ["security.*"]}), false),
        e("/v1/cases", json!({"tenant": "mod", "title": "t", "clauses": ["AUP-2"], "source_type": "complaint"}), true),
        Endpoint {
            path: format!("/v1/cases/{case}/evidence"),
            body: json!({"kind": "note", "text": "x"}),
            screened: true,
            analyst: true,
        },
        e(&format!("/v1/cases/{case}/comments"), json!({"text": "x"}), true),
        e(&format!("/v1/cases/{case}/assign"), json!({"assignee": "ana"}), false),
        e(&format!("/v1/cases/{case}/status"), json!({"status": "under_review"}), true),
        e(&format!("/v1/orders/{order}/approve"), json!({"preview_hash": "sha256:00"}), false),
        e(&format!("/v1/orders/{order}/reject"), json!({"reason": "no"}), true),
        e(&format!("/v1/orders/{order}/appeals"), json!({"statement": "we object"}), true),
        e(&format!("/v1/appeals/{appeal}/decision"), json!({"outcome": "uphold", "reason": "r"}), true),
        e("/v1/import", json!({"tenants": []}), false),
    ]
}

/// A tenant with one subscription, served on port 0.
async fn world() -> (std::sync::Arc<verdict_control::Core>, Api, tempfile::TempDir) {
    let (core, _store, dir) = common::open_core().await;
    let inventory = serde_json::from_value(json!({
        "tenants": [{"id": "mod", "kind": "government"}],
        "subscriptions": [{"id": "sig", "tenant": "mod", "unit": "signals", "services": ["storage.blob"]}]
    }))
    .unwrap();
    core.import(&Actor::admin(), inventory, &|_| ()).await.unwrap();
    let api = Api::new(common::serve(core.clone()).await);
    (core, api, dir)
}

/// A new analyst's token.
async fn analyst(api: &Api) -> String {
    let (status, body) = api.call("/v1/users", ADMIN, Some(json!({"name": "ana", "role": "analyst"}))).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body["token"].as_str().unwrap().to_owned()
}

/// Everything a refused write could have touched.
async fn fingerprint(api: &Api, core: &verdict_control::Core) -> Value {
    let get = async |path: &str| api.call(path, ADMIN, None).await.1;
    json!({
        "log": core.checkpoint().checkpoint.size,
        "snapshot": core.snapshot().counts(),
        "tenants": get("/v1/tenants").await, "subscriptions": get("/v1/subscriptions").await,
        "orders": get("/v1/orders").await, "cases": get("/v1/cases").await,
        "users": get("/v1/users").await, "clauses": get("/v1/clauses").await,
        "guards": get("/v1/guards").await, "appeals": get("/v1/appeals").await,
    })
}

#[tokio::test]
async fn every_write_refuses_bad_bodies_with_a_specific_code_and_writes_nothing() {
    let (core, api, _dir) = world().await;
    let clause = json!({"id": "AUP-2", "title": "No mass surveillance", "text": "…"});
    assert_eq!(api.call("/v1/clauses", ADMIN, Some(clause)).await.0, StatusCode::CREATED);
    let analyst = analyst(&api).await;
    let (status, case) = api
        .call(
            "/v1/cases",
            &analyst,
            Some(json!({"tenant": "mod", "title": "t", "clauses": ["AUP-2"], "source_type": "complaint"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{case}");
    let order_body = json!({"tenant": "mod", "clause": "AUP-2", "scope": {"units": ["signals"]},
        "services": ["storage.*"], "phases": [{"mode": "disabled", "start": "2026-01-01T00:00:00Z"}]});
    let (status, order) = api.call("/v1/orders?direct=true", ADMIN, Some(order_body)).await;
    assert_eq!(status, StatusCode::CREATED, "{order}");
    let (order, case) = (order["id"].as_str().unwrap().to_owned(), case["id"].as_str().unwrap().to_owned());

    let before = fingerprint(&api, &core).await;
    let http = reqwest::Client::new();
    let send = async |path: &str, token: &str, content_type: &str, body: String| {
        let response = http
            .post(format!("{}{path}", api.base))
            .bearer_auth(token)
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .unwrap();
        let status = response.status();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        (status, body["error"]["code"].as_str().unwrap_or("(no error code)").to_owned(), body)
    };
    let mut failures = Vec::new();
    for endpoint in endpoints(&order, &case, "apl-none") {
        let mut unknown = endpoint.body.clone();
        // Sorted first, so it is met before any other problem of the body.
        unknown["aaa_unknown"] = json!(1);
        let mut content = endpoint.body.clone();
        content["transcript"] = json!("caller: meet at the station at 9");
        let (content_status, content_code) = if endpoint.screened {
            (StatusCode::UNPROCESSABLE_ENTITY, "customer-content-refused")
        } else {
            (StatusCode::BAD_REQUEST, "unknown-field")
        };
        let cases = [
            ("unknown field", "application/json", unknown.to_string(), StatusCode::BAD_REQUEST, "unknown-field"),
            ("content-like field", "application/json", content.to_string(), content_status, content_code),
            ("broken JSON", "application/json", "{\"a\": ".to_owned(), StatusCode::BAD_REQUEST, "malformed-json"),
            ("wrong type", "application/json", "[1, 2]".to_owned(), StatusCode::BAD_REQUEST, "invalid-type"),
            (
                "not JSON",
                "text/plain",
                endpoint.body.to_string(),
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported-media-type",
            ),
        ];
        for (what, content_type, body, status, code) in cases {
            let (got_status, got_code, answer) =
                send(&endpoint.path, if endpoint.analyst { &analyst } else { ADMIN }, content_type, body).await;
            if (got_status, got_code.as_str()) != (status, code) {
                failures.push(format!(
                    "{} {what}: {got_status} {got_code}, expected {status} {code}: {answer}",
                    endpoint.path
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{} refusals differ:\n{}", failures.len(), failures.join("\n"));
    assert_eq!(fingerprint(&api, &core).await, before, "a refused body wrote something");
}

#[tokio::test]
async fn lists_refuse_duplicates_and_lengths_over_their_limit() {
    let (core, api, _dir) = world().await;
    let order = |scope: Value, services: Value| {
        json!({"tenant": "mod", "clause": "AUP-2", "scope": scope, "services": services,
               "phases": [{"mode": "disabled", "start": "2026-01-01T00:00:00Z"}]})
    };
    let many: Vec<String> = (0..1001).map(|i| format!("s{i}")).collect();
    let analyst = analyst(&api).await;
    let before = core.checkpoint().checkpoint.size;
    for (path, body, code) in [
        (
            "/v1/orders?direct=true",
            order(json!({"units": ["signals", "signals"]}), json!(["storage.*"])),
            "duplicate-entry",
        ),
        (
            "/v1/orders?direct=true",
            order(json!({"units": ["signals"]}), json!(["storage.*", "storage.*"])),
            "duplicate-entry",
        ),
        ("/v1/orders?direct=true", order(json!({"subscriptions": many}), json!(["storage.*"])), "too-many-entries"),
        (
            "/v1/subscriptions",
            json!({"id": "s2", "tenant": "mod", "unit": "signals", "services": ["storage.blob", "storage.blob"]}),
            "duplicate-entry",
        ),
        (
            "/v1/cases",
            json!({"tenant": "mod", "title": "t", "clauses": ["AUP-2", "AUP-2"], "source_type": "complaint"}),
            "duplicate-entry",
        ),
        ("/v1/tenants", json!({"id": "t3", "kind": "enterprise", "name": "x".repeat(201)}), "too-long"),
    ] {
        let token = if path == "/v1/cases" { analyst.as_str() } else { ADMIN };
        let (status, answer) = api.call(path, token, Some(body)).await;
        assert_eq!(
            (status, answer["error"]["code"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some(code)),
            "{path}: {answer}"
        );
    }
    assert_eq!(core.checkpoint().checkpoint.size, before, "a refused list wrote something");
}
