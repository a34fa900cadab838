//! The design's §1 story, played in real headless Chromium by clicking:
//! an analyst opens the case, adds evidence and drafts the order, watching
//! its blast radius and guards redrawn as the draft changes; the proposer
//! cannot approve it; two approvers do; the tenant's legal team reads the
//! notice, keeps its receipt and appeals; a reviewer upholds; and the
//! public log page verifies the notice's entry in the browser.

mod common;

use serde_json::json;
use verdict_browser::{Browser, ENTER};
use verdict_control::{Actor, Core};
use verdict_model::{Role, User};

async fn person(core: &Core, name: &str, roles: Vec<Role>, tenant: Option<&str>) -> String {
    let user = User {
        name: name.into(),
        roles,
        tenant: tenant.map(str::to_owned),
        scope: None,
        created_at: Default::default(),
        revoked_at: None,
    };
    core.add_user(&Actor::admin(), user).await.unwrap().1
}

/// The tenant of the story, as the design describes it.
async fn ministry(core: &Core) {
    let inventory = serde_json::from_value(json!({
        "units": [
            {"tenant": "ministry-of-defense", "path": "intelligence/signals"},
            {"tenant": "ministry-of-defense", "path": "cyber-defense"},
            {"tenant": "ministry-of-defense", "path": "logistics"}],
        "subscriptions": [
            {"id": "sig-archive-nl", "tenant": "ministry-of-defense", "unit": "intelligence/signals",
             "services": ["storage.blob", "storage.files"], "region": "westeurope"},
            {"id": "sig-ai", "tenant": "ministry-of-defense", "unit": "intelligence/signals",
             "services": ["ai.speech-to-text", "ai.translation"], "region": "westeurope"},
            {"id": "cyber-ops", "tenant": "ministry-of-defense", "unit": "cyber-defense",
             "services": ["security.defender", "security.sentinel", "storage.blob"], "region": "westeurope"},
            {"id": "log-erp", "tenant": "ministry-of-defense", "unit": "logistics",
             "services": ["compute.vm", "storage.blob"], "region": "westeurope"}],
    }))
    .unwrap();
    core.import(&Actor::admin(), inventory, &|_| ()).await.unwrap();
    let guard = serde_json::from_value(json!({"id": "defense-ops",
        "description": "Cyber-defense operations keep their storage", "subscription": "cyber-ops",
        "services": ["storage.*"]}))
    .unwrap();
    core.put_guard(&verdict_control::Principal::admin(), guard).await.unwrap();
}

async fn sign_in(browser: &Browser, base: &str, token: &str) {
    browser.goto(&format!("{base}/console/sign-in")).await;
    browser.find("#token").await.type_text(&format!("{token}{ENTER}")).await;
    browser.wait_for("signed in", "return location.pathname === '/console'").await;
}

async fn sign_out(browser: &Browser) {
    browser.find("form.who button").await.click().await;
    browser.wait_for("signed out", "return location.pathname === '/console/sign-in'").await;
}

/// Waits until the preview panel was redrawn after the latest change and
/// holds `text`; returns the panel's text.
async fn panel_with(browser: &Browser, what: &str, text: &str) -> String {
    let script = format!(
        "const p = document.getElementById('preview-panel'); \
         return p !== null && !p.hasAttribute('aria-busy') && p.innerText.includes({text:?});"
    );
    browser.wait_for(what, &script).await;
    browser.find("#preview-panel").await.text().await
}

