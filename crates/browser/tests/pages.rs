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
    let admin = Principal::admin();
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
    browser.screenshot_as("sign-in").await;
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

/// Signs in through the form, typing the token and pressing Enter.
async fn sign_in(browser: &Browser, base: &str, token: &str) {
    browser.goto(&format!("{base}/console/sign-in")).await;
    browser.find("#token").await.type_text(&format!("{token}{ENTER}")).await;
    browser.wait_for("signed in", "return location.pathname === '/console'").await;
}

async fn fill(browser: &Browser, css: &str, text: &str) {
    browser.find(css).await.type_text(text).await;
}

#[tokio::test]
async fn an_analyst_opens_a_case_and_adds_evidence_by_clicking() {
    let Some(browser) = Browser::start().await else { return };
    let server = common::server().await;
    common::publish_terms(&server.core).await;
    let token = common::user(&server.core, "analyst-1", Role::Analyst).await;
    sign_in(&browser, &server.base, &token).await;

    browser.find("header nav a[href='/console/cases']").await.click().await;
    assert!(browser.find("main p.empty").await.text().await.contains("No cases yet"));
    browser.find("a[href='/console/cases/new']").await.click().await;
    assert_eq!(common::accessibility_violations(&browser).await, Vec::<String>::new(), "the new-case form");
    fill(&browser, "#nc-title", "Bulk voice intercepts <b>stored</b>").await;
    fill(&browser, "#nc-tenant", "ministry-of-defense").await;
    fill(&browser, "#nc-units", "intelligence").await;
    fill(&browser, "#nc-clauses", "AUP-2").await;
    browser.find("form.card button[type=submit]").await.click().await;
    browser.wait_for("the case page", "return /^\\/console\\/cases\\/case-/.test(location.pathname)").await;
    assert_eq!(browser.find("main h1").await.text().await, "Bulk voice intercepts <b>stored</b>");

    // Outside evidence by address and hash; its summary stays text.
    let payload = "<img src=x onerror=\"window.__xss=1\">";
    fill(&browser, "#ev-address", "https://news.example/report").await;
    fill(&browser, "#ev-sha256", &"b".repeat(64)).await;
    fill(&browser, "#ev-summary", payload).await;
    browser.find("form.wide button[type=submit]").await.click().await;
    browser.wait_for("the evidence", "return document.querySelectorAll('article.evidence').length === 1").await;
    let shown = browser.find("article.evidence").await.text().await;
    assert!(shown.contains("https://news.example/report") && shown.contains(payload), "{shown}");
    assert_eq!(browser.execute("return window.__xss === undefined", vec![]).await, json!(true));
    assert_eq!(common::accessibility_violations(&browser).await, Vec::<String>::new(), "the case page");
    browser.screenshot_as("case").await;

    // A figure named like content is refused beside the form, as the API refuses it.
    browser.find("input[name=kind][value=metadata_finding]").await.click().await;
    fill(&browser, "#ev-summary", "hours transcribed per day").await;
    fill(&browser, "#ev-figure-0", "transcript").await;
    fill(&browser, "#ev-value-0", "12").await;
    fill(&browser, "#ev-method", "billing export, November").await;
    browser.find("form.wide button[type=submit]").await.click().await;
    browser.wait_for("the refusal", "return document.getElementById('evidence-error') !== null").await;
    let refusal = browser.find("#evidence-error").await.text().await;
    assert!(refusal.contains("customer-content-refused"), "{refusal}");
    assert_eq!(browser.find_all("article.evidence").await.len(), 1, "nothing was added");
}

