//! `POST /v1/usage` through real HTTP on port 0: batches counted all or
//! nothing, every refusal with its line and code, resent events counted
//! once, and the stored hour slices equal to what the in-memory aggregator
//! makes of the same accepted events.

mod common;

use reqwest::StatusCode;
use serde_json::{Value, json};
use verdict_control::Actor;
use verdict_detect::Aggregator;
use verdict_model::{Catalog, Role, Timestamp, UsageEvent, User};

async fn setup() -> (String, tempfile::TempDir, std::sync::Arc<verdict_control::Core>, String, String) {
    let (core, _, dir) = common::open_core().await;
    let inventory = serde_json::from_value(json!({
        "tenants": [{"id": "ministry-of-defense", "kind": "government"}, {"id": "northwind", "kind": "enterprise"}],
        "subscriptions": [
            {"id": "sig-ai", "tenant": "ministry-of-defense", "unit": "intelligence/signals", "services": ["ai.speech-to-text"]},
            {"id": "sig-archive-nl", "tenant": "ministry-of-defense", "unit": "intelligence/signals", "services": ["storage.blob"]},
            {"id": "nw-erp", "tenant": "northwind", "unit": "erp", "services": ["compute.vm"]}],
    }))
    .unwrap();
    core.import(&Actor::admin(), inventory, &|_| ()).await.unwrap();
    let user = |name: &str, role: Role| User {
        name: name.into(),
        roles: vec![role],
        tenant: None,
        scope: None,
        created_at: Default::default(),
        revoked_at: None,
    };
    let meter = core.add_user(&Actor::admin(), user("metering", Role::Meter)).await.unwrap().1;
    let analyst = core.add_user(&Actor::admin(), user("analyst-1", Role::Analyst)).await.unwrap().1;
    (common::serve(core.clone()).await, dir, core, meter, analyst)
}

async fn send(base: &str, token: &str, content_type: &str, lines: &[Value]) -> (StatusCode, Value) {
    let body: String = lines.iter().map(|l| format!("{l}\n")).collect();
    let r = reqwest::Client::new()
        .post(format!("{base}/v1/usage"))
        .bearer_auth(token)
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap();
    let status = r.status();
    (status, r.json().await.unwrap_or(Value::Null))
}

fn event(subscription: &str, service: &str, meter: &str, quantity: f64, minutes_ago: i64, id: Option<&str>) -> Value {
    let tenant = if subscription.starts_with("nw-") { "northwind" } else { "ministry-of-defense" };
    let time = Timestamp::now().plus(-minutes_ago * 60);
    let mut e = json!({"tenant": tenant, "subscription": subscription, "service": service, "meter": meter,
        "quantity": quantity, "region": "westeurope", "time": time.to_string()});
    if let Some(id) = id {
        e["id"] = id.into();
    }
    e
}