#[tokio::test]
async fn the_design_story_is_played_by_clicking() {
    let Some(browser) = Browser::start().await else { return };
    let server = common::server().await;
    let core = &server.core;
    let base = &server.base;
    common::publish_terms(core).await;
    ministry(core).await;
    // A senior analyst who may also approve: the rule that no one approves
    // their own proposal is what stops them.
    let senior = person(core, "analyst-1", vec![Role::Analyst, Role::Approver], None).await;
    let approver_a = person(core, "approver-a", vec![Role::Approver], None).await;
    let approver_b = person(core, "approver-b", vec![Role::Approver], None).await;
    let reviewer = person(core, "reviewer", vec![Role::Reviewer], None).await;
    let legal = person(core, "mod-legal", vec![Role::Tenant], Some("ministry-of-defense")).await;

    // 1. The case, from a press report, and its evidence.
    sign_in(&browser, base, &senior).await;
    browser.goto(&format!("{base}/console/cases/new")).await;
    browser.find("#nc-title").await.type_text("Signals unit stores intercepted calls").await;
    browser.find("#nc-tenant").await.type_text("ministry-of-defense").await;
    browser.find("#nc-units").await.type_text("intelligence/signals").await;
    browser.find("#nc-clauses").await.type_text("AUP-2").await;
    browser.find("form.card button[type=submit]").await.click().await;
    browser.wait_for("the case", "return /^\\/console\\/cases\\/case-/.test(location.pathname)").await;
    let case = browser.url().await.rsplit('/').next().unwrap().to_owned();
    browser.find("#ev-address").await.type_text("https://news.example/2025/09/signals-archive").await;
    browser.find("#ev-sha256").await.type_text(&"ab".repeat(32)).await;
    browser.find("#ev-summary").await.type_text("Report: the unit archives intercepted calls of civilians.").await;
    browser.find("form.wide button[type=submit]").await.click().await;
    browser.wait_for("the evidence", "return document.querySelectorAll('article.evidence').length === 1").await;

    // 2. The draft: the case's unit is ticked; ticking services redraws
    // the blast radius in place, without leaving the page.
    browser.find(&format!("a[href='/console/cases/{case}/draft']")).await.click().await;
    browser.wait_for("the draft page", "return document.querySelector('form[data-live=on]') !== null").await;
    browser.execute("window.__samePage = true", vec![]).await;
    let signals = browser.find("input[name=unit][value='intelligence/signals']").await;
    assert_eq!(signals.attribute("checked").await.as_deref(), Some("true"), "the case's unit is in scope");
    assert!(browser.find("#preview-panel").await.text().await.contains("Choose the services"));
    browser.find("input[name=service][value='storage.*']").await.click().await;
    browser.find("input[name=service][value='ai.*']").await.click().await;
    browser.find("input[name=exempt][value='security.*']").await.click().await;
    let panel = panel_with(&browser, "the preview of storage and ai", "sig-ai").await;
    assert!(
        panel.contains("sig-archive-nl") && panel.contains("2 of the tenant's subscriptions are restricted"),
        "{panel}"
    );
    assert!(panel.contains("2 are untouched") && panel.contains("breaks no guard"), "{panel}");
    // Widening the scope to cyber-defense cuts storage a guard protects:
    // the panel says so; narrowing it again clears it.
    browser.find("input[name=unit][value='cyber-defense']").await.click().await;
    let panel = panel_with(&browser, "the guard", "defense-ops").await;
    assert!(panel.contains("cyber-ops") && panel.contains("3 of the tenant's subscriptions"), "{panel}");
    browser.find("input[name=unit][value='cyber-defense']").await.click().await;
    panel_with(&browser, "the guard cleared", "breaks no guard").await;
    // A timeline that cannot be is refused beside its field.
    browser.find("#draft-disabled_days").await.type_text("x").await;
    let panel = panel_with(&browser, "the refusal", "invalid-days").await;
    assert!(panel.contains("\"9x\" is not a number of days"), "{panel}");
    browser.execute("document.getElementById('draft-disabled_days').value = ''", vec![]).await;
    browser.find("#draft-disabled_days").await.type_text("9").await;
    panel_with(&browser, "the preview again", "sig-archive-nl").await;
    assert_eq!(browser.execute("return window.__samePage === true", vec![]).await, json!(true), "redrawn in place");
    assert_eq!(common::accessibility_violations(&browser).await, Vec::<String>::new(), "the draft page");
    browser.execute("window.scrollTo(0, 0)", vec![]).await;
    browser.screenshot_as("draft").await;
    browser.find("form.draft .actions button:not(.secondary)").await.click().await;
    browser.wait_for("the proposed order", "return location.pathname.startsWith('/console/orders/')").await;
    let order = browser.url().await.rsplit('/').next().unwrap().to_owned();
    let proposed = core.order(&order).await.unwrap().unwrap();
    assert_eq!(proposed.spec.phases.len(), 3);
    assert_eq!(proposed.spec.case_id.as_deref(), Some(case.as_str()));

    // 3. Its proposer may approve orders, but not this one.
    browser.find("section.decide form button[type=submit]").await.click().await;
    browser.wait_for("the refusal", "return document.getElementById('approve-error') !== null").await;
    assert!(browser.find("#approve-error").await.text().await.contains("self-approval"));
    sign_out(&browser).await;

    // 4. Two approvers approve exactly what is on screen.
    for (token, count) in [(&approver_a, "1 of 2 required"), (&approver_b, "2 of 2 required")] {
        sign_in(&browser, base, token).await;
        browser.find("header nav a[href='/console/approvals']").await.click().await;
        browser.find(&format!("a[href='/console/orders/{order}']")).await.click().await;
        browser.find("section.decide form button[type=submit]").await.click().await;
        browser.wait_for("the approval", &format!("return document.body.innerText.includes({count:?})")).await;
        sign_out(&browser).await;
    }

    // 5. The tenant's legal team reads the notice, keeps the receipt, appeals.
    let notice = core.notices(Some("ministry-of-defense")).await.unwrap().pop().expect("the notice");
    sign_in(&browser, base, &legal).await;
    browser.find("header nav a[href='/console/notices']").await.click().await;
    browser.find(&format!("a[href='/console/notices/{}']", notice.id)).await.click().await;
    let what = browser.find("section[aria-labelledby=what]").await.text().await;
    assert!(what.contains("storage.*") && what.contains("ai.*"), "{what}");
    common::downloaded_receipt_verifies(&browser, core).await;
    browser.find("#appeal-statement").await.type_text("The archive serves lawful border security work.").await;
    browser.find("section[aria-labelledby=appeal] button[type=submit]").await.click().await;
    browser.wait_for("the appeal", "return location.pathname.startsWith('/console/appeals/')").await;
    let appeal = browser.url().await.rsplit('/').next().unwrap().to_owned();
    sign_out(&browser).await;

    // 6. A reviewer who took no part upholds it.
    sign_in(&browser, base, &reviewer).await;
    browser.find("header nav a[href='/console/appeals']").await.click().await;
    browser.find(&format!("a[href='/console/appeals/{appeal}']")).await.click().await;
    browser.find("#decide-reasons").await.type_text("The order is proportionate to the evidence.").await;
    browser.find("form.wide button[type=submit]").await.click().await;
    browser.wait_for("the decision", "return document.body.innerText.includes('Decided')").await;
    assert_eq!(core.appeal(&appeal).await.unwrap().decision.unwrap().outcome, verdict_model::AppealOutcome::Uphold);
    sign_out(&browser).await;

    // 7. Anyone verifies the notice's entry in the browser.
    let index = notice.log_index.expect("the notice is logged");
    browser.goto(&format!("{base}/transparency/log/{index}")).await;
    browser.wait_for("the check", "return document.querySelector('[data-verified]') !== null").await;
    let checks = browser.find("ol.checks").await.text().await;
    let verified = browser.find("[data-verify-index]").await.attribute("data-verified").await;
    assert_eq!(verified.as_deref(), Some("yes"), "{checks}");
    assert!(checks.contains("signed by verdict.test/log"), "{checks}");
    assert_eq!(common::accessibility_violations(&browser).await, Vec::<String>::new(), "the verified entry");
    browser.screenshot_as("entry-verified").await;
}

