//! `verdict demo`: the DESIGN §1 case, live — the signals unit of a
//! government tenant, flagged by the published AUP-2 detection rule from
//! its own usage metadata, in the export-only phase of an AUP-2 order.

use std::net::SocketAddr;
use std::path::Path;

use anyhow::Context;
use std::sync::Arc;

use verdict_control::{Actor, Core, Principal, ShiftedClock};
use verdict_model::{AppealOutcome, CaseStatus, Evidence, Inventory, OrderSpec, Role, Timestamp, User};

use crate::serve;

const DAY: i64 = 86_400;

/// The DESIGN §1 inventory.
pub fn inventory() -> Inventory {
    serde_json::from_value(serde_json::json!({
        "tenants": [
            {"id": "ministry-of-defense", "kind": "government", "name": "Ministry of Defense"},
            {"id": "northwind", "kind": "enterprise", "name": "Northwind Traders"}
        ],
        "units": [
            {"tenant": "ministry-of-defense", "path": "intelligence/signals"},
            {"tenant": "ministry-of-defense", "path": "cyber-defense"},
            {"tenant": "ministry-of-defense", "path": "logistics"},
            {"tenant": "northwind", "path": "research"}
        ],
        "subscriptions": [
            {"id": "sig-archive-nl", "tenant": "ministry-of-defense", "unit": "intelligence/signals",
             "services": ["storage.blob", "storage.files"], "region": "westeurope"},
            {"id": "sig-ai", "tenant": "ministry-of-defense", "unit": "intelligence/signals",
             "services": ["ai.speech-to-text", "ai.translation"], "region": "westeurope"},
            {"id": "cyber-ops", "tenant": "ministry-of-defense", "unit": "cyber-defense",
             "services": ["security.defender", "security.sentinel", "storage.blob"], "region": "westeurope"},
            {"id": "log-erp", "tenant": "ministry-of-defense", "unit": "logistics",
             "services": ["compute.vm", "storage.blob"], "region": "westeurope"},
            {"id": "nw-research", "tenant": "northwind", "unit": "research",
             "services": ["ai.vision", "storage.blob"], "region": "northeurope"}
        ]
    }))
    .expect("the demo inventory is valid")
}

/// The order: storage and AI for intelligence/signals; notice 3 days ago,
/// export-only since 1 day ago, disabled 6 days from `now`.
pub fn order(now: Timestamp) -> OrderSpec {
    serde_json::from_value(serde_json::json!({
        "tenant": "ministry-of-defense",
        "clause": "AUP-2",
        "title": "Storage and AI used for mass surveillance of civilians (third-party report)",
        "scope": {"units": ["intelligence/signals"]},
        "services": ["storage.*", "ai.*"],
        "exempt": ["security.*"],
        "phases": [
            {"mode": "notice", "start": now.plus(-3 * DAY)},
            {"mode": "export_only", "start": now.plus(-DAY)},
            {"mode": "disabled", "start": now.plus(6 * DAY)}
        ]
    }))
    .expect("the demo order is valid")
}

/// The demo's people: (name, roles, tenant).
const PEOPLE: &[(&str, &[Role], Option<&str>)] = &[
    ("analyst", &[Role::Analyst], None),
    ("approver-a", &[Role::Approver], None),
    ("approver-b", &[Role::Approver], None),
    ("reviewer", &[Role::Reviewer], None),
    ("auditor", &[Role::Auditor], None),
    ("mod-legal", &[Role::Tenant], Some("ministry-of-defense")),
];

fn principal(name: &str) -> Principal {
    let (_, roles, tenant) = PEOPLE.iter().find(|(n, ..)| *n == name).expect("a demo person");
    Principal { name: name.to_owned(), roles: roles.to_vec(), tenant: tenant.map(str::to_owned), scope: None }
}

/// The published AUP-2 detection rule: a unit transcribing more than a
/// thousand hours of speech a day while its stored bytes grew more than
/// four-fold in a week.
pub const RULE_TEXT: &str =
    r#"sum("ai.speech-to-text", "audio_seconds", "1d") > 3.6e6 && growth("storage.blob", "bytes_stored", "7d") > 4.0"#;