#[tokio::test]
async fn usage_is_counted_all_or_nothing_once_per_event_and_as_the_aggregator_counts_it() {
    let (base, _dir, core, meter, analyst) = setup().await;
    let ndjson = "application/x-ndjson";
    let first = vec![
        event("sig-ai", "ai.speech-to-text", "audio_seconds", 3600.0, 5, Some("a1")),
        event("sig-ai", "ai.speech-to-text", "audio_seconds", 1800.0, 65, Some("a2")),
        event("sig-archive-nl", "storage.blob", "bytes_stored", 4e12, 10, None),
        event("sig-archive-nl", "storage.blob", "bytes_stored", 5e12, 20, None),
        event("nw-erp", "compute.vm", "vcpu_seconds", 7200.0, 30, Some("n1")),
    ];
    let (status, body) = send(&base, &meter, ndjson, &first).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body, json!({"accepted": 5, "duplicates": 0}));

    // Each refusal names its line and code; nothing of the batch is counted.
    let ok = event("sig-ai", "ai.speech-to-text", "audio_seconds", 1.0, 1, Some("never"));
    let refusals = [
        (json!({"tenant": "ministry-of-defense", "caller": "+31205550123"}), "personal-or-content-data-refused"),
        (event("sig-ai", "ai.speech-to-text", "transcript_words", 1.0, 1, None), "unknown-meter"),
        (event("sig-ai", "ai.speech-to-text", "audio_seconds", -5.0, 1, None), "negative-quantity"),
        (event("sig-ai", "ai.speech-to-text", "audio_seconds", 1.0, -60, None), "future-time"),
        (event("sig-ai", "ai.speech-to-text", "audio_seconds", 1.0, 3 * 24 * 60, None), "too-late"),
        (event("ghost", "ai.speech-to-text", "audio_seconds", 1.0, 1, None), "unknown-subscription"),
        (
            json!({"tenant": "northwind", "subscription": "sig-ai", "service": "ai.speech-to-text",
            "meter": "audio_seconds", "quantity": 1, "time": Timestamp::now().to_string()}),
            "unknown-subscription",
        ),
    ];
    for (bad, code) in refusals {
        let (status, body) = send(&base, &meter, ndjson, &[ok.clone(), bad.clone()]).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}: {body}");
        assert_eq!(body["error"]["code"], code, "{bad}: {body}");
        assert!(body["error"]["message"].as_str().unwrap().starts_with("line 2: "), "{body}");
    }
    let r = reqwest::Client::new()
        .post(format!("{base}/v1/usage"))
        .bearer_auth(&meter)
        .header("content-type", ndjson)
        .body(format!("{ok}\nnot json\n"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(r.text().await.unwrap().contains("line 2 is not JSON"));
    let (status, body) = send(&base, &meter, "application/json", std::slice::from_ref(&ok)).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::UNSUPPORTED_MEDIA_TYPE, Some("unsupported-media-type"))
    );
    let (status, body) = send(&base, &analyst, ndjson, std::slice::from_ref(&ok)).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let (status, body) = send(&base, &meter, ndjson, &[]).await;
    assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("empty-batch")));

    // A resent batch counts only what it had not counted; ids repeated
    // within a batch count once.
    let second = vec![
        event("sig-ai", "ai.speech-to-text", "audio_seconds", 3600.0, 5, Some("a1")),
        event("sig-ai", "ai.speech-to-text", "audio_seconds", 60.0, 2, Some("a3")),
        event("sig-ai", "ai.speech-to-text", "audio_seconds", 60.0, 2, Some("a3")),
        event("sig-archive-nl", "storage.blob", "bytes_stored", 4.5e12, 15, None),
    ];
    let (status, body) = send(&base, &meter, ndjson, &second).await;
    assert_eq!((status, body), (StatusCode::OK, json!({"accepted": 2, "duplicates": 2})));

    // The store holds what the reference aggregator makes of the same events.
    let catalog = Catalog::builtin();
    let (earliest, latest) = core.usage_bounds();
    let parse = |v: &Value| UsageEvent::parse(v, &catalog, earliest, latest).unwrap();
    let mut reference = Aggregator::default();
    reference.ingest(&first.iter().map(parse).collect::<Vec<_>>());
    reference.ingest(&second.iter().map(parse).collect::<Vec<_>>());
    let from = Timestamp::now().seconds() - 10 * 86_400;
    let mut stored = core.usage_series("ministry-of-defense", from).await.unwrap();
    stored.extend(core.usage_series("northwind", from).await.unwrap());
    assert_eq!(&stored, reference.series(), "store and aggregator agree");
    let audio = stored.iter().find(|(k, _)| k.meter == "audio_seconds").unwrap().1;
    assert_eq!(audio.hours.values().sum::<f64>(), 3600.0 + 1800.0 + 60.0);
    let stored_bytes = stored.iter().find(|(k, _)| k.meter == "bytes_stored").unwrap().1;
    assert!(stored_bytes.hours.values().all(|q| *q <= 5e12), "a gauge's hour keeps its highest reading");
}