#[tokio::test]
async fn a_tampered_proof_fails_in_the_browser() {
    let Some(browser) = Browser::start().await else { return };
    let server = common::server().await;
    common::publish_terms(&server.core).await;
    // The newest entry: the clause, published.
    let newest = server.core.checkpoint().checkpoint.size - 1;
    browser.goto(&format!("{}/transparency/log/{newest}", server.base)).await;
    browser.wait_for("the check", "return document.querySelector('[data-verified]') !== null").await;
    let checks = browser.execute("return document.querySelector('[data-verify-index]').outerHTML", vec![]).await;
    assert_eq!(
        browser.find("[data-verify-index]").await.attribute("data-verified").await.as_deref(),
        Some("yes"),
        "{checks}"
    );
    // The entry shown is changed by one character: the check says no.
    browser
        .execute(
            "const c = document.getElementById('entry-bytes'); c.textContent = c.textContent.replace('AUP-2', 'AUP-3'); \
             document.querySelector('button.verify').click();",
            vec![],
        )
        .await;
    browser.wait_for("the new check", "return document.querySelector('[data-verified]') !== null").await;
    assert_eq!(browser.find("[data-verify-index]").await.attribute("data-verified").await.as_deref(), Some("no"));
    assert!(browser.find("ol.checks").await.text().await.contains("differs from the one the receipt proves"));
}
