//! The one runner of the decision cases: an implementation loads a case's
//! inventory and orders, applies its steps, and answers its checks; the
//! runner compares every answer with the case's expectation. The engine,
//! the control plane over SQLite, a replica and AuthZEN over HTTP all run
//! through it (see README.md beside this file).

#![allow(dead_code)]

use crate::case::{Answer, Case, Request, Step, all_cases};

/// One way of answering decisions.
#[allow(async_fn_in_trait)]
pub trait Implementation {
    /// Sets up a fresh world holding `case`'s inventory and orders.
    async fn load(&mut self, case: &Case);
    /// Applies one step that is not a check.
    async fn apply(&mut self, step: &Step);
    /// Answers one check's requests, in order.
    async fn answer(&mut self, requests: &[Request]) -> Vec<Answer>;
}

/// Runs every case on a fresh implementation from `fresh`; returns one line
/// per mismatch, naming `label`, the case, the step and the request.
pub async fn run<I: Implementation>(label: &str, mut fresh: impl FnMut() -> I) -> Vec<String> {
    let mut failures = Vec::new();
    for (path, case) in all_cases() {
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        let mut implementation = fresh();
        implementation.load(&case).await;
        for (n, step) in case.steps.iter().enumerate() {
            let Step::Check(requests) = step else {
                implementation.apply(step).await;
                continue;
            };
            let answers = implementation.answer(requests).await;
            assert_eq!(answers.len(), requests.len(), "{label}: {name} step {n}: one answer per request");
            let context = format!("{label}: {name} ({}) step {n}", case.description);
            failures.extend(requests.iter().zip(&answers).filter_map(|(r, a)| r.failure(&context, a)));
        }
    }
    failures
}