#[tokio::test]
async fn two_approvers_approve_by_clicking_and_a_proposer_cannot_approve() {
    let Some(browser) = Browser::start().await else { return };
    let server = common::server().await;
    let core = &server.core;
    common::publish_terms(&server.core).await;
    let sub = serde_json::from_value(json!({"id": "sig-archive-nl", "tenant": "ministry-of-defense",
        "unit": "intelligence", "services": ["storage.blob"]}))
    .unwrap();
    core.create_subscription(&verdict_control::Actor::admin(), sub).await.unwrap();
    let a = common::user(core, "approver-a", Role::Approver).await;
    let b = common::user(core, "approver-b", Role::Approver).await;
    let proposer = Principal { name: "approver-a".into(), roles: vec![Role::Approver], tenant: None, scope: None };
    let case = serde_json::from_value(json!({"tenant": "ministry-of-defense", "source_type": "third_party_report",
        "title": "Bulk voice intercepts", "units": ["intelligence"], "clauses": ["AUP-2"]}))
    .unwrap();
    let analyst = Principal { name: "analyst".into(), roles: vec![Role::Analyst], tenant: None, scope: None };
    let case = core.open_case(&analyst, case).await.unwrap();
    let now = verdict_model::Timestamp::now();
    let spec = serde_json::from_value(json!({"tenant": "ministry-of-defense", "clause": "AUP-2",
        "title": "Suspend storage", "case_id": case.id, "scope": {"units": ["intelligence"]},
        "services": ["storage.*"], "phases": [{"mode": "notice", "start": now}]}))
    .unwrap();
    let order = core.propose_order(&proposer, spec).await.unwrap();

    // The proposer opens it from the queue and is refused beside the button.
    sign_in(&browser, &server.base, &a).await;
    browser.find("header nav a[href='/console/approvals']").await.click().await;
    browser.find(&format!("a[href='/console/orders/{}']", order.id)).await.click().await;
    assert!(browser.find("#preview").await.text().await.contains("Blast radius"));
    assert_eq!(common::accessibility_violations(&browser).await, Vec::<String>::new(), "the order page");
    browser.screenshot_as("order").await;
    browser.find("section.decide form button[type=submit]").await.click().await;
    browser.wait_for("the refusal", "return document.getElementById('approve-error') !== null").await;
    assert!(browser.find("#approve-error").await.text().await.contains("self-approval"));
    browser.find("form.who button").await.click().await;
    browser.wait_for("signed out", "return location.pathname === '/console/sign-in'").await;

    // Approver-b approves exactly what is on screen; one more is needed.
    sign_in(&browser, &server.base, &b).await;
    browser.goto(&format!("{}/console/orders/{}", server.base, order.id)).await;
    let on_screen = browser.find("input[name=preview_hash]").await.attribute("value").await.unwrap();
    browser.find("section.decide form button[type=submit]").await.click().await;
    browser.wait_for("the approval", "return document.body.innerText.includes('1 of 2 required')").await;
    let stored = core.order(&order.id).await.unwrap().unwrap();
    assert_eq!(stored.lifecycle.approvals[0].preview_hash.as_deref(), Some(on_screen.as_str()));
}

/// A tenant whose order went through due process: a case, a proposal and
/// two approvals; returns the order and the restriction notice it issued.
async fn ordered(core: &verdict_control::Core, tenant: &str) -> (String, String) {
    let person = |name: &str, role: Role| Principal { name: name.into(), roles: vec![role], tenant: None, scope: None };
    let inventory = serde_json::from_value(json!({
        "tenants": [{"id": tenant, "kind": "government"}],
        "subscriptions": [{"id": format!("{tenant}-archive"), "tenant": tenant, "unit": "signals",
            "services": ["storage.blob"], "region": "westeurope"}],
    }))
    .unwrap();
    core.import(&verdict_control::Actor::admin(), inventory, &|_| ()).await.unwrap();
    let case = serde_json::from_value(json!({"tenant": tenant, "source_type": "third_party_report",
        "title": "Bulk voice intercepts", "units": ["signals"], "clauses": ["AUP-2"]}))
    .unwrap();
    let case = core.open_case(&person("analyst", Role::Analyst), case).await.unwrap();
    let now = verdict_model::Timestamp::now();
    let spec = serde_json::from_value(json!({"tenant": tenant, "clause": "AUP-2", "title": "Suspend storage",
        "case_id": case.id, "scope": {"units": ["signals"]}, "services": ["storage.*"],
        "phases": [{"mode": "notice", "start": now}, {"mode": "export_only", "start": now.plus(86_400)}]}))
    .unwrap();
    let order = core.propose_order(&person("analyst", Role::Analyst), spec).await.unwrap();
    for approver in ["approver-a", "approver-b"] {
        let hash = core.preview_order(&order.id).await.unwrap().hash;
        core.approve_order(&person(approver, Role::Approver), &order.id, Some(&hash), &[]).await.unwrap();
    }
    let notice = core.notices(Some(tenant)).await.unwrap().pop().unwrap();
    (order.id, notice.id)
}

