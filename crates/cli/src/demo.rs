//! `verdict demo`: the DESIGN §1 case, live — the signals unit of a
//! government tenant in the export-only phase of an AUP-2 order.

use std::net::SocketAddr;
use std::path::Path;

use anyhow::Context;
use verdict_core::{Actor, Core};
use verdict_model::{Inventory, OrderSpec, Timestamp};

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

async fn load_story(core: &Core) -> anyhow::Result<String> {
    core.import(&Actor::admin(), inventory(), &|_| ()).await.context("cannot load the demo inventory")?;
    let (order, _) =
        core.create_order(&Actor::admin(), order(core.now())).await.context("cannot record the demo order")?;
    Ok(order.id)
}

fn evaluation(subscription: &str, service: &str, action: &str) -> String {
    serde_json::json!({
        "subject": {"type": "gateway", "id": "gw-westeurope-1"},
        "resource": {"type": "service", "id": service, "properties": {"subscription": subscription}},
        "action": {"name": action}
    })
    .to_string()
}

fn guide(addr: SocketAddr, dir: &Path, vkey: &str, order_entry: Option<u64>) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let base = format!("http://{addr}");
    let pep = dir.join("pep.token");
    let admin = dir.join("admin.token");
    let _ = writeln!(out, "verdict demo listening on {base}");
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
    let _ = writeln!(out, "# the orders (admin token)");
    let _ = writeln!(out, "  curl -s {base}/v1/orders -H \"Authorization: Bearer $(cat {})\"", admin.display());
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
    let opened = serve::open(data, None).await?;
    if opened.core.snapshot().counts() == (0, 0, 0, 0) {
        let id = load_story(&opened.core).await?;
        eprintln!("loaded the demo case into {} (order {id})", data.display());
    } else {
        eprintln!("reusing the demo data in {} (delete it for a fresh start)", data.display());
    }
    let dir = opened.dir.root().to_owned();
    let vkey = opened.core.log_key().to_string();
    let newest = opened.core.store().orders(None, &verdict_store::Page { after: None, limit: 1 }).await?;
    let order_entry = newest.first().and_then(|o| o.log_index);
    serve::run(opened, listen, |addr| serve::say(&guide(addr, &dir, &vkey, order_entry))).await
}