#[tokio::test]
async fn rules_are_published_approved_evaluated_and_backtested_over_http() {
    let (base, _dir, core, meter, analyst) = setup().await;
    let api = common::Api::new(base.clone());
    let clause = serde_json::from_value(json!({"id": "AUP-2", "title": "No mass surveillance of civilians",
        "text": "The customer shall not use the services to facilitate mass surveillance of civilians."}))
    .unwrap();
    core.publish_clause(&verdict_control::Principal::admin(), clause).await.unwrap();
    let approver = |name: &str| User {
        name: name.into(),
        roles: vec![Role::Approver],
        tenant: None,
        scope: None,
        created_at: Default::default(),
        revoked_at: None,
    };
    let a = core.add_user(&Actor::admin(), approver("approver-a")).await.unwrap().1;
    let b = core.add_user(&Actor::admin(), approver("approver-b")).await.unwrap().1;
    let text = r#"sum("ai.speech-to-text", "audio_seconds", "1d") > 3.6e6"#;
    let spec =
        |text: &str| json!({"id": "aup2-intercepts", "clause": "AUP-2", "title": "Bulk transcription", "text": text});

    let (status, body) = api.call("/v1/rules", &analyst, Some(spec(r#"caller == "x""#))).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("rule-unknown-name")),
        "{body}"
    );
    let (status, rule) = api.call("/v1/rules", &analyst, Some(spec(text))).await;
    assert_eq!(status, StatusCode::CREATED, "{rule}");
    assert_eq!((rule["version"].as_u64(), rule["state"].as_str()), (Some(1), Some("shadow")));
    let (status, _) = api.call("/v1/rules", &meter, None).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "a meter reads nothing");

    // Usage that crosses the line, within the last day.
    let events = [event("sig-ai", "ai.speech-to-text", "audio_seconds", 4.0e6, 61, Some("big"))];
    assert_eq!(send(&base, &meter, "application/x-ndjson", &events).await.0, StatusCode::OK);
    let backtest =
        json!({"text": text, "from": Timestamp::now().plus(-3 * 3600).to_string(), "to": Timestamp::now().to_string()});
    let (status, hits) = api.call("/v1/rules/backtest", &analyst, Some(backtest)).await;
    assert_eq!(status, StatusCode::OK, "{hits}");
    let targets: Vec<&str> = hits.as_array().unwrap().iter().filter_map(|h| h["target"].as_str()).collect();
    assert!(targets.contains(&"intelligence/signals") && targets.contains(&"intelligence"), "{hits}");

    let approve = "/v1/rules/aup2-intercepts/versions/1/approve";
    let (status, body) = api.call(approve, &analyst, Some(json!({}))).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(api.call(approve, &a, Some(json!({}))).await.1["state"], "shadow");
    let (status, body) = api.call(approve, &a, Some(json!({}))).await;
    assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::CONFLICT, Some("already-approved")));
    assert_eq!(api.call(approve, &b, Some(json!({}))).await.1["state"], "active");

    let (status, done) = api.call("/v1/rules/evaluate", common::ADMIN, Some(json!({}))).await;
    assert_eq!(status, StatusCode::OK, "{done}");
    assert_eq!(done["cases_opened"].as_array().unwrap().len(), 1, "{done}: one case, for intelligence/signals");
    assert_eq!(done["cases_updated"].as_array().unwrap().len(), 1, "{done}: intelligence joins it");
    let (_, view) = api.call("/v1/rules/aup2-intercepts/versions/1", &analyst, None).await;
    assert_eq!(view["hits"].as_array().unwrap().len(), 2, "{view}");
    assert!(view["hits"][0]["case"].as_str().unwrap().starts_with("case-"), "{view}");
    let future = format!("/v1/rules/evaluate?at={}", Timestamp::now().plus(7200));
    let (status, body) = api.call(&future, common::ADMIN, Some(json!({}))).await;
    assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid-period")));
    let (status, _) = api.call("/v1/rules/nothing/versions/1", &analyst, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}
