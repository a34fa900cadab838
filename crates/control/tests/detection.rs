//! Detection rules through the control plane, on every backend: a version's
//! full text is logged when it is published; in shadow it records what it
//! would fire on and opens nothing; activation takes two approvers other
//! than its author; an active rule opens one case per unit and then adds
//! findings to it; a retired rule stops; a backtest finds when it would
//! have fired. Nothing here restricts anything.

use std::sync::Arc;

use serde_json::{Value, json};
use verdict_control::{Actor, Core, ManualClock, Principal, SigningKey};
use verdict_model::{Catalog, Role, RuleState, RuleTarget, Timestamp, UsageEvent};
use verdict_testdb::TestDb;

/// An hour boundary (1,800,000,000 is a multiple of 3,600).
const T0: Timestamp = Timestamp(1_800_000_000);

fn person(name: &str, role: Role) -> Principal {
    Principal { name: name.into(), roles: vec![role], tenant: None, scope: None }
}

async fn open(db: &TestDb, clock: Arc<ManualClock>) -> Core {
    let core =
        Core::open_with_clock(db.open().await, SigningKey::generate("verdict.test/log").unwrap(), clock).await.unwrap();
    let inventory = serde_json::from_value(json!({
        "tenants": [{"id": "mod", "kind": "government"}, {"id": "northwind", "kind": "enterprise"}],
        "subscriptions": [
            {"id": "sig-ai", "tenant": "mod", "unit": "intelligence/signals", "services": ["ai.speech-to-text"], "region": "westeurope"},
            {"id": "log-ai", "tenant": "mod", "unit": "logistics", "services": ["ai.speech-to-text"], "region": "westeurope"},
            {"id": "nw-ai", "tenant": "northwind", "unit": "support", "services": ["ai.speech-to-text"], "region": "westeurope"}],
    }))
    .unwrap();
    core.import(&Actor::admin(), inventory, &|_| ()).await.unwrap();
    let clause = serde_json::from_value(json!({"id": "AUP-2", "title": "No mass surveillance of civilians",
        "text": "The customer shall not use the services to facilitate mass surveillance of civilians."}))
    .unwrap();
    core.publish_clause(&Principal::admin(), clause).await.unwrap();
    core
}

/// `seconds` of audio transcribed by `subscription` in the hour before `at`.
async fn transcribe(core: &Core, subscription: &str, tenant: &str, seconds: f64, at: Timestamp) {
    let event = json!({"tenant": tenant, "subscription": subscription, "service": "ai.speech-to-text",
        "meter": "audio_seconds", "quantity": seconds, "time": at.plus(-1800).to_string()});
    let (earliest, latest) = core.usage_bounds();
    let event = UsageEvent::parse(&event, &Catalog::builtin(), earliest, latest).unwrap();
    core.ingest_usage(&[(1, event)]).await.unwrap();
}

const TEXT: &str = r#"sum("ai.speech-to-text", "audio_seconds", "1d") > 3.6e6 && tenant_kind == "government""#;

fn spec(text: &str) -> verdict_model::RuleSpec {
    serde_json::from_value(json!({"id": "aup2-intercepts", "clause": "AUP-2",
        "title": "Bulk transcription", "text": text}))
    .unwrap()
}

