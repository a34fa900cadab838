//! The DESIGN §1 order enforced through a real nginx: `auth_request` to a
//! `verdict pep` sidecar that replicates the control plane, in front of a
//! small upstream. Changes made mid-test start denying through nginx; with
//! the control plane killed the sidecar keeps enforcing and reports its
//! age; when the control plane is back, the sidecar catches up.
//!
//! Needs nginx on the PATH or in /usr/sbin (`.ci/run` installs Debian's).

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

mod common;

use common::{start, token};

fn nginx_binary() -> PathBuf {
    for dir in std::env::var("PATH").unwrap_or_default().split(':').chain(["/usr/sbin", "/usr/local/sbin"]) {
        let candidate = Path::new(dir).join("nginx");
        if candidate.is_file() {
            return candidate;
        }
    }
    panic!("nginx is not installed; this test runs a real nginx (apt-get install nginx-light, as .ci/run does)");
}

/// A tiny HTTP upstream that answers every request with 200 "upstream".
fn upstream() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            let mut seen = Vec::new();
            let mut buf = [0u8; 1024];
            while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
                match stream.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => seen.extend_from_slice(&buf[..n]),
                }
            }
            let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 8\r\nConnection: close\r\n\r\nupstream");
        }
    });
    port
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// nginx in the foreground with its own prefix; killed when dropped.
struct Nginx {
    child: Child,
    port: u16,
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn nginx(dir: &Path, pep: &str, upstream: u16) -> Nginx {
    let port = free_port();
    let d = dir.display();
    let config = format!(
        r#"
worker_processes 1;
daemon off;
master_process off;
error_log {d}/error.log warn;
pid {d}/nginx.pid;
events {{ worker_connections 256; }}
http {{
    access_log off;
    client_body_temp_path {d}/body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
    upstream verdict_pep {{ server {pep}; keepalive 8; }}
    server {{
        listen 127.0.0.1:{port};
        # /SERVICE/ACTION, the subscription in X-Subscription.
        location ~ ^/(?<verdict_service>[a-z]+\.[a-z-]+)/(?<verdict_action>[a-z-]+)$ {{
            auth_request /_verdict;
            auth_request_set $verdict_order $upstream_http_x_verdict_order;
            auth_request_set $verdict_reason $upstream_http_x_verdict_reason;
            add_header X-Verdict-Order $verdict_order always;
            add_header X-Verdict-Reason $verdict_reason always;
            proxy_pass http://127.0.0.1:{upstream};
        }}
        location = /_verdict {{
            internal;
            proxy_pass http://verdict_pep/authz/nginx;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_pass_request_body off;
            proxy_set_header Content-Length "";
            proxy_set_header X-Verdict-Subscription $http_x_subscription;
            proxy_set_header X-Verdict-Service $verdict_service;
            proxy_set_header X-Verdict-Action $verdict_action;
        }}
    }}
}}
"#
    );
    let conf = dir.join("nginx.conf");
    std::fs::write(&conf, config).unwrap();
    let child = Command::new(nginx_binary())
        .args(["-p", &dir.display().to_string(), "-c", &conf.display().to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("nginx starts");
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "nginx did not listen: {}",
            std::fs::read_to_string(dir.join("error.log")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    Nginx { child, port }
}

/// A request through nginx: its status, X-Verdict-Order and body.
fn through(nginx: &Nginx, sub: &str, service: &str, action: &str) -> (u16, String, String) {
    let response = reqwest::blocking::Client::new()
        .get(format!("http://127.0.0.1:{}/{service}/{action}", nginx.port))
        .header("X-Subscription", sub)
        .send()
        .unwrap();
    let status = response.status().as_u16();
    let order = response.headers().get("x-verdict-order").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
    (status, order, response.text().unwrap())
}

/// Waits (at most `limit`) until `sub` gets `status` for the request; returns how long it took.
fn until_status(nginx: &Nginx, sub: &str, service: &str, action: &str, status: u16, limit: Duration) -> Duration {
    let started = Instant::now();
    loop {
        if through(nginx, sub, service, action).0 == status {
            return started.elapsed();
        }
        assert!(started.elapsed() < limit, "{sub} {service} {action} did not become {status} within {limit:?}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn admin(base: &str, data: &Path, path: &str, body: Value) -> Value {
    let response = reqwest::blocking::Client::new()
        .post(format!("{base}{path}"))
        .bearer_auth(token(data, "admin"))
        .json(&body)
        .send()
        .unwrap();
    assert!(response.status().is_success(), "{path}: {}", response.status());
    response.json().unwrap()
}

/// `verdict pep` following `server` with the pep token of `data`, on port 0.
fn sidecar(server: &str, data: &Path) -> common::Running {
    let token_file = data.join("pep.token");
    start(&[
        "pep",
        "--server",
        server,
        "--token-file",
        token_file.to_str().unwrap(),
        "--listen",
        "127.0.0.1:0",
        "--heartbeat",
        "200ms",
    ])
}

fn health(pep: &str) -> (u16, Value) {
    let response = reqwest::blocking::get(format!("{pep}/healthz")).unwrap();
    (response.status().as_u16(), response.json().unwrap())
}

#[test]
fn the_design_case_holds_through_nginx_and_survives_the_control_plane() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("demo");
    let data_arg = data.to_str().unwrap().to_owned();
    let mut control = start(&["demo", "--listen", "127.0.0.1:0", "--data", &data_arg]);
    let listen = control.base.trim_start_matches("http://").to_owned();
    let sidecar = sidecar(&control.base, &data);
    let nginx_dir = dir.path().join("nginx");
    std::fs::create_dir_all(&nginx_dir).unwrap();
    let gateway = nginx(&nginx_dir, sidecar.base.trim_start_matches("http://"), upstream());

    // The order as DESIGN §1 has it, in its export-only phase.
    let (status, order, body) = through(&gateway, "sig-archive-nl", "storage.blob", "get-blob");
    assert_eq!((status, body.as_str()), (200, "upstream"), "reads still work for the export");
    let (status, order_id, _) = through(&gateway, "sig-archive-nl", "storage.blob", "put-blob");
    assert_eq!(status, 403);
    assert!(order_id.starts_with("ord-"), "the deny names the order: {order_id:?} {order:?}");
    assert_eq!(through(&gateway, "sig-ai", "ai.speech-to-text", "transcribe").0, 403);
    assert_eq!(through(&gateway, "cyber-ops", "security.defender", "scan").0, 200, "security is exempt");
    assert_eq!(through(&gateway, "cyber-ops", "storage.blob", "put-blob").0, 200, "another unit's storage");
    assert_eq!(through(&gateway, "log-erp", "compute.vm", "create-vm").0, 200, "an untouched unit");

    // Changes made now deny through nginx within moments.
    admin(
        &control.base,
        &data,
        "/v1/subscriptions",
        json!({"id": "sig-new", "tenant": "ministry-of-defense", "unit": "intelligence/signals"}),
    );
    until_status(&gateway, "sig-new", "storage.blob", "put-blob", 403, Duration::from_secs(5));
    let now = verdict_model::Timestamp::now().seconds();
    let logistics = admin(
        &control.base,
        &data,
        "/v1/orders?direct=true",
        json!({
            "tenant": "ministry-of-defense", "clause": "AUP-2", "title": "logistics compute",
            "scope": {"units": ["logistics"]}, "services": ["compute.*"],
            "phases": [{"mode": "notice", "start": verdict_model::Timestamp(now - 60)},
                       {"mode": "disabled", "start": verdict_model::Timestamp(now - 1)}],
        }),
    );
    let logistics_id = logistics["id"].as_str().unwrap().to_owned();
    until_status(&gateway, "log-erp", "compute.vm", "create-vm", 403, Duration::from_secs(5));
    assert_eq!(through(&gateway, "log-erp", "storage.blob", "put-blob").0, 200, "only compute");

    // The control plane dies: the sidecar keeps enforcing and says how old it is.
    drop(control);
    let deadline = Instant::now() + Duration::from_secs(10);
    let (mut code, mut before) = health(&sidecar.base);
    while code != 503 {
        assert!(Instant::now() < deadline, "the sidecar did not notice the control plane went away: {before}");
        std::thread::sleep(Duration::from_millis(20));
        (code, before) = health(&sidecar.base);
    }
    std::thread::sleep(Duration::from_millis(1200));
    let (code_later, after) = health(&sidecar.base);
    assert_eq!(code_later, 503, "{after}");
    assert_eq!(after["connected"], false);
    assert!(after["snapshot_age_ms"].as_u64().unwrap() >= 1000, "{after}");
    assert!(after["snapshot_age_ms"].as_u64() > before["snapshot_age_ms"].as_u64(), "{before} {after}");
    assert_eq!(through(&gateway, "sig-archive-nl", "storage.blob", "put-blob").0, 403);
    assert_eq!(through(&gateway, "log-erp", "compute.vm", "create-vm").0, 403);
    assert_eq!(through(&gateway, "sig-archive-nl", "storage.blob", "get-blob").0, 200);
    assert_eq!(through(&gateway, "cyber-ops", "security.defender", "scan").0, 200);

    // Back on the same address and data: the sidecar reconnects and catches up.
    control = start(&["demo", "--listen", &listen, "--data", &data_arg]);
    let deadline = Instant::now() + Duration::from_secs(20);
    while health(&sidecar.base).0 != 200 {
        assert!(Instant::now() < deadline, "the sidecar did not reconnect: {}", health(&sidecar.base).1);
        std::thread::sleep(Duration::from_millis(50));
    }
    admin(&control.base, &data, &format!("/v1/orders/{logistics_id}/lift"), json!({"reason": "restored on review"}));
    until_status(&gateway, "log-erp", "compute.vm", "create-vm", 200, Duration::from_secs(5));
    assert_eq!(through(&gateway, "sig-archive-nl", "storage.blob", "put-blob").0, 403, "the §1 order still holds");
    let age = health(&sidecar.base).1["snapshot_age_ms"].as_u64().unwrap();
    assert!(age < 5000, "heartbeats every 200 ms keep the age low: {age} ms");
}

#[test]
fn a_server_with_replicas_attached_stops_promptly_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut server = start(&["serve", "--listen", "127.0.0.1:0", "--data", data.to_str().unwrap()]);
    let sidecar = sidecar(&server.base, &data);
    let deadline = Instant::now() + Duration::from_secs(10);
    while health(&sidecar.base).0 != 200 {
        assert!(Instant::now() < deadline, "the sidecar did not connect");
        std::thread::sleep(Duration::from_millis(20));
    }
    // The sidecar's change stream is open; a graceful shutdown must end it
    // rather than wait for it.
    let status = Command::new("kill").args(["-TERM", &server.child.id().to_string()]).status().unwrap();
    assert!(status.success());
    let stopping = Instant::now();
    loop {
        if let Some(exit) = server.child.try_wait().unwrap() {
            assert!(exit.success(), "verdict serve exited with {exit}");
            break;
        }
        assert!(stopping.elapsed() < Duration::from_secs(10), "verdict serve did not stop with a replica attached");
        std::thread::sleep(Duration::from_millis(20));
    }
    // The sidecar notices, and keeps answering.
    let deadline = Instant::now() + Duration::from_secs(10);
    while health(&sidecar.base).0 != 503 {
        assert!(Instant::now() < deadline, "the sidecar did not notice the server stopped");
        std::thread::sleep(Duration::from_millis(20));
    }
}
