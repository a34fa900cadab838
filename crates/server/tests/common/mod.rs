//! What the server tests share: a control plane over SQLite in a temporary
//! directory, the real router served on port 0, and a client for it.

#![allow(dead_code)]

pub mod console;

use std::sync::Arc;

use reqwest::StatusCode;
use serde_json::{Value, json};
use verdict_control::{Core, SigningKey};
use verdict_server::{AppState, Tokens};
use verdict_store::SqliteStore;

/// The data directory's admin token in these tests.
pub const ADMIN: &str = "admin-secret";
/// The data directory's PEP token in these tests.
pub const PEP: &str = "pep-secret";

/// A fresh control plane over SQLite; the directory lives as long as the
/// returned guard.
pub async fn open_core() -> (Arc<Core>, Arc<SqliteStore>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open(&dir.path().join("verdict.db")).await.unwrap());
    let core = Arc::new(Core::open(store.clone(), SigningKey::generate("verdict.test/log").unwrap()).await.unwrap());
    (core, store, dir)
}

/// Serves the whole application over `core` on 127.0.0.1:0; returns its URL.
pub async fn serve(core: Arc<Core>) -> String {
    let state = Arc::new(AppState::new(core, Tokens { admin: ADMIN.into(), pep: PEP.into() }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, verdict_server::router(state)).await.unwrap() });
    format!("http://{addr}")
}

/// A client of one served application.
pub struct Api {
    /// Its base URL.
    pub base: String,
    /// The HTTP client.
    pub http: reqwest::Client,
}

impl Api {
    /// A client for `base`.
    pub fn new(base: String) -> Api {
        Api { base, http: reqwest::Client::new() }
    }

    /// POST with a body, GET without; the status and the JSON answer.
    pub async fn call(&self, path: &str, token: &str, body: Option<Value>) -> (StatusCode, Value) {
        let url = format!("{}{path}", self.base);
        let request = match body {
            Some(body) => self.http.post(url).json(&body),
            None => self.http.get(url),
        };
        let r = request.bearer_auth(token).send().await.unwrap();
        let status = r.status();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    /// The approval body for what the order's preview shows now.
    pub async fn seen(&self, id: &str) -> Value {
        let (status, preview) = self.call(&format!("/v1/orders/{id}/preview"), ADMIN, None).await;
        assert_eq!(status, StatusCode::OK, "{preview}");
        json!({"preview_hash": preview["hash"]})
    }
}
