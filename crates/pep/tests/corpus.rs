//! The decision cases in `tests/decisions/`, through the one runner, on
//! every implementation behind the control plane: its own snapshot over the
//! real SQLite store, a control plane reopened from that store, a replica
//! following it over HTTP (server-sent events), and AuthZEN over HTTP. (The
//! engine and its wire-form replicas run the same cases in
//! `crates/engine/tests/decisions.rs`.)

#[path = "../../../tests/decisions/case.rs"]
mod case;
#[path = "../../../tests/decisions/control_plane.rs"]
mod control_plane;
#[path = "../../../tests/decisions/runner.rs"]
mod runner;

use std::sync::Arc;
use std::time::{Duration, Instant};

use case::{Answer, Case, Request, Step};
use control_plane::ControlPlane;
use runner::Implementation;
use serde_json::{Value, json};
use verdict_control::Core;
use verdict_model::{ActionClass, PhaseMode};
use verdict_pep::{HttpSource, Replica, ReplicaOptions};
use verdict_server::{AppState, Tokens};
use verdict_testdb::Backend;

const PEP: &str = "pep-secret";

/// Serves the whole application over `core` on 127.0.0.1:0.
async fn serve(core: Arc<Core>) -> String {
    let state = Arc::new(AppState::new(core, Tokens { admin: "admin-secret".into(), pep: PEP.into() }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, verdict_server::router(state)).await.unwrap() });
    format!("http://{addr}")
}

/// How an implementation answers from the control plane's world.
#[derive(Clone, Copy)]
enum Via {
    /// The control plane's own snapshot.
    Live,
    /// A control plane opened again over the same store at each check.
    Reopened,
    /// A second server over the same store, opened before the changes and
    /// following them (as several servers over one PostgreSQL do).
    Peer,
    /// A replica following the server over HTTP.
    Replica,
    /// `POST /access/v1/evaluation` on the server.
    AuthZen,
}

struct OverControlPlane {
    via: Via,
    backend: Backend,
    world: Option<ControlPlane>,
    peer: Option<Core>,
    base: String,
    replica: Option<Arc<Replica>>,
    http: reqwest::Client,
}

impl OverControlPlane {
    fn new(via: Via, backend: Backend) -> OverControlPlane {
        OverControlPlane {
            via,
            backend,
            world: None,
            peer: None,
            base: String::new(),
            replica: None,
            http: reqwest::Client::new(),
        }
    }

    fn world(&self) -> &ControlPlane {
        self.world.as_ref().expect("loaded")
    }

    /// Waits until the replica holds the control plane's current version.
    async fn caught_up(&self) {
        let Some(replica) = &self.replica else { return };
        let target = self.world().core.snapshot().version();
        let started = Instant::now();
        while replica.status().version < target {
            assert!(started.elapsed() < Duration::from_secs(10), "the replica did not reach version {target}");
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }

    async fn ask(&self, r: &Request) -> Answer {
        let body = json!({
            "subject": {"type": "gateway", "id": "corpus"},
            "resource": {"type": "service", "id": r.service, "properties": {"subscription": r.subscription}},
            "action": {"name": r.action},
            "context": {"time": r.at},
        });
        let response = self
            .http
            .post(format!("{}/access/v1/evaluation", self.base))
            .bearer_auth(PEP)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "AuthZEN refused {body}");
        let answer: Value = response.json().await.unwrap();
        let context = &answer["context"];
        let text = |field: &str| context[field].as_str().map(str::to_owned);
        Answer {
            decision: answer["decision"].as_bool().expect("a boolean decision"),
            order: text("order"),
            phase: serde_json::from_value::<Option<PhaseMode>>(context["phase"].clone()).unwrap(),
            code: text("code").expect("a code"),
            class: serde_json::from_value::<ActionClass>(context["action_class"].clone()).unwrap(),
            reason: text("reason").unwrap_or_default(),
        }
    }
}

impl Implementation for OverControlPlane {
    async fn load(&mut self, case: &Case) {
        let world = ControlPlane::load(case, self.backend).await;
        if let Via::Peer = self.via {
            // Opened now, so that it must follow what comes next.
            self.peer = Some(Core::open(world.db.open().await, world.key.clone()).await.expect("the peer opens"));
        }
        if matches!(self.via, Via::Replica | Via::AuthZen) {
            self.base = serve(world.core.clone()).await;
        }
        if let Via::Replica = self.via {
            let heartbeat = Duration::from_millis(200);
            let source = HttpSource::new(&self.base, PEP, heartbeat).unwrap();
            let options = ReplicaOptions { heartbeat, ..Default::default() };
            self.replica = Some(Replica::start(source, options).await.expect("the replica bootstraps"));
        }
        self.world = Some(world);
    }

    async fn apply(&mut self, step: &Step) {
        self.world.as_mut().expect("loaded").apply(step).await;
    }

    async fn answer(&mut self, requests: &[Request]) -> Vec<Answer> {
        let world = self.world();
        let answers: Vec<Answer> = match self.via {
            Via::Live => {
                let snapshot = world.core.snapshot();
                requests.iter().map(|r| r.answer(&snapshot)).collect()
            }
            Via::Reopened => {
                let reopened = Core::open(world.store.clone(), world.key.clone()).await.unwrap();
                let snapshot = reopened.snapshot();
                requests.iter().map(|r| r.answer(&snapshot)).collect()
            }
            Via::Peer => {
                let peer = self.peer.as_ref().expect("opened");
                peer.follow().await.expect("the peer follows the store");
                assert_eq!(peer.snapshot().version(), world.core.snapshot().version(), "the peer caught up");
                let snapshot = peer.snapshot();
                requests.iter().map(|r| r.answer(&snapshot)).collect()
            }
            Via::Replica => {
                self.caught_up().await;
                let snapshot = self.replica.as_ref().expect("started").snapshot();
                requests.iter().map(|r| r.answer(&snapshot)).collect()
            }
            Via::AuthZen => {
                let mut out = Vec::new();
                for r in requests {
                    out.push(self.ask(r).await);
                }
                out
            }
        };
        answers.into_iter().map(|a| world.in_case_terms(a)).collect()
    }
}

#[tokio::test]
async fn every_decision_case_holds_on_every_implementation_behind_the_control_plane() {
    let mut failures = Vec::new();
    for backend in verdict_testdb::backends() {
        for (label, via) in [
            ("control plane", Via::Live),
            ("control plane reopened from the store", Via::Reopened),
            ("a second server over the same store", Via::Peer),
            ("replica over HTTP", Via::Replica),
            ("AuthZEN over HTTP", Via::AuthZen),
        ] {
            let label = format!("{label} on {backend}");
            failures.extend(runner::run(&label, || OverControlPlane::new(via, backend)).await);
        }
    }
    assert!(failures.is_empty(), "{} mismatches:\n{}", failures.len(), failures.join("\n"));
}
