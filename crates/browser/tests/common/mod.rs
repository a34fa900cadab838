//! What the browser tests share: a verdict server on port 0 over a store of
//! its own, a user's token, and the accessibility check.

#![allow(dead_code)]

use std::sync::Arc;

use serde_json::{Value, json};
use verdict_browser::Browser;
use verdict_control::{Actor, Core, SigningKey};
use verdict_model::{Role, User};
use verdict_server::{AppState, Tokens};
use verdict_testdb::{Backend, TestDb};

/// A server the browser talks to.
pub struct Server {
    /// Its address, `http://127.0.0.1:PORT`.
    pub base: String,
    /// Its control plane.
    pub core: Arc<Core>,
    _db: TestDb,
}

/// A server over SQLite with one tenant imported.
pub async fn server() -> Server {
    let db = TestDb::new(Backend::Sqlite).await;
    let core = Arc::new(Core::open(db.open().await, SigningKey::generate("verdict.test/log").unwrap()).await.unwrap());
    let inventory = serde_json::from_value(json!({
        "tenants": [{"id": "ministry-of-defense", "kind": "government"}],
        "units": [{"tenant": "ministry-of-defense", "path": "intelligence"}],
    }))
    .unwrap();
    core.import(&Actor::admin(), inventory, &|_| ()).await.unwrap();
    let state =
        Arc::new(AppState::new(core.clone(), Tokens { admin: "admin-secret".into(), pep: "pep-secret".into() }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, verdict_server::router(state)).await.unwrap() });
    Server { base, core, _db: db }
}

/// Publishes clause AUP-2, the terms the story is about.
pub async fn publish_terms(core: &Core) {
    let clause = serde_json::from_value(json!({"id": "AUP-2", "title": "No mass surveillance of civilians",
        "text": "The customer shall not use the services to facilitate mass surveillance of civilians."}))
    .unwrap();
    core.publish_clause(&verdict_control::Principal::admin(), clause).await.unwrap();
}

/// Adds a user with `role`; its token.
pub async fn user(core: &Core, name: &str, role: Role) -> String {
    let user = User {
        name: name.into(),
        roles: vec![role],
        tenant: None,
        scope: None,
        created_at: Default::default(),
        revoked_at: None,
    };
    core.add_user(&Actor::admin(), user).await.unwrap().1
}

/// Runs axe-core (from `npm ci` in this crate) on the page shown, for WCAG
/// 2 A and AA; returns each violation as `id: help (targets)`.
pub async fn accessibility_violations(browser: &Browser) -> Vec<String> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("node_modules/axe-core/axe.min.js");
    let axe = std::fs::read_to_string(&path).unwrap_or_else(|_| {
        panic!("{} is missing: run `npm ci --prefix crates/browser` (as .ci/run does)", path.display())
    });
    // Injected through WebDriver, which the page's CSP does not govern: the
    // policy stays on while the page is checked.
    browser.execute(&axe, vec![]).await;
    let result = browser
        .execute_async(
            "const done = arguments[arguments.length - 1];
             axe.run(document, {runOnly: ['wcag2a', 'wcag2aa']}).then(r => done(r.violations.map(v =>
                 v.id + ': ' + v.help + ' (' + v.nodes.map(n => n.target.join(' ')).join(', ') + ')')));",
            vec![],
        )
        .await;
    result.as_array().into_iter().flatten().filter_map(Value::as_str).map(str::to_owned).collect()
}

/// Downloads, in the page shown, the receipt its `a[download]` link offers,
/// and checks it here against the log's key; returns the entry it proves.
pub async fn downloaded_receipt_verifies(browser: &Browser, core: &Core) -> Vec<u8> {
    let href = browser.find("a[download]").await.attribute("href").await.unwrap();
    let text = browser
        .execute_async(
            "const done = arguments[arguments.length - 1]; fetch(arguments[0]).then(r => r.text()).then(done);",
            vec![json!(href)],
        )
        .await;
    let receipt = verdict_log::Receipt::parse(text.as_str().unwrap()).unwrap();
    let entry = receipt.extra.clone().expect("the receipt carries its entry");
    receipt.verify(&core.log_key(), &verdict_log::leaf_hash(&entry)).unwrap();
    entry
}
