//! The decision-case file format (see README.md beside this file), shared by
//! every test that runs the cases.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use verdict_engine::{Basis, Snapshot};
use verdict_model::{ActionClass, Inventory, Order, PhaseMode, Subscription, Timestamp, UnitPath};

/// One scenario file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Case {
    pub description: String,
    pub inventory: Inventory,
    pub orders: Vec<Order>,
    pub steps: Vec<Step>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Step {
    Check(Vec<Request>),
    Move { subscription: String, unit: UnitPath, at: Timestamp },
    Create(Subscription),
    Delete { subscription: String, at: Timestamp },
    Lift { order: String, at: Timestamp },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Request {
    pub subscription: String,
    pub service: String,
    pub action: String,
    pub at: Timestamp,
    pub expect: Expect,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    pub decision: bool,
    pub order: Option<String>,
    #[serde(default)]
    pub phase: Option<PhaseMode>,
    #[serde(default)]
    pub code: Option<String>,
    #[serde(default)]
    pub class: Option<ActionClass>,
}

/// What an implementation answered, in the terms the files use.
#[derive(Debug)]
pub struct Answer {
    pub decision: bool,
    pub order: Option<String>,
    pub phase: Option<PhaseMode>,
    pub code: String,
    pub class: ActionClass,
    pub reason: String,
}

impl Expect {
    /// Describes every way `answer` differs from the expectation.
    pub fn mismatches(&self, answer: &Answer) -> Vec<String> {
        let mut out = Vec::new();
        if self.decision != answer.decision {
            out.push(format!("decision {} != expected {}", answer.decision, self.decision));
        }
        if self.order != answer.order {
            out.push(format!("order {:?} != expected {:?}", answer.order, self.order));
        }
        if self.phase.is_some() && self.phase != answer.phase {
            out.push(format!("phase {:?} != expected {:?}", answer.phase, self.phase));
        }
        if let Some(code) = self.code.as_ref().filter(|c| **c != answer.code) {
            out.push(format!("code {:?} != expected {code:?}", answer.code));
        }
        if self.class.is_some_and(|c| c != answer.class) {
            out.push(format!("class {:?} != expected {:?}", answer.class, self.class));
        }
        out
    }
}

impl Request {
    /// What `snapshot` answers for this request, in the files' terms.
    pub fn answer(&self, snapshot: &Snapshot) -> Answer {
        let d = snapshot.decide(&self.subscription, &self.service, &self.action, self.at);
        let e = snapshot.explain(&d, &self.subscription, &self.service, &self.action);
        Answer {
            decision: d.allowed,
            order: e.order,
            phase: match d.basis {
                Basis::Order { mode, .. } => Some(mode),
                _ => None,
            },
            code: e.code.to_owned(),
            class: d.class,
            reason: e.reason,
        }
    }

    /// A line describing how `answer` misses the expectation, if it does.
    pub fn failure(&self, context: &str, answer: &Answer) -> Option<String> {
        let bad = self.expect.mismatches(answer);
        (!bad.is_empty()).then(|| {
            format!(
                "{context}: {} {} {} at {}: {} (reason: {})",
                self.subscription,
                self.service,
                self.action,
                self.at,
                bad.join("; "),
                answer.reason
            )
        })
    }
}

/// Every case file, by path.
pub fn all_cases() -> Vec<(PathBuf, Case)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/decisions");
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("tests/decisions exists")
        .map(|e| e.expect("readable dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    paths.sort();
    assert!(paths.len() >= 5, "expected the decision cases in {}", dir.display());
    paths
        .into_iter()
        .map(|p| {
            let text = std::fs::read_to_string(&p).expect("readable case");
            let case = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            (p, case)
        })
        .collect()
}
