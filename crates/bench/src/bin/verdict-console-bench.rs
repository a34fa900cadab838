//! `verdict-console-bench`: how long the server takes to render each
//! console and public page, over real HTTP on loopback, with a tenant of
//! 100,000 subscriptions (paged views) and 10,000 cases; and, in headless
//! Chromium, how soon the order-drafting page is interactive and how soon
//! its preview is redrawn after a change.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use verdict_bench::number_arg as arg;
use verdict_control::{Actor, Core, Principal, SigningKey};
use verdict_model::{Inventory, Role, Timestamp, User};
use verdict_server::{AppState, Tokens};
use verdict_store::SqliteStore;

const TENANT: &str = "ministry-of-defense";

/// The tenant: `units` units under `intelligence/` and `logistics/`, with
/// `subscriptions` subscriptions spread over them.
fn tenant(subscriptions: usize, units: usize) -> Inventory {
    let unit = |u: usize| if u.is_multiple_of(2) { format!("intelligence/u{u}") } else { format!("logistics/u{u}") };
    let subs: Vec<_> = (0..subscriptions)
        .map(|s| {
            json!({"id": format!("sub-{s:06}"), "tenant": TENANT, "unit": unit(s % units),
                "services": ["storage.blob", "ai.speech-to-text", "security.defender"], "region": "westeurope"})
        })
        .collect();
    serde_json::from_value(json!({"tenants": [{"id": TENANT, "kind": "government"}], "subscriptions": subs}))
        .expect("a valid inventory")
}

fn person(name: &str, role: Role, tenant: Option<&str>) -> Principal {
    Principal { name: name.into(), roles: vec![role], tenant: tenant.map(str::to_owned), scope: None }
}

async fn add_user(core: &Core, name: &str, role: Role, tenant: Option<&str>) -> anyhow::Result<String> {
    let user = User {
        name: name.into(),
        roles: vec![role],
        tenant: tenant.map(str::to_owned),
        scope: None,
        created_at: Default::default(),
        revoked_at: None,
    };
    let token = core.add_user(&Actor::admin(), user).await?.1;
    Ok(core.open_session(name, &token, Duration::from_secs(3600)).await?.0)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn ms(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64() * 1e3)
}

/// One page to time: a label, the session to send, GET or POST with a form.
struct Probe {
    label: &'static str,
    path: String,
    session: Option<String>,
    form: Option<Vec<(String, String)>>,
}

async fn time(http: &reqwest::Client, base: &str, probe: &Probe, n: usize) -> anyhow::Result<(Vec<Duration>, usize)> {
    let mut times = Vec::with_capacity(n);
    let mut bytes = 0;
    for i in 0..n + n / 10 {
        let mut request = match &probe.form {
            None => http.get(format!("{base}{}", probe.path)),
            Some(form) => http.post(format!("{base}{}", probe.path)).form(form),
        };
        if let Some(session) = &probe.session {
            request = request.header("cookie", format!("verdict_session={session}"));
        }
        let start = Instant::now();
        let response = request.send().await?;
        let status = response.status();
        let body = response.bytes().await?;
        let took = start.elapsed();
        anyhow::ensure!(status.is_success(), "{} answered {status}: {}", probe.path, String::from_utf8_lossy(&body));
        // The first tenth warms caches and is not counted.
        if i >= n / 10 {
            times.push(took);
            bytes = body.len();
        }
    }
    times.sort_unstable();
    Ok((times, bytes))
}

