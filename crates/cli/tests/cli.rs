//! The `verdict` binary as a user runs it: demo, serve, check, import and
//! order commands, in temporary data directories on port 0.

use std::io::{BufRead, BufReader};
use std::process::Stdio;

use serde_json::{Value, json};

mod common;

use common::{post, run, start, token, verdict};

#[test]
fn help_reads_well() {
    let out = run(&["--help"]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for word in ["serve", "demo", "check", "import", "order", "log", "Acceptable-use enforcement"] {
        assert!(text.contains(word), "--help lacks {word}:\n{text}");
    }
    let out = run(&["order", "--help"]);
    let text = String::from_utf8_lossy(&out.stdout);
    for word in ["create", "list", "show", "lift"] {
        assert!(text.contains(word), "order --help lacks {word}:\n{text}");
    }
}

#[test]
fn demo_answers_the_decisions_it_advertises_and_is_reused() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("demo");
    let data_arg = data.to_str().unwrap();
    let demo = start(&["demo", "--listen", "127.0.0.1:0", "--data", data_arg]);
    let guide = demo.stdout.join("\n");
    assert!(guide.contains("pep.token") && guide.contains("curl"), "{guide}");
    // The public pages it advertises show the story's log.
    let pages = format!("{}/transparency/log", demo.base);
    assert!(guide.contains(&pages), "{guide}");
    assert!(guide.contains(&format!("{}/console", demo.base)) && guide.contains("mod-legal.token"), "{guide}");
    let explorer = reqwest::blocking::get(&pages).unwrap().text().unwrap();
    assert!(explorer.contains("order.approved") && explorer.contains("notice.issued"), "{explorer}");
    let pep = token(&data, "pep");
    let ask = |sub: &str, service: &str, action: &str| {
        let body = json!({
            "subject": {"type": "gateway", "id": "gw"},
            "resource": {"type": "service", "id": service, "properties": {"subscription": sub}},
            "action": {"name": action}
        });
        post(&demo.base, "/access/v1/evaluation", &pep, &body)
    };
    // Each advertised curl body, replayed.
    let advertised: Vec<Value> = demo
        .stdout
        .iter()
        .filter_map(|l| l.split_once("-d '").map(|(_, rest)| rest.trim_end_matches('\'').to_owned()))
        .map(|body| serde_json::from_str(&body).unwrap())
        .collect();
    assert_eq!(advertised.len(), 5, "{guide}");
    let answers: Vec<bool> = advertised
        .iter()
        .map(|b| post(&demo.base, "/access/v1/evaluation", &pep, b)["decision"].as_bool().unwrap())
        .collect();
    assert_eq!(answers, vec![true, false, false, true, true]);
    let read = ask("sig-archive-nl", "storage.blob", "get-blob");
    assert_eq!(read["context"]["phase"], "export_only");
    let write = ask("sig-archive-nl", "storage.blob", "put-blob");
    assert_eq!(
        (write["context"]["clause"].clone(), write["context"]["next_phase"]["mode"].clone()),
        (json!("AUP-2"), json!("disabled"))
    );
    let order = write["context"]["order"].as_str().unwrap().to_owned();
    let nginx = reqwest::blocking::Client::new()
        .get(format!("{}/authz/nginx", demo.base))
        .bearer_auth(&pep)
        .header("X-Verdict-Subscription", "sig-archive-nl")
        .header("X-Verdict-Service", "storage.blob")
        .header("X-Verdict-Action", "put-blob")
        .send()
        .unwrap();
    assert_eq!(nginx.status().as_u16(), 403);

    // The story went through due process: approved by two, noticed, appealed, upheld.
    let people = data.join("tokens");
    let bearer = |name: &str| std::fs::read_to_string(people.join(format!("{name}.token"))).unwrap().trim().to_owned();
    let get = |path: &str, who: &str| -> Value {
        reqwest::blocking::Client::new()
            .get(format!("{}{path}", demo.base))
            .bearer_auth(bearer(who))
            .send()
            .unwrap()
            .json()
            .unwrap()
    };
    let order_view = get(&format!("/v1/orders/{order}"), "auditor");
    assert_eq!(order_view["state"], "approved");
    let approvers: Vec<&str> =
        order_view["approvals"].as_array().unwrap().iter().map(|a| a["by"].as_str().unwrap()).collect();
    assert_eq!(approvers, ["approver-a", "approver-b"]);
    let notices = get("/v1/notices", "mod-legal");
    let kinds: Vec<&str> = notices.as_array().unwrap().iter().map(|n| n["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["appeal_outcome", "restriction"]);
    let appeals = get("/v1/appeals", "mod-legal");
    assert_eq!(appeals[0]["decision"]["outcome"], "uphold");
    // The story began with verdict's own signal: the published AUP-2 rule,
    // over the unit's usage metadata, opened the case the order came from.
    let cases = get("/v1/cases", "auditor");
    let case = &cases.as_array().unwrap()[0];
    assert_eq!(
        (case["source_type"].as_str(), case["opened_by"].as_str()),
        (Some("internal_signal"), Some("verdict-detection"))
    );
    assert_eq!(order_view["case_id"], case["id"]);
    let rule = get("/v1/rules/aup2-intercept-archive/versions/1", "auditor");
    assert_eq!(rule["rule"]["state"], "active");
    assert!(
        rule["hits"]
            .as_array()
            .unwrap()
            .iter()
            .any(|h| h["target"] == "intelligence/signals" && h["case"] == case["id"])
    );
    assert!(guide.contains("/v1/rules/aup2-intercept-archive/versions/1"), "{guide}");
    let statement = &notices.as_array().unwrap().iter().find(|n| n["kind"] == "restriction").unwrap()["statement"];
    assert_eq!(
        (statement["automated_detection"].as_bool(), statement["automated_decision"].as_bool()),
        (Some(true), Some(false))
    );
    let preview = get(&format!("/v1/orders/{order}/preview"), "approver-a");
    assert_eq!(preview["summary"]["affected_subscriptions"], 2, "{preview}");
    assert!(guide.contains(&format!("/v1/orders/{order}/preview")), "{guide}");
    for name in ["analyst", "approver-a", "approver-b", "reviewer", "auditor", "mod-legal"] {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(people.join(format!("{name}.token"))).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{name}.token");
    }

    // The advertised log commands, run as printed: the demo's story is in
    // a log that verifies from scratch, and the order has a receipt.
    let line = |prefix: &str| {
        demo.stdout.iter().map(|l| l.trim()).find(|l| l.starts_with(prefix)).unwrap_or_else(|| panic!("{guide}"))
    };
    let verify: Vec<&str> = line("verdict log verify ").split_whitespace().skip(1).collect();
    let out = verdict().current_dir(dir.path()).args(&verify).output().unwrap();
    assert!(out.status.success(), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("verified "), "{out:?}");
    let receipt_line =
        demo.stdout.iter().map(|l| l.trim()).find(|l| l.contains("/log/receipt/")).unwrap_or_else(|| panic!("{guide}"));
    let url = receipt_line.split_whitespace().nth(2).unwrap();
    let key = receipt_line.split_whitespace().last().unwrap();
    std::fs::write(dir.path().join("order.tlog-proof"), reqwest::blocking::get(url).unwrap().text().unwrap()).unwrap();
    let out = verdict()
        .current_dir(dir.path())
        .args(["log", "verify-receipt", "order.tlog-proof", "--key", key])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("order.proposed"), "{out:?}");

    // The advertised sidecar, as printed (on port 0 here), answers the
    // advertised denial locally.
    let mut sidecar: Vec<String> =
        line("verdict pep ").split_whitespace().skip(1).filter(|w| *w != "&").map(str::to_owned).collect();
    let listen = sidecar.iter().position(|w| w == "--listen").unwrap();
    sidecar[listen + 1] = "127.0.0.1:0".to_owned();
    let sidecar = start(&sidecar.iter().map(String::as_str).collect::<Vec<_>>());
    let nginx_line = demo.stdout.iter().map(|l| l.trim()).find(|l| l.starts_with("curl -si 127.0.0.1:8751")).unwrap();
    let headers: Vec<(&str, &str)> =
        nginx_line.split(" -H '").skip(1).map(|h| h.trim_end_matches('\'').split_once(": ").unwrap()).collect();
    let mut request = reqwest::blocking::Client::new().get(format!("{}/authz/nginx", sidecar.base));
    for (name, value) in headers {
        request = request.header(name, value);
    }
    let answer = request.send().unwrap();
    assert_eq!(answer.status().as_u16(), 403);
    assert_eq!(answer.headers()["x-verdict-order"].to_str().unwrap(), order);
    drop(sidecar);
    drop(demo);

    // Started again on the same directory: reused, same order, nothing added.
    let again = start(&["demo", "--listen", "127.0.0.1:0", "--data", data_arg]);
    let write = post(
        &again.base,
        "/access/v1/evaluation",
        &pep,
        &json!({
            "subject": {"type": "gateway", "id": "gw"},
            "resource": {"type": "service", "id": "storage.blob", "properties": {"subscription": "sig-archive-nl"}},
            "action": {"name": "put-blob"}
        }),
    );
    assert_eq!(write["context"]["order"], order.as_str());
    let orders: Value = reqwest::blocking::Client::new()
        .get(format!("{}/v1/orders", again.base))
        .bearer_auth(token(&data, "admin"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(orders["items"].as_array().unwrap().len(), 1);
}

#[test]
fn import_check_and_orders_from_the_shell() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let data_arg = data.to_str().unwrap();
    let file = dir.path().join("inventory.ndjson");
    std::fs::write(
        &file,
        "{\"type\":\"tenant\",\"id\":\"mod\",\"kind\":\"government\"}\n\
         {\"type\":\"subscription\",\"id\":\"sig\",\"tenant\":\"mod\",\"unit\":\"intel/signals\",\"services\":[\"storage.blob\"]}\n\
         {\"type\":\"subscription\",\"id\":\"ops\",\"tenant\":\"mod\",\"unit\":\"cyber\",\"services\":[\"storage.blob\"]}\n",
    )
    .unwrap();
    let out = run(&["import", file.to_str().unwrap(), "--data", data_arg]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let summary = String::from_utf8_lossy(&out.stdout);
    assert!(summary.contains("1 tenants created") && summary.contains("2 subscriptions created"), "{summary}");

    // A bad file: exit 2, a message naming the line, nothing imported.
    let bad = dir.path().join("bad.ndjson");
    std::fs::write(&bad, "{\"type\":\"tenant\",\"id\":\"x\",\"kind\":\"government\"}\n{\"type\":\"unit\",\"tenant\":\"x\",\"path\":\"a//b\"}\n").unwrap();
    let out = run(&["import", bad.to_str().unwrap(), "--data", data_arg]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("line 2") && err.contains("a//b") && err.contains("nothing was imported"), "{err}");

    let out = run(&["check", "sig", "storage.blob", "put-blob", "--data", data_arg]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("ALLOW: allowed: no order"));

    let server = start(&["serve", "--listen", "127.0.0.1:0", "--data", data_arg]);
    // While a server holds the directory, an offline import is refused.
    let out = run(&["import", file.to_str().unwrap(), "--data", data_arg]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("a verdict server is running"));

    let order_file = dir.path().join("order.json");
    std::fs::write(
        &order_file,
        json!({
            "tenant": "mod", "clause": "AUP-2", "scope": {"units": ["intel"]},
            "services": ["storage.*"], "phases": [{"mode": "disabled", "start": "2020-01-01T00:00:00Z"}]
        })
        .to_string(),
    )
    .unwrap();
    let remote = ["--server", &server.base, "--data", data_arg];
    let out = run(&[&["order", "create", "--direct", order_file.to_str().unwrap()][..], &remote[..]].concat());
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let created: Value = serde_json::from_slice(&out.stdout).unwrap();
    let id = created["id"].as_str().unwrap().to_owned();

    let out = run(&["check", "sig", "storage.blob", "get-blob", "--server", &server.base, "--data", data_arg]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).starts_with(&format!("DENY: denied: order {id}")));
    let out = run(&["check", "ops", "storage.blob", "get-blob", "--data", data_arg, "--json"]);
    assert_eq!(out.status.code(), Some(0));
    let answer: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(answer["context"]["code"], "no-order");

    let out = run(&[&["order", "list"][..], &remote[..]].concat());
    let listing = String::from_utf8_lossy(&out.stdout);
    assert!(listing.contains(&id) && listing.contains("disabled"), "{listing}");
    let out = run(&[&["order", "show", &id][..], &remote[..]].concat());
    assert!(out.status.success());
    let out = run(&[&["order", "lift", &id, "--reason", "appeal upheld"][..], &remote[..]].concat());
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = run(&[&["order", "lift", &id, "--reason", "again"][..], &remote[..]].concat());
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("order-already-lifted"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = run(&[&["order", "show", "ord-nope"][..], &remote[..]].concat());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown-order"));
    drop(server);
}

#[test]
fn serve_writes_private_tokens_and_never_prints_them() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut child = verdict()
        .args(["serve", "--listen", "127.0.0.1:0", "--data", data.to_str().unwrap()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap()).lines();
    let line = stdout.next().expect("a line").unwrap();
    assert!(line.starts_with("verdict listening on http://127.0.0.1:"), "{line}");
    child.kill().unwrap();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    for name in ["admin", "pep"] {
        let path = data.join(format!("{name}.token"));
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{name}.token mode");
        assert!(stderr.contains(path.to_str().unwrap()), "the server says where the {name} token is: {stderr}");
        assert!(!stderr.contains(&token(&data, name)), "the {name} token leaked into the log");
        assert!(!line.contains(&token(&data, name)));
    }
    // The log's signing key: private, never printed; its verifier key is.
    let key_file = data.join("log.key");
    assert_eq!(std::fs::metadata(&key_file).unwrap().permissions().mode() & 0o777, 0o600, "log.key mode");
    let seed = std::fs::read_to_string(&key_file).unwrap().lines().nth(1).unwrap().to_owned();
    assert!(!stderr.contains(&seed), "the log's signing key leaked into the log");
    assert!(stderr.contains("verifier key"), "{stderr}");
}

#[test]
fn demo_and_serve_on_a_busy_port_fail_before_writing_anything() {
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = busy.local_addr().unwrap().to_string();
    let dir = tempfile::tempdir().unwrap();
    for command in ["demo", "serve"] {
        let data = dir.path().join(command);
        let out = run(&[command, "--listen", &address, "--data", data.to_str().unwrap()]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{command} on a busy port succeeded");
        assert!(stderr.contains(&format!("cannot listen on {address}")), "{command}: {stderr}");
        assert!(!data.exists(), "{command} wrote {} before failing to bind", data.display());
    }
}