/// Days of synthetic usage before the story starts.
const USAGE_DAYS: i64 = 16;

/// One day's synthetic usage of every subscription, hour by hour: the
/// signals unit's transcription and storage grow day after day; the other
/// units' and tenants' stay level. Numbers about resources only.
fn usage_of_day(day: i64, start: Timestamp) -> Vec<serde_json::Value> {
    let mut events = Vec::new();
    let growth = |base: f64, factor: f64| base * factor.powi(day as i32);
    for hour in 0..24 {
        let time = start.plus(hour * 3600 + 1800).to_string();
        let mut add = |tenant: &str, sub: &str, service: &str, meter: &str, quantity: f64| {
            events.push(serde_json::json!({"tenant": tenant, "subscription": sub, "service": service, "meter": meter,
                "quantity": quantity.round(), "region": "westeurope", "time": time,
                "id": format!("demo-{day}-{hour}-{sub}-{meter}")}));
        };
        let mod_ = "ministry-of-defense";
        add(mod_, "sig-ai", "ai.speech-to-text", "audio_seconds", growth(1.0e5, 1.45) / 24.0);
        add(mod_, "sig-ai", "ai.translation", "characters", growth(2.0e6, 1.3) / 24.0);
        add(mod_, "sig-archive-nl", "storage.blob", "bytes_stored", growth(2.0e11, 1.35) * (1.0 + hour as f64 / 200.0));
        add(mod_, "sig-archive-nl", "storage.blob", "bytes_ingress", growth(2.0e10, 1.35) / 24.0);
        add(mod_, "cyber-ops", "security.defender", "scans", 120.0);
        add(mod_, "cyber-ops", "storage.blob", "bytes_stored", 5.0e12);
        add(mod_, "log-erp", "compute.vm", "vcpu_seconds", 8.0 * 3600.0);
        add(mod_, "log-erp", "storage.blob", "bytes_stored", 1.2e12);
        add("northwind", "nw-research", "ai.vision", "images", 4000.0);
        add("northwind", "nw-research", "storage.blob", "bytes_stored", 3.0e12);
    }
    events
}