/// The `_csrf` value of a page's first form.
fn csrf(page: &str) -> String {
    page.split("name=\"_csrf\" value=\"").nth(1).and_then(|s| s.split('"').next()).unwrap_or_default().to_owned()
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let subscriptions = arg(&args, "--subscriptions", 100_000)?;
    let cases = arg(&args, "--cases", 10_000)?;
    let n = arg(&args, "--requests", 200)?.max(10);
    let browser_rounds = arg(&args, "--browser-rounds", 20)?;

    let dir = tempfile::tempdir()?;
    let store = Arc::new(SqliteStore::open(&dir.path().join("verdict.db")).await?);
    let core = Arc::new(Core::open(store, SigningKey::generate("verdict.bench/log")?).await?);
    eprintln!("loading a tenant of {subscriptions} subscriptions and {cases} cases…");
    let loading = Instant::now();
    core.import(&Actor::admin(), tenant(subscriptions, 100), &|_| ()).await?;
    let clause = serde_json::from_value(json!({"id": "AUP-2", "title": "No mass surveillance of civilians",
        "text": "The customer shall not use the services to facilitate mass surveillance of civilians."}))?;
    core.publish_clause(&Principal::admin(), clause).await?;
    let analyst = person("analyst-1", Role::Analyst, None);
    let mut first_case = String::new();
    for i in 0..cases {
        let unit = if i.is_multiple_of(2) { "intelligence/u0" } else { "logistics/u1" };
        let source = ["third_party_report", "complaint", "legal_order", "internal_signal"][i % 4];
        let spec = serde_json::from_value(json!({"tenant": TENANT, "source_type": source,
            "title": format!("Case {i}: reported use of storage"), "units": [unit], "clauses": ["AUP-2"]}))?;
        let case = core.open_case(&analyst, spec).await?;
        if i == 0 {
            first_case = case.id;
        }
    }
    // An order proposed over one unit (1,000 subscriptions), and one in
    // force over another, with its notice.
    let now = Timestamp::now();
    let spec = |unit: &str| -> anyhow::Result<verdict_model::OrderSpec> {
        Ok(serde_json::from_value(json!({"tenant": TENANT, "clause": "AUP-2", "title": format!("Suspend {unit}"),
            "case_id": first_case, "scope": {"units": [unit]}, "services": ["storage.*", "ai.*"],
            "exempt": ["security.*"], "phases": [{"mode": "notice", "start": now},
                {"mode": "export_only", "start": now.plus(2 * 86_400)}, {"mode": "disabled", "start": now.plus(9 * 86_400)}]}))?)
    };
    let proposed = core.propose_order(&analyst, spec("intelligence/u2")?).await?;
    let in_force = core.propose_order(&analyst, spec("intelligence/u4")?).await?;
    for approver in ["approver-a", "approver-b"] {
        let hash = core.preview_order(&in_force.id).await?.hash;
        core.approve_order(&person(approver, Role::Approver, None), &in_force.id, Some(&hash), &[]).await?;
    }
    let notice = core.notices(Some(TENANT)).await?.pop().expect("the order's notice");
    eprintln!("loaded in {:.1} s", loading.elapsed().as_secs_f64());

    let analyst_session = add_user(&core, "analyst-1", Role::Analyst, None).await?;
    let approver_session = add_user(&core, "approver-c", Role::Approver, None).await?;
    let auditor_session = add_user(&core, "auditor", Role::Auditor, None).await?;
    let tenant_session = add_user(&core, "mod-legal", Role::Tenant, Some(TENANT)).await?;
    let state = Arc::new(AppState::new(core.clone(), Tokens { admin: "admin".into(), pep: "pep".into() }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, verdict_server::router(state)).await });
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build()?;

    let draft = format!("/console/cases/{first_case}/draft");
    let page = http.get(format!("{base}{draft}")).header("cookie", format!("verdict_session={analyst_session}"));
    let token = csrf(&page.send().await?.text().await?);
    let draft_form: Vec<(String, String)> = [
        ("_csrf", token.as_str()),
        ("title", "Suspend the unit"),
        ("clause", "AUP-2"),
        ("unit", "intelligence/u0"),
        ("service", "storage.*"),
        ("service", "ai.*"),
        ("exempt", "security.*"),
        ("notice_days", "0"),
        ("export_only_days", "2"),
        ("disabled_days", "9"),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect();
    let log_size = core.checkpoint().checkpoint.size;
    let s = |session: &String| Some(session.clone());
    let probes = vec![
        Probe { label: "transparency report (public)", path: "/transparency".into(), session: None, form: None },
        Probe { label: "log explorer, newest page", path: "/transparency/log".into(), session: None, form: None },
        Probe { label: "log entry", path: format!("/transparency/log/{}", log_size - 1), session: None, form: None },
        Probe {
            label: "case queue, page 1 of all",
            path: "/console/cases".into(),
            session: s(&analyst_session),
            form: None,
        },
        Probe {
            label: "case queue, page 150",
            path: "/console/cases?page=150".into(),
            session: s(&analyst_session),
            form: None,
        },
        Probe {
            label: "case queue, filtered",
            path: format!("/console/cases?tenant={TENANT}&status=open&source=complaint&page=20"),
            session: s(&analyst_session),
            form: None,
        },
        Probe { label: "case", path: format!("/console/cases/{first_case}"), session: s(&analyst_session), form: None },
        Probe { label: "draft an order (form)", path: draft.clone(), session: s(&analyst_session), form: None },
        Probe {
            label: "draft preview panel, unit of 1,000",
            path: format!("{draft}/preview"),
            session: s(&analyst_session),
            form: Some(draft_form),
        },
        Probe { label: "approval queue", path: "/console/approvals".into(), session: s(&approver_session), form: None },
        Probe {
            label: "proposed order with preview (1,000 of 100,000)",
            path: format!("/console/orders/{}", proposed.id),
            session: s(&approver_session),
            form: None,
        },
        Probe {
            label: "operations: replicas",
            path: "/console/operations".into(),
            session: s(&auditor_session),
            form: None,
        },
        Probe {
            label: "operations: orders in force",
            path: "/console/operations/orders".into(),
            session: s(&auditor_session),
            form: None,
        },
        Probe {
            label: "inventory of 100,000, page 1",
            path: format!("/console/operations/inventory/{TENANT}"),
            session: s(&auditor_session),
            form: None,
        },
        Probe {
            label: "inventory of 100,000, page 2,000",
            path: format!("/console/operations/inventory/{TENANT}?page=2000"),
            session: s(&auditor_session),
            form: None,
        },
        Probe {
            label: "inventory of 100,000, search",
            path: format!("/console/operations/inventory/{TENANT}?q=sub-0999&unit=logistics"),
            session: s(&auditor_session),
            form: None,
        },
        Probe {
            label: "tenant: notices and orders",
            path: "/console/notices".into(),
            session: s(&tenant_session),
            form: None,
        },
        Probe {
            label: "tenant: notice",
            path: format!("/console/notices/{}", notice.id),
            session: s(&tenant_session),
            form: None,
        },
        Probe {
            label: "tenant: log records",
            path: "/console/records".into(),
            session: s(&tenant_session),
            form: None,
        },
    ];
    println!("Server render time per page, {n} sequential requests each over loopback (the first tenth not counted):");
    println!();
    println!("| page | p50 ms | p99 ms | bytes | p99 ≤ 50 ms |");
    println!("|---|---|---|---|---|");
    for probe in &probes {
        let (times, bytes) = time(&http, &base, probe, n).await?;
        let p99 = percentile(&times, 0.99);
        let ok = if p99 <= Duration::from_millis(50) { "✅" } else { "❌" };
        println!("| {} | {} | {} | {bytes} | {ok} |", probe.label, ms(percentile(&times, 0.5)), ms(p99));
    }

    if browser_rounds > 0 {
        match verdict_browser::Browser::start().await {
            None => eprintln!("no chromedriver/chromium here: the browser figures are skipped"),
            Some(browser) => browser_figures(&browser, &base, &core, &draft, browser_rounds).await?,
        }
    }
    Ok(())
}

