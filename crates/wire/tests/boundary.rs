//! The crate boundaries ARCHITECTURE.md states, checked on the real
//! dependency graph (`cargo tree -e normal`): an enforcement point links no
//! database, and only the control plane and the binary open the store.

use std::process::Command;

/// The packages `package` links in normal builds (dev and build
/// dependencies excluded), optionally only its direct dependencies.
fn linked(package: &str, depth: Option<u32>) -> Vec<String> {
    let mut command = Command::new(env!("CARGO"));
    command.args(["tree", "--offline", "-e", "normal", "--prefix", "none", "--format", "{p}", "-p", package]);
    if let Some(depth) = depth {
        command.args(["--depth", &depth.to_string()]);
    }
    let out = command.current_dir(env!("CARGO_MANIFEST_DIR")).output().expect("cargo runs");
    assert!(out.status.success(), "cargo tree -p {package}: {}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).expect("cargo tree prints text");
    let names: Vec<String> =
        text.lines().filter_map(|line| line.split_whitespace().next()).map(str::to_owned).collect();
    assert!(names.iter().any(|n| n == package), "cargo tree -p {package} did not list the package itself: {text}");
    names
}

fn assert_absent(package: &str, names: &[String], forbidden: &[&str]) {
    for bad in forbidden {
        assert!(!names.iter().any(|n| n == bad), "{package} links {bad}; it must not (see ARCHITECTURE.md)");
    }
}

#[test]
fn the_wire_crate_and_the_sidecar_link_no_database_and_no_control_plane() {
    let forbidden = ["sqlx", "sqlx-core", "sqlx-sqlite", "libsqlite3-sys", "verdict-store", "verdict-control"];
    for package in ["verdict-wire", "verdict-pep"] {
        assert_absent(package, &linked(package, None), &forbidden);
    }
}

#[test]
fn only_the_control_plane_and_the_binary_depend_on_the_store() {
    // The server reaches state only through the control plane's API.
    assert_absent("verdict-server", &linked("verdict-server", Some(1)), &["verdict-store", "sqlx"]);
    assert_absent("verdict-wire", &linked("verdict-wire", Some(1)), &["verdict-store", "verdict-control"]);
    assert!(linked("verdict-control", Some(1)).iter().any(|n| n == "verdict-store"));
}
