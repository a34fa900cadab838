//! What the CLI tests share: running `verdict` as a user would, and a
//! server child that dies with its handle.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

pub fn verdict() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_verdict"));
    c.env_remove("VERDICT_DATA").env_remove("VERDICT_SERVER").env_remove("VERDICT_TOKEN").env("VERDICT_LOG", "warn");
    c
}

pub fn run(args: &[&str]) -> Output {
    verdict().args(args).output().expect("verdict runs")
}

/// A server child that is killed when dropped.
pub struct Running {
    pub child: Child,
    pub base: String,
    pub stdout: Vec<String>,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn start(args: &[&str]) -> Running {
    let mut child = verdict().args(args).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("spawn verdict");
    // Kept, so that a server that fails to start says why.
    let stderr = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let errors = BufReader::new(child.stderr.take().unwrap()).lines();
    let sink = stderr.clone();
    std::thread::spawn(move || {
        for line in errors.map_while(Result::ok) {
            sink.lock().unwrap().push(line);
        }
    });
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut stdout = Vec::new();
    let mut base = None;
    while Instant::now() < deadline {
        let Some(Ok(line)) = lines.next() else { break };
        if let Some(at) = line.find("listening on ") {
            base = Some(line[at + "listening on ".len()..].trim().to_owned());
        }
        stdout.push(line);
        // The demo prints its guide after the address; read it all.
        if base.is_some() && (stdout.last().is_some_and(|l| l.contains("verify-receipt")) || !args.contains(&"demo")) {
            break;
        }
    }
    let base = base.unwrap_or_else(|| {
        std::thread::sleep(Duration::from_millis(200));
        let status = child.try_wait().ok().flatten();
        panic!(
            "verdict {args:?} did not start (exit {status:?}): stdout {stdout:?}, stderr {:?}",
            stderr.lock().unwrap()
        )
    });
    // Keep draining, as a terminal would.
    std::thread::spawn(move || lines.for_each(drop));
    Running { child, base, stdout }
}

pub fn token(dir: &Path, name: &str) -> String {
    std::fs::read_to_string(dir.join(format!("{name}.token"))).unwrap().trim().to_owned()
}

pub fn post(base: &str, path: &str, token: &str, body: &Value) -> Value {
    let client = reqwest::blocking::Client::new();
    client.post(format!("{base}{path}")).bearer_auth(token).json(body).send().unwrap().json().unwrap()
}
