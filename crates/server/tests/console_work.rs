//! The console's working pages through real HTTP on port 0: drafting an
//! order with its preview panel (the one `draft.js` fetches), proposing it,
//! approving over a guard with a reason, amending an order on appeal, and
//! the operations pages (replicas connected, orders in force, inventory).

mod common;

use common::console::*;
use reqwest::StatusCode;
use serde_json::json;
use verdict_control::{Actor, Core, Principal};
use verdict_model::Role;

fn staff(name: &str, role: Role) -> Principal {
    Principal { name: name.into(), roles: vec![role], tenant: None, scope: None }
}

/// A tenant with a unit of two subscriptions, a guard over a third in
/// another unit, the terms, and a case; returns the server and the case.
async fn world() -> (String, tempfile::TempDir, std::sync::Arc<Core>, String) {
    let (core, _, dir) = common::open_core().await;
    let inventory = serde_json::from_value(json!({
        "tenants": [{"id": "ministry-of-defense", "kind": "government"}],
        "subscriptions": [
            {"id": "sig-archive-nl", "tenant": "ministry-of-defense", "unit": "intelligence/signals",
             "services": ["storage.blob", "storage.files"], "region": "westeurope"},
            {"id": "sig-ai", "tenant": "ministry-of-defense", "unit": "intelligence/signals",
             "services": ["ai.speech-to-text"], "region": "westeurope"},
            {"id": "cyber-ops", "tenant": "ministry-of-defense", "unit": "cyber-defense",
             "services": ["security.defender", "storage.blob"], "region": "westeurope"}],
    }))
    .unwrap();
    core.import(&Actor::admin(), inventory, &|_| ()).await.unwrap();
    let admin = Principal::admin();
    let clause = serde_json::from_value(json!({"id": "AUP-2", "title": "No mass surveillance of civilians",
        "text": "The customer shall not use the services to facilitate mass surveillance of civilians."}))
    .unwrap();
    core.publish_clause(&admin, clause).await.unwrap();
    let guard = serde_json::from_value(json!({"id": "defense-ops", "description": "Cyber-defense keeps its storage",
        "subscription": "cyber-ops", "services": ["storage.*"]}))
    .unwrap();
    core.put_guard(&admin, guard).await.unwrap();
    let case = serde_json::from_value(json!({"tenant": "ministry-of-defense", "source_type": "third_party_report",
        "title": "Signals archive", "units": ["intelligence/signals"], "clauses": ["AUP-2"]}))
    .unwrap();
    let case = core.open_case(&staff("analyst-1", Role::Analyst), case).await.unwrap();
    (common::serve(core.clone()).await, dir, core, case.id)
}

