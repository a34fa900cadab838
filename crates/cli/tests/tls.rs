//! HTTPS end to end, with a private CA made for the test: `verdict serve
//! --tls-cert/--tls-key`, and every client verdict ships — `verdict log
//! verify`, `verdict pep`, the CLI's `--server` — trusting it with
//! `--ca-file`; a client given another CA refuses the server and says why.

mod common;

use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;

use common::{run, start, verdict};
use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair, SanType};

/// A CA (certificate PEM, with its key kept for signing).
struct Ca {
    cert: rcgen::Certificate,
    key: KeyPair,
}

fn ca(name: &str) -> Ca {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(rcgen::DnType::CommonName, name);
    let key = KeyPair::generate().unwrap();
    Ca { cert: params.self_signed(&key).unwrap(), key }
}

/// Writes a server certificate for 127.0.0.1 and localhost signed by `ca`;
/// returns (certificate file, key file).
fn server_certificate(dir: &Path, ca: &Ca) -> (String, String) {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.subject_alt_names =
        vec![SanType::DnsName("localhost".try_into().unwrap()), SanType::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST))];
    let key = KeyPair::generate().unwrap();
    let cert = params.signed_by(&key, &ca.cert, &ca.key).unwrap();
    let (cert_path, key_path) = (dir.join("server.pem"), dir.join("server.key"));
    std::fs::write(&cert_path, cert.pem()).unwrap();
    std::fs::write(&key_path, key.serialize_pem()).unwrap();
    (cert_path.display().to_string(), key_path.display().to_string())
}

fn text(out: &std::process::Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

#[test]
fn every_client_speaks_https_to_a_server_with_a_private_ca_and_refuses_another_ca() {
    let tmp = tempfile::tempdir().unwrap();
    let (trusted, other) = (ca("verdict test CA"), ca("someone else's CA"));
    let trusted_pem = tmp.path().join("ca.pem");
    let other_pem = tmp.path().join("other-ca.pem");
    std::fs::write(&trusted_pem, trusted.cert.pem()).unwrap();
    std::fs::write(&other_pem, other.cert.pem()).unwrap();
    let (cert, key) = server_certificate(tmp.path(), &trusted);
    let data = tmp.path().join("data");
    let data_arg = data.display().to_string();

    // A certificate that is not one is refused before anything is opened.
    let out = run(&["serve", "--data", &data_arg, "--listen", "127.0.0.1:0", "--tls-cert", &key, "--tls-key", &key]);
    assert!(!out.status.success());
    assert!(text(&out).contains("cannot read the certificate chain from"), "{}", text(&out));
    assert!(!data.join("verdict.db").exists(), "nothing was created");

    let server =
        start(&["serve", "--data", &data_arg, "--listen", "127.0.0.1:0", "--tls-cert", &cert, "--tls-key", &key]);
    assert!(server.base.starts_with("https://127.0.0.1:"), "{}", server.base);
    let base = server.base.clone();
    let ca_arg = trusted_pem.display().to_string();

    // The CLI's --server, through HTTPS.
    let inventory = tmp.path().join("inventory.json");
    std::fs::write(
        &inventory,
        r#"{"tenants":[{"id":"mod","kind":"government"}],"subscriptions":[{"id":"sig","tenant":"mod","unit":"signals","services":["storage.blob"]}]}"#,
    )
    .unwrap();
    let inventory_arg = inventory.display().to_string();
    let out = run(&["import", &inventory_arg, "--server", &base, "--data", &data_arg, "--ca-file", &ca_arg]);
    assert!(out.status.success(), "{}", text(&out));
    let out = run(&[
        "import",
        &inventory_arg,
        "--server",
        &base,
        "--data",
        &data_arg,
        "--ca-file",
        &other_pem.display().to_string(),
    ]);
    assert!(!out.status.success(), "another CA must not be trusted");
    assert!(text(&out).to_lowercase().contains("certificate"), "the refusal says why: {}", text(&out));

    // The public log, verified over HTTPS; refused under another CA.
    let key_out = run(&["log", "key", "--data", &data_arg]);
    let log_key = String::from_utf8(key_out.stdout).unwrap();
    let log_url = format!("{base}/log");
    let verify = |ca: &Path| {
        verdict()
            .args(["log", "verify", "--url", &log_url, "--key", log_key.trim(), "--ca-file"])
            .arg(ca)
            .output()
            .unwrap()
    };
    let out = verify(&trusted_pem);
    assert!(out.status.success(), "{}", text(&out));
    let out = verify(&other_pem);
    assert!(!out.status.success());
    assert!(text(&out).to_lowercase().contains("certificate"), "{}", text(&out));
    // Without --ca-file only the system's roots are trusted: refused too.
    let out = verdict().args(["log", "verify", "--url", &log_url, "--key", log_key.trim()]).output().unwrap();
    assert!(!out.status.success(), "a private CA is not a system root");

    // A replica bootstraps and follows over HTTPS.
    let pep = start(&[
        "pep",
        "--server",
        &base,
        "--token-file",
        &data.join("pep.token").display().to_string(),
        "--ca-file",
        &ca_arg,
        "--listen",
        "127.0.0.1:0",
    ]);
    let health: serde_json::Value = reqwest::blocking::get(format!("{}/healthz", pep.base)).unwrap().json().unwrap();
    assert!(health["snapshot_version"].as_u64().unwrap() >= 1, "{health}");
    let answer: serde_json::Value = reqwest::blocking::Client::new()
        .post(format!("{}/access/v1/evaluation", pep.base))
        .json(&serde_json::json!({"subject": {"type": "gateway", "id": "t"},
            "resource": {"type": "service", "id": "storage.blob", "properties": {"subscription": "sig"}},
            "action": {"name": "put-blob"}}))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(answer["decision"], true, "{answer}");
    drop(pep);
    drop(server);
}