/// Plays the DESIGN §1 story through the due-process machinery on a demo
/// clock: three weeks ago the AUP-2 detection rule is published (its text
/// in the log) and two approvers activate it; two weeks of usage metadata
/// arrive day by day and the rule, evaluated as each day closes, opens the
/// case for the signals unit; from five days ago the analyst works that
/// case, the order is proposed and approved, noticed, appealed and upheld,
/// so that by now it is in its export-only phase. Tokens go to
/// `<data>/tokens/<name>.token` (0600). Returns the order's id.
async fn load_story(core: &Core, clock: &ShiftedClock, tokens: &Path) -> anyhow::Result<String> {
    const HOUR: i64 = 3_600;
    let at = |offset: i64| clock.set_offset(offset - 5 * DAY);
    // Absolute instants on the demo clock (its offset is from this machine's).
    let set = |t: Timestamp| clock.set_offset(t.seconds() - Timestamp::now().seconds());
    let story = Timestamp::now().plus(-5 * DAY);
    let first_day = Timestamp(story.seconds() - story.seconds().rem_euclid(DAY) - USAGE_DAYS * DAY);
    set(first_day.plus(-2 * HOUR));
    let admin = Principal { name: "admin".into(), roles: vec![Role::Admin], tenant: None, scope: None };
    core.import(&Actor::admin(), inventory(), &|_| ()).await.context("cannot load the demo inventory")?;
    core.publish_clause(
        &admin,
        serde_json::from_value(serde_json::json!({
            "id": "AUP-2", "title": "No technology to facilitate mass surveillance of civilians",
            "text": "The customer shall not use the services to build, operate or support systems for the mass surveillance of civilians."
        }))?,
    )
    .await?;
    core.put_guard(
        &admin,
        serde_json::from_value(serde_json::json!({
            "id": "gov-security", "description": "Government customers keep their security services",
            "customer_kind": "government", "services": ["security.*"]
        }))?,
    )
    .await?;
    std::fs::create_dir_all(tokens)?;
    for (name, roles, tenant) in PEOPLE {
        let user = User {
            name: (*name).to_owned(),
            roles: roles.to_vec(),
            tenant: tenant.map(str::to_owned),
            created_at: Timestamp::default(),
            revoked_at: None,
            scope: None,
        };
        let (_, token) = core.add_user(&Actor::admin(), user).await?;
        use std::io::Write as _;
        use std::os::unix::fs::OpenOptionsExt as _;
        let path = tokens.join(format!("{name}.token"));
        let mut file = std::fs::OpenOptions::new().create(true).truncate(true).write(true).mode(0o600).open(&path)?;
        file.write_all(format!("{token}\n").as_bytes())?;
    }
    let analyst = principal("analyst");

    // The rule, in the open before it runs; activated by two others.
    let rule = serde_json::from_value(serde_json::json!({"id": "aup2-intercept-archive", "clause": "AUP-2",
        "title": "Speech transcribed at intercept scale while storage multiplies", "text": RULE_TEXT}))?;
    core.publish_rule(&analyst, rule).await?;
    set(first_day.plus(-HOUR));
    core.approve_rule(&principal("approver-a"), "aup2-intercept-archive", 1).await?;
    core.approve_rule(&principal("approver-b"), "aup2-intercept-archive", 1).await?;

    // Usage metadata, a day at a time, sent just after the day closes; the
    // rule is evaluated at each day's close.
    let catalog = verdict_model::Catalog::builtin();
    for day in 0..USAGE_DAYS {
        let start = first_day.plus(day * DAY);
        set(start.plus(DAY + 60));
        let (earliest, latest) = core.usage_bounds();
        let events = usage_of_day(day, start)
            .iter()
            .enumerate()
            .map(|(i, e)| Ok((i + 1, verdict_model::UsageEvent::parse(e, &catalog, earliest, latest)?)))
            .collect::<Result<Vec<_>, verdict_model::UsageError>>()
            .context("the demo's usage is refused")?;
        core.ingest_usage(&events).await?;
        core.evaluate_rules(start.plus(DAY)).await?;
    }
    let signal = verdict_store::CaseFilter {
        tenant: Some("ministry-of-defense".into()),
        source: Some("internal_signal".into()),
        ..Default::default()
    };
    let (opened, _) = core.case_queue(&signal, 0, 10).await?;
    let case = opened.into_iter().next().context("the demo's detection rule opened no case")?;

    // From five days ago: the analyst works the case the rule opened.
    at(0);
    for evidence in [
        serde_json::json!({"kind": "external_document", "address": "https://news.example/2026/intercept-archive",
            "sha256": "4e07408562bedb8b60ce05c1decfe3ad16b72230967de01f640b7e4729b49fce",
            "summary": "Reporting, with leaked documents, that a signals unit stores and transcribes intercepted calls of civilians on the platform"}),
        serde_json::json!({"kind": "note", "text": "The published AUP-2 rule flagged this unit before the press did; the report matches its figures."}),
    ] {
        core.add_evidence(&analyst, &case.id, Evidence::from_json(&evidence)?).await?;
    }
    core.assign_case(&analyst, &case.id, "analyst").await?;
    core.set_case_status(&analyst, &case.id, CaseStatus::UnderReview, None).await?;
    at(HOUR);
    let mut spec = order(Timestamp::now());
    spec.case_id = Some(case.id.clone());
    let proposed = core.propose_order(&analyst, spec).await?;
    at(2 * HOUR);
    let seen = core.preview_order(&proposed.id).await?.hash;
    core.approve_order(&principal("approver-a"), &proposed.id, Some(&seen), &[]).await?;
    at(3 * HOUR);
    let seen = core.preview_order(&proposed.id).await?.hash;
    core.approve_order(&principal("approver-b"), &proposed.id, Some(&seen), &[]).await?;
    at(DAY);
    let appeal = core
        .file_appeal(
            &principal("mod-legal"),
            &proposed.id,
            "The unit's storage holds lawfully intercepted communications under judicial warrant.",
        )
        .await?;
    at(2 * DAY);
    core.decide_appeal(
        &principal("reviewer"),
        &appeal.id,
        AppealOutcome::Uphold,
        "The reports are corroborated by the unit's own usage figures; no warrant covers mass collection.",
        None,
    )
    .await?;
    core.set_case_status(&analyst, &case.id, CaseStatus::Decided, Some("order approved; appeal upheld")).await?;
    clock.set_offset(0);
    Ok(proposed.id)
}