#[tokio::test]
async fn an_order_is_drafted_with_its_preview_and_guards_and_proposed_through_the_form() {
    let (base, _dir, core, case) = world().await;
    let analyst = sign_in(&base, &add_user(&core, "analyst-1", Role::Analyst).await).await.unwrap();
    let auditor = sign_in(&base, &add_user(&core, "auditor", Role::Auditor).await).await.unwrap();
    let draft = format!("/console/cases/{case}/draft");

    let (status, form) = page(&base, &draft, &analyst.session).await;
    assert_eq!(status, StatusCode::OK);
    assert!(form.contains(&format!("data-preview=\"{draft}/preview\"")), "{form}");
    assert!(form.contains("value=\"intelligence/signals\" checked"), "the case's unit is ticked: {form}");
    assert!(form.contains("src=\"/console/assets/") && form.contains("/draft.js\""), "{form}");
    let (status, _) = page(&base, &draft, &auditor.session).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "auditors read; they do not draft");

    let fields = |services: &[&'static str], units: &[&'static str], disabled: &'static str| {
        let mut f = vec![
            ("_csrf", analyst.csrf.clone()),
            ("title", "Suspend the signals unit's storage and AI".to_owned()),
            ("clause", "AUP-2".to_owned()),
            ("notice_days", "0".to_owned()),
            ("export_only_days", "2".to_owned()),
            ("disabled_days", disabled.to_owned()),
        ];
        f.extend(units.iter().map(|u| ("unit", (*u).to_owned())));
        f.extend(services.iter().map(|s| ("service", (*s).to_owned())));
        f
    };
    let post = |path: String, fields: Vec<(&'static str, String)>| {
        let base = base.clone();
        let session = analyst.session.clone();
        async move {
            let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
            post_form(&base, &path, &session, &fields).await
        }
    };

    // The panel alone, as draft.js asks for it: what it cuts, and the hash
    // of exactly the preview an approver will be shown.
    let (status, _, panel) =
        post(format!("{draft}/preview"), fields(&["storage.*", "ai.*"], &["intelligence/signals"], "9")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(panel.starts_with("<section id=\"preview-panel\""), "a fragment: {panel}");
    assert!(
        panel.contains("sig-archive-nl") && panel.contains("sig-ai") && panel.contains("breaks no guard"),
        "{panel}"
    );
    let spec = serde_json::from_value(json!({"tenant": "ministry-of-defense", "clause": "AUP-2",
        "scope": {"units": ["intelligence/signals"]}, "services": ["storage.*", "ai.*"],
        "phases": [{"mode": "notice", "start": verdict_model::Timestamp::now()},
            {"mode": "export_only", "start": verdict_model::Timestamp::now().plus(2 * 86_400)},
            {"mode": "disabled", "start": verdict_model::Timestamp::now().plus(9 * 86_400)}]}))
    .unwrap();
    let hash = core.preview(&spec, None).await.unwrap().hash;
    assert!(panel.contains(&format!("data-preview-hash=\"{hash}\"")), "{panel}");
    // Widened to cyber-defense, it breaks the guard, and says so.
    let (_, _, panel) =
        post(format!("{draft}/preview"), fields(&["storage.*"], &["intelligence/signals", "cyber-defense"], "9")).await;
    assert!(panel.contains("defense-ops") && panel.contains("Cyber-defense keeps its storage"), "{panel}");
    // What cannot be drawn is said, with its code.
    let (_, _, panel) =
        post(format!("{draft}/preview"), fields(&["storage.*"], &["intelligence/signals"], "soon")).await;
    assert!(panel.contains("invalid-days") && panel.contains("&quot;soon&quot; is not a number of days"), "{panel}");
    let (_, _, panel) = post(format!("{draft}/preview"), fields(&["storage.*"], &["nowhere"], "9")).await;
    assert!(panel.contains("unknown-unit"), "{panel}");
    // Without the session's CSRF token nothing is drawn.
    let mut forged = fields(&["storage.*"], &["intelligence/signals"], "9");
    forged[0].1 = "0".repeat(64);
    let (status, _, _) = post(format!("{draft}/preview"), forged).await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // Proposing: a refusal beside its field, nothing stored; then the order.
    let orders = format!("/console/cases/{case}/orders");
    let (status, _, body) = post(orders.clone(), fields(&[], &["intelligence/signals"], "9")).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body.contains("id=\"service-error\"") && body.contains("tick at least one service"), "{body}");
    assert!(
        body.contains("value=\"Suspend the signals unit&#39;s storage and AI\"")
            || body.contains("value=\"Suspend the signals unit's storage and AI\""),
        "the draft is kept: {body}"
    );
    assert!(core.orders(None, None, &verdict_control::Page { after: None, limit: 10 }).await.unwrap().is_empty());
    let (status, location, _) =
        post(orders, fields(&["storage.*"], &["intelligence/signals", "cyber-defense"], "9")).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let id = location.strip_prefix("/console/orders/").expect("to the order's page").to_owned();
    let order = core.order(&id).await.unwrap().unwrap();
    assert_eq!(order.spec.case_id.as_deref(), Some(case.as_str()));
    assert_eq!(order.spec.phases.len(), 3);
    assert_eq!(order.lifecycle.proposed_by.as_deref(), Some("analyst-1"));

    // The approver sees the guard the order breaks and overrides it with a
    // reason; without one the approval is refused.
    let approver = sign_in(&base, &add_user(&core, "approver-a", Role::Approver).await).await.unwrap();
    let path = format!("/console/orders/{id}");
    let (_, shown) = page(&base, &path, &approver.session).await;
    assert!(shown.contains("defense-ops") && shown.contains("name=\"override.defense-ops\""), "{shown}");
    let hash = hidden(&shown, "preview_hash");
    let approve = format!("{path}/approve");
    let plain = [("_csrf", approver.csrf.as_str()), ("preview_hash", hash.as_str()), ("override.defense-ops", " ")];
    let (status, _, body) = post_form(&base, &approve, &approver.session, &plain).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(body.contains("guard-violated"), "{body}");
    let reasoned = [
        ("_csrf", approver.csrf.as_str()),
        ("preview_hash", hash.as_str()),
        ("override.defense-ops", "The ops storage holds the intercept archive's replicas."),
    ];
    let (status, _, _) = post_form(&base, &approve, &approver.session, &reasoned).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let order = core.order(&id).await.unwrap().unwrap();
    assert_eq!(order.lifecycle.approvals[0].overrides[0].guard, "defense-ops");
}