#[tokio::test]
async fn a_tenant_reads_its_notice_keeps_the_receipt_and_appeals_and_a_reviewer_upholds() {
    let Some(browser) = Browser::start().await else { return };
    let server = common::server().await;
    let core = &server.core;
    common::publish_terms(&server.core).await;
    let (order, notice) = ordered(core, "mod").await;
    let (_, other) = ordered(core, "northwind").await;
    let legal = verdict_model::User {
        name: "mod-legal".into(),
        roles: vec![Role::Tenant],
        tenant: Some("mod".into()),
        scope: None,
        created_at: Default::default(),
        revoked_at: None,
    };
    let legal = core.add_user(&verdict_control::Actor::admin(), legal).await.unwrap().1;
    let reviewer = common::user(core, "reviewer", Role::Reviewer).await;

    sign_in(&browser, &server.base, &legal).await;
    browser.find("header nav a[href='/console/notices']").await.click().await;
    // Its order on its timeline: the notice phase is the one in force.
    let orders = browser.find("section[aria-labelledby=your-orders]").await.text().await;
    assert!(orders.contains(&order) && orders.contains("(now)"), "{orders}");
    assert!(browser.find("li.phase-step.current").await.text().await.contains("notice"));
    // Its private log records, each checked in the page against the public
    // entry's commitment; one changed on screen no longer matches.
    browser.find("a[href='/console/records']").await.click().await;
    browser.wait_for("the checks", "return [...document.querySelectorAll('[data-commitment-check]')].every(a => a.hasAttribute('data-committed'))").await;
    let committed = browser
        .execute("return [...document.querySelectorAll('[data-commitment-check]')].map(a => a.getAttribute('data-committed'))", vec![])
        .await;
    let committed: Vec<String> = serde_json::from_value(committed).unwrap();
    assert!(committed.len() >= 3 && committed.iter().all(|c| c == "yes"), "{committed:?}");
    assert!(!browser.find("main").await.text().await.contains("northwind"), "only its own records");
    assert_eq!(common::accessibility_violations(&browser).await, Vec::<String>::new(), "the records");
    browser
        .execute(
            "const a = document.querySelector('[data-commitment-check]'); const r = a.querySelector('[data-part=record]'); \
             r.textContent = r.textContent.replace('mod', 'xyz'); a.dispatchEvent(new Event('verdict:check'));",
            vec![],
        )
        .await;
    browser
        .wait_for(
            "the new check",
            "return document.querySelector('[data-commitment-check]').getAttribute('data-committed') === 'no'",
        )
        .await;
    browser.find("header nav a[href='/console/notices']").await.click().await;
    browser.find(&format!("a[href='/console/notices/{notice}']")).await.click().await;
    let what = browser.find("section[aria-labelledby=what]").await.text().await;
    assert!(what.contains("storage.*") && what.contains("Nothing else of yours is affected"), "{what}");
    assert!(browser.find("blockquote.ground").await.text().await.contains("No mass surveillance of civilians"));
    assert_eq!(common::accessibility_violations(&browser).await, Vec::<String>::new(), "the notice");
    browser.screenshot_as("notice").await;

    // The receipt the page offers proves the notice's entry, checked here.
    common::downloaded_receipt_verifies(&browser, core).await;

    // Another tenant's notice is not there, whatever the address says.
    browser.goto(&format!("{}/console/notices/{other}", server.base)).await;
    assert_eq!(browser.find("main h1").await.text().await, "Not found");

    // The appeal, filed from the notice.
    browser.goto(&format!("{}/console/notices/{notice}", server.base)).await;
    // Markup in the statement stays text wherever the statement is shown.
    let statement = "<script>window.__xss=3</script>The archive serves lawful border security work.";
    browser.find("#appeal-statement").await.type_text(statement).await;
    browser.find("section[aria-labelledby=appeal] button[type=submit]").await.click().await;
    browser.wait_for("the appeal", "return location.pathname.startsWith('/console/appeals/')").await;
    let appeal = browser.url().await.rsplit('/').next().unwrap().to_owned();
    browser.find("form.who button").await.click().await;
    browser.wait_for("signed out", "return location.pathname === '/console/sign-in'").await;

    // The reviewer reads it beside the order and upholds it.
    sign_in(&browser, &server.base, &reviewer).await;
    browser.find("header nav a[href='/console/appeals']").await.click().await;
    browser.find(&format!("a[href='/console/appeals/{appeal}']")).await.click().await;
    assert!(browser.find("section[aria-labelledby=statement]").await.text().await.contains(statement));
    assert_eq!(browser.execute("return window.__xss === undefined", vec![]).await, json!(true), "nothing ran");
    assert_eq!(common::accessibility_violations(&browser).await, Vec::<String>::new(), "the appeal");
    browser.screenshot_as("appeal").await;
    browser.find("#decide-reasons").await.type_text("The order is proportionate to the evidence.").await;
    browser.find("form.wide button[type=submit]").await.click().await;
    browser.wait_for("the decision", "return document.body.innerText.includes('Decided')").await;
    let decided = core.appeal(&appeal).await.unwrap();
    assert_eq!(decided.decision.unwrap().outcome, verdict_model::AppealOutcome::Uphold);
    assert_eq!(decided.order, order);
}

