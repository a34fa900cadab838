//! The public pages through real HTTP on port 0: the transparency report
//! and the log explorer render what the store holds, carry the headers that
//! keep them from running anything but the server's own code, escape what
//! entries say, and answer a clear 404 or 400 for what does not exist.

mod common;

use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use serde_json::json;
use verdict_control::{Actor, Principal};
use verdict_model::Role;

const PAYLOAD: &str = "<script>window.__xss=1</script><img src=x onerror=alert(1)>";

async fn get(base: &str, path: &str) -> (StatusCode, HeaderMap, String) {
    let response = reqwest::get(format!("{base}{path}")).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    (status, headers, response.text().await.unwrap())
}

/// A server whose log holds an import and a clause whose title and text
/// are markup.
async fn server() -> (String, tempfile::TempDir) {
    let (core, _, dir) = common::open_core().await;
    let inventory = serde_json::from_value(json!({
        "tenants": [{"id": "ministry-of-defense", "kind": "government"}],
        "units": [{"tenant": "ministry-of-defense", "path": "intelligence"}],
    }))
    .unwrap();
    core.import(&Actor::admin(), inventory, &|_| ()).await.unwrap();
    let admin = Principal { name: "admin".into(), roles: vec![Role::Admin], tenant: None, scope: None };
    let clause = serde_json::from_value(json!({"id": "AUP-2", "title": PAYLOAD, "text": PAYLOAD})).unwrap();
    core.publish_clause(&admin, clause).await.unwrap();
    (common::serve(core).await, dir)
}

fn assert_page_headers(headers: &HeaderMap) {
    let csp = headers["content-security-policy"].to_str().unwrap();
    for directive in ["default-src 'none'", "script-src 'self'", "style-src 'self'", "frame-ancestors 'none'"] {
        assert!(csp.contains(directive), "{csp}");
    }
    assert!(!csp.contains("unsafe-inline"), "{csp}");
    assert_eq!(headers["x-frame-options"], "DENY");
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert_eq!(headers["cache-control"], "no-store");
    assert_eq!(headers["content-type"], "text/html; charset=utf-8");
}

/// Markup from the store is text: no element of it reaches the page.
fn assert_escaped(page: &str) {
    assert!(!page.contains("<script"), "{page}");
    assert!(!page.contains("<img"), "{page}");
    assert!(page.contains("&lt;script&gt;"), "the payload is shown as text");
}

#[tokio::test]
async fn the_transparency_report_is_public_and_counts_the_log() {
    let (base, _dir) = server().await;
    let (status, headers, page) = get(&base, "/transparency").await;
    assert_eq!(status, StatusCode::OK);
    assert_page_headers(&headers);
    assert!(page.contains("Transparency report") && page.contains("verdict.test/log"), "{page}");
    assert!(page.contains("Entries</dt><dd>2</dd>"), "the import and the clause: {page}");
    // Its stylesheet is served at the hashed path the page names, for good.
    let css = page.split("rel=\"stylesheet\" href=\"").nth(1).unwrap().split('"').next().unwrap();
    let (status, headers, body) = get(&base, css).await;
    assert_eq!(status, StatusCode::OK);
    assert!(headers["cache-control"].to_str().unwrap().contains("immutable"));
    assert!(body.contains("--accent"));
    assert_eq!(get(&base, "/console/assets/0000000000000000/console.css").await.0, StatusCode::NOT_FOUND);

    let (status, headers, csv) = get(&base, "/transparency/report.csv").await;
    assert_eq!(status, StatusCode::OK);
    assert!(headers["content-disposition"].to_str().unwrap().contains("attachment"));
    assert!(csv.lines().count() > 1, "{csv}");
}

#[tokio::test]
async fn the_log_explorer_lists_entries_and_shows_each_escaped() {
    let (base, _dir) = server().await;
    let (status, headers, page) = get(&base, "/transparency/log").await;
    assert_eq!(status, StatusCode::OK);
    assert_page_headers(&headers);
    for kind in ["inventory.imported", "clause.published"] {
        assert!(page.contains(kind), "{kind} listed: {page}");
    }
    assert!(!page.contains("ministry-of-defense"), "no customer identity on a public page");
    let newest = page.find("clause.published").unwrap();
    assert!(newest < page.find("inventory.imported").unwrap(), "newest first");

    let (status, headers, page) = get(&base, "/transparency/log/1").await;
    assert_eq!(status, StatusCode::OK);
    assert_page_headers(&headers);
    assert_escaped(&page);
    assert!(page.contains("/log/receipt/1"), "a receipt to prove it");

    let (status, _, page) = get(&base, "/transparency/log/2").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(page.contains("holds 2 entries"), "{page}");
    let (status, _, page) = get(&base, "/transparency/log?before=soon").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(page.contains("&quot;soon&quot; is not an entry index"), "{page}");
    let (status, _, page) = get(&base, "/transparency/log?before=1").await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("inventory.imported") && !page.contains("clause.published"), "{page}");
}
