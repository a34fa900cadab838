//! The edge with real sockets: a client that sends headers slowly, says
//! nothing, idles after a request, stalls in a body or declares a terabyte
//! is cut off or refused within its bound, while decisions go on being
//! answered with hundreds of idle connections held open.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::get;
use common::{ADMIN, PEP};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use verdict_server::{AppState, EdgeLimits, Tokens};

/// Short bounds, so each case ends in a second or two (the whole-request
/// bound longer than the body's, so a stalled body meets its own first).
const LIMITS: EdgeLimits = EdgeLimits {
    header_read: Duration::from_millis(800),
    body_idle: Duration::from_millis(800),
    request: Duration::from_millis(2500),
};

/// The whole application, plus a handler slower than the request bound,
/// served through the edge on 127.0.0.1:0.
async fn start(limits: EdgeLimits) -> std::net::SocketAddr {
    let (core, _store, dir) = common::open_core().await;
    std::mem::forget(dir);
    let mut state = AppState::new(core, Tokens { admin: ADMIN.into(), pep: PEP.into() });
    state.edge = limits;
    let slow = Router::new().route(
        "/slow",
        get(|| async {
            tokio::time::sleep(Duration::from_secs(5)).await;
            "late"
        }),
    );
    let app = verdict_server::router_with(Arc::new(state), slow);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(verdict_server::edge::serve(listener, app, limits, std::future::pending()));
    addr
}

/// Reads until the server closes the connection (or `limit` passes);
/// what it sent, and when it closed.
async fn until_closed(stream: &mut TcpStream, limit: Duration) -> (String, Option<Duration>) {
    let started = Instant::now();
    let mut received = Vec::new();
    let mut buffer = [0u8; 4096];
    loop {
        let left = limit.saturating_sub(started.elapsed());
        match tokio::time::timeout(left, stream.read(&mut buffer)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return (String::from_utf8_lossy(&received).into(), Some(started.elapsed())),
            Ok(Ok(n)) => received.extend_from_slice(&buffer[..n]),
            Err(_) => return (String::from_utf8_lossy(&received).into(), None),
        }
    }
}

fn error_code(response: &str) -> Value {
    let body = response.split("\r\n\r\n").nth(1).unwrap_or("");
    serde_json::from_str::<Value>(body).map(|v| v["error"]["code"].clone()).unwrap_or(Value::Null)
}

#[tokio::test]
async fn slow_or_silent_clients_are_cut_off() {
    let addr = start(LIMITS).await;

    // Says nothing at all.
    let mut silent = TcpStream::connect(addr).await.unwrap();
    let (_, closed) = until_closed(&mut silent, Duration::from_secs(5)).await;
    assert!(closed.is_some_and(|t| t < Duration::from_secs(3)), "a silent connection stayed open: {closed:?}");

    // Sends its headers a line at a time, never finishing.
    let mut slow = TcpStream::connect(addr).await.unwrap();
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: verdict\r\n").await.unwrap();
    let started = Instant::now();
    let mut cut = false;
    while started.elapsed() < Duration::from_secs(5) {
        tokio::time::sleep(Duration::from_millis(100)).await;
        if slow.write_all(b"X-Trickle: 1\r\n").await.is_err() {
            cut = true;
            break;
        }
        let mut byte = [0u8; 1];
        if let Ok(Ok(0)) = tokio::time::timeout(Duration::from_millis(1), slow.read(&mut byte)).await {
            cut = true;
            break;
        }
    }
    assert!(
        cut && started.elapsed() < Duration::from_secs(3),
        "slow headers held the connection {:?}",
        started.elapsed()
    );

    // Finishes a request, then idles on the kept-alive connection.
    let mut idle = TcpStream::connect(addr).await.unwrap();
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: verdict\r\n\r\n").await.unwrap();
    let (response, closed) = until_closed(&mut idle, Duration::from_secs(5)).await;
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(
        closed.is_some_and(|t| t < Duration::from_secs(3)),
        "an idle kept-alive connection stayed open: {closed:?}"
    );
}