#[tokio::test]
async fn an_analyst_session_cannot_approve_by_forging_the_form_nor_post_without_its_token() {
    let Some(browser) = Browser::start().await else { return };
    let server = common::server().await;
    let core = &server.core;
    common::publish_terms(core).await;
    let (order, _) = ordered_proposal(core).await;
    let analyst = common::user(core, "analyst-2", Role::Analyst).await;
    let hash = core.preview_order(&order).await.unwrap().hash;
    sign_in(&browser, &server.base, &analyst).await;
    browser.goto(&format!("{}/console/orders/{order}", server.base)).await;
    assert!(browser.find_all("section.decide").await.is_empty(), "no Approve for an analyst");

    // The form an approver would have, built by hand in the analyst's page
    // with the session's own CSRF token: the server still says no.
    let forge = "const [action, hash, csrf] = arguments; const f = document.createElement('form'); \
                 f.method = 'post'; f.action = action; \
                 for (const [k, v] of Object.entries({_csrf: csrf, preview_hash: hash})) { \
                   if (v === null) continue; const i = document.createElement('input'); i.type = 'hidden'; \
                   i.name = k; i.value = v; f.append(i); } \
                 document.body.append(f); f.submit();";
    let action = format!("/console/orders/{order}/approve");
    let csrf = browser.find("form.who input[name=_csrf]").await.attribute("value").await.unwrap();
    browser.execute(forge, vec![json!(action), json!(hash), json!(csrf)]).await;
    browser
        .wait_for("the refusal", "return document.querySelector('main h1') && document.title.startsWith('Refused')")
        .await;
    assert!(browser.find("main").await.text().await.contains("approve an order takes the approver role"));
    // Without the token, or with another session's, nothing is even read.
    browser.goto(&format!("{}/console/orders/{order}", server.base)).await;
    browser.execute(forge, vec![json!(action), json!(hash), serde_json::Value::Null]).await;
    browser.wait_for("the refusal", "return document.body.innerText.includes('security token does not match')").await;
    assert_eq!(core.order(&order).await.unwrap().unwrap().lifecycle.approvals.len(), 0, "nothing approved");
}

/// A proposed order over the default tenant; its id and its case's.
async fn ordered_proposal(core: &verdict_control::Core) -> (String, String) {
    let sub = serde_json::from_value(json!({"id": "sig-archive-nl", "tenant": "ministry-of-defense",
        "unit": "intelligence", "services": ["storage.blob"]}))
    .unwrap();
    core.create_subscription(&verdict_control::Actor::admin(), sub).await.unwrap();
    let analyst = Principal { name: "analyst".into(), roles: vec![Role::Analyst], tenant: None, scope: None };
    let case = serde_json::from_value(json!({"tenant": "ministry-of-defense", "source_type": "third_party_report",
        "title": "Bulk voice intercepts", "units": ["intelligence"], "clauses": ["AUP-2"]}))
    .unwrap();
    let case = core.open_case(&analyst, case).await.unwrap();
    let spec = serde_json::from_value(json!({"tenant": "ministry-of-defense", "clause": "AUP-2",
        "title": "Suspend storage", "case_id": case.id, "scope": {"units": ["intelligence"]},
        "services": ["storage.*"], "phases": [{"mode": "notice", "start": verdict_model::Timestamp::now()}]}))
    .unwrap();
    (core.propose_order(&analyst, spec).await.unwrap().id, case.id)
}