/// An order in force over the signals unit, and the appeal against it.
async fn appealed(core: &Core, case: &str) -> (String, String) {
    let now = verdict_model::Timestamp::now();
    let spec = serde_json::from_value(json!({"tenant": "ministry-of-defense", "clause": "AUP-2",
        "title": "Suspend storage and AI", "case_id": case, "scope": {"units": ["intelligence/signals"]},
        "services": ["storage.*", "ai.*"], "phases": [{"mode": "notice", "start": now},
            {"mode": "export_only", "start": now.plus(2 * 86_400)}]}))
    .unwrap();
    let order = core.propose_order(&staff("analyst-1", Role::Analyst), spec).await.unwrap();
    for approver in ["approver-a", "approver-b"] {
        let hash = core.preview_order(&order.id).await.unwrap().hash;
        core.approve_order(&staff(approver, Role::Approver), &order.id, Some(&hash), &[]).await.unwrap();
    }
    let legal = Principal {
        name: "mod-legal".into(),
        roles: vec![Role::Tenant],
        tenant: Some("ministry-of-defense".into()),
        scope: None,
    };
    let appeal = core.file_appeal(&legal, &order.id, "The AI subscription transcribes logistics calls.").await.unwrap();
    (order.id, appeal.id)
}

#[tokio::test]
async fn a_reviewer_amends_an_order_on_appeal_from_its_draft() {
    let (base, _dir, core, case) = world().await;
    let (order, appeal) = appealed(&core, &case).await;
    let reviewer = sign_in(&base, &add_user(&core, "reviewer", Role::Reviewer).await).await.unwrap();
    let analyst = sign_in(&base, &add_user(&core, "analyst-1", Role::Analyst).await).await.unwrap();
    let amend = format!("/console/appeals/{appeal}/amend");

    let (_, shown) = page(&base, &format!("/console/appeals/{appeal}"), &reviewer.session).await;
    assert!(shown.contains(&format!("href=\"{amend}\"")), "{shown}");
    // The draft starts from the order as it is, its preview drawn.
    let (status, form) = page(&base, &amend, &reviewer.session).await;
    assert_eq!(status, StatusCode::OK);
    assert!(form.contains("value=\"storage.*\" checked") && form.contains("value=\"ai.*\" checked"), "{form}");
    assert!(form.contains("sig-ai") && form.contains("data-preview-hash"), "{form}");
    let (status, _) = page(&base, &amend, &analyst.session).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "amending on appeal is the reviewer's");

    let fields = |reasons: &'static str| {
        vec![
            ("_csrf", reviewer.csrf.as_str()),
            ("title", "Suspend storage only"),
            ("clause", "AUP-2"),
            ("unit", "intelligence/signals"),
            ("service", "storage.*"),
            ("notice_days", "0"),
            ("export_only_days", "2"),
            ("reasons", reasons),
        ]
    };
    let target = format!("/console/appeals/{appeal}/amendment");
    let (status, _, body) = post_form(&base, &target, &reviewer.session, &fields(" ")).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(body.contains("id=\"reasons-error\""), "{body}");
    assert!(core.appeal(&appeal).await.unwrap().decision.is_none(), "nothing decided");
    let (status, location, _) = post_form(
        &base,
        &target,
        &reviewer.session,
        &fields("The transcription is not shown to serve surveillance; storage stays restricted."),
    )
    .await;
    assert_eq!((status, location.as_str()), (StatusCode::SEE_OTHER, format!("/console/appeals/{appeal}").as_str()));
    let decision = core.appeal(&appeal).await.unwrap().decision.unwrap();
    assert_eq!(decision.outcome, verdict_model::AppealOutcome::Amend);
    let new = core.order(decision.new_order.as_deref().unwrap()).await.unwrap().unwrap();
    assert_eq!(new.spec.services.iter().map(ToString::to_string).collect::<Vec<_>>(), ["storage.*"]);
    let old = core.order(&order).await.unwrap().unwrap();
    assert_eq!(old.superseded_by.as_deref(), Some(new.id.as_str()));
}

