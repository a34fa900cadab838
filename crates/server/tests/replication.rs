//! Replication endpoints over real HTTP: who may read them, the snapshot
//! document and its caching, the change stream's events, resume and
//! resync, and the errors a replica can get.

mod common;

use std::time::Duration;

use common::{ADMIN, Api, PEP, open_core, serve};
use reqwest::StatusCode;
use serde_json::{Value, json};

/// Reads server-sent events from `path` until `count` have arrived (or 5 s).
async fn events(api: &Api, path: &str, count: usize) -> Vec<(String, Value)> {
    let mut response = api.http.get(format!("{}{path}", api.base)).bearer_auth(PEP).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let mut text = String::new();
    let mut out = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while out.len() < count {
        let chunk = tokio::time::timeout_at(deadline, response.chunk()).await.expect("events in time").unwrap();
        let Some(chunk) = chunk else { break };
        text.push_str(std::str::from_utf8(&chunk).unwrap());
        while let Some(end) = text.find("\n\n") {
            let block: String = text.drain(..end + 2).collect();
            let kind = block.lines().find_map(|l| l.strip_prefix("event: ")).unwrap_or("").to_owned();
            let data = block.lines().find_map(|l| l.strip_prefix("data: ")).map(|d| serde_json::from_str(d).unwrap());
            out.push((kind, data.unwrap_or(Value::Null)));
        }
    }
    out
}

#[tokio::test]
async fn pep_tokens_read_the_snapshot_and_the_stream_and_nothing_else() {
    let (core, _store, _dir) = open_core().await;
    let api = Api::new(serve(core).await);
    let (status, body) = api.call("/v1/tenants", ADMIN, Some(json!({"id": "mod", "kind": "government"}))).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");

    let response = api.http.get(format!("{}/v1/snapshot", api.base)).bearer_auth(PEP).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let version: u64 = response.headers()["x-verdict-version"].to_str().unwrap().parse().unwrap();
    let etag = response.headers()["etag"].clone();
    let document: Value = response.json().await.unwrap();
    assert_eq!(document["format"], "verdict-snapshot/1");
    assert_eq!(document["version"], version);
    assert_eq!(document["tenants"][0]["id"], "mod");

    // Gzipped on request, the same document.
    let gzipped = api
        .http
        .get(format!("{}/v1/snapshot", api.base))
        .bearer_auth(PEP)
        .header("accept-encoding", "br;q=1.0, gzip;q=0.8")
        .send()
        .await
        .unwrap();
    assert_eq!(gzipped.headers()["content-encoding"], "gzip");
    assert_eq!(gzipped.headers()["vary"], "accept-encoding");
    let bytes = gzipped.bytes().await.unwrap();
    let mut json = Vec::new();
    std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&bytes[..]), &mut json).unwrap();
    assert_eq!(serde_json::from_slice::<Value>(&json).unwrap(), document);

    let unchanged = api
        .http
        .get(format!("{}/v1/snapshot", api.base))
        .bearer_auth(PEP)
        .header("if-none-match", etag)
        .send()
        .await
        .unwrap();
    assert_eq!(unchanged.status(), StatusCode::NOT_MODIFIED);

    let (status, analyst) = api.call("/v1/users", ADMIN, Some(json!({"name": "ana", "role": "analyst"}))).await;
    assert_eq!(status, StatusCode::CREATED, "{analyst}");
    let analyst = analyst["token"].as_str().unwrap();
    for (path, token, expected) in [
        ("/v1/snapshot", ADMIN, StatusCode::OK),
        ("/v1/snapshot", analyst, StatusCode::FORBIDDEN),
        ("/v1/watch?since=0", analyst, StatusCode::FORBIDDEN),
        ("/v1/snapshot", "", StatusCode::UNAUTHORIZED),
        ("/v1/snapshot", "not-a-token", StatusCode::UNAUTHORIZED),
        ("/v1/tenants", PEP, StatusCode::FORBIDDEN),
        ("/v1/orders", PEP, StatusCode::FORBIDDEN),
    ] {
        let (status, body) = api.call(path, token, None).await;
        assert_eq!(status, expected, "{path} with {token:?}: {body}");
    }
}

