//! The console and the public pages in real headless Chromium: following
//! the public pages by their links, signing in and out with the keyboard
//! alone, markup from the store that never runs, and no accessibility
//! violation (axe-core, WCAG 2 A and AA) on any of them.

mod common;

use serde_json::json;
use verdict_browser::{Browser, ENTER, TAB};
use verdict_control::Principal;
use verdict_model::Role;

#[tokio::test]
async fn the_public_pages_link_together_and_keep_markup_inert() {
    let Some(browser) = Browser::start().await else { return };
    let server = common::server().await;
    let admin = Principal { name: "admin".into(), roles: vec![Role::Admin], tenant: None, scope: None };
    let payload = "<script>window.__xss=1</script><img src=x onerror=\"window.__xss=2\">";
    let clause = serde_json::from_value(json!({"id": "AUP-2", "title": payload, "text": payload})).unwrap();
    server.core.publish_clause(&admin, clause).await.unwrap();

    browser.goto(&format!("{}/transparency", server.base)).await;
    assert_eq!(browser.title().await, "Transparency report · verdict");
    assert_eq!(common::accessibility_violations(&browser).await, Vec::<String>::new(), "the report");

    browser.find("header nav a[href='/transparency/log']").await.click().await;
    assert!(browser.url().await.ends_with("/transparency/log"));
    let first = browser.find("table.entries tbody tr td a").await;
    assert_eq!(first.text().await, "1", "newest first");
    assert_eq!(common::accessibility_violations(&browser).await, Vec::<String>::new(), "the log");

    first.click().await;
    assert_eq!(browser.title().await, "Log entry 1 · verdict");
    let shown = browser.find("pre.entry code").await.text().await;
    assert!(shown.contains("<script>window.__xss=1</script><img src=x"), "the payload is shown as text: {shown}");
    let ran = browser
        .execute(
            "return [window.__xss === undefined, document.querySelectorAll('main script, main img').length]",
            vec![],
        )
        .await;
    assert_eq!(ran, json!([true, 0]), "nothing from the store ran or became an element");
    assert_eq!(common::accessibility_violations(&browser).await, Vec::<String>::new(), "an entry");
    // The check itself finds what it should: an unlabelled field.
    browser.execute("document.querySelector('main').append(document.createElement('input'))", vec![]).await;
    let found = common::accessibility_violations(&browser).await;
    assert!(found.iter().any(|v| v.starts_with("label:")), "{found:?}");
}

#[tokio::test]
async fn a_person_signs_in_and_out_with_the_keyboard_alone() {
    let Some(browser) = Browser::start().await else { return };
    let server = common::server().await;
    let token = common::user(&server.core, "analyst-1", Role::Analyst).await;

    browser.goto(&format!("{}/console", server.base)).await;
    assert!(browser.url().await.contains("/console/sign-in?next=/console"), "sent to sign in");
    assert_eq!(common::accessibility_violations(&browser).await, Vec::<String>::new(), "sign-in");
    // The token field has the focus; a wrong token is refused beside it.
    browser.focused().await.type_text(&format!("not-a-token{ENTER}")).await;
    browser.wait_for("the refusal", "return document.getElementById('token-error') !== null").await;
    let error = browser.find("#token-error").await.text().await;
    assert!(error.contains("not one this server issued"), "{error}");
    assert_eq!(browser.find("#token").await.attribute("aria-describedby").await.as_deref(), Some("token-error"));
    assert_eq!(common::accessibility_violations(&browser).await, Vec::<String>::new(), "sign-in with an error");

    browser.focused().await.type_text(&format!("{token}{ENTER}")).await;
    browser.wait_for("signed in", "return location.pathname === '/console'").await;
    let lead = browser.find("main .lead").await.text().await;
    assert!(lead.contains("analyst-1"), "{lead}");
    assert!(browser.find("ul.duties").await.text().await.contains("Open cases"));
    let cookie = browser.execute("return document.cookie", vec![]).await;
    assert_eq!(cookie, json!(""), "the session cookie is HttpOnly: no script reads it");
    assert_eq!(common::accessibility_violations(&browser).await, Vec::<String>::new(), "home");

    // The first Tab reaches the skip link; the sign-out button by keyboard.
    browser.execute("document.activeElement.blur()", vec![]).await;
    browser.find("body").await.type_text(TAB).await;
    assert_eq!(browser.focused().await.text().await, "Skip to content");
    browser.find("form.who button").await.type_text(ENTER).await;
    browser.wait_for("signed out", "return location.pathname === '/console/sign-in'").await;
    browser.goto(&format!("{}/console", server.base)).await;
    assert!(browser.url().await.contains("/console/sign-in"), "the session is over");
}
