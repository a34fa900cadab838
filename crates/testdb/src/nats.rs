//! A real `nats-server` with JetStream for the tests that run against
//! NATS, on a free port of its own.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A `nats-server` with JetStream on a port of its own, started by the
/// test (so that it can kill and restart it); killed when dropped.
pub struct Nats {
    child: Option<Child>,
    port: u16,
    dir: tempfile::TempDir,
}

impl Nats {
    fn binary() -> String {
        for candidate in ["/usr/sbin/nats-server", "/usr/bin/nats-server", "/usr/local/bin/nats-server"] {
            if std::path::Path::new(candidate).exists() {
                return candidate.to_owned();
            }
        }
        panic!("nats-server is not installed; this test runs a real one (apt-get install nats-server, as .ci/run does)")
    }

    /// Starts one on a free port with a fresh JetStream directory.
    pub fn start() -> Nats {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let mut nats = Nats { child: None, port, dir: tempfile::tempdir().unwrap() };
        nats.restart();
        nats
    }

    /// Where it listens, `nats://127.0.0.1:…`.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// Starts it again on the same port and the same JetStream directory.
    pub fn restart(&mut self) {
        let child = Command::new(Self::binary())
            .args(["-a", "127.0.0.1", "-p", &self.port.to_string(), "-js", "-sd"])
            .arg(self.dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nats-server starts");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "nats-server did not listen on {}", self.port);
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Kills it (its JetStream directory stays for a restart).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Nats {
    fn drop(&mut self) {
        self.kill();
    }
}