#[tokio::test]
async fn stalled_bodies_slow_handlers_and_declared_giants_are_refused() {
    let addr = start(LIMITS).await;

    // A body that stops halfway: 408 body-timeout, nothing written.
    let mut stalled = TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST /v1/tenants HTTP/1.1\r\nHost: verdict\r\nAuthorization: Bearer {ADMIN}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n"
    );
    stalled.write_all(head.as_bytes()).await.unwrap();
    stalled.write_all(b"{\"id\": \"t1\",").await.unwrap();
    let (response, _) = until_closed(&mut stalled, Duration::from_secs(4)).await;
    assert!(response.starts_with("HTTP/1.1 408"), "{response}");
    assert_eq!(error_code(&response), json!("body-timeout"), "{response}");

    // A terabyte declared, ten bytes sent: 413 at once.
    let mut giant = TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST /v1/tenants HTTP/1.1\r\nHost: verdict\r\nAuthorization: Bearer {ADMIN}\r\nContent-Type: application/json\r\nContent-Length: 1099511627776\r\n\r\n0123456789"
    );
    let started = Instant::now();
    giant.write_all(head.as_bytes()).await.unwrap();
    let (response, _) = until_closed(&mut giant, Duration::from_millis(500)).await;
    assert!(response.starts_with("HTTP/1.1 413"), "after {:?}: {response}", started.elapsed());
    assert_eq!(error_code(&response), json!("payload-too-large"), "{response}");
    // The same on the import, whose own limit is 256 MiB, and on a decision.
    for path in ["/v1/import", "/access/v1/evaluation"] {
        let mut giant = TcpStream::connect(addr).await.unwrap();
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: verdict\r\nAuthorization: Bearer {ADMIN}\r\nContent-Type: application/json\r\nContent-Length: 1099511627776\r\n\r\n{{}}"
        );
        giant.write_all(head.as_bytes()).await.unwrap();
        let (response, _) = until_closed(&mut giant, Duration::from_millis(500)).await;
        assert_eq!(error_code(&response), json!("payload-too-large"), "{path}: {response}");
    }

    // A handler slower than the request bound: 408 request-timeout.
    let client = reqwest::Client::new();
    let response = client.get(format!("http://{addr}/slow")).bearer_auth(PEP).send().await.unwrap();
    assert_eq!(response.status(), 408);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "request-timeout", "{body}");
}

#[tokio::test]
async fn decisions_go_on_with_hundreds_of_idle_connections_held_open() {
    // Idle connections outlive the test's measurement.
    let addr = start(EdgeLimits { header_read: Duration::from_secs(30), ..LIMITS }).await;
    let mut idle = Vec::new();
    for _ in 0..300 {
        idle.push(TcpStream::connect(addr).await.unwrap());
    }
    // Half of them mid-headers, stalled.
    for stream in idle.iter_mut().step_by(2) {
        stream.write_all(b"POST /access/v1/evaluation HTTP/1.1\r\nHost: v").await.unwrap();
    }
    let client = reqwest::Client::new();
    let body = json!({"subject": {"type": "gateway", "id": "gw"},
        "resource": {"type": "service", "id": "storage.blob", "properties": {"subscription": "s"}},
        "action": {"name": "put-blob"}});
    for _ in 0..200 {
        let response = client
            .post(format!("http://{addr}/access/v1/evaluation"))
            .bearer_auth(PEP)
            .json(&body)
            .timeout(Duration::from_secs(5))
            .send()
            .await
            .expect("a decision is answered while 300 connections sit idle");
        assert_eq!(response.status(), 200);
    }
    drop(idle);
}

#[tokio::test]
async fn requests_hyper_cannot_parse_get_the_json_error_shape() {
    let addr = start(LIMITS).await;
    let giant_header = format!("GET /healthz HTTP/1.1\r\nHost: verdict\r\nX-Big: {}\r\n\r\n", "a".repeat(600 * 1024));
    for (request, status, code) in [
        ("GARBAGE\r\n\r\n".to_owned(), "400", "malformed-request"),
        ("GET /healthz HTTP/1.1\r\nHost verdict\r\n\r\n".to_owned(), "400", "malformed-request"),
        (giant_header, "431", "headers-too-large"),
    ] {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        // The server may answer and close before all of a giant is sent.
        let _ = stream.write_all(request.as_bytes()).await;
        let (response, _) = until_closed(&mut stream, Duration::from_secs(3)).await;
        assert!(response.starts_with(&format!("HTTP/1.1 {status}")), "{response}");
        assert!(response.to_ascii_lowercase().contains("content-type: application/json"), "{response}");
        assert_eq!(error_code(&response), json!(code), "{response}");
    }
    // A well-formed request on the same server is untouched.
    let mut ok = TcpStream::connect(addr).await.unwrap();
    ok.write_all(b"GET /no/such/route HTTP/1.1\r\nHost: verdict\r\nConnection: close\r\n\r\n").await.unwrap();
    let (response, _) = until_closed(&mut ok, Duration::from_secs(3)).await;
    assert!(response.starts_with("HTTP/1.1 404"), "{response}");
    assert_eq!(error_code(&response), json!("no-route"), "{response}");
}
