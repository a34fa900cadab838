//! The public pages through real HTTP on port 0: the transparency report
//! and the log explorer render what the store holds, carry the headers that
//! keep them from running anything but the server's own code, escape what
//! entries say, and answer a clear 404 or 400 for what does not exist.

mod common;

use common::console::*;

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
async fn server() -> (String, tempfile::TempDir, std::sync::Arc<verdict_control::Core>) {
    let (core, _, dir) = common::open_core().await;
    let inventory = serde_json::from_value(json!({
        "tenants": [{"id": "ministry-of-defense", "kind": "government"}],
        "units": [{"tenant": "ministry-of-defense", "path": "intelligence"}],
    }))
    .unwrap();
    core.import(&Actor::admin(), inventory, &|_| ()).await.unwrap();
    let admin = Principal::admin();
    let clause = serde_json::from_value(json!({"id": "AUP-2", "title": PAYLOAD, "text": PAYLOAD})).unwrap();
    core.publish_clause(&admin, clause).await.unwrap();
    (common::serve(core.clone()).await, dir, core)
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
    // Only the console's own scripts, by address.
    assert_eq!(page.matches("<script").count(), page.matches("<script src=\"/console/assets/").count(), "{page}");
    assert!(!page.contains("<img"), "{page}");
    assert!(page.contains("&lt;script&gt;"), "the payload is shown as text");
}