fn evaluation(subscription: &str, service: &str, action: &str) -> String {
    serde_json::json!({
        "subject": {"type": "gateway", "id": "gw-westeurope-1"},
        "resource": {"type": "service", "id": service, "properties": {"subscription": subscription}},
        "action": {"name": action}
    })
    .to_string()
}

fn guide(addr: SocketAddr, dir: &Path, vkey: &str, order: Option<&str>, order_entry: Option<u64>) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let base = format!("http://{addr}");
    let pep = dir.join("pep.token");
    let admin = dir.join("admin.token");
    let _ = writeln!(out, "verdict demo listening on {base}");
    let _ = writeln!(out, "Public transparency pages (no sign-in): {base}/transparency and {base}/transparency/log");
    let _ = writeln!(
        out,
        "The console: {base}/console — sign in with a demo person's token, e.g. mod-legal (the ministry's lawyer, \
         reads the notice and appeals) from {}; also analyst, approver-a, approver-b, reviewer, auditor",
        dir.join("tokens").join("mod-legal.token").display()
    );
    let _ = writeln!(out);
    let _ = writeln!(out, "Tokens: {} (decisions) and {} (management), mode 0600.", pep.display(), admin.display());
    let _ = writeln!(
        out,
        "Order AUP-2 covers ministry-of-defense/intelligence/signals: storage.* and ai.* are export-only now,"
    );
    let _ = writeln!(out, "disabled in 6 days; security.* is exempt; other units and tenants are untouched.");
    let _ = writeln!(out);
    let _ = writeln!(out, "  TOKEN=$(cat {})", pep.display());
    let examples = [
        ("an allowed read (the customer can still take its data out)", "sig-archive-nl", "storage.blob", "get-blob"),
        ("a denied write", "sig-archive-nl", "storage.blob", "put-blob"),
        ("a denied AI invocation", "sig-ai", "ai.speech-to-text", "transcribe"),
        ("an exempt security.* call in the same tenant", "cyber-ops", "security.defender", "scan"),
        ("an untouched unit", "log-erp", "compute.vm", "create-vm"),
    ];
    for (what, sub, service, action) in examples {
        let _ = writeln!(out);
        let _ = writeln!(out, "# {what}");
        let _ = writeln!(
            out,
            "  curl -s {base}/access/v1/evaluation -H \"Authorization: Bearer $TOKEN\" -H 'Content-Type: application/json' -d '{}'",
            evaluation(sub, service, action)
        );
    }
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "# the same denial as nginx auth_request sees it (403 with X-Verdict-Order and X-Verdict-Reason)"
    );
    let _ = writeln!(
        out,
        "  curl -si {base}/authz/nginx -H \"Authorization: Bearer $TOKEN\" -H 'X-Verdict-Subscription: sig-archive-nl' -H 'X-Verdict-Service: storage.blob' -H 'X-Verdict-Action: put-blob'"
    );
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "# an enforcement point beside a gateway: it replicates this server and answers the same, locally"
    );
    let _ = writeln!(out, "  verdict pep --server {base} --token-file {} --listen 127.0.0.1:8751 &", pep.display());
    let _ = writeln!(
        out,
        "  curl -si 127.0.0.1:8751/authz/nginx -H 'X-Verdict-Subscription: sig-archive-nl' -H 'X-Verdict-Service: storage.blob' -H 'X-Verdict-Action: put-blob'"
    );
    let _ = writeln!(out);
    let _ = writeln!(out, "# the orders (admin token)");
    let _ = writeln!(out, "  curl -s {base}/v1/orders -H \"Authorization: Bearer $(cat {})\"", admin.display());
    let people = dir.join("tokens");
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "# the story, played on a demo clock that started 5 days ago: the case with evidence, the order proposed by"
    );
    let _ = writeln!(
        out,
        "# analyst, approved by approver-a and approver-b, noticed to the tenant, appealed by mod-legal, upheld by reviewer"
    );
    let _ = writeln!(
        out,
        "  curl -s {base}/v1/cases -H \"Authorization: Bearer $(cat {}/auditor.token)\"",
        people.display()
    );
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "# the case began with verdict's own signal: the published AUP-2 detection rule (its text is in the log),"
    );
    let _ = writeln!(out, "# over two weeks of the unit's usage metadata, and what it fired on");
    let _ = writeln!(
        out,
        "  curl -s {base}/v1/rules/aup2-intercept-archive/versions/1 -H \"Authorization: Bearer $(cat {}/auditor.token)\"",
        people.display()
    );
    if let Some(order) = order {
        let _ = writeln!(out);
        let _ = writeln!(out, "# what the order cuts and spares, as the approvers saw it before approving");
        let _ = writeln!(
            out,
            "  curl -s {base}/v1/orders/{order}/preview -H \"Authorization: Bearer $(cat {}/approver-a.token)\"",
            people.display()
        );
    }
    let _ = writeln!(out);
    let _ = writeln!(out, "# the notices the tenant received, as its user mod-legal sees them");
    let _ = writeln!(
        out,
        "  curl -s {base}/v1/notices -H \"Authorization: Bearer $(cat {}/mod-legal.token)\"",
        people.display()
    );
    let _ = writeln!(out);
    let _ = writeln!(out, "# the transparency report");
    let _ = writeln!(
        out,
        "  curl -s {base}/v1/reports/transparency -H \"Authorization: Bearer $(cat {}/auditor.token)\"",
        people.display()
    );
    let _ = writeln!(out);
    let _ = writeln!(out, "# the public transparency log: verify all of it as a monitor would (no token needed;");
    let _ = writeln!(out, "# `verdict` is `cargo run --release --` from a checkout)");
    let _ = writeln!(out, "  verdict log verify --url {base}/log --key {vkey} --state monitor.json");
    if let Some(index) = order_entry {
        let _ = writeln!(out);
        let _ = writeln!(out, "# the order's receipt, verified offline");
        let _ = writeln!(
            out,
            "  curl -s {base}/log/receipt/{index} > order.tlog-proof && verdict log verify-receipt order.tlog-proof --key {vkey}"
        );
    }
    let _ = writeln!(out);
    out
}

/// `verdict demo`.
pub async fn demo(data: &Path, listen: &str) -> anyhow::Result<()> {
    // Bind first: a busy port must not leave a half-told story behind.
    let listener = serve::bind(listen).await?;
    let clock = Arc::new(ShiftedClock::new(0));
    let opened = serve::open_with_clock(data, None, None, clock.clone()).await?;
    if opened.core.snapshot().counts() == (0, 0, 0, 0) {
        let id = load_story(&opened.core, &clock, &opened.dir.root().join("tokens")).await?;
        eprintln!("played the demo story into {} on a demo clock that started 5 days ago (order {id})", data.display());
    } else {
        eprintln!("reusing the demo data in {} (delete it for a fresh start)", data.display());
    }
    let dir = opened.dir.root().to_owned();
    let vkey = opened.core.log_key().to_string();
    let newest = opened.core.orders(None, None, &verdict_store::Page { after: None, limit: 1 }).await?;
    let order_entry = newest.first().and_then(|o| o.log_index);
    let order = newest.first().map(|o| o.id.clone());
    serve::run(opened, listener, |addr| serve::say(&guide(addr, &dir, &vkey, order.as_deref(), order_entry))).await
}