#[tokio::test]
async fn an_analyst_backtests_and_publishes_a_rule_and_two_approvers_activate_it_by_clicking() {
    let Some(browser) = Browser::start().await else { return };
    let server = common::server().await;
    let core = &server.core;
    common::publish_terms(core).await;
    let sub = serde_json::from_value(json!({"id": "sig-ai", "tenant": "ministry-of-defense",
        "unit": "intelligence", "services": ["ai.speech-to-text"]}))
    .unwrap();
    core.create_subscription(&verdict_control::Actor::admin(), sub).await.unwrap();
    let event = verdict_model::UsageEvent {
        tenant: "ministry-of-defense".into(),
        subscription: "sig-ai".into(),
        service: "ai.speech-to-text".into(),
        meter: "audio_seconds".into(),
        quantity: 5000.0,
        region: None,
        time: verdict_model::Timestamp::now().plus(-90 * 60),
        id: None,
    };
    core.ingest_usage(&[(1, event)]).await.unwrap();
    let analyst = common::user(core, "analyst-1", Role::Analyst).await;
    let a = common::user(core, "approver-a", Role::Approver).await;
    let b = common::user(core, "approver-b", Role::Approver).await;

    sign_in(&browser, &server.base, &analyst).await;
    browser.find("header nav a[href='/console/rules']").await.click().await;
    assert!(browser.find("main p.empty").await.text().await.contains("No rule is published"));
    assert_eq!(common::accessibility_violations(&browser).await, Vec::<String>::new(), "the rules list");
    browser.find("a[href='/console/rules/new']").await.click().await;
    fill(&browser, "#rule-id", "aup2-transcription-volume").await;
    fill(&browser, "#rule-title", "Transcription volume").await;
    browser.execute("document.getElementById('rule-days').value = '1'", vec![]).await;
    // A rule that reads what it may not is refused beside the form.
    fill(&browser, "#rule-text", "sum(\"ai.speech-to-text\", \"audio_seconds\", \"1h\") > 1000.0 && callers > 3").await;
    browser.find("button[formaction='/console/rules/new']").await.click().await;
    browser.wait_for("the refusal", "return document.getElementById('draft-error') !== null").await;
    let refusal = browser.find("#draft-error").await.text().await;
    assert!(refusal.contains("rule-unknown-name") && refusal.contains("callers"), "{refusal}");
    assert_eq!(common::accessibility_violations(&browser).await, Vec::<String>::new(), "the refused draft");

    // The backtest lists the unit it would have flagged, with its figures.
    browser
        .execute(
            "document.getElementById('rule-text').value = arguments[0]",
            vec![json!("sum(\"ai.speech-to-text\", \"audio_seconds\", \"1h\") > 1000.0")],
        )
        .await;
    browser.find("button[formaction='/console/rules/new']").await.click().await;
    browser.wait_for("the backtest", "return document.querySelector('section table.hits') !== null").await;
    let hits = browser.find("section table.hits").await.text().await;
    assert!(hits.contains("intelligence") && hits.contains("5000.00"), "{hits}");
    assert_eq!(common::accessibility_violations(&browser).await, Vec::<String>::new(), "the backtest");
    browser.screenshot_as("rule-draft").await;

    // Published in shadow, with its log entry; the author cannot activate it.
    browser.find("form.card.wide > div.actions > button:not([formaction])").await.click().await;
    browser
        .wait_for(
            "the version page",
            "return /^\\/console\\/rules\\/aup2-transcription-volume\\/1$/.test(location.pathname)",
        )
        .await;
    let facts = browser.find("dl.facts").await.text().await;
    assert!(facts.contains("shadow") && facts.contains("log entry"), "{facts}");
    assert!(browser.find_all("section.decide").await.is_empty(), "an analyst has nothing to decide");
    assert_eq!(common::accessibility_violations(&browser).await, Vec::<String>::new(), "the version page");
    browser.screenshot_as("rule").await;
    browser.find("form.who button").await.click().await;
    browser.wait_for("signed out", "return location.pathname === '/console/sign-in'").await;

    // Two approvers other than the author activate it.
    for (token, after) in [(&a, "1 of 2"), (&b, "active")] {
        sign_in(&browser, &server.base, token).await;
        browser.goto(&format!("{}/console/rules/aup2-transcription-volume/1", server.base)).await;
        browser.find("form[action$='/approve'] button[type=submit]").await.click().await;
        browser
            .wait_for(after, &format!("return document.querySelector('dl.facts').innerText.includes('{after}')"))
            .await;
        browser.find("form.who button").await.click().await;
        browser.wait_for("signed out", "return location.pathname === '/console/sign-in'").await;
    }
    let rules = core.rules().await.unwrap();
    assert_eq!(rules[0].state, verdict_model::RuleState::Active);
    assert_eq!(rules[0].approvals.iter().map(|x| x.by.as_str()).collect::<Vec<_>>(), ["approver-a", "approver-b"]);
}
