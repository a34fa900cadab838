//! The server through real HTTP on port 0: AuthZEN, gateways, management,
//! auth and bad input. Every rejected write is checked to leave the store
//! unchanged.

mod common;

use std::sync::Arc;

use common::{ADMIN, PEP};
use reqwest::StatusCode;
use serde_json::{Value, json};
use verdict_control::Actor;
use verdict_model::Timestamp;
use verdict_store::{SqliteStore, Store};

const DAY: i64 = 86_400;

struct Server {
    base: String,
    http: reqwest::Client,
    store: Arc<SqliteStore>,
    order: String,
    _dir: tempfile::TempDir,
}

async fn start() -> Server {
    let (core, store, dir) = common::open_core().await;
    let inventory = serde_json::from_value(json!({
        "tenants": [{"id": "mod", "kind": "government"}, {"id": "acme", "kind": "enterprise"}],
        "units": [{"tenant": "mod", "path": "intel/signals"}, {"tenant": "mod", "path": "cyber"}, {"tenant": "acme", "path": "rd"}],
        "subscriptions": [
            {"id": "sig", "tenant": "mod", "unit": "intel/signals", "services": ["storage.blob"]},
            {"id": "ops", "tenant": "mod", "unit": "cyber", "services": ["security.defender", "storage.blob"]},
            {"id": "acme-1", "tenant": "acme", "unit": "rd", "services": ["storage.blob"]}
        ]
    }))
    .unwrap();
    core.import(&Actor::admin(), inventory, &|_| ()).await.unwrap();
    let now = Timestamp::now();
    let spec = serde_json::from_value(json!({
        "tenant": "mod", "clause": "AUP-2", "scope": {"units": ["intel/signals"]},
        "services": ["storage.*", "ai.*"], "exempt": ["security.*"],
        "phases": [
            {"mode": "notice", "start": now.plus(-3 * DAY)},
            {"mode": "export_only", "start": now.plus(-DAY)},
            {"mode": "disabled", "start": now.plus(6 * DAY)}
        ]
    }))
    .unwrap();
    let (order, _) = core.create_order(&Actor::admin(), spec).await.unwrap();
    let base = common::serve(core).await;
    Server { base, http: reqwest::Client::new(), store, order: order.id, _dir: dir }
}