#[tokio::test]
async fn the_transparency_report_is_public_and_counts_the_log() {
    let (base, _dir, _) = server().await;
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
    let (base, _dir, _) = server().await;
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

async fn home(base: &str, session: &str) -> reqwest::Response {
    browser()
        .get(format!("{base}/console"))
        .header("cookie", format!("verdict_session={session}"))
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_token_is_exchanged_for_a_session_that_ends_with_sign_out_revocation_or_expiry() {
    let (core, _, _dir) = common::open_core().await;
    let analyst = add_user(&core, "analyst", Role::Analyst).await;
    let gateway = add_user(&core, "gw", Role::Pep).await;
    let auditor = add_user(&core, "auditor", Role::Auditor).await;
    let state = verdict_server::AppState::new(
        core.clone(),
        verdict_server::Tokens { admin: common::ADMIN.into(), pep: common::PEP.into() },
    );
    let mut short = state;
    short.console.session_lifetime = std::time::Duration::from_secs(2);
    let short = std::sync::Arc::new(short);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, verdict_server::router(short)).await.unwrap() });
    let base = format!("http://{addr}");

    // No session: sent to sign in, and brought back after.
    let response = browser().get(format!("{base}/console")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(response.headers()["location"], "/console/sign-in?next=/console");

    // Wrong tokens are refused beside the field; a gateway's token is not a person's.
    let (status, page) = sign_in(&base, "vdt_analyst_not-a-token").await.err().unwrap();
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(page.contains("id=\"token-error\"") && page.contains("not one this server issued"), "{page}");
    let (status, page) = sign_in(&base, &gateway).await.err().unwrap();
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(page.contains("gateway"), "{page}");

    // A sign-in form from elsewhere (no matching cookie) is refused.
    let forged = browser()
        .post(format!("{base}/console/sign-in"))
        .form(&[("_csrf", "0".repeat(64).as_str()), ("token", analyst.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    assert!(set_cookie(forged.headers(), "verdict_session").is_none());

    // Signed in: the home page names the person and what the role may do.
    let signed = sign_in(&base, &analyst).await.unwrap();
    let page = home(&base, &signed.session).await;
    assert_eq!(page.status(), StatusCode::OK);
    assert_page_headers(page.headers());
    let text = page.text().await.unwrap();
    assert!(text.contains("analyst") && text.contains("Open cases"), "{text}");
    assert!(!text.contains(&analyst), "the token never reaches a page");

    // Signing out needs the session's CSRF token, and then ends the session.
    let sign_out = |csrf: String, session: String| {
        let base = base.clone();
        async move {
            browser()
                .post(format!("{base}/console/sign-out"))
                .header("cookie", format!("verdict_session={session}"))
                .form(&[("_csrf", csrf)])
                .send()
                .await
                .unwrap()
        }
    };
    let refused = sign_out("f".repeat(64), signed.session.clone()).await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    assert_eq!(home(&base, &signed.session).await.status(), StatusCode::OK, "still signed in");
    let out = sign_out(signed.csrf.clone(), signed.session.clone()).await;
    assert_eq!(out.status(), StatusCode::SEE_OTHER);
    assert!(set_cookie(out.headers(), "verdict_session").unwrap().contains("Max-Age=0"));
    assert_eq!(home(&base, &signed.session).await.status(), StatusCode::SEE_OTHER, "the session is over");

    // Revoking the token ends its sessions.
    let audit = sign_in(&base, &auditor).await.unwrap();
    assert_eq!(home(&base, &audit.session).await.status(), StatusCode::OK);
    core.revoke_user(&Actor::admin(), "auditor").await.unwrap();
    assert_eq!(home(&base, &audit.session).await.status(), StatusCode::SEE_OTHER, "revoked");

    // And a session ends when its lifetime does.
    let admin = sign_in(&base, common::ADMIN).await.unwrap();
    assert_eq!(home(&base, &admin.session).await.status(), StatusCode::OK);
    tokio::time::sleep(std::time::Duration::from_millis(3100)).await;
    assert_eq!(home(&base, &admin.session).await.status(), StatusCode::SEE_OTHER, "expired");
}

#[tokio::test]
async fn cases_are_opened_and_evidenced_through_forms_refused_exactly_as_the_api_refuses() {
    let (base, _dir, core) = server().await;
    let mut tokens = std::collections::HashMap::new();
    for (name, role) in [("analyst-1", Role::Analyst), ("auditor-1", Role::Auditor)] {
        tokens.insert(name, add_user(&core, name, role).await);
    }
    let token = |name: &str| tokens[name].clone();
    let api = common::Api::new(base.clone());
    let analyst = sign_in(&base, &token("analyst-1")).await.unwrap();
    let (status, queue) = page(&base, "/console/cases", &analyst.session).await;
    assert_eq!(status, StatusCode::OK);
    assert!(queue.contains("No cases yet"), "{queue}");

    // A case refused by the control plane keeps what was typed and says why.
    let fields = |tenant: &'static str| {
        vec![
            ("title", "Bulk voice intercepts"),
            ("tenant", tenant),
            ("units", "intelligence"),
            ("clauses", "AUP-2"),
            ("source", "third_party_report"),
        ]
    };
    let mut refused = fields("nobody");
    refused.push(("_csrf", analyst.csrf.as_str()));
    let (status, _, body) = post_form(&base, "/console/cases", &analyst.session, &refused).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(
        body.contains("id=\"case-error\"") && body.contains("nobody") && body.contains("Bulk voice intercepts"),
        "{body}"
    );

    let mut good = fields("ministry-of-defense");
    good.push(("_csrf", analyst.csrf.as_str()));
    let (status, location, _) = post_form(&base, "/console/cases", &analyst.session, &good).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert!(location.starts_with("/console/cases/case-"), "{location}");
    let id = location.rsplit('/').next().unwrap().to_owned();

    // Customer content is refused with the API's code and sentence.
    let evidence = format!("/console/cases/{id}/evidence");
    let content = [
        ("_csrf", analyst.csrf.as_str()),
        ("kind", "metadata_finding"),
        ("summary", "calls per day"),
        ("figure_name_0", "transcript"),
        ("figure_value_0", "12"),
        ("method", "billing export"),
    ];
    let (status, _, body) = post_form(&base, &evidence, &analyst.session, &content).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body.contains("customer-content-refused") && body.contains("id=\"evidence-error\""), "{body}");
    let (api_status, api_body) = api
        .call(
            &evidence.replace("/console/", "/v1/"),
            &token("analyst-1"),
            Some(json!({"kind": "metadata_finding",
            "summary": "calls per day", "figures": {"transcript": 12}, "method": "billing export"})),
        )
        .await;
    assert_eq!(api_status, StatusCode::UNPROCESSABLE_ENTITY);
    let message = api_body["error"]["message"].as_str().unwrap();
    assert!(body.contains(&message.replace('"', "&quot;")), "the same sentence as the API: {message}");

    let sha = "a".repeat(64);
    let document = [
        ("_csrf", analyst.csrf.as_str()),
        ("kind", "external_document"),
        ("address", "https://news.example/report"),
        ("sha256", sha.as_str()),
        ("summary", PAYLOAD),
    ];
    let (status, _, _) = post_form(&base, &evidence, &analyst.session, &document).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (_, shown) = page(&base, &format!("/console/cases/{id}"), &analyst.session).await;
    assert!(shown.contains("https://news.example/report") && shown.contains(&sha), "{shown}");
    assert_escaped(&shown);
    let (_, queue) = page(&base, "/console/cases?status=open", &analyst.session).await;
    assert!(queue.contains("Bulk voice intercepts"), "{queue}");
    let (_, queue) = page(&base, "/console/cases?status=closed", &analyst.session).await;
    assert!(queue.contains("No case matches these filters"), "{queue}");

    // An auditor reads the case but is offered no form, and a forged one is refused.
    let auditor = sign_in(&base, &token("auditor-1")).await.unwrap();
    let (status, seen) = page(&base, &format!("/console/cases/{id}"), &auditor.session).await;
    assert_eq!(status, StatusCode::OK);
    assert!(!seen.contains("Add evidence") && !seen.contains("Add comment"), "{seen}");
    let comments = format!("/console/cases/{id}/comments");
    let forged = [("_csrf", auditor.csrf.as_str()), ("text", "looks fine")];
    let (status, _, body) = post_form(&base, &comments, &auditor.session, &forged).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(body.contains("comment on a case takes the analyst or approver or reviewer or admin role"), "{body}");
    // Without the session's CSRF token, even the analyst's comment is refused.
    let (status, _, _) = post_form(&base, &comments, &analyst.session, &[("text", "no token")]).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (_, after) = page(&base, &format!("/console/cases/{id}"), &analyst.session).await;
    assert!(!after.contains("looks fine") && !after.contains("no token"), "nothing was added");
}

/// The hidden value of field `name` in a page.

#[tokio::test]
async fn approvers_approve_exactly_the_preview_on_screen_and_never_their_own_proposal() {
    let (base, _dir, core) = server().await;
    let mut tokens = std::collections::HashMap::new();
    for (name, role) in [("analyst-1", Role::Analyst), ("approver-a", Role::Approver), ("approver-b", Role::Approver)] {
        tokens.insert(name, add_user(&core, name, role).await);
    }
    let principal =
        |name: &str, role: Role| Principal { name: name.into(), roles: vec![role], tenant: None, scope: None };
    let sub = |id: &str| {
        serde_json::from_value(json!({"id": id, "tenant": "ministry-of-defense", "unit": "intelligence",
            "services": ["storage.blob", "ai.speech-to-text"]}))
        .unwrap()
    };
    core.create_subscription(&Actor::admin(), sub("sig-archive-nl")).await.unwrap();
    let case = serde_json::from_value(json!({"tenant": "ministry-of-defense", "source_type": "third_party_report",
        "title": "Bulk voice intercepts", "units": ["intelligence"], "clauses": ["AUP-2"]}))
    .unwrap();
    let case = core.open_case(&principal("analyst-1", Role::Analyst), case).await.unwrap();
    let now = verdict_model::Timestamp::now();
    let spec = |title: &str| {
        serde_json::from_value(json!({"tenant": "ministry-of-defense", "clause": "AUP-2", "title": title,
            "case_id": case.id, "scope": {"units": ["intelligence"]}, "services": ["storage.*", "ai.*"],
            "phases": [{"mode": "notice", "start": now}, {"mode": "export_only", "start": now.plus(86_400)}]}))
        .unwrap()
    };
    let order =
        core.propose_order(&principal("analyst-1", Role::Analyst), spec("Suspend storage and AI")).await.unwrap();
    let own = core.propose_order(&principal("approver-b", Role::Approver), spec("Approver-b's own")).await.unwrap();

    let a = sign_in(&base, &tokens["approver-a"]).await.unwrap();
    let (status, queue) = page(&base, "/console/approvals", &a.session).await;
    assert_eq!(status, StatusCode::OK);
    assert!(queue.contains(&order.id) && queue.contains("0 of 2"), "{queue}");
    let path = format!("/console/orders/{}", order.id);
    let (_, shown) = page(&base, &path, &a.session).await;
    assert!(shown.contains("Blast radius") && shown.contains("sig-archive-nl"), "{shown}");
    let on_screen = hidden(&shown, "preview_hash");
    assert_eq!(on_screen, core.preview_order(&order.id).await.unwrap().hash, "the hash of the preview shown");

    // The inventory moves after the page was drawn: the approval is refused
    // and the page shows the new preview.
    core.create_subscription(&Actor::admin(), sub("sig-ai")).await.unwrap();
    let approve = format!("{path}/approve");
    let stale = [("_csrf", a.csrf.as_str()), ("preview_hash", on_screen.as_str())];
    let (status, _, body) = post_form(&base, &approve, &a.session, &stale).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(body.contains("id=\"approve-error\"") && body.contains("preview-stale"), "{body}");
    let fresh = hidden(&body, "preview_hash");
    assert_ne!(fresh, on_screen);
    let (status, location, _) =
        post_form(&base, &approve, &a.session, &[("_csrf", a.csrf.as_str()), ("preview_hash", fresh.as_str())]).await;
    assert_eq!((status, location.as_str()), (StatusCode::SEE_OTHER, path.as_str()));
    let (_, after) = page(&base, &path, &a.session).await;
    assert!(after.contains("1 of 2 required") && after.contains("approver-a"), "{after}");

    // Approver-b may not approve their own proposal; the refusal is beside the button.
    let b = sign_in(&base, &tokens["approver-b"]).await.unwrap();
    let own_path = format!("/console/orders/{}", own.id);
    let (_, own_page) = page(&base, &own_path, &b.session).await;
    let own_hash = hidden(&own_page, "preview_hash");
    let mine = [("_csrf", b.csrf.as_str()), ("preview_hash", own_hash.as_str())];
    let (status, _, body) = post_form(&base, &format!("{own_path}/approve"), &b.session, &mine).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(body.contains("self-approval") && body.contains("id=\"approve-error\""), "{body}");

    // An analyst is shown no Approve button, and a forged approval is refused.
    let analyst = sign_in(&base, &tokens["analyst-1"]).await.unwrap();
    let (_, seen) = page(&base, &path, &analyst.session).await;
    assert!(seen.contains("Blast radius") && !seen.contains("name=\"preview_hash\""), "{seen}");
    let forged = [("_csrf", analyst.csrf.as_str()), ("preview_hash", fresh.as_str())];
    let (status, _, body) = post_form(&base, &approve, &analyst.session, &forged).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(body.contains("approve an order takes the approver role"), "{body}");

    // The second approver completes it.
    let (_, shown) = page(&base, &path, &b.session).await;
    let hash = hidden(&shown, "preview_hash");
    let (status, _, _) =
        post_form(&base, &approve, &b.session, &[("_csrf", b.csrf.as_str()), ("preview_hash", hash.as_str())]).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let stored = core.order(&order.id).await.unwrap().unwrap();
    assert_eq!(stored.lifecycle.approvals.len(), 2);
    let (_, done) = page(&base, &path, &b.session).await;
    assert!(done.contains("status-in_force") && !done.contains("name=\"preview_hash\""), "{done}");
}