/// Time to interactive of the drafting page (navigation start to the end
/// of DOMContentLoaded, by which `draft.js`, deferred, has run and armed
/// the form), and the time from ticking a service to the redrawn preview.
async fn browser_figures(
    browser: &verdict_browser::Browser,
    base: &str,
    core: &Core,
    draft: &str,
    rounds: usize,
) -> anyhow::Result<()> {
    let token = {
        let user = User {
            name: "analyst-browser".into(),
            roles: vec![Role::Analyst],
            tenant: None,
            scope: None,
            created_at: Default::default(),
            revoked_at: None,
        };
        core.add_user(&Actor::admin(), user).await?.1
    };
    browser.goto(&format!("{base}/console/sign-in")).await;
    browser.find("#token").await.type_text(&format!("{token}{}", verdict_browser::ENTER)).await;
    browser.wait_for("signed in", "return location.pathname === '/console'").await;
    let mut interactive = Vec::new();
    let mut redraw = Vec::new();
    for _ in 0..rounds {
        browser.goto(&format!("{base}{draft}")).await;
        browser.wait_for("armed", "return document.querySelector('form[data-live=on]') !== null").await;
        let tti = browser
            .execute(
                "const n = performance.getEntriesByType('navigation')[0]; return n.domContentLoadedEventEnd;",
                vec![],
            )
            .await;
        interactive.push(Duration::from_secs_f64(tti.as_f64().unwrap_or_default() / 1e3));
        let took = browser
            .execute_async(
                "const done = arguments[arguments.length - 1]; const start = performance.now(); \
                 document.querySelector(\"input[name=service][value='storage.*']\").click(); \
                 const wait = () => { const p = document.getElementById('preview-panel'); \
                   if (p.getAttribute('data-drawn') && p.querySelector('[data-preview-hash]')) done(performance.now() - start); \
                   else setTimeout(wait, 5); }; wait();",
                vec![],
            )
            .await;
        redraw.push(Duration::from_secs_f64(took.as_f64().unwrap_or_default() / 1e3));
    }
    interactive.sort_unstable();
    redraw.sort_unstable();
    println!();
    println!("The drafting page in headless Chromium, {rounds} loads:");
    println!();
    println!("| measure | median ms | max ms |");
    println!("|---|---|---|");
    println!(
        "| time to interactive (DOMContentLoaded end, draft.js armed) | {} | {} |",
        ms(percentile(&interactive, 0.5)),
        ms(*interactive.last().unwrap())
    );
    println!(
        "| tick a service → preview redrawn (250 ms debounce + request + swap) | {} | {} |",
        ms(percentile(&redraw, 0.5)),
        ms(*redraw.last().unwrap())
    );
    Ok(())
}