impl Server {
    async fn post(&self, path: &str, token: &str, body: &Value) -> (StatusCode, Value) {
        let r = self.http.post(format!("{}{path}", self.base)).bearer_auth(token).json(body).send().await.unwrap();
        let status = r.status();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    async fn get(&self, path: &str, token: &str) -> (StatusCode, Value) {
        let r = self.http.get(format!("{}{path}", self.base)).bearer_auth(token).send().await.unwrap();
        let status = r.status();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    async fn fingerprint(&self) -> String {
        let loaded = self.store.read().await.unwrap().load().await.unwrap();
        format!("{:?}{:?}{}", loaded.inventory, loaded.orders, loaded.version)
    }
}

fn eval(subscription: &str, service: &str, action: &str) -> Value {
    json!({
        "subject": {"type": "gateway", "id": "gw-1"},
        "resource": {"type": "service", "id": service, "properties": {"subscription": subscription}},
        "action": {"name": action}
    })
}

#[tokio::test]
async fn authzen_single_evaluations_follow_the_order() {
    let s = start().await;
    let (status, deny) = s.post("/access/v1/evaluation", PEP, &eval("sig", "storage.blob", "put-blob")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(deny["decision"], false);
    assert_eq!(deny["context"]["order"], s.order.as_str());
    assert_eq!(deny["context"]["clause"], "AUP-2");
    assert_eq!(deny["context"]["phase"], "export_only");
    assert!(deny["context"]["reason"].as_str().unwrap().starts_with("denied: order"));

    let (_, read) = s.post("/access/v1/evaluation", PEP, &eval("sig", "storage.blob", "get-blob")).await;
    assert_eq!((read["decision"].clone(), read["context"]["code"].clone()), (json!(true), json!("export-window")));
    let (_, exempt) = s.post("/access/v1/evaluation", ADMIN, &eval("ops", "security.defender", "scan")).await;
    assert_eq!((exempt["decision"].clone(), exempt["context"]["code"].clone()), (json!(true), json!("no-order")));
    let (_, unknown) = s.post("/access/v1/evaluation", PEP, &eval("ghost", "storage.blob", "put-blob")).await;
    assert_eq!(
        (unknown["decision"].clone(), unknown["context"]["code"].clone()),
        (json!(true), json!("unknown-subscription"))
    );

    // The subscription may come from the subject; unknown fields are ignored.
    let body = json!({
        "subject": {"type": "workload", "id": "w", "properties": {"subscription": "sig"}},
        "resource": {"type": "service", "id": "ai.speech-to-text", "extra": [1, 2]},
        "action": {"name": "transcribe", "properties": {"ignored": true}},
        "surprise": "ignored"
    });
    let (status, ai) = s.post("/access/v1/evaluation", PEP, &body).await;
    assert_eq!((status, ai["decision"].clone()), (StatusCode::OK, json!(false)));

    // context.time evaluates at that instant: before the notice nothing applies,
    // during it the decision warns.
    let mut past = eval("sig", "storage.blob", "put-blob");
    past["context"] = json!({"time": Timestamp::now().plus(-10 * DAY).to_string()});
    let (_, before) = s.post("/access/v1/evaluation", PEP, &past).await;
    assert_eq!((before["decision"].clone(), before["context"]["code"].clone()), (json!(true), json!("no-order")));
    past["context"] = json!({"time": Timestamp::now().plus(-2 * DAY).to_string()});
    let (_, notice) = s.post("/access/v1/evaluation", PEP, &past).await;
    assert_eq!((notice["decision"].clone(), notice["context"]["code"].clone()), (json!(true), json!("notice")));
    past["context"] = json!({"time": Timestamp::now().plus(7 * DAY).to_string()});
    let (_, later) = s.post("/access/v1/evaluation", PEP, &past).await;
    assert_eq!(later["context"]["phase"], "disabled");
    past["context"] = json!({"time": "next tuesday"});
    let (status, bad) = s.post("/access/v1/evaluation", PEP, &past).await;
    assert_eq!((status, bad["error"]["code"].clone()), (StatusCode::BAD_REQUEST, json!("invalid-time")));
    for (time, quoted) in [(json!(1767225600), "1767225600"), (json!({"at": "noon"}), r#"{"at":"noon"}"#)] {
        past["context"] = json!({"time": time});
        let (status, bad) = s.post("/access/v1/evaluation", PEP, &past).await;
        assert_eq!((status, bad["error"]["code"].clone()), (StatusCode::BAD_REQUEST, json!("invalid-time")));
        assert!(bad["error"]["message"].as_str().unwrap().ends_with(&format!("not {quoted}")), "{bad}");
    }
    past["context"] = json!({"time": null});
    let (status, now) = s.post("/access/v1/evaluation", PEP, &past).await;
    assert_eq!(status, StatusCode::OK, "a null time decides now: {now}");

    // X-Request-ID is echoed.
    let r = s
        .http
        .post(format!("{}/access/v1/evaluation", s.base))
        .bearer_auth(PEP)
        .header("X-Request-ID", "req-42")
        .json(&eval("sig", "storage.blob", "get-blob"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["x-request-id"], "req-42");
}

#[tokio::test]
async fn authzen_batches_honour_each_semantic() {
    let s = start().await;
    let items = json!([
        {"resource": {"type": "service", "id": "storage.blob", "properties": {"subscription": "sig"}}, "action": {"name": "get-blob"}},
        {"resource": {"type": "service", "id": "storage.blob", "properties": {"subscription": "sig"}}},
        {"resource": {"type": "service", "id": "storage.blob", "properties": {"subscription": "ops"}}}
    ]);
    let batch = |semantic: Option<&str>| {
        let mut b =
            json!({"subject": {"type": "gateway", "id": "gw"}, "action": {"name": "put-blob"}, "evaluations": items});
        if let Some(sem) = semantic {
            b["options"] = json!({"evaluations_semantic": sem});
        }
        b
    };
    let decisions = |v: &Value| -> Vec<bool> {
        v["evaluations"].as_array().unwrap().iter().map(|e| e["decision"].as_bool().unwrap()).collect()
    };
    let (status, all) = s.post("/access/v1/evaluations", PEP, &batch(None)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(decisions(&all), vec![true, false, true]);
    let (_, all) = s.post("/access/v1/evaluations", PEP, &batch(Some("execute_all"))).await;
    assert_eq!(decisions(&all), vec![true, false, true]);
    let (_, deny_first) = s.post("/access/v1/evaluations", PEP, &batch(Some("deny_on_first_deny"))).await;
    assert_eq!(decisions(&deny_first), vec![true, false]);
    let (_, permit_first) = s.post("/access/v1/evaluations", PEP, &batch(Some("permit_on_first_permit"))).await;
    assert_eq!(decisions(&permit_first), vec![true]);
    let (status, bad) = s.post("/access/v1/evaluations", PEP, &batch(Some("majority_vote"))).await;
    assert_eq!((status, bad["error"]["code"].clone()), (StatusCode::BAD_REQUEST, json!("invalid-semantic")));

    // An item that cannot be evaluated is a deny carrying its error.
    let mut broken = batch(Some("execute_all"));
    broken["evaluations"][1]["resource"] = json!({"type": "document", "id": "x"});
    let (_, out) = s.post("/access/v1/evaluations", PEP, &broken).await;
    assert_eq!(decisions(&out), vec![true, false, true]);
    assert_eq!(out["evaluations"][1]["context"]["error"]["code"], "unsupported-resource-type");

    // Without items the batch endpoint answers like the single one.
    let (_, single) = s.post("/access/v1/evaluations", PEP, &eval("sig", "storage.blob", "put-blob")).await;
    assert_eq!(single["decision"], false);

    let (status, meta) = s.get("/.well-known/authzen-configuration", "").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(meta["access_evaluation_endpoint"], format!("{}/access/v1/evaluation", s.base));
    assert_eq!(meta["access_evaluations_endpoint"], format!("{}/access/v1/evaluations", s.base));
    assert_eq!(meta["policy_decision_point"], s.base);
}

#[tokio::test]
async fn gateways_allow_deny_and_fail_closed() {
    let s = start().await;
    let ask = |path: &str, token: &str, headers: &[(&str, &str)]| {
        let mut r = s.http.get(format!("{}{path}", s.base)).bearer_auth(token);
        for (k, v) in headers {
            r = r.header(*k, *v);
        }
        r.send()
    };
    let h = |sub, service, action| {
        vec![("X-Verdict-Subscription", sub), ("X-Verdict-Service", service), ("X-Verdict-Action", action)]
    };
    let allow = ask("/authz/nginx", PEP, &h("sig", "storage.blob", "list-blobs")).await.unwrap();
    assert_eq!(allow.status(), StatusCode::NO_CONTENT);
    let deny = ask("/authz/nginx", PEP, &h("sig", "storage.blob", "put-blob")).await.unwrap();
    assert_eq!(deny.status(), StatusCode::FORBIDDEN);
    assert_eq!(deny.headers()["x-verdict-order"], s.order.as_str());
    assert!(deny.headers()["x-verdict-reason"].to_str().unwrap().contains("export-only"));
    let missing = ask("/authz/nginx", PEP, &h("sig", "storage.blob", "put-blob")[..2]).await.unwrap();
    assert_eq!(missing.status(), StatusCode::FORBIDDEN);
    assert!(missing.headers()["x-verdict-reason"].to_str().unwrap().starts_with("missing-header"));
    let anonymous = s.http.get(format!("{}/authz/nginx", s.base)).send().await.unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);

    let ok = ask("/authz/envoy/containers/c1/blobs/b1", PEP, &h("ops", "storage.blob", "put-blob")).await.unwrap();
    assert_eq!(ok.status(), StatusCode::OK);
    let no = s
        .http
        .post(format!("{}/authz/envoy/containers/c1", s.base))
        .bearer_auth(PEP)
        .header("X-Verdict-Subscription", "sig")
        .header("X-Verdict-Service", "storage.blob")
        .header("X-Verdict-Action", "put-blob")
        .send()
        .await
        .unwrap();
    assert_eq!(no.status(), StatusCode::FORBIDDEN);
    assert_eq!(no.headers()["x-verdict-order"], s.order.as_str());
    assert!(no.text().await.unwrap().starts_with("denied: order"));
}

#[tokio::test]
async fn tokens_are_required_and_scoped() {
    let s = start().await;
    let r = s.http.get(format!("{}/v1/orders", s.base)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(r.json::<Value>().await.unwrap()["error"]["code"], "missing-token");
    let (status, body) = s.get("/v1/orders", "guess").await;
    assert_eq!((status, body["error"]["code"].clone()), (StatusCode::UNAUTHORIZED, json!("invalid-token")));
    let (status, body) = s.get("/v1/orders", PEP).await;
    assert_eq!((status, body["error"]["code"].clone()), (StatusCode::FORBIDDEN, json!("forbidden")));
    let (status, _) = s.get("/v1/orders", ADMIN).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = s.post("/access/v1/evaluation", "guess", &eval("sig", "storage.blob", "get-blob")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    for open in ["/healthz", "/openapi.json", "/.well-known/authzen-configuration"] {
        assert_eq!(s.http.get(format!("{}{open}", s.base)).send().await.unwrap().status(), StatusCode::OK, "{open}");
    }
}

#[tokio::test]
async fn bad_input_gets_specific_errors_and_changes_nothing() {
    let s = start().await;
    let before = s.fingerprint().await;
    let raw = |path: &str, body: Vec<u8>| {
        s.http
            .post(format!("{}{path}", s.base))
            .bearer_auth(ADMIN)
            .header("Content-Type", "application/json")
            .body(body)
            .send()
    };
    let code = |r: Value| r["error"]["code"].as_str().unwrap_or("").to_owned();

    let r = raw("/v1/orders", b"{\"tenant\": ".to_vec()).await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(code(r.json().await.unwrap()), "malformed-json");
    let r = raw("/access/v1/evaluation", b"[1,2".to_vec()).await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let big = format!("{{\"pad\": \"{}\"}}", "x".repeat(2 * 1024 * 1024));
    let r = raw("/v1/orders", big.clone().into_bytes()).await.unwrap();
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(code(r.json().await.unwrap()), "payload-too-large");
    let r = raw("/access/v1/evaluation", big.into_bytes()).await.unwrap();
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(code(r.json().await.unwrap()), "payload-too-large");
    let r = raw("/access/v1/evaluation", b"{\"subject\": 7}".to_vec()).await.unwrap();
    assert_eq!((r.status(), code(r.json().await.unwrap())), (StatusCode::BAD_REQUEST, "invalid-type".to_owned()));
    let r = raw("/access/v1/evaluation", b"{}".to_vec()).await.unwrap();
    assert_eq!((r.status(), code(r.json().await.unwrap())), (StatusCode::BAD_REQUEST, "missing-field".to_owned()));
    let r = s.http.post(format!("{}/v1/orders", s.base)).bearer_auth(ADMIN).body("{}").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);

    let order = |patch: Value| {
        let mut body = json!({
            "tenant": "mod", "clause": "AUP-2", "scope": {"units": ["intel/signals"]},
            "services": ["storage.*"], "phases": [{"mode": "disabled", "start": "2026-01-01T00:00:00Z"}]
        });
        for (k, v) in patch.as_object().unwrap() {
            body[k] = v.clone();
        }
        body
    };
    let cases = [
        (order(json!({"services": ["st orage.*"]})), StatusCode::BAD_REQUEST, "invalid-pattern", Some("st orage.*")),
        (
            order(json!({"services": ["storage.blbo"]})),
            StatusCode::UNPROCESSABLE_ENTITY,
            "pattern-matches-nothing",
            Some("storage.blbo"),
        ),
        (order(json!({"exmept": ["security.*"]})), StatusCode::BAD_REQUEST, "unknown-field", Some("exmept")),
        (order(json!({"services": "storage.*"})), StatusCode::BAD_REQUEST, "invalid-type", None),
        (
            order(json!({"scope": {"subscriptions": ["acme-1"]}})),
            StatusCode::UNPROCESSABLE_ENTITY,
            "scope-spans-tenants",
            Some("acme-1"),
        ),
        (
            order(json!({"scope": {"units": ["intel/nowhere"]}})),
            StatusCode::UNPROCESSABLE_ENTITY,
            "unknown-unit",
            Some("intel/nowhere"),
        ),
        (order(json!({"tenant": "nobody"})), StatusCode::UNPROCESSABLE_ENTITY, "unknown-tenant", Some("nobody")),
        (
            order(json!({"phases": [{"mode": "disabled", "start": "soon"}]})),
            StatusCode::BAD_REQUEST,
            "invalid-time",
            Some("soon"),
        ),
        (
            order(json!({"phases": [{"mode": "paused", "start": "2026-01-01T00:00:00Z"}]})),
            StatusCode::BAD_REQUEST,
            "invalid-value",
            Some("paused"),
        ),
    ];
    for (body, status, expected, quoted) in cases {
        let (got, answer) = s.post("/v1/orders?direct=true", ADMIN, &body).await;
        assert_eq!((got, code(answer.clone())), (status, expected.to_owned()), "{body}: {answer}");
        if let Some(q) = quoted {
            assert!(answer["error"]["message"].as_str().unwrap().contains(q), "{answer}");
        }
    }
    let (status, answer) = s.get("/v1/orders/ord-missing", ADMIN).await;
    assert_eq!((status, code(answer)), (StatusCode::NOT_FOUND, "unknown-order".into()));
    let (status, answer) = s.post("/v1/subscriptions/ghost/move", ADMIN, &json!({"unit": "cyber"})).await;
    assert_eq!((status, code(answer)), (StatusCode::NOT_FOUND, "unknown-subscription".into()));
    let (status, answer) = s.post("/v1/tenants", ADMIN, &json!({"id": "mod", "kind": "government"})).await;
    assert_eq!((status, code(answer)), (StatusCode::CONFLICT, "tenant-exists".into()));
    let (status, answer) = s.post("/v1/tenants", ADMIN, &json!({"id": "new", "kind": "martian"})).await;
    assert_eq!((status, code(answer)), (StatusCode::BAD_REQUEST, "invalid-value".into()));
    let (status, answer) = s.post("/v1/orders/ord-missing/lift", ADMIN, &json!({"reason": "x"})).await;
    assert_eq!((status, code(answer)), (StatusCode::NOT_FOUND, "unknown-order".into()));
    let ndjson = "{\"type\":\"tenant\",\"id\":\"zed\",\"kind\":\"other\"}\n{\"type\":\"subscription\",\"id\":\"z1\",\"tenant\":\"zed\",\"unit\":\"a\",\"services\":[\"nope.nope\"]}\n";
    let r = s
        .http
        .post(format!("{}/v1/import", s.base))
        .bearer_auth(ADMIN)
        .header("Content-Type", "application/x-ndjson")
        .body(ndjson)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.json::<Value>().await.unwrap()["error"]["message"].as_str().unwrap().contains("nope.nope"));
    let (status, answer) = s.get("/v1/nothing-here", ADMIN).await;
    assert_eq!((status, code(answer)), (StatusCode::NOT_FOUND, "no-route".into()));
    assert_eq!(s.fingerprint().await, before, "a rejected request left something behind");

    // Lifting twice: the second is refused and changes nothing.
    let path = format!("/v1/orders/{}/lift", s.order);
    let (status, lifted) = s.post(&path, ADMIN, &json!({"reason": "appeal upheld"})).await;
    assert_eq!((status, lifted["status"].clone()), (StatusCode::OK, json!("lifted")));
    let after_lift = s.fingerprint().await;
    let (status, answer) = s.post(&path, ADMIN, &json!({"reason": "again"})).await;
    assert_eq!((status, code(answer)), (StatusCode::CONFLICT, "order-already-lifted".into()));
    assert_eq!(s.fingerprint().await, after_lift);
}

#[tokio::test]
async fn management_api_round_trips() {
    let s = start().await;
    let (status, _) = s.post("/v1/units", ADMIN, &json!({"tenant": "mod", "path": "intel/relay"})).await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, created) = s
        .post("/v1/subscriptions", ADMIN, &json!({"id": "late", "tenant": "mod", "unit": "intel/signals", "services": ["ai.translation"], "region": "westeurope"}))
        .await;
    assert_eq!((status, created["id"].clone()), (StatusCode::CREATED, json!("late")));
    // Created under the suspended unit: covered at once.
    let (_, d) = s.post("/access/v1/evaluation", PEP, &eval("late", "ai.translation", "translate")).await;
    assert_eq!(d["decision"], false);
    // Moved out while the order binds: still covered, and the answer says so.
    let (status, moved) = s.post("/v1/subscriptions/late/move", ADMIN, &json!({"unit": "cyber"})).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(moved["retained_by"], json!([s.order]));
    let (_, d) = s.post("/access/v1/evaluation", PEP, &eval("late", "ai.translation", "translate")).await;
    assert_eq!(d["decision"], false);
    let (status, got) = s.get("/v1/subscriptions/late", ADMIN).await;
    assert_eq!((status, got["unit"].clone()), (StatusCode::OK, json!("cyber")));
    let (status, deleted) = s
        .http
        .delete(format!("{}/v1/subscriptions/late", s.base))
        .bearer_auth(ADMIN)
        .send()
        .await
        .map(|r| (r.status(), r))
        .unwrap();
    assert_eq!(status, StatusCode::OK);
    assert_eq!(deleted.json::<Value>().await.unwrap()["retained_by"], json!([s.order]));

    let (_, units) = s.get("/v1/tenants/mod/units", ADMIN).await;
    assert_eq!(units["units"], json!(["cyber", "intel", "intel/relay", "intel/signals"]));
    let r =
        s.http.delete(format!("{}/v1/tenants/mod/units/intel/relay", s.base)).bearer_auth(ADMIN).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let r = s.http.delete(format!("{}/v1/tenants/mod/units/intel", s.base)).bearer_auth(ADMIN).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::CONFLICT);

    let (_, orders) = s.get("/v1/orders?tenant=mod", ADMIN).await;
    assert_eq!(orders["items"][0]["id"], s.order.as_str());
    assert_eq!(orders["items"][0]["status"], "in_force");
    assert_eq!(orders["items"][0]["current_phase"], "export_only");
    let (_, page) = s.get("/v1/subscriptions?limit=2", ADMIN).await;
    assert_eq!(page["items"].as_array().unwrap().len(), 2);
    let next = page["next"].as_str().unwrap().to_owned();
    let (_, rest) = s.get(&format!("/v1/subscriptions?limit=2&after={next}"), ADMIN).await;
    assert_eq!(rest["items"].as_array().unwrap().len(), 1);
    let (_, catalog) = s.get("/v1/catalog", ADMIN).await;
    assert!(catalog["services"].as_array().unwrap().len() >= 8);

    let (status, new_order) = s
        .post(
            "/v1/orders?direct=true",
            ADMIN,
            &json!({
                "tenant": "acme", "clause": "AUP-7", "scope": {"subscriptions": ["acme-1"]},
                "services": ["storage.blob"], "phases": [{"mode": "disabled", "start": "2020-01-01T00:00:00Z"}]
            }),
        )
        .await;
    assert_eq!((status, new_order["status"].clone()), (StatusCode::CREATED, json!("in_force")));
    let (_, d) = s.post("/access/v1/evaluation", PEP, &eval("acme-1", "storage.blob", "get-blob")).await;
    assert_eq!(d["context"]["order"], new_order["id"]);

    let ndjson = "{\"type\":\"tenant\",\"id\":\"zed\",\"kind\":\"nonprofit\"}\n{\"type\":\"subscription\",\"id\":\"z1\",\"tenant\":\"zed\",\"unit\":\"a/b\",\"services\":[\"compute.vm\"]}\n";
    let r = s
        .http
        .post(format!("{}/v1/import", s.base))
        .bearer_auth(ADMIN)
        .header("Content-Type", "application/x-ndjson")
        .body(ndjson)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let summary: Value = r.json().await.unwrap();
    assert_eq!((summary["tenants_created"].clone(), summary["units_created"].clone()), (json!(1), json!(2)));

    let (_, doc) = s.get("/openapi.json", "").await;
    for path in
        ["/access/v1/evaluation", "/access/v1/evaluations", "/v1/orders", "/v1/subscriptions/{id}/move", "/authz/nginx"]
    {
        assert!(doc["paths"].get(path).is_some(), "openapi lacks {path}");
    }
    // The contract states what the server does: the approval's 404, the
    // page limit's range, an order as returned (open, with its own fields).
    let approve = &doc["paths"]["/v1/orders/{id}/approve"]["post"]["responses"];
    for status in ["401", "403", "404", "409", "413", "415", "422"] {
        assert!(approve.get(status).is_some(), "approve does not document {status}: {approve}");
    }
    let limit = doc["paths"]["/v1/orders"]["get"]["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "limit")
        .unwrap()
        .clone();
    assert_eq!((limit["schema"]["minimum"].clone(), limit["schema"]["maximum"].clone()), (json!(1), json!(1000)));
    let order_view = doc["components"]["schemas"]["OrderView"].to_string();
    assert!(!order_view.contains("\"additionalProperties\":false"), "{order_view}");
    let metrics = s.http.get(format!("{}/metrics", s.base)).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("verdict_decisions_total{result=\"deny\"}"), "{metrics}");
    assert!(metrics.contains("verdict_orders_in_force 2"), "{metrics}");
    assert!(metrics.contains("verdict_decision_seconds_bucket"), "{metrics}");
}