#[tokio::test]
async fn the_stream_resumes_from_a_version_and_says_when_to_resync() {
    let (core, _store, _dir) = open_core().await;
    let api = Api::new(serve(core.clone()).await);
    let start = core.feed().current().version();
    api.call("/v1/tenants", ADMIN, Some(json!({"id": "mod", "kind": "government"}))).await;
    let (status, body) =
        api.call("/v1/subscriptions", ADMIN, Some(json!({"id": "sig", "tenant": "mod", "unit": "signals"}))).await;
    assert!(status.is_client_error(), "the unit does not exist yet: {body}");
    api.call("/v1/units", ADMIN, Some(json!({"tenant": "mod", "path": "signals"}))).await;
    let (status, body) =
        api.call("/v1/subscriptions", ADMIN, Some(json!({"id": "sig", "tenant": "mod", "unit": "signals"}))).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let now = core.feed().current().version();

    // From the start: every change set, in order, each on top of the last.
    let seen = events(&api, &format!("/v1/watch?since={start}&heartbeat_ms=60000"), 4).await;
    let sets: Vec<&Value> = seen.iter().filter(|(k, _)| k == "changes").map(|(_, d)| d).collect();
    assert_eq!(sets.first().unwrap()["prev"], start);
    assert_eq!(sets.last().unwrap()["version"], now);
    for pair in sets.windows(2) {
        assert_eq!(pair[1]["prev"], pair[0]["version"]);
    }
    let ops: Vec<&str> =
        sets.iter().flat_map(|s| s["changes"].as_array().unwrap()).map(|c| c["op"].as_str().unwrap()).collect();
    assert_eq!(ops, ["put_tenant", "put_unit", "put_subscription"], "{sets:?}");
    // Replicas get no private fields.
    let sub = sets.iter().flat_map(|s| s["changes"].as_array().unwrap()).last().unwrap();
    assert_eq!(sub["services"], json!([]));

    // From the current version: a heartbeat at that version straight away.
    let seen = events(&api, &format!("/v1/watch?since={now}&heartbeat_ms=50"), 2).await;
    assert!(seen.iter().all(|(k, d)| k == "heartbeat" && d["version"] == now), "{seen:?}");

    // Another history's replica, even at a version this server has: resync.
    let (_, document) = api.call("/v1/snapshot", PEP, None).await;
    let lineage = document["lineage"].as_str().unwrap().to_owned();
    assert_eq!(lineage.len(), 32, "{document}");
    let seen = events(&api, &format!("/v1/watch?since={now}&lineage=00112233445566778899aabbccddeeff"), 1).await;
    assert_eq!(seen[0].0, "resync", "{seen:?}");
    assert!(seen[0].1["reason"].as_str().unwrap().contains("another history"), "{seen:?}");
    let seen = events(&api, &format!("/v1/watch?since={now}&lineage={lineage}&heartbeat_ms=50"), 1).await;
    assert_eq!(seen[0].0, "heartbeat", "its own lineage resumes: {seen:?}");

    // From a version this server never had: resync.
    let seen = events(&api, &format!("/v1/watch?since={}", now + 100), 1).await;
    assert_eq!(seen[0].0, "resync");
    assert_eq!(seen[0].1["version"], now);

    // Too old for the history kept: resync.
    core.feed().set_limits(verdict_control::feed::FeedLimits { frames: 1, bytes: 1 << 20 });
    let seen = events(&api, &format!("/v1/watch?since={start}"), 1).await;
    assert_eq!(seen[0].0, "resync", "{seen:?}");

    // Last-Event-ID works as `since`, and wins over it: an EventSource
    // reconnects with its first URL plus the header.
    core.feed().set_limits(verdict_control::feed::FeedLimits::default());
    let mut response = api
        .http
        .get(format!("{}/v1/watch?since={start}&heartbeat_ms=50", api.base))
        .bearer_auth(PEP)
        .header("last-event-id", now.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let first = String::from_utf8(response.chunk().await.unwrap().unwrap().to_vec()).unwrap();
    assert!(first.starts_with("event: heartbeat") && first.contains(&format!("\"version\":{now}")), "{first}");
}

#[tokio::test]
async fn a_change_too_large_to_stream_tells_replicas_to_fetch_the_snapshot() {
    let (core, _store, _dir) = open_core().await;
    let api = Api::new(serve(core.clone()).await);
    let before = core.feed().current().version();
    let subscriptions: Vec<Value> =
        (0..10_001).map(|i| json!({"id": format!("s-{i}"), "tenant": "big", "unit": format!("u{}", i % 10)})).collect();
    let inventory = json!({"tenants": [{"id": "big", "kind": "enterprise"}], "subscriptions": subscriptions});
    let (status, body) = api.call("/v1/import", ADMIN, Some(inventory)).await;
    assert!(status.is_success(), "{body}");
    let seen = events(&api, &format!("/v1/watch?since={before}"), 1).await;
    assert_eq!(seen[0].0, "resync", "{seen:?}");
    assert!(seen[0].1["reason"].as_str().unwrap().contains("too large"), "{seen:?}");
    // The snapshot has it all.
    let (status, document) = api.call("/v1/snapshot", PEP, None).await;
    assert_eq!(status, StatusCode::OK);
    let count: usize =
        document["units"].as_array().unwrap().iter().map(|u| u["subscriptions"].as_array().map_or(0, Vec::len)).sum();
    assert_eq!(count, 10_001);
    assert_eq!(document["catalog"]["services"].as_array().unwrap().len(), 8, "the catalog travels with the snapshot");
}

#[tokio::test]
async fn bad_watch_requests_get_specific_errors() {
    let (core, _store, _dir) = open_core().await;
    let api = Api::new(serve(core).await);
    for (path, code) in [
        ("/v1/watch", "missing-version"),
        ("/v1/watch?since=1&heartbeat_ms=5", "invalid-heartbeat"),
        ("/v1/watch?since=1&heartbeat_ms=9999999", "invalid-heartbeat"),
    ] {
        let (status, body) = api.call(path, PEP, None).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}: {body}");
        assert_eq!(body["error"]["code"], code, "{path}: {body}");
    }
    let (status, body) = api.call("/v1/watch?since=abc", PEP, None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("since"), "{body}");
    let response = api
        .http
        .get(format!("{}/v1/watch", api.base))
        .bearer_auth(PEP)
        .header("last-event-id", "x")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "invalid-version");
}