#[tokio::test]
async fn operations_pages_show_replicas_orders_in_force_and_a_searchable_inventory() {
    let (base, _dir, core, case) = world().await;
    let (order, _) = appealed(&core, &case).await;
    let mut more = Vec::new();
    for i in 0..120 {
        more.push(json!({"id": format!("log-{i:03}"), "tenant": "ministry-of-defense", "unit": "logistics/fleet",
            "services": ["compute.vm"]}));
    }
    core.import(&Actor::admin(), serde_json::from_value(json!({"subscriptions": more})).unwrap(), &|_| ())
        .await
        .unwrap();
    let ops = sign_in(&base, &add_user(&core, "auditor", Role::Auditor).await).await.unwrap();

    // A replica on the change stream is listed with the version it holds.
    let version = core.feed().current().version();
    let mut watch = reqwest::Client::new()
        .get(format!("{base}/v1/watch?since={version}&heartbeat_ms=50"))
        .bearer_auth(common::PEP)
        .header("user-agent", "verdict-pep/test")
        .send()
        .await
        .unwrap();
    assert_eq!(watch.status(), StatusCode::OK);
    let _ = watch.chunk().await.unwrap();
    let (status, overview) = page(&base, "/console/operations", &ops.session).await;
    assert_eq!(status, StatusCode::OK);
    assert!(overview.contains("verdict-pep/test") && overview.contains("up to date"), "{overview}");
    assert!(overview.contains(&format!("<td class=\"num\">{version}</td>")), "{overview}");
    drop(watch);
    let mut gone = false;
    for _ in 0..100 {
        let (_, overview) = page(&base, "/console/operations", &ops.session).await;
        if overview.contains("No replica is connected") {
            gone = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(gone, "a replica that hangs up leaves the list");

    let (_, in_force) = page(&base, "/console/operations/orders", &ops.session).await;
    assert!(in_force.contains(&order) && in_force.contains("phase-step current"), "{in_force}");

    let (_, tenants) = page(&base, "/console/operations/inventory", &ops.session).await;
    assert!(tenants.contains("/console/operations/inventory/ministry-of-defense"), "{tenants}");
    let inventory = "/console/operations/inventory/ministry-of-defense";
    let (_, first) = page(&base, inventory, &ops.session).await;
    assert!(first.contains("123 subscriptions in") && first.contains("Page 1 of 3"), "{first}");
    // The unit counts what is below it.
    assert!(first.contains("<code>logistics</code></a> <span class=\"meta\">120</span>"), "{first}");
    let (_, within) = page(&base, &format!("{inventory}?unit=intelligence&page=1"), &ops.session).await;
    assert!(within.contains("2 match") && within.contains("sig-ai") && !within.contains("log-000"), "{within}");
    let (_, search) = page(&base, &format!("{inventory}?q=log-11"), &ops.session).await;
    assert!(search.contains("10 match") && search.contains("log-119") && !search.contains("log-100"), "{search}");
    let (_, last) = page(&base, &format!("{inventory}?page=3"), &ops.session).await;
    assert!(last.contains("Page 3 of 3") && last.contains("sig-ai"), "{last}");
    let (status, _) = page(&base, "/console/operations/inventory/nobody", &ops.session).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = page(&base, &format!("{inventory}?unit=../x"), &ops.session).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn a_case_is_assigned_and_moved_along_its_lifecycle_through_forms() {
    let (base, _dir, core, case) = world().await;
    let analyst = sign_in(&base, &add_user(&core, "analyst-1", Role::Analyst).await).await.unwrap();
    add_user(&core, "analyst-2", Role::Analyst).await;
    let auditor = sign_in(&base, &add_user(&core, "auditor", Role::Auditor).await).await.unwrap();
    let path = format!("/console/cases/{case}");

    let (_, shown) = page(&base, &path, &analyst.session).await;
    assert!(shown.contains("<option value=\"analyst-2\">") && !shown.contains("<option value=\"auditor\">"), "{shown}");
    assert!(
        shown.contains("value=\"under_review\"") && !shown.contains("value=\"closed\""),
        "only next steps: {shown}"
    );
    let (_, seen) = page(&base, &path, &auditor.session).await;
    assert!(!seen.contains(&format!("{path}/assign")), "auditors change nothing: {seen}");

    let assign = format!("{path}/assign");
    let (status, location, _) =
        post_form(&base, &assign, &analyst.session, &[("_csrf", &analyst.csrf), ("user", "analyst-2")]).await;
    assert_eq!((status, location.as_str()), (StatusCode::SEE_OTHER, path.as_str()));
    let (status, _, body) =
        post_form(&base, &assign, &analyst.session, &[("_csrf", &analyst.csrf), ("user", "auditor")]).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(body.contains("id=\"assign-error\"") && body.contains("assignee-not-analyst"), "{body}");
    let (status, _, _) =
        post_form(&base, &assign, &auditor.session, &[("_csrf", &auditor.csrf), ("user", "analyst-1")]).await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    let set = format!("{path}/status");
    let review = [("_csrf", analyst.csrf.as_str()), ("status", "under_review"), ("reason", "Evidence is in.")];
    let (status, _, _) = post_form(&base, &set, &analyst.session, &review).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    // A step the case may not take is refused beside the form, as the API refuses it.
    let skip = [("_csrf", analyst.csrf.as_str()), ("status", "closed"), ("reason", "Skip")];
    let (status, _, body) = post_form(&base, &set, &analyst.session, &skip).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(body.contains("id=\"status-error\"") && body.contains("illegal-case-transition"), "{body}");
    let (stored, timeline) = core.case(&case).await.unwrap();
    assert_eq!((stored.status.as_str(), stored.assignee.as_deref()), ("under_review", Some("analyst-2")));
    assert!(timeline.iter().any(|e| e.kind == "status" && e.body["reason"] == "Evidence is in."), "{timeline:?}");
    let (_, shown) = page(&base, &path, &analyst.session).await;
    assert!(shown.contains("assigned it to analyst-2") && shown.contains("under review: Evidence is in."), "{shown}");
}

#[tokio::test]
async fn a_rule_is_drafted_backtested_published_and_approved_in_the_console_and_its_case_charts_what_fired() {
    let (base, _dir, core, _) = world().await;
    let analyst = sign_in(&base, &add_user(&core, "analyst-1", Role::Analyst).await).await.unwrap();
    let a = sign_in(&base, &add_user(&core, "approver-a", Role::Approver).await).await.unwrap();
    let b = sign_in(&base, &add_user(&core, "approver-b", Role::Approver).await).await.unwrap();
    let (earliest, latest) = core.usage_bounds();
    let usage = json!({"tenant": "ministry-of-defense", "subscription": "sig-ai", "service": "ai.speech-to-text",
        "meter": "audio_seconds", "quantity": 5.0e6, "time": verdict_model::Timestamp::now().plus(-4000).to_string()});
    let event = verdict_model::UsageEvent::parse(&usage, &verdict_model::Catalog::builtin(), earliest, latest).unwrap();
    core.ingest_usage(&[(1, event)]).await.unwrap();
    let text = r#"sum("ai.speech-to-text", "audio_seconds", "1d") > 3.6e6"#;
    let fields = |csrf: &str, text: &str, days: &str| {
        vec![
            ("_csrf".to_owned(), csrf.to_owned()),
            ("id".to_owned(), "aup2-transcription".to_owned()),
            ("title".to_owned(), "Transcription at scale".to_owned()),
            ("clause".to_owned(), "AUP-2".to_owned()),
            ("text".to_owned(), text.to_owned()),
            ("target".to_owned(), "unit".to_owned()),
            ("days".to_owned(), days.to_owned()),
        ]
    };
    let post = |path: &str, session: &str, f: Vec<(String, String)>| {
        let (base, path, session) = (base.clone(), path.to_owned(), session.to_owned());
        async move {
            let f: Vec<(&str, &str)> = f.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            post_form(&base, &path, &session, &f).await
        }
    };

    let (status, form) = page(&base, "/console/rules/new", &analyst.session).await;
    assert_eq!(status, StatusCode::OK);
    assert!(form.contains("name=\"text\""), "{form}");
    let (status, _, shown) = post("/console/rules/new", &analyst.session, fields(&analyst.csrf, text, "2")).await;
    assert_eq!(status, StatusCode::OK, "{shown}");
    assert!(shown.contains("Backtest") && shown.contains("intelligence/signals") && shown.contains("5.0 M"), "{shown}");
    let (status, _, refused) =
        post("/console/rules", &analyst.session, fields(&analyst.csrf, "lookup(1) > 2", "2")).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(refused.contains("id=\"draft-error\"") && refused.contains("rule-unknown-function"), "{refused}");
    let (status, location, _) = post("/console/rules", &analyst.session, fields(&analyst.csrf, text, "2")).await;
    assert_eq!((status, location.as_str()), (StatusCode::SEE_OTHER, "/console/rules/aup2-transcription/1"));

    let (_, own) = page(&base, &location, &analyst.session).await;
    assert!(own.contains("shadow") && !own.contains("Approve activation"), "its author may not approve: {own}");
    for approver in [&a, &b] {
        let (_, shown) = page(&base, &location, &approver.session).await;
        assert!(shown.contains("Approve activation"), "{shown}");
        let (status, _, _) =
            post(&format!("{location}/approve"), &approver.session, vec![("_csrf".into(), approver.csrf.clone())])
                .await;
        assert_eq!(status, StatusCode::SEE_OTHER);
    }
    let (_, list) = page(&base, "/console/rules", &analyst.session).await;
    assert!(list.contains("rule-active") && list.contains("2 of 2"), "{list}");

    let done = core.evaluate_rules(core.now()).await.unwrap();
    let case = done.cases_opened.first().expect("the rule opened a case").clone();
    let (_, shown) = page(&base, &location, &analyst.session).await;
    assert!(shown.contains(&format!("/console/cases/{case}")), "{shown}");
    let (_, case_page) = page(&base, &format!("/console/cases/{case}"), &analyst.session).await;
    assert!(case_page.contains("The figures that fired") && case_page.contains("<svg"), "{case_page}");
}
