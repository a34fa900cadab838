//! The DESIGN §1 story played from the shell, as a script would: users,
//! a clause, a case with evidence, an order proposed and approved by two,
//! the tenant's notice verified offline, an appeal decided, and the
//! transparency report.

mod common;

use std::path::Path;
use std::process::Output;

use common::{Running, run, start};
use serde_json::{Value, json};

fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "exit {:?}\nstdout: {}\nstderr: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).unwrap()
}

/// Runs `verdict ARGS --server … --token TOKEN` and returns stdout.
fn as_user(server: &Running, data: &Path, who: &str, args: &[&str]) -> String {
    let token = std::fs::read_to_string(data.join(format!("{who}.user-token"))).unwrap();
    let remote = ["--server", &server.base, "--token", token.trim()];
    ok(&run(&[args, &remote[..]].concat()))
}

fn json_of(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

#[test]
fn the_story_plays_from_the_shell() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let d = data.to_str().unwrap();
    let server = start(&["serve", "--data", d, "--listen", "127.0.0.1:0"]);
    let admin_remote = ["--server", server.base.as_str(), "--data", d];
    let inventory = tmp.path().join("inventory.json");
    std::fs::write(
        &inventory,
        json!({"tenants": [{"id": "ministry-of-defense", "kind": "government"}],
               "units": [{"tenant": "ministry-of-defense", "path": "intelligence/signals"}],
               "subscriptions": [{"id": "sig-archive-nl", "tenant": "ministry-of-defense",
                   "unit": "intelligence/signals", "services": ["storage.blob"], "region": "westeurope"}]})
        .to_string(),
    )
    .unwrap();
    ok(&run(&[&["import", inventory.to_str().unwrap()][..], &admin_remote[..]].concat()));
    for (name, roles, tenant) in [
        ("analyst", "analyst", None),
        ("approver-a", "approver", None),
        ("approver-b", "approver", None),
        ("reviewer", "reviewer", None),
        ("mod-legal", "tenant", Some("ministry-of-defense")),
    ] {
        let file = data.join(format!("{name}.user-token"));
        let mut args = vec!["user", "add", name, "--role", roles, "--token-file", file.to_str().unwrap()];
        if let Some(t) = tenant {
            args.extend(["--tenant", t]);
        }
        ok(&run(&[&args[..], &admin_remote[..]].concat()));
    }
    let gateway = data.join("gateway-eu.user-token");
    let gateway = gateway.to_str().unwrap();
    let scoped =
        ["user", "add", "gateway-eu", "--role", "pep", "--scope-region", "westeurope", "--token-file", gateway];
    ok(&run(&[&scoped[..], &admin_remote[..]].concat()));
    let users = ok(&run(&[&["user", "list"][..], &admin_remote[..]].concat()));
    assert!(users.contains("approver-b") && users.contains("mod-legal"), "{users}");
    let reviewer = users.lines().find(|l| l.starts_with("reviewer ")).unwrap_or_default();
    assert_eq!(reviewer.split_whitespace().nth(1), Some("reviewer"), "roles are listed: {users}");
    assert!(users.contains("tenants=* regions=westeurope"), "the gateway's scope is listed: {users}");
    ok(&run(&[
        &[
            "clause",
            "publish",
            "AUP-2",
            "--title",
            "No mass surveillance of civilians",
            "--text",
            "The customer shall not use the services to facilitate mass surveillance of civilians.",
        ][..],
        &admin_remote[..],
    ]
    .concat()));

    let case = json_of(&as_user(
        &server,
        &data,
        "analyst",
        &[
            "case",
            "open",
            "--tenant",
            "ministry-of-defense",
            "--source",
            "third_party_report",
            "--title",
            "Reported archive of intercepted calls",
            "--unit",
            "intelligence/signals",
            "--clause",
            "AUP-2",
        ],
    ));
    let case_id = case["id"].as_str().unwrap();
    let evidence = tmp.path().join("evidence.json");
    std::fs::write(
        &evidence,
        json!({"kind": "metadata_finding", "summary": "Storage grew 40x",
        "figures": {"stored_tib": 8000}, "method": "billing meters"})
        .to_string(),
    )
    .unwrap();
    as_user(&server, &data, "analyst", &["case", "evidence", case_id, evidence.to_str().unwrap()]);
    as_user(&server, &data, "analyst", &["case", "status", case_id, "under_review"]);
    let order_file = tmp.path().join("order.json");
    std::fs::write(
        &order_file,
        json!({"tenant": "ministry-of-defense", "clause": "AUP-2", "case_id": case_id,
        "scope": {"units": ["intelligence/signals"]}, "services": ["storage.*", "ai.*"], "exempt": ["security.*"],
        "phases": [{"mode": "notice", "start": "2026-01-01T00:00:00Z"},
                   {"mode": "export_only", "start": "2026-01-02T00:00:00Z"}]})
        .to_string(),
    )
    .unwrap();
    let order = json_of(&as_user(&server, &data, "analyst", &["order", "create", order_file.to_str().unwrap()]));
    let order_id = order["id"].as_str().unwrap();
    assert_eq!(order["state"], "proposed");
    as_user(&server, &data, "approver-a", &["order", "approve", order_id]);
    let approved = json_of(&as_user(&server, &data, "approver-b", &["order", "approve", order_id]));
    assert_eq!(approved["state"], "approved");

    // The tenant reads its notice and verifies its receipt offline.
    let notices = json_of(&as_user(&server, &data, "mod-legal", &["notice", "list"]));
    let notice_id = notices[0]["id"].as_str().unwrap();
    let receipt = as_user(&server, &data, "mod-legal", &["notice", "receipt", notice_id]);
    let receipt_file = tmp.path().join("notice.tlog-proof");
    std::fs::write(&receipt_file, receipt).unwrap();
    let vkey = ok(&run(&["log", "key", "--data", d])).trim().to_owned();
    let verified = ok(&run(&["log", "verify-receipt", receipt_file.to_str().unwrap(), "--key", &vkey]));
    assert!(verified.contains("notice.issued"), "{verified}");
    let dsa = json_of(&as_user(&server, &data, "mod-legal", &["notice", "dsa", notice_id]));
    assert_eq!(dsa["decision_provision"], "DECISION_PROVISION_PARTIAL_SUSPENSION");

    // Appealed, and upheld by the reviewer.
    let appeal = json_of(&as_user(
        &server,
        &data,
        "mod-legal",
        &["appeal", "file", order_id, "--statement", "The archive holds lawful intercepts only."],
    ));
    let decided = json_of(&as_user(
        &server,
        &data,
        "reviewer",
        &["appeal", "decide", appeal["id"].as_str().unwrap(), "uphold", "--reasons", "Corroborated by metadata."],
    ));
    assert_eq!(decided["appeal"]["decision"]["outcome"], "uphold");

    // A refusal from the shell is an error naming its code.
    let token_b = std::fs::read_to_string(data.join("approver-b.user-token")).unwrap();
    let out = run(&["order", "approve", order_id, "--server", &server.base, "--token", token_b.trim()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("order-not-proposed"));

    // The transparency report counts it all.
    let csv = as_user(&server, &data, "reviewer", &["report", "--format", "csv"]);
    for row in [
        "cases,total,,1",
        "orders,customer_kind,government,1",
        "suspensions,service_family,ai,1",
        "appeals,outcome,uphold,1",
        "cases,source,third_party_report,1",
    ] {
        assert!(csv.contains(row), "{row} missing from:\n{csv}");
    }
    let report = json_of(&as_user(&server, &data, "reviewer", &["report"]));
    assert!(report["medians"]["appeal_to_decision_seconds"].is_number(), "{report}");
    drop(server);
    ok(&run(&["log", "fsck", "--data", d]));
}