#[tokio::test]
async fn a_rule_is_published_shadowed_activated_by_two_others_opens_one_case_per_unit_and_retires() {
    for backend in verdict_testdb::backends() {
        let db = TestDb::new(backend).await;
        let clock = Arc::new(ManualClock::new(T0));
        let core = open(&db, clock.clone()).await;
        let analyst = person("analyst-1", Role::Analyst);

        // Published: the log entry carries the text and the clause.
        let rule = core.publish_rule(&analyst, spec(TEXT)).await.unwrap();
        assert_eq!((rule.version, rule.state), (1, RuleState::Shadow));
        let index = rule.log_index.unwrap();
        let entry: Value = serde_json::from_slice(&core.log_entries(index, index + 1).await.unwrap()[0]).unwrap();
        assert_eq!(entry["type"], "rule.published", "{backend}");
        assert_eq!((entry["public"]["text"].as_str(), entry["public"]["clause"].as_str()), (Some(TEXT), Some("AUP-2")));
        let refused = core.publish_rule(&analyst, spec(r#"lookup("caller") == 1"#)).await.unwrap_err();
        assert_eq!(refused.code(), "rule-unknown-function", "{backend}");

        // In shadow: hits are recorded, nothing is opened.
        transcribe(&core, "sig-ai", "mod", 4.0e6, T0).await;
        transcribe(&core, "log-ai", "mod", 1.0e3, T0).await;
        transcribe(&core, "nw-ai", "northwind", 9.0e6, T0).await;
        let first = core.evaluate_rules(T0).await.unwrap();
        assert_eq!((first.shadow_hits, first.active_hits), (2, 0), "{backend}: signals and intelligence");
        assert!(first.cases_opened.is_empty() && core.cases(None).await.unwrap().is_empty(), "{backend}");
        let hits = core.rule_results("aup2-intercepts", 1, 10).await.unwrap();
        let mut targets: Vec<&str> = hits.iter().map(|h| h.target.as_str()).collect();
        targets.sort();
        assert_eq!(targets, ["intelligence", "intelligence/signals"], "{backend}: units, not the business tenant");
        assert!(hits.iter().all(|h| h.case_id.is_none()));
        assert_eq!(core.evaluate_rules(T0).await.unwrap().rules, 0, "{backend}: an hour is evaluated once");

        // Activation: not by its author, each approver once, two needed.
        let a = person("approver-a", Role::Approver);
        let b = person("approver-b", Role::Approver);
        assert_eq!(core.approve_rule(&analyst, "aup2-intercepts", 1).await.unwrap_err().code(), "self-approval");
        assert_eq!(core.approve_rule(&a, "aup2-intercepts", 1).await.unwrap().state, RuleState::Shadow);
        assert_eq!(core.approve_rule(&a, "aup2-intercepts", 1).await.unwrap_err().code(), "already-approved");
        assert_eq!(core.approve_rule(&b, "aup2-intercepts", 1).await.unwrap().state, RuleState::Active);

        // Active: a case opened by detection from an internal signal for
        // the deepest unit it fires on (the unit above joins it); the next
        // hour adds findings to it.
        clock.set(T0.plus(3600));
        transcribe(&core, "sig-ai", "mod", 1.0e5, T0.plus(3600)).await;
        let second = core.evaluate_rules(T0.plus(3600)).await.unwrap();
        assert_eq!(
            (second.active_hits, second.cases_opened.len(), second.cases_updated.len()),
            (2, 1, 1),
            "{backend}: {second:?}"
        );
        clock.set(T0.plus(7200));
        let third = core.evaluate_rules(T0.plus(7200)).await.unwrap();
        assert_eq!((third.cases_opened.len(), third.cases_updated.len()), (0, 2), "{backend}: {third:?}");
        let cases = core.cases(Some("mod")).await.unwrap();
        assert_eq!(cases.len(), 1, "{backend}");
        let case = &cases[0];
        assert_eq!(case.spec.units[0].as_str(), "intelligence/signals", "{backend}: the most precise unit");
        assert_eq!(case.spec.source_type, verdict_model::SourceType::InternalSignal);
        assert_eq!(case.opened_by, "verdict-detection");
        let (_, timeline) = core.case(&case.id).await.unwrap();
        let findings: Vec<_> = timeline.iter().filter(|e| e.kind == "evidence").collect();
        assert_eq!(findings.len(), 4, "{backend}: a finding per unit and hour it fired");
        assert!(findings[0].body["method"].as_str().unwrap().contains(&format!("log entry {index}")));
        assert!(findings[0].body["figures"].as_object().unwrap().keys().any(|k| k.contains("audio_seconds")));

        // People decide: an order from a case a rule opened says its
        // detection was automated and its decision was not.
        let order: verdict_model::OrderSpec = serde_json::from_value(json!({"tenant": "mod", "clause": "AUP-2",
            "title": "Suspend transcription", "case_id": case.id, "scope": {"units": [case.spec.units[0]]},
            "services": ["ai.*"], "phases": [{"mode": "notice", "start": T0.plus(7200)}]}))
        .unwrap();
        let order = core.propose_order(&analyst, order).await.unwrap();
        for approver in [&a, &b] {
            let hash = core.preview_order(&order.id).await.unwrap().hash;
            core.approve_order(approver, &order.id, Some(&hash), &[]).await.unwrap();
        }
        let notice = core.notices(Some("mod")).await.unwrap().pop().unwrap();
        assert!(notice.statement.automated_detection && !notice.statement.automated_decision, "{backend}");
        let dsa = notice.dsa_statement();
        assert_eq!(
            (dsa["automated_detection"].as_str(), dsa["automated_decision"].as_str()),
            (Some("Yes"), Some("AUTOMATED_DECISION_NOT_AUTOMATED")),
            "{backend}"
        );

        // Retired: no longer evaluated.
        core.retire_rule(&a, "aup2-intercepts", 1, "replaced by a per-subscription rule").await.unwrap();
        clock.set(T0.plus(3 * 3600));
        assert_eq!(core.evaluate_rules(T0.plus(3 * 3600)).await.unwrap().rules, 0, "{backend}");
        let kinds: Vec<String> = core
            .log_entries(0, core.checkpoint().checkpoint.size)
            .await
            .unwrap()
            .iter()
            .map(|e| serde_json::from_slice::<Value>(e).unwrap()["type"].as_str().unwrap().to_owned())
            .filter(|k| k.starts_with("rule."))
            .collect();
        assert_eq!(kinds, ["rule.published", "rule.approval", "rule.activated", "rule.retired"], "{backend}");
    }
}

#[tokio::test]
async fn a_backtest_says_where_and_when_a_draft_would_have_fired() {
    let db = TestDb::new(verdict_testdb::Backend::Sqlite).await;
    let clock = Arc::new(ManualClock::new(T0));
    let core = open(&db, clock.clone()).await;
    // Three hours of transcription at the signals unit: 2e6 seconds each.
    for h in 0..3 {
        let at = T0.plus(-(2 - h) * 3600);
        transcribe(&core, "sig-ai", "mod", 2.0e6, at).await;
    }
    let hits = core.backtest(TEXT, RuleTarget::Unit, T0.plus(-4 * 3600), T0).await.unwrap();
    let signals = hits.iter().find(|h| h.target == "intelligence/signals").expect("the signals unit");
    assert_eq!(signals.first, T0.plus(-3600), "the second hour's close crosses 3.6e6");
    assert_eq!(signals.hours, 2);
    assert_eq!(signals.figures.values().next().copied(), Some(4.0e6));
    assert!(hits.iter().all(|h| h.tenant == "mod" && h.target != "logistics"));
    // Past the retention period, usage is forgotten.
    clock.set(T0.plus(verdict_control::USAGE_RETENTION_DAYS * 86_400 + 3600));
    core.purge_usage().await.unwrap();
    assert!(core.usage_series("mod", 0).await.unwrap().is_empty());
    clock.set(T0);
    let e = core.backtest(TEXT, RuleTarget::Unit, T0, T0.plus(-3600)).await.unwrap_err();
    assert_eq!(e.code(), "invalid-period");
    assert!(core.cases(None).await.unwrap().is_empty(), "a backtest opens nothing");
}

#[tokio::test]
async fn a_hit_finds_its_units_open_case_behind_a_thousand_newer_ones() {
    for backend in verdict_testdb::backends() {
        let db = TestDb::new(backend).await;
        let clock = Arc::new(ManualClock::new(T0.plus(-7200)));
        let core = open(&db, clock.clone()).await;
        let analyst = person("analyst-1", Role::Analyst);
        let case = |unit: &str| -> verdict_model::CaseSpec {
            serde_json::from_value(json!({"tenant": "mod", "source_type": "internal_signal", "units": [unit],
                "clauses": ["AUP-2"], "title": format!("signals about {unit}")}))
            .unwrap()
        };
        // The signals unit's case is the oldest; a thousand newer open
        // cases from detection about another unit come before it in the
        // queue, more than one page of it.
        let signals = core.open_case(&analyst, case("intelligence/signals")).await.unwrap();
        clock.set(T0.plus(-3600));
        for _ in 0..1000 {
            core.open_case(&analyst, case("logistics")).await.unwrap();
        }
        let rule = core.publish_rule(&analyst, spec(TEXT)).await.unwrap();
        for approver in ["approver-a", "approver-b"] {
            core.approve_rule(&person(approver, Role::Approver), &rule.spec.id, rule.version).await.unwrap();
        }
        clock.set(T0);
        transcribe(&core, "sig-ai", "mod", 4.0e6, T0).await;
        let done = core.evaluate_rules(T0).await.unwrap();
        assert!(done.cases_opened.is_empty(), "{backend}: {done:?}");
        assert_eq!(
            done.cases_updated,
            [signals.id.clone(), signals.id.clone()],
            "{backend}: the unit and the one above"
        );
    }
}
